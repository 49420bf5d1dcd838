//! The PATCH request model: the PatchOp schema URN, the operation limit, one parsed operation, the
//! outcome of applying them (Group member changes), and the error wording shared by parsing and applying.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::PatchPath;
use crate::scim::members::MemberChange;
use serde_json::Value;

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
    pub(super) fn as_str(self) -> &'static str {
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

/// Prefixes an error's detail with the index of the operation it came from.
pub(super) fn in_op(e: ScimError, i: usize) -> ScimError {
    ScimError { detail: format!("Operations[{i}]: {}", e.detail), ..e }
}

/// The `value` an add or replace needs (400 `invalidSyntax` without one).
pub(super) fn require_value(value: Option<&Value>, kind: PatchOpKind) -> ScimResult<&Value> {
    value.ok_or_else(|| ScimError::invalid_syntax(format!("'{}' operation requires a 'value'", kind.as_str())))
}
