//! The delivery worker `serve` runs beside the API: it announces runners that went stale, claims
//! due notifications from the outbox (a lease per row), sends them, and records the outcome —
//! delivered, or a retry after a backoff; a notification still undelivered after `give_up_after`
//! is given up (logged, counted, shown), so that a receiver gone for good does not leave work
//! behind forever. It never touches the report writer: a receiver that is
//! down or slow delays only notifications, never ingest.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{
    ChannelKind, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, SEND_TIMEOUT, backoff, signature,
};
use crate::db::alerts::{Channel, Claimed, DeliveryState};
use crate::db::now_ms;
use crate::{Store, StoreError};
use netready_process::log;

/// How many notifications one worker sends at once.
const CONCURRENCY: i64 = 16;

/// How the worker runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a claimed notification is held before another worker may retry it (longer than
    /// one attempt's deadline).
    pub lease: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long after it was written an undelivered notification is given up.
    pub give_up_after: Duration,
    /// How often to look for due notifications and stale runners when nothing woke the worker.
    pub poll: Duration,
    /// A runner with nothing received for this long is stale.
    pub stale_after: Duration,
}

impl Settings {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            lease: super::DEFAULT_LEASE,
            retry_max: super::DEFAULT_RETRY_MAX,
            give_up_after: super::DEFAULT_GIVE_UP_AFTER,
            poll: super::DEFAULT_POLL,
            stale_after,
        }
    }
}

/// This process's delivery attempts, by result, and the notifications it gave up.
#[derive(Debug, Default)]
pub struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    given_up: AtomicU64,
}

/// One attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Anything else: the reason, without the URL (a Slack URL is a secret).
    Failed { reason: String },
}

/// Sends notifications over HTTP(S).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
}

impl Sender {
    pub fn new() -> Result<Self, reqwest::Error> {
        netready_process::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("netready-plane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// One attempt to send `payload` (the event JSON) to `channel`, within `timeout` (at most
    /// [`SEND_TIMEOUT`]).
    pub async fn send(&self, channel: &Channel, id: &str, payload: &str, timeout: Duration) -> Outcome {
        let body = match channel.kind {
            ChannelKind::Webhook => payload.to_owned(),
            ChannelKind::Slack => match serde_json::from_str::<serde_json::Value>(payload) {
                Ok(event) => super::slack_body(&event).to_string(),
                Err(e) => return Outcome::Failed { reason: format!("the stored notification is not JSON: {e}") },
            },
        };
        let timestamp = now_ms() / 1000;
        let mut request = self
            .client
            .post(&channel.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_IDEMPOTENCY_KEY, id)
            .timeout(timeout.min(SEND_TIMEOUT));
        if channel.kind == ChannelKind::Webhook {
            request = request
                .header(HEADER_TIMESTAMP, timestamp.to_string())
                .header(HEADER_SIGNATURE, signature(&channel.secret, timestamp, body.as_bytes()));
        }
        match request.body(body).send().await {
            Ok(r) if r.status().is_success() => Outcome::Delivered { status: r.status().as_u16() },
            Ok(r) => Outcome::Failed { reason: format!("the receiver answered {}", r.status().as_u16()) },
            Err(e) => Outcome::Failed { reason: describe(&e) },
        }
    }
}

/// What a test notification met.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestSent {
    /// Its idempotency key and body id (`test-` and 16 hex digits).
    pub id: String,
    pub delivered: bool,
    /// The receiver's answer, when it was a 2xx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it was not delivered (without the URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends a test notification to `channel` now, once: no outbox, no retry.
pub async fn send_test(sender: &Sender, channel: &Channel) -> TestSent {
    let id = format!("test-{}", crate::auth::random_hex(8));
    let event = super::test_event(&id, &channel.id, &channel.name, now_ms());
    match sender.send(channel, &id, &event.to_string(), SEND_TIMEOUT).await {
        Outcome::Delivered { status } => TestSent { id, delivered: true, status: Some(status), error: None },
        Outcome::Failed { reason } => TestSent { id, delivered: false, status: None, error: Some(reason) },
    }
}

/// A transport error in words, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind}: {detail}") }
}

/// Runs until the task is aborted: sweeps stale runners and delivers due notifications.
pub async fn run(store: Store, settings: Settings, sender: Sender) {
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= settings.poll) {
            last_sweep = Some(tokio::time::Instant::now());
            let now = now_ms();
            match store.sweep_stale(now, now - settings.stale_after.as_millis() as i64).await {
                Ok(0) => {}
                Ok(n) => log::info("runners went stale", &[("runners", json!(n))]),
                Err(e) => log::warn("the stale sweep failed", &[("error", json!(e.to_string()))]),
            }
            give_up_overdue(&store, now, settings.give_up_after).await;
        }
        let sent = match deliver_due(&store, &settings, &sender).await {
            Ok(n) => n,
            Err(e) => {
                log::warn("cannot claim notifications", &[("error", json!(e.to_string()))]);
                0
            }
        };
        if sent == 0 {
            tokio::select! {
                () = store.alerts_written() => {}
                () = tokio::time::sleep(settings.poll) => {}
            }
        }
    }
}

/// How many notifications one round gives up at most (a backlog goes over several polls).
const GIVE_UP_BATCH: i64 = 500;
/// How many of them get a log line each; the rest are counted in one.
const GIVE_UP_LOGGED: usize = 10;

/// Gives up the notifications undelivered for longer than `give_up_after`, with a warning.
pub async fn give_up_overdue(store: &Store, now: i64, give_up_after: Duration) {
    let created_before = now.saturating_sub(i64::try_from(give_up_after.as_millis()).unwrap_or(i64::MAX));
    match store.expire_alerts(now, created_before, GIVE_UP_BATCH).await {
        Ok(expired) => {
            store.alert_counters().given_up.fetch_add(expired.len() as u64, Ordering::Relaxed);
            if expired.len() > GIVE_UP_LOGGED {
                log::warn(
                    "notifications given up: not delivered in time (the first ones follow)",
                    &[("count", json!(expired.len())), ("give_up_after_s", json!(give_up_after.as_secs()))],
                );
            }
            for e in expired.into_iter().take(GIVE_UP_LOGGED) {
                log::warn(
                    "notification given up: not delivered in time",
                    &[
                        ("id", json!(e.id)),
                        ("channel_id", json!(e.channel_id)),
                        ("runner_id", json!(e.runner_id)),
                        ("kind", json!(e.kind)),
                        ("attempts", json!(e.attempts)),
                        ("last_error", json!(e.last_error)),
                        ("give_up_after_s", json!(give_up_after.as_secs())),
                    ],
                );
            }
        }
        Err(e) => log::warn("cannot give up overdue notifications", &[("error", json!(e.to_string()))]),
    }
}

/// Claims what is due and sends it, at most [`CONCURRENCY`] at once; returns how many were claimed.
pub async fn deliver_due(store: &Store, settings: &Settings, sender: &Sender) -> Result<usize, StoreError> {
    let claimed = store.claim_alerts(now_ms(), settings.lease.as_millis() as i64, CONCURRENCY).await?;
    let n = claimed.len();
    let mut tasks = tokio::task::JoinSet::new();
    for c in claimed {
        let (store, sender, settings) = (store.clone(), sender.clone(), *settings);
        tasks.spawn(async move { deliver_one(&store, &settings, &sender, c).await });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            log::warn("cannot record a delivery", &[("error", json!(e.to_string()))]);
        }
    }
    Ok(n)
}

async fn deliver_one(store: &Store, settings: &Settings, sender: &Sender, c: Claimed) -> Result<(), StoreError> {
    let Some(channel) = store.alert_channel(&c.channel_id).await? else {
        log::info("notification dropped: its channel was removed", &[("id", json!(c.id))]);
        return store.drop_alert(&c.id).await;
    };
    let outcome = sender.send(&channel, &c.id, &c.payload, attempt_deadline(settings.lease)).await;
    let counters = store.alert_counters();
    let fields = [("id", json!(c.id)), ("channel_id", json!(channel.id)), ("attempt", json!(c.attempts))];
    match outcome {
        Outcome::Delivered { status } => {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            log::info("notification delivered", &[&fields[..], &[("status", json!(status))]].concat());
            store.alert_delivered(&c.id, now_ms()).await
        }
        Outcome::Failed { reason } => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            let wait = backoff(u32::try_from(c.attempts).unwrap_or(u32::MAX), settings.retry_max);
            log::warn(
                "notification not delivered; will retry",
                &[&fields[..], &[("error", json!(reason)), ("retry_in_ms", json!(wait.as_millis() as u64))]].concat(),
            );
            store.alert_failed(&c, now_ms() + wait.as_millis() as i64, &reason).await
        }
    }
}

/// How long one attempt may take: [`SEND_TIMEOUT`], and well inside the lease, so that no other
/// worker takes the notification over (and no sweep gives it up) while it is on its way.
pub fn attempt_deadline(lease: Duration) -> Duration {
    SEND_TIMEOUT.min(lease.mul_f64(0.75))
}

/// The alerts' lines of `/metrics`: the outbox by state (shared by every replica) and this
/// process's attempts by result.
pub async fn render_metrics(store: &Store, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_notifications Notifications in the outbox, by state (pending, failing: the last attempt failed, delivered, expired: given up).\n\
         # TYPE netready_plane_alert_notifications gauge"
    );
    match store.alert_counts().await {
        Ok(c) => {
            for state in DeliveryState::ALL {
                let _ =
                    writeln!(out, "netready_plane_alert_notifications{{state=\"{}\"}} {}", state.as_str(), c.of(state));
            }
        }
        Err(_) => {
            let _ = writeln!(out, "# the database did not answer");
        }
    }
    let counters = store.alert_counters();
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_attempts_total Delivery attempts by this process, by result.\n\
         # TYPE netready_plane_alert_attempts_total counter\n\
         netready_plane_alert_attempts_total{{result=\"delivered\"}} {}\n\
         netready_plane_alert_attempts_total{{result=\"failed\"}} {}",
        counters.delivered.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed)
    );
    // Each given-up notification is counted by the one replica that gave it up: sum them.
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_notifications_given_up_total Notifications this process gave up (not delivered within --alert-give-up-after).\n\
         # TYPE netready_plane_alert_notifications_given_up_total counter\n\
         netready_plane_alert_notifications_given_up_total {}",
        counters.given_up.load(Ordering::Relaxed)
    );
}
