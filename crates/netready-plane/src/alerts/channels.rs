//! Channels as the API, the CLI and the dashboard use them: validated on the way in, shown
//! without their secrets on the way out.

use serde::Serialize;

use super::address::{Destinations, check_url_host};
use super::routing::Route;
use super::{ChannelKind, check_url, display_url, new_channel_id, new_secret};
use crate::db::alerts::Channel;
use crate::db::{Store, StoreError};
use crate::time::{now_ms, rfc3339_ms};

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct NewChannel {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// A webhook's shared secret; generated when absent. Not for Slack (its URL is the secret).
    pub secret: Option<String>,
    /// Only runners whose name matches this pattern (`*` any run of characters); all when absent.
    pub runners: Option<String>,
    /// Only these kinds of change (degraded, stale, never_reported, recovered); all when absent.
    pub kinds: Option<Vec<String>>,
}

/// Why a channel was not added.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The request is wrong: the message says what and what is expected.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A channel as it is shown: never its secret, and only the origin of a Slack URL.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    pub created_at: String,
    /// The runner name pattern it is limited to, or null for every runner.
    pub runners: Option<String>,
    /// The kinds of change it is told of.
    pub kinds: Vec<super::Kind>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind,
            url: display_url(c.kind, &c.url),
            created_at: rfc3339_ms(c.created_at),
            runners: c.route.runners.clone(),
            kinds: c.route.told_kinds(),
        }
    }
}

/// Checks and stores a channel; returns it with its secret (the only time it is shown). Its URL
/// must point where `allowed` lets channels go (an IP literal or `localhost` is checked now;
/// every name's addresses again at each send).
pub async fn add(store: &Store, new: NewChannel, allowed: Destinations) -> Result<Channel, ChannelError> {
    let name = new.name.trim();
    if name.is_empty() || new.name.chars().count() > 100 || new.name.chars().any(char::is_control) {
        return Err(ChannelError::Invalid(
            "a channel name must have 1 to 100 printable characters, such as ops-webhook".into(),
        ));
    }
    let kind = ChannelKind::parse(&new.kind).map_err(ChannelError::Invalid)?;
    let url = check_url(&new.url).map_err(|e| ChannelError::Invalid(format!("invalid url: {e}")))?;
    check_url_host(&url, allowed).map_err(|e| ChannelError::Invalid(format!("refused url: {e}")))?;
    let secret = match (kind, new.secret) {
        (ChannelKind::Slack, Some(_)) => {
            return Err(ChannelError::Invalid(
                "a slack channel takes no secret: its incoming-webhook URL is the secret".into(),
            ));
        }
        (ChannelKind::Slack, None) => String::new(),
        (ChannelKind::Webhook, None) => new_secret(),
        (ChannelKind::Webhook, Some(s)) => {
            // A file's trailing newline is not part of the secret.
            let s = s.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&s).to_owned();
            if !(16..=512).contains(&s.len()) || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return Err(ChannelError::Invalid(
                    "a webhook secret must have 16 to 512 printable ASCII characters without spaces; leave it out to \
                     have one generated"
                        .into(),
                ));
            }
            s
        }
    };
    let route =
        Route::parse(new.runners.as_deref(), new.kinds.as_deref()).map_err(|e| ChannelError::Invalid(e.to_string()))?;
    let channel =
        Channel { id: new_channel_id(), name: name.to_owned(), kind, url, secret, created_at: now_ms(), route };
    store.add_alert_channel(&channel).await?;
    Ok(channel)
}

/// Whether `id` has the form of a channel id (`ch-` and 12 hex digits).
pub fn is_channel_id(id: &str) -> bool {
    id.strip_prefix("ch-").is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
