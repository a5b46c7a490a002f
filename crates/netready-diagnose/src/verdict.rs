//! Every hop of every address, as AWS evaluates it, and a verdict per service: `reachable`,
//! `blocked` (with the finding of the resource that blocks it) or `unknown` (with why).
//!
//! The hops, in the order a packet meets them: the model's DNS answer, the task's security group
//! egress, the subnet's network ACL outbound and for the return traffic, the route, and the
//! route's target (a NAT gateway's state, Elastic IP and its own subnet's route to an attached
//! internet gateway; an internet gateway's need for a public IP; an interface endpoint's state,
//! security groups and its subnet's ACL; a gateway endpoint's state). Transit gateways, peering,
//! VPN and appliances are where the model's sight ends: `unknown`.

use std::net::IpAddr;

use crate::dns::{AddressSource, DnsModel, public_cidr_rules};
use crate::facts::{EndpointType, NetworkFacts, SecurityGroup, TargetType};
use crate::filter::{self, EPHEMERAL_PORTS, NaclVerdict, Verdict as SgVerdict};
use crate::findings::{Finding, Severity};
use crate::path::{AccessType, AddressPath, EndpointAddresses};
use crate::service::ServiceKey;

pub use crate::hops::{AddressResult, Hop, HopKind, HopResult, ServiceResult, Verdict};

fn hop(hop: HopKind, result: HopResult, resources: Vec<String>, detail: String, finding: Option<&str>) -> Hop {
    Hop { hop, result, resources, detail, finding: finding.map(str::to_owned) }
}

fn task_groups(facts: &NetworkFacts) -> Option<Vec<&SecurityGroup>> {
    let eni = facts.eni.as_ref()?;
    eni.security_group_ids.iter().map(|id| facts.security_group(id)).collect()
}

/// How a hop's detail names the address: the witness of "a public address" is not one to show.
fn label(address: IpAddr, source: AddressSource) -> String {
    if source == AddressSource::Public { "the service's public addresses".to_owned() } else { address.to_string() }
}

fn sg_hop(facts: &NetworkFacts, address: IpAddr, source: AddressSource, port: u16) -> Hop {
    let kind = HopKind::SecurityGroupEgress;
    let Some(groups) = task_groups(facts) else {
        return hop(kind, HopResult::Unknown, vec![], "the task's security groups were not read".into(), None);
    };
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    match filter::egress_allows(facts, &groups, address, port) {
        SgVerdict::Allowed { group } => {
            hop(kind, HopResult::Pass, vec![group.clone()], format!("{group} allows TCP {port} out"), None)
        }
        SgVerdict::Denied => {
            let public = public_cidr_rules(facts, &ids, port);
            if source == AddressSource::Public && !public.is_empty() {
                let list: Vec<String> = public.iter().map(ToString::to_string).collect();
                return hop(
                    kind,
                    HopResult::Unknown,
                    ids,
                    format!(
                        "the task's groups allow TCP {port} only to {}: the service's public addresses must fall in them \
                         (AWS publishes them in ip-ranges.json)",
                        list.join(", ")
                    ),
                    Some("security_group.public_cidrs"),
                );
            }
            let detail =
                format!("no egress rule of {} allows TCP {port} to {}", ids.join(", "), label(address, source));
            hop(kind, HopResult::Block, ids, detail, Some("security_group.egress_denied"))
        }
        SgVerdict::Unknown { unreadable } => hop(
            kind,
            HopResult::Unknown,
            ids,
            format!("depends on {}, which could not be read", unreadable.join(", ")),
            Some("security_group.unverifiable"),
        ),
    }
}

fn acl_hops(facts: &NetworkFacts, address: IpAddr, source: AddressSource, port: u16) -> [Hop; 2] {
    let shown = label(address, source);
    let (out, back) = (HopKind::NetworkAclOutbound, HopKind::NetworkAclReturn);
    let Some(acl) = &facts.network_acl else {
        let why = || "the subnet's network ACL was not read".to_owned();
        return [hop(out, HopResult::Unknown, vec![], why(), None), hop(back, HopResult::Unknown, vec![], why(), None)];
    };
    if facts.task_subnet().is_some_and(|s| s.cidrs.iter().any(|n| n.contains(&address))) {
        let same = || "inside the task's subnet: no ACL on the way".to_owned();
        return [
            hop(out, HopResult::Pass, vec![acl.id.clone()], same(), None),
            hop(back, HopResult::Pass, vec![acl.id.clone()], same(), None),
        ];
    }
    let one = |kind, egress, ports: (u16, u16), finding| match filter::nacl_evaluate(acl, egress, address, ports) {
        NaclVerdict::Allowed => hop(kind, HopResult::Pass, vec![acl.id.clone()], format!("{} allows it", acl.id), None),
        NaclVerdict::Denied { ranges, .. } => {
            let r: Vec<String> =
                ranges.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
            let what = if egress { "outbound TCP" } else { "inbound (return) TCP" };
            let detail =
                format!("{} denies {what} {} {} {shown}", acl.id, r.join(", "), if egress { "to" } else { "from" });
            hop(kind, HopResult::Block, vec![acl.id.clone()], detail, Some(finding))
        }
    };
    [
        one(out, true, (port, port), "network_acl.egress_denied"),
        one(back, false, EPHEMERAL_PORTS, "network_acl.ingress_denied"),
    ]
}

fn route_hop(facts: &NetworkFacts, path: &AddressPath, source: AddressSource) -> Hop {
    let kind = HopKind::Route;
    let Some(table) = &facts.route_table else {
        return hop(kind, HopResult::Unknown, vec![], "the subnet's route table was not read".into(), None);
    };
    let Some(route) = &path.route else {
        let detail = format!("{} has no route for {}", table.id, label(path.address, source));
        return hop(kind, HopResult::Block, vec![table.id.clone()], detail, Some("route.no_route"));
    };
    let resources = vec![table.id.clone(), route.target_id.clone()];
    if route.blackhole() {
        let detail =
            format!("{} → {} is a blackhole (the target no longer exists)", route.destination, route.target_id);
        return hop(kind, HopResult::Block, resources, detail, Some("route.blackhole"));
    }
    if !path.unresolved_prefix_lists.is_empty() {
        let detail = format!(
            "{} → {}, unless one of {} (entries not read) matches more specifically",
            route.destination,
            route.target_id,
            path.unresolved_prefix_lists.join(", ")
        );
        return hop(kind, HopResult::Unknown, resources, detail, Some("route.prefix_list_unreadable"));
    }
    let main = if table.main { " (the VPC's main table)" } else { "" };
    hop(
        kind,
        HopResult::Pass,
        resources,
        format!("{}{main}: {} → {}", table.id, route.destination, route.target_id),
        None,
    )
}

fn target_hop(facts: &NetworkFacts, path: &AddressPath, port: u16) -> Option<Hop> {
    let route = path.route.as_ref().filter(|r| !r.blackhole())?;
    let kind = HopKind::Target;
    let id = route.target_id.clone();
    Some(match route.target_type {
        TargetType::Local => match facts.vpc_endpoints.iter().find(|e| e.addresses.contains(&path.address)) {
            Some(e) => crate::target::interface_endpoint(facts, e, path.address, port),
            None => hop(kind, HopResult::Pass, vec!["local".into()], "inside the VPC (the local route)".into(), None),
        },
        TargetType::NatGateway => crate::target::nat_gateway(facts, &id),
        TargetType::InternetGateway => {
            let eni = facts.eni.as_ref();
            if path.address.is_ipv4() && !eni.is_some_and(|e| e.has_public_ip()) {
                let detail =
                    format!("internet gateway {id}: the task has no public IP, so the gateway drops its traffic");
                let mut resources = vec![id];
                resources.extend(eni.map(|e| e.id.clone()).filter(|e| !e.is_empty()));
                hop(kind, HopResult::Block, resources, detail, Some("public_ip.missing"))
            } else if facts.internet_gateways.as_ref().is_some_and(|igws| !igws.contains(&id)) {
                let detail = format!("internet gateway {id} is not attached to the VPC");
                hop(kind, HopResult::Block, vec![id], detail, Some("internet_gateway.not_attached"))
            } else {
                hop(
                    kind,
                    HopResult::Pass,
                    vec![id.clone()],
                    format!("internet gateway {id}, with the task's public IP"),
                    None,
                )
            }
        }
        TargetType::EgressOnlyInternetGateway if path.address.is_ipv6() => {
            hop(kind, HopResult::Pass, vec![id.clone()], format!("egress-only internet gateway {id}"), None)
        }
        TargetType::VpcEndpoint => match facts.vpc_endpoints.iter().find(|e| e.id == id) {
            Some(e) if e.endpoint_type == EndpointType::Gateway && e.is_available() => {
                hop(kind, HopResult::Pass, vec![id.clone()], format!("gateway endpoint {id}"), None)
            }
            Some(e) if e.endpoint_type == EndpointType::Gateway => hop(
                kind,
                HopResult::Block,
                vec![id.clone()],
                format!("gateway endpoint {id} is {}, not available", e.state),
                Some("vpc_endpoint.not_available"),
            ),
            _ => beyond(id, "a Gateway Load Balancer or firewall endpoint"),
        },
        TargetType::TransitGateway => beyond(id, "a transit gateway"),
        TargetType::VpcPeering => beyond(id, "a VPC peering connection"),
        TargetType::VpnGateway => beyond(id, "a virtual private gateway (VPN)"),
        _ => beyond(id, "an appliance or another target"),
    })
}

fn beyond(id: String, what: &str) -> Hop {
    hop(
        HopKind::Target,
        HopResult::Unknown,
        vec![id.clone()],
        format!("the path continues at {id}, {what}: the model's sight ends there"),
        Some("path.beyond_model"),
    )
}

fn combine(results: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
    results.into_iter().max()
}

fn address_result(
    facts: &NetworkFacts,
    path: &AddressPath,
    from: &crate::dns::SourcedAddress,
    port: u16,
) -> AddressResult {
    let mut hops = vec![sg_hop(facts, path.address, from.source, port)];
    hops.extend(acl_hops(facts, path.address, from.source, port));
    hops.push(route_hop(facts, path, from.source));
    hops.extend(target_hop(facts, path, port));
    let verdict = combine(hops.iter().map(|h| match h.result {
        HopResult::Pass => Verdict::Reachable,
        HopResult::Unknown => Verdict::Unknown,
        HopResult::Block => Verdict::Blocked,
    }))
    .unwrap_or(Verdict::Unknown);
    AddressResult {
        address: path.address,
        source: from.source,
        from: from.from.clone(),
        route: path.route.clone(),
        access_type: path.access_type,
        vpc_endpoint_id: path.vpc_endpoint_id.clone(),
        verdict,
        hops,
    }
}

/// The model's verdicts for one subnet: each service's addresses (from `dns`) through the hops,
/// and the findings (the rules of [`crate::findings`] and those of the hops).
pub fn evaluate(
    facts: &NetworkFacts,
    services: &[(ServiceKey, String, u16, DnsModel)],
) -> (Vec<ServiceResult>, Vec<Finding>) {
    let inputs: Vec<EndpointAddresses> = services
        .iter()
        .map(|(service, host, port, dns)| EndpointAddresses {
            service: *service,
            host: host.clone(),
            port: *port,
            addresses: dns.addresses.iter().map(|a| a.address).collect(),
        })
        .collect();
    let paths = crate::path::paths(facts, &inputs);
    let mut findings = crate::findings::findings(facts, &inputs, &paths);
    let mut results = Vec::new();
    for ((service, host, port, dns), path) in services.iter().zip(&paths) {
        let addresses: Vec<AddressResult> =
            path.addresses.iter().zip(&dns.addresses).map(|(p, a)| address_result(facts, p, a, *port)).collect();
        let result = service_result(facts, *service, host, *port, dns, path.access_type, addresses);
        crate::target::hop_findings(&result, &mut findings);
        results.push(result);
    }
    // A public address that only a specific-CIDR rule might allow is unknown, not denied.
    let open: Vec<IpAddr> = results
        .iter()
        .flat_map(|r| &r.addresses)
        .filter(|a| a.hops.iter().any(|h| h.finding.as_deref() == Some("security_group.public_cidrs")))
        .map(|a| a.address)
        .collect();
    if !open.is_empty() {
        for f in findings.iter_mut().filter(|f| f.id == "security_group.egress_denied") {
            f.addresses.retain(|x| !open.contains(x));
            let left = &f.addresses;
            f.endpoints.retain(|s| {
                results.iter().any(|r| r.service == *s && r.addresses.iter().any(|a| left.contains(&a.address)))
            });
        }
        findings.retain(|f| f.id != "security_group.egress_denied" || !f.endpoints.is_empty());
    }
    // The witness of "a public address" is not an address to show in a finding.
    let witnesses: Vec<IpAddr> = services
        .iter()
        .flat_map(|(_, _, _, d)| &d.addresses)
        .filter(|a| a.source == AddressSource::Public)
        .map(|a| a.address)
        .collect();
    for f in &mut findings {
        f.addresses.retain(|a| !witnesses.contains(a));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for r in &mut results {
        r.findings = finding_ids(r, &findings);
    }
    (results, findings)
}

fn finding_ids(r: &ServiceResult, findings: &[Finding]) -> Vec<String> {
    let wanted = |f: &&Finding| match r.verdict {
        Verdict::Blocked => f.severity == Severity::Error,
        Verdict::Unknown => true,
        Verdict::Reachable => false,
    };
    let mut ids: Vec<String> =
        findings.iter().filter(|f| f.endpoints.contains(&r.service)).filter(wanted).map(|f| f.id.clone()).collect();
    ids.dedup();
    ids
}

fn service_result(
    facts: &NetworkFacts,
    service: ServiceKey,
    host: &str,
    port: u16,
    dns: &DnsModel,
    access_type: AccessType,
    addresses: Vec<AddressResult>,
) -> ServiceResult {
    let (verdict, why) = if let Some(unknown) = &dns.unknown {
        (Verdict::Unknown, Some(unknown.clone()))
    } else if addresses.is_empty() {
        (Verdict::Unknown, Some(format!("no address for {host}: nothing to evaluate")))
    } else if facts.eni.is_none() {
        (Verdict::Unknown, Some("the network's configuration was not read".to_owned()))
    } else {
        let verdict = combine(addresses.iter().map(|a| a.verdict)).unwrap_or(Verdict::Unknown);
        let why = addresses.iter().find(|a| a.verdict == verdict).and_then(|a| {
            let wanted = if verdict == Verdict::Blocked { HopResult::Block } else { HopResult::Unknown };
            a.hops.iter().find(|h| h.result == wanted).map(|h| h.detail.clone())
        });
        (verdict, if verdict == Verdict::Reachable { None } else { why })
    };
    ServiceResult {
        service,
        host: host.to_owned(),
        port,
        verdict,
        why,
        findings: Vec::new(),
        access_type,
        dns: dns.clone(),
        addresses,
    }
}

/// The verdict over several services (or subnets): blocked beats unknown beats reachable; nothing
/// evaluated is unknown.
pub fn overall(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    combine(verdicts).unwrap_or(Verdict::Unknown)
}

/// The command's exit code for an overall verdict: 0 reachable, 1 blocked, 3 unknown (2 is usage).
pub fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Reachable => 0,
        Verdict::Blocked => 1,
        Verdict::Unknown => 3,
    }
}
