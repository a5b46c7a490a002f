//! The agent's own status server, for the container: `/healthz` (alive), `/readyz` (200 when the
//! last check was ready), `/status` (the last report), `/metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use netready_check::Report;
use netready_check::classify::Reachability;

/// What the agent knows of itself; shared by the loops and the status server.
#[derive(Debug, Default)]
pub struct Stats {
    pub last: Option<Arc<Report>>,
    /// Checks by status (`ready`, `degraded`).
    pub checks: BTreeMap<&'static str, u64>,
    /// Delivery attempts by outcome (`stored`, `duplicate`, `retry`, `rejected`), and reports
    /// dropped undelivered for a newer one (`dropped`).
    pub deliveries: BTreeMap<&'static str, u64>,
    /// Unix time of the last delivery the plane stored.
    pub last_delivery_ok: Option<f64>,
    /// Unix time of the last finished check.
    pub last_check: Option<f64>,
}

pub type Shared = Arc<Mutex<Stats>>;

/// Whether the agent's two loops still run. Each loop holds an [`Alive`] guard: when it ends —
/// returned, panicked, or stopped on a poisoned lock — its flag drops and `/healthz` answers 503,
/// so that the container's health check gets the task replaced.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    pub checker: Arc<std::sync::atomic::AtomicBool>,
    pub reporter: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag while alive; clears it when dropped (also while unwinding from a panic).
#[derive(Debug)]
pub struct Alive(Arc<std::sync::atomic::AtomicBool>);

impl Alive {
    pub fn new(flag: &Arc<std::sync::atomic::AtomicBool>) -> Self {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Self(flag.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub fn router(shared: Shared, liveness: Liveness) -> Router {
    let for_health = shared.clone();
    let healthz = move || {
        let (liveness, shared) = (liveness.clone(), for_health.clone());
        async move { healthz(&liveness, &shared) }
    };
    Router::new().route("/healthz", get(healthz)).merge(
        Router::new()
            .route("/readyz", get(readyz))
            .route("/status", get(status))
            .route("/metrics", get(metrics))
            .with_state(shared),
    )
}

/// Alive: both loops run and the shared state is usable.
fn healthz(liveness: &Liveness, shared: &Shared) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    let mut stopped = Vec::new();
    if !liveness.checker.load(SeqCst) {
        stopped.push("the check loop has stopped");
    }
    if !liveness.reporter.load(SeqCst) {
        stopped.push("the report loop has stopped");
    }
    if shared.is_poisoned() {
        stopped.push("the agent's state is unusable after a panic");
    }
    if stopped.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {}\n", stopped.join("; "))).into_response()
    }
}

fn last(shared: &Shared) -> Option<Arc<Report>> {
    shared.lock().ok().and_then(|s| s.last.clone())
}

async fn readyz(axum::extract::State(shared): axum::extract::State<Shared>) -> Response {
    match last(&shared) {
        Some(r) if r.status == netready_check::Status::Ready => (StatusCode::OK, "ready\n").into_response(),
        Some(r) => {
            let names: Vec<&str> = r.degraded_endpoints().map(|e| e.service.as_str()).collect();
            (StatusCode::SERVICE_UNAVAILABLE, format!("degraded: {}\n", names.join(", "))).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "no check finished yet\n").into_response(),
    }
}

async fn status(axum::extract::State(shared): axum::extract::State<Shared>) -> Response {
    match last(&shared) {
        Some(r) => ([(header::CONTENT_TYPE, "application/json")], r.to_json_pretty()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"error": "no_check_yet", "message": "no check has finished yet"})),
        )
            .into_response(),
    }
}

async fn metrics(axum::extract::State(shared): axum::extract::State<Shared>) -> Response {
    let text = shared.lock().map(|s| render(&s)).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One metric family: its name, type, help and samples (label set, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, String)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self { name, kind, help, samples: Vec::new() }
    }
    fn add(&mut self, labels: String, value: impl std::fmt::Display) {
        self.samples.push((labels, value.to_string()));
    }
}

/// The metrics in the Prometheus text exposition format. Pure.
pub fn render(stats: &Stats) -> String {
    let mut up = Family::new("netready_up", "gauge", "The agent is running.");
    up.add(String::new(), 1);
    let mut ready = Family::new("netready_ready", "gauge", "1 when the last check was ready, 0 when degraded.");
    let mut duration = Family::new("netready_check_duration_seconds", "gauge", "Wall time of the last check.");
    let mut reach = Family::new("netready_endpoint_reachability", "gauge", "Last check: 1 full, 0.5 partial, 0 none.");
    let mut access =
        Family::new("netready_endpoint_access_type", "gauge", "Last check: how the endpoint is reached (label).");
    let mut dns = Family::new("netready_endpoint_dns_duration_seconds", "gauge", "Last check: DNS lookup time.");
    let mut connect =
        Family::new("netready_endpoint_connect_duration_seconds", "gauge", "Last check: TCP connect time per address.");
    let mut handshake = Family::new(
        "netready_endpoint_tls_handshake_duration_seconds",
        "gauge",
        "Last check: TLS handshake time per address, by TLS outcome.",
    );
    let mut connected = Family::new(
        "netready_endpoint_addresses_connected",
        "gauge",
        "Last check: addresses reached (TCP connected and, with TLS on, the handshake succeeded).",
    );
    if let Some(r) = &stats.last {
        ready.add(String::new(), u8::from(r.status == netready_check::Status::Ready));
        duration.add(String::new(), r.duration_ms as f64 / 1000.0);
        for e in &r.endpoints {
            let svc = e.service.as_str();
            let value = match e.reachability {
                Reachability::Full => 1.0,
                Reachability::Partial => 0.5,
                Reachability::None => 0.0,
            };
            reach.add(format!("service=\"{svc}\",host=\"{}\"", label(&e.host)), value);
            access.add(format!("service=\"{svc}\",access_type=\"{}\"", e.access_type.as_str()), 1);
            dns.add(
                format!("service=\"{svc}\",outcome=\"{}\"", e.dns.outcome.as_str()),
                e.dns.duration_ms as f64 / 1000.0,
            );
            for c in &e.connections {
                let labels = format!("service=\"{svc}\",ip=\"{}\",outcome=\"{}\"", c.ip, c.tcp.outcome.as_str());
                connect.add(labels, c.tcp.duration_ms as f64 / 1000.0);
                if let Some(tls) = &c.tls {
                    let labels = format!("service=\"{svc}\",ip=\"{}\",outcome=\"{}\"", c.ip, tls.outcome.as_str());
                    handshake.add(labels, tls.duration_ms as f64 / 1000.0);
                }
            }
            let ok = e.connections.iter().filter(|c| c.reached()).count();
            connected.add(format!("service=\"{svc}\""), ok);
        }
    }
    let mut checks = Family::new("netready_checks_total", "counter", "Checks finished, by status.");
    for status in ["ready", "degraded"] {
        checks.add(format!("status=\"{status}\""), stats.checks.get(status).copied().unwrap_or(0));
    }
    let mut deliveries = Family::new(
        "netready_report_deliveries_total",
        "counter",
        "Report deliveries to the plane by outcome; dropped: replaced undelivered by a newer report.",
    );
    for outcome in ["stored", "duplicate", "retry", "rejected", "dropped"] {
        deliveries.add(format!("outcome=\"{outcome}\""), stats.deliveries.get(outcome).copied().unwrap_or(0));
    }
    let mut delivered = Family::new(
        "netready_last_successful_delivery_timestamp_seconds",
        "gauge",
        "When the plane last stored a report (Unix time).",
    );
    if let Some(t) = stats.last_delivery_ok {
        delivered.add(String::new(), format!("{t:.3}"));
    }
    let mut checked =
        Family::new("netready_last_check_timestamp_seconds", "gauge", "When the last check finished (Unix time).");
    if let Some(t) = stats.last_check {
        checked.add(String::new(), format!("{t:.3}"));
    }

    let mut text = String::new();
    for f in
        [up, ready, duration, reach, access, dns, connect, handshake, connected, checks, deliveries, delivered, checked]
    {
        if f.samples.is_empty() {
            continue;
        }
        let _ = writeln!(text, "# HELP {} {}\n# TYPE {} {}", f.name, f.help, f.name, f.kind);
        for (labels, value) in f.samples {
            if labels.is_empty() {
                let _ = writeln!(text, "{} {value}", f.name);
            } else {
                let _ = writeln!(text, "{}{{{labels}}} {value}", f.name);
            }
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metrics_before_any_check() {
        let text = render(&Stats::default());
        assert!(text.contains("netready_up 1"));
        assert!(text.contains("netready_checks_total{status=\"ready\"} 0"));
        assert!(text.contains("netready_report_deliveries_total{outcome=\"retry\"} 0"));
        assert!(!text.contains("netready_ready "));
    }

    #[tokio::test]
    async fn healthz_fails_when_a_loop_has_stopped() {
        use tower::ServiceExt;
        let liveness = Liveness::default();
        let (checker, reporter) = (Alive::new(&liveness.checker), Alive::new(&liveness.reporter));
        let app = router(Shared::default(), liveness.clone());
        let get = |app: Router| async move {
            let res = app.oneshot(axum::http::Request::get("/healthz").body(axum::body::Body::empty()).unwrap()).await;
            res.unwrap().status()
        };
        assert_eq!(get(app.clone()).await, StatusCode::OK);
        drop(checker);
        assert_eq!(get(app.clone()).await, StatusCode::SERVICE_UNAVAILABLE);
        drop(reporter);
        // A loop that panics drops its guard too.
        let flag = liveness.checker.clone();
        let _ = std::thread::spawn(move || {
            let _alive = Alive::new(&flag);
            panic!("a bug in the check loop");
        })
        .join();
        assert!(!liveness.checker.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn metrics_of_a_report() {
        let report: Report =
            serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
        let mut stats = Stats { last: Some(Arc::new(report)), ..Default::default() };
        stats.checks.insert("degraded", 3);
        stats.deliveries.insert("stored", 2);
        stats.last_delivery_ok = Some(1_790_000_000.5);
        let text = render(&stats);
        for want in [
            "netready_ready 0",
            "netready_endpoint_reachability{service=\"logs\",host=\"logs.eu-west-3.amazonaws.com\"} 0",
            "netready_endpoint_reachability{service=\"s3\",host=\"s3.eu-west-3.amazonaws.com\"} 1",
            "netready_endpoint_access_type{service=\"s3\",access_type=\"nat_gateway\"} 1",
            "netready_endpoint_connect_duration_seconds{service=\"logs\",ip=\"10.0.2.11\",outcome=\"timeout\"} 1.999",
            "netready_endpoint_tls_handshake_duration_seconds{service=\"s3\",ip=\"203.0.113.20\",outcome=\"ok\"} 0.002",
            "netready_checks_total{status=\"degraded\"} 3",
            "netready_report_deliveries_total{outcome=\"stored\"} 2",
            "netready_last_successful_delivery_timestamp_seconds 1790000000.500",
        ] {
            assert!(text.contains(want), "{want} not in:\n{text}");
        }
        // Every sample's family is declared once, before its samples.
        for family in ["netready_endpoint_reachability", "netready_checks_total"] {
            assert_eq!(text.matches(&format!("# TYPE {family} ")).count(), 1);
        }
    }
}
