//! Loading a tenant's Learn Organizational Reporting datasets from a folder of CSV files as Azure Data
//! Share lands them: file names with or without a tenant-id suffix, column names matched
//! case-insensitively with the known spelling variants, `YYYYMMDD` integer dates with 0 as null,
//! JSON-array string columns. The result is one [`Snapshot`]; any error names the file, line and column
//! and produces no snapshot (the previous one stays in force).

use super::model::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

mod achievements;
mod dataset;
mod error;
mod hash;
mod progress;
mod table;
#[cfg(test)]
mod tests;
mod values;

pub use dataset::{ALL, Dataset, find_files};
pub use error::LoadError;
pub(super) use hash::FastMap;
pub use hash::Fx;
pub use values::normalize_object_id;

use achievements::achievements_parquet;
use error::file_error;
use progress::read_progress;
use table::Table;
use values::absolute;

/// Loads a folder into a snapshot (no database involved). `source` is what the snapshot says it came
/// from.
pub fn load_dir(dir: &Path, now_rfc3339: &str) -> Result<Snapshot, LoadError> {
    let clock = Instant::now();
    let files = find_files(dir)?;
    let mut snap =
        Snapshot { loaded_at: now_rfc3339.to_owned(), source: dir.display().to_string(), ..Default::default() };
    let path_of = |d: Dataset| files.iter().find(|(x, _)| *x == d).map(|(_, p)| p.clone());
    let lap = std::cell::Cell::new(Instant::now());
    let count = |snap: &mut Snapshot, d: Dataset, p: &Path, n: u64| {
        tracing::debug!(dataset = d.name(), rows = n, ms = lap.get().elapsed().as_millis() as u64, "dataset read");
        lap.set(Instant::now());
        snap.stats.rows.insert(d.name().to_owned(), n);
        snap.stats
            .files
            .insert(d.name().to_owned(), p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    };

    // The catalog first: unit → module is needed to read Progress.
    for (ds, pick) in [
        (Dataset::HierarchyModule, 0usize),
        (Dataset::HierarchyLearningPath, 1),
        (Dataset::HierarchyCertification, 2),
        (Dataset::HierarchyAppliedSkills, 3),
    ] {
        if let Some(p) = path_of(ds) {
            let c = &mut snap.catalog;
            let target = match pick {
                0 => &mut c.modules,
                1 => &mut c.paths,
                2 => &mut c.certifications,
                _ => &mut c.applied_skills,
            };
            let n = read_catalog(ds, &p, target)?;
            count(&mut snap, ds, &p, n);
        }
    }
    let mut unit_module: FastMap<Vec<u8>, u32> = FastMap::default();
    let mut module_names: Vec<Shared> = Vec::new();
    let mut module_index: HashMap<String, u32> = HashMap::new();
    if let Some(p) = path_of(Dataset::HierarchyUnit) {
        let mut t = Table::open(Dataset::HierarchyUnit, &p)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let unit = t.required(0)?;
            let module = t.required(1)?;
            let next = module_names.len() as u32;
            let m = *module_index.entry(module.clone()).or_insert_with(|| {
                module_names.push(Shared::from(module));
                next
            });
            unit_module.insert(unit.into_bytes(), m);
        }
        snap.catalog.units = n as usize;
        count(&mut snap, Dataset::HierarchyUnit, &p, n);
    }
    if let Some(p) = path_of(Dataset::HierarchyLearningPathModule) {
        let mut t = Table::open(Dataset::HierarchyLearningPathModule, &p)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let path = t.required(0)?;
            let module = t.required(1)?;
            let list = snap.catalog.path_modules.entry(path).or_default();
            if !list.contains(&module) {
                list.push(module);
            }
        }
        count(&mut snap, Dataset::HierarchyLearningPathModule, &p, n);
    }

    // The hub.
    let users_path = path_of(Dataset::Users).ok_or_else(|| file_error(&snap.source, "no Users dataset"))?;
    let mut by_user: FastMap<Vec<u8>, u32> = FastMap::default();
    {
        let mut t = Table::open(Dataset::Users, &users_path)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let user_id = t.required(0)?;
            let aad = t.text(1)?;
            let created_on = t.date(2)?;
            let idx = snap.learners.len() as u32;
            if by_user.insert(user_id.clone().into_bytes(), idx).is_some() {
                return Err(LoadError {
                    file: t.file.clone(),
                    line: Some(t.line()),
                    column: Some("userId".into()),
                    message: format!("`{user_id}` appears twice"),
                });
            }
            snap.learners.push(Learner {
                user_id,
                aad_object_id: normalize_object_id(&aad),
                created_on,
                ..Default::default()
            });
        }
        count(&mut snap, Dataset::Users, &users_path, n);
    }

    // Progress: XP, and modules started from unit progress (the big one: streamed, aggregated, in two
    // halves on two threads when the file is large).
    if let Some(p) = path_of(Dataset::Progress) {
        let t = Table::open(Dataset::Progress, &p)?;
        let agg = read_progress(t, &p, &by_user, &unit_module, snap.learners.len())?;
        for (l, xp) in snap.learners.iter_mut().zip(&agg.xp) {
            l.total_xp += xp;
        }
        snap.stats.orphan_rows += agg.orphans;
        let mut started: Vec<((u32, u32), u32)> = agg.started.into_iter().collect();
        started.sort_unstable();
        for ((who, m), units) in started {
            snap.learners[who as usize]
                .modules_started
                .push(Started { module: module_names[m as usize].clone(), units });
        }
        count(&mut snap, Dataset::Progress, &p, agg.rows);
    }

    if let Some(p) = path_of(Dataset::Achievements)
        && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        let t = Table::open(Dataset::Achievements, &p)?;
        let (awards, rows, orphans) = achievements_parquet(&t, &p, &by_user)?;
        for (who, badge, award) in awards {
            let l = &mut snap.learners[who as usize];
            if badge { l.modules_completed.push(award) } else { l.paths_completed.push(award) }
        }
        snap.stats.orphan_rows += orphans;
        count(&mut snap, Dataset::Achievements, &p, rows);
    } else if let Some(p) = path_of(Dataset::Achievements) {
        let mut t = Table::open(Dataset::Achievements, &p)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let on = t.date(3)?.ok_or_else(|| t.error(3, "is missing"))?;
            let Some(&who) = by_user.get(t.get(0)) else {
                snap.stats.orphan_rows += 1;
                continue;
            };
            if on.as_str() < COMPLETIONS_SINCE {
                continue;
            }
            let kind = t.get(1);
            let award = Award { uid: t.required(2)?.into(), on: on.into() };
            let l = &mut snap.learners[who as usize];
            if kind.eq_ignore_ascii_case(b"badge") {
                l.modules_completed.push(award);
            } else if kind.eq_ignore_ascii_case(b"trophy") {
                l.paths_completed.push(award);
            }
        }
        count(&mut snap, Dataset::Achievements, &p, n);
    }

    if let Some(p) = path_of(Dataset::Certifications) {
        let mut t = Table::open(Dataset::Certifications, &p)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let c = Certification {
                uid: t.required(1)?,
                transcript_name: t.text(2)?,
                awarded_on: t.int_date(3)?,
                start: t.int_date(4)?,
                end: t.int_date(5)?,
                stay_current_from: t.int_date(6)?,
            };
            let Some(&who) = by_user.get(t.get(0)) else {
                snap.stats.orphan_rows += 1;
                continue;
            };
            snap.learners[who as usize].certifications.push(c);
        }
        count(&mut snap, Dataset::Certifications, &p, n);
    }

    if let Some(p) = path_of(Dataset::AppliedSkills) {
        let mut t = Table::open(Dataset::AppliedSkills, &p)?;
        let mut n = 0;
        while t.next()? {
            n += 1;
            let s = AppliedSkill { uid: t.required(1)?, lab_profile_name: t.text(2)?, scored_on: t.date(3)? };
            let Some(&who) = by_user.get(t.get(0)) else {
                snap.stats.orphan_rows += 1;
                continue;
            };
            snap.learners[who as usize].applied_skills.push(s);
        }
        count(&mut snap, Dataset::AppliedSkills, &p, n);
    }
    snap.stats.millis = clock.elapsed().as_millis() as u64;
    Ok(snap)
}

/// A Hierarchy* catalog dataset into `into` (uid → item); returns the rows read.
fn read_catalog(
    ds: Dataset,
    path: &Path,
    into: &mut std::collections::BTreeMap<String, CatalogItem>,
) -> Result<u64, LoadError> {
    let mut t = Table::open(ds, path)?;
    let mut n = 0;
    while t.next()? {
        n += 1;
        let uid = t.required(0)?;
        let item = CatalogItem {
            title: t.text(1)?,
            url: absolute(&t.text(2)?),
            products: t.list(3)?,
            roles: t.list(4)?,
            levels: t.list(5)?,
            duration_minutes: t.int(6)?,
            uid: uid.clone(),
        };
        into.insert(uid, item);
    }
    Ok(n)
}
