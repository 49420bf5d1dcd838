//! Scenarios: L1–L4, sources, ownership (201 / 200 / lost answers), training plans, renames, mapping
//! changes through the job, large membership changes, delivery outcomes and the admin resources.

use super::*;

#[test]
fn l1_identity_is_sent_when_first_seen_and_when_an_l1_field_changes() {
    let mut h = Harness::mapped(&[]);
    let ops = h.create_user("ada");
    let [Operation::UpsertUser(op)] = &ops[..] else { panic!("{ops:?}") };
    assert_eq!(op.login, "i:0#.f|membership|ada@contoso.com");
    let fields: Value = serde_json::from_str(&op.fields_json).unwrap();
    assert_eq!(fields["DirectoryObjectId"], json!(oid("ada")));
    assert_eq!((fields["Title"].as_str(), fields["City"].as_str()), (Some("User ada"), Some("Oslo")));
    let lu = h.learn365_user("ada");
    assert_eq!(lu.fields["Company"], json!("Contoso"));
    let mut ada = user("ada");
    ada.manager_id = Some("boss".into());
    ada.given_name = Some("Augusta".into()); // Not a Learn365 field.
    assert!(h.update_user(ada.clone()).is_empty(), "manager and first name: nothing");
    ada.department = Some("Maths".into());
    assert_eq!(h.update_user(ada.clone()).len(), 1);
    assert_eq!(h.learn365_user("ada").fields["Department"], json!("Maths"));
    // A new UPN follows the objectId: same Learn365 user, new login.
    let before = h.learn365_user("ada").id.clone();
    ada.user_name = "ada.lovelace@contoso.com".into();
    h.update_user(ada);
    assert_eq!(h.learn365_user("ada").id, before);
    assert_eq!(h.fake.users.len(), 1);
    h.check();
}

#[test]
fn l2_members_of_mapped_groups_are_enrolled_with_their_source() {
    let mut h = Harness::mapped(&[("New hires", &[C[0]], &[T[1]])]);
    h.create_user("u1");
    h.create_group("g1", "New hires");
    let ops = h.add("g1", &["u1"]);
    assert_eq!(
        enrolls(&ops),
        [("enroll".into(), C[0].into(), "group:g1".into()), ("enroll".into(), T[1].into(), "group:g1".into())]
    );
    assert!(matches!(&ops[0], Operation::Custom(c) if c.kind == crate::apply::PRECHECK), "precheck first: {ops:?}");
    assert_eq!(h.holds("u1", C[0]).unwrap().creator, Creator::Plugin);
    assert_eq!(h.holds("u1", C[2]).unwrap().creator, Creator::Plan(T[1].into()), "T1 of the training plan");
    h.check();
    let ops = h.remove("g1", &["u1"]);
    assert_eq!(enrolls(&ops).len(), 2);
    assert!(h.holds("u1", C[0]).is_none() && h.holds("u1", T[1]).is_none() && h.holds("u1", C[2]).is_none());
    h.check();
}

#[test]
fn an_enrollment_stays_while_any_source_holds_it() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[]), ("B", &[C[0], C[1]], &[])]);
    h.create_user("u1");
    h.create_group("ga", "A");
    h.create_group("gb", "B");
    assert_eq!(enrolls(&h.add("ga", &["u1"])).len(), 1);
    assert_eq!(enrolls(&h.add("gb", &["u1"])), [("enroll".into(), C[1].into(), "group:gb".into())]);
    assert!(enrolls(&h.remove("ga", &["u1"])).is_empty(), "B still entitles");
    assert!(h.holds("u1", C[0]).is_some());
    let ops = h.remove("gb", &["u1"]);
    assert_eq!(enrolls(&ops).len(), 2);
    assert!(enrolls(&ops).iter().all(|(_, _, s)| s == "group:gb"), "the unenroll names the source that ended");
    assert!(h.holds("u1", C[0]).is_none());
    h.check();
}

#[test]
fn a_pre_existing_enrollment_is_never_cancelled() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[])]);
    h.create_user("u1");
    h.create_group("ga", "A");
    h.fake.admin_enroll(&claims("u1@contoso.com"), C[0]);
    let before = h.fake.requests;
    h.add("ga", &["u1"]);
    assert_eq!(h.fake.requests - before, 1, "the precheck found it: no Enroll sent");
    h.remove("ga", &["u1"]);
    assert_eq!(h.holds("u1", C[0]).unwrap().creator, Creator::Admin);
    h.check();
    // An admin's enrollment made after the plugin's check: the Enroll answers 200, not ours.
    h.fake.admin_enroll(&claims("u1@contoso.com"), C[1]);
    let mut out = h.world.users["u1"].clone();
    out.display_name = Some("U1".into());
    h.update_user(out);
    h.reconfigure(&config_json(&[("A".into(), vec![C[0], C[1]], vec![])], "keepHistory"));
    h.add("ga", &["u1"]);
    h.remove("ga", &["u1"]);
    assert_eq!(h.holds("u1", C[1]).unwrap().creator, Creator::Admin);
    h.check();
}

#[test]
fn a_retried_enroll_whose_answer_was_lost_is_ours() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[T[0]])]);
    h.create_user("u1");
    h.create_group("ga", "A");
    // Precheck answered; the course's Enroll is applied but its answer lost; the plan's: 503, then lost.
    h.fake.script.extend([Fault::Pass, Fault::Lost, Fault::Pass, Fault::Unavailable, Fault::Lost]);
    h.add("ga", &["u1"]);
    let rec: state::DeliverRec = state::load(&h.world, "d:u1").unwrap().unwrap();
    assert!(rec.enr.values().all(|e| e.st == state::St::Ours), "{rec:?}");
    h.remove("ga", &["u1"]);
    assert!(h.holds("u1", C[0]).is_none() && h.holds("u1", T[0]).is_none() && h.holds("u1", C[1]).is_none());
    h.check();
}

#[test]
fn without_the_precheck_a_retried_200_is_not_claimed() {
    let mut h = Harness::mapped(&[]);
    h.create_user("u1");
    h.fake.admin_enroll(&claims("u1@contoso.com"), C[0]);
    let op = Operation::Enroll(scimgw_plugin_sdk::EnrollmentOp {
        principal: scimgw_plugin_sdk::Principal::User("u1".into()),
        item: C[0].into(),
        item_kind: "course".into(),
        source: Some("group:g".into()),
    });
    h.fake.budget = 16;
    let out = deliver::deliver(&mut h.world, &mut h.fake, &h.config, 3, &op).unwrap();
    assert!(matches!(out, Outcome::Done(_)));
    let rec: state::DeliverRec = state::load(&h.world, "d:u1").unwrap().unwrap();
    assert_eq!(rec.enr[C[0]].st, state::St::Theirs);
}

#[test]
fn a_precheck_reads_the_users_list_and_per_item_when_it_is_long() {
    let mut h = Harness::mapped(&[]);
    h.create_user("u1");
    for c in [C[0], C[2], C[3], C[4]] {
        h.fake.admin_enroll(&claims("u1@contoso.com"), c);
    }
    let mut items: Vec<String> = C.iter().map(|s| (*s).to_owned()).collect();
    items.extend((0..8).map(|i| format!("d0000000-0000-4000-8000-00000000000{i}")));
    let payload = crate::apply::Precheck { user: "u1".into(), items };
    let op = Operation::Custom(scimgw_plugin_sdk::CustomOp {
        kind: crate::apply::PRECHECK.into(),
        ordering: scimgw_plugin_sdk::Ordering::User("u1".into()),
        payload_json: serde_json::to_string(&payload).unwrap(),
    });
    let before = h.fake.requests;
    assert!(matches!(h.deliver_one(&op), Outcome::Done(_)));
    assert_eq!(h.fake.requests - before, 2, "4 enrollments, 3 a page: two pages through @odata.nextLink");
    let rec: state::DeliverRec = state::load(&h.world, "d:u1").unwrap().unwrap();
    assert_eq!(rec.enr.len(), 13);
    assert_eq!(rec.enr.values().filter(|e| e.st == state::St::Theirs).count(), 4);
    // A list longer than 10 pages: per item when there are few.
    h.fake.page_size = 2;
    for c in C.iter().chain(T.iter()) {
        for i in 0..3 {
            h.fake.enrollments.push(fake::Enrollment {
                id: format!("old-{c}-{i}"),
                course: (*c).into(),
                user: h.learn365_user("u1").id.clone(),
                active: false,
                creator: Creator::Admin,
                completed: None,
                due: None,
            });
        }
    }
    let payload = crate::apply::Precheck { user: "u1".into(), items: vec![C[0].into(), C[1].into()] };
    let op = Operation::Custom(scimgw_plugin_sdk::CustomOp {
        kind: crate::apply::PRECHECK.into(),
        ordering: scimgw_plugin_sdk::Ordering::User("u1".into()),
        payload_json: serde_json::to_string(&payload).unwrap(),
    });
    let before = h.fake.requests;
    assert!(matches!(h.deliver_one(&op), Outcome::Done(_)));
    assert_eq!(h.fake.requests - before, 10 + 2 + 2, "10 pages, then C0 (4 rows) and C1 (3 rows), 2 a page");
    let rec: state::DeliverRec = state::load(&h.world, "d:u1").unwrap().unwrap();
    assert_eq!((rec.enr[C[0]].st, rec.enr[C[1]].st), (state::St::Theirs, state::St::Send));
}

#[test]
fn cancelling_our_training_plan_gives_back_courses_another_group_still_entitles() {
    let mut h = Harness::mapped(&[("Plan", &[], &[T[0]]), ("Course", &[C[0]], &[])]);
    h.create_user("u1");
    h.create_group("gp", "Plan");
    h.create_group("gc", "Course");
    h.add("gp", &["u1"]); // T0 (ours) makes C0 and C1.
    h.add("gc", &["u1"]); // C0 is held already, by the plan: theirs.
    assert_eq!(h.holds("u1", C[0]).unwrap().creator, Creator::Plan(T[0].into()));
    h.remove("gp", &["u1"]); // T2 cancels C0 and C1; the plugin enrolls C0 again.
    assert_eq!(h.holds("u1", C[0]).unwrap().creator, Creator::Plugin);
    assert!(h.holds("u1", C[1]).is_none());
    h.check();
    h.remove("gc", &["u1"]);
    assert!(h.holds("u1", C[0]).is_none());
    h.check();
}

#[test]
fn l3_disable_keeps_enrollments_and_l4_hard_delete() {
    for how in ["keepHistory", "purge"] {
        let mut h = Harness::new(&config_json(&[("A".into(), vec![C[0]], vec![T[1]])], how));
        h.create_user("u1");
        h.create_group("ga", "A");
        h.add("ga", &["u1"]);
        h.fake.admin_enroll(&claims("u1@contoso.com"), C[4]);
        let ops = h.set_active("u1", false);
        assert!(matches!(&ops[..], [Operation::UpsertUser(u)] if !u.active));
        assert!(h.holds("u1", C[0]).is_some(), "L3: enrollments unchanged");
        assert!(h.set_active("u1", false).is_empty());
        h.check();
        let lu = h.learn365_user("u1").id.clone();
        let ops = h.delete_user("u1");
        if how == "purge" {
            assert!(matches!(&ops[..], [Operation::DeleteUser(_)]), "{ops:?}");
            assert!(!h.fake.users.contains_key(&lu));
        } else {
            assert_eq!(enrolls(&ops).len(), 2);
            assert!(matches!(ops.last(), Some(Operation::DeactivateUser(_))));
            assert!(h.fake.active(&lu, C[4]).is_some(), "the admin's enrollment stays");
            assert!(h.fake.active(&lu, C[0]).is_none() && h.fake.active(&lu, C[2]).is_none());
        }
        assert!(h.world.kv.keys().all(|k| !k.ends_with("u1")), "the plugin forgets the user: {:?}", h.world.kv.keys());
        h.check();
    }
}

#[test]
fn a_deleted_group_is_as_if_every_member_left() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[]), ("B", &[C[0]], &[])]);
    for u in ["u1", "u2"] {
        h.create_user(u);
    }
    h.create_group("ga", "A");
    h.create_group("gb", "B");
    h.add("ga", &["u1", "u2"]);
    h.add("gb", &["u2"]);
    h.delete_group("ga");
    assert!(h.holds("u1", C[0]).is_none());
    assert!(h.holds("u2", C[0]).is_some(), "B still entitles u2");
    assert!(h.world.kv.keys().all(|k| !k.contains("ga")), "{:?}", h.world.kv.keys());
    h.check();
}

#[test]
fn renames_in_and_out_of_a_mapping_and_by_id_or_object_id() {
    let mut h = Harness::mapped(&[("Sales", &[C[0]], &[])]);
    h.create_user("u1");
    h.create_group("g1", "Marketing");
    h.add("g1", &["u1"]);
    assert!(h.holds("u1", C[0]).is_none());
    let ops = h.rename_group("g1", "sales"); // Matches now (case-insensitive).
    assert_eq!(enrolls(&ops).len(), 1);
    h.check();
    let ops = h.rename_group("g1", "Sales EMEA"); // No longer.
    assert_eq!(enrolls(&ops), [("unenroll".into(), C[0].into(), "group:g1".into())]);
    h.check();
    // By objectId (in any case) or SCIM id, the name does not matter.
    let json = config_json(
        &[(oid("g1").to_uppercase(), vec![C[1]], vec![]), ("g1".into(), vec![C[2]], vec![])],
        "keepHistory",
    );
    h.reconfigure(&json);
    h.rename_group("g1", "Anything");
    assert!(h.holds("u1", C[1]).is_some() && h.holds("u1", C[2]).is_some());
    h.check();
}

#[test]
fn a_mapping_change_reaches_existing_members_through_the_job() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[])]);
    for u in ["u1", "u2", "u3"] {
        h.create_user(u);
    }
    h.create_group("ga", "A");
    h.create_group("gb", "B");
    h.add("ga", &["u1", "u2"]);
    h.add("gb", &["u3"]);
    let (summary, _) = h.run_job();
    assert!(summary.starts_with("applied courseMappings"), "{summary}");
    let (summary, _) = h.run_job();
    assert!(summary.contains("nothing to do"), "{summary}");
    let json = config_json(&[("A".into(), vec![C[1]], vec![T[1]]), ("B".into(), vec![C[0]], vec![])], "keepHistory");
    h.config = Config::parse(&json).unwrap();
    // Before the job: new members get the new items at once; existing ones wait for it.
    h.add("ga", &["u3"]);
    assert!(h.holds("u3", C[1]).is_some() && h.holds("u1", C[1]).is_none());
    let (summary, _) = h.run_job();
    assert!(summary.contains("2 group(s)"), "{summary}");
    assert!(h.holds("u1", C[1]).is_some() && h.holds("u1", C[0]).is_none() && h.holds("u3", C[0]).is_some());
    h.check();
    assert!(h.run_job().0.contains("nothing to do"));
}

#[test]
fn large_membership_changes_go_through_the_job() {
    let mut h = Harness::mapped(&[("All", &[C[0], C[1]], &[T[1]])]);
    h.fake.page_size = 100;
    let ids: Vec<String> = (0..600).map(|i| format!("u{i:03}")).collect();
    for id in &ids {
        h.world.users.insert(id.clone(), user(id)); // Provisioned before the target existed.
    }
    h.create_group("g", "All");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let ops = h.add("g", &refs);
    assert!(ops.len() <= 1000, "{}", ops.len());
    assert!(h.world.get("q:g").is_some(), "the rest waits for the job");
    let (summary, calls) = h.run_job();
    assert!(calls > 1 && summary.contains("1 group(s) brought in line"), "{summary} in {calls} calls");
    h.check();
    let ops = h.remove("g", &refs[..400]);
    assert!(ops.len() <= 1000);
    h.run_job();
    h.check();
    h.delete_group("g");
    h.run_job();
    assert!(h.holds("u599", C[0]).is_none());
    h.check();
    assert!(h.world.kv.keys().all(|k| !k.starts_with("m:")), "memberships forgotten");
}

#[test]
fn delivery_outcomes() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[])]);
    h.create_user("u1");
    h.create_group("ga", "A");
    let ops =
        h.translate(Event::MembersAdded(MembersChange { group_id: "ga".into(), members: members(&["u1"]) }), false);
    h.world.groups.get_mut("ga").unwrap().members.push("u1".into());
    h.outbox.clear();
    let enroll = ops.iter().find(|o| matches!(o, Operation::Enroll(_))).unwrap().clone();
    h.fake.script.push_back(Fault::TooMany(30));
    h.fake.budget = 16;
    let out = deliver::deliver(&mut h.world, &mut h.fake, &h.config, 1, &enroll).unwrap();
    assert!(matches!(&out, Outcome::Retry(r) if r.after_secs == Some(30) && r.reason.contains("429")), "{out:?}");
    h.fake.script.push_back(Fault::Unavailable);
    h.fake.budget = 16;
    let out = deliver::deliver(&mut h.world, &mut h.fake, &h.config, 2, &enroll).unwrap();
    assert!(matches!(&out, Outcome::Retry(r) if r.after_secs.is_none() && r.reason.contains("503")), "{out:?}");
    h.fake.courses.clear();
    h.fake.budget = 16;
    let out = deliver::deliver(&mut h.world, &mut h.fake, &h.config, 3, &enroll).unwrap();
    assert!(
        matches!(&out, Outcome::Failed(m) if m.contains("CourseNotFound") && m.contains("courseMappings")),
        "{out:?}"
    );
    // Cancel of an enrollment gone already: done.
    h.fake.courses = C.iter().map(|s| (*s).to_owned()).collect();
    for op in &ops {
        h.deliver_one(op);
    }
    h.fake.enrollments.clear();
    let ops = h.remove("ga", &["u1"]);
    assert_eq!(enrolls(&ops).len(), 1);
    h.check();
}

#[test]
fn admin_resources_show_provenance() {
    let mut h = Harness::mapped(&[("A", &[C[0]], &[]), ("B", &[C[0], C[1]], &[])]);
    h.create_user("u1");
    h.create_group("ga", "A");
    h.create_group("gb", "B");
    h.fake.admin_enroll(&claims("u1@contoso.com"), C[1]);
    h.add("ga", &["u1"]);
    h.add("gb", &["u1"]);
    let get = |h: &Harness, path: &str, q: &[(&str, &str)]| {
        let req = AdminRequest {
            method: AdminMethod::Get,
            path: path.into(),
            query: q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            body_json: None,
        };
        let r = admin::handle(&h.world, &h.config, &req).unwrap();
        (r.status, serde_json::from_str::<Value>(&r.body_json).unwrap())
    };
    let (status, body) = get(&h, "enrollments", &[("user", "u1")]);
    assert_eq!(status, 200);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["sources"], json!(["group:ga", "group:gb"]));
    assert_eq!(items[0]["enrollment"]["state"], json!("ours"));
    assert_eq!(items[1]["enrollment"]["state"], json!("theirs"));
    assert_eq!(get(&h, "enrollments", &[]).0, 400);
    assert_eq!(get(&h, "enrollments?user=u1", &[]), (status, body.clone()), "a query in the path (the CLI)");
    assert_eq!(get(&h, "enrollments/u1", &[]), (status, body.clone()));
    assert_eq!(get(&h, "enrollments?user=u%31", &[]).0, 200, "percent-decoded");
    assert_eq!(get(&h, "enrollments", &[("user", "nobody")]).0, 404);
    let (_, body) = get(&h, "groups", &[]);
    assert_eq!(body["groups"].as_array().unwrap().len(), 2);
    let (_, body) = get(&h, "groups/gb", &[]);
    assert_eq!((body["members"].clone(), body["inLine"].clone()), (json!(1), json!(true)));
    let (_, body) = get(&h, "status", &[]);
    assert_eq!(body["appliedHash"], Value::Null);
    assert_eq!(get(&h, "nothing", &[]).0, 404);
    let req = AdminRequest { method: AdminMethod::Post, path: "status".into(), query: vec![], body_json: None };
    assert_eq!(admin::handle(&h.world, &h.config, &req).unwrap().status, 405);
}

#[test]
fn config_errors_stop_translation() {
    let err = Config::parse(r#"{"baseUrl":"https://x","courseMappings":[{"group":"A","courses":["x"]}]}"#).unwrap_err();
    assert!(matches!(err, PluginError::Config(m) if m.contains("courseMappings[0].courses[0]")));
}
