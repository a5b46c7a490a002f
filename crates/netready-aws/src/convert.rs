//! From the SDK's types to netready-diagnose's facts. Values that do not parse (a CIDR, a protocol)
//! are left out rather than guessed.

use std::net::IpAddr;

use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
use aws_sdk_ec2::types as ec2;
use ipnet::IpNet;
use netready_diagnose::facts::{
    AssociatedAcl, AssociatedTable, Destination, EndpointType, Eni, NaclEntry, NatGateway, NetworkAcl, NetworkFacts,
    Peer, PrefixList, Protocol, Route, RouteTable, SecurityGroup, SgRule, Subnet, Vpc, VpcEndpoint,
};

fn s(v: Option<&str>) -> String {
    v.unwrap_or_default().to_owned()
}

fn ip(v: Option<&str>) -> Option<IpAddr> {
    v.and_then(|t| t.parse().ok())
}

fn net(v: Option<&str>) -> Option<IpNet> {
    v.and_then(|t| t.parse().ok())
}

pub fn eni(ni: &ec2::NetworkInterface) -> Eni {
    Eni {
        id: s(ni.network_interface_id()),
        subnet_id: s(ni.subnet_id()),
        vpc_id: s(ni.vpc_id()),
        availability_zone: s(ni.availability_zone()),
        private_ipv4: ip(ni.private_ip_address()),
        ipv6: ni.ipv6_addresses().iter().filter_map(|a| ip(a.ipv6_address())).collect(),
        public_ip: ni.association().and_then(|a| ip(a.public_ip())),
        security_group_ids: ni.groups().iter().filter_map(|g| g.group_id()).map(str::to_owned).collect(),
        owner_id: s(ni.owner_id()),
        ..Eni::default()
    }
}

/// Every route table of the VPC with its explicit subnet associations.
pub fn route_tables(tables: &[ec2::RouteTable]) -> Vec<AssociatedTable> {
    tables
        .iter()
        .map(|t| AssociatedTable {
            table: RouteTable {
                id: s(t.route_table_id()),
                main: t.associations().iter().any(|a| a.main() == Some(true)),
                routes: t.routes().iter().filter_map(route).collect(),
            },
            subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id()).map(str::to_owned).collect(),
        })
        .collect()
}

/// Every network ACL of the VPC with the subnets it is associated with.
pub fn network_acls(acls: &[ec2::NetworkAcl]) -> Vec<AssociatedAcl> {
    acls.iter()
        .map(|a| AssociatedAcl {
            acl: network_acl(a),
            subnet_ids: a.associations().iter().filter_map(|x| x.subnet_id()).map(str::to_owned).collect(),
        })
        .collect()
}

pub fn nat_gateway(n: &ec2::NatGateway) -> NatGateway {
    NatGateway {
        id: s(n.nat_gateway_id()),
        state: n.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default(),
        subnet_id: s(n.subnet_id()),
        public_ips: n.nat_gateway_addresses().iter().filter_map(|a| ip(a.public_ip())).collect(),
        connectivity: n.connectivity_type().map(|c| c.as_str().to_ascii_lowercase()).unwrap_or_else(|| "public".into()),
    }
}

/// The internet gateways attached to `vpc`.
pub fn internet_gateways(igws: &[ec2::InternetGateway], vpc: &str) -> Vec<String> {
    igws.iter()
        .filter(|g| {
            g.attachments().iter().any(|a| {
                a.vpc_id() == Some(vpc) && a.state().is_none_or(|s| matches!(s.as_str(), "available" | "attached"))
            })
        })
        .filter_map(|g| g.internet_gateway_id())
        .map(str::to_owned)
        .collect()
}

pub fn vpc(
    v: &ec2::Vpc,
    support: Option<&DescribeVpcAttributeOutput>,
    hostnames: Option<&DescribeVpcAttributeOutput>,
) -> Vpc {
    let mut cidrs: Vec<IpNet> = v
        .cidr_block_association_set()
        .iter()
        .filter(|a| {
            a.cidr_block_state().and_then(|s| s.state()).is_none_or(|s| *s == ec2::VpcCidrBlockStateCode::Associated)
        })
        .filter_map(|a| net(a.cidr_block()))
        .collect();
    if cidrs.is_empty()
        && let Some(primary) = net(v.cidr_block())
    {
        cidrs.push(primary);
    }
    cidrs.extend(
        v.ipv6_cidr_block_association_set()
            .iter()
            .filter(|a| {
                a.ipv6_cidr_block_state()
                    .and_then(|s| s.state())
                    .is_none_or(|s| *s == ec2::VpcCidrBlockStateCode::Associated)
            })
            .filter_map(|a| net(a.ipv6_cidr_block())),
    );
    Vpc {
        id: s(v.vpc_id()),
        cidrs,
        dns_support: support.and_then(|o| o.enable_dns_support()).and_then(|a| a.value()),
        dns_hostnames: hostnames.and_then(|o| o.enable_dns_hostnames()).and_then(|a| a.value()),
    }
}

pub fn subnet(sn: &ec2::Subnet) -> Subnet {
    let mut cidrs: Vec<IpNet> = net(sn.cidr_block()).into_iter().collect();
    cidrs.extend(sn.ipv6_cidr_block_association_set().iter().filter_map(|a| net(a.ipv6_cidr_block())));
    Subnet { id: s(sn.subnet_id()), vpc_id: s(sn.vpc_id()), availability_zone: s(sn.availability_zone()), cidrs }
}

fn route(r: &ec2::Route) -> Option<Route> {
    let destination = if let Some(pl) = r.destination_prefix_list_id() {
        Destination::PrefixList(pl.to_owned())
    } else {
        Destination::Cidr(net(r.destination_cidr_block()).or_else(|| net(r.destination_ipv6_cidr_block()))?)
    };
    let target = [
        r.gateway_id(),
        r.nat_gateway_id(),
        r.transit_gateway_id(),
        r.vpc_peering_connection_id(),
        r.egress_only_internet_gateway_id(),
        r.network_interface_id(),
        r.instance_id(),
        r.carrier_gateway_id(),
        r.local_gateway_id(),
        r.core_network_arn(),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or("unknown")
    .to_owned();
    Some(Route {
        destination,
        target,
        blackhole: r.state() == Some(&ec2::RouteState::Blackhole),
        propagated: r.origin() == Some(&ec2::RouteOrigin::EnableVgwRoutePropagation),
    })
}

pub fn network_acl(acl: &ec2::NetworkAcl) -> NetworkAcl {
    NetworkAcl {
        id: s(acl.network_acl_id()),
        default: acl.is_default().unwrap_or(false),
        entries: acl.entries().iter().filter_map(nacl_entry).collect(),
    }
}

fn nacl_entry(e: &ec2::NetworkAclEntry) -> Option<NaclEntry> {
    let ports = e.port_range().and_then(|p| Some((port(p.from()?)?, port(p.to()?)?)));
    Some(NaclEntry {
        rule_number: u16::try_from(e.rule_number()?).ok()?,
        egress: e.egress().unwrap_or(false),
        protocol: Protocol::parse(e.protocol()?)?,
        ports,
        cidr: net(e.cidr_block()).or_else(|| net(e.ipv6_cidr_block()))?,
        allow: e.rule_action() == Some(&ec2::RuleAction::Allow),
    })
}

fn port(p: i32) -> Option<u16> {
    u16::try_from(p).ok()
}

pub fn security_group(g: &ec2::SecurityGroup) -> SecurityGroup {
    SecurityGroup {
        id: s(g.group_id()),
        name: s(g.group_name()),
        ingress: g.ip_permissions().iter().flat_map(rules).collect(),
        egress: g.ip_permissions_egress().iter().flat_map(rules).collect(),
    }
}

/// One API permission, flattened into one rule per peer.
fn rules(p: &ec2::IpPermission) -> Vec<SgRule> {
    let Some(protocol) = p.ip_protocol().and_then(Protocol::parse) else { return Vec::new() };
    let ports = match (protocol, p.from_port(), p.to_port()) {
        (Protocol::Tcp | Protocol::Udp, Some(from), Some(to)) if from >= 0 && to >= 0 => {
            Some((port(from).unwrap_or(0), port(to).unwrap_or(u16::MAX)))
        }
        _ => None,
    };
    let mut peers: Vec<Peer> = Vec::new();
    peers.extend(p.ip_ranges().iter().filter_map(|r| net(r.cidr_ip())).map(Peer::Cidr));
    peers.extend(p.ipv6_ranges().iter().filter_map(|r| net(r.cidr_ipv6())).map(Peer::Cidr));
    peers.extend(
        p.prefix_list_ids().iter().filter_map(|r| r.prefix_list_id()).map(|id| Peer::PrefixList(id.to_owned())),
    );
    peers.extend(
        p.user_id_group_pairs().iter().filter_map(|r| r.group_id()).map(|id| Peer::SecurityGroup(id.to_owned())),
    );
    peers.into_iter().map(|peer| SgRule { protocol, ports, peer }).collect()
}

pub fn vpc_endpoint(e: &ec2::VpcEndpoint) -> VpcEndpoint {
    VpcEndpoint {
        id: s(e.vpc_endpoint_id()),
        service_name: s(e.service_name()),
        endpoint_type: EndpointType::parse(e.vpc_endpoint_type().map(|t| t.as_str()).unwrap_or_default()),
        state: e.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default(),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e.groups().iter().filter_map(|g| g.group_id()).map(str::to_owned).collect(),
        route_table_ids: e.route_table_ids().to_vec(),
        addresses: Vec::new(),
    }
}

/// Fills each interface endpoint's addresses from its network interfaces.
pub fn endpoint_addresses(
    endpoints: &mut [VpcEndpoint],
    raw: &[ec2::VpcEndpoint],
    interfaces: &[ec2::NetworkInterface],
) {
    for (endpoint, raw) in endpoints.iter_mut().zip(raw) {
        for id in raw.network_interface_ids() {
            if let Some(ni) = interfaces.iter().find(|n| n.network_interface_id() == Some(id)) {
                endpoint.addresses.extend(ip(ni.private_ip_address()));
                // Secondary addresses too (AWS gives an endpoint interface one; others may not).
                for a in ni.private_ip_addresses().iter().filter_map(|a| ip(a.private_ip_address())) {
                    if !endpoint.addresses.contains(&a) {
                        endpoint.addresses.push(a);
                    }
                }
                endpoint.addresses.extend(ni.ipv6_addresses().iter().filter_map(|a| ip(a.ipv6_address())));
            }
        }
    }
}

/// The prefix lists the route table and the security groups refer to.
pub fn prefix_list_ids(facts: &NetworkFacts) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let tables = facts.route_table.iter().chain(facts.route_tables.iter().map(|t| &t.table));
    for table in tables {
        for r in &table.routes {
            if let Destination::PrefixList(id) = &r.destination {
                ids.push(id.clone());
            }
        }
    }
    for g in &facts.security_groups {
        for rule in g.egress.iter().chain(&g.ingress) {
            if let Peer::PrefixList(id) = &rule.peer {
                ids.push(id.clone());
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The lists `DescribePrefixLists` answered with their CIDRs (of `ids`, and S3's by its name
/// `com.amazonaws.<region>.s3`), and those whose entries must be asked for: `(id, name)`.
pub fn prefix_lists(
    lists: &[ec2::PrefixList],
    ids: &[String],
    region: &str,
) -> (Vec<PrefixList>, Vec<(String, String)>) {
    let s3 = format!("com.amazonaws.{region}.s3");
    let mut wanted: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), String::new())).collect();
    for pl in lists {
        let (Some(id), name) = (pl.prefix_list_id(), pl.prefix_list_name().unwrap_or_default()) else { continue };
        match wanted.iter_mut().find(|(w, _)| w == id) {
            Some(w) => w.1 = name.to_owned(),
            None if name == s3 => wanted.push((id.to_owned(), name.to_owned())),
            None => {}
        }
    }
    let mut known = Vec::new();
    let mut missing = Vec::new();
    for (id, name) in wanted {
        // An empty Cidrs is not an answer (moto leaves it empty): ask for the entries.
        match lists.iter().find(|p| p.prefix_list_id() == Some(id.as_str())).filter(|p| !p.cidrs().is_empty()) {
            Some(pl) => known.push(PrefixList {
                id,
                name,
                entries: Some(pl.cidrs().iter().filter_map(|c| c.parse().ok()).collect()),
            }),
            None => missing.push((id, name)),
        }
    }
    (known, missing)
}
