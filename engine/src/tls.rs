//! The process's TLS crypto provider: rustls with ring, installed once before any HTTPS client
//! is built (reqwest is built without a provider of its own, to keep aws-lc's C build out of
//! the engine's build). Depends on nothing else in the crate.

use std::sync::Once;

/// Makes ring the process's rustls crypto provider; every HTTP client builder calls this first.
/// Calling it again does nothing, and a provider installed by someone else is kept.
pub fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means a provider is already installed: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_https_client_builds_once_the_provider_is_installed() {
        // Without a provider reqwest's builder panics; with ring installed it builds, twice.
        super::ensure_provider();
        super::ensure_provider();
        assert!(reqwest::Client::builder().https_only(true).build().is_ok());
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
