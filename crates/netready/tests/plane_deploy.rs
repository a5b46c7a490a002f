//! The plane as deployed behind AWS parts, with real stand-ins: a PostgreSQL that accepts only TLS
//! (RDS with `rds.force_ssl=1`) and a reverse proxy that appends `X-Forwarded-For` (the ALB).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use netready_lab::TempDir;
use netready_lab::postgres::TlsPostgres;
use netready_lab::tls::LabTls;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const PASSWORD: &str = "s3cret-db-pass";

/// Whether a TLS PostgreSQL can run here: on CI it must (panics), elsewhere the test is skipped.
fn postgres_ready() -> bool {
    match netready_lab::postgres::unavailable() {
        None => true,
        Some(why) if netready_lab::lab_required() => panic!("the TLS PostgreSQL test must run on CI: {why}"),
        Some(why) => {
            netready_lab::record_skip(&why);
            false
        }
    }
}

/// `netready plane runner add` against `database`: (exit code, stdout, stderr).
fn runner_add(database: &str) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["plane", "runner", "add", "tls-runner", "--database", database])
        .env_clear()
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A URL with a password (which the server ignores: trust) so that every message can be checked
/// for it.
fn with_password(pg: &TlsPostgres, host: &str, query: &str) -> String {
    pg.url(host, query).replace("postgres@", &format!("postgres:{PASSWORD}@"))
}

#[test]
fn the_plane_reaches_a_postgresql_that_accepts_only_tls_with_verify_full() {
    if !postgres_ready() {
        return;
    }
    let ca = LabTls::new(&[]).unwrap();
    let dir = TempDir::new("tls-pg");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let (cert, key) = ca.server_pem(&["localhost"], true).unwrap();
    let pg = TlsPostgres::start(&cert, &key).unwrap();
    let verify = format!("?sslmode=verify-full&sslrootcert={}", ca_file.display());

    let (code, out, err) = runner_add(&with_password(&pg, "localhost", &verify));
    assert_eq!(code, 0, "verify-full with the CA must connect: {err}\nserver log: {}", pg.log());
    assert!(out.contains("runner id:"), "{out}");

    // Without TLS (the default `prefer` would use TLS, unverified) the server refuses, and the message says what to add.
    let (code, _, err) = runner_add(&with_password(&pg, "localhost", "?sslmode=disable"));
    eprintln!("plain connection: {err}");
    assert_ne!(code, 0, "a plain connection must be refused");
    assert!(err.contains("no encryption"), "the server's reason: {err}");
    assert!(err.contains("sslmode=verify-full"), "the hint: {err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");

    // A CA bundle that is not there: named.
    let missing = "?sslmode=verify-full&sslrootcert=/nonexistent/rds-global-bundle.pem";
    let (code, _, err) = runner_add(&with_password(&pg, "localhost", missing));
    eprintln!("missing CA bundle: {err}");
    assert_ne!(code, 0);
    assert!(err.contains("cannot read the CA bundle sslrootcert=/nonexistent/rds-global-bundle.pem"), "{err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");
}

#[test]
fn verify_full_refuses_a_postgresql_certificate_for_another_name() {
    if !postgres_ready() {
        return;
    }
    let ca = LabTls::new(&[]).unwrap();
    let dir = TempDir::new("tls-pg-name");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    // Signed by the trusted CA, but for another host name.
    let (cert, key) = ca.server_pem(&["db.other.example"], true).unwrap();
    let pg = TlsPostgres::start(&cert, &key).unwrap();
    let verify = format!("?sslmode=verify-full&sslrootcert={}", ca_file.display());
    let (code, _, err) = runner_add(&with_password(&pg, "localhost", &verify));
    eprintln!("wrong name: {err}");
    assert_ne!(code, 0, "verify-full must refuse a certificate for another name");
    assert!(err.contains("certificate") && err.contains("name"), "the cause named: {err}");
    assert!(err.contains("endpoint address"), "the hint: {err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");
    drop(pg);

    // The right name, from a CA that is not in sslrootcert (a TLS-intercepting middlebox).
    let (cert, key) = ca.server_pem(&["localhost"], false).unwrap();
    let pg = TlsPostgres::start(&cert, &key).unwrap();
    let (code, _, err) = runner_add(&with_password(&pg, "localhost", &verify));
    eprintln!("unknown CA: {err}");
    assert_ne!(code, 0, "verify-full must refuse a certificate from another CA");
    assert!(err.contains("UnknownIssuer") && err.contains("not from a CA in the sslrootcert"), "{err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");
}

const ADMIN: &str = "deploy-admin-token-0123456789";

/// nginx as the ALB stands in for it: appends the client's address to `X-Forwarded-For`.
struct Nginx {
    _dir: TempDir,
    _proc: netready_lab::Proc,
}

fn nginx_bin() -> Option<std::path::PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(std::path::PathBuf::from).find(|p| p.is_file())
}

/// nginx on `listen`, one `server` per (port, upstream) pair; returned once every port answers.
fn start_nginx(routes: &[(u16, std::net::SocketAddr)]) -> Nginx {
    let bin = nginx_bin().unwrap();
    let dir = TempDir::new("nginx");
    let d = dir.path().display();
    let servers: String = routes
        .iter()
        .map(|(port, upstream)| {
            format!(
                "server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://{upstream}; \
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }} }}\n"
            )
        })
        .collect();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{servers}}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(dir.path()).arg("-c").arg(dir.join("nginx.conf"));
    let proc = netready_lab::Proc::spawn(cmd, "nginx").unwrap();
    for (port, _) in routes {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
        let up = netready_lab::eventually(std::time::Duration::from_secs(10), || {
            netready_lab::http(addr, "GET", "/healthz", &[], b"").ok().filter(|(s, _)| *s == 200)
        });
        assert!(up.is_some(), "nginx did not start: {:?}", proc.output());
    }
    Nginx { _dir: dir, _proc: proc }
}

/// A dashboard login through nginx on `port` from the loopback address `client`, with a forged
/// `X-Forwarded-For` when given: the status code.
fn login(port: u16, client: [u8; 4], token: &str, forged: Option<&str>) -> u16 {
    let body = format!("token={token}");
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(f) = forged {
        headers.push(("X-Forwarded-For", f));
    }
    let addr = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port);
    netready_lab::http_from(client.into(), addr, "POST", "/login", &headers, body.as_bytes()).unwrap().0
}

#[test]
fn one_client_guessing_tokens_behind_a_proxy_does_not_lock_out_another() {
    if nginx_bin().is_none() {
        if netready_lab::lab_required() {
            panic!("the reverse-proxy test must run on CI: nginx is not installed (apt-get install nginx-light)");
        }
        netready_lab::record_skip("nginx is not installed (apt-get install nginx-light)");
        return;
    }
    let dir = TempDir::new("proxy");
    let db = dir.db();
    let (trusting, plain) = (netready_lab::free_loopback_addr(), netready_lab::free_loopback_addr());
    let bin = std::path::Path::new(BIN);
    // One plane trusts the proxy (nginx reaches it from 127.0.0.1), the other does not.
    let _a = netready_lab::start_plane(bin, &db, trusting, ADMIN, &["--trusted-proxy", "10.0.0.0/16,127.0.0.1/32"]);
    let _b = netready_lab::start_plane(bin, &db, plain, ADMIN, &[]);
    let (pa, pb) = (netready_lab::free_loopback_addr().port(), netready_lab::free_loopback_addr().port());
    let _nginx = start_nginx(&[(pa, trusting), (pb, plain)]);

    for port in [pa, pb] {
        // The attacker (127.0.0.2) guesses, forging a different X-Forwarded-For each time.
        for i in 0..5 {
            let forged = format!("198.51.100.{i}");
            assert_eq!(login(port, [127, 0, 0, 2], "wrong-token-guess", Some(&forged)), 401, "guess {i}");
        }
        assert_eq!(login(port, [127, 0, 0, 2], "wrong-token-guess", Some("203.0.113.77")), 429, "the guesser waits");
    }
    // Behind the trusting plane, someone else (127.0.0.3) logs in; behind the other, the proxy's
    // address was throttled, which is everyone.
    assert_eq!(login(pa, [127, 0, 0, 3], ADMIN, None), 303, "another client must not be locked out");
    assert_eq!(login(pb, [127, 0, 0, 3], ADMIN, None), 429, "without --trusted-proxy all share the proxy's address");
    // The attacker forging the legitimate client's address gains nothing: still throttled.
    assert_eq!(login(pa, [127, 0, 0, 2], ADMIN, Some("127.0.0.3")), 429);
}

#[test]
fn a_runner_whose_task_never_starts_is_announced_counted_and_explained() {
    let dir = TempDir::new("never");
    let db = dir.db();
    let receiver = netready_lab::webhook::Receiver::start().unwrap();
    let hook = receiver.url("/hook");
    let out = Command::new(BIN)
        .args(["plane", "alert", "add", "ops", "--url", &hook, "--database", &db, "--alert-allow-loopback"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (id, _) = netready_lab::runner_add(BIN.as_ref(), &db, "eu-west-3/never-started");
    let addr = netready_lab::free_loopback_addr();
    let flags = ["--never-reported-after", "1s", "--alert-poll", "200ms", "--alert-allow-loopback"];
    let _plane = netready_lab::start_plane(BIN.as_ref(), &db, addr, ADMIN, &flags);

    let got = netready_lab::eventually(std::time::Duration::from_secs(15), || {
        receiver.received().into_iter().find(|r| r.body.contains("never_reported"))
    });
    let event: serde_json::Value = serde_json::from_str(&got.expect("a never_reported notification").body).unwrap();
    assert_eq!((event["kind"].as_str(), event["runner"]["id"].as_str()), (Some("never_reported"), Some(id.as_str())));
    assert_eq!(event["to"], "never_reported");

    let (_, metrics) = netready_lab::http(addr, "GET", "/metrics", &[], b"").unwrap();
    assert!(metrics.contains("netready_plane_runners{readiness=\"never_reported\"} 1\n"), "{metrics}");
    let auth = format!("Bearer {ADMIN}");
    let (status, body) =
        netready_lab::http(addr, "GET", &format!("/api/v1/runners/{id}"), &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"readiness\":\"never_reported\""), "{body}");

    // The dashboard says what to run.
    let cookie = login_cookie(addr);
    let (_, page) =
        netready_lab::http(addr, "GET", &format!("/dashboard/runners/{id}"), &[("Cookie", &cookie)], b"").unwrap();
    assert!(page.contains("never reported") && page.contains("netready diagnose --task-arn"), "{page}");
    assert!(receiver.received().len() == 1, "announced once: {:?}", receiver.received());
}

/// Logs in to the dashboard and returns the session cookie (`name=value`).
fn login_cookie(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let body = format!("token={ADMIN}");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim().to_owned()))
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .unwrap_or_else(|| panic!("no session cookie: {answer}"))
}
