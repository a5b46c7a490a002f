//! One attempt to deliver a notification over HTTP(S): the body for the channel's kind, the
//! signature, and the outcome as a value. The client connects only to addresses the channel may
//! reach ([`super::address`]): an IP literal is checked here, a name by the client's resolver,
//! so that nothing is sent, not even a connection opened, to a refused address. No proxy: the
//! address checked must be the address connected to.

use std::time::Duration;

use super::address::{CheckedResolver, Destinations, Refused, check_ip, url_host};
use super::event::{Notification, Payload};
use super::{ChannelKind, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, SEND_TIMEOUT, signature};
use crate::db::alerts::Channel;
use crate::time::now_ms;

/// One attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Anything else: the reason, without the URL (a Slack URL is a secret).
    Failed { reason: String },
}

/// Sends notifications over HTTP(S), to the destinations it allows.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allowed: Destinations,
}

impl Sender {
    pub fn new(allowed: Destinations) -> Result<Self, reqwest::Error> {
        netready_process::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver::shared(allowed))
            .user_agent(concat!("netready-plane/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, allowed })
    }

    /// One attempt to send `payload` (the event JSON) to `channel`, within `timeout` (at most
    /// [`SEND_TIMEOUT`]).
    pub async fn send(&self, channel: &Channel, id: &str, payload: &Payload, timeout: Duration) -> Outcome {
        if let Some(ip) = url_host(&channel.url).and_then(|h| h.parse::<std::net::IpAddr>().ok())
            && let Err(refusal) = check_ip(ip, self.allowed)
        {
            return Outcome::Failed { reason: format!("refused: {ip} is {}", refusal.describe()) };
        }
        let body = match channel.kind {
            ChannelKind::Webhook => payload.json.clone(),
            ChannelKind::Slack => match &payload.notification {
                Ok(notification) => super::slack::body(notification).to_string(),
                Err(reason) => return Outcome::Failed { reason: reason.clone() },
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
    let id = format!("test-{}", crate::ids::random_hex(8));
    let event = Payload::of(Notification::Test(super::test_event(&id, &channel.id, &channel.name, now_ms())));
    match sender.send(channel, &id, &event, SEND_TIMEOUT).await {
        Outcome::Delivered { status } => TestSent { id, delivered: true, status: Some(status), error: None },
        Outcome::Failed { reason } => TestSent { id, delivered: false, status: None, error: Some(reason) },
    }
}

/// A transport error in words, without the URL; a refused address as the refusal.
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
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind}: {detail}") }
}
