//! The `apply-mappings` job: how a change of `courseMappings` reaches the members groups already have.
//!
//! Every 5 minutes (UTC cron `*/5 * * * *`; `gateway target run-job` runs it at once) the job compares
//! the hash of the configured mappings with the one it applied last (kv `mappings`):
//! - **equal and no group queued**: nothing to do (one kv read; the summary says so);
//! - **different**: a full pass over every group the plugin knows (`g:` keys, in id order): a group
//!   whose items under the current configuration differ from the ones its members were brought in line
//!   with (or that is queued) has every recorded member brought in line ([`Work::normalize_group`]):
//!   sources added for new items (`enroll` when first), taken away for dropped ones (`unenroll` when
//!   last). Then the queue. Then the hash is stored;
//! - **queued groups** (`q:` keys: a membership change too large for one translation, a rename of a
//!   large group, a deleted large group) are brought in line the same way.
//!
//! The work is spread over calls with `continue-with` (a JSON cursor: the hash being applied, the last
//! group checked, the group in progress and the member key to go on after, and running totals), each
//! call within the host's limits (at most ~950 operations, 250 members, 500 groups checked).
//!
//! The job walks the plugin's own record of memberships (`m:` keys, as translated in change-log order)
//! rather than the directory: the directory is *now*, possibly ahead of the changes still waiting to be
//! translated, and enrolling from it could enroll a user before the `upsert-user` that creates them.

use scimgw_plugin_sdk::{Job, JobResult, JobRun, PluginError};
use serde::{Deserialize, Serialize};

use crate::apply::{Progress, Work};
use crate::config::Config;
use crate::state::{self, Env, GroupRec, MAPPINGS, group_key, queue_key};

pub const JOB: &str = "apply-mappings";
pub const CRON: &str = "*/5 * * * *";
/// Members one call brings in line.
pub const JOB_USERS: usize = 250;
/// Group records one call looks at.
const GROUPS_PER_CALL: usize = 500;

/// The job this plugin declares, whatever the configuration.
pub fn jobs() -> Vec<Job> {
    vec![Job { name: JOB.to_owned(), cron: CRON.to_owned(), exclusive: false, lock_message: None }]
}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq, Eq)]
struct Cursor {
    /// The mappings hash this run applies (a full pass); none: only the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<String>,
    /// Full pass: the last group id looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// The full pass is over (then: the queue).
    #[serde(default)]
    queue: bool,
    /// The group being brought in line, and the member key to go on after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cur: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    #[serde(default)]
    groups: usize,
    #[serde(default)]
    members: usize,
    #[serde(default)]
    ops: usize,
}

/// One call of a run of the job.
pub fn run<E: Env>(env: &mut E, config: &Config, run: &JobRun) -> Result<JobResult, PluginError> {
    if run.job != JOB {
        return Err(PluginError::Unsupported(format!("this plugin has no job `{}`", run.job)));
    }
    let mut c: Cursor = match &run.cursor {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| PluginError::InvalidInput(format!("cannot read the job's cursor: {e}")))?,
        None => {
            let h = config.mappings_hash();
            let full = env.get(MAPPINGS).as_deref() != Some(h.as_str());
            if !full && env.keys("q:", None, 1).is_empty() {
                return Ok(JobResult {
                    operations: Vec::new(),
                    continue_with: None,
                    summary: Some(format!("courseMappings {h} applied; no group waiting: nothing to do")),
                });
            }
            Cursor { h: full.then_some(h), queue: !full, ..Cursor::default() }
        }
    };
    let mut w = Work::new(env, config, JOB_USERS);
    let mut looked = 0usize;
    let finished = loop {
        if let Some(g) = c.cur.take() {
            match w.normalize_group(&g, c.m.as_deref())? {
                Progress::Done => {
                    c.groups += 1;
                    c.m = None;
                }
                Progress::Stopped(m) => {
                    c.cur = Some(g);
                    c.m = m;
                    break false;
                }
            }
            continue;
        }
        if looked >= GROUPS_PER_CALL || !w.fits(0) {
            break false;
        }
        if !c.queue {
            let after = c.after.as_deref().map(group_key);
            let Some(key) = w.env.keys("g:", after.as_deref(), 1).into_iter().next() else {
                c.queue = true;
                continue;
            };
            looked += 1;
            let id = key["g:".len()..].to_owned();
            c.after = Some(id.clone());
            let Some(rec) = state::load::<GroupRec>(&*w.env, &key)? else { continue };
            if w.desired(&id, &rec) != rec.items || w.env.get(&queue_key(&id)).is_some() {
                c.cur = Some(id);
            }
        } else {
            let Some(key) = w.env.keys("q:", None, 1).into_iter().next() else { break true };
            looked += 1;
            c.cur = Some(key["q:".len()..].to_owned());
        }
    };
    c.members += w.normalized;
    c.ops += w.ops.len();
    let ops = std::mem::take(&mut w.ops);
    if !finished {
        return Ok(JobResult { operations: ops, continue_with: Some(state::to_json(&c)?), summary: None });
    }
    let summary = match &c.h {
        Some(h) => {
            w.env.set(MAPPINGS, h.clone())?;
            format!(
                "applied courseMappings {h}: {} group(s) brought in line, {} member(s), {} operation(s)",
                c.groups, c.members, c.ops
            )
        }
        None => {
            format!("{} waiting group(s) brought in line: {} member(s), {} operation(s)", c.groups, c.members, c.ops)
        }
    };
    Ok(JobResult { operations: ops, continue_with: None, summary: Some(summary) })
}
