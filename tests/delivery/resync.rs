//! Resync: the directory replayed to a new target between `resync.started` and `resync.finished` (current
//! state, members in the order they were added), then the change log followed from where it started.

use super::stream::{hmac_hex, verify_stream};
use super::{WAIT, add_target, log_after, rig, wait_all, wait_drained};
use crate::common::Backend;
use crate::common::proc::{Hit, Reply, Sink, poll};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn resync_replays_the_directory_then_follows_the_log() {
    let Some(r) = rig(Backend::Sqlite, "resync", &[]).await else { return };
    let sink = Sink::start();
    let (env, t) = (&r.env, r.tenant.as_str());

    // The directory before the target exists: users, a group with members added in two requests, one
    // removed again, a deactivated user.
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(r.scim.create_user(&format!("rs{i}@contoso.com")).await);
    }
    r.scim
        .patch_ok(&format!("/Users/{}", users[4]), json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    let g = r.scim.create_group("Resync Group").await;
    let empty = r.scim.create_group("Empty Group").await;
    let add = |ids: &[&String]| json!([{"op": "Add", "path": "members", "value": ids.iter().map(|u| json!({"value": u})).collect::<Vec<_>>()}]);
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&users[2], &users[0]])).await;
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&users[3], &users[1]])).await;
    r.scim
        .patch_ok(&format!("/Groups/{g}"), json!([{"op": "Remove", "path": "members", "value": [{"value": users[3]}]}]))
        .await;

    env.add_plugin("webhook", "webhook").await;
    // A slow LMS: replayed users are still in flight when the replay's end marker is queued.
    sink.set_default(Reply::ok().delay(Duration::from_millis(300)));
    let added = add_target(env, t, "lms", "webhook", &sink, Some("rs-secret")).await;
    let last = added["last_seq"].as_i64().expect("last_seq");
    assert_eq!(added["cursor_seq"], last, "a new target starts at the current position: {added}");
    assert_eq!(added["pending"], 0);

    let resync = env.cli_json(&["target", "resync", "--tenant", t, "lms"]).await;
    assert_eq!(resync["resync_running"], true, "{resync}");
    sink.wait("resync.finished", WAIT, |h| h.iter().any(|x| x.kind() == "resync.finished" && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(40)));
    // Let everything queued by the resync arrive.
    wait_all(&sink, 1 + 5 + 2 + 1 + 1, &r.gw).await;
    let s = poll("the resync to finish", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(t, "lms").await;
        (s["state"] == "active" && s["pending"] == 0).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s["resync_running"], false, "{s}");
    let hits = sink.delivered();
    let lines: String = hits.iter().map(|h| format!("  {}\n", h.line())).collect();

    // What was replayed: every user, both groups, the members in the order they were added.
    assert!(hits.iter().all(|h| h.body["resync"] == true && h.seq() == 0), "{lines}");
    assert!(hits.iter().all(|h| h.signature.as_deref() == Some(&*format!("sha256={}", hmac_hex("rs-secret", &h.raw)))));
    let kinds: Vec<&str> = hits.iter().map(Hit::kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "resync.started").count(), 1, "{lines}");
    assert_eq!(kinds.iter().filter(|k| **k == "resync.finished").count(), 1, "{lines}");
    let upserted: BTreeSet<&str> = hits.iter().filter(|h| h.kind() == "user.upserted").map(Hit::resource_id).collect();
    assert_eq!(upserted, users.iter().map(String::as_str).collect(), "{lines}");
    let u4 = hits.iter().find(|h| h.resource_id() == users[4]).expect("deactivated user replayed");
    assert_eq!(u4.body["data"]["active"], false, "the replay carries the current state");
    let groups: BTreeSet<&str> = hits.iter().filter(|h| h.kind() == "group.upserted").map(Hit::resource_id).collect();
    assert_eq!(groups, BTreeSet::from([g.as_str(), empty.as_str()]), "{lines}");
    let members: Vec<&Hit> = hits.iter().filter(|h| h.kind() == "group.members_added").collect();
    assert_eq!(members.len(), 1, "no members_added for the empty group: {lines}");
    assert_eq!(members[0].resource_id(), g);
    assert_eq!(
        members[0].body["data"]["members"],
        json!([{"value": users[2], "type": "User"}, {"value": users[0], "type": "User"}, {"value": users[1], "type": "User"}]),
        "members in the order they were added"
    );
    // Per resource: the group before its members; the markers bracket the replay.
    let pos = |pred: &dyn Fn(&Hit) -> bool| hits.iter().position(pred).expect("present");
    assert!(
        pos(&|h| h.kind() == "group.upserted" && h.resource_id() == g) < pos(&|h| h.kind() == "group.members_added"),
        "{lines}"
    );
    let started = pos(&|h| h.kind() == "resync.started");
    let finished = pos(&|h| h.kind() == "resync.finished");
    assert_eq!(started, 0, "resync.started arrives before anything replayed:\n{lines}");
    assert_eq!(finished, hits.len() - 1, "resync.finished arrives after everything replayed:\n{lines}");

    // Then the log goes on from where the resync started.
    sink.set_default(Reply::ok());
    let n = hits.len();
    let u5 = r.scim.create_user("rs-after@contoso.com").await;
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&u5])).await;
    let events = log_after(env, t, last).await;
    assert_eq!(events.len(), 2);
    wait_all(&sink, n + 2, &r.gw).await;
    wait_drained(env, t, "lms", &r.gw).await;
    let after: Vec<Hit> = sink.hits().into_iter().skip(n).collect();
    verify_stream(&after, t, "lms", &events, true).unwrap_or_else(|e| panic!("{e}"));
}
