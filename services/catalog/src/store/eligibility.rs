//! Resellers' Autodesk partner CSNs, replicated from ordering's `reseller_profile_changed`.

use sqlx::{AnyConnection, Row};

use crate::domain::ids::Csn;

/// The valid CSN of a reseller, if it has one.
pub async fn csn_of(
    conn: &mut AnyConnection,
    reseller_id: &str,
) -> Result<Option<Csn>, sqlx::Error> {
    let row =
        sqlx::query("SELECT autodesk_partner_csn FROM reseller_eligibility WHERE reseller_id = $1")
            .bind(reseller_id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(row
        .and_then(|r| r.try_get::<String, _>("autodesk_partner_csn").ok())
        .and_then(|s| Csn::parse(&s).ok()))
}

/// Every reseller with a valid CSN.
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<(String, Csn)>, sqlx::Error> {
    let rows = sqlx::query("SELECT reseller_id, autodesk_partner_csn FROM reseller_eligibility")
        .fetch_all(conn)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let csn: String = row.try_get("autodesk_partner_csn")?;
        if let Ok(csn) = Csn::parse(&csn) {
            out.push((row.try_get("reseller_id")?, csn));
        }
    }
    Ok(out)
}

/// Records a reseller's CSN (`None` = none or invalid) as of `changed_at`, unless a newer
/// change was already recorded (events may arrive out of order). Returns whether it changed.
pub async fn record(
    conn: &mut AnyConnection,
    reseller_id: &str,
    csn: Option<&Csn>,
    changed_at: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO reseller_eligibility (reseller_id, autodesk_partner_csn, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (reseller_id) DO UPDATE SET autodesk_partner_csn = excluded.autodesk_partner_csn, changed_at = excluded.changed_at \
         WHERE reseller_eligibility.changed_at <= excluded.changed_at",
    )
    .bind(reseller_id.to_string())
    .bind(csn.map(ToString::to_string).unwrap_or_default())
    .bind(changed_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        super::version::bump(conn).await?;
    }
    Ok(n == 1)
}

/// Records a CSN only when the reseller has no record yet (demo seed).
pub async fn seed(
    conn: &mut AnyConnection,
    reseller_id: &str,
    csn: &Csn,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO reseller_eligibility (reseller_id, autodesk_partner_csn, changed_at) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING")
        .bind(reseller_id.to_string())
        .bind(csn.to_string())
        .execute(&mut *conn)
        .await?;
    super::version::bump(conn).await
}
