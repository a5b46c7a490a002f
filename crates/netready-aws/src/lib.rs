//! Reads a Fargate task's network from the AWS APIs (ECS and EC2, through the AWS SDK for Rust and
//! its default credential chain) into [`netready_diagnose::NetworkFacts`].
//!
//! Discovery never fails as a whole for a single call: a refused action becomes a
//! [`Gap::Denied`] naming the IAM action, any other failure a [`Gap::Failed`], and what could be
//! read is still returned. Every call has a timeout, and the whole discovery a budget; calls that
//! do not depend on each other run concurrently. Only locating the task's ENI is essential:
//! without it there is nothing to diagnose ([`Discovery::Unavailable`]).
//!
//! The SDK honours `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, container credentials and IMDS
//! as usual. Its HTTPS client is rustls on ring: no OpenSSL and no aws-lc.

mod convert;

use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_smithy_http_client::tls;
pub use netready_diagnose::AwsApi;
use netready_diagnose::facts::{Gap, NetworkFacts, PrefixList};
use tokio::time::Instant;

/// The IAM actions discovery calls: exactly the policy in `docs/iam-diagnosis-policy.json`.
pub const IAM_ACTIONS: [&str; 11] = [
    "ecs:DescribeTasks",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribePrefixLists",
    "ec2:GetManagedPrefixListEntries",
];

/// How long one API call (with the SDK's retries) may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the whole discovery may take.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(10);
/// How long finding credentials may take (the chain ends with IMDS, which may not answer).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(3);

/// Which task to read, and how patiently.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: AwsApi,
    /// The region; else the SDK's (`AWS_REGION`, the profile), else the task ARN's.
    pub region: Option<String>,
    /// The task, for `ecs:DescribeTasks` (in a task: from task metadata).
    pub task_arn: Option<String>,
    /// The ENI, when known: skips ECS.
    pub eni: Option<String>,
    pub call_timeout: Duration,
    pub budget: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: AwsApi::Auto,
            region: None,
            task_arn: None,
            eni: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            budget: DEFAULT_BUDGET,
        }
    }
}

/// What discovery produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `--aws-api off`, or `auto` without credentials: the reason, for one note.
    Skipped(String),
    /// It should have run and could not (no credentials with `required`, no region, the task or
    /// its ENI not found, a refused essential call): why.
    Unavailable { reason: String, gaps: Vec<Gap> },
    /// The facts, with the gaps of what could not be read.
    Facts(Box<NetworkFacts>),
}

/// The AWS SDK's credential sources that the environment names, cheapest to tell first: keys,
/// container credentials (a task role), web identity, a profile or the shared files. `None` when
/// it names none, so that only instance metadata (IMDS) would be left, which a Fargate task does
/// not have and which may take seconds to fail: `--aws-api auto` then skips at once.
pub fn credentials_in_environment(env: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let vars = [
        ("AWS_ACCESS_KEY_ID", "environment"),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "container credentials (task role)"),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "container credentials"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "web identity"),
        ("AWS_PROFILE", "profile"),
    ];
    if let Some((_, what)) = vars.iter().find(|(name, _)| set(name)) {
        return Some(what);
    }
    let file = |var: &str, default: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .or_else(|| env("HOME").filter(|h| !h.is_empty()).map(|h| format!("{h}/.aws/{default}")))
            .is_some_and(|p| std::path::Path::new(&p).is_file())
    };
    if file("AWS_SHARED_CREDENTIALS_FILE", "credentials") || file("AWS_CONFIG_FILE", "config") {
        return Some("shared config files");
    }
    None
}

/// A per-call deadline under the overall budget.
#[derive(Debug, Clone, Copy)]
struct Clock {
    budget_end: Instant,
    call_timeout: Duration,
}

impl Clock {
    async fn call<T, E, F>(&self, action: &str, fut: F) -> Result<T, Gap>
    where
        F: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let end = (Instant::now() + self.call_timeout).min(self.budget_end);
        match tokio::time::timeout_at(end, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(gap(action, &err)),
            Err(_) => Err(Gap::Failed {
                action: action.to_owned(),
                message: if end == self.budget_end {
                    "the discovery's time budget ran out".to_owned()
                } else {
                    format!("no answer within {} ms", self.call_timeout.as_millis())
                },
            }),
        }
    }
}

/// The error codes that mean "not allowed", in EC2's XML (`UnauthorizedOperation`, and
/// `AccessDenied` from some implementations), ECS's JSON (`AccessDeniedException`) and STS-style
/// (`AccessDenied`) errors.
pub fn is_denied(code: &str) -> bool {
    matches!(code, "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "UnauthorizedAccess")
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

/// The denial code in an error body the client did not understand (XML `<Code>…</Code>` or JSON
/// `"__type": "…#AccessDeniedException"`).
pub fn denial_in_body(body: &str) -> Option<&'static str> {
    ["UnauthorizedOperation", "AccessDeniedException", "AccessDenied", "UnauthorizedAccess"]
        .into_iter()
        .find(|code| body.contains(code))
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

/// Reads the task's network. Never panics; finding credentials and every call together stay
/// within `options.budget` (loading the SDK's configuration comes before it).
pub async fn discover(options: &Options) -> Discovery {
    if options.mode == AwsApi::Off {
        return Discovery::Skipped("--aws-api off".into());
    }
    let mut options = options.clone();
    // The task lives in its ARN's region: that beats the SDK's default.
    if options.region.is_none() {
        options.region = options
            .task_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
    }
    let config = sdk_config(&options).await;
    discover_with_config(&config, &options).await
}

/// [`discover`] with a given SDK configuration (region, credentials, endpoint): what tests use to
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
    // arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>; the old format has no cluster.
    let cluster = arn.split_once(":task/").and_then(|(_, rest)| rest.rsplit_once('/')).map(|(c, _)| c.to_owned());
    let mut request = ecs.describe_tasks().tasks(arn);
    if let Some(cluster) = cluster {
        request = request.cluster(cluster);
    }
    let out = clock.call("ecs:DescribeTasks", request.send()).await.map_err(TaskEniError::Gap)?;
    let task = out.tasks().first().ok_or_else(|| {
        let reason = out.failures().first().and_then(|f| f.reason()).unwrap_or("not returned");
        TaskEniError::NotFound(format!("task {arn} not found ({reason})"))
    })?;
    task.attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("networkInterfaceId"))
        .and_then(|d| d.value())
        .map(str::to_owned)
        .ok_or_else(|| TaskEniError::NotFound(format!("task {arn} has no network interface attachment (not awsvpc?)")))
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
    use super::credentials_in_environment;

    #[test]
    fn credentials_named_by_the_environment() {
        let none = |_: &str| None;
        assert_eq!(credentials_in_environment(&none), None);
        let task = |k: &str| (k == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").then(|| "/v2/credentials/x".to_owned());
        assert_eq!(credentials_in_environment(&task), Some("container credentials (task role)"));
        let keys = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "AKIA".to_owned());
        assert_eq!(credentials_in_environment(&keys), Some("environment"));
        let empty = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(String::new);
        assert_eq!(credentials_in_environment(&empty), None);
        let home = |k: &str| (k == "HOME").then(|| "/nonexistent-home".to_owned());
        assert_eq!(credentials_in_environment(&home), None);
        let file = std::env::temp_dir().join(format!("netready-aws-config-{}", std::process::id()));
        std::fs::write(&file, "[default]\nregion = eu-west-3\n").ok();
        let path = file.display().to_string();
        let config = move |k: &str| (k == "AWS_CONFIG_FILE").then(|| path.clone());
        assert_eq!(credentials_in_environment(&config), Some("shared config files"));
        let _ = std::fs::remove_file(file);
    }
}
