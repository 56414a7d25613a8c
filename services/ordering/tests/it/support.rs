//! Test harness: the ordering App on a fresh database, a fake catalog, an in-process bus with a
//! recorder of every ordering event, and typed clients.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use marketplace_platform as platform;
use marketplace_proto::events::v1::Envelope;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::cart_service_client::CartServiceClient;
use marketplace_proto::ordering::v1::customer_service_client::CustomerServiceClient;
use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
use marketplace_proto::ordering::v1::reseller_service_client::ResellerServiceClient;
use marketplace_proto::ordering::v1::subscription_service_client::SubscriptionServiceClient;
use platform::bus::{EventBus, InProcessBus, OutgoingEvent, SubscriptionSpec};
use platform::clock::OffsetClock;
use platform::db::Backend;
use platform::identity::{IdentityKey, Principal, Role};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub(crate) const DEMO: &str = "reseller-demo";
pub(crate) const DEMO_CUSTOMER: &str = "customer-demo";

pub(crate) struct Env {
    pub(crate) backend: Backend,
    pub(crate) db_url: String,
    pub(crate) identity: IdentityKey,
    pub(crate) bus: Arc<InProcessBus>,
    pub(crate) clock: Arc<OffsetClock>,
    pub(crate) channel: Channel,
    pub(crate) events: Arc<Mutex<Vec<Envelope>>>,
    catalog_url: String,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A second replica of the service on the same database and bus.
pub(crate) struct Replica {
    pub(crate) channel: Channel,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
    }
}

pub(crate) fn person(role: Role, reseller: Option<&str>, customer: Option<&str>) -> Principal {
    Principal {
        subject: format!("user-{}", role.as_str()),
        display_name: format!("Test {}", role.as_str()),
        role,
        reseller_id: reseller.map(str::to_string),
        customer_id: customer.map(str::to_string),
    }
}

pub(crate) fn admin() -> Principal {
    person(Role::ResellerAdmin, Some(DEMO), None)
}

pub(crate) fn staff() -> Principal {
    person(Role::Staff, None, None)
}

impl Env {
    /// Ordering with the in-test fake catalog.
    pub(crate) async fn start(backend: Backend) -> Env {
        Self::start_with(backend, false, |_| {}).await
    }

    /// Ordering with the real catalog service (its demo seed) on the same bus.
    pub(crate) async fn start_real(backend: Backend) -> Env {
        Self::start_with(backend, true, |_| {}).await
    }

    /// Ordering with the fake catalog and settings adjusted by `tune` (e.g. holidays).
    pub(crate) async fn start_tuned(
        backend: Backend,
        tune: impl FnOnce(&mut ordering::Settings),
    ) -> Env {
        Self::start_with(backend, false, tune).await
    }

    async fn start_with(
        backend: Backend,
        real_catalog: bool,
        tune: impl FnOnce(&mut ordering::Settings),
    ) -> Env {
        let bus = Arc::new(InProcessBus::new());
        let identity = IdentityKey::random();
        let clock = OffsetClock::new();
        let shutdown = CancellationToken::new();
        let catalog_url = if real_catalog {
            let settings = catalog::Settings {
                database: platform::db::testing::fresh_settings(backend).await,
                server: Default::default(),
                seed_demo: true,
            };
            let deps = catalog::Dependencies {
                bus: bus.clone(),
                identity: identity.clone(),
                clock: clock.clone(),
                page_tokens: platform::paging::PageTokens::random(),
            };
            let app = catalog::App::build(settings, deps)
                .await
                .expect("build catalog");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(app.run(listener, shutdown.clone()));
            format!("http://{addr}")
        } else {
            crate::fake_catalog::serve().await
        };
        let database = platform::db::testing::fresh_settings(backend).await;
        let db_url = database.url.expose().to_string();
        let mut settings = ordering::Settings::new(database, catalog_url.clone());
        settings.seed_demo = true;
        settings.watch_poll_interval_ms = 1_000;
        settings.scheduler_interval_ms = 100;
        tune(&mut settings);
        let deps = ordering::Dependencies {
            bus: bus.clone(),
            identity: identity.clone(),
            clock: clock.clone(),
            page_tokens: platform::paging::PageTokens::random(),
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut stream = bus
            .subscribe(SubscriptionSpec::new(
                "test-recorder",
                ["marketplace.ordering.>"],
            ))
            .await
            .expect("subscribe");
        let sink = events.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = stream.next().await {
                if let Ok(envelope) = Envelope::decode(delivery.payload.as_ref()) {
                    sink.lock().unwrap().push(envelope);
                }
                let _ = delivery.ack().await;
            }
        });
        let app = ordering::App::build(settings, deps).await.expect("build");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = tokio::spawn(app.run(listener, shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect_lazy();
        Env {
            backend,
            db_url,
            identity,
            bus,
            clock,
            channel,
            events,
            catalog_url,
            shutdown,
            handle,
        }
    }

    /// Moves the clock to `hour`:00 UTC of `day` (`YYYY-MM-DD`); only forward in practice.
    pub(crate) fn set_time(&self, day: &str, hour: i64) {
        use platform::clock::Clock;
        let date = time::Date::parse(
            day,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .expect("date");
        let target = date.midnight().assume_utc() + time::Duration::hours(hour);
        self.clock.advance(target - self.clock.now());
    }

    /// The catalog the service talks to.
    pub(crate) fn catalog_url(&self) -> &str {
        &self.catalog_url
    }

    /// Starts another replica sharing this one's database, bus, identity key and clock.
    pub(crate) async fn replica(&self) -> Replica {
        let database = platform::db::DatabaseSettings {
            url: platform::config::Secret::new(self.db_url.clone()),
            max_connections: None,
            acquire_timeout_ms: 10_000,
        };
        let mut settings = ordering::Settings::new(database, self.catalog_url.clone());
        settings.scheduler_interval_ms = 100;
        let deps = ordering::Dependencies {
            bus: self.bus.clone(),
            identity: self.identity.clone(),
            clock: self.clock.clone(),
            page_tokens: platform::paging::PageTokens::random(),
        };
        let app = ordering::App::build(settings, deps)
            .await
            .expect("build replica");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(listener, shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect_lazy();
        Replica {
            channel,
            shutdown,
            handle,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
    }

    pub(crate) fn req<T>(&self, message: T, p: &Principal) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.attach(&mut request, p);
        request
    }

    pub(crate) fn carts(&self) -> CartServiceClient<Channel> {
        CartServiceClient::new(self.channel.clone())
    }
    pub(crate) fn orders(&self) -> OrderServiceClient<Channel> {
        OrderServiceClient::new(self.channel.clone())
    }
    pub(crate) fn customers(&self) -> CustomerServiceClient<Channel> {
        CustomerServiceClient::new(self.channel.clone())
    }
    pub(crate) fn resellers(&self) -> ResellerServiceClient<Channel> {
        ResellerServiceClient::new(self.channel.clone())
    }
    pub(crate) fn subscriptions(&self) -> SubscriptionServiceClient<Channel> {
        SubscriptionServiceClient::new(self.channel.clone())
    }

    /// Events recorded so far.
    pub(crate) fn recorded(&self) -> Vec<Envelope> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `ok` holds for the recorded events.
    pub(crate) async fn wait_events<F: Fn(&[Envelope]) -> bool>(
        &self,
        what: &str,
        ok: F,
    ) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let events = self.recorded();
            if ok(&events) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "[{:?}] timed out waiting for {what}; got {:?}",
                self.backend,
                events.iter().map(|e| &e.r#type).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes a provisioning event as the provisioning service would.
    pub(crate) async fn provision(&self, payload: Payload) {
        let envelope = platform::outbox::envelope(
            "provisioning",
            DEMO,
            "",
            payload,
            &(self.clock.clone() as platform::clock::SharedClock),
        );
        let subject = platform::outbox::subject("provisioning", &envelope.r#type);
        self.bus
            .publish(OutgoingEvent::new(
                envelope.id.clone(),
                subject,
                envelope.encode_to_vec(),
            ))
            .await
            .expect("publish");
    }

    /// Creates an empty cart for `customer`.
    pub(crate) async fn empty_cart(&self, p: &Principal, customer: &str) -> pb::Cart {
        let cart = pb::Cart {
            customer_id: customer.into(),
            ..Default::default()
        };
        self.carts()
            .create_cart(self.req(pb::CreateCartRequest { cart: Some(cart) }, p))
            .await
            .expect("create cart")
            .into_inner()
    }

    /// A new cart for `customer` with one line of `plan`.
    pub(crate) async fn cart_with(
        &self,
        p: &Principal,
        customer: &str,
        plan: &str,
        quantity: i32,
    ) -> pb::Cart {
        let cart = self.empty_cart(p, customer).await;
        let add = pb::AddCartLineRequest {
            cart_id: cart.id.clone(),
            plan_id: plan.into(),
            quantity,
            ..Default::default()
        };
        self.carts()
            .add_cart_line(self.req(add, p))
            .await
            .expect("add line")
            .into_inner()
    }

    /// Checks out a cart (BUY).
    pub(crate) async fn buy(
        &self,
        p: &Principal,
        cart_id: &str,
        request_id: &str,
    ) -> Result<pb::Order, tonic::Status> {
        let req = pb::CheckoutCartRequest {
            cart_id: cart_id.into(),
            request_id: request_id.into(),
            accept_terms: true,
            ..Default::default()
        };
        self.carts()
            .checkout_cart(self.req(req, p))
            .await
            .map(tonic::Response::into_inner)
    }

    pub(crate) async fn order(&self, p: &Principal, id: &str) -> Result<pb::Order, tonic::Status> {
        self.orders()
            .get_order(self.req(
                pb::GetOrderRequest {
                    order_id: id.into(),
                },
                p,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The `fulfilment_requested` events of an order.
    pub(crate) fn fulfilments(
        &self,
        order_id: &str,
    ) -> Vec<marketplace_proto::events::v1::FulfilmentRequested> {
        self.recorded()
            .into_iter()
            .filter_map(|e| match e.payload {
                Some(Payload::FulfilmentRequested(f)) if f.order_id == order_id => Some(f),
                _ => None,
            })
            .collect()
    }

    /// Creates a customer of the demo reseller.
    pub(crate) async fn customer(&self, p: &Principal, name: &str, with_mca: bool) -> pb::Customer {
        let customer = pb::Customer {
            name: name.into(),
            contacts: vec![
                pb::Contact {
                    role: pb::ContactRole::ContractManager as i32,
                    email: "cm@fabrikam.example".into(),
                    first_name: "Casey".into(),
                    last_name: "Manager".into(),
                    phone: String::new(),
                },
                pb::Contact {
                    role: pb::ContactRole::GlobalAdmin as i32,
                    email: "ga@fabrikam.example".into(),
                    first_name: "Gale".into(),
                    last_name: "Admin".into(),
                    phone: String::new(),
                },
            ],
            microsoft: Some(pb::MicrosoftIdentity {
                tenant_domain: "fabrikam.onmicrosoft.com".into(),
                link_mode: pb::TenantLinkMode::Create as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = self
            .customers()
            .create_customer(self.req(
                pb::CreateCustomerRequest {
                    customer: Some(customer),
                },
                p,
            ))
            .await
            .expect("create customer")
            .into_inner();
        if with_mca {
            let accept = pb::AcceptAgreementRequest {
                customer_id: c.id.clone(),
                r#type: pb::AgreementType::MicrosoftCustomerAgreement as i32,
                contact: None,
            };
            self.customers()
                .accept_agreement(self.req(accept, p))
                .await
                .expect("accept");
        }
        c
    }
}
