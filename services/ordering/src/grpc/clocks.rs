//! TestClockService (sandbox only: every call is FAILED_PRECONDITION naming `ordering.sandbox`
//! when the setting is off).

use marketplace_proto::ordering::v1 as pb;
use marketplace_proto::ordering::v1::test_clock_service_server::TestClockService;
use platform::ServiceError;
use platform::clock::{from_timestamp, micros_to_timestamp, to_micros};
use platform::identity::{Principal, Role};

use super::{Reply, TestClocks, principal, reply};
use crate::domain::test_clock::{ClockStatus, TestClock, require_sandbox};

/// Who manages clocks besides staff: the reseller's admins, for their own clocks.
const KEEPERS: [Role; 1] = [Role::ResellerAdmin];

/// Longest clock name.
const MAX_NAME: usize = 200;

fn wire(c: &TestClock) -> pb::TestClock {
    pb::TestClock {
        id: c.id.clone(),
        reseller_id: c.reseller_id.clone(),
        name: c.name.clone(),
        frozen_time: Some(micros_to_timestamp(c.frozen_at)),
        status: match c.status {
            ClockStatus::Ready => pb::TestClockStatus::Ready,
            ClockStatus::Advancing => pb::TestClockStatus::Advancing,
        } as i32,
        advancing_to: c.advancing_to.map(micros_to_timestamp),
        customer_ids: c.customer_ids.clone(),
        create_time: Some(micros_to_timestamp(c.created_at)),
        update_time: Some(micros_to_timestamp(c.updated_at)),
    }
}

/// A time field (µs), or INVALID_ARGUMENT naming it.
fn time_field(ts: &pbjson_types::Timestamp, field: &str) -> Result<i64, ServiceError> {
    from_timestamp(ts)
        .map(to_micros)
        .ok_or_else(|| ServiceError::invalid_field(field, "not a valid timestamp"))
}

use marketplace_proto::pbjson_types;

impl TestClocks {
    fn check(&self, p: &Principal) -> Result<(), ServiceError> {
        require_sandbox(self.0.sandbox)?;
        p.require(&KEEPERS)
    }

    async fn load(
        &self,
        conn: &mut sqlx::AnyConnection,
        p: &Principal,
        id: &str,
    ) -> Result<TestClock, ServiceError> {
        if id.trim().is_empty() {
            return Err(ServiceError::invalid_field("test_clock_id", "required"));
        }
        match self.0.store.clock(conn, id).await? {
            Some(c) if p.can_see(&c.reseller_id, None) => Ok(c),
            _ => Err(ServiceError::not_found(format!("test clock {id}"))),
        }
    }

    async fn create(
        &self,
        p: &Principal,
        req: pb::CreateTestClockRequest,
    ) -> Result<pb::TestClock, ServiceError> {
        self.check(p)?;
        let ctx = &self.0;
        let source = req.test_clock.unwrap_or_default();
        let reseller_id = p.reseller_scope(&source.reseller_id)?;
        let name = source.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ServiceError::invalid_field(
                "test_clock.name",
                format!("required, at most {MAX_NAME} characters"),
            ));
        }
        let now = ctx.now();
        let frozen_at = match &source.frozen_time {
            Some(ts) => time_field(ts, "test_clock.frozen_time")?,
            None => now,
        };
        let mut conn = ctx.store.conn().await?;
        if ctx.store.reseller(&mut conn, &reseller_id).await?.is_none() {
            return Err(ServiceError::invalid_field(
                "test_clock.reseller_id",
                format!("no reseller {reseller_id}"),
            ));
        }
        let clock = TestClock {
            id: platform::ids::new_id(),
            reseller_id,
            name,
            frozen_at,
            status: ClockStatus::Ready,
            advancing_to: None,
            customer_ids: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        ctx.store.insert_clock(&mut conn, &clock).await?;
        Ok(wire(&clock))
    }

    async fn get(&self, p: &Principal, id: &str) -> Result<pb::TestClock, ServiceError> {
        self.check(p)?;
        let mut conn = self.0.store.conn().await?;
        Ok(wire(&self.load(&mut conn, p, id).await?))
    }

    async fn list(
        &self,
        p: &Principal,
        req: pb::ListTestClocksRequest,
    ) -> Result<pb::ListTestClocksResponse, ServiceError> {
        self.check(p)?;
        let reseller = p.reseller_filter(&req.reseller_id)?;
        let mut conn = self.0.store.conn().await?;
        let clocks = self
            .0
            .store
            .list_clocks(&mut conn, reseller.as_deref())
            .await?;
        Ok(pb::ListTestClocksResponse {
            test_clocks: clocks.iter().map(wire).collect(),
        })
    }

    async fn attach(
        &self,
        p: &Principal,
        req: pb::AttachTestClockCustomerRequest,
    ) -> Result<pb::TestClock, ServiceError> {
        self.check(p)?;
        let ctx = &self.0;
        let mut tx = ctx.store.begin().await?;
        let clock = self.load(&mut tx, p, &req.test_clock_id).await?;
        if req.customer_id.trim().is_empty() {
            return Err(ServiceError::invalid_field("customer_id", "required"));
        }
        let customer = ctx
            .store
            .customer(&mut tx, &req.customer_id)
            .await?
            .filter(|c| c.reseller_id == clock.reseller_id);
        let Some(customer) = customer else {
            return Err(ServiceError::invalid_field(
                "customer_id",
                format!(
                    "no customer {} of the clock's reseller {}",
                    req.customer_id, clock.reseller_id
                ),
            ));
        };
        if let Some((other, _)) = ctx.store.customer_clock(&mut tx, &customer.id).await? {
            if other == clock.id {
                return Ok(wire(&clock));
            }
            return Err(ServiceError::invalid_field(
                "customer_id",
                format!(
                    "customer {} is already attached to test clock {other}",
                    customer.id
                ),
            ));
        }
        if ctx.store.customer_has_orders(&mut tx, &customer.id).await? {
            return Err(ServiceError::invalid_field(
                "customer_id",
                format!(
                    "customer {} already has carts or orders on the real clock; attach a customer without orders",
                    customer.id
                ),
            ));
        }
        ctx.store
            .attach_customer(&mut tx, &clock.id, &customer.id)
            .await?;
        let clock = self.load(&mut tx, p, &clock.id).await?;
        tx.commit().await?;
        Ok(wire(&clock))
    }

    async fn advance(
        &self,
        p: &Principal,
        req: pb::AdvanceTestClockRequest,
    ) -> Result<pb::TestClock, ServiceError> {
        self.check(p)?;
        let ctx = &self.0;
        let Some(ts) = req.frozen_time.as_ref() else {
            return Err(ServiceError::invalid_field(
                "frozen_time",
                "required: the time to move the clock to",
            ));
        };
        let to = time_field(ts, "frozen_time")?;
        let mut conn = ctx.store.conn().await?;
        let clock = self.load(&mut conn, p, &req.test_clock_id).await?;
        clock.check_advance(to)?;
        if !ctx
            .store
            .start_advance(&mut conn, &clock.id, to, ctx.now())
            .await?
        {
            return Err(ServiceError::conflict(format!(
                "test clock {} was advanced concurrently; get it and retry",
                clock.id
            )));
        }
        let started = self.load(&mut conn, p, &clock.id).await?;
        tokio::spawn(crate::clocks::run_advance(ctx.clone(), clock.id.clone()));
        Ok(wire(&started))
    }
}

#[tonic::async_trait]
impl TestClockService for TestClocks {
    async fn create_test_clock(
        &self,
        request: tonic::Request<pb::CreateTestClockRequest>,
    ) -> Reply<pb::TestClock> {
        let p = principal(&self.0, &request)?;
        reply(self.create(&p, request.into_inner()).await)
    }

    async fn get_test_clock(
        &self,
        request: tonic::Request<pb::GetTestClockRequest>,
    ) -> Reply<pb::TestClock> {
        let p = principal(&self.0, &request)?;
        reply(self.get(&p, &request.get_ref().test_clock_id).await)
    }

    async fn list_test_clocks(
        &self,
        request: tonic::Request<pb::ListTestClocksRequest>,
    ) -> Reply<pb::ListTestClocksResponse> {
        let p = principal(&self.0, &request)?;
        reply(self.list(&p, request.into_inner()).await)
    }

    async fn attach_test_clock_customer(
        &self,
        request: tonic::Request<pb::AttachTestClockCustomerRequest>,
    ) -> Reply<pb::TestClock> {
        let p = principal(&self.0, &request)?;
        reply(self.attach(&p, request.into_inner()).await)
    }

    async fn advance_test_clock(
        &self,
        request: tonic::Request<pb::AdvanceTestClockRequest>,
    ) -> Reply<pb::TestClock> {
        let p = principal(&self.0, &request)?;
        reply(self.advance(&p, request.into_inner()).await)
    }
}
