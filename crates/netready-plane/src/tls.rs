//! HTTPS in the plane itself (`--tls-cert`, `--tls-key`), for deployments without a TLS-terminating
//! load balancer. The certificate is read again on SIGHUP and when its files change, without
//! dropping connections; a pair that does not load is logged and the previous one kept.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use netready_process::log;

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate files are looked at for a change.
const WATCH_EVERY: Duration = Duration::from_secs(10);

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read the private key {path}: {reason} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)")]
    Key { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a usable pair: {0}")]
    Pair(String),
}

/// Where the certificate and key live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks the pair.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| TlsError::Cert { path: self.cert.clone(), reason: e.to_string() })?;
        if chain.is_empty() {
            return Err(TlsError::Cert { path: self.cert.clone(), reason: "no PEM certificate in it".into() });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| TlsError::Key { path: self.key.clone(), reason: e.to_string() })?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| TlsError::Pair(e.to_string()))?;
        Ok(Arc::new(certified))
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }
}

/// The certificate in use, swapped in place on reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// A listener that speaks TLS: axum serves it like a TCP listener. Handshakes run concurrently, so
/// a slow or silent client never holds up the others.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Loads the pair (an error is a configuration error), then accepts on `tcp`, reloading the
    /// pair on SIGHUP and when its files change.
    pub fn new(tcp: TcpListener, files: TlsFiles) -> Result<Self, TlsError> {
        let current = Arc::new(Current(RwLock::new(files.load()?)));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Pair(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let local = tcp.local_addr().map_err(|e| TlsError::Pair(e.to_string()))?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, acceptor, tx));
        tokio::spawn(reload_loop(files, current));
        Ok(Self { local, ready })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                log::warn("accept failed", &[("error", json!(e.to_string()))]);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if tx.is_closed() {
            return;
        }
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                let _ = tx.send((tls, peer)).await;
            }
        });
    }
}

async fn reload_loop(files: TlsFiles, current: Arc<Current>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = files.modified();
    loop {
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let why = tokio::select! {
            _ = signalled => "SIGHUP",
            _ = tokio::time::sleep(WATCH_EVERY) => {
                let now = files.modified();
                if now == seen { continue; }
                seen = now;
                "the files changed"
            }
        };
        match files.load() {
            Ok(key) => {
                if let Ok(mut slot) = current.0.write() {
                    *slot = key;
                }
                log::info("TLS certificate reloaded", &[("why", json!(why)), ("cert", json!(files.cert))]);
            }
            Err(e) => log::error(
                "TLS certificate not reloaded; the previous one stays in use",
                &[("why", json!(why)), ("error", json!(e.to_string()))],
            ),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
