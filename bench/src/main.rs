//! `scim-bench`: an Entra-shaped SCIM 2.0 load driver for the gateway.
//!
//! Runs the phases create → precheck → groups → members → replace → list against
//! `--base-url` over plain HTTP/1.1 keep-alive with `--concurrency` connections and
//! prints a markdown table (requests, errors, req/s, p50/p99/max latency and, with
//! `--server-pid`, the server's peak RSS per phase). Exit status: 0 when every phase
//! ran without errors, 1 when any phase saw errors, 2 on a setup failure.

mod http;
mod rss;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::http::{Conn, Target};
use crate::rss::RssSampler;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR_BODY_CHARS: usize = 300;

#[derive(Parser, Debug)]
#[command(name = "scim-bench", version, about = "Entra-shaped SCIM 2.0 load driver")]
struct Args {
    /// SCIM base URL including the tenant path, e.g. http://127.0.0.1:8080/scim/v2/TENANT
    #[arg(long, env = "SCIM_BENCH_BASE_URL")]
    base_url: String,
    /// Bearer token of the tenant.
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    token: String,
    /// Number of users to create / query / patch.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Number of groups to create.
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Users added to each group per members round.
    #[arg(long, default_value_t = 100)]
    members_per_group: usize,
    /// Members carried by one PATCH Add operation.
    #[arg(long, default_value_t = 25)]
    members_per_patch: usize,
    /// Rounds of the members phase. Each round fills its own `--groups` fresh groups (the groups phase
    /// creates groups x rounds), so every group ends with exactly members-per-group members, as in the
    /// Entra workload, while the phase still has enough requests to measure.
    #[arg(long, default_value_t = 5)]
    member_rounds: usize,
    /// Concurrent keep-alive connections (one worker task each).
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// `count` of each list page.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// How many times the full user list is paged through.
    #[arg(long, default_value_t = 5)]
    list_rounds: usize,
    /// PID of the server; its VmRSS is sampled every 100 ms.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Phases to run (always executed in the canonical order).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "create,precheck,groups,members,replace,list")]
    phases: Vec<Phase>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Per-request timeout in seconds (a timeout counts as an error).
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Tokio worker threads of the driver; 1 uses a current-thread runtime (cheapest).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Phase {
    Create,
    Precheck,
    Groups,
    Members,
    Replace,
    List,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Precheck => "precheck",
            Phase::Groups => "groups",
            Phase::Members => "members",
            Phase::Replace => "replace",
            Phase::List => "list",
        }
    }
}

/// Immutable per-phase context shared by the worker tasks.
struct Ctx {
    phase: Phase,
    users: usize,
    members_per_group: usize,
    members_per_patch: usize,
    patches_per_group: usize,
    groups: usize,
    page_size: usize,
    list_pages: usize,
    user_ids: Arc<Vec<Option<String>>>,
    group_ids: Arc<Vec<Option<String>>>,
    timeout: Duration,
}

struct WorkerOut {
    conn: Conn,
    stats: Stats,
}

#[derive(Debug)]
struct PhaseResult {
    phase: Phase,
    requests: u64,
    errors: u64,
    skipped: u64,
    connects: u64,
    wall: Duration,
    p50_us: u32,
    p99_us: u32,
    max_us: u32,
    mean_us: f64,
    peak_rss_kb: Option<u64>,
    first_error: Option<String>,
    /// For `list`: (total users reported, rounds).
    list_info: Option<(usize, usize)>,
}

impl PhaseResult {
    fn failed(phase: Phase, msg: String) -> Self {
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

    fn req_per_s(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads).enable_all().build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scim-bench: cannot start the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("scim-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs all phases and reports; returns whether every phase was error-free.
async fn run(args: Args) -> Result<bool> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.members_per_patch == 0 || args.page_size == 0 {
        bail!("--members-per-patch and --page-size must be at least 1");
    }
    let mut phases = args.phases.clone();
    phases.sort();
    phases.dedup();

    let target = Arc::new(Target::parse(&args.base_url, &args.token)?);
    let mut conns: Vec<Conn> = (0..args.concurrency).map(|_| Conn::new(Arc::clone(&target))).collect();
    let sampler = args.server_pid.map(|pid| RssSampler::start(pid, Duration::from_millis(100)));
    if let Some((s, _)) = &sampler
        && !s.is_alive()
    {
        bail!("--server-pid {}: no such process", args.server_pid.unwrap_or_default());
    }

    let env_line = format!(
        "users={} groups={} members-per-group={} members-per-patch={} member-rounds={} \
         concurrency={} page-size={} list-rounds={} client-threads={} base-url={}",
        args.users,
        args.groups,
        args.members_per_group,
        args.members_per_patch,
        args.member_rounds,
        args.concurrency,
        args.page_size,
        args.list_rounds,
        args.client_threads.max(1),
        args.base_url
    );
    eprintln!("scim-bench: {env_line}");

    let patches_per_group = args.members_per_group.div_ceil(args.members_per_patch);
    let mut user_ids: Arc<Vec<Option<String>>> = Arc::new(Vec::new());
    let mut group_ids: Arc<Vec<Option<String>>> = Arc::new(Vec::new());
    let mut results = Vec::new();

    for phase in phases {
        // Phases that need server ids discover them when the creating phase was skipped.
        if matches!(phase, Phase::Members | Phase::Replace) && user_ids.is_empty() && args.users > 0 {
            match discover(&mut conns[0], Kind::Users, args.users, args.page_size).await {
                Ok(ids) => user_ids = Arc::new(ids),
                Err(e) => {
                    results.push(report_failed(phase, format!("discovering user ids: {e:#}")));
                    continue;
                }
            }
        }
        if phase == Phase::Members && group_ids.is_empty() && args.groups > 0 {
            match discover(&mut conns[0], Kind::Groups, args.groups * args.member_rounds.max(1), args.page_size).await {
                Ok(ids) => group_ids = Arc::new(ids),
                Err(e) => {
                    results.push(report_failed(phase, format!("discovering group ids: {e:#}")));
                    continue;
                }
            }
        }
        let mut list_total = 0;
        if phase == Phase::List {
            match probe_total(&mut conns[0]).await {
                Ok(total) => list_total = total,
                Err(e) => {
                    results.push(report_failed(phase, format!("first list page: {e:#}")));
                    continue;
                }
            }
        }
        let list_pages = list_total.div_ceil(args.page_size);
        let items = match phase {
            Phase::Create | Phase::Precheck | Phase::Replace => args.users,
            Phase::Groups => args.groups * args.member_rounds.max(1),
            Phase::Members => {
                if args.users == 0 {
                    0
                } else {
                    args.member_rounds * args.groups * patches_per_group
                }
            }
            Phase::List => args.list_rounds * list_pages,
        };
        let ctx = Arc::new(Ctx {
            phase,
            users: args.users,
            members_per_group: args.members_per_group,
            members_per_patch: args.members_per_patch,
            patches_per_group,
            groups: args.groups,
            page_size: args.page_size,
            list_pages,
            user_ids: Arc::clone(&user_ids),
            group_ids: Arc::clone(&group_ids),
            timeout: Duration::from_secs(args.timeout_secs.max(1)),
        });
        eprintln!("scim-bench: phase {} ({items} requests)…", phase.name());
        let rss = sampler.as_ref().map(|(s, _)| Arc::clone(s));
        let (mut result, ids) = run_phase(ctx, items, &mut conns, rss.as_deref()).await?;
        if phase == Phase::List {
            result.list_info = Some((list_total, args.list_rounds));
        }
        match phase {
            Phase::Create => user_ids = Arc::new(place_ids(ids, args.users)),
            Phase::Groups => group_ids = Arc::new(place_ids(ids, args.groups * args.member_rounds.max(1))),
            _ => {}
        }
        eprintln!(
            "scim-bench: phase {} done: {} requests, {} errors, {:.2} s",
            phase.name(),
            result.requests,
            result.errors,
            result.wall.as_secs_f64()
        );
        if let Some(err) = &result.first_error {
            eprintln!("scim-bench: phase {} first error: {err}", phase.name());
        }
        results.push(result);
    }

    let (overall_kb, hwm_kb) = match &sampler {
        Some((s, handle)) => {
            s.sample();
            handle.abort();
            (s.overall_peak_kb(), s.vm_hwm_kb())
        }
        None => (None, None),
    };

    let report = render_markdown(&env_line, &results, overall_kb, hwm_kb);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report.as_bytes()).context("write report")?;
    stdout.flush().context("flush stdout")?;
    drop(stdout);

    if let Some(path) = &args.json {
        let doc = render_json(&args, &results, overall_kb, hwm_kb);
        let text = serde_json::to_string_pretty(&doc).context("serialize JSON report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("write JSON report to {}", path.display()))?;
    }
    Ok(results.iter().all(|r| r.errors == 0))
}

fn report_failed(phase: Phase, msg: String) -> PhaseResult {
    eprintln!("scim-bench: phase {} failed: {msg}", phase.name());
    PhaseResult::failed(phase, msg)
}

fn place_ids(ids: Vec<(usize, String)>, n: usize) -> Vec<Option<String>> {
    let mut out = vec![None; n];
    for (i, id) in ids {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(id);
        }
    }
    out
}

async fn run_phase(
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
fn percentile(sorted: &[u32], p: usize) -> u32 {
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

fn truncate(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_string(),
    }
}

/// Fills `path` (relative to the base URL) and `body` (empty = no body) for item `i`;
/// returns the method, or None when the item cannot be built (missing id) and is skipped.
fn build_request(ctx: &Ctx, i: usize, path: &mut String, body: &mut Vec<u8>) -> Option<&'static str> {
    // Writing into a String or Vec cannot fail, hence the ignored results.
    match ctx.phase {
        Phase::Create => {
            path.push_str("/Users");
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["{us}","{es}"],"externalId":"{ext}","userName":"user{i:06}@bench.example.com","#,
                    r#""active":true,"displayName":"Bench User {i}","#,
                    r#""emails":[{{"primary":true,"type":"work","value":"user{i}@bench.example.com"}}],"#,
                    r#""name":{{"formatted":"Bench User {i}","familyName":"User{i}","givenName":"Bench"}},"#,
                    r#""title":"Engineer","{es}":{{"employeeNumber":"{i}","department":"Dept {dept}","organization":"Contoso"}},"#,
                    r#""meta":{{"resourceType":"User"}},"roles":[]}}"#
                ),
                us = USER_SCHEMA,
                es = ENTERPRISE_SCHEMA,
                ext = uuid_like(1, i as u64),
                i = i,
                dept = i % 20,
            );
            Some("POST")
        }
        Phase::Precheck => {
            path.push_str("/Users?filter=");
            let filter = format!("userName eq \"user{i:06}@bench.example.com\"");
            form_encode(&filter, path);
            Some("GET")
        }
        Phase::Groups => {
            path.push_str("/Groups");
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","#,
                    r#""http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"#,
                    r#""externalId":"{ext}","displayName":"Bench Group {g}","meta":{{"resourceType":"Group"}}}}"#
                ),
                ext = uuid_like(2, i as u64),
                g = i,
            );
            Some("POST")
        }
        Phase::Members => {
            let per_round = ctx.groups * ctx.patches_per_group;
            let round = i / per_round;
            let g = (i % per_round) / ctx.patches_per_group;
            let k = i % ctx.patches_per_group;
            let gid = ctx.group_ids.get(round * ctx.groups + g)?.as_deref()?;
            let first = k * ctx.members_per_patch;
            let count = ctx.members_per_patch.min(ctx.members_per_group - first);
            let base = g * ctx.members_per_group + round * ctx.members_per_group + first;
            body.extend_from_slice(br#"{"schemas":[""#);
            body.extend_from_slice(PATCH_SCHEMA.as_bytes());
            body.extend_from_slice(br#""],"Operations":[{"op":"Add","path":"members","value":["#);
            let mut any = false;
            for j in 0..count {
                let Some(Some(uid)) = ctx.user_ids.get((base + j) % ctx.users) else {
                    continue;
                };
                if any {
                    body.push(b',');
                }
                any = true;
                body.extend_from_slice(br#"{"$ref":null,"value":"#);
                json_string(body, uid);
                body.push(b'}');
            }
            if !any {
                return None;
            }
            body.extend_from_slice(b"]}]}");
            path.push_str("/Groups/");
            path_encode(gid, path);
            Some("PATCH")
        }
        Phase::Replace => {
            let uid = ctx.user_ids.get(i)?.as_deref()?;
            path.push_str("/Users/");
            path_encode(uid, path);
            let _ = write!(
                body,
                concat!(
                    r#"{{"schemas":["{ps}"],"Operations":["#,
                    r#"{{"op":"Replace","path":"displayName","value":"Bench User {i} v2"}},"#,
                    r#"{{"op":"Replace","path":"name.givenName","value":"Benched"}},"#,
                    r#"{{"op":"Replace","path":"{es}:department","value":"Dept X"}},"#,
                    r#"{{"op":"Replace","path":"active","value":"True"}}]}}"#
                ),
                ps = PATCH_SCHEMA,
                es = ENTERPRISE_SCHEMA,
                i = i,
            );
            Some("PATCH")
        }
        Phase::List => {
            let page = i % ctx.list_pages.max(1);
            let _ = write!(path, "/Users?startIndex={}&count={}", 1 + page * ctx.page_size, ctx.page_size);
            Some("GET")
        }
    }
}

/// Validates a response; Ok(Some(id)) for creates, Err(reason) for an unexpected answer.
fn check_response(phase: Phase, status: u16, body: &[u8]) -> Result<Option<String>, String> {
    let expect = |ok: &[u16]| {
        if ok.contains(&status) { Ok(()) } else { Err(format!("unexpected status {status}")) }
    };
    match phase {
        Phase::Create | Phase::Groups => {
            expect(&[201])?;
            let v: Value =
                serde_json::from_slice(body).map_err(|e| format!("status 201 but the body is not JSON ({e})"))?;
            match v.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Ok(Some(id.to_string())),
                _ => Err("status 201 but no \"id\" in the body".to_string()),
            }
        }
        Phase::Precheck => {
            expect(&[200])?;
            let total =
                serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("totalResults").and_then(Value::as_u64));
            match total {
                Some(1) => Ok(None),
                Some(n) => Err(format!("status 200 but totalResults={n}, expected 1")),
                None => Err("status 200 but no numeric totalResults".to_string()),
            }
        }
        Phase::Members | Phase::Replace => expect(&[200, 204]).map(|()| None),
        Phase::List => expect(&[200]).map(|()| None),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

/// Unmeasured: pages through /Users or /Groups and maps the bench resources back to
/// their indices (userName `user{i:06}@bench.example.com`, displayName `Bench Group {g}`).
async fn discover(conn: &mut Conn, kind: Kind, n: usize, page_size: usize) -> Result<Vec<Option<String>>> {
    let (what, resource, extra) = match kind {
        Kind::Users => ("users", "/Users", "&attributes=userName"),
        Kind::Groups => ("groups", "/Groups", "&excludedAttributes=members"),
    };
    eprintln!("scim-bench: discovering existing {what} (unmeasured)…");
    let mut ids = vec![None; n];
    let mut found = 0usize;
    let mut start = 1usize;
    loop {
        let path = format!("{resource}?startIndex={start}&count={page_size}{extra}");
        let status = conn.request("GET", &path, None).await?;
        if status != 200 {
            bail!("GET {path}: status {status}: {}", truncate(&String::from_utf8_lossy(conn.body()), ERROR_BODY_CHARS));
        }
        let v: Value = serde_json::from_slice(conn.body()).with_context(|| format!("GET {path}: body is not JSON"))?;
        let total = v.get("totalResults").and_then(Value::as_u64).unwrap_or(0) as usize;
        let resources = v.get("Resources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for r in resources {
            let (Some(id), Some(name)) = (
                r.get("id").and_then(Value::as_str),
                r.get(match kind {
                    Kind::Users => "userName",
                    Kind::Groups => "displayName",
                })
                .and_then(Value::as_str),
            ) else {
                continue;
            };
            let index = match kind {
                Kind::Users => name.strip_prefix("user").and_then(|s| s.strip_suffix("@bench.example.com")),
                Kind::Groups => name.strip_prefix("Bench Group "),
            }
            .and_then(|s| s.parse::<usize>().ok());
            if let Some(slot) = index.and_then(|i| ids.get_mut(i))
                && slot.is_none()
            {
                *slot = Some(id.to_string());
                found += 1;
            }
        }
        start += resources.len();
        if resources.is_empty() || start > total {
            break;
        }
    }
    eprintln!("scim-bench: found {found} of {n} bench {what}");
    Ok(ids)
}

/// Unmeasured: totalResults of the user list.
async fn probe_total(conn: &mut Conn) -> Result<usize> {
    let path = "/Users?startIndex=1&count=1";
    let status = conn.request("GET", path, None).await?;
    if status != 200 {
        bail!("GET {path}: status {status}: {}", truncate(&String::from_utf8_lossy(conn.body()), ERROR_BODY_CHARS));
    }
    serde_json::from_slice::<Value>(conn.body())
        .ok()
        .and_then(|v| v.get("totalResults").and_then(Value::as_u64))
        .map(|n| n as usize)
        .with_context(|| format!("GET {path}: no numeric totalResults"))
}

/// Deterministic UUID-v4-shaped string for (namespace, index).
fn uuid_like(namespace: u64, i: u64) -> String {
    let a = splitmix64((namespace << 48) ^ i);
    let b = splitmix64(a ^ 0xA5A5_A5A5_A5A5_A5A5);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// application/x-www-form-urlencoded as Entra sends filters: space → `+`, `"` → `%22`, `@` → `%40`.
fn form_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// Percent-encodes one path segment (ids are normally UUIDs and pass unchanged).
fn path_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn render_markdown(env_line: &str, results: &[PhaseResult], overall_kb: Option<u64>, hwm_kb: Option<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n{env_line}\n");
    s.push_str("| phase | requests | errors | req/s | p50 ms | p99 ms | max ms | peak RSS MB |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let rss = r.peak_rss_kb.map_or_else(|| "-".to_string(), |kb| format!("{:.1}", mb(kb)));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            r.phase.name(),
            r.requests,
            r.errors,
            r.req_per_s(),
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.max_us),
            rss
        );
    }
    s.push('\n');
    let walls: Vec<String> =
        results.iter().map(|r| format!("{} {:.2}s", r.phase.name(), r.wall.as_secs_f64())).collect();
    let _ = writeln!(s, "wall time: {}", walls.join(", "));
    for r in results {
        if let Some((total, rounds)) = r.list_info {
            let secs = r.wall.as_secs_f64();
            let users_per_s = if secs > 0.0 { (total * rounds) as f64 / secs } else { 0.0 };
            let _ = writeln!(
                s,
                "list: {} pages ({} users x {} rounds) at {:.1} pages/s, {:.0} users/s",
                r.requests,
                total,
                rounds,
                r.req_per_s(),
                users_per_s
            );
        }
        if r.skipped > 0 {
            let _ = writeln!(s, "{}: {} items skipped (ids unknown)", r.phase.name(), r.skipped);
        }
    }
    if overall_kb.is_some() || hwm_kb.is_some() {
        let fmt = |kb: Option<u64>| kb.map_or_else(|| "-".to_string(), |kb| format!("{:.1} MB", mb(kb)));
        let _ = writeln!(s, "server RSS: peak sampled {}, VmHWM {}", fmt(overall_kb), fmt(hwm_kb));
    }
    let total_errors: u64 = results.iter().map(|r| r.errors).sum();
    if total_errors > 0 {
        let _ = writeln!(s, "ERRORS: {total_errors} in total");
    }
    s
}

fn render_json(args: &Args, results: &[PhaseResult], overall_kb: Option<u64>, hwm_kb: Option<u64>) -> Value {
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let phases: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut p = json!({
                "phase": r.phase.name(),
                "requests": r.requests,
                "errors": r.errors,
                "skipped": r.skipped,
                "connects": r.connects,
                "wall_s": round3(r.wall.as_secs_f64()),
                "req_per_s": round3(r.req_per_s()),
                "p50_ms": ms(r.p50_us),
                "p99_ms": ms(r.p99_us),
                "max_ms": ms(r.max_us),
                "mean_ms": round3(r.mean_us / 1000.0),
                "peak_rss_mb": r.peak_rss_kb.map(|kb| round3(mb(kb))),
                "first_error": r.first_error,
            });
            if let (Some((total, rounds)), Some(obj)) = (r.list_info, p.as_object_mut()) {
                obj.insert("total_results".into(), json!(total));
                obj.insert("rounds".into(), json!(rounds));
                obj.insert("pages_per_s".into(), json!(round3(r.req_per_s())));
            }
            p
        })
        .collect();
    json!({
        "env": {
            "base_url": args.base_url,
            "users": args.users,
            "groups": args.groups,
            "members_per_group": args.members_per_group,
            "members_per_patch": args.members_per_patch,
            "member_rounds": args.member_rounds,
            "concurrency": args.concurrency,
            "page_size": args.page_size,
            "list_rounds": args.list_rounds,
            "client_threads": args.client_threads.max(1),
            "server_pid": args.server_pid,
        },
        "phases": phases,
        "server": {
            "peak_rss_mb": overall_kb.map(|kb| round3(mb(kb))),
            "vm_hwm_mb": hwm_kb.map(|kb| round3(mb(kb))),
        },
        "total_errors": results.iter().map(|r| r.errors).sum::<u64>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filter_like_entra() {
        let mut s = String::new();
        form_encode("userName eq \"user000123@bench.example.com\"", &mut s);
        assert_eq!(s, "userName+eq+%22user000123%40bench.example.com%22");
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn uuid_is_deterministic_and_shaped() {
        let a = uuid_like(1, 42);
        assert_eq!(a, uuid_like(1, 42));
        assert_ne!(a, uuid_like(2, 42));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn create_body_is_valid_json() -> Result<()> {
        let ctx = Ctx {
            phase: Phase::Create,
            users: 10,
            members_per_group: 4,
            members_per_patch: 3,
            patches_per_group: 2,
            groups: 2,
            page_size: 100,
            list_pages: 1,
            user_ids: Arc::new((0..10).map(|i| Some(format!("u{i}"))).collect()),
            // Two rounds of two groups: round r fills groups 2r and 2r+1.
            group_ids: Arc::new(vec![Some("g0".into()), Some("g1".into()), Some("g2".into()), Some("g3".into())]),
            timeout: Duration::from_secs(1),
        };
        let (mut path, mut body) = (String::new(), Vec::new());
        build_request(&ctx, 7, &mut path, &mut body);
        let v: Value = serde_json::from_slice(&body)?;
        assert_eq!(v["userName"], "user000007@bench.example.com");
        assert_eq!(v[ENTERPRISE_SCHEMA]["department"], "Dept 7");

        // Members: round 1, group 1 (that round's own group g3), second patch → users (1*4 + 1*4 + 3).. = 11
        // → wraps to 1.
        let ctx = Ctx { phase: Phase::Members, ..ctx };
        let (mut path, mut body) = (String::new(), Vec::new());
        build_request(&ctx, 2 * 2 + 2 + 1, &mut path, &mut body);
        assert_eq!(path, "/Groups/g3");
        let v: Value = serde_json::from_slice(&body)?;
        let vals = &v["Operations"][0]["value"];
        assert_eq!(vals.as_array().map(Vec::len), Some(1));
        assert_eq!(vals[0]["value"], "u1");
        assert!(vals[0]["$ref"].is_null());

        let ctx = Ctx { phase: Phase::Replace, ..ctx };
        let (mut path, mut body) = (String::new(), Vec::new());
        build_request(&ctx, 3, &mut path, &mut body);
        assert_eq!(path, "/Users/u3");
        let v: Value = serde_json::from_slice(&body)?;
        assert_eq!(v["Operations"][3]["value"], "True");
        Ok(())
    }
}
