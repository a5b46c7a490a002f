//! What the plane says about itself to operators: `/healthz` (the process answers), `/readyz` (the
//! database answers and the report writer runs), `/metrics` (Prometheus text), and one JSON
//! access-log line per request (method, route, status, duration, runner id — never a token).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::readiness::Readiness;
use crate::state::AppState;
use crate::time::now_ms;

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
    state.metrics.render(&mut out);
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
}
