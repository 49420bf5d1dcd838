//! Process configuration: defaults, then an optional TOML file (`--config` or `GATEWAY_CONFIG`), then
//! environment (`GATEWAY_*`, plus `DATABASE_URL`), then command-line flags.

use crate::http::telemetry::LogFormat;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// `sqlite://gateway.db` (default) or `postgres://…`.
    pub database_url: String,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// HTTP worker threads (default: number of CPUs).
    pub workers: Option<usize>,
    /// `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// How long tenant credentials and schemas are cached per process, in milliseconds.
    pub cache_ttl_ms: u64,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://gateway.db".into(),
            max_body_bytes: 1024 * 1024,
            workers: None,
            log_format: LogFormat::Json,
            cache_ttl_ms: 2000,
            shutdown_timeout_secs: 30,
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        })
    }
}

/// Flags that override everything else when given.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("GATEWAY_CONFIG").map(Into::into));
        if let Some(f) = file {
            if !f.exists() {
                anyhow::bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()))
            .merge(Env::prefixed("GATEWAY_").ignore(&["CONFIG"]))
            .merge(Serialized::defaults(overrides));
        Ok(fig.extract()?)
    }
}
