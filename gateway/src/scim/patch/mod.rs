//! SCIM PATCH (RFC 7644 §3.5.2): parsing a PatchOp body and applying it to a stored document, including
//! the request shapes Microsoft Entra ID provisioning sends. Group `members` are never stored in the
//! document: operations on them are translated into [`MemberChange`]s for the caller's member table.
//!
//! `ops` holds the operation types, `parse` reads the request body, `apply` applies the operations to the
//! document using `merge` (value merging), `group` (members) and `filter_terms` (the only code that looks
//! inside a `Filter`). One direction only: parse -> ops; apply -> ops, merge, group, filter_terms;
//! group -> ops, filter_terms.

mod apply;
mod filter_terms;
mod group;
mod merge;
mod ops;
mod parse;
#[cfg(test)]
mod tests;

pub use crate::scim::members::{MemberChange, MemberRef};
pub use apply::apply_patch;
pub use ops::{MAX_OPERATIONS, PATCH_OP_SCHEMA, PatchOpKind, PatchOperation, PatchOutcome};
pub use parse::parse_patch;
