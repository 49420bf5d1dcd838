//! The SSRF guard: which addresses a plugin request may never reach, and the resolver of the guarded
//! client that applies it to every address a host name resolves to, at connect time (so a name that
//! rebinds to a private address after the policy check is still refused).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address may not be contacted, or `None` for a public unicast address.
pub fn ip_restriction(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_restriction(v4),
        IpAddr::V6(v6) => v6_restriction(v6),
    }
}

fn v4_restriction(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) => "private (RFC 1918)",
        (172, 16..=31, _) => "private (RFC 1918)",
        (192, 168, _) => "private (RFC 1918)",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "reserved for IETF protocol assignments",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved for documentation",
        (198, 18..=19, _) => "reserved for benchmarking",
        (192, 88, 99) => "a 6to4 relay anycast address (deprecated)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(reason)
}

fn v6_restriction(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // ::ffff:a.b.c.d (IPv4-mapped)
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_restriction(v4);
    }
    // ::a.b.c.d (IPv4-compatible, deprecated): never a legitimate destination.
    if s[..6].iter().all(|&x| x == 0) {
        let v4 = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
        return Some(v4_restriction(v4).unwrap_or("an IPv4-compatible IPv6 address (deprecated)"));
    }
    // 64:ff9b::/96 (well-known NAT64 prefix): the gateway translates to the embedded IPv4.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
        return v4_restriction(v4);
    }
    // 2002::/16 (6to4): bits 16..48 carry an IPv4 address.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32);
        return v4_restriction(v4);
    }
    let reason = match s[0] {
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "reserved for local NAT64 (64:ff9b:1::/48)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        0x2001 if s[1] == 0x0db8 => "reserved for documentation",
        0x2001 if s[1] == 0x0002 && s[2] == 0 => "reserved for benchmarking",
        0x3fff if s[1] & 0xf000 == 0 => "reserved for documentation",
        x if x & 0xfe00 == 0xfc00 => "a unique local address (ULA, fc00::/7)",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        x if x & 0xff00 == 0xff00 => "multicast",
        // Everything outside global unicast 2000::/3 is reserved or special.
        x if x & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    };
    Some(reason)
}

/// Error produced by the guarded resolver. It travels through reqwest's error chain and is
/// turned back into [`EgressError::Denied`] by [`map_reqwest_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BlockedAddress {
    host: String,
    addr: IpAddr,
    reason: &'static str,
}

impl fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "address {} of {} is {}; private and special-purpose addresses are not allowed for \
             this target",
            self.addr, self.host, self.reason
        )
    }
}

impl StdError for BlockedAddress {}

/// Keeps only addresses that may be contacted. Fails (naming the first refused address) when
/// nothing allowed remains.
pub(super) fn filter_resolved(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, BlockedAddress> {
    let mut first_blocked = None;
    let mut allowed = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match ip_restriction(addr.ip()) {
            None => allowed.push(addr),
            Some(reason) => {
                tracing::debug!(host, addr = %addr.ip(), reason, "egress: dropped resolved address");
                first_blocked.get_or_insert((addr.ip(), reason));
            }
        }
    }
    match (allowed.is_empty(), first_blocked) {
        (true, Some((addr, reason))) => Err(BlockedAddress { host: host.to_string(), addr, reason }),
        _ => Ok(allowed),
    }
}

/// DNS resolver of the guarded client: system resolution (getaddrinfo on tokio's blocking
/// pool), then [`filter_resolved`]. It runs for every new connection, so a name that rebinds
/// to a private address after the policy check is still refused.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0u16)).await?.collect();
            if resolved.is_empty() {
                return Err(format!("{host} did not resolve to any address").into());
            }
            let allowed = filter_resolved(&host, resolved)?;
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}
