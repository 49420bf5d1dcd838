//! More Assigner acceptance scenarios on the virtual clock (`docs/spec/acceptance.md` AT-23..AT-34,
//! readings Q13–Q21 of `docs/spec/assigner.md` §7): NOT rules, date rules on a custom field (a tenant's
//! registered SCIM extension), activity rules and the snapshot's time, enrollment of a profile's
//! members with deletion (A7) and retirement (A6), stale overrides and deleted fields (A8), disabled
//! and not-yet-refreshed users, and the throttle e-mail reaching a real SMTP server.

use super::assigner::{PREFIX, entra, group_members, oid, oids, rig, rig_env};
use super::*;
use crate::common::ENTERPRISE;
use reqwest::Method;

const CONTACT: &str = "lms-admin@contoso.com";
/// The tenant's own user extension (as Entra sends directory extensions).
const EXT: &str = "urn:ietf:params:scim:schemas:extension:contoso:2.0:User";

/// An Entra user of department `dept` with the work address in `country` (none: no country at all)
/// and, when given, attributes of the tenant's extension [`EXT`].
fn person(n: u32, upn: &str, dept: &str, country: Option<&str>, ext: Option<Value>) -> Value {
    let mut doc = entra(&oid(n), upn, "Oslo", "Rep", dept);
    match country {
        Some(c) => doc["addresses"][0]["country"] = json!(c),
        None => {
            doc["addresses"][0].as_object_mut().expect("address").remove("country");
        }
    }
    if let Some(attrs) = ext {
        doc["schemas"].as_array_mut().expect("schemas").push(json!(EXT));
        doc[EXT] = attrs;
    }
    doc
}

impl Rig {
    /// POSTs a SCIM user, returns its SCIM id.
    async fn post_user(&self, doc: Value) -> String {
        let (st, _, body) = self.scim.post("/Users", doc).await;
        assert_eq!(st, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn settings(&self, extra: Value) {
        let mut s = json!({"contactEmail": CONTACT, "entraGroupPrefix": PREFIX});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        self.admin_ok(Method::PUT, "assigner/settings", Some(s)).await;
    }

    /// Registers [`EXT`] for the tenant's users (`gateway schema add`) with `attrs` (name, SCIM type).
    async fn extension(&self, attrs: &[(&str, &str)]) {
        let attributes: Vec<Value> = attrs
            .iter()
            .map(|(name, kind)| {
                json!({"name": name, "type": kind, "multiValued": false, "description": name, "required": false,
                       "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"})
            })
            .collect();
        let doc = json!({"id": EXT, "name": "Contoso", "description": "Contoso users", "attributes": attributes});
        let file = self.env.dir.path.join("contoso-schema.json");
        std::fs::write(&file, doc.to_string()).expect("schema file");
        let file = file.display().to_string();
        let v = self.env.cli_json(&["schema", "add", "--tenant", &self.tenant, "--resource-type", "User", &file]).await;
        assert_eq!(v["schema"], EXT, "{v}");
    }

    async fn profile(&self, id: &str) -> Value {
        self.admin_ok(Method::GET, &format!("assigner/profiles/{id}"), None).await
    }

    /// The gateway's notification log of the target (newest first), of `kind`.
    async fn notes(&self, kind: &str) -> Vec<Value> {
        let v = self.env.cli_json(&["target", "notifications", "--tenant", &self.tenant, TARGET]).await;
        v.as_array().expect("notifications").iter().filter(|n| n["kind"] == kind).cloned().collect()
    }

    /// The newest maintenance run's entry for profile `id`.
    async fn last_run_entry(&self, id: &str) -> Value {
        let runs = self.admin_ok(Method::GET, "assigner/runs", None).await;
        let run = runs["runs"].as_array().and_then(|a| a.iter().find(|r| r["kind"] == "maintenance")).cloned();
        let run = run.unwrap_or_else(|| panic!("no maintenance run: {runs}"));
        let entry = run["profiles"].as_array().and_then(|a| a.iter().find(|p| p["id"] == id)).cloned();
        entry.unwrap_or_else(|| panic!("profile {id} is not in the last run: {run}"))
    }
}

/// A profile body: auto-populated, no courses, with `rules` as its properties.
fn by_properties(title: &str, rules: Value) -> Value {
    json!({"title": title, "enroll": false, "courses": [], "autoPopulate": true, "properties": rules})
}

fn dept(value: &str) -> Value {
    json!({"source": "Department", "value": value})
}

/// AT-23 (NOT, as a negated group and as a negated rule: a user without a country is not in "US"),
/// and AT-24's refusal: a tenant whose data refresh found no custom date field cannot author a date rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_rules_and_no_date_field() {
    let Some(r) = rig("asg-not", "2026-03-02T01:00:00Z").await else { return };
    for (n, upn, dept, country) in [
        (1, "s1@contoso.com", "Sales", Some("NO")),
        (2, "s2@contoso.com", "Sales", Some("US")),
        (3, "s3@contoso.com", "Sales", None),
        (4, "s4@contoso.com", "Marketing", Some("NO")),
    ] {
        r.post_user(person(n, upn, dept, country, None)).await;
    }
    r.synced().await;
    r.settings(json!({})).await;
    r.advance("2026-03-02T01:05:00Z").await; // the first refresh
    let us = json!({"source": "Country", "value": "US"});
    let group_not = json!({"op": "AND", "children": [dept("Sales"), {"op": "AND", "not": true, "children": [us]}]});
    r.create_profile(by_properties("N1", group_not)).await;
    let rule_not = json!({"op": "AND", "children": [dept("Sales"), {"not": true, "source": "Country", "value": "us"}]});
    r.create_profile(by_properties("N2", rule_not)).await;

    let mut dated = by_properties("D", dept("Sales"));
    dated["dates"] = json!({"source": "custom:hireDate", "condition": "isAfter", "value": "2023-01-01T00:00:00Z"});
    let (st, v) = r.admin(Method::POST, "assigner/profiles", Some(dated)).await;
    assert_eq!(st, 400, "{v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("invalid profile: dates: ") && detail.contains("no custom date field"), "{v}");
    let list = r.admin_ok(Method::GET, "assigner/profiles", None).await;
    assert_eq!(list["profiles"].as_array().map(Vec::len), Some(2), "nothing stored: {list}");

    r.advance("2026-03-02T03:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-N1"), Some(oids(&[1, 3])), "AT-23, NOT of a group");
    assert_eq!(group_members(&s, "ASG-N2"), Some(oids(&[1, 3])), "AT-23, NOT of a rule");
}

/// AT-24: the custom date field (an extension attribute of the tenant's registered schema) is found
/// by the data refresh; before that a date rule is refused; `isAfter` matches the later date only,
/// never a user without one. A string attribute holding `YYYY-MM-DD` dates is a date field too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_rule_on_a_custom_field() {
    let Some(r) = rig("asg-date", "2026-03-02T01:00:00Z").await else { return };
    r.extension(&[("hireDate", "dateTime"), ("startDate", "string")]).await;
    let hired = |d: &str, s: &str| Some(json!({"hireDate": d, "startDate": s}));
    r.post_user(person(1, "h1@contoso.com", "Sales", Some("US"), hired("2023-01-02T00:00:00Z", "2023-02-01"))).await;
    r.post_user(person(2, "h2@contoso.com", "Sales", Some("US"), hired("2022-12-31T00:00:00Z", "2022-11-30"))).await;
    r.post_user(person(3, "h3@contoso.com", "Sales", Some("US"), None)).await;
    r.synced().await;
    r.settings(json!({})).await;
    let profile = json!({
        "title": "Hired", "enroll": false, "courses": [], "autoPopulate": true,
        "dates": {"source": "custom:hireDate", "condition": "isAfter", "value": "2023-01-01T00:00:00Z"},
    });
    let (st, v) = r.admin(Method::POST, "assigner/profiles", Some(profile.clone())).await;
    assert_eq!(st, 400, "no custom field is known before the first refresh: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.starts_with("invalid profile: dates: ")), "{v}");

    r.advance("2026-03-02T01:05:00Z").await;
    let runs = r.admin_ok(Method::GET, "assigner/runs", None).await;
    assert!(runs.to_string().contains("2 custom fields"), "the refresh found hireDate and startDate: {runs}");
    let p = r.create_profile(profile).await;
    let preview = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}/preview"), None).await;
    assert_eq!(preview["count"], 1, "{preview}");
    assert_eq!(preview["members"][0]["upn"], "h1@contoso.com", "{preview}");
    let started = json!({"title": "Started", "enroll": false, "courses": [], "autoPopulate": true,
                         "dates": {"source": "custom:startDate", "value": "2023-01-01"}});
    r.create_profile(started).await; // isBefore, the default
    let misplaced = by_properties("Misplaced", json!({"source": "custom:startDate", "value": "2023-02-01"}));
    let (st, v) = r.admin(Method::POST, "assigner/profiles", Some(misplaced)).await;
    let detail = v["detail"].as_str().unwrap_or_default();
    assert_eq!(st, 400, "{v}");
    assert!(detail.starts_with("invalid profile: properties.source: ") && detail.contains("date field"), "{v}");
    r.advance("2026-03-02T03:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-Hired"), Some(oids(&[1])), "AT-24");
    assert_eq!(group_members(&s, "ASG-Started"), Some(oids(&[2])), "YYYY-MM-DD values");
}

/// AT-25: a completion recorded in Learn365 at 02:30 is not in the 02:00 snapshot (not a member after
/// the 03:00 maintenance), and is in the 05:00 one (a member after 06:00).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_rule_sees_the_last_snapshot() {
    let Some(r) = rig("asg-activity", "2026-03-02T01:00:00Z").await else { return };
    let course = r.sim.course("Outlook – Japanese").await;
    r.post_user(person(1, "k@contoso.com", "Sales", Some("US"), None)).await;
    r.post_user(person(2, "j@contoso.com", "Sales", Some("US"), None)).await;
    r.synced().await;
    r.sim.enroll_directly("k@contoso.com", &course).await;
    r.sim.enroll_directly("j@contoso.com", &course).await;
    r.settings(json!({})).await;
    r.advance("2026-03-02T01:05:00Z").await;
    let p = r
        .create_profile(json!({
            "title": "Outlook JP done", "enroll": false, "courses": [], "autoPopulate": true,
            "activities": {"source": course, "condition": "hasCompleted"},
        }))
        .await;
    r.advance("2026-03-02T02:00:00Z").await; // the 02:00 refresh
    let body = json!({"user": claims("k@contoso.com"), "courseId": course, "status": "Completed",
                      "at": "2026-03-02T02:30:00Z"});
    r.sim.ok(Method::POST, "/_sim/progress", Some(body)).await;
    r.sim.progress("j@contoso.com", &course, "InProgress", Some(50)).await;

    r.advance("2026-03-02T03:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-Outlook JP done"), Some(BTreeSet::new()), "02:00 snapshot");
    let list = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}/members"), None).await;
    assert_eq!(list["count"], 0, "{list}");
    r.advance("2026-03-02T06:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-Outlook JP done"), Some(oids(&[1])), "05:00 snapshot");
}

/// AT-30/AT-31's common start: C1, users r1, r2 (department R) and r9 (elsewhere), a profile R
/// enrolling its members in C1; after the 03:00 maintenance r1 and r2 hold C1. Returns (C1, R's id).
async fn enrolled(r: &Rig) -> (String, String) {
    let c1 = r.sim.course("C1").await;
    for (n, upn, d) in [(1, "r1@contoso.com", "R"), (2, "r2@contoso.com", "R"), (9, "r9@contoso.com", "X")] {
        r.post_user(person(n, upn, d, Some("US"), None)).await;
    }
    r.synced().await;
    r.settings(json!({})).await;
    r.advance("2026-03-02T01:05:00Z").await;
    let p = r
        .create_profile(json!({"title": "R", "enroll": true, "courses": [c1], "autoPopulate": true,
                               "properties": dept("R")}))
        .await;
    r.advance("2026-03-02T03:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-R"), Some(oids(&[1, 2])));
    assert!(s.active("r1@contoso.com", &c1) && s.active("r2@contoso.com", &c1), "{}", s.0["enrollments"]);
    assert!(s.enrollment("r9@contoso.com", &c1).is_none(), "only members are enrolled");
    assert!(r.last_run_entry(&p).await["enrollmentOperations"].as_u64() >= Some(2));
    (c1, p)
}

/// No enrollment in Learn365 names the Entra group itself (the profile enrolls its members).
fn no_group_enrollment(s: &State, name: &str) {
    let gid = s.0["graphGroups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["displayName"] == name))
        .and_then(|g| g["id"].as_str())
        .expect("the group")
        .to_lowercase();
    let rows = s.0["enrollments"].as_array().expect("enrollments");
    assert!(!rows.iter().any(|e| e["active"] == true && e.to_string().to_lowercase().contains(&gid)), "{rows:?}");
}

/// AT-30: a deleted profile is detached at the next maintenance: its group and members stay, the
/// members keep C1, a new matching user is neither added nor enrolled; autoPopulate and enroll off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_profile_keeps_group_and_enrollments() {
    let Some(r) = rig("asg-delete", "2026-03-02T01:00:00Z").await else { return };
    let (c1, p) = enrolled(&r).await;
    let deleted = r.admin_ok(Method::DELETE, &format!("assigner/profiles/{p}"), None).await;
    assert_eq!(deleted["state"], "deleted", "{deleted}");
    r.post_user(person(3, "r3@contoso.com", "R", Some("US"), None)).await;
    r.synced().await;
    r.advance("2026-03-02T06:00:00Z").await; // refresh 05:00 (r3 in it), maintenance 06:00
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-R"), Some(oids(&[1, 2])), "the group and its members are kept; r3 not added");
    assert!(s.active("r1@contoso.com", &c1) && s.active("r2@contoso.com", &c1), "enrollments kept");
    assert!(!s.active("r3@contoso.com", &c1), "r3 is not enrolled: {:?}", s.enrollment("r3@contoso.com", &c1));
    no_group_enrollment(&s, "ASG-R");
    let profile = r.profile(&p).await;
    assert_eq!(
        (&profile["state"], &profile["autoPopulate"], &profile["enroll"]),
        (&json!("deleted"), &json!(false), &json!(false))
    );
    let status = r.admin_ok(Method::GET, "assigner/status", None).await;
    assert_eq!(status["profiles"], json!({"active": 0, "deleted": 1}), "{status}");
    // And it stays so: the next maintenance does not touch the group either.
    r.advance("2026-03-02T09:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-R"), Some(oids(&[1, 2])));
    assert!(s.active("r1@contoso.com", &c1) && !s.active("r3@contoso.com", &c1));
}

/// AT-31: "don't enroll" retires the profile's enrollments (r1's and r2's C1 no longer active) but
/// keeps its group, which auto-populate still fills (r3 added) without enrolling anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_profile_cancels_enrollments_keeps_group() {
    let Some(r) = rig("asg-retire", "2026-03-02T01:00:00Z").await else { return };
    let (c1, p) = enrolled(&r).await;
    let v = r
        .admin_ok(
            Method::PUT,
            &format!("assigner/profiles/{p}/courses"),
            Some(json!({"courses": [c1], "enroll": false})),
        )
        .await;
    assert_eq!((&v["enroll"], &v["autoPopulate"]), (&json!(false), &json!(true)), "{v}");
    r.post_user(person(3, "r3@contoso.com", "R", Some("US"), None)).await;
    r.synced().await;
    r.advance("2026-03-02T06:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-R"), Some(oids(&[1, 2, 3])), "kept and still auto-populated");
    for upn in ["r1@contoso.com", "r2@contoso.com"] {
        let e = s.enrollment(upn, &c1).unwrap_or_else(|| panic!("{upn}'s C1 enrollment"));
        assert_ne!(e["active"], true, "{upn}: the profile's enrollment is cancelled: {e}");
    }
    assert!(!s.active("r3@contoso.com", &c1), "r3 is not enrolled");
    no_group_enrollment(&s, "ASG-R");
    assert!(r.last_run_entry(&p).await["enrollmentOperations"].as_u64() >= Some(2));
}

/// AT-33: (S) an include override naming a hard-deleted user is dropped without a notification, S
/// has no rules and no overrides left: its update fails (logged as an error) and its group is left as
/// it is; (T) rules on a custom field no user has any more: T is skipped, its membership unchanged,
/// the contact told once; (S) its course C9 deleted in Learn365: the assignment is dropped silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_overrides_and_deleted_field() {
    let Some(r) = rig("asg-stale", "2026-03-02T01:00:00Z").await else { return };
    r.extension(&[("costCenter", "string")]).await;
    let c9 = r.sim.course("C9").await;
    let cc = |v: &str| Some(json!({"costCenter": v}));
    let mut scim = Vec::new();
    for (n, upn, c) in [(1, "t1@contoso.com", "CC1"), (2, "t2@contoso.com", "CC1"), (3, "t3@contoso.com", "CC2")] {
        scim.push(r.post_user(person(n, upn, "Ops", Some("US"), cc(c))).await);
    }
    let z = r.post_user(person(26, "z@contoso.com", "Ops", Some("US"), None)).await;
    r.synced().await;
    r.settings(json!({})).await;
    r.advance("2026-03-02T01:05:00Z").await;
    let s_id = r
        .create_profile(json!({"title": "S", "enroll": false, "courses": [c9], "autoPopulate": true,
                               "include": [oid(26)]}))
        .await;
    let t_id = r.create_profile(by_properties("T", json!({"source": "custom:costCenter", "value": "cc1"}))).await;
    r.advance("2026-03-02T03:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-S"), Some(oids(&[26])));
    assert_eq!(group_members(&s, "ASG-T"), Some(oids(&[1, 2])));

    // z is hard-deleted; the cost centre is cleared on every user (the field is gone).
    let (st, _, body) = r.scim.delete(&format!("/Users/{z}")).await;
    assert_eq!(st, 204, "{body}");
    for id in &scim {
        r.scim.patch_ok(&format!("/Users/{id}"), json!([{"op": "Remove", "path": format!("{EXT}:costCenter")}])).await;
    }
    r.synced().await;
    r.sim.ok(Method::DELETE, &format!("/_sim/courses/{c9}"), None).await;
    r.advance("2026-03-02T06:00:00Z").await;
    let state = r.sim.state().await;
    // The simulator keeps a deleted user's group memberships (Entra would drop them): z stays, which
    // shows the maintenance made no change to S's group.
    assert_eq!(group_members(&state, "ASG-S"), Some(oids(&[26])), "S's group untouched");
    assert_eq!(group_members(&state, "ASG-T"), Some(oids(&[1, 2])), "T skipped: membership unchanged");
    let sp = r.profile(&s_id).await;
    assert_eq!((&sp["include"], &sp["courses"]), (&json!([]), &json!([])), "z's override and C9 dropped: {sp}");
    let s_run = r.last_run_entry(&s_id).await;
    assert!(s_run["failed"].as_str().is_some_and(|f| f.contains("no rules and no overrides")), "{s_run}");
    assert_eq!((&s_run["added"], &s_run["removed"]), (&json!(0), &json!(0)), "{s_run}");
    let t_run = r.last_run_entry(&t_id).await;
    assert!(t_run["skipped"].as_str().is_some_and(|w| w.contains("costCenter")), "{t_run}");
    let failed = format!("({s_id}): membership update failed");
    let log = r.gw.log();
    let line = log.lines().find(|l| l.contains(&failed)).unwrap_or_else(|| panic!("S's failure is logged\n{log}"));
    assert!(line.contains(r#""level":"ERROR""#), "as an error: {line}");
    let skipped = r.notes("assigner-profile-skipped").await;
    assert_eq!(skipped.len(), 1, "one notification, about T only: {skipped:?}");
    assert_eq!(skipped[0]["recipient"], CONTACT);
    let text = skipped[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("\"T\" ({t_id})")) && text.contains("costCenter"), "{text}");
    let all = r.env.cli_json(&["target", "notifications", "--tenant", &r.tenant, TARGET]).await;
    assert!(!all.to_string().contains(&format!("({s_id})")), "no notification about S: {all}");

    // Later cycles skip T again without telling the contact again.
    r.advance("2026-03-02T09:00:00Z").await;
    assert!(r.last_run_entry(&t_id).await["skipped"].is_string());
    assert_eq!(r.notes("assigner-profile-skipped").await.len(), 1, "no second notification");
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2])));
}

/// AT-34: a disabled user (`active=false`) is not a member (Q20, `excludeDisabledUsers` by default),
/// nor is one created after the last data refresh until the next refresh has it (Q21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_and_unknown_users() {
    let Some(r) = rig("asg-disabled", "2026-03-02T01:00:00Z").await else { return };
    r.post_user(person(1, "d0@contoso.com", "Sales", Some("US"), None)).await;
    let d1 = r.post_user(person(2, "d1@contoso.com", "Sales", Some("US"), None)).await;
    r.scim.patch_ok(&format!("/Users/{d1}"), json!([{"op": "Replace", "path": "active", "value": false}])).await;
    r.synced().await;
    r.settings(json!({})).await;
    r.advance("2026-03-02T01:05:00Z").await;
    let p = r.create_profile(by_properties("Sales", dept("Sales"))).await;
    r.advance("2026-03-02T02:00:00Z").await; // the last refresh before the maintenance
    r.post_user(person(3, "d2@contoso.com", "Sales", Some("US"), None)).await;
    r.synced().await;
    r.advance("2026-03-02T03:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-Sales"), Some(oids(&[1])), "neither d1 nor d2");
    r.advance("2026-03-02T06:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-Sales"), Some(oids(&[1, 3])), "d2 after the refresh");
    // d1 is in the snapshot and left out for being disabled: counting disabled users adds d1.
    r.settings(json!({"excludeDisabledUsers": false})).await;
    let preview = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}/preview"), None).await;
    assert_eq!(preview["count"], 3, "{preview}");
    r.advance("2026-03-02T09:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-Sales"), Some(oids(&[1, 2, 3])));
}

/// AT-27 (b) and (c) with the e-mail through a real SMTP server: 3 changes over `maxChanges(2)` leave
/// the group as it was and e-mail the contact once; exactly 2 changes are applied, with no e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_email_reaches_the_contact_over_smtp() {
    let dir = std::env::temp_dir().join(format!("scimgw-asg-smtp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let smtp = SmtpSink::start(&dir).await;
    let url = smtp.as_ref().map(SmtpSink::url);
    let mut extra = vec![("GATEWAY_SMTP_FROM", "gateway@example.com")];
    if let Some(url) = &url {
        extra.push(("GATEWAY_SMTP_URL", url.as_str()));
    }
    let Some(r) = rig_env("asg-smtp", "2026-03-02T01:00:00Z", &extra).await else { return };
    let mut ids = Vec::new();
    for n in 1..=5 {
        let d = if n <= 3 { "Team" } else { "Other" };
        ids.push(r.post_user(person(n, &format!("m{n}@contoso.com"), d, Some("US"), None)).await);
    }
    r.synced().await;
    r.settings(json!({})).await;
    let p = r.create_profile(by_properties("T", dept("Team"))).await;
    r.advance("2026-03-02T03:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2, 3])));

    let mut profile = r.profile(&p).await;
    profile["throttle"] = json!({"maxChanges": 2});
    r.admin_ok(Method::PUT, &format!("assigner/profiles/{p}"), Some(profile)).await;
    let set_dept = async |i: usize, d: &str| {
        let ops = json!([{"op": "Replace", "path": format!("{}:department", crate::common::ENTERPRISE), "value": d}]);
        r.scim.patch_ok(&format!("/Users/{}", ids[i]), ops).await;
    };
    // (b) m3 leaves, m4 and m5 join: 3 changes > 2.
    set_dept(2, "Other").await;
    set_dept(3, "Team").await;
    set_dept(4, "Team").await;
    r.synced().await;
    r.advance("2026-03-02T06:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2, 3])), "(b) throttled");
    let mails = r.notes("assigner-throttle").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["recipient"], CONTACT);
    let list = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}/members"), None).await;
    assert_eq!((&list["throttled"], &list["count"]), (&json!(true), &json!(4)), "{list}");
    if let Some(smtp) = &smtp {
        let t = r.tenant.clone();
        let log = poll("the throttle e-mail to be sent", WAIT, Duration::from_millis(100), async || {
            let n = r.notes("assigner-throttle").await;
            (n.first().is_some_and(|n| n["delivery"] == "sent") && smtp.text().contains("kind: assigner-throttle"))
                .then_some(n)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", smtp.text(), r.gw.log_tail(20)));
        assert_eq!(log.len(), 1);
        let text = smtp.text();
        assert!(text.contains(&format!("\nTo: {CONTACT}\n")), "addressed to the contact:\n{text}");
        let subject = format!("Subject: [{t}/{TARGET}] Assigner: \"ASG-T\" was not updated (throttled)");
        assert!(text.contains(&subject), "{subject}\n{text}");
        assert!(text.contains("2 to add, 1 to remove, 3 members now"), "{text}");
        assert_eq!(text.matches("kind: assigner-throttle").count(), 1, "one e-mail:\n{text}");
    }

    // (c) m3 is back: the computed {m1..m5} is 2 changes, not more than 2: applied, no e-mail.
    set_dept(2, "Team").await;
    r.synced().await;
    r.advance("2026-03-02T09:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2, 3, 4, 5])), "(c) applied");
    assert_eq!(r.notes("assigner-throttle").await.len(), 1, "no e-mail for (c)");
    let entry = r.last_run_entry(&p).await;
    assert_eq!((&entry["added"], &entry["removed"], &entry["throttled"]), (&json!(2), &json!(0), &json!(false)));
    if let Some(smtp) = &smtp {
        assert_eq!(smtp.text().matches("kind: assigner-throttle").count(), 1, "still one e-mail");
    }
    drop(smtp);
    let _ = std::fs::remove_dir_all(&dir);
}

/// AT-28: throttling by percentage (20 % of 10 members): a new profile (0 members) populates fully;
/// 3 changes (30 %) are not applied and e-mail the contact; 2 changes (20 %, not more) are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_by_percentage() {
    let Some(r) = rig("asg-percent", "2026-03-02T01:00:00Z").await else { return };
    let mut ids = Vec::new();
    for n in 1..=13 {
        let dept = if n <= 10 { "Team" } else { "Other" };
        let (st, _, body) =
            r.scim.post("/Users", entra(&oid(n), &format!("q{n}@contoso.com"), "Oslo", "Rep", dept)).await;
        assert_eq!(st, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    r.synced().await;
    let settings = json!({"contactEmail": "lms-admin@contoso.com", "entraGroupPrefix": PREFIX});
    r.admin_ok(Method::PUT, "assigner/settings", Some(settings)).await;
    r.create_profile(json!({
        "title": "Pct", "enroll": false, "courses": [], "autoPopulate": true,
        "throttle": {"maxChangesPercent": 20},
        "properties": {"source": "Department", "value": "Team"},
    }))
    .await;
    r.advance("2026-03-02T03:00:00Z").await;
    let ten: Vec<u32> = (1..=10).collect();
    assert_eq!(group_members(&r.sim.state().await, "ASG-Pct"), Some(oids(&ten)), "no percentage at 0 members");

    let join = |i: usize, dept: &str| {
        let ops = json!([{"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": dept}]);
        (format!("/Users/{}", ids[i]), ops)
    };
    for i in 10..13 {
        let (path, ops) = join(i, "Team");
        r.scim.patch_ok(&path, ops).await;
    }
    r.synced().await;
    r.advance("2026-03-02T06:00:00Z").await; // 3 of 10 = 30 % > 20 %
    assert_eq!(group_members(&r.sim.state().await, "ASG-Pct"), Some(oids(&ten)), "throttled");
    let notes = r.env.cli_json(&["target", "notifications", "--tenant", &r.tenant, TARGET]).await;
    let throttled =
        notes.as_array().expect("notifications").iter().filter(|n| n["kind"] == "assigner-throttle").count();
    assert_eq!(throttled, 1, "{notes}");

    let (path, ops) = join(12, "Other");
    r.scim.patch_ok(&path, ops).await;
    r.synced().await;
    r.advance("2026-03-02T09:00:00Z").await; // 2 of 10 = 20 %, not more: applied
    let twelve: Vec<u32> = (1..=12).collect();
    assert_eq!(group_members(&r.sim.state().await, "ASG-Pct"), Some(oids(&twelve)));
    let notes = r.env.cli_json(&["target", "notifications", "--tenant", &r.tenant, TARGET]).await;
    let throttled =
        notes.as_array().expect("notifications").iter().filter(|n| n["kind"] == "assigner-throttle").count();
    assert_eq!(throttled, 1, "no second e-mail: {notes}");
}
