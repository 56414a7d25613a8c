//! The process-wide rustls crypto provider (reqwest is built without one).

/// Installs the ring provider once; harmless when another component installed one already.
pub(crate) fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
