//! The event bus: how services exchange domain events.
//!
//! Producers never publish directly: they write to a transactional outbox and a relay calls
//! [`EventBus::publish`], marking the row published only once `publish` returned `Ok`. Consumers
//! read a durable subscription ([`EventBus::subscribe`]), record processed event ids in an inbox
//! so that a redelivery is a no-op, and then [`Delivery::ack`] the event.
//!
//! Subjects look like `marketplace.<service>.<event>`, e.g. `marketplace.ordering.order_submitted`.
//! Two backends implement [`EventBus`]:
//! - [`NatsBus`]: NATS JetStream, one stream per producing service, for production;
//! - [`InProcessBus`]: in-memory channels for the single-process (embedded) mode, where `publish`
//!   returns only once every matching subscriber acknowledged the event.

mod error;
mod memory;
mod nats;
mod subject;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use error::BusError;
pub use memory::InProcessBus;
pub use nats::{NatsBus, NatsBusOptions};
pub use subject::{SUBJECT_ROOT, subject_matches};

/// The default time a subscriber has to acknowledge a delivery before it is redelivered.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// The default number of deliveries a subscription buffers ahead of its handler.
pub const DEFAULT_MAX_BATCH: usize = 64;

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The event id (a UUIDv7 string); the bus uses it to de-duplicate re-publishes.
    pub id: String,
    /// The subject, `marketplace.<service>.<event>`.
    pub subject: String,
    /// Extra headers, such as the W3C `traceparent` and `tracestate`.
    ///
    /// Names starting with `Nats-` are reserved for the bus and rejected.
    pub headers: Vec<(String, String)>,
    /// The encoded event.
    pub payload: Bytes,
}

impl OutgoingEvent {
    /// An event without headers.
    pub fn new(
        id: impl Into<String>,
        subject: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Self {
        Self {
            id: id.into(),
            subject: subject.into(),
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One delivered event; it must be acknowledged with [`Delivery::ack`] or [`Delivery::nack`].
///
/// A delivery dropped without either is redelivered: by NATS once the subscription's `ack_wait`
/// elapsed, by the in-process bus when the relay publishes the event again.
pub struct Delivery {
    /// The event id given at publish time.
    pub id: String,
    /// The subject the event was published on (without any wire prefix).
    pub subject: String,
    /// The headers given at publish time. The order of headers with different names is not
    /// preserved by every backend.
    pub headers: Vec<(String, String)>,
    /// The encoded event.
    pub payload: Bytes,
    /// Whether this event was delivered to this subscription before.
    pub redelivered: bool,
    acker: Acker,
}

/// The backend-specific way to settle a delivery.
enum Acker {
    Nats(Box<nats::NatsAcker>),
    InProcess(memory::InProcessAcker),
}

/// How a subscriber settled a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    Ack,
    Nack(Option<Duration>),
}

impl Delivery {
    /// Acknowledges the delivery: the event was handled and must not be delivered again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.settle(Settlement::Ack).await
    }

    /// Rejects the delivery so that it is delivered again, after `retry_after` if given.
    ///
    /// With the in-process bus the publish call fails and the relay decides when to retry.
    pub async fn nack(self, retry_after: Option<Duration>) -> Result<(), BusError> {
        self.settle(Settlement::Nack(retry_after)).await
    }

    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    async fn settle(self, settlement: Settlement) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(acker) => acker.settle(settlement).await,
            Acker::InProcess(acker) => acker.settle(settlement),
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("headers", &self.headers)
            .field("payload_len", &self.payload.len())
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

/// What a durable subscription consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// The durable consumer name, e.g. `provisioning-from-ordering`; subscribing again with the
    /// same name resumes where the previous subscription left off. Letters, digits, `-` and `_`.
    pub durable_name: String,
    /// Subject filters in NATS wildcard syntax (`*` for one token, `>` for the rest), e.g.
    /// `marketplace.ordering.>`. The service token (the second) must not be a wildcard.
    pub subjects: Vec<String>,
    /// How long a delivery may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// How many deliveries are buffered ahead of the handler (at least 1).
    pub max_batch: usize,
    /// Live fan-out instead of durable consumption: only events published after subscribing
    /// are delivered, and the server forgets the consumer shortly after its subscriber is gone
    /// (NATS: an ephemeral consumer with `DeliverPolicy::New` and an inactivity threshold).
    /// Used by per-replica watchers (e.g. ordering's WatchOrder), never for applying events.
    pub live_only: bool,
}

impl SubscriptionSpec {
    /// A spec with the default `ack_wait` and `max_batch`.
    pub fn new<S: Into<String>>(
        durable_name: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            durable_name: durable_name.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            ack_wait: DEFAULT_ACK_WAIT,
            max_batch: DEFAULT_MAX_BATCH,
            live_only: false,
        }
    }

    /// A live fan-out spec (see [`SubscriptionSpec::live_only`]).
    pub fn live<S: Into<String>>(
        name: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            live_only: true,
            ..Self::new(name, subjects)
        }
    }
}

/// The stream of deliveries returned by [`EventBus::subscribe`].
pub type DeliveryStream = BoxStream<'static, Result<Delivery, BusError>>;

/// A bus that carries events from the outbox relays to the subscribers.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes an event and returns once the bus has taken responsibility for it; an error
    /// means the caller must keep the event and retry later.
    async fn publish(&self, event: OutgoingEvent) -> Result<(), BusError>;

    /// A stream of deliveries for a durable consumer. The stream ends only when the bus is closed.
    ///
    /// Backend failures are retried internally; an `Err` item reports an ongoing failure and the
    /// stream continues after it.
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<DeliveryStream, BusError>;

    /// Cheap liveness check for readiness probes.
    async fn check(&self) -> Result<(), BusError>;

    /// Closes the bus: subscription streams end and further calls fail with [`BusError::Closed`].
    async fn close(&self) {}
}

/// The bus as shared between the components of a service.
pub type SharedBus = Arc<dyn EventBus>;
