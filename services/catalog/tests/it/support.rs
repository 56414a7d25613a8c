//! Starts the catalog on a fresh database (either backend) and calls it over gRPC.

use std::future::Future;
use std::sync::Arc;

use catalog::{App, Dependencies, Settings};
use marketplace_platform::bus::{InProcessBus, OutgoingEvent, SharedBus};
use marketplace_platform::clock::{OffsetClock, SharedClock, to_timestamp};
use marketplace_platform::db::{Backend, DatabaseSettings, testing};
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::events::v1::{Envelope, ResellerFacts, ResellerProfileChanged};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A running catalog service.
pub(crate) struct Harness {
    pub(crate) client: CatalogServiceClient<Channel>,
    pub(crate) identity: IdentityKey,
    pub(crate) clock: Arc<OffsetClock>,
    pub(crate) bus: SharedBus,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    /// Starts the service on `database` with its own identity key, clock and bus.
    pub(crate) async fn start_on(database: DatabaseSettings, seed_demo: bool) -> Self {
        let identity = IdentityKey::random();
        let clock = OffsetClock::new();
        let bus: SharedBus = Arc::new(InProcessBus::new());
        let shared_clock: SharedClock = clock.clone();
        let deps = Dependencies {
            bus: bus.clone(),
            identity: identity.clone(),
            clock: shared_clock,
            page_tokens: PageTokens::random(),
        };
        let settings = Settings {
            database: database.clone(),
            server: Default::default(),
            seed_demo,
        };
        let app = App::build(settings, deps).await.expect("build catalog");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(listener, shutdown.clone()));
        let client = CatalogServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        Self {
            client,
            identity,
            clock,
            bus,
            shutdown,
            task: Some(task),
        }
    }

    /// Starts the service on a fresh database.
    pub(crate) async fn start(backend: Backend, seed_demo: bool) -> Self {
        let database = testing::fresh_settings(backend).await;
        Self::start_on(database, seed_demo).await
    }

    /// Stops the service and waits for it.
    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("run");
        }
    }

    /// A request carrying `principal`.
    pub(crate) fn req<T>(&self, principal: &Principal, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.attach(&mut request, principal);
        request
    }

    /// A client clone.
    pub(crate) fn c(&self) -> CatalogServiceClient<Channel> {
        self.client.clone()
    }

    /// Publishes ordering's `reseller_profile_changed` (returns once the catalog applied it).
    pub(crate) async fn reseller_profile_changed(
        &self,
        reseller_id: &str,
        csn: &str,
        at_offset_secs: i64,
    ) -> String {
        let occur = self.clock_now() + time::Duration::seconds(at_offset_secs);
        let id = marketplace_platform::ids::new_id();
        let envelope = Envelope {
            id: id.clone(),
            r#type: "reseller_profile_changed".into(),
            source: "ordering".into(),
            occur_time: Some(to_timestamp(occur)),
            reseller_id: reseller_id.into(),
            payload: Some(Payload::ResellerProfileChanged(ResellerProfileChanged {
                reseller: Some(ResellerFacts {
                    reseller_id: reseller_id.into(),
                    name: "R".into(),
                    autodesk_partner_csn: csn.into(),
                    ..Default::default()
                }),
            })),
            ..Default::default()
        };
        self.publish(&id, envelope.encode_to_vec()).await;
        id
    }

    /// Publishes raw bytes on the reseller profile subject with event id `id`.
    pub(crate) async fn publish(&self, id: &str, payload: Vec<u8>) {
        let event =
            OutgoingEvent::new(id, "marketplace.ordering.reseller_profile_changed", payload);
        self.bus.publish(event).await.expect("publish");
    }

    fn clock_now(&self) -> time::OffsetDateTime {
        use marketplace_platform::clock::Clock;
        self.clock.now()
    }
}

/// Runs `case` on every available backend, each with a fresh database.
pub(crate) async fn on_each_backend<F, Fut>(seed_demo: bool, case: F)
where
    F: Fn(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in testing::backends().await {
        eprintln!("-- backend {backend:?}");
        let harness = Harness::start(backend, seed_demo).await;
        case(harness).await;
    }
}

/// Distributor staff.
pub(crate) fn staff() -> Principal {
    Principal {
        subject: "staff-1".into(),
        display_name: "Staff".into(),
        role: Role::Staff,
        reseller_id: None,
        customer_id: None,
    }
}

/// A reseller administrator.
pub(crate) fn reseller_admin(reseller: &str) -> Principal {
    Principal {
        subject: format!("{reseller}-admin"),
        display_name: "Admin".into(),
        role: Role::ResellerAdmin,
        reseller_id: Some(reseller.into()),
        customer_id: None,
    }
}

/// A reseller user.
pub(crate) fn reseller_user(reseller: &str) -> Principal {
    Principal {
        role: Role::ResellerUser,
        subject: format!("{reseller}-user"),
        ..reseller_admin(reseller)
    }
}

/// A customer user of a reseller.
pub(crate) fn customer_user(reseller: &str) -> Principal {
    Principal {
        role: Role::CustomerUser,
        subject: "cust-user".into(),
        customer_id: Some("customer-1".into()),
        ..reseller_admin(reseller)
    }
}

/// The ordering service acting on its own.
pub(crate) fn ordering_service() -> Principal {
    Principal::service("ordering")
}

/// Asserts a gRPC error code and returns the status.
pub(crate) fn expect_code<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
) -> tonic::Status {
    match result {
        Ok(response) => panic!("expected {code:?}, got {:?}", response.into_inner()),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The field violations of an INVALID_ARGUMENT status.
pub(crate) fn violated_fields(status: &tonic::Status) -> Vec<String> {
    marketplace_platform::ServiceError::from_status(status)
        .violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The broken rule of a FAILED_PRECONDITION status.
pub(crate) fn broken_rule(status: &tonic::Status) -> Option<String> {
    marketplace_platform::ServiceError::from_status(status).rule
}
