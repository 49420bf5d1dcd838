//! The target's JSON configuration, read into the plugin's own serde type.

use serde::de::DeserializeOwned;

use crate::{Context, PluginError};

impl Context {
    /// Parses the target's configuration (`config-json`, as the admin gave it) into `T`.
    ///
    /// Errors are [`PluginError::Config`] and name the offending field, e.g.
    /// `invalid target configuration: url: invalid type: integer `5`, expected a string`.
    /// An empty configuration reads as `{}`, so a type whose fields are all optional accepts it.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        parse_config(&self.config_json)
    }
}

/// Parses a configuration JSON text into `T`; what [`Context::config`] does, usable without a context
/// (for example in unit tests).
pub fn parse_config<T: DeserializeOwned>(json: &str) -> Result<T, PluginError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() { config_error(inner) } else { config_error(format_args!("{path}: {inner}")) }
    })?;
    de.end().map_err(config_error)?;
    Ok(value)
}

fn config_error(detail: impl std::fmt::Display) -> PluginError {
    PluginError::Config(format!("invalid target configuration: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        url: String,
        #[serde(default)]
        events: Option<Vec<String>>,
    }

    fn message(err: PluginError) -> String {
        match err {
            PluginError::Config(m) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_valid_configuration() {
        let cfg: Cfg = parse_config(r#"{"url":"https://x"}"#).unwrap();
        assert_eq!(cfg.url, "https://x");
    }

    #[test]
    fn names_the_missing_field() {
        let m = message(parse_config::<Cfg>("{}").unwrap_err());
        assert!(m.contains("missing field `url`"), "{m}");
    }

    #[test]
    fn names_the_field_with_a_wrong_type() {
        let m = message(parse_config::<Cfg>(r#"{"url":5}"#).unwrap_err());
        assert!(m.starts_with("invalid target configuration: url: invalid type"), "{m}");
        let m = message(parse_config::<Cfg>(r#"{"url":"x","events":["a",1]}"#).unwrap_err());
        assert!(m.contains("events[1]"), "{m}");
    }

    #[test]
    fn rejects_text_that_is_not_json() {
        let m = message(parse_config::<Cfg>("url=x").unwrap_err());
        assert!(m.starts_with("invalid target configuration"), "{m}");
        let m = message(parse_config::<Cfg>(r#"{"url":"x"} trailing"#).unwrap_err());
        assert!(m.contains("trailing"), "{m}");
    }

    #[test]
    fn empty_text_reads_as_an_empty_object() {
        #[derive(serde::Deserialize)]
        struct AllOptional {
            #[allow(dead_code)]
            x: Option<u32>,
        }
        assert!(parse_config::<AllOptional>("  ").is_ok());
    }
}
