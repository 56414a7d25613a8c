//! The journeys' calls over the gateway's native gRPC API (what partner systems use).

use std::time::Duration;

use marketplace_proto::catalog::v1 as catalog;
use marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use marketplace_proto::common::v1 as common;
use marketplace_proto::ordering::v1 as ordering;
use marketplace_proto::ordering::v1::cart_service_client::CartServiceClient;
use marketplace_proto::ordering::v1::customer_service_client::CustomerServiceClient;
use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::rest::CallError;

/// A gRPC client of one principal (one HTTP/2 connection, multiplexed).
#[derive(Debug, Clone)]
pub struct Grpc {
    channel: Channel,
    bearer: MetadataValue<tonic::metadata::Ascii>,
}

fn status_error(status: tonic::Status) -> CallError {
    let code = match status.code() {
        tonic::Code::Unavailable => 503,
        tonic::Code::DeadlineExceeded => 504,
        tonic::Code::ResourceExhausted => 429,
        tonic::Code::InvalidArgument => 400,
        tonic::Code::NotFound => 404,
        tonic::Code::FailedPrecondition => 412,
        tonic::Code::Aborted | tonic::Code::AlreadyExists => 409,
        tonic::Code::Unauthenticated => 401,
        tonic::Code::PermissionDenied => 403,
        _ => 500,
    };
    CallError::Status(code, format!("{:?}: {}", status.code(), status.message()))
}

impl Grpc {
    /// Connects (lazily) to the gateway's gRPC URL with a bearer token.
    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        Ok(Self {
            channel,
            bearer: format!("Bearer {token}").parse()?,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        request
    }

    /// Catalog search (first page); returns how many plans matched on the page.
    pub async fn search_plans(&self, query: &str) -> Result<usize, CallError> {
        let response = CatalogServiceClient::new(self.channel.clone())
            .list_plans(self.request(catalog::ListPlansRequest {
                query: query.to_string(),
                page_size: 20,
                ..Default::default()
            }))
            .await
            .map_err(status_error)?;
        Ok(response.into_inner().plans.len())
    }

    /// One plan.
    pub async fn get_plan(&self, plan_id: &str) -> Result<catalog::Plan, CallError> {
        CatalogServiceClient::new(self.channel.clone())
            .get_plan(self.request(catalog::GetPlanRequest {
                plan_id: plan_id.to_string(),
                ..Default::default()
            }))
            .await
            .map(tonic::Response::into_inner)
            .map_err(status_error)
    }

    /// Creates a customer ready for Microsoft NCE (new tenant, MCA accepted); returns its id.
    pub async fn create_customer(&self, tag: &str) -> Result<String, CallError> {
        let contact = |role: ordering::ContactRole, prefix: &str| ordering::Contact {
            role: role as i32,
            email: format!("{prefix}-{tag}@load.example"),
            first_name: "Gale".into(),
            last_name: "Admin".into(),
            phone: String::new(),
        };
        let customer = ordering::Customer {
            name: format!("Load Customer {tag}"),
            contacts: vec![
                contact(ordering::ContactRole::ContractManager, "cm"),
                contact(ordering::ContactRole::GlobalAdmin, "ga"),
            ],
            address: Some(common::Address {
                line1: "1 Main St".into(),
                city: "Oslo".into(),
                postal_code: "0150".into(),
                country_code: "NO".into(),
                ..Default::default()
            }),
            microsoft: Some(ordering::MicrosoftIdentity {
                tenant_domain: format!("load{}.onmicrosoft.com", tag.replace('-', "")),
                link_mode: ordering::TenantLinkMode::Create as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut customers = CustomerServiceClient::new(self.channel.clone());
        let created = customers
            .create_customer(self.request(ordering::CreateCustomerRequest {
                customer: Some(customer),
            }))
            .await
            .map_err(status_error)?
            .into_inner();
        customers
            .accept_agreement(self.request(ordering::AcceptAgreementRequest {
                customer_id: created.id.clone(),
                r#type: ordering::AgreementType::MicrosoftCustomerAgreement as i32,
                contact: None,
            }))
            .await
            .map_err(status_error)?;
        Ok(created.id)
    }

    /// Creates a cart; returns its id.
    pub async fn create_cart(&self, customer_id: &str) -> Result<String, CallError> {
        CartServiceClient::new(self.channel.clone())
            .create_cart(self.request(ordering::CreateCartRequest {
                cart: Some(ordering::Cart {
                    customer_id: customer_id.to_string(),
                    currency_code: "USD".into(),
                    ..Default::default()
                }),
            }))
            .await
            .map(|r| r.into_inner().id)
            .map_err(status_error)
    }

    /// Adds a line.
    pub async fn add_line(
        &self,
        cart_id: &str,
        plan_id: &str,
        quantity: i32,
    ) -> Result<(), CallError> {
        CartServiceClient::new(self.channel.clone())
            .add_cart_line(self.request(ordering::AddCartLineRequest {
                cart_id: cart_id.to_string(),
                plan_id: plan_id.to_string(),
                quantity,
                ..Default::default()
            }))
            .await
            .map(|_| ())
            .map_err(status_error)
    }

    /// Buys the cart; returns the order id.
    pub async fn checkout(&self, cart_id: &str, request_id: &str) -> Result<String, CallError> {
        CartServiceClient::new(self.channel.clone())
            .checkout_cart(self.request(ordering::CheckoutCartRequest {
                cart_id: cart_id.to_string(),
                request_id: request_id.to_string(),
                accept_terms: true,
                ..Default::default()
            }))
            .await
            .map(|r| r.into_inner().id)
            .map_err(status_error)
    }

    /// A page of order history; returns the number of orders and the next page token.
    pub async fn list_orders(
        &self,
        page_size: i32,
        page_token: &str,
    ) -> Result<(usize, String), CallError> {
        let page = OrderServiceClient::new(self.channel.clone())
            .list_orders(self.request(ordering::ListOrdersRequest {
                page_size,
                page_token: page_token.to_string(),
                ..Default::default()
            }))
            .await
            .map_err(status_error)?
            .into_inner();
        Ok((page.orders.len(), page.next_page_token))
    }

    /// Streams the order until it settles; returns its final status name.
    pub async fn watch_until_settled(&self, order_id: &str) -> Result<String, CallError> {
        let mut stream = OrderServiceClient::new(self.channel.clone())
            .watch_order(self.request(ordering::WatchOrderRequest {
                order_id: order_id.to_string(),
                ..Default::default()
            }))
            .await
            .map_err(status_error)?
            .into_inner();
        while let Some(update) = stream.message().await.map_err(status_error)? {
            if update.settled {
                let status = update.order.map(|o| o.status).unwrap_or_default();
                return Ok(ordering::OrderStatus::try_from(status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_default());
            }
        }
        Err(CallError::Transport(
            "watch stream ended before the order settled".into(),
        ))
    }
}
