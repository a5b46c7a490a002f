//! The HTTP API, versioned under `/api/v1`. Each resource module owns its routes and types.

pub mod readiness;
pub mod runners;

use axum::Router;
use axum::http::HeaderMap;

use crate::AppState;
use crate::auth::{bearer, constant_time_eq};
use crate::error::ApiError;

pub const OPENAPI: &str = include_str!("../../openapi/plane-v1.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(readiness::routes())
        .merge(runners::routes())
        .route("/api/v1/openapi.json", axum::routing::get(openapi))
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The cookie that carries the dashboard session.
pub const SESSION_COOKIE: &str = "netready_session";

/// The admin credential: `Authorization: Bearer <admin token>`, or the dashboard's cookie.
pub fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = bearer(header) {
        return constant_time_eq(token.as_bytes(), state.admin_token.as_bytes());
    }
    session_cookie(headers).is_some_and(|c| constant_time_eq(c.as_bytes(), state.session_value().as_bytes()))
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

pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if is_admin(state, headers) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "this endpoint needs the admin token: send 'Authorization: Bearer <NETREADY_ADMIN_TOKEN>'",
        ))
    }
}
