//! Discovery through the AWS SDK for Rust: the SDK's configuration and HTTPS client, one deadline
//! per call under the discovery's budget, and the reads (ECS for the task's ENI, then EC2), each
//! failure turned into a [`Gap`].

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::ProvideCredentials;
use aws_sdk_ec2::types::{Filter, VpcAttributeName};
use aws_smithy_http_client::tls;
use netready_diagnose::facts::{Eni, Gap, NetworkFacts, PrefixList};
use tokio::time::Instant;

use crate::calls::{Clock, collect_pages};
use crate::convert;
use crate::discovery::{Discovery, Network, Options, Read};
use netready_diagnose::AwsApi;

/// How long finding credentials may take (the chain ends with IMDS, which may not answer).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(3);

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

/// [`crate::read`] after it settled the region.
pub(crate) async fn read(options: &Options) -> Read {
    let config = sdk_config(options).await;
    read_with_config(&config, options).await
}

/// [`crate::discover`] with a given SDK configuration (region, credentials, endpoint): what tests use to
/// point it at a server of recorded responses. The task's facts: its interface must exist.
pub async fn discover_with_config(config: &aws_config::SdkConfig, options: &Options) -> Discovery {
    match read_with_config(config, options).await {
        Read::Skipped(reason) => Discovery::Skipped(reason),
        Read::Unavailable { reason, gaps } => Discovery::Unavailable { reason, gaps },
        Read::Network(network) => match (network.stopped.as_ref(), network.tasks.first()) {
            (None, Some(task)) => Discovery::Facts(Box::new(network.facts.for_task(task.clone()))),
            (Some(stopped), _) => Discovery::Unavailable {
                reason: format!("task {} has stopped: its network interface is gone", stopped.task_arn),
                gaps: vec![],
            },
            (None, None) => Discovery::Unavailable { reason: "no task to read".into(), gaps: vec![] },
        },
    }
}

/// Credentials within the budget, or why not.
async fn credentials(config: &aws_config::SdkConfig, budget_end: Instant) -> Result<(), String> {
    let Some(provider) = config.credentials_provider() else {
        return Err("no AWS credentials provider".into());
    };
    match tokio::time::timeout_at(
        (Instant::now() + CREDENTIALS_TIMEOUT).min(budget_end),
        provider.provide_credentials(),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => {
            Err("no AWS credentials found (environment, profile, container credentials, instance metadata)".into())
        }
        Err(_) => Err("no AWS credentials found (the credential chain timed out)".into()),
    }
}

/// [`crate::read`] with a given SDK configuration.
pub async fn read_with_config(config: &aws_config::SdkConfig, options: &Options) -> Read {
    // The budget covers finding credentials too: a caller's deadline (the check's) holds.
    let budget_end = Instant::now() + options.budget;
    let unavailable = |reason: String, gaps: Vec<Gap>| {
        if options.mode == AwsApi::Auto && gaps.is_empty() && reason.starts_with("no AWS credentials") {
            Read::Skipped(reason)
        } else {
            Read::Unavailable { reason, gaps }
        }
    };
    if options.mode == AwsApi::Off {
        return Read::Skipped("--aws-api off".into());
    }
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return unavailable("no AWS region (give --region or set AWS_REGION)".into(), vec![]);
    };
    if let Err(reason) = credentials(config, budget_end).await {
        return unavailable(reason, vec![]);
    }
    let endpoint = |service: &str| {
        config.endpoint_url().map(str::to_owned).unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
    };
    let clock = Clock {
        budget_end,
        call_timeout: options.call_timeout,
        ec2: endpoint("ec2"),
        ecs: endpoint("ecs"),
        // Route 53 is global: one endpoint for every region.
        route53: config.endpoint_url().map(str::to_owned).unwrap_or_else(|| "https://route53.amazonaws.com".into()),
        resolver: endpoint("route53resolver"),
    };
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ecs = aws_sdk_ecs::Client::new(config);
    let located = match crate::locate::locate(&ec2, &ecs, &clock, options).await {
        Ok(located) => located,
        Err(crate::locate::NotLocated { reason, gaps }) => return unavailable(reason, gaps),
    };
    let mut facts = NetworkFacts { region: region.clone(), ..NetworkFacts::default() };
    let route53 = aws_sdk_route53::Client::new(config);
    let resolver = aws_sdk_route53resolver::Client::new(config);
    // The VPC's DNS configuration beside the EC2 reads: neither waits for the other.
    let ((), dns) = tokio::join!(
        read_vpc(&ec2, &clock, &located.vpc_id, &located.tasks, &mut facts),
        crate::dns::read(&route53, &resolver, &clock, &located.vpc_id, &region),
    );
    facts.private_zones = dns.private_zones;
    facts.resolver_rules = dns.resolver_rules;
    facts.gaps.extend(dns.gaps);
    Read::Network(Box::new(Network { facts, tasks: located.tasks, stopped: located.stopped }))
}

/// Everything in the VPC that a path may meet, one call per resource type (all ids at once), the
/// independent ones concurrently.
async fn read_vpc(ec2: &aws_sdk_ec2::Client, clock: &Clock, vpc_id: &str, tasks: &[Eni], facts: &mut NetworkFacts) {
    let vpc_filter = || Filter::builder().name("vpc-id").values(vpc_id).build();
    let mut task_groups: Vec<String> = tasks.iter().flat_map(|t| t.security_group_ids.iter().cloned()).collect();
    task_groups.sort();
    task_groups.dedup();
    let (vpc, dns_support, dns_hostnames, tables, acls, endpoints, groups, nats, igws, lists) = tokio::join!(
        clock.call("ec2:DescribeVpcs", ec2.describe_vpcs().vpc_ids(vpc_id).send()),
        clock.call(
            "ec2:DescribeVpcAttribute",
            ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(VpcAttributeName::EnableDnsSupport).send()
        ),
        clock.call(
            "ec2:DescribeVpcAttribute",
            ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(VpcAttributeName::EnableDnsHostnames).send()
        ),
        clock.call(
            "ec2:DescribeRouteTables",
            collect_pages(ec2.describe_route_tables().filters(vpc_filter()).into_paginator().items().send())
        ),
        clock.call(
            "ec2:DescribeNetworkAcls",
            collect_pages(ec2.describe_network_acls().filters(vpc_filter()).into_paginator().items().send())
        ),
        clock.call(
            "ec2:DescribeVpcEndpoints",
            collect_pages(ec2.describe_vpc_endpoints().filters(vpc_filter()).into_paginator().items().send())
        ),
        describe_groups(ec2, clock, task_groups),
        clock.call(
            "ec2:DescribeNatGateways",
            collect_pages(ec2.describe_nat_gateways().filter(vpc_filter()).into_paginator().items().send())
        ),
        clock.call(
            "ec2:DescribeInternetGateways",
            collect_pages(
                ec2.describe_internet_gateways()
                    .filters(Filter::builder().name("attachment.vpc-id").values(vpc_id).build())
                    .into_paginator()
                    .items()
                    .send()
            )
        ),
        clock.call(
            "ec2:DescribePrefixLists",
            collect_pages(ec2.describe_prefix_lists().into_paginator().items().send())
        ),
    );
    let mut gaps = Vec::new();
    let vpc = keep(&mut gaps, vpc);
    let dns_support = keep(&mut gaps, dns_support);
    let dns_hostnames = keep(&mut gaps, dns_hostnames);
    if let Some(out) = vpc {
        facts.vpc = out.vpcs().first().map(|v| convert::vpc(v, dns_support.as_ref(), dns_hostnames.as_ref()));
    }
    if let Some(tables) = keep(&mut gaps, tables) {
        facts.route_tables = convert::route_tables(&tables);
    }
    if let Some(acls) = keep(&mut gaps, acls) {
        facts.network_acls = convert::network_acls(&acls);
    }
    if let Some(groups) = keep(&mut gaps, groups) {
        facts.security_groups = groups;
    }
    facts.nat_gateways = keep(&mut gaps, nats).map(|n| n.iter().map(convert::nat_gateway).collect());
    facts.internet_gateways = keep(&mut gaps, igws).map(|g| convert::internet_gateways(&g, vpc_id));
    let endpoint_raw = keep(&mut gaps, endpoints).unwrap_or_default();
    facts.vpc_endpoints = endpoint_raw.iter().map(convert::vpc_endpoint).collect();
    let lists = keep(&mut gaps, lists);
    second_round(ec2, clock, tasks, &endpoint_raw, lists, facts, &mut gaps).await;
    gaps.dedup();
    facts.gaps = gaps;
}

/// What the first round points at: the subnets, the endpoints' groups and interfaces, the
/// entries of the prefix lists the tables and groups name (and S3's).
async fn second_round(
    ec2: &aws_sdk_ec2::Client,
    clock: &Clock,
    tasks: &[Eni],
    endpoint_raw: &[aws_sdk_ec2::types::VpcEndpoint],
    lists: Option<Vec<aws_sdk_ec2::types::PrefixList>>,
    facts: &mut NetworkFacts,
    gaps: &mut Vec<Gap>,
) {
    let mut subnet_ids: Vec<String> = tasks.iter().map(|t| t.subnet_id.clone()).collect();
    let mut more_groups = Vec::new();
    for e in &facts.vpc_endpoints {
        subnet_ids.extend(e.subnet_ids.iter().cloned());
        more_groups.extend(e.security_group_ids.iter().filter(|g| facts.security_group(g).is_none()).cloned());
    }
    subnet_ids.extend(facts.nat_gateways.iter().flatten().map(|n| n.subnet_id.clone()));
    let endpoint_enis: Vec<String> =
        endpoint_raw.iter().flat_map(|e| e.network_interface_ids().iter().cloned()).collect();
    subnet_ids.sort();
    subnet_ids.dedup();
    subnet_ids.retain(|s| !s.is_empty());
    more_groups.sort();
    more_groups.dedup();
    let ids = convert::prefix_list_ids(facts);
    let (known, mut missing) = convert::prefix_lists(lists.as_deref().unwrap_or_default(), &ids, &facts.region);
    if lists.is_none() {
        missing = ids.into_iter().map(|id| (id, String::new())).collect();
    }
    let (subnets, groups, interfaces, entries) = tokio::join!(
        async {
            if subnet_ids.is_empty() {
                return Ok(Vec::new());
            }
            clock
                .call("ec2:DescribeSubnets", ec2.describe_subnets().set_subnet_ids(Some(subnet_ids)).send())
                .await
                .map(|out| out.subnets().to_vec())
        },
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
        prefix_list_entries(ec2, clock, missing),
    );
    if let Some(subnets) = keep(gaps, subnets) {
        facts.subnets = subnets.iter().map(convert::subnet).collect();
    }
    if let Some(groups) = keep(gaps, groups) {
        facts.security_groups.extend(groups);
    }
    if let Some(interfaces) = keep(gaps, interfaces) {
        convert::endpoint_addresses(&mut facts.vpc_endpoints, endpoint_raw, &interfaces);
    }
    let (mut read, list_gaps) = entries;
    facts.prefix_lists = known;
    facts.prefix_lists.append(&mut read);
    gaps.extend(list_gaps);
}

fn keep<T>(gaps: &mut Vec<Gap>, result: Result<T, Gap>) -> Option<T> {
    result.map_err(|gap| gaps.push(gap)).ok()
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

/// The entries of the prefix lists `DescribePrefixLists` did not give (customer-managed lists, and
/// any whose `Cidrs` came back empty, as moto's do), one `GetManagedPrefixListEntries` each.
async fn prefix_list_entries(
    ec2: &aws_sdk_ec2::Client,
    clock: &Clock,
    missing: Vec<(String, String)>,
) -> (Vec<PrefixList>, Vec<Gap>) {
    let reads = missing.into_iter().map(|(id, name)| async move {
        let result = clock
            .call(
                "ec2:GetManagedPrefixListEntries",
                collect_pages(ec2.get_managed_prefix_list_entries().prefix_list_id(&id).into_paginator().send()),
            )
            .await;
        (id, name, result)
    });
    let mut lists = Vec::new();
    let mut gaps = Vec::new();
    for (id, name, result) in futures_util::future::join_all(reads).await {
        match result {
            Ok(entries) => lists.push(PrefixList {
                id,
                name,
                entries: Some(
                    entries.iter().flat_map(|page| page.entries()).filter_map(|e| e.cidr()?.parse().ok()).collect(),
                ),
            }),
            Err(gap) => {
                lists.push(PrefixList { id, name, entries: None });
                gaps.push(gap);
            }
        }
    }
    (lists, gaps)
}
