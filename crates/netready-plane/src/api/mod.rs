//! The HTTP API, versioned under `/api/v1`. Each resource module owns its routes and types.

pub mod alerts;
pub mod badges;
pub mod fleet;
pub mod manage;
pub mod readiness;
pub mod runners;

use axum::Router;
use axum::http::HeaderMap;

use crate::AppState;
use crate::auth::{bearer, constant_time_eq, token_hash};
use crate::error::ApiError;

pub const OPENAPI: &str = include_str!("../../openapi/plane-v1.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(readiness::routes())
        .merge(runners::routes())
        .merge(manage::routes())
        .merge(fleet::routes())
        .merge(badges::routes())
        .merge(alerts::routes())
        .route("/api/v1/openapi.json", axum::routing::get(openapi))
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The cookie that carries the dashboard session.
pub const SESSION_COOKIE: &str = "netready_session";

/// A session ends this long after login, whatever happens.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;

/// The admin credential: `Authorization: Bearer <admin token>`, or a live dashboard session.
pub async fn is_admin(state: &AppState, headers: &HeaderMap) -> Result<bool, ApiError> {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = bearer(header) {
        return Ok(constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()));
    }
    match session_cookie(headers) {
        Some(id) if !id.is_empty() => {
            Ok(state.store.touch_session(&token_hash(&id), crate::db::now_ms(), SESSION_IDLE_MS).await?)
        }
        _ => Ok(false),
    }
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

pub async fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if is_admin(state, headers).await? {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "this endpoint needs the admin token: send 'Authorization: Bearer <NETREADY_ADMIN_TOKEN>'",
        ))
    }
}
