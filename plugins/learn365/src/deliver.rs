//! Delivery over Learn365's OData API v2 (`{baseUrl}/odata/v2/...`, `docs/spec/learn365.md` §2, §4.3; P4–P6). The host adds
//! `Authorization: Basic base64(api:<key>)` from the target credential `learn365`.
//!
//! | operation | request | outcome |
//! |---|---|---|
//! | `upsert-user` | `POST Users` with every L1 field and `IsDisabled` | 200/201: done, remote id `user` = Learn365 `Id` |
//! | `deactivate-user` (keepHistory delete) | `POST Users`, the last body with `IsDisabled: true` | done; the plugin forgets the user |
//! | `delete-user` (purge) | `POST Users('<login>')/Purge` | 202 (or 404: gone already): done |
//! | `l365.precheck` | `GET Enrollments?$filter=UserLoginName eq '<login>'` (all pages; past 10 pages, `CourseId eq <id> and …` per item) | records, per item about to be enrolled, the active enrollment found or "sending" |
//! | `enroll` | `POST Courses(<id>)/Enroll {"userLoginName", "ignoreEnrollmentFlow": true}` | 201: **ours**; 200: **theirs** (see below) |
//! | `unenroll` | ours: `POST Enrollments(<id>)/Cancel`; theirs: nothing | 204 (or 404: gone already): done |
//!
//! **Whose enrollment** (kv `d:<user>`, written only here, per user in delivery order): a 201 means the
//! plugin's Enroll created (or reactivated) it, a 200 that it was there before (direct, training plan,
//! admin), and only the plugin's own are ever cancelled. A retried Enroll whose first answer was lost
//! hears 200 about its own enrollment: a retry's kv writes are not kept, so the evidence must come from
//! before. The `l365.precheck` that translation puts before a user's enrolls records (committed) which
//! items had no active enrollment just before: "the kv says we sent it". So a 200 on attempt 2 or later
//! for an item the precheck saw without one is ours, unless it is a training-plan course enrollment
//! (Learn365's own). The precheck also skips the Enroll for items already held.
//!
//! **Training plans**: cancelling the plugin's training-plan enrollment makes Learn365 cancel the course
//! enrollments the plan made (T2). A course the user is still entitled to through another group, which
//! the plugin found made by a training plan, would go with it: after such a cancel the plugin looks
//! again and enrolls those courses itself (then ours).
//!
//! **Failures**: 429 and 5xx (and 408/425, timeouts, transport errors) are retried, honouring
//! `Retry-After`; 401/403 are retried too (a credential the admin can fix; the reason says which);
//! 409 is a conflict; other 4xx fail with Learn365's `code` and `message` (404 `CourseNotFound` names
//! the item and `courseMappings`). A 404 to a Cancel or a Purge is done (already gone).

use scimgw_plugin_sdk::http::{HttpError, Method, Request, Response};
use scimgw_plugin_sdk::log::Level;
use scimgw_plugin_sdk::outbound::{self, body_snippet, outcome_for_error, retry_after_secs};
use scimgw_plugin_sdk::{CustomOp, EnrollmentOp, Operation, Outcome, PluginError, Principal, RemoteId, Retry, UserOp};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::apply::{PRECHECK, Precheck};
use crate::config::{CREDENTIAL, Config, Kind};
use crate::state::{self, DeliverRec, Enr, Env, St, UserRec, claims, deliver_key, user_key};

/// Outbound HTTP (the host's `http.send`; an in-memory Learn365 in the tests).
pub trait Wire {
    fn send(&mut self, req: Request) -> Result<Response, HttpError>;
}

/// Pages of `Enrollments` one query reads at most, and items looked up one by one at most: a call may
/// make 16 requests (10 pages, then 3 items of usually one page each).
const MAX_PAGES: usize = 10;
const PER_ITEM: usize = 3;

/// An early end of a delivery: the outcome to report (kv writes of a non-`done` outcome are dropped).
type Step<T> = Result<T, Outcome>;

pub fn deliver<E: Env, W: Wire>(
    env: &mut E,
    wire: &mut W,
    config: &Config,
    attempt: u32,
    op: &Operation,
) -> Result<Outcome, PluginError> {
    let mut api = Api { env, wire, config, attempt, learned: Vec::new() };
    let result = match op {
        Operation::UpsertUser(u) => api.upsert(u),
        Operation::DeactivateUser(id) => api.retire(id),
        Operation::DeleteUser(id) => api.purge(id),
        Operation::Enroll(e) => api.enroll(user_of(e)?, e),
        Operation::Unenroll(e) => api.unenroll(user_of(e)?, e),
        Operation::Custom(c) if c.kind == PRECHECK => api.precheck(c),
        Operation::Custom(c) => return Ok(Outcome::Failed(format!("unknown operation kind `{}`", c.kind))),
        other => {
            return Err(PluginError::Unsupported(format!("the Learn365 plugin does not deliver `{}`", other.name())));
        }
    };
    Ok(match result {
        Ok(()) => Outcome::Done(api.learned),
        Err(outcome) => outcome,
    })
}

fn user_of(e: &EnrollmentOp) -> Result<&str, PluginError> {
    match &e.principal {
        Principal::User(id) => Ok(id),
        Principal::Group(_) => {
            Err(PluginError::Unsupported("group enrollments are not delivered: the plugin enrolls each member".into()))
        }
    }
}

/// An Enrollment as Learn365 answers it (only what the plugin reads).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Enrollment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub course_id: Option<String>,
    #[serde(default)]
    pub registration_status: Option<Value>,
    #[serde(default)]
    pub is_part_of_training_plan: Option<bool>,
}

impl Enrollment {
    /// Not cancelled or rejected (other states, known or not, count as held).
    pub fn active(&self) -> bool {
        match &self.registration_status {
            Some(Value::String(s)) => !["cancelled", "canceled", "rejected"].contains(&s.to_ascii_lowercase().as_str()),
            _ => true,
        }
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Enrollment>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<String>,
}

/// Percent-encodes everything but unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An OData string literal's content: `'` doubled.
pub fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

/// The error of a Learn365 or Graph answer (`{"error": {"code", "message"}}`) as ` (code): message`;
/// Entra ID's token errors by their `error_description`; else the body's start.
pub fn api_error(resp: &Response) -> String {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let e = v.get("error").unwrap_or(&v);
    let code = e.get("code").and_then(Value::as_str);
    let message = e.get("message").and_then(Value::as_str);
    let message = message.or_else(|| e.get("error_description").and_then(Value::as_str));
    match (code, message) {
        (Some(c), Some(m)) => format!(" ({c}): {}", body_snippet(m.as_bytes(), 200)),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(m)) => format!(": {}", body_snippet(m.as_bytes(), 200)),
        _ => {
            let s = body_snippet(&resp.body, 200);
            if s.is_empty() { String::new() } else { format!(": {s}") }
        }
    }
}

fn error_code(resp: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&resp.body).ok()?;
    v.get("error")?.get("code")?.as_str().map(str::to_owned)
}

/// The outcome of a refusal: retry (429, 5xx, 408, 425 with `Retry-After`; 401/403 for the admin to fix
/// the credential), conflict (409), failed (other statuses).
pub fn refusal(what: &str, resp: &Response) -> Outcome {
    let status = resp.status;
    let detail = api_error(resp);
    let retry = |reason: String| Outcome::Retry(Retry { after_secs: retry_after_secs(&resp.headers), reason });
    match status {
        408 | 425 | 429 | 500..=599 => retry(format!("{what}: Learn365 answered {status}{detail}")),
        401 => retry(format!(
            "{what}: Learn365 refused the API key (401){detail}; set the target credential `{CREDENTIAL}` to api:<key>"
        )),
        403 => retry(format!(
            "{what}: the API key may not do this (403){detail}; the `{CREDENTIAL}` credential needs a Full control key"
        )),
        409 => Outcome::Conflict(format!("{what}: Learn365 answered 409{detail}")),
        _ => Outcome::Failed(format!("{what}: Learn365 answered {status}{detail}")),
    }
}

struct Api<'a, E: Env, W: Wire> {
    env: &'a mut E,
    wire: &'a mut W,
    config: &'a Config,
    attempt: u32,
    learned: Vec<RemoteId>,
}

fn ok(resp: &Response) -> bool {
    (200..300).contains(&resp.status)
}

impl<E: Env, W: Wire> Api<'_, E, W> {
    fn url(&self, path: &str) -> String {
        format!("{}/odata/v2/{path}", self.config.base_url)
    }

    fn send(&mut self, method: Method, url: String, body: Option<&Value>) -> Step<Response> {
        let mut req = outbound::Request::new(method, url).basic(CREDENTIAL).header("Accept", "application/json");
        if let Some(body) = body {
            req = req.json_text(body.to_string());
        }
        self.wire.send(req.into_wit()).map_err(|e| outcome_for_error(&e))
    }

    fn log(&mut self, message: String) {
        self.env.log(Level::Info, &message);
    }

    fn record(&self, user: &str) -> Result<DeliverRec, Outcome> {
        state::load(&*self.env, &deliver_key(user))
            .map(Option::unwrap_or_default)
            .map_err(|e| Outcome::Failed(format!("{e:?}")))
    }

    fn keep(&mut self, user: &str, rec: &DeliverRec) -> Step<()> {
        state::save(self.env, &deliver_key(user), rec).map_err(|e| Outcome::Failed(format!("{e:?}")))
    }

    /// The login Learn365 knows the user by: as its last upsert answered, else as translated, else
    /// from the directory.
    fn login(&self, user: &str, rec: &DeliverRec) -> Option<String> {
        rec.login
            .clone()
            .or_else(|| state::load::<UserRec>(&*self.env, &user_key(user)).ok().flatten().map(|r| r.id.login))
            .or_else(|| self.env.user(user).filter(|u| !u.user_name.trim().is_empty()).map(|u| claims(&u.user_name)))
    }

    fn upsert(&mut self, u: &UserOp) -> Step<()> {
        let mut body: Map<String, Value> = match serde_json::from_str::<Value>(&u.fields_json) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        body.insert("LoginName".into(), json!(u.login));
        if let Some(e) = &u.email {
            body.insert("Email".into(), json!(e));
        }
        body.insert("IsDisabled".into(), json!(!u.active));
        let body = Value::Object(body);
        let resp = self.send(Method::Post, self.url("Users"), Some(&body))?;
        if !ok(&resp) {
            return Err(refusal(&format!("upsert of user {}", u.user_id), &resp));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            login_name: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&resp.body).unwrap_or(Answer { id: None, login_name: None });
        let mut rec = self.record(&u.user_id)?;
        rec.login = Some(answer.login_name.unwrap_or_else(|| u.login.clone()));
        if answer.id.is_some() {
            rec.rid = answer.id.clone();
        }
        rec.body = body.as_object().cloned();
        self.keep(&u.user_id, &rec)?;
        if let Some(id) = answer.id {
            self.learned.push(RemoteId { kind: "user".into(), local_id: u.user_id.clone(), remote_id: id });
        }
        Ok(())
    }

    /// keepHistory: the user stays in Learn365, disabled; the plugin forgets it.
    fn retire(&mut self, user: &str) -> Step<()> {
        let rec = self.record(user)?;
        if let Some(mut body) = rec.body.clone() {
            body.insert("IsDisabled".into(), json!(true));
            let resp = self.send(Method::Post, self.url("Users"), Some(&Value::Object(body)))?;
            if !ok(&resp) {
                return Err(refusal(&format!("disabling deleted user {user}"), &resp));
            }
        } else {
            self.log(format!("user {user} was never created in Learn365 by this target: nothing to disable"));
        }
        self.env.delete(&deliver_key(user));
        Ok(())
    }

    /// purge: the user, its enrollments, progress and notifications go.
    fn purge(&mut self, user: &str) -> Step<()> {
        let rec = self.record(user)?;
        let Some(login) = rec.login.clone() else {
            self.log(format!("user {user} was never created in Learn365 by this target: nothing to purge"));
            self.env.delete(&deliver_key(user));
            return Ok(());
        };
        let url = self.url(&format!("Users('{}')/Purge", enc(&quote(&login))));
        let resp = self.send(Method::Post, url, None)?;
        if !ok(&resp) && resp.status != 404 {
            return Err(refusal(&format!("purge of user {user}"), &resp));
        }
        self.env.delete(&deliver_key(user));
        Ok(())
    }

    /// The login's enrollments of `items`: its whole list (usually one request), or one query per item
    /// (`CourseId eq <id> and UserLoginName eq '<login>'`) when there are at most `per_item` items and
    /// `per_item_first` asks for it, or when the whole list is longer than [`MAX_PAGES`] pages.
    fn held(&mut self, login: &str, items: &[String], per_item: usize, per_item_first: bool) -> Step<Vec<Enrollment>> {
        let by_item = |api: &mut Self| -> Step<Vec<Enrollment>> {
            let mut out = Vec::new();
            for item in items {
                out.extend(api.enrollments(&format!("CourseId eq {item} and UserLoginName eq '{}'", quote(login)))?.0);
            }
            Ok(out)
        };
        if per_item_first && items.len() <= per_item {
            return by_item(self);
        }
        match self.enrollments(&format!("UserLoginName eq '{}'", quote(login)))? {
            (all, true) => Ok(all),
            (_, false) if items.len() <= per_item => by_item(self),
            (_, false) => Err(Outcome::Failed(format!(
                "the user has more enrollments than {MAX_PAGES} pages and {} items are to be checked",
                items.len()
            ))),
        }
    }

    /// The enrollments `filter` selects (following `@odata.nextLink`), and whether that was all of them
    /// (false: more than [`MAX_PAGES`] pages).
    fn enrollments(&mut self, filter: &str) -> Step<(Vec<Enrollment>, bool)> {
        let mut url = self.url(&format!("Enrollments?$filter={}", enc(filter)));
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(Method::Get, url.clone(), None)?;
            if !ok(&resp) {
                return Err(refusal("reading the user's enrollments", &resp));
            }
            let page: Page = serde_json::from_slice(&resp.body)
                .map_err(|e| Outcome::Failed(format!("Learn365's Enrollments answer is not the expected JSON: {e}")))?;
            out.extend(page.value);
            match page.next {
                None => return Ok((out, true)),
                Some(next) if next.starts_with(&self.config.base_url) => url = next,
                Some(_) => return Err(Outcome::Failed("Learn365's @odata.nextLink points to another host".into())),
            }
        }
        Ok((out, false))
    }

    /// Records, for each item about to be enrolled, the active enrollment the user has (with whose it
    /// is), or that there is none and the plugin is sending one.
    fn precheck(&mut self, c: &CustomOp) -> Step<()> {
        let p: Precheck = serde_json::from_str(&c.payload_json)
            .map_err(|e| Outcome::Failed(format!("malformed {PRECHECK} operation: {e}")))?;
        let mut rec = self.record(&p.user)?;
        let Some(login) = self.login(&p.user, &rec) else {
            self.log(format!("user {} is unknown: nothing to check", p.user));
            return Ok(());
        };
        let held = self.held(&login, &p.items, PER_ITEM, false)?;
        for item in &p.items {
            let found = held
                .iter()
                .find(|e| e.active() && e.course_id.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(item)));
            let prior = rec.enr.get(item);
            let next = match found {
                Some(e) => {
                    let ours = prior.is_some_and(|p| p.st == St::Ours && p.id == e.id);
                    let st = if ours { St::Ours } else { St::Theirs };
                    Enr { st, id: e.id.clone(), tp: e.is_part_of_training_plan.unwrap_or(false), chk: true }
                }
                None => Enr { st: St::Send, id: None, tp: false, chk: true },
            };
            rec.enr.insert(item.clone(), next);
        }
        self.keep(&p.user, &rec)
    }

    /// `POST Courses(<item>)/Enroll`: the enrollment, or the outcome of a refusal.
    fn post_enroll(&mut self, user: &str, login: &str, item: &str, kind: Kind) -> Step<(u16, Enrollment)> {
        let body = json!({"userLoginName": login, "ignoreEnrollmentFlow": true});
        let resp = self.send(Method::Post, self.url(&format!("Courses({})/Enroll", enc(item))), Some(&body))?;
        if ok(&resp) {
            return Ok((resp.status, serde_json::from_slice(&resp.body).unwrap_or_default()));
        }
        let what = format!("enrolling user {user} in {} {item}", kind.name());
        Err(match (resp.status, error_code(&resp).as_deref()) {
            (404, Some("CourseNotFound")) => Outcome::Failed(format!(
                "{what}: Learn365 has no such {} (404 CourseNotFound): check courseMappings",
                kind.name()
            )),
            (404, Some("UserNotFound")) => Outcome::Failed(format!(
                "{what}: Learn365 has no such user (404 UserNotFound); its upsert-user may have failed"
            )),
            _ => refusal(&what, &resp),
        })
    }

    fn enroll(&mut self, user: &str, e: &EnrollmentOp) -> Step<()> {
        let kind = Kind::from_name(&e.item_kind).unwrap_or(Kind::Course);
        let mut rec = self.record(user)?;
        let prior = rec.enr.get(&e.item).cloned();
        if let Some(p) = prior.as_ref().filter(|p| p.chk && p.st != St::Send) {
            // The precheck just saw it held: nothing to send.
            let mut held = p.clone();
            held.chk = false;
            rec.enr.insert(e.item.clone(), held);
            return self.keep(user, &rec);
        }
        let Some(login) = self.login(user, &rec) else {
            return Err(Outcome::Failed(format!("user {user} is unknown to the directory and to Learn365")));
        };
        let (status, got) = self.post_enroll(user, &login, &e.item, kind)?;
        let tp = got.is_part_of_training_plan.unwrap_or(false);
        let ours = status == 201
            || match &prior {
                // Our earlier attempt's answer was lost; the precheck saw none before it.
                Some(Enr { st: St::Send, chk: true, .. }) => self.attempt >= 2 && !tp,
                Some(Enr { st: St::Ours, id, .. }) => id.is_some() && *id == got.id,
                _ => false,
            };
        if !ours {
            self.log(format!("user {user} already had {} {}: not the plugin's, never cancelled", kind.name(), e.item));
        }
        rec.enr
            .insert(e.item.clone(), Enr { st: if ours { St::Ours } else { St::Theirs }, id: got.id, tp, chk: false });
        self.keep(user, &rec)
    }

    fn unenroll(&mut self, user: &str, e: &EnrollmentOp) -> Step<()> {
        let mut rec = self.record(user)?;
        let Some(held) = rec.enr.remove(&e.item) else {
            self.log(format!("user {user}: no enrollment in {} recorded (never delivered, or ended already)", e.item));
            return Ok(());
        };
        match (held.st, &held.id) {
            (St::Ours, Some(id)) => {
                let url = self.url(&format!("Enrollments({})/Cancel", enc(id)));
                let resp = self.send(Method::Post, url, None)?;
                if !ok(&resp) && resp.status != 404 {
                    return Err(refusal(&format!("cancelling user {user}'s enrollment in {}", e.item), &resp));
                }
                if e.item_kind == Kind::TrainingPlan.name() {
                    self.restore(user, &mut rec)?;
                }
            }
            (St::Theirs, _) => {
                self.log(format!("user {user}: {} was not enrolled by the plugin: left as it is", e.item))
            }
            _ => self.log(format!("user {user}: the enrollment in {} was never confirmed: nothing to cancel", e.item)),
        }
        self.keep(user, &rec)
    }

    /// After the plugin's training plan is cancelled: courses the user still holds through a group but
    /// that a training plan had made (and may have cancelled with it) are enrolled again, as ours.
    fn restore(&mut self, user: &str, rec: &mut DeliverRec) -> Step<()> {
        let made: Vec<String> =
            rec.enr.iter().filter(|(_, e)| e.st == St::Theirs && e.tp).map(|(item, _)| item.clone()).collect();
        if made.is_empty() {
            return Ok(());
        }
        let Some(login) = self.login(user, rec) else { return Ok(()) };
        let held = self.held(&login, &made, PER_ITEM, true)?;
        for item in made {
            let now = held
                .iter()
                .find(|e| e.active() && e.course_id.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(&item)));
            if let Some(e) = now {
                if !e.is_part_of_training_plan.unwrap_or(false) {
                    // No longer a plan's: made by this restore on an attempt whose answer was lost.
                    rec.enr.insert(item.clone(), Enr { st: St::Ours, id: e.id.clone(), tp: false, chk: false });
                }
                continue;
            }
            let (status, got) = self.post_enroll(user, &login, &item, Kind::Course)?;
            let tp = got.is_part_of_training_plan.unwrap_or(false);
            let st = if status == 201 { St::Ours } else { St::Theirs };
            self.log(format!("user {user}: {item} went with the cancelled training plan; enrolled again"));
            rec.enr.insert(item, Enr { st, id: got.id, tp, chk: false });
        }
        Ok(())
    }
}
