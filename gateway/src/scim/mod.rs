//! The pure SCIM 2.0 protocol layer: no I/O. Filters, PATCH, schemas, resource validation, errors.
pub mod discovery;
pub mod error;
pub mod filter;
pub mod kind;
pub mod limits;
pub mod members;
pub mod patch;
pub mod query;
pub mod resource;
pub mod schema;

pub use kind::Kind;
