//! `netready agent`: gathers the agent's settings (`netready_agent::settings` validates them, each
//! error naming its flag or variable), then
//! hands over to `netready-agent` with the real check, whose network facts (`--aws-api`) are kept
//! for a few minutes and read again when a probe result changes.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use netready_agent::AgentConfig;
use netready_agent::settings::{AgentSettingsError, RawAgentSettings};
use netready_aws::network::AwsNetwork;
use netready_check::Report;
use netready_process::log;
use serde_json::json;
use tokio::time::Instant;

use crate::cli::{AgentArgs, sourced};
use crate::exit::{env, runtime};

pub fn run(args: &AgentArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let (settings, tls) = args.probe.raw(matches).validate_with_tls(&env)?;
    let settings = Arc::new(settings);
    // --ca-file is trusted for the plane's HTTPS too (a private CA for an internal plane).
    // The check's trust store verifies the plane too: one parsed copy of the system's CAs.
    let config = AgentConfig { ca_file: settings.ca_file.clone(), trust: tls.clone(), ..config(args, matches)? };
    settings.require_region(&env)?;
    if args.check_config.check_config {
        print!("netready agent: settings are valid\n{}", settings.describe());
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
                netready_check::check_once(&settings, &env, tls.as_ref(), &network, std::time::Instant::now()).await?;
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

/// The agent's settings as given, each tagged with its flag or variable; `netready-agent`
/// validates them.
fn config(args: &AgentArgs, matches: &clap::ArgMatches) -> Result<AgentConfig, AgentSettingsError> {
    let tag = |v: &Option<String>, id: &str, flag: &'static str, var: &'static str| {
        v.as_deref().map(|v| sourced(matches, id, flag, var, v))
    };
    RawAgentSettings {
        plane_url: tag(&args.plane_url, "plane_url", "--plane-url", "NETREADY_PLANE_URL"),
        allow_insecure_plane: tag(
            &args.allow_insecure_plane,
            "allow_insecure_plane",
            "--allow-insecure-plane",
            "NETREADY_ALLOW_INSECURE_PLANE",
        ),
        runner_id: tag(&args.runner_id, "runner_id", "--runner-id", "NETREADY_RUNNER_ID"),
        runner_token_file: args.runner_token_file.clone(),
        runner_token: std::env::var("NETREADY_RUNNER_TOKEN").ok(),
        interval: tag(&args.interval, "interval", "--interval", "NETREADY_INTERVAL"),
        listen: tag(&args.listen, "listen", "--listen", "NETREADY_LISTEN"),
    }
    .validate()
}
