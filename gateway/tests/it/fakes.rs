//! Small in-test backends: tonic servers on 127.0.0.1:0 implementing just what the gateway tests
//! need. They authenticate the forwarded identity like real services and echo the principal
//! back, so tests can see exactly who the gateway said the caller was.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::Stream;
use marketplace_platform::identity::IdentityKey;
use marketplace_proto::catalog::v1 as catalog;
use marketplace_proto::ordering::v1 as ordering;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// What the fakes observed.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) create_customer_calls: AtomicUsize,
    pub(crate) last_request_id: std::sync::Mutex<String>,
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

fn principal<T>(
    identity: &IdentityKey,
    request: &Request<T>,
) -> Result<marketplace_platform::identity::Principal, Status> {
    Ok(identity.authenticate(request)?)
}

fake_impl! {
    catalog::catalog_service_server::CatalogService => Fake {
        async fn list_plans(&self, request: Request<catalog::ListPlansRequest>) -> Result<Response<catalog::ListPlansResponse>, Status> {
            let p = principal(&self.identity, &request)?;
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
            let n = self.observed.create_customer_calls.fetch_add(1, Ordering::SeqCst) + 1;
            let customer = request.into_inner().customer.unwrap_or_default();
            if customer.name.is_empty() {
                return Err(marketplace_platform::ServiceError::invalid_field("customer.name", "must not be empty").into());
            }
            Ok(Response::new(ordering::Customer {
                id: format!("cust-{n}"),
                name: customer.name,
                reseller_id: p.reseller_scope("").map_err(Status::from)?,
                etag: format!("c{n}"),
                ..Default::default()
            }))
        }
    }
    stubs {
        get_customer: ordering::GetCustomerRequest => ordering::Customer,
        list_customers: ordering::ListCustomersRequest => ordering::ListCustomersResponse,
        update_customer: ordering::UpdateCustomerRequest => ordering::Customer,
        accept_agreement: ordering::AcceptAgreementRequest => ordering::Agreement,
    }
}

fake_impl! {
    ordering::cart_service_server::CartService => Fake {
        async fn checkout_cart(&self, request: Request<ordering::CheckoutCartRequest>) -> Result<Response<ordering::Order>, Status> {
            principal(&self.identity, &request)?;
            let r = request.into_inner();
            if let Ok(mut last) = self.observed.last_request_id.lock() {
                *last = r.request_id.clone();
            }
            Ok(Response::new(ordering::Order { id: format!("order-for-{}", r.cart_id), cart_id: r.cart_id, ..Default::default() }))
        }
    }
    stubs {
        create_cart: ordering::CreateCartRequest => ordering::Cart,
        get_cart: ordering::GetCartRequest => ordering::Cart,
        list_carts: ordering::ListCartsRequest => ordering::ListCartsResponse,
        update_cart: ordering::UpdateCartRequest => ordering::Cart,
        add_cart_line: ordering::AddCartLineRequest => ordering::Cart,
        update_cart_line: ordering::UpdateCartLineRequest => ordering::Cart,
        remove_cart_line: ordering::RemoveCartLineRequest => ordering::Cart,
        delete_cart: ordering::DeleteCartRequest => ordering::Cart,
        check_cart_readiness: ordering::CheckCartReadinessRequest => ordering::CheckCartReadinessResponse,
    }
}

/// Starts the fake catalog + ordering backend; returns its URL.
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
            .add_service(ordering::cart_service_server::CartServiceServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}
