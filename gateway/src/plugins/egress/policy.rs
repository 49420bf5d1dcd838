//! The per-target allowlist: parsing `scheme://host[:port]` entries (deny by default, a wildcard only
//! as a leading `*.` label) and the check every URL passes before anything is sent, including the
//! literal-IP half of the SSRF guard.

use super::EgressError;
use super::ssrf::ip_restriction;
use std::net::IpAddr;
use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Lower-case ASCII (IDNA) domain without a trailing dot.
    Exact(String),
    /// `*.base`: any name ending in `.base` (one or more extra labels), never `base` itself.
    Wildcard(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Scheme,
    host: HostPattern,
    port: u16,
}

impl AllowedHost {
    fn matches(&self, scheme: Scheme, host: &Host<&str>, port: u16) -> bool {
        if self.scheme != scheme || self.port != port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Ip(allowed), Host::Ipv4(ip)) => *allowed == IpAddr::V4(*ip),
            (HostPattern::Ip(allowed), Host::Ipv6(ip)) => *allowed == IpAddr::V6(*ip),
            (HostPattern::Exact(allowed), Host::Domain(d)) => normalize_domain(d) == allowed.as_str(),
            (HostPattern::Wildcard(base), Host::Domain(d)) => {
                let d = normalize_domain(d);
                d.len() > base.len() + 1 && d.ends_with(base.as_str()) && d.as_bytes()[d.len() - base.len() - 1] == b'.'
            }
            _ => false,
        }
    }
}

/// `url` already lower-cases and IDNA-encodes domains of http(s) URLs; this also drops one
/// trailing dot so `api.example.com.` matches `api.example.com` (same DNS name).
fn normalize_domain(d: &str) -> &str {
    d.strip_suffix('.').unwrap_or(d)
}

/// Parsed per-install outbound policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    entries: Vec<AllowedHost>,
    /// Permit `http://` URLs (only towards entries whose scheme is `http`).
    pub allow_http: bool,
    /// Disable the SSRF guard (for targets on a private network, and for tests). Policies with
    /// this flag are sent through a separate client whose resolver does not filter.
    pub allow_private: bool,
}

const ENTRY_FORMAT: &str = "entries are scheme://host[:port], e.g. https://api.example.com";

/// Why an allowlist entry is refused; the text names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("allowed host entry is empty")]
    Empty,
    #[error(
        "allowed host '{0}' is a bare '*': list each host explicitly (a wildcard is only allowed as a \
         leading '*.' label, e.g. https://*.example.com)"
    )]
    BareStar(String),
    #[error("allowed host '{0}' has no scheme; {ENTRY_FORMAT}")]
    NoScheme(String),
    #[error("allowed host '{entry}' has unsupported scheme '{scheme}' (only https and http)")]
    UnsupportedScheme { entry: String, scheme: String },
    #[error("allowed host '{0}' contains a path, query or fragment; {ENTRY_FORMAT}")]
    PathQueryOrFragment(String),
    #[error("allowed host '{0}' contains user info; credentials are configured separately")]
    UserInfo(String),
    #[error("allowed host '{0}': a wildcard is only allowed as a leading '*.' label")]
    MisplacedWildcard(String),
    #[error("allowed host '{entry}' is not a valid host[:port]: {error}")]
    InvalidHost { entry: String, error: url::ParseError },
    #[error("allowed host '{0}' has no port")]
    NoPort(String),
    #[error("allowed host '{0}' has an empty host")]
    EmptyHost(String),
    #[error(
        "allowed host '{0}' is too broad: a wildcard needs a base domain with at least two labels \
         (e.g. https://*.example.com)"
    )]
    TooBroad(String),
    #[error("allowed host '{0}': a wildcard cannot be combined with an IP address")]
    WildcardIp(String),
    #[error("allowed host '{0}' has no host")]
    NoHost(String),
}

fn parse_entry(raw: &str) -> Result<AllowedHost, PolicyError> {
    let entry = raw.trim();
    if entry.is_empty() {
        return Err(PolicyError::Empty);
    }
    let named = || entry.to_owned();
    if entry == "*" || entry.ends_with("://*") || entry.ends_with("://*/") {
        return Err(PolicyError::BareStar(named()));
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return Err(PolicyError::NoScheme(named()));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => {
            return Err(PolicyError::UnsupportedScheme { entry: named(), scheme: other.to_owned() });
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '\\']) {
        return Err(PolicyError::PathQueryOrFragment(named()));
    }
    if rest.contains('@') {
        return Err(PolicyError::UserInfo(named()));
    }
    let (wildcard, rest) = match rest.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.contains('*') {
        return Err(PolicyError::MisplacedWildcard(named()));
    }
    let url = Url::parse(&format!("{}://{rest}/", scheme.as_str()))
        .map_err(|error| PolicyError::InvalidHost { entry: named(), error })?;
    let port = url.port_or_known_default().ok_or_else(|| PolicyError::NoPort(named()))?;
    let host = match url.host() {
        Some(Host::Domain(d)) => {
            let d = normalize_domain(d);
            if d.is_empty() {
                return Err(PolicyError::EmptyHost(named()));
            }
            if wildcard {
                if !d.contains('.') {
                    return Err(PolicyError::TooBroad(named()));
                }
                HostPattern::Wildcard(d.to_string())
            } else {
                HostPattern::Exact(d.to_string())
            }
        }
        Some(Host::Ipv4(ip)) if !wildcard => HostPattern::Ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) if !wildcard => HostPattern::Ip(IpAddr::V6(ip)),
        Some(_) => return Err(PolicyError::WildcardIp(named())),
        None => return Err(PolicyError::NoHost(named())),
    };
    Ok(AllowedHost { scheme, host, port })
}

pub(super) fn display_host(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => (*d).to_string(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

impl Policy {
    /// Parses the allowlist. Entries are `scheme://host[:port]` with scheme `https` or `http`
    /// (default ports 443/80 implied), an optional trailing `/`, and an optional leading `*.`
    /// wildcard label. Rejected with a message naming the entry: a bare `*`, wildcards anywhere
    /// else, paths/queries/fragments, user info, other schemes, wildcard IPs and wildcards over
    /// a single-label base (`*.com`). An empty list is valid and allows nothing.
    pub fn new(allowed_hosts: &[String], allow_http: bool, allow_private: bool) -> Result<Policy, PolicyError> {
        let entries = allowed_hosts.iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { entries, allow_http, allow_private })
    }

    /// A policy that allows nothing.
    pub fn deny_all() -> Policy {
        Policy { entries: Vec::new(), allow_http: false, allow_private: false }
    }

    /// Checks scheme, user info, allowlist and (unless `allow_private`) literal IP hosts.
    /// Host names are additionally checked when they are resolved (see [`Egress`]).
    pub fn check_url(&self, url: &Url) -> Result<(), EgressError> {
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" if self.allow_http => Scheme::Http,
            "http" => {
                return Err(EgressError::Denied("http:// is not allowed for this target (https only)".to_string()));
            }
            other => {
                return Err(EgressError::Denied(format!(
                    "scheme {other}:// is not allowed (https only, or http when enabled)"
                )));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::Denied("user info in the URL is not allowed; use a named credential".to_string()));
        }
        let Some(host) = url.host() else {
            return Err(EgressError::Denied("URL has no host".to_string()));
        };
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.entries.iter().any(|e| e.matches(scheme, &host, port)) {
            let mut shown = display_host(&host);
            if url.port().is_some() {
                shown.push_str(&format!(":{port}"));
            }
            let suffix = if scheme == Scheme::Http { " for http://" } else { "" };
            return Err(EgressError::Denied(format!("host {shown} is not in the target's allowed hosts{suffix}")));
        }
        if !self.allow_private {
            let ip = match host {
                Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                Host::Domain(_) => None,
            };
            if let Some(ip) = ip
                && let Some(reason) = ip_restriction(ip)
            {
                return Err(EgressError::Denied(format!(
                    "address {ip} is {reason}; private and special-purpose addresses are not \
                     allowed for this target"
                )));
            }
        }
        Ok(())
    }
}
