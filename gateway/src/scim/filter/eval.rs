//! In-memory evaluation of a filter over a stored resource (case-insensitive keys, multi-valued
//! attributes match when any element does, `caseExact` and dateTime ordering honoured), and the values
//! at a path for sorting. Attributes are resolved through [`resolve`](super::resolve).

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ast::{AttrPath, CompareOp, Filter};
use super::resolve::{Leaf, Scope, resolve_leaf, resolve_value_path};
use crate::scim::error::ScimResult;
use crate::scim::schema::{AttrType, ResourceSchema};

/// Object member by key, case-insensitively (exact match first).
fn get_ci<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = node.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// A value as a list: arrays flattened, null/absent dropped.
fn flatten(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|i| !i.is_null()).collect(),
        Some(other) => vec![other],
    }
}

fn is_primary(v: &Value) -> bool {
    get_ci(v, "primary").and_then(Value::as_bool).unwrap_or(false)
}

/// `pr`: not null, not an empty string, not an empty array/object.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The stored values a leaf refers to (multi-valued flattened); for a root leaf with a sub-attribute,
/// the sub-attribute of every element.
fn leaf_values<'v>(node: &'v Value, path: &AttrPath, leaf: &Leaf<'_>, scope: Scope<'_>) -> Vec<&'v Value> {
    match scope {
        Scope::Elem { .. } => flatten(get_ci(node, &path.name)),
        Scope::Root => {
            let container = match leaf.extension {
                Some(urn) => get_ci(node, urn),
                None => Some(node),
            };
            let attr = flatten(container.and_then(|c| get_ci(c, &path.name)));
            match &path.sub {
                Some(sub) => attr.into_iter().flat_map(|e| flatten(get_ci(e, sub))).collect(),
                None => attr,
            }
        }
    }
}

fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn fold(s: &str, case_exact: bool) -> std::borrow::Cow<'_, str> {
    if case_exact { std::borrow::Cow::Borrowed(s) } else { std::borrow::Cow::Owned(s.to_lowercase()) }
}

/// Orders a stored value against a filter literal, honouring the attribute's type and `caseExact`.
fn cmp_values(stored: &Value, lit: &Value, kind: AttrType, case_exact: bool) -> Option<Ordering> {
    match (stored, lit) {
        (Value::String(a), Value::String(b)) => {
            if kind == AttrType::DateTime
                && let (Some(x), Some(y)) = (parse_datetime(a), parse_datetime(b))
            {
                return Some(x.cmp(&y));
            }
            Some(fold(a, case_exact).cmp(&fold(b, case_exact)))
        }
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare_one(stored: &Value, op: CompareOp, lit: &Value, kind: AttrType, case_exact: bool) -> bool {
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => match (stored, lit) {
            (Value::String(a), Value::String(b)) => {
                let (a, b) = (fold(a, case_exact), fold(b, case_exact));
                match op {
                    CompareOp::Co => a.contains(b.as_ref()),
                    CompareOp::Sw => a.starts_with(b.as_ref()),
                    _ => a.ends_with(b.as_ref()),
                }
            }
            _ => false,
        },
        CompareOp::Eq => cmp_values(stored, lit, kind, case_exact) == Some(Ordering::Equal),
        CompareOp::Ne => cmp_values(stored, lit, kind, case_exact) != Some(Ordering::Equal),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            if matches!(kind, AttrType::Boolean | AttrType::Binary) || stored.is_boolean() {
                return false;
            }
            match cmp_values(stored, lit, kind, case_exact) {
                Some(o) => match op {
                    CompareOp::Gt => o == Ordering::Greater,
                    CompareOp::Ge => o != Ordering::Less,
                    CompareOp::Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                },
                None => false,
            }
        }
    }
}

fn eval<'s>(filter: &'s Filter, node: &Value, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<bool> {
    match filter {
        Filter::And(a, b) => Ok(eval(a, node, schema, scope)? && eval(b, node, schema, scope)?),
        Filter::Or(a, b) => Ok(eval(a, node, schema, scope)? || eval(b, node, schema, scope)?),
        Filter::Not(a) => Ok(!eval(a, node, schema, scope)?),
        Filter::Present(p) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            Ok(leaf_values(node, p, &leaf, scope).into_iter().any(is_present))
        }
        Filter::Compare(p, op, lit) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            let mut values = leaf_values(node, p, &leaf, scope);
            let def = match leaf.compare_def() {
                Some(d) => {
                    if leaf.sub.is_none() && leaf.attr.is_complex() {
                        // `members eq "u1"`: compare against the elements' `value`.
                        values =
                            values.into_iter().filter_map(|e| get_ci(e, "value")).filter(|v| !v.is_null()).collect();
                    }
                    d
                }
                None => leaf.attr,
            };
            if lit.is_null() {
                let present = !values.is_empty();
                return Ok(match op {
                    CompareOp::Eq => !present,
                    CompareOp::Ne => present,
                    _ => false,
                });
            }
            if values.is_empty() {
                return Ok(*op == CompareOp::Ne);
            }
            Ok(values.into_iter().any(|v| compare_one(v, *op, lit, def.kind, def.case_exact)))
        }
        Filter::ValuePath(p, inner) => {
            let (attr, extension) = resolve_value_path(p, schema, scope)?;
            let container = match extension {
                Some(urn) => get_ci(node, urn),
                None => Some(node),
            };
            let elem_scope = Scope::Elem { parent: p, def: attr };
            for elem in flatten(container.and_then(|c| get_ci(c, &p.name))) {
                if elem.is_object() && eval(inner, elem, schema, elem_scope)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Evaluates `filter` against a stored resource (core attributes at top level, extension attributes
/// under their URN key; keys matched case-insensitively). Multi-valued attributes match when any element
/// does; a complex attribute compared without sub-attribute is compared through its elements' `value`.
/// `ne` on a missing attribute is true, every other comparison on a missing attribute false; `eq null` is
/// true iff the attribute is absent or null. Unknown attributes are 400 `invalidFilter` (call
/// [`validate`](super::validate) first to report them regardless of short-circuiting).
pub fn matches(filter: &Filter, resource: &Value, schema: &ResourceSchema) -> ScimResult<bool> {
    eval(filter, resource, schema, Scope::Root)
}

/// Evaluates the inner filter of a value path (`attr[filter]`, e.g. from a
/// [`PatchPath::ValuePath`](super::PatchPath::ValuePath)) against one element of the complex attribute
/// `attr`. Used by PATCH to select the targeted elements.
pub fn matches_element(filter: &Filter, element: &Value, attr: &AttrPath, schema: &ResourceSchema) -> ScimResult<bool> {
    let (def, _) = resolve_value_path(attr, schema, Scope::Root)?;
    eval(filter, element, schema, Scope::Elem { parent: attr, def })
}

/// All values at `path` in `resource` (multi-valued flattened, the `primary` element first; a complex
/// attribute without sub-attribute yields its elements' `value`), for sortBy.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath, schema: &ResourceSchema) -> Vec<&'a Value> {
    let resolved = schema.resolve(&path.to_string());
    let container = match (resolved.and_then(|r| r.extension), &path.urn, resolved.is_some()) {
        (Some(ext), _, _) => get_ci(resource, ext),
        (None, Some(urn), false) => get_ci(resource, urn),
        _ => Some(resource),
    };
    let mut elems = flatten(container.and_then(|c| get_ci(c, &path.name)));
    elems.sort_by_key(|e| !is_primary(e));
    match &path.sub {
        Some(sub) => elems.into_iter().flat_map(|e| flatten(get_ci(e, sub))).collect(),
        None => elems
            .into_iter()
            .filter_map(|e| if e.is_object() { get_ci(e, "value").filter(|v| !v.is_null()) } else { Some(e) })
            .collect(),
    }
}
