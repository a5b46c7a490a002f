//! The pure classifier: from resolved addresses and what is known of the task, how an endpoint is
//! reached. No I/O here; every row of the source document's access-type table is a test below.
//!
//! Only addresses that were dialled decide: an AAAA answer on a task without IPv6 is reported but
//! has no say, and a special-purpose answer (a DNS sinkhole's `0.0.0.0`, loopback, link-local) is
//! never dialled at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Whether an address stays inside the VPC, leaves it, or is no service address at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Private,
    Public,
    /// A special-purpose address (`0.0.0.0/8`, loopback, link-local, multicast, reserved, the
    /// IPv6 discard prefix): what a DNS sinkhole answers. Never dialled.
    Special,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Private => "private",
            Scope::Public => "public",
            Scope::Special => "special",
        }
    }
}

/// How traffic to an endpoint leaves the task. The classifier here gives the source document's
/// three types and `unknown`; the route table (through `netready-diagnose`) refines them.
pub use netready_diagnose::AccessType;

/// How many of an endpoint's addresses were reached.
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

/// Why an address is special-purpose, or `None` for an address a service could live at. These are
/// the answers of DNS firewalls and resolver policies that block a name (`0.0.0.0`, `::`,
/// `127.0.0.1`), and ranges that can never be a remote endpoint.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => special_v4(v4),
            None => special_v6(v6),
        },
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if o[0] == 0 {
        Some("'this network' (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Some("loopback (127.0.0.0/8)")
    } else if ip.is_link_local() {
        Some("link-local (169.254.0.0/16)")
    } else if ip.is_multicast() {
        Some("multicast (224.0.0.0/4)")
    } else if o[0] >= 240 {
        Some("reserved (240.0.0.0/4)")
    } else {
        None
    }
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        Some("unspecified (::)")
    } else if ip.is_loopback() {
        Some("loopback (::1)")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("link-local (fe80::/10)")
    } else if ip.is_multicast() {
        Some("multicast (ff00::/8)")
    } else if s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0 {
        Some("discard-only (100::/64)")
    } else if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0 {
        Some("IPv4-compatible (::/96)")
    } else {
        None
    }
}

/// The scope of one address: special-purpose first; private when it lies in a known VPC or subnet
/// CIDR, or in a range that is private everywhere; public otherwise.
pub fn scope(ip: IpAddr, known_cidrs: &[IpNet]) -> Scope {
    if special_purpose(ip).is_some() {
        return Scope::Special;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let always = ALWAYS_PRIVATE.iter().filter_map(|c| c.parse::<IpNet>().ok());
    if known_cidrs.iter().copied().chain(always).any(|net| net.contains(&ip)) { Scope::Private } else { Scope::Public }
}

/// The access type of one endpoint.
///
/// `dialled` are the scopes of the addresses that were dialled (empty when nothing was); `public_ip`
/// is whether the task's ENI has a public IP, `None` when unknown. Any public address means traffic
/// leaves the VPC, so a mix of private and public is classified by its public part.
pub fn classify(dialled: &[Scope], public_ip: Option<bool>) -> AccessType {
    let dialled: Vec<Scope> = dialled.iter().copied().filter(|s| *s != Scope::Special).collect();
    if dialled.is_empty() {
        return AccessType::Unknown;
    }
    if dialled.iter().all(|s| *s == Scope::Private) {
        return AccessType::VpcEndpoint;
    }
    match public_ip {
        Some(false) => AccessType::NatGateway,
        Some(true) => AccessType::InternetGateway,
        None => AccessType::Unknown,
    }
}

/// From whether each counted address was reached: full when all were, none when none were (or there
/// was nothing to count). Counted are the dialled addresses and any special-purpose answer (which a
/// real client would try, and fail on).
pub fn reachability(reached: &[bool]) -> Reachability {
    let ok = reached.iter().filter(|r| **r).count();
    if ok == 0 {
        Reachability::None
    } else if ok == reached.len() {
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
        // (dialled scopes, task has public ip, expected) — the three rows of the table, then the edges.
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
            // Special-purpose answers are never dialled and never decide.
            (&[Special], Some(false), Unknown),
            (&[Special, Private], Some(false), VpcEndpoint),
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
    fn special_purpose_answers() {
        let special = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "100::1",
            "::ffff:0.0.0.0",
            "::ffff:127.0.0.1",
            "::7f00:1",
        ];
        for addr in special {
            assert!(special_purpose(ip(addr)).is_some(), "{addr}");
            // Special wins over any configured CIDR: a sinkhole is a sinkhole.
            assert_eq!(scope(ip(addr), &nets(&["0.0.0.0/0", "::/0"])), Special, "{addr}");
        }
        for addr in ["1.1.1.1", "10.0.0.1", "100.64.0.1", "223.255.255.255", "2600:1f18::1", "fd00::1", "fec0::1"] {
            assert_eq!(special_purpose(ip(addr)), None, "{addr}");
        }
        assert_eq!(special_purpose(ip("0.0.0.0")), Some("'this network' (0.0.0.0/8)"));
    }

    #[test]
    fn a_known_vpc_cidr_outside_rfc1918_is_private() {
        // A VPC may use any range, such as the task metadata sample's 192.0.2.0/24 or a BYOIP block.
        let known = nets(&["192.0.2.0/24", "198.18.0.0/16"]);
        assert_eq!(scope(ip("192.0.2.200"), &known), Private);
        assert_eq!(scope(ip("198.18.2.11"), &known), Private);
        assert_eq!(scope(ip("198.19.0.1"), &known), Public);
        assert_eq!(scope(ip("198.18.2.11"), &[]), Public);
        // A dual-stack VPC's IPv6 block is global unicast: private only when known.
        assert_eq!(scope(ip("2600:1f18:4a3:6902::11"), &nets(&["2600:1f18:4a3:6900::/56"])), Private);
        assert_eq!(scope(ip("2600:1f18:4a3:6902::11"), &[]), Public);
    }

    #[test]
    fn reachability_counts_reached_addresses() {
        assert_eq!(reachability(&[true]), Reachability::Full);
        assert_eq!(reachability(&[true, true, true]), Reachability::Full);
        assert_eq!(reachability(&[true, false, true]), Reachability::Partial);
        assert_eq!(reachability(&[false]), Reachability::None);
        assert_eq!(reachability(&[]), Reachability::None);
    }
}
