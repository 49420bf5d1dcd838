//! What a webhook target delivered, checked against the change log: headers, one op id per event and one
//! body per op id, every event and nothing else, exactly once or with duplicates counted, in order per
//! resource; and the HMAC signature computed independently of the gateway.

use crate::common::proc::Hit;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`, computed here independently of the gateway.
pub(super) fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length works");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// (seq, kind, resource id) of a change-log row (`gateway changes`).
fn event_key(e: &Value) -> (i64, String, String) {
    (
        e["seq"].as_i64().unwrap_or(-1),
        e["kind"].as_str().unwrap_or("").to_owned(),
        e["resource_id"].as_str().unwrap_or("").to_owned(),
    )
}

/// (seq, type, resource id) of a delivered webhook body.
pub(super) fn hit_key(h: &Hit) -> (i64, String, String) {
    (h.seq(), h.kind().to_owned(), h.resource_id().to_owned())
}

/// Distinct op ids answered with 2xx.
pub(super) fn delivered_ops(hits: &[Hit]) -> BTreeSet<String> {
    hits.iter().filter(|h| h.delivered()).map(|h| h.op().to_owned()).collect()
}

/// Checks what a webhook target delivered (the sink's 2xx answers, in arrival order) against the change
/// log events it should carry: headers, one op id per event and one body per op id, every event there and
/// nothing else (resync events aside), exactly once when `exactly_once`, and per resource in log order
/// (the seq of a resource never goes back in arrival order; distinct op ids strictly increase). Returns
/// the number of duplicate deliveries (same op id again).
pub(super) fn verify_stream(
    hits: &[Hit],
    tenant: &str,
    target: &str,
    events: &[Value],
    exactly_once: bool,
) -> Result<usize, String> {
    let delivered: Vec<&Hit> = hits.iter().filter(|h| h.delivered()).collect();
    let mut errors = Vec::new();
    let mut by_op: BTreeMap<&str, Vec<&Hit>> = BTreeMap::new();
    for h in &delivered {
        if h.op_id.as_deref().is_none_or(str::is_empty) {
            errors.push(format!("no X-Scimgw-Op-Id: {}", h.line()));
            continue;
        }
        if h.idempotency_key != h.op_id {
            errors.push(format!("Idempotency-Key {:?} differs from the op id: {}", h.idempotency_key, h.line()));
        }
        if h.body["tenant"] != tenant || h.body["target"] != target {
            errors.push(format!("body names tenant {} target {}: {}", h.body["tenant"], h.body["target"], h.line()));
        }
        if !h.content_type.as_deref().unwrap_or("").starts_with("application/json") {
            errors.push(format!("content type {:?}: {}", h.content_type, h.line()));
        }
        by_op.entry(h.op()).or_default().push(h);
    }
    let mut dups = 0;
    let mut by_event: BTreeMap<(i64, String, String), BTreeSet<&str>> = BTreeMap::new();
    for (op, hs) in &by_op {
        if hs.len() > 1 {
            dups += hs.len() - 1;
            if exactly_once {
                errors.push(format!("op {op} delivered {} times (expected once)", hs.len()));
            }
            if hs.iter().any(|h| h.raw != hs[0].raw) {
                errors.push(format!("op {op} was delivered with different bodies"));
            }
        }
        by_event.entry(hit_key(hs[0])).or_default().insert(op);
    }
    for (k, ops) in &by_event {
        if ops.len() > 1 {
            errors.push(format!("event {k:?} was delivered under {} different op ids: {ops:?}", ops.len()));
        }
    }
    let expected: BTreeSet<(i64, String, String)> = events.iter().map(event_key).collect();
    let got: BTreeSet<(i64, String, String)> = by_event.keys().filter(|k| k.0 > 0).cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&expected).collect();
    if !missing.is_empty() {
        errors.push(format!(
            "{} event(s) never delivered, e.g. {:?}",
            missing.len(),
            missing.iter().take(10).collect::<Vec<_>>()
        ));
    }
    if !unexpected.is_empty() {
        errors.push(format!(
            "{} unexpected event(s), e.g. {:?}",
            unexpected.len(),
            &unexpected[..unexpected.len().min(10)]
        ));
    }
    let mut last: HashMap<&str, (i64, &str)> = HashMap::new();
    for h in delivered.iter().filter(|h| h.body["resync"] == false) {
        if let Some((seq, op)) = last.get(h.resource_id())
            && h.seq() < *seq
        {
            errors.push(format!(
                "out of order for {}: seq {} ({}) arrived after seq {seq} ({op})",
                h.resource_id(),
                h.seq(),
                h.op()
            ));
        }
        last.insert(h.resource_id(), (h.seq(), h.op()));
    }
    if errors.is_empty() {
        Ok(dups)
    } else {
        let listing: String = delivered.iter().take(60).map(|h| format!("  {}\n", h.line())).collect();
        Err(format!(
            "{}\n{} delivered request(s), {} expected event(s); first ones:\n{listing}",
            errors.join("\n"),
            delivered.len(),
            events.len()
        ))
    }
}
