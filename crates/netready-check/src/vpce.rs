//! Which VPC endpoint serves each required host (pure): the endpoint service name, per partition,
//! and the endpoint type. `netready endpoints` prints it and turns it into CloudFormation
//! ([`render`]).
//!
//! The host names come from [`crate::endpoints`]; this module adds only what a VPC needs to reach
//! them privately. Service names are `com.amazonaws.<region>.<service>`, except in the China
//! regions where some services carry a `cn.` prefix (`cn.com.amazonaws.cn-north-1.ecr.api`). That
//! prefix varies by service and region: `ec2:DescribeVpcEndpointServices` in the target region is
//! the authority, and [`AUTHORITY_NOTE`] says so wherever these names are printed.

pub mod render;

use crate::endpoints::hostname;
use crate::types::{Partition, Region, RegistryId, ServiceKey};

/// Printed beside the service names: they are what this table expects, not what AWS answers.
pub const AUTHORITY_NOTE: &str = "service names as netready expects them; in the China regions the `cn.` prefix varies \
     by service and region, and `aws ec2 describe-vpc-endpoint-services` in the target region is the authority";

/// The two kinds of VPC endpoint a runner can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointType {
    /// An ENI in the subnets (PrivateLink), answered by private DNS.
    Interface,
    /// Route-table entries (S3 and DynamoDB only): no DNS change, no hourly cost.
    Gateway,
}

impl EndpointType {
    /// The spelling of `AWS::EC2::VPCEndpoint` `VpcEndpointType` and of the EC2 API.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Interface => "Interface",
            EndpointType::Gateway => "Gateway",
        }
    }
}

impl std::fmt::Display for EndpointType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The VPC endpoint that gives private access to one required host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredEndpoint {
    pub service: ServiceKey,
    /// The host the runner dials (from [`crate::endpoints::hostname`]).
    pub host: String,
    /// The endpoint service name, e.g. `com.amazonaws.eu-west-3.ecr.api`.
    pub service_name: String,
    /// The recommended type: interface, except gateway for S3.
    pub endpoint_type: EndpointType,
    /// Whether an interface endpoint needs private DNS enabled for the host to resolve to it.
    pub private_dns: bool,
    /// The other possibility, if any: S3 also has an interface endpoint (private DNS, costs extra).
    pub alternative: Option<(EndpointType, String)>,
}

/// The endpoint service name of `service` in `region`, for an endpoint of type `endpoint_type`.
pub fn service_name(service: ServiceKey, region: &Region, endpoint_type: EndpointType) -> String {
    let base = format!("com.amazonaws.{region}.{}", service.vpc_endpoint_suffix());
    let cn_prefixed = region.partition() == Partition::AwsCn
        && match service {
            ServiceKey::EcrApi | ServiceKey::EcrDkr => true,
            ServiceKey::S3 => endpoint_type == EndpointType::Interface,
            ServiceKey::SecretsManager | ServiceKey::Logs => false,
        };
    if cn_prefixed { format!("cn.{base}") } else { base }
}

/// The endpoints that give a task in `region` private access to every required host, in the
/// source document's order.
pub fn required(region: &Region, registry_id: Option<&RegistryId>) -> Vec<RequiredEndpoint> {
    ServiceKey::ALL
        .iter()
        .map(|&service| {
            let (endpoint_type, alternative) = match service {
                ServiceKey::S3 => (
                    EndpointType::Gateway,
                    Some((EndpointType::Interface, service_name(service, region, EndpointType::Interface))),
                ),
                _ => (EndpointType::Interface, None),
            };
            RequiredEndpoint {
                service,
                host: hostname(service, region, registry_id),
                service_name: service_name(service, region, endpoint_type),
                endpoint_type,
                private_dns: endpoint_type == EndpointType::Interface,
                alternative,
            }
        })
        .collect()
}

/// The endpoint of `required`'s service that a VPC has, if any: an interface or gateway endpoint
/// of the service (with or without the China regions' `cn.` prefix) that is available or on its
/// way (pending, pending acceptance). One that is failed, rejected, expired or being deleted does
/// not count.
pub fn existing<'a>(
    required: &RequiredEndpoint,
    region: &Region,
    endpoints: &'a [netready_diagnose::facts::VpcEndpoint],
) -> Option<&'a netready_diagnose::facts::VpcEndpoint> {
    use netready_diagnose::facts::EndpointType as Kind;
    endpoints.iter().find(|e| {
        matches!(e.endpoint_type, Kind::Interface | Kind::Gateway)
            && required.service.matches_endpoint(&e.service_name, region.as_str())
            && matches!(e.state.to_ascii_lowercase().as_str(), "available" | "pending" | "pendingacceptance")
    })
}

/// What a VPC already has, for `netready endpoints --only-missing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub id: String,
    /// (service, endpoint id) of the required endpoints it has.
    pub present: Vec<(ServiceKey, String)>,
}

/// The required endpoints a VPC lacks, and the VPC with those it has ([`existing`]).
pub fn missing(
    required: Vec<RequiredEndpoint>,
    region: &Region,
    vpc_id: String,
    endpoints: &[netready_diagnose::facts::VpcEndpoint],
) -> (Vec<RequiredEndpoint>, Vpc) {
    let mut present = Vec::new();
    let missing: Vec<RequiredEndpoint> = required
        .into_iter()
        .filter(|r| match existing(r, region, endpoints) {
            Some(e) => {
                present.push((r.service, e.id.clone()));
                false
            }
            None => true,
        })
        .collect();
    (missing, Vpc { id: vpc_id, present })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use EndpointType::{Gateway, Interface};

    fn rows(region: &str) -> Vec<(String, String, EndpointType)> {
        let region: Region = region.parse().unwrap();
        let registry: RegistryId = "111122223333".parse().unwrap();
        required(&region, Some(&registry)).into_iter().map(|e| (e.host, e.service_name, e.endpoint_type)).collect()
    }

    fn row(host: &str, name: &str, ty: EndpointType) -> (String, String, EndpointType) {
        (host.to_owned(), name.to_owned(), ty)
    }

    #[test]
    fn commercial_partition() {
        assert_eq!(
            rows("eu-west-3"),
            [
                row("secretsmanager.eu-west-3.amazonaws.com", "com.amazonaws.eu-west-3.secretsmanager", Interface),
                row("logs.eu-west-3.amazonaws.com", "com.amazonaws.eu-west-3.logs", Interface),
                row("api.ecr.eu-west-3.amazonaws.com", "com.amazonaws.eu-west-3.ecr.api", Interface),
                row("111122223333.dkr.ecr.eu-west-3.amazonaws.com", "com.amazonaws.eu-west-3.ecr.dkr", Interface),
                row("s3.eu-west-3.amazonaws.com", "com.amazonaws.eu-west-3.s3", Gateway),
            ]
        );
    }

    #[test]
    fn china_partition_prefixes_ecr_and_the_s3_interface_service() {
        assert_eq!(
            rows("cn-north-1"),
            [
                row("secretsmanager.cn-north-1.amazonaws.com.cn", "com.amazonaws.cn-north-1.secretsmanager", Interface),
                row("logs.cn-north-1.amazonaws.com.cn", "com.amazonaws.cn-north-1.logs", Interface),
                row("api.ecr.cn-north-1.amazonaws.com.cn", "cn.com.amazonaws.cn-north-1.ecr.api", Interface),
                row(
                    "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn",
                    "cn.com.amazonaws.cn-north-1.ecr.dkr",
                    Interface
                ),
                row("s3.cn-north-1.amazonaws.com.cn", "com.amazonaws.cn-north-1.s3", Gateway),
            ]
        );
        let region: Region = "cn-northwest-1".parse().unwrap();
        assert_eq!(service_name(ServiceKey::S3, &region, Interface), "cn.com.amazonaws.cn-northwest-1.s3");
        assert_eq!(service_name(ServiceKey::S3, &region, Gateway), "com.amazonaws.cn-northwest-1.s3");
    }

    #[test]
    fn an_existing_endpoint_counts_by_service_and_state() {
        use netready_diagnose::facts::{EndpointType as Kind, VpcEndpoint};
        let endpoint = |name: &str, kind: Kind, state: &str| VpcEndpoint {
            id: format!("vpce-{name}-{state}"),
            service_name: name.to_owned(),
            endpoint_type: kind,
            state: state.to_owned(),
            private_dns_enabled: true,
            subnet_ids: vec![],
            security_group_ids: vec![],
            route_table_ids: vec![],
            addresses: vec![],
        };
        let region: Region = "cn-north-1".parse().unwrap();
        let all = required(&region, None);
        let vpc = [
            endpoint("cn.com.amazonaws.cn-north-1.ecr.api", Kind::Interface, "available"),
            endpoint("com.amazonaws.cn-north-1.logs", Kind::Interface, "failed"),
            endpoint("com.amazonaws.cn-north-1.s3", Kind::Gateway, "pending"),
            endpoint("com.amazonaws.cn-north-1.secretsmanager", Kind::GatewayLoadBalancer, "available"),
        ];
        let found: Vec<bool> = all.iter().map(|r| existing(r, &region, &vpc).is_some()).collect();
        // secretsmanager (only a load balancer endpoint), logs (failed), ecr_dkr: missing.
        assert_eq!(found, [false, false, true, false, true]);
    }

    #[test]
    fn govcloud_has_no_prefix() {
        let names: Vec<String> = rows("us-gov-west-1").into_iter().map(|r| r.1).collect();
        assert_eq!(names[2], "com.amazonaws.us-gov-west-1.ecr.api");
        assert!(names.iter().all(|n| n.starts_with("com.amazonaws.us-gov-west-1.")), "{names:?}");
    }

    #[test]
    fn s3_gateway_is_recommended_with_the_interface_as_the_alternative() {
        let region: Region = "us-east-1".parse().unwrap();
        let all = required(&region, None);
        let s3 = all.iter().find(|e| e.service == ServiceKey::S3).unwrap();
        assert_eq!((s3.endpoint_type, s3.private_dns), (Gateway, false));
        assert_eq!(s3.alternative, Some((Interface, "com.amazonaws.us-east-1.s3".to_owned())));
        assert!(all.iter().filter(|e| e.service != ServiceKey::S3).all(|e| e.private_dns && e.alternative.is_none()));
        assert_eq!(all[3].host, "dkr.ecr.us-east-1.amazonaws.com");
    }
}
