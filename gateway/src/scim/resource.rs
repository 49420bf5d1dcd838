//! Resource normalisation, validation and projection (RFC 7643 §2, RFC 7644 §3.3, §3.5.1, §3.4.2.5, §3.9).
//!
//! The stored document model: a JSON object in canonical key case with `schemas`, `id`, `externalId`,
//! `meta`, the core attributes at top level and each extension's attributes nested under its URN key.
//! A User's `groups` and a Group's `members` are never stored: the caller keeps members in a table and
//! adds both when rendering. Everything here is pure (no I/O).

use super::error::{ScimError, ScimResult};
use super::filter::AttrPath;
use super::members::MemberRef;
use super::schema::{AttrType, AttributeDef, MS_ADSCIM_GROUP_SCHEMA, Mutability, ResourceSchema, Returned, SchemaDef};
use serde_json::{Map, Value};

/// Whether a body is a POST (create) or a PUT (replace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Replace,
}

/// The result of [`normalize_with_members`]: the stored document plus, for Groups, the `members` the
/// body carried (`None` when the body had no `members` key; they are never part of the document).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub doc: Value,
    pub members: Option<Vec<MemberRef>>,
}

/// Normalises a POST/PUT body into the stored document (without `id`/`meta`: the caller sets them).
/// A Group's `members` are dropped; use [`normalize_with_members`] to get them.
pub fn normalize(body: Value, schema: &ResourceSchema, mode: WriteMode, existing: Option<&Value>) -> ScimResult<Value> {
    normalize_with_members(body, schema, mode, existing).map(|n| n.doc)
}

/// [`normalize`], also returning the Group `members` found in the body.
pub fn normalize_with_members(
    body: Value,
    schema: &ResourceSchema,
    mode: WriteMode,
    existing: Option<&Value>,
) -> ScimResult<Normalized> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    check_schemas_member(&body, schema)?;

    let mut out = Map::new();
    let mut members = None;
    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(&key) {
            match value {
                Value::Null => {}
                Value::Object(attrs) => {
                    for (k, v) in attrs {
                        assign_path(&mut out, schema, Some(ext), &k, &format!("{}:{k}", ext.id), v, &mut members)?;
                    }
                }
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "extension '{}' must be a JSON object of its attributes",
                        ext.id
                    )));
                }
            }
            continue;
        }
        match schema.split_urn(&key) {
            // `urn:…:core:2.0:User` as a key: an object of core attributes (some clients nest them).
            Some((None, "")) => match value {
                Value::Null => {}
                Value::Object(attrs) => {
                    for (k, v) in attrs {
                        assign_path(&mut out, schema, None, &k, &k, v, &mut members)?;
                    }
                }
                _ => {
                    return Err(ScimError::invalid_syntax(format!("'{key}' must be a JSON object of attributes")));
                }
            },
            Some((ext_urn, rest)) => {
                let ext = match ext_urn {
                    Some(u) => schema.extension(u),
                    None => None,
                };
                assign_path(&mut out, schema, ext, rest, &key, value, &mut members)?;
            }
            None => return Err(unknown_attribute(&key, schema)),
        }
    }

    if mode == WriteMode::Replace
        && let Some(Value::Object(old)) = existing
    {
        carry_over(&mut out, old, schema)?;
    }

    let mut doc = Value::Object(out);
    prune(&mut doc);
    finish_doc(&mut doc, schema);
    check_required(&doc, schema)?;
    Ok(Normalized { doc, members })
}

/// Checks the body's `schemas`: an array of strings containing the core URN; the Microsoft ADSCIM group
/// URI is tolerated, any other URN must be one of the resource type's extensions.
fn check_schemas_member(body: &Map<String, Value>, schema: &ResourceSchema) -> ScimResult<()> {
    let core = &schema.core.id;
    let Some(schemas) = get_ci(body, "schemas") else {
        return Err(ScimError::invalid_syntax(format!("'schemas' is required and must contain '{core}'")));
    };
    let Value::Array(list) = schemas else {
        return Err(ScimError::invalid_value(format!("'schemas' must be an array containing '{core}'")));
    };
    let mut has_core = false;
    for s in list {
        let Value::String(s) = s else {
            return Err(ScimError::invalid_value("'schemas' must contain only strings"));
        };
        if s.eq_ignore_ascii_case(core) {
            has_core = true;
        } else if s.eq_ignore_ascii_case(MS_ADSCIM_GROUP_SCHEMA) || schema.extension(s).is_some() {
            // accepted (the Microsoft URI carries nothing and is dropped)
        } else {
            return Err(ScimError::invalid_value(format!(
                "unknown schema URN '{s}' for resource type {}",
                schema.name
            )));
        }
    }
    if !has_core {
        return Err(ScimError::invalid_value(format!("'schemas' must contain '{core}'")));
    }
    Ok(())
}

fn unknown_attribute(key: &str, schema: &ResourceSchema) -> ScimError {
    ScimError::invalid_syntax(format!(
        "unknown attribute '{key}' for resource type {}; check the provisioning attribute mappings",
        schema.name
    ))
}

/// Assigns `rest` (`attr` or `attr.sub`, relative to `ext` or the core schema) from a POST/PUT body.
fn assign_path(
    out: &mut Map<String, Value>,
    schema: &ResourceSchema,
    ext: Option<&SchemaDef>,
    rest: &str,
    display: &str,
    value: Value,
    members: &mut Option<Vec<MemberRef>>,
) -> ScimResult<()> {
    let (name, sub) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let attr = match ext {
        Some(e) => e.attr(name),
        None => schema.core_attr(name),
    };
    let Some(attr) = attr else {
        return Err(unknown_attribute(display, schema));
    };
    if ext.is_none() && sub.is_none() && is_group_members(schema, attr) {
        *members = Some(parse_member_refs(&value)?);
        return Ok(());
    }
    if attr.mutability == Mutability::ReadOnly {
        return Ok(()); // RFC 7644 §3.3: readOnly values in input are ignored (id, meta, groups, …)
    }
    let container = match ext {
        Some(e) => {
            let slot = out.entry(e.id.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot.as_object_mut() {
                Some(m) => m,
                None => return Err(ScimError::internal("extension container is not an object")),
            }
        }
        None => out,
    };
    match sub {
        None => {
            match coerce_attr(attr, value, display)? {
                Some(v) => container.insert(attr.name.clone(), v),
                None => container.remove(&attr.name),
            };
        }
        Some(sub_name) => {
            let Some(sub_def) = attr.sub(sub_name) else {
                return Err(unknown_attribute(display, schema));
            };
            if attr.multi_valued {
                return Err(ScimError::invalid_syntax(format!(
                    "'{display}': a sub-attribute of the multi-valued attribute '{}' cannot be assigned directly",
                    attr.name
                )));
            }
            if sub_def.mutability == Mutability::ReadOnly {
                return Ok(());
            }
            let coerced = coerce_attr(sub_def, value, display)?;
            let parent = container.entry(attr.name.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            if let Some(p) = parent.as_object_mut() {
                match coerced {
                    Some(v) => p.insert(sub_def.name.clone(), v),
                    None => p.remove(&sub_def.name),
                };
            }
        }
    }
    Ok(())
}

/// PUT: immutable attributes must keep their existing value (and are retained when omitted);
/// writeOnly attributes (password) that the client cannot read back are retained when omitted.
fn carry_over(out: &mut Map<String, Value>, old: &Map<String, Value>, schema: &ResourceSchema) -> ScimResult<()> {
    let mut scopes: Vec<(Option<&str>, &[AttributeDef])> = vec![(None, &schema.core.attributes)];
    for (ext, _) in &schema.extensions {
        scopes.push((Some(ext.id.as_str()), &ext.attributes));
    }
    for (urn, attrs) in scopes {
        let old_c = match urn {
            Some(u) => get_ci(old, u).and_then(Value::as_object),
            None => Some(old),
        };
        let Some(old_c) = old_c else { continue };
        for attr in attrs {
            if !matches!(attr.mutability, Mutability::Immutable | Mutability::WriteOnly) {
                continue;
            }
            let Some(old_v) = get_ci(old_c, &attr.name).filter(|v| !is_absent(v)) else {
                continue;
            };
            let new_c = match urn {
                Some(u) => out.entry(u.to_owned()).or_insert_with(|| Value::Object(Map::new())).as_object_mut(),
                None => Some(&mut *out),
            };
            let Some(new_c) = new_c else { continue };
            match new_c.get(&attr.name) {
                None => {
                    new_c.insert(attr.name.clone(), old_v.clone());
                }
                Some(new_v) if attr.mutability == Mutability::Immutable && !same_value(attr, new_v, old_v) => {
                    return Err(ScimError::mutability(format!(
                        "attribute '{}' is immutable and already has a value",
                        attr.name
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Checks that required attributes are present: the core schema's top-level required attributes and
/// those of extensions the resource type marks as required (which must then be present).
pub fn check_required(doc: &Value, schema: &ResourceSchema) -> ScimResult<()> {
    let empty = Map::new();
    let obj = doc.as_object().unwrap_or(&empty);
    for attr in schema.core.attributes.iter().filter(|a| a.required) {
        if get_ci(obj, &attr.name).is_none_or(is_missing) {
            return Err(ScimError::invalid_value(format!("{} is required", attr.name)));
        }
    }
    for (ext, required) in &schema.extensions {
        if !required {
            continue;
        }
        let Some(ext_obj) = get_ci(obj, &ext.id).and_then(Value::as_object).filter(|m| !m.is_empty()) else {
            return Err(ScimError::invalid_value(format!("extension '{}' is required", ext.id)));
        };
        for attr in ext.attributes.iter().filter(|a| a.required) {
            if get_ci(ext_obj, &attr.name).is_none_or(is_missing) {
                return Err(ScimError::invalid_value(format!("{}:{} is required", ext.id, attr.name)));
            }
        }
    }
    Ok(())
}

fn is_missing(v: &Value) -> bool {
    is_absent(v) || v.as_str().is_some_and(|s| s.trim().is_empty())
}

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

// ---------------------------------------------------------------------------------------------------
// Value coercion (shared with PATCH)
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// Document helpers (shared with PATCH)
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// Projection
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Sel {
    /// A whole extension (`urn:…:enterprise:2.0:User`).
    Ext(String),
    /// `ext` = extension URN (canonical), `attr`/`sub` canonical names.
    Attr { ext: Option<String>, attr: String, sub: Option<String> },
}

fn resolve_sel(p: &AttrPath, schema: &ResourceSchema) -> Option<Sel> {
    let s = attr_path_string(p);
    if let Some(ext) = schema.extension(&s) {
        return Some(Sel::Ext(ext.id.clone()));
    }
    if let Some(r) = schema.resolve(&s) {
        return Some(Sel::Attr {
            ext: r.extension.map(str::to_owned),
            attr: r.attr.name.clone(),
            sub: r.sub.map(|x| x.name.clone()),
        });
    }
    // Attributes the schema may not define (e.g. `members`/`groups` with minimal schemas).
    let (ext, rest) = schema.split_urn(&s)?;
    let (name, sub) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b.to_owned())),
        None => (rest, None),
    };
    Some(Sel::Attr { ext: ext.map(str::to_owned), attr: name.to_owned(), sub })
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) and the `returned`
/// characteristic to a rendered resource: `returned: never` is always dropped, `always` always kept,
/// `request` only when listed in `attributes`.
pub fn project(doc: &Value, schema: &ResourceSchema, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let inc: Vec<Sel> = attributes.iter().filter_map(|p| resolve_sel(p, schema)).collect();
    let exc: Vec<Sel> = excluded.iter().filter_map(|p| resolve_sel(p, schema)).collect();
    // Unresolvable `attributes` entries still switch to "only what is listed" mode.
    let inc_mode = !attributes.is_empty();
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            out.insert(k.clone(), v.clone());
            continue;
        }
        if let Some(ext) = schema.extension(k) {
            let ext_id = ext.id.as_str();
            let whole_inc = inc.iter().any(|s| matches!(s, Sel::Ext(u) if u == ext_id));
            let whole_exc = exc.iter().any(|s| matches!(s, Sel::Ext(u) if u == ext_id));
            let mut eo = Map::new();
            if let Some(o) = v.as_object() {
                for (ak, av) in o {
                    let ctx = Ctx { ext: Some(ext_id), inc: &inc, exc: &exc, inc_mode, whole_inc, whole_exc };
                    if let Some(pv) = project_attr(&ctx, ext.attr(ak), ak, av) {
                        eo.insert(ak.clone(), pv);
                    }
                }
            }
            if !eo.is_empty() {
                out.insert(k.clone(), Value::Object(eo));
            }
            continue;
        }
        let ctx = Ctx { ext: None, inc: &inc, exc: &exc, inc_mode, whole_inc: false, whole_exc: false };
        if let Some(pv) = project_attr(&ctx, schema.core_attr(k), k, v) {
            out.insert(k.clone(), pv);
        }
    }
    Value::Object(out)
}

struct Ctx<'a> {
    ext: Option<&'a str>,
    inc: &'a [Sel],
    exc: &'a [Sel],
    inc_mode: bool,
    whole_inc: bool,
    whole_exc: bool,
}

fn sel_hits<'s>(sels: &'s [Sel], ext: Option<&str>, name: &str) -> (bool, Vec<&'s str>) {
    let mut whole = false;
    let mut subs = vec![];
    for s in sels {
        if let Sel::Attr { ext: e, attr, sub } = s
            && e.as_deref().map(str::to_ascii_lowercase) == ext.map(str::to_ascii_lowercase)
            && attr.eq_ignore_ascii_case(name)
        {
            match sub {
                None => whole = true,
                Some(x) => subs.push(x.as_str()),
            }
        }
    }
    (whole, subs)
}

fn project_attr(ctx: &Ctx<'_>, def: Option<&AttributeDef>, name: &str, v: &Value) -> Option<Value> {
    let returned = def.map_or(Returned::Default, |d| d.returned);
    if returned == Returned::Never {
        return None;
    }
    let (inc_whole, inc_subs) = sel_hits(ctx.inc, ctx.ext, name);
    let (exc_whole, exc_subs) = sel_hits(ctx.exc, ctx.ext, name);
    let inc_whole = inc_whole || ctx.whole_inc;
    let exc_whole = exc_whole || ctx.whole_exc;
    if returned == Returned::Always {
        return Some(filter_subs(def, v, |_, _| true));
    }
    if ctx.inc_mode {
        if inc_whole {
            // whole attribute requested: everything but never-returned / excluded sub-attributes
            return non_empty(filter_subs(def, v, |sn, sr| {
                sr == Returned::Always || !exc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn))
            }));
        }
        if inc_subs.is_empty() {
            return None;
        }
        return non_empty(filter_subs(def, v, |sn, sr| {
            sr == Returned::Always || inc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn))
        }));
    }
    if returned == Returned::Request || exc_whole {
        return None;
    }
    non_empty(filter_subs(def, v, |sn, sr| {
        sr == Returned::Always || (sr != Returned::Request && !exc_subs.iter().any(|x| x.eq_ignore_ascii_case(sn)))
    }))
}

fn non_empty(v: Value) -> Option<Value> {
    if is_absent(&v) { None } else { Some(v) }
}

/// Keeps the sub-attributes of a complex value (each element when multi-valued) for which `keep`
/// holds; `returned: never` sub-attributes are always dropped; elements left empty are dropped.
fn filter_subs(def: Option<&AttributeDef>, v: &Value, keep: impl Fn(&str, Returned) -> bool + Copy) -> Value {
    let filter_obj = |o: &Map<String, Value>| -> Map<String, Value> {
        o.iter()
            .filter(|(k, _)| {
                let r = def.and_then(|d| d.sub(k)).map_or(Returned::Default, |s| s.returned);
                r != Returned::Never && keep(k, r)
            })
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect()
    };
    match v {
        Value::Object(o) => Value::Object(filter_obj(o)),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter_map(|e| match e {
                    Value::Object(o) => {
                        let f = filter_obj(o);
                        (!f.is_empty()).then_some(Value::Object(f))
                    }
                    other => Some(other.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::filter::parse_attr_path;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;
    use std::sync::Arc;

    pub(crate) const CUSTOM: &str = "urn:example:params:scim:schemas:extension:custom:2.0:User";

    fn load(s: &str) -> Arc<SchemaDef> {
        Arc::new(serde_json::from_str::<SchemaDef>(s).expect("schema json"))
    }

    pub(crate) fn user_schema() -> ResourceSchema {
        ResourceSchema {
            name: "User".into(),
            endpoint: "/Users".into(),
            core: load(include_str!("../../../schemas/user.json")),
            extensions: vec![(load(include_str!("../../../schemas/enterprise_user.json")), false)],
        }
    }

    pub(crate) fn group_schema() -> ResourceSchema {
        ResourceSchema {
            name: "Group".into(),
            endpoint: "/Groups".into(),
            core: load(include_str!("../../../schemas/group.json")),
            extensions: vec![],
        }
    }

    /// User + enterprise + a custom extension exercising the other types and characteristics.
    pub(crate) fn custom_schema() -> ResourceSchema {
        let custom = json!({
            "id": CUSTOM,
            "name": "Custom",
            "attributes": [
                {"name": "badge", "type": "integer", "multiValued": false},
                {"name": "score", "type": "decimal", "multiValued": false},
                {"name": "hired", "type": "dateTime", "multiValued": false},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "locker", "type": "string", "multiValued": false, "mutability": "immutable"},
                {"name": "secret", "type": "string", "multiValued": false, "returned": "request"},
                {"name": "costCode", "type": "string", "multiValued": false, "required": true}
            ]
        });
        let mut s = user_schema();
        s.extensions.push((Arc::new(serde_json::from_value(custom).expect("custom")), false));
        s
    }

    fn norm(body: Value) -> ScimResult<Value> {
        normalize(body, &user_schema(), WriteMode::Create, None)
    }

    fn err_type(r: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>, String) {
        let e = r.expect_err("expected an error");
        (e.status, e.scim_type, e.detail)
    }

    #[test]
    fn entra_create_user_shape() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@testuser.com",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Eng"}
        });
        let doc = norm(body).expect("ok");
        assert_eq!(
            doc,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee@testuser.com",
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "active": true,
                "emails": [{"value": "Test_User_fd0ea19b@testuser.com", "type": "work", "primary": true}],
                ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Eng"}
            })
        );
    }

    #[test]
    fn entra_flat_extension_keys_string_booleans_and_manager_string() {
        let body = json!({
            "schemas": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
            "USERNAME": "a@b.c",
            "Active": "True",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "mgr-1",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName": "ignored (readOnly)",
            "NAME": {"GIVENNAME": "Ann", "familyname": null},
            "emails": {"Value": "a@b.c", "TYPE": "work", "display": "Work"}
        });
        let doc = norm(body).expect("ok");
        assert_eq!(
            doc,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "a@b.c",
                "name": {"givenName": "Ann"},
                "active": true,
                "emails": [{"value": "a@b.c", "display": "Work", "type": "work"}],
                ENTERPRISE_USER_SCHEMA: {"department": "Sales", "manager": {"value": "mgr-1"}}
            })
        );
        let doc = norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "false"})).expect("ok");
        assert_eq!(doc["active"], json!(false));
    }

    #[test]
    fn entra_manager_as_one_element_array_with_null_ref() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "userName": "x",
            ENTERPRISE_USER_SCHEMA: {"manager": [{"$ref": null, "value": "m-9"}]}
        });
        let doc = norm(body).expect("ok");
        assert_eq!(doc[ENTERPRISE_USER_SCHEMA], json!({"manager": {"value": "m-9"}}));
        // more than one manager is an error
        let body = json!({"schemas": [USER_SCHEMA], "userName": "x",
            ENTERPRISE_USER_SCHEMA: {"manager": [{"value": "a"}, {"value": "b"}]}});
        assert_eq!(err_type(norm(body)).1, Some(ScimType::InvalidValue));
    }

    #[test]
    fn entra_group_create_drops_ms_schema_and_extracts_members() {
        let body = json!({
            "schemas": [GROUP_SCHEMA, MS_ADSCIM_GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "members": [{"$ref": null, "value": "u1"}, {"value": "g2", "type": "group", "display": "G2"}],
            "meta": {"resourceType": "Group"}
        });
        let n = normalize_with_members(body, &group_schema(), WriteMode::Create, None).expect("ok");
        assert_eq!(
            n.doc,
            json!({"schemas": [GROUP_SCHEMA], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                   "displayName": "Group1DisplayName"})
        );
        assert_eq!(
            n.members,
            Some(vec![
                MemberRef { value: "u1".into(), display: None, kind: None },
                MemberRef { value: "g2".into(), display: Some("G2".into()), kind: Some("Group".into()) },
            ])
        );
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"display": "no id"}]});
        assert_eq!(err_type(normalize(body, &group_schema(), WriteMode::Create, None)).1, Some(ScimType::InvalidValue));
        let n = normalize_with_members(
            json!({"schemas": [GROUP_SCHEMA], "displayName": "g"}),
            &group_schema(),
            WriteMode::Create,
            None,
        )
        .expect("ok");
        assert_eq!(n.members, None);
    }

    #[test]
    fn schemas_member_is_validated() {
        assert_eq!(err_type(norm(json!([1, 2]))).1, Some(ScimType::InvalidSyntax));
        assert_eq!(err_type(norm(json!({"userName": "x"}))).1, Some(ScimType::InvalidSyntax));
        assert_eq!(err_type(norm(json!({"schemas": USER_SCHEMA, "userName": "x"}))).1, Some(ScimType::InvalidValue));
        assert_eq!(err_type(norm(json!({"schemas": [GROUP_SCHEMA], "userName": "x"}))).1, Some(ScimType::InvalidValue));
        let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA, "urn:nope:Thing"], "userName": "x"})));
        assert_eq!((s, t), (400, Some(ScimType::InvalidValue)));
        assert!(d.contains("urn:nope:Thing"), "{d}");
    }

    #[test]
    fn unknown_attributes_are_rejected_by_name_and_readonly_ones_ignored() {
        let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "favouriteColour": "red"})));
        assert_eq!((s, t), (400, Some(ScimType::InvalidSyntax)));
        assert!(d.contains("favouriteColour"), "{d}");
        let (_, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize": "9"})));
        assert_eq!(t, Some(ScimType::InvalidSyntax));
        assert!(d.contains("shoeSize"), "{d}");
        let (_, t, d) =
            err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [{"value": "a", "kind": "x"}]})));
        assert_eq!(t, Some(ScimType::InvalidSyntax));
        assert!(d.contains("emails.kind"), "{d}");
        let doc =
            norm(json!({"schemas": [USER_SCHEMA], "id": "client-id", "userName": "x", "meta": {"version": "W/\"1\""},
            "groups": [{"value": "g1"}]}))
            .expect("ok");
        assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "userName": "x"}));
    }

    #[test]
    fn type_coercion() {
        let s = custom_schema();
        let n = |ext: Value| {
            normalize(json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: ext}), &s, WriteMode::Create, None)
        };
        let doc = n(
            json!({"badge": "12", "score": 1.5, "hired": "2024-01-31T12:00:00+01:00", "tags": "solo", "costCode": "c"}),
        )
        .expect("ok");
        assert_eq!(
            doc[CUSTOM],
            json!({"badge": 12, "score": 1.5, "hired": "2024-01-31T12:00:00+01:00", "tags": ["solo"], "costCode": "c"})
        );
        assert_eq!(doc["schemas"], json!([USER_SCHEMA, CUSTOM]));
        for bad in [
            json!({"badge": "twelve", "costCode": "c"}),
            json!({"badge": 1.5, "costCode": "c"}),
            json!({"score": "x", "costCode": "c"}),
            json!({"hired": "yesterday", "costCode": "c"}),
            json!({"hired": 5, "costCode": "c"}),
            json!({"costCode": 7}),
            json!({"costCode": ["a", "b"]}),
            json!({"costCode": {"value": "a"}}),
        ] {
            assert_eq!(err_type(n(bad.clone())).1, Some(ScimType::InvalidValue), "{bad}");
        }
        let doc = n(json!({"costCode": "c"})).expect("ok");
        assert_eq!(doc[CUSTOM], json!({"costCode": "c"}));
        assert_eq!(
            err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "yes"}))).1,
            Some(ScimType::InvalidValue)
        );
        assert_eq!(err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": 5}))).1, Some(ScimType::InvalidValue));
        assert_eq!(
            err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": ["a@b"]}))).1,
            Some(ScimType::InvalidValue)
        );
    }

    #[test]
    fn nulls_and_empty_values_are_dropped() {
        let doc = norm(json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "userName": "x", "nickName": null,
            "emails": [], "phoneNumbers": [null, {"value": null}], "name": {},
            ENTERPRISE_USER_SCHEMA: {"department": null}}))
        .expect("ok");
        assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "userName": "x"}));
    }

    #[test]
    fn at_most_one_primary() {
        let body = json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [
            {"value": "a", "primary": true}, {"value": "b", "primary": "True"}]});
        assert_eq!(err_type(norm(body)).1, Some(ScimType::InvalidValue));
        let body = json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [
            {"value": "a", "primary": true}, {"value": "b", "primary": false}]});
        assert!(norm(body).is_ok());
    }

    #[test]
    fn required_attributes() {
        let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "displayName": "x"})));
        assert_eq!((s, t, d.as_str()), (400, Some(ScimType::InvalidValue), "userName is required"));
        assert!(err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": null}))).2.contains("userName"));
        let (_, _, d) =
            err_type(normalize(json!({"schemas": [GROUP_SCHEMA]}), &group_schema(), WriteMode::Create, None));
        assert_eq!(d, "displayName is required");
        // optional extension: its required attributes are not enforced
        let s = custom_schema();
        assert!(
            normalize(
                json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: {"badge": 1}}),
                &s,
                WriteMode::Create,
                None
            )
            .is_ok()
        );
        // required extension: must be present with its required attributes
        let mut req = custom_schema();
        req.extensions[1].1 = true;
        let (_, t, d) =
            err_type(normalize(json!({"schemas": [USER_SCHEMA], "userName": "x"}), &req, WriteMode::Create, None));
        assert_eq!(t, Some(ScimType::InvalidValue));
        assert!(d.contains(CUSTOM), "{d}");
        let (_, _, d) = err_type(normalize(
            json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: {"badge": 1}}),
            &req,
            WriteMode::Create,
            None,
        ));
        assert!(d.contains("costCode"), "{d}");
    }

    #[test]
    fn replace_mode_immutable_and_write_only() {
        let s = custom_schema();
        let existing = json!({"schemas": [USER_SCHEMA, CUSTOM], "id": "1", "userName": "x", "password": "p",
            CUSTOM: {"locker": "L1"}});
        // omitted: immutable and writeOnly values are kept
        let doc =
            normalize(json!({"schemas": [USER_SCHEMA], "userName": "y"}), &s, WriteMode::Replace, Some(&existing))
                .expect("ok");
        assert_eq!(
            doc,
            json!({"schemas": [USER_SCHEMA, CUSTOM], "userName": "y", "password": "p", CUSTOM: {"locker": "L1"}})
        );
        // same value: fine; different: mutability
        assert!(
            normalize(
                json!({"schemas": [USER_SCHEMA], "userName": "y", CUSTOM: {"locker": "l1"}}),
                &s,
                WriteMode::Replace,
                Some(&existing)
            )
            .is_ok()
        );
        let r = normalize(
            json!({"schemas": [USER_SCHEMA], "userName": "y", CUSTOM: {"locker": "L2"}}),
            &s,
            WriteMode::Replace,
            Some(&existing),
        );
        assert_eq!(err_type(r).1, Some(ScimType::Mutability));
        // create: immutable can be set freely; new password replaces
        let doc = normalize(
            json!({"schemas": [USER_SCHEMA], "userName": "y", "password": "q"}),
            &s,
            WriteMode::Replace,
            Some(&existing),
        )
        .expect("ok");
        assert_eq!(doc["password"], json!("q"));
    }

    #[test]
    fn core_urn_prefixed_keys_and_nested_core() {
        let doc = norm(json!({"schemas": [USER_SCHEMA],
            "urn:ietf:params:scim:schemas:core:2.0:User:userName": "x",
            "urn:ietf:params:scim:schemas:core:2.0:User": {"displayName": "X"},
            "name.givenName": "G"}))
        .expect("ok");
        assert_eq!(
            doc,
            json!({"schemas": [USER_SCHEMA], "userName": "x", "name": {"givenName": "G"}, "displayName": "X"})
        );
    }

    #[test]
    fn normalize_is_idempotent_on_its_output() {
        let doc = norm(json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "userName": "x", "active": "True",
            "emails": {"value": "a", "type": "work"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m"}))
        .expect("ok");
        let again = normalize(doc.clone(), &user_schema(), WriteMode::Replace, Some(&doc)).expect("ok");
        assert_eq!(doc, again);
    }

    fn paths(list: &[&str]) -> Vec<AttrPath> {
        list.iter().map(|p| parse_attr_path(p).expect("path")).collect()
    }

    fn rendered() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "1",
            "externalId": "e",
            "meta": {"resourceType": "User", "version": "W/\"1\""},
            "userName": "x",
            "name": {"givenName": "G", "familyName": "F"},
            "password": "secret",
            "emails": [{"value": "a", "type": "work", "primary": true}, {"value": "b", "type": "home"}],
            "groups": [{"value": "g1", "display": "G1"}],
            ENTERPRISE_USER_SCHEMA: {"department": "D", "manager": {"value": "m"}}
        })
    }

    #[test]
    fn project_default_drops_never() {
        let s = user_schema();
        let out = project(&rendered(), &s, &[], &[]);
        let mut expected = rendered();
        expected.as_object_mut().map(|m| m.remove("password"));
        assert_eq!(out, expected);
    }

    #[test]
    fn project_attributes() {
        let s = user_schema();
        let out = project(&rendered(), &s, &paths(&["userName"]), &[]);
        assert_eq!(out, json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "userName": "x"}));
        let out = project(&rendered(), &s, &paths(&["NAME.givenName", "emails.type", "password"]), &[]);
        assert_eq!(
            out,
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "name": {"givenName": "G"},
                   "emails": [{"type": "work"}, {"type": "home"}]})
        );
        let out = project(&rendered(), &s, &paths(&[ENTERPRISE_USER_SCHEMA]), &[]);
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], rendered()[ENTERPRISE_USER_SCHEMA]);
        let out = project(
            &rendered(),
            &s,
            &paths(&["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "groups"]),
            &[],
        );
        assert_eq!(
            out,
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "groups": [{"value": "g1", "display": "G1"}],
                   ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
        );
    }

    #[test]
    fn project_excluded_attributes() {
        let s = user_schema();
        let out = project(
            &rendered(),
            &s,
            &[],
            &paths(&[
                "id",
                "emails",
                "groups",
                "meta",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "name.familyName",
            ]),
        );
        assert_eq!(
            out,
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "externalId": "e", "userName": "x",
                   "name": {"givenName": "G"}, ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
        );
        let out = project(&rendered(), &s, &[], &paths(&[ENTERPRISE_USER_SCHEMA]));
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
        // Group members
        let g = group_schema();
        let doc = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G", "members": [{"value": "u1"}]});
        assert_eq!(
            project(&doc, &g, &[], &paths(&["members"])),
            json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G"})
        );
        assert_eq!(
            project(&doc, &g, &paths(&["members.value"]), &[]),
            json!({"schemas": [GROUP_SCHEMA], "id": "g", "members": [{"value": "u1"}]})
        );
    }

    #[test]
    fn project_returned_request() {
        let s = custom_schema();
        let doc =
            json!({"schemas": [USER_SCHEMA, CUSTOM], "id": "1", "userName": "x", CUSTOM: {"secret": "s", "badge": 1}});
        assert_eq!(project(&doc, &s, &[], &[])[CUSTOM], json!({"badge": 1}));
        let p = paths(&["urn:example:params:scim:schemas:extension:custom:2.0:User:secret"]);
        assert_eq!(project(&doc, &s, &p, &[])[CUSTOM], json!({"secret": "s"}));
    }
}
