//! The plugin's kv state and what it reads besides: the key layout, the records, and [`Env`] (kv and
//! the gateway's directory), so that translation, the mapping job, delivery and the admin resources run
//! natively in the tests against an in-memory world.
//!
//! Two owners, never writing each other's keys (deliveries run in parallel with translation):
//!
//! | key | written by | value |
//! |---|---|---|
//! | `u:<user>` | translate, job | [`UserRec`]: identity as last sent, active, Entra groups, and per item the groups that entitle the user (its *sources*) |
//! | `g:<group>` | translate, job | [`GroupRec`]: objectId, displayName, and the items its members were last brought in line with (*applied*) |
//! | `m:<group>:<user>` | translate, job | membership as translated: `""`; `"-"` = removed, the job still has to take the group's items away |
//! | `q:<group>` | translate, job | a group the job must bring in line: `""`, or `"deleted"` |
//! | `mappings` | job | the `courseMappings` hash the job last applied to every group |
//! | `as:…` | the Assigner's jobs and admin resources | see [`crate::assigner_io::store`] |
//! | `d:<user>` | deliver | [`DeliverRec`]: the Learn365 login and user Id, the last body sent, and per item the Learn365 enrollment and whether the plugin created it |

use std::collections::{BTreeMap, BTreeSet};

use scimgw_plugin_sdk::log::Level;
use scimgw_plugin_sdk::{Group, PluginError, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Kind, guid};

/// What the plugin reads and writes besides its input: kv state and the directory.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError>;
    fn delete(&mut self, key: &str);
    /// Keys starting with `prefix`, sorted, after `after` (exclusive), at most `limit`.
    fn keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Vec<String>;
    fn user(&self, id: &str) -> Option<User>;
    fn group(&self, id: &str) -> Option<Group>;
    /// A line for the gateway's log (decisions, never personal data beyond ids).
    fn log(&mut self, level: Level, message: &str);
    /// A page of the directory's users (by id, at most `limit` ≤ 500) and the cursor of the next one.
    fn list_users(&self, cursor: Option<&str>, limit: u32) -> (Vec<User>, Option<String>) {
        let _ = (cursor, limit);
        (Vec::new(), None)
    }
    /// A notification for people (`recipient` none: the gateway's default address); at most 5 per call.
    fn notify(&mut self, recipient: Option<&str>, kind: &str, subject: &str, text: &str) -> Result<(), PluginError> {
        let _ = (recipient, kind, subject, text);
        Err(PluginError::Unsupported("notifications are not available here".into()))
    }
}

pub const MAPPINGS: &str = "mappings";
pub const DELETED: &str = "deleted";
pub const REMOVED: &str = "-";

pub fn user_key(id: &str) -> String {
    format!("u:{id}")
}
pub fn group_key(id: &str) -> String {
    format!("g:{id}")
}
pub fn member_prefix(group: &str) -> String {
    format!("m:{group}:")
}
pub fn member_key(group: &str, user: &str) -> String {
    format!("m:{group}:{user}")
}
pub fn queue_key(group: &str) -> String {
    format!("q:{group}")
}
pub fn deliver_key(user: &str) -> String {
    format!("d:{user}")
}

/// The Learn365 claims login of a UPN: `i:0#.f|membership|<upn lower-cased>`.
pub fn claims(upn: &str) -> String {
    format!("i:0#.f|membership|{}", upn.trim().to_lowercase())
}

/// The user fields Learn365 receives (L1); nothing else is written.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
pub struct Identity {
    /// `LoginName`: the claims form of the UPN.
    pub login: String,
    /// `DirectoryObjectId`: the Entra objectId (the SCIM `externalId`, when it is a GUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// `Title`: the display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    /// `JobTitle`: SCIM `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    /// `Company`: the enterprise extension's `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

fn text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn address(doc: &Value, kind: &str, field: &str) -> Option<String> {
    let list = doc.get("addresses")?.as_array()?;
    let a =
        list.iter().find(|a| a.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind)))?;
    text(&a.get(field).and_then(Value::as_str).map(str::to_owned))
}

impl Identity {
    /// L1 from a SCIM user (`docs/spec/learn365.md` §4.1: city and country from the work address, office from
    /// the `other` address's `formatted`, company from the enterprise `organization`).
    pub fn of(user: &User) -> Identity {
        let doc: Value = serde_json::from_str(&user.scim_json).unwrap_or(Value::Null);
        let email = user
            .emails
            .iter()
            .find(|e| e.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("work")))
            .or_else(|| user.emails.iter().find(|e| e.primary))
            .or_else(|| user.emails.first())
            .map(|e| e.value.trim().to_owned())
            .filter(|v| !v.is_empty());
        let title = text(&user.display_name).or_else(|| {
            let full =
                [&user.given_name, &user.family_name].iter().filter_map(|v| text(v)).collect::<Vec<_>>().join(" ");
            (!full.is_empty()).then_some(full)
        });
        Identity {
            login: claims(&user.user_name),
            oid: user.external_id.as_deref().and_then(guid),
            title,
            email,
            dept: text(&user.department),
            job: text(&user.title),
            city: address(&doc, "work", "locality"),
            country: address(&doc, "work", "country"),
            office: address(&doc, "other", "formatted"),
            company: text(&user.organization),
        }
    }

    /// The Learn365 fields besides `LoginName`, `Email` and `IsDisabled` (the `upsert-user`'s
    /// `fields-json`): PascalCase, absent when empty.
    pub fn fields(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("DirectoryObjectId", &self.oid),
            ("Title", &self.title),
            ("Department", &self.dept),
            ("JobTitle", &self.job),
            ("City", &self.city),
            ("Country", &self.country),
            ("Office", &self.office),
            ("Company", &self.company),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        }
        m
    }
}

/// An item a user holds because of some groups or Assigner profiles.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Held {
    pub k: Kind,
    /// The groups (SCIM ids) whose membership entitles the user: the sources `group:<id>`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub s: BTreeSet<String>,
    /// The Assigner profiles (ids) whose membership entitles the user: the sources `profile:<id>`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub p: BTreeSet<String>,
}

impl Held {
    pub fn new(k: Kind) -> Held {
        Held { k, s: BTreeSet::new(), p: BTreeSet::new() }
    }

    /// No source left: the item is dropped (and its last source's end is an `unenroll`).
    pub fn unsourced(&self) -> bool {
        self.s.is_empty() && self.p.is_empty()
    }

    /// Every source as the operations name it: `group:<id>`, then `profile:<id>`.
    pub fn sources(&self) -> Vec<String> {
        let groups = self.s.iter().map(|g| format!("group:{g}"));
        groups.chain(self.p.iter().map(|p| format!("profile:{p}"))).collect()
    }
}

/// `u:<user>`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct UserRec {
    pub id: Identity,
    pub active: bool,
    /// Entra groups the user is a recorded member of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub g: BTreeSet<String>,
    /// Items by GUID with their sources (never empty: an item without sources is dropped).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub e: BTreeMap<String, Held>,
}

/// `g:<group>`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct GroupRec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    pub name: String,
    /// The items every recorded member was brought in line with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, Kind>,
}

/// Who an enrollment belongs to, as delivery learned it.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum St {
    /// The plugin's Enroll created (or reactivated) it: 201. Cancelled when the last source goes.
    Ours,
    /// It existed before (direct, training plan, admin): 200, or found by the precheck. Never cancelled.
    Theirs,
    /// The precheck found no active enrollment and the Enroll is on its way: a 200 to a retried Enroll
    /// is then the answer to our own earlier, lost, attempt.
    Send,
}

/// An enrollment as delivery knows it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Enr {
    pub st: St,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `IsPartOfTrainingPlan`: a course enrollment a training plan made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tp: bool,
    /// Written by the precheck just before this batch's Enroll: the state is fresh.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chk: bool,
}

/// `d:<user>`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug, Default)]
pub struct DeliverRec {
    /// `LoginName` as Learn365 has it after the last upsert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The Learn365 user `Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// The last `POST Users` body (re-sent with `IsDisabled: true` when the user is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enr: BTreeMap<String, Enr>,
}

pub fn to_json(v: &impl Serialize) -> Result<String, PluginError> {
    serde_json::to_string(v).map_err(|e| PluginError::Internal(format!("cannot encode state: {e}")))
}

pub fn load<T: for<'de> Deserialize<'de>>(env: &impl Env, key: &str) -> Result<Option<T>, PluginError> {
    match env.get(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PluginError::Internal(format!("corrupt plugin state under {key}: {e}"))),
    }
}

pub fn save(env: &mut impl Env, key: &str, v: &impl Serialize) -> Result<(), PluginError> {
    let text = to_json(v)?;
    env.set(key, text)
}

/// Every key with `prefix`, paging through `Env::keys`.
pub fn all_keys(env: &impl Env, prefix: &str) -> Vec<String> {
    const PAGE: u32 = 10_000;
    let mut out: Vec<String> = Vec::new();
    loop {
        let page = env.keys(prefix, out.last().map(String::as_str), PAGE);
        let full = page.len() == PAGE as usize;
        out.extend(page);
        if !full {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgw_plugin_sdk::Email;

    #[test]
    fn identity_follows_the_canonical_paths() {
        let doc = serde_json::json!({
            "addresses": [
                {"type": "work", "locality": "Oslo", "country": "NO"},
                {"type": "other", "formatted": "Building 7"}
            ]
        });
        let user = User {
            id: "u-1".into(),
            external_id: Some("{7F3C1E2A-5B6D-4C8E-9F00-1234567890A1}".into()),
            user_name: "Ada.Lovelace@Contoso.com".into(),
            active: true,
            display_name: None,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            emails: vec![
                Email { value: "home@x.com".into(), kind: Some("home".into()), primary: true },
                Email { value: "ada@contoso.com".into(), kind: Some("work".into()), primary: false },
            ],
            title: Some("Engineer".into()),
            preferred_language: None,
            employee_number: None,
            department: Some(" R&D ".into()),
            division: None,
            cost_center: None,
            organization: Some("Contoso".into()),
            manager_id: Some("boss".into()),
            scim_json: doc.to_string(),
        };
        let id = Identity::of(&user);
        assert_eq!(id.login, "i:0#.f|membership|ada.lovelace@contoso.com");
        assert_eq!(id.oid.as_deref(), Some("7f3c1e2a-5b6d-4c8e-9f00-1234567890a1"));
        assert_eq!(id.title.as_deref(), Some("Ada Lovelace"));
        assert_eq!(id.email.as_deref(), Some("ada@contoso.com"));
        assert_eq!((id.city.as_deref(), id.country.as_deref()), (Some("Oslo"), Some("NO")));
        assert_eq!(id.office.as_deref(), Some("Building 7"));
        assert_eq!(id.dept.as_deref(), Some("R&D"));
        assert_eq!(id.fields().len(), 8);
        let mut nick = user.clone();
        nick.external_id = Some("adal".into()); // Entra's default mapping (mailNickname): not an objectId.
        assert_eq!(Identity::of(&nick).oid, None);
    }
}
