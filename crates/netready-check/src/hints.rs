//! Hints: the source document's troubleshooting list, applied to one endpoint's results, plus
//! what the TLS phase and DNS sinkholes reveal. Pure.
//!
//! Every hint names the cause the evidence supports; when it supports several, the hint says which
//! observation tells them apart. Each [`Hint`] also knows its cause apart from the endpoint, so
//! the table says a cause that several endpoints share once, naming them ([`grouped`]).

use std::time::Duration;

use crate::classify::{AccessType, Reachability, Scope};
use crate::dial::TcpOutcome;
use crate::dns::{LookupOutcome, QueryType};
use crate::report::{ConnectionReport, DnsOutcome, EndpointReport, NotDialled, Report};
use crate::tls::{CertificateProblem, HandshakeError, RetryOutcome, TlsOutcome, TlsReport, TlsRetry};
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

/// One hint: its words for the endpoint, and its cause apart from the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The cause and what it depends on beyond the endpoint: endpoints whose hints have the same
    /// key failed for one cause.
    pub key: String,
    /// For this endpoint, as the report carries it.
    pub text: String,
    /// The same cause said of several endpoints at once, which are named before it.
    pub shared: String,
}

impl Hint {
    /// A hint that names nothing of its endpoint: the same words are the same cause.
    fn plain(text: String) -> Self {
        Hint { key: text.clone(), shared: text.clone(), text }
    }

    fn new(key: impl Into<String>, text: String, shared: String) -> Self {
        Hint { key: key.into(), text, shared }
    }
}

/// The hints for one endpoint, most likely cause first. A fully reachable endpoint gets none,
/// except the source's note on S3 resolving publicly next to interface endpoints.
pub fn hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<String> {
    explain(ep, ctx).into_iter().map(|h| h.text).collect()
}

/// The hints for one endpoint, with their causes.
pub fn explain(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<Hint> {
    let mut out = dns_hints(ep, ctx);
    out.extend(tcp_hints(ep, ctx));
    out.extend(tls_hints(ep));
    out.extend(other_hints(ep, ctx));
    out
}

/// Every endpoint's hints, with their causes: from its results, the task (public IP, subnet) and
/// the other endpoints (S3 next to interface endpoints).
pub fn for_report(report: &Report) -> Vec<Vec<Hint>> {
    let uses_vpc_endpoints: Vec<bool> =
        report.endpoints.iter().map(|e| e.access_type == AccessType::VpcEndpoint).collect();
    let timeout = Duration::from_millis(report.probe.timeout_ms);
    report
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            let others = uses_vpc_endpoints.iter().enumerate().any(|(j, v)| j != i && *v);
            let ctx = HintContext {
                region: &report.task.region,
                subnet_cidr: report.task.subnet_cidr.as_deref(),
                public_ip: report.task.public_ip.assigned,
                others_use_vpc_endpoints: others,
                ipv6: report.probe.ipv6,
                timeout,
            };
            explain(ep, &ctx)
        })
        .collect()
}

/// The report's hints with each cause said once: the endpoints it concerns and its words (its
/// `shared` words when several endpoints share it), in the order causes first appear.
pub fn grouped(report: &Report) -> Vec<(Vec<ServiceKey>, String)> {
    let mut groups: Vec<(Vec<ServiceKey>, Hint)> = Vec::new();
    for (ep, hints) in report.endpoints.iter().zip(for_report(report)) {
        for hint in hints {
            match groups.iter_mut().find(|(_, h)| h.key == hint.key) {
                Some((services, _)) if !services.contains(&ep.service) => services.push(ep.service),
                Some(_) => {}
                None => groups.push((vec![ep.service], hint)),
            }
        }
    }
    groups
        .into_iter()
        .map(|(services, hint)| {
            let text = if services.len() > 1 { hint.shared } else { hint.text };
            (services, text)
        })
        .collect()
}

/// The endpoint service name as the VPC console shows it (`cn.` prefixed for some services in
/// the China regions).
fn vpce_name(service: ServiceKey, ctx: &HintContext<'_>, kind: EndpointType) -> String {
    match ctx.region.parse::<Region>() {
        Ok(region) => service_name(service, &region, kind),
        Err(_) => format!("com.amazonaws.{}.{}", ctx.region, service.vpc_endpoint_suffix()),
    }
}

fn dns_hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<Hint> {
    let mut out = Vec::new();
    let host = &ep.host;
    let endpoint_name = vpce_name(ep.service, ctx, EndpointType::Interface);
    match &ep.dns.outcome {
        DnsOutcome::Ok => {}
        DnsOutcome::Sinkhole { error } => out.push(Hint::new(
            "dns.sinkhole",
            format!(
                "{host} resolves to a special-purpose address ({error}) — a DNS sinkhole: a Route 53 Resolver DNS \
                 Firewall rule blocking the name, a resolver policy on custom DNS servers, or a private hosted zone \
                 overriding it. Allow {host} in the DNS firewall rule group or policy, or remove the override; the \
                 check never dials such addresses."
            ),
            "These names resolve to special-purpose addresses — a DNS sinkhole: a Route 53 Resolver DNS Firewall \
             rule blocking them, a resolver policy on custom DNS servers, or a private hosted zone overriding them. \
             Allow them in the DNS firewall rule group or policy, or remove the override; the check never dials \
             such addresses."
                .to_owned(),
        )),
        DnsOutcome::NxDomain { .. } | DnsOutcome::NoRecords { .. } => out.push(Hint::new(
            "dns.nxdomain",
            format!(
                "{host} does not resolve. With an interface endpoint, enable private DNS on {endpoint_name} and \
                 enableDnsSupport/enableDnsHostnames on the VPC; check that the region is right and that no \
                 private hosted zone shadows the name."
            ),
            format!(
                "These names do not resolve: when every AWS name in {} fails, the region is wrong or the resolver \
                 answers no public names (outside AWS: its DNS); when only some fail, enable private DNS on their \
                 interface endpoints (com.amazonaws.{}.<service>) and enableDnsSupport/enableDnsHostnames on the \
                 VPC, and check that no private hosted zone shadows the names.",
                ctx.region, ctx.region
            ),
        )),
        DnsOutcome::Timeout { .. } | DnsOutcome::Error { .. } => out.push(Hint::plain(format!(
            "The DNS resolver did not answer: the task must reach the VPC resolver (VPC CIDR base + 2, or \
             169.254.169.253) on UDP and TCP 53; check /etc/resolv.conf, network ACLs and, with a custom \
             DHCP option set, the DNS servers it names{}.",
            ep.dns.server.as_deref().map(|s| format!(" (asked {s})")).unwrap_or_default()
        ))),
        DnsOutcome::ServFail { .. } | DnsOutcome::Refused { .. } => out.push(Hint::plain(
            "The DNS resolver failed or refused the query: with custom DNS servers, check that they forward \
             amazonaws.com names to the VPC resolver (VPC CIDR base + 2)."
                .to_owned(),
        )),
    }
    if ep.dns.outcome == DnsOutcome::Ok
        && ep.dns.queries.iter().any(|q| q.query == QueryType::Aaaa && q.outcome == LookupOutcome::Timeout)
    {
        out.push(Hint::plain(
            "The resolver did not answer the AAAA query before the deadline: clients that ask for A and AAAA \
             together (getaddrinfo) stall on every lookup — check custom DNS servers or DNS firewall rules that \
             drop AAAA queries."
                .to_owned(),
        ));
    }
    out
}

fn tcp_hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<Hint> {
    let mut out = Vec::new();
    let endpoint_name = vpce_name(ep.service, ctx, EndpointType::Interface);
    let from = ctx.subnet_cidr.map_or_else(|| "the task subnet".to_owned(), |c| format!("the task subnet {c}"));
    let port = ep.port;
    let scope_of = |c: &ConnectionReport| ep.dns.addresses.iter().find(|a| a.ip == c.ip).map(|a| a.scope);
    let tcp_failed = |pred: fn(&TcpOutcome) -> bool, scope: Scope| {
        ep.connections.iter().any(|c| pred(&c.tcp.outcome) && scope_of(c) == Some(scope))
    };
    let timeout = |o: &TcpOutcome| *o == TcpOutcome::Timeout;
    let refused = |o: &TcpOutcome| matches!(o, TcpOutcome::Refused { .. });
    let unreachable = |o: &TcpOutcome| matches!(o, TcpOutcome::Unreachable { .. });

    if tcp_failed(timeout, Scope::Private) {
        out.push(Hint::new(
            format!("tcp.private_timeout|{port}"),
            format!(
                "Connections to the private address time out: the security group of the {endpoint_name} interface \
                 endpoint must allow inbound TCP {port} from {from}, and the task's security group must allow \
                 outbound {port}."
            ),
            format!(
                "Connections to their private addresses time out: the security groups of their interface endpoints \
                 must allow inbound TCP {port} from {from}, and the task's security group must allow outbound {port}."
            ),
        ));
    }
    if tcp_failed(timeout, Scope::Public) || tcp_failed(unreachable, Scope::Public) {
        let key = format!("tcp.public|{:?}|{port}", ctx.public_ip);
        out.push(match ctx.public_ip {
            Some(false) => {
                let text = |endpoint: &str| {
                    format!(
                        "No path to the public address: the subnet's route table needs 0.0.0.0/0 to a NAT gateway \
                         (or a transit gateway / peering route), the task's security group must allow outbound \
                         {port}; or add {endpoint}."
                    )
                };
                Hint::new(key, text(&format!("the {endpoint_name} VPC endpoint")), text("their VPC endpoints"))
            }
            Some(true) => Hint::new(
                key,
                format!(
                    "No path to the public address although the task has a public IP: the subnet's route table \
                     needs 0.0.0.0/0 to an internet gateway, and the task's security group must allow outbound {port}."
                ),
                format!(
                    "No path to their public addresses although the task has a public IP: the subnet's route table \
                     needs 0.0.0.0/0 to an internet gateway, and the task's security group must allow outbound {port}."
                ),
            ),
            None => Hint::plain(format!(
                "No path to the public address. With a public IP (AssignPublicIp), the subnet needs 0.0.0.0/0 to \
                 an internet gateway; without one, to a NAT gateway — an internet-gateway subnet without public IP \
                 assignment has no outbound connectivity. The task's security group must allow outbound {port}."
            )),
        });
    }
    if tcp_failed(unreachable, Scope::Private) {
        out.push(Hint::new(
            "tcp.private_unreachable",
            format!(
                "No route to the private address: the subnet's route table must reach the {endpoint_name} \
                 endpoint's subnets (check network ACLs too)."
            ),
            "No route to their private addresses: the subnet's route table must reach their interface endpoints' \
             subnets (check network ACLs too)."
                .to_owned(),
        ));
    }
    if tcp_failed(refused, Scope::Private) || tcp_failed(refused, Scope::Public) {
        out.push(Hint::plain(format!(
            "The address answered but refused port {port}: something other than the service owns it — check for a \
             DNS override (private hosted zone, custom resolver) and that the port is right."
        )));
    }
    let out_of_time = ep.connections.iter().any(|c| {
        c.tcp.outcome == TcpOutcome::OutOfTime || c.tls.as_ref().is_some_and(|t| t.outcome == TlsOutcome::OutOfTime)
    });
    if out_of_time {
        let deadline = humantime::format_duration(ctx.timeout);
        let text = |dns: &str| {
            format!(
                "The endpoint's {deadline} deadline ran out before a connection had a fair chance ({dns}): this is \
                 not evidence of a blocked path — raise --timeout, or find out why the resolver is slow."
            )
        };
        out.push(Hint::new(
            "out_of_time",
            text(&format!("DNS took {} ms", ep.dns.duration_ms)),
            text("DNS took most of it"),
        ));
    }
    out
}

/// The TLS phase: the TCP handshake went through, then the ClientHello met something.
fn tls_hints(ep: &EndpointReport) -> Vec<Hint> {
    let host = &ep.host;
    let mut out: Vec<Hint> = Vec::new();
    for c in &ep.connections {
        let Some(tls) = &c.tls else { continue };
        let Some(hint) = tls_hint(host, c.ip, tls) else { continue };
        if !out.iter().any(|h| h.key == hint.key) {
            out.push(hint);
        }
    }
    out
}

/// The hint for one failed handshake at `ip`.
fn tls_hint(host: &str, ip: std::net::IpAddr, tls: &TlsReport) -> Option<Hint> {
    Some(match &tls.outcome {
        TlsOutcome::Ok | TlsOutcome::OutOfTime => return None,
        TlsOutcome::Timeout => timeout_hint(host, ip, tls.retry.as_ref()),
        TlsOutcome::Reset { .. } => Hint::new(
            "tls.reset",
            format!(
                "TCP to {ip} connects but the connection is reset after the TLS ClientHello for {host}: a firewall \
                 filtering by server name (AWS Network Firewall domain list, a proxy) rejects it — allow {host} in \
                 its allow-list."
            ),
            "TCP connects but the connection is reset after the TLS ClientHello for their names: a firewall \
             filtering by server name (AWS Network Firewall domain list, a proxy) rejects it — allow these names \
             in its allow-list."
                .to_owned(),
        ),
        TlsOutcome::Untrusted { reason, task_clock, error } => {
            certificate_hint(host, ip, tls, *reason, task_clock.as_deref(), error)
        }
        TlsOutcome::NameMismatch { .. } => {
            let subject = tls.certificate.as_ref().map_or("another name", |c| c.subject.as_str());
            Hint::new(
                format!("tls.name_mismatch|{subject}"),
                format!(
                    "The certificate at {ip} is for {subject}, not {host}: the name leads to something that is not \
                     this service — check DNS overrides (private hosted zones) and proxies in the path."
                ),
                format!(
                    "The certificates presented are for {subject}, not for these names: the names lead to \
                     something that is not the service — check DNS overrides (private hosted zones) and proxies \
                     in the path."
                ),
            )
        }
        TlsOutcome::Error { error, cause, alert } => error_hint(host, ip, error, *cause, alert.as_deref()),
    })
}

/// A ClientHello with no answer: server-name filtering or lost large packets, as the retry with
/// small segments tells.
fn timeout_hint(host: &str, ip: std::net::IpAddr, retry: Option<&TlsRetry>) -> Hint {
    let sni = |who: &str, names: &str| {
        format!(
            "a firewall filtering by server name (AWS Network Firewall domain list, a transparent proxy) drops \
             {who} — allow {names} in its allow-list"
        )
    };
    match retry {
        Some(r) if r.outcome.answered() => {
            let full = r.first_mss.map_or_else(|| "full-size segments".to_owned(), |m| format!("{m}-byte segments"));
            let text = |subject: &str, took: &str| {
                format!(
                    "{subject} the server's answer never arrives in {full}, while a second connection asking for \
                     {mss}-byte segments (packets of {small} bytes) completed the handshake{took}: large packets \
                     are lost on the way back — a path-MTU black hole, not server-name filtering (the same \
                     ClientHello went through both times). A hop between the task and the endpoint carries less \
                     than the task's MTU (a firewall appliance, a VPN tunnel, a transit gateway, a Gateway Load \
                     Balancer) and the ICMP \"fragmentation needed\" messages that would tell the server to send \
                     smaller packets are dropped: allow ICMP type 3 code 4 back to the task (network ACLs, the \
                     appliance's rules), or clamp the TCP MSS on that hop.",
                    mss = r.mss,
                    small = u32::from(r.mss) + 40,
                )
            };
            Hint::new(
                "tls.timeout.path_mtu",
                text(
                    &format!("TCP to {ip} connects and the TLS ClientHello for {host} goes out, but"),
                    &format!(" in {} ms", r.duration_ms),
                ),
                text("TCP connects and the TLS ClientHellos go out, but", ""),
            )
        }
        Some(r) if r.outcome == RetryOutcome::Timeout => Hint::new(
            "tls.timeout.sni",
            format!(
                "TCP to {ip} connects but the TLS ClientHello for {host} gets no answer, also on a second connection \
                 with {}-byte segments (so it is not large packets lost on the path): {}.",
                r.mss,
                sni("it", host)
            ),
            format!(
                "TCP connects but the TLS ClientHellos for these names get no answer, also with {}-byte segments \
                 (so it is not large packets lost on the path): {}.",
                r.mss,
                sni("them", "these names")
            ),
        ),
        _ => Hint::new(
            "tls.timeout",
            format!(
                "TCP to {ip} connects but the TLS ClientHello for {host} gets no answer: {}; or the server's large \
                 packets are lost on the path (a path-MTU black hole). A handshake with small segments tells them \
                 apart: it completes only in the second case.",
                sni("it", host)
            ),
            format!(
                "TCP connects but the TLS ClientHellos for these names get no answer: {}; or the server's large \
                 packets are lost on the path (a path-MTU black hole). A handshake with small segments tells them \
                 apart: it completes only in the second case.",
                sni("them", "these names")
            ),
        ),
    }
}

/// A certificate that does not verify, by why.
fn certificate_hint(
    host: &str,
    ip: std::net::IpAddr,
    tls: &TlsReport,
    reason: Option<CertificateProblem>,
    clock: Option<&str>,
    error: &str,
) -> Hint {
    let cert = tls.certificate.as_ref();
    let issuer = cert.map_or("an unknown issuer", |c| c.issuer.as_str());
    let clock = clock.unwrap_or("unknown");
    let validity = cert.map_or_else(
        || "its validity could not be read".to_owned(),
        |c| format!("valid from {} until {}", c.not_before.as_deref().unwrap_or("?"), c.not_after),
    );
    let key = format!("tls.untrusted|{}|{issuer}", reason.map_or("unsorted", |r| r.as_str()));
    match reason {
        Some(CertificateProblem::UnknownIssuer) | None => Hint::new(
            key,
            format!(
                "The certificate presented for {host} is issued by {issuer}, which is not trusted: a middlebox \
                 re-signs TLS (TLS inspection) — exempt {host} and the other AWS endpoints from inspection, as the \
                 runner verifies AWS certificates; if the inspection is intended, give its CA with --ca-file."
            ),
            format!(
                "The certificates presented for these names are issued by {issuer}, which is not trusted: a \
                 middlebox re-signs TLS (TLS inspection) — exempt the AWS endpoints from inspection, as the runner \
                 verifies AWS certificates; if the inspection is intended, give its CA with --ca-file."
            ),
        ),
        Some(problem @ (CertificateProblem::Expired | CertificateProblem::NotYetValid)) => {
            let (state, why) = if problem == CertificateProblem::Expired {
                ("expired", "AWS renews its certificates long before they expire")
            } else {
                ("not yet valid", "AWS endpoints present certificates already in force")
            };
            let tail = format!(
                "by the task's clock ({clock}). If that clock is wrong, fix the task's time (Fargate keeps it with \
                 the Amazon Time Sync Service; a container that sets its own clock or fakes the time breaks this). \
                 If it is right, the certificate really is {state}: {why}, so whatever presents it is not the AWS \
                 endpoint — a proxy or TLS inspection appliance with a bad certificate, or a DNS override leading \
                 elsewhere."
            );
            Hint::new(
                key,
                format!(
                    "The certificate presented for {host} at {ip} (issued by {issuer}, {validity}) is {state} {tail}"
                ),
                format!("The certificates presented for these names (issued by {issuer}) are {state} {tail}"),
            )
        }
        Some(CertificateProblem::Revoked) => Hint::new(
            key,
            format!(
                "The certificate presented for {host} at {ip} (issued by {issuer}) is revoked: whatever presents \
                 it is not a healthy AWS endpoint — check proxies and TLS inspection in the path and DNS overrides."
            ),
            format!(
                "The certificates presented for these names (issued by {issuer}) are revoked: whatever presents \
                 them is not a healthy AWS endpoint — check proxies and TLS inspection in the path and DNS overrides."
            ),
        ),
        Some(CertificateProblem::Invalid) => Hint::new(
            format!("{key}|{error}"),
            format!(
                "The certificate presented for {host} at {ip} (issued by {issuer}) is invalid ({error}): AWS \
                 endpoints present well-formed certificates, so something else answers — check proxies and TLS \
                 inspection in the path and DNS overrides."
            ),
            format!(
                "The certificates presented for these names (issued by {issuer}) are invalid ({error}): AWS \
                 endpoints present well-formed certificates, so something else answers — check proxies and TLS \
                 inspection in the path and DNS overrides."
            ),
        ),
    }
}

/// An alert or a handshake error: what answered, and what to check.
fn error_hint(
    host: &str,
    ip: std::net::IpAddr,
    error: &str,
    cause: Option<HandshakeError>,
    alert: Option<&str>,
) -> Hint {
    // Whether the answer came from an appliance on the path or from where DNS leads.
    let apart = format!(
        "If {ip} is the address AWS gave the endpoint (the interface endpoint's network interfaces in the VPC \
         console, or AWS's published ranges), an appliance on the path answered; if not, a DNS override (private \
         hosted zone, custom resolver) leads elsewhere."
    );
    let what = match (cause, alert) {
        (Some(HandshakeError::Alert), Some("protocol_version")) => format!(
            "answered the TLS ClientHello for {host} with the alert protocol_version: it speaks neither TLS 1.2 nor \
             TLS 1.3, which AWS endpoints speak — a legacy TLS terminator or proxy (TLS 1.0/1.1 only) is in the \
             way. Check the TLS policy of proxies and TLS-inspecting firewalls between the task and the endpoint."
        ),
        (Some(HandshakeError::Alert), Some(a @ ("handshake_failure" | "insufficient_security"))) => format!(
            "answered the TLS ClientHello for {host} with the alert {a}: it shares no cipher suite or key \
             exchange with a modern client, which AWS endpoints always do (TLS 1.2 and 1.3) — a legacy TLS \
             terminator or proxy is in the way. Check the TLS policy of proxies and TLS-inspecting firewalls \
             between the task and the endpoint."
        ),
        (Some(HandshakeError::Alert), Some("unrecognized_name")) => format!(
            "answered the TLS ClientHello for {host} with the alert unrecognized_name: it does not serve {host}, \
             which the AWS endpoint does — a proxy or another server answers for the address."
        ),
        (Some(HandshakeError::Alert), Some(a)) => format!(
            "ended the TLS handshake for {host} with the alert {a}: AWS endpoints complete handshakes with TLS 1.2 \
             and 1.3 clients, so a TLS terminator or proxy on the path refuses it — check the proxies and \
             TLS-inspecting firewalls between the task and the endpoint."
        ),
        (Some(HandshakeError::Incompatible), _) => format!(
            "answered the TLS ClientHello for {host} with only what a modern client refuses ({error}): AWS \
             endpoints speak TLS 1.2 and 1.3 — a legacy TLS terminator or proxy (TLS 1.0/1.1, old ciphers) is in \
             the way. Check the TLS policy of proxies and TLS-inspecting firewalls between the task and the endpoint."
        ),
        (Some(HandshakeError::NotTls), _) => format!(
            "answered the TLS ClientHello for {host} with something that is not TLS ({error}): a plain-text \
             service, or a proxy answering with an HTTP error page — not the AWS endpoint. Check for transparent \
             proxies on the path."
        ),
        _ => format!(
            "broke off the TLS handshake for {host} ({error}): AWS endpoints complete handshakes with TLS 1.2 and \
             1.3 clients, so a TLS terminator or proxy on the path is likely — check the proxies and TLS-inspecting \
             firewalls between the task and the endpoint."
        ),
    };
    let key = format!("tls.error|{}|{}", cause.map_or("unsorted", |c| c.as_str()), alert.unwrap_or(error));
    let shared = what.replace(&format!(" for {host}"), " for these names").replace(host, "these names");
    Hint::new(
        key,
        format!("The server at {ip} {what} {apart}"),
        format!(
            "The servers at their addresses {shared} If the addresses are the ones AWS gave the endpoints, an \
             appliance on the path answered; if not, a DNS override leads elsewhere."
        ),
    )
}

fn other_hints(ep: &EndpointReport, ctx: &HintContext<'_>) -> Vec<Hint> {
    let mut out = Vec::new();
    if ep.access_type == AccessType::Unknown
        && ep.dns.outcome == DnsOutcome::Ok
        && ctx.public_ip.is_none()
        && !ep.connections.is_empty()
    {
        out.push(Hint::plain(
            "The endpoint resolves to public addresses and it is not known whether the task has a public IP: set \
             --public-ip (NETREADY_ASSIGN_PUBLIC_IP) to the stack's AssignPublicIp to tell NAT from internet gateway."
                .to_owned(),
        ));
    }
    if ep.dns.outcome == DnsOutcome::Ok && ep.connections.is_empty() {
        let only_v6 = ep.dns.addresses.iter().all(|a| a.not_dialled == Some(NotDialled::TaskHasNoIpv6));
        if only_v6 {
            out.push(Hint::plain(
                "DNS returned only IPv6 addresses and the task has no IPv6: give the task IPv6 (a dual-stack \
                 subnet) or make the endpoint answer A records (IpAddressType ipv4 or dualstack)."
                    .to_owned(),
            ));
        }
    }
    if ep.service == ServiceKey::S3
        && ctx.others_use_vpc_endpoints
        && matches!(ep.access_type, AccessType::NatGateway | AccessType::InternetGateway | AccessType::Unknown)
        && ep.dns.addresses.iter().any(|a| a.scope == Scope::Public && a.dialled)
    {
        out.push(Hint::plain(format!(
            "S3 resolves to public addresses next to interface endpoints: expected with an S3 gateway endpoint, \
             which works through route-table entries, not DNS — associate {} (gateway) with the task subnet's \
             route table, or traffic goes through the {} path.",
            vpce_name(ep.service, ctx, EndpointType::Gateway),
            if ctx.public_ip == Some(true) { "internet gateway" } else { "NAT" }
        )));
    }
    if ep.reachability == Reachability::Partial {
        out.push(Hint::plain(
            "Only some addresses were reached: clients that pick a failing address will stall until they retry."
                .to_owned(),
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dial::TcpReport;
    use crate::report::{AddressReport, DnsReport, Family};
    use crate::tls::CertificateInfo;

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
                            not_before: Some("2025-01-01T00:00:00Z".into()),
                            not_after: "2026-01-01T00:00:00Z".into(),
                        }),
                        retry: None,
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
            (TlsOutcome::Timeout, "drops it — allow h.example in its allow-list; or the server's large packets"),
            (TlsOutcome::Reset { error: "reset".into() }, "rejects it — allow h.example"),
            (untrusted(CertificateProblem::UnknownIssuer), "issued by CN=Corp Inspection CA, which is not trusted"),
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

    fn untrusted(reason: CertificateProblem) -> TlsOutcome {
        TlsOutcome::Untrusted {
            error: "the certificate does not verify".into(),
            reason: Some(reason),
            task_clock: Some("2026-12-03T13:00:00Z".into()),
        }
    }

    /// The one hint of an endpoint whose one address connected and then met `tls`.
    fn tls_hint_of(tls: TlsOutcome, retry: Option<TlsRetry>) -> String {
        let mut ep = endpoint(ServiceKey::Logs, DnsOutcome::Ok, &[("10.0.2.11", PRIVATE, TcpOutcome::Ok, Some(tls))]);
        ep.connections[0].tls.as_mut().unwrap().retry = retry;
        let h = hints(&ep, &ctx());
        assert_eq!(h.len(), 1, "{h:?}");
        h[0].clone()
    }

    #[test]
    fn an_expired_certificate_names_its_dates_and_the_tasks_clock_not_interception() {
        let h = tls_hint_of(untrusted(CertificateProblem::Expired), None);
        assert!(h.contains("at 10.0.2.11 (issued by CN=Corp Inspection CA, valid from 2025-01-01T00:00:00Z until 2026-01-01T00:00:00Z) is expired"), "{h}");
        assert!(h.contains("by the task's clock (2026-12-03T13:00:00Z)"), "{h}");
        assert!(h.contains("If that clock is wrong") && h.contains("If it is right"), "{h}");
        assert!(!h.contains("not trusted") && !h.contains("--ca-file"), "{h}");
        let h = tls_hint_of(untrusted(CertificateProblem::NotYetValid), None);
        assert!(h.contains("is not yet valid by the task's clock (2026-12-03T13:00:00Z)"), "{h}");
        let h = tls_hint_of(untrusted(CertificateProblem::Revoked), None);
        assert!(h.contains("is revoked"), "{h}");
        let h = tls_hint_of(untrusted(CertificateProblem::Invalid), None);
        assert!(h.contains("is invalid (the certificate does not verify)"), "{h}");
    }

    #[test]
    fn every_alert_and_handshake_error_gets_a_hint_that_says_what_answered() {
        let error = |cause, alert: Option<&str>| TlsOutcome::Error {
            error: "received fatal alert".into(),
            cause: Some(cause),
            alert: alert.map(str::to_owned),
        };
        let rows = [
            (
                error(HandshakeError::Alert, Some("protocol_version")),
                "alert protocol_version: it speaks neither TLS 1.2 nor TLS 1.3, which AWS endpoints speak — a legacy TLS terminator or proxy",
            ),
            (
                error(HandshakeError::Alert, Some("handshake_failure")),
                "alert handshake_failure: it shares no cipher suite",
            ),
            (error(HandshakeError::Alert, Some("unrecognized_name")), "it does not serve h.example"),
            (error(HandshakeError::Alert, Some("access_denied")), "with the alert access_denied"),
            (error(HandshakeError::Incompatible, None), "a legacy TLS terminator or proxy (TLS 1.0/1.1, old ciphers)"),
            (error(HandshakeError::NotTls, None), "something that is not TLS"),
            (error(HandshakeError::Protocol, None), "broke off the TLS handshake"),
            (error(HandshakeError::Other, None), "broke off the TLS handshake"),
            (TlsOutcome::Error { error: "old report".into(), cause: None, alert: None }, "broke off the TLS handshake"),
        ];
        for (outcome, expected) in rows {
            let h = tls_hint_of(outcome.clone(), None);
            assert!(h.starts_with("The server at 10.0.2.11 "), "{h}");
            assert!(h.contains(expected), "{outcome:?}: {h}");
            // Which observation tells an appliance on the path from a DNS override.
            assert!(h.contains("If 10.0.2.11 is the address AWS gave the endpoint"), "{h}");
        }
    }

    fn retry(outcome: RetryOutcome) -> Option<TlsRetry> {
        Some(TlsRetry { mss: 536, first_mss: Some(1448), after_ms: 2500, duration_ms: 3, outcome })
    }

    #[test]
    fn a_tls_timeout_is_told_apart_by_the_small_segment_retry() {
        let mtu = tls_hint_of(TlsOutcome::Timeout, retry(RetryOutcome::Ok));
        assert!(mtu.contains("never arrives in 1448-byte segments"), "{mtu}");
        assert!(
            mtu.contains("asking for 536-byte segments (packets of 576 bytes) completed the handshake in 3 ms"),
            "{mtu}"
        );
        assert!(mtu.contains("path-MTU black hole, not server-name filtering"), "{mtu}");
        assert!(mtu.contains("allow ICMP type 3 code 4 back to the task"), "{mtu}");
        for place in ["firewall appliance", "VPN tunnel", "transit gateway", "Gateway Load Balancer"] {
            assert!(mtu.contains(place), "{place}: {mtu}");
        }
        let answered = tls_hint_of(TlsOutcome::Timeout, retry(RetryOutcome::Answered { error: "x".into() }));
        assert!(answered.contains("path-MTU black hole"), "{answered}");
        let sni = tls_hint_of(TlsOutcome::Timeout, retry(RetryOutcome::Timeout));
        assert!(
            sni.contains("also on a second connection with 536-byte segments (so it is not large packets lost"),
            "{sni}"
        );
        assert!(sni.contains("filtering by server name") && sni.contains("allow h.example in its allow-list"), "{sni}");
        assert!(!sni.contains("black hole"), "{sni}");
        // Without a retry (an older report, or it was abandoned), both causes, and what tells them apart.
        for r in [None, retry(RetryOutcome::Abandoned), retry(RetryOutcome::Failed { error: "tcp refused".into() })] {
            let h = tls_hint_of(TlsOutcome::Timeout, r);
            assert!(h.contains("filtering by server name") && h.contains("path-MTU black hole"), "{h}");
            assert!(h.contains("A handshake with small segments tells them apart"), "{h}");
        }
    }

    #[test]
    fn a_cause_several_endpoints_share_is_said_once_naming_them() {
        let nx = |service| endpoint(service, DnsOutcome::NxDomain { error: "A: no such name".into() }, &[]);
        let mut report: Report =
            serde_json::from_str(include_str!("../../../tests/fixtures/report-v4-degraded.json")).unwrap();
        report.endpoints = vec![
            nx(ServiceKey::SecretsManager),
            nx(ServiceKey::Logs),
            endpoint(ServiceKey::EcrApi, DnsOutcome::Ok, &[("10.0.2.12", PRIVATE, TcpOutcome::Timeout, None)]),
            nx(ServiceKey::EcrDkr),
            endpoint(ServiceKey::S3, DnsOutcome::Ok, &[("10.0.2.14", PRIVATE, TcpOutcome::Timeout, None)]),
        ];
        let groups = grouped(&report);
        assert_eq!(groups.len(), 2, "{groups:#?}");
        assert_eq!(groups[0].0, [ServiceKey::SecretsManager, ServiceKey::Logs, ServiceKey::EcrDkr]);
        assert!(groups[0].1.starts_with("These names do not resolve"), "{}", groups[0].1);
        assert_eq!(groups[1].0, [ServiceKey::EcrApi, ServiceKey::S3]);
        assert!(groups[1].1.contains("security groups of their interface endpoints"), "{}", groups[1].1);
        // Alone, an endpoint keeps its own words.
        report.endpoints.truncate(1);
        let groups = grouped(&report);
        assert_eq!(groups[0].1, hints(&report.endpoints[0], &ctx_of(&report))[0]);
        assert!(groups[0].1.starts_with("h.example does not resolve"), "{}", groups[0].1);
    }

    fn ctx_of(report: &Report) -> HintContext<'_> {
        HintContext {
            region: &report.task.region,
            subnet_cidr: report.task.subnet_cidr.as_deref(),
            public_ip: report.task.public_ip.assigned,
            others_use_vpc_endpoints: false,
            ipv6: report.probe.ipv6,
            timeout: Duration::from_millis(report.probe.timeout_ms),
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
