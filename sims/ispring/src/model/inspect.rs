//! Whole-account views: the `GET /_sim/state` snapshot and the index self-check the tests run.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Content, Department, Enrollment, Group, Rule, State, User};

impl State {
    /// Everything, for `GET /_sim/state`.
    pub fn snapshot(&self) -> Value {
        json!({
            "rootDepartmentId": self.root_id,
            "departments": self.departments.iter().map(Department::to_json).collect::<Vec<_>>(),
            "users": self.users.iter().map(User::to_json).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(Group::to_json).collect::<Vec<_>>(),
            "enrollments": self.enrollments.iter().map(Enrollment::to_json).collect::<Vec<_>>(),
            "rules": self.rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            "contents": self.contents.iter().map(Content::to_json).collect::<Vec<_>>(),
        })
    }

    /// Checks the internal indexes against the rows; used by tests.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut placed = 0;
        for user in self.users.iter() {
            if !self.departments.contains(&user.department_id) {
                return Err(format!("user {} is in unknown department {}", user.id, user.department_id));
            }
            let holders: Vec<&str> = self
                .dept_users
                .iter()
                .filter(|(_, m)| m.get(&user.seq) == Some(&user.id))
                .map(|(d, _)| d.as_str())
                .collect();
            if holders != [user.department_id.as_str()] {
                return Err(format!("user {} is indexed in departments {holders:?}", user.id));
            }
            placed += 1;
            if self.logins.get(&user.login().to_lowercase()) != Some(&user.id) {
                return Err(format!("login index misses user {}", user.id));
            }
            for group_id in &user.groups {
                match self.groups.get(group_id) {
                    Some(g) if g.members.get(&user.seq) == Some(&user.id) => {}
                    _ => return Err(format!("user {} lists group {group_id} that does not list it", user.id)),
                }
            }
        }
        let indexed: usize = self.dept_users.values().map(BTreeMap::len).sum();
        if indexed != placed || self.logins.len() != placed {
            return Err(format!("{indexed} indexed placements / {} logins for {placed} users", self.logins.len()));
        }
        for group in self.groups.iter() {
            for user_id in group.members.values() {
                if !self.users.get(user_id).is_some_and(|u| u.groups.contains(&group.id)) {
                    return Err(format!("group {} lists user {user_id} that does not list it", group.id));
                }
            }
        }
        Ok(())
    }
}
