//! `/Groups`: the requests Entra sends for groups and memberships (`docs/spec/entra.md` §3.2).

use crate::common::*;
use gateway::store::MemberPolicy;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

fn member_values(group: &Value) -> Vec<String> {
    group["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

async fn members_of(app: &TestApp, gid: &str) -> Vec<String> {
    let (st, _, g) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(st, StatusCode::OK, "{g}");
    member_values(&g)
}

async fn create_users(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(app.create_user(&format!("{prefix}{i}@contoso.com")).await);
    }
    out
}

fn add_members(ids: &[String]) -> Value {
    let values: Vec<Value> = ids.iter().map(|id| json!({"$ref": null, "value": id})).collect();
    patch_op(json!([{"op": "Add", "path": "members", "value": values}]))
}

async fn create_and_match_group(app: TestApp) {
    let body = entra_group("Sales");
    let ext_id = body["externalId"].clone();
    let (st, headers, g) = app.post("/Groups", body).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().expect("id").to_owned();
    assert_eq!(g["displayName"], "Sales");
    assert_eq!(g["externalId"], ext_id);
    assert!(member_values(&g).is_empty());
    assert_eq!(header(&headers, LOCATION.as_str()), g["meta"]["location"].as_str());
    assert_eq!(g["meta"]["resourceType"], "Group");
    app.create_group("Marketing").await;

    let uid = app.create_user("sam@contoso.com").await;
    let (st, _, _) = app.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(&uid))).await;
    assert!(st.is_success());

    // Entra's match query: members must be left out.
    let (st, _, list) = app.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales%22").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 1, "{list}");
    let r = &list["Resources"][0];
    assert_eq!(r["id"], gid.as_str());
    assert_eq!(r["displayName"], "Sales");
    assert!(r.get("members").is_none(), "excludedAttributes=members: {r}");

    // displayName matching is case-insensitive; no match → empty list.
    let (_, _, list) = app.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22sales%22").await;
    assert_eq!(ids(&list), vec![gid.clone()]);
    let (st, _, list) = app.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Nope%22").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));

    let (st, _, g) = app.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(g.get("members").is_none(), "{g}");
    assert_eq!(members_of(&app, &gid).await, vec![uid]);

    let (_, _, list) = app
        .get(&format!("/Groups?{}", filter_q(&format!("externalId eq \"{}\"", ext_id.as_str().unwrap_or("")))))
        .await;
    assert_eq!(ids(&list), vec![gid]);
}
both!(create_and_match, create_and_match_group);

async fn add_many_members_in_order(app: TestApp) {
    let gid = app.create_group("Engineering").await;
    let mut users = create_users(&app, 25, "eng").await;
    users.reverse(); // request order differs from creation order
    users.swap(3, 17);
    let seq0 = app.last_seq().await;

    let (st, _, body) = app.patch(&format!("/Groups/{gid}"), add_members(&users)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["id"], gid.as_str());
    assert_eq!(members_of(&app, &gid).await, users, "members in request order");
    let (_, _, g) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"][0]["type"], "User");

    let events: Vec<_> = app.changes().await.into_iter().filter(|e| e.seq > seq0).collect();
    assert_eq!(kinds(&events), vec!["group.members_added"], "one event for one PATCH");
    let listed: Vec<&str> =
        events[0].payload["members"].as_array().expect("members").iter().filter_map(|m| m["value"].as_str()).collect();
    assert_eq!(listed, users.iter().map(String::as_str).collect::<Vec<_>>());

    // The user sees the group.
    let (_, _, u) = app.get(&format!("/Users/{}", users[0])).await;
    let groups = u["groups"].as_array().expect("user has groups");
    assert_eq!(groups.len(), 1, "{u}");
    assert_eq!(groups[0]["value"], gid.as_str());
    assert_eq!(groups[0]["display"], "Engineering");

    // Re-adding existing members is a no-op: no event, no duplicate.
    let seq1 = app.last_seq().await;
    let (st, _, _) = app.patch(&format!("/Groups/{gid}"), add_members(&users[..5])).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(app.last_seq().await, seq1, "re-adding members writes no event");
    assert_eq!(members_of(&app, &gid).await, users);

    // Mixed: one existing + one new → the event lists only the new one, appended at the end.
    let extra = app.create_user("eng-extra@contoso.com").await;
    let seq2 = app.last_seq().await;
    let (st, _, _) = app.patch(&format!("/Groups/{gid}"), add_members(&[users[0].clone(), extra.clone()])).await;
    assert_eq!(st, StatusCode::OK);
    let events: Vec<_> = app.changes().await.into_iter().filter(|e| e.seq > seq2).collect();
    assert_eq!(kinds(&events), vec!["group.members_added"]);
    assert_eq!(events[0].payload["members"], json!([{"value": extra, "type": "User"}]));
    let mut expected = users.clone();
    expected.push(extra);
    assert_eq!(members_of(&app, &gid).await, expected);
}
both!(add_members_in_order, add_many_members_in_order);

async fn unknown_member_rejected_atomically(app: TestApp) {
    let gid = app.create_group("Support").await;
    let users = create_users(&app, 2, "sup").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let seq0 = app.last_seq().await;

    let resp = app.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(&unknown))).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));

    let mixed = vec![users[0].clone(), unknown.clone(), users[1].clone()];
    let resp = app.patch(&format!("/Groups/{gid}"), add_members(&mixed)).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));
    assert!(members_of(&app, &gid).await.is_empty(), "nothing added by a rejected request");
    assert_eq!(app.last_seq().await, seq0, "no events for a rejected request");

    // A group POST carrying an unknown member is refused as a whole too.
    let mut body = entra_group("Support 2");
    body["members"] = json!([{"value": users[0]}, {"value": unknown}]);
    let resp = app.post("/Groups", body).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));
    let (_, _, list) = app.get("/Groups?filter=displayName+eq+%22Support+2%22").await;
    assert_eq!(list["totalResults"], 0, "the group was not created");
}
both!(unknown_member_rejected, unknown_member_rejected_atomically);

async fn unknown_member_ignored_by_policy(app: TestApp) {
    let t = app.new_tenant(MemberPolicy::Ignore).await;
    let gid = t.create_group("Lenient").await;
    let users = create_users(&t, 2, "len").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let mixed = vec![users[0].clone(), unknown.clone(), users[1].clone()];
    let (st, _, body) = t.patch(&format!("/Groups/{gid}"), add_members(&mixed)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(members_of(&t, &gid).await, users, "unknown id skipped, valid ones added in order");
    let ev = t.changes().await;
    let added = ev.iter().find(|e| e.kind == "group.members_added").expect("members_added");
    assert_eq!(added.payload["members"].as_array().map(Vec::len), Some(2));
    // A user of another tenant is unknown here.
    let foreign = app.create_user("foreign@contoso.com").await;
    let (st, _, _) = t.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(&foreign))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(members_of(&t, &gid).await, users);
}
both!(unknown_member_ignored, unknown_member_ignored_by_policy);

async fn remove_members_both_shapes(app: TestApp) {
    let gid = app.create_group("Finance").await;
    let users = create_users(&app, 4, "fin").await;
    let (st, _, _) = app.patch(&format!("/Groups/{gid}"), add_members(&users)).await;
    assert_eq!(st, StatusCode::OK);

    // Without the flag: Remove with a value list (must not clear all members).
    let (st, _, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": users[1]}]}])),
        )
        .await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{st} {body}");
    assert_eq!(members_of(&app, &gid).await, vec![users[0].clone(), users[2].clone(), users[3].clone()]);

    // With the flag: a value-filter path.
    let (st, _, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[2])}])),
        )
        .await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{st} {body}");
    assert_eq!(members_of(&app, &gid).await, vec![users[0].clone(), users[3].clone()]);

    // Removing a non-member is harmless and writes no event.
    let seq = app.last_seq().await;
    let (st, _, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": users[1]}]}])),
        )
        .await;
    assert!(st.is_success());
    assert_eq!(app.last_seq().await, seq);
    assert_eq!(members_of(&app, &gid).await, vec![users[0].clone(), users[3].clone()]);

    let (_, _, u) = app.get(&format!("/Users/{}", users[1])).await;
    assert!(u.get("groups").is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)), "{u}");
}
both!(remove_members, remove_members_both_shapes);

async fn membership_check_filters(app: TestApp) {
    let gid = app.create_group("Checkers").await;
    let other_gid = app.create_group("Others").await;
    let users = create_users(&app, 2, "chk").await;
    let (member, outsider) = (&users[0], &users[1]);
    app.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(member))).await;
    app.patch(&format!("/Groups/{other_gid}"), add_members(std::slice::from_ref(outsider))).await;

    let q = |f: String| format!("/Groups?{}&excludedAttributes=members", filter_q(&f));
    let (st, _, list) = app.get(&q(format!("id eq \"{gid}\" and members[value eq \"{member}\"]"))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 1, "member: {list}");
    assert_eq!(ids(&list), vec![gid.clone()]);
    assert!(list["Resources"][0].get("members").is_none());

    let (st, _, list) = app.get(&q(format!("id eq \"{gid}\" and members[value eq \"{outsider}\"]"))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 0, "non-member: {list}");
    assert_eq!(list["Resources"], json!([]));

    // Microsoft's SampleProvider form, with attributes=id.
    let (st, _, list) = app
        .get(&format!("/Groups?{}&attributes=id", filter_q(&format!("id eq \"{gid}\" and members eq \"{member}\""))))
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(ids(&list), vec![gid.clone()]);
    let (st, _, list) = app
        .get(&format!("/Groups?{}&attributes=id", filter_q(&format!("id eq \"{gid}\" and members eq \"{outsider}\""))))
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 0, "{list}");
}
both!(membership_check, membership_check_filters);

/// The store probe behind the membership check (`ResourceStore::has_member`), called directly so a
/// failure names the store rather than the HTTP layer.
async fn has_member_probe(app: TestApp) {
    use gateway::store::{Kind, ResourceStore};
    let gid = app.create_group("Probe").await;
    let users = create_users(&app, 2, "probe").await;
    app.patch(&format!("/Groups/{gid}"), add_members(&users[..1])).await;
    let group =
        ResourceStore::get(&*app.store, app.tenant_pk, Kind::Group, &gid).await.expect("get").expect("group exists");
    let yes = ResourceStore::has_member(&*app.store, app.tenant_pk, group.pk, &users[0]).await;
    assert!(matches!(yes, Ok(true)), "has_member(member) = {yes:?}");
    let no = ResourceStore::has_member(&*app.store, app.tenant_pk, group.pk, &users[1]).await;
    assert!(matches!(no, Ok(false)), "has_member(non-member) = {no:?}");
}
both!(has_member_store_probe, has_member_probe);

async fn rename_group(app: TestApp) {
    let gid = app.create_group("Old Name").await;
    let uid = app.create_user("ren@contoso.com").await;
    app.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(&uid))).await;
    let (st, _, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{"op": "Replace", "path": "displayName", "value": "New Name"}])),
        )
        .await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{st} {body}");
    let (_, _, g) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["displayName"], "New Name");
    assert_eq!(member_values(&g), vec![uid.clone()], "rename keeps members");
    let (_, _, list) = app.get("/Groups?filter=displayName+eq+%22New+Name%22").await;
    assert_eq!(ids(&list), vec![gid.clone()]);
    let (_, _, list) = app.get("/Groups?filter=displayName+eq+%22Old+Name%22").await;
    assert_eq!(list["totalResults"], 0);
    let (_, _, u) = app.get(&format!("/Users/{uid}")).await;
    assert_eq!(u["groups"][0]["display"], "New Name");
}
both!(rename, rename_group);

async fn deleting_user_leaves_groups(app: TestApp) {
    let g1 = app.create_group("G1").await;
    let g2 = app.create_group("G2").await;
    let users = create_users(&app, 3, "del").await;
    app.patch(&format!("/Groups/{g1}"), add_members(&users)).await;
    app.patch(&format!("/Groups/{g2}"), add_members(&users[1..2])).await;
    let (st, _, _) = app.delete(&format!("/Users/{}", users[1])).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(members_of(&app, &g1).await, vec![users[0].clone(), users[2].clone()]);
    assert!(members_of(&app, &g2).await.is_empty());
    let (_, _, list) = app.get(&format!("/Groups?{}", filter_q(&format!("members[value eq \"{}\"]", users[1])))).await;
    assert_eq!(list["totalResults"], 0, "{list}");
}
both!(delete_user_membership, deleting_user_leaves_groups);

async fn delete_group(app: TestApp) {
    let gid = app.create_group("Doomed").await;
    let uid = app.create_user("doom@contoso.com").await;
    app.patch(&format!("/Groups/{gid}"), add_members(std::slice::from_ref(&uid))).await;
    let (st, _, body) = app.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert_scim_error(&app.get(&format!("/Groups/{gid}")).await, 404, None);
    let (_, _, list) = app.get("/Groups?filter=displayName+eq+%22Doomed%22").await;
    assert_eq!(list["totalResults"], 0);
    let (st, _, u) = app.get(&format!("/Users/{uid}")).await;
    assert_eq!(st, StatusCode::OK, "the member survives");
    assert!(u.get("groups").is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)), "{u}");
    // The name is free again.
    app.create_group("Doomed").await;
}
both!(delete, delete_group);

async fn remove_all_and_put(app: TestApp) {
    let gid = app.create_group("Bulkish").await;
    let users = create_users(&app, 3, "bulk").await;
    app.patch(&format!("/Groups/{gid}"), add_members(&users)).await;
    // PUT with a members list replaces the membership.
    let mut body = entra_group("Bulkish");
    body["members"] = json!([{"value": users[2]}, {"value": users[0]}]);
    let (st, _, g) = app.put(&format!("/Groups/{gid}"), body).await;
    assert_eq!(st, StatusCode::OK, "{g}");
    let mut got = members_of(&app, &gid).await;
    got.sort();
    let mut want = vec![users[0].clone(), users[2].clone()];
    want.sort();
    assert_eq!(got, want);
    // Remove with path "members" and no value removes everyone (RFC 7644 §3.5.2.2).
    let (st, _, _) = app.patch(&format!("/Groups/{gid}"), patch_op(json!([{"op": "Remove", "path": "members"}]))).await;
    assert!(st.is_success());
    assert!(members_of(&app, &gid).await.is_empty());
    let (_, _, g) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["displayName"], "Bulkish");
}
both!(remove_all_and_replace, remove_all_and_put);

/// Creates `n` users concurrently (64 requests in flight) and returns their ids in order.
async fn create_users_fast(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let mut out = vec![String::new(); n];
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !set.is_empty() {
        while next < n && set.len() < 64 {
            let (app, i, name) = (app.clone(), next, format!("{prefix}{next}@contoso.com"));
            set.spawn(async move { (i, app.create_user(&name).await) });
            next += 1;
        }
        if let Some(done) = set.join_next().await {
            let (i, id) = done.expect("create task");
            out[i] = id;
        }
    }
    out
}

/// Groups past the databases' bind limits (SQLite 32,766 values per statement, PostgreSQL 65,535): a
/// POST with 5,000 members and a PATCH adding 12,000 answered 500/503 on 7914331; every statement that
/// binds members is chunked now. The 100,000-member run is in bench/ (RESULTS.md).
async fn large_groups_group(app: TestApp) {
    let users = create_users_fast(&app, 12_500, "big").await;
    let mut body = entra_group("Everyone");
    body["members"] = json!(users[..5_000].iter().map(|id| json!({"value": id})).collect::<Vec<_>>());
    let (st, _, g) = app.post("/Groups", body).await;
    assert_eq!(st, StatusCode::CREATED, "POST with 5,000 members: {}", g["detail"]);
    let gid = g["id"].as_str().expect("id").to_owned();
    assert_eq!(member_values(&g).len(), 5_000);

    let (st, _, g) = app.patch(&format!("/Groups/{gid}"), add_members(&users[500..])).await;
    assert!(st.is_success(), "PATCH adding 12,000 members: {st} {}", g["detail"]);
    let members = members_of(&app, &gid).await;
    assert_eq!(members.len(), 12_500);
    assert_eq!(members[..5_000], users[..5_000], "order of addition kept across chunks");
    assert_eq!(members[5_000..], users[5_000..]);

    // Remove 7,000 by value list, then replace the rest with 6,000 others.
    let values: Vec<Value> = users[..7_000].iter().map(|id| json!({"value": id})).collect();
    app.patch_ok(&format!("/Groups/{gid}"), json!([{"op": "Remove", "path": "members", "value": values}])).await;
    assert_eq!(members_of(&app, &gid).await, users[7_000..]);
    let values: Vec<Value> = users[..6_000].iter().map(|id| json!({"value": id})).collect();
    app.patch_ok(&format!("/Groups/{gid}"), json!([{"op": "Replace", "path": "members", "value": values}])).await;
    assert_eq!(members_of(&app, &gid).await, users[..6_000]);

    // Each user lists the group; deleting the group removes every membership.
    let (_, _, u) = app.get(&format!("/Users/{}", users[0])).await;
    assert_eq!(u["groups"][0]["value"], gid.as_str(), "{u}");
    let (st, _, _) = app.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, _, u) = app.get(&format!("/Users/{}", users[0])).await;
    assert!(u["groups"].as_array().is_none_or(Vec::is_empty), "{u}");
}
both!(large_groups, large_groups_group);
