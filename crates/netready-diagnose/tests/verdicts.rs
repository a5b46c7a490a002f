//! The model's verdicts by table: the lab's healthy VPC (`netready_lab::facts::healthy`), one thing
//! changed per case, the services' addresses from the DNS model — what each service's verdict is,
//! and which hop and finding decide it.

#![allow(clippy::unwrap_used)]

use netready_diagnose::dns;
use netready_diagnose::facts::*;
use netready_diagnose::verdict::{self, HopKind, HopResult, ServiceResult, Verdict};
use netready_diagnose::{ServiceKey, Severity};
use netready_lab::facts::{healthy, net, route};

const REGION: &str = "eu-west-3";

fn lab() -> NetworkFacts {
    let mut f = healthy(REGION, &["52.95.154.0/23", "3.5.224.0/22"]);
    f.nat_gateways = Some(vec![NatGateway {
        id: "nat-1".into(),
        state: "available".into(),
        subnet_id: "subnet-public".into(),
        public_ips: vec!["15.236.10.20".parse().unwrap()],
        connectivity: "public".into(),
    }]);
    f.internet_gateways = Some(vec!["igw-1".into()]);
    let task_table = f.route_table.clone().unwrap();
    f.route_tables = vec![
        AssociatedTable { table: task_table, subnet_ids: vec!["subnet-task".into()] },
        AssociatedTable {
            table: RouteTable {
                id: "rtb-public".into(),
                main: false,
                routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "igw-1")],
            },
            subnet_ids: vec!["subnet-public".into()],
        },
    ];
    let acl = f.network_acl.clone().unwrap();
    f.network_acls = vec![AssociatedAcl {
        acl,
        subnet_ids: vec!["subnet-task".into(), "subnet-endpoints".into(), "subnet-public".into()],
    }];
    f
}

fn run(facts: &NetworkFacts) -> (Vec<ServiceResult>, Vec<netready_diagnose::Finding>) {
    let hosts = [
        (ServiceKey::SecretsManager, "secretsmanager.eu-west-3.amazonaws.com"),
        (ServiceKey::Logs, "logs.eu-west-3.amazonaws.com"),
        (ServiceKey::EcrApi, "api.ecr.eu-west-3.amazonaws.com"),
        (ServiceKey::EcrDkr, "111122223333.dkr.ecr.eu-west-3.amazonaws.com"),
        (ServiceKey::S3, "s3.eu-west-3.amazonaws.com"),
    ];
    let services: Vec<_> =
        hosts.iter().map(|(s, h)| (*s, (*h).to_owned(), 443, dns::model(facts, *s, h, false))).collect();
    verdict::evaluate(facts, &services)
}

fn verdicts(results: &[ServiceResult]) -> Vec<(&'static str, Verdict)> {
    results.iter().map(|r| (r.service.as_str(), r.verdict)).collect()
}

fn of(results: &[ServiceResult], service: ServiceKey) -> &ServiceResult {
    results.iter().find(|r| r.service == service).unwrap()
}

#[test]
fn the_healthy_lab_is_reachable_by_endpoints_and_the_gateway_endpoint() {
    let (results, findings) = run(&lab());
    assert!(results.iter().all(|r| r.verdict == Verdict::Reachable), "{results:#?}");
    assert!(findings.iter().all(|f| f.severity != Severity::Error), "{findings:#?}");
    let logs = of(&results, ServiceKey::Logs);
    assert_eq!(logs.addresses[0].address.to_string(), "10.0.2.11");
    let target = logs.addresses[0].hops.iter().find(|h| h.hop == HopKind::Target).unwrap();
    assert_eq!(target.result, HopResult::Pass);
    assert!(target.detail.contains("vpce-logs"), "{}", target.detail);
}

/// Without endpoints, the public path through NAT: the NAT gateway's own checks decide.
#[test]
fn nat_gateway_checks() {
    let mut f = lab();
    f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
    let (results, _) = run(&f);
    assert!(results.iter().all(|r| r.verdict == Verdict::Reachable), "{results:#?}");

    type Change = fn(&mut NetworkFacts);
    let cases: [(&str, Change); 4] = [
        ("nat_gateway.not_available", |f| f.nat_gateways.as_mut().unwrap()[0].state = "failed".into()),
        ("nat_gateway.no_public_ip", |f| f.nat_gateways.as_mut().unwrap()[0].public_ips.clear()),
        ("nat_gateway.no_internet_route", |f| f.route_tables[1].table.routes.truncate(1)),
        ("nat_gateway.no_internet_route", |f| f.internet_gateways = Some(vec![])),
    ];
    for (id, change) in cases {
        let mut f = lab();
        f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
        change(&mut f);
        let (results, findings) = run(&f);
        let sm = of(&results, ServiceKey::SecretsManager);
        assert_eq!(sm.verdict, Verdict::Blocked, "{id}");
        assert_eq!(sm.findings, [id], "{id}");
        let finding = findings.iter().find(|x| x.id == id).unwrap();
        assert_eq!(finding.severity, Severity::Error);
        assert!(finding.resources.contains(&"nat-1".to_owned()), "{id}: {finding:?}");
        assert!(finding.addresses.is_empty(), "the public witness is not shown: {finding:?}");
    }
    // Not read: unknown, never reachable.
    let mut f = lab();
    f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
    f.nat_gateways = None;
    assert_eq!(of(&run(&f).0, ServiceKey::Logs).verdict, Verdict::Unknown);
}

#[test]
fn interface_endpoint_checks() {
    // The endpoint's group admits the VPC's CIDR; a group that admits another range blocks.
    let mut f = lab();
    f.security_groups[1].ingress[0].peer = Peer::Cidr(net("10.0.9.0/24"));
    let (results, _) = run(&f);
    let logs = of(&results, ServiceKey::Logs);
    assert_eq!(logs.verdict, Verdict::Blocked);
    assert_eq!(logs.findings, ["vpc_endpoint.ingress_denied"]);
    // By the task's group: admitted.
    f.security_groups[1].ingress[0].peer = Peer::SecurityGroup("sg-task".into());
    assert_eq!(of(&run(&f).0, ServiceKey::Logs).verdict, Verdict::Reachable);

    // The endpoint subnet's own ACL denies the replies.
    let mut f = lab();
    let mut acl = f.network_acls[0].acl.clone();
    acl.id = "acl-endpoints".into();
    acl.entries.retain(|e| !e.egress);
    f.network_acls[0].subnet_ids.retain(|s| s != "subnet-endpoints");
    f.network_acls.push(AssociatedAcl { acl, subnet_ids: vec!["subnet-endpoints".into()] });
    let (results, findings) = run(&f);
    let logs = of(&results, ServiceKey::Logs);
    assert_eq!(logs.verdict, Verdict::Blocked, "{logs:#?}");
    assert_eq!(logs.findings, ["vpc_endpoint.subnet_acl_denied"]);
    assert!(
        findings
            .iter()
            .any(|x| x.id == "vpc_endpoint.subnet_acl_denied" && x.resources.contains(&"acl-endpoints".into()))
    );

    // Not available.
    let mut f = lab();
    f.vpc_endpoints[1].state = "pending".into();
    assert_eq!(of(&run(&f).0, ServiceKey::Logs).findings, ["vpc_endpoint.not_available"]);
}

#[test]
fn a_public_address_only_specific_cidrs_may_allow_is_unknown() {
    let mut f = lab();
    f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
    f.security_groups[0].egress =
        vec![SgRule { protocol: Protocol::Tcp, ports: Some((443, 443)), peer: Peer::Cidr(net("35.180.0.0/16")) }];
    let (results, findings) = run(&f);
    let sm = of(&results, ServiceKey::SecretsManager);
    assert_eq!(sm.verdict, Verdict::Unknown, "{sm:#?}");
    assert_eq!(sm.findings, ["security_group.public_cidrs"]);
    assert!(sm.why.as_deref().unwrap().contains("35.180.0.0/16"));
    assert!(
        !findings
            .iter()
            .any(|x| x.id == "security_group.egress_denied" && x.endpoints.contains(&ServiceKey::SecretsManager))
    );
    // S3's prefix-list addresses are outside that range: denied.
    assert_eq!(of(&results, ServiceKey::S3).verdict, Verdict::Blocked);
}

#[test]
fn paths_beyond_the_model_and_dns_it_cannot_follow_are_unknown() {
    let mut f = lab();
    f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
    f.route_table.as_mut().unwrap().routes[1] = route("0.0.0.0/0", "tgw-1");
    let (results, _) = run(&f);
    assert_eq!(
        verdicts(&results),
        [
            ("secretsmanager", Verdict::Unknown),
            ("logs", Verdict::Unknown),
            ("ecr_api", Verdict::Unknown),
            ("ecr_dkr", Verdict::Unknown),
            ("s3", Verdict::Reachable)
        ],
        "S3 keeps its gateway endpoint"
    );
    assert_eq!(of(&results, ServiceKey::Logs).findings, ["path.beyond_model"]);

    let mut f = lab();
    f.resolver_rules = Some(vec![ResolverRule {
        id: "rslvr-rr-1".into(),
        domain: "amazonaws.com".into(),
        rule_type: "forward".into(),
        targets: vec!["192.168.10.2:53".into()],
    }]);
    let (results, findings) = run(&f);
    assert!(results.iter().all(|r| r.verdict == Verdict::Unknown));
    let fw = findings.iter().find(|x| x.id == "dns.forwarded").unwrap();
    assert_eq!(fw.resources, ["rslvr-rr-1"]);
    assert!(fw.message.contains("192.168.10.2:53"));
    assert_eq!(verdict::overall(results.iter().map(|r| r.verdict)), Verdict::Unknown);
    assert_eq!(verdict::exit_code(Verdict::Unknown), 3);
}

#[test]
fn an_internet_gateway_needs_the_public_ip_and_a_planned_one_counts() {
    let mut f = lab();
    f.vpc_endpoints.retain(|e| e.endpoint_type == EndpointType::Gateway);
    f.route_table.as_mut().unwrap().routes[1] = route("0.0.0.0/0", "igw-1");
    f.route_tables[0].table = f.route_table.clone().unwrap();
    let (results, _) = run(&f);
    assert_eq!(of(&results, ServiceKey::Logs).findings[0], "public_ip.missing");
    let eni = f.eni.as_mut().unwrap();
    eni.planned = true;
    eni.planned_public_ip = true;
    assert_eq!(of(&run(&f).0, ServiceKey::Logs).verdict, Verdict::Reachable);
}
