//! Test plugin (well-behaved, but not a product): shows the host's state services to the tests.
//!
//! `translate` of a user upsert increments a kv counter (`seen`), reads the user and their groups back
//! through `directory`, looks up the remote id an earlier delivery reported, and emits one custom
//! operation carrying all of it. Other changes emit nothing. `deliver` POSTs the payload to
//! `config.url` and reports the remote id `r-<user id>` for the user, plus a kv write `delivered:<id>`.
//! With config `{"fail_translate_after": N}` translate fails once the counter passes N (after it has
//! written kv), so a test can check that a failed call's kv writes are discarded.

use scimgw_plugin_sdk::prelude::*;
use scimgw_plugin_sdk::{directory, kv};
use serde_json::{Value, json};

struct Probe;

fn config(ctx: &Context) -> Value {
    serde_json::from_str(&ctx.config_json).unwrap_or(Value::Null)
}

impl Guest for Probe {
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let Event::UserUpserted(user) = change.event else { return Ok(Vec::new()) };
        let seen = kv::get("seen").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
        kv::set("seen", &seen.to_string()).map_err(PluginError::Internal)?;
        if let Some(limit) = config(&ctx).get("fail_translate_after").and_then(Value::as_u64) {
            if seen > limit {
                return Err(PluginError::InvalidInput(format!("probe refuses change {} (seen {seen})", change.seq)));
            }
        }
        let stored = directory::get_user(&user.id).map(|u| u.user_name);
        let groups: Vec<String> = directory::groups_of(&user.id).into_iter().map(|g| g.display_name).collect();
        let remote = directory::remote_id("user", &user.id);
        let delivered = kv::get(&format!("delivered:{}", user.id));
        let payload = json!({
            "user": user.id, "seen": seen, "stored_user_name": stored, "groups": groups,
            "remote_id": remote, "delivered_flag": delivered,
        });
        Ok(vec![Operation::Custom(CustomOp {
            kind: "probe".into(),
            resource: format!("user:{}", user.id),
            payload_json: payload.to_string(),
        })])
    }

    fn deliver(ctx: Context, op_id: String, op: Operation) -> Result<Outcome, PluginError> {
        let Operation::Custom(c) = op else { return Err(PluginError::Unsupported("probe delivers custom ops".into())) };
        let url = config(&ctx).get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
        let payload: Value = serde_json::from_str(&c.payload_json).unwrap_or(Value::Null);
        let user = payload.get("user").and_then(Value::as_str).unwrap_or_default().to_owned();
        let response = Request::post(url).idempotency_key(&op_id).json_text(c.payload_json.clone()).send();
        match response {
            Ok(r) if (200..300).contains(&r.status) => {
                kv::set(&format!("delivered:{user}"), "yes").map_err(PluginError::Internal)?;
                Ok(Outcome::Done(vec![RemoteId {
                    kind: "user".into(),
                    local_id: user.clone(),
                    remote_id: format!("r-{user}"),
                }]))
            }
            Ok(r) => Ok(Outcome::Retry(Retry { after_secs: None, reason: format!("HTTP {}", r.status) })),
            Err(e) => Ok(Outcome::Retry(Retry { after_secs: None, reason: format!("{e:?}") })),
        }
    }
}

scimgw_plugin_sdk::export!(Probe);
