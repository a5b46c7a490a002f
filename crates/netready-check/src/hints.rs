//! Hints: the source document's troubleshooting list, applied to one endpoint's results. Pure.

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::DialOutcome;
use crate::dns::DnsOutcome;
use crate::report::EndpointReport;
use crate::types::ServiceKey;

/// What the hints need to know beyond the endpoint itself.
#[derive(Debug, Clone)]
pub struct HintContext<'a> {
    pub region: &'a str,
    pub subnet_cidr: Option<&'a str>,
    pub public_ip: Option<bool>,
    /// Whether some other endpoint resolved to an interface endpoint.
    pub others_use_vpc_endpoints: bool,
}

/// The hints for one endpoint, most likely cause first. A fully reachable endpoint gets none,
/// except the source's note on S3 resolving publicly next to interface endpoints.
pub fn hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let service = ep.service;
    let endpoint_name = format!("com.amazonaws.{}.{}", ctx.region, service.vpc_endpoint_suffix());
    let from = ctx.subnet_cidr.map_or_else(|| "the task subnet".to_owned(), |c| format!("the task subnet {c}"));

    match ep.dns.outcome {
        DnsOutcome::Ok => {}
        DnsOutcome::NxDomain | DnsOutcome::NoRecords => out.push(format!(
            "{host} does not resolve. With an interface endpoint, enable private DNS on {endpoint_name} and \
             enableDnsSupport/enableDnsHostnames on the VPC; check that the region is right and that no \
             private hosted zone shadows the name.",
            host = ep.host
        )),
        DnsOutcome::Timeout | DnsOutcome::Error => out.push(format!(
            "The DNS resolver did not answer: the task must reach the VPC resolver (VPC CIDR base + 2, or \
             169.254.169.253) on UDP and TCP 53; check /etc/resolv.conf, network ACLs and, with a custom \
             DHCP option set, the DNS servers it names{}.",
            ep.dns.server.as_deref().map(|s| format!(" (asked {s})")).unwrap_or_default()
        )),
        DnsOutcome::ServFail | DnsOutcome::Refused => out.push(
            "The DNS resolver failed or refused the query: with custom DNS servers, check that they forward \
             amazonaws.com names to the VPC resolver (VPC CIDR base + 2)."
                .to_owned(),
        ),
    }

    let failed = |pred: fn(DialOutcome) -> bool, scope: Scope| {
        ep.connections
            .iter()
            .any(|c| pred(c.outcome) && ep.dns.addresses.iter().any(|a| a.ip == c.ip && a.scope == scope))
    };
    let timeout = |o: DialOutcome| o == DialOutcome::Timeout;
    let refused = |o: DialOutcome| o == DialOutcome::Refused;
    let unreachable = |o: DialOutcome| o == DialOutcome::Unreachable;

    if failed(timeout, Scope::Private) {
        out.push(format!(
            "Connections to the private address time out: the security group of the {endpoint_name} interface \
             endpoint must allow inbound TCP {port} from {from}, and the task's security group must allow \
             outbound {port}.",
            port = ep.port
        ));
    }
    if failed(timeout, Scope::Public) || failed(unreachable, Scope::Public) {
        out.push(match ctx.public_ip {
            Some(false) => format!(
                "No path to the public address: the subnet's route table needs 0.0.0.0/0 to a NAT gateway (or a \
                 transit gateway / peering route), the task's security group must allow outbound {port}; or add \
                 the {endpoint_name} VPC endpoint.",
                port = ep.port
            ),
            Some(true) => format!(
                "No path to the public address although the task has a public IP: the subnet's route table needs \
                 0.0.0.0/0 to an internet gateway, and the task's security group must allow outbound {}.",
                ep.port
            ),
            None => format!(
                "No path to the public address. With a public IP (AssignPublicIp), the subnet needs 0.0.0.0/0 to \
                 an internet gateway; without one, to a NAT gateway — an internet-gateway subnet without public IP \
                 assignment has no outbound connectivity. The task's security group must allow outbound {}.",
                ep.port
            ),
        });
    }
    if failed(unreachable, Scope::Private) {
        out.push(format!(
            "No route to the private address: the subnet's route table must reach the {endpoint_name} endpoint's \
             subnets (check network ACLs too)."
        ));
    }
    if failed(refused, Scope::Private) || failed(refused, Scope::Public) {
        out.push(format!(
            "The address answered but refused port {}: something other than the service owns it — check for a DNS \
             override (private hosted zone, custom resolver) and that the port is right.",
            ep.port
        ));
    }
    if ep.access_type == AccessType::Unknown && ep.dns.outcome == DnsOutcome::Ok && ctx.public_ip.is_none() {
        out.push(
            "The endpoint resolves to public addresses and it is not known whether the task has a public IP: set \
             --public-ip (NETREADY_ASSIGN_PUBLIC_IP) to the stack's AssignPublicIp to tell NAT from internet gateway."
                .to_owned(),
        );
    }
    if ep.dns.outcome == DnsOutcome::Ok && ep.connections.is_empty() {
        out.push("DNS returned no IPv4 address to dial: the check dials IPv4 only.".to_owned());
    }
    if service == ServiceKey::S3
        && ctx.others_use_vpc_endpoints
        && matches!(ep.access_type, AccessType::NatGateway | AccessType::InternetGateway | AccessType::Unknown)
        && ep.dns.addresses.iter().any(|a| a.scope == Scope::Public)
    {
        out.push(format!(
            "S3 resolves to public addresses next to interface endpoints: expected with an S3 gateway endpoint, \
             which works through route-table entries, not DNS — associate {endpoint_name} (gateway) with the \
             task subnet's route table, or traffic goes through the {} path.",
            if ctx.public_ip == Some(true) { "internet gateway" } else { "NAT" }
        ));
    }
    if ep.reachability == Reachability::Partial {
        out.push(
            "Only some addresses connected: clients that pick a failing address will stall until they retry."
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::report::{AddressReport, ConnectionReport, DnsReport};

    fn endpoint(service: ServiceKey, dns: DnsOutcome, conns: &[(&str, Scope, DialOutcome)]) -> EndpointReport {
        let addresses = conns.iter().map(|(ip, scope, _)| AddressReport { ip: ip.parse().unwrap(), scope: *scope });
        let connections = conns.iter().map(|(ip, _, outcome)| ConnectionReport {
            ip: ip.parse().unwrap(),
            outcome: *outcome,
            duration_ms: 1,
            error: None,
        });
        let outcomes: Vec<DialOutcome> = conns.iter().map(|c| c.2).collect();
        let scopes: Vec<Scope> = conns.iter().map(|c| c.1).collect();
        EndpointReport {
            service,
            host: "h.example".into(),
            port: 443,
            access_type: crate::classify::classify(&scopes, Some(false)),
            reachability: crate::classify::reachability(&outcomes),
            dns: DnsReport {
                outcome: dns,
                duration_ms: 1,
                server: Some("10.0.0.2:53".into()),
                cname_chain: vec![],
                addresses: addresses.collect(),
                error: None,
            },
            connections: connections.collect(),
            hints: vec![],
        }
    }

    fn ctx() -> HintContext<'static> {
        HintContext {
            region: "eu-west-3",
            subnet_cidr: Some("10.0.1.0/24"),
            public_ip: Some(false),
            others_use_vpc_endpoints: true,
        }
    }

    #[test]
    fn a_healthy_endpoint_has_no_hints() {
        let ep = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", Scope::Private, DialOutcome::Ok)]);
        assert!(hints(&ep, &ctx()).is_empty());
    }

    #[test]
    fn a_private_timeout_points_at_the_endpoint_security_group() {
        let ep = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", Scope::Private, DialOutcome::Timeout)]);
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("security group of the com.amazonaws.eu-west-3.logs interface endpoint"), "{}", h[0]);
        assert!(h[0].contains("inbound TCP 443 from the task subnet 10.0.1.0/24"), "{}", h[0]);
    }

    #[test]
    fn a_public_timeout_points_at_the_route_for_the_path() {
        let ep =
            endpoint(ServiceKey::SecretsManager, DnsOutcome::Ok, &[("52.1.1.1", Scope::Public, DialOutcome::Timeout)]);
        assert!(hints(&ep, &ctx())[0].contains("NAT gateway"));
        let igw = HintContext { public_ip: Some(true), ..ctx() };
        assert!(hints(&ep, &igw)[0].contains("internet gateway"));
    }

    #[test]
    fn dns_failures_name_the_resolver_or_private_dns() {
        let nx = endpoint(ServiceKey::EcrApi, DnsOutcome::NxDomain, &[]);
        assert!(hints(&nx, &ctx())[0].contains("enable private DNS on com.amazonaws.eu-west-3.ecr.api"));
        let timeout = endpoint(ServiceKey::EcrApi, DnsOutcome::Timeout, &[]);
        assert!(hints(&timeout, &ctx())[0].contains("VPC resolver (VPC CIDR base + 2"));
    }

    #[test]
    fn s3_public_next_to_interface_endpoints_gets_the_gateway_note() {
        let ep = endpoint(ServiceKey::S3, DnsOutcome::Ok, &[("52.95.1.1", Scope::Public, DialOutcome::Ok)]);
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("S3 gateway endpoint"));
        let alone = HintContext { others_use_vpc_endpoints: false, ..ctx() };
        assert!(hints(&ep, &alone).is_empty());
    }

    #[test]
    fn refused_and_partial() {
        let ep = endpoint(
            ServiceKey::S3,
            DnsOutcome::Ok,
            &[("10.0.3.1", Scope::Private, DialOutcome::Ok), ("10.0.3.2", Scope::Private, DialOutcome::Refused)],
        );
        let h = hints(&ep, &ctx());
        assert!(h.iter().any(|h| h.contains("refused port 443")), "{h:?}");
        assert!(h.iter().any(|h| h.contains("Only some addresses")), "{h:?}");
    }
}
