//! Test plugin (well-behaved, but not a product): shows the host's state services to the tests.
//!
//! `translate` of a user upsert increments a kv counter (`seen`), reads the user and their groups back
//! through `directory`, looks up the remote id an earlier delivery reported, and emits one custom
//! operation carrying all of it. Other changes emit nothing. `deliver` POSTs the payload to
//! `config.url` and reports the remote id `r-<user id>` for the user, plus a kv write `delivered:<id>`.
//! With config `{"fail_translate_after": N}` translate fails once the counter passes N (after it has
//! written kv), so a test can check that a failed call's kv writes are discarded.
//!
//! Scheduled jobs and admin resources, for the scheduler's tests: config `"jobs": [{"name", "cron",
//! "exclusive", "lock_message"}]` declares them. A run records `run:<scheduled-at>:<job>` in kv and emits
//! a `probe.job` operation per call; with `"job_url"` each call POSTs `{job, scheduled_at, cursor,
//! attempt}` there first and takes `continue_with` and `notify` (`{subject, text, to}`) from the JSON
//! answer (so a test can hold a run open); else `"steps": N` makes each run N calls. Admin resources:
//! `GET runs`, `GET|PUT|DELETE profiles/<id>` (kept in kv), `POST notify`.

use scimgw_plugin_sdk::prelude::*;
use scimgw_plugin_sdk::{directory, kv, notify};
use serde_json::{Value, json};

struct Probe;

fn config(ctx: &Context) -> Value {
    serde_json::from_str(&ctx.config_json).unwrap_or(Value::Null)
}

fn json_or_null(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn respond(status: u16, body: Value) -> AdminResponse {
    AdminResponse { status, body_json: body.to_string() }
}

impl Plugin for Probe {
    fn jobs(config_json: String) -> Result<Vec<Job>, PluginError> {
        let config = json_or_null(&config_json);
        let Some(list) = config.get("jobs").and_then(Value::as_array) else { return Ok(Vec::new()) };
        Ok(list
            .iter()
            .map(|j| Job {
                name: j.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                cron: j.get("cron").and_then(Value::as_str).unwrap_or_default().to_owned(),
                exclusive: j.get("exclusive").and_then(Value::as_bool).unwrap_or(false),
                lock_message: j.get("lock_message").and_then(Value::as_str).map(str::to_owned),
            })
            .collect())
    }

    fn on_schedule(ctx: Context, run: JobRun) -> Result<JobResult, PluginError> {
        let config = config(&ctx);
        let call: u64 = run.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0) + 1;
        let mut continue_with = None;
        if let Some(url) = config.get("job_url").and_then(Value::as_str) {
            let body = json!({"job": run.job, "scheduled_at": run.scheduled_at_unix_ms, "cursor": run.cursor,
                "attempt": ctx.attempt, "now": ctx.now_unix_ms});
            let r = Request::post(url).json(&body)?.send().map_err(|e| PluginError::Internal(format!("{e:?}")))?;
            if r.status >= 300 {
                return Err(PluginError::Internal(format!("job endpoint answered {}", r.status)));
            }
            let answer: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            continue_with = answer.get("continue_with").and_then(Value::as_str).map(str::to_owned);
            if let Some(n) = answer.get("notify") {
                let subject = n.get("subject").and_then(Value::as_str).unwrap_or("probe");
                let text = n.get("text").and_then(Value::as_str).unwrap_or("");
                let sent = match n.get("to").and_then(Value::as_str) {
                    Some(to) => notify::send_to(to, "probe", subject, text),
                    None => notify::send("probe", subject, text),
                };
                sent.map_err(PluginError::Internal)?;
            }
        } else if call < config.get("steps").and_then(Value::as_u64).unwrap_or(1) {
            continue_with = Some(call.to_string());
        }
        kv::set(&format!("run:{}:{}", run.scheduled_at_unix_ms, run.job), &call.to_string())
            .map_err(PluginError::Internal)?;
        let payload = json!({"job": run.job, "scheduled_at": run.scheduled_at_unix_ms, "call": call});
        Ok(JobResult {
            operations: vec![Operation::Custom(CustomOp {
                kind: "probe.job".into(),
                ordering: Ordering::Key("job".into()),
                payload_json: payload.to_string(),
            })],
            continue_with,
            summary: Some(format!("{} call(s)", call)),
        })
    }

    fn admin(_ctx: Context, req: AdminRequest) -> Result<AdminResponse, PluginError> {
        let parts: Vec<&str> = req.path.split('/').filter(|p| !p.is_empty()).collect();
        Ok(match (req.method, parts.as_slice()) {
            (AdminMethod::Get, ["runs"]) => {
                let mut runs = Vec::new();
                loop {
                    let page = kv::keys("run:", runs.last().map(String::as_str), 1000);
                    let full = page.len() == 1000;
                    runs.extend(page);
                    if !full {
                        break;
                    }
                }
                respond(200, json!({"runs": runs}))
            }
            (AdminMethod::Get, ["profiles", id]) => match kv::get(&format!("profile:{id}")) {
                Some(p) => respond(200, json_or_null(&p)),
                None => admin_error(404, &format!("no profile {id}")),
            },
            (AdminMethod::Put, ["profiles", id]) => {
                let body = req.body_json.unwrap_or_default();
                if json_or_null(&body).get("title").and_then(Value::as_str).is_none() {
                    return Ok(admin_error(400, "a profile needs a title"));
                }
                kv::set(&format!("profile:{id}"), &body).map_err(PluginError::Internal)?;
                respond(200, json_or_null(&body))
            }
            (AdminMethod::Delete, ["profiles", id]) => {
                kv::delete(&format!("profile:{id}"));
                respond(200, json!({"deleted": id}))
            }
            (AdminMethod::Post, ["notify"]) => {
                let n = json_or_null(&req.body_json.unwrap_or_default());
                let subject = n.get("subject").and_then(Value::as_str).unwrap_or("probe");
                let text = n.get("text").and_then(Value::as_str).unwrap_or("");
                let sent = match n.get("to").and_then(Value::as_str) {
                    Some(to) => notify::send_to(to, "probe", subject, text),
                    None => notify::send("probe", subject, text),
                };
                match sent {
                    Ok(()) => respond(200, json!({"sent": true})),
                    Err(e) => admin_error(400, &e),
                }
            }
            _ => admin_error(404, &format!("no resource {}", req.path)),
        })
    }

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
            ordering: Ordering::User(user.id.clone()),
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
