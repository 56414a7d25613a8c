//! `load`: starts the marketplace as real processes and runs the users' journeys against its
//! gateway over REST and gRPC, next to a `pgbench` ceiling of the same transaction shape.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p marketplace-load --bin load -- [--mode distributed|embedded]
//!     [--clients 16] [--seconds 15] [--checkouts 3000] [--skip-pgbench] [--keep]
//!     [--json target/load/load-<mode>.json] [--binary target/release/marketplace]
//! ```
//!
//! Phases: idle memory of every process; the pgbench ceiling (distributed); the maximum
//! checkout rate through the gateway (carts prepared first, then bought as fast as the clients
//! can) and its ratio to the ceiling; checkout latency at 70% of that rate (open loop, latency
//! counted from the scheduled start so queueing is not hidden); order placed → settled with an
//! active subscription; then the mixed journeys (browse/search, customers, carts, checkout,
//! watch, history) over REST and over gRPC.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketplace_load::args::Args;
use marketplace_load::cluster::{Cluster, ClusterOptions, Mode};
use marketplace_load::cpu::{CpuMeter, print_cpu};
use marketplace_load::grpc::Grpc;
use marketplace_load::pgbench;
use marketplace_load::rest::{NCE_PLAN, Rest};
use marketplace_load::stats::{OpFigures, Recorder, print_table};
use serde_json::{Value, json};

const OPTIONS: &[&str] = &[
    "mode",
    "clients",
    "seconds",
    "checkouts",
    "skip-pgbench",
    "keep",
    "json",
    "binary",
    "active-orders",
];

const QUERIES: [&str; 8] = [
    "autocad",
    "revit",
    "microsoft",
    "365",
    "teams",
    "maya",
    "inventor",
    "exchange",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse(std::env::args().skip(1), OPTIONS)?;
    let mode = Mode::parse(args.value("mode").unwrap_or("distributed"))?;
    let clients: usize = args.get("clients", 16)?;
    let seconds: u64 = args.get("seconds", 15)?;
    let checkouts: usize = args.get("checkouts", 3000)?;
    let active_orders: usize = args.get("active-orders", 200)?;
    anyhow::ensure!(clients >= 1, "--clients must be at least 1");
    let mut options = ClusterOptions::new(mode);
    if let Some(binary) = args.value("binary") {
        options.binary = binary.into();
    }
    let json_path = args
        .value("json")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            options
                .run_dir
                .join("../../load")
                .join(format!("load-{}.json", mode_name(mode)))
        });
    println!(
        "starting the marketplace ({}) — logs in {}",
        mode_name(mode),
        options.run_dir.display()
    );
    let admin_url = options.postgres_admin_url.clone();
    let run_dir = options.run_dir.clone();
    let cluster = Cluster::start(options).await?;
    let result = run(
        &cluster,
        mode,
        clients,
        seconds,
        checkouts,
        active_orders,
        &admin_url,
        &run_dir,
        args.get("skip-pgbench", false)?,
    )
    .await;
    let keep = args.get("keep", false)?;
    cluster.stop(keep).await?;
    let report = result?;
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    println!("\nfigures written to {}", json_path.display());
    Ok(())
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Distributed => "distributed",
        Mode::Embedded => "embedded",
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    cluster: &Cluster,
    mode: Mode,
    clients: usize,
    seconds: u64,
    checkouts: usize,
    active_orders: usize,
    admin_url: &str,
    run_dir: &std::path::Path,
    skip_pgbench: bool,
) -> anyhow::Result<Value> {
    // Idle memory, after start-up work settled.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_rss = cluster.rss_kib();
    println!("\n== idle resident memory");
    for (name, kib) in &idle_rss {
        println!("{name:<14} {:>8.1} MB", *kib as f64 / 1024.0);
    }

    // The ceiling, on the same PostgreSQL with the same client count.
    let ceiling = if mode == Mode::Distributed && !skip_pgbench {
        println!("\nmeasuring the pgbench ceiling ({clients} clients, {seconds} s)…");
        let ceiling = pgbench::measure(admin_url, clients as u32, seconds as u32, run_dir).await?;
        println!(
            "pgbench checkout-shaped transaction: {:.0} tps, avg {:.2} ms (fsync={}, synchronous_commit={})",
            ceiling.tps, ceiling.latency_avg_ms, ceiling.fsync, ceiling.synchronous_commit
        );
        Some(ceiling)
    } else {
        None
    };

    let users = Users::create(cluster, clients).await?;

    // The checkout path alone: provisioning and notification paused (their events queue in
    // JetStream, as during a burst they lag behind), then the same with the whole pipeline
    // running on the same two cores. Each at its maximum (closed loop) and at 70% of it.
    let prepare = Recorder::new();
    let mut preparing = Duration::ZERO;
    let downstream = ["provisioning", "notification"];
    let mut phases = BTreeMap::new();
    let mut placed_all = Vec::new();
    for (label, paused) in [("checkout_path", true), ("full_pipeline", false)] {
        if paused && mode == Mode::Embedded {
            continue; // one process: nothing to pause separately
        }
        let started = Instant::now();
        let carts = users.prepare_carts(checkouts, &prepare).await?;
        preparing += started.elapsed();
        cluster.pause(&downstream, paused).await;
        let max = Recorder::new();
        let meter = CpuMeter::start();
        let started = Instant::now();
        let placed = users.checkout_all(carts, &max).await;
        let max_elapsed = started.elapsed();
        let mut names = cluster.pids();
        names.extend(cluster.postgres_backends().await);
        let cpu = meter.finish(&names);
        let max_rate = placed.len() as f64 / max_elapsed.as_secs_f64();
        let max_figures = max.figures(max_elapsed);
        print_table(
            &format!("{label}: checkout at the maximum rate (REST, closed loop)"),
            &max_figures,
        );
        let ratio = ceiling.as_ref().map(|c| max_rate / c.tps);
        println!(
            "{label}: checkout rate {max_rate:.0}/s over {:.1} s{}",
            max_elapsed.as_secs_f64(),
            ratio
                .map(|r| format!(" = {:.0}% of the pgbench ceiling", r * 100.0))
                .unwrap_or_default()
        );
        print_cpu(
            &format!("{label} at the maximum rate (per checkout)"),
            &cpu,
            max_elapsed,
            placed.len(),
        );
        placed_all.extend(placed);

        // Checkout latency at 70% of that rate (open loop).
        let target_rate = (max_rate * 0.7).max(1.0);
        let count = ((target_rate * seconds as f64) as usize).max(1);
        cluster.pause(&downstream, false).await;
        users.drain(&placed_all).await;
        let started = Instant::now();
        let carts = users.prepare_carts(count, &prepare).await?;
        preparing += started.elapsed();
        cluster.pause(&downstream, paused).await;
        let at70 = Recorder::new();
        let started = Instant::now();
        let placed = users.checkout_open_loop(carts, target_rate, &at70).await;
        let at70_figures = at70.figures(started.elapsed());
        print_table(
            &format!("{label}: checkout at 70% of the maximum ({target_rate:.0}/s, open loop)"),
            &at70_figures,
        );
        cluster.pause(&downstream, false).await;
        users.drain(&placed).await;
        phases.insert(
            label,
            json!({
                "max_per_second": max_rate,
                "ratio_to_ceiling": ratio,
                "max_figures": max_figures,
                "cpu_seconds": cpu,
                "at_70_percent": {"target_per_second": target_rate, "figures": at70_figures},
            }),
        );
    }

    // Order placed → settled (COMPLETED, subscription ACTIVE), zero-delay simulators.
    let active = Recorder::new();
    let started = Instant::now();
    users
        .order_to_active(active_orders, clients.min(4), &active)
        .await?;
    let active_figures = active.figures(started.elapsed());
    print_table("order placed → subscription active", &active_figures);

    // Mixed journeys over both protocols.
    let mut journeys = BTreeMap::new();
    for protocol in ["rest", "grpc"] {
        let recorder = Recorder::new();
        let started = Instant::now();
        users
            .journeys(protocol, Duration::from_secs(seconds), &recorder)
            .await;
        let figures = recorder.figures(started.elapsed());
        print_table(
            &format!("journeys over {protocol} ({clients} users, {seconds} s)"),
            &figures,
        );
        journeys.insert(protocol, figures);
    }
    print_table("preparation (carts)", &prepare.figures(preparing));

    let active_f = find(&active_figures, "order_to_active");
    println!("\n== headline");
    for (label, phase) in &phases {
        let rate = phase["max_per_second"].as_f64().unwrap_or_default();
        let ratio = phase["ratio_to_ceiling"]
            .as_f64()
            .map(|r| {
                format!(
                    " = {:.0}% of pgbench {:.0} tps (target ≥ 40%)",
                    r * 100.0,
                    ceiling.as_ref().map_or(0.0, |c| c.tps)
                )
            })
            .unwrap_or_default();
        let p99 = phase["at_70_percent"]["figures"][0]["p99_ms"]
            .as_f64()
            .unwrap_or_default();
        println!(
            "{label}: checkout {rate:.0}/s{ratio}; p99 at 70% of it {p99:.1} ms (target ≤ 50 ms)"
        );
    }
    if let Some(f) = active_f {
        println!(
            "order placed → active: p50 {:.1} ms, p99 {:.1} ms (targets ≤ 100 / ≤ 500 ms)",
            f.p50_ms, f.p99_ms
        );
    }
    Ok(json!({
        "mode": mode,
        "clients": clients,
        "seconds": seconds,
        "idle_rss_kib": idle_rss,
        "pgbench": ceiling,
        "checkout": phases,
        "order_to_active": active_figures,
        "journeys": journeys,
    }))
}

fn find<'a>(figures: &'a [OpFigures], op: &str) -> Option<&'a OpFigures> {
    figures.iter().find(|f| f.op == op)
}

/// Virtual users: one principal, REST client, gRPC client and customer each.
struct Users {
    users: Vec<User>,
}

#[derive(Clone)]
struct User {
    index: usize,
    rest: Rest,
    grpc: Grpc,
    customer: String,
}

impl Users {
    async fn create(cluster: &Cluster, count: usize) -> anyhow::Result<Self> {
        let mut users = Vec::new();
        let run = uuid::Uuid::new_v4().simple().to_string();
        for index in 0..count {
            let token = cluster.token(
                &format!("load-user-{index}"),
                "reseller_admin",
                Some("reseller-demo"),
                None,
            );
            let rest = Rest::new(&cluster.gateway_http, &token);
            let grpc = Grpc::new(&cluster.gateway_grpc, &token)?;
            let customer = rest
                .create_customer(&format!("{}-{index}", &run[..8]))
                .await
                .context("creating a customer")?;
            users.push(User {
                index,
                rest,
                grpc,
                customer,
            });
        }
        Ok(Self { users })
    }

    /// Creates `count` one-line carts spread over the users; returns (user index, cart id).
    async fn prepare_carts(
        &self,
        count: usize,
        recorder: &Recorder,
    ) -> anyhow::Result<Vec<(usize, String)>> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for user in self.users.clone() {
            let next = next.clone();
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let mut carts = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let key = uuid::Uuid::new_v4().to_string();
                    let cart = recorder
                        .time(
                            "rest.create_cart",
                            user.rest.create_cart(&user.customer, &key),
                        )
                        .await?;
                    recorder
                        .time(
                            "rest.add_cart_line",
                            user.rest.add_line(&cart, NCE_PLAN, 1, &format!("{key}-l")),
                        )
                        .await?;
                    carts.push((user.index, cart));
                }
                Ok::<_, marketplace_load::rest::CallError>(carts)
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await?.context("preparing carts")?);
        }
        Ok(all)
    }

    /// Buys every cart as fast as the users can (each user its own carts); returns order ids.
    async fn checkout_all(&self, carts: Vec<(usize, String)>, recorder: &Recorder) -> Vec<String> {
        let mut per_user: Vec<Vec<String>> = vec![Vec::new(); self.users.len()];
        for (user, cart) in carts {
            per_user[user].push(cart);
        }
        let mut tasks = Vec::new();
        for (user, carts) in self.users.iter().cloned().zip(per_user) {
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let mut orders = Vec::new();
                for cart in carts {
                    let request = uuid::Uuid::new_v4().to_string();
                    if let Ok(order) = recorder
                        .time("rest.checkout", user.rest.checkout(&cart, &request))
                        .await
                    {
                        orders.push(order["id"].as_str().unwrap_or_default().to_string());
                    }
                }
                orders
            }));
        }
        let mut orders = Vec::new();
        for task in tasks {
            orders.extend(task.await.unwrap_or_default());
        }
        orders
    }

    /// Starts one checkout every `1/rate` seconds whatever the previous ones do; latency is
    /// measured from the scheduled start.
    async fn checkout_open_loop(
        &self,
        carts: Vec<(usize, String)>,
        rate: f64,
        recorder: &Recorder,
    ) -> Vec<String> {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let started = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for (n, (user, cart)) in carts.into_iter().enumerate() {
            let scheduled = started + interval.mul_f64(n as f64);
            tokio::time::sleep_until(scheduled).await;
            let user = self.users[user].clone();
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let request = uuid::Uuid::new_v4().to_string();
                match user.rest.checkout(&cart, &request).await {
                    Ok(order) => {
                        recorder.ok("rest.checkout", scheduled.elapsed());
                        Some(order["id"].as_str().unwrap_or_default().to_string())
                    }
                    Err(error) => {
                        recorder.error("rest.checkout", &error.to_string());
                        None
                    }
                }
            }));
        }
        let mut orders = Vec::new();
        for task in tasks {
            orders.extend(task.await.ok().flatten());
        }
        orders
    }

    /// Waits until the background work of the phase (provisioning, notifications) is done:
    /// the last orders placed have settled.
    async fn drain(&self, orders: &[String]) {
        let user = &self.users[0];
        for order in orders.iter().rev().take(20) {
            let _ = tokio::time::timeout(
                Duration::from_secs(120),
                user.grpc.watch_until_settled(order),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    /// Places `count` orders with `concurrency` users, each watched over gRPC from the moment
    /// checkout returns until it settles; records that time and checks the final state.
    async fn order_to_active(
        &self,
        count: usize,
        concurrency: usize,
        recorder: &Recorder,
    ) -> anyhow::Result<()> {
        let carts = self.prepare_carts(count, &Recorder::new()).await?;
        let queue = Arc::new(std::sync::Mutex::new(carts));
        let mut tasks = Vec::new();
        for user in self.users.iter().take(concurrency.max(1)).cloned() {
            let queue = queue.clone();
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some((_, cart)) = next else { break };
                    let request = uuid::Uuid::new_v4().to_string();
                    let Ok(order) = user.grpc.checkout(&cart, &request).await else {
                        recorder.error("order_to_active", "checkout failed");
                        continue;
                    };
                    let placed = Instant::now();
                    match user.grpc.watch_until_settled(&order).await {
                        Ok(status) if status == "ORDER_STATUS_COMPLETED" => {
                            recorder.ok("order_to_active", placed.elapsed());
                        }
                        Ok(status) => recorder.error("order_to_active", &status),
                        Err(error) => recorder.error("order_to_active", &error.to_string()),
                    }
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        // The subscriptions are active (checked once, for the last user's customer).
        let user = &self.users[0];
        let subscriptions = user
            .rest
            .call(
                reqwest::Method::GET,
                &format!("/v1/subscriptions?customerId={}", user.customer),
                None,
                None,
            )
            .await?;
        let active = subscriptions["subscriptions"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter(|s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE")
                    .count()
            })
            .unwrap_or(0);
        anyhow::ensure!(
            active > 0,
            "no active subscription after the orders completed"
        );
        Ok(())
    }

    /// Every user loops through the journeys for `duration`.
    async fn journeys(&self, protocol: &'static str, duration: Duration, recorder: &Recorder) {
        let until = Instant::now() + duration;
        let mut tasks = Vec::new();
        for user in self.users.clone() {
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let mut round = 0usize;
                while Instant::now() < until {
                    let query = QUERIES[(user.index + round) % QUERIES.len()];
                    let result = match protocol {
                        "rest" => rest_journey(&user, round, query, &recorder).await,
                        _ => grpc_journey(&user, round, query, &recorder).await,
                    };
                    if let Err(error) = result {
                        recorder.error(&format!("{protocol}.journey"), &error.to_string());
                    }
                    round += 1;
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

type JourneyResult = Result<(), marketplace_load::rest::CallError>;

async fn rest_journey(user: &User, round: usize, query: &str, r: &Recorder) -> JourneyResult {
    r.time("rest.search_plans", user.rest.search_plans(query))
        .await?;
    r.time("rest.get_plan", user.rest.get_plan(NCE_PLAN))
        .await?;
    let customer = if round % 10 == 9 {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        r.time(
            "rest.create_customer",
            user.rest.create_customer(&tag[..12]),
        )
        .await?
    } else {
        user.customer.clone()
    };
    let key = uuid::Uuid::new_v4().to_string();
    let cart = r
        .time("rest.create_cart", user.rest.create_cart(&customer, &key))
        .await?;
    r.time(
        "rest.add_cart_line",
        user.rest.add_line(&cart, NCE_PLAN, 1, &format!("{key}-l")),
    )
    .await?;
    let order = r
        .time("rest.checkout", user.rest.checkout(&cart, &key))
        .await?;
    let order_id = order["id"].as_str().unwrap_or_default().to_string();
    r.time(
        "rest.watch_until_settled",
        user.rest
            .watch_until_settled(&order_id, Duration::from_secs(60)),
    )
    .await?;
    let page = r
        .time("rest.list_orders", user.rest.list_orders("pageSize=20"))
        .await?;
    if let Some(token) = page["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
        r.time(
            "rest.list_orders_next_page",
            user.rest
                .list_orders(&format!("pageSize=20&pageToken={token}")),
        )
        .await?;
    }
    r.time("rest.get_order", user.rest.get_order(&order_id))
        .await?;
    Ok(())
}

async fn grpc_journey(user: &User, round: usize, query: &str, r: &Recorder) -> JourneyResult {
    r.time("grpc.search_plans", user.grpc.search_plans(query))
        .await?;
    r.time("grpc.get_plan", user.grpc.get_plan(NCE_PLAN))
        .await?;
    let customer = if round % 10 == 9 {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        r.time(
            "grpc.create_customer",
            user.grpc.create_customer(&tag[..12]),
        )
        .await?
    } else {
        user.customer.clone()
    };
    let cart = r
        .time("grpc.create_cart", user.grpc.create_cart(&customer))
        .await?;
    r.time("grpc.add_cart_line", user.grpc.add_line(&cart, NCE_PLAN, 1))
        .await?;
    let request = uuid::Uuid::new_v4().to_string();
    let order = r
        .time("grpc.checkout", user.grpc.checkout(&cart, &request))
        .await?;
    r.time(
        "grpc.watch_until_settled",
        user.grpc.watch_until_settled(&order),
    )
    .await?;
    let (_, next) = r
        .time("grpc.list_orders", user.grpc.list_orders(20, ""))
        .await?;
    if !next.is_empty() {
        r.time(
            "grpc.list_orders_next_page",
            user.grpc.list_orders(20, &next),
        )
        .await?;
    }
    Ok(())
}
