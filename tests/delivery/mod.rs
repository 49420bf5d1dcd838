//! Delivery end to end: the real `gateway serve` binary as a child process, real plugin components
//! (`scripts/build-plugins.sh`), and a sink HTTP server on 127.0.0.1 standing in for the LMS. SCIM writes
//! go in over HTTP the way Entra sends them; what the sink receives is checked against the tenant's change
//! log: nothing lost, one op id per event, in order per resource, signed, retried, dead-lettered and
//! replayed as the outcome says, across plugin traps, hot swaps, resyncs, `kill -9` and two processes
//! sharing one PostgreSQL database.

mod admin;
mod admin_access;
mod end_to_end;
mod faults;
mod jobs;
mod keys;
mod openapi;
mod plugins;
mod processes;
mod replay;
mod resync;
mod stream;

use crate::common::ScimClient;
use crate::common::{Backend, proc::*};
use serde_json::{Value, json};
use std::time::Duration;
use stream::delivered_ops;

/// How long a test waits for deliveries that should take a second or two.
const WAIT: Duration = Duration::from_secs(60);

/// A gateway process with one tenant on a fresh database. `gw` is declared first so it is killed before
/// the database is dropped.
struct Rig {
    gw: GatewayProc,
    env: TestEnv,
    tenant: String,
    token: String,
    scim: ScimClient,
}

async fn rig(backend: Backend, label: &str, extra: &[(&str, &str)]) -> Option<Rig> {
    let env = TestEnv::new(backend, label).await?;
    // The CLI creates (and migrates) the database before any server starts.
    let (tenant, token) = env.create_tenant().await;
    let gw = GatewayProc::spawn(&env, "gw", extra).await;
    let scim = gw.scim(&tenant, &token);
    Some(Rig { gw, env, tenant, token, scim })
}

/// `gateway target add` of a plugin that POSTs to `sink` (the webhook config: `{"url": sink}`, signed with
/// credential `sig` = `secret` when given). Returns the printed target.
async fn add_target(env: &TestEnv, tenant: &str, name: &str, plugin: &str, sink: &Sink, secret: Option<&str>) -> Value {
    let mut config = json!({"url": sink.url});
    let mut args: Vec<String> = ["target", "add", "--tenant", tenant, "--name", name, "--plugin", plugin]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend(["--allow-host".to_owned(), sink.origin.clone(), "--allow-http".into(), "--allow-private".into()]);
    if let Some(s) = secret {
        config["signing_credential"] = json!("sig");
        args.extend(["--credential".to_owned(), format!("sig={s}")]);
    }
    args.extend(["--config".to_owned(), config.to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = env.cli_json(&argv).await;
    assert_eq!(v["name"], name, "{v}");
    v
}

/// The change log after `after`, in order.
async fn log_after(env: &TestEnv, tenant: &str, after: i64) -> Vec<Value> {
    env.changes(tenant).await.into_iter().filter(|e| e["seq"].as_i64().unwrap_or(0) > after).collect()
}

/// Unwraps a wait, or fails with the gateway's log tail.
trait OrLog<T> {
    fn or_log(self, gw: &GatewayProc) -> T;
}

impl<T> OrLog<T> for Result<T, String> {
    fn or_log(self, gw: &GatewayProc) -> T {
        self.unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
    }
}

/// Waits until the target has nothing pending (so no further delivery can come) and returns its status.
async fn wait_drained(rig_env: &TestEnv, tenant: &str, target: &str, gw: &GatewayProc) -> Value {
    wait_drained_for(rig_env, tenant, target, gw, WAIT).await
}

async fn wait_drained_for(rig_env: &TestEnv, tenant: &str, target: &str, gw: &GatewayProc, timeout: Duration) -> Value {
    poll("the outbox to drain", timeout, Duration::from_millis(100), async || {
        let s = rig_env.target_status(tenant, target).await;
        (s["pending"] == 0 && s["cursor_seq"] == s["last_seq"]).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
}

/// Waits until every event of `events` was delivered to `sink` (by distinct op id count).
async fn wait_all(sink: &Sink, events: usize, gw: &GatewayProc) -> Vec<Hit> {
    sink.wait(&format!("{events} events delivered"), WAIT, |h| delivered_ops(h).len() >= events)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
}
