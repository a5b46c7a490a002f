//! What the task's resolver (the VPC's Route 53 Resolver, `AmazonProvidedDNS`) would answer for each
//! service's name, worked out from the configuration alone: an interface endpoint's private DNS, a
//! private hosted zone or a forwarding rule that covers the name, or else the service's public
//! addresses (S3's from its managed prefix list). Each address carries where it came from.
//!
//! "A public address of the service" that is not known by number is modelled by a *witness*: a
//! public address outside every specific CIDR the configuration names (routes, security group
//! rules, ACL entries, prefix lists), so that it takes exactly the path every address only the
//! catch-all rules cover takes (`0.0.0.0/0`). [`public_cidr_rules`] says when that is not enough:
//! a rule that allows port 443 only to specific public ranges.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::facts::{Destination, NetworkFacts, Peer, name_covers};
use crate::path::interface_endpoints;
use crate::service::ServiceKey;

/// Where an address in the diagnosis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressSource {
    /// A private address of the service's interface endpoint (private DNS on).
    EndpointEni,
    /// An entry of the service's AWS-managed prefix list (S3: `com.amazonaws.<region>.s3`).
    PrefixList,
    /// A representative public address of the service (the witness of the catch-all path).
    Public,
    /// Resolved where netready runs (`--resolve local`).
    Resolved,
    /// Given with `--address`.
    Given,
}

impl AddressSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressSource::EndpointEni => "endpoint_eni",
            AddressSource::PrefixList => "prefix_list",
            AddressSource::Public => "public",
            AddressSource::Resolved => "resolved",
            AddressSource::Given => "given",
        }
    }
}

/// One address of a service and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcedAddress {
    pub address: IpAddr,
    pub source: AddressSource,
    /// The resource it came from: the endpoint (`vpce-…`), the prefix list and entry
    /// (`pl-… 52.95.154.0/23`), or the range it stands for (`0.0.0.0/0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// How the name was answered, by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The interface endpoint's private DNS.
    EndpointPrivateDns,
    /// The service's public name (no endpoint with private DNS, or the VPC's DNS attributes off).
    Public,
    /// A private hosted zone associated with the VPC covers the name: its records decide.
    PrivateZone,
    /// A Resolver forwarding rule covers the name: another resolver answers.
    Forwarded,
    /// `--address`.
    Given,
    /// `--resolve local`.
    Resolved,
}

/// The model's answer for one service's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsModel {
    pub answer: Answer,
    pub addresses: Vec<SourcedAddress>,
    /// What the answer depends on, in words.
    pub detail: String,
    /// Why the addresses are not known (the service's verdict is then `unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// The resources that decided it (`vpce-…`, `Z…`, `rslvr-rr-…`).
    pub resources: Vec<String>,
}

/// The model for `service`'s `host`: IPv6 addresses only when the task has IPv6.
pub fn model(facts: &NetworkFacts, service: ServiceKey, host: &str, ipv6: bool) -> DnsModel {
    // As Resolver does: the most specific rule covering the name wins, so a SYSTEM rule for a
    // subdomain takes it back from a FORWARD rule for its parent (and `.` covers every name).
    if let Some(rules) = &facts.resolver_rules
        && let Some(rule) = rules
            .iter()
            .filter(|r| r.domain.trim_end_matches('.').is_empty() || name_covers(&r.domain, host))
            .max_by_key(|r| r.domain.trim_end_matches('.').len())
        && rule.rule_type == "forward"
    {
        let targets = if rule.targets.is_empty() { "no targets".to_owned() } else { rule.targets.join(", ") };
        return DnsModel {
            answer: Answer::Forwarded,
            addresses: Vec::new(),
            detail: format!("Resolver rule {} forwards {} to {targets}", rule.id, rule.domain),
            unknown: Some(format!(
                "{host} is answered by the resolvers Resolver rule {} forwards {} to ({targets}), which the AWS configuration does not show",
                rule.id, rule.domain
            )),
            resources: vec![rule.id.clone()],
        };
    }
    if let Some(zones) = &facts.private_zones
        && let Some(zone) = zones.iter().filter(|z| name_covers(&z.name, host)).max_by_key(|z| z.name.len())
    {
        return DnsModel {
            answer: Answer::PrivateZone,
            addresses: Vec::new(),
            detail: format!("private hosted zone {} ({}) covers {host}", zone.id, zone.name),
            unknown: Some(format!(
                "the private hosted zone {} ({}) associated with the VPC covers {host}: its records decide the answer, not the \
                 service's endpoint or public name",
                zone.id, zone.name
            )),
            resources: vec![zone.id.clone()],
        };
    }
    let dns_on = facts.vpc.as_ref().is_none_or(|v| v.dns_support != Some(false) && v.dns_hostnames != Some(false));
    let private: Vec<_> = interface_endpoints(facts, service).filter(|e| e.private_dns_enabled).collect();
    if dns_on && !private.is_empty() {
        let resources: Vec<String> = private.iter().map(|e| e.id.clone()).collect();
        let addresses: Vec<SourcedAddress> = private
            .iter()
            .flat_map(|e| {
                // An endpoint's interface has its address in its subnet, inside the VPC (moto gives
                // it one outside as primary, and the subnet's as secondary).
                let in_vpc =
                    |a: &IpAddr| facts.vpc_cidrs().is_empty() || facts.vpc_cidrs().iter().any(|n| n.contains(a));
                e.addresses.iter().filter(move |a| (a.is_ipv4() || ipv6) && in_vpc(a)).map(|a| SourcedAddress {
                    address: *a,
                    source: AddressSource::EndpointEni,
                    from: Some(e.id.clone()),
                })
            })
            .collect();
        let unknown = addresses.is_empty().then(|| {
            format!(
                "the network interfaces of {} could not be read: their addresses are the answer",
                resources.join(", ")
            )
        });
        return DnsModel {
            answer: Answer::EndpointPrivateDns,
            detail: format!("private DNS of {}", resources.join(", ")),
            addresses,
            unknown,
            resources,
        };
    }
    let why = if private.is_empty() {
        "no interface endpoint with private DNS".to_owned()
    } else {
        "the VPC's enableDnsSupport or enableDnsHostnames is off".to_owned()
    };
    if service == ServiceKey::S3 {
        let name = service.endpoint_service_name(&facts.region);
        if let Some(list) = facts.prefix_lists.iter().find(|p| p.name == name)
            && let Some(entries) = list.entries.as_ref().filter(|e| !e.is_empty())
        {
            let addresses = entries
                .iter()
                .filter(|n| n.addr().is_ipv4() || ipv6)
                .map(|n| SourcedAddress {
                    address: inside(*n),
                    source: AddressSource::PrefixList,
                    from: Some(format!("{} {n}", list.id)),
                })
                .collect();
            return DnsModel {
                answer: Answer::Public,
                addresses,
                detail: format!(
                    "{why}: the public name, S3's addresses from the managed prefix list {} ({name})",
                    list.id
                ),
                unknown: None,
                resources: vec![list.id.clone()],
            };
        }
    }
    let witness = public_witness(facts);
    DnsModel {
        answer: Answer::Public,
        addresses: vec![SourcedAddress {
            address: IpAddr::V4(witness),
            source: AddressSource::Public,
            from: Some("0.0.0.0/0".into()),
        }],
        detail: format!(
            "{why}: the public name, a public address of the service (the path every public address takes)"
        ),
        unknown: None,
        resources: Vec::new(),
    }
}

/// An address inside `net`: its first host (the network address itself for a /32).
fn inside(net: IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) if n.prefix_len() < 31 => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()).wrapping_add(1))),
        IpNet::V6(n) if n.prefix_len() < 127 => {
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(n.network()).wrapping_add(1)))
        }
        n => n.addr(),
    }
}

/// Every CIDR the configuration names more specifically than the catch-all.
fn specific_cidrs(facts: &NetworkFacts) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = Vec::new();
    let mut tables: Vec<&crate::facts::RouteTable> = facts.route_tables.iter().map(|t| &t.table).collect();
    tables.extend(&facts.route_table);
    for t in tables {
        for r in &t.routes {
            if let Destination::Cidr(n) = r.destination {
                nets.push(n);
            }
        }
    }
    for g in &facts.security_groups {
        for r in g.egress.iter().chain(&g.ingress) {
            if let Peer::Cidr(n) = r.peer {
                nets.push(n);
            }
        }
    }
    let mut acls: Vec<&crate::facts::NetworkAcl> = facts.network_acls.iter().map(|a| &a.acl).collect();
    acls.extend(&facts.network_acl);
    for a in acls {
        nets.extend(a.entries.iter().map(|e| e.cidr));
    }
    for p in &facts.prefix_lists {
        nets.extend(p.entries.iter().flatten().copied());
    }
    nets.retain(|n| n.prefix_len() > 0);
    nets
}

/// A public IPv4 address no specific CIDR of the configuration contains.
pub fn public_witness(facts: &NetworkFacts) -> Ipv4Addr {
    let nets = specific_cidrs(facts);
    let free = |a: Ipv4Addr| !nets.iter().any(|n| n.contains(&IpAddr::V4(a)));
    let preferred = [Ipv4Addr::new(203, 0, 113, 77), Ipv4Addr::new(198, 51, 100, 77), Ipv4Addr::new(192, 0, 2, 77)];
    preferred
        .into_iter()
        .chain((1u8..=223).map(|a| Ipv4Addr::new(a, 77, 77, 77)).filter(|a| !a.is_private() && !a.is_loopback()))
        .find(|a| free(*a))
        .unwrap_or(preferred[0])
}

/// Security group egress rules that allow TCP `port` to specific public CIDRs (not `0.0.0.0/0`):
/// whether a service's public addresses fall in them depends on AWS's published ranges.
pub fn public_cidr_rules(facts: &NetworkFacts, groups: &[String], port: u16) -> Vec<IpNet> {
    let private = |n: &IpNet| match n {
        IpNet::V4(v) => v.network().is_private() || facts.vpc_cidrs().iter().any(|c| c.contains(n)),
        IpNet::V6(_) => facts.vpc_cidrs().iter().any(|c| c.contains(n)),
    };
    let mut out: Vec<IpNet> = facts
        .security_groups
        .iter()
        .filter(|g| groups.contains(&g.id))
        .flat_map(|g| &g.egress)
        .filter(|r| r.protocol.covers_tcp() && r.ports.is_none_or(|(lo, hi)| lo <= port && port <= hi))
        .filter_map(|r| match r.peer {
            Peer::Cidr(n) if n.prefix_len() > 0 && !private(&n) => Some(n),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::facts::{EndpointType, HostedZone, PrefixList, ResolverRule, Vpc, VpcEndpoint};

    fn endpoint(service: &str, private_dns: bool, addresses: &[&str]) -> VpcEndpoint {
        VpcEndpoint {
            id: format!("vpce-{service}"),
            service_name: format!("com.amazonaws.eu-west-3.{service}"),
            endpoint_type: EndpointType::Interface,
            state: "available".into(),
            private_dns_enabled: private_dns,
            subnet_ids: vec![],
            security_group_ids: vec![],
            route_table_ids: vec![],
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn facts() -> NetworkFacts {
        NetworkFacts {
            region: "eu-west-3".into(),
            vpc: Some(Vpc {
                id: "vpc-1".into(),
                cidrs: vec!["10.0.0.0/16".parse().unwrap(), "fd00::/56".parse().unwrap()],
                dns_support: Some(true),
                dns_hostnames: Some(true),
            }),
            vpc_endpoints: vec![
                endpoint("logs", true, &["10.0.2.11", "fd00::11"]),
                endpoint("ecr.api", false, &["10.0.2.12"]),
            ],
            prefix_lists: vec![PrefixList {
                id: "pl-s3".into(),
                name: "com.amazonaws.eu-west-3.s3".into(),
                entries: Some(vec!["52.95.154.0/23".parse().unwrap(), "3.5.224.0/22".parse().unwrap()]),
            }],
            ..NetworkFacts::default()
        }
    }

    const LOGS: &str = "logs.eu-west-3.amazonaws.com";

    #[test]
    fn private_dns_answers_the_endpoint_interfaces() {
        let m = model(&facts(), ServiceKey::Logs, LOGS, false);
        assert_eq!(m.answer, Answer::EndpointPrivateDns);
        assert_eq!(m.addresses.len(), 1, "no IPv6 without the task's IPv6");
        assert_eq!(m.addresses[0].address.to_string(), "10.0.2.11");
        assert_eq!(m.addresses[0].source, AddressSource::EndpointEni);
        assert_eq!(model(&facts(), ServiceKey::Logs, LOGS, true).addresses.len(), 2);
        // An interface address outside the VPC is not the endpoint's (moto's primary address).
        let mut f = facts();
        f.vpc_endpoints[0].addresses.insert(0, "10.21.170.196".parse().unwrap());
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).addresses.len(), 1);
    }

    #[test]
    fn without_private_dns_or_dns_attributes_the_public_name() {
        let m = model(&facts(), ServiceKey::EcrApi, "api.ecr.eu-west-3.amazonaws.com", false);
        assert_eq!(m.answer, Answer::Public);
        assert_eq!(m.addresses[0].source, AddressSource::Public);
        let mut f = facts();
        f.vpc.as_mut().unwrap().dns_hostnames = Some(false);
        let m = model(&f, ServiceKey::Logs, LOGS, false);
        assert_eq!(m.answer, Answer::Public);
        assert!(m.detail.contains("enableDnsHostnames"), "{}", m.detail);
    }

    #[test]
    fn s3_by_its_prefix_list() {
        let m = model(&facts(), ServiceKey::S3, "s3.eu-west-3.amazonaws.com", false);
        let got: Vec<String> = m.addresses.iter().map(|a| a.address.to_string()).collect();
        assert_eq!(got, ["52.95.154.1", "3.5.224.1"]);
        assert!(m.addresses.iter().all(|a| a.source == AddressSource::PrefixList));
        assert_eq!(m.resources, ["pl-s3"]);
    }

    #[test]
    fn a_forwarding_rule_beats_a_zone_and_the_endpoint() {
        let mut f = facts();
        f.private_zones = Some(vec![HostedZone { id: "Z1".into(), name: "amazonaws.com".into() }]);
        let m = model(&f, ServiceKey::Logs, LOGS, false);
        assert_eq!(m.answer, Answer::PrivateZone);
        assert!(m.unknown.as_deref().unwrap().contains("Z1"));
        f.resolver_rules = Some(vec![ResolverRule {
            id: "rslvr-rr-1".into(),
            domain: "eu-west-3.amazonaws.com".into(),
            rule_type: "forward".into(),
            targets: vec!["192.168.1.53:53".into()],
        }]);
        let m = model(&f, ServiceKey::Logs, LOGS, false);
        assert_eq!(m.answer, Answer::Forwarded);
        assert!(m.unknown.as_deref().unwrap().contains("192.168.1.53:53"));
        // A SYSTEM rule for the name's own domain takes it back from the FORWARD rule for its parent.
        let system = ResolverRule {
            id: "rslvr-rr-2".into(),
            domain: "logs.eu-west-3.amazonaws.com".into(),
            rule_type: "system".into(),
            targets: vec![],
        };
        f.resolver_rules.as_mut().unwrap().push(system);
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).answer, Answer::PrivateZone);
        // ... and not from a FORWARD rule more specific than itself.
        f.resolver_rules.as_mut().unwrap()[1].domain = "amazonaws.com".into();
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).answer, Answer::Forwarded);
        f.resolver_rules.as_mut().unwrap().pop();
        // A FORWARD rule for `.` forwards every name; the recursive `.` rule every VPC has, none.
        f.resolver_rules.as_mut().unwrap()[0].domain = ".".into();
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).answer, Answer::Forwarded);
        f.resolver_rules.as_mut().unwrap()[0].rule_type = "recursive".into();
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).answer, Answer::PrivateZone);
        f.resolver_rules.as_mut().unwrap()[0].rule_type = "forward".into();
        // A rule for another name changes nothing.
        f.resolver_rules.as_mut().unwrap()[0].domain = "corp.example".into();
        f.private_zones = None;
        assert_eq!(model(&f, ServiceKey::Logs, LOGS, false).answer, Answer::EndpointPrivateDns);
    }

    #[test]
    fn the_witness_avoids_every_specific_cidr() {
        let mut f = facts();
        f.prefix_lists[0].entries = Some(vec!["203.0.113.0/24".parse().unwrap()]);
        let w = public_witness(&f);
        assert_eq!(w, Ipv4Addr::new(198, 51, 100, 77));
        assert!(!w.is_private());
    }
}
