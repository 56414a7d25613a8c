//! gRPC services: authenticate, decode → domain → encode. Errors are `ServiceError`s turned
//! into `tonic::Status`.

mod carts;
mod clocks;
mod convert;
mod customers;
mod orders;
mod resellers;
mod subscriptions;

use std::sync::Arc;

use platform::ServiceError;
use platform::identity::Principal;

use crate::context::Ctx;
use crate::store::Cursor;

/// ResellerService.
#[derive(Debug, Clone)]
pub(crate) struct Resellers(pub(crate) Arc<Ctx>);
/// CustomerService.
#[derive(Debug, Clone)]
pub(crate) struct Customers(pub(crate) Arc<Ctx>);
/// CartService.
#[derive(Debug, Clone)]
pub(crate) struct Carts(pub(crate) Arc<Ctx>);
/// OrderService.
#[derive(Debug, Clone)]
pub(crate) struct Orders(pub(crate) Arc<Ctx>);
/// SubscriptionService.
#[derive(Debug, Clone)]
pub(crate) struct Subscriptions(pub(crate) Arc<Ctx>);
/// TestClockService.
#[derive(Debug, Clone)]
pub(crate) struct TestClocks(pub(crate) Arc<Ctx>);

/// Result of a handler.
pub(crate) type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

/// Wraps a domain result into a gRPC reply.
pub(crate) fn reply<T>(result: Result<T, ServiceError>) -> Reply<T> {
    result.map(tonic::Response::new).map_err(Into::into)
}

/// Authenticates the caller.
pub(crate) fn principal<T: marketplace_proto::prost::Message + marketplace_proto::prost::Name>(
    ctx: &Ctx,
    request: &tonic::Request<T>,
) -> Result<Principal, ServiceError> {
    ctx.identity.authenticate(request)
}

/// Decodes a page token bound to `scope`.
pub(crate) fn cursor(ctx: &Ctx, scope: &str, token: &str) -> Result<Option<Cursor>, ServiceError> {
    ctx.page_tokens.decode::<Cursor>(scope, token)
}

/// Encodes the next page token.
pub(crate) fn next_token(ctx: &Ctx, scope: &str, next: Option<Cursor>) -> String {
    next.map(|c| ctx.page_tokens.encode(scope, &c))
        .unwrap_or_default()
}

/// The customer a customer-role caller is limited to (None for other roles).
pub(crate) fn own_customer(p: &Principal) -> Result<Option<String>, ServiceError> {
    if p.role.is_customer() {
        return p
            .customer_id
            .clone()
            .map(Some)
            .ok_or_else(|| ServiceError::permission_denied("caller has no customer"));
    }
    Ok(None)
}
