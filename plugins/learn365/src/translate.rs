//! The translation rules L1–L4 (`docs/spec/learn365.md` §4.1; P1, P8 of §4.2): Entra changes in, Learn365 operations
//! out. Pure over [`Env`], so the rules run natively in the tests.
//!
//! - **L1** a user becomes an `upsert-user` (claims login, objectId, display name, e-mail, department,
//!   job title, city, country, office, company) when first seen and whenever one of those fields or
//!   `active` changes; any other attribute (manager, phone, ...) sends nothing. A resync sends every
//!   user again (repairs drift in Learn365).
//! - **L2** a member of a mapped group is enrolled in the group's courses and training plans, each with
//!   source `group:<id>`; leaving the group ends that source (see [`crate::apply`] for first and last
//!   sources). Groups match `courseMappings` by objectId, SCIM id or displayName: a rename or a new
//!   objectId that changes what a group matches brings its members in line at once (or through the job
//!   when they are too many for one call).
//! - **L3** `active=false` → `upsert-user` with `IsDisabled: true`; enrollments are unchanged.
//! - **L4** hard delete: `keepHistory` → an `unenroll` for every item the user holds through a group
//!   (delivery cancels those the plugin created) and `deactivate-user` (the Learn365 user is kept,
//!   disabled); `purge` → `delete-user` (Learn365 purges the user with its enrollments).
//! - A deleted group is as if all its members left.
//!
//! A change with more members than one call can handle (the host allows 1,000 operations per call)
//! records the remaining memberships (`m:` keys, `"-"` for removals) and queues the group (`q:`): the
//! `apply-mappings` job brings those members in line within minutes.

use std::collections::BTreeSet;

use scimgw_plugin_sdk::{Change, Event, Member, Operation, PluginError, ResourceKind, User, log::Level};

use crate::apply::{Loaded, Progress, Work, upsert_op};
use crate::config::{Config, OnHardDelete};
use crate::state::{DELETED, Env, GroupRec, Identity, REMOVED, UserRec, group_key, member_key, queue_key, user_key};

/// Users one translation brings in line itself; the rest of a large membership change goes to the job.
pub const INLINE_USERS: usize = 250;

/// Translates one change (L1–L4). Deterministic given the state, the directory and the configuration.
pub fn translate<E: Env>(env: &mut E, config: &Config, change: &Change) -> Result<Vec<Operation>, PluginError> {
    let mut w = Work::new(env, config, INLINE_USERS);
    match &change.event {
        Event::UserUpserted(user) => user_upserted(&mut w, user, change.resync)?,
        Event::UserActiveChanged(c) => active_changed(&mut w, &c.user_id, c.active)?,
        Event::UserDeleted(id) => user_deleted(&mut w, id)?,
        Event::GroupUpserted(g) => {
            group_identity(&mut w, &g.id, g.external_id.as_deref().map(str::trim), g.display_name.trim())?
        }
        Event::GroupRenamed(r) => {
            let ext = match w.load_group(&r.group_id)? {
                Some(rec) => rec.ext,
                None => w.env.group(&r.group_id).and_then(|g| g.external_id),
            };
            group_identity(&mut w, &r.group_id, ext.as_deref(), r.display_name.trim())?
        }
        Event::GroupDeleted(id) => group_deleted(&mut w, id)?,
        Event::MembersAdded(c) => members_added(&mut w, &c.group_id, &user_members(&c.members))?,
        Event::MembersRemoved(c) => members_removed(&mut w, &c.group_id, &user_members(&c.members))?,
        Event::ResyncStarted | Event::ResyncFinished | Event::Other(_) => {}
    }
    Ok(w.ops)
}

/// User members in request order, each once (Entra does not provision nested groups).
fn user_members(members: &[Member]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    members.iter().filter(|m| m.kind == ResourceKind::User && seen.insert(m.id.clone())).map(|m| m.id.clone()).collect()
}

/// L1: sent when first seen, when an L1 field or `active` changes, and on every resync.
fn user_upserted<E: Env>(w: &mut Work<E>, user: &User, resync: bool) -> Result<(), PluginError> {
    if user.user_name.trim().is_empty() {
        return Err(PluginError::InvalidInput(format!("user {} has no userName (the Learn365 login)", user.id)));
    }
    let identity = Identity::of(user);
    if identity.oid.is_none() {
        w.env.log(
            Level::Warn,
            &format!(
                "user {}: externalId is not an Entra objectId, so DirectoryObjectId is not sent (map objectId → externalId in the provisioning app)",
                user.id
            ),
        );
    }
    let rec = match w.load_user(&user.id)? {
        None => UserRec { id: identity, active: user.active, g: Default::default(), e: Default::default() },
        Some(mut rec) => {
            let changed = rec.id != identity || rec.active != user.active;
            if !changed && !resync {
                return Ok(()); // e.g. a manager or a phone number: Learn365 gets nothing (L1).
            }
            rec.id = identity;
            rec.active = user.active;
            if !changed {
                w.ops.push(upsert_op(&user.id, &rec)?);
                return Ok(());
            }
            rec
        }
    };
    w.ops.push(upsert_op(&user.id, &rec)?);
    w.save_user(&user.id, &rec)
}

/// L3: the user is disabled (or enabled again) in Learn365; enrollments stay as they are.
fn active_changed<E: Env>(w: &mut Work<E>, id: &str, active: bool) -> Result<(), PluginError> {
    let Some(Loaded { mut rec, new }) = w.ensure_user(id)? else { return Ok(()) };
    if new {
        // Created from the directory, which already says whether the user is active.
        return w.save_user(id, &rec);
    }
    if rec.active != active {
        rec.active = active;
        w.ops.push(upsert_op(id, &rec)?);
        w.save_user(id, &rec)?;
    }
    Ok(())
}

/// L4: the group enrollments end (keepHistory) or the user is purged; the plugin forgets the user.
fn user_deleted<E: Env>(w: &mut Work<E>, id: &str) -> Result<(), PluginError> {
    let Some(mut rec) = w.load_user(id)? else { return Ok(()) };
    for g in &rec.g {
        w.env.delete(&member_key(g, id));
    }
    match w.config.on_hard_delete {
        OnHardDelete::KeepHistory => {
            w.leave_all(id, &mut rec)?;
            w.ops.push(Operation::DeactivateUser(id.to_owned()));
        }
        // Purge removes the user's enrollments too: no unenroll first.
        OnHardDelete::Purge => w.ops.push(Operation::DeleteUser(id.to_owned())),
    }
    w.env.delete(&user_key(id));
    Ok(())
}

/// A group's objectId or name may change what it matches: its members are brought in line now, or by
/// the job when there are too many for this call.
fn group_identity<E: Env>(w: &mut Work<E>, id: &str, ext: Option<&str>, name: &str) -> Result<(), PluginError> {
    let ext = ext.filter(|e| !e.is_empty()).map(str::to_owned);
    let Some(mut rec) = w.load_group(id)? else {
        let items = w.config.desired(id, ext.as_deref(), name);
        return w.save_group(id, &GroupRec { ext, name: name.to_owned(), items });
    };
    if rec.ext != ext || rec.name != name {
        rec.ext = ext;
        rec.name = name.to_owned();
        w.save_group(id, &rec)?;
    }
    if w.desired(id, &rec) != rec.items || w.env.get(&queue_key(id)).is_some() {
        bring_in_line(w, id)?;
    }
    Ok(())
}

fn bring_in_line<E: Env>(w: &mut Work<E>, id: &str) -> Result<(), PluginError> {
    if let Progress::Stopped(_) = w.normalize_group(id, None)? {
        if w.env.get(&queue_key(id)).is_none() {
            w.env.set(&queue_key(id), String::new())?;
        }
        w.env.log(Level::Info, &format!("group {id}: more members than one call handles; the job goes on"));
    }
    Ok(())
}

/// As if every member left; what one call cannot do, the job finishes.
fn group_deleted<E: Env>(w: &mut Work<E>, id: &str) -> Result<(), PluginError> {
    w.env.set(&queue_key(id), DELETED.to_owned())?;
    w.env.delete(&group_key(id));
    bring_in_line(w, id)
}

fn members_added<E: Env>(w: &mut Work<E>, group: &str, users: &[String]) -> Result<(), PluginError> {
    let grec = w.ensure_group(group)?;
    let want = w.desired(group, &grec);
    let room = want.len() + grec.items.len();
    // A recorded member of a group in line (its items applied, nothing queued) holds exactly those
    // items: a resync's replay of it costs one kv read.
    let in_line = grec.items == want && w.env.get(&queue_key(group)).is_none();
    let mut deferred = false;
    for u in users {
        if in_line && w.env.get(&member_key(group, u)).as_deref() == Some("") {
            continue;
        }
        if deferred || !w.fits(room) {
            deferred = true;
            w.env.set(&member_key(group, u), String::new())?;
            continue;
        }
        let Some(Loaded { mut rec, new }) = w.ensure_user(u)? else { continue };
        w.users_left -= 1;
        w.env.set(&member_key(group, u), String::new())?;
        let before = rec.clone();
        w.join(u, &mut rec, group, &want)?;
        if new || rec != before {
            w.save_user(u, &rec)?;
        }
    }
    if deferred {
        defer(w, group, users.len())?;
    }
    Ok(())
}

fn members_removed<E: Env>(w: &mut Work<E>, group: &str, users: &[String]) -> Result<(), PluginError> {
    let room = match w.load_group(group)? {
        Some(g) => g.items.len() + w.desired(group, &g).len(),
        None => 0,
    };
    let mut deferred = false;
    for u in users {
        let key = member_key(group, u);
        if deferred || !w.fits(room) {
            if w.env.get(&key).is_some() {
                deferred = true;
                w.env.set(&key, REMOVED.to_owned())?;
            }
            continue;
        }
        let recorded = w.env.get(&key).is_some();
        if recorded {
            w.env.delete(&key);
        }
        let Some(mut rec) = w.load_user(u)? else { continue };
        if !recorded && !rec.g.contains(group) {
            continue;
        }
        w.users_left -= 1;
        w.leave(u, &mut rec, group)?;
        w.save_user(u, &rec)?;
    }
    if deferred {
        defer(w, group, users.len())?;
    }
    Ok(())
}

fn defer<E: Env>(w: &mut Work<E>, group: &str, n: usize) -> Result<(), PluginError> {
    if w.env.get(&queue_key(group)).is_none() {
        w.env.set(&queue_key(group), String::new())?;
    }
    w.env.log(
        Level::Info,
        &format!("group {group}: {n} members in one change; those past {INLINE_USERS} are brought in line by the apply-mappings job"),
    );
    Ok(())
}
