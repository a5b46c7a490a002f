//! TLS for the lab's listeners: a CA made at run time, a certificate from it for the real AWS
//! host names the lab answers, and the certificates a middlebox would present — one from another
//! CA (TLS interception) and one for the wrong name.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::LabError;

/// What a listener presents to a client that starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerTls {
    /// The endpoint's certificate, from the lab CA (which the task trusts).
    Endpoint,
    /// A certificate for the right names from another CA: a TLS-inspecting middlebox.
    Intercepted,
    /// A certificate from the lab CA for another name.
    WrongName,
    /// No TLS at all: accept and close (a plain TCP service).
    Plain,
}

/// The subject CN of the other CA, as a report names it.
pub const INTERCEPTION_CA: &str = "Corp TLS Inspection CA";
/// The subject CN of the lab CA.
pub const LAB_CA: &str = "netready lab CA";
/// The name on the wrong-name certificate.
pub const WRONG_NAME: &str = "wrong.example.net";

/// The server configurations of a lab, and the lab CA in PEM for the task to trust.
#[derive(Debug, Clone)]
pub struct LabTls {
    pub ca_pem: String,
    /// The lab CA and the interception CA, to sign more certificates.
    cas: Arc<[(CertificateParams, KeyPair); 2]>,
    endpoint: Arc<ServerConfig>,
    intercepted: Arc<ServerConfig>,
    wrong_name: Arc<ServerConfig>,
}

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
) -> Result<Arc<ServerConfig>, LabError> {
    let key = KeyPair::generate().map_err(err("server key"))?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(err("server params"))?;
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
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
        let endpoint = server_config(&names, &lab, &lab_der)?;
        let intercepted = server_config(&names, &corp, &corp_der)?;
        let wrong_name = server_config(&[WRONG_NAME.to_owned()], &lab, &lab_der)?;
        drop((lab, corp));
        Ok(Self {
            ca_pem: lab_cert.pem(),
            cas: Arc::new([(lab_params, lab_key), (corp_params, corp_key)]),
            endpoint,
            intercepted,
            wrong_name,
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
            ListenerTls::Plain => None,
        }
    }

    /// Serves one accepted connection: a TLS handshake in `mode`, then close. A client that never
    /// starts TLS (a plain TCP probe) just sees the connection close after a while.
    pub fn serve(&self, mut conn: TcpStream, mode: ListenerTls) {
        let Some(config) = self.config(mode) else {
            return;
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(3)));
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
