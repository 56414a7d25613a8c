//! Conversions between the `marketplace.catalog.v1` messages and the domain.

use marketplace_platform::clock::{from_timestamp, micros_to_timestamp, to_micros};
use marketplace_platform::error::Violations;
use marketplace_proto::catalog::v1 as pb;
use marketplace_proto::common::v1::{BillingCycle as PbCycle, Money, Term as PbTerm};

use crate::domain::import::{Format, Rejection};
use crate::domain::markup::{Markup, MarkupKind, MarkupTarget};
use crate::domain::money::CurrencyCode;
use crate::domain::parameters::{ParameterDefinition, ParameterScope, ParameterType};
use crate::domain::plan::{
    BillingCycle, Category, PlanInput, PlanState, SupportLevel, Term, Tier, Vendor,
};
use crate::domain::price::Price;
use crate::domain::quote::QuotedLine;
use crate::service::PlanView;
use crate::service::markups::{MarkupAmount, MarkupInput};
use crate::service::quote::Quote;

fn money(currency: CurrencyCode, amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_string(),
        amount_minor,
    })
}

/// A term filter or field (`None` = unspecified); unknown values are recorded as violations.
pub(crate) fn term(v: &mut Violations, field: &str, value: i32) -> Option<Term> {
    match PbTerm::try_from(value) {
        Ok(PbTerm::Unspecified) => None,
        Ok(PbTerm::P1m) => Some(Term::P1M),
        Ok(PbTerm::P1y) => Some(Term::P1Y),
        Ok(PbTerm::P3y) => Some(Term::P3Y),
        Err(_) => {
            v.add(field, format!("unknown term {value}"));
            None
        }
    }
}

/// A billing cycle (`None` = unspecified).
pub(crate) fn billing_cycle(v: &mut Violations, field: &str, value: i32) -> Option<BillingCycle> {
    match PbCycle::try_from(value) {
        Ok(PbCycle::Unspecified) => None,
        Ok(PbCycle::Monthly) => Some(BillingCycle::Monthly),
        Ok(PbCycle::Annual) => Some(BillingCycle::Annual),
        Ok(PbCycle::Triennial) => Some(BillingCycle::Triennial),
        Err(_) => {
            v.add(field, format!("unknown billing cycle {value}"));
            None
        }
    }
}

fn term_out(t: Term) -> PbTerm {
    match t {
        Term::P1M => PbTerm::P1m,
        Term::P1Y => PbTerm::P1y,
        Term::P3Y => PbTerm::P3y,
    }
}

fn cycle_out(c: BillingCycle) -> PbCycle {
    match c {
        BillingCycle::Monthly => PbCycle::Monthly,
        BillingCycle::Annual => PbCycle::Annual,
        BillingCycle::Triennial => PbCycle::Triennial,
    }
}

fn parameter_type(v: &mut Violations, field: &str, value: i32) -> Option<ParameterType> {
    use pb::ParameterType as P;
    let t = match P::try_from(value) {
        Ok(P::Text) => ParameterType::Text,
        Ok(P::Email) => ParameterType::Email,
        Ok(P::Domain) => ParameterType::Domain,
        Ok(P::AutodeskCsn) => ParameterType::AutodeskCsn,
        Ok(P::MpnId) => ParameterType::MpnId,
        Ok(P::TenantId) => ParameterType::TenantId,
        Ok(P::Choice) => ParameterType::Choice,
        Ok(P::Phone) => ParameterType::Phone,
        Ok(P::Unspecified) | Err(_) => {
            v.add(field, "must be a known parameter type");
            return None;
        }
    };
    Some(t)
}

fn parameter_scope(v: &mut Violations, field: &str, value: i32) -> Option<ParameterScope> {
    use pb::ParameterScope as S;
    match S::try_from(value) {
        Ok(S::OrderLine) => Some(ParameterScope::OrderLine),
        Ok(S::Customer) => Some(ParameterScope::Customer),
        Ok(S::Reseller) => Some(ParameterScope::Reseller),
        Ok(S::Unspecified) | Err(_) => {
            v.add(field, "must be a known parameter scope");
            None
        }
    }
}

fn parameter_out(d: &ParameterDefinition) -> pb::ParameterDefinition {
    use pb::{ParameterScope as S, ParameterType as P};
    let kind = match d.kind {
        ParameterType::Text => P::Text,
        ParameterType::Email => P::Email,
        ParameterType::Domain => P::Domain,
        ParameterType::AutodeskCsn => P::AutodeskCsn,
        ParameterType::MpnId => P::MpnId,
        ParameterType::TenantId => P::TenantId,
        ParameterType::Choice => P::Choice,
        ParameterType::Phone => P::Phone,
    };
    let scope = match d.scope {
        ParameterScope::OrderLine => S::OrderLine,
        ParameterScope::Customer => S::Customer,
        ParameterScope::Reseller => S::Reseller,
    };
    pb::ParameterDefinition {
        key: d.key.clone(),
        title: d.title.clone(),
        description: d.description.clone(),
        r#type: kind as i32,
        scope: scope as i32,
        required: d.required,
        choices: d.choices.clone(),
    }
}

/// Decodes a plan sent by a client; enum violations are named `plan.<field>`.
pub(crate) fn plan_input(plan: pb::Plan) -> Result<PlanInput, marketplace_platform::ServiceError> {
    let mut v = Violations::new();
    let term = term(&mut v, "plan.term", plan.term);
    let billing_cycle = billing_cycle(&mut v, "plan.billing_cycle", plan.billing_cycle);
    let support_level = match pb::SupportLevel::try_from(plan.support_level) {
        Ok(pb::SupportLevel::Unspecified) => None,
        Ok(pb::SupportLevel::Basic) => Some(SupportLevel::Basic),
        Ok(pb::SupportLevel::Advanced) => Some(SupportLevel::Advanced),
        Err(_) => {
            v.add("plan.support_level", "unknown support level");
            None
        }
    };
    let tier = match pb::CatalogTier::try_from(plan.tier) {
        Ok(pb::CatalogTier::Unspecified) => None,
        Ok(pb::CatalogTier::Open) => Some(Tier::Open),
        Ok(pb::CatalogTier::Specialized) => Some(Tier::Specialized),
        Err(_) => {
            v.add("plan.tier", "unknown tier");
            None
        }
    };
    let mut parameters = Vec::new();
    for (i, p) in plan.parameters.into_iter().enumerate() {
        let kind = parameter_type(&mut v, &format!("plan.parameters[{i}].type"), p.r#type);
        let scope = parameter_scope(&mut v, &format!("plan.parameters[{i}].scope"), p.scope);
        if let (Some(kind), Some(scope)) = (kind, scope) {
            parameters.push(ParameterDefinition {
                key: p.key,
                title: p.title,
                description: p.description,
                kind,
                scope,
                required: p.required,
                choices: p.choices,
            });
        }
    }
    v.into_result()?;
    Ok(PlanInput {
        id: plan.id,
        vendor_id: plan.vendor_id,
        category_id: plan.category_id,
        product_name: plan.product_name,
        name: plan.name,
        description: plan.description,
        term,
        billing_cycle,
        commitment_months: plan.commitment_months,
        instalments: plan.instalments,
        support_level,
        min_quantity: plan.min_quantity,
        max_quantity: plan.max_quantity,
        parent_plan_ids: plan.parent_plan_ids,
        parameters,
        autodesk_product_id: plan.autodesk_product_id,
        microsoft_catalog_item_id: plan.microsoft_catalog_item_id,
        vendor_sku: plan.vendor_sku,
        tier,
    })
}

/// Encodes a plan with its prices.
pub(crate) fn plan_out(view: PlanView) -> pb::Plan {
    let p = view.plan;
    let support = match p.support_level {
        SupportLevel::None => pb::SupportLevel::Unspecified,
        SupportLevel::Basic => pb::SupportLevel::Basic,
        SupportLevel::Advanced => pb::SupportLevel::Advanced,
    };
    let tier = match p.tier {
        Tier::Open => pb::CatalogTier::Open,
        Tier::Specialized => pb::CatalogTier::Specialized,
    };
    let state = match p.state {
        PlanState::Active => pb::PlanState::Active,
        PlanState::Retired => pb::PlanState::Retired,
    };
    pb::Plan {
        etag: p.etag(),
        id: p.id,
        vendor_id: p.vendor_id,
        category_id: p.category_id,
        product_name: p.product_name,
        name: p.name,
        description: p.description,
        term: term_out(p.term) as i32,
        billing_cycle: cycle_out(p.billing_cycle) as i32,
        commitment_months: p.commitment_months,
        instalments: p.instalments,
        support_level: support as i32,
        min_quantity: p.min_quantity,
        max_quantity: p.max_quantity,
        parent_plan_ids: p.parent_plan_ids,
        addon_plan_ids: p.addon_plan_ids,
        parameters: p.parameters.iter().map(parameter_out).collect(),
        autodesk_product_id: p
            .autodesk_product_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
        microsoft_catalog_item_id: p
            .microsoft_catalog_item_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
        tier: tier as i32,
        state: state as i32,
        prices: view.prices.iter().map(price_out).collect(),
        create_time: Some(micros_to_timestamp(p.create_time)),
        update_time: Some(micros_to_timestamp(p.update_time)),
        vendor_sku: p.vendor_sku,
    }
}

/// Encodes a price.
pub(crate) fn price_out(p: &Price) -> pb::Price {
    pb::Price {
        id: p.id.clone(),
        plan_id: p.plan_id.clone(),
        currency_code: p.currency.to_string(),
        cost: money(p.currency, p.cost),
        msrp: money(p.currency, p.msrp),
        effective_time: Some(micros_to_timestamp(p.effective_at)),
        create_time: Some(micros_to_timestamp(p.created_at)),
    }
}

/// Decodes an optional timestamp to µs.
pub(crate) fn micros(
    ts: Option<&marketplace_proto::pbjson_types::Timestamp>,
    field: &str,
) -> Result<Option<i64>, marketplace_platform::ServiceError> {
    match ts {
        None => Ok(None),
        Some(ts) => from_timestamp(ts)
            .map(|t| Some(to_micros(t)))
            .ok_or_else(|| {
                marketplace_platform::ServiceError::invalid_field(field, "not a valid time")
            }),
    }
}

/// Encodes a vendor.
pub(crate) fn vendor_out(v: Vendor) -> pb::Vendor {
    pb::Vendor {
        id: v.id,
        display_name: v.display_name,
        description: v.description,
        connector: v.connector,
        portal_url: v.portal_url,
    }
}

/// Encodes a category.
pub(crate) fn category_out(c: Category) -> pb::Category {
    pb::Category {
        id: c.id,
        vendor_id: c.vendor_id,
        display_name: c.display_name,
        plan_count: i32::try_from(c.plan_count).unwrap_or(i32::MAX),
    }
}

fn line_out(currency: CurrencyCode, l: QuotedLine) -> pb::QuoteLine {
    pb::QuoteLine {
        plan_id: l.plan_id,
        quantity: l.quantity,
        price_id: l.price_id,
        unit_cost: money(currency, l.unit_cost),
        unit_markup: money(currency, l.unit_markup),
        unit_price: money(currency, l.unit_price),
        unit_msrp: money(currency, l.unit_msrp),
        total_cost: money(currency, l.total_cost),
        total_price: money(currency, l.total_price),
        vendor_id: l.vendor_id,
        plan_name: l.plan_name,
    }
}

/// Encodes a quote.
pub(crate) fn quote_out(q: Quote) -> pb::QuotePricesResponse {
    let currency = q.currency;
    pb::QuotePricesResponse {
        lines: q.lines.into_iter().map(|l| line_out(currency, l)).collect(),
        total_cost: money(currency, q.total_cost),
        total_price: money(currency, q.total_price),
    }
}

/// Decodes a price-list format.
pub(crate) fn format(value: i32) -> Result<Format, marketplace_platform::ServiceError> {
    match pb::PriceListFormat::try_from(value) {
        Ok(pb::PriceListFormat::Csv) => Ok(Format::Csv),
        Ok(pb::PriceListFormat::Json) => Ok(Format::Json),
        _ => Err(marketplace_platform::ServiceError::invalid_field(
            "format",
            "must be CSV or JSON",
        )),
    }
}

/// Encodes a rejected row.
pub(crate) fn rejection_out(r: Rejection) -> pb::RejectedRow {
    pb::RejectedRow {
        row: i32::try_from(r.row).unwrap_or(i32::MAX),
        field: r.field,
        reason: r.reason,
    }
}

/// Decodes a markup.
pub(crate) fn markup_input(m: pb::Markup) -> MarkupInput {
    let amount = match pb::MarkupKind::try_from(m.kind) {
        Ok(pb::MarkupKind::Percentage) => MarkupAmount::Percentage(m.basis_points),
        Ok(pb::MarkupKind::Fixed) => {
            MarkupAmount::Fixed(m.fixed_amount.map(|f| (f.currency_code, f.amount_minor)))
        }
        _ => MarkupAmount::Unspecified,
    };
    MarkupInput {
        reseller_id: m.reseller_id,
        vendor_id: m.vendor_id,
        plan_id: m.plan_id,
        amount,
    }
}

/// Encodes a markup.
pub(crate) fn markup_out(m: Markup) -> pb::Markup {
    let (vendor_id, plan_id) = match m.target {
        MarkupTarget::Vendor(v) => (v, String::new()),
        MarkupTarget::Plan(p) => (String::new(), p),
    };
    let (kind, basis_points, fixed_amount) = match m.kind {
        MarkupKind::Percentage(bp) => (pb::MarkupKind::Percentage, bp, None),
        MarkupKind::Fixed(money) => (
            pb::MarkupKind::Fixed,
            0,
            Some(Money {
                currency_code: money.currency.to_string(),
                amount_minor: money.amount_minor,
            }),
        ),
    };
    pb::Markup {
        id: m.id,
        reseller_id: m.reseller_id,
        vendor_id,
        plan_id,
        kind: kind as i32,
        basis_points,
        fixed_amount,
        update_time: Some(micros_to_timestamp(m.update_time)),
    }
}
