//! The Learn365 (LMS365) target plugin: Entra users as Learn365 users, and course and training-plan
//! enrollments that follow Entra group membership through `courseMappings`, with the source of every
//! enrollment tracked so that removal cancels only what the plugin created. Delivered over Learn365's
//! OData API v2 as `docs/spec/learn365.md` §2 specifies it (the simulator `sims/learn365` serves the same).
//!
//! The rules are L1–L4 and P1–P9 of `docs/spec/learn365.md` §4 ([`translate`], with the bookkeeping in [`apply`]);
//! `courseMappings` changes reach existing members through the `apply-mappings` job ([`job`]); delivery
//! and the "whose enrollment is it" rules are [`deliver`]; the configuration is [`config::Config`]; the
//! kv layout is [`state`]; provenance is shown by the admin resources ([`admin`]). An admin's view is in
//! `plugins/learn365/README.md`.
//!
//! [`assigner`] is the Learn365 Assigner's engine (rule-based profiles, members, throttling, the
//! maintenance plan), pure and tested on its own; [`assigner_io`] is its I/O side (the data refresh and
//! maintenance jobs, Graph, the profile-sourced enrollments, the `assigner/…` admin resources), on
//! when the configuration has `"assigner"`.

pub mod admin;
pub mod apply;
pub mod assigner;
pub mod assigner_io;
pub mod config;
pub mod deliver;
pub mod job;
pub mod state;
pub mod translate;
pub mod xlsx;

#[cfg(test)]
mod tests;

use scimgw_plugin_sdk::http::{self, HttpError, Request, Response};
use scimgw_plugin_sdk::log::Level;
use scimgw_plugin_sdk::prelude::*;
use scimgw_plugin_sdk::{directory, kv, notify};

use crate::config::Config;

/// [`state::Env`] and [`deliver::Wire`] over the host's kv, directory, log and http.
struct Host;

impl state::Env for Host {
    fn get(&self, key: &str) -> Option<String> {
        kv::get(key)
    }
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError> {
        kv::set(key, &value).map_err(|e| PluginError::Internal(format!("kv: {e}")))
    }
    fn delete(&mut self, key: &str) {
        kv::delete(key)
    }
    fn keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Vec<String> {
        kv::keys(prefix, after, limit)
    }
    fn user(&self, id: &str) -> Option<User> {
        directory::get_user(id)
    }
    fn group(&self, id: &str) -> Option<Group> {
        directory::get_group(id)
    }
    fn log(&mut self, level: Level, message: &str) {
        log::log(level, message)
    }
    fn list_users(&self, cursor: Option<&str>, limit: u32) -> (Vec<User>, Option<String>) {
        let page = directory::list_users(cursor, limit);
        (page.users, page.next)
    }
    fn notify(&mut self, recipient: Option<&str>, kind: &str, subject: &str, text: &str) -> Result<(), PluginError> {
        let sent = match recipient {
            Some(to) => notify::send_to(to, kind, subject, text),
            None => notify::send(kind, subject, text),
        };
        sent.map_err(|e| PluginError::Internal(format!("notify: {e}")))
    }
}

impl deliver::Wire for Host {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        http::send(&req)
    }
}

struct Learn365;

impl Plugin for Learn365 {
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        translate::translate(&mut Host, &config, &change)
    }

    fn deliver(ctx: Context, _op_id: String, op: Operation) -> Result<Outcome, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        deliver::deliver(&mut Host, &mut Host, &config, ctx.attempt, &op)
    }

    fn jobs(config_json: String) -> Result<Vec<Job>, PluginError> {
        let config = Config::parse(&config_json)?;
        let mut jobs = job::jobs();
        jobs.extend(assigner_io::jobs(&config));
        Ok(jobs)
    }

    fn on_schedule(ctx: Context, run: JobRun) -> Result<JobResult, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        if assigner_io::is_job(&run.job) {
            return assigner_io::run(&mut Host, &mut Host, &config, &run, ctx.now_unix_ms);
        }
        job::run(&mut Host, &config, &run)
    }

    fn admin(ctx: Context, req: AdminRequest) -> Result<AdminResponse, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        admin::route(&mut Host, &config, &req, ctx.now_unix_ms)
    }
}

scimgw_plugin_sdk::export!(Learn365);
