//! What one plugin call runs with: who is calling and with what ([`CallEnv`]), its limits
//! ([`CallLimits`], and the [`Limiter`] that holds a store to its memory and table share), and the
//! [`CallState`] each fresh `Store` carries, which never outlives its call. A call's kv writes are kept
//! in a [`KvOverlay`] and handed back to the caller, which commits them.

use super::egress::{Budget, Egress, Policy};
use crate::store::{DynStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Limits of one call (`plugins/README.md` §6).
#[derive(Debug, Clone)]
pub struct CallLimits {
    pub translate_fuel: u64,
    pub deliver_fuel: u64,
    /// Epoch ticks (10 ms each) a translate may run.
    pub translate_ticks: u64,
    pub deliver_timeout: Duration,
    pub memory_bytes: usize,
    pub table_elements: usize,
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    pub max_ops: usize,
    pub max_output_bytes: usize,
    pub max_log_lines: u32,
    pub max_log_bytes: usize,
    pub max_kv_writes: usize,
    /// Notifications one call may send.
    pub max_notices: usize,
    pub max_kv_key: usize,
    pub max_kv_value: usize,
    /// Bytes (keys + values) one call may write to kv: what the host holds outside the guest's memory.
    pub max_kv_bytes: usize,
    /// Per-target kv quota (`plugin_kv_max_keys`, `plugin_kv_max_bytes`): a batch that would pass it
    /// parks the target with a reason naming the limit.
    pub kv_quota_keys: i64,
    pub kv_quota_bytes: i64,
    pub max_component_bytes: usize,
    /// Scheduled-job and admin-resource calls (management work over a whole tenant, such as evaluating
    /// rules over every user): their fuel, guest memory and kv bytes written per call
    /// (`plugin_job_fuel`, `plugin_job_memory_mib`, `plugin_job_kv_write_mib`). Their time limit is
    /// the deliver one.
    pub job_fuel: u64,
    pub job_memory_bytes: usize,
    pub job_kv_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            translate_fuel: 100_000_000,
            deliver_fuel: 100_000_000,
            translate_ticks: 50,
            deliver_timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 16,
            tables: 16,
            memories: 4,
            max_ops: 1_000,
            max_output_bytes: 1 << 20,
            max_log_lines: 50,
            max_log_bytes: 1024,
            max_kv_writes: 10_000,
            max_notices: 5,
            max_kv_key: 256,
            max_kv_value: 64 << 10,
            max_kv_bytes: 1 << 20,
            kv_quota_keys: 100_000,
            kv_quota_bytes: 64 << 20,
            max_component_bytes: 50 << 20,
            job_fuel: 10_000_000_000,
            job_memory_bytes: 256 << 20,
            job_kv_bytes: 16 << 20,
        }
    }
}

impl CallLimits {
    /// The limits a call of `mode` runs under: jobs and admin resources get the management budget
    /// (never less than the others'), translate and deliver their own.
    pub fn for_mode(&self, mode: CallMode) -> CallLimits {
        match mode {
            CallMode::Schedule | CallMode::Admin => CallLimits {
                deliver_fuel: self.job_fuel.max(self.deliver_fuel),
                memory_bytes: self.job_memory_bytes.max(self.memory_bytes),
                max_kv_bytes: self.job_kv_bytes.max(self.max_kv_bytes),
                ..self.clone()
            },
            CallMode::Translate | CallMode::Deliver => self.clone(),
        }
    }

    /// The largest guest memory any call may have (the pooling allocator's slot size).
    pub fn largest_memory(&self) -> usize {
        self.memory_bytes.max(self.job_memory_bytes)
    }
}

/// Who is calling and with what (one per call).
#[derive(Clone)]
pub struct CallEnv {
    pub tenant: String,
    pub tenant_pk: i64,
    pub target: String,
    pub target_pk: i64,
    pub config_json: String,
    /// None outside a gateway (the fixture runner): directory and kv start empty.
    pub store: Option<DynStore>,
    pub policy: Arc<Policy>,
    pub credentials: Arc<HashMap<String, String>>,
    /// Keep every log line of each call in [`CallState::captured`] (the fixture runner shows them).
    pub capture_logs: bool,
    /// The fixture runner's world when there is no store: directory contents, remote ids and kv.
    pub seed: Option<Arc<Seed>>,
    /// An egress other than the runtime's (the fixture runner's scripted one).
    pub egress: Option<Arc<Egress>>,
}

impl CallEnv {
    /// An environment outside a gateway's targets: no store, no hosts allowed, no credentials (a
    /// configuration check, a benchmark).
    pub fn detached(tenant: &str, target: &str, config_json: String) -> CallEnv {
        CallEnv {
            tenant: tenant.to_owned(),
            tenant_pk: 0,
            target: target.to_owned(),
            target_pk: 0,
            config_json,
            store: None,
            policy: Arc::new(Policy::deny_all()),
            credentials: Arc::new(HashMap::new()),
            capture_logs: false,
            seed: None,
            egress: None,
        }
    }
}

/// A directory and kv given by a fixture (the host answers `directory` and `kv` reads from it when a
/// call has no store).
#[derive(Debug, Default)]
pub struct Seed {
    /// (id, SCIM document), in the order given.
    pub users: Vec<(String, serde_json::Value)>,
    /// (id, SCIM document, members as (id, is a group)) in the order given.
    pub groups: Vec<(String, serde_json::Value, Vec<(String, bool)>)>,
    /// (kind, local id) → remote id.
    pub remote_ids: HashMap<(String, String), String>,
    pub kv: BTreeMap<String, String>,
}

/// kv writes made so far in a dispatch batch (None = deleted), applied on top of the stored state.
pub type KvOverlay = BTreeMap<String, Option<String>>;

/// Which export a call runs: it decides what the imports allow (`http` only in deliver and
/// on-schedule, `notify` everywhere but translate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    Translate,
    Deliver,
    Schedule,
    Admin,
}

/// A notification a call asked for (`notify.send`); kept only if the call succeeds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub kind: String,
    pub subject: String,
    pub text: String,
    pub recipient: Option<String>,
}

/// What a successful call leaves behind besides its result: kv writes and notifications.
#[derive(Debug, Default)]
pub struct Effects {
    pub kv: KvOverlay,
    pub notices: Vec<Notice>,
}

/// Memory, table and instance limits of one store, remembering the peak and whether growth was refused.
pub struct Limiter {
    max_memory: usize,
    max_table: usize,
    instances: usize,
    tables: usize,
    memories: usize,
    pub peak: usize,
    pub denied: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.denied = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table)
    }
    fn instances(&self) -> usize {
        self.instances
    }
    fn tables(&self) -> usize {
        self.tables
    }
    fn memories(&self) -> usize {
        self.memories
    }
}

/// The data of one call's `Store`. Never outlives the call; nothing crosses calls or tenants.
pub struct CallState {
    pub limiter: Limiter,
    pub(super) env: CallEnv,
    pub(super) mode: CallMode,
    pub(super) limits: CallLimits,
    pub(super) egress: Arc<Egress>,
    pub(super) budget: Budget,
    /// kv writes of earlier changes in the same dispatch batch.
    pub(super) kv_base: Arc<KvOverlay>,
    /// Bytes (keys + values) written to kv by this call.
    pub(super) kv_bytes: usize,
    /// kv writes of this call.
    pub(super) kv_writes: KvOverlay,
    pub(super) logs: u32,
    /// Notifications of this call.
    pub(super) notices: Vec<Notice>,
    /// Log lines of this call, kept when [`CallEnv::capture_logs`] is set (the fixture runner).
    pub captured: Vec<(String, String)>,
    /// A host-side failure (database) that aborted the call: the call is retried, not blamed on the plugin.
    pub host_failure: Option<String>,
    /// The message of a panic the SDK reported through `log` before aborting.
    pub panic_message: Option<String>,
}

impl CallState {
    pub fn new(
        limits: &CallLimits,
        egress: &Arc<Egress>,
        env: CallEnv,
        kv_base: Arc<KvOverlay>,
        mode: CallMode,
    ) -> CallState {
        let l = &limits.for_mode(mode);
        CallState {
            limiter: Limiter {
                max_memory: l.memory_bytes,
                max_table: l.table_elements,
                instances: l.instances,
                tables: l.tables,
                memories: l.memories,
                peak: 0,
                denied: false,
            },
            env,
            mode,
            limits: l.clone(),
            egress: egress.clone(),
            budget: Budget::new(egress.limits()),
            kv_base,
            kv_writes: KvOverlay::new(),
            kv_bytes: 0,
            logs: 0,
            notices: Vec::new(),
            captured: Vec::new(),
            host_failure: None,
            panic_message: None,
        }
    }

    pub fn take_kv_writes(&mut self) -> KvOverlay {
        std::mem::take(&mut self.kv_writes)
    }

    /// The call's kv writes and notifications, taken out of the state.
    pub fn take_effects(&mut self) -> Effects {
        Effects { kv: std::mem::take(&mut self.kv_writes), notices: std::mem::take(&mut self.notices) }
    }

    pub(super) fn fail(&mut self, e: StoreError) -> wasmtime::Error {
        let msg = format!("database unavailable during the plugin call: {e}");
        self.host_failure = Some(msg.clone());
        wasmtime::Error::msg(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_admin_calls_get_the_management_budget() {
        let l = CallLimits { job_fuel: 7, job_memory_bytes: 1, ..CallLimits::default() };
        for mode in [CallMode::Translate, CallMode::Deliver] {
            let own = l.for_mode(mode);
            assert_eq!((own.deliver_fuel, own.memory_bytes, own.max_kv_bytes), (100_000_000, 64 << 20, 1 << 20));
        }
        for mode in [CallMode::Schedule, CallMode::Admin] {
            let own = l.for_mode(mode);
            // Never less than the others' (a misconfigured budget does not starve jobs).
            assert_eq!((own.deliver_fuel, own.memory_bytes, own.max_kv_bytes), (100_000_000, 64 << 20, 16 << 20));
        }
        let d = CallLimits::default();
        let own = d.for_mode(CallMode::Schedule);
        assert_eq!((own.deliver_fuel, own.memory_bytes), (10_000_000_000, 256 << 20));
        assert_eq!(d.largest_memory(), 256 << 20);
        assert_eq!(d.for_mode(CallMode::Translate).translate_fuel, 100_000_000);
    }
}
