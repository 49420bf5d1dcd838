//! The report as tables: per learner, per module (completed and started), per certification; written as
//! CSV or JSON.

use super::model::{LEARN_SITE, Report};
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Learners,
    Modules,
    Certifications,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Learners, Table::Modules, Table::Certifications];

    pub fn name(self) -> &'static str {
        match self {
            Table::Learners => "learners",
            Table::Modules => "modules",
            Table::Certifications => "certifications",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Learners => &[
                "userId",
                "AADObjectId",
                "matched",
                "name",
                "displayName",
                "userPrincipalName",
                "mail",
                "department",
                "accountEnabled",
                "totalXP",
                "modulesCompleted",
                "pathsCompleted",
                "modulesStarted",
                "certifications",
                "appliedSkills",
            ],
            Table::Modules => {
                &["userId", "name", "kind", "uid", "title", "url", "status", "awardedOn", "completedUnits"]
            }
            Table::Certifications => &[
                "userId",
                "name",
                "certificationUid",
                "title",
                "transcriptName",
                "awardedOn",
                "startDate",
                "endDate",
                "stayCurrentEligibilityStartDate",
            ],
        }
    }
}

type CatalogMap = std::collections::BTreeMap<String, super::model::CatalogItem>;

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// The rows of one table, as JSON values in the table's column order.
pub fn rows(report: &Report<'_>, table: Table) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let _ = each_row(report, table, |row| {
        out.push(row);
        Ok(())
    });
    out
}

/// Hands the rows of one table to `f` one at a time (JSON values in the table's column order), so a
/// writer can stream them; stops at `f`'s first error.
pub fn each_row(
    report: &Report<'_>,
    table: Table,
    mut f: impl FnMut(Vec<Value>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let cat = &report.snapshot.catalog;
    let failed = std::cell::RefCell::new(Ok(()));
    let mut out = |row: Vec<Value>| {
        let mut result = failed.borrow_mut();
        if result.is_ok() {
            *result = f(row);
        }
    };
    for r in &report.rows {
        let l = r.learner;
        let id = r.identity.as_ref();
        match table {
            Table::Learners => out(vec![
                json!(l.user_id),
                json!(l.aad_object_id),
                json!(r.matched),
                json!(r.label),
                id.map_or(Value::Null, |i| opt(&i.display_name)),
                id.map_or(Value::Null, |i| opt(&i.user_principal_name)),
                id.map_or(Value::Null, |i| opt(&i.mail)),
                id.map_or(Value::Null, |i| opt(&i.department)),
                id.map_or(Value::Null, |i| json!(i.account_enabled)),
                json!(l.total_xp),
                json!(l.modules_completed.len()),
                json!(l.paths_completed.len()),
                json!(l.modules_started.len()),
                json!(l.certifications.len()),
                json!(l.applied_skills.len()),
            ]),
            Table::Modules => {
                let completed: std::collections::HashSet<&str> = l.modules_completed.iter().map(|a| &*a.uid).collect();
                // (kind, catalog, uid, status, awarded on, completed units)
                let mut push = |kind: &str, m: &CatalogMap, uid: &str, status: &str, on: Value, units: Value| {
                    let (title, url) = m.get(uid).map_or((Value::Null, Value::Null), |c| (json!(c.title), opt(&c.url)));
                    out(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!(kind),
                        json!(uid),
                        title,
                        url,
                        json!(status),
                        on,
                        units,
                    ]);
                };
                for a in &l.modules_completed {
                    push("module", &cat.modules, &a.uid, "completed", json!(a.on), Value::Null);
                }
                for s in l.modules_started.iter().filter(|s| !completed.contains(&*s.module)) {
                    push("module", &cat.modules, &s.module, "started", Value::Null, json!(s.units));
                }
                for a in &l.paths_completed {
                    push("learningPath", &cat.paths, &a.uid, "completed", json!(a.on), Value::Null);
                }
            }
            Table::Certifications => {
                for c in &l.certifications {
                    let title = cat.certifications.get(&c.uid).map_or(Value::Null, |i| json!(i.title));
                    out(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!(c.uid),
                        title,
                        json!(c.transcript_name),
                        opt(&c.awarded_on),
                        opt(&c.start),
                        opt(&c.end),
                        opt(&c.stay_current_from),
                    ]);
                }
            }
        }
        if failed.borrow().is_err() {
            break;
        }
    }
    failed.into_inner()
}

/// Writes one table as CSV (header row; null as an empty field), row by row.
pub fn write_csv(report: &Report<'_>, table: Table, w: impl Write) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(table.columns())?;
    let mut text = String::new();
    each_row(report, table, |row| {
        for v in &row {
            match v {
                Value::Null => out.write_field("")?,
                Value::String(s) => out.write_field(spreadsheet_safe(s).as_ref())?,
                other => {
                    text.clear();
                    use std::fmt::Write as _;
                    let _ = write!(text, "{other}");
                    out.write_field(&text)?;
                }
            }
        }
        out.write_record(None::<&[u8]>)?;
        Ok(())
    })?;
    out.flush()
}

/// A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a leading tab or carriage
/// return: CSV injection) gets a leading `'`, which spreadsheets show as text. Only the CSV export needs
/// it; JSON and Parquet carry the text as it is.
fn spreadsheet_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}").into() } else { s.into() }
}

/// One table as a JSON array of objects.
pub fn json_table(report: &Report<'_>, table: Table) -> Value {
    let cols = table.columns();
    Value::Array(
        rows(report, table)
            .into_iter()
            .map(|row| Value::Object(cols.iter().map(|c| (*c).to_owned()).zip(row).collect()))
            .collect(),
    )
}

/// A link is only made for Learn's own site.
pub fn is_learn_url(url: &str) -> bool {
    url.starts_with(LEARN_SITE) && url[LEARN_SITE.len()..].starts_with('/')
}

/// The Parquet type of a column: booleans, counts as INT64, everything else UTF-8 text.
fn parquet_type(column: &str) -> &'static str {
    match column {
        "matched" | "accountEnabled" => "BOOLEAN",
        "totalXP" | "modulesCompleted" | "pathsCompleted" | "modulesStarted" | "certifications" | "appliedSkills"
        | "completedUnits" => "INT64",
        _ => "BINARY",
    }
}

/// Writes one table as a Parquet file (one row group, Snappy-compressed columns).
pub fn write_parquet(report: &Report<'_>, table: Table, w: impl Write + Send) -> Result<(), String> {
    use parquet::basic::Compression;
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let cols = table.columns();
    let fields: Vec<String> = cols
        .iter()
        .map(|c| match parquet_type(c) {
            "BINARY" => format!("OPTIONAL BINARY {c} (UTF8);"),
            t => format!("OPTIONAL {t} {c};"),
        })
        .collect();
    let message = format!("message {} {{ {} }}", table.name(), fields.join(" "));
    let schema = std::sync::Arc::new(parquet::schema::parser::parse_message_type(&message).map_err(|e| e.to_string())?);
    let props = std::sync::Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
    let rows = rows(report, table);
    let mut writer = SerializedFileWriter::new(w, schema, props).map_err(|e| e.to_string())?;
    let mut group = writer.next_row_group().map_err(|e| e.to_string())?;
    for (i, c) in cols.iter().enumerate() {
        let mut col = group.next_column().map_err(|e| e.to_string())?.ok_or("fewer columns than the schema")?;
        let defs: Vec<i16> = rows.iter().map(|r| i16::from(!r[i].is_null())).collect();
        match parquet_type(c) {
            "BOOLEAN" => {
                let v: Vec<bool> = rows.iter().filter_map(|r| r[i].as_bool()).collect();
                col.typed::<BoolType>().write_batch(&v, Some(&defs), None).map_err(|e| e.to_string())?;
            }
            "INT64" => {
                let v: Vec<i64> = rows.iter().filter_map(|r| r[i].as_i64()).collect();
                col.typed::<Int64Type>().write_batch(&v, Some(&defs), None).map_err(|e| e.to_string())?;
            }
            _ => {
                let v: Vec<ByteArray> = rows
                    .iter()
                    .filter(|r| !r[i].is_null())
                    .map(|r| match &r[i] {
                        Value::String(s) => ByteArray::from(s.as_str()),
                        other => ByteArray::from(other.to_string().as_str()),
                    })
                    .collect();
                col.typed::<ByteArrayType>().write_batch(&v, Some(&defs), None).map_err(|e| e.to_string())?;
            }
        }
        col.close().map_err(|e| e.to_string())?;
    }
    group.close().map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporting::join::{identities, join};
    use crate::reporting::model::{Identity, Learner, Snapshot};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_and_csv_carry_the_same_rows() {
        let mut snap = Snapshot::default();
        for (i, xp) in [(1, 300), (2, 0)] {
            snap.learners.push(Learner {
                user_id: format!("L{i}"),
                aad_object_id: format!("o{i}"),
                total_xp: xp,
                ..Default::default()
            });
        }
        let ids = identities([("o1".to_owned(), Identity { display_name: Some("Ada".into()), ..Default::default() })]);
        let report = join("t", &snap, &ids);
        let path = std::env::temp_dir().join(format!("scimgw-export-{}.parquet", uuid::Uuid::new_v4().simple()));
        write_parquet(&report, Table::Learners, std::fs::File::create(&path).expect("create")).expect("write");
        let r = SerializedFileReader::new(std::fs::File::open(&path).expect("open")).expect("parquet");
        assert_eq!(r.metadata().file_metadata().num_rows(), 2);
        let names: Vec<String> =
            r.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names, Table::Learners.columns());
        let rows: Vec<String> = r.get_row_iter(None).expect("rows").map(|row| row.expect("row").to_string()).collect();
        assert!(rows[0].contains("displayName: \"Ada\"") && rows[0].contains("totalXP: 300"), "{}", rows[0]);
        assert!(rows[1].contains("matched: false") && rows[1].contains("displayName: null"), "{}", rows[1]);
        let _ = std::fs::remove_file(&path);
        let mut csv = Vec::new();
        write_csv(&report, Table::Learners, &mut csv).expect("csv");
        assert_eq!(String::from_utf8_lossy(&csv).lines().count(), 3);
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_text() {
        let mut snap = Snapshot::default();
        let names = ["=HYPERLINK(\"https://evil.example\",\"x\")", "+1", "-2", "@SUM(A1)", "\tTab", "Ada-Lovelace"];
        for (i, _) in names.iter().enumerate() {
            snap.learners.push(Learner {
                user_id: format!("L{i}"),
                aad_object_id: format!("o{i}"),
                ..Default::default()
            });
        }
        let ids = identities(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("o{i}"), Identity { display_name: Some((*n).into()), ..Default::default() })),
        );
        let report = join("t", &snap, &ids);
        let mut out = Vec::new();
        write_csv(&report, Table::Learners, &mut out).expect("csv");
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let col = reader.headers().expect("headers").iter().position(|h| h == "displayName").expect("column");
        let cells: Vec<String> = reader.records().map(|r| r.expect("record")[col].to_owned()).collect();
        assert_eq!(
            cells,
            ["'=HYPERLINK(\"https://evil.example\",\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tTab", "Ada-Lovelace"]
        );
        // JSON keeps the text as it is.
        let json = json_table(&report, Table::Learners);
        assert_eq!(json[0]["displayName"], names[0]);
    }
}
