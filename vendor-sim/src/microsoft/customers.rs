//! Customers (tenants) and Microsoft Customer Agreement attestation.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::error::MsError;
use super::state::Customer;
use super::{MCA_TEMPLATE_ID, codes};
use crate::VendorSim;
use crate::util::{parse_json, random_token};

const MCA: &str = "MicrosoftCustomerAgreement";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewCustomer {
    billing_profile: Option<Map<String, Value>>,
    company_profile: Option<CompanyProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyProfile {
    domain: Option<String>,
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn require<'a>(map: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, MsError> {
    text(map, key).ok_or_else(|| MsError::invalid_input(format!("{path}.{key} is required")))
}

/// `<prefix>.onmicrosoft.com` with an alphanumeric prefix of at most 27 characters.
pub(crate) fn valid_domain(domain: &str) -> bool {
    domain
        .strip_suffix(".onmicrosoft.com")
        .is_some_and(|prefix| {
            (1..=27).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// `POST /v1/customers` → 201 customer (409 when the domain is taken).
pub(crate) async fn create_customer(
    State(sim): State<VendorSim>,
    body: Bytes,
) -> Result<Response, MsError> {
    let request: NewCustomer = parse_json(&body).map_err(MsError::invalid_input)?;
    let mut billing = request
        .billing_profile
        .ok_or_else(|| MsError::invalid_input("billingProfile is required"))?;
    let domain = request
        .company_profile
        .and_then(|c| c.domain)
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| MsError::invalid_input("companyProfile.domain is required"))?;
    if !valid_domain(&domain) {
        return Err(MsError::invalid_input(
            "companyProfile.domain must be <alphanumeric prefix of up to 27 characters>.onmicrosoft.com",
        ));
    }
    require(&billing, "email", "billingProfile")?;
    let company_name = require(&billing, "companyName", "billingProfile")?.to_owned();
    let address = billing
        .get("defaultAddress")
        .and_then(Value::as_object)
        .ok_or_else(|| MsError::invalid_input("billingProfile.defaultAddress is required"))?;
    for key in ["country", "city", "addressLine1"] {
        require(address, key, "billingProfile.defaultAddress")?;
    }

    let mut st = sim.lock();
    if st.microsoft.domain_taken(&domain) {
        return Err(MsError::with_code(
            StatusCode::CONFLICT,
            codes::DOMAIN_IN_USE,
            format!("the domain {domain} is already in use"),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    billing.insert("id".into(), Value::from(uuid::Uuid::new_v4().to_string()));
    billing.insert(
        "attributes".into(),
        json!({"etag": random_token(12), "objectType": "CustomerBillingProfile"}),
    );
    let customer = Customer {
        id: id.clone(),
        commerce_id: uuid::Uuid::new_v4().to_string(),
        domain: domain.clone(),
        company_name,
        billing_profile: Value::Object(billing),
        agreements: Vec::new(),
    };
    let password = format!("Sim-{}", random_token(12));
    let body = customer.json(Some((&format!("admin@{domain}"), &password)));
    st.microsoft.customers.insert(id, customer);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The reseller relationship invitation link of the partner (Partner Center's
/// `CustomerRelationshipRequest.url`): the customer's global admin opens it to accept the
/// partner as its reseller.
pub(crate) fn invitation_url() -> String {
    format!(
        "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship&partnerId={}&msppId=0&DAP=true#/BillingAccounts/partner-invitation",
        super::PARTNER_TENANT_ID
    )
}

/// `GET /v1/customers/relationshiprequests` → the invitation link to send to a customer with an
/// existing tenant.
pub(crate) async fn relationship_request() -> Response {
    Json(json!({
        "url": invitation_url(),
        "attributes": {"objectType": "CustomerRelationshipRequest"},
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Filter {
    field: String,
    value: String,
    operator: String,
}

/// `GET /v1/customers[?size=n&filter={"Field":"Domain"|"CompanyName","Value":..,"Operator":"starts_with"}]`
/// → the partner's customers (tenants with a reseller relationship) matching the filter.
pub(crate) async fn list_customers(
    State(sim): State<VendorSim>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, MsError> {
    let Query(query) = query.map_err(|e| MsError::invalid_input(e.body_text()))?;
    let size = match query.get("size") {
        None => 500,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| MsError::invalid_input("size must be 1..=500"))?,
    };
    let filter = match query.get("filter") {
        None => None,
        Some(raw) => {
            let f: Filter = serde_json::from_str(raw).map_err(|e| {
                MsError::invalid_input(format!(
                    "filter must be {{\"Field\",\"Value\",\"Operator\"}}: {e}"
                ))
            })?;
            if f.operator != "starts_with" {
                return Err(MsError::invalid_input(
                    "filter.Operator must be starts_with",
                ));
            }
            if f.field != "Domain" && f.field != "CompanyName" {
                return Err(MsError::invalid_input(
                    "filter.Field must be Domain or CompanyName",
                ));
            }
            Some(f)
        }
    };
    let st = sim.lock();
    let mut items: Vec<&Customer> = st
        .microsoft
        .customers
        .values()
        .filter(|c| {
            filter.as_ref().is_none_or(|f| {
                let value = f.value.to_ascii_lowercase();
                if f.field == "Domain" {
                    c.domain.starts_with(&value)
                } else {
                    c.company_name.to_ascii_lowercase().starts_with(&value)
                }
            })
        })
        .collect();
    items.sort_by(|a, b| a.domain.cmp(&b.domain));
    let items: Vec<Value> = items.iter().take(size).map(|c| c.json(None)).collect();
    Ok(Json(json!({
        "totalCount": items.len(),
        "items": items,
        "attributes": {"objectType": "Collection"},
    }))
    .into_response())
}

/// `GET /v1/customers/{id}`.
pub(crate) async fn get_customer(
    State(sim): State<VendorSim>,
    Path(customer_id): Path<String>,
) -> Result<Response, MsError> {
    let st = sim.lock();
    let customer = st
        .microsoft
        .customers
        .get(&customer_id)
        .ok_or_else(|| MsError::customer_not_found(&customer_id))?;
    Ok(Json(customer.json(None)).into_response())
}

fn mca_metadata() -> Value {
    json!({
        "templateId": MCA_TEMPLATE_ID,
        "agreementType": MCA,
        "agreementLink": "https://www.microsoft.com/licensing/docs/customeragreement",
        "displayName": "Microsoft Customer Agreement",
        "versionRank": 0,
        "attributes": {"objectType": "AgreementMetaData"},
    })
}

/// `GET /v1/agreements?agreementType=MicrosoftCustomerAgreement` → the MCA template metadata.
pub(crate) async fn agreement_metadata(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let wanted = query
        .as_ref()
        .ok()
        .and_then(|q| q.get("agreementType"))
        .map(String::as_str);
    let items = match wanted {
        None | Some(MCA) | Some("*") => vec![mca_metadata()],
        Some(_) => vec![],
    };
    Json(json!({"totalCount": items.len(), "items": items, "attributes": {"objectType": "Collection"}})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAgreement {
    primary_contact: Option<Map<String, Value>>,
    template_id: Option<String>,
    date_agreed: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn valid_agreement_date(value: &str) -> bool {
    time::OffsetDateTime::parse(value, &Rfc3339).is_ok()
        || time::Date::parse(value, format_description!("[year]-[month]-[day]")).is_ok()
}

/// `POST /v1/customers/{id}/agreements` (MCA attestation) → 201.
pub(crate) async fn create_agreement(
    State(sim): State<VendorSim>,
    Path(customer_id): Path<String>,
    body: Bytes,
) -> Result<Response, MsError> {
    let request: NewAgreement = parse_json(&body).map_err(MsError::invalid_input)?;
    if request.kind.as_deref() != Some(MCA) {
        return Err(MsError::invalid_input(format!("type must be {MCA}")));
    }
    if request.template_id.as_deref() != Some(MCA_TEMPLATE_ID) {
        return Err(MsError::invalid_input(
            "templateId is not a valid agreement template; read it from GET /v1/agreements?agreementType=MicrosoftCustomerAgreement",
        ));
    }
    let date_agreed = request
        .date_agreed
        .filter(|d| valid_agreement_date(d))
        .ok_or_else(|| {
            MsError::invalid_input("dateAgreed is required (RFC 3339 date-time or yyyy-mm-dd)")
        })?;
    let contact = request
        .primary_contact
        .ok_or_else(|| MsError::invalid_input("primaryContact is required"))?;
    for key in ["firstName", "lastName", "email"] {
        require(&contact, key, "primaryContact")?;
    }
    // Partner Center: the primary contact is the person who accepted; it must be reachable.
    if require(&contact, "email", "primaryContact").is_ok_and(crate::util::email_invalid) {
        return Err(MsError::invalid_input(
            "primaryContact.email is not a valid e-mail address",
        ));
    }

    let mut st = sim.lock();
    let customer = st
        .microsoft
        .customers
        .get_mut(&customer_id)
        .ok_or_else(|| MsError::customer_not_found(&customer_id))?;
    let agreement = json!({
        "primaryContact": contact,
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": date_agreed,
        "type": MCA,
        "userId": uuid::Uuid::new_v4().to_string(),
        "attributes": {"objectType": "Agreement"},
    });
    customer.agreements.push(agreement.clone());
    Ok((StatusCode::CREATED, Json(agreement)).into_response())
}

/// `GET /v1/customers/{id}/agreements`.
pub(crate) async fn list_agreements(
    State(sim): State<VendorSim>,
    Path(customer_id): Path<String>,
) -> Result<Response, MsError> {
    let st = sim.lock();
    let customer = st
        .microsoft
        .customers
        .get(&customer_id)
        .ok_or_else(|| MsError::customer_not_found(&customer_id))?;
    Ok(Json(json!({
        "totalCount": customer.agreements.len(),
        "items": customer.agreements,
        "attributes": {"objectType": "Collection"},
    }))
    .into_response())
}
