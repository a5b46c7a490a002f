//! The agent's own settings, as given (each value [`Sourced`]: the flag or variable it came from)
//! and validated ([`RawAgentSettings::validate`] → [`AgentConfig`]): the binary gathers, this
//! module decides, and every message names the flag or variable that carried the bad value.

use std::time::Duration;

use netready_check::types::{parse_bool, parse_duration};
use netready_check::{SettingsError, Sourced};
use netready_process::log::redact_url;

use crate::config::{AgentConfig, DEFAULT_LISTEN};
use crate::schedule::DEFAULT_INTERVAL;

/// Checks closer together than this would hammer the VPC resolver for no benefit.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The agent's settings as given, before validation (the check's own are `RawSettings`).
#[derive(Debug, Clone, Default)]
pub struct RawAgentSettings {
    pub plane_url: Option<Sourced>,
    pub allow_insecure_plane: Option<Sourced>,
    pub runner_id: Option<Sourced>,
    /// `--runner-token-file`: a path.
    pub runner_token_file: Option<String>,
    /// The `NETREADY_RUNNER_TOKEN` variable, when there is no file. Never shown.
    pub runner_token: Option<String>,
    pub interval: Option<Sourced>,
    pub listen: Option<Sourced>,
}

/// A setting of the agent that cannot be used. No message holds the token, and URLs are shown
/// without their password.
#[derive(Debug, thiserror::Error)]
pub enum AgentSettingsError {
    #[error("no plane: pass --plane-url or set NETREADY_PLANE_URL (e.g. https://plane.example.com)")]
    NoPlane,
    #[error("invalid value for {origin}: '{url}' is not a URL: expected http(s)://host[:port]")]
    NotAUrl { origin: String, url: String },
    #[error(
        "refusing to send the runner token in clear text to {url}: use an https:// plane URL (TLS at the plane or \
         its load balancer), or pass --allow-insecure-plane (NETREADY_ALLOW_INSECURE_PLANE=true) for a plane on \
         a network you trust"
    )]
    ClearText { url: String },
    #[error("no runner id: pass --runner-id or set NETREADY_RUNNER_ID (from `netready plane runner add`)")]
    NoRunnerId,
    #[error(
        "invalid value for {origin}: '{id}' is not a runner id: expected letters, digits, '-' and '_' such as \
         rn-3f9a1c2b7d4e"
    )]
    NotARunnerId { origin: String, id: String },
    #[error("cannot read the runner token file {path} (--runner-token-file): {source}")]
    TokenFile { path: String, source: std::io::Error },
    #[error(
        "no runner token: set NETREADY_RUNNER_TOKEN (ECS injects it from Secrets Manager) or pass --runner-token-file"
    )]
    NoToken,
    #[error("invalid value for {origin}: '{value}' is shorter than the minimum of 1s")]
    IntervalTooShort { origin: String, value: String },
    #[error("invalid value for {origin}: '{value}' is not an address: expected IP:PORT such as 0.0.0.0:9464")]
    NotAnAddress { origin: String, value: String },
    #[error(transparent)]
    Invalid(#[from] SettingsError),
}

impl RawAgentSettings {
    /// Validates every value; the trust settings (`ca_file`, `trust`) are the check's and are left
    /// empty here.
    pub fn validate(&self) -> Result<AgentConfig, AgentSettingsError> {
        let plane = self.plane_url.as_ref().ok_or(AgentSettingsError::NoPlane)?;
        let plane_url = plane.value.clone();
        if !(plane_url.starts_with("http://") || plane_url.starts_with("https://")) || plane_url.len() < 10 {
            return Err(AgentSettingsError::NotAUrl { origin: plane.origin.clone(), url: redact_url(&plane_url) });
        }
        let allow_insecure = self.allow_insecure_plane.as_ref().map(|v| v.parse(parse_bool)).transpose()?;
        if plane_url.starts_with("http://") && !allow_insecure.unwrap_or(false) && !is_loopback_url(&plane_url) {
            return Err(AgentSettingsError::ClearText { url: redact_url(&plane_url) });
        }
        let id =
            self.runner_id.as_ref().filter(|s| !s.value.trim().is_empty()).ok_or(AgentSettingsError::NoRunnerId)?;
        if !id.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(AgentSettingsError::NotARunnerId { origin: id.origin.clone(), id: id.value.clone() });
        }
        let runner_token = match &self.runner_token_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|source| AgentSettingsError::TokenFile { path: path.clone(), source })?
                .trim()
                .to_owned(),
            None => self.runner_token.as_deref().unwrap_or_default().trim().to_owned(),
        };
        if runner_token.is_empty() {
            return Err(AgentSettingsError::NoToken);
        }
        let interval = match &self.interval {
            None => DEFAULT_INTERVAL,
            Some(s) => {
                let d = s.parse(parse_duration)?;
                if d < MIN_INTERVAL {
                    return Err(AgentSettingsError::IntervalTooShort {
                        origin: s.origin.clone(),
                        value: s.value.clone(),
                    });
                }
                d
            }
        };
        let listen = match &self.listen {
            None => DEFAULT_LISTEN.parse().unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 9464))),
            Some(l) => l
                .value
                .parse()
                .map_err(|_| AgentSettingsError::NotAnAddress { origin: l.origin.clone(), value: l.value.clone() })?,
        };
        Ok(AgentConfig {
            plane_url,
            runner_id: id.value.clone(),
            runner_token,
            interval,
            listen,
            ca_file: None,
            trust: None,
        })
    }
}

/// Whether a URL's host is this machine (`localhost`, 127.0.0.0/8, `[::1]`): plain HTTP to it never
/// leaves the host.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost/",
            "http://[::1]:8080/x",
            "http://127.9.9.9",
            "http://u:p@localhost:1",
        ] {
            assert!(super::is_loopback_url(url), "{url}");
        }
        for url in [
            "http://10.0.0.5:8080",
            "http://plane.example.com",
            "http://localhost.example.com",
            "http://[2001:db8::1]/",
        ] {
            assert!(!super::is_loopback_url(url), "{url}");
        }
    }
}
