//! Provisioning integration tests against the real vendor simulators over HTTP, on both storage
//! backends (SQLite always; PostgreSQL when reachable, required in CI).

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::*;
use marketplace_platform::db::Backend;
use marketplace_platform::db::testing::backends;
use marketplace_proto::common::v1::ChangeType;
use marketplace_proto::events::v1 as ev;
use marketplace_proto::events::v1::envelope::Payload;
use marketplace_proto::provisioning::v1 as pb;
use vendor_sim::{Fault, FaultKind, SimConfig, Vendor};

const WAIT: Duration = Duration::from_secs(30);

fn last_error(job: &pb::Job) -> pb::JobError {
    job.last_error
        .clone()
        .unwrap_or_else(|| panic!("job has no last error: {job:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_subscriptions_succeed_at_both_vendors() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let app = world
            .start(settings(fresh_db(backend).await, &sim), None)
            .await;

        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-new",
                ChangeType::NewSubscription,
                3,
            )))
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-new",
                ChangeType::NewSubscription,
                5,
            )))
            .await;

        let ad = app
            .wait_state("ad-new", pb::JobState::Succeeded, WAIT)
            .await;
        // A redelivered / repeated request (new event id, same request id) creates no second job.
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-new",
                ChangeType::NewSubscription,
                3,
            )))
            .await;
        // A plan without a known connector fails visibly (staff alerted) instead of vanishing.
        let mut unknown = request("autodesk", "no-connector", ChangeType::NewSubscription, 1);
        if let Some(plan) = unknown.plan.as_mut() {
            plan.connector = "adobe_vip".into();
        }
        world.publish(Payload::FulfilmentRequested(unknown)).await;
        let failed = app
            .wait_state("no-connector", pb::JobState::Failed, WAIT)
            .await;
        assert_eq!(last_error(&failed).vendor_code, "unknown_connector");
        let ms = app
            .wait_state("ms-new", pb::JobState::Succeeded, WAIT)
            .await;
        assert!(
            !ad.vendor_subscription_id.is_empty(),
            "{backend:?}: {ad:#?}"
        );
        assert!(
            !ms.vendor_subscription_id.is_empty(),
            "{backend:?}: {ms:#?}"
        );
        assert!(!ms.last_vendor_response.is_empty());

        world
            .wait_events("two fulfilment_succeeded", WAIT, |e| {
                e.iter()
                    .filter(|e| e.r#type == "fulfilment_succeeded")
                    .count()
                    == 2
            })
            .await;
        let ad = succeeded_of(&world, "ad-new").expect("autodesk success");
        assert!(ad.portal_url.starts_with("https://"), "{ad:#?}");
        assert!(
            !ad.autodesk_customer_csn.is_empty()
                && ad.term_start.is_some()
                && ad.term_end.is_some()
        );
        assert_eq!(ad.quantity, 3);
        let ms = succeeded_of(&world, "ms-new").expect("microsoft success");
        assert!(
            !ms.microsoft_tenant_id.is_empty() && ms.term_end.is_some(),
            "{ms:#?}"
        );
        assert_eq!(ms.quantity, 5);
        world
            .wait_events("SUBMITTED events", WAIT, |e| {
                e.iter()
                    .filter(|e| e.r#type == "fulfilment_progressed")
                    .count()
                    >= 3
            })
            .await;
        assert_eq!(
            world.seen("fulfilment_progressed").len(),
            3,
            "SUBMITTED once per job"
        );

        let journal = sim.sim.journal();
        assert_eq!(journal.effective_provisionings.len(), 2, "{backend:?}");
        assert_eq!(
            app.jobs_of_order("ad-new").await.len(),
            1,
            "one job per request id"
        );
        assert!(
            journal
                .effective_count_by_reference()
                .values()
                .all(|n| *n == 1)
        );
        // Secrets never reach the stored vendor responses.
        let job = app.jobs_of_order("ms-new").await.remove(0);
        assert!(
            !job.last_vendor_response.contains("Sim-"),
            "{}",
            job.last_vendor_response
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autodesk_faults_end_in_the_right_outcome() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let app = world
            .start(settings(fresh_db(backend).await, &sim), None)
            .await;

        // 5xx twice: retried with backoff, then succeeds; the vendor's message is kept.
        sim.sim.inject(
            Fault::new(Vendor::Autodesk, FaultKind::HttpStatus { status: 503 })
                .on("autodesk.place_order")
                .times(2),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-503",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        let job = app
            .wait_state("ad-503", pb::JobState::Succeeded, WAIT)
            .await;
        assert!(last_error(&job).message.contains("503"), "{job:#?}");
        assert_eq!(last_error(&job).class, pb::ErrorClass::Transient as i32);

        // A timeout (the vendor is slower than our client): retried with the same client reference.
        sim.sim.inject(
            Fault::new(Vendor::Autodesk, FaultKind::Delay { ms: 2_500 }).on("autodesk.place_order"),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-timeout",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        let job = app
            .wait_state("ad-timeout", pb::JobState::Succeeded, WAIT)
            .await;
        assert_eq!(last_error(&job).vendor_code, "network", "{job:#?}");

        // The order is accepted but its status cannot be read: waiting on the vendor, polled, no re-order.
        sim.sim.inject(
            Fault::new(Vendor::Autodesk, FaultKind::HttpStatus { status: 503 })
                .on("autodesk.order_status"),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-status",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        let job = app
            .wait_state("ad-status", pb::JobState::Succeeded, WAIT)
            .await;
        assert!(!job.vendor_reference.is_empty());
        let orders = sim
            .sim
            .journal()
            .requests_for("autodesk.place_order")
            .filter(|r| r.body["partnerOrderId"] == job.id.as_str())
            .count();
        assert_eq!(orders, 1, "ordered once, then polled");
        world.wait_events("waiting announced", WAIT, |_| {
            payloads_of(&world, "fulfilment_progressed", "ad-status").iter().any(|p| {
                matches!(p, Payload::FulfilmentProgressed(p) if p.job_state == "JOB_STATE_WAITING_ON_VENDOR" && !p.vendor_reference.is_empty())
            })
        }).await;

        // Unknown part number: the vendor fails the order asynchronously → NOT_PROVISIONED, staff alerted.
        let mut bad_part = request("autodesk", "ad-part", ChangeType::NewSubscription, 1);
        if let Some(plan) = bad_part.plan.as_mut() {
            plan.vendor_sku = "000000000000000".into();
        }
        world.publish(Payload::FulfilmentRequested(bad_part)).await;
        let job = app.wait_state("ad-part", pb::JobState::Failed, WAIT).await;
        assert_eq!(last_error(&job).vendor_code, "UAN-GEN-00108");
        world
            .wait_events("failed event", WAIT, |e| {
                e.iter().any(|e| e.r#type == "fulfilment_failed")
            })
            .await;
        let Some(Payload::FulfilmentFailed(failed)) =
            payloads_of(&world, "fulfilment_failed", "ad-part").pop()
        else {
            panic!("no failed event")
        };
        assert!(
            failed.staff_alert && failed.vendor_message.contains("000000000000000"),
            "{failed:#?}"
        );

        // Autodesk refuses the contract manager e-mail: a permanent failure (staff alerted) that
        // still names the field the reseller can correct before re-submitting.
        let mut bad_email = request("autodesk", "ad-email", ChangeType::NewSubscription, 1);
        if let Some(customer) = bad_email.customer.as_mut() {
            customer.contacts[0].email = "ada@acme.invalid".into();
        }
        world.publish(Payload::FulfilmentRequested(bad_email)).await;
        let job = app.wait_state("ad-email", pb::JobState::Failed, WAIT).await;
        let error = last_error(&job);
        assert_eq!(
            error.field_violations[0].field, "customer.contacts[0].email",
            "{error:#?}"
        );
        assert!(error.message.contains("ada@acme.invalid"));
        world
            .wait_events("failed event with the field", WAIT, |e| {
                e.iter().any(|e| {
                    matches!(&e.payload, Some(Payload::FulfilmentFailed(f))
                        if f.staff_alert && f.field_violations.iter().any(|v| v.field == "customer.contacts[0].email"))
                })
            })
            .await;

        // A seat increase on the subscription created above, then a too-large seat removal.
        let created = succeeded_of(&world, "ad-503").expect("created");
        let mut add = request("autodesk", "ad-add", ChangeType::SeatIncrease, 4);
        add.previous_quantity = 1;
        add.vendor_subscription_id = created.vendor_subscription_id.clone();
        world.publish(Payload::FulfilmentRequested(add)).await;
        app.wait_state("ad-add", pb::JobState::Succeeded, WAIT)
            .await;
        world
            .wait_events("seat increase success", WAIT, |_| {
                succeeded_of(&world, "ad-add").is_some()
            })
            .await;
        assert_eq!(succeeded_of(&world, "ad-add").map(|s| s.quantity), Some(4));
        let mut remove = request("autodesk", "ad-remove", ChangeType::SeatDecrease, 0);
        remove.previous_quantity = 4;
        remove.vendor_subscription_id = created.vendor_subscription_id.clone();
        world.publish(Payload::FulfilmentRequested(remove)).await;
        // A refused change is a failed change (naming the field), not an endless inquiry.
        let job = app
            .wait_state("ad-remove", pb::JobState::Failed, WAIT)
            .await;
        assert_eq!(last_error(&job).field_violations[0].field, "quantity");

        let journal = sim.sim.journal();
        assert!(
            journal
                .effective_count_by_reference()
                .values()
                .all(|n| *n == 1),
            "{:#?}",
            journal.effective_provisionings
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_faults_end_in_the_right_outcome() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let mut config = settings(fresh_db(backend).await, &sim);
        config.worker.max_transient_attempts = 3;
        let app = world.start(config, None).await;

        // 800016: the reseller's MPN id is refused → INQUIRING on parameters.mpn_id.
        let mut bad_mpn = request("microsoft_nce", "ms-mpn", ChangeType::NewSubscription, 2);
        bad_mpn.parameters.insert("mpn_id".into(), "0000000".into());
        world.publish(Payload::FulfilmentRequested(bad_mpn)).await;
        let job = app
            .wait_state("ms-mpn", pb::JobState::Inquiring, WAIT)
            .await;
        let error = last_error(&job);
        assert_eq!(
            (
                error.vendor_code.as_str(),
                error.field_violations[0].field.as_str()
            ),
            ("800016", "parameters.mpn_id")
        );
        assert!(error.message.contains("0000000"));

        // 13605: no MCA attestation → INQUIRING.
        let mut no_mca = request("microsoft_nce", "ms-mca", ChangeType::NewSubscription, 2);
        if let Some(customer) = no_mca.customer.as_mut() {
            customer.microsoft_customer_agreement_accepted = false;
        }
        world.publish(Payload::FulfilmentRequested(no_mca)).await;
        let job = app
            .wait_state("ms-mca", pb::JobState::Inquiring, WAIT)
            .await;
        assert_eq!(last_error(&job).vendor_code, "13605");

        // 800060 (order in progress) twice → retried later, then succeeds.
        sim.sim
            .inject(Fault::microsoft_order_in_progress("microsoft.checkout").times(2));
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-busy",
                ChangeType::NewSubscription,
                2,
            )))
            .await;
        let job = app
            .wait_state("ms-busy", pb::JobState::Succeeded, WAIT)
            .await;
        assert_eq!(last_error(&job).class, pb::ErrorClass::Conflict as i32);

        // The checkout answer is lost (connection dropped after the vendor acted): the retry reuses
        // the MS-RequestId and gets the first order back; nothing is provisioned twice.
        sim.sim.inject(
            Fault::new(Vendor::Microsoft, FaultKind::DropConnection).on("microsoft.checkout"),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-drop",
                ChangeType::NewSubscription,
                2,
            )))
            .await;
        app.wait_state("ms-drop", pb::JobState::Succeeded, WAIT)
            .await;
        let journal = sim.sim.journal();
        let checkouts: Vec<_> = journal
            .requests_for("microsoft.checkout")
            .filter(|r| r.connection_dropped || r.replayed)
            .collect();
        assert_eq!(checkouts.len(), 2, "dropped then replayed: {checkouts:#?}");
        assert_eq!(
            checkouts[0].headers.get("ms-requestid"),
            checkouts[1].headers.get("ms-requestid")
        );

        // 2002: quantity above the maximum on a seat change → a failed change naming quantity.
        let created = succeeded_of(&world, "ms-busy").expect("created");
        let mut too_many = request("microsoft_nce", "ms-2002", ChangeType::SeatIncrease, 301);
        too_many.previous_quantity = 2;
        too_many.vendor_subscription_id = created.vendor_subscription_id.clone();
        if let Some(customer) = too_many.customer.as_mut() {
            customer.microsoft_tenant_id = created.microsoft_tenant_id.clone();
        }
        world
            .publish(Payload::FulfilmentRequested(too_many.clone()))
            .await;
        let job = app.wait_state("ms-2002", pb::JobState::Failed, WAIT).await;
        assert_eq!(last_error(&job).field_violations[0].field, "quantity");

        // Suspension by PATCH.
        let mut suspend = too_many.clone();
        suspend.request_id = "ms-suspend-0".into();
        suspend.order_id = "ms-suspend".into();
        suspend.change = ChangeType::Suspension as i32;
        suspend.quantity = 2;
        world.publish(Payload::FulfilmentRequested(suspend)).await;
        app.wait_state("ms-suspend", pb::JobState::Succeeded, WAIT)
            .await;
        // A renewal of a live subscription with auto-renew on: confirmed, nothing patched.
        world
            .publish(Payload::FulfilmentRequested(change_of(
                &too_many,
                "ms-renew",
                ChangeType::Renewal,
                2,
            )))
            .await;
        app.wait_state("ms-renew", pb::JobState::Succeeded, WAIT)
            .await;
        for (order, change) in [
            ("ms-resume", ChangeType::Resumption),
            ("ms-arr-off", ChangeType::AutoRenewOff),
            ("ms-cancel", ChangeType::Cancellation),
        ] {
            world
                .publish(Payload::FulfilmentRequested(change_of(
                    &too_many, order, change, 2,
                )))
                .await;
            app.wait_state(order, pb::JobState::Succeeded, WAIT).await;
        }
        // A deleted subscription cannot change any more: NOT_PROVISIONED (2011).
        world
            .publish(Payload::FulfilmentRequested(change_of(
                &too_many,
                "ms-after",
                ChangeType::SeatIncrease,
                3,
            )))
            .await;
        let job = app.wait_state("ms-after", pb::JobState::Failed, WAIT).await;
        assert_eq!(last_error(&job).vendor_code, "2011");
        // A deleted subscription cannot renew either.
        world
            .publish(Payload::FulfilmentRequested(change_of(
                &too_many,
                "ms-renew-after",
                ChangeType::Renewal,
                2,
            )))
            .await;
        let job = app
            .wait_state("ms-renew-after", pb::JobState::Failed, WAIT)
            .await;
        assert!(
            last_error(&job).message.contains("cannot renew"),
            "{job:#?}"
        );

        // Partner Center keeps failing (500) beyond the transient limit → FAILED with its message.
        sim.sim.inject(
            Fault::new(Vendor::Microsoft, FaultKind::HttpStatus { status: 500 })
                .on("microsoft.create_customer")
                .times(4),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-500",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        let job = app.wait_state("ms-500", pb::JobState::Failed, WAIT).await;
        assert!(last_error(&job).message.contains("HTTP 500"), "{job:#?}");
        assert_eq!(job.attempts, 4);

        let journal = sim.sim.journal();
        assert!(
            journal
                .effective_count_by_reference()
                .values()
                .all(|n| *n == 1),
            "{:#?}",
            journal.effective_provisionings
        );
        for operation in ["suspend", "resume", "auto_renew_off", "cancel"] {
            assert!(
                journal
                    .effective_provisionings
                    .iter()
                    .any(|e| e.operation == operation),
                "{operation}"
            );
        }
        // Every call carries a new correlation id.
        let correlation: std::collections::HashSet<_> = journal
            .requests
            .iter()
            .filter_map(|r| r.headers.get("ms-correlationid"))
            .collect();
        assert_eq!(
            correlation.len(),
            journal
                .requests
                .iter()
                .filter(|r| r.vendor == Vendor::Microsoft)
                .count()
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_answering_429_is_not_called_before_retry_after() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let app = world
            .start(settings(fresh_db(backend).await, &sim), None)
            .await;

        sim.sim.inject(
            Fault::new(
                Vendor::Autodesk,
                FaultKind::RateLimited {
                    retry_after_secs: 2,
                },
            )
            .on("autodesk.place_order"),
        );
        sim.sim.inject(
            Fault::new(
                Vendor::Microsoft,
                FaultKind::RateLimited {
                    retry_after_secs: 2,
                },
            )
            .on("microsoft.create_cart"),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-429",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-429",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        // More work for the same vendors while they are throttled.
        tokio::time::sleep(Duration::from_millis(300)).await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-429b",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-429b",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        for order in ["ad-429", "ms-429", "ad-429b", "ms-429b"] {
            app.wait_state(order, pb::JobState::Succeeded, WAIT).await;
        }
        let journal = sim.sim.journal();
        for vendor in [Vendor::Autodesk, Vendor::Microsoft] {
            let requests: Vec<_> = journal
                .requests
                .iter()
                .filter(|r| r.vendor == vendor)
                .collect();
            let throttled = requests.iter().find(|r| r.status == 429).expect("a 429");
            let too_early: Vec<_> = requests
                .iter()
                .filter(|r| r.at > throttled.at && r.at < throttled.at + time::Duration::seconds(2))
                .map(|r| (r.operation.clone(), r.at))
                .collect();
            assert!(
                too_early.is_empty(),
                "{vendor:?} called before Retry-After: 429 at {} then {too_early:?}",
                throttled.at
            );
        }
        let job = app.jobs_of_order("ad-429").await.remove(0);
        assert_eq!(last_error(&job).class, pb::ErrorClass::Throttled as i32);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_vendor_call_and_commit_provisions_exactly_once() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let db = fresh_db(backend).await;
        let mut config = settings(db.clone(), &sim);
        config.worker.lease_ms = 1_000;
        config.worker.claim_batch = 1;
        let doomed = world
            .start(config.clone(), Some(Arc::new(CrashAfterVendorCall)))
            .await;

        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-crash",
                ChangeType::NewSubscription,
                2,
            )))
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-crash",
                ChangeType::NewSubscription,
                2,
            )))
            .await;
        // A vendor call happens, then its worker "dies" before committing — and with it the
        // process (a dead worker stops the component), possibly before the other job's call.
        let deadline = tokio::time::Instant::now() + WAIT;
        while sim.sim.journal().effective_provisionings.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "vendor calls did not happen"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            world.seen("fulfilment_succeeded").is_empty(),
            "nothing was committed"
        );
        doomed.stop().await;
        let autodesk_before = sim
            .sim
            .journal()
            .requests_for("autodesk.place_order")
            .count();
        let microsoft_before = sim.sim.journal().requests_for("microsoft.checkout").count();

        // A new replica takes the jobs over after their lease and finishes them.
        let replica = world.start(config, None).await;
        replica
            .wait_state("ad-crash", pb::JobState::Succeeded, WAIT)
            .await;
        replica
            .wait_state("ms-crash", pb::JobState::Succeeded, WAIT)
            .await;
        let journal = sim.sim.journal();
        assert_eq!(
            journal.effective_provisionings.len(),
            2,
            "{:#?}",
            journal.effective_provisionings
        );
        assert!(
            journal
                .effective_count_by_reference()
                .values()
                .all(|n| *n == 1)
        );
        // A job whose call went out before the crash is called again with the same reference.
        assert_eq!(
            journal.requests_for("autodesk.place_order").count(),
            autodesk_before + 1,
            "called again after the crash"
        );
        if microsoft_before > 0 {
            assert!(
                journal
                    .requests_for("microsoft.checkout")
                    .any(|r| r.replayed),
                "checkout repeated with the same MS-RequestId"
            );
        }
        world
            .wait_events("successes", WAIT, |e| {
                e.iter()
                    .filter(|e| e.r#type == "fulfilment_succeeded")
                    .count()
                    == 2
            })
            .await;
        replica.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_pools_on_one_postgres_database_never_process_a_job_twice() {
    if !backends().await.contains(&Backend::Postgres) {
        eprintln!("notice: PostgreSQL not reachable; skipped");
        return;
    }
    let sim = start_sim(SimConfig::default()).await;
    let world = World::new().await;
    let db = fresh_db(Backend::Postgres).await;
    let a = world.start(settings(db.clone(), &sim), None).await;
    let b = world.start(settings(db, &sim), None).await;
    const JOBS: usize = 60;
    for i in 0..JOBS {
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                &format!("pool-{i}"),
                ChangeType::NewSubscription,
                1,
            )))
            .await;
    }
    world
        .wait_events("all successes", WAIT, |e| {
            e.iter()
                .filter(|e| e.r#type == "fulfilment_succeeded")
                .count()
                >= JOBS
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut per_request = std::collections::HashMap::new();
    for event in world.seen("fulfilment_succeeded") {
        if let Some(Payload::FulfilmentSucceeded(s)) = event.payload {
            *per_request.entry(s.request_id).or_insert(0) += 1;
        }
    }
    assert_eq!(per_request.len(), JOBS);
    assert!(per_request.values().all(|n| *n == 1), "{per_request:?}");
    let journal = sim.sim.journal();
    assert_eq!(
        journal.requests_for("autodesk.place_order").count(),
        JOBS,
        "each job called the vendor once"
    );
    assert_eq!(journal.effective_provisionings.len(), JOBS);
    assert!(
        journal.requests_for("autodesk.token").count() <= 2,
        "one token per replica"
    );
    assert!(
        journal
            .effective_count_by_reference()
            .values()
            .all(|n| *n == 1)
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_vendors_are_polled_until_they_finish() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig {
            provisioning_delay: Duration::from_millis(800),
            ..SimConfig::default()
        })
        .await;
        let world = World::new().await;
        let app = world
            .start(settings(fresh_db(backend).await, &sim), None)
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "ad-slow",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "ms-slow",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        app.wait_state("ad-slow", pb::JobState::WaitingOnVendor, WAIT)
            .await;
        app.wait_state("ad-slow", pb::JobState::Succeeded, WAIT)
            .await;
        app.wait_state("ms-slow", pb::JobState::Succeeded, WAIT)
            .await;
        for order in ["ad-slow", "ms-slow"] {
            let waiting: Vec<_> = payloads_of(&world, "fulfilment_progressed", order)
                .into_iter()
                .filter_map(|p| match p {
                    Payload::FulfilmentProgressed(p)
                        if p.job_state == "JOB_STATE_WAITING_ON_VENDOR" =>
                    {
                        Some(p)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(waiting.len(), 1, "{order}: waiting announced once");
            assert!(!waiting[0].vendor_reference.is_empty());
        }
        assert!(
            sim.sim
                .journal()
                .requests_for("autodesk.order_status")
                .count()
                >= 2,
            "polled"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_retry_cancel_and_resubmit_jobs() {
    use marketplace_platform::identity::{Principal, Role};
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        let world = World::new().await;
        let mut config = settings(fresh_db(backend).await, &sim);
        config.worker.max_transient_attempts = 1;
        let app = world.start(config, None).await;
        let staff = harness::Running::staff();
        let mut client = app.client.clone();

        // Re-submit an INQUIRING job with a corrected parameter.
        let mut bad_mpn = request("microsoft_nce", "op-mpn", ChangeType::NewSubscription, 1);
        bad_mpn.parameters.insert("mpn_id".into(), "0000000".into());
        world.publish(Payload::FulfilmentRequested(bad_mpn)).await;
        let job = app
            .wait_state("op-mpn", pb::JobState::Inquiring, WAIT)
            .await;
        let mut parameters = std::collections::HashMap::new();
        parameters.insert("mpn_id".to_string(), "1234567".to_string());
        client
            .resubmit_job(app.request(
                pb::ResubmitJobRequest {
                    job_id: job.id.clone(),
                    parameters,
                },
                &staff,
            ))
            .await
            .expect("resubmit");
        let job = app
            .wait_state("op-mpn", pb::JobState::Succeeded, WAIT)
            .await;
        assert_eq!(
            job.parameters.get("mpn_id").map(String::as_str),
            Some("1234567")
        );

        // Retry a job that failed after transient errors, once the vendor is back.
        sim.sim.inject(
            Fault::new(Vendor::Autodesk, FaultKind::HttpStatus { status: 502 })
                .on("autodesk.place_order")
                .times(2),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "op-retry",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        let job = app.wait_state("op-retry", pb::JobState::Failed, WAIT).await;
        client
            .retry_job(app.request(
                pb::RetryJobRequest {
                    job_id: job.id.clone(),
                },
                &staff,
            ))
            .await
            .expect("retry");
        app.wait_state("op-retry", pb::JobState::Succeeded, WAIT)
            .await;

        // Cancel: refused once the vendor did it; allowed for a failed job.
        let refused = client
            .cancel_job(app.request(
                pb::CancelJobRequest {
                    job_id: job.id.clone(),
                    reason: "x".into(),
                },
                &staff,
            ))
            .await;
        assert_eq!(
            refused.expect_err("refused").code(),
            tonic::Code::FailedPrecondition
        );
        let mut bad_part = request("autodesk", "op-cancel", ChangeType::NewSubscription, 1);
        if let Some(plan) = bad_part.plan.as_mut() {
            plan.vendor_sku = "000000000000000".into();
        }
        world.publish(Payload::FulfilmentRequested(bad_part)).await;
        let failed = app
            .wait_state("op-cancel", pb::JobState::Failed, WAIT)
            .await;
        let cancelled = client
            .cancel_job(app.request(
                pb::CancelJobRequest {
                    job_id: failed.id.clone(),
                    reason: "customer withdrew".into(),
                },
                &staff,
            ))
            .await
            .expect("cancel")
            .into_inner();
        assert_eq!(cancelled.state, pb::JobState::Cancelled as i32);

        // Ordering cancels a job that has not reached the vendor (held back by a 429).
        sim.sim.inject(
            Fault::new(
                Vendor::Autodesk,
                FaultKind::RateLimited {
                    retry_after_secs: 3,
                },
            )
            .on("autodesk.place_order"),
        );
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "op-429",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = request("autodesk", "op-held", ChangeType::NewSubscription, 1);
        world
            .publish(Payload::FulfilmentRequested(held.clone()))
            .await;
        world
            .publish(Payload::FulfilmentCancelRequested(
                ev::FulfilmentCancelRequested {
                    request_id: held.request_id.clone(),
                    order_item_id: held.order_item_id.clone(),
                    reason: "order cancelled".into(),
                },
            ))
            .await;
        app.wait_state("op-held", pb::JobState::Cancelled, WAIT)
            .await;
        world
            .wait_events("cancelled progress", WAIT, |_| {
                payloads_of(&world, "fulfilment_progressed", "op-held")
                    .iter()
                    .any(|p| matches!(p, Payload::FulfilmentProgressed(p) if p.job_state == "JOB_STATE_CANCELLED"))
            })
            .await;

        // Resellers read their own jobs only; other tenants get NOT_FOUND; mutations are staff-only.
        let own = Principal {
            subject: "u1".into(),
            display_name: "U".into(),
            role: Role::ResellerUser,
            reseller_id: Some("reseller-demo".into()),
            customer_id: None,
        };
        let other = Principal {
            reseller_id: Some("reseller-other".into()),
            ..own.clone()
        };
        let got = client
            .get_job(app.request(
                pb::GetJobRequest {
                    job_id: job.id.clone(),
                },
                &own,
            ))
            .await;
        assert!(got.is_ok());
        let hidden = client
            .get_job(app.request(
                pb::GetJobRequest {
                    job_id: job.id.clone(),
                },
                &other,
            ))
            .await;
        assert_eq!(hidden.expect_err("hidden").code(), tonic::Code::NotFound);
        let listed = client
            .list_jobs(app.request(pb::ListJobsRequest::default(), &other))
            .await
            .expect("list")
            .into_inner();
        assert!(listed.jobs.is_empty());
        let denied = client
            .retry_job(app.request(
                pb::RetryJobRequest {
                    job_id: job.id.clone(),
                },
                &own,
            ))
            .await;
        assert_eq!(
            denied.expect_err("denied").code(),
            tonic::Code::PermissionDenied
        );

        // Paging through every job as staff.
        let mut seen = 0;
        let mut token = String::new();
        loop {
            let page = client
                .list_jobs(app.request(
                    pb::ListJobsRequest {
                        page_size: 2,
                        page_token: token.clone(),
                        ..Default::default()
                    },
                    &staff,
                ))
                .await
                .expect("page")
                .into_inner();
            seen += page.jobs.len();
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, 5);
        app.stop().await;
    }
}

/// Waits until the job of `order_id` satisfies `done`.
async fn wait_job(
    app: &harness::Running,
    order_id: &str,
    what: &str,
    done: impl Fn(&pb::Job) -> bool,
) -> pb::Job {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let jobs = app.jobs_of_order(order_id).await;
        if let Some(job) = jobs.iter().find(|j| done(j)) {
            return job.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job of {order_id} never {what}: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn refused_credentials(job: &pb::Job) -> bool {
    job.last_error
        .as_ref()
        .is_some_and(|e| e.class == pb::ErrorClass::Configuration as i32)
}

/// The `connector_health_changed` events seen for `connector`, as `healthy` flags.
fn health_of(world: &World, connector: &str) -> Vec<bool> {
    world
        .seen("connector_health_changed")
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::ConnectorHealthChanged(h)) if h.connector == connector => Some(h.healthy),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_wait_on_a_slow_probe_alert_once_and_resume_when_fixed() {
    for backend in backends().await {
        eprintln!("backend {backend:?}");
        let sim = start_sim(SimConfig::default()).await;
        // Autodesk rotated our secret and Partner Center refuses our token.
        sim.sim
            .set_autodesk_consumer_secret(Some("rotated-elsewhere".into()));
        sim.sim
            .set_microsoft_bearer_token(Some("another-token".into()));
        let world = World::new().await;
        let mut config = settings(fresh_db(backend).await, &sim);
        // Before: refusals were transient and this failed the job after one retry.
        config.worker.max_transient_attempts = 1;
        // A probe far beyond the test: only the fix can resume the jobs in time.
        config.worker.configuration_probe_interval_ms = 600_000;
        let app = world.start(config, None).await;

        for order in ["cred-a", "cred-b"] {
            world
                .publish(Payload::FulfilmentRequested(request(
                    "autodesk",
                    order,
                    ChangeType::NewSubscription,
                    1,
                )))
                .await;
        }
        world
            .publish(Payload::FulfilmentRequested(request(
                "microsoft_nce",
                "cred-ms",
                ChangeType::NewSubscription,
                1,
            )))
            .await;

        // The jobs say so at once: a configuration error naming the settings, not FAILED.
        for order in ["cred-a", "cred-b"] {
            let job = wait_job(
                &app,
                order,
                "showed refused credentials",
                refused_credentials,
            )
            .await;
            assert_eq!(
                job.state,
                pb::JobState::Submitted as i32,
                "{backend:?}: {job:#?}"
            );
            let error = last_error(&job);
            assert_eq!(error.vendor_code, "4106", "{backend:?}: {error:#?}");
            assert!(
                error
                    .message
                    .contains("provisioning.autodesk.consumer_secret")
                    && !error.message.contains("demo-autodesk-secret"),
                "{backend:?}: names the settings, never the secret: {}",
                error.message
            );
            // A slow probe, not the transient backoff.
            let next = job
                .next_attempt_time
                .as_ref()
                .expect("next attempt")
                .seconds;
            let updated = job.update_time.as_ref().expect("updated").seconds;
            assert!(
                next - updated >= 400,
                "{backend:?}: probe in {}s",
                next - updated
            );
        }
        let ms = wait_job(
            &app,
            "cred-ms",
            "showed refused credentials",
            refused_credentials,
        )
        .await;
        assert_eq!(
            ms.state,
            pb::JobState::Submitted as i32,
            "{backend:?}: {ms:#?}"
        );
        assert!(
            last_error(&ms)
                .message
                .contains("provisioning.microsoft.bearer_token"),
            "{backend:?}: {ms:#?}"
        );

        // Staff are alerted once per connector, not per job.
        world
            .wait_events("one alert per connector", WAIT, |_| {
                health_of(&world, "autodesk") == [false]
                    && health_of(&world, "microsoft_nce") == [false]
            })
            .await;

        // Autodesk accepts our credentials again; a new order's accepted call wakes the waiting
        // jobs at once (their probe is 10 minutes away).
        sim.sim.set_autodesk_consumer_secret(None);
        world
            .publish(Payload::FulfilmentRequested(request(
                "autodesk",
                "cred-new",
                ChangeType::NewSubscription,
                1,
            )))
            .await;
        for order in ["cred-new", "cred-a", "cred-b"] {
            app.wait_state(order, pb::JobState::Succeeded, WAIT).await;
        }
        world
            .wait_events("the recovery", WAIT, |_| {
                health_of(&world, "autodesk") == [false, true]
            })
            .await;
        assert_eq!(
            health_of(&world, "autodesk"),
            [false, true],
            "{backend:?}: one alert when refused, one when it works again"
        );

        // Partner Center too: an operator's retry of the waiting job after the fix.
        sim.sim.set_microsoft_bearer_token(None);
        let mut client = app.client.clone();
        client
            .retry_job(app.request(
                pb::RetryJobRequest {
                    job_id: ms.id.clone(),
                },
                &harness::Running::staff(),
            ))
            .await
            .expect("retry");
        app.wait_state("cred-ms", pb::JobState::Succeeded, WAIT)
            .await;
        world
            .wait_events("the Microsoft recovery", WAIT, |_| {
                health_of(&world, "microsoft_nce") == [false, true]
            })
            .await;
        assert!(
            sim.sim
                .journal()
                .effective_count_by_reference()
                .values()
                .all(|n| *n == 1),
            "{backend:?}: nothing provisioned twice"
        );
        app.stop().await;
    }
}
