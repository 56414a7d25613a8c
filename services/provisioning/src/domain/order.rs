//! The fulfilment order a connector carries out: one order item at one vendor, with the facts
//! ordering sent along (event-carried state transfer).

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// The change an order item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A new subscription.
    NewSubscription,
    /// More seats on an existing subscription.
    SeatIncrease,
    /// Fewer seats on an existing subscription.
    SeatDecrease,
    /// Suspend the subscription.
    Suspension,
    /// Resume a suspended subscription.
    Resumption,
    /// Cancel the subscription.
    Cancellation,
    /// Turn auto-renew on.
    AutoRenewOn,
    /// Turn auto-renew off.
    AutoRenewOff,
    /// Renew the subscription.
    Renewal,
    /// Marketplace-only price change: nothing to do at the vendor.
    MarkupChange,
}

impl Change {
    /// Stable name (storage).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewSubscription => "new_subscription",
            Self::SeatIncrease => "seat_increase",
            Self::SeatDecrease => "seat_decrease",
            Self::Suspension => "suspension",
            Self::Resumption => "resumption",
            Self::Cancellation => "cancellation",
            Self::AutoRenewOn => "auto_renew_on",
            Self::AutoRenewOff => "auto_renew_off",
            Self::Renewal => "renewal",
            Self::MarkupChange => "markup_change",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new_subscription" => Self::NewSubscription,
            "seat_increase" => Self::SeatIncrease,
            "seat_decrease" => Self::SeatDecrease,
            "suspension" => Self::Suspension,
            "resumption" => Self::Resumption,
            "cancellation" => Self::Cancellation,
            "auto_renew_on" => Self::AutoRenewOn,
            "auto_renew_off" => Self::AutoRenewOff,
            "renewal" => Self::Renewal,
            "markup_change" => Self::MarkupChange,
            _ => return None,
        })
    }
}

/// Subscription term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Term {
    /// Not given.
    #[default]
    Unspecified,
    /// One month.
    P1M,
    /// One year.
    P1Y,
    /// Three years.
    P3Y,
}

impl Term {
    /// ISO-8601 duration as the vendors write it (`P1Y` when unspecified).
    pub fn iso(self) -> &'static str {
        match self {
            Self::P1M => "P1M",
            Self::P1Y | Self::Unspecified => "P1Y",
            Self::P3Y => "P3Y",
        }
    }
}

/// Billing cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BillingCycle {
    /// Not given.
    #[default]
    Unspecified,
    /// Monthly.
    Monthly,
    /// Annual.
    Annual,
    /// Triennial.
    Triennial,
}

impl BillingCycle {
    /// Partner Center's spelling (`monthly` when unspecified).
    pub fn as_vendor_str(self) -> &'static str {
        match self {
            Self::Monthly | Self::Unspecified => "monthly",
            Self::Annual => "annual",
            Self::Triennial => "triennial",
        }
    }
}

/// Reseller facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reseller {
    /// Marketplace reseller id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Autodesk partner CSN of the reseller.
    pub autodesk_partner_csn: String,
    /// Microsoft MPN id of the indirect reseller.
    pub microsoft_mpn_id: String,
}

/// A customer contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// E-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// `contract_manager`, `software_coordinator`, `global_admin`, `billing`.
    pub role: String,
    /// Phone.
    pub phone: String,
}

/// Customer facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    /// Marketplace customer id.
    pub id: String,
    /// Company name.
    pub name: String,
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// ISO country code.
    pub country_code: String,
    /// Existing Microsoft tenant id (reuse), if any.
    pub microsoft_tenant_id: String,
    /// Microsoft tenant domain (`x.onmicrosoft.com`).
    pub microsoft_tenant_domain: String,
    /// How the tenant is obtained while its id is unknown: `create` or `link_existing` (an
    /// existing tenant is never created: it is linked once the customer accepts the reseller
    /// relationship).
    pub microsoft_tenant_link_mode: String,
    /// Whether the customer accepted the Microsoft Customer Agreement.
    pub mca_accepted: bool,
    /// When it was accepted.
    pub mca_accept_time: Option<OffsetDateTime>,
    /// Who accepted it (Partner Center's `primaryContact` of the attestation).
    pub mca_contact: Option<Contact>,
    /// Autodesk end-customer CSN, if known.
    pub autodesk_csn: String,
    /// Language code.
    pub language_code: String,
    /// City.
    pub city: String,
    /// Address line 1.
    pub address_line1: String,
    /// Postal code.
    pub postal_code: String,
}

impl Customer {
    /// The contact with `role` (with its index, for field paths), else the first contact.
    pub fn contact(&self, role: &str) -> Option<(usize, &Contact)> {
        self.contacts
            .iter()
            .enumerate()
            .find(|(_, c)| c.role == role)
            .or_else(|| self.contacts.iter().enumerate().next())
    }
}

/// Plan facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Marketplace plan id.
    pub plan_id: String,
    /// Vendor id (`autodesk`, `microsoft`).
    pub vendor_id: String,
    /// Plan name.
    pub name: String,
    /// Autodesk part number / Microsoft catalog item id.
    pub vendor_sku: String,
    /// Term.
    pub term: Term,
    /// Billing cycle.
    pub billing_cycle: BillingCycle,
    /// Connector name (`autodesk`, `microsoft_nce`).
    pub connector: String,
}

/// One order item to carry out at a vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentOrder {
    /// Ordering's request id (the job key).
    pub request_id: String,
    /// Order id.
    pub order_id: String,
    /// Order number (human readable).
    pub order_number: String,
    /// Order item id.
    pub order_item_id: String,
    /// The change.
    pub change: Change,
    /// Reseller.
    pub reseller: Reseller,
    /// Customer.
    pub customer: Customer,
    /// Plan.
    pub plan: Plan,
    /// Seats after the change.
    pub quantity: i32,
    /// Seats before the change (changes only).
    pub previous_quantity: i32,
    /// Ordering parameters (possibly corrected by a re-submission).
    pub parameters: BTreeMap<String, String>,
    /// Marketplace subscription id (changes).
    pub subscription_id: String,
    /// Vendor subscription id (changes).
    pub vendor_subscription_id: String,
}

impl FulfilmentOrder {
    /// A non-empty ordering parameter.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Seats to add or remove for a seat change: the difference to the previous quantity when
    /// it is known, else the quantity itself.
    pub fn seat_delta(&self) -> i32 {
        if self.previous_quantity > 0 {
            i32::try_from(self.quantity.abs_diff(self.previous_quantity)).unwrap_or(i32::MAX)
        } else {
            self.quantity
        }
    }
}

/// The order plus what the worker knows about the job.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// Job id.
    pub job_id: String,
    /// Bumped by staff retries of failed jobs and re-submissions, so the vendor sees a new order.
    pub generation: i64,
    /// The order.
    pub order: FulfilmentOrder,
}

impl JobContext {
    /// The stable client reference of this job at the vendor (Autodesk `poNumber` /
    /// `partnerOrderId`): the same across crashes and retries, new after a re-submission.
    pub fn client_reference(&self) -> String {
        if self.generation == 0 {
            self.job_id.clone()
        } else {
            format!("{}-{}", self.job_id, self.generation)
        }
    }
}
