//! The Assigner's admin resources, `…/resources/assigner/…` (`gateway target resource --tenant T
//! <target> METHOD assigner/…`). Errors are `{"detail": "…"}` (400 naming the field, 404, 405, 409);
//! while a maintenance holds the lock, writes and member-list downloads answer 423
//! `{"error": "tenant locked: …", "detail": …}` (the host also refuses writes during the exclusive job).
//!
//! | path | methods |
//! |---|---|
//! | `assigner/settings` | GET (404 until saved), PUT `{contactEmail, entraGroupPrefix, schedule?, excludeDisabledUsers?}` → 200 the stored settings |
//! | `assigner/profiles` | GET `{"profiles": [...]}` (by id), POST a profile (without `id`: one is made) → 201 |
//! | `assigner/profiles/{id}` | GET, PUT (full replace) → 200, DELETE → 200 (`state: deleted`; A7 at the next maintenance) |
//! | `assigner/profiles/{id}/clone` | POST → 201 a copy ("Copy of …") |
//! | `assigner/profiles/{id}/export` | GET: the profile as stored |
//! | `assigner/profiles/{id}/courses` | PUT `{"courses": [...], "enroll": bool}` → 200 the profile |
//! | `assigner/profiles/{id}/preview` | GET `{"members": [{id, upn, displayName}], "count", "offset", "snapshotAt"}` from the last snapshot (`?offset=`, `?limit=` 1,000 by default, ≤ 10,000; `count` is the whole) |
//! | `assigner/profiles/{id}/members`, `…/members.csv`, `…/members.xlsx` | GET the last maintenance's member list (JSON, paged like the preview; the whole list as CSV `{filename, contentType, text}` or Excel `{filename, contentType, base64}`) |
//! | `assigner/runs` | GET `{"runs": [...]}`, newest first (the last 50) |
//! | `assigner/status` | GET settings present, snapshot, lock, profiles, the last runs, the jobs |
//!
//! Profiles are validated against the fields and courses of the last data refresh. Before the first
//! refresh no custom field is known: rules on `custom:` fields, and so date rules, are refused until a
//! refresh has found such a field; courses are not checked until then.

use scimgw_plugin_sdk::{AdminMethod, AdminRequest, AdminResponse, PluginError, admin_error};
use serde::Deserialize;
use serde_json::{Value, json};

use super::maintain::{self, LOCK_MESSAGE};
use super::refresh;
use super::store::{self, MemberList};
use crate::assigner::{Engine, Profile, ProfileState, Settings, members, time, validate};
use crate::config::AssignerConfig;
use crate::state::{self, Env};
use crate::xlsx;

fn respond(status: u16, body: Value) -> AdminResponse {
    AdminResponse { status, body_json: body.to_string() }
}

fn locked() -> AdminResponse {
    respond(423, json!({"error": LOCK_MESSAGE, "detail": LOCK_MESSAGE}))
}

/// A 400 for the admin's mistake (the engine's messages name the field), other errors as they are.
fn bad(e: PluginError) -> Result<AdminResponse, PluginError> {
    match e {
        PluginError::InvalidInput(m) => Ok(admin_error(400, &m)),
        other => Err(other),
    }
}

fn body(req: &AdminRequest) -> Result<Value, AdminResponse> {
    let text = req.body_json.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        return Err(admin_error(400, "a JSON body is required"));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(admin_error(400, "the body must be a JSON object")),
        Err(e) => Err(admin_error(400, &format!("the body is not JSON: {e}"))),
    }
}

fn method_name(m: AdminMethod) -> &'static str {
    match m {
        AdminMethod::Get => "GET",
        AdminMethod::Post => "POST",
        AdminMethod::Put => "PUT",
        AdminMethod::Patch => "PATCH",
        AdminMethod::Delete => "DELETE",
    }
}

/// Answers `assigner/…` (`parts` without the leading `assigner`).
pub fn handle<E: Env>(
    env: &mut E,
    assigner: Option<&AssignerConfig>,
    req: &AdminRequest,
    parts: &[&str],
    now: u64,
) -> Result<AdminResponse, PluginError> {
    if assigner.is_none() {
        return Ok(admin_error(
            404,
            "the Assigner is off for this target: add \"assigner\": {} (optionally {\"graphBaseUrl\": …}) to its configuration",
        ));
    }
    let m = req.method;
    let write = m != AdminMethod::Get;
    let is_lock = store::locked(env, now)?.is_some();
    let allowed = |ok: &[AdminMethod]| ok.contains(&m);
    use AdminMethod::{Delete, Get, Post, Put};
    let wrong = || admin_error(405, &format!("{} is not allowed on assigner/{}", method_name(m), parts.join("/")));
    match parts {
        ["settings"] if allowed(&[Get, Put]) => {
            if write && is_lock {
                return Ok(locked());
            }
            settings(env, req)
        }
        ["profiles"] if allowed(&[Get, Post]) => {
            if m == Get {
                let list = store::profiles(env)?;
                return Ok(respond(200, json!({"profiles": list})));
            }
            if is_lock {
                return Ok(locked());
            }
            let v = match body(req) {
                Ok(v) => v,
                Err(r) => return Ok(r),
            };
            create(env, v, now, None)
        }
        ["profiles", id, rest @ ..] => {
            let Some(profile) = state::load::<Profile>(env, &store::profile_key(id))? else {
                return Ok(admin_error(404, &format!("no Assigner profile {id}")));
            };
            let rest: Vec<&str> = rest.to_vec();
            match (rest.as_slice(), m) {
                ([], Get) | (["export"], Get) => Ok(respond(200, serde_json::to_value(&profile).unwrap_or_default())),
                ([], Put) | ([], Delete) | (["clone"], Post) | (["courses"], Put) if is_lock => Ok(locked()),
                ([], Put) => {
                    let v = match body(req) {
                        Ok(v) => v,
                        Err(r) => return Ok(r),
                    };
                    replace(env, id, v)
                }
                ([], Delete) => {
                    let mut p = profile;
                    p.state = ProfileState::Deleted;
                    state::save(env, &store::profile_key(id), &p)?;
                    Ok(respond(200, serde_json::to_value(&p).unwrap_or_default()))
                }
                (["clone"], Post) => {
                    let mut v = serde_json::to_value(&profile).unwrap_or_default();
                    let title: String = format!("Copy of {}", profile.title.trim()).chars().take(200).collect();
                    v["title"] = json!(title);
                    v["state"] = json!("active");
                    if let Some(o) = v.as_object_mut() {
                        o.remove("id");
                    }
                    create(env, v, now, Some(id))
                }
                (["courses"], Put) => courses(env, profile, req),
                (["preview"], Get) => match window(req) {
                    Ok(w) => preview(env, &profile, w),
                    Err(r) => Ok(r),
                },
                (["members" | "members.csv" | "members.xlsx"], Get) if is_lock => Ok(locked()),
                (["members"], Get) => match window(req) {
                    Ok(w) => member_list(env, &profile, Format::Json(w)),
                    Err(r) => Ok(r),
                },
                (["members.csv"], Get) => member_list(env, &profile, Format::Csv),
                (["members.xlsx"], Get) => member_list(env, &profile, Format::Xlsx),
                ([] | ["export" | "clone" | "courses" | "preview" | "members" | "members.csv" | "members.xlsx"], _) => {
                    Ok(wrong())
                }
                _ => Ok(admin_error(404, &format!("no resource assigner/{}", parts.join("/")))),
            }
        }
        ["runs"] if m == Get => Ok(respond(200, json!({"runs": store::runs(env, store::KEEP_RUNS)?}))),
        ["status"] if m == Get => status(env, now),
        ["settings"] | ["profiles"] | ["runs"] | ["status"] => Ok(wrong()),
        _ => Ok(admin_error(
            404,
            &format!(
                "no resource assigner/{} (settings, profiles, profiles/<id>[/clone|export|courses|preview|members|members.csv|members.xlsx], runs, status)",
                parts.join("/")
            ),
        )),
    }
}

fn settings<E: Env>(env: &mut E, req: &AdminRequest) -> Result<AdminResponse, PluginError> {
    if req.method == AdminMethod::Get {
        return Ok(match store::settings(env)? {
            Some(s) => respond(200, serde_json::to_value(&s).unwrap_or_default()),
            None => admin_error(
                404,
                "no Assigner settings yet: PUT assigner/settings {\"contactEmail\", \"entraGroupPrefix\"}",
            ),
        });
    }
    let v = match body(req) {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let s = match Settings::parse(&v.to_string()).and_then(|s| s.check().map(|()| s)) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    state::save(env, store::SETTINGS, &s)?;
    Ok(respond(200, serde_json::to_value(&s).unwrap_or_default()))
}

/// An id for a new profile: `p` and the time in base 36, made unique.
fn new_id(env: &impl Env, now: u64) -> String {
    let mut n = now;
    let mut digits = Vec::new();
    loop {
        digits.push(std::char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let base: String = std::iter::once('p').chain(digits.into_iter().rev()).collect();
    let mut id = base.clone();
    let mut k = 2;
    while env.get(&store::profile_key(&id)).is_some() {
        id = format!("{base}-{k}");
        k += 1;
    }
    id
}

fn check(env: &impl Env, v: &Value) -> Result<Result<Profile, AdminResponse>, PluginError> {
    let p = match Profile::parse(&v.to_string()) {
        Ok(p) => p,
        Err(e) => return bad(e).map(Err),
    };
    let tenant = store::tenant_fields(env)?;
    if let Err(e) = validate(&p, &tenant) {
        return bad(e).map(Err);
    }
    Ok(Ok(p))
}

fn create<E: Env>(env: &mut E, mut v: Value, now: u64, from: Option<&str>) -> Result<AdminResponse, PluginError> {
    let id = match v.get("id") {
        None | Some(Value::Null) => new_id(env, now),
        Some(Value::String(id)) if from.is_none() => {
            if env.get(&store::profile_key(id)).is_some() {
                return Ok(admin_error(409, &format!("a profile {id} exists already; leave id out to make a new one")));
            }
            id.clone()
        }
        Some(_) => return Ok(admin_error(400, "invalid profile: id: a string (or leave it out)")),
    };
    v["id"] = json!(id);
    let p = match check(env, &v)? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    state::save(env, &store::profile_key(&p.id), &p)?;
    Ok(respond(201, serde_json::to_value(&p).unwrap_or_default()))
}

fn replace<E: Env>(env: &mut E, id: &str, mut v: Value) -> Result<AdminResponse, PluginError> {
    match v.get("id") {
        None | Some(Value::Null) => v["id"] = json!(id),
        Some(Value::String(s)) if s == id => {}
        Some(_) => return Ok(admin_error(400, &format!("invalid profile: id: the path names {id}"))),
    }
    let p = match check(env, &v)? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    state::save(env, &store::profile_key(id), &p)?;
    Ok(respond(200, serde_json::to_value(&p).unwrap_or_default()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Courses {
    courses: Vec<String>,
    enroll: bool,
}

fn courses<E: Env>(env: &mut E, mut profile: Profile, req: &AdminRequest) -> Result<AdminResponse, PluginError> {
    let v = match body(req) {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let c: Courses = match crate::assigner::model::parse("course assignment", &v.to_string()) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    profile.courses = c.courses;
    profile.enroll = c.enroll;
    let tenant = store::tenant_fields(env)?;
    if let Err(e) = validate(&profile, &tenant) {
        return bad(e);
    }
    state::save(env, &store::profile_key(&profile.id), &profile)?;
    Ok(respond(200, serde_json::to_value(&profile).unwrap_or_default()))
}

/// Members shown by a JSON answer: `?offset=` (0) and `?limit=` (1,000, at most 10,000); the count is
/// always the whole list's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Window {
    offset: usize,
    limit: usize,
}

fn window(req: &AdminRequest) -> Result<Window, AdminResponse> {
    let mut w = Window { offset: 0, limit: 1_000 };
    for (k, v) in &req.query {
        let n = |max: usize| match v.trim().parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(admin_error(400, &format!("{k} must be a whole number from 0 to {max}"))),
        };
        match k.as_str() {
            "offset" => w.offset = n(usize::MAX >> 1)?,
            "limit" => w.limit = n(10_000)?,
            _ => {}
        }
    }
    Ok(w)
}

fn member_json(idents: &std::collections::BTreeMap<String, store::Ident>, oid: &str) -> Value {
    let i = idents.get(oid);
    json!({"id": oid, "upn": i.map(|i| i.upn.clone()), "displayName": i.map(|i| i.name.clone())})
}

fn preview(env: &impl Env, profile: &Profile, w: Window) -> Result<AdminResponse, PluginError> {
    let Some(meta) = store::snap_meta(env)? else {
        return Ok(admin_error(409, "no data refresh yet: the preview is computed from the last data refresh"));
    };
    let snap = store::load_snapshot(env, &meta)?;
    let exclude_disabled = store::settings(env)?.is_none_or(|s| s.exclude_disabled_users);
    let mut engine = Engine::new(&snap);
    let compiled = match engine.compile(profile) {
        Ok(c) => c,
        Err(e) => return Ok(admin_error(409, &format!("the profile's rules do not fit the last data refresh: {e}"))),
    };
    let matching = engine.matching(&compiled);
    let bits = members(&snap, profile, &matching, exclude_disabled);
    let idents = store::load_idents(env, &meta);
    let list: Vec<Value> =
        bits.ones_iter().skip(w.offset).take(w.limit).map(|u| member_json(&idents, snap.id(u))).collect();
    let body = json!({"members": list, "count": bits.count(), "offset": w.offset, "snapshotAt": meta.taken_at});
    Ok(respond(200, body))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json(Window),
    Csv,
    Xlsx,
}

fn member_list(env: &impl Env, profile: &Profile, format: Format) -> Result<AdminResponse, PluginError> {
    let Some(list) = store::load_blob::<MemberList>(env, &store::members_key(&profile.id))? else {
        return Ok(admin_error(
            404,
            &format!("no member list for profile {} yet: a maintenance writes it", profile.id),
        ));
    };
    let idents = match store::snap_meta(env)? {
        Some(meta) => store::load_idents(env, &meta),
        None => Default::default(),
    };
    if let Format::Json(w) = format {
        let members: Vec<Value> =
            list.members.iter().skip(w.offset).take(w.limit).map(|m| member_json(&idents, m)).collect();
        let body = json!({"members": members, "count": list.members.len(), "offset": w.offset,
                          "throttled": list.throttled, "writtenAt": list.written_at});
        return Ok(respond(200, body));
    }
    let members: Vec<Value> = list.members.iter().map(|m| member_json(&idents, m)).collect();
    const COLUMNS: [&str; 3] = ["id", "upn", "displayName"];
    let name: String = profile.title.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let name = format!("{}-members", name.trim_matches('-').to_lowercase());
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| COLUMNS.iter().map(|k| m[*k].as_str().unwrap_or_default().to_owned()).collect())
        .collect();
    if format == Format::Xlsx {
        let at = time::parse(&list.written_at).unwrap_or(0);
        let file = xlsx::workbook(profile.title.trim(), &COLUMNS, &rows, at);
        let body = json!({"filename": format!("{name}.xlsx"), "contentType": xlsx::CONTENT_TYPE, "base64": xlsx::base64(&file)});
        return Ok(respond(200, body));
    }
    let mut text = COLUMNS.join(",") + "\n";
    for row in &rows {
        let fields: Vec<String> = row.iter().map(|v| csv_field(v)).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    Ok(respond(200, json!({"filename": format!("{name}.csv"), "contentType": "text/csv", "text": text})))
}

fn status(env: &impl Env, now: u64) -> Result<AdminResponse, PluginError> {
    let snapshot = store::snap_meta(env)?
        .map(|m| json!({"takenAt": m.taken_at, "users": m.users, "courses": m.courses, "generation": m.generation}));
    let lock = store::locked(env, now)?;
    let profiles = store::profiles(env)?;
    let active = profiles.iter().filter(|p| p.state == ProfileState::Active).count();
    Ok(respond(
        200,
        json!({
            "settings": store::settings(env)?.is_some(),
            "snapshot": snapshot,
            "locked": lock.is_some(),
            "lock": lock.map(|l| json!({"since": l.since, "run": store::rfc3339(l.run)})),
            "profiles": {"active": active, "deleted": profiles.len() - active},
            "lastRuns": store::runs(env, 5)?,
            "jobs": [
                {"name": refresh::JOB, "cron": refresh::CRON},
                {"name": maintain::JOB, "cron": maintain::CRON, "exclusive": true},
            ],
        }),
    ))
}
