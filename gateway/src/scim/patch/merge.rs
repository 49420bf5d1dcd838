//! How add/replace combine a new value with the current one: object keys merged (new wins), a singular
//! complex value merged unless its `value` changes, multi-valued additions de-duplicated or merged into
//! the element with the same `value` (and `type`).

use crate::scim::resource::same_value;
use crate::scim::schema::AttributeDef;
use serde_json::Value;

/// Merges `new`'s keys into `base` (both complex values); `new` wins.
pub(super) fn merge_objects(base: Value, new: Value) -> Value {
    match (base, new) {
        (Value::Object(mut b), Value::Object(n)) => {
            for (k, v) in n {
                b.retain(|bk, _| !bk.eq_ignore_ascii_case(&k));
                b.insert(k, v);
            }
            Value::Object(b)
        }
        (_, n) => n,
    }
}

/// Add/replace on a singular complex value: sub-attributes merge (RFC 7644 §3.5.2.1/§3.5.2.3), except
/// that a new `value` replaces a reference-like value whole (manager: a stale `$ref` must not survive).
pub(super) fn merge_complex(attr: &AttributeDef, cur: Value, new: Value) -> Value {
    let new_id = new.get("value");
    let cur_id = cur.get("value");
    if attr.sub("value").is_some()
        && let Some(n) = new_id
        && !cur_id.is_some_and(|c| attr.sub("value").is_some_and(|d| same_value(d, c, n)))
    {
        return new;
    }
    merge_objects(cur, new)
}

/// Add to a multi-valued attribute: values already present are not duplicated; a complex value with
/// the same `value` (and `type`, when given) as an existing one is merged into it.
pub(super) fn merge_multi(attr: &AttributeDef, cur: Value, new: Value) -> Value {
    let mut elems = match cur {
        Value::Array(a) => a,
        other => vec![other],
    };
    let new = match new {
        Value::Array(a) => a,
        other => vec![other],
    };
    for n in new {
        if elems.iter().any(|e| same_value(attr, e, &n)) {
            continue;
        }
        if let Some(e) = elems.iter_mut().find(|e| same_identity(attr, e, &n)) {
            *e = merge_objects(e.clone(), n);
            continue;
        }
        elems.push(n);
    }
    Value::Array(elems)
}

/// Same `value` sub-attribute, and same `type` when `new` has one.
pub(super) fn same_identity(attr: &AttributeDef, existing: &Value, new: &Value) -> bool {
    if !attr.is_complex() {
        return false;
    }
    let (Some(ev), Some(nv)) = (existing.get("value"), new.get("value")) else {
        return false;
    };
    let value_def = attr.sub("value");
    let eq = |d: Option<&AttributeDef>, a: &Value, b: &Value| d.map_or(a == b, |d| same_value(d, a, b));
    if !eq(value_def, ev, nv) {
        return false;
    }
    match new.get("type") {
        None => true,
        Some(nt) => existing.get("type").is_some_and(|et| eq(attr.sub("type"), et, nt)),
    }
}
