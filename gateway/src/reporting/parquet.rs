//! Parquet datasets (Data Share's other file format), read one row group at a time, column by column.
//!
//! Two ways in: [`ParquetRows`] hands the loader one row at a time as text fields, so Parquet and CSV go
//! through the same rules (timestamps become their UTC date `YYYY-MM-DD`, DATE columns likewise, numbers
//! their decimal text); [`for_each_batch`] gives the big dataset (Progress) whole row groups as Arrow
//! arrays, read on several threads, with string columns kept dictionary-encoded so a lookup runs once
//! per distinct value ([`per_value`]) instead of once per row.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field, Schema, TimeUnit as ArrowTimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};
use parquet::schema::types::ColumnDescriptor;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How a column's values read as text.
#[derive(Clone, Copy)]
enum Shape {
    Plain,
    /// Int64 timestamp in this many units per second.
    Timestamp(i64),
    /// Int32 days since 1970-01-01.
    Date,
}

enum Values {
    Bytes(Vec<ByteArray>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
}

/// One column of one row group.
struct Column {
    shape: Shape,
    values: Values,
    /// Row → position among the values (`u32::MAX` = null); `None` when the row group has no nulls in
    /// this column (row = position).
    dense: Option<Vec<u32>>,
}

/// `YYYY-MM-DD` of a day number counted from 1970-01-01.
fn write_date(out: &mut Vec<u8>, days: i64) {
    match day(days) {
        Some(d) => {
            let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        }
        None => out.extend_from_slice(b"out-of-range-date"),
    }
}

fn day(days: i64) -> Option<time::Date> {
    // Julian day 2,440,588 is 1970-01-01.
    i32::try_from(days + 2_440_588).ok().and_then(|j| time::Date::from_julian_day(j).ok())
}

fn read_values<T: DataType>(mut r: ColumnReaderImpl<T>, rows: usize, defs: &mut Vec<i16>) -> Result<Vec<T::T>, String> {
    let mut v = Vec::with_capacity(rows);
    let mut records = 0;
    while records < rows {
        let (n, _, _) = r.read_records(rows - records, Some(defs), None, &mut v).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        records += n;
    }
    Ok(v)
}

impl Column {
    fn read(rg: &dyn RowGroupReader, descr: &ColumnDescriptor, i: usize, rows: usize) -> Result<Column, String> {
        let shape = match (descr.logical_type_ref(), descr.converted_type()) {
            (Some(LogicalType::Timestamp(t)), _) => Shape::Timestamp(match t.unit {
                TimeUnit::MILLIS => 1_000,
                TimeUnit::MICROS => 1_000_000,
                TimeUnit::NANOS => 1_000_000_000,
            }),
            (Some(LogicalType::Date), _) | (None, ConvertedType::DATE) => Shape::Date,
            (None, ConvertedType::TIMESTAMP_MILLIS) => Shape::Timestamp(1_000),
            (None, ConvertedType::TIMESTAMP_MICROS) => Shape::Timestamp(1_000_000),
            _ => Shape::Plain,
        };
        let max_def = descr.max_def_level();
        let mut defs = Vec::with_capacity(if max_def > 0 { rows } else { 0 });
        let values = match rg.get_column_reader(i).map_err(|e| e.to_string())? {
            ColumnReader::ByteArrayColumnReader(r) => Values::Bytes(read_values(r, rows, &mut defs)?),
            ColumnReader::Int64ColumnReader(r) => Values::I64(read_values(r, rows, &mut defs)?),
            ColumnReader::Int32ColumnReader(r) => Values::I32(read_values(r, rows, &mut defs)?),
            ColumnReader::DoubleColumnReader(r) => Values::F64(read_values(r, rows, &mut defs)?),
            ColumnReader::FloatColumnReader(r) => Values::F32(read_values(r, rows, &mut defs)?),
            ColumnReader::BoolColumnReader(r) => Values::Bool(read_values(r, rows, &mut defs)?),
            _ => {
                return Err(format!(
                    "column {} has a Parquet type this loader does not read (INT96 or fixed-length bytes)",
                    descr.name()
                ));
            }
        };
        let dense = (max_def > 0 && defs.iter().any(|d| *d < max_def)).then(|| {
            let mut next = 0u32;
            defs.iter()
                .map(|d| {
                    if *d < max_def {
                        u32::MAX
                    } else {
                        next += 1;
                        next - 1
                    }
                })
                .collect()
        });
        Ok(Column { shape, values, dense })
    }

    /// The position of `row`'s value; `None` when it is null.
    #[inline]
    fn at(&self, row: usize) -> Option<usize> {
        match &self.dense {
            None => Some(row),
            Some(d) => d.get(row).copied().filter(|i| *i != u32::MAX).map(|i| i as usize),
        }
    }

    /// The value of `row` as text (what a CSV file would hold): strings as they are, numbers in decimal,
    /// timestamps and dates as `YYYY-MM-DD`; empty for null. Non-string values are written to `scratch`.
    fn text<'a>(&'a self, row: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let Some(i) = self.at(row) else { return b"" };
        scratch.clear();
        let s = &mut *scratch;
        match (&self.values, self.shape) {
            (Values::Bytes(v), _) => return v.get(i).map_or(&[][..], ByteArray::data),
            (Values::I64(v), Shape::Timestamp(per_sec)) => {
                let t = v.get(i).copied().unwrap_or(0);
                write_date(s, t.div_euclid(per_sec).div_euclid(86_400));
            }
            (Values::I32(v), Shape::Date) => write_date(s, i64::from(v.get(i).copied().unwrap_or(0))),
            (Values::I64(v), _) => {
                let _ = write!(s, "{}", v.get(i).copied().unwrap_or(0));
            }
            (Values::I32(v), _) => {
                let _ = write!(s, "{}", v.get(i).copied().unwrap_or(0));
            }
            (Values::F64(v), _) => {
                let _ = write!(s, "{}", v.get(i).copied().unwrap_or(0.0));
            }
            (Values::F32(v), _) => {
                let _ = write!(s, "{}", v.get(i).copied().unwrap_or(0.0));
            }
            (Values::Bool(v), _) => {
                let _ = write!(s, "{}", v.get(i).copied().unwrap_or(false));
            }
        }
        scratch
    }
}

/// An open Parquet file.
struct ParquetFile {
    reader: SerializedFileReader<File>,
    pub names: Vec<String>,
}

impl ParquetFile {
    fn open(path: &Path) -> Result<ParquetFile, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let reader = SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))?;
        let names =
            reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
        Ok(ParquetFile { reader, names })
    }

    fn groups(&self) -> usize {
        self.reader.num_row_groups()
    }

    /// Row group `g`, every column.
    fn group(&self, g: usize) -> Result<Group, String> {
        let rg = self.reader.get_row_group(g).map_err(|e| e.to_string())?;
        let rows = rg.metadata().num_rows().max(0) as usize;
        let schema = self.reader.metadata().file_metadata().schema_descr();
        let columns = (0..self.names.len())
            .map(|i| Column::read(rg.as_ref(), schema.column(i).as_ref(), i, rows))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Group { rows, columns })
    }
}

/// One row group's columns.
struct Group {
    rows: usize,
    columns: Vec<Column>,
}

/// What went wrong in a batch: the row (1-based, of the file) and the asked-for column, when known.
#[derive(Debug)]
pub struct GroupError {
    pub row: Option<u64>,
    pub column: Option<usize>,
    pub message: String,
}

impl From<String> for GroupError {
    fn from(message: String) -> GroupError {
        GroupError { row: None, column: None, message }
    }
}

/// A row group as Arrow arrays.
pub struct Batch {
    /// Rows of the file before this batch's first row.
    pub first_row: u64,
    pub rows: usize,
    /// In the order they were asked for; string columns usually as dictionary arrays.
    pub columns: Vec<Option<ArrayRef>>,
}

/// The file's Arrow schema with every string column asked for as a dictionary (Parquet writers
/// dictionary-encode them; the reader then keeps the dictionary instead of copying each row's value).
fn dictionary_metadata(file: &File) -> Result<ArrowReaderMetadata, String> {
    let plain = ArrowReaderMetadata::load(file, ArrowReaderOptions::new()).map_err(|e| e.to_string())?;
    let fields: Vec<Field> = plain
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Binary | ArrowType::LargeBinary => Field::new(
                f.name(),
                ArrowType::Dictionary(Box::new(ArrowType::Int32), Box::new(f.data_type().clone())),
                f.is_nullable(),
            ),
            _ => f.as_ref().clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    // A schema the reader refuses (nested columns…) falls back to plain arrays.
    Ok(ArrowReaderMetadata::load(file, options).unwrap_or(plain))
}

/// Runs `f` over every row group of `path` as Arrow arrays (file columns `wanted`, in that order;
/// `None` → no column), on up to `threads` threads, each with its own accumulator from `init`; returns
/// the accumulators. On errors, the one earliest in the file is returned (later row groups are not read).
pub fn for_each_batch<A: Send>(
    path: &Path,
    wanted: &[Option<usize>],
    threads: usize,
    init: impl Fn() -> A + Sync,
    f: impl Fn(&mut A, &Batch) -> Result<(), GroupError> + Sync,
) -> Result<Vec<A>, GroupError> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = dictionary_metadata(&file).map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let row_groups = meta.metadata().row_groups();
    let groups = row_groups.len();
    let mut starts = Vec::with_capacity(groups);
    let mut total = 0u64;
    for rg in row_groups {
        starts.push(total);
        total += rg.num_rows().max(0) as u64;
    }
    // The batch holds the projected columns in file order.
    let mut leaves: Vec<usize> = wanted.iter().flatten().copied().collect();
    leaves.sort_unstable();
    leaves.dedup();
    let mask = ProjectionMask::leaves(meta.parquet_schema(), leaves.iter().copied());
    let next = AtomicUsize::new(0);
    let stop_at = AtomicUsize::new(usize::MAX);
    let failed: Mutex<Option<(usize, GroupError)>> = Mutex::new(None);
    let read = |g: usize, acc: &mut A| -> Result<(), GroupError> {
        // Its own handle: a cloned one would share the file position with the other threads.
        let input = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let rows = row_groups[g].num_rows().max(1) as usize;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_projection(mask.clone())
            .with_row_groups(vec![g])
            .with_batch_size(rows)
            .build()
            .map_err(|e| e.to_string())?;
        let mut first_row = starts[g];
        for batch in reader {
            let batch =
                batch.map_err(|e| GroupError { row: Some(first_row + 1), column: None, message: e.to_string() })?;
            let columns = wanted
                .iter()
                .map(|w| w.and_then(|i| leaves.binary_search(&i).ok()).map(|k| batch.column(k).clone()))
                .collect();
            let b = Batch { first_row, rows: batch.num_rows(), columns };
            f(acc, &b)?;
            first_row += b.rows as u64;
        }
        Ok(())
    };
    let work = || -> A {
        let mut acc = init();
        loop {
            let g = next.fetch_add(1, Ordering::Relaxed);
            if g >= groups || g > stop_at.load(Ordering::Relaxed) {
                return acc;
            }
            if let Err(e) = read(g, &mut acc) {
                stop_at.fetch_min(g, Ordering::Relaxed);
                if let Ok(mut slot) = failed.lock()
                    && slot.as_ref().is_none_or(|(at, _)| g < *at)
                {
                    *slot = Some((g, e));
                }
                return acc;
            }
        }
    };
    let threads = threads.clamp(1, groups.max(1));
    let accs = std::thread::scope(|scope| -> Result<Vec<A>, GroupError> {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut accs = vec![work()];
        for h in others {
            accs.push(h.join().map_err(|_| GroupError::from("a reader thread panicked".to_owned()))?);
        }
        Ok(accs)
    })?;
    match failed.into_inner().ok().flatten() {
        Some((_, e)) => Err(e),
        None => Ok(accs),
    }
}

/// The bytes of a string or binary array's value `i` (`None` for null).
fn bytes_at(a: &dyn Array, i: usize) -> Option<&[u8]> {
    if a.is_null(i) {
        return None;
    }
    if let Some(s) = a.as_string_opt::<i32>() {
        Some(s.value(i).as_bytes())
    } else if let Some(s) = a.as_string_opt::<i64>() {
        Some(s.value(i).as_bytes())
    } else if let Some(b) = a.as_binary_opt::<i32>() {
        Some(b.value(i))
    } else {
        a.as_binary_opt::<i64>().map(|b| b.value(i))
    }
}

fn is_strings(a: &dyn Array) -> bool {
    matches!(a.data_type(), ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Binary | ArrowType::LargeBinary)
}

/// For a string column: `f` of each row's value (trimmed), computed once per distinct stored value when
/// the column is dictionary-encoded; `f(b"")` for nulls. `None` when the column does not hold strings.
pub fn per_value<T: Clone>(a: &dyn Array, mut f: impl FnMut(&[u8]) -> T) -> Option<Vec<T>> {
    if let Some(d) = a.as_dictionary_opt::<Int32Type>() {
        let values = d.values();
        if !is_strings(values.as_ref()) {
            return None;
        }
        let null = f(b"");
        let mapped: Vec<T> =
            (0..values.len()).map(|i| f(bytes_at(values.as_ref(), i).unwrap_or_default().trim_ascii())).collect();
        let keys = d.keys();
        return Some(
            (0..keys.len())
                .map(|r| {
                    if keys.is_null(r) {
                        null.clone()
                    } else {
                        mapped.get(keys.value(r) as usize).cloned().unwrap_or_else(|| null.clone())
                    }
                })
                .collect(),
        );
    }
    if !is_strings(a) {
        return None;
    }
    Some((0..a.len()).map(|r| f(bytes_at(a, r).unwrap_or_default().trim_ascii())).collect())
}

/// Days since 1970-01-01 of a timestamp or date array's value `i`; `None` for other arrays,
/// `Some(None)` for null.
fn days_at(a: &dyn Array, i: usize) -> Option<Option<i64>> {
    let per_sec = match a.data_type() {
        ArrowType::Timestamp(unit, _) => match unit {
            ArrowTimeUnit::Second => 1,
            ArrowTimeUnit::Millisecond => 1_000,
            ArrowTimeUnit::Microsecond => 1_000_000,
            ArrowTimeUnit::Nanosecond => 1_000_000_000,
        },
        ArrowType::Date32 => {
            return Some(a.as_primitive_opt::<Date32Type>().filter(|_| a.is_valid(i)).map(|v| i64::from(v.value(i))));
        }
        ArrowType::Date64 => 1_000,
        _ => return None,
    };
    if a.is_null(i) {
        return Some(None);
    }
    let raw = match a.data_type() {
        ArrowType::Date64 => a.as_primitive_opt::<Date64Type>().map(|v| v.value(i)),
        ArrowType::Timestamp(ArrowTimeUnit::Second, _) => {
            a.as_primitive_opt::<TimestampSecondType>().map(|v| v.value(i))
        }
        ArrowType::Timestamp(ArrowTimeUnit::Millisecond, _) => {
            a.as_primitive_opt::<TimestampMillisecondType>().map(|v| v.value(i))
        }
        ArrowType::Timestamp(ArrowTimeUnit::Microsecond, _) => {
            a.as_primitive_opt::<TimestampMicrosecondType>().map(|v| v.value(i))
        }
        _ => a.as_primitive_opt::<TimestampNanosecondType>().map(|v| v.value(i)),
    };
    Some(raw.map(|t| t.div_euclid(per_sec).div_euclid(86_400)))
}

fn is_date(a: &dyn Array) -> bool {
    matches!(a.data_type(), ArrowType::Timestamp(..) | ArrowType::Date32 | ArrowType::Date64)
}

/// For a timestamp or date column: per row, whether it holds a date the loader can show (null is
/// fine). `None` for other columns (check their text).
pub fn dates_ok(a: &dyn Array) -> Option<Vec<bool>> {
    if !is_date(a) {
        return None;
    }
    Some(
        (0..a.len())
            .map(|i| days_at(a, i).flatten().is_none_or(|d| day(d).is_some_and(|d| d.year() >= 1900)))
            .collect(),
    )
}

/// For a timestamp or date column: per row, its UTC date as `YYYY-MM-DD` (`None` for null, `Err` for
/// a date out of range). `None` for other columns (check their text).
pub fn day_texts(a: &dyn Array) -> Option<Vec<Option<Result<String, ()>>>> {
    if !is_date(a) {
        return None;
    }
    Some(
        (0..a.len())
            .map(|i| {
                days_at(a, i).flatten().map(|d| match day(d).filter(|d| d.year() >= 1900) {
                    Some(_) => {
                        let mut out = Vec::with_capacity(10);
                        write_date(&mut out, d);
                        String::from_utf8(out).map_err(|_| ())
                    }
                    None => Err(()),
                })
            })
            .collect(),
    )
}

/// For a numeric column: per row, its whole-number value (`Ok(None)` for null, `Err` for a fraction,
/// a date or a boolean). `None` for string columns (parse their text).
pub fn ints(a: &dyn Array) -> Option<Vec<Result<Option<i64>, ()>>> {
    macro_rules! each {
        ($t:ty, $conv:expr) => {
            a.as_primitive_opt::<$t>()
                .map(|v| (0..v.len()).map(|i| if v.is_null(i) { Ok(None) } else { $conv(v.value(i)) }).collect())
        };
    }
    let whole = |f: f64| if f.is_finite() && f.fract() == 0.0 { Ok(Some(f as i64)) } else { Err(()) };
    match a.data_type() {
        ArrowType::Int64 => each!(Int64Type, |x: i64| Ok(Some(x))),
        ArrowType::Int32 => each!(Int32Type, |x: i32| Ok(Some(i64::from(x)))),
        ArrowType::Int16 => each!(Int16Type, |x: i16| Ok(Some(i64::from(x)))),
        ArrowType::Int8 => each!(Int8Type, |x: i8| Ok(Some(i64::from(x)))),
        ArrowType::UInt32 => each!(UInt32Type, |x: u32| Ok(Some(i64::from(x)))),
        ArrowType::UInt16 => each!(UInt16Type, |x: u16| Ok(Some(i64::from(x)))),
        ArrowType::UInt8 => each!(UInt8Type, |x: u8| Ok(Some(i64::from(x)))),
        ArrowType::UInt64 => each!(UInt64Type, |x: u64| i64::try_from(x).map(Some).map_err(|_| ())),
        ArrowType::Float64 => each!(Float64Type, whole),
        ArrowType::Float32 => each!(Float32Type, |x: f32| whole(f64::from(x))),
        ArrowType::Dictionary(..)
        | ArrowType::Utf8
        | ArrowType::LargeUtf8
        | ArrowType::Binary
        | ArrowType::LargeBinary => None,
        _ => Some(vec![Err(()); a.len()]),
    }
}

/// Row `i` of a column as text, for error messages.
pub fn shown(a: &dyn Array, i: usize) -> String {
    let text = if let Some(d) = a.as_dictionary_opt::<Int32Type>() {
        if d.keys().is_null(i) {
            String::new()
        } else {
            bytes_at(d.values().as_ref(), d.keys().value(i) as usize)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        }
    } else if let Some(b) = bytes_at(a, i) {
        String::from_utf8_lossy(b).into_owned()
    } else if let Some(Some(d)) = days_at(a, i) {
        let mut out = Vec::new();
        write_date(&mut out, d);
        String::from_utf8_lossy(&out).into_owned()
    } else if a.is_null(i) {
        String::new()
    } else if let Some(v) = a.as_primitive_opt::<Float64Type>() {
        v.value(i).to_string()
    } else if let Some(Ok(Some(v))) = ints(&a.slice(i, 1)).and_then(|v| v.into_iter().next()) {
        v.to_string()
    } else {
        format!("{:?}", a.slice(i, 1))
    };
    text.trim().chars().take(60).collect()
}

/// The rows of one Parquet file, as text fields.
pub struct ParquetRows {
    file: ParquetFile,
    pub names: Vec<String>,
    group: usize,
    row: usize,
    current: Option<Group>,
    scratch: Vec<u8>,
}

impl ParquetRows {
    pub fn open(path: &Path) -> Result<ParquetRows, String> {
        let file = ParquetFile::open(path)?;
        let names = file.names.clone();
        Ok(ParquetRows { file, names, group: 0, row: 0, current: None, scratch: Vec::new() })
    }

    /// Fills `record` with the next row's fields as text; `Ok(false)` at the end.
    pub fn next(&mut self, record: &mut csv::ByteRecord) -> Result<bool, String> {
        while self.current.as_ref().is_none_or(|g| self.row >= g.rows) {
            if self.group >= self.file.groups() {
                return Ok(false);
            }
            self.current = Some(self.file.group(self.group)?);
            self.group += 1;
            self.row = 0;
        }
        let Some(group) = &self.current else { return Ok(false) };
        record.clear();
        for c in &group.columns {
            record.push_field(c.text(self.row, &mut self.scratch));
        }
        self.row += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::write_date;

    fn date(days: i64) -> String {
        let mut out = Vec::new();
        write_date(&mut out, days);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn date_columns_are_known_by_type_even_when_empty() {
        use arrow_array::{Date32Array, StringArray, TimestampMicrosecondArray};
        assert_eq!(super::dates_ok(&Date32Array::from(Vec::<i32>::new())), Some(vec![]));
        assert_eq!(super::day_texts(&TimestampMicrosecondArray::from(Vec::<i64>::new())), Some(vec![]));
        let days = Date32Array::from(vec![Some(19_783), None, Some(-40_000)]);
        assert_eq!(super::dates_ok(&days), Some(vec![true, true, false]), "null is fine; before 1900 is not");
        assert_eq!(super::dates_ok(&StringArray::from(vec!["2024-03-01"])), None, "text is checked as text");
    }

    #[test]
    fn days_to_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_783), "2024-03-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(11_016), "2000-02-29");
    }
}
