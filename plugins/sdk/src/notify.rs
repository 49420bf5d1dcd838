//! Notifications for people (an admin, a settings contact): recorded in the target's notification log
//! (`gateway target notifications`, admin API) and e-mailed when the gateway has an SMTP relay.
//!
//! Like kv writes, a call's notifications are kept only when the call succeeds. At most 5 per call;
//! subject ≤ 200 bytes, text ≤ 8 KiB.

use crate::bindings::scimgw::plugin::notify::{self as raw, Notification};

/// Sends a notification to the gateway's default recipient (`smtp_default_to`).
pub fn send(kind: &str, subject: &str, text: &str) -> Result<(), String> {
    raw::send(&Notification {
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        text: text.to_owned(),
        recipient: None,
    })
}

/// Sends a notification to `recipient` (an e-mail address).
pub fn send_to(recipient: &str, kind: &str, subject: &str, text: &str) -> Result<(), String> {
    raw::send(&Notification {
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        text: text.to_owned(),
        recipient: Some(recipient.to_owned()),
    })
}
