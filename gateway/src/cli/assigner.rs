//! `gateway assigner …`: the Learn365 Assigner's settings, profiles, member lists and runs from the
//! command line. Every command is one call of the learn365 plugin's `assigner/…` admin resources
//! (`plugins/learn365/src/assigner_io/admin.rs` is the contract), made the way `gateway target resource`
//! makes it; this module only names the paths, reads bodies from arguments or files, and writes
//! downloads to files. The plugin's answer is printed as JSON; a 4xx/5xx answer exits non-zero with the
//! plugin's `detail` (423 "tenant locked" while a maintenance runs).

use super::targets::{config_arg, control, print, resource};
use crate::config::Config;
use crate::delivery::control::Control;
use base64::Engine as _;
use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AssignerCommand {
    /// Settings, snapshot, lock, profiles by state, the last runs and the jobs.
    Status(On),
    /// Show the settings, or replace them with --set (contactEmail, entraGroupPrefix, schedule,
    /// excludeDisabledUsers).
    Settings {
        #[command(flatten)]
        on: On,
        /// The new settings: JSON, inline or @file.json.
        #[arg(long)]
        set: Option<String>,
    },
    /// All profiles (deleted ones too, with `state: deleted`).
    Profiles(On),
    /// One profile as stored.
    Show(OnProfile),
    /// Create a profile from JSON (inline or @file.json); prints it with its id.
    Create {
        #[command(flatten)]
        on: On,
        json: String,
    },
    /// Replace a profile (title, rules, overrides, throttling, courses…) with JSON (inline or @file.json).
    Update {
        #[command(flatten)]
        on: OnProfile,
        json: String,
    },
    /// Copy a profile ("Copy of …"), with a new id and no group yet.
    Clone(OnProfile),
    /// Delete a profile (A7: its group, members and enrollments stay; nothing new is given through it).
    Delete(OnProfile),
    /// A profile's JSON, to stdout or a file (to create it again elsewhere with `create @file`).
    Export {
        #[command(flatten)]
        on: OnProfile,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Set a profile's courses and whether its members are enrolled.
    Courses {
        #[command(flatten)]
        on: OnProfile,
        /// Course or training-plan ids (GUIDs), comma-separated; empty for none.
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        courses: Vec<String>,
        /// Enroll the members (false: retire, A6).
        #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
        enroll: bool,
    },
    /// Who the profile's rules and overrides select on the last data refresh (no change made).
    Preview {
        #[command(flatten)]
        on: OnProfile,
        #[command(flatten)]
        window: Window,
    },
    /// The member list of the last maintenance: JSON to stdout, or a CSV or Excel file.
    Members {
        #[command(flatten)]
        on: OnProfile,
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
        #[command(flatten)]
        window: Window,
        /// Where to write a CSV or Excel file (default: the name the plugin suggests, in the current
        /// directory; `-` writes CSV to stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The run records (refreshes and maintenances), newest first.
    Runs(On),
    /// Run the data refresh or the maintenance now (the running gateway picks it up within seconds).
    Run {
        #[command(flatten)]
        on: On,
        #[arg(value_enum)]
        job: Job,
    },
}

/// Which tenant and target.
#[derive(clap::Args, Debug)]
pub struct On {
    #[arg(long)]
    tenant: String,
    /// The learn365 target (default: the tenant's only target running the learn365 plugin).
    #[arg(long)]
    target: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct OnProfile {
    #[command(flatten)]
    on: On,
    /// The profile's id.
    id: String,
}

/// Which members a JSON answer shows (the count is always the whole list's).
#[derive(clap::Args, Debug)]
pub struct Window {
    /// Skip this many members.
    #[arg(long)]
    offset: Option<usize>,
    /// Show at most this many (the plugin's default 1,000, at most 10,000).
    #[arg(long)]
    limit: Option<usize>,
}

impl Window {
    fn query(&self) -> Vec<(String, String)> {
        [("offset", self.offset), ("limit", self.limit)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_string())))
            .collect()
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Json,
    Csv,
    Xlsx,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Job {
    Refresh,
    Maintenance,
}

/// The target: named, or the tenant's only one running the learn365 plugin.
async fn target(a: &Control, on: &On) -> anyhow::Result<(String, i64)> {
    if let Some(name) = &on.target {
        return Ok((name.clone(), a.target_pk(&on.tenant, name).await?));
    }
    let all = a.list_targets(Some(&on.tenant)).await?;
    let mut found = all.iter().filter(|t| t.plugin.eq_ignore_ascii_case("learn365"));
    match (found.next(), found.next()) {
        (Some(t), None) => Ok((t.name.clone(), t.pk)),
        (None, _) => anyhow::bail!(
            "tenant {:?} has no target running the learn365 plugin (gateway target list --tenant {0}); name one with --target",
            on.tenant
        ),
        (Some(_), Some(_)) => {
            anyhow::bail!("tenant {:?} has several learn365 targets: name one with --target", on.tenant)
        }
    }
}

/// One call; a 4xx/5xx answer becomes the command's error, with the plugin's message.
async fn call(
    cfg: &Config,
    a: &Control,
    on: &On,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    call_with(cfg, a, on, method, path, Vec::new(), body).await
}

async fn call_with(
    cfg: &Config,
    a: &Control,
    on: &On,
    method: &str,
    path: &str,
    query: Vec<(String, String)>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let (_, pk) = target(a, on).await?;
    let (status, value) = resource(cfg, a, pk, method, path, query, body).await?;
    if status >= 400 {
        let why = value["detail"].as_str().or(value["error"].as_str()).map(str::to_owned).unwrap_or(value.to_string());
        anyhow::bail!("{method} assigner/{}: {status}: {why}", path.trim_start_matches("assigner/"));
    }
    Ok(value)
}

fn write(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    print(&serde_json::json!({"written": path.display().to_string(), "bytes": bytes.len()}))
}

pub async fn run(cfg: Config, cmd: AssignerCommand) -> anyhow::Result<()> {
    let a = control(&cfg).await?;
    let p = |id: &str, rest: &str| format!("assigner/profiles/{id}{rest}");
    let v = match &cmd {
        AssignerCommand::Status(on) => call(&cfg, &a, on, "GET", "assigner/status", None).await?,
        AssignerCommand::Settings { on, set: None } => call(&cfg, &a, on, "GET", "assigner/settings", None).await?,
        AssignerCommand::Settings { on, set: Some(json) } => {
            call(&cfg, &a, on, "PUT", "assigner/settings", Some(config_arg(json)?)).await?
        }
        AssignerCommand::Profiles(on) => call(&cfg, &a, on, "GET", "assigner/profiles", None).await?,
        AssignerCommand::Show(o) => call(&cfg, &a, &o.on, "GET", &p(&o.id, ""), None).await?,
        AssignerCommand::Create { on, json } => {
            call(&cfg, &a, on, "POST", "assigner/profiles", Some(config_arg(json)?)).await?
        }
        AssignerCommand::Update { on: o, json } => {
            call(&cfg, &a, &o.on, "PUT", &p(&o.id, ""), Some(config_arg(json)?)).await?
        }
        AssignerCommand::Clone(o) => call(&cfg, &a, &o.on, "POST", &p(&o.id, "/clone"), None).await?,
        AssignerCommand::Delete(o) => call(&cfg, &a, &o.on, "DELETE", &p(&o.id, ""), None).await?,
        AssignerCommand::Export { on: o, out } => {
            let v = call(&cfg, &a, &o.on, "GET", &p(&o.id, "/export"), None).await?;
            if let Some(path) = out {
                return write(path, (serde_json::to_string_pretty(&v)? + "\n").as_bytes());
            }
            v
        }
        AssignerCommand::Courses { on: o, courses, enroll } => {
            let courses: Vec<&str> = courses.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
            let body = serde_json::json!({"courses": courses, "enroll": enroll});
            call(&cfg, &a, &o.on, "PUT", &p(&o.id, "/courses"), Some(body)).await?
        }
        AssignerCommand::Preview { on: o, window } => {
            call_with(&cfg, &a, &o.on, "GET", &p(&o.id, "/preview"), window.query(), None).await?
        }
        AssignerCommand::Members { on: o, format: ListFormat::Json, window, .. } => {
            call_with(&cfg, &a, &o.on, "GET", &p(&o.id, "/members"), window.query(), None).await?
        }
        AssignerCommand::Members { on: o, format, out, .. } => {
            let ext = if *format == ListFormat::Csv { "csv" } else { "xlsx" };
            let v = call(&cfg, &a, &o.on, "GET", &p(&o.id, &format!("/members.{ext}")), None).await?;
            let bytes = match (v["text"].as_str(), v["base64"].as_str()) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| anyhow::anyhow!("the plugin's file is not base64: {e}"))?,
                _ => anyhow::bail!("the plugin's answer has no file"),
            };
            if out.as_deref() == Some(std::path::Path::new("-")) {
                if *format == ListFormat::Xlsx {
                    anyhow::bail!("an Excel file is not written to a terminal: name a file with --out");
                }
                print!("{}", String::from_utf8_lossy(&bytes));
                return Ok(());
            }
            let suggested = v["filename"].as_str().unwrap_or("members").replace(['/', '\\'], "-");
            return write(&out.clone().unwrap_or_else(|| PathBuf::from(suggested)), &bytes);
        }
        AssignerCommand::Runs(on) => call(&cfg, &a, on, "GET", "assigner/runs", None).await?,
        AssignerCommand::Run { on, job } => {
            let (name, _) = target(&a, on).await?;
            let job = match job {
                Job::Refresh => "assigner-refresh",
                Job::Maintenance => "assigner-maintenance",
            };
            a.run_job_now(&on.tenant, &name, job).await?;
            serde_json::json!({"target": name, "job": job, "due": "now"})
        }
    };
    print(&v)
}
