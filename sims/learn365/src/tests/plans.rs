//! Learn365's training-plan logic over HTTP: rules T1–T6 and the acceptance scenarios AT-13..AT-21
//! (`docs/spec/learn365.md` §3: scenarios #1–#5 of a course added to a plan, from seed 003).

use serde_json::{Value, json};

use super::*;

/// Notifications logged for `user` after the first `from` of them.
fn notes_since(state: &Value, user: &str, from: usize) -> Vec<(String, String)> {
    notes(state, user).into_iter().skip(from).collect()
}

/// A plan {C1, C2} and learner X enrolled in it with C1 Completed and C2 InProgress (AT-16 "given").
async fn x_in_progress(c: &Client) -> (String, String, [String; 3], String) {
    let c1 = c.course("C1").await;
    let c2 = c.course("C2").await;
    let c3 = c.course("C3").await;
    let tp = c.plan("T", &[&c1, &c2]).await;
    let (x, xl) = c.user("x@contoso.test").await;
    c.enrolled(&tp, &xl).await;
    c.complete(&xl, &c1).await;
    assert_eq!(c.progress(&xl, &c2, "InProgress", Some(20)).await.status, 200);
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &x)["status"], "InProgress");
    assert_eq!(plan_view(&s, &tp, &x)["progress"], 50);
    (tp, x, [c1, c2, c3], xl)
}

/// A plan {C1, C2} that X has Completed.
async fn x_completed(c: &Client) -> (String, String, [String; 3], String) {
    let (tp, x, [c1, c2, c3], xl) = x_in_progress(c).await;
    c.complete(&xl, &c2).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    (tp, x, [c1, c2, c3], xl)
}

#[actix_web::test]
async fn at13_tp_enroll_and_unenroll() {
    let c = Client::new().await;
    let cs = [c.course("C1").await, c.course("C2").await, c.course("C3").await];
    let tp = c.plan("Getting started with LMS365", &[&cs[0], &cs[1], &cs[2]]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    let tp_enrollment = c.enrolled(&tp, &ul).await;
    let s = c.state().await;
    for course in cs.iter().chain([&tp]) {
        assert!(active(&s, &u, course), "{course}");
    }
    for course in &cs {
        assert_eq!(sources(&s, &u, course), vec![format!("tp:{tp}")]);
        assert_eq!(row(&s, &u, course).map(|r| r["isPartOfTrainingPlan"].clone()), Some(json!(true)));
    }
    let view = plan_view(&s, &tp, &u);
    assert_eq!((view["status"].clone(), view["progress"].clone()), (json!("NotStarted"), json!(0)));
    assert_eq!(view["lockedCourses"], json!([]));

    assert_eq!(c.cancel(&tp_enrollment).await.status, 204);
    let s = c.state().await;
    for course in cs.iter().chain([&tp]) {
        assert!(!active(&s, &u, course), "{course}");
        assert_eq!(row(&s, &u, course).map(|r| r["status"].clone()), Some(json!("Cancelled")));
    }
    c.check_invariants();
}

#[actix_web::test]
async fn at14_group_enrollment_follows_membership() {
    let c = Client::new().await;
    let (c1, c2) = (c.course("C1").await, c.course("C2").await);
    let tp = c.plan("T", &[&c1, &c2]).await;
    let (v, vl) = c.user("v@contoso.test").await;
    let group = "6f0e2b1c-0000-4000-8000-00000000a001";
    let g = c.sim("POST", "groups", json!({"objectId": group, "displayName": "New hires", "members": []})).await;
    assert_eq!(g.status, 201, "{g:?}");
    assert_eq!(g.body["loginName"], format!("c:0t.c|tenant|{group}"));
    assert_eq!(c.enroll(&tp, &format!("c:0t.c|tenant|{group}")).await.status, 201);

    // V added to the group: enrolled in T through the group and in C1, C2 through T.
    let joined = c.sim("POST", "groups", json!({"objectId": group, "members": [oid_of("v@contoso.test")]})).await;
    assert_eq!(joined.status, 200);
    let s = c.state().await;
    assert_eq!(sources(&s, &v, &tp), vec![format!("group:{group}")]);
    assert_eq!(sources(&s, &v, &c1), vec![format!("tp:{tp}")]);
    assert_eq!(sources(&s, &v, &c2), vec![format!("tp:{tp}")]);
    assert_eq!(c.progress(&vl, &c1, "InProgress", Some(60)).await.status, 200);

    // V removed: T, C1, C2 end, the recorded progress stays.
    assert_eq!(c.sim("POST", "groups", json!({"objectId": group, "members": []})).await.status, 200);
    let s = c.state().await;
    for course in [&tp, &c1, &c2] {
        assert!(!active(&s, &v, course));
    }
    let kept = row(&s, &v, &c1).cloned().unwrap_or_default();
    assert_eq!((kept["passingStatus"].clone(), kept["progress"].clone()), (json!("InProgress"), json!(60)));

    // Re-added: the same rows come back with the progress.
    c.sim("POST", "groups", json!({"objectId": group, "members": [oid_of("v@contoso.test")]})).await;
    let s = c.state().await;
    assert!(active(&s, &v, &c1));
    assert_eq!(
        row(&s, &v, &c1).map(|r| (r["id"].clone(), r["progress"].clone())),
        Some((kept["id"].clone(), json!(60)))
    );

    // A member known to the group before the user exists is enrolled when the user appears.
    c.sim(
        "POST",
        "groups",
        json!({"objectId": group, "members": [oid_of("v@contoso.test"), oid_of("w@contoso.test")]}),
    )
    .await;
    let (w, _) = c.user("w@contoso.test").await;
    let s = c.state().await;
    assert!(active(&s, &w, &tp) && active(&s, &w, &c1) && active(&s, &w, &c2));
    c.check_invariants();
}

#[actix_web::test]
async fn at15_no_cross_enrollment_and_carry_over() {
    let c = Client::new().await;
    let (c1, c2, c3) = (c.course("C1").await, c.course("C2").await, c.course("C3").await);
    let t1 = c.plan("T1", &[&c1, &c2]).await;
    let t2 = c.plan("T2", &[&c2, &c3]).await;
    let (w, wl) = c.user("w@contoso.test").await;
    c.enrolled(&c2, &wl).await;
    c.complete(&wl, &c2).await;
    c.enrolled(&t1, &wl).await;
    let s = c.state().await;
    assert!(active(&s, &w, &t1) && active(&s, &w, &c1));
    assert!(!active(&s, &w, &t2) && row(&s, &w, &c3).is_none(), "not enrolled in T2 or C3");
    let view = plan_view(&s, &t1, &w);
    assert_eq!(view["progress"], 50);
    assert_eq!(view["status"], "InProgress");
    let c2_in_t1 = view["courses"].as_array().and_then(|l| l.iter().find(|x| x["courseId"] == c2.as_str())).cloned();
    assert_eq!(c2_in_t1.map(|x| x["status"].clone()), Some(json!("Completed")));

    let (y, yl) = c.user("y@contoso.test").await;
    c.enrolled(&c3, &yl).await;
    let s = c.state().await;
    assert!(row(&s, &y, &t2).is_none(), "individual C3 enrollment does not enroll in T2");
    c.check_invariants();
}

#[actix_web::test]
async fn at16_scenario1_course_added_to_an_in_progress_plan() {
    let c = Client::new().await;
    let (tp, x, [_, c2, c3], xl) = x_in_progress(&c).await;
    let before = notes(&c.state().await, &x).len();
    let link = c.add_to_plan(&tp, &c3).await;
    assert_eq!(link.status, 201);
    assert_eq!(link.body["required"], true);
    let s = c.state().await;
    let view = plan_view(&s, &tp, &x);
    assert_eq!((view["status"].clone(), view["progress"].clone()), (json!("InProgress"), json!(33)));
    assert_eq!(view["lockedCourses"], json!([c3]));
    assert!(row(&s, &x, &c3).is_none(), "no enrollment in C3");
    assert!(notes_since(&s, &x, before).is_empty(), "nothing logged when C3 is added");

    c.complete(&xl, &c2).await;
    let s = c.state().await;
    assert!(active(&s, &x, &c3));
    assert_eq!(sources(&s, &x, &c3), vec![format!("tp:{tp}")]);
    let view = plan_view(&s, &tp, &x);
    assert_eq!(view["lockedCourses"], json!([]));
    assert_eq!(view["progress"], 66);
    let logged = notes_since(&s, &x, before);
    assert!(logged.contains(&("CourseEnrollmentConfirmation".into(), c3.clone())), "{logged:?}");

    c.complete(&xl, &c3).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    assert_eq!(plan_view(&s, &tp, &x)["progress"], 100);
    c.check_invariants();
}

#[actix_web::test]
async fn at17_scenario2_individual_enrollment_is_kept() {
    let c = Client::new().await;
    let (tp, x, [_, _, c3], xl) = x_in_progress(&c).await;
    let c3_enrollment = c.enrolled(&c3, &xl).await;
    assert_eq!(c.progress(&xl, &c3, "InProgress", Some(40)).await.status, 200);
    let before = notes(&c.state().await, &x).len();
    assert_eq!(c.add_to_plan(&tp, &c3).await.status, 201);
    let s = c.state().await;
    let r = row(&s, &x, &c3).cloned().unwrap_or_default();
    assert_eq!(
        (r["id"].as_str(), r["passingStatus"].clone(), r["progress"].clone()),
        (Some(c3_enrollment.as_str()), json!("InProgress"), json!(40))
    );
    let view = plan_view(&s, &tp, &x);
    assert_eq!((view["status"].clone(), view["progress"].clone()), (json!("InProgress"), json!(33)));
    assert_eq!(view["lockedCourses"], json!([]));
    assert_eq!(s["trainingPlans"][0]["courses"][2]["required"], true);
    assert!(notes_since(&s, &x, before).is_empty());

    c.complete(&xl, &c3).await;
    let s = c.state().await;
    let logged = notes_since(&s, &x, before);
    assert_eq!(logged.first(), Some(&("CourseCompletionConfirmation".to_string(), c3.clone())));
    assert!(logged.iter().all(|(kind, course)| kind == "TrainingPlanProgress" || course == &c3), "{logged:?}");
    c.check_invariants();
}

#[actix_web::test]
async fn at18_scenario3_completed_plan_with_individual_course() {
    let c = Client::new().await;
    let (tp, x, [_, _, c3], xl) = x_completed(&c).await;
    c.enrolled(&c3, &xl).await;
    assert_eq!(c.progress(&xl, &c3, "InProgress", Some(10)).await.status, 200);
    let before = notes(&c.state().await, &x).len();
    assert_eq!(c.add_to_plan(&tp, &c3).await.status, 201);
    let s = c.state().await;
    let view = plan_view(&s, &tp, &x);
    assert_eq!((view["status"].clone(), view["progress"].clone()), (json!("Completed"), json!(100)));
    let shown = view["courses"].as_array().and_then(|l| l.iter().find(|x| x["courseId"] == c3.as_str())).cloned();
    assert_eq!(
        shown.map(|x| (x["status"].clone(), x["progress"].clone(), x["locked"].clone())),
        Some((json!("InProgress"), json!(10), json!(false)))
    );
    assert!(notes_since(&s, &x, before).is_empty());

    c.complete(&xl, &c3).await;
    let s = c.state().await;
    assert_eq!(notes_since(&s, &x, before), vec![("CourseCompletionConfirmation".to_string(), c3.clone())]);
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    c.check_invariants();
}

#[actix_web::test]
async fn at19_scenario4_completed_plan_course_locked_until_reset() {
    let c = Client::new().await;
    let (tp, x, [_, _, c3], xl) = x_completed(&c).await;
    let before = notes(&c.state().await, &x).len();
    assert_eq!(c.add_to_plan(&tp, &c3).await.status, 201);
    let s = c.state().await;
    let view = plan_view(&s, &tp, &x);
    assert_eq!(view["status"], "Completed");
    assert_eq!(view["lockedCourses"], json!([c3]));
    assert_eq!(s["trainingPlans"][0]["courses"][2]["required"], true);
    assert!(row(&s, &x, &c3).is_none());
    assert!(notes_since(&s, &x, before).is_empty());
    assert_eq!(c.progress(&xl, &c3, "InProgress", None).await.code(), "NotEnrolled", "a locked course has no progress");

    let reset = c.sim("POST", "retake", json!({"user": xl, "courseId": tp})).await;
    assert_eq!(reset.status, 200, "{reset:?}");
    let s = c.state().await;
    assert_ne!(plan_view(&s, &tp, &x)["status"], "Completed");
    c.check_invariants();
}

#[actix_web::test]
async fn at20_scenario5_course_completed_outside_the_plan() {
    let c = Client::new().await;
    let (tp, x, [_, _, c3], xl) = x_completed(&c).await;
    c.enrolled(&c3, &xl).await;
    c.complete(&xl, &c3).await;
    let before = notes(&c.state().await, &x).len();
    assert_eq!(c.add_to_plan(&tp, &c3).await.status, 201);
    let s = c.state().await;
    let view = plan_view(&s, &tp, &x);
    assert_eq!(view["status"], "Completed");
    let shown = view["courses"].as_array().and_then(|l| l.iter().find(|x| x["courseId"] == c3.as_str())).cloned();
    assert_eq!(shown.map(|x| (x["status"].clone(), x["locked"].clone())), Some((json!("Completed"), json!(false))));
    assert_eq!(row(&s, &x, &c3).map(|r| r["passingStatus"].clone()), Some(json!("Completed")));
    assert!(notes_since(&s, &x, before).is_empty(), "no TP or course notification");
    c.check_invariants();
}

#[actix_web::test]
async fn at21_required_flag() {
    let c = Client::new().await;
    let (tp, x, [_, c2, c3], xl) = x_in_progress(&c).await;
    c.add_to_plan(&tp, &c3).await;
    assert_eq!(plan_view(&c.state().await, &tp, &x)["progress"], 33);
    let patched = c.sim("PATCH", &format!("training-plans/{tp}/courses/{c3}"), json!({"required": false})).await;
    assert_eq!((patched.status, patched.body["required"].clone()), (200, json!(false)));
    assert_eq!(plan_view(&c.state().await, &tp, &x)["progress"], 50);
    c.complete(&xl, &c2).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    assert_ne!(row(&s, &x, &c3).map(|r| r["passingStatus"].clone()), Some(json!("Completed")));
    c.check_invariants();
}

#[actix_web::test]
async fn t1_existing_enrollments_keep_their_status_and_gain_the_plan_source() {
    let c = Client::new().await;
    let (c1, c2) = (c.course("C1").await, c.course("C2").await);
    let tp = c.plan("T", &[&c1, &c2]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    let direct = c.enrolled(&c1, &ul).await;
    c.progress(&ul, &c1, "InProgress", Some(30)).await;
    c.enrolled(&tp, &ul).await;
    let s = c.state().await;
    let r1 = row(&s, &u, &c1).cloned().unwrap_or_default();
    assert_eq!((r1["id"].as_str(), r1["progress"].clone()), (Some(direct.as_str()), json!(30)));
    assert_eq!(sources(&s, &u, &c1), vec!["direct".to_string(), format!("tp:{tp}")]);
    let feed = c
        .get(&with_query(
            "/odata/v2/Enrollments",
            &[("$filter", &format!("UserId eq {u} and IsPartOfTrainingPlan eq true"))],
        ))
        .await;
    assert_eq!(feed.body["value"].as_array().map(Vec::len), Some(2), "{feed:?}");
    assert_eq!(plan_view(&s, &tp, &u)["status"], "InProgress");
}

#[actix_web::test]
async fn t2_unenrolling_ends_only_the_plan_sources() {
    let c = Client::new().await;
    let (c1, c2, c3) = (c.course("C1").await, c.course("C2").await, c.course("C3").await);
    let t1 = c.plan("T1", &[&c1, &c2, &c3]).await;
    let t2 = c.plan("T2", &[&c2]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    let group = "6f0e2b1c-0000-4000-8000-00000000a002";
    c.sim("POST", "groups", json!({"objectId": group, "members": [oid_of("u@contoso.test")]})).await;
    assert_eq!(c.enroll(&c3, &format!("c:0t.c|tenant|{group}")).await.status, 201);
    c.enrolled(&c1, &ul).await;
    let t1_enrollment = c.enrolled(&t1, &ul).await;
    c.enrolled(&t2, &ul).await;
    assert_eq!(c.cancel(&t1_enrollment).await.status, 204);
    let s = c.state().await;
    assert!(!active(&s, &u, &t1));
    assert_eq!(sources(&s, &u, &c1), vec!["direct"], "direct stays");
    assert_eq!(sources(&s, &u, &c2), vec![format!("tp:{t2}")], "other plan stays");
    assert_eq!(sources(&s, &u, &c3), vec![format!("group:{group}")], "group stays");
    c.check_invariants();
}

#[actix_web::test]
async fn t3_course_enrollment_never_reaches_a_plan() {
    let c = Client::new().await;
    let c1 = c.course("C1").await;
    let tp = c.plan("T", &[&c1]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    c.enrolled(&c1, &ul).await;
    c.complete(&ul, &c1).await;
    let s = c.state().await;
    assert!(row(&s, &u, &tp).is_none());
    assert_eq!(s["trainingPlanLearners"], json!([]));
}

#[actix_web::test]
async fn t4_cancelled_completion_comes_back_through_the_plan() {
    let c = Client::new().await;
    let (c1, c2) = (c.course("C1").await, c.course("C2").await);
    let tp = c.plan("T", &[&c1, &c2]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    let e1 = c.enrolled(&c1, &ul).await;
    c.complete(&ul, &c1).await;
    assert_eq!(c.cancel(&e1).await.status, 204);
    c.enrolled(&tp, &ul).await;
    let s = c.state().await;
    let r = row(&s, &u, &c1).cloned().unwrap_or_default();
    assert_eq!(
        (r["id"].as_str(), r["active"].clone(), r["passingStatus"].clone()),
        (Some(e1.as_str()), json!(true), json!("Completed"))
    );
    assert_eq!(plan_view(&s, &tp, &u)["progress"], 50);
}

#[actix_web::test]
async fn t4_all_courses_done_before_enrolling_completes_the_plan() {
    let c = Client::new().await;
    let c1 = c.course("C1").await;
    let tp = c.plan("T", &[&c1]).await;
    let (u, ul) = c.user("u@contoso.test").await;
    c.enrolled(&c1, &ul).await;
    c.complete(&ul, &c1).await;
    c.enrolled(&tp, &ul).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &u)["status"], "Completed");
    let logged = notes(&s, &u);
    assert_eq!(logged.last().map(|n| n.0.as_str()), Some("TrainingPlanProgress"));
}

#[actix_web::test]
async fn t5_locked_classroom_course_gets_ilt_notifications_when_auto_enrolled() {
    let c = Client::new().await;
    let (tp, x, [_, c2, _], xl) = x_in_progress(&c).await;
    let ilt = c.course_of_type("Workshop", "ClassRoom").await;
    c.add_to_plan(&tp, &ilt).await;
    let before = notes(&c.state().await, &x).len();
    c.complete(&xl, &c2).await;
    let s = c.state().await;
    let logged = notes_since(&s, &x, before);
    assert!(logged.contains(&("IltEnrollmentConfirmation".into(), ilt.clone())), "{logged:?}");
    assert!(logged.contains(&("IltCalendarInvite".into(), ilt.clone())), "{logged:?}");
    assert!(!logged.iter().any(|(k, course)| k == "CourseEnrollmentConfirmation" && *course == ilt));
    assert!(logged.contains(&("CourseCompletionConfirmation".into(), c2.clone())));
    assert!(logged.contains(&("TrainingPlanProgress".into(), tp.clone())));
}

#[actix_web::test]
async fn t5_added_course_gets_the_time_it_was_added() {
    let c = Client::new().await;
    let c1 = c.course("C1").await;
    let tp = c.plan("T", &[]).await;
    let at = "2024-03-01T09:30:00Z";
    let link = c
        .sim("POST", &format!("training-plans/{tp}/courses"), json!({"courseId": c1, "at": at, "required": false}))
        .await;
    assert_eq!(link.body, json!({"courseId": c1, "order": 1, "required": false, "addedAt": at}));
    let again = c.add_to_plan(&tp, &c1).await;
    assert_eq!((again.status, again.code()), (409, "CourseAlreadyInTrainingPlan"));
    let nested = c.add_to_plan(&tp, &tp).await;
    assert_eq!(nested.status, 400);
    let odata = c.get(&with_query("/odata/v2/TrainingPlans", &[("$expand", "Courses")])).await;
    let links = &odata.body["value"][0]["Courses"][0];
    assert_eq!(links["CourseId"], c1.as_str());
    assert_eq!(links["TrainingPlanId"], tp.as_str());
    assert_eq!(
        (links["Order"].clone(), links["IsRequired"].clone(), links["AddedAt"].clone()),
        (json!(1), json!(false), json!(at))
    );
}

#[actix_web::test]
async fn t6_not_required_completes_the_plan_at_once() {
    let c = Client::new().await;
    let (tp, x, [c1, c2, c3], xl) = x_in_progress(&c).await;
    c.complete(&xl, &c2).await;
    // C3 arrives after completion: locked, plan stays Completed (sticky).
    c.add_to_plan(&tp, &c3).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");

    // A fresh learner who has C1 and C2 done but not C3: making C3 optional completes the plan.
    let (y, yl) = c.user("y@contoso.test").await;
    c.enrolled(&tp, &yl).await;
    c.complete(&yl, &c1).await;
    c.complete(&yl, &c2).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &y)["progress"], 66);
    let y_before = notes(&s, &y).len();
    c.sim("PATCH", &format!("training-plans/{tp}/courses/{c3}"), json!({"required": false})).await;
    let s = c.state().await;
    assert_eq!(plan_view(&s, &tp, &y)["status"], "Completed");
    assert_eq!(notes_since(&s, &y, y_before), vec![("TrainingPlanProgress".to_string(), tp.clone())]);
    c.check_invariants();
}

#[actix_web::test]
async fn completed_is_sticky_until_the_plan_itself_is_reset() {
    let c = Client::new().await;
    let (tp, x, [c1, _, _], xl) = x_completed(&c).await;
    // Resetting one course does not reopen the plan.
    assert_eq!(c.sim("POST", "retake", json!({"user": xl, "courseId": c1})).await.status, 200);
    let s = c.state().await;
    assert_eq!(row(&s, &x, &c1).map(|r| r["passingStatus"].clone()), Some(json!("NotStarted")));
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    // An admin reset of the plan keeping course progress recomputes from the courses.
    let keep = c.sim("POST", "retake", json!({"user": xl, "courseId": tp, "keepCourseProgress": true})).await;
    assert_eq!(keep.status, 200);
    let s = c.state().await;
    assert_eq!(
        (plan_view(&s, &tp, &x)["status"].clone(), plan_view(&s, &tp, &x)["progress"].clone()),
        (json!("InProgress"), json!(50))
    );
    // A full retake resets every course of the plan.
    c.sim("POST", "retake", json!({"user": xl, "courseId": tp})).await;
    let s = c.state().await;
    assert_eq!(
        (plan_view(&s, &tp, &x)["status"].clone(), plan_view(&s, &tp, &x)["progress"].clone()),
        (json!("NotStarted"), json!(0))
    );
    // The OData actions: Complete on the plan row (admin) and Retake.
    let plan_row = row(&s, &x, &tp).map(|r| r["id"].as_str().unwrap_or_default().to_string()).unwrap_or_default();
    assert_eq!(c.post(&format!("/odata/v2/Enrollments({plan_row})/Complete"), Value::Null).await.status, 204);
    assert_eq!(plan_view(&c.state().await, &tp, &x)["status"], "Completed");
    assert_eq!(c.post(&format!("/odata/v2/Enrollments({plan_row})/Retake"), Value::Null).await.status, 204);
    assert_eq!(plan_view(&c.state().await, &tp, &x)["status"], "NotStarted");
    // PATCH of the plan's status: 0 completes it, another value is an admin reset.
    let path = format!("/odata/v2/Enrollments({plan_row})");
    assert_eq!(c.send("PATCH", &path, Some(json!({"CoursePassingStatus": 0})), Some(FULL)).await.status, 204);
    assert_eq!(plan_view(&c.state().await, &tp, &x)["status"], "Completed");
    c.complete(&xl, &c1).await;
    assert_eq!(
        c.send("PATCH", &path, Some(json!({"CoursePassingStatus": "InProgress"})), Some(FULL)).await.status,
        204
    );
    assert_eq!(plan_view(&c.state().await, &tp, &x)["progress"], 50, "recomputed from the courses");
    c.check_invariants();
}

#[actix_web::test]
async fn a_deleted_course_leaves_its_plans_and_takes_its_enrollments() {
    let c = Client::new().await;
    let (tp, x, [c1, c2, _], _) = x_in_progress(&c).await;
    assert_eq!(c.sim("DELETE", &format!("courses/{c2}"), Value::Null).await.status, 204);
    let s = c.state().await;
    assert!(row(&s, &x, &c2).is_none(), "the deleted course's enrollment is gone");
    assert!(active(&s, &x, &c1) && active(&s, &x, &tp));
    let links: Vec<&str> = s["courses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == json!(tp))
        .map(|v| v["courses"].as_array().unwrap().iter().map(|l| l["courseId"].as_str().unwrap()).collect())
        .unwrap();
    assert_eq!(links, vec![c1.as_str()]);
    // C1 was completed: with C2 gone, the plan is complete.
    assert_eq!(plan_view(&s, &tp, &x)["status"], "Completed");
    assert_eq!(c.get(&format!("/odata/v2/Courses('{c2}')")).await.status, 404);
    assert_eq!(c.sim("DELETE", &format!("courses/{c2}"), Value::Null).await.status, 404);
    c.check_invariants();
}
