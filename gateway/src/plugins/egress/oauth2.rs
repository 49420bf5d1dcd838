//! OAuth2 client credentials (RFC 6749 §4.4): the token request,
//! the strict reading of the token response and the token cache (which secrets are such credentials is
//! `credentials`) (one fetch per credential at a time,
//! refreshed shortly before expiry, dropped on a `401`).
//!
//! Hand-written on purpose rather than built on the `oauth2` crate: the exchange itself is one form
//! POST and one JSON read, and what matters is around it, which is the host's own: the token request
//! leaves through [`Egress`]'s clients like plugin traffic (the SSRF-guarded resolver unless the policy
//! allows private addresses, no redirects, no proxies, the same timeouts and size caps), the token URL
//! must pass the target's [`Policy`] on every use, cached token or not, and the wait for a token is
//! bounded by the request timeout and the call's deadline (it does not use up the call's request
//! count). The host puts the token in `Authorization`; the plugin never sees it, and no message
//! carries the token or a value of the credential (of the token endpoint's answer only the status, an
//! RFC 6749 error code or the token type are named).

use super::credentials::{OAuth2Credential, oauth2_bearer_only, parse_oauth2, shown};
use super::policy::Policy;
use super::{Auth, Egress, EgressError, new_request};
use reqwest::header::{HeaderMap, HeaderValue};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
pub(super) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// An OAuth2 credential a request uses, with its token cache key.
pub(super) struct OAuth2Use<'a> {
    name: &'a str,
    credential: OAuth2Credential,
    key: [u8; 32],
}

/// The OAuth2 credential `auth` names, if it names one. Other auth kinds with an OAuth2
/// credential and malformed OAuth2 credentials are denied; unknown names are left to
/// [`build_headers`] (which reports them).
pub(super) fn oauth2_for<'a>(
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
pub(super) fn refresh_after(lifetime: Duration) -> Duration {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
    lifetime - (lifetime / 10).min(Duration::from_secs(60))
}

/// `Authorization` value (marked sensitive) and, if it may be cached, until when.
pub(super) type Token = (HeaderValue, Option<Instant>);

/// Reads a successful token response. Messages never contain the body (it holds the token).
pub(super) fn parse_token_response(name: &str, body: &[u8], issued: Instant) -> Result<Token, EgressError> {
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
pub(super) struct TokenCache {
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

impl Egress {
    /// The `Authorization` value for an OAuth2 credential: the cached token, or a new one from
    /// the token endpoint. `stale` is a token the LMS has just refused; it is not returned
    /// again. One caller per credential fetches at a time; the others wait (within `timeout`)
    /// and use its token. The token URL is checked against `policy` on every use, so a cached
    /// token is never used under a policy that would not allow fetching it.
    pub(super) async fn access_token(
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
}
