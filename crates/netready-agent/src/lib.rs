//! netready's agent: the check at start-up and every interval (with a little jitter), each report
//! delivered to the management plane with retries, and a status server for the container.
//!
//! Three tasks share a [`status::Stats`]: the checker (never two checks at once), the reporter
//! (newest report wins; capped exponential backoff while the plane is away), and the status
//! server. SIGTERM stops scheduling and gives an in-flight delivery a few seconds.

pub mod changes;
mod config;
pub mod deliver;
mod error;
pub mod schedule;
pub mod settings;
pub mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use netready_check::{Report, SettingsError};
use netready_process::log;
use serde_json::{Value, json};
use tokio::sync::watch;

pub use config::{AgentConfig, DEFAULT_LISTEN};
pub use error::AgentError;

use deliver::{Delivery, PlaneClient};
use status::{Shared, unix_now};

/// How long an in-flight delivery may go on after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Runs until SIGTERM or SIGINT. `check` runs one check (in production, `check_once` with the
/// system's resolver and direct TCP); when it cannot run at all (no region known), the error is
/// logged and the next check comes at the next interval.
pub async fn run<F, Fut>(config: AgentConfig, check: F) -> Result<(), AgentError>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Report, SettingsError>> + Send + 'static,
{
    let trust = match &config.trust {
        Some(probe) => deliver::PlaneTrust::Shared(probe.clone()),
        None => deliver::PlaneTrust::System { ca_file: config.ca_file.clone() },
    };
    let client = PlaneClient::new(&config.plane_url, &config.runner_id, &config.runner_token, &trust)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| AgentError::Listen { addr: config.listen, source })?;
    let shared: Shared = Arc::default();
    let liveness = status::Liveness::default();
    log::info(
        "agent started",
        &[
            ("runner_id", json!(config.runner_id)),
            ("plane", json!(log::redact_url(client.url()))),
            ("interval", json!(humantime::format_duration(config.interval).to_string())),
            ("status_server", json!(listener.local_addr().map(|a| a.to_string()).unwrap_or_default())),
        ],
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let (report_tx, report_rx) = watch::channel::<Option<Arc<Report>>>(None);
    let server = {
        let mut stop = stop_rx.clone();
        let app = status::router(shared.clone(), liveness.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        })
    };
    let checker = {
        let alive = status::Alive::new(&liveness.checker);
        let loop_ = checker(check, config.interval, shared.clone(), report_tx);
        tokio::spawn(async move {
            let _alive = alive;
            loop_.await;
            log::error("the check loop stopped", &[]);
        })
    };
    let reporter = {
        let alive = status::Alive::new(&liveness.reporter);
        let loop_ = reporter(client, report_rx, shared.clone(), config.interval, stop_rx);
        tokio::spawn(async move {
            let _alive = alive;
            loop_.await;
        })
    };

    netready_process::shutdown_signal().await;
    log::info("stopping: no more checks; letting an in-flight report finish", &[]);
    checker.abort();
    let _ = stop_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, reporter).await.is_err() {
        log::warn("a report was still being delivered after the grace period; stopping anyway", &[]);
    }
    let _ = server.await;
    log::info("agent stopped", &[]);
    Ok(())
}

async fn checker<F, Fut>(check: F, interval: Duration, shared: Shared, reports: watch::Sender<Option<Arc<Report>>>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Report, SettingsError>>,
{
    loop {
        let report = match check().await {
            Ok(report) => Arc::new(report),
            Err(e) => {
                log::error("the check could not run", &[("error", json!(e.to_string()))]);
                tokio::time::sleep(schedule::next_check_in(interval, schedule::random_fraction())).await;
                continue;
            }
        };
        let previous = {
            let Ok(mut s) = shared.lock() else { return };
            *s.checks.entry(report.status.as_str()).or_default() += 1;
            s.last_check = Some(unix_now());
            s.last.replace(report.clone())
        };
        let degraded: Vec<&str> = report.degraded_endpoints().map(|e| e.service.as_str()).collect();
        let error_findings: Vec<&str> = report
            .diagnosis
            .iter()
            .flat_map(|d| &d.findings)
            .filter(|f| f.severity == netready_check::report::Severity::Error)
            .map(|f| f.id.as_str())
            .collect();
        log::info(
            "check",
            &[
                ("status", json!(report.status.as_str())),
                ("checked_at", json!(report.checked_at)),
                ("duration_ms", json!(report.duration_ms)),
                ("degraded_endpoints", json!(degraded)),
                ("diagnosis", json!(report.diagnosis.as_ref().map(|d| d.status.as_str()))),
                ("error_findings", json!(error_findings)),
            ],
        );
        if let Some(changed) = changes::changed_endpoints(previous.as_deref(), &report) {
            log::warn(
                "network readiness changed",
                &[
                    ("from", json!(previous.as_ref().map(|p| p.status.as_str()))),
                    ("to", json!(report.status.as_str())),
                    ("changed_endpoints", Value::Array(changed)),
                ],
            );
        }
        let _ = reports.send(Some(report));
        tokio::time::sleep(schedule::next_check_in(interval, schedule::random_fraction())).await;
    }
}

async fn reporter(
    client: PlaneClient,
    mut reports: watch::Receiver<Option<Arc<Report>>>,
    shared: Shared,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let count = |outcome: &'static str| {
        if let Ok(mut s) = shared.lock() {
            *s.deliveries.entry(outcome).or_default() += 1;
        }
    };
    let mut plane_too_old_logged = false;
    loop {
        tokio::select! {
            changed = reports.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(mut report) = reports.borrow_and_update().clone() else {
            continue;
        };
        let mut attempt = 0u32;
        loop {
            let outcome = client.deliver(&report).await;
            count(outcome.outcome());
            match outcome {
                Delivery::Stored | Delivery::Duplicate => {
                    if let Ok(mut s) = shared.lock() {
                        s.last_delivery_ok = Some(unix_now());
                    }
                    if attempt > 0 {
                        log::info(
                            "report delivered after retries",
                            &[("checked_at", json!(report.checked_at)), ("attempts", json!(attempt + 1))],
                        );
                    }
                    break;
                }
                Delivery::PlaneTooOld { message } => {
                    // Once per process: every report would say the same until the plane is upgraded.
                    if !plane_too_old_logged {
                        plane_too_old_logged = true;
                        log::error(
                            "the plane does not accept this agent's report format: upgrade the plane to this netready \
                             version or newer (reports are checked and dropped until then)",
                            &[
                                ("schema_version", json!(report.schema_version)),
                                ("plane_says", json!(message)),
                                ("agent_version", json!(env!("CARGO_PKG_VERSION"))),
                            ],
                        );
                    }
                    break;
                }
                Delivery::Rejected { status, message } => {
                    let what = if status == 401 || status == 403 {
                        "configuration error: the plane refused this runner's id or token (NETREADY_RUNNER_ID, NETREADY_RUNNER_TOKEN)"
                    } else {
                        "the plane rejected the report"
                    };
                    log::error(
                        what,
                        &[
                            ("status", json!(status)),
                            ("message", json!(message)),
                            ("checked_at", json!(report.checked_at)),
                        ],
                    );
                    break;
                }
                Delivery::Retry { reason, after } => {
                    attempt += 1;
                    // The plane's Retry-After wins over a shorter backoff.
                    let backoff = schedule::retry_in(attempt, interval, schedule::random_fraction());
                    let wait = after.map_or(backoff, |after| after.max(backoff));
                    log::warn(
                        "plane unreachable; will retry",
                        &[
                            ("reason", json!(reason)),
                            ("attempt", json!(attempt)),
                            ("retry_in_ms", json!(wait.as_millis() as u64)),
                            ("checked_at", json!(report.checked_at)),
                        ],
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        changed = reports.changed() => {
                            if changed.is_err() { return }
                            if let Some(newer) = reports.borrow_and_update().clone() {
                                count("dropped");
                                log::warn(
                                    "dropping an undelivered report for a newer one",
                                    &[("dropped_checked_at", json!(report.checked_at)), ("newer_checked_at", json!(newer.checked_at))],
                                );
                                report = newer;
                            }
                        }
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
        }
    }
}
