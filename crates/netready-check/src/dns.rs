//! Phase one of a probe: resolve a hostname through the system's DNS servers.
//!
//! This is a small stub resolver rather than the C library's `getaddrinfo`, for three reasons: it
//! must report *why* a name did not resolve (NXDOMAIN, SERVFAIL, REFUSED, no answer), it must
//! show the CNAME chain, and it must not carry a cache from one check to the next. It asks the
//! servers of `/etc/resolv.conf` — in a task, the VPC resolver — exactly as the runner would.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// Where the system resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How long to wait for a UDP answer before sending the query again.
const RETRANSMIT: Duration = Duration::from_secs(1);

/// How long the AAAA query may run on after the A answer came (AAAA is reported, not dialled, so
/// it must not eat the time the connections need).
const AAAA_GRACE: Duration = Duration::from_millis(200);

/// How a lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsOutcome {
    /// At least one address.
    Ok,
    /// The name does not exist.
    #[serde(rename = "nxdomain")]
    NxDomain,
    /// The name exists but has no A or AAAA record.
    NoRecords,
    /// The server failed to answer (SERVFAIL).
    #[serde(rename = "servfail")]
    ServFail,
    /// The server refused to answer (REFUSED).
    Refused,
    /// No server answered before the deadline.
    Timeout,
    /// Anything else: a socket error, a malformed answer, an unexpected response code.
    Error,
}

impl DnsOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DnsOutcome::Ok => "ok",
            DnsOutcome::NxDomain => "nxdomain",
            DnsOutcome::NoRecords => "no_records",
            DnsOutcome::ServFail => "servfail",
            DnsOutcome::Refused => "refused",
            DnsOutcome::Timeout => "timeout",
            DnsOutcome::Error => "error",
        }
    }

    /// An authoritative answer about the name, as opposed to a failure to get one.
    fn is_answer(self) -> bool {
        matches!(self, DnsOutcome::Ok | DnsOutcome::NxDomain | DnsOutcome::NoRecords)
    }
}

/// The result of resolving one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub outcome: DnsOutcome,
    pub duration: Duration,
    /// The CNAME targets, in the order they were followed from the queried name.
    pub cname_chain: Vec<String>,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// The server that gave the final answer, or the last one tried.
    pub server: Option<SocketAddr>,
    /// What went wrong, in words, when the outcome is not `Ok`.
    pub error: Option<String>,
}

/// Resolves hostnames. The real one is [`StubResolver`].
pub trait Resolver: Send + Sync {
    /// Resolves `host`, giving up at `deadline`. Never fails: every ending is a [`Resolution`].
    fn resolve(&self, host: &str, deadline: Instant) -> impl Future<Output = Resolution> + Send;
}

/// The parts of `resolv.conf(5)` that matter here. Search domains do not: endpoints are queried
/// as fully qualified names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<SocketAddr>,
}

impl ResolvConf {
    /// Parses the text of a resolv.conf. Returns the configuration and warnings about lines that
    /// were ignored. With no `nameserver` line, the C library's default, 127.0.0.1, applies.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut nameservers = Vec::new();
        let mut warnings = Vec::new();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("").trim();
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                continue;
            }
            match words.next().map(|w| w.split('%').next().unwrap_or(w).parse::<IpAddr>()) {
                Some(Ok(ip)) => nameservers.push(SocketAddr::new(ip, 53)),
                _ => warnings.push(format!("resolv.conf: ignored malformed line '{line}'")),
            }
        }
        if nameservers.is_empty() {
            warnings.push("resolv.conf names no nameserver: using 127.0.0.1, as the C library does".to_owned());
            nameservers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
        }
        (Self { nameservers }, warnings)
    }

    /// Reads and parses a resolv.conf file.
    pub fn load(path: &str) -> (Self, Vec<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(err) => {
                let (conf, _) = Self::parse("");
                (conf, vec![format!("cannot read {path} ({err}): using 127.0.0.1 as the DNS server")])
            }
        }
    }
}

/// A stub resolver that asks each configured server in turn, over UDP with a TCP fallback for
/// truncated answers. Holds no cache.
#[derive(Debug, Clone)]
pub struct StubResolver {
    servers: Vec<SocketAddr>,
}

impl StubResolver {
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self { servers }
    }
}

impl Resolver for StubResolver {
    async fn resolve(&self, host: &str, deadline: Instant) -> Resolution {
        let started = Instant::now();
        let name = match Name::from_ascii(format!("{}.", host.trim_end_matches('.'))) {
            Ok(name) => name,
            Err(err) => {
                return Resolution::failed(
                    DnsOutcome::Error,
                    started,
                    None,
                    format!("'{host}' is not a valid name: {err}"),
                );
            }
        };
        let mut failures = String::new();
        let mut last = None;
        for (i, &server) in self.servers.iter().enumerate() {
            // Share what time is left among the servers not yet tried, so that a dead first
            // server leaves the others a chance, as the C library's rotation does.
            let left = deadline.saturating_duration_since(Instant::now());
            let until = Instant::now() + left / (self.servers.len() - i) as u32;
            let mut resolution = ask(server, &name, until, started).await;
            if resolution.outcome.is_answer() {
                return resolution;
            }
            if let Some(err) = &resolution.error {
                if !failures.is_empty() {
                    failures.push_str("; ");
                }
                let _ = write!(failures, "{err}");
            }
            resolution.error = Some(failures.clone());
            last = Some(resolution);
        }
        last.unwrap_or_else(|| Resolution::failed(DnsOutcome::Error, started, None, "no DNS server configured".into()))
    }
}

impl Resolution {
    fn failed(outcome: DnsOutcome, started: Instant, server: Option<SocketAddr>, error: String) -> Self {
        Self {
            outcome,
            duration: started.elapsed(),
            cname_chain: Vec::new(),
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            server,
            error: Some(error),
        }
    }
}

/// Asks one server for the A and AAAA records of `name`.
async fn ask(server: SocketAddr, name: &Name, until: Instant, started: Instant) -> Resolution {
    let a = exchange(server, name, RecordType::A, until);
    let aaaa = exchange(server, name, RecordType::AAAA, until);
    tokio::pin!(aaaa);
    let a = a.await;
    let a_done = Instant::now();
    let grace = until.min(a_done + AAAA_GRACE);
    let aaaa = tokio::time::timeout_at(grace, &mut aaaa).await.ok();

    let answer = match a {
        Ok(message) => message,
        Err(err) => {
            let outcome = match err {
                ExchangeError::Timeout => DnsOutcome::Timeout,
                _ => DnsOutcome::Error,
            };
            return Resolution::failed(outcome, started, Some(server), format!("{server}: {err}"));
        }
    };
    let mut resolution = interpret(name, &answer);
    resolution.duration = a_done.duration_since(started);
    resolution.server = Some(server);
    if let Some(Ok(aaaa)) = aaaa
        && aaaa.metadata.response_code == ResponseCode::NoError
    {
        resolution.ipv6 = aaaa
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::AAAA(v6) => Some(v6.0),
                _ => None,
            })
            .collect();
    }
    if resolution.outcome == DnsOutcome::NoRecords && !resolution.ipv6.is_empty() {
        resolution.outcome = DnsOutcome::Ok;
        resolution.error = None;
    }
    if let Some(err) = &mut resolution.error {
        *err = format!("{server}: {err}");
    }
    resolution
}

/// Reads an answer to an A query: its response code, CNAME chain and addresses.
pub fn interpret(name: &Name, answer: &Message) -> Resolution {
    let outcome = match answer.metadata.response_code {
        ResponseCode::NoError => DnsOutcome::Ok,
        ResponseCode::NXDomain => DnsOutcome::NxDomain,
        ResponseCode::ServFail => DnsOutcome::ServFail,
        ResponseCode::Refused => DnsOutcome::Refused,
        _ => DnsOutcome::Error,
    };
    let mut resolution = Resolution {
        outcome,
        duration: Duration::ZERO,
        cname_chain: cname_chain(name, answer),
        ipv4: Vec::new(),
        ipv6: Vec::new(),
        server: None,
        error: None,
    };
    match outcome {
        DnsOutcome::Ok => {
            resolution.ipv4 = answer
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            if resolution.ipv4.is_empty() {
                resolution.outcome = DnsOutcome::NoRecords;
                resolution.error = Some("the name exists but has no A record".into());
            }
        }
        DnsOutcome::NxDomain => resolution.error = Some("the name does not exist (NXDOMAIN)".into()),
        DnsOutcome::ServFail => resolution.error = Some("the server failed to answer (SERVFAIL)".into()),
        DnsOutcome::Refused => resolution.error = Some("the server refused the query (REFUSED)".into()),
        _ => {
            resolution.error = Some(format!("unexpected response code {}", answer.metadata.response_code));
        }
    }
    resolution
}

/// The CNAME targets followed from `name`, without trailing dots.
fn cname_chain(name: &Name, answer: &Message) -> Vec<String> {
    let links: HashMap<String, String> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(target) => Some((plain(&r.name), plain(&target.0))),
            _ => None,
        })
        .collect();
    let mut chain = Vec::new();
    let mut current = plain(name);
    while let Some(next) = links.get(&current) {
        if chain.contains(next) || chain.len() > 16 {
            break;
        }
        chain.push(next.clone());
        current = next.clone();
    }
    chain
}

fn plain(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("no answer before the deadline")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// One query and its answer: UDP, retransmitted every second, then TCP if the answer was truncated.
async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    until: Instant,
) -> Result<Message, ExchangeError> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), rtype));
    let bytes = query.to_vec().map_err(|e| ExchangeError::Malformed(e.to_string()))?;

    let answer = match tokio::time::timeout_at(until, udp_exchange(server, &bytes, &query)).await {
        Ok(result) => result?,
        Err(_) => return Err(ExchangeError::Timeout),
    };
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    match tokio::time::timeout_at(until, tcp_exchange(server, &bytes, &query)).await {
        Ok(result) => result,
        Err(_) => Err(ExchangeError::Timeout),
    }
}

async fn udp_exchange(server: SocketAddr, bytes: &[u8], query: &Message) -> Result<Message, ExchangeError> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        socket.send(bytes).await?;
        let next_send = Instant::now() + RETRANSMIT;
        loop {
            match tokio::time::timeout_at(next_send, socket.recv(&mut buf)).await {
                Err(_) => break, // retransmit
                Ok(Err(err)) => return Err(err.into()),
                Ok(Ok(n)) => {
                    if let Some(answer) = matching_answer(&buf[..n], query) {
                        return Ok(answer);
                    }
                }
            }
        }
    }
}

async fn tcp_exchange(server: SocketAddr, bytes: &[u8], query: &Message) -> Result<Message, ExchangeError> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(bytes.len()).map_err(|_| ExchangeError::Malformed("query too long".into()))?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    matching_answer(&buf, query)
        .ok_or_else(|| ExchangeError::Malformed("the TCP answer does not match the query".into()))
}

/// Decodes `bytes` if they answer `query` (same id, a response, same question); otherwise `None`,
/// and the datagram is ignored as a stray.
fn matching_answer(bytes: &[u8], query: &Message) -> Option<Message> {
    let answer = Message::from_vec(bytes).ok()?;
    let same = answer.metadata.id == query.metadata.id
        && answer.metadata.message_type == MessageType::Response
        && (answer.queries.is_empty() || answer.queries == query.queries);
    same.then_some(answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME};

    #[test]
    fn resolv_conf_nameservers() {
        let (conf, warnings) = ResolvConf::parse(
            "# generated\nsearch us-west-2.compute.internal\nnameserver 10.0.0.2\nnameserver 169.254.169.253 # VPC\n\
             nameserver fe80::1%eth0\noptions timeout:2 attempts:5\nnameserver bogus\n",
        );
        let servers: Vec<String> = conf.nameservers.iter().map(|s| s.to_string()).collect();
        assert_eq!(servers, ["10.0.0.2:53", "169.254.169.253:53", "[fe80::1]:53"]);
        assert_eq!(warnings, ["resolv.conf: ignored malformed line 'nameserver bogus'"]);

        let (conf, warnings) = ResolvConf::parse("search example.com\n");
        assert_eq!(conf.nameservers, [SocketAddr::from(([127, 0, 0, 1], 53))]);
        assert_eq!(warnings.len(), 1);
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response(code: ResponseCode, answers: Vec<Record>) -> Message {
        let mut m = Message::response(7, hickory_proto::op::OpCode::Query);
        m.metadata.response_code = code;
        for r in answers {
            m.add_answer(r);
        }
        m
    }

    #[test]
    fn interprets_response_codes() {
        let q = name("logs.eu-west-3.amazonaws.com.");
        let rows = [
            (ResponseCode::NXDomain, DnsOutcome::NxDomain),
            (ResponseCode::ServFail, DnsOutcome::ServFail),
            (ResponseCode::Refused, DnsOutcome::Refused),
            (ResponseCode::FormErr, DnsOutcome::Error),
            (ResponseCode::NoError, DnsOutcome::NoRecords),
        ];
        for (code, outcome) in rows {
            let r = interpret(&q, &response(code, vec![]));
            assert_eq!(r.outcome, outcome, "{code:?}");
            assert!(r.error.is_some());
        }
    }

    #[test]
    fn follows_the_cname_chain_and_collects_addresses() {
        let q = name("s3.eu-west-3.amazonaws.com.");
        let answers = vec![
            Record::from_rdata(q.clone(), 60, RData::CNAME(CNAME(name("s3-r-w.eu-west-3.amazonaws.com.")))),
            Record::from_rdata(
                name("s3-r-w.eu-west-3.amazonaws.com."),
                60,
                RData::CNAME(CNAME(name("s3-w.eu-west-3.amazonaws.com."))),
            ),
            Record::from_rdata(name("s3-w.eu-west-3.amazonaws.com."), 5, RData::A(A::new(52, 95, 156, 40))),
            Record::from_rdata(name("s3-w.eu-west-3.amazonaws.com."), 5, RData::A(A::new(3, 5, 224, 6))),
            Record::from_rdata(
                name("s3-w.eu-west-3.amazonaws.com."),
                5,
                RData::AAAA(AAAA::new(1, 0, 0, 0, 0, 0, 0, 1)),
            ),
        ];
        let r = interpret(&q, &response(ResponseCode::NoError, answers));
        assert_eq!(r.outcome, DnsOutcome::Ok);
        assert_eq!(r.cname_chain, ["s3-r-w.eu-west-3.amazonaws.com", "s3-w.eu-west-3.amazonaws.com"]);
        assert_eq!(r.ipv4, [Ipv4Addr::new(52, 95, 156, 40), Ipv4Addr::new(3, 5, 224, 6)]);
        assert_eq!(r.error, None);
    }

    /// A scripted DNS server on loopback: answers A queries with `code` and `addrs`, AAAA with
    /// nothing, or stays silent.
    async fn scripted_server(code: Option<ResponseCode>, addrs: Vec<Ipv4Addr>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let Some(code) = code else { continue };
                let query = Message::from_vec(&buf[..n]).unwrap();
                let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
                answer.metadata.response_code = code;
                answer.add_queries(query.queries.clone());
                if query.queries[0].query_type() == RecordType::A {
                    for a in &addrs {
                        answer.add_answer(Record::from_rdata(query.queries[0].name().clone(), 5, RData::A(A(*a))));
                    }
                }
                let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn asks_a_real_server_and_reports_its_answer() {
        let server = scripted_server(Some(ResponseCode::NoError), vec![Ipv4Addr::new(10, 0, 2, 15)]).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let r = StubResolver::new(vec![server]).resolve("secretsmanager.eu-west-3.amazonaws.com", deadline).await;
        assert_eq!(r.outcome, DnsOutcome::Ok, "{r:?}");
        assert_eq!(r.ipv4, [Ipv4Addr::new(10, 0, 2, 15)]);
        assert_eq!(r.server, Some(server));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_at_the_deadline_and_the_next_one_is_asked() {
        let silent = scripted_server(None, vec![]).await;
        let nx = scripted_server(Some(ResponseCode::NXDomain), vec![]).await;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(600);
        let r = StubResolver::new(vec![silent]).resolve("logs.eu-west-3.amazonaws.com", deadline).await;
        assert_eq!(r.outcome, DnsOutcome::Timeout, "{r:?}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(550) && waited < Duration::from_millis(900), "{waited:?}");
        assert!(r.error.unwrap().contains("no answer before the deadline"));

        let deadline = Instant::now() + Duration::from_millis(800);
        let r = StubResolver::new(vec![silent, nx]).resolve("logs.eu-west-3.amazonaws.com", deadline).await;
        assert_eq!(r.outcome, DnsOutcome::NxDomain, "{r:?}");
        assert_eq!(r.server, Some(nx));
    }

    #[tokio::test]
    async fn servfail_from_every_server_is_reported() {
        let a = scripted_server(Some(ResponseCode::ServFail), vec![]).await;
        let b = scripted_server(Some(ResponseCode::Refused), vec![]).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let r = StubResolver::new(vec![a, b]).resolve("s3.eu-west-3.amazonaws.com", deadline).await;
        assert_eq!(r.outcome, DnsOutcome::Refused, "{r:?}");
        let error = r.error.unwrap();
        assert!(error.contains("SERVFAIL") && error.contains("REFUSED"), "{error}");
    }
}
