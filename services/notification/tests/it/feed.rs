//! Rules → feed and e-mail, exactly once per event; preferences; staff alerts; watch stream.

use std::time::Duration;

use marketplace_platform::db::testing::{backends, fresh_settings};
use marketplace_proto::events::v1::ReminderKind;
use marketplace_proto::notification::v1 as pb;
use notification::store::emails;
use tokio_stream::StreamExt;

use crate::harness::*;

#[tokio::test]
async fn subscription_activated_sends_ready_and_activation_once_even_when_redelivered() {
    for backend in backends().await {
        let svc = start(backend).await;
        let order = uuid::Uuid::now_v7().to_string();
        svc.publish(&order_submitted(RESELLER, &order)).await;
        let activated = subscription_activated(RESELLER, &order);
        svc.publish(&activated).await;
        // submitted (reseller) + ready (reseller) + activation (contract manager, reseller)
        let messages = svc.smtp.wait_for(4, Duration::from_secs(10)).await;
        assert_eq!(
            messages.len(),
            4,
            "{backend:?}: {:?}",
            messages.iter().map(|m| m.subject()).collect::<Vec<_>>()
        );

        let to_reseller = svc.smtp.messages_to(RESELLER_EMAIL);
        let subjects: Vec<String> = to_reseller.iter().filter_map(|m| m.subject()).collect();
        assert!(
            subjects
                .iter()
                .any(|s| s.contains("submitted for processing")),
            "{subjects:?}"
        );
        assert!(
            subjects
                .iter()
                .any(|s| s == "Your AutoCAD - Annual subscription is ready"),
            "{subjects:?}"
        );
        let activation = svc.smtp.messages_to(CONTRACT_MANAGER);
        assert_eq!(activation.len(), 1);
        let text = activation[0].text().expect("text part");
        assert!(
            text.contains("https://manage.autodesk.com/products?x=1"),
            "{text}"
        );
        assert!(
            activation[0]
                .html()
                .expect("html part")
                .contains("manage.autodesk.com")
        );

        // Redelivery of the same event: nothing new.
        svc.publish(&activated).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            svc.smtp.messages().len(),
            4,
            "{backend:?}: redelivery sent again"
        );

        let mut feed = svc.feed(reseller_user(RESELLER));
        let list = feed
            .list_notifications(pb::ListNotificationsRequest::default())
            .await
            .expect("list")
            .into_inner();
        let kinds: Vec<i32> = list.notifications.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            vec![
                pb::NotificationKind::ActivationComplete as i32,
                pb::NotificationKind::SubscriptionReady as i32,
                pb::NotificationKind::OrderSubmitted as i32
            ]
        );
        assert_eq!(
            list.notifications[0].link,
            "https://manage.autodesk.com/products?x=1"
        );
        assert!(
            list.notifications
                .iter()
                .all(|n| n.reseller_id == RESELLER && !n.read)
        );
        let unread = feed
            .get_unread_count(pb::GetUnreadCountRequest {})
            .await
            .expect("count")
            .into_inner()
            .unread_count;
        assert_eq!(unread, 3);
        let one = list.notifications[2].id.clone();
        let marked = feed
            .mark_notifications_read(pb::MarkNotificationsReadRequest {
                notification_ids: vec![one],
            })
            .await
            .expect("mark")
            .into_inner();
        assert_eq!(marked.marked_count, 1);
        assert_eq!(
            feed.get_unread_count(pb::GetUnreadCountRequest {})
                .await
                .expect("count")
                .into_inner()
                .unread_count,
            2
        );
        let all = feed
            .mark_notifications_read(pb::MarkNotificationsReadRequest::default())
            .await
            .expect("mark all")
            .into_inner();
        assert_eq!(all.marked_count, 2);

        // Paging.
        let page = feed
            .list_notifications(pb::ListNotificationsRequest {
                page_size: 2,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.notifications.len(), 2);
        let rest = feed
            .list_notifications(pb::ListNotificationsRequest {
                page_size: 2,
                page_token: page.next_page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("page 2")
            .into_inner();
        assert_eq!(rest.notifications.len(), 1);
        assert!(rest.next_page_token.is_empty());

        // Another reseller sees nothing; a bad id is bad input.
        let mut other = svc.feed(reseller_user("reseller-other"));
        assert!(
            other
                .list_notifications(pb::ListNotificationsRequest::default())
                .await
                .expect("list")
                .into_inner()
                .notifications
                .is_empty()
        );
        let bad = other
            .mark_notifications_read(pb::MarkNotificationsReadRequest {
                notification_ids: vec!["x".into()],
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);

        let deliveries = emails::of_event(svc.db.pool(), &activated.id)
            .await
            .expect("deliveries");
        assert_eq!(deliveries.len(), 3);
        assert!(
            deliveries
                .iter()
                .all(|d| d.status == "succeeded" && d.attempts == 1),
            "{deliveries:?}"
        );
        svc.stop().await;
    }
}

#[tokio::test]
async fn fulfilment_failed_notifies_reseller_with_vendor_message_and_alerts_staff() {
    for backend in backends().await {
        let svc = start(backend).await;
        let order = uuid::Uuid::now_v7().to_string();
        svc.publish(&order_submitted(RESELLER, &order)).await;
        svc.publish(&fulfilment_failed(RESELLER, &order)).await;
        let messages = svc.smtp.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(messages.len(), 3);
        let failed = svc
            .smtp
            .messages_to(RESELLER_EMAIL)
            .into_iter()
            .find(|m| {
                m.subject()
                    .unwrap_or_default()
                    .contains("Provisioning failed")
            })
            .expect("failure mail");
        assert!(
            failed
                .text()
                .unwrap_or_default()
                .contains("The contract manager e-mail is invalid")
        );
        assert!(
            failed.subject().unwrap_or_default().contains("ORD-"),
            "order number remembered from order_submitted"
        );
        let staff_mail = svc.smtp.messages_to(STAFF_EMAIL);
        assert_eq!(staff_mail.len(), 1);
        assert!(
            staff_mail[0]
                .subject()
                .unwrap_or_default()
                .starts_with("[staff]")
        );
        assert!(staff_mail[0].text().unwrap_or_default().contains(RESELLER));

        let staff_feed = svc
            .feed(staff())
            .list_notifications(pb::ListNotificationsRequest::default())
            .await
            .expect("staff")
            .into_inner();
        assert_eq!(staff_feed.notifications.len(), 1);
        assert_eq!(
            staff_feed.notifications[0].kind,
            pb::NotificationKind::StaffAlert as i32
        );
        let reseller_feed = svc
            .feed(reseller_user(RESELLER))
            .list_notifications(pb::ListNotificationsRequest::default())
            .await
            .expect("reseller")
            .into_inner();
        assert!(
            reseller_feed
                .notifications
                .iter()
                .all(|n| n.kind != pb::NotificationKind::StaffAlert as i32)
        );
        assert!(reseller_feed.notifications.iter().any(|n| n.kind
            == pb::NotificationKind::ProvisioningFailed as i32
            && n.body.contains("e-mail is invalid")));
        svc.stop().await;
    }
}

#[tokio::test]
async fn inquiring_and_reminders_say_what_to_do() {
    for backend in backends().await {
        let svc = start(backend).await;
        let order = uuid::Uuid::now_v7().to_string();
        svc.publish(&order_submitted(RESELLER, &order)).await;
        svc.publish(&fulfilment_inquiring(RESELLER, &order)).await;
        svc.publish(&fulfilment_succeeded(RESELLER, &order)).await;
        svc.publish(&reminder(RESELLER, ReminderKind::CancellationWindowClosing))
            .await;
        svc.publish(&reminder(RESELLER, ReminderKind::AutoRenewLastDay))
            .await;
        svc.publish(&reminder(RESELLER, ReminderKind::TermEndApproaching))
            .await;
        let messages = svc.smtp.wait_for(6, Duration::from_secs(10)).await;
        assert_eq!(messages.len(), 6);
        let processed = messages
            .iter()
            .find(|m| {
                m.subject()
                    .unwrap_or_default()
                    .contains("processed by the vendor")
            })
            .expect("processed mail");
        assert!(
            processed
                .text()
                .unwrap_or_default()
                .contains("Vendor reference: TX-42")
        );
        assert!(
            processed.subject().unwrap_or_default().contains("ORD-"),
            "order number remembered"
        );
        let inquiring = messages
            .iter()
            .find(|m| {
                m.subject()
                    .unwrap_or_default()
                    .contains("needs more information")
            })
            .expect("inquiring mail");
        let text = inquiring.text().unwrap_or_default();
        assert!(
            text.contains("parameters.mpn_id: the partner MPN ID is required for NCE"),
            "{text}"
        );
        assert!(
            text.contains(&format!("/orders/{order}/items/item-2")),
            "{text}"
        );
        let subjects: Vec<String> = messages.iter().filter_map(|m| m.subject()).collect();
        assert!(
            subjects
                .iter()
                .any(|s| s.starts_with("Cancellation window closing"))
        );
        assert!(
            subjects
                .iter()
                .any(|s| s.starts_with("Last day to disable auto-renew"))
        );
        assert!(
            subjects.iter().any(|s| s.contains("ends 2027-01-15")),
            "{subjects:?}"
        );
        svc.stop().await;
    }
}

#[tokio::test]
async fn preferences_redirect_subscription_ready_mute_kinds_and_pick_the_locale() {
    for backend in backends().await {
        let svc = start(backend).await;
        let mut admin = svc.feed(reseller_admin(RESELLER));
        let defaults = admin
            .get_preferences(pb::GetPreferencesRequest::default())
            .await
            .expect("get")
            .into_inner();
        assert_eq!(defaults.locale, "en");
        assert!(defaults.subscription_ready_email.is_empty());

        let bad = admin
            .update_preferences(pb::UpdatePreferencesRequest {
                preferences: Some(pb::Preferences {
                    subscription_ready_email: "not-an-email".into(),
                    locale: "en".into(),
                    ..Default::default()
                }),
                update_mask: vec![],
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        let user_denied = svc
            .feed(reseller_user(RESELLER))
            .update_preferences(pb::UpdatePreferencesRequest::default())
            .await
            .unwrap_err();
        assert_eq!(user_denied.code(), tonic::Code::PermissionDenied);

        let saved = admin
            .update_preferences(pb::UpdatePreferencesRequest {
                preferences: Some(pb::Preferences {
                    subscription_ready_email: "me@reseller.example".into(),
                    muted_email_kinds: vec![pb::NotificationKind::OrderSubmitted as i32],
                    locale: "de-AT".into(),
                    reseller_id: String::new(),
                }),
                update_mask: vec![],
            })
            .await
            .expect("update")
            .into_inner();
        assert_eq!(saved.reseller_id, RESELLER);
        assert_eq!(saved.locale, "de-AT");

        let order = uuid::Uuid::now_v7().to_string();
        svc.publish(&order_submitted(RESELLER, &order)).await;
        svc.publish(&subscription_activated(RESELLER, &order)).await;
        // ready → me@reseller.example (German); activation → contract manager (en) + reseller (de); submitted muted.
        let messages = svc.smtp.wait_for(3, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            svc.smtp.messages().len(),
            3,
            "{:?}",
            svc.smtp
                .messages()
                .iter()
                .map(|m| (m.to.clone(), m.subject()))
                .collect::<Vec<_>>()
        );
        let ready = svc.smtp.messages_to("me@reseller.example");
        assert_eq!(ready.len(), 1);
        assert_eq!(
            ready[0].subject().unwrap_or_default(),
            "Ihr Abonnement AutoCAD - Annual ist bereit"
        );
        assert!(
            messages
                .iter()
                .all(|m| !m.subject().unwrap_or_default().contains("übermittelt"))
        );
        // Muted e-mail, but the feed still has it.
        let feed = svc
            .feed(reseller_user(RESELLER))
            .list_notifications(pb::ListNotificationsRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert!(
            feed.notifications
                .iter()
                .any(|n| n.kind == pb::NotificationKind::OrderSubmitted as i32)
        );
        svc.stop().await;
    }
}

#[tokio::test]
async fn watch_streams_new_notifications_of_the_callers_scope_only() {
    for backend in backends().await {
        let svc = start(backend).await;
        let mut stream = svc
            .feed(reseller_user(RESELLER))
            .watch_notifications(pb::WatchNotificationsRequest {})
            .await
            .expect("watch")
            .into_inner();
        let mut staff_stream = svc
            .feed(staff())
            .watch_notifications(pb::WatchNotificationsRequest {})
            .await
            .expect("watch")
            .into_inner();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let order = uuid::Uuid::now_v7().to_string();
        svc.publish(&order_submitted("reseller-other", &order))
            .await;
        svc.publish(&order_submitted(RESELLER, &order)).await;
        let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("in time")
            .expect("item")
            .expect("ok");
        assert_eq!(first.reseller_id, RESELLER);
        assert_eq!(first.kind, pb::NotificationKind::OrderSubmitted as i32);
        svc.publish(&fulfilment_failed(RESELLER, &order)).await;
        let alert = tokio::time::timeout(Duration::from_secs(5), staff_stream.next())
            .await
            .expect("in time")
            .expect("item")
            .expect("ok");
        assert_eq!(alert.kind, pb::NotificationKind::StaffAlert as i32);
        let failed = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("in time")
            .expect("item")
            .expect("ok");
        assert_eq!(failed.kind, pb::NotificationKind::ProvisioningFailed as i32);
        svc.stop().await;
    }
}

#[tokio::test]
async fn without_smtp_url_email_deliveries_are_recorded_as_skipped() {
    for backend in backends().await {
        let svc = start_with(backend, |s| s.smtp.url = Default::default()).await;
        let order = uuid::Uuid::now_v7().to_string();
        let submitted = order_submitted(RESELLER, &order);
        svc.publish(&submitted).await;
        let rows = emails::of_event(svc.db.pool(), &submitted.id)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "skipped");
        let listed = svc
            .feed(staff())
            .list_email_deliveries(pb::ListEmailDeliveriesRequest::default())
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.deliveries.len(), 1);
        assert!(listed.deliveries[0].last_error.starts_with("skipped"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(svc.smtp.messages().is_empty());
        svc.stop().await;
    }
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_setting() {
    let mut s = notification::Settings::new(
        fresh_settings(marketplace_platform::db::Backend::Sqlite).await,
    );
    s.webhooks.retry.max_attempts = 0;
    let deps = notification::Dependencies {
        bus: std::sync::Arc::new(marketplace_platform::bus::InProcessBus::new()),
        identity: marketplace_platform::identity::IdentityKey::random(),
        clock: marketplace_platform::clock::system(),
        page_tokens: marketplace_platform::paging::PageTokens::random(),
    };
    let error = notification::App::build(s, deps)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("webhooks.retry.max_attempts"), "{error}");
}

#[test]
fn settings_load_from_toml_and_env_with_defaults() {
    let toml = "[database]\nurl = \"sqlite://data/notification.db\"\n[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n[webhooks.retry]\nmax_attempts = 3\n";
    let s: notification::Settings =
        marketplace_platform::config::load(toml, None, "NOTIFICATION_TEST_UNSET_").expect("load");
    assert_eq!(s.smtp.url.expose(), "smtp://127.0.0.1:2525");
    assert_eq!(s.smtp.pool_size, 4);
    assert_eq!(s.webhooks.retry.max_attempts, 3);
    assert_eq!(
        s.webhooks.retry.base_ms, 5_000,
        "unset fields of a section keep their defaults"
    );
    assert_eq!(s.staff_email, "staff@marketplace.example");
    assert!(!s.webhooks.allow_loopback);
    assert!(
        format!("{s:?}").contains("Secret(<redacted>)"),
        "the SMTP URL may hold a password"
    );
    s.validate().expect("valid");
}
