//! Delivery: workers lease deliverable operations from the outbox (the first pending one of each
//! (target, resource) key, so one user's operations never overtake each other while different users
//! deliver in parallel), call the plugin's `deliver`, and record the outcome: delivered (row deleted,
//! remote ids kept), retried (exponential backoff with full jitter, capped; `Retry-After` honoured), or
//! dead-lettered with its reason. A target that answers with `Retry-After` is held back as a whole for
//! that long (`throttle.rs`), and such retries do not count towards the dead letters for a day. Leases make a crashed worker's operations deliverable again, and on
//! PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances share the queue.

use super::retry::RetryPolicy;
use crate::clock::now_ms;
use crate::plugins::bindings::Outcome;
use crate::plugins::runtime::CallError;
use crate::plugins::{Registry, Targets, convert};
use crate::store::DynStore;
use crate::store::delivery::{ClaimedOp, Finish};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub concurrency: usize,
    /// Share of the time background work keeps to while SCIM requests are arriving (1 = no pacing).
    pub background_share: f64,
    pub lease_ms: i64,
    pub retry: RetryPolicy,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings { concurrency: 64, background_share: 0.1, lease_ms: 120_000, retry: RetryPolicy::default() }
    }
}

pub struct Deliverer {
    store: DynStore,
    registry: Arc<Registry>,
    targets: Arc<Targets>,
    owner: String,
    settings: DeliverySettings,
    notifier: Arc<super::notify::Notifier>,
    throttles: super::throttle::Throttles,
}

impl Deliverer {
    pub fn new(
        store: DynStore,
        registry: Arc<Registry>,
        targets: Arc<Targets>,
        owner: String,
        settings: DeliverySettings,
        notifier: Arc<super::notify::Notifier>,
    ) -> Arc<Deliverer> {
        Arc::new(Deliverer { store, registry, targets, owner, settings, notifier, throttles: Default::default() })
    }

    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let signal = self.store.outbox_signal();
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let (done_tx, done_rx) = mpsc::channel::<(i64, i64, Finish)>(4 * self.settings.concurrency);
        let finisher = tokio::spawn(self.clone().finish_loop(done_rx));
        let pacer = super::pacing::Pacer::new(self.settings.background_share);
        let mut topped_up = false;
        let mut batch_started = std::time::Instant::now();
        loop {
            if *stop.borrow() {
                break;
            }
            let free = permits.available_permits();
            // Claim in batches: while deliveries are in flight, wait (briefly) for a quarter of the slots
            // to free up. Every claim is a write (a commit on PostgreSQL), one per op would bound the rate.
            let batch = (self.settings.concurrency / 4).max(1);
            if free > 0 && free < batch && free < self.settings.concurrency && !topped_up {
                topped_up = true;
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            topped_up = false;
            // While SCIM is busy, rest in proportion to the time the last batch kept the workers busy.
            if pacer.scim_busy() {
                pacer.rest(batch_started.elapsed().min(Duration::from_millis(100))).await;
            }
            batch_started = std::time::Instant::now();
            let free = permits.available_permits();
            let free = if pacer.scim_busy() { free.min(batch) } else { free };
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let busy = pacer.scim_busy();
                match self
                    .store
                    .claim_ops(&self.owner, now_ms(), self.settings.lease_ms, free.min(256) as i64, busy)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim operations");
                        Vec::new()
                    }
                }
            };
            let got = claimed.len();
            for op in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let me = self.clone();
                let tx = done_tx.clone();
                tokio::spawn(async move {
                    let finish = me.deliver_one(&op).await;
                    let _ = tx.send((op.pk, op.target_pk, finish)).await;
                    drop(permit);
                });
            }
            if got == 0 || permits.available_permits() == 0 {
                // Every finished delivery and every queued operation signals; the timer covers retries
                // coming due (and operations queued by other instances without NOTIFY).
                let wait = if got == 0 && permits.available_permits() > 0 {
                    // Operations already due but not claimable are leased, blocked behind an earlier one
                    // of their resource or paused: a finished delivery (signalled) or a resume frees them,
                    // not the clock. Only a retry coming due is worth waking for.
                    match self.store.next_due().await {
                        Ok(Some(due)) if due > now_ms() => (due - now_ms()).clamp(50, 1000) as u64,
                        _ => 1000,
                    }
                } else {
                    1000
                };
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        // Let deliveries in flight finish (bounded by the deliver timeout) and record them.
        let _ = permits.acquire_many(self.settings.concurrency as u32).await;
        drop(done_tx);
        let _ = finisher.await;
    }

    /// Records outcomes in batches (one transaction per batch).
    async fn finish_loop(self: Arc<Self>, mut rx: mpsc::Receiver<(i64, i64, Finish)>) {
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let items = std::mem::take(&mut batch);
            let mut attempt = 0;
            loop {
                match self.store.finish_ops(&self.owner, items.clone()).await {
                    Ok(_) => break,
                    Err(e) => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "cannot record delivery outcomes; retrying");
                        if attempt > 20 {
                            // The leases expire and the operations are delivered again (same op-ids).
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                    }
                }
            }
        }
    }

    async fn deliver_one(&self, op: &ClaimedOp) -> Finish {
        let retry = |attempts: i64, after: Option<u32>, error: String| {
            // The LMS named a time (Retry-After: it is throttling us): not a failure, so it does not
            // bring the operation nearer the dead letters while it is younger than the grace period.
            let throttled = after.is_some() && now_ms() - op.created_ms < super::throttle::THROTTLE_GRACE_MS;
            if attempts + 1 >= self.settings.retry.max_attempts && !throttled {
                Finish::Dead { error: format!("gave up after {} attempts: {error}", attempts + 1) }
            } else {
                Finish::Retry {
                    next_at: now_ms() + self.settings.retry.delay_ms(attempts, after),
                    error,
                    counted: true,
                }
            }
        };
        if let Some(next_at) = self.throttles.held_until(op.target_pk, now_ms(), jitter()) {
            metrics::counter!("outbox_held_back_total").increment(1);
            return Finish::Retry {
                next_at,
                error: "held back: the target asked to slow down (Retry-After)".into(),
                counted: false,
            };
        }
        let target = match self.targets.get(op.target_pk).await {
            Ok(Some(t)) => t,
            Ok(None) => return Finish::Dead { error: "target was deleted".into() },
            Err(e) => return retry(op.attempts, None, e.to_string()),
        };
        let labels = [("tenant", target.row.tenant.clone()), ("target", target.row.name.clone())];
        let plugin = match self.registry.get(&target.row.plugin).await {
            Ok(p) => p,
            Err(e) => return retry(op.attempts, None, e.to_string()),
        };
        let operation = match convert::op_from_json(&op.op) {
            Ok(o) => o,
            Err(e) => return Finish::Dead { error: e.to_string() },
        };
        let attempt = u32::try_from(op.attempts + 1).unwrap_or(u32::MAX);
        let (result, stats, _) = self
            .registry
            .runtime()
            .deliver(&plugin, &target.env, &op.op_id, &operation, now_ms() as u64, attempt)
            .await;
        metrics::histogram!("plugin_deliver_seconds", &labels).record(stats.micros as f64 / 1e6);
        let result = match result {
            Ok((outcome, effects)) => {
                self.record_notices(&target.row, &effects.notices).await;
                Ok((outcome, effects.kv))
            }
            Err(e) => Err(e),
        };
        let finish = match result {
            Ok((Outcome::Done(ids), kv)) => {
                let latency = (now_ms() - op.created_ms).max(0) as f64 / 1000.0;
                metrics::histogram!("outbox_delivery_latency_seconds", &labels).record(latency);
                Finish::Done {
                    remote_ids: ids.into_iter().map(|r| (r.kind, r.local_id, r.remote_id)).collect(),
                    kv: kv.into_iter().collect(),
                }
            }
            Ok((Outcome::Retry(r), _)) => {
                if let Some(s) = r.after_secs {
                    self.throttles.slow_down(op.target_pk, now_ms(), i64::from(s.min(3_600)) * 1000);
                }
                retry(op.attempts, r.after_secs, r.reason)
            }
            Ok((Outcome::Conflict(m), _)) => Finish::Dead { error: format!("conflict: {m}") },
            Ok((Outcome::Failed(m), _)) => Finish::Dead { error: m },
            Err(CallError::Host(m)) => retry(op.attempts, None, m),
            Err(e) => retry(op.attempts, None, e.to_string()),
        };
        match &finish {
            Finish::Done { .. } => metrics::counter!("outbox_delivered_total", &labels).increment(1),
            Finish::Retry { error, .. } => {
                tracing::info!(tenant = %target.row.tenant, target = %target.row.name, op_id = %op.op_id, attempt = op.attempts + 1, reason = %log_reason(error), "delivery will be retried");
                metrics::counter!("outbox_retried_total", &labels).increment(1);
            }
            Finish::Dead { error } => {
                tracing::warn!(tenant = %target.row.tenant, target = %target.row.name, op_id = %op.op_id, reason = %log_reason(error), "operation dead-lettered");
                metrics::counter!("outbox_dead_total", &labels).increment(1);
            }
        }
        finish
    }

    /// Records (and e-mails) the notifications a delivery asked for.
    async fn record_notices(&self, row: &crate::store::delivery::TargetRow, notices: &[crate::plugins::call::Notice]) {
        if notices.is_empty() {
            return;
        }
        let records = self.notifier.to_record(notices);
        match self.store.commit_effects(row.pk, &[], &records, now_ms()).await {
            Ok(ids) => self.notifier.send(&row.tenant, &row.name, &ids, &records).await,
            Err(e) => {
                tracing::warn!(tenant = %row.tenant, target = %row.name, error = %e, "cannot record a delivery's notifications")
            }
        }
    }
}

/// Publishes queue depth and dead-letter counts per target every few seconds, and refreshes the queue's
/// statistics every 15 s.
pub async fn queue_gauges(store: DynStore, mut stop: watch::Receiver<bool>) {
    let mut tick = 0u64;
    loop {
        tick += 1;
        if tick.is_multiple_of(3)
            && let Err(e) = store.maintain_queue().await
        {
            tracing::warn!(error = %e, "queue maintenance failed");
        }
        if let Ok(stats) = store.queue_stats().await {
            for s in stats {
                let labels = [("tenant", s.tenant), ("target", s.target)];
                metrics::gauge!("outbox_queue_depth", &labels).set(s.pending as f64);
                metrics::gauge!("outbox_dead", &labels).set(s.dead as f64);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A delivery reason as the log may carry it: its class only (`HTTP 400`, `conflict`, `denied`, …, the
/// text before the first `": "`, at most 60 characters). The rest can quote the LMS's answer, which may
/// hold personal data; the whole reason stays in the outbox, for `outbox dead` and the admin API.
fn log_reason(reason: &str) -> String {
    let class = reason.split(": ").next().unwrap_or_default();
    let class: String = class.chars().take(60).collect();
    if class.len() < reason.len() { format!("{class}: … (the full reason is in the outbox)") } else { class }
}

/// A share in [0, 1) to spread rescheduled operations over a window.
fn jitter() -> f64 {
    getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64)
}
