//! Runs one measured phase: `--concurrency` worker tasks, one keep-alive connection each, take item
//! indices from a shared counter, time every request and check every answer; the phase result holds
//! the latency percentiles, error and skip counts, reconnects and (with `--server-pid`) the peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::Phase;
use crate::http::Conn;
use crate::requests::{build_request, check_response};
use crate::rss::RssSampler;

/// Characters of an unexpected response body quoted in an error message.
pub(crate) const ERROR_BODY_CHARS: usize = 300;

/// Immutable per-phase context shared by the worker tasks.
pub(crate) struct Ctx {
    pub(crate) phase: Phase,
    pub(crate) users: usize,
    pub(crate) members_per_group: usize,
    pub(crate) members_per_patch: usize,
    pub(crate) patches_per_group: usize,
    pub(crate) groups: usize,
    pub(crate) page_size: usize,
    pub(crate) list_pages: usize,
    pub(crate) user_ids: Arc<Vec<Option<String>>>,
    pub(crate) group_ids: Arc<Vec<Option<String>>>,
    pub(crate) timeout: Duration,
}

struct WorkerOut {
    conn: Conn,
    stats: Stats,
}

#[derive(Debug)]
pub(crate) struct PhaseResult {
    pub(crate) phase: Phase,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) skipped: u64,
    pub(crate) connects: u64,
    pub(crate) wall: Duration,
    pub(crate) p50_us: u32,
    pub(crate) p99_us: u32,
    pub(crate) max_us: u32,
    pub(crate) mean_us: f64,
    pub(crate) peak_rss_kb: Option<u64>,
    pub(crate) first_error: Option<String>,
    /// For `list`: (total users reported, rounds).
    pub(crate) list_info: Option<(usize, usize)>,
}

impl PhaseResult {
    pub(crate) fn failed(phase: Phase, msg: String) -> Self {
        Self {
            phase,
            requests: 0,
            errors: 1,
            skipped: 0,
            connects: 0,
            wall: Duration::ZERO,
            p50_us: 0,
            p99_us: 0,
            max_us: 0,
            mean_us: 0.0,
            peak_rss_kb: None,
            first_error: Some(msg),
            list_info: None,
        }
    }

    pub(crate) fn req_per_s(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }
}

pub(crate) async fn run_phase(
    ctx: Arc<Ctx>,
    items: usize,
    conns: &mut Vec<Conn>,
    rss: Option<&RssSampler>,
) -> Result<(PhaseResult, Vec<(usize, String)>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = conns.len().max(1);
    let connects_before: u64 = conns.iter().map(|c| c.connects).sum();
    if let Some(s) = rss {
        s.begin_phase();
    }
    let start = Instant::now();
    let handles: Vec<_> = conns
        .drain(..)
        .map(|conn| {
            let ctx = Arc::clone(&ctx);
            let next = Arc::clone(&next);
            tokio::spawn(worker(ctx, items, workers, next, conn))
        })
        .collect();
    let mut lat: Vec<u32> = Vec::with_capacity(items);
    let mut errors = 0;
    let mut skipped = 0;
    let mut first_error: Option<String> = None;
    let mut ids = Vec::new();
    for handle in handles {
        let WorkerOut { conn, stats: out } = handle.await.context("worker task failed")?;
        lat.extend_from_slice(&out.lat_us);
        errors += out.errors;
        skipped += out.skipped;
        if first_error.is_none() {
            first_error = out.first_error;
        }
        ids.extend(out.ids);
        conns.push(conn);
    }
    let wall = start.elapsed();
    let peak_rss_kb = rss.and_then(RssSampler::end_phase);
    let connects_after: u64 = conns.iter().map(|c| c.connects).sum();

    lat.sort_unstable();
    let mean_us = if lat.is_empty() { 0.0 } else { lat.iter().map(|&v| f64::from(v)).sum::<f64>() / lat.len() as f64 };
    let result = PhaseResult {
        phase: ctx.phase,
        requests: lat.len() as u64,
        errors,
        skipped,
        connects: connects_after - connects_before,
        wall,
        p50_us: percentile(&lat, 50),
        p99_us: percentile(&lat, 99),
        max_us: lat.last().copied().unwrap_or(0),
        mean_us,
        peak_rss_kb,
        first_error,
        list_info: None,
    };
    Ok((result, ids))
}

/// Nearest-rank percentile of sorted samples.
pub(crate) fn percentile(sorted: &[u32], p: usize) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

async fn worker(ctx: Arc<Ctx>, items: usize, workers: usize, next: Arc<AtomicUsize>, mut conn: Conn) -> WorkerOut {
    let mut out = Stats {
        lat_us: Vec::with_capacity(items / workers + 1),
        errors: 0,
        skipped: 0,
        first_error: None,
        ids: Vec::new(),
    };
    let mut path = String::with_capacity(256);
    let mut body: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= items {
            break;
        }
        path.clear();
        body.clear();
        let Some(method) = build_request(&ctx, i, &mut path, &mut body) else {
            out.skipped += 1;
            continue;
        };
        let send_body = (!body.is_empty()).then_some(body.as_slice());
        let t0 = Instant::now();
        let res = tokio::time::timeout(ctx.timeout, conn.request(method, &path, send_body)).await;
        let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
        out.lat_us.push(us);
        let failure = match res {
            Err(_) => Some(format!("{method} {path}: no response within {} s", ctx.timeout.as_secs())),
            Ok(Err(e)) => Some(format!("{method} {path}: {e:#}")),
            Ok(Ok(status)) => match check_response(ctx.phase, status, conn.body()) {
                Ok(Some(id)) => {
                    out.ids.push((i, id));
                    None
                }
                Ok(None) => None,
                Err(why) => Some(format!(
                    "{method} {path}: {why}: {}",
                    truncate(&String::from_utf8_lossy(conn.body()), ERROR_BODY_CHARS)
                )),
            },
        };
        if let Some(msg) = failure {
            out.errors += 1;
            if out.first_error.is_none() {
                out.first_error = Some(msg);
            }
        }
    }
    WorkerOut { conn, stats: out }
}

struct Stats {
    lat_us: Vec<u32>,
    errors: u64,
    skipped: u64,
    first_error: Option<String>,
    ids: Vec<(usize, String)>,
}

pub(crate) fn truncate(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_string(),
    }
}
