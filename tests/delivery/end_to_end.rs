//! The delivery stream in order: Entra's scripted sequence reaches a signed webhook once per change, bodies
//! as the change log says, the secret shown nowhere; and two targets of one tenant each get the full
//! stream under their own op ids.

use super::stream::{delivered_ops, hit_key, hmac_hex, verify_stream};
use super::{add_target, log_after, rig, wait_all, wait_drained};
use crate::common::proc::Sink;
use crate::common::{Backend, ENTERPRISE, GROUP_SCHEMA};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

// ---- end to end, in order ------------------------------------------------------------------------------

async fn end_to_end(backend: Backend) {
    let Some(r) = rig(backend, "e2e", &[]).await else { return };
    let sink = Sink::start();
    let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
    r.env.add_plugin("webhook", "webhook").await;
    let added = add_target(&r.env, &r.tenant, "hook", "webhook", &sink, Some(&secret)).await;
    assert_eq!(added["credential_names"], json!(["sig"]), "{added}");
    let start = added["cursor_seq"].as_i64().expect("cursor_seq");

    // What Entra sends: users, attribute updates, a deactivation, a group with members, member changes, a
    // rename and a delete.
    let s = &r.scim;
    let alice = s.create_user("alice@contoso.com").await;
    let bob = s.create_user("bob@contoso.com").await;
    let carol = s.create_user("carol@contoso.com").await;
    s.patch_ok(
        &format!("/Users/{alice}"),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Alice Smith"},
            {"op": "Replace", "path": "name.givenName", "value": "Alicia"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}
        ]),
    )
    .await;
    s.patch_ok(&format!("/Users/{bob}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    let (st, _, g) = s
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA],
                "externalId": uuid::Uuid::new_v4().to_string(),
                "displayName": "Sales Team",
                "members": [{"value": alice}, {"value": bob}]
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let group = g["id"].as_str().expect("group id").to_owned();
    s.patch_ok(
        &format!("/Groups/{group}"),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": carol}]}]),
    )
    .await;
    s.patch_ok(&format!("/Groups/{group}"), json!([{"op": "Remove", "path": "members", "value": [{"value": bob}]}]))
        .await;
    s.patch_ok(
        &format!("/Groups/{group}"),
        json!([{"op": "Replace", "path": "displayName", "value": "Sales Team EU"}]),
    )
    .await;
    assert_eq!(s.delete(&format!("/Users/{carol}")).await.0, StatusCode::NO_CONTENT);

    let events = log_after(&r.env, &r.tenant, start).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        [
            "user.upserted",
            "user.upserted",
            "user.upserted",
            "user.upserted",
            "user.active_changed",
            "group.upserted",
            "group.members_added",
            "group.members_added",
            "group.members_removed",
            "group.renamed",
            "user.deleted"
        ],
        "the change log of the scripted sequence"
    );

    wait_all(&sink, events.len(), &r.gw).await;
    let status = wait_drained(&r.env, &r.tenant, "hook", &r.gw).await;
    assert_eq!(status["dead"], 0, "{status}");
    assert_eq!(status["state"], "active", "{status}");
    let hits = sink.hits();
    let dups = verify_stream(&hits, &r.tenant, "hook", &events, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dups, 0);
    assert_eq!(hits.len(), events.len(), "one request per event, no retries:\n{}", sink.dump(40));

    // Every body is signed with the secret.
    for h in &hits {
        let want = format!("sha256={}", hmac_hex(&secret, &h.raw));
        assert_eq!(h.signature.as_deref(), Some(want.as_str()), "signature of {}", h.line());
    }

    // Bodies, by event.
    let body = |kind: &str, id: &str, nth: usize| -> Value {
        hits.iter()
            .filter(|h| h.kind() == kind && h.resource_id() == id)
            .nth(nth)
            .map(|h| h.body.clone())
            .unwrap_or_else(|| panic!("no {kind} #{nth} for {id}:\n{}", sink.dump(40)))
    };
    for h in &hits {
        assert_eq!(h.body["resync"], false);
        assert!(h.body["at"].as_str().is_some_and(|a| !a.is_empty()), "{}", h.line());
        assert_eq!(h.path, "/hook");
    }
    let a1 = body("user.upserted", &alice, 1);
    assert_eq!(a1["resourceType"], "User");
    assert_eq!(a1["data"]["id"], alice.as_str());
    assert_eq!(a1["data"]["displayName"], "Alice Smith");
    assert_eq!(a1["data"]["name"]["givenName"], "Alicia");
    assert_eq!(a1["data"][ENTERPRISE]["department"], "Sales");
    assert_eq!(body("user.upserted", &alice, 0)["data"]["userName"], "alice@contoso.com");
    assert_eq!(body("user.active_changed", &bob, 0)["data"], json!({"active": false}));
    assert_eq!(body("group.upserted", &group, 0)["data"]["displayName"], "Sales Team");
    assert_eq!(
        body("group.members_added", &group, 0)["data"],
        json!({"members": [{"value": alice, "type": "User"}, {"value": bob, "type": "User"}]})
    );
    assert_eq!(body("group.members_added", &group, 1)["data"], json!({"members": [{"value": carol, "type": "User"}]}));
    assert_eq!(body("group.members_removed", &group, 0)["data"], json!({"members": [{"value": bob, "type": "User"}]}));
    assert_eq!(
        body("group.renamed", &group, 0)["data"],
        json!({"oldDisplayName": "Sales Team", "displayName": "Sales Team EU"})
    );
    let d = body("user.deleted", &carol, 0);
    assert_eq!(d["resourceType"], "User");
    assert_eq!(d["data"], Value::Null);

    // The secret shows nowhere: CLI output, admin API answers, the gateway's log, the database file.
    r.env.cli(&["target", "list", "--tenant", &r.tenant]).await;
    r.env.cli(&["outbox", "list", "--tenant", &r.tenant]).await;
    let mut shown = r.env.cli_transcript();
    for path in [
        format!("/targets?tenant={}", r.tenant),
        format!("/tenants/{}/targets/hook", r.tenant),
        format!("/tenants/{}/outbox?target=hook", r.tenant),
    ] {
        let resp = r.gw.admin(Method::GET, &path).send().await.expect("admin API answers");
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        shown.push_str(&resp.text().await.unwrap_or_default());
    }
    assert!(shown.contains("\"sig\""), "the outputs checked include the credential's name:\n{shown}");
    assert!(!shown.contains(&secret), "the signing secret appears in CLI or admin API output:\n{shown}");
    assert!(!r.gw.log().contains(&secret), "the signing secret appears in the gateway log");
    if backend == Backend::Sqlite {
        for entry in std::fs::read_dir(&r.env.dir.path).expect("test dir") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with("gateway.db") {
                let bytes = std::fs::read(&path).unwrap_or_default();
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "the secret is stored in clear in {name}");
            }
        }
    }
}

#[tokio::test]
async fn end_to_end_sqlite() {
    end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn end_to_end_postgres() {
    end_to_end(Backend::Postgres).await;
}

// ---- two targets on one tenant -------------------------------------------------------------------------

#[tokio::test]
async fn two_targets_each_get_the_full_stream() {
    let Some(r) = rig(Backend::Sqlite, "two", &[]).await else { return };
    let (sa, sb) = (Sink::start(), Sink::start());
    r.env.add_plugin("webhook", "webhook").await;
    let a = add_target(&r.env, &r.tenant, "lms-a", "webhook", &sa, None).await;
    add_target(&r.env, &r.tenant, "lms-b", "webhook", &sb, Some("b-secret")).await;
    let start = a["cursor_seq"].as_i64().expect("cursor");

    let mut users = Vec::new();
    for i in 0..6 {
        users.push(r.scim.create_user(&format!("two{i}@contoso.com")).await);
    }
    let g = r.scim.create_group("Two").await;
    let add: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    r.scim.patch_ok(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": add}])).await;
    for u in &users[..3] {
        r.scim.patch_ok(&format!("/Users/{u}"), json!([{"op": "Replace", "path": "title", "value": "Lead"}])).await;
    }
    assert_eq!(r.scim.delete(&format!("/Users/{}", users[5])).await.0, StatusCode::NO_CONTENT);

    let events = log_after(&r.env, &r.tenant, start).await;
    assert_eq!(events.len(), 6 + 1 + 1 + 3 + 1);
    wait_all(&sa, events.len(), &r.gw).await;
    wait_all(&sb, events.len(), &r.gw).await;
    wait_drained(&r.env, &r.tenant, "lms-a", &r.gw).await;
    wait_drained(&r.env, &r.tenant, "lms-b", &r.gw).await;
    let (ha, hb) = (sa.hits(), sb.hits());
    verify_stream(&ha, &r.tenant, "lms-a", &events, true).unwrap_or_else(|e| panic!("lms-a: {e}"));
    verify_stream(&hb, &r.tenant, "lms-b", &events, true).unwrap_or_else(|e| panic!("lms-b: {e}"));
    assert!(ha.iter().all(|h| h.signature.is_none()), "lms-a has no signing credential");
    assert!(hb.iter().all(|h| h.signature.as_deref() == Some(&*format!("sha256={}", hmac_hex("b-secret", &h.raw)))));
    // Two targets, two sets of operations: no op id is shared.
    let (oa, ob) = (delivered_ops(&ha), delivered_ops(&hb));
    assert!(oa.is_disjoint(&ob), "op ids are per target: {oa:?} / {ob:?}");
    // The same events carry the same data apart from the target's name.
    for h in &ha {
        let twin = hb.iter().find(|x| hit_key(x) == hit_key(h)).expect("the same event at lms-b");
        assert_eq!(h.body["data"], twin.body["data"], "{}", h.line());
    }
}
