//! The pure classifier: from resolved addresses and what is known of the task, how an endpoint is
//! reached. No I/O here; every row of the source document's access-type table is a test below.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::dial::DialOutcome;

/// Whether an address stays inside the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Private,
    Public,
}

/// How traffic to an endpoint leaves the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessType {
    /// DNS resolved to private addresses: an interface endpoint (PrivateLink) inside the VPC.
    VpcEndpoint,
    /// Public addresses, and the task has no public IP: the route must be a NAT gateway.
    NatGateway,
    /// Public addresses, and the task has a public IP: the route is an internet gateway.
    InternetGateway,
    /// DNS failed, or public addresses while it is not known whether the task has a public IP.
    Unknown,
}

impl AccessType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::VpcEndpoint => "vpc_endpoint",
            AccessType::NatGateway => "nat_gateway",
            AccessType::InternetGateway => "internet_gateway",
            AccessType::Unknown => "unknown",
        }
    }
}

/// How many of an endpoint's addresses accepted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Full,
    Partial,
    None,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Full => "full",
            Reachability::Partial => "partial",
            Reachability::None => "none",
        }
    }
}

/// Ranges that never leave a VPC even when no VPC CIDR is known: RFC 1918, and the shared address
/// space 100.64.0.0/10 that VPCs may use as a secondary CIDR. For IPv6, unique local fc00::/7.
const ALWAYS_PRIVATE: [&str; 5] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/// The scope of one address: private when it lies in a known VPC or subnet CIDR, or in a range that
/// is private everywhere; public otherwise.
pub fn scope(ip: IpAddr, known_cidrs: &[IpNet]) -> Scope {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let always = ALWAYS_PRIVATE.iter().filter_map(|c| c.parse::<IpNet>().ok());
    if known_cidrs.iter().copied().chain(always).any(|net| net.contains(&ip)) { Scope::Private } else { Scope::Public }
}

/// The access type of one endpoint.
///
/// `scopes` are the scopes of every address DNS returned (empty when DNS failed); `public_ip` is
/// whether the task's ENI has a public IP, `None` when unknown. Any public address means traffic
/// leaves the VPC, so a mix of private and public is classified by its public part.
pub fn classify(scopes: &[Scope], public_ip: Option<bool>) -> AccessType {
    if scopes.is_empty() {
        return AccessType::Unknown;
    }
    if scopes.iter().all(|s| *s == Scope::Private) {
        return AccessType::VpcEndpoint;
    }
    match public_ip {
        Some(false) => AccessType::NatGateway,
        Some(true) => AccessType::InternetGateway,
        None => AccessType::Unknown,
    }
}

/// Full when every dialled address connected, none when none did (or there was nothing to dial).
pub fn reachability(outcomes: &[DialOutcome]) -> Reachability {
    let ok = outcomes.iter().filter(|o| **o == DialOutcome::Ok).count();
    if ok == 0 {
        Reachability::None
    } else if ok == outcomes.len() {
        Reachability::Full
    } else {
        Reachability::Partial
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use AccessType::*;
    use Scope::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn the_source_documents_access_type_table() {
        // (scopes, task has public ip, expected) — the three rows of the table, then the edges.
        let rows: &[(&[Scope], Option<bool>, AccessType)] = &[
            (&[Private], Some(false), VpcEndpoint),
            (&[Private, Private], None, VpcEndpoint),
            (&[Private], Some(true), VpcEndpoint),
            (&[Public], Some(false), NatGateway),
            (&[Public, Public, Public], Some(false), NatGateway),
            (&[Public], Some(true), InternetGateway),
            // Edges.
            (&[], Some(false), Unknown),
            (&[], Some(true), Unknown),
            (&[], None, Unknown),
            (&[Public], None, Unknown),
            (&[Private, Public], Some(false), NatGateway),
            (&[Public, Private], Some(true), InternetGateway),
            (&[Private, Public], None, Unknown),
        ];
        for (scopes, public_ip, expected) in rows {
            assert_eq!(classify(scopes, *public_ip), *expected, "{scopes:?} public_ip={public_ip:?}");
        }
    }

    #[test]
    fn scopes() {
        let none: Vec<IpNet> = vec![];
        let rows = [
            ("10.0.2.15", &none, Private),
            ("172.16.0.1", &none, Private),
            ("172.31.255.255", &none, Private),
            ("172.32.0.1", &none, Public),
            ("192.168.1.1", &none, Private),
            ("100.64.0.1", &none, Private),
            ("100.127.255.255", &none, Private),
            ("100.128.0.1", &none, Public),
            ("52.95.110.1", &none, Public),
            ("3.5.0.1", &none, Public),
            ("fd00::1", &none, Private),
            ("2600:1f18::1", &none, Public),
            ("::ffff:10.1.2.3", &none, Private),
        ];
        for (addr, known, expected) in rows {
            assert_eq!(scope(ip(addr), known), expected, "{addr}");
        }
    }

    #[test]
    fn a_known_vpc_cidr_outside_rfc1918_is_private() {
        // A VPC may use any range, such as the task metadata sample's 192.0.2.0/24 or a BYOIP block.
        let known = nets(&["192.0.2.0/24", "198.18.0.0/16"]);
        assert_eq!(scope(ip("192.0.2.200"), &known), Private);
        assert_eq!(scope(ip("198.18.2.11"), &known), Private);
        assert_eq!(scope(ip("198.19.0.1"), &known), Public);
        assert_eq!(scope(ip("198.18.2.11"), &[]), Public);
        assert_eq!(scope(ip("2600:1f13:10b:1a00::5"), &nets(&["2600:1f13:10b:1a00::/64"])), Private);
    }

    #[test]
    fn reachability_counts_connected_addresses() {
        use DialOutcome as D;
        assert_eq!(reachability(&[D::Ok]), Reachability::Full);
        assert_eq!(reachability(&[D::Ok, D::Ok, D::Ok]), Reachability::Full);
        assert_eq!(reachability(&[D::Ok, D::Timeout, D::Ok]), Reachability::Partial);
        assert_eq!(reachability(&[D::Refused]), Reachability::None);
        assert_eq!(reachability(&[D::Timeout, D::Unreachable, D::Error]), Reachability::None);
        assert_eq!(reachability(&[]), Reachability::None);
    }
}
