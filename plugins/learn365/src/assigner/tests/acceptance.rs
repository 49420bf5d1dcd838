//! AT-22 … AT-34 (`docs/spec/acceptance.md`; rules in `docs/spec/assigner.md` §4) as far as the engine
//! decides them: the members a maintenance computes from a snapshot, the A8 outcomes, and the group
//! name. (Entra groups, e-mails, the lock and the jobs' timing are the I/O side's.)

use super::*;

fn person(id: &str, city: &str, position: &str) -> UserRecord {
    user(id, &[("City", city), ("Position", position)])
}

#[test]
fn at22_and_or_property_rules() {
    let s = snap(&[
        person("u1", "Las Vegas", "Customer Success Manager"),
        person("u2", "Denver", "Customer Success Manager"),
        person("u3", "Denver", "Sales Manager"),
        person("u4", "Boston", "Customer Success Manager"),
        person("u5", "san diego ", "customer success manager"),
    ]);
    let p = profile(
        r#""properties":{"op":"AND","children":[
            {"op":"OR","children":[
                {"source":"City","condition":"equals","value":"Las Vegas"},
                {"source":"City","value":"San Diego"},
                {"source":"City","value":"Denver"}]},
            {"source":"Position","value":"Customer Success Manager"}]}"#,
    );
    assert_eq!(members_of(&s, &p), ids(&["u1", "u2", "u5"]));
    let mut named = p.clone();
    named.title = " P ".into();
    assert_eq!(settings().group_name(&named), "AS-P", "prefix + title");
}

#[test]
fn at23_not() {
    let s = snap(&[
        user("s1", &[("Department", "Sales"), ("Country", "NO")]),
        user("s2", &[("Department", "Sales"), ("Country", "US")]),
        user("s3", &[("Department", "Sales")]),
        user("s4", &[("Department", "Marketing"), ("Country", "NO")]),
    ]);
    let p = profile(
        r#""properties":{"op":"AND","children":[
            {"source":"Department","value":"Sales"},
            {"not":true,"source":"Country","value":"US"}]}"#,
    );
    assert_eq!(members_of(&s, &p), ids(&["s1", "s3"]));
    // NOT on a group: NOT (Country = US OR Country = NO).
    let p = profile(
        r#""properties":{"op":"AND","children":[
            {"source":"Department","value":"Sales"},
            {"op":"OR","not":true,"children":[{"source":"Country","value":"US"},{"source":"Country","value":"no"}]}]}"#,
    );
    assert_eq!(members_of(&s, &p), ids(&["s3"]));
}

#[test]
fn at24_date_rule_and_its_refusal_without_a_date_field() {
    let day = |d: &str| time::parse(d).unwrap();
    let mut h1 = user("h1", &[]);
    h1.dates.insert("custom:Hire date".into(), day("2023-01-02"));
    let mut h2 = user("h2", &[]);
    h2.dates.insert("custom:Hire date".into(), day("2022-12-31"));
    let h3 = user("h3", &[]);
    let s = snap(&[h1, h2, h3]);
    let json = r#""dates":{"source":"custom:Hire date","condition":"isAfter","value":"2023-01-01T00:00:00Z"}"#;
    let p = profile(json);
    assert_eq!(members_of(&s, &p), ids(&["h1"]));
    // NOT isAfter: the user without a date matches the NOT (the rule itself is false for them).
    let not = profile(&json.replace(r#""source""#, r#""not":true,"source""#));
    assert_eq!(members_of(&s, &not), ids(&["h2", "h3"]));
    let before = profile(r#""dates":{"source":"custom:Hire date","value":"2023-01-01"}"#);
    assert_eq!(members_of(&s, &before), ids(&["h2"]), "isBefore is the default");
    let on = profile(r#""dates":{"source":"custom:hire DATE","condition":"isOn","value":"2023-01-02T23:59:59+00:00"}"#);
    assert_eq!(members_of(&s, &on), ids(&["h1"]));

    let no_dates = TenantFields { fields: vec![Field::new("Cost center", FieldType::String)], courses: None };
    let p = Profile::parse(&format!(r#"{{"id":"p1","title":"P","enroll":false,"autoPopulate":true,{json}}}"#)).unwrap();
    let err = validate(&p, &no_dates).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("dates: the tenant has no custom date field")),
        "{err:?}"
    );
}

#[test]
fn at25_activity_rules_use_the_snapshot_time() {
    let completed = time::parse("2024-05-01T02:30:00Z").unwrap();
    let p = profile(&format!(r#""activities":{{"source":"{}"}}"#, C[0]));
    let before = snap_at(time::parse("2024-05-01T02:00:00Z").unwrap(), &[user("k", &[])]);
    assert!(members_of(&before, &p).is_empty(), "the 02:00 snapshot predates the completion");
    let mut k = user("k", &[]);
    k.activity.insert(C[0].into(), Activity { completed_at: Some(completed), due: None });
    let after = snap_at(time::parse("2024-05-01T05:00:00Z").unwrap(), &[k]);
    assert_eq!(members_of(&after, &p), ids(&["k"]));

    // Overdue and recent, relative to the snapshot's time.
    let t = after.taken_at();
    let mut users = Vec::new();
    for (id, completed_at, due) in [
        ("late", None, Some(t - 1)),
        ("due-now", None, Some(t)),
        ("not-due", None, Some(t + 1)),
        ("no-due", None, None),
        ("done-late", Some(t - 10), Some(t - 100)),
        ("old", Some(t - 31 * time::DAY), None),
        ("edge", Some(t - 30 * time::DAY), None),
    ] {
        let mut u = user(id, &[]);
        u.activity.insert(C[1].into(), Activity { completed_at, due });
        users.push(u);
    }
    users.push(user("none", &[]));
    let s = snap_at(t, &users);
    let overdue = profile(&format!(r#""activities":{{"source":"{}","condition":"notCompletedOnTime"}}"#, C[1]));
    assert_eq!(members_of(&s, &overdue), ids(&["late"]));
    let recent = profile(&format!(r#""activities":{{"source":"{}","condition":"completedRecently","days":30}}"#, C[1]));
    assert_eq!(members_of(&s, &recent), ids(&["done-late", "edge"]));
    let done = profile(&format!(r#""activities":{{"source":"{}"}}"#, C[1].to_uppercase()));
    assert_eq!(members_of(&s, &done), ids(&["done-late", "old", "edge"]));
}

#[test]
fn at26_overrides_and_exclude_wins() {
    let s = snap(&[
        user("a", &[("Department", "Sales")]),
        user("b", &[("Department", "HR")]),
        user("c", &[("Department", "Sales")]),
    ]);
    let p = profile(r#""properties":{"source":"Department","value":"Sales"},"include":["b","c"],"exclude":["c"]"#);
    assert_eq!(members_of(&s, &p), ids(&["a", "b"]));
}

#[test]
fn a2_sections_combine_with_and_and_no_rules_match_nobody() {
    let mut x = user("x", &[("Department", "Sales")]);
    x.activity.insert(C[0].into(), Activity { completed_at: Some(NOW - 10), due: None });
    let y = user("y", &[("Department", "Sales")]);
    let s = snap(&[x, y]);
    let both = profile(&format!(
        r#""properties":{{"source":"Department","value":"sales"}},"activities":{{"source":"{}"}}"#,
        C[0]
    ));
    assert_eq!(members_of(&s, &both), ids(&["x"]));
    let empty_section =
        profile(r#""properties":{"source":"Department","value":"sales"},"dates":{"op":"AND","children":[]}"#);
    assert_eq!(members_of(&s, &empty_section), ids(&["x", "y"]), "an empty section does not count");
    assert!(members_of(&s, &profile("")).is_empty());
    assert_eq!(members_of(&s, &profile(r#""include":["y"]"#)), ids(&["y"]));
}

#[test]
fn at29_auto_populate_off_never_changes_membership() {
    let users: Vec<UserRecord> = (1..=5).map(|i| user(&format!("q{i}"), &[("Department", "Sales")])).collect();
    let s = snap(&users);
    let mut q = profile(r#""properties":{"source":"Department","value":"Sales"}"#);
    q.auto_populate = false;
    let mut engine = Engine::new(&s);
    assert_eq!(desired(&mut engine, &q, &settings()).unwrap(), Desired::Keep);
    let res = resolve(std::slice::from_ref(&q), &s, None);
    assert_eq!(res.profiles[0].status, Status::Keep);
    let plans = plan(&res, &mut engine, &settings(), &mut |_| Vec::new());
    assert_eq!(plans[0].outcome, Outcome::Keep, "the new group stays empty");
    assert_eq!(plans[0].group, "AS-P");
}

#[test]
fn at33_stale_overrides_deleted_courses_and_deleted_fields() {
    let z = user("z", &[]);
    let before = snap(&[z.clone(), user("w", &[("custom:Cost center", "CC-1")])]);
    let previous = before.tenant_fields();
    let mut s = Profile::parse(&format!(
        r#"{{"id":"s","title":"S","enroll":true,"courses":["{}","{}"],"autoPopulate":true,"include":["z"]}}"#,
        C[2].to_uppercase(),
        C[0]
    ))
    .unwrap();
    validate(&s, &tenant()).unwrap();
    let mut t = profile(r#""properties":{"source":"custom:Cost center","value":"CC-1"},"include":["w"]"#);
    t.id = "t".into();
    t.title = "T".into();
    // Before: S has z; T has w.
    let res = resolve(&[s.clone(), t.clone()], &before, None);
    assert!(res.profiles.iter().all(|r| r.status == Status::Update && !r.changed()), "{res:?}");

    // z hard-deleted, course C[2] deleted, field "Cost center" deleted.
    let after = Snapshot::build(
        NOW + 3 * 3600,
        &[Field::new("Hire date", FieldType::Date)],
        &[C[0].to_string(), C[1].to_string()],
        &[user("w", &[])],
    )
    .unwrap();
    let res = resolve(&[s.clone(), t.clone()], &after, Some(&previous));
    let rs = &res.profiles[0];
    assert_eq!(rs.dropped_users, ["z"]);
    assert_eq!(rs.dropped_courses, [C[2].to_uppercase()]);
    assert_eq!(rs.profile.include, Vec::<String>::new());
    assert_eq!(rs.profile.courses, [C[0]]);
    assert!(matches!(&rs.status, Status::Failed(why) if why.contains("no rules and no overrides")), "{:?}", rs.status);
    assert!(res.errors.iter().any(|e| e.contains("\"S\" (s): membership update failed")), "{:?}", res.errors);
    let rt = &res.profiles[1];
    assert!(matches!(&rt.status, Status::Skipped(why) if why.contains("\"Cost center\"")), "{:?}", rt.status);
    assert_eq!(res.notifications.len(), 1, "only T's deleted field is notified: {:?}", res.notifications);
    assert!(res.notifications[0].contains("\"T\" (t)") && res.notifications[0].contains("Cost center"));
    let mut engine = Engine::new(&after);
    let plans = plan(&res, &mut engine, &settings(), &mut |id| if id == "t" { vec!["w".into()] } else { vec![] });
    assert!(matches!(plans[0].outcome, Outcome::Failed(_)));
    assert!(matches!(plans[1].outcome, Outcome::Skipped(_)), "T's membership is unchanged");

    // The next cycle: still skipped, not notified again; S (saved without z) still fails.
    s = res.profiles[0].profile.clone();
    t = res.profiles[1].profile.clone();
    let again = resolve(&[s, t], &after, Some(&after.tenant_fields()));
    assert!(again.notifications.is_empty(), "{:?}", again.notifications);
    assert!(matches!(again.profiles[1].status, Status::Skipped(_)));
    assert!(matches!(again.profiles[0].status, Status::Failed(_)));
    assert!(!again.profiles[0].changed());
}

#[test]
fn a8_rules_on_a_deleted_course_skip_and_deleted_profiles_are_kept() {
    let s = snap(&[user("a", &[])]);
    let gone = "c1000000-0000-4000-8000-0000000000ee";
    let mut p = profile("");
    p.activities = Some(Node::rule(gone, None, None));
    let previous = TenantFields { fields: fields(), courses: Some([gone.to_string()].into()) };
    let res = resolve(std::slice::from_ref(&p), &s, Some(&previous));
    assert!(matches!(&res.profiles[0].status, Status::Skipped(w) if w.contains(gone)));
    assert_eq!(res.notifications.len(), 1);
    p.state = ProfileState::Deleted;
    let res = resolve(&[p], &s, Some(&previous));
    assert_eq!(res.profiles[0].status, Status::Keep);
    assert!(res.notifications.is_empty());
}

#[test]
fn at34_disabled_users_and_users_missing_from_the_snapshot_are_not_members() {
    let rule = r#""properties":{"source":"Department","value":"Sales"}"#;
    let p = profile(rule);
    let mut d1 = user("d1", &[("Department", "Sales")]);
    d1.active = false;
    let d2 = user("d2", &[("Department", "Sales")]);
    // The last refresh predates d2.
    let first = snap(std::slice::from_ref(&d1));
    assert!(members_of(&first, &p).is_empty());
    let included = profile(&format!(r#"{rule},"include":["d1","d2"]"#));
    assert!(members_of(&first, &included).is_empty(), "overrides do not bypass the filter");
    // The following refresh has d2.
    let second = snap(&[d1.clone(), d2]);
    assert_eq!(members_of(&second, &p), ids(&["d2"]));
    // With excludeDisabledUsers off, d1 is eligible.
    let mut keep_disabled = settings();
    keep_disabled.exclude_disabled_users = false;
    let mut engine = Engine::new(&second);
    let Desired::Set(b) = desired(&mut engine, &p, &keep_disabled).unwrap() else { panic!() };
    assert_eq!(b.count(), 2);
}

#[test]
fn a_maintenance_plan_applies_the_difference() {
    let s = snap(&[
        user("a", &[("Department", "Sales")]),
        user("b", &[("Department", "Sales")]),
        user("c", &[("Department", "HR")]),
    ]);
    let p = profile(r#""properties":{"source":"Department","value":"Sales"}"#);
    let res = resolve(std::slice::from_ref(&p), &s, None);
    let mut engine = Engine::new(&s);
    let plans = plan(&res, &mut engine, &settings(), &mut |_| vec!["c".into(), "b".into(), "gone".into(), "b".into()]);
    let Outcome::Apply { members, diff } = &plans[0].outcome else { panic!("{:?}", plans[0]) };
    assert_eq!(members.count(), 2);
    assert_eq!(diff.added, ["a"]);
    assert_eq!(diff.removed, ["c", "gone"]);
}
