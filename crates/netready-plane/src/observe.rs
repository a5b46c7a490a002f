//! What the plane says about itself: `/healthz` (the process answers), `/readyz` (the database
//! answers and the report writer runs), `/metrics` (Prometheus text), and one JSON access-log
//! line per request (method, route, status, duration, runner id — never a token).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::db::now_ms;
use crate::readiness::Readiness;

/// Upper bounds of the commit-latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Upper bounds of the batch-size histogram, in reports.
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 64.0, 256.0, 512.0];

/// A Prometheus histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

/// The plane's counters; one per process (replica).
#[derive(Debug)]
pub struct Metrics {
    /// Reports accepted, by result (`created`, `duplicate`).
    accepted: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Reports refused, by the error code of the answer.
    rejected: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            accepted: Mutex::default(),
            rejected: Mutex::default(),
            batch_size: Histogram::new(&BATCH_BUCKETS),
            commit_seconds: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    pub fn accepted(&self, result: &'static str) {
        if let Ok(mut m) = self.accepted.lock() {
            *m.entry(result).or_default() += 1;
        }
    }

    pub fn rejected(&self, code: &'static str) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    /// One committed batch of `size` reports that took `took`.
    pub fn batch(&self, size: usize, took: Duration) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers within 2 s and the report writer runs: a load balancer
/// stops sending work to a replica that could only answer 503.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.store.ping(Duration::from_secs(2)).await;
    let writer = state.store.writer_alive();
    let body = json!({
        "database": if database { "ok" } else { "unavailable" },
        "writer": if writer { "ok" } else { "stopped" },
    });
    let status = if database && writer { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format 0.0.4.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP netready_plane_runners Runners by readiness (degraded, never_reported, stale, unknown, ready; revoked runners apart).\n\
         # TYPE netready_plane_runners gauge"
    );
    match state.store.readiness_counts(now_ms(), state.ages()).await {
        Ok((by_rank, revoked)) => {
            for (name, n) in Readiness::ALL.iter().map(|r| r.as_str()).zip(by_rank) {
                let _ = writeln!(out, "netready_plane_runners{{readiness=\"{name}\"}} {n}");
            }
            let _ = writeln!(out, "netready_plane_runners{{readiness=\"revoked\"}} {revoked}");
        }
        Err(_) => {
            let _ = writeln!(out, "# the database did not answer");
        }
    }
    let m = &state.metrics;
    let _ = writeln!(
        out,
        "# HELP netready_plane_reports_accepted_total Reports accepted, by result.\n\
         # TYPE netready_plane_reports_accepted_total counter"
    );
    let accepted = m.accepted.lock().map(|a| a.clone()).unwrap_or_default();
    for result in ["created", "duplicate"] {
        let _ = writeln!(
            out,
            "netready_plane_reports_accepted_total{{result=\"{result}\"}} {}",
            accepted.get(result).unwrap_or(&0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP netready_plane_reports_rejected_total Reports refused, by the error code answered.\n\
         # TYPE netready_plane_reports_rejected_total counter"
    );
    let rejected = m.rejected.lock().map(|r| r.clone()).unwrap_or_default();
    for (code, n) in &rejected {
        let _ = writeln!(out, "netready_plane_reports_rejected_total{{reason=\"{code}\"}} {n}");
    }
    m.batch_size.render(&mut out, "netready_plane_commit_batch_reports", "Reports committed per transaction.");
    m.commit_seconds.render(&mut out, "netready_plane_commit_seconds", "Time to commit one batch of reports.");
    crate::alerts::deliver::render_metrics(&state.store, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

/// One JSON line per request on stdout: method, route, status, duration and, on a runner's
/// routes, the runner id. Never a header, a query string or a body (tokens travel in headers).
pub async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let runner_id = route.as_deref().and_then(|r| runner_id_of(r, req.uri().path()));
    let response = next.run(req).await;
    netready_process::log::info(
        "request",
        &[
            ("method", json!(method)),
            ("route", json!(route.unwrap_or_else(|| "(unmatched)".to_owned()))),
            ("status", json!(response.status().as_u16())),
            ("duration_ms", json!((started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)),
            ("runner_id", json!(runner_id)),
        ],
    );
    response
}

/// The `{id}` segment of `path` where `route` has it, when it is a well-formed runner id.
fn runner_id_of(route: &str, path: &str) -> Option<String> {
    let index = route.split('/').position(|s| s == "{id}")?;
    let segment = path.split('/').nth(index)?;
    crate::runner_id::RunnerId::parse(segment).ok().map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_ids_come_from_the_route_only() {
        let route = "/api/v1/runners/{id}/network-readiness";
        assert_eq!(runner_id_of(route, "/api/v1/runners/rn-abc123/network-readiness"), Some("rn-abc123".into()));
        assert_eq!(runner_id_of(route, "/api/v1/runners/%00/network-readiness"), None);
        assert_eq!(runner_id_of("/api/v1/runners", "/api/v1/runners"), None);
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&BATCH_BUCKETS);
        for v in [1.0, 3.0, 3.0, 600.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "b", "help");
        assert!(out.contains("b_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"4\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"512\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("b_count 4\n"), "{out}");
    }
}
