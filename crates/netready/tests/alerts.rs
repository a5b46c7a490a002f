//! Alerts with the real binary: channels through `netready plane alert …`, a plane killed with
//! SIGKILL while a notification is in flight delivers it after a restart (repeats carry the same
//! idempotency key), and two plane processes on one PostgreSQL send each notification once.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use hmac::{Hmac, Mac};
use netready_lab::webhook::{Received, Receiver};
use netready_lab::{Proc, TempDir, eventually, free_loopback_addr, http};
use serde_json::Value;
use sha2::Sha256;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "alerts-admin-token-0123456789";

fn netready(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).env_clear().output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Test receivers listen on loopback: every plane and channel here opts in to it, as documented
/// for tests (the default refuses it).
const LOOPBACK: &str = "--alert-allow-loopback";

/// `alert add`: the channel id and the secret it printed.
fn add_channel(database: &str, url: &str) -> (String, String) {
    let (code, out, err) = netready(&["plane", "alert", "add", "ops", "--url", url, "--database", database, LOOPBACK]);
    assert_eq!(code, 0, "{out}{err}");
    let field = |label: &str| out.lines().find_map(|l| l.strip_prefix(label)).unwrap().trim().to_owned();
    (field("channel id:"), field("channel secret:"))
}

fn start_plane(database: &str, addr: SocketAddr) -> Proc {
    start_plane_with(database, addr, &[])
}

fn start_plane_with(database: &str, addr: SocketAddr, extra: &[&str]) -> Proc {
    let fast = [
        "--alert-after-checks",
        "1",
        "--alert-lease",
        "2s",
        "--alert-poll",
        "200ms",
        "--alert-retry-max",
        "1s",
        LOOPBACK,
    ];
    netready_lab::start_plane(BIN.as_ref(), database, addr, ADMIN, &[&fast[..], extra].concat())
}

fn degraded_report(minutes_ago: u64) -> String {
    let mut report: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
    let at = std::time::SystemTime::now() - Duration::from_secs(60 * minutes_ago);
    report["checked_at"] = Value::String(humantime::format_rfc3339_millis(at).to_string());
    report.to_string()
}

fn notifications(addr: SocketAddr) -> Value {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = http(addr, "GET", "/api/v1/alerts/notifications", &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn verify(secret: &str, r: &Received) {
    let ts = r.header("x-netready-timestamp").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(r.header("x-netready-signature"), Some(format!("v1={hex}").as_str()));
}

#[test]
fn alert_channels_through_the_cli() {
    let dir = TempDir::new("alerts-cli");
    let db = dir.db();
    let (id, secret) = add_channel(&db, "https://hooks.example.com/netready?token=abc");
    assert!(secret.starts_with("whsec_"));
    let (code, out, _) = netready(&["plane", "alert", "list", "--database", &db]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("https://hooks.example.com/netready?…"), "{out}");
    assert!(!out.contains(&secret) && !out.contains("abc"), "no secret in the list: {out}");
    let (code, added, err) = netready(&[
        "plane",
        "alert",
        "add",
        "team-a-pager",
        "--url",
        "https://pager.example/hook",
        "--runners",
        "team-a/*",
        "--kinds",
        "stale,degraded",
        "--database",
        &db,
    ]);
    assert_eq!(code, 0, "{added}{err}");
    assert!(added.contains("told of:        degraded,stale of team-a/*"), "{added}");
    let (_, out, _) = netready(&["plane", "alert", "list", "--database", &db]);
    let row = out.lines().find(|l| l.contains("team-a-pager")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("degraded,stale of team-a/*"), "{out}");
    let row = out.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.contains(" all "), "an unlimited channel: {out}");

    for (args, says) in [
        (vec!["add", "x", "--url", "http://hooks.example.com/x"], "plain http:// is only allowed to this machine"),
        (
            vec!["add", "x", "--url", "https://169.254.169.254/latest"],
            "refused url: 169.254.169.254 is the instance metadata service",
        ),
        (vec!["add", "x", "--url", "https://10.0.0.1/hook"], "allowed only with --alert-allow-private"),
        (vec!["add", "x", "--url", "http://127.0.0.1:8080/api/v1/runners"], "allowed only with --alert-allow-loopback"),
        (vec!["add", "x", "--kind", "pager", "--url", "https://h.example/x"], "expected webhook or slack"),
        (
            vec!["add", "x", "--url", "https://h.example/x", "--secret-file", "/nonexistent/secret"],
            "cannot read --secret-file",
        ),
        (vec!["add", "x", "--url", "https://h.example/x", "--kinds", "paged"], "invalid kind 'paged'"),
        (vec!["add", "x", "--url", "https://h.example/x", "--runners", " "], "invalid runners pattern"),
        (vec!["remove", "nope"], "is not a channel id"),
        (vec!["remove", "ch-000000000000"], "no channel 'ch-000000000000'"),
    ] {
        let mut full = vec!["plane", "alert"];
        full.extend(args.iter());
        full.extend(["--database", db.as_str()]);
        let (code, out, err) = netready(&full);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, out, _) = netready(&["plane", "alert", "remove", &id, "--database", &db]);
    assert_eq!((code, out.trim()), (0, format!("removed {id} with its undelivered notifications").as_str()));
}

#[test]
fn a_test_notification_through_the_cli() {
    let dir = TempDir::new("alerts-test-notification");
    let db = dir.db();
    let receiver = Receiver::start().unwrap();
    let (id, secret) = add_channel(&db, &receiver.url("/hook"));
    let (code, out, err) = netready(&["plane", "alert", "test", &id, "--database", &db, LOOPBACK]);
    assert_eq!(code, 0, "{out}{err}");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]);
    let key = got[0].header("idempotency-key").unwrap();
    assert_eq!(out.trim(), format!("delivered {key} to ops ({id}): the receiver answered 200"));

    // Without the opt-in, the name's address is refused and nothing is sent.
    let (code, _, err) = netready(&["plane", "alert", "test", &id, "--database", &db]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused: 127.0.0.1 is a loopback address"), "{err}");
    assert_eq!(receiver.received().len(), 1, "nothing sent when refused");

    receiver.answer(503);
    let (code, out, err) = netready(&["plane", "alert", "test", &id, "--database", &db, LOOPBACK]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.starts_with("not delivered: test-") && err.trim().ends_with("the receiver answered 503"), "{err}");
    for (bad, says) in [("nope", "is not a channel id"), ("ch-000000000000", "no channel 'ch-000000000000'")] {
        let (code, _, err) = netready(&["plane", "alert", "test", bad, "--database", &db, LOOPBACK]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn a_notification_nobody_takes_is_given_up_after_the_configured_time() {
    let dir = TempDir::new("alerts-give-up");
    let db = dir.db();
    let (channel, _) = add_channel(&db, &format!("http://{}/down", free_loopback_addr()));
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "nobody-listens");
    let addr = free_loopback_addr();
    let plane = start_plane_with(&db, addr, &["--alert-give-up-after", "2s"]);
    let (status, body) = netready_lab::post_report(addr, &id, &token, &degraded_report(1)).unwrap();
    assert_eq!(status, 201, "{body}");
    let expired = eventually(Duration::from_secs(15), || {
        let n = notifications(addr);
        (n["notifications"][0]["state"] == "expired").then(|| n["notifications"][0].clone())
    })
    .unwrap_or_else(|| panic!("not given up: {}", notifications(addr)));
    assert!(expired["attempts"].as_i64().unwrap() >= 2, "retried until then: {expired}");
    assert!(expired["last_error"].as_str().unwrap().starts_with("could not connect"), "{expired}");
    let (log, _) = plane.output();
    let line = log.lines().find(|l| l.contains("notification given up")).unwrap_or_else(|| panic!("{log}"));
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!((line["channel_id"].as_str(), line["runner_id"].as_str()), (Some(channel.as_str()), Some(id.as_str())));
    assert_eq!(line["level"], "warn");
    let (_, metrics) = http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert!(metrics.contains("netready_plane_alert_notifications_given_up_total 1\n"), "{metrics}");
}

/// The receiver in docs/examples, as a user would run it, verifies what the real plane signs —
/// a test notification and a real one — and refuses a channel signed with another secret.
#[test]
fn the_example_receiver_verifies_what_the_plane_signs() {
    let dir = TempDir::new("alerts-example-receiver");
    let db = dir.db();
    let secret = "whsec_example_receiver_0123456789";
    std::fs::write(dir.join("secret"), format!("{secret}\n")).unwrap();
    let port = free_loopback_addr().port().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/webhook-receiver.py");
    let mut cmd = Command::new("python3");
    cmd.args([script, "--port", &port]).env_clear().env("NETREADY_WEBHOOK_SECRET", secret);
    let receiver = Proc::spawn(cmd, "example-receiver").unwrap();
    eventually(Duration::from_secs(10), || receiver.output().0.contains("listening").then_some(()))
        .unwrap_or_else(|| panic!("the example receiver did not start: {:?}", receiver.output()));
    let url = format!("http://127.0.0.1:{port}/hook");
    let secret_file = dir.join("secret").display().to_string();
    let add = |name: &str, secret_file: Option<&str>| {
        let mut args = vec!["plane", "alert", "add", name, "--url", &url, "--database", &db, LOOPBACK];
        if let Some(f) = secret_file {
            args.extend(["--secret-file", f]);
        }
        let (code, out, err) = netready(&args);
        assert_eq!(code, 0, "{out}{err}");
        if secret_file.is_some() {
            // A secret kept in a file is not printed: not in terminal history, not in CI logs.
            assert!(!out.contains(secret) && !err.contains(secret), "{out}{err}");
            assert!(out.contains("channel secret: (from --secret-file; not shown)"), "{out}");
        }
        out.lines().find_map(|l| l.strip_prefix("channel id:")).unwrap().trim().to_owned()
    };
    let good = add("verified", Some(&secret_file));
    let (code, out, err) = netready(&["plane", "alert", "test", &good, "--database", &db, LOOPBACK]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the receiver answered 204"), "{out}");

    // A real change, from a running plane.
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "example-receiver");
    let addr = free_loopback_addr();
    let _plane = start_plane(&db, addr);
    let (status, body) = netready_lab::post_report(addr, &id, &token, &degraded_report(1)).unwrap();
    assert_eq!(status, 201, "{body}");
    let accepted = eventually(Duration::from_secs(10), || {
        let lines: Vec<Value> = receiver
            .output()
            .0
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|l: &Value| l["id"].is_string())
            .collect();
        (lines.len() == 2).then_some(lines)
    })
    .unwrap_or_else(|| panic!("{:?}", receiver.output()));
    assert_eq!((accepted[0]["kind"].as_str(), accepted[1]["kind"].as_str()), (Some("test"), Some("degraded")));
    assert_eq!(accepted[1]["event"]["runner"]["name"], "example-receiver");

    // Signed with another secret (a generated one): refused, and the CLI says so.
    let other = add("wrong-secret", None);
    let (code, _, err) = netready(&["plane", "alert", "test", &other, "--database", &db, LOOPBACK]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the receiver answered 401"), "{err}");
}

#[test]
fn a_plane_killed_mid_delivery_delivers_after_a_restart_with_the_same_key() {
    let dir = TempDir::new("alerts-sigkill");
    let db = dir.db();
    let receiver = Receiver::start().unwrap();
    receiver.hold(true);
    let (_, secret) = add_channel(&db, &receiver.url("/hook"));
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "killed-mid-delivery");
    let addr = free_loopback_addr();
    let mut plane = start_plane(&db, addr);
    let (status, body) = netready_lab::post_report(addr, &id, &token, &degraded_report(1)).unwrap();
    assert_eq!(status, 201, "{body}");
    // The notification is on its way (the receiver holds it unanswered): kill the plane now.
    eventually(Duration::from_secs(10), || (!receiver.received().is_empty()).then_some(()))
        .unwrap_or_else(|| panic!("nothing was sent: {:?}", plane.output()));
    plane.signal(libc::SIGKILL);
    plane.wait_exit(Duration::from_secs(5));
    drop(plane);
    receiver.hold(false);

    let plane = start_plane(&db, addr);
    let delivered = eventually(Duration::from_secs(20), || {
        let n = notifications(addr);
        (n["notifications"][0]["state"] == "delivered").then_some(n)
    })
    .unwrap_or_else(|| panic!("not delivered after the restart: {:?} {:?}", notifications(addr), plane.output()));
    let got = receiver.received();
    assert!(got.len() >= 2, "sent before the kill and again after it: {got:?}");
    let keys: std::collections::BTreeSet<&str> = got.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!(keys.len(), 1, "every repeat carries the same idempotency key: {keys:?}");
    assert_eq!(delivered["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(delivered["notifications"][0]["id"].as_str(), keys.first().copied());
    for r in &got {
        verify(&secret, r);
    }
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!((body["kind"].as_str(), body["runner"]["id"].as_str()), (Some("degraded"), Some(id.as_str())));
    let auth = format!("Bearer {ADMIN}");
    let (_, metrics) = http(addr, "GET", "/metrics", &[("Authorization", &auth)], b"").unwrap();
    assert!(metrics.contains("netready_plane_alert_notifications{state=\"delivered\"} 1"), "{metrics}");
    let (out, _) = plane.output();
    assert!(!out.contains(&secret), "the secret is never logged");
}

#[test]
fn two_plane_processes_on_one_postgres_send_each_notification_once() {
    let Ok(admin) = std::env::var("NETREADY_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("NETREADY_TEST_POSTGRES_URL is not set: scripts/test starts a PostgreSQL server and sets it");
        }
        netready_lab::record_skip("no NETREADY_TEST_POSTGRES_URL: two planes on one PostgreSQL not tested");
        return;
    };
    let name = format!("netready_alerts_e2e_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sql = |q: String| {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::raw_sql(&q).execute(&mut c).await.unwrap();
        })
    };
    sql(format!("DROP DATABASE IF EXISTS {name}"));
    sql(format!("CREATE DATABASE {name}"));
    let db = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);

    let receiver = Receiver::start().unwrap();
    add_channel(&db, &receiver.url("/hook"));
    let runners: Vec<(String, String)> =
        (0..10).map(|n| netready_lab::runner_add(BIN.as_ref(), &db, &format!("runner-{n}"))).collect();
    let (a, b) = (free_loopback_addr(), free_loopback_addr());
    let planes = [start_plane(&db, a), start_plane(&db, b)];
    for (n, (id, token)) in runners.iter().enumerate() {
        let (status, body) =
            netready_lab::post_report(if n % 2 == 0 { a } else { b }, id, token, &degraded_report(1)).unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let done = eventually(Duration::from_secs(20), || {
        let n = notifications(a);
        let all = n["notifications"].as_array().unwrap();
        (all.len() == 10 && all.iter().all(|x| x["state"] == "delivered")).then_some(())
    });
    // Give a wrong second send the time to show.
    std::thread::sleep(Duration::from_millis(1000));
    let got = receiver.received();
    drop(planes);
    sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(done.is_some(), "not all delivered: {got:?}");
    let keys: std::collections::BTreeSet<&str> = got.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert_eq!((got.len(), keys.len()), (10, 10), "each notification sent once by one of the two planes");
}

/// A name checked at send time: a channel to `localhost` added while loopback was allowed, sent
/// by a plane that does not allow it. The name resolves to 127.0.0.1, a receiver listens there,
/// and nothing reaches it: the refusal is the notification's last error.
#[test]
fn a_name_that_resolves_inward_is_refused_at_send_time() {
    let dir = TempDir::new("alerts-rebinding");
    let db = dir.db();
    let receiver = Receiver::start().unwrap();
    add_channel(&db, &format!("http://localhost:{}/hook", receiver.addr().port()));
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "inward");
    let addr = free_loopback_addr();
    let strict = ["--alert-after-checks", "1", "--alert-poll", "200ms", "--alert-retry-max", "1s"];
    let plane = netready_lab::start_plane(BIN.as_ref(), &db, addr, ADMIN, &strict);
    let (status, body) = netready_lab::post_report(addr, &id, &token, &degraded_report(1)).unwrap();
    assert_eq!(status, 201, "{body}");
    let failing = eventually(Duration::from_secs(10), || {
        let n = notifications(addr);
        (n["notifications"][0]["state"] == "failing").then(|| n["notifications"][0].clone())
    })
    .unwrap_or_else(|| panic!("not refused: {} {:?}", notifications(addr), plane.output()));
    assert_eq!(
        failing["last_error"],
        "refused: localhost resolves to 127.0.0.1, a loopback address (this machine): allowed only with \
         --alert-allow-loopback, for tests"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(receiver.received().is_empty(), "nothing reached the receiver: {:?}", receiver.received());
}

/// What the healthy receiver got: per runner id, when.
fn arrivals(receiver: &Receiver, kind: &str) -> std::collections::HashMap<String, std::time::Instant> {
    receiver
        .received()
        .iter()
        .filter_map(|r| {
            let e: Value = serde_json::from_str(&r.body).ok()?;
            (e["kind"] == kind).then(|| (e["runner"]["id"].as_str().unwrap().to_owned(), r.at))
        })
        .collect()
}

/// Posts one report per runner from 16 threads at once; returns when each was accepted.
fn post_all(
    addr: SocketAddr,
    runners: &[(String, String)],
    report: &str,
) -> std::collections::HashMap<String, std::time::Instant> {
    let chunks: Vec<Vec<(String, String)>> = runners.chunks(runners.len().div_ceil(16)).map(<[_]>::to_vec).collect();
    let threads: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let report = report.to_owned();
            std::thread::spawn(move || {
                chunk
                    .into_iter()
                    .map(|(id, token)| {
                        let (status, body) = netready_lab::post_report(addr, &id, &token, &report).unwrap();
                        assert_eq!(status, 201, "{body}");
                        (id, std::time::Instant::now())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
}

/// The longest and the median delay from a report's acceptance to its notification's arrival.
fn delays(
    posted: &std::collections::HashMap<String, std::time::Instant>,
    got: &std::collections::HashMap<String, std::time::Instant>,
) -> (Duration, Duration) {
    let mut d: Vec<Duration> = posted.iter().map(|(id, at)| got[id].saturating_duration_since(*at)).collect();
    d.sort();
    (d[d.len() - 1], d[d.len() / 2])
}

/// Issue 19's goal with the real binary: 1,000 runners change at once; a channel whose receiver
/// hangs and one whose receiver answers 500 delay a healthy channel's notifications by no more
/// than one poll interval (the default, 5 s) compared with the healthy channel alone.
fn a_hanging_and_a_failing_receiver_do_not_hold_up_a_healthy_channel(db: &str) {
    const RUNNERS: usize = 1000;
    const POLL: Duration = Duration::from_secs(5);
    let db = db.to_owned();
    let (healthy, hanging, failing) =
        (Receiver::start().unwrap(), Receiver::start().unwrap(), Receiver::start().unwrap());
    hanging.hold(true);
    failing.answer(500);
    add_channel(&db, &healthy.url("/healthy"));
    let addr = free_loopback_addr();
    let plane = netready_lab::start_plane(BIN.as_ref(), &db, addr, ADMIN, &["--alert-after-checks", "1", LOOPBACK]);
    let auth = format!("Bearer {ADMIN}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let runners: Vec<(String, String)> = (0..RUNNERS)
        .map(|n| {
            let body = format!("{{\"name\": \"fleet/runner-{n}\"}}");
            let (status, text) = http(addr, "POST", "/api/v1/runners", &headers, body.as_bytes()).unwrap();
            assert_eq!(status, 201, "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
        })
        .collect();
    let wait_for_all = |kind: &str| {
        eventually(Duration::from_secs(120), || {
            let got = arrivals(&healthy, kind);
            (got.len() == RUNNERS).then_some(got)
        })
        .unwrap_or_else(|| panic!("{kind}: the healthy channel got {} of {RUNNERS}", arrivals(&healthy, kind).len()))
    };

    // The healthy channel alone: every runner degrades.
    let start = std::time::Instant::now();
    let posted = post_all(addr, &runners, &degraded_report(2));
    let alone = delays(&posted, &wait_for_all("degraded"));
    println!(
        "alone: {RUNNERS} reports posted in {:?}; delay longest {:?}, median {:?}",
        posted.values().max().unwrap().duration_since(start),
        alone.0,
        alone.1
    );

    // Beside a hanging and a failing channel: every runner recovers.
    for (name, r) in [("hanging", &hanging), ("failing", &failing)] {
        let body = format!("{{\"name\": \"{name}\", \"kind\": \"webhook\", \"url\": \"{}\"}}", r.url("/hook"));
        let (status, text) = http(addr, "POST", "/api/v1/alerts/channels", &headers, body.as_bytes()).unwrap();
        assert_eq!(status, 201, "{text}");
    }
    let mut ready: Value = serde_json::from_str(&degraded_report(1)).unwrap();
    ready["status"] = "ready".into();
    ready["endpoints"][1]["reachability"] = "full".into();
    ready["endpoints"][1]["connections"][0]["tcp"] =
        serde_json::json!({"outcome": "ok", "duration_ms": 1, "budget_ms": 1999});
    let start = std::time::Instant::now();
    let posted = post_all(addr, &runners, &ready.to_string());
    let beside = delays(&posted, &wait_for_all("recovered"));
    println!(
        "beside a hanging and a failing channel: posted in {:?}; delay longest {:?}, median {:?}",
        posted.values().max().unwrap().duration_since(start),
        beside.0,
        beside.1
    );
    println!(
        "the hanging receiver holds {}, the failing one was tried {} times",
        hanging.received().len(),
        failing.received().len()
    );
    assert!(
        beside.0 <= alone.0 + POLL,
        "the healthy channel's longest delay went from {:?} to {:?}: more than one poll interval",
        alone.0,
        beside.0
    );
    use netready_plane::alerts::deliver::{BREAKER_FAILURES, BREAKER_PAUSE, PER_CHANNEL};
    // Both are paused after their first slots failed, then tried once per pause (at least 5 s;
    // the hanging one's attempts each take the 10 s send timeout first).
    let tries = (start.elapsed().as_secs() / BREAKER_PAUSE.as_secs()) as usize + 1;
    let (hung, failed) = (hanging.received().len(), failing.received().len());
    assert!((PER_CHANNEL..=PER_CHANNEL + tries).contains(&hung), "the hanging channel holds its own slots: {hung}");
    assert!(failed < BREAKER_FAILURES as usize + PER_CHANNEL + tries, "paused, not hammered: {failed} attempts");
    let (log, _) = plane.output();
    assert!(log.contains("alert channel paused"), "the pause is logged");
    hanging.hold(false);
}

#[test]
fn a_hanging_and_a_failing_receiver_do_not_hold_up_a_healthy_channel_with_1000_runners_sqlite() {
    let dir = TempDir::new("alerts-lanes");
    a_hanging_and_a_failing_receiver_do_not_hold_up_a_healthy_channel(&dir.db());
}

#[test]
fn a_hanging_and_a_failing_receiver_do_not_hold_up_a_healthy_channel_with_1000_runners_postgres() {
    let Some(db) = FreshPostgres::new("lanes") else { return };
    a_hanging_and_a_failing_receiver_do_not_hold_up_a_healthy_channel(&db.url);
}

/// A database of its own on the test PostgreSQL server, dropped at the end; `None` (after saying
/// so) when there is no server and none is required.
struct FreshPostgres {
    admin: String,
    name: String,
    url: String,
}

impl FreshPostgres {
    fn new(what: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("NETREADY_TEST_POSTGRES_URL") else {
            if std::env::var_os("CI").is_some() {
                panic!("NETREADY_TEST_POSTGRES_URL is not set: scripts/test starts a PostgreSQL server and sets it");
            }
            netready_lab::record_skip(&format!("no NETREADY_TEST_POSTGRES_URL: {what} not tested on PostgreSQL"));
            return None;
        };
        let name = format!("netready_alerts_{what}_{}", std::process::id());
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let db = Self { admin, name, url };
        db.sql(&format!("DROP DATABASE IF EXISTS {}", db.name));
        db.sql(&format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    fn sql(&self, q: &str) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&self.admin).await.unwrap();
            sqlx::raw_sql(q).execute(&mut c).await.unwrap();
        })
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        self.sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

#[test]
fn recovery_has_its_own_confirmation_count() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["plane", "serve", "--check-config", "--database", "/nonexistent/x.db"])
            .args(args)
            .env_clear()
            .env("NETREADY_ADMIN_TOKEN", ADMIN)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["--alert-after-checks", "2", "--alert-recover-after-checks", "3"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("after 2 consecutive checks (3 to recover)"), "{out}");
    let (_, out, _) = run(&["--alert-after-checks", "4"]);
    assert!(out.contains("after 4 consecutive checks (4 to recover)"), "the same by default: {out}");
    let (code, _, err) = run(&["--alert-recover-after-checks", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid value for --alert-recover-after-checks: '0' is not a number of checks"), "{err}");
}

/// Grouping with the real binary: 50 runners degrade at once; the channel gets a few grouped
/// notifications (one, when the reports all land within the window), each runner's inside once.
#[test]
fn changes_at_once_are_grouped_with_the_real_binary() {
    let dir = TempDir::new("alerts-grouped");
    let db = dir.db();
    let receiver = Receiver::start().unwrap();
    let (_, secret) = add_channel(&db, &receiver.url("/hook"));
    let runners: Vec<(String, String)> =
        (0..50).map(|n| netready_lab::runner_add(BIN.as_ref(), &db, &format!("eu-west-3/runner-{n}"))).collect();
    let addr = free_loopback_addr();
    let _plane = start_plane_with(&db, addr, &["--alert-group-window", "3s"]);
    post_all(addr, &runners, &degraded_report(1));
    let members = eventually(Duration::from_secs(20), || {
        let ids: Vec<String> = receiver
            .received()
            .iter()
            .flat_map(|r| {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                body["notifications"].as_array().cloned().unwrap_or_else(|| vec![body.clone()])
            })
            .map(|m| m["runner"]["id"].as_str().unwrap().to_owned())
            .collect();
        (ids.len() >= 50).then_some(ids)
    })
    .unwrap_or_else(|| panic!("not all told: {:?}", receiver.received().len()));
    let unique: std::collections::BTreeSet<&String> = members.iter().collect();
    assert_eq!((members.len(), unique.len()), (50, 50), "each runner once");
    let got = receiver.received();
    println!("50 changes in {} request(s)", got.len());
    assert!(got.len() <= 3, "grouped, not one per runner: {} requests", got.len());
    for r in &got {
        verify(&secret, r);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!((body["grouped"].as_bool(), body["kind"].as_str()), (Some(true), Some("degraded")), "{body}");
        assert_eq!(body["cause"]["service"], "logs", "{body}");
    }
}
