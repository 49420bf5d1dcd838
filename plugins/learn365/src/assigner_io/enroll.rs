//! A6 in the maintenance: a profile's members get its courses through the plugin's own enrollment
//! bookkeeping ([`crate::apply`]), the profile being one more **source** beside the Entra groups of
//! `courseMappings`: `enroll` / `unenroll` operations with source `profile:<id>`, delivered like the
//! group ones (precheck, 201 ours / 200 theirs; only the plugin's own enrollment is cancelled, and only
//! when its last source goes).
//!
//! For every active profile with a plan in this run:
//! - its members are the group's members once the maintenance is done (the computed ones when applied;
//!   the current ones when throttled, failed, skipped or not auto-populated), as SCIM users through
//!   the snapshot's identities (objectId → SCIM id; members the snapshot does not have are left out);
//! - with `enroll` true each member holds each selected course (a training plan is enrolled as one)
//!   with the profile as a source; a member who left, and a course deselected, lose that source;
//! - with `enroll` false (retired) every member loses it: the enrollments the profile's source alone
//!   held are cancelled (AT-31);
//! - deleted profiles (A7) are skipped: their sources stay, so the enrollments stay (AT-30).
//!
//! `as:pe:<profile>` records the users and courses the source was last applied to (to find those who
//! left). Resumable: the users are visited in id order from `Cursor::i`; each user's items from the
//! profile become exactly what they should be (idempotent), and the record is written at the end.

use std::collections::BTreeSet;

use scimgw_plugin_sdk::{Operation, PluginError};

use super::maintain::{Cursor, Phase, advance, in_progress, planned_ids};
use super::store::{self, Applied, PlanRec};
use crate::apply::{Loaded, Work};
use crate::assigner::{Profile, ProfileState};
use crate::config::{Config, Items, Kind, guid};
use crate::state::{self, Env};

/// Users one call brings in line.
const USERS: usize = 250;

/// Phase 5 of the maintenance; returns whether to go on in a new call.
pub fn run<E: Env>(
    env: &mut E,
    config: &Config,
    c: &mut Cursor,
    out: &mut Vec<Operation>,
) -> Result<bool, PluginError> {
    let ids = planned_ids(env);
    let Some(meta) = store::snap_meta(env)? else {
        c.phase = Phase::Notify;
        return Ok(false);
    };
    let idents = store::load_idents(env, &meta);
    let mut run: store::RunRecord = store::load_blob(env, store::RUN)?.unwrap_or_default();
    let mut w = Work::new(env, config, USERS);
    let mut more = false;
    while let Some(pid) = in_progress(&ids, c) {
        c.pid = Some(pid.clone());
        let profile: Option<Profile> = state::load(&*w.env, &store::profile_key(&pid))?;
        let Some(profile) = profile.filter(|p| p.state == ProfileState::Active) else {
            if !advance(&ids, c, &pid) {
                break;
            }
            continue;
        };
        let plan: PlanRec = store::load_blob(&*w.env, &store::plan_key(&pid))?.unwrap_or_default();
        let mut want = Items::new();
        if profile.enroll {
            for course in profile.courses.iter().filter_map(|c| guid(c)) {
                let kind = if meta.training_plans.contains(&course) { Kind::TrainingPlan } else { Kind::Course };
                want.insert(course, kind);
            }
        }
        let members: BTreeSet<String> = if want.is_empty() {
            BTreeSet::new()
        } else {
            plan.after(&*w.env, &pid)?.iter().filter_map(|oid| idents.get(oid)).map(|i| i.scim.clone()).collect()
        };
        let applied: Applied = store::load_blob(&*w.env, &store::applied_key(&pid))?.unwrap_or_default();
        let users: Vec<String> =
            applied.users.iter().cloned().chain(members.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        let before = w.ops.len();
        while c.i < users.len() {
            let u = &users[c.i];
            let mine = if members.contains(u) { want.clone() } else { Items::new() };
            let held = state::load::<state::UserRec>(&*w.env, &state::user_key(u))?;
            if !w.fits(mine.len() + held.as_ref().map_or(0, |r| r.e.len())) {
                more = true;
                break;
            }
            w.users_left -= 1;
            let loaded = match held {
                Some(rec) => Some(Loaded { rec, new: false }),
                None if !mine.is_empty() => w.ensure_user(u)?,
                None => None,
            };
            if let Some(Loaded { mut rec, new }) = loaded {
                let old = rec.clone();
                w.set_profile(u, &mut rec, &pid, &mine)?;
                if new || rec != old {
                    w.save_user(u, &rec)?;
                }
            }
            c.i += 1;
        }
        let n = w.ops.len() - before;
        c.ops += n;
        if let Some(entry) = run.profiles.iter_mut().find(|p| p.id == pid) {
            entry.enrollment_operations += n;
        }
        if more {
            break;
        }
        let done = Applied { users: members.into_iter().collect(), courses: want.keys().cloned().collect() };
        store::save_blob(w.env, &store::applied_key(&pid), &done)?;
        if !advance(&ids, c, &pid) {
            break;
        }
    }
    out.append(&mut w.ops);
    store::save_blob(env, store::RUN, &run)?;
    if !more {
        c.phase = Phase::Notify;
        c.pid = None;
        c.i = 0;
    }
    Ok(more)
}
