//! A notification as a typed value, made once by the alert logic ([`super::event`],
//! [`super::group::group_event`], [`super::test_event`]) and rendered from by every channel: the
//! webhook sends [`Notification::to_json`], Slack builds its message from the same value
//! (`slack::body`). A leaf: it imports no other alert module.
//!
//! The JSON of each is the webhook body documented in the OpenAPI document (`readinessChanged`,
//! `readinessChangedGroup`, the test notification), with its keys in sorted order — the bytes the
//! plane has always sent.

use netready_check::classify::{AccessType, Reachability};
use netready_check::types::ServiceKey;
use serde::{Deserialize, Serialize};

use crate::readiness::{DegradedEndpoint, Readiness};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Degraded,
    Stale,
    /// Registered `--never-reported-after` ago and never reported: its task most likely never started.
    NeverReported,
    Recovered,
}

impl Kind {
    /// Every kind, in the order channels list them.
    pub const ALL: [Kind; 4] = [Kind::Degraded, Kind::Stale, Kind::NeverReported, Kind::Recovered];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Degraded => "degraded",
            Kind::Stale => "stale",
            Kind::NeverReported => "never_reported",
            Kind::Recovered => "recovered",
        }
    }
}

/// A runner (or a channel) as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRef {
    pub id: String,
    pub name: String,
}

/// One runner's confirmed change (the `readinessChanged` webhook body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The notification's id and idempotency key ([`super::notification_id`]).
    pub id: String,
    pub kind: Kind,
    pub runner: RunnerRef,
    /// The readiness people were told before; `None` for a runner's first announcement.
    pub from: Option<Readiness>,
    pub to: Readiness,
    /// When the new readiness was first seen, RFC 3339 UTC.
    pub since: String,
    /// When it was confirmed, RFC 3339 UTC.
    pub at: String,
    /// The runner's degraded endpoints (none when it recovered).
    pub degraded_endpoints: Vec<DegradedEndpoint>,
}

impl Event {
    /// A stored notification (the outbox's payload, written by [`Event::to_json`]).
    pub fn read(payload: &str) -> Result<Event, String> {
        serde_json::from_str(payload).map_err(|e| format!("the stored notification does not read back: {e}"))
    }

    pub fn to_json(&self) -> String {
        sorted_json(self)
    }
}

/// The degraded endpoint most of a group's members share, and on how many of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCause {
    pub service: ServiceKey,
    pub reachability: Reachability,
    pub access_type: AccessType,
    pub runners: usize,
}

/// Always `true` in a grouped notification's JSON, so that a receiver can tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grouped;

impl Serialize for Grouped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

/// Many runners' changes of one kind, sent as one (the `readinessChangedGroup` webhook body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEvent {
    pub id: String,
    pub kind: Kind,
    pub grouped: Grouped,
    pub count: usize,
    pub cause: Option<SharedCause>,
    pub runners: Vec<RunnerRef>,
    pub at: String,
    /// The runners' own notifications.
    pub notifications: Vec<Event>,
}

/// The kind of a test notification: always `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    Test,
}

/// A test notification: signed like the others, sent at once, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestEvent {
    pub id: String,
    pub kind: TestKind,
    pub channel: RunnerRef,
    pub at: String,
}

/// What a channel is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Change(Event),
    Group(GroupEvent),
    Test(TestEvent),
}

impl Notification {
    /// The webhook body.
    pub fn to_json(&self) -> String {
        match self {
            Notification::Change(e) => sorted_json(e),
            Notification::Group(g) => sorted_json(g),
            Notification::Test(t) => sorted_json(t),
        }
    }
}

/// What a channel is sent: the webhook's JSON text and the typed notification Slack renders from.
/// A stored notification's text is sent to a webhook exactly as stored (a receiver verifies its
/// signature over those bytes); one that does not read back as an [`Event`] still goes to webhooks,
/// and Slack's delivery fails saying why.
#[derive(Debug, Clone)]
pub struct Payload {
    pub json: String,
    pub notification: Result<Notification, String>,
}

impl Payload {
    pub fn of(notification: Notification) -> Self {
        Self { json: notification.to_json(), notification: Ok(notification) }
    }

    /// An outbox row's payload.
    pub fn stored(text: &str) -> Self {
        Self { json: text.to_owned(), notification: Event::read(text).map(Notification::Change) }
    }
}

/// JSON text with every object's keys sorted (through a `serde_json::Value`, whose maps are
/// sorted): the shape the webhook bodies have always had.
fn sorted_json<T: Serialize>(value: &T) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_value(value).map(|v| v.to_string()).unwrap_or_default()
}
