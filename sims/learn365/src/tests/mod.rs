//! In-process HTTP tests: the real actix app (`http::configure`) driven through actix-web's test
//! utilities, with helpers for the fixtures every scenario needs.

mod enrollments;
mod graph;
mod odata;
mod plans;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use base64::Engine;
use serde_json::{Value, json};

use crate::api::{Config, Sim};
use crate::http::{Shared, configure};

pub const FULL: &str = "sim-full-key";
pub const READ: &str = "sim-read-key";

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> String {
        let id = self.body.get("Id").or_else(|| self.body.get("id"));
        id.and_then(Value::as_str).unwrap_or_default().to_string()
    }
}

type Call = Box<dyn Fn(test::TestRequest) -> Pin<Box<dyn Future<Output = Resp>>>>;

/// The app plus a handle on the shared simulator (to check invariants).
pub struct Client {
    call: Call,
    shared: web::Data<Shared>,
}

fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("api:{key}")))
}

/// `path?k=v&...` with form encoding (spaces as `+`, quotes as `%27`).
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("{path}?{query}")
}

/// `Users('<login>')` with the key quoted and percent-encoded.
pub fn user_path(login: &str) -> String {
    let key: String = url::form_urlencoded::byte_serialize(login.replace('\'', "''").as_bytes()).collect();
    format!("/odata/v2/Users('{key}')")
}

pub fn claims(upn: &str) -> String {
    format!("i:0#.f|membership|{}", upn.to_lowercase())
}

impl Client {
    pub async fn new() -> Self {
        Self::with(Config::default()).await
    }

    pub async fn with(config: Config) -> Self {
        let shared = web::Data::new(Shared::new(Sim::new(config)));
        let app = Rc::new(test::init_service(App::new().configure(configure(shared.clone()))).await);
        let call: Call = Box::new(move |req: test::TestRequest| {
            let app = app.clone();
            Box::pin(async move {
                let res = test::call_service(&*app, req.to_request()).await;
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                let bytes = test::read_body(res).await;
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
                };
                Resp { status, body, headers }
            })
        });
        Self { call, shared }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>, key: Option<&str>) -> Resp {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = test::TestRequest::default().method(method).uri(path);
        if let Some(key) = key {
            req = req.insert_header(("Authorization", basic(key)));
        }
        if let Some(body) = body {
            req = req.insert_header(("Content-Type", "application/json")).set_payload(body.to_string());
        }
        (self.call)(req).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, Some(FULL)).await
    }

    /// `get` for a path built on the spot.
    pub async fn get_owned(&self, path: String) -> Resp {
        self.get(&path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        let body = if body.is_null() { None } else { Some(body) };
        self.send("POST", path, body, Some(FULL)).await
    }

    pub async fn sim(&self, method: &str, path: &str, body: Value) -> Resp {
        let body = if body.is_null() { None } else { Some(body) };
        self.send(method, &format!("/_sim/{path}"), body, None).await
    }

    pub async fn state(&self) -> Value {
        let resp = self.sim("GET", "state", Value::Null).await;
        assert_eq!(resp.status, 200);
        resp.body
    }

    pub fn check_invariants(&self) {
        let sim = self.shared.lock();
        if let Err(e) = sim.state().check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    // -----------------------------------------------------------------------
    // Fixtures

    /// Upserts a user; returns (id, login name).
    pub async fn user(&self, upn: &str) -> (String, String) {
        let oid = oid_of(upn);
        let resp = self
            .post(
                "/odata/v2/Users",
                json!({"LoginName": claims(upn), "DirectoryObjectId": oid, "Title": upn, "Email": upn}),
            )
            .await;
        assert!(resp.status == 201 || resp.status == 200, "{resp:?}");
        (resp.id(), claims(upn))
    }

    pub async fn course(&self, title: &str) -> String {
        self.course_of_type(title, "ELearning").await
    }

    pub async fn course_of_type(&self, title: &str, course_type: &str) -> String {
        let resp = self.sim("POST", "courses", json!({"title": title, "courseType": course_type})).await;
        assert_eq!(resp.status, 201, "{resp:?}");
        resp.id()
    }

    pub async fn plan(&self, title: &str, courses: &[&str]) -> String {
        let resp = self
            .sim("POST", "courses", json!({"title": title, "courseType": "TrainingPlan", "courses": courses}))
            .await;
        assert_eq!(resp.status, 201, "{resp:?}");
        resp.id()
    }

    pub async fn enroll(&self, course: &str, login: &str) -> Resp {
        self.post(
            &format!("/odata/v2/Courses({course})/Enroll"),
            json!({"userLoginName": login, "ignoreEnrollmentFlow": true}),
        )
        .await
    }

    /// Enrolls and returns the enrollment id, asserting 201.
    pub async fn enrolled(&self, course: &str, login: &str) -> String {
        let resp = self.enroll(course, login).await;
        assert_eq!(resp.status, 201, "{resp:?}");
        resp.id()
    }

    pub async fn progress(&self, login: &str, course: &str, status: &str, progress: Option<u8>) -> Resp {
        let mut body = json!({"user": login, "courseId": course, "status": status});
        if let Some(p) = progress {
            body["progress"] = json!(p);
        }
        self.sim("POST", "progress", body).await
    }

    pub async fn complete(&self, login: &str, course: &str) {
        let resp = self.progress(login, course, "Completed", None).await;
        assert_eq!(resp.status, 200, "{resp:?}");
    }

    pub async fn add_to_plan(&self, plan: &str, course: &str) -> Resp {
        self.sim("POST", &format!("training-plans/{plan}/courses"), json!({"courseId": course})).await
    }

    pub async fn cancel(&self, enrollment: &str) -> Resp {
        self.post(&format!("/odata/v2/Enrollments({enrollment})/Cancel"), json!({"message": "bye"})).await
    }
}

/// A stable fake Entra object id for a UPN.
pub fn oid_of(upn: &str) -> String {
    let hash = upn.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:08x}-0000-4000-8000-{:012x}", hash >> 32, hash & 0xffff_ffff_ffff)
}

// ---------------------------------------------------------------------------
// Views over /_sim/state

/// The row of a principal in a course, active or not.
pub fn row<'a>(state: &'a Value, user: &str, course: &str) -> Option<&'a Value> {
    state["enrollments"].as_array()?.iter().find(|e| e["principalId"] == user && e["courseId"] == course)
}

/// Whether the principal is actively enrolled in the course.
pub fn active(state: &Value, user: &str, course: &str) -> bool {
    row(state, user, course).is_some_and(|e| e["active"] == true)
}

pub fn sources(state: &Value, user: &str, course: &str) -> Vec<String> {
    row(state, user, course)
        .and_then(|e| e["sources"].as_array())
        .map(|s| s.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The learner's view of a training plan.
pub fn plan_view<'a>(state: &'a Value, plan: &str, user: &str) -> &'a Value {
    state["trainingPlanLearners"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["trainingPlanId"] == plan && p["userId"] == user))
        .unwrap_or(&Value::Null)
}

/// (kind, courseId) of the notifications logged for a user, in order.
pub fn notes(state: &Value, user: &str) -> Vec<(String, String)> {
    state["notifications"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter(|n| n["userId"] == user)
                .map(|n| {
                    (n["kind"].as_str().unwrap_or("").to_string(), n["courseId"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}
