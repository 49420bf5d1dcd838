//! `gateway plugin …`: register (optionally checking a new version against a target's recorded changes
//! first), list, test with fixtures, replay a candidate version, and turn a recorded change into a fixture.

use super::targets::{control, print, runtime};
use crate::config::Config;
use crate::delivery::control::test_plugin;
use crate::delivery::replay::DEFAULT_LIMIT;
use crate::plugins::runtime::Runtime;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// A plugin file as a component: a core module built with the SDK is componentized on the way in.
fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Runtime::componentize(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// The language of a new plugin project.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Lang {
    Rust,
    Js,
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Validate, precompile and register a plugin component (a new version of NAME when it exists).
    Add {
        file: PathBuf,
        /// Plugin name (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// Before registering, replay this target's recent changes (TENANT/TARGET) through the new version
        /// and the active one and show how their operations differ.
        #[arg(long, value_name = "TENANT/TARGET")]
        check: Option<String>,
        /// With --check: refuse the new version when any operation differs.
        #[arg(long, requires = "check")]
        strict: bool,
    },
    /// How a candidate version would translate a target's recorded changes, compared with the active
    /// version (nothing is stored or sent).
    Replay {
        candidate: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        target: String,
        /// First change-log seq to replay (default: the last --limit changes before the target's cursor).
        #[arg(long)]
        from: Option<i64>,
        #[arg(long, default_value_t = crate::delivery::replay::DEFAULT_LIMIT)]
        limit: i64,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a recorded change as a fixture (to stdout, or into a fixtures folder with --out).
    Fixture {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        seq: i64,
        /// The target whose configuration the fixture takes.
        #[arg(long)]
        target: Option<String>,
        /// A folder to write `seq-<N>-<kind>.json` into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List registered plugins (active version of each).
    List,
    /// Write a new plugin project (outside this repository): the template, the SDK or kit, fixtures.
    New {
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// The folder to create the project in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Turn a core module built with the SDK into a component (what `plugin add` stores).
    Componentize {
        core: PathBuf,
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Run golden fixtures (change in → operations out); prints fuel, peak memory and time per fixture.
    Test {
        file: PathBuf,
        #[arg(long)]
        fixtures: PathBuf,
        /// Write what the plugin produced into each failing fixture's expectations.
        #[arg(long)]
        update: bool,
        /// One JSON document with every result (for CI) instead of the table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_plugin(cfg: Config, cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Add { file, name, check, strict } => {
            let wasm = read(&file)?;
            let name = match name {
                Some(n) => n,
                None => file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            };
            let a = control(&cfg).await?;
            if let Some(check) = check {
                let (tenant, target) =
                    check.split_once('/').ok_or_else(|| anyhow::anyhow!("--check takes TENANT/TARGET"))?;
                let report = a.replay(tenant, target, wasm.clone(), None, DEFAULT_LIMIT).await?;
                eprint!("{report}");
                if report.different > 0 && strict {
                    anyhow::bail!(
                        "not registered: {} of {} replayed change(s) translate differently (--strict)",
                        report.different,
                        report.changes
                    );
                }
            }
            print(&a.add_plugin(&name, wasm).await?)
        }
        PluginCommand::Replay { candidate, tenant, target, from, limit, json } => {
            let a = control(&cfg).await?;
            let report = a.replay(&tenant, &target, read(&candidate)?, from, limit).await?;
            if json { print(&report) } else { Ok(print!("{report}")) }
        }
        PluginCommand::Fixture { tenant, seq, target, out } => {
            let a = control(&cfg).await?;
            let fixture = a.fixture_of(&tenant, seq, target.as_deref()).await?;
            let text = serde_json::to_string_pretty(&fixture)? + "\n";
            match out {
                None => Ok(print!("{text}")),
                Some(dir) => {
                    let kind = fixture["change"]["kind"].as_str().unwrap_or("change").replace('.', "-");
                    let path = dir.join(format!("seq-{seq}-{kind}.json"));
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(&path, text)?;
                    eprintln!(
                        "wrote {} (run `gateway plugin test PLUGIN --fixtures {} --update` to fill in `expect`)",
                        path.display(),
                        dir.display()
                    );
                    Ok(())
                }
            }
        }
        PluginCommand::List => print(&control(&cfg).await?.list_plugins().await?),
        PluginCommand::New { name, lang, dir } => {
            let root = match lang {
                Lang::Rust => super::scaffold::new_rust(&name, &dir)?,
                Lang::Js => super::scaffold::new_js(&name, &dir)?,
            };
            eprintln!("wrote {}: see its README.md for the build and test commands", root.display());
            print(&serde_json::json!({"project": root.display().to_string()}))
        }
        PluginCommand::Componentize { core, out } => {
            let component = read(&core)?;
            std::fs::write(&out, &component).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            print(&serde_json::json!({"component": out.display().to_string(), "size": component.len(),
                "api_version": crate::plugins::runtime::api_version(&component)}))
        }
        PluginCommand::Test { file, fixtures, update, json } => {
            let wasm = read(&file)?;
            let rt = runtime(&cfg)?;
            let results = test_plugin(&rt, &wasm, &fixtures, update).await?;
            let failed = results.iter().filter(|r| !r.passed && !r.updated).count();
            if json {
                print(&serde_json::json!({"passed": results.len() - failed, "failed": failed, "fixtures": results}))?;
            } else {
                super::fixture_report::print_table(&results);
                println!("{} passed, {} failed", results.len() - failed, failed);
            }
            if failed > 0 {
                anyhow::bail!("{failed} fixture(s) failed");
            }
            Ok(())
        }
    }
}
