//! The plane against its own OpenAPI document, with schemathesis (PyPI): a live `plane serve`
//! (the real binary, on loopback, a SQLite file), examples generated from the document — report
//! bodies included, since the document carries both report schemas self-contained — and every
//! check: no 5xx, status codes, content types and response bodies as documented, invalid input
//! refused.
//!
//! One check, `positive_data_acceptance`, is left out for the report endpoint (and for two admin
//! operations, whose rules are named where the test configures them): a report can be
//! schema-valid and still refused, for rules a JSON Schema cannot state (`checked_at` within the
//! retention and at most 10 minutes ahead; `status` ready exactly when every endpoint is full).
//! Those rules are in the document's descriptions and tested in `netready-plane`'s API tests.
//!
//! Needs schemathesis at the version tests/python/requirements.txt pins, from the environment
//! scripts/install-test-deps.sh makes (never from PATH): skipped, and counted as skipped, when it
//! is missing off CI; a failure on CI.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use netready_lab::runner_add;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "schemathesis-admin-token-0123456789";

#[test]
fn the_plane_keeps_to_its_openapi_document() {
    let Some(venv) = netready_lab::pytools::or_skip("the OpenAPI test") else {
        return;
    };
    let dir = netready_lab::TempDir::new("schemathesis");
    let db = dir.db();
    let (id, token) = runner_add(BIN.as_ref(), &db, "schemathesis");
    let addr = netready_lab::free_loopback_addr();
    // Thousands of generated reports for one runner: no rate limit for this test.
    let plane = netready_lab::start_plane(
        BIN.as_ref(),
        &db,
        addr,
        ADMIN,
        &["--ingest-burst", "1000000", "--ingest-interval", "1ms"],
    );
    // The report endpoint is only reachable with this runner's id: schemathesis fills the path
    // parameter from the configuration, and generates the rest.
    let config = "[[operations]]\ninclude-path-regex = \"network-readiness\"\n\
                  parameters = { \"path.id\" = \"${NETREADY_ST_RUNNER_ID}\" }\n";
    std::fs::write(dir.join("schemathesis.toml"), config).unwrap();
    let schema = format!("http://{addr}/api/v1/openapi.json");
    let run = |token: &str, scope: &[&str], examples: &str| {
        let out = Command::new(venv.bin("schemathesis"))
            .current_dir(&dir)
            .args(["run", &schema, "--checks", "all", "-n", examples, "--seed", "20261126"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(scope)
            .env("NETREADY_ST_RUNNER_ID", &id)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let (plane_log, _) = plane.output();
        let tail: Vec<&str> = plane_log.lines().rev().take(20).collect();
        assert!(
            out.status.success(),
            "{} found problems:\n{text}\nthe plane's last lines:\n{}",
            venv.describe("schemathesis"),
            tail.join("\n")
        );
        text
    };
    // The report endpoint with the runner's token: generated report bodies of both versions.
    let ingest = run(
        &token,
        &["--include-path-regex", "network-readiness", "--exclude-checks", "positive_data_acceptance"],
        "50",
    );
    assert!(ingest.contains("passed"), "{ingest}");
    // Then the admin API, which may rotate, revoke or delete that runner.
    // Not the test-notification endpoint: it sends a request to a channel's URL, and a generated
    // channel may name any host; it is tested against a loopback receiver (tests/alerts.rs).
    // Two admin operations have rules a JSON Schema cannot state either, in their descriptions
    // and tested in netready-plane's tests: a channel's URL may not point at loopback,
    // link-local, metadata or (by default) private addresses, and a silence lasts from 1m to 30d.
    // Schema-valid bodies that break them are refused with 422, as they must be: every other
    // check still holds for them.
    const RULED: [&str; 2] = ["POST /api/v1/alerts/channels", "POST /api/v1/alerts/silences"];
    let ruled: Vec<&str> = RULED.iter().flat_map(|name| ["--exclude-name", name]).collect();
    let admin = run(ADMIN, &[&["--exclude-path-regex", "network-readiness|/test$"], &ruled[..]].concat(), "30");
    assert!(admin.contains("passed"), "{admin}");
    let only: Vec<&str> = RULED.iter().flat_map(|name| ["--include-name", name]).collect();
    let ruled = run(ADMIN, &[&only[..], &["--exclude-checks", "positive_data_acceptance"]].concat(), "30");
    assert!(ruled.contains("passed"), "{ruled}");
    // It really reached validation and storage, not only the door.
    let (plane_out, _) = plane.output();
    let statuses = |code: &str| plane_out.matches(&format!("\"status\":{code}")).count();
    assert!(statuses("422") > 100, "generated reports were validated: {} × 422", statuses("422"));
    assert_eq!(statuses("500") + statuses("503"), 0, "no server error");
    drop(plane);
}
