//! A minimal target plugin to copy: user upserts and deletes become `upsert-user` and `delete-user`
//! operations, and each operation is delivered as one JSON POST to the configured `base_url`.
//!
//! Configuration: `{"base_url": "https://api.example.com/scim-hook", "credential": "api-token"}`
//! (`credential` is optional: the name of a target credential sent as a bearer token).
//!
//! See `plugins/README.md` ("Start from the template") for what to change.

use scimgw_plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// This plugin's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Where operations are POSTed.
    base_url: String,
    /// The name of a target credential to send as `Authorization: Bearer ...`.
    #[serde(default)]
    credential: Option<String>,
}

/// What the LMS receives, e.g. `{"action":"upsert-user","user":{...}}`.
#[derive(Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
enum Body<'a> {
    UpsertUser { user: UserBody<'a> },
    DeleteUser { id: &'a str },
}

#[derive(Serialize)]
struct UserBody<'a> {
    id: &'a str,
    login: &'a str,
    email: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    active: bool,
}

struct Template;

impl Plugin for Template {
    /// Pure: the change in, operations out. No clock but `ctx.now_unix_ms`, no network.
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        // Read the configuration here too, so a broken one stops the target at once.
        let _config: Config = ctx.config()?;
        Ok(match change.event {
            Event::UserUpserted(user) => vec![Operation::UpsertUser(UserOp::from_user(&user))],
            Event::UserDeleted(id) => vec![Operation::DeleteUser(id)],
            // Groups, memberships, deactivations and resync markers: nothing to do in this template.
            _ => Vec::new(),
        })
    }

    /// Sends one operation. `op_id` is stable across retries: pass it on as an idempotency key.
    fn deliver(ctx: Context, op_id: String, op: Operation) -> Result<Outcome, PluginError> {
        let config: Config = ctx.config()?;
        let body = match &op {
            Operation::UpsertUser(user) => Body::UpsertUser {
                user: UserBody {
                    id: &user.user_id,
                    login: &user.login,
                    email: user.email.as_deref(),
                    first_name: user.first_name.as_deref(),
                    last_name: user.last_name.as_deref(),
                    active: user.active,
                },
            },
            Operation::DeleteUser(id) => Body::DeleteUser { id },
            other => return Err(PluginError::Unsupported(format!("no delivery for `{}`", other.name()))),
        };
        let mut request = Request::post(&config.base_url).idempotency_key(&op_id).json(&body)?;
        if let Some(credential) = &config.credential {
            request = request.bearer(credential);
        }
        // 2xx done, 408/425/429/5xx retry (honouring Retry-After), 409 conflict, other 4xx failed.
        Ok(request.send_for_outcome())
    }
}

scimgw_plugin_sdk::export!(Template);
