//! Test plugin: `deliver` asks the host for the cloud metadata endpoint, which must be refused.
//! `translate` emits one custom operation; `deliver` returns `failed("<the http-error>")`, e.g.
//! `failed("denied: ...")`, or `failed("UNEXPECTED: ...")` if the host let the request through.

use scimgw_plugin_sdk::outbound::{Request, describe_error};
use scimgw_plugin_sdk::prelude::*;

/// The link-local instance metadata address (AWS, GCP, Azure and others serve credentials there).
const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

struct Forbidden;

impl Plugin for Forbidden {
    fn translate(_ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        Ok(vec![Operation::Custom(CustomOp {
            kind: "forbidden-host.probe".to_owned(),
            ordering: change.event.ordering(),
            payload_json: format!("{{\"seq\":{}}}", change.seq),
        })])
    }

    fn deliver(_ctx: Context, _op_id: String, _op: Operation) -> Result<Outcome, PluginError> {
        Ok(match Request::get(METADATA_URL).send() {
            Err(err) => Outcome::Failed(describe_error(&err)),
            Ok(response) => {
                Outcome::Failed(format!("UNEXPECTED: the host let {METADATA_URL} through (HTTP {})", response.status))
            }
        })
    }
}

scimgw_plugin_sdk::export!(Forbidden);
