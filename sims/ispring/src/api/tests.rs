//! Unit tests of the transport-free API: token flow, routing, JSON shapes, faults and statistics.

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
        &req("POST", "/api/v3/token", "", None, b"client_id=sim-client&client_secret=x&grant_type=client_credentials"),
        now,
    );
    assert_eq!((bad.status, code(&bad)), (401, "invalid_client"));
    let grant = sim.handle(
        &req("POST", "/api/v3/token", "", None, b"client_id=sim-client&client_secret=sim-secret&grant_type=password"),
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
