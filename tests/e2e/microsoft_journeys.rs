//! Microsoft NCE purchase journeys of seed 002 that must never dead-end (issue 15, points 4, 5,
//! 7 and 8): READY before BUY; the MCA attestation names who accepted it with Partner Center's
//! template id; correcting the reseller profile resumes what waits on it; a change Partner
//! Center refuses fails and leaves the subscription usable.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Marketplace, modes, start};
use crate::journey_support::{Vendor, buy, cart, item, journal, order_reaches, sim_call, until};

const M365: &str = "plan-ms365-business-basic-annual";

/// A call that must succeed, as `token`.
async fn ok(m: &Marketplace, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, value) = m.call(method.clone(), path, token, Some(body)).await;
    assert!(status.is_success(), "{method} {path} -> {status}: {value}");
    value
}

/// An NCE-ready customer (new tenant `<slug>.onmicrosoft.com`, a billing contact first and a
/// global admin second) of the caller's reseller; the MCA accepted by `accepter` when given.
async fn nce_customer(m: &Marketplace, token: &str, slug: &str, accepter: Option<Value>) -> String {
    let customer = ok(
        m,
        Method::POST,
        "/v1/customers",
        token,
        json!({
            "name": format!("{slug} Inc"),
            "contacts": [
                {"role": "CONTACT_ROLE_BILLING", "email": format!("billing@{slug}.example"), "firstName": "Bill", "lastName": "First"},
                {"role": "CONTACT_ROLE_GLOBAL_ADMIN", "email": format!("admin@{slug}.example"), "firstName": "Gina", "lastName": "Admin"}
            ],
            "address": {"line1": "1 Main St", "city": "Seattle", "postalCode": "98052", "countryCode": "US"},
            "microsoft": {"tenantDomain": format!("{slug}.onmicrosoft.com"), "linkMode": "TENANT_LINK_MODE_CREATE"}
        }),
    )
    .await;
    let id = customer["id"].as_str().expect("customer id").to_string();
    if let Some(contact) = accepter {
        ok(
            m,
            Method::POST,
            &format!("/v1/customers/{id}/agreements"),
            token,
            json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT", "contact": contact}),
        )
        .await;
    }
    id
}

fn accepter(slug: &str) -> Value {
    json!({"email": format!("alex@{slug}.example"), "firstName": "Alex", "lastName": "Accepter", "phone": "+1 425 555 0100"})
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["field"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nce_checkout_waits_for_ready_and_names_every_missing_fact() {
    for mode in modes().await {
        let m = start(mode).await;
        let staff = m.token_for("staff", None, None);
        let created = ok(
            &m,
            Method::POST,
            "/v1/resellers?resellerId=reseller-no-mpn",
            &staff,
            json!({"name": "No MPN Ltd", "currencyCode": "USD", "notificationEmail": "ops@no-mpn.example"}),
        )
        .await;
        let reseller_id = created["id"].as_str().expect("reseller id").to_string();
        let token = m.token_for("reseller_admin", Some(&reseller_id), None);
        let customer = nce_customer(&m, &token, "nompn", Some(accepter("nompn"))).await;
        let cart = ok(
            &m,
            Method::POST,
            "/v1/carts",
            &token,
            json!({"customerId": customer, "currencyCode": "USD"}),
        )
        .await;
        let cart_id = cart["id"].as_str().expect("cart id").to_string();
        ok(
            &m,
            Method::POST,
            &format!("/v1/carts/{cart_id}/lines"),
            &token,
            json!({"planId": M365, "quantity": 3}),
        )
        .await;
        let (_, readiness) = m
            .call(
                Method::GET,
                &format!("/v1/carts/{cart_id}:checkReadiness"),
                &token,
                None,
            )
            .await;
        assert_ne!(
            readiness["ready"], true,
            "{mode:?}: INQUIRING without MPN: {readiness}"
        );

        // BUY is refused while INQUIRING, naming every missing fact; nothing is created.
        let checkout = format!("/v1/carts/{cart_id}:checkout");
        let (status, problem) = m
            .call(
                Method::POST,
                &checkout,
                &token,
                Some(json!({"requestId": "buy-1", "acceptTerms": true})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: {problem}"
        );
        assert_eq!(
            problem["rule"], "microsoft.readiness_inquiring",
            "{problem}"
        );
        let missing = fields(&problem);
        for field in [
            "reseller.microsoft_mpn_id",
            "reseller.microsoft_indirect_reseller_tenant_id",
        ] {
            assert!(
                missing.iter().any(|f| f == field),
                "{mode:?}: {field} named: {problem}"
            );
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(field),
                "{problem}"
            );
        }
        let (_, orders) = m.call(Method::GET, "/v1/orders", &token, None).await;
        assert!(
            orders["orders"]
                .as_array()
                .is_none_or(|o| o.iter().all(|o| o["status"] == "ORDER_STATUS_STARTED")),
            "{mode:?}: nothing bought (the open cart is only a STARTED order): {orders}"
        );
        let (_, still) = m
            .call(Method::GET, &format!("/v1/carts/{cart_id}"), &token, None)
            .await;
        assert_eq!(still["status"], "CART_STATUS_ACTIVE", "{still}");

        // Bad input on the profile fields names the field and changes nothing.
        let (status, problem) = m
            .call(
                Method::PATCH,
                &format!("/v1/resellers/{reseller_id}"),
                &token,
                Some(json!({"microsoftMpnId": "12"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(
            problem.to_string().contains("microsoft_mpn_id"),
            "{problem}"
        );

        // Saving a draft is allowed; submitting it is refused the same way.
        let draft_cart = ok(
            &m,
            Method::POST,
            "/v1/carts",
            &token,
            json!({"customerId": customer, "currencyCode": "USD"}),
        )
        .await;
        let draft_cart = draft_cart["id"].as_str().expect("cart id").to_string();
        ok(
            &m,
            Method::POST,
            &format!("/v1/carts/{draft_cart}/lines"),
            &token,
            json!({"planId": M365, "quantity": 1}),
        )
        .await;
        let draft = ok(
            &m,
            Method::POST,
            &format!("/v1/carts/{draft_cart}:checkout"),
            &token,
            json!({"requestId": "draft-1", "saveAsDraft": true}),
        )
        .await;
        assert_eq!(draft["status"], "ORDER_STATUS_DRAFT", "{draft}");
        let draft_id = draft["id"].as_str().expect("draft id").to_string();
        let submit = format!("/v1/orders/{draft_id}:submit");
        let (status, problem) = m
            .call(
                Method::POST,
                &submit,
                &token,
                Some(json!({"requestId": "submit-1", "acceptTerms": true})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: {problem}"
        );
        assert_eq!(
            problem["rule"], "microsoft.readiness_inquiring",
            "{problem}"
        );

        // Once READY, the same cart is bought and the draft submitted.
        ok(
            &m,
            Method::PATCH,
            &format!("/v1/resellers/{reseller_id}"),
            &token,
            json!({"microsoftMpnId": "7654321", "microsoftIndirectResellerTenantId": "22222222-3333-4444-5555-666666666666"}),
        )
        .await;
        let (_, readiness) = m
            .call(
                Method::GET,
                &format!("/v1/carts/{cart_id}:checkReadiness"),
                &token,
                None,
            )
            .await;
        assert_eq!(readiness["ready"], true, "{mode:?}: READY: {readiness}");
        let order = ok(
            &m,
            Method::POST,
            &checkout,
            &token,
            json!({"requestId": "buy-2", "acceptTerms": true}),
        )
        .await;
        let order_id = order["id"].as_str().expect("order id").to_string();
        until(&m, &token, &format!("/v1/orders/{order_id}"), |o| {
            o["status"] == "ORDER_STATUS_COMPLETED"
        })
        .await;
        ok(
            &m,
            Method::POST,
            &submit,
            &token,
            json!({"requestId": "submit-2", "acceptTerms": true}),
        )
        .await;
        until(&m, &token, &format!("/v1/orders/{draft_id}"), |o| {
            o["status"] == "ORDER_STATUS_COMPLETED"
        })
        .await;
        let line = journal(&m, Vendor::Microsoft, "microsoft.create_cart").await;
        assert_eq!(
            line.last()
                .map(|e| e["body"]["lineItems"][0]["partnerIdOnRecord"].clone()),
            Some(json!("7654321")),
            "{mode:?}: the partner keeps its attribution"
        );
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mca_attestation_names_who_accepted_with_partner_centers_template() {
    for mode in modes().await {
        let m = start(mode).await;
        // Bad input on the accepting contact names the field.
        let customer = nce_customer(&m, &m.token, "attest", None).await;
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/customers/{customer}/agreements"),
                &m.token,
                Some(json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT", "contact": {"email": "nope", "firstName": "A", "lastName": "B"}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem.to_string().contains("contact.email"), "{problem}");
        ok(
            &m,
            Method::POST,
            &format!("/v1/customers/{customer}/agreements"),
            &m.token,
            json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT", "contact": accepter("attest")}),
        )
        .await;
        let order_id = buy(&m, &cart(&m, &customer, &[(M365, 2)]).await).await;
        order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;

        let attestations = journal(&m, Vendor::Microsoft, "microsoft.create_agreement").await;
        let attestation = attestations.last().expect("an MCA attestation was sent");
        assert_eq!(attestation["status"], 201, "{attestation}");
        let contact = &attestation["body"]["primaryContact"];
        assert_eq!(
            contact["email"], "alex@attest.example",
            "{mode:?}: the accepter, not the first contact: {contact}"
        );
        assert_eq!(
            (contact["firstName"].as_str(), contact["lastName"].as_str()),
            (Some("Alex"), Some("Accepter"))
        );
        let metadata = journal(&m, Vendor::Microsoft, "microsoft.agreement_metadata").await;
        let published = metadata
            .last()
            .map(|e| e["response_body"]["items"][0]["templateId"].clone())
            .expect("template metadata read");
        assert_eq!(attestation["body"]["templateId"], published, "{mode:?}");
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn correcting_the_reseller_mpn_resumes_the_items_waiting_on_it() {
    for mode in modes().await {
        let m = start(mode).await;
        // Partner Center refuses MPN 0000000 (800016): the item waits on parameters.mpn_id.
        ok(
            &m,
            Method::PATCH,
            "/v1/resellers/reseller-demo",
            &m.token,
            json!({"microsoftMpnId": "0000000"}),
        )
        .await;
        let customer = nce_customer(&m, &m.token, "resume", Some(accepter("resume"))).await;
        let order_id = buy(&m, &cart(&m, &customer, &[(M365, 2)]).await).await;
        let order = until(&m, &m.token, &format!("/v1/orders/{order_id}"), |o| {
            o["items"][0]["status"] == "ORDER_ITEM_STATUS_INQUIRING"
        })
        .await;
        assert_eq!(
            item(&order, 0)["parameterErrors"][0]["field"],
            "parameters.mpn_id",
            "{mode:?}: {order}"
        );

        // Correcting the profile is all it takes: no re-submission.
        ok(
            &m,
            Method::PATCH,
            "/v1/resellers/reseller-demo",
            &m.token,
            json!({"microsoftMpnId": "7654321"}),
        )
        .await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;
        assert_eq!(item(&order, 0)["status"], "ORDER_ITEM_STATUS_PROVISIONED");
        let carts = journal(&m, Vendor::Microsoft, "microsoft.create_cart").await;
        assert_eq!(
            carts
                .last()
                .map(|e| e["body"]["lineItems"][0]["partnerIdOnRecord"].clone()),
            Some(json!("7654321")),
            "{mode:?}"
        );
        let tenants: Vec<Value> = journal(&m, Vendor::Microsoft, "microsoft.create_customer")
            .await
            .into_iter()
            .filter(|e| e["status"] == 201)
            .collect();
        assert_eq!(
            tenants.len(),
            1,
            "{mode:?}: the tenant of the first attempt is reused"
        );
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seat_decrease_partner_center_refuses_fails_and_the_subscription_stays_usable() {
    for mode in modes().await {
        let m = start(mode).await;
        let customer = nce_customer(&m, &m.token, "refuse", Some(accepter("refuse"))).await;
        let order_id = buy(&m, &cart(&m, &customer, &[(M365, 5)]).await).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;
        let subscription_id = item(&order, 0)["subscriptionId"]
            .as_str()
            .expect("subscription")
            .to_string();
        let subscription_path = format!("/v1/subscriptions/{subscription_id}");
        until(&m, &m.token, &subscription_path, |s| {
            s["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
        })
        .await;

        // Eight days later at the vendor: Partner Center refuses the decrease (800027).
        sim_call(
            &m,
            Vendor::Microsoft,
            Method::PUT,
            "/_sim/clock",
            Some(json!({"offset_secs": 8 * 86_400})),
        )
        .await;
        let change = ok(
            &m,
            Method::POST,
            &format!("{subscription_path}:changeSeats"),
            &m.token,
            json!({"quantity": 3, "requestId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
        let change_id = change["id"].as_str().expect("change order id").to_string();
        let failed = order_reaches(&m, &change_id, "ORDER_STATUS_PROVISIONING_FAILED").await;
        assert_eq!(
            item(&failed, 0)["status"],
            "ORDER_ITEM_STATUS_FAILED",
            "{mode:?}: {failed}"
        );
        let reason = item(&failed, 0)["vendorMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.contains("800027"),
            "{mode:?}: the vendor's reason: {reason}"
        );

        // The subscription is unchanged and usable: the next change is accepted and done.
        let subscription = until(&m, &m.token, &subscription_path, |s| {
            s["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
        })
        .await;
        assert_eq!(subscription["quantity"], 5, "{subscription}");
        let (status, increase) = m
            .call(
                Method::POST,
                &format!("{subscription_path}:changeSeats"),
                &m.token,
                Some(json!({"quantity": 6, "requestId": uuid::Uuid::new_v4().to_string()})),
            )
            .await;
        assert!(
            status.is_success(),
            "{mode:?}: no lingering change in progress: {status} {increase}"
        );
        let increase_id = increase["id"].as_str().expect("order id").to_string();
        order_reaches(&m, &increase_id, "ORDER_STATUS_COMPLETED").await;
        until(&m, &m.token, &subscription_path, |s| s["quantity"] == 6).await;

        // Bad input on the change names the field.
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("{subscription_path}:changeSeats"),
                &m.token,
                Some(json!({"quantity": -1})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(problem.to_string().contains("quantity"), "{problem}");
        m.stop().await;
    }
}
