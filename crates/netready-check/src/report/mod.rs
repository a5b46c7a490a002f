//! The readiness report: the JSON contract between the check, its users and the management plane.
//!
//! This build writes version 2 (`schema/report-v2.schema.json`, every field documented there); a
//! test checks that real reports validate against it. Version 1 ([`v1`]) is still read, and read
//! as version 2. A change a strict reader would refuse — a new enum value, a new required field —
//! is a new `schema_version`.

pub mod v1;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::TcpReport;
use crate::dns::{LookupOutcome, QueryType};
use crate::tls::TlsReport;
use crate::types::ServiceKey;

pub use v1::SCHEMA_V1;

/// The version of the report format this build writes.
pub const SCHEMA_VERSION: u32 = 2;

/// The schema of version 2, as shipped in the repository.
pub const SCHEMA_V2: &str = include_str!("../../../../schema/report-v2.schema.json");

/// The report versions this build can read, oldest first.
pub const READABLE_VERSIONS: [u32; 2] = [1, 2];

/// The shipped schema of a report version.
pub fn schema_of(version: u32) -> Option<&'static str> {
    match version {
        1 => Some(SCHEMA_V1),
        2 => Some(SCHEMA_V2),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every endpoint was reached on every address.
    Ready,
    /// At least one endpoint is not fully reachable.
    Degraded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub status: Status,
    /// When the check started, RFC 3339 in UTC.
    pub checked_at: String,
    pub duration_ms: u64,
    /// How the check probed.
    pub probe: ProbeInfo,
    pub task: TaskInfo,
    pub proxy: ProxyInfo,
    pub warnings: Vec<String>,
    pub endpoints: Vec<EndpointReport>,
}

/// How the check probed: what "reached" means in this report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// Whether a TLS handshake followed every TCP connection (an address counts as reached only
    /// when it succeeded).
    pub tls: bool,
    /// Whether IPv6 (AAAA) addresses were dialled: the task has IPv6.
    pub ipv6: bool,
    /// The deadline per endpoint, DNS, TCP and TLS together (0 in a report read from version 1).
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub region: String,
    pub partition: String,
    pub account_id: Option<String>,
    pub task_arn: Option<String>,
    pub cluster: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ipv4: Option<String>,
    pub subnet_cidr: Option<String>,
    pub private_ipv6: Option<String>,
    pub ipv6_subnet_cidr: Option<String>,
    pub public_ip: PublicIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIp {
    /// Whether the task's ENI has a public IP; `None` when not known.
    pub assigned: Option<bool>,
    pub address: Option<String>,
    pub source: PublicIpSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicIpSource {
    /// From `--public-ip` or `NETREADY_ASSIGN_PUBLIC_IP`.
    Config,
    /// From `ec2:DescribeNetworkInterfaces`.
    Ec2,
    Unknown,
}

impl PublicIpSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicIpSource::Config => "config",
            PublicIpSource::Ec2 => "ec2",
            PublicIpSource::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyInfo {
    pub configured: bool,
    /// The names of the proxy variables that are set, never their values.
    pub variables: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointReport {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
    pub access_type: AccessType,
    pub reachability: Reachability,
    pub dns: DnsReport,
    pub connections: Vec<ConnectionReport>,
    pub hints: Vec<String>,
}

/// How resolving an endpoint ended, over its A and AAAA queries together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DnsOutcome {
    /// At least one address, none of them special-purpose.
    Ok,
    /// The answer holds a special-purpose address (`0.0.0.0`, loopback, link-local, …): a DNS
    /// firewall or resolver policy blocking the name, or a private hosted zone overriding it.
    Sinkhole {
        error: String,
    },
    #[serde(rename = "nxdomain")]
    NxDomain {
        error: String,
    },
    NoRecords {
        error: String,
    },
    #[serde(rename = "servfail")]
    ServFail {
        error: String,
    },
    Refused {
        error: String,
    },
    Timeout {
        error: String,
    },
    Error {
        error: String,
    },
}

impl DnsOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsOutcome::Ok => "ok",
            DnsOutcome::Sinkhole { .. } => "sinkhole",
            DnsOutcome::NxDomain { .. } => "nxdomain",
            DnsOutcome::NoRecords { .. } => "no_records",
            DnsOutcome::ServFail { .. } => "servfail",
            DnsOutcome::Refused { .. } => "refused",
            DnsOutcome::Timeout { .. } => "timeout",
            DnsOutcome::Error { .. } => "error",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            DnsOutcome::Ok => None,
            DnsOutcome::Sinkhole { error }
            | DnsOutcome::NxDomain { error }
            | DnsOutcome::NoRecords { error }
            | DnsOutcome::ServFail { error }
            | DnsOutcome::Refused { error }
            | DnsOutcome::Timeout { error }
            | DnsOutcome::Error { error } => Some(error),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    #[serde(flatten)]
    pub outcome: DnsOutcome,
    /// The longer of the two queries.
    pub duration_ms: u64,
    /// The DNS server that answered the A query, or the last one asked.
    pub server: Option<String>,
    pub cname_chain: Vec<String>,
    /// The A and AAAA queries, asked concurrently (empty in a report read from version 1).
    pub queries: Vec<QueryReport>,
    pub addresses: Vec<AddressReport>,
}

/// One DNS query (A or AAAA) and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryReport {
    #[serde(rename = "type")]
    pub query: QueryType,
    #[serde(flatten)]
    pub outcome: LookupOutcome,
    pub duration_ms: u64,
    pub server: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Family::Ipv4 } else { Family::Ipv6 }
    }
}

/// Why a resolved address was not dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotDialled {
    /// A special-purpose address: a sinkhole's answer. Counts as not reached.
    SpecialPurpose,
    /// An IPv6 address while the task has no IPv6. Has no say in the result.
    TaskHasNoIpv6,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressReport {
    pub ip: IpAddr,
    pub family: Family,
    pub scope: Scope,
    pub dialled: bool,
    /// Why not, when `dialled` is false.
    pub not_dialled: Option<NotDialled>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub ip: IpAddr,
    pub family: Family,
    pub tcp: TcpReport,
    /// The TLS handshake, when TLS is on and TCP connected.
    pub tls: Option<TlsReport>,
}

impl ConnectionReport {
    /// Reached: TCP connected and, when a handshake was tried, it succeeded.
    pub fn reached(&self) -> bool {
        self.tcp.outcome == crate::dial::TcpOutcome::Ok && self.tls.as_ref().is_none_or(|t| t.outcome.is_ok())
    }

    /// The first phase that failed, in words: `tcp timeout`, `tls reset`; `None` when reached.
    pub fn failure(&self) -> Option<(&'static str, &'static str, String)> {
        if self.tcp.outcome != crate::dial::TcpOutcome::Ok {
            return Some(("tcp", self.tcp.outcome.as_str(), self.tcp.outcome.describe()));
        }
        match &self.tls {
            Some(tls) if !tls.outcome.is_ok() => {
                let mut text = tls.outcome.describe();
                if let (crate::tls::TlsOutcome::Untrusted { .. }, Some(cert)) = (&tls.outcome, &tls.certificate) {
                    text = format!("{text} (issuer {})", cert.issuer);
                }
                Some(("tls", tls.outcome.as_str(), text))
            }
            _ => None,
        }
    }

    /// The slower phase's end, i.e. how long this address took.
    pub fn duration_ms(&self) -> u64 {
        self.tcp.duration_ms + self.tls.as_ref().map_or(0, |t| t.duration_ms)
    }
}

/// Why a report body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the report has no schema_version; readable versions: {READABLE_VERSIONS:?}")]
    NoVersion,
    #[error("schema_version {0} is not readable by this version; readable versions: {READABLE_VERSIONS:?}")]
    UnknownVersion(String),
    #[error("the report does not match schema version {version}: {reason}")]
    Shape { version: u32, reason: String },
}

impl Report {
    /// Ready when every endpoint is fully reachable.
    pub fn decide(endpoints: &[EndpointReport]) -> Status {
        if !endpoints.is_empty() && endpoints.iter().all(|e| e.reachability == Reachability::Full) {
            Status::Ready
        } else {
            Status::Degraded
        }
    }

    /// The endpoints that are not fully reachable.
    pub fn degraded_endpoints(&self) -> impl Iterator<Item = &EndpointReport> {
        self.endpoints.iter().filter(|e| e.reachability != Reachability::Full)
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The version a body declares, without reading the rest.
    pub fn version_of(value: &serde_json::Value) -> Result<u32, ReadError> {
        match value.get("schema_version") {
            None => Err(ReadError::NoVersion),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| READABLE_VERSIONS.contains(n))
                .ok_or_else(|| ReadError::UnknownVersion(v.to_string())),
        }
    }

    /// Reads a report of any readable version as version 2 (a version 1 report is upgraded; its
    /// `schema_version` stays 1). Does not validate against the JSON Schema: callers that take
    /// input from outside do that first.
    pub fn from_value(value: serde_json::Value) -> Result<Report, ReadError> {
        let version = Self::version_of(&value)?;
        let shape = |e: serde_json::Error| ReadError::Shape { version, reason: e.to_string() };
        match version {
            1 => serde_json::from_value::<v1::ReportV1>(value).map(v1::ReportV1::upgrade).map_err(shape),
            _ => serde_json::from_value::<Report>(value).map_err(shape),
        }
    }
}

/// Whole milliseconds, as the report carries them.
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
