//! Small in-test backends: tonic servers on 127.0.0.1:0 implementing just what the gateway tests
//! need. They authenticate the forwarded identity like real services and echo the principal
//! back, so tests can see exactly who the gateway said the caller was.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::Stream;
use marketplace_platform::identity::IdentityKey;
use marketplace_proto::catalog::v1 as catalog;
use marketplace_proto::notification::v1 as notification;
use marketplace_proto::ordering::v1 as ordering;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// What the fakes observed.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) create_customer_calls: AtomicUsize,
    pub(crate) last_request_id: std::sync::Mutex<String>,
    /// The `traceparent` of the last `ListPlans` call.
    pub(crate) last_traceparent: std::sync::Mutex<String>,
    /// Creates and updates the fakes applied.
    pub(crate) writes: AtomicUsize,
    /// The last request message of each RPC, as the service decoded it (canonical proto3 JSON).
    pub(crate) received: std::sync::Mutex<HashMap<&'static str, serde_json::Value>>,
    /// Customers created, listed back by `ListCustomers`.
    pub(crate) customers: std::sync::Mutex<Vec<ordering::Customer>>,
}

macro_rules! fake_impl {
    ($trait:path => $ty:ty { $($body:tt)* } stubs { $($name:ident: $req:ty => $resp:ty),* $(,)? }) => {
        #[tonic::async_trait]
        impl $trait for $ty {
            $($body)*
            $(
                async fn $name(&self, _request: Request<$req>) -> Result<Response<$resp>, Status> {
                    Err(Status::unimplemented("not in the fake"))
                }
            )*
        }
    };
}

#[derive(Clone)]
pub(crate) struct Fake {
    pub(crate) identity: IdentityKey,
    pub(crate) observed: Arc<Observed>,
}

impl Fake {
    /// Remembers what a service received, as JSON.
    fn record<T: serde::Serialize>(&self, rpc: &'static str, request: &Request<T>) {
        if let (Ok(json), Ok(mut received)) = (
            serde_json::to_value(request.get_ref()),
            self.observed.received.lock(),
        ) {
            received.insert(rpc, json);
        }
    }

    /// Counts an applied change; returns how many there were before.
    fn wrote(&self) -> usize {
        self.observed.writes.fetch_add(1, Ordering::SeqCst)
    }
}

fn principal<T: marketplace_proto::prost::Message + marketplace_proto::prost::Name>(
    identity: &IdentityKey,
    request: &Request<T>,
) -> Result<marketplace_platform::identity::Principal, Status> {
    Ok(identity.authenticate(request)?)
}

fake_impl! {
    catalog::catalog_service_server::CatalogService => Fake {
        async fn list_plans(&self, request: Request<catalog::ListPlansRequest>) -> Result<Response<catalog::ListPlansResponse>, Status> {
            let p = principal(&self.identity, &request)?;
            if let (Ok(mut last), Some(value)) = (self.observed.last_traceparent.lock(), request.metadata().get("traceparent")) {
                *last = value.to_str().unwrap_or_default().to_string();
            }
            let r = request.into_inner();
            Ok(Response::new(catalog::ListPlansResponse {
                plans: vec![catalog::Plan { id: "plan-1".into(), name: p.subject, description: r.query, ..Default::default() }],
                next_page_token: format!("ps={}", r.page_size),
                total_size: 1,
            }))
        }
        async fn get_plan(&self, request: Request<catalog::GetPlanRequest>) -> Result<Response<catalog::Plan>, Status> {
            let p = principal(&self.identity, &request)?;
            let id = request.into_inner().plan_id;
            match id.as_str() {
                "missing" => return Err(marketplace_platform::ServiceError::not_found("plan missing").into()),
                "bad" => return Err(marketplace_platform::ServiceError::invalid_field("plan_id", "bad id").into()),
                "slow" => tokio::time::sleep(Duration::from_secs(2)).await,
                _ => {}
            }
            Ok(Response::new(catalog::Plan {
                id,
                name: p.subject,
                description: p.role.as_str().into(),
                vendor_id: p.reseller_id.unwrap_or_default(),
                etag: "v1".into(),
                ..Default::default()
            }))
        }
    }
    stubs {
        list_vendors: catalog::ListVendorsRequest => catalog::ListVendorsResponse,
        list_categories: catalog::ListCategoriesRequest => catalog::ListCategoriesResponse,
        lookup_plan: catalog::LookupPlanRequest => catalog::Plan,
        quote_prices: catalog::QuotePricesRequest => catalog::QuotePricesResponse,
        create_plan: catalog::CreatePlanRequest => catalog::Plan,
        update_plan: catalog::UpdatePlanRequest => catalog::Plan,
        retire_plan: catalog::RetirePlanRequest => catalog::Plan,
        list_prices: catalog::ListPricesRequest => catalog::ListPricesResponse,
        create_price: catalog::CreatePriceRequest => catalog::Price,
        import_price_list: catalog::ImportPriceListRequest => catalog::ImportPriceListResponse,
        list_markups: catalog::ListMarkupsRequest => catalog::ListMarkupsResponse,
        set_markup: catalog::SetMarkupRequest => catalog::Markup,
        delete_markup: catalog::DeleteMarkupRequest => catalog::DeleteMarkupResponse,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<ordering::WatchOrderResponse, Status>> + Send>>;

fake_impl! {
    ordering::order_service_server::OrderService => Fake {
        type WatchOrderStream = WatchStream;

        async fn get_order(&self, request: Request<ordering::GetOrderRequest>) -> Result<Response<ordering::Order>, Status> {
            let p = principal(&self.identity, &request)?;
            let id = request.into_inner().order_id;
            Ok(Response::new(ordering::Order { id, name: p.subject, etag: "e1".into(), ..Default::default() }))
        }
        async fn list_orders(&self, request: Request<ordering::ListOrdersRequest>) -> Result<Response<ordering::ListOrdersResponse>, Status> {
            principal(&self.identity, &request)?;
            let r = request.into_inner();
            Ok(Response::new(ordering::ListOrdersResponse { orders: vec![], next_page_token: format!("statuses={}", r.statuses.len()) }))
        }
        async fn watch_order(&self, request: Request<ordering::WatchOrderRequest>) -> Result<Response<WatchStream>, Status> {
            principal(&self.identity, &request)?;
            let request = request.into_inner();
            let (id, after) = (request.order_id, request.after_version);
            let statuses = [ordering::OrderStatus::ProvisioningStarted, ordering::OrderStatus::ProvisioningStarted, ordering::OrderStatus::ProvisioningFinished];
            let items: Vec<_> = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    Ok(ordering::WatchOrderResponse {
                        order: Some(ordering::Order { id: id.clone(), status: *s as i32, ..Default::default() }),
                        change: "order.status".into(),
                        settled: i == 2,
                        version: i as i64 + 1,
                    })
                })
                .filter(|item| item.as_ref().is_ok_and(|u| u.version > after))
                .collect();
            if id == "forever" {
                let first = futures::stream::iter(items.into_iter().take(1));
                return Ok(Response::new(Box::pin(futures::StreamExt::chain(first, futures::stream::pending()))));
            }
            Ok(Response::new(Box::pin(futures::stream::iter(items))))
        }
    }
    stubs {
        add_order_note: ordering::AddOrderNoteRequest => ordering::Order,
        submit_order: ordering::SubmitOrderRequest => ordering::Order,
        resubmit_order_item: ordering::ResubmitOrderItemRequest => ordering::Order,
    }
}

fake_impl! {
    ordering::customer_service_server::CustomerService => Fake {
        async fn create_customer(&self, request: Request<ordering::CreateCustomerRequest>) -> Result<Response<ordering::Customer>, Status> {
            let p = principal(&self.identity, &request)?;
            self.record("CreateCustomer", &request);
            let n = self.observed.create_customer_calls.fetch_add(1, Ordering::SeqCst) + 1;
            let customer = request.into_inner().customer.unwrap_or_default();
            if customer.name.is_empty() {
                return Err(marketplace_platform::ServiceError::invalid_field("customer.name", "must not be empty").into());
            }
            let created = ordering::Customer {
                id: format!("cust-{n}"),
                name: customer.name,
                reseller_id: p.reseller_scope("").map_err(Status::from)?,
                etag: format!("c{n}"),
                ..Default::default()
            };
            self.wrote();
            if let Ok(mut customers) = self.observed.customers.lock() {
                customers.push(created.clone());
            }
            Ok(Response::new(created))
        }
        async fn list_customers(&self, request: Request<ordering::ListCustomersRequest>) -> Result<Response<ordering::ListCustomersResponse>, Status> {
            let p = principal(&self.identity, &request)?;
            let reseller = p.reseller_scope("").map_err(Status::from)?;
            let customers = self.observed.customers.lock().map(|c| c.clone()).unwrap_or_default();
            Ok(Response::new(ordering::ListCustomersResponse {
                customers: customers.into_iter().filter(|c| c.reseller_id == reseller).collect(),
                next_page_token: String::new(),
            }))
        }
        async fn update_customer(&self, request: Request<ordering::UpdateCustomerRequest>) -> Result<Response<ordering::Customer>, Status> {
            principal(&self.identity, &request)?;
            self.record("UpdateCustomer", &request);
            let n = self.wrote();
            let customer = request.into_inner().customer.unwrap_or_default();
            Ok(Response::new(ordering::Customer { etag: format!("u{n}"), ..customer }))
        }
    }
    stubs {
        get_customer: ordering::GetCustomerRequest => ordering::Customer,
        accept_agreement: ordering::AcceptAgreementRequest => ordering::Agreement,
    }
}

fake_impl! {
    ordering::cart_service_server::CartService => Fake {
        async fn checkout_cart(&self, request: Request<ordering::CheckoutCartRequest>) -> Result<Response<ordering::Order>, Status> {
            principal(&self.identity, &request)?;
            self.record("CheckoutCart", &request);
            self.wrote();
            let r = request.into_inner();
            if let Ok(mut last) = self.observed.last_request_id.lock() {
                *last = r.request_id.clone();
            }
            Ok(Response::new(ordering::Order { id: format!("order-for-{}", r.cart_id), cart_id: r.cart_id, ..Default::default() }))
        }
        async fn create_cart(&self, request: Request<ordering::CreateCartRequest>) -> Result<Response<ordering::Cart>, Status> {
            principal(&self.identity, &request)?;
            self.record("CreateCart", &request);
            let n = self.wrote();
            let cart = request.into_inner().cart.unwrap_or_default();
            Ok(Response::new(ordering::Cart { id: format!("cart-{n}"), ..cart }))
        }
        async fn update_cart(&self, request: Request<ordering::UpdateCartRequest>) -> Result<Response<ordering::Cart>, Status> {
            principal(&self.identity, &request)?;
            self.record("UpdateCart", &request);
            self.wrote();
            Ok(Response::new(request.into_inner().cart.unwrap_or_default()))
        }
        async fn add_cart_line(&self, request: Request<ordering::AddCartLineRequest>) -> Result<Response<ordering::Cart>, Status> {
            principal(&self.identity, &request)?;
            self.record("AddCartLine", &request);
            let n = self.wrote();
            let r = request.into_inner();
            let line = ordering::CartLine {
                id: format!("line-{n}"),
                plan_id: r.plan_id,
                autodesk_product_id: r.autodesk_product_id,
                quantity: r.quantity,
                parameters: r.parameters,
                parent_line_id: r.parent_line_id,
                ..Default::default()
            };
            Ok(Response::new(ordering::Cart { id: r.cart_id, lines: vec![line], ..Default::default() }))
        }
        async fn update_cart_line(&self, request: Request<ordering::UpdateCartLineRequest>) -> Result<Response<ordering::Cart>, Status> {
            principal(&self.identity, &request)?;
            self.record("UpdateCartLine", &request);
            self.wrote();
            let r = request.into_inner();
            let line = ordering::CartLine { id: r.line_id, quantity: r.quantity, parameters: r.parameters, ..Default::default() };
            Ok(Response::new(ordering::Cart { id: r.cart_id, lines: vec![line], ..Default::default() }))
        }
    }
    stubs {
        get_cart: ordering::GetCartRequest => ordering::Cart,
        list_carts: ordering::ListCartsRequest => ordering::ListCartsResponse,
        remove_cart_line: ordering::RemoveCartLineRequest => ordering::Cart,
        delete_cart: ordering::DeleteCartRequest => ordering::Cart,
        check_cart_readiness: ordering::CheckCartReadinessRequest => ordering::CheckCartReadinessResponse,
    }
}

fake_impl! {
    notification::webhook_service_server::WebhookService => Fake {
        async fn create_webhook_endpoint(&self, request: Request<notification::CreateWebhookEndpointRequest>) -> Result<Response<notification::CreateWebhookEndpointResponse>, Status> {
            principal(&self.identity, &request)?;
            self.record("CreateWebhookEndpoint", &request);
            let endpoint = request.into_inner().endpoint.unwrap_or_default();
            if endpoint.url.is_empty() {
                return Err(marketplace_platform::ServiceError::invalid_field("endpoint.url", "is required").into());
            }
            let n = self.wrote();
            Ok(Response::new(notification::CreateWebhookEndpointResponse {
                endpoint: Some(notification::WebhookEndpoint { id: format!("wh-{n}"), ..endpoint }),
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            }))
        }
        async fn update_webhook_endpoint(&self, request: Request<notification::UpdateWebhookEndpointRequest>) -> Result<Response<notification::WebhookEndpoint>, Status> {
            principal(&self.identity, &request)?;
            self.record("UpdateWebhookEndpoint", &request);
            self.wrote();
            Ok(Response::new(request.into_inner().endpoint.unwrap_or_default()))
        }
    }
    stubs {
        get_webhook_endpoint: notification::GetWebhookEndpointRequest => notification::WebhookEndpoint,
        list_webhook_endpoints: notification::ListWebhookEndpointsRequest => notification::ListWebhookEndpointsResponse,
        delete_webhook_endpoint: notification::DeleteWebhookEndpointRequest => notification::DeleteWebhookEndpointResponse,
        rotate_webhook_secret: notification::RotateWebhookSecretRequest => notification::RotateWebhookSecretResponse,
        send_test_webhook: notification::SendTestWebhookRequest => notification::WebhookDelivery,
        list_webhook_deliveries: notification::ListWebhookDeliveriesRequest => notification::ListWebhookDeliveriesResponse,
        replay_webhook_delivery: notification::ReplayWebhookDeliveryRequest => notification::WebhookDelivery,
    }
}

/// Starts the fake catalog + ordering (+ webhook endpoints) backend; returns its URL.
pub(crate) async fn start(fake: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(catalog::catalog_service_server::CatalogServiceServer::new(
                fake.clone(),
            ))
            .add_service(ordering::order_service_server::OrderServiceServer::new(
                fake.clone(),
            ))
            .add_service(
                ordering::customer_service_server::CustomerServiceServer::new(fake.clone()),
            )
            .add_service(ordering::cart_service_server::CartServiceServer::new(
                fake.clone(),
            ))
            .add_service(notification::webhook_service_server::WebhookServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}
