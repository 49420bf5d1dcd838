//! Achievements from a Parquet file: badges and trophies by row groups on every core, with the rules of the
//! CSV path in `load_dir` (AwardedOn required, awards before [`COMPLETIONS_SINCE`] left out).

use std::path::Path;

use super::error::LoadError;
use super::hash::FastMap;
use super::table::{Table, cell_error};
use super::values::iso_day;
use crate::reporting::model::{Award, COMPLETIONS_SINCE, Shared};

/// Badges and trophies (learner, is a badge, award) from a Parquet Achievements file in file order, with
/// the rows read and the orphans: the rules of the text path (AwardedOn required and a date, awards
/// before [`COMPLETIONS_SINCE`] left out, the uid required), row groups on every core.
#[allow(clippy::type_complexity)]
pub(super) fn achievements_parquet(
    t: &Table,
    path: &Path,
    by_user: &FastMap<Vec<u8>, u32>,
) -> Result<(Vec<(u32, bool, Award)>, u64, u64), LoadError> {
    use crate::reporting::parquet::{GroupError, day_texts, for_each_batch, per_value};
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
