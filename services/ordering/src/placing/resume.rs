//! Items INQUIRING on a reseller-profile fact resume by themselves once the reseller corrects
//! that fact (issue 15 point 7); a manual re-submission stays possible.

use std::collections::BTreeMap;

use platform::identity::Principal;

use super::resubmit;
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

/// Re-submits every INQUIRING item of the reseller whose vendor error names a profile fact that
/// changed from `before` to `after`. Runs after the profile update committed; an item that
/// cannot be resumed is logged and left for a manual re-submission.
pub(crate) async fn resume_waiting_on_profile(ctx: &Ctx, before: &Reseller, after: &Reseller) {
    let fields = corrected_fields(before, after);
    if fields.is_empty() {
        return;
    }
    let orders = match ctx.store.conn().await {
        Ok(mut conn) => ctx.store.provisioning_orders(&mut conn, &after.id).await,
        Err(e) => Err(e),
    };
    let orders = match orders {
        Ok(orders) => orders,
        Err(error) => {
            tracing::warn!(reseller = %after.id, %error, "could not look for items waiting on the reseller profile");
            return;
        }
    };
    let system = Principal::service("ordering");
    for order in orders {
        let waiting = order.items.iter().filter(|i| {
            i.status == ItemStatus::Inquiring
                && i.parameter_errors
                    .iter()
                    .any(|p| fields.contains(&p.field.as_str()))
        });
        for item in waiting {
            match resubmit(ctx, &system, &order.id, &item.id, BTreeMap::new(), "").await {
                Ok(_) => {
                    tracing::info!(order = %order.id, item = %item.id, "item resumed after the reseller profile was corrected")
                }
                Err(error) => {
                    tracing::warn!(order = %order.id, item = %item.id, %error, "item waiting on the reseller profile not resumed")
                }
            }
        }
    }
}
