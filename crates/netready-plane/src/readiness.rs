//! A runner's readiness as the plane sees it: its newest report's status, unless that is too old,
//! or `never_reported` when it was registered long ago and nothing ever came (on Fargate, a task
//! that cannot pull its image or fetch its secret stops before the agent runs). Pure.

use netready_check::Status;
use netready_check::classify::{AccessType, Reachability};
use netready_check::dial::TcpOutcome;
use netready_check::report::{ConnectionReport, EndpointReport};
use netready_check::types::ServiceKey;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    // Declaration order is the dashboard's order: what needs attention first.
    Degraded,
    /// Registered more than `--never-reported-after` ago and never reported: the task most likely
    /// never started (`ResourceInitializationError`, `CannotPullContainerError`).
    NeverReported,
    Stale,
    /// Registered recently and not reported yet: the first check is still to come.
    Unknown,
    Ready,
}

#[derive(Debug, Clone)]
/// A runner's newest report as its readiness needs it (and lists show it): when it was checked and
/// received, its status, its degraded endpoints.
pub struct LastReport {
    pub checked_at: String,
    pub checked_at_ms: i64,
    pub status: Status,
    /// The endpoints that were not fully reachable.
    pub degraded: Vec<DegradedEndpoint>,
    pub last_received_at: i64,
}

/// An endpoint a report found not fully reachable, as lists, history and notifications show it.
/// Stored as JSON in this shape (the API's `degraded_endpoints`); only the storage layer writes
/// and reads that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegradedEndpoint {
    pub service: ServiceKey,
    pub host: String,
    pub reachability: Reachability,
    pub access_type: AccessType,
}

impl DegradedEndpoint {
    pub fn of(e: &EndpointReport) -> Self {
        Self { service: e.service, host: e.host.clone(), reachability: e.reachability, access_type: e.access_type }
    }
}

/// The first phase of reaching an endpoint that failed, as the fleet view groups causes by it.
/// Stored as its name (`runner_endpoints.phase`); only the storage layer writes and reads that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The name did not resolve (or resolved to a sinkhole).
    Dns,
    /// Resolved, but no address that counts was dialled (a special-purpose or IPv6-only answer).
    Address,
    Tcp,
    Tls,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Dns, Phase::Address, Phase::Tcp, Phase::Tls];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Address => "address",
            Phase::Tcp => "tcp",
            Phase::Tls => "tls",
        }
    }

    /// The phase of a connection that was not reached: TCP when it did not connect, else TLS.
    pub fn of_connection(c: &ConnectionReport) -> Phase {
        if c.tcp.outcome == TcpOutcome::Ok { Phase::Tls } else { Phase::Tcp }
    }
}

/// How old is too old: for a report (`stale`) and for a registration without one (`never_reported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ages {
    pub stale_after_ms: i64,
    pub never_reported_after_ms: i64,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Degraded => "degraded",
            Readiness::NeverReported => "never_reported",
            Readiness::Stale => "stale",
            Readiness::Unknown => "unknown",
            Readiness::Ready => "ready",
        }
    }

    /// The position in the dashboard's order, as the database computes it (see `Store::list_runners`).
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub const ALL: [Readiness; 5] =
        [Readiness::Degraded, Readiness::NeverReported, Readiness::Stale, Readiness::Unknown, Readiness::Ready];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// For a runner registered at `registered_at`: `unknown` when it never reported and was registered
/// within `never_reported_after_ms`, `never_reported` when longer ago; `stale` when nothing arrived
/// for `stale_after_ms` (two check intervals by default); otherwise the newest report's status.
pub fn readiness(state: Option<&LastReport>, registered_at: i64, now_ms: i64, ages: Ages) -> Readiness {
    match state {
        None if now_ms - registered_at > ages.never_reported_after_ms => Readiness::NeverReported,
        None => Readiness::Unknown,
        Some(s) if now_ms - s.last_received_at > ages.stale_after_ms => Readiness::Stale,
        Some(s) if s.status == Status::Ready => Readiness::Ready,
        Some(_) => Readiness::Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, received: i64) -> LastReport {
        LastReport {
            checked_at: String::new(),
            checked_at_ms: received,
            status: if status == "ready" { Status::Ready } else { Status::Degraded },
            degraded: Vec::new(),
            last_received_at: received,
        }
    }

    #[test]
    fn table() {
        let stale_after = 600_000;
        let ages = Ages { stale_after_ms: stale_after, never_reported_after_ms: 900_000 };
        let now = 10_000_000;
        let registered = now - 2_000_000;
        for (registered, expected) in [
            (now - 1_000, Readiness::Unknown),
            (now - 900_000, Readiness::Unknown),
            (now - 900_001, Readiness::NeverReported),
        ] {
            assert_eq!(readiness(None, registered, now, ages), expected, "registered {registered}");
        }
        let rows = [
            (Some(state("ready", now - 1_000)), Readiness::Ready),
            (Some(state("degraded", now - 1_000)), Readiness::Degraded),
            (Some(state("ready", now - stale_after)), Readiness::Ready),
            (Some(state("ready", now - stale_after - 1)), Readiness::Stale),
            (Some(state("degraded", now - stale_after - 1)), Readiness::Stale),
        ];
        for (s, expected) in rows {
            assert_eq!(readiness(s.as_ref(), registered, now, ages), expected, "{s:?}");
        }
    }

    #[test]
    fn order_puts_problems_first() {
        let mut v =
            vec![Readiness::Ready, Readiness::Unknown, Readiness::Stale, Readiness::NeverReported, Readiness::Degraded];
        v.sort();
        assert_eq!(v, Readiness::ALL);
        let ranks: Vec<i64> = Readiness::ALL.iter().map(|r| r.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4], "the ranks the SQL in Store::list_runners uses");
        assert_eq!(Readiness::parse("never_reported"), Some(Readiness::NeverReported));
    }
}
