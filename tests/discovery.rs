//! Discovery endpoints (RFC 7644 §4) and tenant custom extension schemas.

use crate::common::*;
use gateway::store::CustomSchemaRow;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONTOSO: &str = "urn:ietf:params:scim:schemas:extension:contoso:2.0:User";

async fn builtin_discovery(app: TestApp) {
    let (st, headers, spc) = app.get("/ServiceProviderConfig").await;
    assert_eq!(st, StatusCode::OK, "{spc}");
    assert!(header(&headers, "content-type").unwrap_or("").starts_with(SCIM_JSON));
    assert_eq!(spc["patch"]["supported"], json!(true));
    assert_eq!(spc["etag"]["supported"], json!(true));
    assert_eq!(spc["filter"]["supported"], json!(true));
    assert_eq!(spc["bulk"]["supported"], json!(false));
    assert!(spc["authenticationSchemes"].as_array().is_some_and(|a| !a.is_empty()));

    let (st, _, rts) = app.get("/ResourceTypes").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(rts["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(rts["totalResults"], 2);
    let user =
        rts["Resources"].as_array().expect("Resources").iter().find(|r| r["id"] == "User").expect("User").clone();
    let group =
        rts["Resources"].as_array().expect("Resources").iter().find(|r| r["id"] == "Group").expect("Group").clone();
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER_SCHEMA);
    assert!(user["schemaExtensions"].as_array().expect("extensions").iter().any(|e| e["schema"] == ENTERPRISE));
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schema"], GROUP_SCHEMA);

    let (st, _, u) = app.get("/ResourceTypes/User").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["name"], "User");
    assert_eq!(u["schema"], USER_SCHEMA);

    let (st, _, schemas) = app.get("/Schemas").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(schemas["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(schemas["totalResults"], 3, "{schemas}");
    let mut got: Vec<&str> =
        schemas["Resources"].as_array().expect("Resources").iter().filter_map(|s| s["id"].as_str()).collect();
    got.sort();
    assert_eq!(got, vec![GROUP_SCHEMA, USER_SCHEMA, ENTERPRISE]);
    assert!(!schemas.to_string().contains("null"), "no nulls in /Schemas (Entra requirement)");

    let (st, _, s) = app.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    assert_eq!(st, StatusCode::OK, "{s}");
    assert_eq!(s["id"], USER_SCHEMA);
    let attrs = s["attributes"].as_array().expect("attributes");
    let user_name = attrs.iter().find(|a| a["name"] == "userName").expect("userName");
    assert_eq!(user_name["required"], json!(true));
    assert_eq!(user_name["type"], "string");

    assert_scim_error(&app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Nope").await, 404, None);
}
both!(builtin, builtin_discovery);

fn hire_date_schema() -> Value {
    json!({
        "id": CONTOSO,
        "name": "Contoso",
        "description": "Contoso user extension",
        "attributes": [{
            "name": "hireDate",
            "type": "dateTime",
            "multiValued": false,
            "description": "Date of hire",
            "required": false,
            "caseExact": false,
            "mutability": "readWrite",
            "returned": "default",
            "uniqueness": "none"
        }]
    })
}

async fn custom_extension(app: TestApp) {
    let row = CustomSchemaRow {
        schema_id: CONTOSO.to_owned(),
        resource_type: "User".to_owned(),
        required: false,
        doc: hire_date_schema().to_string(),
    };
    assert!(app.store.put_custom_schema(&app.tenant, row).await.expect("put schema"));

    let (_, _, schemas) = app.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 4, "{schemas}");
    assert!(schemas["Resources"].as_array().expect("Resources").iter().any(|s| s["id"] == CONTOSO));
    let (st, _, s) = app.get(&format!("/Schemas/{CONTOSO}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s["attributes"][0]["name"], "hireDate");
    assert_eq!(s["attributes"][0]["type"], "dateTime");

    let (_, _, u) = app.get("/ResourceTypes/User").await;
    let ext = u["schemaExtensions"].as_array().expect("extensions");
    assert!(ext.iter().any(|e| e["schema"] == CONTOSO && e["required"] == json!(false)), "{u}");
    assert!(ext.iter().any(|e| e["schema"] == ENTERPRISE));

    // The extension is per tenant.
    let other = app.new_tenant(gateway::store::MemberPolicy::Reject).await;
    let (_, _, s2) = other.get("/Schemas").await;
    assert_eq!(s2["totalResults"], 3);

    // POST with the extension round-trips.
    let mut body = entra_user("hire@contoso.com");
    body["schemas"] = json!([USER_SCHEMA, ENTERPRISE, CONTOSO]);
    body[CONTOSO] = json!({"hireDate": "2024-01-15T00:00:00Z"});
    let (st, _, created) = app.post("/Users", body).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created[CONTOSO]["hireDate"], "2024-01-15T00:00:00Z");
    assert!(created["schemas"].as_array().expect("schemas").iter().any(|s| s == CONTOSO), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[CONTOSO]["hireDate"], "2024-01-15T00:00:00Z");

    // Entra sets it with a URN path too.
    let (st, _, patched) = app
        .patch(
            &format!("/Users/{id}"),
            patch_op(
                json!([{"op": "Replace", "path": format!("{CONTOSO}:hireDate"), "value": "2024-02-01T09:30:00Z"}]),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{patched}");
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[CONTOSO]["hireDate"], "2024-02-01T09:30:00Z");
    // And filters on it.
    let (st, _, list) =
        app.get(&format!("/Users?{}", filter_q(&format!("{CONTOSO}:hireDate eq \"2024-02-01T09:30:00Z\"")))).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![id.clone()]);

    // Wrong types are rejected.
    let mut bad = entra_user("bad@contoso.com");
    bad["schemas"] = json!([USER_SCHEMA, CONTOSO]);
    bad[CONTOSO] = json!({"hireDate": 42});
    assert_scim_error(&app.post("/Users", bad.clone()).await, 400, None);
    bad[CONTOSO] = json!({"hireDate": "last tuesday"});
    assert_scim_error(&app.post("/Users", bad).await, 400, None);
    let resp = app
        .patch(
            &format!("/Users/{id}"),
            patch_op(json!([{"op": "Replace", "path": format!("{CONTOSO}:hireDate"), "value": 42}])),
        )
        .await;
    assert_scim_error(&resp, 400, None);
    let (_, _, list) = app.get("/Users?filter=userName+eq+%22bad%40contoso.com%22").await;
    assert_eq!(list["totalResults"], 0);
    let (_, _, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[CONTOSO]["hireDate"], "2024-02-01T09:30:00Z");
}
both!(custom_schema, custom_extension);
