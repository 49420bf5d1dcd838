//! Value coercion by attribute definition (shared with PATCH): scalars to their SCIM type (Entra's
//! string booleans included), complex values to canonical sub-attribute names and order, at most one
//! `primary` per multi-valued attribute; equality honouring `caseExact`; Group member references.

use super::doc::get_ci;
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::members::MemberRef;
use crate::scim::schema::{AttrType, AttributeDef, Mutability};
use serde_json::{Map, Value};

/// Coerces a whole attribute value by its definition. `Ok(None)` means "unassigned" (null / empty).
/// Multi-valued: an array, or a single value wrapped into one; at most one `primary: true`.
/// Singular complex: an object, a one-element array (unwrapped) or a bare string (→ `{"value": s}`).
pub(crate) fn coerce_attr(def: &AttributeDef, v: Value, path: &str) -> ScimResult<Option<Value>> {
    if def.multi_valued {
        let items = match v {
            Value::Null => return Ok(None),
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(c) = coerce_element(def, item, path)? {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if out.iter().filter(|e| is_primary(e)).count() > 1 {
            return Err(ScimError::invalid_value(format!("'{path}': at most one value may have primary set to true")));
        }
        return Ok(Some(Value::Array(out)));
    }
    let v = match v {
        Value::Array(mut a) if def.is_complex() && a.len() <= 1 => match a.pop() {
            Some(x) => x,
            None => return Ok(None),
        },
        Value::Array(_) => {
            return Err(ScimError::invalid_value(format!("'{path}' is single-valued; an array was given")));
        }
        other => other,
    };
    coerce_element(def, v, path)
}

/// Coerces one value of an attribute (an element when multi-valued). Complex values: keys canonicalised,
/// sub-attributes coerced, readOnly sub-attributes ignored, nulls dropped; unknown sub-attributes rejected.
pub(crate) fn coerce_element(def: &AttributeDef, v: Value, path: &str) -> ScimResult<Option<Value>> {
    if !def.is_complex() {
        return coerce_scalar(def, v, path);
    }
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        Value::String(s) if !def.multi_valued && def.sub("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".to_owned(), Value::String(s));
            m
        }
        _ => {
            return Err(ScimError::invalid_value(format!("'{path}' must be a complex value (a JSON object)")));
        }
    };
    let mut collected = Map::new();
    for (k, sv) in obj {
        if sv.is_null() {
            continue; // e.g. Entra's `"$ref": null`
        }
        let Some(sub) = def.sub(&k) else {
            return Err(ScimError::invalid_syntax(format!("unknown sub-attribute '{path}.{k}'")));
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(c) = coerce_attr(sub, sv, &format!("{path}.{}", sub.name))? {
            collected.insert(sub.name.clone(), c);
        }
    }
    // canonical (schema) order of sub-attributes
    let mut out = Map::new();
    for sub in def.subs() {
        if let Some(v) = collected.remove(&sub.name) {
            out.insert(sub.name.clone(), v);
        }
    }
    if out.is_empty() { Ok(None) } else { Ok(Some(Value::Object(out))) }
}

fn coerce_scalar(def: &AttributeDef, v: Value, path: &str) -> ScimResult<Option<Value>> {
    let bad = |what: &str| ScimError::invalid_value(format!("'{path}' must be {what}"));
    Ok(Some(match (def.kind, v) {
        (_, Value::Null) => return Ok(None),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => Value::String(s),
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => {
            return Err(bad("a string"));
        }
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(b),
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Value::Bool(true),
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Value::Bool(false),
        (AttrType::Boolean, _) => return Err(bad("a boolean")),
        (AttrType::Integer, v) => {
            let n = number_of(&v).ok_or_else(|| bad("an integer"))?;
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
                    _ => return Err(bad("an integer")),
                }
            }
        }
        (AttrType::Decimal, v) => Value::Number(number_of(&v).ok_or_else(|| bad("a number"))?),
        (AttrType::DateTime, Value::String(s)) => {
            use time::format_description::well_known::Rfc3339;
            if time::OffsetDateTime::parse(&s, &Rfc3339).is_err() {
                return Err(bad("an RFC 3339 dateTime (e.g. 2024-01-31T12:00:00Z)"));
            }
            Value::String(s)
        }
        (AttrType::DateTime, _) => return Err(bad("an RFC 3339 dateTime string")),
        (AttrType::Complex, _) => return Err(bad("a complex value")),
    }))
}

fn number_of(v: &Value) -> Option<serde_json::Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => serde_json::from_str::<serde_json::Number>(s.trim()).ok(),
        _ => None,
    }
}

pub(crate) fn is_primary(v: &Value) -> bool {
    v.get("primary").and_then(Value::as_bool) == Some(true)
}

/// Equality of two stored values of `def`, honouring `caseExact` for strings.
pub(crate) fn same_value(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if def.case_exact {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(def, p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| {
                    y.get(k).is_some_and(|yv| match def.sub(k) {
                        Some(sd) => same_value(sd, xv, yv),
                        None => xv == yv,
                    })
                })
        }
        _ => a == b,
    }
}

/// Parses Group `members` values: each an object with a string `value`; optional `display` and
/// `type` ("User"/"Group", case-insensitive); `$ref` is ignored.
pub(crate) fn parse_member_refs(v: &Value) -> ScimResult<Vec<MemberRef>> {
    let items: Vec<&Value> = match v {
        Value::Null => vec![],
        Value::Array(a) => a.iter().filter(|x| !x.is_null()).collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(o) = item else {
            return Err(ScimError::invalid_value("each member must be an object with a string 'value'"));
        };
        let Some(Value::String(id)) = get_ci(o, "value") else {
            return Err(ScimError::invalid_value("each member must have a string 'value' (the member's id)"));
        };
        if id.trim().is_empty() {
            return Err(ScimError::invalid_value("a member 'value' must not be empty"));
        }
        let display = match get_ci(o, "display") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ScimError::invalid_value("member 'display' must be a string"));
            }
        };
        let kind = match get_ci(o, "type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("User") => Some("User".to_owned()),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("Group") => Some("Group".to_owned()),
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "member 'type' must be \"User\" or \"Group\", got {other}"
                )));
            }
        };
        out.push(MemberRef { value: id.clone(), display, kind });
    }
    Ok(out)
}
