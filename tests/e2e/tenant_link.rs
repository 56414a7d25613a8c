//! Seed 002 step 10 (issue 15 point 6): a customer's existing Microsoft tenant is linked, never
//! created. The reseller gets Partner Center's reseller relationship invitation link on the
//! customer before ordering; readiness is INQUIRING on the relationship until the customer
//! accepts; then it turns READY by itself and the order goes to the existing tenant.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{modes, start};
use crate::journey_support::{Vendor, buy, cart, item, journal, order_reaches, sim_call, until};

const M365: &str = "plan-ms365-business-basic-annual";
const RELATIONSHIP: &str = "customer.microsoft.reseller_relationship";

fn missing_fields(readiness: &Value) -> Vec<(String, String)> {
    readiness["vendors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|v| v["missing"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            (
                p["field"].as_str().unwrap_or_default().to_string(),
                p["description"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_existing_tenant_is_linked_through_the_reseller_relationship_never_created() {
    for mode in modes().await {
        let m = start(mode).await;
        let slug = format!("link{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let domain = format!("{slug}.onmicrosoft.com");
        // The customer already has a tenant, unknown to the partner.
        let tenant = sim_call(
            &m,
            Vendor::Microsoft,
            Method::POST,
            "/_sim/microsoft/tenants",
            Some(json!({"domain": domain, "companyName": format!("{slug} Ltd")})),
        )
        .await;
        let tenant_id = tenant["tenantId"].as_str().expect("tenant id").to_string();

        // Bad input: linking needs the tenant's domain.
        let (status, problem) = m
            .call(
                Method::POST,
                "/v1/customers",
                &m.token,
                Some(json!({"name": "No domain", "microsoft": {"linkMode": "TENANT_LINK_MODE_LINK_EXISTING"}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{mode:?}: {problem}");
        assert!(
            problem
                .to_string()
                .contains("customer.microsoft.tenant_domain"),
            "{problem}"
        );

        let customer = m
            .post(
                "/v1/customers",
                json!({
                    "name": format!("{slug} Ltd"),
                    "contacts": [{"role": "CONTACT_ROLE_GLOBAL_ADMIN", "email": format!("admin@{slug}.example"), "firstName": "Gina", "lastName": "Admin"}],
                    "address": {"line1": "1 Main St", "city": "Seattle", "postalCode": "98052", "countryCode": "US"},
                    "microsoft": {"tenantDomain": domain, "linkMode": "TENANT_LINK_MODE_LINK_EXISTING"}
                }),
            )
            .await;
        let customer_id = customer["id"].as_str().expect("customer id").to_string();
        m.post(
            &format!("/v1/customers/{customer_id}/agreements"),
            json!({"type": "AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT", "contact": {"email": format!("admin@{slug}.example"), "firstName": "Gina", "lastName": "Admin"}}),
        )
        .await;

        // Before ordering: the invitation link is on the customer; readiness waits for it.
        let customer_path = format!("/v1/customers/{customer_id}");
        let pending = until(&m, &m.token, &customer_path, |c| {
            c["microsoft"]["resellerRelationship"]["invitationUrl"]
                .as_str()
                .is_some_and(|u| !u.is_empty())
        })
        .await;
        let relationship = &pending["microsoft"]["resellerRelationship"];
        assert_eq!(
            relationship["status"], "RESELLER_RELATIONSHIP_STATUS_PENDING",
            "{mode:?}: {pending}"
        );
        assert_eq!(relationship["tenantDomain"], domain.as_str());
        let invitation = relationship["invitationUrl"]
            .as_str()
            .expect("invitation url")
            .to_string();
        assert!(
            invitation.contains("invType=ResellerRelationship"),
            "{invitation}"
        );
        assert!(
            pending["microsoft"]["tenantId"]
                .as_str()
                .is_none_or(str::is_empty),
            "{pending}"
        );

        let cart_id = cart(&m, &customer_id, &[(M365, 2)]).await;
        let readiness_path = format!("/v1/carts/{cart_id}:checkReadiness");
        let (_, readiness) = m.call(Method::GET, &readiness_path, &m.token, None).await;
        assert_ne!(readiness["ready"], true, "{mode:?}: {readiness}");
        let missing = missing_fields(&readiness);
        assert!(
            missing
                .iter()
                .any(|(field, description)| field == RELATIONSHIP
                    && description
                        .contains("waiting for the customer to accept the reseller relationship")),
            "{mode:?}: INQUIRING names the relationship: {readiness}"
        );
        let (status, problem) = m
            .call(
                Method::POST,
                &format!("/v1/carts/{cart_id}:checkout"),
                &m.token,
                Some(json!({"requestId": "link-early", "acceptTerms": true})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{mode:?}: no BUY while INQUIRING: {problem}"
        );
        assert!(problem.to_string().contains(RELATIONSHIP), "{problem}");

        // The customer's global admin opens the link and accepts: READY by itself.
        sim_call(
            &m,
            Vendor::Microsoft,
            Method::POST,
            &format!("/_sim/microsoft/tenants/{tenant_id}/accept-relationship"),
            Some(json!({"invitationUrl": invitation})),
        )
        .await;
        until(&m, &m.token, &readiness_path, |r| r["ready"] == true).await;
        let linked = until(&m, &m.token, &customer_path, |c| {
            c["microsoft"]["tenantId"] == tenant_id.as_str()
        })
        .await;
        assert_eq!(
            linked["microsoft"]["resellerRelationship"]["status"],
            "RESELLER_RELATIONSHIP_STATUS_ACCEPTED",
            "{mode:?}: {linked}"
        );

        // BUY: the subscription is on the existing tenant; no tenant was created.
        let order_id = buy(&m, &cart_id).await;
        let order = order_reaches(&m, &order_id, "ORDER_STATUS_COMPLETED").await;
        let subscription_id = item(&order, 0)["subscriptionId"]
            .as_str()
            .expect("subscription id")
            .to_string();
        until(
            &m,
            &m.token,
            &format!("/v1/subscriptions/{subscription_id}"),
            |s| s["status"] == "SUBSCRIPTION_STATUS_ACTIVE",
        )
        .await;
        let created = journal(&m, Vendor::Microsoft, "microsoft.create_customer").await;
        assert!(
            created
                .iter()
                .all(|e| e["body"]["companyProfile"]["domain"] != domain.as_str()),
            "{mode:?}: no tenant created for {domain}: {created:?}"
        );
        let checkouts = journal(&m, Vendor::Microsoft, "microsoft.checkout").await;
        assert!(
            checkouts.iter().any(|e| e["status"] == 201
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("/customers/{tenant_id}/")))),
            "{mode:?}: the order went to the existing tenant: {checkouts:?}"
        );
        let tenants = sim_call(
            &m,
            Vendor::Microsoft,
            Method::GET,
            "/_sim/microsoft/tenants",
            None,
        )
        .await;
        let with_domain: Vec<&Value> = tenants["tenants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["domain"] == domain.as_str())
            .collect();
        assert_eq!(with_domain.len(), 1, "{tenants}");
        assert_eq!(with_domain[0]["tenantId"], tenant_id.as_str());
        assert_eq!(with_domain[0]["relationshipToPartner"], "reseller");
        m.stop().await;
    }
}
