//! Every HTTP client the service calls others with starts here, so that all
//! of them share one TLS configuration:
//!
//! - rustls on *ring*, installed once per process. reqwest is built without a
//!   provider of its own (its default, aws-lc-rs, is a C library that would add
//!   megabytes to every function binary; ring is here anyway for RabbitMQ's
//!   TLS), and building a client with no provider installed panics.
//! - the system's root certificates, loaded on the first TLS handshake
//!   (`tls::LazyPlatformVerifier`) instead of by every client as it is built:
//!   reading and parsing them costs milliseconds and a copy of the store per
//!   client, paid at every cold start even when nothing is called over HTTPS.

mod tls;

use std::sync::Once;

/// A reqwest client builder, with TLS ready to use.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder().tls_backend_preconfigured(tls::client_config())
}

/// Installs ring as the process's rustls provider; for clients built by
/// libraries (the Cosmos DB SDK) rather than through [`client_builder`].
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider was installed first: TLS works with it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_build_without_loading_the_system_roots() {
        for _ in 0..3 {
            let client = client_builder().https_only(true).build();
            assert!(client.is_ok(), "{client:?}");
        }
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(
            !tls::system_roots_loaded(),
            "no handshake yet, no roots read"
        );
    }
}
