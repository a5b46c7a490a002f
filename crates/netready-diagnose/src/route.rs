//! Which route an address takes: longest-prefix match over the subnet's route table, prefix-list
//! destinations expanded to their entries.
//!
//! AWS's rules (VPC User Guide, "Route priority"): the most specific route wins; on a tie, a route
//! to a CIDR wins over a route to a prefix list, and a static route over a propagated one. A
//! blackhole route still matches (and drops). The local route is an ordinary route here: a more
//! specific route may override part of the VPC's range, as AWS allows.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::facts::{Destination, PrefixList, Route, RouteTable};

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLookup<'a> {
    /// The route taken and the prefix that matched (the CIDR, or the prefix list's entry).
    pub matched: Option<(&'a Route, IpNet)>,
    /// Prefix lists the table routes to whose entries are unknown: any of them might have matched
    /// more specifically.
    pub unresolved: Vec<String>,
}

/// Finds the route `address` takes in `table`.
pub fn lookup<'a>(table: &'a RouteTable, prefix_lists: &[PrefixList], address: IpAddr) -> RouteLookup<'a> {
    let mut best: Option<((u8, bool, bool), &'a Route, IpNet)> = None;
    let mut unresolved = Vec::new();
    for route in &table.routes {
        let (prefix, is_cidr) = match &route.destination {
            Destination::Cidr(net) => (net.contains(&address).then_some(*net), true),
            Destination::PrefixList(id) => {
                match prefix_lists.iter().find(|p| &p.id == id).and_then(|p| p.entries.as_ref()) {
                    Some(entries) => (longest(entries, address), false),
                    None => {
                        unresolved.push(id.clone());
                        (None, false)
                    }
                }
            }
        };
        let Some(prefix) = prefix else { continue };
        let rank = (prefix.prefix_len(), is_cidr, !route.propagated);
        if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
            best = Some((rank, route, prefix));
        }
    }
    RouteLookup { matched: best.map(|(_, route, prefix)| (route, prefix)), unresolved }
}

/// The most specific entry of `entries` that contains `address`.
pub fn longest(entries: &[IpNet], address: IpAddr) -> Option<IpNet> {
    entries.iter().filter(|n| n.contains(&address)).max_by_key(|n| n.prefix_len()).copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn route(dest: &str, target: &str) -> Route {
        let destination = if dest.starts_with("pl-") {
            Destination::PrefixList(dest.into())
        } else {
            Destination::Cidr(dest.parse().unwrap())
        };
        Route { destination, target: target.into(), blackhole: false, propagated: false }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        RouteTable { id: "rtb-1".into(), main: false, routes }
    }

    fn s3_list() -> PrefixList {
        PrefixList {
            id: "pl-6da54004".into(),
            name: "com.amazonaws.eu-west-3.s3".into(),
            entries: Some(vec!["52.95.154.0/23".parse().unwrap(), "3.5.224.0/22".parse().unwrap()]),
        }
    }

    #[test]
    fn longest_prefix_match_table() {
        let t = table(vec![
            route("10.0.0.0/16", "local"),
            route("0.0.0.0/0", "nat-1"),
            route("10.0.5.0/24", "eni-appliance"),
            route("172.16.0.0/12", "tgw-1"),
            route("192.168.0.0/16", "pcx-1"),
            route("pl-6da54004", "vpce-s3"),
            route("2600:1f18::/32", "eigw-1"),
            route("::/0", "igw-1"),
        ]);
        let lists = [s3_list()];
        let cases = [
            ("10.0.1.10", Some(("local", "10.0.0.0/16"))),
            ("10.0.5.7", Some(("eni-appliance", "10.0.5.0/24"))),
            ("8.8.8.8", Some(("nat-1", "0.0.0.0/0"))),
            ("172.20.1.1", Some(("tgw-1", "172.16.0.0/12"))),
            ("192.168.3.3", Some(("pcx-1", "192.168.0.0/16"))),
            ("52.95.155.10", Some(("vpce-s3", "52.95.154.0/23"))),
            ("3.5.225.1", Some(("vpce-s3", "3.5.224.0/22"))),
            ("2600:1f18::1", Some(("eigw-1", "2600:1f18::/32"))),
            ("2a05:d012::1", Some(("igw-1", "::/0"))),
        ];
        for (addr, want) in cases {
            let got = lookup(&t, &lists, addr.parse().unwrap());
            let got = got.matched.map(|(r, p)| (r.target.as_str(), p.to_string()));
            assert_eq!(got, want.map(|(t, p)| (t, p.to_owned())), "{addr}");
        }
    }

    #[test]
    fn no_default_route_means_no_match() {
        let t = table(vec![route("10.0.0.0/16", "local")]);
        assert_eq!(lookup(&t, &[], "52.95.155.10".parse().unwrap()).matched, None);
        // IPv4 routes never match IPv6 addresses.
        let t = table(vec![route("0.0.0.0/0", "igw-1")]);
        assert_eq!(lookup(&t, &[], "2a05:d012::1".parse().unwrap()).matched, None);
    }

    #[test]
    fn ties_prefer_cidr_over_prefix_list_and_static_over_propagated() {
        let mut propagated = route("52.95.154.0/23", "vgw-1");
        propagated.propagated = true;
        let t = table(vec![propagated.clone(), route("pl-6da54004", "vpce-s3")]);
        let got = lookup(&t, &[s3_list()], "52.95.155.10".parse().unwrap()).matched.unwrap();
        assert_eq!(got.0.target, "vgw-1", "a CIDR route beats a prefix-list route of the same length");
        let t = table(vec![propagated, route("52.95.154.0/23", "tgw-1")]);
        let got = lookup(&t, &[], "52.95.155.10".parse().unwrap()).matched.unwrap();
        assert_eq!(got.0.target, "tgw-1", "a static route beats a propagated one");
    }

    #[test]
    fn blackhole_routes_still_match() {
        let mut dead = route("0.0.0.0/0", "nat-deleted");
        dead.blackhole = true;
        let t = table(vec![route("10.0.0.0/16", "local"), dead]);
        let got = lookup(&t, &[], "8.8.8.8".parse().unwrap()).matched.unwrap();
        assert!(got.0.blackhole);
    }

    #[test]
    fn unknown_prefix_list_entries_are_reported() {
        let t = table(vec![route("0.0.0.0/0", "nat-1"), route("pl-unknown", "vpce-s3")]);
        let lists = [PrefixList { id: "pl-unknown".into(), name: String::new(), entries: None }];
        let got = lookup(&t, &lists, "52.95.155.10".parse().unwrap());
        assert_eq!(got.matched.unwrap().0.target, "nat-1");
        assert_eq!(got.unresolved, vec!["pl-unknown".to_owned()]);
        // A list that was not read at all is unresolved too.
        assert_eq!(lookup(&t, &[], "1.1.1.1".parse().unwrap()).unresolved, vec!["pl-unknown".to_owned()]);
    }
}
