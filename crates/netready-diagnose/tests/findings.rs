//! Findings and access types by table: a healthy task network (private subnet, NAT, four interface
//! endpoints with private DNS, an S3 gateway endpoint), then one change per case and the findings
//! and access types it must produce.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use netready_diagnose::facts::*;
use netready_diagnose::{AccessType, EndpointAddresses, ServiceKey, Severity, diagnose};
use netready_lab::facts::{net, route};

const REGION: &str = "eu-west-3";
const S3_ADDR: &str = "52.95.155.10";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A private subnet that works: NAT default route, interface endpoints for four services, S3
/// through its gateway endpoint (the lab's VPC).
fn healthy() -> NetworkFacts {
    netready_lab::facts::healthy(REGION, &["52.95.154.0/23", "3.5.224.0/22"])
}

fn endpoints(private: bool) -> Vec<EndpointAddresses> {
    let addr = |private_addr: &str, public_addr: &str| vec![ip(if private { private_addr } else { public_addr })];
    vec![
        EndpointAddresses {
            service: ServiceKey::SecretsManager,
            host: format!("secretsmanager.{REGION}.amazonaws.com"),
            port: 443,
            addresses: addr("10.0.2.10", "35.180.1.1"),
        },
        EndpointAddresses {
            service: ServiceKey::Logs,
            host: format!("logs.{REGION}.amazonaws.com"),
            port: 443,
            addresses: addr("10.0.2.11", "35.180.1.2"),
        },
        EndpointAddresses {
            service: ServiceKey::EcrApi,
            host: format!("api.ecr.{REGION}.amazonaws.com"),
            port: 443,
            addresses: addr("10.0.2.12", "35.180.1.3"),
        },
        EndpointAddresses {
            service: ServiceKey::EcrDkr,
            host: format!("111122223333.dkr.ecr.{REGION}.amazonaws.com"),
            port: 443,
            addresses: addr("10.0.2.13", "35.180.1.4"),
        },
        EndpointAddresses {
            service: ServiceKey::S3,
            host: format!("s3.{REGION}.amazonaws.com"),
            port: 443,
            addresses: vec![ip(S3_ADDR)],
        },
    ]
}

fn access(facts: &NetworkFacts, endpoints: &[EndpointAddresses]) -> Vec<&'static str> {
    diagnose(facts, endpoints).paths.iter().map(|p| p.access_type.as_str()).collect()
}

/// The findings as `(id, severity, endpoints)`.
type Found = (String, Severity, Vec<String>);

fn found(facts: &NetworkFacts, endpoints: &[EndpointAddresses]) -> Vec<Found> {
    diagnose(facts, endpoints)
        .findings
        .into_iter()
        .map(|f| (f.id, f.severity, f.endpoints.iter().map(|e| e.as_str().to_owned()).collect()))
        .collect()
}

fn one(id: &str, severity: Severity, endpoints: &[&str]) -> Found {
    (id.into(), severity, endpoints.iter().map(|e| (*e).to_owned()).collect())
}

const ALL_FIVE: [&str; 5] = ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"];
const FOUR: [&str; 4] = ["secretsmanager", "logs", "ecr_api", "ecr_dkr"];

#[test]
fn healthy_network_has_no_findings_and_says_gateway_endpoint_for_s3() {
    let facts = healthy();
    let d = diagnose(&facts, &endpoints(true));
    assert_eq!(d.findings, vec![]);
    assert_eq!(
        access(&facts, &endpoints(true)),
        ["vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "gateway_endpoint"]
    );
    let s3 = &d.paths[4].addresses[0];
    let route = s3.route.as_ref().unwrap();
    assert_eq!(
        (route.route_table_id.as_str(), route.destination.as_str(), route.target_id.as_str()),
        ("rtb-task", "pl-s3", "vpce-s3")
    );
    assert_eq!(route.target_type, TargetType::VpcEndpoint);
    assert_eq!(d.paths[0].addresses[0].vpc_endpoint_id.as_deref(), Some("vpce-sm"));
}

#[test]
fn access_types_by_route_target() {
    let cases: [(&str, &str, bool, AccessType); 7] = [
        ("0.0.0.0/0", "nat-1", false, AccessType::NatGateway),
        ("0.0.0.0/0", "igw-1", true, AccessType::InternetGateway),
        ("0.0.0.0/0", "tgw-1", false, AccessType::TransitGateway),
        ("0.0.0.0/0", "pcx-1", false, AccessType::VpcPeering),
        ("0.0.0.0/0", "vgw-1", false, AccessType::VpnGateway),
        ("52.95.0.0/16", "tgw-1", false, AccessType::TransitGateway),
        ("0.0.0.0/0", "eni-appliance", false, AccessType::Unknown),
    ];
    for (dest, target, public_ip, want) in cases {
        let mut facts = healthy();
        facts.vpc_endpoints.clear();
        facts.route_table.as_mut().unwrap().routes = vec![route("10.0.0.0/16", "local"), route(dest, target)];
        if public_ip {
            facts.eni.as_mut().unwrap().public_ip = Some(ip("15.236.1.1"));
        }
        let d = diagnose(&facts, &endpoints(false));
        assert_eq!(d.paths[4].access_type, want, "{dest} → {target}");
    }
}

#[test]
fn private_addresses_outside_the_vpc_through_a_transit_gateway() {
    let mut facts = healthy();
    facts.vpc_endpoints.clear();
    facts.route_table.as_mut().unwrap().routes =
        vec![route("10.0.0.0/16", "local"), route("10.100.0.0/16", "tgw-hub"), route("0.0.0.0/0", "nat-1")];
    let mut eps = endpoints(false);
    eps[1].addresses = vec![ip("10.100.5.5")]; // logs through a shared-services VPC's endpoint
    eps[2].addresses = vec![ip("10.0.7.7")]; // something in this VPC
    let d = diagnose(&facts, &eps);
    assert_eq!(d.paths[1].access_type, AccessType::TransitGateway);
    // In this VPC but no endpoint's: the local route, vpc_endpoint as the source document's rule
    // says, and no endpoint id.
    assert_eq!(d.paths[2].access_type, AccessType::VpcEndpoint);
    assert_eq!(d.paths[2].addresses[0].vpc_endpoint_id, None);
    assert_eq!(d.paths[2].addresses[0].route.as_ref().unwrap().target_id, "local");
    assert_eq!(d.paths[0].access_type, AccessType::NatGateway);
}

#[test]
fn without_the_route_table_the_source_documents_rule_applies() {
    let mut facts = healthy();
    facts.route_table = None;
    assert_eq!(access(&facts, &endpoints(true))[..4], ["vpc_endpoint"; 4]);
    assert_eq!(access(&facts, &endpoints(true))[4], "nat_gateway");
    facts.eni.as_mut().unwrap().public_ip = Some(ip("15.236.1.1"));
    assert_eq!(access(&facts, &endpoints(true))[4], "internet_gateway");
}

#[test]
fn findings_table() {
    type Change = fn(&mut NetworkFacts, &mut Vec<EndpointAddresses>);
    let cases: Vec<(&str, Change, Vec<Found>)> = vec![
        (
            "1. no default route: every public address is unroutable",
            |f, e| {
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target != "nat-1" && r.target != "vpce-s3");
                f.vpc_endpoints.clear();
                *e = endpoints(false);
            },
            {
                let mut v = vec![one("route.no_route", Severity::Error, &ALL_FIVE)];
                v.extend(ALL_FIVE.iter().map(|s| one("vpc_endpoint.missing", Severity::Error, &[s])));
                v
            },
        ),
        (
            "1. blackhole default route",
            |f, e| {
                let table = f.route_table.as_mut().unwrap();
                table.routes.retain(|r| r.target != "vpce-s3");
                table.routes.iter_mut().for_each(|r| r.blackhole = r.target == "nat-1");
                f.vpc_endpoints.retain(|v| v.endpoint_type == EndpointType::Interface);
                e.truncate(5);
            },
            vec![
                one("route.blackhole", Severity::Error, &["s3"]),
                one("vpc_endpoint.missing", Severity::Error, &["s3"]),
            ],
        ),
        (
            "1/5. IGW default route without a public IP, used by S3",
            |f, _| {
                let table = f.route_table.as_mut().unwrap();
                table.routes = vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "igw-1")];
                f.vpc_endpoints.retain(|v| v.endpoint_type == EndpointType::Interface);
            },
            vec![
                one("public_ip.missing", Severity::Error, &["s3"]),
                one("vpc_endpoint.missing", Severity::Error, &["s3"]),
            ],
        ),
        (
            "5. IGW default route without a public IP, no endpoint uses it: a warning",
            |f, _| {
                let table = f.route_table.as_mut().unwrap();
                table.routes =
                    vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "igw-1"), route("pl-s3", "vpce-s3")];
            },
            vec![one("public_ip.missing", Severity::Warning, &[])],
        ),
        (
            "1/5. public IP while S3 goes through NAT",
            |f, _| {
                f.eni.as_mut().unwrap().public_ip = Some(ip("15.236.1.1"));
                f.vpc_endpoints.retain(|v| v.endpoint_type == EndpointType::Interface);
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target != "vpce-s3");
            },
            vec![one("public_ip.unused", Severity::Warning, &["s3"])],
        ),
        (
            "2. task security group allows only 80 out",
            |f, _| {
                f.security_groups[0].egress =
                    vec![SgRule { protocol: Protocol::Tcp, ports: Some((80, 80)), peer: Peer::Cidr(net("0.0.0.0/0")) }];
            },
            vec![one("security_group.egress_denied", Severity::Error, &ALL_FIVE)],
        ),
        (
            "2. task security group allows 443 to the VPC and S3's prefix list only: all reachable",
            |f, _| {
                f.security_groups[0].egress = vec![
                    SgRule { protocol: Protocol::Tcp, ports: Some((443, 443)), peer: Peer::Cidr(net("10.0.0.0/16")) },
                    SgRule { protocol: Protocol::Tcp, ports: Some((443, 443)), peer: Peer::PrefixList("pl-s3".into()) },
                ];
            },
            vec![],
        ),
        (
            "2. IPv6 address, IPv4-only egress rule",
            |f, e| {
                f.eni.as_mut().unwrap().ipv6 = vec![ip("2a05:d012:1::10")];
                f.route_table.as_mut().unwrap().routes.push(route("::/0", "eigw-1"));
                f.network_acl.as_mut().unwrap().entries.iter_mut().for_each(|n| n.cidr = net("::/0"));
                f.network_acl.as_mut().unwrap().entries.extend(healthy().network_acl.unwrap().entries);
                e[4].addresses = vec![ip(S3_ADDR), ip("2a05:d012:8000::1")];
            },
            vec![one("security_group.egress_denied", Severity::Error, &["s3"])],
        ),
        (
            "3. no interface endpoint for logs and no NAT",
            |f, e| {
                f.vpc_endpoints.retain(|v| v.id != "vpce-logs");
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target != "nat-1");
                e[1].addresses = vec![ip("35.180.1.2")];
            },
            vec![
                one("route.no_route", Severity::Error, &["logs"]),
                one("vpc_endpoint.missing", Severity::Error, &["logs"]),
            ],
        ),
        (
            "3. private DNS disabled, no NAT: an error",
            |f, e| {
                f.vpc_endpoints[1].private_dns_enabled = false;
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target != "nat-1");
                e[1].addresses = vec![ip("35.180.1.2")];
            },
            vec![
                one("route.no_route", Severity::Error, &["logs"]),
                one("vpc_endpoint.private_dns_disabled", Severity::Error, &["logs"]),
            ],
        ),
        (
            "3. private DNS disabled, NAT carries it: a warning",
            |f, e| {
                f.vpc_endpoints[1].private_dns_enabled = false;
                e[1].addresses = vec![ip("35.180.1.2")];
            },
            vec![one("vpc_endpoint.private_dns_disabled", Severity::Warning, &["logs"])],
        ),
        (
            "3. endpoint security group admits only another subnet",
            |f, _| {
                f.security_groups[1].ingress[0].peer = Peer::Cidr(net("10.0.9.0/24"));
            },
            FOUR.iter().map(|s| one("vpc_endpoint.ingress_denied", Severity::Error, &[s])).collect(),
        ),
        (
            "3. endpoint security group admits the task's group",
            |f, _| {
                f.security_groups[1].ingress[0].peer = Peer::SecurityGroup("sg-task".into());
            },
            vec![],
        ),
        (
            "3. endpoint has no subnet in the task's zone",
            |f, _| {
                f.subnets[1].availability_zone = "eu-west-3b".into();
            },
            FOUR.iter().map(|s| one("vpc_endpoint.no_subnet_in_az", Severity::Warning, &[s])).collect(),
        ),
        (
            "3. endpoint pending acceptance",
            |f, _| {
                f.vpc_endpoints[0].state = "pendingAcceptance".into();
            },
            vec![one("vpc_endpoint.not_available", Severity::Error, &["secretsmanager"])],
        ),
        (
            "4. S3 gateway endpoint not associated, NAT carries S3: a warning",
            |f, _| {
                f.vpc_endpoints[4].route_table_ids = vec!["rtb-other".into()];
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target != "vpce-s3");
            },
            vec![one("gateway_endpoint.not_associated", Severity::Warning, &["s3"])],
        ),
        (
            "4. S3 gateway endpoint not associated, no NAT: an error",
            |f, _| {
                f.vpc_endpoints[4].route_table_ids = vec![];
                f.route_table.as_mut().unwrap().routes.retain(|r| r.target == "local");
            },
            vec![
                one("route.no_route", Severity::Error, &["s3"]),
                one("gateway_endpoint.not_associated", Severity::Error, &["s3"]),
            ],
        ),
        (
            "6. ACL denies outbound 443 (rule 90 before the allow)",
            |f, _| {
                f.network_acl.as_mut().unwrap().entries.push(NaclEntry {
                    rule_number: 90,
                    egress: true,
                    protocol: Protocol::Tcp,
                    ports: Some((443, 443)),
                    cidr: net("0.0.0.0/0"),
                    allow: false,
                });
            },
            vec![one("network_acl.egress_denied", Severity::Error, &ALL_FIVE)],
        ),
        (
            "6. custom ACL allowing 443 out and nothing in: the implicit deny drops the replies",
            |f, _| {
                let acl = f.network_acl.as_mut().unwrap();
                acl.default = false;
                acl.entries = vec![NaclEntry {
                    rule_number: 100,
                    egress: true,
                    protocol: Protocol::Tcp,
                    ports: Some((443, 443)),
                    cidr: net("0.0.0.0/0"),
                    allow: true,
                }];
            },
            vec![one("network_acl.ingress_denied", Severity::Error, &ALL_FIVE)],
        ),
        (
            "7. enableDnsSupport off with private-DNS endpoints",
            |f, _| f.vpc.as_mut().unwrap().dns_support = Some(false),
            vec![one("vpc.dns_support_disabled", Severity::Error, &FOUR)],
        ),
        (
            "7. enableDnsHostnames off with private-DNS endpoints",
            |f, _| f.vpc.as_mut().unwrap().dns_hostnames = Some(false),
            vec![one("vpc.dns_hostnames_disabled", Severity::Error, &FOUR)],
        ),
        (
            "permissions: a denied action is a warning naming it",
            |f, _| {
                f.gaps.push(Gap::Denied { action: "ec2:DescribeNetworkAcls".into(), message: "AccessDenied".into() });
                f.network_acl = None;
            },
            vec![one("permission.denied", Severity::Warning, &[])],
        ),
    ];
    for (name, change, want) in cases {
        let mut facts = healthy();
        let mut eps = endpoints(true);
        change(&mut facts, &mut eps);
        let got = found(&facts, &eps);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn findings_carry_resources_remedy_and_addresses() {
    let mut facts = healthy();
    facts.vpc_endpoints[4].route_table_ids = vec![];
    facts.route_table.as_mut().unwrap().routes.retain(|r| r.target != "vpce-s3");
    let d = diagnose(&facts, &endpoints(true));
    let f = &d.findings[0];
    assert_eq!(f.resources, ["vpce-s3", "rtb-task"]);
    assert!(f.message.contains("through nat-1"), "{}", f.message);
    assert!(f.remedy.contains("--add-route-table-ids rtb-task"), "{}", f.remedy);
    assert_eq!(d.paths[4].access_type, AccessType::NatGateway);

    let mut facts = healthy();
    facts.route_table.as_mut().unwrap().routes.retain(|r| r.target == "local");
    facts.vpc_endpoints.truncate(4);
    let d = diagnose(&facts, &endpoints(true));
    let no_route = d.findings.iter().find(|f| f.id == "route.no_route").unwrap();
    assert_eq!(no_route.addresses, [ip(S3_ADDR)]);
    assert!(d.has_errors());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["findings"][0]["severity"], "error");
    assert_eq!(json["paths"][4]["addresses"][0]["route"], serde_json::Value::Null);
}
