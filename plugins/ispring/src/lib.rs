//! The iSpring Learn target plugin: Entra users and groups as iSpring users and departments (one
//! department per Entra group, a user in the department of the group synced last, root without a
//! group), optionally mirrored as iSpring groups; delivered over iSpring's REST API v3.
//!
//! The rules are I1–I12 of `docs/spec/ispring.md` §4 ([`translate`]); delivery is [`deliver`];
//! the configuration is [`config::Config`]. An admin's view is in the repository README ("iSpring
//! Learn").

pub mod config;
pub mod deliver;
pub mod translate;

#[cfg(test)]
mod tests;

use scimgw_plugin_sdk::prelude::*;
use scimgw_plugin_sdk::{directory, kv};

use crate::config::Config;

/// [`translate::Env`] over the host's kv and directory.
struct Host;

impl translate::Env for Host {
    fn get(&self, key: &str) -> Option<String> {
        kv::get(key)
    }
    fn set(&mut self, key: &str, value: String) -> Result<(), PluginError> {
        kv::set(key, &value).map_err(|e| PluginError::Internal(format!("kv: {e}")))
    }
    fn delete(&mut self, key: &str) {
        kv::delete(key)
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = kv::keys(prefix, all.last().map(String::as_str), KEYS_PAGE);
            let full = page.len() == KEYS_PAGE as usize;
            all.extend(page);
            if !full {
                return all;
            }
        }
    }
    fn user(&self, id: &str) -> Option<User> {
        directory::get_user(id)
    }
    fn group(&self, id: &str) -> Option<Group> {
        directory::get_group(id)
    }
    fn groups_of(&self, user: &str) -> Vec<String> {
        directory::groups_of(user).into_iter().map(|g| g.id).collect()
    }
}

/// Keys per `kv.keys` call.
const KEYS_PAGE: u32 = 10_000;

struct ISpring;

impl Plugin for ISpring {
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        translate::translate(&mut Host, &config, &change)
    }

    fn deliver(ctx: Context, _op_id: String, op: Operation) -> Result<Outcome, PluginError> {
        let config = Config::parse(&ctx.config_json)?;
        deliver::deliver(&config, &op)
    }
}

scimgw_plugin_sdk::export!(ISpring);
