//! What a round's report does to a job: next state, next attempt, error counts, and which
//! event to publish.

use std::collections::BTreeMap;
use std::time::Duration;

use super::connector::{Step, Success};
use super::error::{ErrorClass, VendorError};
use super::job::JobState;
use super::order::Change;
use super::retry::RetryPolicy;

/// The event a transition publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announce {
    /// Nothing new for the outside world.
    Nothing,
    /// The vendor accepted: WAITING_ON_VENDOR with the reference.
    Waiting(String),
    /// Done.
    Succeeded(Success),
    /// The reseller must fix something.
    Inquiring(VendorError),
    /// Refused permanently; staff alerted.
    Failed(VendorError),
}

/// The decided transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// New state.
    pub state: JobState,
    /// Delay until the next round (active states only).
    pub next_in: Duration,
    /// Error counts per class after this round.
    pub error_counts: BTreeMap<String, u32>,
    /// Error to keep on the job.
    pub error: Option<VendorError>,
    /// Vendor reference to keep (empty = unchanged).
    pub vendor_reference: String,
    /// The event.
    pub announce: Announce,
}

/// A vendor refusal of a change of an existing subscription (a seat decrease outside the
/// window, too many seats...) ends the change as failed with the vendor's reason and field, so
/// the subscription stays usable; only a new subscription waits for the reseller's input.
pub fn settle_refused_change(step: Step, change: Change) -> Step {
    match step {
        Step::Error(error)
            if error.class == ErrorClass::NeedsInput && change != Change::NewSubscription =>
        {
            Step::Error(VendorError {
                class: ErrorClass::Permanent,
                ..error
            })
        }
        other => other,
    }
}

/// Decides what a report means for a job in `state` that already hit `counts` errors, has
/// polled `polls` times and has existed for `age`. `unit` ∈ [0, 1] is the jitter draw.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    state: JobState,
    step: &Step,
    counts: &BTreeMap<String, u32>,
    polls: u32,
    age: Duration,
    max_age: Duration,
    policy: &RetryPolicy,
    unit: f64,
) -> Transition {
    let mut counts = counts.clone();
    let base = |state, announce| Transition {
        state,
        next_in: Duration::ZERO,
        error_counts: BTreeMap::new(),
        error: None,
        vendor_reference: String::new(),
        announce,
    };
    match step {
        Step::Waiting {
            vendor_reference, ..
        } => {
            if age > max_age {
                let error = VendorError::permanent(
                    "vendor_timeout",
                    format!(
                        "the vendor did not complete the request within {} hours",
                        max_age.as_secs() / 3600
                    ),
                );
                return Transition {
                    error: Some(error.clone()),
                    vendor_reference: vendor_reference.clone(),
                    ..base(JobState::Failed, Announce::Failed(error))
                };
            }
            let announce = if state == JobState::WaitingOnVendor {
                Announce::Nothing
            } else {
                Announce::Waiting(vendor_reference.clone())
            };
            Transition {
                next_in: policy.poll_delay(polls.saturating_sub(1)),
                error_counts: counts,
                vendor_reference: vendor_reference.clone(),
                ..base(JobState::WaitingOnVendor, announce)
            }
        }
        Step::Succeeded(success) => Transition {
            vendor_reference: success.vendor_reference.clone(),
            ..base(JobState::Succeeded, Announce::Succeeded(success.clone()))
        },
        Step::Error(error) => match error.class {
            ErrorClass::NeedsInput => Transition {
                error: Some(error.clone()),
                ..base(JobState::Inquiring, Announce::Inquiring(error.clone()))
            },
            ErrorClass::Permanent => Transition {
                error: Some(error.clone()),
                ..base(JobState::Failed, Announce::Failed(error.clone()))
            },
            class => {
                let n = counts.get(class.as_str()).copied().unwrap_or(0) + 1;
                counts.insert(class.as_str().to_string(), n);
                if n > policy.limit(class) || age > max_age {
                    let mut error = error.clone();
                    error.message = format!(
                        "{} (gave up after {n} {} errors)",
                        error.message,
                        class.as_str()
                    );
                    return Transition {
                        error: Some(error.clone()),
                        error_counts: counts,
                        ..base(JobState::Failed, Announce::Failed(error))
                    };
                }
                let resume = if state == JobState::Queued {
                    JobState::Submitted
                } else {
                    state
                };
                Transition {
                    next_in: policy.retry_delay(class, n, error.retry_after, unit),
                    error_counts: counts,
                    error: Some(error.clone()),
                    ..base(resume, Announce::Nothing)
                }
            }
        },
        Step::LostLease => Transition {
            error_counts: counts,
            ..base(state, Announce::Nothing)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_transient: 2,
            ..RetryPolicy::default()
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn transient_errors_retry_until_the_class_limit_then_fail() {
        let error = Step::Error(VendorError::transient("http_503", "down"));
        let t1 = decide(
            JobState::Submitted,
            &error,
            &BTreeMap::new(),
            0,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(t1.state, JobState::Submitted);
        assert!(t1.next_in > Duration::ZERO);
        let t2 = decide(
            JobState::Submitted,
            &error,
            &t1.error_counts,
            0,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(t2.state, JobState::Submitted);
        let t3 = decide(
            JobState::Submitted,
            &error,
            &t2.error_counts,
            0,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(t3.state, JobState::Failed);
        assert!(matches!(t3.announce, Announce::Failed(ref e) if e.message.starts_with("down")));
    }

    #[test]
    fn refused_credentials_keep_the_job_waiting_on_a_slow_probe() {
        let error = Step::Error(VendorError::configuration("4106", "refused"));
        let mut counts = BTreeMap::new();
        for _ in 0..50 {
            let t = decide(
                JobState::Submitted,
                &error,
                &counts,
                0,
                Duration::ZERO,
                DAY,
                &policy(),
                0.5,
            );
            assert_eq!(t.state, JobState::Submitted);
            assert_eq!(t.announce, Announce::Nothing);
            assert_eq!(
                t.error.as_ref().map(|e| e.class),
                Some(ErrorClass::Configuration)
            );
            assert!(t.next_in >= policy().probe_interval.mul_f64(0.8));
            counts = t.error_counts;
        }
    }

    #[test]
    fn business_errors_end_the_job_at_once() {
        let e = VendorError::needs_input("800016", "bad mpn", "parameters.mpn_id");
        let t = decide(
            JobState::Submitted,
            &Step::Error(e),
            &BTreeMap::new(),
            0,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(t.state, JobState::Inquiring);
        let t = decide(
            JobState::Submitted,
            &Step::Error(VendorError::permanent("x", "y")),
            &BTreeMap::new(),
            0,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(t.state, JobState::Failed);
    }

    #[test]
    fn a_refused_change_fails_and_a_new_subscription_inquires() {
        let refusal = || Step::Error(VendorError::needs_input("800027", "window", "quantity"));
        let Step::Error(e) = settle_refused_change(refusal(), Change::SeatDecrease) else {
            panic!("still an error")
        };
        assert_eq!(
            (e.class, e.violations[0].field.as_str()),
            (ErrorClass::Permanent, "quantity")
        );
        let Step::Error(e) = settle_refused_change(refusal(), Change::NewSubscription) else {
            panic!("still an error")
        };
        assert_eq!(e.class, ErrorClass::NeedsInput);
    }

    #[test]
    fn waiting_is_announced_once_and_polls_slow_down() {
        let step = Step::Waiting {
            vendor_reference: "T1".into(),
            message: String::new(),
        };
        let first = decide(
            JobState::Submitted,
            &step,
            &BTreeMap::new(),
            1,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(first.announce, Announce::Waiting("T1".into()));
        let later = decide(
            JobState::WaitingOnVendor,
            &step,
            &BTreeMap::new(),
            5,
            Duration::ZERO,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(later.announce, Announce::Nothing);
        assert!(later.next_in > first.next_in);
        let too_old = decide(
            JobState::WaitingOnVendor,
            &step,
            &BTreeMap::new(),
            5,
            DAY * 2,
            DAY,
            &policy(),
            0.5,
        );
        assert_eq!(too_old.state, JobState::Failed);
    }
}
