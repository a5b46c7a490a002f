//! Who may do what: the admin (token or dashboard session) and a runner (its own token), as axum
//! extractors every protected route takes. They read the request's head only, so a request
//! without the credential is refused before its body is read.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::auth::{bearer, constant_time_eq, token_hash};
use crate::db::Runner;
use crate::error::ApiError;
use crate::state::AppState;

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
            Ok(state.store.touch_session(&token_hash(&id), crate::time::now_ms(), SESSION_IDLE_MS).await?)
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

/// An authenticated admin: the request carried the admin token or a live dashboard session.
/// Every admin route takes it as its first argument. It is extracted from the request's head, and
/// axum runs those extractors before the one that reads the body, so a request without the
/// credential is answered 401 whatever its body, path or query — never 415 or 422 with the
/// field names. `tests/api.rs` walks every `/api/v1` route to hold every route to it.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if is_admin(state, &parts.headers).await? {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized(
                "this endpoint needs the admin token: send 'Authorization: Bearer <NETREADY_ADMIN_TOKEN>'",
            ))
        }
    }
}

/// A runner authenticated by its own token (`Authorization: Bearer <runner token>`), not revoked:
/// what the report route takes, from the request's head, before the body is read. A refusal is
/// counted among the rejected reports (`NetreadyRunnerTokensRefused` alerts on it).
#[derive(Debug, Clone)]
pub struct RunnerAuth(pub Runner);

impl FromRequestParts<AppState> for RunnerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let found = async {
            let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let token = bearer(header).ok_or_else(|| {
                ApiError::unauthorized("missing runner token: send 'Authorization: Bearer <runner token>'")
            })?;
            let runner = state
                .store
                .runner_by_token(&token_hash(token))
                .await?
                .ok_or_else(|| ApiError::unauthorized("unknown runner token"))?;
            if runner.revoked_at.is_some() {
                return Err(ApiError::unauthorized("this runner's token has been revoked"));
            }
            Ok(RunnerAuth(runner))
        }
        .await;
        if let Err(e) = &found {
            state.metrics.rejected(e.code);
        }
        found
    }
}
