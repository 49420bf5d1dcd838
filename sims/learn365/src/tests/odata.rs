//! The OData surface over HTTP: Basic auth and key kinds, users (upsert, get, filters), paging with
//! `@odata.nextLink`, `$filter`/`$count`/`$select`/`$orderby`/`$expand`, courses, catalogs, training
//! plans, error bodies, the `/_sim` extras and the demo seed.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::api::{Config, Seed};
use crate::model::DEMO;
use crate::odata::schema::{CATALOGS, COURSES, ENROLLMENTS, EntitySet, TRAINING_PLANS, USERS};

#[actix_web::test]
async fn basic_auth_and_key_kinds() {
    let c = Client::new().await;
    let none = c.send("GET", "/odata/v2/Users", None, None).await;
    assert_eq!((none.status, none.code()), (401, "Unauthorized"));
    assert_eq!(none.headers.get("WWW-Authenticate").and_then(|v| v.to_str().ok()), Some("Basic realm=\"Learn365\""));
    assert_eq!(c.send("GET", "/odata/v2/Users", None, Some("wrong")).await.status, 401);
    let read = c.send("GET", "/odata/v2/Users", None, Some(READ)).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.headers.get("OData-Version").and_then(|v| v.to_str().ok()), Some("4.0"));
    let write = c.send("POST", "/odata/v2/Users", Some(json!({"LoginName": claims("a@x.test")})), Some(READ)).await;
    assert_eq!((write.status, write.code()), (403, "Forbidden"));
    assert!(c.state().await["users"].as_array().is_some_and(Vec::is_empty), "a 403 changes nothing");
    let missing = c.get("/odata/v2/Nope").await;
    assert_eq!((missing.status, missing.code()), (404, "NotFound"));
    assert!(missing.body["error"]["message"].is_string());

    let custom = Client::with(Config { full_keys: vec!["k1".into()], read_keys: vec![], ..Config::default() }).await;
    assert_eq!(custom.send("GET", "/odata/v2/Courses", None, Some("k1")).await.status, 200);
    assert_eq!(custom.send("GET", "/odata/v2/Courses", None, Some(FULL)).await.status, 401);
}

#[actix_web::test]
async fn user_upsert_matches_by_object_id_then_login() {
    let c = Client::new().await;
    let oid = "AAAAAAAA-0000-4000-8000-000000000001";
    let body = json!({"LoginName": claims("ann@x.test"), "DirectoryObjectId": oid, "Title": "Ann", "Department": "Sales",
        "JobTitle": "Rep", "City": "Oslo", "Country": "NO", "Office": "HQ", "Company": "Contoso", "IsDisabled": false, "Email": null});
    let created = c.post("/odata/v2/Users", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.body["@odata.context"].as_str().is_some_and(|s| s.ends_with("#Users/$entity")));
    assert_eq!(
        (created.body["Email"].clone(), created.body["DirectoryObjectId"].clone()),
        (json!(""), json!(oid.to_lowercase()))
    );
    let id = created.id();
    let course = c.course("C1").await;
    c.enrolled(&course, &claims("ann@x.test")).await;

    // Same object id, new UPN: the user is updated and its LoginName follows everywhere.
    let renamed = c
        .post(
            "/odata/v2/Users",
            json!({"LoginName": claims("ann.lee@x.test"), "DirectoryObjectId": oid.to_lowercase(), "IsDisabled": true}),
        )
        .await;
    assert_eq!((renamed.status, renamed.id()), (200, id.clone()));
    assert_eq!((renamed.body["Department"].clone(), renamed.body["IsDisabled"].clone()), (json!(""), json!(true)));
    let by_login = c.get(&user_path(&claims("ann.lee@x.test"))).await;
    assert_eq!(by_login.id(), id);
    assert_eq!(c.get(&user_path(&claims("ann@x.test"))).await.code(), "UserNotFound");
    let feed = c.get("/odata/v2/Enrollments").await;
    assert_eq!(feed.body["value"][0]["UserLoginName"], claims("ann.lee@x.test"));

    // Matched by LoginName when the object id is unknown.
    let by_name = c.post("/odata/v2/Users", json!({"LoginName": claims("ann.lee@x.test"), "Title": "Ann Lee"})).await;
    assert_eq!((by_name.status, by_name.id()), (200, id.clone()));
    let (_, _) = c.user("bob@x.test").await;
    let clash = c
        .post("/odata/v2/Users", json!({"LoginName": claims("bob@x.test"), "DirectoryObjectId": oid_of("ann-other")}))
        .await;
    assert_eq!(clash.status, 200, "unknown oid but known login: that user gets the new oid");
    let conflict =
        c.post("/odata/v2/Users", json!({"LoginName": claims("bob@x.test"), "DirectoryObjectId": oid})).await;
    assert_eq!((conflict.status, conflict.code()), (409, "LoginNameConflict"));
    for bad in [
        json!({"Title": "x"}),
        json!({"LoginName": "ann@x.test"}),
        json!({"LoginName": claims("z@x.test"), "loginName": "x"}),
        json!([1]),
    ] {
        assert_eq!(c.post("/odata/v2/Users", bad.clone()).await.status, 400, "{bad}");
    }
    c.check_invariants();
}

#[actix_web::test]
async fn paging_follows_next_links() {
    let c = Client::with(Config { page_size: 2, ..Config::default() }).await;
    for i in 0..5 {
        c.user(&format!("u{i}@x.test")).await;
    }
    let mut url = with_query("/odata/v2/Users", &[("$count", "true"), ("$select", "Id,LoginName")]);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.get(&url).await;
        assert_eq!(page.status, 200, "{page:?}");
        assert_eq!(page.body["@odata.count"], 5);
        for u in page.body["value"].as_array().cloned().unwrap_or_default() {
            assert_eq!(u.as_object().map(|o| o.len()), Some(2), "$select keeps two properties");
            seen.push(u["LoginName"].as_str().unwrap_or_default().to_string());
        }
        pages += 1;
        match page.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://localhost:8080/odata/v2/Users?"), "{next}");
                url = next.trim_start_matches("http://localhost:8080").to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..5).map(|i| claims(&format!("u{i}@x.test"))).collect::<Vec<_>>());

    let top = c.get(&with_query("/odata/v2/Users", &[("$top", "3"), ("$skip", "1")])).await;
    assert_eq!(top.body["value"].as_array().map(Vec::len), Some(2));
    let next = top.body["@odata.nextLink"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("http://localhost:8080")
        .to_string();
    assert!(next.ends_with("$top=1&$skip=3"), "{next}");
    let rest = c.get(&next).await;
    assert_eq!(rest.body["value"].as_array().map(Vec::len), Some(1));
    assert!(rest.body.get("@odata.nextLink").is_none());

    let count_only = c.get(&with_query("/odata/v2/Users", &[("$top", "0"), ("$count", "true")])).await;
    assert_eq!((count_only.body["@odata.count"].clone(), count_only.body["value"].clone()), (json!(5), json!([])));
    let too_big = c.get(&with_query("/odata/v2/Users", &[("$top", "10001")])).await;
    assert_eq!((too_big.status, too_big.code()), (400, "InvalidQuery"));
}

#[actix_web::test]
async fn user_filters_select_and_orderby() {
    let c = Client::new().await;
    let (a, al) = c.user("ann@x.test").await;
    c.user("bob@x.test").await;
    c.user("cid@x.test").await;
    let get = |filter: String| c.get_owned(with_query("/odata/v2/Users", &[("$filter", &filter)]));
    let by_oid = get(format!("DirectoryObjectId eq '{}'", oid_of("ann@x.test").to_uppercase())).await;
    assert_eq!(by_oid.body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_oid.body["value"][0]["Id"], a.as_str());
    assert_eq!(
        get(format!("DirectoryObjectId eq {}", oid_of("bob@x.test"))).await.body["value"][0]["Email"],
        "bob@x.test"
    );
    assert_eq!(get(format!("LoginName eq '{al}'")).await.body["value"][0]["Id"], a.as_str());
    assert_eq!(get("Email eq 'CID@x.test'".into()).await.body["value"][0]["Title"], "cid@x.test");
    assert_eq!(
        get("Email ne 'ann@x.test' and IsDisabled eq false".into()).await.body["value"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(get("Email eq 'nobody@x.test'".into()).await.body["value"], json!([]));
    for bad in ["Email eq 'a' or Email eq 'b'", "startswith(Email,'a')", "Nope eq 1", "Email eq ann"] {
        let resp = get(bad.into()).await;
        assert_eq!((resp.status, resp.code()), (400, "InvalidQuery"), "{bad}");
        assert!(resp.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let sorted = c.get(&with_query("/odata/v2/Users", &[("$orderby", "Email desc"), ("$select", "Email")])).await;
    assert!(sorted.body["@odata.context"].as_str().is_some_and(|s| s.ends_with("#Users(Email)")));
    let emails: Vec<&str> = sorted.body["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|u| u["Email"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(emails, ["cid@x.test", "bob@x.test", "ann@x.test"]);
    let one = c.get(&with_query(&user_path(&al), &[("$select", "Id,DirectoryObjectId")])).await;
    assert_eq!(one.body.as_object().map(|o| o.len()), Some(3), "{one:?}");
    assert_eq!(c.get(&with_query(&user_path(&al), &[("$top", "1")])).await.status, 400);
    assert_eq!(c.get(&with_query("/odata/v2/Users", &[("$search", "ann")])).await.status, 400);
}

#[actix_web::test]
async fn courses_catalogs_and_plans() {
    let c = Client::new().await;
    let cat = c.sim("POST", "catalogs", json!({"title": "Main"})).await;
    assert_eq!(cat.status, 201);
    let catalog = cat.id();
    let made = c
        .post(
            "/odata/v2/Courses",
            json!({"CourseCatalogId": catalog, "CourseType": "Webinar", "Title": "Live", "Description": "d",
            "Url": "https://x/sites/live", "Culture": "en-US", "UICulture": "en-US", "CourseID": "WEB-1", "CEU": 2}),
        )
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    assert_eq!(
        (made.body["CourseType"].clone(), made.body["CourseID"].clone(), made.body["CEU"].clone()),
        (json!("Webinar"), json!("WEB-1"), json!(2))
    );
    assert_ne!(made.body["Id"], made.body["CourseID"], "Id and CourseID are distinct");
    assert_eq!(
        c.post("/odata/v2/Courses", json!({"CourseCatalogId": catalog, "CourseType": "Podcast", "Title": "x"}))
            .await
            .status,
        400
    );
    assert_eq!(
        c.post(
            "/odata/v2/Courses",
            json!({"CourseCatalogId": catalog, "CourseType": "ELearning", "Title": "x", "Bogus": 1})
        )
        .await
        .status,
        400
    );
    let sim = c.sim("POST", "courses", json!({"title": "Basics", "courseId": "B-1", "catalogId": catalog})).await;
    assert_eq!((sim.body["code"].clone(), sim.body["courseType"].clone()), (json!("B-1"), json!("ELearning")));
    let tp = c
        .sim(
            "POST",
            "courses",
            json!({"title": "Plan", "courseType": "TrainingPlan", "catalogId": catalog, "courses": ["B-1", made.id()]}),
        )
        .await;
    assert_eq!(tp.body["courses"].as_array().map(Vec::len), Some(2));

    let plans = c
        .get(&with_query("/odata/v2/Courses", &[("$filter", "CourseType eq 'TrainingPlan'"), ("$count", "true")]))
        .await;
    assert_eq!(plans.body["@odata.count"], 1);
    let catalogs = c
        .get(&with_query(
            &format!("/odata/v2/CourseCatalogs({catalog})"),
            &[("$expand", "Courses($select=Id,Title;$expand=SharepointWeb($select=Url))")],
        ))
        .await;
    assert_eq!(catalogs.status, 200, "{catalogs:?}");
    let courses = catalogs.body["Courses"].as_array().cloned().unwrap_or_default();
    assert_eq!(courses.len(), 3);
    assert_eq!(courses[0]["SharepointWeb"], json!({"Url": "https://x/sites/live"}));
    assert_eq!(courses[0].as_object().map(|o| o.len()), Some(3));
    let info = c.get(&with_query(&format!("/odata/v2/Courses({})", made.id()), &[("$expand", "DueDate,Publishing,CertificateExpiry,SharepointWeb($select=Url),Categories,Tags,CourseSessions,ProvisioningProgress,Trainers")])).await;
    assert_eq!((info.body["DueDate"]["IsEnabled"].clone(), info.body["Tags"].clone()), (json!(false), json!([])));
    let plan = c
        .get(&with_query(
            &format!("/odata/v2/TrainingPlans({})", tp.id()),
            &[("$expand", "Courses($select=CourseId,Order)")],
        ))
        .await;
    assert_eq!(plan.body["Courses"][1], json!({"CourseId": made.id(), "Order": 2}));
    assert_eq!(c.get(&format!("/odata/v2/TrainingPlans({})", made.id())).await.code(), "TrainingPlanNotFound");
    assert_eq!(c.get("/odata/v2/Courses(9a1f0000-0000-4000-8000-00000000dead)").await.code(), "CourseNotFound");
    assert_eq!(c.get("/odata/v2/CourseCatalogs").await.body["value"][0]["Title"], "Main");
}

/// Every entity's JSON carries exactly the properties of its schema (so `$filter`/`$select` and
/// the serialized shape agree).
#[actix_web::test]
async fn shapes_match_the_schema() {
    let c = Client::with(Config { seed: Seed::Demo, ..Config::default() }).await;
    let (_, ul) = c.user("ann@x.test").await;
    let e = c.enrolled(DEMO.training_plan, &ul).await;
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().map(|o| o.keys().filter(|k| !k.starts_with('@')).cloned().collect()).unwrap_or_default()
    };
    let props = |set: &EntitySet| -> BTreeSet<String> { set.props.iter().map(|(n, _)| n.to_string()).collect() };
    let cases: [(&EntitySet, Value); 5] = [
        (&USERS, c.get("/odata/v2/Users").await.body["value"][0].clone()),
        (&COURSES, c.get("/odata/v2/Courses").await.body["value"][0].clone()),
        (&TRAINING_PLANS, c.get("/odata/v2/TrainingPlans").await.body["value"][0].clone()),
        (&CATALOGS, c.get("/odata/v2/CourseCatalogs").await.body["value"][0].clone()),
        (&ENROLLMENTS, c.get(&format!("/odata/v2/Enrollments({e})")).await.body),
    ];
    for (set, row) in cases {
        assert_eq!(keys(&row), props(set), "{}", set.name);
    }
}

#[actix_web::test]
async fn demo_seed_stats_and_reset() {
    let c = Client::with(Config { seed: Seed::Demo, ..Config::default() }).await;
    let s = c.state().await;
    assert_eq!(s["catalogs"][0]["id"], DEMO.catalog);
    assert_eq!(s["courses"].as_array().map(Vec::len), Some(7));
    assert!(s["courses"].as_array().is_some_and(|l| l.iter().any(|x| x["courseType"] == "ClassRoom")));
    let tp = &s["trainingPlans"][0];
    assert_eq!(
        (tp["id"].as_str(), tp["title"].as_str()),
        (Some(DEMO.training_plan), Some("Getting started with LMS365"))
    );
    assert_eq!(tp["courses"].as_array().map(Vec::len), Some(3));
    let (u, ul) = c.user("ann@x.test").await;
    c.enrolled(DEMO.training_plan, &ul).await;
    let stats = c.sim("GET", "stats", Value::Null).await.body;
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["byRoute"]["POST /odata/v2/Users"], 1);
    assert_eq!(stats["byStatus"]["201"], 2);
    assert_eq!(c.sim("POST", "stats/reset", Value::Null).await.status, 204);
    assert_eq!(c.sim("GET", "stats", Value::Null).await.body["requests"], 0);

    assert_eq!(c.sim("POST", "reset", Value::Null).await.status, 204);
    let s = c.state().await;
    assert_eq!((s["users"].clone(), s["enrollments"].clone()), (json!([]), json!([])));
    assert_eq!(s["trainingPlans"][0]["id"], DEMO.training_plan, "the seed comes back");
    assert!(row(&s, &u, DEMO.training_plan).is_none());
    assert_eq!(c.sim("GET", "nope", Value::Null).await.status, 404);
    assert_eq!(c.sim("POST", "courses", json!({"title": "x", "bogus": 1})).await.status, 400);
}

#[actix_web::test]
async fn the_rate_limit_answers_429_with_retry_after_before_any_change() {
    let c = Client::with(Config { rate_limit: Some(3), ..Config::default() }).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = c.post("/odata/v2/Users", json!({"LoginName": claims(&format!("u{i}@x.test"))})).await;
        if r.status == 429 {
            assert_eq!(r.code(), "TooManyRequests");
            assert_eq!(r.headers.get("Retry-After").and_then(|v| v.to_str().ok()), Some("1"));
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429], "a burst of one second's worth, then 429");
    assert_eq!(c.state().await["users"].as_array().map(Vec::len), Some(3), "a limited request changes nothing");
    assert_eq!(c.get("/_sim/stats").await.body["rateLimited"], 2);
}
