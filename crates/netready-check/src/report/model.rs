//! The report's data types, as the newest version defines them (`schema/report-v4.schema.json`).
//! A leaf: the version dispatch ([`super`]) and the version 1 reader ([`super::v1`]) both build
//! these, and this module imports neither.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use netready_diagnose::facts::EndpointType;
use netready_diagnose::{AwsApi, Finding, RouteRef};

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::TcpReport;
use crate::dns::{LookupOutcome, QueryType};
use crate::tls::TlsReport;
use crate::types::ServiceKey;

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
    /// What the AWS APIs said about the task's network (version 3; `None` in a report read from
    /// an older version, and in a check's probes before the diagnosis is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<DiagnosisReport>,
}

/// How the diagnosis went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosisStatus {
    /// The network was read completely.
    Ok,
    /// Read, with gaps (calls refused or failed).
    Partial,
    /// `--aws-api auto` and no credentials, or no task to read.
    Skipped,
    /// It should have run and could not.
    Unavailable,
    /// `--aws-api off`.
    Off,
}

impl DiagnosisStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosisStatus::Ok => "ok",
            DiagnosisStatus::Partial => "partial",
            DiagnosisStatus::Skipped => "skipped",
            DiagnosisStatus::Unavailable => "unavailable",
            DiagnosisStatus::Off => "off",
        }
    }

    /// Whether the network was read (routes and findings are there).
    pub fn read(self) -> bool {
        matches!(self, DiagnosisStatus::Ok | DiagnosisStatus::Partial)
    }
}

/// The report's `diagnosis`: how reading the network went, what was read, and the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosisReport {
    pub status: DiagnosisStatus,
    pub mode: AwsApi,
    /// Why skipped, unavailable or partial.
    pub note: Option<String>,
    /// When the network was read, RFC 3339 UTC (earlier than `checked_at` for facts the agent kept).
    pub read_at: Option<String>,
    pub network: Option<NetworkReport>,
    /// Errors first.
    pub findings: Vec<Finding>,
}

/// The task's network as read, in brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkReport {
    pub eni_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub vpc_cidrs: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub route_table_id: Option<String>,
    pub network_acl_id: Option<String>,
    pub vpc_endpoints: Vec<VpcEndpointReport>,
}

/// One of the VPC's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpointReport {
    pub id: String,
    pub service_name: String,
    #[serde(rename = "type")]
    pub endpoint_type: EndpointType,
    pub state: String,
    pub private_dns_enabled: bool,
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
    /// The route this address takes in the task subnet's route table (version 3, with the
    /// diagnosis; `None` when the table was not read or no route matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteRef>,
    /// How traffic to this address leaves the task, from its route (version 3: present exactly
    /// when the route table was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_type: Option<AccessType>,
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
                use crate::tls::{CertificateProblem, TlsOutcome};
                let mut text = tls.outcome.describe();
                if let (TlsOutcome::Untrusted { reason, task_clock, .. }, Some(cert)) = (&tls.outcome, &tls.certificate)
                {
                    let clock = task_clock.as_deref().unwrap_or("unknown");
                    text = match reason {
                        Some(CertificateProblem::Expired) => {
                            format!("{text} (not after {}, task clock {clock})", cert.not_after)
                        }
                        Some(CertificateProblem::NotYetValid) => format!(
                            "{text} (not before {}, task clock {clock})",
                            cert.not_before.as_deref().unwrap_or("unknown")
                        ),
                        _ => format!("{text} (issuer {})", cert.issuer),
                    };
                }
                if let Some(retry) = &tls.retry {
                    let _ = write!(text, "; again with {}-byte segments: {}", retry.mss, retry.outcome.as_str());
                    if retry.outcome.answered() {
                        let _ = write!(text, " in {} ms", retry.duration_ms);
                    }
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
}
