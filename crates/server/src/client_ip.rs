//! Who the client is, for rate limits and the sessions list: the TCP peer, or — only when the
//! peer is one of the configured `trusted_proxies` — the right-most `X-Forwarded-For` entry that
//! is not a trusted proxy. Rate-limit keys group IPv6 clients by /64 (one subscriber's network),
//! since a single host can use any address of its /64.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR form (`10.0.0.0/8`, `fd00::/8`); a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { net, prefix })
    }
}

impl Cidr {
    /// True when `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32) == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128) == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    let host_bits = u32::from(width - prefix.min(width));
    if host_bits >= 128 { 0 } else { (bits >> host_bits) << host_bits }
}

/// `::ffff:a.b.c.d` is the IPv4 client `a.b.c.d` (a dual-stack listener reports it so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: `peer`, unless `peer` is a trusted proxy, in which case the
/// `X-Forwarded-For` chain (`forwarded`: the header values in order) is walked from the right,
/// skipping trusted proxies. An entry that is not an address stops the walk at the last hop
/// that was trusted to name it (the proxy itself).
pub fn resolve<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[Cidr]) -> IpAddr {
    let mut client = canonical(peer);
    if !trusted.iter().any(|net| net.contains(client)) {
        return client;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = canonical(ip);
        if !trusted.iter().any(|net| net.contains(client)) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// The rate-limit key of a client address: the IPv4 address, or the IPv6 /64.
pub fn rate_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{}/64", Ipv6Addr::from(masked(u128::from(v6), 64, 128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64", "the /64 is the key");
        assert_eq!(rate_key(ip("2001:db8:1:2:ffff::9")), rate_key(ip("2001:db8:1:2::1")), "one /64, one bucket");
        assert_ne!(rate_key(ip("2001:db8:1:3::1")), rate_key(ip("2001:db8:1:2::1")), "another /64, another bucket");
        assert_eq!(rate_key(ip("::ffff:192.0.2.7")), "192.0.2.7", "IPv4-mapped is the IPv4 client");
        assert_eq!(rate_key(ip("192.0.2.7")), "192.0.2.7", "IPv4 is keyed by address");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "::1"]);
        let xff = ["203.0.113.9, 10.1.1.1"];
        assert_eq!(
            resolve(ip("198.51.100.1"), xff.into_iter(), &trusted),
            ip("198.51.100.1"),
            "untrusted peer: header ignored"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), xff.into_iter(), &trusted),
            ip("203.0.113.9"),
            "proxies are skipped from the right"
        );
        assert_eq!(
            resolve(ip("::1"), ["1.1.1.1", "203.0.113.9"].into_iter(), &trusted),
            ip("203.0.113.9"),
            "several headers are one list"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), ["garbage"].into_iter(), &trusted),
            ip("10.0.0.2"),
            "an unreadable hop stops the walk"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), ["[2001:db8::5]:443"].into_iter(), &trusted),
            ip("2001:db8::5"),
            "ports are dropped"
        );
        assert_eq!(resolve(ip("10.0.0.2"), std::iter::empty(), &[]), ip("10.0.0.2"), "nothing trusted: the peer");
        assert!(nets(&["0.0.0.0/0"])[0].contains(ip("::ffff:8.8.8.8")), "mapped addresses match IPv4 networks");
        assert!(!nets(&["10.0.0.0/8"])[0].contains(ip("11.0.0.1")), "outside the network");
    }
}
