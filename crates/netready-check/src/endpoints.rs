//! The endpoints a Fargate runner must reach, with hostnames for the region's partition.

use crate::types::{Region, RegistryId, ServiceKey};

/// The port the source document requires: HTTPS.
pub const DEFAULT_PORT: u16 = 443;

/// One service endpoint to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
}

/// The five endpoints of the source document, in its order.
///
/// ECR Docker is probed at the registry host `<registry-id>.dkr.ecr.<region>.<suffix>`, the name an
/// image pull really uses. Without a registry id the bare `dkr.ecr.<region>.<suffix>` is probed
/// instead; an `ecr.dkr` interface endpoint with private DNS answers both.
pub fn endpoints(region: &Region, registry_id: Option<&RegistryId>, port: u16) -> Vec<Endpoint> {
    ServiceKey::ALL
        .iter()
        .map(|&service| Endpoint { service, host: hostname(service, region, registry_id), port })
        .collect()
}

/// The hostname of one service in one region.
pub fn hostname(service: ServiceKey, region: &Region, registry_id: Option<&RegistryId>) -> String {
    let suffix = region.partition().dns_suffix();
    match service {
        ServiceKey::SecretsManager => format!("secretsmanager.{region}.{suffix}"),
        ServiceKey::Logs => format!("logs.{region}.{suffix}"),
        ServiceKey::EcrApi => format!("api.ecr.{region}.{suffix}"),
        ServiceKey::EcrDkr => match registry_id {
            Some(id) => format!("{id}.dkr.ecr.{region}.{suffix}"),
            None => format!("dkr.ecr.{region}.{suffix}"),
        },
        ServiceKey::S3 => format!("s3.{region}.{suffix}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hosts(region: &str, registry: Option<&str>) -> Vec<String> {
        let region: Region = region.parse().unwrap();
        let registry: Option<RegistryId> = registry.map(|r| r.parse().unwrap());
        endpoints(&region, registry.as_ref(), DEFAULT_PORT).into_iter().map(|e| e.host).collect()
    }

    #[test]
    fn commercial_partition() {
        assert_eq!(
            hosts("eu-west-3", Some("111122223333")),
            [
                "secretsmanager.eu-west-3.amazonaws.com",
                "logs.eu-west-3.amazonaws.com",
                "api.ecr.eu-west-3.amazonaws.com",
                "111122223333.dkr.ecr.eu-west-3.amazonaws.com",
                "s3.eu-west-3.amazonaws.com",
            ]
        );
    }

    #[test]
    fn china_partition_uses_its_own_suffix() {
        assert_eq!(
            hosts("cn-north-1", Some("111122223333")),
            [
                "secretsmanager.cn-north-1.amazonaws.com.cn",
                "logs.cn-north-1.amazonaws.com.cn",
                "api.ecr.cn-north-1.amazonaws.com.cn",
                "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "s3.cn-north-1.amazonaws.com.cn",
            ]
        );
    }

    #[test]
    fn govcloud_keeps_the_commercial_suffix() {
        assert_eq!(hosts("us-gov-west-1", None)[0], "secretsmanager.us-gov-west-1.amazonaws.com");
    }

    #[test]
    fn without_a_registry_id_the_bare_ecr_docker_host_is_probed() {
        assert_eq!(hosts("us-east-1", None)[3], "dkr.ecr.us-east-1.amazonaws.com");
    }

    #[test]
    fn order_and_port() {
        let region: Region = "us-east-1".parse().unwrap();
        let eps = endpoints(&region, None, 8443);
        assert_eq!(eps.iter().map(|e| e.service).collect::<Vec<_>>(), ServiceKey::ALL);
        assert!(eps.iter().all(|e| e.port == 8443));
    }
}
