//! Native benchmark of the Assigner engine: a 100,000-user snapshot with realistic attributes, 20
//! profiles of mixed rules; prints the stored size, decode time, the time of a full evaluation (A8
//! resolution + members + diff + throttling of all profiles; median of several runs) and peak memory.
//!
//! ```sh
//! cd plugins && CARGO_TARGET_DIR=$HOME/.cache/scimgw/plugins-native \
//!     cargo run --release -p scimgw-plugin-learn365 --example assigner_bench [-- users runs]
//! ```
//!
//! The crate is a `cdylib`, so the engine is included by path (it only uses `super::` paths).

#[allow(dead_code, unused_imports)]
#[path = "../src/assigner/mod.rs"]
mod assigner;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assigner::codec::{Encoder, MAX_CHUNK, pack};
use assigner::{
    Activity, Condition, Engine, Field, FieldType, Group, Node, Op, Outcome, Profile, ProfileState, Rule, Settings,
    Throttle, UserRecord, plan, resolve,
};

/// Counts heap bytes in use and their peak: what the engine needs, apart from the process's RSS.
struct Counting;

static NOW_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW_BYTES.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW_BYTES.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = NOW_BYTES.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
            } else {
                NOW_BYTES.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Heap in use now, and restarts the peak from it.
fn heap_mark() -> usize {
    let now = NOW_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}

fn heap_peak_since(mark: usize) -> usize {
    PEAK_BYTES.load(Ordering::Relaxed).saturating_sub(mark)
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed towards small indices (a few big cities, many small ones).
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

const NOW: i64 = 1_714_528_800; // 2024-05-01T02:00:00Z
const DAY: i64 = 86_400;
const FIRST: [&str; 12] =
    ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Tim"];
const LAST: [&str; 10] =
    ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra"];
const POSITIONS: [&str; 12] = [
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

fn course(i: usize) -> String {
    format!("c0000000-0000-4000-8000-{i:012}")
}

fn user(rng: &mut Rng, i: usize, courses: &[String]) -> UserRecord {
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

fn profiles(courses: &[String], ids: &[String]) -> Vec<Profile> {
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

fn vm(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(100_000);
    let runs = args.get(1).copied().unwrap_or(7);
    let courses: Vec<String> = (0..40).map(course).collect();
    let fields = vec![
        Field::new("Cost center", FieldType::String),
        Field::new("Hire date", FieldType::Date),
        Field::new("Region", FieldType::String),
        Field::new("Certification expiry", FieldType::Date),
    ];

    // The data refresh: users streamed into lines and chunks (never all records at once).
    let t = Instant::now();
    let enc = Encoder::new(NOW, &fields, &courses).unwrap();
    let mut rng = Rng(2024);
    let mut lines = enc.header_lines();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let u = user(&mut rng, i, &courses);
        let mut line = String::new();
        enc.user_line(&u, &mut line).unwrap();
        ids.push(u.id);
        lines.push(line);
    }
    let chunks = pack(lines, MAX_CHUNK).unwrap();
    let bytes: usize = chunks.iter().map(String::len).sum();
    println!(
        "stored form: {n} users, {} chunks of at most {} KiB, {:.1} MB ({:.0} bytes/user), generated and encoded in {:.0?}",
        chunks.len(),
        MAX_CHUNK >> 10,
        bytes as f64 / 1e6,
        bytes as f64 / n as f64,
        t.elapsed()
    );

    // The maintenance: chunks read one at a time (here from memory) into the decoder.
    let t = Instant::now();
    let mark = heap_mark();
    let mut dec = assigner::Decoder::default();
    for c in &chunks {
        dec.chunk(c).unwrap();
    }
    let snap = dec.finish().unwrap();
    println!(
        "decode: {:.0?}; snapshot {} (heap_bytes {}); decoder peak above the chunks {}",
        t.elapsed(),
        mb(NOW_BYTES.load(Ordering::Relaxed) - mark),
        mb(snap.heap_bytes()),
        mb(heap_peak_since(mark))
    );
    drop(chunks);
    ids.sort();

    let settings = Settings::parse(r#"{"contactEmail":"lms@contoso.com","entraGroupPrefix":"AS-"}"#).unwrap();
    let profiles = profiles(&courses, &ids);
    for p in &profiles {
        assigner::validate(p, &snap.tenant_fields()).unwrap();
    }
    // Current groups: the first evaluation's members, 2 % of them swapped out.
    let mut engine = Engine::new(&snap);
    let first = plan(&resolve(&profiles, &snap, None), &mut engine, &settings, &mut |_| Vec::new());
    let mut current: Vec<Vec<String>> = Vec::new();
    for (k, p) in first.iter().enumerate() {
        let Outcome::Apply { members, .. } = &p.outcome else { panic!("{:?}", p.outcome) };
        let mut now: Vec<String> =
            members.ones_iter().filter(|u| (u + k) % 50 != 0).map(|u| snap.id(u).to_owned()).collect();
        now.extend(ids.iter().skip(k).step_by(5_000).cloned());
        current.push(now);
    }
    println!(
        "profiles: 20; members per profile: {:?}",
        first
            .iter()
            .map(|p| match &p.outcome {
                Outcome::Apply { members, .. } => members.count(),
                _ => 0,
            })
            .collect::<Vec<_>>()
    );

    let peak_before = vm("VmHWM");
    reset_peak();
    let mark = heap_mark();
    let mut times = Vec::new();
    let mut eval_only = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut engine = Engine::new(&snap);
        let res = resolve(&profiles, &snap, Some(&snap.tenant_fields()));
        let plans = plan(&res, &mut engine, &settings, &mut |id| current[id[1..].parse::<usize>().unwrap()].clone());
        times.push(t.elapsed());
        let (mut applied, mut throttled, mut changes) = (0, 0, 0);
        for p in &plans {
            match &p.outcome {
                Outcome::Apply { diff, .. } => {
                    applied += 1;
                    changes += diff.changes();
                }
                Outcome::Throttled { .. } => throttled += 1,
                o => panic!("{o:?}"),
            }
        }
        summary = format!("{applied} applied ({changes} member changes), {throttled} throttled");

        let t = Instant::now();
        let mut engine = Engine::new(&snap);
        for p in &profiles {
            let c = engine.compile(p).unwrap();
            std::hint::black_box(engine.matching(&c).count());
        }
        eval_only.push(t.elapsed());
    }
    println!(
        "full evaluation of 20 profiles over {n} users (resolve, compile, match, members, diff, throttle): median {:.1?} of {runs} runs (min {:.1?}, max {:.1?}); {summary}",
        median(times.clone()),
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
    println!("rules only (compile + match, fresh engine): median {:.1?}", median(eval_only));
    println!(
        "memory: evaluation peak above the snapshot {} (member bits, diffs, the current groups' ids cloned for the diff); \
         process peak RSS during the evaluations (VmHWM after reset) {}, VmRSS now {} (includes the benchmark's own \
         id lists and the allocator's retained pages); VmHWM of the whole run before the reset {}",
        mb(heap_peak_since(mark)),
        vm("VmHWM"),
        vm("VmRSS"),
        peak_before
    );
}
