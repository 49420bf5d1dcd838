//! The Learn365 target end to end: Entra-shaped SCIM requests → the real `gateway serve` → the
//! `learn365` plugin (a real component) → the Learn365 simulator (`sims/learn365`, a real HTTP server
//! with Basic API keys and Learn365's training-plan logic). Acceptance scenarios AT-13..AT-21
//! (`plans.rs`), users, mappings and sources (`lifecycle.rs`), and a randomized run checked against a
//! model after every change, with and without injected faults (`random.rs`).

mod assigner;
mod assigner_more;
mod lifecycle;
mod plans;
mod random;

use crate::common::proc::*;
use crate::common::{Backend, ScimClient};
use crate::ispring::Sim;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
pub const TARGET: &str = "learn365";
pub const KEY: &str = "sim-full-key";

/// The Learn365 simulator, started empty.
pub async fn learn365(args: &[&str]) -> L365 {
    L365(Sim::spawn(&learn365_sim_bin(), args))
}

/// The simulator with the calls these tests make as a Learn365 admin would.
pub struct L365(pub Sim);

/// A user's claims login, as Learn365 knows them.
pub fn claims(upn: &str) -> String {
    format!("i:0#.f|membership|{}", upn.to_lowercase())
}

impl L365 {
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.0.http.request(method, format!("{}{path}", self.0.origin));
        if path.starts_with("/odata/") {
            rb = rb.basic_auth("api", Some(KEY));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("the simulator answers");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    /// A call that must succeed; returns the body.
    pub async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self.send(method.clone(), path, body).await;
        assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
        v
    }

    pub async fn course(&self, title: &str) -> String {
        let v = self.ok(reqwest::Method::POST, "/_sim/courses", Some(json!({"title": title}))).await;
        v["id"].as_str().expect("course id").to_owned()
    }

    pub async fn plan(&self, title: &str, courses: &[&str]) -> String {
        let body = json!({"title": title, "courseType": "TrainingPlan", "courses": courses});
        let v = self.ok(reqwest::Method::POST, "/_sim/courses", Some(body)).await;
        v["id"].as_str().expect("plan id").to_owned()
    }

    /// The admin adds a course to a training plan (T5).
    pub async fn add_to_plan(&self, plan: &str, course: &str) -> Value {
        let path = format!("/_sim/training-plans/{plan}/courses");
        self.ok(reqwest::Method::POST, &path, Some(json!({"courseId": course}))).await
    }

    /// The admin sets a plan course's *required for completion* flag (T6).
    pub async fn required(&self, plan: &str, course: &str, required: bool) {
        let path = format!("/_sim/training-plans/{plan}/courses/{course}");
        self.ok(reqwest::Method::PATCH, &path, Some(json!({"required": required}))).await;
    }

    /// The learner's status in a course ("Completed", "InProgress" with a percentage).
    pub async fn progress(&self, upn: &str, course: &str, status: &str, progress: Option<u32>) {
        let mut body = json!({"user": claims(upn), "courseId": course, "status": status});
        if let Some(p) = progress {
            body["progress"] = json!(p);
        }
        self.ok(reqwest::Method::POST, "/_sim/progress", Some(body)).await;
    }

    /// The admin resets a learner's progress in a plan (retake).
    pub async fn retake(&self, upn: &str, plan: &str) {
        self.ok(reqwest::Method::POST, "/_sim/retake", Some(json!({"user": claims(upn), "courseId": plan}))).await;
    }

    /// An individual enrollment made in Learn365 by its admin (not by the gateway).
    pub async fn enroll_directly(&self, upn: &str, course: &str) {
        let body = json!({"userLoginName": claims(upn), "ignoreEnrollmentFlow": true});
        self.ok(reqwest::Method::POST, &format!("/odata/v2/Courses({course})/Enroll"), Some(body)).await;
    }

    pub async fn faults(&self, faults: Value) {
        self.ok(reqwest::Method::POST, "/_sim/faults", Some(faults)).await;
    }

    pub async fn state(&self) -> State {
        State(self.ok(reqwest::Method::GET, "/_sim/state", None).await)
    }
}

/// A snapshot of the simulator (`GET /_sim/state`), read by UPN and course id.
pub struct State(pub Value);

impl State {
    fn arr(&self, k: &str) -> &Vec<Value> {
        self.0[k].as_array().unwrap_or_else(|| panic!("state.{k}: {}", self.0))
    }

    pub fn user(&self, upn: &str) -> Option<&Value> {
        let login = claims(upn);
        self.arr("users").iter().find(|u| u["loginName"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(&login)))
    }

    /// The user's enrollment in `course` (a course or a plan), active or not.
    pub fn enrollment(&self, upn: &str, course: &str) -> Option<&Value> {
        let login = claims(upn);
        self.arr("enrollments").iter().find(|e| {
            e["principalType"] == "user"
                && e["courseId"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(course))
                && e["loginName"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(&login))
        })
    }

    pub fn active(&self, upn: &str, course: &str) -> bool {
        self.enrollment(upn, course).is_some_and(|e| e["active"] == true)
    }

    /// Every course and plan the user is actively enrolled in.
    pub fn active_items(&self, upn: &str) -> BTreeSet<String> {
        let login = claims(upn);
        self.arr("enrollments")
            .iter()
            .filter(|e| e["active"] == true && e["loginName"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(&login)))
            .filter_map(|e| e["courseId"].as_str().map(str::to_lowercase))
            .collect()
    }

    /// The user as a learner of `plan`: status, progress, lockedCourses, courses.
    pub fn learner(&self, upn: &str, plan: &str) -> &Value {
        let login = claims(upn);
        self.arr("trainingPlanLearners")
            .iter()
            .find(|l| {
                l["trainingPlanId"].as_str().is_some_and(|p| p.eq_ignore_ascii_case(plan))
                    && l["loginName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&login))
            })
            .unwrap_or_else(|| panic!("{upn} is no learner of {plan}: {}", self.0["trainingPlanLearners"]))
    }

    pub fn locked(&self, upn: &str, plan: &str, course: &str) -> bool {
        self.learner(upn, plan)["lockedCourses"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c.as_str().is_some_and(|c| c.eq_ignore_ascii_case(course))))
    }

    /// The user's notifications as (kind, course id).
    pub fn notifications(&self, upn: &str) -> Vec<(String, String)> {
        let login = claims(upn);
        self.arr("notifications")
            .iter()
            .filter(|n| n["loginName"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(&login)))
            .map(|n| (n["kind"].as_str().unwrap_or("").to_owned(), n["courseId"].as_str().unwrap_or("").to_lowercase()))
            .collect()
    }
}

/// One scenario's world: simulator, gateway, tenant and a `learn365` target.
pub struct Rig {
    pub sim: L365,
    pub env: TestEnv,
    pub gw: GatewayProc,
    pub tenant: String,
    pub scim: ScimClient,
}

impl Rig {
    /// A gateway with a `learn365` target configured with `config` (`baseUrl` added).
    pub async fn new(backend: Backend, label: &str, sim: L365, config: Value) -> Option<Rig> {
        Rig::with(backend, label, sim, config, &[], &[]).await
    }

    /// [`Rig::new`] with more target credentials (`name=value`) and gateway environment (e.g. a
    /// virtual clock).
    pub async fn with(
        backend: Backend,
        label: &str,
        sim: L365,
        config: Value,
        credentials: &[String],
        gw_env: &[(&str, &str)],
    ) -> Option<Rig> {
        let env = TestEnv::new(backend, label).await?;
        let (tenant, token) = env.create_tenant().await;
        env.add_plugin("learn365", "learn365").await;
        let cfg = with_base(&sim, config);
        let (cfg, credential) = (cfg.to_string(), format!("learn365=api:{KEY}"));
        let mut args = vec!["target", "add", "--tenant", &tenant, "--name", TARGET, "--plugin", "learn365"];
        args.extend(["--config", &cfg, "--allow-host", sim.origin(), "--allow-http", "--allow-private"]);
        args.extend(["--credential", &credential]);
        for c in credentials {
            args.extend(["--credential", c.as_str()]);
        }
        let out = env.cli(&args).await;
        assert!(out.status.success(), "target add: {}{}", out.stdout, out.stderr);
        let gw = GatewayProc::spawn(&env, "gw", gw_env).await;
        let scim = gw.scim(&tenant, &token);
        Some(Rig { sim, env, gw, tenant, scim })
    }

    /// Waits until every change is translated and every operation delivered, none dead.
    pub async fn synced(&self) -> State {
        self.env.caught_up(&self.tenant, TARGET, &self.gw, false).await;
        self.sim.state().await
    }

    pub async fn configure(&self, config: Value) {
        self.env.reconfigure(&self.tenant, TARGET, &with_base(&self.sim, config)).await;
    }

    /// Runs the plugin's `apply-mappings` job now and waits for its operations.
    pub async fn apply_mappings(&self) -> State {
        let asked =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
        let out = self.env.cli(&["target", "run-job", "--tenant", &self.tenant, TARGET, "apply-mappings"]).await;
        assert!(out.status.success(), "run-job: {}{}", out.stdout, out.stderr);
        // The scheduler runs it within a second; continuation calls follow until it is done.
        poll("apply-mappings to finish", WAIT, Duration::from_millis(100), async || {
            let jobs = self.env.cli_json(&["target", "jobs", "--tenant", &self.tenant, TARGET]).await;
            let job = jobs.as_array()?.iter().find(|j| j["name"] == "apply-mappings")?.clone();
            (job["run_ms"].is_null() && job["last_finished_ms"].as_i64().is_some_and(|t| t >= asked)).then_some(job)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.gw.log_tail(30)));
        self.synced().await
    }

    /// The plugin's admin resource at `path` (`gateway target resource … GET path`).
    pub async fn resource(&self, path: &str) -> Value {
        self.env.cli_json(&["target", "resource", "--tenant", &self.tenant, TARGET, "GET", path]).await
    }

    pub async fn user(&self, upn: &str) -> String {
        self.scim.create_user(upn).await
    }

    pub async fn group(&self, name: &str) -> String {
        self.scim.create_group(name).await
    }

    pub async fn add(&self, group: &str, users: &[&str]) {
        let value: Vec<Value> = users.iter().map(|u| json!({"$ref": null, "value": u})).collect();
        self.scim
            .patch_ok(&format!("/Groups/{group}"), json!([{"op": "Add", "path": "members", "value": value}]))
            .await;
    }

    pub async fn remove(&self, group: &str, users: &[&str]) {
        let value: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
        self.scim
            .patch_ok(&format!("/Groups/{group}"), json!([{"op": "Remove", "path": "members", "value": value}]))
            .await;
    }
}

fn with_base(sim: &L365, config: Value) -> Value {
    let mut cfg = json!({"baseUrl": sim.origin()});
    if let (Some(c), Some(extra)) = (cfg.as_object_mut(), config.as_object()) {
        c.extend(extra.clone());
    }
    cfg
}

/// `courseMappings` with one entry.
pub fn mapping(group: &str, courses: &[&str], plans: &[&str]) -> Value {
    json!({"courseMappings": [{"group": group, "courses": courses, "trainingPlans": plans}]})
}
