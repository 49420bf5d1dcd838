//! `scim-bench`: an Entra-shaped SCIM 2.0 load driver for the gateway.
//!
//! Runs the phases create → precheck → groups → members → replace → list against
//! `--base-url` over plain HTTP/1.1 keep-alive with `--concurrency` connections and
//! prints a markdown table (requests, errors, req/s, p50/p99/max latency and, with
//! `--server-pid`, the server's peak RSS per phase). Exit status: 0 when every phase
//! ran without errors, 1 when any phase saw errors, 2 on a setup failure.

mod cli;
mod discover;
mod http;
mod phases;
mod report;
mod requests;
mod rss;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::cli::{Args, Phase};
use crate::discover::{Kind, discover, probe_total};
use crate::http::{Conn, Target};
use crate::phases::{Ctx, PhaseResult, run_phase};
use crate::report::{render_json, render_markdown};
use crate::rss::RssSampler;

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
        if matches!(phase, Phase::Members | Phase::GroupPost | Phase::Replace) && user_ids.is_empty() && args.users > 0
        {
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
            Phase::GroupPost => 1,
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

#[cfg(test)]
mod tests;
