//! Small domain types, parsed once at the edge (flags, environment, task metadata) so that the rest
//! of the check never has to ask whether a region or a registry id is well formed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value given by the user was rejected. The message says what form is expected; the caller
/// adds which flag or variable carried it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// An AWS region code such as `eu-west-3`, `cn-north-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition the region belongs to, which decides the DNS suffix of its service endpoints.
    pub fn partition(&self) -> Partition {
        if self.0.starts_with("cn-") {
            Partition::AwsCn
        } else if self.0.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }
}

impl FromStr for Region {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected an AWS region code such as eu-west-3, cn-north-1 or us-gov-west-1";
        let parts: Vec<&str> = s.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty();
        if !well_formed {
            return Err(ParseError::new(format!("'{s}' is not a region: {expected}")));
        }
        if s.starts_with("us-iso") || s.starts_with("eu-isoe") {
            return Err(ParseError::new(format!(
                "region '{s}' is in an isolated partition, which netready does not support: \
                 supported are the aws, aws-cn and aws-us-gov partitions"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Region {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Region> for String {
    fn from(r: Region) -> Self {
        r.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS partition: a group of regions that share a DNS suffix and ARN prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Partition {
    #[serde(rename = "aws")]
    Aws,
    #[serde(rename = "aws-cn")]
    AwsCn,
    #[serde(rename = "aws-us-gov")]
    AwsUsGov,
}

impl Partition {
    /// The partition id as it appears in ARNs (`arn:<partition>:…`).
    pub fn id(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// The DNS suffix of service endpoints in this partition.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
            Partition::AwsCn => "amazonaws.com.cn",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// An ECR registry id: the 12-digit AWS account id that owns the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryId(String);

impl RegistryId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RegistryId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(format!(
                "'{s}' is not an ECR registry id: expected the 12-digit AWS account id, such as 111122223333"
            )))
        }
    }
}

impl fmt::Display for RegistryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The services a runner must reach: one type for the check, the diagnosis and the report.
pub use netready_diagnose::ServiceKey;

/// Parses `true`/`false` and the stack's `ENABLED`/`DISABLED` spelling of `AssignPublicIp`.
pub fn parse_bool(s: &str) -> Result<bool, ParseError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "enabled" => Ok(true),
        "false" | "no" | "0" | "disabled" => Ok(false),
        _ => Err(ParseError::new(format!(
            "'{s}' is not a boolean: expected true or false (ENABLED or DISABLED also accepted)"
        ))),
    }
}

/// Parses a duration such as `500ms`, `2s` or `1m30s`. Zero is rejected: a zero deadline would
/// make every probe fail.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, ParseError> {
    let d = humantime::parse_duration(s.trim()).map_err(|_| {
        ParseError::new(format!("'{s}' is not a duration: expected a number with a unit, such as 500ms, 2s or 1m"))
    })?;
    if d.is_zero() {
        return Err(ParseError::new(format!(
            "'{s}' is zero: expected a duration greater than zero, such as 500ms or 2s"
        )));
    }
    Ok(d)
}

/// Parses a TCP port, 1 to 65535.
pub fn parse_port(s: &str) -> Result<u16, ParseError> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ParseError::new(format!("'{s}' is not a port: expected a number from 1 to 65535"))),
    }
}

/// Parses an IPv4 or IPv6 network in CIDR form, such as `10.0.0.0/16`.
pub fn parse_cidr(s: &str) -> Result<ipnet::IpNet, ParseError> {
    s.trim()
        .parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| ParseError::new(format!("'{s}' is not a CIDR block: expected a network such as 10.0.0.0/16")))
}

/// Whole milliseconds, as the report carries them.
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_their_partitions() {
        let cases = [
            ("eu-west-3", Partition::Aws, "amazonaws.com"),
            ("us-east-1", Partition::Aws, "amazonaws.com"),
            ("ap-southeast-4", Partition::Aws, "amazonaws.com"),
            ("il-central-1", Partition::Aws, "amazonaws.com"),
            ("cn-north-1", Partition::AwsCn, "amazonaws.com.cn"),
            ("cn-northwest-1", Partition::AwsCn, "amazonaws.com.cn"),
            ("us-gov-west-1", Partition::AwsUsGov, "amazonaws.com"),
            ("us-gov-east-1", Partition::AwsUsGov, "amazonaws.com"),
        ];
        for (code, partition, suffix) in cases {
            let region: Region = code.parse().unwrap();
            assert_eq!(region.partition(), partition, "{code}");
            assert_eq!(region.partition().dns_suffix(), suffix, "{code}");
        }
    }

    #[test]
    fn malformed_regions_are_rejected_with_the_expected_form() {
        for bad in ["", "eu", "euwest3", "EU-WEST-3", "eu-west-", "eu-west-x", "-west-1", "eu--1", "eu west 1"] {
            let err = bad.parse::<Region>().unwrap_err().to_string();
            assert!(err.contains("expected an AWS region code"), "{bad}: {err}");
        }
        let err = "us-iso-east-1".parse::<Region>().unwrap_err().to_string();
        assert!(err.contains("isolated partition"), "{err}");
    }

    #[test]
    fn registry_ids_are_twelve_digits() {
        assert_eq!("111122223333".parse::<RegistryId>().unwrap().as_str(), "111122223333");
        for bad in ["11112222333", "1111222233334", "11112222333a", ""] {
            assert!(bad.parse::<RegistryId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans_durations_ports_cidrs() {
        assert!(parse_bool("TRUE").unwrap());
        assert!(parse_bool("ENABLED").unwrap());
        assert!(!parse_bool("false").unwrap());
        assert!(!parse_bool("DISABLED").unwrap());
        assert!(parse_bool("maybe").unwrap_err().to_string().contains("expected true or false"));

        assert_eq!(parse_duration("500ms").unwrap(), std::time::Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), std::time::Duration::from_secs(2));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").unwrap_err().to_string().contains("greater than zero"));

        assert_eq!(parse_port("443").unwrap(), 443);
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());

        assert_eq!(parse_cidr("10.0.1.7/16").unwrap().to_string(), "10.0.0.0/16");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0.0").is_err());
    }
}
