//! Which plan fields an update may change (`update_mask` paths of the `Plan` message).

use crate::domain::plan::PlanInput;

/// A mutable plan field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanField {
    /// `name`
    Name,
    /// `description`
    Description,
    /// `product_name`
    ProductName,
    /// `category_id`
    CategoryId,
    /// `min_quantity`
    MinQuantity,
    /// `max_quantity`
    MaxQuantity,
    /// `parameters`
    Parameters,
    /// `tier`
    Tier,
    /// `support_level`
    SupportLevel,
    /// `parent_plan_ids`
    ParentPlanIds,
    /// `vendor_sku`
    VendorSku,
}

const MUTABLE: [(&str, PlanField); 11] = [
    ("name", PlanField::Name),
    ("description", PlanField::Description),
    ("product_name", PlanField::ProductName),
    ("category_id", PlanField::CategoryId),
    ("min_quantity", PlanField::MinQuantity),
    ("max_quantity", PlanField::MaxQuantity),
    ("parameters", PlanField::Parameters),
    ("tier", PlanField::Tier),
    ("support_level", PlanField::SupportLevel),
    ("parent_plan_ids", PlanField::ParentPlanIds),
    ("vendor_sku", PlanField::VendorSku),
];

const IMMUTABLE: [&str; 8] = [
    "id",
    "vendor_id",
    "term",
    "billing_cycle",
    "commitment_months",
    "instalments",
    "autodesk_product_id",
    "microsoft_catalog_item_id",
];

/// Parses mask paths (empty = every mutable field); errors are `(index, problem)`.
pub fn parse(paths: &[String]) -> Result<Vec<PlanField>, Vec<(usize, String)>> {
    if paths.is_empty() {
        return Ok(MUTABLE.iter().map(|(_, f)| *f).collect());
    }
    let mut fields = Vec::new();
    let mut errors = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let snake = to_snake(path);
        if let Some((_, f)) = MUTABLE.iter().find(|(p, _)| *p == snake) {
            fields.push(*f);
        } else if IMMUTABLE.contains(&snake.as_str()) {
            errors.push((
                i,
                format!("{path} cannot change: create a new plan instead"),
            ));
        } else {
            errors.push((i, format!("{path} is not an updatable plan field")));
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

fn to_snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Copies the masked fields of `incoming` onto `current`.
pub fn apply(mut current: PlanInput, incoming: PlanInput, fields: &[PlanField]) -> PlanInput {
    for field in fields {
        match field {
            PlanField::Name => current.name = incoming.name.clone(),
            PlanField::Description => current.description = incoming.description.clone(),
            PlanField::ProductName => current.product_name = incoming.product_name.clone(),
            PlanField::CategoryId => current.category_id = incoming.category_id.clone(),
            PlanField::MinQuantity => current.min_quantity = incoming.min_quantity,
            PlanField::MaxQuantity => current.max_quantity = incoming.max_quantity,
            PlanField::Parameters => current.parameters = incoming.parameters.clone(),
            PlanField::Tier => current.tier = incoming.tier,
            PlanField::SupportLevel => current.support_level = incoming.support_level,
            PlanField::ParentPlanIds => current.parent_plan_ids = incoming.parent_plan_ids.clone(),
            PlanField::VendorSku => current.vendor_sku = incoming.vendor_sku.clone(),
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_accept_snake_and_camel_case_and_refuse_immutable_fields() {
        assert_eq!(
            parse(&["name".into(), "maxQuantity".into()]).unwrap(),
            vec![PlanField::Name, PlanField::MaxQuantity]
        );
        let errors = parse(&["name".into(), "term".into(), "bogus".into()]).unwrap_err();
        assert_eq!(
            errors.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(parse(&[]).unwrap().len(), 11);
    }
}
