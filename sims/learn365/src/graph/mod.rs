//! A Microsoft Graph v1.0 subset served beside the Learn365 API, so that one simulator process stands
//! for a whole tenant: the Entra ID token endpoint (OAuth2 client credentials) and the security-group
//! calls the Learn365 Assigner makes (create, list, get, rename, delete a group; list, add and remove
//! its members by reference). Shapes follow the real services; `README.md` lists what is simplified.
//!
//! A Graph group **is** an Entra group of the tenant model ([`crate::model::State`]): its members are
//! the group principal's member object ids, so a membership change made through Graph changes what
//! Learn365 sees at once (`group:<objectId>` enrollment sources). Graph-only properties
//! (`mailNickname`, `description`, `createdDateTime`) are kept here, keyed by the object id.
//!
//! * [`routes`]: the Graph routes and their statistics templates.
//! * `token`: the token endpoint and the bearer tokens it issues.
//! * `query`: `$filter`, `$select`, `$top`, `$skiptoken`.
//! * `model`: group properties, request bodies, rendering.
//! * `serve`: the handlers.
//!
//! Fault injection and statistics are the caller's (`api::graph`): they are shared with the OData API.

mod model;
mod query;
pub mod routes;
mod serve;
mod token;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api::Response;
use crate::model::{Error, State};
pub use routes::{GraphRoute, Miss, TOKEN_TEMPLATE, token_tenant};

/// Path prefix of every Graph call.
pub const PREFIX: &str = "/v1.0";
/// `@odata.context` base, as the real service writes it (whatever host the client used).
pub const METADATA: &str = "https://graph.microsoft.com/v1.0/$metadata";
/// The largest `$top` Graph accepts on groups and members.
pub const MAX_PAGE_SIZE: usize = 999;
/// `expires_in` of an issued token, in seconds (what Entra ID answers for a one-hour token).
pub const TOKEN_LIFETIME_SECS: u64 = 3599;

/// Whether a path is under `/v1.0`.
pub fn is_graph_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/v1.0/")
}

/// Start-up settings of the Graph subset.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// The Entra app registration's client id (`--graph-client-id`).
    pub client_id: String,
    /// Its client secret (`--graph-client-secret`).
    pub client_secret: String,
    /// Rows per page when the request has no `$top` (1..=999; Graph's default is 100).
    pub page_size: usize,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self { client_id: "sim-graph-client".into(), client_secret: "sim-graph-secret".into(), page_size: 100 }
    }
}

/// A refusal in Graph's error shape, `{"error": {"code", "message", "innerError"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// `400 Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "Request_BadRequest", message)
    }

    /// `404 Request_ResourceNotFound` with the directory's wording.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    /// `400 Request_BadRequest` for an id that is not a GUID.
    pub fn invalid_id(id: &str) -> Self {
        Self::bad_request(format!("Invalid object identifier '{id}'."))
    }

    /// `400 Request_UnsupportedQuery`.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(400, "Request_UnsupportedQuery", message)
    }

    pub fn into_response(self) -> Response {
        error_response(self.status, self.code, &self.message)
    }
}

impl From<Error> for GraphError {
    /// A refusal of the tenant model, reworded for Graph.
    fn from(e: Error) -> Self {
        match e.status {
            404 => GraphError::new(404, "Request_ResourceNotFound", e.message),
            400 => GraphError::bad_request(e.message),
            status => GraphError::new(status, "generalException", e.message),
        }
    }
}

/// A Graph error answer, with the `innerError` (date, request ids) the real service adds.
pub fn error_response(status: u16, code: &str, message: &str) -> Response {
    let now = crate::model::now();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let request_id = uuid::Uuid::new_v4().to_string();
    Response::json(
        status,
        json!({ "error": { "code": code, "message": message, "innerError": {
            "date": date, "request-id": request_id, "client-request-id": request_id,
        } } }),
    )
}

/// Whether `s` is a GUID in its 8-4-4-4-12 hexadecimal form.
pub fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// The Graph side of the simulator: configuration, issued tokens and the Graph-only group properties.
#[derive(Debug)]
pub struct Graph {
    config: GraphConfig,
    tokens: token::Tokens,
    /// lower-case object id -> Graph-only properties of a group created or changed through Graph.
    groups: HashMap<String, model::GroupMeta>,
}

impl Graph {
    pub fn new(mut config: GraphConfig) -> Self {
        config.page_size = config.page_size.clamp(1, MAX_PAGE_SIZE);
        Self { config, tokens: token::Tokens::default(), groups: HashMap::new() }
    }

    pub fn config(&self) -> &GraphConfig {
        &self.config
    }

    /// `POST /_sim/reset`: forgets the Graph-only group properties (the groups themselves go with the
    /// tenant state) and zeroes the token counter. Issued tokens stay valid, as the API keys do.
    pub fn reset(&mut self) {
        self.groups.clear();
        self.tokens.reset_count();
    }

    /// `POST /_sim/graph/expire-tokens`: every token issued so far is refused from now on.
    pub fn expire_tokens(&mut self) {
        self.tokens.expire_all(std::time::Instant::now());
    }

    /// The number of tokens issued since start or the last `POST /_sim/stats/reset`.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens.issued_count()
    }

    pub fn reset_token_count(&mut self) {
        self.tokens.reset_count();
    }

    /// `graphGroups` of `GET /_sim/state`: every Entra group, with its Graph properties.
    pub fn snapshot(&self, state: &State) -> Value {
        state.groups().map(|g| model::sim_json(g, self.meta(g))).collect()
    }
}
