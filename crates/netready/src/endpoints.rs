//! `netready endpoints`: the VPC endpoints a runner in a region needs, from the pure mapping in
//! `netready_check::vpce`, as a table, as JSON, or as a CloudFormation template that creates them
//! (the four interface endpoints with private DNS, the S3 gateway endpoint on the given route
//! tables, and a security group that admits 443 from the task's security group). With
//! `--only-missing`, only those the task's VPC lacks: its endpoints are read from the AWS APIs.
//!
//! The template is the endpoints stack of deploy/cloudformation (README "Deploy on AWS"): runners
//! depend on these endpoints for their image pull, secrets and logs, so every resource is kept
//! (`DeletionPolicy`/`UpdateReplacePolicy: Retain`) when the stack is deleted or a resource
//! replaced, and the agent stack no longer creates them.

use std::fmt::Write as _;
use std::process::ExitCode;

use netready_aws::{AwsApi, Discovery, Options};
use netready_check::metadata::{HttpMetadata, METADATA_URI_VAR, MetadataSource};
use netready_check::types::{Region, RegistryId, ServiceKey};
use netready_check::vpce::{self, AUTHORITY_NOTE, EndpointType, RequiredEndpoint};
use netready_check::{RawSettings, Sourced};
use netready_diagnose::facts::Gap;
use serde_json::{Value, json};

use crate::ConfigError;
use crate::cli::{EndpointsArgs, EndpointsFormat};

/// How long reading the VPC may take by default.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn run(args: &EndpointsArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let tag = |id: &str, flag: &str, var: &str, v: &str| {
        let from_env = matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable);
        Sourced::new(v, if from_env { var } else { flag })
    };
    // The check's own validation: the same region and registry rules and messages.
    let settings = RawSettings {
        region: args.region.as_deref().map(|v| tag("region", "--region", "NETREADY_REGION", v)),
        ecr_registry_id: args
            .ecr_registry_id
            .as_deref()
            .map(|v| tag("ecr_registry_id", "--ecr-registry-id", "NETREADY_ECR_REGISTRY_ID", v)),
        ..RawSettings::default()
    }
    .validate(&crate::env)?;
    if args.only_missing {
        return only_missing(args, matches, settings.region, settings.registry_id);
    }
    let region = settings.region.ok_or_else(|| {
        ConfigError("no region: pass --region, or set NETREADY_REGION or AWS_REGION (e.g. eu-west-3)".into())
    })?;
    let required = vpce::required(&region, settings.registry_id.as_ref());
    match args.format {
        EndpointsFormat::Table => print!("{}", table(&region, &required, None)),
        EndpointsFormat::Json => println!("{:#}", json_list(&region, &required, None)),
        EndpointsFormat::Cloudformation => println!("{:#}", cloudformation(&region, &required)),
    }
    Ok(ExitCode::SUCCESS)
}

/// What the VPC already has, for `--only-missing`.
struct Vpc {
    id: String,
    /// (service, endpoint id) of the required endpoints it has.
    present: Vec<(ServiceKey, String)>,
}

/// `--only-missing`: reads the task's VPC (task metadata, `--task-arn` or `--eni`, and the AWS
/// SDK's credentials), then prints only the required endpoints it has none of.
fn only_missing(
    args: &EndpointsArgs,
    matches: &clap::ArgMatches,
    region: Option<Region>,
    registry: Option<RegistryId>,
) -> anyhow::Result<ExitCode> {
    let origin = |id: &str, flag: &'static str, var: &'static str| {
        if matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable) { var } else { flag }
    };
    let timeout = match &args.timeout {
        None => DEFAULT_TIMEOUT,
        Some(v) => netready_check::types::parse_duration(v).map_err(|e| {
            ConfigError(format!("invalid value for {}: {e}", origin("timeout", "--timeout", "NETREADY_TIMEOUT")))
        })?,
    };
    let rt = crate::runtime(false)?;
    let meta = rt.block_on(async {
        let uri = crate::env(METADATA_URI_VAR).filter(|v| !v.is_empty())?;
        HttpMetadata::new(&uri).ok()?.fetch().await.ok().map(|(m, _)| m)
    });
    let meta = meta.unwrap_or_default();
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
    let required = vpce::required(&region, registry.as_ref());
    let mut present = Vec::new();
    let missing: Vec<RequiredEndpoint> = required
        .into_iter()
        .filter(|r| match vpce::existing(r, &region, &facts.vpc_endpoints) {
            Some(e) => {
                present.push((r.service, e.id.clone()));
                false
            }
            None => true,
        })
        .collect();
    let vpc = Vpc { id: facts.eni.as_ref().map(|e| e.vpc_id.clone()).unwrap_or_default(), present };
    match args.format {
        EndpointsFormat::Table => print!("{}", table(&region, &missing, Some(&vpc))),
        EndpointsFormat::Json => println!("{:#}", json_list(&region, &missing, Some(&vpc))),
        EndpointsFormat::Cloudformation => println!("{:#}", cloudformation(&region, &missing)),
    }
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

fn table(region: &Region, required: &[RequiredEndpoint], vpc: Option<&Vpc>) -> String {
    let mut out = match vpc {
        None => format!("VPC endpoints for a Fargate runner in {region} ({})\n\n", region.partition()),
        Some(vpc) => {
            let mut head = format!("VPC endpoints a Fargate runner in {region} needs that {} lacks\n", vpc.id);
            if !vpc.present.is_empty() {
                let have: Vec<String> = vpc.present.iter().map(|(s, id)| format!("{s} ({id})")).collect();
                let _ = writeln!(head, "present: {}", have.join(", "));
            }
            if required.is_empty() {
                let _ = writeln!(head, "\n{} has an endpoint for every service a runner needs.", vpc.id);
                return head;
            }
            head.push('\n');
            head
        }
    };
    let _ = writeln!(out, "{:<15} {:<10} {:<12} {:<40} HOST", "SERVICE", "TYPE", "PRIVATE DNS", "ENDPOINT SERVICE");
    for e in required {
        let dns = if e.endpoint_type == EndpointType::Interface { "enabled" } else { "-" };
        let _ = writeln!(
            out,
            "{:<15} {:<10} {:<12} {:<40} {}:443",
            e.service.as_str(),
            e.endpoint_type.as_str().to_lowercase(),
            dns,
            e.service_name,
            e.host
        );
    }
    out.push('\n');
    for e in required {
        if let Some((ty, name)) = &e.alternative {
            let _ = writeln!(
                out,
                "{}: a {} endpoint is recommended (free, on the task subnets' route tables; DNS stays public); \
                 an {} endpoint, {name}, gives private DNS but costs extra.",
                e.service,
                e.endpoint_type.as_str().to_lowercase(),
                ty.as_str().to_lowercase()
            );
        }
    }
    let _ = writeln!(out, "Interface endpoints: their security group must allow inbound TCP 443 from the task.");
    let _ = writeln!(out, "Note: {AUTHORITY_NOTE}.");
    out
}

fn json_list(region: &Region, required: &[RequiredEndpoint], vpc: Option<&Vpc>) -> Value {
    let mut list = json!({
        "region": region.as_str(),
        "partition": region.partition().id(),
        "endpoints": required.iter().map(|e| json!({
            "service": e.service.as_str(),
            "host": e.host,
            "port": 443,
            "service_name": e.service_name,
            "endpoint_type": e.endpoint_type.as_str(),
            "private_dns": e.private_dns,
            "alternative": e.alternative.as_ref().map(|(ty, name)| json!({"endpoint_type": ty.as_str(), "service_name": name})),
        })).collect::<Vec<_>>(),
        "note": AUTHORITY_NOTE,
    });
    if let Some(vpc) = vpc {
        list["vpc_id"] = json!(vpc.id);
        list["present"] =
            vpc.present.iter().map(|(s, id)| json!({"service": s.as_str(), "vpc_endpoint_id": id})).collect();
    }
    list
}

/// `secretsmanager` → `Secretsmanager`, `ecr_api` → `EcrApi`: CloudFormation logical ids.
fn logical_id(service: &str) -> String {
    service
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn cloudformation(region: &Region, required: &[RequiredEndpoint]) -> Value {
    let mut resources = serde_json::Map::new();
    let interfaces = required.iter().any(|e| e.endpoint_type == EndpointType::Interface);
    if interfaces {
        resources.insert(
            "EndpointSecurityGroup".into(),
            json!({
                "Type": "AWS::EC2::SecurityGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "GroupDescription": "netready: interface endpoints accept HTTPS from the runner tasks",
                    "VpcId": {"Ref": "VpcId"},
                    "SecurityGroupIngress": [{
                        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                        "SourceSecurityGroupId": {"Ref": "TaskSecurityGroupId"},
                        "Description": "HTTPS from the runner tasks"
                    }]
                }
            }),
        );
    }
    for e in required {
        let id = format!("{}{}Endpoint", logical_id(e.service.as_str()), e.endpoint_type.as_str());
        let properties = match e.endpoint_type {
            EndpointType::Interface => json!({
                "VpcId": {"Ref": "VpcId"},
                "ServiceName": e.service_name,
                "VpcEndpointType": "Interface",
                "PrivateDnsEnabled": true,
                "SubnetIds": {"Ref": "SubnetIds"},
                "SecurityGroupIds": [{"Ref": "EndpointSecurityGroup"}]
            }),
            EndpointType::Gateway => json!({
                "VpcId": {"Ref": "VpcId"},
                "ServiceName": e.service_name,
                "VpcEndpointType": "Gateway",
                "RouteTableIds": {"Ref": "RouteTableIds"}
            }),
        };
        resources.insert(
            id,
            json!({
                "Type": "AWS::EC2::VPCEndpoint",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": properties
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "VPC endpoints for netready / Fargate runners in {region}: {} interface endpoints with private DNS{}. \
             Every resource is retained when the stack is deleted. Generated by netready endpoints {}.",
            required.iter().filter(|e| e.endpoint_type == EndpointType::Interface).count(),
            if required.iter().any(|e| e.endpoint_type == EndpointType::Gateway) {
                ", the S3 gateway endpoint"
            } else {
                ""
            },
            env!("CARGO_PKG_VERSION")
        ),
        "Metadata": {"netready": {"region": region.as_str(), "note": AUTHORITY_NOTE}},
        "Parameters": {
            "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the runner tasks"},
            "SubnetIds": {
                "Type": "List<AWS::EC2::Subnet::Id>",
                "Description": "Subnets for the interface endpoints' network interfaces: exactly one per Availability Zone of the tasks (an interface endpoint takes one subnet per zone)"
            },
            "RouteTableIds": {
                "Type": "CommaDelimitedList",
                "Description": "Route tables of the task subnets, for the S3 gateway endpoint"
            },
            "TaskSecurityGroupId": {
                "Type": "AWS::EC2::SecurityGroup::Id",
                "Description": "The runner tasks' security group (allowed to reach the endpoints on 443)"
            }
        },
        "Rules": {
            "SameRegion": {
                "Assertions": [{
                    "Assert": {"Fn::Equals": [{"Ref": "AWS::Region"}, region.as_str()]},
                    "AssertDescription": format!("These service names are for {region}: run netready endpoints --region <the stack's region>")
                }]
            }
        },
        "Resources": resources,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids() {
        assert_eq!(logical_id("secretsmanager"), "Secretsmanager");
        assert_eq!(logical_id("ecr_dkr"), "EcrDkr");
    }

    #[test]
    fn the_template_creates_every_endpoint() {
        let region: Region = "cn-north-1".parse().unwrap();
        let t = cloudformation(&region, &vpce::required(&region, None));
        let r = t["Resources"].as_object().unwrap();
        assert_eq!(r.len(), 6);
        for (id, resource) in r {
            assert_eq!(
                (&resource["DeletionPolicy"], &resource["UpdateReplacePolicy"]),
                (&json!("Retain"), &json!("Retain")),
                "{id}: runners depend on it, deleting the stack must not delete it"
            );
        }
        assert_eq!(r["EcrApiInterfaceEndpoint"]["Properties"]["ServiceName"], "cn.com.amazonaws.cn-north-1.ecr.api");
        assert_eq!(r["S3GatewayEndpoint"]["Properties"]["ServiceName"], "com.amazonaws.cn-north-1.s3");
    }

    #[test]
    fn a_template_of_the_gateway_endpoint_alone_has_no_security_group() {
        let region: Region = "eu-west-3".parse().unwrap();
        let only_s3: Vec<RequiredEndpoint> =
            vpce::required(&region, None).into_iter().filter(|e| e.service == ServiceKey::S3).collect();
        let t = cloudformation(&region, &only_s3);
        let r = t["Resources"].as_object().unwrap();
        assert_eq!(r.keys().collect::<Vec<_>>(), ["S3GatewayEndpoint"]);
        assert!(t["Description"].as_str().unwrap().contains("0 interface endpoints with private DNS, the S3 gateway"));
    }
}
