//! Importing a vendor price file: validated as a whole, applied atomically, with a report of
//! every rejected row. A file with any rejected row changes nothing.

use std::collections::{HashMap, HashSet};

use marketplace_platform::error::{ServiceError, ServiceResult};
use marketplace_platform::identity::Principal;

use super::Catalog;
use crate::domain::import::{Format, PlanRef, Rejection, parse};
use crate::domain::price::Price;
use crate::store::{plans, prices};

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Whether the prices were stored.
    pub applied: bool,
    /// Rows that passed every check.
    pub accepted_rows: usize,
    /// Rows that did not, and why.
    pub rejected_rows: Vec<Rejection>,
}

impl Catalog {
    /// Imports a price list (staff). Rows resolve their plan by id, Autodesk product id or
    /// Microsoft catalog item id; a row repeating another row, or contradicting a stored price
    /// for the same plan, currency and moment, is rejected; re-importing the same file is a no-op.
    pub async fn import_prices(
        &self,
        principal: &Principal,
        format: Format,
        content: &str,
        validate_only: bool,
    ) -> ServiceResult<ImportReport> {
        principal.require_staff()?;
        let (rows, mut rejected) =
            parse(format, content).map_err(|e| ServiceError::invalid_field("content", e.0))?;
        let mut tx = self.store.pool().begin().await?;
        let mut by_ref: HashMap<PlanRef, String> = HashMap::new();
        for (id, autodesk, microsoft) in plans::references(&mut tx).await? {
            if let Some(a) =
                autodesk.and_then(|a| crate::domain::ids::AutodeskProductId::parse(&a).ok())
            {
                by_ref.insert(PlanRef::Autodesk(a), id.clone());
            }
            if let Some(m) =
                microsoft.and_then(|m| crate::domain::ids::MicrosoftCatalogItemId::parse(&m).ok())
            {
                by_ref.insert(PlanRef::Microsoft(m), id.clone());
            }
            by_ref.insert(PlanRef::PlanId(id.clone()), id);
        }
        let now = self.now();
        let mut seen = HashSet::new();
        let mut new_prices = Vec::new();
        let mut accepted = 0;
        for row in rows {
            let reject = |field: &str, reason: String| Rejection {
                row: row.row,
                field: field.into(),
                reason,
            };
            let Some(plan_id) = by_ref.get(&row.plan) else {
                rejected.push(reject(row.plan.field(), "no such plan".into()));
                continue;
            };
            if !seen.insert((plan_id.clone(), row.currency, row.effective_at)) {
                rejected.push(reject(
                    "effective_date",
                    format!(
                        "another row already prices plan {plan_id} in {} from this date",
                        row.currency
                    ),
                ));
                continue;
            }
            match prices::at_exact(&mut tx, plan_id, row.currency, row.effective_at).await? {
                Some(existing) if existing.cost == row.cost && existing.msrp == row.msrp => {}
                Some(_) => {
                    rejected.push(reject(
                        "effective_date",
                        format!(
                            "plan {plan_id} already has a different {} price from this date",
                            row.currency
                        ),
                    ));
                    continue;
                }
                None => new_prices.push(Price {
                    id: marketplace_platform::ids::new_id(),
                    plan_id: plan_id.clone(),
                    currency: row.currency,
                    cost: row.cost,
                    msrp: row.msrp,
                    effective_at: row.effective_at,
                    created_at: now,
                }),
            }
            accepted += 1;
        }
        rejected.sort_by(|a, b| (a.row, &a.field).cmp(&(b.row, &b.field)));
        let applied = rejected.is_empty() && !validate_only;
        if applied {
            for price in &new_prices {
                prices::insert(&mut tx, price).await?;
            }
            tx.commit().await?;
            self.read_model.invalidate();
        }
        Ok(ImportReport {
            applied,
            accepted_rows: accepted,
            rejected_rows: rejected,
        })
    }
}
