//! Misbehaving plugin components are contained: refused at registration, parked at translate with the
//! limit they hit, dead-lettered at deliver, while SCIM and healthy targets carry on; a parked target
//! resumes from the parked change after a hot swap to a fixed version and a retry.

use super::stream::verify_stream;
use super::{WAIT, add_target, log_after, rig, wait_all, wait_drained};
use crate::common::proc::{Sink, TestEnv, plugin_file, poll};
use crate::common::{Backend, enc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

// ---- misbehaving plugins -------------------------------------------------------------------------------

#[tokio::test]
async fn misbehaving_plugins_are_contained() {
    let extra = [("GATEWAY_MAX_ATTEMPTS", "3"), ("GATEWAY_RETRY_BASE_MS", "50")];
    let Some(mut r) = rig(Backend::Sqlite, "misbehave", &extra).await else { return };
    let sink = Sink::start();
    let env = &r.env;

    // Refused at registration, with the reason named.
    let out = env.cli(&["plugin", "add", &plugin_file("wrong-world").display().to_string()]).await;
    assert!(!out.status.success(), "wrong-world must be refused: {}", out.stdout);
    assert!(
        out.stderr.contains("missing export(s) scimgw:plugin/provisioning (translate, deliver)")
            && out.stderr.contains("scimgw:plugin/target@1.0.0"),
        "the refusal names the missing export and the world: {}",
        out.stderr
    );
    let out = env.cli(&["plugin", "add", &plugin_file("bad-import").display().to_string()]).await;
    assert!(!out.status.success(), "bad-import must be refused: {}", out.stdout);
    assert!(out.stderr.contains("evil:steal/files@0.1.0"), "the refusal names the foreign import: {}", out.stderr);
    let listed = env.cli_json(&["plugin", "list"]).await;
    assert_eq!(listed, json!([]), "refused plugins are not registered");

    for p in ["loop", "alloc", "panic", "forbidden-host", "webhook"] {
        env.add_plugin(p, p).await;
    }
    let t = &r.tenant;
    let mut start = 0;
    for (name, plugin) in [("t-loop", "loop"), ("t-alloc", "alloc"), ("t-panic", "panic"), ("hook", "webhook")] {
        start = add_target(env, t, name, plugin, &sink, None).await["cursor_seq"].as_i64().expect("cursor");
    }
    let deliver_panic = r#"{"in":"deliver"}"#;
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-panic-deliver",
        "--plugin",
        "panic",
        "--config",
        deliver_panic,
    ])
    .await;
    // The metadata address allowlisted (but not private addresses): the SSRF guard must refuse it.
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-metadata",
        "--plugin",
        "forbidden-host",
        "--allow-host",
        "http://169.254.169.254",
        "--allow-http",
    ])
    .await;
    // Not allowlisted at all.
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-unlisted",
        "--plugin",
        "forbidden-host",
        "--allow-http",
    ])
    .await;

    // SCIM writes while the plugins misbehave: every one answered, promptly.
    let mut slowest = Duration::ZERO;
    let mut users = Vec::new();
    for i in 0..4 {
        let t0 = Instant::now();
        users.push(r.scim.create_user(&format!("mis{i}@contoso.com")).await);
        slowest = slowest.max(t0.elapsed());
    }
    let g = r.scim.create_group("Misbehave").await;
    r.scim
        .patch_ok(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": [{"value": users[0]}]}]))
        .await;
    let events = log_after(env, t, start).await;
    assert_eq!(events.len(), 6);
    let first = events[0]["seq"].as_i64().expect("seq");

    // The bad translators park at the first change, each with the limit it hit.
    let gw = &r.gw;
    let n_events = events.len();
    let parked = |name: &'static str| async move {
        poll(&format!("{name} parked"), WAIT, Duration::from_millis(100), async || {
            let s = env.target_status(t, name).await;
            (s["state"] == "parked").then_some(s)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
    };
    let s_loop = parked("t-loop").await;
    let s_alloc = parked("t-alloc").await;
    let s_panic = parked("t-panic").await;
    for s in [&s_loop, &s_alloc, &s_panic] {
        assert_eq!(s["parked_seq"], first, "parked at the first change: {s}");
        assert_eq!(s["cursor_seq"], start, "nothing translated past the failure: {s}");
        assert_eq!(s["pending"], 0, "{s}");
        let reason = s["parked_reason"].as_str().unwrap_or("");
        assert!(reason.starts_with(&format!("translate of change {first} (user.upserted) failed: ")), "{reason}");
    }
    let reason = |s: &Value| s["parked_reason"].as_str().unwrap_or("").to_owned();
    let r_loop = reason(&s_loop);
    assert!(
        r_loop.contains("ran out of fuel (budget 100000000 instructions)")
            || r_loop.contains("exceeded its time limit of 500 ms"),
        "the loop hits the fuel or the time limit: {r_loop}"
    );
    assert!(reason(&s_alloc).contains("exceeded its memory limit of 64 MiB"), "{}", reason(&s_alloc));
    // The host names a panic with its message when the plugin reported it through `log` ("panic: …")
    // before aborting; the SDK installs no panic hook that does, so the trap is all the host sees.
    let r_panic = reason(&s_panic);
    assert!(
        r_panic.contains("the plugin panicked: misbehave-panic: translate panics on purpose (change")
            || r_panic.ends_with("the plugin trapped: unreachable code reached (a panic or abort)"),
        "the panic is named: {r_panic}"
    );

    // The healthy target delivers everything meanwhile.
    wait_all(&sink, events.len(), &r.gw).await;
    wait_drained(env, t, "hook", &r.gw).await;
    verify_stream(&sink.hits(), t, "hook", &events, true).unwrap_or_else(|e| panic!("{e}"));

    // Deliver-time failures: dead-lettered with the reason, after 3 attempts for the panic, at once for a
    // denied request. The first operation of each resource dies; the later ones of that resource wait
    // behind it (delivered in order once it is replayed or skipped), untried.
    let dead = |name: &'static str| async move {
        let rows =
            poll(&format!("every op of {name} dead or held back"), WAIT, Duration::from_millis(100), async || {
                let rows = env.outbox(t, name, false).await;
                let mut dead_keys = std::collections::HashSet::new();
                let settled = rows.iter().all(|o| {
                    if o["state"] == "dead" {
                        dead_keys.insert(o["key"].to_string());
                        true
                    } else {
                        dead_keys.contains(&o["key"].to_string()) && o["attempts"] == 0
                    }
                });
                (rows.len() == n_events && settled)
                    .then(|| rows.into_iter().filter(|o| o["state"] == "dead").collect::<Vec<_>>())
            })
            .await;
        match rows {
            Ok(rows) => rows,
            Err(e) => {
                let now = env.outbox(t, name, false).await;
                panic!("{e}\n{}\n{}", serde_json::to_string_pretty(&now).unwrap_or_default(), gw.log_tail(40))
            }
        }
    };
    for o in dead("t-panic-deliver").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert_eq!(o["attempts"], 3, "{o}");
        assert!(
            err == "gave up after 3 attempts: the plugin trapped: unreachable code reached (a panic or abort)"
                || err.starts_with(
                    "gave up after 3 attempts: the plugin panicked: misbehave-panic: deliver panics on purpose"
                ),
            "{err}"
        );
    }
    for o in dead("t-metadata").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert_eq!(o["attempts"], 1, "a denied request is not retried: {o}");
        assert!(
            err.starts_with("denied: address 169.254.169.254 is link-local"),
            "the SSRF guard names the address and why: {err}"
        );
    }
    for o in dead("t-unlisted").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert!(err.starts_with("denied: host 169.254.169.254 is not in the target's allowed hosts"), "{err}");
    }
    for name in ["t-panic-deliver", "t-metadata", "t-unlisted"] {
        let s = env.target_status(t, name).await;
        let (dead, pending) = (s["dead"].as_i64().unwrap_or(0), s["pending"].as_i64().unwrap_or(0));
        assert_eq!((s["state"].as_str(), dead + pending), (Some("active"), n_events as i64), "{s}");
        assert!(dead >= 1 && s["blocked_keys"].as_i64().is_some_and(|b| b <= dead && (pending == 0 || b >= 1)), "{s}");
    }
    assert!(!sink.hits().iter().any(|h| h.body.get("seq").is_none()), "only the webhook reaches the sink");

    // Still serving: SCIM reads and writes, health.
    let t0 = Instant::now();
    let late = r.scim.create_user("late@contoso.com").await;
    slowest = slowest.max(t0.elapsed());
    let (st, _, list) = r.scim.get(&format!("/Users?filter=userName+eq+%22{}%22", enc("late@contoso.com"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["Resources"][0]["id"], late.as_str());
    let health = r.gw.http.get(format!("{}/healthz", r.gw.origin)).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(slowest < Duration::from_secs(5), "a SCIM write took {slowest:?} while plugins misbehaved");
    assert!(r.gw.running(), "the gateway survived");
    // The late change reaches the healthy target; the parked ones stay where they are.
    sink.wait("the late user delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == late && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for name in ["t-loop", "t-alloc", "t-panic"] {
        let s = env.target_status(t, name).await;
        assert_eq!((s["state"].as_str(), s["parked_seq"].as_i64()), (Some("parked"), Some(first)), "{s}");
    }
}

// ---- hot swap + retry ----------------------------------------------------------------------------------

#[tokio::test]
async fn hot_swap_then_retry_delivers_from_the_parked_change() {
    let Some(r) = rig(Backend::Sqlite, "swap", &[]).await else { return };
    let sink = Sink::start();
    let (env, t) = (&r.env, r.tenant.as_str());
    let v1 = env.add_plugin("panic", "flaky").await;
    let start = add_target(env, t, "lms", "flaky", &sink, None).await["cursor_seq"].as_i64().expect("cursor");

    let u1 = r.scim.create_user("swap1@contoso.com").await;
    let parked = poll("the target parked", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(t, "lms").await;
        (s["state"] == "parked").then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(40)));
    let first = start + 1;
    assert_eq!(parked["parked_seq"], first, "{parked}");
    let why = parked["parked_reason"].as_str().unwrap_or("");
    assert!(why.contains("panicked") || why.contains("(a panic or abort)"), "{parked}");
    // Changes made while parked wait behind it.
    let u2 = r.scim.create_user("swap2@contoso.com").await;
    r.scim.patch_ok(&format!("/Users/{u1}"), json!([{"op": "Replace", "path": "displayName", "value": "One"}])).await;
    let s = env.target_status(t, "lms").await;
    assert_eq!(
        (s["state"].as_str(), s["parked_seq"].as_i64(), s["cursor_seq"].as_i64()),
        (Some("parked"), Some(first), Some(start)),
        "{s}"
    );
    assert!(sink.hits().is_empty(), "nothing delivered while parked:\n{}", sink.dump(10));

    // A new version under the same name, picked up by the running gateway; then retry.
    let v2 = env.add_plugin("webhook", "flaky").await;
    assert_eq!(v2["new_version"], true, "{v2}");
    assert_ne!(v1["sha256"], v2["sha256"]);
    let plugins = env.cli_json(&["plugin", "list"]).await;
    let flaky = plugins.as_array().and_then(|a| a.iter().find(|p| p["name"] == "flaky")).expect("flaky listed").clone();
    assert_eq!((flaky["sha256"].clone(), flaky["versions"].clone()), (v2["sha256"].clone(), json!(2)), "{plugins}");
    let retried = env.cli_json(&["target", "retry", "--tenant", t, "lms"]).await;
    assert_eq!(retried["parked_seq"], Value::Null, "{retried}");
    // Retry on a target that is not parked is refused.
    let again = env.cli(&["target", "retry", "--tenant", t, "lms"]).await;
    assert!(!again.status.success() && again.stderr.contains("is not parked"), "{again:?}");

    let events = log_after(env, t, start).await;
    assert_eq!(events.len(), 3);
    wait_all(&sink, 3, &r.gw).await;
    wait_drained(env, t, "lms", &r.gw).await;
    let hits = sink.hits();
    verify_stream(&hits, t, "lms", &events, true).unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<(i64, &str, &str)> = hits.iter().map(|h| (h.seq(), h.kind(), h.resource_id())).collect();
    assert_eq!(order.iter().filter(|o| o.2 == u1).map(|o| o.0).collect::<Vec<_>>(), [first, first + 2], "{order:?}");
    assert!(order.iter().any(|o| o.0 == first + 1 && o.2 == u2), "{order:?}");
    assert!(hits.iter().any(|h| h.seq() == first), "the parked change itself is delivered");
    assert!(r.gw.log().contains("plugin swapped to a new version"), "the swap is logged");
}

/// Plugins built with the first frozen SDK (committed as `.wasm` in `plugins/longevity/`) keep loading
/// and passing the fixtures they passed when they were built; a plugin recording a newer contract minor
/// is refused with both versions named.
#[tokio::test]
async fn plugins_built_with_the_first_frozen_sdk_keep_working() {
    let Some(env) = TestEnv::new(Backend::Sqlite, "longevity").await else { return };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/longevity");
    for name in ["webhook", "template"] {
        let dir = root.join(format!("{name}-1.0.0"));
        let wasm = dir.join(format!("{name}.wasm")).display().to_string();
        let fixtures = dir.join("fixtures").display().to_string();
        let out = env.cli(&["plugin", "test", &wasm, "--fixtures", &fixtures]).await;
        assert!(out.status.success(), "{name} 1.0.0: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(" 0 failed"), "{}", out.stdout);
        let added = env.cli_json(&["plugin", "add", &wasm, "--name", &format!("{name}-1")]).await;
        assert_eq!(added["world"], "target+schedule+admin", "{added}");
    }
    // The same webhook, its recorded contract version patched to 1.2.0: refused, naming both.
    let mut wasm = std::fs::read(root.join("webhook-1.0.0/webhook.wasm")).expect("webhook 1.0.0");
    let at = wasm.windows(23).position(|w| w == b"scimgw:api-version1.0.0").expect("the version section") + 18;
    wasm[at..at + 5].copy_from_slice(b"1.2.0");
    let patched = env.dir.path.join("webhook-1.2.wasm");
    std::fs::write(&patched, &wasm).expect("write");
    let out = env.cli(&["plugin", "add", &patched.display().to_string(), "--name", "newer"]).await;
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("built for contract 1.2.0") && out.stderr.contains("supports 1.0–1.0"),
        "{}",
        out.stderr
    );
}
