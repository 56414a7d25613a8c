//! Kinds of notifications and who sees them.

/// A kind of notification; one template per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The order was submitted for processing.
    OrderSubmitted,
    /// The subscription is ready (seed 001, item 1).
    SubscriptionReady,
    /// The vendor processed the order item (seed 001, item 2).
    OrderProcessed,
    /// Activation is complete, with the vendor portal link (seed 001, item 3).
    ActivationComplete,
    /// Provisioning failed permanently (seed 000: Not Provisioned).
    ProvisioningFailed,
    /// The vendor needs more information (inquiring).
    VendorNeedsInformation,
    /// Microsoft NCE cancellation window is closing.
    CancellationWindowClosing,
    /// Last day to disable auto-renew (Autodesk: 5 business days before term end).
    AutoRenewLastDay,
    /// The subscription term ends soon.
    TermEndApproaching,
    /// Something distributor staff must look at.
    StaffAlert,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 10] = [
        Kind::OrderSubmitted,
        Kind::SubscriptionReady,
        Kind::OrderProcessed,
        Kind::ActivationComplete,
        Kind::ProvisioningFailed,
        Kind::VendorNeedsInformation,
        Kind::CancellationWindowClosing,
        Kind::AutoRenewLastDay,
        Kind::TermEndApproaching,
        Kind::StaffAlert,
    ];

    /// Stable name (stored, and the template file name).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderSubmitted => "order_submitted",
            Kind::SubscriptionReady => "subscription_ready",
            Kind::OrderProcessed => "order_processed",
            Kind::ActivationComplete => "activation_complete",
            Kind::ProvisioningFailed => "provisioning_failed",
            Kind::VendorNeedsInformation => "vendor_needs_information",
            Kind::CancellationWindowClosing => "cancellation_window_closing",
            Kind::AutoRenewLastDay => "auto_renew_last_day",
            Kind::TermEndApproaching => "term_end_approaching",
            Kind::StaffAlert => "staff_alert",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who a feed row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The users of one reseller.
    Reseller,
    /// Distributor staff.
    Staff,
}

impl Audience {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Reseller => "reseller",
            Audience::Staff => "staff",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("nope"), None);
    }
}
