//! Alerts: someone is told when a runner's readiness changes. Pure decisions live here — when a
//! change is confirmed (consecutive checks, a minimum duration, so that a flapping runner does
//! not page anyone), what the notification says, how it is signed, when a failed delivery is
//! tried again. [`deliver`] sends them; the database side (trackers and the outbox, written in
//! the transaction of the status change) is `db::alerts`.

pub mod address;
pub mod channels;
pub mod deliver;
pub mod event;
pub mod group;
pub mod routing;
pub mod send;
pub mod silences;
pub mod slack;

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use event::{Event, GroupEvent, Kind, Notification, RunnerRef, SharedCause, TestEvent};

use crate::ids::hex;
use crate::readiness::{DegradedEndpoint, Readiness};
use crate::time::rfc3339_ms;

/// Default: a new readiness is announced after two consecutive checks agree.
pub const DEFAULT_AFTER_CHECKS: u32 = 2;
/// Default: no minimum duration beyond the checks.
pub const DEFAULT_MIN_DURATION: Duration = Duration::ZERO;
/// Default: how long a delivery worker holds a claimed notification before another may retry it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Default: the longest wait between two delivery attempts (backoff doubles from 1 s up to it).
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(300);
/// Default: how long an undelivered notification is tried before it is given up.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default: how often the delivery worker looks for due notifications and stale runners when
/// nothing woke it.
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// One delivery attempt's deadline; a lease must be longer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The header names of a webhook delivery.
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const HEADER_TIMESTAMP: &str = "X-Netready-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-Netready-Signature";

/// When a change becomes a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive checks that must agree on the new readiness (at least 1).
    pub after_checks: u32,
    /// Consecutive `ready` checks that confirm a recovery, when it differs from `after_checks`
    /// ("page after 2 bad checks, clear after 3 good ones").
    pub recover_after_checks: Option<u32>,
    /// How long the new readiness must have lasted, from its first check to the confirming one.
    pub min_duration_ms: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            after_checks: DEFAULT_AFTER_CHECKS,
            min_duration_ms: DEFAULT_MIN_DURATION.as_millis() as i64,
            recover_after_checks: None,
        }
    }
}

impl Policy {
    /// How many consecutive checks confirm a change to `readiness` (at least 1).
    pub fn checks_for(&self, readiness: Readiness) -> u32 {
        match readiness {
            Readiness::Ready => self.recover_after_checks.unwrap_or(self.after_checks),
            _ => self.after_checks,
        }
        .max(1)
    }
}

/// What the plane remembers per runner between checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracker {
    /// The readiness people were last told about (or silently took as the start: a first `ready`).
    pub announced: Option<Readiness>,
    /// A different readiness seen since, waiting for confirmation.
    pub candidate: Option<Candidate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub readiness: Readiness,
    /// When it was first seen.
    pub since_ms: i64,
    /// How many consecutive observations saw it.
    pub checks: u32,
}

/// A confirmed change: what a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<Readiness>,
    pub to: Readiness,
    /// When the new readiness was first seen.
    pub since_ms: i64,
    /// When it was confirmed.
    pub at_ms: i64,
}

impl Transition {
    pub fn kind(&self) -> Kind {
        match self.to {
            Readiness::Ready => Kind::Recovered,
            Readiness::Stale => Kind::Stale,
            Readiness::NeverReported => Kind::NeverReported,
            Readiness::Degraded | Readiness::Unknown => Kind::Degraded,
        }
    }
}

/// Advances a tracker by one observation of a runner's readiness (a check that moved its state, or the plane noticing
/// that nothing arrived for `--stale-after`). Returns the tracker to keep and, when a change is
/// confirmed, the transition to announce.
///
/// - the announced readiness again: a pending change is cancelled (a flap, nobody is told);
/// - a runner's first readiness is announced only when it is not `ready`;
/// - a check result must be seen on `after_checks` consecutive checks (`recover_after_checks` for
///   `ready`, when set) spanning `min_duration`;
/// - `stale` and `never_reported` are confirmed at once: `--stale-after` (`--never-reported-after`)
///   already is their duration, and no check comes.
pub fn advance(tracker: Tracker, readiness: Readiness, at_ms: i64, policy: Policy) -> (Tracker, Option<Transition>) {
    if tracker.announced == Some(readiness) {
        return (Tracker { announced: tracker.announced, candidate: None }, None);
    }
    if tracker.announced.is_none() && readiness == Readiness::Ready {
        return (Tracker { announced: Some(Readiness::Ready), candidate: None }, None);
    }
    let candidate = match tracker.candidate {
        Some(c) if c.readiness == readiness => Candidate { checks: c.checks.saturating_add(1), ..c },
        _ => Candidate { readiness, since_ms: at_ms, checks: 1 },
    };
    let confirmed = matches!(readiness, Readiness::Stale | Readiness::NeverReported)
        || (candidate.checks >= policy.checks_for(readiness) && at_ms - candidate.since_ms >= policy.min_duration_ms);
    if confirmed {
        let transition = Transition { from: tracker.announced, to: readiness, since_ms: candidate.since_ms, at_ms };
        (Tracker { announced: Some(readiness), candidate: None }, Some(transition))
    } else {
        (Tracker { announced: tracker.announced, candidate: Some(candidate) }, None)
    }
}

/// The idempotency key of one notification to one channel: the same change to the same channel
/// always has the same key, so a receiver can drop a repeated delivery.
pub fn notification_id(channel_id: &str, runner_id: &str, transition: &Transition) -> String {
    let mut h = Sha256::new();
    for part in [channel_id, runner_id, transition.to.as_str(), &transition.at_ms.to_string()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("ntf-{}", &hex(&h.finalize())[..32])
}

/// The notification of a confirmed change (the `readinessChanged` webhook), with the runner's
/// degraded endpoints (none when it recovered).
pub fn event(id: &str, runner: &RunnerRef, transition: &Transition, degraded: &[DegradedEndpoint]) -> Event {
    Event {
        id: id.to_owned(),
        kind: transition.kind(),
        runner: runner.clone(),
        from: transition.from,
        to: transition.to,
        since: rfc3339_ms(transition.since_ms),
        at: rfc3339_ms(transition.at_ms),
        degraded_endpoints: if transition.to == Readiness::Ready { Vec::new() } else { degraded.to_vec() },
    }
}

/// A test notification (`netready plane alert test`, `POST /api/v1/alerts/channels/{id}/test`):
/// signed like the others, with kind `test`, so that a receiver's verification can be tried
/// before a runner changes. Sent at once, never stored in the outbox.
pub fn test_event(id: &str, channel_id: &str, channel_name: &str, at_ms: i64) -> TestEvent {
    TestEvent {
        id: id.to_owned(),
        kind: event::TestKind::Test,
        channel: RunnerRef { id: channel_id.to_owned(), name: channel_name.to_owned() },
        at: rfc3339_ms(at_ms),
    }
}

/// The signature header's value: `v1=` and the hex HMAC-SHA256, with the channel's secret, of
/// the timestamp header's value, a `.`, and the body.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex(&mac.finalize().into_bytes()))
}

/// How long to wait after the `attempts`-th failed attempt: 1 s doubling, at most `max`.
pub fn backoff(attempts: u32, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    Duration::from_secs(1u64 << exp).min(max)
}

/// A channel's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// JSON body, signed with the channel's secret.
    Webhook,
    /// `{"text": …}` for a Slack (or compatible) incoming webhook; the URL is the secret.
    Slack,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "webhook" => Ok(ChannelKind::Webhook),
            "slack" => Ok(ChannelKind::Slack),
            other => Err(format!("unknown channel kind '{other}': expected webhook or slack")),
        }
    }
}

/// A channel's URL, checked — exactly the OpenAPI document's patterns, so that the API accepts
/// what it documents and nothing else:
/// - `https://` + a host part (printable ASCII without `/?#@`) + an optional path, query or
///   fragment (printable ASCII);
/// - `http://` only to this machine: `localhost`, `127.x.x.x` or `[::1]`, an optional port.
///
/// No user-info (credentials belong in the secret); at most 2,000 characters.
pub fn check_url(url: &str) -> Result<String, UrlError> {
    let printable = |s: &str| s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if url.len() > 2000 || !printable(url) {
        return Err(UrlError::Unprintable);
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| UrlError::NotAUrl(url.to_owned()))?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    if authority.is_empty() {
        return Err(UrlError::NoHost(url.to_owned()));
    }
    match scheme {
        "https" => Ok(url.to_owned()),
        "http" => {
            let (host, port) = match authority.strip_prefix("[::1]") {
                Some(port) => ("[::1]", port),
                None => authority.find(':').map_or((authority, ""), |i| authority.split_at(i)),
            };
            let port_ok = port.is_empty()
                || port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .strip_prefix("127.")
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            if loopback && port_ok { Ok(url.to_owned()) } else { Err(UrlError::PlainHttp) }
        }
        _ => Err(UrlError::Scheme(scheme.to_owned())),
    }
}

/// Why a channel's URL is refused; every message ends with what is expected. A URL with
/// user-info is never repeated (it would carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is longer than 2,000 characters or has spaces or non-ASCII characters: {URL_HINT}")]
    Unprintable,
    #[error("'{0}' is not a URL: {URL_HINT}")]
    NotAUrl(String),
    #[error("the URL must not carry user-info (user:password@): {URL_HINT}")]
    UserInfo,
    #[error("'{0}' has no host: {URL_HINT}")]
    NoHost(String),
    #[error(
        "plain http:// is only allowed to this machine (the alert would cross the network in clear text): {URL_HINT}"
    )]
    PlainHttp,
    #[error("unsupported scheme '{0}': {URL_HINT}")]
    Scheme(String),
}

const URL_HINT: &str = "expected https://host/path (http:// only to localhost, 127.0.0.1 or [::1]), printable ASCII";

/// A channel's URL as lists show it: a Slack webhook's path is its secret, so only the origin;
/// a webhook's without its query (which may carry a token).
pub fn display_url(kind: ChannelKind, url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return "(invalid)".into();
    };
    let rest = &url[scheme_end..];
    let origin_len = scheme_end + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match kind {
        ChannelKind::Slack => format!("{}/…", &url[..origin_len]),
        ChannelKind::Webhook => {
            let path_end = url[origin_len..].find(['?', '#']).map_or(url.len(), |i| origin_len + i);
            let shown = &url[..path_end];
            if path_end < url.len() { format!("{shown}?…") } else { shown.to_owned() }
        }
    }
}

/// A new channel secret: `whsec_` and 64 hex digits (256 random bits).
pub fn new_secret() -> String {
    format!("whsec_{}", crate::ids::random_hex(32))
}

/// A new channel id.
pub fn new_channel_id() -> String {
    format!("ch-{}", crate::ids::random_hex(6))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Readiness::{Degraded as D, Ready as R, Stale as S};
    use serde_json::{Value, json};

    /// Announced changes, as (from, to).
    type Announced = Vec<(Option<Readiness>, Readiness)>;
    /// A table row: name, policy, start, observations, what is announced.
    type Row = (&'static str, Policy, Tracker, Vec<(Readiness, i64)>, Announced);

    fn run(policy: Policy, start: Tracker, seq: &[(Readiness, i64)]) -> (Tracker, Announced) {
        let mut t = start;
        let mut out = Vec::new();
        for (r, at) in seq {
            let (next, tr) = advance(t, *r, *at, policy);
            t = next;
            out.extend(tr.map(|tr| (tr.from, tr.to)));
        }
        (t, out)
    }

    #[test]
    fn table() {
        let two = Policy { after_checks: 2, min_duration_ms: 0, recover_after_checks: None };
        let one = Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None };
        let minute = Policy { after_checks: 1, min_duration_ms: 60_000, recover_after_checks: None };
        let down2_up3 = Policy { after_checks: 2, min_duration_ms: 0, recover_after_checks: Some(3) };
        let ready = Tracker { announced: Some(R), candidate: None };
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            ("first ready: silent", two, Tracker::default(), vec![(R, 0)], vec![]),
            ("first degraded: announced after two checks", two, Tracker::default(), vec![(D, 0), (D, 1)], vec![(None, D)]),
            ("first degraded once: not yet", two, Tracker::default(), vec![(D, 0)], vec![]),
            ("steady ready: nothing", two, ready, vec![(R, 0), (R, 1), (R, 2)], vec![]),
            ("degraded twice", two, ready, vec![(D, 0), (D, 1)], vec![(Some(R), D)]),
            ("flap: degraded, ready, degraded, ready", two, ready, vec![(D, 0), (R, 1), (D, 2), (R, 3)], vec![]),
            ("degraded then recovered", two, ready, vec![(D, 0), (D, 1), (R, 2), (R, 3)], vec![(Some(R), D), (Some(D), R)]),
            ("one check is enough with after_checks 1", one, ready, vec![(D, 0)], vec![(Some(R), D)]),
            ("min duration not reached", minute, ready, vec![(D, 0), (D, 59_999)], vec![]),
            ("min duration reached", minute, ready, vec![(D, 0), (D, 30_000), (D, 60_000)], vec![(Some(R), D)]),
            ("stale at once", two, ready, vec![(S, 0)], vec![(Some(R), S)]),
            ("stale during a pending degraded", two, ready, vec![(D, 0), (S, 1)], vec![(Some(R), S)]),
            ("stale then back: recovered after two checks", two, Tracker { announced: Some(S), candidate: None }, vec![(R, 0), (R, 1)], vec![(Some(S), R)]),
            ("stale, one ready, stale again: nothing", two, Tracker { announced: Some(S), candidate: None }, vec![(R, 0), (S, 1), (R, 2)], vec![]),
            ("never reported, then stale: announced", two, Tracker::default(), vec![(D, 0), (S, 1)], vec![(None, S)]),
            ("down after 2, up after 3: two ready checks are not enough", down2_up3, ready, vec![(D, 0), (D, 1), (R, 2), (R, 3)], vec![(Some(R), D)]),
            ("down after 2, up after 3: the third ready confirms", down2_up3, ready, vec![(D, 0), (D, 1), (R, 2), (R, 3), (R, 4)], vec![(Some(R), D), (Some(D), R)]),
            ("down after 2, up after 3: one degraded is not enough", down2_up3, ready, vec![(D, 0), (R, 1)], vec![]),
            ("up after 3 from stale too", down2_up3, Tracker { announced: Some(S), candidate: None }, vec![(R, 0), (R, 1), (R, 2)], vec![(Some(S), R)]),
            ("degraded to stale to degraded", one, Tracker { announced: Some(D), candidate: None }, vec![(S, 0), (D, 1)], vec![(Some(D), S), (Some(S), D)]),
        ];
        for (name, policy, start, seq, expected) in rows {
            assert_eq!(run(policy, start, &seq).1, expected, "{name}");
        }
    }

    #[test]
    fn a_flap_leaves_no_candidate_and_the_count_restarts() {
        let policy = Policy { after_checks: 3, min_duration_ms: 0, recover_after_checks: None };
        let ready = Tracker { announced: Some(R), candidate: None };
        let (t, out) = run(policy, ready, &[(D, 0), (D, 1), (R, 2)]);
        assert_eq!((t, out), (ready, vec![]));
        let (t, _) = run(policy, ready, &[(D, 10), (D, 11)]);
        assert_eq!(t.candidate, Some(Candidate { readiness: D, since_ms: 10, checks: 2 }));
        let (_, tr) = advance(t, D, 12, policy);
        assert_eq!(tr, Some(Transition { from: Some(R), to: D, since_ms: 10, at_ms: 12 }));
    }

    #[test]
    fn kinds() {
        let t = |from, to| Transition { from, to, since_ms: 0, at_ms: 0 }.kind();
        assert_eq!(t(Some(R), D), Kind::Degraded);
        assert_eq!(t(None, D), Kind::Degraded);
        assert_eq!(t(Some(D), S), Kind::Stale);
        assert_eq!(t(Some(D), R), Kind::Recovered);
        assert_eq!(t(Some(S), R), Kind::Recovered);
    }

    #[test]
    fn events_and_slack_text() {
        let runner = RunnerRef { id: "rn-abc".into(), name: "eu-west-3/build".into() };
        let tr = Transition { from: Some(R), to: D, since_ms: 1_000, at_ms: 2_000 };
        let degraded = r#"[{"service":"logs","host":"logs.eu-west-3.amazonaws.com","reachability":"none","access_type":"vpc_endpoint"}]"#;
        let id = notification_id("ch-1", "rn-abc", &tr);
        assert_eq!(id, notification_id("ch-1", "rn-abc", &tr), "the same change, the same key");
        assert_ne!(id, notification_id("ch-2", "rn-abc", &tr), "per channel");
        let degraded: Vec<DegradedEndpoint> = serde_json::from_str(degraded).unwrap();
        let typed = event(&id, &runner, &tr, &degraded);
        let text = typed.to_json();
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(e["kind"], "degraded");
        assert_eq!(e["from"], "ready");
        assert_eq!(e["at"], "1970-01-01T00:00:02.000Z");
        assert_eq!(e["degraded_endpoints"][0]["service"], "logs");
        assert_eq!(
            text,
            json!({
                "id": id, "kind": "degraded", "runner": {"id": "rn-abc", "name": "eu-west-3/build"},
                "from": "ready", "to": "degraded", "since": "1970-01-01T00:00:01.000Z",
                "at": "1970-01-01T00:00:02.000Z", "degraded_endpoints": serde_json::to_value(&degraded).unwrap(),
            })
            .to_string(),
            "the webhook body keeps its bytes: the shape the json! body had, keys sorted"
        );
        assert_eq!(Event::read(&text).unwrap(), typed, "a stored notification reads back");
        assert!(Event::read(r#"{"id":"x","kind":"sideways"}"#).unwrap_err().contains("does not read back"));
        let back = Transition { from: Some(D), to: R, since_ms: 3_000, at_ms: 4_000 };
        let e: Value = serde_json::from_str(&event("x", &runner, &back, &degraded).to_json()).unwrap();
        assert_eq!((e["kind"].as_str(), e["degraded_endpoints"].clone()), (Some("recovered"), json!([])));
        let first = Transition { from: None, to: D, since_ms: 0, at_ms: 0 };
        let e: Value = serde_json::from_str(&event("x", &runner, &first, &degraded).to_json()).unwrap();
        assert_eq!(e["from"], Value::Null, "a first announcement has no from");
        let t = Notification::Test(test_event("test-1", "ch-1", "ops", 5_000)).to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&t).unwrap(),
            json!({"id": "test-1", "kind": "test", "channel": {"id": "ch-1", "name": "ops"}, "at": "1970-01-01T00:00:05.000Z"})
        );
    }

    #[test]
    fn signatures_are_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature("secret", 1700000000, b"{}");
        assert!(s.starts_with("v1=") && s.len() == 67);
        assert_ne!(s, signature("secret", 1700000001, b"{}"), "the timestamp is signed");
        assert_ne!(s, signature("other", 1700000000, b"{}"));
    }

    #[test]
    fn an_attempt_ends_well_inside_its_lease() {
        use deliver::attempt_deadline;
        assert_eq!(attempt_deadline(Duration::from_secs(60)), SEND_TIMEOUT);
        assert_eq!(attempt_deadline(Duration::from_secs(2)), Duration::from_millis(1500));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let max = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=9).map(|a| backoff(a, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX, max), max);
    }

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("http://[::1]:9000/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://127.0.0.1/").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://x/y",
            "hooks.example.com",
            "https://u:p@h/x",
            "https:///x",
            "https://h/a\tb",
            "HTTPS://h/x",
            " https://h/x",
            "http://127.x/",
            "http://127.0.0.1:/",
            "http://127.0.0.1:8a/",
            "http://[::2]/",
            "https://h/é",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            display_url(ChannelKind::Slack, "https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(display_url(ChannelKind::Webhook, "https://h.example/a/b?token=x"), "https://h.example/a/b?…");
        assert_eq!(display_url(ChannelKind::Webhook, "https://h.example/a"), "https://h.example/a");
        assert!(ChannelKind::parse("email").unwrap_err().contains("webhook or slack"));
    }
}
