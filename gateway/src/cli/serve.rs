//! `gateway serve`.

use crate::config::Config;
use crate::http::{self, AppState, HttpSettings, telemetry};
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use std::time::Duration;

pub fn run(cfg: Config) -> anyhow::Result<()> {
    telemetry::init_tracing(cfg.log_format);
    let metrics = telemetry::init_metrics();
    actix_web::rt::System::new().block_on(async move {
        let store = crate::store::connect(&cfg.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        let settings =
            HttpSettings { max_body_bytes: cfg.max_body_bytes, cache_ttl: Duration::from_millis(cfg.cache_ttl_ms) };
        let state = web::Data::from(AppState::new(store.clone(), settings, metrics));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(telemetry::observe))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .configure(http::configure)
        })
        .shutdown_timeout(cfg.shutdown_timeout_secs)
        .bind(&cfg.bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.bind))?;
        if let Some(w) = cfg.workers {
            server = server.workers(w.max(1));
        }
        tracing::info!(bind = %cfg.bind, store = store.backend(), "gateway listening");
        server.run().await?;
        tracing::info!("shutting down: in-flight requests finished");
        store.close().await;
        Ok(())
    })
}
