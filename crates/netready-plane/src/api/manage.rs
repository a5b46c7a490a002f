//! Runner management (admin token): register, rename, rotate a token, revoke, delete — what
//! `netready plane runner …` does, over the API. A token is shown once, in the answer that made it,
//! and stored only as a hash.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::access::Admin;
use crate::auth::{new_token, token_hash};
use crate::error::ApiError;
use crate::names::RunnerName;
use crate::runners::known_id;
use crate::runners::listing_of;
use crate::state::AppState;
use crate::time::now_ms;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runners", post(create))
        .route("/api/v1/runners/{id}", patch(rename).delete(delete))
        .route("/api/v1/runners/{id}/token", post(rotate))
        .route("/api/v1/runners/{id}/revoke", post(revoke))
}

/// The body of create and rename.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub name: String,
}

/// A name people recognise, by the one rule ([`RunnerName`]); refused as `invalid_name` (422).
fn valid_name(name: &str) -> Result<RunnerName, ApiError> {
    RunnerName::parse(name).map_err(|e| ApiError::unprocessable("invalid_name", e.to_string()))
}

async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    Json(body): Json<NameBody>,
) -> Result<Response, ApiError> {
    let name = valid_name(&body.name)?;
    let (id, token) = crate::runners::add_runner(&state.store, name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "name": name.as_str(), "token": token }))).into_response())
}

async fn summary_of(state: &AppState, id: &str) -> Result<serde_json::Value, ApiError> {
    let (row, _) =
        state.store.runner_with_report(id).await?.ok_or_else(|| ApiError::not_found(format!("no runner '{id}'")))?;
    Ok(serde_json::to_value(listing_of(&row, now_ms(), state.ages())).unwrap_or_default())
}

async fn rename(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<NameBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = known_id(&id)?;
    let name = valid_name(&body.name)?;
    if !state.store.rename_runner(&id, name.as_str()).await? {
        return Err(ApiError::not_found(format!("no runner '{id}'")));
    }
    Ok(Json(summary_of(&state, &id).await?))
}

async fn rotate(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = known_id(&id)?;
    let token = new_token();
    if !state.store.rotate_token(&id, &token_hash(&token)).await? {
        return Err(ApiError::not_found(format!("no runner '{id}'")));
    }
    netready_process::log::info("runner token rotated", &[("runner_id", json!(id))]);
    Ok(Json(json!({ "id": id, "token": token })))
}

async fn revoke(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = known_id(&id)?;
    if !state.store.revoke_runner(&id).await? {
        return Err(ApiError::not_found(format!("no runner '{id}'")));
    }
    Ok(Json(summary_of(&state, &id).await?))
}

async fn delete(_admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = known_id(&id)?;
    if !state.store.delete_runner(&id).await? {
        return Err(ApiError::not_found(format!("no runner '{id}'")));
    }
    netready_process::log::info("runner deleted", &[("runner_id", json!(id))]);
    Ok(StatusCode::NO_CONTENT)
}
