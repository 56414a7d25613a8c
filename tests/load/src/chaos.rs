//! The chaos run: places orders through the gateway while a controller kills (`SIGKILL`) and
//! restarts the ordering, provisioning and notification processes and the standalone outbox
//! relay at random moments, and restarts NATS once; then checks that nothing was lost or done
//! twice. Run by the `chaos` binary and, small, by the workspace tests.
//!
//! Checks, reported as counts:
//! - every order the gateway accepted exists once and completed;
//! - the vendor simulators' journal shows exactly one effective provisioning per order item;
//! - each notification that a calm control order produced exists exactly once per channel for
//!   every order (feed rows, e-mails, webhooks), and every e-mail and webhook was received;
//! - no event is left unprocessed: empty outboxes, no pending or unacknowledged JetStream
//!   messages, no dead events, no provisioning job or delivery left open.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::sync::Mutex as AsyncMutex;

use crate::cluster::{Cluster, ClusterOptions, Mode};
use crate::rest::{AUTODESK_PLAN, CallError, NCE_PLAN, Rest};

/// The processes the controller kills.
const VICTIMS: [&str; 4] = ["ordering", "provisioning", "notification", "relay"];

/// Webhook event types the run subscribes to (one event of each per successful order).
const WEBHOOK_TYPES: [&str; 4] = [
    "order.submitted",
    "order.completed",
    "order_item.provisioned",
    "subscription.activated",
];

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Orders to place.
    pub orders: usize,
    /// Concurrent placing clients (one buys Autodesk, one order at a time; the rest NCE).
    pub clients: usize,
    /// Mean pause between chaos actions.
    pub kill_every: Duration,
    /// Chaos actions to take at least (the controller goes on after the placement).
    pub min_actions: usize,
    /// Random seed of the controller.
    pub seed: u64,
    /// How long to wait for the backlog to drain before checking.
    pub settle: Duration,
    /// The `marketplace` binary (default: this workspace's release build).
    pub binary: Option<PathBuf>,
    /// Keep the databases afterwards.
    pub keep: bool,
}

/// Runs a chaos run; the report's `passed` says whether every check held.
pub async fn run(options: ChaosOptions) -> anyhow::Result<Value> {
    anyhow::ensure!(options.clients >= 2, "at least 2 clients are needed");
    let mut cluster_options = ClusterOptions::new(Mode::Distributed);
    cluster_options.standalone_relays = true;
    // Work held by a killed process is taken over once its lease ends: shorter leases than the
    // production defaults (provisioning 300 s, notification 60 s) keep the run short; the
    // local simulators and SMTP server answer far within them.
    cluster_options.extra_env = vec![
        (
            "MARKETPLACE_PROVISIONING__WORKER__LEASE_MS".into(),
            "30000".into(),
        ),
        (
            // Must exceed the webhook timeout and four SMTP command timeouts (40 s).
            "MARKETPLACE_NOTIFICATION__WORKERS__LEASE_MS".into(),
            "45000".into(),
        ),
    ];
    if let Some(binary) = &options.binary {
        cluster_options.binary = binary.clone();
    }
    let smtp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let smtp = notification::sandbox_smtp::SmtpSink::start(smtp_listener);
    cluster_options.smtp_url = Some(smtp.url());
    let webhooks = WebhookSink::start().await?;
    println!(
        "chaos run: {} orders, {} clients, a chaos action every ~{:?} (at least {}), seed {}; logs in {}",
        options.orders,
        options.clients,
        options.kill_every,
        options.min_actions,
        options.seed,
        cluster_options.run_dir.display()
    );
    let cluster = Cluster::start(cluster_options).await?;
    let cluster = Arc::new(AsyncMutex::new(cluster));
    let outcome = place_and_check(cluster.clone(), &options, &smtp, &webhooks).await;
    let cluster = Arc::try_unwrap(cluster)
        .map_err(|_| anyhow::anyhow!("cluster still shared"))?
        .into_inner();
    cluster.stop(options.keep).await?;
    smtp.stop();
    outcome
}

/// Receives the partner webhooks: (webhook-id, type, order id) per request.
#[derive(Clone)]
struct WebhookSink {
    url: String,
    received: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl WebhookSink {
    async fn start() -> anyhow::Result<Self> {
        let received: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let store = received.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let store = store.clone();
                    async move {
                        let id = headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let kind = value["type"].as_str().unwrap_or_default().to_string();
                        let order = find_key(&value["data"], "orderId").unwrap_or_default();
                        store
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((id, kind, order));
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, received })
    }

    fn received(&self) -> Vec<(String, String, String)> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The first string value under `key` anywhere in `value`.
fn find_key(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

/// One order the run placed.
#[derive(Debug, Clone)]
struct Placed {
    order_id: String,
    vendor: &'static str,
}

async fn place_and_check(
    cluster: Arc<AsyncMutex<Cluster>>,
    options: &ChaosOptions,
    smtp: &notification::sandbox_smtp::SmtpSink,
    webhooks: &WebhookSink,
) -> anyhow::Result<Value> {
    let (orders, clients, seed, settle) = (
        options.orders,
        options.clients,
        options.seed,
        options.settle,
    );
    let (kill_every, min_actions) = (options.kill_every, options.min_actions);
    let (gateway, token, databases, vendors, bus) = {
        let c = cluster.lock().await;
        (
            c.gateway_http.clone(),
            c.token(
                "chaos-reseller",
                "reseller_admin",
                Some("reseller-demo"),
                None,
            ),
            c.databases.clone(),
            c.vendor_urls.clone(),
            c.bus.clone(),
        )
    };
    let rest = Rest::new(&gateway, &token);
    rest.call(
        reqwest::Method::POST,
        "/v1/webhookEndpoints",
        Some(
            &json!({"url": webhooks.url, "description": "chaos run", "eventTypes": WEBHOOK_TYPES}),
        ),
        None,
    )
    .await
    .context("registering the webhook endpoint")?;

    // Customers (before any chaos): one NCE customer per client, one Autodesk customer.
    let run_tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut nce_customers = Vec::new();
    for i in 0..clients {
        nce_customers.push(rest.create_customer(&format!("{run_tag}-{i}")).await?);
    }
    let autodesk_customer = create_autodesk_customer(&rest, &run_tag).await?;

    // Calm control orders: what one order of each vendor produces.
    let control_nce = place(&rest, &nce_customers[0], NCE_PLAN, "control-nce").await?;
    let control_ad = place(&rest, &autodesk_customer, AUTODESK_PLAN, "control-ad").await?;
    for order in [&control_nce, &control_ad] {
        rest.watch_until_settled(order, Duration::from_secs(60))
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Placement and chaos.
    let placed: Arc<Mutex<Vec<Placed>>> = Arc::default();
    let failed_placements: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop_chaos = tokio_util::sync::CancellationToken::new();
    let chaos_log: Arc<Mutex<Vec<String>>> = Arc::default();
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let controller = tokio::spawn(chaos_controller(
        cluster.clone(),
        (kill_every, min_actions),
        seed,
        orders,
        progress.clone(),
        stop_chaos.clone(),
        chaos_log.clone(),
    ));
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for (index, customer) in nce_customers.iter().cloned().enumerate() {
        let rest = rest.clone();
        let placed = placed.clone();
        let failed = failed_placements.clone();
        let next = next.clone();
        let progress = progress.clone();
        let autodesk_customer = autodesk_customer.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= orders {
                    break;
                }
                // Worker 0 buys Autodesk (one order at a time per reseller: it waits for each
                // to settle), the others Microsoft NCE.
                let (customer, plan, vendor) = if index == 0 {
                    (&autodesk_customer, AUTODESK_PLAN, "autodesk")
                } else {
                    (&customer, NCE_PLAN, "microsoft")
                };
                match place(&rest, customer, plan, &format!("{index}-{n}")).await {
                    Ok(order_id) => {
                        if index == 0 {
                            let _ = settle_one(&rest, &order_id).await;
                        }
                        placed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Placed { order_id, vendor });
                    }
                    Err(error) => failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("order {n}: {error:#}")),
                }
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let placing = started.elapsed();
    stop_chaos.cancel();
    controller.await??;
    println!(
        "placed {} orders in {:.1} s ({} placements failed) with {} chaos actions",
        placed.lock().unwrap_or_else(|p| p.into_inner()).len(),
        placing.as_secs_f64(),
        failed_placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len(),
        chaos_log.lock().unwrap_or_else(|p| p.into_inner()).len()
    );
    {
        let mut c = cluster.lock().await;
        if let Some((name, why)) = c.crashed() {
            println!("{name} exited on its own: {why}; restarting it");
            c.restart(&name).await?;
        }
    }

    let placed: Vec<Placed> = placed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let checks = Checks {
        databases: &databases,
        vendors: &vendors,
        bus: bus.as_ref(),
        smtp,
        webhooks,
    };
    let quiet = checks.wait_quiet(&placed, settle).await?;
    let report = checks.verify(&placed, &control_nce, &control_ad).await?;
    let failed = failed_placements
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let log = chaos_log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let starts = cluster.lock().await.starts();
    let passed = report.passed() && failed.is_empty();
    report.print();
    println!("process starts: {starts:?}");
    println!(
        "placement failures (gave up after retries): {}",
        failed.len()
    );
    for f in failed.iter().take(5) {
        println!("  {f}");
    }
    Ok(json!({
        "orders_requested": orders,
        "seed": seed,
        "placing_seconds": placing.as_secs_f64(),
        "settle_seconds": quiet.as_secs_f64(),
        "chaos_actions": log,
        "process_starts": starts,
        "placement_failures": failed,
        "counts": report.counts,
        "problems": report.problems,
        "passed": passed,
    }))
}

/// Kills and restarts a random victim every ~`every`; restarts NATS once half-way. Goes on
/// after the placement ended (`stop`) until `min_actions` were taken, so that a fast placement
/// still meets enough chaos while its orders are provisioned and notified.
async fn chaos_controller(
    cluster: Arc<AsyncMutex<Cluster>>,
    (every, min_actions): (Duration, usize),
    seed: u64,
    orders: usize,
    progress: Arc<std::sync::atomic::AtomicUsize>,
    stop: tokio_util::sync::CancellationToken,
    log: Arc<Mutex<Vec<String>>>,
) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut nats_restarted = false;
    loop {
        let pause = every.mul_f64(rng.random_range(0.5..1.5));
        tokio::time::sleep(pause).await;
        let taken = log.lock().unwrap_or_else(|p| p.into_inner()).len();
        if stop.is_cancelled() && taken >= min_actions {
            return Ok(());
        }
        let done = progress.load(std::sync::atomic::Ordering::Relaxed);
        let mut c = cluster.lock().await;
        let at = started.elapsed().as_secs_f64();
        if !nats_restarted && done >= orders / 2 {
            nats_restarted = true;
            c.restart_nats().await?;
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{at:.1}s restart nats"));
            continue;
        }
        let victim = VICTIMS[rng.random_range(0..VICTIMS.len())];
        c.kill9(victim).await?;
        let down = Duration::from_millis(rng.random_range(100..1500));
        tokio::time::sleep(down).await;
        c.restart(victim).await?;
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{at:.1}s kill -9 {victim}, down {down:?}"));
    }
}

async fn create_autodesk_customer(rest: &Rest, tag: &str) -> anyhow::Result<String> {
    let body = json!({
        "name": format!("Chaos Engineering {tag}"),
        "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": format!("cm-{tag}@chaos.example"), "firstName": "Frida", "lastName": "Berg"}],
        "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
    });
    let customer = rest
        .call(reqwest::Method::POST, "/v1/customers", Some(&body), None)
        .await?;
    Ok(customer["id"].as_str().unwrap_or_default().to_string())
}

/// Retries `call` while it fails in a way worth retrying (a component is down), up to 2 min.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let until = Instant::now() + Duration::from_secs(120);
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Err(error) if error.retryable() && Instant::now() < until => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            // A retry of a request whose first attempt is still running upstream.
            Err(CallError::Status(409, body))
                if body.contains("in progress") && Instant::now() < until =>
            {
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Cart, line, checkout — each retried with the same idempotency key / request id while a
/// component is down, as a client does after a lost answer; nothing may be created twice.
/// (The first chaos runs found 3–4 orders in 2,000 with two items: ordering died after
/// committing a line but before answering, and the retry added it again. AddCartLine now takes
/// the Idempotency-Key as its request id.) Returns the order id.
async fn place(rest: &Rest, customer: &str, plan: &str, tag: &str) -> anyhow::Result<String> {
    let key = format!("chaos-{tag}-{}", uuid::Uuid::new_v4().simple());
    let (cart_key, line_key) = (format!("{key}-cart"), format!("{key}-line"));
    let cart_id = retrying(|| rest.create_cart(customer, &cart_key)).await?;
    retrying(|| rest.add_line(&cart_id, plan, 1, &line_key)).await?;
    let order = retrying(|| async {
        match rest.checkout(&cart_id, &key).await {
            // Autodesk: the previous order of this reseller is still open; wait for it.
            Err(CallError::Status(code, body))
                if (code == 400 || code == 412) && body.contains("one order at a time") =>
            {
                Err(CallError::Status(503, body))
            }
            other => other,
        }
    })
    .await?;
    Ok(order["id"].as_str().unwrap_or_default().to_string())
}

/// Waits (watching, reconnecting on failures) until the order settles.
async fn settle_one(rest: &Rest, order_id: &str) -> Result<String, CallError> {
    retrying(|| rest.watch_until_settled(order_id, Duration::from_secs(60))).await
}

struct Checks<'a> {
    databases: &'a BTreeMap<String, String>,
    vendors: &'a (String, String),
    bus: Option<&'a (String, String)>,
    smtp: &'a notification::sandbox_smtp::SmtpSink,
    webhooks: &'a WebhookSink,
}

#[derive(Debug, Default)]
struct Report {
    counts: BTreeMap<String, i64>,
    problems: Vec<String>,
}

impl Report {
    fn count(&mut self, name: &str, value: i64) {
        self.counts.insert(name.to_string(), value);
    }

    fn expect_zero(&mut self, name: &str, value: i64) {
        self.count(name, value);
        if value != 0 {
            self.problems.push(format!("{name} = {value} (expected 0)"));
        }
    }

    fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    fn print(&self) {
        println!("\n== chaos run counts");
        for (name, value) in &self.counts {
            println!("{name:<52} {value:>8}");
        }
        if self.problems.is_empty() {
            println!("no problems");
        }
        for problem in &self.problems {
            println!("PROBLEM: {problem}");
        }
    }
}

impl Checks<'_> {
    async fn pg(&self, component: &str) -> anyhow::Result<sqlx::PgConnection> {
        let url = &self.databases[component];
        Ok(sqlx::PgConnection::connect(url).await?)
    }

    async fn scalar(&self, component: &str, sql: &str) -> anyhow::Result<i64> {
        let mut conn = self.pg(component).await?;
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut conn)
            .await?)
    }

    /// JetStream messages not yet delivered or not yet acknowledged, over every consumer.
    async fn unprocessed_messages(&self) -> anyhow::Result<i64> {
        let Some((url, prefix)) = self.bus else {
            return Ok(0);
        };
        use futures::TryStreamExt as _;
        let client = async_nats::connect(url.as_str()).await?;
        let js = async_nats::jetstream::new(client);
        let names: Vec<String> = js.stream_names().try_collect().await?;
        let mut total = 0i64;
        for name in names.into_iter().filter(|n| n.starts_with(prefix.as_str())) {
            let stream = js.get_stream(&name).await?;
            let consumers: Vec<String> = stream.consumer_names().try_collect().await?;
            for consumer in consumers {
                let mut c: async_nats::jetstream::consumer::PullConsumer = stream
                    .get_consumer(&consumer)
                    .await
                    .map_err(|e| anyhow::anyhow!("consumer {consumer}: {e}"))?;
                let info = c.info().await?;
                total += info.num_pending as i64 + info.num_ack_pending as i64;
            }
        }
        Ok(total)
    }

    /// Orders not settled, outbox rows unpublished, jobs open, deliveries pending, messages
    /// unacknowledged — all of which must reach zero.
    async fn backlog(&self, placed: &[Placed]) -> anyhow::Result<BTreeMap<&'static str, i64>> {
        let ids: Vec<String> = placed.iter().map(|p| p.order_id.clone()).collect();
        let mut ordering = self.pg("ordering").await?;
        let open_orders: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE id = ANY($1) AND status IN ('ORDER_STATUS_IN_PROGRESS', 'ORDER_STATUS_STARTED', 'ORDER_STATUS_PROVISIONING_STARTED')",
        )
        .bind(&ids)
        .fetch_one(&mut ordering)
        .await?;
        let mut out = BTreeMap::new();
        out.insert("orders not settled", open_orders);
        out.insert(
            "ordering outbox unpublished",
            self.scalar(
                "ordering",
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            )
            .await?,
        );
        out.insert(
            "provisioning outbox unpublished",
            self.scalar(
                "provisioning",
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            )
            .await?,
        );
        out.insert(
            "provisioning jobs open",
            self.scalar(
                "provisioning",
                "SELECT count(*) FROM provisioning_jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'inquiring')",
            )
            .await?,
        );
        out.insert(
            "e-mails pending",
            self.scalar(
                "notification",
                "SELECT count(*) FROM email_deliveries WHERE status IN ('pending', 'retrying')",
            )
            .await?,
        );
        out.insert(
            "webhooks pending",
            self.scalar(
                "notification",
                "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'retrying')",
            )
            .await?,
        );
        out.insert(
            "bus messages unacknowledged",
            self.unprocessed_messages().await?,
        );
        Ok(out)
    }

    async fn wait_quiet(&self, placed: &[Placed], limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let backlog = self.backlog(placed).await?;
            if backlog.values().all(|n| *n == 0) {
                println!("quiet after {:.1} s", started.elapsed().as_secs_f64());
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                println!("not quiet after {limit:?}: {backlog:?}");
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn verify(
        &self,
        placed: &[Placed],
        control_nce: &str,
        control_ad: &str,
    ) -> anyhow::Result<Report> {
        let mut report = Report::default();
        let ids: Vec<String> = placed.iter().map(|p| p.order_id.clone()).collect();
        report.count(
            "orders placed (accepted by the gateway)",
            placed.len() as i64,
        );

        // Orders: exist once, settled.
        let mut ordering = self.pg("ordering").await?;
        let statuses: Vec<(String, String)> =
            sqlx::query_as("SELECT id, status FROM orders WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut ordering)
                .await?;
        let by_status = statuses.iter().fold(BTreeMap::new(), |mut m, (_, s)| {
            *m.entry(s.clone()).or_insert(0i64) += 1;
            m
        });
        for (status, n) in &by_status {
            report.count(&format!("orders {status}"), *n);
        }
        report.expect_zero(
            "orders lost (accepted, not stored)",
            (placed.len() - statuses.len()) as i64,
        );
        let second_items: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT order_id) FROM order_history WHERE change LIKE 'items[1]%' AND order_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_one(&mut ordering)
        .await?;
        report.expect_zero("orders with a second (duplicated) line", second_items);
        let completed: Vec<&str> = statuses
            .iter()
            .filter(|(_, s)| s == "ORDER_STATUS_COMPLETED")
            .map(|(id, _)| id.as_str())
            .collect();
        report.expect_zero(
            "orders not completed",
            (placed.len() - completed.len()) as i64,
        );

        // Vendors: exactly one effective provisioning per order item.
        let http = reqwest::Client::builder().no_proxy().build()?;
        let mut new_by_reference: HashMap<String, i64> = HashMap::new();
        // Both simulators share one journal (served on either port).
        {
            let journal: vendor_sim::Journal = http
                .get(format!("{}/_sim/journal", self.vendors.0))
                .send()
                .await?
                .json()
                .await?;
            for effect in journal
                .effective_provisionings
                .iter()
                .filter(|e| e.operation == "new")
            {
                *new_by_reference
                    .entry(effect.client_reference.clone())
                    .or_default() += 1;
            }
        }
        let effective: i64 = new_by_reference.values().sum();
        // Control orders and the run's orders, one item each.
        report.count("vendor subscriptions created (journals)", effective);
        report.expect_zero(
            "duplicate provisionings (same reference twice)",
            new_by_reference
                .values()
                .filter(|n| **n > 1)
                .map(|n| n - 1)
                .sum(),
        );
        report.expect_zero(
            "completed order items without exactly one vendor subscription",
            (completed.len() as i64 + 2 - effective).abs(),
        );

        // Notifications: the control orders' kinds, exactly once per order and channel.
        let mut notification = self.pg("notification").await?;
        let feed: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT order_id, kind, audience, count(*) FROM notifications WHERE order_id <> '' GROUP BY order_id, kind, audience",
        )
        .fetch_all(&mut notification)
        .await?;
        let emails: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT n.order_id, e.kind, e.recipient, e.id, e.status FROM email_deliveries e JOIN notifications n ON n.id = e.notification_id WHERE n.order_id <> ''",
        )
        .fetch_all(&mut notification)
        .await?;
        // Feed rows by (kind, audience); e-mails by kind (recipients differ per customer).
        let expected = |control: &str| -> (Vec<(String, String)>, Vec<String>) {
            let mut f: Vec<(String, String)> = feed
                .iter()
                .filter(|(o, ..)| o == control)
                .map(|(_, k, a, _)| (k.clone(), a.clone()))
                .collect();
            f.sort();
            let mut e: Vec<String> = emails
                .iter()
                .filter(|(o, ..)| o == control)
                .map(|(_, k, ..)| k.clone())
                .collect();
            e.sort();
            (f, e)
        };
        let (feed_nce, email_nce) = expected(control_nce);
        let (feed_ad, email_ad) = expected(control_ad);
        report.count(
            "feed notifications per NCE order (control)",
            feed_nce.len() as i64,
        );
        report.count("e-mails per NCE order (control)", email_nce.len() as i64);
        report.count(
            "feed notifications per Autodesk order (control)",
            feed_ad.len() as i64,
        );
        let mut feed_by_order: HashMap<&str, Vec<(String, String, i64)>> = HashMap::new();
        for (o, k, a, n) in &feed {
            feed_by_order
                .entry(o.as_str())
                .or_default()
                .push((k.clone(), a.clone(), *n));
        }
        let mut email_by_order: HashMap<&str, Vec<(String, String)>> = HashMap::new();
        for (o, k, r, _, _) in &emails {
            email_by_order
                .entry(o.as_str())
                .or_default()
                .push((k.clone(), r.clone()));
        }
        let (mut feed_duplicates, mut feed_missing, mut email_duplicates, mut email_missing) =
            (0i64, 0i64, 0i64, 0i64);
        for p in placed
            .iter()
            .filter(|p| completed.contains(&p.order_id.as_str()))
        {
            let (want_feed, want_email) = if p.vendor == "autodesk" {
                (&feed_ad, &email_ad)
            } else {
                (&feed_nce, &email_nce)
            };
            let got = feed_by_order
                .get(p.order_id.as_str())
                .cloned()
                .unwrap_or_default();
            feed_duplicates += got.iter().map(|(_, _, n)| (n - 1).max(0)).sum::<i64>();
            feed_missing += want_feed
                .iter()
                .filter(|(k, a)| !got.iter().any(|(gk, ga, _)| gk == k && ga == a))
                .count() as i64;
            let mut got_email = email_by_order
                .get(p.order_id.as_str())
                .cloned()
                .unwrap_or_default();
            got_email.sort();
            let before = got_email.len();
            got_email.dedup();
            email_duplicates += (before - got_email.len()) as i64;
            let mut got_kinds: Vec<String> = got_email.into_iter().map(|(k, _)| k).collect();
            for kind in want_email {
                match got_kinds.iter().position(|k| k == kind) {
                    Some(at) => {
                        got_kinds.remove(at);
                    }
                    None => email_missing += 1,
                }
            }
            email_duplicates += got_kinds.len() as i64;
        }
        report.expect_zero("feed notifications duplicated", feed_duplicates);
        report.expect_zero("feed notifications missing", feed_missing);
        report.expect_zero("e-mails duplicated (two deliveries)", email_duplicates);
        report.expect_zero("e-mails missing", email_missing);

        // E-mails received by the SMTP server: each sent delivery exactly once by Message-ID.
        let mut received_by_id: HashMap<String, i64> = HashMap::new();
        for message in self.smtp.messages() {
            let id = message
                .header("message-id")
                .unwrap_or_default()
                .trim_matches(|c| c == '<' || c == '>')
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string();
            *received_by_id.entry(id).or_default() += 1;
        }
        let sent: Vec<&String> = emails
            .iter()
            .filter(|(.., s)| s == "succeeded")
            .map(|(_, _, _, id, _)| id)
            .collect();
        report.count("e-mails delivered (stored as succeeded)", sent.len() as i64);
        report.expect_zero(
            "e-mails marked sent but never received",
            sent.iter()
                .filter(|id| !received_by_id.contains_key(id.as_str()))
                .count() as i64,
        );
        report.count(
            "e-mails received again with the same Message-ID (at-least-once redelivery)",
            received_by_id.values().map(|n| n - 1).sum(),
        );

        // Webhooks: one delivery per (event, endpoint) by constraint; per order one of each
        // subscribed type; each received.
        let deliveries: Vec<(String, String, String)> = sqlx::query_as(
            // The `webhook-id` header is the event id (the same for every endpoint).
            "SELECT event_id, event_type, status FROM webhook_deliveries",
        )
        .fetch_all(&mut notification)
        .await?;
        let received = self.webhooks.received();
        let mut received_ids: HashMap<&str, i64> = HashMap::new();
        let mut per_order_type: HashMap<(&str, &str), std::collections::HashSet<&str>> =
            HashMap::new();
        for (id, kind, order) in &received {
            *received_ids.entry(id.as_str()).or_default() += 1;
            per_order_type
                .entry((order.as_str(), kind.as_str()))
                .or_default()
                .insert(id.as_str());
        }
        report.count("webhook deliveries stored", deliveries.len() as i64);
        report.expect_zero(
            "webhooks delivered but never received",
            deliveries
                .iter()
                .filter(|(id, _, s)| s == "succeeded" && !received_ids.contains_key(id.as_str()))
                .count() as i64,
        );
        let mut webhook_missing = 0i64;
        let mut webhook_duplicates = 0i64;
        for p in placed
            .iter()
            .filter(|p| completed.contains(&p.order_id.as_str()))
        {
            for kind in WEBHOOK_TYPES {
                match per_order_type
                    .get(&(p.order_id.as_str(), kind))
                    .map(|s| s.len())
                {
                    None => webhook_missing += 1,
                    Some(n) => webhook_duplicates += n as i64 - 1,
                }
            }
        }
        report.expect_zero("webhook events missing", webhook_missing);
        report.expect_zero(
            "webhook events duplicated (distinct webhook-ids)",
            webhook_duplicates,
        );
        report.count(
            "webhooks received again with the same webhook-id (at-least-once redelivery)",
            received_ids.values().map(|n| n - 1).sum(),
        );

        // Nothing left unprocessed.
        for (name, value) in self.backlog(placed).await? {
            report.expect_zero(name, value);
        }
        for component in ["ordering", "provisioning", "notification"] {
            report.expect_zero(
                &format!("dead events in {component}"),
                self.scalar(component, "SELECT count(*) FROM dead_events")
                    .await?,
            );
        }
        Ok(report)
    }
}
