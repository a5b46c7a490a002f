//! The HTTP API, versioned under `/api/v1`. Each resource module owns its routes and types.

pub mod alerts;
pub mod badges;
pub mod fleet;
pub mod manage;
pub mod readiness;
pub mod runners;

use axum::Router;

use crate::state::AppState;

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

pub use crate::access::{Admin, RunnerAuth, SESSION_COOKIE, SESSION_IDLE_MS, SESSION_TTL_MS, is_admin, session_cookie};
