//! Demo data for the embedded mode: reseller `reseller-demo` and its customer `customer-demo`
//! (docs/service-conventions.md). Idempotent: existing rows are left alone.

use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use platform::clock::{SharedClock, to_micros};
use platform::outbox::Outbox;

use crate::domain::customer::Customer;
use crate::domain::reseller::Reseller;
use crate::events::{SOURCE, reseller_facts};
use crate::store::Store;

/// Seeds the demo reseller and customer; emits `reseller_profile_changed` when the reseller is new.
pub(crate) async fn demo(
    store: &Store,
    outbox: &Outbox,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let now = to_micros(clock.now());
    let reseller = Reseller::demo(now);
    let customer = Customer::demo(now);
    let mut tx = store.begin().await?;
    let inserted = store.insert_reseller(&mut tx, &reseller).await?;
    store.insert_customer(&mut tx, &customer).await?;
    if inserted {
        let payload = Payload::ResellerProfileChanged(ev::ResellerProfileChanged {
            reseller: Some(reseller_facts(&reseller.id, Some(&reseller))),
        });
        let envelope = platform::outbox::envelope(SOURCE, &reseller.id, "", payload, clock);
        outbox.append(&mut tx, &envelope, now).await?;
    }
    tx.commit().await?;
    outbox.notify();
    Ok(())
}
