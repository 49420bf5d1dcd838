//! Change events (`docs/ARCHITECTURE.md`): what every SCIM write appends to the tenant's ordered log, and
//! the pure functions that derive them from a before/after pair of documents.

use super::Kind;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    UserUpserted,
    UserActiveChanged,
    UserDeleted,
    GroupUpserted,
    GroupRenamed,
    GroupDeleted,
    MembersAdded,
    MembersRemoved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UserUpserted => "user.upserted",
            EventKind::UserActiveChanged => "user.active_changed",
            EventKind::UserDeleted => "user.deleted",
            EventKind::GroupUpserted => "group.upserted",
            EventKind::GroupRenamed => "group.renamed",
            EventKind::GroupDeleted => "group.deleted",
            EventKind::MembersAdded => "group.members_added",
            EventKind::MembersRemoved => "group.members_removed",
        }
    }
    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::UserUpserted,
            EventKind::UserActiveChanged,
            EventKind::UserDeleted,
            EventKind::GroupUpserted,
            EventKind::GroupRenamed,
            EventKind::GroupDeleted,
            EventKind::MembersAdded,
            EventKind::MembersRemoved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An event about to be appended (the store assigns `seq` and the time).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub resource_type: Kind,
    pub resource_id: String,
    pub payload: Value,
}

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChangeEvent {
    pub seq: i64,
    pub kind: String,
    pub resource_type: String,
    pub resource_id: String,
    pub payload: Value,
    pub created_at: String,
}

fn with_id(id: &str, doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.insert("id".into(), Value::String(id.to_owned()));
    }
    d
}

fn without(doc: &Value, key: &str) -> Value {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove(key);
    }
    d
}

fn active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// Events for a new resource.
pub fn created(kind: Kind, id: &str, doc: &Value) -> NewEvent {
    let event = match kind {
        Kind::User => EventKind::UserUpserted,
        Kind::Group => EventKind::GroupUpserted,
    };
    NewEvent { kind: event, resource_type: kind, resource_id: id.to_owned(), payload: with_id(id, doc) }
}

/// Events for a changed document (empty when nothing changed).
pub fn updated(kind: Kind, id: &str, old: &Value, new: &Value) -> Vec<NewEvent> {
    let mut out = Vec::new();
    let ev =
        |k: EventKind, payload: Value| NewEvent { kind: k, resource_type: kind, resource_id: id.to_owned(), payload };
    match kind {
        Kind::User => {
            if without(old, "active") != without(new, "active") {
                out.push(ev(EventKind::UserUpserted, with_id(id, new)));
            }
            if active(old) != active(new) {
                out.push(ev(EventKind::UserActiveChanged, json!({"id": id, "active": active(new)})));
            }
        }
        Kind::Group => {
            let old_name = old.get("displayName");
            let new_name = new.get("displayName");
            if old_name != new_name {
                out.push(ev(
                    EventKind::GroupRenamed,
                    json!({"id": id, "oldDisplayName": old_name, "displayName": new_name}),
                ));
            }
            if without(old, "displayName") != without(new, "displayName") {
                out.push(ev(EventKind::GroupUpserted, with_id(id, new)));
            }
        }
    }
    out
}

pub fn deleted(kind: Kind, id: &str) -> NewEvent {
    let k = match kind {
        Kind::User => EventKind::UserDeleted,
        Kind::Group => EventKind::GroupDeleted,
    };
    NewEvent { kind: k, resource_type: kind, resource_id: id.to_owned(), payload: json!({"id": id}) }
}

/// Members added to (or removed from) a group, in request order. `members` are (id, kind) pairs.
pub fn members(added: bool, group_id: &str, members: &[(String, Kind)]) -> NewEvent {
    let list: Vec<Value> = members.iter().map(|(id, k)| json!({"value": id, "type": k.as_str()})).collect();
    NewEvent {
        kind: if added { EventKind::MembersAdded } else { EventKind::MembersRemoved },
        resource_type: Kind::Group,
        resource_id: group_id.to_owned(),
        payload: json!({"id": group_id, "members": list}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_update_splits_active_from_other_changes() {
        let old = json!({"userName": "a", "active": true});
        let kinds = |new: Value| updated(Kind::User, "u1", &old, &new).into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(json!({"userName": "a", "active": false})), vec![EventKind::UserActiveChanged]);
        assert_eq!(kinds(json!({"userName": "b", "active": true})), vec![EventKind::UserUpserted]);
        assert_eq!(
            kinds(json!({"userName": "b", "active": false})),
            vec![EventKind::UserUpserted, EventKind::UserActiveChanged]
        );
        assert!(kinds(json!({"userName": "a", "active": true})).is_empty());
    }

    #[test]
    fn group_rename_is_its_own_event() {
        let old = json!({"displayName": "Sales"});
        let ev = updated(Kind::Group, "g", &old, &json!({"displayName": "Sales EU"}));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::GroupRenamed);
        assert_eq!(ev[0].payload["oldDisplayName"], "Sales");
        for k in [EventKind::UserUpserted, EventKind::MembersRemoved] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
