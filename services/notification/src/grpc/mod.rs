//! gRPC services: authenticate, decode → domain/store → encode.

mod convert;
mod feed;
mod webhooks;

pub(crate) use feed::FeedService;
pub(crate) use webhooks::WebhookApi;
