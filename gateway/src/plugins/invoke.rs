//! The calls into a plugin: `translate`, `deliver`, and the optional `jobs`, `on-schedule` and admin
//! `handle`. Each runs in a fresh `Store` (nothing crosses calls or tenants) under its limits: fuel, a
//! wall-clock limit (translate traps at its epoch deadline; the others yield at every tick and are
//! timed out), memory, and output bounds checked before anything is kept. A trap, a limit or a plugin
//! error fails only its own call, with a reason an admin understands.

use super::bindings::{
    AdminRequest, AdminResponse, Change, Context, Job, JobResult, JobRun, Operation, Outcome, PluginError,
};
use super::call::{CallEnv, CallLimits, CallMode, CallState, Effects, KvOverlay};
use super::runtime::{CallError, CallStats, Compiled, Runtime, TICK};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap};

/// Jobs one plugin may declare.
pub const MAX_JOBS: usize = 32;
/// Longest job name.
pub const MAX_JOB_NAME: usize = 64;
/// Longest `continue-with` cursor of a job run (the host stores it between calls).
pub const MAX_CURSOR_BYTES: usize = 64 << 10;
/// Longest summary of a job run, and longest admin response body.
pub const MAX_SUMMARY_BYTES: usize = 1024;
pub const MAX_ADMIN_BODY_BYTES: usize = 16 << 20;

impl Runtime {
    fn store(&self, env: &CallEnv, overlay: Arc<KvOverlay>, mode: CallMode) -> Store<CallState> {
        let egress = env.egress.as_ref().unwrap_or(&self.egress);
        let state = CallState::new(&self.limits, egress, env.clone(), overlay, mode);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
    }

    fn context(env: &CallEnv, correlation_id: String, now_ms: u64, attempt: u32, limit: Duration) -> Context {
        Context {
            tenant: env.tenant.clone(),
            target: env.target.clone(),
            correlation_id,
            now_unix_ms: now_ms,
            config_json: env.config_json.clone(),
            attempt: attempt.max(1),
            deadline_unix_ms: now_ms.saturating_add(limit.as_millis() as u64),
            extra: Vec::new(),
        }
    }

    fn translate_limit(&self) -> Duration {
        TICK * self.limits.translate_ticks as u32
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
        let (out, stats, _) = self.translate_logged(plugin, env, overlay, change, correlation_id, now_ms).await;
        (out, stats)
    }

    /// [`Runtime::translate`], also returning the log lines the call captured (when the environment
    /// asks for them).
    pub async fn translate_logged(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        overlay: &Arc<KvOverlay>,
        change: Change,
        correlation_id: String,
        now_ms: u64,
    ) -> (Result<(Vec<Operation>, KvOverlay), CallError>, CallStats, Vec<(String, String)>) {
        let started = Instant::now();
        let mut store = self.store(env, overlay.clone(), CallMode::Translate);
        let fuel = self.limits.translate_fuel;
        let _ = store.set_fuel(fuel);
        store.set_epoch_deadline(self.limits.translate_ticks);
        store.epoch_deadline_trap();
        let ctx = Self::context(env, correlation_id, now_ms, 1, self.translate_limit());
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = plugin.provisioning.load(&mut store, &instance)?;
            guest.call_translate(&mut store, &ctx, &change).await
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
        let logs = std::mem::take(&mut store.data_mut().captured);
        (out, stats, logs)
    }

    /// A store for a call that may wait on HTTP (deliver, on-schedule) or is driven by an admin (jobs,
    /// admin resources): it yields to tokio at every epoch tick instead of trapping (waiting on HTTP
    /// costs nothing, CPU-bound guests share the worker) and the caller times it out at
    /// `deliver_timeout` ([`Runtime::finished`] names that limit).
    fn yielding(&self, env: &CallEnv, mode: CallMode) -> (Store<CallState>, Instant) {
        let mut store = self.store(env, Arc::default(), mode);
        let _ = store.set_fuel(self.limits.for_mode(mode).deliver_fuel);
        store.epoch_deadline_async_yield_and_update(1);
        (store, Instant::now())
    }

    /// The result of a [`Runtime::yielding`] call, its stats and its captured log lines.
    fn finished<R>(
        &self,
        result: Result<wasmtime::Result<Result<R, PluginError>>, tokio::time::error::Elapsed>,
        store: &mut Store<CallState>,
        started: Instant,
    ) -> (Result<(R, Effects), CallError>, CallStats, Vec<(String, String)>) {
        let limits = store.data().limits.clone();
        let fuel = limits.deliver_fuel;
        let stats = stats(store, fuel, started);
        let out = match result {
            Err(_) => Err(CallError::Trap(format!(
                "the call exceeded the time limit of {} s",
                self.limits.deliver_timeout.as_secs()
            ))),
            Ok(Ok(Ok(value))) => Ok((value, store.data_mut().take_effects())),
            Ok(Ok(Err(e))) => Err(CallError::Plugin(plugin_error(&e))),
            Ok(Err(e)) => Err(trap(e, store, &limits, fuel)),
        };
        let logs = std::mem::take(&mut store.data_mut().captured);
        (out, stats, logs)
    }

    /// Runs `deliver`. On success returns the outcome and the call's kv writes and notifications.
    /// `attempt` is 1 for the first try.
    pub async fn deliver(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        op_id: &str,
        op: &Operation,
        now_ms: u64,
        attempt: u32,
    ) -> (Result<(Outcome, Effects), CallError>, CallStats, Vec<(String, String)>) {
        let ctx = Self::context(env, op_id.to_owned(), now_ms, attempt, self.limits.deliver_timeout);
        let (mut store, started) = self.yielding(env, CallMode::Deliver);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = plugin.provisioning.load(&mut store, &instance)?;
            guest.call_deliver(&mut store, &ctx, op_id, op).await
        };
        let result = tokio::time::timeout(self.limits.deliver_timeout, call).await;
        let (out, stats, logs) = self.finished(result, &mut store, started);
        let out = out.and_then(|(o, fx)| check_outcome(o, &self.limits).map(|o| (o, fx)));
        (out, stats, logs)
    }

    /// The jobs the plugin declares for the environment's configuration (none when it has no
    /// `schedule` export).
    pub async fn jobs(&self, plugin: &Compiled, env: &CallEnv) -> Result<Vec<Job>, CallError> {
        let Some(indices) = &plugin.schedule else { return Ok(Vec::new()) };
        let (mut store, started) = self.yielding(env, CallMode::Admin);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_jobs(&mut store, &env.config_json).await
        };
        let result = tokio::time::timeout(self.limits.deliver_timeout, call).await;
        let (out, _, _) = self.finished(result, &mut store, started);
        let jobs = out?.0;
        if jobs.len() > MAX_JOBS {
            return Err(CallError::Output(format!("{} jobs declared, over the limit of {MAX_JOBS}", jobs.len())));
        }
        for job in &jobs {
            let ok = !job.name.is_empty()
                && job.name.len() <= MAX_JOB_NAME
                && job.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(CallError::Output(format!(
                    "job name {:?} must be 1 to {MAX_JOB_NAME} letters, digits, `-`, `_` or `.`",
                    job.name
                )));
            }
        }
        Ok(jobs)
    }

    /// Runs one call of a job run. On success returns the operations (checked like a translation's),
    /// the cursor to continue with, the summary, and the call's kv writes and notifications.
    pub async fn on_schedule(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        run: JobRun,
        correlation_id: String,
        now_ms: u64,
        attempt: u32,
    ) -> (Result<(JobResult, Effects), CallError>, CallStats, Vec<(String, String)>) {
        let Some(indices) = &plugin.schedule else {
            let e = CallError::Plugin("unsupported: the plugin has no scheduled jobs (no `schedule` export)".into());
            return (Err(e), CallStats::default(), Vec::new());
        };
        let ctx = Self::context(env, correlation_id, now_ms, attempt, self.limits.deliver_timeout);
        let (mut store, started) = self.yielding(env, CallMode::Schedule);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_on_schedule(&mut store, &ctx, &run).await
        };
        let result = tokio::time::timeout(self.limits.deliver_timeout, call).await;
        let (out, stats, logs) = self.finished(result, &mut store, started);
        let out = out.and_then(|(mut r, fx)| {
            check_ops(&r.operations, &self.limits)?;
            if r.continue_with.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_BYTES) {
                return Err(CallError::Output(format!("a continue-with cursor over {MAX_CURSOR_BYTES} bytes")));
            }
            r.summary = r.summary.map(|s| shorten(s, MAX_SUMMARY_BYTES));
            Ok((r, fx))
        });
        (out, stats, logs)
    }

    /// Answers an admin-resource request. Plugins without an `admin` export answer 404.
    pub async fn admin(
        &self,
        plugin: &Compiled,
        env: &CallEnv,
        req: AdminRequest,
        correlation_id: String,
        now_ms: u64,
    ) -> (Result<(AdminResponse, Effects), CallError>, CallStats, Vec<(String, String)>) {
        let Some(indices) = &plugin.admin else {
            let body = serde_json::json!({"detail": "this target's plugin has no admin resources"}).to_string();
            let response = AdminResponse { status: 404, body_json: body };
            return (Ok((response, Effects::default())), CallStats::default(), Vec::new());
        };
        let ctx = Self::context(env, correlation_id, now_ms, 1, self.limits.deliver_timeout);
        let (mut store, started) = self.yielding(env, CallMode::Admin);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_handle(&mut store, &ctx, &req).await
        };
        let result = tokio::time::timeout(self.limits.deliver_timeout, call).await;
        let (out, stats, logs) = self.finished(result, &mut store, started);
        let out = out.and_then(|(r, fx)| {
            if r.body_json.len() > MAX_ADMIN_BODY_BYTES {
                return Err(CallError::Output(format!("an admin response over {MAX_ADMIN_BODY_BYTES} bytes")));
            }
            if !(100..600).contains(&r.status) {
                return Err(CallError::Output(format!("admin response status {} is not an HTTP status", r.status)));
            }
            Ok((r, fx))
        });
        (out, stats, logs)
    }
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

/// `s` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn shorten(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Longest reason a delivery outcome keeps (the outbox stores it; an LMS's answer can be long).
const MAX_REASON_BYTES: usize = 1024;

/// Output limits of a delivery: the remote ids (count and bytes, like a translation's operations), the
/// reason of a retry, conflict or failure shortened to [`MAX_REASON_BYTES`].
fn check_outcome(outcome: Outcome, limits: &CallLimits) -> Result<Outcome, CallError> {
    let short = |s: String| shorten(s, MAX_REASON_BYTES);
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
