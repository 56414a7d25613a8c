//! OrderService: views, detail, notes, drafts, re-submission and live tracking.

use std::pin::Pin;

use futures::Stream;
use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::order_service_server::OrderService;
use platform::ServiceError;
use platform::clock::{from_timestamp, to_micros};
use platform::identity::{Principal, Role};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Orders, Reply, convert, cursor, next_token, own_customer, principal, reply};
use crate::context::Ctx;
use crate::domain::order::Order;
use crate::domain::state::OrderStatus;
use crate::placing::{self, visible_order};
use crate::store::OrderFilter;

const BUYERS: [Role; 2] = [Role::ResellerAdmin, Role::ResellerUser];

/// The statuses of a view (`None` = every status): an unspecified view is RECENT, the page
/// seed 004 opens on; ALL lists both views.
fn view_statuses(view: i32, state: i32) -> Result<Option<Vec<OrderStatus>>, ServiceError> {
    use OrderStatus::*;
    let view = pb::OrderView::try_from(view)
        .map_err(|_| ServiceError::invalid_field("view", "unknown order view"))?;
    let state = pb::OrderStateFilter::try_from(state)
        .map_err(|_| ServiceError::invalid_field("state", "unknown state filter"))?;
    Ok(match view {
        pb::OrderView::All => None,
        pb::OrderView::Unspecified | pb::OrderView::Recent => Some(
            OrderStatus::ALL
                .into_iter()
                .filter(|s| s.is_recent())
                .collect(),
        ),
        pb::OrderView::Historical => Some(match state {
            pb::OrderStateFilter::Active => vec![InProgress, Completed, CompletedWithErrors],
            pb::OrderStateFilter::Draft => vec![Draft],
            pb::OrderStateFilter::All | pb::OrderStateFilter::Unspecified => OrderStatus::ALL
                .into_iter()
                .filter(|s| !s.is_recent())
                .collect(),
        }),
    })
}

impl Orders {
    async fn list(
        &self,
        p: &Principal,
        req: pb::ListOrdersRequest,
    ) -> Result<pb::ListOrdersResponse, ServiceError> {
        let ctx = &self.0;
        let view = view_statuses(req.view, req.state)?;
        let reseller = p.reseller_filter(&req.reseller_id)?;
        let customer = match own_customer(p)? {
            Some(own) if !req.customer_id.is_empty() && req.customer_id != own => {
                return Ok(pb::ListOrdersResponse::default());
            }
            Some(own) => Some(own),
            None if req.customer_id.is_empty() => None,
            None => Some(req.customer_id.clone()),
        };
        let mut asked = Vec::new();
        for (i, s) in req.statuses.iter().enumerate() {
            match convert::order_status_from(*s) {
                Some(st) => asked.push(st),
                None => {
                    return Err(ServiceError::invalid_field(
                        format!("statuses[{i}]"),
                        "unknown order status",
                    ));
                }
            }
        }
        let statuses = match (view, asked.is_empty()) {
            (None, _) => asked,
            (Some(view), true) => view,
            (Some(view), false) => {
                let both: Vec<OrderStatus> =
                    asked.into_iter().filter(|s| view.contains(s)).collect();
                if both.is_empty() {
                    return Ok(pb::ListOrdersResponse::default());
                }
                both
            }
        };
        let filter = OrderFilter {
            reseller_id: reseller.clone(),
            customer_id: customer.clone(),
            statuses,
            created_from: time_filter(req.create_time_from.as_ref(), "create_time_from")?,
            created_to: time_filter(req.create_time_to.as_ref(), "create_time_to")?,
            hide_markup_only: p.role.is_customer(),
        };
        let limit = platform::paging::page_size(req.page_size)?;
        let scope = format!("orders:{filter:?}");
        let after = cursor(ctx, &scope, &req.page_token)?;
        let mut conn = ctx.store.conn().await?;
        let (orders, next) = ctx
            .store
            .list_orders(&mut conn, &filter, after.as_ref(), limit)
            .await?;
        Ok(pb::ListOrdersResponse {
            orders: orders
                .iter()
                .map(|o| convert::order(o, p.role.is_customer()))
                .collect(),
            next_page_token: next_token(ctx, &scope, next),
        })
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<Order, ServiceError> {
        let mut conn = self.0.store.conn().await?;
        visible_order(p, self.0.store.order(&mut conn, id).await?, id)
    }
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchOrderResponse, tonic::Status>> + Send + 'static>>;

fn update(order: &Order, change: &str, customer_view: bool) -> pb::WatchOrderResponse {
    pb::WatchOrderResponse {
        order: Some(convert::order(order, customer_view)),
        change: change.to_string(),
        settled: order.is_settled(),
        version: order.version,
    }
}

/// What one WatchOrder stream follows.
struct Watch {
    order_id: String,
    /// Version of the last update sent (or resumed after).
    version: i64,
    customer_view: bool,
    /// Whether the order was settled at `version`.
    settled: bool,
    follow_after_settled: bool,
    /// The caller's `grpc-timeout`, as an instant.
    deadline: Option<tokio::time::Instant>,
}

/// Streams every recorded change of the order after `watch.version`, oldest first, then each
/// change live. Ends with OK once an update shows the order settled (unless the caller follows
/// on), with DEADLINE_EXCEEDED at the caller's deadline, and silently when the client goes away
/// or the service shuts down.
async fn follow(
    ctx: std::sync::Arc<Ctx>,
    mut watch: Watch,
    mut wake: broadcast::Receiver<String>,
    out: mpsc::Sender<Result<pb::WatchOrderResponse, tonic::Status>>,
) {
    let at = watch.deadline;
    let deadline = async move {
        match at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        let entries = match ctx.store.conn().await {
            Ok(mut conn) => {
                ctx.store
                    .history_after(&mut conn, &watch.order_id, watch.version)
                    .await
            }
            Err(e) => Err(e),
        };
        match entries {
            Ok(entries) => {
                for entry in entries {
                    watch.version = entry.version;
                    watch.settled = entry.order.is_settled();
                    let update = update(&entry.order, &entry.change, watch.customer_view);
                    if out.send(Ok(update)).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, order_id = watch.order_id, "watch re-read failed; retrying");
            }
        }
        if watch.settled && !watch.follow_after_settled {
            return;
        }
        loop {
            tokio::select! {
                _ = ctx.streams.cancelled() => return,
                _ = out.closed() => return,
                _ = &mut deadline => {
                    let _ = out
                        .send(Err(tonic::Status::deadline_exceeded(
                            "the watch reached the call's deadline (grpc-timeout)",
                        )))
                        .await;
                    return;
                }
                _ = tokio::time::sleep(ctx.watch_poll) => break,
                woke = wake.recv() => match woke {
                    Ok(id) if id != watch.order_id => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

#[tonic::async_trait]
impl OrderService for Orders {
    async fn list_orders(
        &self,
        request: tonic::Request<pb::ListOrdersRequest>,
    ) -> Reply<pb::ListOrdersResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn get_order(&self, request: tonic::Request<pb::GetOrderRequest>) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        reply(
            self.get(&p, &request.get_ref().order_id)
                .await
                .map(|o| convert::order(&o, p.role.is_customer())),
        )
    }

    type WatchOrderStream = WatchStream;

    async fn watch_order(
        &self,
        request: tonic::Request<pb::WatchOrderRequest>,
    ) -> Reply<Self::WatchOrderStream> {
        let p = principal(&self.0, &request)?;
        let deadline = platform::grpc_server::grpc_timeout(request.metadata().as_ref())
            .map(|timeout| tokio::time::Instant::now() + timeout);
        let req = request.into_inner();
        if req.after_version < 0 {
            return Err(
                ServiceError::invalid_field("after_version", "must not be negative").into(),
            );
        }
        // Listen before reading, so that no change between the read and the wait is missed.
        let wake = self.0.watch.subscribe();
        let order = self.get(&p, &req.order_id).await?;
        if req.after_version > order.version {
            return Err(ServiceError::invalid_field(
                "after_version",
                format!(
                    "is ahead of the order's version {} (resume after a version this stream sent)",
                    order.version
                ),
            )
            .into());
        }
        let customer_view = p.role.is_customer();
        let (tx, rx) = mpsc::channel(64);
        let mut watch = Watch {
            order_id: order.id.clone(),
            version: req.after_version,
            customer_view,
            settled: false,
            follow_after_settled: req.follow_after_settled,
            deadline,
        };
        if req.after_version == 0 || req.after_version == order.version {
            // A fresh watch starts with the current state; a resume at the current version has
            // nothing to catch up on.
            if req.after_version == 0 {
                let first = update(&order, "initial", customer_view);
                if tx.send(Ok(first)).await.is_err() {
                    return Err(tonic::Status::cancelled("watcher went away"));
                }
            }
            watch.version = order.version;
            watch.settled = order.is_settled();
        }
        tokio::spawn(follow(self.0.clone(), watch, wake, tx));
        Ok(tonic::Response::new(
            Box::pin(ReceiverStream::new(rx)) as WatchStream
        ))
    }

    async fn add_order_note(
        &self,
        request: tonic::Request<pb::AddOrderNoteRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        let req = request.get_ref();
        reply(
            placing::add_note(&self.0, &p, &req.order_id, &req.text)
                .await
                .map(|o| convert::order(&o, p.role.is_customer())),
        )
    }

    async fn submit_order(
        &self,
        request: tonic::Request<pb::SubmitOrderRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        if let Err(e) = p.require(&BUYERS) {
            return Err(e.into());
        }
        let r = request.get_ref();
        reply(
            placing::submit(
                &self.0,
                &p,
                &r.order_id,
                r.request_id.trim(),
                r.accept_terms,
                &r.etag,
            )
            .await
            .map(|o| convert::order(&o, false)),
        )
    }

    async fn resubmit_order_item(
        &self,
        request: tonic::Request<pb::ResubmitOrderItemRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        if let Err(e) = p.require(&BUYERS) {
            return Err(e.into());
        }
        let r = request.into_inner();
        let parameters = r
            .parameters
            .into_iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        reply(
            placing::resubmit(&self.0, &p, &r.order_id, &r.item_id, parameters, &r.etag)
                .await
                .map(|o| convert::order(&o, false)),
        )
    }
}

/// An optional time filter; an out-of-range timestamp is refused rather than silently ignored
/// (which would return every order).
fn time_filter(
    ts: Option<&marketplace_proto::pbjson_types::Timestamp>,
    field: &str,
) -> Result<Option<i64>, ServiceError> {
    ts.map(|ts| {
        from_timestamp(ts)
            .map(to_micros)
            .ok_or_else(|| ServiceError::invalid_field(field, "not a valid time"))
    })
    .transpose()
}
