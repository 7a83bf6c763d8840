//! Reading the YAML file: `${VAR:-default}` expansion first, then
//! `INTEGRATION_SYNC__SECTION__KEY` overrides, then typed deserialisation and
//! validation. Every failure names the key (or variable) at fault.

use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::Settings;

/// Prefix of environment variables that override any key, e.g.
/// `INTEGRATION_SYNC__SYNC_LIMITS__PAGE_SIZE=200`.
pub const ENV_OVERRIDE_PREFIX: &str = "INTEGRATION_SYNC";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration variable ${{{var}}} is not set and has no default: {cause}")]
    Expansion { var: String, cause: String },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: key `{key}` {problem}")]
    Invalid { key: &'static str, problem: String },
}

pub fn load_from_file(path: impl AsRef<Path>) -> Result<Settings, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_from_str(&text)
}

/// Loads settings from YAML text, expanding variables from the process environment.
pub fn load_from_str(yaml: &str) -> Result<Settings, ConfigError> {
    let expanded = expand_variables(yaml)?;
    let settings: Settings = Config::builder()
        .add_source(File::from_str(&expanded, FileFormat::Yaml))
        .add_source(
            Environment::with_prefix(ENV_OVERRIDE_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .and_then(Config::try_deserialize)
        .map_err(|e| ConfigError::Parse(e.to_string()))?;
    settings.validate()?;
    Ok(settings)
}

/// Expands `$VAR`, `${VAR}` and `${VAR:-default}` line by line, so that a comment
/// mentioning a variable never fails the load.
fn expand_variables(yaml: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let (content, comment) = split_comment(line);
        let expanded = shellexpand::env(content).map_err(|e| ConfigError::Expansion {
            var: e.var_name.clone(),
            cause: e.cause.to_string(),
        })?;
        out.push_str(&expanded);
        out.push_str(comment);
        out.push('\n');
    }
    Ok(out)
}

fn split_comment(line: &str) -> (&str, &str) {
    if line.trim_start().starts_with('#') {
        return ("", line);
    }
    match line.find(" #") {
        Some(i) => line.split_at(i),
        None => (line, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_YAML: &str = include_str!("../../../../config/default.yaml");

    #[test]
    fn default_file_loads_with_embedded_defaults() {
        let settings = load_from_str(DEFAULT_YAML).expect("default config loads");
        assert_eq!(settings.server.port, 3052);
        assert!(
            settings.cosmos_db.endpoint.is_none() || std::env::var("COSMOS_DB_ENDPOINT").is_ok()
        );
        assert_eq!(settings.rabbitmq.exchange, "coder_events");
        assert_eq!(settings.mapping.batch_threshold, 100);
        assert_eq!(settings.mapping.batch_size, 50);
        assert_eq!(
            settings.jwt.issuer, None,
            "the platform's tokens carry no issuer"
        );
        assert!(
            !settings.mapping.batch_events,
            "per-record events by default"
        );
        assert_eq!(
            settings.services.secret_management.path.as_deref(),
            Some("/api/secrets")
        );
    }

    #[test]
    fn defaults_after_colon_dash_are_used_for_unset_variables() {
        let yaml = DEFAULT_YAML.replace("${PORT:-3052}", "${IS_TEST_UNSET_PORT_VAR:-4123}");
        let settings = load_from_str(&yaml).unwrap();
        assert_eq!(settings.server.port, 4123);
    }

    #[test]
    fn a_variable_without_default_that_is_unset_is_named_in_the_error() {
        let yaml = DEFAULT_YAML.replace("${PORT:-3052}", "${IS_TEST_SURELY_UNSET_VAR}");
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("IS_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    #[test]
    fn a_wrongly_typed_value_names_its_key() {
        let yaml = DEFAULT_YAML.replace("${PORT:-3052}", "not-a-port");
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("server.port"), "{err}");
    }

    #[test]
    fn a_missing_key_is_named_in_the_error() {
        let yaml = DEFAULT_YAML.replace("  batch_threshold: 100\n", "");
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("batch_threshold"), "{err}");
    }

    #[test]
    fn comments_mentioning_variables_do_not_need_them_set() {
        let yaml = format!("# uses ${{NOT_SET_IN_COMMENT}}\n{DEFAULT_YAML}");
        assert!(load_from_str(&yaml).is_ok());
    }
}
