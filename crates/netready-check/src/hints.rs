//! Hints: the source document's troubleshooting list, applied to one endpoint's results, plus
//! what the TLS phase and DNS sinkholes reveal. Pure.

use std::time::Duration;

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::TcpOutcome;
use crate::dns::{LookupOutcome, QueryType};
use crate::report::{ConnectionReport, DnsOutcome, EndpointReport, NotDialled};
use crate::tls::TlsOutcome;
use crate::types::{Region, ServiceKey};
use crate::vpce::{EndpointType, service_name};

/// What the hints need to know beyond the endpoint itself.
#[derive(Debug, Clone)]
pub struct HintContext<'a> {
    pub region: &'a str,
    pub subnet_cidr: Option<&'a str>,
    pub public_ip: Option<bool>,
    /// Whether some other endpoint resolved to an interface endpoint.
    pub others_use_vpc_endpoints: bool,
    /// Whether the task has IPv6 (AAAA answers are dialled).
    pub ipv6: bool,
    /// The deadline per endpoint.
    pub timeout: Duration,
}

/// The hints for one endpoint, most likely cause first. A fully reachable endpoint gets none,
/// except the source's note on S3 resolving publicly next to interface endpoints.
pub fn hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let service = ep.service;
    // The endpoint service name as the VPC console shows it (`cn.` prefixed for some services in
    // the China regions).
    let name_of = |kind: EndpointType| match ctx.region.parse::<Region>() {
        Ok(region) => service_name(service, &region, kind),
        Err(_) => format!("com.amazonaws.{}.{}", ctx.region, service.vpc_endpoint_suffix()),
    };
    let endpoint_name = name_of(EndpointType::Interface);
    let gateway_name = name_of(EndpointType::Gateway);
    let from = ctx.subnet_cidr.map_or_else(|| "the task subnet".to_owned(), |c| format!("the task subnet {c}"));
    let host = &ep.host;

    match &ep.dns.outcome {
        DnsOutcome::Ok => {}
        DnsOutcome::Sinkhole { error } => out.push(format!(
            "{host} resolves to a special-purpose address ({error}) — a DNS sinkhole: a Route 53 Resolver DNS \
             Firewall rule blocking the name, a resolver policy on custom DNS servers, or a private hosted zone \
             overriding it. Allow {host} in the DNS firewall rule group or policy, or remove the override; the \
             check never dials such addresses."
        )),
        DnsOutcome::NxDomain { .. } | DnsOutcome::NoRecords { .. } => out.push(format!(
            "{host} does not resolve. With an interface endpoint, enable private DNS on {endpoint_name} and \
             enableDnsSupport/enableDnsHostnames on the VPC; check that the region is right and that no \
             private hosted zone shadows the name."
        )),
        DnsOutcome::Timeout { .. } | DnsOutcome::Error { .. } => out.push(format!(
            "The DNS resolver did not answer: the task must reach the VPC resolver (VPC CIDR base + 2, or \
             169.254.169.253) on UDP and TCP 53; check /etc/resolv.conf, network ACLs and, with a custom \
             DHCP option set, the DNS servers it names{}.",
            ep.dns.server.as_deref().map(|s| format!(" (asked {s})")).unwrap_or_default()
        )),
        DnsOutcome::ServFail { .. } | DnsOutcome::Refused { .. } => out.push(
            "The DNS resolver failed or refused the query: with custom DNS servers, check that they forward \
             amazonaws.com names to the VPC resolver (VPC CIDR base + 2)."
                .to_owned(),
        ),
    }
    if ep.dns.outcome == DnsOutcome::Ok
        && ep.dns.queries.iter().any(|q| q.query == QueryType::Aaaa && q.outcome == LookupOutcome::Timeout)
    {
        out.push(
            "The resolver did not answer the AAAA query before the deadline: clients that ask for A and AAAA \
             together (getaddrinfo) stall on every lookup — check custom DNS servers or DNS firewall rules that \
             drop AAAA queries."
                .to_owned(),
        );
    }

    let scope_of = |c: &ConnectionReport| ep.dns.addresses.iter().find(|a| a.ip == c.ip).map(|a| a.scope);
    let tcp_failed = |pred: fn(&TcpOutcome) -> bool, scope: Scope| {
        ep.connections.iter().any(|c| pred(&c.tcp.outcome) && scope_of(c) == Some(scope))
    };
    let timeout = |o: &TcpOutcome| *o == TcpOutcome::Timeout;
    let refused = |o: &TcpOutcome| matches!(o, TcpOutcome::Refused { .. });
    let unreachable = |o: &TcpOutcome| matches!(o, TcpOutcome::Unreachable { .. });

    if tcp_failed(timeout, Scope::Private) {
        out.push(format!(
            "Connections to the private address time out: the security group of the {endpoint_name} interface \
             endpoint must allow inbound TCP {port} from {from}, and the task's security group must allow \
             outbound {port}.",
            port = ep.port
        ));
    }
    if tcp_failed(timeout, Scope::Public) || tcp_failed(unreachable, Scope::Public) {
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
    if tcp_failed(unreachable, Scope::Private) {
        out.push(format!(
            "No route to the private address: the subnet's route table must reach the {endpoint_name} endpoint's \
             subnets (check network ACLs too)."
        ));
    }
    if tcp_failed(refused, Scope::Private) || tcp_failed(refused, Scope::Public) {
        out.push(format!(
            "The address answered but refused port {}: something other than the service owns it — check for a DNS \
             override (private hosted zone, custom resolver) and that the port is right.",
            ep.port
        ));
    }
    let out_of_time = ep.connections.iter().any(|c| {
        c.tcp.outcome == TcpOutcome::OutOfTime || c.tls.as_ref().is_some_and(|t| t.outcome == TlsOutcome::OutOfTime)
    });
    if out_of_time {
        out.push(format!(
            "The endpoint's {} deadline ran out before a connection had a fair chance (DNS took {} ms): this is \
             not evidence of a blocked path — raise --timeout, or find out why the resolver is slow.",
            humantime::format_duration(ctx.timeout),
            ep.dns.duration_ms
        ));
    }

    // The TLS phase: the TCP handshake went through, then the ClientHello met something.
    let tls = |pred: fn(&TlsOutcome) -> bool| {
        ep.connections.iter().filter_map(|c| c.tls.as_ref().map(|t| (c, t))).find(|(_, t)| pred(&t.outcome))
    };
    if let Some((c, _)) = tls(|o| *o == TlsOutcome::Timeout) {
        out.push(format!(
            "TCP to {} connects but the TLS ClientHello for {host} gets no answer: a firewall filtering by server \
             name (AWS Network Firewall domain list, a transparent proxy) drops it — allow {host} in its \
             allow-list.",
            c.ip
        ));
    }
    if let Some((c, _)) = tls(|o| matches!(o, TlsOutcome::Reset { .. })) {
        out.push(format!(
            "TCP to {} connects but the connection is reset after the TLS ClientHello for {host}: a firewall \
             filtering by server name (AWS Network Firewall domain list, a proxy) rejects it — allow {host} in its \
             allow-list.",
            c.ip
        ));
    }
    if let Some((_, t)) = tls(|o| matches!(o, TlsOutcome::Untrusted { .. })) {
        let issuer = t.certificate.as_ref().map_or("an unknown issuer".to_owned(), |c| c.issuer.clone());
        out.push(format!(
            "The certificate presented for {host} is issued by {issuer}, which is not trusted: a middlebox \
             re-signs TLS (TLS inspection) — exempt {host} and the other AWS endpoints from inspection, as the \
             runner verifies AWS certificates; if the inspection is intended, give its CA with --ca-file."
        ));
    }
    if let Some((c, t)) = tls(|o| matches!(o, TlsOutcome::NameMismatch { .. })) {
        let subject = t.certificate.as_ref().map_or("another name".to_owned(), |c| c.subject.clone());
        out.push(format!(
            "The certificate at {} is for {subject}, not {host}: the name leads to something that is not this \
             service — check DNS overrides (private hosted zones) and proxies in the path.",
            c.ip
        ));
    }

    if ep.access_type == AccessType::Unknown
        && ep.dns.outcome == DnsOutcome::Ok
        && ctx.public_ip.is_none()
        && !ep.connections.is_empty()
    {
        out.push(
            "The endpoint resolves to public addresses and it is not known whether the task has a public IP: set \
             --public-ip (NETREADY_ASSIGN_PUBLIC_IP) to the stack's AssignPublicIp to tell NAT from internet gateway."
                .to_owned(),
        );
    }
    if ep.dns.outcome == DnsOutcome::Ok && ep.connections.is_empty() {
        let only_v6 = ep.dns.addresses.iter().all(|a| a.not_dialled == Some(NotDialled::TaskHasNoIpv6));
        if only_v6 {
            out.push(
                "DNS returned only IPv6 addresses and the task has no IPv6: give the task IPv6 (a dual-stack \
                 subnet) or make the endpoint answer A records (IpAddressType ipv4 or dualstack)."
                    .to_owned(),
            );
        }
    }
    if service == ServiceKey::S3
        && ctx.others_use_vpc_endpoints
        && matches!(ep.access_type, AccessType::NatGateway | AccessType::InternetGateway | AccessType::Unknown)
        && ep.dns.addresses.iter().any(|a| a.scope == Scope::Public && a.dialled)
    {
        out.push(format!(
            "S3 resolves to public addresses next to interface endpoints: expected with an S3 gateway endpoint, \
             which works through route-table entries, not DNS — associate {gateway_name} (gateway) with the \
             task subnet's route table, or traffic goes through the {} path.",
            if ctx.public_ip == Some(true) { "internet gateway" } else { "NAT" }
        ));
    }
    if ep.reachability == Reachability::Partial {
        out.push(
            "Only some addresses were reached: clients that pick a failing address will stall until they retry."
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dial::TcpReport;
    use crate::report::{AddressReport, DnsReport, Family};
    use crate::tls::{CertificateInfo, TlsReport};

    fn tcp(outcome: TcpOutcome) -> TcpReport {
        TcpReport { outcome, duration_ms: 1, budget_ms: 4999 }
    }

    fn endpoint(
        service: ServiceKey,
        dns: DnsOutcome,
        conns: &[(&str, Scope, TcpOutcome, Option<TlsOutcome>)],
    ) -> EndpointReport {
        let addresses = conns.iter().map(|(ip, scope, _, _)| {
            let ip = ip.parse().unwrap();
            AddressReport { ip, family: Family::of(ip), scope: *scope, dialled: true, not_dialled: None }
        });
        let connections: Vec<ConnectionReport> = conns
            .iter()
            .map(|(ip, _, outcome, tls)| {
                let ip = ip.parse().unwrap();
                ConnectionReport {
                    ip,
                    family: Family::of(ip),
                    route: None,
                    access_type: None,
                    tcp: tcp(outcome.clone()),
                    tls: tls.clone().map(|outcome| TlsReport {
                        outcome,
                        duration_ms: 1,
                        budget_ms: 4990,
                        version: None,
                        certificate: Some(CertificateInfo {
                            subject: "CN=proxy.corp.example".into(),
                            issuer: "CN=Corp Inspection CA".into(),
                            not_after: "2027-01-01T00:00:00Z".into(),
                        }),
                    }),
                }
            })
            .collect();
        let reached: Vec<bool> = connections.iter().map(ConnectionReport::reached).collect();
        let scopes: Vec<Scope> = conns.iter().map(|c| c.1).collect();
        EndpointReport {
            service,
            host: "h.example".into(),
            port: 443,
            access_type: crate::classify::classify(&scopes, Some(false)),
            reachability: crate::classify::reachability(&reached),
            dns: DnsReport {
                outcome: dns,
                duration_ms: 1,
                server: Some("10.0.0.2:53".into()),
                cname_chain: vec![],
                queries: vec![],
                addresses: addresses.collect(),
            },
            connections,
            hints: vec![],
        }
    }

    fn ctx() -> HintContext<'static> {
        HintContext {
            region: "eu-west-3",
            subnet_cidr: Some("10.0.1.0/24"),
            public_ip: Some(false),
            others_use_vpc_endpoints: true,
            ipv6: false,
            timeout: Duration::from_secs(5),
        }
    }

    const PRIVATE: Scope = Scope::Private;

    #[test]
    fn a_healthy_endpoint_has_no_hints() {
        let ep =
            endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", PRIVATE, TcpOutcome::Ok, Some(TlsOutcome::Ok))]);
        assert!(hints(&ep, &ctx()).is_empty());
    }

    #[test]
    fn a_private_timeout_points_at_the_endpoint_security_group() {
        let ep = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", PRIVATE, TcpOutcome::Timeout, None)]);
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("security group of the com.amazonaws.eu-west-3.logs interface endpoint"), "{}", h[0]);
        assert!(h[0].contains("inbound TCP 443 from the task subnet 10.0.1.0/24"), "{}", h[0]);
    }

    #[test]
    fn out_of_time_is_not_blamed_on_a_security_group() {
        let ep = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", PRIVATE, TcpOutcome::OutOfTime, None)]);
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("not evidence of a blocked path"), "{}", h[0]);
        assert!(!h[0].contains("security group"), "{}", h[0]);
    }

    #[test]
    fn a_public_timeout_points_at_the_route_for_the_path() {
        let ep = endpoint(
            ServiceKey::SecretsManager,
            DnsOutcome::Ok,
            &[("52.1.1.1", Scope::Public, TcpOutcome::Timeout, None)],
        );
        assert!(hints(&ep, &ctx())[0].contains("NAT gateway"));
        let igw = HintContext { public_ip: Some(true), ..ctx() };
        assert!(hints(&ep, &igw)[0].contains("internet gateway"));
    }

    #[test]
    fn dns_failures_name_the_resolver_private_dns_or_the_sinkhole() {
        let nx = endpoint(ServiceKey::EcrApi, DnsOutcome::NxDomain { error: "x".into() }, &[]);
        assert!(hints(&nx, &ctx())[0].contains("enable private DNS on com.amazonaws.eu-west-3.ecr.api"));
        let timeout = endpoint(ServiceKey::EcrApi, DnsOutcome::Timeout { error: "x".into() }, &[]);
        assert!(hints(&timeout, &ctx())[0].contains("VPC resolver (VPC CIDR base + 2"));
        let sinkhole = endpoint(ServiceKey::Logs, DnsOutcome::Sinkhole { error: "0.0.0.0".into() }, &[]);
        let h = hints(&sinkhole, &ctx());
        assert!(h[0].contains("DNS sinkhole") && h[0].contains("DNS Firewall") && h[0].contains("private hosted zone"));
    }

    #[test]
    fn tls_outcomes_name_their_cause() {
        let rows = [
            (TlsOutcome::Timeout, "drops it — allow h.example"),
            (TlsOutcome::Reset { error: "reset".into() }, "rejects it — allow h.example"),
            (TlsOutcome::Untrusted { error: "unknown issuer".into() }, "issued by CN=Corp Inspection CA"),
            (TlsOutcome::NameMismatch { error: "name".into() }, "is for CN=proxy.corp.example, not h.example"),
        ];
        for (outcome, expected) in rows {
            let ep = endpoint(
                ServiceKey::EcrDkr,
                DnsOutcome::Ok,
                &[("10.0.2.13", PRIVATE, TcpOutcome::Ok, Some(outcome.clone()))],
            );
            assert_eq!(ep.reachability, Reachability::None);
            let h = hints(&ep, &ctx());
            assert_eq!(h.len(), 1, "{outcome:?}: {h:?}");
            assert!(h[0].contains(expected), "{outcome:?}: {}", h[0]);
        }
    }

    #[test]
    fn s3_public_next_to_interface_endpoints_gets_the_gateway_note() {
        let ep = endpoint(ServiceKey::S3, DnsOutcome::Ok, &[("52.95.1.1", Scope::Public, TcpOutcome::Ok, None)]);
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("S3 gateway endpoint"));
        let alone = HintContext { others_use_vpc_endpoints: false, ..ctx() };
        assert!(hints(&ep, &alone).is_empty());
    }

    #[test]
    fn china_endpoint_names_carry_their_prefix() {
        let ep = endpoint(ServiceKey::EcrApi, DnsOutcome::Ok, &[("10.0.2.12", PRIVATE, TcpOutcome::Timeout, None)]);
        let cn = HintContext { region: "cn-north-1", ..ctx() };
        assert!(hints(&ep, &cn)[0].contains("cn.com.amazonaws.cn-north-1.ecr.api interface endpoint"));
        let logs = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", PRIVATE, TcpOutcome::Timeout, None)]);
        assert!(hints(&logs, &cn)[0].contains("com.amazonaws.cn-north-1.logs interface endpoint"));
    }

    #[test]
    fn refused_and_partial() {
        let ep = endpoint(
            ServiceKey::S3,
            DnsOutcome::Ok,
            &[
                ("10.0.3.1", PRIVATE, TcpOutcome::Ok, None),
                ("10.0.3.2", PRIVATE, TcpOutcome::Refused { error: "refused".into() }, None),
            ],
        );
        let h = hints(&ep, &ctx());
        assert!(h.iter().any(|h| h.contains("refused port 443")), "{h:?}");
        assert!(h.iter().any(|h| h.contains("Only some addresses")), "{h:?}");
    }
}
