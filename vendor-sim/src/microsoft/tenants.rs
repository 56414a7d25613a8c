//! Control routes of the Partner Center simulator standing for what happens outside the partner's
//! API: a customer that already has a Microsoft tenant, and that customer's global admin
//! accepting the reseller relationship invitation.
//!
//! | route | body | effect |
//! |---|---|---|
//! | `POST /_sim/microsoft/tenants` | `{"domain", "companyName"?}` | an existing tenant without a relationship to the partner (201) |
//! | `GET /_sim/microsoft/tenants` | | every tenant with `relationshipToPartner` (`none` / `reseller`) |
//! | `POST /_sim/microsoft/tenants/{tenantId}/accept-relationship` | `{"invitationUrl"}` | the customer's click on the invitation link: the tenant becomes a customer of the partner (200) |
//!
//! Errors: `400 {"error"}` (bad body, invalid domain, wrong invitation link), `404` (unknown
//! tenant), `409` (domain taken).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::{invitation_url, valid_domain};
use super::state::Customer;
use crate::VendorSim;
use crate::util::parse_json;

/// The Microsoft-only control routes.
pub(crate) fn control_routes() -> Router<VendorSim> {
    Router::new()
        .route(
            "/_sim/microsoft/tenants",
            post(create_tenant).get(list_tenants),
        )
        .route(
            "/_sim/microsoft/tenants/{tenant_id}/accept-relationship",
            post(accept_relationship),
        )
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewTenant {
    domain: String,
    #[serde(default)]
    company_name: String,
}

fn tenant_json(c: &Customer, relationship: &str) -> Value {
    json!({
        "tenantId": c.id,
        "domain": c.domain,
        "companyName": c.company_name,
        "relationshipToPartner": relationship,
    })
}

async fn create_tenant(State(sim): State<VendorSim>, body: Bytes) -> Response {
    let request: NewTenant = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let domain = request.domain.trim().to_ascii_lowercase();
    if !valid_domain(&domain) {
        return error(
            StatusCode::BAD_REQUEST,
            "domain must be <alphanumeric prefix of up to 27 characters>.onmicrosoft.com",
        );
    }
    let mut st = sim.lock();
    if st.microsoft.domain_taken(&domain) {
        return error(
            StatusCode::CONFLICT,
            format!("the domain {domain} is already in use"),
        );
    }
    let company_name = Some(request.company_name.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| domain.trim_end_matches(".onmicrosoft.com").to_string());
    let id = uuid::Uuid::new_v4().to_string();
    let tenant = Customer {
        id: id.clone(),
        commerce_id: uuid::Uuid::new_v4().to_string(),
        domain: domain.clone(),
        company_name: company_name.clone(),
        billing_profile: json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "email": format!("admin@{domain}"),
            "companyName": company_name,
            "attributes": {"objectType": "CustomerBillingProfile"},
        }),
        agreements: Vec::new(),
    };
    let body = tenant_json(&tenant, "none");
    st.microsoft.unrelated_tenants.insert(id, tenant);
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn list_tenants(State(sim): State<VendorSim>) -> Response {
    let st = sim.lock();
    let mut tenants: Vec<Value> = st
        .microsoft
        .unrelated_tenants
        .values()
        .map(|c| tenant_json(c, "none"))
        .chain(
            st.microsoft
                .customers
                .values()
                .map(|c| tenant_json(c, "reseller")),
        )
        .collect();
    tenants.sort_by(|a, b| a["domain"].as_str().cmp(&b["domain"].as_str()));
    Json(json!({ "tenants": tenants })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Acceptance {
    invitation_url: String,
}

async fn accept_relationship(
    State(sim): State<VendorSim>,
    Path(tenant_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Acceptance = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if request.invitation_url.trim() != invitation_url() {
        return error(
            StatusCode::BAD_REQUEST,
            "invitationUrl is not this partner's reseller relationship invitation (GET /v1/customers/relationshiprequests)",
        );
    }
    let mut st = sim.lock();
    if let Some(customer) = st.microsoft.customers.get(&tenant_id) {
        // Accepting twice changes nothing.
        return Json(tenant_json(customer, "reseller")).into_response();
    }
    let Some(tenant) = st.microsoft.unrelated_tenants.remove(&tenant_id) else {
        return error(StatusCode::NOT_FOUND, format!("no tenant {tenant_id}"));
    };
    let body = tenant_json(&tenant, "reseller");
    st.microsoft.customers.insert(tenant_id, tenant);
    Json(body).into_response()
}
