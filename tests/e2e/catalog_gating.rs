//! Autodesk CSN gating and product-id lookup through the gateway (seed 001): a reseller without
//! a partner CSN sees only the Open catalog — in listing, lookup and quotes — and sees the
//! specialized catalog once its profile carries a valid CSN (ordering → event → catalog).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Mode, start};

fn plans(body: &Value) -> Vec<Value> {
    body["plans"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn specialized_autodesk_plans_need_a_partner_csn_everywhere() {
    let m = start(Mode::Embedded).await;
    let staff = m.token_for("staff", None, None);

    // The demo reseller has a CSN: it sees specialized plans and finds them by product id.
    let all = m.get("/v1/plans?vendorId=autodesk&pageSize=500").await;
    let specialized = plans(&all)
        .into_iter()
        .find(|p| p["tier"] == "CATALOG_TIER_SPECIALIZED")
        .expect("a specialized Autodesk plan in the demo catalog");
    let open = plans(&all)
        .into_iter()
        .find(|p| p["tier"] == "CATALOG_TIER_OPEN")
        .expect("an open Autodesk plan");
    let specialized_pid = specialized["autodeskProductId"]
        .as_str()
        .expect("product id")
        .to_string();
    let open_pid = open["autodeskProductId"]
        .as_str()
        .expect("product id")
        .to_string();
    let found = m
        .get(&format!(
            "/v1/plans:lookup?autodeskProductId={specialized_pid}"
        ))
        .await;
    assert_eq!(
        found["id"], specialized["id"],
        "product id resolves to exactly its plan"
    );

    // A reseller without a CSN.
    let (status, created) = m.call(Method::POST, "/v1/resellers?resellerId=reseller-no-csn", &staff, Some(json!({"name": "Open Only Ltd", "currencyCode": "USD", "notificationEmail": "ops@open-only.example"}))).await;
    assert!(status.is_success(), "create reseller: {status} {created}");
    let reseller_id = created["id"].as_str().expect("reseller id").to_string();
    let token = m.token_for("reseller_admin", Some(&reseller_id), None);

    let (status, listed) = m
        .call(
            Method::GET,
            "/v1/plans?vendorId=autodesk&pageSize=500",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!plans(&listed).is_empty(), "the Open catalog is visible");
    assert!(
        plans(&listed)
            .iter()
            .all(|p| p["tier"] == "CATALOG_TIER_OPEN"),
        "no specialized plan listed without a CSN"
    );
    let (status, _) = m
        .call(
            Method::GET,
            &format!("/v1/plans:lookup?autodeskProductId={specialized_pid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "specialized lookup hidden without a CSN"
    );
    let (status, _) = m
        .call(
            Method::GET,
            &format!(
                "/v1/plans/{}",
                specialized["id"].as_str().unwrap_or_default()
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "specialized plan hidden without a CSN"
    );
    let (status, body) = m
        .call(
            Method::GET,
            &format!("/v1/plans:lookup?autodeskProductId={open_pid}"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "open plan found by product id: {body}"
    );
    let quote =
        json!({"currencyCode": "USD", "lines": [{"planId": specialized["id"], "quantity": 1}]});
    let (status, problem) = m
        .call(Method::POST, "/v1/quotes", &token, Some(quote.clone()))
        .await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND,
        "a specialized plan cannot be priced without a CSN: {status} {problem}"
    );

    // Bad input names the field.
    let (status, problem) = m
        .call(
            Method::GET,
            "/v1/plans:lookup?autodeskProductId=not-a-product",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem.to_string().contains("autodesk_product_id"),
        "problem names the field: {problem}"
    );
    let (status, problem) = m
        .call(
            Method::PATCH,
            &format!("/v1/resellers/{reseller_id}"),
            &token,
            Some(json!({"autodeskPartnerCsn": "12345"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a 5-digit CSN is refused: {problem}"
    );

    // With a valid CSN the specialized catalog opens (ordering → reseller_profile_changed → catalog).
    let (status, body) = m
        .call(
            Method::PATCH,
            &format!("/v1/resellers/{reseller_id}"),
            &token,
            Some(json!({"autodeskPartnerCsn": "5100000099"})),
        )
        .await;
    assert!(status.is_success(), "set CSN: {status} {body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = m
            .call(
                Method::GET,
                &format!("/v1/plans:lookup?autodeskProductId={specialized_pid}"),
                &token,
                None,
            )
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "specialized catalog never opened after setting the CSN"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, quoted) = m
        .call(Method::POST, "/v1/quotes", &token, Some(quote))
        .await;
    assert_eq!(status, StatusCode::OK, "priced with a CSN: {quoted}");
    m.stop().await;
}
