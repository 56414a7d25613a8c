//! Test-clock benchmark on PostgreSQL: 10,000 ACTIVE, auto-renewing annual subscriptions of a
//! customer attached to a sandbox test clock, their term ends spread over the year after the
//! clock's time; the clock is advanced by a year (`App::advance_test_clock`, the code behind
//! `AdvanceTestClock`) and the run checks that every subscription was renewed exactly once (one
//! renewal order each, none twice, nothing still due) and prints the plans of the clock's
//! due-work queries.
//!
//! Run (one command):
//! ```text
//! cargo bench -p ordering --bench test_clock
//! BENCH_SUBSCRIPTIONS=20000 BENCH_BATCH=1000 cargo bench -p ordering --bench test_clock
//! ```
//! PostgreSQL comes from `MARKETPLACE_TEST_DATABASE_URL` (an admin URL), else
//! `postgres://postgres@127.0.0.1:5432/postgres`; each run creates a fresh database and drops it
//! (set `BENCH_KEEP=1` to keep it). No provisioning runs here, so renewal orders stay in flight
//! (`test_clock_settle_ms = 0`: the advance does not wait for them).

use std::sync::Arc;
use std::time::Instant;

use marketplace_platform as platform;
use ordering::domain::order::ItemPrice;
use ordering::domain::plan::PlanInfo;
use ordering::domain::subscription::{Day, Subscription, SubscriptionStatus};
use platform::bus::InProcessBus;
use platform::clock::{Clock, OffsetClock, to_micros};
use platform::identity::IdentityKey;
use sqlx::{Connection, Row};

const CLOCK: &str = "clock-bench";

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

async fn count(conn: &mut sqlx::AnyConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(conn)
        .await?
        .try_get("n")?)
}

async fn explain(conn: &mut sqlx::AnyConnection, what: &str, sql: &str) -> anyhow::Result<()> {
    println!("EXPLAIN {what}:");
    for row in sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .fetch_all(conn)
        .await?
    {
        let line: String = row.try_get(0)?;
        println!("  {line}");
    }
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let total = env("BENCH_SUBSCRIPTIONS", 10_000);
    let batch = env("BENCH_BATCH", 500);
    let admin = std::env::var("MARKETPLACE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| platform::db::testing::DEFAULT_ADMIN_URL.to_string());
    let name = format!("ordering_clock_bench_{}", uuid::Uuid::new_v4().simple());
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
    settings.sandbox = true;
    settings.test_clock_settle_ms = 0;
    settings.scheduler_batch = batch;
    settings.scheduler_concurrency = env("BENCH_CONCURRENCY", 4) as usize;
    let deps = ordering::Dependencies {
        bus: Arc::new(InProcessBus::new()),
        identity: IdentityKey::random(),
        clock: clock.clone(),
        page_tokens: platform::paging::PageTokens::random(),
    };
    let app = ordering::App::build(settings, deps).await?;

    // The clock starts today at 10:00; term ends fall on each of the next 365 days.
    let today = Day::of(clock.now().date());
    let start = today
        .start_micros()
        .ok_or_else(|| anyhow::anyhow!("today"))?
        + 10 * 3_600_000_000;
    let today_sql = today.iso();
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    sqlx::query(
        "INSERT INTO test_clocks (id, reseller_id, name, frozen_at, status, advancing_to, created_at, updated_at) VALUES ($1, 'reseller-demo', 'benchmark', $2, 'READY', NULL, $3, $3)",
    )
    .bind(CLOCK)
    .bind(start)
    .bind(to_micros(clock.now()))
    .execute(&mut conn)
    .await?;
    sqlx::query("INSERT INTO customer_clocks (customer_id, clock_id) VALUES ('customer-demo', $1)")
        .bind(CLOCK)
        .execute(&mut conn)
        .await?;
    let seed_start = Instant::now();
    let sql = format!(
        "WITH g AS (
           SELECT n,
                  CASE WHEN n % 2 = 0 THEN 'autodesk' ELSE 'microsoft' END AS vendor,
                  DATE '{today_sql}' + ((n * 365) / {total})::int AS term_end
           FROM generate_series(0, {total} - 1) AS n),
         d AS (
           SELECT n, vendor, term_end, (term_end - INTERVAL '1 year' + INTERVAL '1 day')::date AS term_start,
                  'sub-' || lpad(n::text, 8, '0') AS id
           FROM g)
         INSERT INTO subscriptions (id, reseller_id, customer_id, vendor_id, status, order_item_id, search_text,
                                    term_end_day, created_at, updated_at, version, doc, due_day, remind_at, clock_id)
         SELECT id, 'reseller-demo', 'customer-demo', vendor, 'SUBSCRIPTION_STATUS_ACTIVE', 'seed-' || id,
                vendor || ' bench plan',
                to_char(term_end, 'YYYYMMDD')::bigint, n, n, 1,
                replace(replace(replace(CASE WHEN vendor = 'autodesk' THEN $1 ELSE $2 END,
                    '__ID__', id),
                    '__START__', format('{{\"year\":%s,\"month\":%s,\"day\":%s}}', extract(year FROM term_start)::int, extract(month FROM term_start)::int, extract(day FROM term_start)::int)),
                    '__END__', format('{{\"year\":%s,\"month\":%s,\"day\":%s}}', extract(year FROM term_end)::int, extract(month FROM term_end)::int, extract(day FROM term_end)::int)),
                to_char(term_end + 1, 'YYYYMMDD')::bigint, NULL, $3
         FROM d"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(template("autodesk")?)
        .bind(template("microsoft")?)
        .bind(CLOCK)
        .execute(&mut conn)
        .await?;
    sqlx::query("VACUUM (ANALYZE) subscriptions")
        .execute(&mut conn)
        .await?;
    println!(
        "seeded {total} subscriptions on test clock {CLOCK} in {:.1}s (term ends over the 365 days from {})",
        seed_start.elapsed().as_secs_f64(),
        today.iso()
    );

    let year_later = start + 366 * 86_400_000_000;
    let started = Instant::now();
    let handled = app.advance_test_clock(CLOCK, year_later).await?;
    let elapsed = started.elapsed().as_secs_f64();

    let orders = count(
        &mut conn,
        "SELECT count(*) AS n FROM orders WHERE request_key LIKE 'renewal:%'",
    )
    .await?;
    let renewed = count(
        &mut conn,
        "SELECT count(DISTINCT split_part(request_key, ':', 2)) AS n FROM orders WHERE request_key LIKE 'renewal:%'",
    )
    .await?;
    let still_due = count(
        &mut conn,
        &format!("SELECT count(*) AS n FROM subscriptions WHERE clock_id = '{CLOCK}' AND due_day IS NOT NULL"),
    )
    .await?;
    let clock_row = sqlx::query("SELECT frozen_at, status FROM test_clocks WHERE id = $1")
        .bind(CLOCK)
        .fetch_one(&mut conn)
        .await?;
    let frozen: i64 = clock_row.try_get("frozen_at")?;
    let status: String = clock_row.try_get("status")?;
    println!(
        "advance by a year: {handled} term ends handled, {orders} renewal orders for {renewed} subscriptions in {elapsed:.2}s (target <= 10 s); {still_due} still due; clock {status} at its target: {}",
        frozen == year_later
    );
    let exactly_once =
        orders == total && renewed == total && handled as i64 == total && still_due == 0;
    println!(
        "every renewal exactly once: {}",
        if exactly_once { "yes" } else { "NO" }
    );

    let day_key = today.key();
    explain(
        &mut conn,
        "the clock's next term end (next_due)",
        &format!("SELECT due_day FROM subscriptions WHERE clock_id = '{CLOCK}' AND due_day <= {day_key} ORDER BY due_day LIMIT 1"),
    )
    .await?;
    explain(
        &mut conn,
        "the clock's term-end claim",
        &format!("SELECT due_day, id, doc FROM subscriptions WHERE clock_id = '{CLOCK}' AND due_day <= {day_key} AND (due_day, id) > (20250101, 'sub-00000499') ORDER BY due_day, id LIMIT {batch} FOR UPDATE SKIP LOCKED"),
    )
    .await?;
    explain(
        &mut conn,
        "the clock's reminder claim",
        &format!("SELECT doc FROM subscriptions WHERE clock_id = '{CLOCK}' AND remind_at <= {start} ORDER BY remind_at LIMIT {batch} FOR UPDATE SKIP LOCKED"),
    )
    .await?;

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
    if !exactly_once {
        anyhow::bail!("renewals were not each done exactly once");
    }
    Ok(())
}
