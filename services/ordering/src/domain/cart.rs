//! Shopping carts: lines within the plan's limits, removal keeps the line (DELETED), 7-day expiry.

use std::collections::BTreeMap;

use platform::ServiceError;
use serde::{Deserialize, Serialize};

use super::plan::PlanInfo;
use super::{Actor, Problem};

/// How long a cart lives: 7 days (µs).
pub const CART_TTL_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

/// Status of a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CartStatus {
    /// Open for changes (order status STARTED).
    Active,
    /// Checked out.
    Ordered,
    /// Past its expiry.
    Expired,
    /// Discarded (order status DELETED).
    Deleted,
}

impl CartStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Ordered => "ORDERED",
            Self::Expired => "EXPIRED",
            Self::Deleted => "DELETED",
        }
    }
}

/// Status of a cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineStatus {
    /// In the cart.
    Active,
    /// Removed (kept, not forgotten).
    Deleted,
}

/// Most active lines a cart may hold (the catalog quotes at most 200 lines at once).
pub const MAX_ACTIVE_LINES: usize = 200;

/// One line of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// Id.
    pub id: String,
    /// Plan snapshot (refreshed on change).
    pub plan: PlanInfo,
    /// Seats.
    pub quantity: i32,
    /// Order-line parameter values.
    pub parameters: BTreeMap<String, String>,
    /// Status.
    pub status: LineStatus,
    /// Line this add-on belongs to.
    pub parent_line_id: String,
    /// Request id of the AddCartLine that created it: a retry with the same id adds nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

/// A shopping cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Id.
    pub id: String,
    /// Reseller.
    pub reseller_id: String,
    /// Customer (may be chosen later).
    pub customer_id: String,
    /// Currency of prices.
    pub currency_code: String,
    /// Lines, including deleted ones.
    pub lines: Vec<CartLine>,
    /// Stored status (see [`Cart::status_at`]).
    pub status: CartStatus,
    /// Creation (µs).
    pub created_at: i64,
    /// Last change (µs).
    pub updated_at: i64,
    /// Expiry (µs).
    pub expire_at: i64,
    /// The cart's order: STARTED while open with a customer, then what checkout made of it.
    pub order_id: String,
    /// Who started it.
    pub created_by: Actor,
    /// Version (etag).
    pub version: i64,
}

impl Cart {
    /// A new empty cart expiring after [`CART_TTL_MICROS`].
    pub fn new(
        id: String,
        reseller_id: String,
        customer_id: String,
        currency_code: String,
        created_by: Actor,
        now: i64,
    ) -> Self {
        Self {
            id,
            reseller_id,
            customer_id,
            currency_code,
            lines: Vec::new(),
            status: CartStatus::Active,
            created_at: now,
            updated_at: now,
            expire_at: now + CART_TTL_MICROS,
            order_id: String::new(),
            created_by,
            version: 1,
        }
    }

    /// The status at `now`: an active cart past its expiry is EXPIRED.
    pub fn status_at(&self, now: i64) -> CartStatus {
        if self.status == CartStatus::Active && now >= self.expire_at {
            CartStatus::Expired
        } else {
            self.status
        }
    }

    /// Fails unless the cart can still be changed or checked out at `now`.
    pub fn ensure_open(&self, now: i64) -> Result<(), ServiceError> {
        match self.status_at(now) {
            CartStatus::Active => Ok(()),
            CartStatus::Expired => Err(ServiceError::precondition(
                "cart.expired",
                format!("cart {} expired (carts live 7 days)", self.id),
            )),
            CartStatus::Ordered => Err(ServiceError::precondition(
                "cart.already_checked_out",
                format!(
                    "cart {} was already checked out as order {}",
                    self.id, self.order_id
                ),
            )),
            CartStatus::Deleted => Err(ServiceError::precondition(
                "cart.deleted",
                format!("cart {} was discarded", self.id),
            )),
        }
    }

    /// Lines still in the cart, with their index.
    pub fn active_lines(&self) -> impl Iterator<Item = (usize, &CartLine)> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.status == LineStatus::Active)
    }

    /// The line an AddCartLine with `request_id` already created, if any.
    pub fn line_added_by(&self, request_id: &str) -> Option<&CartLine> {
        if request_id.is_empty() {
            return None;
        }
        self.lines.iter().find(|l| l.request_id == request_id)
    }

    /// Adds a line after checking quantity, parameters and the parent line of an add-on.
    pub fn add_line(&mut self, line: CartLine, now: i64) -> Result<(), ServiceError> {
        let mut problems = Vec::new();
        // The catalog prices at most this many lines at once: a longer cart could never be bought.
        if self
            .lines
            .iter()
            .filter(|l| l.status == LineStatus::Active)
            .count()
            >= MAX_ACTIVE_LINES
        {
            problems.push(Problem::new(
                "cart_id",
                format!("a cart holds at most {MAX_ACTIVE_LINES} lines"),
            ));
        }
        if let Err(e) = line.plan.check_quantity(line.quantity) {
            problems.push(Problem::new("quantity", e));
        }
        problems.extend(line.plan.check_parameters(&line.parameters, "parameters"));
        if !line.parent_line_id.is_empty() {
            match self
                .lines
                .iter()
                .find(|l| l.id == line.parent_line_id && l.status == LineStatus::Active)
            {
                None => problems.push(Problem::new("parent_line_id", "no such line in this cart")),
                Some(parent)
                    if !line.plan.parent_plan_ids.is_empty()
                        && !line.plan.parent_plan_ids.contains(&parent.plan.plan_id) =>
                {
                    problems.push(Problem::new(
                        "parent_line_id",
                        format!(
                            "plan {} is not an add-on of {}",
                            line.plan.plan_id, parent.plan.plan_id
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if !line.plan.active {
            problems.push(Problem::new("plan_id", "plan is retired"));
        }
        into_result(problems)?;
        self.lines.push(line);
        self.updated_at = now;
        Ok(())
    }

    /// Changes a line's quantity (0 = unchanged) and merges parameters.
    pub fn update_line(
        &mut self,
        line_id: &str,
        quantity: i32,
        parameters: BTreeMap<String, String>,
        now: i64,
    ) -> Result<(), ServiceError> {
        let line = self.line_mut(line_id)?;
        let mut merged = line.parameters.clone();
        for (k, v) in parameters {
            if v.is_empty() {
                merged.remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        let mut problems = Vec::new();
        let quantity = if quantity == 0 {
            line.quantity
        } else {
            quantity
        };
        if let Err(e) = line.plan.check_quantity(quantity) {
            problems.push(Problem::new("quantity", e));
        }
        problems.extend(line.plan.check_parameters(&merged, "parameters"));
        into_result(problems)?;
        line.quantity = quantity;
        line.parameters = merged;
        self.updated_at = now;
        Ok(())
    }

    /// Discards the whole cart: it becomes DELETED (kept for history, no longer changeable).
    pub fn discard(&mut self, now: i64) {
        self.status = CartStatus::Deleted;
        self.updated_at = now;
    }

    /// Marks a line (and its add-ons) DELETED.
    pub fn remove_line(&mut self, line_id: &str, now: i64) -> Result<(), ServiceError> {
        self.line_mut(line_id)?.status = LineStatus::Deleted;
        for line in self
            .lines
            .iter_mut()
            .filter(|l| l.parent_line_id == line_id)
        {
            line.status = LineStatus::Deleted;
        }
        self.updated_at = now;
        Ok(())
    }

    fn line_mut(&mut self, line_id: &str) -> Result<&mut CartLine, ServiceError> {
        self.lines
            .iter_mut()
            .find(|l| l.id == line_id && l.status == LineStatus::Active)
            .ok_or_else(|| ServiceError::not_found(format!("cart line {line_id}")))
    }

    /// Parameter problems of each active line, named `lines[i].parameters.key`.
    pub fn line_problems(&self) -> Vec<(usize, Problem)> {
        self.active_lines()
            .flat_map(|(i, l)| {
                l.plan
                    .check_parameters(&l.parameters, &format!("lines[{i}].parameters"))
                    .into_iter()
                    .map(move |p| (i, p))
            })
            .collect()
    }
}

/// `Ok` when there are no problems, else one `INVALID_ARGUMENT` naming them all.
pub fn into_result(problems: Vec<Problem>) -> Result<(), ServiceError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(ServiceError::invalid_fields(
        problems
            .into_iter()
            .map(|p| platform::error::FieldViolation {
                field: p.field,
                description: p.description,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, q: i32) -> CartLine {
        CartLine {
            id: id.into(),
            plan: PlanInfo {
                plan_id: "p".into(),
                min_quantity: 1,
                max_quantity: 10,
                active: true,
                ..PlanInfo::default()
            },
            quantity: q,
            parameters: BTreeMap::new(),
            status: LineStatus::Active,
            parent_line_id: String::new(),
            request_id: String::new(),
        }
    }

    #[test]
    fn limits_removal_and_expiry() {
        let mut cart = Cart::new(
            "c".into(),
            "r".into(),
            String::new(),
            "USD".into(),
            Actor::default(),
            0,
        );
        assert!(cart.add_line(line("a", 11), 1).is_err());
        cart.add_line(line("a", 2), 1).unwrap();
        assert!(cart.update_line("a", 0, BTreeMap::new(), 2).is_ok());
        assert!(cart.update_line("a", 11, BTreeMap::new(), 2).is_err());
        cart.update_line("a", 3, BTreeMap::new(), 2).unwrap();
        assert_eq!(cart.lines[0].quantity, 3);
        cart.remove_line("a", 3).unwrap();
        assert_eq!(cart.lines[0].status, LineStatus::Deleted);
        assert_eq!(cart.active_lines().count(), 0);
        assert_eq!(cart.status_at(CART_TTL_MICROS - 1), CartStatus::Active);
        assert_eq!(cart.status_at(CART_TTL_MICROS), CartStatus::Expired);
        assert!(cart.ensure_open(CART_TTL_MICROS).is_err());
    }
}
