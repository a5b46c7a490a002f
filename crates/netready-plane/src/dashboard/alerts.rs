//! The alerts page: the channels (never a secret) and the newest notifications with their
//! delivery state, so that "why did nobody tell me?" has an answer on the dashboard.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{page, unauthorized_redirect, when};
use crate::access::is_admin;
use crate::alerts::channels::ChannelView;
use crate::db::alerts::DeliveryState;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339_ms};

/// How many notifications the page lists.
const SHOWN: i64 = 100;

/// "in 3 s" (or "now" once due), with the exact time on hover.
fn until(at_ms: i64, now_ms: i64) -> maud::Markup {
    let s = (at_ms - now_ms).max(0) / 1000;
    let text = match s {
        0 => "now".to_owned(),
        1..=59 => format!("in {s} s"),
        60..=3599 => format!("in {} min", s / 60),
        _ => format!("in {} h", s / 3600),
    };
    html! { time datetime=(rfc3339_ms(at_ms)) title=(rfc3339_ms(at_ms)) { (text) } }
}

/// What a channel is told of, in words.
fn told_of(c: &ChannelView) -> String {
    let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
    let kinds =
        if kinds.len() == crate::alerts::Kind::ALL.len() { "every change".to_owned() } else { kinds.join(", ") };
    match &c.runners {
        None => format!("{kinds} of every runner"),
        Some(p) => format!("{kinds} of runners {p}"),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct AlertsQuery {
    /// Only the notifications in this state; anything else shows them all.
    state: Option<String>,
}

pub(super) async fn alerts_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, ApiError> {
    if !is_admin(&state, &headers).await? {
        return Ok(unauthorized_redirect());
    }
    let channels: Vec<ChannelView> = state.store.alert_channels().await?.iter().map(ChannelView::from).collect();
    let names: std::collections::BTreeMap<&str, &str> =
        channels.iter().map(|c| (c.id.as_str(), c.name.as_str())).collect();
    let counts = state.store.alert_counts().await?;
    let only = q.state.as_deref().and_then(DeliveryState::parse);
    let rows = state.store.alert_deliveries(SHOWN, only).await?;
    let now = now_ms();
    let silences = state.store.active_silences(now).await?;
    let body = html! {
        div id="content" {
            h1 { "Alerts" }
            p class="muted" id="states" {
                @for s in DeliveryState::ALL {
                    @if only == Some(s) {
                        strong { (counts.of(s)) " " (s.as_str()) }
                    } @else {
                        a href={"/dashboard/alerts?state=" (s.as_str())} { (counts.of(s)) " " (s.as_str()) }
                    }
                    " · "
                }
                @if only.is_some() { a href="/dashboard/alerts" { "all" } " · " }
                "updated " (rfc3339_ms(now))
            }
            h2 { "Channels" }
            @if channels.is_empty() {
                p { "No channel: add one with " code { "netready plane alert add" } " or " code { "POST /api/v1/alerts/channels" } "." }
            } @else {
                table id="channels" class="cards" {
                    thead { tr { th { "Channel" } th { "Kind" } th { "Told of" } th { "URL" } th { "Created" } } }
                    tbody {
                        @for c in &channels {
                            tr {
                                td { (c.name) br; span class="muted" { (c.id) } }
                                td data-label="Kind" { (c.kind.as_str()) }
                                td data-label="Told of" { (told_of(c)) }
                                td data-label="URL" { code { (c.url) } }
                                td data-label="Created" { (c.created_at) }
                            }
                        }
                    }
                }
            }
            h2 { "Silences" }
            @if silences.is_empty() {
                p id="silences" { "No silence: every change is announced. Start one with " code { "netready plane alert silence" } " or " code { "POST /api/v1/alerts/silences" } "." }
            } @else {
                table id="silences" class="cards" {
                    thead { tr { th { "Runners" } th { "Reason" } th { "Ends" } th { "Id" } } }
                    tbody {
                        @for s in &silences {
                            tr {
                                td { code { (s.runners) } }
                                td data-label="Reason" { (s.reason) }
                                td data-label="Ends" { (until(s.ends_at, now)) }
                                td data-label="Id" { span class="muted" { (s.id) } }
                            }
                        }
                    }
                }
            }
            h2 {
                "Notifications"
                @if let Some(s) = only { ": " (s.as_str()) }
            }
            table id="notifications" class="cards" {
                thead { tr { th { "Created" } th { "Runner" } th { "Kind" } th { "Channel" } th { "Delivery" } } }
                tbody {
                    @for d in &rows {
                        @let state_name = d.state().as_str();
                        @let class = match d.state() {
                            DeliveryState::Delivered => "ok",
                            DeliveryState::Failing | DeliveryState::Expired => "error",
                            DeliveryState::Pending => "stale",
                        };
                        tr data-state=(state_name) {
                            td class="nowrap" data-label="Created" { (when(d.created_at, now)) }
                            td data-label="Runner" {
                                a href={"/dashboard/runners/" (d.runner_id)} { (d.runner_name.as_deref().unwrap_or(&d.runner_id)) }
                                br; span class="muted" { (d.runner_id) }
                            }
                            td data-label="Kind" { (d.kind.as_str()) }
                            td data-label="Channel" { (names.get(d.channel_id.as_str()).copied().unwrap_or(d.channel_id.as_str())) }
                            td {
                                span class={"badge " (class)} { (state_name) }
                                " " span class="muted" {
                                    (d.attempts) " attempt(s)"
                                    @if let Some(at) = d.delivered_at { " · " (when(at, now)) }
                                    @else if let Some(at) = d.expired_at { " · given up " (when(at, now)) }
                                    @else { " · next " (until(d.next_attempt_at, now)) }
                                }
                                @if let Some(e) = &d.last_error { br; span class="muted" { (e) } }
                                br; span class="muted" { "key " (d.id) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Alerts", body).into_response())
}
