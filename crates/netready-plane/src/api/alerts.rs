//! Alert channels and notifications (admin token): what `netready plane alert …` does, over the
//! API. A webhook's secret is shown once, in the answer that created the channel.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::access::Admin;
use crate::alerts::channels::{self, ChannelError, ChannelView, NewChannel, is_channel_id};
use crate::alerts::deliver::{Sender, TestSent, send_test};
use crate::alerts::silences::{Silence, SilenceView, is_silence_id};
use crate::db::alerts::DeliveryState;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_ms};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts/channels", get(list).post(create))
        .route("/api/v1/alerts/channels/{id}", delete(remove))
        .route("/api/v1/alerts/channels/{id}/test", post(test))
        .route("/api/v1/alerts/notifications", get(notifications))
        .route("/api/v1/alerts/silences", get(silences).post(silence))
        .route("/api/v1/alerts/silences/{id}", delete(unsilence))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// Absent: generated. `null` is refused, as the document says (a string or nothing).
    #[serde(default, deserialize_with = "present")]
    pub secret: Option<Option<String>>,
    /// Only runners whose name matches this pattern. Absent: all; `null` is refused.
    #[serde(default, deserialize_with = "present")]
    pub runners: Option<Option<String>>,
    /// Only these kinds of change. Absent: all; `null` is refused.
    #[serde(default, deserialize_with = "present")]
    pub kinds: Option<Option<Vec<String>>>,
}

/// A field that is there, `null` included (`Some(None)`); `#[serde(default)]` gives `None` when absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An optional field's value, refusing an explicit `null` with what to send instead.
fn not_null<T>(field: Option<Option<T>>, name: &str, expected: &str) -> Result<Option<T>, ApiError> {
    match field {
        Some(None) => {
            Err(ApiError::unprocessable("invalid_channel", format!("{name} is null: give {expected}, or leave it out")))
        }
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateChannel>,
) -> Result<Response, ApiError> {
    let secret = not_null(
        body.secret,
        "secret",
        "a string of 16 to 512 printable ASCII characters (leaving it out has one generated)",
    )?;
    let runners = not_null(body.runners, "runners", "a runner name pattern such as 'eu-west-3/*'")?;
    let kinds = not_null(body.kinds, "kinds", "a list of degraded, stale, never_reported, recovered")?;
    let new = NewChannel { name: body.name, kind: body.kind, url: body.url, secret, runners, kinds };
    let channel = channels::add(&state.store, new, state.alert_destinations).await.map_err(|e| match e {
        ChannelError::Invalid(message) => ApiError::unprocessable("invalid_channel", message),
        ChannelError::Store(e) => e.into(),
    })?;
    netready_process::log::info(
        "alert channel added",
        &[("channel_id", json!(channel.id)), ("kind", json!(channel.kind.as_str()))],
    );
    let mut view = serde_json::to_value(ChannelView::from(&channel)).unwrap_or_default();
    if !channel.secret.is_empty() {
        view["secret"] = json!(channel.secret);
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn list(_admin: Admin, State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let channels: Vec<ChannelView> = state.store.alert_channels().await?.iter().map(ChannelView::from).collect();
    Ok(Json(json!({ "channels": channels })))
}

async fn remove(_admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if !is_channel_id(&id) || !state.store.remove_alert_channel(&id).await? {
        return Err(ApiError::not_found("no such alert channel: see GET /api/v1/alerts/channels"));
    }
    netready_process::log::info("alert channel removed", &[("channel_id", json!(id))]);
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test notification to the channel now and says what the receiver answered.
async fn test(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TestSent>, ApiError> {
    let channel = match is_channel_id(&id) {
        true => state.store.alert_channel(&id).await?,
        false => None,
    }
    .ok_or_else(|| ApiError::not_found("no such alert channel: see GET /api/v1/alerts/channels"))?;
    let sender = Sender::new(state.alert_destinations).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("cannot make an HTTP client: {e}"),
        )
    })?;
    let sent = send_test(&sender, &channel).await;
    netready_process::log::info(
        "test notification sent",
        &[("channel_id", json!(channel.id)), ("delivered", json!(sent.delivered)), ("error", json!(sent.error))],
    );
    Ok(Json(sent))
}

#[derive(Debug, Default, Deserialize)]
pub struct NotificationsQuery {
    /// How many, newest first: 1 to 1,000 (default 100).
    pub limit: Option<String>,
    /// Only those in this state.
    pub state: Option<String>,
}

async fn notifications(
    _admin: Admin,
    State(state): State<AppState>,
    Query(q): Query<NotificationsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(s) => s.trim().parse::<i64>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
            ApiError::bad_request(format!("invalid limit '{s}': expected a whole number from 1 to 1000"))
        })?,
    };
    let only = match q.state.as_deref() {
        None => None,
        Some(s) => Some(DeliveryState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("invalid state '{s}': expected pending, failing, delivered or expired"))
        })?),
    };
    let rows = state.store.alert_deliveries(limit, only).await?;
    let notifications: Vec<serde_json::Value> = rows
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "channel_id": d.channel_id,
                "runner_id": d.runner_id,
                "kind": d.kind,
                "created_at": rfc3339_ms(d.created_at),
                "attempts": d.attempts,
                "state": d.state(),
                "delivered_at": d.delivered_at.map(rfc3339_ms),
                "expired_at": d.expired_at.map(rfc3339_ms),
                "next_attempt_at": matches!(d.state(), DeliveryState::Pending | DeliveryState::Failing)
                    .then(|| rfc3339_ms(d.next_attempt_at)),
                "last_error": d.last_error,
            })
        })
        .collect();
    Ok(Json(json!({ "notifications": notifications })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    /// The runners it silences: a name pattern, `*` for any run of characters.
    pub runners: String,
    /// How long, from now: 1m to 30d, such as `2h`.
    #[serde(rename = "for")]
    pub duration: String,
    /// Why: shown on the Alerts page and in the list.
    pub reason: String,
}

/// Starts a silence now: the changes of the matching runners are not announced until it ends.
async fn silence(
    _admin: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateSilence>,
) -> Result<Response, ApiError> {
    let silence = Silence::new(&body.runners, &body.duration, &body.reason, now_ms())
        .map_err(|message| ApiError::unprocessable("invalid_silence", message))?;
    state.store.add_silence(&silence).await?;
    netready_process::log::info(
        "silence started",
        &[
            ("silence_id", json!(silence.id)),
            ("runners", json!(silence.runners)),
            ("ends_at", json!(rfc3339_ms(silence.ends_at))),
        ],
    );
    Ok((StatusCode::CREATED, Json(SilenceView::from(&silence))).into_response())
}

/// The silences active now, the soonest to end first.
async fn silences(_admin: Admin, State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let silences: Vec<SilenceView> =
        state.store.active_silences(now_ms()).await?.iter().map(SilenceView::from).collect();
    Ok(Json(json!({ "silences": silences })))
}

/// Ends an active silence now.
async fn unsilence(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !is_silence_id(&id) || !state.store.end_silence(&id, now_ms()).await? {
        return Err(ApiError::not_found("no such active silence: see GET /api/v1/alerts/silences"));
    }
    netready_process::log::info("silence ended by hand", &[("silence_id", json!(id))]);
    Ok(StatusCode::NO_CONTENT)
}
