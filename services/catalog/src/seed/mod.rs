//! The demo catalog, generated deterministically from a table of real product names, and the
//! idempotent seeding of it (seeding twice changes nothing; staff edits are never overwritten).

mod products;

use sqlx::AnyConnection;

use crate::domain::ids::Csn;
use crate::domain::money::CurrencyCode;
use crate::domain::parameters::{ParameterDefinition, standard};
use crate::domain::plan::{
    BillingCycle, Category, Connector, PlanInput, SupportLevel, Term, Tier, ValidPlan, Vendor,
};
use crate::domain::price::Price;
use crate::store::plans::Names;
use crate::store::{Store, eligibility, plans, prices, vendors};

/// The demo reseller of the embedded mode.
pub const DEMO_RESELLER_ID: &str = "reseller-demo";
/// Its Autodesk partner CSN.
pub const DEMO_RESELLER_CSN: &str = "5100000001";

/// When the demo prices take effect: 2026-01-01T00:00:00Z (µs).
pub const PRICES_EFFECTIVE_AT: i64 = 1_767_225_600_000_000;
/// When the demo Microsoft monthly-term price increase takes effect: 2027-04-01T00:00:00Z (µs).
pub const PRICE_INCREASE_AT: i64 = 1_806_537_600_000_000;

/// Everything the demo catalog holds.
#[derive(Debug, Clone)]
pub struct DemoCatalog {
    /// Vendors.
    pub vendors: Vec<Vendor>,
    /// Categories.
    pub categories: Vec<Category>,
    /// Plans (base plans before their add-ons).
    pub plans: Vec<ValidPlan>,
    /// Prices.
    pub prices: Vec<Price>,
}

fn vendors_list() -> Vec<Vendor> {
    vec![
        Vendor {
            id: "autodesk".into(),
            display_name: "Autodesk".into(),
            description: "Design and make software: AutoCAD, Revit, Fusion, Maya and the Industry Collections".into(),
            connector: Connector::AUTODESK.into(),
            portal_url: "https://manage.autodesk.com".into(),
        },
        Vendor {
            id: "microsoft".into(),
            display_name: "Microsoft NCE".into(),
            description: "Microsoft 365, Office 365, Teams, security and Power Platform under the New Commerce Experience".into(),
            connector: Connector::MICROSOFT_NCE.into(),
            portal_url: "https://admin.microsoft.com".into(),
        },
    ]
}

/// Converts a USD amount in cents to another currency's minor units at a fixed demo rate.
fn convert(usd_cents: i64, currency: &str) -> i64 {
    let (num, den) = match currency {
        "EUR" => (92, 100),
        "GBP" => (79, 100),
        "AUD" => (152, 100),
        "JPY" => (150, 100),
        _ => (1, 1),
    };
    let value = (usd_cents * num + den / 2) / den;
    if currency == "JPY" {
        (value + 5) / 10 * 10
    } else {
        value
    }
}

fn price_rows(
    plan_id: &str,
    msrp_usd: i64,
    cost_pct: i64,
    currencies: &[&str],
    effective_at: i64,
    tag: &str,
) -> Vec<Price> {
    currencies
        .iter()
        .filter_map(|c| CurrencyCode::parse(c).ok())
        .map(|currency| {
            let msrp = convert(msrp_usd, currency.as_str());
            Price {
                id: format!("price-{plan_id}-{}-{tag}", currency.as_str().to_lowercase()),
                plan_id: plan_id.to_string(),
                currency,
                cost: msrp * cost_pct / 100,
                msrp,
                effective_at,
                created_at: effective_at,
            }
        })
        .collect()
}

fn autodesk_parameters(specialized: bool) -> Vec<ParameterDefinition> {
    vec![
        standard::admin_email(),
        standard::partner_csn(specialized),
        standard::customer_csn(),
    ]
}

fn microsoft_parameters() -> Vec<ParameterDefinition> {
    vec![
        standard::admin_email(),
        standard::tenant_domain(),
        standard::mpn_id(),
        standard::indirect_reseller_tenant_id(),
    ]
}

/// Autodesk variants: `(suffix, term, cycle, support, product id letters, price factor %)`.
const AUTODESK_VARIANTS: [(&str, Term, BillingCycle, SupportLevel, &str, i64); 4] = [
    (
        "annual",
        Term::P1Y,
        BillingCycle::Annual,
        SupportLevel::Basic,
        "YAB",
        100,
    ),
    (
        "monthly",
        Term::P1Y,
        BillingCycle::Monthly,
        SupportLevel::Basic,
        "YMB",
        115,
    ),
    (
        "3year",
        Term::P3Y,
        BillingCycle::Triennial,
        SupportLevel::Basic,
        "TTB",
        285,
    ),
    (
        "annual-advanced",
        Term::P1Y,
        BillingCycle::Annual,
        SupportLevel::Advanced,
        "YAV",
        120,
    ),
];

/// Microsoft variants: `(suffix, term, cycle, availability letter, price factor % of monthly, 3-year only)`.
const MICROSOFT_VARIANTS: [(&str, Term, BillingCycle, char, i64, bool); 4] = [
    ("monthly", Term::P1M, BillingCycle::Monthly, 'M', 120, false),
    ("annual", Term::P1Y, BillingCycle::Annual, 'A', 1_200, false),
    (
        "annual-monthly",
        Term::P1Y,
        BillingCycle::Monthly,
        'B',
        100,
        false,
    ),
    ("3year", Term::P3Y, BillingCycle::Annual, 'T', 1_140, true),
];

fn describe(product: &str, term: Term, cycle: BillingCycle, support: SupportLevel) -> String {
    let term = match term {
        Term::P1M => "1-month term",
        Term::P1Y => "1-year term",
        Term::P3Y => "3-year term",
    };
    let support = match support {
        SupportLevel::None => String::new(),
        s => format!(", {} support", s.as_str()),
    };
    format!("{product}: {term}, billed {}{support}", cycle.as_str())
}

/// Generates the demo catalog (pure and deterministic).
pub fn demo_catalog() -> Result<DemoCatalog, String> {
    let vendors = vendors_list();
    let categories = products::CATEGORIES
        .iter()
        .map(|(id, vendor, name)| Category {
            id: (*id).into(),
            vendor_id: (*vendor).into(),
            display_name: (*name).into(),
            plan_count: 0,
        })
        .collect();
    let mut plans = Vec::new();
    let mut prices = Vec::new();
    let fail = |id: &str, problems: Vec<(String, String)>| {
        format!("demo plan {id} is invalid: {problems:?}")
    };

    for (index, (slug, name, code, category, specialized, annual, parents)) in
        products::AUTODESK.iter().enumerate()
    {
        for (suffix, term, cycle, support, letters, factor) in AUTODESK_VARIANTS {
            let id = if suffix == "annual" && *slug == "autocad" {
                "plan-autodesk-autocad-annual".to_string()
            } else {
                format!("plan-autodesk-{slug}-{suffix}")
            };
            let input = PlanInput {
                id: id.clone(),
                vendor_id: "autodesk".into(),
                category_id: (*category).into(),
                product_name: (*name).into(),
                name: format!("{name} - {}", variant_name(suffix)),
                description: describe(name, term, cycle, support),
                term: Some(term),
                billing_cycle: Some(cycle),
                support_level: Some(support),
                min_quantity: 1,
                max_quantity: 10_000,
                parent_plan_ids: parents
                    .iter()
                    .map(|p| format!("plan-autodesk-{p}-{suffix}"))
                    .collect(),
                parameters: autodesk_parameters(*specialized),
                autodesk_product_id: format!("{code}{:03}{letters}WWL1", index + 1),
                tier: Some(if *specialized {
                    Tier::Specialized
                } else {
                    Tier::Open
                }),
                ..PlanInput::default()
            };
            let plan = input.validate(&vendors[0], "").map_err(|p| fail(&id, p))?;
            let msrp = match cycle {
                BillingCycle::Monthly => annual * factor / 1_200,
                _ => annual * factor / 100,
            };
            prices.extend(price_rows(
                &id,
                msrp,
                85,
                &["USD", "EUR", "GBP", "JPY"],
                PRICES_EFFECTIVE_AT,
                "2026",
            ));
            plans.push(plan);
        }
    }

    for (slug, name, product_id, category, monthly, max_seats, three_year, parents) in
        products::MICROSOFT
    {
        for (suffix, term, cycle, letter, factor, needs_three_year) in MICROSOFT_VARIANTS {
            if needs_three_year && !three_year {
                continue;
            }
            let id = format!("plan-{slug}-{suffix}");
            let parent_ids = parents
                .iter()
                .filter(|p| {
                    !needs_three_year || products::MICROSOFT.iter().any(|m| m.0 == **p && m.6)
                })
                .map(|p| format!("plan-{p}-{suffix}"))
                .collect();
            let input = PlanInput {
                id: id.clone(),
                vendor_id: "microsoft".into(),
                category_id: (*category).into(),
                product_name: (*name).into(),
                name: format!("{name} - {}", variant_name(suffix)),
                description: describe(name, term, cycle, SupportLevel::None),
                term: Some(term),
                billing_cycle: Some(cycle),
                min_quantity: 1,
                max_quantity: *max_seats,
                parent_plan_ids: parent_ids,
                parameters: microsoft_parameters(),
                microsoft_catalog_item_id: format!(
                    "{product_id}:0001:CFQ7TTC0{}{letter}",
                    &product_id[9..]
                ),
                ..PlanInput::default()
            };
            let plan = input.validate(&vendors[1], "").map_err(|p| fail(&id, p))?;
            let msrp = monthly * factor / 100;
            prices.extend(price_rows(
                &id,
                msrp,
                88,
                &["USD", "EUR", "GBP", "AUD"],
                PRICES_EFFECTIVE_AT,
                "2026",
            ));
            if term == Term::P1M {
                prices.extend(price_rows(
                    &id,
                    msrp * 105 / 100,
                    88,
                    &["USD", "EUR", "GBP", "AUD"],
                    PRICE_INCREASE_AT,
                    "2027-04",
                ));
            }
            plans.push(plan);
        }
    }
    Ok(DemoCatalog {
        vendors,
        categories,
        plans,
        prices,
    })
}

fn variant_name(suffix: &str) -> &'static str {
    match suffix {
        "annual" => "Annual",
        "monthly" => "Monthly",
        "3year" => "3-Year",
        "annual-advanced" => "Annual, Advanced Support",
        "annual-monthly" => "Annual, Billed Monthly",
        _ => "Plan",
    }
}

/// Inserts vendors, categories and plans of `catalog` that do not exist yet.
pub async fn insert_catalog(
    conn: &mut AnyConnection,
    catalog: &DemoCatalog,
) -> Result<(), sqlx::Error> {
    for (i, v) in catalog.vendors.iter().enumerate() {
        vendors::insert_vendor(conn, v, i as i64).await?;
    }
    for (i, c) in catalog.categories.iter().enumerate() {
        vendors::insert_category(conn, c, i as i64).await?;
    }
    for plan in &catalog.plans {
        let vendor = catalog
            .vendors
            .iter()
            .find(|v| v.id == plan.vendor_id)
            .map_or("", |v| v.display_name.as_str());
        let category = catalog
            .categories
            .iter()
            .find(|c| c.id == plan.category_id)
            .map_or("", |c| c.display_name.as_str());
        plans::insert(conn, plan, Names { vendor, category }, PRICES_EFFECTIVE_AT).await?;
    }
    for price in &catalog.prices {
        prices::insert(conn, price).await?;
    }
    Ok(())
}

/// Seeds the demo catalog and the demo reseller's CSN, in one transaction, idempotently.
pub async fn seed_demo(store: &Store) -> anyhow::Result<()> {
    let catalog = demo_catalog().map_err(anyhow::Error::msg)?;
    let mut tx = store.pool().begin().await?;
    insert_catalog(&mut tx, &catalog).await?;
    let csn = Csn::parse(DEMO_RESELLER_CSN).map_err(|e| anyhow::anyhow!("demo csn: {e}"))?;
    eligibility::seed(&mut tx, DEMO_RESELLER_ID, &csn).await?;
    tx.commit().await?;
    tracing::info!(
        plans = catalog.plans.len(),
        prices = catalog.prices.len(),
        "demo catalog seeded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_large_valid_and_unique() {
        let catalog = demo_catalog().unwrap();
        assert!(catalog.plans.len() >= 200, "{} plans", catalog.plans.len());
        let mut ids: Vec<_> = catalog.plans.iter().map(|p| p.id.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), catalog.plans.len());
        let mut vendor_ids: Vec<String> = catalog
            .plans
            .iter()
            .map(|p| {
                p.autodesk_product_id
                    .as_ref()
                    .map(ToString::to_string)
                    .or(p
                        .microsoft_catalog_item_id
                        .as_ref()
                        .map(ToString::to_string))
                    .unwrap()
            })
            .collect();
        vendor_ids.sort();
        vendor_ids.dedup();
        assert_eq!(vendor_ids.len(), catalog.plans.len());
        for required in [
            "plan-autodesk-autocad-annual",
            "plan-ms365-business-basic-annual",
        ] {
            assert!(ids.iter().any(|i| i == required), "{required}");
        }
        assert!(catalog.plans.iter().any(|p| !p.parent_plan_ids.is_empty()));
        for plan in &catalog.plans {
            for parent in &plan.parent_plan_ids {
                let position = catalog
                    .plans
                    .iter()
                    .position(|p| p.id.as_str() == parent)
                    .unwrap_or_else(|| panic!("{parent} missing"));
                assert!(position < catalog.plans.iter().position(|p| p.id == plan.id).unwrap());
            }
        }
    }
}
