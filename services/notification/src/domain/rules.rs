//! Rules: which notifications an event causes, for whom, and with which template variables.
//!
//! Recipients are resolved per tenant: the reseller's notification e-mail (carried by ordering
//! events and remembered for events that do not carry it), the preference overriding where
//! "subscription ready" goes, the customer's vendor admin contact for activation e-mails, and
//! the staff address for alerts.

use marketplace_proto::events::v1::{CustomerFacts, Envelope, ReminderKind, envelope::Payload};
use serde_json::{Value, json};

use super::preferences::{is_email, template_locale};
use super::{Audience, Kind, Preferences};

/// What the service knows about a reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResellerContact {
    /// Reseller id.
    pub reseller_id: String,
    /// Display name.
    pub name: String,
    /// Where notifications go by default.
    pub notification_email: String,
}

/// What the service knows about an order (learned from `order_submitted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// Order id.
    pub order_id: String,
    /// Owning reseller.
    pub reseller_id: String,
    /// Human order number.
    pub order_number: String,
    /// Customer id.
    pub customer_id: String,
    /// Customer name.
    pub customer_name: String,
}

/// Facts an event carries that later events may need.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    /// Reseller contact facts.
    pub reseller: Option<ResellerContact>,
    /// Order facts.
    pub order: Option<OrderFacts>,
}

/// Everything a rule needs besides the event.
#[derive(Debug, Clone)]
pub struct RuleContext<'a> {
    /// The reseller (from the event or remembered).
    pub reseller: Option<&'a ResellerContact>,
    /// The order (from the event or remembered).
    pub order: Option<&'a OrderFacts>,
    /// The reseller's preferences.
    pub preferences: &'a Preferences,
    /// Where staff alerts go (empty = feed only).
    pub staff_email: &'a str,
    /// Base URL of the reseller control panel, for links.
    pub console_url: &'a str,
}

/// One e-mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTarget {
    /// Address.
    pub address: String,
    /// Template locale.
    pub locale: &'static str,
}

/// One notification to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Kind (and template).
    pub kind: Kind,
    /// Feed audience.
    pub audience: Audience,
    /// Reseller concerned.
    pub reseller_id: String,
    /// Customer concerned.
    pub customer_id: String,
    /// Order concerned.
    pub order_id: String,
    /// Subscription concerned.
    pub subscription_id: String,
    /// Where to act on it.
    pub link: String,
    /// Locale of the feed text.
    pub locale: &'static str,
    /// Template variables.
    pub vars: Value,
    /// E-mails to send (muted kinds already removed).
    pub emails: Vec<EmailTarget>,
}

/// Facts carried by `event`.
pub fn learned(event: &Envelope) -> Learned {
    let reseller = |r: &Option<marketplace_proto::events::v1::ResellerFacts>| {
        r.as_ref()
            .filter(|r| !r.reseller_id.is_empty())
            .map(|r| ResellerContact {
                reseller_id: r.reseller_id.clone(),
                name: r.name.clone(),
                notification_email: r.notification_email.clone(),
            })
    };
    match event.payload.as_ref() {
        Some(Payload::OrderSubmitted(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: Some(OrderFacts {
                order_id: p.order_id.clone(),
                reseller_id: event.reseller_id.clone(),
                order_number: p.order_number.clone(),
                customer_id: event.customer_id.clone(),
                customer_name: p
                    .customer
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
            }),
        },
        Some(Payload::OrderStatusChanged(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        Some(Payload::FulfilmentRequested(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        Some(Payload::SubscriptionStatusChanged(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        Some(Payload::SubscriptionActivated(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        Some(Payload::SubscriptionReminder(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        Some(Payload::ResellerProfileChanged(p)) => Learned {
            reseller: reseller(&p.reseller),
            order: None,
        },
        _ => Learned::default(),
    }
}

/// The staff alert e-mail target (reseller preferences never mute staff alerts).
fn staff_targets(ctx: &RuleContext<'_>) -> Vec<EmailTarget> {
    if is_email(ctx.staff_email) {
        vec![EmailTarget {
            address: ctx.staff_email.to_string(),
            locale: "en",
        }]
    } else {
        Vec::new()
    }
}

/// The display name of a vendor id.
pub fn vendor_name(vendor_id: &str) -> &str {
    match vendor_id {
        "autodesk" => "Autodesk",
        "microsoft" | "microsoft_nce" => "Microsoft",
        other => other,
    }
}

struct Builder<'a> {
    event: &'a Envelope,
    ctx: &'a RuleContext<'a>,
}

impl Builder<'_> {
    fn reseller_email(&self) -> Option<String> {
        self.ctx
            .reseller
            .map(|r| r.notification_email.clone())
            .filter(|e| is_email(e))
    }

    fn locale(&self) -> &'static str {
        template_locale(&self.ctx.preferences.locale)
    }

    fn targets(
        &self,
        kind: Kind,
        addresses: impl IntoIterator<Item = (String, &'static str)>,
    ) -> Vec<EmailTarget> {
        if self.ctx.preferences.is_muted(kind) {
            return Vec::new();
        }
        let mut out: Vec<EmailTarget> = Vec::new();
        for (address, locale) in addresses {
            if is_email(&address) && !out.iter().any(|t| t.address.eq_ignore_ascii_case(&address)) {
                out.push(EmailTarget { address, locale });
            }
        }
        out
    }

    fn order_link(&self, order_id: &str) -> String {
        if order_id.is_empty() {
            String::new()
        } else {
            format!(
                "{}/orders/{order_id}",
                self.ctx.console_url.trim_end_matches('/')
            )
        }
    }

    fn order_number(&self, carried: &str) -> String {
        if !carried.is_empty() {
            return carried.to_string();
        }
        self.ctx
            .order
            .map(|o| o.order_number.clone())
            .unwrap_or_default()
    }

    fn base_vars(&self) -> serde_json::Map<String, Value> {
        let mut vars = serde_json::Map::new();
        vars.insert(
            "reseller_name".into(),
            json!(
                self.ctx
                    .reseller
                    .map(|r| r.name.clone())
                    .unwrap_or_default()
            ),
        );
        vars.insert(
            "customer_name".into(),
            json!(
                self.ctx
                    .order
                    .map(|o| o.customer_name.clone())
                    .unwrap_or_default()
            ),
        );
        vars
    }

    #[allow(clippy::too_many_arguments)]
    fn planned(
        &self,
        kind: Kind,
        audience: Audience,
        order_id: &str,
        subscription_id: &str,
        link: String,
        vars: serde_json::Map<String, Value>,
        emails: Vec<EmailTarget>,
    ) -> Planned {
        let mut vars = vars;
        vars.insert("link".into(), json!(link));
        Planned {
            kind,
            audience,
            reseller_id: self.event.reseller_id.clone(),
            customer_id: self.event.customer_id.clone(),
            order_id: order_id.to_string(),
            subscription_id: subscription_id.to_string(),
            link,
            locale: if audience == Audience::Staff {
                "en"
            } else {
                self.locale()
            },
            vars: Value::Object(vars),
            emails,
        }
    }

    fn reseller_targets(&self, kind: Kind) -> Vec<EmailTarget> {
        let locale = self.locale();
        self.targets(kind, self.reseller_email().map(|a| (a, locale)))
    }
}

/// The notifications `event` causes.
pub fn plan(event: &Envelope, ctx: &RuleContext<'_>) -> Vec<Planned> {
    let b = Builder { event, ctx };
    let Some(payload) = event.payload.as_ref() else {
        return Vec::new();
    };
    match payload {
        Payload::OrderSubmitted(p) => {
            let mut vars = b.base_vars();
            vars.insert("order_number".into(), json!(p.order_number));
            vars.insert(
                "customer_name".into(),
                json!(
                    p.customer
                        .as_ref()
                        .map(|c| c.name.clone())
                        .unwrap_or_default()
                ),
            );
            vars.insert("plan_names".into(), json!(p.plan_names));
            vars.insert("item_count".into(), json!(p.item_count));
            vars.insert("created_by".into(), json!(p.created_by));
            let kind = Kind::OrderSubmitted;
            vec![b.planned(
                kind,
                Audience::Reseller,
                &p.order_id,
                "",
                b.order_link(&p.order_id),
                vars,
                b.reseller_targets(kind),
            )]
        }
        Payload::SubscriptionActivated(p) => {
            let mut vars = b.base_vars();
            vars.insert(
                "order_number".into(),
                json!(b.order_number(&p.order_number)),
            );
            vars.insert("plan_name".into(), json!(p.plan_name));
            vars.insert("vendor".into(), json!(vendor_name(&p.vendor_id)));
            vars.insert("quantity".into(), json!(p.quantity));
            vars.insert("portal_url".into(), json!(p.portal_url));
            vars.insert(
                "vendor_subscription_id".into(),
                json!(p.vendor_subscription_id),
            );
            if let Some(c) = &p.customer {
                vars.insert("customer_name".into(), json!(c.name));
            }
            if let Some(d) = &p.term_end {
                vars.insert(
                    "term_end".into(),
                    json!(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
                );
            }
            let locale = b.locale();
            // Seed 001: "subscription ready" goes to the configured address, by default the reseller's.
            let ready_to = match ctx.preferences.subscription_ready_email.as_str() {
                "" => b.reseller_email(),
                configured => Some(configured.to_string()),
            };
            let ready = b.targets(Kind::SubscriptionReady, ready_to.map(|a| (a, locale)));
            let sub_link = format!(
                "{}/subscriptions/{}",
                ctx.console_url.trim_end_matches('/'),
                p.subscription_id
            );
            let ready = b.planned(
                Kind::SubscriptionReady,
                Audience::Reseller,
                &p.order_id,
                &p.subscription_id,
                sub_link,
                vars.clone(),
                ready,
            );
            // Activation complete: to the customer's vendor admin (Contract Manager / global admin) and the reseller.
            let mut to = Vec::new();
            if let Some(contact) = p
                .customer
                .as_ref()
                .and_then(|c| admin_contact(c, &p.vendor_id))
            {
                let customer_locale = p
                    .customer
                    .as_ref()
                    .map(|c| template_locale(&c.language_code))
                    .unwrap_or("en");
                to.push((contact, customer_locale));
            }
            if let Some(r) = b.reseller_email() {
                to.push((r, locale));
            }
            let activation = b.targets(Kind::ActivationComplete, to);
            let link = if p.portal_url.is_empty() {
                b.order_link(&p.order_id)
            } else {
                p.portal_url.clone()
            };
            let activation = b.planned(
                Kind::ActivationComplete,
                Audience::Reseller,
                &p.order_id,
                &p.subscription_id,
                link,
                vars,
                activation,
            );
            vec![ready, activation]
        }
        Payload::FulfilmentSucceeded(p) => {
            let mut vars = b.base_vars();
            vars.insert("order_number".into(), json!(b.order_number("")));
            vars.insert("vendor_message".into(), json!(p.vendor_message));
            vars.insert("vendor_reference".into(), json!(p.vendor_reference));
            vars.insert("quantity".into(), json!(p.quantity));
            let kind = Kind::OrderProcessed;
            vec![b.planned(
                kind,
                Audience::Reseller,
                &p.order_id,
                "",
                b.order_link(&p.order_id),
                vars,
                b.reseller_targets(kind),
            )]
        }
        Payload::FulfilmentInquiring(p) => {
            let mut vars = b.base_vars();
            vars.insert("order_number".into(), json!(b.order_number("")));
            vars.insert("vendor_code".into(), json!(p.vendor_code));
            vars.insert("vendor_message".into(), json!(p.vendor_message));
            let fixes: Vec<Value> = p
                .field_violations
                .iter()
                .map(|v| json!({"field": v.field, "description": v.description}))
                .collect();
            vars.insert("fixes".into(), Value::Array(fixes));
            let link = if p.order_id.is_empty() {
                String::new()
            } else {
                format!(
                    "{}/orders/{}/items/{}",
                    ctx.console_url.trim_end_matches('/'),
                    p.order_id,
                    p.order_item_id
                )
            };
            let kind = Kind::VendorNeedsInformation;
            vec![b.planned(
                kind,
                Audience::Reseller,
                &p.order_id,
                "",
                link,
                vars,
                b.reseller_targets(kind),
            )]
        }
        Payload::FulfilmentFailed(p) => {
            let mut vars = b.base_vars();
            vars.insert(
                "order_number".into(),
                json!(b.order_number(&p.order_number)),
            );
            vars.insert("vendor".into(), json!(vendor_name(&p.vendor_id)));
            vars.insert("vendor_code".into(), json!(p.vendor_code));
            vars.insert("vendor_message".into(), json!(p.vendor_message));
            vars.insert("reseller_id".into(), json!(event.reseller_id));
            vars.insert("order_item_id".into(), json!(p.order_item_id));
            let link = b.order_link(&p.order_id);
            let failed = b.planned(
                Kind::ProvisioningFailed,
                Audience::Reseller,
                &p.order_id,
                "",
                link.clone(),
                vars.clone(),
                b.reseller_targets(Kind::ProvisioningFailed),
            );
            // Seed 000: staff are notified of every Not Provisioned item.
            let alert = b.planned(
                Kind::StaffAlert,
                Audience::Staff,
                &p.order_id,
                "",
                link,
                vars,
                staff_targets(ctx),
            );
            vec![failed, alert]
        }
        Payload::ConnectorHealthChanged(p) => {
            // Once per change of a connector's health (provisioning publishes no more), never
            // per job: staff fix the credentials, the waiting jobs resume by themselves.
            let mut vars = serde_json::Map::new();
            vars.insert("connector".into(), json!(p.connector));
            vars.insert("vendor".into(), json!(vendor_name(&p.vendor_id)));
            vars.insert("healthy".into(), json!(p.healthy));
            vars.insert("vendor_code".into(), json!(p.vendor_code));
            vars.insert("vendor_message".into(), json!(p.message));
            let link = format!(
                "{}/provisioningJobs?vendorId={}",
                ctx.console_url.trim_end_matches('/'),
                p.vendor_id
            );
            vec![b.planned(
                Kind::StaffAlert,
                Audience::Staff,
                "",
                "",
                link,
                vars,
                staff_targets(ctx),
            )]
        }
        Payload::SubscriptionReminder(p) => {
            let kind = match ReminderKind::try_from(p.kind) {
                Ok(ReminderKind::CancellationWindowClosing) => Kind::CancellationWindowClosing,
                Ok(ReminderKind::AutoRenewLastDay) => Kind::AutoRenewLastDay,
                Ok(ReminderKind::TermEndApproaching) => Kind::TermEndApproaching,
                _ => return Vec::new(),
            };
            let mut vars = b.base_vars();
            vars.insert("plan_name".into(), json!(p.plan_name));
            vars.insert("customer_name".into(), json!(p.customer_name));
            let deadline = p
                .deadline_time
                .as_ref()
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
                .map(|t| {
                    format!(
                        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                        t.year(),
                        u8::from(t.month()),
                        t.day(),
                        t.hour(),
                        t.minute()
                    )
                })
                .unwrap_or_default();
            vars.insert("deadline".into(), json!(deadline));
            let link = format!(
                "{}/subscriptions/{}",
                ctx.console_url.trim_end_matches('/'),
                p.subscription_id
            );
            vec![b.planned(
                kind,
                Audience::Reseller,
                "",
                &p.subscription_id,
                link,
                vars,
                b.reseller_targets(kind),
            )]
        }
        _ => Vec::new(),
    }
}

/// The vendor admin contact of a customer: Autodesk Contract Manager, Microsoft global admin,
/// else the first contact with an e-mail.
pub fn admin_contact(customer: &CustomerFacts, vendor_id: &str) -> Option<String> {
    let wanted = if vendor_id == "autodesk" {
        "contract_manager"
    } else {
        "global_admin"
    };
    customer
        .contacts
        .iter()
        .find(|c| c.role == wanted && is_email(&c.email))
        .or_else(|| customer.contacts.iter().find(|c| is_email(&c.email)))
        .map(|c| c.email.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketplace_proto::events::v1::{
        ContactFacts, FulfilmentFailed, ResellerFacts, SubscriptionActivated,
    };

    fn reseller() -> ResellerContact {
        ResellerContact {
            reseller_id: "r1".into(),
            name: "R".into(),
            notification_email: "r@r.example".into(),
        }
    }

    fn activated(vendor: &str, contacts: Vec<ContactFacts>) -> Envelope {
        Envelope {
            id: "e1".into(),
            reseller_id: "r1".into(),
            payload: Some(Payload::SubscriptionActivated(SubscriptionActivated {
                subscription_id: "s1".into(),
                vendor_id: vendor.into(),
                portal_url: "https://portal.example".into(),
                reseller: Some(ResellerFacts {
                    reseller_id: "r1".into(),
                    notification_email: "r@r.example".into(),
                    ..Default::default()
                }),
                customer: Some(CustomerFacts {
                    contacts,
                    language_code: "de".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn contact(email: &str, role: &str) -> ContactFacts {
        ContactFacts {
            email: email.into(),
            role: role.into(),
            ..Default::default()
        }
    }

    #[test]
    fn subscription_ready_goes_to_the_configured_address_else_the_resellers() {
        let r = reseller();
        let mut prefs = Preferences::defaults("r1");
        let ctx = |prefs: &Preferences| -> Vec<Planned> {
            let ctx = RuleContext {
                reseller: Some(&r),
                order: None,
                preferences: prefs,
                staff_email: "staff@x.example",
                console_url: "http://c/",
            };
            plan(
                &activated(
                    "autodesk",
                    vec![contact("cm@c.example", "contract_manager")],
                ),
                &ctx,
            )
        };
        let planned = ctx(&prefs);
        assert_eq!(planned[0].kind, Kind::SubscriptionReady);
        assert_eq!(
            planned[0].emails,
            vec![EmailTarget {
                address: "r@r.example".into(),
                locale: "en"
            }]
        );
        assert_eq!(planned[0].link, "http://c/subscriptions/s1");
        assert_eq!(planned[1].kind, Kind::ActivationComplete);
        assert_eq!(planned[1].link, "https://portal.example");
        assert_eq!(
            planned[1].emails[0],
            EmailTarget {
                address: "cm@c.example".into(),
                locale: "de"
            }
        );
        prefs.subscription_ready_email = "me@r.example".into();
        prefs.muted_email_kinds = vec![Kind::ActivationComplete];
        let planned = ctx(&prefs);
        assert_eq!(planned[0].emails[0].address, "me@r.example");
        assert!(
            planned[1].emails.is_empty(),
            "muted kinds keep the feed row but send no e-mail"
        );
    }

    #[test]
    fn activation_mail_goes_to_the_vendor_admin_contact() {
        let c = CustomerFacts {
            contacts: vec![
                contact("sc@c.example", "software_coordinator"),
                contact("ga@c.example", "global_admin"),
            ],
            ..Default::default()
        };
        assert_eq!(
            admin_contact(&c, "microsoft").as_deref(),
            Some("ga@c.example")
        );
        assert_eq!(
            admin_contact(&c, "autodesk").as_deref(),
            Some("sc@c.example"),
            "falls back to the first contact"
        );
        assert_eq!(admin_contact(&CustomerFacts::default(), "autodesk"), None);
    }

    #[test]
    fn failures_alert_staff_whatever_the_reseller_muted() {
        let r = reseller();
        let prefs = Preferences {
            muted_email_kinds: vec![Kind::ProvisioningFailed],
            ..Preferences::defaults("r1")
        };
        let ctx = RuleContext {
            reseller: Some(&r),
            order: None,
            preferences: &prefs,
            staff_email: "staff@x.example",
            console_url: "http://c",
        };
        let event = Envelope {
            reseller_id: "r1".into(),
            payload: Some(Payload::FulfilmentFailed(FulfilmentFailed {
                order_id: "o1".into(),
                vendor_message: "boom".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let planned = plan(&event, &ctx);
        assert_eq!(planned.len(), 2);
        assert!(planned[0].emails.is_empty());
        assert_eq!(
            (planned[1].kind, planned[1].audience),
            (Kind::StaffAlert, Audience::Staff)
        );
        assert_eq!(planned[1].emails[0].address, "staff@x.example");
        assert_eq!(planned[1].vars["vendor_message"], "boom");
    }

    #[test]
    fn refused_connector_credentials_alert_staff_once_with_the_settings_to_check() {
        let prefs = Preferences::defaults("");
        let ctx = RuleContext {
            reseller: None,
            order: None,
            preferences: &prefs,
            staff_email: "staff@x.example",
            console_url: "http://c",
        };
        let event = Envelope {
            payload: Some(Payload::ConnectorHealthChanged(
                marketplace_proto::events::v1::ConnectorHealthChanged {
                    connector: "autodesk".into(),
                    vendor_id: "autodesk".into(),
                    healthy: false,
                    vendor_code: "4106".into(),
                    message: "check provisioning.autodesk.consumer_secret".into(),
                },
            )),
            ..Default::default()
        };
        let planned = plan(&event, &ctx);
        assert_eq!(planned.len(), 1);
        assert_eq!(
            (planned[0].kind, planned[0].audience),
            (Kind::StaffAlert, Audience::Staff)
        );
        assert_eq!(planned[0].emails[0].address, "staff@x.example");
        let rendered = crate::templates::Templates::load()
            .expect("templates")
            .render(planned[0].kind, planned[0].locale, &planned[0].vars)
            .expect("renders");
        assert!(
            rendered
                .subject
                .contains("Autodesk refuses our credentials"),
            "{rendered:?}"
        );
        assert!(
            rendered
                .summary
                .contains("provisioning.autodesk.consumer_secret"),
            "{rendered:?}"
        );
        assert!(rendered.html.contains("4106"), "{rendered:?}");
    }
}
