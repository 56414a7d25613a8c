//! State shared by the consumers, workers and gRPC services of one App.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use platform::clock::{SharedClock, to_micros};
use platform::db::Database;

use crate::Settings;
use crate::hub::FeedHub;
use crate::templates::Templates;

/// Shared state.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) db: Database,
    pub(crate) clock: SharedClock,
    pub(crate) settings: Settings,
    pub(crate) templates: Templates,
    pub(crate) email_wake: Arc<Notify>,
    pub(crate) webhook_wake: Arc<Notify>,
    pub(crate) hub: FeedHub,
}

impl Core {
    /// Now in stored micros.
    pub(crate) fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// Wakes the workers and the feed hub (new rows may be committed shortly).
    pub(crate) fn wake_all(&self) {
        self.email_wake.notify_one();
        self.webhook_wake.notify_one();
        self.hub.wake();
    }
}

/// Runs `batch` whenever woken or every `poll`, until `shutdown`. After a wake-up that found
/// nothing (the waker's transaction may not have committed yet) it looks again a few times
/// within ~60 ms, so new work starts promptly without busy polling.
pub(crate) async fn worker_loop<F, Fut>(
    name: &'static str,
    wake: Arc<Notify>,
    poll: Duration,
    shutdown: CancellationToken,
    mut batch: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut woken = false;
    loop {
        let mut found = run_once(name, &mut batch).await;
        if found == 0 && woken {
            for delay in [2u64, 4, 8, 16, 32] {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                }
                found = run_once(name, &mut batch).await;
                if found > 0 {
                    break;
                }
            }
        }
        if found > 0 {
            woken = false;
            if shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => woken = true,
            _ = tokio::time::sleep(poll) => woken = false,
        }
    }
}

async fn run_once<F, Fut>(name: &'static str, batch: &mut F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    match batch().await {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(worker = name, %error, "worker batch failed; retrying");
            0
        }
    }
}
