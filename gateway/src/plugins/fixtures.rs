//! `gateway plugin test FILE --fixtures DIR`: golden fixtures (a change in, the operations out) run
//! against a plugin under the gateway's limits, reporting fuel, peak memory and time per fixture.
//!
//! A fixture is a JSON file: `{"description", "config", "tenant", "target", "now_unix_ms", "change":
//! <a change-log row: seq, kind, resource_type, resource_id, payload, created_at>, "expect": [<operation
//! JSON>] | "expect_error": "substring"}`. Fields ending in `-json` are compared as parsed JSON.

use super::call::{CallEnv, KvOverlay};
use super::convert;
use super::egress::Policy;
use super::runtime::{CallStats, Compiled, Runtime};
use crate::store::ChangeEvent;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
struct Fixture {
    #[serde(default)]
    description: String,
    #[serde(default)]
    config: Value,
    #[serde(default = "default_tenant")]
    tenant: String,
    #[serde(default = "default_target")]
    target: String,
    #[serde(default)]
    now_unix_ms: u64,
    change: FixtureChange,
    expect: Option<Vec<Value>>,
    expect_error: Option<String>,
}

fn default_tenant() -> String {
    "acme".into()
}
fn default_target() -> String {
    "test".into()
}

#[derive(Deserialize)]
struct FixtureChange {
    #[serde(default)]
    seq: i64,
    kind: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    created_at: String,
}

/// The outcome of one fixture.
#[derive(Debug, serde::Serialize)]
pub struct FixtureResult {
    pub name: String,
    pub description: String,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub message: String,
    pub stats: CallStats,
}

/// Parses `-json` string fields so formatting differences do not matter.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) if k.ends_with("-json") => {
                            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                        }
                        other => normalize(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Runs every `*.json` fixture in `dir` (sorted by name) against `plugin`.
pub async fn run(rt: &Runtime, plugin: &Compiled, dir: &Path) -> Result<Vec<FixtureResult>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.json fixtures in {}", dir.display()));
    }
    let mut out = Vec::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{name}: {e}"))?;
        let fx: Fixture = serde_json::from_str(&text).map_err(|e| format!("{name}: not a fixture: {e}"))?;
        let ev = ChangeEvent {
            seq: fx.change.seq,
            kind: fx.change.kind,
            resource_type: fx.change.resource_type.unwrap_or_default(),
            resource_id: fx.change.resource_id.unwrap_or_default(),
            payload: fx.change.payload,
            created_at: fx.change.created_at,
        };
        let change = convert::change(&ev).map_err(|e| format!("{name}: {e}"))?;
        let env = CallEnv {
            tenant: fx.tenant,
            tenant_pk: 0,
            target: fx.target,
            target_pk: 0,
            config_json: if fx.config.is_null() { "{}".into() } else { fx.config.to_string() },
            store: None,
            policy: Arc::new(Policy::new(&[], false, false).map_err(|e| e.to_string())?),
            credentials: Arc::new(HashMap::new()),
        };
        let (result, stats) = rt
            .translate(plugin, &env, &Arc::new(KvOverlay::new()), change, format!("fixture-{name}"), fx.now_unix_ms)
            .await;
        let (passed, message) = match (result, fx.expect, fx.expect_error) {
            (Ok((ops, _)), Some(expect), _) => {
                let got: Vec<Value> = ops.iter().map(|o| normalize(&convert::op_to_value(o))).collect();
                let want: Vec<Value> = expect.iter().map(normalize).collect();
                if got == want {
                    (true, String::new())
                } else {
                    (
                        false,
                        format!(
                            "operations differ\n  expected: {}\n  got:      {}",
                            serde_json::to_string(&want).unwrap_or_default(),
                            serde_json::to_string(&got).unwrap_or_default()
                        ),
                    )
                }
            }
            (Ok((ops, _)), None, Some(err)) => {
                (false, format!("expected an error containing {err:?}, got {} operation(s)", ops.len()))
            }
            (Err(e), _, Some(want)) if e.to_string().contains(&want) => (true, String::new()),
            (Err(e), _, _) => (false, format!("call failed: {e}")),
            (Ok(_), None, None) => (false, "fixture has neither expect nor expect_error".into()),
        };
        out.push(FixtureResult { name, description: fx.description, passed, message, stats });
    }
    Ok(out)
}
