//! The Assigner's kv layout and records (all keys start with `as:`, apart from the plugin's own):
//!
//! | key | written by | value |
//! |---|---|---|
//! | `as:settings` | admin | [`Settings`] |
//! | `as:p:<id>` | admin, maintenance | a [`Profile`] (the maintenance saves A7 and A8 changes) |
//! | `as:snap` | refresh | [`SnapMeta`]: the current snapshot's generation, time, counts |
//! | `as:s:<generation>:<seq>` | refresh | the snapshot's chunks (engine codec, ≤ 64 KiB each) |
//! | `as:i:<generation>:<seq>` | refresh | the snapshot's identities: lines `objectId␉scimId␉upn␉displayName` |
//! | `as:tf:<generation>/…` | refresh | the snapshot's [`TenantFields`] (blob) |
//! | `as:used/…` | maintenance | the [`TenantFields`] the last maintenance used (A8's "previous cycle") |
//! | `as:t:<generation>:…` | refresh | what a refresh in progress has read (Learn365 users, courses, enrollments) |
//! | `as:lock` | maintenance | [`Lock`]: a maintenance is running (member lists answer 423) |
//! | `as:g:<profile>` | maintenance | [`GroupRef`]: the profile's Entra group |
//! | `as:cur:<profile>:<seq>` | maintenance | the group's members as read from Graph (during a run) |
//! | `as:plan:<profile>/…` | maintenance | [`PlanRec`]: the run's decision for the profile (during a run) |
//! | `as:ml:<profile>/…` | maintenance | [`MemberList`]: the member list the last maintenance wrote |
//! | `as:pe:<profile>/…` | maintenance | [`Applied`]: the users and courses the profile's source was last applied to |
//! | `as:nq/…` | maintenance, refresh | notifications waiting to be sent (≤ 5 per call) |
//! | `as:run/…` | maintenance, refresh | the [`RunRecord`] of the run in progress |
//! | `as:r:<finished ms>:<kind>` | maintenance, refresh | a finished run's record (the last 50 kept) |
//!
//! A *blob* (`key/0000`, `key/0001`, …) is a text longer than a kv value, cut at character boundaries.

use std::collections::{BTreeMap, BTreeSet};

use scimgw_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

use crate::assigner::{Decoder, Profile, Settings, Snapshot, TenantFields};
use crate::state::{self, Env};

pub const SETTINGS: &str = "as:settings";
pub const PROFILE_PREFIX: &str = "as:p:";
pub const SNAP: &str = "as:snap";
pub const USED: &str = "as:used";
pub const LOCK: &str = "as:lock";
pub const NOTES: &str = "as:nq";
pub const RUN: &str = "as:run";
pub const RUNS_PREFIX: &str = "as:r:";
/// Finished runs kept.
pub const KEEP_RUNS: usize = 50;
/// A blob's pieces (under the 64 KiB kv value limit).
const PIECE: usize = 60_000;

pub fn profile_key(id: &str) -> String {
    format!("{PROFILE_PREFIX}{id}")
}
pub fn snap_prefix(generation: &str) -> String {
    format!("as:s:{generation}:")
}
pub fn ids_prefix(generation: &str) -> String {
    format!("as:i:{generation}:")
}
pub fn fields_key(generation: &str) -> String {
    format!("as:tf:{generation}")
}
pub fn tmp_prefix(generation: &str) -> String {
    format!("as:t:{generation}:")
}
pub fn group_key(profile: &str) -> String {
    format!("as:g:{profile}")
}
pub fn current_prefix(profile: &str) -> String {
    format!("as:cur:{profile}:")
}
pub fn plan_key(profile: &str) -> String {
    format!("as:plan:{profile}")
}
pub fn members_key(profile: &str) -> String {
    format!("as:ml:{profile}")
}
pub fn applied_key(profile: &str) -> String {
    format!("as:pe:{profile}")
}
/// A numbered chunk key: `<prefix><seq, 6 digits>`.
pub fn chunk_key(prefix: &str, seq: u32) -> String {
    format!("{prefix}{seq:06}")
}

/// `as:snap`: the snapshot the maintenance and the previews use.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapMeta {
    /// The generation (the refresh run's scheduled time, ms): the chunk keys' infix.
    pub generation: String,
    /// When the refresh read the tenant (RFC 3339).
    pub taken_at: String,
    pub users: usize,
    pub courses: usize,
    /// Courses that are training plans (`CourseType` `TrainingPlan`): enrolled as such.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub training_plans: BTreeSet<String>,
}

/// `as:lock`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    /// The maintenance run (scheduled time, ms) that holds it.
    pub run: u64,
    pub since: String,
}

/// `as:g:<profile>`: the profile's Entra group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub id: String,
    pub display_name: String,
    pub mail_nickname: String,
}

/// What a maintenance decided for one profile (`as:plan:<profile>`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanRec {
    /// Objectids to add to and remove from the group (empty unless applied).
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    /// The group's members once the maintenance is done (objectIds, sorted), the A6 members, when they
    /// are not the member list `as:ml:` (only a throttled profile's differ): a large tenant's lists are
    /// written once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

impl PlanRec {
    /// The group's members once the maintenance is done.
    pub fn after(&self, env: &impl Env, profile: &str) -> Result<Vec<String>, PluginError> {
        match &self.after {
            Some(a) => Ok(a.clone()),
            None => Ok(load_blob::<MemberList>(env, &members_key(profile))?.map(|l| l.members).unwrap_or_default()),
        }
    }
}

/// `as:ml:<profile>`: the member list file of the last maintenance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberList {
    /// Objectids, sorted.
    pub members: Vec<String>,
    pub throttled: bool,
    pub written_at: String,
}

/// `as:pe:<profile>`: where the profile's source `profile:<id>` was last applied (A6).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// SCIM user ids, sorted.
    pub users: Vec<String>,
    pub courses: Vec<String>,
}

/// A notification waiting to be sent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub subject: String,
    pub text: String,
}

/// One profile in a run record.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunProfile {
    pub id: String,
    pub title: String,
    /// Members added and removed (when throttled: the change computed, none applied).
    pub added: usize,
    pub removed: usize,
    pub throttled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Enrollment operations (A6) queued for the profile's members.
    #[serde(default)]
    pub enrollment_operations: usize,
}

/// A run of one of the Assigner's jobs (`assigner/runs`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// `refresh` or `maintenance`.
    pub kind: String,
    pub scheduled_at: String,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default)]
    pub profiles: Vec<RunProfile>,
}

/// RFC 3339 of a host time in ms.
pub fn rfc3339(ms: u64) -> String {
    crate::assigner::time::format((ms / 1000) as i64)
}

/// Reads a blob (`None`: never written).
pub fn get_blob(env: &impl Env, key: &str) -> Option<String> {
    let keys = state::all_keys(env, &format!("{key}/"));
    if keys.is_empty() {
        return None;
    }
    Some(keys.iter().filter_map(|k| env.get(k)).collect())
}

/// Writes a blob; returns the bytes written.
pub fn put_blob(env: &mut impl Env, key: &str, text: &str) -> Result<usize, PluginError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > PIECE {
        let mut cut = PIECE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    let prefix = format!("{key}/");
    for (i, p) in pieces.iter().enumerate() {
        env.set(&format!("{prefix}{i:04}"), (*p).to_owned())?;
    }
    let stale = format!("{prefix}{:04}", pieces.len() - 1);
    for k in state::all_keys(env, &prefix).into_iter().filter(|k| *k > stale) {
        env.delete(&k);
    }
    Ok(text.len() + pieces.len() * (prefix.len() + 4))
}

pub fn delete_blob(env: &mut impl Env, key: &str) {
    for k in state::all_keys(env, &format!("{key}/")) {
        env.delete(&k);
    }
}

pub fn load_blob<T: for<'de> Deserialize<'de>>(env: &impl Env, key: &str) -> Result<Option<T>, PluginError> {
    match get_blob(env, key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PluginError::Internal(format!("corrupt Assigner state under {key}: {e}"))),
    }
}

pub fn save_blob(env: &mut impl Env, key: &str, v: &impl Serialize) -> Result<usize, PluginError> {
    let text = state::to_json(v)?;
    put_blob(env, key, &text)
}

pub fn settings(env: &impl Env) -> Result<Option<Settings>, PluginError> {
    state::load(env, SETTINGS)
}

pub fn snap_meta(env: &impl Env) -> Result<Option<SnapMeta>, PluginError> {
    state::load(env, SNAP)
}

/// Every profile, by id.
pub fn profiles(env: &impl Env) -> Result<Vec<Profile>, PluginError> {
    let mut out = Vec::new();
    for key in state::all_keys(env, PROFILE_PREFIX) {
        if let Some(p) = state::load::<Profile>(env, &key)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// The fields and courses profiles are validated against: the current snapshot's, or (no refresh yet)
/// no custom field and courses unknown.
pub fn tenant_fields(env: &impl Env) -> Result<TenantFields, PluginError> {
    let Some(meta) = snap_meta(env)? else { return Ok(TenantFields::default()) };
    Ok(load_blob(env, &fields_key(&meta.generation))?.unwrap_or_default())
}

/// The current snapshot, decoded from its chunks.
pub fn load_snapshot(env: &impl Env, meta: &SnapMeta) -> Result<Snapshot, PluginError> {
    let mut dec = Decoder::default();
    for key in state::all_keys(env, &snap_prefix(&meta.generation)) {
        let chunk = env.get(&key).unwrap_or_default();
        dec.chunk(&chunk).map_err(|e| PluginError::Internal(format!("the Assigner's snapshot: {e}")))?;
    }
    dec.finish().map_err(|e| PluginError::Internal(format!("the Assigner's snapshot: {e}")))
}

/// A snapshot user's identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ident {
    pub scim: String,
    pub upn: String,
    pub name: String,
}

/// One identity line (tabs and line breaks in values become spaces).
pub fn ident_line(oid: &str, id: &Ident) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!("{}\t{}\t{}\t{}", clean(oid), clean(&id.scim), clean(&id.upn), clean(&id.name))
}

/// The snapshot's identities by objectId.
pub fn load_idents(env: &impl Env, meta: &SnapMeta) -> BTreeMap<String, Ident> {
    let mut out = BTreeMap::new();
    for key in state::all_keys(env, &ids_prefix(&meta.generation)) {
        for line in env.get(&key).unwrap_or_default().lines() {
            let mut f = line.split('\t');
            let oid = f.next().unwrap_or_default().to_owned();
            let id = Ident {
                scim: f.next().unwrap_or_default().to_owned(),
                upn: f.next().unwrap_or_default().to_owned(),
                name: f.next().unwrap_or_default().to_owned(),
            };
            out.insert(oid, id);
        }
    }
    out
}

/// Lines stored as chunks `<prefix><seq>`.
pub fn load_lines(env: &impl Env, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in state::all_keys(env, prefix) {
        out.extend(env.get(&key).unwrap_or_default().lines().map(str::to_owned));
    }
    out
}

/// Whether a maintenance holds the lock (a lock left by a run that failed is ignored after 2 hours).
pub fn locked(env: &impl Env, now_ms: u64) -> Result<Option<Lock>, PluginError> {
    let lock: Option<Lock> = state::load(env, LOCK)?;
    Ok(lock.filter(|l| now_ms < l.run.saturating_add(2 * 3_600_000)))
}

/// Stores a finished run and keeps the newest [`KEEP_RUNS`].
pub fn record_run(env: &mut impl Env, finished_ms: u64, rec: &RunRecord) -> Result<(), PluginError> {
    let key = format!("{RUNS_PREFIX}{finished_ms:015}:{}", rec.kind);
    let mut rec = rec.clone();
    rec.profiles.truncate(300);
    state::save(env, &key, &rec)?;
    let keys = state::all_keys(env, RUNS_PREFIX);
    if keys.len() > KEEP_RUNS {
        for k in &keys[..keys.len() - KEEP_RUNS] {
            env.delete(k);
        }
    }
    Ok(())
}

/// Finished runs, newest first, at most `limit`.
pub fn runs(env: &impl Env, limit: usize) -> Result<Vec<RunRecord>, PluginError> {
    let keys = state::all_keys(env, RUNS_PREFIX);
    let mut out = Vec::new();
    for k in keys.iter().rev().take(limit) {
        if let Some(r) = state::load::<RunRecord>(env, k)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Queues notifications (sent by the job's next calls, 5 per call).
pub fn queue_notes(env: &mut impl Env, notes: Vec<Note>) -> Result<(), PluginError> {
    if notes.is_empty() {
        return Ok(());
    }
    let mut all: Vec<Note> = load_blob(env, NOTES)?.unwrap_or_default();
    all.extend(notes);
    save_blob(env, NOTES, &all).map(drop)
}

/// Sends up to `max` queued notifications; returns whether some are still waiting.
pub fn send_notes(env: &mut impl Env, max: usize) -> Result<bool, PluginError> {
    let mut all: Vec<Note> = load_blob(env, NOTES)?.unwrap_or_default();
    if all.is_empty() {
        delete_blob(env, NOTES);
        return Ok(false);
    }
    let n = all.len().min(max);
    for note in all.drain(..n) {
        env.notify(note.to.as_deref(), &note.kind, &note.subject, &note.text)?;
    }
    if all.is_empty() {
        delete_blob(env, NOTES);
        Ok(false)
    } else {
        save_blob(env, NOTES, &all)?;
        Ok(true)
    }
}
