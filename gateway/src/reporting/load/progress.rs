//! Progress, the largest dataset: XP per learner and units done per started module, aggregated while
//! streaming. A large CSV file is read in two halves on two threads; a Parquet file by row groups on every
//! core. Both paths apply the same rules and word errors the same way.

use std::path::Path;

use super::error::{LoadError, file_error};
use super::hash::FastMap;
use super::table::{Source, Table, cell_error};
use super::values::iso_day;

/// What the Progress rows add up to.
#[derive(Default)]
pub(super) struct ProgressAgg {
    pub(super) rows: u64,
    pub(super) orphans: u64,
    pub(super) xp: Vec<i64>,
    /// (learner, module) → unit rows.
    pub(super) started: FastMap<(u32, u32), u32>,
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
pub(super) fn read_progress(
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
    use crate::reporting::parquet::{GroupError, dates_ok, for_each_batch, ints, per_value};
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
