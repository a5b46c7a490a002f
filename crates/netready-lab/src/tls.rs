//! TLS for the lab's listeners: a CA made at run time, a certificate from it for the real AWS
//! host names the lab answers, and what else a path can answer with — a certificate from another
//! CA (TLS interception), one for the wrong name, an expired and a not-yet-valid one from the lab
//! CA, a legacy TLS server's protocol_version alert, and a plain-text (HTTP) answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::LabError;

/// What a listener presents to a client that starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerTls {
    /// The endpoint's certificate, from the lab CA (which the task trusts).
    Endpoint,
    /// A certificate for the right names from another CA: a TLS-inspecting middlebox.
    Intercepted,
    /// A certificate from the lab CA for another name.
    WrongName,
    /// The endpoint's names, from the lab CA, valid from [`EXPIRED_NOT_BEFORE`] until
    /// [`EXPIRED_NOT_AFTER`]: expired.
    Expired,
    /// The endpoint's names, from the lab CA, valid only from [`FUTURE_NOT_BEFORE`].
    NotYetValid,
    /// A TLS 1.0/1.1-only server (a legacy terminator): reads the ClientHello, which offers TLS
    /// 1.2 and 1.3 only, and answers with the fatal alert protocol_version, as OpenSSL does with
    /// `MaxProtocol = TLSv1.1`.
    LegacyTls,
    /// Not TLS at all: an HTTP proxy's `400 Bad Request` to the ClientHello.
    Http,
    /// No TLS at all: accept and close (a plain TCP service).
    Plain,
}

/// The subject CN of the other CA, as a report names it.
pub const INTERCEPTION_CA: &str = "Corp TLS Inspection CA";
/// The subject CN of the lab CA.
pub const LAB_CA: &str = "netready lab CA";
/// The name on the wrong-name certificate.
pub const WRONG_NAME: &str = "wrong.example.net";
/// The validity of the expired certificate, as a report writes it.
pub const EXPIRED_NOT_BEFORE: &str = "2020-01-01T00:00:00Z";
pub const EXPIRED_NOT_AFTER: &str = "2021-01-01T00:00:00Z";
/// The start of the not-yet-valid certificate's validity.
pub const FUTURE_NOT_BEFORE: &str = "2099-01-01T00:00:00Z";

/// A TLS record: alert, TLS 1.0 record version, 2 bytes: fatal (2), protocol_version (70).
const PROTOCOL_VERSION_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];

/// The server configurations of a lab, and the lab CA in PEM for the task to trust.
#[derive(Debug, Clone)]
pub struct LabTls {
    pub ca_pem: String,
    /// The lab CA and the interception CA, to sign more certificates.
    cas: Arc<[(CertificateParams, KeyPair); 2]>,
    endpoint: Arc<ServerConfig>,
    intercepted: Arc<ServerConfig>,
    wrong_name: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    not_yet_valid: Arc<ServerConfig>,
}

/// A certificate's validity, (not before, not after); `None` for rcgen's (1975 to 4096).
type Validity = Option<((i32, u8, u8), (i32, u8, u8))>;

fn err(what: &str) -> impl Fn(rcgen::Error) -> LabError + '_ {
    move |e| LabError(format!("{what}: {e}"))
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair, rcgen::Certificate), LabError> {
    let key = KeyPair::generate().map_err(err("CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err("CA params"))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).map_err(err("CA certificate"))?;
    Ok((params, key, cert))
}

fn server_config(
    names: &[String],
    issuer: &Issuer<'_, &KeyPair>,
    chain_ca: &CertificateDer<'static>,
    validity: Validity,
) -> Result<Arc<ServerConfig>, LabError> {
    let key = KeyPair::generate().map_err(err("server key"))?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(err("server params"))?;
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    if let Some(((y0, m0, d0), (y1, m1, d1))) = validity {
        params.not_before = rcgen::date_time_ymd(y0, m0, d0);
        params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    }
    let cert = params.signed_by(&key, issuer).map_err(err("server certificate"))?;
    let chain = vec![cert.der().clone(), chain_ca.clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| LabError(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| LabError(format!("TLS server config: {e}")))?;
    Ok(Arc::new(config))
}

impl LabTls {
    /// A lab CA and certificates for `names` (the lab's host names and wildcards).
    pub fn new(names: &[String]) -> Result<Self, LabError> {
        let (lab_params, lab_key, lab_cert) = ca(LAB_CA)?;
        let (corp_params, corp_key, corp_cert) = ca(INTERCEPTION_CA)?;
        let (lab_der, corp_der) = (lab_cert.der().clone(), corp_cert.der().clone());
        let lab = Issuer::from_params(&lab_params, &lab_key);
        let corp = Issuer::from_params(&corp_params, &corp_key);
        let mut names = names.to_vec();
        if names.is_empty() {
            names.push("lab.invalid".into());
        }
        let endpoint = server_config(&names, &lab, &lab_der, None)?;
        let intercepted = server_config(&names, &corp, &corp_der, None)?;
        let wrong_name = server_config(&[WRONG_NAME.to_owned()], &lab, &lab_der, None)?;
        let expired = server_config(&names, &lab, &lab_der, Some(((2020, 1, 1), (2021, 1, 1))))?;
        let not_yet_valid = server_config(&names, &lab, &lab_der, Some(((2099, 1, 1), (2100, 1, 1))))?;
        drop((lab, corp));
        Ok(Self {
            ca_pem: lab_cert.pem(),
            cas: Arc::new([(lab_params, lab_key), (corp_params, corp_key)]),
            endpoint,
            intercepted,
            wrong_name,
            expired,
            not_yet_valid,
        })
    }

    /// A certificate and key (PEM) for `names` (host names or IP addresses), signed by the lab CA
    /// (which the task trusts) or, when `by_lab` is false, by the interception CA (which it does not).
    pub fn server_pem(&self, names: &[&str], by_lab: bool) -> Result<(String, String), LabError> {
        let (params, key) = &self.cas[usize::from(!by_lab)];
        let issuer = Issuer::from_params(params, key);
        let leaf_key = KeyPair::generate().map_err(err("server key"))?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut leaf = CertificateParams::new(names.clone()).map_err(err("server params"))?;
        leaf.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
        let cert = leaf.signed_by(&leaf_key, &issuer).map_err(err("server certificate"))?;
        Ok((cert.pem(), leaf_key.serialize_pem()))
    }

    fn config(&self, mode: ListenerTls) -> Option<Arc<ServerConfig>> {
        match mode {
            ListenerTls::Endpoint => Some(self.endpoint.clone()),
            ListenerTls::Intercepted => Some(self.intercepted.clone()),
            ListenerTls::WrongName => Some(self.wrong_name.clone()),
            ListenerTls::Expired => Some(self.expired.clone()),
            ListenerTls::NotYetValid => Some(self.not_yet_valid.clone()),
            ListenerTls::Plain | ListenerTls::LegacyTls | ListenerTls::Http => None,
        }
    }

    /// Serves one accepted connection: a TLS handshake in `mode`, then close. A client that never
    /// starts TLS (a plain TCP probe) just sees the connection close after a while.
    pub fn serve(&self, mut conn: TcpStream, mode: ListenerTls) {
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(3)));
        let answer: Option<&[u8]> = match mode {
            ListenerTls::LegacyTls => Some(&PROTOCOL_VERSION_ALERT),
            ListenerTls::Http => Some(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            _ => None,
        };
        if let Some(answer) = answer {
            // The ClientHello first (one read is enough: it is small), then the answer, then close.
            let mut hello = [0u8; 2048];
            if conn.read(&mut hello).is_ok_and(|n| n > 0) {
                let _ = conn.write_all(answer);
                let _ = conn.flush();
            }
            return;
        }
        let Some(config) = self.config(mode) else {
            return;
        };
        let Ok(mut tls) = rustls::ServerConnection::new(config) else {
            return;
        };
        while tls.is_handshaking() {
            if tls.complete_io(&mut conn).is_err() {
                return;
            }
        }
        tls.send_close_notify();
        let _ = tls.complete_io(&mut conn);
        let _ = conn.flush();
        let mut rest = [0u8; 64];
        let _ = conn.read(&mut rest);
    }
}
