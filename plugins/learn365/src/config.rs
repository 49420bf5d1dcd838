//! The Learn365 target's configuration, parsed and checked (at `target add` / `target configure`, through
//! a dry `translate`, and on every call), and the rules that read it: which items a group's members get
//! ([`Config::desired`]) and the fingerprint of the mappings ([`Config::mappings_hash`]).
//!
//! Every error names the field: `courseMappings[1].courses[0]: "abc" is not a GUID`.

use std::collections::{BTreeMap, BTreeSet};

use scimgw_plugin_sdk::{PluginError, parse_config};
use serde::{Deserialize, Serialize};

/// The target credential holding `api:<key>` (HTTP Basic: user `api`, password the API key).
pub const CREDENTIAL: &str = "learn365";

/// What happens in Learn365 when Entra hard-deletes a user (`DELETE /Users/{id}`), L4.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub enum OnHardDelete {
    /// The group enrollments the plugin created are cancelled; the Learn365 user is kept, disabled,
    /// with its history (and any enrollment the plugin did not create).
    #[default]
    KeepHistory,
    /// The Learn365 user is purged (`POST Users('<login>')/Purge`): user, enrollments, progress.
    Purge,
}

/// A Learn365 item: a course, or a training plan (a course of type `TrainingPlan`, same Enroll call).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    #[serde(rename = "course")]
    Course,
    #[serde(rename = "training-plan")]
    TrainingPlan,
}

impl Kind {
    /// The operation's `item-kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Course => "course",
            Kind::TrainingPlan => "training-plan",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "course" => Some(Kind::Course),
            "training-plan" => Some(Kind::TrainingPlan),
            _ => None,
        }
    }
}

/// Distinct items all entries together may name (so that one user's changes always fit one call).
pub const MAX_ITEMS: usize = 400;

/// Items by lower-case GUID.
pub type Items = BTreeMap<String, Kind>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    base_url: String,
    #[serde(default)]
    course_mappings: Vec<RawMapping>,
    #[serde(default)]
    on_hard_delete: OnHardDelete,
    #[serde(default)]
    assigner: Option<RawAssigner>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAssigner {
    #[serde(default)]
    graph_base_url: Option<String>,
}

/// The Graph host the Assigner calls when `assigner.graphBaseUrl` is not given.
pub const GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

/// `assigner`: the Assigner is on for this target (its jobs are declared, its resources answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignerConfig {
    /// Microsoft Graph's origin (no trailing slash); the plugin adds `/v1.0/...`.
    pub graph_base_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMapping {
    group: String,
    #[serde(default)]
    courses: Vec<String>,
    #[serde(default)]
    training_plans: Vec<String>,
}

/// One entry of `courseMappings`: an Entra group and what its members are enrolled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// As written (trimmed): an objectId (the group's `externalId`), a SCIM group id or a displayName.
    pub group: String,
    /// Course and training-plan GUIDs, lower case.
    pub items: Items,
}

/// The configuration as the admin writes it (`gateway target add --config @learn365.json`).
#[derive(Clone, Debug)]
pub struct Config {
    /// The regional API host, e.g. `https://us-api.365.systems` (no trailing slash).
    pub base_url: String,
    pub mappings: Vec<Mapping>,
    pub on_hard_delete: OnHardDelete,
    /// `None`: the Assigner is off (no jobs, its resources answer 404).
    pub assigner: Option<AssignerConfig>,
}

/// Which identifier of a group a mapping entry matched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatchedBy {
    ExternalId,
    ScimId,
    DisplayName,
}

impl MatchedBy {
    pub fn name(self) -> &'static str {
        match self {
            MatchedBy::ExternalId => "externalId",
            MatchedBy::ScimId => "id",
            MatchedBy::DisplayName => "displayName",
        }
    }
}

impl Config {
    pub fn parse(json: &str) -> Result<Config, PluginError> {
        let raw: RawConfig = parse_config(json)?;
        let base_url = check_base_url(&raw.base_url)?;
        // Parsed on every call (translate, deliver, jobs), so the happy path allocates little: the
        // position of an item is kept as numbers and written out only for an error.
        let mut mappings: Vec<Mapping> = Vec::with_capacity(raw.course_mappings.len());
        let mut seen_groups: BTreeMap<String, usize> = BTreeMap::new();
        let mut kinds: BTreeMap<String, (Kind, usize, &str, usize)> = BTreeMap::new();
        let place = |i: usize, field: &str, j: usize| format!("courseMappings[{i}].{field}[{j}]");
        for (i, m) in raw.course_mappings.iter().enumerate() {
            let group = m.group.trim().to_owned();
            if group.is_empty() {
                return Err(invalid(format!(
                    "courseMappings[{i}].group: must name an Entra group (objectId, SCIM id or displayName)"
                )));
            }
            if let Some(j) = seen_groups.insert(group.to_ascii_lowercase(), i) {
                return Err(invalid(format!(
                    "courseMappings[{i}].group: \"{group}\" is already the group of courseMappings[{j}] (list its courses and training plans in one entry)"
                )));
            }
            if m.courses.is_empty() && m.training_plans.is_empty() {
                return Err(invalid(format!("courseMappings[{i}]: names no courses and no trainingPlans")));
            }
            let mut items = Items::new();
            for (field, list, kind) in
                [("courses", &m.courses, Kind::Course), ("trainingPlans", &m.training_plans, Kind::TrainingPlan)]
            {
                for (j, text) in list.iter().enumerate() {
                    let Some(id) = guid(text) else {
                        return Err(invalid(format!("{}: \"{text}\" is not a GUID", place(i, field, j))));
                    };
                    if items.insert(id.clone(), kind).is_some() {
                        return Err(invalid(format!("{}: {id} is listed twice in this entry", place(i, field, j))));
                    }
                    match kinds.get(&id) {
                        Some((other, oi, of, oj)) if *other != kind => {
                            return Err(invalid(format!(
                                "{}: {id} is a {} in {}; an item is either a course or a training plan",
                                place(i, field, j),
                                other.name(),
                                place(*oi, of, *oj)
                            )));
                        }
                        Some(_) => {}
                        None => {
                            kinds.insert(id, (kind, i, field, j));
                        }
                    }
                }
            }
            mappings.push(Mapping { group, items });
        }
        if kinds.len() > MAX_ITEMS {
            return Err(invalid(format!(
                "courseMappings: names {} distinct courses and training plans; at most {MAX_ITEMS} are supported",
                kinds.len()
            )));
        }
        let assigner = match raw.assigner {
            None => None,
            Some(a) => Some(AssignerConfig { graph_base_url: check_graph_url(a.graph_base_url.as_deref())? }),
        };
        Ok(Config { base_url, mappings, on_hard_delete: raw.on_hard_delete, assigner })
    }

    /// The entries a group matches, and by what: its `externalId` (objectId, case-insensitive), its
    /// SCIM id, or its displayName (case-insensitive), tried in that order.
    pub fn matches(&self, id: &str, ext: Option<&str>, name: &str) -> Vec<(&Mapping, MatchedBy)> {
        let ext = ext.map(normal_id);
        self.mappings
            .iter()
            .filter_map(|m| {
                let by = if ext.as_deref().is_some_and(|e| !e.is_empty() && e == normal_id(&m.group)) {
                    MatchedBy::ExternalId
                } else if m.group == id {
                    MatchedBy::ScimId
                } else if m.group.eq_ignore_ascii_case(name.trim()) {
                    MatchedBy::DisplayName
                } else {
                    return None;
                };
                Some((m, by))
            })
            .collect()
    }

    /// The items the members of this group are enrolled in: the union of its matching entries.
    pub fn desired(&self, id: &str, ext: Option<&str>, name: &str) -> Items {
        let mut out = Items::new();
        for (m, _) in self.matches(id, ext, name) {
            for (item, kind) in &m.items {
                out.entry(item.clone()).or_insert(*kind);
            }
        }
        out
    }

    /// A fingerprint of `courseMappings` (16 hex digits, FNV-1a 64 of a canonical form: entries sorted
    /// by group, items sorted). The mapping job compares it with the one it applied last.
    pub fn mappings_hash(&self) -> String {
        let mut entries: Vec<String> = self
            .mappings
            .iter()
            .map(|m| {
                let items: BTreeSet<String> = m.items.iter().map(|(id, k)| format!("{}:{id}", k.name())).collect();
                format!("{}\u{1}{}", m.group, items.into_iter().collect::<Vec<_>>().join(","))
            })
            .collect();
        entries.sort();
        format!("{:016x}", fnv1a(entries.join("\n").as_bytes()))
    }

    /// Every item any entry names.
    pub fn all_items(&self) -> Items {
        let mut out = Items::new();
        for m in &self.mappings {
            out.extend(m.items.iter().map(|(k, v)| (k.clone(), *v)));
        }
        out
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// An id as compared: trimmed, without braces, lower case.
pub fn normal_id(s: &str) -> String {
    s.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_lowercase()
}

/// A GUID (8-4-4-4-12 hex digits, braces allowed) in lower case, or `None`.
pub fn guid(s: &str) -> Option<String> {
    let id = normal_id(s);
    let b = id.as_bytes();
    let ok = b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() });
    ok.then_some(id)
}

fn check_base_url(text: &str) -> Result<String, PluginError> {
    let url = text.trim().trim_end_matches('/').to_owned();
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return Err(invalid(format!(
            "baseUrl: \"{text}\" is not an https URL (expected the regional API host, e.g. https://us-api.365.systems)"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(invalid(format!("baseUrl: \"{text}\" must be a plain address without query or fragment")));
    }
    if url.to_ascii_lowercase().ends_with("/odata/v2") || url.to_ascii_lowercase().ends_with("/odata") {
        return Err(invalid(format!(
            "baseUrl: \"{text}\": give the host only (e.g. https://us-api.365.systems); the plugin adds /odata/v2"
        )));
    }
    Ok(url)
}

fn check_graph_url(text: Option<&str>) -> Result<String, PluginError> {
    let Some(text) = text else { return Ok(GRAPH_BASE_URL.to_owned()) };
    let url = text.trim().trim_end_matches('/').to_owned();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', ' ']) => {}
        _ => {
            return Err(invalid(format!(
                "assigner.graphBaseUrl: \"{text}\" is not a plain http(s) origin (e.g. {GRAPH_BASE_URL})"
            )));
        }
    }
    if url.to_ascii_lowercase().ends_with("/v1.0") {
        return Err(invalid(format!("assigner.graphBaseUrl: \"{text}\": give the origin only; the plugin adds /v1.0")));
    }
    Ok(url)
}

pub fn invalid(detail: impl std::fmt::Display) -> PluginError {
    PluginError::Config(format!("invalid target configuration: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "11111111-1111-1111-1111-111111111111";
    const T1: &str = "22222222-2222-2222-2222-222222222222";

    fn message(json: &str) -> String {
        match Config::parse(json) {
            Err(PluginError::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_normalisation() {
        let c = Config::parse(r#"{"baseUrl":"https://us-api.365.systems/"}"#).unwrap();
        assert_eq!(c.base_url, "https://us-api.365.systems");
        assert!(c.mappings.is_empty());
        assert_eq!(c.on_hard_delete, OnHardDelete::KeepHistory);
        let json = format!(
            r#"{{"baseUrl":"http://127.0.0.1:9","onHardDelete":"purge","courseMappings":[{{"group":" New hires ","courses":["{{{}}}"],"trainingPlans":["{T1}"]}}]}}"#,
            C1.to_uppercase()
        );
        let c = Config::parse(&json).unwrap();
        assert_eq!(c.on_hard_delete, OnHardDelete::Purge);
        assert_eq!(c.mappings[0].group, "New hires");
        assert_eq!(c.mappings[0].items, Items::from([(C1.into(), Kind::Course), (T1.into(), Kind::TrainingPlan)]));
    }

    #[test]
    fn errors_name_the_field() {
        assert!(message("{}").contains("baseUrl"));
        assert!(message(r#"{"baseUrl":"ftp://x"}"#).contains("baseUrl"));
        assert!(message(r#"{"baseUrl":"https://x/odata/v2"}"#).contains("host only"));
        assert!(message(r#"{"baseUrl":"https://x","courseMapping":[]}"#).contains("courseMapping"));
        assert!(message(r#"{"baseUrl":"https://x","onHardDelete":"delete"}"#).contains("onHardDelete"));
        let m = message(r#"{"baseUrl":"https://x","courseMappings":[{"group":"g","courses":["nope"]}]}"#);
        assert!(m.contains("courseMappings[0].courses[0]: \"nope\" is not a GUID"), "{m}");
        let m = message(&format!(
            r#"{{"baseUrl":"https://x","courseMappings":[{{"group":"Sales","courses":["{C1}"]}},{{"group":"sales","courses":["{C1}"]}}]}}"#
        ));
        assert!(m.contains("courseMappings[1].group"), "{m}");
        let m = message(&format!(
            r#"{{"baseUrl":"https://x","courseMappings":[{{"group":"A","courses":["{C1}"]}},{{"group":"B","trainingPlans":["{C1}"]}}]}}"#
        ));
        assert!(m.contains("courseMappings[1].trainingPlans[0]") && m.contains("is a course"), "{m}");
        let m = message(r#"{"baseUrl":"https://x","courseMappings":[{"group":"A"}]}"#);
        assert!(m.contains("courseMappings[0]: names no courses"), "{m}");
        let m = message(r#"{"baseUrl":"https://x","courseMappings":[{"group":"A","courses":[],"extra":1}]}"#);
        assert!(m.contains("extra"), "{m}");
        let m = message(&format!(r#"{{"baseUrl":"https://x","courseMappings":[{{"group":" ","courses":["{C1}"]}}]}}"#));
        assert!(m.contains("courseMappings[0].group"), "{m}");
    }

    #[test]
    fn groups_match_by_external_id_scim_id_or_name() {
        let oid = "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1";
        let json = format!(
            r#"{{"baseUrl":"https://x","courseMappings":[{{"group":"{}","courses":["{C1}"]}},{{"group":"g-7","trainingPlans":["{T1}"]}},{{"group":"new HIRES","courses":["{C1}"]}}]}}"#,
            oid.to_uppercase()
        );
        let c = Config::parse(&json).unwrap();
        let by: Vec<MatchedBy> = c.matches("g-1", Some(oid), "Other").into_iter().map(|(_, b)| b).collect();
        assert_eq!(by, [MatchedBy::ExternalId]);
        assert_eq!(c.desired("g-7", None, "x").len(), 1);
        assert_eq!(c.desired("g-9", None, "New Hires"), Items::from([(C1.into(), Kind::Course)]));
        assert!(c.desired("g-9", None, "New hires 2").is_empty());
        let all = c.desired("g-7", Some(oid), "new hires");
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn the_hash_ignores_order_and_follows_content() {
        let a = Config::parse(&format!(
            r#"{{"baseUrl":"https://x","courseMappings":[{{"group":"A","courses":["{C1}"]}},{{"group":"B","trainingPlans":["{T1}"]}}]}}"#
        ))
        .unwrap();
        let b = Config::parse(&format!(
            r#"{{"baseUrl":"https://y","onHardDelete":"purge","courseMappings":[{{"group":"B","trainingPlans":["{T1}"]}},{{"group":"A","courses":["{}"]}}]}}"#,
            C1.to_uppercase()
        ))
        .unwrap();
        assert_eq!(a.mappings_hash(), b.mappings_hash());
        let c = Config::parse(&format!(
            r#"{{"baseUrl":"https://x","courseMappings":[{{"group":"A","trainingPlans":["{C1}"]}},{{"group":"B","trainingPlans":["{T1}"]}}]}}"#
        ))
        .unwrap();
        assert_ne!(a.mappings_hash(), c.mappings_hash());
        assert_eq!(
            guid("{ABCDEF01-2345-6789-abcd-ef0123456789}").as_deref(),
            Some("abcdef01-2345-6789-abcd-ef0123456789")
        );
        assert_eq!(guid("abcdef01-2345-6789-abcd-ef012345678"), None);
    }
}
