//! Webhook delivery against real HTTP receivers: signing, filters, exactly-once, faults,
//! disabling, rotation, test sends, replays and bad input.

use std::time::Duration;

use marketplace_platform::db::testing::backends;
use marketplace_proto::notification::v1 as pb;

use crate::harness::*;
use crate::receiver::{Behaviour, Receiver};

async fn create(svc: &Running, url: &str, types: &[&str]) -> (pb::WebhookEndpoint, String) {
    let created = svc
        .webhooks(reseller_admin(RESELLER))
        .create_webhook_endpoint(pb::CreateWebhookEndpointRequest {
            endpoint: Some(pb::WebhookEndpoint {
                url: url.into(),
                description: "ERP".into(),
                event_types: types.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create endpoint")
        .into_inner();
    (created.endpoint.expect("endpoint"), created.secret)
}

async fn deliveries(svc: &Running, endpoint_id: &str) -> Vec<pb::WebhookDelivery> {
    svc.webhooks(reseller_user(RESELLER))
        .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
            endpoint_id: endpoint_id.into(),
            ..Default::default()
        })
        .await
        .expect("list deliveries")
        .into_inner()
        .deliveries
}

async fn settled(svc: &Running, endpoint_id: &str, n: usize) -> Vec<pb::WebhookDelivery> {
    eventually(Duration::from_secs(15), || async {
        let d = deliveries(svc, endpoint_id).await;
        let done = d.len() >= n
            && d.iter().all(|d| {
                d.status == pb::DeliveryStatus::Succeeded as i32
                    || d.status == pb::DeliveryStatus::Failed as i32
            });
        done.then_some(d)
    })
    .await
    .unwrap_or_else(|| panic!("deliveries of {endpoint_id} did not settle"))
}

#[tokio::test]
async fn delivers_signed_events_to_matching_endpoints_exactly_once() {
    for backend in backends().await {
        let svc = start(backend).await;
        let all = Receiver::start().await;
        let failures_only = Receiver::start().await;
        let (ep_all, secret_all) = create(&svc, &all.url(), &[]).await;
        let (ep_fail, secret_fail) =
            create(&svc, &failures_only.url(), &["order_item.failed"]).await;
        assert!(secret_all.starts_with("whsec_") && secret_all != secret_fail);
        all.trust(&secret_all);
        failures_only.trust(&secret_fail);

        let order = uuid::Uuid::now_v7().to_string();
        let submitted = order_submitted(RESELLER, &order);
        let failed = fulfilment_failed(RESELLER, &order);
        svc.publish(&submitted).await;
        svc.publish(&failed).await;
        svc.publish(&order_submitted("reseller-other", &order))
            .await;
        svc.publish(&submitted).await; // redelivery

        let got = all.wait_for(2, Duration::from_secs(10)).await;
        let got_fail = failures_only.wait_for(1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(all.received().len(), 2, "{backend:?}");
        assert_eq!(failures_only.received().len(), 1);
        assert!(
            got.iter()
                .all(|r| r.verified_by == vec![secret_all.clone()]),
            "signature must verify"
        );
        assert_eq!(got_fail[0].verified_by, vec![secret_fail.clone()]);
        let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        assert!(
            ids.contains(&submitted.id.as_str()) && ids.contains(&failed.id.as_str()),
            "webhook-id is the event id"
        );
        let submitted_body = got
            .iter()
            .find(|r| r.id == submitted.id)
            .expect("submitted")
            .body
            .clone();
        assert_eq!(submitted_body["type"], "order.submitted");
        assert_eq!(submitted_body["data"]["resellerId"], RESELLER);
        // One name per event: `type`; `data` carries the payload's fields directly.
        assert_eq!(submitted_body["data"]["orderId"], order.as_str());
        assert!(submitted_body["data"].get("order_submitted").is_none());
        assert_eq!(got_fail[0].body["type"], "order_item.failed");

        let log = settled(&svc, &ep_all.id, 2).await;
        assert!(
            log.iter()
                .all(|d| d.status == pb::DeliveryStatus::Succeeded as i32 && d.attempts.len() == 1)
        );
        assert_eq!(log[0].attempts[0].status_code, 200);
        assert_eq!(log[0].attempts[0].response_excerpt, "ok");
        let _ = settled(&svc, &ep_fail.id, 1).await;
        all.stop();
        failures_only.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn retries_500_honours_retry_after_and_gives_up_on_slow_receivers_in_time() {
    for backend in backends().await {
        let svc = start(backend).await;
        let rx = Receiver::start().await;
        rx.script(&[
            Behaviour::Status(500),
            Behaviour::TooMany(1),
            Behaviour::Slow(1_200),
            Behaviour::Ok,
        ]);
        let (ep, secret) = create(&svc, &rx.url(), &["order.submitted"]).await;
        rx.trust(&secret);
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        let log = settled(&svc, &ep.id, 1).await;
        let attempts = &log[0].attempts;
        assert_eq!(
            log[0].status,
            pb::DeliveryStatus::Succeeded as i32,
            "{attempts:?}"
        );
        let codes: Vec<i32> = attempts.iter().map(|a| a.status_code).collect();
        assert_eq!(codes, vec![500, 429, 0, 200], "{attempts:?}");
        assert!(attempts[0].response_excerpt.contains("status 500"));
        assert!(attempts[2].error.contains("timeout"), "{:?}", attempts[2]);
        assert!(
            attempts[2].latency_ms >= 450 && attempts[2].latency_ms < 1_200,
            "timeout at 500 ms: {:?}",
            attempts[2]
        );
        let t = |a: &pb::WebhookAttempt| {
            a.attempt_time
                .as_ref()
                .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
                .unwrap_or(0.0)
        };
        assert!(
            t(&attempts[2]) - t(&attempts[1]) >= 0.95,
            "Retry-After: 1 honoured"
        );
        let received = rx.received();
        assert_eq!(received.len(), 4);
        assert!(
            received.iter().all(|r| r.id == received[0].id),
            "same webhook-id on every retry"
        );
        rx.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn receiver_down_is_retried_until_it_comes_up() {
    for backend in backends().await {
        let svc = start(backend).await;
        let reserved = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = reserved.local_addr().expect("addr");
        drop(reserved);
        let (ep, secret) = create(&svc, &format!("http://{addr}/hook"), &[]).await;
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        let failing = eventually(Duration::from_secs(5), || async {
            let d = deliveries(&svc, &ep.id).await;
            d.first().filter(|d| d.attempts.len() >= 2).cloned()
        })
        .await
        .expect("failed attempts recorded");
        assert!(
            failing
                .attempts
                .iter()
                .all(|a| a.status_code == 0 && a.error.contains("connection")),
            "{:?}",
            failing.attempts
        );
        let endpoint = svc
            .webhooks(reseller_user(RESELLER))
            .get_webhook_endpoint(pb::GetWebhookEndpointRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert!(endpoint.failing_since_time.is_some());
        let rx =
            Receiver::start_on(tokio::net::TcpListener::bind(addr).await.expect("rebind")).await;
        rx.trust(&secret);
        let got = rx.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].verified_by.len(), 1);
        let log = settled(&svc, &ep.id, 1).await;
        assert_eq!(log[0].status, pb::DeliveryStatus::Succeeded as i32);
        let endpoint = svc
            .webhooks(reseller_user(RESELLER))
            .get_webhook_endpoint(pb::GetWebhookEndpointRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert!(
            endpoint.failing_since_time.is_none(),
            "a success clears the failure clock"
        );
        rx.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn failing_endpoint_is_disabled_then_reenabled_by_its_owner_and_replayed() {
    for backend in backends().await {
        let svc = start_with(backend, |s| s.webhooks.disable_after_ms = 300).await;
        let rx = Receiver::start().await;
        rx.set_default(Behaviour::Status(503));
        let (ep, secret) = create(&svc, &rx.url(), &[]).await;
        rx.trust(&secret);
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        let mut hooks = svc.webhooks(reseller_admin(RESELLER));
        let disabled = eventually(Duration::from_secs(10), || {
            let mut hooks = hooks.clone();
            let id = ep.id.clone();
            async move {
                let e = hooks
                    .get_webhook_endpoint(pb::GetWebhookEndpointRequest { endpoint_id: id })
                    .await
                    .ok()?
                    .into_inner();
                (!e.enabled).then_some(e)
            }
        })
        .await
        .expect("endpoint disabled");
        assert!(
            disabled.disabled_reason.contains("failing"),
            "{}",
            disabled.disabled_reason
        );
        let log = settled(&svc, &ep.id, 1).await;
        assert_eq!(log[0].status, pb::DeliveryStatus::Failed as i32);

        // While disabled: new events are not queued; replay is refused.
        let count_before = rx.received().len();
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(deliveries(&svc, &ep.id).await.len(), 1);
        let refused = hooks
            .replay_webhook_delivery(pb::ReplayWebhookDeliveryRequest {
                endpoint_id: ep.id.clone(),
                delivery_id: log[0].id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);

        // The owner re-enables it and replays the failed delivery.
        rx.set_default(Behaviour::Ok);
        let enabled = hooks
            .update_webhook_endpoint(pb::UpdateWebhookEndpointRequest {
                endpoint: Some(pb::WebhookEndpoint {
                    id: ep.id.clone(),
                    enabled: true,
                    ..Default::default()
                }),
                update_mask: vec!["enabled".into()],
            })
            .await
            .expect("enable")
            .into_inner();
        assert!(
            enabled.enabled
                && enabled.disabled_reason.is_empty()
                && enabled.failing_since_time.is_none()
        );
        let replayed = hooks
            .replay_webhook_delivery(pb::ReplayWebhookDeliveryRequest {
                endpoint_id: ep.id.clone(),
                delivery_id: log[0].id.clone(),
            })
            .await
            .expect("replay")
            .into_inner();
        assert_eq!(replayed.id, log[0].id);
        let got = rx.wait_for(count_before + 1, Duration::from_secs(10)).await;
        assert_eq!(got.last().map(|r| r.verified_by.len()), Some(1));
        let log = settled(&svc, &ep.id, 1).await;
        assert_eq!(log[0].status, pb::DeliveryStatus::Succeeded as i32);
        assert!(
            log[0].attempts.len() >= 3,
            "attempts log kept across the replay"
        );
        rx.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn rotated_secret_signs_alongside_the_previous_one_during_the_overlap() {
    for backend in backends().await {
        let svc = start(backend).await;
        let rx = Receiver::start().await;
        let (ep, old) = create(&svc, &rx.url(), &[]).await;
        let rotated = svc
            .webhooks(reseller_admin(RESELLER))
            .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .expect("rotate")
            .into_inner();
        assert!(rotated.secret.starts_with("whsec_") && rotated.secret != old);
        assert!(rotated.previous_secret_expire_time.is_some());
        rx.trust(&old);
        rx.trust(&rotated.secret);
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        let got = rx.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got[0].signature_count, 2);
        assert_eq!(
            got[0].verified_by,
            vec![old.clone(), rotated.secret.clone()],
            "both old and new verify"
        );
        // After the overlap (60 s in tests) only the new secret signs.
        svc.clock.advance(time::Duration::seconds(61));
        svc.publish(&order_submitted(
            RESELLER,
            &uuid::Uuid::now_v7().to_string(),
        ))
        .await;
        let got = rx.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(got[1].signature_count, 1);
        assert_eq!(got[1].verified_by, vec![rotated.secret.clone()]);
        rx.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn test_send_reports_the_attempt_and_bad_input_is_refused_with_nothing_stored() {
    for backend in backends().await {
        let svc = start(backend).await;
        let rx = Receiver::start().await;
        let (ep, secret) = create(&svc, &rx.url(), &["subscription.activated"]).await;
        rx.trust(&secret);
        let mut admin = svc.webhooks(reseller_admin(RESELLER));
        let sent = admin
            .send_test_webhook(pb::SendTestWebhookRequest {
                endpoint_id: ep.id.clone(),
                event_type: String::new(),
            })
            .await
            .expect("test")
            .into_inner();
        assert_eq!(sent.status, pb::DeliveryStatus::Succeeded as i32);
        assert_eq!(sent.event_type, "webhook.test");
        assert_eq!(sent.attempts[0].status_code, 200);
        assert_eq!(rx.received()[0].verified_by.len(), 1);
        rx.script(&[Behaviour::Status(500)]);
        let failed = admin
            .send_test_webhook(pb::SendTestWebhookRequest {
                endpoint_id: ep.id.clone(),
                event_type: "order.completed".into(),
            })
            .await
            .expect("test")
            .into_inner();
        assert_eq!(failed.status, pb::DeliveryStatus::Failed as i32);
        assert_eq!(failed.attempts[0].status_code, 500);
        let unknown = admin
            .send_test_webhook(pb::SendTestWebhookRequest {
                endpoint_id: ep.id.clone(),
                event_type: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument);

        let long = format!("https://partner.example/{}", "a".repeat(3000));
        for (url, types) in [
            ("ftp://partner.example/hook", vec![]),
            ("https://169.254.169.254/latest/meta-data", vec![]),
            ("http://[fe80::1]/hook", vec![]),
            ("https://metadata.google.internal/x", vec![]),
            (long.as_str(), vec![]),
            (
                "https://partner.example/hook",
                vec!["order.exploded".to_string()],
            ),
        ] {
            let error = admin
                .create_webhook_endpoint(pb::CreateWebhookEndpointRequest {
                    endpoint: Some(pb::WebhookEndpoint {
                        url: url.into(),
                        event_types: types,
                        ..Default::default()
                    }),
                })
                .await
                .unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument, "{url}");
            let details = tonic_types::StatusExt::get_error_details(&error);
            let field = details
                .bad_request()
                .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
                .unwrap_or_default();
            assert!(field.starts_with("endpoint."), "{field}");
        }
        let listed = admin
            .list_webhook_endpoints(pb::ListWebhookEndpointsRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.endpoints.len(), 1, "nothing stored for bad input");

        // Tenancy and roles.
        let user = svc
            .webhooks(reseller_user(RESELLER))
            .create_webhook_endpoint(pb::CreateWebhookEndpointRequest::default())
            .await
            .unwrap_err();
        assert_eq!(user.code(), tonic::Code::PermissionDenied);
        let other = svc
            .webhooks(reseller_admin("reseller-other"))
            .get_webhook_endpoint(pb::GetWebhookEndpointRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(other.code(), tonic::Code::NotFound);
        admin
            .delete_webhook_endpoint(pb::DeleteWebhookEndpointRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .expect("delete");
        let gone = admin
            .get_webhook_endpoint(pb::GetWebhookEndpointRequest {
                endpoint_id: ep.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), tonic::Code::NotFound);
        rx.stop();
        svc.stop().await;
    }
}

#[tokio::test]
async fn a_slow_endpoint_cannot_take_every_slot_from_the_others() {
    for backend in backends().await {
        let svc = start_with(backend, |s| {
            s.webhooks.concurrency = 4;
            s.webhooks.per_endpoint_concurrency = 2;
        })
        .await;
        let slow = Receiver::start().await;
        slow.set_default(Behaviour::Slow(300));
        let fast = Receiver::start().await;
        let (_, _) = create(&svc, &slow.url(), &["order.submitted"]).await;
        let (fast_ep, _) = create(&svc, &fast.url(), &["order_item.failed"]).await;
        let order = uuid::Uuid::now_v7().to_string();
        for _ in 0..12 {
            svc.publish(&order_submitted(
                RESELLER,
                &uuid::Uuid::now_v7().to_string(),
            ))
            .await;
        }
        svc.publish(&fulfilment_failed(RESELLER, &order)).await;
        let got = fast.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1);
        // Without a per-endpoint cap the slow endpoint would hold all 4 slots for ~600 ms
        // (8+ of its requests started first); with 2 per endpoint the fast one goes at once.
        let slow_started = slow.received().len();
        assert!(
            slow_started <= 4,
            "the fast endpoint waited for the slow one's backlog ({slow_started} slow requests first)"
        );
        let all = slow.wait_for(12, Duration::from_secs(20)).await;
        assert_eq!(all.len(), 12, "the slow endpoint still gets everything");
        let _ = settled(&svc, &fast_ep.id, 1).await;
        slow.stop();
        fast.stop();
        svc.stop().await;
    }
}
