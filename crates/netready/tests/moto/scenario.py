#!/usr/bin/env python3
"""Builds one VPC scenario in a moto server through the AWS API (boto3) and prints what the test
needs as JSON: the task ARN and ENI, the resource ids, and an address per endpoint.

Each call makes a new VPC, cluster and task, so scenarios do not see each other.

  scenario.py ENDPOINT_URL SCENARIO [--deny ACTION POLICY | --stop REASON]

Every scenario: VPC 10.0.0.0/16 (DNS support and hostnames on), task subnet 10.0.1.0/24 and
endpoint subnet 10.0.2.0/24 in eu-west-3a, the subnet's own route table, a task security group
(default allow-all egress) and a Fargate task (awsvpc) through ECS RunTask.
"""

import json
import sys
import uuid

import boto3

import fargate

REGION = "eu-west-3"


def client(service, url, key="testing", secret="testing"):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def main():
    url, scenario = sys.argv[1], sys.argv[2]
    deny = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--deny" else None
    ec2, ecs = client("ec2", url), client("ecs", url)
    name = f"{scenario}-{uuid.uuid4().hex[:8]}"
    out = {"scenario": scenario}

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    # moto's RunTask needs hostnames on (it names the task ENI); real VPCs with private DNS do too.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    endpoint_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone=f"{REGION}a")["Subnet"][
        "SubnetId"
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    task_sg = ec2.create_security_group(GroupName=f"task-{name}", Description="task", VpcId=vpc)["GroupId"]
    out.update(vpc=vpc, subnet=subnet, route_table=table, task_sg=task_sg)

    s3_list = next(p for p in ec2.describe_prefix_lists()["PrefixLists"] if p["PrefixListName"] == f"com.amazonaws.{REGION}.s3")
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=s3_list["PrefixListId"])["Entries"]
    first = entries[0]["Cidr"].split("/")[0].split(".")
    # An address inside the S3 prefix list moto has (not the region's real ranges).
    s3_address = ".".join(first[:3] + [str(int(first[3]) + 10)])
    out["s3_prefix_list"] = s3_list["PrefixListId"]
    out["addresses"] = {
        "secretsmanager": "35.180.1.1",
        "logs": "35.180.1.2",
        "ecr_api": "35.180.1.3",
        "ecr_dkr": "35.180.1.4",
        "s3": s3_address,
    }

    def igw():
        gw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gw, VpcId=vpc)
        return gw

    def nat():
        public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.100.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
        ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw())
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        gw = ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw)
        out["nat"] = gw
        return public_table

    def interface(service, private_dns, ingress):
        sg = ec2.create_security_group(GroupName=f"endpoints-{name}", Description="endpoints", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[ingress(sg)])
        ep = ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[endpoint_subnet],
            SecurityGroupIds=[sg],
            PrivateDnsEnabled=private_dns,
        )["VpcEndpoint"]
        out["endpoint_sg"] = sg
        out["endpoint"] = ep["VpcEndpointId"]
        return ep

    from_task = lambda sg: {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": task_sg}]}
    from_elsewhere = lambda sg: {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.9.0/24"}]}

    if scenario == "nat":
        nat()
    elif scenario in ("igw_eip", "igw_no_public_ip"):
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw())
    elif scenario == "s3_gateway":
        nat()
        out["s3_endpoint"] = ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[table]
        )["VpcEndpoint"]["VpcEndpointId"]
    elif scenario == "s3_gateway_unassociated":
        public_table = nat()
        out["s3_endpoint"] = ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[public_table]
        )["VpcEndpoint"]["VpcEndpointId"]
    elif scenario == "interface_private_dns":
        nat()
        interface("logs", True, from_task)
    elif scenario == "interface_no_private_dns":
        interface("logs", False, from_task)
    elif scenario == "interface_sg_denies":
        nat()
        interface("logs", True, from_elsewhere)
    elif scenario == "dns_support_off":
        nat()
        interface("logs", True, from_task)
    elif scenario == "lab":
        # The namespace lab's VPC (crates/netready-lab) as EC2 describes it: interface endpoints with
        # private DNS for Secrets Manager, ECR API and ECR Docker admitting the task's group; CloudWatch
        # Logs' endpoint with a group that admits another subnet only; S3 through its gateway endpoint;
        # NAT for the rest. moto puts an endpoint's interface outside its subnet: each also carries the
        # lab's address of its service (10.0.2.10-13) as a secondary address.
        nat()
        out["s3_endpoint"] = ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[table]
        )["VpcEndpoint"]["VpcEndpointId"]
        admits_task = ec2.create_security_group(GroupName=f"endpoints-{name}", Description="endpoints", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=admits_task, IpPermissions=[from_task(admits_task)])
        logs_sg = ec2.create_security_group(GroupName=f"logs-endpoint-{name}", Description="logs", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=logs_sg, IpPermissions=[from_elsewhere(logs_sg)])
        out["endpoints"] = {}
        for service, suffix, address, group in [
            ("secretsmanager", "secretsmanager", "10.0.2.10", admits_task),
            ("logs", "logs", "10.0.2.11", logs_sg),
            ("ecr_api", "ecr.api", "10.0.2.12", admits_task),
            ("ecr_dkr", "ecr.dkr", "10.0.2.13", admits_task),
        ]:
            ep = ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=f"com.amazonaws.{REGION}.{suffix}",
                VpcEndpointType="Interface",
                SubnetIds=[endpoint_subnet],
                SecurityGroupIds=[group],
                PrivateDnsEnabled=True,
            )["VpcEndpoint"]
            ec2.assign_private_ip_addresses(NetworkInterfaceId=ep["NetworkInterfaceIds"][0], PrivateIpAddresses=[address])
            out["endpoints"][service] = ep["VpcEndpointId"]
            out["addresses"][service] = address
        out["logs_sg"] = logs_sg
    elif scenario in ("private_endpoints", "sg_only_22", "private_zone", "forwarded"):
        # The VPC: no NAT, four interface endpoints with private DNS admitting the task's group,
        # S3 through its gateway endpoint. Each endpoint interface carries an address of the endpoint
        # subnet (moto gives it one outside the VPC as primary).
        out["s3_endpoint"] = ec2.create_vpc_endpoint(
            VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway", RouteTableIds=[table]
        )["VpcEndpoint"]["VpcEndpointId"]
        admits_task = ec2.create_security_group(GroupName=f"endpoints-{name}", Description="endpoints", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=admits_task, IpPermissions=[from_task(admits_task)])
        out["endpoints"] = {}
        out["endpoint_addresses"] = {}
        for service, suffix, address in [
            ("secretsmanager", "secretsmanager", "10.0.2.10"),
            ("logs", "logs", "10.0.2.11"),
            ("ecr_api", "ecr.api", "10.0.2.12"),
            ("ecr_dkr", "ecr.dkr", "10.0.2.13"),
        ]:
            ep = ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=f"com.amazonaws.{REGION}.{suffix}",
                VpcEndpointType="Interface",
                SubnetIds=[endpoint_subnet],
                SecurityGroupIds=[admits_task],
                PrivateDnsEnabled=True,
            )["VpcEndpoint"]
            ec2.assign_private_ip_addresses(NetworkInterfaceId=ep["NetworkInterfaceIds"][0], PrivateIpAddresses=[address])
            out["endpoints"][service] = ep["VpcEndpointId"]
            out["endpoint_addresses"][service] = address
        if scenario == "private_zone":
            # A private hosted zone that shadows one service's name, associated with the VPC.
            zone = client("route53", url).create_hosted_zone(
                Name=f"secretsmanager.{REGION}.amazonaws.com",
                CallerReference=name,
                VPC={"VPCRegion": REGION, "VPCId": vpc},
                HostedZoneConfig={"Comment": "shadows Secrets Manager", "PrivateZone": True},
            )["HostedZone"]["Id"]
            out["zone"] = zone.split("/")[-1]
        if scenario == "forwarded":
            # An outbound Resolver endpoint, a FORWARD rule for amazonaws.com to on-premises resolvers
            # and a SYSTEM rule that keeps S3's regional name with the VPC's resolver.
            resolver = client("route53resolver", url)
            outbound = resolver.create_resolver_endpoint(
                CreatorRequestId=f"out-{name}",
                Name=f"out-{name}",
                SecurityGroupIds=[admits_task],
                Direction="OUTBOUND",
                IpAddresses=[{"SubnetId": endpoint_subnet}, {"SubnetId": endpoint_subnet}],
            )["ResolverEndpoint"]["Id"]
            forward = resolver.create_resolver_rule(
                CreatorRequestId=f"fwd-{name}",
                Name=f"fwd-{name}",
                RuleType="FORWARD",
                DomainName="amazonaws.com",
                TargetIps=[{"Ip": "192.168.10.53", "Port": 53}, {"Ip": "192.168.11.53", "Port": 53}],
                ResolverEndpointId=outbound,
            )["ResolverRule"]["Id"]
            system = resolver.create_resolver_rule(
                CreatorRequestId=f"sys-{name}", Name=f"sys-{name}", RuleType="SYSTEM", DomainName=f"s3.{REGION}.amazonaws.com"
            )["ResolverRule"]["Id"]
            for rule in (forward, system):
                resolver.associate_resolver_rule(ResolverRuleId=rule, VPCId=vpc, Name=f"{rule}-{name}")
            out.update(forward_rule=forward, system_rule=system)
        if scenario == "sg_only_22":
            ec2.revoke_security_group_egress(
                GroupId=task_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
            )
            ec2.authorize_security_group_egress(
                GroupId=task_sg,
                IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            )
    elif scenario == "two_subnets":
        # A NAT path from the task subnet; a second subnet whose own table has no default route.
        nat()
        bad = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
        bad_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=bad_table, SubnetId=bad)
        out.update(bad_subnet=bad, bad_route_table=bad_table)
    elif scenario == "tgw":
        tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", TransitGatewayId=tgw)
        out["tgw"] = tgw
    elif scenario == "sg_no_443":
        nat()
        ec2.revoke_security_group_egress(
            GroupId=task_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        ec2.authorize_security_group_egress(
            GroupId=task_sg,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )
    elif scenario == "nacl_deny":
        nat()
        acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
        for number, egress, protocol, ports, action in [
            (90, True, "6", (443, 443), "deny"),
            (100, True, "-1", None, "allow"),
            (100, False, "-1", None, "allow"),
        ]:
            kwargs = {"PortRange": {"From": ports[0], "To": ports[1]}} if ports else {}
            ec2.create_network_acl_entry(
                NetworkAclId=acl,
                RuleNumber=number,
                Protocol=protocol,
                RuleAction=action,
                Egress=egress,
                CidrBlock="0.0.0.0/0",
                **kwargs,
            )
        association = next(
            a["NetworkAclAssociationId"]
            for a in ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
                "NetworkAcls"
            ][0]["Associations"]
            if a["SubnetId"] == subnet
        )
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
        out["network_acl"] = acl
    else:
        raise SystemExit(f"unknown scenario {scenario}")

    task = fargate.run_task(ecs, name, subnet, task_sg, public_ip=scenario == "igw_eip")
    out["task_arn"] = task["taskArn"]
    out["cluster"] = name
    if scenario == "two_subnets":
        ecs.create_service(
            cluster=name,
            serviceName="runner",
            taskDefinition=name,
            desiredCount=0,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [subnet, out["bad_subnet"]],
                    "securityGroups": [task_sg],
                    "assignPublicIp": "DISABLED",
                }
            },
        )
        out["service"] = "runner"
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    out["eni"] = details["networkInterfaceId"]
    out["task_ip"] = details["privateIPv4Address"]
    if scenario == "igw_eip":
        # moto gives the task ENI no public IP for assignPublicIp ENABLED: an Elastic IP does.
        eip = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=out["eni"])
        out["public_ip"] = eip["PublicIp"]
    stop = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] == "--stop" else None
    if stop:
        # The task stops as Fargate stops one that cannot reach ECR (moto keeps its attachment).
        ecs.stop_task(cluster=name, task=task["taskArn"], reason=sys.argv[4])
    if scenario == "dns_support_off":
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})

    if deny:
        # A user allowed every action of the diagnosis policy except one.
        iam = client("iam", url)
        with open(sys.argv[5]) as f:
            policy = json.load(f)
        actions = [a for a in policy["Statement"][0]["Action"] if a != deny]
        user = f"netready-{name}"
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName="diagnosis",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        out["access_key_id"] = key["AccessKeyId"]
        out["secret_access_key"] = key["SecretAccessKey"]

    print(json.dumps(out))


if __name__ == "__main__":
    main()
