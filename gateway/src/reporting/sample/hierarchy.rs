//! The sample's catalog: modules with units and learning paths built from [`super::catalog`] with the
//! seed's randomness (unique slugs and uids as Learn forms them), and the six Hierarchy* CSV files that
//! describe it, certifications and applied skills included.

use std::io;
use std::path::Path;

use super::catalog::{
    APPLIED_SKILLS, CERTIFICATIONS, FAMILIES, LANGUAGES, LEVELS, MODULE_PATTERNS, QUALIFIERS, UNIT_MIDDLE, fields,
};
use super::rng::Rng;
use super::writer::{Csv, json_array};

pub(super) struct Unit {
    pub(super) uid: String,
    pub(super) title: String,
    pub(super) url: String,
    pub(super) minutes: u32,
    /// `points.unit.basic.completed,Unit,<uid>,100,`
    pub(super) progress: Vec<u8>,
}

pub(super) struct Module {
    pub(super) uid: String,
    pub(super) slug: String,
    pub(super) title: String,
    pub(super) family: usize,
    pub(super) products: Vec<&'static str>,
    pub(super) roles: Vec<&'static str>,
    pub(super) levels: Vec<&'static str>,
    pub(super) languages: Vec<&'static str>,
    pub(super) units: Vec<Unit>,
    /// `points.module.basic.completed,Module,<uid>,200,`
    pub(super) progress: Vec<u8>,
    /// `badge.module.basic.completed,Badge,<uid>.badge,Module,<uid>,`
    pub(super) badge: Vec<u8>,
}

pub(super) struct LearningPath {
    pub(super) uid: String,
    pub(super) slug: String,
    pub(super) title: String,
    pub(super) modules: Vec<usize>,
    pub(super) points: u32,
    pub(super) minutes: u32,
    pub(super) products: Vec<&'static str>,
    pub(super) roles: Vec<&'static str>,
    pub(super) levels: Vec<&'static str>,
    pub(super) languages: Vec<&'static str>,
    pub(super) progress: Vec<u8>,
    pub(super) trophy: Vec<u8>,
}

pub(super) struct Catalog {
    pub(super) modules: Vec<Module>,
    pub(super) paths: Vec<LearningPath>,
}

fn slugify(title: &str) -> String {
    let mut s = String::with_capacity(title.len());
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if c == '#' {
            s.push_str("sharp");
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    while s.ends_with('-') {
        s.pop();
    }
    match s.strip_prefix("introduction-to-") {
        Some(rest) => format!("intro-to-{rest}"),
        None => s,
    }
}

fn pick_family(rng: &mut Rng) -> usize {
    let mut r = rng.below(FAMILIES.iter().map(|f| f.weight).sum());
    for (i, f) in FAMILIES.iter().enumerate() {
        if r < f.weight {
            return i;
        }
        r -= f.weight;
    }
    0
}

fn pick_levels(rng: &mut Rng) -> Vec<&'static str> {
    let r = rng.below(100);
    let first = if r < 45 {
        0
    } else if r < 85 {
        1
    } else {
        2
    };
    if first < 2 && rng.chance(0.25) { vec![LEVELS[first], LEVELS[first + 1]] } else { vec![LEVELS[first]] }
}

fn pick_some(rng: &mut Rng, pool: &[&'static str], max: usize) -> Vec<&'static str> {
    let n = 1 + rng.below(max.min(pool.len()));
    let mut out: Vec<&'static str> = Vec::with_capacity(n);
    while out.len() < n {
        let r = *rng.pick(pool);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn pick_languages(rng: &mut Rng) -> Vec<&'static str> {
    let share = if rng.chance(0.2) { 0.3 } else { 0.9 };
    let mut out = vec!["en-us"];
    out.extend(LANGUAGES.iter().copied().filter(|_| rng.chance(share)));
    out
}

fn progress_prefix(reason: &str, kind: &str, uid: &str, xp: u32) -> Vec<u8> {
    format!("{reason},{kind},{uid},{xp},").into_bytes()
}

pub(super) fn build_catalog(rng: &mut Rng, modules_wanted: usize, paths_wanted: usize) -> Catalog {
    let mut seen = std::collections::HashSet::new();
    let mut modules = Vec::with_capacity(modules_wanted);
    let mut fails = 0usize;
    while modules.len() < modules_wanted {
        let family = pick_family(rng);
        let fam = &FAMILIES[family];
        let (subject, product) = *rng.pick(fam.subjects);
        let mut title = rng.pick(MODULE_PATTERNS).replace("{s}", subject);
        // Past the plain combinations: qualified titles, then numbered parts.
        let level = fails / 40;
        if level >= 1 {
            title = format!("{title} {}", rng.pick(QUALIFIERS));
        }
        if level >= 2 {
            title = format!("{title} - part {}", 2 + rng.below(level * 4));
        }
        let slug = slugify(&title);
        if !seen.insert(slug.clone()) {
            fails += 1;
            continue;
        }
        fails = 0;
        let uid = format!("learn.{}.{slug}", fam.seg);
        let mut products = vec![fam.product];
        if !product.is_empty() {
            products.push(product);
        }
        let n_units = 3 + rng.below(7);
        let mut units = Vec::with_capacity(n_units);
        let mut middles: Vec<&str> = Vec::new();
        for i in 1..=n_units {
            let (utitle, minutes) = if i == 1 {
                ("Introduction".to_owned(), 1 + rng.below(3) as u32)
            } else if i == n_units {
                ("Summary".to_owned(), 1 + rng.below(2) as u32)
            } else if i == n_units - 1 && n_units >= 4 {
                ("Knowledge check".to_owned(), 3 + rng.below(3) as u32)
            } else {
                let mut m = *rng.pick(UNIT_MIDDLE);
                while middles.contains(&m) {
                    m = *rng.pick(UNIT_MIDDLE);
                }
                middles.push(m);
                let minutes = if m.starts_with("Exercise") { 8 + rng.below(13) } else { 3 + rng.below(8) };
                (m.replace("{s}", subject), minutes as u32)
            };
            let uslug = format!("{i}-{}", slugify(&utitle));
            let uuid = format!("{uid}.{uslug}");
            units.push(Unit {
                progress: progress_prefix("points.unit.basic.completed", "Unit", &uuid, 100),
                url: format!("/training/modules/{slug}/{uslug}"),
                uid: uuid,
                title: utitle,
                minutes,
            });
        }
        modules.push(Module {
            progress: progress_prefix("points.module.basic.completed", "Module", &uid, 200),
            badge: format!("badge.module.basic.completed,Badge,{uid}.badge,Module,{uid},").into_bytes(),
            uid,
            slug,
            title,
            family,
            products,
            roles: pick_some(rng, fam.roles, 3),
            levels: pick_levels(rng),
            languages: pick_languages(rng),
            units,
        });
    }

    let mut by_family: Vec<Vec<usize>> = vec![Vec::new(); FAMILIES.len()];
    for (i, m) in modules.iter().enumerate() {
        by_family[m.family].push(i);
    }
    let mut paths = Vec::with_capacity(paths_wanted);
    let mut seen = std::collections::HashSet::new();
    let mut fails = 0usize;
    while paths.len() < paths_wanted && !modules.is_empty() {
        let family = pick_family(rng);
        let fam = &FAMILIES[family];
        let (subject, product) = *rng.pick(fam.subjects);
        let mut title = rng.pick(fam.path_patterns).replace("{s}", subject);
        if fails / 40 >= 1 {
            title = format!("{title} - part {}", 2 + rng.below(fails / 10));
        }
        let slug = slugify(&title);
        if !seen.insert(slug.clone()) {
            fails += 1;
            continue;
        }
        fails = 0;
        let pool = if by_family[family].len() >= 10 { &by_family[family] } else { &(0..modules.len()).collect() };
        let n = (4 + rng.below(7)).min(pool.len());
        let mut members: Vec<usize> = Vec::with_capacity(n);
        while members.len() < n {
            let m = *rng.pick(pool);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        let jitter = 0.8 + 0.4 * rng.unit();
        let points = ((members.len() as f64 * 300.0 * jitter / 100.0).round() as u32 * 100).clamp(1_000, 3_000);
        let minutes = members.iter().map(|&m| modules[m].units.iter().map(|u| u.minutes).sum::<u32>()).sum();
        let uid = format!("learn.{}.{slug}", fam.seg);
        let mut products = vec![fam.product];
        if !product.is_empty() {
            products.push(product);
        }
        paths.push(LearningPath {
            progress: progress_prefix("points.path.basic.completed", "LearningPath", &uid, points),
            trophy: format!("trophy.path.basic.completed,Trophy,{uid}.trophy,LearningPath,{uid},").into_bytes(),
            uid,
            slug,
            title,
            modules: members,
            points,
            minutes,
            products,
            roles: pick_some(rng, fam.roles, 3),
            levels: pick_levels(rng),
            languages: pick_languages(rng),
        });
    }
    Catalog { modules, paths }
}

pub(super) fn write_catalog(dir: &Path, cat: &Catalog, files: &mut Vec<(String, u64)>) -> io::Result<()> {
    const MIB: usize = 1 << 20;
    let mut f = Csv::create(
        dir,
        "HierarchyModule.csv".into(),
        "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages",
        MIB,
    )?;
    for m in &cat.modules {
        let minutes: u32 = m.units.iter().map(|u| u.minutes).sum();
        f.record(&[
            &m.uid,
            &m.title,
            &format!("/training/modules/{}/", m.slug),
            &format!("/training/achievements/{}.svg", m.slug),
            &minutes.to_string(),
            "200",
            &json_array(&m.levels),
            &json_array(&m.products),
            &json_array(&m.roles),
            &json_array(&m.languages),
        ])?;
    }
    files.push(f.finish()?);

    let mut f =
        Csv::create(dir, "HierarchyUnit.csv".into(), "unitUid,title,url,durationInMinutes,points,moduleUid", MIB)?;
    for m in &cat.modules {
        for u in &m.units {
            f.record(&[&u.uid, &u.title, &u.url, &u.minutes.to_string(), "100", &m.uid])?;
        }
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyLearningPath.csv".into(),
        "LearningPathUid,title,url,durationInMinutes,points,iconUrl,levels,products,roles,languages",
        MIB,
    )?;
    for p in &cat.paths {
        f.record(&[
            &p.uid,
            &p.title,
            &format!("/training/paths/{}/", p.slug),
            &p.minutes.to_string(),
            &p.points.to_string(),
            &format!("/training/achievements/paths/{}.svg", p.slug),
            &json_array(&p.levels),
            &json_array(&p.products),
            &json_array(&p.roles),
            &json_array(&p.languages),
        ])?;
    }
    files.push(f.finish()?);

    let mut f = Csv::create(dir, "HierarchyLearningPathModule.csv".into(), "LearningPathUid,ModuleUid", MIB)?;
    for p in &cat.paths {
        for &m in &p.modules {
            f.record(&[&p.uid, &cat.modules[m].uid])?;
        }
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyCertification.csv".into(),
        "certificationUid,type,title,summary,url,iconUrl,levels,products,roles,exams",
        MIB,
    )?;
    for row in CERTIFICATIONS {
        let [slug, title, exam, family, level] = fields(row);
        let fam = &FAMILIES[family.parse::<usize>().unwrap_or(0)];
        let level_tag = match level {
            "Fundamentals" => "beginner",
            "Expert" => "advanced",
            _ => "intermediate",
        };
        let short = title.rsplit(": ").next().unwrap_or(title);
        let summary = format!(
            "Earn the {short} certification to show that you can plan, implement, and manage {} solutions.",
            fam.name
        );
        let role = |word: &str| title.contains(word);
        let roles: Vec<&str> = if role("Administrator") {
            vec!["administrator"]
        } else if role("Developer") {
            vec!["developer"]
        } else if role("Architect") {
            vec!["solution-architect"]
        } else if role("Security Engineer") || role("Security Operations") {
            vec!["security-engineer", "security-operations-analyst"]
        } else if role("AI Engineer") {
            vec!["ai-engineer"]
        } else if role("Data Scientist") {
            vec!["data-scientist"]
        } else if role("Engineer") {
            vec!["data-engineer", "devops-engineer"]
        } else if role("Analyst") {
            vec!["data-analyst"]
        } else if role("Consultant") {
            vec!["functional-consultant"]
        } else {
            fam.roles[..2].to_vec()
        };
        f.record(&[
            &format!("certification.{slug}"),
            "0",
            title,
            &summary,
            &format!("/credentials/certifications/{slug}/"),
            &format!("/media/learn/certification/badges/microsoft-certified-{}-badge.svg", level.to_ascii_lowercase()),
            &json_array(&[level_tag]),
            &json_array(&[fam.product]),
            &json_array(&roles),
            &json_array(&[&format!("exam.{exam}")]),
        ])?;
    }
    files.push(f.finish()?);

    let mut f = Csv::create(
        dir,
        "HierarchyAppliedSkills.csv".into(),
        "appliedSkillsUid,title,url,levels,products,roles,subjects,tasks",
        MIB,
    )?;
    for row in APPLIED_SKILLS {
        let [slug, title, _, family, subjects, tasks] = fields(row);
        let fam = &FAMILIES[family.parse::<usize>().unwrap_or(0)];
        let (subjects, tasks): (Vec<&str>, Vec<&str>) = (subjects.split(';').collect(), tasks.split(';').collect());
        f.record(&[
            &format!("applied-skill.{slug}"),
            title,
            &format!("/credentials/applied-skills/{slug}/"),
            &json_array(&["intermediate"]),
            &json_array(&[fam.product]),
            &json_array(&fam.roles[..1]),
            &json_array(&subjects),
            &json_array(&tasks),
        ])?;
    }
    files.push(f.finish()?);
    Ok(())
}
