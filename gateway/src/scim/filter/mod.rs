//! RFC 7644 §3.4.2.2 filters and §3.5.2 PATCH paths: the syntax tree, a bounded parser, validation
//! against a resource schema, and an in-memory evaluator. Pure (no I/O); errors are 400 `invalidFilter`
//! or `invalidPath`. `parse` and `resolve` build on `ast`, `eval` on `resolve`; the rest of the crate uses
//! only what is re-exported here.

mod ast;
mod eval;
mod parse;
mod resolve;
#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompareOp, Filter, PatchPath};
pub use eval::{matches, matches_element, values_at};
pub use parse::{MAX_FILTER_DEPTH, MAX_FILTER_LEN, MAX_FILTER_TERMS, parse_attr_path, parse_filter, parse_patch_path};
pub use resolve::validate;
