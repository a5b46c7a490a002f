//! Where the check's settings come from, in order: the flag, its `NETREADY_*` variable (both given
//! by the binary as [`Sourced`] values), the ECS task metadata, a default. Validation happens here,
//! once, and every message names the flag or variable that carried the bad value.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use netready_diagnose::AwsApi;

use crate::endpoints::{DEFAULT_PORT, Endpoint, endpoints};
use crate::metadata::TaskMetadata;
use crate::report::{ProxyInfo, PublicIp, PublicIpSource, TaskInfo};
use crate::tls::TlsProbe;
use crate::types::{self, ParseError, Region, RegistryId};

/// The default deadline per endpoint, DNS and connect together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The proxy variables the check looks for (and ignores for its probes).
pub const PROXY_VARIABLES: [&str; 6] =
    ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// A raw value and where it came from: a flag (`--region`) or a variable (`NETREADY_REGION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    pub value: String,
    pub origin: String,
}

impl Sourced {
    pub fn new(value: impl Into<String>, origin: impl Into<String>) -> Self {
        Self { value: value.into(), origin: origin.into() }
    }

    /// The value parsed by `f`; its error names where the value came from ("invalid value for
    /// --timeout: …").
    pub fn parse<T>(&self, f: impl FnOnce(&str) -> Result<T, ParseError>) -> Result<T, SettingsError> {
        f(&self.value).map_err(|reason| SettingsError::Invalid { origin: self.origin.clone(), reason })
    }
}

/// The check's settings as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    pub region: Option<Sourced>,
    pub ecr_registry_id: Option<Sourced>,
    pub public_ip: Option<Sourced>,
    pub vpc_cidrs: Vec<Sourced>,
    pub timeout: Option<Sourced>,
    pub port: Option<Sourced>,
    pub tls: Option<Sourced>,
    pub ca_file: Option<Sourced>,
    pub ipv6: Option<Sourced>,
    pub aws_api: Option<Sourced>,
}

/// Validated settings; what is still unknown may come from task metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub region: Option<Region>,
    pub registry_id: Option<RegistryId>,
    pub public_ip: Option<bool>,
    pub vpc_cidrs: Vec<IpNet>,
    pub timeout: Duration,
    pub port: u16,
    /// Whether a TLS handshake follows each connection (default: yes).
    pub tls: bool,
    /// Extra CAs to trust, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Whether the task has IPv6; `None`: ask task metadata.
    pub ipv6: Option<bool>,
    /// Whether to read the task's network from the AWS APIs (default: when credentials are found).
    pub aws_api: AwsApi,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid value for {origin}: {reason}")]
    Invalid { origin: String, reason: ParseError },
    #[error("invalid value for {origin}: {reason}")]
    Tls { origin: String, reason: String },
    #[error(
        "no region: pass --region, or set NETREADY_REGION or AWS_REGION, or run in an ECS task \
         (ECS_CONTAINER_METADATA_URI_V4)"
    )]
    NoRegion,
}

impl RawSettings {
    /// Validates every value. `env` reads the environment; it supplies the AWS SDK's region
    /// variables when neither `--region` nor `NETREADY_REGION` is given.
    pub fn validate(&self, env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Result<Settings, SettingsError> {
        let region = self
            .region
            .clone()
            .or_else(|| env("AWS_REGION").filter(|v| !v.is_empty()).map(|v| Sourced::new(v, "AWS_REGION")))
            .or_else(|| {
                env("AWS_DEFAULT_REGION").filter(|v| !v.is_empty()).map(|v| Sourced::new(v, "AWS_DEFAULT_REGION"))
            });
        Ok(Settings {
            region: region.map(|r| r.parse(str::parse)).transpose()?,
            registry_id: self.ecr_registry_id.as_ref().map(|r| r.parse(str::parse)).transpose()?,
            public_ip: self.public_ip.as_ref().map(|p| p.parse(types::parse_bool)).transpose()?,
            vpc_cidrs: self.vpc_cidrs.iter().map(|c| c.parse(types::parse_cidr)).collect::<Result<_, _>>()?,
            timeout: self
                .timeout
                .as_ref()
                .map(|t| t.parse(types::parse_duration))
                .transpose()?
                .unwrap_or(DEFAULT_TIMEOUT),
            port: self.port.as_ref().map(|p| p.parse(types::parse_port)).transpose()?.unwrap_or(DEFAULT_PORT),
            tls: self.tls.as_ref().map(|t| t.parse(types::parse_bool)).transpose()?.unwrap_or(true),
            ca_file: match &self.ca_file {
                Some(f) if f.value.trim().is_empty() => {
                    return Err(SettingsError::Invalid {
                        origin: f.origin.clone(),
                        reason: ParseError::new("empty: expected the path of a PEM file of CA certificates"),
                    });
                }
                Some(f) => Some(PathBuf::from(&f.value)),
                None => None,
            },
            ipv6: self.ipv6.as_ref().map(|v| v.parse(types::parse_bool)).transpose()?,
            aws_api: self
                .aws_api
                .as_ref()
                .map(|v| v.parse(|s| s.parse::<AwsApi>().map_err(ParseError::new)))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Where `--ca-file` came from, for messages.
    fn ca_file_origin(&self) -> String {
        self.ca_file.as_ref().map_or_else(|| "--ca-file".to_owned(), |f| f.origin.clone())
    }

    /// Validates the settings and, when TLS is on, builds the TLS probe (reading `--ca-file`), so
    /// that a bad CA file is a configuration error before any check runs.
    pub fn validate_with_tls(
        &self,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(Settings, Option<Arc<TlsProbe>>), SettingsError> {
        let settings = self.validate(env)?;
        let probe = if settings.tls {
            let probe = TlsProbe::new(settings.ca_file.as_deref())
                .map_err(|e| SettingsError::Tls { origin: self.ca_file_origin(), reason: e.to_string() })?;
            Some(Arc::new(probe))
        } else {
            None
        };
        Ok((settings, probe))
    }
}

/// Everything one check needs, with settings and task metadata merged.
#[derive(Debug, Clone)]
pub struct Plan {
    pub region: Region,
    pub endpoints: Vec<Endpoint>,
    pub timeout: Duration,
    /// VPC and subnet CIDRs: addresses inside them are private.
    pub known_cidrs: Vec<IpNet>,
    pub task: TaskInfo,
    pub proxy: ProxyInfo,
    pub warnings: Vec<String>,
    /// Whether a TLS handshake follows each connection.
    pub tls: bool,
    /// Whether the task has IPv6, so AAAA answers are dialled.
    pub ipv6: bool,
}

impl Settings {
    /// The endpoints, when the settings alone decide them (region and registry id both given):
    /// what task metadata says cannot change them then, since settings win.
    pub fn endpoints_without_metadata(&self) -> Option<Vec<Endpoint>> {
        Some(endpoints(self.region.as_ref()?, Some(self.registry_id.as_ref()?), self.port))
    }

    /// Merges the settings with the task metadata (settings win) into a plan.
    pub fn plan(
        &self,
        metadata: Option<&TaskMetadata>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        mut warnings: Vec<String>,
    ) -> Result<Plan, SettingsError> {
        let meta = metadata.cloned().unwrap_or_default();
        let region = self.region.clone().or(meta.region.clone()).ok_or(SettingsError::NoRegion)?;
        let registry_id = self.registry_id.clone().or(meta.account_id.clone());
        if registry_id.is_none() {
            warnings.push(format!(
                "no ECR registry id (--ecr-registry-id, NETREADY_ECR_REGISTRY_ID or task metadata): probing \
                 dkr.ecr.{region}.{} instead of the registry host",
                region.partition().dns_suffix()
            ));
        }
        if let Some(meta_region) = &meta.region
            && *meta_region != region
        {
            warnings.push(format!("the task runs in {meta_region} but the check probes {region}, as configured"));
        }
        let mut known_cidrs = self.vpc_cidrs.clone();
        known_cidrs.extend(meta.subnet_cidr);
        known_cidrs.extend(meta.ipv6_subnet_cidr);
        let ipv6 = self.ipv6.unwrap_or(meta.private_ipv6.is_some());
        let public_ip = PublicIp {
            assigned: self.public_ip,
            address: None,
            source: if self.public_ip.is_some() { PublicIpSource::Config } else { PublicIpSource::Unknown },
        };
        let task = TaskInfo {
            region: region.to_string(),
            partition: region.partition().id().to_owned(),
            account_id: meta.account_id.as_ref().map(ToString::to_string),
            task_arn: meta.task_arn.clone(),
            cluster: meta.cluster.clone(),
            availability_zone: meta.availability_zone.clone(),
            private_ipv4: meta.private_ipv4.map(|ip| ip.to_string()),
            subnet_cidr: meta.subnet_cidr.map(|c| c.to_string()),
            private_ipv6: meta.private_ipv6.map(|ip| ip.to_string()),
            ipv6_subnet_cidr: meta.ipv6_subnet_cidr.map(|c| c.to_string()),
            public_ip,
        };
        Ok(Plan {
            endpoints: endpoints(&region, registry_id.as_ref(), self.port),
            region,
            timeout: self.timeout,
            known_cidrs,
            task,
            proxy: proxy_info(env),
            warnings,
            tls: self.tls,
            ipv6,
        })
    }
}

/// Which proxy variables are set (names only: their values may hold credentials).
pub fn proxy_info(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> ProxyInfo {
    let variables: Vec<String> = PROXY_VARIABLES
        .iter()
        .filter(|name| env(name).is_some_and(|v| !v.trim().is_empty()))
        .map(|name| (*name).to_owned())
        .collect();
    ProxyInfo { configured: !variables.is_empty(), variables }
}

impl Settings {
    /// `--check-config`: without a region and outside a task (`env` names no task metadata), the
    /// real run would fail the same way.
    pub fn require_region(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        if self.region.is_none() && env(crate::metadata::METADATA_URI_VAR).is_none() {
            return Err(SettingsError::NoRegion);
        }
        Ok(())
    }

    /// The resolved settings, one per line, for `--check-config`.
    pub fn describe(&self) -> String {
        let s = self;
        let from_metadata = "(from task metadata)".to_owned();
        let mut out = String::new();
        let _ =
            writeln!(out, "region:          {}", s.region.as_ref().map_or(from_metadata.clone(), ToString::to_string));
        let _ = writeln!(
            out,
            "ecr registry id: {}",
            s.registry_id.as_ref().map_or("(the task's account, from task metadata)".to_owned(), ToString::to_string)
        );
        let public_ip = s.public_ip.map_or("unknown".to_owned(), |b| b.to_string());
        let _ = writeln!(out, "public ip:       {public_ip}");
        let cidrs: Vec<String> = s.vpc_cidrs.iter().map(ToString::to_string).collect();
        let _ =
            writeln!(out, "vpc cidrs:       {}", if cidrs.is_empty() { "none".to_owned() } else { cidrs.join(",") });
        let _ = writeln!(out, "timeout:         {}", humantime_like(s.timeout));
        let _ = writeln!(out, "port:            {}", s.port);
        let _ = writeln!(out, "tls:             {}", s.tls);
        let ca = s.ca_file.as_ref().map_or("none (system trust store only)".to_owned(), |p| p.display().to_string());
        let _ = writeln!(out, "ca file:         {ca}");
        let ipv6 = s.ipv6.map_or("(from task metadata)".to_owned(), |b| b.to_string());
        let _ = writeln!(out, "ipv6:            {ipv6}");
        let _ = writeln!(out, "aws api:         {}", s.aws_api.as_str());
        out
    }
}

fn humantime_like(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let s = RawSettings::default().validate(&env_of(&[])).unwrap();
        assert_eq!((s.timeout, s.port, s.public_ip, s.region), (DEFAULT_TIMEOUT, 443, None, None));
        assert_eq!(s.aws_api, AwsApi::Auto);
    }

    #[test]
    fn region_falls_back_to_the_aws_variables_in_order() {
        let env = env_of(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "eu-west-2")]);
        assert_eq!(RawSettings::default().validate(&env).unwrap().region.unwrap().as_str(), "eu-west-1");
        let env = env_of(&[("AWS_DEFAULT_REGION", "eu-west-2")]);
        assert_eq!(RawSettings::default().validate(&env).unwrap().region.unwrap().as_str(), "eu-west-2");
        let raw = RawSettings { region: Some(Sourced::new("eu-west-3", "--region")), ..Default::default() };
        assert_eq!(raw.validate(&env).unwrap().region.unwrap().as_str(), "eu-west-3");
    }

    #[test]
    fn errors_name_the_origin_and_the_expected_form() {
        let cases = [
            (
                RawSettings { region: Some(Sourced::new("mars", "NETREADY_REGION")), ..Default::default() },
                "NETREADY_REGION",
                "region code",
            ),
            (RawSettings { timeout: Some(Sourced::new("5", "--timeout")), ..Default::default() }, "--timeout", "500ms"),
            (RawSettings { port: Some(Sourced::new("0", "--port")), ..Default::default() }, "--port", "1 to 65535"),
            (
                RawSettings {
                    public_ip: Some(Sourced::new("perhaps", "NETREADY_ASSIGN_PUBLIC_IP")),
                    ..Default::default()
                },
                "NETREADY_ASSIGN_PUBLIC_IP",
                "true or false",
            ),
            (
                RawSettings { ecr_registry_id: Some(Sourced::new("1234", "--ecr-registry-id")), ..Default::default() },
                "--ecr-registry-id",
                "12-digit",
            ),
            (
                RawSettings {
                    vpc_cidrs: vec![Sourced::new("10.0.0.0/8", "--vpc-cidr"), Sourced::new("10/99", "--vpc-cidr")],
                    ..Default::default()
                },
                "--vpc-cidr",
                "10.0.0.0/16",
            ),
            (
                RawSettings { aws_api: Some(Sourced::new("maybe", "NETREADY_AWS_API")), ..Default::default() },
                "NETREADY_AWS_API",
                "off, auto, required",
            ),
        ];
        for (raw, origin, expected) in cases {
            let err = raw.validate(&env_of(&[])).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid value for {origin}: ")), "{err}");
            assert!(err.contains(expected), "{err}");
        }
        let bad_aws = env_of(&[("AWS_REGION", "Paris")]);
        assert!(RawSettings::default().validate(&bad_aws).unwrap_err().to_string().contains("AWS_REGION"));
    }

    #[test]
    fn plan_merges_metadata_under_the_settings() {
        let task = include_str!("../../../tests/fixtures/tmds-v4-fargate-task.json");
        let (meta, _) = crate::metadata::parse(task, None).unwrap();
        let env = env_of(&[("HTTPS_PROXY", "http://user:secret@proxy:3128"), ("no_proxy", "x"), ("http_proxy", "")]);

        let settings = RawSettings::default().validate(&env).unwrap();
        let plan = settings.plan(Some(&meta), &env, vec![]).unwrap();
        assert_eq!(plan.region.as_str(), "us-west-2");
        assert_eq!(plan.endpoints[3].host, "111122223333.dkr.ecr.us-west-2.amazonaws.com");
        let known: Vec<IpNet> =
            ["192.0.2.0/24", "2600:1f13:10b:1a00::/64"].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(plan.known_cidrs, known);
        assert!(plan.ipv6, "the sample task has an IPv6 address");
        assert!(plan.tls, "TLS is on by default");
        assert_eq!(plan.task.cluster.as_deref(), Some("default"));
        assert_eq!(plan.task.public_ip.source, PublicIpSource::Unknown);
        assert_eq!(plan.proxy, ProxyInfo { configured: true, variables: vec!["HTTPS_PROXY".into()] });
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

        let raw = RawSettings {
            region: Some(Sourced::new("eu-west-3", "--region")),
            ecr_registry_id: Some(Sourced::new("444455556666", "--ecr-registry-id")),
            public_ip: Some(Sourced::new("false", "--public-ip")),
            ..Default::default()
        };
        let plan = raw.validate(&env).unwrap().plan(Some(&meta), &env, vec![]).unwrap();
        assert_eq!(plan.endpoints[3].host, "444455556666.dkr.ecr.eu-west-3.amazonaws.com");
        assert_eq!(
            plan.task.public_ip,
            PublicIp { assigned: Some(false), address: None, source: PublicIpSource::Config }
        );
        assert!(plan.warnings[0].contains("the task runs in us-west-2 but the check probes eu-west-3"));
    }

    #[test]
    fn no_region_anywhere_is_an_error_and_no_registry_id_a_warning() {
        let settings = RawSettings::default().validate(&env_of(&[])).unwrap();
        assert_eq!(settings.plan(None, &env_of(&[]), vec![]).unwrap_err(), SettingsError::NoRegion);
        let raw = RawSettings { region: Some(Sourced::new("eu-west-3", "--region")), ..Default::default() };
        let plan = raw.validate(&env_of(&[])).unwrap().plan(None, &env_of(&[]), vec![]).unwrap();
        assert_eq!(plan.endpoints[3].host, "dkr.ecr.eu-west-3.amazonaws.com");
        assert!(plan.warnings[0].contains("no ECR registry id"));
    }
}
