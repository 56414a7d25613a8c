//! Fan-out of new feed rows to `WatchNotifications` streams. One poller per App reads rows in
//! insertion order (woken by the consumers, and periodically for rows written by other replicas)
//! and broadcasts them; each stream filters its own scope.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use platform::db::Database;

use crate::store::feed::{self, NotificationRow};

/// How long rows may commit out of sequence order (a concurrent transaction holding a lower seq).
const REORDER_WINDOW: Duration = Duration::from_secs(5);

/// The broadcast side of the feed.
#[derive(Debug, Clone)]
pub(crate) struct FeedHub {
    sender: broadcast::Sender<Arc<NotificationRow>>,
    wake: Arc<Notify>,
}

impl FeedHub {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self {
            sender,
            wake: Arc::new(Notify::new()),
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<NotificationRow>> {
        self.sender.subscribe()
    }

    /// Polls new rows until `shutdown`.
    pub(crate) async fn run(self, db: Database, poll: Duration, shutdown: CancellationToken) {
        let high = loop {
            match feed::max_seq(db.pool()).await {
                Ok(n) => break n,
                Err(error) => {
                    tracing::warn!(%error, "feed hub cannot read the feed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut cursor = Cursor {
            high,
            gaps: VecDeque::new(),
        };
        let mut woken = false;
        loop {
            let mut found = self.poll_once(&db, &mut cursor).await;
            if found == 0 && woken {
                for delay in [2u64, 4, 8, 16, 32] {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    found = self.poll_once(&db, &mut cursor).await;
                    if found > 0 {
                        break;
                    }
                }
            }
            woken = false;
            if found > 0 {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => woken = true,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn poll_once(&self, db: &Database, cursor: &mut Cursor) -> usize {
        let mut rows = match feed::after(db.pool(), cursor.high, 500).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "feed hub poll failed");
                return 0;
            }
        };
        // Seqs skipped so far may still commit (PostgreSQL allocates them before commit).
        cursor.gaps.retain(|(at, _)| at.elapsed() < REORDER_WINDOW);
        if !cursor.gaps.is_empty() {
            let wanted: Vec<i64> = cursor.gaps.iter().map(|(_, s)| *s).collect();
            if let Ok(late) = feed::by_seqs(db.pool(), &wanted).await {
                cursor
                    .gaps
                    .retain(|(_, s)| !late.iter().any(|r| r.seq == *s));
                rows.extend(late);
            }
        }
        let fresh = rows.len();
        for row in rows {
            if row.seq > cursor.high {
                for missing in cursor.high + 1..row.seq {
                    if cursor.gaps.len() < 1024 {
                        cursor.gaps.push_back((Instant::now(), missing));
                    }
                }
                cursor.high = row.seq;
            }
            let _ = self.sender.send(Arc::new(row));
        }
        fresh
    }
}

struct Cursor {
    high: i64,
    gaps: VecDeque<(Instant, i64)>,
}
