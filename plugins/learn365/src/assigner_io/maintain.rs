//! The `assigner-maintenance` job (`docs/spec/assigner.md` §3 steps 1–9 as built in §5.5, A3, A5–A8):
//! profiles' Entra groups recomputed from the last data refresh.
//!
//! **When.** Declared with cron `0 * * * *`, **exclusive** (while a run is in progress the host
//! answers every admin write with 423 and the lock message). A run maintains when the hour of its
//! scheduled time is in `settings.schedule.maintenance` (UTC; default 0, 3, …, 21), or when its
//! scheduled time is not a whole hour (an admin's `gateway target run-job`); otherwise it returns at
//! once ("nothing due"), after dropping a lock a failed run left behind.
//!
//! **Phases** (each call within the host's limits, going on with `continue-with`):
//! 1. *start*: no snapshot → the run stops at once, recorded as `stopped: no data refresh yet` (AT-32b:
//!    no group is created); else the kv lock `as:lock` is set (member-list downloads answer 423 too);
//! 2. *groups*: for every active profile, its Entra group is found (`as:g:`, else by its
//!    `mailNickname`) or created (`displayName` = prefix + title, a security group), renamed when the
//!    title or the prefix changed since (`PATCH`), and its members are read (all pages) into
//!    `as:cur:<profile>:…`;
//! 3. *plan* (one call): the snapshot is decoded; A8 resolution against the fields the previous
//!    maintenance used (cleaned profiles saved; skipped profiles notified; errors logged); deleted
//!    profiles get `autoPopulate` and `enroll` false (A7); every profile's plan (engine `plan`: A3
//!    members, A5 throttling) is stored (`as:plan:`), and its member list (`as:ml:`: the computed
//!    members, also when throttled; the group's current members when it is not auto-populated,
//!    failed or skipped); throttled profiles e-mail the settings' contact;
//! 4. *apply*: members added 20 at a time (`PATCH groups/{id}` with `members@odata.bind`; one at a
//!    time with `POST …/members/$ref` for a batch Graph refuses because one is a member already) and
//!    removed (`DELETE …/$ref`), ≤ 16 requests per call;
//! 5. *enroll*: A6 ([`super::enroll`]);
//! 6. *notify*: the queued notifications, 5 per call;
//! 7. *finish*: the fields used are kept for the next A8, temporary keys deleted, the lock cleared,
//!    the run recorded (`assigner/runs`).
//!
//! A call that fails (a Graph or Learn365 error) is tried again by the host with the same cursor, its
//! kv writes dropped; a run that fails three times leaves the lock, which the next maintenance run
//! (hourly) drops, and which admin reads ignore two hours after the run's scheduled time.

use std::collections::BTreeMap;

use scimgw_plugin_sdk::log::Level;
use scimgw_plugin_sdk::{JobResult, PluginError};
use serde::{Deserialize, Serialize};

use super::enroll;
use super::net::{MAX_BIND, Net};
use super::store::{self, GroupRef, Lock, MemberList, Note, PlanRec, RunProfile, RunRecord, chunk_key, rfc3339};
use crate::assigner::{Engine, Outcome, Profile, ProfileState, Settings, plan, resolve};
use crate::config::Config;
use crate::deliver::Wire;
use crate::state::{self, Env};

pub const JOB: &str = "assigner-maintenance";
pub const CRON: &str = "0 * * * *";
pub const LOCK_MESSAGE: &str = "tenant locked: the Assigner's maintenance is running";

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    #[default]
    Groups,
    Plan,
    Apply,
    Enroll,
    Notify,
    Finish,
}

#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Cursor {
    pub started: u64,
    pub phase: Phase,
    /// The profile in progress (groups, apply, enroll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The next page of the group's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default)]
    pub seq: u32,
    /// Position in the profile's list (apply: changes; enroll: users).
    #[serde(default)]
    pub i: usize,
    #[serde(default)]
    pub ops: usize,
    /// Apply: changes before this position are added one at a time (a batch met a member already).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub single: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The Entra group's `mailNickname`: the name's letters and digits (others become `-`), at most 40,
/// then `-` and the profile id (at most 64 in all): unique per profile, so a creation whose answer
/// was lost is found again.
pub fn nickname(name: &str, profile: &str) -> String {
    let mut base: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' }).collect();
    base = base.trim_matches('-').chars().take(40).collect();
    let pid: String = profile.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    let mut out = if base.is_empty() { format!("assigner-{pid}") } else { format!("{base}-{pid}") };
    out.truncate(64);
    out
}

fn due(settings: Option<&Settings>, scheduled: u64) -> bool {
    let hours =
        settings.map(|s| s.schedule.maintenance.clone()).unwrap_or_else(|| crate::assigner::MAINTENANCE_HOURS.to_vec());
    let hour = ((scheduled / 3_600_000) % 24) as u8;
    !scheduled.is_multiple_of(3_600_000) || hours.contains(&hour)
}

fn result(cursor: Option<&Cursor>, summary: Option<String>) -> Result<JobResult, PluginError> {
    let continue_with = cursor.map(state::to_json).transpose()?;
    Ok(JobResult { operations: Vec::new(), continue_with, summary })
}

fn stop(env: &mut impl Env, scheduled: u64, now: u64, why: &str) -> Result<JobResult, PluginError> {
    let rec = RunRecord {
        kind: "maintenance".into(),
        scheduled_at: rfc3339(scheduled),
        started_at: rfc3339(now),
        finished_at: rfc3339(now),
        result: format!("stopped: {why}"),
        summary: None,
        profiles: Vec::new(),
    };
    store::record_run(env, now, &rec)?;
    result(None, Some(format!("maintenance stopped: {why}")))
}

/// One call of a run.
pub fn run<E: Env, W: Wire>(
    env: &mut E,
    net: &mut Net<'_, W>,
    config: &Config,
    scheduled: u64,
    now: u64,
    cursor: Option<&str>,
) -> Result<JobResult, PluginError> {
    let mut c: Cursor = match cursor {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| PluginError::InvalidInput(format!("cannot read the job's cursor: {e}")))?,
        None => {
            let lock: Option<Lock> = state::load(env, store::LOCK)?;
            if lock.is_some_and(|l| l.run != scheduled) {
                env.delete(store::LOCK);
                env.log(Level::Warn, "a lock left by an earlier maintenance that did not finish was dropped");
            }
            let settings = store::settings(env)?;
            if !due(settings.as_ref(), scheduled) {
                let hours = settings
                    .map(|s| s.schedule.maintenance)
                    .unwrap_or_else(|| crate::assigner::MAINTENANCE_HOURS.to_vec());
                return result(None, Some(format!("nothing due: the maintenance runs at hours {hours:?} (UTC)")));
            }
            if store::snap_meta(env)?.is_none() {
                return stop(env, scheduled, now, "no data refresh yet");
            }
            if settings.is_none() {
                return stop(env, scheduled, now, "no Assigner settings");
            }
            state::save(env, store::LOCK, &Lock { run: scheduled, since: rfc3339(now) })?;
            for prefix in ["as:cur:", "as:plan:"] {
                for k in state::all_keys(env, prefix) {
                    env.delete(&k);
                }
            }
            let rec = RunRecord {
                kind: "maintenance".into(),
                scheduled_at: rfc3339(scheduled),
                started_at: rfc3339(now),
                ..RunRecord::default()
            };
            store::save_blob(env, store::RUN, &rec)?;
            // This call only takes the lock: it is committed before any slow work starts, so
            // member-list downloads are refused for the whole run (the host refuses the writes).
            let c = Cursor { started: now, ..Cursor::default() };
            return Ok(JobResult { operations: Vec::new(), continue_with: Some(state::to_json(&c)?), summary: None });
        }
    };
    let mut ops = Vec::new();
    loop {
        let more = match c.phase {
            Phase::Groups => groups(env, net, &mut c)?,
            Phase::Plan => plan_all(env, &mut c, now)?,
            Phase::Apply => apply(env, net, &mut c)?,
            Phase::Enroll => enroll::run(env, config, &mut c, &mut ops)?,
            Phase::Notify => {
                if store::send_notes(env, 5)? {
                    true
                } else {
                    c.phase = Phase::Finish;
                    false
                }
            }
            Phase::Finish => {
                let summary = finish(env, &c, now)?;
                return Ok(JobResult { operations: ops, continue_with: None, summary: Some(summary) });
            }
        };
        if more {
            return Ok(JobResult { operations: ops, continue_with: Some(state::to_json(&c)?), summary: None });
        }
    }
}

/// The active profiles after `after` (by id).
fn next_profile(env: &impl Env, after: Option<&str>) -> Result<Option<Profile>, PluginError> {
    let mut from = after.map(store::profile_key);
    loop {
        let Some(key) = env.keys(store::PROFILE_PREFIX, from.as_deref(), 1).into_iter().next() else { return Ok(None) };
        if let Some(p) = state::load::<Profile>(env, &key)?
            && p.state == ProfileState::Active
        {
            return Ok(Some(p));
        }
        from = Some(key);
    }
}

/// Phase 2: each active profile's group, found or created, and its members read.
fn groups<E: Env, W: Wire>(env: &mut E, net: &mut Net<'_, W>, c: &mut Cursor) -> Result<bool, PluginError> {
    let settings =
        store::settings(env)?.unwrap_or_else(|| Settings::parse(r#"{"contactEmail":"x@x.x"}"#).expect("defaults"));
    loop {
        let profile = match &c.pid {
            Some(pid) => match state::load::<Profile>(env, &store::profile_key(pid))? {
                Some(p) => p,
                None => {
                    c.pid = next_profile(env, Some(pid))?.map(|p| p.id);
                    continue;
                }
            },
            None => match next_profile(env, None)? {
                Some(p) => {
                    c.pid = Some(p.id.clone());
                    p
                }
                None => {
                    c.phase = Phase::Plan;
                    return Ok(false);
                }
            },
        };
        let pid = profile.id.clone();
        let gkey = store::group_key(&pid);
        let mut group: Option<GroupRef> = state::load(env, &gkey)?;
        if group.is_none() {
            if net.left < 2 {
                return Ok(true);
            }
            let name = settings.group_name(&profile);
            let nick = nickname(&name, &pid);
            let (id, display_name, created) = match net.find_group(&nick)? {
                Some((id, found)) => (id, found, false),
                None => (net.create_group(&name, &nick, &format!("Assigner profile {pid}"))?, name, true),
            };
            let rec = GroupRef { id, display_name, mail_nickname: nick };
            state::save(env, &gkey, &rec)?;
            env.log(
                Level::Info,
                &format!("profile {pid}: Entra group {} {}", rec.id, if created { "created" } else { "found" }),
            );
            if created {
                env.set(&chunk_key(&store::current_prefix(&pid), 0), String::new())?;
                c.pid = next_profile(env, Some(&pid))?.map(|p| p.id);
                if c.pid.is_none() {
                    c.phase = Phase::Plan;
                    return Ok(false);
                }
                continue;
            }
            group = Some(rec);
        }
        let mut group = group.expect("set above");
        // A new title or prefix renames the group (its mailNickname, which finds it, stays).
        let name = settings.group_name(&profile);
        if group.display_name != name && c.next.is_none() {
            if net.left < 2 {
                return Ok(true);
            }
            if net.rename_group(&group.id, &name)? {
                env.log(Level::Info, &format!("profile {pid}: Entra group {} renamed", group.id));
                group.display_name = name;
                state::save(env, &gkey, &group)?;
            }
        }
        loop {
            if net.left == 0 {
                return Ok(true);
            }
            match net.members(&group.id, c.next.as_deref())? {
                None => {
                    // Deleted in Entra since: created again.
                    env.delete(&gkey);
                    for k in state::all_keys(env, &store::current_prefix(&pid)) {
                        env.delete(&k);
                    }
                    c.next = None;
                    c.seq = 0;
                    env.log(
                        Level::Warn,
                        &format!("profile {pid}: its Entra group {} is gone; it is created again", group.id),
                    );
                    break;
                }
                Some((ids, next)) => {
                    env.set(&chunk_key(&store::current_prefix(&pid), c.seq), ids.join("\n"))?;
                    c.seq += 1;
                    c.next = next;
                    if c.next.is_none() {
                        c.seq = 0;
                        c.pid = next_profile(env, Some(&pid))?.map(|p| p.id);
                        if c.pid.is_none() {
                            c.phase = Phase::Plan;
                            return Ok(false);
                        }
                        break;
                    }
                }
            }
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.retain(|s| !s.is_empty());
    v.sort_unstable();
    v.dedup();
    v
}

/// Phase 3 (one call): resolution, plans, member lists, notifications.
fn plan_all(env: &mut impl Env, c: &mut Cursor, now: u64) -> Result<bool, PluginError> {
    let meta = store::snap_meta(env)?.ok_or_else(|| PluginError::Internal("the snapshot disappeared".into()))?;
    let settings = store::settings(env)?.ok_or_else(|| PluginError::Internal("the settings disappeared".into()))?;
    let snap = store::load_snapshot(env, &meta)?;
    let profiles = store::profiles(env)?;
    let previous = store::load_blob(env, store::USED)?;
    let resolution = resolve(&profiles, &snap, previous.as_ref());
    let mut current: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in profiles.iter().filter(|p| p.state == ProfileState::Active) {
        current.insert(p.id.clone(), sorted(store::load_lines(env, &store::current_prefix(&p.id))));
    }
    let mut engine = Engine::new(&snap);
    let planned = plan(&resolution, &mut engine, &settings, &mut |pid| current.get(pid).cloned().unwrap_or_default());
    let mut run: RunRecord = store::load_blob(env, store::RUN)?.unwrap_or_default();
    let mut notes: Vec<Note> = resolution
        .notifications
        .iter()
        .map(|text| Note {
            kind: "assigner-profile-skipped".into(),
            to: Some(settings.contact_email.clone()),
            subject: "Assigner: a profile's rules use data that is gone".into(),
            text: text.clone(),
        })
        .collect();
    for e in &resolution.errors {
        env.log(Level::Error, e);
    }
    let written_at = rfc3339(now);
    for (r, planned) in resolution.profiles.iter().zip(&planned) {
        let mut profile = r.profile.clone();
        if profile.state == ProfileState::Deleted {
            // A7: detached; the group, its members and the enrollments made are kept.
            profile.auto_populate = false;
            profile.enroll = false;
        }
        let original = profiles.iter().find(|p| p.id == profile.id);
        if original != Some(&profile) {
            state::save(env, &store::profile_key(&profile.id), &profile)?;
        }
        if profile.state == ProfileState::Deleted {
            continue;
        }
        let now_members = current.get(&profile.id).cloned().unwrap_or_default();
        let ids = |b: &crate::assigner::Bits| b.ones_iter().map(|u| snap.id(u).to_owned()).collect::<Vec<_>>();
        let mut entry = RunProfile { id: profile.id.clone(), title: profile.title.clone(), ..RunProfile::default() };
        let (rec, list) = match &planned.outcome {
            Outcome::Apply { members, diff } => {
                entry.added = diff.added.len();
                entry.removed = diff.removed.len();
                let after = ids(members);
                let rec = PlanRec { add: diff.added.clone(), remove: diff.removed.clone(), after: None };
                (rec, MemberList { members: after, throttled: false, written_at: written_at.clone() })
            }
            Outcome::Throttled { members, reason, email } => {
                let computed = ids(members);
                let snap_set: std::collections::BTreeSet<&str> = computed.iter().map(String::as_str).collect();
                entry.added = computed.iter().filter(|m| now_members.binary_search(m).is_err()).count();
                entry.removed = now_members.iter().filter(|m| !snap_set.contains(m.as_str())).count();
                entry.throttled = true;
                env.log(Level::Warn, &format!("profile {}: throttled: {reason}", profile.id));
                let mut subject = format!("Assigner: \"{}\" was not updated (throttled)", planned.group);
                if subject.len() > 200 {
                    subject = format!("Assigner: profile {} was not updated (throttled)", profile.id);
                }
                notes.push(Note {
                    kind: "assigner-throttle".into(),
                    to: Some(settings.contact_email.clone()),
                    subject,
                    text: email.clone(),
                });
                let rec = PlanRec { after: Some(now_members.clone()), ..PlanRec::default() };
                (rec, MemberList { members: computed, throttled: true, written_at: written_at.clone() })
            }
            Outcome::Keep | Outcome::Failed(_) | Outcome::Skipped(_) => {
                match &planned.outcome {
                    Outcome::Failed(why) => entry.failed = Some(why.clone()),
                    Outcome::Skipped(why) => entry.skipped = Some(why.clone()),
                    _ => {}
                }
                (
                    PlanRec::default(),
                    MemberList { members: now_members.clone(), throttled: false, written_at: written_at.clone() },
                )
            }
        };
        store::save_blob(env, &store::plan_key(&profile.id), &rec)?;
        store::save_blob(env, &store::members_key(&profile.id), &list)?;
        run.profiles.push(entry);
    }
    store::queue_notes(env, notes)?;
    store::save_blob(env, store::RUN, &run)?;
    c.phase = Phase::Apply;
    c.pid = None;
    c.i = 0;
    Ok(true)
}

/// The profiles with a plan in this run, by id.
pub fn planned_ids(env: &impl Env) -> Vec<String> {
    let mut ids: Vec<String> = state::all_keys(env, "as:plan:")
        .iter()
        .map(|k| k["as:plan:".len()..].split('/').next().unwrap_or_default().to_owned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The profile in progress (`c.pid`, else the first of `ids`), or `None` when all are done.
pub fn in_progress(ids: &[String], c: &Cursor) -> Option<String> {
    match &c.pid {
        None => ids.first().cloned(),
        Some(p) => ids.iter().find(|x| *x >= p).cloned(),
    }
}

/// Moves on to the profile after `pid`: returns false when there is none.
pub fn advance(ids: &[String], c: &mut Cursor, pid: &str) -> bool {
    c.i = 0;
    c.single = 0;
    c.pid = ids.iter().find(|x| x.as_str() > pid).cloned();
    c.pid.is_some()
}

/// Phase 4: the planned member changes, in Entra.
fn apply<E: Env, W: Wire>(env: &mut E, net: &mut Net<'_, W>, c: &mut Cursor) -> Result<bool, PluginError> {
    let ids = planned_ids(env);
    while let Some(pid) = in_progress(&ids, c) {
        c.pid = Some(pid.clone());
        let rec: PlanRec = store::load_blob(env, &store::plan_key(&pid))?.unwrap_or_default();
        let group: Option<GroupRef> = state::load(env, &store::group_key(&pid))?;
        let changes: Vec<(bool, &String)> =
            rec.add.iter().map(|m| (true, m)).chain(rec.remove.iter().map(|m| (false, m))).collect();
        if let Some(group) = group {
            while c.i < changes.len() {
                if net.left == 0 {
                    return Ok(true);
                }
                let (add, member) = changes[c.i];
                if add && c.i >= c.single {
                    let batch: Vec<&String> =
                        changes[c.i..].iter().take_while(|(a, _)| *a).take(MAX_BIND).map(|(_, m)| *m).collect();
                    if batch.len() > 1 {
                        if net.add_members(&group.id, &batch)? {
                            c.i += batch.len();
                        } else {
                            // Some are members already (added by hand, or a lost answer): one at a time.
                            c.single = c.i + batch.len();
                        }
                        continue;
                    }
                }
                if add {
                    net.add_member(&group.id, member)?
                } else {
                    net.remove_member(&group.id, member)?
                }
                c.i += 1;
            }
        }
        if !advance(&ids, c, &pid) {
            break;
        }
    }
    c.phase = Phase::Enroll;
    c.pid = None;
    c.i = 0;
    Ok(false)
}

/// Phase 7: the run's end.
fn finish(env: &mut impl Env, c: &Cursor, now: u64) -> Result<String, PluginError> {
    if let Some(meta) = store::snap_meta(env)? {
        let tf: crate::assigner::TenantFields =
            store::load_blob(env, &store::fields_key(&meta.generation))?.unwrap_or_default();
        store::save_blob(env, store::USED, &tf)?;
    }
    for prefix in ["as:cur:", "as:plan:"] {
        for k in state::all_keys(env, prefix) {
            env.delete(&k);
        }
    }
    env.delete(store::LOCK);
    let mut run: RunRecord = store::load_blob(env, store::RUN)?.unwrap_or_default();
    store::delete_blob(env, store::RUN);
    let n = run.profiles.len();
    let throttled = run.profiles.iter().filter(|p| p.throttled).count();
    let failed = run.profiles.iter().filter(|p| p.failed.is_some()).count();
    let skipped = run.profiles.iter().filter(|p| p.skipped.is_some()).count();
    let added: usize = run.profiles.iter().filter(|p| !p.throttled).map(|p| p.added).sum();
    let removed: usize = run.profiles.iter().filter(|p| !p.throttled).map(|p| p.removed).sum();
    let summary = format!(
        "maintenance: {n} profile(s); {added} member(s) added, {removed} removed; {throttled} throttled, {failed} failed, {skipped} skipped; {} enrollment operation(s)",
        c.ops
    );
    run.finished_at = rfc3339(now);
    run.result = "ok".into();
    run.summary = Some(summary.clone());
    if run.started_at.is_empty() {
        run.started_at = rfc3339(c.started);
    }
    store::record_run(env, now, &run)?;
    Ok(summary)
}
