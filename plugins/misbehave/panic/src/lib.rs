//! Test plugin: panics (a trap for the host). By default in `translate`; with the configuration
//! `{"in": "deliver"}`, `translate` returns one custom operation and `deliver` panics.

use scimgw_plugin_sdk::prelude::*;

struct Panic;

fn panics_in_deliver(ctx: &Context) -> bool {
    serde_json::from_str::<serde_json::Value>(&ctx.config_json)
        .ok()
        .and_then(|config| config.get("in").and_then(|v| v.as_str()).map(|s| s == "deliver"))
        .unwrap_or(false)
}

impl Plugin for Panic {
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        if !panics_in_deliver(&ctx) {
            panic!("misbehave-panic: translate panics on purpose (change {})", change.seq);
        }
        Ok(vec![Operation::Custom(CustomOp {
            kind: "panic.test".to_owned(),
            ordering: change.event.ordering(),
            payload_json: format!("{{\"seq\":{}}}", change.seq),
        })])
    }

    fn deliver(_ctx: Context, op_id: String, _op: Operation) -> Result<Outcome, PluginError> {
        panic!("misbehave-panic: deliver panics on purpose (operation {op_id})");
    }
}

scimgw_plugin_sdk::export!(Panic);
