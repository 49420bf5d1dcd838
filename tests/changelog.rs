//! The change log a scripted sequence of SCIM writes produces: kinds, order, seq, payloads.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn scripted_sequence(app: TestApp) {
    let a = app.create_user("a@contoso.com").await;
    let b = app.create_user("b@contoso.com").await;
    let ok = |st: StatusCode| assert!(st.is_success(), "{st}");

    ok(app
        .patch(&format!("/Users/{a}"), patch_op(json!([{"op": "Replace", "path": "displayName", "value": "User A"}])))
        .await
        .0);
    ok(app
        .patch(&format!("/Users/{a}"), patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])))
        .await
        .0);
    // No-op PATCHes (same values again) must not log anything.
    ok(app
        .patch(&format!("/Users/{a}"), patch_op(json!([{"op": "Replace", "path": "displayName", "value": "User A"}])))
        .await
        .0);
    ok(app
        .patch(&format!("/Users/{a}"), patch_op(json!([{"op": "Replace", "path": "active", "value": false}])))
        .await
        .0);

    let g = app.create_group("G").await;
    let add =
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": b}, {"$ref": null, "value": a}]}]);
    ok(app.patch(&format!("/Groups/{g}"), patch_op(add.clone())).await.0);
    ok(app.patch(&format!("/Groups/{g}"), patch_op(add)).await.0); // no-op
    ok(app
        .patch(&format!("/Groups/{g}"), patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}])))
        .await
        .0);
    ok(app
        .patch(&format!("/Groups/{g}"), patch_op(json!([{"op": "Replace", "path": "displayName", "value": "G2"}])))
        .await
        .0);
    ok(app
        .patch(&format!("/Groups/{g}"), patch_op(json!([{"op": "Replace", "path": "displayName", "value": "G2"}])))
        .await
        .0); // no-op
    assert_eq!(app.delete(&format!("/Users/{b}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/Groups/{g}")).await.0, StatusCode::NO_CONTENT);

    let ev = app.changes().await;
    assert_eq!(
        kinds(&ev),
        vec![
            "user.upserted",
            "user.upserted",
            "user.upserted",
            "user.active_changed",
            "group.upserted",
            "group.members_added",
            "group.members_removed",
            "group.renamed",
            "user.deleted",
            "group.deleted",
        ],
        "{ev:#?}"
    );
    for w in ev.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "seq increases by exactly 1: {ev:#?}");
    }
    assert!(ev[0].seq >= 1);

    let ids: Vec<&str> = ev.iter().map(|e| e.resource_id.as_str()).collect();
    assert_eq!(ids, vec![a.as_str(), &b, &a, &a, &g, &g, &g, &g, &b, &g]);
    let types: Vec<&str> = ev.iter().map(|e| e.resource_type.as_str()).collect();
    assert_eq!(types, vec!["User", "User", "User", "User", "Group", "Group", "Group", "Group", "User", "Group"]);

    assert_eq!(ev[0].payload["id"], a.as_str());
    assert_eq!(ev[0].payload["userName"], "a@contoso.com");
    assert_eq!(ev[2].payload["displayName"], "User A");
    assert_eq!(ev[3].payload["id"], a.as_str());
    assert_eq!(ev[3].payload["active"], json!(false));
    assert_eq!(ev[4].payload["displayName"], "G");
    assert_eq!(
        ev[5].payload["members"],
        json!([{"value": b, "type": "User"}, {"value": a, "type": "User"}]),
        "members_added lists B then A (request order)"
    );
    assert_eq!(ev[5].payload["id"], g.as_str());
    assert_eq!(ev[6].payload["members"], json!([{"value": a, "type": "User"}]));
    assert_eq!(ev[7].payload["oldDisplayName"], "G");
    assert_eq!(ev[7].payload["displayName"], "G2");
    assert_eq!(ev[8].payload["id"], b.as_str());
    assert_eq!(ev[9].payload["id"], g.as_str());
    assert!(ev.iter().all(|e| !e.created_at.is_empty()));

    // Reading after a seq returns just the tail.
    let tail = app.store.changes(app.tenant_pk, ev[7].seq, 100).await.expect("tail");
    assert_eq!(kinds(&tail), vec!["user.deleted", "group.deleted"]);
    let page = app.store.changes(app.tenant_pk, 0, 3).await.expect("page");
    assert_eq!(page.len(), 3);
    assert_eq!(page[0].seq, ev[0].seq);
}
both!(scripted, scripted_sequence);

async fn logs_are_per_tenant(app: TestApp) {
    let other = app.new_tenant(gateway::store::MemberPolicy::Reject).await;
    app.create_user("x@contoso.com").await;
    other.create_user("y@contoso.com").await;
    other.create_group("Y").await;
    let mine = app.changes().await;
    let theirs = other.changes().await;
    assert_eq!(kinds(&mine), vec!["user.upserted"]);
    assert_eq!(kinds(&theirs), vec!["user.upserted", "group.upserted"]);
    assert_eq!(theirs[1].seq, theirs[0].seq + 1, "seq is gap-free per tenant");
}
both!(per_tenant, logs_are_per_tenant);

async fn failed_writes_log_nothing(app: TestApp) {
    let a = app.create_user("f@contoso.com").await;
    let before = app.changes().await.len();
    // 409, 400 and 404 writes leave no trace.
    assert_eq!(app.post("/Users", entra_user("F@contoso.com")).await.0, StatusCode::CONFLICT);
    let bad = app
        .patch(
            &format!("/Users/{a}"),
            patch_op(json!([
                {"op": "Replace", "path": "displayName", "value": "changed"},
                {"op": "Replace", "path": "nope", "value": "x"}
            ])),
        )
        .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.delete("/Users/00000000-0000-0000-0000-000000000000").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.changes().await.len(), before);
    let (_, _, u) = app.get(&format!("/Users/{a}")).await;
    assert!(u.get("displayName").is_none(), "a failed PATCH is atomic: {u}");
}
both!(failed_writes, failed_writes_log_nothing);

async fn concurrent_writes_keep_log_gap_free(app: TestApp) {
    let gid = app.create_group("Busy").await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(&format!("busy{i}@contoso.com")).await);
    }
    let seq0 = app.last_seq().await;
    let mut tasks = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let (app, gid, u) = (app.clone(), gid.clone(), u.clone());
        tasks.push(tokio::spawn(async move {
            let add = patch_op(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u}]}]));
            let a = app.patch(&format!("/Groups/{gid}"), add).await.0;
            let name = patch_op(json!([{"op": "Replace", "path": "displayName", "value": format!("Busy {i}")}]));
            let b = app.patch(&format!("/Users/{u}"), name).await.0;
            (a, b)
        }));
    }
    for t in tasks {
        let (a, b) = t.await.expect("task");
        assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
    }
    let ev: Vec<_> = app.changes().await.into_iter().filter(|e| e.seq > seq0).collect();
    assert_eq!(ev.len(), 24, "{:#?}", kinds(&ev));
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.seq, seq0 + 1 + i as i64, "gap-free under concurrency");
    }
    assert_eq!(ev.iter().filter(|e| e.kind == "group.members_added").count(), 12);
    assert_eq!(ev.iter().filter(|e| e.kind == "user.upserted").count(), 12);
    let (_, _, g) = app.get(&format!("/Groups/{gid}")).await;
    let mut got: Vec<String> = g["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str().map(str::to_owned))
        .collect();
    got.sort();
    users.sort();
    assert_eq!(got, users);
}
both!(concurrent_writes, concurrent_writes_keep_log_gap_free);
