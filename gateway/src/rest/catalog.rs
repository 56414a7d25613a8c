//! Catalog operations: vendors, categories, plans, prices, quotes, markups.

use marketplace_proto::catalog::v1 as pb;

use crate::upstream::Registry;

const SERVICE: &str = "marketplace.catalog.v1.CatalogService";

/// Registers the REST operations of `CatalogService`.
pub(crate) fn register(r: &mut Registry) {
    r.unary::<pb::ListVendorsRequest, pb::ListVendorsResponse>(SERVICE, "ListVendors");
    r.unary::<pb::ListCategoriesRequest, pb::ListCategoriesResponse>(SERVICE, "ListCategories");
    r.unary::<pb::ListPlansRequest, pb::ListPlansResponse>(SERVICE, "ListPlans");
    r.unary::<pb::GetPlanRequest, pb::Plan>(SERVICE, "GetPlan");
    r.unary::<pb::LookupPlanRequest, pb::Plan>(SERVICE, "LookupPlan");
    r.unary::<pb::QuotePricesRequest, pb::QuotePricesResponse>(SERVICE, "QuotePrices");
    r.unary::<pb::CreatePlanRequest, pb::Plan>(SERVICE, "CreatePlan");
    r.unary::<pb::UpdatePlanRequest, pb::Plan>(SERVICE, "UpdatePlan");
    r.unary::<pb::RetirePlanRequest, pb::Plan>(SERVICE, "RetirePlan");
    r.unary::<pb::ListPricesRequest, pb::ListPricesResponse>(SERVICE, "ListPrices");
    r.unary::<pb::CreatePriceRequest, pb::Price>(SERVICE, "CreatePrice");
    r.unary::<pb::ImportPriceListRequest, pb::ImportPriceListResponse>(SERVICE, "ImportPriceList");
    r.unary::<pb::ListMarkupsRequest, pb::ListMarkupsResponse>(SERVICE, "ListMarkups");
    r.unary::<pb::SetMarkupRequest, pb::Markup>(SERVICE, "SetMarkup");
    r.unary::<pb::DeleteMarkupRequest, pb::DeleteMarkupResponse>(SERVICE, "DeleteMarkup");
}
