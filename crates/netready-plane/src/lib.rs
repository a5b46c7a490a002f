//! netready's management plane: runners report their network readiness here; people read it on
//! the dashboard and machines through the API.
//!
//! [`db`] stores (SQLite or PostgreSQL), [`api`] answers `/api/v1`, [`dashboard`] renders pages,
//! [`readiness`] decides ready/degraded/stale/unknown. [`app`] builds the router from a state, so
//! tests drive it without a socket; [`serve`] runs it.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod fleet;
pub mod limits;
pub mod names;
pub mod observe;
pub mod proxy;
pub mod readiness;
pub mod runner_id;
pub mod runners;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use netready_process::log;
use serde_json::json;

pub use db::{Store, StoreError};
pub use runner_id::RunnerId;

/// Default: a runner is stale after two 5-minute intervals without a report.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Default: a runner registered this long ago without a report is `never_reported` (its task most
/// likely never started: three check intervals, and room for an image pull).
pub const DEFAULT_NEVER_REPORTED_AFTER: Duration = Duration::from_secs(15 * 60);
/// Default: reports and status changes are kept for a week (each runner's newest is always kept).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default: the largest report body accepted.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;
/// Default SQLite file, in the working directory.
pub const DEFAULT_DATABASE: &str = "netready-plane.db";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub admin_token: Arc<str>,
    pub stale_after_ms: i64,
    /// How long after its registration a runner without a report is `never_reported`.
    pub never_reported_after_ms: i64,
    /// How old a report's `checked_at` may be (the retention: older would be pruned at once).
    pub max_age_ms: i64,
    pub body_limit: usize,
    pub schemas: Arc<Schemas>,
    /// Failed dashboard logins per client.
    pub logins: Arc<auth::LoginThrottle>,
    /// Load balancers whose `X-Forwarded-For` names the client (the login throttle's key).
    pub trusted_proxies: Arc<proxy::TrustedProxies>,
    /// Whether the plane itself serves HTTPS (session cookies are then `Secure`).
    pub https: bool,
    pub metrics: Arc<observe::Metrics>,
    /// Reports per runner over time.
    pub rate: Arc<limits::RateLimiter>,
    /// Report bodies read at once.
    pub bodies: Arc<tokio::sync::Semaphore>,
    /// Where alert channels may point, beside public addresses.
    pub alert_destinations: alerts::address::Destinations,
}

/// The compiled JSON Schema of every report version the plane accepts.
#[derive(Debug)]
pub struct Schemas {
    by_version: Vec<(u32, jsonschema::Validator)>,
}

impl Schemas {
    /// Compiles the shipped schemas (a bug if they do not compile: a test covers it).
    pub fn shipped() -> Self {
        let by_version = netready_check::report::READABLE_VERSIONS
            .iter()
            .filter_map(|&v| netready_check::report::schema_of(v).map(|s| (v, s)))
            .map(|(v, text)| {
                let schema: serde_json::Value = serde_json::from_str(text).expect("the shipped schema is JSON");
                // Formats (date-time, ipv4, ipv6) are checked, as the schema documents them.
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .expect("the shipped schema compiles");
                (v, validator)
            })
            .collect();
        Self { by_version }
    }

    pub fn for_version(&self, version: u32) -> Option<&jsonschema::Validator> {
        self.by_version.iter().find(|(v, _)| *v == version).map(|(_, s)| s)
    }
}

impl AppState {
    pub fn new(store: Store, admin_token: &str, stale_after: Duration) -> Self {
        Self {
            metrics: store.metrics(),
            store,
            admin_token: admin_token.into(),
            stale_after_ms: stale_after.as_millis() as i64,
            never_reported_after_ms: DEFAULT_NEVER_REPORTED_AFTER.as_millis() as i64,
            max_age_ms: DEFAULT_RETENTION.as_millis() as i64,
            body_limit: DEFAULT_BODY_LIMIT,
            schemas: Arc::new(Schemas::shipped()),
            logins: Arc::default(),
            trusted_proxies: Arc::default(),
            https: false,
            rate: Arc::default(),
            bodies: Arc::new(tokio::sync::Semaphore::new(limits::MAX_BODIES_IN_FLIGHT)),
            alert_destinations: alerts::address::Destinations::default(),
        }
    }
}

impl AppState {
    /// When reports and registrations are too old.
    pub fn ages(&self) -> readiness::Ages {
        readiness::Ages { stale_after_ms: self.stale_after_ms, never_reported_after_ms: self.never_reported_after_ms }
    }
}

/// The whole plane as a router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics))
        .merge(api::routes())
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(error::json_api_errors))
        .layer(axum::middleware::from_fn(limits::request_timeout))
        .layer(axum::middleware::from_fn(observe::access_log))
        .layer(axum::middleware::from_fn(dashboard::security_headers))
        .with_state(state)
}

/// How to run the plane.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database: String,
    pub listen: SocketAddr,
    pub admin_token: String,
    pub stale_after: Duration,
    /// A registered runner without a report for this long is `never_reported`.
    pub never_reported_after: Duration,
    pub retention: Duration,
    /// Per-runner ingest rate: a burst, then one report per interval.
    pub ingest_burst: u32,
    pub ingest_interval: Duration,
    /// Serve HTTPS with this certificate and key (reloaded on SIGHUP); plain HTTP when `None`.
    pub tls: Option<tls::TlsFiles>,
    /// When a readiness change is announced, and how notifications are delivered.
    pub alerts: AlertConfig,
    /// Proxies whose `X-Forwarded-For` is believed (the ALB: the VPC's CIDR).
    pub trusted_proxies: proxy::TrustedProxies,
}

/// Alerts' settings for `serve`.
#[derive(Debug, Clone, Copy)]
pub struct AlertConfig {
    pub policy: alerts::Policy,
    pub lease: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    pub poll: Duration,
    /// Group what a channel has due of one kind once it is this old; zero: off.
    pub group_window: Duration,
    /// Where channels may point, beside public addresses (`--alert-allow-private`, `--alert-allow-loopback`).
    pub destinations: alerts::address::Destinations,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            policy: alerts::Policy::default(),
            lease: alerts::DEFAULT_LEASE,
            retry_max: alerts::DEFAULT_RETRY_MAX,
            give_up_after: alerts::DEFAULT_GIVE_UP_AFTER,
            poll: alerts::DEFAULT_POLL,
            group_window: Duration::ZERO,
            destinations: alerts::address::Destinations::default(),
        }
    }
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
    let store = Store::open(&config.database).await?;
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
    store.set_alert_policy(config.alerts.policy);
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
        let before = db::now_ms() - retention.as_millis() as i64;
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

/// `runner add`: creates a runner; returns its id and token (the token is not stored). A name
/// that breaks [`names::RunnerName`]'s rule is [`StoreError::InvalidInput`].
pub async fn add_runner(store: &Store, name: &str) -> Result<(RunnerId, String), StoreError> {
    let name = names::RunnerName::parse(name).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let id = RunnerId::generate();
    let token = auth::new_token();
    store.add_runner(&id, name.as_str(), &auth::token_hash(&token)).await?;
    Ok((id, token))
}
