//! The request headers the host builds: the plugin's own headers (never routing, framing, proxy or
//! authentication headers) and the one header the chosen [`Auth`] injects with the named secret, which
//! the plugin never sees.

use super::Auth;
use super::EgressError;
use super::oauth2::{oauth2_bearer_only, parse_oauth2};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use std::collections::HashMap;

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
pub(super) fn shown(name: &str) -> String {
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
pub(super) fn hmac_sha256_header(key: &[u8], body: &[u8]) -> Result<String, EgressError> {
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

pub(super) fn build_headers(
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
