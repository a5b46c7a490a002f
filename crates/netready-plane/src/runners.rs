//! The runners as the API and the dashboard both show them: a filtered, ordered page of runners
//! with their readiness, and one runner with its newest report. Typed requests in, typed answers
//! out: the API turns query strings into a [`ListRequest`] and the answers into JSON, the
//! dashboard its own parameters into the same request and the answers into HTML.

use std::collections::BTreeMap;

use netready_check::Report;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::{ListFilter, RunnerRow, Store, StoreError};
use crate::error::ApiError;
use crate::readiness::{Ages, DegradedEndpoint, Readiness, readiness};
use crate::runner_id::RunnerId;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_ms};

/// Which runners, checked by whoever made it.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Only runners with this readiness.
    pub readiness: Option<Readiness>,
    /// Only names or ids containing this text, case-insensitively.
    pub text: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One runner in a list (a runner listing).
#[derive(Debug, Clone, Serialize)]
pub struct RunnerListing {
    pub id: String,
    pub name: String,
    pub readiness: Readiness,
    pub revoked: bool,
    /// The newest report's `checked_at`, if any.
    pub last_checked_at: Option<String>,
    /// When the plane last received a report, RFC 3339.
    pub last_received_at: Option<String>,
    /// The endpoints that were not fully reachable in the newest report.
    pub degraded_endpoints: Vec<DegradedEndpoint>,
}

pub fn listing_of(row: &RunnerRow, now: i64, ages: Ages) -> RunnerListing {
    RunnerListing {
        id: row.runner.id.clone(),
        name: row.runner.name.clone(),
        readiness: readiness(row.state.as_ref(), row.runner.created_at, now, ages),
        revoked: row.runner.revoked_at.is_some(),
        last_checked_at: row.state.as_ref().map(|s| s.checked_at.clone()),
        last_received_at: row.state.as_ref().map(|s| rfc3339_ms(s.last_received_at)),
        degraded_endpoints: row.state.as_ref().map(|s| s.degraded.clone()).unwrap_or_default(),
    }
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
    pub runners: Vec<RunnerListing>,
}

/// The runners that match, problems first (degraded, never reported, stale, unknown, ready), then by name.
pub async fn list(state: &AppState, request: &ListRequest) -> Result<RunnerList, StoreError> {
    let now = now_ms();
    let filter = ListFilter {
        rank: request.readiness.map(Readiness::rank),
        text: request.text.clone(),
        limit: request.limit,
        offset: request.offset,
        now_ms: now,
        ages: state.ages(),
    };
    let page = state.store.list_runners(&filter).await?;
    Ok(RunnerList {
        count: page.total,
        counts: Readiness::ALL.iter().map(|r| (r.as_str(), page.by_rank[r.rank() as usize])).collect(),
        limit: request.limit,
        offset: request.offset,
        runners: page.runners.iter().map(|r| listing_of(r, now, state.ages())).collect(),
    })
}

/// One runner with its newest report (read together with its state).
#[derive(Debug, Clone)]
pub struct RunnerDetails {
    pub summary: RunnerListing,
    /// The newest report's body as stored (in its own schema version).
    body: Option<String>,
}

impl RunnerDetails {
    /// The newest report, typed (an older version read as the newest); `None` before any.
    /// Stored reports were validated at ingest.
    pub fn report(&self) -> Option<Report> {
        let value = serde_json::from_str::<Value>(self.body.as_deref()?).ok()?;
        Report::from_value(value).ok()
    }

    /// The newest report's JSON as stored; `null` before any.
    pub fn stored_json(&self) -> Value {
        self.body.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
    }
}

pub async fn details(state: &AppState, id: &RunnerId) -> Result<Option<RunnerDetails>, StoreError> {
    Ok(state
        .store
        .runner_with_report(id)
        .await?
        .map(|(row, body)| RunnerDetails { summary: listing_of(&row, now_ms(), state.ages()), body }))
}

/// `runner add`: creates a runner; returns its id and token (the token is not stored). A name
/// that breaks [`crate::names::RunnerName`]'s rule is [`StoreError::InvalidInput`].
pub async fn add_runner(store: &Store, name: &str) -> Result<(RunnerId, String), StoreError> {
    let name = crate::names::RunnerName::parse(name).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let id = RunnerId::generate();
    let token = crate::auth::new_token();
    store.add_runner(&id, name.as_str(), &crate::auth::token_hash(&token)).await?;
    Ok((id, token))
}

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
