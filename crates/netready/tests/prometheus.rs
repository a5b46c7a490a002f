//! The Prometheus alerting rules (`deploy/prometheus`) with promtool: they load, their unit tests
//! pass, and the plane's real `/metrics` is lint-clean and has every plane metric they use (the
//! agent's are checked in `e2e.rs`, where an agent runs in the namespace lab). Needs promtool
//! (Debian prometheus, scripts/install-test-deps.sh): skipped, and counted as skipped, when it
//! is missing off CI; a failure on CI.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use netready_lab::{TempDir, eventually, free_loopback_addr, http, prometheus, start_plane};

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "prometheus-admin-token-0123456789";

#[test]
fn the_alerting_rules_load_and_pass_their_unit_tests() {
    if !prometheus::available("the alerting rules were not checked") {
        return;
    }
    let checked = prometheus::promtool(&["check", "rules", "netready-rules.yml"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.contains("SUCCESS: 10 rules found"), "{checked}");
    let tested = prometheus::promtool(&["test", "rules", "netready-rules.test.yml"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_plane_serves_lint_clean_metrics_with_every_name_the_rules_use() {
    if !prometheus::available("the plane's /metrics was not checked against the rules") {
        return;
    }
    let dir = TempDir::new("prometheus");
    let db = dir.db();
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "scraped");
    // A channel nobody answers: the outbox has a failing notification.
    let closed = format!("http://{}/down", free_loopback_addr());
    let added = Command::new(BIN)
        .args(["plane", "alert", "add", "nobody", "--url", &closed, "--database", &db, "--alert-allow-loopback"])
        .output();
    assert!(added.unwrap().status.success());
    let addr = free_loopback_addr();
    let plane = start_plane(
        BIN.as_ref(),
        &db,
        addr,
        ADMIN,
        &["--alert-after-checks", "1", "--alert-poll", "200ms", "--alert-allow-loopback"],
    );

    let mut report: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
    report["checked_at"] = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string().into();
    let (status, body) = netready_lab::post_report(addr, &id, &token, &report.to_string()).unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, _) = netready_lab::post_report(addr, &id, "nrt_wrong", &report.to_string()).unwrap();
    assert_eq!(status, 401);

    let auth = format!("Bearer {ADMIN}");
    let metrics = eventually(Duration::from_secs(10), || {
        let (_, text) = http(addr, "GET", "/metrics", &[("Authorization", &auth)], b"").ok()?;
        text.contains("netready_plane_alert_notifications{state=\"failing\"} 1").then_some(text)
    })
    .unwrap_or_else(|| panic!("no failing notification in /metrics: {:?}", plane.output()));
    prometheus::check_metrics(&metrics).unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{metrics}"));
    let used = prometheus::rule_metrics(true);
    assert!(used.len() >= 3, "{used:?}");
    assert_eq!(prometheus::missing_from(&metrics, &used), Vec::<String>::new(), "{metrics}");
    assert!(metrics.contains("netready_plane_reports_rejected_total{reason=\"unauthorized\"} 1"), "{metrics}");
}
