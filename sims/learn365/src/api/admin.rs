//! The `/_sim` surface (no authentication, never faulted, not counted): state inspection, the admin
//! actions the public API lacks (deleting a course, training-plan course lists, learner progress, resets, Entra group
//! membership, Graph token expiry), fault settings and statistics. Bodies and answers are camelCase JSON.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Request, Response, Sim, bodies};
use crate::faults::{FaultConfig, Faults};
use crate::model::{
    CourseType, Error, GroupUpdate, NewCourse, NewLink, PassingStatus, ProgressUpdate, Result, now, parse_at,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimCatalog {
    title: String,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimCourse {
    title: String,
    #[serde(default)]
    course_type: Option<String>,
    #[serde(default)]
    catalog_id: Option<String>,
    /// The visible code (`CourseID`), not the GUID.
    #[serde(default, alias = "code")]
    course_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enrollment_flow: Option<String>,
    /// Training plans only: initial courses (required, added now).
    #[serde(default)]
    courses: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimLink {
    course_id: String,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimRequired {
    required: bool,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimProgress {
    user: String,
    course_id: String,
    status: String,
    #[serde(default)]
    progress: Option<u8>,
    #[serde(default)]
    at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimRetake {
    user: String,
    course_id: String,
    #[serde(default)]
    keep_course_progress: bool,
    #[serde(default)]
    at: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    bodies::parse(bodies::object(body, true)?)
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

impl Sim {
    pub(super) fn handle_admin(&mut self, req: &Request<'_>) -> Result<Response> {
        let segments: Vec<String> = req
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .skip(1)
            .map(|s| super::routes::percent_decode(s).unwrap_or_else(|| s.to_string()))
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let s = &mut self.state;
        Ok(match (req.method, segs.as_slice()) {
            ("GET", ["state"]) => {
                let mut snapshot = s.snapshot();
                snapshot["graphGroups"] = self.graph.snapshot(&self.state);
                Response::json(200, snapshot)
            }
            ("POST", ["reset"]) => {
                self.reset();
                Response::empty(204)
            }
            ("POST", ["catalogs"]) => {
                let body: SimCatalog = parse(req.body)?;
                let id = s.create_catalog(&body.title, body.id.as_deref(), now())?;
                let c = s.catalog(&id)?;
                Response::json(201, json!({"id": c.id, "title": c.title}))
            }
            ("POST", ["courses"]) => {
                let body: SimCourse = parse(req.body)?;
                Response::json(201, self.create_course_sim(body)?)
            }
            ("DELETE", ["courses", id]) => {
                s.delete_course(id, now())?;
                Response::empty(204)
            }
            ("POST", ["training-plans", tp, "courses"]) => {
                let body: SimLink = parse(req.body)?;
                let at = parse_at(body.at.as_deref())?;
                let course = s.course_by_id_or_code(&body.course_id)?.id.clone();
                let link =
                    s.add_plan_course(tp, NewLink { course_id: course, required: body.required.unwrap_or(true), at })?;
                Response::json(201, link.to_sim())
            }
            ("PATCH", ["training-plans", tp, "courses", course]) => {
                let body: SimRequired = parse(req.body)?;
                let at = parse_at(body.at.as_deref())?;
                let course = s.course_by_id_or_code(course)?.id.clone();
                Response::json(200, s.set_plan_course_required(tp, &course, body.required, at)?.to_sim())
            }
            ("POST", ["progress"]) => {
                let body: SimProgress = parse(req.body)?;
                let status = PassingStatus::parse(&body.status).ok_or_else(|| {
                    Error::bad_request(format!("status '{}' is not NotStarted, InProgress or Completed", body.status))
                })?;
                let at = parse_at(body.at.as_deref())?;
                let id = s.learner_enrollment(&body.user, &body.course_id)?;
                s.set_progress(&id, ProgressUpdate { status, progress: body.progress, at })?;
                Response::json(200, s.enrollment_sim(s.enrollment(&id)?))
            }
            ("POST", ["retake"]) => {
                let body: SimRetake = parse(req.body)?;
                let at = parse_at(body.at.as_deref())?;
                let id = s.learner_enrollment(&body.user, &body.course_id)?;
                s.retake(&id, body.keep_course_progress, at)?;
                Response::json(200, s.enrollment_sim(s.enrollment(&id)?))
            }
            ("GET", ["groups"]) => Response::json(200, json!(s.groups().map(|g| g.to_sim()).collect::<Vec<_>>())),
            ("POST", ["groups"]) => {
                let body: GroupUpdate = parse(req.body)?;
                let (id, created) = s.set_group(body, now())?;
                let group = s.principal(&id).map(|g| g.to_sim()).unwrap_or_default();
                Response::json(if created { 201 } else { 200 }, group)
            }
            ("DELETE", ["groups", oid]) => {
                s.delete_group(oid, now())?;
                Response::empty(204)
            }
            ("GET", ["faults"]) => Response::json(200, fault_json(self.faults.config())),
            ("POST", ["faults"]) => {
                let config: FaultConfig = if req.body.iter().all(u8::is_ascii_whitespace) {
                    FaultConfig::default()
                } else {
                    serde_json::from_slice(req.body)
                        .map_err(|e| Error::bad_request(format!("invalid fault settings: {e}")))?
                };
                config.validate().map_err(Error::bad_request)?;
                let resp = Response::json(200, fault_json(&config));
                self.faults = Faults::new(config);
                resp
            }
            ("GET", ["stats"]) => {
                let mut stats = self.stats.to_json();
                stats["graphTokensIssued"] = json!(self.graph.tokens_issued());
                Response::json(200, stats)
            }
            ("POST", ["stats", "reset"]) => {
                self.stats = super::Stats::default();
                self.graph.reset_token_count();
                Response::empty(204)
            }
            ("POST", ["graph", "expire-tokens"]) => {
                self.graph.expire_tokens();
                Response::empty(204)
            }
            _ => Response::error(404, "NotFound", &format!("no route for {} {}", req.method, req.path)),
        })
    }

    fn create_course_sim(&mut self, body: SimCourse) -> Result<Value> {
        let kind = body.course_type.as_deref().unwrap_or("ELearning");
        let course_type = CourseType::parse(kind).ok_or_else(|| {
            Error::bad_request(format!("courseType '{kind}' is not ELearning, ClassRoom, Webinar or TrainingPlan"))
        })?;
        if course_type != CourseType::TrainingPlan && !body.courses.is_empty() {
            return Err(Error::bad_request("only a training plan has courses"));
        }
        let s = &mut self.state;
        let mut links = Vec::new();
        for key in &body.courses {
            let course = s.course_by_id_or_code(key)?;
            if course.is_tp() {
                return Err(Error::bad_request("a training plan cannot contain another training plan"));
            }
            if links.contains(&course.id) {
                return Err(Error::bad_request(format!("course '{key}' is listed twice")));
            }
            links.push(course.id.clone());
        }
        let mut new = NewCourse::new(body.title, course_type);
        new.catalog_id = body.catalog_id;
        new.code = body.course_id;
        new.description = body.description;
        new.enrollment_flow = body.enrollment_flow;
        let at = now();
        let id = s.create_course(new, at)?;
        for course_id in links {
            s.add_plan_course(&id, NewLink { course_id, required: true, at })?;
        }
        Ok(s.course(&id)?.to_sim())
    }
}
