//! The compiled evaluation against a naive reference evaluator, written from `docs/spec/assigner.md` §4
//! A1–A3 without looking at the engine: one user at a time, straight over the records (maps with the
//! values as the data refresh gave them, untrimmed), recursion over the tree as authored. Random trees
//! (AND, OR, NOT at every level, all conditions of all sections, default conditions), random users
//! (values differing in case and surrounding spaces, missing values, disabled users, dates around the
//! constants, enrollments around the snapshot time) and random overrides; seeded, and a failure prints
//! the seed, the case, the profile and the user. Every few cases the snapshot also goes through its
//! stored form in small chunks and must evaluate the same.

use std::collections::BTreeSet;

use super::*;
use crate::assigner::time::{self, DAY};

// ---- The reference: spec text → code, nothing shared with eval.rs but the date parser. ----

fn text(s: &str) -> String {
    s.trim().to_lowercase()
}

/// A record's value for a source: standard names exactly, `custom:<field>` with the field's name
/// compared case-insensitively; missing = "".
fn value_of<'a>(u: &'a UserRecord, source: &str) -> &'a str {
    match source.strip_prefix("custom:") {
        None => u.fields.get(source).map_or("", String::as_str),
        Some(name) => u
            .fields
            .iter()
            .find(|(k, _)| k.strip_prefix("custom:").is_some_and(|n| text(n) == text(name)))
            .map_or("", |(_, v)| v.as_str()),
    }
}

fn date_of(u: &UserRecord, source: &str) -> Option<i64> {
    let name = source.strip_prefix("custom:")?;
    u.dates.iter().find(|(k, _)| k.strip_prefix("custom:").is_some_and(|n| text(n) == text(name))).map(|(_, t)| *t)
}

fn ref_rule(r: &Rule, section: Section, u: &UserRecord, now: i64) -> bool {
    match section {
        Section::Properties => {
            let v = text(value_of(u, &r.source));
            let k = text(r.value.as_deref().unwrap_or(""));
            match r.condition.unwrap_or(Condition::Equals) {
                Condition::Equals => v == k,
                Condition::NotEquals => v != k,
                Condition::Contains => v.contains(&k),
                Condition::NotContains => !v.contains(&k),
                Condition::StartsWith => v.starts_with(&k),
                Condition::IsEmpty => v.is_empty(),
                Condition::IsNotEmpty => !v.is_empty(),
                c => panic!("{c:?} in properties"),
            }
        }
        Section::Dates => {
            let Some(t) = date_of(u, &r.source) else { return false };
            let c = time::parse(r.value.as_deref().unwrap()).unwrap();
            match r.condition.unwrap_or(Condition::IsBefore) {
                Condition::IsBefore => t < c,
                Condition::IsAfter => t > c,
                Condition::IsOn => t.div_euclid(DAY) == c.div_euclid(DAY),
                c => panic!("{c:?} in dates"),
            }
        }
        Section::Activities => {
            let Some(a) = u.activity.get(&r.source.to_lowercase()) else { return false };
            match r.condition.unwrap_or(Condition::HasCompleted) {
                Condition::HasCompleted => a.completed_at.is_some(),
                Condition::NotCompletedOnTime => a.completed_at.is_none() && a.due.is_some_and(|d| d < now),
                Condition::CompletedRecently => {
                    a.completed_at.is_some_and(|c| now - c <= i64::from(r.days.unwrap()) * DAY)
                }
                c => panic!("{c:?} in activities"),
            }
        }
    }
}

fn ref_node(n: &Node, section: Section, u: &UserRecord, now: i64) -> bool {
    let (result, not) = match n {
        Node::Rule(r) => (ref_rule(r, section, u, now), r.not),
        Node::Group(g) => {
            let mut each = g.children.iter().map(|c| ref_node(c, section, u, now));
            (if g.op == Op::And { each.all(|b| b) } else { each.any(|b| b) }, g.not)
        }
    };
    if not { !result } else { result }
}

fn has_a_rule(n: &Node) -> bool {
    match n {
        Node::Rule(_) => true,
        Node::Group(g) => g.children.iter().any(has_a_rule),
    }
}

/// A2: every non-empty section true; no rules: nobody.
fn ref_matches(p: &Profile, u: &UserRecord, now: i64) -> bool {
    let sections: Vec<(Section, &Node)> = [
        (Section::Properties, p.properties.as_ref()),
        (Section::Dates, p.dates.as_ref()),
        (Section::Activities, p.activities.as_ref()),
    ]
    .into_iter()
    .filter_map(|(s, n)| n.filter(|n| has_a_rule(n)).map(|n| (s, n)))
    .collect();
    !sections.is_empty() && sections.iter().all(|(s, n)| ref_node(n, *s, u, now))
}

/// A3 over the records.
fn ref_members(p: &Profile, users: &[UserRecord], now: i64, exclude_disabled: bool) -> BTreeSet<String> {
    users
        .iter()
        .filter(|u| (ref_matches(p, u, now) || p.include.contains(&u.id)) && !p.exclude.contains(&u.id))
        .filter(|u| u.active || !exclude_disabled)
        .map(|u| u.id.clone())
        .collect()
}

// ---- Random profiles and users. ----

const WORDS: [&str; 16] = [
    "Las Vegas",
    " las vegas",
    "DENVER ",
    "Denver",
    "San Diego",
    "Sales",
    "sales manager",
    "Customer Success Manager",
    "manager",
    "US",
    "us ",
    "NO",
    "Straße",
    "STRASSE",
    "İstanbul",
    "a\tb",
];
const FRAGMENTS: [&str; 8] = ["las", "MANAGER", " den", "s", "sales", "vegas", "ü", "\tb"];
const SOURCES: [&str; 8] =
    ["City", "Department", "Position", "Country", "Title", "custom:Cost center", "custom:cost CENTER", "Email"];
const PROP_KEYS: [&str; 6] = ["City", "Department", "Position", "Country", "Title", "custom:Cost center"];
const DATE_KEYS: [&str; 2] = ["custom:Hire date", "custom:Birthday"];
/// C[0..3] are in the snapshot; the last one is not.
const COURSES: [&str; 4] = [C[0], C[1], C[2], "c1000000-0000-4000-8000-0000000000ff"];

fn random_rule(rng: &mut Rng, section: Section) -> Rule {
    let mut r = Rule { not: rng.chance(25), ..Rule::default() };
    let conds = section.conditions();
    r.condition = if rng.chance(20) { None } else { Some(*rng.pick(conds)) };
    let cond = r.condition.unwrap_or(section.default_condition());
    match section {
        Section::Properties => {
            r.source = rng.pick(&SOURCES).to_string();
            if cond.takes_value() {
                // A constant has no control characters (validation); values may.
                let k = if rng.chance(60) { rng.pick(&WORDS) } else { rng.pick(&FRAGMENTS) };
                r.value = Some(k.replace('\t', " "));
            }
        }
        Section::Dates => {
            r.source = if rng.chance(50) { "custom:Hire date" } else { "custom:BIRTHDAY " }.to_owned();
            let t = NOW + rng.range(-5, 5) * DAY + rng.range(-3, 3) * 3600 * if rng.chance(50) { 1 } else { 0 };
            r.value = Some(match rng.below(3) {
                0 => time::format(t)[..10].to_owned(),
                1 => time::format(t),
                _ => {
                    let s = time::format(t + 2 * 3600);
                    format!("{}+02:00", &s[..19])
                }
            });
        }
        Section::Activities => {
            r.source = if rng.chance(15) { COURSES[0].to_uppercase() } else { rng.pick(&COURSES).to_string() };
            if cond == Condition::CompletedRecently {
                r.days = Some(rng.range(1, 30) as u32);
            }
        }
    }
    r
}

fn random_node(rng: &mut Rng, section: Section, depth: usize) -> Node {
    if depth >= 3 || rng.chance(45) {
        return Node::Rule(random_rule(rng, section));
    }
    let op = if rng.chance(50) { Op::And } else { Op::Or };
    let children = (0..1 + rng.below(4)).map(|_| random_node(rng, section, depth + 1)).collect();
    Node::Group(Group { op, not: rng.chance(25), children })
}

fn random_profile(rng: &mut Rng, users: &[UserRecord]) -> Profile {
    let mut p = profile("");
    let section = |rng: &mut Rng, s| match rng.below(10) {
        0..=3 => None,
        4 => Some(Node::group(Op::And, vec![])),
        _ => Some(random_node(rng, s, 0)),
    };
    p.properties = section(rng, Section::Properties);
    p.dates = section(rng, Section::Dates);
    p.activities = section(rng, Section::Activities);
    for list in [&mut p.include, &mut p.exclude] {
        for u in users {
            if rng.chance(8) {
                list.push(u.id.clone());
            }
        }
        if rng.chance(20) {
            list.push("not-in-snapshot".into());
        }
    }
    p
}

fn random_users(rng: &mut Rng, n: usize) -> Vec<UserRecord> {
    (0..n)
        .map(|i| {
            let mut u = user(&format!("user-{:03}", (i * 37) % 1000), &[]);
            u.active = rng.chance(80);
            for k in PROP_KEYS {
                if rng.chance(75) {
                    u.fields.insert(k.to_owned(), rng.pick(&WORDS).to_string());
                }
            }
            if rng.chance(30) {
                u.fields.insert("Email".into(), format!("  User.{i}@Contoso.com"));
            }
            for k in DATE_KEYS {
                if rng.chance(70) {
                    let t = NOW + rng.range(-5, 5) * DAY + rng.range(-30, 30) * 600;
                    u.dates.insert(k.to_owned(), t);
                }
            }
            for c in &COURSES[..3] {
                if rng.chance(60) {
                    let completed_at = rng.chance(50).then(|| match rng.below(4) {
                        0 => NOW - rng.range(1, 30) * DAY, // exactly on a day boundary of completedRecently
                        _ => NOW - rng.range(0, 40 * DAY),
                    });
                    let due =
                        rng.chance(60).then(|| if rng.chance(10) { NOW } else { NOW + rng.range(-20 * DAY, 20 * DAY) });
                    u.activity.insert(c.to_string(), Activity { completed_at, due });
                }
            }
            u
        })
        .collect()
}

fn ref_fields() -> Vec<Field> {
    let mut f = fields();
    f.push(Field::new("Birthday", FieldType::Date));
    f
}

fn check_case(seed: u64, case: usize, rng: &mut Rng) {
    let n = 1 + rng.below(40);
    let users = random_users(rng, n);
    let courses: Vec<String> = C.iter().map(|c| c.to_string()).collect();
    let s = Snapshot::build(NOW, &ref_fields(), &courses, &users).unwrap();
    let p = random_profile(rng, &users);
    let tf = TenantFields { fields: ref_fields(), courses: None };
    let json = serde_json::to_string(&p).unwrap();
    let fail = |what: String| panic!("seed {seed}, case {case}: {what}\nprofile: {json}");
    if let Err(e) = validate(&p, &tf) {
        fail(format!("a generated profile is refused: {e:?}"));
    }
    if Profile::parse(&json).unwrap() != p {
        fail("the profile does not survive its JSON".into());
    }
    let exclude_disabled = rng.chance(70);
    let via_codec;
    let s = if case.is_multiple_of(7) {
        via_codec = Snapshot::decode(s.encode(300).unwrap().iter().map(String::as_str)).unwrap();
        &via_codec
    } else {
        &s
    };
    let mut engine = Engine::new(s);
    let compiled = engine.compile(&p).unwrap_or_else(&fail);
    let matching = engine.matching(&compiled);
    for u in &users {
        let i = s.index_of(&u.id).unwrap();
        if matching.get(i) != ref_matches(&p, u, NOW) {
            fail(format!("user {u:?}: engine says {}, reference {}", matching.get(i), !matching.get(i)));
        }
    }
    let got: BTreeSet<String> =
        members(s, &p, &matching, exclude_disabled).ones_iter().map(|u| s.id(u).to_owned()).collect();
    let want = ref_members(&p, &users, NOW, exclude_disabled);
    if got != want {
        fail(format!("members {got:?}, reference {want:?} (excludeDisabledUsers {exclude_disabled})"));
    }
}

#[test]
fn compiled_evaluation_agrees_with_the_reference_on_random_profiles_and_users() {
    let mut cases = 0;
    for seed in 1..=4u64 {
        let mut rng = Rng(seed * 7919);
        for case in 0..1_000 {
            check_case(seed, case, &mut rng);
            cases += 1;
        }
    }
    assert_eq!(cases, 4_000);
}

#[test]
fn the_random_cases_reach_every_outcome() {
    // Not vacuous: across the cases, users match and fail, members are added by include and taken
    // away by exclude and by the disabled filter.
    let (mut matched, mut unmatched) = (0, 0);
    let mut rng = Rng(99);
    for _ in 0..300 {
        let users = random_users(&mut rng, 30);
        let courses: Vec<String> = C.iter().map(|c| c.to_string()).collect();
        let s = Snapshot::build(NOW, &ref_fields(), &courses, &users).unwrap();
        let p = random_profile(&mut rng, &users);
        let mut engine = Engine::new(&s);
        let c = engine.compile(&p).unwrap();
        let m = engine.matching(&c).count();
        matched += m;
        unmatched += s.len() - m;
    }
    assert!(matched > 1_000 && unmatched > 1_000, "matched {matched}, unmatched {unmatched}");
}
