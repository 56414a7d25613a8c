//! A small in-test CatalogService (the catalog crate was not ready when these tests were
//! written): fixed plans and quotes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use marketplace_proto::catalog::v1 as pb;
use marketplace_proto::catalog::v1::catalog_service_server::{
    CatalogService, CatalogServiceServer,
};
use marketplace_proto::common::v1::{BillingCycle, Money, Term};
use tonic::{Request, Response, Status};

pub(crate) const AUTOCAD: &str = "plan-autodesk-autocad-annual";
pub(crate) const AUTOCAD_PRODUCT_ID: &str = "AUTOCAD-ANNUAL1";
pub(crate) const REVIT: &str = "plan-autodesk-revit-annual";
pub(crate) const M365: &str = "plan-ms365-business-basic-annual";
pub(crate) const UNIT_COST: i64 = 10_000;
pub(crate) const UNIT_MARKUP: i64 = 2_000;

fn param(
    key: &str,
    kind: pb::ParameterType,
    scope: pb::ParameterScope,
    required: bool,
) -> pb::ParameterDefinition {
    pb::ParameterDefinition {
        key: key.into(),
        title: key.into(),
        r#type: kind as i32,
        scope: scope as i32,
        required,
        ..Default::default()
    }
}

pub(crate) fn plans() -> Vec<pb::Plan> {
    use pb::ParameterScope as S;
    use pb::ParameterType as T;
    vec![
        pb::Plan {
            id: AUTOCAD.into(),
            vendor_id: "autodesk".into(),
            product_name: "AutoCAD".into(),
            name: "AutoCAD - Annual - Basic".into(),
            term: Term::P1y as i32,
            billing_cycle: BillingCycle::Annual as i32,
            commitment_months: 12,
            instalments: 1,
            min_quantity: 1,
            max_quantity: 100,
            autodesk_product_id: AUTOCAD_PRODUCT_ID.into(),
            vendor_sku: "057O1-WW8695-L563".into(),
            state: pb::PlanState::Active as i32,
            parameters: vec![param("admin_email", T::Email, S::Customer, true)],
            ..Default::default()
        },
        pb::Plan {
            id: REVIT.into(),
            vendor_id: "autodesk".into(),
            product_name: "Revit".into(),
            name: "Revit - Annual - Basic".into(),
            term: Term::P1y as i32,
            billing_cycle: BillingCycle::Annual as i32,
            commitment_months: 12,
            min_quantity: 1,
            max_quantity: 10,
            autodesk_product_id: "REVIT-ANNUAL-01".into(),
            vendor_sku: "829O1-WW3740-L562".into(),
            state: pb::PlanState::Active as i32,
            parameters: vec![
                param("project_code", T::Text, S::OrderLine, true),
                param("site_phone", T::Phone, S::OrderLine, false),
            ],
            ..Default::default()
        },
        pb::Plan {
            id: M365.into(),
            vendor_id: "microsoft".into(),
            product_name: "Microsoft 365 Business Basic".into(),
            name: "Microsoft 365 Business Basic (Annual)".into(),
            term: Term::P1y as i32,
            billing_cycle: BillingCycle::Monthly as i32,
            commitment_months: 12,
            min_quantity: 1,
            max_quantity: 300,
            microsoft_catalog_item_id: "CFQ7TTC0LH18:0001:P1Y".into(),
            vendor_sku: "CFQ7TTC0LH18:0001:P1Y".into(),
            state: pb::PlanState::Active as i32,
            parameters: vec![
                param("mpn_id", T::MpnId, S::Reseller, true),
                param(
                    "indirect_reseller_tenant_id",
                    T::TenantId,
                    S::Reseller,
                    true,
                ),
                param("tenant_domain", T::Domain, S::Customer, true),
            ],
            ..Default::default()
        },
    ]
}

#[derive(Default)]
pub(crate) struct FakeCatalog {
    pub(crate) quotes: Arc<AtomicUsize>,
}

fn money(c: &str, v: i64) -> Option<Money> {
    Some(Money {
        currency_code: c.into(),
        amount_minor: v,
    })
}

#[tonic::async_trait]
impl CatalogService for FakeCatalog {
    async fn list_vendors(
        &self,
        _: Request<pb::ListVendorsRequest>,
    ) -> Result<Response<pb::ListVendorsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn list_categories(
        &self,
        _: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn list_plans(
        &self,
        _: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn get_plan(&self, r: Request<pb::GetPlanRequest>) -> Result<Response<pb::Plan>, Status> {
        if r.metadata().get("x-marketplace-identity").is_none() {
            return Err(Status::unauthenticated("no identity"));
        }
        plans()
            .into_iter()
            .find(|p| p.id == r.get_ref().plan_id)
            .map(Response::new)
            .ok_or_else(|| Status::not_found("plan"))
    }
    async fn lookup_plan(
        &self,
        r: Request<pb::LookupPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        plans()
            .into_iter()
            .find(|p| {
                !p.autodesk_product_id.is_empty()
                    && p.autodesk_product_id == r.get_ref().autodesk_product_id
            })
            .map(Response::new)
            .ok_or_else(|| Status::not_found("plan"))
    }
    async fn quote_prices(
        &self,
        r: Request<pb::QuotePricesRequest>,
    ) -> Result<Response<pb::QuotePricesResponse>, Status> {
        self.quotes.fetch_add(1, Ordering::SeqCst);
        let req = r.into_inner();
        let c = if req.currency_code.is_empty() {
            "USD".to_string()
        } else {
            req.currency_code.clone()
        };
        let mut lines = Vec::new();
        let (mut tc, mut tp) = (0, 0);
        for l in &req.lines {
            let plan = plans()
                .into_iter()
                .find(|p| p.id == l.plan_id)
                .ok_or_else(|| Status::not_found("plan"))?;
            let q = i64::from(l.quantity);
            tc += UNIT_COST * q;
            tp += (UNIT_COST + UNIT_MARKUP) * q;
            lines.push(pb::QuoteLine {
                plan_id: plan.id.clone(),
                quantity: l.quantity,
                price_id: format!("price-{}", plan.id),
                unit_cost: money(&c, UNIT_COST),
                unit_markup: money(&c, UNIT_MARKUP),
                unit_price: money(&c, UNIT_COST + UNIT_MARKUP),
                unit_msrp: money(&c, 13_000),
                total_cost: money(&c, UNIT_COST * q),
                total_price: money(&c, (UNIT_COST + UNIT_MARKUP) * q),
                vendor_id: plan.vendor_id.clone(),
                plan_name: plan.name.clone(),
            });
        }
        Ok(Response::new(pb::QuotePricesResponse {
            lines,
            total_cost: money(&c, tc),
            total_price: money(&c, tp),
        }))
    }
    async fn create_plan(
        &self,
        _: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn update_plan(
        &self,
        _: Request<pb::UpdatePlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn retire_plan(
        &self,
        _: Request<pb::RetirePlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn list_prices(
        &self,
        _: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn create_price(
        &self,
        _: Request<pb::CreatePriceRequest>,
    ) -> Result<Response<pb::Price>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn import_price_list(
        &self,
        _: Request<pb::ImportPriceListRequest>,
    ) -> Result<Response<pb::ImportPriceListResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn list_markups(
        &self,
        _: Request<pb::ListMarkupsRequest>,
    ) -> Result<Response<pb::ListMarkupsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn set_markup(
        &self,
        _: Request<pb::SetMarkupRequest>,
    ) -> Result<Response<pb::Markup>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn delete_markup(
        &self,
        _: Request<pb::DeleteMarkupRequest>,
    ) -> Result<Response<pb::DeleteMarkupResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

/// Serves the fake catalog on 127.0.0.1:0; returns its URL.
pub(crate) async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(CatalogServiceServer::new(FakeCatalog::default()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    format!("http://{addr}")
}
