//! The alert outbox's records as the rest of the plane reads them: channels, claimed and listed
//! notifications, their delivery state, the outbox's counts.

use crate::alerts::event::Kind;
use crate::alerts::routing::Route;
use crate::alerts::{self, ChannelKind};

/// A notification channel as stored. `secret` never leaves the plane after creation.
#[derive(Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
    /// Which changes it is told of.
    pub route: Route,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &alerts::display_url(self.kind, &self.url))
            .field("secret", &"***")
            .field("route", &self.route)
            .finish()
    }
}

/// A notification claimed for delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub channel_id: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// A notification's delivery state, for the dashboard and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub id: String,
    pub channel_id: String,
    pub runner_id: String,
    /// The runner's name (none once the runner is deleted).
    pub runner_name: Option<String>,
    pub kind: Kind,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    /// When it was given up (undelivered for longer than `--alert-give-up-after`).
    pub expired_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not sent yet.
    Pending,
    /// The last attempt failed; it will be tried again.
    Failing,
    /// A receiver answered 2xx.
    Delivered,
    /// Not delivered in time, given up: never tried again.
    Expired,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] =
        [DeliveryState::Pending, DeliveryState::Failing, DeliveryState::Delivered, DeliveryState::Expired];

    pub fn parse(s: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The SQL condition on `alert_outbox o` that selects this state ([`Delivery::state`]'s rule).
    pub(super) fn condition(self) -> &'static str {
        match self {
            Self::Pending => "o.delivered_at IS NULL AND o.expired_at IS NULL AND o.last_error IS NULL",
            Self::Failing => "o.delivered_at IS NULL AND o.expired_at IS NULL AND o.last_error IS NOT NULL",
            Self::Delivered => "o.delivered_at IS NOT NULL",
            Self::Expired => "o.delivered_at IS NULL AND o.expired_at IS NOT NULL",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failing => "failing",
            Self::Delivered => "delivered",
            Self::Expired => "expired",
        }
    }
}

impl Delivery {
    pub fn state(&self) -> DeliveryState {
        if self.delivered_at.is_some() {
            DeliveryState::Delivered
        } else if self.expired_at.is_some() {
            DeliveryState::Expired
        } else if self.last_error.is_some() {
            DeliveryState::Failing
        } else {
            DeliveryState::Pending
        }
    }
}

/// A notification given up, for the log.
#[derive(Debug, Clone)]
pub struct Expired {
    pub id: String,
    pub channel_id: String,
    pub runner_id: String,
    pub kind: Kind,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Notifications by state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Not delivered yet, and no attempt failed.
    pub pending: i64,
    /// Not delivered, and the last attempt failed (waiting for a retry).
    pub failing: i64,
    pub delivered: i64,
    /// Given up: not delivered within `--alert-give-up-after`.
    pub expired: i64,
}

impl OutboxCounts {
    pub fn of(&self, state: DeliveryState) -> i64 {
        match state {
            DeliveryState::Pending => self.pending,
            DeliveryState::Failing => self.failing,
            DeliveryState::Delivered => self.delivered,
            DeliveryState::Expired => self.expired,
        }
    }
}
