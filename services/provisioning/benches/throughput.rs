//! Provisioning benchmark against PostgreSQL with zero-delay vendor simulators:
//! - throughput: jobs/s completed by 1 and by 2 workers (jobs queued first, then the workers start);
//! - latency: from publishing `fulfilment_requested` to the vendor receiving the order call (p50/p99).
//!
//! Run:
//! ```text
//! cargo bench -p provisioning --bench throughput
//! BENCH_JOBS=5000 BENCH_SAMPLES=500 BENCH_BATCH=16 cargo bench -p provisioning --bench throughput
//! ```
//! PostgreSQL comes from `MARKETPLACE_TEST_DATABASE_URL` (an admin URL), else
//! `postgres://postgres@127.0.0.1:5432/postgres`; each run creates fresh databases.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use marketplace_platform::bus::{InProcessBus, OutgoingEvent, SharedBus};
use marketplace_platform::db::{Backend, Database};
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::outbox::{envelope, subject};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::common::v1 as common;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use prost::Message;
use provisioning::{
    App, AutodeskSettings, Dependencies, MicrosoftSettings, Settings, WorkerSettings,
};
use sqlx::Row;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vendor_sim::{SimConfig, VendorSim};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn request(i: usize, tag: &str) -> ev::FulfilmentRequested {
    let order_id = format!("{tag}-{i}");
    ev::FulfilmentRequested {
        request_id: format!("{order_id}-r"),
        order_id: order_id.clone(),
        order_number: format!("ORD-{order_id}"),
        order_item_id: format!("{order_id}-item"),
        change: common::ChangeType::NewSubscription as i32,
        reseller: Some(ev::ResellerFacts {
            reseller_id: "reseller-demo".into(),
            autodesk_partner_csn: "5100000001".into(),
            ..Default::default()
        }),
        customer: Some(ev::CustomerFacts {
            customer_id: format!("customer-{order_id}"),
            name: format!("Bench Customer {i}"),
            contacts: vec![ev::ContactFacts {
                email: "cm@bench.example".into(),
                first_name: "Bench".into(),
                last_name: "Manager".into(),
                role: "contract_manager".into(),
                ..Default::default()
            }],
            country_code: "US".into(),
            ..Default::default()
        }),
        plan: Some(ev::PlanFacts {
            plan_id: "plan-autodesk-autocad-annual".into(),
            vendor_id: "autodesk".into(),
            vendor_sku: "C1RK1WW1762T548".into(),
            term: common::Term::P1y as i32,
            connector: "autodesk".into(),
            ..Default::default()
        }),
        quantity: 1,
        ..Default::default()
    }
}

async fn publish(bus: &SharedBus, req: ev::FulfilmentRequested) {
    let clock = marketplace_platform::clock::system();
    let env = envelope(
        "ordering",
        "reseller-demo",
        "customer",
        Payload::FulfilmentRequested(req),
        &clock,
    );
    let event = OutgoingEvent::new(
        env.id.clone(),
        subject("ordering", &env.r#type),
        env.encode_to_vec(),
    );
    if let Err(error) = bus.publish(event).await {
        panic!("publish failed: {error}");
    }
}

struct Setup {
    sim: VendorSim,
    bus: SharedBus,
    app: App,
    db: Database,
    _sim_stop: CancellationToken,
}

async fn setup(workers: usize) -> Setup {
    let sim = VendorSim::new(SimConfig::default());
    let ad = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ms = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let autodesk_url = format!("http://{}", ad.local_addr().expect("addr"));
    let microsoft_url = format!("http://{}", ms.local_addr().expect("addr"));
    let sim_stop = CancellationToken::new();
    tokio::spawn(sim.clone().serve(ad, ms, sim_stop.clone()));
    let mut database = marketplace_platform::db::testing::fresh_settings(Backend::Postgres).await;
    database.max_connections = Some(16);
    let settings = Settings {
        database: database.clone(),
        server: Default::default(),
        autodesk: AutodeskSettings {
            base_url: autodesk_url,
            ..AutodeskSettings::default()
        },
        microsoft: MicrosoftSettings {
            base_url: microsoft_url,
            ..MicrosoftSettings::default()
        },
        worker: WorkerSettings {
            workers,
            claim_batch: env("BENCH_BATCH", 32) as i64,
            poll_interval_ms: 200,
            ..WorkerSettings::default()
        },
        outbox_relay: true,
    };
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let deps = Dependencies {
        bus: bus.clone(),
        identity: IdentityKey::random(),
        clock: marketplace_platform::clock::system(),
        page_tokens: PageTokens::random(),
    };
    let app = App::build(settings, deps).await.expect("build");
    let db = Database::connect(&database).await.expect("connect");
    Setup {
        sim,
        bus,
        app,
        db,
        _sim_stop: sim_stop,
    }
}

async fn succeeded(db: &Database) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM provisioning_jobs WHERE state = 'succeeded'")
        .fetch_one(db.pool())
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .unwrap_or(0)
}

async fn throughput(workers: usize, jobs: usize) -> f64 {
    let s = setup(workers).await;
    // Queue every job first (the consumer runs from build), then let the workers go.
    for i in 0..jobs {
        publish(&s.bus, request(i, &format!("tp{workers}"))).await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let running = tokio::spawn(s.app.run(listener, shutdown.clone()));
    while succeeded(&s.db).await < jobs as i64 {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "benchmark did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    assert_eq!(
        s.sim.journal().effective_provisionings.len(),
        jobs,
        "every job provisioned once"
    );
    shutdown.cancel();
    let _ = running.await;
    jobs as f64 / elapsed.as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

async fn latency(samples: usize) -> (f64, f64, f64) {
    let s = setup(1).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(s.app.run(listener, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sent = HashMap::new();
    let mut applied = HashMap::new();
    for i in 0..samples {
        let name = format!("Bench Customer {i}");
        sent.insert(name.clone(), time::OffsetDateTime::now_utc());
        publish(&s.bus, request(i, "lat")).await;
        // The bus returns once the consumer committed the job (inbox transaction).
        applied.insert(name, time::OffsetDateTime::now_utc());
        // Space the events so each one meets an idle worker.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    while succeeded(&s.db).await < samples as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let journal = s.sim.journal();
    let between = |from: &HashMap<String, time::OffsetDateTime>| {
        let mut out: Vec<f64> = journal
            .requests_for("autodesk.place_order")
            .filter_map(|r| {
                let name = r.body.get("endCustomerAccount")?.get("name")?.as_str()?;
                let t0 = from.get(name)?;
                Some((r.at - *t0).as_seconds_f64() * 1_000.0)
            })
            .collect();
        out.sort_by(f64::total_cmp);
        out
    };
    let latencies = between(&sent);
    let after_commit = between(&applied);
    println!(
        "  of which after the consumer's commit returned: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&after_commit, 0.5),
        percentile(&after_commit, 0.99)
    );
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        let tail: Vec<String> = latencies
            .iter()
            .rev()
            .take(10)
            .map(|l| format!("{l:.1}"))
            .collect();
        println!("slowest latencies (ms): {}", tail.join(", "));
    }
    shutdown.cancel();
    let _ = running.await;
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len() as f64,
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if marketplace_platform::db::testing::postgres_admin_url()
        .await
        .is_none()
    {
        eprintln!("PostgreSQL is not reachable; the benchmark needs it");
        return;
    }
    let jobs = env("BENCH_JOBS", 2_000);
    let samples = env("BENCH_SAMPLES", 300);
    println!(
        "provisioning benchmark: PostgreSQL, zero-delay simulators, Autodesk new subscriptions"
    );
    // Latency first, on a quiet database (the throughput runs leave PostgreSQL checkpointing).
    let (p50, p99, n) = latency(samples).await;
    println!("latency event → vendor call: p50 {p50:.2} ms, p99 {p99:.2} ms ({n} samples)");
    for workers in [1, 2] {
        let rate = throughput(workers, jobs).await;
        println!("throughput: {workers} worker(s): {jobs} jobs, {rate:.0} jobs/s");
    }
}
