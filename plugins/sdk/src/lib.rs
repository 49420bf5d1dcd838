//! Write target plugins for the scimgw SCIM provisioning gateway in Rust.
//!
//! A target plugin is a WebAssembly component implementing the world `scimgw:plugin/plugin@1.0.0`
//! (`wit/plugin-1.0.0/plugin.wit`, vendored in this crate). This crate generates the bindings for that
//! world, exports them for your type with [`export!`] and adds typed helpers:
//!
//! - [`Plugin`]: the trait you implement: `translate` and `deliver`, and optionally `jobs` +
//!   `on_schedule` (scheduled jobs) and `admin` (admin resources), which default to "none";
//! - [`Context::config`]: the target's JSON configuration as your own serde type, with errors that name
//!   the offending field;
//! - [`ops`]: builders for common operations and names for events and resources;
//! - [`outbound`]: an HTTP request builder for `deliver` and `on_schedule`, and the mapping of HTTP
//!   responses and errors to an [`Outcome`] (2xx done, 408/425/429/5xx retry with `Retry-After`, 409
//!   conflict, other 4xx failed);
//! - [`log`]: one-line logging through the host; [`notify`]: notifications for people.
//!
//! A panic in your code is logged as `panic: <message> at <file:line>` before the call fails, so the
//! gateway and `gateway plugin test` show it.
//!
//! ```ignore
//! use scimgw_plugin_sdk::prelude::*;
//!
//! struct MyPlugin;
//!
//! impl Plugin for MyPlugin {
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
//! Build it for `wasm32-unknown-unknown` and turn the core module into a component: see the vendor
//! guide (`plugins/README.md` in the gateway's repository, or the README `gateway plugin new` writes).
#![warn(missing_docs)]

/// The bindings `wit_bindgen::generate!` produces for world `plugin`, as generated.
///
/// Everything a plugin needs is re-exported at the crate root; this module is public so that the
/// [`export!`] macro can reach the generated glue from the plugin's crate.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit/plugin-1.0.0",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "scimgw_plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

mod config;
pub mod log;
pub mod notify;
pub mod ops;
pub mod outbound;

pub use config::parse_config;

/// The contract version this SDK builds plugins for. [`export!`] embeds it in the component (custom
/// section `scimgw:api-version`), so a gateway can say which contract a plugin needs.
pub const API_VERSION: &str = "1.0.0";

pub use bindings::scimgw::plugin::types::{
    ActiveChange, AdminMethod, AdminRequest, AdminResponse, Change, Context, CustomOp, DepartmentOp, Email,
    EnrollmentOp, Event, Group, GroupOp, Job, JobResult, JobRun, Member, MembersChange, MembershipOp, Operation,
    Ordering, OtherEvent, Outcome, PluginError, Principal, RemoteId, Rename, ResourceKind, Retry, User, UserOp,
};

/// The host's read-only view of the tenant's directory (`get-user`, `get-group`, `list-users`,
/// `list-groups`, `members`, `groups-of`, `remote-id`), as generated.
pub use bindings::scimgw::plugin::directory;

/// Raw outbound HTTP (`send`), as generated; [`outbound::Request`] is the friendlier way in.
pub use bindings::scimgw::plugin::http;

/// Plugin-private key-value state (`get`, `set`, `delete`, `keys`), as generated. Writes become
/// visible only when the call succeeds, together with the operations it returns.
pub use bindings::scimgw::plugin::kv;

/// What a plugin implements. `translate` and `deliver` are required; the rest default to "this plugin
/// has no scheduled jobs" and "no admin resources" (404).
pub trait Plugin {
    /// Pure and deterministic: the change in, operations out. No clock but `ctx.now_unix_ms`, no network.
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError>;

    /// Delivers one operation. `op_id` is stable across retries: pass it on as an idempotency key.
    fn deliver(ctx: Context, op_id: String, op: Operation) -> Result<Outcome, PluginError>;

    /// The scheduled jobs for this configuration (none by default).
    fn jobs(config_json: String) -> Result<Vec<Job>, PluginError> {
        let _ = config_json;
        Ok(Vec::new())
    }

    /// Runs (part of) a scheduled job.
    fn on_schedule(ctx: Context, run: JobRun) -> Result<JobResult, PluginError> {
        let _ = ctx;
        Err(PluginError::Unsupported(format!("this plugin has no job `{}`", run.job)))
    }

    /// Answers a call to one of the plugin's admin resources (404 for every path by default).
    fn admin(ctx: Context, req: AdminRequest) -> Result<AdminResponse, PluginError> {
        let _ = ctx;
        Ok(admin_error(404, &format!("no admin resource `{}`", req.path)))
    }
}

/// An admin response with status `status` and body `{"detail": detail}`.
pub fn admin_error(status: u16, detail: &str) -> AdminResponse {
    AdminResponse { status, body_json: serde_json::json!({ "detail": detail }).to_string() }
}

/// Exports a type implementing [`Plugin`] as the plugin, once, in the plugin's crate:
/// `scimgw_plugin_sdk::export!(MyPlugin);`. It also embeds [`API_VERSION`] and installs a panic hook
/// that logs the panic's message and location before the call fails.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        const _: () = {
            #[used]
            #[unsafe(link_section = "scimgw:api-version")]
            static API_VERSION: [u8; 5] = *b"1.0.0";

            struct Exported;

            impl $crate::bindings::exports::scimgw::plugin::provisioning::Guest for Exported {
                fn translate(
                    ctx: $crate::Context,
                    change: $crate::Change,
                ) -> Result<Vec<$crate::Operation>, $crate::PluginError> {
                    $crate::panic_hook();
                    <$plugin as $crate::Plugin>::translate(ctx, change)
                }
                fn deliver(
                    ctx: $crate::Context,
                    op_id: String,
                    op: $crate::Operation,
                ) -> Result<$crate::Outcome, $crate::PluginError> {
                    $crate::panic_hook();
                    <$plugin as $crate::Plugin>::deliver(ctx, op_id, op)
                }
            }

            impl $crate::bindings::exports::scimgw::plugin::schedule::Guest for Exported {
                fn jobs(config_json: String) -> Result<Vec<$crate::Job>, $crate::PluginError> {
                    $crate::panic_hook();
                    <$plugin as $crate::Plugin>::jobs(config_json)
                }
                fn on_schedule(
                    ctx: $crate::Context,
                    run: $crate::JobRun,
                ) -> Result<$crate::JobResult, $crate::PluginError> {
                    $crate::panic_hook();
                    <$plugin as $crate::Plugin>::on_schedule(ctx, run)
                }
            }

            impl $crate::bindings::exports::scimgw::plugin::admin::Guest for Exported {
                fn handle(
                    ctx: $crate::Context,
                    req: $crate::AdminRequest,
                ) -> Result<$crate::AdminResponse, $crate::PluginError> {
                    $crate::panic_hook();
                    <$plugin as $crate::Plugin>::admin(ctx, req)
                }
            }

    $crate::bindings::export_world!(Exported with_types_in $crate::bindings);
        };
    };
}

/// Installs the panic hook that reports a panic through `log` (`panic: <message> at <file:line>`); the
/// host shows it as the call's error. [`export!`] calls it at the start of every call.
#[doc(hidden)]
pub fn panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            log::error(format!("panic: {message}{at}"));
        }));
    });
}

/// What most plugins need in scope: `use scimgw_plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::outbound::Request;
    pub use crate::{
        ActiveChange, AdminMethod, AdminRequest, AdminResponse, Change, Context, CustomOp, EnrollmentOp, Event, Group,
        Job, JobResult, JobRun, Member, MembersChange, Operation, Ordering, Outcome, Plugin, PluginError, Principal,
        RemoteId, Rename, ResourceKind, Retry, User, UserOp, admin_error, log, notify,
    };
}
