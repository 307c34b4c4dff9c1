//! `claimcheck validate`: every plugin configuration in a file, checked by the core's
//! `config::load` — the code `on_configure` runs in the filter — so the CLI can never
//! accept what Envoy would refuse, or the other way round.

use claimcheck::config::{self, Config};
use serde_json::{json, Value};

use crate::manifest::{self, FoundConfig, ManifestError};

/// The verdict on one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigReport {
    /// Where in the file it was found; empty when the file is the configuration.
    pub origin: String,
    /// Every error, each with its JSON path (empty path: the document itself).
    pub errors: Vec<Finding>,
    /// Accepted, but worth knowing: the core's warnings (rules the client can steer, inline
    /// keys that will be skipped), and what the file around it does to the filter.
    pub warnings: Vec<Finding>,
}

/// One problem at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub message: String,
}

impl ConfigReport {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn to_json(&self) -> Value {
        let list = |findings: &[Finding]| -> Vec<Value> {
            findings
                .iter()
                .map(|f| json!({ "path": f.path, "message": f.message }))
                .collect()
        };
        json!({
            "origin": self.origin,
            "valid": self.is_valid(),
            "errors": list(&self.errors),
            "warnings": list(&self.warnings),
        })
    }
}

/// Validates every configuration found in `text`.
pub fn validate_text(text: &str) -> Result<Vec<ConfigReport>, ManifestError> {
    Ok(manifest::find_configs(text)?
        .into_iter()
        .map(validate_one)
        .collect())
}

fn validate_one(found: FoundConfig) -> ConfigReport {
    let disabled = found.disabled_at.iter().map(|path| Finding {
        path: path.clone(),
        message: DISABLED_ROUTE.to_owned(),
    });
    match config::load(&found.json) {
        Ok(config) => ConfigReport {
            origin: found.origin.clone(),
            errors: Vec::new(),
            warnings: warnings(&config).into_iter().chain(disabled).collect(),
        },
        Err(errors) => ConfigReport {
            origin: found.origin,
            errors: errors
                .0
                .into_iter()
                .map(|error| Finding {
                    path: error.path,
                    message: error.kind.to_string(),
                })
                .collect(),
            warnings: Vec::new(),
        },
    }
}

/// Why a route that turns the filter off is worth a warning.
const DISABLED_ROUTE: &str = "turns claimcheck off for this route: client-sent identity headers and unverified tokens reach the upstream; let the requests through with an \"allow\" rule instead";

/// The core's warnings, the list the filter logs at `on_configure`.
fn warnings(config: &Config) -> Vec<Finding> {
    config
        .warnings()
        .iter()
        .map(|warning| Finding {
            path: warning.path.clone(),
            message: warning.kind.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_configuration_is_valid() {
        let reports =
            validate_text(r#"{"providers": {}, "rules": [], "default": {"action": "deny"}}"#)
                .unwrap();
        assert_eq!(reports.len(), 1);
        assert!(reports[0].is_valid(), "{:?}", reports[0].errors);
    }

    #[test]
    fn errors_carry_the_core_json_path() {
        let reports = validate_text(
            r#"{"providers": {}, "rules": [{"name": "r", "action": "require", "require": {"providers": {"any": ["nope"]}}}], "default": {"action": "deny"}}"#,
        )
        .unwrap();
        assert_eq!(reports[0].errors.len(), 1);
        assert_eq!(
            reports[0].errors[0].path,
            "rules[0].require.providers.any[0]"
        );
        assert!(reports[0].errors[0].message.contains("unknown provider"));
    }
}
