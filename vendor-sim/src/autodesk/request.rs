//! The order request body and its synchronous (shape) validation.
//!
//! Body (camelCase, modelled on the PlaceOrder InitialOrder payload, plus `action`):
//! ```json
//! {
//!   "action": "New",                       // New | AddSeats | Renewal | TurnOnAutoRenew (fulfillment)
//!                                          // RemoveSeats | TurnOffAutoRenew (revoke)
//!   "poNumber": "PO-1001",                 // client reference (idempotency key) ...
//!   "partnerOrderId": "ord-42/item-1",     // ... or this one, which wins when both are sent
//!   "reseller": "5100000002",              // reseller CSN (New)
//!   "soldTo": "5100000002",
//!   "endCustomerAccount": {"csn": null, "name": "Acme", "countryCode": "DE", ...},   // New
//!   "endCustomerContractManager": {"firstName": "Ada", "lastName": "L", "email": "ada@acme.example"}, // New
//!   "items": [{"partNumber": "C1RK1WW1762T548", "quantity": 3}]  // New: partNumber; others: subscriptionId
//! }
//! ```
//! Shape errors are answered synchronously (400, `4000`); business rules (unknown part number,
//! invalid e-mail, subscription state) fail the order asynchronously at the status endpoint.

use serde::Deserialize;

use super::error::AdError;

/// Which endpoint received the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Fulfillment,
    Revoke,
}

/// The order actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    New,
    AddSeats,
    RemoveSeats,
    Renewal,
    TurnOffAutoRenew,
    TurnOnAutoRenew,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "New" => Action::New,
            "AddSeats" => Action::AddSeats,
            "RemoveSeats" => Action::RemoveSeats,
            "Renewal" => Action::Renewal,
            "TurnOffAutoRenew" => Action::TurnOffAutoRenew,
            "TurnOnAutoRenew" => Action::TurnOnAutoRenew,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::New => "New",
            Action::AddSeats => "AddSeats",
            Action::RemoveSeats => "RemoveSeats",
            Action::Renewal => "Renewal",
            Action::TurnOffAutoRenew => "TurnOffAutoRenew",
            Action::TurnOnAutoRenew => "TurnOnAutoRenew",
        }
    }

    fn endpoint(self) -> Endpoint {
        match self {
            Action::RemoveSeats | Action::TurnOffAutoRenew => Endpoint::Revoke,
            Action::New | Action::AddSeats | Action::Renewal | Action::TurnOnAutoRenew => {
                Endpoint::Fulfillment
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireOrder {
    action: Option<String>,
    po_number: Option<String>,
    partner_order_id: Option<String>,
    reseller: Option<String>,
    end_customer_account: Option<WireAccount>,
    end_customer_contract_manager: Option<WireContact>,
    #[serde(default)]
    items: Vec<WireItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAccount {
    csn: Option<String>,
    name: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContact {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireItem {
    part_number: Option<String>,
    subscription_id: Option<String>,
    quantity: Option<i64>,
}

/// A shape-valid order.
#[derive(Debug, Clone)]
pub(crate) struct OrderRequest {
    pub(crate) action: Action,
    /// `partnerOrderId`, else `poNumber`.
    pub(crate) reference: String,
    pub(crate) po_number: Option<String>,
    pub(crate) partner_order_id: Option<String>,
    pub(crate) end_customer: Option<EndCustomer>,
    pub(crate) contract_manager: Option<Contact>,
    pub(crate) lines: Vec<Line>,
}

#[derive(Debug, Clone)]
pub(crate) struct EndCustomer {
    pub(crate) csn: Option<String>,
    pub(crate) name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub(crate) email: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) part_number: Option<String>,
    pub(crate) subscription_id: Option<String>,
    pub(crate) quantity: Option<u32>,
}

const MAX_QUANTITY: i64 = 10_000;

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(value: Option<String>, field: &str) -> Result<String, AdError> {
    non_empty(value).ok_or_else(|| AdError::bad_request(format!("{field} is required")))
}

fn is_csn(value: &str) -> bool {
    value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit())
}

impl WireOrder {
    /// Validates the shape of an order received on `endpoint`.
    pub(crate) fn validate(self, endpoint: Endpoint) -> Result<OrderRequest, AdError> {
        let action_text = required(self.action, "action")?;
        let action = Action::parse(&action_text).ok_or_else(|| {
            AdError::bad_request(format!(
                "action {action_text:?} is not one of New, AddSeats, RemoveSeats, Renewal, TurnOffAutoRenew, TurnOnAutoRenew"
            ))
        })?;
        if action.endpoint() != endpoint {
            let path = match action.endpoint() {
                Endpoint::Fulfillment => "/v2/orders/fulfillment",
                Endpoint::Revoke => "/v2/orders/revoke",
            };
            return Err(AdError::bad_request(format!(
                "action {action_text} must be sent to {path}"
            )));
        }
        let po_number = non_empty(self.po_number);
        let partner_order_id = non_empty(self.partner_order_id);
        let reference = partner_order_id
            .clone()
            .or_else(|| po_number.clone())
            .ok_or_else(|| AdError::bad_request("poNumber (or partnerOrderId) is required"))?;
        if self.items.is_empty() {
            return Err(AdError::bad_request("items must contain at least one item"));
        }

        let (end_customer, contract_manager) = if action == Action::New {
            let reseller = required(self.reseller, "reseller")?;
            if !is_csn(&reseller) {
                return Err(AdError::bad_request("reseller must be a 10-digit CSN"));
            }
            let account = self
                .end_customer_account
                .ok_or_else(|| AdError::bad_request("endCustomerAccount is required"))?;
            let csn = non_empty(account.csn);
            if csn.as_deref().is_some_and(|c| !is_csn(c)) {
                return Err(AdError::bad_request(
                    "endCustomerAccount.csn must be a 10-digit CSN",
                ));
            }
            let name = required(account.name, "endCustomerAccount.name")?;
            let country = required(account.country_code, "endCustomerAccount.countryCode")?;
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(AdError::bad_request(
                    "endCustomerAccount.countryCode must be an ISO 3166 alpha-2 code",
                ));
            }
            let contact = self
                .end_customer_contract_manager
                .ok_or_else(|| AdError::bad_request("endCustomerContractManager is required"))?;
            required(contact.first_name, "endCustomerContractManager.firstName")?;
            required(contact.last_name, "endCustomerContractManager.lastName")?;
            let email = required(contact.email, "endCustomerContractManager.email")?;
            (Some(EndCustomer { csn, name }), Some(Contact { email }))
        } else {
            (None, None)
        };

        let lines = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| validate_item(action, i, item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrderRequest {
            action,
            reference,
            po_number,
            partner_order_id,
            end_customer,
            contract_manager,
            lines,
        })
    }
}

fn validate_item(action: Action, index: usize, item: WireItem) -> Result<Line, AdError> {
    let field = |name: &str| format!("items[{index}].{name}");
    let quantity = match item.quantity {
        Some(q) if !(1..=MAX_QUANTITY).contains(&q) => {
            return Err(AdError::bad_request(format!(
                "{} must be between 1 and {MAX_QUANTITY}",
                field("quantity")
            )));
        }
        Some(q) => Some(q as u32),
        None => None,
    };
    let part_number = non_empty(item.part_number);
    let subscription_id = non_empty(item.subscription_id);
    match action {
        Action::New => {
            if part_number.is_none() {
                return Err(AdError::bad_request(format!(
                    "{} is required",
                    field("partNumber")
                )));
            }
            if quantity.is_none() {
                return Err(AdError::bad_request(format!(
                    "{} is required",
                    field("quantity")
                )));
            }
        }
        Action::AddSeats | Action::RemoveSeats => {
            if subscription_id.is_none() {
                return Err(AdError::bad_request(format!(
                    "{} is required",
                    field("subscriptionId")
                )));
            }
            if quantity.is_none() {
                return Err(AdError::bad_request(format!(
                    "{} (the number of seats to {}) is required",
                    field("quantity"),
                    if action == Action::AddSeats {
                        "add"
                    } else {
                        "remove"
                    }
                )));
            }
        }
        Action::Renewal | Action::TurnOffAutoRenew | Action::TurnOnAutoRenew => {
            if subscription_id.is_none() {
                return Err(AdError::bad_request(format!(
                    "{} is required",
                    field("subscriptionId")
                )));
            }
        }
    }
    Ok(Line {
        part_number,
        subscription_id,
        quantity,
    })
}
