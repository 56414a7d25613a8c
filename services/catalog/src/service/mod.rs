//! Catalog use cases: combine the rules of [`crate::domain`] with the [`crate::store`], checking
//! the caller's role and tenant. Errors are [`ServiceError`]s; no gRPC types here.

pub mod admin;
pub mod import;
pub mod markups;
pub mod quote;
pub mod read;
pub mod read_model;
pub mod update_mask;

use marketplace_platform::clock::{SharedClock, to_micros};
use marketplace_platform::error::{FieldViolation, ServiceError, ServiceResult};
use marketplace_platform::identity::Principal;
use marketplace_platform::outbox::Outbox;
use marketplace_platform::paging::PageTokens;
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;

use crate::domain::eligibility::Audience;
use crate::domain::plan::Plan;
use crate::domain::price::{Price, in_effect};
use crate::store::{Store, eligibility, prices};
use read_model::{ReadModel, Snapshot};

/// A plan with the prices in effect at the time it was read (one per currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanView {
    /// The plan.
    pub plan: Plan,
    /// Current prices.
    pub prices: Vec<Price>,
}

/// The catalog's use cases.
#[derive(Debug, Clone)]
pub struct Catalog {
    store: Store,
    clock: SharedClock,
    page_tokens: PageTokens,
    read_model: Arc<ReadModel>,
    outbox: Outbox,
}

impl Catalog {
    /// Use cases over a store and its read model.
    pub fn new(
        store: Store,
        clock: SharedClock,
        page_tokens: PageTokens,
        read_model: Arc<ReadModel>,
    ) -> Self {
        Self {
            store,
            clock,
            page_tokens,
            read_model,
            outbox: Outbox::new(),
        }
    }

    /// The current read model snapshot.
    async fn snapshot(&self) -> ServiceResult<Arc<Snapshot>> {
        Ok(self.read_model.snapshot().await?)
    }

    /// Whose eligibility applies, from the read model (see [`Self::audience`]).
    fn cached_audience(
        snapshot: &Snapshot,
        principal: &Principal,
        requested: &str,
    ) -> ServiceResult<Audience> {
        Ok(snapshot.audience(principal.reseller_filter(requested)?))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The outbox the catalog's events (`markup_changed`) are appended to; its relay publishes.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }

    async fn conn(&self) -> ServiceResult<PoolConnection<sqlx::Any>> {
        Ok(self.store.pool().acquire().await?)
    }

    /// Whose eligibility applies: staff and services without `requested` see everything;
    /// everyone else gets their own reseller (another reseller's id is answered as not found).
    async fn audience(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        requested: &str,
    ) -> ServiceResult<Audience> {
        match principal.reseller_filter(requested)? {
            None => Ok(Audience::Everyone),
            Some(reseller_id) => {
                let csn = eligibility::csn_of(conn, &reseller_id).await?;
                Ok(Audience::Reseller { reseller_id, csn })
            }
        }
    }

    /// Attaches the prices in effect now to plans.
    async fn with_prices(
        &self,
        conn: &mut AnyConnection,
        plans: Vec<Plan>,
    ) -> ServiceResult<Vec<PlanView>> {
        let ids: Vec<String> = plans.iter().map(|p| p.id.clone()).collect();
        let now = self.now();
        let all = prices::effective_by(conn, &ids, now).await?;
        Ok(plans
            .into_iter()
            .map(|plan| {
                let own: Vec<Price> = all
                    .iter()
                    .filter(|p| p.plan_id == plan.id)
                    .cloned()
                    .collect();
                let prices = in_effect(&own, now).into_iter().cloned().collect();
                PlanView { plan, prices }
            })
            .collect())
    }
}

/// An `INVALID_ARGUMENT` from `(field, problem)` pairs, fields prefixed with `prefix`.
pub(crate) fn invalid(prefix: &str, problems: Vec<(String, String)>) -> ServiceError {
    ServiceError::invalid_fields(
        problems
            .into_iter()
            .map(|(f, d)| FieldViolation {
                field: format!("{prefix}{f}"),
                description: d,
            })
            .collect(),
    )
}
