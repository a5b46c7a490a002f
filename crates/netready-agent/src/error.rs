//! Why the agent could not start: the agent's one error type, below the modules that return it
//! (the crate root's `run` and `deliver`'s plane client).

/// Why the agent could not start. Once running, it does not stop on errors: a check that cannot
/// run or a report the plane refuses is logged and tried again.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("the CA file {} holds no usable PEM certificate: {source}", path.display())]
    CaFilePem { path: std::path::PathBuf, source: reqwest::Error },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(reqwest::Error),
    #[error("cannot set up TLS for the plane: {0}")]
    Tls(#[from] netready_check::tls::TlsSetupError),
    #[error("cannot listen on {addr} (--listen): {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}
