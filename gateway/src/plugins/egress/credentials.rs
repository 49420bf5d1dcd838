//! The request headers the host builds: the plugin's own headers (never routing, framing, proxy or
//! authentication headers) and the one header the chosen [`Auth`] injects with the named secret, which
//! the plugin never sees; and which secrets are OAuth2 client-credentials configurations (checked when
//! stored, exchanged for tokens by `oauth2`).

use super::Auth;
use super::{EgressError, redact_url};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use url::Url;

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

/// `type` of a credential whose secret is an OAuth2 client-credentials configuration.
pub const OAUTH2_CLIENT_CREDENTIALS: &str = "oauth2-client-credentials";

/// Fields an OAuth2 client-credentials credential may have.
const OAUTH2_FIELDS: &[&str] = &["type", "tokenUrl", "clientId", "clientSecret", "scope"];

/// A parsed OAuth2 client-credentials credential. `Debug` shows the token endpoint only.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct OAuth2Credential {
    pub(super) token_url: Url,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

impl OAuth2Credential {
    /// `application/x-www-form-urlencoded` body of the token request (RFC 6749 §4.4.2, client
    /// authentication in the body as in §2.3.1).
    pub(super) fn token_request_body(&self) -> Vec<u8> {
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

/// What is wrong with an OAuth2 client-credentials credential. Names fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuth2CredentialError {
    #[error("unknown field {} (allowed: {})", shown(.0), OAUTH2_FIELDS.join(", "))]
    UnknownField(String),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} must be a string")]
    NotAString(&'static str),
    #[error("tokenUrl is not a valid URL: {0}")]
    TokenUrlInvalid(url::ParseError),
    #[error("tokenUrl must be an https:// URL (or http:// where the target allows http)")]
    TokenUrlScheme,
    #[error("tokenUrl must not contain user info")]
    TokenUrlUserInfo,
    #[error("tokenUrl has no host")]
    TokenUrlNoHost,
    #[error("tokenUrl must not contain a fragment")]
    TokenUrlFragment,
}

/// Why [`validate_credential`] refuses a secret. Never contains the secret or any of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("invalid {OAUTH2_CLIENT_CREDENTIALS} credential: {0}")]
    InvalidOAuth2(OAuth2CredentialError),
    /// A JSON object whose `type` mentions OAuth but is not [`OAUTH2_CLIENT_CREDENTIALS`] (a typo).
    #[error("unsupported credential type {} (the supported OAuth2 type is \"{OAUTH2_CLIENT_CREDENTIALS}\")", shown(.0))]
    UnsupportedType(String),
}

/// `Some` when `secret` claims to be an OAuth2 client-credentials credential (a JSON object whose
/// `type` is [`OAUTH2_CLIENT_CREDENTIALS`]), with the parsed credential or why it is malformed;
/// `None` for every other secret, which is used verbatim. Messages name fields, never values.
pub(super) fn parse_oauth2(secret: &str) -> Option<Result<OAuth2Credential, OAuth2CredentialError>> {
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

fn oauth2_from_object(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<OAuth2Credential, OAuth2CredentialError> {
    use OAuth2CredentialError as E;
    use serde_json::Value;
    if let Some(unknown) = obj.keys().find(|k| !OAUTH2_FIELDS.contains(&k.as_str())) {
        return Err(E::UnknownField(unknown.clone()));
    }
    let text = |field: &'static str, required: bool| -> Result<Option<String>, OAuth2CredentialError> {
        match obj.get(field) {
            None | Some(Value::Null) if required => Err(E::Missing(field)),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(E::Empty(field)),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(E::NotAString(field)),
        }
    };
    let token_url = text("tokenUrl", true)?.unwrap_or_default();
    let client_id = text("clientId", true)?.unwrap_or_default();
    let client_secret = text("clientSecret", true)?.unwrap_or_default();
    let scope = text("scope", false)?;
    let token_url = Url::parse(token_url.trim()).map_err(E::TokenUrlInvalid)?;
    if !matches!(token_url.scheme(), "https" | "http") {
        return Err(E::TokenUrlScheme);
    }
    if !token_url.username().is_empty() || token_url.password().is_some() {
        return Err(E::TokenUrlUserInfo);
    }
    if token_url.host().is_none() {
        return Err(E::TokenUrlNoHost);
    }
    if token_url.fragment().is_some() {
        return Err(E::TokenUrlFragment);
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
pub fn validate_credential(secret: &str) -> Result<(), CredentialError> {
    if let Some(parsed) = parse_oauth2(secret) {
        return parsed.map(drop).map_err(CredentialError::InvalidOAuth2);
    }
    if let Some(obj) = json_object(secret)
        && let Some(kind) = obj.get("type").and_then(serde_json::Value::as_str)
        && kind.to_ascii_lowercase().contains("oauth")
    {
        return Err(CredentialError::UnsupportedType(kind.to_owned()));
    }
    Ok(())
}

pub(super) fn oauth2_bearer_only(name: &str) -> String {
    format!("credential '{name}' is an OAuth2 client-credentials credential and can only be used with bearer auth")
}
