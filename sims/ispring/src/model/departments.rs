//! The department tree: one root that can be neither moved nor deleted, no cycles, and only empty
//! departments can be deleted (taking their rules with them). A user changing department joins it.

use super::{Department, DepartmentUpdate, Error, Result, State, TargetType, check_name, new_id};
use crate::table::{Page, PageReq, paginate};

impl State {
    pub fn department(&self, id: &str) -> Result<&Department> {
        self.departments.get(id).ok_or_else(|| Error::not_found("department_not_found", "department", id))
    }

    pub fn departments_page(&self, page: PageReq) -> Page<&Department> {
        paginate(self.departments.iter_from(page.from), page.size)
    }

    pub fn create_department(&mut self, name: String, parent_id: &str, code: Option<String>) -> Result<String> {
        check_name(&name)?;
        self.department(parent_id)?;
        let seq = self.next_seq();
        let id = new_id();
        let dept = Department { id: id.clone(), name, parent_id: Some(parent_id.to_string()), code, seq };
        self.departments.insert(id.clone(), dept);
        self.children.entry(parent_id.to_string()).or_default().insert(id.clone());
        Ok(id)
    }

    /// Renames and/or moves a department under another parent.
    pub fn update_department(&mut self, id: &str, update: DepartmentUpdate) -> Result<()> {
        let current_parent = self.department(id)?.parent_id.clone();
        if let Some(name) = &update.name {
            check_name(name)?;
        }
        let new_parent = match update.parent_id {
            Some(parent) if current_parent.as_deref() != Some(parent.as_str()) => {
                if id == self.root_id {
                    return Err(Error::new(400, "cannot_move_root", "the root department cannot be moved"));
                }
                self.department(&parent)?;
                // The new parent must not be the department itself or one of its descendants.
                let mut cursor = Some(parent.as_str());
                while let Some(current) = cursor {
                    if current == id {
                        return Err(Error::new(
                            400,
                            "invalid_parent",
                            "a department cannot be moved under itself or its descendants",
                        ));
                    }
                    cursor = self.departments.get(current).and_then(|d| d.parent_id.as_deref());
                }
                Some(parent)
            }
            _ => None,
        };

        if let Some(parent) = &new_parent {
            if let Some(old) = &current_parent
                && let Some(siblings) = self.children.get_mut(old)
            {
                siblings.remove(id);
            }
            self.children.entry(parent.clone()).or_default().insert(id.to_string());
        }
        let dept =
            self.departments.get_mut(id).ok_or_else(|| Error::not_found("department_not_found", "department", id))?;
        if let Some(name) = update.name {
            dept.name = name;
        }
        if let Some(code) = update.code {
            dept.code = Some(code);
        }
        if let Some(parent) = new_parent {
            dept.parent_id = Some(parent);
        }
        Ok(())
    }

    /// Deletes an empty, non-root department together with the rules attached to it.
    pub fn delete_department(&mut self, id: &str) -> Result<()> {
        let parent = self.department(id)?.parent_id.clone();
        if id == self.root_id {
            return Err(Error::new(400, "cannot_delete_root", "the root department cannot be deleted"));
        }
        let has_users = self.dept_users.get(id).is_some_and(|u| !u.is_empty());
        let has_children = self.children.get(id).is_some_and(|c| !c.is_empty());
        if has_users || has_children {
            return Err(Error::new(
                409,
                "department_not_empty",
                format!("department '{id}' still contains users or departments"),
            ));
        }
        self.departments.remove(id);
        self.dept_users.remove(id);
        self.children.remove(id);
        if let Some(parent) = parent
            && let Some(siblings) = self.children.get_mut(&parent)
        {
            siblings.remove(id);
        }
        self.delete_rules_on(TargetType::Department, id);
        Ok(())
    }

    /// Moves users into a department; each user whose department changes joins it.
    pub fn move_users(&mut self, dept_id: &str, user_ids: &[String]) -> Result<()> {
        self.department(dept_id)?;
        for user_id in user_ids {
            self.user(user_id)?;
        }
        for user_id in user_ids {
            self.place_user(user_id, dept_id);
        }
        Ok(())
    }

    /// Puts an existing user into an existing department. A change of department is a join.
    pub(super) fn place_user(&mut self, user_id: &str, dept_id: &str) {
        let Some(user) = self.users.get_mut(user_id) else { return };
        if user.department_id == dept_id {
            return;
        }
        let old = std::mem::replace(&mut user.department_id, dept_id.to_string());
        let seq = user.seq;
        if let Some(members) = self.dept_users.get_mut(&old) {
            members.remove(&seq);
        }
        self.dept_users.entry(dept_id.to_string()).or_default().insert(seq, user_id.to_string());
        self.fire_rules(TargetType::Department, dept_id, user_id);
    }
}
