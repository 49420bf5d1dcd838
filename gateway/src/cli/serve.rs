//! `gateway serve`.

use crate::config::Config;
use crate::http::{self, AppState, HttpSettings, telemetry};
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
        let state = AppState::new(store.clone(), settings, metrics);
        let listener = std::net::TcpListener::bind(&cfg.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.bind))?;
        let server = http::server(state, listener, cfg.workers, cfg.shutdown_timeout_secs)?;
        tracing::info!(bind = %cfg.bind, store = store.backend(), "gateway listening");
        server.await?;
        tracing::info!("shut down: in-flight requests finished");
        store.close().await;
        Ok(())
    })
}
