//! The iSpring Learn target's configuration, parsed and checked.

use scimgw_plugin_sdk::{PluginError, parse_config};
use serde::Deserialize;

/// What happens in iSpring when Entra hard-deletes a user (`DELETE /Users/{id}`).
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnHardDelete {
    /// The iSpring user is deleted (`DELETE /user/{id}`).
    #[default]
    Delete,
    /// The iSpring user is kept, inactive (status 3).
    Deactivate,
}

/// The configuration as the admin writes it (`gateway target add --config @ispring.json`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The account's API address, e.g. `https://api-learn.ispringlearn.com`.
    pub base_url: String,
    /// The target credential holding the OAuth2 client credentials (default `ispring`).
    #[serde(default = "default_credential")]
    pub credential: String,
    /// Mirror every Entra group as an iSpring group with the same members (iSpring's "Add users to
    /// groups in iSpring Learn"). Off by default: departments only.
    #[serde(default)]
    pub add_users_to_groups: bool,
    #[serde(default)]
    pub on_hard_delete: OnHardDelete,
    /// The department users without an Entra group are in, and under which group departments are
    /// created. Default: the account's root department.
    #[serde(default)]
    pub root_department_id: Option<String>,
}

fn default_credential() -> String {
    "ispring".to_owned()
}

impl Config {
    pub fn parse(json: &str) -> Result<Config, PluginError> {
        let mut config: Config = parse_config(json)?;
        let url = config.base_url.trim().trim_end_matches('/').to_owned();
        let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
            return Err(invalid(format!(
                "baseUrl: `{}` is not an http(s) URL (expected e.g. https://api-learn.ispringlearn.com)",
                config.base_url
            )));
        };
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(invalid(format!(
                "baseUrl: `{}` must be a plain address without query or fragment",
                config.base_url
            )));
        }
        config.base_url = url;
        if config.credential.trim().is_empty() {
            return Err(invalid(
                "credential: must name the target credential with the OAuth2 client (default `ispring`)",
            ));
        }
        if config.root_department_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
            return Err(invalid("rootDepartmentId: must be a department id (or be left out for the account's root)"));
        }
        Ok(config)
    }
}

fn invalid(detail: impl std::fmt::Display) -> PluginError {
    PluginError::Config(format!("invalid target configuration: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: &str) -> String {
        match Config::parse(json) {
            Err(PluginError::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_normalisation() {
        let c = Config::parse(r#"{"baseUrl":"https://api-learn.ispringlearn.com/"}"#).unwrap();
        assert_eq!(c.base_url, "https://api-learn.ispringlearn.com");
        assert_eq!(c.credential, "ispring");
        assert!(!c.add_users_to_groups);
        assert_eq!(c.on_hard_delete, OnHardDelete::Delete);
        let c =
            Config::parse(r#"{"baseUrl":"http://127.0.0.1:9","addUsersToGroups":true,"onHardDelete":"deactivate"}"#)
                .unwrap();
        assert!(c.add_users_to_groups);
        assert_eq!(c.on_hard_delete, OnHardDelete::Deactivate);
    }

    #[test]
    fn clear_messages() {
        assert!(message("{}").contains("baseUrl"), "{}", message("{}"));
        assert!(message(r#"{"baseUrl":"ftp://x"}"#).contains("not an http(s) URL"));
        assert!(message(r#"{"baseUrl":"https://x","addUsersToGroup":true}"#).contains("addUsersToGroup"));
        assert!(message(r#"{"baseUrl":"https://x","onHardDelete":"purge"}"#).contains("onHardDelete"));
        assert!(message(r#"{"baseUrl":"https://x","credential":" "}"#).contains("credential"));
    }
}
