//! Phase one of a probe: resolve a hostname through the system's DNS servers.
//!
//! This is a small stub resolver rather than the C library's `getaddrinfo`, for three reasons: it
//! must report *why* a name did not resolve (NXDOMAIN, SERVFAIL, REFUSED, no answer), it must
//! show the CNAME chain, and it must not carry a cache from one check to the next. It asks the
//! servers of `/etc/resolv.conf` — in a task, the VPC resolver — exactly as the runner would.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// Where the system resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// How long to wait for a UDP answer before sending the query again.
const RETRANSMIT: Duration = Duration::from_secs(1);

/// Which records a lookup asks for: A for IPv4, AAAA for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QueryType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl QueryType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryType::A => "A",
            QueryType::Aaaa => "AAAA",
        }
    }

    fn record_type(self) -> RecordType {
        match self {
            QueryType::A => RecordType::A,
            QueryType::Aaaa => RecordType::AAAA,
        }
    }
}

/// How one query ended. Each variant carries what that ending knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LookupOutcome {
    /// At least one address of the asked type.
    Ok,
    /// The name exists but has no record of the asked type.
    NoRecords,
    /// The name does not exist.
    #[serde(rename = "nxdomain")]
    NxDomain,
    /// The server failed to answer (SERVFAIL).
    #[serde(rename = "servfail")]
    ServFail,
    /// The server refused to answer (REFUSED).
    Refused,
    /// No server answered before the deadline.
    Timeout,
    /// Anything else: a socket error, a malformed answer, an unexpected response code.
    Error { error: String },
}

impl LookupOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            LookupOutcome::Ok => "ok",
            LookupOutcome::NoRecords => "no_records",
            LookupOutcome::NxDomain => "nxdomain",
            LookupOutcome::ServFail => "servfail",
            LookupOutcome::Refused => "refused",
            LookupOutcome::Timeout => "timeout",
            LookupOutcome::Error { .. } => "error",
        }
    }

    /// An answer about the name, as opposed to a failure to get one.
    pub fn is_answer(&self) -> bool {
        matches!(self, LookupOutcome::Ok | LookupOutcome::NoRecords | LookupOutcome::NxDomain)
    }

    /// In words, for people.
    pub fn describe(&self) -> String {
        match self {
            LookupOutcome::Ok => "answered".into(),
            LookupOutcome::NoRecords => "the name exists but has no record of this type".into(),
            LookupOutcome::NxDomain => "the name does not exist (NXDOMAIN)".into(),
            LookupOutcome::ServFail => "the server failed to answer (SERVFAIL)".into(),
            LookupOutcome::Refused => "the server refused the query (REFUSED)".into(),
            LookupOutcome::Timeout => "no answer before the deadline".into(),
            LookupOutcome::Error { error } => error.clone(),
        }
    }
}

/// The result of one query (A or AAAA) for one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub query: QueryType,
    pub outcome: LookupOutcome,
    pub duration: Duration,
    /// The server that gave the final answer, or the last one tried.
    pub server: Option<SocketAddr>,
    /// The CNAME targets, in the order they were followed from the queried name.
    pub cname_chain: Vec<String>,
    /// The addresses of the asked type (empty unless the outcome is `Ok`).
    pub addresses: Vec<IpAddr>,
    /// What each server that failed said, in order (empty when the first server answered).
    pub failures: Vec<String>,
}

/// Resolves hostnames. The real one is [`StubResolver`].
pub trait Resolver: Send + Sync {
    /// Asks for the `query` records of `host`, giving up at `deadline`. Never fails: every ending is
    /// a [`Lookup`]. A and AAAA are asked as two concurrent calls.
    fn lookup(&self, host: &str, query: QueryType, deadline: Instant) -> impl Future<Output = Lookup> + Send;
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
    async fn lookup(&self, host: &str, query: QueryType, deadline: Instant) -> Lookup {
        let started = Instant::now();
        let failed = |outcome, server, failures| Lookup {
            query,
            outcome,
            duration: started.elapsed(),
            server,
            cname_chain: Vec::new(),
            addresses: Vec::new(),
            failures,
        };
        let name = match Name::from_ascii(format!("{}.", host.trim_end_matches('.'))) {
            Ok(name) => name,
            Err(err) => {
                let error = format!("'{host}' is not a valid name: {err}");
                return failed(LookupOutcome::Error { error: error.clone() }, None, vec![error]);
            }
        };
        let mut failures = Vec::new();
        let mut last = None;
        for (i, &server) in self.servers.iter().enumerate() {
            // Share what time is left among the servers not yet tried, so that a dead first
            // server leaves the others a chance, as the C library's rotation does.
            let left = deadline.saturating_duration_since(Instant::now());
            let until = Instant::now() + left / (self.servers.len() - i) as u32;
            let outcome = match exchange(server, &name, query.record_type(), until).await {
                Ok(answer) => {
                    let mut lookup = interpret(&name, query, &answer);
                    lookup.duration = started.elapsed();
                    lookup.server = Some(server);
                    if lookup.outcome.is_answer() {
                        lookup.failures = failures;
                        return lookup;
                    }
                    lookup.outcome
                }
                Err(ExchangeError::Timeout) => LookupOutcome::Timeout,
                Err(err) => LookupOutcome::Error { error: format!("{server}: {err}") },
            };
            failures.push(format!("{server}: {}", outcome.describe()));
            last = Some((outcome, server));
        }
        match last {
            Some((outcome, server)) => failed(outcome, Some(server), failures),
            None => failed(LookupOutcome::Error { error: "no DNS server configured".into() }, None, failures),
        }
    }
}

/// Reads an answer: its response code, CNAME chain and the addresses of the asked type.
pub fn interpret(name: &Name, query: QueryType, answer: &Message) -> Lookup {
    let outcome = match answer.metadata.response_code {
        ResponseCode::NoError => LookupOutcome::Ok,
        ResponseCode::NXDomain => LookupOutcome::NxDomain,
        ResponseCode::ServFail => LookupOutcome::ServFail,
        ResponseCode::Refused => LookupOutcome::Refused,
        other => LookupOutcome::Error { error: format!("unexpected response code {other}") },
    };
    let addresses: Vec<IpAddr> = answer
        .answers
        .iter()
        .filter_map(|r| match (&r.data, query) {
            (RData::A(a), QueryType::A) => Some(IpAddr::V4(a.0)),
            (RData::AAAA(v6), QueryType::Aaaa) => Some(IpAddr::V6(v6.0)),
            _ => None,
        })
        .collect();
    let outcome = match outcome {
        LookupOutcome::Ok if addresses.is_empty() => LookupOutcome::NoRecords,
        other => other,
    };
    Lookup {
        query,
        addresses: if outcome == LookupOutcome::Ok { addresses } else { Vec::new() },
        outcome,
        duration: Duration::ZERO,
        server: None,
        cname_chain: cname_chain(name, answer),
        failures: Vec::new(),
    }
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
    let mut query = Message::new(query_id(), MessageType::Query, OpCode::Query);
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

/// A query id from the system's randomness (`getrandom(2)`), not from `Message::query`'s thread RNG:
/// starting that RNG probes the CPU's features with `cpuid`, which a virtual machine (Fargate's
/// Firecracker, this machine's) traps — more time in a cold check than the system call.
fn query_id() -> u16 {
    let mut id = [0u8; 2];
    match getrandom::fill(&mut id) {
        Ok(()) => u16::from_ne_bytes(id),
        Err(_) => Message::query().metadata.id,
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
            (ResponseCode::NXDomain, "nxdomain"),
            (ResponseCode::ServFail, "servfail"),
            (ResponseCode::Refused, "refused"),
            (ResponseCode::FormErr, "error"),
            (ResponseCode::NoError, "no_records"),
        ];
        for (code, outcome) in rows {
            let r = interpret(&q, QueryType::A, &response(code, vec![]));
            assert_eq!(r.outcome.as_str(), outcome, "{code:?}");
            assert!(r.addresses.is_empty());
        }
    }

    #[test]
    fn follows_the_cname_chain_and_collects_addresses_of_the_asked_type() {
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
                RData::AAAA(AAAA::new(0x2a05, 0xd012, 0, 0, 0, 0, 0, 1)),
            ),
        ];
        let msg = response(ResponseCode::NoError, answers);
        let r = interpret(&q, QueryType::A, &msg);
        assert_eq!(r.outcome, LookupOutcome::Ok);
        assert_eq!(r.cname_chain, ["s3-r-w.eu-west-3.amazonaws.com", "s3-w.eu-west-3.amazonaws.com"]);
        assert_eq!(r.addresses, [ip("52.95.156.40"), ip("3.5.224.6")]);
        let r = interpret(&q, QueryType::Aaaa, &msg);
        assert_eq!(r.addresses, [ip("2a05:d012::1")]);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// How a scripted server behaves.
    #[derive(Clone, Default)]
    struct Script {
        /// None: stay silent.
        code: Option<ResponseCode>,
        a: Vec<IpAddr>,
        aaaa: Vec<IpAddr>,
        /// How long to wait before answering an AAAA query.
        aaaa_delay: Duration,
        /// Answer UDP with an empty, truncated (TC) message; the full answer only over TCP.
        truncate_udp: bool,
    }

    fn answer_for(query: &Message, script: &Script, truncated: bool) -> Vec<u8> {
        let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
        answer.metadata.response_code = script.code.unwrap_or(ResponseCode::NoError);
        answer.add_queries(query.queries.clone());
        if truncated {
            answer.metadata.truncation = true;
        } else {
            let q = &query.queries[0];
            let addrs = if q.query_type() == RecordType::A { &script.a } else { &script.aaaa };
            for a in addrs {
                let data = match a {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                answer.add_answer(Record::from_rdata(q.name().clone(), 5, data));
            }
        }
        answer.to_vec().unwrap()
    }

    /// A scripted DNS server on loopback, UDP and TCP on the same port.
    async fn scripted_server(script: Script) -> SocketAddr {
        // A free UDP port whose TCP twin is free too (another test may hold it): try a few.
        let mut bound = None;
        for _ in 0..50 {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = socket.local_addr().unwrap();
            if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
                bound = Some((std::sync::Arc::new(socket), addr, tcp));
                break;
            }
        }
        let (socket, addr, tcp) = bound.expect("a UDP and TCP port pair on loopback");
        let udp_script = script.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let Some(_) = udp_script.code else { continue };
                let query = Message::from_vec(&buf[..n]).unwrap();
                let (socket, script) = (socket.clone(), udp_script.clone());
                tokio::spawn(async move {
                    if query.queries[0].query_type() == RecordType::AAAA {
                        tokio::time::sleep(script.aaaa_delay).await;
                    }
                    let _ = socket.send_to(&answer_for(&query, &script, script.truncate_udp), peer).await;
                });
            }
        });
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = tcp.accept().await {
                let script = script.clone();
                tokio::spawn(async move {
                    let len = conn.read_u16().await.unwrap() as usize;
                    let mut buf = vec![0u8; len];
                    conn.read_exact(&mut buf).await.unwrap();
                    let query = Message::from_vec(&buf).unwrap();
                    let bytes = answer_for(&query, &script, false);
                    conn.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
                    conn.write_all(&bytes).await.unwrap();
                });
            }
        });
        addr
    }

    fn ok(a: &[&str], aaaa: &[&str]) -> Script {
        Script {
            code: Some(ResponseCode::NoError),
            a: a.iter().map(|s| ip(s)).collect(),
            aaaa: aaaa.iter().map(|s| ip(s)).collect(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn asks_a_real_server_and_reports_its_answer() {
        let server = scripted_server(ok(&["10.0.2.15"], &[])).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let r = StubResolver::new(vec![server])
            .lookup("secretsmanager.eu-west-3.amazonaws.com", QueryType::A, deadline)
            .await;
        assert_eq!(r.outcome, LookupOutcome::Ok, "{r:?}");
        assert_eq!(r.addresses, [ip("10.0.2.15")]);
        assert_eq!(r.server, Some(server));
        assert!(r.failures.is_empty());
    }

    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let script = Script { truncate_udp: true, ..ok(&["10.0.2.15", "10.0.3.15"], &["2600:1f18:4a3:6902::11"]) };
        let server = scripted_server(script).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let resolver = StubResolver::new(vec![server]);
        let a = resolver.lookup("logs.eu-west-3.amazonaws.com", QueryType::A, deadline).await;
        assert_eq!(a.outcome, LookupOutcome::Ok, "{a:?}");
        assert_eq!(a.addresses, [ip("10.0.2.15"), ip("10.0.3.15")]);
        let aaaa = resolver.lookup("logs.eu-west-3.amazonaws.com", QueryType::Aaaa, deadline).await;
        assert_eq!(aaaa.addresses, [ip("2600:1f18:4a3:6902::11")], "{aaaa:?}");
    }

    #[tokio::test]
    async fn a_and_aaaa_run_concurrently_so_a_slower_aaaa_answer_still_arrives() {
        // The AAAA answer comes 300 ms after the A answer; asked together, both arrive, and the pair
        // takes about as long as the slower one, not the sum.
        let script = Script { aaaa_delay: Duration::from_millis(300), ..ok(&["10.0.2.11"], &["2600:1f18::11"]) };
        let server = scripted_server(script).await;
        let resolver = StubResolver::new(vec![server]);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(2);
        let (a, aaaa) = tokio::join!(
            resolver.lookup("logs.eu-west-3.amazonaws.com", QueryType::A, deadline),
            resolver.lookup("logs.eu-west-3.amazonaws.com", QueryType::Aaaa, deadline),
        );
        assert_eq!(a.addresses, [ip("10.0.2.11")]);
        assert_eq!(aaaa.addresses, [ip("2600:1f18::11")], "{aaaa:?}");
        assert!(a.duration < Duration::from_millis(200), "{a:?}");
        assert!(aaaa.duration >= Duration::from_millis(300), "{aaaa:?}");
        assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_silent_server_times_out_at_the_deadline_and_the_next_one_is_asked() {
        let silent = scripted_server(Script::default()).await;
        let nx = scripted_server(Script { code: Some(ResponseCode::NXDomain), ..Default::default() }).await;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(600);
        let r = StubResolver::new(vec![silent]).lookup("logs.eu-west-3.amazonaws.com", QueryType::A, deadline).await;
        assert_eq!(r.outcome, LookupOutcome::Timeout, "{r:?}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(550) && waited < Duration::from_millis(900), "{waited:?}");
        assert_eq!(r.failures, [format!("{silent}: no answer before the deadline")]);

        let deadline = Instant::now() + Duration::from_millis(800);
        let r =
            StubResolver::new(vec![silent, nx]).lookup("logs.eu-west-3.amazonaws.com", QueryType::A, deadline).await;
        assert_eq!(r.outcome, LookupOutcome::NxDomain, "{r:?}");
        assert_eq!(r.server, Some(nx));
        assert_eq!(r.failures.len(), 1, "{r:?}");
    }

    #[tokio::test]
    async fn servfail_from_every_server_is_reported() {
        let a = scripted_server(Script { code: Some(ResponseCode::ServFail), ..Default::default() }).await;
        let b = scripted_server(Script { code: Some(ResponseCode::Refused), ..Default::default() }).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let r = StubResolver::new(vec![a, b]).lookup("s3.eu-west-3.amazonaws.com", QueryType::A, deadline).await;
        assert_eq!(r.outcome, LookupOutcome::Refused, "{r:?}");
        let all = r.failures.join("; ");
        assert!(all.contains("SERVFAIL") && all.contains("REFUSED"), "{all}");
    }
}
