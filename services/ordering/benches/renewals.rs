//! Renewal scheduler benchmark on PostgreSQL: seeds one million ACTIVE, auto-renewing
//! subscriptions whose term ends are spread over a year (100,000 of them in the 36 days before
//! "today"), prints the EXPLAIN of the scheduler's claim query (it must use the `due_day`
//! index), then times one catch-up of the scheduler placing the 100,000 renewal orders.
//!
//! Run (one command):
//! ```text
//! cargo bench -p ordering --bench renewals
//! BENCH_SUBSCRIPTIONS=200000 BENCH_DUE=20000 BENCH_BATCH=1000 BENCH_CONCURRENCY=4 cargo bench -p ordering --bench renewals
//! ```
//! PostgreSQL comes from `MARKETPLACE_TEST_DATABASE_URL` (an admin URL), else
//! `postgres://postgres@127.0.0.1:5432/postgres`; each run creates a fresh database and drops it
//! at the end (set `BENCH_KEEP=1` to keep it).

use std::sync::Arc;
use std::time::Instant;

use marketplace_platform as platform;
use ordering::domain::order::ItemPrice;
use ordering::domain::plan::PlanInfo;
use ordering::domain::subscription::{Day, Subscription, SubscriptionStatus};
use platform::bus::InProcessBus;
use platform::clock::{Clock, OffsetClock};
use platform::identity::IdentityKey;
use sqlx::{Connection, Row};

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stored document of a seeded subscription with `__ID__`, `__START__`, `__END__` markers.
fn template(vendor: &str) -> anyhow::Result<String> {
    let marker_start = Day {
        year: 9998,
        month: 1,
        day: 1,
    };
    let marker_end = Day {
        year: 9999,
        month: 1,
        day: 1,
    };
    let s = Subscription {
        id: "__ID__".into(),
        reseller_id: "reseller-demo".into(),
        customer_id: "customer-demo".into(),
        customer_name: "Contoso Ltd".into(),
        plan: PlanInfo {
            plan_id: format!("plan-{vendor}-bench"),
            vendor_id: vendor.into(),
            name: format!("{vendor} bench plan"),
            term: 2,
            billing_cycle: 2,
            commitment_months: 12,
            min_quantity: 1,
            active: true,
            ..PlanInfo::default()
        },
        quantity: 5,
        status: SubscriptionStatus::Active,
        term_start: Some(marker_start),
        term_end: Some(marker_end),
        auto_renew: true,
        auto_renew_changeable: true,
        assigned_licenses: 0,
        vendor_subscription_id: "VS-__ID__".into(),
        vendor_portal_url: String::new(),
        admin_contact: Default::default(),
        tenant_name: String::new(),
        price: ItemPrice {
            currency_code: "USD".into(),
            unit_cost: 10_000,
            unit_markup: 2_000,
            unit_price: 12_000,
            ..ItemPrice::default()
        },
        cancellation_windows: Vec::new(),
        history: Vec::new(),
        vendor_message: String::new(),
        order_id: "seed".into(),
        order_item_id: "seed-__ID__".into(),
        parameters: Default::default(),
        created_at: 0,
        updated_at: 0,
        version: 1,
        pending_order_id: String::new(),
        reminders_sent: Vec::new(),
    };
    Ok(serde_json::to_string(&s)?
        .replace(&serde_json::to_string(&marker_start)?, "__START__")
        .replace(&serde_json::to_string(&marker_end)?, "__END__"))
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let total = env("BENCH_SUBSCRIPTIONS", 1_000_000);
    let due = env("BENCH_DUE", 100_000).min(total);
    let batch = env("BENCH_BATCH", 500);
    let admin = std::env::var("MARKETPLACE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| platform::db::testing::DEFAULT_ADMIN_URL.to_string());
    let name = format!("ordering_bench_{}", uuid::Uuid::new_v4().simple());
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
    let clock = OffsetClock::new();
    let database = platform::db::DatabaseSettings {
        url: platform::config::Secret::new(url.clone()),
        max_connections: None,
        acquire_timeout_ms: 30_000,
    };
    let mut settings = ordering::Settings::new(database, "http://127.0.0.1:9");
    settings.seed_demo = true;
    settings.scheduler_batch = batch;
    settings.scheduler_concurrency = env("BENCH_CONCURRENCY", 4) as usize;
    let deps = ordering::Dependencies {
        bus: Arc::new(InProcessBus::new()),
        identity: IdentityKey::random(),
        clock: clock.clone(),
        page_tokens: platform::paging::PageTokens::random(),
    };
    let app = ordering::App::build(settings, deps).await?;

    // Term ends: the first `due` rows over the 36 days before today, the rest over the next
    // 329 days (a year in all).
    let today = Day::of(clock.now().date());
    let base = today.plus_days(-36).expect("date");
    let base_sql = base.iso();
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    let seed_start = Instant::now();
    let chunk = 100_000;
    let mut from = 0;
    while from < total {
        let to = (from + chunk).min(total) - 1;
        let sql = format!(
            "WITH g AS (
               SELECT n,
                      CASE WHEN n % 2 = 0 THEN 'autodesk' ELSE 'microsoft' END AS vendor,
                      DATE '{base_sql}' + (CASE WHEN n < {due} THEN (n * 36) / {due}
                                               ELSE 36 + ((n - {due}) * 329) / GREATEST({total} - {due}, 1) END)::int AS term_end
               FROM generate_series({from}, {to}) AS n),
             d AS (
               SELECT n, vendor, term_end, (term_end - INTERVAL '1 year' + INTERVAL '1 day')::date AS term_start,
                      'sub-' || lpad(n::text, 8, '0') AS id
               FROM g)
             INSERT INTO subscriptions (id, reseller_id, customer_id, vendor_id, status, order_item_id, search_text,
                                        term_end_day, created_at, updated_at, version, doc, due_day, remind_at)
             SELECT id, 'reseller-demo', 'customer-demo', vendor, 'SUBSCRIPTION_STATUS_ACTIVE', 'seed-' || id,
                    vendor || ' bench plan',
                    to_char(term_end, 'YYYYMMDD')::bigint, n, n, 1,
                    replace(replace(replace(CASE WHEN vendor = 'autodesk' THEN $1 ELSE $2 END,
                        '__ID__', id),
                        '__START__', format('{{\"year\":%s,\"month\":%s,\"day\":%s}}', extract(year FROM term_start)::int, extract(month FROM term_start)::int, extract(day FROM term_start)::int)),
                        '__END__', format('{{\"year\":%s,\"month\":%s,\"day\":%s}}', extract(year FROM term_end)::int, extract(month FROM term_end)::int, extract(day FROM term_end)::int)),
                    to_char(term_end + 1, 'YYYYMMDD')::bigint, NULL
             FROM d"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(template("autodesk")?)
            .bind(template("microsoft")?)
            .execute(&mut conn)
            .await?;
        from = to + 1;
        eprintln!("seeded {from}/{total}");
    }
    // A steady-state table is vacuumed: do it now rather than let autovacuum and the checkpoint
    // of the bulk load run during the timed part.
    sqlx::query("VACUUM (ANALYZE) subscriptions")
        .execute(&mut conn)
        .await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
        eprintln!("CHECKPOINT skipped: {e}");
    }
    let seeded = seed_start.elapsed();
    let due_count: i64 = sqlx::query(
        "SELECT count(*) AS n FROM subscriptions WHERE clock_id = '' AND due_day <= $1",
    )
    .bind(today.key())
    .fetch_one(&mut conn)
    .await?
    .try_get("n")?;
    println!(
        "seeded {total} subscriptions in {:.1}s; {due_count} with a term end before {} (due)",
        seeded.as_secs_f64(),
        today.iso()
    );

    println!("EXPLAIN of the scheduler's claim query:");
    let explain = format!(
        "EXPLAIN SELECT due_day, id, doc FROM subscriptions WHERE clock_id = '' AND due_day <= {today} AND (due_day, id) > (20250101, 'sub-00000499') ORDER BY due_day, id LIMIT {batch} FOR UPDATE SKIP LOCKED",
        today = today.key()
    );
    for row in sqlx::query(sqlx::AssertSqlSafe(explain))
        .fetch_all(&mut conn)
        .await?
    {
        let line: String = row.try_get(0)?;
        println!("  {line}");
    }

    let started = Instant::now();
    let handled = app.run_scheduler_once().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let orders: i64 =
        sqlx::query("SELECT count(*) AS n FROM orders WHERE request_key LIKE 'renewal:%'")
            .fetch_one(&mut conn)
            .await?
            .try_get("n")?;
    let left: i64 = sqlx::query(
        "SELECT count(*) AS n FROM subscriptions WHERE clock_id = '' AND due_day <= $1",
    )
    .bind(today.key())
    .fetch_one(&mut conn)
    .await?
    .try_get("n")?;
    println!(
        "scheduler: {handled} term ends handled, {orders} renewal orders placed in {elapsed:.2}s = {:.0} renewals/s (batch {batch}); {left} still due",
        orders as f64 / elapsed
    );
    // A second pass finds nothing: no renewal twice.
    let again = app.run_scheduler_once().await?;
    println!("second pass: {again} term ends (expected 0)");

    conn.close().await?;
    drop(app);
    if std::env::var_os("BENCH_KEEP").is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut root)
        .await?;
    } else {
        println!("kept database {name}");
    }
    Ok(())
}
