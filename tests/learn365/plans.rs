//! AT-13..AT-21: training plans through the whole chain. Membership of a mapped Entra group enrolls the
//! learner in the plan (the plugin), Learn365 enrolls the plan's courses and applies its own rules
//! (the simulator); progress and plan edits are what a learner or a Learn365 admin does there.

use super::*;
use crate::common::Backend;

fn ids(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_lowercase()).collect()
}

/// AT-13: enrolled in the plan and all its courses, NotStarted at 0 %; unenrolled from all of them.
async fn at13(backend: Backend) {
    let sim = learn365(&[]).await;
    let (c1, c2, c3) = (sim.course("C1").await, sim.course("C2").await, sim.course("C3").await);
    let t = sim.plan("Getting started with LMS365", &[&c1, &c2, &c3]).await;
    let Some(r) = Rig::new(backend, "l365-at13", sim, mapping("Onboarding", &[], &[&t])).await else { return };
    let u = r.user("u@contoso.com").await;
    let g = r.group("Onboarding").await;
    r.add(&g, &[&u]).await;
    let s = r.synced().await;
    assert_eq!(s.active_items("u@contoso.com"), ids(&[&t, &c1, &c2, &c3]));
    let l = s.learner("u@contoso.com", &t);
    assert_eq!((l["status"].as_str(), l["progress"].as_u64()), (Some("NotStarted"), Some(0)), "{l}");
    r.remove(&g, &[&u]).await;
    let s = r.synced().await;
    assert!(s.active_items("u@contoso.com").is_empty(), "{:?}", s.active_items("u@contoso.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at13_training_plan_enroll_and_unenroll() {
    at13(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at13_training_plan_enroll_and_unenroll_postgres() {
    at13(Backend::Postgres).await;
}

/// AT-14: the group's member gets the plan (source: the group, tracked by the plugin) and its courses
/// (Learn365's `tp:T`); removed, nothing stays active but the recorded progress is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at14_group_enrollment_follows_membership() {
    let sim = learn365(&[]).await;
    let (c1, c2) = (sim.course("C1").await, sim.course("C2").await);
    let t = sim.plan("T", &[&c1, &c2]).await;
    let Some(r) = Rig::new(Backend::Sqlite, "l365-at14", sim, mapping("New hires", &[], &[&t])).await else { return };
    let v = r.user("v@contoso.com").await;
    let g = r.group("New hires").await;
    r.add(&g, &[&v]).await;
    let s = r.synced().await;
    assert_eq!(s.active_items("v@contoso.com"), ids(&[&t, &c1, &c2]));
    for c in [&c1, &c2] {
        let e = s.enrollment("v@contoso.com", c).expect("course enrollment");
        assert_eq!(e["isPartOfTrainingPlan"], true, "{e}");
        assert_eq!(e["sources"], json!([format!("tp:{t}")]), "{e}");
    }
    // The plugin's record: the plan's source is the group, and the enrollment is the gateway's own.
    let mine = r.resource(&format!("enrollments?user={v}")).await;
    let text = mine.to_string();
    assert!(text.contains(&g) && text.to_lowercase().contains(&t.to_lowercase()), "{mine}");

    r.sim.progress("v@contoso.com", &c1, "Completed", None).await;
    r.remove(&g, &[&v]).await;
    let s = r.synced().await;
    assert!(s.active_items("v@contoso.com").is_empty(), "{:?}", s.active_items("v@contoso.com"));
    let e = s.enrollment("v@contoso.com", &c1).expect("the C1 record is kept");
    assert_eq!((e["active"].clone(), e["passingStatus"].clone()), (json!(false), json!("Completed")), "{e}");
    // Back in the group: the same enrollment again, its progress with it.
    r.add(&g, &[&v]).await;
    let s = r.synced().await;
    assert_eq!(s.enrollment("v@contoso.com", &c1).map(|e| e["passingStatus"].clone()), Some(json!("Completed")));
}

/// AT-15: no enrollment across plans, completion carried over, and the removal of the group's source
/// does not cancel an enrollment the gateway did not create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at15_no_cross_enrollment_and_carry_over() {
    let sim = learn365(&[]).await;
    let (c1, c2, c3) = (sim.course("C1").await, sim.course("C2").await, sim.course("C3").await);
    let t1 = sim.plan("T1", &[&c1, &c2]).await;
    let t2 = sim.plan("T2", &[&c2, &c3]).await;
    let Some(r) = Rig::new(Backend::Sqlite, "l365-at15", sim, mapping("Team", &[], &[&t1])).await else { return };
    let w = r.user("w@contoso.com").await;
    r.user("y@contoso.com").await;
    r.synced().await;
    r.sim.enroll_directly("w@contoso.com", &c2).await;
    r.sim.progress("w@contoso.com", &c2, "Completed", None).await;
    r.sim.enroll_directly("y@contoso.com", &c3).await;
    let g = r.group("Team").await;
    r.add(&g, &[&w]).await;
    let s = r.synced().await;
    assert_eq!(s.active_items("w@contoso.com"), ids(&[&t1, &c1, &c2]), "not T2, not C3");
    assert!(s.enrollment("w@contoso.com", &t2).is_none() && s.enrollment("w@contoso.com", &c3).is_none());
    let l = s.learner("w@contoso.com", &t1);
    assert_eq!(l["progress"], 50, "{l}");
    let c2_in_t1 = l["courses"].as_array().and_then(|cs| cs.iter().find(|c| c["courseId"] == json!(c2))).cloned();
    assert_eq!(c2_in_t1.map(|c| c["status"].clone()), Some(json!("Completed")));
    assert_eq!(s.active_items("y@contoso.com"), ids(&[&c3]), "an individual C3 learner is not put in T2");
    r.remove(&g, &[&w]).await;
    let s = r.synced().await;
    assert_eq!(s.active_items("w@contoso.com"), ids(&[&c2]), "W's own C2 enrollment stays");
}

/// Learner X of T {C1, C2} through a mapped group, C1 Completed and C2 InProgress (T: 50 %).
async fn scenario(label: &str, before: impl AsyncFnOnce(&L365, &str)) -> Option<(Rig, [String; 4])> {
    let sim = learn365(&[]).await;
    let (c1, c2, c3) = (sim.course("C1").await, sim.course("C2").await, sim.course("C3").await);
    let t = sim.plan("T", &[&c1, &c2]).await;
    let r = Rig::new(Backend::Sqlite, label, sim, mapping("Learners", &[], &[&t])).await?;
    let x = r.user("x@contoso.com").await;
    r.synced().await;
    before(&r.sim, &c3).await;
    let g = r.group("Learners").await;
    r.add(&g, &[&x]).await;
    r.synced().await;
    r.sim.progress("x@contoso.com", &c1, "Completed", None).await;
    r.sim.progress("x@contoso.com", &c2, "InProgress", Some(50)).await;
    Some((r, [t, c1, c2, c3]))
}

fn c3_notes(s: &State, c3: &str) -> Vec<String> {
    s.notifications("x@contoso.com").into_iter().filter(|(_, c)| c.eq_ignore_ascii_case(c3)).map(|(k, _)| k).collect()
}

/// AT-16 (scenario #1): C3 added, locked, 33 %; completing C2 enrolls C3 (one confirmation), 66 %;
/// completing C3 completes T.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at16_course_added_to_a_plan_in_progress() {
    let Some((r, [t, _c1, c2, c3])) = scenario("l365-at16", async |_, _| {}).await else { return };
    assert_eq!(r.sim.add_to_plan(&t, &c3).await["required"], true);
    let s = r.sim.state().await;
    let l = s.learner("x@contoso.com", &t);
    assert_eq!((l["status"].as_str(), l["progress"].as_u64()), (Some("InProgress"), Some(33)), "{l}");
    assert!(!s.active("x@contoso.com", &c3) && s.locked("x@contoso.com", &t, &c3));
    assert!(c3_notes(&s, &c3).is_empty());
    r.sim.progress("x@contoso.com", &c2, "Completed", None).await;
    let s = r.sim.state().await;
    assert!(s.active("x@contoso.com", &c3) && !s.locked("x@contoso.com", &t, &c3));
    assert_eq!(c3_notes(&s, &c3), ["CourseEnrollmentConfirmation"]);
    assert_eq!(s.learner("x@contoso.com", &t)["progress"], 66);
    r.sim.progress("x@contoso.com", &c3, "Completed", None).await;
    assert_eq!(r.sim.state().await.learner("x@contoso.com", &t)["status"], "Completed");
}

/// AT-17 (scenario #2): X's own C3 enrollment at 40 % is kept as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at17_course_added_that_the_learner_already_takes() {
    let Some((r, [t, _, _, c3])) = scenario("l365-at17", async |sim, c3| {
        sim.enroll_directly("x@contoso.com", c3).await;
        sim.progress("x@contoso.com", c3, "InProgress", Some(40)).await;
    })
    .await
    else {
        return;
    };
    let before = c3_notes(&r.sim.state().await, &c3);
    r.sim.add_to_plan(&t, &c3).await;
    let s = r.sim.state().await;
    let e = s.enrollment("x@contoso.com", &c3).expect("C3");
    assert_eq!((e["active"].clone(), e["progress"].clone()), (json!(true), json!(40)), "{e}");
    assert!(!s.locked("x@contoso.com", &t, &c3));
    let l = s.learner("x@contoso.com", &t);
    assert_eq!((l["status"].as_str(), l["progress"].as_u64()), (Some("InProgress"), Some(33)), "{l}");
    assert_eq!(c3_notes(&s, &c3), before, "nothing about C3 until X completes it");
}

/// Learner X who completed T {C1, C2} (then `extra` runs before C3 is added).
async fn completed(label: &str, before: impl AsyncFnOnce(&L365, &str)) -> Option<(Rig, [String; 4])> {
    let (r, ids) = scenario(label, before).await?;
    r.sim.progress("x@contoso.com", &ids[2], "Completed", None).await;
    assert_eq!(r.sim.state().await.learner("x@contoso.com", &ids[0])["status"], "Completed");
    Some((r, ids))
}

/// AT-18 (scenario #3): T stays Completed; completing C3 later logs exactly one completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at18_course_added_to_a_completed_plan_the_learner_takes() {
    let Some((r, [t, _, _, c3])) =
        completed("l365-at18", async |sim, c3| sim.enroll_directly("x@contoso.com", c3).await).await
    else {
        return;
    };
    let tp_notes =
        |s: &State| s.notifications("x@contoso.com").iter().filter(|(k, _)| k == "TrainingPlanProgress").count();
    let before = r.sim.state().await;
    r.sim.add_to_plan(&t, &c3).await;
    let s = r.sim.state().await;
    assert_eq!(s.learner("x@contoso.com", &t)["status"], "Completed");
    assert!(s.active("x@contoso.com", &c3));
    assert_eq!(tp_notes(&s), tp_notes(&before), "no plan notification");
    let done_before = c3_notes(&s, &c3).iter().filter(|k| *k == "CourseCompletionConfirmation").count();
    r.sim.progress("x@contoso.com", &c3, "Completed", None).await;
    let s = r.sim.state().await;
    let done = c3_notes(&s, &c3).iter().filter(|k| *k == "CourseCompletionConfirmation").count();
    assert_eq!(done, done_before + 1, "exactly one completion confirmation");
    assert_eq!(s.learner("x@contoso.com", &t)["status"], "Completed");
}

/// AT-19 (scenario #4): T stays Completed, C3 locked and not enrolled; a retake ends Completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at19_course_added_to_a_completed_plan_the_learner_lacks() {
    let Some((r, [t, _, _, c3])) = completed("l365-at19", async |_, _| {}).await else { return };
    let notes = r.sim.state().await.notifications("x@contoso.com").len();
    assert_eq!(r.sim.add_to_plan(&t, &c3).await["required"], true);
    let s = r.sim.state().await;
    assert_eq!(s.learner("x@contoso.com", &t)["status"], "Completed");
    assert!(!s.active("x@contoso.com", &c3) && s.locked("x@contoso.com", &t, &c3));
    assert_eq!(s.notifications("x@contoso.com").len(), notes, "nothing logged");
    r.sim.retake("x@contoso.com", &t).await;
    assert_ne!(r.sim.state().await.learner("x@contoso.com", &t)["status"], "Completed");
}

/// AT-20 (scenario #5): C3 completed outside T before it is added: Completed inside T, nothing logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at20_course_completed_outside_then_added() {
    let Some((r, [t, _, _, c3])) = completed("l365-at20", async |sim, c3| {
        sim.enroll_directly("x@contoso.com", c3).await;
        sim.progress("x@contoso.com", c3, "Completed", None).await;
    })
    .await
    else {
        return;
    };
    let notes = r.sim.state().await.notifications("x@contoso.com").len();
    r.sim.add_to_plan(&t, &c3).await;
    let s = r.sim.state().await;
    let l = s.learner("x@contoso.com", &t);
    assert_eq!(l["status"], "Completed");
    let inside = l["courses"].as_array().and_then(|cs| cs.iter().find(|c| c["courseId"] == json!(c3))).cloned();
    assert_eq!(inside.map(|c| c["status"].clone()), Some(json!("Completed")), "{l}");
    assert_eq!(s.notifications("x@contoso.com").len(), notes, "no notification");
}

/// AT-21 (T6): C3 not required → 50 %; completing C2 completes T without C3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at21_required_flag() {
    let Some((r, [t, _, c2, c3])) = scenario("l365-at21", async |_, _| {}).await else { return };
    r.sim.add_to_plan(&t, &c3).await;
    r.sim.required(&t, &c3, false).await;
    assert_eq!(r.sim.state().await.learner("x@contoso.com", &t)["progress"], 50);
    r.sim.progress("x@contoso.com", &c2, "Completed", None).await;
    let s = r.sim.state().await;
    assert_eq!(s.learner("x@contoso.com", &t)["status"], "Completed", "C3 is not required");
}
