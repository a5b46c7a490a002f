//! The services a Fargate runner must reach, one key each. The check, the diagnosis, the report
//! and the plane all speak of them by this type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The services a runner must reach, in the order the source document lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKey {
    #[serde(rename = "secretsmanager")]
    SecretsManager,
    Logs,
    EcrApi,
    EcrDkr,
    S3,
}

impl ServiceKey {
    pub const ALL: [ServiceKey; 5] =
        [ServiceKey::SecretsManager, ServiceKey::Logs, ServiceKey::EcrApi, ServiceKey::EcrDkr, ServiceKey::S3];

    /// The key used in reports, metrics and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKey::SecretsManager => "secretsmanager",
            ServiceKey::Logs => "logs",
            ServiceKey::EcrApi => "ecr_api",
            ServiceKey::EcrDkr => "ecr_dkr",
            ServiceKey::S3 => "s3",
        }
    }

    /// The service of a key (`ecr_api`), as reports and flags spell it.
    pub fn parse(key: &str) -> Option<ServiceKey> {
        ServiceKey::ALL.into_iter().find(|s| s.as_str() == key)
    }

    /// The name people know the service by.
    pub fn display_name(self) -> &'static str {
        match self {
            ServiceKey::SecretsManager => "Secrets Manager",
            ServiceKey::Logs => "CloudWatch Logs",
            ServiceKey::EcrApi => "ECR API",
            ServiceKey::EcrDkr => "ECR Docker",
            ServiceKey::S3 => "S3",
        }
    }

    /// The suffix of the VPC endpoint service name, `com.amazonaws.<region>.<suffix>`.
    pub fn vpc_endpoint_suffix(self) -> &'static str {
        match self {
            ServiceKey::SecretsManager => "secretsmanager",
            ServiceKey::Logs => "logs",
            ServiceKey::EcrApi => "ecr.api",
            ServiceKey::EcrDkr => "ecr.dkr",
            ServiceKey::S3 => "s3",
        }
    }

    /// The endpoint service name without the `cn.` prefix some services carry in the China regions.
    pub fn endpoint_service_name(self, region: &str) -> String {
        format!("com.amazonaws.{region}.{}", self.vpc_endpoint_suffix())
    }

    /// Whether a VPC endpoint's service name is this service's in `region`: `com.amazonaws.…` or
    /// the China regions' `cn.com.amazonaws.…`.
    pub fn matches_endpoint(self, service_name: &str, region: &str) -> bool {
        let name = service_name.strip_prefix("cn.").unwrap_or(service_name);
        name == self.endpoint_service_name(region)
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn service_keys_serialize_as_report_keys() {
        for k in ServiceKey::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
            assert_eq!(ServiceKey::parse(k.as_str()), Some(k));
        }
        assert_eq!(ServiceKey::parse("s4"), None);
    }

    #[test]
    fn endpoint_service_names_match_with_and_without_the_china_prefix() {
        assert!(ServiceKey::EcrApi.matches_endpoint("com.amazonaws.eu-west-3.ecr.api", "eu-west-3"));
        assert!(ServiceKey::EcrApi.matches_endpoint("cn.com.amazonaws.cn-north-1.ecr.api", "cn-north-1"));
        assert!(!ServiceKey::EcrApi.matches_endpoint("com.amazonaws.eu-west-3.ecr.dkr", "eu-west-3"));
        assert!(!ServiceKey::S3.matches_endpoint("com.amazonaws.eu-west-1.s3", "eu-west-3"));
    }
}
