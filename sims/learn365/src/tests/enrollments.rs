//! Enroll / Cancel / Approve / Reject / Complete / Retake / PATCH, source sets, group claims, purge
//! and fault injection, over HTTP.

use serde_json::{Value, json};

use super::*;
use crate::api::Config;

#[actix_web::test]
async fn enroll_is_201_then_200_with_the_same_enrollment() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, ul) = c.user("Ann@Contoso.test").await;
    let first = c.enroll(&course, &ul).await;
    assert_eq!(first.status, 201, "{first:?}");
    let e = &first.body;
    assert!(e["@odata.context"].as_str().is_some_and(|s| s.ends_with("/odata/v2/$metadata#Enrollments/$entity")));
    assert_eq!((e["CourseId"].as_str(), e["UserId"].as_str()), (Some(course.as_str()), Some(u.as_str())));
    assert_eq!(e["UserLoginName"], "i:0#.f|membership|ann@contoso.test");
    assert_eq!(e["Roles"], json!(["Learner"]));
    assert_eq!(
        (e["RegistrationStatus"].clone(), e["CoursePassingStatus"].clone()),
        (json!("Enrolled"), json!("NotStarted"))
    );
    assert_eq!(e["IsPartOfTrainingPlan"], false);
    assert!(e.get("courseSessionId").is_some() && e.get("CourseSessionId").is_none(), "camelCase quirk");

    // Claims compare case-insensitively; the second call is idempotent.
    let second = c.enroll(&course, "I:0#.F|membership|ANN@contoso.test").await;
    assert_eq!((second.status, second.id()), (200, first.id()));
    let s = c.state().await;
    assert_eq!(notes(&s, &u), vec![("CourseEnrollmentConfirmation".to_string(), course.clone())]);
    c.check_invariants();
}

#[actix_web::test]
async fn enroll_refusals() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let tp = c.plan("T", &[&course]).await;
    let (_, ul) = c.user("ann@contoso.test").await;
    let unknown_course = c.enroll("9a1f0000-0000-4000-8000-00000000dead", &ul).await;
    assert_eq!((unknown_course.status, unknown_course.code()), (404, "CourseNotFound"));
    let unknown_user = c.enroll(&course, &claims("nobody@contoso.test")).await;
    assert_eq!((unknown_user.status, unknown_user.code()), (404, "UserNotFound"));
    let path = format!("/odata/v2/Courses({course})/Enroll");
    let pascal = c.post(&path, json!({"UserLoginName": ul})).await;
    assert_eq!(pascal.status, 400);
    assert!(pascal.body["error"]["message"].as_str().is_some_and(|m| m.contains("'userLoginName'")), "{pascal:?}");
    assert_eq!(c.post(&path, json!({})).await.status, 400);
    assert_eq!(c.post(&path, Value::Null).await.status, 400);
    let session = c
        .post(&format!("/odata/v2/Courses({tp})/Enroll"), json!({"userLoginName": ul, "courseSessionIds": ["s1"]}))
        .await;
    assert_eq!(session.status, 400, "session fields on a training plan");
    let ok = c.post(&path, json!({"userLoginName": ul, "courseSessionIds": ["s1"], "ignoreMaxAttendees": true})).await;
    assert_eq!((ok.status, ok.body["courseSessionId"].clone()), (201, json!("s1")));
    // A plain UPN is also understood.
    let plain = c.enroll(&tp, "ann@contoso.test").await;
    assert_eq!(plain.status, 201);
}

#[actix_web::test]
async fn cancel_is_idempotent_and_reenrolling_brings_the_progress_back() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, ul) = c.user("ann@contoso.test").await;
    let id = c.enrolled(&course, &ul).await;
    c.progress(&ul, &course, "InProgress", Some(45)).await;
    assert_eq!(c.cancel(&id).await.status, 204);
    assert_eq!(c.cancel(&id).await.status, 204, "cancelling a cancelled enrollment");
    let unknown = c.cancel("9a1f0000-0000-4000-8000-00000000dead").await;
    assert_eq!((unknown.status, unknown.code()), (404, "EnrollmentNotFound"));
    let got = c.get(&format!("/odata/v2/Enrollments({id})")).await;
    assert_eq!(
        (got.body["RegistrationStatus"].clone(), got.body["CancellationReason"].clone()),
        (json!("Cancelled"), json!("bye"))
    );
    assert_eq!(c.progress(&ul, &course, "Completed", None).await.status, 409, "no progress on a cancelled enrollment");

    let again = c.enroll(&course, &ul).await;
    assert_eq!((again.status, again.id()), (201, id.clone()));
    let s = c.state().await;
    let r = row(&s, &u, &course).cloned().unwrap_or_default();
    assert_eq!(
        (r["active"].clone(), r["progress"].clone(), r["passingStatus"].clone()),
        (json!(true), json!(45), json!("InProgress"))
    );
    c.check_invariants();
}

#[actix_web::test]
async fn sources_decide_what_a_cancel_ends() {
    let c = Client::new().await;
    let (c1, c2) = (c.course("C1").await, c.course("C2").await);
    let tp = c.plan("T", &[&c1, &c2]).await;
    let (u, ul) = c.user("ann@contoso.test").await;
    let direct = c.enrolled(&c1, &ul).await;
    c.enrolled(&tp, &ul).await;
    let s = c.state().await;
    assert_eq!(sources(&s, &u, &c1), vec!["direct".to_string(), format!("tp:{tp}")]);

    // An Enroll on a course the plan holds is a 200 that changes nothing (not the caller's).
    let held = c.enroll(&c2, &ul).await;
    assert_eq!((held.status, held.body["IsPartOfTrainingPlan"].clone()), (200, json!(true)));
    assert_eq!(sources(&c.state().await, &u, &c2), vec![format!("tp:{tp}")]);

    // Cancelling the direct enrollment of a course the plan also holds keeps it, held by the plan.
    assert_eq!(c.cancel(&direct).await.status, 204);
    let s = c.state().await;
    assert!(active(&s, &u, &c1));
    assert_eq!(sources(&s, &u, &c1), vec![format!("tp:{tp}")]);
    // An admin cancel of a plan-only course ends it: the course is then locked in the plan.
    assert_eq!(c.cancel(&direct).await.status, 204);
    let s = c.state().await;
    assert!(!active(&s, &u, &c1));
    assert_eq!(plan_view(&s, &tp, &u)["lockedCourses"], json!([c1]));
    c.check_invariants();
}

#[actix_web::test]
async fn approval_flow_without_ignore_enrollment_flow() {
    let c = Client::new().await;
    let resp = c.sim("POST", "courses", json!({"title": "Gated", "enrollmentFlow": "LMSAdministratorsApproval"})).await;
    let course = resp.id();
    let (u, ul) = c.user("ann@contoso.test").await;
    let (_, bl) = c.user("bob@contoso.test").await;
    let path = format!("/odata/v2/Courses({course})/Enroll");
    let pending = c.post(&path, json!({"userLoginName": ul})).await;
    assert_eq!((pending.status, pending.body["RegistrationStatus"].clone()), (201, json!("PendingApproval")));
    assert_eq!(c.post(&path, json!({"userLoginName": ul})).await.status, 200);
    assert!(notes(&c.state().await, &u).is_empty());
    let approve = c.post(&format!("/odata/v2/Enrollments({})/Approve", pending.id()), Value::Null).await;
    assert_eq!(approve.status, 204);
    let s = c.state().await;
    assert!(active(&s, &u, &course));
    assert_eq!(notes(&s, &u).len(), 1);

    let other = c.post(&path, json!({"userLoginName": bl})).await;
    assert_eq!(
        c.post(&format!("/odata/v2/Enrollments({})/Reject", other.id()), json!({"message": "no"})).await.status,
        204
    );
    let rejected = c.get(&format!("/odata/v2/Enrollments({})", other.id())).await;
    assert_eq!(rejected.body["RegistrationStatus"], "Rejected");
    let late = c.post(&format!("/odata/v2/Enrollments({})/Approve", other.id()), Value::Null).await;
    assert_eq!((late.status, late.code()), (409, "InvalidEnrollmentState"));
    let forced = c.enroll(&course, &bl).await;
    assert_eq!((forced.status, forced.body["RegistrationStatus"].clone()), (201, json!("Enrolled")));
    c.check_invariants();
}

#[actix_web::test]
async fn patch_complete_and_retake_a_course_enrollment() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, ul) = c.user("ann@contoso.test").await;
    let id = c.enrolled(&course, &ul).await;
    let path = format!("/odata/v2/Enrollments({id})");
    let patch = |body: Value| c.send("PATCH", &path, Some(body), Some(FULL));
    assert_eq!(
        patch(json!({"CoursePassingStatus": 2, "DueDate": "2024-06-30T00:00:00Z", "CEU": "2.5"})).await.status,
        204
    );
    let got = c.get(&path).await.body;
    assert_eq!(
        (got["CoursePassingStatus"].clone(), got["DueDate"].clone(), got["DecimalCEU"].clone()),
        (json!("InProgress"), json!("2024-06-30T00:00:00Z"), json!(2.5))
    );
    assert_eq!(patch(json!({"CoursePassingStatus": 0, "CompletionDate": "2024-05-01T10:00:00.00Z"})).await.status, 204);
    let got = c.get(&path).await.body;
    assert_eq!(
        (got["CoursePassingStatus"].clone(), got["CompletionDate"].clone()),
        (json!("Completed"), json!("2024-05-01T10:00:00Z"))
    );
    assert_eq!(notes(&c.state().await, &u).last().map(|n| n.0.clone()), Some("CourseCompletionConfirmation".into()));
    for bad in [
        json!({"CoursePassingStatus": 7}),
        json!({"DueDate": "soon"}),
        json!({"Progress": 3}),
        json!({"RegistrationDate": null}),
    ] {
        assert_eq!(patch(bad.clone()).await.status, 400, "{bad}");
    }
    assert_eq!(c.post(&format!("{path}/Retake"), json!({"courseSessionId": null})).await.status, 204);
    assert_eq!(c.get(&path).await.body["CoursePassingStatus"], "NotStarted");
    assert_eq!(c.post(&format!("{path}/Complete"), Value::Null).await.status, 204);
    assert_eq!(c.get(&path).await.body["CoursePassingStatus"], "Completed");
    assert_eq!(c.sim("POST", "progress", json!({"user": ul, "courseId": course, "status": "Done"})).await.status, 400);
    assert_eq!(
        c.sim("POST", "progress", json!({"user": ul, "courseId": course, "status": "InProgress", "progress": 101}))
            .await
            .status,
        400
    );
}

#[actix_web::test]
async fn enrollment_feed_filters_and_create() {
    let c = Client::new().await;
    let (c1, c2) = (c.course("C1").await, c.course("C2").await);
    let (u, ul) = c.user("ann@contoso.test").await;
    let (_, bl) = c.user("bob@contoso.test").await;
    let created = c.post("/odata/v2/Enrollments", json!({"CourseId": c1, "UserLoginName": ul})).await;
    assert_eq!(created.status, 201, "{created:?}");
    c.enrolled(&c2, &ul).await;
    let b = c.enrolled(&c1, &bl).await;
    c.cancel(&b).await;
    let list =
        |filter: String| c.get_owned(with_query("/odata/v2/Enrollments", &[("$filter", &filter), ("$count", "true")]));
    let quoted = list(format!("CourseId eq '{c1}' and UserLoginName eq '{}'", ul.to_uppercase())).await;
    assert_eq!(quoted.body["@odata.count"], 1);
    assert_eq!(quoted.body["value"][0]["Id"], created.id().as_str());
    assert_eq!(list(format!("CourseId eq {c1}")).await.body["@odata.count"], 2, "bare GUID");
    assert_eq!(list(format!("UserId eq {u}")).await.body["@odata.count"], 2);
    assert_eq!(list("RegistrationStatus eq 'Cancelled'".into()).await.body["@odata.count"], 1);
    assert_eq!(list("CreatedAt ge 2020-01-01T00:00:00Z".into()).await.body["@odata.count"], 3);
    assert_eq!(list("CreatedAt lt 2020-01-01T00:00:00Z".into()).await.body["@odata.count"], 0);
    let deleted_users = c.get("/odata/v2/Enrollments/IncludeDeletedUsers()").await;
    assert_eq!(deleted_users.body["value"].as_array().map(Vec::len), Some(3));
}

#[actix_web::test]
async fn group_claims_enroll_the_group_and_its_members() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, _) = c.user("ann@contoso.test").await;
    let group = "6f0e2b1c-0000-4000-8000-00000000b001";
    let claim = format!("c:0t.c|tenant|{group}");
    assert_eq!(c.enroll(&course, &claim).await.code(), "UserNotFound", "Learn365 does not know the group yet");
    c.sim(
        "POST",
        "groups",
        json!({"objectId": group, "displayName": "Sales", "members": [oid_of("ann@contoso.test")]}),
    )
    .await;
    let g = c.enroll(&course, &claim).await;
    assert_eq!((g.status, g.body["UserLoginName"].clone()), (201, json!(claim)));
    let s = c.state().await;
    assert_eq!(sources(&s, &u, &course), vec![format!("group:{group}")]);
    let users = c.get(&with_query("/odata/v2/Users", &[("$filter", &format!("DirectoryObjectId eq '{group}'"))])).await;
    assert_eq!(users.body["value"][0]["PrincipalType"], "SecurityGroup");
    assert_eq!(users.body["value"][0]["Title"], "Sales");

    // Cancelling the group's enrollment ends the members' group enrollments.
    assert_eq!(c.cancel(&g.id()).await.status, 204);
    assert!(!active(&c.state().await, &u, &course));
    // Purging the group forgets it; a deleted group (DELETE /_sim/groups) is the same.
    c.enroll(&course, &claim).await;
    assert_eq!(c.post(&format!("{}/Purge", user_path(&claim)), Value::Null).await.status, 202);
    let s = c.state().await;
    assert!(!active(&s, &u, &course));
    assert_eq!(s["groups"], json!([]));
    assert_eq!(c.sim("DELETE", &format!("groups/{group}"), Value::Null).await.status, 404);
    c.check_invariants();
}

#[actix_web::test]
async fn purge_removes_the_user_and_everything_of_it() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, ul) = c.user("ann@contoso.test").await;
    let (b, bl) = c.user("bob@contoso.test").await;
    c.enrolled(&course, &ul).await;
    c.enrolled(&course, &bl).await;
    let purge = c.post(&format!("{}/Purge", user_path(&ul)), Value::Null).await;
    assert_eq!((purge.status, purge.body.clone()), (202, Value::Null));
    assert_eq!(c.get(&user_path(&ul)).await.code(), "UserNotFound");
    let s = c.state().await;
    assert!(row(&s, &u, &course).is_none() && notes(&s, &u).is_empty());
    assert!(active(&s, &b, &course), "others untouched");
    assert_eq!(c.post(&format!("{}/Purge", user_path(&ul)), Value::Null).await.status, 404);
    // The same account can come back, with nothing of the old one.
    let (again, _) = c.user("ann@contoso.test").await;
    assert_ne!(again, u);
    c.check_invariants();
}

#[actix_web::test]
async fn faults_are_decided_before_any_state_change() {
    let c = Client::new().await;
    let course = c.course("C1").await;
    let (u, ul) = c.user("ann@contoso.test").await;
    let set = c.sim("POST", "faults", json!({"rate503": 1.0, "seed": 7})).await;
    assert_eq!(
        (set.status, set.body["rate503"].clone(), set.body["retryAfterSecs"].clone()),
        (200, json!(1.0), json!(1))
    );
    let failed = c.enroll(&course, &ul).await;
    assert_eq!((failed.status, failed.code()), (503, "ServiceUnavailable"));
    assert!(row(&c.state().await, &u, &course).is_none(), "a 503'd Enroll leaves no enrollment");

    c.sim("POST", "faults", json!({"rate429": 1.0, "retryAfterSecs": 3})).await;
    let throttled = c.enroll(&course, &ul).await;
    assert_eq!((throttled.status, throttled.code()), (429, "TooManyRequests"));
    assert_eq!(throttled.headers.get("Retry-After").and_then(|v| v.to_str().ok()), Some("3"));
    assert!(row(&c.state().await, &u, &course).is_none());
    assert_eq!(c.send("GET", "/odata/v2/Users", None, None).await.status, 429, "faults come before auth");

    assert_eq!(c.sim("POST", "faults", json!({"rate503": 0.7, "rate429": 0.7})).await.status, 400);
    assert_eq!(c.sim("POST", "faults", json!({"rate999": 1})).await.status, 400);
    assert_eq!(c.sim("POST", "faults", Value::Null).await.status, 200, "empty body switches faults off");
    assert_eq!(c.enroll(&course, &ul).await.status, 201);
    let stats = c.sim("GET", "stats", Value::Null).await.body;
    assert_eq!(stats["faults"], json!({"503": 1, "429": 2}));
    assert_eq!(stats["faultsInjected"], 3);
    assert_eq!(stats["byRoute"]["POST /odata/v2/Courses({id})/Enroll"], 3);
    assert_eq!(stats["byStatus"]["201"], 2, "the user upsert and the last Enroll");
    assert_eq!(stats["requests"], 5);
}

#[actix_web::test]
async fn faults_follow_the_seed() {
    let run = |seed: u64| async move {
        let c = Client::with(Config::default()).await;
        c.sim("POST", "faults", json!({"rate503": 0.3, "rate429": 0.2, "seed": seed})).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(c.get("/odata/v2/Courses").await.status);
        }
        statuses
    };
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert_ne!(a, run(43).await);
    assert!(a.contains(&503) && a.contains(&429) && a.contains(&200));
}
