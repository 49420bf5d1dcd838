//! Faults of the LMS: retries of 5xx with the same op, Retry-After honoured with later changes of the
//! resource waiting behind, 4xx and conflicts dead-lettered with the reason, replay by target and by op id.

use super::stream::verify_stream;
use super::{OrLog, WAIT, add_target, log_after, rig, wait_drained};
use crate::common::Backend;
use crate::common::proc::{Hit, Reply, Sink, poll};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

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
    // The LMS's answer (it may quote personal data) stays in the outbox; the log names the class only.
    let log = r.gw.log();
    assert!(log.contains("operation dead-lettered") && !log.contains("bad payload"), "{}", r.gw.log_tail(20));
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

    // (e) A dead operation holds back the later ones of its resource (on 7914331 they went past it, and
    // a replay then sent the stale create after the delete): other users go on, `target status` names
    // the blocked key, and a replay delivers the three in their order.
    sink.push(Reply::status(400).body("rejected"), 1);
    let u5 = r.scim.create_user("fault5@contoso.com").await;
    let dead = poll("u5's create dead-lettered", WAIT, Duration::from_millis(100), async || {
        let d = env.outbox(t, "hook", true).await;
        (!d.is_empty()).then_some(d)
    })
    .await
    .or_log(&r.gw);
    let dead_op = dead[0]["op_id"].as_str().expect("op id").to_owned();
    r.scim.patch_ok(&format!("/Users/{u5}"), json!([{"op": "Replace", "path": "displayName", "value": "Five"}])).await;
    let (st, _, _) = r.scim.delete(&format!("/Users/{u5}")).await;
    assert_eq!(st.as_u16(), 204);
    let u6 = r.scim.create_user("fault6@contoso.com").await;
    sink.wait("u6 delivered past u5's blocked key", WAIT, |h| h.iter().any(|x| x.resource_id() == u6 && x.delivered()))
        .await
        .or_log(&r.gw);
    let s = poll("u5's key blocked", WAIT, Duration::from_millis(100), async || {
        let s = env.target_status(t, "hook").await;
        (s["blocked_keys"] == 1 && s["pending"] == 2).then_some(s)
    })
    .await
    .or_log(&r.gw);
    assert_eq!(s["blocked"][0]["key"], format!("user:{u5}"), "{s}");
    assert_eq!(s["blocked"][0]["dead_op_id"], dead_op.as_str(), "{s}");
    assert!(
        sink.hits().iter().filter(|h| h.resource_id() == u5).all(|h| h.op() == dead_op),
        "nothing of u5 past the dead op"
    );
    assert_eq!(env.cli_json(&["outbox", "replay", "--tenant", t, "--op-id", &dead_op]).await, json!({"replayed": 1}));
    let hits = sink
        .wait("u5's three changes delivered", WAIT, |h| {
            h.iter().filter(|x| x.resource_id() == u5 && x.delivered()).count() == 3
        })
        .await
        .or_log(&r.gw);
    let seqs: Vec<i64> = hits.iter().filter(|h| h.resource_id() == u5 && h.delivered()).map(Hit::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "u5's changes in order after the replay: {seqs:?}");
    wait_drained(env, t, "hook", &r.gw).await;

    // Over everything: every event delivered, in order per user.
    let events = log_after(env, t, 0).await;
    verify_stream(&sink.hits(), t, "hook", &events, true).or_log(&r.gw);

    // (f) Skipping a dead operation lets the later ones of its resource go without delivering it.
    sink.push(Reply::status(400).body("rejected"), 1);
    let u7 = r.scim.create_user("fault7@contoso.com").await;
    let dead = poll("u7's create dead-lettered", WAIT, Duration::from_millis(100), async || {
        let d = env.outbox(t, "hook", true).await;
        (!d.is_empty()).then_some(d)
    })
    .await
    .or_log(&r.gw);
    let skipped = dead[0]["op_id"].as_str().expect("op id").to_owned();
    r.scim.patch_ok(&format!("/Users/{u7}"), json!([{"op": "Replace", "path": "displayName", "value": "Seven"}])).await;
    poll("u7's update held back", WAIT, Duration::from_millis(100), async || {
        (env.target_status(t, "hook").await["blocked_keys"] == 1).then_some(())
    })
    .await
    .or_log(&r.gw);
    let out = env.cli(&["outbox", "skip", "--tenant", t]).await;
    assert!(!out.status.success() && out.stderr.contains("target or an op id"), "{}", out.stderr);
    assert_eq!(env.cli_json(&["outbox", "skip", "--tenant", t, "--op-id", &skipped]).await, json!({"skipped": 1}));
    sink.wait("u7's update delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == u7 && x.delivered()))
        .await
        .or_log(&r.gw);
    let s = wait_drained(env, t, "hook", &r.gw).await;
    assert_eq!((s["dead"].as_i64(), s["blocked_keys"].as_i64()), (Some(0), Some(0)), "{s}");
}

#[tokio::test]
async fn faults_sqlite() {
    faults(Backend::Sqlite).await;
}

#[tokio::test]
async fn faults_postgres() {
    faults(Backend::Postgres).await;
}
