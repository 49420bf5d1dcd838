//! Which dataset a landed file holds (`Users.csv`, `users_<tenant id>.csv`, `dbo.Users-<id>.csv`…), the
//! columns each dataset is read by (with the known spelling variants, compared case-insensitively), and
//! finding one file per dataset in a folder.

use std::path::{Path, PathBuf};

use super::error::{LoadError, file_error};

/// The datasets (§3.2 of the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    Users,
    Progress,
    Achievements,
    Certifications,
    AppliedSkills,
    HierarchyModule,
    HierarchyUnit,
    HierarchyLearningPath,
    HierarchyLearningPathModule,
    HierarchyCertification,
    HierarchyAppliedSkills,
}

pub const ALL: [Dataset; 11] = [
    Dataset::Users,
    Dataset::Progress,
    Dataset::Achievements,
    Dataset::Certifications,
    Dataset::AppliedSkills,
    Dataset::HierarchyModule,
    Dataset::HierarchyUnit,
    Dataset::HierarchyLearningPath,
    Dataset::HierarchyLearningPathModule,
    Dataset::HierarchyCertification,
    Dataset::HierarchyAppliedSkills,
];

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Users => "Users",
            Dataset::Progress => "Progress",
            Dataset::Achievements => "Achievements",
            Dataset::Certifications => "Certifications",
            Dataset::AppliedSkills => "AppliedSkills",
            Dataset::HierarchyModule => "HierarchyModule",
            Dataset::HierarchyUnit => "HierarchyUnit",
            Dataset::HierarchyLearningPath => "HierarchyLearningPath",
            Dataset::HierarchyLearningPathModule => "HierarchyLearningPathModule",
            Dataset::HierarchyCertification => "HierarchyCertification",
            Dataset::HierarchyAppliedSkills => "HierarchyAppliedSkills",
        }
    }

    /// The dataset a landed file holds: `Users.csv`, `users_<tenant id>.csv`, `dbo.Users-<id>.csv`…
    pub fn of_file(path: &Path) -> Option<Dataset> {
        let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
        let stem = stem.strip_prefix("dbo.").unwrap_or(&stem);
        // Longest names first: `hierarchylearningpathmodule` before `hierarchylearningpath`.
        let mut by_len: Vec<Dataset> = ALL.to_vec();
        by_len.sort_by_key(|d| std::cmp::Reverse(d.name().len()));
        by_len.into_iter().find(|d| {
            let name = d.name().to_ascii_lowercase();
            stem == name || stem.strip_prefix(&name).is_some_and(|rest| rest.starts_with('_') || rest.starts_with('-'))
        })
    }

    /// (column, accepted spellings, required). Spellings are compared case-insensitively.
    pub(super) fn columns(self) -> &'static [(&'static str, &'static [&'static str], bool)] {
        match self {
            Dataset::Users => &[("userId", &[], true), ("AADObjectId", &[], true), ("CreatedOn", &[], false)],
            Dataset::Progress => &[
                ("userId", &[], true),
                ("SourceType", &[], true),
                ("SourceUid", &[], true),
                ("XP", &[], true),
                ("XPReason", &["Reason"], false),
                ("AwardedOn", &[], false),
            ],
            Dataset::Achievements => &[
                ("userId", &[], true),
                ("awardType", &[], true),
                ("SourceUid", &["awardUid"], true),
                ("AwardedOn", &[], true),
                ("awardReason", &["Reason"], false),
            ],
            Dataset::Certifications => &[
                ("userId", &[], true),
                ("SourceUid", &[], true),
                ("TranscriptName", &[], false),
                ("AwardedOn", &[], false),
                ("CertificationStartDate", &[], false),
                ("CertificationEndDate", &[], false),
                ("StayCurrentEligibilityStartDate", &[], false),
            ],
            Dataset::AppliedSkills => &[
                ("userId", &[], true),
                ("appliedSkillsUid", &[], true),
                ("labProfileName", &[], false),
                ("examScoredDate", &[], false),
            ],
            Dataset::HierarchyModule => &CATALOG_COLUMNS_MODULE,
            Dataset::HierarchyLearningPath => &CATALOG_COLUMNS_PATH,
            Dataset::HierarchyCertification => &CATALOG_COLUMNS_CERT,
            Dataset::HierarchyAppliedSkills => &CATALOG_COLUMNS_SKILL,
            Dataset::HierarchyUnit => &[("unitUid", &[], true), ("moduleUid", &[], true)],
            Dataset::HierarchyLearningPathModule => &[("LearningPathUid", &[], true), ("ModuleUid", &[], true)],
        }
    }
}

type Cols = [(&'static str, &'static [&'static str], bool); 8];
const CATALOG_COLUMNS_MODULE: Cols = catalog_columns("moduleUid");
const CATALOG_COLUMNS_PATH: Cols = catalog_columns("LearningPathUid");
const CATALOG_COLUMNS_CERT: Cols = catalog_columns("certificationUid");
const CATALOG_COLUMNS_SKILL: Cols = catalog_columns("appliedSkillsUid");

const fn catalog_columns(uid: &'static str) -> Cols {
    [
        (uid, &[], true),
        ("title", &[], true),
        ("url", &[], false),
        ("products", &[], false),
        ("roles", &[], false),
        ("levels", &[], false),
        ("durationInMinutes", &[], false),
        ("summary", &[], false),
    ]
}

/// Finds the dataset files in `dir` (one per dataset; `Users` is required).
pub fn find_files(dir: &Path) -> Result<Vec<(Dataset, PathBuf)>, LoadError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(&shown, format!("cannot read the folder: {e}")))?;
    let mut found: Vec<(Dataset, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| file_error(&shown, e.to_string()))?.path();
        if !path.is_file() {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let Some(ds) = Dataset::of_file(&path) else { continue };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match ext.as_deref() {
            Some("csv") | Some("parquet") => {}
            _ => continue,
        }
        if let Some((_, other)) = found.iter().find(|(d, _)| *d == ds) {
            return Err(file_error(
                &name,
                format!(
                    "a second file for dataset {} (also {}); keep one file per dataset",
                    ds.name(),
                    other.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                ),
            ));
        }
        found.push((ds, path));
    }
    if !found.iter().any(|(d, _)| *d == Dataset::Users) {
        return Err(file_error(&shown, "no Users dataset (Users.csv or Users_<tenant id>.csv) in this folder"));
    }
    found.sort();
    Ok(found)
}
