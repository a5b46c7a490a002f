//! Phase three of a probe: a TLS handshake on the connection, with the endpoint's host name as
//! SNI, verified against the system's trust store (and `--ca-file`).
//!
//! A TCP handshake says a packet can reach the address. The egress controls that Fargate VPCs
//! without internet commonly have — AWS Network Firewall domain lists, transparent proxies, TLS
//! inspection over a transit gateway — let TCP through and act on the ClientHello: they drop it
//! (`timeout`), reset it (`reset`), or answer with a certificate of their own CA (`untrusted`).
//! Only a handshake shows that. The presented certificate is recorded whether or not it verifies,
//! so a report can name the CA that re-signed it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::report::millis;

/// How one TLS handshake ended. Each variant holds what that ending knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TlsOutcome {
    /// The handshake completed and the certificate is valid for the host.
    Ok,
    /// No answer to the ClientHello before the deadline: dropped, typically by a firewall that
    /// filters by server name.
    Timeout,
    /// The endpoint's deadline ran out before the handshake had a fair chance.
    OutOfTime,
    /// The connection was reset or closed after the ClientHello: server-name filtering.
    Reset { error: String },
    /// The certificate chain does not verify against the trusted CAs: TLS interception re-signing
    /// with its own CA (the certificate's issuer names it), or an expired certificate.
    Untrusted { error: String },
    /// The certificate verifies but is not valid for the host.
    NameMismatch { error: String },
    /// Anything else: an alert from the server, a protocol error.
    Error { error: String },
}

impl TlsOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            TlsOutcome::Ok => "ok",
            TlsOutcome::Timeout => "timeout",
            TlsOutcome::OutOfTime => "out_of_time",
            TlsOutcome::Reset { .. } => "reset",
            TlsOutcome::Untrusted { .. } => "untrusted",
            TlsOutcome::NameMismatch { .. } => "name_mismatch",
            TlsOutcome::Error { .. } => "error",
        }
    }

    pub fn is_ok(&self) -> bool {
        *self == TlsOutcome::Ok
    }

    /// In words, for people.
    pub fn describe(&self) -> String {
        match self {
            TlsOutcome::Ok => "handshake completed".into(),
            TlsOutcome::Timeout => "no answer to the TLS ClientHello before the deadline".into(),
            TlsOutcome::OutOfTime => {
                "the endpoint's deadline ran out before the TLS handshake had a fair chance".into()
            }
            TlsOutcome::Reset { error }
            | TlsOutcome::Untrusted { error }
            | TlsOutcome::NameMismatch { error }
            | TlsOutcome::Error { error } => error.clone(),
        }
    }
}

/// The certificate the server presented (the end-entity one), as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// RFC 4514 form, e.g. `CN=logs.eu-west-3.amazonaws.com`.
    pub subject: String,
    /// RFC 4514 form: with TLS interception, the inspecting CA.
    pub issuer: String,
    /// RFC 3339, UTC.
    pub not_after: String,
}

/// The TLS phase of one connection, as the report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsReport {
    #[serde(flatten)]
    pub outcome: TlsOutcome,
    pub duration_ms: u64,
    /// How much of the endpoint's deadline was left when the handshake started.
    pub budget_ms: u64,
    /// `TLSv1.3` or `TLSv1.2`, when the handshake got that far.
    pub version: Option<String>,
    pub certificate: Option<CertificateInfo>,
}

/// Why TLS could not be set up (a configuration error).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("CA file {path} holds no PEM certificate: expected one or more '-----BEGIN CERTIFICATE-----' blocks")]
    EmptyCaFile { path: PathBuf },
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// TLS handshakes against one trust store. Build once per check (or once for an agent).
#[derive(Debug)]
pub struct TlsProbe {
    provider: Arc<CryptoProvider>,
    /// `None` when no CA is trusted at all: every certificate is then untrusted.
    verifier: Option<Arc<WebPkiServerVerifier>>,
    /// What a report should say about the trust store (unreadable system store, no CA at all).
    warnings: Vec<String>,
}

/// The system's trust anchors, loaded once per process (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
fn system_roots() -> &'static (Vec<CertificateDer<'static>>, Vec<String>) {
    static ROOTS: OnceLock<(Vec<CertificateDer<'static>>, Vec<String>)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        (loaded.certs, loaded.errors.iter().map(|e| format!("system trust store: {e}")).collect())
    })
}

impl TlsProbe {
    /// A probe trusting the system's CAs plus those in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (system, errors) = system_roots();
        let mut warnings = errors.clone();
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(system.iter().cloned());
        if ignored > 0 {
            warnings.push(format!("system trust store: {ignored} certificates could not be used"));
        }
        if let Some(path) = ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| TlsSetupError::CaFile { path: path.to_owned(), reason: e.to_string() })?
                .collect::<Result<_, _>>()
                .map_err(|e| TlsSetupError::CaFile { path: path.to_owned(), reason: e.to_string() })?;
            if certs.is_empty() {
                return Err(TlsSetupError::EmptyCaFile { path: path.to_owned() });
            }
            for cert in certs {
                roots.add(cert).map_err(|e| TlsSetupError::CaFile {
                    path: path.to_owned(),
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
            }
        }
        let verifier = if roots.is_empty() {
            warnings.push(
                "no trusted CA certificates (no system trust store, no --ca-file): every TLS handshake will be \
                 untrusted — install the ca-certificates package or pass --ca-file"
                    .to_owned(),
            );
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsSetupError::Rustls(e.to_string()))?,
            )
        };
        Ok(Self { provider, verifier, warnings })
    }

    /// What a report should say about the trust store.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Shakes hands over `stream` with `host` as SNI, giving up at `deadline`.
    pub async fn handshake(&self, stream: TcpStream, host: &str, deadline: Instant) -> TlsReport {
        let started = Instant::now();
        let budget_ms = millis(deadline.saturating_duration_since(started));
        let verifier = Arc::new(Recording {
            inner: self.verifier.clone(),
            provider: self.provider.clone(),
            seen: Mutex::new(None),
        });
        let report = |outcome, version, verifier: &Recording| TlsReport {
            outcome,
            duration_ms: millis(started.elapsed()),
            budget_ms,
            version,
            certificate: verifier.seen.lock().ok().and_then(|c| c.as_ref().and_then(certificate_info)),
        };
        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(e) => {
                return report(
                    TlsOutcome::Error { error: format!("'{host}' is not a TLS server name: {e}") },
                    None,
                    &verifier,
                );
            }
        };
        let config = match ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder.dangerous().with_custom_certificate_verifier(verifier.clone()).with_no_client_auth(),
            Err(e) => return report(TlsOutcome::Error { error: e.to_string() }, None, &verifier),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        match tokio::time::timeout_at(deadline, connector.connect(server_name, stream)).await {
            Err(_) => report(TlsOutcome::Timeout, None, &verifier),
            Ok(Err(err)) => report(outcome_of(&err), None, &verifier),
            Ok(Ok(tls)) => {
                let version = tls.get_ref().1.protocol_version().map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                    rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                    other => format!("{other:?}"),
                });
                report(TlsOutcome::Ok, version, &verifier)
            }
        }
    }
}

/// Maps a handshake error to its outcome.
fn outcome_of(err: &std::io::Error) -> TlsOutcome {
    use std::io::ErrorKind;
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
                TlsOutcome::NameMismatch { error: format!("the certificate is not valid for the host: {tls}") }
            }
            rustls::Error::InvalidCertificate(_) => {
                TlsOutcome::Untrusted { error: format!("the certificate does not verify: {tls}") }
            }
            other => TlsOutcome::Error { error: other.to_string() },
        };
    }
    let error = err.to_string();
    match err.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            TlsOutcome::Reset { error: format!("the connection was reset after the ClientHello ({error})") }
        }
        ErrorKind::UnexpectedEof => {
            TlsOutcome::Reset { error: "the connection was closed after the ClientHello".into() }
        }
        _ => TlsOutcome::Error { error },
    }
}

/// Reads the parts of a certificate a person needs: who it is for, who signed it, until when.
fn certificate_info(der: &CertificateDer<'_>) -> Option<CertificateInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).ok()?;
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(not_after)).to_string(),
    })
}

/// A verifier that remembers the presented certificate, then verifies as WebPKI does.
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.clone().into_owned());
        }
        match &self.inner {
            Some(inner) => inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_outcomes() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let rows = [
            (io(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)), "untrusted"),
            (io(rustls::Error::InvalidCertificate(CertificateError::Expired)), "untrusted"),
            (io(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)), "name_mismatch"),
            (io(rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)), "error"),
            (std::io::Error::from(std::io::ErrorKind::ConnectionReset), "reset"),
            (std::io::Error::from(std::io::ErrorKind::UnexpectedEof), "reset"),
            (std::io::Error::from(std::io::ErrorKind::PermissionDenied), "error"),
        ];
        for (err, outcome) in rows {
            assert_eq!(outcome_of(&err).as_str(), outcome, "{err}");
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let err = TlsProbe::new(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err().to_string();
        assert!(err.contains("cannot read CA file /nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("netready-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = TlsProbe::new(Some(&empty)).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outcomes_serialize_flat_with_their_data() {
        let r = TlsReport {
            outcome: TlsOutcome::Untrusted { error: "unknown issuer".into() },
            duration_ms: 3,
            budget_ms: 4990,
            version: None,
            certificate: Some(CertificateInfo {
                subject: "CN=logs.eu-west-3.amazonaws.com".into(),
                issuer: "CN=Corp Inspection CA".into(),
                not_after: "2027-11-26T00:00:00Z".into(),
            }),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "untrusted");
        assert_eq!(v["error"], "unknown issuer");
        assert_eq!(v["certificate"]["issuer"], "CN=Corp Inspection CA");
        assert_eq!(serde_json::from_value::<TlsReport>(v).unwrap(), r);
    }
}
