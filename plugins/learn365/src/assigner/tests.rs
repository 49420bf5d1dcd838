//! Tests of the Assigner engine: the acceptance scenarios AT-22…AT-34 as far as the engine decides
//! them ([`acceptance`]), throttling (Q16, AT-27, AT-28: [`throttle`]), validation and parsing errors
//! ([`validation`]), the snapshot and its stored form ([`snapshot`]), and a randomized comparison of
//! the compiled evaluation with a naive reference evaluator written from the spec text ([`reference`]).

mod acceptance;
mod reference;
mod snapshot;
mod throttle;
mod validation;

use std::collections::BTreeSet;

pub use scimgw_plugin_sdk::PluginError;

use super::*;

/// 2024-05-01T02:00:00Z, the time of the test snapshots.
pub const NOW: i64 = 1_714_528_800;

pub const C: [&str; 3] = [
    "c1000000-0000-4000-8000-000000000001",
    "c1000000-0000-4000-8000-000000000002",
    "c1000000-0000-4000-8000-000000000003",
];

/// The tenant's custom fields in the test snapshots.
pub fn fields() -> Vec<Field> {
    vec![Field::new("Cost center", FieldType::String), Field::new("Hire date", FieldType::Date)]
}

pub fn tenant() -> TenantFields {
    TenantFields { fields: fields(), courses: Some(C.iter().map(|c| c.to_string()).collect()) }
}

/// An active user with property values (`City`, …, `custom:Cost center`).
pub fn user(id: &str, props: &[(&str, &str)]) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        active: true,
        fields: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..UserRecord::default()
    }
}

pub fn snap_at(taken_at: i64, users: &[UserRecord]) -> Snapshot {
    let courses: Vec<String> = C.iter().map(|c| c.to_string()).collect();
    Snapshot::build(taken_at, &fields(), &courses, users).unwrap()
}

pub fn snap(users: &[UserRecord]) -> Snapshot {
    snap_at(NOW, users)
}

pub fn settings() -> Settings {
    Settings::parse(r#"{"contactEmail":"lms-admin@contoso.com","entraGroupPrefix":"AS-"}"#).unwrap()
}

/// An auto-populated, unthrottled profile from the JSON of its sections and overrides, validated.
pub fn profile(extra: &str) -> Profile {
    let sep = if extra.is_empty() { "" } else { "," };
    let json = format!(r#"{{"id":"p1","title":"P","enroll":false,"autoPopulate":true{sep}{extra}}}"#);
    let p = Profile::parse(&json).unwrap_or_else(|e| panic!("{json}: {e:?}"));
    validate(&p, &tenant()).unwrap_or_else(|e| panic!("{json}: {e:?}"));
    p
}

/// The profile's members as ids.
pub fn members_of(s: &Snapshot, p: &Profile) -> BTreeSet<String> {
    let mut engine = Engine::new(s);
    match desired(&mut engine, p, &settings()).unwrap() {
        Desired::Set(b) => b.ones_iter().map(|u| s.id(u).to_owned()).collect(),
        Desired::Keep => panic!("profile {} is not auto-populated", p.id),
    }
}

pub fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A deterministic PRNG (splitmix64): the benchmark tenant's.
pub use crate::tests::bench_fixture::data::Rng;
