//! Vendor connectors over real HTTP: [`autodesk::AutodeskConnector`] and
//! [`microsoft::MicrosoftConnector`], chosen per job by `PlanFacts.connector`.

pub mod autodesk;
pub(crate) mod http;
pub mod microsoft;

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::connector::VendorConnector;

pub use http::Gate;

/// Connectors by name.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: HashMap<&'static str, Arc<dyn VendorConnector>>,
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors")
            .field("names", &self.by_name.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Connectors {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a connector under its name.
    pub fn with(mut self, connector: Arc<dyn VendorConnector>) -> Self {
        self.by_name.insert(connector.name(), connector);
        self
    }

    /// Connectors that asked us to wait (429 `Retry-After` not yet passed).
    pub fn blocked(&self) -> Vec<&'static str> {
        self.by_name
            .iter()
            .filter(|(_, c)| c.blocked_for().is_some())
            .map(|(name, _)| *name)
            .collect()
    }

    /// The connector called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn VendorConnector>> {
        self.by_name.get(name)
    }
}

/// Installs ring as rustls' crypto provider once (an already installed provider is kept).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
