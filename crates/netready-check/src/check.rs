//! One check: every endpoint probed in parallel — resolve, then dial every IPv4 address in
//! parallel — under one deadline per endpoint, then classified and decided into a [`Report`].

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::classify::{AccessType, classify, reachability, scope};
use crate::dial::Dialer;
use crate::dns::{RESOLV_CONF, ResolvConf, Resolver, StubResolver};
use crate::endpoints::Endpoint;
use crate::hints::{HintContext, hints};
use crate::metadata::{HttpMetadata, METADATA_URI_VAR, MetadataSource};
use crate::report::{AddressReport, ConnectionReport, DnsReport, EndpointReport, Report, SCHEMA_VERSION, millis};
use crate::settings::{Plan, Settings, SettingsError};

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
        };
        ep.hints = hints(ep, &ctx);
    }

    Report {
        schema_version: SCHEMA_VERSION,
        status: Report::decide(&endpoints),
        checked_at: humantime::format_rfc3339_millis(started.0).to_string(),
        duration_ms: millis(started.1.elapsed()),
        task: plan.task.clone(),
        proxy: plan.proxy.clone(),
        warnings: plan.warnings.clone(),
        endpoints,
    }
}

async fn probe<R: Resolver, D: Dialer>(
    ep: &Endpoint,
    plan: &Plan,
    resolver: &R,
    dialer: &D,
    deadline: Instant,
) -> EndpointReport {
    let dns = resolver.resolve(&ep.host, deadline).await;
    let dials =
        join_all(dns.ipv4.iter().map(|ip| dialer.dial(SocketAddr::new(IpAddr::V4(*ip), ep.port), deadline))).await;

    let addresses: Vec<AddressReport> = dns
        .ipv4
        .iter()
        .map(|ip| IpAddr::V4(*ip))
        .chain(dns.ipv6.iter().map(|ip| IpAddr::V6(*ip)))
        .map(|ip| AddressReport { ip, scope: scope(ip, &plan.known_cidrs) })
        .collect();
    let scopes: Vec<_> = addresses.iter().map(|a| a.scope).collect();
    let outcomes: Vec<_> = dials.iter().map(|d| d.outcome).collect();
    EndpointReport {
        service: ep.service,
        host: ep.host.clone(),
        port: ep.port,
        access_type: classify(&scopes, plan.task.public_ip.assigned),
        reachability: reachability(&outcomes),
        dns: DnsReport {
            outcome: dns.outcome,
            duration_ms: millis(dns.duration),
            server: dns.server.map(|s| s.to_string()),
            cname_chain: dns.cname_chain,
            addresses,
            error: dns.error,
        },
        connections: dials
            .into_iter()
            .map(|d| ConnectionReport {
                ip: d.addr.ip(),
                outcome: d.outcome,
                duration_ms: millis(d.duration),
                error: d.error,
            })
            .collect(),
        hints: Vec::new(),
    }
}

/// The whole check as the CLI and the agent run it: task metadata (when in ECS), the system's
/// resolvers, direct TCP. Fails only on settings that leave no region.
pub async fn check_once<D: Dialer>(
    settings: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    dialer: &D,
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
    Ok(run(&plan, &resolver, dialer, started).await)
}
