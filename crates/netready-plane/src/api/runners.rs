//! The read API (admin token): runners with their readiness, one runner's newest report, its
//! history.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::api::Admin;
use crate::runner_id::RunnerId;

use crate::error::ApiError;
use crate::readiness::Readiness;
use crate::runners::{self, ListRequest, RunnerList};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runners", get(list))
        .route("/api/v1/runners/{id}", get(show))
        .route("/api/v1/runners/{id}/history", get(history))
}

/// An instant (ms since the epoch) as the API writes times: `2026-11-26T13:27:11.123Z`.
pub use crate::db::rfc3339_ms as rfc3339;

/// `id` when it can name a runner; a 404 that does not echo it back otherwise.
pub fn known_id(id: &str) -> Result<RunnerId, ApiError> {
    RunnerId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))
}

/// A search text: printable, at most 200 characters.
pub fn search_text(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().any(char::is_control) {
        return Err(ApiError::bad_request("q holds a control character: expected printable text to search for"));
    }
    if q.chars().count() > 200 {
        return Err(ApiError::bad_request("q is longer than 200 characters"));
    }
    Ok(Some(q.to_owned()))
}

/// The largest page the API returns.
pub const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Only runners with this readiness.
    pub readiness: Option<String>,
    /// Only runners whose name or id contains this text (case-insensitive).
    pub q: Option<String>,
    /// Page size, 1 to 10,000 (default 1,000).
    pub limit: Option<String>,
    /// Runners to skip (default 0).
    pub offset: Option<String>,
}

fn number(
    value: Option<&str>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            ApiError::bad_request(format!("{name} '{s}' is not a number from {} to {}", range.start(), range.end()))
        }),
    }
}

/// What the list API's query asks for, checked: the service's request. The dashboard makes one
/// from its own parameters.
pub fn list_request(query: &ListQuery, default_limit: i64) -> Result<ListRequest, ApiError> {
    Ok(ListRequest {
        readiness: readiness_filter(query.readiness.as_deref())?,
        text: search_text(query.q.as_deref())?,
        limit: number(query.limit.as_deref(), "limit", default_limit, 1..=MAX_LIMIT)?,
        offset: number(query.offset.as_deref(), "offset", 0, 0..=i64::MAX)?,
    })
}

/// A readiness to filter by, or none for an empty value.
pub fn readiness_filter(value: Option<&str>) -> Result<Option<Readiness>, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        Some(s) => Readiness::parse(s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("unknown readiness '{s}': expected ready, degraded, stale or unknown"))
        }),
        None => Ok(None),
    }
}

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
                "status": r.status,
                "summary": r.summary,
                "degraded_endpoints": serde_json::from_str::<Value>(&r.degraded).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "runner_id": id, "changes": changes, "reports": reports })))
}
