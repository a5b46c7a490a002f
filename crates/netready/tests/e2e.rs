//! The agent and the plane together, as real processes: the agent checks inside the namespace
//! lab and reports to a plane; the plane goes away and comes back; a plane killed with SIGKILL
//! right after a 2xx still has the report.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use netready_lab::{Lab, LabSpec, Proc, TempDir, eventually, http, http_in};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "e2e-admin-token-0123456789";

fn add_runner(database: &str, name: &str) -> (String, String) {
    netready_lab::runner_add(BIN.as_ref(), database, name)
}

fn plane_in(lab: &Lab, database: &str) -> Proc {
    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["plane", "serve", "--database", database, "--listen", "127.0.0.1:8080", "--stale-after", "1m"])
        .env("NETREADY_ADMIN_TOKEN", ADMIN);
    let plane = Proc::spawn(cmd, "plane").unwrap();
    let up = eventually(Duration::from_secs(10), || {
        http_in(&lab.task_ns, PLANE, "GET", "/healthz", &[], b"").ok().filter(|(s, _)| *s == 200)
    });
    assert!(up.is_some(), "the plane did not start: {:?}", plane.output());
    plane
}

const PLANE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080));
const AGENT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9464));

fn runner_view(lab: &Lab, id: &str) -> Option<Value> {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) =
        http_in(&lab.task_ns, PLANE, "GET", &format!("/api/v1/runners/{id}"), &[("Authorization", &auth)], b"").ok()?;
    (status == 200).then(|| serde_json::from_str(&body).unwrap())
}

fn agent_get(lab: &Lab, path: &str) -> (u16, String) {
    http_in(&lab.task_ns, AGENT, "GET", path, &[], b"").unwrap_or((0, String::new()))
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap_or(f64::NAN))).unwrap_or(0.0)
}

#[test]
fn the_agent_reports_to_the_plane_and_catches_up_after_an_outage() {
    if !netready_lab::ready() {
        return;
    }
    let lab = Lab::build(LabSpec::interface_endpoints()).unwrap();
    let dir = TempDir::new("e2e-agent");
    let db = dir.db();
    let (id, token) = add_runner(&db, "lab-runner");
    let mut plane = plane_in(&lab, &db);

    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["agent", "--plane-url", "http://127.0.0.1:8080", "--runner-id", &id, "--interval", "1s"])
        .args([
            "--listen",
            "127.0.0.1:9464",
            "--region",
            "eu-west-3",
            "--ecr-registry-id",
            "111122223333",
            "--timeout",
            "400ms",
        ])
        .env("NETREADY_RUNNER_TOKEN", &token);
    let mut agent = Proc::spawn(cmd, "agent").unwrap();

    // Start-up: the first report arrives and is ready.
    let view = eventually(Duration::from_secs(10), || runner_view(&lab, &id).filter(|v| v["report"].is_object()));
    let view = view.unwrap_or_else(|| panic!("no report reached the plane: {:?}", agent.output()));
    assert_eq!(view["runner"]["readiness"], "ready", "{view:#}");
    assert_eq!(agent_get(&lab, "/healthz").0, 200);
    assert_eq!(agent_get(&lab, "/readyz").0, 200);

    // The logs endpoint's security group starts dropping 443: the plane sees it degrade.
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.2.11", "-p", "tcp", "--dport", "443", "-j", "DROP"])
        .unwrap();
    let degraded = eventually(Duration::from_secs(10), || {
        runner_view(&lab, &id).filter(|v| v["runner"]["readiness"] == "degraded")
    })
    .unwrap_or_else(|| panic!("the plane never saw the degradation: {:?}", agent.output()));
    assert_eq!(degraded["runner"]["degraded_endpoints"][0]["service"], "logs");
    let (code, body) = agent_get(&lab, "/readyz");
    assert_eq!((code, body.trim()), (503, "degraded: logs"));
    let (_, status) = agent_get(&lab, "/status");
    assert_eq!(serde_json::from_str::<Value>(&status).unwrap()["status"], "degraded");
    let (_, metrics) = agent_get(&lab, "/metrics");
    assert_eq!(
        metric(&metrics, "netready_endpoint_reachability{service=\"logs\",host=\"logs.eu-west-3.amazonaws.com\"}"),
        0.0
    );
    assert_eq!(metric(&metrics, "netready_ready"), 0.0);
    assert!(metric(&metrics, "netready_report_deliveries_total{outcome=\"stored\"}") >= 2.0, "{metrics}");
    // What Prometheus scrapes: lint-clean, with every agent metric the alerting rules use.
    if netready_lab::prometheus::available("the agent's /metrics was not checked against the rules") {
        netready_lab::prometheus::check_metrics(&metrics).unwrap_or_else(|e| panic!("promtool: {e}\n{metrics}"));
        let used = netready_lab::prometheus::rule_metrics(false);
        assert_eq!(netready_lab::prometheus::missing_from(&metrics, &used), Vec::<String>::new(), "{metrics}");
    }

    // The plane goes away; the agent keeps checking and retrying.
    plane.signal(libc::SIGTERM);
    assert_eq!(plane.wait_exit(Duration::from_secs(10)), Some(0), "the plane stops cleanly on SIGTERM");
    // The plane logged one JSON line per request, naming the route and the runner, never the token.
    let (plane_out, _) = plane.output();
    assert!(!plane_out.contains(&token), "the runner token must never be logged");
    let ingests: Vec<Value> = plane_out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["msg"] == "request" && l["route"] == "/api/v1/runners/{id}/network-readiness")
        .collect();
    assert!(ingests.len() >= 2, "{plane_out}");
    assert!(ingests.iter().all(|l| l["runner_id"] == id.as_str() && l["method"] == "POST"), "{ingests:?}");
    assert!(ingests.iter().any(|l| l["status"] == 201 && l["duration_ms"].is_number()), "{ingests:?}");
    let checks_before = metric(&agent_get(&lab, "/metrics").1, "netready_checks_total{status=\"degraded\"}");
    let retried = eventually(Duration::from_secs(10), || {
        let m = agent_get(&lab, "/metrics").1;
        (metric(&m, "netready_report_deliveries_total{outcome=\"retry\"}") >= 2.0
            && metric(&m, "netready_checks_total{status=\"degraded\"}") >= checks_before + 2.0)
            .then_some(m)
    });
    assert!(retried.is_some(), "the agent kept checking and retrying: {:?}", agent.output());

    // Back: the newest report arrives.
    lab.iptables(&lab.vpc_ns, &["-F", "INPUT"]).unwrap();
    let back_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let _plane = plane_in(&lab, &db);
    let caught_up = eventually(Duration::from_secs(15), || {
        runner_view(&lab, &id).filter(|v| v["runner"]["last_checked_at"].as_str().is_some_and(|t| t > back_at.as_str()))
    })
    .unwrap_or_else(|| panic!("no new report after the plane came back: {:?}", agent.output()));
    assert_eq!(caught_up["runner"]["readiness"], "ready");

    // SIGTERM: the agent stops cleanly.
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit(Duration::from_secs(8)), Some(0));
    let (stdout, stderr) = agent.output();
    assert!(!stdout.contains(&token) && !stderr.contains(&token), "the token never appears in the agent's output");
    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["msg"] == "check" && l["status"] == "ready"));
    let change = lines.iter().find(|l| l["msg"] == "network readiness changed" && l["to"] == "degraded").unwrap();
    assert_eq!(change["changed_endpoints"][0]["service"], "logs");
    assert!(lines.iter().any(|l| l["msg"] == "plane unreachable; will retry"));
    assert_eq!(lines.last().unwrap()["msg"], "agent stopped");
}

#[test]
fn a_plane_killed_right_after_a_2xx_still_has_the_report() {
    let dir = TempDir::new("e2e-sigkill");
    let db = dir.db();
    let (id, token) = add_runner(&db, "durable");
    let addr = netready_lab::free_loopback_addr();
    let start = || netready_lab::start_plane(BIN.as_ref(), &db, addr, ADMIN, &[]);
    let mut plane = start();
    let mut report: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
    // Minutes before now: within the plane's retention whatever day the test runs.
    let base = std::time::SystemTime::now() - Duration::from_secs(3600);
    let at = |i: u64| humantime::format_rfc3339_millis(base + Duration::from_secs(60 * i)).to_string();
    for i in 0..20 {
        report["checked_at"] = Value::String(at(i));
        let (status, body) = netready_lab::post_report(addr, &id, &token, &report.to_string()).unwrap();
        assert_eq!(status, 201, "{body}");
    }
    plane.signal(libc::SIGKILL);
    plane.wait_exit(Duration::from_secs(5));
    drop(plane);
    let _plane = start();
    let auth = format!("Bearer {ADMIN}");
    let (status, body) =
        http(addr, "GET", &format!("/api/v1/runners/{id}/history?limit=100"), &[("Authorization", &auth)], b"")
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let history: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(history["reports"].as_array().unwrap().len(), 20, "every acknowledged report survived SIGKILL");
    assert_eq!(history["reports"][0]["checked_at"], at(19).as_str());
}

/// Eight clients post as fast as they can, each for its own runner, while the plane commits them
/// in batches; SIGKILL in the middle. After a restart every report that was answered 2xx is there.
#[test]
fn a_plane_killed_while_eight_clients_post_keeps_every_acknowledged_report() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = TempDir::new("e2e-sigkill-concurrent");
    let db = dir.db();
    let runners: Vec<(String, String)> = (0..8).map(|i| add_runner(&db, &format!("busy-{i}"))).collect();
    let addr = netready_lab::free_loopback_addr();
    let start = || {
        netready_lab::start_plane(
            BIN.as_ref(),
            &db,
            addr,
            ADMIN,
            &["--ingest-burst", "100000", "--ingest-interval", "1ms"],
        )
    };
    let mut plane = start();
    let template: Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
    let base = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let clients: Vec<_> = runners
        .iter()
        .cloned()
        .map(|(id, token)| {
            let (stop, acked, mut report) = (stop.clone(), acked.clone(), template.clone());
            std::thread::spawn(move || {
                for i in 0..5000u64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let at = humantime::format_rfc3339_millis(base + Duration::from_millis(1000 * i)).to_string();
                    report["checked_at"] = Value::String(at.clone());
                    match netready_lab::post_report(addr, &id, &token, &report.to_string()) {
                        Ok((201, _)) => acked.lock().unwrap().push((id.clone(), at)),
                        // The plane died mid-request: no answer, so not acknowledged.
                        Ok((0, _)) | Err(_) => break,
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    }
                }
            })
        })
        .collect();
    // Let them post for a while, then kill the plane mid-stream.
    eventually(Duration::from_secs(20), || (acked.lock().unwrap().len() >= 400).then_some(()))
        .expect("reports acknowledged");
    plane.signal(libc::SIGKILL);
    plane.wait_exit(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    drop(plane);
    let acked = acked.lock().unwrap().clone();
    let _plane = start();
    let auth = format!("Bearer {ADMIN}");
    for (id, _) in &runners {
        let (status, body) =
            http(addr, "GET", &format!("/api/v1/runners/{id}/history?limit=1000"), &[("Authorization", &auth)], b"")
                .unwrap();
        assert_eq!(status, 200, "{body}");
        let history: Value = serde_json::from_str(&body).unwrap();
        let stored: std::collections::HashSet<&str> =
            history["reports"].as_array().unwrap().iter().filter_map(|r| r["checked_at"].as_str()).collect();
        for (_, at) in acked.iter().filter(|(rid, _)| rid == id) {
            assert!(stored.contains(at.as_str()), "{id}: acknowledged report {at} lost after SIGKILL");
        }
    }
    assert!(acked.len() >= 400, "{}", acked.len());
}

/// A plain-HTTP forward proxy inside namespace `ns` on `listen`: records each request line, then
/// relays the request (absolute URI made relative) to the address it names, and the answer back.
fn forward_proxy(ns: &str, listen: SocketAddr) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{Read, Write};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    netready_lab::in_netns(ns, move || {
        let listener = std::net::TcpListener::bind(listen).unwrap();
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                let mut buf = vec![0u8; 65536];
                let mut req = Vec::new();
                let head_end = loop {
                    let n = client.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    req.extend_from_slice(&buf[..n]);
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&req[..head_end]).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                log.lock().unwrap().push(line.clone());
                let mut parts = line.split_whitespace();
                let (method, uri) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let Some(rest) = uri.strip_prefix("http://") else { continue };
                let (authority, path) =
                    rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while req.len() < head_end + length {
                    let n = client.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let mut fwd = format!("{method} {path} HTTP/1.1\r\n");
                for l in head.lines().skip(1).filter(|l| !l.is_empty()) {
                    let lower = l.to_ascii_lowercase();
                    if !lower.starts_with("connection:") && !lower.starts_with("proxy-") {
                        fwd.push_str(l);
                        fwd.push_str("\r\n");
                    }
                }
                fwd.push_str("Connection: close\r\n\r\n");
                let Ok(mut upstream) = std::net::TcpStream::connect(authority) else { continue };
                let _ = upstream.write_all(fwd.as_bytes());
                let _ = upstream.write_all(&req[head_end..]);
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer);
                let _ = client.write_all(&answer);
            }
        });
    })
    .unwrap();
    seen
}

#[test]
fn reports_go_through_the_configured_proxy_while_probes_stay_direct() {
    if !netready_lab::ready() {
        return;
    }
    let lab = Lab::build(LabSpec::interface_endpoints()).unwrap();
    let dir = TempDir::new("e2e-proxy");
    let db = dir.db();
    let (id, token) = add_runner(&db, "behind-a-proxy");
    let _plane = plane_in(&lab, &db);
    let seen = forward_proxy(&lab.task_ns, "127.0.0.1:3128".parse().unwrap());

    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["agent", "--plane-url", "http://127.0.0.1:8080", "--runner-id", &id, "--interval", "1s"])
        .args(["--listen", "127.0.0.1:9464", "--region", "eu-west-3", "--ecr-registry-id", "111122223333"])
        .env("NETREADY_RUNNER_TOKEN", &token)
        .env("HTTP_PROXY", "http://127.0.0.1:3128");
    let agent = Proc::spawn(cmd, "agent").unwrap();
    let view = eventually(Duration::from_secs(10), || runner_view(&lab, &id).filter(|v| v["report"].is_object()))
        .unwrap_or_else(|| panic!("no report through the proxy: {:?}", agent.output()));
    assert_eq!(view["runner"]["readiness"], "ready", "the probes went direct: the proxy relays only HTTP");
    assert_eq!(view["report"]["proxy"], serde_json::json!({"configured": true, "variables": ["HTTP_PROXY"]}));
    let lines = seen.lock().unwrap().clone();
    assert!(!lines.is_empty(), "the report went through the proxy");
    let expected = format!("POST http://127.0.0.1:8080/api/v1/runners/{id}/network-readiness HTTP/1.1");
    assert!(lines.iter().all(|l| *l == expected), "only reports crossed the proxy: {lines:?}");
}

/// The runners' newest checks, read straight from the plane's SQLite file.
fn last_checks(database: &str) -> String {
    let out = Command::new(BIN).args(["plane", "runner", "list", "--database", database]).env_clear().output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_agent_reports_over_https_and_the_plane_reloads_its_certificate_on_sighup() {
    if !netready_lab::ready() {
        return;
    }
    let lab = Lab::build(LabSpec::interface_endpoints()).unwrap();
    let dir = TempDir::new("e2e-https");
    let db = dir.db();
    let (id, token) = add_runner(&db, "https-runner");
    let (cert, key) = (dir.join("plane.crt"), dir.join("plane.key"));
    let write_pair = |by_lab: bool| {
        let (c, k) = lab.server_pem(&["127.0.0.1", "localhost"], by_lab).unwrap();
        std::fs::write(&cert, c).unwrap();
        std::fs::write(&key, k).unwrap();
    };
    write_pair(true);
    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["plane", "serve", "--database", &db, "--listen", "127.0.0.1:8443"])
        .args(["--tls-cert", &cert.display().to_string(), "--tls-key", &key.display().to_string()])
        .env("NETREADY_ADMIN_TOKEN", ADMIN);
    let plane = Proc::spawn(cmd, "plane-https").unwrap();
    let plane_addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
    // Up, and speaking TLS only: a plain HTTP request gets no HTTP answer.
    eventually(Duration::from_secs(10), || {
        let out = plane.output().0;
        out.contains("plane listening").then_some(())
    })
    .unwrap_or_else(|| panic!("the plane did not start: {:?}", plane.output()));
    assert!(http_in(&lab.task_ns, plane_addr, "GET", "/healthz", &[], b"").map_or(true, |(s, _)| s == 0));

    // The agent trusts the plane's CA through --ca-file (NETREADY_CA_FILE, set by the lab).
    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["agent", "--plane-url", "https://127.0.0.1:8443", "--runner-id", &id, "--interval", "1s"])
        .args(["--listen", "127.0.0.1:9464", "--region", "eu-west-3", "--ecr-registry-id", "111122223333"])
        .env("NETREADY_RUNNER_TOKEN", &token);
    let agent = Proc::spawn(cmd, "agent-https").unwrap();
    eventually(Duration::from_secs(15), || last_checks(&db).contains(" ready").then_some(()))
        .unwrap_or_else(|| panic!("no report over HTTPS: {:?}\n{}", agent.output(), last_checks(&db)));

    // A certificate from a CA the task does not trust, then SIGHUP: the plane serves it to new
    // connections at once, without a restart; back to a trusted one, and handshakes succeed again.
    let ca = std::fs::read_to_string(lab.ca_file()).unwrap();
    assert_eq!(handshake(&lab, plane_addr, &ca), Ok(()));
    write_pair(false);
    plane.signal(libc::SIGHUP);
    let untrusted = eventually(Duration::from_secs(10), || handshake(&lab, plane_addr, &ca).err());
    assert!(untrusted.is_some_and(|e| e.contains("UnknownIssuer")), "the reloaded certificate was not served");
    let (plane_out, _) = plane.output();
    assert!(plane_out.contains("TLS certificate reloaded") && plane_out.contains("SIGHUP"), "{plane_out}");
    write_pair(true);
    plane.signal(libc::SIGHUP);
    eventually(Duration::from_secs(10), || handshake(&lab, plane_addr, &ca).ok())
        .expect("a trusted certificate again after the second reload");
    // A broken pair is refused and the plane keeps serving the last good one.
    std::fs::write(&key, "not a key").unwrap();
    plane.signal(libc::SIGHUP);
    eventually(Duration::from_secs(10), || plane.output().0.contains("not reloaded").then_some(()))
        .expect("a bad pair is reported");
    assert_eq!(handshake(&lab, plane_addr, &ca), Ok(()));
    assert!(!agent.output().0.contains(&token) && !plane.output().0.contains(&token), "the token is never logged");
}

/// A TLS handshake with the plane from inside the task namespace, trusting only `ca_pem`.
fn handshake(lab: &Lab, addr: SocketAddr, ca_pem: &str) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    netready_lab::in_netns(&lab.task_ns, move || {
        let mut tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    })
    .map_err(|e| e.0)?
}
