//! The lab's VPC as EC2 would describe it, as `netready-diagnose` facts: a task in
//! 10.0.1.0/24, interface endpoints at 10.0.2.10–13 (secrets manager, logs, ECR API, ECR Docker)
//! behind a security group that lets the VPC in on 443, S3 through its gateway endpoint, NAT for
//! the rest — a network that works. Tests change one thing in it per case.

use netready_diagnose::facts::*;

/// A CIDR (panics on a bad literal: fixtures only).
pub fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap_or_else(|e| panic!("bad CIDR {s}: {e}"))
}

/// A route to a CIDR, or to a prefix list when `dest` starts with `pl-`.
pub fn route(dest: &str, target: &str) -> Route {
    let destination =
        if dest.starts_with("pl-") { Destination::PrefixList(dest.into()) } else { Destination::Cidr(net(dest)) };
    Route { destination, target: target.into(), blackhole: false, propagated: false }
}

/// An available interface endpoint with private DNS in the endpoints' subnet.
pub fn interface(region: &str, service: &str, id: &str, address: &str) -> VpcEndpoint {
    VpcEndpoint {
        id: id.into(),
        service_name: format!("com.amazonaws.{region}.{service}"),
        endpoint_type: EndpointType::Interface,
        state: "available".into(),
        private_dns_enabled: true,
        subnet_ids: vec!["subnet-endpoints".into()],
        security_group_ids: vec!["sg-endpoints".into()],
        route_table_ids: vec![],
        addresses: vec![address.parse().unwrap_or_else(|e| panic!("bad address {address}: {e}"))],
    }
}

/// The network that works, in `region`, with S3's prefix list holding `s3_ranges`.
pub fn healthy(region: &str, s3_ranges: &[&str]) -> NetworkFacts {
    let allow_all = SgRule { protocol: Protocol::All, ports: None, peer: Peer::Cidr(net("0.0.0.0/0")) };
    let nacl_allow = |egress: bool| NaclEntry {
        rule_number: 100,
        egress,
        protocol: Protocol::All,
        ports: None,
        cidr: net("0.0.0.0/0"),
        allow: true,
    };
    let subnet = |id: &str, cidr: &str| Subnet {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        availability_zone: format!("{region}a"),
        cidrs: vec![net(cidr)],
    };
    NetworkFacts {
        region: region.into(),
        eni: Some(Eni {
            id: "eni-task".into(),
            subnet_id: "subnet-task".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: format!("{region}a"),
            private_ipv4: Some([10, 0, 1, 10].into()),
            ipv6: vec![],
            public_ip: None,
            security_group_ids: vec!["sg-task".into()],
            ..Eni::default()
        }),
        vpc: Some(Vpc {
            id: "vpc-1".into(),
            cidrs: vec![net("10.0.0.0/16")],
            dns_support: Some(true),
            dns_hostnames: Some(true),
        }),
        subnets: vec![subnet("subnet-task", "10.0.1.0/24"), subnet("subnet-endpoints", "10.0.2.0/24")],
        route_table: Some(RouteTable {
            id: "rtb-task".into(),
            main: false,
            routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "nat-1"), route("pl-s3", "vpce-s3")],
        }),
        network_acl: Some(NetworkAcl {
            id: "acl-1".into(),
            default: true,
            entries: vec![nacl_allow(true), nacl_allow(false)],
        }),
        security_groups: vec![
            SecurityGroup { id: "sg-task".into(), name: "task".into(), ingress: vec![], egress: vec![allow_all] },
            SecurityGroup {
                id: "sg-endpoints".into(),
                name: "endpoints".into(),
                ingress: vec![SgRule {
                    protocol: Protocol::Tcp,
                    ports: Some((443, 443)),
                    peer: Peer::Cidr(net("10.0.0.0/16")),
                }],
                egress: vec![],
            },
        ],
        vpc_endpoints: vec![
            interface(region, "secretsmanager", "vpce-sm", "10.0.2.10"),
            interface(region, "logs", "vpce-logs", "10.0.2.11"),
            interface(region, "ecr.api", "vpce-api", "10.0.2.12"),
            interface(region, "ecr.dkr", "vpce-dkr", "10.0.2.13"),
            VpcEndpoint {
                id: "vpce-s3".into(),
                service_name: format!("com.amazonaws.{region}.s3"),
                endpoint_type: EndpointType::Gateway,
                state: "available".into(),
                private_dns_enabled: false,
                subnet_ids: vec![],
                security_group_ids: vec![],
                route_table_ids: vec!["rtb-task".into()],
                addresses: vec![],
            },
        ],
        prefix_lists: vec![PrefixList {
            id: "pl-s3".into(),
            name: format!("com.amazonaws.{region}.s3"),
            entries: Some(s3_ranges.iter().map(|r| net(r)).collect()),
        }],
        gaps: vec![],
        ..NetworkFacts::default()
    }
}
