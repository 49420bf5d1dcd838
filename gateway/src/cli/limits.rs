//! The limits every plugin call runs under, with what the configuration sets (the kv quota, the
//! budget of job and admin-resource calls); `serve` and
//! the target commands build their plugin runtime from here.

use crate::config::Config;
use crate::plugins::call::CallLimits;

/// The limits of every plugin call, with the configured kv quota.
pub(super) fn call_limits(cfg: &Config) -> CallLimits {
    CallLimits {
        kv_quota_keys: cfg.plugin_kv_max_keys,
        kv_quota_bytes: cfg.plugin_kv_max_bytes,
        job_fuel: cfg.plugin_job_fuel,
        job_memory_bytes: cfg.plugin_job_memory_mib << 20,
        job_kv_bytes: cfg.plugin_job_kv_write_mib << 20,
        ..Default::default()
    }
}
