//! The translation rules I1–I12 (`docs/spec/ispring.md` §4): Entra changes in, iSpring operations
//! out. Pure over [`Env`] (the plugin's kv state and the gateway's directory), so the rules are tested
//! natively against an in-memory model of iSpring.
//!
//! State (kv, committed with the operations of each change):
//! - `u:<user>`: the user's identity as last sent, active flag, Entra groups in the order they were
//!   added, and the department the user is in (`""` = root);
//! - `g:<group>`: the group's name and whether its iSpring group exists (mirrored);
//! - `m:<group>:<user>`: membership, for the full member lists of mirrored groups.
//!
//! Operations (each delivered by [`crate::deliver`]):
//! - `upsert-user` (keyed by the user): create in the root department, or update the four identity
//!   fields; `fields-json` carries `{"department": <group or "">, "repair": bool}`;
//! - `delete-user`; custom `set-status` `{"user", "status": 1|3}` (keyed by the user);
//! - `upsert-department` (key = Entra group id, keyed by the group): bind by stored id, else by name,
//!   else create; a rename follows the group's name;
//! - `assign-department` (keyed by the user): one user moved, container = group id or `""` for root;
//! - custom `move-users` `{"moves": [{"department", "users": [...]}]}`, a barrier (`tenant`): many
//!   users moved by one change, one API call per department;
//! - `upsert-group` (mirrored groups) and custom `set-members` `{"group", "users"}`, a barrier: the
//!   group's whole membership (iSpring's `POST /group/{id}/members` replaces it).

use std::collections::BTreeSet;

use scimgw_plugin_sdk::{
    Change, CustomOp, DepartmentOp, Event, Group, GroupOp, MembershipOp, Operation, Ordering, PluginError,
    ResourceKind, User, UserOp,
};
use serde::{Deserialize, Serialize};

use crate::config::{Config, OnHardDelete};

/// Custom operation kinds.
pub const SET_STATUS: &str = "set-status";
pub const MOVE_USERS: &str = "move-users";
pub const SET_MEMBERS: &str = "set-members";
/// Users per `move-users` request and departments per `move-users` operation (each department is one
/// request; a deliver call may make 16).
pub const MOVE_CHUNK: usize = 1_000;
const MOVES_PER_OP: usize = 10;

/// What translation reads and writes besides the change: kv state and the directory.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError>;
    fn delete(&mut self, key: &str);
    /// Keys starting with `prefix`, sorted.
    fn keys(&self, prefix: &str) -> Vec<String>;
    fn user(&self, id: &str) -> Option<User>;
    fn group(&self, id: &str) -> Option<Group>;
    /// The groups the user is a direct member of now, in the order they joined.
    fn groups_of(&self, user: &str) -> Vec<String>;
}

/// The identity fields iSpring receives (I1): nothing else is ever written.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
pub struct Identity {
    pub login: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Identity {
    pub fn of(user: &User) -> Identity {
        let nonempty = |s: &Option<String>| s.as_ref().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // The work address, else the primary one, else the first.
        let email = user
            .emails
            .iter()
            .find(|e| e.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("work")))
            .or_else(|| user.emails.iter().find(|e| e.primary))
            .or_else(|| user.emails.first())
            .map(|e| e.value.trim().to_owned())
            .filter(|v| !v.is_empty());
        Identity {
            login: user.user_name.trim().to_owned(),
            first: nonempty(&user.given_name),
            last: nonempty(&user.family_name),
            email,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct UserState {
    pub id: Identity,
    pub active: bool,
    /// Entra groups, in the order they were added.
    pub groups: Vec<String>,
    /// The Entra group whose department the user is in; `""` = root.
    pub dept: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct GroupState {
    pub name: String,
    /// Whether the iSpring group mirroring this Entra group exists.
    #[serde(default)]
    pub mirrored: bool,
}

fn user_key(id: &str) -> String {
    format!("u:{id}")
}
fn group_key(id: &str) -> String {
    format!("g:{id}")
}
fn member_prefix(group: &str) -> String {
    format!("m:{group}:")
}

/// `fields-json` of an `upsert-user`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct UserExtra {
    /// The department (Entra group id, `""` = root) the user belongs in.
    #[serde(default)]
    pub department: String,
    /// Resync: also put the user into that department and set the status (repairs drift).
    #[serde(default)]
    pub repair: bool,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct StatusPayload {
    pub user: String,
    pub status: u8,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Move {
    pub department: String,
    pub users: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct MovePayload {
    pub moves: Vec<Move>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct MembersPayload {
    pub group: String,
    pub users: Vec<String>,
}

/// One change's translation in progress.
struct Tx<'a, E: Env> {
    env: &'a mut E,
    config: &'a Config,
    resync: bool,
    ops: Vec<Operation>,
    /// (user, department) in the order decided; each user at most once (the last decision wins).
    moves: Vec<(String, String)>,
    /// Mirrored groups whose membership must be sent.
    member_syncs: BTreeSet<String>,
}

/// Translates one change (I1–I10). Deterministic given the state, the change and the configuration.
pub fn translate<E: Env>(env: &mut E, config: &Config, change: &Change) -> Result<Vec<Operation>, PluginError> {
    let mut tx =
        Tx { env, config, resync: change.resync, ops: Vec::new(), moves: Vec::new(), member_syncs: BTreeSet::new() };
    match &change.event {
        Event::UserUpserted(user) => tx.user_upserted(user)?,
        Event::UserActiveChanged(c) => tx.active_changed(&c.user_id, c.active)?,
        Event::UserDeleted(id) => tx.user_deleted(id)?,
        Event::GroupUpserted(group) => tx.group_upserted(group)?,
        Event::GroupRenamed(r) => tx.group_renamed(&r.group_id, &r.display_name)?,
        Event::GroupDeleted(id) => tx.group_deleted(id)?,
        Event::MembersAdded(c) => {
            let users = user_members(&c.members);
            tx.members_added(&c.group_id, &users)?;
        }
        Event::MembersRemoved(c) => {
            let users = user_members(&c.members);
            tx.members_removed(&c.group_id, &users)?;
        }
        Event::ResyncStarted | Event::ResyncFinished | Event::Other(_) => {}
    }
    tx.finish()
}

/// User members in request order, each once (nested groups are not provisioned by Entra).
fn user_members(members: &[scimgw_plugin_sdk::Member]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    members
        .iter()
        .filter(|m| m.kind == ResourceKind::User)
        .filter(|m| seen.insert(m.id.clone()))
        .map(|m| m.id.clone())
        .collect()
}

fn to_json(v: &impl Serialize) -> Result<String, PluginError> {
    serde_json::to_string(v).map_err(|e| PluginError::Internal(format!("cannot encode state: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(key: &str, text: &str) -> Result<T, PluginError> {
    serde_json::from_str(text).map_err(|e| PluginError::Internal(format!("corrupt plugin state under {key}: {e}")))
}

impl<E: Env> Tx<'_, E> {
    fn load_user(&self, id: &str) -> Result<Option<UserState>, PluginError> {
        let key = user_key(id);
        self.env.get(&key).map(|t| from_json(&key, &t)).transpose()
    }

    fn save_user(&mut self, id: &str, st: &UserState) -> Result<(), PluginError> {
        let text = to_json(st)?;
        self.env.set(&user_key(id), text)
    }

    fn load_group(&self, id: &str) -> Result<Option<GroupState>, PluginError> {
        let key = group_key(id);
        self.env.get(&key).map(|t| from_json(&key, &t)).transpose()
    }

    fn save_group(&mut self, id: &str, st: &GroupState) -> Result<(), PluginError> {
        let text = to_json(st)?;
        self.env.set(&group_key(id), text)
    }

    fn upsert_user_op(&self, user_id: &str, st: &UserState) -> Result<Operation, PluginError> {
        let extra = UserExtra { department: st.dept.clone(), repair: self.resync };
        Ok(Operation::UpsertUser(UserOp {
            user_id: user_id.to_owned(),
            login: st.id.login.clone(),
            email: st.id.email.clone(),
            first_name: st.id.first.clone(),
            last_name: st.id.last.clone(),
            active: st.active,
            fields_json: to_json(&extra)?,
        }))
    }

    fn status_op(user_id: &str, active: bool) -> Result<Operation, PluginError> {
        let payload = StatusPayload { user: user_id.to_owned(), status: if active { 1 } else { 3 } };
        Ok(Operation::Custom(CustomOp {
            kind: SET_STATUS.to_owned(),
            ordering: Ordering::User(user_id.to_owned()),
            payload_json: to_json(&payload)?,
        }))
    }

    /// A user the plugin has not seen (the target was added after the user was provisioned, or a
    /// membership arrives first): created from the directory, in root. `None` when the directory
    /// no longer has the user.
    fn ensure_user(&mut self, id: &str) -> Result<Option<UserState>, PluginError> {
        if let Some(st) = self.load_user(id)? {
            return Ok(Some(st));
        }
        let Some(user) = self.env.user(id) else { return Ok(None) };
        let st = UserState { id: Identity::of(&user), active: user.active, groups: Vec::new(), dept: String::new() };
        let op = self.upsert_user_op(id, &st)?;
        self.ops.push(op);
        self.save_user(id, &st)?;
        Ok(Some(st))
    }

    /// A group the plugin has not seen gets its department (I2).
    fn ensure_group(&mut self, id: &str) -> Result<GroupState, PluginError> {
        if let Some(st) = self.load_group(id)? {
            return Ok(st);
        }
        let name = self.env.group(id).map(|g| g.display_name).unwrap_or_else(|| id.to_owned());
        let st = GroupState { name, mirrored: false };
        self.ops.push(department_op(id, &st.name));
        self.save_group(id, &st)?;
        Ok(st)
    }

    /// I1, I8: a new user is created in root; afterwards only a change of the four identity fields
    /// (or a resync) sends anything.
    fn user_upserted(&mut self, user: &User) -> Result<(), PluginError> {
        let identity = Identity::of(user);
        if identity.login.is_empty() {
            return Err(PluginError::InvalidInput(format!("user {} has no userName (the iSpring login)", user.id)));
        }
        match self.load_user(&user.id)? {
            None => {
                let st = UserState { id: identity, active: user.active, groups: Vec::new(), dept: String::new() };
                let op = self.upsert_user_op(&user.id, &st)?;
                self.ops.push(op);
                self.save_user(&user.id, &st)?;
            }
            Some(mut st) => {
                let changed = st.id != identity;
                let active_changed = st.active != user.active;
                if !changed && !active_changed && !self.resync {
                    return Ok(()); // e.g. a job title: iSpring gets nothing (I1).
                }
                st.id = identity;
                st.active = user.active;
                if changed || self.resync {
                    let op = self.upsert_user_op(&user.id, &st)?;
                    self.ops.push(op);
                }
                if active_changed && !self.resync {
                    self.ops.push(Self::status_op(&user.id, user.active)?);
                }
                self.save_user(&user.id, &st)?;
            }
        }
        Ok(())
    }

    /// I8: disable → status 3, enable → 1; nothing else changes.
    fn active_changed(&mut self, id: &str, active: bool) -> Result<(), PluginError> {
        let Some(mut st) = self.ensure_user(id)? else { return Ok(()) };
        if st.active != active {
            st.active = active;
            self.ops.push(Self::status_op(id, active)?);
            self.save_user(id, &st)?;
        }
        Ok(())
    }

    /// I9: delete (or deactivate) and forget the memberships; departments and groups stay.
    fn user_deleted(&mut self, id: &str) -> Result<(), PluginError> {
        let st = self.load_user(id)?;
        if let Some(st) = &st {
            for g in &st.groups {
                self.env.delete(&format!("{}{id}", member_prefix(g)));
                if self.config.add_users_to_groups
                    && self.config.on_hard_delete == OnHardDelete::Deactivate
                    && self.load_group(g)?.is_some_and(|s| s.mirrored)
                {
                    self.member_syncs.insert(g.clone());
                }
            }
            self.env.delete(&user_key(id));
        }
        match self.config.on_hard_delete {
            OnHardDelete::Delete => self.ops.push(Operation::DeleteUser(id.to_owned())),
            OnHardDelete::Deactivate => {
                if st.as_ref().is_none_or(|s| s.active) {
                    self.ops.push(Self::status_op(id, false)?);
                }
            }
        }
        Ok(())
    }

    /// I2, I6: the group's department (and, with the option on, its iSpring group).
    fn group_upserted(&mut self, group: &Group) -> Result<(), PluginError> {
        let name = group.display_name.trim().to_owned();
        match self.load_group(&group.id)? {
            None => {
                let st = GroupState { name, mirrored: false };
                self.ops.push(department_op(&group.id, &st.name));
                self.save_group(&group.id, &st)?;
                if self.config.add_users_to_groups {
                    self.group_level(&group.id, false)?;
                }
            }
            Some(mut st) => {
                let renamed = st.name != name;
                if renamed || self.resync {
                    st.name = name;
                    self.ops.push(department_op(&group.id, &st.name));
                    self.save_group(&group.id, &st)?;
                }
                if self.config.add_users_to_groups && (renamed || self.resync) {
                    self.group_level(&group.id, renamed)?;
                }
            }
        }
        Ok(())
    }

    /// I2: a rename renames the department (and the mirrored group); I6b: it is a group-level event.
    fn group_renamed(&mut self, id: &str, name: &str) -> Result<(), PluginError> {
        let mut st = self.ensure_group(id)?;
        let name = name.trim();
        let renamed = st.name != name;
        if renamed {
            st.name = name.to_owned();
            self.ops.push(department_op(id, &st.name));
            self.save_group(id, &st)?;
        }
        if self.config.add_users_to_groups {
            self.group_level(id, renamed)?;
        }
        Ok(())
    }

    /// I10: as if every member were removed; the department and the iSpring group stay.
    fn group_deleted(&mut self, id: &str) -> Result<(), PluginError> {
        let prefix = member_prefix(id);
        let members: Vec<String> =
            self.env.keys(&prefix).into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)).collect();
        let mirrored = self.load_group(id)?.is_some_and(|s| s.mirrored);
        self.remove_members(id, &members)?;
        if self.config.add_users_to_groups && mirrored {
            self.member_syncs.insert(id.to_owned()); // Emptied, kept.
        }
        self.env.delete(&group_key(id));
        Ok(())
    }

    /// I3, I6, I7: each listed user, in request order, joins the group and moves to its department.
    fn members_added(&mut self, group: &str, users: &[String]) -> Result<(), PluginError> {
        self.ensure_group(group)?;
        for u in users {
            let Some(mut st) = self.ensure_user(u)? else { continue };
            let member = format!("{}{u}", member_prefix(group));
            let known = st.groups.iter().any(|g| g == group);
            if known && !self.resync {
                continue; // Re-adding a member changes nothing.
            }
            if !known {
                st.groups.push(group.to_owned());
                self.env.set(&member, String::new())?;
            }
            if self.resync {
                // A resync replays memberships group by group: the order of joining comes from the
                // directory, not from the replay.
                let order = self.env.groups_of(u);
                st.groups.sort_by_key(|g| order.iter().position(|o| o == g).map_or(0, |p| p + 1));
            }
            let want = st.groups.last().cloned().unwrap_or_default();
            self.move_to(u, &mut st, want);
            self.save_user(u, &st)?;
        }
        if self.config.add_users_to_groups {
            self.group_level(group, false)?;
            self.member_syncs.insert(group.to_owned());
        }
        Ok(())
    }

    /// I4, I5: leaving the group of one's department moves one to the most recently added remaining
    /// group's department, else root; leaving another group moves nothing.
    fn members_removed(&mut self, group: &str, users: &[String]) -> Result<(), PluginError> {
        self.remove_members(group, users)?;
        if self.config.add_users_to_groups {
            self.ensure_group(group)?;
            self.group_level(group, false)?;
            self.member_syncs.insert(group.to_owned());
        }
        Ok(())
    }

    fn remove_members(&mut self, group: &str, users: &[String]) -> Result<(), PluginError> {
        for u in users {
            let Some(mut st) = self.load_user(u)? else { continue };
            let Some(at) = st.groups.iter().position(|g| g == group) else { continue };
            st.groups.remove(at);
            self.env.delete(&format!("{}{u}", member_prefix(group)));
            if st.dept == group {
                let want = st.groups.last().cloned().unwrap_or_default();
                self.move_to(u, &mut st, want);
            }
            self.save_user(u, &st)?;
        }
        Ok(())
    }

    fn move_to(&mut self, user: &str, st: &mut UserState, dept: String) {
        if st.dept == dept {
            return;
        }
        st.dept = dept.clone();
        self.moves.retain(|(u, _)| u != user);
        self.moves.push((user.to_owned(), dept));
    }

    /// I6/I6b: with the option on, a group-level event makes sure the iSpring group exists (created
    /// with the group's complete membership when missing) and renames it when `renamed`.
    fn group_level(&mut self, group: &str, renamed: bool) -> Result<(), PluginError> {
        let mut st = self.ensure_group(group)?;
        if !st.mirrored {
            st.mirrored = true;
            self.ops.push(Operation::UpsertGroup(GroupOp { key: group.to_owned(), name: st.name.clone() }));
            self.save_group(group, &st)?;
            self.member_syncs.insert(group.to_owned());
        } else if renamed {
            self.ops.push(Operation::UpsertGroup(GroupOp { key: group.to_owned(), name: st.name.clone() }));
        }
        Ok(())
    }

    /// Moves first (a single one keyed by its user, several as barriers), then the member lists.
    fn finish(mut self) -> Result<Vec<Operation>, PluginError> {
        let moves = std::mem::take(&mut self.moves);
        if let [(user, dept)] = moves.as_slice() {
            self.ops.push(Operation::AssignDepartment(MembershipOp { container: dept.clone(), user_id: user.clone() }));
        } else if !moves.is_empty() {
            // Group by department, in order of first appearance; one request per department and chunk.
            let mut grouped: Vec<Move> = Vec::new();
            for (user, dept) in moves {
                match grouped.iter_mut().find(|m| m.department == dept && m.users.len() < MOVE_CHUNK) {
                    Some(m) => m.users.push(user),
                    None => grouped.push(Move { department: dept, users: vec![user] }),
                }
            }
            for chunk in grouped.chunks(MOVES_PER_OP) {
                let payload = MovePayload { moves: chunk.to_vec() };
                self.ops.push(Operation::Custom(CustomOp {
                    kind: MOVE_USERS.to_owned(),
                    ordering: Ordering::Barrier,
                    payload_json: to_json(&payload)?,
                }));
            }
        }
        for group in std::mem::take(&mut self.member_syncs) {
            let prefix = member_prefix(&group);
            let users: Vec<String> =
                self.env.keys(&prefix).into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)).collect();
            let payload = MembersPayload { group, users };
            self.ops.push(Operation::Custom(CustomOp {
                kind: SET_MEMBERS.to_owned(),
                ordering: Ordering::Barrier,
                payload_json: to_json(&payload)?,
            }));
        }
        Ok(self.ops)
    }
}

fn department_op(group: &str, name: &str) -> Operation {
    Operation::UpsertDepartment(DepartmentOp { key: group.to_owned(), name: name.to_owned(), parent_key: None })
}
