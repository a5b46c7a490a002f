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
use tokio::sync::watch;
use tokio::time::Instant;

use crate::types::millis;

/// How one TLS handshake ended. Each variant holds what that ending knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TlsOutcome {
    /// The handshake completed and the certificate is valid for the host.
    Ok,
    /// No answer to the ClientHello before the deadline: dropped by a firewall that filters by
    /// server name, or the server's large packets lost on the path ([`TlsRetry`] tells which).
    Timeout,
    /// The endpoint's deadline ran out before the handshake had a fair chance.
    OutOfTime,
    /// The connection was reset or closed after the ClientHello: server-name filtering.
    Reset { error: String },
    /// The certificate chain does not verify; `reason` says why (version 4; `None` in a report
    /// read from an older version).
    Untrusted {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<CertificateProblem>,
        /// The task's clock when the certificate was checked, RFC 3339 UTC (version 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_clock: Option<String>,
    },
    /// The certificate verifies but is not valid for the host.
    NameMismatch { error: String },
    /// Anything else: an alert from the server, a protocol error. `cause` sorts it (version 4).
    Error {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<HandshakeError>,
        /// The TLS alert the server sent, snake_case (`protocol_version`), when `cause` is `alert`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert: Option<String>,
    },
}

/// Why a certificate chain did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateProblem {
    /// Signed by a CA the task does not trust: TLS interception re-signing (the issuer names it).
    UnknownIssuer,
    /// Past its `not_after` by the task's clock.
    Expired,
    /// Before its `not_before` by the task's clock.
    NotYetValid,
    /// Revoked by its issuer.
    Revoked,
    /// Anything else: a bad signature, encoding, purpose or extension.
    Invalid,
}

impl CertificateProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateProblem::UnknownIssuer => "unknown_issuer",
            CertificateProblem::Expired => "expired",
            CertificateProblem::NotYetValid => "not_yet_valid",
            CertificateProblem::Revoked => "revoked",
            CertificateProblem::Invalid => "invalid",
        }
    }
}

/// What kind of handshake error an [`TlsOutcome::Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeError {
    /// The server ended the handshake with a TLS alert (see `alert`).
    Alert,
    /// The server offered only what this client refuses: TLS 1.0/1.1, or no common cipher suite,
    /// key exchange group or signature scheme.
    Incompatible,
    /// The answer was not TLS at all (a plain-text service, an HTTP proxy's error page).
    NotTls,
    /// The server broke the protocol.
    Protocol,
    /// Anything else.
    Other,
}

impl HandshakeError {
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeError::Alert => "alert",
            HandshakeError::Incompatible => "incompatible",
            HandshakeError::NotTls => "not_tls",
            HandshakeError::Protocol => "protocol",
            HandshakeError::Other => "other",
        }
    }
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

    /// Whether the server's answer arrived (the handshake got as far as its certificate or an
    /// alert), whatever was wrong with it.
    pub fn answered(&self) -> bool {
        matches!(self, TlsOutcome::Ok | TlsOutcome::Untrusted { .. } | TlsOutcome::NameMismatch { .. })
            || matches!(self, TlsOutcome::Error { cause, .. } if *cause != Some(HandshakeError::Other))
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
            | TlsOutcome::Untrusted { error, .. }
            | TlsOutcome::NameMismatch { error }
            | TlsOutcome::Error { error, .. } => error.clone(),
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
    /// RFC 3339, UTC (version 4; `None` in a report read from an older version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
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
    /// The second handshake with a small TCP MSS, when the first had no answer halfway through its
    /// budget (version 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<TlsRetry>,
}

/// The MSS of the retry after a TLS timeout: the smallest every IPv4 host must accept (576-byte
/// packets).
pub const RETRY_MSS: u16 = 536;

/// A handshake retried on a new connection whose segments are small (`TCP_MAXSEG` set before
/// connect, so the SYN asks the server for small segments too). If it completes where the first
/// got no answer, the server's full-size packets are lost on the way back: a path-MTU black hole,
/// not server-name filtering (the ClientHello, with the same name, went through both times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRetry {
    /// The MSS the retry asked for ([`RETRY_MSS`]).
    pub mss: u16,
    /// The first connection's MSS as the kernel reported it (`TCP_MAXSEG` after connect).
    pub first_mss: Option<u16>,
    /// When the retry started, after the first handshake started.
    pub after_ms: u64,
    pub duration_ms: u64,
    #[serde(flatten)]
    pub outcome: RetryOutcome,
}

/// How the retry ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RetryOutcome {
    /// The small-segment handshake completed: large packets are lost on the path.
    Ok,
    /// The server's answer arrived with small segments, but the handshake failed on it (a
    /// certificate, an alert): large packets are lost on the path too.
    Answered { error: String },
    /// No answer either: server-name filtering stays the likely cause.
    Timeout,
    /// The retry's connection or handshake failed otherwise.
    Failed { error: String },
    /// The first handshake ended (late) before the retry did.
    Abandoned,
}

impl RetryOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RetryOutcome::Ok => "ok",
            RetryOutcome::Answered { .. } => "answered",
            RetryOutcome::Timeout => "timeout",
            RetryOutcome::Failed { .. } => "failed",
            RetryOutcome::Abandoned => "abandoned",
        }
    }

    /// Whether the server's answer came back with small segments.
    pub fn answered(&self) -> bool {
        matches!(self, RetryOutcome::Ok | RetryOutcome::Answered { .. })
    }

    /// The retry's outcome from its handshake's.
    pub fn of(tls: &TlsOutcome) -> Self {
        match tls {
            TlsOutcome::Ok => RetryOutcome::Ok,
            TlsOutcome::Timeout | TlsOutcome::OutOfTime => RetryOutcome::Timeout,
            other if other.answered() => {
                RetryOutcome::Answered { error: format!("tls {}: {}", other.as_str(), other.describe()) }
            }
            other => RetryOutcome::Failed { error: format!("tls {}: {}", other.as_str(), other.describe()) },
        }
    }
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
///
/// The system trust store is loaded on a thread of its own, started by [`TlsProbe::new`], while
/// DNS and TCP run: only the first handshake needs it. `--ca-file` is read at once, so that a bad
/// file is a configuration error before any check. The same store verifies the agent's plane
/// connection ([`TlsProbe::client_config`]): one parsed copy per process.
#[derive(Debug)]
pub struct TlsProbe {
    provider: Arc<CryptoProvider>,
    /// The trust store, filled once by the loading thread (always, even if loading panicked).
    loaded: Arc<OnceLock<Arc<Trust>>>,
    /// Turns true when `loaded` is filled, for handshakes that await it.
    ready: watch::Receiver<bool>,
}

/// A loaded trust store.
#[derive(Debug)]
struct Trust {
    /// `None` when no CA is trusted at all: every certificate is then untrusted.
    verifier: Option<Arc<WebPkiServerVerifier>>,
    /// What a report should say about the trust store (unreadable system store, no CA at all).
    warnings: Vec<String>,
}

impl Trust {
    fn unloaded() -> Trust {
        Trust {
            verifier: None,
            warnings: vec!["the trust store could not be loaded: every TLS handshake will be untrusted".into()],
        }
    }
}

/// The distributions' CA bundles, the whole trust store in one file, most common first: Debian,
/// Ubuntu, Alpine, Arch; Amazon Linux, RHEL, Fedora; SUSE.
const BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem"];
/// Where certificates are also dropped one per file.
const CERT_DIRS: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// The system's trust anchors (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), and what went wrong
/// reading them. Not kept: once parsed into the verifier's store, the certificates are dropped.
fn system_roots() -> (Vec<CertificateDer<'static>>, Vec<String>) {
    let configured = ["SSL_CERT_FILE", "SSL_CERT_DIR"].iter().any(|v| std::env::var_os(v).is_some());
    let bundles: Vec<&Path> = BUNDLES.iter().map(Path::new).collect();
    let dirs: Vec<&Path> = CERT_DIRS.iter().map(Path::new).collect();
    match (configured, load_bundle(&bundles, &dirs)) {
        (false, Some(loaded)) => loaded,
        _ => {
            let loaded = rustls_native_certs::load_native_certs();
            (loaded.certs, loaded.errors.iter().map(|e| format!("system trust store: {e}")).collect())
        }
    }
}

/// The first of `bundles` that exists, plus the regular files in `dirs`, each read once; `None`
/// when there is no bundle. The symbolic links in the directories are not followed: on the
/// distributions that ship a bundle they are the bundle's own certificates (links into
/// /usr/share/ca-certificates, and hash links), which reading one file instead of some 300 saves
/// — the trust store is on a cold check's critical path. A certificate copied into a directory by
/// hand is a regular file, and read.
fn load_bundle(bundles: &[&Path], dirs: &[&Path]) -> Option<(Vec<CertificateDer<'static>>, Vec<String>)> {
    let bundle = bundles.iter().find(|b| b.is_file())?;
    let mut errors = Vec::new();
    let mut read = |path: &Path, certs: &mut Vec<CertificateDer<'static>>| {
        if let Some(found) = std::fs::read(path).ok().and_then(|text| pem_certificates(&text)) {
            return certs.extend(found);
        }
        // Unreadable or unusual: rustls' reader, for its error message.
        match CertificateDer::pem_file_iter(path).map(|iter| iter.collect::<Result<Vec<_>, _>>()) {
            Ok(Ok(found)) => certs.extend(found),
            Ok(Err(e)) | Err(e) => errors.push(format!("system trust store: {}: {e}", path.display())),
        }
    };
    let mut certs = Vec::new();
    read(bundle, &mut certs);
    let same = |a: &Path| std::fs::canonicalize(a).ok() == std::fs::canonicalize(bundle).ok();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_file()) && !same(&path) {
                let mut found = Vec::new();
                read(&path, &mut found);
                certs.extend(found);
            }
        }
    }
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    Some((certs, errors))
}

/// The certificates of a PEM text, or `None` if a block is not plain base64. CA certificates are
/// public: rustls' constant-time decoder, made for private keys, took a third of the trust store's
/// load on a cold check's critical path (docs/benchmarks.md); this one is a plain table loop, and
/// the markers are found by jumping from dash to dash (a byte-by-byte window compare over the
/// 220 KB system bundle cost 3 ms of CPU on every cold check).
fn pem_certificates(text: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = find_marker(rest, BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = find_marker(body, END)?;
        certs.push(CertificateDer::from(decode_base64(&body[..end])?));
        rest = &body[end + END.len()..];
    }
    Some(certs)
}

/// Where `marker` (which starts with a dash) first occurs in `hay`: only the dashes are compared.
fn find_marker(hay: &[u8], marker: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(dash) = hay[from..].iter().position(|&b| b == b'-') {
        let at = from + dash;
        if hay[at..].starts_with(marker) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A base64 character's value; [`SKIP`] for whitespace, [`PAD`] for `=`, [`BAD`] for the rest.
const BASE64: [u8; 256] = {
    let mut table = [BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b' ' as usize] = SKIP;
    table[b'\t' as usize] = SKIP;
    table[b'\r' as usize] = SKIP;
    table[b'\n' as usize] = SKIP;
    table[b'=' as usize] = PAD;
    table
};
const SKIP: u8 = 0xfd;
const PAD: u8 = 0xfe;
const BAD: u8 = 0xff;

/// Standard base64 with padding, whitespace ignored; `None` on any other character.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut sextets) = (0u32, 0u32);
    for &c in text {
        let v = BASE64[c as usize];
        if v >= 64 {
            match v {
                SKIP => continue,
                PAD => break,
                _ => return None,
            }
        }
        acc = (acc << 6) | u32::from(v);
        sextets += 1;
        if sextets == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, sextets) = (0, 0);
        }
    }
    match sextets {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    Some(out)
}

/// The system's CAs plus `extra` (from `--ca-file`), and the verifier over them.
fn load_trust(extra: RootCertStore, provider: &Arc<CryptoProvider>) -> Trust {
    let (system, mut warnings) = system_roots();
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(system);
    if ignored > 0 {
        warnings.push(format!("system trust store: {ignored} certificates could not be used"));
    }
    roots.roots.extend(extra.roots);
    if roots.is_empty() {
        warnings.push(
            "no trusted CA certificates (no system trust store, no --ca-file): every TLS handshake will be \
             untrusted — install the ca-certificates package or pass --ca-file"
                .to_owned(),
        );
        return Trust { verifier: None, warnings };
    }
    match WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build() {
        Ok(verifier) => Trust { verifier: Some(verifier), warnings },
        Err(e) => {
            warnings
                .push(format!("cannot set up certificate verification: {e}: every TLS handshake will be untrusted"));
            Trust { verifier: None, warnings }
        }
    }
}

impl TlsProbe {
    /// A probe trusting the system's CAs plus those in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut extra = RootCertStore::empty();
        if let Some(path) = ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| TlsSetupError::CaFile { path: path.to_owned(), reason: e.to_string() })?
                .collect::<Result<_, _>>()
                .map_err(|e| TlsSetupError::CaFile { path: path.to_owned(), reason: e.to_string() })?;
            if certs.is_empty() {
                return Err(TlsSetupError::EmptyCaFile { path: path.to_owned() });
            }
            for cert in certs {
                extra.add(cert).map_err(|e| TlsSetupError::CaFile {
                    path: path.to_owned(),
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
            }
        }
        let (tx, ready) = watch::channel(false);
        let loaded: Arc<OnceLock<Arc<Trust>>> = Arc::default();
        let (cell, loader) = (loaded.clone(), provider.clone());
        let load = move || {
            let trust = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_trust(extra, &loader)))
                .unwrap_or_else(|_| Trust::unloaded());
            let _ = cell.set(Arc::new(trust));
            let _ = tx.send(true);
        };
        std::thread::Builder::new()
            .name("trust-store".into())
            .spawn(load)
            .map_err(|e| TlsSetupError::Rustls(format!("cannot start loading the trust store: {e}")))?;
        Ok(Self { provider, loaded, ready })
    }

    /// The trust store, waiting for it to load.
    async fn trust(&self) -> Arc<Trust> {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
        self.loaded.get().cloned().unwrap_or_else(|| Arc::new(Trust::unloaded()))
    }

    /// What a report should say about the trust store (waits for it to load).
    pub async fn warnings(&self) -> Vec<String> {
        self.trust().await.warnings.clone()
    }

    /// A client configuration for other HTTPS connections of this process (the agent's plane)
    /// that verifies with this probe's trust store: the system's CAs plus `--ca-file`. A
    /// verification before the store has loaded waits for it (milliseconds, once).
    pub fn client_config(&self) -> Result<ClientConfig, TlsSetupError> {
        let verifier = Arc::new(Loaded { trust: self.loaded.clone(), provider: self.provider.clone() });
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// Shakes hands over `stream` with `host` as SNI, giving up at `deadline`.
    pub async fn handshake(&self, stream: TcpStream, host: &str, deadline: Instant) -> TlsReport {
        let started = Instant::now();
        let budget_ms = millis(deadline.saturating_duration_since(started));
        // The ClientHello goes out at once: the trust store, loading while DNS and TCP ran, is
        // needed only when the server's certificate arrives (and if it is not loaded by then, the
        // certificate is verified as soon as it is).
        let verifier =
            Arc::new(Recording { trust: self.loaded.clone(), provider: self.provider.clone(), seen: Mutex::new(None) });
        let report = |outcome, version, verifier: &Recording| TlsReport {
            outcome,
            duration_ms: millis(started.elapsed()),
            budget_ms,
            version,
            certificate: verifier.seen().and_then(|seen| certificate_info(&seen.end_entity)),
            retry: None,
        };
        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(e) => {
                return report(
                    TlsOutcome::Error {
                        error: format!("'{host}' is not a TLS server name: {e}"),
                        cause: Some(HandshakeError::Other),
                        alert: None,
                    },
                    None,
                    &verifier,
                );
            }
        };
        let config = match ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder.dangerous().with_custom_certificate_verifier(verifier.clone()).with_no_client_auth(),
            Err(e) => {
                let outcome =
                    TlsOutcome::Error { error: e.to_string(), cause: Some(HandshakeError::Other), alert: None };
                return report(outcome, None, &verifier);
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let (outcome, version) = match tokio::time::timeout_at(deadline, connector.connect(server_name, stream)).await {
            Err(_) => (TlsOutcome::Timeout, None),
            Ok(Err(err)) => (outcome_of(&err, verifier.seen().map(|s| s.now)), None),
            Ok(Ok(tls)) => {
                let version = tls.get_ref().1.protocol_version().map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                    rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                    other => format!("{other:?}"),
                });
                (TlsOutcome::Ok, version)
            }
        };
        // A certificate that arrived before the store had loaded: verified now. Failing, it
        // decides the outcome, as it would have had it been verified on arrival.
        if let Some(seen) = verifier.seen().filter(|s| s.deferred) {
            let trust = self.trust().await;
            if let Err(e) = seen.verify(trust.verifier.as_ref()) {
                let err = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
                return report(outcome_of(&err, Some(seen.now)), None, &verifier);
            }
        }
        report(outcome, version, &verifier)
    }
}

/// Maps a handshake error to its outcome. `clock` is the task's time when the certificate was
/// checked, if it was.
fn outcome_of(err: &std::io::Error, clock: Option<UnixTime>) -> TlsOutcome {
    use std::io::ErrorKind;
    if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
                TlsOutcome::NameMismatch { error: format!("the certificate is not valid for the host: {tls}") }
            }
            rustls::Error::InvalidCertificate(problem) => TlsOutcome::Untrusted {
                error: format!("the certificate does not verify: {tls}"),
                reason: Some(certificate_problem(problem)),
                task_clock: clock.map(rfc3339),
            },
            other => {
                let (cause, alert) = handshake_error(other);
                TlsOutcome::Error { error: other.to_string(), cause: Some(cause), alert }
            }
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
        _ => TlsOutcome::Error { error, cause: Some(HandshakeError::Other), alert: None },
    }
}

/// Why a certificate did not verify.
fn certificate_problem(e: &CertificateError) -> CertificateProblem {
    match e {
        CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertificateProblem::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => CertificateProblem::NotYetValid,
        CertificateError::Revoked => CertificateProblem::Revoked,
        _ => CertificateProblem::Invalid,
    }
}

/// Sorts a handshake error other than a certificate's, with the alert's name when it is one.
fn handshake_error(e: &rustls::Error) -> (HandshakeError, Option<String>) {
    match e {
        rustls::Error::AlertReceived(alert) => (HandshakeError::Alert, Some(alert_name(*alert))),
        rustls::Error::PeerIncompatible(_) => (HandshakeError::Incompatible, None),
        rustls::Error::InvalidMessage(_) => (HandshakeError::NotTls, None),
        rustls::Error::PeerMisbehaved(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::DecryptError => (HandshakeError::Protocol, None),
        _ => (HandshakeError::Other, None),
    }
}

/// An alert's name as the TLS RFCs spell it: `protocol_version`, `unrecognized_name`.
fn alert_name(alert: rustls::AlertDescription) -> String {
    match alert {
        rustls::AlertDescription::UnrecognisedName => "unrecognized_name".to_owned(),
        other => snake_case(&format!("{other:?}")),
    }
}

/// `ProtocolVersion` → `protocol_version`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            break;
        }
    }
    out
}

fn rfc3339(t: UnixTime) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.as_secs())).to_string()
}

/// Reads the parts of a certificate a person needs: who it is for, who signed it, until when.
fn certificate_info(der: &CertificateDer<'_>) -> Option<CertificateInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let time = |t: &x509_parser::time::ASN1Time| {
        // Before 1970 (a not_before some CAs use) reads as the epoch.
        let secs = u64::try_from(t.timestamp()).unwrap_or(0);
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    };
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: Some(time(&cert.validity().not_before)),
        not_after: time(&cert.validity().not_after),
    })
}

/// The probe's trust store as a verifier for other connections: WebPKI over the loaded store.
#[derive(Debug)]
struct Loaded {
    trust: Arc<OnceLock<Arc<Trust>>>,
    provider: Arc<CryptoProvider>,
}

impl Loaded {
    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        // The loading thread always fills the cell (see `TlsProbe::new`), so this wait ends.
        self.trust.wait().verifier.as_ref().ok_or(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
    }
}

impl ServerCertVerifier for Loaded {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // What WebPKI's verifier says too, without waiting for the store (the ClientHello needs it).
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A verifier that remembers the presented certificate, then verifies as WebPKI does — or, when
/// the trust store has not loaded yet, lets the handshake go on and leaves the verification to
/// [`TlsProbe::handshake`] once it has (`deferred`).
#[derive(Debug)]
struct Recording {
    trust: Arc<OnceLock<Arc<Trust>>>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<Seen>>,
}

/// What the server presented, and the task's clock when it was checked.
#[derive(Debug, Clone)]
struct Seen {
    end_entity: CertificateDer<'static>,
    intermediates: Vec<CertificateDer<'static>>,
    server_name: ServerName<'static>,
    ocsp_response: Vec<u8>,
    now: UnixTime,
    /// Not verified yet: the trust store was still loading.
    deferred: bool,
}

impl Seen {
    fn verify(&self, verifier: Option<&Arc<WebPkiServerVerifier>>) -> Result<ServerCertVerified, rustls::Error> {
        match verifier {
            Some(v) => v.verify_server_cert(
                &self.end_entity,
                &self.intermediates,
                &self.server_name,
                &self.ocsp_response,
                self.now,
            ),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }
}

impl Recording {
    fn seen(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }
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
        let loaded = self.trust.get();
        let seen = Seen {
            end_entity: end_entity.clone().into_owned(),
            intermediates: intermediates.iter().map(|c| c.clone().into_owned()).collect(),
            server_name: server_name.to_owned(),
            ocsp_response: ocsp_response.to_vec(),
            now,
            deferred: loaded.is_none(),
        };
        let result = match loaded {
            Some(trust) => seen.verify(trust.verifier.as_ref()),
            None => Ok(ServerCertVerified::assertion()),
        };
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(seen);
        }
        result
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

    /// A loopback listener serving one TLS handshake per connection in `mode`, with the lab's
    /// certificates for `ok.test`.
    fn listener(lab: &netready_lab::tls::LabTls, mode: netready_lab::ListenerTls) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let lab = lab.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let lab = lab.clone();
                std::thread::spawn(move || lab.serve(conn, mode));
            }
        });
        addr
    }

    /// A probe whose trust store the test fills when it chooses (`fill`), trusting `ca_pem`.
    fn probe_loaded_later(ca_pem: &str) -> (TlsProbe, impl FnOnce()) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (tx, ready) = watch::channel(false);
        let loaded: Arc<OnceLock<Arc<Trust>>> = Arc::default();
        let mut extra = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            extra.add(cert.unwrap()).unwrap();
        }
        let (cell, loader) = (loaded.clone(), provider.clone());
        let fill = move || {
            let _ = cell.set(Arc::new(load_trust(extra, &loader)));
            let _ = tx.send(true);
        };
        (TlsProbe { provider, loaded, ready }, fill)
    }

    #[tokio::test]
    async fn a_certificate_that_arrives_before_the_trust_store_is_verified_once_it_has_loaded() {
        let lab = netready_lab::tls::LabTls::new(&["ok.test".to_owned()]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        for (mode, expected) in [
            (netready_lab::ListenerTls::Endpoint, "ok"),
            (netready_lab::ListenerTls::Intercepted, "untrusted"),
            (netready_lab::ListenerTls::WrongName, "name_mismatch"),
        ] {
            let addr = listener(&lab, mode);
            let (probe, fill) = probe_loaded_later(&lab.ca_pem);
            let stream = TcpStream::connect(addr).await.unwrap();
            let handshake = probe.handshake(stream, "ok.test", deadline);
            tokio::pin!(handshake);
            // The handshake goes as far as it can without the store, and waits for it.
            assert!(tokio::time::timeout(Duration::from_millis(300), &mut handshake).await.is_err(), "{mode:?}");
            let seen = probe.loaded.get().is_none();
            assert!(seen, "the store is not loaded yet");
            fill();
            let report = handshake.await;
            assert_eq!(report.outcome.as_str(), expected, "{mode:?}: {report:?}");
            assert!(report.certificate.is_some(), "the presented certificate is recorded: {mode:?}");
            if expected == "untrusted" {
                assert!(
                    matches!(
                        report.outcome,
                        TlsOutcome::Untrusted { reason: Some(CertificateProblem::UnknownIssuer), .. }
                    ),
                    "{report:?}"
                );
                assert_eq!(report.version, None, "a handshake whose certificate fails has no version");
            }
        }
    }

    #[tokio::test]
    async fn other_connections_verify_with_the_probes_trust_store() {
        let lab = netready_lab::tls::LabTls::new(&["ok.test".to_owned()]).unwrap();
        let (probe, fill) = probe_loaded_later(&lab.ca_pem);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(probe.client_config().unwrap()));
        let name = ServerName::try_from("ok.test").unwrap();
        fill();
        let trusted = TcpStream::connect(listener(&lab, netready_lab::ListenerTls::Endpoint)).await.unwrap();
        assert!(connector.connect(name.clone(), trusted).await.is_ok(), "the lab CA is trusted");
        let intercepted = TcpStream::connect(listener(&lab, netready_lab::ListenerTls::Intercepted)).await.unwrap();
        let err = connector.connect(name, intercepted).await.unwrap_err().to_string();
        assert!(err.contains("UnknownIssuer"), "a CA the probe does not trust is refused: {err}");
    }

    #[test]
    fn certificates_read_fast_are_those_rustls_reads() {
        let lab = netready_lab::tls::LabTls::new(&["ok.test".to_owned()]).unwrap();
        let mut texts = vec![format!("# a comment --- with - dashes -----\n{}\n-\n{}", lab.ca_pem, lab.ca_pem)];
        texts.extend(BUNDLES.iter().filter_map(|b| std::fs::read_to_string(b).ok()));
        for text in texts {
            let slow: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(text.as_bytes()).collect::<Result<_, _>>().unwrap();
            assert!(!slow.is_empty());
            assert_eq!(pem_certificates(text.as_bytes()), Some(slow));
        }
        assert_eq!(pem_certificates(b"no certificate here"), Some(vec![]));
        let broken = lab.ca_pem.replacen("-----\n", "-----\n*", 1);
        assert_eq!(pem_certificates(broken.as_bytes()), None, "not base64: left to rustls' reader");
        let cut = lab.ca_pem.replace("-----END CERTIFICATE-----", "");
        assert_eq!(pem_certificates(cut.as_bytes()), None, "an unterminated block: left to rustls' reader");
        assert_eq!(decode_base64(b"aGVs\nbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64(b"aGVsbA==").as_deref(), Some(&b"hell"[..]));
        assert_eq!(decode_base64(b"aGVsbG8h").as_deref(), Some(&b"hello!"[..]));
    }

    #[test]
    fn errors_map_to_outcomes() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let cert = |e: CertificateError| io(rustls::Error::InvalidCertificate(e));
        let rows = [
            (cert(CertificateError::UnknownIssuer), "untrusted"),
            (cert(CertificateError::Expired), "untrusted"),
            (cert(CertificateError::NotValidForName), "name_mismatch"),
            (io(rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)), "error"),
            (std::io::Error::from(std::io::ErrorKind::ConnectionReset), "reset"),
            (std::io::Error::from(std::io::ErrorKind::UnexpectedEof), "reset"),
            (std::io::Error::from(std::io::ErrorKind::PermissionDenied), "error"),
        ];
        for (err, outcome) in rows {
            assert_eq!(outcome_of(&err, None).as_str(), outcome, "{err}");
        }
    }

    #[test]
    fn a_certificate_that_does_not_verify_says_why_and_when() {
        let io = |e: CertificateError| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(e))
        };
        let clock = UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000));
        let rows = [
            (CertificateError::UnknownIssuer, CertificateProblem::UnknownIssuer),
            (
                CertificateError::ExpiredContext {
                    time: clock,
                    not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
                },
                CertificateProblem::Expired,
            ),
            (CertificateError::Expired, CertificateProblem::Expired),
            (CertificateError::NotValidYet, CertificateProblem::NotYetValid),
            (CertificateError::Revoked, CertificateProblem::Revoked),
            (CertificateError::BadSignature, CertificateProblem::Invalid),
            (CertificateError::BadEncoding, CertificateProblem::Invalid),
        ];
        for (err, problem) in rows {
            match outcome_of(&io(err), Some(clock)) {
                TlsOutcome::Untrusted { reason, task_clock, .. } => {
                    assert_eq!(reason, Some(problem));
                    assert_eq!(task_clock.as_deref(), Some("2027-01-15T08:00:00Z"));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn handshake_errors_say_what_kind_and_which_alert() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let rows = [
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion),
                HandshakeError::Alert,
                Some("protocol_version"),
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
                HandshakeError::Alert,
                Some("handshake_failure"),
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::UnrecognisedName),
                HandshakeError::Alert,
                Some("unrecognized_name"),
            ),
            (
                rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13),
                HandshakeError::Incompatible,
                None,
            ),
            (rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType), HandshakeError::NotTls, None),
            (rustls::Error::DecryptError, HandshakeError::Protocol, None),
            (rustls::Error::General("x".into()), HandshakeError::Other, None),
        ];
        for (err, kind, name) in rows {
            match outcome_of(&io(err), None) {
                TlsOutcome::Error { cause, alert, .. } => {
                    assert_eq!(cause, Some(kind));
                    assert_eq!(alert.as_deref(), name);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(snake_case("ProtocolVersion"), "protocol_version");
        assert_eq!(snake_case("Unknown(200)"), "unknown");
    }

    #[test]
    fn a_retry_is_answered_when_the_servers_answer_arrived() {
        assert!(RetryOutcome::of(&TlsOutcome::Ok).answered());
        let untrusted = TlsOutcome::Untrusted { error: "x".into(), reason: None, task_clock: None };
        assert_eq!(RetryOutcome::of(&untrusted).as_str(), "answered");
        assert_eq!(RetryOutcome::of(&TlsOutcome::Timeout), RetryOutcome::Timeout);
        assert_eq!(RetryOutcome::of(&TlsOutcome::Reset { error: "r".into() }).as_str(), "failed");
        let other = TlsOutcome::Error { error: "e".into(), cause: Some(HandshakeError::Other), alert: None };
        assert_eq!(RetryOutcome::of(&other).as_str(), "failed");
    }

    #[test]
    fn the_bundle_and_certificates_copied_by_hand_are_read_once_links_are_not_followed() {
        let lab = netready_lab::tls::LabTls::new(&["h.example".into()]).unwrap();
        let (other, _) = lab.server_pem(&["other.example"], false).unwrap();
        let dir = std::env::temp_dir().join(format!("netready-trust-test-{}", std::process::id()));
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let bundle = certs.join("ca-certificates.crt");
        std::fs::write(&bundle, &lab.ca_pem).unwrap();
        std::fs::write(certs.join("corp.pem"), &other).unwrap();
        let elsewhere = dir.join("not-read.pem");
        std::fs::write(&elsewhere, "not a certificate\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, certs.join("linked.pem")).unwrap();
        std::os::unix::fs::symlink(&bundle, certs.join("abcd1234.0")).unwrap();
        let missing = dir.join("missing.crt");

        let (found, errors) = load_bundle(&[&missing, &bundle], &[&certs]).unwrap();
        assert_eq!(found.len(), 2, "the bundle's CA and the copied one, once each");
        assert!(errors.is_empty(), "{errors:?}");
        assert!(load_bundle(&[&missing], &[&certs]).is_none(), "no bundle: the usual loader");
        std::fs::remove_dir_all(&dir).unwrap();
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
            outcome: TlsOutcome::Untrusted {
                error: "unknown issuer".into(),
                reason: Some(CertificateProblem::UnknownIssuer),
                task_clock: Some("2026-12-03T13:00:00Z".into()),
            },
            duration_ms: 3,
            budget_ms: 4990,
            version: None,
            certificate: Some(CertificateInfo {
                subject: "CN=logs.eu-west-3.amazonaws.com".into(),
                issuer: "CN=Corp Inspection CA".into(),
                not_before: Some("2026-11-26T00:00:00Z".into()),
                not_after: "2027-11-26T00:00:00Z".into(),
            }),
            retry: Some(TlsRetry {
                mss: RETRY_MSS,
                first_mss: Some(1448),
                after_ms: 2495,
                duration_ms: 4,
                outcome: RetryOutcome::Answered { error: "tls untrusted: x".into() },
            }),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "untrusted");
        assert_eq!(v["error"], "unknown issuer");
        assert_eq!(v["reason"], "unknown_issuer");
        assert_eq!(v["task_clock"], "2026-12-03T13:00:00Z");
        assert_eq!(v["certificate"]["not_before"], "2026-11-26T00:00:00Z");
        assert_eq!(
            v["retry"],
            serde_json::json!({"mss": 536, "first_mss": 1448, "after_ms": 2495, "duration_ms": 4, "outcome": "answered", "error": "tls untrusted: x"})
        );
        assert_eq!(v["certificate"]["issuer"], "CN=Corp Inspection CA");
        assert_eq!(serde_json::from_value::<TlsReport>(v).unwrap(), r);
    }
}
