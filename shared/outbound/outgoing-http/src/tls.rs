//! The shared rustls client configuration and its lazily loaded verifier.

use std::sync::{Arc, OnceLock};

use rustls::{
    DigitallySignedStruct, Error, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use rustls_platform_verifier::Verifier;

/// The configuration every outgoing client uses (a clone of one built once).
pub(super) fn client_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = provider();
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(shared_verifier().clone())
                .with_no_client_auth();
            // What reqwest offers when it configures TLS itself.
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            config
        })
        .clone()
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

fn shared_verifier() -> &'static Arc<LazyPlatformVerifier> {
    static SHARED: OnceLock<Arc<LazyPlatformVerifier>> = OnceLock::new();
    SHARED.get_or_init(|| Arc::new(LazyPlatformVerifier::new(provider())))
}

/// Whether a handshake has made this process read the system's roots.
#[cfg(test)]
pub(super) fn system_roots_loaded() -> bool {
    shared_verifier().loaded()
}

/// The platform's verifier (system roots, WebPKI), created on first use.
#[derive(Debug)]
pub(super) struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    platform: OnceLock<Result<Verifier, Error>>,
}

impl LazyPlatformVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        LazyPlatformVerifier {
            provider,
            platform: OnceLock::new(),
        }
    }

    #[cfg(test)]
    fn loaded(&self) -> bool {
        self.platform.get().is_some()
    }

    fn platform(&self) -> Result<&Verifier, Error> {
        self.platform
            .get_or_init(|| Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.platform()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_certificate_check_loads_the_roots_and_refuses_an_unknown_one() {
        let verifier = LazyPlatformVerifier::new(provider());
        assert!(!verifier.loaded());
        let not_a_certificate = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let verdict = verifier.verify_server_cert(
            &not_a_certificate,
            &[],
            &ServerName::try_from("example.com").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(verdict.is_err(), "an unknown certificate is refused");
        assert!(verifier.loaded());
    }
}
