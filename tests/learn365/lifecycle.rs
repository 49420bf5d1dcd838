//! Users (L1, L3, L4), sources of enrollments (L2: several groups, a deleted group), a change of
//! `courseMappings` reaching existing members through the plugin's `apply-mappings` job, and a broken
//! configuration refused at `target add` with the field named.

use super::*;
use crate::common::{Backend, ENTERPRISE, USER_SCHEMA};

/// An Entra user with the identity fields Learn365 shows.
fn rich_user(upn: &str, object_id: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": object_id,
        "userName": upn,
        "active": true,
        "displayName": "Ann Lee",
        "title": "Account Manager",
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "addresses": [{"type": "work", "primary": true, "locality": "Oslo", "country": "NO"}],
        ENTERPRISE: {"department": "Sales", "organization": "Contoso"},
    })
}

/// L1, L3, L4 (keepHistory): identity fields, a disabled user keeps its enrollments, a hard delete
/// ends the group enrollments the gateway made and keeps the user with its history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_identity_disable_and_hard_delete_keep_history() {
    let sim = learn365(&[]).await;
    let c1 = sim.course("C1").await;
    let Some(r) = Rig::new(Backend::Sqlite, "l365-users", sim, mapping("Sales", &[&c1], &[])).await else { return };
    let oid = "5f0c8a3e-1b2d-4c5e-8f9a-0b1c2d3e4f50";
    let (st, _, body) = r.scim.post("/Users", rich_user("Ann.Lee@Contoso.com", oid)).await;
    assert_eq!(st, 201, "{body}");
    let ann = body["id"].as_str().expect("id").to_owned();
    let g = r.group("Sales").await;
    r.add(&g, &[&ann]).await;
    let s = r.synced().await;
    let u = s.user("ann.lee@contoso.com").expect("Ann in Learn365").clone();
    assert_eq!(u["loginName"], claims("ann.lee@contoso.com"), "claims of the UPN, lower-cased");
    assert_eq!(u["directoryObjectId"].as_str().map(str::to_lowercase), Some(oid.to_owned()));
    for (k, v) in [
        ("title", "Ann Lee"),
        ("email", "Ann.Lee@Contoso.com"),
        ("department", "Sales"),
        ("jobTitle", "Account Manager"),
        ("city", "Oslo"),
        ("country", "NO"),
        ("company", "Contoso"),
    ] {
        assert!(u[k].as_str().is_some_and(|x| x.eq_ignore_ascii_case(v)), "{k}: {u}");
    }
    assert!(s.active("ann.lee@contoso.com", &c1));

    // L3: disabled → IsDisabled, enrollments unchanged.
    r.scim.patch_ok(&format!("/Users/{ann}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    let s = r.synced().await;
    assert_eq!(s.user("ann.lee@contoso.com").map(|u| u["isDisabled"].clone()), Some(json!(true)));
    assert!(s.active("ann.lee@contoso.com", &c1), "a disabled user keeps the enrollment");

    // L4 keepHistory: the group enrollment ends, the user and the record stay.
    let (st, _, _) = r.scim.delete(&format!("/Users/{ann}")).await;
    assert_eq!(st, 204);
    let s = r.synced().await;
    assert!(s.user("ann.lee@contoso.com").is_some(), "kept with its history");
    assert!(!s.active("ann.lee@contoso.com", &c1));
    assert!(s.enrollment("ann.lee@contoso.com", &c1).is_some(), "the record is kept");
}

/// L4 with `onHardDelete: purge`: the Learn365 user and everything of theirs is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_delete_with_purge() {
    let sim = learn365(&[]).await;
    let c1 = sim.course("C1").await;
    let mut cfg = mapping("Sales", &[&c1], &[]);
    cfg["onHardDelete"] = json!("purge");
    let Some(r) = Rig::new(Backend::Sqlite, "l365-purge", sim, cfg).await else { return };
    let bo = r.user("bo@contoso.com").await;
    let g = r.group("Sales").await;
    r.add(&g, &[&bo]).await;
    assert!(r.synced().await.active("bo@contoso.com", &c1));
    r.scim.delete(&format!("/Users/{bo}")).await;
    let s = r.synced().await;
    assert!(s.user("bo@contoso.com").is_none() && s.enrollment("bo@contoso.com", &c1).is_none(), "{}", s.0);
}

/// L2: one course through two groups: it stays while either group entitles the user; a deleted group
/// takes its source away; a direct enrollment made in Learn365 is never cancelled by the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_from_several_groups() {
    let sim = learn365(&[]).await;
    let (c1, c2) = (sim.course("C1").await, sim.course("C2").await);
    let cfg = json!({"courseMappings": [
        {"group": "Team A", "courses": [c1]},
        {"group": "Team B", "courses": [c1, c2]},
    ]});
    let Some(r) = Rig::new(Backend::Sqlite, "l365-sources", sim, cfg).await else { return };
    let (u, d) = (r.user("u@contoso.com").await, r.user("d@contoso.com").await);
    r.synced().await;
    r.sim.enroll_directly("d@contoso.com", &c2).await; // D's own C2, before any group
    let (a, b) = (r.group("Team A").await, r.group("Team B").await);
    r.add(&a, &[&u]).await;
    r.add(&b, &[&u, &d]).await;
    let s = r.synced().await;
    assert!(s.active("u@contoso.com", &c1) && s.active("u@contoso.com", &c2));
    r.remove(&a, &[&u]).await;
    let s = r.synced().await;
    assert!(s.active("u@contoso.com", &c1), "Team B still entitles U to C1");
    let (st, _, _) = r.scim.delete(&format!("/Groups/{b}")).await;
    assert_eq!(st, 204);
    let s = r.synced().await;
    assert!(!s.active("u@contoso.com", &c1) && !s.active("u@contoso.com", &c2), "no source left");
    assert!(!s.active("d@contoso.com", &c1), "D's C1 came from Team B");
    assert!(s.active("d@contoso.com", &c2), "D's own C2 enrollment is not the gateway's to cancel");
}

/// A change of `courseMappings` reaches the members a group already has: `apply-mappings` (every
/// 5 minutes, or `gateway target run-job`) enrolls them in what was added and cancels what was dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_change_reaches_existing_members() {
    let sim = learn365(&[]).await;
    let (c1, c2) = (sim.course("C1").await, sim.course("C2").await);
    let t = sim.plan("T", &[&c2]).await;
    let Some(r) = Rig::new(Backend::Sqlite, "l365-remap", sim, mapping("Ops", &[&c1], &[])).await else { return };
    let users = [r.user("a@contoso.com").await, r.user("b@contoso.com").await];
    let g = r.group("Ops").await;
    r.add(&g, &[&users[0], &users[1]]).await;
    let s = r.synced().await;
    assert!(s.active("a@contoso.com", &c1) && !s.active("a@contoso.com", &t));

    r.configure(mapping("Ops", &[], &[&t])).await;
    let s = r.apply_mappings().await;
    for upn in ["a@contoso.com", "b@contoso.com"] {
        assert!(s.active(upn, &t) && s.active(upn, &c2), "{upn} gets the plan and its course");
        assert!(!s.active(upn, &c1), "{upn}: C1 is no longer mapped and was the gateway's");
    }
    // Nothing left to do: a second run changes nothing.
    let before = s.0["enrollments"].clone();
    assert_eq!(r.apply_mappings().await.0["enrollments"], before);
}

/// A broken configuration is refused at `target add`, naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_configuration_is_refused_with_the_field_named() {
    let Some(env) = TestEnv::new(Backend::Sqlite, "l365-config").await else { return };
    let (tenant, _) = env.create_tenant().await;
    env.add_plugin("learn365", "learn365").await;
    let cfg =
        json!({"baseUrl": "https://us-api.365.systems", "courseMappings": [{"group": "A", "courses": ["not-a-guid"]}]});
    let out = env
        .cli(&[
            "target",
            "add",
            "--tenant",
            &tenant,
            "--name",
            TARGET,
            "--plugin",
            "learn365",
            "--config",
            &cfg.to_string(),
        ])
        .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("courseMappings[0].courses[0]"), "{}", out.stderr);
}

/// A Learn365 that allows only a few requests a second: the gateway waits for it (the whole target is
/// held back while it asks to, and throttled retries do not count towards the dead letters), and
/// everything arrives, nothing dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_learn365_is_waited_for() {
    let sim = learn365(&["--rate-limit", "5"]).await;
    let c1 = sim.course("C1").await;
    let Some(r) = Rig::new(Backend::Sqlite, "l365-rate", sim, mapping("Crew", &[&c1], &[])).await else { return };
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(r.user(&format!("crew{i}@contoso.com")).await);
    }
    let g = r.group("Crew").await;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    r.add(&g, &refs).await;
    let s = r.synced().await; // asserts: no dead operations
    for i in 0..25 {
        assert!(s.active(&format!("crew{i}@contoso.com"), &c1), "crew{i}");
    }
    let stats = r.sim.ok(reqwest::Method::GET, "/_sim/stats", None).await;
    assert!(stats["rateLimited"].as_u64() > Some(0), "the limit was met: {stats}");
    assert!(r.gw.counter("outbox_held_back_total").await > 0.0, "the target was held back");
}
