//! The dashboard: server-rendered pages (no build step), behind the admin token. Every piece of
//! text from a report or a runner name goes through maud's escaping.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use netready_check::Report;
use serde::Deserialize;

use crate::access::{SESSION_COOKIE, SESSION_TTL_MS, is_admin, session_cookie};
use crate::auth::constant_time_eq;
use crate::error::ApiError;
use crate::readiness::{DegradedEndpoint, Readiness};
use crate::runners::{self, ListRequest, RunnerListing};
use crate::runners::{readiness_filter, search_text};
use crate::state::AppState;
use crate::time::now_ms;
use crate::time::rfc3339_ms as rfc3339;

mod alerts;
pub mod layout;

use layout::{badge, page, unauthorized_redirect, when};

/// How many runners one list page shows.
const PAGE_SIZE: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/dashboard", get(list_page))
        .route("/dashboard/fleet", get(fleet_page))
        .route("/dashboard/runners/{id}", get(details_page))
        .route("/dashboard/alerts", get(alerts::alerts_page))
}

/// What to do about a runner that never reported: its task most likely never started, because the
/// image pull, the secret fetch or the log stream needs the very endpoints the agent checks.
fn never_reported_help(compact: bool) -> Markup {
    let diagnose = "netready diagnose --task-arn <the stopped task's ARN>";
    let find = "aws ecs list-tasks --cluster <cluster> --service-name <service> --desired-status STOPPED";
    html! {
        @if compact {
            span class="muted never-reported-help" { "never reported: run " code { (diagnose) } }
        } @else {
            div class="never-reported-help" {
                p { "This runner was registered but never reported: its task most likely never started \
                     (ResourceInitializationError or CannotPullContainerError: the image pull, the secret \
                     or the log stream needs the same VPC endpoints the agent checks)." }
                p { "Find the stopped task with " code { (find) } ", then run, with AWS credentials:" }
                pre { (diagnose) }
                p class="muted" { "It reads the task's subnet, route table, security groups and VPC endpoints \
                     and says which of them blocks the start." }
            }
        }
    }
}

async fn login_page() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Log in — netready" } style { (PreEscaped(layout::STYLE)) } }
            body { main {
                h1 { "netready" }
                form method="post" action="/login" {
                    label { "Admin token " input type="password" name="token" autofocus; }
                    " " button type="submit" { "Log in" }
                }
            } }
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    if let Some(wait_s) = state.logins.blocked(client, now) {
        let body =
            page("Log in", html! { p { "Too many failed logins from this address. Try again in " (wait_s) " s." } });
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait_s.to_string())], body).into_response());
    }
    if !constant_time_eq(form.token.as_bytes(), state.admin_token.as_bytes()) {
        state.logins.failed(client, now);
        netready_process::log::warn(
            "dashboard login failed",
            &[("client", serde_json::json!(client.map(|c| c.to_string())))],
        );
        return Ok((
            StatusCode::UNAUTHORIZED,
            page("Log in", html! { p { "Wrong admin token. " a href="/login" { "Try again" } } }),
        )
            .into_response());
    }
    state.logins.succeeded(client);
    let id = crate::auth::new_session_id();
    state.store.create_session(&crate::auth::token_hash(&id), now, now + SESSION_TTL_MS).await?;
    let secure = if state.https || forwarded_https(&headers) { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", SESSION_TTL_MS / 1000);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/dashboard")).into_response())
}

/// Whether a TLS-terminating load balancer in front says the client spoke HTTPS.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(id) = session_cookie(&headers).filter(|id| !id.is_empty()) {
        state.store.delete_session(&crate::auth::token_hash(&id)).await?;
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

/// The client's address, when the server knows it (`plane serve` records the TCP peer of every
/// connection): behind a trusted proxy (`--trusted-proxy`), the right-most address in
/// `X-Forwarded-For` that is not a trusted proxy (see [`crate::proxy`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientIp(peer.map(|peer| state.trusted_proxies.client(peer, forwarded))))
    }
}

#[derive(Debug, Deserialize)]
struct ListParams {
    readiness: Option<String>,
    q: Option<String>,
    page: Option<usize>,
}

async fn list_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    if !is_admin(&state, &headers).await? {
        return Ok(unauthorized_redirect());
    }
    let page_no = params.page.unwrap_or(1).max(1);
    let request = ListRequest {
        readiness: readiness_filter(params.readiness.as_deref())?,
        text: search_text(params.q.as_deref())?,
        limit: PAGE_SIZE as i64,
        offset: i64::try_from((page_no - 1).saturating_mul(PAGE_SIZE)).unwrap_or(i64::MAX),
    };
    let list = runners::list(&state, &request).await?;
    let pages = (list.count as usize).div_ceil(PAGE_SIZE).max(1);
    let shown: &[RunnerListing] = &list.runners;
    let selected = params.readiness.clone().unwrap_or_default();
    let now = now_ms();
    // Uptime and the recent checks, for this page's runners only: two queries.
    let ids: Vec<&str> = shown.iter().map(|r| r.id.as_str()).collect();
    let uptime: std::collections::HashMap<String, crate::db::Uptime> = state
        .store
        .uptime(&ids, now - DAY_MS, now - 7 * DAY_MS)
        .await?
        .into_iter()
        .map(|u| (u.runner_id.clone(), u))
        .collect();
    let mut recent: std::collections::HashMap<String, Vec<(i64, String)>> = std::collections::HashMap::new();
    for (id, at, status) in state.store.recent_statuses(&ids, now - TIMELINE_MS).await? {
        recent.entry(id).or_default().push((at, status));
    }
    let body = html! {
        div id="content" {
            h1 { "Runners" }
            form class="filters" method="get" action="/dashboard" {
                input type="search" name="q" placeholder="Filter by name or id" value=(params.q.clone().unwrap_or_default());
                select name="readiness" {
                    option value="" selected[selected.is_empty()] { "All" }
                    @for r in Readiness::ALL.map(Readiness::as_str) {
                        option value=(r) selected[selected == r] { (r) }
                    }
                }
                button type="submit" { "Filter" }
                a href="/dashboard/fleet" { "Fleet view →" }
            }
            p class="muted" {
                (list.count) " runners"
                @for (name, n) in &list.counts { " · " (n) " " (name) }
                " · page " (page_no) " of " (pages) " · updated " (when(now, now))
            }
            (timeline_legend("Last 2 h of checks, oldest first:"))
            table id="runners" class="cards" {
                thead { tr {
                    th { "Runner" } th { "Readiness" } th { "Last check" } th { "Degraded endpoints" }
                    th { "Recent checks" } th { "Uptime 24 h" } th { "Uptime 7 d" }
                } }
                tbody {
                    @for r in shown {
                        tr data-readiness=(r.readiness.as_str()) {
                            td class="wrap" { a href={"/dashboard/runners/" (r.id)} { (r.name) } br; span class="muted" { (r.id) @if r.revoked { " · revoked" } } }
                            td data-label="Readiness" { (badge(r.readiness.as_str())) }
                            td data-label="Last check" class="last-check" {
                                @match r.last_checked_at.as_deref().and_then(parse_ms) {
                                    Some(at) => (when(at, now)),
                                    None => "never",
                                }
                            }
                            td data-label="Degraded" class="degraded-endpoints" {
                                @if r.readiness == Readiness::NeverReported { (never_reported_help(true)) }
                                @else { (endpoint_pills(&r.degraded_endpoints)) }
                            }
                            td data-label="Recent" {
                                div class="timeline mini" {
                                    @for (at, status) in recent.get(&r.id).map(|v| &v[v.len().saturating_sub(TIMELINE_CHECKS)..]).unwrap_or(&[]) {
                                        span class=(status) title={(rfc3339(*at)) ": " (status)} {}
                                    }
                                }
                            }
                            td data-label="24 h" class="uptime-day" { (uptime_cell(uptime.get(&r.id).map(|u| u.day))) }
                            td data-label="7 d" class="uptime-week" { (uptime_cell(uptime.get(&r.id).map(|u| u.week))) }
                        }
                    }
                }
            }
            @if pages > 1 {
                p {
                    @for p in 1..=pages {
                        @if p == page_no { b { (p) } " " } @else {
                            a href={"/dashboard?page=" (p) "&readiness=" (selected) "&q=" (urlencode(params.q.as_deref().unwrap_or("")))} { (p) } " "
                        }
                    }
                }
            }
        }
    };
    Ok(page("Runners", body).into_response())
}

async fn fleet_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<crate::fleet::FleetQuery>,
) -> Result<Response, ApiError> {
    if !is_admin(&state, &headers).await? {
        return Ok(unauthorized_redirect());
    }
    let fleet = match crate::fleet::fleet(&state, &query).await {
        Ok(f) => f,
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let body = html! { p { (e.message) } p { a href="/dashboard/fleet" { "The whole fleet" } } };
            return Ok((StatusCode::BAD_REQUEST, page("Fleet", body)).into_response());
        }
        Err(e) => return Err(e),
    };
    let now = now_ms();
    let badge_url =
        format!("/api/v1/fleet/badge.svg?token={}", crate::auth::badge_token(&state.admin_token, crate::auth::FLEET));
    let service = query.service.clone().unwrap_or_default();
    let r = &fleet.runners;
    let body = html! {
        div id="content" {
            p { a href="/dashboard" { "← Runners" } }
            h1 { "Fleet" }
            form class="filters" method="get" action="/dashboard/fleet" {
                select name="service" {
                    option value="" selected[service.is_empty()] { "All services" }
                    @for s in crate::fleet::SERVICES.map(|s| s.as_str()) { option value=(s) selected[service == s] { (s) } }
                }
                input type="search" name="region" placeholder="Region, e.g. eu-west-3" value=(query.region.clone().unwrap_or_default());
                label { input type="checkbox" name="include_stale" value="true" checked[fleet.include_stale]; " count stale runners" }
                button type="submit" { "Filter" }
            }
            p class="muted" id="fleet-counts" {
                (r.total) " runners · " (r.degraded) " degraded · " (r.stale) " stale"
                @if !fleet.include_stale { " (not counted below)" }
                " · " (r.never_reported) " never reported · updated " (when(now, now))
            }
            h2 { "What is broken, and what the broken runners share" }
            @if fleet.causes.is_empty() {
                p id="no-causes" { "Every counted runner reaches every service fully." }
            }
            div id="causes" {
                @for c in &fleet.causes {
                    div class={"cause " (c.reachability.as_str())} data-service=(c.service.as_str()) {
                        p class="line" { (c.summary) }
                        p class="muted" {
                            "region " (c.region) " · access type " (c.access_type.as_str())
                            @if let Some(a) = &c.account_id { " · account " (a) }
                            @if let Some(v) = &c.vpc_id { " · " (v) }
                            @if let Some(f) = &c.finding { " · finding " code { (f) } }
                        }
                        @if let Some(h) = &c.hint { p class="hint" { "Hint: " (h) } }
                        @if c.groups.len() > 1 || c.subnet_cidr.is_none() {
                            div class="scroll" { table class="groups" {
                                thead { tr { th { "Runners" } th { "Subnet" } th { "Zone" } th { "VPC" } th { "Account" } } }
                                tbody {
                                    @for g in &c.groups {
                                        tr {
                                            td { (g.runners) }
                                            td { (g.subnet_cidr.as_deref().unwrap_or("not reported")) }
                                            td { (g.availability_zone.as_deref().unwrap_or("not reported")) }
                                            td { (g.vpc_id.as_deref().unwrap_or("not read (no AWS API)")) }
                                            td { (g.account_id.as_deref().unwrap_or("not reported")) }
                                        }
                                    }
                                }
                            } }
                        }
                    }
                }
            }
            h2 { "Services by region" }
            div class="scroll" { table id="services" {
                thead { tr { th { "Service" } th { "Region" } th { "Runners" } th { "Full" } th { "Partly" } th { "Not" } th { "By access type" } } }
                tbody {
                    @for s in &fleet.services {
                        tr data-service=(s.service.as_str()) {
                            td { (s.service.as_str()) } td { (s.region) } td { (s.counts.runners) }
                            td { (s.counts.full) } td { (s.counts.partial) } td { (s.counts.none) }
                            td {
                                @for a in &s.by_access_type {
                                    div class="nowrap" {
                                        (a.access_type.as_str()) ": "
                                        @if a.counts.full > 0 { span class="badge full" { (a.counts.full) " full" } " " }
                                        @if a.counts.partial > 0 { span class="badge partial" { (a.counts.partial) " partly" } " " }
                                        @if a.counts.none > 0 { span class="badge none" { (a.counts.none) " not" } " " }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            h2 { "Badge" }
            p {
                img src=(badge_url) alt="netready fleet status";
                br;
                span class="muted" { "For a wiki or README (reads this badge only; changes with the admin token): " }
                code class="url" id="fleet-badge-url" { (badge_url) }
            }
        }
    };
    Ok(page("Fleet", body).into_response())
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// The list's strip of recent checks: the last two hours, at most this many checks.
const TIMELINE_MS: i64 = 2 * 3600 * 1000;
const TIMELINE_CHECKS: usize = 24;

/// Milliseconds since the epoch of an RFC 3339 time.
fn parse_ms(t: &str) -> Option<i64> {
    humantime::parse_rfc3339(t)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

/// The degraded endpoints as the details page shows reachability: a coloured pill each.
fn endpoint_pills(endpoints: &[DegradedEndpoint]) -> Markup {
    html! {
        @for e in endpoints {
            @let reach = e.reachability.as_str();
            span class={"badge " (reach)} title={(e.host) " · " (e.access_type.as_str()) " · " (reach)} {
                (e.service.as_str()) " " (reach)
            }
            " "
        }
    }
}

/// What the timeline's colours mean.
fn timeline_legend(caption: &str) -> Markup {
    html! {
        div class="legend muted" {
            span { (caption) }
            @let (ready, degraded) = (netready_check::Status::Ready.as_str(), netready_check::Status::Degraded.as_str());
            span { i class=(ready) {} (ready) }
            span { i class=(degraded) {} (degraded) " (an endpoint not fully reachable)" }
            span { "gaps: no check" }
        }
    }
}

/// "99.3 %" of (ready, all) checks, the counts on hover; "—" without checks.
fn uptime_cell(counts: Option<(i64, i64)>) -> Markup {
    match counts {
        Some((ready, all)) if all > 0 => {
            let share = ready as f64 * 100.0 / all as f64;
            let text = match ready {
                r if r == all => "100 %".to_owned(),
                0 => "0 %".to_owned(),
                // Rounded down: 99.96 % is not 100 %.
                _ => format!("{:.1} %", (share * 10.0).floor() / 10.0),
            };
            html! { span title={(ready) " of " (all) " checks ready"} { (text) } }
        }
        _ => html! { span class="muted" title="no checks in this period" { "—" } },
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn details_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_admin(&state, &headers).await? {
        return Ok(unauthorized_redirect());
    }
    let found = match crate::runner_id::RunnerId::parse(&id) {
        Ok(id) => runners::details(&state, &id).await?,
        Err(_) => None,
    };
    let Some(details) = found else {
        return Ok(
            (StatusCode::NOT_FOUND, page("Not found", html! { p { "No runner " code { (id) } "." } })).into_response()
        );
    };
    // Stored reports were validated at ingest; an older version is read as the newest.
    let report: Option<Report> = details.report();
    let summary = details.summary;
    let changes = state.store.changes(&id, 50).await?;
    let recent = state.store.recent_reports(&id, 96).await?;
    let body = html! {
        div id="content" {
            p { a href="/dashboard" { "← Runners" } }
            h1 { (summary.name) " " (badge(summary.readiness.as_str())) }
            p class="muted" {
                "id " code { (summary.id) }
                " · last check " (summary.last_checked_at.clone().unwrap_or_else(|| "never".into()))
                " · last received " (summary.last_received_at.clone().unwrap_or_else(|| "never".into()))
                @if summary.revoked { " · token revoked" }
            }
            h2 { "Fargate network readiness" }
            @match &report {
                None if summary.readiness == Readiness::NeverReported => (never_reported_help(false)),
                None => p { "No report yet." },
                Some(report) => (readiness_table(report)),
            }
            @let badge_url = format!("/api/v1/runners/{}/badge.svg?token={}", summary.id, crate::auth::badge_token(&state.admin_token, &summary.id));
            p {
                img src=(badge_url) alt="status badge";
                " " span class="muted" { "Badge URL (reads this badge only): " } code class="url badge-url" { (badge_url) }
            }
            h2 { "Status history" }
            (timeline_legend("Recent reports, oldest first:"))
            div class="timeline" title="Recent reports, oldest first" {
                @for r in recent.iter().rev() {
                    span class=(r.status.as_str()) title={(r.checked_at) ": " (r.status.as_str())} {}
                }
            }
            table id="history" {
                thead { tr { th { "When" } th { "From" } th { "To" } } }
                tbody {
                    @for c in &changes {
                        tr { td { (rfc3339(c.at_ms)) } td { (c.from_status.map_or("—", |s| s.as_str())) } td { (badge(c.to_status.as_str())) } }
                    }
                }
            }
        }
    };
    Ok(page(&summary.name, body).into_response())
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

fn readiness_table(report: &Report) -> Markup {
    let task = &report.task;
    html! {
        p class="muted" {
            "checked " (report.checked_at) " in " (report.duration_ms) " ms · region " (task.region)
            " · task " (opt(&task.private_ipv4)) " in " (opt(&task.subnet_cidr))
            @if let Some(v6) = &task.private_ipv6 { " · " (v6) }
            " · public IP " (match task.public_ip.assigned { Some(true) => "yes", Some(false) => "no", None => "unknown" })
            " (" (task.public_ip.source.as_str()) ")"
            " · " (if report.probe.tls { "TCP + TLS" } else { "TCP only" })
            @if report.schema_version == 1 { " · report version 1 (no TLS phase)" }
            @if report.schema_version == 2 { " · report version 2 (no AWS API diagnosis)" }
            @if let Some(d) = &report.diagnosis { " · aws api " (d.status.as_str()) " (" (d.mode.as_str()) ")" }
            @if report.proxy.configured { " · proxy variables set (bypassed)" }
        }
        div class="scroll" { table id="readiness" {
            thead { tr {
                th { "Service" } th { "Host" } th { "Access type" } th { "Route" } th { "Reachability" } th { "Addresses" }
                th { "DNS" } th { "TCP" } th { "TLS" } th { "Errors and hints" }
            } }
            tbody {
                @for e in &report.endpoints {
                    tr data-service=(e.service.as_str()) {
                        td { (e.service.as_str()) }
                        td { code { (e.host) ":" (e.port) } }
                        td { (e.access_type.as_str()) }
                        td class="route" { (address_routes(e)) }
                        td { (badge(e.reachability.as_str())) }
                        td {
                            @for a in &e.dns.addresses {
                                (a.ip) " " span class="muted" { (a.scope.as_str()) @if !a.dialled { ", not dialled" } } br;
                            }
                        }
                        td { (badge(e.dns.outcome.as_str())) " " (e.dns.duration_ms) " ms" }
                        td {
                            @for c in &e.connections {
                                span class="nowrap" { (c.ip) " " (badge(c.tcp.outcome.as_str())) " " (c.tcp.duration_ms) " ms" } br;
                            }
                        }
                        td class="tls" {
                            @for c in &e.connections {
                                @match &c.tls {
                                    Some(t) => {
                                        span class="nowrap" title=(t.certificate.as_ref().map(|c| format!("subject {}; issuer {}; expires {}", c.subject, c.issuer, c.not_after)).unwrap_or_default()) {
                                            (badge(t.outcome.as_str())) " " (t.version.as_deref().unwrap_or("")) " " (t.duration_ms) " ms"
                                        }
                                        br;
                                    }
                                    None => { span class="muted" { "—" } br; }
                                }
                            }
                        }
                        td {
                            @if let Some(err) = e.dns.outcome.error() { div { "DNS: " (err) } }
                            @for c in &e.connections {
                                @if let Some((phase, _, err)) = c.failure() { div { (c.ip) " " (phase) ": " (err) } }
                            }
                            ul class="hints" {
                                @for h in &e.hints { li { (h) } }
                            }
                        }
                    }
                }
            }
        } }
        @if let Some(d) = &report.diagnosis { (diagnosis(d)) }
        @if !report.warnings.is_empty() {
            h3 { "Warnings" }
            ul { @for x in &report.warnings { li { (x) } } }
        }
    }
}

/// Each dialled address's route and the access type it shows (version 3, with the route table).
fn address_routes(e: &netready_check::report::EndpointReport) -> Markup {
    let several = e.connections.len() > 1;
    html! {
        @for c in &e.connections {
            @match (&c.route, c.access_type) {
                (Some(r), access) => {
                    div title=(format!("{}: route table {}, target type {}", c.ip, r.route_table_id, r.target_type.as_str())) {
                        @if several { span class="muted" { (c.ip) } " " }
                        code { (r.destination) " → " (r.target_id) }
                        @if r.blackhole() { " " (badge("blackhole")) }
                        @if let Some(a) = access.filter(|a| *a != e.access_type) { " " span class="muted" { (a.as_str()) } }
                    }
                }
                (None, Some(_)) => { div { @if several { span class="muted" { (c.ip) } " " } "no route" } }
                (None, None) => {}
            }
        }
    }
}

/// What the AWS APIs said about the task's network: the network read, and the findings.
fn diagnosis(d: &netready_check::report::DiagnosisReport) -> Markup {
    html! {
        h3 { "Findings" }
        p class="muted" id="diagnosis" {
            "aws api " (d.status.as_str()) " (" (d.mode.as_str()) ")"
            @if let Some(note) = &d.note { ": " (note) }
            @if let Some(n) = &d.network {
                " · " (n.eni_id) " in " (n.subnet_id) ", " (n.vpc_id)
                " · route table " (n.route_table_id.as_deref().unwrap_or("not read"))
                " · network ACL " (n.network_acl_id.as_deref().unwrap_or("not read"))
                " · " (n.vpc_endpoints.len()) " VPC endpoints"
            }
            @if let Some(at) = &d.read_at { " · read " (at) }
        }
        @if d.findings.is_empty() {
            p { "No findings." }
        } @else {
            div class="scroll" { table id="findings" {
                thead { tr { th { "Severity" } th { "Finding" } th { "Endpoints" } th { "What is wrong" } th { "Remedy" } } }
                tbody {
                    @for f in &d.findings {
                        tr data-finding=(f.id) {
                            td { (badge(f.severity.as_str())) }
                            td { code { (f.id) } @for r in &f.resources { br; span class="muted" { (r) } } }
                            td { @for (i, e) in f.endpoints.iter().enumerate() { @if i > 0 { ", " } (e.as_str()) } }
                            td {
                                (f.message)
                                @if !f.addresses.is_empty() {
                                    " " span class="muted" { "(" @for (i, a) in f.addresses.iter().enumerate() { @if i > 0 { ", " } (a) } ")" }
                                }
                            }
                            td { (f.remedy) }
                        }
                    }
                }
            } }
        }
    }
}
