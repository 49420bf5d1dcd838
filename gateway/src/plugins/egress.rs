//! Outbound HTTP for WebAssembly plugins (`http.send` in the `connector` world).
//!
//! Plugins never talk to the network themselves: they hand the host a [`Request`] and the
//! host decides whether it may leave the process. What is enforced here:
//!
//! * **Allowlist** ([`Policy`]): entries are `scheme://host[:port]`, deny-by-default, with a
//!   wildcard only as a leading `*.` label (subdomains only, never the apex). Paths, queries,
//!   fragments and user info in entries are *rejected* by [`Policy::new`], as is a bare `*`.
//! * **HTTPS only**, unless the policy sets `allow_http`, and then only towards entries whose
//!   scheme is `http`.
//! * **SSRF guard** (unless `allow_private`): literal IP hosts are checked before sending, and
//!   every address a host name resolves to is checked at connect time by a custom resolver
//!   ([`reqwest::dns::Resolve`]), which defeats DNS rebinding. Loopback, RFC 1918, link-local,
//!   CGNAT, ULA, unspecified, broadcast, multicast, documentation/benchmark/reserved ranges and
//!   IPv4-mapped / IPv4-compatible / NAT64 / 6to4 IPv6 forms of those are refused.
//! * **No redirects**, no proxies (environment proxies would bypass the resolver), connect and
//!   whole-request timeouts, request and response size caps (the response is streamed and
//!   never buffered beyond the cap) and a per-call request [`Budget`].
//! * **Credentials** are injected by the host from named secrets; the plugin never sees them
//!   and may not set `Authorization`, `Host`, framing, hop-by-hop or `Proxy-*` headers, nor
//!   the header the chosen [`Auth`] injects.
//! * **Logging**: at most one `tracing::debug!` per request with method, `scheme://host:port`,
//!   status (or error kind) and duration. Never header values, paths, queries or bodies.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use url::{Host, Url};

// ---------------------------------------------------------------------------------------------
// Request / response types
// ---------------------------------------------------------------------------------------------

/// HTTP method a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }

    /// Upper-case method name, as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the host authenticates a request. Every string naming a credential is the credential's
/// *name*; the secret itself is looked up by the host and never enters guest memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <secret>`.
    Bearer(String),
    /// `Authorization: Basic base64(<secret>)`; the secret is `user:password`.
    Basic(String),
    /// `<header>: <secret>`, e.g. `X-Api-Key`.
    Header { header: String, credential: String },
    /// `<header>: sha256=<lowercase hex HMAC-SHA256(secret, body bytes or empty)>`.
    HmacSha256 { header: String, credential: String },
}

impl Auth {
    fn credential_name(&self) -> &str {
        match self {
            Auth::Bearer(name) | Auth::Basic(name) => name,
            Auth::Header { credential, .. } | Auth::HmacSha256 { credential, .. } => credential,
        }
    }
}

/// A request as the plugin asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub auth: Option<Auth>,
}

impl fmt::Debug for Request {
    /// Redacted: no query string, no header values, no body bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &names)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("auth", &self.auth)
            .finish()
    }
}

/// The LMS's answer. Header names are lower case; values that are not UTF-8 are converted
/// lossily.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Response {
    /// Redacted: header names and body length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Typed failure returned to the plugin (maps 1:1 onto the WIT `http-error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The host refused the request (policy, SSRF guard, headers, credentials). The message
    /// names the offending host, address or header and never contains a secret.
    #[error("denied: {0}")]
    Denied(String),
    /// Connect timeout, whole-request timeout or the call's deadline.
    #[error("request timed out")]
    Timeout,
    /// Request body over `max_request_bytes` (nothing sent) or response body over
    /// `max_response_bytes` (reading stopped at the cap).
    #[error("request or response body exceeds the size limit")]
    TooLarge,
    /// No requests left in this plugin call (nothing sent).
    #[error("request budget for this plugin call is exhausted")]
    BudgetExhausted,
    /// Any other network or protocol failure (connection refused, TLS, DNS, malformed reply).
    #[error("transport error: {0}")]
    Transport(String),
}

impl EgressError {
    fn kind(&self) -> &'static str {
        match self {
            EgressError::Denied(_) => "denied",
            EgressError::Timeout => "timeout",
            EgressError::TooLarge => "too-large",
            EgressError::BudgetExhausted => "budget-exhausted",
            EgressError::Transport(_) => "transport",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Policy (allowlist)
// ---------------------------------------------------------------------------------------------

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

fn parse_entry(raw: &str) -> Result<AllowedHost, String> {
    let entry = raw.trim();
    if entry.is_empty() {
        return Err("allowed host entry is empty".to_string());
    }
    if entry == "*" || entry.ends_with("://*") || entry.ends_with("://*/") {
        return Err(format!(
            "allowed host '{entry}' is a bare '*': list each host explicitly (a wildcard is only \
             allowed as a leading '*.' label, e.g. https://*.example.com)"
        ));
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return Err(format!("allowed host '{entry}' has no scheme; {ENTRY_FORMAT}"));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => {
            return Err(format!("allowed host '{entry}' has unsupported scheme '{other}' (only https and http)"));
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '\\']) {
        return Err(format!("allowed host '{entry}' contains a path, query or fragment; {ENTRY_FORMAT}"));
    }
    if rest.contains('@') {
        return Err(format!("allowed host '{entry}' contains user info; credentials are configured separately"));
    }
    let (wildcard, rest) = match rest.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.contains('*') {
        return Err(format!("allowed host '{entry}': a wildcard is only allowed as a leading '*.' label"));
    }
    let url = Url::parse(&format!("{}://{rest}/", scheme.as_str()))
        .map_err(|e| format!("allowed host '{entry}' is not a valid host[:port]: {e}"))?;
    let port = url.port_or_known_default().ok_or_else(|| format!("allowed host '{entry}' has no port"))?;
    let host = match url.host() {
        Some(Host::Domain(d)) => {
            let d = normalize_domain(d);
            if d.is_empty() {
                return Err(format!("allowed host '{entry}' has an empty host"));
            }
            if wildcard {
                if !d.contains('.') {
                    return Err(format!(
                        "allowed host '{entry}' is too broad: a wildcard needs a base domain \
                         with at least two labels (e.g. https://*.example.com)"
                    ));
                }
                HostPattern::Wildcard(d.to_string())
            } else {
                HostPattern::Exact(d.to_string())
            }
        }
        Some(Host::Ipv4(ip)) if !wildcard => HostPattern::Ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) if !wildcard => HostPattern::Ip(IpAddr::V6(ip)),
        Some(_) => {
            return Err(format!("allowed host '{entry}': a wildcard cannot be combined with an IP address"));
        }
        None => return Err(format!("allowed host '{entry}' has no host")),
    };
    Ok(AllowedHost { scheme, host, port })
}

fn display_host(host: &Host<&str>) -> String {
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
    pub fn new(allowed_hosts: &[String], allow_http: bool, allow_private: bool) -> Result<Policy, String> {
        let entries = allowed_hosts.iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { entries, allow_http, allow_private })
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

// ---------------------------------------------------------------------------------------------
// SSRF guard
// ---------------------------------------------------------------------------------------------

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
struct BlockedAddress {
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
fn filter_resolved(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, BlockedAddress> {
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
struct GuardedResolver;

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

// ---------------------------------------------------------------------------------------------
// Limits and budget
// ---------------------------------------------------------------------------------------------

/// Per-request limits, shared by all plugins using one [`Egress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// Whole request: connect, send, headers and streaming the body.
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_request_bytes: usize,
    pub max_requests_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 4 * 1024 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
            max_requests_per_call: 16,
        }
    }
}

/// What is left for one plugin call: a request count and, optionally, a deadline.
/// Create one per `deliver` call and pass it to every [`Egress::send`] of that call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    remaining: u32,
    deadline: Option<Instant>,
}

impl Budget {
    /// `limits.max_requests_per_call` requests, no deadline.
    pub fn new(limits: &Limits) -> Budget {
        Budget { remaining: limits.max_requests_per_call, deadline: None }
    }

    /// Also caps every request's timeout by the time left until `deadline` (the call's total
    /// deadline); once it has passed, `send` returns `Timeout` without sending.
    pub fn with_deadline(mut self, deadline: Instant) -> Budget {
        self.deadline = Some(deadline);
        self
    }

    /// Requests left.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    fn take(&mut self) -> Result<(), EgressError> {
        match self.remaining.checked_sub(1) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(EgressError::BudgetExhausted),
        }
    }

    fn timeout(&self, request_timeout: Duration) -> Result<Duration, EgressError> {
        match self.deadline {
            None => Ok(request_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() { Err(EgressError::Timeout) } else { Ok(left.min(request_timeout)) }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Headers and credentials
// ---------------------------------------------------------------------------------------------

/// Header names a plugin may never set: the host owns routing, framing and authentication.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

fn is_reserved(name: &HeaderName) -> bool {
    let n = name.as_str();
    RESERVED_HEADERS.contains(&n) || n.starts_with("proxy-")
}

/// Quoted, length-capped rendering of a name the plugin supplied (for error messages).
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).collect();
    if s.len() < name.len() {
        s.push('…');
    }
    format!("{s:?}")
}

fn parse_header_name(name: &str) -> Result<HeaderName, EgressError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| EgressError::Denied(format!("invalid header name {}", shown(name))))
}

/// Computes `sha256=<lowercase hex HMAC-SHA256(key, body)>`.
fn hmac_sha256_header(key: &[u8], body: &[u8]) -> Result<String, EgressError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| EgressError::Denied("credential cannot be used as an HMAC key".to_string()))?;
    mac.update(body);
    Ok(format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
}

/// The header the host injects for `auth`, with the secret filled in and marked sensitive.
fn auth_header(
    auth: &Auth,
    credentials: &HashMap<String, String>,
    body: &[u8],
) -> Result<(HeaderName, HeaderValue), EgressError> {
    let name = auth.credential_name();
    let secret = credentials.get(name).ok_or_else(|| EgressError::Denied(format!("unknown credential '{name}'")))?;
    let (header, value) = match auth {
        Auth::Bearer(_) => (reqwest::header::AUTHORIZATION, format!("Bearer {secret}")),
        Auth::Basic(_) => (
            reqwest::header::AUTHORIZATION,
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(secret.as_bytes())),
        ),
        Auth::Header { header, .. } | Auth::HmacSha256 { header, .. } => {
            let header = parse_header_name(header)?;
            // `Authorization` is fine as a target (e.g. `Authorization: Token abc`); routing,
            // framing and proxy headers are not.
            if header != reqwest::header::AUTHORIZATION && is_reserved(&header) {
                return Err(EgressError::Denied(format!("header {header} cannot carry a credential")));
            }
            let value = match auth {
                Auth::HmacSha256 { .. } => hmac_sha256_header(secret.as_bytes(), body)?,
                _ => secret.clone(),
            };
            (header, value)
        }
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        EgressError::Denied(format!("credential '{name}' contains characters that are not allowed in a header"))
    })?;
    value.set_sensitive(true);
    Ok((header, value))
}

fn build_headers(
    plugin_headers: &[(String, String)],
    auth: Option<&Auth>,
    credentials: &HashMap<String, String>,
    body: &[u8],
) -> Result<HeaderMap, EgressError> {
    let injected = auth.map(|a| auth_header(a, credentials, body)).transpose()?;
    let mut map = HeaderMap::with_capacity(plugin_headers.len() + 1);
    for (name, value) in plugin_headers {
        let header = parse_header_name(name)?;
        if is_reserved(&header) {
            return Err(EgressError::Denied(format!(
                "header {header} is set by the host and cannot be supplied by the plugin"
            )));
        }
        if let Some((auth_name, _)) = &injected
            && *auth_name == header
        {
            return Err(EgressError::Denied(format!(
                "header {header} carries the credential injected by the host and cannot be \
                 supplied by the plugin"
            )));
        }
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| EgressError::Denied(format!("invalid value for header {header}")))?;
        map.append(header, value);
    }
    if let Some((name, value)) = injected {
        map.insert(name, value);
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Installs rustls' `ring` provider as the process-wide default, once. If another provider
/// was installed first (by the host or another crate), that one is kept.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none()
            && rustls::crypto::ring::default_provider().install_default().is_err()
        {
            tracing::debug!("egress: a rustls crypto provider was installed concurrently; keeping it");
        }
    });
}

/// The plugins' HTTP client. Build one per process and share it (it is cheap to clone): it
/// holds two connection-pooling clients, one whose resolver enforces the SSRF guard and one
/// without it for `allow_private` policies.
#[derive(Debug, Clone)]
pub struct Egress {
    guarded: reqwest::Client,
    unguarded: reqwest::Client,
    limits: Arc<Limits>,
}

fn build_client(limits: &Limits, guarded: bool) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        // Environment proxies would connect on our behalf and bypass the resolver's checks.
        .no_proxy()
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("scimgw-egress/", env!("CARGO_PKG_VERSION")));
    let builder = if guarded { builder.dns_resolver(GuardedResolver) } else { builder };
    builder.build().map_err(|e| format!("cannot build the plugin HTTP client: {}", error_chain(&e)))
}

impl Egress {
    /// Installs the crypto provider (see [`install_crypto_provider`]) and builds both clients.
    /// Fails on zero timeouts or when the system's CA certificates cannot be loaded.
    pub fn new(limits: Limits) -> Result<Egress, String> {
        if limits.connect_timeout.is_zero() || limits.request_timeout.is_zero() {
            return Err("egress timeouts must be greater than zero".to_string());
        }
        install_crypto_provider();
        Ok(Egress {
            guarded: build_client(&limits, true)?,
            unguarded: build_client(&limits, false)?,
            limits: Arc::new(limits),
        })
    }

    /// The limits this client enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends one plugin request. Order of checks: budget (every call consumes one request,
    /// even if it is then denied), deadline, URL/policy, request size, headers/credentials;
    /// only then is anything sent. `credentials` maps credential names to decrypted secrets.
    pub async fn send(
        &self,
        policy: &Policy,
        credentials: &HashMap<String, String>,
        budget: &mut Budget,
        req: Request,
    ) -> Result<Response, EgressError> {
        budget.take()?;
        let timeout = budget.timeout(self.limits.request_timeout)?;
        let url = Url::parse(&req.url).map_err(|e| EgressError::Denied(format!("invalid URL: {e}")))?;
        policy.check_url(&url)?;
        let body = req.body.unwrap_or_default();
        if body.len() > self.limits.max_request_bytes {
            return Err(EgressError::TooLarge);
        }
        let headers = build_headers(&req.headers, req.auth.as_ref(), credentials, &body)?;

        let target = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host().map(|h| display_host(&h)).unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let client = if policy.allow_private { &self.unguarded } else { &self.guarded };
        let mut request = reqwest::Request::new(req.method.to_reqwest(), url);
        *request.headers_mut() = headers;
        *request.timeout_mut() = Some(timeout);
        if !body.is_empty() || matches!(req.method, Method::Post | Method::Put | Method::Patch) {
            *request.body_mut() = Some(reqwest::Body::from(body));
        }

        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, execute(client, request, self.limits.max_response_bytes)).await
        {
            Ok(result) => result,
            Err(_) => Err(EgressError::Timeout),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(resp) => tracing::debug!(
                method = req.method.as_str(),
                target = %target,
                status = resp.status,
                elapsed_ms,
                "egress request"
            ),
            Err(err) => tracing::debug!(
                method = req.method.as_str(),
                target = %target,
                error = err.kind(),
                elapsed_ms,
                "egress request failed"
            ),
        }
        result
    }
}

async fn execute(
    client: &reqwest::Client,
    request: reqwest::Request,
    max_response_bytes: usize,
) -> Result<Response, EgressError> {
    let mut resp = client.execute(request).await.map_err(map_reqwest_error)?;
    let declared = resp.content_length();
    if let Some(len) = declared
        && len > max_response_bytes as u64
    {
        return Err(EgressError::TooLarge);
    }
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let initial = declared.map_or(0, |n| n as usize).min(max_response_bytes);
    let mut body = Vec::with_capacity(initial);
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest_error)? {
        if chunk.len() > max_response_bytes - body.len() {
            return Err(EgressError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

/// Display of an error and its sources, without reqwest's URL (which may carry a query).
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}

fn map_reqwest_error(err: reqwest::Error) -> EgressError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedAddress>() {
            return EgressError::Denied(blocked.to_string());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return EgressError::Timeout;
    }
    let err = err.without_url();
    EgressError::Transport(error_chain(&err))
}

/// `scheme://host[:port]/path` without user info, query or fragment (for Debug output).
fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!("{}{}", u.origin().ascii_serialization(), u.path()),
        Err(_) => "<invalid url>".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::{TcpListener, TcpStream};

    // ----- tiny HTTP/1.1 test server (tokio net only, no io-util) -----

    #[derive(Debug, Clone)]
    struct Recorded {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Recorded {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    enum Reply {
        Bytes(Vec<u8>),
        /// Read the request, then never answer.
        Hang,
    }

    type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

    struct TestServer {
        addr: SocketAddr,
        requests: Arc<Mutex<Vec<Recorded>>>,
        connections: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl TestServer {
        async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let connections = Arc::new(AtomicUsize::new(0));
            let handler: Handler = Arc::new(handler);
            let (reqs, conns) = (requests.clone(), connections.clone());
            let task = tokio::spawn(async move {
                let mut tasks = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    conns.fetch_add(1, Ordering::SeqCst);
                    tasks.spawn(serve_conn(stream, handler.clone(), reqs.clone()));
                }
            });
            TestServer { addr, requests, connections, task }
        }

        fn port(&self) -> u16 {
            self.addr.port()
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port())
        }

        fn requests(&self) -> Vec<Recorded> {
            self.requests.lock().unwrap().clone()
        }
    }

    async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> bool {
        let mut tmp = [0u8; 8192];
        loop {
            if stream.readable().await.is_err() {
                return false;
            }
            match stream.try_read(&mut tmp) {
                Ok(0) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&tmp[..n]);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return false,
            }
        }
    }

    async fn write_all(stream: &TcpStream, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if stream.writable().await.is_err() {
                return false;
            }
            match stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return false,
            }
        }
        true
    }

    async fn serve_conn(stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Recorded>>>) {
        let mut buf = Vec::new();
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i;
                }
                if !read_some(&stream, &mut buf).await {
                    return;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut start = lines.next().unwrap_or_default().split(' ');
            let method = start.next().unwrap_or_default().to_string();
            let target = start.next().unwrap_or_default().to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize =
                headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            let body_start = head_end + 4;
            while buf.len() < body_start + len {
                if !read_some(&stream, &mut buf).await {
                    return;
                }
            }
            let body = buf[body_start..body_start + len].to_vec();
            buf.drain(..body_start + len);
            let rec = Recorded { method, target, headers, body };
            log.lock().unwrap().push(rec.clone());
            match handler(&rec) {
                Reply::Bytes(bytes) => {
                    if !write_all(&stream, &bytes).await {
                        return;
                    }
                }
                Reply::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
    }

    fn http_reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        Reply::Bytes(bytes)
    }

    fn chunked_reply(chunk: usize, count: usize) -> Reply {
        let mut bytes = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..count {
            bytes.extend_from_slice(format!("{chunk:x}\r\n").as_bytes());
            bytes.extend(std::iter::repeat_n(b'a', chunk));
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        Reply::Bytes(bytes)
    }

    // ----- helpers -----

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn denied(r: Result<impl fmt::Debug, EgressError>) -> String {
        match r {
            Err(EgressError::Denied(msg)) => msg,
            other => panic!("expected Denied, got {other:?}"),
        }
    }

    /// http + private allowed, only this server's origin.
    fn local_policy(server: &TestServer) -> Policy {
        Policy::new(&[format!("http://127.0.0.1:{}", server.port())], true, true).unwrap()
    }

    fn limits() -> Limits {
        Limits { connect_timeout: Duration::from_secs(2), request_timeout: Duration::from_secs(5), ..Limits::default() }
    }

    fn creds() -> HashMap<String, String> {
        HashMap::from([
            ("lms-token".to_string(), "s3cr3t-token".to_string()),
            ("lms-basic".to_string(), "user:pass".to_string()),
            ("lms-key".to_string(), "api-key-123".to_string()),
            ("lms-hmac".to_string(), "hmac-signing-key".to_string()),
            ("bad".to_string(), "line\nbreak".to_string()),
        ])
    }

    fn get(url: String) -> Request {
        Request { method: Method::Get, url, headers: vec![], body: None, auth: None }
    }

    /// Independent HMAC-SHA256 (RFC 2104 over the sha2 crate, not the hmac crate).
    fn reference_hmac_sha256(key: &[u8], msg: &[u8]) -> String {
        use sha2::Digest;
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new().chain_update(&ipad).chain_update(msg).finalize();
        let outer = Sha256::new().chain_update(&opad).chain_update(inner).finalize();
        hex::encode(outer)
    }

    // ----- Policy parsing -----

    #[test]
    fn policy_rejects_bare_star_and_misplaced_wildcards() {
        for bad in ["*", "https://*", "https://*/", "http://*"] {
            let err = Policy::new(&hosts(&[bad]), true, false).unwrap_err();
            assert!(err.contains("bare '*'"), "{bad}: {err}");
        }
        for bad in ["https://api.*.example.com", "https://*example.com", "https://a*.example.com"] {
            let err = Policy::new(&hosts(&[bad]), false, false).unwrap_err();
            assert!(err.contains("leading '*.'"), "{bad}: {err}");
        }
        let err = Policy::new(&hosts(&["https://*.com"]), false, false).unwrap_err();
        assert!(err.contains("too broad"), "{err}");
        let err = Policy::new(&hosts(&["https://*.10.0.0.1"]), false, false).unwrap_err();
        assert!(err.contains("IP address"), "{err}");
    }

    #[test]
    fn policy_rejects_paths_userinfo_bad_schemes_and_missing_scheme() {
        for bad in ["https://api.example.com/v1", "https://api.example.com/?x=1", "https://api.example.com#frag"] {
            let err = Policy::new(&hosts(&[bad]), false, false).unwrap_err();
            assert!(err.contains("path, query or fragment"), "{bad}: {err}");
        }
        let err = Policy::new(&hosts(&["https://u:p@api.example.com"]), false, false).unwrap_err();
        assert!(err.contains("user info"), "{err}");
        let err = Policy::new(&hosts(&["ftp://api.example.com"]), false, false).unwrap_err();
        assert!(err.contains("unsupported scheme 'ftp'"), "{err}");
        let err = Policy::new(&hosts(&["api.example.com"]), false, false).unwrap_err();
        assert!(err.contains("no scheme"), "{err}");
        let err = Policy::new(&hosts(&[""]), false, false).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = Policy::new(&hosts(&["https://api.example.com:99999"]), false, false).unwrap_err();
        assert!(err.contains("not a valid host"), "{err}");
        // A trailing slash alone is accepted.
        assert!(Policy::new(&hosts(&["https://api.example.com/"]), false, false).is_ok());
    }

    #[test]
    fn empty_allowlist_allows_nothing() {
        let p = Policy::new(&[], true, true).unwrap();
        let msg = denied(p.check_url(&url("https://api.example.com/")));
        assert_eq!(msg, "host api.example.com is not in the target's allowed hosts");
    }

    #[test]
    fn exact_host_default_ports_and_case_insensitivity() {
        let p = Policy::new(&hosts(&["HTTPS://API.Example.com"]), false, false).unwrap();
        assert!(p.check_url(&url("https://api.example.com/x?y=1")).is_ok());
        assert!(p.check_url(&url("https://API.EXAMPLE.COM/")).is_ok());
        assert!(p.check_url(&url("https://api.example.com:443/")).is_ok());
        assert!(p.check_url(&url("https://api.example.com./")).is_ok());
        let msg = denied(p.check_url(&url("https://api.example.com:8443/")));
        assert_eq!(msg, "host api.example.com:8443 is not in the target's allowed hosts");
        let msg = denied(p.check_url(&url("https://api.evil.com/")));
        assert_eq!(msg, "host api.evil.com is not in the target's allowed hosts");
        denied(p.check_url(&url("https://other.api.example.com/")));

        let p = Policy::new(&hosts(&["https://api.example.com:8443"]), false, false).unwrap();
        assert!(p.check_url(&url("https://api.example.com:8443/")).is_ok());
        denied(p.check_url(&url("https://api.example.com/")));
    }

    #[test]
    fn wildcard_matches_subdomains_not_apex() {
        let p = Policy::new(&hosts(&["https://*.example.com"]), false, false).unwrap();
        assert!(p.check_url(&url("https://a.example.com/")).is_ok());
        assert!(p.check_url(&url("https://a.b.EXAMPLE.com/")).is_ok());
        denied(p.check_url(&url("https://example.com/")));
        denied(p.check_url(&url("https://badexample.com/")));
        denied(p.check_url(&url("https://example.com.evil.net/")));
        denied(p.check_url(&url("https://a.example.com:444/")));
    }

    #[test]
    fn idna_hosts_match_their_punycode_form() {
        let p = Policy::new(&hosts(&["https://Bücher.example"]), false, false).unwrap();
        assert!(p.check_url(&url("https://xn--bcher-kva.example/")).is_ok());
        assert!(p.check_url(&url("https://bücher.example/")).is_ok());
        let p = Policy::new(&hosts(&["https://*.bücher.example"]), false, false).unwrap();
        assert!(p.check_url(&url("https://shop.xn--bcher-kva.example/")).is_ok());
    }

    #[test]
    fn https_only_unless_allow_http_and_http_entry() {
        let entries = hosts(&["https://api.example.com", "http://legacy.example.com"]);
        let strict = Policy::new(&entries, false, false).unwrap();
        assert_eq!(
            denied(strict.check_url(&url("http://legacy.example.com/"))),
            "http:// is not allowed for this target (https only)"
        );
        let lax = Policy::new(&entries, true, false).unwrap();
        assert!(lax.check_url(&url("http://legacy.example.com/")).is_ok());
        // http is only allowed towards entries whose scheme is http.
        assert_eq!(
            denied(lax.check_url(&url("http://api.example.com/"))),
            "host api.example.com is not in the target's allowed hosts for http://"
        );
        denied(lax.check_url(&url("https://legacy.example.com/")));
        assert!(denied(lax.check_url(&url("ftp://api.example.com/"))).contains("ftp://"));
    }

    #[test]
    fn userinfo_in_url_is_denied() {
        let p = Policy::new(&hosts(&["https://api.example.com"]), false, false).unwrap();
        assert!(denied(p.check_url(&url("https://u:p@api.example.com/"))).contains("user info"));
        assert!(denied(p.check_url(&url("https://u@api.example.com/"))).contains("user info"));
    }

    // ----- SSRF classification -----

    #[test]
    fn special_purpose_addresses_are_restricted() {
        let blocked = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.0.0.5", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("192.0.2.10", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.7", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.8", "IETF"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "loopback"),
            ("::8.8.8.8", "IPv4-compatible"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:7f00:1::1", "loopback"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fc00::1", "ULA"),
            ("fd12:3456::1", "ULA"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("100::1", "discard"),
            ("4000::1", "reserved"),
        ];
        for (ip, reason) in blocked {
            let ip: IpAddr = ip.parse().unwrap();
            let got = ip_restriction(ip);
            assert!(got.is_some_and(|r| r.contains(reason)), "{ip}: expected {reason}, got {got:?}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2a00:1450:4001:81b::200e",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_restriction(ip), None, "{ip}");
        }
    }

    #[test]
    fn literal_private_hosts_denied_even_when_allowlisted() {
        let entries = hosts(&[
            "https://127.0.0.1",
            "https://[::ffff:127.0.0.1]",
            "https://169.254.169.254",
            "https://10.0.0.5",
            "https://[fd00::1]",
            "https://[::1]",
        ]);
        let guarded = Policy::new(&entries, false, false).unwrap();
        for (u, needle) in [
            ("https://127.0.0.1/", "address 127.0.0.1 is loopback"),
            ("https://[::ffff:127.0.0.1]/", "address ::ffff:127.0.0.1 is loopback"),
            ("https://[::ffff:7f00:1]/", "address ::ffff:127.0.0.1 is loopback"),
            ("https://169.254.169.254/", "address 169.254.169.254 is link-local"),
            ("https://10.0.0.5/", "address 10.0.0.5 is private"),
            ("https://[fd00::1]/", "unique local"),
            ("https://[::1]/", "loopback"),
        ] {
            let msg = denied(guarded.check_url(&url(u)));
            assert!(msg.contains(needle), "{u}: {msg}");
        }
        // Alternative IPv4 spellings normalise to the same address in http(s) URLs.
        let p = Policy::new(&hosts(&["https://127.0.0.1"]), false, false).unwrap();
        for u in ["https://2130706433/", "https://0x7f.0.0.1/", "https://127.1/"] {
            assert!(denied(p.check_url(&url(u))).contains("loopback"), "{u}");
        }
        let open = Policy::new(&entries, false, true).unwrap();
        for u in ["https://127.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://169.254.169.254/"] {
            assert!(open.check_url(&url(u)).is_ok(), "{u}");
        }
    }

    #[test]
    fn resolver_filter_drops_private_and_fails_when_nothing_remains() {
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let private: SocketAddr = "10.0.0.5:0".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:0".parse().unwrap();
        let kept = filter_resolved("api.example.com", vec![private, public, mapped]).unwrap();
        assert_eq!(kept, vec![public]);
        let err = filter_resolved("api.example.com", vec![private, mapped]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "address 10.0.0.5 of api.example.com is private (RFC 1918); private and \
             special-purpose addresses are not allowed for this target"
        );
    }

    // ----- headers and credentials -----

    #[test]
    fn reserved_and_invalid_plugin_headers_are_denied() {
        let c = creds();
        for name in [
            "Authorization",
            "host",
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "Proxy-Authorization",
            "proxy-connection",
            "Upgrade",
        ] {
            let headers = vec![(name.to_string(), "x".to_string())];
            let msg = denied(build_headers(&headers, None, &c, b""));
            assert!(msg.contains(&name.to_ascii_lowercase()), "{name}: {msg}");
        }
        // The header an Auth injects cannot be supplied by the plugin, in any case.
        let auth = Auth::Header { header: "X-Api-Key".to_string(), credential: "lms-key".to_string() };
        let headers = vec![("x-API-key".to_string(), "mine".to_string())];
        let msg = denied(build_headers(&headers, Some(&auth), &c, b""));
        assert!(msg.contains("x-api-key"), "{msg}");
        // Invalid names and values.
        let msg = denied(build_headers(&[("bad name".into(), "v".into())], None, &c, b""));
        assert!(msg.contains("invalid header name \"bad name\""), "{msg}");
        let msg = denied(build_headers(&[("x-a".into(), "v\r\nx-b: y".into())], None, &c, b""));
        assert_eq!(msg, "invalid value for header x-a");
        // Auth headers may not target routing/framing headers.
        let auth = Auth::Header { header: "Host".to_string(), credential: "lms-key".to_string() };
        assert!(denied(build_headers(&[], Some(&auth), &c, b"")).contains("host"));
    }

    #[test]
    fn unknown_or_unusable_credentials_are_denied_without_leaking() {
        let c = creds();
        let msg = denied(build_headers(&[], Some(&Auth::Bearer("x".into())), &c, b""));
        assert_eq!(msg, "unknown credential 'x'");
        let msg = denied(build_headers(&[], Some(&Auth::Bearer("bad".into())), &c, b""));
        assert!(msg.contains("'bad'") && !msg.contains("line"), "{msg}");
    }

    #[test]
    fn auth_header_values() {
        let c = creds();
        let map = build_headers(&[], Some(&Auth::Bearer("lms-token".into())), &c, b"").unwrap();
        assert_eq!(map["authorization"], "Bearer s3cr3t-token");
        assert!(map["authorization"].is_sensitive());
        let map = build_headers(&[], Some(&Auth::Basic("lms-basic".into())), &c, b"").unwrap();
        assert_eq!(map["authorization"], "Basic dXNlcjpwYXNz");
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_header(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        let req = Request {
            method: Method::Post,
            url: "https://u:pw@api.example.com/v1/users?token=abc#f".to_string(),
            headers: vec![("X-Trace".into(), "secret-value".into())],
            body: Some(b"{\"password\":\"p\"}".to_vec()),
            auth: Some(Auth::Bearer("lms-token".into())),
        };
        let s = format!("{req:?}");
        assert!(s.contains("https://api.example.com/v1/users"), "{s}");
        for leak in ["token=abc", "pw", "secret-value", "password"] {
            assert!(!s.contains(leak), "{leak} in {s}");
        }
    }

    #[test]
    fn budget_and_deadline() {
        let mut b = Budget::new(&Limits { max_requests_per_call: 2, ..Limits::default() });
        assert_eq!(b.remaining(), 2);
        assert!(b.take().is_ok() && b.take().is_ok());
        assert_eq!(b.take(), Err(EgressError::BudgetExhausted));
        let past = Budget::new(&Limits::default()).with_deadline(Instant::now());
        assert_eq!(past.timeout(Duration::from_secs(10)), Err(EgressError::Timeout));
        let soon = Budget::new(&Limits::default()).with_deadline(Instant::now() + Duration::from_secs(2));
        assert!(soon.timeout(Duration::from_secs(10)).unwrap() <= Duration::from_secs(2));
    }

    #[test]
    fn send_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let egress = Egress::new(Limits::default()).unwrap();
        let policy = Policy::new(&[], false, false).unwrap();
        let creds = HashMap::new();
        let mut budget = Budget::new(egress.limits());
        let fut = egress.send(&policy, &creds, &mut budget, get("https://example.com/".into()));
        assert_send(&fut);
    }

    // ----- end to end against a local server -----

    #[tokio::test]
    async fn get_returns_status_headers_and_body() {
        let server = TestServer::start(|_| {
            http_reply(201, &[("x-lms-id", "42"), ("content-type", "application/json")], b"{\"id\":42}")
        })
        .await;
        let egress = Egress::new(limits()).unwrap();
        let mut budget = Budget::new(egress.limits());
        let mut req = get(server.url("/api/users?filter=a%20b"));
        req.headers = vec![("Accept".into(), "application/json".into()), ("Idempotency-Key".into(), "op-1".into())];
        let resp = egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
        assert_eq!(resp.status, 201);
        assert_eq!(resp.header("X-LMS-Id"), Some("42"));
        assert_eq!(resp.body, b"{\"id\":42}");
        assert_eq!(budget.remaining(), 15);
        let seen = server.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].target, "/api/users?filter=a%20b");
        assert_eq!(seen[0].header("idempotency-key"), Some("op-1"));
        assert_eq!(seen[0].header("accept"), Some("application/json"));
        assert_eq!(seen[0].header("authorization"), None);
    }

    #[tokio::test]
    async fn post_with_hmac_signature_matches_independent_computation() {
        let server = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let mut budget = Budget::new(egress.limits());
        let body = br#"{"userName":"ada@example.com","active":true}"#.to_vec();
        let req = Request {
            method: Method::Post,
            url: server.url("/hooks"),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.clone()),
            auth: Some(Auth::HmacSha256 { header: "X-Signature".into(), credential: "lms-hmac".into() }),
        };
        let resp = egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
        assert_eq!(resp.status, 200);
        let seen = server.requests();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].body, body);
        let expected = format!("sha256={}", reference_hmac_sha256(b"hmac-signing-key", &body));
        assert_eq!(seen[0].header("x-signature"), Some(expected.as_str()));

        // Empty body: HMAC over the empty string.
        let mut req = get(server.url("/ping"));
        req.auth = Some(Auth::HmacSha256 { header: "X-Signature".into(), credential: "lms-hmac".into() });
        egress.send(&local_policy(&server), &creds(), &mut budget, req).await.unwrap();
        let expected = format!("sha256={}", reference_hmac_sha256(b"hmac-signing-key", b""));
        assert_eq!(server.requests()[1].header("x-signature"), Some(expected.as_str()));
    }

    #[tokio::test]
    async fn bearer_basic_and_header_auth_are_injected() {
        let server = TestServer::start(|_| http_reply(204, &[], b"")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let mut budget = Budget::new(egress.limits());
        for auth in [
            Auth::Bearer("lms-token".into()),
            Auth::Basic("lms-basic".into()),
            Auth::Header { header: "X-Api-Key".into(), credential: "lms-key".into() },
        ] {
            let mut req = get(server.url("/me"));
            req.auth = Some(auth);
            let resp = egress.send(&policy, &creds(), &mut budget, req).await.unwrap();
            assert_eq!(resp.status, 204);
        }
        let seen = server.requests();
        assert_eq!(seen[0].header("authorization"), Some("Bearer s3cr3t-token"));
        assert_eq!(seen[1].header("authorization"), Some("Basic dXNlcjpwYXNz"));
        assert_eq!(seen[2].header("x-api-key"), Some("api-key-123"));
    }

    #[tokio::test]
    async fn denied_requests_send_nothing() {
        let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let mut budget = Budget::new(egress.limits());
        let mut req = get(server.url("/"));
        req.auth = Some(Auth::Bearer("nope".into()));
        let r = egress.send(&policy, &creds(), &mut budget, req).await;
        assert_eq!(r, Err(EgressError::Denied("unknown credential 'nope'".into())));
        let mut req = get(server.url("/"));
        req.headers = vec![("Host".into(), "internal".into())];
        assert!(denied(egress.send(&policy, &creds(), &mut budget, req).await).contains("host"));
        let r = egress.send(&policy, &creds(), &mut budget, get("http://127.0.0.1:1/".into())).await;
        assert_eq!(denied(r), "host 127.0.0.1:1 is not in the target's allowed hosts for http://");
        let r = egress.send(&policy, &creds(), &mut budget, get("not a url".into())).await;
        assert!(denied(r).starts_with("invalid URL"));
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
        // Every call consumed budget, including denied ones.
        assert_eq!(budget.remaining(), 12);
    }

    #[tokio::test]
    async fn response_over_cap_is_too_large() {
        let server = TestServer::start(|r| match r.target.as_str() {
            "/declared" => http_reply(200, &[], &vec![b'x'; 20_000]),
            "/exact" => http_reply(200, &[], &vec![b'x'; 16_384]),
            _ => chunked_reply(4096, 256), // 1 MiB, no content-length
        })
        .await;
        let egress = Egress::new(Limits { max_response_bytes: 16_384, ..limits() }).unwrap();
        let policy = local_policy(&server);
        let mut budget = Budget::new(egress.limits());
        let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/declared"))).await;
        assert_eq!(r, Err(EgressError::TooLarge));
        let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/chunked"))).await;
        assert_eq!(r, Err(EgressError::TooLarge));
        let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/exact"))).await.unwrap();
        assert_eq!(r.body.len(), 16_384);
    }

    #[tokio::test]
    async fn request_body_over_cap_is_too_large_and_not_sent() {
        let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
        let egress = Egress::new(Limits { max_request_bytes: 1024, ..limits() }).unwrap();
        let mut budget = Budget::new(egress.limits());
        let req = Request {
            method: Method::Put,
            url: server.url("/big"),
            headers: vec![],
            body: Some(vec![0u8; 1025]),
            auth: None,
        };
        let r = egress.send(&local_policy(&server), &creds(), &mut budget, req).await;
        assert_eq!(r, Err(EgressError::TooLarge));
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn server_that_never_answers_times_out() {
        let server = TestServer::start(|_| Reply::Hang).await;
        let egress = Egress::new(Limits { request_timeout: Duration::from_millis(300), ..limits() }).unwrap();
        let mut budget = Budget::new(egress.limits());
        let started = Instant::now();
        let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/slow"))).await;
        assert_eq!(r, Err(EgressError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn call_deadline_caps_the_request_timeout() {
        let server = TestServer::start(|_| Reply::Hang).await;
        let egress = Egress::new(limits()).unwrap();
        let mut budget = Budget::new(egress.limits()).with_deadline(Instant::now() + Duration::from_millis(200));
        let started = Instant::now();
        let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/"))).await;
        assert_eq!(r, Err(EgressError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(3));
        // Past the deadline nothing is sent.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/"))).await;
        assert_eq!(r, Err(EgressError::Timeout));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn connect_timeout_maps_to_timeout() {
        // A listener with a full accept queue: Linux drops further SYNs, so connect() hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        let mut saturated = false;
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => fillers.push(s),
                _ => {
                    saturated = true;
                    break;
                }
            }
        }
        assert!(saturated, "could not saturate the accept queue");
        let egress = Egress::new(Limits {
            connect_timeout: Duration::from_millis(200),
            request_timeout: Duration::from_secs(10),
            ..Limits::default()
        })
        .unwrap();
        let policy = Policy::new(&[format!("http://127.0.0.1:{}", addr.port())], true, true).unwrap();
        let mut budget = Budget::new(egress.limits());
        let started = Instant::now();
        let r = egress.send(&policy, &creds(), &mut budget, get(format!("http://{addr}/"))).await;
        assert_eq!(r, Err(EgressError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed() {
        let server = TestServer::start(|r| match r.target.as_str() {
            "/start" => http_reply(302, &[("location", "/elsewhere")], b""),
            _ => http_reply(200, &[], b"followed"),
        })
        .await;
        let egress = Egress::new(limits()).unwrap();
        let mut budget = Budget::new(egress.limits());
        let resp = egress.send(&local_policy(&server), &creds(), &mut budget, get(server.url("/start"))).await.unwrap();
        assert_eq!(resp.status, 302);
        assert_eq!(resp.header("location"), Some("/elsewhere"));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn budget_exhaustion_stops_sending() {
        let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
        let egress = Egress::new(Limits { max_requests_per_call: 2, ..limits() }).unwrap();
        let policy = local_policy(&server);
        let mut budget = Budget::new(egress.limits());
        for _ in 0..2 {
            egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await.unwrap();
        }
        let r = egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await;
        assert_eq!(r, Err(EgressError::BudgetExhausted));
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn connections_are_pooled_across_sends() {
        let server = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        for _ in 0..5 {
            let mut budget = Budget::new(egress.limits());
            egress.send(&policy, &creds(), &mut budget, get(server.url("/"))).await.unwrap();
            // Let the finished connection go back to the idle pool before the next request.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.requests().len(), 5);
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_transport_error_without_query() {
        // Bind then drop to get a port with (almost certainly) no listener.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let egress = Egress::new(limits()).unwrap();
        let policy = Policy::new(&[format!("http://127.0.0.1:{port}")], true, true).unwrap();
        let mut budget = Budget::new(egress.limits());
        let r = egress.send(&policy, &creds(), &mut budget, get(format!("http://127.0.0.1:{port}/x?token=leak"))).await;
        match r {
            Err(EgressError::Transport(msg)) => assert!(!msg.contains("leak"), "{msg}"),
            other => panic!("expected Transport, got {other:?}"),
        }
    }

    // ----- SSRF guard end to end (guarded client) -----

    #[tokio::test]
    async fn guarded_policy_refuses_literal_private_addresses() {
        let server = TestServer::start(|_| http_reply(200, &[], b"")).await;
        let port = server.port();
        let egress = Egress::new(limits()).unwrap();
        let policy = Policy::new(
            &[
                format!("http://127.0.0.1:{port}"),
                format!("http://[::ffff:127.0.0.1]:{port}"),
                "http://169.254.169.254".to_string(),
            ],
            true,
            false,
        )
        .unwrap();
        let mut budget = Budget::new(egress.limits());
        for (u, needle) in [
            (format!("http://127.0.0.1:{port}/"), "address 127.0.0.1 is loopback"),
            (format!("http://[::ffff:127.0.0.1]:{port}/"), "address ::ffff:127.0.0.1 is loopback"),
            ("http://169.254.169.254/latest/meta-data/".to_string(), "address 169.254.169.254 is link-local"),
        ] {
            let msg = denied(egress.send(&policy, &creds(), &mut budget, get(u.clone())).await);
            assert!(msg.contains(needle), "{u}: {msg}");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn guarded_policy_refuses_hostname_resolving_to_loopback_at_connect_time() {
        let server = TestServer::start(|_| http_reply(200, &[], b"reached")).await;
        let port = server.port();
        let egress = Egress::new(limits()).unwrap();
        let entry = vec![format!("http://localhost:{port}")];
        // The policy check itself passes (a host name), the resolver refuses at connect time.
        let guarded = Policy::new(&entry, true, false).unwrap();
        assert!(guarded.check_url(&url(&format!("http://localhost:{port}/"))).is_ok());
        let mut budget = Budget::new(egress.limits());
        let msg = denied(egress.send(&guarded, &creds(), &mut budget, get(format!("http://localhost:{port}/"))).await);
        assert!(msg.contains("of localhost is loopback"), "{msg}");
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);

        // Control: the same request through an allow_private policy reaches the server
        // (if localhost resolves to ::1 first, happy eyeballs falls back to 127.0.0.1).
        let open = Policy::new(&entry, true, true).unwrap();
        let resp = egress.send(&open, &creds(), &mut budget, get(format!("http://localhost:{port}/"))).await.unwrap();
        assert_eq!(resp.body, b"reached");
    }
}
