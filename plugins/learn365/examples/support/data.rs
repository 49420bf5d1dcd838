//! The Assigner benchmark's tenant, shared by `examples/assigner_bench.rs` (natively) and the plugin's
//! `bench_fixture` test (which writes the same tenant as a `gateway plugin test` fixture): 100,000
//! users with realistic attributes (skewed cities and departments, custom string and date fields,
//! enrollments) and 20 profiles of mixed rules. Deterministic (splitmix64). The including module must
//! have the engine in scope as `assigner`.

use super::assigner::{
    Activity, Condition, Engine, Field, FieldType, Group, Node, Op, Outcome, Profile, ProfileState, Rule, Settings,
    Snapshot, Throttle, UserRecord, plan, resolve,
};

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    /// Skewed towards small indices (a few big cities, many small ones).
    pub fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

pub const NOW: i64 = 1_714_528_800; // 2024-05-01T02:00:00Z
const DAY: i64 = 86_400;
const FIRST: [&str; 12] =
    ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Tim"];
const LAST: [&str; 10] =
    ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra"];
pub const POSITIONS: [&str; 12] = [
    "Customer Success Manager",
    "Sales Manager",
    "Account Executive",
    "Software Engineer",
    "Senior Software Engineer",
    "Support Engineer",
    "HR Business Partner",
    "Recruiter",
    "Marketing Specialist",
    "Finance Analyst",
    "Nurse",
    "Store Manager",
];
const COUNTRIES: [&str; 8] = ["US", "DE", "GB", "FR", "NO", "JP", "IN", "BR"];

/// The tenant's custom fields.
pub fn fields() -> Vec<Field> {
    vec![
        Field::new("Cost center", FieldType::String),
        Field::new("Hire date", FieldType::Date),
        Field::new("Region", FieldType::String),
        Field::new("Certification expiry", FieldType::Date),
    ]
}

pub fn course(i: usize) -> String {
    format!("c0000000-0000-4000-8000-{i:012}")
}

pub fn user(rng: &mut Rng, i: usize, courses: &[String]) -> UserRecord {
    let mut f = std::collections::BTreeMap::new();
    let first = FIRST[rng.below(FIRST.len())];
    let last = LAST[rng.below(LAST.len())];
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    put("City", format!("City {:03}", rng.skewed(250)));
    put("Company", format!("Contoso {}", ["Inc", "GmbH", "Ltd", "AS", "KK"][rng.below(5)]));
    put("Department", format!("Department {:02}", rng.skewed(40)));
    put("Country", COUNTRIES[rng.skewed(COUNTRIES.len())].to_owned());
    if rng.below(10) > 0 {
        put("Office", format!("Building {}", rng.below(60)));
    }
    put("Position", POSITIONS[rng.skewed(POSITIONS.len())].to_owned());
    put("Email", format!("{}.{}{i}@contoso.com", first.to_lowercase(), last.to_lowercase()));
    put("Title", format!("{first} {last} {i}"));
    put("custom:Cost center", format!("CC-{:04}", rng.below(400)));
    if rng.below(3) > 0 {
        put("custom:Region", ["EMEA", "AMER", "APAC"][rng.below(3)].to_owned());
    }
    let mut dates = std::collections::BTreeMap::new();
    dates.insert("custom:Hire date".to_owned(), NOW - rng.below(20 * 365) as i64 * DAY);
    if rng.below(2) == 0 {
        dates.insert("custom:Certification expiry".to_owned(), NOW + (rng.below(730) as i64 - 365) * DAY);
    }
    let mut activity = std::collections::BTreeMap::new();
    for _ in 0..rng.below(9) {
        let c = courses[rng.skewed(courses.len())].clone();
        let completed_at = (rng.below(10) < 6).then(|| NOW - rng.below(400 * DAY as usize) as i64);
        let due = (rng.below(2) == 0).then(|| NOW + rng.below(120 * DAY as usize) as i64 - 60 * DAY);
        activity.insert(c, Activity { completed_at, due });
    }
    UserRecord {
        id: format!("{:08x}-0000-4000-8000-{i:012}", rng.next() as u32),
        active: rng.below(100) < 95,
        fields: f,
        dates,
        activity,
    }
}

fn rule(source: &str, cond: Condition, value: Option<&str>) -> Node {
    Node::Rule(Rule {
        not: false,
        source: source.into(),
        condition: Some(cond),
        value: value.map(Into::into),
        days: None,
    })
}

fn any(children: Vec<Node>) -> Node {
    Node::Group(Group { op: Op::Or, not: false, children })
}

fn all(children: Vec<Node>) -> Node {
    Node::Group(Group { op: Op::And, not: false, children })
}

pub fn profiles(courses: &[String], ids: &[String]) -> Vec<Profile> {
    use Condition::*;
    let base = |i: usize| Profile {
        id: format!("p{i:02}"),
        title: format!("Profile {i}"),
        description: String::new(),
        enroll: i.is_multiple_of(2),
        courses: vec![courses[i % courses.len()].clone()],
        auto_populate: true,
        throttle: i.is_multiple_of(3).then_some(Throttle { max_changes: None, max_changes_percent: Some(5) }),
        properties: None,
        dates: None,
        activities: None,
        include: Vec::new(),
        exclude: Vec::new(),
        state: ProfileState::Active,
    };
    let mut out = Vec::new();
    for i in 0..20 {
        let mut p = base(i);
        match i % 10 {
            0 => {
                p.properties = Some(all(vec![
                    any((0..3).map(|k| rule("City", Equals, Some(&format!("city {:03}", k + i)))).collect()),
                    rule("Position", Equals, Some("Customer Success Manager")),
                ]))
            }
            1 => {
                p.properties = Some(all(vec![
                    rule("Department", Equals, Some(&format!("Department {:02}", i))),
                    rule("Country", NotEquals, Some("US")).negate(),
                ]))
            }
            2 => p.properties = Some(rule("Email", Contains, Some(&format!("hopper{i}")))),
            3 => {
                p.properties = Some(any(vec![
                    rule("Title", StartsWith, Some("grace")),
                    rule("custom:Cost center", StartsWith, Some("CC-01")),
                    rule("Office", IsEmpty, None),
                ]));
                p.dates = Some(rule("custom:Hire date", IsAfter, Some("2020-01-01")));
            }
            4 => {
                p.activities = Some(rule(&courses[i % 5], HasCompleted, None));
                p.properties = Some(rule("custom:Region", Equals, Some("emea")));
            }
            5 => {
                p.activities = Some(any(vec![
                    rule(&courses[1], NotCompletedOnTime, None),
                    rule(&courses[2], NotCompletedOnTime, None),
                ]))
            }
            6 => {
                let mut r = rule(&courses[i % 7], CompletedRecently, None);
                if let Node::Rule(r) = &mut r {
                    r.days = Some(90);
                }
                p.activities = Some(r);
                p.properties = Some(rule("Company", NotContains, Some("gmbh")));
            }
            7 => {
                p.dates = Some(any(vec![
                    rule("custom:Certification expiry", IsBefore, Some("2024-06-01T00:00:00Z")),
                    rule("custom:Hire date", IsOn, Some("2023-03-01")),
                ]));
            }
            8 => {
                p.properties = Some(
                    all(vec![
                        any(POSITIONS[..6].iter().map(|pos| rule("Position", Equals, Some(pos))).collect()),
                        any(vec![rule("Country", Equals, Some("DE")), rule("Country", Equals, Some("no"))]),
                        rule("Email", Contains, Some("contoso.com")),
                    ])
                    .negate(),
                );
                p.include = ids.iter().step_by(997).cloned().collect();
                p.exclude = ids.iter().step_by(1_009).cloned().collect();
            }
            _ => {
                p.properties = Some(rule("custom:Region", IsNotEmpty, None));
                p.dates = Some(rule("custom:Hire date", IsBefore, Some("2015-01-01")));
                p.activities = Some(all(vec![
                    rule(&courses[0], HasCompleted, None),
                    rule(&courses[3], HasCompleted, None).negate(),
                ]));
            }
        }
        out.push(p);
    }
    out
}

/// The current groups of the benchmark: each profile's first evaluation's members, 2 % of them
/// swapped out for others (sorted), so that a maintenance has changes to make.
pub fn current_groups(snap: &Snapshot, profiles: &[Profile], settings: &Settings, ids: &[String]) -> Vec<Vec<String>> {
    let mut engine = Engine::new(snap);
    let first = plan(&resolve(profiles, snap, None), &mut engine, settings, &mut |_| Vec::new());
    let mut current = Vec::new();
    for (k, p) in first.iter().enumerate() {
        let Outcome::Apply { members, .. } = &p.outcome else { panic!("{:?}", p.outcome) };
        let mut now: Vec<String> =
            members.ones_iter().filter(|u| (u + k) % 50 != 0).map(|u| snap.id(u).to_owned()).collect();
        now.extend(ids.iter().skip(k).step_by(5_000).cloned());
        now.sort();
        now.dedup();
        current.push(now);
    }
    current
}
