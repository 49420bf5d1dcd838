//! Loads and reads of a tenant's report, shared by the CLI and the admin API: a load parses off the
//! async runtime and replaces the stored snapshot in one statement; reads keep the decoded snapshot and
//! the identity map in memory until a new load or a SCIM write makes them stale.

use super::join::{Identities, identities};
use super::load::{LoadError, load_dir};
use super::model::Snapshot;
use crate::store::report::StoredSnapshot;
use crate::store::{DynStore, StoreError, now_rfc3339};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The files are not usable; nothing was changed.
    #[error("{0}; the previous snapshot stays in force")]
    Load(LoadError),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// What a load reports back.
#[derive(Debug, Serialize)]
pub struct Loaded {
    pub tenant: String,
    pub loaded_at: String,
    pub source: String,
    pub learners: usize,
    pub rows: std::collections::BTreeMap<String, u64>,
    pub files: std::collections::BTreeMap<String, String>,
    pub orphan_rows: u64,
    pub parse_millis: u64,
    pub stored_bytes: usize,
}

/// Reports of every tenant, with decoded snapshots and identity maps cached.
pub struct Reports {
    store: DynStore,
    snapshots: Mutex<HashMap<String, (String, Arc<Snapshot>)>>,
    ids: Mutex<HashMap<String, (i64, Arc<Identities>)>>,
}

impl Reports {
    pub fn new(store: DynStore) -> Arc<Reports> {
        Arc::new(Reports { store, snapshots: Mutex::new(HashMap::new()), ids: Mutex::new(HashMap::new()) })
    }

    /// Loads a folder of dataset files and makes it the tenant's snapshot; on any error nothing changes.
    pub async fn load_dir(&self, tenant: &str, dir: PathBuf) -> Result<Loaded, ReportError> {
        if self.store.last_seq(tenant).await?.is_none() {
            return Err(ReportError::NotFound(format!("tenant \"{tenant}\" not found")));
        }
        let now = now_rfc3339();
        let snapshot = tokio::task::spawn_blocking(move || load_dir(&dir, &now))
            .await
            .map_err(|e| ReportError::Internal(format!("the load panicked: {e}")))?
            .map_err(ReportError::Load)?;
        self.put(tenant, snapshot).await
    }

    /// Loads the dataset tables of a PostgreSQL database (schema `dbo`, else `public`, unless named).
    pub async fn load_postgres(&self, tenant: &str, url: &str, schema: Option<&str>) -> Result<Loaded, ReportError> {
        if self.store.last_seq(tenant).await?.is_none() {
            return Err(ReportError::NotFound(format!("tenant \"{tenant}\" not found")));
        }
        let dir = std::env::temp_dir().join(format!("scimgw-report-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| ReportError::Internal(e.to_string()))?;
        let result = async {
            let tables = super::pg_source::copy_tables(url, schema, &dir).await.map_err(ReportError::Load)?;
            let now = now_rfc3339();
            let d = dir.clone();
            let mut snapshot = tokio::task::spawn_blocking(move || load_dir(&d, &now))
                .await
                .map_err(|e| ReportError::Internal(format!("the load panicked: {e}")))?
                .map_err(|mut e| {
                    // Name the table, not the scratch file.
                    if let Some((_, table)) = tables
                        .iter()
                        .find(|(_, t)| t.rsplit('.').next().is_some_and(|name| e.file == format!("{name}.csv")))
                    {
                        e.file = format!("table {table}");
                    }
                    ReportError::Load(e)
                })?;
            snapshot.source = super::pg_source::shown_url(url);
            for (ds, table) in &tables {
                snapshot.stats.files.insert(ds.name().to_owned(), table.clone());
            }
            self.put(tenant, snapshot).await
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// Stores a snapshot as the tenant's current one.
    pub async fn put(&self, tenant: &str, snapshot: Snapshot) -> Result<Loaded, ReportError> {
        let clock = std::time::Instant::now();
        let (snapshot, data) = tokio::task::spawn_blocking(move || {
            let data = snapshot.encode();
            (snapshot, data)
        })
        .await
        .map_err(|e| ReportError::Internal(e.to_string()))?;
        let data = data.map_err(|e| ReportError::Internal(format!("cannot encode the snapshot: {e}")))?;
        let loaded = Loaded {
            tenant: tenant.to_owned(),
            loaded_at: snapshot.loaded_at.clone(),
            source: snapshot.source.clone(),
            learners: snapshot.learners.len(),
            rows: snapshot.stats.rows.clone(),
            files: snapshot.stats.files.clone(),
            orphan_rows: snapshot.stats.orphan_rows,
            parse_millis: snapshot.stats.millis,
            stored_bytes: data.len(),
        };
        let stored = StoredSnapshot { loaded_at: snapshot.loaded_at.clone(), source: snapshot.source.clone(), data };
        let encode_ms = clock.elapsed().as_millis() as u64;
        if !self.store.put_snapshot(tenant, stored).await? {
            return Err(ReportError::NotFound(format!("tenant \"{tenant}\" not found")));
        }
        if let Ok(mut c) = self.snapshots.lock() {
            c.insert(tenant.to_owned(), (snapshot.loaded_at.clone(), Arc::new(snapshot)));
        }
        tracing::info!(
            tenant,
            learners = loaded.learners,
            parse_ms = loaded.parse_millis,
            encode_ms,
            store_ms = clock.elapsed().as_millis() as u64 - encode_ms,
            bytes = loaded.stored_bytes,
            "report snapshot loaded"
        );
        Ok(loaded)
    }

    /// What a report is made of: the tenant's snapshot and identities; NotFound (saying how to load
    /// one) when nothing was loaded.
    pub async fn parts(&self, tenant: &str) -> Result<(Arc<Snapshot>, Arc<Identities>), ReportError> {
        // Independent reads: the identities come from the database while the snapshot decodes.
        let (snapshot, ids) = tokio::join!(self.snapshot(tenant), self.identities(tenant));
        let snapshot = snapshot?.ok_or_else(|| {
            ReportError::NotFound(format!(
                "tenant \"{tenant}\" has no report loaded (gateway report load --tenant {tenant} FOLDER)"
            ))
        })?;
        Ok((snapshot, ids?))
    }

    /// The tenant's current snapshot, if one was loaded.
    pub async fn snapshot(&self, tenant: &str) -> Result<Option<Arc<Snapshot>>, ReportError> {
        let Some(at) = self.store.snapshot_loaded_at(tenant).await? else { return Ok(None) };
        if let Some((cached_at, s)) = self.snapshots.lock().ok().and_then(|c| c.get(tenant).cloned())
            && cached_at == at
        {
            return Ok(Some(s));
        }
        let clock = std::time::Instant::now();
        let Some(stored) = self.store.get_snapshot(tenant).await? else { return Ok(None) };
        let read_ms = clock.elapsed().as_millis() as u64;
        let snapshot = tokio::task::spawn_blocking(move || Snapshot::decode(&stored.data))
            .await
            .map_err(|e| ReportError::Internal(e.to_string()))?
            .map_err(|e| ReportError::Internal(format!("the stored snapshot cannot be decoded: {e}")))?;
        tracing::debug!(
            tenant,
            read_ms,
            decode_ms = clock.elapsed().as_millis() as u64 - read_ms,
            "report snapshot decoded"
        );
        let snapshot = Arc::new(snapshot);
        if let Ok(mut c) = self.snapshots.lock() {
            c.insert(tenant.to_owned(), (snapshot.loaded_at.clone(), snapshot.clone()));
        }
        Ok(Some(snapshot))
    }

    /// Decodes every tenant's report (snapshot and identities) into the cache.
    pub async fn warm_up(self: Arc<Self>) {
        let Ok(tenants) = self.store.list_tenants().await else { return };
        for t in tenants {
            if matches!(self.snapshot(&t.tenant).await, Ok(Some(_))) {
                let _ = self.identities(&t.tenant).await;
            }
        }
    }

    /// The tenant's SCIM identities by objectId, as of its latest change.
    pub async fn identities(&self, tenant: &str) -> Result<Arc<Identities>, ReportError> {
        let seq = self
            .store
            .last_seq(tenant)
            .await?
            .ok_or_else(|| ReportError::NotFound(format!("tenant \"{tenant}\" not found")))?;
        if let Some((cached, ids)) = self.ids.lock().ok().and_then(|c| c.get(tenant).cloned())
            && cached == seq
        {
            return Ok(ids);
        }
        let clock = std::time::Instant::now();
        let (seq, pairs) = self.store.identities(tenant).await?;
        let read_ms = clock.elapsed().as_millis() as u64;
        let ids = Arc::new(identities(pairs));
        tracing::debug!(
            tenant,
            read_ms,
            map_ms = clock.elapsed().as_millis() as u64 - read_ms,
            users = ids.len(),
            "report identities read"
        );
        if let Ok(mut c) = self.ids.lock() {
            c.insert(tenant.to_owned(), (seq, ids.clone()));
        }
        Ok(ids)
    }
}
