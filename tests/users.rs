//! `/Users`: the requests Entra sends for users (`docs/spec/entra.md` §3.1), checked through follow-up reads.

use crate::common::*;
use reqwest::header::{ETAG, IF_MATCH, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The documented Entra create body, plus the observed variants: `"active":"True"` and a bare-string manager.
fn documented_body(user_name: &str, manager: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "alice",
        "userName": user_name,
        "active": "True",
        "displayName": "Alice Smith",
        "emails": [{"primary": true, "type": "work", "value": "alice@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Alice Smith", "familyName": "Smith", "givenName": "Alice"},
        "roles": [],
        ENTERPRISE: {"department": "Sales", "employeeNumber": "1001", "manager": manager}
    })
}

async fn create_documented_entra_user(app: TestApp) {
    let mgr = app.create_user("boss@contoso.com").await;
    let (st, headers, body) = app.post("/Users", documented_body("alice@contoso.com", &mgr)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    assert!(!id.is_empty());
    assert_eq!(body["userName"], "alice@contoso.com");
    assert_eq!(body["externalId"], "alice");
    assert_eq!(body["active"], json!(true), "\"True\" must be stored as boolean true: {body}");
    assert_eq!(body["name"]["familyName"], "Smith");
    assert_eq!(body["emails"][0]["value"], "alice@contoso.com");
    assert_eq!(body["emails"][0]["type"], "work");
    assert_eq!(body["emails"][0]["primary"], json!(true));
    assert_eq!(body[ENTERPRISE]["department"], "Sales");
    assert_eq!(body[ENTERPRISE]["employeeNumber"], "1001");
    assert!(body[ENTERPRISE]["manager"].is_object(), "manager must be a complex value: {body}");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], mgr.as_str());
    assert!(body["schemas"].as_array().expect("schemas").iter().any(|s| s == USER_SCHEMA));
    assert_eq!(body["meta"]["resourceType"], "User");
    assert!(body.get("password").is_none());

    let location = header(&headers, LOCATION.as_str()).expect("Location header");
    assert_eq!(body["meta"]["location"], location, "Location == meta.location");
    assert!(location.ends_with(&format!("/scim/v2/{}/Users/{id}", app.tenant)), "{location}");
    let etag = header(&headers, ETAG.as_str()).expect("ETag header");
    assert_eq!(body["meta"]["version"], etag, "ETag == meta.version");
    let ct = header(&headers, "content-type").unwrap_or("");
    assert!(ct.starts_with(SCIM_JSON), "content type {ct}");

    // Persisted: GET by id returns the same resource.
    let (st, headers, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["active"], json!(true));
    assert_eq!(got[ENTERPRISE]["manager"]["value"], mgr.as_str());
    assert_eq!(got["meta"]["version"], etag);
    assert_eq!(header(&headers, ETAG.as_str()), Some(etag));
    for k in ["userName", "externalId", "name", "emails", "displayName"] {
        assert_eq!(got[k], body[k], "{k} round-trips");
    }
}
both!(create_documented_body, create_documented_entra_user);

async fn filters_entra_uses(app: TestApp) {
    let id =
        app.post("/Users", documented_body("alice@contoso.com", "m1")).await.2["id"].as_str().expect("id").to_owned();
    let other = app.create_user("bob@contoso.com").await;

    // Exactly as Entra encodes it; different case must still match (userName is caseExact=false).
    let (st, _, list) = app.get("/Users?filter=userName+eq+%22Alice%40contoso.com%22").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(ids(&list), vec![id.clone()]);
    assert_eq!(list["Resources"][0]["userName"], "alice@contoso.com");

    let (st, _, list) = app.get("/Users?filter=externalId+eq+%22alice%22").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![id.clone()]);

    let (st, _, list) =
        app.get(&format!("/Users?{}", filter_q(r#"emails[type eq "work"].value eq "alice@contoso.com""#))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![id.clone()], "emails[type eq \"work\"].value filter");

    let (st, _, list) =
        app.get(&format!("/Users?{}", filter_q(r#"emails[type eq "home"].value eq "alice@contoso.com""#))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 0);

    // No match → 200 with an empty ListResponse, never 404.
    let (st, _, list) = app.get("/Users?filter=userName+eq+%22nobody%40contoso.com%22").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["Resources"], json!([]));

    let (_, _, list) = app.get(&format!("/Users?{}", filter_q(r#"userName eq "BOB@contoso.com""#))).await;
    assert_eq!(ids(&list), vec![other]);
}
both!(filters, filters_entra_uses);

async fn duplicate_user_name_conflicts(app: TestApp) {
    let id = app.create_user("carol@contoso.com").await;
    let resp = app.post("/Users", entra_user("Carol@Contoso.com")).await;
    assert_scim_error(&resp, 409, Some("uniqueness"));
    assert!(resp.2["detail"].as_str().is_some_and(|d| !d.is_empty()), "409 carries a detail");
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(ids(&list), vec![id.clone()]);

    // Renaming another user onto the taken name conflicts too.
    let other = app.create_user("dave@contoso.com").await;
    let resp = app
        .patch(
            &format!("/Users/{other}"),
            patch_op(json!([{"op": "Replace", "path": "userName", "value": "CAROL@contoso.com"}])),
        )
        .await;
    assert_scim_error(&resp, 409, Some("uniqueness"));
    let (_, _, got) = app.get(&format!("/Users/{other}")).await;
    assert_eq!(got["userName"], "dave@contoso.com");
}
both!(duplicate_user_name, duplicate_user_name_conflicts);

/// PATCHes `ops` (asserting 200 + resource) and returns the follow-up GET.
async fn patch_ok(app: &TestApp, id: &str, ops: Value) -> Value {
    let (st, _, body) = app.patch(&format!("/Users/{id}"), patch_op(ops.clone())).await;
    assert_eq!(st, StatusCode::OK, "PATCH {ops}: {body}");
    assert_eq!(body["id"], id, "PATCH returns the resource: {body}");
    let (st, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["meta"]["version"], body["meta"]["version"], "PATCH response is the stored state");
    got
}

async fn patch_simple_and_sub_paths(app: TestApp) {
    let id = app.create_user("erin@contoso.com").await;
    let got =
        patch_ok(&app, &id, json!([{"op": "Replace", "path": "userName", "value": "erin.new@contoso.com"}])).await;
    assert_eq!(got["userName"], "erin.new@contoso.com");
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22erin.new%40contoso.com%22").await;
    assert_eq!(ids(&list), vec![id.clone()], "the userName index follows the PATCH");
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22erin%40contoso.com%22").await;
    assert_eq!(list["totalResults"], 0);

    let got = patch_ok(&app, &id, json!([{"op": "Replace", "path": "name.familyName", "value": "Jones"}])).await;
    assert_eq!(got["name"]["familyName"], "Jones");
    assert_eq!(got["name"]["givenName"], "erin", "sibling sub-attribute kept");

    let got = patch_ok(
        &app,
        &id,
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "erin.jones@contoso.com"}]),
    )
    .await;
    let emails = got["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 1, "no second work email: {got}");
    assert_eq!(emails[0]["value"], "erin.jones@contoso.com");
    assert_eq!(emails[0]["type"], "work");

    // `Add` on a value filter that matches nothing creates the value (Entra's "other" mail mapping).
    let got = patch_ok(
        &app,
        &id,
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "55555555555"}]),
    )
    .await;
    assert_eq!(got["phoneNumbers"][0]["value"], "55555555555", "stored exactly as sent: {got}");
    assert_eq!(got["phoneNumbers"][0]["type"], "mobile");

    // Several capitalised ops in one request.
    let got = patch_ok(
        &app,
        &id,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Erin Jones"},
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Replace", "path": "name.givenName", "value": "Erin"}
        ]),
    )
    .await;
    assert_eq!(got["displayName"], "Erin Jones");
    assert_eq!(got["title"], "Engineer");
    assert_eq!(got["name"]["givenName"], "Erin");
}
both!(patch_paths, patch_simple_and_sub_paths);

async fn patch_enterprise_paths(app: TestApp) {
    let id = app.create_user("frank@contoso.com").await;
    let mgr = app.create_user("grace@contoso.com").await;
    let mgr2 = app.create_user("heidi@contoso.com").await;
    let got = patch_ok(
        &app,
        &id,
        json!([
            {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Finance"},
            {"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "000123"}
        ]),
    )
    .await;
    assert_eq!(got[ENTERPRISE]["department"], "Finance");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "000123", "stored exactly as sent");

    // Manager as a bare string (observed Entra traffic).
    let got = patch_ok(&app, &id, json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": mgr}])).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], mgr.as_str(), "{got}");
    assert!(got[ENTERPRISE]["manager"].is_object());

    // Manager as the tutorial's array of {"$ref", "value"}.
    let got = patch_ok(
        &app,
        &id,
        json!([{
            "op": "Replace",
            "path": format!("{ENTERPRISE}:manager"),
            "value": [{"$ref": format!("{}/Users/{mgr2}", app.base()), "value": mgr2}]
        }]),
    )
    .await;
    assert!(got[ENTERPRISE]["manager"].is_object(), "manager rendered as an object, not an array: {got}");
    assert_eq!(got[ENTERPRISE]["manager"]["value"], mgr2.as_str());
    assert_eq!(got[ENTERPRISE]["department"], "Finance", "other extension attributes kept");

    // Replace department.
    let got =
        patch_ok(&app, &id, json!([{"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Legal"}]))
            .await;
    assert_eq!(got[ENTERPRISE]["department"], "Legal");
}
both!(patch_enterprise, patch_enterprise_paths);

async fn patch_pathless_value_object(app: TestApp) {
    let id = app.create_user("ivan@contoso.com").await;
    // Keys are dotted paths and URN-qualified names, not nested objects (`docs/spec/entra.md` §3.1 table).
    let got = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "value": {
            "displayName": "Ivan Petrov",
            "name.givenName": "Ivan",
            "name.familyName": "Petrov",
            format!("{ENTERPRISE}:employeeNumber"): "777",
            format!("{ENTERPRISE}:department"): "Ops",
            "emails[type eq \"work\"].value": "ivan.petrov@contoso.com"
        }}]),
    )
    .await;
    assert_eq!(got["displayName"], "Ivan Petrov");
    assert_eq!(got["name"]["givenName"], "Ivan");
    assert_eq!(got["name"]["familyName"], "Petrov");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "777");
    assert_eq!(got[ENTERPRISE]["department"], "Ops");
    assert_eq!(got["emails"].as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(got["emails"][0]["value"], "ivan.petrov@contoso.com");
    assert!(got.get("name.givenName").is_none(), "dotted keys are paths, not attribute names");
    assert!(got.get(format!("{ENTERPRISE}:employeeNumber")).is_none());

    // The same shape with op "Add".
    let got = patch_ok(&app, &id, json!([{"op": "Add", "value": {"title": "Manager", "name.middleName": "K"}}])).await;
    assert_eq!(got["title"], "Manager");
    assert_eq!(got["name"]["middleName"], "K");
    assert_eq!(got["name"]["givenName"], "Ivan");
}
both!(patch_pathless, patch_pathless_value_object);

async fn patch_active_variants(app: TestApp) {
    let id = app.create_user("judy@contoso.com").await;
    // Without the aadOptscim062020 flag: a string "False".
    let got = patch_ok(&app, &id, json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    assert_eq!(got["active"], json!(false), "{got}");
    // A disabled user is still found by filter.
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22judy%40contoso.com%22").await;
    assert_eq!(ids(&list), vec![id.clone()]);
    assert_eq!(list["Resources"][0]["active"], json!(false));

    let got = patch_ok(&app, &id, json!([{"op": "Add", "path": "active", "value": "True"}])).await;
    assert_eq!(got["active"], json!(true));
    // With the flag: boolean, lowercase op.
    let got = patch_ok(&app, &id, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(got["active"], json!(false));
    let got = patch_ok(&app, &id, json!([{"op": "Replace", "path": "active", "value": true}])).await;
    assert_eq!(got["active"], json!(true));
    // Admin-edited mapping spelling.
    let got = patch_ok(&app, &id, json!([{"op": "Replace", "path": "active", "value": "false"}])).await;
    assert_eq!(got["active"], json!(false));
    // Not a boolean at all.
    let resp = app
        .patch(&format!("/Users/{id}"), patch_op(json!([{"op": "Replace", "path": "active", "value": "maybe"}])))
        .await;
    assert_scim_error(&resp, 400, None);
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got["active"], json!(false));
}
both!(patch_active, patch_active_variants);

async fn put_replaces(app: TestApp) {
    let id = app.create_user("kim@contoso.com").await;
    patch_ok(&app, &id, json!([{"op": "Add", "path": "title", "value": "Temp"}])).await;
    let mut body = entra_user("kim@contoso.com");
    body["displayName"] = json!("Kim Lee");
    body["name"] = json!({"givenName": "Kim", "familyName": "Lee"});
    let (st, headers, put) = app.put(&format!("/Users/{id}"), body).await;
    assert_eq!(st, StatusCode::OK, "{put}");
    assert_eq!(put["id"], id.as_str());
    assert_eq!(header(&headers, ETAG.as_str()), put["meta"]["version"].as_str());
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got["displayName"], "Kim Lee");
    assert_eq!(got["name"], json!({"familyName": "Lee", "givenName": "Kim"}));
    assert!(got.get("title").is_none(), "PUT replaces: attributes left out are gone: {got}");
    assert_eq!(got["meta"]["created"], put["meta"]["created"]);

    let resp = app.put("/Users/00000000-0000-0000-0000-000000000000", entra_user("nobody@contoso.com")).await;
    assert_scim_error(&resp, 404, None);
}
both!(put_replace, put_replaces);

async fn if_match_preconditions(app: TestApp) {
    let id = app.create_user("leo@contoso.com").await;
    let (_, headers, _) = app.get(&format!("/Users/{id}")).await;
    let v1 = header(&headers, ETAG.as_str()).expect("etag").to_owned();
    let got = patch_ok(&app, &id, json!([{"op": "Replace", "path": "displayName", "value": "Leo"}])).await;
    let v2 = got["meta"]["version"].as_str().expect("version").to_owned();
    assert_ne!(v1, v2, "a change bumps the version");

    // Stale version → 412, nothing changed.
    let rb = app
        .request(Method::PATCH, &format!("/Users/{id}"))
        .header(IF_MATCH, &v1)
        .body(patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Stale"}])).to_string());
    let resp = app.send(rb).await;
    assert_scim_error(&resp, 412, None);
    let rb = app
        .request(Method::PUT, &format!("/Users/{id}"))
        .header(IF_MATCH, &v1)
        .body(entra_user("leo@contoso.com").to_string());
    assert_scim_error(&app.send(rb).await, 412, None);
    let rb = app.request(Method::DELETE, &format!("/Users/{id}")).header(IF_MATCH, &v1);
    assert_scim_error(&app.send(rb).await, 412, None);
    let (st, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["displayName"], "Leo", "nothing changed by the refused requests");
    assert_eq!(got["meta"]["version"], v2.as_str());

    // Current version → 200.
    let rb = app
        .request(Method::PATCH, &format!("/Users/{id}"))
        .header(IF_MATCH, &v2)
        .body(patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Leo II"}])).to_string());
    let (st, _, body) = app.send(rb).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["displayName"], "Leo II");
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got["displayName"], "Leo II");
}
both!(if_match, if_match_preconditions);

async fn delete_then_404(app: TestApp) {
    let id = app.create_user("mia@contoso.com").await;
    let (st, _, body) = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(body.is_null());
    let resp = app.get(&format!("/Users/{id}")).await;
    assert_scim_error(&resp, 404, None);
    let resp = app.delete(&format!("/Users/{id}")).await;
    assert_scim_error(&resp, 404, None);
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22mia%40contoso.com%22").await;
    assert_eq!(list["totalResults"], 0);
    // The userName is free again.
    app.create_user("mia@contoso.com").await;
}
both!(delete_user, delete_then_404);

async fn unknown_id_is_404(app: TestApp) {
    for id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let resp = app.get(&format!("/Users/{id}")).await;
        assert_scim_error(&resp, 404, None);
        let resp = app
            .patch(&format!("/Users/{id}"), patch_op(json!([{"op": "Replace", "path": "title", "value": "x"}])))
            .await;
        assert_scim_error(&resp, 404, None);
    }
}
both!(unknown_id, unknown_id_is_404);

async fn unknown_query_params_ignored(app: TestApp) {
    let id = app.create_user("nina@contoso.com").await;
    let (st, _, list) = app.get("/Users?aadOptscim062020").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["totalResults"], 1);
    let (st, _, list) = app.get("/Users?aadOptscim062020&filter=userName+eq+%22nina%40contoso.com%22").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![id.clone()]);
    let (st, _, got) = app.get(&format!("/Users/{id}?aadOptscim062020&foo=bar")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["id"], id.as_str());
    let (st, _, body) = app
        .patch(
            &format!("/Users/{id}?aadOptscim062020"),
            patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["active"], json!(false));
}
both!(unknown_query_params, unknown_query_params_ignored);

async fn attribute_projection(app: TestApp) {
    let id =
        app.post("/Users", documented_body("olga@contoso.com", "m")).await.2["id"].as_str().expect("id").to_owned();

    let (st, _, got) = app.get(&format!("/Users/{id}?attributes=userName")).await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["id"], id.as_str(), "id is always returned");
    assert_eq!(got["userName"], "olga@contoso.com");
    for k in ["emails", "name", "displayName", "active", "externalId"] {
        assert!(got.get(k).is_none(), "attributes=userName must leave out {k}: {got}");
    }
    assert!(got.get(ENTERPRISE).is_none(), "{got}");

    let (st, _, got) = app.get(&format!("/Users/{id}?excludedAttributes=emails")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(got.get("emails").is_none(), "{got}");
    assert_eq!(got["userName"], "olga@contoso.com");
    assert_eq!(got["name"]["givenName"], "Alice");

    let (st, _, list) = app.get("/Users?filter=userName+eq+%22olga%40contoso.com%22&attributes=userName").await;
    assert_eq!(st, StatusCode::OK);
    let r = &list["Resources"][0];
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["userName"], "olga@contoso.com");
    assert!(r.get("emails").is_none() && r.get("name").is_none(), "{r}");

    let (_, _, list) = app.get("/Users?excludedAttributes=emails").await;
    assert!(list["Resources"][0].get("emails").is_none());
    assert!(list["Resources"][0].get("userName").is_some());

    // Sub-attribute and extension paths.
    let (_, _, got) = app.get(&format!("/Users/{id}?attributes=name.familyName,{ENTERPRISE}:department")).await;
    assert_eq!(got["name"], json!({"familyName": "Smith"}), "{got}");
    assert_eq!(got[ENTERPRISE], json!({"department": "Sales"}), "{got}");
}
both!(projection, attribute_projection);

async fn concurrent_duplicate_creates(app: TestApp) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "race@contoso.com" } else { "RACE@contoso.com" };
            app.post("/Users", entra_user(name)).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let resp = t.await.expect("task");
        match resp.0.as_u16() {
            201 => created += 1,
            _ => assert_scim_error(&resp, 409, Some("uniqueness")),
        }
    }
    assert_eq!(created, 1, "exactly one of the racing creates wins");
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 1);
    assert_eq!(app.changes().await.len(), 1);
}
both!(concurrent_duplicates, concurrent_duplicate_creates);

/// Racing renames to one userName (SQLite applies concurrent user updates as one statement): exactly one
/// wins, the others get 409 and keep their own name, and only the winner's change is logged.
async fn concurrent_renames_to_one_name(app: TestApp) {
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.create_user(&format!("rename{i}@contoso.com")).await);
    }
    let before = app.changes().await.len();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (app, id) = (app.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let ops = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Replace", "path": "userName", "value": if i % 2 == 0 { "taken@contoso.com" } else { "TAKEN@contoso.com" }},
                {"op": "Replace", "path": "displayName", "value": format!("Renamed {i}")}]});
            app.patch(&format!("/Users/{id}"), ops).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        let resp = t.await.expect("task");
        match resp.0.as_u16() {
            200 => won += 1,
            _ => assert_scim_error(&resp, 409, Some("uniqueness")),
        }
    }
    assert_eq!(won, 1, "exactly one rename wins");
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22taken%40contoso.com%22").await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let mut kept = 0;
    for (i, id) in ids.iter().enumerate() {
        let (_, _, u) = app.get(&format!("/Users/{id}")).await;
        if u["userName"] == json!(format!("rename{i}@contoso.com")) {
            assert!(u.get("displayName").is_none() || u["displayName"] != json!(format!("Renamed {i}")), "{u}");
            kept += 1;
        }
    }
    assert_eq!(kept, 5, "the losers are unchanged");
    assert_eq!(app.changes().await.len(), before + 1, "one upsert event for the winner");
}
both!(concurrent_renames, concurrent_renames_to_one_name);

async fn conditional_get_and_case(app: TestApp) {
    let id = app.create_user("pat@contoso.com").await;
    let (_, headers, _) = app.get(&format!("/Users/{id}")).await;
    let etag = header(&headers, ETAG.as_str()).expect("etag").to_owned();
    let rb = app.request(Method::GET, &format!("/Users/{id}")).header("If-None-Match", &etag);
    let (st, _, _) = app.send(rb).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);

    // Attribute names and the filter operator are case-insensitive; so is emails.value.
    let (st, _, list) = app.get(&format!("/Users?{}", filter_q(r#"USERNAME EQ "PAT@contoso.com""#))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![id.clone()]);
    let (_, _, list) =
        app.get(&format!("/Users?{}", filter_q(r#"emails[type eq "work"].value eq "Pat@Contoso.com""#))).await;
    assert_eq!(ids(&list), vec![id.clone()], "{list}");
    // externalId is caseExact.
    let (_, _, list) = app.get("/Users?filter=externalId+eq+%22PAT%22").await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, _, list) = app.get("/Users?filter=externalId+eq+%22pat%22").await;
    assert_eq!(ids(&list), vec![id.clone()]);
    // "bearer" in lower case.
    let rb = app.raw().get(app.url(&format!("/Users/{id}"))).header("Authorization", format!("bearer {}", app.token));
    assert_eq!(app.send(rb).await.0, StatusCode::OK);
}
both!(conditional_get, conditional_get_and_case);
