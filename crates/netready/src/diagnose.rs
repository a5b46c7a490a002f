//! `netready diagnose`: why an endpoint is or is not reachable, from the network's configuration.
//! Resolves the five endpoints (as the check does) while reading the task's network from the AWS
//! APIs, then prints the path of every address and the findings. Exit 0 without error-severity
//! findings, 1 with, 2 for usage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use netready_aws::{AwsApi, Discovery, Options};
use netready_check::classify::{self, Scope, special_purpose};
use netready_check::dns::{QueryType, RESOLV_CONF, ResolvConf, Resolver, StubResolver};
use netready_check::metadata::{HttpMetadata, METADATA_URI_VAR, MetadataSource, TaskMetadata};
use netready_check::{RawSettings, Sourced};
use netready_diagnose::facts::NetworkFacts;
use netready_diagnose::{AccessType, Diagnosis, EndpointAddresses, Finding, ServiceKey, Severity};
use serde_json::json;

use crate::ConfigError;
use crate::cli::{DiagnoseArgs, Output};

/// How long the whole diagnosis may take by default: DNS and the AWS API calls, concurrently.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One endpoint as resolved: its addresses and, when DNS failed, why.
struct Resolved {
    endpoint: EndpointAddresses,
    dns: String,
}

pub fn run(args: &DiagnoseArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let origin = |id: &str, flag: &'static str, var: &'static str| {
        if matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable) { var } else { flag }
    };
    let settings = RawSettings {
        region: args.region.as_deref().map(|v| Sourced::new(v, origin("region", "--region", "NETREADY_REGION"))),
        ecr_registry_id: args
            .ecr_registry_id
            .as_deref()
            .map(|v| Sourced::new(v, origin("ecr_registry_id", "--ecr-registry-id", "NETREADY_ECR_REGISTRY_ID"))),
        ..RawSettings::default()
    }
    .validate(&crate::env)?;
    let mode: AwsApi = args
        .aws_api
        .parse()
        .map_err(|e| ConfigError(format!("{}: {e}", origin("aws_api", "--aws-api", "NETREADY_AWS_API"))))?;
    let timeout = match &args.timeout {
        None => DEFAULT_TIMEOUT,
        Some(v) => netready_check::types::parse_duration(v)
            .map_err(|e| ConfigError(format!("{}: {e}", origin("timeout", "--timeout", "NETREADY_TIMEOUT"))))?,
    };
    let mut overrides: BTreeMap<ServiceKey, Vec<IpAddr>> = BTreeMap::new();
    for value in &args.addresses {
        let flag = origin("addresses", "--address", "NETREADY_ADDRESSES");
        let parsed =
            value.split_once('=').and_then(|(s, ip)| Some((ServiceKey::parse(s.trim())?, ip.trim().parse().ok()?)));
        let Some((service, ip)) = parsed else {
            return Err(ConfigError(format!(
                "{flag}: '{value}' is not SERVICE=IP (services: secretsmanager, logs, ecr_api, ecr_dkr, s3)"
            ))
            .into());
        };
        overrides.entry(service).or_default().push(ip);
    }
    let rt = crate::runtime(false)?;
    let (diagnosis, facts, meta, mode_note) = rt.block_on(async {
        let meta = match crate::env(METADATA_URI_VAR).filter(|v| !v.is_empty()) {
            Some(uri) => match HttpMetadata::new(&uri) {
                Ok(source) => source.fetch().await.ok().map(|(m, _)| m),
                Err(_) => None,
            },
            None => None,
        };
        let meta = meta.unwrap_or_default();
        let region = settings.region.clone().or(meta.region.clone()).ok_or_else(|| {
            ConfigError(
                "no region: pass --region, set NETREADY_REGION or AWS_REGION, or run in a task (task metadata)".into(),
            )
        })?;
        let task_arn = args.task_arn.clone().or(meta.task_arn.clone());
        // The registry a pull uses is the task's account's, also when the task is given by ARN.
        let arn_account = task_arn
            .as_deref()
            .and_then(netready_check::metadata::parse_task_arn)
            .and_then(|arn| arn.account_id.parse().ok());
        let registry = settings.registry_id.clone().or(meta.account_id.clone()).or(arn_account);
        let endpoints = netready_check::endpoints::endpoints(&region, registry.as_ref(), 443);
        let options = Options {
            mode,
            region: Some(region.to_string()),
            task_arn,
            eni: args.eni.clone(),
            call_timeout: netready_aws::DEFAULT_CALL_TIMEOUT.min(timeout),
            budget: timeout,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let (resolved, discovery) =
            tokio::join!(resolve(&endpoints, &overrides, deadline), netready_aws::discover(&options));
        let (mut facts, mut extra, note) = match discovery {
            Discovery::Facts(facts) => (*facts, Vec::new(), None),
            Discovery::Skipped(reason) => {
                (NetworkFacts::default(), vec![Finding::skipped(&reason)], Some("skipped".to_owned()))
            }
            Discovery::Unavailable { reason, gaps } => {
                let severity = if mode == AwsApi::Required { Severity::Error } else { Severity::Warning };
                let finding = Finding::unavailable(&reason, severity);
                (NetworkFacts { gaps, ..NetworkFacts::default() }, vec![finding], Some("unavailable".to_owned()))
            }
        };
        facts.region = region.to_string();
        // IPv6 addresses count only when the task has IPv6 (as the check dials them).
        let ipv6 = facts.eni.as_ref().map(|e| !e.ipv6.is_empty()).or(meta.private_ipv6.map(|_| true)).unwrap_or(false);
        let inputs: Vec<EndpointAddresses> = resolved
            .iter()
            .map(|r| {
                let mut e = r.endpoint.clone();
                e.addresses.retain(|ip| ip.is_ipv4() || ipv6);
                e
            })
            .collect();
        let mut diagnosis = netready_diagnose::diagnose(&facts, &inputs);
        if facts.eni.is_none() {
            // Without the network's configuration: the check's own rule.
            let cidrs: Vec<ipnet::IpNet> = meta.subnet_cidr.into_iter().collect();
            for path in &mut diagnosis.paths {
                for a in &mut path.addresses {
                    a.access_type = match classify::scope(a.address, &cidrs) {
                        Scope::Private => AccessType::VpcEndpoint,
                        _ => AccessType::Unknown,
                    };
                }
                path.access_type = netready_diagnose::path::endpoint_access(&path.addresses);
            }
        }
        extra.append(&mut diagnosis.findings);
        diagnosis.findings = extra;
        diagnosis.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let dns: Vec<String> = resolved.into_iter().map(|r| r.dns).collect();
        Ok::<_, anyhow::Error>((diagnosis, facts, (meta, dns), note))
    })?;
    let (meta, dns) = meta;
    match args.output {
        Output::Table => print!("{}", table(&diagnosis, &facts, &meta, &dns, mode, mode_note.as_deref())),
        Output::Json => println!("{:#}", to_json(&diagnosis, &facts, &dns, mode, mode_note.as_deref())),
    }
    Ok(if diagnosis.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A and AAAA for every endpoint, concurrently, from the servers of /etc/resolv.conf (or the
/// `--address` overrides). Special-purpose answers (sinkholes) are left out: they go nowhere.
async fn resolve(
    endpoints: &[netready_check::endpoints::Endpoint],
    overrides: &BTreeMap<ServiceKey, Vec<IpAddr>>,
    deadline: tokio::time::Instant,
) -> Vec<Resolved> {
    let (conf, _) = ResolvConf::load(RESOLV_CONF);
    let resolver = StubResolver::new(conf.nameservers);
    let lookups = endpoints.iter().map(|e| {
        let resolver = &resolver;
        async move {
            let service = e.service;
            if let Some(addresses) = overrides.get(&service) {
                let endpoint =
                    EndpointAddresses { service, host: e.host.clone(), port: e.port, addresses: addresses.clone() };
                return Resolved { endpoint, dns: "given (--address)".into() };
            }
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
            Resolved { endpoint: EndpointAddresses { service, host: e.host.clone(), port: e.port, addresses }, dns }
        }
    });
    futures_util::future::join_all(lookups).await
}

fn task_line(facts: &NetworkFacts, meta: &TaskMetadata) -> String {
    match &facts.eni {
        Some(eni) => {
            let public = eni.public_ip.map_or("none".to_owned(), |ip| ip.to_string());
            let private = eni.private_ipv4.map_or("?".to_owned(), |ip| ip.to_string());
            format!(
                "task: {} {private} in {} ({}), {}, public IP {public} (ec2), groups {}",
                eni.id,
                eni.subnet_id,
                eni.availability_zone,
                eni.vpc_id,
                if eni.security_group_ids.is_empty() { "none".to_owned() } else { eni.security_group_ids.join(", ") }
            )
        }
        None => format!(
            "task: {} (network configuration not read)",
            meta.private_ipv4.map_or("unknown".to_owned(), |ip| ip.to_string())
        ),
    }
}

fn table(
    d: &Diagnosis,
    facts: &NetworkFacts,
    meta: &TaskMetadata,
    dns: &[String],
    mode: AwsApi,
    note: Option<&str>,
) -> String {
    let count = |s: Severity| d.findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let mut out = String::new();
    let verdict = if errors > 0 { "PROBLEMS" } else { "OK" };
    let _ = writeln!(
        out,
        "netready diagnose: {verdict} — {}, {errors} error{}, {warnings} warning{} (aws api {}{})",
        facts.region,
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
        mode.as_str(),
        note.map(|n| format!(": {n}")).unwrap_or_default()
    );
    let _ = writeln!(out, "{}", task_line(facts, meta));
    if let Some(table) = &facts.route_table {
        let acl = facts.network_acl.as_ref().map_or("?".to_owned(), |a| a.id.clone());
        let _ = writeln!(
            out,
            "route table {}{}, network ACL {acl}, VPC endpoints: {}",
            table.id,
            if table.main { " (the VPC's main table)" } else { "" },
            if facts.vpc_endpoints.is_empty() {
                "none".to_owned()
            } else {
                facts.vpc_endpoints.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ")
            }
        );
    }
    out.push('\n');
    let mut rows = vec![["SERVICE".to_owned(), "ACCESS".into(), "ADDRESS".into(), "ROUTE".into(), "HOST".into()]];
    for (path, dns) in d.paths.iter().zip(dns) {
        if path.addresses.is_empty() {
            rows.push([
                path.service.as_str().into(),
                path.access_type.as_str().into(),
                "-".into(),
                format!("no address (dns: {dns})"),
                path.host.clone(),
            ]);
        }
        for (i, a) in path.addresses.iter().enumerate() {
            let route = match &a.route {
                Some(r) => format!(
                    "{} {} → {}{}{}",
                    r.route_table_id,
                    r.destination,
                    r.target_id,
                    if r.blackhole() { " (blackhole)" } else { "" },
                    a.vpc_endpoint_id
                        .as_ref()
                        .filter(|id| *id != &r.target_id)
                        .map(|id| format!(" ({id})"))
                        .unwrap_or_default()
                ),
                None if facts.route_table.is_some() => "no route".into(),
                None => "-".into(),
            };
            let access = if i == 0 { path.access_type.as_str() } else { a.access_type.as_str() };
            rows.push([
                if i == 0 { path.service.as_str().into() } else { String::new() },
                access.into(),
                a.address.to_string(),
                route,
                if i == 0 { path.host.clone() } else { String::new() },
            ]);
        }
    }
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 4 {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if d.findings.is_empty() {
        let _ = writeln!(out, "\nNo findings.");
        return out;
    }
    let _ = writeln!(out, "\nFindings:");
    for f in &d.findings {
        let explains = if f.endpoints.is_empty() {
            String::new()
        } else {
            format!(" — {}", f.endpoints.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "))
        };
        let resources = if f.resources.is_empty() { String::new() } else { format!(" [{}]", f.resources.join(", ")) };
        let _ = writeln!(out, "  {:<7} {}{resources}{explains}", f.severity.as_str().to_uppercase(), f.id);
        let mut what = f.message.clone();
        if !f.addresses.is_empty() {
            let list: Vec<String> = f.addresses.iter().map(ToString::to_string).collect();
            let _ = write!(what, " ({})", list.join(", "));
        }
        out.push_str(&wrap(&what, "          "));
        out.push_str(&wrap(&format!("fix: {}", f.remedy), "          "));
    }
    out
}

fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 100 - indent.len() {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

fn to_json(d: &Diagnosis, facts: &NetworkFacts, dns: &[String], mode: AwsApi, note: Option<&str>) -> serde_json::Value {
    let task = facts.eni.as_ref().map(|eni| {
        json!({
            "eni": eni.id,
            "subnet_id": eni.subnet_id,
            "vpc_id": eni.vpc_id,
            "availability_zone": eni.availability_zone,
            "private_ipv4": eni.private_ipv4,
            "ipv6": eni.ipv6,
            "public_ip": { "address": eni.public_ip, "source": "ec2" },
            "security_groups": eni.security_group_ids,
            "route_table_id": facts.route_table.as_ref().map(|t| &t.id),
            "network_acl_id": facts.network_acl.as_ref().map(|a| &a.id),
            "vpc_cidrs": facts.vpc_cidrs(),
        })
    });
    let endpoints: Vec<serde_json::Value> = d
        .paths
        .iter()
        .zip(dns)
        .map(|(p, dns)| {
            json!({
                "service": p.service,
                "host": p.host,
                "dns": dns,
                "access_type": p.access_type,
                "addresses": p.addresses,
            })
        })
        .collect();
    json!({
        "region": facts.region,
        "aws_api": { "mode": mode.as_str(), "note": note },
        "task": task,
        "endpoints": endpoints,
        "findings": d.findings,
    })
}
