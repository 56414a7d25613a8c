//! The lifecycle scheduler: renewals and expiries at term end, and reminders. Durable and safe
//! with several replicas: every tick claims due subscriptions through indexed columns
//! (`due_day`, `remind_at`) with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer),
//! acts on them in the same transaction, and clears the due column, so a subscription is handled
//! by one replica once. A renewal order's request key is `renewal:<subscription>:<term end>`
//! (unique per reseller), so a term is never renewed twice; after downtime the next tick catches
//! up on everything that fell due. Time comes from the injectable clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use platform::ServiceError;
use platform::clock::micros_to_timestamp;
use platform::db::Backend;
use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;

use crate::context::Ctx;
use crate::domain::Actor;
use crate::domain::customer::Customer;
use crate::domain::lifecycle::{AtTermEnd, at_term_end, take_due_reminders};
use crate::domain::order::Order;
use crate::domain::policy::{self, Accepted, Now, ReminderKind};
use crate::domain::state::ChangeType;
use crate::domain::state::OrderStatus;
use crate::domain::subscription::{Subscription, SubscriptionStatus};
use crate::events::{self, customer_facts, reseller_facts};
use crate::placing::{change_order, order_name};

/// The background scheduler of one replica.
pub(crate) struct Scheduler {
    ctx: Arc<Ctx>,
    interval: Duration,
    batch: i64,
    concurrency: usize,
    /// Whose time: the real clock's subscriptions, or one test clock's at its time.
    scope: Scope,
}

/// Which subscriptions a scheduler handles, and at what time.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    /// Subscriptions on the real clock, at the real time.
    Real,
    /// The subscriptions of one test clock: what falls due from the clock's time `now` up to
    /// `until` (µs), each at its own due time.
    Clock {
        /// Clock id.
        id: String,
        /// The clock's time.
        now: i64,
        /// The end of this pass.
        until: i64,
    },
}

impl Scheduler {
    /// A scheduler ticking every `interval`, claiming `batch` subscriptions per transaction in
    /// up to `concurrency` transactions at once (PostgreSQL; SQLite has one writer, so one).
    pub(crate) fn new(ctx: Arc<Ctx>, interval: Duration, batch: i64, concurrency: usize) -> Self {
        let concurrency = match ctx.store.db().backend() {
            Backend::Postgres => concurrency.max(1),
            Backend::Sqlite => 1,
        };
        Self {
            ctx,
            interval,
            batch,
            concurrency,
            scope: Scope::Real,
        }
    }

    /// The same scheduler for one test clock's subscriptions: everything due from the clock's
    /// time `now` up to `until`, each handled at its own due time (never before `now`).
    pub(crate) fn for_clock(mut self, id: &str, now: i64, until: i64) -> Self {
        self.scope = Scope::Clock {
            id: id.to_string(),
            now,
            until: until.max(now),
        };
        self
    }

    /// Now for this scheduler's subscriptions (µs): the real time, or the clock's.
    fn now(&self) -> i64 {
        match &self.scope {
            Scope::Real => self.ctx.now(),
            Scope::Clock { now, .. } => *now,
        }
    }

    /// The latest instant this pass handles (µs).
    fn until(&self, now: i64) -> i64 {
        match &self.scope {
            Scope::Real => now,
            Scope::Clock { until, .. } => *until,
        }
    }

    /// When `sub`, due at `due` (µs), is handled: now on the real clock; its due time (not
    /// before the clock's time) on a test clock.
    fn at(&self, now: i64, due: Option<i64>) -> i64 {
        match &self.scope {
            Scope::Real => now,
            Scope::Clock { .. } => due.map_or(now, |d| d.max(now)),
        }
    }

    /// When the term of `sub` is handled.
    fn term_end_at(&self, now: i64, sub: &Subscription) -> i64 {
        self.at(
            now,
            crate::domain::lifecycle::term_end_due(sub).and_then(|d| d.start_micros()),
        )
    }

    /// The clock column value of this scheduler's subscriptions ('' = the real clock).
    fn clock_id(&self) -> &str {
        match &self.scope {
            Scope::Real => "",
            Scope::Clock { id, .. } => id,
        }
    }

    /// Ticks until `shutdown`.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "lifecycle scheduler tick failed; retrying next tick");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Handles everything due now, batch after batch; returns how many subscriptions reached
    /// term end (renewed or expired).
    pub(crate) async fn catch_up(&self) -> Result<usize, ServiceError> {
        let workers = (0..self.concurrency).map(|_| self.term_ends());
        let mut total = 0;
        for done in futures::future::join_all(workers).await {
            total += done?;
        }
        while self.reminder_batch().await? >= self.batch as usize {}
        Ok(total)
    }

    /// Term-end batches until a batch comes back short, moving a keyset forward so each
    /// claim starts after the rows this worker already handled.
    async fn term_ends(&self) -> Result<usize, ServiceError> {
        let mut total = 0;
        let mut after = None;
        loop {
            let (n, last) = self.term_end_batch(after.as_ref()).await?;
            total += n;
            if n < self.batch as usize {
                return Ok(total);
            }
            after = last;
        }
    }

    /// One transaction of term ends: claims a batch, reads the customers and resellers and the
    /// renewal orders that may already exist once for the batch, reserves the order numbers,
    /// then renews or expires each subscription.
    async fn term_end_batch(
        &self,
        after: Option<&(i64, String)>,
    ) -> Result<(usize, Option<(i64, String)>), ServiceError> {
        let ctx = &self.ctx;
        let now = self.now();
        let until = Now::at(self.until(now)).today;
        let mut tx = ctx.store.begin().await?;
        let (due, last) = ctx
            .store
            .claim_term_ends(&mut tx, self.clock_id(), until.key(), after, self.batch)
            .await?;
        let n = due.len();
        let mut batch = Batch {
            real_now: matches!(self.scope, Scope::Clock { .. }).then(|| ctx.now()),
            ..Batch::default()
        };
        let today_of = |s: &Subscription| Now::at(self.term_end_at(now, s)).today;
        let renewing: Vec<&Subscription> = due
            .iter()
            .filter(|s| at_term_end(s, today_of(s)) == Some(AtTermEnd::Renew))
            .collect();
        for sub in &renewing {
            if !batch.customers.contains_key(&sub.customer_id) {
                let c = ctx.store.customer(&mut tx, &sub.customer_id).await?;
                batch.customers.insert(sub.customer_id.clone(), c);
            }
            if !batch.resellers.contains_key(&sub.reseller_id) {
                let r = ctx.store.reseller(&mut tx, &sub.reseller_id).await?;
                let facts = reseller_facts(&sub.reseller_id, r.as_ref());
                batch.resellers.insert(sub.reseller_id.clone(), facts);
            }
        }
        for reseller in batch.resellers.keys() {
            let keys: Vec<String> = renewing
                .iter()
                .filter(|s| &s.reseller_id == reseller)
                .map(|s| renewal_key(s))
                .collect();
            for chunk in keys.chunks(500) {
                for (key, order) in ctx
                    .store
                    .existing_request_keys(&mut tx, reseller, chunk)
                    .await?
                {
                    batch.existing.insert(key, order);
                }
            }
        }
        if !renewing.is_empty() {
            batch.numbers = ctx
                .store
                .reserve_order_numbers(&mut tx, renewing.len() as i64)
                .await?
                .into_iter();
        }
        for sub in due {
            let at = self.term_end_at(now, &sub);
            match at_term_end(&sub, Now::at(at).today) {
                Some(AtTermEnd::Renew) => renew(ctx, &mut tx, sub, &mut batch, at).await?,
                Some(AtTermEnd::Expire) => expire(ctx, &mut tx, sub, at).await?,
                // Indexed as due but not (stale column): re-save to fix the column.
                None => {
                    let mut sub = sub;
                    sub.version += 1;
                    ctx.store.update_subscription(&mut tx, &sub).await?;
                }
            }
        }
        ctx.store
            .append_histories(&mut tx, &batch.history, now)
            .await?;
        ctx.store.insert_orders(&mut tx, &batch.orders).await?;
        ctx.outbox.append_all(&mut tx, &batch.events, now).await?;
        ctx.store
            .update_subscriptions(&mut tx, &batch.subscriptions)
            .await?;
        tx.commit().await?;
        if n > 0 {
            ctx.outbox.notify();
        }
        Ok((n, last))
    }

    /// One transaction of reminders.
    async fn reminder_batch(&self) -> Result<usize, ServiceError> {
        let ctx = &self.ctx;
        let now = self.now();
        let mut tx = ctx.store.begin().await?;
        let due = ctx
            .store
            .claim_reminders(&mut tx, self.clock_id(), self.until(now), self.batch)
            .await?;
        let n = due.len();
        for mut sub in due {
            let remind_at = crate::domain::lifecycle::next_reminder_at(
                &sub,
                policy::for_vendor(&sub.plan.vendor_id),
                ctx.store.rules(),
            );
            let at = self.at(now, remind_at);
            send_reminders(ctx, &mut tx, &mut sub, at).await?;
            sub.version += 1;
            ctx.store.update_subscription(&mut tx, &sub).await?;
        }
        tx.commit().await?;
        if n > 0 {
            ctx.outbox.notify();
        }
        Ok(n)
    }
}

/// Emits the reminders of `sub` due at `now` and marks them sent (ones whose deadline passed
/// are only marked); the caller saves `sub`.
async fn send_reminders(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    sub: &mut Subscription,
    now: i64,
) -> Result<(), ServiceError> {
    let policy = policy::for_vendor(&sub.plan.vendor_id);
    let reminders = take_due_reminders(sub, policy, ctx.store.rules(), now);
    if reminders.is_empty() {
        return Ok(());
    }
    let reseller = ctx.store.reseller(conn, &sub.reseller_id).await?;
    let facts = reseller_facts(&sub.reseller_id, reseller.as_ref());
    for r in reminders {
        let kind = match r.kind {
            ReminderKind::CancellationWindowClosing => ev::ReminderKind::CancellationWindowClosing,
            ReminderKind::AutoRenewLastDay => ev::ReminderKind::AutoRenewLastDay,
            ReminderKind::TermEndApproaching => ev::ReminderKind::TermEndApproaching,
        };
        let payload = Payload::SubscriptionReminder(ev::SubscriptionReminder {
            subscription_id: sub.id.clone(),
            kind: kind as i32,
            deadline_time: Some(micros_to_timestamp(r.deadline)),
            plan_name: sub.plan.name.clone(),
            reseller: Some(facts.clone()),
            customer_name: sub.customer_name.clone(),
        });
        events::append(ctx, conn, &sub.reseller_id, &sub.customer_id, payload).await?;
    }
    Ok(())
}

/// What a term-end batch reads once.
#[derive(Default)]
struct Batch {
    customers: HashMap<String, Option<Customer>>,
    resellers: HashMap<String, ev::ResellerFacts>,
    /// Renewal request keys that already have an order, with the order id.
    existing: HashMap<String, String>,
    /// Order numbers reserved for this batch's renewals, in order.
    numbers: std::vec::IntoIter<i64>,
    /// Renewal orders to insert, their history rows and their subscriptions to save, written
    /// in multi-row statements at the end of the batch.
    orders: Vec<Order>,
    history: Vec<(Order, String)>,
    subscriptions: Vec<Subscription>,
    facts_of: HashMap<String, ev::CustomerFacts>,
    /// Events of the renewals, appended to the outbox in multi-row statements.
    events: Vec<ev::Envelope>,
    /// The real time of a test clock's batch (None on the real clock): a renewal tells the
    /// vendors its time's distance from it.
    real_now: Option<i64>,
}

/// Customer facts for the events, built once per customer and batch.
fn facts_for(cache: &mut HashMap<String, ev::CustomerFacts>, c: &Customer) -> ev::CustomerFacts {
    cache
        .entry(c.id.clone())
        .or_insert_with(|| customer_facts(c))
        .clone()
}

/// The idempotency key of the renewal of `sub`'s current term.
fn renewal_key(sub: &Subscription) -> String {
    let term_end = sub.term_end.map(|d| d.iso()).unwrap_or_default();
    format!("renewal:{}:{term_end}", sub.id)
}

/// Places the renewal order of `sub`'s current term (idempotent per subscription and term end).
async fn renew(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    mut sub: Subscription,
    batch: &mut Batch,
    now: i64,
) -> Result<(), ServiceError> {
    // Reminders of the ended term that never went out (downtime) are settled first.
    send_reminders(ctx, conn, &mut sub, now).await?;
    let key = renewal_key(&sub);
    if let Some(existing) = batch.existing.get(&key) {
        // Renewed already (the due column was stale): only mark it in flight.
        sub.pending_order_id = existing.clone();
        sub.version += 1;
        return ctx.store.update_subscription(conn, &sub).await;
    }
    let Some(Some(customer)) = batch.customers.get(&sub.customer_id) else {
        tracing::warn!(subscription = %sub.id, "renewal of a subscription whose customer is gone; expiring");
        return expire(ctx, conn, sub, now).await;
    };
    let Some(facts) = batch.resellers.get(&sub.reseller_id) else {
        return Err(ServiceError::internal(
            "renewal batch",
            "reseller facts not loaded",
        ));
    };
    let term_end = sub.term_end.map(|d| d.iso()).unwrap_or_default();
    let amount = sub.price.unit_price.saturating_mul(i64::from(sub.quantity));
    let accepted = Accepted {
        change: ChangeType::Renewal,
        quantity: sub.quantity,
        previous_quantity: sub.quantity,
        amount,
        explanation: format!("automatic renewal of the term that ended on {term_end}"),
    };
    let by = Actor {
        user_id: SCHEDULER.into(),
        display_name: "Automatic renewal".into(),
        organization_id: sub.reseller_id.clone(),
        organization_name: facts.name.clone(),
        role: "service".into(),
    };
    let mut order = change_order(&sub, customer, &accepted, by, key, now);
    let number = batch.numbers.next().ok_or_else(|| {
        ServiceError::internal(
            "renewal batch",
            "fewer order numbers reserved than renewals",
        )
    })?;
    order.number = Order::format_number(order_name(now).1, number);
    let change = order.transition(OrderStatus::InProgress, "renewal at term end", now)?;
    let described = change.describe(&order);
    let payload = events::status_payload(&mut order, change, facts);
    batch.history.push((order.clone(), described));
    batch.events.push(platform::outbox::envelope(
        events::SOURCE,
        &order.reseller_id,
        &order.customer_id,
        payload,
        &ctx.clock,
    ));
    // Bought at once: only `fulfilment_requested` (no `order_submitted`: nobody submitted an
    // automatic renewal; the reseller hears of it through the order and subscription events).
    order.submitted_at = Some(now);
    if let Some(item) = order.items.first() {
        let payload = events::fulfilment_requested(
            &order,
            item,
            facts,
            &facts_for(&mut batch.facts_of, customer),
            batch.real_now.map_or(0, |real| (now - real) / 1_000),
        );
        batch.events.push(platform::outbox::envelope(
            events::SOURCE,
            &order.reseller_id,
            &order.customer_id,
            payload,
            &ctx.clock,
        ));
    }
    sub.pending_order_id = order.id.clone();
    sub.updated_at = now;
    sub.version += 1;
    batch.orders.push(order);
    batch.subscriptions.push(sub);
    Ok(())
}

/// Who places renewal orders.
const SCHEDULER: &str = "ordering-scheduler";

/// Term over without renewal: EXPIRED.
async fn expire(
    ctx: &Ctx,
    conn: &mut AnyConnection,
    mut sub: Subscription,
    now: i64,
) -> Result<(), ServiceError> {
    let reason = match sub.status {
        SubscriptionStatus::Terminated => "term ended after auto-renew was turned off",
        SubscriptionStatus::Suspended => "term ended while suspended",
        _ => "term ended with auto-renew off",
    };
    send_reminders(ctx, conn, &mut sub, now).await?;
    let order_id = sub.order_id.clone();
    let from = sub.set_status(SubscriptionStatus::Expired, reason, &order_id, now);
    sub.auto_renew = false;
    sub.version += 1;
    ctx.store.update_subscription(conn, &sub).await?;
    let reseller = ctx.store.reseller(conn, &sub.reseller_id).await?;
    let facts = reseller_facts(&sub.reseller_id, reseller.as_ref());
    events::subscription_changed(ctx, conn, &sub, from, reason, &facts).await
}
