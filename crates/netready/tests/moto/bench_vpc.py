#!/usr/bin/env python3
"""Builds the diagnosis benchmark's VPC in a moto server and prints its ids as JSON:

  bench_vpc.py ENDPOINT_URL [SUBNETS ENDPOINTS GROUPS]   (default 200 50 100)

VPC 10.0.0.0/16 with SUBNETS /24 subnets over three zones, a route table per ten subnets (a
NAT gateway route), a public subnet with the NAT gateway and an internet gateway, GROUPS security
groups (each with an ingress and an egress rule, some referring to another group), ENDPOINTS
interface endpoints (the runner's four with private DNS, the others for other services) spread
over the subnets, an S3 gateway endpoint on every table, a private hosted zone and a Resolver
FORWARD rule for `corp.example` associated with the VPC (so every DNS read is made; neither covers
an AWS name), and a Fargate task in the first subnet.
"""

import json
import sys

import boto3

import fargate

REGION = "eu-west-3"
OTHER_SERVICES = [
    "ssm", "ssmmessages", "ec2messages", "kms", "sts", "sqs", "sns", "monitoring", "events", "elasticloadbalancing",
    "autoscaling", "ecs", "ecs-agent", "ecs-telemetry", "ec2", "lambda", "states", "execute-api", "codebuild",
    "codecommit", "git-codecommit", "secretsmanager", "logs", "ecr.api", "ecr.dkr", "kinesis-streams",
    "kinesis-firehose", "athena", "glue", "elasticfilesystem", "servicecatalog", "sagemaker.api", "rds",
    "cloudformation", "config", "ebs", "elasticache", "email-smtp", "appmesh-envoy-management", "xray",
    "application-autoscaling", "codepipeline", "datasync", "dms", "ebs", "acm-pca", "airflow.api", "backup",
    "batch", "cassandra",
]


def main():
    url = sys.argv[1]
    n_subnets, n_endpoints, n_groups = (int(a) for a in sys.argv[2:5]) if len(sys.argv) >= 5 else (200, 50, 100)
    kw = dict(endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.255.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]

    subnets, tables = [], []
    for i in range(n_subnets):
        zone = f"{REGION}{'abc'[i % 3]}"
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        if i % 10 == 0:
            table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
            tables.append(table)
        ec2.associate_route_table(RouteTableId=tables[-1], SubnetId=subnet)
        subnets.append(subnet)

    groups = []
    for i in range(n_groups):
        sg = ec2.create_security_group(GroupName=f"bench-{i}", Description="bench", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=sg,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}],
        )
        if groups:
            ec2.authorize_security_group_egress(
                GroupId=sg,
                IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": groups[-1]}]}],
            )
        groups.append(sg)

    endpoints = []
    for i in range(n_endpoints):
        service = OTHER_SERVICES[i % len(OTHER_SERVICES)]
        runner = service in ("secretsmanager", "logs", "ecr.api", "ecr.dkr")
        ep = ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[subnets[(i * 7) % n_subnets], subnets[(i * 7 + 1) % n_subnets], subnets[(i * 7 + 2) % n_subnets]],
            SecurityGroupIds=[groups[i % n_groups]],
            PrivateDnsEnabled=runner and service not in [e["service"] for e in endpoints if e["private_dns"]],
        )["VpcEndpoint"]
        endpoints.append({"id": ep["VpcEndpointId"], "service": service, "private_dns": ep.get("PrivateDnsEnabled", False)})
    s3 = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=tables
    )["VpcEndpoint"]["VpcEndpointId"]

    boto3.client("route53", **kw).create_hosted_zone(
        Name="corp.example", CallerReference=f"bench-{vpc}", VPC={"VPCRegion": REGION, "VPCId": vpc},
        HostedZoneConfig={"Comment": "bench", "PrivateZone": True},
    )
    resolver = boto3.client("route53resolver", **kw)
    rule = resolver.create_resolver_rule(
        CreatorRequestId=f"bench-{vpc}", Name="corp", RuleType="FORWARD", DomainName="corp.example",
        TargetIps=[{"Ip": "192.168.10.53", "Port": 53}],
    )["ResolverRule"]["Id"]
    resolver.associate_resolver_rule(ResolverRuleId=rule, VPCId=vpc, Name="corp")

    name = "bench"
    task = fargate.run_task(ecs, name, subnets[0], groups[0])
    print(json.dumps({
        "vpc": vpc, "subnets": subnets, "groups": groups, "endpoints": [e["id"] for e in endpoints], "s3_endpoint": s3,
        "task_arn": task["taskArn"], "nat": nat,
    }))


if __name__ == "__main__":
    main()
