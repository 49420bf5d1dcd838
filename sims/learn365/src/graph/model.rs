//! Graph groups: the Graph-only properties kept beside a tenant group principal, the request bodies
//! (create, update, add a member by reference) with Graph's validation, and the JSON renderings.

use serde_json::{Map, Value, json};

use super::{Graph, GraphError, is_guid};
use crate::model::{Principal, State, Time, USER_CLAIM_PREFIX, fmt_time};

/// Properties of a `microsoft.graph.group` the simulator renders (and `$select` takes).
pub(super) const GROUP_PROPERTIES: &[&str] = &[
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
];

/// Properties of a member (`microsoft.graph.directoryObject`, rendered as a user) the simulator renders.
pub(super) const MEMBER_PROPERTIES: &[&str] = &["id", "displayName", "userPrincipalName", "mail"];

/// At most this many `members@odata.bind` references in one create or update (Graph's limit).
const MAX_BIND: usize = 20;

/// Graph-only properties of a group created or changed through Graph.
#[derive(Debug, Clone)]
pub(super) struct GroupMeta {
    /// The tenant principal these belong to (a group deleted and created again is a new principal).
    pub principal_id: String,
    /// `None` for a group `/_sim/groups` created and Graph has only changed.
    pub mail_nickname: Option<String>,
    pub description: Option<String>,
    pub created: Time,
}

impl Graph {
    /// The Graph-only properties of a group, if Graph created or changed it.
    pub(super) fn meta(&self, group: &Principal) -> Option<&GroupMeta> {
        self.groups.get(&group.object_id).filter(|m| m.principal_id == group.id)
    }
}

/// Graph's `createdDateTime` form: whole seconds, UTC.
fn graph_time(t: Time) -> String {
    fmt_time(t.replace_nanosecond(0).unwrap_or(t))
}

/// A group as Graph renders it (without `@odata.context`).
pub(super) fn group_json(group: &Principal, meta: Option<&GroupMeta>) -> Map<String, Value> {
    let created = meta.map_or(group.created_at, |m| m.created);
    let v = json!({
        "id": group.object_id,
        "deletedDateTime": null,
        "classification": null,
        "createdDateTime": graph_time(created),
        "description": meta.and_then(|m| m.description.clone()),
        "displayName": group.title,
        "groupTypes": [],
        "mail": null,
        "mailEnabled": false,
        "mailNickname": meta.and_then(|m| m.mail_nickname.clone()),
        "securityEnabled": true,
        "visibility": null,
    });
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// One entry of `graphGroups` in `GET /_sim/state`.
pub(super) fn sim_json(group: &Principal, meta: Option<&GroupMeta>) -> Value {
    json!({
        "id": group.object_id,
        "displayName": group.title,
        "mailNickname": meta.and_then(|m| m.mail_nickname.clone()),
        "description": meta.and_then(|m| m.description.clone()),
        "members": group.members,
        "createdAt": graph_time(meta.map_or(group.created_at, |m| m.created)),
    })
}

/// A member as Graph lists it: a user (or a group, for a nested group the tenant knows). What Learn365
/// knows of a user fills `displayName`, `userPrincipalName` and `mail`; other ids have them null.
pub(super) fn member_json(state: &State, oid: &str) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(group) = state.group_by_object_id(oid) {
        m.insert("@odata.type".into(), json!("#microsoft.graph.group"));
        m.insert("id".into(), json!(oid));
        m.insert("displayName".into(), json!(group.title));
        m.insert("userPrincipalName".into(), Value::Null);
        m.insert("mail".into(), Value::Null);
        return m;
    }
    let user = state.user_by_object_id(oid);
    let text = |f: fn(&Principal) -> &str| user.map(f).filter(|s| !s.is_empty()).map_or(Value::Null, |s| json!(s));
    m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    m.insert("id".into(), json!(oid));
    m.insert("displayName".into(), text(|u| &u.title));
    m.insert("userPrincipalName".into(), text(|u| u.login.strip_prefix(USER_CLAIM_PREFIX).unwrap_or(&u.login)));
    m.insert("mail".into(), text(|u| &u.email));
    m
}

/// Keeps only the `$select`ed properties (and `@odata.type`).
pub(super) fn select(mut map: Map<String, Value>, props: Option<&[String]>) -> Map<String, Value> {
    if let Some(props) = props {
        map.retain(|k, _| k.starts_with('@') || props.iter().any(|p| p == k));
    }
    map
}

/// What `POST /v1.0/groups` asks for.
#[derive(Debug, Clone)]
pub(super) struct NewGroup {
    pub display_name: String,
    pub mail_nickname: String,
    pub description: Option<String>,
    /// `members@odata.bind`, as lower-case object ids.
    pub members: Vec<String>,
}

/// What `PATCH /v1.0/groups/{id}` asks for.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupPatch {
    pub display_name: Option<String>,
    pub mail_nickname: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub members: Vec<String>,
}

/// Properties of a group a request may send; the ones the simulator does not keep are checked and
/// ignored.
const WRITABLE: &[&str] = &[
    "displayName",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "description",
    "groupTypes",
    "visibility",
    "isAssignableToRole",
    "classification",
    "members@odata.bind",
    "owners@odata.bind",
];

fn invalid(prop: &str) -> GraphError {
    GraphError::bad_request(format!("Invalid value specified for property '{prop}' of resource 'Group'."))
}

fn required(prop: &str) -> GraphError {
    GraphError::bad_request(format!("A value is required for property '{prop}' of resource 'Group'."))
}

/// A JSON object body, or Graph's answer to anything else.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(GraphError::new(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid \
             JSON format.",
        )),
    }
}

/// Checks the property names of a group body (`@odata.*` annotations are ignored).
fn check_names(map: &Map<String, Value>) -> Result<(), GraphError> {
    match map.keys().find(|k| !k.starts_with("@odata.") && !WRITABLE.contains(&k.as_str())) {
        Some(k) => Err(GraphError::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.group'. Make sure to only use property names \
             that are defined by the type or mark the type as open type."
        ))),
        None => Ok(()),
    }
}

/// `displayName`: a non-empty string of at most 256 characters.
fn display_name(v: &Value) -> Result<String, GraphError> {
    match v {
        Value::Null => Err(required("displayName")),
        Value::String(s) if s.trim().is_empty() => Err(required("displayName")),
        Value::String(s) if s.trim().chars().count() <= 256 => Ok(s.trim().to_string()),
        _ => Err(invalid("displayName")),
    }
}

/// `mailNickname`: 1 to 64 printable ASCII characters without `@ ( ) \ [ ] " ; : < > ,` or spaces.
fn mail_nickname(v: &Value) -> Result<String, GraphError> {
    let Some(s) = v.as_str() else {
        return Err(if v.is_null() { required("mailNickname") } else { invalid("mailNickname") });
    };
    let ok = (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c));
    if ok { Ok(s.to_string()) } else { Err(invalid("mailNickname")) }
}

fn description(v: &Value) -> Result<Option<String>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= 1024 => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        _ => Err(invalid("description")),
    }
}

/// The directory object id an `@odata.id` / `@odata.bind` URL names
/// (`https://graph.microsoft.com/v1.0/directoryObjects/{id}`, or `…/users/{id}`, `…/groups/{id}`).
pub(super) fn ref_id(url: &str) -> Result<String, GraphError> {
    let path = url.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let mut segments = path.rsplit('/');
    let id = segments.next().unwrap_or_default();
    let set = segments.next().unwrap_or_default();
    if !["directoryObjects", "users", "groups"].iter().any(|s| s.eq_ignore_ascii_case(set)) || !is_guid(id) {
        return Err(GraphError::invalid_id(if is_guid(id) { url } else { id }));
    }
    Ok(id.to_ascii_lowercase())
}

/// `members@odata.bind`: at most 20 references, each named once.
fn bind(v: &Value) -> Result<Vec<String>, GraphError> {
    let refs = v.as_array().ok_or_else(|| GraphError::bad_request("members@odata.bind must be an array of URLs."))?;
    if refs.len() > MAX_BIND {
        return Err(GraphError::bad_request(format!(
            "At most {MAX_BIND} members can be added in one request ({} given).",
            refs.len()
        )));
    }
    let mut ids: Vec<String> = Vec::new();
    for r in refs {
        let id = ref_id(r.as_str().ok_or_else(|| GraphError::bad_request("members@odata.bind must hold URLs."))?)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The simulator keeps security groups only (what the Assigner creates).
fn security_group_only(map: &Map<String, Value>) -> Result<(), GraphError> {
    let flag = |k: &str| map.get(k).and_then(Value::as_bool);
    let types = map.get("groupTypes").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    if flag("mailEnabled") == Some(true) || flag("securityEnabled") == Some(false) || types {
        return Err(GraphError::bad_request(
            "The simulator creates security groups only: mailEnabled false, securityEnabled true, groupTypes [].",
        ));
    }
    for k in ["mailEnabled", "securityEnabled", "isAssignableToRole"] {
        if map.get(k).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(k));
        }
    }
    Ok(())
}

/// Parses and checks a `POST /v1.0/groups` body.
pub(super) fn parse_create(body: &[u8]) -> Result<NewGroup, GraphError> {
    let map = object(body)?;
    check_names(&map)?;
    for prop in ["displayName", "mailEnabled", "mailNickname", "securityEnabled"] {
        if map.get(prop).is_none_or(Value::is_null) {
            return Err(required(prop));
        }
    }
    security_group_only(&map)?;
    Ok(NewGroup {
        display_name: display_name(&map["displayName"])?,
        mail_nickname: mail_nickname(&map["mailNickname"])?,
        description: map.get("description").map(description).transpose()?.flatten(),
        members: map.get("members@odata.bind").map(bind).transpose()?.unwrap_or_default(),
    })
}

/// Parses and checks a `PATCH /v1.0/groups/{id}` body.
pub(super) fn parse_patch(body: &[u8]) -> Result<GroupPatch, GraphError> {
    let map = object(body)?;
    check_names(&map)?;
    security_group_only(&map)?;
    Ok(GroupPatch {
        display_name: map.get("displayName").map(display_name).transpose()?,
        mail_nickname: map.get("mailNickname").map(mail_nickname).transpose()?,
        description: map.get("description").map(description).transpose()?,
        members: map.get("members@odata.bind").map(bind).transpose()?.unwrap_or_default(),
    })
}

/// The member a `POST …/members/$ref` body names: `{"@odata.id": "<directory object URL>"}`.
pub(super) fn parse_member_ref(body: &[u8]) -> Result<String, GraphError> {
    let map = object(body)?;
    match map.get("@odata.id") {
        Some(Value::String(url)) => ref_id(url),
        _ => Err(GraphError::bad_request(
            "The request body must be {\"@odata.id\": \"https://graph.microsoft.com/v1.0/directoryObjects/{id}\"}.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "6F0E2B1C-0000-4000-8000-000000000001";

    #[test]
    fn references_name_directory_objects_by_guid() {
        let ok = |url: &str| ref_id(url).map_err(|e| e.message);
        assert_eq!(ok(&format!("https://graph.microsoft.com/v1.0/directoryObjects/{U}")), Ok(U.to_lowercase()));
        assert_eq!(ok(&format!("http://127.0.0.1:5/v1.0/users/{U}")), Ok(U.to_lowercase()));
        assert_eq!(
            ok("https://graph.microsoft.com/v1.0/directoryObjects/bob"),
            Err("Invalid object identifier 'bob'.".into())
        );
        assert!(ok(&format!("https://graph.microsoft.com/v1.0/sites/{U}")).is_err());
        assert!(parse_member_ref(br#"{"id": "x"}"#).is_err());
        assert!(parse_member_ref(b"nope").is_err());
    }

    #[test]
    fn create_bodies_are_checked_like_graph() {
        let good = json!({"displayName": "L365 Sales", "mailNickname": "l365-sales", "mailEnabled": false,
                          "securityEnabled": true, "description": "d",
                          "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{U}")]});
        let g = parse_create(good.to_string().as_bytes()).expect("valid");
        assert_eq!((g.display_name.as_str(), g.members.len(), g.description.as_deref()), ("L365 Sales", 1, Some("d")));
        let with = |k: &str, v: Value| {
            let mut b = good.clone();
            b[k] = v;
            parse_create(b.to_string().as_bytes()).map(|_| ()).map_err(|e| e.message)
        };
        assert_eq!(
            with("mailNickname", Value::Null),
            Err("A value is required for property 'mailNickname' of resource 'Group'.".into())
        );
        assert_eq!(
            with("mailNickname", json!("has space")),
            Err("Invalid value specified for property 'mailNickname' of resource 'Group'.".into())
        );
        assert!(with("displayName", json!("")).is_err());
        assert!(with("mailEnabled", json!(true)).is_err());
        assert!(
            with("securityGroup", json!(true)).is_err_and(|m| m.starts_with("Property 'securityGroup' does not exist"))
        );
        assert!(with("members@odata.bind", json!(["https://graph.microsoft.com/v1.0/directoryObjects/x"])).is_err());
        let mut missing = good.clone();
        missing.as_object_mut().map(|m| m.remove("securityEnabled"));
        assert!(parse_create(missing.to_string().as_bytes()).is_err());
        assert!(parse_patch(br#"{"description": null}"#).is_ok_and(|p| p.description == Some(None)));
    }
}
