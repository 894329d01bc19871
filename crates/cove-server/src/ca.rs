//! Cove's local certificate authority, which signs the certificates interface endpoints serve
//! HTTPS with.
//!
//! AWS's interface endpoints answer HTTPS under their own DNS names
//! (`vpce-….dynamodb.<region>.vpce.amazonaws.com`), and clients pass those names as
//! `endpoint_url`. No public CA will sign such names for a private Cove, so Cove keeps its own
//! CA in the data directory (`ca.pem`, and `ca-key.pem` readable by its owner only), creates
//! it on first start and keeps it across restarts, and signs one certificate per endpoint
//! for all of its names and addresses. Clients trust the CA with `AWS_CA_BUNDLE=ca.pem`.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::ServerError;

/// The CA's subject; fixed, so that the issuer rebuilt from the stored key on a restart
/// names exactly the subject of the stored certificate.
const CA_NAME: &str = "Cove local CA for interface endpoints";

/// The CA: its certificate (as clients are given it) and the issuer that signs with its key.
pub struct LocalCa {
    cert_path: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("cert_path", &self.cert_path)
            .finish()
    }
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

/// Makes `params` valid from yesterday (so a clock slightly behind still accepts it) until
/// `days` from now.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let today = jiff::Zoned::now().date();
    let day = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(
            i32::from(d.year()),
            d.month().unsigned_abs(),
            d.day().unsigned_abs(),
        )
    };
    let start = today.yesterday().unwrap_or(today);
    let end = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today);
    params.not_before = day(start);
    params.not_after = day(end);
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Cove");
    name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Writes `contents` to `path` through a temporary file and a rename, so a crash never leaves
/// half a key; `private` files are readable by their owner only.
fn write_file(path: &Path, contents: &str, private: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

impl LocalCa {
    /// Loads the CA kept in `dir`, or creates it there when there is none.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, ServerError> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca-key.pem");
        if cert_path.exists() && key_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path)
                .map_err(|e| tls_error(&cert_path.display().to_string(), e))?;
            let key_pem = std::fs::read_to_string(&key_path)
                .map_err(|e| tls_error(&key_path.display().to_string(), e))?;
            let key = KeyPair::from_pem(&key_pem)
                .map_err(|e| tls_error(&key_path.display().to_string(), e))?;
            return Ok(LocalCa {
                cert_path,
                cert_pem,
                issuer: Issuer::new(ca_params(), key),
            });
        }
        let key = KeyPair::generate().map_err(|e| tls_error("generating the CA key", e))?;
        let mut params = ca_params();
        set_validity(&mut params, 3650);
        let cert = params
            .self_signed(&key)
            .map_err(|e| tls_error("signing the CA certificate", e))?;
        let cert_pem = cert.pem();
        write_file(&key_path, &key.serialize_pem(), true)
            .map_err(|e| tls_error(&key_path.display().to_string(), e))?;
        write_file(&cert_path, &cert_pem, false)
            .map_err(|e| tls_error(&cert_path.display().to_string(), e))?;
        Ok(LocalCa {
            cert_path,
            cert_pem,
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// Where the CA certificate is, for `AWS_CA_BUNDLE`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate signed by this CA for every one of `names` and `addresses` (so both
    /// `https://vpce-….vpce.amazonaws.com` and `https://<address>` verify), with its key.
    pub fn sign(
        &self,
        names: &[String],
        addresses: &[IpAddr],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), ServerError> {
        let mut sans: Vec<String> = names.to_vec();
        sans.extend(addresses.iter().map(IpAddr::to_string));
        let mut params = CertificateParams::new(sans).map_err(|e| tls_error("names", e))?;
        let mut subject = DistinguishedName::new();
        subject.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "cove".into()),
        );
        params.distinguished_name = subject;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, 397);
        let key = KeyPair::generate().map_err(|e| tls_error("generating a key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| tls_error("signing an endpoint certificate", e))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((cert.der().clone(), key))
    }

    /// A TLS acceptor serving a certificate from [`LocalCa::sign`].
    pub fn acceptor(
        &self,
        names: &[String],
        addresses: &[IpAddr],
    ) -> Result<TlsAcceptor, ServerError> {
        let (cert, key) = self.sign(names, addresses)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(|e| ServerError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_created_once_and_reloaded_with_the_same_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCa::load_or_create(dir.path()).unwrap();
        let pem = first.cert_pem().to_string();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let again = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(again.cert_pem(), pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the CA key must be private");
        }
        // A certificate signed after the reload verifies against the CA file written at
        // creation, for the endpoint's name and address, and not for another name.
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{ServerName, UnixTime, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let name = "vpce-0123-abcdefgh.dynamodb.us-east-1.vpce.amazonaws.com";
        let (cert, _) = again
            .sign(&[name.to_string()], &["127.50.1.4".parse().unwrap()])
            .unwrap();
        let check = |server: &str| {
            verifier.verify_server_cert(
                &cert,
                &[],
                &ServerName::try_from(server.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
        };
        check(name).unwrap();
        check("127.50.1.4").unwrap();
        assert!(check("vpce-other.dynamodb.us-east-1.vpce.amazonaws.com").is_err());
    }
}
