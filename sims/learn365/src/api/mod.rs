//! Transport-independent request handling: authentication, fault injection, statistics and
//! dispatch to the OData handlers (`odata.rs`), the Microsoft Graph subset (`graph.rs`, serving
//! [`crate::graph`]) and the `/_sim` surface (`admin.rs`).
//!
//! [`Sim::handle`] takes a plain [`Request`] and returns a plain [`Response`]; `http.rs` adapts it
//! to actix-web. Order for an API request: count it, apply the rate limit (`--rate-limit`), decide an
//! injected fault (before anything else,
//! so a faulted request never changes state), check the key (401), find the route (404), refuse
//! writes with a read-only key (403), then serve.

mod admin;
mod bodies;
mod graph;
mod odata;
pub mod routes;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth::{Access, Keys};
use crate::faults::{Fault, Faults};
use crate::graph::{Graph, GraphConfig};
use crate::model::{Error, State};
use routes::Route;

/// Whether the seed data is loaded at start and on `/_sim/reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    #[default]
    Empty,
    Demo,
}

/// Start-up settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub full_keys: Vec<String>,
    pub read_keys: Vec<String>,
    /// Rows per page before `@odata.nextLink` (1..=10,000).
    pub page_size: usize,
    pub seed: Seed,
    /// API requests served per second at most (all keys together); beyond, 429 with `Retry-After`.
    /// Learn365 publishes no limit; the Power Platform connector allows 100 calls per 60 s.
    pub rate_limit: Option<u32>,
    /// The Microsoft Graph subset: client credentials and page size.
    pub graph: GraphConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            full_keys: vec!["sim-full-key".into()],
            read_keys: vec!["sim-read-key".into()],
            page_size: 100,
            seed: Seed::Empty,
            rate_limit: None,
            graph: GraphConfig::default(),
        }
    }
}

/// One incoming request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw path, without the query string.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    /// `scheme://host[:port]` as the client addressed the server (for absolute links).
    pub base_url: &'a str,
}

/// One outgoing response; `body: None` means no body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Option<Value>,
    pub retry_after: Option<u64>,
    /// Adds `WWW-Authenticate: Basic realm="Learn365"` (401).
    pub challenge: bool,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body: Some(body), retry_after: None, challenge: false }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, body: None, retry_after: None, challenge: false }
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, json!({ "error": { "code": code, "message": message } }))
    }
}

impl From<Error> for Response {
    fn from(e: Error) -> Self {
        Response::error(e.status, e.code, &e.message)
    }
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    by_route: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
    faults503: u64,
    faults429: u64,
    rate_limited: u64,
}

impl Stats {
    fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "byRoute": self.by_route,
            "byStatus": self.by_status,
            "faults": { "503": self.faults503, "429": self.faults429 },
            "faultsInjected": self.faults503 + self.faults429,
            "rateLimited": self.rate_limited,
        })
    }
}

/// The whole simulator: tenant state, keys, faults and counters.
#[derive(Debug)]
pub struct Sim {
    config: Config,
    keys: Keys,
    state: State,
    faults: Faults,
    stats: Stats,
    bucket: Option<Bucket>,
    graph: Graph,
}

/// A token bucket holding one second of the configured rate.
#[derive(Debug)]
struct Bucket {
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_sec: u32) -> Bucket {
        let per_sec = f64::from(per_sec.max(1));
        Bucket { per_sec, tokens: per_sec, at: Instant::now() }
    }

    /// Takes a token, or says how many whole seconds to wait for one.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(self.per_sec);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

/// Whether a path belongs to the unauthenticated test surface.
pub fn is_admin_path(path: &str) -> bool {
    path == "/_sim" || path.starts_with("/_sim/")
}

impl Sim {
    pub fn new(mut config: Config) -> Self {
        config.page_size = config.page_size.clamp(1, crate::odata::MAX_PAGE_SIZE);
        let keys = Keys::new(config.full_keys.clone(), config.read_keys.clone());
        let state = initial_state(config.seed);
        let bucket = config.rate_limit.map(Bucket::new);
        let graph = Graph::new(config.graph.clone());
        Self { config, keys, state, faults: Faults::default(), stats: Stats::default(), bucket, graph }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Artificial latency to add before serving a request on `path`.
    pub fn latency_for(&self, path: &str) -> Duration {
        if is_admin_path(path) { Duration::ZERO } else { self.faults.latency() }
    }

    /// Serves one request.
    pub fn handle(&mut self, req: &Request<'_>) -> Response {
        if is_admin_path(req.path) {
            return self.handle_admin(req).unwrap_or_else(Response::from);
        }
        self.stats.requests += 1;
        let (key, response) = match self.handle_graph(req) {
            Some(served) => served,
            None => {
                let route = Route::parse(req.method, req.path);
                let key = route.as_ref().map_or("unmatched", Route::template);
                (key, self.serve_api(route, req))
            }
        };
        *self.stats.by_route.entry(key.to_string()).or_default() += 1;
        *self.stats.by_status.entry(response.status.to_string()).or_default() += 1;
        response
    }

    fn serve_api(&mut self, route: Option<Route>, req: &Request<'_>) -> Response {
        if let Some(Err(wait)) = self.bucket.as_mut().map(Bucket::take) {
            self.stats.rate_limited += 1;
            let per_sec = self.config.rate_limit.unwrap_or_default();
            let mut resp = Response::error(
                429,
                "TooManyRequests",
                &format!("rate limit exceeded: at most {per_sec} requests per second"),
            );
            resp.retry_after = Some(wait);
            return resp;
        }
        match self.injected_fault() {
            Some(Fault::Unavailable) => {
                return Response::error(503, "ServiceUnavailable", "injected fault: service unavailable");
            }
            Some(Fault::TooManyRequests { retry_after_secs }) => {
                let mut resp = Response::error(429, "TooManyRequests", "injected fault: too many requests");
                resp.retry_after = Some(retry_after_secs);
                return resp;
            }
            None => {}
        }
        let Some(access) = self.keys.check(req.authorization) else {
            let mut resp =
                Response::error(401, "Unauthorized", "a valid API key is required (HTTP Basic, password = key)");
            resp.challenge = true;
            return resp;
        };
        let Some(route) = route else {
            return Response::error(
                404,
                "NotFound",
                &format!("no resource matches {} {} in the simulator", req.method, req.path),
            );
        };
        if access == Access::ReadOnly && req.method != "GET" {
            return Response::error(403, "Forbidden", "this API key is read-only; writes need a full-control key");
        }
        self.dispatch(route, req).unwrap_or_else(Response::from)
    }

    /// The fault injector's decision for one API or Graph request, counted.
    fn injected_fault(&mut self) -> Option<Fault> {
        let fault = self.faults.decide();
        match fault {
            Some(Fault::Unavailable) => self.stats.faults503 += 1,
            Some(Fault::TooManyRequests { .. }) => self.stats.faults429 += 1,
            None => {}
        }
        fault
    }

    /// `POST /_sim/reset`: the start state again (seed included), no faults, zero counters. Issued Graph
    /// tokens stay valid, like the API keys.
    fn reset(&mut self) {
        self.state = initial_state(self.config.seed);
        self.graph.reset();
        self.faults = Faults::default();
        self.stats = Stats::default();
        self.bucket = self.config.rate_limit.map(Bucket::new);
    }
}

fn initial_state(seed: Seed) -> State {
    let mut state = State::new();
    if seed == Seed::Demo
        && let Err(e) = state.seed_demo(crate::model::now())
    {
        tracing::error!(error = %e.message, "demo seed failed");
    }
    state
}
