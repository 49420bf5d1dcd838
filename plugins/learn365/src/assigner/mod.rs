//! The Learn365 **Assigner** engine (issue 16, `docs/spec/assigner.md` §1–§4, A1–A9): rule-based
//! profiles whose Entra groups are recomputed from a data-refresh snapshot at every maintenance. Pure:
//! no kv, no HTTP, no clock; the jobs, admin resources, Graph and the Learn365 data refresh call into
//! it.
//!
//! - [`model`]: the documents — [`Settings`] (contact, group prefix, schedule, excludeDisabledUsers;
//!   credentials are target credentials, [`LEARN365_CREDENTIAL`] and [`GRAPH_CREDENTIAL`]) and
//!   [`Profile`] with its rule trees ([`Node`]), parsed with the offending field named;
//! - [`mod@validate`]: what a profile may say given the tenant's fields and courses ([`TenantFields`]);
//! - [`snapshot`]: the snapshot ([`Snapshot`], columnar, ~25 MB for 100,000 users) and [`codec`], its
//!   stored form in kv-sized chunks;
//! - [`eval`]: rules compiled against a snapshot and evaluated for all users at once (A1, A2);
//! - [`mod@members`]: members with overrides and the snapshot filter (A3), the diff against the group,
//!   throttling (A5, Q16);
//! - [`mod@resolve`]: inconsistency resolution (A8) and the membership plan of a maintenance;
//! - [`time`]: RFC 3339 instants as seconds.
//!
//! The module is self-contained (only `super::` paths, the SDK and serde) so that the native benchmark
//! `examples/assigner_bench.rs` can include it.

pub mod codec;
pub mod eval;
pub mod members;
pub mod model;
pub mod resolve;
pub mod snapshot;
pub mod time;
pub mod validate;

pub use codec::{Decoder, Encoder, MAX_CHUNK, pack};
pub use eval::{Bits, Compiled, Engine, normalize};
pub use members::{Decision, Desired, Diff, decide, desired, diff, members, throttle_reason};
pub use model::{
    CUSTOM, Condition, GRAPH_CREDENTIAL, Group, LEARN365_CREDENTIAL, MAINTENANCE_HOURS, Node, Op, Profile,
    ProfileState, REFRESH_HOURS, Rule, STANDARD_SOURCES, Schedule, Section, Settings, Throttle,
};
pub use resolve::{Outcome, Planned, Resolution, Resolved, Status, plan, resolve};
pub use snapshot::{Activity, Snapshot, UserRecord};
pub use validate::{Field, FieldType, TenantFields, validate};

#[cfg(test)]
mod tests;
