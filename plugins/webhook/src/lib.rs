//! The webhook target: every change becomes one JSON event POSTed to the configured URL.
//!
//! Configuration (the target's config JSON):
//!
//! ```json
//! {
//!   "url": "https://hooks.example.com/scim",
//!   "signing_credential": "signing",
//!   "headers": {"X-Extra": "v"},
//!   "events": ["user.upserted", "user.deleted"]
//! }
//! ```
//!
//! - `url` (required): where events are POSTed (http or https; the target's allowlist decides).
//! - `signing_credential` (optional): the name of a target credential; when set, the host signs every
//!   body and sends `X-Scimgw-Signature: sha256=<hex HMAC-SHA256 of the body>`. The secret never
//!   enters the plugin.
//! - `headers` (optional): extra headers sent with every event.
//! - `events` (optional): only these change kinds are sent; absent or null means all of them.
//!
//! `translate` turns a change into exactly one `custom` operation of kind `webhook.event` (or none when
//! the change's kind is filtered out); its payload is the event body, built deterministically from the
//! change. `deliver` POSTs that body with `X-Scimgw-Op-Id` and `Idempotency-Key` set to the operation
//! id, which stays the same across retries.

mod event;
mod settings;

use scimgw_plugin_sdk::outbound::Request;
use scimgw_plugin_sdk::prelude::*;

use crate::settings::Settings;

/// `custom-op.kind` of the operations this plugin emits.
pub const OP_KIND: &str = "webhook.event";
/// The header carrying the body's signature, when a signing credential is configured.
pub const SIGNATURE_HEADER: &str = "X-Scimgw-Signature";
/// The header carrying the operation id.
pub const OP_ID_HEADER: &str = "X-Scimgw-Op-Id";

struct Webhook;

impl Plugin for Webhook {
    fn translate(ctx: Context, change: Change) -> Result<Vec<Operation>, PluginError> {
        let settings = Settings::from_context(&ctx)?;
        if !settings.wants(change.log_kind()) {
            return Ok(Vec::new());
        }
        let ordering = change.event.ordering();
        let payload = event::payload(&ctx, change)?;
        Ok(vec![Operation::Custom(CustomOp { kind: OP_KIND.to_owned(), ordering, payload_json: payload })])
    }

    fn deliver(ctx: Context, op_id: String, op: Operation) -> Result<Outcome, PluginError> {
        let settings = Settings::from_context(&ctx)?;
        let body = match op {
            Operation::Custom(custom) if custom.kind == OP_KIND => custom.payload_json,
            Operation::Custom(custom) => {
                return Err(PluginError::Unsupported(format!(
                    "the webhook plugin delivers only `{OP_KIND}` operations, not custom `{}`",
                    custom.kind
                )));
            }
            other => {
                return Err(PluginError::Unsupported(format!(
                    "the webhook plugin delivers only `{OP_KIND}` operations, not `{}`",
                    other.name()
                )));
            }
        };
        let outcome = request(&settings, &op_id, body).send_for_outcome();
        if let Outcome::Retry(_) | Outcome::Conflict(_) | Outcome::Failed(_) = &outcome {
            log::info(format!("webhook delivery of {op_id}: {}", describe(&outcome)));
        }
        Ok(outcome)
    }
}

/// The POST for one event: JSON body, op id twice (for logs and for deduplication), the configured
/// extra headers, and the signature when configured.
fn request(settings: &Settings, op_id: &str, body: String) -> Request {
    let mut request = Request::post(&settings.url).json_text(body).header(OP_ID_HEADER, op_id).idempotency_key(op_id);
    for (name, value) in &settings.headers {
        request = request.header(name, value);
    }
    if let Some(credential) = &settings.signing_credential {
        request = request.hmac_sha256(SIGNATURE_HEADER, credential);
    }
    request
}

/// The outcome for the log: its kind only. The reason can quote the receiver's answer (personal data);
/// it is kept with the operation in the outbox, where an admin reads it.
fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(_) => "done".to_owned(),
        Outcome::Retry(retry) => match retry.after_secs {
            Some(secs) => format!("retry after {secs} s"),
            None => "retry".to_owned(),
        },
        Outcome::Conflict(_) => "conflict".to_owned(),
        Outcome::Failed(_) => "failed".to_owned(),
    }
}

scimgw_plugin_sdk::export!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;
    use scimgw_plugin_sdk::http::{Auth, Method, SecretHeader};

    fn settings(json: &str) -> Settings {
        Settings::parse(json).unwrap()
    }

    #[test]
    fn builds_the_delivery_request() {
        let s = settings(
            r#"{"url":"https://hooks.example.com/scim","signing_credential":"signing","headers":{"X-Extra":"v"}}"#,
        );
        let req = request(&s, "op-7", "{\"a\":1}".to_owned()).into_wit();
        assert!(matches!(req.method, Method::Post));
        assert_eq!(req.url, "https://hooks.example.com/scim");
        let headers: Vec<(&str, &str)> = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            headers,
            vec![
                ("Content-Type", "application/json"),
                ("X-Scimgw-Op-Id", "op-7"),
                ("Idempotency-Key", "op-7"),
                ("X-Extra", "v"),
            ]
        );
        assert_eq!(req.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(matches!(
            req.auth,
            Some(Auth::HmacSha256(SecretHeader { ref header, ref credential }))
                if header == "X-Scimgw-Signature" && credential == "signing"
        ));
    }

    #[test]
    fn unsigned_without_a_signing_credential() {
        let req = request(&settings(r#"{"url":"https://h/x"}"#), "op", String::new()).into_wit();
        assert!(req.auth.is_none());
    }
}
