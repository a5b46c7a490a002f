//! `GET /api/v1/fleet` (admin token): per required service and region, how many runners reach it
//! fully, partly, not, by access type; the degraded endpoints grouped by cause and place. See
//! [`crate::fleet`].

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::access::Admin;
use crate::error::ApiError;
use crate::fleet::{Fleet, FleetQuery, fleet};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/fleet", get(show))
}

async fn show(
    _admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<FleetQuery>,
) -> Result<Json<Fleet>, ApiError> {
    Ok(Json(fleet(&state, &query).await?))
}
