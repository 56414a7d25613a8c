//! Autodesk simulator state: tokens, orders (transactions), subscriptions, and how an accepted
//! order completes once its provisioning delay has passed.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use super::codes;
use super::request::{Action, OrderRequest};
use crate::config::SimRules;
use crate::faults::Vendor;
use crate::journal::{EffectiveProvisioning, line_reference};
use crate::util;
use crate::util::email_invalid;

/// Term of every Autodesk subscription, in months.
const TERM_MONTHS: u32 = 12;
/// Auto-renew can be turned off only up to this many business days before the term ends.
const AUTO_RENEW_OFF_CUTOFF_BUSINESS_DAYS: u32 = 5;
/// Base of the simulator's Account Portal links.
const ACCOUNT_PORTAL: &str = "https://manage.autodesk.com";

#[derive(Debug, Default)]
pub(crate) struct AutodeskState {
    /// Issued access tokens and their expiry (wall time).
    pub(crate) tokens: HashMap<String, OffsetDateTime>,
    orders: HashMap<String, Order>,
    /// Client reference → transaction id.
    by_reference: HashMap<String, String>,
    subscriptions: BTreeMap<String, Subscription>,
    counter: u64,
}

#[derive(Debug, Clone)]
struct Order {
    seq: u64,
    transaction_id: String,
    request: OrderRequest,
    accepted_at: OffsetDateTime,
    due_at: OffsetDateTime,
    injected_failure: Option<(String, String)>,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
enum Outcome {
    Processing,
    Completed {
        at: OffsetDateTime,
        subscriptions: Vec<Subscription>,
        end_customer_csn: Option<String>,
        message: String,
    },
    Failed {
        at: OffsetDateTime,
        code: String,
        message: String,
        /// An injected system error (`"Error"`) rather than a business failure (`"Failed"`).
        system: bool,
    },
}

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    part_number: String,
    quantity: u32,
    start: Date,
    end: Date,
    auto_renew: bool,
    end_customer_csn: String,
}

/// One pending effect of an order line.
struct Effect {
    operation: &'static str,
    subscription_id: String,
    quantity: u32,
}

type Failure = (String, String);

fn fail(code: &str, message: impl Into<String>) -> Failure {
    (code.to_owned(), message.into())
}

/// A part number the vendor knows: 15 characters of `A-Z`, `0-9`, `-`, and not configured unknown.
fn part_number_known(part_number: &str, rules: &SimRules) -> bool {
    part_number.len() == 15
        && part_number
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !rules
            .autodesk_unknown_part_numbers
            .iter()
            .any(|p| p == part_number)
}

impl AutodeskState {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// The transaction already created for a client reference.
    pub(crate) fn transaction_for(&self, reference: &str) -> Option<&str> {
        self.by_reference.get(reference).map(String::as_str)
    }

    /// Issues an access token valid until `expires_at`, dropping expired ones.
    pub(crate) fn issue_token(
        &mut self,
        token: String,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) {
        self.tokens.retain(|_, exp| *exp > now);
        self.tokens.insert(token, expires_at);
    }

    /// Accepts an order; returns its transaction id.
    pub(crate) fn accept(
        &mut self,
        request: OrderRequest,
        accepted_at: OffsetDateTime,
        due_at: OffsetDateTime,
        injected_failure: Option<(String, String)>,
    ) -> String {
        let seq = self.next();
        let transaction_id = uuid::Uuid::new_v4().to_string();
        self.by_reference
            .insert(request.reference.clone(), transaction_id.clone());
        self.orders.insert(
            transaction_id.clone(),
            Order {
                seq,
                transaction_id: transaction_id.clone(),
                request,
                accepted_at,
                due_at,
                injected_failure,
                outcome: Outcome::Processing,
            },
        );
        transaction_id
    }

    /// Completes the orders that are due, in due order.
    pub(crate) fn materialize(
        &mut self,
        now: OffsetDateTime,
        rules: &SimRules,
        effects: &mut Vec<EffectiveProvisioning>,
    ) {
        let mut due: Vec<(OffsetDateTime, u64, String)> = self
            .orders
            .values()
            .filter(|o| matches!(o.outcome, Outcome::Processing) && o.due_at <= now)
            .map(|o| (o.due_at, o.seq, o.transaction_id.clone()))
            .collect();
        due.sort();
        for (_, _, transaction_id) in due {
            let Some(order) = self.orders.get(&transaction_id).cloned() else {
                continue;
            };
            let outcome = self.complete(&order, rules, effects);
            if let Some(stored) = self.orders.get_mut(&transaction_id) {
                stored.outcome = outcome;
            }
        }
    }

    fn complete(
        &mut self,
        order: &Order,
        rules: &SimRules,
        effects: &mut Vec<EffectiveProvisioning>,
    ) -> Outcome {
        let at = order.due_at;
        if let Some((code, message)) = &order.injected_failure {
            return Outcome::Failed {
                at,
                code: code.clone(),
                message: message.clone(),
                system: true,
            };
        }
        let result = if order.request.action == Action::New {
            self.apply_new(order, rules, at)
        } else {
            self.apply_change(order, at)
        };
        match result {
            Ok((changes, end_customer_csn, message)) => {
                let lines = changes.len();
                let mut touched = Vec::new();
                for (index, change) in changes.into_iter().enumerate() {
                    effects.push(EffectiveProvisioning {
                        vendor: Vendor::Autodesk,
                        operation: change.operation.to_owned(),
                        client_reference: line_reference(&order.request.reference, index, lines),
                        subscription_id: change.subscription_id.clone(),
                        quantity: change.quantity,
                        vendor_reference: order.transaction_id.clone(),
                        at,
                    });
                    if let Some(sub) = self.subscriptions.get(&change.subscription_id) {
                        touched.push(sub.clone());
                    }
                }
                Outcome::Completed {
                    at,
                    subscriptions: touched,
                    end_customer_csn,
                    message,
                }
            }
            Err((code, message)) => Outcome::Failed {
                at,
                code,
                message,
                system: false,
            },
        }
    }

    fn apply_new(
        &mut self,
        order: &Order,
        rules: &SimRules,
        at: OffsetDateTime,
    ) -> Result<(Vec<Effect>, Option<String>, String), Failure> {
        let request = &order.request;
        if let Some(contact) = &request.contract_manager
            && email_invalid(&contact.email)
        {
            return Err(fail(
                codes::INVALID_CONTACT_EMAIL,
                format!(
                    "contract manager e-mail {} is not a valid address",
                    contact.email
                ),
            ));
        }
        for line in &request.lines {
            let part = line.part_number.as_deref().unwrap_or_default();
            if !part_number_known(part, rules) {
                return Err(fail(
                    codes::PART_NUMBER_NOT_FOUND,
                    format!("part number {part} not found"),
                ));
            }
        }
        let csn = match request.end_customer.as_ref().and_then(|c| c.csn.clone()) {
            Some(csn) => csn,
            None => format!("{}", 5_200_000_000u64 + self.next()),
        };
        let start = at.date();
        let mut changes = Vec::new();
        for line in &request.lines {
            let id = format!("{}", 72_000_000_000_000u64 + self.next());
            let quantity = line.quantity.unwrap_or(1);
            self.subscriptions.insert(
                id.clone(),
                Subscription {
                    id: id.clone(),
                    part_number: line.part_number.clone().unwrap_or_default(),
                    quantity,
                    start,
                    end: util::term_end(start, TERM_MONTHS),
                    auto_renew: true,
                    end_customer_csn: csn.clone(),
                },
            );
            changes.push(Effect {
                operation: "new",
                subscription_id: id,
                quantity,
            });
        }
        let name = request
            .end_customer
            .as_ref()
            .map(|c| c.name.as_str())
            .unwrap_or_default();
        Ok((
            changes,
            Some(csn),
            format!(
                "order processed; subscriptions created for {name}; the contract manager receives the Account Portal activation e-mail"
            ),
        ))
    }

    /// Seat changes, renewals and auto-renew changes: all lines are checked on a working copy
    /// and committed together, so a failing line leaves every subscription untouched.
    fn apply_change(
        &mut self,
        order: &Order,
        at: OffsetDateTime,
    ) -> Result<(Vec<Effect>, Option<String>, String), Failure> {
        let action = order.request.action;
        let today = at.date();
        let mut working: BTreeMap<String, Subscription> = BTreeMap::new();
        let mut changes = Vec::new();
        for line in &order.request.lines {
            let id = line.subscription_id.clone().unwrap_or_default();
            if !working.contains_key(&id) {
                let sub = self.subscriptions.get(&id).cloned().ok_or_else(|| {
                    fail(
                        codes::SUBSCRIPTION_NOT_FOUND,
                        format!("subscription {id} not found"),
                    )
                })?;
                working.insert(id.clone(), sub);
            }
            let Some(sub) = working.get_mut(&id) else {
                continue;
            };
            let operation = match action {
                Action::AddSeats => {
                    sub.quantity += line.quantity.unwrap_or(0);
                    "add_seats"
                }
                Action::RemoveSeats => {
                    let remove = line.quantity.unwrap_or(0);
                    if remove >= sub.quantity {
                        return Err(fail(
                            codes::INVALID_SEAT_QUANTITY,
                            format!(
                                "cannot remove {remove} of the {} seats of subscription {id}; at least one seat must remain (turn off auto-renew to end it)",
                                sub.quantity
                            ),
                        ));
                    }
                    sub.quantity -= remove;
                    "remove_seats"
                }
                Action::Renewal => {
                    if !sub.auto_renew {
                        return Err(fail(
                            codes::AUTO_RENEW_CANNOT_BE_REENABLED,
                            format!(
                                "subscription {id} has auto-renew turned off and cannot be renewed; order a new subscription"
                            ),
                        ));
                    }
                    let next_start = sub.end.next_day().unwrap_or(sub.end);
                    sub.end = util::term_end(next_start, TERM_MONTHS);
                    if let Some(quantity) = line.quantity {
                        sub.quantity = quantity;
                    }
                    "renewal"
                }
                Action::TurnOffAutoRenew => {
                    if !sub.auto_renew {
                        return Err(fail(
                            codes::AUTO_RENEW_ALREADY_OFF,
                            format!("auto-renew of subscription {id} is already off"),
                        ));
                    }
                    if util::business_days_between(today, sub.end)
                        < AUTO_RENEW_OFF_CUTOFF_BUSINESS_DAYS
                    {
                        return Err(fail(
                            codes::AUTO_RENEW_CUTOFF_PASSED,
                            format!(
                                "auto-renew can be turned off only up to {AUTO_RENEW_OFF_CUTOFF_BUSINESS_DAYS} business days before the term ends ({})",
                                util::date(sub.end)
                            ),
                        ));
                    }
                    sub.auto_renew = false;
                    "auto_renew_off"
                }
                Action::TurnOnAutoRenew => {
                    let message = if sub.auto_renew {
                        format!("auto-renew of subscription {id} is already on")
                    } else {
                        format!(
                            "auto-renew of subscription {id} was turned off and can never be turned back on; order a new subscription"
                        )
                    };
                    return Err(fail(codes::AUTO_RENEW_CANNOT_BE_REENABLED, message));
                }
                Action::New => continue,
            };
            changes.push(Effect {
                operation,
                subscription_id: id.clone(),
                quantity: sub.quantity,
            });
        }
        self.subscriptions.extend(working);
        let message = match action {
            Action::RemoveSeats => "seats removed; no refund is issued".to_owned(),
            _ => "order processed".to_owned(),
        };
        Ok((changes, None, message))
    }

    /// The `GET /v1/orders/status/{id}` body, or `None` for an unknown transaction.
    pub(crate) fn status_json(&self, transaction_id: &str) -> Option<Value> {
        let order = self.orders.get(transaction_id)?;
        let request = &order.request;
        let mut body = json!({
            "transactionId": order.transaction_id,
            "action": request.action.as_str(),
            "poNumber": request.po_number,
            "partnerOrderId": request.partner_order_id,
        });
        let extra = match &order.outcome {
            Outcome::Processing => json!({
                "status": "Processing",
                "message": "order accepted and being processed",
                "last_updated": util::rfc3339(order.accepted_at),
            }),
            Outcome::Completed {
                at,
                subscriptions,
                end_customer_csn,
                message,
            } => {
                let csn = end_customer_csn
                    .clone()
                    .or_else(|| subscriptions.first().map(|s| s.end_customer_csn.clone()));
                json!({
                    "status": "Completed",
                    "message": message,
                    "last_updated": util::rfc3339(*at),
                    "endCustomerCsn": csn,
                    "subscriptions": subscriptions.iter().map(subscription_json).collect::<Vec<_>>(),
                    "accountPortalUrl": format!("{ACCOUNT_PORTAL}/products?csn={}", csn.unwrap_or_default()),
                })
            }
            Outcome::Failed {
                at,
                code,
                message,
                system,
            } => json!({
                "status": if *system { "Error" } else { "Failed" },
                "message": message,
                "last_updated": util::rfc3339(*at),
                "error": {"code": code, "message": message},
            }),
        };
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        Some(body)
    }
}

fn subscription_json(sub: &Subscription) -> Value {
    json!({
        "subscriptionId": sub.id,
        "partNumber": sub.part_number,
        "quantity": sub.quantity,
        "startDate": util::date(sub.start),
        "endDate": util::date(sub.end),
        "autoRenew": sub.auto_renew,
        "status": "Active",
        "accountPortalUrl": format!("{ACCOUNT_PORTAL}/billing/subscriptions/{}", sub.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_part_number_rules() {
        assert!(email_invalid("ada@acme.invalid"));
        assert!(email_invalid("ada.acme.example"));
        assert!(email_invalid("ada@localhost"));
        assert!(!email_invalid("ada@acme.example"));
        let rules = SimRules::default();
        assert!(part_number_known("C1RK1WW1762T548", &rules));
        assert!(!part_number_known("SHORT", &rules));
        assert!(!part_number_known("000000000000000", &rules));
    }
}
