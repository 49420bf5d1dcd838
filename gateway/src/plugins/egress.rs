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
//! * **OAuth2 client credentials**: a credential whose secret is a JSON object with
//!   `"type": "oauth2-client-credentials"` (see [`validate_credential`]) is exchanged by the host
//!   for an access token at its `tokenUrl`, which is sent as `Authorization: Bearer <token>`.
//!   Tokens are cached per credential content and refreshed shortly before they expire; one
//!   fetch serves all concurrent callers; a `401` from the LMS drops the token and the request is
//!   resent once with a new one. The token request obeys the same policy, client, timeouts and
//!   size caps as plugin requests, but does not consume the call's request [`Budget`] (neither
//!   does the one resend after a `401`): each `send` costs exactly one request.
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
    /// `Authorization: Bearer <secret>`, or `Authorization: Bearer <access token>` when the
    /// credential is an OAuth2 client-credentials credential (the host fetches the token).
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
    if parse_oauth2(secret).is_some() {
        // `Egress::send` resolves bearer auth with an OAuth2 credential before getting here; the
        // configuration itself (with the client secret) is never sent as a header value.
        return Err(EgressError::Denied(match auth {
            Auth::Bearer(_) => format!(
                "credential '{name}' is an OAuth2 client-credentials credential; its access token \
                 is obtained by the host"
            ),
            _ => oauth2_bearer_only(name),
        }));
    }
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
// OAuth2 client credentials
// ---------------------------------------------------------------------------------------------

/// `type` of a credential whose secret is an OAuth2 client-credentials configuration.
pub const OAUTH2_CLIENT_CREDENTIALS: &str = "oauth2-client-credentials";

/// Fields an OAuth2 client-credentials credential may have.
const OAUTH2_FIELDS: &[&str] = &["type", "tokenUrl", "clientId", "clientSecret", "scope"];

/// Error codes of RFC 6749 §5.2 that may be repeated in a message (anything else a token
/// endpoint says is not shown).
const OAUTH2_ERROR_CODES: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

/// Lifetime assumed when the token endpoint does not send `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Tokens claiming a longer lifetime are refreshed after this long anyway.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A parsed OAuth2 client-credentials credential. `Debug` shows the token endpoint only.
#[derive(Clone, PartialEq, Eq)]
struct OAuth2Credential {
    token_url: Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

impl OAuth2Credential {
    /// `application/x-www-form-urlencoded` body of the token request (RFC 6749 §4.4.2, client
    /// authentication in the body as in §2.3.1).
    fn token_request_body(&self) -> Vec<u8> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", &self.client_secret);
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        form.finish().into_bytes()
    }
}

impl fmt::Debug for OAuth2Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Credential").field("token_url", &redact_url(self.token_url.as_str())).finish()
    }
}

/// `Some` when `secret` claims to be an OAuth2 client-credentials credential (a JSON object whose
/// `type` is [`OAUTH2_CLIENT_CREDENTIALS`]), with the parsed credential or why it is malformed;
/// `None` for every other secret, which is used verbatim. Messages name fields, never values.
fn parse_oauth2(secret: &str) -> Option<Result<OAuth2Credential, String>> {
    let obj = json_object(secret)?;
    if obj.get("type").and_then(serde_json::Value::as_str) != Some(OAUTH2_CLIENT_CREDENTIALS) {
        return None;
    }
    Some(oauth2_from_object(&obj))
}

/// The secret as a JSON object, if it is one. Cheap for ordinary secrets (no leading `{`).
fn json_object(secret: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    if !secret.trim_start().starts_with('{') {
        return None;
    }
    match serde_json::from_str(secret) {
        Ok(serde_json::Value::Object(obj)) => Some(obj),
        _ => None,
    }
}

fn oauth2_from_object(obj: &serde_json::Map<String, serde_json::Value>) -> Result<OAuth2Credential, String> {
    use serde_json::Value;
    if let Some(unknown) = obj.keys().find(|k| !OAUTH2_FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {} (allowed: {})", shown(unknown), OAUTH2_FIELDS.join(", ")));
    }
    let text = |field: &str, required: bool| -> Result<Option<String>, String> {
        match obj.get(field) {
            None | Some(Value::Null) if required => Err(format!("{field} is missing")),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{field} is empty")),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{field} must be a string")),
        }
    };
    let token_url = text("tokenUrl", true)?.unwrap_or_default();
    let client_id = text("clientId", true)?.unwrap_or_default();
    let client_secret = text("clientSecret", true)?.unwrap_or_default();
    let scope = text("scope", false)?;
    let token_url = Url::parse(token_url.trim()).map_err(|e| format!("tokenUrl is not a valid URL: {e}"))?;
    if !matches!(token_url.scheme(), "https" | "http") {
        return Err("tokenUrl must be an https:// URL (or http:// where the target allows http)".to_string());
    }
    if !token_url.username().is_empty() || token_url.password().is_some() {
        return Err("tokenUrl must not contain user info".to_string());
    }
    if token_url.host().is_none() {
        return Err("tokenUrl has no host".to_string());
    }
    if token_url.fragment().is_some() {
        return Err("tokenUrl must not contain a fragment".to_string());
    }
    Ok(OAuth2Credential { token_url, client_id, client_secret, scope })
}

/// Checks a credential's secret before it is stored. Ordinary secrets (anything that is not a
/// JSON object claiming an OAuth2 type) are always accepted. A JSON object with
/// `"type": "oauth2-client-credentials"` must have a string `tokenUrl` (absolute http(s) URL
/// without user info or fragment), non-empty strings `clientId` and `clientSecret`, an optional
/// non-empty string `scope`, and no other fields. A JSON object whose `type` mentions OAuth but
/// is not exactly that (a typo) is refused too, since it would otherwise be sent verbatim as a
/// secret. The error never contains the secret or any of its values.
pub fn validate_credential(secret: &str) -> Result<(), String> {
    if let Some(parsed) = parse_oauth2(secret) {
        return parsed.map(drop).map_err(|e| format!("invalid {OAUTH2_CLIENT_CREDENTIALS} credential: {e}"));
    }
    if let Some(obj) = json_object(secret)
        && let Some(kind) = obj.get("type").and_then(serde_json::Value::as_str)
        && kind.to_ascii_lowercase().contains("oauth")
    {
        return Err(format!(
            "unsupported credential type {} (the supported OAuth2 type is \"{OAUTH2_CLIENT_CREDENTIALS}\")",
            shown(kind)
        ));
    }
    Ok(())
}

fn oauth2_bearer_only(name: &str) -> String {
    format!("credential '{name}' is an OAuth2 client-credentials credential and can only be used with bearer auth")
}

/// An OAuth2 credential a request uses, with its token cache key.
struct OAuth2Use<'a> {
    name: &'a str,
    credential: OAuth2Credential,
    key: [u8; 32],
}

/// The OAuth2 credential `auth` names, if it names one. Other auth kinds with an OAuth2
/// credential and malformed OAuth2 credentials are denied; unknown names are left to
/// [`build_headers`] (which reports them).
fn oauth2_for<'a>(
    auth: Option<&'a Auth>,
    credentials: &HashMap<String, String>,
    allow_private: bool,
) -> Result<Option<OAuth2Use<'a>>, EgressError> {
    let Some(auth) = auth else { return Ok(None) };
    let name = auth.credential_name();
    let Some(secret) = credentials.get(name) else { return Ok(None) };
    let Some(parsed) = parse_oauth2(secret) else { return Ok(None) };
    let credential = parsed.map_err(|e| {
        EgressError::Denied(format!("credential '{name}' is not a valid OAuth2 client-credentials credential: {e}"))
    })?;
    if !matches!(auth, Auth::Bearer(_)) {
        return Err(EgressError::Denied(oauth2_bearer_only(name)));
    }
    Ok(Some(OAuth2Use { name, credential, key: token_cache_key(secret, allow_private) }))
}

/// Cache key of a credential's tokens: a hash of its whole content (token URL, client id and
/// secret, scope), so a rotated or edited credential never gets a stale token, and of whether
/// the policy bypasses the SSRF guard (a token fetched without the guard is not handed to a
/// guarded policy).
fn token_cache_key(secret: &str, allow_private: bool) -> [u8; 32] {
    use sha2::Digest;
    let mut hash = Sha256::new();
    hash.update(b"scimgw egress oauth2 token cache v1\0");
    hash.update([u8::from(allow_private)]);
    hash.update(secret.as_bytes());
    hash.finalize().into()
}

/// How long after issue a token with `lifetime` is used: the lifetime (capped at
/// [`MAX_TOKEN_LIFETIME`]) minus a margin of 10 %, at most 60 s.
fn refresh_after(lifetime: Duration) -> Duration {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
    lifetime - (lifetime / 10).min(Duration::from_secs(60))
}

/// `Authorization` value (marked sensitive) and, if it may be cached, until when.
type Token = (HeaderValue, Option<Instant>);

/// Reads a successful token response. Messages never contain the body (it holds the token).
fn parse_token_response(name: &str, body: &[u8], issued: Instant) -> Result<Token, EgressError> {
    use serde_json::Value;
    let unusable = |why: &str| {
        EgressError::Transport(format!("credential '{name}': the token endpoint's response is unusable: {why}"))
    };
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(unusable("not a JSON object"));
    };
    let token = match obj.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => return Err(unusable("no access_token")),
    };
    match obj.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(t)) => {
            return Err(EgressError::Denied(format!(
                "credential '{name}': the token endpoint issued a {} token; only bearer tokens are supported",
                shown(t)
            )));
        }
        Some(_) => return Err(unusable("token_type is not a string")),
    }
    let seconds = match obj.get("expires_in") {
        None | Some(Value::Null) => Some(DEFAULT_TOKEN_LIFETIME.as_secs_f64()),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let lifetime = seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_TOKEN_LIFETIME.as_secs_f64())))
        .ok_or_else(|| unusable("expires_in is not a number of seconds"))?;
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| unusable("the access token contains characters that are not allowed in a header"))?;
    value.set_sensitive(true);
    let keep = refresh_after(lifetime);
    let refresh_at = if keep.is_zero() { None } else { issued.checked_add(keep) };
    Ok((value, refresh_at))
}

/// The `error` code of an OAuth2 error response, if it is one of RFC 6749's.
fn oauth2_error_code(body: &[u8]) -> Option<&'static str> {
    let obj = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let code = obj.get("error")?.as_str()?;
    OAUTH2_ERROR_CODES.iter().copied().find(|c| *c == code)
}

struct CachedToken {
    value: HeaderValue,
    refresh_at: Instant,
}

/// One cache entry. Whoever holds the lock fetches; concurrent callers wait for it and then use
/// the token it stored.
type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Access tokens of OAuth2 credentials, shared by all clones of an [`Egress`].
#[derive(Default)]
struct TokenCache {
    slots: std::sync::Mutex<HashMap<[u8; 32], TokenSlot>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        f.debug_struct("TokenCache").field("entries", &entries).finish()
    }
}

impl TokenCache {
    fn slot(&self, key: [u8; 32]) -> TokenSlot {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = slots.get(&key) {
            return slot.clone();
        }
        // A credential content not seen before (new target, rotated secret): forget entries that
        // nobody is using and whose token has expired, so old versions do not accumulate.
        let now = Instant::now();
        slots.retain(|_, slot| {
            Arc::strong_count(slot) > 1
                || match slot.try_lock() {
                    Ok(token) => token.as_ref().is_some_and(|t| t.refresh_at > now),
                    Err(_) => true,
                }
        });
        let slot = TokenSlot::default();
        slots.insert(key, slot.clone());
        slot
    }
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
/// without it for `allow_private` policies, and the OAuth2 access-token cache (shared by clones).
#[derive(Debug, Clone)]
pub struct Egress {
    guarded: reqwest::Client,
    unguarded: reqwest::Client,
    limits: Arc<Limits>,
    tokens: Arc<TokenCache>,
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
            tokens: Arc::default(),
        })
    }

    /// The limits this client enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends one plugin request. Order of checks: budget (every call consumes one request,
    /// even if it is then denied), deadline, URL/policy, request size, headers/credentials;
    /// only then is anything sent. `credentials` maps credential names to decrypted secrets.
    ///
    /// With bearer auth naming an OAuth2 client-credentials credential, the access token comes
    /// from the token cache or is fetched first (the token URL must pass the same `policy`); if
    /// the LMS answers `401`, the token is dropped, a new one fetched and the request resent
    /// once, and that second answer is returned whatever it is. Neither the token fetches nor
    /// the resend consume budget; all of it is bounded by the call's deadline.
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
        let oauth2 = oauth2_for(req.auth.as_ref(), credentials, policy.allow_private)?;
        // OAuth2 bearer auth injects `Authorization`, which plugins may never set anyway, so the
        // plugin's headers are validated exactly as with any other auth.
        let plain_auth = if oauth2.is_some() { None } else { req.auth.as_ref() };
        let mut headers = build_headers(&req.headers, plain_auth, credentials, &body)?;
        let with_body = !body.is_empty() || matches!(req.method, Method::Post | Method::Put | Method::Patch);
        let method = req.method.to_reqwest();
        let client = if policy.allow_private { &self.unguarded } else { &self.guarded };

        let Some(oauth2) = oauth2 else {
            let request = new_request(method, url, headers, with_body.then_some(body), timeout);
            return self.dispatch(client, request, "request").await;
        };
        let token = self.access_token(&oauth2, policy, timeout, None).await?;
        headers.insert(reqwest::header::AUTHORIZATION, token.clone());
        let timeout = budget.timeout(self.limits.request_timeout)?;
        let first = new_request(method.clone(), url.clone(), headers.clone(), with_body.then(|| body.clone()), timeout);
        let resp = self.dispatch(client, first, "request").await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        // The LMS refused the token (revoked, or expired earlier than announced): replace it
        // (unless a concurrent call already did) and resend once.
        let timeout = budget.timeout(self.limits.request_timeout)?;
        let fresh = self.access_token(&oauth2, policy, timeout, Some(&token)).await?;
        headers.insert(reqwest::header::AUTHORIZATION, fresh);
        let timeout = budget.timeout(self.limits.request_timeout)?;
        let retry = new_request(method, url, headers, with_body.then_some(body), timeout);
        self.dispatch(client, retry, "resend after 401").await
    }

    /// The `Authorization` value for an OAuth2 credential: the cached token, or a new one from
    /// the token endpoint. `stale` is a token the LMS has just refused; it is not returned
    /// again. One caller per credential fetches at a time; the others wait (within `timeout`)
    /// and use its token. The token URL is checked against `policy` on every use, so a cached
    /// token is never used under a policy that would not allow fetching it.
    async fn access_token(
        &self,
        oauth2: &OAuth2Use<'_>,
        policy: &Policy,
        timeout: Duration,
        stale: Option<&HeaderValue>,
    ) -> Result<HeaderValue, EgressError> {
        let name = oauth2.name;
        policy.check_url(&oauth2.credential.token_url).map_err(|e| match e {
            EgressError::Denied(m) => EgressError::Denied(format!("credential '{name}': token URL: {m}")),
            other => other,
        })?;
        let slot = self.tokens.slot(oauth2.key);
        let obtain = async {
            let mut cached = slot.lock().await;
            if let Some(t) = cached.as_ref()
                && Instant::now() < t.refresh_at
                && stale.is_none_or(|s| *s != t.value)
            {
                return Ok(t.value.clone());
            }
            *cached = None;
            let (value, refresh_at) = self.fetch_token(oauth2, policy, timeout).await?;
            if let Some(refresh_at) = refresh_at {
                *cached = Some(CachedToken { value: value.clone(), refresh_at });
            }
            Ok(value)
        };
        tokio::time::timeout(timeout, obtain).await.unwrap_or(Err(EgressError::Timeout))
    }

    /// `POST tokenUrl` with `grant_type=client_credentials`, the client id and secret (and
    /// scope) in a form body, through the same client as plugin requests.
    async fn fetch_token(
        &self,
        oauth2: &OAuth2Use<'_>,
        policy: &Policy,
        timeout: Duration,
    ) -> Result<Token, EgressError> {
        let name = oauth2.name;
        let credential = &oauth2.credential;
        let body = credential.token_request_body();
        if body.len() > self.limits.max_request_bytes {
            return Err(EgressError::Denied(format!("credential '{name}': the token request exceeds the size limit")));
        }
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
        let client = if policy.allow_private { &self.unguarded } else { &self.guarded };
        let request = new_request(reqwest::Method::POST, credential.token_url.clone(), headers, Some(body), timeout);
        let issued = Instant::now();
        let resp = self.dispatch(client, request, "token").await.map_err(|e| match e {
            EgressError::Denied(m) => EgressError::Denied(format!("credential '{name}': token request: {m}")),
            EgressError::Transport(m) => {
                EgressError::Transport(format!("credential '{name}': token request failed: {m}"))
            }
            EgressError::TooLarge => EgressError::Transport(format!(
                "credential '{name}': the token endpoint's response exceeds the size limit"
            )),
            other => other,
        })?;
        let status = resp.status;
        match status {
            200..=299 => parse_token_response(name, &resp.body, issued),
            408 | 429 => Err(EgressError::Transport(format!(
                "credential '{name}': the token endpoint is busy or timed out ({status})"
            ))),
            400..=499 => {
                let code = oauth2_error_code(&resp.body).map(|c| format!(", {c}")).unwrap_or_default();
                Err(EgressError::Denied(format!(
                    "credential '{name}': the token endpoint refused the client credentials ({status}{code})"
                )))
            }
            500..=599 => {
                Err(EgressError::Transport(format!("credential '{name}': the token endpoint failed ({status})")))
            }
            _ => Err(EgressError::Denied(format!(
                "credential '{name}': unexpected answer from the token endpoint ({status}); redirects \
                 are not followed, check tokenUrl"
            ))),
        }
    }

    /// Executes one request within its timeout and logs it (one `debug!`: method,
    /// `scheme://host:port`, status or error kind, duration; `purpose` tells plugin requests,
    /// token fetches and resends apart).
    async fn dispatch(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        purpose: &'static str,
    ) -> Result<Response, EgressError> {
        let method = request.method().clone();
        let url = request.url();
        let target = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host().map(|h| display_host(&h)).unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let timeout = request.timeout().copied().unwrap_or(self.limits.request_timeout);
        let started = Instant::now();
        let result = match tokio::time::timeout(timeout, execute(client, request, self.limits.max_response_bytes)).await
        {
            Ok(result) => result,
            Err(_) => Err(EgressError::Timeout),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(resp) => tracing::debug!(
                method = method.as_str(),
                target = %target,
                status = resp.status,
                elapsed_ms,
                purpose,
                "egress request"
            ),
            Err(err) => tracing::debug!(
                method = method.as_str(),
                target = %target,
                error = err.kind(),
                elapsed_ms,
                purpose,
                "egress request failed"
            ),
        }
        result
    }
}

fn new_request(
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> reqwest::Request {
    let mut request = reqwest::Request::new(method, url);
    *request.headers_mut() = headers;
    *request.timeout_mut() = Some(timeout);
    if let Some(body) = body {
        *request.body_mut() = Some(reqwest::Body::from(body));
    }
    request
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
        /// Answer after a pause.
        Delayed(Duration, Vec<u8>),
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
                Reply::Delayed(pause, bytes) => {
                    tokio::time::sleep(pause).await;
                    if !write_all(&stream, &bytes).await {
                        return;
                    }
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

    fn delayed(pause: Duration, reply: Reply) -> Reply {
        match reply {
            Reply::Bytes(bytes) => Reply::Delayed(pause, bytes),
            other => other,
        }
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

    // ----- OAuth2 client credentials -----

    const CLIENT_SECRET: &str = "very-secret-cs";

    fn oauth2_secret(token_url: &str) -> String {
        serde_json::json!({
            "type": "oauth2-client-credentials",
            "tokenUrl": token_url,
            "clientId": "client-1",
            "clientSecret": CLIENT_SECRET,
            "scope": "users groups",
        })
        .to_string()
    }

    /// `creds()` plus an OAuth2 credential `api` whose token endpoint is `token_url`.
    fn oauth2_creds(token_url: &str) -> HashMap<String, String> {
        let mut c = creds();
        c.insert("api".to_string(), oauth2_secret(token_url));
        c
    }

    fn token_body(token: &str, expires_in: u64) -> Vec<u8> {
        format!(r#"{{"access_token":"{token}","expires_in":{expires_in},"token_type":"bearer"}}"#).into_bytes()
    }

    fn bearer(url: String, credential: &str) -> Request {
        Request { auth: Some(Auth::Bearer(credential.to_string())), ..get(url) }
    }

    /// A server with `/token` issuing `tok-1`, `tok-2`, … (lifetime `expires_in`) and an API
    /// answering every other path with `api(request)`.
    async fn oauth2_server(
        expires_in: u64,
        token_delay: Duration,
        api: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> (TestServer, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let server = TestServer::start(move |r| {
            if r.target == "/token" {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let body = token_body(&format!("tok-{n}"), expires_in);
                delayed(token_delay, http_reply(200, &[("content-type", "application/json")], &body))
            } else {
                api(r)
            }
        })
        .await;
        (server, fetches)
    }

    fn api_requests(server: &TestServer) -> Vec<Recorded> {
        server.requests().into_iter().filter(|r| r.target != "/token").collect()
    }

    #[tokio::test]
    async fn oauth2_token_is_fetched_once_and_reused() {
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        for _ in 0..3 {
            let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
            assert_eq!(resp.status, 200);
        }
        // A clone shares the cache.
        let clone = egress.clone();
        clone.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // Token fetches do not consume the call's budget.
        assert_eq!(budget.remaining(), 12);
        let api = api_requests(&server);
        assert_eq!(api.len(), 4);
        assert!(api.iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));

        // The token request: form-encoded client credentials, nothing else.
        let token_req = server.requests().into_iter().find(|r| r.target == "/token").unwrap();
        assert_eq!(token_req.method, "POST");
        assert_eq!(token_req.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(token_req.header("authorization"), None);
        let form: HashMap<String, String> = url::form_urlencoded::parse(&token_req.body).into_owned().collect();
        assert_eq!(form.len(), 4);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "client-1");
        assert_eq!(form["client_secret"], CLIENT_SECRET);
        assert_eq!(form["scope"], "users groups");

        // Nothing about the token or the credential in Debug output.
        let debug = format!("{egress:?}");
        assert!(!debug.contains("tok-1") && !debug.contains(CLIENT_SECRET), "{debug}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn oauth2_concurrent_requests_share_one_fetch() {
        let (server, fetches) = oauth2_server(1800, Duration::from_millis(300), |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = Arc::new(local_policy(&server));
        let creds = Arc::new(oauth2_creds(&server.url("/token")));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (egress, policy, creds) = (egress.clone(), policy.clone(), creds.clone());
            let url = server.url(&format!("/users/{i}"));
            tasks.spawn(async move {
                let mut budget = Budget::new(egress.limits());
                egress.send(&policy, &creds, &mut budget, bearer(url, "api")).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap().unwrap().status, 200);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let api = api_requests(&server);
        assert_eq!(api.len(), 8);
        assert!(api.iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));
    }

    #[test]
    fn refresh_margin_is_ten_percent_capped_at_a_minute() {
        assert_eq!(refresh_after(Duration::from_secs(1800)), Duration::from_secs(1740));
        assert_eq!(refresh_after(Duration::from_secs(300)), Duration::from_secs(270));
        assert_eq!(refresh_after(Duration::from_secs(1)), Duration::from_millis(900));
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
        assert_eq!(refresh_after(Duration::from_secs(10 * 24 * 3600)), MAX_TOKEN_LIFETIME - Duration::from_secs(60));
    }

    #[tokio::test]
    async fn oauth2_token_is_refetched_after_expiry() {
        // expires_in 1 s: used for 0.9 s.
        let (server, fetches) = oauth2_server(1, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "api")).await.unwrap();
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/b"), "api")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(950)).await;
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/c"), "api")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        let auth: Vec<_> =
            api_requests(&server).iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
        assert_eq!(auth, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
    }

    #[tokio::test]
    async fn oauth2_changed_credential_gets_its_own_token() {
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let mut budget = Budget::new(egress.limits());
        let creds = oauth2_creds(&server.url("/token"));
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "api")).await.unwrap();
        let mut rotated = creds.clone();
        rotated.insert("api".into(), oauth2_secret(&server.url("/token")).replace(CLIENT_SECRET, "rotated-cs"));
        egress.send(&policy, &rotated, &mut budget, bearer(server.url("/b"), "api")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        let auth: Vec<_> =
            api_requests(&server).iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
        assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
    }

    #[tokio::test]
    async fn oauth2_401_refetches_and_resends_once() {
        // The LMS has revoked tok-1 although it has not expired yet.
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |r| {
            if r.header("authorization") == Some("Bearer tok-1") {
                http_reply(401, &[], b"expired")
            } else {
                http_reply(201, &[], b"created")
            }
        })
        .await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        let body = br#"{"userName":"ada"}"#.to_vec();
        let req = Request {
            method: Method::Post,
            url: server.url("/users"),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body.clone()),
            auth: Some(Auth::Bearer("api".into())),
        };
        let resp = egress.send(&policy, &creds, &mut budget, req).await.unwrap();
        assert_eq!(resp.status, 201);
        assert_eq!(resp.body, b"created");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(budget.remaining(), 15);
        let api = api_requests(&server);
        assert_eq!(api.len(), 2);
        assert_eq!(api[0].header("authorization"), Some("Bearer tok-1"));
        assert_eq!(api[1].header("authorization"), Some("Bearer tok-2"));
        assert!(api.iter().all(|r| r.method == "POST" && r.body == body));
        assert_eq!(api[1].header("content-type"), Some("application/json"));
        // The new token is cached.
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn oauth2_second_401_is_returned_without_looping() {
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(401, &[], b"no")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
        assert_eq!(resp.status, 401);
        assert_eq!(resp.body, b"no");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(api_requests(&server).len(), 2);
    }

    #[tokio::test]
    async fn oauth2_token_endpoint_errors() {
        // 0 = 401 without a body, 1 = 400 invalid_client, 2 = 503, then working.
        let mode = Arc::new(AtomicUsize::new(0));
        let m = mode.clone();
        let server = TestServer::start(move |r| match (r.target.as_str(), m.load(Ordering::SeqCst)) {
            ("/token", 0) => http_reply(401, &[], b""),
            ("/token", 1) => http_reply(400, &[], br#"{"error":"invalid_client","error_description":"bad"}"#),
            ("/token", 2) => http_reply(503, &[], b"down"),
            ("/token", _) => http_reply(200, &[], &token_body("tok-ok", 1800)),
            _ => http_reply(200, &[], b"ok"),
        })
        .await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        let r = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await;
        assert_eq!(
            r,
            Err(EgressError::Denied(
                "credential 'api': the token endpoint refused the client credentials (401)".into()
            ))
        );
        mode.store(1, Ordering::SeqCst);
        let msg = denied(egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await);
        assert_eq!(msg, "credential 'api': the token endpoint refused the client credentials (400, invalid_client)");
        mode.store(2, Ordering::SeqCst);
        let r = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await;
        assert_eq!(r, Err(EgressError::Transport("credential 'api': the token endpoint failed (503)".into())));
        for err in [r.unwrap_err().to_string(), msg] {
            assert!(!err.contains(CLIENT_SECRET) && !err.contains("client-1"), "{err}");
        }
        assert!(api_requests(&server).is_empty());
        // Failures are not cached: once the endpoint works, the next call succeeds.
        mode.store(3, Ordering::SeqCst);
        let resp = egress.send(&policy, &creds, &mut budget, bearer(server.url("/users"), "api")).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(api_requests(&server)[0].header("authorization"), Some("Bearer tok-ok"));
        assert_eq!(server.requests().iter().filter(|r| r.target == "/token").count(), 4);
    }

    #[tokio::test]
    async fn oauth2_token_endpoint_timeout_is_timeout() {
        let server = TestServer::start(|r| match r.target.as_str() {
            "/token" => Reply::Hang,
            _ => http_reply(200, &[], b"ok"),
        })
        .await;
        let egress = Egress::new(Limits { request_timeout: Duration::from_millis(300), ..limits() }).unwrap();
        let creds = oauth2_creds(&server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        let r = egress.send(&local_policy(&server), &creds, &mut budget, bearer(server.url("/u"), "api")).await;
        assert_eq!(r, Err(EgressError::Timeout));
        assert!(api_requests(&server).is_empty());
    }

    #[test]
    fn token_responses_are_parsed_strictly() {
        let now = Instant::now();
        let (value, at) = parse_token_response("api", &token_body("abc", 1800), now).unwrap();
        assert_eq!(value, "Bearer abc");
        assert!(value.is_sensitive());
        assert_eq!(at, Some(now + Duration::from_secs(1740)));
        // expires_in as a string, or missing (default lifetime); token_type in any case.
        let (_, at) =
            parse_token_response("api", br#"{"access_token":"a","expires_in":"60","token_type":"Bearer"}"#, now)
                .unwrap();
        assert_eq!(at, Some(now + Duration::from_secs(54)));
        let (_, at) = parse_token_response("api", br#"{"access_token":"a"}"#, now).unwrap();
        assert_eq!(at, Some(now + Duration::from_secs(270)));
        // expires_in 0: used once, not cached.
        let (_, at) = parse_token_response("api", &token_body("a", 0), now).unwrap();
        assert_eq!(at, None);
        for bad in [
            &br#"not json with secret-tok"#[..],
            br#"{"token":"secret-tok"}"#,
            br#"{"access_token":""}"#,
            br#"{"access_token":"secret-tok","expires_in":-5}"#,
            br#"{"access_token":"secret-tok","expires_in":[1]}"#,
            b"{\"access_token\":\"secret\\ntok\"}",
        ] {
            match parse_token_response("api", bad, now) {
                Err(EgressError::Transport(m)) => {
                    assert!(m.starts_with("credential 'api': the token endpoint's response is unusable"), "{m}");
                    assert!(!m.contains("secret"), "{m}");
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
            }
        }
        let msg = denied(parse_token_response("api", br#"{"access_token":"a","token_type":"mac"}"#, now));
        assert!(msg.contains("\"mac\" token"), "{msg}");
    }

    #[tokio::test]
    async fn oauth2_token_url_must_be_allowed_by_the_policy() {
        let token_server = TestServer::start(|_| http_reply(200, &[], &token_body("tok", 1800))).await;
        let api = TestServer::start(|_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let creds = oauth2_creds(&token_server.url("/token"));
        let mut budget = Budget::new(egress.limits());
        let r = egress.send(&local_policy(&api), &creds, &mut budget, bearer(api.url("/users"), "api")).await;
        assert_eq!(
            denied(r),
            format!(
                "credential 'api': token URL: host 127.0.0.1:{} is not in the target's allowed hosts for http://",
                token_server.port()
            )
        );
        // http:// token URL under an https-only policy.
        let strict = Policy::new(&[format!("http://127.0.0.1:{}", api.port())], false, true).unwrap();
        let msg = denied(egress.send(&strict, &creds, &mut budget, bearer(api.url("/users"), "api")).await);
        assert!(msg.contains("http:// is not allowed"), "{msg}");
        assert_eq!(token_server.connections.load(Ordering::SeqCst), 0);
        assert_eq!(api.connections.load(Ordering::SeqCst), 0);

        // A token cached under a policy that allows the token URL is not used under one that
        // does not.
        let both = Policy::new(
            &[format!("http://127.0.0.1:{}", api.port()), format!("http://127.0.0.1:{}", token_server.port())],
            true,
            true,
        )
        .unwrap();
        egress.send(&both, &creds, &mut budget, bearer(api.url("/users"), "api")).await.unwrap();
        denied(egress.send(&local_policy(&api), &creds, &mut budget, bearer(api.url("/users"), "api")).await);
        assert_eq!(api.requests().len(), 1);
    }

    #[tokio::test]
    async fn oauth2_guarded_policy_refuses_private_token_url() {
        let token_server = TestServer::start(|_| http_reply(200, &[], &token_body("tok", 1800))).await;
        let egress = Egress::new(limits()).unwrap();
        let creds = oauth2_creds(&token_server.url("/token"));
        let policy = Policy::new(
            &[format!("http://127.0.0.1:{}", token_server.port()), "https://api.example.com".to_string()],
            true,
            false,
        )
        .unwrap();
        let mut budget = Budget::new(egress.limits());
        let msg =
            denied(egress.send(&policy, &creds, &mut budget, bearer("https://api.example.com/u".into(), "api")).await);
        assert!(msg.starts_with("credential 'api': token URL: address 127.0.0.1 is loopback"), "{msg}");
        assert_eq!(token_server.connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn non_oauth2_credentials_are_unaffected() {
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let mut creds = oauth2_creds(&server.url("/token"));
        // JSON that is not an OAuth2 credential is an ordinary secret.
        creds.insert("json-key".into(), r#"{"type":"api-key","key":"k1"}"#.into());
        let mut budget = Budget::new(egress.limits());
        egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "lms-token")).await.unwrap();
        let mut req = get(server.url("/b"));
        req.auth = Some(Auth::Header { header: "X-Api-Key".into(), credential: "json-key".into() });
        egress.send(&policy, &creds, &mut budget, req).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 0);
        let api = api_requests(&server);
        assert_eq!(api[0].header("authorization"), Some("Bearer s3cr3t-token"));
        assert_eq!(api[1].header("x-api-key"), Some(r#"{"type":"api-key","key":"k1"}"#));
    }

    #[tokio::test]
    async fn oauth2_credential_with_other_auth_kinds_is_denied() {
        let (server, fetches) = oauth2_server(1800, Duration::ZERO, |_| http_reply(200, &[], b"ok")).await;
        let egress = Egress::new(limits()).unwrap();
        let policy = local_policy(&server);
        let mut creds = oauth2_creds(&server.url("/token"));
        creds
            .insert("broken".into(), r#"{"type":"oauth2-client-credentials","tokenUrl":"https://x.example/t"}"#.into());
        let mut budget = Budget::new(egress.limits());
        for auth in [
            Auth::Basic("api".into()),
            Auth::Header { header: "X-Api-Key".into(), credential: "api".into() },
            Auth::HmacSha256 { header: "X-Sig".into(), credential: "api".into() },
        ] {
            let mut req = get(server.url("/a"));
            req.auth = Some(auth);
            let msg = denied(egress.send(&policy, &creds, &mut budget, req).await);
            assert_eq!(
                msg,
                "credential 'api' is an OAuth2 client-credentials credential and can only be used with bearer auth"
            );
        }
        let msg = denied(egress.send(&policy, &creds, &mut budget, bearer(server.url("/a"), "broken")).await);
        assert_eq!(msg, "credential 'broken' is not a valid OAuth2 client-credentials credential: clientId is missing");
        // Direct header building never sends the configuration as a header value.
        let msg = denied(build_headers(&[], Some(&Auth::Bearer("api".into())), &creds, b""));
        assert!(msg.contains("obtained by the host"), "{msg}");
        assert_eq!(fetches.load(Ordering::SeqCst), 0);
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn validate_credential_checks_oauth2_credentials_only() {
        // Ordinary secrets, including JSON that does not claim an OAuth2 type.
        for ok in ["s3cr3t", "user:pass", "{not json", r#"{"key":"v"}"#, r#"{"type":"api-key"}"#, "[1,2]"] {
            assert_eq!(validate_credential(ok), Ok(()), "{ok}");
        }
        let good = oauth2_secret("https://acme.ispringlearn.com/api/v3/token");
        assert_eq!(validate_credential(&good), Ok(()));
        let minimal = r#"{"type":"oauth2-client-credentials","tokenUrl":"https://a.example/t","clientId":"c","clientSecret":"s"}"#;
        assert_eq!(validate_credential(minimal), Ok(()));
        // The good credential with `field` removed (None) or set.
        let with = |field: &str, value: Option<serde_json::Value>| {
            let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&good).unwrap();
            match value {
                Some(value) => v.insert(field.to_string(), value),
                None => v.remove(field),
            };
            serde_json::Value::Object(v).to_string()
        };
        let s = |text: &str| Some(serde_json::Value::from(text));
        for (secret, needle) in [
            (with("clientSecret", None), "clientSecret is missing"),
            (with("clientId", None), "clientId is missing"),
            (with("tokenUrl", None), "tokenUrl is missing"),
            (with("clientSecret", Some(12345.into())), "clientSecret must be a string"),
            (with("clientId", s(" ")), "clientId is empty"),
            (with("scope", s("")), "scope is empty"),
            (with("tokenUrl", s("/api/v3/token")), "tokenUrl is not a valid URL"),
            (with("tokenUrl", s("ftp://a.example/t")), "https://"),
            (with("tokenUrl", s("https://u:p@a.example/t")), "user info"),
            (with("client_secret", s("x")), "unknown field \"client_secret\""),
        ] {
            let err = validate_credential(&secret).unwrap_err();
            assert!(err.starts_with("invalid oauth2-client-credentials credential: "), "{err}");
            assert!(err.contains(needle), "{secret}: {err}");
            assert!(!err.contains(CLIENT_SECRET) && !err.contains("12345"), "{err}");
        }
        // A misspelt OAuth type would otherwise be sent verbatim as a secret.
        let typo = good.replace("oauth2-client-credentials", "oauth2_client_credentials");
        let err = validate_credential(&typo).unwrap_err();
        assert!(err.contains("unsupported credential type \"oauth2_client_credentials\""), "{err}");
    }
}
