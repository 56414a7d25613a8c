//! Who may see and sell which plans: a reseller with a valid partner CSN sees Autodesk's
//! specialized catalog; without one only the Open catalog.

use super::ids::Csn;
use super::plan::{Plan, Tier};

/// The rule a reseller without CSN breaks when quoting a specialized plan.
pub const CSN_REQUIRED: &str = "autodesk.csn_required";

/// Whose eligibility applies to a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Staff or a service reading without a reseller: everything is visible.
    Everyone,
    /// A reseller (or one of its users or customers).
    Reseller {
        /// Reseller id.
        reseller_id: String,
        /// The reseller's Autodesk partner CSN, if it has a valid one.
        csn: Option<Csn>,
    },
}

impl Audience {
    /// Whether the specialized catalog is visible.
    pub fn sees_specialized(&self) -> bool {
        match self {
            Self::Everyone => true,
            Self::Reseller { csn, .. } => csn.is_some(),
        }
    }

    /// Whether a plan of `tier` is visible.
    pub fn can_see(&self, tier: Tier) -> bool {
        tier == Tier::Open || self.sees_specialized()
    }

    /// Checks that the audience may sell `plan`; the error names the broken rule and explains.
    pub fn check_sellable(&self, plan: &Plan) -> Result<(), (&'static str, String)> {
        if self.can_see(plan.tier) {
            return Ok(());
        }
        let reseller = match self {
            Self::Reseller { reseller_id, .. } => reseller_id.as_str(),
            Self::Everyone => "",
        };
        Err((
            CSN_REQUIRED,
            format!(
                "plan {} is in the Autodesk specialized catalog; reseller {reseller} needs a valid 10-digit partner CSN",
                plan.id
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specialized_needs_a_csn() {
        let without = Audience::Reseller {
            reseller_id: "r".into(),
            csn: None,
        };
        let with = Audience::Reseller {
            reseller_id: "r".into(),
            csn: Csn::parse("5100000001").ok(),
        };
        assert!(without.can_see(Tier::Open));
        assert!(!without.can_see(Tier::Specialized));
        assert!(with.can_see(Tier::Specialized));
        assert!(Audience::Everyone.can_see(Tier::Specialized));
    }
}
