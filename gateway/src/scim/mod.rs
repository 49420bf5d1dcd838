//! The pure SCIM 2.0 protocol layer: no I/O. Filters, PATCH, schemas, resource validation, errors.
pub mod error;
pub mod schema;
