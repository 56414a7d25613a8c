//! Property tests of webhook URL validation: never a panic, only http(s), never a link-local
//! or metadata address, and nothing longer than the limit.

use notification::domain::webhook_url::WebhookUrl;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_input_is_answered_without_panicking(raw in "\\PC{0,300}") {
        if let Ok(url) = WebhookUrl::parse(&raw, false) {
            prop_assert!(url.as_str().starts_with("https://") || url.as_str().starts_with("http://"));
        }
    }

    #[test]
    fn other_schemes_are_refused(scheme in "(ftp|file|gopher|javascript|data|ws)", rest in "[a-z0-9./]{1,30}") {
        let raw = format!("{scheme}://{rest}");
        prop_assert!(WebhookUrl::parse(&raw, false).is_err());
    }

    #[test]
    fn link_local_and_metadata_addresses_are_refused(a in 0u8..=255, b in 0u8..=255, path in "[a-z0-9/]{0,20}") {
        let raw = format!("https://169.254.{a}.{b}/{path}");
        prop_assert!(WebhookUrl::parse(&raw, false).is_err());
    }

    #[test]
    fn over_long_urls_are_refused(len in 2049usize..4000) {
        let raw = format!("https://example.com/{}", "a".repeat(len));
        prop_assert!(WebhookUrl::parse(&raw, true).is_err());
    }
}
