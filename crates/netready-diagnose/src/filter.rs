//! Security groups and network ACLs, evaluated as AWS does.
//!
//! Security groups are stateful allow-lists: a connection is allowed when any rule of any group on
//! the interface allows it, and its return traffic always is. Rules name a CIDR, a prefix list or
//! another security group (meaning: the interfaces that carry it).
//!
//! Network ACLs are stateless and ordered: for each packet, the lowest-numbered entry that matches
//! decides, and when none does the implicit final entry (`*`) denies. Return traffic is a packet
//! of its own: inbound to the task's ephemeral port.

use std::net::IpAddr;

use crate::facts::{NaclEntry, NetworkAcl, NetworkFacts, Peer, Protocol, SecurityGroup, SgRule};
use crate::route::longest;

/// The ephemeral ports Linux (and so a Fargate task) uses as the source of its connections:
/// `net.ipv4.ip_local_port_range`, 32768–60999.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// Yes, no, or cannot say (a prefix list or a referenced group that could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, by this group's rule.
    Allowed {
        group: String,
    },
    Denied,
    /// No rule that could be read allows it; these could not be evaluated.
    Unknown {
        unreadable: Vec<String>,
    },
}

enum Tri {
    Yes,
    No,
    Unknown(String),
}

fn ports_cover(rule_protocol: Protocol, ports: Option<(u16, u16)>, port: u16) -> bool {
    match rule_protocol {
        Protocol::All => true,
        Protocol::Tcp => ports.is_none_or(|(lo, hi)| lo <= port && port <= hi),
        _ => false,
    }
}

/// Whether `address` belongs to a network interface that carries `group`: only known for the
/// interfaces discovery read (the task's, the interface endpoints').
fn carries_group(facts: &NetworkFacts, address: IpAddr, group: &str) -> Tri {
    if let Some(eni) = &facts.eni
        && (eni.private_ipv4 == Some(address) || eni.ipv6.contains(&address))
    {
        return if eni.security_group_ids.iter().any(|g| g == group) { Tri::Yes } else { Tri::No };
    }
    for endpoint in &facts.vpc_endpoints {
        if endpoint.addresses.contains(&address) {
            return if endpoint.security_group_ids.iter().any(|g| g == group) { Tri::Yes } else { Tri::No };
        }
    }
    if facts.vpc_cidrs().iter().any(|net| net.contains(&address)) {
        Tri::Unknown(group.to_owned())
    } else {
        // Outside the VPC (and not a peered group, which netready does not follow): no interface of
        // this group has that address.
        Tri::No
    }
}

fn prefix_list_contains(facts: &NetworkFacts, id: &str, address: IpAddr) -> Tri {
    match facts.prefix_list(id).and_then(|p| p.entries.as_deref()) {
        Some(entries) if longest(entries, address).is_some() => Tri::Yes,
        Some(_) => Tri::No,
        None => Tri::Unknown(id.to_owned()),
    }
}

fn evaluate(
    groups: &[&SecurityGroup],
    rules: impl Fn(&SecurityGroup) -> &[SgRule],
    port: u16,
    peer_matches: impl Fn(&Peer) -> Tri,
) -> Verdict {
    let mut unreadable = Vec::new();
    for group in groups {
        for rule in rules(group) {
            if !ports_cover(rule.protocol, rule.ports, port) {
                continue;
            }
            match peer_matches(&rule.peer) {
                Tri::Yes => return Verdict::Allowed { group: group.id.clone() },
                Tri::No => {}
                Tri::Unknown(what) => unreadable.push(what),
            }
        }
    }
    if unreadable.is_empty() {
        Verdict::Denied
    } else {
        unreadable.sort();
        unreadable.dedup();
        Verdict::Unknown { unreadable }
    }
}

/// Whether the egress rules of `groups` allow a TCP connection to `address`:`port`.
pub fn egress_allows(facts: &NetworkFacts, groups: &[&SecurityGroup], address: IpAddr, port: u16) -> Verdict {
    evaluate(
        groups,
        |g| &g.egress,
        port,
        |peer| match peer {
            Peer::Cidr(net) => {
                if net.contains(&address) {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
            Peer::PrefixList(id) => prefix_list_contains(facts, id, address),
            Peer::SecurityGroup(group) => carries_group(facts, address, group),
        },
    )
}

/// Whether the ingress rules of `groups` allow a TCP connection on `port` from `source`, an
/// interface that carries `source_groups`.
pub fn ingress_allows(
    facts: &NetworkFacts,
    groups: &[&SecurityGroup],
    source: IpAddr,
    source_groups: &[String],
    port: u16,
) -> Verdict {
    evaluate(
        groups,
        |g| &g.ingress,
        port,
        |peer| match peer {
            Peer::Cidr(net) => {
                if net.contains(&source) {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
            Peer::PrefixList(id) => prefix_list_contains(facts, id, source),
            Peer::SecurityGroup(group) => {
                if source_groups.contains(group) {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
        },
    )
}

/// What a network ACL does with TCP packets to (egress) or from (ingress) `address` on a range of
/// ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NaclVerdict {
    Allowed,
    /// Some or all of the ports are denied: by these entries (`None`: the implicit final deny).
    Denied {
        ranges: Vec<(u16, u16)>,
        rules: Vec<Option<u16>>,
    },
}

/// Evaluates `acl` for TCP packets in one direction between the task and `address`, on every port
/// of `ports` (inclusive), entry by entry in rule-number order.
pub fn nacl_evaluate(acl: &NetworkAcl, egress: bool, address: IpAddr, ports: (u16, u16)) -> NaclVerdict {
    let mut entries: Vec<&NaclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    let mut open = vec![ports];
    let mut denied = Vec::new();
    let mut rules = Vec::new();
    for entry in entries {
        if open.is_empty() {
            break;
        }
        if !entry.cidr.contains(&address) || !entry.protocol.covers_tcp() {
            continue;
        }
        let (lo, hi) = match (entry.protocol, entry.ports) {
            (Protocol::Tcp, Some(range)) => range,
            _ => (0, u16::MAX),
        };
        let mut rest = Vec::new();
        let mut hit = false;
        for (a, b) in open {
            let (x, y) = (a.max(lo), b.min(hi));
            if x > y {
                rest.push((a, b));
                continue;
            }
            hit = true;
            if !entry.allow {
                denied.push((x, y));
            }
            if a < x {
                rest.push((a, x - 1));
            }
            if y < b {
                rest.push((y + 1, b));
            }
        }
        if hit && !entry.allow {
            rules.push(Some(entry.rule_number));
        }
        open = rest;
    }
    if !open.is_empty() {
        denied.extend(open);
        rules.push(None);
    }
    if denied.is_empty() {
        NaclVerdict::Allowed
    } else {
        denied.sort();
        NaclVerdict::Denied { ranges: denied, rules }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::facts::{Eni, PrefixList, Vpc, VpcEndpoint};

    fn rule(protocol: &str, ports: Option<(u16, u16)>, peer: Peer) -> SgRule {
        SgRule { protocol: Protocol::parse(protocol).unwrap(), ports, peer }
    }

    fn cidr(s: &str) -> Peer {
        Peer::Cidr(s.parse().unwrap())
    }

    fn facts() -> NetworkFacts {
        NetworkFacts {
            region: "eu-west-3".into(),
            eni: Some(Eni {
                id: "eni-task".into(),
                private_ipv4: Some("10.0.1.10".parse().unwrap()),
                security_group_ids: vec!["sg-task".into()],
                ..Eni::default()
            }),
            vpc: Some(Vpc { id: "vpc-1".into(), cidrs: vec!["10.0.0.0/16".parse().unwrap()], ..Vpc::default() }),
            prefix_lists: vec![
                PrefixList {
                    id: "pl-s3".into(),
                    name: "com.amazonaws.eu-west-3.s3".into(),
                    entries: Some(vec!["52.95.154.0/23".parse().unwrap()]),
                },
                PrefixList { id: "pl-secret".into(), name: "unreadable".into(), entries: None },
            ],
            vpc_endpoints: vec![VpcEndpoint {
                id: "vpce-logs".into(),
                service_name: "com.amazonaws.eu-west-3.logs".into(),
                endpoint_type: crate::facts::EndpointType::Interface,
                state: "available".into(),
                private_dns_enabled: true,
                subnet_ids: vec![],
                security_group_ids: vec!["sg-endpoints".into()],
                route_table_ids: vec![],
                addresses: vec!["10.0.2.11".parse().unwrap()],
            }],
            ..NetworkFacts::default()
        }
    }

    fn group(egress: Vec<SgRule>) -> SecurityGroup {
        SecurityGroup { id: "sg-task".into(), name: "task".into(), ingress: vec![], egress }
    }

    #[test]
    fn security_group_egress_table() {
        let f = facts();
        let v4 = "52.95.155.1";
        let cases: Vec<(&str, Vec<SgRule>, &str, u16, &str)> = vec![
            ("default allow-all", vec![rule("-1", None, cidr("0.0.0.0/0"))], v4, 443, "allowed"),
            ("allow-all is IPv4 only", vec![rule("-1", None, cidr("0.0.0.0/0"))], "2a05:d012::1", 443, "denied"),
            ("IPv6 rule", vec![rule("-1", None, cidr("::/0"))], "2a05:d012::1", 443, "allowed"),
            ("tcp 443", vec![rule("tcp", Some((443, 443)), cidr("0.0.0.0/0"))], v4, 443, "allowed"),
            ("tcp 6 by number", vec![rule("6", Some((400, 500)), cidr("0.0.0.0/0"))], v4, 443, "allowed"),
            ("only 80", vec![rule("tcp", Some((80, 80)), cidr("0.0.0.0/0"))], v4, 443, "denied"),
            ("udp 443", vec![rule("udp", Some((443, 443)), cidr("0.0.0.0/0"))], v4, 443, "denied"),
            ("other CIDR", vec![rule("tcp", Some((443, 443)), cidr("10.0.0.0/16"))], v4, 443, "denied"),
            ("no rules", vec![], v4, 443, "denied"),
            (
                "S3 prefix list",
                vec![rule("tcp", Some((443, 443)), Peer::PrefixList("pl-s3".into()))],
                v4,
                443,
                "allowed",
            ),
            (
                "prefix list without the address",
                vec![rule("tcp", Some((443, 443)), Peer::PrefixList("pl-s3".into()))],
                "8.8.8.8",
                443,
                "denied",
            ),
            (
                "unreadable prefix list",
                vec![rule("tcp", Some((443, 443)), Peer::PrefixList("pl-secret".into()))],
                v4,
                443,
                "unknown",
            ),
            (
                "group reference to the endpoint's group",
                vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-endpoints".into()))],
                "10.0.2.11",
                443,
                "allowed",
            ),
            (
                "group reference, another group",
                vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-other".into()))],
                "10.0.2.11",
                443,
                "denied",
            ),
            (
                "group reference, public address",
                vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-endpoints".into()))],
                v4,
                443,
                "denied",
            ),
            (
                "group reference, unknown interface in the VPC",
                vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-endpoints".into()))],
                "10.0.9.9",
                443,
                "unknown",
            ),
        ];
        for (name, rules, addr, port, want) in cases {
            let g = group(rules);
            let got = match egress_allows(&f, &[&g], addr.parse().unwrap(), port) {
                Verdict::Allowed { .. } => "allowed",
                Verdict::Denied => "denied",
                Verdict::Unknown { .. } => "unknown",
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn any_group_of_several_allows() {
        let f = facts();
        let a = group(vec![rule("tcp", Some((80, 80)), cidr("0.0.0.0/0"))]);
        let mut b = group(vec![rule("tcp", Some((443, 443)), cidr("0.0.0.0/0"))]);
        b.id = "sg-b".into();
        assert_eq!(
            egress_allows(&f, &[&a, &b], "1.2.3.4".parse().unwrap(), 443),
            Verdict::Allowed { group: "sg-b".into() }
        );
    }

    #[test]
    fn security_group_ingress_table() {
        let f = facts();
        let task: IpAddr = "10.0.1.10".parse().unwrap();
        let task_groups = vec!["sg-task".to_owned()];
        let cases: Vec<(&str, Vec<SgRule>, &str)> = vec![
            ("VPC CIDR", vec![rule("tcp", Some((443, 443)), cidr("10.0.0.0/16"))], "allowed"),
            ("task subnet", vec![rule("tcp", Some((443, 443)), cidr("10.0.1.0/24"))], "allowed"),
            ("other subnet", vec![rule("tcp", Some((443, 443)), cidr("10.0.2.0/24"))], "denied"),
            ("task group", vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-task".into()))], "allowed"),
            ("other group", vec![rule("tcp", Some((443, 443)), Peer::SecurityGroup("sg-x".into()))], "denied"),
            ("port 80 only", vec![rule("tcp", Some((80, 80)), cidr("10.0.0.0/16"))], "denied"),
            ("default group: self only", vec![rule("-1", None, Peer::SecurityGroup("sg-default".into()))], "denied"),
        ];
        for (name, rules, want) in cases {
            let g = SecurityGroup { id: "sg-endpoints".into(), name: String::new(), ingress: rules, egress: vec![] };
            let got = match ingress_allows(&f, &[&g], task, &task_groups, 443) {
                Verdict::Allowed { .. } => "allowed",
                Verdict::Denied => "denied",
                Verdict::Unknown { .. } => "unknown",
            };
            assert_eq!(got, want, "{name}");
        }
    }

    fn entry(n: u16, egress: bool, protocol: &str, ports: Option<(u16, u16)>, net: &str, allow: bool) -> NaclEntry {
        NaclEntry {
            rule_number: n,
            egress,
            protocol: Protocol::parse(protocol).unwrap(),
            ports,
            cidr: net.parse().unwrap(),
            allow,
        }
    }

    type NaclCase = (&'static str, Vec<NaclEntry>, bool, (u16, u16), NaclVerdict);

    #[test]
    fn network_acl_table() {
        let addr: IpAddr = "52.95.155.1".parse().unwrap();
        let allow_all = |egress| entry(100, egress, "-1", None, "0.0.0.0/0", true);
        let star = |egress| entry(32767, egress, "-1", None, "0.0.0.0/0", false);
        let cases: Vec<NaclCase> = vec![
            ("default ACL", vec![allow_all(true), star(true)], true, (443, 443), NaclVerdict::Allowed),
            (
                "custom ACL without entries: implicit deny",
                vec![],
                true,
                (443, 443),
                NaclVerdict::Denied { ranges: vec![(443, 443)], rules: vec![None] },
            ),
            (
                "lower number wins: deny 443 before allow all",
                vec![entry(90, true, "tcp", Some((443, 443)), "0.0.0.0/0", false), allow_all(true)],
                true,
                (443, 443),
                NaclVerdict::Denied { ranges: vec![(443, 443)], rules: vec![Some(90)] },
            ),
            (
                "lower number wins: allow 443 before deny all",
                vec![
                    entry(200, true, "-1", None, "0.0.0.0/0", false),
                    entry(110, true, "tcp", Some((443, 443)), "0.0.0.0/0", true),
                ],
                true,
                (443, 443),
                NaclVerdict::Allowed,
            ),
            (
                "allow only 80 outbound",
                vec![entry(100, true, "tcp", Some((80, 80)), "0.0.0.0/0", true)],
                true,
                (443, 443),
                NaclVerdict::Denied { ranges: vec![(443, 443)], rules: vec![None] },
            ),
            ("inbound allow-all", vec![allow_all(false)], false, (443, 443), NaclVerdict::Allowed),
            (
                "inbound ephemeral 1024-65535 allowed",
                vec![entry(100, false, "tcp", Some((1024, 65535)), "0.0.0.0/0", true)],
                false,
                EPHEMERAL_PORTS,
                NaclVerdict::Allowed,
            ),
            (
                "inbound ephemeral only up to 50000",
                vec![entry(100, false, "tcp", Some((1024, 50000)), "0.0.0.0/0", true)],
                false,
                EPHEMERAL_PORTS,
                NaclVerdict::Denied { ranges: vec![(50001, 60999)], rules: vec![None] },
            ),
            (
                "inbound: a deny inside the allowed range",
                vec![
                    entry(50, false, "tcp", Some((40000, 40010)), "52.95.0.0/16", false),
                    entry(100, false, "tcp", Some((1024, 65535)), "0.0.0.0/0", true),
                ],
                false,
                EPHEMERAL_PORTS,
                NaclVerdict::Denied { ranges: vec![(40000, 40010)], rules: vec![Some(50)] },
            ),
            (
                "udp entries do not count",
                vec![entry(100, true, "udp", None, "0.0.0.0/0", true)],
                true,
                (443, 443),
                NaclVerdict::Denied { ranges: vec![(443, 443)], rules: vec![None] },
            ),
            (
                "other destination",
                vec![entry(100, true, "-1", None, "10.0.0.0/8", true)],
                true,
                (443, 443),
                NaclVerdict::Denied { ranges: vec![(443, 443)], rules: vec![None] },
            ),
        ];
        for (name, entries, egress, ports, want) in cases {
            let acl = NetworkAcl { id: "acl-1".into(), default: false, entries };
            assert_eq!(nacl_evaluate(&acl, egress, addr, ports), want, "{name}");
        }
        let v6 = NetworkAcl { id: "acl-1".into(), default: true, entries: vec![allow_all(true)] };
        assert!(matches!(
            nacl_evaluate(&v6, true, "2a05:d012::1".parse().unwrap(), (443, 443)),
            NaclVerdict::Denied { .. }
        ));
    }
}
