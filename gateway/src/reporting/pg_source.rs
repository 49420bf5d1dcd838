//! Datasets landed as tables in a PostgreSQL database (Data Share's SQL targets; the Power BI
//! template reads `dbo.users`, `dbo.progress`, …): each table is copied out as CSV (`COPY … TO STDOUT`)
//! into a scratch folder and loaded like landed files, so both sources share one parser and its rules.

use super::load::{Dataset, LoadError};
use futures_util::StreamExt as _;
use sqlx::Connection as _;
use std::io::Write as _;
use std::path::Path;

fn error(message: impl Into<String>) -> LoadError {
    LoadError { file: "database".into(), line: None, column: None, message: message.into() }
}

/// The URL as it may be shown: without user info or query.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "postgres://…".into(),
    }
}

/// Copies the dataset tables of `schema` (default: `dbo`, else `public`) into `dir` as
/// `<table>.csv`; returns (dataset, `schema.table`) for each.
pub async fn copy_tables(url: &str, schema: Option<&str>, dir: &Path) -> Result<Vec<(Dataset, String)>, LoadError> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| error(format!("cannot connect to {}: {e}", shown_url(url))))?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_type IN ('BASE TABLE', 'VIEW') AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| error(format!("cannot list the tables: {e}")))?;
    let schemas: Vec<&str> = match schema {
        Some(s) => vec![s],
        None => vec!["dbo", "public"],
    };
    let mut picked: Vec<(Dataset, String, String)> = Vec::new();
    for wanted in &schemas {
        for (s, t) in rows.iter().filter(|(s, _)| s.eq_ignore_ascii_case(wanted)) {
            let Some(ds) = Dataset::of_file(Path::new(&format!("{t}.csv"))) else { continue };
            if let Some((_, s0, t0)) = picked.iter().find(|(d, _, _)| *d == ds) {
                if s0 == s {
                    return Err(error(format!(
                        "two tables for dataset {}: {s0}.{t0} and {s}.{t}; keep one per dataset",
                        ds.name()
                    )));
                }
                continue; // An earlier schema wins.
            }
            picked.push((ds, s.clone(), t.clone()));
        }
    }
    if !picked.iter().any(|(d, _, _)| *d == Dataset::Users) {
        return Err(error(format!("no Users table in schema {} of {}", schemas.join(" or "), shown_url(url))));
    }
    let quote = |id: &str| format!("\"{}\"", id.replace('"', "\"\""));
    let mut out = Vec::new();
    for (ds, s, t) in picked {
        let file = dir.join(format!("{t}.csv"));
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&file).map_err(|e| error(format!("scratch file: {e}")))?,
        );
        let sql = format!("COPY {}.{} TO STDOUT WITH (FORMAT csv, HEADER true)", quote(&s), quote(&t));
        let mut stream = conn.copy_out_raw(&sql).await.map_err(|e| error(format!("{s}.{t}: {e}")))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| error(format!("{s}.{t}: {e}")))?;
            f.write_all(&chunk).map_err(|e| error(format!("scratch file: {e}")))?;
        }
        drop(stream);
        f.flush().map_err(|e| error(format!("scratch file: {e}")))?;
        out.push((ds, format!("{s}.{t}")));
    }
    let _ = conn.close().await;
    Ok(out)
}
