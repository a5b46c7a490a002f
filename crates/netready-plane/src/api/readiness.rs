//! `POST /api/v1/runners/{id}/network-readiness`: a runner reports its newest check.
//!
//! The runner's own token, a JSON body within the size limit, a report that validates against
//! the schema of an accepted `schema_version`. A 2xx means the report is committed. The same
//! `checked_at` twice is one report (the second answer says `duplicate`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use netready_check::Report;
use netready_check::report::ReadError;
use serde_json::{Value, json};

use crate::access::RunnerAuth;
use crate::db::{NewReport, Stored};
use crate::error::ApiError;
use crate::readiness::DegradedEndpoint;
use crate::state::AppState;
use crate::time::now_ms;

/// The report versions the plane accepts.
pub const ACCEPTED_SCHEMA_VERSIONS: [u32; 4] = netready_check::report::READABLE_VERSIONS;

/// How far in the future a report's `checked_at` may be (clock skew).
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/runners/{id}/network-readiness", post(ingest))
}

async fn ingest(
    RunnerAuth(runner): RunnerAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let metrics = state.metrics.clone();
    match receive(state, runner, id, headers, body).await {
        Ok((code, duplicate, checked_at)) => {
            metrics.accepted(if duplicate { "duplicate" } else { "created" });
            (code, Json(json!({ "stored": true, "duplicate": duplicate, "checked_at": checked_at }))).into_response()
        }
        Err(e) => {
            metrics.rejected(e.code);
            e.into_response()
        }
    }
}

/// Reads, validates and stores one report of an authenticated runner: (status, duplicate,
/// checked_at).
async fn receive(
    state: AppState,
    runner: crate::db::Runner,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, bool, String), ApiError> {
    // Who: the runner's token (checked by the extractor), and only for its own id.
    if runner.id != id {
        return Err(ApiError::forbidden("a runner token can only report for its own runner id"));
    }
    // How much: one runner cannot flood the plane, and only so many bodies are held at once.
    state.rate.take(&runner.id, now_ms()).map_err(crate::limits::too_many)?;
    let _permit = state.bodies.acquire().await.map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the plane is stopping; retry later")
            .retry_after(5)
    })?;

    // What: JSON, within the limit.
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got '{content_type}'"),
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the report exceeds the limit of {} bytes", state.body_limit),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.body_limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, state.body_limit).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large()
        } else {
            ApiError::bad_request(format!("the body could not be read ({e}): expected one complete JSON report"))
        }
    })?;

    let new = validate(&bytes, &state.schemas, &id, now_ms(), state.max_age_ms)?;
    let checked_at = new.checked_at.clone();
    let stored = state.store.store_report(new).await?;
    Ok(match stored {
        Stored::Created => (StatusCode::CREATED, false, checked_at),
        Stored::Duplicate => (StatusCode::OK, true, checked_at),
    })
}

/// Whether reading a body failed because it is over the limit (rather than cut short or badly chunked).
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Checks a report body and prepares it for storage. Pure: every rejection is a 4xx that says
/// what was wrong. The body is parsed once: JSON, its version, its JSON Schema, then the typed
/// report (one dispatch by version), from which everything stored is taken.
pub fn validate(
    bytes: &[u8],
    schemas: &crate::state::Schemas,
    runner_id: &str,
    now_ms: i64,
    max_age_ms: i64,
) -> Result<NewReport, ApiError> {
    let (version, value) = versioned(bytes)?;
    matches_schema(schemas, version, &value)?;
    let fingerprint = fingerprint(&value);
    let (report, body) = typed(value)?;
    let checked_at_ms = checked_at_ms(&report, now_ms, max_age_ms)?;
    status_agrees(&report)?;
    // The report's identity is its instant, in one spelling: ...903Z and ...9030Z are one report.
    let canonical = crate::time::rfc3339_ms(checked_at_ms);
    let degraded: Vec<DegradedEndpoint> = report.degraded_endpoints().map(DegradedEndpoint::of).collect();
    let (placement, endpoints) = crate::fleet::facts(&report);
    Ok(NewReport {
        placement,
        endpoints,
        runner_id: runner_id.to_owned(),
        checked_at: canonical,
        checked_at_ms,
        status: report.status,
        degraded,
        fingerprint,
        summary: summary(&report),
        body,
    })
}

/// The body as JSON (integers as integers) and its accepted `schema_version`.
fn versioned(bytes: &[u8]) -> Result<(u32, Value), ApiError> {
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    integral_numbers(&mut value);
    let accepted = format!("{ACCEPTED_SCHEMA_VERSIONS:?}");
    let said = match Report::version_of(&value) {
        Ok(version) => return Ok((version, value)),
        Err(ReadError::UnknownVersion(v)) => {
            format!("schema_version {v} is not accepted; accepted versions: {accepted}")
        }
        Err(_) => format!("the report has no schema_version; accepted versions: {accepted}"),
    };
    Err(ApiError::unprocessable("unsupported_schema_version", said))
}

/// The report against its version's JSON Schema; the first five problems, with where.
fn matches_schema(schemas: &crate::state::Schemas, version: u32, value: &Value) -> Result<(), ApiError> {
    let schema = schemas.for_version(version).ok_or_else(|| {
        ApiError::unprocessable("unsupported_schema_version", format!("no schema for version {version}"))
    })?;
    // Most reports are valid: the fast yes/no first, the errors (which cost more) only for a no.
    if schema.is_valid(value) {
        return Ok(());
    }
    let problems: Vec<String> = schema
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("at {}: {e}", if path.is_empty() { "/" } else { &path })
        })
        .collect();
    Err(ApiError::unprocessable(
        "invalid_report",
        format!("the report does not match schema version {version}: {}", problems.join("; ")),
    ))
}

/// The typed report (an older version read as the newest) and the body to store as its version
/// defines it, through the check's one dispatch by version ([`Report::read`]) — fields this plane
/// does not know are dropped (the forward-compatibility rule: consumers ignore unknown fields, and
/// the plane does not keep what it cannot serve back with meaning).
fn typed(value: Value) -> Result<(Report, String), ApiError> {
    let versioned = Report::read(value).map_err(|e| match e {
        ReadError::Shape { .. } => ApiError::unprocessable("invalid_report", e.to_string()),
        _ => ApiError::unprocessable("unsupported_schema_version", e.to_string()),
    })?;
    let body = versioned.to_json();
    Ok((versioned.into_report(), body))
}

/// `checked_at` in ms: an RFC 3339 UTC time, not far in the future, not older than the retention.
fn checked_at_ms(report: &Report, now_ms: i64, max_age_ms: i64) -> Result<i64, ApiError> {
    let checked_at_ms = humantime::parse_rfc3339(&report.checked_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_report",
                format!(
                    "checked_at '{}' is not an RFC 3339 UTC time such as 2026-11-26T13:27:11.123Z",
                    report.checked_at
                ),
            )
        })?;
    if checked_at_ms > now_ms + MAX_FUTURE_MS {
        return Err(ApiError::unprocessable(
            "invalid_report",
            format!(
                "checked_at '{}' is more than 10 minutes in the future: check the runner's clock",
                report.checked_at
            ),
        ));
    }
    if checked_at_ms < now_ms.saturating_sub(max_age_ms) {
        return Err(ApiError::unprocessable(
            "invalid_report",
            format!(
                "checked_at '{}' is older than the plane's retention ({}): such a report would be pruned at once",
                report.checked_at,
                humantime::format_duration(std::time::Duration::from_millis(max_age_ms.max(0) as u64))
            ),
        ));
    }
    Ok(checked_at_ms)
}

/// A report is ready exactly when every endpoint's reachability is full.
fn status_agrees(report: &Report) -> Result<(), ApiError> {
    if Report::decide(&report.endpoints) == report.status {
        return Ok(());
    }
    let not_full: Vec<String> = report
        .degraded_endpoints()
        .map(|e| format!("{} is at reachability {}", e.service, e.reachability.as_str()))
        .collect();
    Err(ApiError::unprocessable(
        "invalid_report",
        format!(
            "status '{}' contradicts the endpoints ({}): a report is ready exactly when every endpoint's \
             reachability is full",
            report.status.as_str(),
            if not_full.is_empty() { "every endpoint is full".to_owned() } else { not_full.join(", ") }
        ),
    ))
}

/// JSON Schema 2020-12 counts `3.0` as the integer 3 (a number with a zero fractional part), so a
/// report that writes its integers so is valid; serde's integer types refuse it. Such numbers
/// become integers before anything reads the report, so the plane accepts what its schema does,
/// and stores and fingerprints one spelling. (No report field is a fractional number.)
pub fn integral_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // 2^64 and -2^63 are exact as f64; the integers between them fit.
            if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                *value = Value::from(f as u64);
            } else if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(members) => members.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// What identifies a report but for its timings (and the order DNS gave addresses in): two
/// reports with the same fingerprint describe the same network. 16 hex digits of SHA-256 over the
/// report as received, without the members that time it (`checked_at`, every `duration_ms` and
/// `budget_ms`, and the diagnosis's `read_at`: the agent reads the network every few minutes, and
/// when is not what), the elements of `addresses` and `connections` in a fixed order. Read from the
/// parsed JSON without copying it: this runs for every report.
pub fn fingerprint(report: &Value) -> String {
    use sha2::{Digest, Sha256};
    const TIMINGS: [&str; 4] = ["checked_at", "duration_ms", "budget_ms", "read_at"];
    const UNORDERED: [&str; 2] = ["addresses", "connections"];

    fn feed(h: &mut Sha256, v: &Value, unordered: bool) {
        match v {
            Value::Null => h.update(b"n"),
            Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => {
                    h.update(b"u");
                    h.update(u.to_le_bytes());
                }
                (None, Some(i)) => {
                    h.update(b"i");
                    h.update(i.to_le_bytes());
                }
                (None, None) => {
                    h.update(b"d");
                    h.update(n.as_f64().unwrap_or(f64::NAN).to_bits().to_le_bytes());
                }
            },
            Value::String(s) => {
                h.update(b"s");
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::Array(items) if unordered => {
                let mut digests: Vec<[u8; 32]> = items
                    .iter()
                    .map(|item| {
                        let mut e = Sha256::new();
                        feed(&mut e, item, false);
                        e.finalize().into()
                    })
                    .collect();
                digests.sort_unstable();
                h.update(b"{");
                digests.iter().for_each(|d| h.update(d));
            }
            Value::Array(items) => {
                h.update(b"[");
                h.update((items.len() as u64).to_le_bytes());
                items.iter().for_each(|item| feed(h, item, false));
            }
            Value::Object(members) => {
                h.update(b"o");
                for (key, value) in members.iter().filter(|(k, _)| !TIMINGS.contains(&k.as_str())) {
                    h.update((key.len() as u64).to_le_bytes());
                    h.update(key.as_bytes());
                    feed(h, value, UNORDERED.contains(&key.as_str()));
                }
                h.update(b"e");
            }
        }
    }
    let mut h = Sha256::new();
    feed(&mut h, report, false);
    crate::ids::hex(&h.finalize()[..8])
}

/// The compact history line of a report: per endpoint, in order, its reachability (f, p, n), its
/// access type (v vpc_endpoint, n nat_gateway, i internet_gateway, g gateway_endpoint, t
/// transit_gateway, p vpc_peering, s vpn_gateway (site-to-site), u unknown) and how long it took
/// in ms (DNS plus the slowest connection).
pub fn summary(report: &Report) -> String {
    use netready_check::classify::{AccessType, Reachability};
    report
        .endpoints
        .iter()
        .map(|e| {
            let reach = match e.reachability {
                Reachability::Full => 'f',
                Reachability::Partial => 'p',
                Reachability::None => 'n',
            };
            let access = match e.access_type {
                AccessType::VpcEndpoint => 'v',
                AccessType::NatGateway => 'n',
                AccessType::InternetGateway => 'i',
                AccessType::GatewayEndpoint => 'g',
                AccessType::TransitGateway => 't',
                AccessType::VpcPeering => 'p',
                AccessType::VpnGateway => 's',
                AccessType::Unknown => 'u',
            };
            let slowest = e.connections.iter().map(|c| c.duration_ms()).max().unwrap_or(0);
            format!("{reach}{access}{}", e.dns.duration_ms.saturating_add(slowest))
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn value() -> Value {
        serde_json::from_str(include_str!("../../../../tests/fixtures/report-v2-degraded.json")).unwrap()
    }

    fn fixture() -> Report {
        Report::from_value(value()).unwrap()
    }

    #[test]
    fn the_fingerprint_ignores_timings_and_address_order_only() {
        let a = value();
        assert!(a["endpoints"][4]["connections"].as_array().unwrap().len() > 1, "the fixture has two addresses");
        let mut b = a.clone();
        b["checked_at"] = json!("2026-11-26T14:00:00.000Z");
        b["duration_ms"] = json!(a["duration_ms"].as_u64().unwrap() + 17);
        b["endpoints"][4]["dns"]["addresses"].as_array_mut().unwrap().reverse();
        b["endpoints"][4]["connections"].as_array_mut().unwrap().reverse();
        b["endpoints"][0]["connections"][0]["tcp"]["duration_ms"] = json!(99);
        b["endpoints"][0]["connections"][0]["tcp"]["budget_ms"] = json!(1);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        // Anything else is the network: an outcome, the order of the endpoints, a configured timeout.
        let mut c = a.clone();
        c["endpoints"][1]["reachability"] = json!("full");
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d["endpoints"].as_array_mut().unwrap().swap(0, 1);
        assert_ne!(fingerprint(&a), fingerprint(&d));
        let mut e = a.clone();
        e["endpoints"][0]["connections"][0]["tcp"] = json!({"outcome": "refused", "error": "x", "duration_ms": 1});
        assert_ne!(fingerprint(&a), fingerprint(&e));
        // When the agent read the network is not what it read.
        let read = |at: &str| json!({"diagnosis": {"status": "ok", "read_at": at}});
        assert_eq!(fingerprint(&read("2026-11-26T10:00:00Z")), fingerprint(&read("2026-11-26T10:05:00Z")));
        // Strings cannot run into each other: ["ab", "c"] is not ["a", "bc"].
        assert_ne!(fingerprint(&json!(["ab", "c"])), fingerprint(&json!(["a", "bc"])));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn integers_written_with_a_fraction_become_integers() {
        let mut v = json!({"a": 3.0, "b": [0.0, -2.0, 1.5], "c": {"d": 1e3, "e": 7}, "f": -0.0});
        integral_numbers(&mut v);
        assert_eq!(v, json!({"a": 3, "b": [0, -2, 1.5], "c": {"d": 1000, "e": 7}, "f": 0}));
        assert!(v["a"].is_u64() && v["b"][1].is_i64() && v["b"][2].is_f64());
        let mut huge = json!(1e30);
        integral_numbers(&mut huge);
        assert!(huge.is_f64(), "out of range stays as it was: {huge}");
    }

    #[test]
    fn the_summary_is_one_short_line() {
        let s = summary(&fixture());
        assert!(s.starts_with("fv") && s.contains(",nv"), "{s}");
        assert_eq!(s.split(',').count(), 5);
        assert!(s.len() < 60, "{s}");
    }
}
