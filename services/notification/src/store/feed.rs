//! The in-app feed.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::placeholders;

/// A feed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Insertion order (cursor).
    pub seq: i64,
    /// Id.
    pub id: String,
    /// `reseller` or `staff`.
    pub audience: String,
    /// Reseller concerned.
    pub reseller_id: String,
    /// Customer concerned.
    pub customer_id: String,
    /// Kind name.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Link.
    pub link: String,
    /// Order.
    pub order_id: String,
    /// Subscription.
    pub subscription_id: String,
    /// Causing event.
    pub event_id: String,
    /// When read.
    pub read_at: Option<i64>,
    /// When created.
    pub created_at: i64,
}

/// Who is looking at the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedScope {
    /// One reseller's notifications.
    Reseller(String),
    /// Staff alerts of every reseller.
    Staff,
}

impl FeedScope {
    /// Whether a row belongs to this scope.
    pub fn contains(&self, row: &NotificationRow) -> bool {
        match self {
            FeedScope::Reseller(r) => row.audience == "reseller" && &row.reseller_id == r,
            FeedScope::Staff => row.audience == "staff",
        }
    }

    /// A stable key (page-token scope).
    pub fn key(&self) -> String {
        match self {
            FeedScope::Reseller(r) => format!("reseller:{r}"),
            FeedScope::Staff => "staff".into(),
        }
    }

    fn filter(&self) -> (&'static str, String, String) {
        match self {
            FeedScope::Reseller(r) => (
                "audience = $1 AND reseller_id = $2",
                "reseller".into(),
                r.clone(),
            ),
            FeedScope::Staff => ("audience = $1 AND $2 = ''", "staff".into(), String::new()),
        }
    }
}

const COLUMNS: &str = "seq, id, audience, reseller_id, customer_id, kind, title, body, link, order_id, subscription_id, event_id, read_at, created_at";

fn from_row(r: &AnyRow) -> Result<NotificationRow, sqlx::Error> {
    Ok(NotificationRow {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        audience: r.try_get("audience")?,
        reseller_id: r.try_get("reseller_id")?,
        customer_id: r.try_get("customer_id")?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        link: r.try_get("link")?,
        order_id: r.try_get("order_id")?,
        subscription_id: r.try_get("subscription_id")?,
        event_id: r.try_get("event_id")?,
        read_at: r.try_get("read_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Inserts a feed row; `false` when the event already produced it.
pub async fn insert(conn: &mut AnyConnection, n: &NotificationRow) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notifications (id, audience, reseller_id, customer_id, kind, title, body, link, order_id, subscription_id, event_id, read_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12) ON CONFLICT DO NOTHING",
    )
    .bind(n.id.clone())
    .bind(n.audience.clone())
    .bind(n.reseller_id.clone())
    .bind(n.customer_id.clone())
    .bind(n.kind.clone())
    .bind(n.title.clone())
    .bind(n.body.clone())
    .bind(n.link.clone())
    .bind(n.order_id.clone())
    .bind(n.subscription_id.clone())
    .bind(n.event_id.clone())
    .bind(n.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of the feed, newest first, strictly older than `before_seq`.
pub async fn list(
    pool: &AnyPool,
    scope: &FeedScope,
    unread_only: bool,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    let (filter, a, b) = scope.filter();
    let unread = if unread_only {
        " AND read_at IS NULL"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE {filter}{unread} AND seq < $3 ORDER BY seq DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a)
        .bind(b)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Unread rows in scope.
pub async fn unread_count(pool: &AnyPool, scope: &FeedScope) -> Result<i64, sqlx::Error> {
    let (filter, a, b) = scope.filter();
    let sql = format!("SELECT COUNT(*) AS n FROM notifications WHERE {filter} AND read_at IS NULL");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a)
        .bind(b)
        .fetch_one(pool)
        .await?;
    row.try_get("n")
}

/// Marks rows read (all unread in scope when `ids` is empty); returns how many changed.
pub async fn mark_read(
    pool: &AnyPool,
    scope: &FeedScope,
    ids: &[String],
    now: i64,
) -> Result<u64, sqlx::Error> {
    let (filter, a, b) = scope.filter();
    let ids_filter = if ids.is_empty() {
        String::new()
    } else {
        format!(" AND id IN ({})", placeholders(4, ids.len()))
    };
    let sql = format!(
        "UPDATE notifications SET read_at = $3 WHERE {filter} AND read_at IS NULL{ids_filter}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(a)
        .bind(b)
        .bind(now);
    for id in ids {
        q = q.bind(id.clone());
    }
    Ok(q.execute(pool).await?.rows_affected())
}

/// Rows after `seq` in insertion order (for the watch hub).
pub async fn after(
    pool: &AnyPool,
    seq: i64,
    limit: i64,
) -> Result<Vec<NotificationRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seq)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The highest seq so far.
pub async fn max_seq(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM notifications")
        .fetch_one(pool)
        .await?;
    row.try_get("n")
}

/// Rows with the given seqs (late commits the watch hub skipped over).
pub async fn by_seqs(pool: &AnyPool, seqs: &[i64]) -> Result<Vec<NotificationRow>, sqlx::Error> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let list = seqs
        .iter()
        .take(500)
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Safe: the list holds only integers.
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE seq IN ({list}) ORDER BY seq");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::from_row;

    #[tokio::test]
    async fn a_row_with_a_missing_column_is_an_error_not_a_panic() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        let row = sqlx::query("SELECT 1 AS seq, 'id' AS id")
            .fetch_one(&pool)
            .await
            .expect("row");
        assert!(from_row(&row).is_err());
    }
}
