//! The one SCIM client of the tests: a tenant's `/scim/v2/<tenant>` root on a gateway (in-process or a
//! child process), its bearer token, and requests sent the way Microsoft Entra sends them
//! (`Content-Type: application/scim+json`). Answers come back as [`Resp`]: status, headers, JSON body.

use super::{SCIM_JSON, entra_group, entra_user, patch_op};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// (status, headers, JSON body or Null when the body is empty / not JSON).
pub type Resp = (StatusCode, HeaderMap, Value);

/// Reads a response: status, headers, JSON body (Null when empty or not JSON).
pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("response body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, headers, body)
}

/// A tenant's SCIM endpoint, used the way Entra does.
#[derive(Clone)]
pub struct ScimClient {
    /// `http://127.0.0.1:<port>/scim/v2/<tenant>`
    base: String,
    /// The tenant's bearer token.
    pub token: String,
    pub http: reqwest::Client,
}

impl ScimClient {
    /// A client of tenant `tenant` on the gateway at `origin` (`http://127.0.0.1:<port>`).
    pub fn new(http: reqwest::Client, origin: &str, tenant: &str, token: &str) -> ScimClient {
        ScimClient { base: format!("{origin}/scim/v2/{tenant}"), token: token.to_owned(), http }
    }

    /// The tenant's SCIM root, e.g. `http://127.0.0.1:1234/scim/v2/t0123…`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Absolute URL of `path` under the tenant's SCIM root (`path` starts with '/').
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The HTTP client, for custom requests (no auth or headers added).
    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request with the tenant's bearer token and `Content-Type: application/scim+json`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(CONTENT_TYPE, SCIM_JSON)
    }

    /// Sends `rb`, asserting it is answered.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request is answered");
        read(resp).await
    }

    fn with_body(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let rb = self.request(method, path);
        match body {
            Some(b) => rb.body(b.to_string()),
            None => rb,
        }
    }

    /// One request; Err when it got no answer (connection refused or reset, timeout).
    pub async fn try_call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Resp, reqwest::Error> {
        let resp = self.with_body(method, path, body).send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((status, headers, body))
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.send(self.with_body(method, path, body)).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(&body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// PATCHes a PatchOp of `ops`, asserting 2xx.
    pub async fn patch_ok(&self, path: &str, ops: Value) {
        let (st, _, body) = self.patch(path, patch_op(ops)).await;
        assert!(st.is_success(), "PATCH {path}: {st} {body}");
    }

    /// POSTs a minimal Entra-style user and returns its id (asserting 201).
    pub async fn create_user(&self, user_name: &str) -> String {
        let (st, _, body) = self.post("/Users", entra_user(user_name)).await;
        assert_eq!(st, StatusCode::CREATED, "create user {user_name}: {body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// POSTs an Entra-style group (no members) and returns its id (asserting 201).
    pub async fn create_group(&self, display_name: &str) -> String {
        let (st, _, body) = self.post("/Groups", entra_group(display_name)).await;
        assert_eq!(st, StatusCode::CREATED, "create group {display_name}: {body}");
        body["id"].as_str().expect("group id").to_owned()
    }
}
