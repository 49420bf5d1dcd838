//! Users: case-insensitively unique logins, required profile fields, known roles, and the
//! `GET /users` filters answered from the most selective index. Every check runs before any change.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::{
    Error, NewUser, Result, STATUS_ACTIVE, STATUS_INACTIVE, STATUS_TERMINATED, State, TargetType, User, UserFilter,
    UserUpdate, dedup, new_id, now_rfc3339,
};
use crate::table::{Page, PageReq, paginate};

const ROLES: [&str; 5] = ["learner", "administrator", "department_administrator", "publisher", "custom"];

impl State {
    pub fn user(&self, id: &str) -> Result<&User> {
        self.users.get(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Validates a login value and checks that no *other* user holds it.
    fn check_login(&self, login: Option<&Value>, user_id: Option<&str>) -> Result<String> {
        let login = match login.and_then(Value::as_str) {
            Some(login) if !login.trim().is_empty() => login,
            _ => return Err(Error::bad_request("fields.login is required and must be a non-empty string")),
        };
        let key = login.to_lowercase();
        match self.logins.get(&key) {
            Some(owner) if Some(owner.as_str()) != user_id => {
                Err(Error::new(409, "login_already_exists", format!("a user with login '{login}' already exists")))
            }
            _ => Ok(key),
        }
    }

    fn check_groups(&self, group_ids: &[String]) -> Result<()> {
        for group_id in group_ids {
            self.group(group_id)?;
        }
        Ok(())
    }

    fn check_role(role: Option<&str>) -> Result<()> {
        match role {
            Some(role) if !ROLES.contains(&role) => Err(Error::bad_request(format!("unknown role '{role}'"))),
            _ => Ok(()),
        }
    }

    /// Creates a user; the user joins its department and every group in `group_ids`.
    pub fn create_user(&mut self, new: NewUser) -> Result<String> {
        if new.fields.get("login").and_then(Value::as_str).is_none_or(|l| l.trim().is_empty()) {
            return Err(Error::bad_request("fields.login is required and must be a non-empty string"));
        }
        for field in &self.required_fields {
            let present = match new.fields.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(_) => true,
            };
            if !present {
                return Err(Error::new(
                    400,
                    "required_field_missing",
                    format!("The profile field '{field}' is required"),
                ));
            }
        }
        self.department(&new.department_id)?;
        self.check_groups(&new.group_ids)?;
        Self::check_role(new.role.as_deref())?;
        let login_key = self.check_login(new.fields.get("login"), None)?;

        let seq = self.next_seq();
        let id = new_id();
        let user = User {
            id: id.clone(),
            department_id: new.department_id.clone(),
            status: STATUS_ACTIVE,
            role: new.role.unwrap_or_else(|| "learner".to_string()),
            fields: new.fields,
            groups: Vec::new(),
            added_date: now_rfc3339(),
            seq,
        };
        self.users.insert(id.clone(), user);
        self.logins.insert(login_key, id.clone());
        self.dept_users.entry(new.department_id.clone()).or_default().insert(seq, id.clone());
        self.fire_rules(TargetType::Department, &new.department_id, &id);
        for group_id in dedup(&new.group_ids) {
            self.add_to_group(&id, &group_id);
        }
        Ok(id)
    }

    /// Updates a user: merges `fields`, moves it (a join) and replaces its groups.
    pub fn update_user(&mut self, id: &str, update: UserUpdate) -> Result<()> {
        self.user(id)?;
        if let Some(dept) = &update.department_id {
            self.department(dept)?;
        }
        let new_login = match &update.fields {
            Some(fields) if fields.contains_key("login") => Some(self.check_login(fields.get("login"), Some(id))?),
            _ => None,
        };
        if let Some(groups) = &update.group_ids {
            self.check_groups(groups)?;
        }
        Self::check_role(update.role.as_deref())?;

        if let Some(fields) = update.fields {
            let user = self.users.get_mut(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))?;
            let old_login = user.login().to_lowercase();
            user.fields.extend(fields);
            if let Some(new_login) = new_login
                && new_login != old_login
            {
                self.logins.remove(&old_login);
                self.logins.insert(new_login, id.to_string());
            }
        }
        if let Some(role) = update.role
            && let Some(user) = self.users.get_mut(id)
        {
            user.role = role;
        }
        if let Some(dept) = update.department_id {
            self.place_user(id, &dept);
        }
        if let Some(groups) = update.group_ids {
            let wanted = dedup(&groups);
            let current = self.users.get(id).map(|u| u.groups.clone()).unwrap_or_default();
            for group_id in current.iter().filter(|g| !wanted.contains(g)) {
                self.remove_from_group(id, group_id);
            }
            for group_id in &wanted {
                self.add_to_group(id, group_id);
            }
        }
        Ok(())
    }

    /// Deletes a user, its group memberships and its enrollments.
    pub fn delete_user(&mut self, id: &str) -> Result<()> {
        let user = self.users.remove(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))?;
        self.logins.remove(&user.login().to_lowercase());
        if let Some(members) = self.dept_users.get_mut(&user.department_id) {
            members.remove(&user.seq);
        }
        for group_id in &user.groups {
            if let Some(group) = self.groups.get_mut(group_id) {
                group.members.remove(&user.seq);
            }
        }
        let enrollment_ids: Vec<String> =
            self.enrollments_by_learner.get(id).map(|m| m.values().cloned().collect()).unwrap_or_default();
        for enrollment_id in enrollment_ids {
            self.remove_enrollment(&enrollment_id);
        }
        self.enrollments_by_learner.remove(id);
        Ok(())
    }

    pub fn set_user_status(&mut self, id: &str, status: i64) -> Result<()> {
        self.user(id)?;
        let status = match status {
            1 => STATUS_ACTIVE,
            3 => STATUS_INACTIVE,
            5 => STATUS_TERMINATED,
            other => return Err(Error::bad_request(format!("invalid status {other}; expected 1, 3 or 5"))),
        };
        if let Some(user) = self.users.get_mut(id) {
            user.status = status;
        }
        Ok(())
    }

    pub fn users_page(&self, filter: &UserFilter, page: PageReq) -> Page<&User> {
        let logins: HashSet<String> = filter.logins.iter().map(|l| l.to_lowercase()).collect();
        let departments: HashSet<&str> = filter.departments.iter().map(String::as_str).collect();
        let groups: HashSet<&str> = filter.groups.iter().map(String::as_str).collect();
        let matches = |user: &User| {
            (logins.is_empty() || logins.contains(&user.login().to_lowercase()))
                && (departments.is_empty() || departments.contains(user.department_id.as_str()))
                && (groups.is_empty() || user.groups.iter().any(|g| groups.contains(g.as_str())))
        };

        // Start from the most selective index available, then apply the other filters.
        let candidates: Option<BTreeMap<u64, &str>> = if !logins.is_empty() {
            Some(
                logins
                    .iter()
                    .filter_map(|l| self.logins.get(l))
                    .filter_map(|id| self.users.get(id))
                    .map(|u| (u.seq, u.id.as_str()))
                    .collect(),
            )
        } else if !departments.is_empty() {
            Some(
                departments
                    .iter()
                    .filter_map(|d| self.dept_users.get(*d))
                    .flat_map(|m| m.range(page.from..))
                    .map(|(seq, id)| (*seq, id.as_str()))
                    .collect(),
            )
        } else if !groups.is_empty() {
            Some(
                groups
                    .iter()
                    .filter_map(|g| self.groups.get(g))
                    .flat_map(|g| g.members.range(page.from..))
                    .map(|(seq, id)| (*seq, id.as_str()))
                    .collect(),
            )
        } else {
            None
        };

        match candidates {
            Some(candidates) => paginate(
                candidates
                    .range(page.from..)
                    .filter_map(|(seq, id)| self.users.get(id).map(|u| (*seq, u)))
                    .filter(|(_, u)| matches(u)),
                page.size,
            ),
            None => paginate(self.users.iter_from(page.from), page.size),
        }
    }
}
