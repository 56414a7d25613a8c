//! Consumers: `catalog-from-ordering` records each reseller's Autodesk partner CSN from
//! `marketplace.ordering.reseller_profile_changed` (the eligibility for the specialized catalog).

use marketplace_platform::clock::{from_timestamp, to_micros};
use marketplace_platform::consumer::{EventHandler, HandleError};
use marketplace_platform::outbox::subject;
use marketplace_proto::events::v1::Envelope;
use marketplace_proto::events::v1::envelope::Payload;
use std::sync::Arc;

use sqlx::AnyConnection;

use crate::domain::ids::Csn;
use crate::service::read_model::ReadModel;
use crate::store::eligibility;

/// The producing service name of the catalog's own events.
pub const SOURCE: &str = "catalog";

/// Durable consumer name.
pub const CONSUMER_NAME: &str = "catalog-from-ordering";

/// Subjects the consumer listens to.
pub fn subjects() -> Vec<String> {
    vec![subject("ordering", "reseller_profile_changed")]
}

/// Applies reseller profile changes: a valid 10-digit CSN unlocks the specialized catalog; an
/// empty or malformed one locks it. Older changes arriving late are ignored.
#[derive(Debug, Clone)]
pub struct ResellerProfileHandler {
    read_model: Arc<ReadModel>,
}

impl ResellerProfileHandler {
    /// A handler that tells `read_model` about each change.
    pub fn new(read_model: Arc<ReadModel>) -> Self {
        Self { read_model }
    }
}

#[async_trait::async_trait]
impl EventHandler for ResellerProfileHandler {
    async fn handle(&self, conn: &mut AnyConnection, event: &Envelope) -> Result<(), HandleError> {
        let Some(Payload::ResellerProfileChanged(change)) = &event.payload else {
            return Ok(());
        };
        let reseller = change.reseller.as_ref().ok_or_else(|| {
            HandleError::Reject("reseller_profile_changed without reseller".into())
        })?;
        let reseller_id = if reseller.reseller_id.is_empty() {
            event.reseller_id.as_str()
        } else {
            reseller.reseller_id.as_str()
        };
        if reseller_id.is_empty() {
            return Err(HandleError::Reject(
                "reseller_profile_changed without reseller id".into(),
            ));
        }
        let raw = reseller.autodesk_partner_csn.trim();
        let csn = match Csn::parse(raw) {
            Ok(csn) => Some(csn),
            Err(_) if raw.is_empty() => None,
            Err(error) => {
                tracing::warn!(reseller_id, %error, "reseller has a malformed partner CSN; specialized catalog stays locked");
                None
            }
        };
        let at = event
            .occur_time
            .as_ref()
            .and_then(from_timestamp)
            .map_or(0, to_micros);
        eligibility::record(conn, reseller_id, csn.as_ref(), at).await?;
        self.read_model.invalidate();
        Ok(())
    }
}
