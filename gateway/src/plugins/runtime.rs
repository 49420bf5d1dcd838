//! The wasmtime host: one `Engine` (pooling allocator with an on-demand fallback, fuel and epoch
//! interruption), validation at registration (imports, exports, the contract version a plugin was built
//! for), precompiled components cached by content hash. The calls themselves, each in a fresh `Store`
//! under fuel, wall-clock, memory, table, instance, output and log limits, are in `invoke`.

use super::bindings::{Plugin, admin, provisioning, schedule};
use super::call::{CallLimits, CallState};
use super::egress::{Egress, Limits as EgressLimits};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The package and interfaces a plugin may import (1.0 up to [`MINOR`]: the linker matches semver).
pub const PACKAGE: &str = "scimgw:plugin";
pub const OFFERED: [&str; 6] = ["types", "log", "kv", "directory", "http", "notify"];
pub const WORLD: &str = "scimgw:plugin/target@1.0.0";
/// The contract versions this gateway runs: 1.0 to 1.[`MINOR`].
pub const MAJOR: u64 = 1;
pub const MINOR: u64 = 0;
/// The custom section in which the SDK records the contract version a plugin was built for.
pub const VERSION_SECTION: &str = "scimgw:api-version";

pub(super) const TICK: Duration = Duration::from_millis(10);
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
    /// Built for a contract version this gateway does not run.
    #[error(
        "plugin was built for contract {built}; this gateway supports {MAJOR}.0–{MAJOR}.{MINOR} \
         (rebuild it with an SDK for {MAJOR}.{MINOR}, or upgrade the gateway)"
    )]
    Version { built: String },
}

/// A validated, compiled plugin version: what it exports (`provisioning` always; `schedule` and `admin`
/// when present) and the contract version it was built for (when its SDK recorded one).
pub struct Compiled {
    pub sha256: String,
    /// `target`, plus `+schedule` and `+admin` for the optional exports it has.
    pub world: String,
    pub size: usize,
    pub api_version: Option<String>,
    pub(super) pre: InstancePre<CallState>,
    pub(super) provisioning: provisioning::GuestIndices,
    pub(super) schedule: Option<schedule::GuestIndices>,
    pub(super) admin: Option<admin::GuestIndices>,
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
    pub(super) engine: Engine,
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
            .max_memory_size(limits.largest_memory())
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
        Plugin::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(&mut linker, |s| s)?;
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

    /// A core module built for this contract (with wit-bindgen's `component-type` section) turned into
    /// a component, as `wasm-tools component new` would; a component is returned as it is.
    pub fn componentize(wasm: Vec<u8>) -> Result<Vec<u8>, String> {
        if wasm.len() < 8 || wasm[4..8] != [1, 0, 0, 0] {
            return Ok(wasm);
        }
        wit_component::ComponentEncoder::default()
            .module(&wasm)
            .and_then(|e| e.validate(true).encode())
            .map_err(|e| format!("this core module cannot be turned into a component: {e:#}"))
    }

    pub fn sha256(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// Validates a plugin for registration: size, a component (not a core module), the contract version
    /// it was built for, imports limited to what the gateway offers (anything else is named), exports
    /// matching the `target` world (plus the optional `schedule` and `admin`).
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
        if let Some(built) = api_version(wasm)
            && !supported(&built)
        {
            return Err(Refused::Version { built });
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
        let mut newer = None;
        for (name, _) in ty.imports(&self.engine) {
            match offered(name) {
                Offered::Yes => {}
                Offered::Newer(v) => newer = Some(v),
                Offered::No => refused.push(name.to_owned()),
            }
        }
        if !refused.is_empty() {
            return Err(Refused::Imports(refused));
        }
        if let Some(built) = newer {
            return Err(Refused::Version { built });
        }
        let mut exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_owned()).collect();
        exports.sort();
        if !exports.iter().any(|e| e.starts_with(&format!("{PACKAGE}/provisioning@"))) {
            return Err(Refused::MissingExports {
                missing: format!("{PACKAGE}/provisioning (translate, deliver)"),
                have: if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") },
            });
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| Refused::World(format!("{e:#}")))?;
        let provisioning = provisioning::GuestIndices::new(&pre).map_err(|e| Refused::Exports(format!("{e:#}")))?;
        let has = |iface: &str| exports.iter().any(|e| e.starts_with(&format!("{PACKAGE}/{iface}@")));
        let schedule = if has("schedule") {
            Some(schedule::GuestIndices::new(&pre).map_err(|e| Refused::Exports(format!("{e:#}")))?)
        } else {
            None
        };
        let admin = if has("admin") {
            Some(admin::GuestIndices::new(&pre).map_err(|e| Refused::Exports(format!("{e:#}")))?)
        } else {
            None
        };
        let mut world = String::from("target");
        if schedule.is_some() {
            world.push_str("+schedule");
        }
        if admin.is_some() {
            world.push_str("+admin");
        }
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
        Ok(Compiled {
            sha256: sha,
            world,
            size: wasm.len(),
            api_version: api_version(wasm),
            pre,
            provisioning,
            schedule,
            admin,
        })
    }
}

/// Whether the gateway offers an import.
enum Offered {
    Yes,
    No,
    /// Ours, but from a newer minor version than this gateway runs (the version is given).
    Newer(String),
}

fn offered(import: &str) -> Offered {
    let Some(rest) = import.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else { return Offered::No };
    let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
    if !OFFERED.contains(&iface) {
        return Offered::No;
    }
    if version.is_empty() || supported(version) {
        Offered::Yes
    } else if version.starts_with(&format!("{MAJOR}.")) {
        Offered::Newer(version.to_owned())
    } else {
        Offered::No
    }
}

/// A contract version this gateway runs: major [`MAJOR`], minor at most [`MINOR`].
fn supported(version: &str) -> bool {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u64>());
    matches!((parts.next(), parts.next()), (Some(Ok(MAJOR)), Some(Ok(minor))) if minor <= MINOR)
}

/// The contract version recorded in the component's `scimgw:api-version` custom section (in any of
/// its core modules), if its SDK recorded one.
pub fn api_version(wasm: &[u8]) -> Option<String> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CustomSection(section)) = payload
            && section.name() == VERSION_SECTION
        {
            let text = std::str::from_utf8(section.data()).ok()?.trim_matches(char::from(0)).trim();
            return Some(text.to_owned());
        }
    }
    None
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
mod version_tests {
    use super::{Offered, api_version, offered, supported};

    /// The contract versions a gateway runs: 1.0 up to its minor; a newer minor is named, another
    /// package or major is not ours.
    #[test]
    fn versions_are_checked_by_major_and_minor() {
        assert!(supported("1.0.0") && supported("1.0") && !supported("1.1.0") && !supported("2.0.0"));
        assert!(!supported("") && !supported("x.y"));
        assert!(matches!(offered("scimgw:plugin/kv@1.0.0"), Offered::Yes));
        assert!(matches!(offered("scimgw:plugin/notify@1.0.0"), Offered::Yes));
        assert!(matches!(offered("scimgw:plugin/kv@1.3.0"), Offered::Newer(v) if v == "1.3.0"));
        assert!(matches!(offered("scimgw:plugin/kv@2.0.0"), Offered::No));
        assert!(matches!(offered("scimgw:plugin/files@1.0.0"), Offered::No));
        assert!(matches!(offered("scimgw:lms-target/kv@1.0.0"), Offered::No));
        assert!(matches!(offered("wasi:cli/environment@0.2.0"), Offered::No));
    }

    /// The version the SDK records in a custom section is found in a nested core module.
    #[test]
    fn the_recorded_version_is_read_from_a_custom_section() {
        // A core module with one custom section `scimgw:api-version` = "1.0.0".
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        let name = b"scimgw:api-version";
        let payload = b"1.0.0";
        module.push(0);
        module.push((1 + name.len() + payload.len()) as u8);
        module.push(name.len() as u8);
        module.extend_from_slice(name);
        module.extend_from_slice(payload);
        assert_eq!(api_version(&module).as_deref(), Some("1.0.0"));
        assert_eq!(api_version(b"\0asm\x01\0\0\0"), None);
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
