//! The outputs of a run: the markdown table on stdout (parsed by `bench/run.sh` and
//! `bench/summarize.py`, so its layout is a contract) and the `--json` document.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::cli::Args;
use crate::phases::PhaseResult;

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub(crate) fn render_markdown(
    env_line: &str,
    results: &[PhaseResult],
    overall_kb: Option<u64>,
    hwm_kb: Option<u64>,
) -> String {
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

pub(crate) fn render_json(args: &Args, results: &[PhaseResult], overall_kb: Option<u64>, hwm_kb: Option<u64>) -> Value {
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
