//! What a netready process owns, whatever its job (check, agent, plane): how it logs, how a URL
//! is shown without its password, which crypto provider TLS uses, and when it is asked to stop.
//! The libraries that do the work (the check engine, the agent loop, the plane) take these from
//! here rather than each keeping its own.

pub mod log;

/// Installs ring as rustls' process-wide crypto provider, once; building any HTTP client needs
/// one when the binary links rustls without a default provider (as netready does: no aws-lc).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Resolves on SIGTERM (how ECS stops a task) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
