//! The tenant-link watcher: for every customer linking an existing Microsoft tenant
//! (`microsoft_tenant_link_requested`), it reads Partner Center's reseller relationship
//! invitation link and then looks, at growing intervals, for the tenant among the partner's
//! customers (it appears there once the customer accepted). Each finding is recorded with its
//! `microsoft_tenant_link_updated` event in one transaction (transactional outbox).

use std::sync::Arc;
use std::time::Duration;

use marketplace_platform::clock::{SharedClock, to_micros};
use marketplace_platform::db::Database;
use marketplace_platform::outbox::Outbox;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::connectors::microsoft::MicrosoftConnector;
use crate::events;
use crate::store::{self, TenantLinkRow};
use crate::worker::WorkerSettings;

/// Requests looked at per round.
const BATCH: i64 = 50;
/// How often an idle watcher looks for pending requests anyway (e.g. after a restart, or one
/// requested through another replica).
const IDLE_LOOK: Duration = Duration::from_secs(60);

/// The watcher's dependencies.
pub(crate) struct Watcher {
    pub(crate) db: Database,
    pub(crate) outbox: Outbox,
    pub(crate) clock: SharedClock,
    pub(crate) connector: Arc<MicrosoftConnector>,
    pub(crate) settings: WorkerSettings,
    /// Notified when a request was recorded (the watcher then looks until none is pending).
    pub(crate) wake: Arc<Notify>,
}

impl Watcher {
    /// Looks at due requests until `stop` is cancelled.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let tick = Duration::from_millis(self.settings.tenant_link_poll_ms.clamp(10, 60_000));
        // Idle (no request pending) until woken or the idle look is due.
        let mut active = false;
        loop {
            let wait = if active { tick } else { IDLE_LOOK };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if self.connector.blocked().is_some() {
                active = true;
                continue;
            }
            active = match self.round().await {
                Ok(pending) => pending,
                Err(error) => {
                    tracing::warn!(%error, "tenant-link round failed; retried next round");
                    true
                }
            };
        }
    }

    /// The interval before the next look after `checks` looks.
    fn next_after(&self, checks: i64) -> i64 {
        let first = self.settings.tenant_link_poll_ms.max(1) as f64;
        let max = self.settings.tenant_link_poll_max_ms.max(1) as f64;
        let exponent = i32::try_from(checks.clamp(0, 60)).unwrap_or(60);
        let ms = (first * 1.5f64.powi(exponent)).min(max);
        (ms as i64) * 1_000
    }

    /// One round over the due requests; whether any request is still pending.
    async fn round(&self) -> anyhow::Result<bool> {
        let now = to_micros(self.clock.now());
        let due = store::due_tenant_links(self.db.pool(), now, BATCH).await?;
        for link in due {
            self.look(&link).await?;
        }
        Ok(store::pending_tenant_links(self.db.pool()).await? > 0)
    }

    async fn look(&self, link: &TenantLinkRow) -> anyhow::Result<()> {
        let now = to_micros(self.clock.now());
        let found = match self.connector.tenant_link(&link.domain).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(customer = %link.customer_id, domain = %link.domain, code = %error.code, message = %error.message, "Partner Center look at a reseller relationship failed");
                let mut conn = self.db.pool().acquire().await?;
                let next = now + self.next_after(link.checks);
                store::record_tenant_link(&mut conn, link, &link.invitation_url, "", next, now)
                    .await?;
                return Ok(());
            }
        };
        let tenant_id = found.tenant_id.unwrap_or_default();
        let news = found.invitation_url != link.invitation_url || !tenant_id.is_empty();
        let next = now + self.next_after(link.checks);
        let mut tx = self.db.pool().begin().await?;
        let recorded =
            store::record_tenant_link(&mut tx, link, &found.invitation_url, &tenant_id, next, now)
                .await?;
        if recorded && news {
            let event =
                events::tenant_link_updated(link, &found.invitation_url, &tenant_id, &self.clock);
            self.outbox.append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        if recorded && news {
            self.outbox.notify();
            if tenant_id.is_empty() {
                tracing::info!(customer = %link.customer_id, domain = %link.domain, "reseller relationship invitation link known; waiting for the customer");
            } else {
                tracing::info!(customer = %link.customer_id, domain = %link.domain, tenant = %tenant_id, "customer accepted the reseller relationship");
            }
        }
        Ok(())
    }
}
