//! An in-memory Learn365 answering the plugin's requests as docs/spec/learn365.md §2 says: `POST Users` (upsert by
//! DirectoryObjectId, else LoginName), `Purge`, `GET Enrollments?$filter=UserLoginName eq '…'` (paged
//! with `@odata.nextLink`), `Enroll` (201 new or reactivated, 200 already active; training plans run T1),
//! `Cancel` (204, idempotent; training plans run T2), 404s with codes. It records who made each
//! enrollment, so the tests can tell the plugin's from the admin's and the training plans', and flags a
//! Cancel of an enrollment the plugin did not make. Faults: 429 with Retry-After, 503, and lost answers
//! (the request is applied, the answer never arrives).
//!
//! For the Assigner: the collections `GET Users`, `Courses`, `Enrollments` (with `$select`, paged), and
//! a Microsoft Graph subset at [`GRAPH`] (Bearer `entra-app`): groups found by `mailNickname`,
//! created, their members listed (paged with `$skiptoken`), added (`$ref`, 400 on a duplicate) and
//! removed (404 when absent).

use std::collections::{BTreeMap, VecDeque};

use scimgw_plugin_sdk::http::{Auth, HttpError, Method, Request, Response};
use serde_json::{Value, json};

use crate::deliver::Wire;

pub const BASE: &str = "https://l365.test";
pub const GRAPH: &str = "https://graph.test";

/// An Entra security group.
#[derive(Clone, Debug, Default)]
pub struct GGroup {
    pub name: String,
    pub nick: String,
    pub members: std::collections::BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Creator {
    Plugin,
    Admin,
    Plan(String),
}

#[derive(Clone, Debug)]
pub struct Enrollment {
    pub id: String,
    pub course: String,
    /// The Learn365 user Id.
    pub user: String,
    pub active: bool,
    pub creator: Creator,
    /// `CompletionDate` (RFC 3339) when completed.
    pub completed: Option<String>,
    pub due: Option<String>,
}

#[derive(Clone, Debug)]
pub struct LUser {
    pub id: String,
    pub login: String,
    pub fields: serde_json::Map<String, Value>,
}

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// No fault (a placeholder in a script).
    Pass,
    TooMany(u32),
    Unavailable,
    Lost,
}

#[derive(Default)]
pub struct Fake {
    pub users: BTreeMap<String, LUser>,
    pub courses: Vec<String>,
    /// Training plan → its courses.
    pub plans: BTreeMap<String, Vec<String>>,
    pub enrollments: Vec<Enrollment>,
    /// Faults for the next requests, in order.
    pub script: VecDeque<Fault>,
    /// A fault on every n-th request (0: none), rotating through the kinds.
    pub fault_every: usize,
    pub requests: usize,
    /// Requests the current call may still make (the host allows 16 per deliver call).
    pub budget: usize,
    pub page_size: usize,
    /// Admin enrollments `(login, item)` made just before the plugin's next Enroll of that login and
    /// item answered without a fault: after the plugin's precheck, so the Enroll hears 200.
    pub races: Vec<(String, String)>,
    /// The URL of the last request that got a fault: a race does not fire on its retry (an admin's
    /// enrollment between a lost attempt and its retry is the documented blind spot).
    last_faulted: Option<String>,
    /// Cancels of enrollments the plugin did not make (must stay empty).
    pub violations: Vec<String>,
    next_id: u64,
    /// Graph: groups by id, and requests made to it.
    pub groups: BTreeMap<String, GGroup>,
    pub graph_requests: usize,
    pub graph_page: usize,
}

fn answer(status: u16, body: Value) -> Response {
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    Response { status, headers: vec![("Content-Type".into(), "application/json".into())], body }
}

fn error(status: u16, code: &str) -> Response {
    answer(status, json!({"error": {"code": code, "message": format!("{code} (fake)")}}))
}

pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// `'…'` with `''` for a quote.
fn unquote(s: &str) -> String {
    s.trim().trim_start_matches('\'').trim_end_matches('\'').replace("''", "'")
}

impl Fake {
    pub fn new(courses: &[&str], plans: &[(&str, &[&str])]) -> Fake {
        Fake {
            courses: courses.iter().map(|s| (*s).to_owned()).collect(),
            plans: plans
                .iter()
                .map(|(p, cs)| ((*p).to_owned(), cs.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
            page_size: 3,
            graph_page: 4,
            ..Fake::default()
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }

    pub fn user_by_login(&self, login: &str) -> Option<&LUser> {
        self.users.values().find(|u| u.login.eq_ignore_ascii_case(login))
    }

    pub fn active(&self, user: &str, course: &str) -> Option<&Enrollment> {
        self.enrollments.iter().find(|e| e.user == user && e.course == course && e.active)
    }

    fn enrollment_json(&self, e: &Enrollment) -> Value {
        let login = self.users.get(&e.user).map(|u| u.login.clone()).unwrap_or_default();
        json!({
            "@odata.context": "https://l365.test/odata/v2/$metadata#Enrollments/$entity",
            "Id": e.id, "CourseId": e.course, "UserId": e.user, "UserLoginName": login, "Roles": ["Learner"],
            "RegistrationStatus": if e.active { "Enrolled" } else { "Cancelled" },
            "CoursePassingStatus": "NotStarted",
            "IsPartOfTrainingPlan": matches!(e.creator, Creator::Plan(_)),
        })
    }

    /// Enrolls (or reactivates) unless already active; T1 for a training plan. `(created, index)`.
    pub fn enroll(&mut self, user: &str, course: &str, creator: Creator) -> (bool, usize) {
        if let Some(i) = self.enrollments.iter().position(|e| e.user == user && e.course == course && e.active) {
            return (false, i);
        }
        let i = match self.enrollments.iter().position(|e| e.user == user && e.course == course) {
            Some(i) => {
                self.enrollments[i].active = true;
                self.enrollments[i].creator = creator;
                i
            }
            None => {
                let id = self.id("e");
                self.enrollments.push(Enrollment {
                    id,
                    course: course.to_owned(),
                    user: user.to_owned(),
                    active: true,
                    creator,
                    completed: None,
                    due: None,
                });
                self.enrollments.len() - 1
            }
        };
        if let Some(courses) = self.plans.get(course).cloned() {
            for c in courses {
                self.enroll(user, &c, Creator::Plan(course.to_owned()));
            }
        }
        (true, i)
    }

    /// An admin's direct enrollment (by the user's login).
    pub fn admin_enroll(&mut self, login: &str, course: &str) {
        if let Some(u) = self.user_by_login(login).map(|u| u.id.clone()) {
            self.enroll(&u, course, Creator::Admin);
        }
    }

    fn cancel(&mut self, i: usize) {
        if !self.enrollments[i].active {
            return;
        }
        self.enrollments[i].active = false;
        let (user, course) = (self.enrollments[i].user.clone(), self.enrollments[i].course.clone());
        if self.plans.contains_key(&course) {
            for e in self.enrollments.iter_mut() {
                if e.user == user && e.active && e.creator == Creator::Plan(course.clone()) {
                    e.active = false;
                }
            }
        }
    }

    fn handle(&mut self, req: &Request) -> Response {
        if req.url.starts_with(GRAPH) {
            return self.graph(req);
        }
        assert!(
            matches!(&req.auth, Some(Auth::Basic(c)) if c == "learn365"),
            "Basic auth with the learn365 credential"
        );
        let rest = req.url.strip_prefix(BASE).and_then(|r| r.strip_prefix("/odata/v2/")).expect("URL under the base");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let body: Value =
            req.body.as_ref().map(|b| serde_json::from_slice(b).expect("JSON body")).unwrap_or(Value::Null);
        match (&req.method, path) {
            (Method::Post, "Users") => self.upsert(&body),
            (Method::Post, p) if p.starts_with("Users(") && p.ends_with(")/Purge") => {
                let login = unquote(&decode(&p["Users(".len()..p.len() - ")/Purge".len()]));
                let Some(id) = self.user_by_login(&login).map(|u| u.id.clone()) else {
                    return error(404, "UserNotFound");
                };
                self.users.remove(&id);
                self.enrollments.retain(|e| e.user != id);
                answer(202, Value::Null)
            }
            (Method::Get, "Enrollments") if !query.contains("%24filter") && !query.contains("$filter") => {
                self.collection("Enrollments", query)
            }
            (Method::Get, "Users" | "Courses") => self.collection(path, query),
            (Method::Get, "Enrollments") => self.list(query),
            (Method::Post, p) if p.starts_with("Courses(") && p.ends_with(")/Enroll") => {
                let course = decode(&p["Courses(".len()..p.len() - ")/Enroll".len()]);
                let login = body["userLoginName"].as_str().expect("userLoginName").to_owned();
                assert_eq!(body["ignoreEnrollmentFlow"], json!(true));
                let Some(user) = self.user_by_login(&login).map(|u| u.id.clone()) else {
                    return error(404, "UserNotFound");
                };
                if !self.courses.contains(&course) && !self.plans.contains_key(&course) {
                    return error(404, "CourseNotFound");
                }
                let (created, i) = self.enroll(&user, &course, Creator::Plugin);
                let e = self.enrollments[i].clone();
                answer(if created { 201 } else { 200 }, self.enrollment_json(&e))
            }
            (Method::Post, p) if p.starts_with("Enrollments(") && p.ends_with(")/Cancel") => {
                let id = decode(&p["Enrollments(".len()..p.len() - ")/Cancel".len()]);
                let Some(i) = self.enrollments.iter().position(|e| e.id == id) else {
                    return error(404, "EnrollmentNotFound");
                };
                if self.enrollments[i].active && self.enrollments[i].creator != Creator::Plugin {
                    self.violations.push(format!("cancelled {:?}", self.enrollments[i]));
                }
                self.cancel(i);
                answer(204, Value::Null)
            }
            other => panic!("unexpected request {other:?}"),
        }
    }

    fn upsert(&mut self, body: &Value) -> Response {
        let login = body["LoginName"].as_str().expect("LoginName").to_owned();
        let oid = body.get("DirectoryObjectId").and_then(Value::as_str).map(str::to_ascii_lowercase);
        let found = oid
            .as_ref()
            .and_then(|o| {
                self.users.values().find(|u| {
                    u.fields.get("DirectoryObjectId").and_then(Value::as_str).is_some_and(|x| x.eq_ignore_ascii_case(o))
                })
            })
            .or_else(|| self.user_by_login(&login))
            .map(|u| u.id.clone());
        let fields = body.as_object().cloned().unwrap_or_default();
        let (status, id) = match found {
            Some(id) => (200, id),
            None => (201, self.id("a")),
        };
        self.users.insert(id.clone(), LUser { id: id.clone(), login: login.clone(), fields });
        answer(status, json!({"@odata.context": "x", "Id": id, "LoginName": login}))
    }

    fn list(&self, query: &str) -> Response {
        let mut filter = String::new();
        let mut skip = 0usize;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(k).as_str() {
                "$filter" => filter = decode(v),
                "$skip" => skip = v.parse().expect("$skip"),
                other => panic!("unexpected query option {other}"),
            }
        }
        let (course, rest) = match filter.strip_prefix("CourseId eq ") {
            Some(r) => {
                let (c, rest) = r.split_once(" and ").expect("CourseId eq <id> and …");
                (Some(c.trim_matches('\'').to_owned()), rest.to_owned())
            }
            None => (None, filter.clone()),
        };
        let login = unquote(rest.strip_prefix("UserLoginName eq ").expect("filter by UserLoginName"));
        let user = self.user_by_login(&login).map(|u| u.id.clone()).unwrap_or_default();
        let all: Vec<&Enrollment> = self
            .enrollments
            .iter()
            .filter(|e| e.user == user && course.as_ref().is_none_or(|c| c.eq_ignore_ascii_case(&e.course)))
            .collect();
        let page: Vec<Value> = all.iter().skip(skip).take(self.page_size).map(|e| self.enrollment_json(e)).collect();
        let mut v = json!({"@odata.context": "x", "value": page});
        if skip + self.page_size < all.len() {
            let (k, f) = query.split('&').next().unwrap().split_once('=').unwrap();
            v["@odata.nextLink"] =
                json!(format!("{BASE}/odata/v2/Enrollments?{k}={f}&$skip={}", skip + self.page_size));
        }
        answer(200, v)
    }
}

impl Fake {
    /// `GET Users|Courses|Enrollments?$select=…[&$skip=n]`, paged.
    fn collection(&self, set: &str, query: &str) -> Response {
        let mut skip = 0usize;
        let mut select = String::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(k).as_str() {
                "$select" => select = decode(v),
                "$skip" => skip = v.parse().expect("$skip"),
                other => panic!("unexpected query option {other}"),
            }
        }
        let rows: Vec<Value> = match set {
            "Users" => self
                .users
                .values()
                .map(|u| {
                    json!({"Id": u.id, "LoginName": u.login, "PrincipalType": "User",
                           "DirectoryObjectId": u.fields.get("DirectoryObjectId").cloned().unwrap_or(Value::Null)})
                })
                .collect(),
            "Courses" => self
                .courses
                .iter()
                .map(|c| json!({"Id": c, "CourseType": "ELearning"}))
                .chain(self.plans.keys().map(|p| json!({"Id": p, "CourseType": "TrainingPlan"})))
                .collect(),
            _ => self
                .enrollments
                .iter()
                .map(|e| {
                    let mut v = self.enrollment_json(e);
                    v["CompletionDate"] = json!(e.completed);
                    v["DueDate"] = json!(e.due);
                    if e.completed.is_some() {
                        v["CoursePassingStatus"] = json!("Completed");
                    }
                    v
                })
                .collect(),
        };
        let fields: Vec<&str> = select.split(',').filter(|f| !f.is_empty()).collect();
        let page: Vec<Value> = rows
            .iter()
            .skip(skip)
            .take(self.page_size)
            .map(|r| Value::Object(fields.iter().map(|f| ((*f).to_owned(), r[*f].clone())).collect()))
            .collect();
        let mut v = json!({"@odata.context": "x", "value": page});
        if skip + self.page_size < rows.len() {
            v["@odata.nextLink"] =
                json!(format!("{BASE}/odata/v2/{set}?$select={select}&$skip={}", skip + self.page_size));
        }
        answer(200, v)
    }

    /// The Graph subset.
    fn graph(&mut self, req: &Request) -> Response {
        assert!(matches!(&req.auth, Some(Auth::Bearer(c)) if c == "entra-app"), "Bearer auth with entra-app");
        self.graph_requests += 1;
        let rest = req.url.strip_prefix(GRAPH).and_then(|r| r.strip_prefix("/v1.0/")).expect("Graph v1.0 URL");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let q = |name: &str| {
            query.split('&').find_map(|p| p.split_once('=').filter(|(k, _)| decode(k) == name).map(|(_, v)| decode(v)))
        };
        let body: Value =
            req.body.as_ref().map(|b| serde_json::from_slice(b).expect("JSON body")).unwrap_or(Value::Null);
        let gerr = |status: u16, code: &str, message: &str| {
            answer(status, json!({"error": {"code": code, "message": message, "innerError": {}}}))
        };
        let parts: Vec<&str> = path.split('/').collect();
        match (&req.method, parts.as_slice()) {
            (Method::Get, ["groups"]) => {
                let f = q("$filter").expect("$filter");
                let nick = f.strip_prefix("mailNickname eq '").and_then(|r| r.strip_suffix('\'')).expect("by nickname");
                let found: Vec<Value> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.nick.eq_ignore_ascii_case(nick))
                    .map(|(id, g)| json!({"id": id, "displayName": g.name}))
                    .collect();
                answer(200, json!({"value": found}))
            }
            (Method::Post, ["groups"]) => {
                assert_eq!(body["securityEnabled"], json!(true));
                assert_eq!(body["mailEnabled"], json!(false));
                let nick = body["mailNickname"].as_str().expect("mailNickname").to_owned();
                assert!(
                    !nick.is_empty()
                        && nick.len() <= 64
                        && nick.bytes().all(|b| b.is_ascii_graphic() && !b"@()\\[]\";:<>,".contains(&b)),
                    "a valid mailNickname: {nick}"
                );
                let id = self.id("6");
                let name = body["displayName"].as_str().expect("displayName").to_owned();
                self.groups.insert(id.clone(), GGroup { name: name.clone(), nick, members: Default::default() });
                answer(201, json!({"id": id, "displayName": name, "securityEnabled": true}))
            }
            (Method::Patch, ["groups", id]) => {
                let Some(g) = self.groups.get_mut(*id) else {
                    return gerr(404, "Request_ResourceNotFound", "no group");
                };
                if let Some(name) = body["displayName"].as_str() {
                    g.name = name.to_owned();
                }
                if let Some(refs) = body["members@odata.bind"].as_array() {
                    assert!(refs.len() <= 20, "at most 20 members per request");
                    let ids: Vec<String> =
                        refs.iter().map(|r| r.as_str().unwrap().rsplit('/').next().unwrap().to_owned()).collect();
                    if ids.iter().any(|m| g.members.contains(m)) {
                        return gerr(
                            400,
                            "Request_BadRequest",
                            "One or more added object references already exist for the following modified properties: 'members'.",
                        );
                    }
                    g.members.extend(ids);
                }
                answer(204, Value::Null)
            }
            (Method::Get, ["groups", id, "members"]) => {
                let Some(g) = self.groups.get(*id) else { return gerr(404, "Request_ResourceNotFound", "no group") };
                assert_eq!(q("$select").as_deref(), Some("id"));
                let top: usize = q("$top").expect("$top").parse().unwrap();
                assert!((1..=999).contains(&top));
                let after = q("$skiptoken");
                let page: Vec<&String> = g
                    .members
                    .iter()
                    .filter(|m| after.as_ref().is_none_or(|a| m.as_str() > a.as_str()))
                    .take(top.min(self.graph_page))
                    .collect();
                let mut v = json!({"value": page.iter().map(|m| json!({"@odata.type": "#microsoft.graph.user", "id": m})).collect::<Vec<_>>()});
                if let Some(last) = page.last().filter(|l| g.members.iter().any(|m| m > *l)) {
                    v["@odata.nextLink"] =
                        json!(format!("{GRAPH}/v1.0/groups/{id}/members?$select=id&$top={top}&$skiptoken={last}"));
                }
                answer(200, v)
            }
            (Method::Post, ["groups", id, "members", "$ref"]) => {
                let member =
                    body["@odata.id"].as_str().and_then(|s| s.rsplit('/').next()).expect("@odata.id").to_owned();
                let Some(g) = self.groups.get_mut(*id) else {
                    return gerr(404, "Request_ResourceNotFound", "no group");
                };
                if !g.members.insert(member) {
                    return gerr(
                        400,
                        "Request_BadRequest",
                        "One or more added object references already exist for the following modified properties: 'members'.",
                    );
                }
                answer(204, Value::Null)
            }
            (Method::Delete, ["groups", id, "members", member, "$ref"]) => {
                let Some(g) = self.groups.get_mut(*id) else {
                    return gerr(404, "Request_ResourceNotFound", "no group");
                };
                if !g.members.remove(*member) {
                    return gerr(404, "Request_ResourceNotFound", "not a member");
                }
                answer(204, Value::Null)
            }
            other => panic!("unexpected Graph request {other:?}"),
        }
    }

    /// A Graph group by displayName.
    pub fn group_named(&self, name: &str) -> Option<(&String, &GGroup)> {
        self.groups.iter().find(|(_, g)| g.name == name)
    }

    fn race(&mut self, req: &Request) {
        let Some(course) = req.url.strip_suffix(")/Enroll").and_then(|u| u.rsplit_once("Courses(")).map(|(_, c)| c)
        else {
            return;
        };
        let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap_or_default();
        let login = body["userLoginName"].as_str().unwrap_or_default().to_owned();
        if let Some(i) = self.races.iter().position(|(l, c)| l.eq_ignore_ascii_case(&login) && c == course) {
            self.races.remove(i);
            self.admin_enroll(&login, course);
        }
    }
}

impl Wire for Fake {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        if self.budget == 0 {
            return Err(HttpError::BudgetExhausted);
        }
        self.budget -= 1;
        self.requests += 1;
        let fault = self.script.pop_front().or_else(|| {
            (self.fault_every > 0 && self.requests.is_multiple_of(self.fault_every)).then(|| {
                match (self.requests / self.fault_every) % 3 {
                    0 => Fault::TooMany(7),
                    1 => Fault::Unavailable,
                    _ => Fault::Lost,
                }
            })
        });
        let retried = self.last_faulted.take();
        if !matches!(fault, None | Some(Fault::Pass)) {
            self.last_faulted = Some(req.url.clone());
        }
        match fault {
            Some(Fault::TooMany(secs)) => {
                let mut r = error(429, "TooManyRequests");
                r.headers.push(("Retry-After".into(), secs.to_string()));
                Ok(r)
            }
            Some(Fault::Unavailable) => Ok(error(503, "ServiceUnavailable")),
            Some(Fault::Pass) => Ok(self.handle(&req)),
            Some(Fault::Lost) => {
                self.handle(&req);
                Err(HttpError::Timeout)
            }
            None => {
                if retried.as_deref() != Some(req.url.as_str()) {
                    self.race(&req);
                }
                Ok(self.handle(&req))
            }
        }
    }
}
