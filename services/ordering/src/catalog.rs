//! The catalog dependency: plans (GetPlan, LookupPlan) and prices (QuotePrices) over gRPC.

use std::time::Duration;

use marketplace_proto::catalog::v1 as pb;
use marketplace_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use marketplace_proto::common::v1::Money;
use platform::ServiceError;
use platform::error::ErrorCode;
use platform::grpc_client::TracedChannel;
use platform::identity::{IdentityKey, Principal};

use crate::domain::order::ItemPrice;
use crate::domain::plan::{ParamDef, ParamKind, ParamScope, PlanInfo};

/// A client of the catalog service, acting as the caller (or as `ordering`).
#[derive(Clone)]
pub(crate) struct Catalog {
    client: CatalogServiceClient<TracedChannel>,
    identity: IdentityKey,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl Catalog {
    /// A lazily connected client of the catalog at `url`.
    pub(crate) fn new(url: &str, timeout: Duration, identity: IdentityKey) -> anyhow::Result<Self> {
        let channel = platform::grpc_client::channel(url, timeout)?;
        Ok(Self {
            client: CatalogServiceClient::new(channel),
            identity,
        })
    }

    fn request<T>(&self, message: T, principal: &Principal) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.identity.attach(&mut request, principal);
        request
    }

    /// A plan as the reseller may buy it; an unknown plan is bad input in `field`.
    pub(crate) async fn plan(
        &self,
        principal: &Principal,
        plan_id: &str,
        reseller_id: &str,
        field: &str,
    ) -> Result<PlanInfo, ServiceError> {
        let message = pb::GetPlanRequest {
            plan_id: plan_id.to_string(),
            reseller_id: reseller_id.to_string(),
        };
        let result = platform::grpc_client::retry_idempotent(3, || {
            let mut client = self.client.clone();
            let request = self.request(message.clone(), principal);
            async move { client.get_plan(request).await }
        })
        .await;
        match result {
            Ok(plan) => Ok(plan_info(plan.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => {
                // Hidden from the caller: ask as ordering, acting for the reseller, whether the
                // plan exists but the reseller may not sell it (e.g. `autodesk.csn_required`).
                let mut client = self.client.clone();
                let request = self.request(message, &Principal::service("ordering"));
                let status = client.get_plan(request).await.err().unwrap_or(status);
                Err(plan_error(&status, field, plan_id))
            }
            Err(status) => Err(plan_error(&status, field, plan_id)),
        }
    }

    /// The plan of an Autodesk 15-character product id.
    pub(crate) async fn lookup_autodesk(
        &self,
        principal: &Principal,
        product_id: &str,
        reseller_id: &str,
    ) -> Result<PlanInfo, ServiceError> {
        let message = pb::LookupPlanRequest {
            autodesk_product_id: product_id.to_string(),
            reseller_id: reseller_id.to_string(),
            ..Default::default()
        };
        let result = platform::grpc_client::retry_idempotent(3, || {
            let mut client = self.client.clone();
            let request = self.request(message.clone(), principal);
            async move { client.lookup_plan(request).await }
        })
        .await;
        match result {
            Ok(plan) => Ok(plan_info(plan.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => {
                // As for `plan`: the reason a hidden plan may not be sold, when there is one.
                let mut client = self.client.clone();
                let request = self.request(message, &Principal::service("ordering"));
                let status = client.lookup_plan(request).await.err().unwrap_or(status);
                Err(plan_error(&status, "autodesk_product_id", product_id))
            }
            Err(status) => Err(plan_error(&status, "autodesk_product_id", product_id)),
        }
    }

    /// Prices `(plan id, quantity)` lines for the reseller, in the same order.
    ///
    /// Ordering has already scoped the caller to `reseller_id`; the catalog is asked as the
    /// ordering service so the price snapshot keeps the reseller's cost and markup even when a
    /// customer role places the order (the catalog hides those from customer callers).
    pub(crate) async fn quote(
        &self,
        _caller: &Principal,
        reseller_id: &str,
        currency: &str,
        lines: &[(String, i32)],
    ) -> Result<Vec<ItemPrice>, ServiceError> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let message = pb::QuotePricesRequest {
            reseller_id: reseller_id.to_string(),
            currency_code: currency.to_string(),
            lines: lines
                .iter()
                .map(|(plan_id, quantity)| pb::QuoteLineRequest {
                    plan_id: plan_id.clone(),
                    quantity: *quantity,
                })
                .collect(),
            price_time: None,
        };
        let ordering_service = Principal::service("ordering");
        let response = platform::grpc_client::retry_idempotent(3, || {
            let mut client = self.client.clone();
            let request = self.request(message.clone(), &ordering_service);
            async move { client.quote_prices(request).await }
        })
        .await
        .map_err(|status| {
            let mut error = ServiceError::from_status(&status);
            if error.code == ErrorCode::Internal {
                error = ServiceError::unavailable("catalog could not price the cart");
            }
            error
        })?
        .into_inner();
        if response.lines.len() != lines.len() {
            return Err(ServiceError::unavailable(
                "catalog answered a quote with the wrong number of lines",
            ));
        }
        Ok(response.lines.iter().map(price_of).collect())
    }
}

fn plan_error(status: &tonic::Status, field: &str, id: &str) -> ServiceError {
    match status.code() {
        tonic::Code::NotFound => ServiceError::invalid_field(field, format!("unknown plan {id}")),
        tonic::Code::PermissionDenied => ServiceError::invalid_field(
            field,
            format!("plan {id} is not available to this reseller"),
        ),
        _ => {
            let error = ServiceError::from_status(status);
            if error.code == ErrorCode::Internal {
                ServiceError::unavailable("catalog unavailable")
            } else {
                error
            }
        }
    }
}

fn amount(m: &Option<Money>) -> i64 {
    m.as_ref().map_or(0, |m| m.amount_minor)
}

fn price_of(line: &pb::QuoteLine) -> ItemPrice {
    let currency = [&line.unit_price, &line.unit_cost, &line.total_price]
        .iter()
        .find_map(|m| m.as_ref().map(|m| m.currency_code.clone()))
        .unwrap_or_default();
    ItemPrice {
        currency_code: currency,
        unit_cost: amount(&line.unit_cost),
        unit_markup: amount(&line.unit_markup),
        unit_price: amount(&line.unit_price),
        unit_msrp: amount(&line.unit_msrp),
        total_cost: amount(&line.total_cost),
        total_price: amount(&line.total_price),
        price_id: line.price_id.clone(),
    }
}

/// The snapshot ordering keeps of a catalog plan.
pub(crate) fn plan_info(p: pb::Plan) -> PlanInfo {
    PlanInfo {
        active: p.state != pb::PlanState::Retired as i32,
        plan_id: p.id,
        vendor_id: p.vendor_id,
        name: p.name,
        product_name: p.product_name,
        // Fall back to the vendor's own product id when the catalog has no explicit SKU.
        vendor_sku: [
            p.vendor_sku,
            p.autodesk_product_id.clone(),
            p.microsoft_catalog_item_id,
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default(),
        term: p.term,
        billing_cycle: p.billing_cycle,
        commitment_months: p.commitment_months,
        instalments: p.instalments,
        min_quantity: p.min_quantity,
        max_quantity: p.max_quantity,
        parent_plan_ids: p.parent_plan_ids,
        parameters: p.parameters.into_iter().map(param_def).collect(),
        autodesk_product_id: p.autodesk_product_id,
    }
}

fn param_def(d: pb::ParameterDefinition) -> ParamDef {
    let kind = match pb::ParameterType::try_from(d.r#type).unwrap_or_default() {
        pb::ParameterType::Email => ParamKind::Email,
        pb::ParameterType::Domain => ParamKind::Domain,
        pb::ParameterType::AutodeskCsn => ParamKind::AutodeskCsn,
        pb::ParameterType::MpnId => ParamKind::MpnId,
        pb::ParameterType::TenantId => ParamKind::TenantId,
        pb::ParameterType::Choice => ParamKind::Choice,
        pb::ParameterType::Phone => ParamKind::Phone,
        pb::ParameterType::Text | pb::ParameterType::Unspecified => ParamKind::Text,
    };
    let scope = match pb::ParameterScope::try_from(d.scope).unwrap_or_default() {
        pb::ParameterScope::Customer => ParamScope::Customer,
        pb::ParameterScope::Reseller => ParamScope::Reseller,
        pb::ParameterScope::OrderLine | pb::ParameterScope::Unspecified => ParamScope::OrderLine,
    };
    ParamDef {
        key: d.key,
        title: d.title,
        kind,
        scope,
        required: d.required,
        choices: d.choices,
    }
}
