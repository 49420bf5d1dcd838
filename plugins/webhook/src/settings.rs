//! The webhook target's configuration, parsed and checked.

use std::collections::BTreeMap;

use scimgw_plugin_sdk::ops::EVENT_KINDS;
use scimgw_plugin_sdk::{Context, PluginError, parse_config};
use serde::Deserialize;

/// The configuration as the admin writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: String,
    #[serde(default)]
    signing_credential: Option<String>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    events: Option<Vec<String>>,
}

/// The checked configuration.
pub struct Settings {
    pub url: String,
    pub signing_credential: Option<String>,
    /// Sorted by name, so requests are the same for the same configuration.
    pub headers: BTreeMap<String, String>,
    /// `None`: every kind.
    pub events: Option<Vec<String>>,
}

/// Headers the plugin sets itself; configuring them would send them twice.
const RESERVED_HEADERS: [&str; 4] = ["content-type", "x-scimgw-op-id", "idempotency-key", "x-scimgw-signature"];

impl Settings {
    pub fn from_context(ctx: &Context) -> Result<Self, PluginError> {
        Self::parse(&ctx.config_json)
    }

    pub fn parse(json: &str) -> Result<Self, PluginError> {
        let raw: Raw = parse_config(json)?;
        check_url(&raw.url)?;
        if raw.signing_credential.as_ref().is_some_and(|credential| credential.trim().is_empty()) {
            return Err(invalid("signing_credential: must name a target credential (or be left out)"));
        }
        let headers = raw.headers.unwrap_or_default();
        for (name, value) in &headers {
            check_header(name, value)?;
        }
        if let Some(events) = &raw.events {
            for (i, kind) in events.iter().enumerate() {
                if !EVENT_KINDS.contains(&kind.as_str()) {
                    return Err(invalid(format!(
                        "events[{i}]: unknown event type `{kind}` (expected one of {})",
                        EVENT_KINDS.join(", ")
                    )));
                }
            }
        }
        Ok(Settings { url: raw.url, signing_credential: raw.signing_credential, headers, events: raw.events })
    }

    /// Whether changes of this kind are sent.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.as_ref().is_none_or(|events| events.iter().any(|e| e == kind))
    }
}

fn check_url(url: &str) -> Result<(), PluginError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid(format!("url: `{url}` is not an http(s) URL")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!("url: `{url}` is not an http(s) URL")));
    }
    Ok(())
}

fn check_header(name: &str, value: &str) -> Result<(), PluginError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(invalid(format!("headers: `{name}` is not a valid header name")));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid(format!("headers.{name}: set by the plugin, cannot be configured")));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(invalid(format!("headers.{name}: the value contains a line break")));
    }
    Ok(())
}

fn invalid(detail: impl std::fmt::Display) -> PluginError {
    PluginError::Config(format!("invalid target configuration: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> String {
        match Settings::parse(json) {
            Err(PluginError::Config(message)) => message,
            Err(other) => panic!("expected a config error, got {other:?}"),
            Ok(_) => panic!("expected {json} to be refused"),
        }
    }

    #[test]
    fn accepts_the_documented_configuration() {
        let s = Settings::parse(
            r#"{"url":"https://hooks.example.com/scim","signing_credential":"signing","headers":{"X-Extra":"v"},"events":["user.upserted"]}"#,
        )
        .unwrap();
        assert!(s.wants("user.upserted"));
        assert!(!s.wants("user.deleted"));
        assert!(Settings::parse(r#"{"url":"http://h:8080","events":null}"#).unwrap().wants("resync.started"));
    }

    #[test]
    fn errors_name_the_field() {
        assert!(error("{}").contains("missing field `url`"));
        assert!(error(r#"{"url":5}"#).contains("url: invalid type"));
        assert!(error(r#"{"url":"ftp://x"}"#).contains("url:"));
        assert!(error(r#"{"url":"https://"}"#).contains("url:"));
        assert!(error(r#"{"url":"https://h","signing_credential":""}"#).contains("signing_credential"));
        assert!(error(r#"{"url":"https://h","headers":{"X-A":1}}"#).contains("headers.X-A"));
        assert!(error(r#"{"url":"https://h","headers":{"Bad Name":"v"}}"#).contains("headers"));
        assert!(error(r#"{"url":"https://h","headers":{"content-type":"x"}}"#).contains("headers.content-type"));
        assert!(error(r#"{"url":"https://h","events":["user.created"]}"#).contains("events[0]"));
        assert!(error(r#"{"url":"https://h","sign":"x"}"#).contains("unknown field `sign`"));
        assert!(error("not json").contains("invalid target configuration"));
    }
}
