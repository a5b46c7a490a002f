//! The fleet at a glance: what is broken across the runners, and what the broken ones share.
//!
//! At ingest, [`facts`] reduces a typed report to where its task runs ([`Placement`]) and one
//! [`EndpointFacts`] per service; the writer keeps them as rows per runner and endpoint
//! (`runner_endpoints`), and [`Store::fleet`](crate::db::Store::fleet) groups those rows in the
//! database. This module turns the groups into the answer of `GET /api/v1/fleet` and the
//! dashboard's fleet page, with one line per cause: "logs unreachable on 12 runners, all in
//! 10.0.3.0/24 (eu-west-3b), TCP timeout".

use netready_check::Report;
use netready_check::classify::{AccessType, Reachability};
use netready_check::report::{DnsOutcome, Severity};
use netready_check::types::ServiceKey;
use serde::Serialize;

use crate::db::{CauseKey, CauseRow, EndpointFacts, FleetData, FleetFilter, FleetRunners, Placement, Values};
use crate::error::ApiError;
use crate::readiness::Phase;

/// The required services, in the order every report lists them.
pub const SERVICES: [ServiceKey; 5] = ServiceKey::ALL;

/// Default and largest number of causes (and of groups) in one answer.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Where the task runs and how each endpoint fared. Pure. The subnet CIDR, zone and account come
/// from task metadata (the zone from the diagnosis when metadata lacks it); the subnet id and the
/// VPC only from the AWS API diagnosis (version 3): `None` without it. One entry per service, the
/// first when a report names one twice.
pub fn facts(report: &Report) -> (Placement, Vec<EndpointFacts>) {
    let network = report.diagnosis.as_ref().and_then(|d| d.network.as_ref());
    let placement = Placement {
        region: report.task.region.clone(),
        subnet_cidr: report.task.subnet_cidr.clone(),
        subnet_id: network.map(|n| n.subnet_id.clone()),
        availability_zone: report
            .task
            .availability_zone
            .clone()
            .or_else(|| network.map(|n| n.availability_zone.clone())),
        vpc_id: network.map(|n| n.vpc_id.clone()),
        account_id: report.task.account_id.clone(),
    };
    let mut endpoints: Vec<EndpointFacts> = Vec::new();
    for e in &report.endpoints {
        let service = e.service;
        if endpoints.iter().any(|f| f.service == service) {
            continue;
        }
        let (phase, outcome) = if e.reachability == Reachability::Full {
            (None, None)
        } else if e.dns.outcome != DnsOutcome::Ok {
            (Some(Phase::Dns), Some(e.dns.outcome.as_str()))
        } else if let Some((phase, outcome)) =
            e.connections.iter().find_map(|c| c.failure().map(|(_, outcome, _)| (Phase::of_connection(c), outcome)))
        {
            (Some(phase), Some(outcome))
        } else {
            // Resolved, but nothing that counts was dialled (a special-purpose or IPv6-only answer).
            (Some(Phase::Address), Some("not_dialled"))
        };
        let finding = report.diagnosis.as_ref().and_then(|d| {
            let naming = || d.findings.iter().filter(|f| f.endpoints.contains(&service));
            naming().find(|f| f.severity == Severity::Error).or_else(|| naming().next()).map(|f| f.id.clone())
        });
        endpoints.push(EndpointFacts {
            service,
            reachability: e.reachability,
            access_type: e.access_type,
            phase,
            outcome: outcome.map(str::to_owned),
            hint: if phase.is_some() { e.hints.first().cloned() } else { None },
            finding: if phase.is_some() { finding } else { None },
        });
    }
    (placement, endpoints)
}

/// `GET /api/v1/fleet`'s query, as received.
#[derive(Debug, Default, serde::Deserialize)]
pub struct FleetQuery {
    pub region: Option<String>,
    pub service: Option<String>,
    /// `true` counts stale runners' newest reports too.
    pub include_stale: Option<String>,
    pub limit: Option<String>,
}

/// The query, checked: every rejection is a 400 that names the parameter.
pub fn filter_of(query: &FleetQuery, now_ms: i64, stale_after_ms: i64) -> Result<FleetFilter, ApiError> {
    let nonempty = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    let region = nonempty(&query.region);
    if let Some(r) = &region {
        let ok = r.len() <= 32 && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(ApiError::bad_request(format!(
                "region '{}' is not a region name: expected lower-case letters, digits and '-' such as eu-west-3",
                r.chars().take(40).collect::<String>()
            )));
        }
    }
    let service = match nonempty(&query.service) {
        None => None,
        Some(s) => Some(ServiceKey::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = SERVICES.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!(
                "unknown service '{}': expected one of {}",
                s.chars().take(40).collect::<String>(),
                known.join(", ")
            ))
        })?),
    };
    let limit = match nonempty(&query.limit) {
        None => DEFAULT_LIMIT,
        Some(s) => s.parse::<i64>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request(format!(
                "limit '{}' is not a number from 1 to {MAX_LIMIT}",
                s.chars().take(40).collect::<String>()
            ))
        })?,
    };
    // Absent is false; present, it is true or false as the OpenAPI document says (an empty value
    // is neither).
    let include_stale = match query.include_stale.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include_stale '{}' is not a boolean: expected true or false",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let stale_before_ms = now_ms - stale_after_ms;
    Ok(FleetFilter {
        fresh_since_ms: if include_stale { i64::MIN } else { stale_before_ms },
        stale_before_ms,
        region,
        service,
        limit,
    })
}

/// The answer of `GET /api/v1/fleet` (documented in the OpenAPI document as `Fleet`).
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    pub generated_at: String,
    /// Whether stale runners' newest reports are counted.
    pub include_stale: bool,
    pub runners: FleetRunners,
    pub services: Vec<ServiceReach>,
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub runners: i64,
    pub full: i64,
    pub partial: i64,
    pub none: i64,
}

/// One service in one region: how many runners reach it, and through which access type.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReach {
    pub service: ServiceKey,
    pub region: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub by_access_type: Vec<AccessReach>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessReach {
    pub access_type: AccessType,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Degraded endpoints that share service, region, reachability, access type and failing phase.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    /// The cause in one line, for people.
    pub summary: String,
    pub service: ServiceKey,
    pub region: String,
    pub reachability: Reachability,
    pub access_type: AccessType,
    pub phase: Option<Phase>,
    pub outcome: Option<String>,
    pub runners: i64,
    /// What all its runners share: the value when they all have the same, else `null`.
    pub subnet_cidr: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
    /// How many distinct subnets, zones, VPCs, accounts the runners are in (those that are known).
    pub spread: Spread,
    /// The first hint of an endpoint of its largest group (hints name the subnet and addresses).
    pub hint: Option<String>,
    /// A diagnosis finding that names the endpoint (version 3 reports with the AWS API).
    pub finding: Option<String>,
    /// The runners by where they are, most first.
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub subnets: i64,
    pub availability_zones: i64,
    pub vpcs: i64,
    pub accounts: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub runners: i64,
    pub subnet_cidr: Option<String>,
    pub availability_zone: Option<String>,
    pub vpc_id: Option<String>,
    pub account_id: Option<String>,
}

fn service_order(s: ServiceKey) -> usize {
    SERVICES.iter().position(|x| *x == s).unwrap_or(SERVICES.len())
}

/// The value all of a cause's runners share, if they all know it and agree.
fn all_share(s: &Values, runners: i64) -> Option<String> {
    (s.distinct == 1 && s.known == runners).then(|| s.one.clone()).flatten()
}

/// "logs unreachable on 12 runners, all in 10.0.3.0/24 (eu-west-3b), TCP timeout".
pub fn summary_line(c: &Cause) -> String {
    let state = match c.reachability {
        Reachability::None => "unreachable",
        Reachability::Partial => "partly reachable",
        Reachability::Full => Reachability::Full.as_str(),
    };
    let runners = if c.runners == 1 { "1 runner".to_owned() } else { format!("{} runners", c.runners) };
    let mut line = format!("{} {state} on {runners}", c.service);
    let place = match (&c.subnet_cidr, &c.availability_zone) {
        (Some(cidr), Some(az)) => Some(format!("{cidr} ({az})")),
        (Some(cidr), None) => Some(cidr.clone()),
        (None, Some(az)) => Some(az.clone()),
        (None, None) => None,
    };
    let all = if c.runners == 1 { "in" } else { "all in" };
    match place {
        Some(place) => line.push_str(&format!(", {all} {place}")),
        None if c.spread.subnets > 1 => line.push_str(&format!(
            ", in {} subnets{}",
            c.spread.subnets,
            if c.spread.availability_zones > 1 {
                format!(" and {} zones", c.spread.availability_zones)
            } else {
                String::new()
            }
        )),
        None => {}
    }
    if let Some(vpc) = &c.vpc_id {
        line.push_str(&format!(", {vpc}"));
    }
    match (c.phase, c.outcome.as_deref()) {
        (Some(Phase::Address), _) => line.push_str(", no address dialled"),
        (Some(phase), Some(outcome)) => line.push_str(&format!(", {} {}", phase.as_str().to_uppercase(), outcome)),
        _ => {}
    }
    line
}

/// Builds the answer from the database's groups.
pub fn assemble(data: FleetData, include_stale: bool, now_ms: i64) -> Fleet {
    let mut services: Vec<ServiceReach> = Vec::new();
    for r in data.reach {
        let counts = Counts { runners: r.full + r.partial + r.none, full: r.full, partial: r.partial, none: r.none };
        let access = AccessReach { access_type: r.access_type, counts: counts.clone() };
        match services.iter_mut().find(|s| s.service == r.service && s.region == r.region) {
            Some(s) => {
                s.counts.runners += counts.runners;
                s.counts.full += counts.full;
                s.counts.partial += counts.partial;
                s.counts.none += counts.none;
                s.by_access_type.push(access);
            }
            None => services.push(ServiceReach {
                service: r.service,
                region: r.region,
                counts,
                by_access_type: vec![access],
            }),
        }
    }
    services.sort_by(|a, b| (service_order(a.service), &a.region).cmp(&(service_order(b.service), &b.region)));
    for s in &mut services {
        s.by_access_type.sort_by(|a, b| {
            b.counts.runners.cmp(&a.counts.runners).then(a.access_type.as_str().cmp(b.access_type.as_str()))
        });
    }
    let mut causes: Vec<Cause> = data.causes.into_iter().map(|c| cause_of(c, &data.groups)).collect();
    for c in &mut causes {
        c.summary = summary_line(c);
    }
    Fleet { generated_at: crate::time::rfc3339_ms(now_ms), include_stale, runners: data.runners, services, causes }
}

fn cause_of(c: CauseRow, groups: &[crate::db::GroupRow]) -> Cause {
    let CauseKey { service, region, reachability, access_type, phase, outcome } = c.key.clone();
    Cause {
        summary: String::new(),
        subnet_cidr: all_share(&c.subnet_cidr, c.runners),
        availability_zone: all_share(&c.availability_zone, c.runners),
        vpc_id: all_share(&c.vpc_id, c.runners),
        account_id: all_share(&c.account_id, c.runners),
        spread: Spread {
            subnets: c.subnet_cidr.distinct,
            availability_zones: c.availability_zone.distinct,
            vpcs: c.vpc_id.distinct,
            accounts: c.account_id.distinct,
        },
        groups: groups
            .iter()
            .filter(|g| g.key == c.key)
            .map(|g| Group {
                runners: g.runners,
                subnet_cidr: g.subnet_cidr.clone(),
                availability_zone: g.availability_zone.clone(),
                vpc_id: g.vpc_id.clone(),
                account_id: g.account_id.clone(),
            })
            .collect(),
        service,
        region,
        reachability,
        access_type,
        phase,
        outcome,
        runners: c.runners,
        // The hint of the cause's largest group names that group's subnet; any other as a fallback.
        hint: groups.iter().find(|g| g.key == c.key).and_then(|g| g.hint.clone()).or(c.hint),
        finding: c.finding,
    }
}

/// The fleet, for the API and the page.
pub async fn fleet(state: &crate::state::AppState, query: &FleetQuery) -> Result<Fleet, ApiError> {
    let now = crate::time::now_ms();
    let filter = filter_of(query, now, state.stale_after_ms)?;
    let include_stale = filter.fresh_since_ms == i64::MIN;
    let data = state.store.fleet(&filter).await?;
    Ok(assemble(data, include_stale, now))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(text: &str) -> Report {
        Report::from_value(serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn a_version_2_report_has_no_vpc_and_names_the_failing_phase() {
        let (p, e) = facts(&fixture(include_str!("../../../tests/fixtures/report-v2-degraded.json")));
        assert_eq!(p.region, "eu-west-3");
        assert_eq!(p.subnet_cidr.as_deref(), Some("10.0.1.0/24"));
        assert_eq!((p.vpc_id, p.subnet_id), (None, None), "only the AWS API diagnosis names them");
        let services: Vec<&str> = e.iter().map(|f| f.service.as_str()).collect();
        assert_eq!(services, ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"]);
        let logs = &e[1];
        assert_eq!(
            (logs.reachability.as_str(), logs.phase.map(Phase::as_str), logs.outcome.as_deref()),
            ("none", Some("tcp"), Some("timeout"))
        );
        assert!(logs.hint.as_deref().unwrap().contains("security group"), "{:?}", logs.hint);
        assert_eq!((e[0].phase, e[0].hint.as_deref()), (None, None), "a full endpoint has no cause");
    }

    #[test]
    fn a_version_3_report_carries_vpc_subnet_and_finding() {
        let (p, e) = facts(&fixture(include_str!("../../../tests/fixtures/report-v3-degraded.json")));
        assert_eq!(p.vpc_id.as_deref(), Some("vpc-0a1b2c3d4e5f6a7b8"));
        assert_eq!(p.subnet_id.as_deref(), Some("subnet-0task1a2b3c4d5e6"));
        assert_eq!(p.account_id.as_deref(), Some("111122223333"));
        assert_eq!(e[1].finding.as_deref(), Some("vpc_endpoint.ingress_denied"));
        assert_eq!(e[4].access_type.as_str(), "gateway_endpoint");
    }

    fn cause(runners: i64, cidr: Option<&str>, az: Option<&str>, subnets: i64) -> Cause {
        Cause {
            summary: String::new(),
            service: ServiceKey::Logs,
            region: "eu-west-3".into(),
            reachability: Reachability::None,
            access_type: AccessType::VpcEndpoint,
            phase: Some(Phase::Tcp),
            outcome: Some("timeout".into()),
            runners,
            subnet_cidr: cidr.map(Into::into),
            availability_zone: az.map(Into::into),
            vpc_id: None,
            account_id: None,
            spread: Spread { subnets, availability_zones: 1, vpcs: 0, accounts: 1 },
            hint: None,
            finding: None,
            groups: vec![],
        }
    }

    #[test]
    fn one_line_per_cause() {
        assert_eq!(
            summary_line(&cause(12, Some("10.0.3.0/24"), Some("eu-west-3b"), 1)),
            "logs unreachable on 12 runners, all in 10.0.3.0/24 (eu-west-3b), TCP timeout"
        );
        assert_eq!(summary_line(&cause(3, None, None, 3)), "logs unreachable on 3 runners, in 3 subnets, TCP timeout");
        let mut c = cause(1, None, Some("eu-west-3a"), 0);
        c.reachability = Reachability::Partial;
        c.phase = Some(Phase::Tls);
        c.outcome = Some("reset".into());
        assert_eq!(summary_line(&c), "logs partly reachable on 1 runner, in eu-west-3a, TLS reset");
    }

    #[test]
    fn bad_parameters_are_named() {
        let q = |region: &str, service: &str, stale: &str, limit: &str| FleetQuery {
            region: Some(region.into()),
            service: Some(service.into()),
            include_stale: Some(stale.into()),
            limit: Some(limit.into()),
        };
        assert!(filter_of(&q("eu-west-3", "logs", "true", "5"), 0, 1).is_ok());
        for (bad, name) in [
            (q("EU WEST", "", "", ""), "region"),
            (q("", "lambda", "", ""), "service"),
            (q("", "", "yes", ""), "include_stale"),
            (q("", "", "", ""), "include_stale"),
            (q("", "", "", "0"), "limit"),
            (q("", "", "", "1001"), "limit"),
        ] {
            let e = filter_of(&bad, 0, 1).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(name), "{}", e.message);
        }
    }
}
