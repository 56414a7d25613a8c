//! Items INQUIRING on a reseller-profile fact resume by themselves once the reseller corrects
//! that fact (issue 15 point 7); a manual re-submission stays possible.

use std::collections::BTreeMap;

use platform::ServiceError;
use platform::error::ErrorCode;
use platform::identity::Principal;
use sqlx::AnyConnection;

use super::resubmit::resubmit_in;
use crate::context::Ctx;
use crate::domain::reseller::Reseller;
use crate::domain::state::ItemStatus;

/// The field paths an item's vendor error may name for each correctable profile fact, and
/// whether the fact changed between `before` and `after`.
fn corrected_fields(before: &Reseller, after: &Reseller) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if before.microsoft_mpn_id != after.microsoft_mpn_id && !after.microsoft_mpn_id.is_empty() {
        fields.extend(["parameters.mpn_id", "reseller.microsoft_mpn_id"]);
    }
    if before.microsoft_indirect_reseller_tenant_id != after.microsoft_indirect_reseller_tenant_id
        && !after.microsoft_indirect_reseller_tenant_id.is_empty()
    {
        fields.extend([
            "parameters.indirect_reseller_tenant_id",
            "reseller.microsoft_indirect_reseller_tenant_id",
        ]);
    }
    if before.autodesk_partner_csn != after.autodesk_partner_csn
        && !after.autodesk_partner_csn.is_empty()
    {
        fields.extend(["parameters.partner_csn", "reseller.autodesk_partner_csn"]);
    }
    fields
}

/// Re-submits, inside the profile update's transaction, every INQUIRING item of the reseller
/// whose vendor error names a profile fact that changed from `before` to `after`: the resumption
/// commits with the correction or not at all (a crash cannot lose it).
pub(crate) async fn resume_waiting_on_profile(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    before: &Reseller,
    after: &Reseller,
) -> Result<(), ServiceError> {
    let fields = corrected_fields(before, after);
    resume_waiting_on(ctx, conn, &after.id, None, &fields).await
}

/// Re-submits, inside the caller's transaction, every INQUIRING item of `reseller_id` (of one
/// customer when given) whose vendor error names one of `fields`. An item that cannot be resumed
/// (a business rule refuses it) is logged and left for a manual re-submission; a storage error
/// fails the transaction.
pub(crate) async fn resume_waiting_on(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    reseller_id: &str,
    customer_id: Option<&str>,
    fields: &[&str],
) -> Result<(), ServiceError> {
    if fields.is_empty() {
        return Ok(());
    }
    let orders = ctx.store.provisioning_orders(conn, reseller_id).await?;
    let system = Principal::service("ordering");
    for order in orders {
        if customer_id.is_some_and(|c| c != order.customer_id) {
            continue;
        }
        let waiting: Vec<String> = order
            .items
            .iter()
            .filter(|i| {
                i.status == ItemStatus::Inquiring
                    && i.parameter_errors
                        .iter()
                        .any(|p| fields.contains(&p.field.as_str()))
            })
            .map(|i| i.id.clone())
            .collect();
        for item in waiting {
            match resubmit_in(ctx, conn, &system, &order.id, &item, BTreeMap::new(), "").await {
                Ok(_) => {
                    tracing::info!(order = %order.id, %item, "item resumed: what it waited for is known now")
                }
                Err(error)
                    if matches!(
                        error.code,
                        ErrorCode::FailedPrecondition | ErrorCode::NotFound
                    ) =>
                {
                    tracing::warn!(order = %order.id, %item, %error, "waiting item not resumed; a manual re-submission is still possible")
                }
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}
