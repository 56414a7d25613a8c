//! The errors of the event bus.

use std::time::Duration;

/// A boxed error from the backend, kept as the cause of a [`BusError`].
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an event bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The connection to the broker could not be established.
    #[error("failed to connect to the event bus at {url}: {cause}")]
    Connect {
        /// The broker URL, without credentials.
        url: String,
        /// The underlying error (part of the message, so that `%error` in logs shows it).
        cause: BoxError,
    },
    /// The bus is not connected to its broker right now.
    #[error("event bus is unavailable: {reason}")]
    Unavailable {
        /// Why the bus is not usable.
        reason: String,
    },
    /// A subject or subject filter is malformed.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name or value cannot be carried.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An event, subscription or option is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was malformed, e.g. `event id` or `durable name`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker cannot do what was asked, e.g. a server too old for a feature.
    #[error("unsupported by the event bus: {0}")]
    Unsupported(String),
    /// A stream could not be created or updated.
    #[error("failed to ensure stream {stream}: {cause}")]
    Stream {
        /// The stream name.
        stream: String,
        /// The underlying error (part of the message, so that `%error` in logs shows it).
        cause: BoxError,
    },
    /// A durable consumer could not be created or its message stream opened.
    #[error("failed to open consumer {durable_name} on stream {stream}: {cause}")]
    Consumer {
        /// The stream name.
        stream: String,
        /// The durable consumer name.
        durable_name: String,
        /// The underlying error (part of the message, so that `%error` in logs shows it).
        cause: BoxError,
    },
    /// The broker did not accept a published event.
    #[error("failed to publish event {id} to {subject}: {cause}")]
    Publish {
        /// The event id.
        id: String,
        /// The subject.
        subject: String,
        /// The underlying error (part of the message, so that `%error` in logs shows it).
        cause: BoxError,
    },
    /// The broker did not confirm a published event in time.
    #[error("timed out after {timeout:?} publishing event {id} to {subject}")]
    PublishTimeout {
        /// The event id.
        id: String,
        /// The subject.
        subject: String,
        /// The publish timeout.
        timeout: Duration,
    },
    /// A subscriber rejected the event (in-process bus).
    #[error("subscriber {durable_name} rejected event {id}")]
    Nacked {
        /// The event id.
        id: String,
        /// The subscriber's durable name.
        durable_name: String,
        /// When the subscriber asked for the event to be retried.
        retry_after: Option<Duration>,
    },
    /// A subscriber went away without settling the event (in-process bus).
    #[error("subscriber {durable_name} dropped event {id}")]
    Undelivered {
        /// The event id.
        id: String,
        /// The subscriber's durable name.
        durable_name: String,
    },
    /// A subscriber did not settle the event within its `ack_wait` (in-process bus).
    #[error("subscriber {durable_name} did not acknowledge event {id} within {ack_wait:?}")]
    AckTimeout {
        /// The event id.
        id: String,
        /// The subscriber's durable name.
        durable_name: String,
        /// The subscriber's ack wait.
        ack_wait: Duration,
    },
    /// Acknowledging or rejecting a delivery failed; the event will be delivered again.
    #[error("failed to settle delivery {id}: {cause}")]
    Ack {
        /// The event id.
        id: String,
        /// The underlying error (part of the message, so that `%error` in logs shows it).
        cause: BoxError,
    },
    /// The bus was closed.
    #[error("event bus is closed")]
    Closed,
}

impl BusError {
    /// Whether retrying the same call later may succeed. Invalid input, unsupported features and
    /// a closed bus are permanent; everything else is transient.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::InvalidSubject { .. }
                | Self::InvalidHeader { .. }
                | Self::Invalid { .. }
                | Self::Unsupported(_)
                | Self::Closed
        )
    }

    /// The delay a subscriber asked for before the event is retried, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Nacked { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Formats an error with its chain of sources, for logs: `outer: inner: root`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
