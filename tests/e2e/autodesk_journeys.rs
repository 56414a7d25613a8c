//! Autodesk purchase journeys of seeds 000, 001 and 004 that must never dead-end (issue 15,
//! points 1–3): a vendor refusal of the end customer's data is a permanent failure with the
//! seed statuses, a staff alert, and no lock on the reseller's next order; a re-submission takes
//! the corrected customer; a specialized plan without CSN is refused with the CSN reason.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Marketplace, modes, start};
use crate::journey_support::{
    Vendor, buy, cart, customer, item, journal, order_reaches, sim_call, until,
};

const AUTOCAD: &str = "plan-autodesk-autocad-annual";
const AUTOCAD_LT: &str = "plan-autodesk-autocad-lt-annual";
const REVIT: &str = "plan-autodesk-revit-annual";

/// The contract-manager e-mail the last Autodesk `New` order carried.
async fn last_contract_manager_email(m: &Marketplace) -> String {
    journal(m, Vendor::Autodesk, "autodesk.place_order")
        .await
        .last()
        .map(|e| e["body"]["endCustomerContractManager"]["email"].clone())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn autodesk_refusal_of_customer_data_fails_the_order_alerts_staff_and_unblocks_the_next() {
    for mode in modes().await {
        let m = start(mode).await;
        let staff = m.token_for("staff", None, None);

        // Autodesk refuses the contract manager's e-mail (the sandbox answers UAN-CON-00101).
        let refused = customer(&m, "Refused Ltd", "cm@refused.invalid").await;
        let order_id = buy(&m, &cart(&m, &refused, &[(AUTOCAD, 1)]).await).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_PROVISIONING_FAILED").await;
        let failed = item(&order, 0);
        assert_eq!(
            failed["status"], "ORDER_ITEM_STATUS_FAILED",
            "{mode:?}: {order}"
        );
        let message = failed["vendorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("UAN-CON-00101"),
            "{mode:?}: vendor message {message}"
        );
        assert_eq!(
            failed["parameterErrors"][0]["field"], "customer.contacts[0].email",
            "{mode:?}: the item says what to correct: {failed}"
        );
        let subscription_id = failed["subscriptionId"].as_str().expect("subscription id");
        let subscription = until(
            &m,
            &m.token,
            &format!("/v1/subscriptions/{subscription_id}"),
            |s| s["status"] == "SUBSCRIPTION_STATUS_NOT_PROVISIONED",
        )
        .await;
        assert!(
            !subscription["vendorMessage"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{mode:?}: the vendor's message is on the subscription: {subscription}"
        );

        // Staff are alerted: feed and e-mail.
        until(&m, &staff, "/v1/notifications", |v| {
            v["notifications"].as_array().is_some_and(|n| {
                n.iter().any(|n| {
                    n["kind"] == "NOTIFICATION_KIND_STAFF_ALERT"
                        && n["orderId"] == order_id.as_str()
                })
            })
        })
        .await;
        until(&m, &staff, "/v1/emailDeliveries", |v| {
            v["deliveries"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|d| d["kind"] == "NOTIFICATION_KIND_STAFF_ALERT")
            })
        })
        .await;

        // The failed order no longer blocks the reseller's next Autodesk order.
        let good = customer(&m, "Good Ltd", "cm@good.example").await;
        let next = buy(&m, &cart(&m, &good, &[(AUTOCAD, 1)]).await).await;
        order_reaches(&m, &next, "ORDER_STATUS_COMPLETED").await;

        // Seed 004 "Completed with errors": one line refused, the other provisioned.
        sim_call(
            &m,
            Vendor::Autodesk,
            Method::POST,
            "/_sim/faults",
            Some(json!({
                "vendor": "autodesk",
                "operation": "autodesk.place_order",
                "kind": {"type": "async_failure", "code": "UAN-CON-00101", "message": "email address invalid"},
                "times": 1
            })),
        )
        .await;
        let mixed = buy(&m, &cart(&m, &good, &[(AUTOCAD, 1), (AUTOCAD_LT, 1)]).await).await;
        let order = order_reaches(&m, &mixed, "ORDER_STATUS_COMPLETED_WITH_ERRORS").await;
        let statuses: Vec<&Value> = (0..2).map(|i| &item(&order, i)["status"]).collect();
        assert!(
            statuses.contains(&&json!("ORDER_ITEM_STATUS_FAILED"))
                && statuses.contains(&&json!("ORDER_ITEM_STATUS_PROVISIONED")),
            "{mode:?}: {order}"
        );
        let after = buy(&m, &cart(&m, &good, &[(AUTOCAD_LT, 1)]).await).await;
        order_reaches(&m, &after, "ORDER_STATUS_COMPLETED").await;
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resubmission_takes_the_corrected_customer_and_explicit_parameters_win() {
    for mode in modes().await {
        let m = start(mode).await;

        // Follow the field error: PATCH the customer's e-mail, re-submit with `{}`.
        let refused = customer(&m, "Typo GmbH", "cm@typo.invalid").await;
        let order_id = buy(&m, &cart(&m, &refused, &[(AUTOCAD, 1)]).await).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_PROVISIONING_FAILED").await;
        let item_id = item(&order, 0)["id"].as_str().expect("item id").to_string();
        assert_eq!(
            item(&order, 0)["parameterErrors"][0]["field"],
            "customer.contacts[0].email"
        );
        let resubmit = format!("/v1/orders/{order_id}/items/{item_id}:resubmit");

        // Bad input on the re-submission names the field and changes nothing.
        let (status, problem) = m
            .call(
                Method::POST,
                &resubmit,
                &m.token,
                Some(json!({"parameters": {"admin_email": "not-an-email"}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{mode:?}: {problem}");
        assert!(problem.to_string().contains("admin_email"), "{problem}");
        assert_eq!(
            m.get(&format!("/v1/orders/{order_id}")).await["status"],
            "ORDER_STATUS_PROVISIONING_FAILED"
        );

        let (status, body) = m
            .call(
                Method::PATCH,
                &format!("/v1/customers/{refused}"),
                &m.token,
                Some(json!({"contacts": [{"role": "CONTACT_ROLE_CONTRACT_MANAGER", "email": "cm@typo.example", "firstName": "Cora", "lastName": "Manager"}]})),
            )
            .await;
        assert!(
            status.is_success(),
            "{mode:?}: PATCH customer: {status} {body}"
        );
        m.post(&resubmit, json!({})).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;
        assert_eq!(item(&order, 0)["status"], "ORDER_ITEM_STATUS_PROVISIONED");
        assert_eq!(
            last_contract_manager_email(&m).await,
            "cm@typo.example",
            "{mode:?}: the corrected e-mail went to Autodesk"
        );
        let subscription_id = item(&order, 0)["subscriptionId"]
            .as_str()
            .expect("subscription")
            .to_string();
        until(
            &m,
            &m.token,
            &format!("/v1/subscriptions/{subscription_id}"),
            |s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE",
        )
        .await;

        // An explicit parameter of the re-submission wins over the profile.
        let other = customer(&m, "Explicit AB", "cm@explicit.invalid").await;
        let order_id = buy(&m, &cart(&m, &other, &[(AUTOCAD, 1)]).await).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_PROVISIONING_FAILED").await;
        let item_id = item(&order, 0)["id"].as_str().expect("item id").to_string();
        m.post(
            &format!("/v1/orders/{order_id}/items/{item_id}:resubmit"),
            json!({"parameters": {"admin_email": "chosen@explicit.example"}}),
        )
        .await;
        order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;
        assert_eq!(
            last_contract_manager_email(&m).await,
            "chosen@explicit.example"
        );
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_specialized_plan_without_csn_is_refused_with_the_csn_reason_everywhere() {
    for mode in modes().await {
        let m = start(mode).await;
        let staff = m.token_for("staff", None, None);
        let (status, created) = m
            .call(
                Method::POST,
                "/v1/resellers?resellerId=reseller-open-only",
                &staff,
                Some(json!({"name": "Open Only Ltd", "currencyCode": "USD", "notificationEmail": "ops@open-only.example"})),
            )
            .await;
        assert!(
            status.is_success(),
            "{mode:?}: create reseller: {status} {created}"
        );
        let reseller_id = created["id"].as_str().expect("reseller id").to_string();
        let token = m.token_for("reseller_admin", Some(&reseller_id), None);
        let (status, revit) = m
            .call(Method::GET, &format!("/v1/plans/{REVIT}"), &staff, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{revit}");
        assert_eq!(revit["tier"], "CATALOG_TIER_SPECIALIZED");
        let product_id = revit["autodeskProductId"]
            .as_str()
            .expect("product id")
            .to_string();

        let (status, cart) = m
            .call(
                Method::POST,
                "/v1/carts",
                &token,
                Some(json!({"currencyCode": "USD"})),
            )
            .await;
        assert!(status.is_success(), "{mode:?}: cart: {status} {cart}");
        let cart_id = cart["id"].as_str().expect("cart id").to_string();
        for line in [
            json!({"planId": REVIT, "quantity": 1}),
            json!({"autodeskProductId": product_id, "quantity": 1}),
        ] {
            let (status, problem) = m
                .call(
                    Method::POST,
                    &format!("/v1/carts/{cart_id}/lines"),
                    &token,
                    Some(line.clone()),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{mode:?}: {line} -> {problem}"
            );
            assert_eq!(
                problem["rule"], "autodesk.csn_required",
                "{mode:?}: {problem}"
            );
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(REVIT),
                "{mode:?}: the reason names the plan: {detail}"
            );
            assert!(!detail.contains("unknown plan"), "{detail}");
        }
        // A plan that does not exist is still bad input naming the field; browsing still hides
        // the specialized plan from this reseller.
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/carts/{cart_id}/lines"),
                &token,
                Some(json!({"planId": "plan-does-not-exist", "quantity": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem.to_string().contains("plan_id"), "{problem}");
        let (status, _) = m
            .call(Method::GET, &format!("/v1/plans/{REVIT}"), &token, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, cart) = m
            .call(Method::GET, &format!("/v1/carts/{cart_id}"), &token, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            cart["lines"].as_array().is_none_or(Vec::is_empty),
            "nothing added: {cart}"
        );
        m.stop().await;
    }
}
