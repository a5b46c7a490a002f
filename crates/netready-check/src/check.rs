//! One check: every endpoint probed in parallel under one deadline — its A and AAAA
//! queries asked together, each address dialled as soon as its answer arrives, then the TLS
//! handshake — classified and decided into a [`Report`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::classify::{Scope, classify, reachability, scope, special_purpose};
use crate::dial::{Connection, Dialer, DirectDialer, TcpOutcome, fair_budget};
use crate::dns::{Lookup, LookupOutcome, QueryType, RESOLV_CONF, ResolvConf, Resolver, StubResolver};
use crate::endpoints::Endpoint;
use crate::metadata::{HttpMetadata, METADATA_URI_VAR, MetadataSource, TaskMetadata};
use crate::network::{self, Discovered, NetworkSource};
use crate::report::{
    AddressReport, ConnectionReport, DnsOutcome, DnsReport, EndpointReport, Family, NotDialled, ProbeInfo, QueryReport,
    Report, SCHEMA_VERSION,
};
use crate::settings::{Plan, Settings, SettingsError};
use crate::tls::{TlsOutcome, TlsProbe};
use crate::types::millis;

/// Runs the probes of `plan` and builds the report. `started` is when the check began (metadata
/// lookups included), for `checked_at` and `duration_ms`.
pub async fn run<R: Resolver, D: Dialer>(
    plan: &Plan,
    resolver: &R,
    dialer: &D,
    started: (SystemTime, Instant),
) -> Report {
    let (_known, ipv6) = watch::channel(Some(plan.ipv6));
    let probed = probe_all(&plan.endpoints, started.1 + plan.timeout, &ipv6, resolver, dialer).await;
    assemble(plan, probed, started)
}

/// Every endpoint probed in parallel under one deadline. Whether AAAA answers are dialled is
/// `ipv6`'s value, which may come later (from task metadata): A answers are dialled without
/// waiting for it.
async fn probe_all<R: Resolver, D: Dialer>(
    endpoints: &[Endpoint],
    deadline: Instant,
    ipv6: &watch::Receiver<Option<bool>>,
    resolver: &R,
    dialer: &D,
) -> Vec<Probed> {
    join_all(endpoints.iter().map(|ep| probe(ep, ipv6, resolver, dialer, deadline))).await
}

/// The report of the probes' results, read with what the plan says about the task.
fn assemble(plan: &Plan, probed: Vec<Probed>, started: (SystemTime, Instant)) -> Report {
    let endpoints: Vec<EndpointReport> =
        plan.endpoints.iter().zip(probed).map(|(ep, p)| endpoint_report(ep, plan, p)).collect();
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
        diagnosis: None,
    }
    .with_hints()
}

impl Report {
    /// Every endpoint's hints, from its results and the task (public IP, subnet) and the other
    /// endpoints (S3 next to interface endpoints). Replaces what was there.
    pub fn with_hints(mut self) -> Report {
        let hints = crate::hints::for_report(&self);
        for (ep, hints) in self.endpoints.iter_mut().zip(hints) {
            ep.hints = hints.into_iter().map(|h| h.text).collect();
        }
        self
    }
}

/// Whether an answer of this family is dialled at all (IPv6 only when the task has IPv6).
fn family_dialled(ip: IpAddr, ipv6: bool) -> bool {
    ip.is_ipv4() || ipv6
}

/// Whether AAAA answers are dialled, once known (`None`: not yet; a closed channel: no).
async fn ipv6_dialled(ipv6: &watch::Receiver<Option<bool>>) -> bool {
    let mut rx = ipv6.clone();
    rx.wait_for(Option::is_some).await.map(|v| v.unwrap_or(false)).unwrap_or(false)
}

/// One query, then a connection to each of its addresses that is dialled, as soon as it arrives.
async fn resolve_and_dial<R: Resolver, D: Dialer>(
    ep: &Endpoint,
    query: QueryType,
    ipv6: &watch::Receiver<Option<bool>>,
    resolver: &R,
    dialer: &D,
    deadline: Instant,
) -> (Lookup, Vec<Connection>) {
    let lookup = resolver.lookup(&ep.host, query, deadline).await;
    let candidates: Vec<IpAddr> =
        lookup.addresses.iter().copied().filter(|ip| special_purpose(*ip).is_none()).collect();
    let ipv6 = if candidates.iter().any(IpAddr::is_ipv6) { ipv6_dialled(ipv6).await } else { false };
    let dialled = candidates.into_iter().filter(|ip| family_dialled(*ip, ipv6));
    let connections = join_all(dialled.map(|ip| dialer.dial(SocketAddr::new(ip, ep.port), &ep.host, deadline))).await;
    (lookup, connections)
}

/// What one endpoint's probes found, before it is read against the task.
struct Probed {
    a: Lookup,
    aaaa: Lookup,
    connections: Vec<Connection>,
}

async fn probe<R: Resolver, D: Dialer>(
    ep: &Endpoint,
    ipv6: &watch::Receiver<Option<bool>>,
    resolver: &R,
    dialer: &D,
    deadline: Instant,
) -> Probed {
    let ((a, a_conns), (aaaa, aaaa_conns)) = tokio::join!(
        resolve_and_dial(ep, QueryType::A, ipv6, resolver, dialer, deadline),
        resolve_and_dial(ep, QueryType::Aaaa, ipv6, resolver, dialer, deadline),
    );
    Probed { a, aaaa, connections: a_conns.into_iter().chain(aaaa_conns).collect() }
}

/// One endpoint's report from its probes' results and the plan (the task's networks, IPv6).
fn endpoint_report(ep: &Endpoint, plan: &Plan, probed: Probed) -> EndpointReport {
    let Probed { a, aaaa, connections } = probed;
    let fair = fair_budget(plan.timeout);
    let connections: Vec<ConnectionReport> = connections.into_iter().map(|c| connection_report(c, fair)).collect();

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
    ConnectionReport { ip: c.addr.ip(), family: Family::of(c.addr.ip()), route: None, access_type: None, tcp, tls }
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

/// A check's outcome: the report, and what it was made of, so that the diagnosis can be applied
/// again with other facts (the agent reads the network again when a probe result changes).
#[derive(Debug, Clone)]
pub struct Checked {
    pub plan: Plan,
    /// The probes' report, before the diagnosis was applied.
    pub probed: Report,
    pub discovered: Discovered,
    /// The report: `probed` with `discovered` applied.
    pub report: Report,
}

impl Checked {
    /// Applies other facts to the same probe results.
    pub fn rediagnose(&mut self, discovered: Discovered) {
        self.report = network::apply(&self.probed, &self.plan.known_cidrs, &discovered);
        self.discovered = discovered;
    }
}

/// The whole check as the CLI and the agent run it: task metadata (when in ECS), the probes — the
/// system's resolvers, direct TCP and TLS — and, concurrently and by the same deadline, the task's
/// network from `network` (the AWS APIs, `--aws-api`). When the settings name the region and the
/// registry id, the endpoints are known before the metadata answers: the probes start at once and
/// the metadata is read beside them (it decides only whether AAAA answers are dialled, and how
/// addresses are read). Fails only on settings that leave no region.
///
/// `started` is when the check began for whoever waits for it — for `netready check`, the
/// process's start — and the deadline is `--timeout` from then: the time spent before the first
/// query (loading, task metadata) counts against it, so the whole check ends within the deadline
/// plus the time to write the report.
pub async fn check_once<N: NetworkSource>(
    settings: &Settings,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    tls: Option<&Arc<TlsProbe>>,
    network: &N,
    started: std::time::Instant,
) -> Result<Checked, SettingsError> {
    let wall = SystemTime::now().checked_sub(started.elapsed()).unwrap_or_else(SystemTime::now);
    let started = (wall, Instant::from_std(started));
    let uri = env(METADATA_URI_VAR).filter(|v| !v.is_empty());
    let (conf, resolv_warnings) = ResolvConf::load(RESOLV_CONF);
    let resolver = StubResolver::new(conf.nameservers);
    let dialer = match (settings.tls, tls) {
        (true, Some(probe)) => DirectDialer::with_tls(probe.clone()),
        _ => DirectDialer::tcp_only(),
    };
    let settings = Settings { tls: dialer.tls_enabled(), ..settings.clone() };
    let (ipv6_tx, ipv6) = watch::channel(None);
    let planned = async {
        let (metadata, mut warnings) = match &uri {
            Some(uri) => task_metadata(uri).await,
            None => (None, Vec::new()),
        };
        warnings.extend(resolv_warnings);
        let plan = settings.plan(metadata.as_ref(), env, warnings)?;
        ipv6_tx.send_replace(Some(plan.ipv6));
        Ok::<_, SettingsError>(plan)
    };
    let (probed, planned) = match settings.endpoints_without_metadata().filter(|_| uri.is_some()) {
        // The metadata, then the AWS APIs, beside the probes already under way.
        Some(endpoints) => {
            let deadline = started.1 + settings.timeout;
            let planned = async {
                let plan = planned.await?;
                let discovered = read_network(network, &plan, deadline).await;
                Ok((plan, discovered))
            };
            tokio::join!(probe_all(&endpoints, deadline, &ipv6, &resolver, &dialer), planned)
        }
        // The metadata first (it decides the endpoints), then the probes and the AWS APIs together.
        None => {
            let plan = planned.await?;
            let deadline = started.1 + plan.timeout;
            let (probed, discovered) = tokio::join!(
                probe_all(&plan.endpoints, deadline, &ipv6, &resolver, &dialer),
                read_network(network, &plan, deadline)
            );
            (probed, Ok((plan, discovered)))
        }
    };
    let (plan, discovered) = planned?;
    let mut probed = assemble(&plan, probed, started);
    // The trust store loaded while the probes ran; what it says is known now.
    if let Some(probe) = tls.filter(|_| plan.tls) {
        probed.warnings.extend(probe.warnings().await);
    }
    let mut report = network::apply(&probed, &plan.known_cidrs, &discovered);
    // The check took as long as its slower half (never longer than the deadline, plus a little).
    report.duration_ms = millis(started.1.elapsed());
    Ok(Checked { plan, probed, discovered, report })
}

/// The task's network from `network`, or why not by `deadline`.
async fn read_network<N: NetworkSource>(network: &N, plan: &Plan, deadline: Instant) -> Discovered {
    match tokio::time::timeout_at(deadline, network.read(&plan.task, deadline)).await {
        Ok(discovered) => discovered,
        Err(_) => Discovered::unavailable(
            network.mode(),
            "reading the network from the AWS APIs did not finish within the check's deadline (--timeout)",
            Vec::new(),
        ),
    }
}

/// What task metadata says, or a warning why it could not be read.
async fn task_metadata(uri: &str) -> (Option<TaskMetadata>, Vec<String>) {
    let fetched = match HttpMetadata::new(uri) {
        Ok(source) => source.fetch().await,
        Err(e) => Err(e),
    };
    match fetched {
        Ok((meta, warnings)) => (Some(meta), warnings),
        Err(e) => (None, vec![format!("task metadata unavailable: {e}")]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! `run` driven by a scripted resolver and dialer: no network, no root. Time is tokio's paused
    //! clock, so deadlines are exact.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::classify::AccessType;
    use crate::dial::TcpReport;
    use crate::report::{ProxyInfo, PublicIp, PublicIpSource, TaskInfo};
    use crate::tls::TlsReport;
    use crate::types::{Region, ServiceKey};

    /// Answers per (host, query type): the addresses and how long the answer takes.
    #[derive(Default)]
    struct FakeResolver {
        answers: HashMap<(String, QueryType), (Vec<IpAddr>, Duration)>,
    }

    impl Resolver for FakeResolver {
        async fn lookup(&self, host: &str, query: QueryType, deadline: Instant) -> Lookup {
            let started = Instant::now();
            let (addresses, delay) = self.answers.get(&(host.to_owned(), query)).cloned().unwrap_or_default();
            let outcome = if started + delay > deadline {
                tokio::time::sleep_until(deadline).await;
                LookupOutcome::Timeout
            } else {
                tokio::time::sleep(delay).await;
                if addresses.is_empty() { LookupOutcome::NoRecords } else { LookupOutcome::Ok }
            };
            let addresses = if outcome == LookupOutcome::Ok { addresses } else { Vec::new() };
            Lookup {
                query,
                outcome,
                duration: started.elapsed(),
                server: None,
                cname_chain: vec![],
                addresses,
                failures: vec![],
            }
        }
    }

    /// Addresses in `hang` never answer (until the deadline); the others connect at once, with a
    /// TLS handshake when `tls`. Remembers every address dialled.
    #[derive(Default)]
    struct FakeDialer {
        hang: Vec<IpAddr>,
        tls: bool,
        dialled: Mutex<Vec<IpAddr>>,
    }

    impl Dialer for FakeDialer {
        async fn dial(&self, addr: SocketAddr, _host: &str, deadline: Instant) -> Connection {
            self.dialled.lock().unwrap().push(addr.ip());
            let started = Instant::now();
            let budget_ms = millis(deadline.saturating_duration_since(started));
            if self.hang.contains(&addr.ip()) {
                tokio::time::sleep_until(deadline).await;
                let tcp = TcpReport { outcome: TcpOutcome::Timeout, duration_ms: millis(started.elapsed()), budget_ms };
                return Connection { addr, tcp, tls: None };
            }
            let tcp = TcpReport { outcome: TcpOutcome::Ok, duration_ms: 0, budget_ms };
            let tls = self.tls.then(|| TlsReport {
                outcome: TlsOutcome::Ok,
                duration_ms: 0,
                budget_ms,
                version: Some("TLSv1.3".into()),
                certificate: None,
                retry: None,
            });
            Connection { addr, tcp, tls }
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn plan(timeout: Duration, ipv6: bool) -> Plan {
        let region: Region = "eu-west-3".parse().unwrap();
        Plan {
            endpoints: crate::endpoints::endpoints(&region, Some(&"111122223333".parse().unwrap()), 443),
            timeout,
            known_cidrs: vec!["10.0.0.0/16".parse().unwrap(), "2600:1f18:4a3:6900::/56".parse().unwrap()],
            task: TaskInfo {
                region: region.to_string(),
                partition: "aws".into(),
                account_id: None,
                task_arn: None,
                cluster: None,
                availability_zone: None,
                private_ipv4: Some("10.0.1.10".into()),
                subnet_cidr: Some("10.0.1.0/24".into()),
                private_ipv6: None,
                ipv6_subnet_cidr: None,
                public_ip: PublicIp { assigned: Some(false), address: None, source: PublicIpSource::Config },
            },
            proxy: ProxyInfo { configured: false, variables: vec![] },
            warnings: vec![],
            tls: true,
            ipv6,
            region,
        }
    }

    /// Every endpoint answers A with `10.0.2.1x` at once, unless `overrides` says otherwise.
    fn resolver(overrides: &[(&str, QueryType, &[&str], u64)]) -> FakeResolver {
        let mut r = FakeResolver::default();
        let region: Region = "eu-west-3".parse().unwrap();
        for (i, ep) in
            crate::endpoints::endpoints(&region, Some(&"111122223333".parse().unwrap()), 443).iter().enumerate()
        {
            r.answers.insert((ep.host.clone(), QueryType::A), (vec![ip(&format!("10.0.2.1{i}"))], Duration::ZERO));
        }
        for (host, q, addrs, ms) in overrides {
            r.answers
                .insert(((*host).to_owned(), *q), (addrs.iter().map(|a| ip(a)).collect(), Duration::from_millis(*ms)));
        }
        r
    }

    async fn run_with(plan: &Plan, resolver: &FakeResolver, dialer: &FakeDialer) -> Report {
        run(plan, resolver, dialer, (SystemTime::now(), Instant::now())).await
    }

    fn ep(report: &Report, service: ServiceKey) -> &EndpointReport {
        report.endpoints.iter().find(|e| e.service == service).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_healthy_check_is_ready_and_says_how_it_probed() {
        let report = run_with(
            &plan(Duration::from_secs(5), false),
            &resolver(&[]),
            &FakeDialer { tls: true, ..Default::default() },
        )
        .await;
        assert_eq!(report.status, crate::Status::Ready);
        assert_eq!(report.schema_version, 4);
        assert_eq!(report.probe, ProbeInfo { tls: true, ipv6: false, timeout_ms: 5000 });
        assert!(report.endpoints.iter().all(|e| e.access_type == AccessType::VpcEndpoint && e.hints.is_empty()));
    }

    #[tokio::test(start_paused = true)]
    async fn only_dialled_addresses_decide_and_ipv6_is_dialled_only_with_ipv6() {
        let host = "secretsmanager.eu-west-3.amazonaws.com";
        // A: a private interface endpoint address. AAAA: a public address (outside known CIDRs).
        let r = resolver(&[(host, QueryType::Aaaa, &["2a05:d012::10"], 0)]);
        let dialer = FakeDialer::default();
        let report = run_with(&plan(Duration::from_secs(5), false), &r, &dialer).await;
        let e = ep(&report, ServiceKey::SecretsManager);
        assert_eq!(e.access_type, AccessType::VpcEndpoint, "the undialled AAAA has no say");
        assert_eq!(e.connections.len(), 1);
        assert_eq!(e.dns.addresses[1].not_dialled, Some(NotDialled::TaskHasNoIpv6));
        assert!(!dialer.dialled.lock().unwrap().contains(&ip("2a05:d012::10")));

        let dialer = FakeDialer::default();
        let report = run_with(&plan(Duration::from_secs(5), true), &r, &dialer).await;
        let e = ep(&report, ServiceKey::SecretsManager);
        assert_eq!(e.connections.len(), 2);
        assert_eq!(e.access_type, AccessType::NatGateway, "a dialled public address decides");
        assert!(dialer.dialled.lock().unwrap().contains(&ip("2a05:d012::10")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sinkhole_is_never_dialled_and_not_reachable() {
        let host = "logs.eu-west-3.amazonaws.com";
        let r = resolver(&[(host, QueryType::A, &["0.0.0.0"], 0), (host, QueryType::Aaaa, &["::"], 0)]);
        let dialer = FakeDialer::default();
        let report = run_with(&plan(Duration::from_secs(5), false), &r, &dialer).await;
        let e = ep(&report, ServiceKey::Logs);
        assert_eq!(e.dns.outcome.as_str(), "sinkhole");
        assert_eq!(e.reachability, crate::classify::Reachability::None);
        assert_eq!(e.access_type, AccessType::Unknown);
        assert!(e.connections.is_empty());
        assert!(!dialer.dialled.lock().unwrap().contains(&ip("0.0.0.0")));
        assert_eq!(report.status, crate::Status::Degraded);
        assert!(e.hints[0].contains("DNS sinkhole"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_shared_and_a_sliver_is_not_a_security_group_timeout() {
        let timeout = Duration::from_secs(2);
        // logs: DNS takes 1.9 s of 2 s, and its address never answers. ecr_api: DNS is instant and
        // its address never answers either.
        let r = resolver(&[("logs.eu-west-3.amazonaws.com", QueryType::A, &["10.0.2.11"], 1900)]);
        let dialer = FakeDialer { hang: vec![ip("10.0.2.11"), ip("10.0.2.12")], ..Default::default() };
        let started = Instant::now();
        let report = run_with(&plan(timeout, false), &r, &dialer).await;
        assert_eq!(started.elapsed(), timeout, "every endpoint ends at the one deadline");
        let logs = ep(&report, ServiceKey::Logs);
        assert_eq!(logs.connections[0].tcp.outcome, TcpOutcome::OutOfTime);
        assert_eq!(logs.connections[0].tcp.budget_ms, 100);
        assert!(logs.hints.iter().all(|h| !h.contains("security group")), "{:?}", logs.hints);
        assert!(logs.hints[0].contains("not evidence of a blocked path"), "{:?}", logs.hints);
        let api = ep(&report, ServiceKey::EcrApi);
        assert_eq!(api.connections[0].tcp.outcome, TcpOutcome::Timeout);
        assert!(api.hints[0].contains("security group"), "{:?}", api.hints);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_when_the_check_began_not_from_the_first_query() {
        // The process took 300 ms to get here (loading, task metadata): the probes get what is
        // left of the 2 s, and the report's duration is the whole wait.
        let timeout = Duration::from_secs(2);
        tokio::time::advance(Duration::from_millis(300)).await;
        let began = Instant::now() - Duration::from_millis(300);
        let dialer = FakeDialer { hang: vec![ip("10.0.2.11")], ..Default::default() };
        let r = resolver(&[]);
        let probes_started = Instant::now();
        let report = run(&plan(timeout, false), &r, &dialer, (SystemTime::now(), began)).await;
        assert_eq!(probes_started.elapsed(), Duration::from_millis(1700), "ends at began + timeout");
        assert_eq!(report.duration_ms, 2000);
        let logs = ep(&report, ServiceKey::Logs);
        assert_eq!(logs.connections[0].tcp.outcome, TcpOutcome::Timeout);
        assert_eq!(logs.connections[0].tcp.budget_ms, 1700);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_aaaa_answer_does_not_eat_the_ipv4_connection_budget() {
        let host = "s3.eu-west-3.amazonaws.com";
        // The AAAA answer takes 1.5 s; the A address is dialled as soon as A answers, with the
        // whole deadline, and the AAAA answer still arrives and is reported.
        let r = resolver(&[(host, QueryType::Aaaa, &["2a05:d012::14"], 1500)]);
        let dialer = FakeDialer::default();
        let report = run_with(&plan(Duration::from_secs(2), false), &r, &dialer).await;
        let s3 = ep(&report, ServiceKey::S3);
        assert_eq!(s3.connections[0].tcp.budget_ms, 2000);
        assert_eq!(s3.dns.addresses.len(), 2);
        assert_eq!(s3.dns.queries[1].duration_ms, 1500);
        assert_eq!(s3.dns.duration_ms, 1500);
    }

    #[tokio::test(start_paused = true)]
    async fn hints_see_the_other_endpoints() {
        // S3 public next to four interface endpoints gets the gateway-endpoint note; alone it does not.
        let r = resolver(&[("s3.eu-west-3.amazonaws.com", QueryType::A, &["52.95.1.1"], 0)]);
        let report = run_with(&plan(Duration::from_secs(5), false), &r, &FakeDialer::default()).await;
        assert!(ep(&report, ServiceKey::S3).hints.iter().any(|h| h.contains("S3 gateway endpoint")));
        let mut public = resolver(&[]);
        for v in public.answers.values_mut() {
            v.0 = vec![ip("52.95.1.1")];
        }
        let report = run_with(&plan(Duration::from_secs(5), false), &public, &FakeDialer::default()).await;
        assert!(ep(&report, ServiceKey::S3).hints.is_empty(), "{:?}", ep(&report, ServiceKey::S3).hints);
    }
}
