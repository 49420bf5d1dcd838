//! The dispatcher: for every (tenant, target) a cursor over the tenant's change log, strictly in order.
//! Each step translates a batch of changes with the target's plugin and commits the operations, the
//! plugin's kv writes and the cursor advance in one transaction. A plugin error parks the target at that
//! change (reason visible in `gateway target status`); other targets go on. On PostgreSQL several
//! gateway instances may run: a lease on the target row lets one of them translate it at a time.

use super::pacing::Pacer;
use crate::clock::now_ms;
use crate::plugins::call::KvOverlay;
use crate::plugins::convert;
use crate::plugins::runtime::CallError;
use crate::plugins::{Registry, Targets};
use crate::store::delivery::{NewOp, TargetRow, Translated};
use crate::store::{ChangeEvent, DynStore, Kind, now_rfc3339};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Changes translated per transaction.
const BATCH: i64 = 200;
/// kv bytes a batch may hold in memory before it is committed (each call may write 1 MiB).
const MAX_OVERLAY_BYTES: usize = 8 << 20;
/// The batch while SCIM requests are arriving: each step's transaction then holds the writer briefly.
const BUSY_BATCH: i64 = 25;
/// Resources replayed per resync step.
const RESYNC_PAGE: i64 = 100;
const LEASE_MS: i64 = 30_000;
/// How long a wake-up waits for more changes before translating.
const GATHER: Duration = Duration::from_millis(25);

pub struct Dispatcher {
    store: DynStore,
    registry: Arc<Registry>,
    targets: Arc<Targets>,
    owner: String,
    leases: Mutex<HashMap<i64, i64>>,
    pacer: Pacer,
}

enum Step {
    Progress,
    Idle,
    Reload,
}

impl Dispatcher {
    pub fn new(
        store: DynStore,
        registry: Arc<Registry>,
        targets: Arc<Targets>,
        owner: String,
        background_share: f64,
    ) -> Arc<Dispatcher> {
        let pacer = Pacer::new(background_share);
        Arc::new(Dispatcher { store, registry, targets, owner, leases: Mutex::new(HashMap::new()), pacer })
    }

    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let signal = self.store.changes_signal();
        let mut rows: Vec<TargetRow> = Vec::new();
        let mut loaded: Option<Instant> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            if loaded.is_none_or(|at| at.elapsed() > Duration::from_secs(2)) {
                match self.store.list_targets(None).await {
                    Ok(r) => {
                        rows = r;
                        loaded = Some(Instant::now());
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot list targets"),
                }
                self.registry.refresh().await;
            }
            // Paused targets keep translating (their operations queue up); only delivery stops.
            let worked = Instant::now();
            let steps = futures_util::future::join_all(
                rows.iter_mut().filter(|t| t.parked_seq.is_none()).map(|t| self.step(t)),
            )
            .await;
            let progressed = steps.iter().any(|s| matches!(s, Step::Progress));
            if progressed {
                self.pacer.rest(worked.elapsed()).await;
            }
            if steps.iter().any(|s| matches!(s, Step::Reload)) {
                loaded = None;
            }
            if !progressed {
                tokio::select! {
                    _ = signal.notified() => {
                        // Let the writes of the next few milliseconds gather: under load one step then
                        // translates and commits a batch instead of one change per SCIM request, which
                        // keeps the dispatcher off the database writer's back.
                        tokio::time::sleep(GATHER).await;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(1000)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    async fn leased(&self, pk: i64) -> bool {
        let now = now_ms();
        let until = self.leases.lock().ok().and_then(|l| l.get(&pk).copied()).unwrap_or(0);
        if until - now > LEASE_MS / 3 {
            return true;
        }
        match self.store.claim_target(pk, &self.owner, now, now + LEASE_MS).await {
            Ok(true) => {
                if let Ok(mut l) = self.leases.lock() {
                    l.insert(pk, now + LEASE_MS);
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot lease target");
                false
            }
        }
    }

    async fn step(&self, t: &mut TargetRow) -> Step {
        if !self.leased(t.pk).await {
            return Step::Idle;
        }
        if t.resync.is_some() {
            return self.resync_step(t).await;
        }
        let events = match self
            .store
            .changes(t.tenant_pk, t.cursor_seq, if self.pacer.scim_busy() { BUSY_BATCH } else { BATCH })
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log");
                return Step::Idle;
            }
        };
        if events.is_empty() {
            return Step::Idle;
        }
        let events = events
            .into_iter()
            .map(|e| {
                let id = format!("s{}", e.seq);
                (e, id)
            })
            .collect();
        self.translate_and_commit(t, events, None).await
    }

    /// Translates `events` in order and commits what succeeded; parks at the first plugin failure.
    /// `resync` is the progress to record with them (resync steps).
    async fn translate_and_commit(
        &self,
        t: &mut TargetRow,
        events: Vec<(ChangeEvent, String)>,
        resync: Option<Option<String>>,
    ) -> Step {
        let labels = [("tenant", t.tenant.clone()), ("target", t.name.clone())];
        let first_seq = events.first().map(|(e, _)| e.seq).unwrap_or(0);
        let mut out = Translated {
            target_pk: t.pk,
            owner: self.owner.clone(),
            old_cursor: t.cursor_seq,
            new_cursor: t.cursor_seq,
            resync: None,
            ..Translated::default()
        };
        let setup = async {
            let env = self
                .targets
                .get(t.pk)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "target was deleted".to_owned())?;
            let plugin = self.registry.get(&t.plugin).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((env, plugin))
        }
        .await;
        let (env, plugin) = match setup {
            Ok(x) => x,
            Err(reason) => {
                out.park = Some((first_seq, reason));
                return self.commit(t, out).await;
            }
        };
        // The batch reads and writes the plugin's kv: job calls and admin writes wait until it is committed.
        let _state = self.targets.state_lock(t.pk).await;
        let mut overlay = Arc::new(KvOverlay::new());
        let mut overlay_bytes = 0usize;
        let mut complete = true;
        for (ev, id_prefix) in &events {
            let change = match convert::change(ev) {
                Ok(c) => c,
                Err(reason) => {
                    out.park = Some((ev.seq, reason.to_string()));
                    complete = false;
                    break;
                }
            };
            let correlation = format!("{}-{}", t.pk, id_prefix);
            let (result, stats) = self
                .registry
                .runtime()
                .translate(&plugin, &env.env, &overlay, change, correlation, now_ms() as u64)
                .await;
            metrics::histogram!("plugin_translate_seconds", &labels).record(stats.micros as f64 / 1e6);
            match result {
                Ok((ops, writes)) => {
                    let okey = convert::ordering_key(ev);
                    for (i, op) in ops.iter().enumerate() {
                        out.ops.push(NewOp {
                            op_id: format!("{}-{}-{}", t.pk, id_prefix, i),
                            okey: convert::op_ordering_key(op, &okey),
                            seq: ev.seq,
                            op: convert::op_to_json(op),
                        });
                    }
                    if !writes.is_empty() {
                        let o = Arc::make_mut(&mut overlay);
                        for (k, v) in writes {
                            overlay_bytes += k.len() + v.as_ref().map_or(0, String::len);
                            o.insert(k, v);
                        }
                    }
                    if ev.seq > 0 {
                        out.new_cursor = ev.seq;
                    }
                    // The batch's kv writes stay in memory until the commit: past a bound, commit what
                    // is translated and go on with the next batch (changes only; a resync page is whole).
                    if overlay_bytes > MAX_OVERLAY_BYTES && ev.seq > 0 && resync.is_none() {
                        break;
                    }
                }
                Err(CallError::Host(reason)) => {
                    tracing::warn!(tenant = %t.tenant, target = %t.name, seq = ev.seq, reason = %reason, "translate interrupted by a host failure; will retry");
                    complete = false;
                    break;
                }
                Err(e) => {
                    let reason = format!("translate of change {} ({}) failed: {e}", ev.seq, ev.kind);
                    tracing::error!(tenant = %t.tenant, target = %t.name, seq = ev.seq, reason = %reason, "target parked");
                    metrics::counter!("plugin_translate_failures_total", &labels).increment(1);
                    out.park = Some((ev.seq, reason));
                    complete = false;
                    break;
                }
            }
        }
        if complete {
            out.resync = resync;
        }
        if out.ops.is_empty() && out.park.is_none() && out.new_cursor == out.old_cursor && out.resync.is_none() {
            return Step::Idle;
        }
        out.kv = Arc::unwrap_or_clone(overlay).into_iter().collect();
        if let Some(reason) = self.kv_over_quota(t, &out.kv).await {
            // Nothing of this batch is written; the target parks at its first change, the reason names
            // the limit (raise it or clean the plugin's state, then `target retry`).
            tracing::error!(tenant = %t.tenant, target = %t.name, reason = %reason, "target parked");
            let first = events.first().map_or(out.old_cursor, |(e, _)| e.seq);
            let parked = Translated {
                ops: Vec::new(),
                kv: Vec::new(),
                new_cursor: out.old_cursor,
                park: Some((first, reason)),
                resync: None,
                ..out
            };
            return self.commit(t, parked).await;
        }
        metrics::counter!("outbox_queued_total", &labels).increment(out.ops.len() as u64);
        self.commit(t, out).await
    }

    /// Whether committing `kv` would take the target past its kv quota (keys or bytes): the reason, naming
    /// the limit, if so. None when the usage cannot be read (the commit then goes ahead).
    async fn kv_over_quota(&self, t: &TargetRow, kv: &[(String, Option<String>)]) -> Option<String> {
        if kv.is_empty() {
            return None;
        }
        let limits = &self.registry.runtime().limits;
        let keys: Vec<String> = kv.iter().map(|(k, _)| k.clone()).collect();
        let (mut n, mut bytes, existing) = self.store.kv_usage(t.pk, &keys).await.ok()?;
        for (k, v) in kv {
            let old = existing.get(k).copied();
            let new = v.as_ref().map(|v| (k.len() + v.len()) as i64);
            n += i64::from(new.is_some()) - i64::from(old.is_some());
            bytes += new.unwrap_or(0) - old.unwrap_or(0);
        }
        if n > limits.kv_quota_keys {
            return Some(format!(
                "the plugin's kv state would hold {n} keys; the quota is {} (plugin_kv_max_keys)",
                limits.kv_quota_keys
            ));
        }
        if bytes > limits.kv_quota_bytes {
            return Some(format!(
                "the plugin's kv state would hold {bytes} bytes; the quota is {} (plugin_kv_max_bytes)",
                limits.kv_quota_bytes
            ));
        }
        None
    }

    async fn commit(&self, t: &mut TargetRow, out: Translated) -> Step {
        let (cursor, park, resync) = (out.new_cursor, out.park.clone(), out.resync.clone());
        match self.store.commit_translation(out).await {
            Ok(true) => {
                t.cursor_seq = cursor;
                if let Some((seq, reason)) = park {
                    t.parked_seq = Some(seq);
                    t.parked_reason = Some(reason);
                    return Step::Reload;
                }
                if let Some(r) = resync {
                    t.resync = r;
                }
                Step::Progress
            }
            Ok(false) => Step::Reload,
            Err(e) => {
                tracing::warn!(error = %e, "cannot commit translated operations; will retry");
                Step::Idle
            }
        }
    }

    /// One step of a resync: the start marker, a page of users, a page of groups (each followed by its
    /// members), or the finish marker. Progress is committed with the operations.
    async fn resync_step(&self, t: &mut TargetRow) -> Step {
        let state: Value = t.resync.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(json!({}));
        let id = state.get("id").and_then(Value::as_i64).unwrap_or(0);
        let phase = state.get("phase").and_then(Value::as_str).unwrap_or("start").to_owned();
        let offset = state.get("offset").and_then(Value::as_i64).unwrap_or(0);
        // Keyset position: the last pk sent (a resync started by an older version has none: 0 restarts the
        // phase from its first resource, which only sends some of them twice).
        let after = state.get("after").and_then(Value::as_i64).unwrap_or(0);
        let marker = |kind: &str| ChangeEvent {
            seq: 0,
            kind: kind.to_owned(),
            resource_type: String::new(),
            resource_id: String::new(),
            payload: Value::Null,
            created_at: now_rfc3339(),
        };
        let next = |phase: &str, offset: i64, after: i64| {
            Some(Some(json!({"id": id, "phase": phase, "offset": offset, "after": after}).to_string()))
        };
        let mut events = Vec::new();
        let progress = match phase.as_str() {
            "start" => {
                events.push((marker("resync.started"), format!("r{id}-start")));
                next("users", 0, 0)
            }
            "users" | "groups" => {
                let kind = if phase == "users" { Kind::User } else { Kind::Group };
                let page = match self.store.page_after(t.tenant_pk, kind, after, RESYNC_PAGE).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "resync cannot read the directory");
                        return Step::Idle;
                    }
                };
                let pks: Vec<i64> = page.iter().map(|r| r.pk).collect();
                let members = if kind == Kind::Group {
                    match self.store.members_of(&pks).await {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(error = %e, "resync cannot read memberships");
                            return Step::Idle;
                        }
                    }
                } else {
                    Vec::new()
                };
                for (i, row) in page.iter().enumerate() {
                    let Ok(stored) = row.parse() else { continue };
                    let mut doc = stored.doc.clone();
                    if let Some(o) = doc.as_object_mut() {
                        o.insert("id".into(), Value::String(stored.id.clone()));
                    }
                    let n = offset + i as i64;
                    let (kind_name, rtype, short) = if kind == Kind::User {
                        ("user.upserted", "User", "u")
                    } else {
                        ("group.upserted", "Group", "g")
                    };
                    events.push((
                        ChangeEvent {
                            seq: 0,
                            kind: kind_name.into(),
                            resource_type: rtype.into(),
                            resource_id: stored.id.clone(),
                            payload: doc,
                            created_at: now_rfc3339(),
                        },
                        format!("r{id}-{short}{n}"),
                    ));
                    if kind == Kind::Group {
                        let list: Vec<Value> = members
                            .iter()
                            .filter(|(pk, _)| *pk == row.pk)
                            .map(|(_, m)| json!({"value": m.value, "type": m.kind.as_str()}))
                            .collect();
                        for (c, chunk) in list.chunks(1000).enumerate() {
                            events.push((
                                ChangeEvent {
                                    seq: 0,
                                    kind: "group.members_added".into(),
                                    resource_type: "Group".into(),
                                    resource_id: stored.id.clone(),
                                    payload: json!({"id": stored.id, "members": chunk}),
                                    created_at: now_rfc3339(),
                                },
                                format!("r{id}-{short}{n}m{c}"),
                            ));
                        }
                    }
                }
                let done = (page.len() as i64) < RESYNC_PAGE;
                let last = page.last().map_or(after, |r| r.pk);
                match (phase.as_str(), done) {
                    ("users", true) => next("groups", 0, 0),
                    ("groups", true) => next("finish", 0, 0),
                    (p, false) => next(p, offset + page.len() as i64, last),
                    _ => next("finish", 0, 0),
                }
            }
            _ => {
                events.push((marker("resync.finished"), format!("r{id}-finish")));
                Some(None)
            }
        };
        if events.is_empty() {
            // An empty page: just record the progress.
            let out = Translated {
                target_pk: t.pk,
                owner: self.owner.clone(),
                old_cursor: t.cursor_seq,
                new_cursor: t.cursor_seq,
                resync: progress,
                ..Translated::default()
            };
            return self.commit(t, out).await;
        }
        self.translate_and_commit(t, events, progress).await
    }
}
