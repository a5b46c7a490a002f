//! Running the plane: the router of every route ([`app`]), and [`serve`], which opens the store,
//! starts the background tasks (pruning, alert delivery) and serves until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use netready_process::log;
use serde_json::json;

use crate::config::ServeConfig;
use crate::db::{self, Store, StoreError};
use crate::state::AppState;
use crate::{alerts, api, dashboard, error, limits, ops, tls};

/// The whole plane as a router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api::routes())
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(error::json_api_errors))
        .layer(axum::middleware::from_fn(limits::request_timeout))
        .layer(axum::middleware::from_fn(ops::access_log))
        .layer(axum::middleware::from_fn(dashboard::layout::security_headers))
        .with_state(state)
}

/// Why the plane could not start or went down.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("cannot build the HTTP client for alerts: {0}")]
    AlertClient(reqwest::Error),
}

/// Opens the store (running migrations), serves until SIGTERM or SIGINT, then drains.
pub async fn serve(config: ServeConfig) -> Result<(), PlaneError> {
    // The store is handed its counters and the alert policy; it makes neither.
    let hooks = db::StoreHooks {
        metrics: Arc::default(),
        alerts: db::AlertHooks { policy: Arc::new(std::sync::RwLock::new(config.alerts.policy)), ..Default::default() },
    };
    let store = Store::open_with(&config.database, hooks).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| PlaneError::Listen { addr: config.listen, source })?;
    let local = listener.local_addr().map_err(|source| PlaneError::Listen { addr: config.listen, source })?;
    log::info(
        "plane listening",
        &[
            ("listen", json!(local.to_string())),
            ("scheme", json!(if config.tls.is_some() { "https" } else { "http" })),
            ("database", json!(db::redact(&config.database))),
        ],
    );
    let pruner = tokio::spawn(prune_forever(store.clone(), config.retention));
    let delivery = tokio::spawn(alerts::deliver::run(
        store.clone(),
        alerts::deliver::Settings {
            lease: config.alerts.lease,
            retry_max: config.alerts.retry_max,
            give_up_after: config.alerts.give_up_after,
            poll: config.alerts.poll,
            stale_after: config.stale_after,
            never_reported_after: config.never_reported_after,
            group_window: config.alerts.group_window,
        },
        alerts::deliver::Sender::new(config.alerts.destinations).map_err(PlaneError::AlertClient)?,
    ));
    let state = AppState {
        max_age_ms: config.retention.as_millis() as i64,
        rate: Arc::new(limits::RateLimiter::new(f64::from(config.ingest_burst), config.ingest_interval)),
        alert_destinations: config.alerts.destinations,
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        never_reported_after_ms: config.never_reported_after.as_millis() as i64,
        ..AppState::new(store.clone(), &config.admin_token, config.stale_after)
    };
    let app =
        app(AppState { https: config.tls.is_some(), ..state }).into_make_service_with_connect_info::<SocketAddr>();
    let result = match &config.tls {
        None => axum::serve(listener, app).with_graceful_shutdown(netready_process::shutdown_signal()).await,
        Some(files) => {
            use axum::serve::ListenerExt as _;
            // tap_io gives the listener axum's connect-info support (the client's address).
            let listener = tls::TlsListener::new(listener, files.clone())?.tap_io(|_| {});
            axum::serve(listener, app).with_graceful_shutdown(netready_process::shutdown_signal()).await
        }
    }
    .map_err(PlaneError::Serve);
    pruner.abort();
    // A notification being sent now stays claimed until its lease ends, then is sent again.
    delivery.abort();
    store.close().await;
    log::info("plane stopped", &[]);
    result
}

async fn prune_forever(store: Store, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let before = crate::time::now_ms() - retention.as_millis() as i64;
        match store.prune(before).await {
            Ok(n) if n > 0 => log::info("pruned old reports", &[("reports", json!(n))]),
            Ok(_) => {}
            Err(e) => log::warn("pruning failed", &[("error", json!(e.to_string()))]),
        }
        if let Err(e) = store.prune_silences(before).await {
            log::warn("pruning ended silences failed", &[("error", json!(e.to_string()))]);
        }
        if let Err(e) = store.prune_alerts(before).await {
            log::warn("pruning finished notifications failed", &[("error", json!(e.to_string()))]);
        }
    }
}
