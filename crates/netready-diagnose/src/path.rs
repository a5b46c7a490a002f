//! The real path of each address: the route it takes and, from the route's target, how traffic to
//! the endpoint leaves the task (the access type, refined beyond what DNS alone can say).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::facts::{EndpointType, NetworkFacts, Route, TargetType, VpcEndpoint};
use crate::route;
use crate::service::ServiceKey;

/// How traffic to an endpoint leaves the task: the source document's three types and `unknown`
/// (all a check can tell from DNS and the public IP), and what only the route table shows.
/// Reports, the check and the diagnosis share this one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessType {
    /// The dialled addresses are inside the VPC: an interface endpoint (PrivateLink). With the
    /// route table, any address the `local` route carries.
    VpcEndpoint,
    /// Public addresses, and the task has no public IP (or the route's target is a NAT gateway).
    NatGateway,
    /// Public addresses, and the task has a public IP (or the route's target is an internet gateway).
    InternetGateway,
    /// Route table only: S3 through a prefix-list route to a gateway endpoint (`vpce-…`).
    GatewayEndpoint,
    /// Route table only: a route to a transit gateway (`tgw-…`).
    TransitGateway,
    /// Route table only: a route to a VPC peering connection (`pcx-…`).
    VpcPeering,
    /// Route table only: a route to a virtual private gateway (`vgw-…`, site-to-site VPN).
    VpnGateway,
    /// Nothing was dialled, the public IP is not known, or the route goes nowhere known (no route,
    /// a blackhole, an appliance).
    Unknown,
}

impl AccessType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::VpcEndpoint => "vpc_endpoint",
            AccessType::NatGateway => "nat_gateway",
            AccessType::InternetGateway => "internet_gateway",
            AccessType::GatewayEndpoint => "gateway_endpoint",
            AccessType::TransitGateway => "transit_gateway",
            AccessType::VpcPeering => "vpc_peering",
            AccessType::VpnGateway => "vpn_gateway",
            AccessType::Unknown => "unknown",
        }
    }

    /// Whether traffic stays inside the VPC.
    pub fn in_vpc(self) -> bool {
        self == AccessType::VpcEndpoint
    }
}

/// Whether a route forwards or drops, as EC2's `State` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteState {
    Active,
    /// The target no longer exists: traffic is dropped.
    Blackhole,
}

/// The route an address takes, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRef {
    pub route_table_id: String,
    /// The route's destination: a CIDR or a prefix list id.
    pub destination: String,
    pub target_id: String,
    pub target_type: TargetType,
    pub state: RouteState,
}

impl RouteRef {
    pub fn blackhole(&self) -> bool {
        self.state == RouteState::Blackhole
    }
}

/// An endpoint and the addresses its name resolved to (those a check dials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAddresses {
    pub service: ServiceKey,
    pub host: String,
    pub port: u16,
    pub addresses: Vec<IpAddr>,
}

/// The path of one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPath {
    pub address: IpAddr,
    /// `None` when no route matches, or the route table could not be read.
    pub route: Option<RouteRef>,
    pub access_type: AccessType,
    /// The interface or gateway endpoint traffic goes through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    /// Prefix lists the route table refers to whose entries are unknown (the route is uncertain).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved_prefix_lists: Vec<String>,
}

impl AddressPath {
    /// A route that forwards (not a blackhole, not an IGW without a public IP for IPv4).
    pub fn works(&self, facts: &NetworkFacts) -> bool {
        let Some(route) = &self.route else { return false };
        if route.blackhole() {
            return false;
        }
        !(route.target_type == TargetType::InternetGateway && self.address.is_ipv4() && !has_public_ip(facts))
    }
}

/// The paths of one endpoint's addresses and the endpoint's access type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointPath {
    pub service: ServiceKey,
    pub host: String,
    pub access_type: AccessType,
    pub addresses: Vec<AddressPath>,
}

pub fn has_public_ip(facts: &NetworkFacts) -> bool {
    facts.eni.as_ref().is_some_and(|e| e.has_public_ip())
}

/// The interface endpoints of `service` in the facts.
pub fn interface_endpoints(facts: &NetworkFacts, service: ServiceKey) -> impl Iterator<Item = &VpcEndpoint> {
    facts.vpc_endpoints.iter().filter(move |e| {
        e.endpoint_type == EndpointType::Interface && service.matches_endpoint(&e.service_name, &facts.region)
    })
}

/// The path of one address of `service`.
pub fn address_path(facts: &NetworkFacts, service: ServiceKey, address: IpAddr) -> AddressPath {
    let Some(table) = &facts.route_table else {
        return AddressPath {
            address,
            route: None,
            access_type: fallback(facts, address),
            vpc_endpoint_id: None,
            unresolved_prefix_lists: Vec::new(),
        };
    };
    let lookup = route::lookup(table, &facts.prefix_lists, address);
    let Some((route, _prefix)) = lookup.matched else {
        return AddressPath {
            address,
            route: None,
            access_type: AccessType::Unknown,
            vpc_endpoint_id: None,
            unresolved_prefix_lists: lookup.unresolved,
        };
    };
    let (access_type, vpc_endpoint_id) = refine(facts, service, address, route);
    AddressPath {
        address,
        route: Some(RouteRef {
            route_table_id: table.id.clone(),
            destination: route.destination.to_string(),
            target_id: route.target.clone(),
            target_type: route.target_type(),
            state: if route.blackhole { RouteState::Blackhole } else { RouteState::Active },
        }),
        access_type: if route.blackhole { AccessType::Unknown } else { access_type },
        vpc_endpoint_id,
        unresolved_prefix_lists: lookup.unresolved,
    }
}

/// Without the route table: the source document's rule (private → VPC endpoint, public → NAT or
/// IGW by the public IP), the VPC's CIDRs deciding what is private.
fn fallback(facts: &NetworkFacts, address: IpAddr) -> AccessType {
    if facts.vpc_cidrs().iter().any(|n| n.contains(&address)) {
        return AccessType::VpcEndpoint;
    }
    match &facts.eni {
        Some(eni) if eni.has_public_ip() => AccessType::InternetGateway,
        Some(_) => AccessType::NatGateway,
        None => AccessType::Unknown,
    }
}

fn refine(facts: &NetworkFacts, service: ServiceKey, address: IpAddr, route: &Route) -> (AccessType, Option<String>) {
    match route.target_type() {
        TargetType::Local => {
            if let Some(e) = facts.vpc_endpoints.iter().find(|e| e.addresses.contains(&address)) {
                return (AccessType::VpcEndpoint, Some(e.id.clone()));
            }
            // The endpoint's interfaces were not read: an interface endpoint of the service is the
            // likely owner of a private answer.
            let candidates: Vec<&VpcEndpoint> = interface_endpoints(facts, service).collect();
            if !candidates.is_empty() && candidates.iter().all(|e| e.addresses.is_empty()) {
                return (AccessType::VpcEndpoint, candidates.first().map(|e| e.id.clone()));
            }
            // Inside the VPC, not a known endpoint's address (a proxy, another host): the source
            // document's rule, private means VPC endpoint; the route and the missing
            // `vpc_endpoint_id` tell the difference.
            (AccessType::VpcEndpoint, None)
        }
        TargetType::VpcEndpoint => {
            let endpoint = facts.vpc_endpoints.iter().find(|e| e.id == route.target);
            match endpoint.map(|e| e.endpoint_type) {
                Some(EndpointType::Gateway) | None => (AccessType::GatewayEndpoint, Some(route.target.clone())),
                // A Gateway Load Balancer or firewall endpoint: the path continues past an
                // appliance netready cannot see.
                Some(_) => (AccessType::Unknown, Some(route.target.clone())),
            }
        }
        TargetType::NatGateway => (AccessType::NatGateway, None),
        TargetType::InternetGateway | TargetType::EgressOnlyInternetGateway => (AccessType::InternetGateway, None),
        TargetType::TransitGateway => (AccessType::TransitGateway, None),
        TargetType::VpcPeering => (AccessType::VpcPeering, None),
        TargetType::VpnGateway => (AccessType::VpnGateway, None),
        _ => (AccessType::Unknown, None),
    }
}

/// The access type of an endpoint from its addresses' paths: all alike, that one; otherwise the
/// path that leaves the VPC decides (as netready's check classifies a mix by its public part).
pub fn endpoint_access(paths: &[AddressPath]) -> AccessType {
    let known: Vec<AccessType> = paths.iter().map(|p| p.access_type).filter(|a| *a != AccessType::Unknown).collect();
    let first = known.first().copied().unwrap_or(AccessType::Unknown);
    known.iter().copied().find(|a| !a.in_vpc()).unwrap_or(first)
}

/// The paths of every endpoint.
pub fn paths(facts: &NetworkFacts, endpoints: &[EndpointAddresses]) -> Vec<EndpointPath> {
    endpoints
        .iter()
        .map(|e| {
            let addresses: Vec<AddressPath> = e.addresses.iter().map(|a| address_path(facts, e.service, *a)).collect();
            EndpointPath {
                service: e.service,
                host: e.host.clone(),
                access_type: endpoint_access(&addresses),
                addresses,
            }
        })
        .collect()
}
