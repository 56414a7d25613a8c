//! Supervision of a component's background tasks (relays, consumers, workers, schedulers,
//! senders). A task that ends before the component is stopping — it returned, or it panicked —
//! is a failure: it is logged and counted naming the task, the component's gRPC server is told
//! to stop (health turns NOT_SERVING at once), and the component's `run` returns an error naming
//! the task, so the process exits non-zero and its orchestrator restarts it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

/// Watches the background tasks of one component.
#[derive(Debug, Default)]
pub struct Supervisor {
    stopping: CancellationToken,
    failed: CancellationToken,
    failure: Arc<Mutex<Option<String>>>,
    watchers: Vec<JoinHandle<()>>,
    aborts: Vec<AbortHandle>,
}

impl Supervisor {
    /// A supervisor with no tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task` under supervision as `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.adopt(name, tokio::spawn(task));
    }

    /// Supervises an already spawned task as `name`.
    pub fn adopt(&mut self, name: &'static str, handle: JoinHandle<()>) {
        self.aborts.push(handle.abort_handle());
        let stopping = self.stopping.clone();
        let failed = self.failed.clone();
        let failure = self.failure.clone();
        self.watchers.push(tokio::spawn(async move {
            let why = match handle.await {
                Ok(()) if stopping.is_cancelled() => return,
                Ok(()) => "stopped unexpectedly".to_string(),
                Err(error) if error.is_panic() => format!("panicked: {}", panic_message(error)),
                Err(_) if stopping.is_cancelled() => return,
                Err(_) => "was cancelled unexpectedly".to_string(),
            };
            tracing::error!(task = name, reason = %why, "background task failed; the component stops");
            metrics::counter!("background_task_failures_total", "task" => name).increment(1);
            failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(|| format!("background task `{name}` {why}"));
            failed.cancel();
        }));
    }

    /// Cancelled when any supervised task has failed.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// A token for the component's server: cancelled on `shutdown` or when a task fails.
    pub fn server_shutdown(&self, shutdown: &CancellationToken) -> CancellationToken {
        let token = shutdown.child_token();
        let failed = self.failed.clone();
        let server = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = failed.cancelled() => server.cancel(),
                _ = server.cancelled() => {}
            }
        });
        token
    }

    /// Marks the stop as expected: tasks ending from now on are not failures. Call before
    /// cancelling the tasks' own tokens.
    pub fn stopping(&self) {
        self.stopping.cancel();
    }

    /// Waits for every task (aborting those still running after `drain`, when given) and
    /// returns the first failure, naming its task.
    pub async fn join(self, drain: Option<Duration>) -> anyhow::Result<()> {
        self.stopping.cancel();
        let all = futures::future::join_all(self.watchers);
        match drain {
            None => {
                all.await;
            }
            Some(drain) => {
                if tokio::time::timeout(drain, all).await.is_err() {
                    tracing::warn!(
                        drain_ms = drain.as_millis() as u64,
                        "background tasks did not finish within the drain timeout; aborted"
                    );
                    self.aborts.iter().for_each(AbortHandle::abort);
                }
            }
        }
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        failure.map_or(Ok(()), |why| Err(anyhow::anyhow!(why)))
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_returns_early_fails_the_component_naming_it() {
        let mut supervisor = Supervisor::new();
        let background = CancellationToken::new();
        let healthy = background.clone();
        supervisor.spawn("healthy", async move { healthy.cancelled().await });
        supervisor.spawn("relay", async {});
        let failed = supervisor.failed();
        tokio::time::timeout(Duration::from_secs(10), failed.cancelled())
            .await
            .expect("failure noticed");
        supervisor.stopping();
        background.cancel();
        let error = supervisor.join(None).await.expect_err("a failure");
        assert!(
            error.to_string().contains("`relay` stopped unexpectedly"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_panicking_task_fails_the_component_with_its_message() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("worker", async { panic!("boom") });
        let failed = supervisor.failed();
        tokio::time::timeout(Duration::from_secs(10), failed.cancelled())
            .await
            .expect("failure noticed");
        let error = supervisor.join(None).await.expect_err("a failure");
        assert!(
            error.to_string().contains("`worker` panicked: boom"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn tasks_ending_after_stopping_are_not_failures() {
        let mut supervisor = Supervisor::new();
        let background = CancellationToken::new();
        let token = background.clone();
        supervisor.spawn("consumer", async move { token.cancelled().await });
        let shutdown = CancellationToken::new();
        let server = supervisor.server_shutdown(&shutdown);
        supervisor.stopping();
        background.cancel();
        supervisor
            .join(Some(Duration::from_secs(10)))
            .await
            .expect("clean stop");
        assert!(
            !server.is_cancelled(),
            "a clean stop does not stop the server by itself"
        );
    }

    #[tokio::test]
    async fn a_failure_stops_the_server() {
        let mut supervisor = Supervisor::new();
        let shutdown = CancellationToken::new();
        let server = supervisor.server_shutdown(&shutdown);
        supervisor.spawn("scheduler", async {});
        tokio::time::timeout(Duration::from_secs(10), server.cancelled())
            .await
            .expect("server told to stop");
        assert!(
            !shutdown.is_cancelled(),
            "the process-wide token is left to the launcher"
        );
    }
}
