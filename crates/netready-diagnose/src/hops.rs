//! What the model concludes, as data: a verdict per service and per address, and the hops that
//! decided it. A leaf: [`crate::verdict`] and [`crate::target`] compute these; [`crate::report`]
//! and [`crate::render`] show them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::dns::{AddressSource, DnsModel};
use crate::path::{AccessType, RouteRef};
use crate::service::ServiceKey;

/// The model's verdict for a service (or one address of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Reachable,
    Unknown,
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reachable => "reachable",
            Verdict::Unknown => "unknown",
            Verdict::Blocked => "blocked",
        }
    }
}

/// The hops of a path, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopKind {
    SecurityGroupEgress,
    NetworkAclOutbound,
    NetworkAclReturn,
    Route,
    Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopResult {
    Pass,
    Block,
    Unknown,
}

/// One hop of one address's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub hop: HopKind,
    pub result: HopResult,
    /// The resources that decided (`sg-…`, `acl-…`, `rtb-…`, `nat-…`).
    pub resources: Vec<String>,
    pub detail: String,
    /// The finding that explains a `block` or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
}

/// One address of a service: where it came from, its path and its hops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressResult {
    pub address: IpAddr,
    pub source: AddressSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub route: Option<RouteRef>,
    pub access_type: AccessType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    pub verdict: Verdict,
    pub hops: Vec<Hop>,
}

/// One service, for one subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceResult {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
    pub verdict: Verdict,
    /// Why not `reachable`, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The findings that block it (`blocked`) or leave it open (`unknown`).
    pub findings: Vec<String>,
    pub access_type: AccessType,
    pub dns: DnsModel,
    pub addresses: Vec<AddressResult>,
}
