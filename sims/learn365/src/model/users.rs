//! Principals: the user upsert (an inferred extension, `docs/spec/learn365.md` §2, Q25: Learn365 normally learns users from
//! Microsoft 365 itself), purge, and Learn365's view of Entra groups (`/_sim/groups`), whose member
//! changes add or remove `group:<objectId>` enrollment sources.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{
    Error, GROUP_CLAIM_PREFIX, Principal, PrincipalKind, Result, Source, State, Time, USER_CLAIM_PREFIX, new_id,
};

/// Body of `POST /odata/v2/Users`. Absent or null text fields are stored as empty strings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserUpsert {
    pub login_name: String,
    #[serde(default)]
    pub directory_object_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub office: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub is_disabled: Option<bool>,
}

impl UserUpsert {
    pub const FIELDS: [&'static str; 11] = [
        "LoginName",
        "DirectoryObjectId",
        "Title",
        "Email",
        "Department",
        "JobTitle",
        "City",
        "Country",
        "Office",
        "Company",
        "IsDisabled",
    ];
}

/// Body of `POST /_sim/groups`: Learn365's current view of an Entra group.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupUpdate {
    pub object_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

fn text(v: Option<String>) -> String {
    v.map(|s| s.trim().to_string()).unwrap_or_default()
}

impl State {
    /// Creates or updates a user: matched by `DirectoryObjectId` (case-insensitive), else by
    /// `LoginName`. Text fields absent or null are stored empty; an absent `DirectoryObjectId`
    /// keeps the stored one. Returns the user id and whether it was created.
    pub fn upsert_user(&mut self, body: UserUpsert, at: Time) -> Result<(String, bool)> {
        let login = body.login_name.trim().to_lowercase();
        let upn = login.strip_prefix(USER_CLAIM_PREFIX).unwrap_or_default();
        if upn.is_empty() || upn.contains('|') {
            return Err(Error::bad_request(format!(
                "LoginName must be a user claim '{USER_CLAIM_PREFIX}<upn>', got '{}'",
                body.login_name
            )));
        }
        let oid = text(body.directory_object_id.clone()).to_lowercase();
        let by_oid = if oid.is_empty() { None } else { self.user_oids.get(&oid).cloned() };
        let by_login = self.logins.get(&login).cloned();
        let target = by_oid.clone().or_else(|| by_login.clone());
        if let (Some(target), Some(other)) = (&target, &by_login)
            && target != other
        {
            return Err(Error::conflict(
                "LoginNameConflict",
                format!("LoginName '{login}' already belongs to another user ({other})"),
            ));
        }

        let created = target.is_none();
        let id = target.unwrap_or_else(new_id);
        let (old_login, old_oid) = match self.principals.get(&id) {
            Some(p) => (p.login.clone(), p.object_id.clone()),
            None => (String::new(), String::new()),
        };
        // The Entra identity is not dropped by an update that does not repeat it.
        let oid = if oid.is_empty() { old_oid.clone() } else { oid };
        let seq = if created { self.next_seq() } else { 0 };
        let user = Principal {
            id: id.clone(),
            kind: PrincipalKind::User,
            login: login.clone(),
            object_id: oid.clone(),
            title: text(body.title),
            email: text(body.email),
            department: text(body.department),
            job_title: text(body.job_title),
            city: text(body.city),
            country: text(body.country),
            office: text(body.office),
            company: text(body.company),
            is_disabled: body.is_disabled.unwrap_or(false),
            created_at: self.principals.get(&id).map_or(at, |p| p.created_at),
            modified_at: at,
            members: BTreeSet::new(),
            seq: self.principals.get(&id).map_or(seq, |p| p.seq),
        };
        self.principals.insert(id.clone(), user);

        if old_login != login {
            self.logins.remove(&old_login);
            self.logins.insert(login.clone(), id.clone());
            let rows: Vec<String> = self.enrollments_of_principal(&id).map(|e| e.id.clone()).collect();
            for row in rows {
                if let Some(e) = self.enrollments.get_mut(&row) {
                    e.login = login.clone();
                }
            }
        }
        if old_oid != oid {
            if !old_oid.is_empty() {
                self.user_oids.remove(&old_oid);
            }
            if !oid.is_empty() {
                self.user_oids.insert(oid.clone(), id.clone());
                self.join_groups(&id, &oid, at);
            }
        }
        Ok((id, created))
    }

    /// A user with this object id appeared: the groups that list it enroll it in what they are enrolled in.
    fn join_groups(&mut self, user_id: &str, oid: &str, at: Time) {
        let groups: Vec<(String, String)> =
            self.groups().filter(|g| g.members.contains(oid)).map(|g| (g.id.clone(), g.object_id.clone())).collect();
        for (group_id, group_oid) in groups {
            for course in self.active_courses_of(&group_id) {
                self.add_source(user_id, &course, Source::Group(group_oid.clone()), false, at);
            }
        }
    }

    /// Course ids in which a principal is actively enrolled.
    fn active_courses_of(&self, principal_id: &str) -> Vec<String> {
        self.enrollments_of_principal(principal_id).filter(|e| e.is_active()).map(|e| e.course_id.clone()).collect()
    }

    /// Creates or replaces Learn365's view of an Entra group. Members who joined get the group's
    /// enrollments (`group:<objectId>`); members who left lose that source (their progress is kept).
    /// Returns the group's principal id and whether it was created.
    pub fn set_group(&mut self, body: GroupUpdate, at: Time) -> Result<(String, bool)> {
        let oid = body.object_id.trim().to_lowercase();
        if oid.is_empty() || oid.contains('|') {
            return Err(Error::bad_request("objectId must be a non-empty Entra object id"));
        }
        let members: BTreeSet<String> =
            body.members.iter().map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty()).collect();
        let existing = self.group_oids.get(&oid).cloned();
        let created = existing.is_none();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = new_id();
                let seq = self.next_seq();
                let login = format!("{GROUP_CLAIM_PREFIX}{oid}");
                let group = Principal {
                    id: id.clone(),
                    kind: PrincipalKind::Group,
                    login: login.clone(),
                    object_id: oid.clone(),
                    title: oid.clone(),
                    email: String::new(),
                    department: String::new(),
                    job_title: String::new(),
                    city: String::new(),
                    country: String::new(),
                    office: String::new(),
                    company: String::new(),
                    is_disabled: false,
                    created_at: at,
                    modified_at: at,
                    members: BTreeSet::new(),
                    seq,
                };
                self.principals.insert(id.clone(), group);
                self.logins.insert(login, id.clone());
                self.group_oids.insert(oid.clone(), id.clone());
                id
            }
        };
        let Some(group) = self.principals.get_mut(&id) else {
            return Err(Error::new(500, "InternalError", "group vanished"));
        };
        if let Some(name) = body.display_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) {
            group.title = name;
        }
        let old = std::mem::replace(&mut group.members, members.clone());
        group.modified_at = at;

        let courses = self.active_courses_of(&id);
        let source = Source::Group(oid);
        for left in old.difference(&members) {
            if let Some(user) = self.user_by_object_id(left).map(|u| u.id.clone()) {
                for course in &courses {
                    self.remove_source(&user, course, &source, Some("Removed from the group"), at);
                }
            }
        }
        for joined in members.difference(&old) {
            if let Some(user) = self.user_by_object_id(joined).map(|u| u.id.clone()) {
                for course in &courses {
                    self.add_source(&user, course, source.clone(), false, at);
                }
            }
        }
        Ok((id, created))
    }

    /// `POST Users('<login>')/Purge`: removes a user with its enrollments, progress and
    /// notifications; for a group, its members lose the group's enrollments and the group is forgotten.
    pub fn purge(&mut self, login: &str, at: Time) -> Result<()> {
        let principal = self
            .principal_by_login(login)
            .filter(|p| p.login.contains('|'))
            .ok_or_else(|| Error::not_found("UserNotFound", "user", login))?;
        let id = principal.id.clone();
        self.remove_principal(&id, at);
        Ok(())
    }

    /// `DELETE /_sim/groups/{objectId}`: the Entra group is gone; same effect as purging it.
    pub fn delete_group(&mut self, oid: &str, at: Time) -> Result<()> {
        let id = self
            .group_by_object_id(oid)
            .map(|g| g.id.clone())
            .ok_or_else(|| Error::not_found("GroupNotFound", "group", oid))?;
        self.remove_principal(&id, at);
        Ok(())
    }

    fn remove_principal(&mut self, id: &str, at: Time) {
        let Some(principal) = self.principals.get(id).cloned() else { return };
        let rows: Vec<String> = self.enrollments_of_principal(id).map(|e| e.id.clone()).collect();
        if principal.is_group() {
            // Ending the group's own enrollments removes the members' group source first.
            for row in &rows {
                self.deactivate(row, Some("The group was removed"), at);
            }
            self.group_oids.remove(&principal.object_id);
        } else {
            self.notifications.retain(|n| n.user_id != id);
            if !principal.object_id.is_empty() {
                self.user_oids.remove(&principal.object_id);
            }
        }
        for row in &rows {
            self.remove_row(row);
        }
        self.logins.remove(&principal.login);
        self.principals.remove(id);
    }
}
