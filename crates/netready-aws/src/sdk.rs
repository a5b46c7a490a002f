//! Discovery through the AWS SDK for Rust: the SDK's configuration and HTTPS client, one deadline
//! per call under the discovery's budget, and the reads (ECS for the task's ENI, then EC2), each
//! failure turned into a [`Gap`].

use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_smithy_http_client::tls;
use netready_diagnose::facts::{Gap, NetworkFacts, PrefixList};
use tokio::time::Instant;

use crate::convert;
use crate::discovery::{Discovery, Options, denial_in_body, is_denied};
use netready_diagnose::AwsApi;

/// How long finding credentials may take (the chain ends with IMDS, which may not answer).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(3);

/// A per-call deadline under the overall budget.
#[derive(Debug, Clone, Copy)]
struct Clock {
    budget_end: Instant,
    call_timeout: Duration,
}

impl Clock {
    /// `fut` within this call's deadline: its own result, or the gap of a timeout.
    async fn within<F: Future>(&self, action: &str, fut: F) -> Result<F::Output, Gap> {
        let end = (Instant::now() + self.call_timeout).min(self.budget_end);
        tokio::time::timeout_at(end, fut).await.map_err(|_| Gap::Failed {
            action: action.to_owned(),
            message: if end == self.budget_end {
                "the discovery's time budget ran out".to_owned()
            } else {
                format!("no answer within {} ms", self.call_timeout.as_millis())
            },
        })
    }

    async fn call<T, E, F>(&self, action: &str, fut: F) -> Result<T, Gap>
    where
        F: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.within(action, fut).await?.map_err(|err| gap(action, &err))
    }
}

fn gap<E>(action: &str, err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Gap
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let action = action.to_owned();
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err.code() {
        Some(code) if is_denied(code) => {
            let message = match err.message() {
                // UnauthorizedOperation carries a long encoded authorization message: keep its start.
                Some(text) => format!("{code}: {}", text.chars().take(160).collect::<String>()),
                None => code.to_owned(),
            };
            Gap::Denied { action, message }
        }
        Some(code) => Gap::Failed { action, message: format!("{code}: {}", err.message().unwrap_or_default()) },
        None => match denial_in_body(&body) {
            // A denial the client could not parse: an XML error where JSON was expected, as some
            // proxies and emulators answer.
            Some(code) if matches!(status, Some(400 | 401 | 403)) => {
                Gap::Denied { action, message: format!("{code} (HTTP {})", status.unwrap_or_default()) }
            }
            _ => {
                let text = format!("{}", DisplayErrorContext(err));
                Gap::Failed { action, message: text.chars().take(300).collect() }
            }
        },
    }
}

/// The SDK's HTTPS client: rustls on ring, the system's roots.
pub fn http_client() -> aws_sdk_ec2::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// The SDK's configuration with netready's HTTPS client and timeouts.
async fn sdk_config(options: &Options) -> aws_config::SdkConfig {
    let http = http_client();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(options.call_timeout.min(Duration::from_secs(2)))
        .operation_attempt_timeout(options.call_timeout)
        .operation_timeout(options.call_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http).timeout_config(timeouts);
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader.load().await
}

/// [`crate::discover`] after it settled the region: the SDK's configuration, then the reads.
pub(crate) async fn discover(options: &Options) -> Discovery {
    let config = sdk_config(options).await;
    discover_with_config(&config, options).await
}

/// [`crate::discover`] with a given SDK configuration (region, credentials, endpoint): what tests use to
/// point it at a server of recorded responses.
pub async fn discover_with_config(config: &aws_config::SdkConfig, options: &Options) -> Discovery {
    // The budget covers finding credentials too: a caller's deadline (the check's) holds.
    let budget_end = Instant::now() + options.budget;
    let unavailable = |reason: String, gaps: Vec<Gap>| {
        if options.mode == AwsApi::Auto && gaps.is_empty() && reason.starts_with("no AWS credentials") {
            Discovery::Skipped(reason)
        } else {
            Discovery::Unavailable { reason, gaps }
        }
    };
    if options.mode == AwsApi::Off {
        return Discovery::Skipped("--aws-api off".into());
    }
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return unavailable("no AWS region (give --region or set AWS_REGION)".into(), vec![]);
    };
    match config.credentials_provider() {
        None => return unavailable("no AWS credentials provider".into(), vec![]),
        Some(provider) => match tokio::time::timeout_at(
            (Instant::now() + CREDENTIALS_TIMEOUT).min(budget_end),
            provider.provide_credentials(),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                return unavailable(
                    "no AWS credentials found (environment, profile, container credentials, instance metadata)".into(),
                    vec![],
                );
            }
            Err(_) => return unavailable("no AWS credentials found (the credential chain timed out)".into(), vec![]),
        },
    }
    let clock = Clock { budget_end, call_timeout: options.call_timeout };
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ecs = aws_sdk_ecs::Client::new(config);
    let mut facts = NetworkFacts { region, ..NetworkFacts::default() };

    let eni_id = match &options.eni {
        Some(eni) => eni.clone(),
        None => match &options.task_arn {
            None => {
                return unavailable(
                    "no task to read: give --task-arn or --eni (in a task, task metadata gives it)".into(),
                    vec![],
                );
            }
            Some(arn) => match task_eni(&ecs, &clock, arn).await {
                Ok(eni) => eni,
                Err(TaskEniError::Gap(gap)) => {
                    return unavailable(format!("cannot read task {arn}"), vec![gap]);
                }
                Err(TaskEniError::NotFound(why)) => return unavailable(why, vec![]),
            },
        },
    };
    let eni = match clock
        .call("ec2:DescribeNetworkInterfaces", ec2.describe_network_interfaces().network_interface_ids(&eni_id).send())
        .await
    {
        Ok(out) => match out.network_interfaces().first() {
            Some(ni) => convert::eni(ni),
            None => return unavailable(format!("network interface {eni_id} not found"), vec![]),
        },
        Err(gap) => return unavailable(format!("cannot read network interface {eni_id}"), vec![gap]),
    };
    facts.eni = Some(eni.clone());
    read_network(&ec2, &clock, &eni, &mut facts).await;
    Discovery::Facts(Box::new(facts))
}

enum TaskEniError {
    Gap(Gap),
    NotFound(String),
}

/// `ecs:DescribeTasks` → the task's `ElasticNetworkInterface` attachment → its ENI id.
async fn task_eni(ecs: &aws_sdk_ecs::Client, clock: &Clock, arn: &str) -> Result<String, TaskEniError> {
    const ACTION: &str = "ecs:DescribeTasks";
    // arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>; the old format has no cluster.
    let cluster = arn.split_once(":task/").and_then(|(_, rest)| rest.rsplit_once('/')).map(|(c, _)| c.to_owned());
    let mut request = ecs.describe_tasks().tasks(arn);
    if let Some(cluster) = cluster {
        request = request.cluster(cluster);
    }
    let out = match clock.within(ACTION, request.send()).await.map_err(TaskEniError::Gap)? {
        Ok(out) => out,
        // A success the SDK could not read whole: the ENI is one field of it, read on its own.
        Err(err) => {
            let body = err
                .raw_response()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.body().bytes())
                .map(String::from_utf8_lossy);
            return match body.and_then(|b| eni_in_describe_tasks(&b, arn)) {
                Some(found) => found,
                None => Err(TaskEniError::Gap(gap(ACTION, &err))),
            };
        }
    };
    let task = out.tasks().first().ok_or_else(|| not_found(arn, out.failures().first().and_then(|f| f.reason())))?;
    task.attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("networkInterfaceId"))
        .and_then(|d| d.value())
        .map(str::to_owned)
        .ok_or_else(|| no_attachment(arn))
}

fn not_found(arn: &str, reason: Option<&str>) -> TaskEniError {
    TaskEniError::NotFound(format!("task {arn} not found ({})", reason.unwrap_or("not returned")))
}

fn no_attachment(arn: &str) -> TaskEniError {
    TaskEniError::NotFound(format!("task {arn} has no network interface attachment (not awsvpc?)"))
}

/// The ENI in a DescribeTasks answer that the SDK refused as a whole: `None` unless it is ECS's
/// JSON with a `tasks` list. The SDK's reader is strict about every field's type, and one that
/// does not matter here must not hide the task's network: moto 5.2.1 answers a container's `cpu`
/// and `memory` as numbers where ECS's model has strings (`"cpu": 0` for `"0"`), and the same
/// could come from any API change or proxy. Kept as `tests/recorded/ecs-DescribeTasks-numbers.json`.
fn eni_in_describe_tasks(body: &str, arn: &str) -> Option<Result<String, TaskEniError>> {
    let answer: serde_json::Value = serde_json::from_str(body).ok()?;
    let tasks = answer.get("tasks")?.as_array()?;
    let Some(task) = tasks.first() else {
        let reason = answer.pointer("/failures/0/reason").and_then(|r| r.as_str());
        return Some(Err(not_found(arn, reason)));
    };
    let attachments = task.get("attachments").and_then(|a| a.as_array()).map(Vec::as_slice).unwrap_or_default();
    let eni = attachments
        .iter()
        .filter(|a| a.get("type").and_then(|t| t.as_str()) == Some("ElasticNetworkInterface"))
        .filter_map(|a| a.get("details").and_then(|d| d.as_array()))
        .flatten()
        .find(|d| d.get("name").and_then(|n| n.as_str()) == Some("networkInterfaceId"))
        .and_then(|d| d.get("value").and_then(|v| v.as_str()))
        .map(str::to_owned);
    Some(eni.ok_or_else(|| no_attachment(arn)))
}

/// Everything around the ENI: concurrently where calls are independent.
async fn read_network(
    ec2: &aws_sdk_ec2::Client,
    clock: &Clock,
    eni: &netready_diagnose::facts::Eni,
    facts: &mut NetworkFacts,
) {
    let vpc_filter = Filter::builder().name("vpc-id").values(&eni.vpc_id).build();
    let subnet_filter = Filter::builder().name("association.subnet-id").values(&eni.subnet_id).build();
    let (vpc, dns_support, dns_hostnames, tables, acls, endpoints, groups) = tokio::join!(
        clock.call("ec2:DescribeVpcs", ec2.describe_vpcs().vpc_ids(&eni.vpc_id).send()),
        clock.call(
            "ec2:DescribeVpcAttribute",
            ec2.describe_vpc_attribute().vpc_id(&eni.vpc_id).attribute(VpcAttributeName::EnableDnsSupport).send()
        ),
        clock.call(
            "ec2:DescribeVpcAttribute",
            ec2.describe_vpc_attribute().vpc_id(&eni.vpc_id).attribute(VpcAttributeName::EnableDnsHostnames).send()
        ),
        clock.call(
            "ec2:DescribeRouteTables",
            collect_pages(ec2.describe_route_tables().filters(vpc_filter.clone()).into_paginator().items().send())
        ),
        clock.call(
            "ec2:DescribeNetworkAcls",
            collect_pages(ec2.describe_network_acls().filters(subnet_filter).into_paginator().items().send())
        ),
        clock.call(
            "ec2:DescribeVpcEndpoints",
            collect_pages(ec2.describe_vpc_endpoints().filters(vpc_filter.clone()).into_paginator().items().send())
        ),
        describe_groups(ec2, clock, eni.security_group_ids.clone()),
    );
    let mut gaps = Vec::new();
    let vpc = keep(&mut gaps, vpc);
    let dns_support = keep(&mut gaps, dns_support);
    let dns_hostnames = keep(&mut gaps, dns_hostnames);
    let tables = keep(&mut gaps, tables);
    let acls = keep(&mut gaps, acls);
    let endpoints = keep(&mut gaps, endpoints);
    let groups = keep(&mut gaps, groups);
    if let Some(out) = vpc {
        facts.vpc = out.vpcs().first().map(|v| convert::vpc(v, dns_support.as_ref(), dns_hostnames.as_ref()));
    }
    if let Some(tables) = tables {
        facts.route_table = convert::route_table_for(&tables, &eni.subnet_id);
    }
    if let Some(acls) = acls {
        facts.network_acl = acls.first().map(convert::network_acl);
    }
    if let Some(groups) = groups {
        facts.security_groups = groups;
    }
    let endpoint_raw = endpoints.unwrap_or_default();
    facts.vpc_endpoints = endpoint_raw.iter().map(convert::vpc_endpoint).collect();

    // Second round: what the first one points at.
    let mut subnet_ids = vec![eni.subnet_id.clone()];
    let mut more_groups = Vec::new();
    let mut endpoint_enis = Vec::new();
    for e in &facts.vpc_endpoints {
        subnet_ids.extend(e.subnet_ids.iter().cloned());
        more_groups.extend(e.security_group_ids.iter().filter(|g| facts.security_group(g).is_none()).cloned());
    }
    for e in &endpoint_raw {
        endpoint_enis.extend(e.network_interface_ids().iter().cloned());
    }
    subnet_ids.sort();
    subnet_ids.dedup();
    more_groups.sort();
    more_groups.dedup();
    let lists = convert::prefix_list_ids(facts);
    let (subnets, groups, interfaces, prefix_lists) = tokio::join!(
        clock.call("ec2:DescribeSubnets", ec2.describe_subnets().set_subnet_ids(Some(subnet_ids)).send()),
        describe_groups(ec2, clock, more_groups),
        async {
            if endpoint_enis.is_empty() {
                return Ok(Vec::new());
            }
            clock
                .call(
                    "ec2:DescribeNetworkInterfaces",
                    ec2.describe_network_interfaces().set_network_interface_ids(Some(endpoint_enis)).send(),
                )
                .await
                .map(|out| out.network_interfaces().to_vec())
        },
        prefix_lists_of(ec2, clock, lists),
    );
    if let Some(out) = keep(&mut gaps, subnets) {
        facts.subnets = out.subnets().iter().map(convert::subnet).collect();
    }
    if let Some(groups) = keep(&mut gaps, groups) {
        facts.security_groups.extend(groups);
    }
    if let Some(interfaces) = keep(&mut gaps, interfaces) {
        convert::endpoint_addresses(&mut facts.vpc_endpoints, &endpoint_raw, &interfaces);
    }
    let (lists, list_gaps) = prefix_lists;
    facts.prefix_lists = lists;
    gaps.extend(list_gaps);
    gaps.dedup();
    facts.gaps = gaps;
}

fn keep<T>(gaps: &mut Vec<Gap>, result: Result<T, Gap>) -> Option<T> {
    result.map_err(|gap| gaps.push(gap)).ok()
}

async fn collect_pages<T, E>(
    mut stream: aws_smithy_async::future::pagination_stream::PaginationStream<Result<T, E>>,
) -> Result<Vec<T>, E> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item?);
    }
    Ok(items)
}

async fn describe_groups(
    ec2: &aws_sdk_ec2::Client,
    clock: &Clock,
    ids: Vec<String>,
) -> Result<Vec<netready_diagnose::facts::SecurityGroup>, Gap> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = clock
        .call("ec2:DescribeSecurityGroups", ec2.describe_security_groups().set_group_ids(Some(ids)).send())
        .await?;
    Ok(out.security_groups().iter().map(convert::security_group).collect())
}

/// The entries of every prefix list the route table and the security groups name: AWS service
/// lists (S3's) from `DescribePrefixLists`, the others from `GetManagedPrefixListEntries`.
async fn prefix_lists_of(ec2: &aws_sdk_ec2::Client, clock: &Clock, ids: Vec<String>) -> (Vec<PrefixList>, Vec<Gap>) {
    let mut lists = Vec::new();
    let mut gaps = Vec::new();
    if ids.is_empty() {
        return (lists, gaps);
    }
    // DescribePrefixLists with ids it does not know fails as a whole; ask for all (a handful).
    match clock.call("ec2:DescribePrefixLists", ec2.describe_prefix_lists().send()).await {
        Ok(out) => {
            for pl in out.prefix_lists() {
                // An empty Cidrs is not an answer (moto leaves it empty): ask for the entries.
                if let Some(id) = pl.prefix_list_id()
                    && ids.iter().any(|i| i == id)
                    && !pl.cidrs().is_empty()
                {
                    lists.push(PrefixList {
                        id: id.to_owned(),
                        name: pl.prefix_list_name().unwrap_or_default().to_owned(),
                        entries: Some(pl.cidrs().iter().filter_map(|c| c.parse().ok()).collect()),
                    });
                }
            }
        }
        Err(gap) => gaps.push(gap),
    }
    let missing: Vec<String> = ids.into_iter().filter(|id| !lists.iter().any(|l| &l.id == id)).collect();
    let reads = missing.iter().map(|id| async move {
        let result = clock
            .call(
                "ec2:GetManagedPrefixListEntries",
                collect_pages(ec2.get_managed_prefix_list_entries().prefix_list_id(id).into_paginator().send()),
            )
            .await;
        (id.clone(), result)
    });
    for (id, result) in futures_util::future::join_all(reads).await {
        match result {
            Ok(entries) => lists.push(PrefixList {
                id,
                name: String::new(),
                entries: Some(
                    entries.iter().flat_map(|page| page.entries()).filter_map(|e| e.cidr()?.parse().ok()).collect(),
                ),
            }),
            Err(gap) => {
                lists.push(PrefixList { id, name: String::new(), entries: None });
                gaps.push(gap);
            }
        }
    }
    (lists, gaps)
}

#[cfg(test)]
mod tests {
    use super::{TaskEniError, eni_in_describe_tasks};

    const ARN: &str = "arn:aws:ecs:eu-west-3:123456789012:task/c/t";

    fn eni(body: &str) -> Option<Result<String, String>> {
        eni_in_describe_tasks(body, ARN).map(|r| {
            r.map_err(|e| match e {
                TaskEniError::NotFound(why) => why,
                TaskEniError::Gap(gap) => format!("{gap:?}"),
            })
        })
    }

    #[test]
    fn the_eni_is_read_from_an_answer_the_sdk_refused() {
        let numbers = r#"{"tasks":[{"attachments":[{"type":"ElasticNetworkInterface","details":[
            {"name":"subnetId","value":"subnet-1"},{"name":"networkInterfaceId","value":"eni-1"}]}],
            "containers":[{"name":"runner","cpu":0,"memory":512}]}],"failures":[]}"#;
        assert_eq!(eni(numbers), Some(Ok("eni-1".into())));
        let missing = r#"{"tasks":[],"failures":[{"arn":"x","reason":"MISSING"}]}"#;
        assert_eq!(eni(missing), Some(Err(format!("task {ARN} not found (MISSING)"))));
        let bridge = r#"{"tasks":[{"attachments":[],"containers":[]}]}"#;
        assert_eq!(eni(bridge), Some(Err(format!("task {ARN} has no network interface attachment (not awsvpc?)"))));
        // Not an answer to read: the SDK's own error stands.
        assert_eq!(eni("<html>proxy error</html>"), None);
        assert_eq!(eni(r#"{"message":"x"}"#), None);
    }
}
