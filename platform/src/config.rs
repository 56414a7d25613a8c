//! Layered configuration: compiled-in defaults → optional TOML file → prefixed environment
//! variables (`PREFIX_SECTION__KEY`), deserialized into a typed struct and validated.
//!
//! A bad value ends start-up with a message that names the setting. Secrets are wrapped in
//! [`Secret`], whose `Debug`/`Display` never print the value.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value as FigmentValue};
use figment::{Metadata, Profile, Provider};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration error naming the offending setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Loads `T` from `defaults` (TOML text), then `file` if given and present, then environment
/// variables starting with `env_prefix` (nested keys separated by `__`).
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env_prefix: &str,
) -> Result<T, ConfigError> {
    let mut figment = Figment::new().merge(Toml::string(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment.merge(RawEnv {
        prefix: env_prefix.to_string(),
    });
    figment.extract_lossy().map_err(|error| {
        let errors: Vec<String> = error
            .into_iter()
            .map(|e| {
                let key = if e.path.is_empty() {
                    String::new()
                } else {
                    e.path.join(".")
                };
                let env_name = format!("{env_prefix}{}", e.path.join("__").to_uppercase());
                if key.is_empty() {
                    e.kind.to_string()
                } else {
                    format!("setting `{key}` (env {env_name}): {}", e.kind)
                }
            })
            .collect();
        ConfigError(errors.join("; "))
    })
}

/// Environment variables `PREFIX_A__B=v` as `a.b = "v"`, always as strings: an all-digit value
/// such as a CSN stays a string, and extraction converts strings to numbers or booleans only
/// where the target type asks for one (lossy extraction).
struct RawEnv {
    prefix: String,
}

impl Provider for RawEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable(s) {}*", self.prefix))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (name, value) in std::env::vars() {
            let Some(rest) = name.strip_prefix(&self.prefix) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            insert_path(&mut root, &keys, FigmentValue::from(value));
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert_path(dict: &mut Dict, keys: &[String], value: FigmentValue) {
    match keys {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| FigmentValue::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = FigmentValue::from(Dict::new());
            }
            if let FigmentValue::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Deserializes a settings value (e.g. a component section kept as JSON) with the same lossy
/// rules as [`load`], naming `section` in the error.
pub fn from_value<T: DeserializeOwned, V: Serialize>(
    section: &str,
    value: &V,
) -> Result<T, ConfigError> {
    Figment::from(Serialized::defaults(value))
        .extract_lossy()
        .map_err(|error| {
            let errors: Vec<String> = error
                .into_iter()
                .map(|e| {
                    if e.path.is_empty() {
                        format!("section `{section}`: {}", e.kind)
                    } else {
                        format!("setting `{section}.{}`: {}", e.path.join("."), e.kind)
                    }
                })
                .collect();
            ConfigError(errors.join("; "))
        })
}

/// A secret value (database URL with password, API secret, key). Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Redacts the credentials of a URL for logging: the password (`postgres://user:***@host/db`),
/// or a lone user part, which is a token for some servers (`nats://***@host`). A comma-separated
/// server list (NATS) is redacted URL by URL.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        return url
            .split(',')
            .map(|u| redact_url(u.trim()))
            .collect::<Vec<_>>()
            .join(",");
    }
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            } else if !parsed.username().is_empty() {
                let _ = parsed.set_username("***");
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable url>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        server: Server,
        token: Secret,
    }

    #[derive(Debug, Deserialize)]
    struct Server {
        port: u16,
    }

    #[test]
    fn digit_only_env_values_stay_strings_and_numbers_still_parse() {
        #[derive(Debug, Deserialize)]
        struct Partner {
            csn: String,
            port: u16,
            enabled: bool,
        }
        // SAFETY: test-only env vars with a unique prefix.
        unsafe {
            std::env::set_var("CFGTEST_C_CSN", "5100000001");
            std::env::set_var("CFGTEST_C_PORT", "8080");
            std::env::set_var("CFGTEST_C_ENABLED", "false");
        }
        let partner = load::<Partner>(
            "csn = \"x\"\nport = 1\nenabled = true\n",
            None,
            "CFGTEST_C_",
        )
        .unwrap();
        assert_eq!(partner.csn, "5100000001");
        assert_eq!(partner.port, 8080);
        assert!(!partner.enabled);
    }

    #[test]
    fn bad_value_names_the_setting() {
        // SAFETY: test-only env var with a unique prefix; no other thread reads it.
        unsafe { std::env::set_var("CFGTEST_A_SERVER__PORT", "not-a-number") };
        let error =
            load::<Sample>("token = \"x\"\n[server]\nport = 1\n", None, "CFGTEST_A_").unwrap_err();
        assert!(error.to_string().contains("server.port"), "{error}");
        assert!(
            error.to_string().contains("CFGTEST_A_SERVER__PORT"),
            "{error}"
        );
    }

    #[test]
    fn env_overrides_defaults_and_secrets_are_redacted() {
        // SAFETY: as above.
        unsafe { std::env::set_var("CFGTEST_B_SERVER__PORT", "8080") };
        let sample = load::<Sample>(
            "token = \"hunter2\"\n[server]\nport = 1\n",
            None,
            "CFGTEST_B_",
        )
        .unwrap();
        assert_eq!(sample.server.port, 8080);
        assert_eq!(sample.token.expose(), "hunter2");
        assert!(!format!("{sample:?}").contains("hunter2"));
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("nats://s3cr3t@h:4222"), "nats://***@h:4222");
        assert_eq!(
            redact_url("nats://u:pw@a:4222,nats://tok@b:4222"),
            "nats://u:***@a:4222,nats://***@b:4222"
        );
    }
}
