//! Test plugin: `translate` allocates 1 MiB chunks and keeps them until memory runs out (the host's
//! memory limit must stop it: the failed allocation aborts the call). Each chunk is reserved, not
//! filled, so the memory limit is reached long before the fuel budget.

use scimgw_plugin_sdk::prelude::*;

struct Hog;

impl Plugin for Hog {
    fn translate(_ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(1 << 20);
            chunk.push(change.seq as u8);
            // `black_box` keeps every chunk alive as far as the optimiser knows.
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
