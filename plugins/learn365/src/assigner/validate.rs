//! What a profile and the settings may say, given the tenant ([`TenantFields`]: its custom user fields
//! with their types, and its courses, from the last data refresh; the seed's "profile schema").
//!
//! Every error is `PluginError::InvalidInput("invalid profile: <path>: <what>")`, the path JSON-pointer
//! like: `properties.children[1].value: "2023-13-01" is not a date`. Refused, among others: an empty
//! title, an unknown source or one of the wrong section (`custom:Hire date` in properties), a date rule
//! when the tenant has no custom date field (AT-24), a condition of another section, a missing or
//! superfluous value or `days`, a bad date, an empty group below the root, too deep or too large trees,
//! a course that is not a GUID or not the tenant's, throttle limits out of bounds.

use std::collections::BTreeSet;

use scimgw_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

use super::model::{CUSTOM, Condition, Node, Profile, STANDARD_SOURCES, Section, Settings};
use super::time;

/// Nesting of a rule tree, the root being level 1.
pub const MAX_DEPTH: usize = 8;
/// Nodes (rules and groups) of all sections of one profile: bounds evaluation cost.
pub const MAX_NODES: usize = 200;
/// Users in `include` or in `exclude`.
pub const MAX_OVERRIDES: usize = 10_000;
pub const MAX_TITLE: usize = 200;
pub const MAX_PREFIX: usize = 50;
pub const MAX_DESCRIPTION: usize = 2_000;
pub const MAX_VALUE: usize = 1_000;
/// `completedRecently` looks back at most ten years.
pub const MAX_DAYS: u32 = 3_650;

/// A custom user field's type in Learn365.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Date,
}

/// A custom user field (standard ones are [`STANDARD_SOURCES`]).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
}

impl Field {
    pub fn new(name: &str, kind: FieldType) -> Field {
        Field { name: name.to_owned(), kind }
    }
}

/// What profiles are checked against: the tenant's custom fields and, when known, its courses.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantFields {
    pub fields: Vec<Field>,
    /// Lower-case course GUIDs; `None`: not known (no data refresh yet), courses are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courses: Option<BTreeSet<String>>,
}

impl TenantFields {
    /// The field of that name (trimmed, case-insensitive).
    pub fn field(&self, name: &str) -> Option<&Field> {
        find_field(&self.fields, name)
    }

    pub fn has_date_field(&self) -> bool {
        self.fields.iter().any(|f| f.kind == FieldType::Date)
    }
}

/// A field of a list by name (trimmed, case-insensitive).
pub fn find_field<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    let name = name.trim().to_lowercase();
    fields.iter().find(|f| f.name.trim().to_lowercase() == name)
}

/// The field a `custom:<field>` source names (trimmed), or `None` for another source.
pub fn custom_name(source: &str) -> Option<&str> {
    source.trim().strip_prefix(CUSTOM).map(str::trim)
}

/// An id as compared: trimmed, without braces, lower case.
pub fn normal_id(s: &str) -> String {
    s.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_lowercase()
}

/// A GUID (8-4-4-4-12 hex digits, braces allowed) in lower case, or `None`.
pub fn guid(s: &str) -> Option<String> {
    let id = normal_id(s);
    let groups: Vec<&str> = id.split('-').collect();
    let ok = groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then_some(id)
}

fn err(what: &str, at: &str, detail: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidInput(format!("invalid {what}: {at}: {detail}"))
}

fn bad(at: &str, detail: impl std::fmt::Display) -> PluginError {
    err("profile", at, detail)
}

fn plain(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// Checks a parsed profile against the tenant (module doc).
pub fn validate(profile: &Profile, tenant: &TenantFields) -> Result<(), PluginError> {
    let id = &profile.id;
    if id.is_empty()
        || id.len() > 64
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(bad("id", format!("{id:?} must be 1 to 64 letters, digits, '-', '_' or '.'")));
    }
    let title = profile.title.trim();
    if title.is_empty() {
        return Err(bad("title", "required (the Entra group's name after the prefix)"));
    }
    if title.chars().count() > MAX_TITLE || !plain(title) {
        return Err(bad("title", format!("at most {MAX_TITLE} characters, no control characters")));
    }
    if profile.description.chars().count() > MAX_DESCRIPTION {
        return Err(bad("description", format!("at most {MAX_DESCRIPTION} characters")));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in profile.courses.iter().enumerate() {
        let at = format!("courses[{i}]");
        let g = guid(c).ok_or_else(|| bad(&at, format!("{c:?} is not a course GUID")))?;
        if tenant.courses.as_ref().is_some_and(|known| !known.contains(&g)) {
            return Err(bad(&at, format!("{g} is not a course of this tenant (as of the last data refresh)")));
        }
        if !seen.insert(g.clone()) {
            return Err(bad(&at, format!("{g} is listed twice")));
        }
    }
    if let Some(t) = &profile.throttle {
        match (t.max_changes, t.max_changes_percent) {
            (None, None) => {
                return Err(bad(
                    "throttle",
                    "give maxChanges or maxChangesPercent, or leave throttle out (don't throttle)",
                ));
            }
            (Some(0), _) => {
                return Err(bad(
                    "throttle.maxChanges",
                    "at least 1 (0 would block every change; turn autoPopulate off instead)",
                ));
            }
            (_, Some(p)) if !(1..=100).contains(&p) => {
                return Err(bad("throttle.maxChangesPercent", format!("{p} is not a percentage from 1 to 100")));
            }
            _ => {}
        }
    }
    let mut nodes = 0;
    for section in Section::ALL {
        let Some(root) = profile.section(section) else { continue };
        let name = section.name();
        if let Node::Group(g) = root
            && g.children.is_empty()
        {
            continue; // an empty section
        }
        if section == Section::Dates && !tenant.has_date_field() {
            return Err(bad(name, "the tenant has no custom date field, so no date rule can be authored"));
        }
        check_node(root, section, tenant, name, 1, &mut nodes)?;
    }
    for (list, ids) in [("include", &profile.include), ("exclude", &profile.exclude)] {
        if ids.len() > MAX_OVERRIDES {
            return Err(bad(list, format!("at most {MAX_OVERRIDES} users")));
        }
        let mut seen = BTreeSet::new();
        for (i, u) in ids.iter().enumerate() {
            let at = format!("{list}[{i}]");
            if u.trim().is_empty() || u.trim() != u || u.len() > 256 || !plain(u) {
                return Err(bad(&at, format!("{u:?} is not a user id")));
            }
            if !seen.insert(u.as_str()) {
                return Err(bad(&at, format!("{u:?} is listed twice")));
            }
        }
    }
    Ok(())
}

fn check_node(
    node: &Node,
    section: Section,
    tenant: &TenantFields,
    at: &str,
    depth: usize,
    nodes: &mut usize,
) -> Result<(), PluginError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(bad(at, format!("a profile has at most {MAX_NODES} rules and groups")));
    }
    if depth > MAX_DEPTH {
        return Err(bad(at, format!("rule groups nest at most {MAX_DEPTH} deep")));
    }
    match node {
        Node::Group(g) => {
            if g.children.is_empty() {
                return Err(bad(&format!("{at}.children"), "an empty group (remove it or add rules)"));
            }
            for (i, c) in g.children.iter().enumerate() {
                check_node(c, section, tenant, &format!("{at}.children[{i}]"), depth + 1, nodes)?;
            }
            Ok(())
        }
        Node::Rule(r) => {
            let condition = r.condition.unwrap_or(section.default_condition());
            if !section.conditions().contains(&condition) {
                let allowed: Vec<&str> = section.conditions().iter().map(|c| c.name()).collect();
                return Err(bad(
                    &format!("{at}.condition"),
                    format!(
                        "{} is not a condition of {}; use one of {}",
                        condition.name(),
                        section.name(),
                        allowed.join(", ")
                    ),
                ));
            }
            check_source(&r.source, section, tenant, &format!("{at}.source"))?;
            let value = r.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let vat = format!("{at}.value");
            match (condition.takes_value(), value) {
                (true, None) => return Err(bad(&vat, format!("required for {}", condition.name()))),
                (false, Some(_)) => return Err(bad(&vat, format!("{} takes no value", condition.name()))),
                (true, Some(v)) if v.chars().count() > MAX_VALUE || !plain(v) => {
                    return Err(bad(&vat, format!("at most {MAX_VALUE} characters, no control characters")));
                }
                (true, Some(v)) if section == Section::Dates && time::parse(v).is_none() => {
                    return Err(bad(&vat, format!("{v:?} is not a date (YYYY-MM-DD or an RFC 3339 date-time)")));
                }
                _ => {}
            }
            let dat = format!("{at}.days");
            match (condition, r.days) {
                (Condition::CompletedRecently, None) => Err(bad(&dat, "required for completedRecently")),
                (Condition::CompletedRecently, Some(d)) if !(1..=MAX_DAYS).contains(&d) => {
                    Err(bad(&dat, format!("{d} is not from 1 to {MAX_DAYS}")))
                }
                (c, Some(_)) if c != Condition::CompletedRecently => {
                    Err(bad(&dat, "only completedRecently takes days"))
                }
                _ => Ok(()),
            }
        }
    }
}

fn check_source(source: &str, section: Section, tenant: &TenantFields, at: &str) -> Result<(), PluginError> {
    let names = |kind: FieldType| {
        let list: Vec<String> =
            tenant.fields.iter().filter(|f| f.kind == kind).map(|f| format!("custom:{}", f.name)).collect();
        if list.is_empty() { "none".to_owned() } else { list.join(", ") }
    };
    match section {
        Section::Properties => {
            if STANDARD_SOURCES.contains(&source) {
                return Ok(());
            }
            let Some(name) = custom_name(source) else {
                return Err(bad(
                    at,
                    format!("unknown source {source:?}; use {} or custom:<field>", STANDARD_SOURCES.join(", ")),
                ));
            };
            match tenant.field(name) {
                Some(f) if f.kind == FieldType::String => Ok(()),
                Some(_) => Err(bad(at, format!("{source:?} is a date field; put its rules in dates"))),
                None => {
                    Err(bad(at, format!("unknown custom field {name:?} (the tenant's: {})", names(FieldType::String))))
                }
            }
        }
        Section::Dates => {
            let Some(name) = custom_name(source) else {
                return Err(bad(
                    at,
                    format!("{source:?}: a date rule's source is a custom date field, custom:<field>"),
                ));
            };
            match tenant.field(name) {
                Some(f) if f.kind == FieldType::Date => Ok(()),
                Some(_) => Err(bad(at, format!("{source:?} is not a date field; put its rules in properties"))),
                None => Err(bad(at, format!("unknown date field {name:?} (the tenant's: {})", names(FieldType::Date)))),
            }
        }
        Section::Activities => {
            let Some(g) = guid(source) else {
                return Err(bad(at, format!("{source:?}: an activity rule's source is a course GUID")));
            };
            if tenant.courses.as_ref().is_some_and(|known| !known.contains(&g)) {
                return Err(bad(at, format!("{g} is not a course of this tenant (as of the last data refresh)")));
            }
            Ok(())
        }
    }
}

impl Settings {
    /// Checks parsed settings (the contact address's shape, the prefix, the schedule).
    pub fn check(&self) -> Result<(), PluginError> {
        let e = |at: &str, d: String| err("settings", at, d);
        let mail = self.contact_email.trim();
        let ok = mail.len() <= 254
            && !mail.chars().any(char::is_whitespace)
            && mail.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
        if !ok {
            return Err(e("contactEmail", format!("{mail:?} is not an e-mail address")));
        }
        if self.entra_group_prefix.chars().count() > MAX_PREFIX || !plain(&self.entra_group_prefix) {
            return Err(e("entraGroupPrefix", format!("at most {MAX_PREFIX} characters, no control characters")));
        }
        for (name, hours) in [("refresh", &self.schedule.refresh), ("maintenance", &self.schedule.maintenance)] {
            if hours.is_empty() {
                return Err(e(&format!("schedule.{name}"), "at least one hour".into()));
            }
            for (i, h) in hours.iter().enumerate() {
                let at = format!("schedule.{name}[{i}]");
                if *h > 23 {
                    return Err(e(&at, format!("{h} is not an hour (0 to 23, UTC)")));
                }
                if hours[..i].contains(h) {
                    return Err(e(&at, format!("{h} is listed twice")));
                }
            }
        }
        if let Some((i, h)) =
            self.schedule.maintenance.iter().enumerate().find(|(_, h)| self.schedule.refresh.contains(h))
        {
            return Err(e(
                &format!("schedule.maintenance[{i}]"),
                format!("{h} is also a refresh hour; a maintenance runs on the last refresh, at another hour"),
            ));
        }
        Ok(())
    }
}
