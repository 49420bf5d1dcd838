//! The Entra ID token endpoint, `POST /{tenant}/oauth2/v2.0/token` with the OAuth2 client-credentials
//! grant, and the bearer tokens it issues for Graph.
//!
//! The form body is `grant_type=client_credentials&client_id=…&client_secret=…&scope=…` (what the
//! gateway's `oauth2-client-credentials` credential posts); the client id and secret may also come as
//! HTTP Basic (`client_secret_basic`, each part form-encoded). The scope must be Graph's `/.default`.
//! Refusals use Entra's shape: `{"error", "error_description": "AADSTS…: …", "error_codes", …}`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::{Graph, GraphError, TOKEN_LIFETIME_SECS};
use crate::api::{Request, Response};

/// The resource identifiers of Microsoft Graph a `/.default` scope may name.
const GRAPH_RESOURCES: [&str; 3] =
    ["https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"];

/// Issued tokens and their expiry.
#[derive(Debug, Default)]
pub(super) struct Tokens {
    issued: HashMap<String, Instant>,
    count: u64,
}

impl Tokens {
    fn issue(&mut self, now: Instant) -> String {
        // Tokens that expired a day ago are forgotten (later answered like unknown ones).
        self.issued.retain(|_, expiry| now.saturating_duration_since(*expiry) < Duration::from_secs(24 * 3600));
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.issued.insert(token.clone(), now + Duration::from_secs(TOKEN_LIFETIME_SECS));
        self.count += 1;
        token
    }

    pub(super) fn expire_all(&mut self, now: Instant) {
        for expiry in self.issued.values_mut() {
            *expiry = (*expiry).min(now);
        }
    }

    pub(super) fn issued_count(&self) -> u64 {
        self.count
    }

    pub(super) fn reset_count(&mut self) {
        self.count = 0;
    }

    /// Checks an `Authorization` header (`Bearer <token>`, scheme in any case).
    fn check(&self, authorization: Option<&str>, now: Instant) -> Result<(), &'static str> {
        let token = authorization
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or("Access token is empty.")?;
        match self.issued.get(token) {
            None => Err("Access token validation failure. Invalid audience."),
            Some(expiry) if now >= *expiry => Err("Lifetime validation failed, the token is expired."),
            Some(_) => Ok(()),
        }
    }
}

/// An Entra ID (AADSTS) refusal.
fn aad_error(status: u16, error: &str, code: u32, text: &str) -> Response {
    let now = crate::model::now();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    Response::json(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

fn missing(parameter: &str) -> Response {
    let text = format!("The request body must contain the following parameter: '{parameter}'.");
    aad_error(400, "invalid_request", 900_144, &text)
}

/// `(client_id, client_secret)` of an HTTP Basic header, each part form-decoded (RFC 6749 §2.3.1).
fn basic_client(authorization: Option<&str>) -> Option<(String, String)> {
    let (scheme, rest) = authorization?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| url::form_urlencoded::parse(format!("v={s}").as_bytes()).map(|(_, v)| v.into_owned()).next();
    Some((decode(id)?, decode(secret)?))
}

impl Graph {
    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub fn token(&mut self, req: &Request<'_>, tenant: &str) -> Response {
        let mut form: HashMap<String, String> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(req.body) {
            form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        let basic = basic_client(req.authorization);
        let Some(grant) = form.get("grant_type") else { return missing("grant_type") };
        if grant != "client_credentials" {
            let text = format!("The app requested an unsupported grant type '{grant}'.");
            return aad_error(400, "unsupported_grant_type", 70_003, &text);
        }
        let Some(client_id) = form.get("client_id").cloned().or_else(|| basic.as_ref().map(|b| b.0.clone())) else {
            return missing("client_id");
        };
        let Some(scope) = form.get("scope") else { return missing("scope") };
        let Some(resource) = scope.trim().strip_suffix("/.default").filter(|r| !r.contains(' ')) else {
            let text = format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope \
                 value with /.default suffixed to the resource identifier (application ID URI)."
            );
            return aad_error(400, "invalid_scope", 1_002_012, &text);
        };
        if !GRAPH_RESOURCES.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
            let text = format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can \
                 happen if the application has not been installed by the administrator of the tenant or consented \
                 to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            );
            return aad_error(400, "invalid_resource", 500_011, &text);
        }
        if client_id != self.config.client_id {
            let text = format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can \
                 happen if the application has not been installed by the administrator of the tenant or consented \
                 to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            );
            return aad_error(400, "unauthorized_client", 700_016, &text);
        }
        let Some(secret) = form.get("client_secret").cloned().or_else(|| basic.map(|b| b.1)) else {
            let text = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
            return aad_error(401, "invalid_client", 7_000_218, text);
        };
        if secret != self.config.client_secret {
            let text = format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                 value, not the client secret ID, for a secret added to app '{client_id}'."
            );
            return aad_error(401, "invalid_client", 7_000_215, &text);
        }
        let access_token = self.tokens.issue(Instant::now());
        Response::json(
            200,
            json!({
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECS,
                "ext_expires_in": TOKEN_LIFETIME_SECS,
                "access_token": access_token,
            }),
        )
    }

    /// Checks the bearer token of a Graph call: `401 InvalidAuthenticationToken` otherwise.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<(), GraphError> {
        self.tokens
            .check(authorization, Instant::now())
            .map_err(|message| GraphError::new(401, "InvalidAuthenticationToken", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_expire() {
        let mut t = Tokens::default();
        let now = Instant::now();
        let tok = t.issue(now);
        assert_eq!(t.check(Some(&format!("Bearer {tok}")), now), Ok(()));
        assert_eq!(t.check(Some(&format!("bearer  {tok} ")), now), Ok(()));
        assert_eq!(t.check(Some(&tok), now), Err("Access token is empty."));
        assert_eq!(t.check(None, now), Err("Access token is empty."));
        assert!(t.check(Some("Bearer nope"), now).is_err());
        let later = now + Duration::from_secs(TOKEN_LIFETIME_SECS);
        assert_eq!(
            t.check(Some(&format!("Bearer {tok}")), later),
            Err("Lifetime validation failed, the token is expired.")
        );
        t.expire_all(now);
        assert!(t.check(Some(&format!("Bearer {tok}")), now).is_err());
        assert_eq!(t.issued_count(), 1);
    }

    #[test]
    fn basic_client_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        assert_eq!(basic_client(Some(&header)), Some(("my app".into(), "s:cret".into())));
        assert_eq!(basic_client(Some("Bearer x")), None);
    }
}
