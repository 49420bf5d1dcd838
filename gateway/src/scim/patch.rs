//! SCIM PATCH (RFC 7644 §3.5.2): parsing a PatchOp body and applying it to a stored document, including
//! the request shapes Microsoft Entra ID provisioning sends. Group `members` are never stored in the
//! document: operations on them are translated into [`MemberChange`]s for the caller's member table.

use super::error::{ScimError, ScimResult};
use super::filter::{self, AttrPath, Filter, PatchPath};
pub use super::members::{MemberChange, MemberRef};
use super::resource::{
    attr_path_string, check_required, coerce_attr, coerce_element, finish_doc, get_ci, is_absent, is_group_members,
    is_primary, parse_member_refs, prune, same_value,
};
use super::schema::{AttributeDef, Mutability, ResourceSchema, SchemaDef};
use serde_json::{Map, Value};

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOutcome {
    pub member_changes: Vec<MemberChange>,
}

// ---------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------

/// Parses a PatchOp request body (RFC 7644 §3.5.2). Keys are matched case-insensitively; `op` values
/// are case-insensitive (Entra sends "Add"/"Replace"/"Remove").
pub fn parse_patch(body: &Value) -> ScimResult<Vec<PatchOperation>> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
    };
    let has_schema = match get_ci(body, "schemas") {
        Some(Value::Array(a)) => a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))),
        _ => false,
    };
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!("'schemas' must be an array containing '{PATCH_OP_SCHEMA}'")));
    }
    let ops = match get_ci(body, "Operations") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(ScimError::invalid_syntax("'Operations' must be a non-empty array"));
        }
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "too many operations ({}); at most {MAX_OPERATIONS} are accepted per request",
            ops.len()
        )));
    }
    ops.iter().enumerate().map(|(i, op)| parse_op(op).map_err(|e| in_op(e, i))).collect()
}

fn parse_op(op: &Value) -> ScimResult<PatchOperation> {
    let Value::Object(op) = op else {
        return Err(ScimError::invalid_syntax("each operation must be a JSON object"));
    };
    let kind = match get_ci(op, "op") {
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "add" => PatchOpKind::Add,
            "replace" => PatchOpKind::Replace,
            "remove" => PatchOpKind::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(format!("unknown op '{s}'; expected add, replace or remove")));
            }
        },
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!("unknown op {other}; expected add, replace or remove")));
        }
        None => return Err(ScimError::invalid_syntax("operation is missing 'op'")),
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(filter::parse_patch_path(s).map_err(|e| {
            if e.scim_type == Some(super::error::ScimType::InvalidPath) {
                e
            } else {
                ScimError::invalid_path(format!("invalid path '{s}': {}", e.detail))
            }
        })?),
        Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
    };
    let value = get_ci(op, "value").cloned();
    match kind {
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_syntax(format!("'{}' operation requires a 'value'", kind.as_str())));
        }
        PatchOpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target("'remove' operation requires a 'path'"));
        }
        _ => {}
    }
    Ok(PatchOperation { op: kind, path, value })
}

fn in_op(e: ScimError, i: usize) -> ScimError {
    ScimError { detail: format!("Operations[{i}]: {}", e.detail), ..e }
}

// ---------------------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------------------

/// Applies all ops atomically: on error `doc` is unchanged. `doc` is the stored document (no
/// `members`/`groups`); Group member operations are returned as [`MemberChange`]s in op order.
pub fn apply_patch(doc: &mut Value, ops: &[PatchOperation], schema: &ResourceSchema) -> ScimResult<PatchOutcome> {
    if !doc.is_object() {
        return Err(ScimError::internal("stored resource is not a JSON object"));
    }
    let mut work = doc.clone();
    let mut outcome = PatchOutcome::default();
    for (i, op) in ops.iter().enumerate() {
        let before = work.clone();
        apply_op(&mut work, op, schema, &mut outcome).map_err(|e| in_op(e, i))?;
        fix_primaries(&before, &mut work, schema).map_err(|e| in_op(e, i))?;
    }
    prune(&mut work);
    finish_doc(&mut work, schema);
    check_required(&work, schema)?;
    *doc = work;
    Ok(outcome)
}

/// What a path designates.
enum Target<'s, 'p> {
    /// A whole extension (`urn:…:enterprise:2.0:User`).
    Ext(&'s SchemaDef),
    /// `attr` or `attr.sub` (core or extension).
    Attr { ext: Option<&'s str>, attr: &'s AttributeDef, sub: Option<&'s AttributeDef> },
    /// `attr[filter]` or `attr[filter].sub`.
    Filtered { ext: Option<&'s str>, attr: &'s AttributeDef, filter: &'p Filter, sub: Option<&'s AttributeDef> },
}

struct Ctx<'s, 'o> {
    schema: &'s ResourceSchema,
    out: &'o mut PatchOutcome,
}

fn apply_op(doc: &mut Value, op: &PatchOperation, schema: &ResourceSchema, out: &mut PatchOutcome) -> ScimResult<()> {
    let mut ctx = Ctx { schema, out };
    match &op.path {
        None => {
            if op.op == PatchOpKind::Remove {
                return Err(ScimError::no_target("'remove' operation requires a 'path'"));
            }
            let Some(Value::Object(map)) = &op.value else {
                return Err(ScimError::invalid_syntax(format!(
                    "'{}' without a path requires an object value",
                    op.op.as_str()
                )));
            };
            for (k, v) in map {
                apply_key(doc, k, v, op.op, &mut ctx)?;
            }
            Ok(())
        }
        Some(path) => {
            let (target, display) = resolve_target(path, schema)?;
            apply_target(doc, &target, &display, op.op, op.value.as_ref(), &mut ctx)
        }
    }
}

fn resolve_target<'s, 'p>(path: &'p PatchPath, schema: &'s ResourceSchema) -> ScimResult<(Target<'s, 'p>, String)> {
    match path {
        PatchPath::Attr(p) => {
            let s = attr_path_string(p);
            if let Some(ext) = schema.extension(&s) {
                return Ok((Target::Ext(ext), s));
            }
            let r = schema.resolve(&s).ok_or_else(|| unknown_path(&s, schema))?;
            Ok((Target::Attr { ext: r.extension, attr: r.attr, sub: r.sub }, s))
        }
        PatchPath::ValuePath { attr, filter, sub } => {
            let s = attr_path_string(attr);
            let r = schema.resolve(&s).ok_or_else(|| unknown_path(&s, schema))?;
            if r.sub.is_some() || !r.attr.multi_valued || !r.attr.is_complex() {
                return Err(ScimError::invalid_path(format!(
                    "'{s}' is not a multi-valued complex attribute; a value filter cannot be applied to it"
                )));
            }
            filter::validate(&Filter::ValuePath(attr.clone(), Box::new(filter.clone())), schema)?;
            let sub_def = match sub {
                None => None,
                Some(n) => Some(r.attr.sub(n).ok_or_else(|| unknown_path(&format!("{s}.{n}"), schema))?),
            };
            Ok((Target::Filtered { ext: r.extension, attr: r.attr, filter, sub: sub_def }, path.to_string()))
        }
    }
}

/// Drops the elements at the `matched` indexes (immutable attributes keep theirs: 400 mutability).
fn remove_matched(elems: &mut Vec<Value>, matched: &[usize], immutable: bool, display: &str) -> ScimResult<()> {
    if immutable && !matched.is_empty() {
        return Err(immutable_err(display));
    }
    let mut i = 0;
    elems.retain(|_| {
        let keep = !matched.contains(&i);
        i += 1;
        keep
    });
    Ok(())
}

fn unknown_path(p: &str, schema: &ResourceSchema) -> ScimError {
    ScimError::invalid_path(format!("unknown attribute '{p}' for resource type {}", schema.name))
}

/// One key of a path-less add/replace value: an attribute name, a dotted path, a URN-qualified path, or
/// an extension URN whose value is an object of that extension's attributes.
fn apply_key(doc: &mut Value, key: &str, v: &Value, kind: PatchOpKind, ctx: &mut Ctx<'_, '_>) -> ScimResult<()> {
    let schema = ctx.schema;
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if let Some(ext) = schema.extension(key) {
        return apply_target(doc, &Target::Ext(ext), key, kind, Some(v), ctx);
    }
    if schema.split_urn(key) == Some((None, "")) {
        // the core URN as a key: an object of core attributes
        let Value::Object(m) = v else {
            return Err(ScimError::invalid_value(format!("'{key}' must be an object of attributes")));
        };
        for (k, x) in m {
            apply_key(doc, k, x, kind, ctx)?;
        }
        return Ok(());
    }
    // Any other key is a PATCH path: `attr`, `attr.sub`, `urn:…:attr[.sub]`, or — as Entra sends in
    // path-less replaces — a value path such as `emails[type eq "work"].value`.
    let path = filter::parse_patch_path(key)
        .map_err(|e| ScimError::invalid_path(format!("invalid attribute '{key}' in value: {}", e.detail)))?;
    let (target, display) = resolve_target(&path, schema)?;
    if let Target::Attr { ext, attr, sub } = target {
        let read_only =
            attr.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly);
        if read_only && current_value(doc, ext, attr, sub).is_some_and(|cur| cur == v) {
            return Ok(()); // echoing an unchanged readOnly value (e.g. `id`) is harmless
        }
    }
    apply_target(doc, &target, &display, kind, Some(v), ctx)
}

fn current_value<'d>(
    doc: &'d Value,
    ext: Option<&str>,
    attr: &AttributeDef,
    sub: Option<&AttributeDef>,
) -> Option<&'d Value> {
    let mut c = doc.as_object()?;
    if let Some(u) = ext {
        c = get_ci(c, u)?.as_object()?;
    }
    let v = get_ci(c, &attr.name)?;
    match sub {
        None => Some(v),
        Some(s) => get_ci(v.as_object()?, &s.name),
    }
}

fn apply_target(
    doc: &mut Value,
    target: &Target<'_, '_>,
    display: &str,
    kind: PatchOpKind,
    value: Option<&Value>,
    ctx: &mut Ctx<'_, '_>,
) -> ScimResult<()> {
    match *target {
        Target::Ext(ext) => apply_extension(doc, ext, kind, value, ctx),
        Target::Attr { ext, attr, sub } => {
            if ext.is_none() && is_group_members(ctx.schema, attr) {
                return members_attr(sub, kind, value, ctx);
            }
            check_not_read_only(attr, sub, display)?;
            match sub {
                None => apply_attr(doc, ext, attr, kind, value, display),
                Some(sub) => apply_sub(doc, ext, attr, sub, kind, value, display),
            }
        }
        Target::Filtered { ext, attr, filter, sub } => {
            if ext.is_none() && is_group_members(ctx.schema, attr) {
                return members_filtered(filter, sub, kind, ctx);
            }
            check_not_read_only(attr, sub, display)?;
            apply_filtered(doc, ext, attr, filter, sub, kind, value, display, ctx.schema)
        }
    }
}

fn check_not_read_only(attr: &AttributeDef, sub: Option<&AttributeDef>, display: &str) -> ScimResult<()> {
    if attr.mutability == Mutability::ReadOnly || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!("attribute '{display}' is readOnly and cannot be modified")));
    }
    Ok(())
}

fn require_value(value: Option<&Value>, kind: PatchOpKind) -> ScimResult<&Value> {
    value.ok_or_else(|| ScimError::invalid_syntax(format!("'{}' operation requires a 'value'", kind.as_str())))
}

fn immutable_err(display: &str) -> ScimError {
    ScimError::mutability(format!("attribute '{display}' is immutable and already has a value"))
}

/// The attribute container (root, or the extension object) — created when `create`.
fn container<'d>(doc: &'d mut Value, ext: Option<&str>, create: bool) -> Option<&'d mut Map<String, Value>> {
    let root = doc.as_object_mut()?;
    let Some(urn) = ext else { return Some(root) };
    let key = match root.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned() {
        Some(k) => k,
        None if create => {
            root.insert(urn.to_owned(), Value::Object(Map::new()));
            urn.to_owned()
        }
        None => return None,
    };
    let slot = root.get_mut(&key)?;
    if !slot.is_object() {
        if !create {
            return None;
        }
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Removes the attribute (any key spelling) and returns its value when not absent.
fn take_attr(c: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let keys: Vec<String> = c.keys().filter(|k| k.eq_ignore_ascii_case(name)).cloned().collect();
    let mut found = None;
    for k in keys {
        if let Some(v) = c.remove(&k)
            && !is_absent(&v)
        {
            found = Some(v);
        }
    }
    found
}

fn apply_extension(
    doc: &mut Value,
    ext: &SchemaDef,
    kind: PatchOpKind,
    value: Option<&Value>,
    ctx: &mut Ctx<'_, '_>,
) -> ScimResult<()> {
    let value = match kind {
        PatchOpKind::Remove => None,
        _ => match require_value(value, kind)? {
            Value::Null if kind == PatchOpKind::Add => return Ok(()),
            Value::Null => None, // replace with null: remove
            Value::Object(m) => Some(m),
            _ => {
                return Err(ScimError::invalid_value(format!("'{}' must be an object of attributes", ext.id)));
            }
        },
    };
    match value {
        None => {
            if let Some(c) = container(doc, Some(&ext.id), false) {
                for attr in &ext.attributes {
                    if get_ci(c, &attr.name).is_some_and(|v| !is_absent(v)) {
                        if attr.required {
                            return Err(ScimError::mutability(format!("{}:{} is required", ext.id, attr.name)));
                        }
                        if attr.mutability == Mutability::Immutable {
                            return Err(immutable_err(&format!("{}:{}", ext.id, attr.name)));
                        }
                    }
                }
            }
            if let Some(root) = doc.as_object_mut() {
                root.retain(|k, _| !k.eq_ignore_ascii_case(&ext.id));
            }
            Ok(())
        }
        Some(m) => {
            // Replacing the extension replaces all of it (RFC 7644 §3.5.2.3): what the value leaves out goes.
            if kind == PatchOpKind::Replace
                && let Some(root) = doc.as_object_mut()
            {
                root.retain(|k, _| !k.eq_ignore_ascii_case(&ext.id));
            }
            for (k, v) in m {
                // Clients (scim2-tester among them) repeat the extension's `schemas` inside the value.
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                apply_key(doc, &format!("{}:{k}", ext.id), v, kind, ctx)?;
            }
            Ok(())
        }
    }
}

/// `attr` (no sub-attribute, no filter).
fn apply_attr(
    doc: &mut Value,
    ext: Option<&str>,
    attr: &AttributeDef,
    kind: PatchOpKind,
    value: Option<&Value>,
    display: &str,
) -> ScimResult<()> {
    let immutable = attr.mutability == Mutability::Immutable;
    let Some(c) = container(doc, ext, kind != PatchOpKind::Remove) else {
        return Ok(()); // remove on an absent extension: nothing to do
    };
    let cur = take_attr(c, &attr.name);
    let new = match kind {
        PatchOpKind::Add => {
            let nv = coerce_attr(attr, require_value(value, kind)?.clone(), display)?;
            match (cur, nv) {
                (cur, None) => cur,
                (None, nv) => nv,
                (Some(cur), Some(nv)) => Some(if attr.multi_valued {
                    merge_multi(attr, cur, nv)
                } else if attr.is_complex() {
                    let merged = merge_complex(attr, cur.clone(), nv);
                    if immutable && !same_value(attr, &merged, &cur) {
                        return Err(immutable_err(display));
                    }
                    merged
                } else {
                    if immutable && !same_value(attr, &nv, &cur) {
                        return Err(immutable_err(display));
                    }
                    nv
                }),
            }
        }
        PatchOpKind::Replace => {
            let nv = coerce_attr(attr, require_value(value, kind)?.clone(), display)?;
            if immutable
                && let Some(cur) = &cur
                && !nv.as_ref().is_some_and(|n| same_value(attr, n, cur))
            {
                return Err(immutable_err(display));
            }
            match (cur, nv) {
                (Some(cur), Some(nv)) if attr.is_complex() && !attr.multi_valued => Some(merge_complex(attr, cur, nv)),
                (_, nv) => nv,
            }
        }
        PatchOpKind::Remove => {
            if attr.required {
                return Err(ScimError::mutability(format!("attribute '{display}' is required and cannot be removed")));
            }
            if immutable && cur.is_some() {
                return Err(immutable_err(display));
            }
            match (cur, value) {
                (Some(Value::Array(elems)), Some(v)) if attr.multi_valued && !v.is_null() => {
                    // Entra's legacy shape: remove with a value list removes only those values
                    let doomed = match coerce_attr(attr, v.clone(), display)? {
                        Some(Value::Array(d)) => d,
                        _ => vec![],
                    };
                    let kept: Vec<Value> = elems
                        .into_iter()
                        .filter(|e| !doomed.iter().any(|d| same_value(attr, e, d) || same_identity(attr, e, d)))
                        .collect();
                    Some(Value::Array(kept))
                }
                _ => None,
            }
        }
    };
    if let Some(n) = new {
        c.insert(attr.name.clone(), n);
    }
    Ok(())
}

/// `attr.sub` (no filter). On a multi-valued attribute the sub-attribute of every value is targeted.
fn apply_sub(
    doc: &mut Value,
    ext: Option<&str>,
    attr: &AttributeDef,
    sub: &AttributeDef,
    kind: PatchOpKind,
    value: Option<&Value>,
    display: &str,
) -> ScimResult<()> {
    let immutable = attr.mutability == Mutability::Immutable || sub.mutability == Mutability::Immutable;
    let Some(c) = container(doc, ext, kind != PatchOpKind::Remove) else {
        return Ok(());
    };
    let nv = match kind {
        PatchOpKind::Remove => None,
        _ => coerce_attr(sub, require_value(value, kind)?.clone(), display)?,
    };
    let cur = take_attr(c, &attr.name);
    let mut elems: Vec<Value> = match cur {
        None => vec![],
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    };
    if elems.is_empty() {
        if let Some(nv) = nv {
            let mut m = Map::new();
            m.insert(sub.name.clone(), nv);
            if let Some(e) = coerce_element(attr, Value::Object(m), display)? {
                elems.push(e);
            }
        }
    } else {
        for e in &mut elems {
            set_sub(e, sub, nv.clone(), kind, immutable, display)?;
        }
    }
    if !elems.is_empty() {
        let v = if attr.multi_valued { Value::Array(elems) } else { elems.swap_remove(0) };
        c.insert(attr.name.clone(), v);
    }
    Ok(())
}

/// Sets (`Some`), or for replace/remove clears (`None`), `sub` on one complex value.
fn set_sub(
    elem: &mut Value,
    sub: &AttributeDef,
    nv: Option<Value>,
    kind: PatchOpKind,
    immutable: bool,
    display: &str,
) -> ScimResult<()> {
    if !elem.is_object() {
        *elem = Value::Object(Map::new());
    }
    let Some(m) = elem.as_object_mut() else {
        return Ok(());
    };
    let cur = take_attr(m, &sub.name);
    if immutable
        && let Some(c) = &cur
        && !nv.as_ref().is_some_and(|n| same_value(sub, n, c))
    {
        return Err(immutable_err(display));
    }
    let new = match (kind, cur, nv) {
        (PatchOpKind::Remove, _, _) => {
            if sub.required {
                return Err(ScimError::mutability(format!("sub-attribute '{display}' is required")));
            }
            None
        }
        (PatchOpKind::Add, Some(c), Some(n)) if sub.multi_valued => Some(merge_multi(sub, c, n)),
        (PatchOpKind::Add, c, None) => c,
        (_, _, n) => n,
    };
    if let Some(n) = new {
        m.insert(sub.name.clone(), n);
    }
    Ok(())
}

/// `attr[filter]` / `attr[filter].sub`.
#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    doc: &mut Value,
    ext: Option<&str>,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    kind: PatchOpKind,
    value: Option<&Value>,
    display: &str,
    schema: &ResourceSchema,
) -> ScimResult<()> {
    let immutable =
        attr.mutability == Mutability::Immutable || sub.is_some_and(|s| s.mutability == Mutability::Immutable);
    let Some(c) = container(doc, ext, kind != PatchOpKind::Remove) else {
        return Ok(());
    };
    let mut elems: Vec<Value> = match take_attr(c, &attr.name) {
        None => vec![],
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    };
    let mut matched = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        if element_matches(schema, ext, attr, filter, e)? {
            matched.push(i);
        }
    }
    match (kind, sub) {
        (PatchOpKind::Remove, None) => remove_matched(&mut elems, &matched, immutable, display)?,
        (PatchOpKind::Remove, Some(sub)) => {
            for &i in &matched {
                set_sub(&mut elems[i], sub, None, kind, immutable, display)?;
            }
        }
        (_, Some(sub)) => {
            let nv = coerce_attr(sub, require_value(value, kind)?.clone(), display)?;
            if !matched.is_empty() {
                for &i in &matched {
                    set_sub(&mut elems[i], sub, nv.clone(), kind, immutable, display)?;
                }
            } else if let Some(nv) = nv {
                // Entra: `emails[type eq "work"].value` for a value that does not exist yet
                let mut m = eq_element(attr, filter).ok_or_else(|| no_match(display))?;
                m.retain(|k, _| !k.eq_ignore_ascii_case(&sub.name));
                m.insert(sub.name.clone(), nv);
                if let Some(e) = coerce_element(attr, Value::Object(m), display)? {
                    elems.push(e);
                }
            }
        }
        (_, None) => {
            let raw = match require_value(value, kind)? {
                Value::Array(a) if a.len() == 1 => a[0].clone(),
                v => v.clone(),
            };
            let nv = coerce_element(attr, raw, display)?;
            let terms = eq_element(attr, filter);
            match nv {
                // replace with null: the matched values are removed
                None if kind == PatchOpKind::Replace => remove_matched(&mut elems, &matched, immutable, display)?,
                None => {}
                Some(nv) if !matched.is_empty() => {
                    for &i in &matched {
                        let new = if kind == PatchOpKind::Add {
                            merge_objects(elems[i].clone(), nv.clone())
                        } else {
                            match &terms {
                                Some(t) => merge_objects(Value::Object(t.clone()), nv.clone()),
                                None => nv.clone(),
                            }
                        };
                        if immutable && !same_value(attr, &new, &elems[i]) {
                            return Err(immutable_err(display));
                        }
                        elems[i] = new;
                    }
                }
                Some(nv) => {
                    let t = terms.ok_or_else(|| no_match(display))?;
                    let merged = merge_objects(Value::Object(t), nv);
                    if let Some(e) = coerce_element(attr, merged, display)? {
                        elems.push(e);
                    }
                }
            }
        }
    }
    if !elems.is_empty() {
        c.insert(attr.name.clone(), Value::Array(elems));
    }
    Ok(())
}

fn no_match(display: &str) -> ScimError {
    ScimError::no_target(format!("no value matches the filter of '{display}'"))
}

/// A new element built from the `eq` terms of a conjunctive filter on sub-attributes
/// (`type eq "work"` → `{"type": "work"}`); `None` when the filter is anything else.
fn eq_element(attr: &AttributeDef, filter: &Filter) -> Option<Map<String, Value>> {
    let terms = eq_terms(filter)?;
    let mut m = Map::new();
    for (name, v) in terms {
        let sub = attr.sub(&name)?;
        if sub.mutability == Mutability::ReadOnly {
            return None;
        }
        m.insert(sub.name.clone(), v);
    }
    (!m.is_empty()).then_some(m)
}

/// Whether one element of `attr` matches the value filter (inner paths relative to the element).
fn element_matches(
    schema: &ResourceSchema,
    ext: Option<&str>,
    attr: &AttributeDef,
    filter: &Filter,
    elem: &Value,
) -> ScimResult<bool> {
    let path = AttrPath { urn: ext.map(str::to_owned), name: attr.name.clone(), sub: None };
    filter::matches_element(filter, elem, &path, schema)
}

/// Merges `new`'s keys into `base` (both complex values); `new` wins.
fn merge_objects(base: Value, new: Value) -> Value {
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
fn merge_complex(attr: &AttributeDef, cur: Value, new: Value) -> Value {
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
fn merge_multi(attr: &AttributeDef, cur: Value, new: Value) -> Value {
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
fn same_identity(attr: &AttributeDef, existing: &Value, new: &Value) -> bool {
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

/// After each op: when a value newly has `primary: true`, the others lose it (RFC 7643 §2.4).
fn fix_primaries(before: &Value, after: &mut Value, schema: &ResourceSchema) -> ScimResult<()> {
    let mut scopes: Vec<(Option<&str>, &[AttributeDef])> = vec![(None, &schema.core.attributes)];
    for (ext, _) in &schema.extensions {
        scopes.push((Some(ext.id.as_str()), &ext.attributes));
    }
    for (ext, attrs) in scopes {
        for attr in attrs.iter().filter(|a| a.multi_valued && a.sub("primary").is_some()) {
            let old_primaries: Vec<&Value> = match current_value(before, ext, attr, None) {
                Some(Value::Array(a)) => a.iter().filter(|e| is_primary(e)).collect(),
                _ => vec![],
            };
            let Some(c) = container(after, ext, false) else {
                continue;
            };
            let Some(Value::Array(elems)) = c.get_mut(&attr.name) else {
                continue;
            };
            let primaries: Vec<usize> = (0..elems.len()).filter(|&i| is_primary(&elems[i])).collect();
            if primaries.len() <= 1 {
                continue;
            }
            let fresh: Vec<usize> =
                primaries.iter().copied().filter(|&i| !old_primaries.iter().any(|o| **o == elems[i])).collect();
            if fresh.len() != 1 {
                return Err(ScimError::invalid_value(format!(
                    "'{}': at most one value may have primary set to true",
                    attr.name
                )));
            }
            for i in primaries {
                if i != fresh[0]
                    && let Some(m) = elems[i].as_object_mut()
                {
                    m.insert("primary".to_owned(), Value::Bool(false));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Group members
// ---------------------------------------------------------------------------------------------------

fn members_attr(
    sub: Option<&AttributeDef>,
    kind: PatchOpKind,
    value: Option<&Value>,
    ctx: &mut Ctx<'_, '_>,
) -> ScimResult<()> {
    if let Some(s) = sub {
        return Err(ScimError::invalid_path(format!(
            "'members.{}' cannot be patched; target 'members' or 'members[value eq \"id\"]'",
            s.name
        )));
    }
    let change = match kind {
        PatchOpKind::Add => {
            let refs = parse_member_refs(require_value(value, kind)?)?;
            if refs.is_empty() {
                return Ok(());
            }
            MemberChange::Add(refs)
        }
        PatchOpKind::Replace => MemberChange::Replace(parse_member_refs(require_value(value, kind)?)?),
        PatchOpKind::Remove => match value {
            None | Some(Value::Null) => MemberChange::RemoveAll,
            Some(v) => {
                let ids: Vec<String> = parse_member_refs(v)?.into_iter().map(|r| r.value).collect();
                if ids.is_empty() {
                    return Ok(());
                }
                MemberChange::Remove(ids)
            }
        },
    };
    ctx.out.member_changes.push(change);
    Ok(())
}

fn members_filtered(
    filter: &Filter,
    sub: Option<&AttributeDef>,
    kind: PatchOpKind,
    ctx: &mut Ctx<'_, '_>,
) -> ScimResult<()> {
    if kind != PatchOpKind::Remove || sub.is_some() {
        return Err(ScimError::invalid_path(
            "a value filter on 'members' is only supported in a remove operation without a sub-attribute",
        ));
    }
    let ids = value_eq_ids(filter)
        .ok_or_else(|| ScimError::invalid_filter("only value eq filters are supported on members"))?;
    ctx.out.member_changes.push(MemberChange::Remove(ids));
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Filter adapters: the only code that looks inside `Filter`.
// ---------------------------------------------------------------------------------------------------

/// `a eq x and b eq y` → [(a, x), (b, y)] (simple relative paths only).
fn eq_terms(f: &Filter) -> Option<Vec<(String, Value)>> {
    match f {
        Filter::And(a, b) => {
            let mut t = eq_terms(a)?;
            t.extend(eq_terms(b)?);
            Some(t)
        }
        Filter::Compare(path, filter::CompareOp::Eq, value) if path.urn.is_none() && path.sub.is_none() => {
            Some(vec![(path.name.clone(), value.clone())])
        }
        _ => None,
    }
}

/// `value eq "a" or value eq "b"` → ["a", "b"].
fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Or(a, b) => {
            let mut t = value_eq_ids(a)?;
            t.extend(value_eq_ids(b)?);
            Some(t)
        }
        Filter::Compare(path, filter::CompareOp::Eq, Value::String(s))
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::resource::tests::{CUSTOM, custom_schema, group_schema, user_schema};
    use crate::scim::resource::{WriteMode, normalize};
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
    }

    fn patch(doc: &Value, ops: Value, schema: &ResourceSchema) -> ScimResult<(Value, PatchOutcome)> {
        let ops = parse_patch(&body(ops))?;
        let mut d = doc.clone();
        let out = apply_patch(&mut d, &ops, schema)?;
        Ok((d, out))
    }

    fn user_patch(doc: &Value, ops: Value) -> ScimResult<Value> {
        let (d, out) = patch(doc, ops, &user_schema())?;
        assert!(out.member_changes.is_empty());
        Ok(d)
    }

    fn group_patch(ops: Value) -> ScimResult<Vec<MemberChange>> {
        let doc = group_doc();
        let (d, out) = patch(&doc, ops, &group_schema())?;
        assert!(d.get("members").is_none());
        Ok(out.member_changes)
    }

    fn err(r: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>, String) {
        let e = r.expect_err("expected an error");
        (e.status, e.scim_type, e.detail)
    }

    fn user_doc() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENT],
            "id": "u1",
            "externalId": "ext-1",
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"1\""},
            "userName": "ann@example.com",
            "name": {"familyName": "Smith", "givenName": "Ann"},
            "displayName": "Ann Smith",
            "active": true,
            "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
            "addresses": [{"streetAddress": "1 Main St", "type": "work"}],
            ENT: {"department": "Eng", "manager": {"value": "m1"}}
        })
    }

    fn group_doc() -> Value {
        json!({"schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Group One", "meta": {"resourceType": "Group"}})
    }

    fn ref_(id: &str) -> MemberRef {
        MemberRef { value: id.into(), display: None, kind: None }
    }

    // ---- parse_patch -------------------------------------------------------------------------------

    #[test]
    fn parse_accepts_entra_casing() {
        let b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "operations": [
            {"OP": "Add", "Path": "nickName", "Value": "x"},
            {"op": "Replace", "value": {"active": false}},
            {"op": "Remove", "path": "emails[type eq \"work\"]"}]});
        let ops = parse_patch(&b).expect("ok");
        assert_eq!(
            ops.iter().map(|o| o.op).collect::<Vec<_>>(),
            vec![PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
        );
        assert!(ops[1].path.is_none());
        assert!(matches!(ops[2].path, Some(PatchPath::ValuePath { .. })));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(err(parse_patch(&json!([]))).1, Some(ScimType::InvalidSyntax));
        assert_eq!(
            err(parse_patch(&json!({"Operations": [{"op": "add", "value": {}}]}))).1,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            err(parse_patch(&json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "add", "value": {}}]}))).1,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(err(parse_patch(&body(json!([])))).1, Some(ScimType::InvalidSyntax));
        assert_eq!(err(parse_patch(&body(json!({"op": "add"})))).1, Some(ScimType::InvalidSyntax));
        let (_, t, d) = err(parse_patch(&body(json!([{"op": "merge", "path": "x", "value": 1}]))));
        assert_eq!(t, Some(ScimType::InvalidSyntax));
        assert!(d.contains("merge"), "{d}");
        assert_eq!(
            err(parse_patch(&body(json!([{"op": "add", "path": "nickName"}])))).1,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(err(parse_patch(&body(json!([{"op": "remove"}])))).1, Some(ScimType::NoTarget));
        assert_eq!(
            err(parse_patch(&body(json!([{"op": "remove", "path": "emails[type eq"}])))).1,
            Some(ScimType::InvalidPath)
        );
        assert_eq!(err(parse_patch(&body(json!([{"op": "remove", "path": 5}])))).1, Some(ScimType::InvalidPath));
        let many: Vec<Value> = (0..=MAX_OPERATIONS).map(|_| json!({"op": "remove", "path": "nickName"})).collect();
        assert_eq!(err(parse_patch(&body(Value::Array(many)))).1, Some(ScimType::InvalidValue));
    }

    // ---- Entra user shapes -------------------------------------------------------------------------

    #[test]
    fn entra_disable_user_bool_and_string() {
        for v in [json!(false), json!("False"), json!("false")] {
            let d = user_patch(&user_doc(), json!([{"op": "Replace", "path": "active", "value": v}])).expect("ok");
            assert_eq!(d["active"], json!(false));
        }
        let d = user_patch(&user_doc(), json!([{"op": "Replace", "value": {"active": "False"}}])).expect("ok");
        assert_eq!(d["active"], json!(false));
        // Add on a singular attribute works like replace
        let d = user_patch(&user_doc(), json!([{"op": "Add", "path": "active", "value": "False"}])).expect("ok");
        assert_eq!(d["active"], json!(false));
        assert_eq!(
            err(user_patch(&user_doc(), json!([{"op": "Replace", "path": "active", "value": "nope"}]))).1,
            Some(ScimType::InvalidValue)
        );
    }

    #[test]
    fn entra_single_valued_and_sub_attribute_updates() {
        let d = user_patch(
            &user_doc(),
            json!([
                {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Ryan"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": "nickName", "value": "Babs"}
            ]),
        )
        .expect("ok");
        assert_eq!(d["userName"], json!("5b50642d@testuser.com"));
        assert_eq!(d["name"], json!({"familyName": "updatedFamilyName", "givenName": "Ryan"}));
        assert_eq!(d["nickName"], json!("Babs"));
        // untouched parts and metadata survive; key order is canonical
        assert_eq!(d["id"], json!("u1"));
        assert_eq!(d["meta"], user_doc()["meta"]);
        let keys: Vec<&str> = d.as_object().expect("obj").keys().map(String::as_str).collect();
        assert_eq!(&keys[..4], &["schemas", "id", "externalId", "meta"]);
    }

    #[test]
    fn entra_work_email_value_path() {
        // existing work email: its value is replaced (Entra sends replace; some tenants add)
        for op in ["Replace", "Add"] {
            let d = user_patch(
                &user_doc(),
                json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
            )
            .expect("ok");
            assert_eq!(d["emails"], json!([{"value": "new@example.com", "type": "work", "primary": true}]));
        }
        // no such element: a new one is built from the filter
        let mut doc = user_doc();
        doc.as_object_mut().map(|m| m.remove("emails"));
        for op in ["Add", "Replace"] {
            let d = user_patch(
                &doc,
                json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]),
            )
            .expect("ok");
            assert_eq!(d["emails"], json!([{"value": "w@example.com", "type": "work"}]));
        }
        let d = user_patch(
            &user_doc(),
            json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 556"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Town"},
                {"op": "Replace", "path": "addresses[type eq \"home\"].locality", "value": "Home Town"},
                {"op": "Add", "path": "emails[type eq \"work\"].primary", "value": "True"}
            ]),
        )
        .expect("ok");
        assert_eq!(
            d["phoneNumbers"],
            json!([{"value": "+1 555", "type": "mobile"}, {"value": "+1 556", "type": "work"}])
        );
        assert_eq!(
            d["addresses"],
            json!([{"formatted": "1 Main St, Town", "streetAddress": "1 Main St", "type": "work"},
                   {"locality": "Home Town", "type": "home"}])
        );
        assert_eq!(d["emails"][0]["primary"], json!(true));
        // a filter that cannot build an element, with no match → noTarget
        let (_, t, _) = err(user_patch(
            &user_doc(),
            json!([{"op": "Replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
        ));
        assert_eq!(t, Some(ScimType::NoTarget));
        // unknown sub-attribute in the filter → invalidFilter
        assert_eq!(
            err(user_patch(
                &user_doc(),
                json!([{"op": "Replace", "path": "emails[kind eq \"x\"].value", "value": "v"}])
            ))
            .1,
            Some(ScimType::InvalidFilter)
        );
    }

    #[test]
    fn entra_enterprise_extension_paths() {
        let mut doc = user_doc();
        doc.as_object_mut().map(|m| m.remove(ENT));
        doc["schemas"] = json!([USER_SCHEMA]);
        let d = user_patch(&doc, json!([
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-2"}
        ]))
        .expect("ok");
        assert_eq!(d[ENT], json!({"department": "Sales", "manager": {"value": "m-2"}}));
        assert_eq!(d["schemas"], json!([USER_SCHEMA, ENT]), "schemas gains the extension");
        // manager as one-element array with $ref null; stale $ref must not survive a new value
        let mut d2 = d.clone();
        d2[ENT]["manager"] = json!({"value": "m-2", "$ref": "../Users/m-2"});
        let d3 = user_patch(
            &d2,
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": [{"$ref": null, "value": "m-3"}]}]),
        )
        .expect("ok");
        assert_eq!(d3[ENT]["manager"], json!({"value": "m-3"}));
        let d4 = user_patch(
            &d2,
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "value": "m-4"}]),
        )
        .expect("ok");
        assert_eq!(d4[ENT]["manager"]["value"], json!("m-4"));
        let d5 = user_patch(
            &d2,
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": {"value": "m-5"}}]),
        )
        .expect("ok");
        assert_eq!(d5[ENT]["manager"], json!({"value": "m-5"}));
        // removing everything from the extension drops it from the doc and from schemas
        let d6 = user_patch(
            &d,
            json!([
                {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                 "value": [{"value": "m-2"}]},
                {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
            ]),
        )
        .expect("ok");
        assert!(d6.get(ENT).is_none());
        assert_eq!(d6["schemas"], json!([USER_SCHEMA]));
        // whole extension by URN
        let d7 = user_patch(&user_doc(), json!([{"op": "remove", "path": ENT}])).expect("ok");
        assert!(d7.get(ENT).is_none());
        // unknown extension attribute
        let (_, t, d) = err(user_patch(
            &user_doc(),
            json!([{"op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize", "value": "9"}]),
        ));
        assert_eq!(t, Some(ScimType::InvalidPath));
        assert!(d.contains("shoeSize"), "{d}");
    }

    #[test]
    fn entra_pathless_values_with_dotted_and_urn_keys() {
        // Entra (SCIM-compliant mode): path-less replace whose keys are value paths
        let d = user_patch(
            &user_doc(),
            json!([{"op": "replace", "value": {
                "displayName": "Pvlo",
                "emails[type eq \"work\"].value": "TestBcwqnm@test.microsoft.com",
                "name.givenName": "Pvlo",
                "name.familyName": "Tyv",
                "phoneNumbers[type eq \"work\"].value": "8334374",
                "addresses[type eq \"work\"].streetAddress": "2 Side St",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Y1"
            }}]),
        )
        .expect("ok");
        assert_eq!(d["displayName"], json!("Pvlo"));
        assert_eq!(d["emails"], json!([{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}]));
        assert_eq!(d["name"], json!({"familyName": "Tyv", "givenName": "Pvlo"}));
        assert_eq!(d["phoneNumbers"], json!([{"value": "8334374", "type": "work"}]));
        assert_eq!(d["addresses"], json!([{"streetAddress": "2 Side St", "type": "work"}]));
        assert_eq!(d[ENT]["employeeNumber"], json!("Y1"));
        // a malformed key is an invalidPath naming it
        let (_, t, detail) = err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"emails[type eq": "x"}}])));
        assert_eq!(t, Some(ScimType::InvalidPath));
        assert!(detail.contains("emails[type eq"), "{detail}");
        let d = user_patch(
            &user_doc(),
            json!([{"op": "Replace", "value": {
                "name.givenName": "Gina",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701",
                "displayName": "Gina Smith",
                "ACTIVE": "True",
                "id": "u1"
            }}]),
        )
        .expect("ok");
        assert_eq!(d["name"], json!({"familyName": "Smith", "givenName": "Gina"}));
        assert_eq!(d[ENT]["employeeNumber"], json!("701"));
        assert_eq!(d[ENT]["department"], json!("Eng"));
        assert_eq!(d["displayName"], json!("Gina Smith"));
        let d = user_patch(&user_doc(), json!([{"op": "add", "value": {ENT: {"costCenter": "CC1"}, "title": "Boss"}}]))
            .expect("ok");
        assert_eq!(d[ENT], json!({"costCenter": "CC1", "department": "Eng", "manager": {"value": "m1"}}));
        assert_eq!(d["title"], json!("Boss"));
        // changing a readOnly attribute path-less is a mutability error
        assert_eq!(
            err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"id": "other"}}]))).1,
            Some(ScimType::Mutability)
        );
        // unknown key
        let (_, t, d) = err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"favouriteColour": "red"}}])));
        assert_eq!(t, Some(ScimType::InvalidPath));
        assert!(d.contains("favouriteColour"));
        assert_eq!(
            err(user_patch(&user_doc(), json!([{"op": "replace", "value": "x"}]))).1,
            Some(ScimType::InvalidSyntax)
        );
    }

    #[test]
    fn entra_roles_with_string_primary() {
        let d = user_patch(
            &user_doc(),
            json!([{"op": "Add", "path": "roles", "value": [
            {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}]),
        )
        .expect("ok");
        assert_eq!(d["roles"], json!([{"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true}]));
    }

    // ---- Entra group shapes ------------------------------------------------------------------------

    #[test]
    fn entra_group_member_operations() {
        assert_eq!(
            group_patch(
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}])
            )
            .expect("ok"),
            vec![MemberChange::Add(vec![ref_("f648f8d5ea4e4cd38e9c")])]
        );
        assert_eq!(
            group_patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "a2c7e3a5"}, {"value": "b"}]}])).expect("ok"),
            vec![MemberChange::Remove(vec!["a2c7e3a5".into(), "b".into()])]
        );
        assert_eq!(
            group_patch(json!([{"op": "Remove", "path": "members"}])).expect("ok"),
            vec![MemberChange::RemoveAll]
        );
        assert_eq!(
            group_patch(json!([{"op": "remove", "path": "members[value eq \"89bb1940\"]"}])).expect("ok"),
            vec![MemberChange::Remove(vec!["89bb1940".into()])]
        );
        assert_eq!(
            group_patch(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}])).expect("ok"),
            vec![MemberChange::Remove(vec!["a".into(), "b".into()])]
        );
        assert_eq!(
            group_patch(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])).map_err(|e| e.scim_type),
            Err(Some(ScimType::InvalidFilter))
        );
        assert_eq!(
            group_patch(json!([{"op": "remove", "path": "members[value eq \"a\" and type eq \"User\"]"}]))
                .map_err(|e| e.scim_type),
            Err(Some(ScimType::InvalidFilter))
        );
        // path-less add/replace with members, and a displayName change, in op order
        let (d, out) = patch(
            &group_doc(),
            json!([
                {"op": "Replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "value": {"members": [{"value": "u2", "display": "U2", "type": "User"}]}},
                {"op": "replace", "value": {"members": [{"value": "u3"}], "displayName": "Again"}},
                {"op": "replace", "path": "members", "value": []}
            ]),
            &group_schema(),
        )
        .expect("ok");
        assert_eq!(d["displayName"], json!("Again"));
        assert!(d.get("members").is_none());
        assert_eq!(
            out.member_changes,
            vec![
                MemberChange::Add(vec![MemberRef {
                    value: "u2".into(),
                    display: Some("U2".into()),
                    kind: Some("User".into())
                }]),
                MemberChange::Replace(vec![ref_("u3")]),
                MemberChange::Replace(vec![]),
            ]
        );
        assert_eq!(
            group_patch(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]))
                .map_err(|e| e.scim_type),
            Err(Some(ScimType::InvalidValue))
        );
        assert_eq!(
            group_patch(json!([{"op": "add", "path": "members", "value": [{"value": 5}]}])).map_err(|e| e.scim_type),
            Err(Some(ScimType::InvalidValue))
        );
        // displayName is required
        assert_eq!(
            group_patch(json!([{"op": "remove", "path": "displayName"}])).map_err(|e| e.scim_type),
            Err(Some(ScimType::Mutability))
        );
    }

    // ---- RFC 7644 §3.5.2 examples ------------------------------------------------------------------

    #[test]
    fn rfc_add_members_with_display_and_ref() {
        let out = group_patch(json!([{"op": "add", "path": "members", "value": [{
            "display": "Babs Jensen",
            "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
            "value": "2819c223-7f76-453a-919d-413861904646"}]}]))
        .expect("ok");
        assert_eq!(
            out,
            vec![MemberChange::Add(vec![MemberRef {
                value: "2819c223-7f76-453a-919d-413861904646".into(),
                display: Some("Babs Jensen".into()),
                kind: None
            }])]
        );
    }

    #[test]
    fn rfc_replace_single_member_by_remove_then_add() {
        let out = group_patch(json!([
            {"op": "remove", "path": "members[value eq \"2819c223-7f76-...413861904646\"]"},
            {"op": "add", "path": "members", "value": [{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d"}]}
        ]))
        .expect("ok");
        assert_eq!(
            out,
            vec![
                MemberChange::Remove(vec!["2819c223-7f76-...413861904646".into()]),
                MemberChange::Add(vec![MemberRef {
                    value: "08e1d05d".into(),
                    display: Some("James Smith".into()),
                    kind: None
                }]),
            ]
        );
    }

    #[test]
    fn rfc_pathless_add() {
        let d = user_patch(
            &user_doc(),
            json!([{"op": "add", "value": {
            "emails": [{"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"}}]),
        )
        .expect("ok");
        assert_eq!(d["nickName"], json!("Babs"));
        assert_eq!(
            d["emails"],
            json!([{"value": "ann@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}])
        );
    }

    #[test]
    fn rfc_remove_with_complex_filter() {
        let mut doc = user_doc();
        doc["emails"] = json!([{"value": "a@example.com", "type": "work"}, {"value": "b@example.org", "type": "work"}, {"value": "c@example.com", "type": "home"}]);
        let d = user_patch(
            &doc,
            json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
        )
        .expect("ok");
        assert_eq!(
            d["emails"],
            json!([{"value": "b@example.org", "type": "work"}, {"value": "c@example.com", "type": "home"}])
        );
        // removing a sub-attribute of matched values, and the whole attribute
        let d = user_patch(&doc, json!([{"op": "remove", "path": "emails[type eq \"work\"].type"}])).expect("ok");
        assert_eq!(
            d["emails"],
            json!([{"value": "a@example.com"}, {"value": "b@example.org"}, {"value": "c@example.com", "type": "home"}])
        );
        let d = user_patch(&doc, json!([{"op": "remove", "path": "emails"}])).expect("ok");
        assert!(d.get("emails").is_none());
        // removing what does not exist is a no-op
        let d = user_patch(
            &doc,
            json!([{"op": "remove", "path": "emails[type eq \"other\"]"}, {"op": "remove", "path": "nickName"}]),
        )
        .expect("ok");
        assert_eq!(d["emails"], doc["emails"]);
    }

    #[test]
    fn rfc_replace_multi_valued_and_filtered_element() {
        let d = user_patch(
            &user_doc(),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "x@y", "type": "home"}]}]),
        )
        .expect("ok");
        assert_eq!(d["emails"], json!([{"value": "x@y", "type": "home"}]));
        let d = user_patch(&user_doc(), json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
            "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
            "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true}}]))
        .expect("ok");
        assert_eq!(
            d["addresses"],
            json!([{"formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "streetAddress": "911 Universal City Plaza",
                    "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "type": "work", "primary": true}])
        );
        let d = user_patch(&user_doc(), json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]))
            .expect("ok");
        assert_eq!(d["addresses"], json!([{"streetAddress": "1010 Broadway Ave", "type": "work"}]));
        // the element filter's eq terms are kept when the replacement omits them
        let d = user_patch(
            &user_doc(),
            json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"locality": "X"}}]),
        )
        .expect("ok");
        assert_eq!(d["addresses"], json!([{"locality": "X", "type": "work"}]));
    }

    #[test]
    fn rfc_pathless_replace() {
        let d = user_patch(&user_doc(), json!([{"op": "replace", "value": {
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
            "nickname": "Babs"}}]))
        .expect("ok");
        assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
        assert_eq!(d["nickName"], json!("Babs"));
    }

    // ---- mutability, required, primary, atomicity, idempotence --------------------------------------

    #[test]
    fn read_only_required_and_immutable() {
        for (op, path) in [
            ("replace", "id"),
            ("remove", "meta"),
            ("add", "groups"),
            ("replace", "meta.version"),
            ("replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName"),
        ] {
            let r = user_patch(&user_doc(), json!([{"op": op, "path": path, "value": "x"}]));
            assert_eq!(err(r).1, Some(ScimType::Mutability), "{op} {path}");
        }
        assert_eq!(
            err(user_patch(&user_doc(), json!([{"op": "remove", "path": "userName"}]))).1,
            Some(ScimType::Mutability)
        );
        // replace with null leaves it missing → required check
        let (_, t, d) = err(user_patch(&user_doc(), json!([{"op": "replace", "path": "userName", "value": null}])));
        assert_eq!((t, d.as_str()), (Some(ScimType::InvalidValue), "userName is required"));
        let s = custom_schema();
        let doc = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "x"});
        let (d, _) = patch(&doc, json!([{"op": "add", "path": format!("{CUSTOM}:locker"), "value": "L1"}]), &s)
            .expect("first set ok");
        assert_eq!(d[CUSTOM]["locker"], json!("L1"));
        for (op, v) in [("replace", json!("L2")), ("add", json!("L2")), ("remove", Value::Null)] {
            let r = patch(&d, json!([{"op": op, "path": format!("{CUSTOM}:locker"), "value": v}]), &s);
            assert_eq!(err(r).1, Some(ScimType::Mutability), "{op}");
        }
        assert!(patch(&d, json!([{"op": "replace", "path": format!("{CUSTOM}:locker"), "value": "L1"}]), &s).is_ok());
    }

    #[test]
    fn primary_moves_to_the_new_value() {
        let d = user_patch(
            &user_doc(),
            json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home", "primary": true}]}]),
        )
        .expect("ok");
        assert_eq!(
            d["emails"],
            json!([{"value": "ann@example.com", "type": "work", "primary": false}, {"value": "b@x", "type": "home", "primary": true}])
        );
        let d = user_patch(&d, json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true}]))
            .expect("ok");
        assert_eq!(d["emails"][0]["primary"], json!(true));
        assert_eq!(d["emails"][1]["primary"], json!(false));
        let r = user_patch(
            &user_doc(),
            json!([{"op": "add", "path": "emails", "value": [
            {"value": "b@x", "primary": true}, {"value": "c@x", "primary": true}]}]),
        );
        assert_eq!(err(r).1, Some(ScimType::InvalidValue));
    }

    #[test]
    fn atomic_on_failure() {
        let doc = user_doc();
        let ops = parse_patch(&body(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "id", "value": "nope"}
        ])))
        .expect("parse");
        let mut d = doc.clone();
        let e = apply_patch(&mut d, &ops, &user_schema()).expect_err("second op fails");
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        assert!(e.detail.starts_with("Operations[1]"), "{}", e.detail);
        assert_eq!(d, doc);
        // member changes of a failed request are not returned either
        let mut g = group_doc();
        let ops = parse_patch(&body(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": "displayName"}
        ])))
        .expect("parse");
        assert!(apply_patch(&mut g, &ops, &group_schema()).is_err());
        assert_eq!(g, group_doc());
    }

    #[test]
    fn add_to_multi_valued_is_idempotent() {
        let op = json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home"}]}]);
        let once = user_patch(&user_doc(), op.clone()).expect("ok");
        let twice = user_patch(&once, op).expect("ok");
        assert_eq!(once, twice);
        // same value and type (different case, extra sub-attribute) merges instead of duplicating
        let d = user_patch(
            &once,
            json!([{"op": "add", "path": "emails", "value": {"value": "B@X", "type": "HOME", "primary": true}}]),
        )
        .expect("ok");
        assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
        assert_eq!(d["emails"][1]["primary"], json!(true));
        assert_eq!(d["emails"][0]["primary"], json!(false));
        // same value but another type is a different value
        let d = user_patch(&once, json!([{"op": "add", "path": "emails", "value": {"value": "b@x", "type": "work"}}]))
            .expect("ok");
        assert_eq!(d["emails"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn legacy_remove_value_list_on_other_multi_valued_attributes() {
        let mut doc = user_doc();
        doc["emails"] = json!([{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]);
        let d = user_patch(&doc, json!([{"op": "Remove", "path": "emails", "value": [{"value": "b@x"}]}])).expect("ok");
        assert_eq!(d["emails"], json!([{"value": "a@x", "type": "work"}]));
    }

    #[test]
    fn unknown_paths_are_invalid_path() {
        for p in [
            "favouriteColour",
            "name.nickname",
            "urn:example:unknown:2.0:User:x",
            "emails[type eq \"work\"].colour",
            "userName[value eq \"x\"]",
        ] {
            let r = user_patch(&user_doc(), json!([{"op": "replace", "path": p, "value": "x"}]));
            assert_eq!(err(r).1, Some(ScimType::InvalidPath), "{p}");
        }
    }

    // ---- property test ------------------------------------------------------------------------------

    mod prop {
        use super::*;
        use proptest::prelude::*;

        const PATHS: &[&str] = &[
            "userName",
            "displayName",
            "nickName",
            "active",
            "name",
            "name.givenName",
            "name.familyName",
            "emails",
            "emails.value",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[type eq \"home\"].primary",
            "emails[value co \"x\"].type",
            "phoneNumbers[type eq \"mobile\"].value",
            "roles",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "id",
            "groups",
        ];

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                Just(json!("x@y")),
                Just(json!("True")),
                Just(json!(false)),
                Just(json!(3)),
                Just(json!("work")),
                Just(json!({"value": "v1"})),
                Just(json!({"givenName": "G"})),
                Just(json!([{"value": "a@x", "type": "work", "primary": true}])),
                Just(json!([{"value": "b@x", "type": "home", "primary": "true"}, {"value": "c@x"}])),
                Just(json!([{"$ref": null, "value": "m"}])),
                Just(json!({"department": "D", "manager": "m2"})),
                Just(json!({"userName": "u2", "name.givenName": "H", "emails": {"value": "d@x", "type": "work"}})),
                Just(json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "E"})),
                Just(json!([])),
            ]
        }

        /// (path, values that fit it) — a path of `None` is a path-less operation.
        fn typed() -> Vec<(Option<&'static str>, Vec<Value>)> {
            vec![
                (Some("displayName"), vec![json!("D"), json!("E"), Value::Null]),
                (Some("nickName"), vec![json!("N")]),
                (Some("active"), vec![json!("True"), json!(false), json!("false")]),
                (Some("name"), vec![json!({"givenName": "G"}), json!({"familyName": "F", "formatted": "x"})]),
                (Some("name.givenName"), vec![json!("G2"), Value::Null]),
                (
                    Some("emails"),
                    vec![
                        json!([{"value": "a@x", "type": "work", "primary": true}]),
                        json!([{"value": "b@x", "type": "home", "primary": "true"}, {"value": "c@x"}]),
                        json!({"value": "d@x", "type": "other"}),
                    ],
                ),
                (Some("emails[type eq \"work\"].value"), vec![json!("w@x"), json!("w2@x")]),
                (Some("emails[type eq \"home\"].primary"), vec![json!(true), json!("True")]),
                (Some("emails[type eq \"work\"]"), vec![json!({"value": "w3@x", "primary": true})]),
                (Some("phoneNumbers[type eq \"mobile\"].value"), vec![json!("+1")]),
                (Some("roles"), vec![json!([{"value": "Admin", "type": "t", "primary": "True"}])]),
                (Some(ENT), vec![json!({"department": "D", "manager": "m2"}), json!({"costCenter": "C"})]),
                (
                    Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                    vec![json!("Sales"), Value::Null],
                ),
                (
                    Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
                    vec![json!("m3"), json!([{"$ref": null, "value": "m4"}]), json!({"value": "m5"})],
                ),
                (Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"), vec![json!("m6")]),
                (
                    None,
                    vec![
                        json!({"userName": "u2", "name.givenName": "H", "emails": {"value": "d@x", "type": "work"}}),
                        json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "E", "active": "False"}),
                        json!({ENT: {"employeeNumber": "7"}, "id": "u1"}),
                        json!({"emails[type eq \"work\"].value": "k@x", "name.familyName": "F2"}),
                    ],
                ),
            ]
        }

        fn typed_op() -> impl Strategy<Value = Value> {
            let table = typed();
            let n = table.len();
            (
                prop_oneof![3 => Just("Add"), 3 => Just("replace"), 2 => Just("Remove")],
                0..n,
                any::<proptest::sample::Index>(),
                any::<bool>(),
            )
                .prop_map(move |(op, i, vi, with_value)| {
                    let (path, values) = &table[i];
                    let mut m = Map::new();
                    m.insert("op".into(), json!(op));
                    if let Some(p) = path {
                        m.insert("path".into(), json!(p));
                    } else if op == "Remove" {
                        m.insert("path".into(), json!("nickName"));
                    }
                    if op != "Remove" || (with_value && path.is_some()) {
                        m.insert("value".into(), vi.get(values).clone());
                    }
                    Value::Object(m)
                })
        }

        fn random_op() -> impl Strategy<Value = Value> {
            (
                prop_oneof![Just("Add"), Just("replace"), Just("Remove")],
                proptest::option::of(0..PATHS.len()),
                proptest::option::of(value()),
            )
                .prop_map(|(op, path, value)| {
                    let mut m = Map::new();
                    m.insert("op".into(), json!(op));
                    if let Some(p) = path {
                        m.insert("path".into(), json!(PATHS[p]));
                    }
                    if let Some(v) = value {
                        m.insert("value".into(), v);
                    }
                    Value::Object(m)
                })
        }

        fn op() -> impl Strategy<Value = Value> {
            prop_oneof![5 => typed_op(), 1 => random_op()]
        }

        /// The generator must exercise the success path, not just errors.
        #[test]
        fn generator_reaches_successful_patches() {
            use proptest::strategy::ValueTree;
            use proptest::test_runner::TestRunner;
            let schema = user_schema();
            let mut runner = TestRunner::deterministic();
            let strategy = proptest::collection::vec(op(), 1..4);
            let (mut ok, mut total) = (0, 0);
            for _ in 0..400 {
                let ops = strategy.new_tree(&mut runner).expect("tree").current();
                total += 1;
                let Ok(parsed) = parse_patch(&body(Value::Array(ops))) else {
                    continue;
                };
                let mut doc = user_doc();
                if apply_patch(&mut doc, &parsed, &schema).is_ok() {
                    ok += 1;
                }
            }
            eprintln!("successful random patches: {ok}/{total}");
            assert!(ok * 5 > total, "only {ok}/{total} random patches succeeded");
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]
            #[test]
            fn random_patches_keep_documents_valid(ops in proptest::collection::vec(op(), 1..8)) {
                let schema = user_schema();
                let start = user_doc();
                let parsed = match parse_patch(&body(Value::Array(ops))) {
                    Ok(p) => p,
                    Err(e) => { prop_assert_eq!(e.status, 400); return Ok(()); }
                };
                let mut doc = start.clone();
                match apply_patch(&mut doc, &parsed, &schema) {
                    Err(e) => {
                        prop_assert_eq!(e.status, 400, "{:?}", e);
                        prop_assert_eq!(&doc, &start);
                    }
                    Ok(out) => {
                        prop_assert!(out.member_changes.is_empty());
                        // the result is a valid document: normalising it as a PUT body changes nothing
                        // except the readOnly attributes the caller owns (id, meta)
                        let again = normalize(doc.clone(), &schema, WriteMode::Replace, Some(&doc));
                        prop_assert!(again.is_ok(), "{:?} for {}", again, doc);
                        let mut expected = doc.clone();
                        if let Some(m) = expected.as_object_mut() { m.remove("id"); m.remove("meta"); }
                        prop_assert_eq!(again.ok(), Some(expected));
                        let emails = doc.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
                        prop_assert!(emails.iter().filter(|e| e["primary"] == json!(true)).count() <= 1);
                    }
                }
            }
        }
    }
}
