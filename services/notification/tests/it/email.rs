//! SMTP faults (4xx retried, 5xx not) and crash recovery of both channels: a delivery claimed
//! by a worker that died is retried once its lease expired, and only that delivery.

use std::sync::Arc;
use std::time::Duration;

use marketplace_platform::bus::{InProcessBus, SharedBus};
use marketplace_platform::clock::{system, to_micros};
use marketplace_platform::db::testing::backends;
use marketplace_platform::identity::IdentityKey;
use marketplace_platform::paging::PageTokens;
use marketplace_proto::notification::v1 as pb;
use notification::sandbox_smtp::SmtpSink;
use notification::store::{emails, webhooks};
use notification::{App, Dependencies};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::harness::*;
use crate::receiver::Receiver;

#[tokio::test]
async fn transient_smtp_errors_are_retried_and_permanent_ones_are_not() {
    for backend in backends().await {
        let svc = start(backend).await;
        svc.smtp.fail_next(2, 451);
        let first = order_submitted(RESELLER, &uuid::Uuid::now_v7().to_string());
        svc.publish(&first).await;
        let got = svc.smtp.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1);
        let row = eventually(Duration::from_secs(5), || async {
            emails::of_event(svc.db.pool(), &first.id)
                .await
                .ok()?
                .into_iter()
                .find(|r| r.status == "succeeded")
        })
        .await
        .expect("delivered");
        assert_eq!(row.attempts, 3, "two 451 replies, then accepted");

        svc.smtp.fail_next(1, 550);
        let second = order_submitted(RESELLER, &uuid::Uuid::now_v7().to_string());
        svc.publish(&second).await;
        let row = eventually(Duration::from_secs(5), || async {
            emails::of_event(svc.db.pool(), &second.id)
                .await
                .ok()?
                .into_iter()
                .find(|r| r.status == "failed")
        })
        .await
        .expect("failed");
        assert_eq!(row.attempts, 1);
        assert!(row.last_error.contains("550"), "{}", row.last_error);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            svc.smtp.messages().len(),
            1,
            "a permanent failure is not retried"
        );
        let listed = svc
            .feed(reseller_admin(RESELLER))
            .list_email_deliveries(pb::ListEmailDeliveriesRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.deliveries.len(), 2);
        assert!(
            listed
                .deliveries
                .iter()
                .any(|d| d.status == pb::DeliveryStatus::Failed as i32 && d.attempts == 1)
        );
        svc.stop().await;
    }
}

#[tokio::test]
async fn smtp_errors_exhaust_the_retry_schedule() {
    for backend in backends().await {
        let svc = start(backend).await;
        svc.smtp.fail_next(10, 421);
        let event = order_submitted(RESELLER, &uuid::Uuid::now_v7().to_string());
        svc.publish(&event).await;
        let row = eventually(Duration::from_secs(10), || async {
            emails::of_event(svc.db.pool(), &event.id)
                .await
                .ok()?
                .into_iter()
                .find(|r| r.status == "failed")
        })
        .await
        .expect("gave up");
        assert_eq!(row.attempts, 4, "max_attempts = 4");
        svc.stop().await;
    }
}

#[tokio::test]
async fn a_delivery_claimed_by_a_crashed_worker_is_retried_alone_after_its_lease() {
    for backend in backends().await {
        let smtp = SmtpSink::start(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
        let settings = test_settings(backend, &smtp.url()).await;
        let rx = Receiver::start().await;
        let bus: SharedBus = Arc::new(InProcessBus::new());
        let identity = IdentityKey::random();
        let deps = Dependencies {
            bus: bus.clone(),
            identity: identity.clone(),
            clock: system(),
            page_tokens: PageTokens::random(),
        };

        // Process 1: consumes events but its workers "crash" mid-delivery (they claim and die).
        let first = App::build(settings.clone(), deps.clone())
            .await
            .expect("build 1");
        let db = first.database().clone();
        let running = Running {
            smtp: smtp.clone(),
            bus: bus.clone(),
            identity: identity.clone(),
            db: db.clone(),
            clock: marketplace_platform::clock::OffsetClock::new(),
            channel: tonic::transport::Channel::from_static("http://127.0.0.1:1").connect_lazy(),
            shutdown: CancellationToken::new(),
            task: tokio::spawn(async { Ok(()) }),
        };
        // An endpoint for webhooks (inserted through the store, as the API would).
        let now = to_micros(time::OffsetDateTime::now_utc());
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        rx.trust(&secret);
        webhooks::insert_endpoint(
            db.pool(),
            &webhooks::EndpointRow {
                id: uuid::Uuid::now_v7().to_string(),
                reseller_id: RESELLER.into(),
                url: rx.url(),
                description: String::new(),
                event_types: vec![],
                enabled: true,
                disabled_reason: String::new(),
                secret: secret.clone(),
                previous_secret: None,
                previous_secret_expires_at: None,
                failing_since: None,
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .expect("endpoint");
        let crashed = order_submitted(RESELLER, &uuid::Uuid::now_v7().to_string());
        running.publish(&crashed).await;
        let lease = now + 1_000_000;
        let claimed_mail = emails::claim(
            &db,
            "worker-that-crashed",
            to_micros(time::OffsetDateTime::now_utc()),
            lease,
            10,
        )
        .await
        .expect("claim");
        let claimed_hook = webhooks::claim(
            &db,
            "worker-that-crashed",
            to_micros(time::OffsetDateTime::now_utc()),
            lease,
            10,
        )
        .await
        .expect("claim");
        assert_eq!((claimed_mail.len(), claimed_hook.len()), (1, 1));
        // A second event arrives after the crash and is not claimed by anyone.
        let later = order_submitted(RESELLER, &uuid::Uuid::now_v7().to_string());
        running.publish(&later).await;
        drop(first);
        drop(running);

        // Process 2 starts on the same database: the unclaimed delivery goes at once, the
        // crashed one once its lease expired, and each exactly once.
        let second = App::build(settings, deps).await.expect("build 2");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(second.run(listener, shutdown.clone()));
        let started = std::time::Instant::now();
        let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
        let hooks = rx.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!((mails.len(), hooks.len()), (2, 2));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "the leased delivery waited for its lease"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(smtp.messages().len(), 2);
        assert_eq!(rx.received().len(), 2);
        let order: Vec<String> = hooks.iter().map(|h| h.id.clone()).collect();
        assert_eq!(
            order,
            vec![later.id.clone(), crashed.id.clone()],
            "the unclaimed one first, the crashed one after its lease"
        );
        let row = emails::of_event(db.pool(), &crashed.id)
            .await
            .expect("rows")
            .remove(0);
        assert_eq!((row.status.as_str(), row.attempts), ("succeeded", 2));
        shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        rx.stop();
        smtp.stop();
    }
}
