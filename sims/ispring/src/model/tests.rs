//! Unit tests of the account model: the department tree, login uniqueness, paging, and when
//! automatic-enrollment rules fire (joins only, never twice, never undone).

use serde_json::{Map, Value, json};

use super::*;
use crate::table::PageReq;

fn state() -> State {
    State::new("Root", Vec::new())
}

fn fields(login: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("login".into(), json!(login));
    m.insert("first_name".into(), json!("First"));
    m.insert("last_name".into(), json!("Last"));
    m.insert("email".into(), json!(format!("{login}@example.com")));
    m
}

fn new_user(s: &mut State, login: &str, dept: &str) -> String {
    s.create_user(NewUser { department_id: dept.into(), fields: fields(login), group_ids: vec![], role: None })
        .expect("create user")
}

fn dept(s: &mut State, name: &str) -> String {
    let root = s.root_id().to_string();
    s.create_department(name.into(), &root, None).expect("create department")
}

fn course(s: &mut State, title: &str) -> String {
    s.create_content(title.into(), None).expect("create content")
}

/// (course, source) pairs of a learner's enrollments.
fn enrollments_of(s: &State, user: &str) -> Vec<(String, String)> {
    let filter = EnrollmentFilter { learner_ids: vec![user.into()], course_ids: vec![] };
    s.enrollments_page(&filter, PageReq::default())
        .items
        .iter()
        .map(|e| (e.course_id.clone(), e.source.clone()))
        .collect()
}

#[test]
fn root_department_exists_from_the_start() {
    let s = State::new("Company", Vec::new());
    let root = s.department(s.root_id()).expect("root");
    assert_eq!(root.name, "Company");
    assert_eq!(root.parent_id, None);
    assert_eq!(root.to_json()["parentDepartmentId"], Value::Null);
    let page = s.departments_page(PageReq::default());
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next, None);
}

#[test]
fn every_user_has_exactly_one_department() {
    let mut s = state();
    let root = s.root_id().to_string();
    let a = dept(&mut s, "A");
    let b = dept(&mut s, "B");
    let u1 = new_user(&mut s, "u1", &root);
    let u2 = new_user(&mut s, "u2", &a);
    s.check_invariants().expect("after create");
    s.move_users(&b, &[u1.clone(), u2.clone()]).expect("move");
    s.check_invariants().expect("after move");
    s.move_users(&a, &[u1.clone(), u1.clone()]).expect("move twice in one call");
    s.update_user(&u2, UserUpdate { department_id: Some(root.clone()), ..Default::default() }).expect("update");
    s.check_invariants().expect("after update");
    assert_eq!(s.user(&u1).map(|u| u.department_id.clone()), Ok(a.clone()));
    assert_eq!(s.user(&u2).map(|u| u.department_id.clone()), Ok(root));
    // A department holding users cannot be deleted, which would orphan them.
    assert_eq!(s.delete_department(&a).map_err(|e| e.code), Err("department_not_empty"));
    s.delete_user(&u1).expect("delete");
    s.delete_department(&a).expect("now empty");
    s.check_invariants().expect("after deletes");
}

#[test]
fn move_validates_everything_before_moving_anyone() {
    let mut s = state();
    let root = s.root_id().to_string();
    let a = dept(&mut s, "A");
    let u = new_user(&mut s, "u", &root);
    let err = s.move_users(&a, &[u.clone(), "nope".into()]).expect_err("unknown user");
    assert_eq!((err.status, err.code), (404, "user_not_found"));
    assert!(err.message.contains("nope"));
    assert_eq!(s.user(&u).map(|u| u.department_id.clone()), Ok(root));
    let err = s.move_users("missing", &[u]).expect_err("unknown department");
    assert_eq!((err.status, err.code), (404, "department_not_found"));
}

#[test]
fn move_fires_department_rules_created_before_the_join_only_once() {
    let mut s = state();
    let root = s.root_id().to_string();
    let a = dept(&mut s, "A");
    let b = dept(&mut s, "B");
    let c1 = course(&mut s, "Course A");
    let c2 = course(&mut s, "Course B");
    let early = new_user(&mut s, "early", &a);
    let rule_a = s.create_rule(TargetType::Department, &a, &c1).expect("rule");
    let rule_b = s.create_rule(TargetType::Department, &b, &c2).expect("rule");
    // Already inside when the rule was created: not enrolled.
    assert!(enrollments_of(&s, &early).is_empty());

    // Created into A: joins A.
    let created = new_user(&mut s, "created", &a);
    assert_eq!(enrollments_of(&s, &created), vec![(c1.clone(), format!("rule:{rule_a}"))]);

    // Moved through A then B and staying in B: gets the items of both.
    let mover = new_user(&mut s, "mover", &root);
    s.move_users(&a, std::slice::from_ref(&mover)).expect("move a");
    s.move_users(&b, std::slice::from_ref(&mover)).expect("move b");
    let got = enrollments_of(&s, &mover);
    assert_eq!(got, vec![(c1.clone(), format!("rule:{rule_a}")), (c2.clone(), format!("rule:{rule_b}"))]);

    // Leaving never removes; coming back and moving again never duplicates.
    s.move_users(&a, std::slice::from_ref(&mover)).expect("back to a");
    s.move_users(&a, std::slice::from_ref(&mover)).expect("no-op move");
    s.move_users(&root, std::slice::from_ref(&mover)).expect("to root");
    assert_eq!(enrollments_of(&s, &mover).len(), 2);

    // A user moved into a department it is already in does not join it again.
    s.delete_enrollments(&[s.enrollments_page(&EnrollmentFilter::default(), PageReq::default()).items[0].id.clone()])
        .expect("delete created's enrollment");
    s.move_users(&a, std::slice::from_ref(&created)).expect("same department");
    assert!(enrollments_of(&s, &created).is_empty());

    // Deleting the department's rule stops it; existing enrollments stay.
    s.delete_rule(&rule_a).expect("delete rule");
    let late = new_user(&mut s, "late", &a);
    assert!(enrollments_of(&s, &late).is_empty());
    assert_eq!(enrollments_of(&s, &mover).len(), 2);
    s.check_invariants().expect("invariants");
}

#[test]
fn admin_enrollment_is_idempotent_and_rules_do_not_duplicate_it() {
    let mut s = state();
    let a = dept(&mut s, "A");
    let c = course(&mut s, "C");
    let root = s.root_id().to_string();
    let u = new_user(&mut s, "u", &root);
    let first = s.enroll(std::slice::from_ref(&c), std::slice::from_ref(&u), "unlimited").expect("enroll");
    let again = s.enroll(std::slice::from_ref(&c), std::slice::from_ref(&u), "default").expect("enroll again");
    assert_eq!(first, again);
    s.create_rule(TargetType::Department, &a, &c).expect("rule");
    s.move_users(&a, std::slice::from_ref(&u)).expect("move");
    assert_eq!(enrollments_of(&s, &u), vec![(c.clone(), "admin".to_string())]);
    let err = s.enroll(&[c], &[u], "whenever").expect_err("bad due date type");
    assert_eq!(err.status, 400);
}

#[test]
fn group_replace_fires_group_rules_for_new_members_only() {
    let mut s = state();
    let root = s.root_id().to_string();
    let c = course(&mut s, "Group course");
    let u1 = new_user(&mut s, "u1", &root);
    let u2 = new_user(&mut s, "u2", &root);
    let u3 = new_user(&mut s, "u3", &root);
    let g = s.create_group("G".into(), std::slice::from_ref(&u1)).expect("group");
    let rule = s.create_rule(TargetType::Group, &g, &c).expect("rule");

    s.replace_group_members(&g, &[u1.clone(), u2.clone()]).expect("replace");
    assert!(enrollments_of(&s, &u1).is_empty(), "u1 was already a member");
    assert_eq!(enrollments_of(&s, &u2), vec![(c.clone(), format!("rule:{rule}"))]);

    // Unknown user: nothing changes.
    let err = s.replace_group_members(&g, &[u3.clone(), "ghost".into()]).expect_err("unknown");
    assert_eq!(err.code, "user_not_found");
    assert_eq!(s.group(&g).map(|g| g.member_ids().count()), Ok(2));

    // Replacing removes absent members without touching their enrollments.
    s.replace_group_members(&g, std::slice::from_ref(&u3)).expect("replace");
    assert_eq!(s.group(&g).map(|g| g.member_ids().collect::<Vec<_>>()), Ok(vec![u3.as_str()]));
    assert_eq!(s.user(&u2).map(|u| u.groups.len()), Ok(0));
    assert_eq!(enrollments_of(&s, &u2).len(), 1);
    assert_eq!(enrollments_of(&s, &u3).len(), 1);

    // Rejoining after leaving does not duplicate.
    s.replace_group_members(&g, &[u2.clone(), u3.clone()]).expect("replace");
    assert_eq!(enrollments_of(&s, &u2).len(), 1);

    // Empty list empties the group.
    s.replace_group_members(&g, &[]).expect("empty");
    assert_eq!(s.group(&g).map(|g| g.member_ids().count()), Ok(0));

    // groupIds on user update are group joins too.
    let u4 = new_user(&mut s, "u4", &root);
    s.update_user(&u4, UserUpdate { group_ids: Some(vec![g.clone()]), ..Default::default() }).expect("upd");
    assert_eq!(enrollments_of(&s, &u4).len(), 1);

    // Deleting the group deletes its rules, never the enrollments.
    s.delete_group(&g).expect("delete group");
    assert_eq!(s.rules().count(), 0);
    assert_eq!(enrollments_of(&s, &u4).len(), 1);
    assert!(s.user(&u4).is_ok_and(|u| u.groups.is_empty()));
    s.check_invariants().expect("invariants");
}

#[test]
fn required_field_refusal_creates_nothing() {
    let mut s = State::new("Root", vec!["phone".into()]);
    let root = s.root_id().to_string();
    let err = s
        .create_user(NewUser { department_id: root.clone(), fields: fields("a"), group_ids: vec![], role: None })
        .expect_err("phone missing");
    assert_eq!(err.status, 400);
    assert_eq!(err.code, "required_field_missing");
    assert_eq!(err.message, "The profile field 'phone' is required");
    assert_eq!(s.user_count(), 0);
    let mut with_empty = fields("a");
    with_empty.insert("phone".into(), json!(""));
    let new = NewUser { department_id: root.clone(), fields: with_empty, group_ids: vec![], role: None };
    assert!(s.create_user(new).is_err());
    let mut with_phone = fields("a");
    with_phone.insert("phone".into(), json!("+1 555"));
    let new = NewUser { department_id: root, fields: with_phone, group_ids: vec![], role: None };
    assert!(s.create_user(new).is_ok());
}

#[test]
fn logins_are_unique_case_insensitively() {
    let mut s = state();
    let root = s.root_id().to_string();
    let u = new_user(&mut s, "Alice@Example.com", &root);
    let err = s
        .create_user(NewUser {
            department_id: root.clone(),
            fields: fields("alice@example.COM"),
            group_ids: vec![],
            role: None,
        })
        .expect_err("duplicate");
    assert_eq!((err.status, err.code), (409, "login_already_exists"));
    let other = new_user(&mut s, "bob", &root);
    // Renaming onto someone else's login is refused, changing one's own case is fine.
    let upd = |login: &str| UserUpdate { fields: Some(fields(login)), ..Default::default() };
    assert_eq!(s.update_user(&other, upd("ALICE@example.com")).map_err(|e| e.code), Err("login_already_exists"));
    s.update_user(&u, upd("alice@example.com")).expect("own login, other case");
    s.update_user(&other, upd("robert")).expect("free login");
    new_user(&mut s, "BOB", &root);
    let filter = UserFilter { logins: vec!["Robert".into(), "ALICE@EXAMPLE.COM".into()], ..Default::default() };
    let found: Vec<&str> = s.users_page(&filter, PageReq::default()).items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(found, vec![u.as_str(), other.as_str()]);
    // Missing or empty login.
    let mut no_login = fields("x");
    no_login.remove("login");
    let err = s.create_user(NewUser { department_id: root, fields: no_login, group_ids: vec![], role: None });
    assert_eq!(err.map_err(|e| e.code), Err("bad_request"));
    s.check_invariants().expect("invariants");
}

#[test]
fn fields_are_merged_on_update() {
    let mut s = state();
    let root = s.root_id().to_string();
    let u = new_user(&mut s, "u", &root);
    let mut patch = Map::new();
    patch.insert("last_name".into(), json!("Changed"));
    s.update_user(&u, UserUpdate { fields: Some(patch), ..Default::default() }).expect("update");
    let user = s.user(&u).expect("user");
    assert_eq!(user.fields["last_name"], "Changed");
    assert_eq!(user.fields["first_name"], "First");
    assert_eq!(user.login(), "u");
}

#[test]
fn listing_pages_with_next_page_token() {
    let mut s = state();
    let root = s.root_id().to_string();
    let a = dept(&mut s, "A");
    let ids: Vec<String> =
        (0..25).map(|i| new_user(&mut s, &format!("user{i}"), if i % 2 == 0 { &a } else { &root })).collect();
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = s.users_page(&UserFilter::default(), PageReq { size: 10, from });
        seen.extend(page.items.iter().map(|u| u.id.clone()));
        match page.next {
            Some(next) => from = next,
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let filter = UserFilter { departments: vec![a.clone()], ..Default::default() };
    let first = s.users_page(&filter, PageReq { size: 5, from: 0 });
    assert_eq!(first.items.len(), 5);
    let second = s.users_page(&filter, PageReq { size: 10, from: first.next.expect("more") });
    assert_eq!(second.items.len(), 8);
    assert_eq!(second.next, None);
    assert!(second.items.iter().all(|u| u.department_id == a));
}

#[test]
fn department_tree_rules() {
    let mut s = state();
    let root = s.root_id().to_string();
    let a = dept(&mut s, "A");
    let b = s.create_department("B".into(), &a, Some("B-1".into())).expect("child");
    assert_eq!(s.create_department("X".into(), "missing", None).map_err(|e| e.status), Err(404));
    assert_eq!(s.delete_department(&root).map_err(|e| e.status), Err(400));
    assert_eq!(s.delete_department(&a).map_err(|e| e.code), Err("department_not_empty"));
    let cyc = DepartmentUpdate { parent_id: Some(b.clone()), ..Default::default() };
    assert_eq!(s.update_department(&a, cyc).map_err(|e| e.code), Err("invalid_parent"));
    let mv = DepartmentUpdate { name: Some("B2".into()), parent_id: Some(root.clone()), code: None };
    s.update_department(&b, mv).expect("move");
    assert_eq!(s.department(&b).map(|d| (d.name.clone(), d.parent_id.clone())), Ok(("B2".into(), Some(root))));
    let c = course(&mut s, "C");
    s.create_rule(TargetType::Department, &a, &c).expect("rule");
    s.delete_department(&a).expect("empty now");
    assert_eq!(s.rules().count(), 0);
}
