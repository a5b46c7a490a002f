//! `netready endpoints`: the VPC endpoints a runner in a region needs (`netready_check::vpce`), as
//! a table, as JSON, or as a CloudFormation template that creates them (`vpce::render`). With
//! `--only-missing`, only those the task's VPC lacks: its endpoints are read from the AWS APIs
//! (`netready-aws`). This module gathers the flags and prints.

use std::process::ExitCode;

use netready_aws::{AwsApi, Discovery, Options};
use netready_check::RawSettings;
use netready_check::types::{Region, RegistryId};
use netready_check::vpce::{self, RequiredEndpoint, Vpc, render};
use netready_diagnose::facts::Gap;

use crate::cli::{EndpointsArgs, EndpointsFormat, sourced};
use crate::exit::ConfigError;

/// How long reading the VPC may take by default.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn run(args: &EndpointsArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let tag = |id: &str, flag: &'static str, var: &'static str, v: &str| sourced(matches, id, flag, var, v);
    // The check's own validation: the same region and registry rules and messages.
    let settings = RawSettings {
        region: args.region.as_deref().map(|v| tag("region", "--region", "NETREADY_REGION", v)),
        ecr_registry_id: args
            .ecr_registry_id
            .as_deref()
            .map(|v| tag("ecr_registry_id", "--ecr-registry-id", "NETREADY_ECR_REGISTRY_ID", v)),
        ..RawSettings::default()
    }
    .validate(&crate::exit::env)?;
    if args.only_missing {
        return only_missing(args, matches, settings.region, settings.registry_id);
    }
    let region = settings.region.ok_or_else(|| {
        ConfigError("no region: pass --region, or set NETREADY_REGION or AWS_REGION (e.g. eu-west-3)".into())
    })?;
    let required = vpce::required(&region, settings.registry_id.as_ref());
    print(args.format, &region, &required, None);
    Ok(ExitCode::SUCCESS)
}

fn print(format: EndpointsFormat, region: &Region, required: &[RequiredEndpoint], vpc: Option<&Vpc>) {
    match format {
        EndpointsFormat::Table => print!("{}", render::table(region, required, vpc)),
        EndpointsFormat::Json => println!("{:#}", render::json_list(region, required, vpc)),
        EndpointsFormat::Cloudformation => println!("{:#}", render::cloudformation(region, required)),
    }
}

/// `--only-missing`: reads the task's VPC (task metadata, `--task-arn` or `--eni`, and the AWS
/// SDK's credentials), then prints only the required endpoints it has none of.
fn only_missing(
    args: &EndpointsArgs,
    matches: &clap::ArgMatches,
    region: Option<Region>,
    registry: Option<RegistryId>,
) -> anyhow::Result<ExitCode> {
    let timeout = match &args.timeout {
        None => DEFAULT_TIMEOUT,
        Some(v) => sourced(matches, "timeout", "--timeout", "NETREADY_TIMEOUT", v)
            .parse(netready_check::types::parse_duration)?,
    };
    let rt = crate::exit::runtime(false)?;
    let meta = rt.block_on(netready_check::metadata::fetch_or_default(&crate::exit::env));
    let task_arn = args.task_arn.clone().or(meta.task_arn.clone());
    if task_arn.is_none() && args.eni.is_none() {
        return Err(ConfigError(
            "--only-missing reads the task's VPC: run it in the task (task metadata names it), or pass --task-arn \
             (NETREADY_TASK_ARN) or --eni (NETREADY_ENI)"
                .into(),
        )
        .into());
    }
    let arn = task_arn.as_deref().and_then(netready_check::metadata::parse_task_arn);
    let arn_region = arn.as_ref().and_then(|a| a.region.parse::<Region>().ok());
    // The registry a pull uses is the task's account's, also when the task is given by ARN.
    let arn_account = arn.as_ref().and_then(|a| a.account_id.parse::<RegistryId>().ok());
    let region = region.or(meta.region.clone()).or(arn_region).ok_or_else(|| {
        ConfigError("no region: pass --region, or set NETREADY_REGION or AWS_REGION (e.g. eu-west-3)".into())
    })?;
    let registry = registry.or(meta.account_id.clone()).or(arn_account);
    let options = Options {
        mode: AwsApi::Required,
        region: Some(region.to_string()),
        task_arn,
        eni: args.eni.clone(),
        call_timeout: netready_aws::DEFAULT_CALL_TIMEOUT.min(timeout),
        budget: timeout,
        ..Options::default()
    };
    let facts = match rt.block_on(netready_aws::discover(&options)) {
        Discovery::Facts(facts) => facts,
        Discovery::Skipped(reason) => anyhow::bail!("--only-missing: cannot read the VPC: {reason}"),
        Discovery::Unavailable { reason, gaps } => {
            anyhow::bail!("--only-missing: cannot read the VPC: {reason}{}", refused(&gaps))
        }
    };
    let endpoint_gaps: Vec<Gap> =
        facts.gaps.iter().filter(|g| g.action() == "ec2:DescribeVpcEndpoints").cloned().collect();
    if !endpoint_gaps.is_empty() {
        anyhow::bail!("--only-missing: cannot read the VPC's endpoints{}", refused(&endpoint_gaps));
    }
    let vpc_id = facts.eni.as_ref().map(|e| e.vpc_id.clone()).unwrap_or_default();
    let (missing, vpc) =
        vpce::missing(vpce::required(&region, registry.as_ref()), &region, vpc_id, &facts.vpc_endpoints);
    print(args.format, &region, &missing, Some(&vpc));
    Ok(ExitCode::SUCCESS)
}

/// The refused or failed calls, for a message: `: ecs:DescribeTasks refused (AccessDeniedException)`.
fn refused(gaps: &[Gap]) -> String {
    let parts: Vec<String> = gaps
        .iter()
        .map(|g| match g {
            Gap::Denied { action, message } => {
                format!("{action} refused ({message}): grant it to the credentials used")
            }
            Gap::Failed { action, message } => format!("{action} failed ({message})"),
        })
        .collect();
    if parts.is_empty() { String::new() } else { format!(": {}", parts.join("; ")) }
}
