//! The in-memory read model: every plan (with links, sort key and searchable text), every
//! price and every reseller's CSN, so that browsing, search, GetPlan and LookupPlan need no
//! database round trip. Each replica reloads it when the catalog version (bumped by every
//! change, see `store::version`) moved: checked at most every `refresh` on its own, and on
//! every read for a while after a local change, so a replica sees its own writes at once and
//! other replicas' writes within `refresh`. Quotes and administration read the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::domain::eligibility::Audience;
use crate::domain::ids::Csn;
use crate::domain::plan::{BillingCycle, Plan, PlanState, Term, Tier};
use crate::domain::price::{Price, in_effect};
use crate::service::PlanView;
use crate::store::{Store, eligibility, plans, prices, version};

/// How long after a local change every read re-checks the version.
const EAGER_WINDOW: Duration = Duration::from_secs(2);

/// One plan of the read model.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The plan with its links.
    pub plan: Plan,
    /// Stable order key.
    pub sort_key: String,
    /// Lower-case searchable text.
    pub search_text: String,
}

/// Filters of a plan listing (combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFilter {
    /// Lower-case words that must all occur in the searchable text.
    pub words: Vec<String>,
    /// Vendor.
    pub vendor_id: Option<String>,
    /// Category.
    pub category_id: Option<String>,
    /// Term.
    pub term: Option<Term>,
    /// Billing cycle.
    pub billing_cycle: Option<BillingCycle>,
    /// Include retired plans.
    pub include_retired: bool,
    /// Only add-ons of this plan.
    pub parent_plan_id: Option<String>,
    /// Hide the specialized catalog.
    pub open_only: bool,
}

impl PlanFilter {
    fn matches(&self, e: &Entry) -> bool {
        let p = &e.plan;
        (self.include_retired || p.state == PlanState::Active)
            && (!self.open_only || p.tier == Tier::Open)
            && self.vendor_id.as_ref().is_none_or(|v| &p.vendor_id == v)
            && self
                .category_id
                .as_ref()
                .is_none_or(|c| &p.category_id == c)
            && self.term.is_none_or(|t| p.term == t)
            && self.billing_cycle.is_none_or(|b| p.billing_cycle == b)
            && self
                .parent_plan_id
                .as_ref()
                .is_none_or(|parent| p.parent_plan_ids.contains(parent))
            && self
                .words
                .iter()
                .all(|w| e.search_text.contains(w.as_str()))
    }
}

/// An immutable view of the catalog at one version.
#[derive(Debug, Default)]
pub struct Snapshot {
    version: i64,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    by_vendor_id: HashMap<String, usize>,
    prices: HashMap<String, Vec<Price>>,
    csns: HashMap<String, Csn>,
}

impl Snapshot {
    async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut conn = store.pool().acquire().await?;
        // Version first: data read afterwards is at least that new.
        let version = version::current(&mut conn).await?;
        let rows = plans::all(&mut conn).await?;
        let mut prices: HashMap<String, Vec<Price>> = HashMap::new();
        for price in prices::all(&mut conn).await? {
            prices.entry(price.plan_id.clone()).or_default().push(price);
        }
        let csns = eligibility::all(&mut conn).await?.into_iter().collect();
        let mut snapshot = Snapshot {
            version,
            prices,
            csns,
            ..Snapshot::default()
        };
        for (i, (plan, sort_key, search_text)) in rows.into_iter().enumerate() {
            snapshot.by_id.insert(plan.id.clone(), i);
            if let Some(id) = &plan.autodesk_product_id {
                snapshot.by_vendor_id.insert(id.to_string(), i);
            }
            if let Some(id) = &plan.microsoft_catalog_item_id {
                snapshot.by_vendor_id.insert(id.to_string(), i);
            }
            snapshot.entries.push(Entry {
                plan,
                sort_key,
                search_text,
            });
        }
        Ok(snapshot)
    }

    /// A reseller's valid CSN.
    pub fn csn(&self, reseller_id: &str) -> Option<Csn> {
        self.csns.get(reseller_id).cloned()
    }

    /// A plan by id.
    pub fn plan(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).and_then(|&i| self.entries.get(i))
    }

    /// A plan by Autodesk product id or Microsoft catalog item id (canonical form).
    pub fn plan_by_vendor_id(&self, id: &str) -> Option<&Entry> {
        self.by_vendor_id.get(id).and_then(|&i| self.entries.get(i))
    }

    /// A plan with the prices in effect at `at` (µs).
    pub fn view(&self, entry: &Entry, at: i64) -> PlanView {
        let prices = self
            .prices
            .get(&entry.plan.id)
            .map(|p| in_effect(p, at).into_iter().cloned().collect())
            .unwrap_or_default();
        PlanView {
            plan: entry.plan.clone(),
            prices,
        }
    }

    /// Up to `limit` plans matching `filter` after the cursor `(sort_key, id)`, in order, and
    /// the number of matches over all pages.
    pub fn list(
        &self,
        filter: &PlanFilter,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> (Vec<&Entry>, usize) {
        let start = after.map_or(0, |(key, id)| {
            self.entries
                .partition_point(|e| (e.sort_key.as_str(), e.plan.id.as_str()) <= (key, id))
        });
        let mut total = 0;
        let mut page = Vec::with_capacity(limit.min(64));
        for (i, e) in self.entries.iter().enumerate() {
            if filter.matches(e) {
                total += 1;
                if i >= start && page.len() < limit {
                    page.push(e);
                }
            }
        }
        (page, total)
    }

    /// Whose eligibility applies to a reseller.
    pub fn audience(&self, reseller_id: Option<String>) -> Audience {
        match reseller_id {
            None => Audience::Everyone,
            Some(reseller_id) => Audience::Reseller {
                csn: self.csn(&reseller_id),
                reseller_id,
            },
        }
    }
}

/// The shared, self-refreshing read model of one replica.
#[derive(Debug)]
pub struct ReadModel {
    store: Store,
    refresh: Duration,
    current: RwLock<Arc<Snapshot>>,
    checked: Mutex<(Instant, Instant)>,
    reload: tokio::sync::Mutex<()>,
}

impl ReadModel {
    /// Loads the read model; `refresh` bounds how stale it may be after other replicas' changes.
    pub async fn load(store: Store, refresh: Duration) -> Result<Self, sqlx::Error> {
        let snapshot = Snapshot::load(&store).await?;
        let now = Instant::now();
        Ok(Self {
            store,
            refresh,
            current: RwLock::new(Arc::new(snapshot)),
            checked: Mutex::new((now, now)),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Whether to check the version: during the eager window after a local change, or when
    /// `refresh` elapsed; not when another caller checked after `asked`.
    fn due(&self, asked: Option<Instant>) -> bool {
        let now = Instant::now();
        let (last_check, eager_until) = *self.checked.lock().unwrap_or_else(|p| p.into_inner());
        let nobody_since = asked.is_none_or(|a| last_check < a);
        (now < eager_until || now.duration_since(last_check) >= self.refresh) && nobody_since
    }

    /// The current snapshot, reloaded first when the catalog version moved.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, sqlx::Error> {
        if !self.due(None) {
            return Ok(self.current());
        }
        let asked = Instant::now();
        let _guard = self.reload.lock().await;
        if !self.due(Some(asked)) {
            return Ok(self.current());
        }
        let mut conn = self.store.pool().acquire().await?;
        let version = version::current(&mut conn).await?;
        drop(conn);
        if version != self.current().version {
            let fresh = Arc::new(Snapshot::load(&self.store).await?);
            match self.current.write() {
                Ok(mut slot) => *slot = fresh,
                Err(poisoned) => *poisoned.into_inner() = fresh,
            }
        }
        self.checked.lock().unwrap_or_else(|p| p.into_inner()).0 = Instant::now();
        Ok(self.current())
    }

    /// Marks a local change: every read re-checks the version for a short while (the change
    /// may commit just after this call).
    pub fn invalidate(&self) {
        self.checked.lock().unwrap_or_else(|p| p.into_inner()).1 = Instant::now() + EAGER_WINDOW;
    }
}
