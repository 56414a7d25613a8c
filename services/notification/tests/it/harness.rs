//! Test harness: a notification App on a fresh database with the in-process bus, the real SMTP
//! sink, gRPC clients carrying signed identities, and event builders.

use std::sync::Arc;
use std::time::Duration;

use marketplace_platform::bus::{InProcessBus, OutgoingEvent, SharedBus};
use marketplace_platform::db::{Backend, Database};
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_platform::outbox::{envelope, subject};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::events::v1::{self as ev, Envelope, envelope::Payload};
use marketplace_proto::notification::v1::notification_service_client::NotificationServiceClient;
use marketplace_proto::notification::v1::webhook_service_client::WebhookServiceClient;
use notification::sandbox_smtp::SmtpSink;
use notification::{App, Dependencies, RetryPolicy, Settings};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub(crate) const RESELLER: &str = "reseller-demo";
pub(crate) const RESELLER_EMAIL: &str = "reseller@demo.example";
pub(crate) const CONTRACT_MANAGER: &str = "admin@contoso.example";
pub(crate) const STAFF_EMAIL: &str = "staff@distributor.example";

/// A running service under test.
pub(crate) struct Running {
    pub(crate) smtp: SmtpSink,
    pub(crate) bus: SharedBus,
    pub(crate) identity: IdentityKey,
    pub(crate) db: Database,
    pub(crate) clock: Arc<marketplace_platform::clock::OffsetClock>,
    pub(crate) channel: Channel,
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings tuned for fast tests: short timeouts and retry delays.
pub(crate) async fn test_settings(backend: Backend, smtp_url: &str) -> Settings {
    let mut s = Settings::new(marketplace_platform::db::testing::fresh_settings(backend).await);
    s.smtp.url = marketplace_platform::config::Secret::new(smtp_url);
    s.smtp.timeout_ms = 300;
    s.smtp.retry = RetryPolicy {
        base_ms: 100,
        factor: 2.0,
        max_delay_ms: 1_000,
        max_attempts: 4,
    };
    s.webhooks.timeout_ms = 500;
    s.webhooks.retry = RetryPolicy {
        base_ms: 100,
        factor: 2.0,
        max_delay_ms: 2_000,
        max_attempts: 5,
    };
    s.webhooks.allow_loopback = true;
    s.webhooks.secret_overlap_ms = 60_000;
    s.workers.poll_interval_ms = 50;
    s.workers.lease_ms = 1_500;
    s.staff_email = STAFF_EMAIL.into();
    s
}

/// Starts a service with default test settings.
pub(crate) async fn start(backend: Backend) -> Running {
    start_with(backend, |_| {}).await
}

/// Starts a service after `tweak` adjusted the settings.
pub(crate) async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Running {
    let smtp = SmtpSink::start(TcpListener::bind("127.0.0.1:0").await.expect("bind smtp"));
    let mut settings = test_settings(backend, &smtp.url()).await;
    tweak(&mut settings);
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let identity = IdentityKey::random();
    let clock = marketplace_platform::clock::OffsetClock::new();
    let deps = Dependencies {
        bus: bus.clone(),
        identity: identity.clone(),
        clock: clock.clone(),
        page_tokens: PageTokens::random(),
    };
    let app = App::build(settings, deps).await.expect("build app");
    let db = app.database().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_lazy();
    Running {
        smtp,
        bus,
        identity,
        db,
        clock,
        channel,
        shutdown,
        task,
    }
}

impl Running {
    /// Publishes an event as its producer's relay would.
    pub(crate) async fn publish(&self, event: &Envelope) {
        let out = OutgoingEvent::new(
            event.id.clone(),
            subject(&event.source, &event.r#type),
            event.encode_to_vec(),
        );
        self.bus.publish(out).await.expect("publish");
    }

    pub(crate) fn feed(
        &self,
        principal: Principal,
    ) -> NotificationServiceClient<tonic::service::interceptor::InterceptedService<Channel, Auth>>
    {
        NotificationServiceClient::with_interceptor(
            self.channel.clone(),
            Auth {
                key: self.identity.clone(),
                principal,
            },
        )
    }

    pub(crate) fn webhooks(
        &self,
        principal: Principal,
    ) -> WebhookServiceClient<tonic::service::interceptor::InterceptedService<Channel, Auth>> {
        WebhookServiceClient::with_interceptor(
            self.channel.clone(),
            Auth {
                key: self.identity.clone(),
                principal,
            },
        )
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
        self.smtp.stop();
    }
}

/// Attaches a signed identity to every call.
#[derive(Clone)]
pub(crate) struct Auth {
    key: IdentityKey,
    principal: Principal,
}

impl tonic::service::Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.key.attach(&mut request, &self.principal);
        Ok(request)
    }
}

pub(crate) fn reseller_admin(reseller: &str) -> Principal {
    Principal {
        subject: "u-admin".into(),
        display_name: "Admin".into(),
        role: Role::ResellerAdmin,
        reseller_id: Some(reseller.into()),
        customer_id: None,
    }
}

pub(crate) fn reseller_user(reseller: &str) -> Principal {
    Principal {
        subject: "u-user".into(),
        display_name: "User".into(),
        role: Role::ResellerUser,
        reseller_id: Some(reseller.into()),
        customer_id: None,
    }
}

pub(crate) fn staff() -> Principal {
    Principal {
        subject: "s-1".into(),
        display_name: "Staff".into(),
        role: Role::Staff,
        reseller_id: None,
        customer_id: None,
    }
}

fn clock() -> marketplace_platform::clock::SharedClock {
    marketplace_platform::clock::system()
}

pub(crate) fn reseller_facts(reseller: &str) -> ev::ResellerFacts {
    ev::ResellerFacts {
        reseller_id: reseller.into(),
        name: "Demo Reseller".into(),
        autodesk_partner_csn: "5100000001".into(),
        microsoft_mpn_id: "1234567".into(),
        microsoft_indirect_reseller_tenant_id: "11111111-2222-3333-4444-555555555555".into(),
        notification_email: if reseller == RESELLER {
            RESELLER_EMAIL.into()
        } else {
            format!("ops@{reseller}.example")
        },
    }
}

pub(crate) fn customer_facts() -> ev::CustomerFacts {
    ev::CustomerFacts {
        customer_id: "customer-demo".into(),
        name: "Contoso Ltd".into(),
        contacts: vec![
            ev::ContactFacts {
                email: CONTRACT_MANAGER.into(),
                first_name: "Ada".into(),
                last_name: "Admin".into(),
                role: "contract_manager".into(),
                phone: String::new(),
            },
            ev::ContactFacts {
                email: "coord@contoso.example".into(),
                first_name: "Cy".into(),
                last_name: "Coord".into(),
                role: "software_coordinator".into(),
                phone: String::new(),
            },
        ],
        country_code: "DE".into(),
        language_code: "en".into(),
        ..Default::default()
    }
}

pub(crate) fn order_submitted(reseller: &str, order_id: &str) -> Envelope {
    envelope(
        "ordering",
        reseller,
        "customer-demo",
        Payload::OrderSubmitted(ev::OrderSubmitted {
            order_id: order_id.into(),
            order_number: format!("ORD-{}", &order_id[..order_id.len().min(6)]),
            reseller: Some(reseller_facts(reseller)),
            customer: Some(customer_facts()),
            item_count: 1,
            total_price: None,
            created_by: "Admin".into(),
            plan_names: vec!["AutoCAD - Annual".into()],
        }),
        &clock(),
    )
}

pub(crate) fn subscription_activated(reseller: &str, order_id: &str) -> Envelope {
    envelope(
        "ordering",
        reseller,
        "customer-demo",
        Payload::SubscriptionActivated(ev::SubscriptionActivated {
            subscription_id: "sub-1".into(),
            order_id: order_id.into(),
            order_number: String::new(),
            plan_name: "AutoCAD - Annual".into(),
            vendor_id: "autodesk".into(),
            quantity: 3,
            vendor_subscription_id: "ADSK-123".into(),
            portal_url: "https://manage.autodesk.com/products?x=1".into(),
            reseller: Some(reseller_facts(reseller)),
            customer: Some(customer_facts()),
            term_end: Some(marketplace_proto::common::v1::Date {
                year: 2027,
                month: 11,
                day: 22,
            }),
        }),
        &clock(),
    )
}

pub(crate) fn fulfilment_failed(reseller: &str, order_id: &str) -> Envelope {
    envelope(
        "provisioning",
        reseller,
        "customer-demo",
        Payload::FulfilmentFailed(ev::FulfilmentFailed {
            request_id: "req-1".into(),
            order_id: order_id.into(),
            order_item_id: "item-1".into(),
            job_id: "job-1".into(),
            vendor_code: "INVALID_EMAIL".into(),
            vendor_message: "The contract manager e-mail is invalid".into(),
            staff_alert: true,
            order_number: String::new(),
            vendor_id: "autodesk".into(),
            ..Default::default()
        }),
        &clock(),
    )
}

pub(crate) fn fulfilment_inquiring(reseller: &str, order_id: &str) -> Envelope {
    envelope(
        "provisioning",
        reseller,
        "customer-demo",
        Payload::FulfilmentInquiring(ev::FulfilmentInquiring {
            request_id: "req-2".into(),
            order_id: order_id.into(),
            order_item_id: "item-2".into(),
            job_id: "job-2".into(),
            vendor_code: "MISSING_MPN".into(),
            vendor_message: "Partner MPN ID is required".into(),
            field_violations: vec![marketplace_proto::common::v1::FieldViolation {
                field: "parameters.mpn_id".into(),
                description: "the partner MPN ID is required for NCE".into(),
            }],
        }),
        &clock(),
    )
}

pub(crate) fn reminder(reseller: &str, kind: ev::ReminderKind) -> Envelope {
    envelope(
        "ordering",
        reseller,
        "customer-demo",
        Payload::SubscriptionReminder(ev::SubscriptionReminder {
            subscription_id: "sub-9".into(),
            kind: kind as i32,
            deadline_time: Some(marketplace_proto::pbjson_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            plan_name: "Microsoft 365 Business Basic".into(),
            reseller: Some(reseller_facts(reseller)),
            customer_name: "Contoso Ltd".into(),
        }),
        &clock(),
    )
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub(crate) async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn fulfilment_succeeded(reseller: &str, order_id: &str) -> Envelope {
    envelope(
        "provisioning",
        reseller,
        "customer-demo",
        Payload::FulfilmentSucceeded(ev::FulfilmentSucceeded {
            request_id: "req-3".into(),
            order_id: order_id.into(),
            order_item_id: "item-3".into(),
            job_id: "job-3".into(),
            vendor_subscription_id: "ADSK-9".into(),
            portal_url: "https://manage.autodesk.com".into(),
            vendor_message: "Order processed".into(),
            vendor_reference: "TX-42".into(),
            quantity: 3,
            ..Default::default()
        }),
        &clock(),
    )
}
