//! `netready diagnose`: flags to settings, then the library does the work — `netready-aws` reads
//! the network of the task(s) (a running or stopped task, a service, or subnets before deploying)
//! and assembles the report (`netready_aws::diagnosis`), `netready-diagnose` models what the task's
//! resolver would answer and every hop, and renders the verdicts. Exit 0 every service reachable, 1 one blocked, 2 usage, 3 nothing blocked but
//! something unknown.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use netready_aws::diagnosis::{self, Plan};
use netready_aws::{AwsApi, Options, Read, Subject};
use netready_check::RawSettings;
use netready_diagnose::report::{Subject as Named, SubjectKind};
use netready_diagnose::{ServiceKey, ids, render};

use crate::cli::{DiagnoseArgs, Output, sourced};
use crate::exit::ConfigError;

/// How long the whole diagnosis may take by default: the AWS API calls (and DNS with `--resolve local`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The diagnosis's settings, validated.
struct Settings {
    mode: AwsApi,
    timeout: Duration,
    overrides: BTreeMap<ServiceKey, Vec<IpAddr>>,
    local: bool,
    subject: Subject,
    named: Named,
    task_arn: Option<String>,
    eni: Option<String>,
    security_groups: Vec<String>,
}

fn usage(message: String) -> anyhow::Error {
    ConfigError(message).into()
}

/// The subject flags: a task (ARN or ENI), subnets before deploying, or a service.
fn subject(
    args: &DiagnoseArgs,
    origin: &dyn Fn(&str, &'static str, &'static str) -> &'static str,
) -> anyhow::Result<(Subject, Named)> {
    let task_flag = origin("task_arn", "--task-arn", "NETREADY_TASK_ARN");
    let eni_flag = origin("eni", "--eni", "NETREADY_ENI");
    let task_arn = args.task_arn.as_deref().map(|v| ids::task_arn(task_flag, v)).transpose().map_err(usage)?;
    let eni = args
        .eni
        .as_deref()
        .map(|v| ids::resource_id(eni_flag, v, "eni-", "a network interface id"))
        .transpose()
        .map_err(usage)?;
    if task_arn.is_some() && eni.is_some() {
        return Err(usage(format!("{eni_flag} and {task_flag} name the same thing: give one of them")));
    }
    let groups =
        ids::resource_ids("--security-group", &args.security_group, "sg-", "a security group id").map_err(usage)?;
    let mut named =
        Named { kind: SubjectKind::Task, task_arn: task_arn.clone(), eni: eni.clone(), cluster: None, service: None };
    if !args.subnet.is_empty() {
        if task_arn.is_some() || eni.is_some() || args.service.is_some() {
            return Err(usage(
                "--subnet is for a task not deployed yet: not with --task-arn, --eni or --service".into(),
            ));
        }
        let subnets = ids::resource_ids("--subnet", &args.subnet, "subnet-", "a subnet id").map_err(usage)?;
        if groups.is_empty() {
            return Err(usage("--subnet needs --security-group: the groups the task would have".into()));
        }
        let public_ip = args
            .assign_public_ip
            .as_deref()
            .map(|v| ids::assign_public_ip("--assign-public-ip", v))
            .transpose()
            .map_err(usage)?
            .unwrap_or(false);
        named.kind = SubjectKind::Planned;
        return Ok((Subject::Planned { subnets, security_groups: groups, public_ip }, named));
    }
    if args.assign_public_ip.is_some() {
        return Err(usage("--assign-public-ip goes with --subnet (a task not deployed yet)".into()));
    }
    match (&args.cluster, &args.service) {
        (Some(cluster), Some(service)) if task_arn.is_none() && eni.is_none() => {
            for (flag, v) in [("--cluster", cluster), ("--service", service)] {
                if v.trim().is_empty() {
                    return Err(usage(format!("{flag}: empty; expected a name")));
                }
            }
            named = Named {
                kind: SubjectKind::Service,
                cluster: Some(cluster.clone()),
                service: Some(service.clone()),
                task_arn: None,
                eni: None,
            };
            Ok((Subject::Service { cluster: cluster.clone(), service: service.clone() }, named))
        }
        (Some(_), Some(_)) => Err(usage("--service is not with --task-arn or --eni: give one subject".into())),
        (None, Some(_)) => Err(usage("--service needs --cluster".into())),
        (Some(_), None) => Err(usage("--cluster needs --service".into())),
        (None, None) => {
            if eni.is_some() {
                named.kind = SubjectKind::Eni;
            }
            Ok((Subject::Task, named))
        }
    }
}

fn settings(args: &DiagnoseArgs, matches: &clap::ArgMatches) -> anyhow::Result<(Settings, RawSettings)> {
    let origin = |id: &str, flag: &'static str, var: &'static str| crate::cli::origin(matches, id, flag, var);
    let raw = RawSettings {
        region: args.region.as_deref().map(|v| sourced(matches, "region", "--region", "NETREADY_REGION", v)),
        ecr_registry_id: args
            .ecr_registry_id
            .as_deref()
            .map(|v| sourced(matches, "ecr_registry_id", "--ecr-registry-id", "NETREADY_ECR_REGISTRY_ID", v)),
        ..RawSettings::default()
    };
    let mode: AwsApi = args
        .aws_api
        .parse()
        .map_err(|e| usage(format!("{}: {e}", origin("aws_api", "--aws-api", "NETREADY_AWS_API"))))?;
    let timeout = match &args.timeout {
        None => DEFAULT_TIMEOUT,
        Some(v) => netready_check::types::parse_duration(v)
            .map_err(|e| usage(format!("{}: {e}", origin("timeout", "--timeout", "NETREADY_TIMEOUT"))))?,
    };
    let local = match args.resolve.trim().to_ascii_lowercase().as_str() {
        "model" => false,
        "local" => true,
        other => {
            let flag = origin("resolve", "--resolve", "NETREADY_RESOLVE");
            return Err(usage(format!("{flag}: '{other}' is not model or local")));
        }
    };
    let mut overrides: BTreeMap<ServiceKey, Vec<IpAddr>> = BTreeMap::new();
    for value in &args.addresses {
        let flag = origin("addresses", "--address", "NETREADY_ADDRESSES");
        let parsed =
            value.split_once('=').and_then(|(s, ip)| Some((ServiceKey::parse(s.trim())?, ip.trim().parse().ok()?)));
        let Some((service, ip)) = parsed else {
            return Err(usage(format!(
                "{flag}: '{value}' is not SERVICE=IP (services: secretsmanager, logs, ecr_api, ecr_dkr, s3)"
            )));
        };
        overrides.entry(service).or_default().push(ip);
    }
    let (subject, named) = subject(args, &origin)?;
    let security_groups =
        ids::resource_ids("--security-group", &args.security_group, "sg-", "a security group id").map_err(usage)?;
    let settings = Settings {
        mode,
        timeout,
        overrides,
        local,
        task_arn: named.task_arn.clone(),
        eni: named.eni.clone(),
        subject,
        named,
        security_groups,
    };
    Ok((settings, raw))
}

pub fn run(args: &DiagnoseArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let (mut s, raw) = settings(args, matches)?;
    let checked = raw.validate(&crate::exit::env)?;
    let rt = crate::exit::runtime(false)?;
    let report = rt.block_on(async {
        let meta = netready_check::metadata::fetch_or_default(&crate::exit::env).await;
        let region = checked.region.clone().or(meta.region.clone()).ok_or_else(|| {
            usage(
                "no region: pass --region, set NETREADY_REGION or AWS_REGION, or run in a task (task metadata)".into(),
            )
        })?;
        if s.subject == Subject::Task && s.task_arn.is_none() && s.eni.is_none() {
            s.task_arn = meta.task_arn.clone();
            s.named.task_arn = meta.task_arn.clone();
        }
        let options = Options {
            mode: s.mode,
            region: Some(region.to_string()),
            task_arn: s.task_arn.clone(),
            eni: s.eni.clone(),
            subject: s.subject.clone(),
            security_groups: s.security_groups.clone(),
            call_timeout: netready_aws::DEFAULT_CALL_TIMEOUT.min(s.timeout),
            budget: s.timeout,
        };
        let deadline = tokio::time::Instant::now() + s.timeout;
        let read = netready_aws::read(&options).await;
        // The registry a pull uses is the task's account's: the flag, task metadata, the task's ARN,
        // the interface's owner.
        let arn_account = s.task_arn.as_deref().and_then(|a| a.split(':').nth(4)).and_then(|a| a.parse().ok());
        let owner = match &read {
            Read::Network(n) => n.tasks.first().and_then(|t| t.owner_id.parse().ok()),
            _ => None,
        };
        let registry = checked.registry_id.clone().or(meta.account_id.clone()).or(arn_account).or(owner);
        let endpoints = netready_check::endpoints::endpoints(&region, registry.as_ref(), 443);
        let plan = Plan { mode: s.mode, overrides: s.overrides.clone(), local: s.local, named: s.named.clone() };
        Ok::<_, anyhow::Error>(diagnosis::report(&plan, &region, &endpoints, read, deadline).await)
    })?;
    match args.output {
        Output::Table => print!("{}", render::table_text(&report)),
        Output::Json => println!("{:#}", serde_json::to_value(&report)?),
    }
    Ok(ExitCode::from(report.exit_code()))
}
