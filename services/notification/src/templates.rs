//! E-mail and feed texts from templates (minijinja), one set per locale with English as the
//! fallback. Templates live in `templates/<locale>/<kind>.{txt,html}` and are embedded at build
//! time; `<kind>.txt` holds the blocks `subject`, `summary` (feed text) and `body` (plain-text
//! e-mail), `<kind>.html` the HTML e-mail (auto-escaped).

use minijinja::Environment;
use serde_json::Value;

use crate::domain::Kind;
use crate::domain::preferences::SUPPORTED_LOCALES;

macro_rules! embedded {
    ($($locale:literal / $kind:literal),* $(,)?) => {
        &[$(
            (concat!($locale, "/", $kind, ".txt"), include_str!(concat!("../templates/", $locale, "/", $kind, ".txt"))),
            (concat!($locale, "/", $kind, ".html"), include_str!(concat!("../templates/", $locale, "/", $kind, ".html"))),
        )*]
    };
}

const TEMPLATES: &[(&str, &str)] = embedded![
    "en" / "order_submitted",
    "en" / "subscription_ready",
    "en" / "order_processed",
    "en" / "activation_complete",
    "en" / "provisioning_failed",
    "en" / "vendor_needs_information",
    "en" / "cancellation_window_closing",
    "en" / "auto_renew_last_day",
    "en" / "term_end_approaching",
    "en" / "staff_alert",
    "de" / "order_submitted",
    "de" / "subscription_ready",
    "de" / "activation_complete",
];

const LAYOUT: &str = include_str!("../templates/layout.html");

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// E-mail subject and feed title.
    pub subject: String,
    /// Feed body.
    pub summary: String,
    /// Plain-text e-mail body.
    pub text: String,
    /// HTML e-mail body.
    pub html: String,
}

/// A template that could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("template {template} failed to render: {message}")]
pub struct RenderError {
    /// Template name.
    pub template: String,
    /// What went wrong.
    pub message: String,
}

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the embedded templates and renders each once with sample values, so a broken
    /// template stops start-up instead of an event.
    pub fn load() -> Result<Self, RenderError> {
        let mut env = Environment::new();
        let add = |env: &mut Environment<'static>, name: &'static str, source: &'static str| {
            env.add_template(name, source).map_err(|e| RenderError {
                template: name.to_string(),
                message: e.to_string(),
            })
        };
        add(&mut env, "layout.html", LAYOUT)?;
        for (name, source) in TEMPLATES {
            add(&mut env, name, source)?;
        }
        let templates = Self { env };
        for kind in Kind::ALL {
            for locale in SUPPORTED_LOCALES {
                templates.render(kind, locale, &sample_vars())?;
            }
        }
        Ok(templates)
    }

    fn name(&self, locale: &str, kind: Kind, ext: &str) -> String {
        let wanted = format!("{locale}/{}.{ext}", kind.as_str());
        if self.env.get_template(&wanted).is_ok() {
            wanted
        } else {
            format!("en/{}.{ext}", kind.as_str())
        }
    }

    /// Renders `kind` in `locale` (falling back to English) with `vars`.
    pub fn render(&self, kind: Kind, locale: &str, vars: &Value) -> Result<Rendered, RenderError> {
        let txt = self.name(locale, kind, "txt");
        let fail = |template: &str, e: minijinja::Error| RenderError {
            template: template.to_string(),
            message: e.to_string(),
        };
        let template = self.env.get_template(&txt).map_err(|e| fail(&txt, e))?;
        let mut captured = template.render_captured(vars).map_err(|e| fail(&txt, e))?;
        let mut block = |name: &str| {
            captured
                .with_state_mut(|state| state.render_block(name))
                .map_err(|e| fail(&txt, e))
        };
        let subject = one_line(&block("subject")?);
        let summary = block("summary")?.trim().to_string();
        let text = block("body")?;
        let html_name = self.name(locale, kind, "html");
        let mut html_vars = vars.clone();
        if let Value::Object(map) = &mut html_vars {
            map.insert("subject".into(), Value::String(subject.clone()));
        }
        let html = self
            .env
            .get_template(&html_name)
            .and_then(|t| t.render(&html_vars))
            .map_err(|e| fail(&html_name, e))?;
        Ok(Rendered {
            subject,
            summary,
            text,
            html,
        })
    }
}

/// Subjects are one line (a header must not be split by template whitespace or input).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sample_vars() -> Value {
    serde_json::json!({
        "reseller_name": "Demo Reseller", "reseller_id": "reseller-demo", "customer_name": "Contoso Ltd",
        "order_number": "ORD-1", "order_item_id": "item-1", "plan_names": ["AutoCAD"], "plan_name": "AutoCAD",
        "item_count": 1, "created_by": "someone", "vendor": "Autodesk", "quantity": 3, "portal_url": "https://manage.autodesk.com",
        "term_end": "2027-01-01", "vendor_message": "invalid e-mail", "vendor_code": "E1", "vendor_reference": "T-1",
        "fixes": [{"field": "parameters.mpn_id", "description": "required"}], "deadline": "2026-01-01 00:00 UTC",
        "link": "https://example.invalid/x", "vendor_subscription_id": "S-1",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_kind_with_locale_fallback_and_escaping() {
        let t = Templates::load().unwrap();
        let mut vars = sample_vars();
        vars["customer_name"] = Value::String("<b>Evil</b> & Co".into());
        let en = t.render(Kind::SubscriptionReady, "en", &vars).unwrap();
        assert_eq!(en.subject, "Your AutoCAD subscription is ready");
        assert!(
            en.html.contains("&lt;b&gt;Evil&lt;")
                && en.html.contains("&amp; Co")
                && !en.html.contains("<b>Evil")
        );
        assert!(en.text.contains("<b>Evil</b> & Co"));
        let de = t.render(Kind::SubscriptionReady, "de", &vars).unwrap();
        assert!(de.subject.contains("bereit"));
        let fallback = t.render(Kind::StaffAlert, "de", &vars).unwrap();
        // A render failure names the template (the event is then dead-lettered, nothing stored).
        let error = t
            .render(
                Kind::VendorNeedsInformation,
                "en",
                &serde_json::json!({"fixes": 5}),
            )
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("template en/vendor_needs_information.txt failed to render"),
            "{error}"
        );
        assert!(fallback.subject.starts_with("[staff]"));
    }
}
