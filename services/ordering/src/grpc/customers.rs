//! CustomerService.

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::customer_service_server::CustomerService;
use platform::ServiceError;
use platform::identity::{Principal, Role};

use super::{Customers, Reply, convert, cursor, next_token, own_customer, principal, reply};
use crate::domain::Problem;
use crate::domain::cart::into_result;
use crate::domain::customer::{Agreement, AgreementKind, Customer, MCA_TEMPLATE_ID};
use crate::events;
use crate::placing::actor;
use crate::store::check_etag;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;

const MUTABLE: [&str; 6] = [
    "name",
    "contacts",
    "address",
    "microsoft",
    "autodesk",
    "language_code",
];

/// Copies the fields named by `mask` (top-level paths; empty = all) from the wire customer.
fn apply(target: &mut Customer, source: &pb::Customer, mask: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let tops: Vec<&str> = mask
        .iter()
        .map(|m| m.split('.').next().unwrap_or_default())
        .collect();
    for (path, top) in mask.iter().zip(&tops) {
        if !MUTABLE.contains(top) {
            problems.push(Problem::new(
                "update_mask",
                format!("unknown or immutable field {path}"),
            ));
        }
    }
    let wants = |f: &str| mask.is_empty() || tops.contains(&f);
    if wants("name") {
        target.name = source.name.trim().to_string();
    }
    if wants("contacts") {
        for (i, contact) in source.contacts.iter().enumerate() {
            if pb::ContactRole::try_from(contact.role).is_err() {
                problems.push(Problem::new(
                    format!("customer.contacts[{i}].role"),
                    format!("unknown contact role {}", contact.role),
                ));
            }
        }
        target.contacts = source.contacts.iter().map(convert::contact_from).collect();
    }
    if wants("address") {
        target.address = convert::address_from(&source.address);
    }
    if wants("microsoft") {
        if let Some(m) = &source.microsoft
            && pb::TenantLinkMode::try_from(m.link_mode).is_err()
        {
            problems.push(Problem::new(
                "customer.microsoft.link_mode",
                format!("unknown tenant link mode {}", m.link_mode),
            ));
        }
        let incoming = convert::microsoft_from(&source.microsoft);
        // A known tenant is reused: it is never silently dropped by an update without one.
        let keep = if incoming.tenant_id.is_empty() {
            target.microsoft.tenant_id.clone()
        } else {
            incoming.tenant_id.clone()
        };
        let relationship = std::mem::take(&mut target.microsoft.relationship);
        target.microsoft = incoming;
        target.microsoft.tenant_id = keep;
        target.microsoft.relationship = relationship;
    }
    if wants("autodesk") {
        target.autodesk_csn = source
            .autodesk
            .as_ref()
            .map(|a| a.csn.trim().to_string())
            .unwrap_or_default();
    }
    if wants("language_code") {
        target.language_code = source.language_code.trim().to_string();
    }
    problems
}

/// Asks provisioning (in the caller's transaction) for the reseller relationship request of a
/// customer linking its existing Microsoft tenant: it fetches the invitation link and watches
/// for the customer's acceptance.
async fn request_tenant_link(
    ctx: &crate::context::Ctx,
    conn: &mut sqlx::AnyConnection,
    c: &Customer,
) -> Result<(), ServiceError> {
    let reseller = ctx.store.reseller(conn, &c.reseller_id).await?;
    let payload = Payload::MicrosoftTenantLinkRequested(ev::MicrosoftTenantLinkRequested {
        customer_id: c.id.clone(),
        tenant_domain: c.microsoft.relationship.tenant_domain.clone(),
        reseller: Some(events::reseller_facts(&c.reseller_id, reseller.as_ref())),
    });
    events::append(ctx, conn, &c.reseller_id, &c.id, payload).await
}

impl Customers {
    async fn create(
        &self,
        p: &Principal,
        req: pb::CreateCustomerRequest,
    ) -> Result<pb::Customer, ServiceError> {
        p.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let ctx = &self.0;
        let source = req.customer.unwrap_or_default();
        let reseller_id = p.reseller_scope(&source.reseller_id)?;
        let now = ctx.now();
        let mut c = Customer {
            id: platform::ids::new_id(),
            reseller_id,
            created_at: now,
            updated_at: now,
            version: 1,
            ..Customer::default()
        };
        let mut problems = apply(&mut c, &source, &[]);
        problems.extend(c.validate());
        into_result(problems)?;
        let link = c.open_relationship_request();
        let mut tx = ctx.store.begin().await?;
        ctx.store.insert_customer(&mut tx, &c).await?;
        if link {
            request_tenant_link(ctx, &mut tx, &c).await?;
        }
        tx.commit().await?;
        ctx.outbox.notify();
        Ok(convert::customer(&c))
    }

    async fn load(
        &self,
        conn: &mut sqlx::AnyConnection,
        p: &Principal,
        id: &str,
    ) -> Result<Customer, ServiceError> {
        let c = self.0.store.customer(conn, id).await?;
        match c {
            Some(c) if p.can_see(&c.reseller_id, Some(&c.id)) => Ok(c),
            _ => Err(ServiceError::not_found(format!("customer {id}"))),
        }
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<pb::Customer, ServiceError> {
        let mut conn = self.0.store.conn().await?;
        Ok(convert::customer(&self.load(&mut conn, p, id).await?))
    }

    async fn list(
        &self,
        p: &Principal,
        req: pb::ListCustomersRequest,
    ) -> Result<pb::ListCustomersResponse, ServiceError> {
        p.require(&[Role::ResellerAdmin, Role::ResellerUser])?;
        let ctx = &self.0;
        let reseller = p.reseller_filter(&req.reseller_id)?;
        let limit = platform::paging::page_size(req.page_size)?;
        let scope = format!(
            "customers:{}:{}",
            reseller.clone().unwrap_or_default(),
            req.query
        );
        let after = cursor(ctx, &scope, &req.page_token)?;
        let mut conn = ctx.store.conn().await?;
        let (items, next) = ctx
            .store
            .list_customers(
                &mut conn,
                reseller.as_deref(),
                &req.query,
                after.as_ref(),
                limit,
            )
            .await?;
        Ok(pb::ListCustomersResponse {
            customers: items.iter().map(convert::customer).collect(),
            next_page_token: next_token(ctx, &scope, next),
        })
    }

    async fn update(
        &self,
        p: &Principal,
        req: pb::UpdateCustomerRequest,
    ) -> Result<pb::Customer, ServiceError> {
        p.require(&[Role::ResellerAdmin, Role::ResellerUser, Role::CustomerAdmin])?;
        let ctx = &self.0;
        let source = req.customer.unwrap_or_default();
        let mut tx = ctx.store.begin().await?;
        let mut c = self.load(&mut tx, p, &source.id).await?;
        check_etag(&source.etag, c.version, "customer")?;
        let mut problems = apply(&mut c, &source, &req.update_mask);
        problems.extend(c.validate());
        into_result(problems)?;
        let link = c.open_relationship_request();
        c.version += 1;
        c.updated_at = ctx.now();
        ctx.store.update_customer(&mut tx, &c).await?;
        if link {
            request_tenant_link(ctx, &mut tx, &c).await?;
        }
        tx.commit().await?;
        ctx.outbox.notify();
        Ok(convert::customer(&c))
    }

    async fn accept(
        &self,
        p: &Principal,
        req: pb::AcceptAgreementRequest,
    ) -> Result<pb::Agreement, ServiceError> {
        p.require(&[Role::ResellerAdmin, Role::ResellerUser, Role::CustomerAdmin])?;
        let ctx = &self.0;
        if req.r#type != pb::AgreementType::MicrosoftCustomerAgreement as i32 {
            return Err(ServiceError::invalid_field(
                "type",
                "must be AGREEMENT_TYPE_MICROSOFT_CUSTOMER_AGREEMENT",
            ));
        }
        let mut tx = ctx.store.begin().await?;
        let mut c = self.load(&mut tx, p, &req.customer_id).await?;
        let contact = match req.contact.as_ref() {
            Some(k) if !k.email.is_empty() => convert::contact_from(k),
            _ => c.admin_contact("microsoft").cloned().ok_or_else(|| {
                ServiceError::invalid_field(
                    "contact",
                    "the customer contact who accepted is required",
                )
            })?,
        };
        if !crate::domain::validate::is_email(&contact.email) {
            return Err(ServiceError::invalid_field(
                "contact.email",
                "not an e-mail address",
            ));
        }
        if contact.first_name.is_empty() || contact.last_name.is_empty() {
            return Err(ServiceError::invalid_field(
                "contact",
                "first and last name of the accepting contact are required",
            ));
        }
        let now = ctx.now_for(&mut tx, &c.id).await?;
        let agreement = Agreement {
            kind: AgreementKind::MicrosoftCustomerAgreement,
            accepted_by: actor(p),
            accept_time: now,
            contact,
            template_id: MCA_TEMPLATE_ID.into(),
        };
        c.agreements.push(agreement.clone());
        c.version += 1;
        c.updated_at = now;
        ctx.store.update_customer(&mut tx, &c).await?;
        tx.commit().await?;
        Ok(convert::agreement(&agreement))
    }
}

#[tonic::async_trait]
impl CustomerService for Customers {
    async fn create_customer(
        &self,
        request: tonic::Request<pb::CreateCustomerRequest>,
    ) -> Reply<pb::Customer> {
        let p = principal(&self.0, &request)?;
        reply(self.create(&p, request.into_inner()).await)
    }

    async fn get_customer(
        &self,
        request: tonic::Request<pb::GetCustomerRequest>,
    ) -> Reply<pb::Customer> {
        let p = principal(&self.0, &request)?;
        own_customer(&p)?;
        reply(self.get(&p, &request.get_ref().customer_id).await)
    }

    async fn list_customers(
        &self,
        request: tonic::Request<pb::ListCustomersRequest>,
    ) -> Reply<pb::ListCustomersResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn update_customer(
        &self,
        request: tonic::Request<pb::UpdateCustomerRequest>,
    ) -> Reply<pb::Customer> {
        let p = principal(&self.0, &request)?;
        reply(self.update(&p, request.into_inner()).await)
    }

    async fn accept_agreement(
        &self,
        request: tonic::Request<pb::AcceptAgreementRequest>,
    ) -> Reply<pb::Agreement> {
        let p = principal(&self.0, &request)?;
        reply(self.accept(&p, request.into_inner()).await)
    }
}
