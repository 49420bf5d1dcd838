//! The plugins' HTTP client: two pooled `reqwest` clients (one behind the SSRF-guarded resolver, one
//! without it for `allow_private` policies), the order of checks of [`Egress::send`], bounded reading of
//! the response, and one redacted `debug!` line per request.

use super::budget::{Budget, Limits};
use super::credentials::build_headers;
use super::oauth2::{TokenCache, oauth2_for};
use super::policy::{Policy, display_host};
use super::ssrf::{BlockedAddress, GuardedResolver};
use super::{EgressError, Method, Request, Response, new_request};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

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
    pub(super) guarded: reqwest::Client,
    pub(super) unguarded: reqwest::Client,
    pub(super) limits: Arc<Limits>,
    pub(super) tokens: Arc<TokenCache>,
    /// Scripted exchanges instead of the network (fixtures only).
    script: Option<Arc<dyn super::Script>>,
}

/// Why [`Egress::new`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("egress timeouts must be greater than zero")]
    ZeroTimeout,
    /// For example the system's CA certificates cannot be loaded.
    #[error("cannot build the plugin HTTP client: {}", error_chain(.0))]
    Build(reqwest::Error),
}

fn build_client(limits: &Limits, guarded: bool) -> Result<reqwest::Client, ClientError> {
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
    builder.build().map_err(ClientError::Build)
}

impl Egress {
    /// Installs the crypto provider (see [`install_crypto_provider`]) and builds both clients.
    /// Fails on zero timeouts or when the system's CA certificates cannot be loaded.
    pub fn new(limits: Limits) -> Result<Egress, ClientError> {
        if limits.connect_timeout.is_zero() || limits.request_timeout.is_zero() {
            return Err(ClientError::ZeroTimeout);
        }
        install_crypto_provider();
        Ok(Egress {
            guarded: build_client(&limits, true)?,
            unguarded: build_client(&limits, false)?,
            limits: Arc::new(limits),
            tokens: Arc::default(),
            script: None,
        })
    }

    /// An egress whose requests go to `script` instead of the network, after the same checks (the
    /// address check at connect time aside: nothing is resolved).
    pub fn scripted(limits: Limits, script: Arc<dyn super::Script>) -> Result<Egress, ClientError> {
        Ok(Egress { script: Some(script), ..Egress::new(limits)? })
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

    /// Executes one request within its timeout and logs it (one `debug!`: method,
    /// `scheme://host:port`, status or error kind, duration; `purpose` tells plugin requests,
    /// token fetches and resends apart).
    pub(super) async fn dispatch(
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
        if let Some(script) = &self.script {
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = request.body().and_then(|b| b.as_bytes()).unwrap_or_default();
            return script.exchange(method.as_str(), request.url().as_str(), &headers, body);
        }
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
pub(super) fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!("{}{}", u.origin().ascii_serialization(), u.path()),
        Err(_) => "<invalid url>".to_string(),
    }
}
