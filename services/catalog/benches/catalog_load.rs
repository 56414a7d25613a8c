//! Catalog load benchmark: loads 10,000 plans, then measures through the gRPC API
//! (1) text-search latency for the first page (p50/p95/p99) and (2) GetPlan throughput.
//!
//! Run (SQLite, the embedded backend):
//!     cargo bench -p catalog --bench catalog_load
//! Against PostgreSQL (a database the bench may fill; it creates a fresh one per run):
//!     CATALOG_BENCH_BACKEND=postgres cargo bench -p catalog --bench catalog_load
//! Knobs: CATALOG_BENCH_PLANS (10000), CATALOG_BENCH_SEARCHES (2000),
//! CATALOG_BENCH_SECONDS (5), CATALOG_BENCH_CONCURRENCY (32), CATALOG_BENCH_DB_CONNECTIONS
//! (pool size; default: the platform default, 1 for SQLite).
//! It measures twice: through `App::run` (the platform server) and through the same service on
//! a server that sets TCP_NODELAY on accepted sockets.
//! This is a benchmark, not a test: it prints figures and asserts nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::domain::plan::PlanInput;
use catalog::domain::price::Price;
use catalog::grpc::CatalogApi;
use catalog::seed::{DemoCatalog, demo_catalog, insert_catalog};
use catalog::service::Catalog;
use catalog::service::read_model::ReadModel;
use catalog::{App, Dependencies, Settings};
use marketplace_platform::bus::InProcessBus;
use marketplace_platform::clock::{SharedClock, system};
use marketplace_platform::db::{Backend, Database, testing};
use marketplace_platform::identity::{IdentityKey, Principal, Role};
use marketplace_platform::paging::PageTokens;
use marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use marketplace_proto::catalog::v1::catalog_service_server::CatalogServiceServer;
use marketplace_proto::catalog::v1::{GetPlanRequest, ListPlansRequest};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Scales the demo catalog up to `n` plans: each product gets numbered editions with fresh ids.
fn synthetic(n: usize) -> anyhow::Result<DemoCatalog> {
    let demo = demo_catalog().map_err(anyhow::Error::msg)?;
    let mut plans = Vec::with_capacity(n);
    let mut prices = Vec::with_capacity(n * 2);
    let mut i = 0usize;
    while plans.len() < n {
        let base = &demo.plans[i % demo.plans.len()];
        let vendor = demo
            .vendors
            .iter()
            .find(|v| v.id == base.vendor_id)
            .ok_or_else(|| anyhow::anyhow!("vendor"))?;
        let edition = i / demo.plans.len() + 1;
        let id = format!("bench-{i:06}");
        let input = PlanInput {
            id: id.clone(),
            vendor_id: base.vendor_id.clone(),
            category_id: base.category_id.clone(),
            product_name: format!("{} Edition {edition}", base.product_name),
            name: format!("{} Edition {edition}", base.name),
            description: base.description.clone(),
            term: Some(base.term),
            billing_cycle: Some(base.billing_cycle),
            support_level: Some(base.support_level),
            min_quantity: base.min_quantity,
            max_quantity: base.max_quantity,
            parameters: base.parameters.clone(),
            autodesk_product_id: if base.autodesk_product_id.is_some() {
                format!("BN{i:010}YAB")
            } else {
                String::new()
            },
            microsoft_catalog_item_id: if base.microsoft_catalog_item_id.is_some() {
                format!("BN{i:010}:0001:CFQ7TTC0BNCH")
            } else {
                String::new()
            },
            tier: Some(base.tier),
            ..PlanInput::default()
        };
        let plan = input
            .validate(vendor, "")
            .map_err(|p| anyhow::anyhow!("{id}: {p:?}"))?;
        for (currency, cost) in [("USD", 10_000 + i as i64), ("EUR", 9_000 + i as i64)] {
            let currency = catalog::domain::money::CurrencyCode::parse(currency)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            prices.push(Price {
                id: format!("{id}-{currency}"),
                plan_id: id.clone(),
                currency,
                cost,
                msrp: cost * 12 / 10,
                effective_at: 0,
                created_at: 0,
            });
        }
        plans.push(plan);
        i += 1;
    }
    Ok(DemoCatalog {
        vendors: demo.vendors,
        categories: demo.categories,
        plans,
        prices,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = env("CATALOG_BENCH_PLANS", 10_000);
    let searches: usize = env("CATALOG_BENCH_SEARCHES", 2_000);
    let seconds: u64 = env("CATALOG_BENCH_SECONDS", 5);
    let concurrency: usize = env("CATALOG_BENCH_CONCURRENCY", 32);
    let backend = if std::env::var("CATALOG_BENCH_BACKEND").as_deref() == Ok("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let mut database = testing::fresh_settings(backend).await;
    database.max_connections = std::env::var("CATALOG_BENCH_DB_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok());

    // Load the plans directly through the store (the same code the seed uses).
    let started = Instant::now();
    let db = Database::connect(&database).await?;
    db.migrate(&catalog::migrations()).await?;
    let data = synthetic(n)?;
    let mut tx = db.pool().begin().await?;
    insert_catalog(&mut tx, &data).await?;
    tx.commit().await?;
    db.close().await;
    println!(
        "backend {backend:?}: loaded {} plans and {} prices in {:.1} s",
        data.plans.len(),
        data.prices.len(),
        started.elapsed().as_secs_f64()
    );

    let identity = IdentityKey::random();
    let reseller = Principal {
        subject: "bench".into(),
        display_name: "bench".into(),
        role: Role::ResellerUser,
        reseller_id: Some("reseller-bench".into()),
        customer_id: None,
    };
    let knobs = Knobs {
        n,
        searches,
        seconds,
        concurrency,
    };

    // A. The service as deployed: App::run on the platform gRPC server.
    let clock: SharedClock = system();
    let deps = Dependencies {
        bus: Arc::new(InProcessBus::new()),
        identity: identity.clone(),
        clock: clock.clone(),
        page_tokens: PageTokens::random(),
    };
    let app = App::build(
        Settings {
            database: database.clone(),
            server: Default::default(),
            seed_demo: false,
        },
        deps,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone()));
    println!("-- through App::run (platform GrpcServer)");
    measure(addr, &identity, &reseller, &knobs).await?;
    shutdown.cancel();
    server.await??;

    // B. The same service stack on a server whose accepted sockets set TCP_NODELAY (the platform
    // server passes its own listener stream to tonic, which then ignores `tcp_nodelay`).
    let db = Database::connect(&database).await?;
    let store = catalog::store::Store::new(db);
    let read_model = Arc::new(ReadModel::load(store.clone(), catalog::READ_MODEL_REFRESH).await?);
    let api = CatalogApi::new(
        Catalog::new(store, clock, PageTokens::random(), read_model),
        identity.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(CatalogServiceServer::new(api))
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned()),
    );
    println!("-- same service, TCP_NODELAY on accepted sockets");
    measure(addr, &identity, &reseller, &knobs).await?;
    shutdown.cancel();
    server.await??;
    Ok(())
}

struct Knobs {
    n: usize,
    searches: usize,
    seconds: u64,
    concurrency: usize,
}

async fn measure(
    addr: std::net::SocketAddr,
    identity: &IdentityKey,
    reseller: &Principal,
    knobs: &Knobs,
) -> anyhow::Result<()> {
    let Knobs {
        n,
        searches,
        seconds,
        concurrency,
    } = *knobs;
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let client = CatalogServiceClient::new(channel.clone());
    let request = |msg| {
        let mut r = tonic::Request::new(msg);
        identity.attach(&mut r, reseller);
        r
    };
    // 1. Type-ahead search, first page of 20, sequential.
    let queries = [
        "autocad",
        "revit lt",
        "microsoft 365 e3",
        "edition 7",
        "teams",
        "BN0000004711",
        "fusion simulation",
        "power bi",
        "maya annual",
        "zzz-no-match",
        "defender",
        "3ds",
    ];
    for q in queries.iter().take(3) {
        client
            .clone()
            .list_plans(request(ListPlansRequest {
                query: (*q).into(),
                page_size: 20,
                ..Default::default()
            }))
            .await?;
    }
    let mut latencies = Vec::with_capacity(searches);
    let mut hits = 0usize;
    for i in 0..searches {
        let q = queries[i % queries.len()];
        let t = Instant::now();
        let page = client
            .clone()
            .list_plans(request(ListPlansRequest {
                query: q.into(),
                page_size: 20,
                ..Default::default()
            }))
            .await?
            .into_inner();
        latencies.push(t.elapsed());
        hits += page.plans.len();
    }
    latencies.sort();
    println!(
        "search (first page of 20, {searches} queries over {} plans): p50 {} p95 {} p99 {} max {} ({} results on average)",
        n,
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
        hits / searches.max(1)
    );

    // 2. GetPlan throughput with `concurrency` callers for `seconds`.
    let token = identity.sign(reseller);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = CatalogServiceClient::new(channel.clone());
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut lat = Vec::new();
            let mut k = worker * 7919;
            while Instant::now() < deadline {
                k = (k * 31 + 17) % n;
                let mut r = tonic::Request::new(GetPlanRequest {
                    plan_id: format!("bench-{k:06}"),
                    ..Default::default()
                });
                if let Ok(v) = token.parse() {
                    r.metadata_mut()
                        .insert(marketplace_platform::identity::IDENTITY_HEADER, v);
                }
                let t = Instant::now();
                match client.get_plan(r).await {
                    Ok(_) => {}
                    Err(status) if status.code() == tonic::Code::NotFound => {}
                    Err(status) => return Err(anyhow::anyhow!("get plan: {status}")),
                }
                lat.push(t.elapsed());
                done += 1;
            }
            Ok::<_, anyhow::Error>((done, lat))
        }));
    }
    let started = Instant::now();
    let mut total = 0u64;
    let mut lat = Vec::new();
    for task in tasks {
        let (done, l) = task.await??;
        total += done;
        lat.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "GetPlan: {total} calls in {elapsed:.1} s with {concurrency} concurrent callers = {:.0} GetPlan/s (p50 {} p99 {})",
        total as f64 / elapsed,
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0))
    );

    Ok(())
}
