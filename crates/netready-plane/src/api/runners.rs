//! The read API (admin token): runners with their readiness, one runner's newest report, its
//! history.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::api::require_admin;
use crate::runner_id::RunnerId;
use std::collections::BTreeMap;

use crate::db::{ListFilter, RunnerRow, now_ms};
use crate::error::ApiError;
use crate::readiness::{Readiness, readiness};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runners", get(list))
        .route("/api/v1/runners/{id}", get(show))
        .route("/api/v1/runners/{id}/history", get(history))
}

/// One runner in a list.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerSummary {
    pub id: String,
    pub name: String,
    pub readiness: Readiness,
    pub revoked: bool,
    /// The newest report's `checked_at`, if any.
    pub last_checked_at: Option<String>,
    /// When the plane last received a report, RFC 3339.
    pub last_received_at: Option<String>,
    /// The endpoints that were not fully reachable in the newest report.
    pub degraded_endpoints: Vec<Value>,
}

pub fn summarize(row: &RunnerRow, now: i64, stale_after_ms: i64) -> RunnerSummary {
    RunnerSummary {
        id: row.runner.id.clone(),
        name: row.runner.name.clone(),
        readiness: readiness(row.state.as_ref(), now, stale_after_ms),
        revoked: row.runner.revoked_at.is_some(),
        last_checked_at: row.state.as_ref().map(|s| s.checked_at.clone()),
        last_received_at: row.state.as_ref().map(|s| rfc3339(s.last_received_at)),
        degraded_endpoints: row
            .state
            .as_ref()
            .and_then(|s| serde_json::from_str::<Vec<Value>>(&s.degraded).ok())
            .unwrap_or_default(),
    }
}

pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `id` when it can name a runner; a 404 that does not echo it back otherwise.
pub fn known_id(id: &str) -> Result<RunnerId, ApiError> {
    RunnerId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))
}

/// A search text: printable, at most 200 characters.
fn search_text(q: Option<&str>) -> Result<Option<String>, ApiError> {
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

/// A page of runners.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerList {
    /// How many runners match the filters.
    pub count: i64,
    /// How many runners match the text filter, by readiness.
    pub counts: BTreeMap<&'static str, i64>,
    pub limit: i64,
    pub offset: i64,
    pub runners: Vec<RunnerSummary>,
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

/// The runners that match `query`, problems first (degraded, stale, unknown, ready), then by name.
pub async fn matching(state: &AppState, query: &ListQuery, default_limit: i64) -> Result<RunnerList, ApiError> {
    let wanted = match query.readiness.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Readiness::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("unknown readiness '{s}': expected ready, degraded, stale or unknown"))
        })?),
        None => None,
    };
    let limit = number(query.limit.as_deref(), "limit", default_limit, 1..=MAX_LIMIT)?;
    let offset = number(query.offset.as_deref(), "offset", 0, 0..=i64::MAX)?;
    let now = now_ms();
    let filter = ListFilter {
        rank: wanted.map(Readiness::rank),
        text: search_text(query.q.as_deref())?,
        limit,
        offset,
        now_ms: now,
        stale_after_ms: state.stale_after_ms,
    };
    let page = state.store.list_runners(&filter).await?;
    Ok(RunnerList {
        count: page.total,
        counts: Readiness::ALL.iter().map(|r| (r.as_str(), page.by_rank[r.rank() as usize])).collect(),
        limit,
        offset,
        runners: page.runners.iter().map(|r| summarize(r, now, state.stale_after_ms)).collect(),
    })
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<RunnerList>, ApiError> {
    require_admin(&state, &headers).await?;
    Ok(Json(matching(&state, &query, 1000).await?))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers).await?;
    let id = known_id(&id)?;
    let (row, body) =
        state.store.runner_with_report(&id).await?.ok_or_else(|| ApiError::not_found(format!("no runner '{id}'")))?;
    let report = match body {
        Some(body) => serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        None => Value::Null,
    };
    Ok(Json(serde_json::json!({ "runner": summarize(&row, now_ms(), state.stale_after_ms), "report": report })))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub limit: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers).await?;
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
