//! Delivery end to end: the real `gateway serve` binary as a child process, real plugin components
//! (`scripts/build-plugins.sh`), and a sink HTTP server on 127.0.0.1 standing in for the LMS. SCIM writes
//! go in over HTTP the way Entra sends them; what the sink receives is checked against the tenant's change
//! log: nothing lost, one op id per event, in order per resource, signed, retried, dead-lettered and
//! replayed as the outcome says, across plugin traps, hot swaps, resyncs, `kill -9` and two processes
//! sharing one PostgreSQL database.

use crate::common::proc::*;
use crate::common::{Backend, ENTERPRISE, GROUP_SCHEMA, enc, entra_user};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for deliveries that should take a second or two.
const WAIT: Duration = Duration::from_secs(60);

/// A gateway process with one tenant on a fresh database. `gw` is declared first so it is killed before
/// the database is dropped.
struct Rig {
    gw: GatewayProc,
    env: TestEnv,
    tenant: String,
    token: String,
    scim: Scim,
}

async fn rig(backend: Backend, label: &str, extra: &[(&str, &str)]) -> Option<Rig> {
    let env = TestEnv::new(backend, label).await?;
    // The CLI creates (and migrates) the database before any server starts.
    let (tenant, token) = env.create_tenant().await;
    let gw = GatewayProc::spawn(&env, "gw", extra).await;
    let scim = gw.scim(&tenant, &token);
    Some(Rig { gw, env, tenant, token, scim })
}

/// `gateway target add` of a plugin that POSTs to `sink` (the webhook config: `{"url": sink}`, signed with
/// credential `sig` = `secret` when given). Returns the printed target.
async fn add_target(env: &TestEnv, tenant: &str, name: &str, plugin: &str, sink: &Sink, secret: Option<&str>) -> Value {
    let mut config = json!({"url": sink.url});
    let mut args: Vec<String> = ["target", "add", "--tenant", tenant, "--name", name, "--plugin", plugin]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend(["--allow-host".to_owned(), sink.origin.clone(), "--allow-http".into(), "--allow-private".into()]);
    if let Some(s) = secret {
        config["signing_credential"] = json!("sig");
        args.extend(["--credential".to_owned(), format!("sig={s}")]);
    }
    args.extend(["--config".to_owned(), config.to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = env.cli_json(&argv).await;
    assert_eq!(v["name"], name, "{v}");
    v
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`, computed here independently of the gateway.
fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length works");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// (seq, kind, resource id) of a change-log row (`gateway changes`).
fn event_key(e: &Value) -> (i64, String, String) {
    (
        e["seq"].as_i64().unwrap_or(-1),
        e["kind"].as_str().unwrap_or("").to_owned(),
        e["resource_id"].as_str().unwrap_or("").to_owned(),
    )
}

/// (seq, type, resource id) of a delivered webhook body.
fn hit_key(h: &Hit) -> (i64, String, String) {
    (h.seq(), h.kind().to_owned(), h.resource_id().to_owned())
}

/// Distinct op ids answered with 2xx.
fn delivered_ops(hits: &[Hit]) -> BTreeSet<String> {
    hits.iter().filter(|h| h.delivered()).map(|h| h.op().to_owned()).collect()
}

/// The change log after `after`, in order.
async fn log_after(env: &TestEnv, tenant: &str, after: i64) -> Vec<Value> {
    env.changes(tenant).await.into_iter().filter(|e| e["seq"].as_i64().unwrap_or(0) > after).collect()
}

/// Checks what a webhook target delivered (the sink's 2xx answers, in arrival order) against the change
/// log events it should carry: headers, one op id per event and one body per op id, every event there and
/// nothing else (resync events aside), exactly once when `exactly_once`, and per resource in log order
/// (the seq of a resource never goes back in arrival order; distinct op ids strictly increase). Returns
/// the number of duplicate deliveries (same op id again).
fn verify_stream(
    hits: &[Hit],
    tenant: &str,
    target: &str,
    events: &[Value],
    exactly_once: bool,
) -> Result<usize, String> {
    let delivered: Vec<&Hit> = hits.iter().filter(|h| h.delivered()).collect();
    let mut errors = Vec::new();
    let mut by_op: BTreeMap<&str, Vec<&Hit>> = BTreeMap::new();
    for h in &delivered {
        if h.op_id.as_deref().is_none_or(str::is_empty) {
            errors.push(format!("no X-Scimgw-Op-Id: {}", h.line()));
            continue;
        }
        if h.idempotency_key != h.op_id {
            errors.push(format!("Idempotency-Key {:?} differs from the op id: {}", h.idempotency_key, h.line()));
        }
        if h.body["tenant"] != tenant || h.body["target"] != target {
            errors.push(format!("body names tenant {} target {}: {}", h.body["tenant"], h.body["target"], h.line()));
        }
        if !h.content_type.as_deref().unwrap_or("").starts_with("application/json") {
            errors.push(format!("content type {:?}: {}", h.content_type, h.line()));
        }
        by_op.entry(h.op()).or_default().push(h);
    }
    let mut dups = 0;
    let mut by_event: BTreeMap<(i64, String, String), BTreeSet<&str>> = BTreeMap::new();
    for (op, hs) in &by_op {
        if hs.len() > 1 {
            dups += hs.len() - 1;
            if exactly_once {
                errors.push(format!("op {op} delivered {} times (expected once)", hs.len()));
            }
            if hs.iter().any(|h| h.raw != hs[0].raw) {
                errors.push(format!("op {op} was delivered with different bodies"));
            }
        }
        by_event.entry(hit_key(hs[0])).or_default().insert(op);
    }
    for (k, ops) in &by_event {
        if ops.len() > 1 {
            errors.push(format!("event {k:?} was delivered under {} different op ids: {ops:?}", ops.len()));
        }
    }
    let expected: BTreeSet<(i64, String, String)> = events.iter().map(event_key).collect();
    let got: BTreeSet<(i64, String, String)> = by_event.keys().filter(|k| k.0 > 0).cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&expected).collect();
    if !missing.is_empty() {
        errors.push(format!(
            "{} event(s) never delivered, e.g. {:?}",
            missing.len(),
            missing.iter().take(10).collect::<Vec<_>>()
        ));
    }
    if !unexpected.is_empty() {
        errors.push(format!(
            "{} unexpected event(s), e.g. {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(10)]
        ));
    }
    let mut last: HashMap<&str, (i64, &str)> = HashMap::new();
    for h in delivered.iter().filter(|h| h.body["resync"] == false) {
        if let Some((seq, op)) = last.get(h.resource_id())
            && h.seq() < *seq
        {
            errors.push(format!(
                "out of order for {}: seq {} ({}) arrived after seq {seq} ({op})",
                h.resource_id(),
                h.seq(),
                h.op()
            ));
        }
        last.insert(h.resource_id(), (h.seq(), h.op()));
    }
    if errors.is_empty() {
        Ok(dups)
    } else {
        let listing: String = delivered.iter().take(60).map(|h| format!("  {}\n", h.line())).collect();
        Err(format!(
            "{}\n{} delivered request(s), {} expected event(s); first ones:\n{listing}",
            errors.join("\n"),
            delivered.len(),
            events.len()
        ))
    }
}

/// Unwraps a wait, or fails with the gateway's log tail.
trait OrLog<T> {
    fn or_log(self, gw: &GatewayProc) -> T;
}

impl<T> OrLog<T> for Result<T, String> {
    fn or_log(self, gw: &GatewayProc) -> T {
        self.unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
    }
}

/// Waits until the target has nothing pending (so no further delivery can come) and returns its status.
async fn wait_drained(rig_env: &TestEnv, tenant: &str, target: &str, gw: &GatewayProc) -> Value {
    wait_drained_for(rig_env, tenant, target, gw, WAIT).await
}

async fn wait_drained_for(rig_env: &TestEnv, tenant: &str, target: &str, gw: &GatewayProc, timeout: Duration) -> Value {
    poll("the outbox to drain", timeout, Duration::from_millis(100), async || {
        let s = rig_env.target_status(tenant, target).await;
        (s["pending"] == 0 && s["cursor_seq"] == s["last_seq"]).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
}

/// Waits until every event of `events` was delivered to `sink` (by distinct op id count).
async fn wait_all(sink: &Sink, events: usize, gw: &GatewayProc) -> Vec<Hit> {
    sink.wait(&format!("{events} events delivered"), WAIT, |h| delivered_ops(h).len() >= events)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
}

// ---- 1. end to end, in order ---------------------------------------------------------------------------

async fn end_to_end(backend: Backend) {
    let Some(r) = rig(backend, "e2e", &[]).await else { return };
    let sink = Sink::start();
    let secret = format!("whsec-{}", uuid::Uuid::new_v4().simple());
    r.env.add_plugin("webhook", "webhook").await;
    let added = add_target(&r.env, &r.tenant, "hook", "webhook", &sink, Some(&secret)).await;
    assert_eq!(added["credential_names"], json!(["sig"]), "{added}");
    let start = added["cursor_seq"].as_i64().expect("cursor_seq");

    // What Entra sends: users, attribute updates, a deactivation, a group with members, member changes, a
    // rename and a delete.
    let s = &r.scim;
    let alice = s.create_user("alice@contoso.com").await;
    let bob = s.create_user("bob@contoso.com").await;
    let carol = s.create_user("carol@contoso.com").await;
    s.patch_ok(
        &format!("/Users/{alice}"),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Alice Smith"},
            {"op": "Replace", "path": "name.givenName", "value": "Alicia"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}
        ]),
    )
    .await;
    s.patch_ok(&format!("/Users/{bob}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    let (st, _, g) = s
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA],
                "externalId": uuid::Uuid::new_v4().to_string(),
                "displayName": "Sales Team",
                "members": [{"value": alice}, {"value": bob}]
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let group = g["id"].as_str().expect("group id").to_owned();
    s.patch_ok(
        &format!("/Groups/{group}"),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": carol}]}]),
    )
    .await;
    s.patch_ok(&format!("/Groups/{group}"), json!([{"op": "Remove", "path": "members", "value": [{"value": bob}]}]))
        .await;
    s.patch_ok(
        &format!("/Groups/{group}"),
        json!([{"op": "Replace", "path": "displayName", "value": "Sales Team EU"}]),
    )
    .await;
    assert_eq!(s.delete(&format!("/Users/{carol}")).await.0, StatusCode::NO_CONTENT);

    let events = log_after(&r.env, &r.tenant, start).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        [
            "user.upserted",
            "user.upserted",
            "user.upserted",
            "user.upserted",
            "user.active_changed",
            "group.upserted",
            "group.members_added",
            "group.members_added",
            "group.members_removed",
            "group.renamed",
            "user.deleted"
        ],
        "the change log of the scripted sequence"
    );

    wait_all(&sink, events.len(), &r.gw).await;
    let status = wait_drained(&r.env, &r.tenant, "hook", &r.gw).await;
    assert_eq!(status["dead"], 0, "{status}");
    assert_eq!(status["state"], "active", "{status}");
    let hits = sink.hits();
    let dups = verify_stream(&hits, &r.tenant, "hook", &events, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dups, 0);
    assert_eq!(hits.len(), events.len(), "one request per event, no retries:\n{}", sink.dump(40));

    // Every body is signed with the secret.
    for h in &hits {
        let want = format!("sha256={}", hmac_hex(&secret, &h.raw));
        assert_eq!(h.signature.as_deref(), Some(want.as_str()), "signature of {}", h.line());
    }

    // Bodies, by event.
    let body = |kind: &str, id: &str, nth: usize| -> Value {
        hits.iter()
            .filter(|h| h.kind() == kind && h.resource_id() == id)
            .nth(nth)
            .map(|h| h.body.clone())
            .unwrap_or_else(|| panic!("no {kind} #{nth} for {id}:\n{}", sink.dump(40)))
    };
    for h in &hits {
        assert_eq!(h.body["resync"], false);
        assert!(h.body["at"].as_str().is_some_and(|a| !a.is_empty()), "{}", h.line());
        assert_eq!(h.path, "/hook");
    }
    let a1 = body("user.upserted", &alice, 1);
    assert_eq!(a1["resourceType"], "User");
    assert_eq!(a1["data"]["id"], alice.as_str());
    assert_eq!(a1["data"]["displayName"], "Alice Smith");
    assert_eq!(a1["data"]["name"]["givenName"], "Alicia");
    assert_eq!(a1["data"][ENTERPRISE]["department"], "Sales");
    assert_eq!(body("user.upserted", &alice, 0)["data"]["userName"], "alice@contoso.com");
    assert_eq!(body("user.active_changed", &bob, 0)["data"], json!({"active": false}));
    assert_eq!(body("group.upserted", &group, 0)["data"]["displayName"], "Sales Team");
    assert_eq!(
        body("group.members_added", &group, 0)["data"],
        json!({"members": [{"value": alice, "type": "User"}, {"value": bob, "type": "User"}]})
    );
    assert_eq!(body("group.members_added", &group, 1)["data"], json!({"members": [{"value": carol, "type": "User"}]}));
    assert_eq!(body("group.members_removed", &group, 0)["data"], json!({"members": [{"value": bob, "type": "User"}]}));
    assert_eq!(
        body("group.renamed", &group, 0)["data"],
        json!({"oldDisplayName": "Sales Team", "displayName": "Sales Team EU"})
    );
    let d = body("user.deleted", &carol, 0);
    assert_eq!(d["resourceType"], "User");
    assert_eq!(d["data"], Value::Null);

    // The secret shows nowhere: CLI output, admin API answers, the gateway's log, the database file.
    r.env.cli(&["target", "list", "--tenant", &r.tenant]).await;
    r.env.cli(&["outbox", "list", "--tenant", &r.tenant]).await;
    let mut shown = r.env.cli_transcript();
    for path in [
        format!("/targets?tenant={}", r.tenant),
        format!("/tenants/{}/targets/hook", r.tenant),
        format!("/tenants/{}/outbox?target=hook", r.tenant),
    ] {
        let resp = r.gw.admin(Method::GET, &path).send().await.expect("admin API answers");
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        shown.push_str(&resp.text().await.unwrap_or_default());
    }
    assert!(shown.contains("\"sig\""), "the outputs checked include the credential's name:\n{shown}");
    assert!(!shown.contains(&secret), "the signing secret appears in CLI or admin API output:\n{shown}");
    assert!(!r.gw.log().contains(&secret), "the signing secret appears in the gateway log");
    if backend == Backend::Sqlite {
        for entry in std::fs::read_dir(&r.env.dir.path).expect("test dir") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if name.starts_with("gateway.db") {
                let bytes = std::fs::read(&path).unwrap_or_default();
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "the secret is stored in clear in {name}");
            }
        }
    }
}

#[tokio::test]
async fn end_to_end_sqlite() {
    end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn end_to_end_postgres() {
    end_to_end(Backend::Postgres).await;
}

// ---- 2. two targets on one tenant ----------------------------------------------------------------------

#[tokio::test]
async fn two_targets_each_get_the_full_stream() {
    let Some(r) = rig(Backend::Sqlite, "two", &[]).await else { return };
    let (sa, sb) = (Sink::start(), Sink::start());
    r.env.add_plugin("webhook", "webhook").await;
    let a = add_target(&r.env, &r.tenant, "lms-a", "webhook", &sa, None).await;
    add_target(&r.env, &r.tenant, "lms-b", "webhook", &sb, Some("b-secret")).await;
    let start = a["cursor_seq"].as_i64().expect("cursor");

    let mut users = Vec::new();
    for i in 0..6 {
        users.push(r.scim.create_user(&format!("two{i}@contoso.com")).await);
    }
    let g = r.scim.create_group("Two").await;
    let add: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    r.scim.patch_ok(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": add}])).await;
    for u in &users[..3] {
        r.scim.patch_ok(&format!("/Users/{u}"), json!([{"op": "Replace", "path": "title", "value": "Lead"}])).await;
    }
    assert_eq!(r.scim.delete(&format!("/Users/{}", users[5])).await.0, StatusCode::NO_CONTENT);

    let events = log_after(&r.env, &r.tenant, start).await;
    assert_eq!(events.len(), 6 + 1 + 1 + 3 + 1);
    wait_all(&sa, events.len(), &r.gw).await;
    wait_all(&sb, events.len(), &r.gw).await;
    wait_drained(&r.env, &r.tenant, "lms-a", &r.gw).await;
    wait_drained(&r.env, &r.tenant, "lms-b", &r.gw).await;
    let (ha, hb) = (sa.hits(), sb.hits());
    verify_stream(&ha, &r.tenant, "lms-a", &events, true).unwrap_or_else(|e| panic!("lms-a: {e}"));
    verify_stream(&hb, &r.tenant, "lms-b", &events, true).unwrap_or_else(|e| panic!("lms-b: {e}"));
    assert!(ha.iter().all(|h| h.signature.is_none()), "lms-a has no signing credential");
    assert!(hb.iter().all(|h| h.signature.as_deref() == Some(&*format!("sha256={}", hmac_hex("b-secret", &h.raw)))));
    // Two targets, two sets of operations: no op id is shared.
    let (oa, ob) = (delivered_ops(&ha), delivered_ops(&hb));
    assert!(oa.is_disjoint(&ob), "op ids are per target: {oa:?} / {ob:?}");
    // The same events carry the same data apart from the target's name.
    for h in &ha {
        let twin = hb.iter().find(|x| hit_key(x) == hit_key(h)).expect("the same event at lms-b");
        assert_eq!(h.body["data"], twin.body["data"], "{}", h.line());
    }
}

// ---- 3. misbehaving plugins ----------------------------------------------------------------------------

#[tokio::test]
async fn misbehaving_plugins_are_contained() {
    let extra = [("GATEWAY_MAX_ATTEMPTS", "3"), ("GATEWAY_RETRY_BASE_MS", "50")];
    let Some(mut r) = rig(Backend::Sqlite, "misbehave", &extra).await else { return };
    let sink = Sink::start();
    let env = &r.env;

    // Refused at registration, with the reason named.
    let out = env.cli(&["plugin", "add", &plugin_file("wrong-world").display().to_string()]).await;
    assert!(!out.status.success(), "wrong-world must be refused: {}", out.stdout);
    assert!(
        out.stderr.contains("missing export(s) deliver") && out.stderr.contains("scimgw:lms-target/target@1.0.0"),
        "the refusal names the missing export and the world: {}",
        out.stderr
    );
    let out = env.cli(&["plugin", "add", &plugin_file("bad-import").display().to_string()]).await;
    assert!(!out.status.success(), "bad-import must be refused: {}", out.stdout);
    assert!(out.stderr.contains("evil:steal/files@0.1.0"), "the refusal names the foreign import: {}", out.stderr);
    let listed = env.cli_json(&["plugin", "list"]).await;
    assert_eq!(listed, json!([]), "refused plugins are not registered");

    for p in ["loop", "alloc", "panic", "forbidden-host", "webhook"] {
        env.add_plugin(p, p).await;
    }
    let t = &r.tenant;
    let mut start = 0;
    for (name, plugin) in [("t-loop", "loop"), ("t-alloc", "alloc"), ("t-panic", "panic"), ("hook", "webhook")] {
        start = add_target(env, t, name, plugin, &sink, None).await["cursor_seq"].as_i64().expect("cursor");
    }
    let deliver_panic = r#"{"in":"deliver"}"#;
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-panic-deliver",
        "--plugin",
        "panic",
        "--config",
        deliver_panic,
    ])
    .await;
    // The metadata address allowlisted (but not private addresses): the SSRF guard must refuse it.
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-metadata",
        "--plugin",
        "forbidden-host",
        "--allow-host",
        "http://169.254.169.254",
        "--allow-http",
    ])
    .await;
    // Not allowlisted at all.
    env.cli_json(&[
        "target",
        "add",
        "--tenant",
        t,
        "--name",
        "t-unlisted",
        "--plugin",
        "forbidden-host",
        "--allow-http",
    ])
    .await;

    // SCIM writes while the plugins misbehave: every one answered, promptly.
    let mut slowest = Duration::ZERO;
    let mut users = Vec::new();
    for i in 0..4 {
        let t0 = Instant::now();
        users.push(r.scim.create_user(&format!("mis{i}@contoso.com")).await);
        slowest = slowest.max(t0.elapsed());
    }
    let g = r.scim.create_group("Misbehave").await;
    r.scim
        .patch_ok(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": [{"value": users[0]}]}]))
        .await;
    let events = log_after(env, t, start).await;
    assert_eq!(events.len(), 6);
    let first = events[0]["seq"].as_i64().expect("seq");

    // The bad translators park at the first change, each with the limit it hit.
    let gw = &r.gw;
    let n_events = events.len();
    let parked = |name: &'static str| async move {
        poll(&format!("{name} parked"), WAIT, Duration::from_millis(100), async || {
            let s = env.target_status(t, name).await;
            (s["state"] == "parked").then_some(s)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(40)))
    };
    let s_loop = parked("t-loop").await;
    let s_alloc = parked("t-alloc").await;
    let s_panic = parked("t-panic").await;
    for s in [&s_loop, &s_alloc, &s_panic] {
        assert_eq!(s["parked_seq"], first, "parked at the first change: {s}");
        assert_eq!(s["cursor_seq"], start, "nothing translated past the failure: {s}");
        assert_eq!(s["pending"], 0, "{s}");
        let reason = s["parked_reason"].as_str().unwrap_or("");
        assert!(reason.starts_with(&format!("translate of change {first} (user.upserted) failed: ")), "{reason}");
    }
    let reason = |s: &Value| s["parked_reason"].as_str().unwrap_or("").to_owned();
    let r_loop = reason(&s_loop);
    assert!(
        r_loop.contains("ran out of fuel (budget 100000000 instructions)")
            || r_loop.contains("exceeded its time limit of 500 ms"),
        "the loop hits the fuel or the time limit: {r_loop}"
    );
    assert!(reason(&s_alloc).contains("exceeded its memory limit of 64 MiB"), "{}", reason(&s_alloc));
    // The host names a panic with its message when the plugin reported it through `log` ("panic: …")
    // before aborting; the SDK installs no panic hook that does, so the trap is all the host sees.
    let r_panic = reason(&s_panic);
    assert!(
        r_panic.contains("the plugin panicked: misbehave-panic: translate panics on purpose (change")
            || r_panic.ends_with("the plugin trapped: unreachable code reached (a panic or abort)"),
        "the panic is named: {r_panic}"
    );

    // The healthy target delivers everything meanwhile.
    wait_all(&sink, events.len(), &r.gw).await;
    wait_drained(env, t, "hook", &r.gw).await;
    verify_stream(&sink.hits(), t, "hook", &events, true).unwrap_or_else(|e| panic!("{e}"));

    // Deliver-time failures: dead-lettered with the reason, after 3 attempts for the panic, at once for a
    // denied request.
    let dead = |name: &'static str| async move {
        let rows = poll(&format!("every op of {name} dead"), WAIT, Duration::from_millis(100), async || {
            let rows = env.outbox(t, name, false).await;
            (rows.len() == n_events && rows.iter().all(|o| o["state"] == "dead")).then_some(rows)
        })
        .await;
        match rows {
            Ok(rows) => rows,
            Err(e) => {
                let now = env.outbox(t, name, false).await;
                panic!("{e}\n{}\n{}", serde_json::to_string_pretty(&now).unwrap_or_default(), gw.log_tail(40))
            }
        }
    };
    for o in dead("t-panic-deliver").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert_eq!(o["attempts"], 3, "{o}");
        assert!(
            err == "gave up after 3 attempts: the plugin trapped: unreachable code reached (a panic or abort)"
                || err.starts_with(
                    "gave up after 3 attempts: the plugin panicked: misbehave-panic: deliver panics on purpose"
                ),
            "{err}"
        );
    }
    for o in dead("t-metadata").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert_eq!(o["attempts"], 1, "a denied request is not retried: {o}");
        assert!(
            err.starts_with("denied: address 169.254.169.254 is link-local"),
            "the SSRF guard names the address and why: {err}"
        );
    }
    for o in dead("t-unlisted").await {
        let err = o["last_error"].as_str().unwrap_or("");
        assert!(err.starts_with("denied: host 169.254.169.254 is not in the target's allowed hosts"), "{err}");
    }
    for name in ["t-panic-deliver", "t-metadata", "t-unlisted"] {
        let s = env.target_status(t, name).await;
        assert_eq!(
            (s["state"].as_str(), s["dead"].as_i64(), s["pending"].as_i64()),
            (Some("active"), Some(6), Some(0)),
            "{s}"
        );
    }
    assert!(!sink.hits().iter().any(|h| h.body.get("seq").is_none()), "only the webhook reaches the sink");

    // Still serving: SCIM reads and writes, health.
    let t0 = Instant::now();
    let late = r.scim.create_user("late@contoso.com").await;
    slowest = slowest.max(t0.elapsed());
    let (st, _, list) = r.scim.get(&format!("/Users?filter=userName+eq+%22{}%22", enc("late@contoso.com"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["Resources"][0]["id"], late.as_str());
    let health = r.gw.http.get(format!("{}/healthz", r.gw.origin)).send().await.expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(slowest < Duration::from_secs(5), "a SCIM write took {slowest:?} while plugins misbehaved");
    assert!(r.gw.running(), "the gateway survived");
    // The late change reaches the healthy target; the parked ones stay where they are.
    sink.wait("the late user delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == late && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for name in ["t-loop", "t-alloc", "t-panic"] {
        let s = env.target_status(t, name).await;
        assert_eq!((s["state"].as_str(), s["parked_seq"].as_i64()), (Some("parked"), Some(first)), "{s}");
    }
}

// ---- 4. faults: retries, Retry-After, dead letters and replay -------------------------------------------

async fn faults(backend: Backend) {
    let extra = [("GATEWAY_RETRY_BASE_MS", "50")];
    let Some(r) = rig(backend, "faults", &extra).await else { return };
    let sink = Sink::start();
    r.env.add_plugin("webhook", "webhook").await;
    add_target(&r.env, &r.tenant, "hook", "webhook", &sink, None).await;
    let (env, t) = (&r.env, r.tenant.as_str());

    // (a) 503 twice, then 200: the third attempt delivers, with the same op id and body.
    sink.push(Reply::status(503).body("maintenance"), 2);
    let u1 = r.scim.create_user("fault1@contoso.com").await;
    let hits = sink
        .wait("u1 delivered after two 503s", WAIT, |h| h.iter().any(|x| x.resource_id() == u1 && x.delivered()))
        .await
        .or_log(&r.gw);
    let mine: Vec<&Hit> = hits.iter().filter(|h| h.resource_id() == u1).collect();
    assert_eq!(mine.iter().map(|h| h.status).collect::<Vec<_>>(), [503, 503, 200], "{}", sink.dump(10));
    assert!(mine.iter().all(|h| h.op_id == mine[0].op_id && h.raw == mine[0].raw), "retries resend the same op");
    let retried = r.gw.counter("outbox_retried_total").await;
    assert!(retried >= 2.0, "outbox_retried_total = {retried}");

    // (b) 429 with Retry-After: 2: the retry waits at least 2 s; the outbox shows the attempt meanwhile, and
    // a later change of the same user waits behind it.
    sink.push(Reply::status(429).retry_after("2"), 1);
    let u2 = r.scim.create_user("fault2@contoso.com").await;
    let hits = sink.wait("the 429", WAIT, |h| h.iter().any(|x| x.resource_id() == u2)).await.or_log(&r.gw);
    let first_429 = hits.iter().find(|h| h.resource_id() == u2).expect("u2's first request").clone();
    assert_eq!(first_429.status, 429);
    r.scim.patch_ok(&format!("/Users/{u2}"), json!([{"op": "Replace", "path": "displayName", "value": "Two"}])).await;
    // Read through the admin API (a CLI run could take a good part of the 2 s window on a busy machine).
    let row = poll("the 429 recorded in the outbox", Duration::from_secs(2), Duration::from_millis(20), async || {
        let resp = r.gw.admin(Method::GET, &format!("/tenants/{t}/outbox?target=hook")).send().await.ok()?;
        let rows: Value = resp.json().await.ok()?;
        rows.as_array()?.iter().find(|o| o["op_id"] == first_429.op() && o["attempts"] == 1).cloned()
    })
    .await
    .or_log(&r.gw);
    assert_eq!(row["state"], "pending", "{row}");
    assert!(row["last_error"].as_str().unwrap_or("").starts_with("HTTP 429"), "{row}");
    assert_eq!(row["key"], format!("user:{u2}"), "{row}");
    let hits = sink
        .wait("u2's create and update delivered", WAIT, |h| {
            h.iter().filter(|x| x.resource_id() == u2 && x.delivered()).count() == 2
        })
        .await
        .or_log(&r.gw);
    let mine: Vec<&Hit> = hits.iter().filter(|h| h.resource_id() == u2).collect();
    assert_eq!(mine.len(), 3, "429, then the create, then the update:\n{}", sink.dump(10));
    assert_eq!((mine[1].op(), mine[1].status), (first_429.op(), 200));
    let waited = mine[1].at.duration_since(first_429.at);
    // The gateway's clock has millisecond resolution: allow for the truncation of one reading.
    assert!(waited >= Duration::from_millis(1_999), "the retry came {waited:?} after a 429 with Retry-After: 2");
    assert!(mine[2].seq() > mine[1].seq() && mine[2].body["data"]["displayName"] == "Two", "{}", mine[2].line());

    // (c) 400: dead-lettered at once with the reason; replayed after the sink is fixed.
    sink.set_default(Reply::status(400).body("{\"error\":\"bad payload\"}"));
    let u3 = r.scim.create_user("fault3@contoso.com").await;
    let dead = poll("the 400 dead-lettered", WAIT, Duration::from_millis(100), async || {
        let d = env.outbox(t, "hook", true).await;
        (!d.is_empty()).then_some(d)
    })
    .await
    .or_log(&r.gw);
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["state"], "dead");
    assert_eq!(d["attempts"], 1, "a 400 is not retried: {d}");
    assert_eq!(d["last_error"], "HTTP 400: {\"error\":\"bad payload\"}", "{d}");
    assert_eq!(d["key"], format!("user:{u3}"));
    assert_eq!(d["op"]["custom"]["kind"], "webhook.event", "{d}");
    let dead_op = d["op_id"].as_str().expect("op id").to_owned();
    let s = env.target_status(t, "hook").await;
    assert_eq!((s["dead"].as_i64(), s["pending"].as_i64()), (Some(1), Some(0)), "{s}");
    assert_eq!(sink.hits().iter().filter(|h| h.op() == dead_op).count(), 1, "one attempt only");
    // Admin API shows the same.
    let api: Value =
        r.gw.admin(Method::GET, &format!("/tenants/{t}/outbox?dead=true"))
            .send()
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
    assert_eq!(api[0]["op_id"], dead_op.as_str(), "{api}");

    sink.set_default(Reply::ok());
    let replayed = env.cli_json(&["outbox", "replay", "--tenant", t, "--target", "hook"]).await;
    assert_eq!(replayed, json!({"replayed": 1}));
    sink.wait("the replayed op delivered", WAIT, |h| h.iter().any(|x| x.op() == dead_op && x.delivered()))
        .await
        .or_log(&r.gw);
    let s = wait_drained(env, t, "hook", &r.gw).await;
    assert_eq!(s["dead"], 0, "{s}");
    assert_eq!(env.outbox(t, "hook", true).await, Vec::<Value>::new());
    let again: Vec<Hit> = sink.hits().into_iter().filter(|h| h.op() == dead_op).collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].raw, again[1].raw, "the replay sends the same body");
    assert_eq!(again[1].resource_id(), u3);

    // (d) 409: a conflict is dead-lettered with the reason marked as such.
    sink.push(Reply::status(409).body("duplicate login"), 1);
    let u4 = r.scim.create_user("fault4@contoso.com").await;
    let dead = poll("the 409 dead-lettered", WAIT, Duration::from_millis(100), async || {
        let d = env.outbox(t, "hook", true).await;
        (!d.is_empty()).then_some(d)
    })
    .await
    .or_log(&r.gw);
    assert_eq!(dead[0]["last_error"], "conflict: HTTP 409: duplicate login", "{}", dead[0]);
    assert_eq!(dead[0]["key"], format!("user:{u4}"));
    // Replay by op id.
    let op = dead[0]["op_id"].as_str().expect("op id").to_owned();
    assert_eq!(env.cli_json(&["outbox", "replay", "--tenant", t, "--op-id", "nope"]).await, json!({"replayed": 0}));
    assert_eq!(env.cli_json(&["outbox", "replay", "--tenant", t, "--op-id", &op]).await, json!({"replayed": 1}));
    sink.wait("the conflict replayed", WAIT, |h| h.iter().any(|x| x.op() == op && x.delivered())).await.or_log(&r.gw);
    wait_drained(env, t, "hook", &r.gw).await;

    // Over everything: every event delivered, in order per user.
    let events = log_after(env, t, 0).await;
    verify_stream(&sink.hits(), t, "hook", &events, true).or_log(&r.gw);
}

#[tokio::test]
async fn faults_sqlite() {
    faults(Backend::Sqlite).await;
}

#[tokio::test]
async fn faults_postgres() {
    faults(Backend::Postgres).await;
}

// ---- 5. hot swap + retry -------------------------------------------------------------------------------

#[tokio::test]
async fn hot_swap_then_retry_delivers_from_the_parked_change() {
    let Some(r) = rig(Backend::Sqlite, "swap", &[]).await else { return };
    let sink = Sink::start();
    let (env, t) = (&r.env, r.tenant.as_str());
    let v1 = env.add_plugin("panic", "flaky").await;
    let start = add_target(env, t, "lms", "flaky", &sink, None).await["cursor_seq"].as_i64().expect("cursor");

    let u1 = r.scim.create_user("swap1@contoso.com").await;
    let parked = poll("the target parked", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(t, "lms").await;
        (s["state"] == "parked").then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(40)));
    let first = start + 1;
    assert_eq!(parked["parked_seq"], first, "{parked}");
    let why = parked["parked_reason"].as_str().unwrap_or("");
    assert!(why.contains("panicked") || why.contains("(a panic or abort)"), "{parked}");
    // Changes made while parked wait behind it.
    let u2 = r.scim.create_user("swap2@contoso.com").await;
    r.scim.patch_ok(&format!("/Users/{u1}"), json!([{"op": "Replace", "path": "displayName", "value": "One"}])).await;
    let s = env.target_status(t, "lms").await;
    assert_eq!(
        (s["state"].as_str(), s["parked_seq"].as_i64(), s["cursor_seq"].as_i64()),
        (Some("parked"), Some(first), Some(start)),
        "{s}"
    );
    assert!(sink.hits().is_empty(), "nothing delivered while parked:\n{}", sink.dump(10));

    // A new version under the same name, picked up by the running gateway; then retry.
    let v2 = env.add_plugin("webhook", "flaky").await;
    assert_eq!(v2["new_version"], true, "{v2}");
    assert_ne!(v1["sha256"], v2["sha256"]);
    let plugins = env.cli_json(&["plugin", "list"]).await;
    let flaky = plugins.as_array().and_then(|a| a.iter().find(|p| p["name"] == "flaky")).expect("flaky listed").clone();
    assert_eq!((flaky["sha256"].clone(), flaky["versions"].clone()), (v2["sha256"].clone(), json!(2)), "{plugins}");
    let retried = env.cli_json(&["target", "retry", "--tenant", t, "lms"]).await;
    assert_eq!(retried["parked_seq"], Value::Null, "{retried}");
    // Retry on a target that is not parked is refused.
    let again = env.cli(&["target", "retry", "--tenant", t, "lms"]).await;
    assert!(!again.status.success() && again.stderr.contains("is not parked"), "{again:?}");

    let events = log_after(env, t, start).await;
    assert_eq!(events.len(), 3);
    wait_all(&sink, 3, &r.gw).await;
    wait_drained(env, t, "lms", &r.gw).await;
    let hits = sink.hits();
    verify_stream(&hits, t, "lms", &events, true).unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<(i64, &str, &str)> = hits.iter().map(|h| (h.seq(), h.kind(), h.resource_id())).collect();
    assert_eq!(order.iter().filter(|o| o.2 == u1).map(|o| o.0).collect::<Vec<_>>(), [first, first + 2], "{order:?}");
    assert!(order.iter().any(|o| o.0 == first + 1 && o.2 == u2), "{order:?}");
    assert!(hits.iter().any(|h| h.seq() == first), "the parked change itself is delivered");
    assert!(r.gw.log().contains("plugin swapped to a new version"), "the swap is logged");
}

// ---- 6. resync -----------------------------------------------------------------------------------------

#[tokio::test]
async fn resync_replays_the_directory_then_follows_the_log() {
    let Some(r) = rig(Backend::Sqlite, "resync", &[]).await else { return };
    let sink = Sink::start();
    let (env, t) = (&r.env, r.tenant.as_str());

    // The directory before the target exists: users, a group with members added in two requests, one
    // removed again, a deactivated user.
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(r.scim.create_user(&format!("rs{i}@contoso.com")).await);
    }
    r.scim
        .patch_ok(&format!("/Users/{}", users[4]), json!([{"op": "Replace", "path": "active", "value": "False"}]))
        .await;
    let g = r.scim.create_group("Resync Group").await;
    let empty = r.scim.create_group("Empty Group").await;
    let add = |ids: &[&String]| json!([{"op": "Add", "path": "members", "value": ids.iter().map(|u| json!({"value": u})).collect::<Vec<_>>()}]);
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&users[2], &users[0]])).await;
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&users[3], &users[1]])).await;
    r.scim
        .patch_ok(&format!("/Groups/{g}"), json!([{"op": "Remove", "path": "members", "value": [{"value": users[3]}]}]))
        .await;

    env.add_plugin("webhook", "webhook").await;
    // A slow LMS: replayed users are still in flight when the replay's end marker is queued.
    sink.set_default(Reply::ok().delay(Duration::from_millis(300)));
    let added = add_target(env, t, "lms", "webhook", &sink, Some("rs-secret")).await;
    let last = added["last_seq"].as_i64().expect("last_seq");
    assert_eq!(added["cursor_seq"], last, "a new target starts at the current position: {added}");
    assert_eq!(added["pending"], 0);

    let resync = env.cli_json(&["target", "resync", "--tenant", t, "lms"]).await;
    assert_eq!(resync["resync_running"], true, "{resync}");
    sink.wait("resync.finished", WAIT, |h| h.iter().any(|x| x.kind() == "resync.finished" && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(40)));
    // Let everything queued by the resync arrive.
    wait_all(&sink, 1 + 5 + 2 + 1 + 1, &r.gw).await;
    let s = poll("the resync to finish", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(t, "lms").await;
        (s["state"] == "active" && s["pending"] == 0).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s["resync_running"], false, "{s}");
    let hits = sink.delivered();
    let lines: String = hits.iter().map(|h| format!("  {}\n", h.line())).collect();

    // What was replayed: every user, both groups, the members in the order they were added.
    assert!(hits.iter().all(|h| h.body["resync"] == true && h.seq() == 0), "{lines}");
    assert!(hits.iter().all(|h| h.signature.as_deref() == Some(&*format!("sha256={}", hmac_hex("rs-secret", &h.raw)))));
    let kinds: Vec<&str> = hits.iter().map(Hit::kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "resync.started").count(), 1, "{lines}");
    assert_eq!(kinds.iter().filter(|k| **k == "resync.finished").count(), 1, "{lines}");
    let upserted: BTreeSet<&str> = hits.iter().filter(|h| h.kind() == "user.upserted").map(Hit::resource_id).collect();
    assert_eq!(upserted, users.iter().map(String::as_str).collect(), "{lines}");
    let u4 = hits.iter().find(|h| h.resource_id() == users[4]).expect("deactivated user replayed");
    assert_eq!(u4.body["data"]["active"], false, "the replay carries the current state");
    let groups: BTreeSet<&str> = hits.iter().filter(|h| h.kind() == "group.upserted").map(Hit::resource_id).collect();
    assert_eq!(groups, BTreeSet::from([g.as_str(), empty.as_str()]), "{lines}");
    let members: Vec<&Hit> = hits.iter().filter(|h| h.kind() == "group.members_added").collect();
    assert_eq!(members.len(), 1, "no members_added for the empty group: {lines}");
    assert_eq!(members[0].resource_id(), g);
    assert_eq!(
        members[0].body["data"]["members"],
        json!([{"value": users[2], "type": "User"}, {"value": users[0], "type": "User"}, {"value": users[1], "type": "User"}]),
        "members in the order they were added"
    );
    // Per resource: the group before its members; the markers bracket the replay.
    let pos = |pred: &dyn Fn(&Hit) -> bool| hits.iter().position(pred).expect("present");
    assert!(
        pos(&|h| h.kind() == "group.upserted" && h.resource_id() == g) < pos(&|h| h.kind() == "group.members_added"),
        "{lines}"
    );
    let started = pos(&|h| h.kind() == "resync.started");
    let finished = pos(&|h| h.kind() == "resync.finished");
    assert_eq!(started, 0, "resync.started arrives before anything replayed:\n{lines}");
    assert_eq!(finished, hits.len() - 1, "resync.finished arrives after everything replayed:\n{lines}");

    // Then the log goes on from where the resync started.
    sink.set_default(Reply::ok());
    let n = hits.len();
    let u5 = r.scim.create_user("rs-after@contoso.com").await;
    r.scim.patch_ok(&format!("/Groups/{g}"), add(&[&u5])).await;
    let events = log_after(env, t, last).await;
    assert_eq!(events.len(), 2);
    wait_all(&sink, n + 2, &r.gw).await;
    wait_drained(env, t, "lms", &r.gw).await;
    let after: Vec<Hit> = sink.hits().into_iter().skip(n).collect();
    verify_stream(&after, t, "lms", &events, true).unwrap_or_else(|e| panic!("{e}"));
}

// ---- 7. crash: kill -9 under load ----------------------------------------------------------------------

async fn crash(backend: Backend, total: usize, kill_after: usize) {
    let Some(mut r) = rig(backend, "crash", &[]).await else { return };
    let sink = Sink::start();
    r.env.add_plugin("webhook", "webhook").await;
    add_target(&r.env, &r.tenant, "hook", "webhook", &sink, None).await;
    // Deliveries flowing before the load starts (a new target is picked up within a couple of seconds),
    // and an LMS slow enough that some are always in flight: the kill lands between a delivery and its
    // bookkeeping.
    let warmup = r.scim.create_group("warm-up").await;
    sink.wait("the warm-up delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == warmup)).await.or_log(&r.gw);
    sink.set_default(Reply::ok().delay(Duration::from_millis(20)));
    let name = |i: usize| format!("crash{i:05}@contoso.com");
    let began = Instant::now();

    // Phase 1: 16 clients until ~kill_after creates were acknowledged, then kill -9.
    let acked: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
    let unacked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let odd: Arc<Mutex<Vec<String>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (scim, acked, unacked, odd, next, down) =
            (r.scim.clone(), acked.clone(), unacked.clone(), odd.clone(), next.clone(), down.clone());
        clients.push(tokio::spawn(async move {
            loop {
                if down.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return;
                }
                let user = entra_user(&name(i));
                match scim.try_call(Method::POST, "/Users", Some(&user)).await {
                    Ok((st, _, b)) if st == StatusCode::CREATED => {
                        acked.lock().expect("acked").insert(i, b["id"].as_str().expect("id").to_owned());
                    }
                    Ok((st, _, b)) => odd.lock().expect("odd").push(format!("{i}: {st} {b}")),
                    Err(_) => unacked.lock().expect("unacked").push(i),
                }
            }
        }));
    }
    poll("enough acknowledged creates", Duration::from_secs(120), Duration::from_millis(5), async || {
        (acked.lock().expect("acked").len() >= kill_after && sink.hits().len() > 1).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(20)));
    down.store(true, Ordering::SeqCst);
    r.gw.kill9();
    let killed_at = Instant::now();
    for c in clients {
        c.await.expect("client task");
    }
    let acked_before = acked.lock().expect("acked").clone();
    let failed = unacked.lock().expect("unacked").clone();
    assert!(odd.lock().expect("odd").is_empty(), "unexpected answers: {:?}", odd.lock().expect("odd"));
    let delivered_at_kill = delivered_ops(&sink.hits()).len();

    // Restart on the same database and key; push the rest, retrying what was never acknowledged (a
    // create that committed before the kill answers 409 now: then it is found by userName, as Entra does).
    r.gw.restart().await;
    let restarted_in = killed_at.elapsed();
    let todo: Vec<usize> = (0..total).filter(|i| !acked_before.contains_key(i)).collect();
    let found_after_409: Arc<Mutex<Vec<usize>>> = Arc::default();
    let todo = Arc::new(Mutex::new(todo));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (scim, acked, todo, found, odd) =
            (r.scim.clone(), acked.clone(), todo.clone(), found_after_409.clone(), odd.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let Some(i) = todo.lock().expect("todo").pop() else { return };
                let (st, _, b) = scim.post("/Users", entra_user(&name(i))).await;
                if st == StatusCode::CREATED {
                    acked.lock().expect("acked").insert(i, b["id"].as_str().expect("id").to_owned());
                } else if st == StatusCode::CONFLICT {
                    let (st, _, list) = scim.get(&format!("/Users?filter=userName+eq+%22{}%22", enc(&name(i)))).await;
                    match list["Resources"][0]["id"].as_str() {
                        Some(id) if st == StatusCode::OK => {
                            acked.lock().expect("acked").insert(i, id.to_owned());
                            found.lock().expect("found").push(i);
                        }
                        _ => odd.lock().expect("odd").push(format!("{i}: 409 but not found: {st} {list}")),
                    }
                } else {
                    odd.lock().expect("odd").push(format!("{i}: {st} {b}"));
                }
            }
        }));
    }
    for c in clients {
        c.await.expect("client task");
    }
    assert!(odd.lock().expect("odd").is_empty(), "unexpected answers: {:?}", odd.lock().expect("odd"));
    let acked = acked.lock().expect("acked").clone();
    assert_eq!(acked.len(), total, "every user created in the end");
    let found_after_409 = found_after_409.lock().expect("found").clone();
    for i in &found_after_409 {
        assert!(failed.contains(i), "user {i} answered 409 but was never sent before the crash");
    }

    // Every acknowledged create survived and is served.
    let ids: Vec<String> = acked.values().cloned().collect();
    let ids = Arc::new(Mutex::new(ids));
    let missing: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (scim, ids, missing) = (r.scim.clone(), ids.clone(), missing.clone());
        readers.push(tokio::spawn(async move {
            loop {
                let Some(id) = ids.lock().expect("ids").pop() else { return };
                let (st, _, b) = scim.get(&format!("/Users/{id}")).await;
                if st != StatusCode::OK {
                    missing.lock().expect("missing").push(format!("{id}: {st} {b}"));
                }
            }
        }));
    }
    for t in readers {
        t.await.expect("reader task");
    }
    let missing = missing.lock().expect("missing").clone();
    assert!(missing.is_empty(), "acknowledged creates lost: {missing:?}");
    let lost_acked: Vec<&usize> = acked_before.keys().filter(|i| !acked.contains_key(i)).collect();
    assert!(lost_acked.is_empty());
    for (i, id) in &acked_before {
        assert_eq!(acked.get(i), Some(id), "user {i} kept the id acknowledged before the crash");
    }

    // Every user's upsert reaches the sink.
    let want: BTreeSet<&str> = acked.values().map(String::as_str).collect();
    sink.wait("a user.upserted for every acknowledged user", Duration::from_secs(120), |h| {
        let got: BTreeSet<&str> =
            h.iter().filter(|x| x.delivered() && x.kind() == "user.upserted").map(Hit::resource_id).collect();
        want.is_subset(&got)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", r.gw.log_tail(40)));
    let events = log_after(&r.env, &r.tenant, 0).await;
    assert_eq!(events.len(), total + 1, "one change per user, and the warm-up group");
    // What the killed process had leased comes back when its lease runs out: at once on SQLite (one
    // process per database: a restart releases every lease), after the 120 s delivery lease on PostgreSQL
    // (another live instance may hold them).
    let drain = match backend {
        Backend::Sqlite => WAIT,
        Backend::Postgres => Duration::from_secs(180),
    };
    let s = wait_drained_for(&r.env, &r.tenant, "hook", &r.gw, drain).await;
    let drained_after_kill = killed_at.elapsed();
    assert_eq!(s["dead"], 0, "{s}");
    let hits = sink.hits();
    let dups = verify_stream(&hits, &r.tenant, "hook", &events, false).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "crash ({backend:?}): {total} users, killed after {} acknowledged ({} in flight or unsent failed, {} of them \
         had committed), {delivered_at_kill} delivered by the kill; restart took {restarted_in:?}; \
         {} deliveries, {dups} duplicate(s) (same op id, same body); outbox drained {drained_after_kill:?} after the \
         kill; {:?} in all",
        acked_before.len(),
        failed.len(),
        found_after_409.len(),
        hits.iter().filter(|h| h.delivered()).count(),
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sqlite() {
    crash(Backend::Sqlite, 2000, 800).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_postgres() {
    crash(Backend::Postgres, 2000, 800).await;
}

// ---- 8. two gateway processes on one PostgreSQL --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_postgres() {
    let Some(env) = TestEnv::new(Backend::Postgres, "two-procs").await else { return };
    let (tenant, token) = env.create_tenant().await;
    env.add_plugin("webhook", "webhook").await;
    let sink = Sink::start();
    let start = add_target(&env, &tenant, "hook", "webhook", &sink, Some("two-proc-secret")).await["cursor_seq"]
        .as_i64()
        .expect("cursor");
    let a = GatewayProc::spawn(&env, "gw-a", &[]).await;
    let b = GatewayProc::spawn(&env, "gw-b", &[]).await;
    let procs = [a.scim(&tenant, &token), b.scim(&tenant, &token)];
    let total = 300;

    // Creates alternate between the processes (8 at a time); then each user is updated through the other.
    let run = move |phase: &'static str| {
        let procs = procs.clone();
        async move {
            let next = Arc::new(AtomicUsize::new(0));
            let ids: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (procs, next, ids) = (procs.clone(), next.clone(), ids.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= total {
                            return;
                        }
                        let name = format!("pair{i:04}@contoso.com");
                        if phase == "create" {
                            let id = procs[i % 2].create_user(&name).await;
                            ids.lock().expect("ids").insert(i, id);
                        } else {
                            let (st, _, list) = procs[(i + 1) % 2]
                                .get(&format!("/Users?filter=userName+eq+%22{}%22", enc(&name)))
                                .await;
                            assert_eq!(st, StatusCode::OK);
                            let id = list["Resources"][0]["id"].as_str().expect("user found").to_owned();
                            procs[(i + 1) % 2]
                                .patch_ok(
                                    &format!("/Users/{id}"),
                                    json!([{"op": "Replace", "path": "displayName", "value": format!("Pair {i}")}]),
                                )
                                .await;
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.expect("client task");
            }
            ids.lock().expect("ids").clone()
        }
    };
    let ids = run("create").await;
    assert_eq!(ids.len(), total);
    run("update").await;

    let events = log_after(&env, &tenant, start).await;
    assert_eq!(events.len(), 2 * total);
    sink.wait("every event delivered", Duration::from_secs(120), |h| delivered_ops(h).len() >= events.len())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", a.log_tail(30), b.log_tail(30)));
    let s = poll("the outbox to drain", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(&tenant, "hook").await;
        (s["pending"] == 0 && s["cursor_seq"] == s["last_seq"]).then_some(s)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s["dead"], 0, "{s}");
    let hits = sink.hits();
    let dups = verify_stream(&hits, &tenant, "hook", &events, false).unwrap_or_else(|e| panic!("{e}"));
    for h in &hits {
        assert_eq!(h.signature.as_deref(), Some(&*format!("sha256={}", hmac_hex("two-proc-secret", &h.raw))));
    }
    let (da, db) = (a.counter("outbox_delivered_total").await, b.counter("outbox_delivered_total").await);
    println!("two processes: {} deliveries ({dups} duplicates); gw-a delivered {da}, gw-b delivered {db}", hits.len());
    assert_eq!(da + db, (hits.len()) as f64, "the processes' counters add up to what the sink received");
    assert!(da > 0.0 && db > 0.0, "both processes deliver (gw-a {da}, gw-b {db})");
}

// ---- 9. admin API --------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_api() {
    let Some(r) = rig(Backend::Sqlite, "admin", &[]).await else { return };
    let sink = Sink::start();
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let secret = format!("api-secret-{}", uuid::Uuid::new_v4().simple());
    let mut seen = String::new();
    async fn answer(rb: reqwest::RequestBuilder, seen: &mut String) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("admin API answers");
        let st = resp.status();
        let text = resp.text().await.unwrap_or_default();
        seen.push_str(&text);
        seen.push('\n');
        (st, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    let url = |p: &str| format!("{}/admin/v1{p}", gw.origin);

    // Authentication.
    let (st, body) = answer(gw.http.get(url("/plugins")), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["status"], "401", "{body}");
    let (st, body) = answer(gw.http.get(url("/targets")).bearer_auth("wrong-token"), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("invalid token"), "{body}");
    let (st, _) = answer(gw.http.get(url("/targets")).bearer_auth(&r.token), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a tenant's SCIM token is not an admin token");

    // Plugins: upload bytes; a bad component is refused with the reason.
    let wasm = std::fs::read(plugin_file("webhook")).expect("webhook.wasm");
    let (st, added) = answer(gw.admin(Method::POST, "/plugins?name=hook").body(wasm.clone()), &mut seen).await;
    assert_eq!(st, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["name"].as_str(), added["world"].as_str(), added["new_version"].as_bool()),
        (Some("hook"), Some("target"), Some(true))
    );
    assert_eq!(added["size"], wasm.len());
    let bad = std::fs::read(plugin_file("bad-import")).expect("bad-import.wasm");
    let (st, body) = answer(gw.admin(Method::POST, "/plugins?name=bad").body(bad), &mut seen).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("evil:steal/files@0.1.0"), "{body}");
    let (st, body) = answer(gw.admin(Method::POST, "/plugins?name=junk").body(b"not wasm".to_vec()), &mut seen).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, list) = answer(gw.admin(Method::GET, "/plugins"), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        list.as_array().map(|a| a.iter().map(|p| p["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("hook")]),
        "{list}"
    );

    // A target with a credential.
    let spec = json!({
        "name": "lms",
        "plugin": "hook",
        "config": {"url": sink.url, "signing_credential": "sig"},
        "allowed_hosts": [sink.origin],
        "allow_http": true,
        "allow_private": true,
        "credentials": {"sig": secret}
    });
    let targets = format!("/tenants/{t}/targets");
    let (st, created) = answer(gw.admin(Method::POST, &targets).json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["credential_names"], json!(["sig"]), "{created}");
    assert_eq!(created["plugin"], "hook");
    let (st, again) = answer(gw.admin(Method::POST, &targets).json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::CONFLICT, "the name is taken: {again}");

    // Bad specs: 400 (or 404 for what does not exist) with a detail that says why.
    let bad_spec = |patch: Value| {
        let mut s = spec.clone();
        s["name"] = json!("other");
        if let (Some(o), Some(p)) = (s.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                o.insert(k.clone(), v.clone());
            }
        }
        s
    };
    for (patch, status, needle) in [
        (json!({"allowed_hosts": ["*"]}), 400, "allowed hosts"),
        (json!({"allowed_hosts": ["https://example.com/path"]}), 400, "allowed hosts"),
        (json!({"config": "not an object"}), 400, "config must be a JSON object"),
        (json!({"name": "bad name!"}), 400, "target name"),
        (json!({"credentials": {"sig": ""}}), 400, "credential sig is empty"),
        (json!({"plugin": "nope"}), 404, "plugin \"nope\" is not registered"),
        (json!({"surprise": 1}), 400, "unknown field"),
    ] {
        let body = bad_spec(patch.clone());
        let (st, err) = answer(gw.admin(Method::POST, &targets).json(&body), &mut seen).await;
        assert_eq!(st.as_u16(), status, "{patch} → {err}");
        assert_eq!(err["status"], status.to_string(), "{err}");
        assert!(err["detail"].as_str().unwrap_or("").contains(needle), "{patch}: detail {err}");
    }
    let (st, err) = answer(gw.admin(Method::POST, &targets).body("{not json"), &mut seen).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["detail"].as_str().is_some_and(|d| !d.is_empty()), "{err}");
    let (st, err) = answer(gw.admin(Method::POST, "/tenants/no-such-tenant/targets").json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");

    // Listing and reading.
    let (st, list) = answer(gw.admin(Method::GET, &format!("/targets?tenant={t}")), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["name"], "lms");
    let one = format!("/tenants/{t}/targets/lms");
    let (st, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(target["state"], "active", "{target}");
    let (st, _) = answer(gw.admin(Method::GET, &format!("/tenants/{t}/targets/nope")), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Delivery works for a target made over the API, signed with the uploaded credential.
    let u1 = r.scim.create_user("api1@contoso.com").await;
    let hits = sink
        .wait("u1 delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == u1 && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(30)));
    assert_eq!(hits[0].signature.as_deref(), Some(&*format!("sha256={}", hmac_hex(&secret, &hits[0].raw))));

    // Pause: changes queue up, nothing is sent; resume: they go out.
    let (st, paused) = answer(gw.admin(Method::POST, &format!("{one}/pause")), &mut seen).await;
    assert_eq!((st, paused["paused"].as_bool()), (StatusCode::OK, Some(true)), "{paused}");
    let (_, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(target["state"], "paused", "{target}");
    let u2 = r.scim.create_user("api2@contoso.com").await;
    let queued = poll("the change queued while paused", WAIT, Duration::from_millis(100), async || {
        let (_, o) =
            answer(gw.admin(Method::GET, &format!("/tenants/{t}/outbox?target=lms")), &mut String::new()).await;
        o.as_array().filter(|a| !a.is_empty()).cloned()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queued[0]["key"], format!("user:{u2}"));
    assert_eq!(queued[0]["attempts"], 0, "not attempted while paused: {}", queued[0]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sink.hits().iter().any(|h| h.resource_id() == u2), "a paused target sends nothing:\n{}", sink.dump(5));
    let (st, resumed) = answer(gw.admin(Method::POST, &format!("{one}/resume")), &mut seen).await;
    assert_eq!((st, resumed["paused"].as_bool()), (StatusCode::OK, Some(false)), "{resumed}");
    let (_, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(target["state"], "active", "{target}");
    sink.wait("u2 delivered after resume", WAIT, |h| h.iter().any(|x| x.resource_id() == u2 && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (st, err) = answer(gw.admin(Method::POST, &format!("{one}/retry")), &mut seen).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "retry of a target that is not parked: {err}");
    let (st, _) = answer(gw.admin(Method::POST, &format!("{one}/explode")), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Outbox over the API: nothing dead, nothing to replay.
    let (st, dead) = answer(gw.admin(Method::GET, &format!("/tenants/{t}/outbox?dead=true")), &mut seen).await;
    assert_eq!((st, dead), (StatusCode::OK, json!([])));
    let (st, replayed) = answer(
        gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).json(&json!({"target": "lms"})),
        &mut seen,
    )
    .await;
    assert_eq!((st, replayed), (StatusCode::OK, json!({"replayed": 0})));
    let (st, err) = answer(
        gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).json(&json!({"target": "nope"})),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");

    // The secret was never shown.
    assert!(seen.contains("\"sig\""), "the responses include the credential's name");
    assert!(!seen.contains(&secret), "an admin API response shows the secret:\n{seen}");
    assert!(!gw.log().contains(&secret), "the gateway log shows the secret");

    // Delete.
    let resp = gw.admin(Method::DELETE, &one).send().await.expect("delete");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (st, _) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = answer(gw.admin(Method::GET, &format!("/targets?tenant={t}")), &mut seen).await;
    assert_eq!(list, json!([]));
}
