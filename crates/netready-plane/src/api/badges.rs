//! Status badges (SVG), as Gatus and CI systems offer: one per runner
//! (`/api/v1/runners/{id}/badge.svg`) and one for the whole fleet (`/api/v1/fleet/badge.svg`).
//!
//! Guarded like the API — the admin token or a dashboard session — or by a **badge token** in the
//! URL (`?token=…`), so that a badge can be an `<img>` in a wiki or a README, which sends no
//! header. A badge token is derived from the admin token (HMAC-SHA256 over the badge's subject),
//! so it needs no storage or configuration, reads one badge and nothing else, and stops working
//! when the admin token is rotated. The dashboard shows each badge's URL with its token.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::access::is_admin;
use crate::auth::constant_time_eq;
use crate::error::ApiError;
use crate::ids::hex;
use crate::readiness::{Readiness, readiness};
use crate::runners::known_id;
use crate::state::AppState;
use crate::time::now_ms;

/// How long a client or proxy may reuse a badge without asking again.
pub const BADGE_MAX_AGE_S: u64 = 60;

pub use crate::auth::{FLEET, badge_token};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runners/{id}/badge.svg", get(runner_badge))
        .route("/api/v1/fleet/badge.svg", get(fleet_badge))
}

#[derive(Debug, Default, Deserialize)]
pub struct BadgeQuery {
    pub token: Option<String>,
}

async fn allowed(state: &AppState, headers: &HeaderMap, query: &BadgeQuery, subject: &str) -> Result<(), ApiError> {
    if let Some(t) = &query.token
        && !(t.len() == 32 && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(ApiError::bad_request(
            "token is not a badge token: expected 32 lower-case hex digits, as in the badge's URL on the dashboard",
        ));
    }
    if is_admin(state, headers).await? {
        return Ok(());
    }
    match query.token.as_deref() {
        Some(token) if constant_time_eq(token.as_bytes(), badge_token(&state.admin_token, subject).as_bytes()) => {
            Ok(())
        }
        Some(_) => Err(ApiError::unauthorized("wrong badge token: copy the badge's URL from the dashboard")),
        None => Err(ApiError::unauthorized(
            "a badge needs the admin token ('Authorization: Bearer <NETREADY_ADMIN_TOKEN>') or its badge token \
             (?token=…, shown on the dashboard)",
        )),
    }
}

async fn runner_badge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<BadgeQuery>,
) -> Result<Response, ApiError> {
    let id = known_id(&id)?.to_owned();
    allowed(&state, &headers, &query, &id).await?;
    let row = state.store.runner_row(&id).await?.ok_or_else(|| ApiError::not_found(format!("no runner '{id}'")))?;
    let r = readiness(row.state.as_ref(), row.runner.created_at, now_ms(), state.ages());
    let name: String = row.runner.name.chars().take(40).collect();
    Ok(svg_response(&headers, &badge_svg(&name, r.as_str(), color(r))))
}

async fn fleet_badge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<BadgeQuery>,
) -> Result<Response, ApiError> {
    allowed(&state, &headers, &query, FLEET).await?;
    // Revoked runners stopped reporting on purpose: the fleet's badge is about the others.
    let (by_rank, _revoked) = state.store.readiness_counts(now_ms(), state.ages()).await?;
    let [degraded, never, stale, unknown, ready] = by_rank;
    let total: i64 = by_rank.iter().sum();
    let (value, r) = if degraded > 0 {
        (format!("{degraded} of {total} degraded"), Readiness::Degraded)
    } else if never > 0 {
        (format!("{never} of {total} never reported"), Readiness::NeverReported)
    } else if stale > 0 {
        (format!("{stale} of {total} stale"), Readiness::Stale)
    } else if ready > 0 && unknown == 0 {
        (format!("{ready} ready"), Readiness::Ready)
    } else if ready > 0 {
        (format!("{ready} ready, {unknown} unknown"), Readiness::Ready)
    } else {
        ("no reports".to_owned(), Readiness::Unknown)
    };
    Ok(svg_response(&headers, &badge_svg("netready fleet", &value, color(r))))
}

fn color(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "#1a7f37",
        Readiness::Degraded | Readiness::NeverReported => "#cf222e",
        Readiness::Stale => "#bf8700",
        Readiness::Unknown => "#6e7781",
    }
}

/// `image/svg+xml`, cacheable privately for a minute, with an ETag (a matching `If-None-Match`
/// is answered 304 without the body).
fn svg_response(headers: &HeaderMap, svg: &str) -> Response {
    use sha2::Digest;
    let etag = format!("\"{}\"", hex(&sha2::Sha256::digest(svg.as_bytes())[..12]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let cache = format!("private, max-age={BADGE_MAX_AGE_S}");
    let mut response = if matches { StatusCode::NOT_MODIFIED.into_response() } else { svg.to_owned().into_response() };
    let h = response.headers_mut();
    if !matches {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml; charset=utf-8"));
    }
    for (name, value) in [(header::CACHE_CONTROL, cache), (header::ETAG, etag)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A flat two-part badge: a grey label, a coloured value. Widths estimated for 11 px Verdana.
pub fn badge_svg(label: &str, value: &str, fill: &str) -> String {
    let width = |s: &str| {
        10 + s.chars().map(|c| if c.is_ascii_uppercase() || c == 'm' || c == 'w' { 9 } else { 7 }).sum::<usize>()
    };
    let (lw, vw) = (width(label), width(value));
    let total = lw + vw;
    let (label, value) = (escape(label), escape(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{fill}"/><rect width="{total}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_their_text_and_tokens_differ_by_subject() {
        let svg = badge_svg("a<b>&\"c", "ready", "#1a7f37");
        assert!(svg.contains("a&lt;b&gt;&amp;&quot;c") && !svg.contains("a<b>"), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        let (a, b) = (badge_token("admin", "rn-1"), badge_token("admin", "rn-2"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_ne!(a, badge_token("other admin", "rn-1"), "rotating the admin token rotates badge tokens");
    }
}
