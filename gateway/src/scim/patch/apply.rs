//! Applying parsed operations to a stored document, all or nothing: path targets resolved against the
//! schema, readOnly / immutable / required honoured, values coerced as on POST, Entra's shapes (path-less
//! value paths, remove with a value list, add through `…[type eq "work"].value`) accepted, at most one
//! `primary` kept, and Group `members` turned into member changes instead of document edits.

use super::filter_terms::eq_terms;
use super::group::{members_attr, members_filtered};
use super::merge::{merge_complex, merge_multi, merge_objects, same_identity};
use super::ops::{PatchOpKind, PatchOperation, PatchOutcome, in_op, require_value};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{self, AttrPath, Filter, PatchPath};
use crate::scim::limits;
use crate::scim::resource::{
    attr_path_string, check_required, coerce_attr, coerce_element, finish_doc, get_ci, is_absent, is_group_members,
    is_primary, prune, same_value,
};
use crate::scim::schema::{AttributeDef, Mutability, ResourceSchema, SchemaDef};
use serde_json::{Map, Value};

/// Applies all ops atomically: on error `doc` is unchanged. `doc` is the stored document (no
/// `members`/`groups`); Group member operations are returned as
/// [`MemberChange`](crate::scim::members::MemberChange)s in op order.
pub fn apply_patch(doc: &mut Value, ops: &[PatchOperation], schema: &ResourceSchema) -> ScimResult<PatchOutcome> {
    if !doc.is_object() {
        return Err(ScimError::internal("stored resource is not a JSON object"));
    }
    let mut work = doc.clone();
    let mut outcome = PatchOutcome::default();
    let mut spent: u64 = 0;
    for (i, op) in ops.iter().enumerate() {
        spent = spent.saturating_add(limits::op_cost(op, limits::values_in(&work)));
        if spent > limits::MAX_PATCH_WORK {
            return Err(limits::too_much_work(spent));
        }
        let before = work.clone();
        apply_op(&mut work, op, schema, &mut outcome).map_err(|e| in_op(e, i))?;
        fix_primaries(&before, &mut work, schema).map_err(|e| in_op(e, i))?;
    }
    prune(&mut work);
    finish_doc(&mut work, schema);
    check_required(&work, schema)?;
    limits::check_resource(&work)?;
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
                return members_attr(sub, kind, value, ctx.out);
            }
            check_not_read_only(attr, sub, display)?;
            match sub {
                None => apply_attr(doc, ext, attr, kind, value, display),
                Some(sub) => apply_sub(doc, ext, attr, sub, kind, value, display),
            }
        }
        Target::Filtered { ext, attr, filter, sub } => {
            if ext.is_none() && is_group_members(ctx.schema, attr) {
                return members_filtered(filter, sub, kind, ctx.out);
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
