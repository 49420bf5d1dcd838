//! Outbound HTTP for `deliver`, and the mapping of its results to an [`Outcome`].
//!
//! The host sends the request: only to the target's allowed hosts, https only unless the target allows
//! http, never to private addresses unless allowed, at most 16 requests per `deliver`, 10 s each, 4 MiB
//! per response. Secrets stay in the host: name a credential with [`Request::bearer`],
//! [`Request::basic`], [`Request::secret_header`] or [`Request::hmac_sha256`] and the host adds the
//! header. In `translate` every request is refused (`denied`).
//!
//! ```ignore
//! let outcome = Request::post(&config.url)
//!     .idempotency_key(&op_id)
//!     .bearer("api-token")
//!     .json(&body)?
//!     .send_for_outcome();
//! ```

use serde::Serialize;

use crate::http::{self, Auth, HttpError, Method, Response, SecretHeader};
use crate::{Outcome, PluginError, Retry};

/// How many bytes of a response body an outcome's reason quotes.
pub const REASON_BODY_BYTES: usize = 200;

/// An HTTP request being built; [`Request::send`] hands it to the host.
#[derive(Clone, Debug)]
pub struct Request {
    inner: http::Request,
}

impl Request {
    /// A request with `method` to `url`, no headers, no body, no auth.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request { inner: http::Request { method, url: url.into(), headers: Vec::new(), body: None, auth: None } }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header (headers are sent in the order added; a name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Idempotency-Key: <op_id>`. Pass `deliver`'s `op-id`: it is stable across retries and
    /// restarts, so the receiver can drop duplicates.
    pub fn idempotency_key(self, op_id: impl Into<String>) -> Self {
        self.header("Idempotency-Key", op_id)
    }

    /// Sets the body to `body` serialized as JSON, and adds `Content-Type: application/json`.
    pub fn json(self, body: &impl Serialize) -> Result<Self, PluginError> {
        Ok(self.json_text(crate::ops::to_json(body)?))
    }

    /// Sets the body to `json`, already-serialized JSON text, and adds
    /// `Content-Type: application/json`.
    pub fn json_text(self, json: impl Into<String>) -> Self {
        self.header("Content-Type", "application/json").body(json.into().into_bytes())
    }

    /// Sets the body (no `Content-Type` is added).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = Some(body.into());
        self
    }

    /// Sets how the host authenticates the request.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.inner.auth = Some(auth);
        self
    }

    /// `Authorization: Bearer <the credential named credential>`.
    pub fn bearer(self, credential: impl Into<String>) -> Self {
        self.auth(Auth::Bearer(credential.into()))
    }

    /// `Authorization: Basic base64(<the credential named credential>)`; the credential is
    /// `user:password`.
    pub fn basic(self, credential: impl Into<String>) -> Self {
        self.auth(Auth::Basic(credential.into()))
    }

    /// `<header>: <the credential named credential>` (an API-key header).
    pub fn secret_header(self, header: impl Into<String>, credential: impl Into<String>) -> Self {
        self.auth(Auth::Header(SecretHeader { header: header.into(), credential: credential.into() }))
    }

    /// `<header>: sha256=<hex HMAC-SHA256 of the body, keyed with the credential named credential>`.
    pub fn hmac_sha256(self, header: impl Into<String>, credential: impl Into<String>) -> Self {
        self.auth(Auth::HmacSha256(SecretHeader { header: header.into(), credential: credential.into() }))
    }

    /// The request as the WIT record.
    pub fn as_wit(&self) -> &http::Request {
        &self.inner
    }

    /// The request as the WIT record, by value.
    pub fn into_wit(self) -> http::Request {
        self.inner
    }

    /// Sends the request through the host.
    pub fn send(self) -> Result<Response, HttpError> {
        http::send(&self.inner)
    }

    /// Sends the request and maps the result to an outcome: [`outcome_for_response`] or
    /// [`outcome_for_error`].
    pub fn send_for_outcome(self) -> Outcome {
        outcome_for_result(&self.send())
    }
}

/// [`outcome_for_response`] for a response, [`outcome_for_error`] for an error.
pub fn outcome_for_result(result: &Result<Response, HttpError>) -> Outcome {
    match result {
        Ok(response) => outcome_for_response(response),
        Err(err) => outcome_for_error(err),
    }
}

/// What a response means for the operation:
///
/// - 2xx: `done` with no remote ids;
/// - 408, 425, 429 and 5xx: `retry`, after `Retry-After` seconds when the response says so;
/// - 409: `conflict`;
/// - anything else (other 4xx, and 1xx/3xx, which the host does not follow): `failed`.
///
/// Reasons read `HTTP <status>: <the first 200 bytes of the body>`.
pub fn outcome_for_response(response: &Response) -> Outcome {
    let status = response.status;
    match status {
        200..=299 => Outcome::Done(Vec::new()),
        408 | 425 | 429 | 500..=599 => {
            Outcome::Retry(Retry { after_secs: retry_after_secs(&response.headers), reason: status_reason(response) })
        }
        409 => Outcome::Conflict(status_reason(response)),
        _ => Outcome::Failed(status_reason(response)),
    }
}

/// What a transport-level error means: `timeout`, `too-large` and `transport` are worth retrying;
/// `denied` (allowlist, scheme, private address, unknown credential) and `budget-exhausted` will not
/// get better and fail the operation. The reason is [`describe_error`].
pub fn outcome_for_error(err: &HttpError) -> Outcome {
    match err {
        HttpError::Timeout | HttpError::TooLarge | HttpError::Transport(_) => {
            Outcome::Retry(Retry { after_secs: None, reason: describe_error(err) })
        }
        HttpError::Denied(_) | HttpError::BudgetExhausted => Outcome::Failed(describe_error(err)),
    }
}

/// A one-line description of an HTTP error: `denied: <why>`, `timeout`, `too-large`,
/// `budget-exhausted` or `transport: <why>`.
pub fn describe_error(err: &HttpError) -> String {
    match err {
        HttpError::Denied(why) => format!("denied: {why}"),
        HttpError::Timeout => "timeout".to_owned(),
        HttpError::TooLarge => "too-large".to_owned(),
        HttpError::BudgetExhausted => "budget-exhausted".to_owned(),
        HttpError::Transport(why) => format!("transport: {why}"),
    }
}

/// `HTTP <status>: <the first 200 bytes of the body>` (just `HTTP <status>` for an empty body).
pub fn status_reason(response: &Response) -> String {
    let snippet = body_snippet(&response.body, REASON_BODY_BYTES);
    if snippet.is_empty() {
        format!("HTTP {}", response.status)
    } else {
        format!("HTTP {}: {snippet}", response.status)
    }
}

/// At most `max` bytes of `body` as text: cut at a character boundary, invalid UTF-8 replaced.
pub fn body_snippet(body: &[u8], max: usize) -> String {
    let head = &body[..body.len().min(max)];
    match std::str::from_utf8(head) {
        Ok(text) => text.to_owned(),
        // A character cut in two by the limit: keep what comes before it.
        Err(err) if err.error_len().is_none() => String::from_utf8_lossy(&head[..err.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(head).into_owned(),
    }
}

/// The value of the first header called `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `Retry-After` as a number of seconds, when it is one (an HTTP date is ignored: the host's backoff
/// decides then). Values beyond `u32` saturate.
pub fn retry_after_secs(headers: &[(String, String)]) -> Option<u32> {
    let value = header(headers, "retry-after")?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().map_or(u32::MAX, |secs| secs.min(u64::from(u32::MAX)) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn retry(outcome: Outcome) -> Retry {
        match outcome {
            Outcome::Retry(retry) => retry,
            other => panic!("expected retry, got {other:?}"),
        }
    }

    #[test]
    fn success_is_done() {
        for status in [200, 201, 202, 204, 299] {
            assert!(matches!(outcome_for_response(&response(status, &[], "")), Outcome::Done(ids) if ids.is_empty()));
        }
    }

    #[test]
    fn transient_statuses_retry_after_the_given_seconds() {
        for status in [408, 425, 429, 500, 502, 503, 504, 599] {
            let r = retry(outcome_for_response(&response(status, &[("Retry-After", " 120 ")], "busy")));
            assert_eq!(r.after_secs, Some(120));
            assert_eq!(r.reason, format!("HTTP {status}: busy"));
        }
        let r = retry(outcome_for_response(&response(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "")));
        assert_eq!(r.after_secs, None);
        assert_eq!(r.reason, "HTTP 503");
        let r = retry(outcome_for_response(&response(429, &[("Retry-After", "99999999999")], "")));
        assert_eq!(r.after_secs, Some(u32::MAX));
        let r = retry(outcome_for_response(&response(429, &[("Retry-After", "-5")], "")));
        assert_eq!(r.after_secs, None);
    }

    #[test]
    fn conflict_and_permanent_failures() {
        assert!(
            matches!(outcome_for_response(&response(409, &[], "dup")), Outcome::Conflict(r) if r == "HTTP 409: dup")
        );
        for status in [400, 401, 403, 404, 410, 422, 301, 101] {
            assert!(matches!(outcome_for_response(&response(status, &[], "")), Outcome::Failed(_)));
        }
        let long = "x".repeat(500);
        match outcome_for_response(&response(400, &[], &long)) {
            Outcome::Failed(reason) => assert_eq!(reason, format!("HTTP 400: {}", "x".repeat(200))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snippets_cut_at_character_boundaries() {
        let body = format!("{}é", "a".repeat(199));
        assert_eq!(body_snippet(body.as_bytes(), 200), "a".repeat(199));
        assert_eq!(body_snippet(&[0xff, b'a'], 200), "\u{fffd}a");
    }

    #[test]
    fn transport_errors() {
        assert!(
            matches!(outcome_for_error(&HttpError::Timeout), Outcome::Retry(r) if r.reason == "timeout" && r.after_secs.is_none())
        );
        assert!(matches!(outcome_for_error(&HttpError::TooLarge), Outcome::Retry(_)));
        assert!(
            matches!(outcome_for_error(&HttpError::Transport("reset".into())), Outcome::Retry(r) if r.reason == "transport: reset")
        );
        assert!(
            matches!(outcome_for_error(&HttpError::Denied("host not allowed".into())), Outcome::Failed(r) if r == "denied: host not allowed")
        );
        assert!(
            matches!(outcome_for_error(&HttpError::BudgetExhausted), Outcome::Failed(r) if r == "budget-exhausted")
        );
    }

    #[test]
    fn builds_json_requests() {
        let req = Request::post("https://x/y")
            .idempotency_key("op-1")
            .json(&serde_json::json!({"a": 1}))
            .unwrap()
            .hmac_sha256("X-Sig", "signing");
        let wit = req.as_wit();
        assert!(matches!(wit.method, Method::Post));
        assert_eq!(
            wit.headers,
            vec![
                ("Idempotency-Key".to_string(), "op-1".to_string()),
                ("Content-Type".to_string(), "application/json".to_string())
            ]
        );
        assert_eq!(wit.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(
            matches!(&wit.auth, Some(Auth::HmacSha256(SecretHeader { header, credential })) if header == "X-Sig" && credential == "signing")
        );
    }
}
