//! Test harness: vendor simulators, an in-process bus, provisioning apps on fresh databases,
//! an event observer and an operations-API client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use marketplace_platform::bus::{InProcessBus, OutgoingEvent, SharedBus, SubscriptionSpec};
use marketplace_platform::clock::SharedClock;
use marketplace_platform::config::Secret;
use marketplace_platform::db::DatabaseSettings;
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_platform::outbox::{envelope, subject};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::common::v1 as common;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::provisioning::v1 as pb;
use marketplace_proto::provisioning::v1::provisioning_service_client::ProvisioningServiceClient;
use prost::Message;
use provisioning::{
    App, AutodeskSettings, Dependencies, MicrosoftSettings, Settings, WorkerHook, WorkerSettings,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vendor_sim::{SimConfig, VendorSim};

pub(crate) const AUTODESK_PART: &str = "C1RK1WW1762T548";
pub(crate) const MS_ITEM: &str = "CFQ7TTC0LH0Z:0001:CFQ7TTC0K18P";

/// Running simulators.
pub(crate) struct Sim {
    pub(crate) sim: VendorSim,
    pub(crate) autodesk_url: String,
    pub(crate) microsoft_url: String,
    stop: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(crate) async fn start_sim(config: SimConfig) -> Sim {
    let sim = VendorSim::new(config);
    let ad = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ms = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let autodesk_url = format!("http://{}", ad.local_addr().expect("addr"));
    let microsoft_url = format!("http://{}", ms.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    tokio::spawn(sim.clone().serve(ad, ms, stop.clone()));
    Sim {
        sim,
        autodesk_url,
        microsoft_url,
        stop,
    }
}

/// Fast worker settings for tests.
pub(crate) fn fast_worker() -> WorkerSettings {
    WorkerSettings {
        workers: 2,
        claim_batch: 4,
        lease_ms: 30_000,
        poll_interval_ms: 50,
        backoff_base_ms: 50,
        backoff_max_ms: 500,
        vendor_poll_initial_ms: 100,
        vendor_poll_max_ms: 500,
        drain_timeout_ms: 2_000,
        ..WorkerSettings::default()
    }
}

pub(crate) fn settings(db: DatabaseSettings, sim: &Sim) -> Settings {
    Settings {
        database: db,
        server: Default::default(),
        autodesk: AutodeskSettings {
            base_url: sim.autodesk_url.clone(),
            timeout_ms: 2_000,
            ..AutodeskSettings::default()
        },
        microsoft: MicrosoftSettings {
            base_url: sim.microsoft_url.clone(),
            timeout_ms: 2_000,
            ..MicrosoftSettings::default()
        },
        worker: fast_worker(),
        outbox_relay: true,
    }
}

/// One bus, identity key and observer shared by the apps of a test.
pub(crate) struct World {
    pub(crate) bus: SharedBus,
    pub(crate) identity: IdentityKey,
    pub(crate) clock: SharedClock,
    pub(crate) events: Arc<Mutex<Vec<ev::Envelope>>>,
}

impl World {
    pub(crate) async fn new() -> World {
        let bus: SharedBus = Arc::new(InProcessBus::new());
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut stream = bus
            .subscribe(SubscriptionSpec::new(
                "test-observer",
                ["marketplace.provisioning.>"],
            ))
            .await
            .expect("subscribe");
        let sink = events.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = stream.next().await {
                if let Ok(envelope) = ev::Envelope::decode(delivery.payload.clone()) {
                    sink.lock().expect("events").push(envelope);
                }
                let _ = delivery.ack().await;
            }
        });
        World {
            bus,
            identity: IdentityKey::random(),
            clock: marketplace_platform::clock::system(),
            events,
        }
    }

    pub(crate) fn deps(&self) -> Dependencies {
        Dependencies {
            bus: self.bus.clone(),
            identity: self.identity.clone(),
            clock: self.clock.clone(),
            page_tokens: PageTokens::random(),
        }
    }

    /// Builds and runs an app; returns its gRPC client and shutdown handle.
    pub(crate) async fn start(
        &self,
        settings: Settings,
        hook: Option<Arc<dyn WorkerHook>>,
    ) -> Running {
        let mut app = App::build(settings, self.deps()).await.expect("build app");
        if let Some(hook) = hook {
            app = app.with_worker_hook(hook);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(listener, shutdown.clone()));
        let client = ProvisioningServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        Running {
            client,
            shutdown,
            handle: Some(handle),
            identity: self.identity.clone(),
        }
    }

    /// Publishes an ordering event (returns once the consumers applied it).
    pub(crate) async fn publish(&self, payload: Payload) {
        let reseller = "reseller-demo";
        let env = envelope("ordering", reseller, "customer-demo", payload, &self.clock);
        let event = OutgoingEvent::new(
            env.id.clone(),
            subject("ordering", &env.r#type),
            env.encode_to_vec(),
        );
        self.bus.publish(event).await.expect("publish");
    }

    /// Events of `type` seen so far.
    pub(crate) fn seen(&self, event_type: &str) -> Vec<ev::Envelope> {
        self.events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| e.r#type == event_type)
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds for the seen events.
    pub(crate) async fn wait_events(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[ev::Envelope]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let snapshot = self.events.lock().expect("events").clone();
            if pred(&snapshot) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let types: Vec<String> = self
                    .events
                    .lock()
                    .expect("events")
                    .iter()
                    .map(|e| e.r#type.clone())
                    .collect();
                panic!("timed out waiting for {what}; events seen: {types:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running app.
pub(crate) struct Running {
    pub(crate) client: ProvisioningServiceClient<tonic::transport::Channel>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    identity: IdentityKey,
}

impl Running {
    pub(crate) fn request<T>(&self, message: T, principal: &Principal) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.attach(&mut request, principal);
        request
    }

    pub(crate) fn staff() -> Principal {
        Principal {
            subject: "staff-1".into(),
            display_name: "Staff".into(),
            role: Role::Staff,
            reseller_id: None,
            customer_id: None,
        }
    }

    pub(crate) async fn jobs_of_order(&self, order_id: &str) -> Vec<pb::Job> {
        let mut client = self.client.clone();
        let request = self.request(
            pb::ListJobsRequest {
                order_id: order_id.into(),
                ..Default::default()
            },
            &Self::staff(),
        );
        client
            .list_jobs(request)
            .await
            .expect("list jobs")
            .into_inner()
            .jobs
    }

    /// Waits until the job of `order_id` reaches `state`.
    pub(crate) async fn wait_state(
        &self,
        order_id: &str,
        state: pb::JobState,
        timeout: Duration,
    ) -> pb::Job {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let jobs = self.jobs_of_order(order_id).await;
            if let Some(job) = jobs.iter().find(|j| j.state == state as i32) {
                return job.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("job of {order_id} did not reach {state:?}: {jobs:#?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }
}

/// A fulfilment request for a plan of `connector`.
pub(crate) fn request(
    connector: &str,
    order_id: &str,
    change: common::ChangeType,
    quantity: i32,
) -> ev::FulfilmentRequested {
    let (vendor, sku) = if connector == "autodesk" {
        ("autodesk", AUTODESK_PART)
    } else {
        ("microsoft", MS_ITEM)
    };
    ev::FulfilmentRequested {
        request_id: format!("{order_id}-item-1-0"),
        order_id: order_id.into(),
        order_number: format!("ORD-{order_id}"),
        order_item_id: format!("{order_id}-item-1"),
        change: change as i32,
        reseller: Some(ev::ResellerFacts {
            reseller_id: "reseller-demo".into(),
            name: "Demo Reseller".into(),
            autodesk_partner_csn: "5100000001".into(),
            microsoft_mpn_id: "1234567".into(),
            microsoft_indirect_reseller_tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            notification_email: "reseller@demo.example".into(),
        }),
        customer: Some(ev::CustomerFacts {
            customer_id: format!("customer-{order_id}"),
            name: "Contoso Ltd".into(),
            contacts: vec![ev::ContactFacts {
                email: "admin@contoso.example".into(),
                first_name: "Ada".into(),
                last_name: "Admin".into(),
                role: "contract_manager".into(),
                phone: "+1 555 0100".into(),
            }],
            country_code: "US".into(),
            microsoft_tenant_domain: format!(
                "c{}.onmicrosoft.com",
                order_id
                    .replace(['-', '_'], "")
                    .chars()
                    .take(20)
                    .collect::<String>()
            ),
            microsoft_tenant_link_mode: "create".into(),
            microsoft_customer_agreement_accepted: true,
            language_code: "en".into(),
            city: "Redmond".into(),
            address_line1: "1 Main St".into(),
            postal_code: "98052".into(),
            ..Default::default()
        }),
        plan: Some(ev::PlanFacts {
            plan_id: format!("plan-{vendor}"),
            vendor_id: vendor.into(),
            name: "Plan".into(),
            vendor_sku: sku.into(),
            term: common::Term::P1y as i32,
            billing_cycle: common::BillingCycle::Annual as i32,
            commitment_months: 12,
            connector: connector.into(),
        }),
        quantity,
        parameters: HashMap::new(),
        ..Default::default()
    }
}

/// A fresh database on `backend` with a small pool.
pub(crate) async fn fresh_db(backend: marketplace_platform::db::Backend) -> DatabaseSettings {
    let mut db = marketplace_platform::db::testing::fresh_settings(backend).await;
    if backend == marketplace_platform::db::Backend::Postgres {
        db.max_connections = Some(8);
    }
    db
}

#[allow(dead_code)]
pub(crate) fn secret(s: &str) -> Secret {
    Secret::new(s)
}

/// A worker hook that "kills" every worker right after its first vendor call.
pub(crate) struct CrashAfterVendorCall;

impl WorkerHook for CrashAfterVendorCall {
    fn after_vendor_call(&self, _job_id: &str) -> provisioning::HookAction {
        provisioning::HookAction::Crash
    }
}

/// The `fulfilment_succeeded` of an order, if seen.
pub(crate) fn succeeded_of(world: &World, order_id: &str) -> Option<ev::FulfilmentSucceeded> {
    world
        .seen("fulfilment_succeeded")
        .into_iter()
        .find_map(|e| match e.payload {
            Some(Payload::FulfilmentSucceeded(s)) if s.order_id == order_id => Some(s),
            _ => None,
        })
}

/// Payloads of one event type for an order.
pub(crate) fn payloads_of(world: &World, event_type: &str, order_id: &str) -> Vec<Payload> {
    world
        .seen(event_type)
        .into_iter()
        .filter_map(|e| e.payload)
        .filter(|p| match p {
            Payload::FulfilmentProgressed(x) => x.order_id == order_id,
            Payload::FulfilmentSucceeded(x) => x.order_id == order_id,
            Payload::FulfilmentInquiring(x) => x.order_id == order_id,
            Payload::FulfilmentFailed(x) => x.order_id == order_id,
            _ => false,
        })
        .collect()
}

/// A follow-up change of an existing subscription, as its own order.
pub(crate) fn change_of(
    base: &ev::FulfilmentRequested,
    order_id: &str,
    change: common::ChangeType,
    quantity: i32,
) -> ev::FulfilmentRequested {
    ev::FulfilmentRequested {
        request_id: format!("{order_id}-item-1-0"),
        order_id: order_id.into(),
        order_number: format!("ORD-{order_id}"),
        order_item_id: format!("{order_id}-item-1"),
        change: change as i32,
        quantity,
        ..base.clone()
    }
}
