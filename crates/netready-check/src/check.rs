//! One check: every endpoint probed in parallel under one deadline per endpoint — its A and AAAA
//! queries asked together, each address dialled as soon as its answer arrives, then the TLS
//! handshake — classified and decided into a [`Report`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::classify::{AccessType, Scope, classify, reachability, scope, special_purpose};
use crate::dial::{Connection, Dialer, DirectDialer, TcpOutcome, fair_budget};
use crate::dns::{Lookup, LookupOutcome, QueryType, RESOLV_CONF, ResolvConf, Resolver, StubResolver};
use crate::endpoints::Endpoint;
use crate::hints::{HintContext, hints};
use crate::metadata::{HttpMetadata, METADATA_URI_VAR, MetadataSource};
use crate::report::{
    AddressReport, ConnectionReport, DnsOutcome, DnsReport, EndpointReport, Family, NotDialled, ProbeInfo,
    QueryReport, Report, SCHEMA_VERSION, millis,
};
use crate::settings::{Plan, Settings, SettingsError};
use crate::tls::{TlsOutcome, TlsProbe};

/// Runs the probes of `plan` and builds the report. `started` is when the check began (metadata
/// lookups included), for `checked_at` and `duration_ms`.
pub async fn run<R: Resolver, D: Dialer>(
    plan: &Plan,
    resolver: &R,
    dialer: &D,
    started: (SystemTime, Instant),
) -> Report {
    let deadline = Instant::now() + plan.timeout;
    let probes = plan.endpoints.iter().map(|ep| probe(ep, plan, resolver, dialer, deadline));
    let mut endpoints = join_all(probes).await;

    let ctx_region = plan.region.to_string();
    let uses_vpc_endpoints: Vec<bool> = endpoints.iter().map(|e| e.access_type == AccessType::VpcEndpoint).collect();
    for (i, ep) in endpoints.iter_mut().enumerate() {
        let others = uses_vpc_endpoints.iter().enumerate().any(|(j, v)| j != i && *v);
        let ctx = HintContext {
            region: &ctx_region,
            subnet_cidr: plan.task.subnet_cidr.as_deref(),
            public_ip: plan.task.public_ip.assigned,
            others_use_vpc_endpoints: others,
            ipv6: plan.ipv6,
            timeout: plan.timeout,
        };
        ep.hints = hints(ep, &ctx);
    }

    Report {
        schema_version: SCHEMA_VERSION,
        status: Report::decide(&endpoints),
        checked_at: humantime::format_rfc3339_millis(started.0).to_string(),
        duration_ms: millis(started.1.elapsed()),
        probe: ProbeInfo { tls: plan.tls, ipv6: plan.ipv6, timeout_ms: millis(plan.timeout) },
        task: plan.task.clone(),
        proxy: plan.proxy.clone(),
        warnings: plan.warnings.clone(),
        endpoints,
    }
}

/// Whether an answer of this family is dialled at all (IPv6 only when the task has IPv6).
fn family_dialled(ip: IpAddr, ipv6: bool) -> bool {
    ip.is_ipv4() || ipv6
}

/// One query, then a connection to each of its addresses that is dialled, as soon as it arrives.
async fn resolve_and_dial<R: Resolver, D: Dialer>(
    ep: &Endpoint,
    query: QueryType,
    ipv6: bool,
    resolver: &R,
    dialer: &D,
    deadline: Instant,
) -> (Lookup, Vec<Connection>) {
    let lookup = resolver.lookup(&ep.host, query, deadline).await;
    let dialled = lookup.addresses.iter().filter(|ip| family_dialled(**ip, ipv6) && special_purpose(**ip).is_none());
    let connections = join_all(dialled.map(|ip| dialer.dial(SocketAddr::new(*ip, ep.port), &ep.host, deadline))).await;
    (lookup, connections)
}

async fn probe<R: Resolver, D: Dialer>(
    ep: &Endpoint,
    plan: &Plan,
    resolver: &R,
    dialer: &D,
    deadline: Instant,
) -> EndpointReport {
    let ((a, a_conns), (aaaa, aaaa_conns)) = tokio::join!(
        resolve_and_dial(ep, QueryType::A, plan.ipv6, resolver, dialer, deadline),
        resolve_and_dial(ep, QueryType::Aaaa, plan.ipv6, resolver, dialer, deadline),
    );
    let fair = fair_budget(plan.timeout);
    let connections: Vec<ConnectionReport> =
        a_conns.into_iter().chain(aaaa_conns).map(|c| connection_report(c, fair)).collect();

    let addresses: Vec<AddressReport> = a
        .addresses
        .iter()
        .chain(&aaaa.addresses)
        .map(|&ip| {
            let scope = scope(ip, &plan.known_cidrs);
            let not_dialled = if scope == Scope::Special {
                Some(NotDialled::SpecialPurpose)
            } else if !family_dialled(ip, plan.ipv6) {
                Some(NotDialled::TaskHasNoIpv6)
            } else {
                None
            };
            AddressReport { ip, family: Family::of(ip), scope, dialled: not_dialled.is_none(), not_dialled }
        })
        .collect();

    // Sinkhole answers a client would try count as not reached; other undialled answers do not count.
    let sinkholes: Vec<&AddressReport> = addresses
        .iter()
        .filter(|a| a.not_dialled == Some(NotDialled::SpecialPurpose) && family_dialled(a.ip, plan.ipv6))
        .collect();
    let reached: Vec<bool> =
        connections.iter().map(ConnectionReport::reached).chain(sinkholes.iter().map(|_| false)).collect();
    let dialled_scopes: Vec<Scope> = connections.iter().map(|c| scope(c.ip, &plan.known_cidrs)).collect();

    let outcome = dns_outcome(&a, &aaaa, &sinkholes, plan.ipv6);
    EndpointReport {
        service: ep.service,
        host: ep.host.clone(),
        port: ep.port,
        access_type: classify(&dialled_scopes, plan.task.public_ip.assigned),
        reachability: reachability(&reached),
        dns: DnsReport {
            outcome,
            duration_ms: millis(a.duration.max(aaaa.duration)),
            server: a.server.or(aaaa.server).map(|s| s.to_string()),
            cname_chain: if a.cname_chain.is_empty() { aaaa.cname_chain.clone() } else { a.cname_chain.clone() },
            queries: [&a, &aaaa]
                .into_iter()
                .map(|l| QueryReport {
                    query: l.query,
                    outcome: l.outcome.clone(),
                    duration_ms: millis(l.duration),
                    server: l.server.map(|s| s.to_string()),
                })
                .collect(),
            addresses,
        },
        connections,
        hints: Vec::new(),
    }
}

/// A connection as the report carries it. A timeout in a phase that started with less than a fair
/// share of the deadline is `out_of_time`, not evidence of a dropped packet.
fn connection_report(c: Connection, fair: Duration) -> ConnectionReport {
    let short = |budget_ms: u64| Duration::from_millis(budget_ms) < fair;
    let mut tcp = c.tcp;
    if tcp.outcome == TcpOutcome::Timeout && short(tcp.budget_ms) {
        tcp.outcome = TcpOutcome::OutOfTime;
    }
    let tls = c.tls.map(|mut tls| {
        if tls.outcome == TlsOutcome::Timeout && short(tls.budget_ms) {
            tls.outcome = TlsOutcome::OutOfTime;
        }
        tls
    });
    ConnectionReport { ip: c.addr.ip(), family: Family::of(c.addr.ip()), tcp, tls }
}

/// The endpoint's DNS outcome from its two queries. A sinkhole answer wins; then any address;
/// then NXDOMAIN from either; then the A query's failure; then the AAAA query's, when IPv6 counts.
pub fn dns_outcome(a: &Lookup, aaaa: &Lookup, sinkholes: &[&AddressReport], ipv6: bool) -> DnsOutcome {
    if !sinkholes.is_empty() {
        let list: Vec<String> = sinkholes
            .iter()
            .map(|s| format!("{} ({})", s.ip, special_purpose(s.ip).unwrap_or("special-purpose")))
            .collect();
        return DnsOutcome::Sinkhole {
            error: format!("the resolver answered {}: a blocked or overridden name", list.join(", ")),
        };
    }
    if !a.addresses.is_empty() || !aaaa.addresses.is_empty() {
        return DnsOutcome::Ok;
    }
    let describe = |l: &Lookup| {
        let mut text = format!("{}: {}", l.query.as_str(), l.outcome.describe());
        if !l.failures.is_empty() {
            text = format!("{} ({})", text, l.failures.join("; "));
        }
        text
    };
    let failure = |l: &Lookup| {
        let error = describe(l);
        match &l.outcome {
            LookupOutcome::NxDomain => DnsOutcome::NxDomain { error },
            LookupOutcome::ServFail => DnsOutcome::ServFail { error },
            LookupOutcome::Refused => DnsOutcome::Refused { error },
            LookupOutcome::Timeout => DnsOutcome::Timeout { error },
            LookupOutcome::Error { .. } => DnsOutcome::Error { error },
            LookupOutcome::Ok | LookupOutcome::NoRecords => DnsOutcome::NoRecords { error },
        }
    };
    if a.outcome == LookupOutcome::NxDomain {
        return failure(a);
    }
    if aaaa.outcome == LookupOutcome::NxDomain {
        return failure(aaaa);
    }
    if !a.outcome.is_answer() {
        return failure(a);
    }
    if ipv6 && !aaaa.outcome.is_answer() {
        return failure(aaaa);
    }
    DnsOutcome::NoRecords {
        error: format!("the name exists but has no A{} record", if ipv6 { " or AAAA" } else { "" }),
    }
}

/// The whole check as the CLI and the agent run it: task metadata (when in ECS), the system's
/// resolvers, direct TCP. Fails only on settings that leave no region.
pub async fn check_once(
    settings: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    tls: Option<&Arc<TlsProbe>>,
) -> Result<Report, SettingsError> {
    let started = (SystemTime::now(), Instant::now());
    let mut warnings = Vec::new();
    let metadata = match env(METADATA_URI_VAR).filter(|v| !v.is_empty()) {
        Some(uri) => match HttpMetadata::new(&uri) {
            Ok(source) => match source.fetch().await {
                Ok((meta, mut w)) => {
                    warnings.append(&mut w);
                    Some(meta)
                }
                Err(e) => {
                    warnings.push(format!("task metadata unavailable: {e}"));
                    None
                }
            },
            Err(e) => {
                warnings.push(format!("task metadata unavailable: {e}"));
                None
            }
        },
        None => None,
    };
    let (conf, mut w) = ResolvConf::load(RESOLV_CONF);
    warnings.append(&mut w);
    let plan = settings.plan(metadata.as_ref(), env, warnings)?;
    let resolver = StubResolver::new(conf.nameservers);
    let dialer = match (plan.tls, tls) {
        (true, Some(probe)) => DirectDialer::with_tls(probe.clone()),
        _ => DirectDialer::tcp_only(),
    };
    let mut plan = Plan { tls: dialer.tls_enabled(), ..plan };
    if let Some(probe) = tls.filter(|_| plan.tls) {
        plan.warnings.extend(probe.warnings().iter().cloned());
    }
    Ok(run(&plan, &resolver, &dialer, started).await)
}
