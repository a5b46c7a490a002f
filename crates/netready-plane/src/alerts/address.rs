//! Where a channel may point. A webhook URL is whatever an admin typed, and the plane sends it a
//! POST from inside the VPC: pointed at the instance metadata service, the plane's own API or a
//! neighbour's admin port, alerting becomes a way in. So the addresses a channel reaches are
//! checked twice — the URL's host when the channel is made (an IP literal, `localhost`), and every
//! address a name resolves to when a notification is sent, so that a name that later points
//! inward (DNS rebinding) is refused too. Only the addresses that passed are connected to.
//!
//! Never allowed: the metadata addresses, link-local, unspecified, multicast and broadcast.
//! Private ranges (RFC 1918, shared 100.64/10, IPv6 unique-local) only when the operator allows
//! them (`--alert-allow-private`: receivers in the VPC are legitimate); loopback only with
//! `--alert-allow-loopback`, which is for tests and local development.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The EC2 instance metadata service (and the ECS task metadata one is link-local too).
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The instance metadata service over IPv6 (Nitro).
pub const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Which addresses channels may reach, beside public ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Destinations {
    /// Private ranges: 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 (the metadata address excepted).
    pub allow_private: bool,
    /// This machine: 127/8, ::1, `localhost`. For tests and local development only.
    pub allow_loopback: bool,
}

/// What kind of address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Metadata,
    LinkLocal,
    Loopback,
    Private,
    /// Unspecified, multicast, broadcast: nothing a receiver listens on.
    NotUnicast,
}

impl Refusal {
    /// In words, with the way out when there is one.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Metadata => "the instance metadata service: never allowed",
            Refusal::LinkLocal => "a link-local address: never allowed",
            Refusal::Loopback => {
                "a loopback address (this machine): allowed only with --alert-allow-loopback, for tests"
            }
            Refusal::Private => "a private address: allowed only with --alert-allow-private (receivers in the VPC)",
            Refusal::NotUnicast => "not a unicast address: never allowed",
        }
    }
}

/// Whether a channel may reach `ip`.
pub fn check_ip(ip: IpAddr, allowed: Destinations) -> Result<(), Refusal> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let refusal = match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    };
    match refusal {
        None => Ok(()),
        Some(Refusal::Loopback) if allowed.allow_loopback => Ok(()),
        Some(Refusal::Private) if allowed.allow_private => Ok(()),
        Some(r) => Err(r),
    }
}

/// The IPv4 address an IPv6 one stands for: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`, which a DNS64 resolver hands out and a NAT gateway translates).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s[..6] {
        [0, 0, 0, 0, 0, 0xffff] => Some(tail),
        // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0] if s[6] != 0 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0] => Some(tail),
        _ => None,
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, ..] = ip.octets();
    if ip == METADATA_V4 {
        Some(Refusal::Metadata)
    } else if ip.is_link_local() {
        Some(Refusal::LinkLocal)
    } else if ip.is_loopback() {
        Some(Refusal::Loopback)
    } else if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 || a >= 240 {
        Some(Refusal::NotUnicast)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some(Refusal::Private)
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let first = ip.segments()[0];
    if ip == METADATA_V6 {
        Some(Refusal::Metadata)
    } else if first & 0xffc0 == 0xfe80 {
        Some(Refusal::LinkLocal)
    } else if ip.is_loopback() {
        Some(Refusal::Loopback)
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some(Refusal::NotUnicast)
    } else if first & 0xfe00 == 0xfc00 {
        Some(Refusal::Private)
    } else {
        None
    }
}

/// The host of a checked URL (`check_url`'s form), brackets removed from an IPv6 literal.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}

/// The check a URL gets when a channel is made: an IP literal by its kind, `localhost` (and
/// `*.localhost`) as loopback. Other names are checked on every address they resolve to, when a
/// notification is sent.
pub fn check_url_host(url: &str, allowed: Destinations) -> Result<(), String> {
    let Some(host) = url_host(url) else { return Ok(()) };
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    let refusal = if lower == "localhost" || lower.ends_with(".localhost") {
        (!allowed.allow_loopback).then_some(Refusal::Loopback)
    } else {
        host.parse::<IpAddr>().ok().and_then(|ip| check_ip(ip, allowed).err())
    };
    match refusal {
        Some(r) => Err(format!("{host} is {}", r.describe())),
        None => Ok(()),
    }
}

/// Why a send was refused before any connection: the name resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} resolves to {address}, {}", refusal.describe())]
pub struct Refused {
    pub host: String,
    pub address: IpAddr,
    pub refusal: Refusal,
}

/// The HTTP client's resolver: the system's, keeping only the addresses a channel may reach.
/// When none is left, the send fails with [`Refused`] and nothing is connected to.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    pub allowed: Destinations,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, allowed) = (name.as_str().to_owned(), self.allowed);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut kept = Vec::new();
            let mut first_refusal = None;
            for addr in found {
                match check_ip(addr.ip(), allowed) {
                    Ok(()) => kept.push(addr),
                    Err(refusal) => {
                        first_refusal.get_or_insert(Refused { host: host.clone(), address: addr.ip(), refusal });
                    }
                }
            }
            match (kept.is_empty(), first_refusal) {
                (true, Some(refused)) => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

impl CheckedResolver {
    pub fn shared(allowed: Destinations) -> Arc<Self> {
        Arc::new(Self { allowed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_by_kind() {
        let strict = Destinations::default();
        let private = Destinations { allow_private: true, allow_loopback: false };
        let loopback = Destinations { allow_private: false, allow_loopback: true };
        let all = Destinations { allow_private: true, allow_loopback: true };
        for (ip, kind) in [
            ("169.254.169.254", Some(Refusal::Metadata)),
            ("fd00:ec2::254", Some(Refusal::Metadata)),
            ("::ffff:169.254.169.254", Some(Refusal::Metadata)),
            ("169.254.170.2", Some(Refusal::LinkLocal)),
            ("fe80::1", Some(Refusal::LinkLocal)),
            ("127.0.0.1", Some(Refusal::Loopback)),
            ("127.8.9.10", Some(Refusal::Loopback)),
            ("::1", Some(Refusal::Loopback)),
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Refusal::Metadata)),
            ("64:ff9b::10.1.2.3", Some(Refusal::Private)),
            ("::10.1.2.3", Some(Refusal::Private)),
            ("64:ff9b::93.184.215.14", None),
            ("10.0.0.1", Some(Refusal::Private)),
            ("172.16.5.4", Some(Refusal::Private)),
            ("192.168.1.1", Some(Refusal::Private)),
            ("100.64.0.1", Some(Refusal::Private)),
            ("fd12:3456::1", Some(Refusal::Private)),
            ("0.0.0.0", Some(Refusal::NotUnicast)),
            ("::", Some(Refusal::NotUnicast)),
            ("224.0.0.1", Some(Refusal::NotUnicast)),
            ("255.255.255.255", Some(Refusal::NotUnicast)),
            ("ff02::1", Some(Refusal::NotUnicast)),
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2600:1f18::1", None),
        ] {
            let ip: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert_eq!(check_ip(ip, strict).err(), kind, "{ip}");
            let never = matches!(kind, Some(Refusal::Metadata | Refusal::LinkLocal | Refusal::NotUnicast));
            assert_eq!(check_ip(ip, all).is_err(), never, "{ip} with everything allowed");
            assert_eq!(check_ip(ip, private).is_ok(), kind.is_none() || kind == Some(Refusal::Private), "{ip}");
            assert_eq!(check_ip(ip, loopback).is_ok(), kind.is_none() || kind == Some(Refusal::Loopback), "{ip}");
        }
    }

    #[test]
    fn url_hosts_at_creation() {
        let strict = Destinations::default();
        for (url, refused) in [
            ("https://169.254.169.254/latest/meta-data", Some("the instance metadata service")),
            ("https://[fd00:ec2::254]/x", Some("the instance metadata service")),
            ("https://10.0.0.1/x", Some("--alert-allow-private")),
            ("http://127.0.0.1:8080/api", Some("--alert-allow-loopback")),
            ("http://[::1]:9/x", Some("--alert-allow-loopback")),
            ("http://localhost/x", Some("--alert-allow-loopback")),
            ("https://api.LOCALHOST./x", Some("--alert-allow-loopback")),
            ("https://hooks.example.com:8443/x", None),
            ("https://93.184.215.14/x", None),
        ] {
            let got = check_url_host(url, strict).err();
            match refused {
                Some(says) => assert!(got.as_deref().is_some_and(|e| e.contains(says)), "{url}: {got:?}"),
                None => assert_eq!(got, None, "{url}"),
            }
        }
        let loopback = Destinations { allow_loopback: true, allow_private: false };
        assert_eq!(check_url_host("http://127.0.0.1:8080/x", loopback), Ok(()));
        assert!(check_url_host("https://169.254.169.254/x", loopback).is_err());
        assert_eq!(url_host("https://[fd00:ec2::254]:443/x"), Some("fd00:ec2::254"));
        assert_eq!(url_host("https://h.example:8443?q"), Some("h.example"));
    }
}
