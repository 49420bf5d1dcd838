//! `gateway target …`, `gateway outbox …`, and the helpers the plugin commands share (`cli::plugins`).

use crate::config::Config;
use crate::delivery::control::{Control, TargetSpec, action_of};
use crate::plugins::runtime::Runtime;
use crate::store::delivery::{OutboxFilter, TargetAction};
use clap::Subcommand;
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Add a target: a plugin with its config, allowed hosts and credentials, fed by a tenant's changes.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        plugin: String,
        /// JSON object, inline or @file.json.
        #[arg(long, default_value = "{}")]
        config: String,
        /// scheme://host[:port] the plugin may call (repeatable; `*.` wildcard as the first label only).
        #[arg(long = "allow-host")]
        allow_host: Vec<String>,
        /// Allow plain http:// to the allowed hosts (tests, loopback).
        #[arg(long)]
        allow_http: bool,
        /// Allow private, loopback and link-local addresses.
        #[arg(long)]
        allow_private: bool,
        /// name=secret (repeatable). Stored sealed; never shown again and never given to the plugin.
        #[arg(long = "credential")]
        credential: Vec<String>,
    },
    /// List targets with their state, cursor and queue.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// One target in full: state, cursor, parked reason, queue, credentials (names only).
    Status {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Stop delivering (changes keep being translated and queued).
    Pause {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    Resume {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Resume a parked target: translate the change it stopped at again (after a plugin or config fix).
    Retry {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Replay the tenant's current state to this target (resync started, every user, every group with
    /// its members, resync finished), then continue with the log.
    Resync {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Replace a target's configuration (checked by its plugin first; in effect within 2 s).
    Config {
        #[arg(long)]
        tenant: String,
        name: String,
        /// JSON object, inline or @file.json.
        #[arg(long)]
        config: String,
    },
    /// Remove a target and its queue.
    Delete {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// The target's scheduled jobs (declared by its plugin): cron, next run, the run in progress, the
    /// last run's time, result and summary.
    Jobs {
        #[arg(long)]
        tenant: String,
        name: String,
    },
    /// Make a scheduled job due now: the gateway serving the target runs it within a second.
    RunJob {
        #[arg(long)]
        tenant: String,
        name: String,
        job: String,
    },
    /// The target's notification log (what its plugin asked to tell people), newest first.
    Notifications {
        #[arg(long)]
        tenant: String,
        name: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Call one of the plugin's admin resources, e.g. `resource --tenant acme lms GET profiles`.
    Resource {
        #[arg(long)]
        tenant: String,
        name: String,
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// The resource's path (what follows `resources/` in the admin API).
        path: String,
        /// JSON body, inline or @file.json.
        #[arg(long)]
        body: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Operations waiting for delivery (and dead ones), oldest first.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Dead-lettered operations with their reasons.
    Dead {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put dead operations back in the queue (all of the tenant, one target's, or one op-id); they are
    /// delivered in their original order, before the later operations of their keys.
    Replay {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        op_id: Option<String>,
    },
    /// Drop dead operations without delivering them (one target's, or one op-id), so the operations of
    /// the same resource queued behind them go on.
    Skip {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        op_id: Option<String>,
    },
}

pub(super) fn runtime(cfg: &Config) -> anyhow::Result<Arc<Runtime>> {
    crate::plugins::egress::install_crypto_provider();
    Runtime::new(super::limits::call_limits(cfg), Some(cfg.plugin_cache()))
}

pub(super) async fn control(cfg: &Config) -> anyhow::Result<Control> {
    let store = crate::store::connect(&cfg.database_url).await?;
    let secrets = Arc::new(super::keys::secret_box(cfg, &store).await?);
    Ok(Control { store, rt: runtime(cfg)?, secrets })
}

pub(super) fn print<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(super) fn config_arg(s: &str) -> anyhow::Result<serde_json::Value> {
    let text = match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?,
        None => s.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("--config is not valid JSON: {e}"))
}

pub async fn run_target(cfg: Config, cmd: TargetCommand) -> anyhow::Result<()> {
    let a = control(&cfg).await?;
    let a = &a;
    let act = |tenant: String, name: String, action: TargetAction| async move {
        print(&a.target_action(&tenant, &name, action).await?)
    };
    match cmd {
        TargetCommand::Add { tenant, name, plugin, config, allow_host, allow_http, allow_private, credential } => {
            let mut credentials = std::collections::BTreeMap::new();
            for c in credential {
                let (k, v) = c.split_once('=').ok_or_else(|| anyhow::anyhow!("--credential must be name=secret"))?;
                credentials.insert(k.to_owned(), v.to_owned());
            }
            let spec = TargetSpec {
                name,
                plugin,
                config: config_arg(&config)?,
                allowed_hosts: allow_host,
                allow_http,
                allow_private,
                credentials,
            };
            print(&a.add_target(&tenant, spec).await?)
        }
        TargetCommand::List { tenant } => print(&a.list_targets(tenant.as_deref()).await?),
        TargetCommand::Status { tenant, name } => print(&a.target_status(&tenant, &name).await?),
        TargetCommand::Pause { tenant, name } => act(tenant, name, TargetAction::Pause).await,
        TargetCommand::Resume { tenant, name } => act(tenant, name, TargetAction::Resume).await,
        TargetCommand::Retry { tenant, name } => act(tenant, name, TargetAction::Retry).await,
        TargetCommand::Resync { tenant, name } => {
            act(tenant, name, action_of("resync").unwrap_or(TargetAction::Resync { now_ms: 0 })).await
        }
        TargetCommand::Config { tenant, name, config } => {
            print(&a.configure_target(&tenant, &name, config_arg(&config)?).await?.status_json())
        }
        TargetCommand::Delete { tenant, name } => act(tenant, name, TargetAction::Delete).await,
        TargetCommand::Jobs { tenant, name } => print(&a.target_jobs(&tenant, &name).await?),
        TargetCommand::RunJob { tenant, name, job } => {
            a.run_job_now(&tenant, &name, &job).await?;
            print(&serde_json::json!({"job": job, "due": "now"}))
        }
        TargetCommand::Notifications { tenant, name, limit } => print(&a.target_notices(&tenant, &name, limit).await?),
        TargetCommand::Resource { tenant, name, method, path, body } => {
            let pk = a.target_pk(&tenant, &name).await?;
            let body = body.as_deref().map(config_arg).transpose()?;
            let (path, query) = split_query(&path);
            let (status, value) = resource(&cfg, a, pk, &method, path, query, body).await?;
            print(&value)?;
            if status >= 400 {
                anyhow::bail!("the plugin answered {status}");
            }
            Ok(())
        }
    }
}

/// `path?a=1&b=2` → (`path`, its query pairs; no percent-decoding beyond `+` being kept as is).
fn split_query(path: &str) -> (&str, Vec<(String, String)>) {
    let Some((p, q)) = path.split_once('?') else { return (path, Vec::new()) };
    let pairs = q
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (p, pairs)
}

/// One call of a target's admin resource from the CLI (as the admin API makes it): the status and the
/// plugin's JSON answer.
pub(super) async fn resource(
    cfg: &Config,
    a: &Control,
    target_pk: i64,
    method: &str,
    path: &str,
    query: Vec<(String, String)>,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let notifier = crate::delivery::notify::Notifier::new(
        a.store.clone(),
        cfg.smtp_url.as_deref(),
        &cfg.smtp_from,
        cfg.smtp_default_to.as_deref(),
    )?;
    let jobs = crate::delivery::jobs::Jobs::new(
        a.store.clone(),
        crate::plugins::Registry::new(a.rt.clone(), a.store.clone()),
        crate::plugins::Targets::new(a.store.clone(), a.secrets.clone()),
        format!("cli-{}", std::process::id()),
        crate::clock::Clock::wall(),
        Arc::new(notifier),
    );
    Ok(jobs.resource(target_pk, &method.to_ascii_uppercase(), path, query, body).await)
}

pub async fn run_outbox(cfg: Config, cmd: OutboxCommand) -> anyhow::Result<()> {
    let a = control(&cfg).await?;
    match cmd {
        OutboxCommand::List { tenant, target, limit } => {
            print(&a.outbox_list(OutboxFilter { tenant, target, limit, ..Default::default() }).await?)
        }
        OutboxCommand::Dead { tenant, target, limit } => {
            print(&a.outbox_list(OutboxFilter { tenant, target, limit, dead_only: true, ..Default::default() }).await?)
        }
        OutboxCommand::Replay { tenant, target, op_id } => {
            let n = a.outbox_replay(OutboxFilter { tenant, target, op_id, limit: 0, dead_only: true }).await?;
            print(&serde_json::json!({ "replayed": n }))
        }
        OutboxCommand::Skip { tenant, target, op_id } => {
            let n = a.outbox_skip(OutboxFilter { tenant, target, op_id, limit: 0, dead_only: true }).await?;
            print(&serde_json::json!({ "skipped": n }))
        }
    }
}
