//! `NotificationService`: the in-app feed, preferences and the e-mail delivery log.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use marketplace_proto::notification::v1 as pb;
use marketplace_proto::notification::v1::notification_service_server::NotificationService;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use platform::error::{ServiceError, ServiceResult, Violations};
use platform::identity::{IdentityKey, Principal, Role};
use platform::paging::{PageTokens, page_size};

use super::convert;
use crate::core::Core;
use crate::domain::preferences::{is_email, is_locale};
use crate::domain::{Kind, Preferences};
use crate::store::feed::FeedScope;
use crate::store::{emails, facts, feed};

/// Implements `marketplace.notification.v1.NotificationService`.
#[derive(Debug, Clone)]
pub(crate) struct FeedService {
    pub(crate) core: Arc<Core>,
    pub(crate) identity: IdentityKey,
    pub(crate) page_tokens: PageTokens,
}

/// Staff (and services) see staff alerts; reseller users see their reseller's feed.
fn feed_scope(principal: &Principal) -> ServiceResult<FeedScope> {
    principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
    if principal.role.is_privileged() {
        return Ok(FeedScope::Staff);
    }
    Ok(FeedScope::Reseller(principal.reseller_scope("")?))
}

const MAX_MARK_IDS: usize = 500;

impl FeedService {
    fn principal<T: marketplace_proto::prost::Message + marketplace_proto::prost::Name>(
        &self,
        request: &Request<T>,
    ) -> ServiceResult<Principal> {
        self.identity.authenticate(request)
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::Notification, Status>> + Send>>;

#[tonic::async_trait]
impl NotificationService for FeedService {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let principal = self.principal(&request)?;
        let scope = feed_scope(&principal)?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let token_scope = format!("notifications:{}:{}", scope.key(), req.unread_only);
        let before: Option<i64> = self.page_tokens.decode(&token_scope, &req.page_token)?;
        let mut rows = feed::list(
            self.core.db.pool(),
            &scope,
            req.unread_only,
            before,
            limit + 1,
        )
        .await
        .map_err(ServiceError::from)?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| self.page_tokens.encode(&token_scope, &r.seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows.iter().map(convert::notification).collect(),
            next_page_token,
        }))
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::GetUnreadCountResponse>, Status> {
        let principal = self.principal(&request)?;
        let scope = feed_scope(&principal)?;
        let n = feed::unread_count(self.core.db.pool(), &scope)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetUnreadCountResponse {
            unread_count: n.clamp(0, i64::from(i32::MAX)) as i32,
        }))
    }

    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Result<Response<pb::MarkNotificationsReadResponse>, Status> {
        let principal = self.principal(&request)?;
        let scope = feed_scope(&principal)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        if req.notification_ids.len() > MAX_MARK_IDS {
            v.add("notification_ids", format!("at most {MAX_MARK_IDS} ids"));
        }
        for (i, id) in req.notification_ids.iter().enumerate() {
            if !platform::ids::is_uuid(id) {
                v.add(format!("notification_ids[{i}]"), "not a notification id");
            }
        }
        v.into_result()?;
        let n = feed::mark_read(
            self.core.db.pool(),
            &scope,
            &req.notification_ids,
            self.core.now(),
        )
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(pb::MarkNotificationsReadResponse {
            marked_count: n.min(i32::MAX as u64) as i32,
        }))
    }

    type WatchNotificationsStream = WatchStream;

    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let principal = self.principal(&request)?;
        let scope = feed_scope(&principal)?;
        let stream =
            BroadcastStream::new(self.core.hub.subscribe()).filter_map(move |item| match item {
                Ok(row) if scope.contains(&row) => Some(Ok(convert::notification(&row))),
                Ok(_) => None,
                // A slow watcher missed rows: tell it to re-list instead of silently skipping them.
                Err(_) => Some(Err(Status::data_loss(
                    "watcher fell behind; list notifications to catch up",
                ))),
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let principal = self.principal(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let reseller = principal.reseller_scope(&request.get_ref().reseller_id)?;
        let mut conn = self
            .core
            .db
            .pool()
            .acquire()
            .await
            .map_err(ServiceError::from)?;
        let prefs = facts::preferences(&mut conn, &reseller)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(encode_preferences(&prefs)))
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let principal = self.principal(&request)?;
        principal.require(&[Role::ResellerAdmin])?;
        let req = request.into_inner();
        let wanted = req.preferences.unwrap_or_default();
        let reseller = principal.reseller_scope(&wanted.reseller_id)?;
        let mut conn = self
            .core
            .db
            .pool()
            .acquire()
            .await
            .map_err(ServiceError::from)?;
        let mut prefs = facts::preferences(&mut conn, &reseller)
            .await
            .map_err(ServiceError::from)?;
        apply_preferences(&mut prefs, &wanted, &req.update_mask)?;
        facts::save_preferences(&mut conn, &prefs, self.core.now())
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(encode_preferences(&prefs)))
    }

    async fn list_email_deliveries(
        &self,
        request: Request<pb::ListEmailDeliveriesRequest>,
    ) -> Result<Response<pb::ListEmailDeliveriesResponse>, Status> {
        let principal = self.principal(&request)?;
        principal.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let req = request.into_inner();
        let reseller = principal.reseller_filter(&req.reseller_id)?;
        let limit = page_size(req.page_size)?;
        let token_scope = format!("emails:{}", reseller.as_deref().unwrap_or("*"));
        let before: Option<String> = self.page_tokens.decode(&token_scope, &req.page_token)?;
        let mut rows = emails::list(
            self.core.db.pool(),
            reseller.as_deref(),
            before.as_deref(),
            limit + 1,
        )
        .await
        .map_err(ServiceError::from)?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last()
                .map(|r| self.page_tokens.encode(&token_scope, &r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListEmailDeliveriesResponse {
            deliveries: rows.iter().map(convert::email).collect(),
            next_page_token,
        }))
    }
}

fn encode_preferences(p: &Preferences) -> pb::Preferences {
    pb::Preferences {
        reseller_id: p.reseller_id.clone(),
        subscription_ready_email: p.subscription_ready_email.clone(),
        muted_email_kinds: p
            .muted_email_kinds
            .iter()
            .map(|k| convert::kind_to_pb(*k) as i32)
            .collect(),
        locale: p.locale.clone(),
    }
}

/// Applies the masked fields of `wanted` (all when the mask is empty), validating each.
fn apply_preferences(
    prefs: &mut Preferences,
    wanted: &pb::Preferences,
    mask: &[String],
) -> ServiceResult<()> {
    let all = mask.is_empty();
    let mut v = Violations::new();
    for path in mask {
        if !matches!(
            path.as_str(),
            "subscription_ready_email" | "muted_email_kinds" | "locale"
        ) {
            v.add("update_mask", format!("unknown field {path}"));
        }
    }
    let has = |f: &str| all || mask.iter().any(|m| m == f);
    if has("subscription_ready_email") {
        let email = wanted.subscription_ready_email.trim();
        if !email.is_empty() && !is_email(email) {
            v.add(
                "preferences.subscription_ready_email",
                "not an e-mail address",
            );
        }
        prefs.subscription_ready_email = email.to_string();
    }
    if has("muted_email_kinds") {
        let mut kinds = Vec::new();
        for (i, value) in wanted.muted_email_kinds.iter().enumerate() {
            match convert::kind_from_pb(*value) {
                Some(Kind::StaffAlert) => v.add(
                    format!("preferences.muted_email_kinds[{i}]"),
                    "staff alerts cannot be muted",
                ),
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => v.add(
                    format!("preferences.muted_email_kinds[{i}]"),
                    "unknown notification kind",
                ),
            }
        }
        prefs.muted_email_kinds = kinds;
    }
    if has("locale") {
        let locale = wanted.locale.trim();
        if locale.is_empty() && all {
            prefs.locale = "en".into();
        } else if !is_locale(locale) {
            v.add("preferences.locale", "not a locale tag like en or de-AT");
        } else {
            prefs.locale = locale.to_string();
        }
    }
    v.into_result()
}
