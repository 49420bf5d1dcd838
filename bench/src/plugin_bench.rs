//! `plugin-bench`: the plugin host's figures (bench/RESULTS.md, issue 4).
//!
//! - `translate --plugin FILE`: cost of one `translate` call as the dispatcher makes it (a fresh store
//!   and instance per call from the pre-instantiated component, fuel and epoch on, pooling allocator),
//!   for a typical Entra user upsert; median, p99, mean, fuel and peak memory.
//! - `sink --port P --expect N`: a loopback HTTP sink that answers 200 to everything and reports when
//!   N requests arrived (and how many op ids came more than once); used by `bench/plugins.sh`.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use gateway::plugins::call::{CallEnv, CallLimits, KvOverlay};
use gateway::plugins::convert;
use gateway::plugins::egress::Policy;
use gateway::plugins::runtime::Runtime;
use gateway::store::ChangeEvent;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
#[command(name = "plugin-bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Time `translate` calls (fresh instance per call).
    Translate {
        #[arg(long)]
        plugin: std::path::PathBuf,
        /// Target config JSON given to the plugin (default: one that suits the webhook / template plugins).
        #[arg(long)]
        config: Option<String>,
        #[arg(long, default_value_t = 5000)]
        calls: usize,
        #[arg(long, default_value_t = 500)]
        warmup: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A loopback HTTP sink counting requests.
    Sink {
        #[arg(long)]
        port: u16,
        /// Exit (printing a JSON summary) once this many requests arrived.
        #[arg(long)]
        expect: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match cli.cmd {
        Cmd::Translate { plugin, config, calls, warmup, json } => {
            rt.block_on(translate(plugin, config, calls, warmup, json))
        }
        Cmd::Sink { port, expect, timeout_secs } => rt.block_on(sink(port, expect, timeout_secs)),
    }
}

fn user_change(i: usize) -> ChangeEvent {
    let id = format!("8f1c2d3e-0000-4000-8000-{i:012}");
    ChangeEvent {
        seq: i as i64 + 1,
        kind: "user.upserted".into(),
        resource_type: "User".into(),
        resource_id: id.clone(),
        payload: json!({
            "id": id,
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": format!("ext-{i}"),
            "userName": format!("user{i}@contoso.example"),
            "active": true,
            "displayName": format!("User {i}"),
            "name": {"givenName": "Ada", "familyName": format!("Lovelace{i}"), "formatted": format!("Ada Lovelace{i}")},
            "emails": [{"value": format!("user{i}@contoso.example"), "type": "work", "primary": true}],
            "title": "Engineer",
            "preferredLanguage": "en-US",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": format!("{i}"), "department": "Research", "costCenter": "CC-1",
                "organization": "Contoso", "division": "R&D", "manager": {"value": "m-1"}
            }
        }),
        created_at: "2026-11-22T00:00:00.000Z".into(),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn translate(
    plugin: std::path::PathBuf,
    config: Option<String>,
    calls: usize,
    warmup: usize,
    as_json: bool,
) -> Result<()> {
    let config = config.unwrap_or_else(|| {
        if plugin.to_string_lossy().contains("webhook") {
            r#"{"url":"https://hooks.example.com/x"}"#.to_owned()
        } else {
            r#"{"base_url":"https://lms.example.com/api"}"#.to_owned()
        }
    });
    let wasm = std::fs::read(&plugin).with_context(|| format!("reading {}", plugin.display()))?;
    let rt = Runtime::new(CallLimits::default(), None)?;
    let compiled = rt.validate(&wasm).map_err(anyhow::Error::msg)?;
    let env = CallEnv {
        tenant: "bench".into(),
        tenant_pk: 0,
        target: "bench".into(),
        target_pk: 0,
        config_json: config,
        store: None,
        policy: Arc::new(Policy::new(&[], false, false).map_err(anyhow::Error::msg)?),
        credentials: Arc::new(HashMap::new()),
        capture_logs: false,
        seed: None,
        egress: None,
    };
    let overlay = Arc::new(KvOverlay::new());
    let changes: Vec<_> =
        (0..64).map(|i| convert::change(&user_change(i))).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;
    let mut micros = Vec::with_capacity(calls);
    let mut fuel = 0u64;
    let mut peak = 0usize;
    let mut ops = 0usize;
    for i in 0..(warmup + calls) {
        let change = changes[i % changes.len()].clone();
        let started = Instant::now();
        let (result, stats) = rt.translate(&compiled, &env, &overlay, change, "bench".into(), 1).await;
        let elapsed = started.elapsed();
        let (out, _) = result.map_err(|e| anyhow::anyhow!("translate failed: {e}"))?;
        if i >= warmup {
            micros.push(elapsed.as_secs_f64() * 1e6);
            fuel = stats.fuel;
            peak = peak.max(stats.peak_memory_bytes);
            ops = out.len();
        }
    }
    let mean = micros.iter().sum::<f64>() / micros.len().max(1) as f64;
    micros.sort_by(f64::total_cmp);
    let summary = json!({
        "plugin": plugin.file_name().map(|n| n.to_string_lossy().into_owned()),
        "calls": calls,
        "pooling": rt.pooling,
        "median_us": pct(&micros, 0.5),
        "p90_us": pct(&micros, 0.9),
        "p99_us": pct(&micros, 0.99),
        "mean_us": mean,
        "fuel_per_call": fuel,
        "peak_memory_kib": peak / 1024,
        "operations_per_call": ops,
    });
    if as_json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

struct Counts {
    total: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    ids: HashMap<String, u32>,
}

async fn sink(port: u16, expect: u64, timeout_secs: u64) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let counts = Arc::new(std::sync::Mutex::new(Counts { total: 0, first: None, last: None, ids: HashMap::new() }));
    let done = Arc::new(tokio::sync::Notify::new());
    let c2 = counts.clone();
    let d2 = done.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let counts = c2.clone();
            let done = d2.clone();
            tokio::spawn(async move {
                let _ = serve_conn(sock, counts, done, expect).await;
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    eprintln!("sink listening on 127.0.0.1:{port}, expecting {expect} requests");
    loop {
        tokio::select! {
            _ = done.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let c = counts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        if c.total >= expect || Instant::now() > deadline {
            let span = match (c.first, c.last) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                _ => 0.0,
            };
            let dups = c.ids.values().filter(|n| **n > 1).count();
            let summary = json!({
                "received": c.total,
                "distinct_op_ids": c.ids.len(),
                "op_ids_seen_twice_or_more": dups,
                "first_to_last_secs": span,
                "requests_per_sec": if span > 0.0 { c.total as f64 / span } else { 0.0 },
            });
            println!("{summary}");
            if c.total < expect {
                bail!("timed out with {} of {expect} requests", c.total);
            }
            return Ok(());
        }
    }
}

async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    counts: Arc<std::sync::Mutex<Counts>>,
    done: Arc<tokio::sync::Notify>,
    expect: u64,
) -> Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Read one request: head, then Content-Length body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut len = 0usize;
        let mut op_id = String::new();
        for line in head.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("x-scimgw-op-id") {
                    op_id = v.trim().to_owned();
                }
            }
        }
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + len);
        {
            let mut c = counts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let now = Instant::now();
            c.total += 1;
            c.first.get_or_insert(now);
            c.last = Some(now);
            *c.ids.entry(op_id).or_insert(0) += 1;
            if c.total >= expect {
                done.notify_one();
            }
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await?;
    }
}
