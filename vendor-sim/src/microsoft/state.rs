//! Partner Center simulator state (customers, carts, orders, subscriptions), order completion and
//! the JSON views of each resource.

use std::collections::HashMap;

use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use crate::config::SimRules;
use crate::faults::Vendor;
use crate::journal::{EffectiveProvisioning, line_reference};
use crate::util;

/// The NCE cancellation / seat-reduction window.
pub(crate) const CANCELLATION_WINDOW: time::Duration = time::Duration::days(7);
/// Carts expire this long after creation.
pub(crate) const CART_LIFETIME: time::Duration = time::Duration::days(7);

#[derive(Debug, Default)]
pub(crate) struct MicrosoftState {
    /// Customers of the partner (tenants with a reseller relationship), by tenant id.
    pub(crate) customers: HashMap<String, Customer>,
    /// Existing tenants without a relationship to the partner (`POST /_sim/microsoft/tenants`),
    /// by tenant id: Partner Center does not know them as customers until the customer accepts
    /// the reseller relationship invitation.
    pub(crate) unrelated_tenants: HashMap<String, Customer>,
    pub(crate) carts: HashMap<String, Cart>,
    pub(crate) orders: HashMap<String, Order>,
    pub(crate) subscriptions: HashMap<String, Subscription>,
    counter: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub(crate) id: String,
    pub(crate) commerce_id: String,
    pub(crate) domain: String,
    pub(crate) company_name: String,
    /// The billing profile as sent, plus `id` and `attributes`.
    pub(crate) billing_profile: Value,
    pub(crate) agreements: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CartStatus {
    Active,
    Ordered,
}

#[derive(Debug, Clone)]
pub(crate) struct Cart {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) modified_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) status: CartStatus,
    pub(crate) lines: Vec<CartLine>,
}

#[derive(Debug, Clone)]
pub(crate) struct CartLine {
    pub(crate) id: i64,
    pub(crate) catalog_item_id: String,
    pub(crate) product_id: String,
    pub(crate) sku_id: String,
    pub(crate) friendly_name: Option<String>,
    pub(crate) quantity: u32,
    pub(crate) billing_cycle: String,
    pub(crate) term_duration: String,
    pub(crate) partner_id_on_record: Option<String>,
    pub(crate) provisioning_context: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum OrderStatus {
    Pending,
    Completed,
    Cancelled { code: String, description: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    seq: u64,
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) lines: Vec<OrderLine>,
    pub(crate) created_at: OffsetDateTime,
    due_at: OffsetDateTime,
    pub(crate) status: OrderStatus,
    /// Client reference of the checkout (its `MS-RequestId`, else `cart:<id>`).
    reference: String,
    injected_failure: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct OrderLine {
    pub(crate) number: usize,
    pub(crate) item: CartLine,
    pub(crate) subscription_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionStatus {
    Active,
    Suspended,
    Deleted,
}

impl SubscriptionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Suspended => "suspended",
            SubscriptionStatus::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) order_id: String,
    pub(crate) product_id: String,
    pub(crate) offer_id: String,
    pub(crate) friendly_name: String,
    pub(crate) quantity: u32,
    pub(crate) status: SubscriptionStatus,
    pub(crate) auto_renew: bool,
    pub(crate) billing_cycle: String,
    pub(crate) term_duration: String,
    pub(crate) created_at: OffsetDateTime,
    /// Start of the current cancellation window (purchase or last renewal).
    pub(crate) window_start: OffsetDateTime,
    pub(crate) effective_start: Date,
    pub(crate) commitment_end: Date,
    pub(crate) etag: String,
    pub(crate) partner_id: Option<String>,
    /// Mid-term seat additions (when, how many): reducible inside their own 7-day window.
    pub(crate) seat_additions: Vec<(OffsetDateTime, u32)>,
}

impl Subscription {
    pub(crate) fn in_cancellation_window(&self, now: OffsetDateTime) -> bool {
        now <= self.window_start + CANCELLATION_WINDOW
    }

    /// Lowest seat count a PATCH may set now: 1 inside the purchase/renewal window, else the
    /// seats minus those added during the last 7 days.
    pub(crate) fn seat_floor(&self, now: OffsetDateTime) -> u32 {
        if self.in_cancellation_window(now) {
            return 1;
        }
        let reducible: u32 = self
            .seat_additions
            .iter()
            .filter(|(at, _)| now <= *at + CANCELLATION_WINDOW)
            .map(|(_, n)| n)
            .sum();
        self.quantity.saturating_sub(reducible).max(1)
    }

    pub(crate) fn new_etag(&mut self) {
        self.etag = util::random_token(12);
    }
}

/// Highest seat count for a product: the plan limit if configured, capped by the global one.
pub(crate) fn max_seats(rules: &SimRules, product_id: &str) -> u32 {
    rules
        .microsoft_plan_max_seats
        .get(product_id)
        .map_or(rules.microsoft_max_seats, |plan| {
            (*plan).min(rules.microsoft_max_seats)
        })
}

/// Months of a term duration (`P1M`, `P1Y`, `P3Y`).
pub(crate) fn term_months(term: &str) -> Option<u32> {
    match term {
        "P1M" => Some(1),
        "P1Y" => Some(12),
        "P3Y" => Some(36),
        _ => None,
    }
}

impl MicrosoftState {
    /// Whether any tenant, related to the partner or not, has `domain`.
    pub(crate) fn domain_taken(&self, domain: &str) -> bool {
        self.customers
            .values()
            .chain(self.unrelated_tenants.values())
            .any(|c| c.domain == domain)
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Creates a pending order from an `Active` cart (which becomes `Ordered`).
    pub(crate) fn place_order(
        &mut self,
        cart_id: &str,
        reference: String,
        now: OffsetDateTime,
        due_at: OffsetDateTime,
        injected_failure: Option<(String, String)>,
    ) -> Option<String> {
        let seq = self.next_seq();
        let cart = self.carts.get_mut(cart_id)?;
        cart.status = CartStatus::Ordered;
        cart.modified_at = now;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let order = Order {
            seq,
            id: id.clone(),
            customer_id: cart.customer_id.clone(),
            lines: cart
                .lines
                .iter()
                .enumerate()
                .map(|(number, item)| OrderLine {
                    number,
                    item: item.clone(),
                    subscription_id: None,
                })
                .collect(),
            created_at: now,
            due_at,
            status: OrderStatus::Pending,
            reference,
            injected_failure,
        };
        self.orders.insert(id.clone(), order);
        Some(id)
    }

    /// Completes the pending orders that are due, in due order.
    pub(crate) fn materialize(
        &mut self,
        now: OffsetDateTime,
        effects: &mut Vec<EffectiveProvisioning>,
    ) {
        let mut due: Vec<(OffsetDateTime, u64, String)> = self
            .orders
            .values()
            .filter(|o| matches!(o.status, OrderStatus::Pending) && o.due_at <= now)
            .map(|o| (o.due_at, o.seq, o.id.clone()))
            .collect();
        due.sort();
        for (_, _, order_id) in due {
            self.complete(&order_id, effects);
        }
    }

    fn complete(&mut self, order_id: &str, effects: &mut Vec<EffectiveProvisioning>) {
        let Some(mut order) = self.orders.get(order_id).cloned() else {
            return;
        };
        let at = order.due_at;
        if let Some((code, description)) = order.injected_failure.clone() {
            order.status = OrderStatus::Cancelled { code, description };
            self.orders.insert(order.id.clone(), order);
            return;
        }
        let lines = order.lines.len();
        for line in &mut order.lines {
            let item = &line.item;
            let id = uuid::Uuid::new_v4().to_string().to_ascii_uppercase();
            let start = at.date();
            let months = term_months(&item.term_duration).unwrap_or(1);
            let mut sub = Subscription {
                id: id.clone(),
                customer_id: order.customer_id.clone(),
                order_id: order.id.clone(),
                product_id: item.product_id.clone(),
                offer_id: format!("{}:{}", item.product_id, item.sku_id),
                friendly_name: item
                    .friendly_name
                    .clone()
                    .unwrap_or_else(|| format!("{}:{}", item.product_id, item.sku_id)),
                quantity: item.quantity,
                status: SubscriptionStatus::Active,
                auto_renew: true,
                billing_cycle: item.billing_cycle.clone(),
                term_duration: item.term_duration.clone(),
                created_at: at,
                window_start: at,
                effective_start: start,
                commitment_end: util::term_end(start, months),
                etag: String::new(),
                partner_id: item.partner_id_on_record.clone(),
                seat_additions: Vec::new(),
            };
            sub.new_etag();
            effects.push(EffectiveProvisioning {
                vendor: Vendor::Microsoft,
                operation: "new".into(),
                client_reference: line_reference(&order.reference, line.number, lines),
                subscription_id: id.clone(),
                quantity: item.quantity,
                vendor_reference: order.id.clone(),
                at,
            });
            self.subscriptions.insert(id.clone(), sub);
            line.subscription_id = Some(id);
        }
        order.status = OrderStatus::Completed;
        self.orders.insert(order.id.clone(), order);
    }
}

fn link(uri: String) -> Value {
    json!({"uri": uri, "method": "GET", "headers": []})
}

impl Customer {
    /// The customer resource; `credentials` only on creation.
    pub(crate) fn json(&self, credentials: Option<(&str, &str)>) -> Value {
        let mut body = json!({
            "id": self.id,
            "commerceId": self.commerce_id,
            "companyProfile": {
                "tenantId": self.id,
                "domain": self.domain,
                "companyName": self.company_name,
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "billingProfile": self.billing_profile,
            "relationshipToPartner": "reseller",
            "allowDelegatedAccess": true,
            "links": {"self": link(format!("/customers/{}", self.id))},
            "attributes": {"objectType": "Customer"},
        });
        if let (Some((user, password)), Value::Object(map)) = (credentials, &mut body) {
            map.insert(
                "userCredentials".into(),
                json!({"userName": user, "password": password}),
            );
        }
        body
    }
}

impl CartLine {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "catalogItemId": self.catalog_item_id,
            "friendlyName": self.friendly_name,
            "quantity": self.quantity,
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
            "partnerIdOnRecord": self.partner_id_on_record,
            "provisioningContext": self.provisioning_context,
            "orderGroup": "0",
        })
    }
}

impl Cart {
    pub(crate) fn json(&self) -> Value {
        json!({
            "id": self.id,
            "creationTimeStamp": util::rfc3339(self.created_at),
            "lastModifiedTimeStamp": util::rfc3339(self.modified_at),
            "expirationTimeStamp": util::rfc3339(self.expires_at),
            "lastModifiedUser": "",
            "status": match self.status { CartStatus::Active => "Active", CartStatus::Ordered => "Ordered" },
            "lineItems": self.lines.iter().map(CartLine::json).collect::<Vec<_>>(),
            "links": {"self": link(format!("/customers/{}/carts/{}", self.customer_id, self.id))},
            "attributes": {"objectType": "Cart"},
        })
    }
}

impl Order {
    fn base_uri(&self) -> String {
        format!("/customers/{}/orders/{}", self.customer_id, self.id)
    }

    pub(crate) fn json(&self) -> Value {
        let status = match self.status {
            OrderStatus::Pending => "pending",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled { .. } => "cancelled",
        };
        let provisioning = link(format!("{}/provisioningstatus", self.base_uri()));
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|line| {
                let mut links = json!({"provisioningStatus": provisioning});
                if let (Some(sub), Value::Object(map)) = (&line.subscription_id, &mut links) {
                    map.insert(
                        "subscription".into(),
                        link(format!(
                            "/customers/{}/subscriptions/{sub}",
                            self.customer_id
                        )),
                    );
                }
                json!({
                    "lineItemNumber": line.number,
                    "offerId": line.item.catalog_item_id,
                    "subscriptionId": line.subscription_id,
                    "friendlyName": line.item.friendly_name,
                    "quantity": line.item.quantity,
                    "termDuration": line.item.term_duration,
                    "transactionType": "New",
                    "partnerIdOnRecord": line.item.partner_id_on_record,
                    "provisioningContext": line.item.provisioning_context,
                    "links": links,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "alternateId": self.id.get(..12).unwrap_or(&self.id),
            "referenceCustomerId": self.customer_id,
            "billingCycle": self.lines.first().map(|l| l.item.billing_cycle.as_str()).unwrap_or("monthly"),
            "transactionType": "UserPurchase",
            "currencyCode": "USD",
            "currencySymbol": "$",
            "creationDate": util::rfc3339(self.created_at),
            "status": status,
            "lineItems": lines,
            "links": {"self": link(self.base_uri()), "provisioningStatus": provisioning},
            "attributes": {"objectType": "Order"},
        })
    }

    /// The `provisioningstatus` collection.
    pub(crate) fn provisioning_json(&self) -> Value {
        let items: Vec<Value> = self
            .lines
            .iter()
            .map(|line| {
                let (status, quantity_status) = match self.status {
                    OrderStatus::Pending => ("PrefulfillmentPending", "pending"),
                    OrderStatus::Completed => ("Fulfilled", "success"),
                    OrderStatus::Cancelled { .. } => ("Unfulfilled", "failed"),
                };
                let mut item = json!({
                    "lineItemNumber": line.number,
                    "status": status,
                    "quantityProvisioningInformation": [{"quantity": line.item.quantity, "status": quantity_status}],
                    "subscriptionId": line.subscription_id,
                });
                if let (OrderStatus::Cancelled { code, description }, Value::Object(map)) = (&self.status, &mut item) {
                    map.insert("error".into(), json!({"code": code, "description": description}));
                }
                item
            })
            .collect();
        json!({
            "totalCount": items.len(),
            "items": items,
            "links": {"self": link(format!("{}/provisioningstatus", self.base_uri()))},
            "attributes": {"objectType": "Collection"},
        })
    }
}

impl Subscription {
    pub(crate) fn json(&self, now: OffsetDateTime) -> Value {
        let in_window =
            self.status != SubscriptionStatus::Deleted && self.in_cancellation_window(now);
        let window_end = self.window_start + CANCELLATION_WINDOW;
        let actions: Vec<&str> = match self.status {
            SubscriptionStatus::Deleted => vec![],
            _ if in_window => vec!["edit", "cancel"],
            _ => vec!["edit"],
        };
        let refund_options = if in_window {
            json!([{"type": "Full", "expiresAfter": util::rfc3339(window_end)}])
        } else {
            json!([])
        };
        json!({
            "id": self.id,
            "offerId": self.offer_id,
            "entitlementId": self.id.to_ascii_lowercase(),
            "offerName": self.friendly_name,
            "friendlyName": self.friendly_name,
            "quantity": self.quantity,
            "unitType": "Licenses",
            "creationDate": util::rfc3339(self.created_at),
            "effectiveStartDate": util::date_midnight(self.effective_start),
            "commitmentEndDate": util::date_midnight(self.commitment_end),
            "status": self.status.as_str(),
            "autoRenewEnabled": self.auto_renew,
            "billingType": "license",
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
            "renewalTermDuration": self.term_duration,
            "hasPurchasableAddons": false,
            "isTrial": false,
            "isMicrosoftProduct": true,
            "publisherName": "Microsoft Corporation",
            "actions": actions,
            "partnerId": self.partner_id,
            "suspensionReasons": if self.status == SubscriptionStatus::Suspended { json!(["ResellerInitiated"]) } else { json!([]) },
            "contractType": "subscription",
            "refundOptions": refund_options,
            "orderId": self.order_id,
            "links": {"self": link(format!("/customers/{}/subscriptions/{}", self.customer_id, self.id))},
            "attributes": {"etag": self.etag, "objectType": "Subscription"},
        })
    }
}
