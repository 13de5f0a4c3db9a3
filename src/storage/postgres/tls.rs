//! TLS to PostgreSQL, with libpq's meaning of its URL parameters, on
//! rustls (with the `ring` provider; see docs/deploying.md).
//!
//! - `sslmode`: `disable`, `allow` (clear text; TLS if the server insists),
//!   `prefer` (the default: TLS when the server offers it), `require`,
//!   `verify-ca` (the server's certificate chains to `sslrootcert`),
//!   `verify-full` (and names the host connected to).
//! - `sslrootcert`: a PEM file of trusted CAs, or `system` for the
//!   platform's roots (which, as in libpq, means `verify-full`). As in
//!   libpq, a root file given with a weaker mode still has the chain
//!   checked; without one, `prefer` and `require` encrypt but trust any
//!   certificate.
//! - `sslcert` + `sslkey`: a client certificate and its key (PEM), for
//!   `cert` authentication.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

mod verifiers;

use verifiers::{ChainOnly, TrustAny};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => bail!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
        })
    }

    /// What tokio-postgres is told, attempt by attempt: `allow` tries clear
    /// text first and TLS if that is refused.
    pub fn attempts(self) -> &'static [WireMode] {
        match self {
            Self::Disable => &[WireMode::Disable],
            Self::Allow => &[WireMode::Disable, WireMode::Require],
            Self::Prefer => &[WireMode::Prefer],
            Self::Require | Self::VerifyCa | Self::VerifyFull => &[WireMode::Require],
        }
    }
}

/// How connections to one server are secured.
#[derive(Clone)]
pub struct Tls {
    pub mode: SslMode,
    pub connector: MakeRustlsConnect,
}

/// Where trusted CAs come from.
enum Roots {
    File(PathBuf),
    System,
}

impl Tls {
    /// From the URL's TLS parameters (`url::split`).
    pub fn from_params(params: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let roots = match params.get("sslrootcert").map(String::as_str) {
            None | Some("") => None,
            Some("system") => Some(Roots::System),
            Some(file) => Some(Roots::File(PathBuf::from(file))),
        };
        let mode = match params.get("sslmode") {
            Some(mode) => SslMode::parse(mode)?,
            None if matches!(roots, Some(Roots::System)) => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if matches!(roots, Some(Roots::System)) && mode != SslMode::VerifyFull {
            bail!("sslrootcert=system needs sslmode=verify-full (as in libpq, the platform's roots are trusted only for a checked host name)");
        }
        if mode >= SslMode::VerifyCa && roots.is_none() {
            bail!(
                "sslmode={} needs sslrootcert (a PEM file of the CAs to trust, or `system`)",
                params["sslmode"]
            );
        }
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(TrustAny(provider())),
            Some(roots) => {
                let checks_name = mode == SslMode::VerifyFull;
                let webpki = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(root_store(&roots)?),
                    Arc::new(provider()),
                )
                .build()
                .context("could not use the trusted CAs")?;
                match checks_name {
                    true => webpki,
                    false => Arc::new(ChainOnly(webpki)),
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version in common with the crypto provider")?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (params.get("sslcert"), params.get("sslkey")) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(certificates(Path::new(cert))?, private_key(Path::new(key))?)
                .context("the client certificate (sslcert) does not match its key (sslkey)")?,
            (None, None) => builder.with_no_client_auth(),
            _ => bail!("sslcert and sslkey go together: give both or neither"),
        };
        Ok(Self {
            mode,
            connector: MakeRustlsConnect::new(config),
        })
    }
}

/// `ring`: it builds offline with the C compiler alone (aws-lc-rs needs
/// CMake and a long build). rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange, which no PostgreSQL server offers yet.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn root_store(roots: &Roots) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            for cert in certificates(path)? {
                store.add(cert).with_context(|| {
                    format!(
                        "sslrootcert {} holds an unusable certificate",
                        path.display()
                    )
                })?;
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                bail!("sslrootcert=system: no trusted CAs found on this machine (Debian: the ca-certificates package)");
            }
        }
    }
    Ok(store)
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("could not read certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("could not read a PEM private key from {}", path.display()))
}

/// What went wrong in a TLS handshake, in an operator's words, when `e`
/// (a connection error) was one; `None` otherwise.
pub fn describe_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return Some(describe_rustls(tls));
            }
        }
        if c.to_string() == "server does not support TLS" {
            return Some("the server does not offer TLS (sslmode asks for it)".into());
        }
        cause = c.source();
    }
    None
}

fn describe_rustls(e: &rustls::Error) -> String {
    use rustls::AlertDescription as Alert;
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "TLS: the server's certificate is not signed by a CA in sslrootcert (unknown CA)".into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "TLS: the server's certificate is not valid for this host name (host name mismatch)"
            .into(),
        rustls::Error::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::AccessDenied),
        ) => format!("TLS: the server refused the client certificate ({alert:?})"),
        other => format!("TLS: {other}"),
    }
}
