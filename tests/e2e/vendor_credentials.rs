//! A vendor refusing the marketplace's credentials (issue 20 point 3): the orders wait and say
//! why at once (not FAILED), staff get one alert for the connector (not one per order), and once
//! the vendor accepts the credentials again the orders complete by themselves.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Marketplace, modes, set, start_with};
use crate::journey_support::{Vendor, item, sim_call, until};

const AUTOCAD: &str = "plan-autodesk-autocad-annual";

/// Subject of the staff alert for a refused Autodesk connector.
const REFUSED: &str = "Autodesk refuses our credentials";
/// Subject of the staff alert when it works again.
const RECOVERED: &str = "Autodesk connector works again";

/// Staff alerts in the feed whose title contains `needle`.
fn staff_alerts(feed: &Value, needle: &str) -> usize {
    feed["notifications"].as_array().map_or(0, |n| {
        n.iter()
            .filter(|n| {
                n["kind"] == "NOTIFICATION_KIND_STAFF_ALERT"
                    && n["title"].as_str().is_some_and(|t| t.contains(needle))
            })
            .count()
    })
}

/// The job of `order_id` once `done` holds for it (as staff, through the gateway).
async fn job_of(
    m: &Marketplace,
    staff: &str,
    order_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let jobs = until(
        m,
        staff,
        &format!("/v1/provisioningJobs?orderId={order_id}"),
        |v| v["jobs"].as_array().is_some_and(|j| j.iter().any(&done)),
    )
    .await;
    jobs["jobs"]
        .as_array()
        .and_then(|j| j.iter().find(|j| done(j)).cloned())
        .expect("the job")
}

/// A call as `token` that must succeed; its JSON body.
async fn ok(m: &Marketplace, token: &str, path: &str, body: Value) -> Value {
    let (status, value) = m.call(Method::POST, path, token, Some(body)).await;
    assert!(status.is_success(), "POST {path} -> {status}: {value}");
    value
}

/// One AutoCAD seat for a new customer of the reseller of `token`; the order id.
async fn autocad_order(m: &Marketplace, token: &str, name: &str, email: &str) -> String {
    let customer = ok(m, token, "/v1/customers", json!({
        "name": name,
        "contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": email, "firstName": "Cora", "lastName": "Manager"}],
        "address": {"line1": "1 Main St", "city": "Oslo", "postalCode": "0150", "countryCode": "NO"}
    }))
    .await;
    let customer_id = customer["id"].as_str().expect("customer id");
    let cart = ok(
        m,
        token,
        "/v1/carts",
        json!({"customerId": customer_id, "currencyCode": "USD"}),
    )
    .await;
    let cart_id = cart["id"].as_str().expect("cart id");
    ok(
        m,
        token,
        &format!("/v1/carts/{cart_id}/lines"),
        json!({"planId": AUTOCAD, "quantity": 1}),
    )
    .await;
    let order = ok(
        m,
        token,
        &format!("/v1/carts/{cart_id}:checkout"),
        json!({"requestId": uuid::Uuid::new_v4().to_string(), "acceptTerms": true}),
    )
    .await;
    order["id"].as_str().expect("order id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_vendor_credentials_pause_orders_alert_staff_once_and_resume_when_fixed() {
    for mode in modes().await {
        // A quick probe, so the orders resume within the test once the sandbox accepts again.
        let m = start_with(mode, |config| {
            set(
                &mut config.provisioning,
                "worker.configuration_probe_interval_ms",
                json!(300),
            )
        })
        .await;
        let staff = m.token_for("staff", None, None);

        // Autodesk no longer accepts our consumer secret (rotated at the vendor).
        sim_call(
            &m,
            Vendor::Autodesk,
            Method::POST,
            "/_sim/autodesk/credentials",
            Some(json!({"consumer_secret": "rotated-at-autodesk"})),
        )
        .await;
        // Two Autodesk orders (of two resellers: Autodesk takes one open order per reseller).
        let other = ok(
            &m,
            &staff,
            "/v1/resellers?resellerId=reseller-creds-two",
            json!({"name": "Creds Two Ltd", "currencyCode": "USD", "notificationEmail": "ops@creds-two.example"}),
        )
        .await;
        let other = m.token_for("reseller_admin", other["id"].as_str(), None);
        let orders = [
            autocad_order(&m, &m.token, "Refused Creds One", "cm@one.example").await,
            autocad_order(&m, &other, "Refused Creds Two", "cm@two.example").await,
        ];

        // Each job and item says so at once: a configuration error naming the settings to
        // check (never the secret), and the order is not failed.
        for order_id in &orders {
            let job = job_of(&m, &staff, order_id, |j| {
                j["lastError"]["class"] == "ERROR_CLASS_CONFIGURATION"
            })
            .await;
            assert_eq!(job["state"], "JOB_STATE_SUBMITTED", "{mode:?}: {job}");
            let message = job["lastError"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("provisioning.autodesk.consumer_secret")
                    && !message.contains("demo-autodesk-secret"),
                "{mode:?}: {job}"
            );
            let order = until(&m, &staff, &format!("/v1/orders/{order_id}"), |o| {
                item(o, 0)["vendorMessage"]
                    .as_str()
                    .is_some_and(|t| t.contains("provisioning.autodesk.consumer_secret"))
            })
            .await;
            assert_ne!(
                item(&order, 0)["status"],
                "ORDER_ITEM_STATUS_FAILED",
                "{mode:?}: {order}"
            );
            assert_ne!(
                order["status"], "ORDER_STATUS_PROVISIONING_FAILED",
                "{mode:?}: {order}"
            );
        }

        // The jobs keep probing (and keep being refused) without failing...
        for order_id in &orders {
            job_of(&m, &staff, order_id, |j| {
                j["attempts"].as_i64().unwrap_or_default() >= 3
                    && j["state"] == "JOB_STATE_SUBMITTED"
            })
            .await;
        }
        // ...and staff hear about it: feed and e-mail.
        until(&m, &staff, "/v1/notifications", |v| {
            staff_alerts(v, REFUSED) >= 1
        })
        .await;
        until(&m, &staff, "/v1/emailDeliveries", |v| {
            v["deliveries"].as_array().is_some_and(|d| {
                d.iter().any(|d| {
                    d["kind"] == "NOTIFICATION_KIND_STAFF_ALERT"
                        && d["subject"].as_str().is_some_and(|s| s.contains(REFUSED))
                })
            })
        })
        .await;

        // The sandbox accepts our credentials again: both orders complete by themselves.
        sim_call(
            &m,
            Vendor::Autodesk,
            Method::POST,
            "/_sim/autodesk/credentials",
            Some(json!({"consumer_secret": null})),
        )
        .await;
        for order_id in &orders {
            let order = until(&m, &staff, &format!("/v1/orders/{order_id}"), |o| {
                o["status"] == "ORDER_STATUS_COMPLETED"
            })
            .await;
            assert_eq!(
                item(&order, 0)["status"],
                "ORDER_ITEM_STATUS_PROVISIONED",
                "{mode:?}: {order}"
            );
        }

        // Exactly one alert for the refused connector (not one per order or probe), and one
        // when it works again.
        let feed = until(&m, &staff, "/v1/notifications", |v| {
            staff_alerts(v, RECOVERED) >= 1
        })
        .await;
        assert_eq!(staff_alerts(&feed, REFUSED), 1, "{mode:?}: {feed}");
        assert_eq!(staff_alerts(&feed, RECOVERED), 1, "{mode:?}: {feed}");
        m.stop().await;
    }
}
