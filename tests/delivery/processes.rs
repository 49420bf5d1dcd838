//! Processes: `kill -9` under load loses no acknowledged write and no delivery (duplicates allowed, same op
//! and body), and two `gateway serve` processes on one PostgreSQL database share the delivery work.

use super::stream::{delivered_ops, hmac_hex, verify_stream};
use super::{OrLog, WAIT, add_target, log_after, rig, wait_drained_for};
use crate::common::proc::{GatewayProc, Hit, Reply, Sink, TestEnv, poll};
use crate::common::{Backend, enc, entra_user};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- crash: kill -9 under load -------------------------------------------------------------------------

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

// ---- two gateway processes on one PostgreSQL -----------------------------------------------------------

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
