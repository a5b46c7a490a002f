//! The last hop: what the route's target itself needs (a NAT gateway available, with its Elastic IP,
//! in a subnet whose own table reaches an attached internet gateway; an interface endpoint
//! available, admitting the task on its security groups and its subnet's ACL), and the findings for
//! hops that the rules of [`crate::findings`] do not already name.

use std::net::IpAddr;

use crate::facts::{NetworkFacts, TargetType, VpcEndpoint};
use crate::filter::{self, EPHEMERAL_PORTS, NaclVerdict, Verdict as SgVerdict};
use crate::findings::{Finding, Severity};
use crate::hops::{Hop, HopKind, HopResult, ServiceResult};
use crate::route;

fn hop(result: HopResult, resources: Vec<String>, detail: String, finding: Option<&str>) -> Hop {
    Hop { hop: HopKind::Target, result, resources, detail, finding: finding.map(str::to_owned) }
}

/// A NAT gateway: available, with an Elastic IP (public), in a subnet whose route table sends
/// `0.0.0.0/0` to an internet gateway attached to the VPC.
pub fn nat_gateway(facts: &NetworkFacts, id: &str) -> Hop {
    let Some(nats) = &facts.nat_gateways else {
        return hop(HopResult::Unknown, vec![id.into()], format!("NAT gateway {id} was not read"), None);
    };
    let Some(nat) = nats.iter().find(|n| n.id == id) else {
        let detail = format!("NAT gateway {id} does not exist in the VPC");
        return hop(HopResult::Block, vec![id.into()], detail, Some("nat_gateway.not_available"));
    };
    let resources = vec![id.to_owned()];
    if !nat.state.eq_ignore_ascii_case("available") {
        let detail = format!("NAT gateway {id} is {}, not available", nat.state);
        return hop(HopResult::Block, resources, detail, Some("nat_gateway.not_available"));
    }
    if nat.connectivity.eq_ignore_ascii_case("private") {
        let detail = format!("NAT gateway {id} is private: it reaches other networks, where the model's sight ends");
        return hop(HopResult::Unknown, resources, detail, Some("path.beyond_model"));
    }
    if nat.public_ips.is_empty() {
        let detail = format!("NAT gateway {id} has no Elastic IP");
        return hop(HopResult::Block, resources, detail, Some("nat_gateway.no_public_ip"));
    }
    if facts.route_tables.is_empty() {
        let detail = format!("the route table of NAT gateway {id}'s subnet {} was not read", nat.subnet_id);
        return hop(HopResult::Unknown, resources, detail, None);
    }
    let Some(table) = facts.route_table_of(&nat.subnet_id) else {
        let detail = format!("NAT gateway {id}'s subnet {} has no route table", nat.subnet_id);
        return hop(HopResult::Block, resources, detail, Some("nat_gateway.no_internet_route"));
    };
    let probe: IpAddr = IpAddr::V4(crate::dns::public_witness(facts));
    let lookup = route::lookup(table, &facts.prefix_lists, probe);
    let igw = lookup.matched.map(|(r, _)| r).filter(|r| !r.blackhole && r.target_type() == TargetType::InternetGateway);
    let attached = |g: &str| facts.internet_gateways.as_ref().is_none_or(|list| list.iter().any(|i| i == g));
    match igw {
        Some(r) if attached(&r.target) => hop(
            HopResult::Pass,
            vec![id.into(), table.id.clone(), r.target.clone()],
            format!("NAT gateway {id} (available, {}) → {} → {}", nat.public_ips[0], table.id, r.target),
            None,
        ),
        _ => hop(
            HopResult::Block,
            vec![id.into(), table.id.clone()],
            format!(
                "NAT gateway {id}'s subnet {} routes the internet through {}, not an attached internet gateway",
                nat.subnet_id, table.id
            ),
            Some("nat_gateway.no_internet_route"),
        ),
    }
}

/// An interface endpoint's network interface: the endpoint available, its security groups admitting
/// the task on `port`, its subnet's ACL letting the traffic in and the replies back.
pub fn interface_endpoint(facts: &NetworkFacts, e: &VpcEndpoint, address: IpAddr, port: u16) -> Hop {
    let mut resources = vec![e.id.clone()];
    if !e.is_available() {
        let detail = format!("interface endpoint {} is {}, not available", e.id, e.state);
        return hop(HopResult::Block, resources, detail, Some("vpc_endpoint.not_available"));
    }
    let Some(eni) = &facts.eni else {
        return hop(HopResult::Unknown, resources, "the task's interface was not read".into(), None);
    };
    let Some(source) = eni.private_ipv4 else {
        return hop(HopResult::Unknown, resources, "the task's address is not known".into(), None);
    };
    let groups: Option<Vec<_>> = e.security_group_ids.iter().map(|g| facts.security_group(g)).collect();
    resources.extend(e.security_group_ids.iter().cloned());
    match groups.map(|g| filter::ingress_allows(facts, &g, source, &eni.security_group_ids, port)) {
        None => {
            let detail = format!("the security groups of {} were not read", e.id);
            return hop(HopResult::Unknown, resources, detail, Some("security_group.unverifiable"));
        }
        Some(SgVerdict::Denied) => {
            let detail = format!(
                "the groups of {} ({}) do not admit TCP {port} from the task ({source}, {})",
                e.id,
                e.security_group_ids.join(", "),
                eni.security_group_ids.join(", ")
            );
            return hop(HopResult::Block, resources, detail, Some("vpc_endpoint.ingress_denied"));
        }
        Some(SgVerdict::Unknown { unreadable }) => {
            let detail = format!("whether {} admits the task depends on {}", e.id, unreadable.join(", "));
            return hop(HopResult::Unknown, resources, detail, Some("security_group.unverifiable"));
        }
        Some(SgVerdict::Allowed { .. }) => {}
    }
    let subnet =
        facts.subnets.iter().find(|s| e.subnet_ids.contains(&s.id) && s.cidrs.iter().any(|n| n.contains(&address)));
    let same_subnet = subnet.is_some_and(|s| s.id == eni.subnet_id);
    if let Some(subnet) = subnet.filter(|_| !same_subnet) {
        let Some(acl) = facts.network_acl_of(&subnet.id) else {
            let detail = format!("the network ACL of {}'s subnet {} was not read", e.id, subnet.id);
            return hop(HopResult::Unknown, resources, detail, None);
        };
        let inbound = filter::nacl_evaluate(acl, false, source, (port, port));
        let back = filter::nacl_evaluate(acl, true, source, EPHEMERAL_PORTS);
        if inbound != NaclVerdict::Allowed || back != NaclVerdict::Allowed {
            resources.push(acl.id.clone());
            let what = if inbound != NaclVerdict::Allowed {
                format!("inbound TCP {port} from the task")
            } else {
                "the replies to the task's ephemeral ports".to_owned()
            };
            let detail = format!("the network ACL {} of {}'s subnet {} denies {what}", acl.id, e.id, subnet.id);
            return hop(HopResult::Block, resources, detail, Some("vpc_endpoint.subnet_acl_denied"));
        }
    }
    hop(HopResult::Pass, resources, format!("interface endpoint {} (available, admits the task)", e.id), None)
}

fn remedy(id: &str) -> &'static str {
    match id {
        "nat_gateway.not_available" => {
            "replace the NAT gateway (a failed one does not recover) and point the route at the new one"
        }
        "nat_gateway.no_public_ip" => "a public NAT gateway needs an Elastic IP: re-create it with --allocation-id",
        "nat_gateway.no_internet_route" => {
            "route 0.0.0.0/0 in the NAT gateway's subnet's route table to an internet gateway attached to the VPC"
        }
        "internet_gateway.not_attached" => "attach the internet gateway to the VPC, or route to one that is",
        "vpc_endpoint.subnet_acl_denied" => {
            "allow inbound TCP 443 from the task subnet and outbound TCP 1024-65535 back to it on the endpoint subnet's network ACL"
        }
        "security_group.public_cidrs" => {
            "allow TCP 443 to 0.0.0.0/0, or to the service's ranges from AWS's ip-ranges.json (or use a VPC endpoint)"
        }
        "path.beyond_model" => {
            "check what lies beyond (the transit gateway's route tables, the peer VPC, the on-premises network, the \
             appliance), or run netready check in the task to see the observed path"
        }
        "dns.forwarded" => {
            "check that the forwarding target resolves the service's name to an address the task can reach"
        }
        "dns.private_zone" => {
            "check the zone's records for the name, or remove the zone's association if it shadows the service"
        }
        _ => "see the hop's detail",
    }
}

/// A finding to raise or merge: id, severity, resources, message, the address it concerns.
type Raised = (String, Severity, Vec<String>, String, Option<IpAddr>);

/// Findings for the hops whose finding the rules of [`crate::findings`] did not raise, and for the
/// DNS answers the model cannot follow (a forwarding rule, a private hosted zone).
pub fn hop_findings(result: &ServiceResult, findings: &mut Vec<Finding>) {
    let mut new: Vec<Raised> = Vec::new();
    match result.dns.answer {
        crate::dns::Answer::Forwarded | crate::dns::Answer::PrivateZone => {
            let id =
                if result.dns.answer == crate::dns::Answer::Forwarded { "dns.forwarded" } else { "dns.private_zone" };
            let message = result.dns.unknown.clone().unwrap_or_else(|| result.dns.detail.clone());
            new.push((id.into(), Severity::Warning, result.dns.resources.clone(), message, None));
        }
        _ => {}
    }
    for a in &result.addresses {
        for h in a.hops.iter().filter(|h| h.result != HopResult::Pass) {
            let Some(id) = &h.finding else { continue };
            let severity = if h.result == HopResult::Block { Severity::Error } else { Severity::Warning };
            new.push((id.clone(), severity, h.resources.clone(), h.detail.clone(), Some(a.address)));
        }
    }
    for (id, severity, resources, message, address) in new {
        // A finding of the same id for this service already says it.
        if let Some(f) = findings
            .iter_mut()
            .find(|f| f.id == id && (f.endpoints.contains(&result.service) || f.resources == resources))
        {
            f.severity = f.severity.max(severity);
            if !f.endpoints.contains(&result.service) {
                f.endpoints.push(result.service);
            }
            if let Some(a) = address.filter(|a| !f.addresses.contains(a)) {
                f.addresses.push(a);
            }
            continue;
        }
        findings.push(Finding {
            remedy: remedy(&id).to_owned(),
            id,
            severity,
            resources,
            message,
            endpoints: vec![result.service],
            addresses: address.into_iter().collect(),
        });
    }
}
