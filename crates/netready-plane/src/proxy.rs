//! Who the client is behind a load balancer: the TCP peer of a plane behind the ALB is the load
//! balancer, so per-client limits (the dashboard's login throttle) key on the address the proxies
//! appended to `X-Forwarded-For` — trusted only when the peer is a configured proxy. Pure.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`): none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Parses `10.0.0.0/16`, `10.0.0.5` (one address) or several of them separated by commas.
    pub fn parse(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!(
                        "'{s}' is not an address block: expected CIDR such as 10.0.0.0/16 (the VPC's) or one address"
                    )
                })
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` carrying the `X-Forwarded-For` header values `forwarded`
    /// (in order): walking from the right, the first address not a trusted proxy. Addresses left
    /// of it were written by the client itself and are not believed. When every address is a
    /// trusted proxy, the left-most; when an entry is not an address, the hop that appended it.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev().filter(|h| !h.is_empty()) {
            let Some(ip) = parse_hop(hop) else { return client };
            client = canonical(ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = TrustedProxies::new(TrustedProxies::parse("10.0.0.0/16, 192.168.1.1").unwrap());
        let alb = ip("10.0.3.7");
        let rows: &[(IpAddr, &[&str], &str)] = &[
            // No proxy configured for this peer: the peer, whatever the header says.
            (ip("203.0.113.9"), &["198.51.100.1"], "203.0.113.9"),
            // Behind the ALB: the address it appended.
            (alb, &["203.0.113.5"], "203.0.113.5"),
            // A client forging the header: the ALB appends the real address on the right.
            (alb, &["1.1.1.1, 203.0.113.5"], "203.0.113.5"),
            (alb, &["1.1.1.1", "203.0.113.5"], "203.0.113.5"),
            // Two trusted hops (a proxy in the VPC, then the ALB).
            (alb, &["203.0.113.5, 192.168.1.1"], "203.0.113.5"),
            // All trusted: the left-most.
            (alb, &["10.0.9.9, 192.168.1.1"], "10.0.9.9"),
            // No header from a trusted proxy: the proxy.
            (alb, &[], "10.0.3.7"),
            // Garbage appended by a trusted hop: that hop.
            (alb, &["203.0.113.5, garbage"], "10.0.3.7"),
            (alb, &["garbage, 203.0.113.5"], "203.0.113.5"),
            // Ports and IPv6.
            (alb, &["203.0.113.5:41000"], "203.0.113.5"),
            (alb, &["[2001:db8::1]:443"], "2001:db8::1"),
            (alb, &["2001:db8::1"], "2001:db8::1"),
            (ip("::ffff:10.0.3.7"), &["203.0.113.5"], "203.0.113.5"),
        ];
        for (peer, headers, expected) in rows {
            assert_eq!(trusted.client(*peer, headers.iter().copied()), ip(expected), "{peer} {headers:?}");
        }
        assert_eq!(TrustedProxies::default().client(alb, ["203.0.113.5"]), alb, "nothing trusted by default");
    }

    #[test]
    fn bad_blocks_are_named() {
        assert_eq!(TrustedProxies::parse("10.0.0.0/16,,::1").unwrap().len(), 2);
        let e = TrustedProxies::parse("10.0.0.0/16,10.0.0.0/33").unwrap_err();
        assert!(e.contains("'10.0.0.0/33'") && e.contains("CIDR"), "{e}");
    }
}
