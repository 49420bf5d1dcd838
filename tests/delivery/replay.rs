//! Comparing plugin versions before a hot swap: `gateway plugin replay` runs a candidate over a target's
//! recorded changes beside the active version and shows how their operations differ; `plugin add
//! --check T/N --strict` refuses a version that differs. The candidate is the webhook plugin with one
//! deliberate change in its output (its operation kind `webhook.event` rewritten in the component's data
//! to `webhook.evenX`): the replay must show exactly that difference, on every change, and nothing else.
//! Also `gateway plugin fixture`: a recorded change becomes a fixture that `plugin test --update` fills in.

use super::{add_target, rig, wait_drained};
use crate::common::Backend;
use crate::common::proc::{Sink, plugin_file};
use serde_json::json;

#[tokio::test]
async fn a_candidate_with_one_changed_output_shows_exactly_that_difference() {
    let Some(r) = rig(Backend::Sqlite, "replay", &[]).await else { return };
    let sink = Sink::start();
    let (env, t) = (&r.env, r.tenant.as_str());
    env.add_plugin("webhook", "webhook").await;
    add_target(env, t, "hook", "webhook", &sink, None).await;
    for name in ["ann", "bob", "cy"] {
        r.scim.create_user(&format!("{name}@contoso.com")).await;
    }
    r.scim.create_group("Sales").await;
    wait_drained(env, t, "hook", &r.gw).await;
    let changes = env.changes(t).await.len();

    let wasm = std::fs::read(plugin_file("webhook")).expect("webhook.wasm");
    let mut patched = wasm.clone();
    let mut n = 0;
    while let Some(at) = patched.windows(13).position(|w| w == b"webhook.event") {
        patched[at + 12] = b'X';
        n += 1;
    }
    assert!(n > 0, "the operation kind is in the component's data");
    let candidate = env.dir.path.join("candidate.wasm");
    std::fs::write(&candidate, &patched).expect("write");
    let candidate = candidate.display().to_string();

    let same = env
        .cli_json(&[
            "plugin",
            "replay",
            &plugin_file("webhook").display().to_string(),
            "--tenant",
            t,
            "--target",
            "hook",
            "--from",
            "1",
            "--json",
        ])
        .await;
    assert_eq!((same["changes"].as_u64(), same["different"].as_u64()), (Some(changes as u64), Some(0)), "{same}");

    let report = env
        .cli_json(&["plugin", "replay", &candidate, "--tenant", t, "--target", "hook", "--from", "1", "--json"])
        .await;
    assert_eq!(report["changes"].as_u64(), Some(changes as u64), "{report}");
    assert_eq!(report["different"].as_u64(), Some(changes as u64), "every change's operation differs: {report}");
    for d in report["diffs"].as_array().expect("diffs") {
        assert_eq!(
            d["differences"],
            json!([{"pointer": "/0/custom/kind", "expected": "webhook.event", "actual": "webhook.evenX"}]),
            "exactly the one deliberate difference: {d}"
        );
    }
    let text = env.cli(&["plugin", "replay", &candidate, "--tenant", t, "--target", "hook", "--from", "1"]).await;
    assert!(
        text.stdout.contains("/0/custom/kind: active \"webhook.event\", candidate \"webhook.evenX\""),
        "{}",
        text.stdout
    );

    // Before a hot swap: --strict refuses it, without --strict it is registered with the report shown.
    let out =
        env.cli(&["plugin", "add", &candidate, "--name", "webhook", "--check", &format!("{t}/hook"), "--strict"]).await;
    assert!(!out.status.success() && out.stderr.contains("translate differently"), "{}", out.stderr);
    assert_eq!(env.cli_json(&["plugin", "list"]).await[0]["versions"], 1, "nothing registered");
    let out = env.cli(&["plugin", "add", &candidate, "--name", "webhook", "--check", &format!("{t}/hook")]).await;
    assert!(out.status.success() && out.stderr.contains("different"), "{}", out.stderr);

    // A recorded change as a fixture, filled in by --update, then passing.
    let dir = env.dir.path.join("fixtures");
    let out = env
        .cli(&[
            "plugin",
            "fixture",
            "--tenant",
            t,
            "--seq",
            "1",
            "--target",
            "hook",
            "--out",
            &dir.display().to_string(),
        ])
        .await;
    assert!(out.status.success(), "{}", out.stderr);
    let webhook = plugin_file("webhook").display().to_string();
    let fixtures = dir.display().to_string();
    let out = env.cli(&["plugin", "test", &webhook, "--fixtures", &fixtures]).await;
    assert!(!out.status.success() && out.stdout.contains("expects nothing"), "{}", out.stdout);
    let out = env.cli(&["plugin", "test", &webhook, "--fixtures", &fixtures, "--update"]).await;
    assert!(out.status.success() && out.stdout.contains("UPDATED"), "{}", out.stdout);
    let out = env.cli(&["plugin", "test", &webhook, "--fixtures", &fixtures, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(1), Some(0)), "{v}");
    assert_eq!(v["fixtures"][0]["logs"], json!([]), "{v}");
}
