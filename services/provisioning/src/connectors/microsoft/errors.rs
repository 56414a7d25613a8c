//! Partner Center error bodies (`{code, description, data, source}`) mapped to our classes.

use std::time::Duration;

use crate::connectors::http::{Answer, text};
use crate::domain::error::{ErrorClass, VendorError};

/// The call an error answered (the same code means different things on different calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    CreateCustomer,
    Read,
    Agreement,
    CreateCart,
    Checkout,
    Patch,
}

/// Classifies an error answer.
pub(crate) fn classify(call: Call, answer: &Answer) -> VendorError {
    let body = answer.json();
    if answer.status == 429 {
        let message = Some(text(&body, "message"))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "rate limit exceeded".into());
        return VendorError::throttled("429", message, answer.retry_after(Duration::from_secs(60)));
    }
    let code = Some(text(&body, "code"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("http_{}", answer.status));
    let message = Some(text(&body, "description"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Partner Center answered HTTP {}", answer.status));
    by_code(call, answer.status, code, message)
}

/// Classifies a Partner Center error code (also used for asynchronous line errors).
pub(crate) fn by_code(call: Call, status: u16, code: String, message: String) -> VendorError {
    let needs = |field: &str| VendorError::needs_input(code.clone(), message.clone(), field);
    match code.as_str() {
        // MPN id of the reseller of record is not valid (2072: the provider's id was sent).
        "800016" | "2072" => needs("parameters.mpn_id"),
        // The customer has not accepted the Microsoft Customer Agreement.
        "13605" => needs("customer.microsoft_customer_agreement_accepted"),
        // Quantity outside the allowed range / above the seat limit / decrease not allowed now.
        "2002" | "800067" | "800027" => needs("quantity"),
        // The tenant domain is taken.
        "600100" => needs("customer.microsoft_tenant_domain"),
        // No such customer (tenant) for this partner.
        "20002" => needs("customer.microsoft_tenant_id"),
        // Order in progress, pending adjustment, same request still processing, stale etag.
        "800060" | "800014" | "800064" | "2055" => {
            VendorError::new(ErrorClass::Conflict, code, message)
        }
        "800002" if call == Call::CreateCustomer && message.contains("domain") => {
            needs("customer.microsoft_tenant_domain")
        }
        "800002" if call == Call::CreateCustomer => needs("customer"),
        _ => match status {
            // Our credentials or setup were refused: nothing the reseller can fix.
            401 | 403 => VendorError::configuration(
                code,
                format!(
                    "{message}; Partner Center refused the marketplace's credentials: check the setting provisioning.microsoft.bearer_token"
                ),
            ),
            408 | 500..=599 => VendorError::transient(code, message),
            409 => VendorError::new(ErrorClass::Conflict, code, message),
            _ => VendorError::permanent(code, message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Default::default(),
            text: body.into(),
        }
    }

    #[test]
    fn partner_center_codes_map_to_classes() {
        let e = classify(
            Call::Checkout,
            &answer(
                400,
                r#"{"code":800016,"description":"MPN id 0000000 is not valid","data":[],"source":"PartnerFD"}"#,
            ),
        );
        assert_eq!(e.class, ErrorClass::NeedsInput);
        assert_eq!(e.violations[0].field, "parameters.mpn_id");
        assert_eq!(e.message, "MPN id 0000000 is not valid");
        assert_eq!(
            classify(
                Call::Checkout,
                &answer(403, r#"{"code":13605,"description":"x"}"#)
            )
            .class,
            ErrorClass::NeedsInput
        );
        assert_eq!(
            classify(
                Call::Checkout,
                &answer(409, r#"{"code":800060,"description":"x"}"#)
            )
            .class,
            ErrorClass::Conflict
        );
        assert_eq!(
            classify(
                Call::Patch,
                &answer(400, r#"{"code":800027,"description":"outside the window"}"#)
            )
            .violations[0]
                .field,
            "quantity"
        );
        assert_eq!(
            classify(Call::Read, &answer(503, "oops")).class,
            ErrorClass::Transient
        );
        assert_eq!(
            classify(
                Call::Patch,
                &answer(400, r#"{"code":2011,"description":"deleted"}"#)
            )
            .class,
            ErrorClass::Permanent
        );
        let refused = classify(
            Call::Read,
            &answer(
                401,
                r#"{"code":"401","description":"authentication failed"}"#,
            ),
        );
        assert_eq!(refused.class, ErrorClass::Configuration);
        assert!(
            refused
                .message
                .contains("provisioning.microsoft.bearer_token")
        );
        let throttled = classify(
            Call::Read,
            &answer(
                429,
                r#"{"statusCode":429,"message":"Try again in 3 seconds."}"#,
            ),
        );
        assert_eq!(throttled.class, ErrorClass::Throttled);
    }
}
