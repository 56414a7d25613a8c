//! Advancing a sandbox test clock: the clock moves from due instant to due instant up to its
//! target, and at each one the lifecycle scheduler runs for the clock's subscriptions (the same
//! code as real time: renewals, expiries, reminders, in batches) over what falls due in the next
//! [`PASS_SPAN`], each item at its own due time, so everything that fell due happens at its
//! time, in time order per subscription, and once (the scheduler clears what it handled). Before each step the
//! orders in flight of the clock's customers are given `clock_settle` to be carried out, so a
//! renewal or change completes at the time it was placed. Carts expire by their own time, so
//! a cart left 7 days reads EXPIRED as soon as the clock passes its expiry.

use std::sync::Arc;
use std::time::Duration;

use platform::ServiceError;

use crate::context::Ctx;
use crate::domain::test_clock::ClockStatus;
use crate::scheduler::Scheduler;

/// Times the same instant may be stepped on before the advance moves past it.
const MAX_REPEATS: usize = 5;

/// How far one pass reaches past the first due instant (µs): everything due in between is
/// handled in one batched pass, each at its own time. Six days is the shortest delay after
/// which work placed in a pass can itself fall due (the reminder of an NCE renewal's 7-day
/// window, the day before it closes), so nothing a pass starts is overtaken by the next.
const PASS_SPAN: i64 = 6 * 24 * 3_600 * 1_000_000;

/// Runs the advance of clock `id` (ADVANCING) to its target, then marks it READY. Work is
/// resumable: the clock's time and target are stored after every step.
pub(crate) async fn run_advance(ctx: Arc<Ctx>, id: String) {
    if let Err(e) = advance(&ctx, &id).await {
        tracing::error!(clock = %id, error = %e, "test clock advance failed; the clock is READY where it stopped");
        if let Ok(mut conn) = ctx.store.conn().await
            && let Ok(Some(mut clock)) = ctx.store.clock(&mut conn, &id).await
        {
            clock.status = ClockStatus::Ready;
            clock.advancing_to = None;
            clock.updated_at = ctx.now();
            let _ = ctx.store.update_clock(&mut conn, &clock).await;
        }
    }
}

/// Steps clock `id` to its target; returns how many subscriptions reached term end on the way.
pub(crate) async fn advance(ctx: &Arc<Ctx>, id: &str) -> Result<usize, ServiceError> {
    let mut term_ends = 0;
    let mut last_step = None;
    let mut repeats = 0;
    loop {
        settle(ctx, id).await?;
        let mut conn = ctx.store.conn().await?;
        let Some(mut clock) = ctx.store.clock(&mut conn, id).await? else {
            return Ok(term_ends);
        };
        let Some(target) = clock.advancing_to else {
            return Ok(term_ends);
        };
        let next = ctx
            .store
            .next_due(&mut conn, id, target)
            .await?
            .map(|t| t.max(clock.frozen_at));
        if last_step.is_some() && next == last_step {
            repeats += 1;
        } else {
            repeats = 0;
        }
        match next {
            Some(step) if repeats < MAX_REPEATS => {
                clock.frozen_at = step;
                clock.updated_at = ctx.now();
                ctx.store.update_clock(&mut conn, &clock).await?;
                drop(conn);
                term_ends += Scheduler::new(
                    ctx.clone(),
                    Duration::from_millis(10),
                    ctx.scheduler_batch,
                    ctx.scheduler_concurrency,
                )
                .for_clock(id, step, (step + PASS_SPAN).min(target))
                .catch_up()
                .await?;
                ctx.outbox.notify();
                last_step = next;
            }
            _ => {
                if next.is_some() {
                    tracing::warn!(clock = %id, "due work at the same instant keeps coming back; moving on");
                }
                clock.frozen_at = target;
                clock.status = ClockStatus::Ready;
                clock.advancing_to = None;
                clock.updated_at = ctx.now();
                ctx.store.update_clock(&mut conn, &clock).await?;
                return Ok(term_ends);
            }
        }
    }
}

/// Waits (up to `clock_settle`) until no order of the clock's customers is in flight.
async fn settle(ctx: &Ctx, id: &str) -> Result<(), ServiceError> {
    if ctx.clock_settle.is_zero() {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + ctx.clock_settle;
    loop {
        let n = {
            let mut conn = ctx.store.conn().await?;
            ctx.store.in_flight_orders(&mut conn, id).await?
        };
        if n == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(clock = %id, in_flight = n, "orders still in flight; the test clock moves on");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
