//! WatchOrder fan-out across replicas.
//!
//! Each replica subscribes to `order_status_changed` and `order_item_status_changed` with a
//! name unique to the replica (`ordering-watch-<uuid>`) as a live fan-out subscription
//! ([`SubscriptionSpec::live`]: forgotten by the bus once the replica is gone), so every replica
//! sees every change whichever replica made it. Deliveries are acknowledged at once and fanned out
//! in-process with a broadcast of order ids; a watcher then reads the order's recorded history
//! from the database (the source of truth) and pushes each change after the last one it sent.
//! Watchers also re-read on a short interval, so a missed event never leaves one stuck.

use futures::StreamExt;
use marketplace_proto::events::v1::Envelope;
use marketplace_proto::events::v1::envelope::Payload;
use platform::bus::{SharedBus, SubscriptionSpec};
use prost::Message;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Broadcasts the ids of orders that changed.
#[derive(Debug, Clone)]
pub(crate) struct WatchHub {
    sender: broadcast::Sender<String>,
}

impl WatchHub {
    /// Subscribes this replica and starts the fan-out task (stopped by `stop`).
    pub(crate) async fn start(
        bus: &SharedBus,
        stop: CancellationToken,
    ) -> anyhow::Result<(Self, tokio::task::JoinHandle<()>)> {
        let (sender, _) = broadcast::channel(1024);
        let name = format!("ordering-watch-{}", uuid::Uuid::new_v4().simple());
        let spec = SubscriptionSpec::live(
            name,
            [
                "marketplace.ordering.order_status_changed",
                "marketplace.ordering.order_item_status_changed",
            ],
        );
        let mut stream = bus.subscribe(spec).await?;
        let fan_out = sender.clone();
        let task = tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => break,
                    next = stream.next() => next,
                };
                let delivery = match next {
                    None => break,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "watch subscription error");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                    Some(Ok(delivery)) => delivery,
                };
                let order_id = match Envelope::decode(delivery.payload.as_ref())
                    .ok()
                    .and_then(|e| e.payload)
                {
                    Some(Payload::OrderStatusChanged(p)) => Some(p.order_id),
                    Some(Payload::OrderItemStatusChanged(p)) => Some(p.order_id),
                    _ => None,
                };
                if let Err(error) = delivery.ack().await {
                    tracing::debug!(%error, "watch ack failed");
                }
                if let Some(order_id) = order_id {
                    // No receiver just means nobody is watching right now.
                    let _ = fan_out.send(order_id);
                }
            }
        });
        Ok((Self { sender }, task))
    }

    /// A receiver of changed order ids.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }
}
