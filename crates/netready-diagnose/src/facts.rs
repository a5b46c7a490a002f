//! The network around a Fargate task, as EC2 and ECS describe it: the task's ENI, its subnet and
//! VPC, the subnet's route table and network ACL, security groups, VPC endpoints and prefix lists.
//!
//! Plain data, filled by `netready-aws` from the API (or by tests from recorded responses). No SDK
//! type appears here, so the rules can be tested by table. A fact that could not be read is absent
//! (`None`, or missing from a list) and [`NetworkFacts::gaps`] says why.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Everything discovery learnt. Lists hold every resource that was read, not only the task's: the
/// endpoint subnets and security groups, security groups that rules refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkFacts {
    /// The region, as in `com.amazonaws.<region>.s3`.
    pub region: String,
    pub eni: Option<Eni>,
    pub vpc: Option<Vpc>,
    pub subnets: Vec<Subnet>,
    /// The task subnet's route table: its explicit association, else the VPC's main table.
    pub route_table: Option<RouteTable>,
    /// The task subnet's network ACL.
    pub network_acl: Option<NetworkAcl>,
    pub security_groups: Vec<SecurityGroup>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
    pub prefix_lists: Vec<PrefixList>,
    /// The VPC's NAT gateways (`None`: not read), for the NAT hop's own checks.
    #[serde(default)]
    pub nat_gateways: Option<Vec<NatGateway>>,
    /// The internet gateways attached to the VPC (`None`: not read).
    #[serde(default)]
    pub internet_gateways: Option<Vec<String>>,
    /// Every route table of the VPC, with the subnets explicitly associated (a NAT gateway's
    /// subnet's table, the endpoint subnets').
    #[serde(default)]
    pub route_tables: Vec<AssociatedTable>,
    /// Every network ACL of the VPC with the subnets it is associated with (the endpoint subnets').
    #[serde(default)]
    pub network_acls: Vec<AssociatedAcl>,
    /// Route 53 private hosted zones associated with the VPC (`None`: not read).
    #[serde(default)]
    pub private_zones: Option<Vec<HostedZone>>,
    /// Route 53 Resolver forwarding rules associated with the VPC (`None`: not read).
    #[serde(default)]
    pub resolver_rules: Option<Vec<ResolverRule>>,
    /// What could not be learnt, and why (a denied action, a timeout).
    pub gaps: Vec<Gap>,
}

/// A NAT gateway as `DescribeNatGateways` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGateway {
    pub id: String,
    /// Lower-cased: `available`, `pending`, `failed`, `deleting`, `deleted`.
    pub state: String,
    pub subnet_id: String,
    /// Its Elastic IP(s); a public NAT gateway without one cannot reach the internet.
    pub public_ips: Vec<IpAddr>,
    /// `public` or `private` (a private NAT gateway only reaches other networks).
    pub connectivity: String,
}

/// A route table and its explicit subnet associations (`main`: the VPC's main table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociatedTable {
    pub table: RouteTable,
    pub subnet_ids: Vec<String>,
}

/// A network ACL and the subnets it is associated with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociatedAcl {
    pub acl: NetworkAcl,
    pub subnet_ids: Vec<String>,
}

/// A Route 53 private hosted zone associated with the task's VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZone {
    pub id: String,
    /// Without the final dot: `amazonaws.com`.
    pub name: String,
}

/// A Route 53 Resolver rule associated with the task's VPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolverRule {
    pub id: String,
    /// Without the final dot; the root (every name) is `.`.
    pub domain: String,
    /// `forward`, `system` or `recursive`, lower-cased.
    pub rule_type: String,
    /// `ip:port` of the resolvers it forwards to.
    pub targets: Vec<String>,
}

/// Whether `host` is `domain` or below it (DNS names, case-insensitive, final dots ignored).
pub fn name_covers(domain: &str, host: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    !d.is_empty() && (h == d || h.ends_with(&format!(".{d}")))
}

impl NetworkFacts {
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    pub fn prefix_list(&self, id: &str) -> Option<&PrefixList> {
        self.prefix_lists.iter().find(|p| p.id == id)
    }

    /// The route table of `subnet`: its explicit association, else the main table.
    pub fn route_table_of(&self, subnet: &str) -> Option<&RouteTable> {
        let explicit = self.route_tables.iter().find(|t| t.subnet_ids.iter().any(|s| s == subnet));
        explicit.or_else(|| self.route_tables.iter().find(|t| t.table.main)).map(|t| &t.table)
    }

    /// The network ACL of `subnet`, when read.
    pub fn network_acl_of(&self, subnet: &str) -> Option<&NetworkAcl> {
        self.network_acls.iter().find(|a| a.subnet_ids.iter().any(|s| s == subnet)).map(|a| &a.acl)
    }

    /// The facts as one task sees them: `eni`'s subnet's route table and network ACL, from the
    /// VPC's (when they were read; else what the facts already hold).
    pub fn for_task(&self, eni: Eni) -> NetworkFacts {
        let mut facts = self.clone();
        if !self.route_tables.is_empty() {
            facts.route_table = self.route_table_of(&eni.subnet_id).cloned();
            if let Some(t) = &mut facts.route_table {
                // `main` says the table is used because the subnet has no explicit association.
                t.main = !self.route_tables.iter().any(|a| a.subnet_ids.contains(&eni.subnet_id));
            }
        }
        if !self.network_acls.is_empty() {
            facts.network_acl = self.network_acl_of(&eni.subnet_id).cloned();
        }
        facts.eni = Some(eni);
        facts
    }

    /// The task's subnet, when both the ENI and the subnet were read.
    pub fn task_subnet(&self) -> Option<&Subnet> {
        self.eni.as_ref().and_then(|eni| self.subnet(&eni.subnet_id))
    }

    /// The VPC's own address ranges: IPv4 and IPv6 blocks.
    pub fn vpc_cidrs(&self) -> &[IpNet] {
        self.vpc.as_ref().map(|v| v.cidrs.as_slice()).unwrap_or(&[])
    }
}

/// The task's elastic network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eni {
    pub id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub private_ipv4: Option<IpAddr>,
    pub ipv6: Vec<IpAddr>,
    /// `Association.PublicIp`: auto-assigned (`AssignPublicIp`) or an Elastic IP.
    pub public_ip: Option<IpAddr>,
    pub security_group_ids: Vec<String>,
    /// The account that owns the interface (the task's account: the default ECR registry).
    #[serde(default)]
    pub owner_id: String,
    /// Not a real interface: a task that does not exist yet (`--subnet`) or a stopped one. With
    /// `planned_public_ip`, it will get a public IP (`AssignPublicIp`).
    #[serde(default)]
    pub planned: bool,
    #[serde(default)]
    pub planned_public_ip: bool,
    /// Planned from a stopped task's attachment: `private_ipv4` is the address it had.
    #[serde(default)]
    pub stopped: bool,
}

impl Eni {
    /// Whether the task has (or, planned, will have) a public IPv4 address.
    pub fn has_public_ip(&self) -> bool {
        self.public_ip.is_some() || self.planned_public_ip
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    /// Associated IPv4 and IPv6 blocks.
    pub cidrs: Vec<IpNet>,
    /// `enableDnsSupport`; `None` when it could not be read.
    pub dns_support: Option<bool>,
    /// `enableDnsHostnames`; `None` when it could not be read.
    pub dns_hostnames: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidrs: Vec<IpNet>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main table (used because the subnet has no explicit association).
    pub main: bool,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: Destination,
    /// The target's id (`igw-…`, `nat-…`, `vpce-…`, `tgw-…`, `pcx-…`, `vgw-…`, `eni-…`) or `local`.
    pub target: String,
    pub blackhole: bool,
    /// Propagated from a virtual private gateway (a static route wins a tie).
    pub propagated: bool,
}

impl Route {
    pub fn target_type(&self) -> TargetType {
        TargetType::of(&self.target)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Destination {
    Cidr(IpNet),
    PrefixList(String),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Cidr(net) => write!(f, "{net}"),
            Destination::PrefixList(id) => f.write_str(id),
        }
    }
}

/// What a route points at, read from the target id's prefix as the console does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Local,
    InternetGateway,
    EgressOnlyInternetGateway,
    NatGateway,
    /// `vpce-…`: a gateway endpoint (S3, DynamoDB) or a Gateway Load Balancer / firewall endpoint.
    VpcEndpoint,
    TransitGateway,
    VpcPeering,
    VpnGateway,
    NetworkInterface,
    Instance,
    CarrierGateway,
    LocalGateway,
    CoreNetwork,
    Other,
}

impl TargetType {
    pub fn of(target: &str) -> TargetType {
        let prefixes: [(&str, TargetType); 12] = [
            ("igw-", TargetType::InternetGateway),
            ("eigw-", TargetType::EgressOnlyInternetGateway),
            ("nat-", TargetType::NatGateway),
            ("vpce-", TargetType::VpcEndpoint),
            ("tgw-", TargetType::TransitGateway),
            ("pcx-", TargetType::VpcPeering),
            ("vgw-", TargetType::VpnGateway),
            ("eni-", TargetType::NetworkInterface),
            ("i-", TargetType::Instance),
            ("cagw-", TargetType::CarrierGateway),
            ("lgw-", TargetType::LocalGateway),
            ("arn:", TargetType::CoreNetwork),
        ];
        if target == "local" {
            return TargetType::Local;
        }
        prefixes.iter().find(|(p, _)| target.starts_with(p)).map(|(_, t)| *t).unwrap_or(TargetType::Other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Local => "local",
            TargetType::InternetGateway => "internet_gateway",
            TargetType::EgressOnlyInternetGateway => "egress_only_internet_gateway",
            TargetType::NatGateway => "nat_gateway",
            TargetType::VpcEndpoint => "vpc_endpoint",
            TargetType::TransitGateway => "transit_gateway",
            TargetType::VpcPeering => "vpc_peering",
            TargetType::VpnGateway => "vpn_gateway",
            TargetType::NetworkInterface => "network_interface",
            TargetType::Instance => "instance",
            TargetType::CarrierGateway => "carrier_gateway",
            TargetType::LocalGateway => "local_gateway",
            TargetType::CoreNetwork => "core_network",
            TargetType::Other => "other",
        }
    }
}

/// A managed prefix list (`pl-…`): an AWS service's ranges (S3's, for its gateway endpoint) or a
/// customer's list. `entries` is `None` when they could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixList {
    pub id: String,
    pub name: String,
    pub entries: Option<Vec<IpNet>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

/// One permission of a security group, one peer each (the API's `IpPermission` with several ranges
/// is flattened into several rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRule {
    pub protocol: Protocol,
    /// Inclusive port range; `None` for all ports (protocol `-1`, or TCP/UDP without ports).
    pub ports: Option<(u16, u16)>,
    pub peer: Peer,
}

/// Who a security group rule or a network ACL entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Peer {
    Cidr(IpNet),
    PrefixList(String),
    /// Another security group: traffic to or from network interfaces that carry it.
    SecurityGroup(String),
}

/// An IP protocol as the API spells it: `-1` (all), a name, or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    All,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Other(u8),
}

impl Protocol {
    /// Parses `-1`, `all`, `tcp`, `6`, `udp`, `17`, `icmp`, `1`, `icmpv6`, `58` or another number.
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_lowercase().as_str() {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "icmpv6" | "58" => Protocol::Icmpv6,
            other => Protocol::Other(other.parse().ok()?),
        })
    }

    pub fn covers_tcp(self) -> bool {
        matches!(self, Protocol::All | Protocol::Tcp)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    pub id: String,
    /// The VPC's default ACL.
    pub default: bool,
    pub entries: Vec<NaclEntry>,
}

/// One numbered entry. The final `*` entries AWS shows (rule number 32767) may be present or not:
/// evaluation ends in an implicit deny either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NaclEntry {
    pub rule_number: u16,
    pub egress: bool,
    pub protocol: Protocol,
    /// Inclusive; `None` for all ports.
    pub ports: Option<(u16, u16)>,
    pub cidr: IpNet,
    pub allow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    Interface,
    Gateway,
    GatewayLoadBalancer,
    Other,
}

impl EndpointType {
    pub fn parse(s: &str) -> EndpointType {
        match s.to_ascii_lowercase().as_str() {
            "interface" => EndpointType::Interface,
            "gateway" => EndpointType::Gateway,
            "gatewayloadbalancer" => EndpointType::GatewayLoadBalancer,
            _ => EndpointType::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    pub id: String,
    pub service_name: String,
    pub endpoint_type: EndpointType,
    /// As the API spells it, lower-cased: `available`, `pendingacceptance`, `pending`, `deleting`,
    /// `deleted`, `rejected`, `failed`, `expired`.
    pub state: String,
    pub private_dns_enabled: bool,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// Gateway endpoints: the route tables it is associated with.
    pub route_table_ids: Vec<String>,
    /// Interface endpoints: the private addresses of its network interfaces, when read.
    pub addresses: Vec<IpAddr>,
}

impl VpcEndpoint {
    pub fn is_available(&self) -> bool {
        self.state.eq_ignore_ascii_case("available")
    }
}

/// Something discovery could not learn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gap {
    /// The API refused: the caller lacks `action` (`ec2:DescribeRouteTables`).
    Denied { action: String, message: String },
    /// Any other failure of one call (timeout, throttling, a server error).
    Failed { action: String, message: String },
}

impl Gap {
    pub fn action(&self) -> &str {
        match self {
            Gap::Denied { action, .. } | Gap::Failed { action, .. } => action,
        }
    }
}
