//! The task's network as the AWS APIs describe it, applied to a check: the VPC's CIDRs join the
//! classification, the public IP comes from EC2, each dialled address gets the route it takes and
//! the access type that route shows, and the diagnosis's findings join the report — with where the
//! model of the configuration and what the check observed disagree (`observation.*` findings).
//!
//! The check never calls AWS itself and knows nothing of the SDK: a [`NetworkSource`] (the
//! binary's, over `netready-aws`) hands it plain [`Discovered`] data, read concurrently with the
//! probes and by the same deadline. [`apply`] is pure.

use std::future::Future;
use std::time::SystemTime;

use ipnet::IpNet;
use netready_diagnose::{AwsApi, EndpointAddresses, Finding, NetworkFacts, Severity};
use tokio::time::Instant;

use crate::classify::{Scope, classify, scope};
use crate::report::{
    DiagnosisReport, DiagnosisStatus, NetworkReport, PublicIp, PublicIpSource, Report, TaskInfo, VpcEndpointReport,
};

/// What reading the task's network produced, as the check takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub mode: AwsApi,
    pub status: DiagnosisStatus,
    /// Why skipped, unavailable or partial.
    pub note: Option<String>,
    /// The network as read (`Some` exactly when the status is ok or partial).
    pub facts: Option<NetworkFacts>,
    /// Findings about the diagnosis itself: why it was skipped or unavailable, and what was refused
    /// when no facts could be read. Findings about the network come from the facts.
    pub findings: Vec<Finding>,
    /// When the facts were read.
    pub read_at: Option<SystemTime>,
}

impl Discovered {
    /// `--aws-api off`.
    pub fn off() -> Discovered {
        Discovered {
            mode: AwsApi::Off,
            status: DiagnosisStatus::Off,
            note: None,
            facts: None,
            findings: Vec::new(),
            read_at: None,
        }
    }

    /// Not read, and `reason` says why: skipped in `auto` mode (one info finding), unavailable in
    /// `required` mode (an error finding).
    pub fn not_read(mode: AwsApi, reason: &str) -> Discovered {
        let (status, finding) = match mode {
            AwsApi::Off => return Discovered::off(),
            AwsApi::Auto => (DiagnosisStatus::Skipped, Finding::skipped(reason)),
            AwsApi::Required => (DiagnosisStatus::Unavailable, Finding::unavailable(reason, Severity::Error)),
        };
        Discovered { mode, status, note: Some(reason.to_owned()), facts: None, findings: vec![finding], read_at: None }
    }

    /// It should have been read and could not be (the task not found, an essential call refused
    /// or unanswered, the deadline): an error finding with `required`, a warning with `auto`.
    /// `findings` are the refused or failed calls, if any.
    pub fn unavailable(mode: AwsApi, reason: &str, findings: Vec<Finding>) -> Discovered {
        if mode == AwsApi::Off {
            return Discovered::off();
        }
        let severity = if mode == AwsApi::Required { Severity::Error } else { Severity::Warning };
        let mut all = vec![Finding::unavailable(reason, severity)];
        all.extend(findings);
        Discovered {
            mode,
            status: DiagnosisStatus::Unavailable,
            note: Some(reason.to_owned()),
            facts: None,
            findings: all,
            read_at: None,
        }
    }

    /// Read, completely or with gaps.
    pub fn read(mode: AwsApi, facts: NetworkFacts, read_at: SystemTime) -> Discovered {
        let (status, note) = if facts.gaps.is_empty() {
            (DiagnosisStatus::Ok, None)
        } else {
            let actions: Vec<&str> = facts.gaps.iter().map(|g| g.action()).collect();
            (DiagnosisStatus::Partial, Some(format!("not everything could be read ({})", actions.join(", "))))
        };
        Discovered { mode, status, note, facts: Some(facts), findings: Vec::new(), read_at: Some(read_at) }
    }

    /// Whether the check could not use the network although `--aws-api required` asked for it.
    pub fn required_but_unread(&self) -> bool {
        self.mode == AwsApi::Required && !self.status.read()
    }
}

/// Reads the network of the task a check runs in.
pub trait NetworkSource {
    /// `--aws-api`, for a report whose reading did not finish.
    fn mode(&self) -> AwsApi;

    /// Reads the network of `task` (its ARN and region from task metadata and the settings),
    /// finishing by `deadline`: the probes' deadline, so that a check is never slower for it.
    fn read(&self, task: &TaskInfo, deadline: Instant) -> impl Future<Output = Discovered> + Send;
}

/// `--aws-api off`: reads nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

impl NetworkSource for NoNetwork {
    fn mode(&self) -> AwsApi {
        AwsApi::Off
    }

    async fn read(&self, _task: &TaskInfo, _deadline: Instant) -> Discovered {
        Discovered::off()
    }
}

/// The report of `probed` (a check's results, before any diagnosis) with what `discovered` says
/// about the network: scopes and access types classified again with the VPC's CIDRs and EC2's
/// public IP; with the route table, each dialled address's route and access type, and the
/// endpoint's access type from them; the findings; the hints again. `known_cidrs` are the CIDRs
/// the check knew of itself (`--vpc-cidr`, task metadata).
pub fn apply(probed: &Report, known_cidrs: &[IpNet], discovered: &Discovered) -> Report {
    let mut report = probed.clone();
    let facts = discovered.facts.as_ref().filter(|_| discovered.status.read());
    let mut cidrs = known_cidrs.to_vec();
    if let Some(facts) = facts {
        cidrs.extend(facts.vpc_cidrs().iter().copied());
        if let Some(subnet) = facts.task_subnet() {
            cidrs.extend(subnet.cidrs.iter().copied());
        }
        complete_task(&mut report.task, facts);
    }
    for ep in &mut report.endpoints {
        for a in &mut ep.dns.addresses {
            a.scope = scope(a.ip, &cidrs);
        }
        let dialled: Vec<Scope> = ep.connections.iter().map(|c| scope(c.ip, &cidrs)).collect();
        ep.access_type = classify(&dialled, report.task.public_ip.assigned);
    }
    let mut findings = discovered.findings.clone();
    if let Some(facts) = facts {
        let inputs: Vec<EndpointAddresses> = report
            .endpoints
            .iter()
            .map(|e| EndpointAddresses {
                service: e.service,
                host: e.host.clone(),
                port: e.port,
                addresses: e.connections.iter().map(|c| c.ip).collect(),
            })
            .collect();
        let paths = netready_diagnose::path::paths(facts, &inputs);
        if facts.route_table.is_some() {
            for (ep, path) in report.endpoints.iter_mut().zip(&paths) {
                for (c, p) in ep.connections.iter_mut().zip(&path.addresses) {
                    c.route = p.route.clone();
                    c.access_type = Some(p.access_type);
                }
                if !ep.connections.is_empty() {
                    ep.access_type = path.access_type;
                }
            }
        }
        findings.extend(netready_diagnose::findings::findings(facts, &inputs, &paths));
        findings.extend(netready_diagnose::compare::compare(facts, &observations(&report)));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.diagnosis = Some(DiagnosisReport {
        status: discovered.status,
        mode: discovered.mode,
        note: discovered.note.clone(),
        read_at: discovered.read_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        network: facts.and_then(network_report),
        findings,
    });
    report.with_hints()
}

/// What the check saw per dialled address, for the comparison with the model (a connection the
/// deadline cut short is no evidence either way).
fn observations(report: &Report) -> Vec<netready_diagnose::compare::Observation> {
    report
        .endpoints
        .iter()
        .flat_map(|e| {
            e.connections.iter().filter_map(move |c| {
                let failure = c.failure().map(|(phase, outcome, text)| (phase.to_owned(), outcome.to_owned(), text));
                if failure.as_ref().is_some_and(|(_, outcome, _)| outcome == "out_of_time") {
                    return None;
                }
                Some(netready_diagnose::compare::Observation {
                    service: e.service,
                    host: e.host.clone(),
                    port: e.port,
                    address: c.ip,
                    failure,
                })
            })
        })
        .collect()
}

/// The public IP from EC2 (it wins over the configuration: it is what the ENI has), and what task
/// metadata did not say.
fn complete_task(task: &mut TaskInfo, facts: &NetworkFacts) {
    let Some(eni) = &facts.eni else { return };
    task.public_ip = PublicIp {
        assigned: Some(eni.public_ip.is_some()),
        address: eni.public_ip.map(|ip| ip.to_string()),
        source: PublicIpSource::Ec2,
    };
    if task.private_ipv4.is_none() {
        task.private_ipv4 = eni.private_ipv4.map(|ip| ip.to_string());
    }
    if task.private_ipv6.is_none() {
        task.private_ipv6 = eni.ipv6.first().map(|ip| ip.to_string());
    }
    if task.availability_zone.is_none() && !eni.availability_zone.is_empty() {
        task.availability_zone = Some(eni.availability_zone.clone());
    }
    if let Some(subnet) = facts.task_subnet() {
        if task.subnet_cidr.is_none() {
            task.subnet_cidr = subnet.cidrs.iter().find(|n| n.addr().is_ipv4()).map(ToString::to_string);
        }
        if task.ipv6_subnet_cidr.is_none() {
            task.ipv6_subnet_cidr = subnet.cidrs.iter().find(|n| n.addr().is_ipv6()).map(ToString::to_string);
        }
    }
}

fn network_report(facts: &NetworkFacts) -> Option<NetworkReport> {
    let eni = facts.eni.as_ref()?;
    Some(NetworkReport {
        eni_id: eni.id.clone(),
        subnet_id: eni.subnet_id.clone(),
        vpc_id: eni.vpc_id.clone(),
        availability_zone: eni.availability_zone.clone(),
        vpc_cidrs: facts.vpc_cidrs().iter().map(ToString::to_string).collect(),
        security_group_ids: eni.security_group_ids.clone(),
        route_table_id: facts.route_table.as_ref().map(|t| t.id.clone()),
        network_acl_id: facts.network_acl.as_ref().map(|a| a.id.clone()),
        vpc_endpoints: facts
            .vpc_endpoints
            .iter()
            .map(|e| VpcEndpointReport {
                id: e.id.clone(),
                service_name: e.service_name.clone(),
                endpoint_type: e.endpoint_type,
                state: e.state.clone(),
                private_dns_enabled: e.private_dns_enabled,
            })
            .collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use netready_diagnose::facts::*;
    use netready_diagnose::{AccessType, RouteState};
    use netready_lab::facts::route;
    use serde_json::Value;

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The degraded fixture (interface endpoints for four services, S3 at two public addresses)
    /// as a check's probes, before any diagnosis.
    fn probed() -> Report {
        let v: Value = serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
        let mut r = Report::from_value(v).unwrap();
        r.schema_version = crate::report::SCHEMA_VERSION;
        // What version 4 adds to a certificate.
        for cert in
            r.endpoints.iter_mut().flat_map(|e| &mut e.connections).filter_map(|c| c.tls.as_mut()?.certificate.as_mut())
        {
            cert.not_before = Some("2026-11-26T00:00:00Z".into());
        }
        r
    }

    /// The fixture's network as EC2 describes it: four interface endpoints, S3 through its gateway
    /// endpoint (203.0.113.0/24 stands for the region's S3 ranges), NAT for the rest.
    fn facts() -> NetworkFacts {
        netready_lab::facts::healthy("eu-west-3", &["203.0.113.0/24"])
    }

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
    }

    /// Valid against the schema of the report's version.
    fn assert_valid(report: &Report) -> Value {
        let schema: Value = serde_json::from_str(crate::report::schema_of(report.schema_version).unwrap()).unwrap();
        let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
        let json = serde_json::to_value(report).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
        json
    }

    /// The fixture's logs connection timed out. With the lab's healthy configuration the model says
    /// reachable: the cause is outside it. With the endpoint's group not admitting the task, the
    /// model says blocked and agrees: no observation finding.
    #[test]
    fn the_model_beside_the_observation() {
        // As discovery reads it: every ACL of the VPC with its subnets (the endpoints' too).
        let facts = || {
            let mut f = facts();
            let acl = f.network_acl.clone().unwrap();
            f.network_acls =
                vec![AssociatedAcl { acl, subnet_ids: vec!["subnet-task".into(), "subnet-endpoints".into()] }];
            f
        };
        let report = apply(&probed(), &[], &Discovered::read(AwsApi::Auto, facts(), at()));
        let found = &report.diagnosis.as_ref().unwrap().findings;
        let outside: Vec<_> = found.iter().filter(|f| f.id == "observation.outside_model").collect();
        assert_eq!(outside.len(), 1, "{found:#?}");
        assert_eq!(outside[0].endpoints, [netready_diagnose::ServiceKey::Logs]);
        assert!(outside[0].message.contains("tcp phase failed (timeout"), "{}", outside[0].message);
        assert!(!found.iter().any(|f| f.id == "observation.model_incomplete"), "{found:#?}");
        assert_valid(&report);

        let mut denied = facts();
        let mut group = denied.security_groups.iter().find(|g| g.id == "sg-endpoints").unwrap().clone();
        group.id = "sg-logs-endpoint".into();
        group.ingress[0].peer = Peer::Cidr(net("10.0.9.0/24"));
        denied.security_groups.push(group);
        denied.vpc_endpoints.iter_mut().find(|e| e.id == "vpce-logs").unwrap().security_group_ids =
            vec!["sg-logs-endpoint".into()];
        let report = apply(&probed(), &[], &Discovered::read(AwsApi::Auto, denied, at()));
        let found = &report.diagnosis.as_ref().unwrap().findings;
        assert!(!found.iter().any(|f| f.id.starts_with("observation.")), "{found:#?}");
    }

    #[test]
    fn the_gateway_endpoint_route_makes_s3_gateway_endpoint() {
        let probed = probed();
        assert_eq!(probed.endpoints[4].access_type, AccessType::NatGateway, "DNS alone says NAT");
        assert!(probed.endpoints[4].hints.iter().any(|h| h.contains("S3 gateway endpoint")));
        let report = apply(&probed, &[], &Discovered::read(AwsApi::Auto, facts(), at()));
        let access: Vec<&str> = report.endpoints.iter().map(|e| e.access_type.as_str()).collect();
        assert_eq!(access, ["vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "gateway_endpoint"]);
        let s3 = &report.endpoints[4];
        for c in &s3.connections {
            let r = c.route.as_ref().unwrap();
            assert_eq!(
                (r.route_table_id.as_str(), r.destination.as_str(), r.target_id.as_str(), r.state),
                ("rtb-task", "pl-s3", "vpce-s3", RouteState::Active)
            );
            assert_eq!(c.access_type, Some(AccessType::GatewayEndpoint));
        }
        assert!(s3.hints.is_empty(), "the gateway endpoint is known now, no guess: {:?}", s3.hints);
        let logs = &report.endpoints[1].connections[0];
        assert_eq!(logs.route.as_ref().unwrap().target_id, "local");
        assert_eq!(
            report.task.public_ip,
            PublicIp { assigned: Some(false), address: None, source: PublicIpSource::Ec2 }
        );
        let d = report.diagnosis.as_ref().unwrap();
        assert_eq!((d.status, d.mode, d.findings.len()), (DiagnosisStatus::Ok, AwsApi::Auto, 0));
        let network = d.network.as_ref().unwrap();
        assert_eq!(network.route_table_id.as_deref(), Some("rtb-task"));
        assert_eq!(network.vpc_endpoints.len(), 5);
        let json = assert_valid(&report);
        assert_eq!(json["diagnosis"]["read_at"], "2027-01-15T08:00:00.000Z");
        assert_eq!(json["endpoints"][4]["connections"][0]["route"]["target_type"], "vpc_endpoint");
    }

    #[test]
    fn routes_to_a_transit_gateway_peering_or_vpn_refine_public_and_outside_private_addresses() {
        for (target, want) in [
            ("tgw-1", AccessType::TransitGateway),
            ("pcx-1", AccessType::VpcPeering),
            ("vgw-1", AccessType::VpnGateway),
            ("nat-1", AccessType::NatGateway),
            ("eni-firewall", AccessType::Unknown),
        ] {
            let mut f = facts();
            f.vpc_endpoints.clear();
            f.route_table.as_mut().unwrap().routes = vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", target)];
            let mut probed = probed();
            // Secrets Manager answers at a shared-services VPC's endpoint, outside this VPC.
            probed.endpoints[0].dns.addresses[0].ip = "10.200.2.10".parse().unwrap();
            probed.endpoints[0].connections[0].ip = "10.200.2.10".parse().unwrap();
            let report = apply(&probed, &[], &Discovered::read(AwsApi::Required, f, at()));
            assert_eq!(report.endpoints[4].access_type, want, "{target}: S3's public addresses");
            assert_eq!(report.endpoints[0].access_type, want, "{target}: a private address outside the VPC");
            assert_eq!(report.endpoints[1].access_type, AccessType::VpcEndpoint, "{target}: inside the VPC");
            assert_valid(&report);
        }
    }

    #[test]
    fn a_blackhole_or_no_route_is_unknown_with_a_finding() {
        let mut f = facts();
        f.route_table.as_mut().unwrap().routes[1].blackhole = true;
        f.route_table.as_mut().unwrap().routes.pop();
        let report = apply(&probed(), &[], &Discovered::read(AwsApi::Auto, f, at()));
        let s3 = &report.endpoints[4];
        assert_eq!(s3.access_type, AccessType::Unknown);
        assert_eq!(s3.connections[0].route.as_ref().unwrap().state, RouteState::Blackhole);
        let d = report.diagnosis.as_ref().unwrap();
        assert_eq!(d.findings[0].id, "route.blackhole");
        assert_eq!(d.findings[0].endpoints, vec![netready_diagnose::ServiceKey::S3]);
        assert_valid(&report);
    }

    #[test]
    fn without_facts_the_source_documents_rule_and_a_note() {
        let probed = probed();
        let skipped = apply(&probed, &[], &Discovered::not_read(AwsApi::Auto, "no AWS credentials in the environment"));
        let d = skipped.diagnosis.as_ref().unwrap();
        assert_eq!(d.status, DiagnosisStatus::Skipped);
        assert_eq!(
            d.findings.iter().map(|f| (f.id.as_str(), f.severity)).collect::<Vec<_>>(),
            [("diagnosis.skipped", Severity::Info)]
        );
        assert_eq!(skipped.endpoints, probed.endpoints, "nothing else changes");
        assert_valid(&skipped);

        let required = apply(&probed, &[], &Discovered::not_read(AwsApi::Required, "no AWS credentials"));
        let d = required.diagnosis.as_ref().unwrap();
        assert_eq!((d.status, d.findings[0].severity), (DiagnosisStatus::Unavailable, Severity::Error));
        assert_valid(&required);

        let off = apply(&probed, &[], &Discovered::off());
        assert_eq!(off.diagnosis.as_ref().unwrap().status, DiagnosisStatus::Off);
        assert!(off.diagnosis.as_ref().unwrap().findings.is_empty());
        assert_valid(&off);
    }

    #[test]
    fn the_vpc_cidrs_join_the_classification_and_gaps_make_it_partial() {
        // The VPC uses 198.18.0.0/16 (outside RFC 1918), which the check did not know of; the
        // route table could not be read.
        let mut probed = probed();
        for (i, ep) in probed.endpoints.iter_mut().take(4).enumerate() {
            let ip: std::net::IpAddr = format!("198.18.2.1{i}").parse().unwrap();
            ep.dns.addresses[0].ip = ip;
            ep.dns.addresses[0].scope = Scope::Public;
            ep.connections[0].ip = ip;
        }
        let before = apply(&probed, &[], &Discovered::off());
        assert_eq!(before.endpoints[0].access_type, AccessType::NatGateway);
        let mut f = facts();
        f.vpc.as_mut().unwrap().cidrs.push(net("198.18.0.0/16"));
        f.route_table = None;
        f.gaps.push(Gap::Denied { action: "ec2:DescribeRouteTables".into(), message: "UnauthorizedOperation".into() });
        let report = apply(&probed, &[], &Discovered::read(AwsApi::Auto, f, at()));
        assert_eq!(report.endpoints[0].access_type, AccessType::VpcEndpoint);
        assert_eq!(report.endpoints[0].dns.addresses[0].scope, Scope::Private);
        assert_eq!(report.endpoints[0].connections[0].route, None);
        assert_eq!(report.endpoints[0].connections[0].access_type, None, "no route table, no per-address type");
        let d = report.diagnosis.as_ref().unwrap();
        assert_eq!(d.status, DiagnosisStatus::Partial);
        assert!(d.note.as_deref().unwrap().contains("ec2:DescribeRouteTables"));
        assert!(d.findings.iter().any(|f| f.id == "permission.denied" && f.resources == ["ec2:DescribeRouteTables"]));
        assert_valid(&report);
    }

    #[test]
    fn a_version_2_body_keeps_nothing_of_version_3() {
        let report = apply(&probed(), &[], &Discovered::read(AwsApi::Auto, facts(), at()));
        let mut v = serde_json::to_value(&report).unwrap();
        v["schema_version"] = 2.into();
        let read = Report::from_value(v).unwrap();
        assert_eq!(read.diagnosis, None);
        assert!(
            read.endpoints.iter().flat_map(|e| &e.connections).all(|c| c.route.is_none() && c.access_type.is_none())
        );
    }

    /// The version 3 fixture (`tests/fixtures/report-v3-degraded.json`, the other crates' tests
    /// use it) is a report this code writes: valid against schema 3, and read and written back by
    /// the typed report without a member lost or added. It was made from the version 2 fixture's
    /// check with its network read (the logs endpoint's security group admitting only another
    /// subnet), with resource ids made to look like AWS's.
    #[test]
    fn the_v3_fixture_is_a_report_this_code_writes() {
        let stored: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/report-v3-degraded.json")).unwrap();
        let report = Report::from_value(stored.clone()).unwrap();
        assert_valid(&report);
        assert_eq!(serde_json::to_value(&report).unwrap(), stored);
        let diagnosis = report.diagnosis.as_ref().unwrap();
        assert!(!diagnosis.findings.is_empty(), "the fixture carries a finding");
    }

    /// The version 4 fixture (`tests/fixtures/report-v4-degraded.json`): the version 3 fixture as
    /// this version writes it (certificates with `not_before`), valid against schema 4 and read and
    /// written back without a member lost or added. Read as version 3, it keeps nothing version 4 added.
    #[test]
    fn the_v4_fixture_is_a_report_this_code_writes() {
        let stored: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/report-v4-degraded.json")).unwrap();
        let report = Report::from_value(stored.clone()).unwrap();
        assert_eq!(report.schema_version, 4);
        assert_valid(&report);
        assert_eq!(serde_json::to_value(&report).unwrap(), stored);
        let mut as_v3 = stored.clone();
        as_v3["schema_version"] = 3.into();
        let read = Report::from_value(as_v3).unwrap();
        let v3: Value = serde_json::from_str(include_str!("../../../tests/fixtures/report-v3-degraded.json")).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), v3, "a version 3 body keeps no version 4 field");
    }
}
