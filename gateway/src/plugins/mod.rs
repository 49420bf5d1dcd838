//! The plugin host: the wasmtime runtime, the host imports, plugin registration with hot swap and target
//! environments (policy, credentials). The delivery pipeline that drives it is `crate::delivery`.
//!
//! Imports inside run one way: `fixtures` (the vendor's test runner), `invoke` (the calls), `runtime`
//! (engine, validation), `host` (the imports a plugin calls), `call` (one call's environment, limits and
//! state) and `bindings` (what `bindgen!` generates from the WIT), each using only those after it besides
//! `egress` and `convert`; `convert` uses only `bindings`.

pub mod bindings;
pub mod call;
pub mod convert;
pub mod egress;
pub mod fixtures;
pub mod host;
pub mod invoke;
pub mod runtime;
pub mod secrets;

use crate::store::delivery::TargetRow;
use crate::store::{DynStore, StoreError};
use call::CallEnv;
use runtime::{Compiled, Runtime};
use secrets::SecretBox;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Why a plugin could not be had from the [`Registry`].
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Store(StoreError),
    #[error("plugin \"{0}\" is not registered (gateway plugin add)")]
    NotRegistered(String),
    #[error("plugin compilation panicked: {0}")]
    Panicked(tokio::task::JoinError),
    /// The stored version does not load (validation or compilation failed); the reason is remembered
    /// per version.
    #[error("{0}")]
    Broken(String),
}

/// Why a target's environment could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Store(StoreError),
    #[error("target {target}: {error}")]
    Policy { target: String, error: egress::PolicyError },
    #[error("credential {name} of target {target} cannot be opened: {error}")]
    Credential { name: String, target: String, error: secrets::SecretError },
}

/// The compiled plugins, newest version per name. A new version uploaded by any process is picked up
/// by [`Registry::refresh`]; calls in flight keep the `Arc` of the version they started with.
pub struct Registry {
    rt: Arc<Runtime>,
    store: DynStore,
    loaded: RwLock<HashMap<String, Arc<Compiled>>>,
    /// Versions that failed to load (sha → reason), so they are not recompiled on every refresh.
    broken: Mutex<HashMap<String, String>>,
}

impl Registry {
    pub fn new(rt: Arc<Runtime>, store: DynStore) -> Arc<Registry> {
        Arc::new(Registry { rt, store, loaded: RwLock::new(HashMap::new()), broken: Mutex::new(HashMap::new()) })
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// The active version of a plugin, loading it on first use.
    pub async fn get(&self, name: &str) -> Result<Arc<Compiled>, RegistryError> {
        if let Some(p) = self.loaded.read().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(p);
        }
        self.load(name).await
    }

    async fn load(&self, name: &str) -> Result<Arc<Compiled>, RegistryError> {
        let Some((sha, wasm)) = self.store.plugin_wasm(name).await.map_err(RegistryError::Store)? else {
            return Err(RegistryError::NotRegistered(name.to_owned()));
        };
        if let Some(why) = self.broken.lock().ok().and_then(|b| b.get(&sha).cloned()) {
            return Err(RegistryError::Broken(why));
        }
        let rt = self.rt.clone();
        let compiled = tokio::task::spawn_blocking(move || rt.load(&wasm)).await.map_err(RegistryError::Panicked)?;
        match compiled {
            Ok(c) => {
                let c = Arc::new(c);
                tracing::info!(plugin = name, sha256 = %c.sha256, "plugin loaded");
                if let Ok(mut m) = self.loaded.write() {
                    m.insert(name.to_owned(), c.clone());
                }
                Ok(c)
            }
            Err(e) => {
                tracing::error!(plugin = name, error = %e, "plugin failed to load");
                let reason = e.to_string();
                if let Ok(mut b) = self.broken.lock() {
                    b.insert(sha, reason.clone());
                }
                Err(RegistryError::Broken(reason))
            }
        }
    }

    /// Swaps in plugin versions uploaded since the last look.
    pub async fn refresh(&self) {
        let Ok(heads) = self.store.plugin_heads().await else { return };
        for (name, sha) in heads {
            let current = self.loaded.read().ok().and_then(|m| m.get(&name).map(|c| c.sha256.clone()));
            if current.is_some() && current.as_deref() != Some(sha.as_str()) && self.load(&name).await.is_ok() {
                tracing::info!(plugin = %name, sha256 = %sha, "plugin swapped to a new version");
            }
        }
    }
}

/// A target ready for calls: its row and the call environment (policy, decrypted credentials).
pub struct TargetEnv {
    pub row: TargetRow,
    pub env: CallEnv,
}

/// How long a target's environment is used before it is read from the store again.
const TARGET_TTL: Duration = Duration::from_secs(2);
/// Target environments kept at most: far more than a gateway has targets (the former map had no bound);
/// past it, the cache drops some, which are read again on their next use.
const TARGET_CACHE_CAPACITY: u64 = 10_000;

/// Target environments by pk, re-read from the store at most every couple of seconds.
pub struct Targets {
    store: DynStore,
    secrets: Arc<SecretBox>,
    /// Each entry expires [`TARGET_TTL`] after it was stored; a miss reads the store and stores anew.
    cache: moka::sync::Cache<i64, Arc<TargetEnv>>,
    /// Per target: held by whatever reads and then writes the plugin's kv state (see [`Targets::state_lock`]).
    state_locks: std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Targets {
    pub fn new(store: DynStore, secrets: Arc<SecretBox>) -> Arc<Targets> {
        let cache = moka::sync::Cache::builder().max_capacity(TARGET_CACHE_CAPACITY).time_to_live(TARGET_TTL).build();
        Arc::new(Targets { store, secrets, cache, state_locks: std::sync::Mutex::new(HashMap::new()) })
    }

    /// The target's state lock. A translate batch (its calls and its commit), one job call with its
    /// commit, and an admin write with its commit each read the plugin's kv and then write it: in this
    /// process they take turns on the target, so none of them overwrites what another wrote in between.
    /// (Several instances never run them at once either: all three happen under the target's lease.)
    /// Deliveries are not serialized: a plugin keeps what `deliver` writes under keys of its own.
    pub async fn state_lock(&self, pk: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = match self.state_locks.lock() {
            Ok(mut m) => m.entry(pk).or_default().clone(),
            Err(poisoned) => poisoned.into_inner().entry(pk).or_default().clone(),
        };
        lock.lock_owned().await
    }

    pub async fn get(&self, pk: i64) -> Result<Option<Arc<TargetEnv>>, TargetError> {
        if let Some(t) = self.cache.get(&pk) {
            return Ok(Some(t));
        }
        let Some(row) = self.store.target_by_pk(pk).await.map_err(TargetError::Store)? else { return Ok(None) };
        let env = self.env_for(&row).await?;
        let t = Arc::new(TargetEnv { row, env });
        self.cache.insert(pk, t.clone());
        Ok(Some(t))
    }

    /// The call environment of a target: its egress policy and credentials (decrypted here, handed to
    /// the HTTP client only; never to the plugin).
    pub async fn env_for(&self, row: &TargetRow) -> Result<CallEnv, TargetError> {
        let policy = egress::Policy::new(&row.allowed_hosts, row.allow_http, row.allow_private)
            .map_err(|error| TargetError::Policy { target: row.name.clone(), error })?;
        let mut creds = HashMap::new();
        for (name, sealed) in self.store.target_credentials(row.pk).await.map_err(TargetError::Store)? {
            let secret = match self.secrets.open(&sealed) {
                Ok(secret) => secret,
                Err(error) => return Err(TargetError::Credential { name, target: row.name.clone(), error }),
            };
            creds.insert(name, secret);
        }
        Ok(CallEnv {
            tenant: row.tenant.clone(),
            tenant_pk: row.tenant_pk,
            target: row.name.clone(),
            target_pk: row.pk,
            config_json: row.config.clone(),
            store: Some(self.store.clone()),
            policy: Arc::new(policy),
            credentials: Arc::new(creds),
            capture_logs: false,
            seed: None,
            egress: None,
        })
    }
}
