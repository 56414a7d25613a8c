//! Configuration of the `marketplace` binary: compiled-in defaults (`config/defaults.toml`) →
//! optional TOML file → `MARKETPLACE_*` environment variables (`__` separates nested keys).
//!
//! Each component's section is kept as a JSON value and deserialized into that component's own
//! `Settings` type after the runtime facts (peer addresses chosen at start-up) are filled in, so
//! a component's settings are documented and validated by the component itself.

use std::path::Path;

use marketplace_platform::config::{ConfigError, Secret};
use marketplace_platform::telemetry::TelemetrySettings;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The compiled-in defaults.
pub const DEFAULTS: &str = include_str!("../config/defaults.toml");

/// Environment variable prefix.
pub const ENV_PREFIX: &str = "MARKETPLACE_";

/// What this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything in one process (embedded default).
    All,
    /// The catalog service.
    Catalog,
    /// The ordering service.
    Ordering,
    /// The provisioning adapter service.
    Provisioning,
    /// The notification service.
    Notification,
    /// The API gateway.
    Gateway,
    /// The Autodesk and Microsoft sandbox simulators.
    VendorSim,
    /// Standalone outbox relays: publish the ordering and provisioning outboxes to the bus
    /// (beside the services' own relays, or instead of them with `<service>.outbox_relay = false`).
    Relay,
}

impl Role {
    /// The role's name as given on the command line (`all`, `catalog`, …, `vendor-sim`).
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Catalog => "catalog",
            Self::Ordering => "ordering",
            Self::Provisioning => "provisioning",
            Self::Notification => "notification",
            Self::Gateway => "gateway",
            Self::VendorSim => "vendor-sim",
            Self::Relay => "relay",
        }
    }

    /// Parses a role name given on the command line.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            ConfigError(format!(
                "setting `role` must be one of all, catalog, ordering, provisioning, notification, gateway, vendor-sim, relay (got {s:?})"
            ))
        })
    }
}

/// Shared authentication keys.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// Key signing the forwarded caller identity; empty = random (single process only).
    pub internal_key: Secret,
    /// The key before the last rotation, still accepted (empty = none).
    #[serde(default)]
    pub previous_internal_key: Secret,
    /// Key signing page tokens; empty = random.
    pub page_token_key: Secret,
}

/// Event bus selection.
#[derive(Debug, Clone, Deserialize)]
pub struct BusConfig {
    /// `memory` or a NATS URL.
    pub url: String,
    /// JetStream stream name prefix.
    pub stream_prefix: String,
    /// Subject prefix (isolates environments sharing a NATS server).
    pub subject_prefix: String,
}

/// Sandbox vendor simulators.
#[derive(Debug, Clone, Deserialize)]
pub struct VendorSimConfig {
    /// Run them (role `all`).
    pub enabled: bool,
    /// Autodesk simulator address.
    pub autodesk_listen: String,
    /// Microsoft Partner Center simulator address.
    pub microsoft_listen: String,
    /// Simulated provisioning time.
    pub provisioning_delay_ms: u64,
}

/// Sandbox SMTP server.
#[derive(Debug, Clone, Deserialize)]
pub struct SandboxSmtpConfig {
    /// Run it when no SMTP url is configured (role `all`).
    pub enabled: bool,
    /// Address.
    pub listen: String,
}

/// Standalone outbox relays (role `relay`).
#[derive(Debug, Clone, Deserialize)]
pub struct RelayConfig {
    /// Services whose outbox this process publishes (their `<service>.database` is used):
    /// `ordering`, `provisioning`.
    pub sources: Vec<String>,
    /// How often an idle relay looks for new rows (a standalone relay is not woken by the
    /// service's commits).
    pub poll_interval_ms: u64,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// What to run.
    pub role: Role,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Keys.
    pub auth: AuthConfig,
    /// Bus.
    pub bus: BusConfig,
    /// Gateway section (see `gateway::Settings`, plus `listen_http`, `listen_grpc`).
    pub gateway: Value,
    /// Catalog section (see `catalog::Settings`, plus `listen`, `url`).
    pub catalog: Value,
    /// Ordering section (see `ordering::Settings`, plus `listen`, `url`).
    pub ordering: Value,
    /// Provisioning section (see `provisioning::Settings`, plus `listen`, `url`).
    pub provisioning: Value,
    /// Notification section (see `notification::Settings`, plus `listen`, `url`).
    pub notification: Value,
    /// Vendor simulators.
    pub vendor_sim: VendorSimConfig,
    /// Sandbox SMTP.
    pub sandbox_smtp: SandboxSmtpConfig,
    /// Standalone outbox relays.
    pub relay: RelayConfig,
    /// Only run the database migrations (and demo seeding, when enabled) of the selected
    /// component(s), then exit (`--migrate-only`; used by the Kubernetes migration Jobs).
    #[serde(default)]
    pub migrate_only: bool,
}

impl Config {
    /// Loads defaults → file → environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        marketplace_platform::config::load(DEFAULTS, file, ENV_PREFIX)
    }

    /// An empty `telemetry.service_name` (the default) becomes the role's name (`catalog`,
    /// `gateway`, …; `marketplace` for role `all`), so each component's spans carry its own.
    pub fn default_service_name(&mut self) {
        if self.telemetry.service_name.trim().is_empty() {
            self.telemetry.service_name = match self.role {
                Role::All => "marketplace".to_string(),
                role => role.name().to_string(),
            };
        }
    }
}

/// Reads a string key of a component section.
pub fn str_key<'a>(section: &'a Value, key: &str) -> &'a str {
    section.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Sets `path` (dot-separated) in a section, creating objects on the way.
pub fn set_key(section: &mut Value, path: &str, value: Value) {
    let mut current = section;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !current.is_object() {
            *current = Value::Object(Default::default());
        }
        let map = current.as_object_mut().expect("object ensured above");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        current = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// Deserializes a component section into its `Settings`, naming the section on error.
pub fn component_settings<T: DeserializeOwned>(
    name: &str,
    section: &Value,
) -> Result<T, ConfigError> {
    let mut section = section.clone();
    if let Some(map) = section.as_object_mut() {
        for key in ["listen", "url", "listen_http", "listen_grpc"] {
            map.remove(key);
        }
    }
    marketplace_platform::config::from_value(name, &section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_name_defaults_to_the_role() {
        let defaults: Config =
            marketplace_platform::config::load(DEFAULTS, None, "MARKETPLACE_SERVICE_NAME_TEST_")
                .expect("defaults load");
        for (role, name) in [
            (Role::All, "marketplace"),
            (Role::Catalog, "catalog"),
            (Role::Gateway, "gateway"),
            (Role::VendorSim, "vendor-sim"),
            (Role::Relay, "relay"),
        ] {
            let mut config = defaults.clone();
            config.role = role;
            config.default_service_name();
            assert_eq!(config.telemetry.service_name, name);
            assert_eq!(Role::parse(role.name()).unwrap(), role);
        }
        let mut explicit = defaults.clone();
        explicit.role = Role::Ordering;
        explicit.telemetry.service_name = "orders-eu".into();
        explicit.default_service_name();
        assert_eq!(explicit.telemetry.service_name, "orders-eu");
    }
}
