//! Test support: a real store on each backend (a SQLite file in a temporary directory; a fresh
//! database on the PostgreSQL server named by NETREADY_TEST_POSTGRES_URL) and request helpers.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use netready_plane::{AppState, Store, app};
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-tests";

/// An admin's request with a JSON body.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn admin_json(method: &str, path: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// What the tests opt in to, as `--alert-allow-loopback` does: receivers on this machine.
pub const LOOPBACK: netready_plane::alerts::address::Destinations =
    netready_plane::alerts::address::Destinations { allow_private: false, allow_loopback: true };
static N: AtomicUsize = AtomicUsize::new(0);

/// A database for one test; removed when dropped.
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Best effort, on a runtime of its own (the test's may be gone).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn sqlite() -> TestDb {
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("netready-plane-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TestDb { url: dir.join("plane.db").display().to_string(), dir: Some(dir), pg: None }
}

/// A fresh database on the test PostgreSQL server; `None` (after saying so) when there is none
/// and none is required. On CI, a missing server fails the test.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin) = std::env::var("NETREADY_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() || std::env::var("NETREADY_POSTGRES").is_ok_and(|v| v == "required") {
            panic!("NETREADY_TEST_POSTGRES_URL is not set: scripts/test starts a PostgreSQL server and sets it");
        }
        netready_lab::record_skip("no NETREADY_TEST_POSTGRES_URL; run scripts/test to get a server");
        return None;
    };
    let n = N.fetch_add(1, Ordering::SeqCst);
    let name = format!("netready_test_{}_{n}", std::process::id());
    use sqlx::Connection;
    let mut c =
        sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    Some(TestDb { url: format!("{base}/{name}"), dir: None, pg: Some((admin, name)) })
}

/// Runs `body` against a store on each backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = support::sqlite();
                let store = netready_plane::Store::open(&db.url).await.unwrap();
                ($body)(store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = support::postgres().await else {
                    return;
                };
                let store = netready_plane::Store::open(&db.url).await.unwrap();
                ($body)(store.clone()).await;
                store.close().await;
            }
        }
    };
}

/// The plane as the tests use it: the fixtures' fixed dates stay acceptable whatever day the
/// tests run (no lower bound on checked_at; [`router_as_served`] has the real one).
/// Nor a rate limit: tests send hundreds of reports for one runner at once. Alert channels may
/// point to loopback ([`LOOPBACK`]), where the tests' receivers listen.
pub fn router(store: &Store) -> Router {
    app(AppState {
        max_age_ms: i64::MAX / 4,
        alert_destinations: LOOPBACK,
        rate: std::sync::Arc::new(netready_plane::limits::RateLimiter::new(1e12, std::time::Duration::from_millis(1))),
        ..AppState::new(store.clone(), ADMIN, netready_plane::DEFAULT_STALE_AFTER)
    })
}

/// The plane with the settings `plane serve` uses by default.
pub fn router_as_served(store: &Store) -> Router {
    app(AppState::new(store.clone(), ADMIN, netready_plane::DEFAULT_STALE_AFTER))
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub async fn call(router: &Router, req: Request<Body>) -> Answer {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

/// A degraded version 2 report: logs times out.
pub fn report() -> Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/report-v2-degraded.json")).unwrap()
}

/// The same check as the current version (3) reports it, with the network read: routes, access
/// types from them (S3 through its gateway endpoint) and a finding (the logs endpoint's security
/// group admits another subnet only).
pub fn report_v3() -> Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/report-v3-degraded.json")).unwrap()
}

/// `report` with `status`, its endpoints agreeing (ready: the logs endpoint reached too).
pub fn with_status(mut report: Value, status: &str) -> Value {
    report["status"] = serde_json::json!(status);
    if status == "ready" {
        report["endpoints"][1]["reachability"] = serde_json::json!("full");
        report["endpoints"][1]["connections"][0]["tcp"] =
            serde_json::json!({"outcome": "ok", "duration_ms": 1, "budget_ms": 1999});
    }
    report
}

/// The same check as a version 1 report, as older agents send it.
pub fn report_v1() -> Value {
    serde_json::from_str(include_str!("../../../../tests/fixtures/report-degraded.json")).unwrap()
}

pub fn post_report(runner: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req =
        Request::post(format!("/api/v1/runners/{runner}/network-readiness")).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(body.into()).unwrap()
}

pub fn admin_get(path: &str) -> Request<Body> {
    Request::get(path).header("authorization", format!("Bearer {ADMIN}")).body(Body::empty()).unwrap()
}
