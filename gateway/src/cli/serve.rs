//! `gateway serve`: the SCIM server, plus the dispatcher and delivery workers of the targets.

use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::jobs::Jobs;
use crate::delivery::notify::Notifier;
use crate::delivery::{Control, Deliverer, DeliverySettings, Dispatcher, RetryPolicy, queue_gauges};
use crate::http::{self, AdminApi, AppState, HttpSettings};
use crate::plugins::runtime::Runtime;
use crate::plugins::{Registry, Targets};
use crate::telemetry;
use std::sync::Arc;
use std::time::Duration;

/// A name for this process in leases (host, pid, random suffix).
fn instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    format!("{}-{}-{}", host.trim(), std::process::id(), hex::encode(r))
}

/// Shortest admin token accepted: an empty one would open the admin API to anyone (any Basic password
/// matches it), a short one can be guessed.
const MIN_ADMIN_TOKEN: usize = 16;

/// Refuses to start with an admin token that is empty or short (the message never shows the token).
fn check_token(name: &str, env: &str, what: &str, token: Option<&str>) -> anyhow::Result<()> {
    match token.map(str::trim) {
        Some(t) if t.chars().count() < MIN_ADMIN_TOKEN => anyhow::bail!(
            "{name} ({env}) is {} characters long; it must have at least {MIN_ADMIN_TOKEN} \
             (for example `openssl rand -hex 32`), or be unset to {what}",
            t.chars().count()
        ),
        _ => Ok(()),
    }
}

/// `trusted_proxies` as addresses; a malformed entry stops startup with its text.
fn proxies(list: &str) -> anyhow::Result<Vec<std::net::IpAddr>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| anyhow::anyhow!("trusted_proxies: {s:?} is not an IP address")))
        .collect()
}

pub fn run(cfg: Config) -> anyhow::Result<()> {
    check_token("admin_token", "GATEWAY_ADMIN_TOKEN", "turn the admin API off", cfg.admin_token.as_deref())?;
    check_token("metrics_token", "GATEWAY_METRICS_TOKEN", "leave /metrics open", cfg.metrics_token.as_deref())?;
    telemetry::init_tracing(cfg.log_format);
    let metrics = telemetry::init_metrics();
    crate::plugins::egress::install_crypto_provider();
    // The system runtime (accept loop, dispatcher, delivery workers, the SQLite writer) gets its own two
    // threads; the HTTP workers run on theirs. One thread here bounded delivery to one core.
    let background =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("gateway-bg").enable_all().build()?;
    actix_web::rt::System::with_tokio_rt(move || background).block_on(async move {
        let store = crate::store::connect(&cfg.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        let settings = HttpSettings {
            max_body_bytes: cfg.max_body_bytes,
            cache_ttl: Duration::from_millis(cfg.cache_ttl_ms),
            public_base_url: cfg.public_base_url.as_ref().map(|u| u.trim_end_matches('/').to_owned()),
            trusted_proxies: proxies(&cfg.trusted_proxies)?,
            metrics_token_digest: cfg.metrics_token.as_deref().map(|t| http::auth_token::digest(t.trim())),
        };
        let rt = Runtime::new(super::limits::call_limits(&cfg), Some(cfg.plugin_cache()))?;
        let secrets = Arc::new(super::keys::secret_box(&cfg, &store).await?);
        let state = AppState::new(store.clone(), settings, metrics);
        let clock = match &cfg.virtual_clock {
            Some(start) => {
                let clock = Clock::parse_virtual(start).map_err(|e| anyhow::anyhow!("virtual_clock: {e}"))?;
                tracing::warn!(start = %start, "scheduled jobs run on a VIRTUAL clock, moved only by POST /admin/v1/clock/advance");
                clock
            }
            None => Clock::wall(),
        };
        let notifier = Arc::new(Notifier::new(
            store.clone(),
            cfg.smtp_url.as_deref(),
            &cfg.smtp_from,
            cfg.smtp_default_to.as_deref(),
        )?);
        let owner = instance_id();
        let registry = Registry::new(rt.clone(), store.clone());
        let targets = Targets::new(store.clone(), secrets.clone());
        let jobs = cfg.delivery.then(|| {
            Jobs::new(store.clone(), registry.clone(), targets.clone(), owner.clone(), clock.clone(), notifier.clone())
        });
        if let Some(token) = &cfg.admin_token {
            let reports = crate::reporting::service::Reports::new(store.clone());
            // Decode the loaded reports in the background, so the first admin to open one does not wait.
            tokio::spawn(reports.clone().warm_up());
            let control = Arc::new(Control { store: store.clone(), rt: rt.clone(), secrets: secrets.clone() });
            let token_digest = http::auth_token::digest(token);
            let _ = state.admin.set(AdminApi { control, jobs: jobs.clone(), reports, token_digest });
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        if cfg.delivery {
            if store.backend() == "sqlite" {
                // SQLite has one gateway process: leases left by a killed one are stale.
                store.release_leases().await?;
            }
            let delivery = DeliverySettings {
                concurrency: cfg.delivery_concurrency.max(1),
                background_share: cfg.background_share,
                lease_ms: 120_000,
                retry: RetryPolicy {
                    base_ms: cfg.retry_base_ms,
                    cap_ms: cfg.retry_cap_ms,
                    max_attempts: cfg.max_attempts,
                },
            };
            let dispatcher =
                Dispatcher::new(store.clone(), registry.clone(), targets.clone(), owner.clone(), cfg.background_share);
            let deliverer = Deliverer::new(store.clone(), registry, targets, owner.clone(), delivery, notifier);
            workers.push(tokio::spawn(dispatcher.run(stop_rx.clone())));
            workers.push(tokio::spawn(deliverer.run(stop_rx.clone())));
            if let Some(jobs) = &jobs {
                workers.push(tokio::spawn(jobs.clone().run(stop_rx.clone())));
            }
            workers.push(tokio::spawn(queue_gauges(store.clone(), stop_rx.clone())));
            tracing::info!(instance = %owner, pooling = rt.pooling, "dispatcher and delivery workers started");
        }
        let listener = std::net::TcpListener::bind(&cfg.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.bind))?;
        let server = http::server(state, listener, cfg.workers, cfg.shutdown_timeout_secs)?;
        tracing::info!(bind = %cfg.bind, store = store.backend(), "gateway listening");
        server.await?;
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(
            Duration::from_secs(cfg.shutdown_timeout_secs),
            futures_util::future::join_all(workers),
        )
        .await;
        tracing::info!("shut down: in-flight requests and deliveries finished");
        store.close().await;
        Ok(())
    })
}
