//! CartService.

use std::collections::BTreeMap;

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::cart_service_server::CartService;
use platform::ServiceError;
use platform::identity::{Principal, Role};

use super::{Carts, Reply, convert, cursor, next_token, principal, reply};

/// Longest accepted AddCartLine request id.
const MAX_REQUEST_ID: usize = 200;
use crate::context::Ctx;
use crate::domain::cart::{Cart, CartLine, LineStatus};
use crate::domain::order::ItemPrice;
use crate::domain::readiness;
use crate::placing::{self, Checkout, actor_in, visible_cart};
use crate::store::check_etag;

const SELLERS: [Role; 2] = [Role::ResellerAdmin, Role::ResellerUser];

/// Live prices of the active lines; the cart is still shown (without prices) when the catalog
/// cannot price it.
async fn live_prices(ctx: &Ctx, p: &Principal, cart: &Cart) -> BTreeMap<String, ItemPrice> {
    let lines: Vec<&CartLine> = cart.active_lines().map(|(_, l)| l).collect();
    let quote: Vec<(String, i32)> = lines
        .iter()
        .map(|l| (l.plan.plan_id.clone(), l.quantity))
        .collect();
    match ctx
        .catalog
        .quote(p, &cart.reseller_id, &cart.currency_code, &quote)
        .await
    {
        Ok(prices) => lines.iter().map(|l| l.id.clone()).zip(prices).collect(),
        Err(error) => {
            tracing::warn!(%error, cart_id = %cart.id, "cart shown without live prices");
            BTreeMap::new()
        }
    }
}

fn params(m: std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl Carts {
    async fn render(&self, p: &Principal, cart: &Cart) -> pb::Cart {
        let prices = live_prices(&self.0, p, cart).await;
        let now = match self.0.store.conn().await {
            Ok(mut conn) => self.0.now_for(&mut conn, &cart.customer_id).await,
            Err(e) => Err(e),
        }
        .unwrap_or_else(|_| self.0.now());
        convert::cart(cart, now, &prices, p.role.is_customer())
    }

    /// Renders a cart just changed, pricing its STARTED order with the same live prices.
    async fn render_changed(&self, p: &Principal, cart: &Cart) -> pb::Cart {
        let prices = live_prices(&self.0, p, cart).await;
        let seats: BTreeMap<String, (i32, ItemPrice)> = cart
            .active_lines()
            .filter_map(|(_, l)| {
                prices
                    .get(&l.id)
                    .map(|pr| (l.id.clone(), (l.quantity, pr.clone())))
            })
            .collect();
        if let Err(error) = placing::price_started(&self.0, cart, &seats).await {
            tracing::warn!(%error, cart_id = %cart.id, "started order left unpriced");
        }
        convert::cart(cart, self.0.now(), &prices, p.role.is_customer())
    }

    async fn customer_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        reseller_id: &str,
        customer_id: &str,
    ) -> Result<(), ServiceError> {
        match self.0.store.customer(conn, customer_id).await? {
            Some(c) if c.reseller_id == reseller_id => Ok(()),
            _ => Err(ServiceError::invalid_field(
                "cart.customer_id",
                "no such customer of this reseller",
            )),
        }
    }

    async fn create(
        &self,
        p: &Principal,
        req: pb::CreateCartRequest,
    ) -> Result<pb::Cart, ServiceError> {
        p.require(&SELLERS)?;
        let ctx = &self.0;
        let source = req.cart.unwrap_or_default();
        let reseller_id = p.reseller_scope(&source.reseller_id)?;
        let mut conn = ctx.store.conn().await?;
        if !source.customer_id.is_empty() {
            self.customer_of(&mut conn, &reseller_id, &source.customer_id)
                .await?;
        }
        let currency = if source.currency_code.is_empty() {
            ctx.store
                .reseller(&mut conn, &reseller_id)
                .await?
                .map(|r| r.currency().to_string())
                .unwrap_or_else(|| "USD".into())
        } else if crate::domain::validate::is_currency(&source.currency_code) {
            source.currency_code.clone()
        } else {
            return Err(ServiceError::invalid_field(
                "cart.currency_code",
                "must be a three-letter ISO-4217 code",
            ));
        };
        let by = actor_in(ctx, &mut conn, p).await?;
        let now = ctx.now_for(&mut conn, &source.customer_id).await?;
        drop(conn);
        let mut cart = Cart::new(
            platform::ids::new_id(),
            reseller_id,
            source.customer_id,
            currency,
            by,
            now,
        );
        let mut tx = ctx.store.begin().await?;
        placing::sync_started(ctx, &mut tx, &mut cart, now).await?;
        ctx.store.insert_cart(&mut tx, &cart).await?;
        tx.commit().await?;
        Ok(self.render_changed(p, &cart).await)
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<pb::Cart, ServiceError> {
        let cart = {
            let mut conn = self.0.store.conn().await?;
            visible_cart(p, self.0.store.cart(&mut conn, id).await?, id)?
        };
        Ok(self.render(p, &cart).await)
    }

    async fn list(
        &self,
        p: &Principal,
        req: pb::ListCartsRequest,
    ) -> Result<pb::ListCartsResponse, ServiceError> {
        p.require(&SELLERS)?;
        let ctx = &self.0;
        let reseller_id = p.reseller_scope("")?;
        let limit = platform::paging::page_size(req.page_size)?;
        let scope = format!("carts:{reseller_id}:{}", req.customer_id);
        let after = cursor(ctx, &scope, &req.page_token)?;
        let (now, carts, next) = {
            let mut conn = ctx.store.conn().await?;
            let now = ctx.now_for(&mut conn, &req.customer_id).await?;
            let (carts, next) = ctx
                .store
                .list_carts(
                    &mut conn,
                    &reseller_id,
                    &req.customer_id,
                    now,
                    after.as_ref(),
                    limit,
                )
                .await?;
            (now, carts, next)
        };
        Ok(pb::ListCartsResponse {
            carts: carts
                .iter()
                .map(|c| convert::cart(c, now, &BTreeMap::new(), false))
                .collect(),
            next_page_token: next_token(ctx, &scope, next),
        })
    }

    /// Loads, checks etag and openness, changes and saves a cart in one transaction.
    async fn mutate<F>(
        &self,
        p: &Principal,
        cart_id: &str,
        etag: &str,
        change: F,
    ) -> Result<pb::Cart, ServiceError>
    where
        F: FnOnce(&mut Cart, i64) -> Result<(), ServiceError>,
    {
        p.require(&SELLERS)?;
        let ctx = &self.0;
        let mut tx = ctx.store.begin().await?;
        let mut cart = visible_cart(p, ctx.store.cart(&mut tx, cart_id).await?, cart_id)?;
        let now = ctx.now_for(&mut tx, &cart.customer_id).await?;
        check_etag(etag, cart.version, "cart")?;
        cart.ensure_open(now)?;
        change(&mut cart, now)?;
        cart.version += 1;
        cart.updated_at = now;
        placing::sync_started(ctx, &mut tx, &mut cart, now).await?;
        ctx.store.update_cart(&mut tx, &cart).await?;
        tx.commit().await?;
        ctx.outbox.notify();
        Ok(self.render_changed(p, &cart).await)
    }

    async fn update(
        &self,
        p: &Principal,
        req: pb::UpdateCartRequest,
    ) -> Result<pb::Cart, ServiceError> {
        let source = req.cart.unwrap_or_default();
        for path in &req.update_mask {
            if path != "customer_id" {
                return Err(ServiceError::invalid_field(
                    "update_mask",
                    format!("unknown or immutable field {path}"),
                ));
            }
        }
        if !source.customer_id.is_empty() {
            // The customer must belong to the cart's reseller (a visible cart is the caller's).
            let mut conn = self.0.store.conn().await?;
            let cart = visible_cart(
                p,
                self.0.store.cart(&mut conn, &source.id).await?,
                &source.id,
            )?;
            self.customer_of(&mut conn, &cart.reseller_id, &source.customer_id)
                .await?;
        }
        let customer_id = source.customer_id.clone();
        self.mutate(p, &source.id, &source.etag, move |cart, _| {
            cart.customer_id = customer_id;
            Ok(())
        })
        .await
    }

    async fn add_line(
        &self,
        p: &Principal,
        req: pb::AddCartLineRequest,
    ) -> Result<pb::Cart, ServiceError> {
        p.require(&SELLERS)?;
        let ctx = &self.0;
        let request_id = req.request_id.trim().to_string();
        if request_id.len() > MAX_REQUEST_ID {
            return Err(ServiceError::invalid_field(
                "request_id",
                format!("at most {MAX_REQUEST_ID} characters"),
            ));
        }
        let reseller_id = {
            let mut conn = ctx.store.conn().await?;
            let cart = visible_cart(
                p,
                ctx.store.cart(&mut conn, &req.cart_id).await?,
                &req.cart_id,
            )?;
            // A retry of an add that already happened (its answer was lost): the cart as it is,
            // before the etag check, since the first attempt changed the cart's version.
            if cart.line_added_by(&request_id).is_some() {
                return Ok(self.render(p, &cart).await);
            }
            cart.reseller_id
        };
        let plan = match (req.plan_id.trim(), req.autodesk_product_id.trim()) {
            ("", "") => {
                return Err(ServiceError::invalid_field(
                    "plan_id",
                    "give a plan id or an Autodesk product id",
                ));
            }
            (plan_id, "") => {
                ctx.catalog
                    .plan(p, plan_id, &reseller_id, "plan_id")
                    .await?
            }
            ("", product_id) => {
                if product_id.len() != 15 {
                    return Err(ServiceError::invalid_field(
                        "autodesk_product_id",
                        "must be 15 characters",
                    ));
                }
                ctx.catalog
                    .lookup_autodesk(p, product_id, &reseller_id)
                    .await?
            }
            _ => {
                return Err(ServiceError::invalid_field(
                    "autodesk_product_id",
                    "give either a plan id or an Autodesk product id, not both",
                ));
            }
        };
        let quantity = if req.quantity == 0 {
            plan.min_quantity.max(1)
        } else {
            req.quantity
        };
        let line = CartLine {
            id: platform::ids::new_id(),
            plan,
            quantity,
            parameters: params(req.parameters),
            status: LineStatus::Active,
            parent_line_id: req.parent_line_id.clone(),
            request_id,
        };
        self.mutate(p, &req.cart_id, &req.etag, move |cart, now| {
            // Two attempts with one request id racing: the second adds nothing.
            if cart.line_added_by(&line.request_id).is_some() {
                return Ok(());
            }
            cart.add_line(line, now)
        })
        .await
    }

    async fn readiness(
        &self,
        p: &Principal,
        cart_id: &str,
    ) -> Result<pb::CheckCartReadinessResponse, ServiceError> {
        let ctx = &self.0;
        let mut conn = ctx.store.conn().await?;
        let cart = visible_cart(p, ctx.store.cart(&mut conn, cart_id).await?, cart_id)?;
        let customer = if cart.customer_id.is_empty() {
            None
        } else {
            ctx.store.customer(&mut conn, &cart.customer_id).await?
        };
        let reseller = ctx.store.reseller(&mut conn, &cart.reseller_id).await?;
        let vendors = readiness::check(&cart, customer.as_ref(), reseller.as_ref());
        Ok(pb::CheckCartReadinessResponse {
            ready: vendors.iter().all(|v| v.is_ready()),
            vendors: vendors.iter().map(convert::readiness).collect(),
        })
    }
}

#[tonic::async_trait]
impl CartService for Carts {
    async fn create_cart(&self, request: tonic::Request<pb::CreateCartRequest>) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        reply(self.create(&p, request.into_inner()).await)
    }

    async fn get_cart(&self, request: tonic::Request<pb::GetCartRequest>) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        reply(self.get(&p, &request.get_ref().cart_id).await)
    }

    async fn list_carts(
        &self,
        request: tonic::Request<pb::ListCartsRequest>,
    ) -> Reply<pb::ListCartsResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn update_cart(&self, request: tonic::Request<pb::UpdateCartRequest>) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        reply(self.update(&p, request.into_inner()).await)
    }

    async fn add_cart_line(
        &self,
        request: tonic::Request<pb::AddCartLineRequest>,
    ) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        reply(self.add_line(&p, request.into_inner()).await)
    }

    async fn update_cart_line(
        &self,
        request: tonic::Request<pb::UpdateCartLineRequest>,
    ) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        let req = request.into_inner();
        if req.quantity < 0 {
            return Err(ServiceError::invalid_field("quantity", "must not be negative").into());
        }
        let parameters = params(req.parameters);
        let line_id = req.line_id.clone();
        reply(
            self.mutate(&p, &req.cart_id, &req.etag, move |cart, now| {
                cart.update_line(&line_id, req.quantity, parameters, now)
            })
            .await,
        )
    }

    async fn remove_cart_line(
        &self,
        request: tonic::Request<pb::RemoveCartLineRequest>,
    ) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        let req = request.into_inner();
        let line_id = req.line_id.clone();
        reply(
            self.mutate(&p, &req.cart_id, &req.etag, move |cart, now| {
                cart.remove_line(&line_id, now)
            })
            .await,
        )
    }

    async fn delete_cart(&self, request: tonic::Request<pb::DeleteCartRequest>) -> Reply<pb::Cart> {
        let p = principal(&self.0, &request)?;
        let req = request.into_inner();
        reply(
            self.mutate(&p, &req.cart_id, &req.etag, |cart, now| {
                cart.discard(now);
                Ok(())
            })
            .await,
        )
    }

    async fn check_cart_readiness(
        &self,
        request: tonic::Request<pb::CheckCartReadinessRequest>,
    ) -> Reply<pb::CheckCartReadinessResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.readiness(&p, &request.get_ref().cart_id).await)
    }

    async fn checkout_cart(
        &self,
        request: tonic::Request<pb::CheckoutCartRequest>,
    ) -> Reply<pb::Order> {
        let p = principal(&self.0, &request)?;
        if let Err(e) = p.require(&SELLERS) {
            return Err(e.into());
        }
        let req = request.into_inner();
        let checkout = Checkout {
            cart_id: req.cart_id,
            request_id: req.request_id.trim().to_string(),
            accept_terms: req.accept_terms,
            save_as_draft: req.save_as_draft,
            note: req.note,
            etag: req.etag,
            payment: convert::payment_from(&req.payment),
        };
        reply(
            placing::checkout(&self.0, &p, checkout)
                .await
                .map(|o| convert::order(&o, false)),
        )
    }
}
