//! Groups and their memberships, kept in step on both sides (group members and each user's
//! group list). Becoming a member is a join; leaving or deleting a group never removes enrollments.

use std::collections::{BTreeMap, HashSet};

use super::{Error, Group, Result, State, TargetType, check_name, dedup, new_id};
use crate::table::{Page, PageReq, paginate};

impl State {
    pub fn group(&self, id: &str) -> Result<&Group> {
        self.groups.get(id).ok_or_else(|| Error::not_found("group_not_found", "group", id))
    }

    pub fn groups_page(&self, page: PageReq) -> Page<&Group> {
        paginate(self.groups.iter_from(page.from), page.size)
    }

    pub fn create_group(&mut self, name: String, user_ids: &[String]) -> Result<String> {
        check_name(&name)?;
        for user_id in user_ids {
            self.user(user_id)?;
        }
        let seq = self.next_seq();
        let id = new_id();
        self.groups.insert(id.clone(), Group { id: id.clone(), name, members: BTreeMap::new(), seq });
        for user_id in dedup(user_ids) {
            self.add_to_group(&user_id, &id);
        }
        Ok(id)
    }

    pub fn rename_group(&mut self, id: &str, name: String) -> Result<()> {
        self.group(id)?;
        check_name(&name)?;
        if let Some(group) = self.groups.get_mut(id) {
            group.name = name;
        }
        Ok(())
    }

    /// Deletes a group and the rules attached to it; enrollments stay.
    pub fn delete_group(&mut self, id: &str) -> Result<()> {
        let group = self.groups.remove(id).ok_or_else(|| Error::not_found("group_not_found", "group", id))?;
        for user_id in group.members.values() {
            if let Some(user) = self.users.get_mut(user_id) {
                user.groups.retain(|g| g != id);
            }
        }
        self.delete_rules_on(TargetType::Group, id);
        Ok(())
    }

    /// Replaces the whole membership; users newly in the group join it.
    pub fn replace_group_members(&mut self, id: &str, user_ids: &[String]) -> Result<()> {
        let old: Vec<String> = self.group(id)?.members.values().cloned().collect();
        for user_id in user_ids {
            self.user(user_id)?;
        }
        let wanted = dedup(user_ids);
        let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
        for user_id in old.iter().filter(|u| !wanted_set.contains(u.as_str())) {
            self.remove_from_group(user_id, id);
        }
        for user_id in &wanted {
            self.add_to_group(user_id, id);
        }
        Ok(())
    }

    /// Adds an existing user to an existing group. Becoming a member is a join.
    pub(super) fn add_to_group(&mut self, user_id: &str, group_id: &str) {
        let Some(user) = self.users.get_mut(user_id) else { return };
        if user.groups.iter().any(|g| g == group_id) {
            return;
        }
        let Some(group) = self.groups.get_mut(group_id) else { return };
        group.members.insert(user.seq, user_id.to_string());
        user.groups.push(group_id.to_string());
        self.fire_rules(TargetType::Group, group_id, user_id);
    }

    pub(super) fn remove_from_group(&mut self, user_id: &str, group_id: &str) {
        if let Some(user) = self.users.get_mut(user_id) {
            user.groups.retain(|g| g != group_id);
            if let Some(group) = self.groups.get_mut(group_id) {
                group.members.remove(&user.seq);
            }
        }
    }
}
