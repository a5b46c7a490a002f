//! From the SDK's types to netready-diagnose's facts. Values that do not parse (a CIDR, a protocol)
//! are left out rather than guessed.

use std::net::IpAddr;

use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
use aws_sdk_ec2::types as ec2;
use ipnet::IpNet;
use netready_diagnose::facts::{
    Destination, EndpointType, Eni, NaclEntry, NetworkAcl, NetworkFacts, Peer, Protocol, Route, RouteTable,
    SecurityGroup, SgRule, Subnet, Vpc, VpcEndpoint,
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
    }
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

/// The subnet's route table among the VPC's: its explicit association, else the main table.
pub fn route_table_for(tables: &[ec2::RouteTable], subnet_id: &str) -> Option<RouteTable> {
    let explicit = tables.iter().find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(subnet_id)));
    let (table, main) = match explicit {
        Some(t) => (t, false),
        None => (tables.iter().find(|t| t.associations().iter().any(|a| a.main() == Some(true)))?, true),
    };
    Some(RouteTable { id: s(table.route_table_id()), main, routes: table.routes().iter().filter_map(route).collect() })
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
    if let Some(table) = &facts.route_table {
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
