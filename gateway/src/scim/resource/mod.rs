//! Resource normalisation, validation and projection (RFC 7643 §2, RFC 7644 §3.3, §3.5.1, §3.4.2.5, §3.9).
//!
//! The stored document model: a JSON object in canonical key case with `schemas`, `id`, `externalId`,
//! `meta`, the core attributes at top level and each extension's attributes nested under its URN key.
//! A User's `groups` and a Group's `members` are never stored: the caller keeps members in a table and
//! adds both when rendering. Everything here is pure (no I/O).
//!
//! `normalize` turns POST/PUT bodies into that document, `coerce` checks and canonicalises values by
//! their attribute definitions (shared with PATCH), `doc` holds the document helpers, `project` applies
//! `attributes`/`excludedAttributes`. One direction only: normalize uses coerce and doc; coerce and project
//! use doc.

mod coerce;
mod doc;
mod normalize;
mod project;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use coerce::{coerce_attr, coerce_element, is_primary, parse_member_refs, same_value};
pub(crate) use doc::{attr_path_string, finish_doc, get_ci, is_absent, is_group_members, prune};
pub use normalize::{Normalized, WriteMode, check_required, normalize, normalize_with_members};
pub use project::project;
