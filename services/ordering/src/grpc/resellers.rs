//! ResellerService.

use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::reseller_service_server::ResellerService;
use platform::ServiceError;
use platform::identity::{Principal, Role};

use super::{Reply, Resellers, convert, cursor, next_token, principal, reply};
use crate::context::Ctx;
use crate::domain::Problem;
use crate::domain::cart::into_result;
use crate::domain::reseller::Reseller;
use crate::domain::validate::is_client_id;
use crate::events::{self, reseller_facts};
use crate::store::check_etag;

fn apply(target: &mut Reseller, source: &pb::Reseller, mask: &[String]) -> Vec<Problem> {
    let all = mask.is_empty();
    let mut unknown = Vec::new();
    for path in mask {
        if ![
            "name",
            "autodesk_partner_csn",
            "microsoft_mpn_id",
            "microsoft_indirect_reseller_tenant_id",
            "notification_email",
            "currency_code",
        ]
        .contains(&path.as_str())
        {
            unknown.push(Problem::new(
                "update_mask",
                format!("unknown or immutable field {path}"),
            ));
        }
    }
    let wants = |f: &str| all || mask.iter().any(|m| m == f);
    if wants("name") {
        target.name = source.name.trim().to_string();
    }
    if wants("autodesk_partner_csn") {
        target.autodesk_partner_csn = source.autodesk_partner_csn.trim().to_string();
    }
    if wants("microsoft_mpn_id") {
        target.microsoft_mpn_id = source.microsoft_mpn_id.trim().to_string();
    }
    if wants("microsoft_indirect_reseller_tenant_id") {
        target.microsoft_indirect_reseller_tenant_id = source
            .microsoft_indirect_reseller_tenant_id
            .trim()
            .to_lowercase();
    }
    if wants("notification_email") {
        target.notification_email = source.notification_email.trim().to_string();
    }
    if wants("currency_code") && !source.currency_code.is_empty() {
        target.currency_code = source.currency_code.trim().to_uppercase();
    }
    unknown
}

async fn profile_changed(
    ctx: &Ctx,
    conn: &mut sqlx::AnyConnection,
    r: &Reseller,
) -> Result<(), ServiceError> {
    let payload = Payload::ResellerProfileChanged(ev::ResellerProfileChanged {
        reseller: Some(reseller_facts(&r.id, Some(r))),
    });
    events::append(ctx, conn, &r.id, "", payload).await
}

impl Resellers {
    async fn create(
        &self,
        p: &Principal,
        req: pb::CreateResellerRequest,
    ) -> Result<pb::Reseller, ServiceError> {
        p.require_staff()?;
        let ctx = &self.0;
        let source = req.reseller.unwrap_or_default();
        let id = if req.reseller_id.is_empty() {
            platform::ids::new_id()
        } else {
            req.reseller_id.clone()
        };
        if !req.reseller_id.is_empty() && !is_client_id(&req.reseller_id) {
            return Err(ServiceError::invalid_field(
                "reseller_id",
                "lowercase letters, digits and dashes, starting with a letter",
            ));
        }
        let now = ctx.now();
        let mut r = Reseller {
            id,
            created_at: now,
            updated_at: now,
            version: 1,
            ..Reseller::default()
        };
        apply(&mut r, &source, &[]);
        into_result(r.validate())?;
        let mut tx = ctx.store.begin().await?;
        if !ctx.store.insert_reseller(&mut tx, &r).await? {
            return Err(ServiceError::new(
                platform::ErrorCode::AlreadyExists,
                format!("reseller {} already exists", r.id),
            ));
        }
        profile_changed(ctx, &mut tx, &r).await?;
        tx.commit().await?;
        ctx.outbox.notify();
        Ok(convert::reseller(&r))
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<pb::Reseller, ServiceError> {
        p.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let scope = p.reseller_scope(id)?;
        let mut conn = self.0.store.conn().await?;
        let r = self
            .0
            .store
            .reseller(&mut conn, &scope)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("reseller {scope}")))?;
        Ok(convert::reseller(&r))
    }

    async fn list(
        &self,
        p: &Principal,
        req: pb::ListResellersRequest,
    ) -> Result<pb::ListResellersResponse, ServiceError> {
        p.require_staff()?;
        let ctx = &self.0;
        let limit = platform::paging::page_size(req.page_size)?;
        let after = cursor(ctx, "resellers", &req.page_token)?;
        let mut conn = ctx.store.conn().await?;
        let (items, next) = ctx
            .store
            .list_resellers(&mut conn, after.as_ref(), limit)
            .await?;
        Ok(pb::ListResellersResponse {
            resellers: items.iter().map(convert::reseller).collect(),
            next_page_token: next_token(ctx, "resellers", next),
        })
    }

    async fn update(
        &self,
        p: &Principal,
        req: pb::UpdateResellerRequest,
    ) -> Result<pb::Reseller, ServiceError> {
        p.require(&[Role::ResellerAdmin])?;
        let ctx = &self.0;
        let source = req.reseller.unwrap_or_default();
        let scope = p.reseller_scope(&source.id)?;
        let mut tx = ctx.store.begin().await?;
        let mut r = ctx
            .store
            .reseller(&mut tx, &scope)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("reseller {scope}")))?;
        check_etag(&source.etag, r.version, "reseller")?;
        let before = r.clone();
        let mut problems = apply(&mut r, &source, &req.update_mask);
        problems.extend(r.validate());
        into_result(problems)?;
        r.version += 1;
        r.updated_at = ctx.now();
        ctx.store.update_reseller(&mut tx, &r).await?;
        profile_changed(ctx, &mut tx, &r).await?;
        crate::placing::resume_waiting_on_profile(ctx, &mut tx, &before, &r).await?;
        tx.commit().await?;
        ctx.outbox.notify();
        Ok(convert::reseller(&r))
    }
}

#[tonic::async_trait]
impl ResellerService for Resellers {
    async fn create_reseller(
        &self,
        request: tonic::Request<pb::CreateResellerRequest>,
    ) -> Reply<pb::Reseller> {
        let p = principal(&self.0, &request)?;
        reply(self.create(&p, request.into_inner()).await)
    }

    async fn get_reseller(
        &self,
        request: tonic::Request<pb::GetResellerRequest>,
    ) -> Reply<pb::Reseller> {
        let p = principal(&self.0, &request)?;
        reply(self.get(&p, &request.get_ref().reseller_id).await)
    }

    async fn list_resellers(
        &self,
        request: tonic::Request<pb::ListResellersRequest>,
    ) -> Reply<pb::ListResellersResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn update_reseller(
        &self,
        request: tonic::Request<pb::UpdateResellerRequest>,
    ) -> Reply<pb::Reseller> {
        let p = principal(&self.0, &request)?;
        reply(self.update(&p, request.into_inner()).await)
    }
}
