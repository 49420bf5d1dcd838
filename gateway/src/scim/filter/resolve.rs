//! Resolving a filter against a resource type's schema: which attribute each leaf names, and
//! [`validate`], which rejects unknown attributes, operators the attribute's type does not support and
//! comparison values of the wrong JSON type (400 `invalidFilter`, naming the attribute).

use serde_json::Value;

use super::ast::{AttrPath, CompareOp, Filter};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::{AttrType, AttributeDef, ResourceSchema};

/// Where filter leaves are evaluated: the resource itself, or an element of a complex attribute inside a
/// value path.
#[derive(Clone, Copy)]
pub(super) enum Scope<'s> {
    Root,
    Elem { parent: &'s AttrPath, def: &'s AttributeDef },
}

/// A filter leaf resolved against the schema.
pub(super) struct Leaf<'s> {
    /// Extension URN whose object holds the attribute (root scope only).
    pub(super) extension: Option<&'s str>,
    /// The attribute named by the path (in element scope: the sub-attribute of the parent).
    pub(super) attr: &'s AttributeDef,
    /// The sub-attribute, when the path named one.
    pub(super) sub: Option<&'s AttributeDef>,
}

impl<'s> Leaf<'s> {
    /// The definition a comparison uses: the sub-attribute, or for a complex attribute compared without
    /// sub-attribute its `value` sub-attribute.
    pub(super) fn compare_def(&self) -> Option<&'s AttributeDef> {
        match self.sub {
            Some(s) => Some(s),
            None if self.attr.is_complex() => self.attr.sub("value"),
            None => Some(self.attr),
        }
    }
}

pub(super) fn resolve_leaf<'s>(path: &AttrPath, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<Leaf<'s>> {
    match scope {
        Scope::Root => {
            let r = schema.resolve(&path.to_string()).ok_or_else(|| {
                ScimError::invalid_filter(format!("unknown attribute '{path}' in filter for {}", schema.name))
            })?;
            Ok(Leaf { extension: r.extension, attr: r.attr, sub: r.sub })
        }
        Scope::Elem { parent, def } => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside the value filter of '{parent}' use a plain sub-attribute name, not '{path}'"
                )));
            }
            let sub = def.sub(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!("unknown attribute '{parent}.{}' in filter", path.name))
            })?;
            Ok(Leaf { extension: None, attr: sub, sub: None })
        }
    }
}

fn type_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn display_leaf(path: &AttrPath, scope: Scope<'_>) -> String {
    match scope {
        Scope::Root => path.to_string(),
        Scope::Elem { parent, .. } => format!("{parent}.{}", path.name),
    }
}

fn validate_compare(
    path: &AttrPath,
    op: CompareOp,
    value: &Value,
    leaf: &Leaf<'_>,
    scope: Scope<'_>,
) -> ScimResult<()> {
    let shown = display_leaf(path, scope);
    let Some(def) = leaf.compare_def() else {
        return Err(ScimError::invalid_filter(format!(
            "complex attribute '{shown}' can only be compared through a sub-attribute (e.g. '{shown}.value') \
             or a value filter '{shown}[…]'"
        )));
    };
    let kind = def.kind;
    if value.is_null() {
        if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Ok(());
        }
        return Err(ScimError::invalid_filter(format!("'{shown} {op} null': null can only be used with eq or ne")));
    }
    if op.is_ordering() && matches!(kind, AttrType::Boolean | AttrType::Binary) {
        return Err(ScimError::invalid_filter(format!(
            "operator '{op}' is not supported for {} attribute '{shown}'",
            type_name(kind)
        )));
    }
    if op.is_substring() && !matches!(kind, AttrType::String | AttrType::Reference) {
        return Err(ScimError::invalid_filter(format!(
            "operator '{op}' requires a string attribute, but '{shown}' is {}",
            type_name(kind)
        )));
    }
    let ok = match kind {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => value.is_string(),
        AttrType::Boolean => value.is_boolean(),
        AttrType::Integer => value.is_i64() || value.is_u64(),
        AttrType::Decimal => value.is_number(),
        AttrType::Complex => false,
    };
    if !ok {
        let expected = match kind {
            AttrType::String | AttrType::Reference | AttrType::Binary => "a string in double quotes",
            AttrType::DateTime => "a date-time string such as \"2011-05-13T04:42:34Z\"",
            AttrType::Boolean => "true or false",
            AttrType::Integer => "an integer",
            AttrType::Decimal => "a number",
            AttrType::Complex => "a sub-attribute comparison",
        };
        return Err(ScimError::invalid_filter(format!(
            "'{shown}' is a {} attribute; the value in '{shown} {op} {value}' must be {expected}",
            type_name(kind)
        )));
    }
    Ok(())
}

fn validate_in<'s>(filter: &'s Filter, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate_in(a, schema, scope)?;
            validate_in(b, schema, scope)
        }
        Filter::Not(a) => validate_in(a, schema, scope),
        Filter::Present(p) => resolve_leaf(p, schema, scope).map(|_| ()),
        Filter::Compare(p, op, v) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            validate_compare(p, *op, v, &leaf, scope)
        }
        Filter::ValuePath(p, inner) => {
            let (attr, _) = resolve_value_path(p, schema, scope)?;
            validate_in(inner, schema, Scope::Elem { parent: p, def: attr })
        }
    }
}

/// Resolves the attribute of a value path: must be at root scope, without sub, and complex.
pub(super) fn resolve_value_path<'s>(
    p: &AttrPath,
    schema: &'s ResourceSchema,
    scope: Scope<'s>,
) -> ScimResult<(&'s AttributeDef, Option<&'s str>)> {
    if let Scope::Elem { parent, .. } = scope {
        return Err(ScimError::invalid_filter(format!(
            "nested value filter '{p}[…]' inside '{parent}[…]' is not allowed"
        )));
    }
    if p.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "a value filter must follow a complex attribute without sub-attribute, not '{p}'"
        )));
    }
    let leaf = resolve_leaf(p, schema, scope)?;
    if !leaf.attr.is_complex() {
        return Err(ScimError::invalid_filter(format!(
            "'{p}' is a {} attribute; value filters '[…]' apply only to complex attributes",
            type_name(leaf.attr.kind)
        )));
    }
    Ok((leaf.attr, leaf.extension))
}

/// Checks a filter against a resource type's schema: every attribute exists (unknown → 400
/// `invalidFilter` naming it), operators are legal for the attribute's type (`gt`/`ge`/`lt`/`le` not on
/// boolean or binary; `co`/`sw`/`ew` only on string/reference, or complex with a string `value`), and
/// the comparison value's JSON type fits the attribute's type.
pub fn validate(filter: &Filter, schema: &ResourceSchema) -> ScimResult<()> {
    validate_in(filter, schema, Scope::Root)
}
