//! Test plugin: `translate` never returns (the host's fuel or deadline must stop it).

use scimgw_plugin_sdk::prelude::*;

struct Spin;

impl Plugin for Spin {
    fn translate(_ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        // A loop with an observable counter, so the compiler can neither drop nor shorten it.
        let mut n = change.seq;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn deliver(_ctx: Context, _op_id: String, _op: Operation) -> Result<Outcome, PluginError> {
        Ok(Outcome::Done(Vec::new()))
    }
}

scimgw_plugin_sdk::export!(Spin);
