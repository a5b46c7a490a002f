//! How to run the agent, validated ([`crate::settings`] makes it from what was given).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use netready_process::log;

/// The status server's default address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9464";

/// How to run the agent. The token is not printed by `Debug`.
#[derive(Clone)]
pub struct AgentConfig {
    pub plane_url: String,
    pub runner_id: String,
    pub runner_token: String,
    pub interval: Duration,
    pub listen: SocketAddr,
    /// Extra CA certificates (PEM) trusted for the plane's HTTPS, beside the system's: `--ca-file`.
    pub ca_file: Option<std::path::PathBuf>,
    /// The check's trust store (the system's CAs plus `--ca-file`), when the check uses TLS: the
    /// plane's HTTPS is verified with it too, so that the process holds one parsed copy.
    pub trust: Option<Arc<netready_check::tls::TlsProbe>>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("plane_url", &log::redact_url(&self.plane_url))
            .field("runner_id", &self.runner_id)
            .field("runner_token", &"***")
            .field("interval", &self.interval)
            .field("listen", &self.listen)
            .finish()
    }
}
