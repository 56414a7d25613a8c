//! The worker pool: claims due jobs with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), lets
//! the job's connector advance it, and records the outcome together with its event in one
//! transaction. Any number of pools may share a database; a crashed worker's jobs are picked up
//! again once their lease has passed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use marketplace_platform::clock::{SharedClock, from_micros, to_micros};
use marketplace_platform::db::Database;
use marketplace_platform::outbox::Outbox;
use marketplace_proto::events::v1 as ev;
use prost::Message;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::connectors::Connectors;
use crate::domain::connector::{Checkpoint, CheckpointSaver, Report, SaveError, Step};
use crate::domain::error::{ErrorClass, VendorError};
use crate::domain::job::JobState;
use crate::domain::order::{Change, JobContext};
use crate::domain::retry::RetryPolicy;
use crate::domain::transition::{Announce, decide, settle_refused_change};
use crate::events::{self, JobFacts};
use crate::store::{self, JobRow};

/// Worker settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Worker tasks of this replica.
    pub workers: usize,
    /// Jobs claimed per claim.
    pub claim_batch: i64,
    /// How long a claimed job belongs to its worker (milliseconds); then any worker may take it.
    pub lease_ms: u64,
    /// How often idle workers look for due jobs when nothing woke them (milliseconds).
    pub poll_interval_ms: u64,
    /// First retry backoff (milliseconds); doubles per retry, with jitter.
    pub backoff_base_ms: u64,
    /// Largest retry backoff (milliseconds).
    pub backoff_max_ms: u64,
    /// Transient errors (network, timeouts, 5xx) a job may hit before it fails.
    pub max_transient_attempts: u32,
    /// 429 answers a job may hit before it fails.
    pub max_throttled_attempts: u32,
    /// Vendor conflicts (order in progress) a job may hit before it fails.
    pub max_conflict_attempts: u32,
    /// First status poll after the vendor accepted (milliseconds); grows ×1.5 per poll.
    pub vendor_poll_initial_ms: u64,
    /// Largest status poll interval (milliseconds).
    pub vendor_poll_max_ms: u64,
    /// Delay between probes of a job whose vendor refused our credentials or setup
    /// (milliseconds); the first accepted call on that connector wakes the waiting jobs at once.
    pub configuration_probe_interval_ms: u64,
    /// A job still unfinished after this long fails (seconds). Hours are normal; days are not.
    pub max_job_age_secs: u64,
    /// How long shutdown waits for in-flight jobs (milliseconds).
    pub drain_timeout_ms: u64,
    /// First look at a pending reseller relationship (existing Microsoft tenant) after the
    /// previous one (milliseconds); grows ×1.5 per look up to `tenant_link_poll_max_ms`.
    pub tenant_link_poll_ms: u64,
    /// Largest interval between looks at a pending reseller relationship (milliseconds).
    pub tenant_link_poll_max_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            claim_batch: 8,
            lease_ms: 300_000,
            poll_interval_ms: 500,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            max_transient_attempts: 10,
            max_throttled_attempts: 30,
            max_conflict_attempts: 20,
            vendor_poll_initial_ms: 2_000,
            vendor_poll_max_ms: 600_000,
            configuration_probe_interval_ms: 60_000,
            max_job_age_secs: 7 * 24 * 3600,
            drain_timeout_ms: 10_000,
            tenant_link_poll_ms: 1_000,
            tenant_link_poll_max_ms: 600_000,
        }
    }
}

impl WorkerSettings {
    /// The retry policy these settings describe.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_base_ms)),
            max_transient: self.max_transient_attempts,
            max_throttled: self.max_throttled_attempts,
            max_conflict: self.max_conflict_attempts,
            poll_initial: Duration::from_millis(self.vendor_poll_initial_ms),
            poll_max: Duration::from_millis(
                self.vendor_poll_max_ms.max(self.vendor_poll_initial_ms),
            ),
            probe_interval: Duration::from_millis(self.configuration_probe_interval_ms.max(1)),
        }
    }
}

/// What a [`WorkerHook`] tells the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Record the outcome normally.
    Continue,
    /// Behave like a process killed right now: drop the outcome uncommitted and stop the worker.
    Crash,
}

/// Test hook called between a job's vendor calls and the commit of their outcome.
pub trait WorkerHook: Send + Sync + 'static {
    /// Called after the connector returned for `job_id`, before anything is committed.
    fn after_vendor_call(&self, job_id: &str) -> HookAction;
}

/// Everything the workers share.
pub(crate) struct Pool {
    pub(crate) db: Database,
    pub(crate) outbox: Outbox,
    pub(crate) clock: SharedClock,
    pub(crate) connectors: Connectors,
    pub(crate) settings: WorkerSettings,
    pub(crate) wake: Arc<Notify>,
    pub(crate) hook: Option<Arc<dyn WorkerHook>>,
    pub(crate) instance: String,
}

/// After a wake-up finds nothing (the job row commits just after the wake-up), look again after
/// these pauses before going back to sleep.
const EAGER_PAUSES_MS: [u64; 12] = [1, 1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32];

/// Outcomes of a batch are committed together (one fsync for many jobs), but never held longer than this.
const MAX_COMMIT_DELAY: Duration = Duration::from_millis(100);

enum Flow {
    /// An outcome to commit.
    Record(Box<Prepared>),
    /// Nothing to commit.
    Skip,
    /// The test hook "killed" the worker.
    Crash,
}

/// What a round taught about its connector's credentials.
#[derive(Debug, Clone)]
enum Health {
    /// The vendor refused our credentials or setup.
    Refused(VendorError),
    /// The vendor accepted a call (any answer past authentication).
    Accepted,
}

/// What a commit did besides the outcomes.
#[derive(Debug, Default)]
struct Committed {
    /// Events were appended (wake the relay).
    events: bool,
    /// Connectors that work again (wake their waiting jobs).
    recovered: Vec<String>,
}

/// A round's outcome, ready to commit.
struct Prepared {
    job_id: String,
    connector: String,
    vendor_id: String,
    health: Option<Health>,
    customer_id: String,
    outcome: store::Outcome,
    event: Option<ev::Envelope>,
    account: Option<store::Account>,
    state: JobState,
    error: Option<VendorError>,
    next_in: Duration,
}

impl Pool {
    /// Starts the workers.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.settings.workers.max(1))
            .map(|n| {
                let pool = self.clone();
                let shutdown = shutdown.clone();
                let owner = format!("{}-{n}", pool.instance);
                tokio::spawn(async move { pool.run(owner, shutdown).await })
            })
            .collect()
    }

    async fn run(self: Arc<Self>, owner: String, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(1));
        let mut eager = 0usize;
        while !shutdown.is_cancelled() {
            let claimed = match self.claim(&owner).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, worker = %owner, "claiming jobs failed; retrying");
                    tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(poll) => {} }
                    continue;
                }
            };
            if claimed.is_empty() {
                if let Some(pause) = EAGER_PAUSES_MS.get(eager) {
                    eager += 1;
                    tokio::time::sleep(Duration::from_millis(*pause)).await;
                    continue;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => eager = 0,
                    _ = tokio::time::sleep(poll) => {}
                }
                continue;
            }
            eager = EAGER_PAUSES_MS.len();
            if claimed.len() as i64 >= self.settings.claim_batch {
                // More work is likely waiting: get a peer going.
                self.wake.notify_one();
            }
            let claimed_at = Instant::now();
            let mut pending: Vec<Prepared> = Vec::new();
            let mut oldest: Option<Instant> = None;
            for job in claimed {
                // Each job runs in its own task: even a bug triggered by vendor input cannot take
                // the worker down (the job is retried after its lease).
                let job_id = job.id.clone();
                let (pool, job_owner) = (self.clone(), owner.clone());
                let flow = tokio::spawn(async move { pool.process(&job_owner, job, claimed_at).await })
                    .await
                    .unwrap_or_else(|error| {
                        tracing::error!(%job_id, %error, "job processing panicked; the job is retried after its lease");
                        Flow::Skip
                    });
                match flow {
                    Flow::Crash => {
                        tracing::warn!(worker = %owner, "worker stopped by test hook (simulated crash)");
                        return;
                    }
                    Flow::Skip => {}
                    Flow::Record(prepared) => {
                        pending.push(*prepared);
                        oldest.get_or_insert_with(Instant::now);
                    }
                }
                if oldest.is_some_and(|t| t.elapsed() > MAX_COMMIT_DELAY) {
                    self.commit(&owner, std::mem::take(&mut pending)).await;
                    oldest = None;
                }
            }
            self.commit(&owner, pending).await;
        }
    }

    /// Claims due jobs; queued ones become submitted (announced in the same transaction).
    async fn claim(&self, owner: &str) -> Result<Vec<JobRow>, sqlx::Error> {
        let now = self.clock.now();
        let now_micros = to_micros(now);
        let lease_until = now_micros + (self.settings.lease_ms as i64) * 1_000;
        // Jobs of a vendor that asked us to wait stay where they are (queued ones stay cancellable).
        let blocked = self.connectors.blocked();
        let mut tx = self.db.pool().begin().await?;
        let jobs = store::claim(
            &mut tx,
            self.db.skip_locked(),
            owner,
            now_micros,
            lease_until,
            self.settings.claim_batch.max(1),
            &blocked,
        )
        .await?;
        if jobs.is_empty() {
            tx.rollback().await?;
            return Ok(jobs);
        }
        let mut announced = false;
        for job in jobs.iter().filter(|j| j.state == JobState::Queued.as_str()) {
            let event =
                events::progressed(&JobFacts::of(job), JobState::Submitted, "", &self.clock);
            self.outbox.append(&mut tx, &event, now_micros).await?;
            announced = true;
        }
        tx.commit().await?;
        if announced {
            self.outbox.notify();
        }
        Ok(jobs)
    }

    async fn process(&self, owner: &str, job: JobRow, claimed_at: Instant) -> Flow {
        let span = tracing::info_span!("provisioning.job", job_id = %job.id, connector = %job.connector, state = %job.state);
        // Continue the trace of the order that asked for this job (it may be hours old).
        if !job.traceparent.is_empty() {
            marketplace_platform::propagation::set_parent_from_pairs(
                &span,
                &[("traceparent".to_string(), job.traceparent.clone())],
            );
        }
        self.process_job(owner, job, claimed_at)
            .instrument(span)
            .await
    }

    async fn process_job(&self, owner: &str, job: JobRow, claimed_at: Instant) -> Flow {
        let now_micros = to_micros(self.clock.now());
        // A job that waited too long in this worker's batch goes back rather than risk its lease.
        if claimed_at.elapsed() > Duration::from_millis(self.settings.lease_ms / 2) {
            let _ = store::release(self.db.pool(), &job.id, owner, now_micros, now_micros).await;
            return Flow::Skip;
        }
        let mut checkpoint: Checkpoint = serde_json::from_str(&job.checkpoint).unwrap_or_default();
        let mut before: Option<Checkpoint> = None;
        let mut called = false;
        let report = match self.connectors.get(&job.connector).cloned() {
            None => Report::new(Step::Error(VendorError::permanent(
                "unknown_connector",
                format!(
                    "no connector {:?} is configured for this plan",
                    job.connector
                ),
            ))),
            Some(connector) => {
                if let Some(wait) = connector.blocked_for() {
                    // The vendor asked us to wait (429): do not call before Retry-After.
                    let next = now_micros + wait.as_micros() as i64;
                    let _ = store::release(self.db.pool(), &job.id, owner, next, now_micros).await;
                    return Flow::Skip;
                }
                match self.context(&job, &mut checkpoint).await {
                    Ok(ctx) => {
                        before = Some(checkpoint.clone());
                        let saver = Saver {
                            db: self.db.clone(),
                            job_id: job.id.clone(),
                            owner: owner.to_string(),
                            clock: self.clock.clone(),
                        };
                        let started = Instant::now();
                        called = true;
                        let offset = ev::FulfilmentRequested::decode(job.request.as_slice())
                            .map(|r| r.test_clock_offset_ms)
                            .unwrap_or_default();
                        let report = crate::connectors::http::TEST_CLOCK_OFFSET_MS
                            .scope(offset, connector.advance(&ctx, &mut checkpoint, &saver))
                            .await;
                        metrics::histogram!("provisioning_vendor_round_seconds", "connector" => job.connector.clone())
                            .record(started.elapsed().as_secs_f64());
                        report
                    }
                    Err(error) => Report::new(Step::Error(error)),
                }
            }
        };
        if let Some(hook) = &self.hook
            && hook.after_vendor_call(&job.id) == HookAction::Crash
        {
            return Flow::Crash;
        }
        if report.step == Step::LostLease {
            tracing::warn!(job_id = %job.id, "lease lost while working; another worker owns the job");
            return Flow::Skip;
        }
        let report = self.sibling_created_tenant(&job, report).await;
        Flow::Record(Box::new(self.prepare(
            &job,
            before.as_ref(),
            &checkpoint,
            report,
            called,
        )))
    }

    /// Two orders of one customer can both try to create its new Microsoft tenant; the slower
    /// job gets "domain already in use" (600100). While a sibling job of the same customer is
    /// queued, running or succeeded, that is not the reseller's problem (the chaos run found
    /// such orders stuck as inquiring): retry as a conflict, and the next round reuses the
    /// tenant the sibling remembers once it commits.
    async fn sibling_created_tenant(&self, job: &JobRow, report: Report) -> Report {
        let Step::Error(error) = &report.step else {
            return report;
        };
        if job.connector != "microsoft_nce" || error.code != "600100" {
            return report;
        }
        match store::sibling_jobs(self.db.pool(), &job.connector, &job.customer_id, &job.id).await {
            Ok(siblings) if siblings > 0 => Report {
                step: Step::Error(VendorError::new(
                    ErrorClass::Conflict,
                    "tenant_created_by_sibling",
                    "another order of this customer is creating its Microsoft tenant; retrying with it",
                )),
                last_response: report.last_response,
            },
            _ => report,
        }
    }

    /// The connector's view of the job, with remembered vendor accounts filled in.
    async fn context(
        &self,
        job: &JobRow,
        checkpoint: &mut Checkpoint,
    ) -> Result<JobContext, VendorError> {
        let request = ev::FulfilmentRequested::decode(job.request.as_slice()).map_err(|e| {
            VendorError::permanent("bad_request", format!("stored request is unreadable: {e}"))
        })?;
        let parameters: BTreeMap<String, String> =
            serde_json::from_str(&job.parameters).unwrap_or_default();
        let order = events::order_from_proto(&request, parameters)
            .ok_or_else(|| VendorError::permanent("bad_request", "the request names no change"))?;
        let needs_account = match job.connector.as_str() {
            "microsoft_nce" => {
                checkpoint.customer_tenant_id.is_none()
                    && order.customer.microsoft_tenant_id.is_empty()
            }
            // Autodesk end-customer CSNs travel back through ordering
            // (`FulfilmentSucceeded.autodesk_customer_csn` → `CustomerFacts.autodesk_csn`).
            _ => false,
        };
        if needs_account {
            let account = store::account(self.db.pool(), &job.connector, &job.customer_id)
                .await
                .map_err(|e| VendorError::transient("storage", e.to_string()))?;
            if let Some(account) = account {
                checkpoint.customer_tenant_id = Some(account.account_id);
                checkpoint.customer_tenant_domain = Some(account.domain);
                checkpoint.mca_confirmed |= account.agreement_confirmed;
            }
        }
        Ok(JobContext {
            job_id: job.id.clone(),
            generation: job.generation,
            order,
        })
    }

    /// Decides the transition of a round and builds what to store and publish.
    fn prepare(
        &self,
        job: &JobRow,
        before: Option<&Checkpoint>,
        checkpoint: &Checkpoint,
        report: Report,
        called: bool,
    ) -> Prepared {
        let now = self.clock.now();
        let now_micros = to_micros(now);
        let state = JobState::parse(&job.state).unwrap_or(JobState::Submitted);
        let counts: BTreeMap<String, u32> =
            serde_json::from_str(&job.error_counts).unwrap_or_default();
        let age = (now - from_micros(job.created_at))
            .try_into()
            .unwrap_or(Duration::ZERO);
        let max_age = Duration::from_secs(self.settings.max_job_age_secs);
        let change = Change::parse(&job.change_type).unwrap_or(Change::NewSubscription);
        let step = settle_refused_change(report.step, change);
        // Only the vendor's own answers say something about our credentials (a network error
        // or a 5xx says nothing either way).
        let health = match &step {
            _ if !called => None,
            Step::Error(e) if e.class == ErrorClass::Configuration => {
                Some(Health::Refused(e.clone()))
            }
            Step::Error(e) if e.class == ErrorClass::Transient => None,
            Step::LostLease => None,
            _ => Some(Health::Accepted),
        };
        let mut t = decide(
            state,
            &step,
            &counts,
            checkpoint.polls,
            age,
            max_age,
            &self.settings.policy(),
            rand::random::<f64>(),
        );
        // The vendor accepted the order but the status could not be read: the job is waiting on
        // the vendor all the same (and the retry polls instead of ordering again).
        if t.state == JobState::Submitted
            && let Some(reference) = &checkpoint.vendor_reference
        {
            t.state = JobState::WaitingOnVendor;
            t.vendor_reference = reference.clone();
            if state != JobState::WaitingOnVendor && t.announce == Announce::Nothing {
                t.announce = Announce::Waiting(reference.clone());
            }
        }
        let vendor_subscription_id = match &t.announce {
            Announce::Succeeded(s) if !s.vendor_subscription_id.is_empty() => {
                s.vendor_subscription_id.clone()
            }
            _ => job.vendor_subscription_id.clone(),
        };
        let outcome = store::Outcome {
            state: t.state.as_str().to_string(),
            next_attempt_at: now_micros + t.next_in.as_micros() as i64,
            vendor_reference: if t.vendor_reference.is_empty() {
                job.vendor_reference.clone()
            } else {
                t.vendor_reference.clone()
            },
            vendor_subscription_id,
            last_vendor_response: report.last_response.clone(),
            last_error: t.error.as_ref().and_then(|e| serde_json::to_string(e).ok()),
            checkpoint: serde_json::to_string(checkpoint).unwrap_or_else(|_| "{}".into()),
            error_counts: serde_json::to_string(&t.error_counts).unwrap_or_else(|_| "{}".into()),
        };
        let facts = JobFacts::of(job);
        let event = match &t.announce {
            Announce::Nothing => None,
            Announce::Waiting(reference) => Some(events::progressed(
                &facts,
                JobState::WaitingOnVendor,
                reference,
                &self.clock,
            )),
            Announce::Succeeded(success) => Some(events::succeeded(&facts, success, &self.clock)),
            Announce::Inquiring(error) => Some(events::inquiring(&facts, error, &self.clock)),
            Announce::Failed(error) => Some(events::failed(&facts, error, &self.clock)),
        };
        // A job that starts waiting on refused credentials says so at once (its item shows it).
        let event = match (&event, &t.error) {
            (None, Some(error))
                if error.class == ErrorClass::Configuration && !waited_on_configuration(job) =>
            {
                let reference = if t.vendor_reference.is_empty() {
                    &job.vendor_reference
                } else {
                    &t.vendor_reference
                };
                Some(events::waiting_on_configuration(
                    &facts,
                    t.state,
                    reference,
                    error,
                    &self.clock,
                ))
            }
            _ => event,
        };
        Prepared {
            job_id: job.id.clone(),
            connector: job.connector.clone(),
            vendor_id: job.vendor_id.clone(),
            health,
            customer_id: job.customer_id.clone(),
            outcome,
            event,
            account: before.and_then(|before| remembered_account(job, before, checkpoint)),
            state: t.state,
            error: t.error,
            next_in: t.next_in,
        }
    }

    /// Commits outcomes (each only if this worker still holds its job) with their events, in one transaction.
    async fn commit(&self, owner: &str, prepared: Vec<Prepared>) {
        if prepared.is_empty() {
            return;
        }
        let mut result = self.try_commit(owner, &prepared).await;
        for _ in 0..3 {
            match &result {
                // Deadlock or serialization failure: the transaction rolled back whole; the
                // prepared outcomes are still right, so commit them again now rather than
                // leaving the jobs to another worker after their lease.
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    tracing::info!(error = %e, "recording outcomes collided; retrying");
                    result = self.try_commit(owner, &prepared).await;
                }
                _ => break,
            }
        }
        match result {
            Ok(committed) => {
                if committed.events {
                    self.outbox.notify();
                }
                for connector in &committed.recovered {
                    self.resume_waiting(connector).await;
                }
                for p in &prepared {
                    if let Some(error) = &p.error {
                        metrics::counter!("provisioning_vendor_errors_total", "connector" => p.connector.clone(), "class" => error.class.as_str())
                            .increment(1);
                    }
                    if !p.state.is_active() {
                        metrics::counter!("provisioning_jobs_finished_total", "connector" => p.connector.clone(), "state" => p.state.as_str())
                            .increment(1);
                    }
                    match &p.error {
                        Some(error) if p.state.is_active() => {
                            tracing::info!(job_id = %p.job_id, %error, retry_in_ms = p.next_in.as_millis() as u64, "vendor error; will retry")
                        }
                        Some(error) => {
                            tracing::info!(job_id = %p.job_id, %error, state = p.state.as_str(), "job ended with a vendor error")
                        }
                        None => {
                            tracing::debug!(job_id = %p.job_id, state = p.state.as_str(), "job advanced")
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, jobs = prepared.len(), "recording outcomes failed; the jobs are retried after their lease")
            }
        }
    }

    /// Wakes the jobs of `connector` waiting on a configuration probe (its vendor accepts our
    /// credentials again), rather than leaving them to their full probe delay.
    async fn resume_waiting(&self, connector: &str) {
        let now_micros = to_micros(self.clock.now());
        match store::wake_configuration_waiters(self.db.pool(), connector, now_micros).await {
            Ok(woken) => {
                tracing::info!(
                    connector,
                    resumed_jobs = woken,
                    "vendor accepts our credentials again; waiting jobs resume"
                );
                self.wake.notify_waiters();
            }
            Err(error) => {
                tracing::warn!(connector, %error, "waking the jobs waiting on the connector failed; they resume at their next probe")
            }
        }
    }

    async fn try_commit(
        &self,
        owner: &str,
        prepared: &[Prepared],
    ) -> Result<Committed, sqlx::Error> {
        let now_micros = to_micros(self.clock.now());
        let mut tx = self.db.pool().begin().await?;
        let mut events = false;
        let mut accounts = Vec::new();
        // The last word of this batch on each connector (sorted: a global lock order).
        let mut health: BTreeMap<&str, (&str, &Health)> = BTreeMap::new();
        for p in prepared {
            if !store::record(&mut tx, &p.job_id, owner, &p.outcome, now_micros).await? {
                tracing::warn!(job_id = %p.job_id, "lease lost before commit; outcome dropped (another worker owns the job)");
                continue;
            }
            if let Some(h) = &p.health {
                health.insert(p.connector.as_str(), (p.vendor_id.as_str(), h));
            }
            if let Some(event) = &p.event {
                self.outbox.append(&mut tx, event, now_micros).await?;
                events = true;
            }
            if let Some(account) = &p.account {
                accounts.push((p.connector.as_str(), p.customer_id.as_str(), account));
            }
        }
        // Account rows are shared between jobs of one customer: upsert them in one global order,
        // so that two workers' batches lock them in the same order and cannot deadlock (the
        // chaos run found `deadlock detected` here, stranding jobs until their lease ended).
        accounts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (connector, customer_id, account) in accounts {
            store::upsert_account(&mut tx, connector, customer_id, account, now_micros).await?;
        }
        // Connector health: one event per change (staff are alerted once per connector, not
        // per job); the row is only locked while the connector is misconfigured.
        let mut recovered = Vec::new();
        let mut gauges = Vec::new();
        for (connector, (vendor_id, h)) in health {
            let error = match h {
                Health::Refused(error) => {
                    if !store::mark_misconfigured(
                        &mut tx,
                        connector,
                        &error.code,
                        &error.message,
                        now_micros,
                    )
                    .await?
                    {
                        continue;
                    }
                    tracing::warn!(connector, %error, "vendor refuses our credentials or setup; jobs wait on a slow probe, staff alerted");
                    gauges.push((connector.to_string(), true));
                    Some(error)
                }
                Health::Accepted => {
                    if !store::mark_healthy(&mut tx, connector, now_micros).await? {
                        continue;
                    }
                    recovered.push(connector.to_string());
                    gauges.push((connector.to_string(), false));
                    None
                }
            };
            let event = events::connector_health(connector, vendor_id, error, &self.clock);
            self.outbox.append(&mut tx, &event, now_micros).await?;
            events = true;
        }
        tx.commit().await?;
        for (connector, bad) in &gauges {
            metrics::gauge!("provisioning_connector_misconfigured", "connector" => connector.clone())
                .set(if *bad { 1.0 } else { 0.0 });
        }
        Ok(Committed { events, recovered })
    }
}

/// Whether the job's last round ended on refused credentials.
fn waited_on_configuration(job: &JobRow) -> bool {
    job.last_error
        .as_deref()
        .and_then(|e| serde_json::from_str::<VendorError>(e).ok())
        .is_some_and(|e| e.class == ErrorClass::Configuration)
}

/// The Microsoft tenant a round created (or attested) for the customer, to reuse for later jobs
/// (also those of re-submissions, which ordering sends as new requests).
fn remembered_account(
    job: &JobRow,
    before: &Checkpoint,
    after: &Checkpoint,
) -> Option<store::Account> {
    let changed = after.customer_tenant_id != before.customer_tenant_id
        || after.mca_confirmed != before.mca_confirmed;
    if job.connector != "microsoft_nce" || !changed {
        return None;
    }
    after.customer_tenant_id.as_ref().map(|id| store::Account {
        account_id: id.clone(),
        domain: after.customer_tenant_domain.clone().unwrap_or_default(),
        agreement_confirmed: after.mca_confirmed,
    })
}

/// Saves checkpoints for one claimed job.
struct Saver {
    db: Database,
    job_id: String,
    owner: String,
    clock: SharedClock,
}

#[async_trait::async_trait]
impl CheckpointSaver for Saver {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), SaveError> {
        let json =
            serde_json::to_string(checkpoint).map_err(|e| SaveError::Storage(e.to_string()))?;
        match store::save_checkpoint(
            self.db.pool(),
            &self.job_id,
            &self.owner,
            &json,
            to_micros(self.clock.now()),
        )
        .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(SaveError::LeaseLost),
            Err(e) => Err(SaveError::Storage(e.to_string())),
        }
    }
}
