//! The plugin contract on the host side: wasmtime's `bindgen!` over the WIT of `scimgw:plugin@1.0.0`
//! (world `plugin`: the imported interfaces' `Host` traits, and the exported interfaces `provisioning`,
//! `schedule` and `admin`, each loaded on its own so the last two stay optional) and the contract's
//! types, re-exported here by name. Generated code only: it imports nothing from the rest of the crate.

wasmtime::component::bindgen!({
    path: "../plugins/sdk/wit/plugin-1.0.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::scimgw::plugin::{admin, provisioning, schedule};
pub use exports_alias::*;
mod exports_alias {
    pub use super::scimgw::plugin::types::{
        ActiveChange, AdminMethod, AdminRequest, AdminResponse, Change, Context, CustomOp, DepartmentOp, Email,
        EnrollmentOp, Event, Group, GroupOp, Job, JobResult, JobRun, Member, MembersChange, MembershipOp, Operation,
        Ordering, OtherEvent, Outcome, PluginError, Principal, RemoteId, Rename, ResourceKind, Retry, User, UserOp,
    };
}
