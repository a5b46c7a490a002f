//! A runner's readiness as the plane sees it: its newest report's status, unless that is too old.
//! Pure.

use serde::Serialize;

use crate::db::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    // Declaration order is the dashboard's order: what needs attention first.
    Degraded,
    Stale,
    Unknown,
    Ready,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Degraded => "degraded",
            Readiness::Stale => "stale",
            Readiness::Unknown => "unknown",
            Readiness::Ready => "ready",
        }
    }

    /// The position in the dashboard's order, as the database computes it (see `Store::list_runners`).
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub const ALL: [Readiness; 4] = [Readiness::Degraded, Readiness::Stale, Readiness::Unknown, Readiness::Ready];

    pub fn parse(s: &str) -> Option<Self> {
        [Readiness::Degraded, Readiness::Stale, Readiness::Unknown, Readiness::Ready]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// `unknown` when the runner never reported; `stale` when nothing arrived for `stale_after_ms`
/// (two check intervals by default); otherwise the newest report's status.
pub fn readiness(state: Option<&State>, now_ms: i64, stale_after_ms: i64) -> Readiness {
    match state {
        None => Readiness::Unknown,
        Some(s) if now_ms - s.last_received_at > stale_after_ms => Readiness::Stale,
        Some(s) if s.status == "ready" => Readiness::Ready,
        Some(_) => Readiness::Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, received: i64) -> State {
        State {
            checked_at: String::new(),
            checked_at_ms: received,
            status: status.into(),
            degraded: "[]".into(),
            last_received_at: received,
        }
    }

    #[test]
    fn table() {
        let stale_after = 600_000;
        let now = 10_000_000;
        let rows = [
            (None, Readiness::Unknown),
            (Some(state("ready", now - 1_000)), Readiness::Ready),
            (Some(state("degraded", now - 1_000)), Readiness::Degraded),
            (Some(state("ready", now - stale_after)), Readiness::Ready),
            (Some(state("ready", now - stale_after - 1)), Readiness::Stale),
            (Some(state("degraded", now - stale_after - 1)), Readiness::Stale),
        ];
        for (s, expected) in rows {
            assert_eq!(readiness(s.as_ref(), now, stale_after), expected, "{s:?}");
        }
    }

    #[test]
    fn order_puts_problems_first() {
        let mut v = vec![Readiness::Ready, Readiness::Unknown, Readiness::Stale, Readiness::Degraded];
        v.sort();
        assert_eq!(v, Readiness::ALL);
        let ranks: Vec<i64> = Readiness::ALL.iter().map(|r| r.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3], "the ranks the SQL in Store::list_runners uses");
    }
}
