//! Helpers over the stored document (shared with PATCH): case-insensitive lookup, what counts as
//! unassigned, pruning empty values, canonical key order and `schemas`, and path text as written.

use crate::scim::filter::AttrPath;
use crate::scim::schema::{AttributeDef, ResourceSchema};
use serde_json::{Map, Value};

/// Null, empty array or empty object: "unassigned" (RFC 7643 §2.5).
pub(crate) fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub(crate) fn is_group_members(schema: &ResourceSchema, attr: &AttributeDef) -> bool {
    schema.name.eq_ignore_ascii_case("Group") && attr.name.eq_ignore_ascii_case("members")
}

/// Case-insensitive key lookup (exact match first).
pub(crate) fn get_ci<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Recursively drops nulls, empty arrays and empty objects (never the root). Returns whether `v` is absent.
pub(crate) fn prune(v: &mut Value) -> bool {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !prune(x));
            m.is_empty()
        }
        Value::Array(a) => {
            a.retain_mut(|x| !prune(x));
            a.is_empty()
        }
        Value::Null => true,
        _ => false,
    }
}

/// Rewrites `schemas` (core URN plus the extensions that have data, canonical spelling) and puts keys
/// in canonical order: schemas, id, externalId, meta, core attributes (schema order), extensions
/// (schema order), then anything else (e.g. rendered `members`/`groups` of unknown schemas).
pub(crate) fn finish_doc(doc: &mut Value, schema: &ResourceSchema) {
    let Value::Object(m) = doc else { return };
    let mut old = std::mem::take(m);
    // canonicalise extension keys' spelling
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    let mut out = Map::new();
    out.insert("schemas".to_owned(), Value::Null);
    let take = |name: &str, old: &mut Map<String, Value>, out: &mut Map<String, Value>| {
        let key = old.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
        if let Some(k) = key
            && let Some(v) = old.remove(&k)
        {
            out.insert(name.to_owned(), v);
        }
    };
    for name in ["id", "externalId", "meta"] {
        take(name, &mut old, &mut out);
    }
    for a in &schema.core.attributes {
        take(&a.name, &mut old, &mut out);
    }
    for (ext, _) in &schema.extensions {
        take(&ext.id, &mut old, &mut out);
        if out.get(&ext.id).is_some_and(|v| !is_absent(v)) {
            schemas.push(Value::String(ext.id.clone()));
        } else {
            out.remove(&ext.id);
        }
    }
    old.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
    out.extend(old);
    out.insert("schemas".to_owned(), Value::Array(schemas));
    *m = out;
}

/// `urn:…:name.sub` as written (so any split of the URN the parser chose round-trips).
pub(crate) fn attr_path_string(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &p.urn {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&p.name);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}
