//! The plane's settings, validated: what `serve` runs with, and the defaults as named constants.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{alerts, proxy, tls};

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
