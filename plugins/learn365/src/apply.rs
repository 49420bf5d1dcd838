//! The enrollment bookkeeping shared by translation and the mapping job: a user's items and their
//! sources, and the operations a change of sources yields.
//!
//! Rules (L2, P2, P3, P8 and P9 of `docs/spec/learn365.md` §4):
//! - a user holds an item while some group entitles them: the item's sources are those groups;
//! - the first source of an item yields an `enroll` (source `group:<g>`), the last one going an
//!   `unenroll` (naming the group whose end it is): whether Learn365 cancels anything is decided at
//!   delivery, where the plugin knows whether its Enroll created the enrollment (201) or found one (200);
//! - one user's operations of a change, in order: `upsert-user` (a user met for the first time), the
//!   `unenroll`s (courses, then training plans: a training plan's cancel may cancel courses it made), a
//!   `l365.precheck` when there are enrolls (it records what the user holds before the plugin enrolls
//!   them, see `deliver`), the `enroll`s (courses, then training plans).
//!
//! Bringing a group in line ([`Work::normalize_group`]): every recorded member's items from this group
//! become exactly the group's current items (the configuration's, by its objectId, SCIM id or name);
//! members marked removed (`"-"`) lose them; a deleted group's members all lose them. It is idempotent
//! and resumable (a member key to continue after), so translation does what fits in one call and the
//! job does the rest.

use std::collections::BTreeMap;

use scimgw_plugin_sdk::{CustomOp, EnrollmentOp, Operation, Ordering, PluginError, Principal, UserOp};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Items, Kind};
use crate::state::{
    self, DELETED, Env, GroupRec, Held, Identity, REMOVED, UserRec, group_key, member_prefix, queue_key, user_key,
};

/// The custom operation that records what a user holds before the plugin enrolls them.
pub const PRECHECK: &str = "l365.precheck";
/// Operations one call may return (the host's limit is 1,000).
pub const MAX_OPS: usize = 950;

/// `l365.precheck` payload.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Precheck {
    pub user: String,
    /// Item GUIDs about to be enrolled.
    pub items: Vec<String>,
}

/// One user's changes of a call, turned into operations when the user is done.
#[derive(Default)]
struct Batch {
    unenroll: Vec<(String, Kind, String)>,
    enroll: Vec<(String, Kind, String)>,
}

/// A call's work in progress: its operations and what it may still do.
pub struct Work<'a, E: Env> {
    pub env: &'a mut E,
    pub config: &'a Config,
    pub ops: Vec<Operation>,
    /// Users this call may still bring in line (each costs a kv read and write and some CPU).
    pub users_left: usize,
    /// Members brought in line, for summaries.
    pub normalized: usize,
}

/// How far [`Work::normalize_group`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every recorded member is in line; the group's applied items and queue entry are updated.
    Done,
    /// The call ran out of room; go on after this member key (`None`: from the first member).
    Stopped(Option<String>),
}

/// A user's state, loaded (or created from the directory).
pub struct Loaded {
    pub rec: UserRec,
    pub new: bool,
}

impl<'a, E: Env> Work<'a, E> {
    pub fn new(env: &'a mut E, config: &'a Config, users: usize) -> Self {
        Work { env, config, ops: Vec::new(), users_left: users, normalized: 0 }
    }

    /// Room for one more user with up to `items` item changes (always for the first: a call makes
    /// progress; the configuration's item cap keeps one user's operations under the host's limit).
    pub fn fits(&self, items: usize) -> bool {
        self.users_left > 0 && (self.ops.is_empty() || self.ops.len() + 2 * items + 2 <= MAX_OPS)
    }

    pub fn load_user(&self, id: &str) -> Result<Option<UserRec>, PluginError> {
        state::load(&*self.env, &user_key(id))
    }

    pub fn save_user(&mut self, id: &str, rec: &UserRec) -> Result<(), PluginError> {
        state::save(self.env, &user_key(id), rec)
    }

    pub fn load_group(&self, id: &str) -> Result<Option<GroupRec>, PluginError> {
        state::load(&*self.env, &group_key(id))
    }

    pub fn save_group(&mut self, id: &str, rec: &GroupRec) -> Result<(), PluginError> {
        state::save(self.env, &group_key(id), rec)
    }

    /// The group's record, made from the directory when the plugin has not seen the group yet (its
    /// items: the configuration's, since it has no recorded members).
    pub fn ensure_group(&mut self, id: &str) -> Result<GroupRec, PluginError> {
        if let Some(rec) = self.load_group(id)? {
            return Ok(rec);
        }
        let (ext, name) = match self.env.group(id) {
            Some(g) => (g.external_id.clone(), g.display_name.trim().to_owned()),
            None => (None, String::new()),
        };
        let items = self.config.desired(id, ext.as_deref(), &name);
        let rec = GroupRec { ext, name, items };
        self.save_group(id, &rec)?;
        Ok(rec)
    }

    /// The items the group's members get now.
    pub fn desired(&self, id: &str, rec: &GroupRec) -> Items {
        self.config.desired(id, rec.ext.as_deref(), &rec.name)
    }

    /// The user's state; a user the plugin has not seen (provisioned before the target existed, or a
    /// membership first) is created from the directory with an `upsert-user`. `None`: the directory no
    /// longer has the user.
    pub fn ensure_user(&mut self, id: &str) -> Result<Option<Loaded>, PluginError> {
        if let Some(rec) = self.load_user(id)? {
            return Ok(Some(Loaded { rec, new: false }));
        }
        let Some(user) = self.env.user(id) else { return Ok(None) };
        if user.user_name.trim().is_empty() {
            return Ok(None);
        }
        let rec = UserRec { id: Identity::of(&user), active: user.active, g: Default::default(), e: BTreeMap::new() };
        self.ops.push(upsert_op(id, &rec)?);
        Ok(Some(Loaded { rec, new: true }))
    }

    /// Makes the user's items from `group` exactly `want`; records the transitions in `batch`.
    fn set_items(rec: &mut UserRec, group: &str, want: &Items, batch: &mut Batch) {
        Self::set_sourced(rec, group, want, batch, false);
    }

    /// [`Self::set_items`] for a group (`profile` false) or an Assigner profile (true): the sets of
    /// sources `Held::s` or `Held::p`; the first source of an item enrolls, the last one unenrolls.
    fn set_sourced(rec: &mut UserRec, owner: &str, want: &Items, batch: &mut Batch, profile: bool) {
        let source = if profile { format!("profile:{owner}") } else { format!("group:{owner}") };
        fn set(h: &mut Held, profile: bool) -> &mut std::collections::BTreeSet<String> {
            if profile { &mut h.p } else { &mut h.s }
        }
        rec.e.retain(|item, held| {
            if !want.contains_key(item) && set(held, profile).remove(owner) && held.unsourced() {
                batch.unenroll.push((item.clone(), held.k, source.clone()));
            }
            !held.unsourced()
        });
        for (item, kind) in want {
            let held = rec.e.entry(item.clone()).or_insert_with(|| Held::new(*kind));
            if held.unsourced() {
                batch.enroll.push((item.clone(), held.k, source.clone()));
            }
            set(held, profile).insert(owner.to_owned());
        }
    }

    /// Makes the user's items from Assigner profile `profile` exactly `want` (A6: its members get its
    /// courses with source `profile:<id>`; a member who left, a deselected course or a retired profile
    /// ends that source). Other sources are untouched.
    pub fn set_profile(
        &mut self,
        user: &str,
        rec: &mut UserRec,
        profile: &str,
        want: &Items,
    ) -> Result<(), PluginError> {
        let mut batch = Batch::default();
        Self::set_sourced(rec, profile, want, &mut batch, true);
        self.flush(user, batch)
    }

    /// The user joins (or stays in) `group`, whose members get `want`.
    pub fn join(&mut self, user: &str, rec: &mut UserRec, group: &str, want: &Items) -> Result<(), PluginError> {
        let mut batch = Batch::default();
        rec.g.insert(group.to_owned());
        Self::set_items(rec, group, want, &mut batch);
        self.flush(user, batch)
    }

    /// The user leaves `group`: every item it was a source of loses it.
    pub fn leave(&mut self, user: &str, rec: &mut UserRec, group: &str) -> Result<(), PluginError> {
        let mut batch = Batch::default();
        rec.g.remove(group);
        Self::set_items(rec, group, &Items::new(), &mut batch);
        self.flush(user, batch)
    }

    /// Every item the user holds ends (a hard delete, keepHistory): one `unenroll` each.
    pub fn leave_all(&mut self, user: &str, rec: &mut UserRec) -> Result<(), PluginError> {
        let mut batch = Batch::default();
        for (item, held) in std::mem::take(&mut rec.e) {
            let source = held.sources().into_iter().next().unwrap_or_default();
            batch.unenroll.push((item, held.k, source));
        }
        rec.g.clear();
        self.flush(user, batch)
    }

    fn flush(&mut self, user: &str, mut batch: Batch) -> Result<(), PluginError> {
        let order = |v: &mut Vec<(String, Kind, String)>| v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        order(&mut batch.unenroll);
        order(&mut batch.enroll);
        for (item, kind, source) in batch.unenroll {
            self.ops.push(Operation::Unenroll(enrollment(user, &item, kind, source)));
        }
        if !batch.enroll.is_empty() {
            let payload =
                Precheck { user: user.to_owned(), items: batch.enroll.iter().map(|(i, _, _)| i.clone()).collect() };
            self.ops.push(Operation::Custom(CustomOp {
                kind: PRECHECK.to_owned(),
                ordering: Ordering::User(user.to_owned()),
                payload_json: state::to_json(&payload)?,
            }));
        }
        for (item, kind, source) in batch.enroll {
            self.ops.push(Operation::Enroll(enrollment(user, &item, kind, source)));
        }
        Ok(())
    }

    /// Brings the group's recorded members in line (see the module), after member key `from`, while
    /// the call has room.
    pub fn normalize_group(&mut self, group: &str, from: Option<&str>) -> Result<Progress, PluginError> {
        let queued = self.env.get(&queue_key(group));
        let rec = if queued.as_deref() == Some(DELETED) { None } else { self.load_group(group)? };
        let want = match &rec {
            Some(r) => self.desired(group, r),
            None => Items::new(),
        };
        let prefix = member_prefix(group);
        let mut after = from.map(str::to_owned);
        loop {
            let page = self.env.keys(&prefix, after.as_deref(), 200);
            if page.is_empty() {
                break;
            }
            for key in &page {
                let current = self.load_user(&key[prefix.len()..])?;
                let items = want.len() + current.as_ref().map_or(0, |r| r.e.len());
                if !self.fits(items) {
                    return Ok(Progress::Stopped(after));
                }
                self.normalize_member(group, key, &prefix, rec.is_some(), &want)?;
                after = Some(key.clone());
            }
        }
        match rec {
            Some(mut r) => {
                if r.items != want {
                    r.items = want;
                    self.save_group(group, &r)?;
                }
            }
            None => self.env.delete(&group_key(group)),
        }
        if queued.is_some() {
            self.env.delete(&queue_key(group));
        }
        Ok(Progress::Done)
    }

    fn normalize_member(
        &mut self,
        group: &str,
        key: &str,
        prefix: &str,
        alive: bool,
        want: &Items,
    ) -> Result<(), PluginError> {
        let user = &key[prefix.len()..];
        self.users_left = self.users_left.saturating_sub(1);
        self.normalized += 1;
        let removed = self.env.get(key).as_deref() == Some(REMOVED);
        if removed || !alive {
            self.env.delete(key);
            if let Some(mut rec) = self.load_user(user)? {
                let before = rec.clone();
                self.leave(user, &mut rec, group)?;
                if rec != before {
                    self.save_user(user, &rec)?;
                }
            }
            return Ok(());
        }
        let Some(Loaded { mut rec, new }) = self.ensure_user(user)? else {
            self.env.delete(key); // Deleted since: nothing to bring in line.
            return Ok(());
        };
        let before = rec.clone();
        self.join(user, &mut rec, group, want)?;
        if new || rec != before {
            self.save_user(user, &rec)?;
        }
        Ok(())
    }
}

fn enrollment(user: &str, item: &str, kind: Kind, source: String) -> EnrollmentOp {
    EnrollmentOp {
        principal: Principal::User(user.to_owned()),
        item: item.to_owned(),
        item_kind: kind.name().to_owned(),
        source: Some(source),
    }
}

/// The `upsert-user` of a user's state: `login` = the claims login, `email`, `active`, and the other
/// Learn365 fields in `fields-json` (first and last name are not Learn365 fields: left out).
pub fn upsert_op(user: &str, rec: &UserRec) -> Result<Operation, PluginError> {
    Ok(Operation::UpsertUser(UserOp {
        user_id: user.to_owned(),
        login: rec.id.login.clone(),
        email: rec.id.email.clone(),
        first_name: None,
        last_name: None,
        active: rec.active,
        fields_json: state::to_json(&rec.id.fields())?,
    }))
}
