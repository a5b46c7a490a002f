//! What `netready endpoints` prints: the required VPC endpoints as a table, as JSON, or as a
//! CloudFormation template that creates them (the interface endpoints with private DNS, the S3
//! gateway endpoint on the given route tables, and a security group that admits 443 from the
//! task's security group). Pure: the binary reads the VPC and prints.
//!
//! The template is the endpoints stack of deploy/cloudformation (README "Deploy on AWS"): runners
//! depend on these endpoints for their image pull, secrets and logs, so every resource is kept
//! (`DeletionPolicy`/`UpdateReplacePolicy: Retain`) when the stack is deleted or a resource
//! replaced, and the agent stack no longer creates them.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{AUTHORITY_NOTE, EndpointType, RequiredEndpoint, Vpc};
use crate::types::Region;

/// The table `netready endpoints` prints; with `vpc`, the endpoints it lacks (`required`) and those
/// it has.
pub fn table(region: &Region, required: &[RequiredEndpoint], vpc: Option<&Vpc>) -> String {
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

/// The same as JSON.
pub fn json_list(region: &Region, required: &[RequiredEndpoint], vpc: Option<&Vpc>) -> Value {
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

/// A CloudFormation template creating `required`, each resource retained when the stack is
/// deleted or the resource replaced.
pub fn cloudformation(region: &Region, required: &[RequiredEndpoint]) -> Value {
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
    use crate::types::ServiceKey;
    use crate::vpce;

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
