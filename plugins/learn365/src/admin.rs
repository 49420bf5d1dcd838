//! Admin resources (`gateway target resource --tenant T <target> GET <path>`), read-only views of the
//! plugin's state for provenance questions the simulator or Learn365 cannot answer (they only see one
//! enrollment per user and item, not why the plugin holds it):
//!
//! - `GET enrollments?user=<scim id>` (or `enrollments/<scim id>`; the CLI's
//!   `gateway target resource … GET 'enrollments?user=u-1'` works too): the user's items, each with its sources (`group:<id>`) and the
//!   Learn365 enrollment delivery recorded: its Id and whether the plugin created it (`ours`: cancelled
//!   when the last source goes) or found it (`theirs`: never cancelled);
//! - `GET groups` / `GET groups/<scim id>`: the groups the plugin knows, what they match in
//!   `courseMappings` and by what, the items their members were brought in line with and the items the
//!   configuration gives them now (`inLine` false: the job has not applied a change yet), queue state,
//!   and (single group) the number of recorded members;
//! - `GET status`: the mappings hash configured and the one applied, the job, the queued groups.
//!
//! Anything else: 404; a method other than GET: 405.

use std::collections::BTreeSet;

use scimgw_plugin_sdk::{AdminMethod, AdminRequest, AdminResponse, PluginError, admin_error};
use serde_json::{Value, json};

use crate::config::{Config, Items};
use crate::job::{CRON, JOB};
use crate::state::{
    self, DeliverRec, Env, GroupRec, MAPPINGS, St, UserRec, deliver_key, group_key, member_prefix, queue_key, user_key,
};

const LIST_LIMIT: u32 = 1_000;

fn respond(status: u16, body: Value) -> AdminResponse {
    AdminResponse { status, body_json: body.to_string() }
}

fn items_json(items: &Items) -> Value {
    Value::Array(items.iter().map(|(id, k)| json!({"item": id, "kind": k.name()})).collect())
}

/// A query string's value (`a=1&b=2`), percent-decoded.
fn query_value(text: &str, name: &str) -> Option<String> {
    text.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| decode(v))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|c| (*c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every admin resource: `assigner/…` ([`crate::assigner_io::admin`]), else the read-only views below.
pub fn route<E: Env>(env: &mut E, config: &Config, req: &AdminRequest, now: u64) -> Result<AdminResponse, PluginError> {
    let path = req.path.split_once('?').map_or(req.path.as_str(), |(p, _)| p);
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.first() == Some(&"assigner") {
        return crate::assigner_io::admin::handle(env, config.assigner.as_ref(), req, &parts[1..], now);
    }
    handle(&*env, config, req)
}

pub fn handle<E: Env>(env: &E, config: &Config, req: &AdminRequest) -> Result<AdminResponse, PluginError> {
    // `gateway target resource` passes a query inside the path.
    let (path, inline) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let known =
        matches!(parts.as_slice(), ["enrollments"] | ["enrollments", _] | ["groups"] | ["groups", _] | ["status"]);
    if !known {
        return Ok(admin_error(
            404,
            &format!(
                "no resource `{path}` (enrollments?user=<id> or enrollments/<id>, groups, groups/<id>, status; assigner/…)"
            ),
        ));
    }
    if req.method != AdminMethod::Get {
        return Ok(admin_error(405, "these resources are read-only (GET)"));
    }
    let query = |name: &str| {
        req.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| query_value(inline, name))
    };
    Ok(match parts.as_slice() {
        ["enrollments", user] => enrollments(env, user)?,
        ["enrollments"] => match query("user").filter(|u| !u.is_empty()) {
            None => admin_error(400, "name the user: enrollments?user=<SCIM user id> (or enrollments/<id>)"),
            Some(user) => enrollments(env, &user)?,
        },
        ["groups"] => {
            let mut list = Vec::new();
            for key in env.keys("g:", None, LIST_LIMIT) {
                let id = &key["g:".len()..];
                if let Some(rec) = state::load::<GroupRec>(env, &key)? {
                    list.push(group_json(env, config, id, &rec));
                }
            }
            respond(200, json!({"groups": list}))
        }
        ["groups", id] => match state::load::<GroupRec>(env, &group_key(id))? {
            None => admin_error(404, &format!("the plugin knows no group {id}")),
            Some(rec) => {
                let mut v = group_json(env, config, id, &rec);
                v["members"] = json!(state::all_keys(env, &member_prefix(id)).len());
                respond(200, v)
            }
        },
        _ => {
            let queued: Vec<Value> = env
                .keys("q:", None, 100)
                .into_iter()
                .map(|k| {
                    let g = k["q:".len()..].to_owned();
                    let deleted = env.get(&k).as_deref() == Some(state::DELETED);
                    json!({"group": g, "deleted": deleted})
                })
                .collect();
            let configured = config.mappings_hash();
            let applied = env.get(MAPPINGS);
            respond(
                200,
                json!({
                    "mappingsHash": configured,
                    "appliedHash": applied,
                    "inLine": applied.as_deref() == Some(configured.as_str()) && queued.is_empty(),
                    "queuedGroups": queued,
                    "job": {"name": JOB, "cron": CRON},
                }),
            )
        }
    })
}

fn group_json<E: Env>(env: &E, config: &Config, id: &str, rec: &GroupRec) -> Value {
    let matched: Vec<Value> = config
        .matches(id, rec.ext.as_deref(), &rec.name)
        .into_iter()
        .map(|(m, by)| json!({"entry": m.group, "by": by.name()}))
        .collect();
    let desired = config.desired(id, rec.ext.as_deref(), &rec.name);
    json!({
        "group": id,
        "displayName": rec.name,
        "externalId": rec.ext,
        "matches": matched,
        "applied": items_json(&rec.items),
        "desired": items_json(&desired),
        "inLine": desired == rec.items && env.get(&queue_key(id)).is_none(),
        "queued": env.get(&queue_key(id)).is_some(),
    })
}

fn enrollments<E: Env>(env: &E, user: &str) -> Result<AdminResponse, PluginError> {
    let rec: Option<UserRec> = state::load(env, &user_key(user))?;
    let del: Option<DeliverRec> = state::load(env, &deliver_key(user))?;
    if rec.is_none() && del.is_none() {
        return Ok(admin_error(404, &format!("the plugin knows no user {user}")));
    }
    let del = del.unwrap_or_default();
    let mut ids: BTreeSet<String> = del.enr.keys().cloned().collect();
    if let Some(r) = &rec {
        ids.extend(r.e.keys().cloned());
    }
    let items: Vec<Value> = ids
        .into_iter()
        .map(|item| {
            let held = rec.as_ref().and_then(|r| r.e.get(&item));
            let sources: Vec<String> = held.map(|h| h.sources()).unwrap_or_default();
            let enrollment = del.enr.get(&item).map(|e| {
                let state = match e.st {
                    St::Ours => "ours",
                    St::Theirs => "theirs",
                    St::Send => "enrolling",
                };
                json!({"id": e.id, "state": state, "ours": e.st == St::Ours, "trainingPlanMade": e.tp})
            });
            json!({
                "item": item,
                "kind": held.map(|h| h.k.name()),
                "sources": sources,
                "entitled": held.is_some(),
                "enrollment": enrollment,
            })
        })
        .collect();
    Ok(respond(
        200,
        json!({
            "user": user,
            "login": rec.as_ref().map(|r| r.id.login.clone()).or(del.login.clone()),
            "learn365Login": del.login,
            "learn365Id": del.rid,
            "active": rec.as_ref().map(|r| r.active),
            "groups": rec.as_ref().map(|r| r.g.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
            "items": items,
        }),
    ))
}
