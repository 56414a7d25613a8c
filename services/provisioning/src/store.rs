//! SQL of the provisioning service (portable over PostgreSQL and SQLite via `sqlx::Any`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

/// Columns read for a job (everything but nothing computed).
const COLUMNS: &str = "id, request_id, order_id, order_number, order_item_id, reseller_id, customer_id, vendor_id, connector, \
    plan_id, change_type, quantity, state, generation, attempts, error_counts, next_attempt_at, \
    vendor_reference, vendor_subscription_id, last_vendor_response, last_error, last_error_at, checkpoint, parameters, request, \
    created_at, updated_at, traceparent";

/// A stored job row.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) order_id: String,
    pub(crate) order_number: String,
    pub(crate) order_item_id: String,
    pub(crate) reseller_id: String,
    pub(crate) customer_id: String,
    pub(crate) vendor_id: String,
    pub(crate) connector: String,
    pub(crate) plan_id: String,
    pub(crate) change_type: String,
    pub(crate) quantity: i64,
    pub(crate) state: String,
    pub(crate) generation: i64,
    pub(crate) attempts: i64,
    pub(crate) error_counts: String,
    pub(crate) next_attempt_at: i64,
    pub(crate) vendor_reference: String,
    pub(crate) vendor_subscription_id: String,
    pub(crate) last_vendor_response: String,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_at: Option<i64>,
    pub(crate) checkpoint: String,
    pub(crate) parameters: String,
    pub(crate) request: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) traceparent: String,
}

impl JobRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            request_id: row.try_get("request_id")?,
            order_id: row.try_get("order_id")?,
            order_number: row.try_get("order_number")?,
            order_item_id: row.try_get("order_item_id")?,
            reseller_id: row.try_get("reseller_id")?,
            customer_id: row.try_get("customer_id")?,
            vendor_id: row.try_get("vendor_id")?,
            connector: row.try_get("connector")?,
            plan_id: row.try_get("plan_id")?,
            change_type: row.try_get("change_type")?,
            quantity: row.try_get("quantity")?,
            state: row.try_get("state")?,
            generation: row.try_get("generation")?,
            attempts: row.try_get("attempts")?,
            error_counts: row.try_get("error_counts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            vendor_reference: row.try_get("vendor_reference")?,
            vendor_subscription_id: row.try_get("vendor_subscription_id")?,
            last_vendor_response: row.try_get("last_vendor_response")?,
            last_error: row.try_get("last_error")?,
            last_error_at: row.try_get("last_error_at")?,
            checkpoint: row.try_get("checkpoint")?,
            parameters: row.try_get("parameters")?,
            request: row.try_get("request")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            traceparent: row.try_get("traceparent")?,
        })
    }
}

fn rows(rows: &[AnyRow]) -> Result<Vec<JobRow>, sqlx::Error> {
    rows.iter().map(JobRow::from_row).collect()
}

/// A job to create.
#[derive(Debug, Clone)]
pub(crate) struct NewJob {
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) order_id: String,
    pub(crate) order_number: String,
    pub(crate) order_item_id: String,
    pub(crate) reseller_id: String,
    pub(crate) customer_id: String,
    pub(crate) vendor_id: String,
    pub(crate) connector: String,
    pub(crate) plan_id: String,
    pub(crate) change_type: String,
    pub(crate) quantity: i64,
    pub(crate) parameters: String,
    pub(crate) request: Vec<u8>,
    /// W3C `traceparent` of the event that asked for the job.
    pub(crate) traceparent: String,
}

/// Inserts a job unless one exists for its request id; whether it was inserted.
pub(crate) async fn insert_job(
    conn: &mut AnyConnection,
    job: &NewJob,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO provisioning_jobs (id, request_id, order_id, order_number, order_item_id, reseller_id, customer_id, vendor_id, \
         connector, plan_id, change_type, quantity, state, next_attempt_at, parameters, request, created_at, updated_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'queued', $13, $14, $15, $13, $13, $16) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(job.id.clone())
    .bind(job.request_id.clone())
    .bind(job.order_id.clone())
    .bind(job.order_number.clone())
    .bind(job.order_item_id.clone())
    .bind(job.reseller_id.clone())
    .bind(job.customer_id.clone())
    .bind(job.vendor_id.clone())
    .bind(job.connector.clone())
    .bind(job.plan_id.clone())
    .bind(job.change_type.clone())
    .bind(job.quantity)
    .bind(now)
    .bind(job.parameters.clone())
    .bind(job.request.clone())
    .bind(job.traceparent.clone())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Cancels the job of `request_id` if it is still queued (never claimed by a worker).
pub(crate) async fn cancel_queued_by_request(
    conn: &mut AnyConnection,
    request_id: &str,
    now: i64,
) -> Result<Option<JobRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE provisioning_jobs SET state = 'cancelled', updated_at = $1 WHERE request_id = $2 AND state = 'queued' RETURNING {COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(request_id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(JobRow::from_row).transpose()
}

/// Claims up to `limit` due jobs for `owner` until `lease_until` (queued jobs become submitted).
/// Returns the claimed rows as they were before the claim. Run inside a transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn claim(
    conn: &mut AnyConnection,
    skip_locked: &str,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
    skip_connectors: &[&str],
) -> Result<Vec<JobRow>, sqlx::Error> {
    let skip = if skip_connectors.is_empty() {
        String::new()
    } else {
        let params: Vec<String> = (0..skip_connectors.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        format!(" AND connector NOT IN ({})", params.join(", "))
    };
    let select = format!(
        "SELECT {COLUMNS} FROM provisioning_jobs WHERE state IN ('queued', 'submitted', 'waiting_on_vendor') \
         AND next_attempt_at <= $1 AND lease_until < $1{skip} ORDER BY next_attempt_at LIMIT $2{skip_locked}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(select))
        .bind(now)
        .bind(limit);
    for connector in skip_connectors {
        query = query.bind(connector.to_string());
    }
    let claimed = rows(&query.fetch_all(&mut *conn).await?)?;
    if claimed.is_empty() {
        return Ok(claimed);
    }
    let ids: Vec<String> = (0..claimed.len()).map(|i| format!("${}", i + 4)).collect();
    let update = format!(
        "UPDATE provisioning_jobs SET lease_owner = $1, lease_until = $2, updated_at = $3, \
         state = CASE WHEN state = 'queued' THEN 'submitted' ELSE state END \
         WHERE lease_until < $3 AND id IN ({}) RETURNING id",
        ids.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(update))
        .bind(owner.to_string())
        .bind(lease_until)
        .bind(now);
    for job in &claimed {
        query = query.bind(job.id.clone());
    }
    let taken: Vec<String> = query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    Ok(claimed
        .into_iter()
        .filter(|job| taken.contains(&job.id))
        .collect())
}

/// Stores a checkpoint if `owner` still holds the job.
pub(crate) async fn save_checkpoint(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    checkpoint: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE provisioning_jobs SET checkpoint = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4")
        .bind(checkpoint.to_string())
        .bind(now)
        .bind(id.to_string())
        .bind(owner.to_string())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The result of a round, as stored.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) state: String,
    pub(crate) next_attempt_at: i64,
    pub(crate) vendor_reference: String,
    pub(crate) vendor_subscription_id: String,
    pub(crate) last_vendor_response: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) checkpoint: String,
    pub(crate) error_counts: String,
}

/// Records a round's outcome and releases the lease, if `owner` still holds the job.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    outcome: &Outcome,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE provisioning_jobs SET state = $1, next_attempt_at = $2, vendor_reference = $3, vendor_subscription_id = $4, \
         last_vendor_response = COALESCE($5, last_vendor_response), last_error = COALESCE($6, last_error), \
         last_error_at = CASE WHEN $6 IS NULL THEN last_error_at ELSE $7 END, checkpoint = $8, error_counts = $9, \
         attempts = attempts + 1, lease_owner = NULL, lease_until = 0, updated_at = $7 WHERE id = $10 AND lease_owner = $11",
    )
    .bind(outcome.state.clone())
    .bind(outcome.next_attempt_at)
    .bind(outcome.vendor_reference.clone())
    .bind(outcome.vendor_subscription_id.clone())
    .bind(outcome.last_vendor_response.clone())
    .bind(outcome.last_error.clone())
    .bind(now)
    .bind(outcome.checkpoint.clone())
    .bind(outcome.error_counts.clone())
    .bind(id.to_string())
    .bind(owner.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a claimed job back without a vendor call (e.g. the vendor gate is closed).
pub(crate) async fn release(
    pool: &AnyPool,
    id: &str,
    owner: &str,
    next_attempt_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE provisioning_jobs SET next_attempt_at = $1, lease_owner = NULL, lease_until = 0, updated_at = $2 WHERE id = $3 AND lease_owner = $4",
    )
    .bind(next_attempt_at)
    .bind(now)
    .bind(id.to_string())
    .bind(owner.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One job.
pub(crate) async fn get(pool: &AnyPool, id: &str) -> Result<Option<JobRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM provisioning_jobs WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(JobRow::from_row).transpose()
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) states: Vec<String>,
    pub(crate) vendor_id: Option<String>,
    pub(crate) reseller_id: Option<String>,
    pub(crate) order_id: Option<String>,
    /// Keyset cursor: ids before this one (newest first).
    pub(crate) before_id: Option<String>,
}

/// Jobs matching `filter`, newest first, at most `limit`.
pub(crate) async fn list(
    pool: &AnyPool,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let param = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if !filter.states.is_empty() {
        let list: Vec<String> = filter
            .states
            .iter()
            .map(|s| param(s.clone(), &mut binds))
            .collect();
        clauses.push(format!("state IN ({})", list.join(", ")));
    }
    for (column, value) in [
        ("vendor_id", &filter.vendor_id),
        ("reseller_id", &filter.reseller_id),
        ("order_id", &filter.order_id),
        ("id", &filter.before_id),
    ] {
        if let Some(value) = value {
            let p = param(value.clone(), &mut binds);
            let op = if column == "id" { "<" } else { "=" };
            clauses.push(format!("{column} {op} {p}"));
        }
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM provisioning_jobs{filter_sql} ORDER BY id DESC LIMIT ${}",
        binds.len() + 1
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    rows(&query.bind(limit).fetch_all(pool).await?)
}

/// Operator changes to a job, applied only if the job is still in `expected_state` and not leased.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpsChange {
    pub(crate) state: Option<String>,
    pub(crate) next_attempt_at: Option<i64>,
    /// Start over at the vendor: new generation, empty checkpoint and error counts.
    pub(crate) restart: bool,
    pub(crate) parameters: Option<String>,
}

/// Applies an operator change; whether it applied.
pub(crate) async fn ops_update(
    conn: &mut AnyConnection,
    id: &str,
    expected_state: &str,
    change: &OpsChange,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let restart = i64::from(change.restart);
    let done = sqlx::query(
        "UPDATE provisioning_jobs SET state = COALESCE($1, state), next_attempt_at = COALESCE($2, next_attempt_at), \
         parameters = COALESCE($3, parameters), \
         generation = generation + $4, \
         checkpoint = CASE WHEN $4 = 1 THEN '{}' ELSE checkpoint END, \
         error_counts = CASE WHEN $4 = 1 THEN '{}' ELSE error_counts END, \
         vendor_reference = CASE WHEN $4 = 1 THEN '' ELSE vendor_reference END, \
         updated_at = $5 WHERE id = $6 AND state = $7",
    )
    .bind(change.state.clone())
    .bind(change.next_attempt_at)
    .bind(change.parameters.clone())
    .bind(restart)
    .bind(now)
    .bind(id.to_string())
    .bind(expected_state.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A vendor account remembered for a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) account_id: String,
    pub(crate) domain: String,
    pub(crate) agreement_confirmed: bool,
}

/// The account of `customer_id` at `connector`.
pub(crate) async fn account(
    pool: &AnyPool,
    connector: &str,
    customer_id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query("SELECT account_id, domain, agreement_confirmed FROM provisioning_vendor_accounts WHERE connector = $1 AND customer_id = $2")
        .bind(connector.to_string())
        .bind(customer_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(Account {
            account_id: r.try_get("account_id")?,
            domain: r.try_get("domain")?,
            agreement_confirmed: r.try_get::<i64, _>("agreement_confirmed")? != 0,
        })
    })
    .transpose()
}

/// How many other jobs of `customer_id` at `connector` are queued, running or succeeded (one
/// of them may be creating, or have created, the customer's vendor account).
pub(crate) async fn sibling_jobs(
    pool: &AnyPool,
    connector: &str,
    customer_id: &str,
    job_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM provisioning_jobs WHERE connector = $1 AND customer_id = $2 AND id <> $3 AND state NOT IN ('failed', 'inquiring', 'cancelled')")
        .bind(connector.to_string())
        .bind(customer_id.to_string())
        .bind(job_id.to_string())
        .fetch_one(pool)
        .await
}

/// Remembers the account of `customer_id` at `connector`.
pub(crate) async fn upsert_account(
    conn: &mut AnyConnection,
    connector: &str,
    customer_id: &str,
    account: &Account,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provisioning_vendor_accounts (connector, customer_id, account_id, domain, agreement_confirmed, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, customer_id) DO UPDATE SET account_id = excluded.account_id, \
         domain = excluded.domain, agreement_confirmed = excluded.agreement_confirmed, updated_at = excluded.updated_at",
    )
    .bind(connector.to_string())
    .bind(customer_id.to_string())
    .bind(account.account_id.clone())
    .bind(account.domain.clone())
    .bind(i64::from(account.agreement_confirmed))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks `connector` misconfigured (its vendor refused our credentials or setup); whether it
/// was not already (then staff are alerted). Run inside the transaction of the outcome.
pub(crate) async fn mark_misconfigured(
    conn: &mut AnyConnection,
    connector: &str,
    vendor_code: &str,
    message: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "INSERT INTO provisioning_connector_health (connector, status, vendor_code, message, changed_at) \
         VALUES ($1, 'misconfigured', $2, $3, $4) ON CONFLICT (connector) DO UPDATE SET status = excluded.status, \
         vendor_code = excluded.vendor_code, message = excluded.message, changed_at = excluded.changed_at \
         WHERE provisioning_connector_health.status <> 'misconfigured' RETURNING connector",
    )
    .bind(connector.to_string())
    .bind(vendor_code.to_string())
    .bind(message.to_string())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(changed.is_some())
}

/// Marks `connector` healthy again; whether it was misconfigured. Locks nothing while the
/// connector is healthy (the common case).
pub(crate) async fn mark_healthy(
    conn: &mut AnyConnection,
    connector: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE provisioning_connector_health SET status = 'ok', vendor_code = '', message = '', changed_at = $1 \
         WHERE connector = $2 AND status = 'misconfigured' RETURNING connector",
    )
    .bind(now)
    .bind(connector.to_string())
    .fetch_optional(conn)
    .await?;
    Ok(changed.is_some())
}

/// Makes the jobs of `connector` that wait on a configuration probe due now (and not leased);
/// how many.
pub(crate) async fn wake_configuration_waiters(
    pool: &AnyPool,
    connector: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE provisioning_jobs SET next_attempt_at = $1 WHERE connector = $2 \
         AND state IN ('queued', 'submitted', 'waiting_on_vendor') AND next_attempt_at > $1 AND lease_until < $1 \
         AND last_error LIKE '%\"class\":\"configuration\"%'",
    )
    .bind(now)
    .bind(connector.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A reseller relationship request being watched (existing Microsoft tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TenantLinkRow {
    pub(crate) customer_id: String,
    pub(crate) reseller_id: String,
    pub(crate) domain: String,
    pub(crate) invitation_url: String,
    pub(crate) checks: i64,
    pub(crate) updated_at: i64,
}

/// Starts (or restarts, for a new domain) watching the relationship request of `customer_id`.
pub(crate) async fn request_tenant_link(
    conn: &mut AnyConnection,
    customer_id: &str,
    reseller_id: &str,
    domain: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provisioning_tenant_links (customer_id, reseller_id, domain, state, next_check_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (customer_id) DO UPDATE SET reseller_id = excluded.reseller_id, \
         domain = excluded.domain, state = 'pending', tenant_id = '', checks = 0, next_check_at = excluded.next_check_at, \
         updated_at = excluded.updated_at, \
         invitation_url = CASE WHEN provisioning_tenant_links.domain = excluded.domain THEN provisioning_tenant_links.invitation_url ELSE '' END",
    )
    .bind(customer_id.to_string())
    .bind(reseller_id.to_string())
    .bind(domain.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pending relationship requests due for a look.
pub(crate) async fn due_tenant_links(
    pool: &AnyPool,
    now: i64,
    limit: i64,
) -> Result<Vec<TenantLinkRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT customer_id, reseller_id, domain, invitation_url, checks, updated_at FROM provisioning_tenant_links \
         WHERE state = 'pending' AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TenantLinkRow {
                customer_id: r.try_get("customer_id")?,
                reseller_id: r.try_get("reseller_id")?,
                domain: r.try_get("domain")?,
                invitation_url: r.try_get("invitation_url")?,
                checks: r.try_get("checks")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Records a look at a pending request unless it changed meanwhile (another replica looked, or
/// a new request replaced it); whether this look was recorded.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_tenant_link(
    conn: &mut AnyConnection,
    seen: &TenantLinkRow,
    invitation_url: &str,
    tenant_id: &str,
    next_check_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let state = if tenant_id.is_empty() {
        "pending"
    } else {
        "linked"
    };
    let done = sqlx::query(
        "UPDATE provisioning_tenant_links SET invitation_url = $1, tenant_id = $2, state = $3, checks = checks + 1, \
         next_check_at = $4, updated_at = $5 WHERE customer_id = $6 AND domain = $7 AND state = 'pending' AND updated_at = $8",
    )
    .bind(invitation_url.to_string())
    .bind(tenant_id.to_string())
    .bind(state.to_string())
    .bind(next_check_at)
    .bind(now)
    .bind(seen.customer_id.clone())
    .bind(seen.domain.clone())
    .bind(seen.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// How many relationship requests are pending.
pub(crate) async fn pending_tenant_links(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM provisioning_tenant_links WHERE state = 'pending'")
        .fetch_one(pool)
        .await
}
