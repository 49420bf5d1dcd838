//! The Assigner's I/O side: its jobs, admin resources, Graph calls and enrollments, around the pure
//! engine of [`crate::assigner`]. On when the target configuration has `"assigner": {…}`.
//!
//! - [`refresh`]: the `assigner-refresh` job (the data refresh: directory, Learn365 users, courses and
//!   enrollments into a snapshot);
//! - [`maintain`]: the `assigner-maintenance` job (lock, A8, groups and members through Graph, A5
//!   throttling, A6 through [`enroll`], A7, notifications, the run record);
//! - [`admin`]: `assigner/…` resources (settings, profiles, preview, member lists, runs, status);
//! - [`net`]: Learn365 reads and Graph calls within a call's request budget;
//! - [`store`]: the kv layout (`as:` keys).

pub mod admin;
pub mod enroll;
pub mod maintain;
pub mod net;
pub mod refresh;
pub mod store;

use scimgw_plugin_sdk::{Job, JobResult, JobRun, PluginError};

use crate::config::Config;
use crate::deliver::Wire;
use crate::state::Env;

/// The Assigner's jobs (none when it is off).
pub fn jobs(config: &Config) -> Vec<Job> {
    if config.assigner.is_none() {
        return Vec::new();
    }
    vec![
        Job { name: refresh::JOB.into(), cron: refresh::CRON.into(), exclusive: false, lock_message: None },
        Job {
            name: maintain::JOB.into(),
            cron: maintain::CRON.into(),
            exclusive: true,
            lock_message: Some(maintain::LOCK_MESSAGE.into()),
        },
    ]
}

/// Whether `job` is one of the Assigner's.
pub fn is_job(job: &str) -> bool {
    job == refresh::JOB || job == maintain::JOB
}

/// One call of a run of one of the Assigner's jobs.
pub fn run<E: Env, W: Wire>(
    env: &mut E,
    wire: &mut W,
    config: &Config,
    run: &JobRun,
    now: u64,
) -> Result<JobResult, PluginError> {
    let Some(a) = &config.assigner else {
        return Err(PluginError::Config(format!(
            "the job `{}` belongs to the Assigner, which is off for this target (no \"assigner\" in its configuration)",
            run.job
        )));
    };
    let mut net = net::Net::new(wire, &config.base_url, &a.graph_base_url);
    let cursor = run.cursor.as_deref();
    if run.job == refresh::JOB {
        refresh::run(env, &mut net, run.scheduled_at_unix_ms, now, cursor)
    } else {
        maintain::run(env, &mut net, config, run.scheduled_at_unix_ms, now, cursor)
    }
}
