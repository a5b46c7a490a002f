//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver): log in, find
//! the degraded runner first in the list, open it, see the Fargate network readiness table; the
//! fleet page groups degraded runners by what they share; the list at phone width (390 px) does
//! not scroll sideways; the Alerts page shows the channels and each notification's delivery state
//! (a loopback receiver takes them, a closed port refuses them). Writes screenshots of the details
//! page, the fleet page, the phone-width list and the Alerts page; with
//! NETREADY_UPDATE_SCREENSHOT=1 they replace docs/dashboard-runner-details.png,
//! docs/dashboard-fleet.png, docs/dashboard-list-phone.png and docs/dashboard-alerts.png.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use netready_lab::browser::Browser;
use netready_lab::{TempDir, eventually};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "browser-admin-token-0123456789";

#[test]
fn the_dashboard_shows_a_degraded_runner_and_its_readiness_table() {
    if !netready_lab::browser::available("the dashboard was not tested in a browser") {
        return;
    }
    let dir = TempDir::new("browser");
    let db = dir.db();
    let add = |name: &str| netready_lab::runner_add(BIN.as_ref(), &db, name);
    let (ok_id, ok_token) = add("eu-west-3 / build-fleet-a");
    let (bad_id, bad_token) = add("eu-west-3 / build-fleet-b");
    // Two alert channels: a receiver on loopback that takes everything, and a closed port.
    let receiver = netready_lab::webhook::Receiver::start().unwrap();
    let closed = format!("http://{}/down", netready_lab::free_loopback_addr());
    for (name, url) in [("ops-webhook", receiver.url("/hook")), ("closed-port", closed)] {
        let out = Command::new(BIN)
            .args(["plane", "alert", "add", name, "--url", &url, "--database", &db, "--alert-allow-loopback"])
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let addr = netready_lab::free_loopback_addr();
    let _plane = netready_lab::start_plane(
        BIN.as_ref(),
        &db,
        addr,
        ADMIN,
        &["--alert-after-checks", "1", "--alert-poll", "200ms", "--alert-retry-max", "1h", "--alert-allow-loopback"],
    );

    let mut report: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    report["checked_at"] = json!(now);
    let post = |id: &str, token: &str, r: &Value| {
        let (s, b) = netready_lab::post_report(addr, id, token, &r.to_string()).unwrap();
        assert_eq!(s, 201, "{b}");
    };
    post(&bad_id, &bad_token, &report);
    let mut ready = report.clone();
    ready["status"] = json!("ready");
    ready["endpoints"][1]["reachability"] = json!("full");
    ready["endpoints"][1]["connections"][0]["outcome"] = json!("ok");
    ready["endpoints"][1]["connections"][0]["error"] = Value::Null;
    ready["endpoints"][1]["hints"] = json!([]);
    post(&ok_id, &ok_token, &ready);
    // The fleet: four runners in 10.0.3.0/24 (eu-west-3b) whose logs connections time out, two in
    // 10.0.1.0/24 whose logs handshakes are reset (a firewall filtering by server name).
    for i in 0..4 {
        let (id, token) = add(&format!("eu-west-3 / subnet-3b-runner-{i}"));
        let mut r = report.clone();
        r["task"]["subnet_cidr"] = json!("10.0.3.0/24");
        r["task"]["availability_zone"] = json!("eu-west-3b");
        r["task"]["private_ipv4"] = json!(format!("10.0.3.{}", 10 + i));
        let hint = r["endpoints"][1]["hints"][0].as_str().unwrap().replace("10.0.1.0/24", "10.0.3.0/24");
        r["endpoints"][1]["hints"][0] = json!(hint);
        post(&id, &token, &r);
    }
    for i in 0..2 {
        let (id, token) = add(&format!("eu-west-3 / subnet-1a-runner-{i}"));
        let mut r = report.clone();
        r["endpoints"][1]["connections"][0]["tcp"] = json!({"outcome": "ok", "duration_ms": 1, "budget_ms": 1999});
        r["endpoints"][1]["connections"][0]["tls"] = json!({"outcome": "reset", "error": "connection reset by peer",
            "duration_ms": 2, "budget_ms": 1998, "version": null, "certificate": null});
        r["endpoints"][1]["hints"] = json!([
            "TCP to 10.0.2.11 connects but the TLS ClientHello for logs.eu-west-3.amazonaws.com is reset: a firewall filtering by server name drops it — allow logs.eu-west-3.amazonaws.com in its allow-list."
        ]);
        post(&id, &token, &r);
    }

    let s = Browser::start(None, &dir.join("profile"), 1500, 900);

    // Not logged in: the dashboard sends us to the login form.
    s.goto(&format!("http://{addr}/dashboard"));
    let field = s.wait_for("input[name=token]");
    assert!(s.url().ends_with("/login"), "{}", s.url());
    s.type_into(&field, ADMIN);
    let button = s.wait_for("button[type=submit]");
    s.click(&button);

    // The list: the degraded runner comes first.
    let first = s.wait_for("#runners tbody tr:first-child");
    let first_text = s.text(&first);
    assert!(first_text.contains("build-fleet-b") && first_text.contains("degraded"), "{first_text}");
    assert!(first_text.contains("logs none"), "{first_text}");
    assert!(first_text.contains("just now") || first_text.contains(" ago"), "relative times: {first_text}");
    let link = s.wait_for("#runners tbody tr[data-readiness=degraded] a");
    s.click(&link);

    // The details: the Fargate network readiness table.
    let table = s.wait_for("#readiness");
    let table_text = s.text(&table);
    for want in [
        "secretsmanager",
        "logs.eu-west-3.amazonaws.com:443",
        "vpc_endpoint",
        "nat_gateway",
        "10.0.2.11",
        "timeout",
        "security group",
    ] {
        assert!(table_text.contains(want), "{want} not in the table:\n{table_text}");
    }
    let logs_row = s.text(&s.wait_for("#readiness tr[data-service=logs]"));
    assert!(logs_row.contains("none") && logs_row.contains("private"), "{logs_row}");
    assert!(s.url().contains(&bad_id));
    let body = s.text(&s.wait_for("body"));
    assert!(body.contains("Status history") && body.contains("Fargate network readiness"));

    let png = s.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    assert!(png.len() > 20_000, "the screenshot has content ({} bytes)", png.len());
    std::fs::write(dir.join("details.png"), &png).unwrap();
    if std::env::var("NETREADY_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dashboard-runner-details.png");
        std::fs::write(docs, &png).unwrap();
    }

    let update = std::env::var("NETREADY_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1");
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs");

    // The fleet page: each cause in one line, with what its runners share and the hint.
    s.goto(&format!("http://{addr}/dashboard/fleet"));
    let causes = s.text(&s.wait_for("#causes"));
    for want in [
        "logs unreachable on 5 runners, in 2 subnets and 2 zones, TCP timeout",
        "logs unreachable on 2 runners, all in 10.0.1.0/24 (eu-west-3a), TLS reset",
        "Hint: TCP to 10.0.2.11 connects but the TLS ClientHello",
        "inbound TCP 443 from the task subnet 10.0.3.0/24",
    ] {
        assert!(causes.contains(want), "{want} not among the causes:\n{causes}");
    }
    let words = |t: String| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let groups = words(s.text(&s.wait_for("#causes .cause:first-child table.groups")));
    assert!(groups.contains("4 10.0.3.0/24 eu-west-3b") && groups.contains("1 10.0.1.0/24 eu-west-3a"), "{groups}");
    let services = words(s.text(&s.wait_for("#services tr[data-service=logs]")));
    assert!(services.contains("vpc_endpoint: 1 full 7 not"), "{services}");
    let png = s.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
    std::fs::write(dir.join("fleet.png"), &png).unwrap();
    if update {
        std::fs::write(format!("{docs}/dashboard-fleet.png"), &png).unwrap();
    }

    // The Alerts page: the channels, and the seven runners' `degraded` notifications on each —
    // delivered to the receiver, failing (with the reason) on the closed port.
    let rows = |state: &str| {
        s.script(&format!("return document.querySelectorAll('#notifications tr[data-state={state}]').length;"))
            .as_u64()
            .unwrap()
    };
    let states = eventually(Duration::from_secs(20), || {
        s.goto(&format!("http://{addr}/dashboard/alerts"));
        s.wait_for("#notifications");
        let got = (rows("delivered"), rows("failing"), rows("pending"));
        (got == (7, 7, 0)).then_some(got)
    });
    assert_eq!(states, Some((7, 7, 0)), "delivered, failing, pending rows: {:?}", (rows("delivered"), rows("failing")));
    assert_eq!(receiver.received().len(), 7, "the receiver got each notification once");
    let channels = s.text(&s.wait_for("#channels"));
    assert!(channels.contains("ops-webhook") && channels.contains("closed-port"), "{channels}");
    let failing = s.text(&s.wait_for("#notifications tr[data-state=failing]"));
    assert!(failing.contains("closed-port") && failing.contains("could not connect"), "{failing}");
    assert!(
        failing.contains("eu-west-3 / ")
            && (failing.contains("just now") || failing.contains(" s ago"))
            && failing.contains(" · next "),
        "names, relative times: {failing}"
    );
    let summary = s.text(&s.wait_for("#content p.muted"));
    assert!(summary.contains("7 failing") && summary.contains("7 delivered"), "{summary}");
    // The failing ones alone, from the summary's link.
    s.click(&s.wait_for("#states a[href='/dashboard/alerts?state=failing']"));
    let only_failing = eventually(Duration::from_secs(10), || {
        let got = (rows("failing"), rows("delivered"));
        (s.url().ends_with("state=failing") && got == (7, 0)).then_some(got)
    });
    assert_eq!(only_failing, Some((7, 0)), "{}", s.url());
    s.goto(&format!("http://{addr}/dashboard/alerts"));
    let png = s.screenshot();
    std::fs::write(dir.join("alerts.png"), &png).unwrap();
    if update {
        std::fs::write(format!("{docs}/dashboard-alerts.png"), &png).unwrap();
    }

    // The list at phone width: cards, no sideways scrolling of the page.
    s.emulate_width(390, 844);
    s.goto(&format!("http://{addr}/dashboard"));
    s.wait_for("#runners tbody tr");
    let width = s.script("return [window.innerWidth, document.documentElement.scrollWidth];");
    assert_eq!(width[0], 390, "the viewport is 390 px wide: {width}");
    assert!(width[1].as_u64().unwrap() <= 390, "the page scrolls sideways at 390 px: {width}");
    let png = s.screenshot();
    std::fs::write(dir.join("list-phone.png"), &png).unwrap();
    if update {
        std::fs::write(format!("{docs}/dashboard-list-phone.png"), &png).unwrap();
    }
    // Nor the Alerts page, whose tables are wide.
    s.goto(&format!("http://{addr}/dashboard/alerts"));
    s.wait_for("#notifications tbody tr");
    let width = s.script("return [window.innerWidth, document.documentElement.scrollWidth];");
    assert!(width[1].as_u64().unwrap() <= 390, "the Alerts page scrolls sideways at 390 px: {width}");
    s.emulate_width(1500, 900);
    s.goto(&format!("http://{addr}/dashboard/runners/{bad_id}"));
    s.wait_for("#readiness");

    // The page updates itself while open: the runner recovers, and without a reload the badge
    // turns green (the page refreshes its content every 15 s).
    let mut recovered = ready.clone();
    recovered["checked_at"] = json!(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string());
    post(&bad_id, &bad_token, &recovered);
    let url_before = s.url();
    let badge = eventually(Duration::from_secs(25), || {
        let b = s.find("h1 .badge")?;
        let text = s.try_text(&b)?;
        (text == "ready").then_some(text)
    });
    assert_eq!(badge.as_deref(), Some("ready"), "the details page did not update itself");
    assert_eq!(s.url(), url_before, "updated in place, not navigated");

    // At 1,400 px the details table fits its box, "Errors and hints" included: measured on the
    // newest report version (routes, findings, TLS) and on the version 2 one.
    let (v4_id, v4_token) = add("eu-west-3 / v4-runner");
    let mut v4: Value = serde_json::from_str(include_str!("../../../tests/fixtures/report-v4-degraded.json")).unwrap();
    v4["checked_at"] = json!(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string());
    post(&v4_id, &v4_token, &v4);
    s.emulate_width(1400, 900);
    for id in [&v4_id, &bad_id] {
        s.goto(&format!("http://{addr}/dashboard/runners/{id}"));
        s.wait_for("#readiness tbody tr");
        let fit = s.script(
            "const t = document.getElementById('readiness'); const box = t.parentElement; \
             const last = t.querySelector('thead th:last-child').getBoundingClientRect(); \
             return [window.innerWidth, Math.ceil(t.getBoundingClientRect().width), box.clientWidth, \
                     Math.ceil(last.right), Math.floor(box.getBoundingClientRect().right), \
                     document.documentElement.scrollWidth, \
                     [...t.querySelectorAll('thead th')].map(th => Math.round(th.getBoundingClientRect().width))];",
        );
        eprintln!("at 1,400 px, {id}: viewport, table, box, last column end, box end, page, columns: {fit}");
        let n = |i: usize| fit[i].as_u64().unwrap();
        assert_eq!(n(0), 1400, "the viewport is 1,400 px wide: {fit}");
        assert!(n(1) <= n(2), "{id}: the readiness table is {} px wide in a {} px box: {fit}", n(1), n(2));
        assert!(n(3) <= n(4), "{id}: 'Errors and hints' ends outside the box: {fit}");
        assert!(n(5) <= 1400, "{id}: the page scrolls sideways at 1,400 px: {fit}");
    }
}
