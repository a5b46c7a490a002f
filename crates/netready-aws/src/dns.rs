//! What decides a name in the task's VPC besides its endpoints: the Route 53 private hosted zones
//! associated with the VPC (`route53:ListHostedZonesByVPC`) and the Route 53 Resolver rules
//! associated with it (`route53resolver:ListResolverRuleAssociations`, then one
//! `route53resolver:ListResolverRules` for the rules' domains, types and targets). Both run beside
//! the EC2 calls; a refused or failed call leaves its fact unread (`None`) with its gap.

use aws_sdk_route53::types::VpcRegion;
use aws_sdk_route53resolver::types::Filter;
use netready_diagnose::facts::{Gap, HostedZone, ResolverRule};

use crate::calls::{Clock, collect_pages};

/// The private zones and the Resolver rules of `vpc_id`, each `None` when it could not be read.
pub(crate) struct DnsConfig {
    pub private_zones: Option<Vec<HostedZone>>,
    pub resolver_rules: Option<Vec<ResolverRule>>,
    pub gaps: Vec<Gap>,
}

pub(crate) async fn read(
    route53: &aws_sdk_route53::Client,
    resolver: &aws_sdk_route53resolver::Client,
    clock: &Clock,
    vpc_id: &str,
    region: &str,
) -> DnsConfig {
    let (zones, rules) =
        tokio::join!(private_zones(route53, clock, vpc_id, region), resolver_rules(resolver, clock, vpc_id));
    let mut gaps = Vec::new();
    let private_zones = zones.map_err(|g| gaps.push(g)).ok();
    let resolver_rules = rules.map_err(|g| gaps.push(g)).ok();
    DnsConfig { private_zones, resolver_rules, gaps }
}

/// `ListHostedZonesByVPC`, every page (it has no paginator: `NextToken` by hand).
async fn private_zones(
    route53: &aws_sdk_route53::Client,
    clock: &Clock,
    vpc_id: &str,
    region: &str,
) -> Result<Vec<HostedZone>, Gap> {
    const ACTION: &str = "route53:ListHostedZonesByVPC";
    let mut zones = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = clock
            .call(
                ACTION,
                route53
                    .list_hosted_zones_by_vpc()
                    .vpc_id(vpc_id)
                    .vpc_region(VpcRegion::from(region))
                    .set_next_token(token.clone())
                    .send(),
            )
            .await?;
        zones.extend(out.hosted_zone_summaries().iter().map(|z| HostedZone {
            id: z.hosted_zone_id().trim_start_matches("/hostedzone/").to_owned(),
            name: z.name().trim_end_matches('.').to_owned(),
        }));
        match out.next_token() {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => token = Some(next.to_owned()),
            _ => return Ok(zones),
        }
    }
}

/// The rules associated with `vpc_id`: its associations, then one listing of the region's rules.
async fn resolver_rules(
    resolver: &aws_sdk_route53resolver::Client,
    clock: &Clock,
    vpc_id: &str,
) -> Result<Vec<ResolverRule>, Gap> {
    let by_vpc = Filter::builder().name("VPCId").values(vpc_id).build();
    let associations = clock
        .call(
            "route53resolver:ListResolverRuleAssociations",
            collect_pages(resolver.list_resolver_rule_associations().filters(by_vpc).into_paginator().items().send()),
        )
        .await?;
    let ids: Vec<&str> = associations
        .iter()
        .filter(|a| a.vpc_id().is_none_or(|v| v == vpc_id))
        .filter_map(|a| a.resolver_rule_id())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rules = clock
        .call(
            "route53resolver:ListResolverRules",
            collect_pages(resolver.list_resolver_rules().into_paginator().items().send()),
        )
        .await?;
    Ok(associated_rules(&ids, &rules))
}

/// The rules whose ids are associated, as the model has them.
pub(crate) fn associated_rules(
    ids: &[&str],
    rules: &[aws_sdk_route53resolver::types::ResolverRule],
) -> Vec<ResolverRule> {
    rules
        .iter()
        .filter(|r| r.id().is_some_and(|id| ids.contains(&id)))
        .map(|r| ResolverRule {
            id: r.id().unwrap_or_default().to_owned(),
            // Without the final dot; the root stays `.`.
            domain: match r.domain_name().unwrap_or_default().trim_end_matches('.') {
                "" => ".".to_owned(),
                d => d.to_owned(),
            },
            rule_type: r.rule_type().map(|t| t.as_str().to_ascii_lowercase()).unwrap_or_default(),
            targets: r
                .target_ips()
                .iter()
                .filter_map(|t| {
                    let ip = t.ip().or(t.ipv6())?;
                    let port = t.port().unwrap_or(53);
                    Some(if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") })
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53resolver::types::{ResolverRule as Rule, RuleTypeOption, TargetAddress};

    use super::associated_rules;

    #[test]
    fn only_associated_rules_with_their_targets() {
        let target = |ip: &str, port| TargetAddress::builder().ip(ip).port(port).build();
        let rules = [
            Rule::builder()
                .id("rslvr-rr-1")
                .domain_name("amazonaws.com.")
                .rule_type(RuleTypeOption::Forward)
                .target_ips(target("192.168.1.53", 53))
                .target_ips(target("192.168.2.53", 5353))
                .build(),
            Rule::builder().id("rslvr-rr-2").domain_name("corp.example.").rule_type(RuleTypeOption::Forward).build(),
            Rule::builder()
                .id("rslvr-autodefined-rr-internet-resolver")
                .domain_name(".")
                .rule_type(RuleTypeOption::Recursive)
                .build(),
        ];
        let got = associated_rules(&["rslvr-rr-1", "rslvr-autodefined-rr-internet-resolver"], &rules);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].domain, "amazonaws.com");
        assert_eq!(got[0].rule_type, "forward");
        assert_eq!(got[0].targets, ["192.168.1.53:53", "192.168.2.53:5353"]);
        assert_eq!(got[1].rule_type, "recursive");
        assert_eq!(got[1].domain, ".");
    }
}
