//! Write target plugins for the scimgw SCIM provisioning gateway in Rust.
//!
//! A target plugin is a WebAssembly component implementing the world
//! `scimgw:lms-target/target@1.0.0` (`plugins/wit/lms-target-1.0.0/lms-target.wit`). This crate
//! generates the bindings for that world and adds a few typed helpers:
//!
//! - [`Context::config`]: the target's JSON configuration as your own serde type, with errors that name
//!   the offending field;
//! - [`ops`]: builders for common operations and names for events and resources;
//! - [`outbound`]: an HTTP request builder for `deliver` and the mapping of HTTP responses and errors to
//!   an [`Outcome`] (2xx done, 408/425/429/5xx retry with `Retry-After`, 409 conflict, other 4xx failed);
//! - [`log`]: one-line logging through the host.
//!
//! A plugin crate (`crate-type = ["cdylib"]`) looks like this:
//!
//! ```ignore
//! use scimgw_plugin_sdk::prelude::*;
//!
//! struct MyPlugin;
//!
//! impl Guest for MyPlugin {
//!     fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
//!         Ok(match change.event {
//!             Event::UserUpserted(user) => vec![Operation::UpsertUser(UserOp::from_user(&user))],
//!             Event::UserDeleted(id) => vec![Operation::DeleteUser(id)],
//!             _ => vec![],
//!         })
//!     }
//!
//!     fn deliver(ctx: Context, op_id: String, op: Operation) -> Result<Outcome, PluginError> {
//!         let config: MyConfig = ctx.config()?;
//!         Ok(Request::post(&config.base_url).idempotency_key(&op_id).json(&body_for(&op))?.send_for_outcome())
//!     }
//! }
//!
//! scimgw_plugin_sdk::export!(MyPlugin);
//! ```
//!
//! Build it for `wasm32-unknown-unknown` and turn the core module into a component: see
//! `plugins/README.md`.
#![warn(missing_docs)]

/// The bindings `wit_bindgen::generate!` produces for world `target`, as generated.
///
/// Everything a plugin needs is re-exported at the crate root; this module is public so that the
/// [`export!`] macro can reach the generated glue from the plugin's crate.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "target",
        path: "../wit/lms-target-1.0.0",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "scimgw_plugin_sdk::bindings",
    });
}

mod config;
pub mod log;
pub mod ops;
pub mod outbound;

pub use config::parse_config;

/// The trait a plugin implements: `translate` and `deliver` (see the WIT for the contract).
pub use bindings::Guest;

/// Exports a type implementing [`Guest`] as the plugin: `scimgw_plugin_sdk::export!(MyPlugin);`, once,
/// in the plugin's crate.
pub use bindings::export;

pub use bindings::scimgw::lms_target::types::{
    ActiveChange, Change, Context, CustomOp, DepartmentOp, Email, EnrollmentOp, Event, Group, GroupOp, Member,
    MembersChange, MembershipOp, Operation, Outcome, PluginError, RemoteId, Rename, ResourceKind, Retry, User, UserOp,
};

/// The host's read-only view of the tenant's directory (`get-user`, `get-group`, `members`,
/// `groups-of`, `remote-id`), as generated.
pub use bindings::scimgw::lms_target::directory;

/// Raw outbound HTTP (`send`), as generated; [`outbound::Request`] is the friendlier way in.
pub use bindings::scimgw::lms_target::http;

/// Plugin-private key-value state (`get`, `set`, `delete`, `keys`), as generated. Writes become
/// visible only when the call succeeds, together with the operations it returns.
pub use bindings::scimgw::lms_target::kv;

/// What most plugins need in scope: `use scimgw_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::outbound::Request;
    pub use crate::{
        ActiveChange, Change, Context, CustomOp, Event, Group, Guest, Member, MembersChange, Operation, Outcome,
        PluginError, RemoteId, Rename, ResourceKind, Retry, User, UserOp, log,
    };
}
