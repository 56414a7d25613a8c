//! SQL of the gateway's own tables: API keys and idempotency records. Portable SQL over
//! `sqlx::Any` (`$1` placeholders, BIGINT microsecond timestamps).

use platform::db::Database;
use platform::error::ServiceResult;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A stored API key (never the secret, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiKeyRecord {
    /// Key id.
    pub(crate) id: String,
    /// Reseller the key acts for.
    pub(crate) reseller_id: String,
    /// Name given by its creator.
    pub(crate) name: String,
    /// Role claim of the key (`reseller_admin` or `reseller_user`).
    pub(crate) role: String,
    /// First characters of the key.
    pub(crate) prefix: String,
    /// Who created it.
    pub(crate) created_by_subject: String,
    /// Display name of the creator.
    pub(crate) created_by_name: String,
    /// Creation time (micros).
    pub(crate) create_time: i64,
    /// Last successful use (micros).
    pub(crate) last_used_time: Option<i64>,
    /// Revocation time (micros).
    pub(crate) revoke_time: Option<i64>,
}

const API_KEY_COLUMNS: &str = "id, reseller_id, name, role, prefix, created_by_subject, created_by_name, create_time, last_used_time, revoke_time";

fn api_key(row: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        reseller_id: row.try_get("reseller_id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        prefix: row.try_get("prefix")?,
        created_by_subject: row.try_get("created_by_subject")?,
        created_by_name: row.try_get("created_by_name")?,
        create_time: row.try_get("create_time")?,
        last_used_time: row.try_get("last_used_time")?,
        revoke_time: row.try_get("revoke_time")?,
    })
}

/// A stored idempotent response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyRecord {
    /// Hash of the method, route and body of the first request.
    pub(crate) request_hash: String,
    /// `pending` while the first request runs, then `done`.
    pub(crate) state: String,
    /// HTTP status of the first response.
    pub(crate) status_code: i64,
    /// Body of the first response.
    pub(crate) body: String,
    /// ETag header of the first response ("" when none).
    pub(crate) etag: String,
}

/// The gateway's repository.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: Database,
}

impl Store {
    /// A store over a migrated database.
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database (readiness checks).
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    /// Inserts a new API key.
    pub(crate) async fn insert_api_key(
        &self,
        key: &ApiKeyRecord,
        secret_hash: &str,
    ) -> ServiceResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, reseller_id, name, role, prefix, secret_hash, created_by_subject, created_by_name, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.id)
        .bind(&key.reseller_id)
        .bind(&key.name)
        .bind(&key.role)
        .bind(&key.prefix)
        .bind(secret_hash)
        .bind(&key.created_by_subject)
        .bind(&key.created_by_name)
        .bind(key.create_time)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The key with this secret hash.
    pub(crate) async fn api_key_by_hash(
        &self,
        secret_hash: &str,
    ) -> ServiceResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1"
        )))
        .bind(secret_hash)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(api_key).transpose()?)
    }

    /// One key by id.
    pub(crate) async fn api_key(&self, id: &str) -> ServiceResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(api_key).transpose()?)
    }

    /// Keys of a reseller (all resellers for `None`) after `after_id`, ordered by id.
    pub(crate) async fn list_api_keys(
        &self,
        reseller_id: Option<&str>,
        after_id: &str,
        limit: i64,
    ) -> ServiceResult<Vec<ApiKeyRecord>> {
        let rows = match reseller_id {
            Some(reseller) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE reseller_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                )))
                .bind(reseller)
                .bind(after_id)
                .bind(limit)
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2")))
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(self.db.pool())
                    .await?
            }
        };
        Ok(rows.iter().map(api_key).collect::<Result<_, _>>()?)
    }

    /// Marks a key revoked (keeps the first revocation time).
    pub(crate) async fn revoke_api_key(&self, id: &str, now: i64) -> ServiceResult<()> {
        sqlx::query("UPDATE api_keys SET revoke_time = $1 WHERE id = $2 AND revoke_time IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Records a use of a key, at most once per `granularity` micros to spare the database.
    pub(crate) async fn touch_api_key(
        &self,
        id: &str,
        now: i64,
        granularity: i64,
    ) -> ServiceResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_time = $1 WHERE id = $2 AND (last_used_time IS NULL OR last_used_time < $3)")
            .bind(now)
            .bind(id)
            .bind(now - granularity)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Claims an idempotency key: `Ok(None)` when this request is the first (a pending record
    /// was written) or takes over an identical request abandoned before `stale_before` (its
    /// client went away mid-flight), `Ok(Some(record))` when a record exists already.
    pub(crate) async fn claim_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: i64,
        expire: i64,
        stale_before: i64,
    ) -> ServiceResult<Option<IdempotencyRecord>> {
        sqlx::query("DELETE FROM idempotency_records WHERE scope = $1 AND idem_key = $2 AND expire_time < $3")
            .bind(scope)
            .bind(key)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_records (scope, idem_key, request_hash, state, status_code, body, etag, create_time, expire_time) \
             VALUES ($1, $2, $3, 'pending', 0, '', '', $4, $5) ON CONFLICT (scope, idem_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .bind(expire)
        .execute(self.db.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        let taken_over = sqlx::query(
            "UPDATE idempotency_records SET create_time = $1 \
             WHERE scope = $2 AND idem_key = $3 AND state = 'pending' AND request_hash = $4 AND create_time < $5",
        )
        .bind(now)
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(stale_before)
        .execute(self.db.pool())
        .await?;
        if taken_over.rows_affected() == 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT request_hash, state, status_code, body, etag FROM idempotency_records WHERE scope = $1 AND idem_key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(IdempotencyRecord {
            request_hash: row
                .try_get("request_hash")
                .map_err(platform::ServiceError::from)?,
            state: row.try_get("state").map_err(platform::ServiceError::from)?,
            status_code: row
                .try_get("status_code")
                .map_err(platform::ServiceError::from)?,
            body: row.try_get("body").map_err(platform::ServiceError::from)?,
            etag: row.try_get("etag").map_err(platform::ServiceError::from)?,
        }))
    }

    /// Stores the response of the first request.
    pub(crate) async fn complete_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        status: i64,
        body: &str,
        etag: &str,
    ) -> ServiceResult<()> {
        sqlx::query("UPDATE idempotency_records SET state = 'done', status_code = $1, body = $2, etag = $3 WHERE scope = $4 AND idem_key = $5")
            .bind(status)
            .bind(body)
            .bind(etag)
            .bind(scope)
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Forgets a pending key (the first request failed in a way worth retrying).
    pub(crate) async fn release_idempotency_key(
        &self,
        scope: &str,
        key: &str,
    ) -> ServiceResult<()> {
        sqlx::query("DELETE FROM idempotency_records WHERE scope = $1 AND idem_key = $2 AND state = 'pending'")
            .bind(scope)
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Deletes expired idempotency records.
    pub(crate) async fn purge_idempotency(&self, now: i64) -> ServiceResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_records WHERE expire_time < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
