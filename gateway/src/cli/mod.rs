//! The `gateway` command line: `serve`, `migrate`, `tenant …`, `schema …`, `changes`, `plugin …`,
//! `target …`, `assigner …`, `outbox …`.

mod assigner;
mod fixture_report;
mod keys;
mod limits;
mod plugins;
mod report;
mod scaffold;
mod serve;
mod targets;
mod tenant;

use crate::config::{Config, Overrides};
use crate::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "gateway", version, about = "SCIM 2.0 provisioning gateway for Microsoft Entra ID")]
pub struct Cli {
    /// TOML config file (also GATEWAY_CONFIG); environment and flags override it.
    #[arg(long = "config-file", global = true)]
    pub config_file: Option<PathBuf>,
    /// Database URL: sqlite://gateway.db (default) or postgres://… (also DATABASE_URL).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server.
    Serve {
        /// Listen address (also GATEWAY_BIND), default 127.0.0.1:8080.
        #[arg(long)]
        bind: Option<String>,
        /// HTTP worker threads (also GATEWAY_WORKERS), default: one per CPU.
        #[arg(long)]
        workers: Option<usize>,
        /// Log format (also GATEWAY_LOG_FORMAT).
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// Run scheduled jobs on a virtual clock starting at this RFC 3339 time, moved only by
        /// `POST /admin/v1/clock/advance` (tests and demos; also GATEWAY_VIRTUAL_CLOCK).
        #[arg(long, value_name = "RFC3339")]
        virtual_clock: Option<String>,
    },
    /// Create or upgrade the database schema and exit.
    Migrate {},
    /// Manage tenants (one per Entra provisioning app) and their tokens.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Manage a tenant's custom extension schemas.
    Schema {
        #[command(subcommand)]
        command: tenant::SchemaCommand,
    },
    /// Register and test target plugins (WebAssembly components).
    Plugin {
        #[command(subcommand)]
        command: plugins::PluginCommand,
    },
    /// Manage a tenant's targets (plugin + config + credentials + allowed hosts).
    Target {
        #[command(subcommand)]
        command: targets::TargetCommand,
    },
    /// The Learn365 Assigner (rule-based Entra groups) of a tenant's learn365 target: settings,
    /// profiles, member lists, runs.
    Assigner {
        #[command(subcommand)]
        command: assigner::AssignerCommand,
    },
    /// Microsoft Learn Organizational Reporting joined with the tenant's Entra identities.
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// Inspect and replay the delivery queue.
    Outbox {
        #[command(subcommand)]
        command: targets::OutboxCommand,
    },
    /// Print a tenant's change log (JSON lines), the feed target plugins consume.
    Changes {
        /// Tenant name.
        tenant: String,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}

/// Entry point of the binary.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg_file = cli.config_file.clone();
    let db = cli.database_url.clone();
    let config = |extra: Overrides| Config::load(cfg_file.as_deref(), Overrides { database_url: db.clone(), ..extra });
    match cli.command {
        Command::Serve { bind, workers, log_format, virtual_clock } => {
            let cfg = config(Overrides { bind, workers, log_format, virtual_clock, ..Overrides::default() })?;
            serve::run(cfg)
        }
        Command::Migrate {} => {
            let cfg = config(Overrides::default())?;
            block_on(async move {
                let store = crate::store::connect(&cfg.database_url).await?;
                eprintln!("database is up to date ({})", crate::store::Store::backend(store.as_ref()));
                Ok(())
            })
        }
        Command::Tenant { command } => {
            let cfg = config(Overrides::default())?;
            block_on(tenant::run_tenant(cfg, command))
        }
        Command::Schema { command } => {
            let cfg = config(Overrides::default())?;
            block_on(tenant::run_schema(cfg, command))
        }
        Command::Plugin { command } => {
            let cfg = config(Overrides::default())?;
            block_on(plugins::run_plugin(cfg, command))
        }
        Command::Target { command } => {
            let cfg = config(Overrides::default())?;
            block_on(targets::run_target(cfg, command))
        }
        Command::Assigner { command } => {
            let cfg = config(Overrides::default())?;
            block_on(assigner::run(cfg, command))
        }
        Command::Report { command } => {
            let cfg = config(Overrides::default())?;
            block_on(report::run_report(cfg, command))
        }
        Command::Outbox { command } => {
            let cfg = config(Overrides::default())?;
            block_on(targets::run_outbox(cfg, command))
        }
        Command::Changes { tenant, after, limit } => {
            let cfg = config(Overrides::default())?;
            block_on(tenant::run_changes(cfg, tenant, after, limit))
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}
