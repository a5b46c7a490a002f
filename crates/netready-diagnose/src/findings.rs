//! Findings: what is wrong with the task's network, which resource it concerns, what to change,
//! and which endpoints it explains. One rule per item of the source document's troubleshooting
//! list, plus what discovery itself could not read.
//!
//! Ids are stable (scripts and the plane key on them):
//!
//! | id | severity | rule |
//! |---|---|---|
//! | `route.no_route` | error | no route matches an endpoint's address |
//! | `route.blackhole` | error | the matching route's target no longer exists |
//! | `route.prefix_list_unreadable` | warning | a prefix-list route could not be evaluated |
//! | `public_ip.missing` | error | an IGW route (default or an endpoint's), and no public IP |
//! | `public_ip.unused` | warning | a public IP, and traffic goes through NAT (or no IGW route) |
//! | `security_group.egress_denied` | error | the task's groups allow no outbound TCP 443 to an address |
//! | `security_group.unverifiable` | warning | a rule names a prefix list or group that could not be read |
//! | `vpc_endpoint.missing` | error | no interface (or S3 gateway) endpoint and no other path |
//! | `vpc_endpoint.private_dns_disabled` | error/warning | the service's name does not resolve to the endpoint |
//! | `vpc_endpoint.ingress_denied` | error/warning | the endpoint's groups do not allow TCP 443 from the task |
//! | `vpc_endpoint.no_subnet_in_az` | warning | no endpoint interface in the task's availability zone |
//! | `vpc_endpoint.not_available` | error | the endpoint's state is not `available` |
//! | `gateway_endpoint.not_associated` | error/warning | S3 gateway endpoint, not on the task subnet's route table |
//! | `network_acl.egress_denied` | error | the subnet's ACL denies outbound TCP 443 to an address |
//! | `network_acl.ingress_denied` | error | the subnet's ACL denies the replies (inbound ephemeral ports) |
//! | `vpc.dns_support_disabled` | error | `enableDnsSupport` off, and endpoints rely on private DNS |
//! | `vpc.dns_hostnames_disabled` | error | `enableDnsHostnames` off, and endpoints rely on private DNS |
//! | `permission.denied` | warning | an API call was refused: the IAM action to grant |
//! | `discovery.failed` | warning | an API call failed otherwise (timeout, throttling) |
//! | `diagnosis.skipped` | info | no AWS credentials (`--aws-api auto`) or `--aws-api off` |
//! | `diagnosis.unavailable` | error/warning | it could not run: error with `--aws-api required` (no credentials, no task, no ENI), warning with `auto` (the task or its ENI not found, an essential call refused) |
//!
//! "error/warning": an error when the service has no other working path, a warning when traffic
//! gets through another way (the endpoint is bypassed, not broken).
//!
//! The hops of [`crate::verdict`] add `nat_gateway.not_available`, `nat_gateway.no_public_ip`,
//! `nat_gateway.no_internet_route`, `internet_gateway.not_attached`,
//! `vpc_endpoint.subnet_acl_denied` (errors), `security_group.public_cidrs`, `path.beyond_model`,
//! `dns.forwarded`, `dns.private_zone` (warnings) — see [`crate::target`]; a stopped task adds
//! `task.stopped_reason` ([`crate::stopped`]); the check's comparison adds
//! `observation.outside_model` and `observation.model_incomplete` ([`crate::compare`]).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::facts::{Destination, EndpointType, Gap, NetworkFacts, SecurityGroup, TargetType};
use crate::filter::{self, EPHEMERAL_PORTS, NaclVerdict, Verdict};
use crate::path::{AddressPath, EndpointAddresses, EndpointPath, has_public_ip, interface_endpoints};
use crate::service::ServiceKey;

/// The file in the repository that lists the IAM actions diagnosis needs.
pub const IAM_POLICY_DOC: &str = "docs/iam-diagnosis-policy.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable: `route.no_route`, `security_group.egress_denied`, … (see the module's table).
    pub id: String,
    pub severity: Severity,
    /// The AWS resources it concerns (`rtb-…`, `sg-…`, `vpce-…`), or the IAM action.
    pub resources: Vec<String>,
    /// What is wrong, in words.
    pub message: String,
    /// What to change.
    pub remedy: String,
    /// The endpoints it explains.
    pub endpoints: Vec<ServiceKey>,
    /// The endpoints' addresses it concerns, when it is about addresses (else empty).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

impl Finding {
    /// Diagnosis did not run: no credentials in `auto` mode, or `--aws-api off`.
    pub fn skipped(reason: &str) -> Finding {
        Finding {
            id: "diagnosis.skipped".into(),
            severity: Severity::Info,
            resources: Vec::new(),
            message: format!("the network's configuration was not read: {reason}"),
            remedy: "give netready AWS credentials (in a task: a task role with the policy in \
                     docs/iam-diagnosis-policy.json) to see routes, security groups and endpoints"
                .into(),
            endpoints: Vec::new(),
            addresses: Vec::new(),
        }
    }

    /// Diagnosis should have run and could not: an error with `--aws-api required`, a warning
    /// with `auto` (the task or its ENI not found, an essential call refused).
    pub fn unavailable(reason: &str, severity: Severity) -> Finding {
        Finding {
            id: "diagnosis.unavailable".into(),
            severity,
            resources: Vec::new(),
            message: format!("the network's configuration could not be read: {reason}"),
            remedy: "check the AWS credentials (in a task: its task role), the region, the path to the ECS and \
                     EC2 API endpoints (their interface endpoints or NAT), and that the task exists (netready \
                     diagnose takes --task-arn or --eni)"
                .into(),
            endpoints: Vec::new(),
            addresses: Vec::new(),
        }
    }
}

/// Collects findings, merging those with the same id and resources (one finding, several
/// endpoints and addresses).
#[derive(Debug, Default)]
struct Collector {
    findings: Vec<Finding>,
}

struct New<'a> {
    id: &'a str,
    severity: Severity,
    resources: Vec<String>,
    message: String,
    remedy: String,
}

impl Collector {
    fn add(&mut self, new: New<'_>, service: Option<ServiceKey>, address: Option<IpAddr>) {
        let index = match self.findings.iter().position(|f| f.id == new.id && f.resources == new.resources) {
            Some(i) => i,
            None => {
                self.findings.push(Finding {
                    id: new.id.to_owned(),
                    severity: new.severity,
                    resources: new.resources,
                    message: new.message,
                    remedy: new.remedy,
                    endpoints: Vec::new(),
                    addresses: Vec::new(),
                });
                self.findings.len() - 1
            }
        };
        let Some(finding) = self.findings.get_mut(index) else { return };
        finding.severity = finding.severity.max(new.severity);
        if let Some(service) = service
            && !finding.endpoints.contains(&service)
        {
            finding.endpoints.push(service);
        }
        if let Some(address) = address
            && !finding.addresses.contains(&address)
        {
            finding.addresses.push(address);
        }
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().filter(|s| !s.is_empty()).map(|s| (*s).to_owned()).collect()
}

fn port_ranges(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> =
        ranges.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    parts.join(", ")
}

fn nacl_rules(rules: &[Option<u16>]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| match r {
            Some(32767) | None => "the final * entry (no rule allows it)".to_owned(),
            Some(n) => format!("rule {n}"),
        })
        .collect();
    parts.join(", ")
}

/// Every finding for the task's network and the endpoints' addresses, errors first.
pub fn findings(facts: &NetworkFacts, endpoints: &[EndpointAddresses], paths: &[EndpointPath]) -> Vec<Finding> {
    let mut out = Collector::default();
    gaps(facts, &mut out);
    for (endpoint, path) in endpoints.iter().zip(paths) {
        for address in &path.addresses {
            route_rules(facts, endpoint, address, &mut out);
            security_group_rules(facts, endpoint, address, &mut out);
            nacl_rules_for(facts, endpoint, address, &mut out);
        }
        endpoint_rules(facts, endpoint, path, &mut out);
    }
    default_route_rules(facts, &mut out);
    dns_attribute_rules(facts, endpoints, &mut out);
    let mut findings = out.findings;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings
}

fn gaps(facts: &NetworkFacts, out: &mut Collector) {
    for gap in &facts.gaps {
        let (id, message, severity) = match gap {
            Gap::Denied { action, message } => (
                "permission.denied",
                format!(
                    "netready may not call {action} ({message}): what it would have read is missing from the diagnosis"
                ),
                Severity::Warning,
            ),
            Gap::Failed { action, message } => (
                "discovery.failed",
                format!("{action} failed ({message}): what it would have read is missing from the diagnosis"),
                Severity::Warning,
            ),
        };
        let remedy = match gap {
            Gap::Denied { action, .. } => {
                format!(
                    "grant {action} to the task role (or the credentials used); {IAM_POLICY_DOC} lists every action diagnosis needs"
                )
            }
            Gap::Failed { .. } => "run the diagnosis again; if it persists, check the AWS endpoint and region".into(),
        };
        out.add(New { id, severity, resources: vec![gap.action().to_owned()], message, remedy }, None, None);
    }
}

fn route_rules(facts: &NetworkFacts, endpoint: &EndpointAddresses, path: &AddressPath, out: &mut Collector) {
    let Some(table) = &facts.route_table else { return };
    let service = Some(endpoint.service);
    let address = Some(path.address);
    if !path.unresolved_prefix_lists.is_empty() {
        let lists = path.unresolved_prefix_lists.join(", ");
        out.add(
            New {
                id: "route.prefix_list_unreadable",
                severity: Severity::Warning,
                resources: path.unresolved_prefix_lists.clone(),
                message: format!(
                    "route table {} routes to prefix lists whose entries could not be read ({lists}): the path shown may not be the one taken",
                    table.id
                ),
                remedy: format!("grant ec2:GetManagedPrefixListEntries and ec2:DescribePrefixLists ({IAM_POLICY_DOC})"),
            },
            service,
            address,
        );
    }
    let Some(route) = &path.route else {
        let family = if path.address.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
        out.add(
            New {
                id: "route.no_route",
                severity: Severity::Error,
                resources: vec![table.id.clone()],
                message: format!(
                    "route table {} (the task subnet's{}) has no route for these addresses: no {family} route and no more specific one",
                    table.id,
                    if table.main { ", the VPC's main table" } else { "" }
                ),
                remedy: format!(
                    "add a {family} route to a NAT gateway (private subnet), to an internet gateway (with AssignPublicIp), or to a transit gateway; or create VPC endpoints for the services"
                ),
            },
            service,
            address,
        );
        return;
    };
    if route.blackhole() {
        out.add(
            New {
                id: "route.blackhole",
                severity: Severity::Error,
                resources: ids(&[&table.id, &route.target_id]),
                message: format!(
                    "the route to {} in {} points at {}, which no longer exists (state blackhole): traffic is dropped",
                    route.destination, table.id, route.target_id
                ),
                remedy: format!(
                    "replace the route to {} with one to a target that exists (aws ec2 replace-route --route-table-id {})",
                    route.destination, table.id
                ),
            },
            service,
            address,
        );
        return;
    }
    let eni = facts.eni.as_ref().map(|e| e.id.as_str()).unwrap_or_default();
    if route.target_type == TargetType::InternetGateway && path.address.is_ipv4() && facts.eni.is_some() {
        if !has_public_ip(facts) {
            out.add(public_ip_missing(&table.id, &route.target_id, eni), service, address);
        }
    } else if route.target_type == TargetType::NatGateway && has_public_ip(facts) {
        out.add(public_ip_unused(facts, &table.id, &route.target_id, eni), service, address);
    }
}

fn public_ip_missing(table: &str, igw: &str, eni: &str) -> New<'static> {
    New {
        id: "public_ip.missing",
        severity: Severity::Error,
        resources: ids(&[eni, table, igw]),
        message: format!(
            "route table {table} sends traffic to the internet gateway {igw}, but the task's ENI {eni} has no public IP: \
             an internet gateway drops traffic from private addresses, so the task has no outbound connectivity \
             (the runner fails to start)"
        ),
        remedy: "set AssignPublicIp to ENABLED in the service's network configuration (the stack's AssignPublicIp \
                 parameter), or run the task in a private subnet whose default route is a NAT gateway, or add VPC \
                 endpoints for the services"
            .into(),
    }
}

fn public_ip_unused(facts: &NetworkFacts, table: &str, target: &str, eni: &str) -> New<'static> {
    let ip = facts.eni.as_ref().and_then(|e| e.public_ip).map(|ip| ip.to_string()).unwrap_or_default();
    let via = if target.is_empty() {
        "no internet gateway route".to_owned()
    } else {
        format!("{target}, not an internet gateway")
    };
    New {
        id: "public_ip.unused",
        severity: Severity::Warning,
        resources: ids(&[eni, table, target]),
        message: format!(
            "the task's ENI {eni} has the public IP {ip}, but route table {table} sends its internet traffic to {via}: \
             AssignPublicIp and the subnet's routes disagree, and the public IP is not used"
        ),
        remedy: "set AssignPublicIp to DISABLED for a private subnet with NAT, or route 0.0.0.0/0 to the internet \
                 gateway in a public subnet"
            .into(),
    }
}

/// Finding 5 for the subnet itself, whether or not an endpoint's address uses the default route.
fn default_route_rules(facts: &NetworkFacts, out: &mut Collector) {
    let (Some(table), Some(eni)) = (&facts.route_table, &facts.eni) else { return };
    let default =
        table.routes.iter().find(|r| r.destination == Destination::Cidr(ipnet::IpNet::V4(Default::default())));
    match default {
        Some(route)
            if route.target_type() == TargetType::InternetGateway && !route.blackhole && !eni.has_public_ip() =>
        {
            let mut new = public_ip_missing(&table.id, &route.target, &eni.id);
            // Still worth fixing when every endpoint has another path; an error when one relies on it
            // (raised by the endpoint's own address, merged here).
            new.severity = Severity::Warning;
            out.add(new, None, None);
        }
        Some(route) if route.target_type() != TargetType::InternetGateway && eni.has_public_ip() => {
            out.add(public_ip_unused(facts, &table.id, &route.target, &eni.id), None, None);
        }
        None if eni.has_public_ip() => out.add(public_ip_unused(facts, &table.id, "", &eni.id), None, None),
        _ => {}
    }
}

fn task_groups(facts: &NetworkFacts) -> Option<Vec<&SecurityGroup>> {
    let eni = facts.eni.as_ref()?;
    eni.security_group_ids.iter().map(|id| facts.security_group(id)).collect()
}

fn security_group_rules(facts: &NetworkFacts, endpoint: &EndpointAddresses, path: &AddressPath, out: &mut Collector) {
    let Some(groups) = task_groups(facts) else { return };
    let resources: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let port = endpoint.port;
    match filter::egress_allows(facts, &groups, path.address, port) {
        Verdict::Allowed { .. } => {}
        Verdict::Denied => out.add(
            New {
                id: "security_group.egress_denied",
                severity: Severity::Error,
                resources: resources.clone(),
                message: format!(
                    "the task's security groups ({}) have no egress rule allowing TCP {port} to these addresses",
                    resources.join(", ")
                ),
                remedy: format!(
                    "add an egress rule allowing TCP {port} to 0.0.0.0/0 (and ::/0 with IPv6), or to the service's prefix \
                     list, or to the interface endpoint's security group"
                ),
            },
            Some(endpoint.service),
            Some(path.address),
        ),
        Verdict::Unknown { unreadable } => out.add(
            New {
                id: "security_group.unverifiable",
                severity: Severity::Warning,
                resources: resources.clone(),
                message: format!(
                    "whether the task's security groups allow TCP {port} to these addresses depends on {} , which could not be read",
                    unreadable.join(", ")
                ),
                remedy: format!("grant the read actions in {IAM_POLICY_DOC}, or check the rules by hand"),
            },
            Some(endpoint.service),
            Some(path.address),
        ),
    }
}

fn nacl_rules_for(facts: &NetworkFacts, endpoint: &EndpointAddresses, path: &AddressPath, out: &mut Collector) {
    let Some(acl) = &facts.network_acl else { return };
    // Traffic within the subnet does not cross its ACL.
    if facts.task_subnet().is_some_and(|s| s.cidrs.iter().any(|n| n.contains(&path.address))) {
        return;
    }
    let port = endpoint.port;
    if let NaclVerdict::Denied { rules, .. } = filter::nacl_evaluate(acl, true, path.address, (port, port)) {
        out.add(
            New {
                id: "network_acl.egress_denied",
                severity: Severity::Error,
                resources: vec![acl.id.clone()],
                message: format!(
                    "the task subnet's network ACL {} denies outbound TCP {port} to these addresses ({})",
                    acl.id,
                    nacl_rules(&rules)
                ),
                remedy: format!(
                    "add an outbound entry allowing TCP {port} to 0.0.0.0/0 (and ::/0) with a lower rule number than any deny"
                ),
            },
            Some(endpoint.service),
            Some(path.address),
        );
    }
    if let NaclVerdict::Denied { ranges, rules } = filter::nacl_evaluate(acl, false, path.address, EPHEMERAL_PORTS) {
        let (lo, hi) = EPHEMERAL_PORTS;
        out.add(
            New {
                id: "network_acl.ingress_denied",
                severity: Severity::Error,
                resources: vec![acl.id.clone()],
                message: format!(
                    "the task subnet's network ACL {} denies the replies from these addresses: inbound TCP to the task's \
                     ephemeral ports {} ({}); network ACLs are stateless",
                    acl.id,
                    port_ranges(&ranges),
                    nacl_rules(&rules)
                ),
                remedy: format!(
                    "add an inbound entry allowing TCP {lo}-{hi} (AWS recommends 1024-65535) from 0.0.0.0/0 (and ::/0)"
                ),
            },
            Some(endpoint.service),
            Some(path.address),
        );
    }
}

fn service_works(facts: &NetworkFacts, path: &EndpointPath) -> bool {
    path.addresses.iter().any(|a| a.works(facts))
}

fn endpoint_rules(facts: &NetworkFacts, endpoint: &EndpointAddresses, path: &EndpointPath, out: &mut Collector) {
    let works = service_works(facts, path);
    let mut have_interface = false;
    for e in interface_endpoints(facts, endpoint.service) {
        have_interface = true;
        interface_rules(facts, endpoint, path, e, works, out);
    }
    gateway_rules(facts, endpoint, path, works, have_interface, out);
}

/// One interface endpoint of the service: its state, private DNS, groups and zones.
fn interface_rules(
    facts: &NetworkFacts,
    endpoint: &EndpointAddresses,
    path: &EndpointPath,
    e: &crate::facts::VpcEndpoint,
    works: bool,
    out: &mut Collector,
) {
    let service = endpoint.service;
    let used = path.addresses.iter().any(|a| a.vpc_endpoint_id.as_deref() == Some(e.id.as_str()));
    let bypassed = if works { Severity::Warning } else { Severity::Error };
    if !e.is_available() {
        out.add(
            New {
                id: "vpc_endpoint.not_available",
                severity: Severity::Error,
                resources: vec![e.id.clone()],
                message: format!(
                    "interface endpoint {} ({}) is in state {}, not available",
                    e.id, e.service_name, e.state
                ),
                remedy: "accept or re-create the endpoint; a failed endpoint's reason is in DescribeVpcEndpoints"
                    .into(),
            },
            Some(service),
            None,
        );
    }
    if !e.private_dns_enabled {
        out.add(
            New {
                id: "vpc_endpoint.private_dns_disabled",
                severity: bypassed,
                resources: vec![e.id.clone()],
                message: format!(
                    "interface endpoint {} ({}) has private DNS disabled: {} resolves to the service's public \
                     addresses, not to the endpoint{}",
                    e.id,
                    e.service_name,
                    endpoint.host,
                    if works { ", and traffic goes another way" } else { "" }
                ),
                remedy: format!(
                    "enable private DNS (aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --private-dns-enabled)",
                    e.id
                ),
            },
            Some(service),
            None,
        );
    }
    if let (Some(eni), Some(groups)) =
        (&facts.eni, e.security_group_ids.iter().map(|g| facts.security_group(g)).collect::<Option<Vec<_>>>())
        && let Some(source) = eni.private_ipv4
        && !groups.is_empty()
        && filter::ingress_allows(facts, &groups, source, &eni.security_group_ids, endpoint.port) == Verdict::Denied
    {
        let mut resources = vec![e.id.clone()];
        resources.extend(e.security_group_ids.iter().cloned());
        let subnet =
            facts.task_subnet().and_then(|s| s.cidrs.iter().find(|n| n.addr().is_ipv4())).map(|n| n.to_string());
        out.add(
            New {
                id: "vpc_endpoint.ingress_denied",
                severity: if used || !works { Severity::Error } else { Severity::Warning },
                resources,
                message: format!(
                    "the security groups of interface endpoint {} ({}) do not allow inbound TCP {} from the task ({}, groups {})",
                    e.id,
                    e.security_group_ids.join(", "),
                    endpoint.port,
                    source,
                    eni.security_group_ids.join(", ")
                ),
                remedy: format!(
                    "add an inbound rule allowing TCP {} from the task subnet ({}) or from the task's security group",
                    endpoint.port,
                    subnet.unwrap_or_else(|| "its CIDR".into())
                ),
            },
            Some(service),
            None,
        );
    }
    let zones: Option<Vec<&str>> =
        e.subnet_ids.iter().map(|s| facts.subnet(s).map(|s| s.availability_zone.as_str())).collect();
    if let (Some(zones), Some(eni)) = (zones, &facts.eni)
        && !eni.availability_zone.is_empty()
        && !zones.is_empty()
        && !zones.contains(&eni.availability_zone.as_str())
    {
        out.add(
            New {
                id: "vpc_endpoint.no_subnet_in_az",
                severity: Severity::Warning,
                resources: vec![e.id.clone()],
                message: format!(
                    "interface endpoint {} has no subnet in the task's availability zone {} (only {}): traffic crosses \
                     zones, and fails with the other zone",
                    e.id,
                    eni.availability_zone,
                    zones.join(", ")
                ),
                remedy: format!(
                    "add a subnet of {} to the endpoint (aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --add-subnet-ids …)",
                    eni.availability_zone, e.id
                ),
            },
            Some(service),
            None,
        );
    }
}

/// The service's gateway endpoints (S3's) and, with no endpoint and no working path, the missing one.
fn gateway_rules(
    facts: &NetworkFacts,
    endpoint: &EndpointAddresses,
    path: &EndpointPath,
    works: bool,
    have_interface: bool,
    out: &mut Collector,
) {
    let service = endpoint.service;
    let gateways: Vec<_> = facts
        .vpc_endpoints
        .iter()
        .filter(|e| {
            e.endpoint_type == EndpointType::Gateway && service.matches_endpoint(&e.service_name, &facts.region)
        })
        .collect();
    if let Some(table) = &facts.route_table {
        for g in &gateways {
            if !g.is_available() {
                out.add(
                    New {
                        id: "vpc_endpoint.not_available",
                        severity: Severity::Error,
                        resources: vec![g.id.clone()],
                        message: format!(
                            "gateway endpoint {} ({}) is in state {}, not available",
                            g.id, g.service_name, g.state
                        ),
                        remedy: "re-create the endpoint".into(),
                    },
                    Some(service),
                    None,
                );
            }
            if !g.route_table_ids.contains(&table.id) {
                let via = path
                    .addresses
                    .iter()
                    .find(|a| a.works(facts))
                    .and_then(|a| a.route.as_ref())
                    .map(|r| format!(": its traffic goes through {}", r.target_id))
                    .unwrap_or_else(|| ": and it has no other path".into());
                out.add(
                    New {
                        id: "gateway_endpoint.not_associated",
                        severity: if works { Severity::Warning } else { Severity::Error },
                        resources: vec![g.id.clone(), table.id.clone()],
                        message: format!(
                            "gateway endpoint {} ({}) is not associated with the task subnet's route table {}, so {} does not use it{via}",
                            g.id,
                            g.service_name,
                            table.id,
                            service.as_str()
                        ),
                        remedy: format!(
                            "associate the route table (aws ec2 modify-vpc-endpoint --vpc-endpoint-id {} --add-route-table-ids {})",
                            g.id, table.id
                        ),
                    },
                    Some(service),
                    None,
                );
            }
        }
        if !have_interface && gateways.is_empty() && !works && !path.addresses.is_empty() {
            let name = service.endpoint_service_name(&facts.region);
            let vpc = facts.vpc.as_ref().map(|v| v.id.clone()).unwrap_or_default();
            let kind = if service == ServiceKey::S3 {
                "gateway endpoint (free, on the route table)"
            } else {
                "interface endpoint with private DNS"
            };
            out.add(
                New {
                    id: "vpc_endpoint.missing",
                    severity: Severity::Error,
                    resources: ids(&[&vpc, &table.id, &name]),
                    message: format!(
                        "{} has no VPC endpoint ({name}) and no other working path from the task subnet",
                        endpoint.host
                    ),
                    remedy: format!("create the {kind} {name}, or give the subnet a NAT gateway route"),
                },
                Some(service),
                None,
            );
        }
    }
}

fn dns_attribute_rules(facts: &NetworkFacts, endpoints: &[EndpointAddresses], out: &mut Collector) {
    let Some(vpc) = &facts.vpc else { return };
    let relying: Vec<ServiceKey> = endpoints
        .iter()
        .map(|e| e.service)
        .filter(|s| interface_endpoints(facts, *s).any(|e| e.private_dns_enabled))
        .collect();
    if relying.is_empty() {
        return;
    }
    let checks = [
        (vpc.dns_support, "vpc.dns_support_disabled", "enableDnsSupport", "--enable-dns-support"),
        (vpc.dns_hostnames, "vpc.dns_hostnames_disabled", "enableDnsHostnames", "--enable-dns-hostnames"),
    ];
    for (value, id, attribute, flag) in checks {
        if value == Some(false) {
            for service in &relying {
                out.add(
                    New {
                        id,
                        severity: Severity::Error,
                        resources: vec![vpc.id.clone()],
                        message: format!(
                            "VPC {} has {attribute} off, and its interface endpoints rely on private DNS: the services' names \
                             do not resolve to the endpoints",
                            vpc.id
                        ),
                        remedy: format!("aws ec2 modify-vpc-attribute --vpc-id {} {flag}", vpc.id),
                    },
                    Some(*service),
                    None,
                );
            }
        }
    }
}
