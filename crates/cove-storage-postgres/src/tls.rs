//! TLS to PostgreSQL, chosen by the URL's `sslmode` as libpq does: `disable` (and no
//! `sslmode` at all: Cove's default, plain TCP as before), `prefer` (TLS when the server offers
//! it) and `require` (TLS or no connection). As with libpq's `prefer` and `require`, the
//! server's certificate chain is not checked against a CA (libpq checks it only with
//! `verify-ca`/`verify-full`, which tokio-postgres does not parse); the handshake's signatures
//! are still verified, so the session is encrypted to the holder of the certificate's key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every session of a backend uses, and the SSL mode the URL asked for; without
/// an explicit `sslmode` the config is set to `disable` (tokio-postgres would default to
/// `prefer`, which would change what an existing URL does).
pub(crate) fn connector(url: &str, config: &mut tokio_postgres::Config) -> MakeRustlsConnect {
    if !asks_for_ssl_mode(url) {
        config.ssl_mode(SslMode::Disable);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(EncryptOnly(Arc::clone(&provider)));
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    MakeRustlsConnect::new(tls)
}

/// Whether the URL (or key/value string) names `sslmode` itself.
fn asks_for_ssl_mode(url: &str) -> bool {
    url.split(['?', '&', ' ']).any(|part| {
        part.trim_start()
            .to_ascii_lowercase()
            .starts_with("sslmode=")
    })
}

/// libpq's `require`: any certificate, but the handshake must be signed by its key.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_sslmode_turns_tls_on() {
        for (url, explicit) in [
            ("postgres://u@h/db", false),
            ("postgres://u@h/db?sslmode=require", true),
            ("postgres://u@h/db?application_name=x&sslmode=prefer", true),
            ("host=h user=u sslmode=require", true),
            ("postgres://u@h/sslmodedb", false),
        ] {
            assert_eq!(asks_for_ssl_mode(url), explicit, "{url}");
        }
        let mut config: tokio_postgres::Config = "postgres://u@h/db".parse().unwrap();
        let _ = connector("postgres://u@h/db", &mut config);
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        let url = "postgres://u@h/db?sslmode=require";
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        let _ = connector(url, &mut config);
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
    }
}
