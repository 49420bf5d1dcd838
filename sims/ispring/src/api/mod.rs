//! Transport-independent request handling: routing, authentication, fault
//! injection, statistics and the JSON shapes of every endpoint.
//!
//! [`Sim::handle`] takes a plain [`Request`] and returns a plain [`Response`], so the
//! whole API can be unit-tested without HTTP; `http.rs` adapts it to actix-web.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::Tokens;
use crate::faults::{Fault, FaultConfig, Faults};
use crate::model::{
    DepartmentUpdate, EnrollmentFilter, Error, NewUser, Result, State, TargetType, UserFilter, UserUpdate,
};
use crate::table::{PageReq, token};

/// Start-up settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    pub root_name: String,
    pub required_fields: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            token_ttl: Duration::from_secs(1800),
            root_name: "Root".into(),
            required_fields: Vec::new(),
        }
    }
}

/// One incoming request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// One outgoing response; `body: None` means no body (204).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Option<Value>,
    pub retry_after: Option<u64>,
}

impl Response {
    fn json(status: u16, body: Value) -> Self {
        Self { status, body: Some(body), retry_after: None }
    }

    fn no_content() -> Self {
        Self { status: 204, body: None, retry_after: None }
    }

    fn created_id(id: String) -> Self {
        Self::json(201, Value::String(id))
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, json!({ "code": code, "message": message }))
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
    faults503: u64,
    faults429: u64,
}

/// The whole simulator: account state, tokens, faults and counters.
#[derive(Debug)]
pub struct Sim {
    state: State,
    tokens: Tokens,
    faults: Faults,
    stats: Stats,
}

/// Whether a path belongs to the unauthenticated admin/test surface.
pub fn is_admin_path(path: &str) -> bool {
    path == "/_sim" || path.starts_with("/_sim/")
}

impl Sim {
    pub fn new(config: Config) -> Self {
        Self {
            state: State::new(&config.root_name, config.required_fields),
            tokens: Tokens::new(config.client_id, config.client_secret, config.token_ttl),
            faults: Faults::default(),
            stats: Stats::default(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Artificial latency to add before serving a request on `path`.
    pub fn latency_for(&self, path: &str) -> Duration {
        if is_admin_path(path) { Duration::ZERO } else { self.faults.latency() }
    }

    /// Serves one request. `now` is the clock used for token issuance and expiry.
    pub fn handle(&mut self, req: &Request<'_>, now: Instant) -> Response {
        if is_admin_path(req.path) {
            return self.handle_admin(req, now).unwrap_or_else(Response::from);
        }
        self.stats.requests += 1;
        if is_token_request(req.method, req.path) {
            *self.stats.by_route.entry(TOKEN_ROUTE.to_string()).or_default() += 1;
            return self.issue_token(req, now);
        }
        let route = Route::parse(req.method, req.path);
        let key = route.map_or("unmatched", |r| r.template());
        *self.stats.by_route.entry(key.to_string()).or_default() += 1;

        // Faults are decided before authentication and before any state change,
        // so an injected error never half-applies.
        match self.faults.decide() {
            Some(Fault::Unavailable) => {
                self.stats.faults503 += 1;
                return Response::error(503, "service_unavailable", "injected fault: service unavailable");
            }
            Some(Fault::TooManyRequests { retry_after_secs }) => {
                self.stats.faults429 += 1;
                let mut resp = Response::error(429, "too_many_requests", "injected fault: too many requests");
                resp.retry_after = Some(retry_after_secs);
                return resp;
            }
            None => {}
        }
        if let Err(e) = self.tokens.check(req.authorization, now) {
            return Response::error(401, "unauthorized", e.message());
        }
        let Some(route) = route else {
            return Response::error(404, "not_found", &format!("no route for {} {}", req.method, req.path));
        };
        self.dispatch(route, req).unwrap_or_else(Response::from)
    }

    fn issue_token(&mut self, req: &Request<'_>, now: Instant) -> Response {
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(req.body).into_owned().collect();
        let (Some(grant), Some(id), Some(secret)) =
            (form.get("grant_type"), form.get("client_id"), form.get("client_secret"))
        else {
            return Response::error(
                400,
                "invalid_request",
                "form fields client_id, client_secret and grant_type are required",
            );
        };
        if grant != "client_credentials" {
            return Response::error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported");
        }
        if !self.tokens.credentials_match(id, secret) {
            return Response::error(401, "invalid_client", "invalid client_id or client_secret");
        }
        let access_token = self.tokens.issue(now);
        Response::json(
            200,
            json!({
                "access_token": access_token,
                "expires_in": self.tokens.ttl().as_secs(),
                "token_type": "bearer",
            }),
        )
    }

    fn dispatch(&mut self, route: Route<'_>, req: &Request<'_>) -> Result<Response> {
        let s = &mut self.state;
        let query = Query::parse(req.query);
        Ok(match route {
            Route::ListDepartments => {
                let page = s.departments_page(query.page()?);
                let items: Vec<Value> = page.items.iter().map(|d| d.to_json()).collect();
                Response::json(200, json!({ "departments": items, "nextPageToken": token(page.next) }))
            }
            Route::GetDepartment(id) => Response::json(200, s.department(id)?.to_json()),
            Route::CreateDepartment => {
                let body: NewDepartment = parse_body(req.body)?;
                let parent =
                    body.parent_department_id.ok_or_else(|| Error::bad_request("parentDepartmentId is required"))?;
                Response::created_id(s.create_department(body.name, &parent, body.code)?)
            }
            Route::UpdateDepartment(id) => {
                s.update_department(id, parse_body::<DepartmentUpdate>(req.body)?)?;
                Response::no_content()
            }
            Route::DeleteDepartment(id) => {
                s.delete_department(id)?;
                Response::no_content()
            }
            Route::MoveUsers(id) => {
                let body: UserIds = parse_body(req.body)?;
                s.move_users(id, &body.user_ids)?;
                Response::no_content()
            }

            Route::ListUsers => {
                let filter = UserFilter {
                    logins: query.list("logins"),
                    departments: query.list("departments"),
                    groups: query.list("groups"),
                };
                let page = s.users_page(&filter, query.page()?);
                let items: Vec<Value> = page.items.iter().map(|u| u.to_json()).collect();
                Response::json(200, json!({ "users": items, "nextPageToken": token(page.next) }))
            }
            Route::CreateUser => Response::created_id(s.create_user(parse_body::<NewUser>(req.body)?)?),
            Route::GetUser(id) => Response::json(200, s.user(id)?.to_json()),
            Route::UpdateUser(id) => {
                s.update_user(id, parse_body::<UserUpdate>(req.body)?)?;
                Response::no_content()
            }
            Route::DeleteUser(id) => {
                s.delete_user(id)?;
                Response::no_content()
            }
            Route::SetUserStatus(id) => {
                let body: StatusBody = parse_body(req.body)?;
                s.set_user_status(id, body.status)?;
                Response::no_content()
            }

            Route::ListGroups => {
                let page = s.groups_page(query.page()?);
                let items: Vec<Value> = page.items.iter().map(|g| g.to_json()).collect();
                Response::json(200, json!({ "groups": items, "nextPageToken": token(page.next) }))
            }
            Route::CreateGroup => {
                let body: NewGroup = parse_body(req.body)?;
                Response::created_id(s.create_group(body.name, &body.user_ids)?)
            }
            Route::GetGroup(id) => Response::json(200, s.group(id)?.to_json()),
            Route::UpdateGroup(id) => {
                let body: GroupUpdate = parse_body(req.body)?;
                s.rename_group(id, body.name)?;
                Response::no_content()
            }
            Route::DeleteGroup(id) => {
                s.delete_group(id)?;
                Response::no_content()
            }
            Route::ReplaceMembers(id) => {
                let body: UserIds = parse_body(req.body)?;
                s.replace_group_members(id, &body.user_ids)?;
                Response::no_content()
            }

            Route::ListContents => {
                let page = s.contents_page(query.page()?);
                let items: Vec<Value> = page.items.iter().map(|c| c.to_json()).collect();
                Response::json(200, json!({ "contents": items, "nextPageToken": token(page.next) }))
            }

            Route::ListEnrollments => {
                let filter =
                    EnrollmentFilter { learner_ids: query.list("learnerIds"), course_ids: query.list("courseIds") };
                let page = s.enrollments_page(&filter, query.page()?);
                let items: Vec<Value> = page.items.iter().map(|e| e.to_json()).collect();
                Response::json(200, json!({ "enrollments": items, "nextPageToken": token(page.next) }))
            }
            Route::CreateEnrollments => {
                let body: NewEnrollments = parse_body(req.body)?;
                let ids = s.enroll(&body.course_ids, &body.learner_ids, &body.due_date_type)?;
                Response::json(201, json!(ids))
            }
            Route::DeleteEnrollments => {
                let body: EnrollmentIds = parse_body(req.body)?;
                s.delete_enrollments(&body.enrollment_ids)?;
                Response::no_content()
            }
        })
    }

    fn handle_admin(&mut self, req: &Request<'_>, now: Instant) -> Result<Response> {
        let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
        let s = &mut self.state;
        Ok(match (req.method, &segments[1..]) {
            ("POST", ["content"]) => {
                let body: NewContent = parse_body(req.body)?;
                Response::json(201, json!({ "contentItemId": s.create_content(body.title, body.kind)? }))
            }
            ("GET", ["rules"]) => {
                Response::json(200, json!({ "rules": s.rules().map(|r| r.to_json()).collect::<Vec<_>>() }))
            }
            ("POST", ["rules"]) => {
                let body: NewRule = parse_body(req.body)?;
                let id = s.create_rule(body.target_type, &body.target_id, &body.content_item_id)?;
                Response::json(201, json!({ "ruleId": id }))
            }
            ("DELETE", ["rules", id]) => {
                s.delete_rule(id)?;
                Response::no_content()
            }
            ("POST", ["department"]) => {
                let body: SimDepartment = parse_body(req.body)?;
                let root = s.root_id().to_string();
                Response::json(201, json!({ "departmentId": s.create_department(body.name, &root, body.code)? }))
            }
            ("GET", ["state"]) => Response::json(200, s.snapshot()),
            ("GET", ["faults"]) => Response::json(200, fault_json(self.faults.config())),
            ("POST", ["faults"]) => {
                let config: FaultConfig = if req.body.iter().all(u8::is_ascii_whitespace) {
                    FaultConfig::default()
                } else {
                    parse_body(req.body)?
                };
                config.validate().map_err(Error::bad_request)?;
                let resp = Response::json(200, fault_json(&config));
                self.faults = Faults::new(config);
                resp
            }
            ("POST", ["expire-tokens"]) => {
                self.tokens.expire_all(now);
                Response::no_content()
            }
            ("GET", ["stats"]) => Response::json(
                200,
                json!({
                    "requests": self.stats.requests,
                    "byRoute": self.stats.by_route,
                    "faults": { "503": self.stats.faults503, "429": self.stats.faults429 },
                    "tokensIssued": self.tokens.issued_count(),
                }),
            ),
            ("POST", ["stats", "reset"]) => {
                self.stats = Stats::default();
                self.tokens.reset_count();
                Response::no_content()
            }
            _ => Response::error(404, "not_found", &format!("no route for {} {}", req.method, req.path)),
        })
    }
}

fn fault_json(c: &FaultConfig) -> Value {
    json!({
        "rate503": c.rate503,
        "rate429": c.rate429,
        "retryAfterSecs": c.retry_after_secs,
        "latencyMs": c.latency_ms,
        "seed": c.seed,
    })
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("a JSON request body is required"));
    }
    serde_json::from_slice(body).map_err(|e| Error::bad_request(format!("invalid request body: {e}")))
}

// ---------------------------------------------------------------------------
// Routing

const TOKEN_ROUTE: &str = "POST /api/v3/token";

/// The token endpoint is outside the authenticated API: no bearer token, no injected errors.
fn is_token_request(method: &str, path: &str) -> bool {
    method == "POST" && path.trim_end_matches('/') == "/api/v3/token"
}

/// Every authenticated API route; ids borrow from the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    ListDepartments,
    GetDepartment(&'a str),
    CreateDepartment,
    UpdateDepartment(&'a str),
    DeleteDepartment(&'a str),
    MoveUsers(&'a str),
    ListUsers,
    CreateUser,
    GetUser(&'a str),
    UpdateUser(&'a str),
    DeleteUser(&'a str),
    SetUserStatus(&'a str),
    ListGroups,
    CreateGroup,
    GetGroup(&'a str),
    UpdateGroup(&'a str),
    DeleteGroup(&'a str),
    ReplaceMembers(&'a str),
    ListContents,
    ListEnrollments,
    CreateEnrollments,
    DeleteEnrollments,
}

impl<'a> Route<'a> {
    fn parse(method: &str, path: &'a str) -> Option<Self> {
        let segments: Vec<&'a str> = path.split('/').filter(|s| !s.is_empty()).collect();
        Some(match (method, segments.as_slice()) {
            ("GET", ["departments"]) => Route::ListDepartments,
            ("POST", ["department"]) => Route::CreateDepartment,
            ("GET", ["department", id]) => Route::GetDepartment(id),
            ("POST", ["department", id]) => Route::UpdateDepartment(id),
            ("DELETE", ["department", id]) => Route::DeleteDepartment(id),
            ("POST", ["department", id, "user", "move"]) => Route::MoveUsers(id),
            ("GET", ["users"]) => Route::ListUsers,
            ("POST", ["user"]) => Route::CreateUser,
            ("GET", ["user", id]) => Route::GetUser(id),
            ("POST", ["user", id]) => Route::UpdateUser(id),
            ("DELETE", ["user", id]) => Route::DeleteUser(id),
            ("POST", ["user", id, "status"]) => Route::SetUserStatus(id),
            ("GET", ["groups"]) => Route::ListGroups,
            ("POST", ["group"]) => Route::CreateGroup,
            ("GET", ["group", id]) => Route::GetGroup(id),
            ("POST", ["group", id]) => Route::UpdateGroup(id),
            ("DELETE", ["group", id]) => Route::DeleteGroup(id),
            ("POST", ["group", id, "members"]) => Route::ReplaceMembers(id),
            ("GET", ["contents"]) => Route::ListContents,
            ("GET", ["enrollments"]) => Route::ListEnrollments,
            ("POST", ["enrollment"]) => Route::CreateEnrollments,
            ("POST", ["enrollment", "delete"]) => Route::DeleteEnrollments,
            _ => return None,
        })
    }

    /// The route template used as the statistics key.
    fn template(&self) -> &'static str {
        match self {
            Route::ListDepartments => "GET /departments",
            Route::GetDepartment(_) => "GET /department/{id}",
            Route::CreateDepartment => "POST /department",
            Route::UpdateDepartment(_) => "POST /department/{id}",
            Route::DeleteDepartment(_) => "DELETE /department/{id}",
            Route::MoveUsers(_) => "POST /department/{id}/user/move",
            Route::ListUsers => "GET /users",
            Route::CreateUser => "POST /user",
            Route::GetUser(_) => "GET /user/{id}",
            Route::UpdateUser(_) => "POST /user/{id}",
            Route::DeleteUser(_) => "DELETE /user/{id}",
            Route::SetUserStatus(_) => "POST /user/{id}/status",
            Route::ListGroups => "GET /groups",
            Route::CreateGroup => "POST /group",
            Route::GetGroup(_) => "GET /group/{id}",
            Route::UpdateGroup(_) => "POST /group/{id}",
            Route::DeleteGroup(_) => "DELETE /group/{id}",
            Route::ReplaceMembers(_) => "POST /group/{id}/members",
            Route::ListContents => "GET /contents",
            Route::ListEnrollments => "GET /enrollments",
            Route::CreateEnrollments => "POST /enrollment",
            Route::DeleteEnrollments => "POST /enrollment/delete",
        }
    }
}

/// Query-string parameters. Array parameters may be spelled `name[]=`, `name[0]=` or `name=`.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Self {
        let pairs = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| {
                let key = k.split('[').next().unwrap_or_default().to_string();
                (key, v.into_owned())
            })
            .collect();
        Query(pairs)
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone()).collect()
    }

    /// `pageSize` (default and maximum 1000) and `pageToken`.
    fn page(&self) -> Result<PageReq> {
        let size = match self.one("pageSize").filter(|v| !v.is_empty()) {
            None => PageReq::DEFAULT_SIZE,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n.min(PageReq::MAX_SIZE),
                _ => return Err(Error::bad_request(format!("invalid pageSize '{v}'"))),
            },
        };
        let from = match self.one("pageToken").filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => v.parse::<u64>().map_err(|_| Error::bad_request(format!("invalid pageToken '{v}'")))?,
        };
        Ok(PageReq { size, from })
    }
}

// ---------------------------------------------------------------------------
// Request bodies not defined by the model

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewDepartment {
    name: String,
    #[serde(default)]
    parent_department_id: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIds {
    user_ids: Vec<String>,
}

#[derive(Deserialize)]
struct StatusBody {
    status: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGroup {
    name: String,
    #[serde(default)]
    user_ids: Vec<String>,
}

#[derive(Deserialize)]
struct GroupUpdate {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewEnrollments {
    course_ids: Vec<String>,
    learner_ids: Vec<String>,
    due_date_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnrollmentIds {
    enrollment_ids: Vec<String>,
}

#[derive(Deserialize)]
struct NewContent {
    title: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewRule {
    target_type: TargetType,
    target_id: String,
    content_item_id: String,
}

#[derive(Deserialize)]
struct SimDepartment {
    name: String,
    #[serde(default)]
    code: Option<String>,
}

#[cfg(test)]
mod tests;
