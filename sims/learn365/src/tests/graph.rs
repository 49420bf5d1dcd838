//! The Microsoft Graph subset over HTTP: the client-credentials token flow, groups, members by
//! reference with paging, Graph's error shapes, faults, statistics, and Learn365 following the
//! membership of a Graph group it has enrolled.

use actix_web::test;
use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::api::Config;
use crate::graph::GraphConfig;

const TENANT: &str = "contoso.onmicrosoft.com";
const SCOPE: &str = "https://graph.microsoft.com/.default";
const ALREADY: &str =
    "One or more added object references already exist for the following modified properties: 'members'.";

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn good_form() -> String {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "sim-graph-client"),
        ("client_secret", "sim-graph-secret"),
        ("scope", SCOPE),
    ])
}

fn directory_object(id: &str) -> Value {
    json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") })
}

/// The path and query of an absolute `@odata.nextLink`.
fn local(link: &Value) -> String {
    let link = link.as_str().expect("nextLink");
    assert!(link.starts_with("http://localhost:8080/v1.0/"), "absolute link from the request's host: {link}");
    link["http://localhost:8080".len()..].to_string()
}

fn group_body(name: &str, nickname: &str) -> Value {
    json!({"displayName": name, "mailNickname": nickname, "mailEnabled": false, "securityEnabled": true})
}

impl Client {
    /// `POST` of a form body, with an optional `Authorization` header.
    async fn post_form(&self, path: &str, body: String, authorization: Option<String>) -> Resp {
        let mut req = test::TestRequest::post()
            .uri(path)
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(body);
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        (self.call)(req).await
    }

    async fn graph_token(&self) -> String {
        let resp = self.post_form(&token_path(), good_form(), None).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        resp.body["access_token"].as_str().expect("token").to_string()
    }

    /// A Graph call with `Authorization: Bearer <token>` (none when `token` is `None`).
    async fn graph(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Resp {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = test::TestRequest::default().method(method).uri(path);
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        if let Some(body) = body {
            req = req.insert_header(("Content-Type", "application/json")).set_payload(body.to_string());
        }
        (self.call)(req).await
    }

    /// Creates a security group through Graph; returns its id.
    async fn graph_group(&self, token: &str, name: &str) -> String {
        let nickname: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        let resp = self.graph("POST", "/v1.0/groups", Some(group_body(name, &nickname)), Some(token)).await;
        assert_eq!(resp.status, 201, "{resp:?}");
        resp.id()
    }

    async fn add_member(&self, token: &str, group: &str, member: &str) -> Resp {
        self.graph("POST", &format!("/v1.0/groups/{group}/members/$ref"), Some(directory_object(member)), Some(token))
            .await
    }

    async fn remove_member(&self, token: &str, group: &str, member: &str) -> Resp {
        self.graph("DELETE", &format!("/v1.0/groups/{group}/members/{member}/$ref"), None, Some(token)).await
    }
}

fn graph_code(resp: &Resp) -> (u16, &str) {
    (resp.status, resp.code())
}

#[actix_web::test]
async fn client_credentials_token_flow() {
    let c = Client::new().await;
    let ok = c.post_form(&token_path(), good_form(), None).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!((ok.body["token_type"].clone(), ok.body["expires_in"].clone()), (json!("Bearer"), json!(3599)));
    assert!(ok.body["access_token"].as_str().is_some_and(|t| t.len() >= 32));
    assert_eq!(ok.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json; charset=utf-8"));

    let refuse = |pairs: &[(&str, &str)]| form(pairs);
    let wrong_secret = c
        .post_form(
            &token_path(),
            refuse(&[
                ("grant_type", "client_credentials"),
                ("client_id", "sim-graph-client"),
                ("client_secret", "nope"),
                ("scope", SCOPE),
            ]),
            None,
        )
        .await;
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(wrong_secret.body["error"], "invalid_client");
    assert!(wrong_secret.body["error_description"].as_str().is_some_and(|d| d.starts_with("AADSTS7000215: ")));
    assert_eq!(wrong_secret.body["error_codes"], json!([7_000_215]));
    let wrong_client = c
        .post_form(
            &token_path(),
            refuse(&[
                ("grant_type", "client_credentials"),
                ("client_id", "other"),
                ("client_secret", "sim-graph-secret"),
                ("scope", SCOPE),
            ]),
            None,
        )
        .await;
    assert_eq!((wrong_client.status, wrong_client.body["error"].clone()), (400, json!("unauthorized_client")));
    let no_scope = c
        .post_form(
            &token_path(),
            refuse(&[("grant_type", "client_credentials"), ("client_id", "sim-graph-client")]),
            None,
        )
        .await;
    assert_eq!((no_scope.status, no_scope.body["error"].clone()), (400, json!("invalid_request")));
    let user_scope = c.post_form(&token_path(), good_form().replace("%2F.default", "%2FUser.Read"), None).await;
    assert_eq!(user_scope.body["error"], "invalid_scope");
    let password = c.post_form(&token_path(), good_form().replace("client_credentials", "password"), None).await;
    assert_eq!(password.body["error"], "unsupported_grant_type");

    // client_secret_basic: the client id and secret in an HTTP Basic header.
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("sim-graph-client:sim-graph-secret"));
    let body = form(&[("grant_type", "client_credentials"), ("scope", SCOPE)]);
    let via_basic = c.post_form(&token_path(), body, Some(basic)).await;
    assert_eq!(via_basic.status, 200, "{via_basic:?}");

    // The token opens Graph; anything else is a 401 in Graph's shape.
    let token = ok.body["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(c.graph("GET", "/v1.0/groups", None, Some(&token)).await.status, 200);
    let none = c.graph("GET", "/v1.0/groups", None, None).await;
    assert_eq!(graph_code(&none), (401, "InvalidAuthenticationToken"));
    assert!(none.body["error"]["innerError"]["request-id"].is_string());
    let basic_key = c.send("GET", "/v1.0/groups", None, Some(FULL)).await;
    assert_eq!(graph_code(&basic_key), (401, "InvalidAuthenticationToken"), "a Learn365 key does not open Graph");
    assert_eq!(graph_code(&c.graph("GET", "/v1.0/groups", None, Some("forged")).await).0, 401);
    assert_eq!(c.sim("POST", "graph/expire-tokens", Value::Null).await.status, 204);
    let expired = c.graph("GET", "/v1.0/groups", None, Some(&token)).await;
    assert_eq!(expired.body["error"]["message"], "Lifetime validation failed, the token is expired.");
    assert_eq!(c.graph("GET", "/v1.0/groups", None, Some(&c.graph_token().await)).await.status, 200);
    assert_eq!(c.sim("GET", "stats", Value::Null).await.body["graphTokensIssued"], 3);

    // Configured credentials replace the defaults.
    let graph = GraphConfig { client_id: "app".into(), client_secret: "s3cret".into(), ..GraphConfig::default() };
    let custom = Client::with(Config { graph, ..Config::default() }).await;
    assert_eq!(custom.post_form(&token_path(), good_form(), None).await.status, 400);
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "app"),
        ("client_secret", "s3cret"),
        ("scope", SCOPE),
    ]);
    assert_eq!(custom.post_form(&token_path(), body, None).await.status, 200);
}

#[actix_web::test]
async fn groups_are_created_listed_filtered_renamed_and_deleted() {
    let c = Client::new().await;
    let t = c.graph_token().await;
    let mut body = group_body("L365 - Sales onboarding", "l365-sales-onboarding");
    body["description"] = json!("Managed by the Learn365 Assigner");
    let created = c.graph("POST", "/v1.0/groups", Some(body), Some(&t)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let g = &created.body;
    let id = created.id();
    assert!(crate::graph::is_guid(&id), "{id}");
    assert_eq!(g["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#groups/$entity");
    assert_eq!(
        (g["displayName"].clone(), g["mailNickname"].clone(), g["description"].clone()),
        (json!("L365 - Sales onboarding"), json!("l365-sales-onboarding"), json!("Managed by the Learn365 Assigner"))
    );
    assert_eq!((g["securityEnabled"].clone(), g["mailEnabled"].clone()), (json!(true), json!(false)));
    let created_at = g["createdDateTime"].as_str().unwrap_or_default();
    assert!(created_at.ends_with('Z') && !created_at.contains('.') && created_at.len() == 20, "{created_at}");

    // Graph's refusals of a create body.
    let mut missing = group_body("X", "x");
    missing.as_object_mut().map(|m| m.remove("mailNickname"));
    let missing = c.graph("POST", "/v1.0/groups", Some(missing), Some(&t)).await;
    assert_eq!(graph_code(&missing), (400, "Request_BadRequest"));
    assert_eq!(
        missing.body["error"]["message"],
        "A value is required for property 'mailNickname' of resource 'Group'."
    );
    let spaced = c.graph("POST", "/v1.0/groups", Some(group_body("X", "has spaces")), Some(&t)).await;
    assert_eq!(graph_code(&spaced), (400, "Request_BadRequest"));
    let mut typo = group_body("X", "x");
    typo["securityGroup"] = json!(true);
    assert_eq!(c.graph("POST", "/v1.0/groups", Some(typo), Some(&t)).await.status, 400);
    let not_json = c.graph("POST", "/v1.0/groups", Some(json!("text")), Some(&t)).await;
    assert_eq!(graph_code(&not_json), (400, "BadRequest"));

    let other = c.graph_group(&t, "L365 - Support").await;
    let third = c.graph_group(&t, "Finance").await;

    // $filter (eq ignoring case, startswith), $select, $top with nextLink.
    let filtered = c
        .graph(
            "GET",
            &with_query("/v1.0/groups", &[("$filter", "displayName eq 'l365 - sales ONBOARDING'")]),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(filtered.status, 200, "{filtered:?}");
    assert_eq!(filtered.body["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#groups");
    let ids = |r: &Resp| -> Vec<String> {
        r.body["value"]
            .as_array()
            .map(|v| v.iter().map(|g| g["id"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(ids(&filtered), vec![id.clone()]);
    let prefixed = c
        .graph(
            "GET",
            &with_query(
                "/v1.0/groups",
                &[("$filter", "startswith(displayName,'L365 - ')"), ("$select", "id,displayName")],
            ),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(ids(&prefixed), vec![id.clone(), other.clone()]);
    assert_eq!(prefixed.body["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#groups(id,displayName)");
    assert_eq!(prefixed.body["value"][0].as_object().map(|o| o.len()), Some(2));
    let page1 = c.graph("GET", "/v1.0/groups?$top=2", None, Some(&t)).await;
    assert_eq!(ids(&page1), vec![id.clone(), other.clone()]);
    let page2 = c.graph("GET", &local(&page1.body["@odata.nextLink"]), None, Some(&t)).await;
    assert_eq!((ids(&page2), page2.body.get("@odata.nextLink")), (vec![third.clone()], None));
    let or = c
        .graph("GET", "/v1.0/groups?$filter=displayName%20eq%20'a'%20or%20displayName%20eq%20'b'", None, Some(&t))
        .await;
    assert_eq!(graph_code(&or), (400, "Request_UnsupportedQuery"));

    // One group; unknown and malformed ids.
    let one = c.graph("GET", &format!("/v1.0/groups/{id}?$select=displayName"), None, Some(&t)).await;
    assert_eq!(
        one.body,
        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(displayName)/$entity", "displayName": "L365 - Sales onboarding"})
    );
    let unknown = c.graph("GET", "/v1.0/groups/0d3e6a51-dead-4000-8000-000000000000", None, Some(&t)).await;
    assert_eq!(graph_code(&unknown), (404, "Request_ResourceNotFound"));
    assert_eq!(graph_code(&c.graph("GET", "/v1.0/groups/sales", None, Some(&t)).await), (400, "Request_BadRequest"));
    let segment = c.graph("GET", "/v1.0/users", None, Some(&t)).await;
    assert_eq!(segment.body["error"]["message"], "Resource not found for the segment 'users'.");
    assert_eq!(c.graph("PUT", "/v1.0/groups", None, Some(&t)).await.status, 405);

    // Learn365 knows the group at once (an Entra group, listed in Users as a SecurityGroup).
    let users =
        c.get_owned(with_query("/odata/v2/Users", &[("$filter", &format!("DirectoryObjectId eq '{id}'"))])).await;
    assert_eq!(users.body["value"][0]["PrincipalType"], "SecurityGroup");
    assert_eq!(users.body["value"][0]["LoginName"], format!("c:0t.c|tenant|{id}"));
    let s = c.state().await;
    let graph_groups = s["graphGroups"].as_array().cloned().unwrap_or_default();
    assert_eq!(graph_groups.len(), 3);
    assert_eq!(graph_groups[0]["id"], id.as_str());
    assert_eq!(graph_groups[0]["mailNickname"], "l365-sales-onboarding");
    assert_eq!(graph_groups[0]["members"], json!([]));

    // Rename; delete.
    let patch = json!({"displayName": "L365 - Sales", "description": null});
    assert_eq!(c.graph("PATCH", &format!("/v1.0/groups/{id}"), Some(patch), Some(&t)).await.status, 204);
    let renamed = c.graph("GET", &format!("/v1.0/groups/{id}"), None, Some(&t)).await;
    assert_eq!(
        (renamed.body["displayName"].clone(), renamed.body["description"].clone()),
        (json!("L365 - Sales"), Value::Null)
    );
    assert_eq!(c.sim("GET", "groups", Value::Null).await.body[0]["displayName"], "L365 - Sales");
    assert_eq!(c.graph("DELETE", &format!("/v1.0/groups/{other}"), None, Some(&t)).await.status, 204);
    assert_eq!(c.graph("GET", &format!("/v1.0/groups/{other}"), None, Some(&t)).await.status, 404);
    assert_eq!(c.graph("DELETE", &format!("/v1.0/groups/{other}"), None, Some(&t)).await.status, 404);
    assert_eq!(c.state().await["groups"].as_array().map(Vec::len), Some(2));

    // A group pushed through /_sim/groups is a Graph group too.
    let oid = "6f0e2b1c-0000-4000-8000-00000000c001";
    c.sim("POST", "groups", json!({"objectId": oid, "displayName": "Pushed", "members": [oid_of("a@x.test")]})).await;
    let pushed = c.graph("GET", &format!("/v1.0/groups/{oid}"), None, Some(&t)).await;
    assert_eq!(
        (pushed.body["displayName"].clone(), pushed.body["mailNickname"].clone()),
        (json!("Pushed"), Value::Null)
    );
    c.check_invariants();
}

#[actix_web::test]
async fn members_are_added_listed_in_pages_and_removed() {
    let graph = GraphConfig { page_size: 2, ..GraphConfig::default() };
    let c = Client::with(Config { graph, ..Config::default() }).await;
    let t = c.graph_token().await;
    let g = c.graph_group(&t, "L365 Members").await;
    let members: Vec<String> = (1..=5).map(|i| format!("6f0e2b1c-0000-4000-8000-00000000000{i}")).collect();
    for m in members.iter().rev() {
        let resp = c.add_member(&t, &g, &m.to_uppercase()).await;
        assert_eq!((resp.status, &resp.body), (204, &Value::Null), "{resp:?}");
    }
    let twice = c.add_member(&t, &g, &members[0]).await;
    assert_eq!(graph_code(&twice), (400, "Request_BadRequest"));
    assert_eq!(twice.body["error"]["message"], ALREADY);
    let not_guid = c.add_member(&t, &g, "ann@contoso.test").await;
    assert_eq!(graph_code(&not_guid), (400, "Request_BadRequest"));
    let no_group = c.add_member(&t, "0d3e6a51-dead-4000-8000-000000000000", &members[0]).await;
    assert_eq!(graph_code(&no_group), (404, "Request_ResourceNotFound"));

    // Paging: the default page (--graph-page-size 2), then $top=N, following nextLink.
    let mut seen = Vec::new();
    let mut path = format!("/v1.0/groups/{g}/members?$select=id");
    let mut pages = 0;
    loop {
        let page = c.graph("GET", &path, None, Some(&t)).await;
        assert_eq!(page.status, 200, "{page:?}");
        assert_eq!(page.body["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)");
        for m in page.body["value"].as_array().cloned().unwrap_or_default() {
            assert_eq!(m["@odata.type"], "#microsoft.graph.user");
            assert_eq!(m.as_object().map(|o| o.len()), Some(2), "only @odata.type and id: {m}");
            seen.push(m["id"].as_str().unwrap_or_default().to_string());
        }
        pages += 1;
        match page.body.get("@odata.nextLink") {
            Some(link) => path = local(link),
            None => break,
        }
    }
    assert_eq!((seen, pages), (members.clone(), 3));
    let top = c.graph("GET", &format!("/v1.0/groups/{g}/members?$select=id&$top=4"), None, Some(&t)).await;
    assert_eq!(top.body["value"].as_array().map(Vec::len), Some(4));
    let rest = c.graph("GET", &local(&top.body["@odata.nextLink"]), None, Some(&t)).await;
    assert_eq!((rest.body["value"][0]["id"].clone(), rest.body.get("@odata.nextLink")), (json!(members[4]), None));
    let big = c.graph("GET", &format!("/v1.0/groups/{g}/members?$top=1000"), None, Some(&t)).await;
    assert_eq!(
        big.body["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    assert_eq!(c.graph("GET", &format!("/v1.0/groups/{g}/members?$top=999"), None, Some(&t)).await.status, 200);

    // A member Learn365 knows as a user is rendered with what it knows.
    c.user("ann@contoso.test").await;
    let ann = oid_of("ann@contoso.test");
    assert_eq!(c.add_member(&t, &g, &ann).await.status, 204);
    let all = c.graph("GET", &format!("/v1.0/groups/{g}/members?$top=10"), None, Some(&t)).await;
    let row = all.body["value"].as_array().and_then(|v| v.iter().find(|m| m["id"] == ann.as_str()).cloned());
    assert_eq!(row.map(|r| r["userPrincipalName"].clone()), Some(json!("ann@contoso.test")));

    // Removal: 204, then 404 for a member that is not there.
    assert_eq!(c.remove_member(&t, &g, &members[2]).await.status, 204);
    let again = c.remove_member(&t, &g, &members[2]).await;
    assert_eq!(graph_code(&again), (404, "Request_ResourceNotFound"));
    assert_eq!(graph_code(&c.remove_member(&t, &g, "bob").await), (400, "Request_BadRequest"));
    let s = c.state().await;
    let members_now = s["graphGroups"][0]["members"].as_array().map(Vec::len);
    assert_eq!(members_now, Some(5), "5 added + ann - 1 removed");
    assert_eq!(s["groups"][0]["members"], s["graphGroups"][0]["members"], "one model, two views");

    // members@odata.bind on create and update.
    let mut body = group_body("Bound", "bound");
    body["members@odata.bind"] = json!([format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", members[0])]);
    let bound = c.graph("POST", "/v1.0/groups", Some(body), Some(&t)).await;
    assert_eq!(bound.status, 201);
    let bound = bound.id();
    let dup = json!({"members@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{}", members[0])]});
    let dup = c.graph("PATCH", &format!("/v1.0/groups/{bound}"), Some(dup), Some(&t)).await;
    assert_eq!(dup.body["error"]["message"], ALREADY);
    let more =
        json!({"members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", members[1])]});
    assert_eq!(c.graph("PATCH", &format!("/v1.0/groups/{bound}"), Some(more), Some(&t)).await.status, 204);
    let listed = c.graph("GET", &format!("/v1.0/groups/{bound}/members"), None, Some(&t)).await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(2));
    c.check_invariants();
}

#[actix_web::test]
async fn faults_come_before_any_change_and_graph_is_counted() {
    let c = Client::new().await;
    let t = c.graph_token().await;
    let g = c.graph_group(&t, "Faulted").await;
    let m = "6f0e2b1c-0000-4000-8000-000000000001";
    assert_eq!(c.sim("POST", "stats/reset", Value::Null).await.status, 204);

    let on = c.sim("POST", "faults", json!({"rate503": 1.0, "seed": 1})).await;
    assert_eq!(on.status, 200);
    let down = c.add_member(&t, &g, m).await;
    assert_eq!(graph_code(&down), (503, "serviceNotAvailable"));
    let down = c.graph("POST", "/v1.0/groups", Some(group_body("New", "new")), Some(&t)).await;
    assert_eq!(down.status, 503);
    c.sim("POST", "faults", json!({"rate429": 1.0, "retryAfterSecs": 7})).await;
    let busy = c.add_member(&t, &g, m).await;
    assert_eq!(graph_code(&busy), (429, "TooManyRequests"));
    assert_eq!(busy.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    let busy = c.graph("DELETE", &format!("/v1.0/groups/{g}"), None, Some(&t)).await;
    assert_eq!(busy.status, 429);
    // Faults come before authentication too; the token endpoint is never faulted.
    assert_eq!(c.graph("GET", "/v1.0/groups", None, None).await.status, 429);
    assert_eq!(c.post_form(&token_path(), good_form(), None).await.status, 200);

    let s = c.state().await;
    assert_eq!(s["graphGroups"].as_array().map(Vec::len), Some(1), "no group created or deleted");
    assert_eq!(s["graphGroups"][0]["members"], json!([]), "no member added");

    c.sim("POST", "faults", Value::Null).await;
    assert_eq!(c.add_member(&t, &g, m).await.status, 204);
    assert_eq!(c.graph("GET", &format!("/v1.0/groups/{g}/members"), None, Some(&t)).await.status, 200);
    assert_eq!(c.graph("GET", "/v1.0/nothing", None, Some(&t)).await.status, 400);
    let stats = c.sim("GET", "stats", Value::Null).await.body;
    assert_eq!(stats["faults"], json!({"503": 2, "429": 3}));
    let by_route = &stats["byRoute"];
    assert_eq!(by_route["POST /v1.0/groups/{id}/members/$ref"], 3);
    assert_eq!(by_route["POST /v1.0/groups"], 1);
    assert_eq!(by_route["DELETE /v1.0/groups/{id}"], 1);
    assert_eq!(by_route["GET /v1.0/groups"], 1);
    assert_eq!(by_route["GET /v1.0/groups/{id}/members"], 1);
    assert_eq!(by_route["POST /{tenant}/oauth2/v2.0/token"], 1);
    assert_eq!(by_route["unmatched"], 1);
    assert_eq!(stats["requests"], 9);
    assert_eq!(stats["byStatus"]["429"], 3);
}

#[actix_web::test]
async fn learn365_follows_the_membership_of_a_graph_group() {
    let c = Client::new().await;
    let t = c.graph_token().await;
    let course = c.course("C1").await;
    let (ann, _) = c.user("ann@contoso.test").await;
    let g = c.graph_group(&t, "L365 Course C1").await;

    // The admin enrolls the group (by its claim) through the OData API.
    let enrolled = c.enroll(&course, &format!("c:0t.c|tenant|{g}")).await;
    assert_eq!(enrolled.status, 201, "{enrolled:?}");

    // Adding a member through Graph enrolls the member with the group as source.
    assert_eq!(c.add_member(&t, &g, &oid_of("ann@contoso.test")).await.status, 204);
    let s = c.state().await;
    assert!(active(&s, &ann, &course));
    assert_eq!(sources(&s, &ann, &course), vec![format!("group:{g}")]);

    // A member Learn365 meets later is enrolled when its user appears.
    assert_eq!(c.add_member(&t, &g, &oid_of("bob@contoso.test")).await.status, 204);
    let (bob, _) = c.user("bob@contoso.test").await;
    assert!(active(&c.state().await, &bob, &course));

    // Removing it cancels the enrollment (progress kept); adding it back brings the same one back.
    let before = row(&s, &ann, &course).map(|r| r["id"].clone());
    assert_eq!(c.remove_member(&t, &g, &oid_of("ann@contoso.test")).await.status, 204);
    let s = c.state().await;
    assert!(!active(&s, &ann, &course));
    assert_eq!(row(&s, &ann, &course).map(|r| r["status"].clone()), Some(json!("Cancelled")));
    assert_eq!(c.add_member(&t, &g, &oid_of("ann@contoso.test")).await.status, 204);
    let s = c.state().await;
    assert_eq!(row(&s, &ann, &course).map(|r| r["id"].clone()), before);
    assert!(active(&s, &ann, &course));

    // Deleting the group through Graph ends the members' group enrollments.
    assert_eq!(c.graph("DELETE", &format!("/v1.0/groups/{g}"), None, Some(&t)).await.status, 204);
    let s = c.state().await;
    assert!(!active(&s, &ann, &course) && !active(&s, &bob, &course));
    c.check_invariants();
}
