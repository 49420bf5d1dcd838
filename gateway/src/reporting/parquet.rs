//! Parquet datasets (Data Share's other file format): read column by column, one row group at a time,
//! and handed to the loader row by row as text fields, so Parquet and CSV go through the same rules.
//! Timestamps become their UTC date (`YYYY-MM-DD`), DATE columns likewise, numbers their decimal text.

use parquet::basic::{ConvertedType, LogicalType, TimeUnit};
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::fs::File;
use std::io::Write as _;

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

struct Column {
    shape: Shape,
    max_def: i16,
    defs: Vec<i16>,
    values: Values,
    next: usize,
}

/// The rows of one Parquet file.
pub struct ParquetRows {
    reader: SerializedFileReader<File>,
    pub names: Vec<String>,
    group: usize,
    row: usize,
    rows_in_group: usize,
    columns: Vec<Column>,
    scratch: Vec<u8>,
}

/// `YYYY-MM-DD` of a day number counted from 1970-01-01.
fn write_date(out: &mut Vec<u8>, days: i64) {
    // Julian day 2,440,588 is 1970-01-01.
    let date = i32::try_from(days + 2_440_588).ok().and_then(|j| time::Date::from_julian_day(j).ok());
    match date {
        Some(d) => {
            let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        }
        None => out.extend_from_slice(b"out-of-range-date"),
    }
}

impl ParquetRows {
    pub fn open(path: &std::path::Path) -> Result<ParquetRows, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let reader = SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))?;
        let names =
            reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
        Ok(ParquetRows { reader, names, group: 0, row: 0, rows_in_group: 0, columns: Vec::new(), scratch: Vec::new() })
    }

    fn load_group(&mut self) -> Result<bool, String> {
        loop {
            if self.group >= self.reader.num_row_groups() {
                return Ok(false);
            }
            let rg = self.reader.get_row_group(self.group).map_err(|e| e.to_string())?;
            let rows = rg.metadata().num_rows().max(0) as usize;
            let schema = self.reader.metadata().file_metadata().schema_descr();
            let mut columns = Vec::with_capacity(self.names.len());
            for i in 0..self.names.len() {
                let descr = schema.column(i);
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
                let mut defs = Vec::with_capacity(rows);
                let reader = rg.get_column_reader(i).map_err(|e| e.to_string())?;
                let values = match reader {
                    ColumnReader::ByteArrayColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::Bytes(v)
                    }
                    ColumnReader::Int64ColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::I64(v)
                    }
                    ColumnReader::Int32ColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::I32(v)
                    }
                    ColumnReader::DoubleColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::F64(v)
                    }
                    ColumnReader::FloatColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::F32(v)
                    }
                    ColumnReader::BoolColumnReader(mut r) => {
                        let mut v = Vec::with_capacity(rows);
                        r.read_records(rows, Some(&mut defs), None, &mut v).map_err(|e| e.to_string())?;
                        Values::Bool(v)
                    }
                    _ => {
                        return Err(format!(
                            "column {} has a Parquet type this loader does not read (INT96 or fixed-length bytes)",
                            self.names[i]
                        ));
                    }
                };
                columns.push(Column { shape, max_def, defs, values, next: 0 });
            }
            self.columns = columns;
            self.group += 1;
            self.row = 0;
            self.rows_in_group = rows;
            if rows > 0 {
                return Ok(true);
            }
        }
    }

    /// Fills `record` with the next row's fields as text; `Ok(false)` at the end.
    pub fn next(&mut self, record: &mut csv::ByteRecord) -> Result<bool, String> {
        if self.row >= self.rows_in_group && !self.load_group()? {
            return Ok(false);
        }
        record.clear();
        let row = self.row;
        self.row += 1;
        for c in &mut self.columns {
            if c.max_def > 0 && c.defs.get(row).is_some_and(|d| *d < c.max_def) {
                record.push_field(b"");
                continue;
            }
            let i = c.next;
            c.next += 1;
            self.scratch.clear();
            let s = &mut self.scratch;
            match (&c.values, c.shape) {
                (Values::Bytes(v), _) => {
                    record.push_field(v.get(i).map_or(&[][..], ByteArray::data));
                    continue;
                }
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
            record.push_field(s);
        }
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
    fn days_to_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_783), "2024-03-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(11_016), "2000-02-29");
    }
}
