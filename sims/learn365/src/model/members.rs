//! One-member changes to an Entra group, as Microsoft Graph makes them (`members/$ref`), and its
//! rename. Learn365 reads Entra membership itself, so a member who joins gets the group's enrollments
//! (`group:<objectId>`) and a member who leaves loses that source, exactly as a whole-list replacement
//! through `/_sim/groups` ([`State::set_group`]) would do, without copying the member list.

use super::{Error, Result, Source, State, Time};

impl State {
    /// The principal id of the group with this object id, or `404 GroupNotFound`.
    fn group_id(&self, oid: &str) -> Result<String> {
        self.group_by_object_id(oid)
            .map(|g| g.id.clone())
            .ok_or_else(|| Error::not_found("GroupNotFound", "group", oid))
    }

    /// Courses in which the principal is actively enrolled.
    fn active_course_ids(&self, principal_id: &str) -> Vec<String> {
        self.enrollments_of_principal(principal_id).filter(|e| e.is_active()).map(|e| e.course_id.clone()).collect()
    }

    /// Adds one member (an Entra object id) to a known group. A member that Learn365 knows as a user
    /// gets every enrollment the group holds. Returns `false`, changing nothing, when it already is a
    /// member.
    pub fn add_group_member(&mut self, group_oid: &str, member: &str, at: Time) -> Result<bool> {
        let id = self.group_id(group_oid)?;
        let member = member.trim().to_ascii_lowercase();
        if member.is_empty() {
            return Err(Error::bad_request("a member object id is required"));
        }
        let Some(group) = self.principals.get_mut(&id) else {
            return Err(Error::not_found("GroupNotFound", "group", group_oid));
        };
        if !group.members.insert(member.clone()) {
            return Ok(false);
        }
        group.modified_at = at;
        let source = Source::Group(group.object_id.clone());
        if let Some(user) = self.user_by_object_id(&member).map(|u| u.id.clone()) {
            for course in self.active_course_ids(&id) {
                self.add_source(&user, &course, source.clone(), false, at);
            }
        }
        Ok(true)
    }

    /// Removes one member from a known group; its enrollments held through the group lose that source
    /// (progress kept). Returns `false`, changing nothing, when it was not a member.
    pub fn remove_group_member(&mut self, group_oid: &str, member: &str, at: Time) -> Result<bool> {
        let id = self.group_id(group_oid)?;
        let member = member.trim().to_ascii_lowercase();
        let Some(group) = self.principals.get_mut(&id) else {
            return Err(Error::not_found("GroupNotFound", "group", group_oid));
        };
        if !group.members.remove(&member) {
            return Ok(false);
        }
        group.modified_at = at;
        let source = Source::Group(group.object_id.clone());
        if let Some(user) = self.user_by_object_id(&member).map(|u| u.id.clone()) {
            for course in self.active_course_ids(&id) {
                self.remove_source(&user, &course, &source, Some("Removed from the group"), at);
            }
        }
        Ok(true)
    }

    /// Renames a known group (its `Title` in Learn365, `displayName` in Graph).
    pub fn rename_group(&mut self, group_oid: &str, display_name: &str, at: Time) -> Result<()> {
        let id = self.group_id(group_oid)?;
        if let Some(group) = self.principals.get_mut(&id) {
            group.title = display_name.trim().to_string();
            group.modified_at = at;
        }
        Ok(())
    }
}
