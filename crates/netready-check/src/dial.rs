//! Phase two of a probe: a direct TCP connection to one address.
//!
//! Direct means a plain `connect(2)`: proxy settings are never consulted here, whatever the
//! environment says, because the question is whether the task itself has a path to the endpoint.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How one connection attempt ended. Every variant is a result the report carries, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialOutcome {
    /// The three-way handshake completed.
    Ok,
    /// No answer before the deadline: packets dropped somewhere (security group, NACL, route).
    Timeout,
    /// The address answered with a reset: reachable, but nothing accepts on that port.
    Refused,
    /// The network said there is no route to the address (ICMP unreachable, or no local route).
    Unreachable,
    /// Anything else, with the system's message.
    Error,
}

impl DialOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DialOutcome::Ok => "ok",
            DialOutcome::Timeout => "timeout",
            DialOutcome::Refused => "refused",
            DialOutcome::Unreachable => "unreachable",
            DialOutcome::Error => "error",
        }
    }
}

/// The result of dialling one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub addr: SocketAddr,
    pub outcome: DialOutcome,
    pub duration: Duration,
    /// What went wrong, in words, when the outcome is not `Ok`.
    pub error: Option<String>,
}

/// Opens connections. The real one is [`TcpDialer`]; tests of pure logic may bring their own.
pub trait Dialer: Send + Sync {
    /// Dials `addr`, giving up at `deadline`. Never fails: every ending is a [`Dial`].
    fn dial(&self, addr: SocketAddr, deadline: Instant) -> impl Future<Output = Dial> + Send;
}

/// Direct TCP connections through the kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpDialer;

impl Dialer for TcpDialer {
    async fn dial(&self, addr: SocketAddr, deadline: Instant) -> Dial {
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await;
        let duration = started.elapsed();
        let (outcome, error) = match result {
            Ok(Ok(stream)) => {
                drop(stream);
                (DialOutcome::Ok, None)
            }
            Ok(Err(err)) => (outcome_of(&err), Some(err.to_string())),
            Err(_) => (DialOutcome::Timeout, Some("no answer before the deadline".to_owned())),
        };
        Dial { addr, outcome, duration, error }
    }
}

/// Maps a connect error to its outcome.
pub fn outcome_of(err: &io::Error) -> DialOutcome {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => DialOutcome::Refused,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => DialOutcome::Unreachable,
        io::ErrorKind::TimedOut => DialOutcome::Timeout,
        _ => DialOutcome::Error,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_outcomes() {
        let cases = [
            (io::ErrorKind::ConnectionRefused, DialOutcome::Refused),
            (io::ErrorKind::HostUnreachable, DialOutcome::Unreachable),
            (io::ErrorKind::NetworkUnreachable, DialOutcome::Unreachable),
            (io::ErrorKind::TimedOut, DialOutcome::Timeout),
            (io::ErrorKind::PermissionDenied, DialOutcome::Error),
        ];
        for (kind, outcome) in cases {
            assert_eq!(outcome_of(&io::Error::from(kind)), outcome, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn connects_to_a_loopback_listener_and_is_refused_by_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let dial = TcpDialer.dial(open, deadline).await;
        assert_eq!(dial.outcome, DialOutcome::Ok, "{dial:?}");
        assert_eq!(dial.error, None);

        drop(listener);
        let dial = TcpDialer.dial(open, deadline).await;
        assert_eq!(dial.outcome, DialOutcome::Refused, "{dial:?}");
        assert!(dial.error.is_some());
    }
}
