//! Scheduled jobs and plugin admin resources. The scheduler asks each target's plugin which jobs its
//! configuration declares (`schedule.jobs`, again whenever the plugin version or the configuration
//! changes), keeps them in the store with their next time, and runs every job that falls due, under the
//! target's lease (one instance runs it when several share PostgreSQL): `on-schedule` is called, then
//! again with each `continue-with`, each call committing its operations (to the outbox, after those
//! already queued), kv writes, notifications and progress together. A failed call is tried again up to
//! [`MAX_ATTEMPTS`] times, then the run ends as `failed: …`. Times come from a [`Clock`]: the wall
//! clock, or a virtual one that only [`Jobs::advance`] moves, running every job due on the way in order.
//!
//! Admin resources: [`Jobs::resource`] hands an admin request to the plugin's `admin.handle`; writes
//! are refused with 423 while a job declared exclusive runs.

use super::cron::Cron;
use super::notify::Notifier;
use crate::clock::{Clock, now_ms, rfc3339_of_ms};
use crate::plugins::bindings::{AdminMethod, AdminRequest, JobRun};
use crate::plugins::call::Effects;
use crate::plugins::convert;
use crate::plugins::runtime::{CallError, Compiled};
use crate::plugins::{Registry, Targets};
use crate::store::DynStore;
use crate::store::delivery::{NewOp, TargetRow};
use crate::store::jobs::{JobDecl, JobRow, RunNext, RunStep};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Tries of one call of a run before the run ends as failed.
pub const MAX_ATTEMPTS: i64 = 3;
/// Calls one run may make (`continue-with` chains).
pub const MAX_CALLS_PER_RUN: usize = 10_000;
const LEASE_MS: i64 = 30_000;
const TICK: Duration = Duration::from_secs(1);

/// What one run did (the virtual clock's advance returns them; logs say the same).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub tenant: String,
    pub target: String,
    pub job: String,
    pub scheduled_at: String,
    /// `ok`, `failed: …`, or `in progress` (it goes on at the next tick).
    pub result: String,
    pub summary: Option<String>,
    pub calls: usize,
    pub operations: usize,
}

/// An admin-resource answer: status and JSON body.
pub type Answer = (u16, Value);

pub struct Jobs {
    store: DynStore,
    registry: Arc<Registry>,
    targets: Arc<Targets>,
    owner: String,
    clock: Clock,
    notifier: Arc<Notifier>,
    /// One pass at a time: the background loop, virtual-clock advances and run-now.
    pass: tokio::sync::Mutex<()>,
    /// The (plugin version, configuration) each target's jobs were declared for, and whether it has any
    /// (a target without jobs costs no query per pass).
    declared: Mutex<HashMap<i64, (String, String, bool)>>,
}

fn answer(status: u16, detail: impl Into<String>) -> Answer {
    (status, serde_json::json!({"detail": detail.into(), "status": status.to_string()}))
}

impl Jobs {
    pub fn new(
        store: DynStore,
        registry: Arc<Registry>,
        targets: Arc<Targets>,
        owner: String,
        clock: Clock,
        notifier: Arc<Notifier>,
    ) -> Arc<Jobs> {
        Arc::new(Jobs {
            store,
            registry,
            targets,
            owner,
            clock,
            notifier,
            pass: tokio::sync::Mutex::new(()),
            declared: Mutex::new(HashMap::new()),
        })
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Runs due jobs every second until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            {
                let _pass = self.pass.lock().await;
                self.pass_once().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Moves the virtual clock to `to_ms`, running every job that falls due on the way, in time order,
    /// each to its end; returns what ran.
    pub async fn advance(&self, to_ms: i64) -> Result<Vec<RunReport>, String> {
        if !self.clock.is_virtual() {
            return Err("the clock is not virtual: start the gateway with --virtual-clock to advance it".into());
        }
        let _pass = self.pass.lock().await;
        if to_ms < self.clock.now_ms() {
            return Err(format!("the clock reads {} already; it does not go back", rfc3339_of_ms(self.clock.now_ms())));
        }
        let mut reports = Vec::new();
        let mut stalled = 0;
        loop {
            let ran = self.pass_once().await;
            let progressed = ran.iter().any(|r| r.result != "in progress");
            reports.extend(ran);
            let next = self.earliest_due().await;
            match next {
                Some(t) if t <= to_ms && (t > self.clock.now_ms() || progressed) => {
                    stalled = 0;
                    self.clock.set(t);
                }
                // A run that cannot go on now (no lease, database trouble): a few more passes, then stop.
                Some(t) if t <= to_ms && stalled < 3 => stalled += 1,
                _ => break,
            }
        }
        self.clock.set(to_ms);
        reports.extend(self.pass_once().await);
        Ok(reports)
    }

    /// The earliest time a job of any target is due (a run in progress counts as due now).
    async fn earliest_due(&self) -> Option<i64> {
        let targets = self.store.list_targets(None).await.ok()?;
        let mut earliest: Option<i64> = None;
        for t in targets.iter().filter(|t| !t.paused && self.has_jobs(t.pk)) {
            for job in self.store.list_jobs(t.pk).await.ok()? {
                let due = if job.run_ms.is_some() { self.clock.now_ms() } else { job.next_ms.max(0) };
                earliest = Some(earliest.map_or(due, |e| e.min(due)));
            }
        }
        earliest
    }

    /// Declares the jobs of every target whose plugin or configuration changed, then runs the due ones.
    async fn pass_once(&self) -> Vec<RunReport> {
        // New plugin versions are swapped into the shared registry by the dispatcher's refresh.
        let Ok(rows) = self.store.list_targets(None).await else { return Vec::new() };
        let mut due: Vec<(i64, TargetRow, JobRow, Arc<Compiled>)> = Vec::new();
        let now = self.clock.now_ms();
        for row in rows.into_iter().filter(|t| !t.paused) {
            let Ok(plugin) = self.registry.get(&row.plugin).await else { continue };
            if !self.declare(&row, &plugin, now).await {
                continue;
            }
            let Ok(jobs) = self.store.list_jobs(row.pk).await else { continue };
            for job in jobs {
                let at = job.run_ms.unwrap_or(job.next_ms);
                if job.run_ms.is_some() || job.next_ms <= now {
                    due.push((at, row.clone(), job, plugin.clone()));
                }
            }
        }
        due.sort_by(|a, b| (a.0, &a.2.name).cmp(&(b.0, &b.2.name)));
        let mut reports = Vec::new();
        for (_, row, job, plugin) in due {
            if let Some(r) = self.run_job(&row, &plugin, job).await {
                reports.push(r);
            }
        }
        reports
    }

    /// Whether the target had jobs when they were last declared (true when not known yet).
    fn has_jobs(&self, target_pk: i64) -> bool {
        self.declared.lock().ok().and_then(|d| d.get(&target_pk).map(|e| e.2)).unwrap_or(true)
    }

    /// Declares the target's jobs when its plugin version or configuration changed; returns whether it
    /// has any (true when that could not be found out: its stored jobs are then looked at).
    async fn declare(&self, row: &TargetRow, plugin: &Compiled, now: i64) -> bool {
        let known = self.declared.lock().ok().and_then(|d| d.get(&row.pk).cloned());
        if let Some((sha, config, has)) = known
            && sha == plugin.sha256
            && config == row.config
        {
            return has;
        }
        let Ok(Some(target)) = self.targets.get(row.pk).await else { return true };
        let jobs = match self.registry.runtime().jobs(plugin, &target.env).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(tenant = %row.tenant, target = %row.name, error = %e, "the plugin's jobs cannot be read");
                Vec::new()
            }
        };
        let mut decls = Vec::new();
        for job in jobs {
            match Cron::parse(&job.cron) {
                Ok(cron) => decls.push(JobDecl {
                    next_ms: cron.next_after(now - 1).unwrap_or(i64::MAX),
                    name: job.name,
                    cron: job.cron,
                    exclusive: job.exclusive,
                    lock_message: job.lock_message,
                }),
                Err(e) => {
                    tracing::warn!(tenant = %row.tenant, target = %row.name, job = %job.name, error = %e, "job skipped: its schedule does not parse")
                }
            }
        }
        let has = !decls.is_empty();
        if self.store.sync_jobs(row.pk, &decls).await.is_ok()
            && let Ok(mut d) = self.declared.lock()
        {
            d.insert(row.pk, (plugin.sha256.clone(), row.config.clone(), has));
        }
        true
    }

    /// Runs (or goes on with) one run of `job` to its end, or until a call fails in a way that must wait.
    async fn run_job(&self, row: &TargetRow, plugin: &Compiled, job: JobRow) -> Option<RunReport> {
        let wall = now_ms();
        if !self.store.claim_target(row.pk, &self.owner, wall, wall + LEASE_MS).await.ok()? {
            return None;
        }
        let run_ms = match job.run_ms {
            Some(r) => r,
            None => {
                // Due time 0 is "run now" (an admin's): the run is scheduled at the clock's time.
                let at = if job.next_ms <= 0 { self.clock.now_ms() } else { job.next_ms };
                if !self.store.start_run(row.pk, &job.name, &self.owner, at, wall).await.ok()? {
                    return None;
                }
                at
            }
        };
        let target = self.targets.get(row.pk).await.ok()??;
        let cron = Cron::parse(&job.cron).ok()?;
        let mut report = RunReport {
            tenant: row.tenant.clone(),
            target: row.name.clone(),
            job: job.name.clone(),
            scheduled_at: rfc3339_of_ms(run_ms),
            result: "in progress".into(),
            summary: None,
            calls: 0,
            operations: 0,
        };
        let mut cursor = job.run_cursor.clone();
        let mut attempt = job.run_attempt.max(1);
        let rt = self.registry.runtime();
        while report.calls < MAX_CALLS_PER_RUN {
            report.calls += 1;
            let _state = self.targets.state_lock(row.pk).await;
            let now = self.clock.now_ms();
            let next_ms = cron.next_after(run_ms.max(now)).unwrap_or(i64::MAX);
            let run = JobRun { job: job.name.clone(), scheduled_at_unix_ms: run_ms as u64, cursor: cursor.clone() };
            let correlation = format!("job-{}-{}-{}", job.name, run_ms, report.calls);
            let (result, _, _) =
                rt.on_schedule(plugin, &target.env, run, correlation, now as u64, attempt as u32).await;
            let (ops, effects, next) = match result {
                Ok((r, effects)) => {
                    let next = match r.continue_with {
                        Some(c) => RunNext::Continue { cursor: c },
                        None => RunNext::Finished { result: "ok".into(), summary: r.summary.clone(), next_ms },
                    };
                    report.summary = r.summary;
                    (r.operations, effects, next)
                }
                Err(CallError::Host(e)) => {
                    tracing::warn!(tenant = %row.tenant, target = %row.name, job = %job.name, error = %e, "job run paused by a host error; it goes on at the next pass");
                    return Some(report);
                }
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(tenant = %row.tenant, target = %row.name, job = %job.name, attempt, error = %e, "job call failed; trying again");
                    (Vec::new(), Effects::default(), RunNext::Retry { attempt: attempt + 1 })
                }
                Err(e) => {
                    let result = format!("failed: {e}");
                    (Vec::new(), Effects::default(), RunNext::Finished { result, summary: None, next_ms })
                }
            };
            let key = format!("job:{}", job.name);
            let new_ops: Vec<NewOp> = ops
                .iter()
                .map(|op| NewOp {
                    op_id: uuid::Uuid::new_v4().to_string(),
                    okey: convert::op_ordering_key(op, &key),
                    seq: 0,
                    op: convert::op_to_json(op),
                })
                .collect();
            report.operations += new_ops.len();
            let notices = self.notifier.to_record(&effects.notices);
            let step = RunStep {
                target_pk: row.pk,
                owner: self.owner.clone(),
                name: job.name.clone(),
                run_ms,
                ops: new_ops,
                kv: effects.kv.into_iter().collect(),
                notices: notices.clone(),
                next: next.clone(),
            };
            let ids = match self.store.commit_run_step(step, self.clock.now_ms()).await {
                Ok(Some(ids)) => ids,
                Ok(None) | Err(_) => return Some(report),
            };
            self.notifier.send(&row.tenant, &row.name, &ids, &notices).await;
            match next {
                RunNext::Continue { cursor: c } => {
                    cursor = Some(c);
                    attempt = 1;
                }
                RunNext::Retry { attempt: a } => attempt = a,
                RunNext::Finished { result, .. } => {
                    tracing::info!(tenant = %row.tenant, target = %row.name, job = %job.name, calls = report.calls, operations = report.operations, ok = result == "ok", "job run finished");
                    metrics::counter!("plugin_job_runs_total", "result" => if result == "ok" { "ok" } else { "failed" }).increment(1);
                    report.result = result;
                    return Some(report);
                }
            }
        }
        let next_ms = cron.next_after(run_ms.max(self.clock.now_ms())).unwrap_or(i64::MAX);
        let result = format!("failed: more than {MAX_CALLS_PER_RUN} calls in one run");
        let step = RunStep {
            target_pk: row.pk,
            owner: self.owner.clone(),
            name: job.name.clone(),
            run_ms,
            ops: Vec::new(),
            kv: Vec::new(),
            notices: Vec::new(),
            next: RunNext::Finished { result: result.clone(), summary: None, next_ms },
        };
        let _ = self.store.commit_run_step(step, self.clock.now_ms()).await;
        report.result = result;
        Some(report)
    }

    /// Hands an admin request to the target's plugin. Writes (anything but GET) answer 423 while a job
    /// declared exclusive runs; the call's kv writes and notifications are kept when it answers < 400.
    pub async fn resource(
        &self,
        target_pk: i64,
        method: &str,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<Value>,
    ) -> Answer {
        let method = match method {
            "GET" => AdminMethod::Get,
            "POST" => AdminMethod::Post,
            "PUT" => AdminMethod::Put,
            "PATCH" => AdminMethod::Patch,
            "DELETE" => AdminMethod::Delete,
            other => return answer(405, format!("method {other} is not supported on plugin resources")),
        };
        let write = method != AdminMethod::Get;
        if write && let Some(locked) = self.locked(target_pk).await {
            return locked;
        }
        let target = match self.targets.get(target_pk).await {
            Ok(Some(t)) => t,
            Ok(None) => return answer(404, "no such target"),
            Err(e) => return answer(503, format!("the target cannot be used: {e}")),
        };
        let plugin = match self.registry.get(&target.row.plugin).await {
            Ok(p) => p,
            Err(e) => return answer(503, format!("the target's plugin cannot be loaded: {e}")),
        };
        // A write reads and writes the plugin's kv: it takes its turn with translations and job calls.
        let _state = if write { Some(self.targets.state_lock(target_pk).await) } else { None };
        let req = AdminRequest { method, path: path.to_owned(), query, body_json: body.map(|b| b.to_string()) };
        let correlation = uuid::Uuid::new_v4().to_string();
        let (result, _, _) =
            self.registry.runtime().admin(&plugin, &target.env, req, correlation, self.clock.now_ms() as u64).await;
        let (response, effects) = match result {
            Ok(r) => r,
            Err(CallError::Plugin(m)) if m.starts_with("invalid input: ") => return answer(400, &m[15..]),
            Err(CallError::Host(m)) => return answer(503, m),
            Err(e) => return answer(502, format!("the plugin failed: {e}")),
        };
        let body: Value = serde_json::from_str(&response.body_json).unwrap_or(Value::String(response.body_json));
        if response.status < 400 && (!effects.kv.is_empty() || !effects.notices.is_empty()) {
            // An exclusive job that started meanwhile wins: nothing of this write is kept.
            if write && let Some(locked) = self.locked(target_pk).await {
                return locked;
            }
            let notices = self.notifier.to_record(&effects.notices);
            let kv: Vec<_> = effects.kv.into_iter().collect();
            match self.store.commit_effects(target_pk, &kv, &notices, self.clock.now_ms()).await {
                Ok(ids) => self.notifier.send(&target.row.tenant, &target.row.name, &ids, &notices).await,
                Err(e) => return answer(503, format!("the plugin's changes could not be stored: {e}")),
            }
        }
        (response.status, body)
    }

    async fn locked(&self, target_pk: i64) -> Option<Answer> {
        match self.store.exclusive_running(target_pk).await {
            Ok(Some((job, message))) => Some(answer(
                423,
                message.unwrap_or_else(|| format!("job `{job}` is running; writes are refused until it ends")),
            )),
            Ok(None) => None,
            Err(e) => Some(answer(503, format!("cannot read the target's jobs: {e}"))),
        }
    }
}
