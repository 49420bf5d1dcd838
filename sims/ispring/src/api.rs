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
mod tests {
    use super::*;

    struct Harness {
        sim: Sim,
        now: Instant,
        auth: String,
    }

    impl Harness {
        fn new(config: Config) -> Self {
            let mut sim = Sim::new(config);
            let now = Instant::now();
            let body = b"client_id=sim-client&client_secret=sim-secret&grant_type=client_credentials";
            let resp = sim.handle(&req("POST", "/api/v3/token", "", None, body), now);
            assert_eq!(resp.status, 200);
            let token = resp.body.as_ref().and_then(|b| b["access_token"].as_str()).unwrap_or_default().to_string();
            Self { sim, now, auth: format!("Bearer {token}") }
        }

        fn call(&mut self, method: &str, path: &str, body: Value) -> Response {
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
            let auth = self.auth.clone();
            self.sim.handle(&req(method, path, query, Some(&auth), &bytes), self.now)
        }

        fn id(&mut self, method: &str, path: &str, body: Value) -> String {
            let resp = self.call(method, path, body);
            assert_eq!(resp.status, 201, "{resp:?}");
            resp.body.and_then(|b| b.as_str().map(str::to_string)).unwrap_or_default()
        }

        fn root(&self) -> String {
            self.sim.state().root_id().to_string()
        }
    }

    fn req<'a>(method: &'a str, path: &'a str, query: &'a str, auth: Option<&'a str>, body: &'a [u8]) -> Request<'a> {
        Request { method, path, query, authorization: auth, body }
    }

    fn code(resp: &Response) -> &str {
        resp.body.as_ref().and_then(|b| b["code"].as_str()).unwrap_or_default()
    }

    #[test]
    fn token_endpoint_checks_credentials_and_grant() {
        let mut sim = Sim::new(Config::default());
        let now = Instant::now();
        let bad = sim.handle(
            &req(
                "POST",
                "/api/v3/token",
                "",
                None,
                b"client_id=sim-client&client_secret=x&grant_type=client_credentials",
            ),
            now,
        );
        assert_eq!((bad.status, code(&bad)), (401, "invalid_client"));
        let grant = sim.handle(
            &req(
                "POST",
                "/api/v3/token",
                "",
                None,
                b"client_id=sim-client&client_secret=sim-secret&grant_type=password",
            ),
            now,
        );
        assert_eq!(grant.status, 400);
        let ok = sim.handle(
            &req(
                "POST",
                "/api/v3/token",
                "",
                None,
                b"client_id=sim-client&client_secret=sim-secret&grant_type=client_credentials",
            ),
            now,
        );
        assert_eq!(ok.status, 200);
        let body = ok.body.unwrap_or_default();
        assert_eq!(body["expires_in"], 1800);
        assert_eq!(body["token_type"], "bearer");
    }

    #[test]
    fn expired_or_missing_token_gets_401() {
        let mut h = Harness::new(Config { token_ttl: Duration::from_secs(60), ..Config::default() });
        assert_eq!(h.call("GET", "/departments", Value::Null).status, 200);

        let none = h.sim.handle(&req("GET", "/departments", "", None, b""), h.now);
        assert_eq!((none.status, code(&none)), (401, "unauthorized"));
        assert_eq!(none.body.as_ref().map(|b| b["message"].clone()), Some(json!("missing or unknown access token")));

        h.now += Duration::from_secs(61);
        let expired = h.call("GET", "/departments", Value::Null);
        assert_eq!(expired.status, 401);
        assert_eq!(expired.body.map(|b| b["message"].clone()), Some(json!("access token expired")));

        // A fresh token works; /_sim/expire-tokens expires it immediately.
        let mut fresh = Harness::new(Config::default());
        let resp = fresh.call("POST", "/_sim/expire-tokens", Value::Null);
        assert_eq!(resp.status, 204);
        assert_eq!(fresh.call("GET", "/users", Value::Null).status, 401);
        // Admin paths never need a token.
        let state = fresh.sim.handle(&req("GET", "/_sim/state", "", None, b""), fresh.now);
        assert_eq!(state.status, 200);
    }

    #[test]
    fn create_move_and_list_through_the_api() {
        let mut h = Harness::new(Config::default());
        let root = h.root();
        let sales = h.id("POST", "/department", json!({"name": "Sales", "parentDepartmentId": root}));
        let user = h.id(
            "POST",
            "/user",
            json!({"departmentId": root, "fields": {"login": "ann@x.test", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.test"}}),
        );
        let moved = h.call("POST", &format!("/department/{sales}/user/move"), json!({"userIds": [user]}));
        assert_eq!(moved.status, 204);
        let got = h.call("GET", &format!("/user/{user}"), Value::Null);
        assert_eq!(got.body.as_ref().map(|b| b["departmentId"].clone()), Some(json!(sales)));
        assert_eq!(got.body.as_ref().map(|b| b["status"].clone()), Some(json!(1)));

        let by_login = h.call("GET", "/users?logins[]=ANN@x.test&logins=nobody", Value::Null);
        let users = by_login.body.unwrap_or_default();
        assert_eq!(users["users"].as_array().map(Vec::len), Some(1));
        assert_eq!(users["nextPageToken"], Value::Null);

        let missing = h.call("GET", "/department/nope", Value::Null);
        assert_eq!((missing.status, code(&missing)), (404, "department_not_found"));
        let status = h.call("POST", &format!("/user/{user}/status"), json!({"status": 2}));
        assert_eq!(status.status, 400);
        assert_eq!(h.call("POST", &format!("/user/{user}/status"), json!({"status": 3})).status, 204);

        let stats = h.sim.handle(&req("GET", "/_sim/stats", "", None, b""), h.now).body.unwrap_or_default();
        assert_eq!(stats["byRoute"]["POST /department/{id}/user/move"], 1);
        assert_eq!(stats["byRoute"]["POST /api/v3/token"], 1);
        assert_eq!(stats["tokensIssued"], 1);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let mut h = Harness::new(Config::default());
        let root = h.root();
        for (path, body) in [
            ("/user", json!({"fields": {"login": "a"}})),
            ("/user", json!({"departmentId": root, "fields": "nope"})),
            ("/department", json!({"name": "X"})),
            ("/department", json!({"parentDepartmentId": root})),
            ("/group", json!({})),
            ("/enrollment", json!({"courseIds": [], "learnerIds": []})),
            (&format!("/department/{root}/user/move"), json!({"users": []})),
        ] {
            let resp = h.call("POST", path, body);
            assert_eq!((resp.status, code(&resp)), (400, "bad_request"), "{path}");
        }
        let resp = h.sim.handle(&req("POST", "/user", "", Some(&h.auth.clone()), b"{not json"), h.now);
        assert_eq!((resp.status, code(&resp)), (400, "bad_request"));
        let resp = h.call("GET", "/users?pageSize=abc", Value::Null);
        assert_eq!(resp.status, 400);
        let resp = h.call("GET", "/users?pageToken=zz", Value::Null);
        assert_eq!(resp.status, 400);
    }

    #[test]
    fn paging_over_http_shapes() {
        let mut h = Harness::new(Config::default());
        let root = h.root();
        for i in 0..7 {
            h.id("POST", "/group", json!({"name": format!("g{i}")}));
            h.id("POST", "/user", json!({"departmentId": root, "fields": {"login": format!("u{i}")}}));
        }
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(t) => format!("/groups?pageSize=3&pageToken={t}"),
                None => "/groups?pageSize=3".to_string(),
            };
            let body = h.call("GET", &path, Value::Null).body.unwrap_or_default();
            for g in body["groups"].as_array().into_iter().flatten() {
                names.push(g["name"].as_str().unwrap_or_default().to_string());
            }
            match body["nextPageToken"].as_str() {
                Some(t) => next = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(names, (0..7).map(|i| format!("g{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn faults_are_decided_before_state_changes() {
        let mut h = Harness::new(Config::default());
        let root = h.root();
        let set = |h: &mut Harness, body: Value| {
            let bytes = body.to_string().into_bytes();
            h.sim.handle(&req("POST", "/_sim/faults", "", None, &bytes), h.now)
        };
        assert_eq!(set(&mut h, json!({"rate503": 1.0})).status, 200);
        let resp = h.call("POST", "/user", json!({"departmentId": root, "fields": {"login": "a"}}));
        assert_eq!(resp.status, 503);
        assert_eq!(h.sim.state().user_count(), 0);

        // Token requests are never failed by rates.
        let tok = h.sim.handle(
            &req(
                "POST",
                "/api/v3/token",
                "",
                None,
                b"client_id=sim-client&client_secret=sim-secret&grant_type=client_credentials",
            ),
            h.now,
        );
        assert_eq!(tok.status, 200);

        assert_eq!(set(&mut h, json!({"rate429": 1.0, "retryAfterSecs": 7})).status, 200);
        let resp = h.call("POST", "/user", json!({"departmentId": root, "fields": {"login": "a"}}));
        assert_eq!((resp.status, resp.retry_after), (429, Some(7)));
        assert_eq!(h.sim.state().user_count(), 0);

        // Mixed: each request either fully applies or not at all.
        assert_eq!(set(&mut h, json!({"rate503": 0.3, "rate429": 0.2, "seed": 42})).status, 200);
        let mut created = 0;
        for i in 0..200 {
            let resp = h.call("POST", "/user", json!({"departmentId": root, "fields": {"login": format!("u{i}")}}));
            match resp.status {
                201 => created += 1,
                429 | 503 => {}
                other => panic!("unexpected {other}"),
            }
            assert_eq!(h.sim.state().user_count(), created);
        }
        assert!(created > 50 && created < 150, "{created}");
        let stats = h.sim.handle(&req("GET", "/_sim/stats", "", None, b""), h.now).body.unwrap_or_default();
        let faults =
            stats["faults"]["503"].as_u64().unwrap_or_default() + stats["faults"]["429"].as_u64().unwrap_or_default();
        assert_eq!(faults as usize, 2 + 200 - created);

        assert_eq!(set(&mut h, json!({"rate503": 2.0})).status, 400);
        assert_eq!(set(&mut h, json!({"rate_503": 0.5})).status, 400);
        assert_eq!(h.sim.handle(&req("POST", "/_sim/faults", "", None, b""), h.now).status, 200);
        assert_eq!(h.call("GET", "/users", Value::Null).status, 200);
    }

    #[test]
    fn admin_paths_set_up_content_rules_and_departments() {
        let mut h = Harness::new(Config::default());
        let admin = |h: &mut Harness, method: &str, path: &str, body: Value| {
            let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
            h.sim.handle(&req(method, path, "", None, &bytes), h.now)
        };
        let dept = admin(&mut h, "POST", "/_sim/department", json!({"name": "Existing"}));
        assert_eq!(dept.status, 201);
        let dept_id = dept.body.map(|b| b["departmentId"].clone()).unwrap_or_default();
        let content = admin(&mut h, "POST", "/_sim/content", json!({"title": "Safety"}));
        let content_id = content.body.map(|b| b["contentItemId"].clone()).unwrap_or_default();
        let rule = admin(
            &mut h,
            "POST",
            "/_sim/rules",
            json!({"targetType": "department", "targetId": dept_id, "contentItemId": content_id}),
        );
        assert_eq!(rule.status, 201);
        let bad =
            admin(&mut h, "POST", "/_sim/rules", json!({"targetType": "team", "targetId": "x", "contentItemId": "y"}));
        assert_eq!(bad.status, 400);
        let user = h.id("POST", "/user", json!({"departmentId": dept_id, "fields": {"login": "z"}}));
        let enr = h.call("GET", &format!("/enrollments?learnerIds[]={user}"), Value::Null).body.unwrap_or_default();
        assert_eq!(enr["enrollments"][0]["courseId"], content_id);
        assert_eq!(enr["enrollments"][0]["enrollmentTypeGroup"], 0);
        let contents = h.call("GET", "/contents", Value::Null).body.unwrap_or_default();
        assert_eq!(contents["contents"][0]["type"], "Course");
        let state = admin(&mut h, "GET", "/_sim/state", Value::Null).body.unwrap_or_default();
        for key in ["departments", "users", "groups", "enrollments", "rules", "contents"] {
            assert!(state[key].is_array(), "{key}");
        }
        assert_eq!(state["rootDepartmentId"], json!(h.root()));
        assert_eq!(admin(&mut h, "GET", "/_sim/nope", Value::Null).status, 404);
        assert_eq!(admin(&mut h, "POST", "/_sim/stats/reset", Value::Null).status, 204);
        let stats = admin(&mut h, "GET", "/_sim/stats", Value::Null).body.unwrap_or_default();
        assert_eq!(stats["requests"], 0);
    }
}
