//! One open dataset file read row by row, CSV or Parquet alike: the header mapped to the dataset's columns,
//! and each cell read as text, integer, date, `YYYYMMDD` date or list, with an error that names the file,
//! line and column.

use std::path::Path;

use super::dataset::Dataset;
use super::error::{LoadError, file_error};
use super::values::{iso_date, valid_ymd};

/// Where a table's rows come from.
pub(super) enum Source {
    Csv(csv::Reader<Box<dyn std::io::Read + Send>>),
    Parquet(Box<crate::reporting::parquet::ParquetRows>),
}

/// One open dataset file: the header mapped to the dataset's columns.
pub(super) struct Table {
    pub(super) file: String,
    pub(super) reader: Source,
    /// Rows read (Parquet rows are named by number, not line).
    rows: u64,
    /// Lines before this reader's first line (a chunk of a file read in parallel).
    line_base: u64,
    /// Byte offset just after the header row.
    pub(super) header_end: u64,
    /// Per dataset column: its index in the file.
    pub(super) index: Vec<Option<usize>>,
    pub(super) names: Vec<&'static str>,
    record: csv::ByteRecord,
}

impl Table {
    pub(super) fn open(ds: Dataset, path: &Path) -> Result<Table, LoadError> {
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
            let rows = crate::reporting::parquet::ParquetRows::open(path).map_err(|m| file_error(&file, m))?;
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
    pub(super) fn chunk(&self, path: &Path, start: u64, end: u64, lines_before: u64) -> Result<Table, LoadError> {
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
    pub(super) fn next(&mut self) -> Result<bool, LoadError> {
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

    pub(super) fn line(&self) -> u64 {
        match self.reader {
            Source::Csv(_) => self.record.position().map(|p| p.line() + self.line_base).unwrap_or(0),
            Source::Parquet(_) => self.rows,
        }
    }

    /// Column `c` (by its position in the dataset's column list) of the current row, trimmed; empty
    /// when the file has no such column.
    pub(super) fn get(&self, c: usize) -> &[u8] {
        match self.index[c].and_then(|i| self.record.get(i)) {
            Some(v) => v.trim_ascii(),
            None => b"",
        }
    }

    pub(super) fn text(&self, c: usize) -> Result<String, LoadError> {
        std::str::from_utf8(self.get(c)).map(str::to_owned).map_err(|_| self.error(c, "is not valid UTF-8"))
    }

    pub(super) fn required(&self, c: usize) -> Result<String, LoadError> {
        let v = self.text(c)?;
        if v.is_empty() {
            return Err(self.error(c, "is empty"));
        }
        Ok(v)
    }

    pub(super) fn error(&self, c: usize, what: &str) -> LoadError {
        let value = String::from_utf8_lossy(self.get(c)).chars().take(60).collect::<String>();
        LoadError {
            file: self.file.clone(),
            line: Some(self.line()),
            column: Some(self.names[c].to_owned()),
            message: if value.is_empty() { format!("the value {what}") } else { format!("`{value}` {what}") },
        }
    }

    /// A row group's error, with this file's name and column names.
    pub(super) fn batch_error(&self, e: crate::reporting::parquet::GroupError) -> LoadError {
        LoadError {
            file: self.file.clone(),
            line: e.row,
            column: e.column.map(|c| self.names[c].to_owned()),
            message: e.message,
        }
    }

    pub(super) fn int(&self, c: usize) -> Result<Option<i64>, LoadError> {
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
    pub(super) fn date(&self, c: usize) -> Result<Option<String>, LoadError> {
        let v = self.get(c);
        if v.is_empty() {
            return Ok(None);
        }
        iso_date(v).map(Some).ok_or_else(|| self.error(c, "is not a date (expected e.g. 2024-03-01T10:15:00Z)"))
    }

    /// A `YYYYMMDD` integer date (or an ISO date); `0` or empty → None (R8).
    pub(super) fn int_date(&self, c: usize) -> Result<Option<String>, LoadError> {
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
    pub(super) fn list(&self, c: usize) -> Result<Vec<String>, LoadError> {
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

/// The error for the value in row `row` (of the batch) and asked-for column `c`, worded like
/// [`Table::error`].
pub(super) fn cell_error(
    b: &crate::reporting::parquet::Batch,
    row: usize,
    c: usize,
    what: &str,
) -> crate::reporting::parquet::GroupError {
    let value = b.columns[c].as_ref().map(|a| crate::reporting::parquet::shown(a.as_ref(), row)).unwrap_or_default();
    let message = if value.is_empty() { format!("the value {what}") } else { format!("`{value}` {what}") };
    crate::reporting::parquet::GroupError { row: Some(b.first_row + row as u64 + 1), column: Some(c), message }
}
