//! The in-process bus for the single-process (embedded) mode.
//!
//! `publish` hands the event to every subscription whose filters match and waits until each of
//! them settled it. An ack from all of them is the only `Ok` (besides no subscription matching):
//! a nack, a dropped delivery, a subscription gone or an `ack_wait` elapsed make `publish` fail so
//! that the outbox relay keeps the row and retries. Together with the outbox this makes delivery
//! at-least-once across crashes. Channels are bounded by the subscriptions' `max_batch`, so a slow
//! subscriber slows the relay down instead of growing memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};

use super::error::BoxError;
use super::subject::{
    subject_matches, validate_event_id, validate_headers, validate_spec, validate_subject,
};
use super::{
    Acker, BusError, Delivery, DeliveryStream, EventBus, OutgoingEvent, Settlement,
    SubscriptionSpec,
};

/// How many recently failed event ids a subscription remembers to flag their redelivery.
const REMEMBERED_FAILURES: usize = 4096;

/// An in-memory [`EventBus`] for one process. Register subscriptions before relays start.
///
/// Subscribing twice with the same durable name while the first stream is alive shares the work
/// between the streams, like a NATS durable consumer; once every stream of a durable name is
/// dropped, events matching it fail to publish until it is subscribed again.
#[derive(Clone, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    groups: HashMap<String, Group>,
}

/// The subscriptions sharing one durable name.
struct Group {
    filters: Vec<String>,
    ack_wait: Duration,
    sender: mpsc::Sender<Envelope>,
    receiver: Weak<tokio::sync::Mutex<mpsc::Receiver<Envelope>>>,
    failures: RecentIds,
    /// Live fan-out: best effort, never holds the publisher back, forgotten when dropped.
    live: bool,
}

/// An event on its way to a subscription, with the channel its settlement goes back on.
struct Envelope {
    event: OutgoingEvent,
    redelivered: bool,
    reply: oneshot::Sender<Settlement>,
}

/// The settling side of an in-process delivery.
pub(crate) struct InProcessAcker {
    id: String,
    reply: oneshot::Sender<Settlement>,
}

impl InProcessAcker {
    pub(crate) fn settle(self, settlement: Settlement) -> Result<(), BusError> {
        self.reply.send(settlement).map_err(|_| BusError::Ack {
            id: self.id,
            cause: BoxError::from("the publisher stopped waiting for this delivery"),
        })
    }
}

/// A bounded set of event ids, forgetting the oldest first.
#[derive(Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: &str) {
        if self.set.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            while self.order.len() > REMEMBERED_FAILURES {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if self.set.remove(id) {
            self.order.retain(|known| known != id);
        }
    }
}

/// One subscription a published event goes to.
struct Target {
    durable_name: String,
    ack_wait: Duration,
    sender: mpsc::Sender<Envelope>,
    redelivered: bool,
    live: bool,
}

impl InProcessBus {
    /// An empty bus without subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single step.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn targets(&self, event: &OutgoingEvent) -> Result<Vec<Target>, BusError> {
        let state = self.state();
        if state.closed {
            return Err(BusError::Closed);
        }
        Ok(state
            .groups
            .iter()
            .filter(|(_, group)| !(group.live && group.receiver.strong_count() == 0))
            .filter(|(_, group)| {
                group
                    .filters
                    .iter()
                    .any(|filter| subject_matches(filter, &event.subject))
            })
            .map(|(durable_name, group)| Target {
                durable_name: durable_name.clone(),
                ack_wait: group.ack_wait,
                sender: group.sender.clone(),
                redelivered: group.failures.contains(&event.id),
                live: group.live,
            })
            .collect())
    }

    fn record_outcome(&self, durable_name: &str, id: &str, succeeded: bool) {
        let mut state = self.state();
        if let Some(group) = state.groups.get_mut(durable_name) {
            if succeeded {
                group.failures.remove(id);
            } else {
                group.failures.insert(id);
            }
        }
    }
}

/// Hands `event` to one subscription and waits for its settlement.
async fn deliver(target: &Target, event: OutgoingEvent) -> Result<(), BusError> {
    let id = event.id.clone();
    let undelivered = || BusError::Undelivered {
        id: id.clone(),
        durable_name: target.durable_name.clone(),
    };
    let timed_out = || BusError::AckTimeout {
        id: id.clone(),
        durable_name: target.durable_name.clone(),
        ack_wait: target.ack_wait,
    };
    let (reply, settled) = oneshot::channel();
    let envelope = Envelope {
        event,
        redelivered: target.redelivered,
        reply,
    };
    tokio::time::timeout(target.ack_wait, target.sender.send(envelope))
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| undelivered())?;
    match tokio::time::timeout(target.ack_wait, settled).await {
        Err(_) => Err(timed_out()),
        Ok(Err(_)) => Err(undelivered()),
        Ok(Ok(Settlement::Ack)) => Ok(()),
        Ok(Ok(Settlement::Nack(retry_after))) => Err(BusError::Nacked {
            id,
            durable_name: target.durable_name.clone(),
            retry_after,
        }),
    }
}

/// Turns the next live envelope from the shared receiver into a delivery.
async fn next_delivery(
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Envelope>>>,
) -> Option<(
    Result<Delivery, BusError>,
    Arc<tokio::sync::Mutex<mpsc::Receiver<Envelope>>>,
)> {
    loop {
        let envelope = receiver.lock().await.recv().await?;
        if envelope.reply.is_closed() {
            // The publisher gave up (ack_wait elapsed); the relay publishes the event again.
            tracing::debug!(event_id = %envelope.event.id, "skipping an abandoned delivery");
            continue;
        }
        let OutgoingEvent {
            id,
            subject,
            headers,
            payload,
        } = envelope.event;
        let delivery = Delivery {
            acker: Acker::InProcess(InProcessAcker {
                id: id.clone(),
                reply: envelope.reply,
            }),
            id,
            subject,
            headers,
            payload,
            redelivered: envelope.redelivered,
        };
        return Some((Ok(delivery), receiver));
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: OutgoingEvent) -> Result<(), BusError> {
        validate_event_id(&event.id)?;
        validate_subject(&event.subject)?;
        validate_headers(&event.headers)?;
        let targets = self.targets(&event)?;
        if targets.is_empty() {
            tracing::debug!(event_id = %event.id, subject = %event.subject, "no subscription matches");
            return Ok(());
        }
        let outcomes = join_all(targets.iter().map(|target| deliver(target, event.clone()))).await;
        let mut first_error = None;
        for (target, outcome) in targets.iter().zip(outcomes) {
            if target.live {
                // Live watchers are best effort: they re-read state on their own.
                if let Err(error) = outcome {
                    tracing::debug!(durable_name = %target.durable_name, %error, "live delivery dropped");
                }
                continue;
            }
            self.record_outcome(&target.durable_name, &event.id, outcome.is_ok());
            if let Err(error) = outcome {
                tracing::debug!(
                    event_id = %event.id,
                    subject = %event.subject,
                    durable_name = %target.durable_name,
                    %error,
                    "in-process delivery failed"
                );
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<DeliveryStream, BusError> {
        validate_spec(&spec)?;
        let mut state = self.state();
        if state.closed {
            return Err(BusError::Closed);
        }
        let live = state
            .groups
            .get_mut(&spec.durable_name)
            .and_then(|group| group.receiver.upgrade().map(|receiver| (group, receiver)));
        let receiver = match live {
            Some((group, receiver)) => {
                group.filters.clone_from(&spec.subjects);
                group.ack_wait = spec.ack_wait;
                receiver
            }
            None => {
                let (sender, receiver) = mpsc::channel(spec.max_batch);
                let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
                let failures = state
                    .groups
                    .remove(&spec.durable_name)
                    .map(|group| group.failures)
                    .unwrap_or_default();
                state.groups.insert(
                    spec.durable_name.clone(),
                    Group {
                        filters: spec.subjects.clone(),
                        ack_wait: spec.ack_wait,
                        sender,
                        receiver: Arc::downgrade(&receiver),
                        failures,
                        live: spec.live_only,
                    },
                );
                receiver
            }
        };
        drop(state);
        tracing::debug!(durable_name = %spec.durable_name, subjects = ?spec.subjects, "in-process subscription registered");
        Ok(futures::stream::unfold(receiver, next_delivery).boxed())
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.state().closed {
            Err(BusError::Closed)
        } else {
            Ok(())
        }
    }

    async fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        // Dropping the senders ends the subscription streams once their buffers are drained.
        state.groups.clear();
    }
}
