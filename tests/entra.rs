//! The whole Entra provisioning sequence of `docs/spec/entra.md` §3, end to end, with the final state checked.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn members(g: &Value) -> Vec<String> {
    g["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Match-or-create as Entra does: query by userName, POST when absent. Returns (id, created).
async fn provision_user(app: &TestApp, upn: &str, given: &str, family: &str, dept: &str) -> (String, bool) {
    let (st, _, list) = app.get(&format!("/Users?filter=userName+eq+%22{}%22", enc(upn))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    if let Some(id) = list["Resources"][0]["id"].as_str() {
        return (id.to_owned(), false);
    }
    assert_eq!(list["totalResults"], 0);
    let nick = upn.split('@').next().unwrap_or(upn);
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": nick,
        "userName": upn,
        "active": "True",
        "displayName": format!("{given} {family}"),
        "title": "Staff",
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "roles": [],
        ENTERPRISE: {"department": dept}
    });
    let (st, _, created) = app.post("/Users", body).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    (created["id"].as_str().expect("id").to_owned(), true)
}

async fn provision_group(app: &TestApp, name: &str) -> String {
    let (st, _, list) =
        app.get(&format!("/Groups?excludedAttributes=members&filter=displayName+eq+%22{}%22", enc(name))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    if let Some(id) = list["Resources"][0]["id"].as_str() {
        return id.to_owned();
    }
    app.create_group(name).await
}

async fn full_sequence(app: TestApp) {
    // --- Test Connection: a random GUID as the matching value → 200 + empty ListResponse.
    let guid = uuid::Uuid::new_v4();
    for attr in ["userName", "id", "externalId"] {
        let (st, headers, list) = app.get(&format!("/Users?filter={attr}+eq+%22{guid}%22")).await;
        assert_eq!(st, StatusCode::OK, "Test Connection ({attr}): {list}");
        assert!(header(&headers, "content-type").unwrap_or("").starts_with(SCIM_JSON));
        assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
        assert_eq!(list["totalResults"], 0);
        assert_eq!(list["Resources"], json!([]));
    }
    // ... and fetches "a random user and group".
    let (st, _, list) = app.get("/Users?startIndex=1&count=1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["Resources"], json!([]));
    let (st, _, list) = app.get("/Groups?excludedAttributes=members&startIndex=1&count=1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], 0);

    // --- Initial cycle: users (match, then create).
    let (alice, c1) = provision_user(&app, "alice@contoso.com", "Alice", "Smith", "Sales").await;
    let (bob, c2) = provision_user(&app, "bob@contoso.com", "Bob", "Jones", "Sales").await;
    let (carol, c3) = provision_user(&app, "carol@contoso.com", "Carol", "White", "Ops").await;
    assert!(c1 && c2 && c3, "all three created in the first cycle");

    // References afterwards: Bob's manager is Alice (checked first with a query on id + manager).
    let check = format!(
        "/Users?{}&attributes=id",
        filter_q(&format!("id eq \"{bob}\" and {ENTERPRISE}:manager.value eq \"{alice}\""))
    );
    let (st, _, list) = app.get(&check).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 0);
    let (st, _, body) = app
        .patch(
            &format!("/Users/{bob}"),
            patch_op(json!([{"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": alice}])),
        )
        .await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{body}");
    let (_, _, list) = app.get(&check).await;
    assert_eq!(list["totalResults"], 1, "manager is now set: {list}");

    // Groups: match on displayName (members excluded), create without members.
    let sales = provision_group(&app, "Sales").await;
    let ops = provision_group(&app, "Ops Team").await;

    // Memberships afterwards, several in one PATCH.
    for (g, who) in [(&sales, vec![alice.clone(), bob.clone()]), (&ops, vec![carol.clone(), bob.clone()])] {
        let values: Vec<Value> = who.iter().map(|u| json!({"$ref": null, "value": u})).collect();
        let (st, _, body) = app
            .patch(&format!("/Groups/{g}"), patch_op(json!([{"op": "Add", "path": "members", "value": values}])))
            .await;
        assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{body}");
    }

    // --- Incremental cycle: everything matches now; nothing new is created.
    let (a2, created) = provision_user(&app, "alice@contoso.com", "Alice", "Smith", "Sales").await;
    assert_eq!((a2.as_str(), created), (alice.as_str(), false));
    assert_eq!(provision_group(&app, "Sales").await, sales);
    let (st, _, current) = app.get(&format!("/Users/{alice}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(current["title"], "Staff");
    // Alice changed title and surname in Entra: one PATCH with per-path ops.
    let (st, _, body) = app
        .patch(
            &format!("/Users/{alice}"),
            patch_op(json!([
                {"op": "Replace", "path": "title", "value": "Lead"},
                {"op": "Replace", "path": "name.familyName", "value": "Smith-Brown"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "alice.sb@contoso.com"}
            ])),
        )
        .await;
    assert!(st.is_success(), "{body}");
    // Membership check before changing memberships.
    let (st, _, list) = app
        .get(&format!(
            "/Groups?{}&excludedAttributes=members",
            filter_q(&format!("id eq \"{sales}\" and members[value eq \"{alice}\"]"))
        ))
        .await;
    assert_eq!(st, StatusCode::OK, "membership check: {list}");
    assert_eq!(list["totalResults"], 1);
    // Alice leaves Sales.
    let (st, _, _) = app
        .patch(
            &format!("/Groups/{sales}"),
            patch_op(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": alice}]}])),
        )
        .await;
    assert!(st.is_success());
    // Ops team renamed.
    let (st, _, _) = app
        .patch(
            &format!("/Groups/{ops}"),
            patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Operations"}])),
        )
        .await;
    assert!(st.is_success());

    // Bob is unassigned → disabled (string "False"), still readable and filterable.
    let (st, _, _) = app
        .patch(&format!("/Users/{bob}"), patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])))
        .await;
    assert!(st.is_success());
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22bob%40contoso.com%22").await;
    assert_eq!(ids(&list), vec![bob.clone()]);
    assert_eq!(list["Resources"][0]["active"], json!(false));

    // Carol is hard-deleted in Entra.
    let (st, _, _) = app.delete(&format!("/Users/{carol}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // --- Final state.
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 2);
    let mut got = ids(&list);
    got.sort();
    let mut want = vec![alice.clone(), bob.clone()];
    want.sort();
    assert_eq!(got, want);

    let (_, _, a) = app.get(&format!("/Users/{alice}")).await;
    assert_eq!(a["active"], json!(true));
    assert_eq!(a["title"], "Lead");
    assert_eq!(a["name"]["familyName"], "Smith-Brown");
    assert_eq!(a["name"]["givenName"], "Alice");
    assert_eq!(a["emails"], json!([{"value": "alice.sb@contoso.com", "type": "work", "primary": true}]));
    assert_eq!(a[ENTERPRISE]["department"], "Sales");
    assert!(a.get("groups").is_none_or(|g| g.as_array().is_some_and(Vec::is_empty)), "{a}");

    let (_, _, b) = app.get(&format!("/Users/{bob}")).await;
    assert_eq!(b["active"], json!(false));
    assert_eq!(b[ENTERPRISE]["manager"]["value"], alice.as_str());
    let mut bg: Vec<&str> =
        b["groups"].as_array().expect("bob's groups").iter().filter_map(|g| g["display"].as_str()).collect();
    bg.sort();
    assert_eq!(bg, vec!["Operations", "Sales"]);

    assert_scim_error(&app.get(&format!("/Users/{carol}")).await, 404, None);

    let (_, _, s) = app.get(&format!("/Groups/{sales}")).await;
    assert_eq!(s["displayName"], "Sales");
    assert_eq!(members(&s), vec![bob.clone()]);
    let (_, _, o) = app.get(&format!("/Groups/{ops}")).await;
    assert_eq!(o["displayName"], "Operations");
    assert_eq!(members(&o), vec![bob.clone()], "deleted Carol left the group");

    // Groups deleted at the end of the assignment.
    for g in [&sales, &ops] {
        let (st, _, _) = app.delete(&format!("/Groups/{g}")).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    let (_, _, list) = app.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);

    let ev = app.changes().await;
    let count = |k: &str| ev.iter().filter(|e| e.kind == k).count();
    assert_eq!(count("user.deleted"), 1);
    assert_eq!(count("group.deleted"), 2);
    assert_eq!(count("user.active_changed"), 1);
    assert_eq!(count("group.renamed"), 1);
    assert_eq!(count("group.members_added"), 2);
    assert_eq!(count("group.members_removed"), 1);
}
both!(full_provisioning_sequence, full_sequence);
