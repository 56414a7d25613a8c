//! Tests of the event bus: subject matching, the in-process bus and the NATS JetStream bus.
//!
//! The NATS tests need a JetStream-enabled server at `MARKETPLACE_TEST_NATS_URL`, or at
//! nats://127.0.0.1:4222 when that variable is unset and the port answers; without a server they
//! are skipped with a notice, except under `CI`, where they fail. Each test uses its own stream and
//! subject prefix and deletes its streams at the end. The restart test starts its own
//! `nats-server` (from `MARKETPLACE_TEST_NATS_SERVER_BIN` or the `PATH`) and is skipped without one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use marketplace_platform::bus::{
    BusError, Delivery, DeliveryStream, EventBus, InProcessBus, NatsBus, NatsBusOptions,
    OutgoingEvent, SubscriptionSpec, subject_matches,
};

/// A deadline that only fails a hung test; nothing asserts on durations.
const DEADLINE: Duration = Duration::from_secs(60);
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Shows the bus's logs in a failing test's output; `RUST_LOG` selects them (default: warnings).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Another test of this binary may have installed it already.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

async fn next_delivery(stream: &mut DeliveryStream) -> Delivery {
    loop {
        match within("a delivery", stream.next()).await {
            Some(Ok(delivery)) => return delivery,
            // Err items report a transient backend failure; the stream carries on.
            Some(Err(error)) => eprintln!("transient subscription error: {error}"),
            None => panic!("the delivery stream ended"),
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn event(subject: &str, payload: &'static str) -> OutgoingEvent {
    OutgoingEvent::new(new_id(), subject, payload)
}

// ---------------------------------------------------------------------------------------------
// subject_matches

#[test]
fn subject_matches_follows_nats_wildcards() {
    let cases = [
        (
            "marketplace.ordering.order_submitted",
            "marketplace.ordering.order_submitted",
            true,
        ),
        (
            "marketplace.ordering.order_submitted",
            "marketplace.ordering.order_cancelled",
            false,
        ),
        (
            "marketplace.ordering.*",
            "marketplace.ordering.order_submitted",
            true,
        ),
        (
            "marketplace.ordering.*",
            "marketplace.ordering.order.submitted",
            false,
        ),
        ("marketplace.ordering.*", "marketplace.ordering", false),
        (
            "marketplace.*.order_submitted",
            "marketplace.ordering.order_submitted",
            true,
        ),
        (
            "marketplace.*.order_submitted",
            "marketplace.catalog.order_submitted",
            true,
        ),
        ("marketplace.*.*", "marketplace.ordering", false),
        (
            "marketplace.ordering.>",
            "marketplace.ordering.order_submitted",
            true,
        ),
        ("marketplace.ordering.>", "marketplace.ordering.a.b.c", true),
        ("marketplace.ordering.>", "marketplace.ordering", false),
        (
            "marketplace.>",
            "marketplace.catalog.product_published",
            true,
        ),
        (">", "marketplace", true),
        ("*", "marketplace", true),
        ("*", "marketplace.ordering", false),
        ("*.*.>", "marketplace.ordering.x", true),
        ("marketplace.ordering.x*", "marketplace.ordering.xy", false),
        ("marketplace.ordering.x*", "marketplace.ordering.x*", true),
        ("marketplace.>.x", "marketplace.ordering.x", false),
        ("marketplace.ordering", "marketplace.ordering.x", false),
        ("marketplace.ordering.x", "marketplace.ordering", false),
        ("", "marketplace", false),
        ("marketplace", "", false),
    ];
    for (filter, subject, expected) in cases {
        assert_eq!(
            subject_matches(filter, subject),
            expected,
            "subject_matches({filter:?}, {subject:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// In-process bus

fn spec(durable_name: &str, subjects: &[&str]) -> SubscriptionSpec {
    SubscriptionSpec::new(durable_name, subjects.iter().copied())
}

#[tokio::test]
async fn in_process_publish_without_subscribers_is_ok() {
    let bus = InProcessBus::new();
    bus.publish(event("marketplace.ordering.order_submitted", "{}"))
        .await
        .expect("publish without subscribers");

    let _catalog = bus
        .subscribe(spec(
            "notification-from-catalog",
            &["marketplace.catalog.>"],
        ))
        .await
        .expect("subscribe");
    within(
        "publish to an unmatched subject",
        bus.publish(event("marketplace.ordering.order_submitted", "{}")),
    )
    .await
    .expect("publish to a subject no subscription matches");
}

#[tokio::test]
async fn in_process_publish_waits_for_the_ack() {
    let bus = InProcessBus::new();
    let mut deliveries = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    let acked = Arc::new(AtomicBool::new(false));

    let published = OutgoingEvent::new(
        new_id(),
        "marketplace.ordering.order_submitted",
        r#"{"order_id":"o-1"}"#,
    )
    .with_header(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let publisher = tokio::spawn({
        let bus = bus.clone();
        let acked = Arc::clone(&acked);
        let published = published.clone();
        async move {
            let result = bus.publish(published).await;
            (result, acked.load(Ordering::SeqCst))
        }
    });

    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, published.id);
    assert_eq!(delivery.subject, published.subject);
    assert_eq!(delivery.payload, published.payload);
    assert_eq!(delivery.headers, published.headers);
    assert_eq!(
        delivery.header("TRACEPARENT"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert!(!delivery.redelivered);
    assert!(!publisher.is_finished(), "publish returned before the ack");
    acked.store(true, Ordering::SeqCst);
    delivery.ack().await.expect("ack");

    let (result, acked_before_return) = within("publish", publisher).await.expect("join");
    result.expect("publish after ack");
    assert!(acked_before_return, "publish returned before the ack");
}

#[tokio::test]
async fn in_process_nack_fails_publish_and_retry_is_flagged_redelivered() {
    let bus = InProcessBus::new();
    let mut deliveries = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    let published = event("marketplace.ordering.order_submitted", "{}");

    let publisher = tokio::spawn({
        let bus = bus.clone();
        let published = published.clone();
        async move { bus.publish(published).await }
    });
    let delivery = next_delivery(&mut deliveries).await;
    delivery
        .nack(Some(Duration::from_secs(3)))
        .await
        .expect("nack");
    let error = within("publish", publisher)
        .await
        .expect("join")
        .expect_err("publish of a nacked event must fail");
    assert!(
        matches!(error, BusError::Nacked { ref id, .. } if *id == published.id),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));

    // The relay retries the same event: it is delivered again, flagged as such.
    let publisher = tokio::spawn({
        let bus = bus.clone();
        let published = published.clone();
        async move { bus.publish(published).await }
    });
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, published.id);
    assert!(delivery.redelivered);
    delivery.ack().await.expect("ack");
    within("publish", publisher)
        .await
        .expect("join")
        .expect("publish after ack");
}

#[tokio::test]
async fn in_process_dropped_delivery_or_subscription_fails_publish() {
    let bus = InProcessBus::new();
    let mut deliveries = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");

    let publisher = tokio::spawn({
        let bus = bus.clone();
        async move {
            bus.publish(event("marketplace.ordering.order_submitted", "{}"))
                .await
        }
    });
    drop(next_delivery(&mut deliveries).await);
    let error = within("publish", publisher)
        .await
        .expect("join")
        .expect_err("publish of a dropped delivery must fail");
    assert!(matches!(error, BusError::Undelivered { .. }), "{error:?}");

    drop(deliveries);
    let error = within(
        "publish",
        bus.publish(event("marketplace.ordering.order_submitted", "{}")),
    )
    .await
    .expect_err("publish to a dropped subscription must fail");
    assert!(matches!(error, BusError::Undelivered { .. }), "{error:?}");
    assert!(error.is_transient());

    // Subscribing again under the same durable name makes publishing work again.
    let mut deliveries = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("re-subscribe");
    let publisher = tokio::spawn({
        let bus = bus.clone();
        async move {
            bus.publish(event("marketplace.ordering.order_submitted", "{}"))
                .await
        }
    });
    next_delivery(&mut deliveries)
        .await
        .ack()
        .await
        .expect("ack");
    within("publish", publisher)
        .await
        .expect("join")
        .expect("publish after re-subscribe");
}

#[tokio::test]
async fn in_process_unacked_delivery_times_out_after_ack_wait() {
    let bus = InProcessBus::new();
    let mut subscription = spec("slow-consumer", &["marketplace.ordering.>"]);
    subscription.ack_wait = Duration::from_secs(1);
    let mut deliveries = bus.subscribe(subscription).await.expect("subscribe");

    let publisher = tokio::spawn({
        let bus = bus.clone();
        async move {
            bus.publish(event("marketplace.ordering.order_submitted", "{}"))
                .await
        }
    });
    let held = next_delivery(&mut deliveries).await;
    let error = within("publish", publisher)
        .await
        .expect("join")
        .expect_err("publish must give up after ack_wait");
    assert!(matches!(error, BusError::AckTimeout { .. }), "{error:?}");
    let error = held
        .ack()
        .await
        .expect_err("ack after the publisher gave up");
    assert!(matches!(error, BusError::Ack { .. }), "{error:?}");
}

#[tokio::test]
async fn in_process_wildcards_route_to_every_matching_subscriber() {
    let bus = InProcessBus::new();
    let mut all_ordering = bus
        .subscribe(spec("audit", &["marketplace.ordering.>"]))
        .await
        .expect("subscribe");
    let mut submitted = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.order_submitted"],
        ))
        .await
        .expect("subscribe");
    let mut any_service = bus
        .subscribe(spec(
            "notification",
            &[
                "marketplace.ordering.order_submitted",
                "marketplace.catalog.*",
            ],
        ))
        .await
        .expect("subscribe");

    let order = event("marketplace.ordering.order_submitted", "order");
    let publisher = tokio::spawn({
        let bus = bus.clone();
        let order = order.clone();
        async move { bus.publish(order).await }
    });
    let first = next_delivery(&mut all_ordering).await;
    let second = next_delivery(&mut submitted).await;
    let third = next_delivery(&mut any_service).await;
    assert_eq!(first.id, order.id);
    assert_eq!(second.id, order.id);
    assert_eq!(third.id, order.id);
    first.ack().await.expect("ack");
    second.ack().await.expect("ack");
    assert!(
        !publisher.is_finished(),
        "publish returned before every subscriber acked"
    );
    third.ack().await.expect("ack");
    within("publish", publisher)
        .await
        .expect("join")
        .expect("publish acked by all");

    // Only `audit` matches a cancellation; only `notification` matches a catalog event.
    let cancelled = event("marketplace.ordering.order_cancelled", "cancelled");
    let product = event("marketplace.catalog.product_published", "product");
    let publisher = tokio::spawn({
        let bus = bus.clone();
        let (cancelled, product) = (cancelled.clone(), product.clone());
        async move {
            bus.publish(cancelled).await?;
            bus.publish(product).await
        }
    });
    let delivery = next_delivery(&mut all_ordering).await;
    assert_eq!(delivery.id, cancelled.id);
    delivery.ack().await.expect("ack");
    let delivery = next_delivery(&mut any_service).await;
    assert_eq!(delivery.id, product.id);
    delivery.ack().await.expect("ack");
    within("publish", publisher)
        .await
        .expect("join")
        .expect("publish");

    // `provisioning-from-ordering` saw neither: its next delivery is the next submission.
    let next_order = event("marketplace.ordering.order_submitted", "order 2");
    let publisher = tokio::spawn({
        let bus = bus.clone();
        let next_order = next_order.clone();
        async move { bus.publish(next_order).await }
    });
    for deliveries in [&mut all_ordering, &mut submitted, &mut any_service] {
        let delivery = next_delivery(deliveries).await;
        assert_eq!(delivery.id, next_order.id);
        delivery.ack().await.expect("ack");
    }
    within("publish", publisher)
        .await
        .expect("join")
        .expect("publish");
}

#[tokio::test]
async fn in_process_rejects_invalid_input() {
    let bus = InProcessBus::new();
    for subject in [
        "marketplace.ordering",
        "ordering.order_submitted.v1",
        "marketplace.ordering.*",
        "marketplace..order_submitted",
    ] {
        let error = bus
            .publish(event(subject, "{}"))
            .await
            .expect_err("invalid subject");
        assert!(
            matches!(error, BusError::InvalidSubject { .. }),
            "{subject}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    let reserved =
        event("marketplace.ordering.order_submitted", "{}").with_header("Nats-Msg-Id", "x");
    let error = bus.publish(reserved).await.expect_err("reserved header");
    assert!(matches!(error, BusError::InvalidHeader { .. }), "{error:?}");
    let broken = event("marketplace.ordering.order_submitted", "{}").with_header("x-a", "1\r\n2");
    let error = bus
        .publish(broken)
        .await
        .expect_err("line break in a header");
    assert!(matches!(error, BusError::InvalidHeader { .. }), "{error:?}");
    for filter in [
        "marketplace.*.>",
        "marketplace.>",
        "marketplace.ordering.>.x",
    ] {
        let result = bus.subscribe(spec("bad", &[filter])).await;
        assert!(
            matches!(result, Err(BusError::InvalidSubject { .. })),
            "{filter}"
        );
    }
    let result = bus
        .subscribe(spec("bad.name", &["marketplace.ordering.>"]))
        .await;
    assert!(matches!(result, Err(BusError::Invalid { .. })));
}

#[tokio::test]
async fn in_process_close_ends_streams() {
    let bus = InProcessBus::new();
    let mut deliveries = bus
        .subscribe(spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    bus.check().await.expect("check before close");
    bus.close().await;
    assert!(within("end of stream", deliveries.next()).await.is_none());
    assert!(matches!(bus.check().await, Err(BusError::Closed)));
    let error = bus
        .publish(event("marketplace.ordering.order_submitted", "{}"))
        .await
        .expect_err("publish after close");
    assert!(matches!(error, BusError::Closed));
    assert!(!error.is_transient());
}

// ---------------------------------------------------------------------------------------------
// NATS JetStream bus

/// The URL of the test server, or `None` (after a notice) to skip.
async fn nats_url(test: &str) -> Option<String> {
    init_logs();
    if let Ok(url) = std::env::var("MARKETPLACE_TEST_NATS_URL") {
        return Some(url);
    }
    let reachable = matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect("127.0.0.1:4222"),
        )
        .await,
        Ok(Ok(_))
    );
    if reachable {
        return Some(DEFAULT_NATS_URL.to_owned());
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "\n\n*** {test}: no NATS server: MARKETPLACE_TEST_NATS_URL is unset and {DEFAULT_NATS_URL} \
             is unreachable. CI must run a JetStream-enabled nats-server (nats-server -js). ***\n\n"
        );
    }
    eprintln!(
        "skipping {test}: no NATS server (set MARKETPLACE_TEST_NATS_URL or run nats-server -js on {DEFAULT_NATS_URL})"
    );
    None
}

/// Unique stream and subject prefixes for one test, and the cleanup of its streams.
struct Isolation {
    url: String,
    options: NatsBusOptions,
}

impl Isolation {
    fn new(url: String) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let options = NatsBusOptions {
            stream_prefix: format!("TEST_{}", unique.to_ascii_uppercase()),
            subject_prefix: format!("test-{unique}"),
            ..NatsBusOptions::default()
        };
        Self { url, options }
    }

    async fn connect(&self) -> NatsBus {
        within("connect", NatsBus::connect(&self.url, self.options.clone()))
            .await
            .expect("connect to the test nats server")
    }
}

impl Drop for Isolation {
    /// Deletes this test's streams, also when the test panicked.
    fn drop(&mut self) {
        let url = self.url.clone();
        let prefix = format!("{}_", self.options.stream_prefix);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                let Ok(Ok(client)) =
                    tokio::time::timeout(Duration::from_secs(5), async_nats::connect(&url)).await
                else {
                    return;
                };
                let jetstream = async_nats::jetstream::new(client);
                let names: Vec<String> = jetstream
                    .stream_names()
                    .filter_map(|name| async move { name.ok() })
                    .filter(|name| std::future::ready(name.starts_with(&prefix)))
                    .collect()
                    .await;
                for name in names {
                    if let Err(error) = jetstream.delete_stream(&name).await {
                        eprintln!("failed to delete test stream {name}: {error}");
                    }
                }
            });
        });
        if cleanup.join().is_err() {
            eprintln!("test stream cleanup panicked");
        }
    }
}

fn nats_spec(durable_name: &str, subjects: &[&str]) -> SubscriptionSpec {
    SubscriptionSpec::new(durable_name, subjects.iter().copied())
}

#[tokio::test]
async fn nats_publish_consume_and_ack() {
    let Some(url) = nats_url("nats_publish_consume_and_ack").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    bus.check().await.expect("check");

    let mut deliveries = bus
        .subscribe(nats_spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    let published = event(
        "marketplace.ordering.order_submitted",
        r#"{"order_id":"o-1"}"#,
    );
    within("publish", bus.publish(published.clone()))
        .await
        .expect("publish");

    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, published.id);
    assert_eq!(delivery.subject, published.subject);
    assert_eq!(delivery.payload, published.payload);
    assert!(delivery.headers.is_empty(), "{:?}", delivery.headers);
    assert!(!delivery.redelivered);
    delivery.ack().await.expect("ack");

    // A publisher-only bus creates the stream too: a second service publishes first.
    let catalog = event("marketplace.catalog.product_published", "p");
    within("publish", bus.publish(catalog))
        .await
        .expect("publish on a fresh stream");

    bus.close().await;
    assert!(within("end of stream", deliveries.next()).await.is_none());
    assert!(matches!(bus.check().await, Err(BusError::Closed)));
}

#[tokio::test]
async fn nats_republish_with_the_same_id_is_delivered_once() {
    let Some(url) = nats_url("nats_republish_with_the_same_id_is_delivered_once").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;

    let original = event("marketplace.ordering.order_submitted", "first");
    within("publish", bus.publish(original.clone()))
        .await
        .expect("publish");
    // The relay crashed before marking the row published and sends it again.
    within("re-publish", bus.publish(original.clone()))
        .await
        .expect("re-publish is accepted");
    let sentinel = event("marketplace.ordering.order_cancelled", "second");
    within("publish", bus.publish(sentinel.clone()))
        .await
        .expect("publish");

    let mut deliveries = bus
        .subscribe(nats_spec("dedup-check", &["marketplace.ordering.>"]))
        .await
        .expect("subscribe");
    let first = next_delivery(&mut deliveries).await;
    assert_eq!(first.id, original.id);
    first.ack().await.expect("ack");
    let second = next_delivery(&mut deliveries).await;
    assert_eq!(second.id, sentinel.id, "the re-publish was delivered again");
    second.ack().await.expect("ack");
}

#[tokio::test]
async fn nats_nacked_or_unacked_deliveries_are_redelivered() {
    let Some(url) = nats_url("nats_nacked_or_unacked_deliveries_are_redelivered").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    let mut subscription = nats_spec("provisioning-from-ordering", &["marketplace.ordering.>"]);
    subscription.ack_wait = Duration::from_secs(2);
    subscription.max_batch = 1;
    let mut deliveries = bus.subscribe(subscription).await.expect("subscribe");
    // Events already acked; should an ack reach the server after `ack_wait` on a loaded
    // machine, their redelivery is acked again and skipped.
    let mut done = Vec::new();

    let nacked = event("marketplace.ordering.order_submitted", "nacked");
    within("publish", bus.publish(nacked.clone()))
        .await
        .expect("publish");
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, nacked.id);
    assert!(!delivery.redelivered);
    delivery.nack(None).await.expect("nack");
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, nacked.id);
    assert!(delivery.redelivered);
    done.push(delivery.id.clone());
    delivery.ack().await.expect("ack");

    let delayed = event("marketplace.ordering.order_submitted", "nacked with delay");
    within("publish", bus.publish(delayed.clone()))
        .await
        .expect("publish");
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, delayed.id);
    delivery
        .nack(Some(Duration::from_millis(200)))
        .await
        .expect("nack with delay");
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, delayed.id);
    assert!(delivery.redelivered);
    done.push(delivery.id.clone());
    delivery.ack().await.expect("ack");

    let unacked = event("marketplace.ordering.order_submitted", "unacked");
    within("publish", bus.publish(unacked.clone()))
        .await
        .expect("publish");
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, unacked.id);
    drop(delivery); // the handler crashed: redelivered after ack_wait
    let delivery = next_new_delivery(&mut deliveries, &done).await;
    assert_eq!(delivery.id, unacked.id);
    assert!(delivery.redelivered);
    delivery.ack().await.expect("ack");
}

/// The next delivery of an event not in `done`; redeliveries of those are acked and skipped.
async fn next_new_delivery(stream: &mut DeliveryStream, done: &[String]) -> Delivery {
    loop {
        let delivery = next_delivery(stream).await;
        if !done.contains(&delivery.id) {
            return delivery;
        }
        delivery.ack().await.expect("ack a redelivery");
    }
}

#[tokio::test]
async fn nats_durable_consumer_resumes_where_it_left_off() {
    let Some(url) = nats_url("nats_durable_consumer_resumes_where_it_left_off").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    let mut subscription = nats_spec("provisioning-from-ordering", &["marketplace.ordering.>"]);
    subscription.ack_wait = Duration::from_secs(2);

    let mut deliveries = bus
        .subscribe(subscription.clone())
        .await
        .expect("subscribe");
    let first = event("marketplace.ordering.order_submitted", "1");
    let second = event("marketplace.ordering.order_submitted", "2");
    for published in [&first, &second] {
        within("publish", bus.publish(published.clone()))
            .await
            .expect("publish");
    }
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, first.id);
    delivery.ack().await.expect("ack");
    // The subscriber goes away; `second` may already sit unacked in its buffer.
    drop(deliveries);

    let third = event("marketplace.ordering.order_submitted", "3");
    within("publish", bus.publish(third.clone()))
        .await
        .expect("publish");
    let mut deliveries = bus.subscribe(subscription).await.expect("re-subscribe");
    let mut pending = vec![second.id.clone(), third.id.clone()];
    while !pending.is_empty() {
        let delivery = next_delivery(&mut deliveries).await;
        assert_ne!(delivery.id, first.id, "an acked event was delivered again");
        pending.retain(|id| *id != delivery.id);
        delivery.ack().await.expect("ack");
    }
}

#[tokio::test]
async fn nats_headers_round_trip() {
    let Some(url) = nats_url("nats_headers_round_trip").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    let mut deliveries = bus
        .subscribe(nats_spec(
            "notification-from-ordering",
            &["marketplace.ordering.*"],
        ))
        .await
        .expect("subscribe");

    let published = event("marketplace.ordering.order_submitted", "{}")
        .with_header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .with_header("tracestate", "vendor=opaque,other=1")
        .with_header("x-tag", "a")
        .with_header("x-tag", "b");
    within("publish", bus.publish(published.clone()))
        .await
        .expect("publish");

    let delivery = next_delivery(&mut deliveries).await;
    let mut received = delivery.headers.clone();
    let mut expected = published.headers.clone();
    received.sort();
    expected.sort();
    assert_eq!(received, expected);
    assert_eq!(
        delivery.header("TraceParent"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(delivery.header("tracestate"), Some("vendor=opaque,other=1"));
    assert_eq!(delivery.header("nats-msg-id"), None);
    delivery.ack().await.expect("ack");
}

#[tokio::test]
async fn nats_one_subscription_spans_several_services() {
    let Some(url) = nats_url("nats_one_subscription_spans_several_services").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    let mut deliveries = bus
        .subscribe(nats_spec(
            "notification",
            &[
                "marketplace.ordering.order_submitted",
                "marketplace.provisioning.>",
            ],
        ))
        .await
        .expect("subscribe");

    let ignored = event("marketplace.ordering.order_cancelled", "ignored");
    let order = event("marketplace.ordering.order_submitted", "order");
    let provisioned = event("marketplace.provisioning.instance_ready", "ready");
    for published in [&ignored, &order, &provisioned] {
        within("publish", bus.publish(published.clone()))
            .await
            .expect("publish");
    }
    let mut pending = vec![order.id.clone(), provisioned.id.clone()];
    while !pending.is_empty() {
        let delivery = next_delivery(&mut deliveries).await;
        assert_ne!(
            delivery.id, ignored.id,
            "a filtered-out event was delivered"
        );
        pending.retain(|id| *id != delivery.id);
        delivery.ack().await.expect("ack");
    }
}

#[tokio::test]
async fn nats_several_filters_on_one_stream() {
    let Some(url) = nats_url("nats_several_filters_on_one_stream").await else {
        return;
    };
    let isolation = Isolation::new(url);
    let bus = isolation.connect().await;
    // Before nats-server 2.10 the bus filters these on the client; from 2.10 on, the server does.
    let mut deliveries = bus
        .subscribe(nats_spec(
            "ordering-watch",
            &[
                "marketplace.ordering.order_submitted",
                "marketplace.ordering.order_cancelled",
            ],
        ))
        .await
        .expect("subscribe");
    let ignored = event("marketplace.ordering.order_paid", "ignored");
    let submitted = event("marketplace.ordering.order_submitted", "submitted");
    let cancelled = event("marketplace.ordering.order_cancelled", "cancelled");
    let ignored_too = event("marketplace.ordering.order_paid", "ignored too");
    for published in [&ignored, &submitted, &ignored_too, &cancelled] {
        within("publish", bus.publish(published.clone()))
            .await
            .expect("publish");
    }
    for expected in [&submitted, &cancelled] {
        let delivery = next_delivery(&mut deliveries).await;
        assert_eq!(delivery.id, expected.id);
        delivery.ack().await.expect("ack");
    }
}

#[tokio::test]
async fn nats_subscription_and_publish_recover_when_the_stream_is_deleted() {
    let Some(url) =
        nats_url("nats_subscription_and_publish_recover_when_the_stream_is_deleted").await
    else {
        return;
    };
    let isolation = Isolation::new(url.clone());
    let bus = isolation.connect().await;
    let mut deliveries = bus
        .subscribe(nats_spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    let before = event("marketplace.ordering.order_submitted", "before");
    within("publish", bus.publish(before.clone()))
        .await
        .expect("publish");
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, before.id);
    delivery.ack().await.expect("ack");

    // An operator deletes the stream (and so the consumer) behind the bus's back.
    let client = within("connect", async_nats::connect(&url))
        .await
        .expect("connect");
    let jetstream = async_nats::jetstream::new(client);
    within(
        "delete stream",
        jetstream.delete_stream(bus.stream_name("ordering")),
    )
    .await
    .expect("delete stream");

    // The relay retries until the bus takes the event; both sides re-create what they need.
    let after = event("marketplace.ordering.order_submitted", "after");
    within("publish after deletion", async {
        while let Err(error) = bus.publish(after.clone()).await {
            assert!(error.is_transient(), "{error:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, after.id);
    delivery.ack().await.expect("ack");
}

#[tokio::test]
async fn nats_connect_fails_fast_on_a_closed_port() {
    let port = free_port();
    let result = within(
        "connect",
        NatsBus::connect(
            &format!("nats://127.0.0.1:{port}"),
            NatsBusOptions::default(),
        ),
    )
    .await;
    assert!(matches!(result, Err(BusError::Connect { .. })));
}

// ---------------------------------------------------------------------------------------------
// Server restart, against a nats-server this test starts and stops itself

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free local port")
}

fn nats_server_binary() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("MARKETPLACE_TEST_NATS_SERVER_BIN") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|directory| directory.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A JetStream store directory, removed when dropped (also when the test panicked).
struct TempStore(std::path::PathBuf);

impl TempStore {
    fn new() -> Self {
        let unique = uuid::Uuid::new_v4().simple();
        Self(std::env::temp_dir().join(format!("bus-test-{unique}")))
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("failed to remove {}: {error}", self.0.display());
        }
    }
}

/// A nats-server child process with JetStream in its own store directory.
struct OwnServer {
    child: tokio::process::Child,
}

impl OwnServer {
    async fn start(binary: &std::path::Path, port: u16, store: &std::path::Path) -> Self {
        let child = tokio::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nats-server");
        within("nats-server to listen", async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        Self { child }
    }

    async fn stop(mut self) {
        self.child.kill().await.expect("stop nats-server");
    }
}

#[tokio::test]
async fn nats_subscription_survives_a_server_restart() {
    init_logs();
    let Some(binary) = nats_server_binary() else {
        eprintln!(
            "skipping nats_subscription_survives_a_server_restart: no nats-server binary \
             (set MARKETPLACE_TEST_NATS_SERVER_BIN)"
        );
        return;
    };
    let store = TempStore::new();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let server = OwnServer::start(&binary, port, &store.0).await;

    let isolation = Isolation::new(url.clone());
    let bus = isolation.connect().await;
    let mut deliveries = bus
        .subscribe(nats_spec(
            "provisioning-from-ordering",
            &["marketplace.ordering.>"],
        ))
        .await
        .expect("subscribe");
    let before = event("marketplace.ordering.order_submitted", "before");
    within("publish", bus.publish(before.clone()))
        .await
        .expect("publish");
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, before.id);
    delivery.ack().await.expect("ack");

    server.stop().await;
    // Some downtime, so that the client notices and pull requests fail.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server = OwnServer::start(&binary, port, &store.0).await;

    // Like the outbox relay: retry until the bus takes the event.
    let after = event("marketplace.ordering.order_submitted", "after");
    within("publish after restart", async {
        while let Err(error) = bus.publish(after.clone()).await {
            assert!(error.is_transient(), "{error:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.id, after.id);
    delivery.ack().await.expect("ack");

    bus.close().await;
    drop(isolation);
    server.stop().await;
}
