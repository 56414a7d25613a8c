//! Vendors, categories and service plans (SKUs) with the rules a plan must satisfy.

use super::ids::{AutodeskProductId, MicrosoftCatalogItemId, ResourceId};
use super::parameters::ParameterDefinition;

/// Subscription term length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Term {
    /// One month.
    P1M,
    /// One year.
    P1Y,
    /// Three years.
    P3Y,
}

impl Term {
    /// Length in months.
    pub fn months(self) -> i32 {
        match self {
            Self::P1M => 1,
            Self::P1Y => 12,
            Self::P3Y => 36,
        }
    }

    /// Stored / ISO-8601 form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P1M => "P1M",
            Self::P1Y => "P1Y",
            Self::P3Y => "P3Y",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::P1M, Self::P1Y, Self::P3Y]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// How often a subscription is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingCycle {
    /// Every month.
    Monthly,
    /// Every year.
    Annual,
    /// Every three years.
    Triennial,
}

impl BillingCycle {
    /// Months per billing period.
    pub fn months(self) -> i32 {
        match self {
            Self::Monthly => 1,
            Self::Annual => 12,
            Self::Triennial => 36,
        }
    }

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Annual => "annual",
            Self::Triennial => "triennial",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Monthly, Self::Annual, Self::Triennial]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Autodesk support level (none for other vendors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupportLevel {
    /// Not applicable.
    None,
    /// Basic support.
    Basic,
    /// Advanced support.
    Advanced,
}

impl SupportLevel {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic => "basic",
            Self::Advanced => "advanced",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Basic, Self::Advanced]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Catalog tier: specialized Autodesk plans need a partner CSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Sellable by every reseller.
    Open,
    /// Sellable only by resellers with a valid partner CSN.
    Specialized,
}

impl Tier {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Specialized => "specialized",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Specialized]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Lifecycle of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanState {
    /// Sold.
    Active,
    /// No longer sold; existing subscriptions unaffected.
    Retired,
}

impl PlanState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Retired]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The provisioning connector of a vendor, which decides the vendor's id scheme and policies.
/// Vendors are data: a new vendor with another connector needs no catalog code change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// Autodesk: 15-character product ids, support levels, CSN gating, 12-month commitment.
    Autodesk,
    /// Microsoft NCE: catalog item ids.
    MicrosoftNce,
    /// Any other connector: free-form vendor SKU.
    Other,
}

impl Connector {
    /// Autodesk connector name.
    pub const AUTODESK: &'static str = "autodesk";
    /// Microsoft NCE connector name.
    pub const MICROSOFT_NCE: &'static str = "microsoft_nce";

    /// The connector of a vendor's `connector` field.
    pub fn of(name: &str) -> Self {
        match name {
            Self::AUTODESK => Self::Autodesk,
            Self::MICROSOFT_NCE => Self::MicrosoftNce,
            _ => Self::Other,
        }
    }
}

/// A vendor whose products are sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vendor {
    /// Stable id, e.g. `autodesk`.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Provisioning connector name, e.g. `autodesk`, `microsoft_nce`.
    pub connector: String,
    /// Vendor portal URL.
    pub portal_url: String,
}

/// A grouping of plans of one vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Id.
    pub id: String,
    /// Vendor.
    pub vendor_id: String,
    /// Display name.
    pub display_name: String,
    /// Active plans in the category.
    pub plan_count: i64,
}

/// A sellable service plan (SKU) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Id.
    pub id: String,
    /// Vendor id.
    pub vendor_id: String,
    /// Category id.
    pub category_id: String,
    /// Vendor product, e.g. "AutoCAD".
    pub product_name: String,
    /// Plan name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Term.
    pub term: Term,
    /// Billing cycle.
    pub billing_cycle: BillingCycle,
    /// Commitment in months (= term length).
    pub commitment_months: i32,
    /// Instalments over the commitment (= term / billing period).
    pub instalments: i32,
    /// Support level.
    pub support_level: SupportLevel,
    /// Least seats per order line.
    pub min_quantity: i32,
    /// Most seats per order line.
    pub max_quantity: i32,
    /// Plans this plan is an add-on of.
    pub parent_plan_ids: Vec<String>,
    /// Add-ons of this plan.
    pub addon_plan_ids: Vec<String>,
    /// Ordering parameters.
    pub parameters: Vec<ParameterDefinition>,
    /// Autodesk product id.
    pub autodesk_product_id: Option<AutodeskProductId>,
    /// Microsoft catalog item id.
    pub microsoft_catalog_item_id: Option<MicrosoftCatalogItemId>,
    /// SKU sent to the vendor by provisioning.
    pub vendor_sku: String,
    /// Tier.
    pub tier: Tier,
    /// State.
    pub state: PlanState,
    /// Creation time (µs).
    pub create_time: i64,
    /// Last update (µs).
    pub update_time: i64,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl Plan {
    /// Opaque etag of the current version.
    pub fn etag(&self) -> String {
        format!("v{}", self.version)
    }
}

/// Largest seat count a plan may allow per order line.
pub const MAX_SEATS: i32 = 1_000_000;

/// A plan as a client sends it, before validation (`None` = unspecified enum).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanInput {
    /// Id (empty = generate).
    pub id: String,
    /// Vendor id.
    pub vendor_id: String,
    /// Category id.
    pub category_id: String,
    /// Product name.
    pub product_name: String,
    /// Plan name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Term.
    pub term: Option<Term>,
    /// Billing cycle.
    pub billing_cycle: Option<BillingCycle>,
    /// Commitment months (0 = derive).
    pub commitment_months: i32,
    /// Instalments (0 = derive).
    pub instalments: i32,
    /// Support level (`None` = not applicable).
    pub support_level: Option<SupportLevel>,
    /// Least seats (0 = 1).
    pub min_quantity: i32,
    /// Most seats (0 = the maximum).
    pub max_quantity: i32,
    /// Parents when the plan is an add-on.
    pub parent_plan_ids: Vec<String>,
    /// Ordering parameters.
    pub parameters: Vec<ParameterDefinition>,
    /// Autodesk product id text.
    pub autodesk_product_id: String,
    /// Microsoft catalog item id text.
    pub microsoft_catalog_item_id: String,
    /// Vendor SKU (empty = the vendor id of the plan).
    pub vendor_sku: String,
    /// Tier (`None` = open).
    pub tier: Option<Tier>,
}

/// A plan definition that passed every rule that needs no storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPlan {
    /// Id.
    pub id: ResourceId,
    /// Vendor id.
    pub vendor_id: String,
    /// Category id.
    pub category_id: String,
    /// Product name.
    pub product_name: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Term.
    pub term: Term,
    /// Billing cycle.
    pub billing_cycle: BillingCycle,
    /// Commitment months.
    pub commitment_months: i32,
    /// Instalments.
    pub instalments: i32,
    /// Support level.
    pub support_level: SupportLevel,
    /// Least seats.
    pub min_quantity: i32,
    /// Most seats.
    pub max_quantity: i32,
    /// Parents (distinct, sorted).
    pub parent_plan_ids: Vec<String>,
    /// Parameters.
    pub parameters: Vec<ParameterDefinition>,
    /// Autodesk product id.
    pub autodesk_product_id: Option<AutodeskProductId>,
    /// Microsoft catalog item id.
    pub microsoft_catalog_item_id: Option<MicrosoftCatalogItemId>,
    /// Vendor SKU.
    pub vendor_sku: String,
    /// Tier.
    pub tier: Tier,
}

/// `(field path, problem)` pairs of an invalid plan, fields relative to `plan.`.
pub type Problems = Vec<(String, String)>;

fn text(problems: &mut Problems, field: &str, value: &str, max: usize, required: bool) {
    if required && value.trim().is_empty() {
        problems.push((field.into(), "must not be empty".into()));
    } else if value.chars().count() > max {
        problems.push((field.into(), format!("at most {max} characters")));
    }
}

impl PlanInput {
    /// Applies every rule that needs no storage; `vendor` is the plan's vendor and
    /// `generated_id` is used when `id` is empty.
    pub fn validate(self, vendor: &Vendor, generated_id: &str) -> Result<ValidPlan, Problems> {
        let mut p: Problems = Vec::new();
        let connector = Connector::of(&vendor.connector);
        let id = match ResourceId::parse(if self.id.is_empty() {
            generated_id
        } else {
            &self.id
        }) {
            Ok(id) => Some(id),
            Err(e) => {
                p.push(("id".into(), e.0));
                None
            }
        };
        text(&mut p, "category_id", &self.category_id, 128, true);
        text(&mut p, "product_name", &self.product_name, 200, true);
        text(&mut p, "name", &self.name, 200, true);
        text(&mut p, "description", &self.description, 4000, false);
        text(&mut p, "vendor_sku", &self.vendor_sku, 128, false);

        let term = self.term;
        if term.is_none() {
            p.push(("term".into(), "must be specified".into()));
        }
        let cycle = self.billing_cycle;
        if cycle.is_none() {
            p.push(("billing_cycle".into(), "must be specified".into()));
        }
        let (mut commitment, mut instalments) = (0, 0);
        if let (Some(term), Some(cycle)) = (term, cycle) {
            if cycle.months() > term.months() {
                p.push((
                    "billing_cycle".into(),
                    format!(
                        "a {} plan cannot be billed {}",
                        term.as_str(),
                        cycle.as_str()
                    ),
                ));
            } else {
                commitment = term.months();
                instalments = term.months() / cycle.months();
                if self.commitment_months != 0 && self.commitment_months != commitment {
                    p.push((
                        "commitment_months".into(),
                        format!("a {} plan commits for {commitment} months", term.as_str()),
                    ));
                }
                if self.instalments != 0 && self.instalments != instalments {
                    p.push((
                        "instalments".into(),
                        format!(
                            "a {} plan billed {} has {instalments} instalments",
                            term.as_str(),
                            cycle.as_str()
                        ),
                    ));
                }
            }
            if connector == Connector::Autodesk && term == Term::P1M {
                p.push((
                    "term".into(),
                    "Autodesk subscriptions have a 12-month minimum commitment".into(),
                ));
            }
        }

        let min = if self.min_quantity == 0 {
            1
        } else {
            self.min_quantity
        };
        let max = if self.max_quantity == 0 {
            MAX_SEATS
        } else {
            self.max_quantity
        };
        if !(1..=MAX_SEATS).contains(&min) {
            p.push((
                "min_quantity".into(),
                format!("must be between 1 and {MAX_SEATS}"),
            ));
        }
        if !(1..=MAX_SEATS).contains(&max) {
            p.push((
                "max_quantity".into(),
                format!("must be between 1 and {MAX_SEATS}"),
            ));
        } else if max < min {
            p.push((
                "max_quantity".into(),
                "must not be less than min_quantity".into(),
            ));
        }

        let mut parents = self.parent_plan_ids.clone();
        parents.sort();
        parents.dedup();
        for (i, parent) in self.parent_plan_ids.iter().enumerate() {
            if ResourceId::parse(parent).is_err() {
                p.push((format!("parent_plan_ids[{i}]"), "not a plan id".into()));
            } else if id.as_ref().is_some_and(|id| id.as_str() == parent) {
                p.push((
                    format!("parent_plan_ids[{i}]"),
                    "a plan cannot be an add-on of itself".into(),
                ));
            }
        }

        let mut keys = std::collections::HashSet::new();
        for (i, def) in self.parameters.iter().enumerate() {
            for (field, problem) in def.problems() {
                p.push((format!("parameters[{i}].{field}"), problem));
            }
            if !keys.insert(def.key.as_str()) {
                p.push((
                    format!("parameters[{i}].key"),
                    format!("duplicate key {}", def.key),
                ));
            }
        }

        let autodesk_id = (!self.autodesk_product_id.is_empty())
            .then(|| AutodeskProductId::parse(&self.autodesk_product_id))
            .transpose()
            .unwrap_or_else(|e| {
                p.push(("autodesk_product_id".into(), e.0));
                None
            });
        let microsoft_id = (!self.microsoft_catalog_item_id.is_empty())
            .then(|| MicrosoftCatalogItemId::parse(&self.microsoft_catalog_item_id))
            .transpose()
            .unwrap_or_else(|e| {
                p.push(("microsoft_catalog_item_id".into(), e.0));
                None
            });
        let support = self.support_level.unwrap_or(SupportLevel::None);
        let tier = self.tier.unwrap_or(Tier::Open);
        match connector {
            Connector::Autodesk => {
                if self.autodesk_product_id.is_empty() {
                    p.push((
                        "autodesk_product_id".into(),
                        "an Autodesk plan needs its 15-character product id".into(),
                    ));
                }
                if support == SupportLevel::None {
                    p.push((
                        "support_level".into(),
                        "an Autodesk plan has basic or advanced support".into(),
                    ));
                }
            }
            Connector::MicrosoftNce => {
                if self.microsoft_catalog_item_id.is_empty() {
                    p.push((
                        "microsoft_catalog_item_id".into(),
                        "a Microsoft plan needs its catalog item id".into(),
                    ));
                }
            }
            Connector::Other => {
                if self.vendor_sku.trim().is_empty() {
                    p.push(("vendor_sku".into(), "must not be empty".into()));
                }
            }
        }
        if connector != Connector::Autodesk {
            if !self.autodesk_product_id.is_empty() {
                p.push((
                    "autodesk_product_id".into(),
                    format!("only Autodesk plans have one (vendor {})", vendor.id),
                ));
            }
            if support != SupportLevel::None {
                p.push((
                    "support_level".into(),
                    "only Autodesk plans have a support level".into(),
                ));
            }
            if tier == Tier::Specialized {
                p.push((
                    "tier".into(),
                    "only Autodesk has a specialized catalog".into(),
                ));
            }
        }
        if connector != Connector::MicrosoftNce && !self.microsoft_catalog_item_id.is_empty() {
            p.push((
                "microsoft_catalog_item_id".into(),
                format!("only Microsoft plans have one (vendor {})", vendor.id),
            ));
        }

        let (Some(id), Some(term), Some(billing_cycle), true) = (id, term, cycle, p.is_empty())
        else {
            return Err(p);
        };
        let vendor_sku = if self.vendor_sku.trim().is_empty() {
            autodesk_id
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| microsoft_id.as_ref().map(ToString::to_string))
                .unwrap_or_default()
        } else {
            self.vendor_sku.trim().to_string()
        };
        Ok(ValidPlan {
            id,
            vendor_id: vendor.id.clone(),
            category_id: self.category_id,
            product_name: self.product_name.trim().to_string(),
            name: self.name.trim().to_string(),
            description: self.description,
            term,
            billing_cycle,
            commitment_months: commitment,
            instalments,
            support_level: support,
            min_quantity: min,
            max_quantity: max,
            parent_plan_ids: parents,
            parameters: self.parameters,
            autodesk_product_id: autodesk_id,
            microsoft_catalog_item_id: microsoft_id,
            vendor_sku,
            tier,
        })
    }
}

impl From<&Plan> for PlanInput {
    fn from(plan: &Plan) -> Self {
        Self {
            id: plan.id.clone(),
            vendor_id: plan.vendor_id.clone(),
            category_id: plan.category_id.clone(),
            product_name: plan.product_name.clone(),
            name: plan.name.clone(),
            description: plan.description.clone(),
            term: Some(plan.term),
            billing_cycle: Some(plan.billing_cycle),
            commitment_months: plan.commitment_months,
            instalments: plan.instalments,
            support_level: Some(plan.support_level),
            min_quantity: plan.min_quantity,
            max_quantity: plan.max_quantity,
            parent_plan_ids: plan.parent_plan_ids.clone(),
            parameters: plan.parameters.clone(),
            autodesk_product_id: plan
                .autodesk_product_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            microsoft_catalog_item_id: plan
                .microsoft_catalog_item_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            vendor_sku: plan.vendor_sku.clone(),
            tier: Some(plan.tier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autodesk() -> Vendor {
        Vendor {
            id: "autodesk".into(),
            display_name: "Autodesk".into(),
            description: String::new(),
            connector: "autodesk".into(),
            portal_url: String::new(),
        }
    }

    fn input() -> PlanInput {
        PlanInput {
            id: "plan-x".into(),
            category_id: "cat".into(),
            product_name: "AutoCAD".into(),
            name: "AutoCAD annual".into(),
            term: Some(Term::P1Y),
            billing_cycle: Some(BillingCycle::Monthly),
            support_level: Some(SupportLevel::Basic),
            autodesk_product_id: "ACDXX001YMBWWL1".into(),
            ..PlanInput::default()
        }
    }

    #[test]
    fn commitment_and_instalments_are_derived() {
        let plan = input().validate(&autodesk(), "").unwrap();
        assert_eq!((plan.commitment_months, plan.instalments), (12, 12));
        assert_eq!(plan.vendor_sku, "ACDXX001YMBWWL1");
        assert_eq!((plan.min_quantity, plan.max_quantity), (1, MAX_SEATS));
    }

    #[test]
    fn autodesk_rules_apply() {
        let bad = PlanInput {
            term: Some(Term::P1M),
            support_level: None,
            autodesk_product_id: String::new(),
            ..input()
        };
        let fields: Vec<String> = bad
            .validate(&autodesk(), "")
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, vec!["term", "autodesk_product_id", "support_level"]);
        let bad = PlanInput {
            billing_cycle: Some(BillingCycle::Triennial),
            min_quantity: 5,
            max_quantity: 2,
            ..input()
        };
        let fields: Vec<String> = bad
            .validate(&autodesk(), "")
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, vec!["billing_cycle", "max_quantity"]);
    }
}
