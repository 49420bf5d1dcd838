//! Control of the delivery pipeline: plugins, targets and the outbox, one implementation behind the CLI
//! (`gateway plugin|target|outbox …`) and the admin API (`/admin/v1`, routes in `http::admin`).

use crate::clock::now_ms;
use crate::plugins::bindings::{Change, Event};
use crate::plugins::call::{CallEnv, KvOverlay};
use crate::plugins::egress::Policy;
use crate::plugins::fixtures;
use crate::plugins::runtime::{CallError, Runtime};
use crate::plugins::secrets::SecretBox;
use crate::store::delivery::{NewTarget, OutboxFilter, OutboxRow, PluginRow, TargetAction, TargetRow};
use crate::store::{DynStore, StoreError};
use serde_json::Value;
use std::sync::Arc;

/// Jobs with their times as RFC 3339 besides the raw milliseconds.
fn jobs_json(jobs: &[crate::store::jobs::JobRow]) -> serde_json::Value {
    use crate::clock::rfc3339_of_ms;
    let t = |ms: Option<i64>| ms.filter(|m| *m != i64::MAX).map(rfc3339_of_ms);
    jobs.iter()
        .map(|j| {
            let mut v = serde_json::to_value(j).unwrap_or_default();
            v["next_run"] = t(Some(j.next_ms)).into();
            v["running_since"] = t(j.run_ms).into();
            v["last_run"] = t(j.last_ms).into();
            v
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ControlError::NotFound(m),
            StoreError::Conflict(m) => ControlError::Conflict(m),
            StoreError::VersionMismatch(m) | StoreError::Invalid(m) => ControlError::Invalid(m),
            StoreError::Rejected(s) => ControlError::Invalid(s.detail),
            other => ControlError::Internal(other.to_string()),
        }
    }
}

pub type ControlResult<T> = Result<T, ControlError>;

/// What `plugin add` reports.
#[derive(Debug, serde::Serialize)]
pub struct PluginAdded {
    pub name: String,
    pub sha256: String,
    pub size: usize,
    pub world: String,
    /// False when this exact version was already registered (it is the active one again).
    pub new_version: bool,
}

/// A target to add, as given on the command line or to the API.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: String,
    pub plugin: String,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default)]
    pub allow_private: bool,
    /// name → secret
    #[serde(default)]
    pub credentials: std::collections::BTreeMap<String, String>,
}

pub struct Control {
    pub store: DynStore,
    pub rt: Arc<Runtime>,
    pub secrets: Arc<SecretBox>,
}

fn valid_name(kind: &str, name: &str) -> ControlResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!("{kind} name {name:?} must be 1-64 characters of A-Z a-z 0-9 - _ .")))
    }
}

impl Control {
    /// Validates (size, component, imports, world), compiles and stores a plugin version; it becomes the
    /// active version of `name` and running gateways swap to it.
    pub async fn add_plugin(&self, name: &str, wasm: Vec<u8>) -> ControlResult<PluginAdded> {
        valid_name("plugin", name)?;
        let rt = self.rt.clone();
        let bytes = wasm.clone();
        let compiled = tokio::task::spawn_blocking(move || rt.validate(&bytes))
            .await
            .map_err(|e| ControlError::Internal(format!("validation panicked: {e}")))?
            .map_err(|e| ControlError::Invalid(format!("plugin refused: {e}")))?;
        let new = self.store.put_plugin(name, &compiled.sha256, &compiled.world, &wasm).await?;
        Ok(PluginAdded {
            name: name.to_owned(),
            sha256: compiled.sha256.clone(),
            size: compiled.size,
            world: compiled.world.clone(),
            new_version: new,
        })
    }

    pub async fn list_plugins(&self) -> ControlResult<Vec<PluginRow>> {
        Ok(self.store.list_plugins().await?)
    }

    pub async fn add_target(&self, tenant: &str, spec: TargetSpec) -> ControlResult<TargetRow> {
        valid_name("target", &spec.name)?;
        if !self.store.list_plugins().await?.iter().any(|p| p.name == spec.plugin) {
            return Err(ControlError::NotFound(format!(
                "plugin \"{}\" is not registered (gateway plugin add FILE --name {})",
                spec.plugin, spec.plugin
            )));
        }
        let config = match spec.config {
            Value::Null => Value::Object(Default::default()),
            v @ Value::Object(_) => v,
            _ => return Err(ControlError::Invalid("target config must be a JSON object".into())),
        };
        Policy::new(&spec.allowed_hosts, spec.allow_http, spec.allow_private)
            .map_err(|e| ControlError::Invalid(format!("allowed hosts: {e}")))?;
        self.check_config(&spec.plugin, &config).await?;
        let mut credentials = Vec::new();
        for (name, secret) in &spec.credentials {
            valid_name("credential", name)?;
            if secret.is_empty() {
                return Err(ControlError::Invalid(format!("credential {name} is empty")));
            }
            crate::plugins::egress::validate_credential(secret)
                .map_err(|e| ControlError::Invalid(format!("credential {name}: {e}")))?;
            credentials.push((name.clone(), self.secrets.seal(secret)));
        }
        let t = NewTarget {
            name: spec.name,
            plugin: spec.plugin,
            config: config.to_string(),
            allowed_hosts: spec.allowed_hosts,
            allow_http: spec.allow_http,
            allow_private: spec.allow_private,
            credentials,
        };
        Ok(self.store.create_target(tenant, t).await?)
    }

    /// Lets the plugin judge the configuration before the target exists: a dry `translate` of a
    /// `resync-started` change (no state, no network) that answers `plugin-error.config` when the
    /// configuration is wrong. Other outcomes are the plugin's business at run time.
    async fn check_config(&self, plugin: &str, config: &Value) -> ControlResult<()> {
        let Some((_, wasm)) = self.store.plugin_wasm(plugin).await? else { return Ok(()) };
        let rt = self.rt.clone();
        let compiled = tokio::task::spawn_blocking(move || rt.load(&wasm))
            .await
            .map_err(|e| ControlError::Invalid(format!("plugin compilation panicked: {e}")))?
            .map_err(|e| ControlError::Invalid(format!("plugin \"{plugin}\" cannot be loaded: {e}")))?;
        let env = CallEnv::detached("", "", config.to_string());
        let change = Change { seq: 0, at: String::new(), resync: true, event: Event::ResyncStarted };
        let (result, _) = self
            .rt
            .translate(&compiled, &env, &Arc::new(KvOverlay::new()), change, "config-check".into(), now_ms() as u64)
            .await;
        match result {
            Err(CallError::Plugin(m)) if m.starts_with("configuration: ") => {
                Err(ControlError::Invalid(format!("plugin \"{plugin}\" refused the configuration: {}", &m[15..])))
            }
            _ => Ok(()),
        }
    }

    /// Replaces a target's configuration (checked by its plugin first). The dispatcher and delivery
    /// pick it up within two seconds; changes already translated keep the operations they produced.
    pub async fn configure_target(&self, tenant: &str, name: &str, config: Value) -> ControlResult<TargetRow> {
        let t = self.target(tenant, name).await?;
        if !config.is_object() {
            return Err(ControlError::Invalid("target config must be a JSON object".into()));
        }
        self.check_config(&t.plugin, &config).await?;
        self.store.set_target_config(t.pk, &config.to_string()).await?;
        self.target(tenant, name).await
    }

    pub async fn list_targets(&self, tenant: Option<&str>) -> ControlResult<Vec<TargetRow>> {
        Ok(self.store.list_targets(tenant).await?)
    }

    pub async fn target(&self, tenant: &str, name: &str) -> ControlResult<TargetRow> {
        self.store
            .list_targets(Some(tenant))
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ControlError::NotFound(format!("tenant \"{tenant}\" has no target \"{name}\"")))
    }

    pub async fn target_action(&self, tenant: &str, name: &str, action: TargetAction) -> ControlResult<TargetRow> {
        let t = self.target(tenant, name).await?;
        if action == TargetAction::Retry && t.parked_seq.is_none() {
            return Err(ControlError::Invalid(format!("target \"{name}\" is not parked")));
        }
        self.store.target_action(t.pk, action).await?;
        if action == TargetAction::Delete {
            return Ok(t);
        }
        self.target(tenant, name).await
    }

    pub async fn outbox_list(&self, f: OutboxFilter) -> ControlResult<Vec<OutboxRow>> {
        Ok(self.store.list_outbox(f).await?)
    }

    /// A target's status (`target status`): its row, plus the keys a dead operation holds back.
    pub async fn target_status(&self, tenant: &str, name: &str) -> ControlResult<serde_json::Value> {
        let t = self.target(tenant, name).await?;
        let (n, first) = self.store.blocked_keys(t.pk, 20).await?;
        let mut v = t.status_json();
        v["blocked_keys"] = n.into();
        v["blocked"] = first
            .into_iter()
            .map(|(key, op_id, error)| serde_json::json!({"key": key, "dead_op_id": op_id, "last_error": error}))
            .collect();
        v["jobs"] = jobs_json(&self.store.list_jobs(t.pk).await?);
        Ok(v)
    }

    /// A target's scheduled jobs as `gateway target jobs` and the admin API show them.
    pub async fn target_jobs(&self, tenant: &str, name: &str) -> ControlResult<serde_json::Value> {
        let t = self.target(tenant, name).await?;
        Ok(jobs_json(&self.store.list_jobs(t.pk).await?))
    }

    /// Makes a job due now, whatever the scheduler's clock reads (due time 0 = "at once"; the scheduler
    /// of the gateway holding the target runs it within a second, as scheduled at its clock's now).
    pub async fn run_job_now(&self, tenant: &str, name: &str, job: &str) -> ControlResult<()> {
        let t = self.target(tenant, name).await?;
        if !self.store.set_job_due(t.pk, job, 0).await? {
            return Err(ControlError::NotFound(format!("target {name} has no job {job:?} (gateway target jobs)")));
        }
        Ok(())
    }

    /// A target's newest notifications, newest first.
    pub async fn target_notices(&self, tenant: &str, name: &str, limit: i64) -> ControlResult<serde_json::Value> {
        let t = self.target(tenant, name).await?;
        let rows = self.store.list_notices(t.pk, limit.clamp(1, 1000)).await?;
        Ok(serde_json::to_value(rows).unwrap_or_default())
    }

    /// How `wasm` would translate the target's recorded changes, compared with the active version
    /// (`delivery::replay`).
    pub async fn replay(
        &self,
        tenant: &str,
        name: &str,
        wasm: Vec<u8>,
        from: Option<i64>,
        limit: i64,
    ) -> ControlResult<super::replay::ReplayReport> {
        let row = self.target(tenant, name).await?;
        let rt = self.rt.clone();
        let candidate = tokio::task::spawn_blocking(move || rt.validate(&wasm))
            .await
            .map_err(|e| ControlError::Internal(format!("validation panicked: {e}")))?
            .map_err(|e| ControlError::Invalid(format!("plugin refused: {e}")))?;
        let targets = crate::plugins::Targets::new(self.store.clone(), self.secrets.clone());
        super::replay::replay(&self.store, &self.rt, &targets, &row, &candidate, from, limit)
            .await
            .map_err(ControlError::Invalid)
    }

    /// A recorded change as a fixture: the change-log row, the target's configuration (when a target is
    /// named), the change's time, and the directory it touches as the gateway holds it now (the user;
    /// or the group with its members and up to 100 of its member users). Its `expect` is left for
    /// `plugin test --update` to fill in. It holds the tenant's personal data: anonymize it before
    /// committing it anywhere.
    pub async fn fixture_of(&self, tenant: &str, seq: i64, target: Option<&str>) -> ControlResult<Value> {
        use crate::store::Kind;
        let auth = self
            .store
            .tenant_auth(tenant)
            .await?
            .ok_or_else(|| ControlError::NotFound(format!("no tenant {tenant:?}")))?;
        let ev = self
            .store
            .changes(auth.pk, seq - 1, 1)
            .await?
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or_else(|| ControlError::NotFound(format!("tenant {tenant} has no change {seq}")))?;
        let (config, target) = match target {
            Some(name) => {
                let row = self.target(tenant, name).await?;
                (serde_json::from_str(&row.config).unwrap_or(Value::Null), name.to_owned())
            }
            None => (Value::Object(Default::default()), "test".to_owned()),
        };
        let doc = |row: crate::store::Row| {
            row.parse().map(|s| {
                let mut d = s.doc;
                d["id"] = Value::String(s.id);
                d
            })
        };
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        if ev.resource_type == "User" {
            if let Some(row) = self.store.get(auth.pk, Kind::User, &ev.resource_id).await? {
                users.push(doc(row)?);
            }
        } else if ev.resource_type == "Group"
            && let Some(row) = self.store.get(auth.pk, Kind::Group, &ev.resource_id).await?
        {
            let members = self.store.members_of(&[row.pk]).await?;
            let mut g = doc(row)?;
            g["members"] = members
                .iter()
                .map(|(_, m)| serde_json::json!({"value": m.value, "type": if m.kind == Kind::User { "User" } else { "Group" }}))
                .collect();
            for (_, m) in members.iter().filter(|(_, m)| m.kind == Kind::User).take(100) {
                if let Some(u) = self.store.get(auth.pk, Kind::User, &m.value).await? {
                    users.push(doc(u)?);
                }
            }
            groups.push(g);
        }
        Ok(serde_json::json!({
            "description": format!("recorded change {seq} ({}) of tenant {tenant}", ev.kind),
            "config": config,
            "tenant": tenant,
            "target": target,
            "now_unix_ms": crate::clock::parse_rfc3339_ms(&ev.created_at).unwrap_or(0),
            "directory": {"users": users, "groups": groups},
            "change": {"seq": ev.seq, "kind": ev.kind, "resource_type": ev.resource_type,
                       "resource_id": ev.resource_id, "payload": ev.payload, "created_at": ev.created_at},
        }))
    }

    /// The pk of a target (404 when it does not exist).
    pub async fn target_pk(&self, tenant: &str, name: &str) -> ControlResult<i64> {
        Ok(self.target(tenant, name).await?.pk)
    }

    /// Deletes dead operations without delivering them, so the later operations of their keys go on.
    /// Needs a target or an op id: skipping every dead operation of a tenant at once is refused.
    pub async fn outbox_skip(&self, f: OutboxFilter) -> ControlResult<u64> {
        if f.target.is_none() && f.op_id.is_none() {
            return Err(ControlError::Invalid("skip needs a target or an op id".into()));
        }
        if let Some(t) = &f.target {
            self.target(&f.tenant, t).await?;
        }
        let n = self.store.skip_dead(f).await?;
        tracing::warn!(skipped = n, "dead operations skipped by an operator (never delivered)");
        Ok(n)
    }

    pub async fn outbox_replay(&self, f: OutboxFilter) -> ControlResult<u64> {
        if let Some(t) = &f.target {
            self.target(&f.tenant, t).await?;
        }
        Ok(self.store.replay_dead(f, now_ms()).await?)
    }
}

/// Runs golden fixtures against a plugin file (no database needed).
pub async fn test_plugin(
    rt: &Runtime,
    wasm: &[u8],
    dir: &std::path::Path,
    update: bool,
) -> ControlResult<Vec<fixtures::FixtureResult>> {
    let compiled = rt.validate(wasm).map_err(|e| ControlError::Invalid(format!("plugin refused: {e}")))?;
    fixtures::run(rt, &compiled, dir, update).await.map_err(ControlError::Invalid)
}

pub fn action_of(word: &str) -> Option<TargetAction> {
    Some(match word {
        "pause" => TargetAction::Pause,
        "resume" => TargetAction::Resume,
        "retry" => TargetAction::Retry,
        "resync" => TargetAction::Resync { now_ms: now_ms() },
        _ => return None,
    })
}
