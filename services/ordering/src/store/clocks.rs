//! Sandbox test clocks and the customers attached to them.

use platform::ServiceError;
use sqlx::{AnyConnection, Row};

use super::Store;
use crate::domain::test_clock::{ClockStatus, TestClock};

/// Order statuses of work in flight (placed, not yet carried out by provisioning).
const IN_FLIGHT: [&str; 2] = [
    "ORDER_STATUS_IN_PROGRESS",
    "ORDER_STATUS_PROVISIONING_STARTED",
];

impl Store {
    /// Inserts a clock.
    pub(crate) async fn insert_clock(
        &self,
        conn: &mut AnyConnection,
        c: &TestClock,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "INSERT INTO test_clocks (id, reseller_id, name, frozen_at, status, advancing_to, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id.clone())
        .bind(c.reseller_id.clone())
        .bind(c.name.clone())
        .bind(c.frozen_at)
        .bind(c.status.as_str())
        .bind(c.advancing_to)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A clock with its customers.
    pub(crate) async fn clock(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<TestClock>, ServiceError> {
        let row = sqlx::query(
            "SELECT id, reseller_id, name, frozen_at, status, advancing_to, created_at, updated_at FROM test_clocks WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut clock = clock_of(&row)?;
        clock.customer_ids = self.clock_customers(conn, id).await?;
        Ok(Some(clock))
    }

    /// The clocks of a reseller (None = all), newest first.
    pub(crate) async fn list_clocks(
        &self,
        conn: &mut AnyConnection,
        reseller_id: Option<&str>,
    ) -> Result<Vec<TestClock>, ServiceError> {
        let rows = sqlx::query(
            "SELECT id, reseller_id, name, frozen_at, status, advancing_to, created_at, updated_at FROM test_clocks WHERE ($1 = '' OR reseller_id = $1) ORDER BY created_at DESC, id LIMIT 1000",
        )
        .bind(reseller_id.unwrap_or_default().to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut clocks = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut c = clock_of(row)?;
            c.customer_ids = self.clock_customers(conn, &c.id).await?;
            clocks.push(c);
        }
        Ok(clocks)
    }

    async fn clock_customers(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query(
            "SELECT customer_id FROM customer_clocks WHERE clock_id = $1 ORDER BY customer_id",
        )
        .bind(id.to_string())
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(|r| r.try_get("customer_id").map_err(Into::into))
            .collect()
    }

    /// Saves the time, status and target of a clock.
    pub(crate) async fn update_clock(
        &self,
        conn: &mut AnyConnection,
        c: &TestClock,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE test_clocks SET frozen_at = $1, status = $2, advancing_to = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(c.frozen_at)
        .bind(c.status.as_str())
        .bind(c.advancing_to)
        .bind(c.updated_at)
        .bind(c.id.clone())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Marks a READY clock ADVANCING to `to`; false when it was not READY (a concurrent advance).
    pub(crate) async fn start_advance(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        to: i64,
        now: i64,
    ) -> Result<bool, ServiceError> {
        let rows = sqlx::query(
            "UPDATE test_clocks SET status = 'ADVANCING', advancing_to = $1, updated_at = $2 WHERE id = $3 AND status = 'READY' AND frozen_at < $1",
        )
        .bind(to)
        .bind(now)
        .bind(id.to_string())
        .execute(conn)
        .await?
        .rows_affected();
        Ok(rows == 1)
    }

    /// Attaches a customer to a clock.
    pub(crate) async fn attach_customer(
        &self,
        conn: &mut AnyConnection,
        clock_id: &str,
        customer_id: &str,
    ) -> Result<(), ServiceError> {
        sqlx::query("INSERT INTO customer_clocks (customer_id, clock_id) VALUES ($1, $2)")
            .bind(customer_id.to_string())
            .bind(clock_id.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The clock a customer is attached to: (clock id, its time in µs).
    pub(crate) async fn customer_clock(
        &self,
        conn: &mut AnyConnection,
        customer_id: &str,
    ) -> Result<Option<(String, i64)>, ServiceError> {
        let row = sqlx::query(
            "SELECT t.id, t.frozen_at FROM customer_clocks cc JOIN test_clocks t ON t.id = cc.clock_id WHERE cc.customer_id = $1",
        )
        .bind(customer_id.to_string())
        .fetch_optional(conn)
        .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("id")?, r.try_get("frozen_at")?))),
            None => Ok(None),
        }
    }

    /// Whether the customer has any order (carts included).
    pub(crate) async fn customer_has_orders(
        &self,
        conn: &mut AnyConnection,
        customer_id: &str,
    ) -> Result<bool, ServiceError> {
        let row = sqlx::query("SELECT id FROM orders WHERE customer_id = $1 LIMIT 1")
            .bind(customer_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if row.is_some() {
            return Ok(true);
        }
        let row = sqlx::query("SELECT id FROM carts WHERE customer_id = $1 LIMIT 1")
            .bind(customer_id.to_string())
            .fetch_optional(conn)
            .await?;
        Ok(row.is_some())
    }

    /// The earliest instant (µs) at or before `until` when something of the clock's
    /// subscriptions falls due (a term end: the first day after the term; a reminder).
    pub(crate) async fn next_due(
        &self,
        conn: &mut AnyConnection,
        clock_id: &str,
        until: i64,
    ) -> Result<Option<i64>, ServiceError> {
        let until_day = crate::domain::subscription::Day::of_micros(until).key();
        let day: Option<i64> = sqlx::query(
            "SELECT due_day FROM subscriptions WHERE clock_id = $1 AND due_day <= $2 ORDER BY due_day LIMIT 1",
        )
        .bind(clock_id.to_string())
        .bind(until_day)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("due_day"))
        .transpose()?;
        let remind: Option<i64> = sqlx::query(
            "SELECT remind_at FROM subscriptions WHERE clock_id = $1 AND remind_at <= $2 ORDER BY remind_at LIMIT 1",
        )
        .bind(clock_id.to_string())
        .bind(until)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get("remind_at"))
        .transpose()?;
        let day = day.and_then(day_start);
        Ok([day, remind].into_iter().flatten().min())
    }

    /// How many orders of the clock's customers are in flight.
    pub(crate) async fn in_flight_orders(
        &self,
        conn: &mut AnyConnection,
        clock_id: &str,
    ) -> Result<i64, ServiceError> {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM orders o JOIN customer_clocks cc ON cc.customer_id = o.customer_id WHERE cc.clock_id = $1 AND o.status IN ($2, $3)",
        )
        .bind(clock_id.to_string())
        .bind(IN_FLIGHT[0])
        .bind(IN_FLIGHT[1])
        .fetch_one(conn)
        .await?;
        Ok(row.try_get("n")?)
    }
}

/// Midnight UTC (µs) of a `yyyymmdd` key.
fn day_start(key: i64) -> Option<i64> {
    crate::domain::subscription::Day {
        year: i32::try_from(key / 10_000).ok()?,
        month: i32::try_from(key / 100 % 100).ok()?,
        day: i32::try_from(key % 100).ok()?,
    }
    .start_micros()
}

fn clock_of(row: &sqlx::any::AnyRow) -> Result<TestClock, ServiceError> {
    let status: String = row.try_get("status")?;
    Ok(TestClock {
        id: row.try_get("id")?,
        reseller_id: row.try_get("reseller_id")?,
        name: row.try_get("name")?,
        frozen_at: row.try_get("frozen_at")?,
        status: ClockStatus::parse(&status),
        advancing_to: row.try_get("advancing_to")?,
        customer_ids: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
