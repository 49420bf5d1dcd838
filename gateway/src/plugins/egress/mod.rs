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

mod budget;
mod client;
mod credentials;
mod oauth2;
mod policy;
mod ssrf;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use budget::{Budget, Limits};
pub use client::{ClientError, Egress, install_crypto_provider};
pub use credentials::{CredentialError, OAUTH2_CLIENT_CREDENTIALS, OAuth2CredentialError, validate_credential};
pub use policy::{Policy, PolicyError};
pub use ssrf::ip_restriction;

/// A stand-in for the network (the fixture runner's scripted exchanges): it gets each request after
/// every check and header injection (method, URL, headers, body), in place of a connection.
pub trait Script: Send + Sync + std::fmt::Debug {
    fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, EgressError>;
}

use client::redact_url;
use std::fmt;

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

/// A `reqwest` request from its parts (the plugin's calls and the host's token requests alike).
pub(super) fn new_request(
    method: reqwest::Method,
    url: url::Url,
    headers: reqwest::header::HeaderMap,
    body: Option<Vec<u8>>,
    timeout: std::time::Duration,
) -> reqwest::Request {
    let mut request = reqwest::Request::new(method, url);
    *request.headers_mut() = headers;
    *request.timeout_mut() = Some(timeout);
    if let Some(body) = body {
        *request.body_mut() = Some(reqwest::Body::from(body));
    }
    request
}
