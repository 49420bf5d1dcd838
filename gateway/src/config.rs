//! Process configuration: defaults, then an optional TOML file (`--config` or `GATEWAY_CONFIG`), then
//! environment (`GATEWAY_*`, plus `DATABASE_URL`), then command-line flags.

use crate::telemetry::LogFormat;
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
    /// Bearer token of the admin API (`/admin/v1`); the API is off when unset. Also GATEWAY_ADMIN_TOKEN.
    pub admin_token: Option<String>,
    /// Key sealing target credentials at rest (base64, 32 bytes). When unset, `credential_key_file` is
    /// used (created on first use). Instances sharing a database must share the key.
    pub credential_key: Option<String>,
    pub credential_key_file: String,
    /// Where precompiled plugins are cached (by content hash and engine version); default
    /// `plugin-cache` beside the credential key file, created 0700.
    pub plugin_cache_dir: Option<String>,
    /// The base URL clients reach the gateway by (`https://scim.example.com`), for `meta.location`.
    pub public_base_url: Option<String>,
    /// Addresses of reverse proxies whose `Forwarded` / `X-Forwarded-*` headers are believed
    /// (comma-separated, also in GATEWAY_TRUSTED_PROXIES).
    pub trusted_proxies: String,
    /// Bearer token `GET /metrics` requires (at least 16 characters); open when unset.
    pub metrics_token: Option<String>,
    /// Per-target quota of a plugin's kv state: keys, and bytes of keys and values. A batch that would
    /// pass it parks the target with a reason naming the limit.
    pub plugin_kv_max_keys: i64,
    pub plugin_kv_max_bytes: i64,
    /// Budget of a plugin's scheduled-job and admin-resource calls: fuel (instructions), guest memory
    /// and kv bytes written per call (translate and deliver keep 10^8, 64 MiB and 1 MiB).
    pub plugin_job_fuel: u64,
    pub plugin_job_memory_mib: usize,
    pub plugin_job_kv_write_mib: usize,
    /// Deliveries in flight per instance.
    pub delivery_concurrency: usize,
    /// Retry backoff: full jitter over min(cap, base·2^attempt).
    pub retry_base_ms: i64,
    pub retry_cap_ms: i64,
    /// Attempts before an operation is dead-lettered.
    pub max_attempts: i64,
    /// Run the dispatcher and delivery workers in `serve` (set false for an API-only instance).
    pub delivery: bool,
    /// While SCIM requests are arriving, translation and delivery keep to this share of the time and
    /// catch up when the traffic stops (1 = no pacing).
    pub background_share: f64,
    /// SMTP relay for plugin notifications: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`. None = notifications are only recorded.
    pub smtp_url: Option<String>,
    /// The sender of notification e-mails.
    pub smtp_from: String,
    /// Where a notification without a recipient of its own goes.
    pub smtp_default_to: Option<String>,
    /// Start the scheduler on a virtual clock at this time (RFC 3339), advanced only by the admin API
    /// (`POST /admin/v1/clock/advance`): for tests and demos, never on by default.
    pub virtual_clock: Option<String>,
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
            admin_token: None,
            credential_key: None,
            credential_key_file: "gateway.key".into(),
            plugin_cache_dir: None,
            public_base_url: None,
            trusted_proxies: String::new(),
            metrics_token: None,
            plugin_kv_max_keys: 100_000,
            plugin_kv_max_bytes: 64 << 20,
            plugin_job_fuel: 10_000_000_000,
            plugin_job_memory_mib: 256,
            plugin_job_kv_write_mib: 16,
            delivery_concurrency: 64,
            retry_base_ms: 500,
            retry_cap_ms: 300_000,
            max_attempts: 15,
            delivery: true,
            background_share: 0.1,
            smtp_url: None,
            smtp_from: "scimgw@localhost".into(),
            smtp_default_to: None,
            virtual_clock: None,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_clock: Option<String>,
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

impl Config {
    /// Where precompiled plugins are cached: `plugin_cache_dir`, else `plugin-cache` beside the credential
    /// key file (the data directory; never a shared temporary directory, since the cache is loaded as
    /// native code). `plugins::runtime` creates it 0700 and refuses one another user could write.
    pub fn plugin_cache(&self) -> std::path::PathBuf {
        match &self.plugin_cache_dir {
            Some(d) => d.into(),
            None => std::path::Path::new(&self.credential_key_file)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
                .join("plugin-cache"),
        }
    }
}
