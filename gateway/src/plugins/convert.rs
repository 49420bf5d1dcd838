//! Between the store's JSON and the contract's types: change-log rows → `change`, SCIM documents →
//! `user`/`group`, and operations ↔ the JSON stored in the outbox (serde's externally tagged form with
//! the WIT's kebab-case names, e.g. `{"upsert-user": {"user-id": "…"}}`).

use super::bindings::{
    ActiveChange, Change, CustomOp, DepartmentOp, Email, EnrollmentOp, Event, Group, GroupOp, Member, MembersChange,
    MembershipOp, Operation, Ordering, OtherEvent, Principal, Rename, ResourceKind, User, UserOp,
};
use crate::store::ChangeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn s(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A SCIM user document as the contract's `user`.
pub fn user(id: &str, doc: &Value) -> User {
    let name = doc.get("name").cloned().unwrap_or(Value::Null);
    let ent = doc.get(ENTERPRISE).cloned().unwrap_or(Value::Null);
    let emails = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some(Email {
                        value: s(e, "value")?,
                        kind: s(e, "type"),
                        primary: e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut full = doc.clone();
    if let Some(o) = full.as_object_mut() {
        o.insert("id".into(), Value::String(id.to_owned()));
    }
    User {
        id: id.to_owned(),
        external_id: s(doc, "externalId"),
        user_name: s(doc, "userName").unwrap_or_default(),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        display_name: s(doc, "displayName"),
        given_name: s(&name, "givenName"),
        family_name: s(&name, "familyName"),
        emails,
        title: s(doc, "title"),
        preferred_language: s(doc, "preferredLanguage"),
        employee_number: s(&ent, "employeeNumber"),
        department: s(&ent, "department"),
        division: s(&ent, "division"),
        cost_center: s(&ent, "costCenter"),
        organization: s(&ent, "organization"),
        manager_id: ent.get("manager").and_then(|m| s(m, "value")),
        scim_json: full.to_string(),
    }
}

/// A SCIM group document (members left out) as the contract's `group`.
pub fn group(id: &str, doc: &Value) -> Group {
    let mut full = doc.clone();
    if let Some(o) = full.as_object_mut() {
        o.insert("id".into(), Value::String(id.to_owned()));
        o.remove("members");
    }
    Group {
        id: id.to_owned(),
        external_id: s(doc, "externalId"),
        display_name: s(doc, "displayName").unwrap_or_default(),
        scim_json: full.to_string(),
    }
}

fn members(payload: &Value) -> Vec<Member> {
    payload
        .get("members")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|m| {
                    Some(Member {
                        id: s(m, "value")?,
                        kind: if m.get("type").and_then(Value::as_str) == Some("Group") {
                            ResourceKind::Group
                        } else {
                            ResourceKind::User
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A stored operation that has no WIT form.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("stored operation does not parse: {0}")]
    StoredOperation(serde_json::Error),
}

/// A change-log row (or a resync marker, kind `resync.started` / `resync.finished`) as a `change`. A
/// kind the contract has no case for reaches the plugin as `other` (kind and payload as they are), so
/// a plugin built for an older 1.x can ignore it.
pub fn change(ev: &ChangeEvent) -> Result<Change, ConvertError> {
    let p = &ev.payload;
    let id = ev.resource_id.clone();
    let event = match ev.kind.as_str() {
        "user.upserted" => Event::UserUpserted(user(&id, p)),
        "user.active_changed" => Event::UserActiveChanged(ActiveChange {
            user_id: id,
            active: p.get("active").and_then(Value::as_bool).unwrap_or(true),
        }),
        "user.deleted" => Event::UserDeleted(id),
        "group.upserted" => Event::GroupUpserted(group(&id, p)),
        "group.renamed" => Event::GroupRenamed(Rename {
            group_id: id,
            old_display_name: s(p, "oldDisplayName"),
            display_name: s(p, "displayName").unwrap_or_default(),
        }),
        "group.deleted" => Event::GroupDeleted(id),
        "group.members_added" => Event::MembersAdded(MembersChange { group_id: id, members: members(p) }),
        "group.members_removed" => Event::MembersRemoved(MembersChange { group_id: id, members: members(p) }),
        "resync.started" => Event::ResyncStarted,
        "resync.finished" => Event::ResyncFinished,
        other => Event::Other(OtherEvent { kind: other.to_owned(), payload_json: p.to_string() }),
    };
    let resync = ev.kind.starts_with("resync.") || ev.seq == 0;
    Ok(Change { seq: ev.seq.max(0) as u64, at: ev.created_at.clone(), resync, event })
}

/// The ordering key of a change: the resource it is about (`tenant` for the resync markers).
pub fn ordering_key(ev: &ChangeEvent) -> String {
    match ev.resource_type.as_str() {
        "User" => format!("user:{}", ev.resource_id),
        "Group" => format!("group:{}", ev.resource_id),
        _ => "tenant".to_owned(),
    }
}

/// The ordering key of one operation: operations with the same key are delivered one after the other in
/// the order they were produced, different keys in parallel. An operation acting on one user is keyed
/// by that user, whichever change produced it (a membership change on a group moves users: each user's
/// moves must not overtake each other, nor the user's creation); an enrollment by its principal; a
/// custom operation as its `ordering` says (`barrier` is the key `tenant`, which the outbox delivers after
/// every earlier operation of the target and before every later one, like the resync markers); anything
/// else by the change's resource.
pub fn op_ordering_key(op: &Operation, change_key: &str) -> String {
    let user = |id: &str| format!("user:{id}");
    match op {
        Operation::UpsertUser(u) => user(&u.user_id),
        Operation::DeactivateUser(id) | Operation::DeleteUser(id) => user(id),
        Operation::AssignDepartment(m) | Operation::AddMember(m) | Operation::RemoveMember(m) => user(&m.user_id),
        Operation::Enroll(e) | Operation::Unenroll(e) => match &e.principal {
            Principal::User(id) => user(id),
            Principal::Group(id) => format!("group:{id}"),
        },
        Operation::Custom(c) => match &c.ordering {
            Ordering::User(id) => user(id),
            Ordering::Group(id) => format!("group:{id}"),
            // A plugin key never collides with ours (`user:`, `group:`, `tenant`).
            Ordering::Key(k) => format!("key:{k}"),
            Ordering::Barrier => "tenant".to_owned(),
        },
        _ => change_key.to_owned(),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct UserOpJ {
    user_id: String,
    login: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    active: bool,
    fields_json: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DepartmentOpJ {
    key: String,
    name: String,
    parent_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct GroupOpJ {
    key: String,
    name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct MembershipOpJ {
    container: String,
    user_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PrincipalJ {
    User(String),
    Group(String),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct EnrollmentOpJ {
    principal: PrincipalJ,
    item: String,
    item_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OrderingJ {
    User(String),
    Group(String),
    Key(String),
    Barrier,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CustomOpJ {
    kind: String,
    ordering: OrderingJ,
    payload_json: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OpJ {
    UpsertUser(UserOpJ),
    DeactivateUser(String),
    DeleteUser(String),
    UpsertDepartment(DepartmentOpJ),
    DeleteDepartment(String),
    AssignDepartment(MembershipOpJ),
    UpsertGroup(GroupOpJ),
    DeleteGroup(String),
    AddMember(MembershipOpJ),
    RemoveMember(MembershipOpJ),
    Enroll(EnrollmentOpJ),
    Unenroll(EnrollmentOpJ),
    Custom(CustomOpJ),
}

fn m_j(m: &MembershipOp) -> MembershipOpJ {
    MembershipOpJ { container: m.container.clone(), user_id: m.user_id.clone() }
}
fn m_w(m: MembershipOpJ) -> MembershipOp {
    MembershipOp { container: m.container, user_id: m.user_id }
}
fn e_j(e: &EnrollmentOp) -> EnrollmentOpJ {
    let principal = match &e.principal {
        Principal::User(id) => PrincipalJ::User(id.clone()),
        Principal::Group(id) => PrincipalJ::Group(id.clone()),
    };
    EnrollmentOpJ { principal, item: e.item.clone(), item_kind: e.item_kind.clone(), source: e.source.clone() }
}
fn e_w(e: EnrollmentOpJ) -> EnrollmentOp {
    let principal = match e.principal {
        PrincipalJ::User(id) => Principal::User(id),
        PrincipalJ::Group(id) => Principal::Group(id),
    };
    EnrollmentOp { principal, item: e.item, item_kind: e.item_kind, source: e.source }
}
fn o_j(o: &Ordering) -> OrderingJ {
    match o {
        Ordering::User(id) => OrderingJ::User(id.clone()),
        Ordering::Group(id) => OrderingJ::Group(id.clone()),
        Ordering::Key(k) => OrderingJ::Key(k.clone()),
        Ordering::Barrier => OrderingJ::Barrier,
    }
}
fn o_w(o: OrderingJ) -> Ordering {
    match o {
        OrderingJ::User(id) => Ordering::User(id),
        OrderingJ::Group(id) => Ordering::Group(id),
        OrderingJ::Key(k) => Ordering::Key(k),
        OrderingJ::Barrier => Ordering::Barrier,
    }
}

fn to_j(op: &Operation) -> OpJ {
    match op {
        Operation::UpsertUser(u) => OpJ::UpsertUser(UserOpJ {
            user_id: u.user_id.clone(),
            login: u.login.clone(),
            email: u.email.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            active: u.active,
            fields_json: u.fields_json.clone(),
        }),
        Operation::DeactivateUser(id) => OpJ::DeactivateUser(id.clone()),
        Operation::DeleteUser(id) => OpJ::DeleteUser(id.clone()),
        Operation::UpsertDepartment(d) => OpJ::UpsertDepartment(DepartmentOpJ {
            key: d.key.clone(),
            name: d.name.clone(),
            parent_key: d.parent_key.clone(),
        }),
        Operation::DeleteDepartment(k) => OpJ::DeleteDepartment(k.clone()),
        Operation::AssignDepartment(m) => OpJ::AssignDepartment(m_j(m)),
        Operation::UpsertGroup(g) => OpJ::UpsertGroup(GroupOpJ { key: g.key.clone(), name: g.name.clone() }),
        Operation::DeleteGroup(k) => OpJ::DeleteGroup(k.clone()),
        Operation::AddMember(m) => OpJ::AddMember(m_j(m)),
        Operation::RemoveMember(m) => OpJ::RemoveMember(m_j(m)),
        Operation::Enroll(e) => OpJ::Enroll(e_j(e)),
        Operation::Unenroll(e) => OpJ::Unenroll(e_j(e)),
        Operation::Custom(c) => OpJ::Custom(CustomOpJ {
            kind: c.kind.clone(),
            ordering: o_j(&c.ordering),
            payload_json: c.payload_json.clone(),
        }),
    }
}

fn from_j(op: OpJ) -> Operation {
    match op {
        OpJ::UpsertUser(u) => Operation::UpsertUser(UserOp {
            user_id: u.user_id,
            login: u.login,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            active: u.active,
            fields_json: u.fields_json,
        }),
        OpJ::DeactivateUser(id) => Operation::DeactivateUser(id),
        OpJ::DeleteUser(id) => Operation::DeleteUser(id),
        OpJ::UpsertDepartment(d) => {
            Operation::UpsertDepartment(DepartmentOp { key: d.key, name: d.name, parent_key: d.parent_key })
        }
        OpJ::DeleteDepartment(k) => Operation::DeleteDepartment(k),
        OpJ::AssignDepartment(m) => Operation::AssignDepartment(m_w(m)),
        OpJ::UpsertGroup(g) => Operation::UpsertGroup(GroupOp { key: g.key, name: g.name }),
        OpJ::DeleteGroup(k) => Operation::DeleteGroup(k),
        OpJ::AddMember(m) => Operation::AddMember(m_w(m)),
        OpJ::RemoveMember(m) => Operation::RemoveMember(m_w(m)),
        OpJ::Enroll(e) => Operation::Enroll(e_w(e)),
        OpJ::Unenroll(e) => Operation::Unenroll(e_w(e)),
        OpJ::Custom(c) => {
            Operation::Custom(CustomOp { kind: c.kind, ordering: o_w(c.ordering), payload_json: c.payload_json })
        }
    }
}

/// The outbox's JSON text of an operation.
pub fn op_to_json(op: &Operation) -> String {
    serde_json::to_string(&to_j(op)).unwrap_or_default()
}

pub fn op_to_value(op: &Operation) -> Value {
    serde_json::to_value(to_j(op)).unwrap_or(Value::Null)
}

pub fn op_from_json(text: &str) -> Result<Operation, ConvertError> {
    serde_json::from_str::<OpJ>(text).map(from_j).map_err(ConvertError::StoredOperation)
}

/// Approximate size of an operation (its strings), for the output limit.
pub fn op_size(op: &Operation) -> usize {
    match op {
        Operation::UpsertUser(u) => {
            u.user_id.len()
                + u.login.len()
                + u.email.as_ref().map_or(0, String::len)
                + u.first_name.as_ref().map_or(0, String::len)
                + u.last_name.as_ref().map_or(0, String::len)
                + u.fields_json.len()
        }
        Operation::DeactivateUser(s)
        | Operation::DeleteUser(s)
        | Operation::DeleteDepartment(s)
        | Operation::DeleteGroup(s) => s.len(),
        Operation::UpsertDepartment(d) => d.key.len() + d.name.len() + d.parent_key.as_ref().map_or(0, String::len),
        Operation::AssignDepartment(m) | Operation::AddMember(m) | Operation::RemoveMember(m) => {
            m.container.len() + m.user_id.len()
        }
        Operation::UpsertGroup(g) => g.key.len() + g.name.len(),
        Operation::Enroll(e) | Operation::Unenroll(e) => {
            let (Principal::User(p) | Principal::Group(p)) = &e.principal;
            p.len() + e.item.len() + e.item_kind.len() + e.source.as_ref().map_or(0, String::len)
        }
        Operation::Custom(c) => {
            let key = match &c.ordering {
                Ordering::User(k) | Ordering::Group(k) | Ordering::Key(k) => k.len(),
                Ordering::Barrier => 0,
            };
            c.kind.len() + key + c.payload_json.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_round_trip_through_outbox_json() {
        let ops = vec![
            Operation::UpsertUser(UserOp {
                user_id: "u1".into(),
                login: "a@x".into(),
                email: Some("a@x".into()),
                first_name: None,
                last_name: Some("B".into()),
                active: true,
                fields_json: "{}".into(),
            }),
            Operation::AddMember(MembershipOp { container: "g".into(), user_id: "u1".into() }),
            Operation::DeleteUser("u1".into()),
            Operation::Custom(CustomOp {
                kind: "k".into(),
                ordering: Ordering::User("u1".into()),
                payload_json: "{\"a\":1}".into(),
            }),
            Operation::Custom(CustomOp { kind: "k".into(), ordering: Ordering::Barrier, payload_json: "{}".into() }),
            Operation::Enroll(EnrollmentOp {
                principal: Principal::Group("g1".into()),
                item: "c1".into(),
                item_kind: "course".into(),
                source: Some("group:g1".into()),
            }),
        ];
        for op in &ops {
            let text = op_to_json(op);
            let back = op_from_json(&text).expect("parses");
            assert_eq!(op_to_json(&back), text);
        }
        assert_eq!(op_to_value(&ops[2]), json!({"delete-user": "u1"}));
        assert_eq!(op_to_value(&ops[1]), json!({"add-member": {"container": "g", "user-id": "u1"}}));
        assert!(op_from_json("{\"explode\": 1}").is_err());
        assert_eq!(op_to_value(&ops[4])["custom"]["ordering"], json!("barrier"));
        assert_eq!(op_ordering_key(&ops[4], "user:x"), "tenant");
        assert_eq!(op_ordering_key(&ops[3], "tenant"), "user:u1");
        assert_eq!(op_ordering_key(&ops[5], "tenant"), "group:g1");
        assert_eq!(
            op_to_value(&ops[5]),
            json!({"enroll": {"principal": {"group": "g1"}, "item": "c1", "item-kind": "course", "source": "group:g1"}})
        );
    }

    #[test]
    fn user_maps_core_and_enterprise_fields() {
        let doc = json!({"userName": "a@x.com", "active": false, "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x.com", "type": "work", "primary": true}],
            ENTERPRISE: {"department": "Sales", "manager": {"value": "m1"}}});
        let u = user("u1", &doc);
        assert_eq!((u.user_name.as_str(), u.active), ("a@x.com", false));
        assert_eq!(u.given_name.as_deref(), Some("A"));
        assert_eq!(u.department.as_deref(), Some("Sales"));
        assert_eq!(u.manager_id.as_deref(), Some("m1"));
        assert!(u.emails[0].primary);
        let full: Value = serde_json::from_str(&u.scim_json).expect("json");
        assert_eq!(full["id"], "u1");
    }
}
