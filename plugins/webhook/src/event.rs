//! The event body: a deterministic JSON object built from the change alone.
//!
//! ```json
//! {"tenant": "acme", "target": "hook", "seq": 7, "at": "2026-01-01T00:00:00Z", "resync": false,
//!  "type": "user.upserted", "resourceType": "User", "resourceId": "u-1", "data": {...}}
//! ```
//!
//! `data` is the stored SCIM document for upserts, `{"active": bool}` for active changes,
//! `{"oldDisplayName", "displayName"}` for renames, `{"members": [{"value", "type"}]}` for member
//! changes, and null otherwise. Keys come out in a fixed order (the struct's, and sorted inside `data`).

use scimgw_plugin_sdk::ops::to_json;
use scimgw_plugin_sdk::{Change, Context, Event, PluginError, ResourceKind};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize)]
struct Body<'a> {
    tenant: &'a str,
    target: &'a str,
    seq: u64,
    at: &'a str,
    resync: bool,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "resourceType")]
    resource_type: Option<&'static str>,
    #[serde(rename = "resourceId")]
    resource_id: Option<&'a str>,
    data: Value,
}

/// The JSON text of the event for `change`.
pub fn payload(ctx: &Context, change: Change) -> Result<String, PluginError> {
    let kind = change.event.log_kind();
    let (resource_type, resource_id) = match change.event.subject() {
        Some((resource, id)) => (Some(resource.scim_name()), Some(id.to_owned())),
        None => (None, None),
    };
    let data = data(&change.event)?;
    to_json(&Body {
        tenant: &ctx.tenant,
        target: &ctx.target,
        seq: change.seq,
        at: &change.at,
        resync: change.resync,
        kind,
        resource_type,
        resource_id: resource_id.as_deref(),
        data,
    })
}

fn data(event: &Event) -> Result<Value, PluginError> {
    Ok(match event {
        Event::UserUpserted(user) => document(&user.scim_json, "user", &user.id)?,
        Event::GroupUpserted(group) => document(&group.scim_json, "group", &group.id)?,
        Event::UserActiveChanged(change) => json!({"active": change.active}),
        Event::GroupRenamed(rename) => json!({
            "oldDisplayName": rename.old_display_name,
            "displayName": rename.display_name,
        }),
        Event::MembersAdded(change) | Event::MembersRemoved(change) => {
            let members: Vec<Value> = change
                .members
                .iter()
                .map(|member| {
                    let kind = match member.kind {
                        ResourceKind::User => "User",
                        ResourceKind::Group => "Group",
                    };
                    json!({"value": member.id, "type": kind})
                })
                .collect();
            json!({"members": members})
        }
        Event::UserDeleted(_) | Event::GroupDeleted(_) | Event::ResyncStarted | Event::ResyncFinished => Value::Null,
        Event::Other(other) => serde_json::from_str(&other.payload_json).unwrap_or(Value::Null),
    })
}

/// The stored SCIM document, parsed (it is sent as JSON, not as a string).
fn document(scim_json: &str, what: &str, id: &str) -> Result<Value, PluginError> {
    serde_json::from_str(scim_json)
        .map_err(|err| PluginError::InvalidInput(format!("{what} {id}: scim-json is not valid JSON: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgw_plugin_sdk::{Member, MembersChange, Rename};

    fn ctx() -> Context {
        Context {
            tenant: "acme".into(),
            target: "hook".into(),
            correlation_id: "c-1".into(),
            now_unix_ms: 1_767_225_600_000,
            config_json: r#"{"url":"https://hooks.example.com/scim"}"#.into(),
            attempt: 1,
            deadline_unix_ms: 1_767_225_600_500,
            extra: Vec::new(),
        }
    }

    fn change(seq: u64, event: Event) -> Change {
        Change { seq, at: "2026-01-01T00:00:00Z".into(), resync: seq == 0, event }
    }

    fn parsed(text: String) -> Value {
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn member_changes_keep_the_order() {
        let event = Event::MembersAdded(MembersChange {
            group_id: "g-1".into(),
            members: vec![
                Member { id: "u-2".into(), kind: ResourceKind::User },
                Member { id: "g-9".into(), kind: ResourceKind::Group },
            ],
        });
        let body = parsed(payload(&ctx(), change(9, event)).unwrap());
        assert_eq!(
            body,
            json!({"tenant": "acme", "target": "hook", "seq": 9, "at": "2026-01-01T00:00:00Z",
                   "resync": false, "type": "group.members_added", "resourceType": "Group",
                   "resourceId": "g-1",
                   "data": {"members": [{"value": "u-2", "type": "User"}, {"value": "g-9", "type": "Group"}]}})
        );
    }

    #[test]
    fn keys_come_out_in_a_fixed_order() {
        let event =
            Event::GroupRenamed(Rename { group_id: "g-1".into(), old_display_name: None, display_name: "New".into() });
        let text = payload(&ctx(), change(3, event)).unwrap();
        assert_eq!(
            text,
            r#"{"tenant":"acme","target":"hook","seq":3,"at":"2026-01-01T00:00:00Z","resync":false,"type":"group.renamed","resourceType":"Group","resourceId":"g-1","data":{"displayName":"New","oldDisplayName":null}}"#
        );
    }

    #[test]
    fn resync_markers_are_about_the_tenant() {
        let body = parsed(payload(&ctx(), change(0, Event::ResyncStarted)).unwrap());
        assert_eq!(body["type"], "resync.started");
        assert_eq!(body["resync"], true);
        assert_eq!(body["resourceType"], Value::Null);
        assert_eq!(body["resourceId"], Value::Null);
        assert_eq!(body["data"], Value::Null);
    }

    #[test]
    fn a_document_that_is_not_json_is_invalid_input() {
        assert!(matches!(document("{", "user", "u-1"), Err(PluginError::InvalidInput(m)) if m.starts_with("user u-1")));
    }
}
