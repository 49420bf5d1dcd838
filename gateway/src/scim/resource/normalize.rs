//! POST/PUT bodies to the stored document: `schemas` checked, keys resolved against the schema
//! (core, URN-qualified, extension objects), values coerced, readOnly input ignored, Group `members`
//! taken out, immutable/writeOnly values carried over on replace, and required attributes checked.

use super::coerce::{coerce_attr, parse_member_refs, same_value};
use super::doc::{finish_doc, get_ci, is_absent, is_group_members, prune};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::members::MemberRef;
use crate::scim::schema::{AttributeDef, MS_ADSCIM_GROUP_SCHEMA, Mutability, ResourceSchema, SchemaDef};
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
    crate::scim::limits::check_resource(&doc)?;
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
