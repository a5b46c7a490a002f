//! `netready diagnose`'s report from what was read ([`crate::read`]): a subnet per task, the
//! addresses per service from the model of the task's resolver (or given with `--address`, or
//! resolved where netready runs with `--resolve local`), every hop and a verdict per service
//! (`netready-diagnose`'s rules), a stopped task's reasons.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netready_check::classify::special_purpose;
use netready_check::dns::{QueryType, RESOLV_CONF, ResolvConf, Resolver, StubResolver};
use netready_check::endpoints::Endpoint;
use netready_diagnose::dns::{self, AddressSource, Answer, DnsModel, SourcedAddress};
use netready_diagnose::facts::NetworkFacts;
use netready_diagnose::report::{AwsApiNote, Report, SCHEMA_VERSION, Subject as Named, SubjectKind, SubnetReport};
use netready_diagnose::{Finding, ServiceKey, Severity, stopped, verdict};

use netready_diagnose::AwsApi;

use crate::discovery::{Network, Read};

/// What the diagnosis was asked, beside what was read.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--aws-api`: with `required`, not being able to read is an error finding.
    pub mode: AwsApi,
    /// `--address`: a service's addresses given instead of the model's answer.
    pub overrides: BTreeMap<ServiceKey, Vec<IpAddr>>,
    /// `--resolve local`: resolve the names where netready runs.
    pub local: bool,
    /// The subject as the report names it.
    pub named: Named,
}

/// The report from what was read: a subnet per task, the model's (or the given, or the locally
/// resolved) addresses per service.
pub async fn report(
    s: &Plan,
    region: &netready_check::types::Region,
    endpoints: &[Endpoint],
    read: Read,
    deadline: tokio::time::Instant,
) -> Report {
    let local = if s.local { Some(resolve(endpoints, deadline).await) } else { None };
    let (network, note, mut extra) = match read {
        Read::Network(n) => (Some(*n), None, Vec::new()),
        Read::Skipped(reason) => (None, Some("skipped"), vec![Finding::skipped(&reason)]),
        Read::Unavailable { reason, gaps } => {
            let severity = if s.mode == AwsApi::Required { Severity::Error } else { Severity::Warning };
            let mut found = vec![Finding::unavailable(&reason, severity)];
            let facts = NetworkFacts { gaps, region: region.to_string(), ..NetworkFacts::default() };
            found.extend(netready_diagnose::findings::findings(&facts, &[], &[]));
            (None, Some("unavailable"), found)
        }
    };
    let per_task: Vec<NetworkFacts> = match &network {
        Some(n) => n.per_task(),
        None => vec![NetworkFacts { region: region.to_string(), ..NetworkFacts::default() }],
    };
    let mut subnets = Vec::new();
    for mut facts in per_task {
        facts.region = region.to_string();
        let ipv6 = facts.eni.as_ref().is_some_and(|e| !e.ipv6.is_empty());
        let services: Vec<(ServiceKey, String, u16, DnsModel)> = endpoints
            .iter()
            .map(|e| (e.service, e.host.clone(), e.port, answer(s, &facts, e, local.as_ref(), ipv6)))
            .collect();
        let (results, findings) = verdict::evaluate(&facts, &services);
        subnets.push(SubnetReport::new(&facts, results, findings));
    }
    let stopped = network.as_ref().and_then(|n: &Network| n.stopped.clone());
    if let Some(task) = &stopped {
        let verdict_of = |service: ServiceKey| {
            let all = subnets.iter().flat_map(|s| &s.endpoints).filter(|e| e.service == service).map(|e| e.verdict);
            all.max()
        };
        extra.extend(stopped::findings(task, verdict_of));
    }
    let status = Report::status_of(&subnets);
    Report {
        schema_version: SCHEMA_VERSION,
        region: region.to_string(),
        status,
        aws_api: AwsApiNote { mode: s.mode.as_str().into(), note: note.map(str::to_owned) },
        subject: Named {
            kind: if stopped.is_some() { SubjectKind::StoppedTask } else { s.named.kind },
            ..s.named.clone()
        },
        stopped,
        subnets,
        findings: extra,
    }
}

/// The addresses of one service: given (`--address`), resolved here (`--resolve local`), or the
/// model's answer.
fn answer(
    s: &Plan,
    facts: &NetworkFacts,
    e: &Endpoint,
    local: Option<&Vec<(ServiceKey, Vec<IpAddr>, String)>>,
    ipv6: bool,
) -> DnsModel {
    let fixed = |addresses: &[IpAddr], source: AddressSource, answer: Answer, detail: String| {
        let addresses: Vec<SourcedAddress> = addresses
            .iter()
            .filter(|a| a.is_ipv4() || ipv6)
            .map(|a| SourcedAddress { address: *a, source, from: None })
            .collect();
        let unknown = addresses.is_empty().then(|| format!("no address for {}: {detail}", e.host));
        DnsModel { answer, addresses, detail, unknown, resources: Vec::new() }
    };
    if let Some(given) = s.overrides.get(&e.service) {
        return fixed(given, AddressSource::Given, Answer::Given, "given with --address".into());
    }
    if let Some(resolved) = local.and_then(|l| l.iter().find(|(k, _, _)| *k == e.service)) {
        return fixed(
            &resolved.1,
            AddressSource::Resolved,
            Answer::Resolved,
            format!("resolved where netready runs ({})", resolved.2),
        );
    }
    dns::model(facts, e.service, &e.host, ipv6)
}

/// `--resolve local`: A and AAAA for every endpoint, concurrently, from the servers of
/// /etc/resolv.conf. Special-purpose answers (sinkholes) are left out: they go nowhere.
async fn resolve(endpoints: &[Endpoint], deadline: tokio::time::Instant) -> Vec<(ServiceKey, Vec<IpAddr>, String)> {
    let (conf, _) = ResolvConf::load(RESOLV_CONF);
    let resolver = StubResolver::new(conf.nameservers);
    let lookups = endpoints.iter().map(|e| {
        let resolver = &resolver;
        async move {
            let (a, aaaa) = tokio::join!(
                resolver.lookup(&e.host, QueryType::A, deadline),
                resolver.lookup(&e.host, QueryType::Aaaa, deadline)
            );
            let mut addresses: Vec<IpAddr> = a.addresses.iter().chain(&aaaa.addresses).copied().collect();
            let sinkholed = addresses.iter().any(|ip| special_purpose(*ip).is_some());
            addresses.retain(|ip| special_purpose(*ip).is_none());
            let dns = if sinkholed {
                "sinkhole".to_owned()
            } else if addresses.is_empty() {
                format!("A {}, AAAA {}", a.outcome.as_str(), aaaa.outcome.as_str())
            } else {
                "ok".to_owned()
            };
            (e.service, addresses, dns)
        }
    });
    futures_util::future::join_all(lookups).await
}
