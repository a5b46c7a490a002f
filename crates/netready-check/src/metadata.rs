//! What the ECS task metadata endpoint v4 says about the task: region, partition and account (from
//! the task ARN), cluster, availability zone, the task's private address and subnet.
//!
//! On Fargate it never shows the public IP, ENI, subnet id or VPC id; those come from EC2.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::types::{Region, RegistryId};

/// The variable ECS sets in every container of a task that has metadata endpoint v4.
pub const METADATA_URI_VAR: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// How long a metadata request may take. The endpoint is link-local and answers in milliseconds.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(1);

/// The facts about the task that the check uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskMetadata {
    pub task_arn: Option<String>,
    pub partition: Option<String>,
    pub region: Option<Region>,
    pub account_id: Option<RegistryId>,
    pub cluster: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ipv4: Option<Ipv4Addr>,
    pub subnet_cidr: Option<IpNet>,
    /// The task's IPv6 address, on a dual-stack subnet with IPv6 enabled for the task.
    pub private_ipv6: Option<Ipv6Addr>,
    pub ipv6_subnet_cidr: Option<IpNet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TaskDoc {
    #[serde(rename = "TaskARN")]
    task_arn: Option<String>,
    cluster: Option<String>,
    availability_zone: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerDoc {
    #[serde(default)]
    networks: Vec<NetworkDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkDoc {
    #[serde(rename = "IPv4Addresses", default)]
    ipv4_addresses: Vec<String>,
    #[serde(rename = "IPv4SubnetCIDRBlock")]
    ipv4_subnet_cidr_block: Option<String>,
    #[serde(rename = "IPv6Addresses", default)]
    ipv6_addresses: Vec<String>,
    #[serde(rename = "IPv6SubnetCIDRBlock")]
    ipv6_subnet_cidr_block: Option<String>,
}

/// The parts of a task ARN: `arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskArn {
    pub partition: String,
    pub region: String,
    pub account_id: String,
    /// Absent in the old ARN format `task/<id>`.
    pub cluster: Option<String>,
}

/// Splits a task ARN; `None` when it is not one.
pub fn parse_task_arn(arn: &str) -> Option<TaskArn> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("ecs"), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let resource = resource.strip_prefix("task/")?;
    let cluster = resource.rsplit_once('/').map(|(cluster, _id)| cluster.to_owned());
    Some(TaskArn {
        partition: partition.to_owned(),
        region: region.to_owned(),
        account_id: account.to_owned(),
        cluster,
    })
}

/// Reads the JSON of `$URI/task` and, when given, of `$URI` (this container). Problems with single
/// fields become warnings; the rest of the facts are still used.
pub fn parse(task_json: &str, container_json: Option<&str>) -> Result<(TaskMetadata, Vec<String>), MetadataError> {
    let task: TaskDoc = serde_json::from_str(task_json).map_err(MetadataError::TaskJson)?;
    let container: Option<ContainerDoc> = match container_json {
        Some(text) => Some(serde_json::from_str(text).map_err(MetadataError::ContainerJson)?),
        None => None,
    };
    let mut warnings = Vec::new();
    let mut meta = TaskMetadata { availability_zone: task.availability_zone.clone(), ..Default::default() };

    if let Some(arn) = &task.task_arn {
        meta.task_arn = Some(arn.clone());
        match parse_task_arn(arn) {
            Some(parts) => {
                meta.partition = Some(parts.partition);
                match parts.region.parse::<Region>() {
                    Ok(region) => meta.region = Some(region),
                    Err(e) => warnings.push(format!("task metadata: TaskARN region: {e}")),
                }
                match parts.account_id.parse::<RegistryId>() {
                    Ok(id) => meta.account_id = Some(id),
                    Err(e) => warnings.push(format!("task metadata: TaskARN account: {e}")),
                }
                meta.cluster = parts.cluster;
            }
            None => warnings.push(format!("task metadata: TaskARN '{arn}' is not an ECS task ARN")),
        }
    }
    if meta.cluster.is_none() {
        meta.cluster =
            task.cluster.as_deref().map(|c| c.rsplit_once("cluster/").map_or(c, |(_, name)| name).to_owned());
    }

    let network = container
        .as_ref()
        .and_then(|c| c.networks.first())
        .or_else(|| task.containers.iter().find_map(|c| c.networks.first()));
    if let Some(network) = network {
        if let Some(ip) = network.ipv4_addresses.first() {
            match ip.parse() {
                Ok(ip) => meta.private_ipv4 = Some(ip),
                Err(_) => warnings.push(format!("task metadata: IPv4Addresses holds '{ip}', not an IPv4 address")),
            }
        }
        if let Some(cidr) = &network.ipv4_subnet_cidr_block {
            match crate::types::parse_cidr(cidr) {
                Ok(net) => meta.subnet_cidr = Some(net),
                Err(e) => warnings.push(format!("task metadata: IPv4SubnetCIDRBlock: {e}")),
            }
        }
        if let Some(ip) = network.ipv6_addresses.first() {
            match ip.parse() {
                Ok(ip) => meta.private_ipv6 = Some(ip),
                Err(_) => warnings.push(format!("task metadata: IPv6Addresses holds '{ip}', not an IPv6 address")),
            }
        }
        if let Some(cidr) = network.ipv6_subnet_cidr_block.as_deref().filter(|c| !c.is_empty()) {
            match crate::types::parse_cidr(cidr) {
                Ok(net) => meta.ipv6_subnet_cidr = Some(net),
                Err(e) => warnings.push(format!("task metadata: IPv6SubnetCIDRBlock: {e}")),
            }
        }
    }
    Ok((meta, warnings))
}

/// Why task metadata could not be had (a warning for the report, never fatal). The endpoint is
/// link-local and its URL holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("task metadata is not the expected JSON: {0}")]
    TaskJson(serde_json::Error),
    #[error("container metadata is not the expected JSON: {0}")]
    ContainerJson(serde_json::Error),
    #[error("cannot build the metadata client: {0}")]
    Client(reqwest::Error),
    #[error("GET {url}: no answer within {}", humantime::format_duration(*within))]
    Timeout { url: String, within: std::time::Duration },
    #[error("GET {url}: cannot connect")]
    Connect { url: String },
    #[error("GET {url}: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("GET {url} answered {status}")]
    Status { url: String, status: reqwest::StatusCode },
}

/// Task metadata when `ECS_CONTAINER_METADATA_URI_V4` (read by `env`) names an endpoint that
/// answers, else empty: for the commands that take it only as a default (diagnose, endpoints).
pub async fn fetch_or_default(env: &(dyn Fn(&str) -> Option<String> + Sync)) -> TaskMetadata {
    let Some(uri) = env(METADATA_URI_VAR).filter(|v| !v.is_empty()) else {
        return TaskMetadata::default();
    };
    match HttpMetadata::new(&uri) {
        Ok(source) => source.fetch().await.map(|(m, _)| m).unwrap_or_default(),
        Err(_) => TaskMetadata::default(),
    }
}

/// Where task metadata comes from. The real one is [`HttpMetadata`].
pub trait MetadataSource: Send + Sync {
    /// The task's metadata, or why it could not be had (a warning for the report, never fatal).
    fn fetch(&self) -> impl Future<Output = Result<(TaskMetadata, Vec<String>), MetadataError>> + Send;
}

/// The ECS task metadata endpoint v4, asked directly (never through a proxy).
#[derive(Debug, Clone)]
pub struct HttpMetadata {
    base: String,
    client: reqwest::Client,
}

impl HttpMetadata {
    /// `base` is the value of `ECS_CONTAINER_METADATA_URI_V4`.
    pub fn new(base: &str) -> Result<Self, MetadataError> {
        netready_process::install_crypto_provider();
        // Plain HTTP to a link-local address: no trust store. Without `tls_certs_only`, building
        // the client would read and parse every system CA on the check's critical path.
        let client = reqwest::Client::builder()
            .tls_certs_only(std::iter::empty())
            .no_proxy()
            .timeout(METADATA_TIMEOUT)
            .build()
            .map_err(MetadataError::Client)?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), client })
    }

    async fn get(&self, url: &str) -> Result<String, MetadataError> {
        let response = self.client.get(url).send().await.map_err(|e| describe(url, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(MetadataError::Status { url: url.to_owned(), status });
        }
        response.text().await.map_err(|e| describe(url, e))
    }
}

fn describe(url: &str, err: reqwest::Error) -> MetadataError {
    let url = url.to_owned();
    if err.is_timeout() {
        MetadataError::Timeout { url, within: METADATA_TIMEOUT }
    } else if err.is_connect() {
        MetadataError::Connect { url }
    } else {
        MetadataError::Request { url, source: err }
    }
}

impl MetadataSource for HttpMetadata {
    async fn fetch(&self) -> Result<(TaskMetadata, Vec<String>), MetadataError> {
        let task_url = format!("{}/task", self.base);
        let (task, container) = tokio::join!(self.get(&task_url), self.get(&self.base));
        let task = task?;
        let mut warnings = Vec::new();
        let container = match container {
            Ok(text) => Some(text),
            Err(e) => {
                warnings.push(format!("task metadata: {e}; using the task document's first container"));
                None
            }
        };
        let (meta, mut more) = parse(&task, container.as_deref())?;
        warnings.append(&mut more);
        Ok((meta, warnings))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TASK: &str = include_str!("../../../tests/fixtures/tmds-v4-fargate-task.json");
    const CONTAINER: &str = include_str!("../../../tests/fixtures/tmds-v4-fargate-container.json");

    #[test]
    fn task_arns() {
        assert_eq!(
            parse_task_arn("arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3"),
            Some(TaskArn {
                partition: "aws".into(),
                region: "us-west-2".into(),
                account_id: "111122223333".into(),
                cluster: Some("default".into())
            })
        );
        let old = parse_task_arn("arn:aws-cn:ecs:cn-north-1:111122223333:task/e9028f8d").unwrap();
        assert_eq!((old.partition.as_str(), old.cluster), ("aws-cn", None));
        assert_eq!(parse_task_arn("arn:aws:ec2:us-west-2:111122223333:instance/i-1"), None);
        assert_eq!(parse_task_arn("not an arn"), None);
    }

    #[test]
    fn the_fargate_samples() {
        let (meta, warnings) = parse(TASK, Some(CONTAINER)).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        assert_eq!(meta.region.unwrap().as_str(), "us-west-2");
        assert_eq!(meta.partition.as_deref(), Some("aws"));
        assert_eq!(meta.account_id.unwrap().as_str(), "111122223333");
        assert_eq!(meta.cluster.as_deref(), Some("default"));
        assert_eq!(meta.availability_zone.as_deref(), Some("us-west-2a"));
        assert_eq!(meta.private_ipv4, Some(Ipv4Addr::new(192, 0, 2, 3)));
        assert_eq!(meta.subnet_cidr.unwrap().to_string(), "192.0.2.0/24");
        assert!(meta.task_arn.unwrap().ends_with("/default/e9028f8d5d8e4f258373e7b93ce9a3c3"));
    }

    #[test]
    fn the_task_document_alone_is_enough() {
        let (meta, _) = parse(TASK, None).unwrap();
        assert_eq!(meta.private_ipv4, Some(Ipv4Addr::new(192, 0, 2, 3)));
    }

    #[test]
    fn bad_fields_are_warnings_and_bad_json_is_an_error() {
        let doc = r#"{"TaskARN": "arn:aws:ecs:moon-1:12:task/c/1", "Containers": [{"Networks": [{"IPv4Addresses": ["x"], "IPv4SubnetCIDRBlock": "y"}]}]}"#;
        let (meta, warnings) = parse(doc, None).unwrap();
        assert_eq!(meta.region, None);
        assert_eq!(meta.cluster.as_deref(), Some("c"));
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(parse("{", None).unwrap_err().to_string().contains("not the expected JSON"));
        assert!(parse("[]", None).is_err());
    }

    #[test]
    fn a_dual_stack_task_has_ipv6() {
        let doc = r#"{"TaskARN": "arn:aws:ecs:eu-west-3:111122223333:task/c/1", "Containers": [{"Networks": [{
            "IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24",
            "IPv6Addresses": ["2600:1f18:4a3:6901::10"], "IPv6SubnetCIDRBlock": "2600:1f18:4a3:6901::/64"}]}]}"#;
        let (meta, warnings) = parse(doc, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(meta.private_ipv6, Some("2600:1f18:4a3:6901::10".parse().unwrap()));
        assert_eq!(meta.ipv6_subnet_cidr.unwrap().to_string(), "2600:1f18:4a3:6901::/64");
        // The AWS sample task is dual-stack too.
        let (meta, _) = parse(TASK, None).unwrap();
        assert_eq!(meta.private_ipv6, Some("2001:db8:10b:1a00:32bf:a372:d80f:e958".parse().unwrap()));
        let doc = r#"{"TaskARN": "arn:aws:ecs:eu-west-3:111122223333:task/c/1", "Containers": [{"Networks": [{
            "IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24"}]}]}"#;
        let (meta, _) = parse(doc, None).unwrap();
        assert_eq!((meta.private_ipv6, meta.ipv6_subnet_cidr), (None, None));
    }
}
