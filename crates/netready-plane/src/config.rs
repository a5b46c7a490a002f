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

pub use netready_check::Sourced;

/// The smallest admin token accepted: it guards every report.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// `plane serve`'s settings as given, before validation: each value with the flag or variable it
/// came from ([`Sourced`]), so that every error names what the user set. The binary fills it from
/// the command line and the environment; [`ServeConfig::from_raw`] checks it.
#[derive(Debug, Clone, Default)]
pub struct RawServeSettings {
    pub database: String,
    pub listen: Option<Sourced>,
    /// `NETREADY_ADMIN_TOKEN` (never echoed in an error).
    pub admin_token: String,
    pub stale_after: Option<Sourced>,
    pub never_reported_after: Option<Sourced>,
    pub retention: Option<Sourced>,
    pub ingest_burst: Option<Sourced>,
    pub ingest_interval: Option<Sourced>,
    pub trusted_proxies: Vec<Sourced>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub alert_after_checks: Option<Sourced>,
    pub alert_recover_after_checks: Option<Sourced>,
    pub alert_min_duration: Option<Sourced>,
    pub alert_retry_max: Option<Sourced>,
    pub alert_give_up_after: Option<Sourced>,
    pub alert_lease: Option<Sourced>,
    pub alert_poll: Option<Sourced>,
    pub alert_group_window: Option<Sourced>,
    pub alert_destinations: alerts::address::Destinations,
}

/// A setting that cannot be used: what was wrong, naming the flag or variable, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// A duration, or `default` when not given.
fn duration(v: &Option<Sourced>, default: Duration) -> Result<Duration, SettingsError> {
    match v {
        None => Ok(default),
        Some(s) => netready_check::types::parse_duration(&s.value)
            .map_err(|e| SettingsError(format!("invalid value for {}: {e}", s.origin))),
    }
}

/// A duration where `0` (or `0s`) means off.
fn duration_or_zero(v: &Option<Sourced>, default: Duration) -> Result<Duration, SettingsError> {
    match v.as_ref().map(|s| s.value.trim()) {
        Some("0" | "0s") => Ok(Duration::ZERO),
        _ => duration(v, default),
    }
}

/// A duration of at least `min`.
fn at_least(v: &Option<Sourced>, default: Duration, min: Duration) -> Result<Duration, SettingsError> {
    let d = duration(v, default)?;
    match v {
        Some(s) if d < min => {
            Err(SettingsError(format!("invalid value for {}: {d:?} is too short: expected at least {min:?}", s.origin)))
        }
        _ => Ok(d),
    }
}

/// A number of consecutive checks, 1 to 1000.
fn checks(s: &Sourced) -> Result<u32, SettingsError> {
    s.value.trim().parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
        SettingsError(format!(
            "invalid value for {}: '{}' is not a number of checks: expected a whole number from 1 to 1000, such as 2",
            s.origin, s.value
        ))
    })
}

impl ServeConfig {
    /// Checks every setting; the first that cannot be used is the error.
    pub fn from_raw(raw: &RawServeSettings) -> Result<ServeConfig, SettingsError> {
        if raw.admin_token.trim().len() < MIN_ADMIN_TOKEN_LEN {
            return Err(SettingsError(format!(
                "NETREADY_ADMIN_TOKEN must be set to a secret of at least {MIN_ADMIN_TOKEN_LEN} characters: it guards the read API and the dashboard"
            )));
        }
        let listen = raw.listen.as_ref().map_or(DEFAULT_LISTEN, |s| s.value.as_str());
        Ok(ServeConfig {
            database: raw.database.clone(),
            listen: listen.parse().map_err(|_| {
                SettingsError(format!(
                    "invalid value for --listen: '{listen}' is not an address: expected IP:PORT such as 0.0.0.0:8080"
                ))
            })?,
            admin_token: raw.admin_token.clone(),
            stale_after: duration(&raw.stale_after, DEFAULT_STALE_AFTER)?,
            never_reported_after: duration(&raw.never_reported_after, DEFAULT_NEVER_REPORTED_AFTER)?,
            retention: duration(&raw.retention, DEFAULT_RETENTION)?,
            ingest_burst: match &raw.ingest_burst {
                None => crate::limits::RATE_BURST as u32,
                Some(s) => s.value.trim().parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    SettingsError(format!(
                        "invalid value for {}: '{}' is not a number of reports: expected a whole number from 1, such as 20",
                        s.origin, s.value
                    ))
                })?,
            },
            ingest_interval: duration(&raw.ingest_interval, crate::limits::RATE_REFILL)?,
            alerts: AlertConfig::from_raw(raw)?,
            trusted_proxies: trusted_proxies(&raw.trusted_proxies)?,
            tls: match (&raw.tls_cert, &raw.tls_key) {
                (Some(cert), Some(key)) => {
                    let files = tls::TlsFiles { cert: cert.into(), key: key.into() };
                    // Checked now, so that a bad pair is a configuration error before anything listens.
                    files.load().map_err(|e| SettingsError(e.to_string()))?;
                    Some(files)
                }
                _ => None,
            },
        })
    }
}

fn trusted_proxies(given: &[Sourced]) -> Result<proxy::TrustedProxies, SettingsError> {
    let mut nets = Vec::new();
    for s in given {
        nets.extend(
            proxy::TrustedProxies::parse(&s.value)
                .map_err(|e| SettingsError(format!("invalid value for {}: {e}", s.origin)))?,
        );
    }
    Ok(proxy::TrustedProxies::new(nets))
}

impl AlertConfig {
    /// The `--alert-…` settings, checked.
    pub fn from_raw(raw: &RawServeSettings) -> Result<AlertConfig, SettingsError> {
        Ok(AlertConfig {
            policy: alerts::Policy {
                after_checks: raw.alert_after_checks.as_ref().map_or(Ok(alerts::DEFAULT_AFTER_CHECKS), checks)?,
                recover_after_checks: raw.alert_recover_after_checks.as_ref().map(checks).transpose()?,
                min_duration_ms: duration_or_zero(&raw.alert_min_duration, alerts::DEFAULT_MIN_DURATION)?.as_millis()
                    as i64,
            },
            retry_max: duration(&raw.alert_retry_max, alerts::DEFAULT_RETRY_MAX)?,
            give_up_after: at_least(&raw.alert_give_up_after, alerts::DEFAULT_GIVE_UP_AFTER, Duration::from_secs(1))?,
            lease: at_least(&raw.alert_lease, alerts::DEFAULT_LEASE, Duration::from_secs(1))?,
            poll: at_least(&raw.alert_poll, alerts::DEFAULT_POLL, Duration::from_millis(100))?,
            group_window: duration_or_zero(&raw.alert_group_window, Duration::ZERO)?,
            destinations: raw.alert_destinations,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw() -> RawServeSettings {
        RawServeSettings { admin_token: "0123456789abcdef".into(), database: "plane.db".into(), ..Default::default() }
    }

    #[test]
    fn every_error_names_the_flag_or_variable_that_was_set() {
        let c = ServeConfig::from_raw(&raw()).unwrap();
        assert_eq!((c.listen.to_string().as_str(), c.stale_after), (DEFAULT_LISTEN, DEFAULT_STALE_AFTER));
        let short = RawServeSettings { admin_token: "short".into(), ..raw() };
        assert!(ServeConfig::from_raw(&short).unwrap_err().0.contains("NETREADY_ADMIN_TOKEN must be set"));
        assert!(!ServeConfig::from_raw(&short).unwrap_err().0.contains("short"), "the token is never echoed");
        for (set, origin, says) in [
            (
                RawServeSettings { stale_after: Some(Sourced::new("soon", "NETREADY_STALE_AFTER")), ..raw() },
                "NETREADY_STALE_AFTER",
                "soon",
            ),
            (
                RawServeSettings { ingest_burst: Some(Sourced::new("0", "--ingest-burst")), ..raw() },
                "--ingest-burst",
                "number of reports",
            ),
            (
                RawServeSettings { alert_lease: Some(Sourced::new("10ms", "NETREADY_ALERT_LEASE")), ..raw() },
                "NETREADY_ALERT_LEASE",
                "too short",
            ),
            (
                RawServeSettings { alert_after_checks: Some(Sourced::new("1001", "--alert-after-checks")), ..raw() },
                "--alert-after-checks",
                "1 to 1000",
            ),
            (
                RawServeSettings {
                    trusted_proxies: vec![Sourced::new("10.0.0.0/33", "NETREADY_TRUSTED_PROXY")],
                    ..raw()
                },
                "NETREADY_TRUSTED_PROXY",
                "10.0.0.0/33",
            ),
        ] {
            let e = ServeConfig::from_raw(&set).unwrap_err().0;
            assert!(e.starts_with(&format!("invalid value for {origin}: ")) && e.contains(says), "{e}");
        }
        let off = RawServeSettings { alert_group_window: Some(Sourced::new("0", "--alert-group-window")), ..raw() };
        assert_eq!(ServeConfig::from_raw(&off).unwrap().alerts.group_window, Duration::ZERO);
    }
}
