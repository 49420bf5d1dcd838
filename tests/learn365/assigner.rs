//! The Assigner (AT-22..AT-34) on the virtual clock: settings and profiles through the plugin's admin
//! resources, the data refresh (the gateway's directory and Learn365), the locked maintenance that
//! fills each profile's Entra group through Microsoft Graph (the simulator's Graph subset), throttling
//! with a notification to the contact, and the lock.

use super::*;
use crate::common::{Backend, ENTERPRISE, USER_SCHEMA};
use reqwest::Method;

pub(super) const PREFIX: &str = "ASG-";

/// An Entra user: object id, UPN, city, position (SCIM title), department.
pub(super) fn entra(oid: &str, upn: &str, city: &str, position: &str, department: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": oid,
        "userName": upn,
        "active": true,
        "displayName": upn,
        "title": position,
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "addresses": [{"type": "work", "primary": true, "locality": city, "country": "US"}],
        ENTERPRISE: {"department": department},
    })
}

/// The n-th test object id.
pub(super) fn oid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// A Learn365 target with the Assigner on (Graph at the simulator), on a virtual clock from `start`.
pub(super) async fn rig(label: &str, start: &str) -> Option<Rig> {
    rig_env(label, start, &[]).await
}

/// [`rig`] with more gateway environment (e.g. an SMTP relay).
pub(super) async fn rig_env(label: &str, start: &str, gw_env: &[(&str, &str)]) -> Option<Rig> {
    let sim = learn365(&[]).await;
    let graph = json!({
        "type": "oauth2-client-credentials",
        "tokenUrl": format!("{}/contoso.onmicrosoft.com/oauth2/v2.0/token", sim.origin()),
        "clientId": "sim-graph-client",
        "clientSecret": "sim-graph-secret",
        "scope": "https://graph.microsoft.com/.default",
    });
    let config = json!({"assigner": {"graphBaseUrl": sim.origin()}});
    let creds = [format!("entra-app={graph}")];
    let mut env = vec![("GATEWAY_VIRTUAL_CLOCK", start)];
    env.extend_from_slice(gw_env);
    Rig::with(Backend::Sqlite, label, sim, config, &creds, &env).await
}

impl Rig {
    pub(super) async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let path = format!("/tenants/{}/targets/{TARGET}/resources/{path}", self.tenant);
        let mut rb = self.gw.admin(method, &path);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let resp = rb.send().await.expect("admin API answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub(super) async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (st, v) = self.admin(method.clone(), path, body).await;
        assert!((200..300).contains(&st), "{method} {path}: {st} {v}\n{}", self.gw.log_tail(20));
        v
    }

    /// Advances the virtual clock to `to` (every job due on the way runs, in order, to its end), then
    /// waits for the operations they queued.
    pub(super) async fn advance(&self, to: &str) -> Value {
        let resp = self
            .gw
            .admin(Method::POST, "/clock/advance")
            .header("content-type", "application/json")
            .body(json!({"to": to}).to_string())
            .send()
            .await
            .expect("clock advance answers");
        let st = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(st.is_success(), "advance to {to}: {st} {v}\n{}", self.gw.log_tail(30));
        self.synced().await;
        v
    }

    pub(super) async fn create_profile(&self, profile: Value) -> String {
        let v = self.admin_ok(Method::POST, "assigner/profiles", Some(profile)).await;
        v["id"].as_str().unwrap_or_else(|| panic!("profile id: {v}")).to_owned()
    }
}

/// Members (object ids) of the Entra group named `name`, or None when there is no such group.
pub(super) fn group_members(s: &State, name: &str) -> Option<BTreeSet<String>> {
    let groups = s.0["graphGroups"].as_array()?;
    let g = groups.iter().find(|g| g["displayName"] == name)?;
    Some(g["members"].as_array()?.iter().filter_map(|m| m.as_str().map(str::to_lowercase)).collect())
}

pub(super) fn oids(ns: &[u32]) -> BTreeSet<String> {
    ns.iter().map(|n| oid(*n)).collect()
}

/// AT-32 (a) first refresh within 5 minutes of the settings; AT-22 (AND/OR), AT-26 (overrides),
/// AT-29 (auto-populate off) after the next maintenance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_fill_their_groups_at_maintenance() {
    let Some(r) = rig("asg-fill", "2026-03-02T01:00:00Z").await else { return };
    let people = [
        (1, "u1@contoso.com", "Las Vegas", "Customer Success Manager", "CS"),
        (2, "u2@contoso.com", "Denver", "Customer Success Manager", "CS"),
        (3, "u3@contoso.com", "Denver", "Sales Manager", "Field"),
        (4, "u4@contoso.com", "Boston", "Customer Success Manager", "CS"),
        (5, "u5@contoso.com", "san diego ", "customer success manager", "CS"),
        (6, "a@contoso.com", "Boston", "Rep", "Sales"),
        (7, "b@contoso.com", "Boston", "Rep", "HR"),
        (8, "c@contoso.com", "Boston", "Rep", "Sales"),
    ];
    for (n, upn, city, position, dept) in people {
        let (st, _, body) = r.scim.post("/Users", entra(&oid(n), upn, city, position, dept)).await;
        assert_eq!(st, 201, "{body}");
    }
    r.synced().await; // the users exist in Learn365
    r.admin_ok(
        Method::PUT,
        "assigner/settings",
        Some(json!({"contactEmail": "lms-admin@contoso.com", "entraGroupPrefix": PREFIX})),
    )
    .await;
    r.advance("2026-03-02T01:05:00Z").await;
    let runs = r.admin_ok(Method::GET, "assigner/runs", None).await;
    assert!(runs.to_string().contains("refresh"), "a refresh ran within 5 minutes: {runs}");

    let cities = ["Las Vegas", "San Diego", "Denver"].map(|c| json!({"source": "City", "value": c}));
    r.create_profile(json!({
        "title": "P", "enroll": false, "courses": [], "autoPopulate": true,
        "properties": {"op": "AND", "children": [
            {"op": "OR", "children": cities},
            {"source": "Position", "condition": "equals", "value": "Customer Success Manager"},
        ]},
    }))
    .await;
    r.create_profile(json!({
        "title": "O", "enroll": false, "courses": [], "autoPopulate": true,
        "properties": {"source": "Department", "value": "Sales"},
        "include": [oid(7), oid(8)], "exclude": [oid(8)],
    }))
    .await;
    r.create_profile(json!({
        "title": "Q", "enroll": false, "courses": [], "autoPopulate": false,
        "properties": {"source": "Department", "value": "CS"},
    }))
    .await;
    r.advance("2026-03-02T03:00:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-P"), Some(oids(&[1, 2, 5])), "AT-22");
    assert_eq!(group_members(&s, "ASG-O"), Some(oids(&[6, 7])), "AT-26: exclude wins");
    assert_eq!(group_members(&s, "ASG-Q"), Some(BTreeSet::new()), "AT-29: the group exists, empty");
    the_cli_lists_downloads_and_renames(&r).await;
}

/// `gateway assigner …` on the same tenant: profiles listed, P's member list as CSV on stdout and as
/// an Excel file read back by an independent reader, a refused call's message, and a new title
/// renaming the group at a maintenance run now.
async fn the_cli_lists_downloads_and_renames(r: &Rig) {
    let t = r.tenant.as_str();
    let list = r.env.cli_json(&["assigner", "profiles", "--tenant", t]).await;
    let p = list["profiles"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["title"] == "P"))
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("P listed: {list}"))
        .to_owned();
    let out = r.env.cli(&["assigner", "members", "--tenant", t, &p, "--format", "csv", "--out", "-"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.starts_with("id,upn,displayName\n") && out.stdout.lines().count() == 4, "{}", out.stdout);
    let written = r.env.cli_json(&["assigner", "members", "--tenant", t, &p, "--format", "xlsx"]).await;
    assert_eq!(written["written"], "p-members.xlsx", "{written}");
    let path = r.env.dir.path.join("p-members.xlsx");
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).expect("an Excel file calamine opens");
    assert_eq!(calamine::Reader::sheet_names(&book), vec!["P".to_owned()]);
    let sheet = calamine::Reader::worksheet_range_at(&mut book, 0).expect("a sheet").expect("readable");
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0], ["id", "upn", "displayName"]);
    let ids: BTreeSet<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, oids(&[1, 2, 5]), "{rows:?}");
    assert!(rows.iter().any(|r| r[1] == "u5@contoso.com"), "{rows:?}");

    let out = r.env.cli(&["assigner", "show", "--tenant", t, "nope"]).await;
    assert!(!out.status.success() && out.stderr.contains("404: no Assigner profile nope"), "{}", out.stderr);

    let mut profile = r.env.cli_json(&["assigner", "export", "--tenant", t, &p]).await;
    profile["title"] = json!("P West");
    let renamed = r.env.cli_json(&["assigner", "update", "--tenant", t, &p, &profile.to_string()]).await;
    assert_eq!(renamed["title"], "P West", "{renamed}");
    let due = r.env.cli_json(&["assigner", "run", "--tenant", t, "maintenance"]).await;
    assert_eq!(due["job"], "assigner-maintenance", "{due}");
    // The running gateway sees another process's kv writes within 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    r.advance("2026-03-02T03:10:00Z").await;
    let s = r.sim.state().await;
    assert_eq!(group_members(&s, "ASG-P"), None, "renamed");
    assert_eq!(group_members(&s, "ASG-P West"), Some(oids(&[1, 2, 5])), "the same group, members kept");
    let runs = r.env.cli_json(&["assigner", "runs", "--tenant", t]).await;
    assert_eq!(runs["runs"][0]["kind"], "maintenance", "{runs}");
}

/// AT-27: more changes than allowed leave the group as it was, e-mail the contact once, and still
/// write the member list; a change within the limit is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_by_count() {
    let Some(r) = rig("asg-throttle", "2026-03-02T01:00:00Z").await else { return };
    let mut ids = Vec::new();
    for n in 1..=6 {
        let dept = if n <= 3 { "Team" } else { "Other" };
        let (st, _, body) =
            r.scim.post("/Users", entra(&oid(n), &format!("m{n}@contoso.com"), "Oslo", "Rep", dept)).await;
        assert_eq!(st, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    r.synced().await;
    r.admin_ok(
        Method::PUT,
        "assigner/settings",
        Some(json!({"contactEmail": "lms-admin@contoso.com", "entraGroupPrefix": PREFIX})),
    )
    .await;
    let p = r
        .create_profile(json!({
            "title": "T", "enroll": false, "courses": [], "autoPopulate": true,
            "properties": {"source": "Department", "value": "Team"},
        }))
        .await;
    r.advance("2026-03-02T03:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2, 3])));

    // Now at most 2 changes; m2, m3 leave the team, m4..m6 join: 5 changes.
    let mut profile = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}"), None).await;
    profile["throttle"] = json!({"maxChanges": 2});
    r.admin_ok(Method::PUT, &format!("assigner/profiles/{p}"), Some(profile)).await;
    for (i, dept) in [(1, "Other"), (2, "Other"), (3, "Team"), (4, "Team"), (5, "Team")] {
        let ops = json!([{"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": dept}]);
        r.scim.patch_ok(&format!("/Users/{}", ids[i]), ops).await;
    }
    r.synced().await;
    r.advance("2026-03-02T06:00:00Z").await; // refresh at 05:00, maintenance at 06:00
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 2, 3])), "throttled: unchanged");
    let notes = r.env.cli_json(&["target", "notifications", "--tenant", &r.tenant, TARGET]).await;
    let throttle_mails: Vec<&Value> =
        notes.as_array().expect("notifications").iter().filter(|n| n["kind"] == "assigner-throttle").collect();
    assert_eq!(throttle_mails.len(), 1, "one throttle e-mail: {notes}");
    assert_eq!(throttle_mails[0]["recipient"], "lms-admin@contoso.com");
    let list = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}/members"), None).await;
    assert_eq!(list["throttled"], true, "{list}");
    let written: BTreeSet<String> = list["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_lowercase))
        .collect();
    assert_eq!(written, oids(&[1, 4, 5, 6]), "the member list is still written");

    // Within the limit: two changes are applied.
    let mut profile = r.admin_ok(Method::GET, &format!("assigner/profiles/{p}"), None).await;
    profile["throttle"] = json!({"maxChanges": 5});
    r.admin_ok(Method::PUT, &format!("assigner/profiles/{p}"), Some(profile)).await;
    r.advance("2026-03-02T09:00:00Z").await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-T"), Some(oids(&[1, 4, 5, 6])));
}

/// AT-32 (b) a maintenance with no refresh behind it stops at once; (c) while one runs, profile and
/// settings writes and member-list downloads answer 423, and succeed once it is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_needs_a_refresh_and_locks_the_tenant() {
    // Off the hour: a run-now at 01:00:30 is a manual run (one at 01:00 would be the scheduled one,
    // which maintains only at the maintenance hours).
    let Some(r) = rig("asg-lock", "2026-03-02T01:00:30Z").await else { return };
    let (st, _, body) = r.scim.post("/Users", entra(&oid(1), "l1@contoso.com", "Oslo", "Rep", "Team")).await;
    assert_eq!(st, 201, "{body}");
    r.synced().await;
    let settings = json!({"contactEmail": "lms-admin@contoso.com", "entraGroupPrefix": PREFIX});
    r.admin_ok(Method::PUT, "assigner/settings", Some(settings.clone())).await;
    let p = r
        .create_profile(json!({
            "title": "L", "enroll": false, "courses": [], "autoPopulate": true,
            "properties": {"source": "Department", "value": "Team"},
        }))
        .await;
    // (b) a maintenance run now, before the first refresh (due at 01:05): it stops, no group.
    let out = r.env.cli(&["target", "run-job", "--tenant", &r.tenant, TARGET, "assigner-maintenance"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    r.advance("2026-03-02T01:01:00Z").await;
    let runs = r.admin_ok(Method::GET, "assigner/runs", None).await;
    let first = runs["runs"].as_array().and_then(|a| a.iter().find(|r| r["kind"] == "maintenance")).cloned();
    assert!(first.as_ref().is_some_and(|m| m["result"].to_string().contains("no data refresh")), "{runs}");
    assert_eq!(group_members(&r.sim.state().await, "ASG-L"), None, "no group without a refresh");

    // (c) a slow Learn365 and Graph keep the 03:00 maintenance running for a while.
    r.sim.faults(json!({"latencyMs": 400})).await;
    let gw_admin =
        r.gw.admin(Method::POST, "/clock/advance")
            .header("content-type", "application/json")
            .body(json!({"to": "2026-03-02T03:00:00Z"}).to_string());
    let advancing = tokio::spawn(async move { gw_admin.send().await.map(|r| r.status().as_u16()) });
    let path = format!("assigner/profiles/{p}");
    let profile = r.admin_ok(Method::GET, &path, None).await;
    // The 03:00 maintenance's first call takes the lock (the hourly runs before it find nothing due and
    // end at once; they too hold writes back for the moment they run, as every exclusive run does).
    let status = poll("the maintenance to hold the lock", WAIT, Duration::from_millis(20), async || {
        let (_, v) = r.admin(Method::GET, "assigner/status", None).await;
        (v["locked"] == true).then_some(v)
    })
    .await;
    status.unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(30)));
    let (st, locked) = r.admin(Method::PUT, &path, Some(profile.clone())).await;
    assert_eq!(st, 423, "a profile write is refused while the maintenance runs: {locked}");
    assert!(locked.to_string().contains("locked"), "{locked}");
    let (st, _) = r.admin(Method::PUT, "assigner/settings", Some(settings.clone())).await;
    assert_eq!(st, 423, "settings are locked too");
    let (st, _) = r.admin(Method::GET, &format!("{path}/members.csv"), None).await;
    assert_eq!(st, 423, "member-list downloads are locked");
    assert_eq!(advancing.await.expect("join").expect("advance"), 200);
    r.sim.faults(json!({})).await;
    r.synced().await;
    r.admin_ok(Method::PUT, &path, Some(profile)).await;
    assert_eq!(group_members(&r.sim.state().await, "ASG-L"), Some(oids(&[1])));
}
