//! What every request handler shares ([`AppState`], axum's `State`), and the compiled report
//! schemas.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{DEFAULT_BODY_LIMIT, DEFAULT_NEVER_REPORTED_AFTER, DEFAULT_RETENTION};
use crate::db::Store;
use crate::{alerts, auth, limits, metrics, proxy, readiness};

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
    pub metrics: Arc<metrics::Metrics>,
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
