//! Test plugin: `translate` allocates 1 MiB chunks until memory runs out (the host's memory limit
//! must stop it; the failed allocation aborts the call).

use scimgw_plugin_sdk::prelude::*;

struct Hog;

impl Guest for Hog {
    fn translate(_ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Written to (not just reserved), and kept alive through `black_box`.
            let chunk = vec![change.seq as u8 | 1; 1 << 20];
            chunks.push(std::hint::black_box(chunk));
            if std::hint::black_box(chunks.len()) == usize::MAX {
                return Ok(Vec::new());
            }
        }
    }

    fn deliver(_ctx: Context, _op_id: String, _op: Operation) -> Result<Outcome, PluginError> {
        Ok(Outcome::Done(Vec::new()))
    }
}

scimgw_plugin_sdk::export!(Hog);
