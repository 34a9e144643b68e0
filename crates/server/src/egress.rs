//! Where the server may connect to on behalf of a user (webhook deliveries): pure rules, no I/O.
//!
//! An address is *public* unless it falls in a range an outside user must never reach through
//! the server: loopback, unspecified, private (RFC 1918), shared/CGNAT (RFC 6598), link-local
//! (which holds the cloud metadata endpoint 169.254.169.254), unique-local, multicast, reserved,
//! documentation and benchmarking ranges and the rest of the IANA special-purpose registries.
//! IPv6 addresses that carry an IPv4 address are judged by it (IPv4-mapped `::ffff:a.b.c.d`, the
//! NAT64 well-known prefix `64:ff9b::/96`); tunnel and deprecated forms (IPv4-compatible
//! `::a.b.c.d`, 6to4 `2002::/16`, Teredo `2001::/32`, local-use NAT64 `64:ff9b:1::/48`) are
//! refused outright, as Stripe's Smokescreen does. IPv6 outside `2000::/3` is not assigned for
//! global unicast and is refused too.
//!
//! ```
//! use std::net::IpAddr;
//! use tessera_server::egress::{Range, classify};
//! let ip: IpAddr = "::ffff:169.254.169.254".parse().unwrap();
//! assert_eq!(classify(ip).unwrap_err().range, Range::LinkLocal);
//! assert!(classify("93.184.215.14".parse().unwrap()).is_ok());
//! ```
//!
//! The one way around these rules is the operator's allow-list ([`AllowList`], config key
//! `webhook_allowed_http_hosts`): `host` or `host:port` entries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of range a refused address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `0.0.0.0/8` ("this network"), `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// RFC 6598 shared address space (carrier-grade NAT): `100.64.0.0/10`.
    SharedCgnat,
    /// `169.254.0.0/16` (incl. the metadata endpoint `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `fec0::/10` (deprecated by RFC 3879).
    SiteLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4` (incl. broadcast `255.255.255.255`), IPv6 outside `2000::/3`.
    Reserved,
    /// RFC 5737, RFC 3849, RFC 9637 documentation ranges.
    Documentation,
    /// RFC 2544 / RFC 5180 benchmarking: `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Other IANA special-purpose blocks (IETF protocol assignments, AS112, AMT, discard, SRv6).
    SpecialPurpose,
    /// IPv6 transition and tunnel forms that lead to an IPv4 address by other means: IPv4-
    /// compatible, 6to4, Teredo, local-use NAT64.
    Transition,
}

impl Range {
    /// Short words for logs and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private (RFC 1918)",
            Self::SharedCgnat => "shared/CGNAT (RFC 6598)",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique-local",
            Self::SiteLocal => "site-local",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::SpecialPurpose => "special-purpose",
            Self::Transition => "IPv6 transition/tunnel",
        }
    }
}

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
    Mapped,
    /// `::a.b.c.d` (deprecated, RFC 4291 §2.5.5.1).
    Compatible,
    /// `64:ff9b::a.b.c.d` (RFC 6052 well-known prefix).
    Nat64,
    /// `2002:aabb:ccdd::/48` (RFC 3056).
    SixToFour,
}

impl Embedding {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mapped => "IPv4-mapped",
            Self::Compatible => "IPv4-compatible",
            Self::Nat64 => "NAT64",
            Self::SixToFour => "6to4",
        }
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The range.
    pub range: Range,
    /// The IPv4 address the IPv6 address carries, if that is what was judged.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.range.as_str())?;
        match self.embedded {
            Some((how, v4)) => write!(f, ", {} {v4}", how.as_str()),
            None => Ok(()),
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, bits: u8, range: Range) -> (u32, u8, Range) {
    (u32::from_be_bytes([a, b, c, d]), bits, range)
}

/// IANA IPv4 special-purpose registry, plus multicast and the reserved class E.
const V4_REFUSED: &[(u32, u8, Range)] = &[
    v4(0, 0, 0, 0, 8, Range::Unspecified),
    v4(10, 0, 0, 0, 8, Range::Private),
    v4(100, 64, 0, 0, 10, Range::SharedCgnat),
    v4(127, 0, 0, 0, 8, Range::Loopback),
    v4(169, 254, 0, 0, 16, Range::LinkLocal),
    v4(172, 16, 0, 0, 12, Range::Private),
    v4(192, 0, 0, 0, 24, Range::SpecialPurpose), // IETF protocol assignments (RFC 6890)
    v4(192, 0, 2, 0, 24, Range::Documentation),  // TEST-NET-1
    v4(192, 31, 196, 0, 24, Range::SpecialPurpose), // AS112-v4
    v4(192, 52, 193, 0, 24, Range::SpecialPurpose), // AMT
    v4(192, 88, 99, 0, 24, Range::SpecialPurpose), // former 6to4 relay anycast
    v4(192, 168, 0, 0, 16, Range::Private),
    v4(192, 175, 48, 0, 24, Range::SpecialPurpose), // AS112 direct delegation
    v4(198, 18, 0, 0, 15, Range::Benchmarking),
    v4(198, 51, 100, 0, 24, Range::Documentation), // TEST-NET-2
    v4(203, 0, 113, 0, 24, Range::Documentation),  // TEST-NET-3
    v4(224, 0, 0, 0, 4, Range::Multicast),
    v4(240, 0, 0, 0, 4, Range::Reserved), // class E and the limited broadcast
];

const fn v6(segments: [u16; 8], bits: u8, range: Range) -> (u128, u8, Range) {
    let mut n = 0u128;
    let mut i = 0;
    while i < 8 {
        n = (n << 16) | segments[i] as u128;
        i += 1;
    }
    (n, bits, range)
}

/// IANA IPv6 special-purpose registry and more, most specific first (the first match wins).
/// Mapped and NAT64 addresses are handled before this table (they are judged by their IPv4).
const V6_REFUSED: &[(u128, u8, Range)] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, Range::Unspecified),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, Range::Loopback),
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Range::Transition), // local-use NAT64 (RFC 8215)
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Range::SpecialPurpose), // discard-only (RFC 6666)
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, Range::Transition),    // Teredo (RFC 4380)
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, Range::Benchmarking),  // RFC 5180
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Range::Documentation),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Range::SpecialPurpose), // IETF protocol assignments
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, Range::Transition),     // 6to4 (RFC 3056)
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, Range::SpecialPurpose), // AS112-v6
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Range::Documentation),  // RFC 9637
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, Range::SpecialPurpose), // SRv6 SIDs (RFC 9602)
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Range::UniqueLocal),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, Range::LinkLocal),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, Range::SiteLocal),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Range::Multicast),
];

/// `2000::/3`: the only IPv6 space IANA assigns for global unicast.
const V6_GLOBAL_UNICAST: (u128, u8) = (0x2000 << 112, 3);

fn within<T: Into<u128>>(addr: T, net: T, bits: u8, width: u8) -> bool {
    let (addr, net) = (addr.into(), net.into());
    let shift = u32::from(width - bits.min(width));
    // A shift by the full width (a /0) would overflow: everything matches then.
    shift >= u32::from(width) || (addr >> shift) == (net >> shift)
}

fn classify_v4(ip: Ipv4Addr) -> Result<(), Range> {
    let n = u32::from(ip);
    match V4_REFUSED.iter().find(|(net, bits, _)| within(n, *net, *bits, 32)) {
        Some((_, _, range)) => Err(*range),
        None => Ok(()),
    }
}

/// The IPv4 address an IPv6 address stands for, if it is a form that is judged by it.
fn embedded_v4(ip: Ipv6Addr) -> Option<(Embedding, Ipv4Addr)> {
    let n = u128::from(ip);
    let low = Ipv4Addr::from((n & 0xffff_ffff) as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some((Embedding::Mapped, v4));
    }
    if within(n, v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, Range::Transition).0, 96, 128) {
        return Some((Embedding::Nat64, low));
    }
    None
}

/// The IPv4 address a refused-outright IPv6 form carries, for the message.
fn carried_v4(ip: Ipv6Addr) -> Option<(Embedding, Ipv4Addr)> {
    let n = u128::from(ip);
    if n >> 32 == 0 && n > 1 {
        return Some((Embedding::Compatible, Ipv4Addr::from((n & 0xffff_ffff) as u32)));
    }
    if n >> 112 == 0x2002 {
        return Some((Embedding::SixToFour, Ipv4Addr::from(((n >> 80) & 0xffff_ffff) as u32)));
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Result<(), Refusal> {
    if let Some((how, v4)) = embedded_v4(ip) {
        return classify_v4(v4).map_err(|range| Refusal { range, embedded: Some((how, v4)) });
    }
    let n = u128::from(ip);
    if let Some((_, _, range)) = V6_REFUSED.iter().find(|(net, bits, _)| within(n, *net, *bits, 128)) {
        return Err(Refusal { range: *range, embedded: carried_v4(ip) });
    }
    if n >> 32 == 0 {
        // ::a.b.c.d, IPv4-compatible (deprecated): refused whatever it carries.
        return Err(Refusal { range: Range::Transition, embedded: carried_v4(ip) });
    }
    if !within(n, V6_GLOBAL_UNICAST.0, V6_GLOBAL_UNICAST.1, 128) {
        return Err(Refusal { range: Range::Reserved, embedded: None });
    }
    Ok(())
}

/// `Ok` if `ip` is public; otherwise why it is refused.
pub fn classify(ip: IpAddr) -> Result<(), Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map_err(|range| Refusal { range, embedded: None }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// `localhost` and names under `.localhost`: loopback by definition (RFC 6761 §6.3), whatever a
/// DNS server might say.
pub fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A host as written in an allow-list entry or a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostKey {
    Ip(IpAddr),
    Name(String),
}

impl HostKey {
    fn of_name(name: &str) -> Self {
        match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => Self::Ip(ip),
            Err(_) => Self::Name(name.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

/// The operator's explicit exceptions (`webhook_allowed_http_hosts`): each entry is `host` (any
/// port) or `host:port` (IPv6 as `[::1]:8080`); a target it names may use plain `http://` and
/// skips the address rules, whatever its name resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<(HostKey, Option<u16>)>);

impl AllowList {
    /// Parses a comma-separated list; the error names the entry at fault.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            entries.push(parse_entry(entry).ok_or_else(|| {
                format!("entry {entry:?} is not `host` or `host:port` (IPv6 with a port as `[::1]:8080`)")
            })?);
        }
        Ok(Self(entries))
    }

    /// Whether `host` (as a URL spells it, IPv6 with or without brackets) on `port` is listed.
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let key = HostKey::of_name(host);
        self.0.iter().any(|(h, p)| *h == key && (p.is_none() || *p == port))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_entry(entry: &str) -> Option<(HostKey, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((HostKey::Ip(IpAddr::V6(ip)), port));
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some((HostKey::Ip(ip), None));
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
        None => (entry, None),
    };
    let valid = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !host.trim_end_matches('.').is_empty();
    valid.then(|| (HostKey::of_name(host), port))
}

/// What the rules say about a webhook URL's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// In the allow-list: connect as the system resolves it.
    Allowed,
    /// A public IP literal, or a name whose addresses must each be checked when connecting.
    Checked,
    /// Never to be connected to.
    Refused(String),
}

/// Judges a URL's host: the allow-list first, then IP literals. Names are [`Target::Checked`]:
/// only resolution tells (registration also refuses [`is_localhost_name`] names up front).
pub fn judge(url: &url::Url, allow: &AllowList) -> Target {
    let port = url.port_or_known_default();
    let Some(host) = url.host() else { return Target::Refused("the url has no host".into()) };
    let shown = url.host_str().unwrap_or_default();
    if allow.allows(shown, port) {
        return Target::Allowed;
    }
    let ip = match host {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return Target::Checked,
    };
    match classify(ip) {
        Ok(()) => Target::Checked,
        Err(refusal) => Target::Refused(format!("{ip} is not a public address ({refusal})")),
    }
}

#[cfg(test)]
#[path = "egress_tests.rs"]
mod tests;
