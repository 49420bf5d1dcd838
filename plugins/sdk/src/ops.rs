//! Builders for common operations, and names for events and resources.

use serde::Serialize;

use crate::{
    Change, CustomOp, EnrollmentOp, Event, Operation, Ordering, PluginError, Principal, ResourceKind, User, UserOp,
};

/// The change-log kinds, as the gateway names them (`Event::log_kind`), in the order of the WIT
/// `event` variant (`other` events carry their own kind).
pub const EVENT_KINDS: [&str; 10] = [
    "user.upserted",
    "user.active_changed",
    "user.deleted",
    "group.upserted",
    "group.renamed",
    "group.deleted",
    "group.members_added",
    "group.members_removed",
    "resync.started",
    "resync.finished",
];

impl Event {
    /// The change-log kind of this event: `user.upserted`, `user.active_changed`, `user.deleted`,
    /// `group.upserted`, `group.renamed`, `group.deleted`, `group.members_added`,
    /// `group.members_removed`, `resync.started`, `resync.finished`, or the kind of an `other` event.
    pub fn log_kind(&self) -> &str {
        let index = match self {
            Event::Other(other) => return &other.kind,
            Event::UserUpserted(_) => 0,
            Event::UserActiveChanged(_) => 1,
            Event::UserDeleted(_) => 2,
            Event::GroupUpserted(_) => 3,
            Event::GroupRenamed(_) => 4,
            Event::GroupDeleted(_) => 5,
            Event::MembersAdded(_) => 6,
            Event::MembersRemoved(_) => 7,
            Event::ResyncStarted => 8,
            Event::ResyncFinished => 9,
        };
        EVENT_KINDS[index]
    }

    /// The resource the event is about: a user or a group and its SCIM id; `None` for the resync
    /// markers, which are about the whole tenant.
    pub fn subject(&self) -> Option<(ResourceKind, &str)> {
        match self {
            Event::UserUpserted(user) => Some((ResourceKind::User, &user.id)),
            Event::UserActiveChanged(change) => Some((ResourceKind::User, &change.user_id)),
            Event::UserDeleted(id) => Some((ResourceKind::User, id)),
            Event::GroupUpserted(group) => Some((ResourceKind::Group, &group.id)),
            Event::GroupRenamed(rename) => Some((ResourceKind::Group, &rename.group_id)),
            Event::GroupDeleted(id) => Some((ResourceKind::Group, id)),
            Event::MembersAdded(change) | Event::MembersRemoved(change) => {
                Some((ResourceKind::Group, &change.group_id))
            }
            Event::ResyncStarted | Event::ResyncFinished | Event::Other(_) => None,
        }
    }

    /// A short name for the event's resource, for logs: `user:<id>`, `group:<id>`, or `tenant` for the
    /// resync markers and `other` events.
    pub fn resource_name(&self) -> String {
        match self.subject() {
            Some((kind, id)) => resource_name(kind, id),
            None => "tenant".to_owned(),
        }
    }

    /// The ordering that keeps a custom operation in line with this event's resource: the user or the
    /// group it is about, a barrier for the resync markers and `other` events.
    pub fn ordering(&self) -> Ordering {
        match self.subject() {
            Some((ResourceKind::User, id)) => Ordering::User(id.to_owned()),
            Some((ResourceKind::Group, id)) => Ordering::Group(id.to_owned()),
            None => Ordering::Barrier,
        }
    }
}

impl Change {
    /// [`Event::log_kind`] of this change's event.
    pub fn log_kind(&self) -> &str {
        self.event.log_kind()
    }
}

impl ResourceKind {
    /// The SCIM resource type: `User` or `Group`.
    pub fn scim_name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// `user:<id>` or `group:<id>`.
pub fn resource_name(kind: ResourceKind, id: &str) -> String {
    match kind {
        ResourceKind::User => format!("user:{id}"),
        ResourceKind::Group => format!("group:{id}"),
    }
}

impl User {
    /// The primary email's value, else the first email's, else none.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails.iter().find(|email| email.primary).or_else(|| self.emails.first()).map(|email| email.value.as_str())
    }
}

impl UserOp {
    /// The usual mapping of a SCIM user: login = `userName`, email = the primary email, first and
    /// last name from `name`, `active` as is, and no further fields (`fields-json` = `{}`).
    pub fn from_user(user: &User) -> Self {
        UserOp {
            user_id: user.id.clone(),
            login: user.user_name.clone(),
            email: user.primary_email().map(str::to_owned),
            first_name: user.given_name.clone(),
            last_name: user.family_name.clone(),
            active: user.active,
            fields_json: "{}".to_owned(),
        }
    }

    /// Sets `fields-json` to `fields` serialized as JSON (normally an object).
    pub fn with_fields(mut self, fields: &impl Serialize) -> Result<Self, PluginError> {
        self.fields_json = to_json(fields)?;
        Ok(self)
    }
}

/// A `custom` operation whose payload is `payload` serialized as JSON, delivered in `ordering`.
pub fn custom(kind: impl Into<String>, ordering: Ordering, payload: &impl Serialize) -> Result<Operation, PluginError> {
    Ok(Operation::Custom(CustomOp { kind: kind.into(), ordering, payload_json: to_json(payload)? }))
}

impl EnrollmentOp {
    /// An enrollment of one user (SCIM id) in `item` of `item_kind`, for no particular source.
    pub fn user(user_id: impl Into<String>, item: impl Into<String>, item_kind: impl Into<String>) -> Self {
        EnrollmentOp {
            principal: Principal::User(user_id.into()),
            item: item.into(),
            item_kind: item_kind.into(),
            source: None,
        }
    }

    /// An enrollment of a group in `item` of `item_kind`.
    pub fn group(group: impl Into<String>, item: impl Into<String>, item_kind: impl Into<String>) -> Self {
        EnrollmentOp {
            principal: Principal::Group(group.into()),
            item: item.into(),
            item_kind: item_kind.into(),
            source: None,
        }
    }

    /// The same enrollment, held for `source` (e.g. `group:<id>`, `tp:<id>`).
    pub fn because(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// Serializes `value` as compact JSON; a failure (a map with non-string keys, say) becomes
/// [`PluginError::Internal`].
pub fn to_json(value: &impl Serialize) -> Result<String, PluginError> {
    serde_json::to_string(value).map_err(|err| PluginError::Internal(format!("serializing JSON: {err}")))
}

impl Operation {
    /// The operation's name as in the WIT (`upsert-user`, `custom`, ...), for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::UpsertUser(_) => "upsert-user",
            Operation::DeactivateUser(_) => "deactivate-user",
            Operation::DeleteUser(_) => "delete-user",
            Operation::UpsertDepartment(_) => "upsert-department",
            Operation::DeleteDepartment(_) => "delete-department",
            Operation::AssignDepartment(_) => "assign-department",
            Operation::UpsertGroup(_) => "upsert-group",
            Operation::DeleteGroup(_) => "delete-group",
            Operation::AddMember(_) => "add-member",
            Operation::RemoveMember(_) => "remove-member",
            Operation::Enroll(_) => "enroll",
            Operation::Unenroll(_) => "unenroll",
            Operation::Custom(_) => "custom",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, MembersChange};

    fn user() -> User {
        User {
            id: "u-1".into(),
            external_id: None,
            user_name: "a@x.com".into(),
            active: true,
            display_name: None,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            emails: vec![
                Email { value: "home@x.com".into(), kind: Some("home".into()), primary: false },
                Email { value: "work@x.com".into(), kind: Some("work".into()), primary: true },
            ],
            title: None,
            preferred_language: None,
            employee_number: None,
            department: None,
            division: None,
            cost_center: None,
            organization: None,
            manager_id: None,
            scim_json: "{}".into(),
        }
    }

    #[test]
    fn maps_a_user_with_its_primary_email() {
        let op = UserOp::from_user(&user());
        assert_eq!(op.login, "a@x.com");
        assert_eq!(op.email.as_deref(), Some("work@x.com"));
        assert_eq!(op.first_name.as_deref(), Some("Ada"));
        assert_eq!(op.fields_json, "{}");
    }

    #[test]
    fn names_events_and_resources() {
        let event = Event::MembersRemoved(MembersChange { group_id: "g-1".into(), members: vec![] });
        assert_eq!(event.log_kind(), "group.members_removed");
        assert_eq!(event.resource_name(), "group:g-1");
        assert_eq!(Event::ResyncStarted.resource_name(), "tenant");
        assert_eq!(Event::UserUpserted(user()).resource_name(), "user:u-1");
        assert_eq!(event.ordering(), Ordering::Group("g-1".into()));
        assert_eq!(Event::ResyncFinished.ordering(), Ordering::Barrier);
    }
}
