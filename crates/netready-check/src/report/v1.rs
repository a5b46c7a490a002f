//! Version 1 of the report (`schema/report-v1.schema.json`), as agents before TLS and IPv6
//! probing send it. The plane keeps accepting it; [`ReportV1::upgrade`] reads it as a version 2
//! [`Report`] so that everything downstream knows one shape.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::model::{
    AddressReport, ConnectionReport, DnsOutcome, DnsReport, EndpointReport, Family, NotDialled, ProbeInfo, Report,
};
use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::{TcpOutcome, TcpReport};
use crate::types::ServiceKey;

/// The schema of version 1, as shipped in the repository.
pub const SCHEMA_V1: &str = include_str!("../../../../schema/report-v1.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportV1 {
    pub schema_version: u32,
    pub status: super::model::Status,
    pub checked_at: String,
    pub duration_ms: u64,
    pub task: TaskInfoV1,
    pub proxy: super::model::ProxyInfo,
    pub warnings: Vec<String>,
    pub endpoints: Vec<EndpointV1>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfoV1 {
    pub region: String,
    pub partition: String,
    pub account_id: Option<String>,
    pub task_arn: Option<String>,
    pub cluster: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ipv4: Option<String>,
    pub subnet_cidr: Option<String>,
    pub public_ip: super::model::PublicIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointV1 {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
    pub access_type: AccessType,
    pub reachability: Reachability,
    pub dns: DnsV1,
    pub connections: Vec<ConnectionV1>,
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsOutcomeV1 {
    Ok,
    #[serde(rename = "nxdomain")]
    NxDomain,
    NoRecords,
    #[serde(rename = "servfail")]
    ServFail,
    Refused,
    Timeout,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsV1 {
    pub outcome: DnsOutcomeV1,
    pub duration_ms: u64,
    #[serde(default)]
    pub server: Option<String>,
    pub cname_chain: Vec<String>,
    pub addresses: Vec<AddressV1>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressV1 {
    /// Any string, as schema version 1 says (version 2 requires an IP address).
    pub ip: String,
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialOutcomeV1 {
    Ok,
    Timeout,
    Refused,
    Unreachable,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionV1 {
    pub ip: IpAddr,
    pub outcome: DialOutcomeV1,
    pub duration_ms: u64,
    pub error: Option<String>,
}

impl ReportV1 {
    /// The same facts in the version 2 shape. What version 1 did not record stays unknown: no TLS
    /// phase, no per-query DNS detail, and every IPv4 address counted as dialled (version 1 dialled
    /// IPv4 only).
    pub fn upgrade(self) -> Report {
        Report {
            schema_version: 1,
            status: self.status,
            checked_at: self.checked_at,
            duration_ms: self.duration_ms,
            probe: ProbeInfo { tls: false, ipv6: false, timeout_ms: 0 },
            task: super::model::TaskInfo {
                region: self.task.region,
                partition: self.task.partition,
                account_id: self.task.account_id,
                task_arn: self.task.task_arn,
                cluster: self.task.cluster,
                availability_zone: self.task.availability_zone,
                private_ipv4: self.task.private_ipv4,
                subnet_cidr: self.task.subnet_cidr,
                private_ipv6: None,
                ipv6_subnet_cidr: None,
                public_ip: self.task.public_ip,
            },
            proxy: self.proxy,
            warnings: self.warnings,
            endpoints: Vec::new(),
            diagnosis: None,
        }
        .with_endpoints(self.endpoints)
    }
}

impl Report {
    /// Adds version 1 endpoints; an address that is not an IP address (version 1 allowed any
    /// string) is left out of the version 2 view, with a warning.
    fn with_endpoints(mut self, endpoints: Vec<EndpointV1>) -> Report {
        for e in endpoints {
            for a in &e.dns.addresses {
                if a.ip.parse::<IpAddr>().is_err() {
                    self.warnings.push(format!(
                        "{}: the version 1 report lists '{}' as an address, which is not an IP address",
                        e.service, a.ip
                    ));
                }
            }
            self.endpoints.push(upgrade_endpoint(e));
        }
        self
    }
}

fn upgrade_endpoint(e: EndpointV1) -> EndpointReport {
    let error = e.dns.error.clone().unwrap_or_default();
    let outcome = match e.dns.outcome {
        DnsOutcomeV1::Ok => DnsOutcome::Ok,
        DnsOutcomeV1::NxDomain => DnsOutcome::NxDomain { error },
        DnsOutcomeV1::NoRecords => DnsOutcome::NoRecords { error },
        DnsOutcomeV1::ServFail => DnsOutcome::ServFail { error },
        DnsOutcomeV1::Refused => DnsOutcome::Refused { error },
        DnsOutcomeV1::Timeout => DnsOutcome::Timeout { error },
        DnsOutcomeV1::Error => DnsOutcome::Error { error },
    };
    EndpointReport {
        service: e.service,
        host: e.host,
        port: e.port,
        access_type: e.access_type,
        reachability: e.reachability,
        dns: DnsReport {
            outcome,
            duration_ms: e.dns.duration_ms,
            server: e.dns.server,
            cname_chain: e.dns.cname_chain,
            queries: Vec::new(),
            addresses: e
                .dns
                .addresses
                .into_iter()
                .filter_map(|a| a.ip.parse::<IpAddr>().ok().map(|ip| (ip, a.scope)))
                .map(|(ip, scope)| AddressReport {
                    ip,
                    family: Family::of(ip),
                    scope,
                    dialled: ip.is_ipv4(),
                    not_dialled: (!ip.is_ipv4()).then_some(NotDialled::TaskHasNoIpv6),
                })
                .collect(),
        },
        connections: e
            .connections
            .into_iter()
            .map(|c| {
                let error = c.error.unwrap_or_default();
                ConnectionReport {
                    ip: c.ip,
                    family: Family::of(c.ip),
                    route: None,
                    access_type: None,
                    tcp: TcpReport {
                        outcome: match c.outcome {
                            DialOutcomeV1::Ok => TcpOutcome::Ok,
                            DialOutcomeV1::Timeout => TcpOutcome::Timeout,
                            DialOutcomeV1::Refused => TcpOutcome::Refused { error },
                            DialOutcomeV1::Unreachable => TcpOutcome::Unreachable { error },
                            DialOutcomeV1::Error => TcpOutcome::Error { error },
                        },
                        duration_ms: c.duration_ms,
                        budget_ms: 0,
                    },
                    tls: None,
                }
            })
            .collect(),
        hints: e.hints,
    }
}
