//! `gateway report …`: load Learn Organizational Reporting datasets, export the joined report, render
//! it as HTML, and make sample data (with SCIM users to match) for demos and benchmarks.

use crate::config::Config;
use crate::reporting::export::{self, Table};
use crate::reporting::service::Reports;
use crate::reporting::{html, join, sample};
use crate::scim::discovery::TenantSchemas;
use crate::scim::resource::{WriteMode, normalize_with_members};
use crate::store::{DynStore, Kind};
use clap::Subcommand;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Parquet,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Load a folder of dataset files (CSV, as Azure Data Share lands them) as the tenant's snapshot. A
    /// malformed file is rejected with its file, line and column, and the previous snapshot stays.
    Load {
        #[arg(long)]
        tenant: String,
        /// The folder with Users.csv, Progress.csv, … (names may carry a `_<tenant id>` suffix), or a
        /// postgres:// URL of a database with the datasets as tables.
        path: String,
        /// With a database: the schema of the tables (default dbo, else public).
        #[arg(long)]
        schema: Option<String>,
    },
    /// What is loaded: when, from where, row counts, and the report's headline figures.
    Status {
        #[arg(long)]
        tenant: String,
    },
    /// The joined report as tables (learners, modules, certifications).
    Export {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// One table to stdout (default learners); with --out, every table unless one is named.
        #[arg(long, value_enum)]
        table: Option<Table>,
        /// A folder to write `<table>.<format>` files into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The HTML report (what the admin API serves at /admin/v1/tenants/{t}/report), to a file.
    Html {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write realistic sample datasets of any size into a folder (no Azure subscription needed).
    Sample {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        #[arg(long)]
        progress: Option<usize>,
        #[arg(long)]
        achievements: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Name the tenant datasets `<Dataset>_<tenant id>.csv`, as Data Share may.
        #[arg(long)]
        tenant_suffix: bool,
    },
    /// Create a SCIM user for each Users row of a sample (externalId = its AADObjectId), except a share
    /// left unmatched, and write them to `<folder>/scim_users.csv`.
    SampleScim {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        from: PathBuf,
        /// Share of Learn users without a SCIM user (unmatched rows), 0..1.
        #[arg(long, default_value_t = 0.1)]
        unmatched: f64,
    },
    /// Sample data, matching SCIM users and a load for TENANT, in one step; prints how to look at it.
    Demo {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 300)]
        users: usize,
        /// Where the sample files go (default ./learn-sample-<tenant>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn print(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn open(cfg: &Config) -> anyhow::Result<(DynStore, Arc<Reports>)> {
    let store = crate::store::connect(&cfg.database_url).await?;
    let reports = Reports::new(store.clone());
    Ok((store, reports))
}

pub async fn run_report(cfg: Config, cmd: ReportCommand) -> anyhow::Result<()> {
    // Quiet unless asked: RUST_LOG=gateway=debug shows where a load or an export spends its time.
    if std::env::var_os("RUST_LOG").is_some() {
        crate::telemetry::init_tracing(crate::telemetry::LogFormat::Pretty);
    }
    match cmd {
        ReportCommand::Load { tenant, path, schema } => {
            let (store, reports) = open(&cfg).await?;
            let loaded = if path.starts_with("postgres://") || path.starts_with("postgresql://") {
                reports.load_postgres(&tenant, &path, schema.as_deref()).await?
            } else {
                reports.load_dir(&tenant, PathBuf::from(path)).await?
            };
            // The snapshot is stored; the process ends here (see Export). Closing the database copies
            // the write-ahead log into it, so the next command does not start by reading a long log.
            store.close().await;
            std::mem::forget(reports);
            print(&loaded)
        }
        ReportCommand::Status { tenant } => {
            let (_, reports) = open(&cfg).await?;
            let (snap, ids) = reports.parts(&tenant).await?;
            let report = join::join(&tenant, &snap, &ids);
            print(&json!({
                "tenant": tenant,
                "loaded_at": snap.loaded_at,
                "source": snap.source,
                "rows": snap.stats.rows,
                "files": snap.stats.files,
                "orphan_rows": snap.stats.orphan_rows,
                "summary": report.summary,
                "scim_users_without_learn_activity": join::without_learn_activity(&snap, &ids).len(),
            }))
        }
        ReportCommand::Export { tenant, format, table, out } => {
            let (store, reports) = open(&cfg).await?;
            let (snap, ids) = reports.parts(&tenant).await?;
            let clock = std::time::Instant::now();
            let report = join::join(&tenant, &snap, &ids);
            tracing::debug!(tenant, join_ms = clock.elapsed().as_millis() as u64, "report joined");
            let result = match out {
                None => {
                    let t = table.unwrap_or(Table::Learners);
                    let stdout = std::io::stdout();
                    let mut lock = std::io::BufWriter::new(stdout.lock());
                    match format {
                        Format::Csv => export::write_csv(&report, t, &mut lock)?,
                        Format::Json => serde_json::to_writer(&mut lock, &export::json_table(&report, t))?,
                        Format::Parquet => {
                            let mut buf = Vec::new();
                            export::write_parquet(&report, t, &mut buf).map_err(anyhow::Error::msg)?;
                            lock.write_all(&buf)?;
                        }
                    }
                    lock.flush()?;
                    Ok(())
                }
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    let tables: Vec<Table> = table.map_or(Table::ALL.to_vec(), |t| vec![t]);
                    let mut written = Vec::new();
                    for t in tables {
                        let ext = match format {
                            Format::Csv => "csv",
                            Format::Json => "json",
                            Format::Parquet => "parquet",
                        };
                        let path = dir.join(format!("{}.{ext}", t.name()));
                        let f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
                        match format {
                            Format::Csv => export::write_csv(&report, t, f)?,
                            Format::Json => serde_json::to_writer(f, &export::json_table(&report, t))?,
                            Format::Parquet => export::write_parquet(&report, t, f).map_err(anyhow::Error::msg)?,
                        }
                        written.push(path.display().to_string());
                    }
                    print(&json!({"tenant": tenant, "written": written, "learners": report.rows.len()}))
                }
            };
            // The process ends here: freeing millions of small allocations one by one would only delay
            // the exit.
            std::mem::forget(report);
            std::mem::forget((snap, ids, reports));
            store.close().await;
            result
        }
        ReportCommand::Html { tenant, out } => {
            let (_, reports) = open(&cfg).await?;
            let (snap, ids) = reports.parts(&tenant).await?;
            let page = html::render(&join::join(&tenant, &snap, &ids));
            std::fs::write(&out, page.as_bytes())?;
            print(&json!({"tenant": tenant, "written": out.display().to_string(), "bytes": page.len()}))
        }
        ReportCommand::Sample { out, users, progress, achievements, seed, tenant_suffix } => {
            let spec = sample::SampleSpec {
                tenant_id: "00000000-0000-4000-8000-00000000c0de".to_owned(),
                users,
                progress_rows: progress.unwrap_or(users * 50),
                achievements_rows: achievements.unwrap_or(users * 5),
                seed,
                tenant_suffix,
            };
            std::fs::create_dir_all(&out)?;
            let summary = tokio::task::spawn_blocking(move || sample::write_sample(&out, &spec)).await??;
            print(&json!({"files": summary.files, "users": summary.aad_object_ids.len()}))
        }
        ReportCommand::SampleScim { tenant, from, unmatched } => {
            let (store, _) = open(&cfg).await?;
            let n = sample_scim(&store, &tenant, &from, unmatched).await?;
            store.close().await;
            print(
                &json!({"tenant": tenant, "scim_users": n, "written": from.join("scim_users.csv").display().to_string()}),
            )
        }
        ReportCommand::Demo { tenant, users, out } => {
            let (store, reports) = open(&cfg).await?;
            let dir = out.unwrap_or_else(|| PathBuf::from(format!("learn-sample-{tenant}")));
            std::fs::create_dir_all(&dir)?;
            let spec = sample::SampleSpec {
                tenant_id: "00000000-0000-4000-8000-00000000c0de".to_owned(),
                users,
                progress_rows: users * 50,
                achievements_rows: users * 5,
                seed: 7,
                tenant_suffix: true,
            };
            let d = dir.clone();
            tokio::task::spawn_blocking(move || sample::write_sample(&d, &spec)).await??;
            let scim = sample_scim(&store, &tenant, &dir, 0.1).await?;
            let loaded = reports.load_dir(&tenant, dir.clone()).await?;
            print(&json!({
                "tenant": tenant,
                "sample": dir.display().to_string(),
                "scim_users_created": scim,
                "learners": loaded.learners,
                "next": [
                    format!("gateway report html --tenant {tenant} --out report.html   # open it in a browser"),
                    format!("gateway report export --tenant {tenant} --format csv --out report/"),
                    format!("or, with gateway serve and GATEWAY_ADMIN_TOKEN set: http://127.0.0.1:8080/admin/v1/tenants/{tenant}/report"),
                ],
            }))
        }
    }
}

const FIRST: [&str; 16] = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Katherine",
    "Tim",
    "Hedy",
    "John",
];
const LAST: [&str; 16] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Backus",
];
const DEPARTMENTS: [&str; 6] = ["Engineering", "Sales", "Finance", "Marketing", "Support", "Operations"];

/// SCIM users for the Users rows of a sample folder (externalId = AADObjectId, as Entra sends it once
/// provisioning maps objectId → externalId), every `1/unmatched`-th one left out; about 5 % disabled.
async fn sample_scim(store: &DynStore, tenant: &str, dir: &Path, unmatched: f64) -> anyhow::Result<usize> {
    let auth = store.tenant_auth(tenant).await?.ok_or_else(|| anyhow::anyhow!("tenant \"{tenant}\" not found"))?;
    let users_file = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| crate::reporting::load::Dataset::of_file(p) == Some(crate::reporting::load::Dataset::Users))
        .ok_or_else(|| anyhow::anyhow!("no Users dataset in {}", dir.display()))?;
    let mut reader = csv::Reader::from_path(&users_file)?;
    let headers: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let col =
        headers.iter().position(|h| h == "aadobjectid").ok_or_else(|| anyhow::anyhow!("Users has no AADObjectId"))?;
    let schemas = TenantSchemas::new(&[]);
    let every = if unmatched <= 0.0 { usize::MAX } else { (1.0 / unmatched).round().max(1.0) as usize };
    let mut docs = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec?;
        if every != usize::MAX && i % every == every - 1 {
            continue;
        }
        let object_id = rec.get(col).unwrap_or_default().trim().trim_matches(['{', '}']).to_owned();
        let (first, last) = (FIRST[i % FIRST.len()], LAST[(i / FIRST.len()) % LAST.len()]);
        let upn = format!("{}.{}{}@contoso.example", first.to_lowercase(), last.to_lowercase(), i);
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": upn,
            "externalId": object_id,
            "displayName": format!("{first} {last} {i}"),
            "active": i % 20 != 7,
            "name": {"givenName": first, "familyName": last},
            "emails": [{"value": upn, "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": DEPARTMENTS[i % DEPARTMENTS.len()]},
        });
        let doc = normalize_with_members(body, &schemas.user, WriteMode::Create, None)
            .map_err(|e| anyhow::anyhow!("sample user {i}: {e:?}"))?
            .doc;
        docs.push((i, upn, object_id, doc));
    }
    let mut out = csv::Writer::from_path(dir.join("scim_users.csv"))?;
    out.write_record(["id", "externalId", "displayName", "userName", "active"])?;
    let n = docs.len();
    // Many creates in flight: the SQLite writer commits them in groups.
    let mut pending = futures_util::stream::iter(docs.into_iter().map(|(i, upn, object_id, doc)| {
        let store = store.clone();
        async move {
            let display = doc.get("displayName").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let active = doc.get("active").and_then(|v| v.as_bool()).unwrap_or(true);
            let stored = store.create(auth.pk, Kind::User, doc, Vec::new(), auth.policy).await;
            (i, upn, object_id, display, active, stored)
        }
    }))
    .buffer_unordered(64);
    use futures_util::StreamExt as _;
    while let Some((i, upn, object_id, display, active, stored)) = pending.next().await {
        let stored = stored.map_err(|e| anyhow::anyhow!("creating sample user {i}: {e}"))?;
        out.write_record([stored.id.as_str(), &object_id, &display, &upn, if active { "true" } else { "false" }])?;
    }
    out.flush()?;
    Ok(n)
}
