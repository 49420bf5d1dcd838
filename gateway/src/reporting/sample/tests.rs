//! Unit tests of the sample generator: files, headers and exact row counts, determinism for a seed,
//! references and consistency between datasets, dates, GUIDs, and the AT-35..AT-39 fixtures.

use super::*;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("scimgw-sample-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// RFC 4180 records of a file (header first).
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "{}: no final newline", path.display());
    rows
}

/// Rows as maps column → value.
fn table(dir: &Path, name: &str) -> Vec<HashMap<String, String>> {
    let rows = read_csv(&dir.join(name));
    let header = rows[0].clone();
    rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{name}: {r:?}");
            header.iter().cloned().zip(r.iter().cloned()).collect()
        })
        .collect()
}

fn spec(users: usize, progress: usize, achievements: usize, seed: u64) -> SampleSpec {
    SampleSpec {
        tenant_id: "a1b2c3d4-0000-4000-8000-00000000abcd".into(),
        users,
        progress_rows: progress,
        achievements_rows: achievements,
        seed,
        tenant_suffix: false,
    }
}

const HEADERS: &[(&str, &str)] = &[
    ("Users", "tenantId,userId,AADObjectId,CreatedOn"),
    ("Progress", "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn"),
    ("Achievements", "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn"),
    (
        "Certifications",
        "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,\
         CertificationEndDate,StayCurrentEligibilityStartDate",
    ),
    ("AppliedSkills", "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate"),
    ("HierarchyModule", "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages"),
    ("HierarchyUnit", "unitUid,title,url,durationInMinutes,points,moduleUid"),
    (
        "HierarchyLearningPath",
        "LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages",
    ),
    ("HierarchyLearningPathModule", "LearningPathUid,ModuleUid"),
    ("HierarchyCertification", "certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams"),
    ("HierarchyAppliedSkills", "appliedSkillsUid,title,url,levels,products,roles,subjects,tasks"),
];

#[test]
fn files_headers_and_counts() {
    let d = Dir::new("counts");
    let mut s = spec(300, 20_000, 2_500, 7);
    s.tenant_suffix = true;
    let sum = write_sample(&d.0, &s).expect("write");
    assert_eq!(sum.files.len(), 11);
    for (base, header) in HEADERS {
        let tenant = !base.starts_with("Hierarchy");
        let name = if tenant { format!("{base}_{}.csv", s.tenant_id) } else { format!("{base}.csv") };
        let text = std::fs::read_to_string(d.0.join(&name)).expect(&name);
        assert_eq!(text.lines().next(), Some(*header), "{name}");
        assert!(text.ends_with('\n') && !text.contains('\r'));
        let rows = sum.files.iter().find(|(n, _)| *n == name).expect("in summary").1;
        assert_eq!(read_csv(&d.0.join(&name)).len() as u64 - 1, rows, "{name}");
    }
    let count = |base: &str| sum.files.iter().find(|(n, _)| n.starts_with(&format!("{base}_"))).expect(base).1;
    assert_eq!(count("Users"), 300);
    assert_eq!(count("Progress"), 20_000);
    assert_eq!(count("Achievements"), 2_500);
    assert!(count("Certifications") > 10);
    assert_eq!(sum.aad_object_ids.len(), 300);
}

#[test]
fn counts_are_exact_for_odd_sizes() {
    for (users, p, a) in [(1, 40, 3), (7, 1_001, 0), (50, 0, 0), (50, 120, 100), (0, 0, 0), (2_000, 123_457, 9_999)] {
        let d = Dir::new("odd");
        let sum = write_sample(&d.0, &spec(users, p, a, 3)).expect("write");
        let rows = |n: &str| sum.files.iter().find(|(f, _)| f == n).expect(n).1;
        assert_eq!(rows("Users.csv"), users as u64);
        let (gp, ga) = (rows("Progress.csv"), rows("Achievements.csv"));
        if users > 0 {
            assert_eq!((gp, ga), (p as u64, a as u64), "users {users}");
        } else {
            assert_eq!((gp, ga), (0, 0));
        }
    }
}

#[test]
fn deterministic_for_a_seed() {
    let (d1, d2, d3) = (Dir::new("det1"), Dir::new("det2"), Dir::new("det3"));
    let s1 = write_sample(&d1.0, &spec(200, 8_000, 900, 42)).expect("write");
    let s2 = write_sample(&d2.0, &spec(200, 8_000, 900, 42)).expect("write");
    let s3 = write_sample(&d3.0, &spec(200, 8_000, 900, 43)).expect("write");
    assert_eq!(s1, s2);
    for (name, _) in &s1.files {
        let a = std::fs::read(d1.0.join(name)).expect("read");
        assert_eq!(a, std::fs::read(d2.0.join(name)).expect("read"), "{name}");
    }
    assert_ne!(s1.aad_object_ids, s3.aad_object_ids);
    assert_ne!(std::fs::read(d1.0.join("Progress.csv")).ok(), std::fs::read(d3.0.join("Progress.csv")).ok());
}

#[test]
fn references_and_consistency() {
    let d = Dir::new("refs");
    let sum = write_sample(&d.0, &spec(500, 40_000, 4_000, 11)).expect("write");
    let users = table(&d.0, "Users.csv");
    let ids: HashSet<&str> = users.iter().map(|u| u["userId"].as_str()).collect();
    assert_eq!(ids.len(), users.len(), "userIds unique");
    let oids: Vec<&str> = users.iter().map(|u| u["AADObjectId"].as_str()).collect();
    assert_eq!(oids, sum.aad_object_ids.iter().map(String::as_str).collect::<Vec<_>>());
    let upper = oids.iter().filter(|o| o.chars().any(|c| c.is_ascii_uppercase())).count();
    assert!((150..350).contains(&upper), "about half upper case: {upper}");
    assert!(oids.iter().all(|o| o.trim_matches(['{', '}']).len() == 36));
    let created: Vec<&str> = users.iter().map(|u| u["CreatedOn"].as_str()).collect();
    assert!(created.iter().all(|c| c.len() == 20 && c.ends_with('Z') && c.as_bytes()[10] == b'T'));

    let modules: HashSet<String> =
        table(&d.0, "HierarchyModule.csv").into_iter().map(|m| m["moduleUid"].clone()).collect();
    assert!(modules.len() >= 400);
    assert!(modules.iter().all(|m| m.starts_with("learn.")));
    let units = table(&d.0, "HierarchyUnit.csv");
    let mut unit_module = HashMap::new();
    let mut units_of: HashMap<String, usize> = HashMap::new();
    for u in &units {
        assert!(modules.contains(&u["moduleUid"]), "unit {} of unknown module", u["unitUid"]);
        assert!(u["unitUid"].starts_with(&format!("{}.", u["moduleUid"])));
        unit_module.insert(u["unitUid"].clone(), u["moduleUid"].clone());
        *units_of.entry(u["moduleUid"].clone()).or_default() += 1;
    }
    assert!(units_of.values().all(|n| (3..=9).contains(n)));
    let paths: HashSet<String> =
        table(&d.0, "HierarchyLearningPath.csv").into_iter().map(|p| p["LearningPathUid"].clone()).collect();
    assert!(paths.len() >= 60);
    let mut path_modules: HashMap<String, Vec<String>> = HashMap::new();
    for l in table(&d.0, "HierarchyLearningPathModule.csv") {
        assert!(paths.contains(&l["LearningPathUid"]) && modules.contains(&l["ModuleUid"]));
        path_modules.entry(l["LearningPathUid"].clone()).or_default().push(l["ModuleUid"].clone());
    }

    // Progress: known users and sources, unique natural keys, Learn's XP.
    let mut keys = HashSet::new();
    let mut done_units: HashMap<(String, String), usize> = HashMap::new();
    let mut unit_rows = 0;
    for p in table(&d.0, "Progress.csv") {
        assert!(ids.contains(p["userId"].as_str()));
        assert!(keys.insert((p["userId"].clone(), p["SourceType"].clone(), p["SourceUid"].clone())), "dup {p:?}");
        let ts = &p["AwardedOn"];
        assert!(ts.len() == 20 && ("2016".."2026-04").contains(&ts.as_str()), "{ts}");
        match (p["SourceType"].as_str(), p["XPReason"].as_str(), p["XP"].as_str()) {
            ("Unit", "points.unit.basic.completed", "100") => {
                unit_rows += 1;
                let m = unit_module.get(&p["SourceUid"]).expect("known unit");
                *done_units.entry((p["userId"].clone(), m.clone())).or_default() += 1;
            }
            ("Module", "points.module.basic.completed", "200") => assert!(modules.contains(&p["SourceUid"])),
            ("LearningPath", "points.path.basic.completed", xp) => {
                assert!(paths.contains(&p["SourceUid"]));
                assert!((1_000..=3_000).contains(&xp.parse::<i64>().expect("xp")));
            }
            other => panic!("unexpected progress row {other:?}"),
        }
    }
    assert!(unit_rows > 30_000, "mostly unit rows: {unit_rows}");

    // Achievements: a badge comes with all the module's units, a trophy with all the path's badges.
    let achievements = table(&d.0, "Achievements.csv");
    let badges: HashSet<(String, String)> = achievements
        .iter()
        .filter(|a| a["awardType"] == "Badge")
        .map(|a| (a["userId"].clone(), a["SourceUid"].clone()))
        .collect();
    let (mut trophies, mut early) = (0, 0);
    let mut award_keys = HashSet::new();
    for a in &achievements {
        assert!(ids.contains(a["userId"].as_str()));
        assert!(award_keys.insert((a["userId"].clone(), a["awardUid"].clone())));
        assert_eq!(a["awardUid"], format!("{}.{}", a["SourceUid"], a["awardType"].to_lowercase()));
        early += usize::from(a["AwardedOn"].as_str() < "2017-10-01");
        match (a["awardType"].as_str(), a["SourceType"].as_str(), a["awardReason"].as_str()) {
            ("Badge", "Module", "badge.module.basic.completed") => {
                let key = (a["userId"].clone(), a["SourceUid"].clone());
                assert_eq!(done_units.get(&key), units_of.get(&a["SourceUid"]), "{key:?}");
            }
            ("Trophy", "LearningPath", "trophy.path.basic.completed") => {
                trophies += 1;
                for m in &path_modules[&a["SourceUid"]] {
                    assert!(badges.contains(&(a["userId"].clone(), m.clone())), "trophy without badge {m}");
                }
            }
            other => panic!("unexpected achievement {other:?}"),
        }
    }
    assert!(trophies > 20, "some trophies: {trophies}");
    assert!(early > 0 && early < achievements.len() / 20, "a few badges before 2017-10-01: {early}");

    // Certifications and applied skills.
    let certs: HashSet<String> =
        table(&d.0, "HierarchyCertification.csv").into_iter().map(|c| c["certificationUid"].clone()).collect();
    assert!(certs.contains("certification.azure-ai-engineer"));
    let (mut expired, mut stay) = (0, 0);
    for c in table(&d.0, "Certifications.csv") {
        assert!(ids.contains(c["userId"].as_str()) && certs.contains(&c["SourceUid"]));
        let int = |k: &str| c[k].parse::<u32>().expect(k);
        let (start, end) = (int("CertificationStartDate"), int("CertificationEndDate"));
        assert!(int("AwardedOn") <= start && (20190101..=20260331).contains(&start));
        if end != 0 {
            assert_eq!(end, add_months(start, 12));
            expired += usize::from(end < 20260331);
        }
        stay += usize::from(int("StayCurrentEligibilityStartDate") != 0);
    }
    assert!(expired > 0 && stay > 0);
    let skills: HashSet<String> =
        table(&d.0, "HierarchyAppliedSkills.csv").into_iter().map(|s| s["appliedSkillsUid"].clone()).collect();
    assert!(skills.len() >= 20);
    for s in table(&d.0, "AppliedSkills.csv") {
        assert!(ids.contains(s["userId"].as_str()) && skills.contains(&s["appliedSkillsUid"]));
        assert!(s["labProfileName"].starts_with("APL-"));
    }
}

#[test]
fn json_array_columns_parse() {
    let d = Dir::new("json");
    write_sample(&d.0, &spec(20, 500, 50, 5)).expect("write");
    let arrays: &[(&str, &[&str])] = &[
        ("HierarchyModule.csv", &["levels", "products", "roles", "languages"]),
        ("HierarchyLearningPath.csv", &["levels", "products", "roles", "languages"]),
        ("HierarchyCertification.csv", &["levels", "products", "roles", "exams"]),
        ("HierarchyAppliedSkills.csv", &["levels", "products", "roles", "subjects", "tasks"]),
    ];
    for (file, cols) in arrays {
        for row in table(&d.0, file) {
            for c in *cols {
                let v: serde_json::Value = serde_json::from_str(&row[*c]).expect(c);
                let items = v.as_array().unwrap_or_else(|| panic!("{file} {c}: {v}"));
                assert!(!items.is_empty() && items.iter().all(|i| i.is_string()), "{file} {c}: {v}");
            }
        }
    }
    let modules = table(&d.0, "HierarchyModule.csv");
    assert!(
        modules
            .iter()
            .all(|m| m["url"] == format!("/training/modules/{}/", m["moduleUid"].splitn(3, '.').nth(2).unwrap_or("")))
    );
    let text = std::fs::read_to_string(d.0.join("HierarchyModule.csv")).expect("read");
    assert!(text.contains(r#""[""beginner"#), "arrays quoted as CSV");
}

#[test]
fn dates() {
    assert_eq!(&timestamp(at(date!(2024 - 03 - 01)) + 10 * 3600 + 15 * 60), b"2024-03-01T10:15:00Z");
    assert_eq!(&timestamp(at(date!(2000 - 02 - 29)) + 86_399), b"2000-02-29T23:59:59Z");
    assert_eq!(ymd(at(date!(2017 - 09 - 30))), 20170930);
    assert_eq!(ymd(at(date!(1999 - 12 - 31))), 19991231);
    assert_eq!(&timestamp(-1), b"1969-12-31T23:59:59Z");
    assert_eq!(add_months(20240229, 12), 20250228);
    assert_eq!(add_months(20250115, -6), 20240715);
    assert_eq!(add_months(20240831, -6), 20240228);
}

#[test]
fn guids() {
    let mut r = Rng::new(1);
    for _ in 0..100 {
        let g = String::from_utf8(r.guid(false).to_vec()).expect("ascii");
        let b = g.as_bytes();
        assert_eq!((b[8], b[13], b[18], b[23], b[14]), (b'-', b'-', b'-', b'-', b'4'), "{g}");
        assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{g}");
        assert_eq!(g, g.to_lowercase());
    }
    let g = r.guid(true);
    assert_eq!(g.to_vec(), g.to_ascii_uppercase());
    assert!(g.iter().any(u8::is_ascii_uppercase));
}

#[test]
fn acceptance_fixtures() {
    let d = Dir::new("at");
    at_fixtures(&d.0).expect("write");
    let users = table(&d.0, "Users.csv");
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["userId"], AT_L1);
    assert_eq!(users[0]["AADObjectId"].to_lowercase(), AT_ADA_OBJECT_ID);
    assert_ne!(users[0]["AADObjectId"], AT_ADA_OBJECT_ID, "upper case in the dataset");
    assert_eq!((users[1]["userId"].as_str(), users[1]["AADObjectId"].as_str()), (AT_L2, AT_L2_OBJECT_ID));
    let xp: i64 = table(&d.0, "Progress.csv")
        .iter()
        .filter(|p| p["userId"] == AT_L1)
        .map(|p| p["XP"].parse::<i64>().expect("xp"))
        .sum();
    assert_eq!(xp, AT_L1_TOTAL_XP);
    let certs = read_csv(&d.0.join("Certifications.csv"));
    assert_eq!(certs[0][0], "tenantID");
    assert_eq!(certs[1][4], "certification.azure-ai-engineer");
    let hc = table(&d.0, "HierarchyCertification.csv");
    assert_eq!(hc[0]["title"], "Microsoft Certified: Azure AI Engineer Associate");
    let units = table(&d.0, "HierarchyUnit.csv");
    assert_eq!(units.iter().filter(|u| u["moduleUid"] == "azure.query-data-sentinel").count(), 2);
    let a = table(&d.0, "Achievements.csv");
    assert_eq!(a.iter().filter(|a| a["userId"] == AT_L2 && a["awardType"] == "Badge").count(), 1);
    for (base, header) in HEADERS {
        let text = std::fs::read_to_string(d.0.join(format!("{base}.csv"))).expect(base);
        assert_eq!(text.lines().next(), Some(*header));
    }
}
