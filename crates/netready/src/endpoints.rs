//! `netready endpoints`: the VPC endpoints a runner in a region needs, from the pure mapping in
//! `netready_check::vpce`, as a table, as JSON, or as a CloudFormation template that creates them
//! (the four interface endpoints with private DNS, the S3 gateway endpoint on the given route
//! tables, and a security group that admits 443 from the task's security group).

use std::fmt::Write as _;
use std::process::ExitCode;

use netready_check::types::Region;
use netready_check::vpce::{self, AUTHORITY_NOTE, EndpointType, RequiredEndpoint};
use netready_check::{RawSettings, Sourced};
use serde_json::{Value, json};

use crate::ConfigError;
use crate::cli::{EndpointsArgs, EndpointsFormat};

pub fn run(args: &EndpointsArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    if args.only_missing {
        return Err(ConfigError(
            "--only-missing needs the AWS API diagnosis (ec2:DescribeVpcEndpoints and friends), which this version \
             does not have yet: drop --only-missing to print every required endpoint"
                .into(),
        )
        .into());
    }
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
    let region = settings.region.ok_or_else(|| {
        ConfigError("no region: pass --region, or set NETREADY_REGION or AWS_REGION (e.g. eu-west-3)".into())
    })?;
    let required = vpce::required(&region, settings.registry_id.as_ref());
    match args.format {
        EndpointsFormat::Table => print!("{}", table(&region, &required)),
        EndpointsFormat::Json => println!("{:#}", json_list(&region, &required)),
        EndpointsFormat::Cloudformation => println!("{:#}", cloudformation(&region, &required)),
    }
    Ok(ExitCode::SUCCESS)
}

fn table(region: &Region, required: &[RequiredEndpoint]) -> String {
    let mut out = format!("VPC endpoints for a Fargate runner in {region} ({})\n\n", region.partition());
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

fn json_list(region: &Region, required: &[RequiredEndpoint]) -> Value {
    json!({
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
    })
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
    resources.insert(
        "EndpointSecurityGroup".into(),
        json!({
            "Type": "AWS::EC2::SecurityGroup",
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
        resources.insert(id, json!({"Type": "AWS::EC2::VPCEndpoint", "Properties": properties}));
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "VPC endpoints for netready / Fargate runners in {region}: {} interface endpoints with private DNS, \
             the S3 gateway endpoint. Generated by netready endpoints {}.",
            required.iter().filter(|e| e.endpoint_type == EndpointType::Interface).count(),
            env!("CARGO_PKG_VERSION")
        ),
        "Metadata": {"netready": {"region": region.as_str(), "note": AUTHORITY_NOTE}},
        "Parameters": {
            "VpcId": {"Type": "AWS::EC2::VPC::Id", "Description": "The VPC of the runner tasks"},
            "SubnetIds": {
                "Type": "List<AWS::EC2::Subnet::Id>",
                "Description": "Subnets for the interface endpoints' network interfaces (one per Availability Zone of the tasks)"
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
        assert_eq!(r["EcrApiInterfaceEndpoint"]["Properties"]["ServiceName"], "cn.com.amazonaws.cn-north-1.ecr.api");
        assert_eq!(r["S3GatewayEndpoint"]["Properties"]["ServiceName"], "com.amazonaws.cn-north-1.s3");
    }
}
