//! The Assigner's documents as the admin writes them (camelCase JSON, unknown fields refused): the
//! tenant's [`Settings`] and the [`Profile`]s with their rule trees ([`Node`]). Parsing checks the
//! structure and names the field of a mistake (`properties.children[1].condition: unknown variant …`);
//! what depends on the tenant (sources, dates, courses) is [`super::validate()`].
//!
//! A rule tree node is a **group** `{"op": "AND"|"OR", "not": bool, "children": [...]}` or a **rule**
//! `{"not": bool, "source": …, "condition": …, "value": …, "days": …}`; `not` negates either. A rule's
//! absent `condition` is its section's default (equals, isBefore, hasCompleted).

use scimgw_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

/// The target credential with `api:<key>`, a **Full control** Learn365 API key (the Assigner writes
/// custom columns). Held by the host like the plugin's own (`config::CREDENTIAL`), never in settings.
pub const LEARN365_CREDENTIAL: &str = "learn365";
/// The target credential with the Entra app registration: an `oauth2-client-credentials` credential
/// (token URL, client id and secret, Graph scope); the host fetches the token and sends it as Bearer
/// (Graph `User.Read.All`, `Group.ReadWrite.All`, `GroupMember.ReadWrite.All`). Never in settings.
pub const GRAPH_CREDENTIAL: &str = "entra-app";

/// The standard property sources, in the order of a snapshot's columns (`Title` is the learner's name,
/// `Position` the job title). Custom fields are `custom:<field>`.
pub const STANDARD_SOURCES: [&str; 8] =
    ["City", "Company", "Department", "Country", "Office", "Position", "Email", "Title"];
/// The prefix of a custom field source.
pub const CUSTOM: &str = "custom:";

/// Default data-refresh hours (UTC), A9.
pub const REFRESH_HOURS: [u8; 8] = [2, 5, 8, 11, 14, 17, 20, 23];
/// Default maintenance hours (UTC), A9.
pub const MAINTENANCE_HOURS: [u8; 8] = [0, 3, 6, 9, 12, 15, 18, 21];

/// The tenant's Assigner settings (the admin's "Settings" page, minus the credentials).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Who is e-mailed about sync errors and throttled profiles.
    pub contact_email: String,
    /// Prepended to a profile's title to name its Entra group ([`Settings::group_name`]).
    #[serde(default)]
    pub entra_group_prefix: String,
    #[serde(default)]
    pub schedule: Schedule,
    /// Disabled users (`active = false` in the snapshot) are never members (Q20).
    #[serde(default = "yes")]
    pub exclude_disabled_users: bool,
}

fn yes() -> bool {
    true
}

/// When the two jobs run: whole hours, UTC (A9, Q13).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schedule {
    #[serde(default = "refresh_hours")]
    pub refresh: Vec<u8>,
    #[serde(default = "maintenance_hours")]
    pub maintenance: Vec<u8>,
}

fn refresh_hours() -> Vec<u8> {
    REFRESH_HOURS.to_vec()
}
fn maintenance_hours() -> Vec<u8> {
    MAINTENANCE_HOURS.to_vec()
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { refresh: refresh_hours(), maintenance: maintenance_hours() }
    }
}

impl Schedule {
    /// The data-refresh job's cron (`0 2,5,8,11,14,17,20,23 * * *` by default).
    pub fn refresh_cron(&self) -> String {
        cron(&self.refresh)
    }
    /// The maintenance job's cron (`0 0,3,6,9,12,15,18,21 * * *` by default).
    pub fn maintenance_cron(&self) -> String {
        cron(&self.maintenance)
    }
}

fn cron(hours: &[u8]) -> String {
    let mut h = hours.to_vec();
    h.sort_unstable();
    h.dedup();
    format!("0 {} * * *", h.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
}

impl Settings {
    /// The Entra group's displayName: prefix + title, as written (trimmed) [proposed exact format].
    pub fn group_name(&self, profile: &Profile) -> String {
        format!("{}{}", self.entra_group_prefix, profile.title.trim())
    }
}

/// An Assigner profile: one Entra group, its members computed from rules and overrides (A1–A3).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// Stable key (letters, digits, `-`, `_`, `.`; at most 64), used in kv keys and logs.
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// "Enroll profile in selected courses" (A6).
    pub enroll: bool,
    /// Learn365 course GUIDs the group is enrolled in while `enroll`.
    #[serde(default)]
    pub courses: Vec<String>,
    /// Membership follows the rules; off: the group's membership is never changed (A3).
    pub auto_populate: bool,
    /// Absent: don't throttle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Node>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<Node>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activities: Option<Node>,
    /// User ids (snapshot keys) made members whatever the rules say.
    #[serde(default)]
    pub include: Vec<String>,
    /// User ids never members; exclude wins over include (Q17).
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub state: ProfileState,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub enum ProfileState {
    #[default]
    Active,
    /// Deleted by the admin; the next maintenance detaches it (A7).
    Deleted,
}

/// Throttling (A5, Q16): `{"maxChanges": N}` and/or `{"maxChangesPercent": P}`; both given: throttled
/// when either is exceeded.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Throttle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes_percent: Option<u32>,
}

/// The three rule sections (A2: a user matches iff every non-empty one is true).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Section {
    Properties,
    Dates,
    Activities,
}

impl Section {
    pub const ALL: [Section; 3] = [Section::Properties, Section::Dates, Section::Activities];

    /// The JSON field.
    pub fn name(self) -> &'static str {
        match self {
            Section::Properties => "properties",
            Section::Dates => "dates",
            Section::Activities => "activities",
        }
    }

    /// The condition of a rule that names none.
    pub fn default_condition(self) -> Condition {
        match self {
            Section::Properties => Condition::Equals,
            Section::Dates => Condition::IsBefore,
            Section::Activities => Condition::HasCompleted,
        }
    }

    /// The conditions a rule of this section may use.
    pub fn conditions(self) -> &'static [Condition] {
        use Condition::*;
        match self {
            Section::Properties => &[Equals, NotEquals, Contains, NotContains, StartsWith, IsEmpty, IsNotEmpty],
            Section::Dates => &[IsBefore, IsAfter, IsOn],
            Section::Activities => &[HasCompleted, NotCompletedOnTime, CompletedRecently],
        }
    }
}

impl Profile {
    pub fn section(&self, s: Section) -> Option<&Node> {
        match s {
            Section::Properties => self.properties.as_ref(),
            Section::Dates => self.dates.as_ref(),
            Section::Activities => self.activities.as_ref(),
        }
    }

    /// The sections that hold at least one rule (an absent section or a rule-less group is empty).
    pub fn rule_sections(&self) -> impl Iterator<Item = (Section, &Node)> {
        Section::ALL.into_iter().filter_map(|s| self.section(s).filter(|n| n.has_rule()).map(|n| (s, n)))
    }

    /// Whether any section holds a rule.
    pub fn has_rules(&self) -> bool {
        self.rule_sections().next().is_some()
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    #[serde(rename = "AND", alias = "and")]
    And,
    #[serde(rename = "OR", alias = "or")]
    Or,
}

/// Rule conditions of all sections (which section takes which: [`Section::conditions`]).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "camelCase")]
pub enum Condition {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    IsEmpty,
    IsNotEmpty,
    IsBefore,
    IsAfter,
    /// The same UTC day.
    IsOn,
    HasCompleted,
    /// Enrolled, not completed, and the due date is before the snapshot time.
    NotCompletedOnTime,
    /// Completed at most `days` × 24 h before the snapshot time.
    CompletedRecently,
}

impl Condition {
    pub fn name(self) -> &'static str {
        use Condition::*;
        match self {
            Equals => "equals",
            NotEquals => "notEquals",
            Contains => "contains",
            NotContains => "notContains",
            StartsWith => "startsWith",
            IsEmpty => "isEmpty",
            IsNotEmpty => "isNotEmpty",
            IsBefore => "isBefore",
            IsAfter => "isAfter",
            IsOn => "isOn",
            HasCompleted => "hasCompleted",
            NotCompletedOnTime => "notCompletedOnTime",
            CompletedRecently => "completedRecently",
        }
    }

    /// Whether the condition compares with a `value`.
    pub fn takes_value(self) -> bool {
        !matches!(
            self,
            Condition::IsEmpty
                | Condition::IsNotEmpty
                | Condition::HasCompleted
                | Condition::NotCompletedOnTime
                | Condition::CompletedRecently
        )
    }
}

/// A rule tree node (module doc).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(try_from = "RawNode", into = "RawNode")]
pub enum Node {
    Group(Group),
    Rule(Rule),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Group {
    pub op: Op,
    pub not: bool,
    pub children: Vec<Node>,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Rule {
    pub not: bool,
    /// Properties: `City`, …, `custom:<field>`; dates: `custom:<date field>`; activities: a course GUID.
    pub source: String,
    /// `None`: the section's default.
    pub condition: Option<Condition>,
    /// The string to compare (properties) or the date-time (dates).
    pub value: Option<String>,
    /// `completedRecently` only: how many days back from the snapshot time.
    pub days: Option<u32>,
}

impl Node {
    pub fn not(&self) -> bool {
        match self {
            Node::Group(g) => g.not,
            Node::Rule(r) => r.not,
        }
    }

    /// Whether the tree holds at least one rule.
    pub fn has_rule(&self) -> bool {
        match self {
            Node::Rule(_) => true,
            Node::Group(g) => g.children.iter().any(Node::has_rule),
        }
    }

    /// Every rule with its path below the section (`.children[1].children[0]`, `""` for a root rule).
    pub fn rules(&self) -> Vec<(String, &Rule)> {
        fn walk<'a>(n: &'a Node, at: String, out: &mut Vec<(String, &'a Rule)>) {
            match n {
                Node::Rule(r) => out.push((at, r)),
                Node::Group(g) => {
                    for (i, c) in g.children.iter().enumerate() {
                        walk(c, format!("{at}.children[{i}]"), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self, String::new(), &mut out);
        out
    }

    /// A rule node (tests and callers building trees).
    pub fn rule(source: &str, condition: Option<Condition>, value: Option<&str>) -> Node {
        Node::Rule(Rule {
            not: false,
            source: source.to_owned(),
            condition,
            value: value.map(str::to_owned),
            days: None,
        })
    }

    pub fn group(op: Op, children: Vec<Node>) -> Node {
        Node::Group(Group { op, not: false, children })
    }

    /// The same node negated.
    pub fn negate(mut self) -> Node {
        match &mut self {
            Node::Group(g) => g.not = !g.not,
            Node::Rule(r) => r.not = !r.not,
        }
        self
    }
}

/// The wire form of a node: one object, a group iff it has `children`.
#[derive(Serialize, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<Op>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    not: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    children: Option<Vec<Node>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    days: Option<u32>,
}

impl TryFrom<RawNode> for Node {
    type Error = String;

    fn try_from(raw: RawNode) -> Result<Node, String> {
        match (raw.children, raw.source) {
            (Some(children), None) => {
                for (name, set) in [
                    ("condition", raw.condition.is_some()),
                    ("value", raw.value.is_some()),
                    ("days", raw.days.is_some()),
                ] {
                    if set {
                        return Err(format!("a group (with children) has no {name}; put rules in its children"));
                    }
                }
                let op = raw.op.ok_or("a group needs op: \"AND\" or \"OR\"")?;
                Ok(Node::Group(Group { op, not: raw.not, children }))
            }
            (None, Some(source)) => {
                if raw.op.is_some() {
                    return Err("a rule (with source) has no op; use a group with children to combine rules".into());
                }
                Ok(Node::Rule(Rule {
                    not: raw.not,
                    source,
                    condition: raw.condition,
                    value: raw.value,
                    days: raw.days,
                }))
            }
            (Some(_), Some(_)) => {
                Err("a node is either a group (op, children) or a rule (source, condition, value), not both".into())
            }
            (None, None) => Err("a node needs children (a group) or a source (a rule)".into()),
        }
    }
}

impl From<Node> for RawNode {
    fn from(n: Node) -> RawNode {
        match n {
            Node::Group(g) => RawNode { op: Some(g.op), not: g.not, children: Some(g.children), ..RawNode::default() },
            Node::Rule(r) => RawNode {
                not: r.not,
                source: Some(r.source),
                condition: r.condition,
                value: r.value,
                days: r.days,
                ..RawNode::default()
            },
        }
    }
}

/// Parses admin JSON into `T`, naming the field of a mistake (`properties.children[1].op: …`).
pub fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, PluginError> {
    if json.trim().is_empty() {
        return Err(PluginError::InvalidInput(format!("invalid {what}: empty document")));
    }
    // The SDK's parser tracks the path (serde_path_to_error); its errors are worded for configurations.
    scimgw_plugin_sdk::parse_config(json).map_err(|e| {
        let text = match e {
            PluginError::Config(m)
            | PluginError::InvalidInput(m)
            | PluginError::Internal(m)
            | PluginError::Unsupported(m) => m,
        };
        let detail = text.strip_prefix("invalid target configuration: ").unwrap_or(&text);
        PluginError::InvalidInput(format!("invalid {what}: {detail}"))
    })
}

impl Profile {
    /// A profile from JSON (structure only; then [`super::validate()`]).
    pub fn parse(json: &str) -> Result<Profile, PluginError> {
        parse("profile", json)
    }
}

impl Settings {
    /// Settings from JSON (structure only; then [`Settings::check`]).
    pub fn parse(json: &str) -> Result<Settings, PluginError> {
        parse("settings", json)
    }
}
