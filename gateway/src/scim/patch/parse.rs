//! Parsing a PatchOp body (RFC 7644 §3.5.2) into [`PatchOperation`]s: keys and `op` values
//! case-insensitive (Entra sends "Add"/"Replace"/"Remove"), paths parsed up front, every error prefixed
//! with `Operations[i]`.

use super::ops::{MAX_OPERATIONS, PATCH_OP_SCHEMA, PatchOpKind, PatchOperation, in_op};
use crate::scim::error::{ScimError, ScimResult, ScimType};
use crate::scim::filter;
use crate::scim::resource::get_ci;
use serde_json::Value;

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
            if e.scim_type == Some(ScimType::InvalidPath) {
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
