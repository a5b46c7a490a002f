//! Silences (maintenance windows): for a while, the changes of the runners whose name matches a
//! pattern are not announced — `netready plane alert silence --runners 'eu-west-3/*' --for 2h
//! --reason …`. A silence ends by itself; ended early by hand, it stops at once. Changes confirmed
//! while it lasts are not announced then or later (the trackers move as usual, so its end sends
//! nothing): what a runner is after the window shows on the dashboard, and its next change is
//! announced. Pure rules here; stored by `db::silences`, applied where the outbox is written.

use std::time::Duration;

use serde::Serialize;

use super::routing::{Route, glob_matches};
use crate::time::rfc3339_ms;

/// The longest silence: a forgotten one must not mute a fleet for ever.
pub const MAX_SILENCE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most characters a reason may have.
const MAX_REASON: usize = 500;

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: String,
    /// A runner name pattern: `*` for any run of characters.
    pub runners: String,
    pub reason: String,
    pub created_at: i64,
    pub starts_at: i64,
    pub ends_at: i64,
}

impl Silence {
    /// A new silence from a caller's values, checked: the message says what is wrong.
    pub fn new(runners: &str, duration: &str, reason: &str, now_ms: i64) -> Result<Silence, String> {
        // The same pattern rule as a channel's route.
        let route = Route::parse(Some(runners), None).map_err(|e| e.to_string())?;
        let d = humantime::parse_duration(duration.trim()).map_err(|e| {
            format!("invalid duration '{}' ({e}): expected a duration such as 30m, 2h or 1d", duration.escape_debug())
        })?;
        if d < Duration::from_secs(60) || d > MAX_SILENCE {
            return Err(format!("a silence lasts from 1m to 30d, not '{}'", duration.escape_debug()));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
            return Err(format!(
                "a silence needs a reason of 1 to {MAX_REASON} printable characters, such as 'VPC endpoint migration'"
            ));
        }
        Ok(Silence {
            id: new_silence_id(),
            runners: route.runners.unwrap_or_else(|| "*".to_owned()),
            reason: reason.to_owned(),
            created_at: now_ms,
            starts_at: now_ms,
            ends_at: now_ms + d.as_millis() as i64,
        })
    }

    /// Whether it silences the runner named `runner` at `now_ms`.
    pub fn silences(&self, runner: &str, now_ms: i64) -> bool {
        self.starts_at <= now_ms && now_ms < self.ends_at && glob_matches(&self.runners, runner)
    }
}

/// A new silence id: `sil-` and 12 hex digits.
pub fn new_silence_id() -> String {
    format!("sil-{}", crate::ids::random_hex(6))
}

/// Whether `id` has the form of a silence id.
pub fn is_silence_id(id: &str) -> bool {
    id.strip_prefix("sil-").is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A silence as the API, the CLI and the dashboard show it.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    pub id: String,
    pub runners: String,
    pub reason: String,
    pub created_at: String,
    pub starts_at: String,
    pub ends_at: String,
}

impl From<&Silence> for SilenceView {
    fn from(s: &Silence) -> Self {
        Self {
            id: s.id.clone(),
            runners: s.runners.clone(),
            reason: s.reason.clone(),
            created_at: rfc3339_ms(s.created_at),
            starts_at: rfc3339_ms(s.starts_at),
            ends_at: rfc3339_ms(s.ends_at),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn silences_are_checked_and_match_while_they_last() {
        let s = Silence::new("eu-west-3/*", "2h", " VPC endpoint migration ", 1_000).unwrap();
        assert_eq!((s.starts_at, s.ends_at, s.reason.as_str()), (1_000, 1_000 + 7_200_000, "VPC endpoint migration"));
        assert!(is_silence_id(&s.id), "{}", s.id);
        assert!(s.silences("eu-west-3/build", 1_000) && s.silences("eu-west-3/build", 7_200_999));
        assert!(!s.silences("eu-west-3/build", 7_201_000), "ends by itself");
        assert!(!s.silences("eu-west-3/build", 999), "not before it starts");
        assert!(!s.silences("us-east-1/build", 5_000));
        assert_eq!(Silence::new("*", "1m", "all", 0).unwrap().runners, "*");
        for (runners, duration, reason, says) in [
            ("", "2h", "r", "invalid runners pattern"),
            ("a ", "2h", "r", "no space at either end"),
            ("a", "soon", "r", "invalid duration 'soon'"),
            ("a", "30s", "r", "from 1m to 30d"),
            ("a", "31d", "r", "from 1m to 30d"),
            ("a", "2h", " ", "needs a reason"),
            ("a", "2h", "line\nbreak", "needs a reason"),
        ] {
            let err = Silence::new(runners, duration, reason, 0).unwrap_err();
            assert!(err.contains(says), "{runners:?} {duration:?} {reason:?}: {err}");
        }
        assert!(!is_silence_id("sil-xyz") && !is_silence_id("ch-0123456789ab"));
    }
}
