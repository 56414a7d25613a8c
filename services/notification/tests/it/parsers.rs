//! Property tests of the small parsers of outside input: a receiver's `Retry-After` header
//! (never a panic, never a delay beyond the policy's cap, both forms understood) and signing
//! secrets read back from storage.

use std::time::Duration;

use notification::RetryPolicy;
use notification::domain::retry::{NextStep, parse_retry_after};
use notification::domain::signing::{SECRET_PREFIX, SigningSecret, signature_header};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::format_description;

/// `now` anywhere from 1970 to 2100, with a sub-second part.
fn now() -> impl Strategy<Value = OffsetDateTime> {
    (0_i64..4_102_444_800, 0_u32..1_000_000_000).prop_map(|(s, nanos)| {
        OffsetDateTime::from_unix_timestamp(s).unwrap() + time::Duration::nanoseconds(nanos.into())
    })
}

/// An RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap()
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        1_u64..100_000,
        1.0_f64..10.0,
        1_u64..(48 * 3_600_000),
        1_u32..20,
    )
        .prop_map(
            |(base_ms, factor, max_delay_ms, max_attempts)| RetryPolicy {
                base_ms,
                factor,
                max_delay_ms,
                max_attempts,
            },
        )
}

/// Header values: junk, numbers of every size and sign, and (nearly) HTTP dates.
fn retry_after_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,60}",
        "[-+ ]?[0-9]{1,30}(\\.[0-9]{1,3})?",
        any::<u64>().prop_map(|n| n.to_string()),
        (now(), -10_000_000_000_i64..10_000_000_000).prop_map(|(t, d)| {
            let at = OffsetDateTime::from_unix_timestamp(
                (t.unix_timestamp() + d).clamp(-2_208_988_800, 253_402_300_799),
            )
            .unwrap();
            http_date(at)
        }),
        "(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Xyz), [0-9]{1,3} (Jan|Feb|Dec|Foo) [0-9]{1,5} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC|Z|\\+0000|-2359|EST)",
    ]
}

proptest! {
    #[test]
    fn any_retry_after_is_answered_and_the_policy_caps_the_wait(
        raw in retry_after_value(),
        now in now(),
        policy in policy(),
        attempts in 0_u32..25,
    ) {
        let hint = parse_retry_after(&raw, now);
        // The parser itself keeps the peer's value (capping is the policy's job) ...
        if let (Some(hint), Ok(seconds)) = (hint, raw.trim().parse::<u64>()) {
            prop_assert_eq!(hint, Duration::from_secs(seconds));
        }
        // ... and whatever a receiver sends, the next attempt is never further away than
        // `max_delay_ms`, nor sooner than the hint when the hint is within the cap.
        match policy.after_failure(attempts, hint) {
            NextStep::GiveUp => prop_assert!(attempts >= policy.max_attempts),
            NextStep::RetryAfter(delay) => {
                prop_assert!(attempts < policy.max_attempts);
                let cap = Duration::from_millis(policy.max_delay_ms);
                prop_assert!(delay <= cap, "{:?} > {:?} for {:?}", delay, cap, raw);
                if let Some(hint) = hint {
                    prop_assert_eq!(delay, hint.min(cap));
                }
            }
        }
    }

    #[test]
    fn delta_seconds_are_taken_as_given(seconds in any::<u64>(), blanks in "[ \\t]{0,2}", now in now()) {
        prop_assert_eq!(
            parse_retry_after(&format!("{blanks}{seconds}{blanks}"), now),
            Some(Duration::from_secs(seconds))
        );
    }

    #[test]
    fn http_dates_are_relative_to_now_and_never_negative(
        now in now(),
        delta in -100_000_000_i64..1_000_000_000,
    ) {
        let at = OffsetDateTime::from_unix_timestamp(now.unix_timestamp() + delta).unwrap();
        let parsed = parse_retry_after(&http_date(at), now).expect("an IMF-fixdate parses");
        let ahead_ns = i128::from(at.unix_timestamp()) * 1_000_000_000 - now.unix_timestamp_nanos();
        let expected = if ahead_ns <= 0 {
            Duration::ZERO
        } else {
            Duration::from_millis((ahead_ns / 1_000_000) as u64)
        };
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn stored_secrets_parse_only_when_well_formed(raw in "\\PC{0,80}", key in proptest::collection::vec(any::<u8>(), 0..64)) {
        use base64::Engine;
        // Arbitrary text never panics, and a parsed secret always signs.
        if let Some(secret) = SigningSecret::parse(&raw) {
            let signature = secret.sign("msg", 1, b"{}");
            prop_assert!(signature.starts_with("v1,"), "{}", signature);
        }
        let text = format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let parsed = SigningSecret::parse(&text);
        prop_assert_eq!(parsed.is_some(), key.len() >= 16);
        if let Some(secret) = parsed {
            prop_assert_eq!(secret.expose(), text.as_str());
        }
    }

    #[test]
    fn signature_headers_have_one_signature_per_secret(
        count in 0_usize..4,
        msg_id in "\\PC{0,40}",
        timestamp in any::<i64>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let secrets: Vec<SigningSecret> = (0..count).map(|_| SigningSecret::generate()).collect();
        for secret in &secrets {
            prop_assert_eq!(SigningSecret::parse(secret.expose()), Some(secret.clone()));
        }
        let refs: Vec<&SigningSecret> = secrets.iter().collect();
        let header = signature_header(&refs, &msg_id, timestamp, &body);
        let parts: Vec<&str> = header.split(' ').filter(|p| !p.is_empty()).collect();
        prop_assert_eq!(parts.len(), count);
        for (part, secret) in parts.iter().zip(&secrets) {
            prop_assert_eq!(*part, secret.sign(&msg_id, timestamp, &body));
            prop_assert_eq!(part.len(), "v1,".len() + 44);
        }
    }
}
