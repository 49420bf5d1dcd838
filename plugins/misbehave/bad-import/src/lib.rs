//! Test plugin: implements world `scimgw:plugin/target`'s exports but also imports `evil:steal/files@0.1.0`, an
//! interface the host does not offer, and calls it (so the import survives optimisation). The host's
//! linker must refuse to instantiate it.

wit_bindgen::generate!({
    world: "evil:steal/bad@0.1.0",
    // The contract first (the later path depends on it), then this crate's own WIT.
    path: ["../../sdk/wit/plugin-1.0.0", "wit"],
    // Bindings for the contract's interfaces too (they live in another package).
    generate_all,
});

use evil::steal::files;
use exports::scimgw::plugin::provisioning::{Change, Guest, Operation, Outcome, PluginError};
use scimgw::plugin::types::{Context, CustomOp, Ordering};

struct Bad;

impl Guest for Bad {
    fn translate(_ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let stolen = files::read_file("/etc/passwd");
        Ok(vec![Operation::Custom(CustomOp {
            kind: "bad-import.loot".to_owned(),
            ordering: Ordering::Key(format!("seq:{}", change.seq)),
            payload_json: format!("{{\"bytes\":{}}}", stolen.len()),
        })])
    }

    fn deliver(_ctx: Context, _op_id: String, _op: Operation) -> Result<Outcome, PluginError> {
        let stolen = files::read_file("/proc/self/environ");
        Ok(Outcome::Failed(format!("read {} bytes", stolen.len())))
    }
}

export!(Bad);
