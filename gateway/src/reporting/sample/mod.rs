//! Realistic Microsoft Learn Organizational Reporting datasets of any size, written as the CSV files Azure
//! Data Share lands (`docs/spec/reporting.md` §2), for tests, demos and benchmarks; and the exact data of
//! acceptance tests AT-35..AT-39 ([`at_fixtures`]).
//!
//! [`write_sample`] builds a Learn-shaped catalog (modules with units, learning paths, certifications,
//! applied skills; uids, relative urls and JSON-array columns as Learn has them) and, for each `Users` row, a
//! consistent activity history: a badge comes with the module's XP row and the XP rows of all its units, a
//! trophy with the badges of all the path's modules, other modules are started (some of their units done).
//! Everything is derived from `seed` (splitmix64): the same spec writes the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use time::macros::date;

mod acceptance;
mod catalog;
mod dates;
mod hierarchy;
mod rng;
#[cfg(test)]
mod tests;
mod writer;

pub use acceptance::{AT_ADA_OBJECT_ID, AT_L1, AT_L1_TOTAL_XP, AT_L2, AT_L2_OBJECT_ID, AT_TENANT_ID, at_fixtures};
use catalog::{APPLIED_SKILLS, CERTIFICATIONS, fields};
use dates::{DAY, add_months, at, end_of_data, timestamp, ymd};
use hierarchy::{Catalog, build_catalog, write_catalog};
use rng::Rng;
use writer::Csv;

/// What [`write_sample`] writes.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    pub tenant_id: String,
    /// `Users` rows.
    pub users: usize,
    /// `Progress` rows: hit exactly, unless there are no users or the catalog cannot hold that many distinct
    /// rows per user (it grows up to 20,000 modules to try).
    pub progress_rows: usize,
    /// `Achievements` rows (idem).
    pub achievements_rows: usize,
    pub seed: u64,
    /// Tenant datasets named `Users_<tenant id>.csv` (as Data Share may land them) instead of `Users.csv`.
    pub tenant_suffix: bool,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            tenant_id: "3f1e9a52-7c4d-4b1e-8a6f-2d9c0b7e5a13".to_owned(),
            users: 1_000,
            progress_rows: 50_000,
            achievements_rows: 5_000,
            seed: 1,
            tenant_suffix: false,
        }
    }
}

/// What [`write_sample`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSummary {
    /// File name (in the folder) and data rows (without the header): Users, Progress, Achievements,
    /// Certifications, AppliedSkills, then the six Hierarchy* files.
    pub files: Vec<(String, u64)>,
    /// The `AADObjectId` of each `Users` row, in order, exactly as written: about half upper case, ~1 % in
    /// braces (normalise with R2 before using them as SCIM `externalId`s).
    pub aad_object_ids: Vec<String>,
}

/// Splits `total` over `weights` exactly (largest-prefix rounding).
fn shares(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    if sum <= 0.0 {
        out.resize(weights.len(), 0);
        if let Some(first) = out.first_mut() {
            *first = total;
        }
        return out;
    }
    let (mut cum, mut given) = (0.0, 0usize);
    for (i, w) in weights.iter().enumerate() {
        cum += w;
        let upto = if i + 1 == weights.len() { total } else { ((total as f64) * cum / sum).floor() as usize };
        let upto = upto.clamp(given, total);
        out.push(upto - given);
        given = upto;
    }
    out
}

/// One pass over the users, writing the five tenant datasets.
struct Tenant<'a> {
    cat: &'a Catalog,
    progress: BufWriter<File>,
    achievements: BufWriter<File>,
    /// `tenantId,userId,` of the current user.
    prefix: Vec<u8>,
    /// Per module / path: the 1-based index of the last user who got its badge / started it / got the trophy.
    badged: Vec<u32>,
    badge_time: Vec<i64>,
    started: Vec<u32>,
    trophied: Vec<u32>,
    progress_rows: u64,
    achievement_rows: u64,
}

impl Tenant<'_> {
    fn progress_row(&mut self, middle: &[u8], t: i64) -> io::Result<()> {
        self.progress.write_all(&self.prefix)?;
        self.progress.write_all(middle)?;
        let mut ts = [0u8; 21];
        ts[..20].copy_from_slice(&timestamp(t));
        ts[20] = b'\n';
        self.progress_rows += 1;
        self.progress.write_all(&ts)
    }

    fn achievement_row(&mut self, middle: &[u8], t: i64) -> io::Result<()> {
        self.achievements.write_all(&self.prefix)?;
        self.achievements.write_all(middle)?;
        let mut ts = [0u8; 21];
        ts[..20].copy_from_slice(&timestamp(t));
        ts[20] = b'\n';
        self.achievement_rows += 1;
        self.achievements.write_all(&ts)
    }

    /// A module not yet badged (and, with `fresh`, not started) by user `me`: popular ones first.
    fn free_module(&self, rng: &mut Rng, me: u32, fresh: bool) -> Option<usize> {
        let n = self.cat.modules.len();
        if n == 0 {
            return None;
        }
        let ok = |m: usize| self.badged[m] != me && (!fresh || self.started[m] != me);
        for _ in 0..8 {
            let m = rng.skewed(n);
            if ok(m) {
                return Some(m);
            }
        }
        let start = rng.below(n);
        (0..n).map(|i| (start + i) % n).find(|&m| ok(m))
    }

    /// Units in order, then the module XP row and the badge. `budget` progress rows at most (fewer units when
    /// it is short: only when the spec asks for few Progress rows per Achievement). Returns (rows, time done).
    fn complete_module(
        &mut self,
        rng: &mut Rng,
        me: u32,
        m: usize,
        t0: i64,
        budget: usize,
    ) -> io::Result<(usize, i64)> {
        let cat = self.cat;
        let module = &cat.modules[m];
        let end = end_of_data();
        let units = module.units.len().min(budget.saturating_sub(1));
        let mut t = t0;
        for u in &module.units[..units] {
            self.progress_row(&u.progress, t)?;
            t = (t + 60 * (2 + rng.below(20)) as i64 + rng.below(60) as i64).min(end);
        }
        let mut rows = units;
        if budget > 0 {
            self.progress_row(&module.progress, t)?;
            rows += 1;
        }
        self.achievement_row(&module.badge, t)?;
        self.badged[m] = me;
        self.started[m] = me;
        self.badge_time[m] = t;
        Ok((rows, t))
    }
}

/// The start of an activity taking `span` seconds: in `[from, end of data - span]`, more likely recent.
fn when(rng: &mut Rng, from: i64, span: i64) -> i64 {
    let end = end_of_data() - span;
    if from >= end {
        return from.min(end_of_data());
    }
    from + ((end - from) as f64 * rng.unit().powf(0.7)) as i64
}

/// Writes a sample of `spec`'s size into `dir` (created if missing): the five tenant datasets and the six
/// Hierarchy* catalog datasets, as CSV.
pub fn write_sample(dir: &Path, spec: &SampleSpec) -> io::Result<SampleSummary> {
    const MIB: usize = 1 << 20;
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(spec.seed);
    let mut cat_rng = Rng::new(rng.next_u64());
    let mut weight_rng = Rng::new(rng.next_u64());

    // Catalog: ~400 modules, growing slowly with users, and enough that every user can hold their share of
    // distinct progress rows (7 rows per module on average).
    let users = spec.users;
    let needed = if users == 0 { 0 } else { (2 * spec.progress_rows).div_ceil(users * 7) };
    let n_modules = (400 + users / 1000).min(1200).max(needed.min(20_000));
    let n_paths = (n_modules / 7).max(60);
    let cat = build_catalog(&mut cat_rng, n_modules, n_paths);

    let mut files = Vec::new();
    let suffix = if spec.tenant_suffix { format!("_{}", spec.tenant_id) } else { String::new() };
    let name = |base: &str| format!("{base}{suffix}.csv");

    let mut users_csv = Csv::create(dir, name("Users"), "tenantId,userId,AADObjectId,CreatedOn", MIB)?;
    let progress_name = name("Progress");
    let achievements_name = name("Achievements");
    let mut progress = BufWriter::with_capacity(4 * MIB, File::create(dir.join(&progress_name))?);
    progress.write_all(b"tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n")?;
    let mut achievements = BufWriter::with_capacity(2 * MIB, File::create(dir.join(&achievements_name))?);
    achievements.write_all(b"tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn\n")?;
    let mut certs_csv = Csv::create(
        dir,
        name("Certifications"),
        "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,\
         StayCurrentEligibilityStartDate",
        MIB,
    )?;
    let mut skills_csv =
        Csv::create(dir, name("AppliedSkills"), "tenantId,userId,appliedSkillsUid,labProfileName,examScoredDate", MIB)?;

    // Activity per user: log-normal, capped at 30x the mean; achievements loosely follow progress.
    let weights: Vec<f64> = (0..users).map(|_| (1.2 * weight_rng.normal()).exp().min(60.0)).collect();
    let a_weights: Vec<f64> = weights.iter().map(|w| w * (0.5 + weight_rng.unit())).collect();
    let p_quota = shares(spec.progress_rows, &weights);
    let a_quota = shares(spec.achievements_rows, &a_weights);
    let mean_w = if users == 0 { 1.0 } else { weights.iter().sum::<f64>() / users as f64 };

    let mut t = Tenant {
        cat: &cat,
        progress,
        achievements,
        prefix: Vec::with_capacity(80),
        badged: vec![0; cat.modules.len()],
        badge_time: vec![0; cat.modules.len()],
        started: vec![0; cat.modules.len()],
        trophied: vec![0; cat.paths.len()],
        progress_rows: 0,
        achievement_rows: 0,
    };
    let mut cert_held = vec![0u32; CERTIFICATIONS.len()];
    let mut skill_held = vec![0u32; APPLIED_SKILLS.len()];
    let mut aad_object_ids = Vec::with_capacity(users);
    let (mut carry_p, mut carry_a) = (0usize, 0usize);
    // Enough Progress rows for every badge to come with its units (~7 rows a badge, paths included).
    let strict = spec.progress_rows >= spec.achievements_rows.saturating_mul(8);
    let end = end_of_data();

    for i in 0..users {
        let me = i as u32 + 1;
        let user_id = rng.guid(false);
        let upper = rng.chance(0.5);
        let oid = String::from_utf8_lossy(&rng.guid(upper)).into_owned();
        let oid = if rng.chance(0.01) { format!("{{{oid}}}") } else { oid };
        let created = if rng.chance(0.04) {
            rng.range(at(date!(2016 - 03 - 01)), at(date!(2017 - 09 - 30)))
        } else {
            rng.range(at(date!(2019 - 01 - 01)), at(date!(2025 - 12 - 31)))
        };
        let user_id = std::str::from_utf8(&user_id).unwrap_or_default();
        users_csv.record(&[
            &spec.tenant_id,
            user_id,
            &oid,
            std::str::from_utf8(&timestamp(created)).unwrap_or_default(),
        ])?;
        aad_object_ids.push(oid);
        t.prefix.clear();
        t.prefix.extend_from_slice(spec.tenant_id.as_bytes());
        t.prefix.push(b',');
        t.prefix.extend_from_slice(user_id.as_bytes());
        t.prefix.push(b',');

        let mut p = p_quota[i] + carry_p;
        let mut a = a_quota[i] + carry_a;

        // Learning paths: all the path's modules, then the trophy.
        let attempts = a / 12 + usize::from(rng.chance((a % 12) as f64 / 12.0));
        for _ in 0..attempts {
            if cat.paths.is_empty() {
                break;
            }
            let pi = rng.skewed(cat.paths.len());
            if t.trophied[pi] == me {
                continue;
            }
            let path = &cat.paths[pi];
            let new: Vec<usize> = path.modules.iter().copied().filter(|&m| t.badged[m] != me).collect();
            let need_p = 1 + new.iter().map(|&m| cat.modules[m].units.len() + 1).sum::<usize>();
            if new.len() + 1 > a || need_p > p {
                continue;
            }
            let mut time = when(&mut rng, created, new.len() as i64 * 4 * DAY);
            let mut last = time;
            for &m in &new {
                let (rows, done) = t.complete_module(&mut rng, me, m, time, usize::MAX)?;
                p -= rows;
                a -= 1;
                time = (done + rng.range(3_600, 3 * DAY)).min(end);
            }
            for &m in &path.modules {
                last = last.max(t.badge_time[m]);
            }
            t.progress_row(&path.progress, last)?;
            t.achievement_row(&path.trophy, last)?;
            t.trophied[pi] = me;
            p -= 1;
            a -= 1;
        }

        // Badges for single modules. A badge this user cannot back with all its units goes to the next user,
        // unless the spec asks for too few Progress rows per Achievement (or this is the last user).
        while a > 0 {
            let Some(m) = t.free_module(&mut rng, me, false) else { break };
            if strict && cat.modules[m].units.len() + 1 > p && i + 1 < users {
                break;
            }
            let start = when(&mut rng, created, DAY / 6);
            let (rows, _) = t.complete_module(&mut rng, me, m, start, p)?;
            p -= rows;
            a -= 1;
        }

        // Modules started: the first units of modules without a badge.
        while p > 0 {
            let Some(m) = t.free_module(&mut rng, me, true) else { break };
            let units = &cat.modules[m].units;
            let k = (1 + rng.below(units.len() - 1)).min(p);
            let mut time = when(&mut rng, created, DAY / 6);
            for u in &units[..k] {
                t.progress_row(&u.progress, time)?;
                time = (time + 60 * (2 + rng.below(20)) as i64).min(end);
            }
            t.started[m] = me;
            p -= k;
        }
        carry_p = p;
        carry_a = a;

        // Certifications and applied skills, more likely for active learners.
        let activity = (weights[i] / mean_w).clamp(0.3, 3.0);
        if rng.chance(0.12 * activity) {
            let n = 1 + usize::from(rng.chance(0.35)) + usize::from(rng.chance(0.15));
            for _ in 0..n {
                let c = rng.skewed(CERTIFICATIONS.len());
                if cert_held[c] == me {
                    continue;
                }
                cert_held[c] = me;
                let [slug, title, _, _, level] = fields(CERTIFICATIONS[c]);
                let (awarded, start, end_date, stay) = if level == "Fundamentals" {
                    let d = ymd(rng.range(at(date!(2019 - 01 - 01)).max(created), end));
                    (d, d, 0, 0)
                } else {
                    // Role-based: renewed yearly; most active, some expired in the last two years.
                    let start = if rng.chance(0.2) {
                        rng.range(end - 3 * 365 * DAY, end - 366 * DAY)
                    } else {
                        rng.range(end - 365 * DAY, end - DAY)
                    };
                    let start = ymd(start);
                    let awarded =
                        if rng.chance(0.35) { add_months(start, -12 * (1 + rng.below(3) as i32)) } else { start };
                    let end_date = add_months(start, 12);
                    let stay = if rng.chance(0.4) { add_months(end_date, -6) } else { 0 };
                    (awarded, start, end_date, stay)
                };
                certs_csv.record(&[
                    &spec.tenant_id,
                    user_id,
                    "Certification",
                    title,
                    &format!("certification.{slug}"),
                    &awarded.to_string(),
                    &start.to_string(),
                    &end_date.to_string(),
                    &stay.to_string(),
                ])?;
            }
        }
        if rng.chance(0.05 * activity) {
            for _ in 0..1 + usize::from(rng.chance(0.25)) {
                let s = rng.below(APPLIED_SKILLS.len());
                if skill_held[s] == me {
                    continue;
                }
                skill_held[s] = me;
                let [slug, title, lab] = fields(APPLIED_SKILLS[s]);
                let scored = timestamp(when(&mut rng, created.max(at(date!(2023 - 11 - 15))), 0));
                skills_csv.record(&[
                    &spec.tenant_id,
                    user_id,
                    &format!("applied-skill.{slug}"),
                    &format!("APL-{lab}: {title}"),
                    std::str::from_utf8(&scored).unwrap_or_default(),
                ])?;
            }
        }
    }

    files.push(users_csv.finish()?);
    t.progress.flush()?;
    t.achievements.flush()?;
    files.push((progress_name, t.progress_rows));
    files.push((achievements_name, t.achievement_rows));
    files.push(certs_csv.finish()?);
    files.push(skills_csv.finish()?);
    write_catalog(dir, &cat, &mut files)?;
    Ok(SampleSummary { files, aad_object_ids })
}
