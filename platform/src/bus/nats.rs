//! The NATS JetStream bus.
//!
//! Each producing service has one stream, `<stream_prefix>_<SERVICE>`, holding the subjects
//! `marketplace.<service>.>` in file storage with a duplicate window: `publish` sets
//! `Nats-Msg-Id` to the event id, so a re-publish by the relay within the window is stored once.
//! Whoever publishes to or subscribes on a service's stream first creates it (create or update).
//! Subscriptions are durable pull consumers with explicit acks and unlimited redeliveries.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use async_nats::{HeaderMap, HeaderName, HeaderValue, header};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::error::{BoxError, Chain};
use super::subject::{
    RESERVED_HEADER_PREFIX, SUBJECT_ROOT, is_name, subject_matches, validate_event_id,
    validate_headers, validate_spec, validate_subject, validate_subject_prefix,
};
use super::{
    Acker, BusError, Delivery, DeliveryStream, EventBus, OutgoingEvent, Settlement,
    SubscriptionSpec,
};

/// How long one pull request waits on the server before it is renewed.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// How long the server keeps a live-only consumer without a subscriber.
const LIVE_INACTIVE_THRESHOLD: Duration = Duration::from_secs(60);
/// How often the server sends a heartbeat on an idle pull; two missed ones re-create the consumer.
const IDLE_HEARTBEAT: Duration = Duration::from_secs(5);
/// The first delay before re-creating a failed consumer; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest delay between attempts to re-create a failed consumer.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How [`NatsBus`] sets up streams and publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsBusOptions {
    /// How long JetStream remembers event ids to drop re-publishes (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long `publish` waits for the JetStream ack (default 5 seconds).
    pub publish_timeout: Duration,
    /// The replicas of each stream (default 1; use 3 on a clustered server).
    pub stream_replicas: usize,
    /// The stream name prefix: streams are `<stream_prefix>_<SERVICE>` (default `MARKETPLACE`).
    pub stream_prefix: String,
    /// Prepended (with a `.`) to every subject on the wire and stripped on delivery, to isolate
    /// environments or tests on one server (default empty).
    pub subject_prefix: String,
    /// How long events are kept in a stream (default 7 days); consumers further behind than
    /// this lose events, so alert on consumer lag long before.
    pub max_age: Duration,
}

impl Default for NatsBusOptions {
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(120),
            publish_timeout: Duration::from_secs(5),
            stream_replicas: 1,
            stream_prefix: "MARKETPLACE".to_owned(),
            subject_prefix: String::new(),
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl NatsBusOptions {
    fn validate(&self) -> Result<(), BusError> {
        let invalid = |reason: &str| BusError::Invalid {
            what: "nats bus options",
            reason: reason.to_owned(),
        };
        if self.duplicate_window.is_zero() {
            return Err(invalid("duplicate_window must be positive"));
        }
        if self.publish_timeout.is_zero() {
            return Err(invalid("publish_timeout must be positive"));
        }
        if self.stream_replicas == 0 {
            return Err(invalid("stream_replicas must be at least 1"));
        }
        if !is_name(&self.stream_prefix) {
            return Err(invalid(
                "stream_prefix must be non-empty and use only letters, digits, - and _",
            ));
        }
        validate_subject_prefix(&self.subject_prefix)?;
        Ok(())
    }
}

/// An [`EventBus`] on NATS JetStream. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    options: NatsBusOptions,
    /// The subject prefix without its trailing `.`.
    subject_prefix: String,
    /// Services whose stream this bus already created or updated.
    ensured: Mutex<HashSet<String>>,
    closed: CancellationToken,
}

impl NatsBus {
    /// Connects to the NATS server(s) at `url` and checks that JetStream is enabled.
    ///
    /// The connection is re-established automatically after it is lost.
    pub async fn connect(url: &str, options: NatsBusOptions) -> Result<Self, BusError> {
        options.validate()?;
        let redacted = crate::config::redact_url(url);
        let log_url = redacted.clone();
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                let url = log_url.clone();
                async move { log_connection_event(&url, event) }
            })
            .connect(url)
            .await
            .map_err(|error| BusError::Connect {
                url: redacted.clone(),
                cause: Box::new(error),
            })?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(options.publish_timeout)
            .build(client.clone());
        check_jetstream(&jetstream)
            .await
            .map_err(|cause| BusError::Connect {
                url: redacted.clone(),
                cause,
            })?;
        tracing::info!(url = %redacted, "connected to nats jetstream");
        let subject_prefix = validate_subject_prefix(&options.subject_prefix)?.to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                jetstream,
                options,
                subject_prefix,
                ensured: Mutex::new(HashSet::new()),
                closed: CancellationToken::new(),
            }),
        })
    }

    /// The name of the stream holding the events of `service`: `<stream_prefix>_<SERVICE>`.
    pub fn stream_name(&self, service: &str) -> String {
        self.inner.stream_name(service)
    }

    /// Creates the stream of `service`, or updates it to the configured settings. Idempotent.
    pub async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        if !is_name(service) {
            return Err(BusError::Invalid {
                what: "service name",
                reason: format!("{service:?} must use only letters, digits, - and _"),
            });
        }
        self.inner.ensure_stream(service).await
    }

    /// Publishes once, after making sure the service's stream exists, and awaits the ack.
    async fn publish_once(
        &self,
        event: &OutgoingEvent,
        service: &str,
    ) -> Result<(), PublishFailure> {
        let inner = &self.inner;
        inner.ensure_stream_cached(service).await?;
        let message = jetstream::message::PublishMessage::build()
            .payload(event.payload.clone())
            .headers(wire_headers(event)?);
        let timeout = inner.options.publish_timeout;
        let timed_out = || BusError::PublishTimeout {
            id: event.id.clone(),
            subject: event.subject.clone(),
            timeout,
        };
        let sent = async {
            inner
                .jetstream
                .send_publish(inner.wire_subject(&event.subject), message)
                .await?
                .await
        };
        let ack = match tokio::time::timeout(timeout, sent).await {
            Err(_) => return Err(timed_out().into()),
            Ok(Ok(ack)) => ack,
            Ok(Err(error)) => {
                let kind = error.kind();
                let error = BusError::Publish {
                    id: event.id.clone(),
                    subject: event.subject.clone(),
                    cause: Box::new(error),
                };
                return Err(match kind {
                    PublishErrorKind::TimedOut => timed_out().into(),
                    PublishErrorKind::StreamNotFound => {
                        inner.forget_stream(service);
                        PublishFailure::StreamMissing(error)
                    }
                    _ => error.into(),
                });
            }
        };
        if ack.duplicate {
            tracing::debug!(event_id = %event.id, subject = %event.subject, stream = %ack.stream, "event was already stored");
        }
        Ok(())
    }
}

/// Why one publish attempt failed.
enum PublishFailure {
    /// No stream holds the subject (it was deleted): re-creating it may help.
    StreamMissing(BusError),
    /// Anything else.
    Other(BusError),
}

impl From<BusError> for PublishFailure {
    fn from(error: BusError) -> Self {
        Self::Other(error)
    }
}

impl PublishFailure {
    fn into_error(self) -> BusError {
        match self {
            Self::StreamMissing(error) | Self::Other(error) => error,
        }
    }
}

impl Inner {
    fn stream_name(&self, service: &str) -> String {
        format!(
            "{}_{}",
            self.options.stream_prefix,
            service.to_ascii_uppercase()
        )
    }

    fn wire_subject(&self, subject: &str) -> String {
        if self.subject_prefix.is_empty() {
            subject.to_owned()
        } else {
            format!("{}.{subject}", self.subject_prefix)
        }
    }

    fn logical_subject<'a>(&self, wire: &'a str) -> &'a str {
        if self.subject_prefix.is_empty() {
            return wire;
        }
        wire.strip_prefix(self.subject_prefix.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(wire)
    }

    fn ensured(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ensured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget_stream(&self, service: &str) {
        self.ensured().remove(service);
    }

    async fn ensure_stream_cached(&self, service: &str) -> Result<(), BusError> {
        if self.ensured().contains(service) {
            return Ok(());
        }
        self.ensure_stream(service).await
    }

    async fn ensure_stream(&self, service: &str) -> Result<(), BusError> {
        if self.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        let name = self.stream_name(service);
        let config = stream::Config {
            name: name.clone(),
            description: Some(format!("marketplace events published by {service}")),
            subjects: vec![self.wire_subject(&format!("{SUBJECT_ROOT}.{service}.>"))],
            storage: stream::StorageType::File,
            duplicate_window: self.options.duplicate_window,
            num_replicas: self.options.stream_replicas,
            max_age: self.options.max_age,
            ..Default::default()
        };
        // A concurrent creator can make the first attempt fail with "already in use".
        let result = match self.jetstream.create_or_update_stream(config.clone()).await {
            Ok(info) => Ok(info),
            Err(first) => {
                tracing::debug!(stream = %name, error = %Chain(&first), "retrying to ensure stream");
                self.jetstream.create_or_update_stream(config).await
            }
        };
        result.map_err(|error| BusError::Stream {
            stream: name.clone(),
            cause: Box::new(error),
        })?;
        tracing::debug!(stream = %name, "stream ensured");
        self.ensured().insert(service.to_owned());
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, event: OutgoingEvent) -> Result<(), BusError> {
        if self.inner.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        validate_event_id(&event.id)?;
        let service = validate_subject(&event.subject)?;
        validate_headers(&event.headers)?;
        match self.publish_once(&event, service).await {
            // The stream was deleted behind our back: re-create it and try once more.
            Err(PublishFailure::StreamMissing(error)) => {
                tracing::debug!(event_id = %event.id, error = %Chain(&error), "re-creating a missing stream");
                self.publish_once(&event, service)
                    .await
                    .map_err(PublishFailure::into_error)
            }
            other => other.map_err(PublishFailure::into_error),
        }
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<DeliveryStream, BusError> {
        if self.inner.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        let services = validate_spec(&spec)?;
        // One consumer per stream the filters reach, all with the same durable name.
        let mut filters_by_service: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (service, filter) in services.into_iter().zip(&spec.subjects) {
            let filters = filters_by_service.entry(service).or_default();
            let filter = self.inner.wire_subject(filter);
            if !filters.contains(&filter) {
                filters.push(filter);
            }
        }
        let mut streams = Vec::with_capacity(filters_by_service.len());
        for (service, filters) in filters_by_service {
            let consumer = if filters.len() > 1 && !self.inner.client.is_server_compatible(2, 10, 0)
            {
                // Servers before 2.10 take one filter per consumer: take the whole stream and
                // settle what the subscription does not want on arrival.
                tracing::info!(
                    durable_name = %spec.durable_name,
                    subjects = ?filters,
                    "nats-server is older than 2.10: filtering subjects on the client"
                );
                let whole_stream = self
                    .inner
                    .wire_subject(&format!("{SUBJECT_ROOT}.{service}.>"));
                let mut consumer =
                    ConsumerLoop::new(Arc::clone(&self.inner), service, vec![whole_stream], &spec);
                consumer.client_filters = Some(filters);
                consumer
            } else {
                ConsumerLoop::new(Arc::clone(&self.inner), service, filters, &spec)
            };
            let messages = consumer.open().await?;
            tracing::info!(
                stream = %consumer.stream,
                durable_name = %consumer.durable_name,
                subjects = ?consumer.filters,
                "subscribed"
            );
            streams.push(consumer.into_stream(messages));
        }
        Ok(match streams.len() {
            1 => streams.remove(0),
            _ => futures::stream::select_all(streams).boxed(),
        })
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.inner.closed.is_cancelled() {
            return Err(BusError::Closed);
        }
        match self.inner.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Unavailable {
                reason: format!("nats connection is {state}"),
            }),
        }
    }

    async fn close(&self) {
        self.inner.closed.cancel();
        if let Err(error) = self.inner.client.drain().await {
            tracing::warn!(error = %Chain(&error), "failed to drain the nats connection");
        }
    }
}

/// The settling side of a JetStream delivery.
pub(crate) struct NatsAcker {
    id: String,
    acker: jetstream::message::Acker,
}

impl NatsAcker {
    pub(crate) async fn settle(self, settlement: Settlement) -> Result<(), BusError> {
        let kind = match settlement {
            Settlement::Ack => AckKind::Ack,
            Settlement::Nack(retry_after) => AckKind::Nak(retry_after),
        };
        self.acker
            .ack_with(kind)
            .await
            .map_err(|cause| BusError::Ack { id: self.id, cause })
    }
}

/// One durable pull consumer on one stream, re-created whenever its message stream fails.
struct ConsumerLoop {
    inner: Arc<Inner>,
    service: String,
    stream: String,
    durable_name: String,
    filters: Vec<String>,
    /// Wire filters applied on arrival, when the server cannot apply them all.
    client_filters: Option<Vec<String>>,
    config: consumer::pull::Config,
    batch: usize,
    messages: Option<consumer::pull::Stream>,
    backoff: Duration,
    reopen_delay: Option<Duration>,
}

impl ConsumerLoop {
    fn new(
        inner: Arc<Inner>,
        service: &str,
        filters: Vec<String>,
        spec: &SubscriptionSpec,
    ) -> Self {
        let mut config = consumer::pull::Config {
            durable_name: (!spec.live_only).then(|| spec.durable_name.clone()),
            name: spec.live_only.then(|| spec.durable_name.clone()),
            inactive_threshold: if spec.live_only {
                LIVE_INACTIVE_THRESHOLD
            } else {
                Duration::ZERO
            },
            deliver_policy: if spec.live_only {
                consumer::DeliverPolicy::New
            } else {
                consumer::DeliverPolicy::All
            },
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            max_deliver: -1,
            ..Default::default()
        };
        match filters.as_slice() {
            [single] => config.filter_subject.clone_from(single),
            several => config.filter_subjects = several.to_vec(),
        }
        Self {
            stream: inner.stream_name(service),
            inner,
            service: service.to_owned(),
            durable_name: spec.durable_name.clone(),
            filters,
            client_filters: None,
            config,
            batch: spec.max_batch,
            messages: None,
            backoff: MIN_BACKOFF,
            reopen_delay: None,
        }
    }

    fn into_stream(mut self, messages: consumer::pull::Stream) -> DeliveryStream {
        self.messages = Some(messages);
        futures::stream::unfold(self, Self::next).boxed()
    }

    /// Ensures the stream, creates or updates the consumer and opens its message stream.
    async fn open(&self) -> Result<consumer::pull::Stream, BusError> {
        self.inner.ensure_stream(&self.service).await?;
        let consumer_error = |cause: BoxError| BusError::Consumer {
            stream: self.stream.clone(),
            durable_name: self.durable_name.clone(),
            cause,
        };
        let consumer: consumer::PullConsumer = self
            .inner
            .jetstream
            .create_consumer_on_stream(self.config.clone(), &self.stream)
            .await
            .map_err(|error| consumer_error(Box::new(error)))?;
        let applied = &consumer.cached_info().config;
        let mut wanted: Vec<&String> = self.filters.iter().collect();
        let mut got: Vec<&String> = if applied.filter_subjects.is_empty() {
            vec![&applied.filter_subject]
        } else {
            applied.filter_subjects.iter().collect()
        };
        wanted.sort();
        got.sort();
        if wanted != got {
            return Err(BusError::Unsupported(format!(
                "the server applied filters {got:?} instead of {wanted:?} to consumer {}",
                self.durable_name
            )));
        }
        consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .expires(PULL_EXPIRES)
            .heartbeat(IDLE_HEARTBEAT)
            .messages()
            .await
            .map_err(|error| consumer_error(Box::new(error)))
    }

    fn next_backoff(&mut self) -> Duration {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        delay
    }

    /// The next delivery, re-creating the consumer as long as it takes; `None` once closed.
    async fn next(mut self) -> Option<(Result<Delivery, BusError>, Self)> {
        let closed = self.inner.closed.clone();
        loop {
            if closed.is_cancelled() {
                return None;
            }
            let Some(messages) = self.messages.as_mut() else {
                if let Some(delay) = self.reopen_delay.take() {
                    tokio::select! {
                        () = closed.cancelled() => return None,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                let opened = tokio::select! {
                    () = closed.cancelled() => return None,
                    opened = self.open() => opened,
                };
                match opened {
                    Ok(messages) => {
                        tracing::info!(stream = %self.stream, durable_name = %self.durable_name, "consumer re-created");
                        self.messages = Some(messages);
                    }
                    Err(error) => {
                        let delay = self.next_backoff();
                        tracing::warn!(
                            stream = %self.stream,
                            durable_name = %self.durable_name,
                            error = %Chain(&error),
                            retry_in = ?delay,
                            "failed to re-create consumer"
                        );
                        self.reopen_delay = Some(delay);
                        return Some((Err(error), self));
                    }
                }
                continue;
            };
            let next = tokio::select! {
                () = closed.cancelled() => return None,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    self.backoff = MIN_BACKOFF;
                    if !self.wants(message.subject.as_str()) {
                        if let Err(error) = message.ack().await {
                            tracing::debug!(error = %Chain(error.as_ref()), "failed to ack a filtered-out message");
                        }
                        continue;
                    }
                    if let Some(delivery) = self.delivery(message).await {
                        return Some((Ok(delivery), self));
                    }
                }
                failure => {
                    let delay = self.next_backoff();
                    match failure {
                        Some(Err(error)) => tracing::warn!(
                            stream = %self.stream,
                            durable_name = %self.durable_name,
                            error = %Chain(&error),
                            retry_in = ?delay,
                            "consumer message stream failed, re-creating the consumer"
                        ),
                        _ => tracing::warn!(
                            stream = %self.stream,
                            durable_name = %self.durable_name,
                            retry_in = ?delay,
                            "consumer message stream ended, re-creating the consumer"
                        ),
                    }
                    self.messages = None;
                    self.reopen_delay = Some(delay);
                }
            }
        }
    }

    /// Whether a message on this wire subject is for the subscription (see `client_filters`).
    fn wants(&self, wire_subject: &str) -> bool {
        self.client_filters.as_ref().is_none_or(|filters| {
            filters
                .iter()
                .any(|filter| subject_matches(filter, wire_subject))
        })
    }

    /// Converts a JetStream message; a message without JetStream metadata is terminated.
    async fn delivery(&self, message: jetstream::Message) -> Option<Delivery> {
        let metadata = message
            .info()
            .map(|info| (info.delivered, info.stream.to_owned(), info.stream_sequence));
        let (delivered, stream, sequence) = match metadata {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    durable_name = %self.durable_name,
                    error = %Chain(error.as_ref()),
                    "terminating a message without jetstream metadata"
                );
                if let Err(error) = message.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %Chain(error.as_ref()), "failed to terminate message");
                }
                return None;
            }
        };
        let (message, acker) = message.split();
        let mut id = None;
        let mut headers = Vec::new();
        for (name, values) in message.headers.iter().flat_map(HeaderMap::iter) {
            let name: &str = name.as_ref();
            if name.eq_ignore_ascii_case(header::NATS_MESSAGE_ID.as_ref()) {
                id = values.first().map(|value| value.as_str().to_owned());
            } else if !is_reserved(name) {
                headers.extend(
                    values
                        .iter()
                        .map(|value| (name.to_owned(), value.as_str().to_owned())),
                );
            }
        }
        // Without an id (published by something else than the bus) the stream position is a
        // stable stand-in, so that inbox de-duplication still works across redeliveries.
        let id = id.unwrap_or_else(|| format!("{stream}:{sequence}"));
        Some(Delivery {
            subject: self
                .inner
                .logical_subject(message.subject.as_str())
                .to_owned(),
            acker: Acker::Nats(Box::new(NatsAcker {
                id: id.clone(),
                acker,
            })),
            id,
            headers,
            payload: message.payload,
            redelivered: delivered > 1,
        })
    }
}

/// The NATS headers of an event: its own headers plus `Nats-Msg-Id`.
fn wire_headers(event: &OutgoingEvent) -> Result<HeaderMap, BusError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &event.headers {
        let invalid = |reason| BusError::InvalidHeader {
            name: name.clone(),
            reason,
        };
        let header_name = HeaderName::try_from(name.as_str())
            .map_err(|_| invalid("not a valid nats header name"))?;
        let header_value = value
            .parse::<HeaderValue>()
            .map_err(|_| invalid("not a valid nats header value"))?;
        headers.append(header_name, header_value);
    }
    let id = event
        .id
        .parse::<HeaderValue>()
        .map_err(|_| BusError::Invalid {
            what: "event id",
            reason: "not a valid nats header value".to_owned(),
        })?;
    headers.insert(header::NATS_MESSAGE_ID, id);
    Ok(headers)
}

/// Asks the JetStream API for the account info: fails when JetStream is not enabled.
///
/// The answer is read as plain JSON, as its shape differs between server versions.
async fn check_jetstream(jetstream: &jetstream::Context) -> Result<(), BoxError> {
    let answer: serde_json::Value = jetstream
        .request("INFO", &serde_json::json!({}))
        .await
        .map_err(|error| format!("jetstream is not available: {}", Chain(&error)))?;
    match answer.get("error") {
        Some(error) => Err(format!("jetstream is not available: {error}").into()),
        None => Ok(()),
    }
}

fn is_reserved(name: &str) -> bool {
    name.get(..RESERVED_HEADER_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(RESERVED_HEADER_PREFIX))
}

fn log_connection_event(url: &str, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!(url = %url, "nats connection established"),
        async_nats::Event::Draining => tracing::info!(url = %url, "nats connection draining"),
        async_nats::Event::Closed => tracing::info!(url = %url, "nats connection closed"),
        event => tracing::warn!(url = %url, %event, "nats connection event"),
    }
}
