//! Order history listing benchmark on PostgreSQL: seeds 1,000,000 orders (one item each, 200
//! resellers × 100 customers, created over three years, mixed statuses) with set-based SQL, starts
//! the ordering gRPC server and calls `ListOrders` as a reseller admin (the role the frontends
//! use) for the first page, deep pages following `next_page_token`, a customer filter, status
//! filters and a create-time range. Prints per case the calls, throughput and p50/p95/p99/max
//! latency at concurrency 1 and `BENCH_CONCURRENCY`, the `EXPLAIN (ANALYZE, BUFFERS)` of the
//! service's listing SQL (first page, deep page) and the table size. Target (issue 10): p99 ≤
//! 10 ms with 1,000,000 orders, keyset pagination (no OFFSET).
//!
//! Run (one command):
//! ```text
//! cargo bench -p ordering --bench history
//! BENCH_ORDERS=200000 BENCH_CALLS=1000 BENCH_CONCURRENCY=8 cargo bench -p ordering --bench history
//! ```
//! PostgreSQL comes from `BENCH_DATABASE_URL` or `MARKETPLACE_TEST_DATABASE_URL` (an admin URL),
//! else `postgres://postgres@127.0.0.1:5432/postgres`; each run creates a fresh database and
//! drops it at the end (set `BENCH_KEEP=1` to keep it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use marketplace_platform as platform;
use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::order_service_client::OrderServiceClient;
use ordering::domain::Actor;
use ordering::domain::order::{ItemPrice, Order, OrderItem, Payment};
use ordering::domain::plan::{ParamDef, ParamKind, ParamScope, PlanInfo};
use ordering::domain::state::{ChangeType, ItemStatus, OrderStatus};
use platform::bus::InProcessBus;
use platform::clock::{Clock, OffsetClock};
use platform::identity::{IdentityKey, Principal, Role};
use sqlx::{Connection, Row};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const RESELLERS: i64 = 200;
const CUSTOMERS_PER_RESELLER: i64 = 100;
const PAGE_SIZE: i32 = 50;
const YEAR_US: i64 = 365 * 24 * 3600 * 1_000_000;
const DAY_US: i64 = 24 * 3600 * 1_000_000;

/// Markers of numbers in the templates (replaced per row).
const CREATED: i64 = 9_000_000_000_000_001;
const SUBMITTED: i64 = 9_000_000_000_000_002;
const UPDATED: i64 = 9_000_000_000_000_003;

/// The statuses seeded (a stored order is never STARTED: that is a cart).
const STATUSES: [OrderStatus; 6] = [
    OrderStatus::Completed,
    OrderStatus::ProvisioningFailed,
    OrderStatus::Deleted,
    OrderStatus::Draft,
    OrderStatus::InProgress,
    OrderStatus::ProvisioningStarted,
];
const VENDORS: [&str; 2] = ["microsoft", "autodesk"];

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stored document of a seeded order in `status` for `vendor`, with `__X__` markers for the
/// per-row values (ids, number, name, parties) and the number markers for its times.
fn template(vendor: &str, status: OrderStatus) -> anyhow::Result<String> {
    let (item_status, version, submitted) = match status {
        OrderStatus::Completed => (ItemStatus::Provisioned, 4, true),
        OrderStatus::ProvisioningFailed => (ItemStatus::Failed, 4, true),
        OrderStatus::ProvisioningStarted => (ItemStatus::Provisioning, 3, true),
        OrderStatus::InProgress => (ItemStatus::Pending, 2, true),
        OrderStatus::Draft => (ItemStatus::Pending, 1, false),
        _ => (ItemStatus::Deleted, 2, false),
    };
    let autodesk = vendor == "autodesk";
    let parameters = if autodesk {
        vec![ParamDef {
            key: "csn".into(),
            title: "Autodesk customer number (CSN)".into(),
            kind: ParamKind::AutodeskCsn,
            scope: ParamScope::Customer,
            required: true,
            choices: Vec::new(),
        }]
    } else {
        vec![ParamDef {
            key: "tenant_domain".into(),
            title: "Microsoft tenant domain".into(),
            kind: ParamKind::Domain,
            scope: ParamScope::Customer,
            required: true,
            choices: Vec::new(),
        }]
    };
    let price = ItemPrice {
        currency_code: "USD".into(),
        unit_cost: 10_000,
        unit_markup: 2_000,
        unit_price: 12_000,
        unit_msrp: 12_500,
        total_cost: 50_000,
        total_price: 60_000,
        price_id: format!("price-{vendor}-annual-usd"),
    };
    let item = OrderItem {
        id: "__ITEM__".into(),
        line_number: 1,
        plan: PlanInfo {
            plan_id: format!("plan-{vendor}-bench"),
            vendor_id: vendor.into(),
            name: format!("{vendor} bench plan"),
            product_name: format!("{vendor} bench product"),
            vendor_sku: if autodesk {
                "057M1-WW6525-L562".into()
            } else {
                "CFQ7TTC0LH18:0001".into()
            },
            term: 2,
            billing_cycle: 2,
            commitment_months: 12,
            instalments: 1,
            min_quantity: 1,
            max_quantity: 300,
            parent_plan_ids: Vec::new(),
            parameters,
            autodesk_product_id: if autodesk {
                "ACDIST-SUBS-1YR".into()
            } else {
                String::new()
            },
            active: true,
        },
        description: format!("{vendor} bench plan"),
        change: ChangeType::NewSubscription,
        quantity: 5,
        previous_quantity: 0,
        parameters: [(
            if autodesk { "csn" } else { "tenant_domain" }.to_string(),
            if autodesk {
                "5100000001".to_string()
            } else {
                "contoso.onmicrosoft.com".to_string()
            },
        )]
        .into_iter()
        .collect(),
        price,
        status: item_status,
        vendor_message: if item_status == ItemStatus::Failed {
            "The customer's tenant could not be found".into()
        } else {
            String::new()
        },
        parameter_errors: Vec::new(),
        subscription_id: if item_status == ItemStatus::Provisioned {
            "__SUB__".into()
        } else {
            String::new()
        },
        vendor_subscription_id: String::new(),
        parent_item_id: String::new(),
        updated_at: UPDATED,
        resubmission: 0,
    };
    let order = Order {
        id: "__ID__".into(),
        number: "__NUMBER__".into(),
        name: "__NAME__".into(),
        reseller_id: "__RESELLER__".into(),
        customer_id: "__CUSTOMER__".into(),
        customer_name: "__CNAME__".into(),
        status,
        items: vec![item],
        created_by: Actor {
            user_id: "user-reseller_admin".into(),
            display_name: "Bench Admin".into(),
            organization_id: "__RESELLER__".into(),
            organization_name: "Bench Reseller".into(),
            role: "reseller_admin".into(),
        },
        created_at: CREATED,
        updated_at: UPDATED,
        submitted_at: submitted.then_some(SUBMITTED),
        notes: Vec::new(),
        payment: Payment {
            method: "invoice".into(),
            terms: "Net 30".into(),
            purchase_order_number: String::new(),
        },
        currency_code: "USD".into(),
        total_cost: 50_000,
        total_price: 60_000,
        cart_id: "__CART__".into(),
        version,
        request_key: "__REQ__".into(),
        submit_request_id: String::new(),
    };
    Ok(serde_json::to_string(&order)?)
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// A tiny deterministic PRNG (xorshift64*), one per worker.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: i64) -> i64 {
        (self.next() % n.max(1) as u64) as i64
    }
}

fn reseller_id(r: i64) -> String {
    format!("reseller-{r:03}")
}

/// What the load sends; shared by the workers.
struct Load {
    identity: IdentityKey,
    channel: Channel,
    /// Customer ids per reseller.
    customers: Vec<Vec<String>>,
    /// Seeded create-time span (µs).
    span: (i64, i64),
}

/// One case: what a call sends, given a worker's PRNG. Deep walks are handled apart.
#[derive(Clone, Copy)]
enum Case {
    FirstPage,
    Customer,
    Status,
    RecentView,
    HistoricalView,
    TimeRange,
}

impl Case {
    fn label(self) -> &'static str {
        match self {
            Self::FirstPage => "first page (default sort)",
            Self::Customer => "customer filter",
            Self::Status => "status = PROVISIONING_FAILED",
            Self::RecentView => "view = RECENT",
            Self::HistoricalView => "view = HISTORICAL",
            Self::TimeRange => "create time in a 30-day range",
        }
    }
}

impl Load {
    fn principal(r: i64) -> Principal {
        Principal {
            subject: format!("user-admin-{r}"),
            display_name: "Bench Admin".into(),
            role: Role::ResellerAdmin,
            reseller_id: Some(reseller_id(r)),
            customer_id: None,
        }
    }

    fn request(
        &self,
        r: i64,
        message: pb::ListOrdersRequest,
    ) -> tonic::Request<pb::ListOrdersRequest> {
        let mut request = tonic::Request::new(message);
        self.identity.attach(&mut request, &Self::principal(r));
        request
    }

    fn message(&self, case: Case, rng: &mut Rng, r: i64) -> pb::ListOrdersRequest {
        let mut m = pb::ListOrdersRequest {
            page_size: PAGE_SIZE,
            view: pb::OrderView::All as i32,
            ..Default::default()
        };
        match case {
            Case::FirstPage => {}
            Case::Customer => {
                let list = &self.customers[r as usize];
                m.customer_id = list[rng.below(list.len() as i64) as usize].clone();
            }
            Case::Status => m.statuses = vec![pb::OrderStatus::ProvisioningFailed as i32],
            Case::RecentView => m.view = pb::OrderView::Recent as i32,
            Case::HistoricalView => m.view = pb::OrderView::Historical as i32,
            Case::TimeRange => {
                let (from, to) = self.span;
                let start = from + rng.below((to - from - 30 * DAY_US).max(1));
                m.create_time_from = Some(platform::clock::micros_to_timestamp(start));
                m.create_time_to = Some(platform::clock::micros_to_timestamp(start + 30 * DAY_US));
            }
        }
        m
    }

    /// `calls` calls of `case` over `concurrency` workers: (latencies, rows returned, wall time).
    async fn run_case(
        self: &Arc<Self>,
        case: Case,
        calls: usize,
        concurrency: usize,
        seed: u64,
    ) -> anyhow::Result<(Vec<Duration>, u64, Duration)> {
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let load = self.clone();
            let n = calls / concurrency + usize::from(w < calls % concurrency);
            workers.push(tokio::spawn(async move {
                let mut client = OrderServiceClient::new(load.channel.clone());
                let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(w as u64 * 7919 + 1));
                let mut lat = Vec::with_capacity(n);
                let mut rows = 0u64;
                for _ in 0..n {
                    let r = rng.below(RESELLERS);
                    let message = load.message(case, &mut rng, r);
                    let t = Instant::now();
                    let reply = client.list_orders(load.request(r, message)).await?;
                    lat.push(t.elapsed());
                    rows += reply.get_ref().orders.len() as u64;
                }
                anyhow::Ok((lat, rows))
            }));
        }
        let mut lat = Vec::with_capacity(calls);
        let mut rows = 0;
        for w in workers {
            let (l, n) = w.await??;
            lat.extend(l);
            rows += n;
        }
        Ok((lat, rows, started.elapsed()))
    }

    /// Walks `pages` pages (None = to the end) of random resellers until `calls` page calls are
    /// made: (latency, page number) of every call, rows returned, wall time.
    async fn run_walks(
        self: &Arc<Self>,
        pages: Option<usize>,
        calls: usize,
        concurrency: usize,
        seed: u64,
    ) -> anyhow::Result<(Vec<(Duration, usize)>, u64, Duration)> {
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let load = self.clone();
            let n = calls / concurrency + usize::from(w < calls % concurrency);
            workers.push(tokio::spawn(async move {
                let mut client = OrderServiceClient::new(load.channel.clone());
                let mut rng = Rng(seed.wrapping_mul(17).wrapping_add(w as u64 * 104_729 + 3));
                let mut lat = Vec::with_capacity(n);
                let mut rows = 0u64;
                while lat.len() < n {
                    let r = rng.below(RESELLERS);
                    let mut token = String::new();
                    let mut page = 1;
                    loop {
                        let message = pb::ListOrdersRequest {
                            page_size: PAGE_SIZE,
                            page_token: token.clone(),
                            ..Default::default()
                        };
                        let t = Instant::now();
                        let reply = client
                            .list_orders(load.request(r, message))
                            .await?
                            .into_inner();
                        lat.push((t.elapsed(), page));
                        rows += reply.orders.len() as u64;
                        token = reply.next_page_token;
                        page += 1;
                        if token.is_empty() || pages.is_some_and(|p| page > p) || lat.len() >= n {
                            break;
                        }
                    }
                }
                anyhow::Ok((lat, rows))
            }));
        }
        let mut lat = Vec::with_capacity(calls);
        let mut rows = 0;
        for w in workers {
            let (l, n) = w.await??;
            lat.extend(l);
            rows += n;
        }
        Ok((lat, rows, started.elapsed()))
    }
}

/// The machine's load average (the bench shares 2 cores; a busy machine shows in the tail).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "n/a".into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// One row of the results table.
fn report(
    label: &str,
    concurrency: usize,
    mut lat: Vec<Duration>,
    rows: u64,
    wall: Duration,
) -> f64 {
    lat.sort();
    let n = lat.len();
    let at = |q: f64| lat[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    let p99 = ms(at(0.99));
    println!(
        "| {label:<34} | {concurrency:>2} | {n:>6} | {:>5.1} | {:>8.0} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2} |",
        rows as f64 / n as f64,
        n as f64 / wall.as_secs_f64(),
        ms(at(0.50)),
        ms(at(0.95)),
        p99,
        ms(lat[n - 1]),
    );
    p99
}

/// The SQL `Store::list_orders` + `Query::page_any_of` build for a reseller caller (same
/// clauses in the same order, one merged branch per status when several; values inlined for
/// EXPLAIN).
fn list_sql(clauses: &[String], cursor: Option<(i64, &str)>, statuses: &[&str]) -> String {
    let mut all: Vec<String> = clauses.to_vec();
    if let Some((at, id)) = cursor {
        all.push(format!(
            "created_at <= {at} AND (created_at < {at} OR (created_at = {at} AND id < '{id}'))"
        ));
    }
    let lim = PAGE_SIZE + 1;
    let select = |all: &[String]| {
        format!(
            "SELECT doc, created_at, id FROM orders WHERE {} ORDER BY created_at DESC, id DESC LIMIT {lim}",
            all.join(" AND ")
        )
    };
    match statuses {
        [] => select(&all),
        [one] => select(&[all, vec![format!("status = '{one}'")]].concat()),
        many => {
            let branches: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, st)| {
                    let branch = select(&[all.clone(), vec![format!("status = '{st}'")]].concat());
                    format!("SELECT doc, created_at, id FROM ({branch}) AS b{i}")
                })
                .collect();
            format!(
                "{} ORDER BY created_at DESC, id DESC LIMIT {lim}",
                branches.join(" UNION ALL ")
            )
        }
    }
}

async fn explain(conn: &mut sqlx::AnyConnection, title: &str, sql: &str) -> anyhow::Result<()> {
    println!("\n{title}:\n  {sql}");
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
    for row in sqlx::query(sqlx::AssertSqlSafe(explain))
        .fetch_all(&mut *conn)
        .await?
    {
        let line: String = row.try_get(0)?;
        println!("    {line}");
    }
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let bench_started = Instant::now();
    let total = env("BENCH_ORDERS", 1_000_000).max(RESELLERS * CUSTOMERS_PER_RESELLER);
    let calls = env("BENCH_CALLS", 2_000).max(1) as usize;
    let warmup = env("BENCH_WARMUP", 200).max(0) as usize;
    let concurrency = env("BENCH_CONCURRENCY", 4).max(1) as usize;
    let admin = ["BENCH_DATABASE_URL", "MARKETPLACE_TEST_DATABASE_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| platform::db::testing::DEFAULT_ADMIN_URL.to_string());
    let name = format!("ordering_history_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut root = sqlx::AnyConnection::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut root)
        .await?;
    let url = {
        let mut u = url::Url::parse(&admin)?;
        u.set_path(&format!("/{name}"));
        u.to_string()
    };
    let result = bench(&url, total, calls, warmup, concurrency).await;
    if std::env::var_os("BENCH_KEEP").is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut root)
        .await?;
    } else {
        println!("kept database {name}");
    }
    result?;
    println!(
        "\nbench run time {:.1}s",
        bench_started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bench(
    url: &str,
    total: i64,
    calls: usize,
    warmup: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let clock = OffsetClock::new();
    let database = platform::db::DatabaseSettings {
        url: platform::config::Secret::new(url.to_string()),
        max_connections: None,
        acquire_timeout_ms: 30_000,
    };
    let settings = ordering::Settings::new(database, "http://127.0.0.1:9");
    let identity = IdentityKey::random();
    let deps = ordering::Dependencies {
        bus: Arc::new(InProcessBus::new()),
        identity: identity.clone(),
        clock: clock.clone(),
        page_tokens: platform::paging::PageTokens::random(),
    };
    let app = ordering::App::build(settings, deps).await?;

    // Create times: evenly over the three years before now (row n at base + n·step plus a jitter
    // below one step, so strictly increasing); row n belongs to reseller n % 200 and to customer
    // (n / 200) % 100 of it. Statuses: the last week mostly in flight, older ones mostly done.
    let now = platform::clock::to_micros(clock.now());
    let base = now - 3 * YEAR_US;
    let step = (3 * YEAR_US / total).max(2);
    let recent_from = total - total * 7 / (3 * 365);
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    sqlx::query(
        "CREATE FUNCTION pg_temp.bench_uuid(ms BIGINT, salt TEXT) RETURNS TEXT LANGUAGE SQL IMMUTABLE AS $$
           SELECT substr(lpad(to_hex(ms), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(ms), 12, '0'), 9, 4)
                  || '-7' || substr(md5(salt), 1, 3) || '-8' || substr(md5(salt), 4, 3) || '-' || substr(md5(salt), 7, 12)
         $$",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("CREATE TEMP TABLE bench_templates (k BIGINT PRIMARY KEY, doc TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;
    let mut doc_bytes = 0;
    for (s, status) in STATUSES.iter().enumerate() {
        for (v, vendor) in VENDORS.iter().enumerate() {
            let doc = template(vendor, *status)?;
            doc_bytes = doc_bytes.max(doc.len());
            sqlx::query("INSERT INTO bench_templates (k, doc) VALUES ($1, $2)")
                .bind((s * 2 + v) as i64)
                .bind(doc)
                .execute(&mut conn)
                .await?;
        }
    }
    let seed_start = Instant::now();
    let chunk = 100_000;
    let mut from = 0;
    while from < total {
        let to = (from + chunk).min(total) - 1;
        let sql = format!(
            "WITH g AS (
               SELECT n, n % {RESELLERS} AS r, (n / {RESELLERS}) % {CUSTOMERS_PER_RESELLER} AS c,
                      {base} + n * {step} + (n * 2654435761) % {step} AS at,
                      (hashint8(n)::bigint & 2147483647) % 1000 AS b,
                      (hashint8(n + 1000000007)::bigint & 2147483647) % 2 AS v
               FROM generate_series({from}::bigint, {to}::bigint) AS n),
             s AS (
               SELECT g.*,
                      CASE WHEN n >= {recent_from} THEN
                             CASE WHEN b < 300 THEN 4 WHEN b < 600 THEN 5 WHEN b < 650 THEN 3 ELSE 0 END
                           ELSE
                             CASE WHEN b < 30 THEN 1 WHEN b < 80 THEN 2 WHEN b < 120 THEN 3 ELSE 0 END
                      END AS st,
                      pg_temp.bench_uuid(at / 1000, 'o' || n) AS id,
                      pg_temp.bench_uuid(at / 1000 - 600000, 'c' || n) AS cart,
                      pg_temp.bench_uuid(at / 1000, 'i' || n) AS item,
                      pg_temp.bench_uuid(at / 1000 + 3600000, 's' || n) AS sub,
                      pg_temp.bench_uuid(0, 'customer-' || r || '-' || c) AS customer,
                      to_timestamp(at / 1000000.0) AT TIME ZONE 'UTC' AS ts
               FROM g)
             INSERT INTO orders (id, reseller_id, customer_id, number, status, request_key, has_autodesk,
                                 markup_only, created_at, updated_at, version, doc)
             SELECT s.id, 'reseller-' || lpad(r::text, 3, '0'), customer,
                    'ORD-' || extract(year FROM ts)::int || '-' || lpad((n + 1)::text, 6, '0'),
                    CASE st WHEN 0 THEN 'ORDER_STATUS_COMPLETED' WHEN 1 THEN 'ORDER_STATUS_PROVISIONING_FAILED'
                            WHEN 2 THEN 'ORDER_STATUS_DELETED' WHEN 3 THEN 'ORDER_STATUS_DRAFT'
                            WHEN 4 THEN 'ORDER_STATUS_IN_PROGRESS' ELSE 'ORDER_STATUS_PROVISIONING_STARTED' END,
                    'cart:' || cart, v, 0, at, at + 3600000000, (t.doc::json ->> 'version')::bigint,
                    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(t.doc,
                      '__ID__', s.id),
                      '__NUMBER__', 'ORD-' || extract(year FROM ts)::int || '-' || lpad((n + 1)::text, 6, '0')),
                      '__NAME__', 'Order #' || to_char(ts, 'DD-MM-YYYY')),
                      '__RESELLER__', 'reseller-' || lpad(r::text, 3, '0')),
                      '__CUSTOMER__', customer),
                      '__CNAME__', 'Customer ' || r || '-' || c || ' Ltd'),
                      '__ITEM__', item),
                      '__SUB__', sub),
                      '__CART__', cart),
                      '__REQ__', 'cart:' || cart),
                      '{CREATED}', at::text),
                      '{SUBMITTED}', (at + 60000000)::text),
                      '{UPDATED}', (at + 3600000000)::text)
             FROM s JOIN bench_templates t ON t.k = st * 2 + v"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        from = to + 1;
        eprintln!("seeded {from}/{total}");
    }
    // Order numbers go on after the seeded ones (the `counters` row; on PostgreSQL the
    // `order_numbers` sequence when the schema has it).
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'order_number'")
        .bind(total)
        .execute(&mut conn)
        .await?;
    sqlx::query(
        "SELECT setval('order_numbers', $1, false) FROM pg_class WHERE oid = to_regclass('order_numbers')",
    )
    .bind(total + 1)
    .fetch_all(&mut conn)
    .await?;
    // A steady-state table is vacuumed (visibility map set, hint bits written): do it now rather
    // than let autovacuum and the checkpoint of the bulk load run during the timed part.
    sqlx::query("VACUUM (ANALYZE) orders")
        .execute(&mut conn)
        .await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
        eprintln!("CHECKPOINT skipped: {e}");
    }
    let seeded = seed_start.elapsed();
    println!(
        "seeded {total} orders ({RESELLERS} resellers x {CUSTOMERS_PER_RESELLER} customers, one item each, over 3 years; doc up to {doc_bytes} bytes) in {:.1}s (incl. VACUUM ANALYZE)",
        seeded.as_secs_f64()
    );
    for row in
        sqlx::query("SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY n DESC")
            .fetch_all(&mut conn)
            .await?
    {
        let status: String = row.try_get("status")?;
        let n: i64 = row.try_get("n")?;
        println!("  {status:<36} {n:>8}");
    }
    let sizes = sqlx::query(
        "SELECT pg_size_pretty(pg_total_relation_size('orders')) AS total,
                pg_size_pretty(pg_relation_size('orders')) AS heap,
                pg_size_pretty(pg_total_relation_size('orders') - pg_relation_size('orders') - pg_indexes_size('orders')) AS toast,
                pg_size_pretty(pg_indexes_size('orders')) AS indexes",
    )
    .fetch_one(&mut conn)
    .await?;
    println!(
        "orders table: total {} (heap {}, toast+fsm+vm {}, indexes {})",
        sizes.try_get::<String, _>("total")?,
        sizes.try_get::<String, _>("heap")?,
        sizes.try_get::<String, _>("toast")?,
        sizes.try_get::<String, _>("indexes")?
    );
    for row in sqlx::query(
        "SELECT indexrelid::regclass::text AS name, pg_size_pretty(pg_relation_size(indexrelid)) AS size
         FROM pg_index WHERE indrelid = 'orders'::regclass ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?
    {
        println!(
            "  index {:<34} {}",
            row.try_get::<String, _>("name")?,
            row.try_get::<String, _>("size")?
        );
    }

    // EXPLAIN of what the service runs for a reseller: first page, page 21 (cursor after 1,000
    // rows; the bench finds cursors with OFFSET, the service never does) and the last page.
    let r7 = reseller_id(7);
    let by_reseller = vec![format!("reseller_id = '{r7}'")];
    explain(
        &mut conn,
        "EXPLAIN first page (reseller, default sort)",
        &list_sql(&by_reseller, None, &[]),
    )
    .await?;
    let per_reseller = total / RESELLERS;
    let skip = (20 * i64::from(PAGE_SIZE)).min(per_reseller / 2);
    let last = sqlx::query(
        "SELECT created_at, id FROM orders WHERE reseller_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
    )
    .bind(r7.clone())
    .bind(skip - 1)
    .fetch_one(&mut conn)
    .await?;
    let (at, id): (i64, String) = (last.try_get("created_at")?, last.try_get("id")?);
    explain(
        &mut conn,
        &format!(
            "EXPLAIN page {} (cursor after row {skip})",
            skip / i64::from(PAGE_SIZE) + 1
        ),
        &list_sql(&by_reseller, Some((at, &id)), &[]),
    )
    .await?;
    let deepest = sqlx::query(
        "SELECT created_at, id FROM orders WHERE reseller_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
    )
    .bind(r7.clone())
    .bind(per_reseller - i64::from(PAGE_SIZE) - 1)
    .fetch_one(&mut conn)
    .await?;
    let (at, id): (i64, String) = (deepest.try_get("created_at")?, deepest.try_get("id")?);
    explain(
        &mut conn,
        "EXPLAIN last page (cursor before the reseller's oldest 50)",
        &list_sql(&by_reseller, Some((at, &id)), &[]),
    )
    .await?;
    let customer: String = sqlx::query("SELECT pg_temp.bench_uuid(0, 'customer-7-42') AS c")
        .fetch_one(&mut conn)
        .await?
        .try_get("c")?;
    explain(
        &mut conn,
        "EXPLAIN customer filter",
        &list_sql(
            &[
                by_reseller[0].clone(),
                format!("customer_id = '{customer}'"),
            ],
            None,
            &[],
        ),
    )
    .await?;
    explain(
        &mut conn,
        "EXPLAIN status filter",
        &list_sql(
            &by_reseller,
            None,
            &[OrderStatus::ProvisioningFailed.as_str()],
        ),
    )
    .await?;
    let recent: Vec<&str> = OrderStatus::ALL
        .into_iter()
        .filter(|s| s.is_recent())
        .map(OrderStatus::as_str)
        .collect();
    explain(
        &mut conn,
        "EXPLAIN view RECENT (one merged branch per status)",
        &list_sql(&by_reseller, None, &recent),
    )
    .await?;
    let mid = base + 3 * YEAR_US / 2;
    explain(
        &mut conn,
        "EXPLAIN create-time range",
        &list_sql(
            &[
                by_reseller[0].clone(),
                format!("created_at >= {mid}"),
                format!("created_at < {}", mid + 30 * DAY_US),
            ],
            None,
            &[],
        ),
    )
    .await?;

    // Customers of each reseller, as the seed derived them.
    let mut customers = vec![Vec::new(); RESELLERS as usize];
    for row in sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT r, pg_temp.bench_uuid(0, 'customer-' || r || '-' || c) AS id
         FROM generate_series(0, {}) AS r, generate_series(0, {}) AS c",
        RESELLERS - 1,
        CUSTOMERS_PER_RESELLER - 1
    )))
    .fetch_all(&mut conn)
    .await?
    {
        let r: i32 = row.try_get("r")?;
        customers[r as usize].push(row.try_get::<String, _>("id")?);
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let load = Arc::new(Load {
        identity,
        channel,
        customers,
        span: (base, base + total * step),
    });

    // Paging is exact: walking every page of a reseller returns what one SQL query returns, in
    // the same order, for the default listing and for the two views (merged branches).
    let historical: Vec<&str> = OrderStatus::ALL
        .into_iter()
        .filter(|s| !s.is_recent())
        .map(OrderStatus::as_str)
        .collect();
    for (view, statuses) in [
        (pb::OrderView::All, Vec::new()),
        (pb::OrderView::Recent, recent.clone()),
        (pb::OrderView::Historical, historical),
    ] {
        let r = 11;
        let mut sql = "SELECT id FROM orders WHERE reseller_id = $1".to_string();
        if !statuses.is_empty() {
            let list: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
            sql.push_str(&format!(" AND status IN ({})", list.join(", ")));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC");
        let expected: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(reseller_id(r))
            .fetch_all(&mut conn)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>("id"))
            .collect::<Result<_, _>>()?;
        let mut client = OrderServiceClient::new(load.channel.clone());
        let (mut got, mut token, mut pages) = (Vec::new(), String::new(), 0);
        loop {
            let message = pb::ListOrdersRequest {
                page_size: PAGE_SIZE,
                page_token: token,
                view: view as i32,
                ..Default::default()
            };
            let reply = client
                .list_orders(load.request(r, message))
                .await?
                .into_inner();
            got.extend(reply.orders.into_iter().map(|o| o.id));
            pages += 1;
            token = reply.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        anyhow::ensure!(
            got == expected,
            "walk of {view:?} differs from SQL: {} orders vs {}",
            got.len(),
            expected.len()
        );
        println!(
            "walk check {view:?}: {} orders in {pages} pages, same as SQL",
            got.len()
        );
    }
    conn.close().await?;

    println!(
        "\nListOrders over gRPC as reseller_admin, page size {PAGE_SIZE}, random reseller per call (or walk); {warmup} warm-up calls per case; latency in ms; load average {}",
        loadavg()
    );
    println!(
        "| case                               |  c |  calls |  rows |  calls/s |     p50 |     p95 |     p99 |     max |"
    );
    println!(
        "|------------------------------------|---:|-------:|------:|---------:|--------:|--------:|--------:|--------:|"
    );
    let mut worst: f64 = 0.0;
    let mut seed = 1;
    for c in [1, concurrency] {
        let (_, _, _) = load.run_case(Case::FirstPage, warmup, c, 999).await?;
        for case in [Case::FirstPage] {
            seed += 1;
            let (lat, rows, wall) = load.run_case(case, calls, c, seed).await?;
            worst = worst.max(report(case.label(), c, lat, rows, wall));
        }
        // Deep pages: walk 20 pages of a reseller; the timed calls are pages 2–20.
        load.run_walks(Some(20), warmup, c, 998).await?;
        seed += 1;
        let (lat, rows, wall) = load
            .run_walks(Some(20), calls * 20 / 19 + 20, c, seed)
            .await?;
        let deep: Vec<Duration> = lat
            .iter()
            .filter(|(_, p)| *p > 1)
            .map(|(d, _)| *d)
            .collect();
        let first = lat.len() - deep.len();
        worst = worst.max(report(
            "pages 2-20 (next_page_token)",
            c,
            deep,
            rows * (lat.len() - first) as u64 / lat.len() as u64,
            wall,
        ));
        // Every page of a reseller to its last one (~100 pages of 50), reported by depth.
        seed += 1;
        let pages =
            ((total / RESELLERS + i64::from(PAGE_SIZE) - 1) / i64::from(PAGE_SIZE)).max(1) as usize;
        let (lat, rows, wall) = load.run_walks(None, calls.max(pages * 5), c, seed).await?;
        let all: Vec<Duration> = lat.iter().map(|(d, _)| *d).collect();
        worst = worst.max(report("full walk, all pages", c, all, rows, wall));
        for q in 0..4 {
            let (lo, hi) = (q * pages / 4 + 1, (q + 1) * pages / 4);
            let part: Vec<Duration> = lat
                .iter()
                .filter(|(_, p)| (lo..=hi).contains(p))
                .map(|(d, _)| *d)
                .collect();
            if part.is_empty() {
                continue;
            }
            let share = part.len() as f64 / lat.len() as f64;
            report(
                &format!("  of which pages {lo}-{hi}"),
                c,
                part,
                (rows as f64 * share) as u64,
                wall.mul_f64(share),
            );
        }
        for case in [
            Case::Customer,
            Case::Status,
            Case::RecentView,
            Case::HistoricalView,
            Case::TimeRange,
        ] {
            load.run_case(case, warmup, c, 997).await?;
            seed += 1;
            let (lat, rows, wall) = load.run_case(case, calls, c, seed).await?;
            worst = worst.max(report(case.label(), c, lat, rows, wall));
        }
    }
    println!(
        "\nworst p99 {worst:.2} ms (target ≤ 10 ms): {}; load average after {}",
        if worst <= 10.0 { "met" } else { "MISSED" },
        loadavg()
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    Ok(())
}
