//! What a plugin can keep and look up, end to end through the real binary and the `probe` test plugin:
//! kv state committed with the operations of a successful call (and discarded with a failed one),
//! the read-only directory (the stored user, their groups), and remote ids learned from `done` outcomes.

use crate::common::Backend;
use crate::common::proc::*;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn add_probe_target(env: &TestEnv, tenant: &str, name: &str, sink: &Sink, extra: Value) {
    let mut config = json!({"url": sink.url});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let cfg = config.to_string();
    let v = env
        .cli_json(&[
            "target",
            "add",
            "--tenant",
            tenant,
            "--name",
            name,
            "--plugin",
            "probe",
            "--config",
            &cfg,
            "--allow-host",
            &sink.origin,
            "--allow-http",
            "--allow-private",
        ])
        .await;
    assert_eq!(v["name"], name, "{v}");
}

/// The target's committed kv value, read through the store the gateway uses.
async fn kv_value(env: &TestEnv, target: &str, key: &str) -> Option<String> {
    let store = gateway::store::connect_with(&env.db_url, 1).await.expect("store");
    let targets = store.list_targets(None).await.expect("targets");
    let pk = targets.iter().find(|t| t.name == target).map(|t| t.pk).expect("target row");
    let v = store.kv_get(pk, key).await.expect("kv_get");
    store.close().await;
    v
}

async fn state_round_trip(backend: Backend) {
    let Some(env) = TestEnv::new(backend, "state").await else { return };
    let (tenant, token) = env.create_tenant().await;
    env.add_plugin("probe", "probe").await;
    let sink = Sink::start();
    add_probe_target(&env, &tenant, "probe", &sink, json!({})).await;
    add_probe_target(&env, &tenant, "strict", &sink, json!({"fail_translate_after": 1})).await;
    let gw = GatewayProc::spawn(&env, "gw", &[]).await;
    let scim = gw.scim(&tenant, &token);

    let group = scim.create_group("Sales").await;
    let user = scim.create_user("ada@contoso.example").await;
    // The first upsert: counter 1, the stored user read back, no groups, no remote id yet.
    let first = sink
        .wait("the first probe delivery", WAIT, |h| h.iter().filter(|x| x.delivered()).count() >= 2)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
    let from_probe: Vec<&Value> = first.iter().map(|h| &h.body).filter(|b| b["user"] == user).collect();
    assert!(from_probe.iter().all(|b| b["seen"] == 1), "{from_probe:?}");
    assert!(from_probe.iter().all(|b| b["stored_user_name"] == "ada@contoso.example"), "{from_probe:?}");
    assert!(from_probe.iter().all(|b| b["groups"] == json!([]) && b["remote_id"].is_null()), "{from_probe:?}");

    scim.patch_ok(&format!("/Groups/{group}"), json!([{"op": "Add", "path": "members", "value": [{"value": user}]}]))
        .await;
    scim.patch_ok(&format!("/Users/{user}"), json!([{"op": "Replace", "path": "displayName", "value": "Ada L."}]))
        .await;
    let hits = sink
        .wait("the second probe delivery", WAIT, |h| {
            h.iter().filter(|x| x.delivered() && x.body["seen"] == 2).count() >= 1
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
    let second = hits.iter().find(|h| h.body["seen"] == 2).map(|h| h.body.clone()).unwrap_or_default();
    // kv from translate (counter), directory (groups in order), the remote id and the kv flag that the
    // first delivery's `done` committed.
    assert_eq!(second["groups"], json!(["Sales"]), "{second}");
    assert_eq!(second["remote_id"], format!("r-{user}"), "{second}");
    assert_eq!(second["delivered_flag"], "yes", "{second}");

    // The strict target failed its second translate after writing kv: parked, and that write is gone.
    let status = poll("the strict target to park", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(&tenant, "strict").await;
        (s["state"] == "parked").then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
    assert!(status["parked_reason"].as_str().unwrap_or("").contains("probe refuses"), "{status}");
    assert_eq!(kv_value(&env, "strict", "seen").await.as_deref(), Some("1"), "a failed call's kv write leaked");
    assert_eq!(kv_value(&env, "probe", "seen").await.as_deref(), Some("2"));
}

#[tokio::test]
async fn kv_directory_and_remote_ids_sqlite() {
    state_round_trip(Backend::Sqlite).await;
}

#[tokio::test]
async fn kv_directory_and_remote_ids_postgres() {
    state_round_trip(Backend::Postgres).await;
}

/// The per-target kv quota (`plugin_kv_max_keys` here): a batch whose kv writes would pass it parks the
/// target with a reason naming the limit, and nothing of that batch is written. On 7914331 a plugin could
/// store any amount of state.
#[tokio::test]
async fn kv_quota_parks_the_target() {
    let Some(env) = TestEnv::new(Backend::Sqlite, "kv-quota").await else { return };
    let (tenant, token) = env.create_tenant().await;
    env.add_plugin("probe", "probe").await;
    let sink = Sink::start();
    add_probe_target(&env, &tenant, "probe", &sink, json!({})).await;
    let gw = GatewayProc::spawn(&env, "gw", &[("GATEWAY_PLUGIN_KV_MAX_KEYS", "1")]).await;
    let scim = gw.scim(&tenant, &token);
    // The first change: the counter key alone (1 key) fits; its delivery records a second key.
    scim.create_user("first@contoso.example").await;
    sink.wait("the first delivery", WAIT, |h| h.iter().any(Hit::delivered))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
    // The next change's counter write would leave 2 keys: parked, naming the quota.
    scim.create_user("second@contoso.example").await;
    let status = poll("the target to park on its kv quota", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(&tenant, "probe").await;
        (s["state"] == "parked").then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)));
    let reason = status["parked_reason"].as_str().unwrap_or("");
    assert!(reason.contains("quota is 1 (plugin_kv_max_keys)"), "{reason}");
    assert_eq!(kv_value(&env, "probe", "seen").await.as_deref(), Some("1"), "the parked batch wrote nothing");
}
