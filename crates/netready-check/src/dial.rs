//! Phase two of a probe: a direct TCP connection to one address, then (phase three, [`crate::tls`])
//! the TLS handshake on it.
//!
//! Direct means a plain `connect(2)`: proxy settings are never consulted here, whatever the
//! environment says, because the question is whether the task itself has a path to the endpoint.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::tls::{RETRY_MSS, RetryOutcome, TlsOutcome, TlsProbe, TlsReport, TlsRetry};
use crate::types::millis;

/// How one connection attempt ended. Every variant is a result the report carries, not an error;
/// each holds what that ending knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TcpOutcome {
    /// The three-way handshake completed.
    Ok,
    /// No answer within a fair share of the deadline: packets dropped somewhere (security group,
    /// NACL, route).
    Timeout,
    /// The endpoint's deadline ran out before this connection had a fair chance (DNS took most of
    /// it): not evidence of a network fault.
    OutOfTime,
    /// The address answered with a reset: reachable, but nothing accepts on that port.
    Refused { error: String },
    /// The network said there is no route to the address (ICMP unreachable, or no local route).
    Unreachable { error: String },
    /// Anything else, with the system's message.
    Error { error: String },
}

impl TcpOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            TcpOutcome::Ok => "ok",
            TcpOutcome::Timeout => "timeout",
            TcpOutcome::OutOfTime => "out_of_time",
            TcpOutcome::Refused { .. } => "refused",
            TcpOutcome::Unreachable { .. } => "unreachable",
            TcpOutcome::Error { .. } => "error",
        }
    }

    /// In words, for people.
    pub fn describe(&self) -> String {
        match self {
            TcpOutcome::Ok => "connected".into(),
            TcpOutcome::Timeout => "no answer to the TCP handshake before the deadline".into(),
            TcpOutcome::OutOfTime => "the endpoint's deadline ran out before the connection had a fair chance".into(),
            TcpOutcome::Refused { error } | TcpOutcome::Unreachable { error } | TcpOutcome::Error { error } => {
                error.clone()
            }
        }
    }
}

/// The TCP phase of one connection, as the report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpReport {
    #[serde(flatten)]
    pub outcome: TcpOutcome,
    pub duration_ms: u64,
    /// How much of the endpoint's deadline was left when the connection started.
    pub budget_ms: u64,
}

/// One dialled address: the TCP phase, and the TLS phase when TLS is on and TCP connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub addr: SocketAddr,
    pub tcp: TcpReport,
    pub tls: Option<TlsReport>,
}

impl Connection {
    /// Whether this address counts as reached: TCP connected and, when TLS was tried, TLS too.
    pub fn reached(&self) -> bool {
        self.tcp.outcome == TcpOutcome::Ok && self.tls.as_ref().is_none_or(|t| t.outcome.is_ok())
    }
}

/// Opens connections. The real one is [`DirectDialer`]; tests of pure logic may bring their own.
pub trait Dialer: Send + Sync {
    /// Dials `addr` for `host` (the TLS server name), giving up at `deadline`. Never fails: every
    /// ending is a [`Connection`].
    fn dial(&self, addr: SocketAddr, host: &str, deadline: Instant) -> impl Future<Output = Connection> + Send;
}

/// Direct TCP connections through the kernel, followed by a TLS handshake when a [`TlsProbe`] is
/// given.
#[derive(Debug, Clone, Default)]
pub struct DirectDialer {
    tls: Option<Arc<TlsProbe>>,
}

impl DirectDialer {
    /// TCP only: the source document's check.
    pub fn tcp_only() -> Self {
        Self { tls: None }
    }

    /// TCP, then a TLS handshake verified by `probe`.
    pub fn with_tls(probe: Arc<TlsProbe>) -> Self {
        Self { tls: Some(probe) }
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }
}

impl Dialer for DirectDialer {
    async fn dial(&self, addr: SocketAddr, host: &str, deadline: Instant) -> Connection {
        let (tcp, stream) = connect(addr, deadline).await;
        let tls = match (&self.tls, stream) {
            (Some(probe), Some(stream)) => Some(handshake_or_retry(probe, stream, addr, host, deadline).await),
            _ => None,
        };
        Connection { addr, tcp, tls }
    }
}

/// The TLS phase: a handshake on `stream`; if it has no answer halfway through its budget, a
/// second one alongside it on a new connection with a small MSS ([`RETRY_MSS`]), under the same
/// deadline. The retry answering where the first did not means the server's full-size packets
/// are lost on the way back (a path-MTU black hole); then the first is given up at once, as a
/// timeout. Both silent means server-name filtering stays the likely cause.
async fn handshake_or_retry(
    probe: &TlsProbe,
    stream: TcpStream,
    addr: SocketAddr,
    host: &str,
    deadline: Instant,
) -> TlsReport {
    let started = Instant::now();
    let budget = deadline.saturating_duration_since(started);
    let first_mss = socket2::SockRef::from(&stream).tcp_mss().ok().and_then(|m| u16::try_from(m).ok());
    let first = probe.handshake(stream, host, deadline);
    tokio::pin!(first);
    tokio::select! {
        report = &mut first => return report,
        () = tokio::time::sleep_until(started + budget / 2) => {}
    }
    let retry_started = Instant::now();
    let retry = async {
        match connect_with_mss(addr, RETRY_MSS, deadline).await {
            (_, Some(stream)) => RetryOutcome::of(&probe.handshake(stream, host, deadline).await.outcome),
            (tcp, None) => {
                RetryOutcome::Failed { error: format!("tcp {}: {}", tcp.outcome.as_str(), tcp.outcome.describe()) }
            }
        }
    };
    tokio::pin!(retry);
    let record = |outcome| TlsRetry {
        mss: RETRY_MSS,
        first_mss,
        after_ms: millis(retry_started.duration_since(started)),
        duration_ms: millis(retry_started.elapsed()),
        outcome,
    };
    tokio::select! {
        biased;
        mut report = &mut first => {
            // A first that timed out ended at the deadline, where the retry ends too: its outcome.
            let outcome = if report.outcome == TlsOutcome::Timeout { retry.await } else { RetryOutcome::Abandoned };
            report.retry = Some(record(outcome));
            report
        }
        outcome = &mut retry => {
            if outcome.answered() {
                // The first will not be answered: its packets are the ones lost.
                return TlsReport {
                    outcome: TlsOutcome::Timeout,
                    duration_ms: millis(started.elapsed()),
                    budget_ms: millis(budget),
                    version: None,
                    certificate: None,
                    retry: Some(record(outcome)),
                };
            }
            let retry = record(outcome);
            let mut report = first.await;
            report.retry = Some(retry);
            report
        }
    }
}

/// The TCP phase alone: a connection to `addr` before `deadline`, and the stream when it connected.
pub async fn connect(addr: SocketAddr, deadline: Instant) -> (TcpReport, Option<TcpStream>) {
    connect_socket(addr, None, deadline).await
}

/// A connection whose MSS is `mss` (`TCP_MAXSEG` set before connect: the SYN advertises it, so the
/// server sends segments no larger either).
pub async fn connect_with_mss(addr: SocketAddr, mss: u16, deadline: Instant) -> (TcpReport, Option<TcpStream>) {
    connect_socket(addr, Some(mss), deadline).await
}

/// A new socket for `addr`, with `mss` set when given.
fn socket(addr: SocketAddr, mss: Option<u16>) -> io::Result<tokio::net::TcpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    if let Some(mss) = mss {
        sock.set_tcp_mss(u32::from(mss))?;
    }
    Ok(tokio::net::TcpSocket::from_std_stream(sock.into()))
}

async fn connect_socket(addr: SocketAddr, mss: Option<u16>, deadline: Instant) -> (TcpReport, Option<TcpStream>) {
    let started = Instant::now();
    let budget_ms = millis(deadline.saturating_duration_since(started));
    let attempt = async {
        match mss {
            None => TcpStream::connect(addr).await,
            Some(_) => socket(addr, mss)?.connect(addr).await,
        }
    };
    let result = tokio::time::timeout_at(deadline, attempt).await;
    let duration_ms = millis(started.elapsed());
    let (outcome, stream) = match result {
        Ok(Ok(stream)) => (TcpOutcome::Ok, Some(stream)),
        Ok(Err(err)) => (outcome_of(&err), None),
        Err(_) => (TcpOutcome::Timeout, None),
    };
    (TcpReport { outcome, duration_ms, budget_ms }, stream)
}

/// Maps a connect error to its outcome.
pub fn outcome_of(err: &io::Error) -> TcpOutcome {
    let error = err.to_string();
    match err.kind() {
        io::ErrorKind::ConnectionRefused => TcpOutcome::Refused { error },
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => TcpOutcome::Unreachable { error },
        io::ErrorKind::TimedOut => TcpOutcome::Timeout,
        _ => TcpOutcome::Error { error },
    }
}

/// The least time a phase must have had for its timeout to count as evidence of a network fault:
/// a second (a lost SYN is retransmitted after one), or half the deadline when that is shorter.
pub fn fair_budget(timeout: Duration) -> Duration {
    (timeout / 2).min(Duration::from_secs(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_outcomes() {
        let cases = [
            (io::ErrorKind::ConnectionRefused, "refused"),
            (io::ErrorKind::HostUnreachable, "unreachable"),
            (io::ErrorKind::NetworkUnreachable, "unreachable"),
            (io::ErrorKind::TimedOut, "timeout"),
            (io::ErrorKind::PermissionDenied, "error"),
        ];
        for (kind, outcome) in cases {
            assert_eq!(outcome_of(&io::Error::from(kind)).as_str(), outcome, "{kind:?}");
        }
    }

    #[test]
    fn outcomes_serialize_with_their_data() {
        let r = TcpReport { outcome: TcpOutcome::Refused { error: "nope".into() }, duration_ms: 1, budget_ms: 900 };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"outcome": "refused", "error": "nope", "duration_ms": 1, "budget_ms": 900})
        );
        let ok = TcpReport { outcome: TcpOutcome::Ok, duration_ms: 0, budget_ms: 5000 };
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            serde_json::json!({"outcome": "ok", "duration_ms": 0, "budget_ms": 5000})
        );
        let back: TcpReport = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_fair_budget() {
        assert_eq!(fair_budget(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(fair_budget(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(fair_budget(Duration::from_millis(300)), Duration::from_millis(150));
    }

    #[tokio::test]
    async fn connects_to_a_loopback_listener_and_is_refused_by_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let c = DirectDialer::tcp_only().dial(open, "localhost", deadline).await;
        assert_eq!(c.tcp.outcome, TcpOutcome::Ok, "{c:?}");
        assert!(c.reached() && c.tls.is_none());
        assert!(c.tcp.budget_ms > 1900, "{c:?}");

        drop(listener);
        let c = DirectDialer::tcp_only().dial(open, "localhost", deadline).await;
        assert_eq!(c.tcp.outcome.as_str(), "refused", "{c:?}");
        assert!(!c.reached());
    }
}
