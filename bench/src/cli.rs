//! The command line of `scim-bench` (flags, defaults, environment variables) and the phases it can run,
//! which always execute in their canonical order whatever order `--phases` names them in.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "scim-bench", version, about = "Entra-shaped SCIM 2.0 load driver")]
pub(crate) struct Args {
    /// SCIM base URL including the tenant path, e.g. http://127.0.0.1:8080/scim/v2/TENANT
    #[arg(long, env = "SCIM_BENCH_BASE_URL")]
    pub(crate) base_url: String,
    /// Bearer token of the tenant.
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
    /// Number of users to create / query / patch.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) users: usize,
    /// Number of groups to create.
    #[arg(long, default_value_t = 100)]
    pub(crate) groups: usize,
    /// Users added to each group per members round.
    #[arg(long, default_value_t = 100)]
    pub(crate) members_per_group: usize,
    /// Members carried by one PATCH Add operation.
    #[arg(long, default_value_t = 25)]
    pub(crate) members_per_patch: usize,
    /// Rounds of the members phase. Each round fills its own `--groups` fresh groups (the groups phase
    /// creates groups x rounds), so every group ends with exactly members-per-group members, as in the
    /// Entra workload, while the phase still has enough requests to measure.
    #[arg(long, default_value_t = 5)]
    pub(crate) member_rounds: usize,
    /// Concurrent keep-alive connections (one worker task each).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// `count` of each list page.
    #[arg(long, default_value_t = 100)]
    pub(crate) page_size: usize,
    /// How many times the full user list is paged through.
    #[arg(long, default_value_t = 5)]
    pub(crate) list_rounds: usize,
    /// PID of the server; its VmRSS is sampled every 100 ms.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Phases to run (always executed in the canonical order).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "create,precheck,groups,members,replace,list")]
    pub(crate) phases: Vec<Phase>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Per-request timeout in seconds (a timeout counts as an error).
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout_secs: u64,
    /// Tokio worker threads of the driver; 1 uses a current-thread runtime (cheapest).
    #[arg(long, default_value_t = 1)]
    pub(crate) client_threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Phase {
    Create,
    Precheck,
    Groups,
    Members,
    /// One `POST /Groups` carrying the first members-per-group users as members (a large group in one request).
    GroupPost,
    Replace,
    List,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Precheck => "precheck",
            Phase::Groups => "groups",
            Phase::Members => "members",
            Phase::GroupPost => "group-post",
            Phase::Replace => "replace",
            Phase::List => "list",
        }
    }
}
