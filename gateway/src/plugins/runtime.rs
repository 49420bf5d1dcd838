//! The wasmtime host: one `Engine` (pooling allocator with an on-demand fallback, fuel and epoch
//! interruption), validation at registration, precompiled components cached by content hash, and a fresh
//! `Store` per call from a pre-instantiated component, under fuel, wall-clock, memory, table, instance,
//! output and log limits. A trap fails only its own call.

use super::bindings::{Change, Context, Operation, Outcome, PluginError, Target, TargetPre};
use super::call::{CallEnv, CallLimits, CallState, KvOverlay};
use super::egress::{Egress, Limits as EgressLimits};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

/// The package and interfaces a plugin may import (any 1.x version: the linker matches semver).
pub const PACKAGE: &str = "scimgw:lms-target";
pub const OFFERED: [&str; 5] = ["types", "log", "kv", "directory", "http"];
pub const WORLD: &str = "scimgw:lms-target/target@1.0.0";

const TICK: Duration = Duration::from_millis(10);
/// Concurrent plugin calls the pooling allocator is sized for.
const POOL_SLOTS: u32 = 128;

/// Why a plugin is not accepted (at registration) or cannot be loaded: each text says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("plugin is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not a WebAssembly file (no \\0asm header)")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component: componentize it first \
         (plugins/README.md: `componentize` or `wasm-tools component new`)"
    )]
    CoreModule,
    /// wasmtime's reason.
    #[error("not a valid WebAssembly component: {0}")]
    NotComponent(String),
    /// The imports the gateway does not offer.
    #[error(
        "plugin imports {}, which the gateway does not offer (offered: {})",
        .0.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "),
        OFFERED.iter().map(|i| format!("{PACKAGE}/{i}@1.x")).collect::<Vec<_>>().join(", ")
    )]
    Imports(Vec<String>),
    #[error("plugin does not implement world {}: missing export(s) {missing} (it exports: {have})", WORLD)]
    MissingExports { missing: String, have: String },
    #[error("plugin does not match world {}: {}", WORLD, .0)]
    World(String),
    #[error("plugin exports do not match world {}: {}", WORLD, .0)]
    Exports(String),
}

/// A validated, compiled plugin version.
pub struct Compiled {
    pub sha256: String,
    pub world: String,
    pub size: usize,
    pub(super) pre: TargetPre<CallState>,
}

/// Resource usage of one call.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CallStats {
    pub fuel: u64,
    pub peak_memory_bytes: usize,
    pub micros: u64,
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The plugin returned an error.
    #[error("plugin error: {0}")]
    Plugin(String),
    /// The plugin trapped or hit a limit.
    #[error("{0}")]
    Trap(String),
    /// The output broke a limit.
    #[error("output rejected: {0}")]
    Output(String),
    /// The host could not run the call (instantiation, database).
    #[error("host error: {0}")]
    Host(String),
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    pub egress: Arc<Egress>,
    pub limits: CallLimits,
    cache_dir: Option<PathBuf>,
    pub pooling: bool,
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(512 << 10);
    config
}

impl Runtime {
    /// Builds the engine (pooling allocator, or on-demand when the pool cannot be reserved) and starts
    /// the epoch ticker.
    pub fn new(limits: CallLimits, cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<Runtime>> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 8)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(limits.memories as u32)
            .max_tables_per_component(limits.tables as u32)
            .table_elements(limits.table_elements);
        let mut pooled = engine_config();
        pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let (engine, pooling) = match Engine::new(&pooled) {
            Ok(e) => (e, true),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation (slower instantiation)");
                (Engine::new(&engine_config())?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        Target::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |s| s)?;
        let weak = engine.weak();
        std::thread::Builder::new().name("wasm-epoch".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })?;
        let egress = Arc::new(Egress::new(EgressLimits::default()).map_err(anyhow::Error::msg)?);
        if let Some(dir) = &cache_dir {
            private_dir(dir)?;
        }
        Ok(Arc::new(Runtime { engine, linker, egress, limits, cache_dir, pooling }))
    }

    pub fn sha256(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// Validates a plugin for registration: size, a component (not a core module), imports limited to
    /// what the gateway offers (anything else is named), exports matching the `target` world.
    pub fn validate(&self, wasm: &[u8]) -> Result<Compiled, Refused> {
        if wasm.len() > self.limits.max_component_bytes {
            return Err(Refused::TooLarge { size: wasm.len(), limit: self.limits.max_component_bytes });
        }
        if wasm.len() < 8 || &wasm[0..4] != b"\0asm" {
            return Err(Refused::NotWasm);
        }
        if wasm[4..8] == [1, 0, 0, 0] {
            return Err(Refused::CoreModule);
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| Refused::NotComponent(format!("{e:#}")))?;
        self.check(wasm, component)
    }

    /// Loads a plugin version that was validated before: from the precompiled cache when present.
    pub fn load(&self, wasm: &[u8]) -> Result<Compiled, Refused> {
        let sha = Self::sha256(wasm);
        if let Some(path) = self.cache_path(&sha)
            && path.exists()
            && let Some(c) = self.deserialize(&path)
            && let Ok(compiled) = self.check(wasm, c)
        {
            return Ok(compiled);
        }
        let compiled = self.validate(wasm)?;
        Ok(compiled)
    }

    fn cache_path(&self, sha: &str) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.cache_dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        Some(dir.join(format!("{sha}-{:016x}.cwasm", h.finish())))
    }

    #[allow(unsafe_code)]
    fn deserialize(&self, path: &std::path::Path) -> Option<Component> {
        // SAFETY: the cache holds only files this gateway wrote with `Component::serialize` (named by the
        // wasm's sha256 and the engine's compatibility hash, written atomically by rename), never
        // anything uploaded.
        unsafe { Component::deserialize_file(&self.engine, path) }.ok()
    }

    fn check(&self, wasm: &[u8], component: Component) -> Result<Compiled, Refused> {
        let ty = component.component_type();
        let mut refused = Vec::new();
        for (name, _) in ty.imports(&self.engine) {
            if !offered(name) {
                refused.push(name.to_owned());
            }
        }
        if !refused.is_empty() {
            return Err(Refused::Imports(refused));
        }
        let mut exports = HashMap::new();
        for (name, item) in ty.exports(&self.engine) {
            exports.insert(name.to_owned(), matches!(item.ty, ComponentItem::ComponentFunc(_)));
        }
        let missing: Vec<&str> =
            ["translate", "deliver"].into_iter().filter(|n| exports.get(*n) != Some(&true)).collect();
        if !missing.is_empty() {
            let mut have: Vec<&String> = exports.keys().collect();
            have.sort();
            return Err(Refused::MissingExports {
                missing: missing.join(", "),
                have: if have.is_empty() {
                    "nothing".to_owned()
                } else {
                    have.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                },
            });
        }
        let world = if exports.get("on-schedule") == Some(&true) { "scheduled-target" } else { "target" };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| Refused::World(format!("{e:#}")))?;
        let pre = TargetPre::new(pre).map_err(|e| Refused::Exports(format!("{e:#}")))?;
        let sha = Self::sha256(wasm);
        if let Some(path) = self.cache_path(&sha)
            && !path.exists()
            && let Ok(bytes) = component.serialize()
        {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(Compiled { sha256: sha, world: world.to_owned(), size: wasm.len(), pre })
    }

    fn store(&self, env: &CallEnv, overlay: Arc<KvOverlay>, translate: bool) -> Store<CallState> {
        let state = CallState::new(&self.limits, &self.egress, env.clone(), overlay, translate);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
    }

    fn context(env: &CallEnv, correlation_id: String, now_ms: u64) -> Context {
        Context {
            tenant: env.tenant.clone(),
            target: env.target.clone(),
            correlation_id,
            now_unix_ms: now_ms,
            config_json: env.config_json.clone(),
        }
    }

    /// Runs `translate`. On success returns the operations and this call's kv writes (to add to the
    /// batch's overlay); `overlay` is what earlier changes of the batch wrote (shared with the call, not
    /// copied: the caller's `Arc::make_mut` after the call finds it unshared again).
    pub async fn translate(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        overlay: &Arc<KvOverlay>,
        change: Change,
        correlation_id: String,
        now_ms: u64,
    ) -> (Result<(Vec<Operation>, KvOverlay), CallError>, CallStats) {
        let started = Instant::now();
        let mut store = self.store(env, overlay.clone(), true);
        let fuel = self.limits.translate_fuel;
        let _ = store.set_fuel(fuel);
        store.set_epoch_deadline(self.limits.translate_ticks);
        store.epoch_deadline_trap();
        let ctx = Self::context(env, correlation_id, now_ms);
        let result = async {
            let bindings = plugin.pre.instantiate_async(&mut store).await?;
            bindings.call_translate(&mut store, &ctx, &change).await
        }
        .await;
        let stats = stats(&store, fuel, started);
        let out = match result {
            Ok(Ok(ops)) => match check_ops(&ops, &self.limits) {
                Ok(()) => Ok((ops, store.data_mut().take_kv_writes())),
                Err(e) => Err(e),
            },
            Ok(Err(e)) => Err(CallError::Plugin(plugin_error(&e))),
            Err(e) => Err(trap(e, &store, &self.limits, fuel)),
        };
        (out, stats)
    }

    /// Runs `deliver`. On success returns the outcome and the call's kv writes.
    pub async fn deliver(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        op_id: &str,
        op: &Operation,
        now_ms: u64,
    ) -> (Result<(Outcome, KvOverlay), CallError>, CallStats) {
        let started = Instant::now();
        let mut store = self.store(env, Arc::default(), false);
        let fuel = self.limits.deliver_fuel;
        let _ = store.set_fuel(fuel);
        // Yield to tokio at every tick instead of trapping: waiting on HTTP costs nothing, CPU-bound
        // guests share the worker, and the wall-clock limit is the timeout below.
        store.epoch_deadline_async_yield_and_update(1);
        let ctx = Self::context(env, op_id.to_owned(), now_ms);
        let call = async {
            let bindings = plugin.pre.instantiate_async(&mut store).await?;
            bindings.call_deliver(&mut store, &ctx, op_id, op).await
        };
        let result = tokio::time::timeout(self.limits.deliver_timeout, call).await;
        let stats = stats(&store, fuel, started);
        let out = match result {
            Err(_) => Err(CallError::Trap(format!(
                "deliver exceeded the time limit of {} s",
                self.limits.deliver_timeout.as_secs()
            ))),
            Ok(Ok(Ok(outcome))) => check_outcome(outcome, &self.limits).map(|o| (o, store.data_mut().take_kv_writes())),
            Ok(Ok(Err(e))) => Err(CallError::Plugin(plugin_error(&e))),
            Ok(Err(e)) => Err(trap(e, &store, &self.limits, fuel)),
        };
        (out, stats)
    }
}

fn offered(import: &str) -> bool {
    let Some(rest) = import.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else { return false };
    let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
    OFFERED.contains(&iface) && (version.is_empty() || version.starts_with("1."))
}

fn stats(store: &Store<CallState>, fuel: u64, started: Instant) -> CallStats {
    CallStats {
        fuel: fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
        peak_memory_bytes: store.data().limiter.peak,
        micros: started.elapsed().as_micros() as u64,
    }
}

pub fn plugin_error(e: &PluginError) -> String {
    match e {
        PluginError::InvalidInput(m) => format!("invalid input: {m}"),
        PluginError::Unsupported(m) => format!("unsupported: {m}"),
        PluginError::Config(m) => format!("configuration: {m}"),
        PluginError::Internal(m) => format!("internal: {m}"),
    }
}

/// Names the limit a trap hit, in words an admin understands.
fn trap(e: wasmtime::Error, store: &Store<CallState>, limits: &CallLimits, fuel: u64) -> CallError {
    if let Some(host) = store.data().host_failure.clone() {
        return CallError::Host(host);
    }
    if store.data().limiter.denied {
        return CallError::Trap(format!("the plugin exceeded its memory limit of {} MiB", limits.memory_bytes >> 20));
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::Trap(format!("the plugin ran out of fuel (budget {fuel} instructions)")),
        Some(Trap::Interrupt) => CallError::Trap(format!(
            "the plugin exceeded its time limit of {} ms",
            limits.translate_ticks * TICK.as_millis() as u64
        )),
        Some(Trap::UnreachableCodeReached) => {
            let why = store.data().panic_message.clone();
            CallError::Trap(match why {
                Some(m) => format!("the plugin panicked: {m}"),
                None => "the plugin trapped: unreachable code reached (a panic or abort)".to_owned(),
            })
        }
        Some(t) => CallError::Trap(format!("the plugin trapped: {t}")),
        None => {
            let msg = format!("{e:#}");
            if msg.contains("instance") && (msg.contains("limit") || msg.contains("pool")) {
                CallError::Host(format!("could not instantiate the plugin: {msg}"))
            } else {
                CallError::Trap(format!("the plugin failed: {msg}"))
            }
        }
    }
}

/// Output limits: number of operations and total size.
fn check_ops(ops: &[Operation], limits: &CallLimits) -> Result<(), CallError> {
    if ops.len() > limits.max_ops {
        return Err(CallError::Output(format!(
            "{} operations from one change, over the limit of {}",
            ops.len(),
            limits.max_ops
        )));
    }
    let size: usize = ops.iter().map(super::convert::op_size).sum();
    if size > limits.max_output_bytes {
        return Err(CallError::Output(format!(
            "{size} bytes of operations from one change, over the limit of {} bytes",
            limits.max_output_bytes
        )));
    }
    Ok(())
}

/// Longest reason a delivery outcome keeps (the outbox stores it; an LMS's answer can be long).
const MAX_REASON_BYTES: usize = 1024;

/// Output limits of a delivery: the remote ids (count and bytes, like a translation's operations), the
/// reason of a retry, conflict or failure shortened to [`MAX_REASON_BYTES`].
fn check_outcome(outcome: Outcome, limits: &CallLimits) -> Result<Outcome, CallError> {
    fn short(mut s: String) -> String {
        if s.len() > MAX_REASON_BYTES {
            let mut cut = MAX_REASON_BYTES;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    }
    Ok(match outcome {
        Outcome::Done(ids) => {
            let size: usize = ids.iter().map(|r| r.kind.len() + r.local_id.len() + r.remote_id.len()).sum();
            if ids.len() > limits.max_ops || size > limits.max_output_bytes {
                return Err(CallError::Output(format!(
                    "{} remote ids ({size} bytes) from one delivery, over the limit of {} ids or {} bytes",
                    ids.len(),
                    limits.max_ops,
                    limits.max_output_bytes
                )));
            }
            Outcome::Done(ids)
        }
        Outcome::Retry(mut r) => {
            r.reason = short(r.reason);
            Outcome::Retry(r)
        }
        Outcome::Conflict(m) => Outcome::Conflict(short(m)),
        Outcome::Failed(m) => Outcome::Failed(short(m)),
    })
}

/// Creates the precompiled-plugin cache (mode 0700) or checks the existing one: a directory owned by
/// this user that no other user can write, since what it holds is loaded as native code.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| anyhow::anyhow!("cannot create the plugin cache {}: {e}", dir.display()))?;
        }
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| anyhow::anyhow!("cannot read the plugin cache {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("the plugin cache {} is not a directory (a symbolic link is refused too)", dir.display());
        }
        // Our effective uid, as the owner of a file we create (no unsafe call needed).
        let probe = dir.join(format!(".owner-probe-{}", std::process::id()));
        let me = std::fs::File::create(&probe)
            .and_then(|f| f.metadata())
            .map(|m| m.uid())
            .map_err(|e| anyhow::anyhow!("cannot write to the plugin cache {}: {e}", dir.display()));
        let _ = std::fs::remove_file(&probe);
        let me = me?;
        if meta.uid() != me {
            anyhow::bail!(
                "the plugin cache {} belongs to another user (uid {}, this process runs as {me}); its files are \
                 loaded as native code: use a directory of your own (plugin_cache_dir)",
                dir.display(),
                meta.uid()
            );
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            anyhow::bail!(
                "the plugin cache {} is writable by other users (mode {mode:o}); its files are loaded as native \
                 code: `chmod 700` it or set plugin_cache_dir",
                dir.display()
            );
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

#[cfg(test)]
mod outcome_tests {
    use super::super::bindings::{Outcome, RemoteId, Retry};
    use super::{CallLimits, MAX_REASON_BYTES, check_outcome};

    /// What a delivery hands back is bounded like a translation's output: remote ids by count and
    /// bytes, reasons shortened (the outbox stores them).
    #[test]
    fn delivery_outcomes_are_bounded() {
        let limits = CallLimits::default();
        let id = |i: usize| RemoteId { kind: "user".into(), local_id: format!("l{i}"), remote_id: format!("r{i}") };
        assert!(check_outcome(Outcome::Done((0..limits.max_ops).map(id).collect()), &limits).is_ok());
        let many = check_outcome(Outcome::Done((0..=limits.max_ops).map(id).collect()), &limits);
        assert!(many.is_err_and(|e| e.to_string().contains("remote ids")));
        let big =
            RemoteId { kind: "user".into(), local_id: "l".into(), remote_id: "r".repeat(limits.max_output_bytes) };
        assert!(check_outcome(Outcome::Done(vec![big]), &limits).is_err());
        let Ok(Outcome::Failed(m)) = check_outcome(Outcome::Failed("é".repeat(5_000)), &limits) else {
            panic!("a failure stays a failure");
        };
        assert!(m.len() <= MAX_REASON_BYTES + '…'.len_utf8() && m.ends_with('…'));
        let Ok(Outcome::Retry(r)) =
            check_outcome(Outcome::Retry(Retry { after_secs: Some(3), reason: "x".repeat(2_000) }), &limits)
        else {
            panic!("a retry stays a retry");
        };
        assert_eq!((r.after_secs, r.reason.len()), (Some(3), MAX_REASON_BYTES + '…'.len_utf8()));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::private_dir;
    use std::os::unix::fs::PermissionsExt as _;

    /// The cache is created 0700; one that another user could write is refused (its files are loaded
    /// as native code). On 7914331 it defaulted to a shared temporary directory, used as found.
    #[test]
    fn the_plugin_cache_is_private() {
        let base = std::env::temp_dir().join(format!("scimgw-cache-test-{}", uuid::Uuid::new_v4().simple()));
        let dir = base.join("data").join("plugin-cache");
        private_dir(&dir).expect("created");
        assert_eq!(std::fs::metadata(&dir).expect("meta").permissions().mode() & 0o777, 0o700);
        private_dir(&dir).expect("reused");
        for mode in [0o770, 0o777, 0o702] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let e = private_dir(&dir).expect_err("refused").to_string();
            assert!(e.contains("writable by other users") && e.contains(&format!("{mode:o}")), "{e}");
        }
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("symlink");
        assert!(private_dir(&link).expect_err("a link is refused").to_string().contains("not a directory"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
