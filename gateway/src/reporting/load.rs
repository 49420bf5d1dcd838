//! Loading a tenant's Learn Organizational Reporting datasets from a folder of CSV files as Azure Data
//! Share lands them: file names with or without a tenant-id suffix, column names matched
//! case-insensitively with the known spelling variants, `YYYYMMDD` integer dates with 0 as null,
//! JSON-array string columns. The result is one [`Snapshot`]; any error names the file, line and column
//! and produces no snapshot (the previous one stays in force).

use super::model::*;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    fn columns(self) -> &'static [(&'static str, &'static [&'static str], bool)] {
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

/// A load that failed: which file, where, and why. Nothing of it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: String,
    /// 1-based line of the file (the header is line 1); `None` for file-level problems.
    pub line: Option<u64>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            if self.file.to_ascii_lowercase().ends_with(".parquet") {
                write!(f, ", row {line}")?;
            } else {
                write!(f, ", line {line}")?;
            }
        }
        if let Some(col) = &self.column {
            write!(f, ", column {col}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

fn file_error(file: &str, message: impl Into<String>) -> LoadError {
    LoadError { file: file.to_owned(), line: None, column: None, message: message.into() }
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

/// One open dataset file: the header mapped to the dataset's columns.
/// Where a table's rows come from.
enum Source {
    Csv(csv::Reader<Box<dyn std::io::Read + Send>>),
    Parquet(Box<super::parquet::ParquetRows>),
}

struct Table {
    file: String,
    reader: Source,
    /// Rows read (Parquet rows are named by number, not line).
    rows: u64,
    /// Lines before this reader's first line (a chunk of a file read in parallel).
    line_base: u64,
    /// Byte offset just after the header row.
    header_end: u64,
    /// Per dataset column: its index in the file.
    index: Vec<Option<usize>>,
    names: Vec<&'static str>,
    record: csv::ByteRecord,
}

impl Table {
    fn open(ds: Dataset, path: &Path) -> Result<Table, LoadError> {
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
            let rows = super::parquet::ParquetRows::open(path).map_err(|m| file_error(&file, m))?;
            let names: Vec<String> = rows.names.iter().map(|n| n.trim().to_ascii_lowercase()).collect();
            let (index, cols) = Self::map_columns(ds, &file, &names)?;
            return Ok(Table {
                file,
                reader: Source::Parquet(Box::new(rows)),
                rows: 0,
                line_base: 0,
                header_end: 0,
                index,
                names: cols,
                record: csv::ByteRecord::new(),
            });
        }
        let f = std::fs::File::open(path).map_err(|e| file_error(&file, format!("cannot open: {e}")))?;
        if f.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(LoadError {
                file,
                line: Some(1),
                column: None,
                message: "the file is empty (not even a header row)".into(),
            });
        }
        let f: Box<dyn std::io::Read + Send> = Box::new(f);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).buffer_capacity(1 << 20).from_reader(f);
        let headers = reader
            .byte_headers()
            .map_err(|e| LoadError { file: file.clone(), line: Some(1), column: None, message: e.to_string() })?
            .clone();
        let header_names: Vec<String> = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let (index, names) = Self::map_columns(ds, &file, &header_names)?;
        let header_end = reader.position().byte();
        Ok(Table {
            file,
            reader: Source::Csv(reader),
            rows: 0,
            line_base: 0,
            header_end,
            index,
            names,
            record: csv::ByteRecord::new(),
        })
    }

    /// The position of each of the dataset's columns among the file's (lower-case) column names.
    #[allow(clippy::type_complexity)]
    fn map_columns(
        ds: Dataset,
        file: &str,
        header_names: &[String],
    ) -> Result<(Vec<Option<usize>>, Vec<&'static str>), LoadError> {
        let mut index = Vec::new();
        let mut names = Vec::new();
        for (name, aliases, required) in ds.columns() {
            let at = std::iter::once(name)
                .chain(aliases.iter())
                .find_map(|n| header_names.iter().position(|h| h == &n.to_ascii_lowercase()));
            if at.is_none() && *required {
                return Err(LoadError {
                    file: file.to_owned(),
                    line: Some(1),
                    column: Some((*name).to_owned()),
                    message: format!("the header has no column {name} (it has: {})", header_names.join(", ")),
                });
            }
            index.push(at);
            names.push(*name);
        }
        Ok((index, names))
    }

    /// A reader over bytes `start..end` of the same file (whole rows, no header), with this table's
    /// column mapping; `lines_before` = lines of the file before `start`.
    fn chunk(&self, path: &Path, start: u64, end: u64, lines_before: u64) -> Result<Table, LoadError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path).map_err(|e| file_error(&self.file, format!("cannot open: {e}")))?;
        f.seek(SeekFrom::Start(start)).map_err(|e| file_error(&self.file, e.to_string()))?;
        let r: Box<dyn std::io::Read + Send> = Box::new(f.take(end - start));
        let reader = csv::ReaderBuilder::new().has_headers(false).buffer_capacity(1 << 20).from_reader(r);
        Ok(Table {
            file: self.file.clone(),
            reader: Source::Csv(reader),
            rows: 0,
            line_base: lines_before,
            header_end: start,
            index: self.index.clone(),
            names: self.names.clone(),
            record: csv::ByteRecord::new(),
        })
    }

    /// Reads the next row; `Ok(false)` at the end.
    fn next(&mut self) -> Result<bool, LoadError> {
        self.rows += 1;
        let reader = match &mut self.reader {
            Source::Csv(r) => r,
            Source::Parquet(p) => {
                // Parquet rows are numbered from 1; `line` carries the row number (shown as "row").
                return p.next(&mut self.record).map_err(|message| LoadError {
                    file: self.file.clone(),
                    line: Some(self.rows),
                    column: None,
                    message,
                });
            }
        };
        match reader.read_byte_record(&mut self.record) {
            Ok(more) => Ok(more),
            Err(e) => {
                let line = e.position().map(|p| p.line() + self.line_base);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("{len} fields where the header has {expected_len} (a truncated or malformed row)")
                    }
                    _ => e.to_string(),
                };
                Err(LoadError { file: self.file.clone(), line, column: None, message })
            }
        }
    }

    fn line(&self) -> u64 {
        match self.reader {
            Source::Csv(_) => self.record.position().map(|p| p.line() + self.line_base).unwrap_or(0),
            Source::Parquet(_) => self.rows,
        }
    }

    /// Column `c` (by its position in the dataset's column list) of the current row, trimmed; empty
    /// when the file has no such column.
    fn get(&self, c: usize) -> &[u8] {
        match self.index[c].and_then(|i| self.record.get(i)) {
            Some(v) => v.trim_ascii(),
            None => b"",
        }
    }

    fn text(&self, c: usize) -> Result<String, LoadError> {
        std::str::from_utf8(self.get(c)).map(str::to_owned).map_err(|_| self.error(c, "is not valid UTF-8"))
    }

    fn required(&self, c: usize) -> Result<String, LoadError> {
        let v = self.text(c)?;
        if v.is_empty() {
            return Err(self.error(c, "is empty"));
        }
        Ok(v)
    }

    fn error(&self, c: usize, what: &str) -> LoadError {
        let value = String::from_utf8_lossy(self.get(c)).chars().take(60).collect::<String>();
        LoadError {
            file: self.file.clone(),
            line: Some(self.line()),
            column: Some(self.names[c].to_owned()),
            message: if value.is_empty() { format!("the value {what}") } else { format!("`{value}` {what}") },
        }
    }

    /// A row group's error, with this file's name and column names.
    fn batch_error(&self, e: super::parquet::GroupError) -> LoadError {
        LoadError {
            file: self.file.clone(),
            line: e.row,
            column: e.column.map(|c| self.names[c].to_owned()),
            message: e.message,
        }
    }

    fn int(&self, c: usize) -> Result<Option<i64>, LoadError> {
        let v = self.get(c);
        if v.is_empty() {
            return Ok(None);
        }
        let s = std::str::from_utf8(v).map_err(|_| self.error(c, "is not a number"))?;
        // Some exports write integers as `100.0`.
        let s = s.strip_suffix(".0").unwrap_or(s);
        s.parse::<i64>().map(Some).map_err(|_| self.error(c, "is not an integer"))
    }

    /// A datetime/datetimeoffset/date as `YYYY-MM-DD` (its date part); empty → None.
    fn date(&self, c: usize) -> Result<Option<String>, LoadError> {
        let v = self.get(c);
        if v.is_empty() {
            return Ok(None);
        }
        iso_date(v).map(Some).ok_or_else(|| self.error(c, "is not a date (expected e.g. 2024-03-01T10:15:00Z)"))
    }

    /// A `YYYYMMDD` integer date (or an ISO date); `0` or empty → None (R8).
    fn int_date(&self, c: usize) -> Result<Option<String>, LoadError> {
        let v = self.get(c);
        if v.is_empty() || v == b"0" {
            return Ok(None);
        }
        if v.len() == 8 && v.iter().all(u8::is_ascii_digit) {
            let s = std::str::from_utf8(v).unwrap_or_default();
            let iso = format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]);
            if valid_ymd(iso.as_bytes()) {
                return Ok(Some(iso));
            }
        } else if let Some(iso) = iso_date(v) {
            return Ok(Some(iso));
        }
        Err(self.error(c, "is not a date (expected YYYYMMDD, or 0 for none)"))
    }

    /// A JSON-array string column (`["a","b"]`); also tolerates a bare comma-separated list.
    fn list(&self, c: usize) -> Result<Vec<String>, LoadError> {
        let v = self.text(c)?;
        if v.is_empty() || v == "[]" {
            return Ok(Vec::new());
        }
        if v.starts_with('[') {
            return serde_json::from_str::<Vec<String>>(&v)
                .map_err(|_| self.error(c, "is not a JSON array of strings"));
        }
        Ok(v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
    }
}

fn valid_ymd(d: &[u8]) -> bool {
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        std::str::from_utf8(&d[r]).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
    };
    matches!((num(0..4), num(5..7), num(8..10)), (Some(y), Some(m), Some(day)) if y >= 1900 && (1..=12).contains(&m) && (1..=31).contains(&day))
}

/// The `YYYY-MM-DD` part of a date or datetime text.
fn iso_day(v: &[u8]) -> Option<&[u8]> {
    let d = v.get(..10)?;
    if !valid_ymd(d) {
        return None;
    }
    // After the date: nothing, or a time part.
    if v.len() > 10 && !matches!(v[10], b'T' | b' ' | b't') {
        return None;
    }
    Some(d)
}

fn iso_date(v: &[u8]) -> Option<String> {
    iso_day(v).and_then(|d| String::from_utf8(d.to_vec()).ok())
}

/// R2: trimmed, lower case, braces stripped.
pub fn normalize_object_id(s: &str) -> String {
    s.trim().trim_start_matches('{').trim_end_matches('}').trim().to_ascii_lowercase()
}

fn absolute(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        None
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Some(url.to_owned())
    } else if url.starts_with('/') {
        Some(format!("{LEARN_SITE}{url}"))
    } else {
        Some(format!("{LEARN_SITE}/{url}"))
    }
}

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

/// FxHash (rustc's hasher): the userId and unit uid lookups run once per row, millions of times, and
/// SipHash's DoS resistance buys nothing for files the admin loads.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// What the Progress rows add up to.
#[derive(Default)]
struct ProgressAgg {
    rows: u64,
    orphans: u64,
    xp: Vec<i64>,
    /// (learner, module) → unit rows.
    started: FastMap<(u32, u32), u32>,
}

impl ProgressAgg {
    fn merge(mut self, other: ProgressAgg) -> ProgressAgg {
        self.rows += other.rows;
        self.orphans += other.orphans;
        for (a, b) in self.xp.iter_mut().zip(other.xp) {
            *a += b;
        }
        for (k, v) in other.started {
            *self.started.entry(k).or_insert(0) += v;
        }
        self
    }
}

fn progress_rows(
    mut t: Table,
    by_user: &FastMap<Vec<u8>, u32>,
    unit_module: &FastMap<Vec<u8>, u32>,
    learners: usize,
) -> Result<ProgressAgg, LoadError> {
    let mut agg = ProgressAgg { xp: vec![0; learners], ..Default::default() };
    while t.next()? {
        agg.rows += 1;
        let xp = t.int(3)?.unwrap_or(0);
        if t.index[5].is_some() && !t.get(5).is_empty() && iso_day(t.get(5)).is_none() {
            return Err(t.error(5, "is not a date (expected e.g. 2024-03-01T10:15:00Z)"));
        }
        let Some(&who) = by_user.get(t.get(0)) else {
            agg.orphans += 1;
            continue;
        };
        agg.xp[who as usize] += xp;
        if t.get(1).eq_ignore_ascii_case(b"unit")
            && let Some(&m) = unit_module.get(t.get(2))
        {
            *agg.started.entry((who, m)).or_insert(0) += 1;
        }
    }
    Ok(agg)
}

/// Files above this size are read in two halves in parallel.
const PARALLEL_BYTES: u64 = if cfg!(test) { 1 << 10 } else { 64 << 20 };

/// Reads Progress; a large file in two halves split at a line end, one per thread. The split is used
/// only when the first half holds an even number of quote characters (so it cannot fall inside a
/// quoted field); otherwise the file is read in one pass.
fn read_progress(
    t: Table,
    path: &Path,
    by_user: &FastMap<Vec<u8>, u32>,
    unit_module: &FastMap<Vec<u8>, u32>,
    learners: usize,
) -> Result<ProgressAgg, LoadError> {
    if matches!(t.reader, Source::Parquet(_)) {
        return progress_parquet(&t, path, by_user, unit_module, learners);
    }
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let csv = matches!(t.reader, Source::Csv(_));
    let split = if csv && len > PARALLEL_BYTES { split_point(path, t.header_end, len) } else { None };
    let Some((split, lines_before)) = split else {
        return progress_rows(t, by_user, unit_module, learners);
    };
    let first = t.chunk(path, t.header_end, split, 1)?;
    let second = t.chunk(path, split, len, lines_before)?;
    std::thread::scope(|scope| {
        let other = scope.spawn(|| progress_rows(second, by_user, unit_module, learners));
        let a = progress_rows(first, by_user, unit_module, learners);
        let b = other.join().map_err(|_| file_error(&t.file, "a reader thread panicked"))?;
        // The first error in file order wins.
        Ok(a?.merge(b?))
    })
}

/// The error for the value in row `row` (of the batch) and asked-for column `c`, worded like
/// [`Table::error`].
fn cell_error(b: &super::parquet::Batch, row: usize, c: usize, what: &str) -> super::parquet::GroupError {
    let value = b.columns[c].as_ref().map(|a| super::parquet::shown(a.as_ref(), row)).unwrap_or_default();
    let message = if value.is_empty() { format!("the value {what}") } else { format!("`{value}` {what}") };
    super::parquet::GroupError { row: Some(b.first_row + row as u64 + 1), column: Some(c), message }
}

/// Progress from Parquet: whole row groups as Arrow arrays, on every core, with the rules of
/// [`progress_rows`] (same errors, naming the row). userId, SourceType and SourceUid are looked up
/// once per distinct value of a row group (the columns are dictionary-encoded).
fn progress_parquet(
    t: &Table,
    path: &Path,
    by_user: &FastMap<Vec<u8>, u32>,
    unit_module: &FastMap<Vec<u8>, u32>,
    learners: usize,
) -> Result<ProgressAgg, LoadError> {
    use super::parquet::{GroupError, dates_ok, for_each_batch, ints, per_value};
    const USER: usize = 0;
    const TYPE: usize = 1;
    const UNIT: usize = 2;
    const XP: usize = 3;
    const ON: usize = 5;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    // XPReason (4) is not needed.
    let wanted: Vec<Option<usize>> = t.index.iter().enumerate().map(|(c, i)| i.filter(|_| c != 4)).collect();
    let names = &t.names;
    let accs = for_each_batch(
        path,
        &wanted,
        threads,
        || ProgressAgg { xp: vec![0; learners], ..Default::default() },
        |agg, b| {
            let fail = |row: usize, c: usize, what: &str| cell_error(b, row, c, what);
            let col = |c: usize| b.columns[c].as_deref();
            // Per row: the learner, whether it is unit progress, the unit's module, XP, a valid date.
            let strings = |c: usize, what: &str| GroupError::from(format!("column {} is not text ({what})", names[c]));
            let who: Vec<Option<u32>> = match col(USER) {
                Some(a) => per_value(a, |v| by_user.get(v).copied()).ok_or_else(|| strings(USER, "a userId"))?,
                None => vec![None; b.rows],
            };
            let unit: Vec<bool> = match col(TYPE) {
                Some(a) => per_value(a, |v| v.eq_ignore_ascii_case(b"unit")).ok_or_else(|| strings(TYPE, "a type"))?,
                None => vec![false; b.rows],
            };
            let module: Vec<Option<u32>> = match col(UNIT) {
                Some(a) => per_value(a, |v| unit_module.get(v).copied()).ok_or_else(|| strings(UNIT, "a uid"))?,
                None => vec![None; b.rows],
            };
            let xp: Vec<Result<Option<i64>, ()>> = match col(XP) {
                Some(a) => match ints(a) {
                    Some(v) => v,
                    None => per_value(a, |v| {
                        let v = v.strip_suffix(b".0").unwrap_or(v);
                        if v.is_empty() {
                            return Ok(None);
                        }
                        std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()).map(Some).ok_or(())
                    })
                    .unwrap_or_else(|| vec![Err(()); b.rows]),
                },
                None => vec![Ok(None); b.rows],
            };
            let dated: Option<Vec<bool>> = col(ON).map(|a| {
                dates_ok(a)
                    .or_else(|| per_value(a, |v| v.is_empty() || iso_day(v).is_some()))
                    .unwrap_or_else(|| vec![false; b.rows])
            });
            for row in 0..b.rows {
                agg.rows += 1;
                let Ok(points) = xp[row] else { return Err(fail(row, XP, "is not an integer")) };
                if dated.as_ref().is_some_and(|d| !d[row]) {
                    return Err(fail(row, ON, "is not a date (expected e.g. 2024-03-01T10:15:00Z)"));
                }
                let Some(who) = who[row] else {
                    agg.orphans += 1;
                    continue;
                };
                agg.xp[who as usize] += points.unwrap_or(0);
                if unit[row]
                    && let Some(m) = module[row]
                {
                    *agg.started.entry((who, m)).or_insert(0) += 1;
                }
            }
            Ok(())
        },
    )
    .map_err(|e| t.batch_error(e))?;
    Ok(accs.into_iter().reduce(ProgressAgg::merge).unwrap_or_default())
}

/// Badges and trophies (learner, is a badge, award) from a Parquet Achievements file in file order, with
/// the rows read and the orphans: the rules of the text path (AwardedOn required and a date, awards
/// before [`COMPLETIONS_SINCE`] left out, the uid required), row groups on every core.
#[allow(clippy::type_complexity)]
fn achievements_parquet(
    t: &Table,
    path: &Path,
    by_user: &FastMap<Vec<u8>, u32>,
) -> Result<(Vec<(u32, bool, Award)>, u64, u64), LoadError> {
    use super::parquet::{GroupError, day_texts, for_each_batch, per_value};
    const USER: usize = 0;
    const TYPE: usize = 1;
    const UID: usize = 2;
    const ON: usize = 3;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let wanted: Vec<Option<usize>> = t.index.iter().enumerate().map(|(c, i)| i.filter(|_| c <= ON)).collect();
    let names = &t.names;
    // Per thread: (first row of the batch, its awards, rows, orphans).
    type Part = (u64, Vec<(u32, bool, Award)>, u64, u64);
    let parts = for_each_batch(path, &wanted, threads, Vec::<Part>::new, |parts, b| {
        let fail = |row: usize, c: usize, what: &str| cell_error(b, row, c, what);
        let text = |c: usize| GroupError::from(format!("column {} is not text", names[c]));
        let col = |c: usize| b.columns[c].as_deref();
        let who: Vec<Option<u32>> = match col(USER) {
            Some(a) => per_value(a, |v| by_user.get(v).copied()).ok_or_else(|| text(USER))?,
            None => vec![None; b.rows],
        };
        // Some(true) badge, Some(false) trophy, None anything else.
        let kind: Vec<Option<bool>> = match col(TYPE) {
            Some(a) => per_value(a, |v| {
                if v.eq_ignore_ascii_case(b"badge") {
                    Some(true)
                } else if v.eq_ignore_ascii_case(b"trophy") {
                    Some(false)
                } else {
                    None
                }
            })
            .ok_or_else(|| text(TYPE))?,
            None => vec![None; b.rows],
        };
        let uid: Vec<Result<Shared, &str>> = match col(UID) {
            Some(a) => per_value(a, |v| match std::str::from_utf8(v) {
                Ok("") => Err("is empty"),
                Ok(s) => Ok(Shared::from(s)),
                Err(_) => Err("is not valid UTF-8"),
            })
            .ok_or_else(|| text(UID))?,
            None => vec![Err("is empty"); b.rows],
        };
        let on: Vec<Option<Result<String, ()>>> = match col(ON) {
            Some(a) => day_texts(a)
                .or_else(|| {
                    per_value(a, |v| {
                        (!v.is_empty()).then(|| iso_day(v).map(|d| String::from_utf8_lossy(d).into_owned()).ok_or(()))
                    })
                })
                .ok_or_else(|| text(ON))?,
            None => vec![None; b.rows],
        };
        let mut awards = Vec::new();
        let mut orphans = 0;
        let mut days: FastMap<&str, Shared> = FastMap::default();
        for row in 0..b.rows {
            let on = match &on[row] {
                None => return Err(fail(row, ON, "is missing")),
                Some(Err(())) => return Err(fail(row, ON, "is not a date (expected e.g. 2024-03-01T10:15:00Z)")),
                Some(Ok(d)) => d,
            };
            let Some(who) = who[row] else {
                orphans += 1;
                continue;
            };
            if on.as_str() < COMPLETIONS_SINCE {
                continue;
            }
            let uid = uid[row].clone().map_err(|what| fail(row, UID, what))?;
            if let Some(badge) = kind[row] {
                let on = days.entry(on.as_str()).or_insert_with(|| Shared::from(on.as_str())).clone();
                awards.push((who, badge, Award { uid, on }));
            }
        }
        parts.push((b.first_row, awards, b.rows as u64, orphans));
        Ok(())
    })
    .map_err(|e| t.batch_error(e))?;
    let mut parts: Vec<Part> = parts.into_iter().flatten().collect();
    parts.sort_unstable_by_key(|p| p.0);
    let (mut rows, mut orphans) = (0, 0);
    let mut awards = Vec::new();
    for (_, a, r, o) in parts {
        awards.extend(a);
        rows += r;
        orphans += o;
    }
    Ok((awards, rows, orphans))
}

/// A line start near the middle of `path`'s rows, with the number of lines before it, when the bytes
/// before it hold an even number of `"` (never inside a quoted field).
fn split_point(path: &Path, header_end: u64, len: u64) -> Option<(u64, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mid = header_end + (len - header_end) / 2;
    let mut buf = vec![0u8; 1 << 20];
    let (mut pos, mut quotes, mut lines) = (0u64, 0usize, 0u64);
    loop {
        let want = ((mid - pos) as usize).min(buf.len());
        let got = if want == 0 { 0 } else { f.read(&mut buf[..want]).ok()? };
        if want == 0 || got == 0 {
            break;
        }
        quotes += memchr::memchr_iter(b'"', &buf[..got]).count();
        lines += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
        pos += got as u64;
    }
    // On to the end of the line `mid` is in.
    let mut tail = [0u8; 1 << 16];
    loop {
        let got = f.read(&mut tail).ok()?;
        if got == 0 {
            return None;
        }
        if let Some(i) = memchr::memchr(b'\n', &tail[..got]) {
            quotes += memchr::memchr_iter(b'"', &tail[..i]).count();
            pos += i as u64 + 1;
            lines += 1;
            break;
        }
        quotes += memchr::memchr_iter(b'"', &tail[..got]).count();
        pos += got as u64;
    }
    (quotes % 2 == 0 && pos < len).then_some((pos, lines))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("scimgw-load-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&p).expect("mkdir");
            Dir(p)
        }
        fn write(&self, name: &str, text: &str) {
            std::fs::write(self.0.join(name), text).expect("write");
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const NOW: &str = "2026-11-23T00:00:00Z";

    #[test]
    fn file_names_with_and_without_tenant_suffix() {
        let of = |n: &str| Dataset::of_file(Path::new(n));
        assert_eq!(of("Users.csv"), Some(Dataset::Users));
        assert_eq!(of("users_3f1e0000-aaaa.csv"), Some(Dataset::Users));
        assert_eq!(of("HierarchyLearningPathModule.csv"), Some(Dataset::HierarchyLearningPathModule));
        assert_eq!(of("hierarchylearningpath-xyz.csv"), Some(Dataset::HierarchyLearningPath));
        assert_eq!(of("dbo.Progress.csv"), Some(Dataset::Progress));
        assert_eq!(of("UsersExtra.csv"), None);
    }

    #[test]
    fn loads_and_aggregates() {
        let d = Dir::new();
        d.write("users_t1.csv", "tenantId,userId,AADObjectId,CreatedOn\nt1,L1,{7F3C1E2A-5B6D-4C8E-9F00-1234567890A1},2023-01-02T03:04:05Z\nt1,L2,abc,\n");
        d.write(
            "Progress.csv",
            "tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n\
             t1,L1,points.unit.basic.completed,Unit,learn.m1.1-intro,100,2024-03-01T00:00:00Z\n\
             t1,L1,points.unit.basic.completed,Unit,learn.m1.2-next,100,2024-03-01T00:00:00Z\n\
             t1,L1,points.module.basic.completed,Module,learn.m1,200,2024-03-01T00:00:00Z\n\
             t1,L9,points.module.basic.completed,Module,learn.m1,200,2024-03-01T00:00:00Z\n",
        );
        d.write("HierarchyUnit.csv", "unitUid,title,url,durationInMinutes,points,moduleUid\nlearn.m1.1-intro,I,/u,1,100,m1\nlearn.m1.2-next,N,/u,1,100,m1\n");
        d.write("HierarchyModule.csv", "moduleUid,title,url,iconUrl,durationInMinutes,points,levels,products,roles,languages\nm1,Module one,/training/modules/m1/,,30,200,\"[\"\"beginner\"\"]\",\"[\"\"azure\"\"]\",[],[]\n");
        d.write("Achievements.csv", "tenantId,userId,awardReason,awardType,awardUid,SourceType,SourceUid,AwardedOn\nt1,L1,badge.module.basic.completed,Badge,m1.badge,Module,m1,2024-03-01T00:00:00Z\nt1,L1,badge.module.basic.completed,Badge,m0.badge,Module,m0,2017-09-30T00:00:00Z\n");
        d.write("Certifications.csv", "tenantID,userId,AwardType,TranscriptName,SourceUid,AwardedOn,CertificationStartDate,CertificationEndDate,StayCurrentEligibilityStartDate\nt1,L1,Certification,Azure AI,certification.ai,20240115,20240115,20250115,0\n");
        let s = load_dir(&d.0, NOW).expect("load");
        assert_eq!(s.learners.len(), 2);
        let l1 = &s.learners[0];
        assert_eq!(l1.aad_object_id, "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1");
        assert_eq!(l1.created_on.as_deref(), Some("2023-01-02"));
        assert_eq!(l1.total_xp, 400);
        assert_eq!(l1.modules_started, vec![Started { module: "m1".into(), units: 2 }]);
        assert_eq!(l1.modules_completed, vec![Award { uid: "m1".into(), on: "2024-03-01".into() }]);
        let c = &l1.certifications[0];
        assert_eq!(
            (c.awarded_on.as_deref(), c.end.as_deref(), c.stay_current_from.as_deref()),
            (Some("2024-01-15"), Some("2025-01-15"), None)
        );
        assert_eq!(s.stats.orphan_rows, 1);
        let m = &s.catalog.modules["m1"];
        assert_eq!(m.url.as_deref(), Some("https://learn.microsoft.com/training/modules/m1/"));
        assert_eq!((m.levels.clone(), m.products.clone()), (vec!["beginner".to_owned()], vec!["azure".to_owned()]));
    }

    fn err(files: &[(&str, &str)]) -> LoadError {
        let d = Dir::new();
        d.write("Users.csv", "tenantId,userId,AADObjectId,CreatedOn\nt1,L1,o1,2023-01-01\n");
        for (n, t) in files {
            d.write(n, t);
        }
        load_dir(&d.0, NOW).expect_err("must fail")
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = err(&[("Progress.csv", "")]);
        assert_eq!((e.file.as_str(), e.line), ("Progress.csv", Some(1)), "{e}");
        let e = err(&[("Progress.csv", "tenantId,userId,SourceType,SourceUid,XP\nt1,L1,Unit,u1,100\nt1,L1,Unit\n")]);
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("truncated"), "{e}");
        let e = err(&[("Progress.csv", "tenantId,userId,SourceType,SourceUid,XP\nt1,L1,Unit,u1,lots\n")]);
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("XP")), "{e}");
        let e = err(&[("Certifications.csv", "tenantId,userId,SourceUid,AwardedOn\nt1,L1,c1,20241341\n")]);
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("AwardedOn")), "{e}");
        assert!(e.to_string().starts_with("Certifications.csv, line 2, column AwardedOn: `20241341`"), "{e}");
        let e = err(&[("Achievements.csv", "tenantId,userId,awardType\nt1,L1,Badge\n")]);
        assert_eq!(e.column.as_deref(), Some("SourceUid"), "{e}");
        let d = Dir::new();
        d.write("Progress.csv", "tenantId,userId\n");
        assert!(load_dir(&d.0, NOW).expect_err("no users").message.contains("no Users dataset"));
    }

    #[test]
    fn a_large_progress_file_is_read_in_two_halves_with_the_same_result() {
        let d = Dir::new();
        d.write("Users.csv", "tenantId,userId,AADObjectId\nt,L1,o1\nt,L2,o2\n");
        d.write("HierarchyUnit.csv", "unitUid,moduleUid\nu1,m1\nu2,m2\n");
        let mut text = String::from("tenantId,userId,XPReason,SourceType,SourceUid,XP,AwardedOn\n");
        for i in 0..400 {
            let (user, unit) = if i % 3 == 0 { ("L1", "u1") } else { ("L2", "u2") };
            text.push_str(&format!(
                "t,{user},points.unit.basic.completed,Unit,{unit},{},2024-01-01T00:00:00Z\n",
                i % 7
            ));
        }
        d.write("Progress.csv", &text);
        let s = load_dir(&d.0, NOW).expect("load");
        let want =
            |user: &str| (0..400).filter(|i| (i % 3 == 0) == (user == "L1")).map(|i| (i % 7) as i64).sum::<i64>();
        assert_eq!(s.learners[0].total_xp, want("L1"));
        assert_eq!(s.learners[1].total_xp, want("L2"));
        assert_eq!(s.learners[0].modules_started, vec![Started { module: "m1".into(), units: 134 }]);
        assert_eq!(s.stats.rows["Progress"], 400);
        // An error in the second half names its line in the whole file.
        let mut bad = text.clone();
        bad.push_str("t,L1,points.unit.basic.completed,Unit,u1,many,2024-01-01T00:00:00Z\n");
        d.write("Progress.csv", &bad);
        let e = load_dir(&d.0, NOW).expect_err("bad XP");
        assert_eq!((e.line, e.column.as_deref()), (Some(402), Some("XP")), "{e}");
    }

    type ColumnWrite = Box<dyn Fn(&mut parquet::file::writer::SerializedColumnWriter<'_>)>;

    /// A REQUIRED text column holding `values`.
    fn texts(values: [&'static str; 3]) -> ColumnWrite {
        Box::new(move |c| {
            let v: Vec<parquet::data_type::ByteArray> = values.iter().map(|s| (*s).into()).collect();
            c.typed::<parquet::data_type::ByteArrayType>().write_batch(&v, None, None).expect("write");
        })
    }

    /// A Parquet file as Data Share writes one (typed columns: timestamps, integers, nulls).
    fn write_parquet(path: &Path, message: &str, columns: Vec<ColumnWrite>) {
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(message).expect("schema"));
        let props = std::sync::Arc::new(WriterProperties::builder().build());
        let file = std::fs::File::create(path).expect("create");
        let mut w = SerializedFileWriter::new(file, schema, props).expect("writer");
        let mut rg = w.next_row_group().expect("row group");
        for write in &columns {
            let mut c = rg.next_column().expect("column").expect("one more column");
            write(&mut c);
            c.close().expect("close column");
        }
        rg.close().expect("close row group");
        w.close().expect("close file");
    }

    #[test]
    fn parquet_files_load_like_csv() {
        use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
        let d = Dir::new();
        let bytes = |v: &[&str]| v.iter().map(|s| ByteArray::from(*s)).collect::<Vec<_>>();
        write_parquet(
            &d.0.join("Users.parquet"),
            "message schema { REQUIRED BINARY userId (UTF8); OPTIONAL BINARY AADObjectId (UTF8); OPTIONAL INT64 CreatedOn (TIMESTAMP(MICROS,true)); }",
            vec![
                Box::new(move |c| {
                    c.typed::<ByteArrayType>().write_batch(&bytes(&["L1", "L2"]), None, None).expect("write");
                }),
                Box::new(move |c| {
                    let v = [ByteArray::from("{7F3C1E2A-5B6D-4C8E-9F00-1234567890A1}")];
                    c.typed::<ByteArrayType>().write_batch(&v, Some(&[1, 0]), None).expect("write");
                }),
                Box::new(|c| {
                    // 2024-03-01T10:15:00Z in microseconds.
                    c.typed::<Int64Type>().write_batch(&[1_709_288_100_000_000], Some(&[1, 0]), None).expect("write");
                }),
            ],
        );
        write_parquet(
            &d.0.join("Progress_t1.parquet"),
            "message schema { REQUIRED BINARY userId (UTF8); REQUIRED BINARY SourceType (UTF8); REQUIRED BINARY SourceUid (UTF8); REQUIRED INT64 XP; OPTIONAL INT64 AwardedOn (TIMESTAMP(MILLIS,true)); }",
            vec![
                texts(["L1", "L1", "L2"]),
                texts(["Unit", "Module", "Unit"]),
                texts(["u1", "m1", "u1"]),
                Box::new(|c| {
                    c.typed::<Int64Type>().write_batch(&[100, 200, 100], None, None).expect("write");
                }),
                Box::new(|c| {
                    c.typed::<Int64Type>()
                        .write_batch(&[1_709_288_100_000, 1_709_288_200_000], Some(&[1, 1, 0]), None)
                        .expect("write");
                }),
            ],
        );
        d.write("HierarchyUnit.csv", "unitUid,moduleUid\nu1,m1\n");
        let s = load_dir(&d.0, NOW).expect("load");
        assert_eq!(s.learners.len(), 2);
        assert_eq!(s.learners[0].aad_object_id, "7f3c1e2a-5b6d-4c8e-9f00-1234567890a1");
        assert_eq!(s.learners[0].created_on.as_deref(), Some("2024-03-01"));
        assert_eq!((s.learners[0].total_xp, s.learners[1].total_xp), (300, 100));
        assert_eq!(s.learners[0].modules_started, vec![Started { module: "m1".into(), units: 1 }]);
        assert_eq!(s.stats.files["Progress"], "Progress_t1.parquet");
        // Progress with XP as text (read through the same rules): a bad value names the row and column.
        let progress = |xp: [&'static str; 3]| {
            write_parquet(
                &d.0.join("Progress_t1.parquet"),
                "message schema { REQUIRED BINARY userId (UTF8); REQUIRED BINARY SourceType (UTF8); REQUIRED BINARY SourceUid (UTF8); OPTIONAL BINARY XP (UTF8); }",
                vec![
                    texts(["L1", "L9", "L2"]),
                    texts(["Unit", "Unit", "unit"]),
                    texts(["u1", "u1", " u1 "]),
                    Box::new(move |c| {
                        let v: Vec<ByteArray> = xp.iter().map(|s| ByteArray::from(*s)).collect();
                        c.typed::<ByteArrayType>().write_batch(&v, Some(&[1, 1, 1]), None).expect("write");
                    }),
                ],
            )
        };
        progress(["100.0", "7", " 40 "]);
        let s = load_dir(&d.0, NOW).expect("load");
        assert_eq!((s.learners[0].total_xp, s.learners[1].total_xp), (100, 40));
        assert_eq!(s.stats.orphan_rows, 1, "L9 is not a Learn user");
        assert_eq!(s.learners[1].modules_started, vec![Started { module: "m1".into(), units: 1 }]);
        progress(["100", "7", "4x"]);
        let e = load_dir(&d.0, NOW).expect_err("bad XP");
        assert_eq!((e.file.as_str(), e.line, e.column.as_deref()), ("Progress_t1.parquet", Some(3), Some("XP")), "{e}");
        assert!(e.to_string().contains("`4x` is not an integer"), "{e}");
        // A file that is not Parquet is refused with its name.
        d.write("Users.parquet", "not parquet");
        let e = load_dir(&d.0, NOW).expect_err("bad file");
        assert_eq!(e.file, "Users.parquet", "{e}");
    }

    #[test]
    fn header_spelling_variants() {
        for header in ["tenantID", "tenantId", "TENANTID"] {
            let d = Dir::new();
            d.write("Users.csv", "tenantId,USERID,aadobjectid\nt1,L1,o1\n");
            d.write("Certifications.csv", &format!("{header},userId,SourceUid,AwardedOn\nt1,L1,c1,20240115\n"));
            let s = load_dir(&d.0, NOW).expect("load");
            assert_eq!(s.learners[0].certifications.len(), 1);
        }
    }
}
