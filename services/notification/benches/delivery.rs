//! Delivery benchmark (a load binary, not a timing test).
//!
//! Run: `cargo bench -p notification --bench delivery`
//! (PostgreSQL instead of SQLite: `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p notification --bench delivery`,
//! which creates a fresh database on that server.)
//!
//! Measures, through the real service (consumer → rules → delivery rows → workers):
//! 1. webhook deliveries per second to a local HTTP receiver (events published as fast as the
//!    in-process bus takes them, 4 endpoints per event);
//! 2. e-mails per second to the local SMTP sink;
//! 3. event-to-receipt delay (p50/p99/max) of webhooks at a steady 200 events/s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use marketplace_platform::bus::{InProcessBus, OutgoingEvent, SharedBus};
use marketplace_platform::clock::{system, to_micros};
use marketplace_platform::db::testing::{fresh_database_url, fresh_settings};
use marketplace_platform::db::{Backend, DatabaseSettings};
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::outbox::{envelope, subject};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::events::v1::{self as ev, envelope::Payload};
use notification::sandbox_smtp::SmtpSink;
use notification::store::webhooks::{self, EndpointRow};
use notification::{App, Dependencies, Settings};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type Receipts = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

async fn receiver() -> (String, Receipts) {
    let receipts: Receipts = Arc::default();
    async fn hook(State(r): State<Receipts>, headers: HeaderMap, _body: Bytes) -> &'static str {
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if let Ok(mut r) = r.lock() {
            r.entry(id).or_default().push(Instant::now());
        }
        "ok"
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(receipts.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receipts)
}

fn status_event(reseller: &str, to_status: &str) -> ev::Envelope {
    envelope(
        "ordering",
        reseller,
        "customer-bench",
        Payload::OrderStatusChanged(ev::OrderStatusChanged {
            order_id: uuid::Uuid::now_v7().to_string(),
            order_number: "ORD-B".into(),
            from_status: "ORDER_STATUS_IN_PROGRESS".into(),
            to_status: to_status.into(),
            ..Default::default()
        }),
        &system(),
    )
}

fn submitted_event(reseller: &str) -> ev::Envelope {
    envelope(
        "ordering",
        reseller,
        "customer-bench",
        Payload::OrderSubmitted(ev::OrderSubmitted {
            order_id: uuid::Uuid::now_v7().to_string(),
            order_number: "ORD-B".into(),
            reseller: Some(ev::ResellerFacts {
                reseller_id: reseller.into(),
                name: "Bench".into(),
                notification_email: "bench@reseller.example".into(),
                ..Default::default()
            }),
            item_count: 1,
            plan_names: vec!["AutoCAD".into()],
            ..Default::default()
        }),
        &system(),
    )
}

async fn publish(bus: &SharedBus, e: &ev::Envelope) {
    let out = OutgoingEvent::new(
        e.id.clone(),
        subject(&e.source, &e.r#type),
        e.encode_to_vec(),
    );
    bus.publish(out).await.expect("publish");
}

async fn database() -> (DatabaseSettings, &'static str) {
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            // The testing helper reads this variable to create a fresh database.
            // SAFETY: set before any other thread reads the environment.
            unsafe { std::env::set_var("MARKETPLACE_TEST_DATABASE_URL", admin) };
            let url = fresh_database_url(Backend::Postgres).await;
            (
                DatabaseSettings {
                    url: marketplace_platform::config::Secret::new(url),
                    max_connections: Some(16),
                    acquire_timeout_ms: 10_000,
                },
                "postgres",
            )
        }
        _ => (fresh_settings(Backend::Sqlite).await, "sqlite"),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn wait_receipts(receipts: &Receipts, expected: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let n: usize = receipts
            .lock()
            .map(|r| r.values().map(Vec::len).sum())
            .unwrap_or(0);
        if n >= expected || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const COMPLETED: &str = "ORDER_STATUS_COMPLETED";

async fn delay(bus: &SharedBus, receipts: &Receipts, to_status: &str, per_event: usize) {
    if let Ok(mut r) = receipts.lock() {
        r.clear();
    }
    let mut sent: Vec<(String, Instant)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..2_000 {
        tick.tick().await;
        let e = status_event("reseller-bench", to_status);
        let at = Instant::now();
        publish(bus, &e).await;
        sent.push((e.id, at));
    }
    wait_receipts(receipts, sent.len() * per_event, Duration::from_secs(60)).await;
    let got = receipts.lock().map(|r| r.clone()).unwrap_or_default();
    let mut delays: Vec<Duration> = sent
        .iter()
        .flat_map(|(id, at)| {
            got.get(id)
                .into_iter()
                .flatten()
                .map(move |r| r.saturating_duration_since(*at))
        })
        .collect();
    delays.sort();
    println!(
        "delay at 200 events/s x {per_event} endpoint(s) = {} deliveries/s ({} deliveries): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        200 * per_event,
        delays.len(),
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let (db, backend) = database().await;
    let smtp = SmtpSink::start(TcpListener::bind("127.0.0.1:0").await.expect("bind smtp"));
    let mut settings = Settings::new(db);
    settings.smtp.url = marketplace_platform::config::Secret::new(smtp.url());
    settings.smtp.pool_size = 32;
    settings.webhooks.allow_loopback = true;
    settings.webhooks.concurrency = 128;
    settings.workers.batch_size = 256;
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let deps = Dependencies {
        bus: bus.clone(),
        identity: IdentityKey::random(),
        clock: system(),
        page_tokens: PageTokens::random(),
    };
    let app = App::build(settings, deps).await.expect("build");
    let pool = app.database().pool().clone();
    let (url, receipts) = receiver().await;
    let now = to_micros(time::OffsetDateTime::now_utc());
    for i in 0..4 {
        let row = EndpointRow {
            id: uuid::Uuid::now_v7().to_string(),
            reseller_id: "reseller-bench".into(),
            url: url.clone(),
            description: format!("bench {i}"),
            // Every endpoint wants completed orders; the first one also other status changes.
            event_types: if i == 0 {
                vec!["order.completed".into(), "order.status_changed".into()]
            } else {
                vec!["order.completed".into()]
            },
            enabled: true,
            disabled_reason: String::new(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        webhooks::insert_endpoint(&pool, &row)
            .await
            .expect("endpoint");
    }
    println!("notification delivery benchmark ({backend})");

    // 1. Webhook throughput: 2,000 events × 4 endpoints queued (the consumers run from `build`),
    //    then the workers start and drain the queue.
    let events = 2_000;
    let started = Instant::now();
    let publishers: Vec<_> = (0..4)
        .map(|_| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for _ in 0..events / 4 {
                    publish(&bus, &status_event("reseller-bench", COMPLETED)).await;
                }
            })
        })
        .collect();
    for p in publishers {
        let _ = p.await;
    }
    let ingest = started.elapsed();
    println!(
        "events: {events} consumed in {:.2} s = {:.0} events/s (rules + feed + delivery rows, one transaction each)",
        ingest.as_secs_f64(),
        events as f64 / ingest.as_secs_f64()
    );
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(app.run(
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        shutdown.clone(),
    ));
    let got = wait_receipts(&receipts, events * 4, Duration::from_secs(120)).await;
    let total = started.elapsed();
    println!(
        "webhooks: {got} deliveries in {:.2} s = {:.0} deliveries/s",
        total.as_secs_f64(),
        got as f64 / total.as_secs_f64()
    );

    // 2. E-mail throughput: 1,000 events, one e-mail each (no webhook endpoint wants them).
    let mails = 1_000;
    let started = Instant::now();
    let publishers: Vec<_> = (0..4)
        .map(|_| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for _ in 0..mails / 4 {
                    publish(&bus, &submitted_event("reseller-bench")).await;
                }
            })
        })
        .collect();
    for p in publishers {
        let _ = p.await;
    }
    let got = smtp.wait_for(mails, Duration::from_secs(120)).await.len();
    let total = started.elapsed();
    println!(
        "e-mail: {got} messages in {:.2} s = {:.0} e-mails/s",
        total.as_secs_f64(),
        got as f64 / total.as_secs_f64()
    );

    // 3. Event-to-receipt delay at 200 events/s for 10 s: 1 delivery per event (200/s), then 4 (800/s).
    delay(&bus, &receipts, "ORDER_STATUS_IN_PROGRESS", 1).await;
    delay(&bus, &receipts, COMPLETED, 4).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
}
