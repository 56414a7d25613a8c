//! Validation of webhook endpoint URLs: http(s) only, no credentials, no link-local or cloud
//! metadata addresses, a length limit; loopback only when allowed (development).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;

/// Host names of cloud metadata services.
const METADATA_HOSTS: [&str; 4] = [
    "metadata.google.internal",
    "metadata",
    "metadata.azure.internal",
    "instance-data",
];

/// A validated endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// Parses and checks `raw`; the error says what is wrong.
    pub fn parse(raw: &str, allow_loopback: bool) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
        let secure = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("scheme {other} is not allowed (use https)")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        let host = url.host().ok_or_else(|| "must have a host".to_string())?;
        let loopback = match host {
            url::Host::Ipv4(ip) => check_ip(IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => check_ip(IpAddr::V6(ip))?,
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if METADATA_HOSTS.contains(&name.as_str()) {
                    return Err("points at a cloud metadata service".into());
                }
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if loopback && !allow_loopback {
            return Err("points at a loopback address".into());
        }
        if !secure && !loopback {
            return Err("must use https (http only for loopback in development)".into());
        }
        Ok(Self(url))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Refuses addresses a webhook must never reach; returns whether the address is loopback.
pub fn check_ip(ip: IpAddr) -> Result<bool, String> {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_link_local() || v4 == Ipv4Addr::new(100, 100, 100, 200) {
                return Err("points at a link-local or metadata address".into());
            }
            if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                return Err("points at a non-routable address".into());
            }
            Ok(v4.is_loopback())
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return check_ip(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if (first & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
            {
                return Err("points at a link-local or metadata address".into());
            }
            if v6.is_unspecified() || v6.is_multicast() {
                return Err("points at a non-routable address".into());
            }
            Ok(v6.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_dev_loopback() {
        assert!(WebhookUrl::parse("https://partner.example/hooks", false).is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/h", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost:8080/h", true).is_ok());
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "ftp://partner.example/x",
            "http://partner.example/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/x",
            "https://metadata.google.internal/x",
            "https://user:pw@partner.example/x",
            "https://0.0.0.0/x",
            "not a url",
            "",
        ] {
            assert!(WebhookUrl::parse(bad, true).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1/x", false).is_err());
        let long = format!("https://partner.example/{}", "a".repeat(MAX_URL_LEN));
        assert!(WebhookUrl::parse(&long, false).is_err());
    }
}
