//! The fuzz harness: structure-aware requests (`requests.rs`) against the real server (actix on a port, a
//! real database), several at a time. Every answer must be an HTTP answer below 500, never a dropped
//! connection; at the end a user created before the run (and never touched by it) reads back exactly as
//! it was, and the server still serves. `FUZZ_REQUESTS` sets the requests per run (default 10,000),
//! `FUZZ_SEED` the seed of the random-seed run; every run prints its seed, so a failure is reproduced
//! with `FUZZ_SEED=<seed> cargo test -p integration fuzz::random_seed`.

mod requests;

use crate::common::*;
use requests::{Rng, request};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Requests in flight at once (so batches of the SQLite writer mix fuzzed writes).
const WORKERS: u64 = 8;
/// Ids kept per kind for later requests to aim at.
const POOL: usize = 300;

fn requests_per_run(default: usize) -> usize {
    std::env::var("FUZZ_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Shared {
    users: Vec<String>,
    groups: Vec<String>,
    statuses: BTreeMap<u16, u64>,
    failures: Vec<String>,
}

/// Keeps `id` for later requests; returns the one it pushed out, which the worker deletes so the tenant
/// stays about `2 × POOL` resources over a run of any length (filters that scan the tenant then cost the
/// same at the millionth request as at the first).
fn remember(pool: &mut Vec<String>, id: String) -> Option<String> {
    let old = (pool.len() >= POOL).then(|| pool.remove(0));
    pool.push(id);
    old
}

async fn worker(app: TestApp, seed: u64, w: u64, n: usize, shared: Arc<Mutex<Shared>>) {
    let mut rng = Rng::new(seed ^ (w.wrapping_mul(0xA076_1D64_78BD_642F)));
    for _ in 0..n {
        let (users, groups) = {
            let s = shared.lock().expect("state");
            (s.users.clone(), s.groups.clone())
        };
        let req = request(&mut rng, &users, &groups);
        let mut rb = app
            .raw()
            .request(req.method.clone(), format!("{}{}", app.base(), req.path))
            .header(AUTHORIZATION, format!("Bearer {}", app.token));
        if let Some(ct) = &req.content_type {
            rb = rb.header(CONTENT_TYPE, ct.as_str());
        }
        if let Some(b) = req.body {
            rb = rb.body(b);
        }
        let shown: String = req.path.chars().take(120).collect();
        let mut evicted: Option<(&str, String)> = None;
        match rb.send().await {
            Err(e) => {
                shared.lock().expect("state").failures.push(format!("{} {shown}: no answer: {e}", req.method));
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let mut s = shared.lock().expect("state");
                *s.statuses.entry(status).or_default() += 1;
                if status >= 500 {
                    let detail: String = text.chars().take(200).collect();
                    s.failures.push(format!("{} {shown}: {status} {detail}", req.method));
                } else if status == 201 {
                    let id = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned));
                    if let Some(id) = id {
                        let users = req.path.starts_with("/Users");
                        let pool = if users { &mut s.users } else { &mut s.groups };
                        evicted = remember(pool, id).map(|old| (if users { "Users" } else { "Groups" }, old));
                    }
                }
            }
        }
        if let Some((kind, id)) = evicted {
            // Not a fuzzed request: 204, or 404 when a fuzzed DELETE got there first.
            let st = app.delete(&format!("/{kind}/{id}")).await.0.as_u16();
            if st >= 500 {
                shared.lock().expect("state").failures.push(format!("DELETE /{kind}/{id}: {st}"));
            }
        }
    }
}

/// One run: `n` requests from `seed`, then the checks.
async fn run(app: TestApp, seed: u64, n: usize) {
    println!("fuzz: seed {seed} ({n} requests, {WORKERS} at a time) — reproduce with FUZZ_SEED={seed}");
    let sentinel = app.create_user("sentinel@contoso.com").await;
    let (_, _, before) = app.get(&format!("/Users/{sentinel}")).await;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let per = n / WORKERS as usize + usize::from((w as usize) < n % WORKERS as usize);
        set.spawn(worker(app.clone(), seed, w, per, shared.clone()));
    }
    // A progress line every 10 % on long runs.
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut shown = 0;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let done: u64 = shared.lock().map(|s| s.statuses.values().sum()).unwrap_or(0);
                let tenth = done as usize * 10 / n.max(1);
                if n >= 100_000 && tenth > shown {
                    shown = tenth;
                    println!("fuzz: seed {seed}: {done} of {n} requests answered");
                }
            }
        })
    };
    while let Some(done) = set.join_next().await {
        done.expect("fuzz worker");
    }
    progress.abort();
    let secs = started.elapsed().as_secs_f64();
    let (statuses, failures) = {
        let s = shared.lock().expect("state");
        (s.statuses.clone(), s.failures.clone())
    };
    let total: u64 = statuses.values().sum();
    println!(
        "fuzz: seed {seed}: {total} answers in {secs:.1} s ({:.0}/s), statuses {:?}, {} failures",
        total as f64 / secs.max(0.001),
        statuses,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} requests failed (5xx or no answer), first ones:\n{}",
        failures.len(),
        failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(total as usize, n, "every request answered");
    let (st, _, after) = app.get(&format!("/Users/{sentinel}")).await;
    assert_eq!(st.as_u16(), 200, "the sentinel user reads back: {after}");
    assert_eq!(after, before, "the sentinel user is unchanged");
    let (st, _, list) = app.get("/Users?filter=userName+eq+%22sentinel%40contoso.com%22").await;
    assert_eq!((st.as_u16(), list["totalResults"].as_i64()), (200, Some(1)), "{list}");
}

#[tokio::test]
async fn fixed_seed_sqlite() {
    if let Some(app) = TestApp::sqlite().start().await {
        run(app, 0x5C1A_F022, requests_per_run(10_000)).await;
    }
}

#[tokio::test]
async fn random_seed_sqlite() {
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    if let Some(app) = TestApp::sqlite().start().await {
        run(app, seed, requests_per_run(10_000)).await;
    }
}

#[tokio::test]
async fn fixed_seed_postgres() {
    if let Some(app) = TestApp::postgres().start().await {
        run(app, 0x5C1A_F023, requests_per_run(10_000) / 2).await;
    }
}
