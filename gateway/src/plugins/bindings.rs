//! The plugin contract on the host side: wasmtime's `bindgen!` over the WIT of `scimgw:lms-target@1.0.0`
//! (the `target` world: `Target`, `TargetPre`, the imported interfaces' `Host` traits) and the contract's
//! types, re-exported here by name. Generated code only: it imports nothing from the rest of the crate.

wasmtime::component::bindgen!({
    path: "../plugins/wit/lms-target-1.0.0",
    world: "target",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports_alias::*;
mod exports_alias {
    pub use super::scimgw::lms_target::types::{
        ActiveChange, CustomOp, DepartmentOp, Email, EnrollmentOp, Event, Group, GroupOp, Member, MembersChange,
        MembershipOp, RemoteId, Rename, ResourceKind, Retry, User, UserOp,
    };
}
