//! API errors: one place that maps every failure to a status code and a JSON body
//! `{"error": "<code>", "message": "<what was wrong and what is expected>"}`. Internals (SQL,
//! file paths) are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds the client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

/// The one place a storage failure becomes an answer: the caller's mistake is a 400 that says
/// it; data the plane cannot read back is its own failure (500); anything else is the database's
/// trouble (503, retry). Only the caller's mistake is sent; the rest is logged.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if let StoreError::InvalidInput(message) = err {
            return Self::bad_request(message);
        }
        netready_process::log::error("storage error", &[("error", serde_json::Value::String(err.to_string()))]);
        match err {
            StoreError::Corrupt(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the plane failed to answer; retry later",
            ),
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the database is unavailable; retry later",
            )
            .retry_after(5),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response();
        if let Some(v) = self.retry_after.and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"netready\""),
            );
        }
        response
    }
}

/// Every error under `/api/` as the documented JSON, whoever produced it: axum's own rejections
/// (a path that is not UTF-8, a query that does not parse) are plain text, an unknown path or a
/// wrong method have an empty body. Their status stays; their words become the message.
pub async fn json_api_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&bytes).trim().to_owned();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => {
            ("not_found", "no such API resource: the API is described at /api/v1/openapi.json".to_owned())
        }
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!(
                "this resource does not take that method{}",
                allow.as_ref().and_then(|a| a.to_str().ok()).map(|a| format!(": expected {a}")).unwrap_or_default()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", said),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", said),
        s if s.is_server_error() => ("internal_error", "the plane failed to answer; retry later".to_owned()),
        _ => ("bad_request", if said.is_empty() { "the request is malformed".to_owned() } else { said }),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}
