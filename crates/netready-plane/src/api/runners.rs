//! The read API (admin token): runners with their readiness, one runner's newest report, its
//! history.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::access::Admin;
use crate::state::AppState;

use crate::error::ApiError;
use crate::runners::{self, RunnerList};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runners", get(list))
        .route("/api/v1/runners/{id}", get(show))
        .route("/api/v1/runners/{id}/history", get(history))
}

/// An instant (ms since the epoch) as the API writes times: `2026-11-26T13:27:11.123Z`.
pub use crate::time::rfc3339_ms as rfc3339;

pub use crate::runners::{ListQuery, MAX_LIMIT, known_id, list_request, readiness_filter, search_text};

async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RunnerList>, ApiError> {
    let request = list_request(&query, 1000)?;
    Ok(Json(runners::list(&state, &request).await?))
}

async fn show(_admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = known_id(&id)?;
    let details =
        runners::details(&state, &id).await?.ok_or_else(|| ApiError::not_found(format!("no runner '{id}'")))?;
    // The report as it was stored: a version 1 report stays version 1 here.
    Ok(Json(serde_json::json!({ "runner": details.summary, "report": details.stored_json() })))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub limit: Option<String>,
}

async fn history(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = match query.limit.as_deref() {
        None => 50,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit '{s}' is not a number from 1 to 1000")))?,
    };
    let id = known_id(&id)?;
    if state.store.runner(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no runner '{id}'")));
    }
    let changes: Vec<Value> = state
        .store
        .changes(&id, limit)
        .await?
        .into_iter()
        .map(|c| serde_json::json!({ "at": rfc3339(c.at_ms), "from": c.from_status, "to": c.to_status }))
        .collect();
    let reports: Vec<Value> = state
        .store
        .recent_reports(&id, limit)
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "checked_at": r.checked_at,
                "received_at": rfc3339(r.received_at),
                "status": r.status.as_str(),
                "summary": r.summary,
                "degraded_endpoints": r.degraded,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "runner_id": id, "changes": changes, "reports": reports })))
}
