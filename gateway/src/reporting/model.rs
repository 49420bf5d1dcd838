//! What a load of Microsoft Learn Organizational Reporting datasets becomes (a [`Snapshot`], stored per
//! tenant and replaced whole), and the report that joins it with the identities the gateway holds
//! ([`Report`], computed on read). Rules R1–R9 of `docs/spec/reporting.md` §5.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Badges and trophies count from this date on (the Power BI template's filter).
pub const COMPLETIONS_SINCE: &str = "2017-10-01";
/// Relative catalog URLs are on this site.
pub const LEARN_SITE: &str = "https://learn.microsoft.com";

/// A catalog entry (module, learning path, certification, applied skill).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CatalogItem {
    pub uid: String,
    pub title: String,
    /// Absolute (`https://learn.microsoft.com` + the dataset's relative url), when the dataset has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<i64>,
}

/// The Hierarchy* datasets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub modules: BTreeMap<String, CatalogItem>,
    pub paths: BTreeMap<String, CatalogItem>,
    pub certifications: BTreeMap<String, CatalogItem>,
    pub applied_skills: BTreeMap<String, CatalogItem>,
    /// Learning path → its modules.
    pub path_modules: BTreeMap<String, Vec<String>>,
    /// Number of units known (HierarchyUnit rows).
    pub units: usize,
}

/// Text shared by many rows (a catalog uid, a date): cloning it is a reference count, not a copy, so a
/// snapshot with millions of awards and started modules decodes without millions of allocations.
pub type Shared = std::sync::Arc<str>;

/// A badge (module) or trophy (learning path).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Award {
    /// moduleUid or LearningPathUid.
    pub uid: Shared,
    /// `YYYY-MM-DD`.
    pub on: Shared,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Started {
    pub module: Shared,
    /// Unit progress rows of that module.
    pub units: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Certification {
    pub uid: String,
    pub transcript_name: String,
    /// Dates as `YYYY-MM-DD`; `None` for the 0 sentinel (R8).
    pub awarded_on: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub stay_current_from: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AppliedSkill {
    pub uid: String,
    pub lab_profile_name: String,
    pub scored_on: Option<String>,
}

/// One Learn profile (a `Users` row) with everything the tenant datasets say about it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Learner {
    pub user_id: String,
    /// Normalised (R2): trimmed, lower case, braces stripped.
    pub aad_object_id: String,
    pub created_on: Option<String>,
    pub total_xp: i64,
    /// Badges awarded on or after [`COMPLETIONS_SINCE`].
    pub modules_completed: Vec<Award>,
    /// Trophies awarded on or after [`COMPLETIONS_SINCE`].
    pub paths_completed: Vec<Award>,
    pub modules_started: Vec<Started>,
    pub certifications: Vec<Certification>,
    pub applied_skills: Vec<AppliedSkill>,
}

/// What was loaded, for `report status` and the report's footer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadStats {
    /// Dataset → rows read.
    pub rows: BTreeMap<String, u64>,
    /// Dataset → file it came from.
    pub files: BTreeMap<String, String>,
    /// Rows of tenant datasets whose userId is not in Users (kept out of the report).
    pub orphan_rows: u64,
    pub millis: u64,
}

/// A tenant's datasets after one load: replaced whole by the next load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// RFC 3339.
    pub loaded_at: String,
    /// Where it came from (a folder, or a database without its credentials).
    pub source: String,
    pub stats: LoadStats,
    pub catalog: Catalog,
    /// In the order of the Users dataset.
    pub learners: Vec<Learner>,
}

pub use crate::store::report::Identity;

/// One report row per Learn user (R3, R4, R6).
#[derive(Debug, Clone, Serialize)]
pub struct Row<'a> {
    pub learner: &'a Learner,
    pub matched: bool,
    /// `None` when unmatched.
    pub identity: Option<&'a Identity>,
    /// The display name, or the template's pseudonym `User_<n>` (n = rank by CreatedOn) when unmatched.
    pub label: String,
}

/// Counts the template's high-level page shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub learn_users: usize,
    pub matched: usize,
    /// Learn users with any XP.
    pub active_learners: usize,
    pub modules_started: usize,
    pub badges: usize,
    pub trophies: usize,
    pub certifications: usize,
    pub applied_skills: usize,
    /// badges / modules started (0 when nothing started).
    pub module_completion_rate: f64,
    pub users_with_module: usize,
    pub users_with_path: usize,
}

/// A ranked entry: a user (label) or a catalog item (uid, title, url) with a count.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub key: String,
    pub title: String,
    pub url: Option<String>,
    pub count: usize,
}

/// The joined report (computed on read; the SCIM side is always current).
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    pub tenant: String,
    pub snapshot: &'a Snapshot,
    pub rows: Vec<Row<'a>>,
    pub summary: Summary,
    pub top_users_modules: Vec<Ranked>,
    pub top_users_paths: Vec<Ranked>,
    pub top_users_credentials: Vec<Ranked>,
    pub top_modules: Vec<Ranked>,
    pub top_paths: Vec<Ranked>,
    pub top_certifications: Vec<Ranked>,
    /// Product → (modules completed, paths completed).
    pub by_product: Vec<(String, usize, usize)>,
}

/// The stored form of a snapshot: catalog uids a learner refers to are numbers into one table and
/// dates are `YYYYMMDD` numbers, which makes it about a quarter of the plain JSON (and as much
/// faster to write and read).
#[derive(Serialize, Deserialize)]
struct Packed {
    loaded_at: String,
    source: String,
    stats: LoadStats,
    catalog: Catalog,
    uids: Vec<String>,
    learners: Vec<PackedLearner>,
}

#[derive(Serialize, Deserialize)]
struct PackedLearner {
    u: String,
    o: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    x: i64,
    /// (uid, YYYYMMDD) of modules completed, paths completed; (uid, units) of modules started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    m: Vec<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    p: Vec<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    s: Vec<(u32, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ce: Vec<Certification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    a: Vec<AppliedSkill>,
}

fn is_zero(x: &i64) -> bool {
    *x == 0
}

fn day_number(d: &str) -> u32 {
    let b = d.as_bytes();
    if b.len() != 10 {
        return 0;
    }
    let digits: String = d.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

fn day_text(n: u32) -> String {
    format!("{:04}-{:02}-{:02}", n / 10_000, n / 100 % 100, n % 100)
}

impl Snapshot {
    /// The stored form (see [`Packed`]).
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        let mut uids: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut id = |s: &str| -> u32 {
            if let Some(&i) = index.get(s) {
                return i;
            }
            let i = uids.len() as u32;
            uids.push(s.to_owned());
            index.insert(s.to_owned(), i);
            i
        };
        let learners: Vec<PackedLearner> = self
            .learners
            .iter()
            .map(|l| PackedLearner {
                u: l.user_id.clone(),
                o: l.aad_object_id.clone(),
                c: l.created_on.clone(),
                x: l.total_xp,
                m: l.modules_completed.iter().map(|a| (id(&a.uid), day_number(&a.on))).collect(),
                p: l.paths_completed.iter().map(|a| (id(&a.uid), day_number(&a.on))).collect(),
                s: l.modules_started.iter().map(|s| (id(&s.module), s.units)).collect(),
                ce: l.certifications.clone(),
                a: l.applied_skills.clone(),
            })
            .collect();
        serde_json::to_vec(&Packed {
            loaded_at: self.loaded_at.clone(),
            source: self.source.clone(),
            stats: self.stats.clone(),
            catalog: self.catalog.clone(),
            uids,
            learners,
        })
    }

    /// Reads the stored form back.
    pub fn decode(bytes: &[u8]) -> serde_json::Result<Snapshot> {
        let p: Packed = match serde_json::from_slice(bytes) {
            Ok(p) => p,
            // A snapshot stored before the packed form: plain JSON.
            Err(e) => return serde_json::from_slice::<Snapshot>(bytes).map_err(|_| e),
        };
        // Every uid and every date is made once and shared by the rows that name it.
        let uids: Vec<Shared> = p.uids.iter().map(|u| Shared::from(u.as_str())).collect();
        let empty = Shared::from("");
        let uid = |i: u32| uids.get(i as usize).cloned().unwrap_or_else(|| empty.clone());
        let mut days: std::collections::HashMap<u32, Shared> = std::collections::HashMap::new();
        let mut day = |d: u32| days.entry(d).or_insert_with(|| Shared::from(day_text(d))).clone();
        let learners = p
            .learners
            .into_iter()
            .map(|l| Learner {
                user_id: l.u,
                aad_object_id: l.o,
                created_on: l.c,
                total_xp: l.x,
                modules_completed: l.m.iter().map(|&(u, d)| Award { uid: uid(u), on: day(d) }).collect(),
                paths_completed: l.p.iter().map(|&(u, d)| Award { uid: uid(u), on: day(d) }).collect(),
                modules_started: l.s.iter().map(|&(u, n)| Started { module: uid(u), units: n }).collect(),
                certifications: l.ce,
                applied_skills: l.a,
            })
            .collect();
        Ok(Snapshot { loaded_at: p.loaded_at, source: p.source, stats: p.stats, catalog: p.catalog, learners })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips() {
        let mut s = Snapshot { loaded_at: "2026-01-01T00:00:00Z".into(), source: "x".into(), ..Default::default() };
        for i in 0..3 {
            s.learners.push(Learner {
                user_id: format!("L{i}"),
                aad_object_id: format!("o{i}"),
                created_on: (i > 0).then(|| "2023-05-06".to_owned()),
                total_xp: i * 100,
                modules_completed: vec![Award { uid: "m1".into(), on: "2024-03-01".into() }],
                paths_completed: vec![Award { uid: format!("p{i}").into(), on: "2024-12-31".into() }],
                modules_started: vec![
                    Started { module: "m1".into(), units: 3 },
                    Started { module: "m2".into(), units: i as u32 },
                ],
                certifications: vec![Certification {
                    uid: "c".into(),
                    awarded_on: Some("2024-01-15".into()),
                    ..Default::default()
                }],
                applied_skills: vec![],
            });
        }
        let bytes = s.encode().expect("encode");
        let back = Snapshot::decode(&bytes).expect("decode");
        assert_eq!(
            serde_json::to_value(&back.learners).unwrap_or_default(),
            serde_json::to_value(&s.learners).unwrap_or_default()
        );
        assert_eq!(back.loaded_at, s.loaded_at);
    }
}
