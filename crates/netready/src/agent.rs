//! `netready agent`: validates the agent's settings (each error names its flag or variable), then
//! hands over to `netready-agent` with the real check, whose network facts (`--aws-api`) are kept
//! for a few minutes and read again when a probe result changes.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use netready_agent::schedule::DEFAULT_INTERVAL;
use netready_agent::{AgentConfig, DEFAULT_LISTEN};
use netready_aws::network::AwsNetwork;
use netready_check::Report;
use netready_check::types::parse_duration;
use netready_process::log;
use serde_json::json;
use tokio::time::Instant;

use crate::cli::AgentArgs;
use crate::exit::{ConfigError, env, runtime};

/// Checks closer together than this would hammer the VPC resolver for no benefit.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub fn run(args: &AgentArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let (settings, tls) = args.probe.raw(matches).validate_with_tls(&env)?;
    let settings = Arc::new(settings);
    // --ca-file is trusted for the plane's HTTPS too (a private CA for an internal plane).
    // The check's trust store verifies the plane too: one parsed copy of the system's CAs.
    let config = AgentConfig { ca_file: settings.ca_file.clone(), trust: tls.clone(), ..config(args, matches)? };
    crate::check::require_region(&settings)?;
    if args.check_config.check_config {
        print!("netready agent: settings are valid\n{}", crate::check::describe(&settings));
        println!("plane url:       {}", netready_process::log::redact_url(&config.plane_url));
        println!("runner id:       {}", config.runner_id);
        let token_from = if args.runner_token_file.is_some() { "--runner-token-file" } else { "NETREADY_RUNNER_TOKEN" };
        println!("runner token:    set ({token_from}; not shown)");
        println!("interval:        {}", humantime::format_duration(config.interval));
        println!("listen:          {}", config.listen);
        return Ok(ExitCode::SUCCESS);
    }
    let network = AwsNetwork::cached(settings.aws_api);
    let previous: Arc<Mutex<Option<Report>>> = Arc::default();
    let check = move || {
        let (settings, tls, network, previous) = (settings.clone(), tls.clone(), network.clone(), previous.clone());
        async move {
            let started = SystemTime::now();
            let mut checked =
                netready_check::check_once(&settings, &env, tls.as_ref(), &network).await.map_err(|e| e.to_string())?;
            // What was read for an earlier check may no longer hold when the probes see something
            // new: read again and apply that to this check's results.
            let changed = previous
                .lock()
                .ok()
                .and_then(|p| p.as_ref().map(|p| netready_agent::changes::probes_changed(p, &checked.probed)))
                .unwrap_or(false);
            let from_cache = checked.discovered.read_at.is_some_and(|at| at < started);
            if changed && from_cache {
                let deadline = Instant::now() + checked.plan.timeout;
                match tokio::time::timeout_at(deadline, network.read_fresh(&checked.plan.task, deadline)).await {
                    Ok(fresh) => {
                        log::info(
                            "a probe result changed: read the task's network again",
                            &[("diagnosis", json!(fresh.status.as_str()))],
                        );
                        checked.rediagnose(fresh);
                    }
                    Err(_) => log::warn(
                        "a probe result changed, and reading the task's network again did not finish in time; \
                         the report keeps what was read before",
                        &[],
                    ),
                }
            }
            if let Ok(mut p) = previous.lock() {
                *p = Some(checked.probed.clone());
            }
            if checked.discovered.required_but_unread() {
                log::error(
                    "--aws-api required, and the task's network could not be read",
                    &[("reason", json!(checked.discovered.note))],
                );
            }
            Ok(checked.report)
        }
    };
    runtime(false)?.block_on(netready_agent::run(config, check))?;
    Ok(ExitCode::SUCCESS)
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

fn config(args: &AgentArgs, matches: &clap::ArgMatches) -> Result<AgentConfig, ConfigError> {
    // Name what the user actually set: the flag, or the variable when the flag was absent.
    let origin = |var: &str, flag: &str| {
        let id = flag.trim_start_matches("--").replace('-', "_");
        if matches.value_source(&id) == Some(clap::parser::ValueSource::EnvVariable) {
            var.to_owned()
        } else {
            flag.to_owned()
        }
    };
    let plane_url = args.plane_url.clone().ok_or_else(|| {
        ConfigError("no plane: pass --plane-url or set NETREADY_PLANE_URL (e.g. https://plane.example.com)".into())
    })?;
    if !(plane_url.starts_with("http://") || plane_url.starts_with("https://")) || plane_url.len() < 10 {
        return Err(ConfigError(format!(
            "invalid value for {}: '{}' is not a URL: expected http(s)://host[:port]",
            origin("NETREADY_PLANE_URL", "--plane-url"),
            netready_process::log::redact_url(&plane_url)
        )));
    }
    let allow_insecure = match &args.allow_insecure_plane {
        None => false,
        Some(v) => netready_check::types::parse_bool(v).map_err(|e| {
            ConfigError(format!(
                "invalid value for {}: {e}",
                origin("NETREADY_ALLOW_INSECURE_PLANE", "--allow-insecure-plane")
            ))
        })?,
    };
    if plane_url.starts_with("http://") && !allow_insecure && !is_loopback_url(&plane_url) {
        return Err(ConfigError(format!(
            "refusing to send the runner token in clear text to {}: use an https:// plane URL (TLS at the plane or \
             its load balancer), or pass --allow-insecure-plane (NETREADY_ALLOW_INSECURE_PLANE=true) for a plane on \
             a network you trust",
            netready_process::log::redact_url(&plane_url)
        )));
    }
    let runner_id = args.runner_id.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        ConfigError(
            "no runner id: pass --runner-id or set NETREADY_RUNNER_ID (from `netready plane runner add`)".into(),
        )
    })?;
    if !runner_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ConfigError(format!(
            "invalid value for {}: '{runner_id}' is not a runner id: expected letters, digits, '-' and '_' such as rn-3f9a1c2b7d4e",
            origin("NETREADY_RUNNER_ID", "--runner-id")
        )));
    }
    let runner_token = match &args.runner_token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the runner token file {path} (--runner-token-file): {e}")))?
            .trim()
            .to_owned(),
        None => std::env::var("NETREADY_RUNNER_TOKEN").unwrap_or_default().trim().to_owned(),
    };
    if runner_token.is_empty() {
        return Err(ConfigError(
            "no runner token: set NETREADY_RUNNER_TOKEN (ECS injects it from Secrets Manager) or pass --runner-token-file".into(),
        ));
    }
    let interval = match &args.interval {
        None => DEFAULT_INTERVAL,
        Some(s) => {
            let origin = origin("NETREADY_INTERVAL", "--interval");
            let d = parse_duration(s).map_err(|e| ConfigError(format!("invalid value for {origin}: {e}")))?;
            if d < MIN_INTERVAL {
                return Err(ConfigError(format!(
                    "invalid value for {origin}: '{s}' is shorter than the minimum of 1s"
                )));
            }
            d
        }
    };
    let listen_text = args.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = listen_text.parse().map_err(|_| {
        ConfigError(format!(
            "invalid value for {}: '{listen_text}' is not an address: expected IP:PORT such as 0.0.0.0:9464",
            origin("NETREADY_LISTEN", "--listen")
        ))
    })?;
    Ok(AgentConfig { plane_url, runner_id, runner_token, interval, listen, ca_file: None, trust: None })
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
