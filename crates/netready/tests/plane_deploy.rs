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
    assert_ne!(code, 0, "a plain connection must be refused");
    assert!(err.contains("no encryption"), "the server's reason: {err}");
    assert!(err.contains("sslmode=verify-full"), "the hint: {err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");

    // A CA bundle that is not there: named.
    let missing = "?sslmode=verify-full&sslrootcert=/nonexistent/rds-global-bundle.pem";
    let (code, _, err) = runner_add(&with_password(&pg, "localhost", missing));
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/rds-global-bundle.pem"), "{err}");
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
    assert_ne!(code, 0, "verify-full must refuse a certificate for another name");
    assert!(err.contains("certificate") && err.contains("name"), "the cause named: {err}");
    assert!(!err.contains(PASSWORD), "the password leaked: {err}");
}
