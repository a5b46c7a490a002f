//! The readiness report: the JSON contract between the check, its users and the management plane.
//!
//! `schema/report-v1.schema.json` documents every field; a test checks that real reports validate
//! against it. Changing a field's meaning or removing one means a new `schema_version`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::DialOutcome;
use crate::dns::DnsOutcome;
use crate::types::ServiceKey;

/// The version of the report format this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The schema of version 1, as shipped in the repository.
pub const SCHEMA_V1: &str = include_str!("../../../schema/report-v1.schema.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every endpoint accepted a connection on every address.
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
    pub task: TaskInfo,
    pub proxy: ProxyInfo,
    pub warnings: Vec<String>,
    pub endpoints: Vec<EndpointReport>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsReport {
    pub outcome: DnsOutcome,
    pub duration_ms: u64,
    /// The DNS server that answered, or the last one asked.
    #[serde(default)]
    pub server: Option<String>,
    pub cname_chain: Vec<String>,
    pub addresses: Vec<AddressReport>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressReport {
    pub ip: IpAddr,
    pub scope: Scope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub ip: IpAddr,
    pub outcome: DialOutcome,
    pub duration_ms: u64,
    pub error: Option<String>,
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

/// Whole milliseconds, as the report carries them.
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
