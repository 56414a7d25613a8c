//! Orders and their items: price snapshots, the status changes they go through (see [`super::state`]).

use std::collections::BTreeMap;

use platform::ServiceError;
use serde::{Deserialize, Serialize};

use super::cart::{Cart, CartStatus, LineStatus};
use super::plan::{AUTODESK, PlanInfo};
use super::state::{ChangeType, ItemStatus, OrderStatus};
use super::{Actor, Problem};

/// Price snapshot of an item, in minor units of `currency_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ItemPrice {
    /// Currency.
    pub currency_code: String,
    /// Distributor cost per unit.
    pub unit_cost: i64,
    /// Reseller markup per unit.
    pub unit_markup: i64,
    /// Customer price per unit.
    pub unit_price: i64,
    /// Vendor MSRP per unit.
    pub unit_msrp: i64,
    /// Cost of the line.
    pub total_cost: i64,
    /// Price of the line.
    pub total_price: i64,
    /// Catalog price id used.
    pub price_id: String,
}

/// A note on an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Note {
    /// Text.
    pub text: String,
    /// Author.
    pub author: Actor,
    /// When (µs).
    pub created_at: i64,
}

/// Payment details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Payment {
    /// e.g. `invoice`.
    pub method: String,
    /// e.g. `Net 30`.
    pub terms: String,
    /// Purchase order number.
    pub purchase_order_number: String,
}

/// One item of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Id.
    pub id: String,
    /// 1-based line number.
    pub line_number: i32,
    /// Plan snapshot.
    pub plan: PlanInfo,
    /// Subscription name.
    pub description: String,
    /// Requested change.
    pub change: ChangeType,
    /// Quantity asked for.
    pub quantity: i32,
    /// Quantity before the change.
    pub previous_quantity: i32,
    /// Ordering parameters.
    pub parameters: BTreeMap<String, String>,
    /// Price snapshot.
    pub price: ItemPrice,
    /// Status.
    pub status: ItemStatus,
    /// Vendor's message (why it failed or what it needs).
    pub vendor_message: String,
    /// Vendor's complaints about parameters.
    pub parameter_errors: Vec<Problem>,
    /// Subscription the item creates or changes.
    pub subscription_id: String,
    /// Vendor subscription id for changes of an existing subscription.
    pub vendor_subscription_id: String,
    /// Item this add-on belongs to.
    pub parent_item_id: String,
    /// Last change (µs).
    pub updated_at: i64,
    /// How many times the item was re-submitted.
    pub resubmission: i32,
}

impl OrderItem {
    /// The fulfilment job key of the current attempt.
    pub fn request_id(&self) -> String {
        format!("{}:{}", self.id, self.resubmission)
    }
}

/// A status change made to an order, to be emitted as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The order's status changed.
    Order {
        /// Before.
        from: OrderStatus,
        /// After.
        to: OrderStatus,
        /// Why.
        reason: String,
    },
    /// An item's status changed.
    Item {
        /// The item.
        item_id: String,
        /// Before.
        from: ItemStatus,
        /// After.
        to: ItemStatus,
    },
}

impl Change {
    /// What changed, as WatchOrder reports it (`order.status`, `items[0].status`).
    pub fn describe(&self, order: &Order) -> String {
        match self {
            Self::Order { .. } => "order.status".into(),
            Self::Item { item_id, .. } => {
                let index = order
                    .items
                    .iter()
                    .position(|i| &i.id == item_id)
                    .unwrap_or_default();
                format!("items[{index}].status")
            }
        }
    }
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Id.
    pub id: String,
    /// Human number, e.g. `ORD-2026-000042`.
    pub number: String,
    /// Display name, e.g. `Order #22-11-2026`.
    pub name: String,
    /// Reseller.
    pub reseller_id: String,
    /// Customer.
    pub customer_id: String,
    /// Customer name at checkout.
    pub customer_name: String,
    /// Status.
    pub status: OrderStatus,
    /// Items.
    pub items: Vec<OrderItem>,
    /// Who placed it.
    pub created_by: Actor,
    /// Creation (µs).
    pub created_at: i64,
    /// Last change (µs).
    pub updated_at: i64,
    /// Submission (µs), when bought.
    pub submitted_at: Option<i64>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Payment details.
    pub payment: Payment,
    /// Currency of the totals.
    pub currency_code: String,
    /// Sum of item costs.
    pub total_cost: i64,
    /// Sum of item prices.
    pub total_price: i64,
    /// Cart it came from.
    pub cart_id: String,
    /// Version, bumped on every change (the etag).
    pub version: i64,
    /// Idempotency key of the checkout that created it.
    pub request_key: String,
    /// Request id of the SubmitOrder that bought a draft.
    pub submit_request_id: String,
}

impl Order {
    /// Formats an order number.
    pub fn format_number(year: i32, seq: i64) -> String {
        format!("ORD-{year}-{seq:06}")
    }

    /// Display name from the creation date.
    pub fn format_name(day: u8, month: u8, year: i32) -> String {
        format!("Order #{day:02}-{month:02}-{year}")
    }

    /// The STARTED order of an open cart with a customer chosen (seed 004 "Started"): one item
    /// per cart line (same id), unpriced until checkout; not yet numbered or stored.
    pub fn started(cart: &Cart, customer_name: &str, now: i64) -> Self {
        let mut order = Self {
            id: platform::ids::new_id(),
            number: String::new(),
            name: String::new(),
            reseller_id: cart.reseller_id.clone(),
            customer_id: cart.customer_id.clone(),
            customer_name: customer_name.to_string(),
            status: OrderStatus::Started,
            items: Vec::new(),
            created_by: cart.created_by.clone(),
            created_at: now,
            updated_at: now,
            submitted_at: None,
            notes: Vec::new(),
            payment: Payment::default(),
            currency_code: cart.currency_code.clone(),
            total_cost: 0,
            total_price: 0,
            cart_id: cart.id.clone(),
            version: 1,
            request_key: format!("started:{}", cart.id),
            submit_request_id: String::new(),
        };
        order.mirror(cart, customer_name, now);
        order
    }

    /// Makes a STARTED order show its cart as it is now: customer, lines (a removed line, or
    /// every line of a discarded cart, is a DELETED item). A line whose seats did not change
    /// keeps its price; the others are unpriced until [`Order::price_started`].
    pub fn mirror(&mut self, cart: &Cart, customer_name: &str, now: i64) {
        let before = std::mem::take(&mut self.items);
        let kept_price = |id: &str, quantity: i32| {
            before
                .iter()
                .find(|i| i.id == id && i.quantity == quantity)
                .map(|i| i.price.clone())
        };
        self.customer_id = cart.customer_id.clone();
        self.customer_name = customer_name.to_string();
        self.items = cart
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| OrderItem {
                id: line.id.clone(),
                line_number: i as i32 + 1,
                plan: line.plan.clone(),
                description: line.plan.name.clone(),
                change: ChangeType::NewSubscription,
                quantity: line.quantity,
                previous_quantity: 0,
                parameters: line.parameters.clone(),
                price: kept_price(&line.id, line.quantity)
                    .filter(|_| line.status == LineStatus::Active)
                    .unwrap_or_else(|| ItemPrice {
                        currency_code: cart.currency_code.clone(),
                        ..ItemPrice::default()
                    }),
                status: if line.status == LineStatus::Active && cart.status == CartStatus::Active {
                    ItemStatus::Pending
                } else {
                    ItemStatus::Deleted
                },
                vendor_message: String::new(),
                parameter_errors: Vec::new(),
                subscription_id: String::new(),
                vendor_subscription_id: String::new(),
                parent_item_id: line.parent_line_id.clone(),
                updated_at: now,
                resubmission: 0,
            })
            .collect();
        self.updated_at = now;
        self.recompute_totals();
    }

    /// Prices a STARTED order's live items with the cart's live prices (by line id) when each
    /// still has the seats it was priced for; returns whether anything changed.
    pub fn price_started(&mut self, prices: &BTreeMap<String, (i32, ItemPrice)>) -> bool {
        let mut changed = false;
        for item in self
            .items
            .iter_mut()
            .filter(|i| i.status == ItemStatus::Pending)
        {
            if let Some((quantity, price)) = prices.get(&item.id)
                && *quantity == item.quantity
                && item.price != *price
            {
                item.price = price.clone();
                changed = true;
            }
        }
        if changed {
            self.recompute_totals();
        }
        changed
    }

    /// Whether any item goes to Autodesk (one order at a time).
    pub fn has_autodesk(&self) -> bool {
        self.has_vendor(AUTODESK)
    }

    /// Whether any item that is not DELETED goes to `vendor_id`.
    pub fn has_vendor(&self, vendor_id: &str) -> bool {
        self.live_items().any(|i| i.plan.vendor_id == vendor_id)
    }

    /// The pending items as cart lines (a draft's readiness is checked like its cart's).
    pub fn as_cart(&self) -> super::cart::Cart {
        let mut cart = super::cart::Cart::new(
            self.cart_id.clone(),
            self.reseller_id.clone(),
            self.customer_id.clone(),
            self.currency_code.clone(),
            self.created_by.clone(),
            self.created_at,
        );
        cart.lines = self
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Pending)
            .map(|i| super::cart::CartLine {
                id: i.id.clone(),
                plan: i.plan.clone(),
                quantity: i.quantity,
                parameters: i.parameters.clone(),
                status: super::cart::LineStatus::Active,
                parent_line_id: String::new(),
                request_id: String::new(),
            })
            .collect();
        cart
    }

    /// Items other than DELETED ones (removed from the cart, never sent).
    pub fn live_items(&self) -> impl Iterator<Item = &OrderItem> {
        self.items
            .iter()
            .filter(|i| i.status != ItemStatus::Deleted)
    }

    /// Whether every item is a markup change (invisible to customer roles).
    pub fn is_markup_only(&self) -> bool {
        self.live_items().next().is_some()
            && self
                .live_items()
                .all(|i| i.change == ChangeType::MarkupChange)
    }

    /// Distinct requested changes of the live items, in item order.
    pub fn requested_changes(&self) -> Vec<ChangeType> {
        let mut out = Vec::new();
        for item in self.live_items() {
            if !out.contains(&item.change) {
                out.push(item.change);
            }
        }
        out
    }

    /// Recomputes the totals from the items.
    pub fn recompute_totals(&mut self) {
        let live = self
            .items
            .iter()
            .filter(|i| i.status != ItemStatus::Deleted);
        let (cost, price) = live.fold((0i64, 0i64), |(c, p), i| {
            (
                c.saturating_add(i.price.total_cost),
                p.saturating_add(i.price.total_price),
            )
        });
        self.total_cost = cost;
        self.total_price = price;
    }

    /// Sum of the live items' prices a customer role is shown: markup-change lines left out
    /// (customer roles never see markup changes, nor their amounts).
    pub fn customer_total_price(&self) -> i64 {
        self.live_items()
            .filter(|i| i.change != ChangeType::MarkupChange)
            .fold(0i64, |p, i| p.saturating_add(i.price.total_price))
    }

    /// Whether nothing will change by itself (no item pending or provisioning).
    pub fn is_settled(&self) -> bool {
        match self.status {
            OrderStatus::InProgress => false,
            // Items settled but the outcome not applied yet: about to move.
            OrderStatus::ProvisioningStarted if self.outcome().is_some() => false,
            OrderStatus::Draft | OrderStatus::Started => true,
            _ => !self.items.iter().any(|i| i.status.is_moving()),
        }
    }

    /// Moves the order to `to` if the state machine allows it.
    pub fn transition(
        &mut self,
        to: OrderStatus,
        reason: &str,
        now: i64,
    ) -> Result<Change, ServiceError> {
        if !self.status.can_become(to) {
            return Err(ServiceError::precondition(
                "order.status_transition",
                format!(
                    "order {} cannot go from {} to {}",
                    self.number,
                    self.status.as_str(),
                    to.as_str()
                ),
            ));
        }
        let from = self.status;
        self.status = to;
        self.updated_at = now;
        Ok(Change::Order {
            from,
            to,
            reason: reason.to_string(),
        })
    }

    /// Moves an item to `to` if the state machine allows it.
    pub fn transition_item(
        &mut self,
        item_id: &str,
        to: ItemStatus,
        now: i64,
    ) -> Result<Change, ServiceError> {
        let number = self.number.clone();
        let item = self
            .items
            .iter_mut()
            .find(|i| i.id == item_id)
            .ok_or_else(|| ServiceError::not_found(format!("order item {item_id}")))?;
        if !item.status.can_become(to) {
            return Err(ServiceError::precondition(
                "order_item.status_transition",
                format!(
                    "item {} of order {number} cannot go from {} to {}",
                    item.line_number,
                    item.status.as_str(),
                    to.as_str()
                ),
            ));
        }
        let from = item.status;
        item.status = to;
        item.updated_at = now;
        self.updated_at = now;
        Ok(Change::Item {
            item_id: item_id.to_string(),
            from,
            to,
        })
    }

    /// The status the order reaches once no item is moving or inquiring, if it has reached it.
    pub fn outcome(&self) -> Option<OrderStatus> {
        let live: Vec<&OrderItem> = self
            .items
            .iter()
            .filter(|i| !matches!(i.status, ItemStatus::Deleted | ItemStatus::Cancelled))
            .collect();
        if live
            .iter()
            .any(|i| i.status.is_moving() || i.status == ItemStatus::Inquiring)
        {
            return None;
        }
        let provisioned = live
            .iter()
            .filter(|i| i.status == ItemStatus::Provisioned)
            .count();
        Some(if provisioned == live.len() {
            OrderStatus::Completed
        } else if provisioned == 0 {
            OrderStatus::ProvisioningFailed
        } else {
            OrderStatus::CompletedWithErrors
        })
    }

    /// After an item changed because of provisioning: enters PROVISIONING_STARTED (from
    /// IN_PROGRESS), then the outcome when every item settled. Returns the order changes made.
    pub fn advance(&mut self, now: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.status == OrderStatus::InProgress
            && let Ok(c) = self.transition(
                OrderStatus::ProvisioningStarted,
                "provisioning started",
                now,
            )
        {
            changes.push(c);
        }
        if self.status == OrderStatus::ProvisioningStarted
            && let Some(outcome) = self.outcome()
        {
            let reason = match outcome {
                OrderStatus::Completed => "every item provisioned",
                OrderStatus::CompletedWithErrors => "some items failed",
                _ => "provisioning failed",
            };
            if let Ok(c) = self.transition(outcome, reason, now) {
                changes.push(c);
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, status: ItemStatus) -> OrderItem {
        OrderItem {
            id: id.into(),
            line_number: 1,
            plan: PlanInfo::default(),
            description: String::new(),
            change: ChangeType::NewSubscription,
            quantity: 1,
            previous_quantity: 0,
            parameters: BTreeMap::new(),
            price: ItemPrice::default(),
            status,
            vendor_message: String::new(),
            parameter_errors: vec![],
            subscription_id: String::new(),
            vendor_subscription_id: String::new(),
            parent_item_id: String::new(),
            updated_at: 0,
            resubmission: 0,
        }
    }

    fn order(items: Vec<OrderItem>) -> Order {
        Order {
            id: "o".into(),
            number: "ORD-1".into(),
            name: String::new(),
            reseller_id: "r".into(),
            customer_id: "c".into(),
            customer_name: String::new(),
            status: OrderStatus::InProgress,
            items,
            created_by: Actor::default(),
            created_at: 0,
            updated_at: 0,
            submitted_at: None,
            notes: vec![],
            payment: Payment::default(),
            currency_code: "USD".into(),
            total_cost: 0,
            total_price: 0,
            cart_id: String::new(),
            version: 1,
            request_key: String::new(),
            submit_request_id: String::new(),
        }
    }

    #[test]
    fn a_started_order_mirrors_its_cart_and_keeps_prices_of_unchanged_lines() {
        use crate::domain::cart::{Cart, CartLine, LineStatus};
        let mut cart = Cart::new(
            "cart".into(),
            "r".into(),
            "c".into(),
            "USD".into(),
            Actor::default(),
            0,
        );
        let plan = PlanInfo {
            plan_id: "p".into(),
            min_quantity: 1,
            max_quantity: 10,
            active: true,
            ..PlanInfo::default()
        };
        for id in ["a", "b"] {
            let line = CartLine {
                id: id.into(),
                plan: plan.clone(),
                quantity: 2,
                parameters: BTreeMap::new(),
                status: LineStatus::Active,
                parent_line_id: String::new(),
                request_id: String::new(),
            };
            cart.add_line(line, 1).unwrap();
        }
        let mut o = Order::started(&cart, "Contoso", 1);
        assert_eq!(o.status, OrderStatus::Started);
        assert_eq!(o.items.len(), 2);
        let priced = |total| ItemPrice {
            currency_code: "USD".into(),
            total_price: total,
            ..ItemPrice::default()
        };
        let prices: BTreeMap<String, (i32, ItemPrice)> = [
            ("a".to_string(), (2, priced(200))),
            ("b".to_string(), (3, priced(999))),
        ]
        .into_iter()
        .collect();
        assert!(o.price_started(&prices));
        // b was priced for 3 seats, it has 2: left unpriced.
        assert_eq!(o.total_price, 200);
        cart.update_line("b", 3, BTreeMap::new(), 2).unwrap();
        o.mirror(&cart, "Contoso", 2);
        assert_eq!(
            o.items[0].price.total_price, 200,
            "unchanged line keeps its price"
        );
        assert!(o.price_started(&prices));
        assert_eq!(o.total_price, 1199);
        cart.remove_line("a", 3).unwrap();
        o.mirror(&cart, "Contoso", 3);
        assert_eq!(o.items[0].status, ItemStatus::Deleted);
        assert_eq!(o.total_price, 999);
        cart.discard(4);
        o.mirror(&cart, "Contoso", 4);
        assert!(o.items.iter().all(|i| i.status == ItemStatus::Deleted));
        assert_eq!(o.total_price, 0);
    }

    #[test]
    fn outcome_follows_items() {
        let mut o = order(vec![
            item("a", ItemStatus::Provisioned),
            item("b", ItemStatus::Pending),
        ]);
        let changes = o.advance(1);
        assert_eq!(changes.len(), 1);
        assert_eq!(o.status, OrderStatus::ProvisioningStarted);
        o.transition_item("b", ItemStatus::Failed, 2).unwrap();
        o.advance(2);
        assert_eq!(o.status, OrderStatus::CompletedWithErrors);
        assert!(o.transition_item("a", ItemStatus::Failed, 3).is_err());
        let mut all_failed = order(vec![item("a", ItemStatus::Failed)]);
        all_failed.advance(1);
        assert_eq!(all_failed.status, OrderStatus::ProvisioningFailed);
        let mut inquiring = order(vec![item("a", ItemStatus::Inquiring)]);
        inquiring.advance(1);
        assert_eq!(inquiring.status, OrderStatus::ProvisioningStarted);
        assert!(inquiring.is_settled());
    }
}
