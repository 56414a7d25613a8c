//! The `CatalogService` gRPC API: authenticate, decode, call the use case, encode.

mod convert;

use marketplace_platform::ServiceError;
use marketplace_platform::error::Violations;
use marketplace_platform::identity::{IdentityKey, Principal};
use marketplace_proto::catalog::v1 as pb;
use marketplace_proto::catalog::v1::catalog_service_server::CatalogService;
use tonic::{Request, Response, Status};

use crate::service::Catalog;
use crate::service::admin::PriceInput;
use crate::service::quote::QuoteRequest;
use crate::service::read::{ListPlans, Lookup};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Catalog,
    identity: IdentityKey,
}

impl CatalogApi {
    /// A service over the use cases, verifying callers with `identity`.
    pub fn new(catalog: Catalog, identity: IdentityKey) -> Self {
        Self { catalog, identity }
    }

    fn caller<T: marketplace_proto::prost::Message + marketplace_proto::prost::Name>(
        &self,
        request: &Request<T>,
    ) -> Result<Principal, Status> {
        Ok(self.identity.authenticate(request)?)
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn ok<T>(result: Result<T, ServiceError>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn list_vendors(
        &self,
        request: Request<pb::ListVendorsRequest>,
    ) -> Reply<pb::ListVendorsResponse> {
        self.caller(&request)?;
        ok(self
            .catalog
            .list_vendors()
            .await
            .map(|v| pb::ListVendorsResponse {
                vendors: v.into_iter().map(convert::vendor_out).collect(),
            }))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Reply<pb::ListCategoriesResponse> {
        let principal = self.caller(&request)?;
        let result = self
            .catalog
            .list_categories(&principal, &request.get_ref().vendor_id)
            .await;
        ok(result.map(|c| pb::ListCategoriesResponse {
            categories: c.into_iter().map(convert::category_out).collect(),
        }))
    }

    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Reply<pb::ListPlansResponse> {
        let principal = self.caller(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let term = convert::term(&mut v, "term", r.term);
        let billing_cycle = convert::billing_cycle(&mut v, "billing_cycle", r.billing_cycle);
        v.into_result()?;
        let req = ListPlans {
            page_size: r.page_size,
            page_token: r.page_token,
            query: r.query,
            vendor_id: r.vendor_id,
            category_id: r.category_id,
            term,
            billing_cycle,
            include_retired: r.include_retired,
            parent_plan_id: r.parent_plan_id,
            reseller_id: r.reseller_id,
        };
        ok(self
            .catalog
            .list_plans(&principal, req)
            .await
            .map(|page| pb::ListPlansResponse {
                plans: page
                    .plans
                    .into_iter()
                    .map(|p| redact_plan(&principal, convert::plan_out(p)))
                    .collect(),
                next_page_token: page.next_page_token,
                total_size: i32::try_from(page.total_size).unwrap_or(i32::MAX),
            }))
    }

    async fn get_plan(&self, request: Request<pb::GetPlanRequest>) -> Reply<pb::Plan> {
        let principal = self.caller(&request)?;
        let r = request.get_ref();
        ok(self
            .catalog
            .get_plan(&principal, &r.plan_id, &r.reseller_id)
            .await
            .map(|p| redact_plan(&principal, convert::plan_out(p))))
    }

    async fn lookup_plan(&self, request: Request<pb::LookupPlanRequest>) -> Reply<pb::Plan> {
        let principal = self.caller(&request)?;
        let r = request.into_inner();
        let req = Lookup {
            autodesk_product_id: r.autodesk_product_id,
            microsoft_catalog_item_id: r.microsoft_catalog_item_id,
            reseller_id: r.reseller_id,
        };
        ok(self
            .catalog
            .lookup_plan(&principal, req)
            .await
            .map(|p| redact_plan(&principal, convert::plan_out(p))))
    }

    async fn quote_prices(
        &self,
        request: Request<pb::QuotePricesRequest>,
    ) -> Reply<pb::QuotePricesResponse> {
        let principal = self.caller(&request)?;
        let r = request.into_inner();
        let price_time = convert::micros(r.price_time.as_ref(), "price_time")?;
        let req = QuoteRequest {
            reseller_id: r.reseller_id,
            currency_code: r.currency_code,
            lines: r
                .lines
                .into_iter()
                .map(|l| (l.plan_id, l.quantity))
                .collect(),
            price_time,
        };
        ok(self
            .catalog
            .quote(&principal, req)
            .await
            .map(|q| redact_quote(&principal, convert::quote_out(q))))
    }

    async fn create_plan(&self, request: Request<pb::CreatePlanRequest>) -> Reply<pb::Plan> {
        let principal = self.caller(&request)?;
        principal.require_staff()?;
        let plan = request
            .into_inner()
            .plan
            .ok_or_else(|| ServiceError::invalid_field("plan", "required"))?;
        let input = convert::plan_input(plan)?;
        ok(self
            .catalog
            .create_plan(&principal, input)
            .await
            .map(convert::plan_out))
    }

    async fn update_plan(&self, request: Request<pb::UpdatePlanRequest>) -> Reply<pb::Plan> {
        let principal = self.caller(&request)?;
        principal.require_staff()?;
        let r = request.into_inner();
        let plan = r
            .plan
            .ok_or_else(|| ServiceError::invalid_field("plan", "required"))?;
        let etag = plan.etag.clone();
        let input = convert::plan_input(plan)?;
        ok(self
            .catalog
            .update_plan(&principal, input, &etag, &r.update_mask)
            .await
            .map(convert::plan_out))
    }

    async fn retire_plan(&self, request: Request<pb::RetirePlanRequest>) -> Reply<pb::Plan> {
        let principal = self.caller(&request)?;
        let r = request.get_ref();
        ok(self
            .catalog
            .retire_plan(&principal, &r.plan_id, &r.etag)
            .await
            .map(convert::plan_out))
    }

    async fn list_prices(
        &self,
        request: Request<pb::ListPricesRequest>,
    ) -> Reply<pb::ListPricesResponse> {
        let principal = self.caller(&request)?;
        let r = request.get_ref();
        let result = self
            .catalog
            .list_prices(
                &principal,
                &r.plan_id,
                &r.currency_code,
                r.page_size,
                &r.page_token,
            )
            .await;
        ok(
            result.map(|(prices, next_page_token)| pb::ListPricesResponse {
                prices: prices
                    .iter()
                    .map(|p| redact_price(&principal, convert::price_out(p)))
                    .collect(),
                next_page_token,
            }),
        )
    }

    async fn create_price(&self, request: Request<pb::CreatePriceRequest>) -> Reply<pb::Price> {
        let principal = self.caller(&request)?;
        principal.require_staff()?;
        let r = request.into_inner();
        let price = r
            .price
            .ok_or_else(|| ServiceError::invalid_field("price", "required"))?;
        if !price.plan_id.is_empty() && price.plan_id != r.plan_id {
            return Err(ServiceError::invalid_field("price.plan_id", "must match plan_id").into());
        }
        let cost = price
            .cost
            .ok_or_else(|| ServiceError::invalid_field("price.cost", "required"))?;
        let msrp = price
            .msrp
            .ok_or_else(|| ServiceError::invalid_field("price.msrp", "required"))?;
        let input = PriceInput {
            currency_code: price.currency_code,
            cost_currency: cost.currency_code,
            cost: cost.amount_minor,
            msrp_currency: msrp.currency_code,
            msrp: msrp.amount_minor,
            effective_at: convert::micros(price.effective_time.as_ref(), "price.effective_time")?,
        };
        ok(self
            .catalog
            .create_price(&principal, &r.plan_id, input)
            .await
            .map(|p| convert::price_out(&p)))
    }

    async fn import_price_list(
        &self,
        request: Request<pb::ImportPriceListRequest>,
    ) -> Reply<pb::ImportPriceListResponse> {
        let principal = self.caller(&request)?;
        principal.require_staff()?;
        let r = request.into_inner();
        let format = convert::format(r.format)?;
        ok(self
            .catalog
            .import_prices(&principal, format, &r.content, r.validate_only)
            .await
            .map(|report| pb::ImportPriceListResponse {
                applied: report.applied,
                accepted_rows: i32::try_from(report.accepted_rows).unwrap_or(i32::MAX),
                rejected_rows: report
                    .rejected_rows
                    .into_iter()
                    .map(convert::rejection_out)
                    .collect(),
            }))
    }

    async fn list_markups(
        &self,
        request: Request<pb::ListMarkupsRequest>,
    ) -> Reply<pb::ListMarkupsResponse> {
        let principal = self.caller(&request)?;
        let result = self
            .catalog
            .list_markups(&principal, &request.get_ref().reseller_id)
            .await;
        ok(result.map(|m| pb::ListMarkupsResponse {
            markups: m.into_iter().map(convert::markup_out).collect(),
        }))
    }

    async fn set_markup(&self, request: Request<pb::SetMarkupRequest>) -> Reply<pb::Markup> {
        let principal = self.caller(&request)?;
        let markup = request
            .into_inner()
            .markup
            .ok_or_else(|| ServiceError::invalid_field("markup", "required"))?;
        ok(self
            .catalog
            .set_markup(&principal, convert::markup_input(markup))
            .await
            .map(convert::markup_out))
    }

    async fn delete_markup(
        &self,
        request: Request<pb::DeleteMarkupRequest>,
    ) -> Reply<pb::DeleteMarkupResponse> {
        let principal = self.caller(&request)?;
        let r = request.get_ref();
        ok(self
            .catalog
            .delete_markup(&principal, &r.reseller_id, &r.markup_id)
            .await
            .map(|()| pb::DeleteMarkupResponse {}))
    }
}

/// Customer roles see what they pay (price, MSRP), never the distributor's cost to the reseller
/// nor the reseller's markup.
fn hides_cost(principal: &Principal) -> bool {
    principal.role.is_customer()
}

fn redact_price(principal: &Principal, mut price: pb::Price) -> pb::Price {
    if hides_cost(principal) {
        price.cost = None;
    }
    price
}

fn redact_plan(principal: &Principal, mut plan: pb::Plan) -> pb::Plan {
    if hides_cost(principal) {
        for price in &mut plan.prices {
            price.cost = None;
        }
    }
    plan
}

fn redact_quote(
    principal: &Principal,
    mut quote: pb::QuotePricesResponse,
) -> pb::QuotePricesResponse {
    if hides_cost(principal) {
        quote.total_cost = None;
        for line in &mut quote.lines {
            line.unit_cost = None;
            line.total_cost = None;
            line.unit_markup = None;
        }
    }
    quote
}
