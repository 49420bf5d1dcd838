//! The `assigner-refresh` job: the data refresh (A4) that builds the snapshot the maintenance and the
//! previews evaluate profiles on.
//!
//! **When.** Declared with cron `*/5 * * * *`. A run refreshes when (a) settings exist and there is no
//! snapshot yet (the first refresh comes at most 5 minutes after the settings are saved, AT-32a, and
//! again every 5 minutes until one succeeds), or (b) its scheduled time is minute 0 of an hour of
//! `settings.schedule.refresh` (UTC), or (c) its scheduled time is off the job's 5-minute grid, i.e. an
//! admin's `gateway target run-job`. Otherwise it returns at once ("nothing due").
//!
//! **What.** In phases, each call within the host's limits for job calls (≤ 16 requests, ≤ 16 MiB of
//! kv writes, 10¹⁰ fuel; this job writes ≤ 8 MiB and reads ≤ 5,000 directory users per call), going
//! on with `continue-with`:
//! 1. `GET /odata/v2/Users` (all pages): who is present in Learn365 (A3, Q21), kept as login keys
//!    (`codec::login_key`) of their `DirectoryObjectId` and login; groups (`PrincipalType` other than
//!    `User`) left out;
//! 2. `GET /odata/v2/Courses` (all pages): the tenant's courses and which are training plans;
//! 3. `GET /odata/v2/Enrollments` (all pages): each active enrollment becomes a snapshot `e` line keyed
//!    by the login key of `UserLoginName`, with the completion date (when `CoursePassingStatus` is
//!    `Completed`; without a date: the epoch) and the due date, written straight into the new
//!    generation (`as:s:<generation>:e:…`); cancelled and rejected enrollments left out. The
//!    maintenance's decoder joins them to the users, so no later call reads them back;
//! 4. a pass over the gateway's directory (`directory.list-users`) that discovers the **custom fields**:
//!    every string attribute of a SCIM extension schema other than the enterprise one (e.g.
//!    `urn:ietf:params:scim:schemas:extension:<app>:2.0:User`, as Entra sends directory extensions)
//!    becomes the field `custom:<attribute name>` (names compared ignoring case; the first spelling
//!    met wins); it is a **date** field when every non-empty value it has parses as an RFC 3339 date
//!    or date-time (`YYYY-MM-DD` included), else a string field;
//! 5. a second directory pass writing the snapshot: each user with an Entra objectId (`externalId`)
//!    found in Learn365 (by objectId, else by login) becomes a snapshot user keyed by the objectId
//!    (lower case): `active`, City, Company, Department, Country, Office, Position (SCIM title), Email,
//!    Title (display name) as the plugin sends them to Learn365 (L1), the custom fields, and the login
//!    key of their Learn365 login. Chunks `as:s:<generation>:…` (the engine's codec) and identities
//!    `as:i:<generation>:…` (objectId, SCIM id, UPN, display name). Each call reads back only the
//!    presence keys of phase 1 (16 bytes per Learn365 user);
//! 6. the switch: the tenant's fields (`as:tf:<generation>`) and `as:snap` name the new generation: the
//!    maintenance and the previews see either the old snapshot or the new one, whole; a refresh that
//!    fails half-way leaves the last one in place;
//! 7. the old generation and the refresh's temporary keys are deleted.
//!
//! The first refresh of a tenant e-mails the settings' contact. Each run is recorded (`assigner/runs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use scimgw_plugin_sdk::{JobResult, PluginError, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::net::Net;
use super::store::{self, Ident, Note, RunRecord, SnapMeta, chunk_key, rfc3339};
use crate::assigner::codec::{Encoder, login_key};
use crate::assigner::{Activity, Field, FieldType, MAX_CHUNK, TenantFields, UserRecord, pack, time};
use crate::config::guid;
use crate::deliver::Wire;
use crate::state::{self, Env, Identity};

pub const JOB: &str = "assigner-refresh";
pub const CRON: &str = "*/5 * * * *";
/// kv bytes a call writes before it goes on in the next one (the host allows 16 MiB to a job call).
const WRITES: usize = 8 << 20;
/// Learn365 rows one call reads before it goes on in the next one (the 16 requests usually stop it
/// first: a page is 100 rows at the simulator, up to 1,000 at Learn365).
const ROWS: usize = 20_000;
/// Directory users per page; pages one call reads when discovering fields (~90k fuel per user) and
/// when writing the snapshot (~130k fuel per user, besides ~300 per Learn365 user read back).
const DIR_PAGE: u32 = 500;
const DISCOVER_PAGES: usize = 10;
const BUILD_PAGES: usize = 10;
/// kv deletes one call makes at most while cleaning up.
const DELETES: usize = 2_000;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum Phase {
    #[default]
    Users,
    Courses,
    Enrollments,
    Fields,
    Build,
    Clean,
}

/// A custom field being discovered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Disc {
    name: String,
    /// Every non-empty value so far is a date.
    date: bool,
    /// Some non-empty value was seen.
    any: bool,
}

#[derive(Serialize, Deserialize, Default, Debug)]
struct Cursor {
    generation: String,
    started: u64,
    phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// Temporary, snapshot and enrollment (`e`) chunk numbers.
    #[serde(default)]
    seq: u32,
    #[serde(default)]
    sseq: u32,
    #[serde(default)]
    eseq: u32,
    #[serde(default)]
    users: usize,
    #[serde(default)]
    l365_users: usize,
    #[serde(default)]
    courses: usize,
    #[serde(default)]
    enrollments: usize,
    /// Custom fields by lower-case name.
    #[serde(default)]
    fields: BTreeMap<String, Disc>,
    /// No snapshot before this one.
    #[serde(default)]
    first: bool,
}

fn hour_minute(ms: u64) -> (u8, u64) {
    (((ms / 3_600_000) % 24) as u8, (ms / 60_000) % 60)
}

/// Whether a run at `scheduled` refreshes (module doc).
pub fn due(env: &impl Env, scheduled: u64) -> Result<Result<(), String>, PluginError> {
    let Some(settings) = store::settings(env)? else {
        return Ok(Err("nothing due: no Assigner settings yet (PUT assigner/settings)".into()));
    };
    if store::snap_meta(env)?.is_none() {
        return Ok(Ok(()));
    }
    let (hour, minute) = hour_minute(scheduled);
    let manual = !scheduled.is_multiple_of(300_000);
    if manual || (minute == 0 && settings.schedule.refresh.contains(&hour)) {
        return Ok(Ok(()));
    }
    Ok(Err(format!("nothing due: the data refresh runs at minute 0 of hours {:?} (UTC)", settings.schedule.refresh)))
}

/// One call of a run.
pub fn run<E: Env, W: Wire>(
    env: &mut E,
    net: &mut Net<'_, W>,
    scheduled: u64,
    now: u64,
    cursor: Option<&str>,
) -> Result<JobResult, PluginError> {
    let mut c: Cursor = match cursor {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| PluginError::InvalidInput(format!("cannot read the job's cursor: {e}")))?,
        None => {
            if let Err(why) = due(env, scheduled)? {
                return Ok(JobResult { operations: Vec::new(), continue_with: None, summary: Some(why) });
            }
            let generation = format!("{scheduled:013}");
            // What an earlier, failed run of the same time left (a retried call's writes are dropped by
            // the host; a run that failed for good is not).
            for prefix in
                [store::snap_prefix(&generation), store::ids_prefix(&generation), store::tmp_prefix(&generation)]
            {
                for k in state::all_keys(env, &prefix) {
                    env.delete(&k);
                }
            }
            Cursor { generation, started: now, first: store::snap_meta(env)?.is_none(), ..Cursor::default() }
        }
    };
    let mut written = 0usize;
    loop {
        let more = match c.phase {
            Phase::Users | Phase::Courses | Phase::Enrollments => read_learn365(env, net, &mut c, &mut written)?,
            Phase::Fields => discover(env, &mut c)?,
            Phase::Build => build(env, &mut c, &mut written)?,
            Phase::Clean => return clean(env, &c, scheduled, now),
        };
        if more {
            let text = state::to_json(&c)?;
            return Ok(JobResult { operations: Vec::new(), continue_with: Some(text), summary: None });
        }
    }
}

fn tmp(c: &Cursor, kind: &str) -> String {
    format!("{}{kind}:", store::tmp_prefix(&c.generation))
}

/// Stores lines as temporary chunks of `kind`.
fn keep_lines(env: &mut impl Env, c: &mut Cursor, kind: &str, lines: Vec<String>) -> Result<usize, PluginError> {
    let mut n = 0;
    for chunk in pack(lines, MAX_CHUNK).map_err(PluginError::Internal)? {
        n += chunk.len() + 40;
        env.set(&chunk_key(&tmp(c, kind), c.seq), chunk)?;
        c.seq += 1;
    }
    Ok(n)
}

fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// Phases 1–3: pages of Learn365 users, courses and enrollments. Returns whether to go on in a new call.
fn read_learn365<E: Env, W: Wire>(
    env: &mut E,
    net: &mut Net<'_, W>,
    c: &mut Cursor,
    written: &mut usize,
) -> Result<bool, PluginError> {
    let mut rows = 0;
    // The course indexes of `e` lines: the courses phase's list, as the build's header will have it.
    let mut enc: Option<Encoder> = None;
    loop {
        if rows >= ROWS || net.left == 0 || *written > WRITES {
            return Ok(true);
        }
        if c.phase == Phase::Enrollments && enc.is_none() {
            let (courses, _) = load_courses(env, c);
            enc = Some(Encoder::new(time_of(&c.generation), &[], &courses).map_err(PluginError::Internal)?);
        }
        let (what, kind, first) = match c.phase {
            Phase::Users => ("Learn365 users", "u", "Users?$select=LoginName,DirectoryObjectId,PrincipalType"),
            Phase::Courses => ("Learn365 courses", "c", "Courses?$select=Id,CourseType"),
            _ => (
                "Learn365 enrollments",
                "e",
                "Enrollments?$select=CourseId,UserLoginName,CompletionDate,DueDate,CoursePassingStatus,RegistrationStatus",
            ),
        };
        let page = net.l365_page(what, c.next.as_deref().unwrap_or(first))?;
        rows += page.value.len().max(1);
        let mut lines = Vec::new();
        for v in &page.value {
            match c.phase {
                Phase::Users => {
                    if text(v, "PrincipalType").is_some_and(|t| !t.eq_ignore_ascii_case("user")) {
                        continue;
                    }
                    let oid = text(v, "DirectoryObjectId").and_then(guid).unwrap_or_default();
                    let login = text(v, "LoginName").unwrap_or_default().to_lowercase();
                    if oid.is_empty() && login.is_empty() {
                        continue;
                    }
                    c.l365_users += 1;
                    let key = |s: &str| if s.is_empty() { 0 } else { login_key(s) };
                    lines.push(format!("{:016x}\t{:016x}", key(&oid), key(&login)));
                }
                Phase::Courses => {
                    let Some(id) = text(v, "Id").and_then(guid) else { continue };
                    c.courses += 1;
                    lines.push(format!("{id}\t{}", text(v, "CourseType").unwrap_or_default()));
                }
                _ => {
                    if let Some((login, course, a)) = enrollment(v)
                        && let Some(line) = enc.as_ref().and_then(|e| e.enrollment_line(login_key(&login), &course, a))
                    {
                        c.enrollments += 1;
                        lines.push(line);
                    }
                }
            }
        }
        *written += if c.phase == Phase::Enrollments {
            let prefix = format!("{}e:", store::snap_prefix(&c.generation));
            let mut n = 0;
            for chunk in pack(lines, MAX_CHUNK).map_err(PluginError::Internal)? {
                n += chunk.len() + 40;
                env.set(&chunk_key(&prefix, c.eseq), chunk)?;
                c.eseq += 1;
            }
            n
        } else {
            keep_lines(env, c, kind, lines)?
        };
        c.next = page.next;
        if c.next.is_none() {
            c.phase = match c.phase {
                Phase::Users => Phase::Courses,
                Phase::Courses => Phase::Enrollments,
                _ => Phase::Fields,
            };
            if c.phase == Phase::Fields {
                return Ok(rows > ROWS / 4);
            }
        }
    }
}

/// `(login, course, activity)` of an active enrollment.
fn enrollment(v: &Value) -> Option<(String, String, Activity)> {
    let status = text(v, "RegistrationStatus").unwrap_or_default().to_ascii_lowercase();
    if ["cancelled", "canceled", "rejected"].contains(&status.as_str()) {
        return None;
    }
    let course = text(v, "CourseId").and_then(guid)?;
    let login = text(v, "UserLoginName")?.to_owned();
    let passing = match v.get("CoursePassingStatus") {
        Some(Value::String(s)) => Some(s.replace(' ', "").eq_ignore_ascii_case("completed")),
        Some(Value::Number(n)) => Some(n.as_i64() == Some(0)),
        _ => None,
    };
    let date = text(v, "CompletionDate").and_then(time::parse);
    let completed = match passing {
        Some(true) => Some(date.unwrap_or(0)),
        Some(false) => None,
        None => date,
    };
    let due = text(v, "DueDate").and_then(time::parse);
    Some((login, course, Activity { completed_at: completed, due }))
}

/// The custom attributes of a SCIM document: (name, value) of every string attribute of an
/// extension schema other than the enterprise one.
fn custom_attributes(scim_json: &str) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(scim_json).unwrap_or(Value::Null);
    let mut out = Vec::new();
    if let Value::Object(top) = doc {
        for (schema, v) in top {
            if !schema.starts_with("urn:") || schema == ENTERPRISE || schema == CORE {
                continue;
            }
            if let Value::Object(attrs) = v {
                for (name, value) in attrs {
                    if let Value::String(s) = value
                        && !name.trim().is_empty()
                    {
                        out.push((name.trim().to_owned(), s.trim().to_owned()));
                    }
                }
            }
        }
    }
    out
}

/// Phase 4: custom fields, from the directory.
fn discover(env: &mut impl Env, c: &mut Cursor) -> Result<bool, PluginError> {
    let mut seen = 0;
    for _ in 0..DISCOVER_PAGES {
        let (users, next) = env.list_users(c.next.as_deref(), DIR_PAGE);
        seen += users.len();
        for u in &users {
            for (name, value) in custom_attributes(&u.scim_json) {
                let d = c.fields.entry(name.to_lowercase()).or_insert(Disc { name, date: true, any: false });
                if !value.is_empty() {
                    d.any = true;
                    d.date &= value.len() >= 10 && time::parse(&value).is_some();
                }
            }
        }
        c.next = next;
        if c.next.is_none() {
            c.phase = Phase::Build;
            // The build goes on in this call only after a small pass (fuel).
            return Ok(seen > DIR_PAGE as usize / 2);
        }
    }
    Ok(true)
}

fn fields_of(c: &Cursor) -> Vec<Field> {
    c.fields
        .values()
        .map(|d| Field::new(&d.name, if d.any && d.date { FieldType::Date } else { FieldType::String }))
        .collect()
}

/// A map keyed by login keys (already hashes: used as they are).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Keyed<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Who is present in Learn365 (phase 1), loaded for the build: objectId key → login key, login keys.
struct Read {
    by_oid: Keyed<u64>,
    logins: Keyed<()>,
    courses: Vec<String>,
    plans: BTreeSet<String>,
}

/// The courses read in phase 2, in order, without repeats; and the training plans.
fn load_courses(env: &impl Env, c: &Cursor) -> (Vec<String>, BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    let (mut courses, mut plans) = (Vec::new(), BTreeSet::new());
    for line in store::load_lines(env, &tmp(c, "c")) {
        let (id, kind) = line.split_once('\t').unwrap_or((&line, ""));
        if seen.insert(id.to_owned()) {
            courses.push(id.to_owned());
            if kind.eq_ignore_ascii_case("TrainingPlan") {
                plans.insert(id.to_owned());
            }
        }
    }
    (courses, plans)
}

fn load_read(env: &impl Env, c: &Cursor) -> Read {
    let (courses, plans) = load_courses(env, c);
    let mut r = Read { by_oid: Keyed::default(), logins: Keyed::default(), courses, plans };
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    for key in state::all_keys(env, &tmp(c, "u")) {
        for line in env.get(&key).unwrap_or_default().lines() {
            let (oid, login) = line.split_once('\t').unwrap_or((line, ""));
            let (oid, login) = (hex(oid), hex(login));
            if oid != 0 {
                r.by_oid.insert(oid, login);
            }
            if login != 0 {
                r.logins.insert(login, ());
            }
        }
    }
    r
}

/// A directory user as a snapshot user, if present in Learn365 with an objectId.
/// With the login key its enrollments (`e` lines) are joined by.
fn record(u: &User, read: &Read, fields: &[Field]) -> Option<(UserRecord, Ident, u64)> {
    let id = Identity::of(u);
    let oid = id.oid.clone()?;
    let own = login_key(&id.login);
    let login = match read.by_oid.get(&login_key(&oid)) {
        Some(&l) if l != 0 => l,
        Some(_) => own,
        None if read.logins.contains_key(&own) => own,
        None => return None,
    };
    let mut rec = UserRecord { id: oid, active: u.active, ..UserRecord::default() };
    for (source, v) in [
        ("City", &id.city),
        ("Company", &id.company),
        ("Department", &id.dept),
        ("Country", &id.country),
        ("Office", &id.office),
        ("Position", &id.job),
        ("Email", &id.email),
        ("Title", &id.title),
    ] {
        if let Some(v) = v {
            rec.fields.insert(source.to_owned(), v.clone());
        }
    }
    for (name, value) in custom_attributes(&u.scim_json) {
        let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(&name)) else { continue };
        let key = format!("custom:{}", f.name);
        match f.kind {
            FieldType::String if !value.is_empty() => {
                rec.fields.insert(key, value);
            }
            FieldType::Date => {
                if let Some(t) = time::parse(&value) {
                    rec.dates.insert(key, t);
                }
            }
            FieldType::String => {}
        }
    }
    let ident = Ident { scim: u.id.clone(), upn: u.user_name.trim().to_owned(), name: id.title.unwrap_or_default() };
    Some((rec, ident, login))
}

/// Phase 5 (and 6 at its end): the snapshot's chunks from the directory.
fn build(env: &mut impl Env, c: &mut Cursor, written: &mut usize) -> Result<bool, PluginError> {
    let read = load_read(env, c);
    let fields = fields_of(c);
    let enc = Encoder::new(time_of(&c.generation), &fields, &read.courses).map_err(PluginError::Internal)?;
    let (snap, ids) = (store::snap_prefix(&c.generation), store::ids_prefix(&c.generation));
    let mut lines = Vec::new();
    let mut idents = Vec::new();
    if c.sseq == 0 {
        lines.extend(enc.header_lines());
    }
    let mut finished = false;
    for _ in 0..BUILD_PAGES {
        let (users, next) = env.list_users(c.next.as_deref(), DIR_PAGE);
        for u in &users {
            let Some((rec, ident, login)) = record(u, &read, &fields) else { continue };
            let mut line = String::new();
            enc.user_line_keyed(&rec, login, &mut line).map_err(PluginError::Internal)?;
            lines.push(line);
            idents.push(store::ident_line(&rec.id, &ident));
            c.users += 1;
        }
        c.next = next;
        if c.next.is_none() {
            finished = true;
            break;
        }
        if lines.iter().map(String::len).sum::<usize>() * 2 > WRITES {
            break;
        }
    }
    for (prefix, list) in [(&snap, lines), (&ids, idents)] {
        for chunk in pack(list, MAX_CHUNK).map_err(PluginError::Internal)? {
            *written += chunk.len() + 40;
            let seq = if *prefix == snap { &mut c.sseq } else { &mut c.seq };
            env.set(&chunk_key(prefix, *seq), chunk)?;
            *seq += 1;
        }
    }
    if !finished {
        return Ok(true);
    }
    // The switch: fields, then the meta naming the new generation.
    let tf = TenantFields { fields, courses: Some(read.courses.iter().cloned().collect()) };
    store::save_blob(env, &store::fields_key(&c.generation), &tf)?;
    let meta = SnapMeta {
        generation: c.generation.clone(),
        taken_at: rfc3339(time_of(&c.generation) as u64 * 1000),
        users: c.users,
        courses: read.courses.len(),
        training_plans: read.plans,
    };
    state::save(env, store::SNAP, &meta)?;
    if c.first
        && let Some(s) = store::settings(env)?
    {
        let text = format!(
            "The first Assigner data refresh is done ({} users present in Learn365, {} courses). Profiles are \
             evaluated on it from the next maintenance (hours {:?} UTC).",
            c.users, meta.courses, s.schedule.maintenance
        );
        store::queue_notes(
            env,
            vec![Note {
                kind: "assigner-refresh".into(),
                to: Some(s.contact_email.clone()),
                subject: "Assigner: the first data refresh is done".into(),
                text,
            }],
        )?;
    }
    c.phase = Phase::Clean;
    c.next = None;
    Ok(false)
}

/// The snapshot's time: the run's scheduled time (the generation), in seconds.
fn time_of(generation: &str) -> i64 {
    (generation.parse::<u64>().unwrap_or(0) / 1000) as i64
}

/// Phase 7: delete the old generations and the temporary keys; send the notifications; record the run.
fn clean(env: &mut impl Env, c: &Cursor, scheduled: u64, now: u64) -> Result<JobResult, PluginError> {
    let mut deleted = 0;
    for prefix in ["as:s:", "as:i:", "as:tf:", "as:t:"] {
        for k in state::all_keys(env, prefix) {
            let generation = k[prefix.len()..].split([':', '/']).next().unwrap_or_default();
            if prefix != "as:t:" && generation == c.generation {
                continue;
            }
            if deleted >= DELETES {
                let text = state::to_json(c)?;
                return Ok(JobResult { operations: Vec::new(), continue_with: Some(text), summary: None });
            }
            env.delete(&k);
            deleted += 1;
        }
    }
    if store::send_notes(env, 5)? {
        let text = state::to_json(c)?;
        return Ok(JobResult { operations: Vec::new(), continue_with: Some(text), summary: None });
    }
    let summary = format!(
        "data refresh: {} users present in Learn365 and the directory (of {} Learn365 users), {} courses, {} enrollments, {} custom fields",
        c.users,
        c.l365_users,
        c.courses,
        c.enrollments,
        c.fields.len()
    );
    let rec = RunRecord {
        kind: "refresh".into(),
        scheduled_at: rfc3339(scheduled),
        started_at: rfc3339(c.started),
        finished_at: rfc3339(now),
        result: "ok".into(),
        summary: Some(summary.clone()),
        profiles: Vec::new(),
    };
    store::record_run(env, now, &rec)?;
    Ok(JobResult { operations: Vec::new(), continue_with: None, summary: Some(summary) })
}
