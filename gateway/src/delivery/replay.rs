//! `gateway plugin replay CANDIDATE.wasm --tenant T --target N [--from SEQ] [--limit N]`: how a new plugin
//! version would translate a target's recorded changes, compared with the active version. Both run over
//! the same changes (from the tenant's change log), each on its own copy of the target's kv (reads fall
//! through to the stored kv, writes stay in the copy), with the tenant's current directory, at each
//! change's own time; nothing is stored or sent. Delivered operations are not kept, so the active
//! version's output is computed again the same way: translate is deterministic, so that is what it
//! produced. The difference of each change is given field by field (JSON pointers into its operations).

use crate::clock::parse_rfc3339_ms;
use crate::plugins::Targets;
use crate::plugins::call::KvOverlay;
use crate::plugins::convert;
use crate::plugins::fixtures::{Difference, differences};
use crate::plugins::runtime::{Compiled, Runtime};
use crate::store::DynStore;
use crate::store::delivery::TargetRow;
use serde_json::Value;
use std::sync::Arc;

/// Changes replayed when `--from` is not given: the last ones before the target's cursor.
pub const DEFAULT_LIMIT: i64 = 1_000;

/// How one change differs.
#[derive(Debug, serde::Serialize)]
pub struct ChangeDiff {
    pub seq: i64,
    pub kind: String,
    pub resource_id: String,
    /// expected = the active version's, actual = the candidate's.
    pub differences: Vec<Difference>,
    pub active_error: Option<String>,
    pub candidate_error: Option<String>,
}

/// What a replay found.
#[derive(Debug, serde::Serialize)]
pub struct ReplayReport {
    pub tenant: String,
    pub target: String,
    pub plugin: String,
    pub active_sha256: String,
    pub candidate_sha256: String,
    pub from_seq: i64,
    pub to_seq: i64,
    pub changes: usize,
    pub same: usize,
    pub different: usize,
    pub diffs: Vec<ChangeDiff>,
}

/// Replays `changes` after `from - 1` (at most `limit`) through the active version of `row`'s plugin and
/// through `candidate`.
pub async fn replay(
    store: &DynStore,
    rt: &Arc<Runtime>,
    targets: &Targets,
    row: &TargetRow,
    candidate: &Compiled,
    from: Option<i64>,
    limit: i64,
) -> Result<ReplayReport, String> {
    let Some((_, wasm)) = store.plugin_wasm(&row.plugin).await.map_err(|e| e.to_string())? else {
        return Err(format!("plugin \"{}\" is not registered", row.plugin));
    };
    let rt2 = rt.clone();
    let active = tokio::task::spawn_blocking(move || rt2.load(&wasm))
        .await
        .map_err(|e| format!("plugin compilation panicked: {e}"))?
        .map_err(|e| format!("the active version cannot be loaded: {e}"))?;
    let env = targets.env_for(row).await.map_err(|e| e.to_string())?;
    let limit = limit.clamp(1, 100_000);
    let after = match from {
        Some(seq) => seq.max(1) - 1,
        None => (row.cursor_seq - limit).max(0),
    };
    let changes = store.changes(row.tenant_pk, after, limit).await.map_err(|e| e.to_string())?;
    let (mut a_kv, mut c_kv) = (Arc::new(KvOverlay::new()), Arc::new(KvOverlay::new()));
    let mut report = ReplayReport {
        tenant: row.tenant.clone(),
        target: row.name.clone(),
        plugin: row.plugin.clone(),
        active_sha256: active.sha256.clone(),
        candidate_sha256: candidate.sha256.clone(),
        from_seq: after + 1,
        to_seq: changes.last().map_or(after, |c| c.seq),
        changes: changes.len(),
        same: 0,
        different: 0,
        diffs: Vec::new(),
    };
    for ev in &changes {
        let change = convert::change(ev).map_err(|e| e.to_string())?;
        let at = parse_rfc3339_ms(&ev.created_at).unwrap_or(0).max(0) as u64;
        let id = format!("replay-{}", ev.seq);
        let (a, _) = rt.translate(&active, &env, &a_kv, change.clone(), id.clone(), at).await;
        let (c, _) = rt.translate(candidate, &env, &c_kv, change, id, at).await;
        let mut diff = ChangeDiff {
            seq: ev.seq,
            kind: ev.kind.clone(),
            resource_id: ev.resource_id.clone(),
            differences: Vec::new(),
            active_error: None,
            candidate_error: None,
        };
        let ops =
            |r: &[crate::plugins::bindings::Operation]| Value::Array(r.iter().map(convert::op_to_value).collect());
        match (a, c) {
            (Ok((ao, aw)), Ok((co, cw))) => {
                diff.differences = differences(&ops(&ao), &ops(&co));
                Arc::make_mut(&mut a_kv).extend(aw);
                Arc::make_mut(&mut c_kv).extend(cw);
            }
            (Ok((_, aw)), Err(e)) => {
                diff.candidate_error = Some(e.to_string());
                Arc::make_mut(&mut a_kv).extend(aw);
            }
            (Err(e), Ok((_, cw))) => {
                diff.active_error = Some(e.to_string());
                Arc::make_mut(&mut c_kv).extend(cw);
            }
            (Err(a), Err(c)) if a.to_string() == c.to_string() => {}
            (Err(a), Err(c)) => {
                diff.active_error = Some(a.to_string());
                diff.candidate_error = Some(c.to_string());
            }
        }
        if diff.differences.is_empty() && diff.active_error.is_none() && diff.candidate_error.is_none() {
            report.same += 1;
        } else {
            report.different += 1;
            if report.diffs.len() < 1_000 {
                report.diffs.push(diff);
            }
        }
    }
    Ok(report)
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "replayed {} change(s) of {}/{} (seq {}..{}): {} the same, {} different (active {} vs candidate {})",
            self.changes,
            self.tenant,
            self.target,
            self.from_seq,
            self.to_seq,
            self.same,
            self.different,
            &self.active_sha256[..12.min(self.active_sha256.len())],
            &self.candidate_sha256[..12.min(self.candidate_sha256.len())],
        )?;
        for d in &self.diffs {
            writeln!(f, "  seq {} {} {}:", d.seq, d.kind, d.resource_id)?;
            if let Some(e) = &d.active_error {
                writeln!(f, "    active failed: {e}")?;
            }
            if let Some(e) = &d.candidate_error {
                writeln!(f, "    candidate failed: {e}")?;
            }
            for x in &d.differences {
                let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(nothing)".to_owned(), Value::to_string);
                writeln!(f, "    {}: active {}, candidate {}", x.pointer, show(&x.expected), show(&x.actual))?;
            }
        }
        Ok(())
    }
}
