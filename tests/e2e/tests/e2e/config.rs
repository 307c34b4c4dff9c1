//! Configurations Envoy must refuse (with the JSON path of the mistake in its log) and the
//! configurations the repository ships, which `envoy --mode validate` must accept.

use std::fs;
use std::time::Duration;

use claimcheck_e2e::envoy::{self, Envoy, EnvoySpec};
use serde_json::{json, Value};

use crate::support::{policy, set};

/// Bounds how long a refused start may take (V8 compiles the module first). Not an assertion.
const EXIT_TIMEOUT: Duration = Duration::from_secs(120);

/// The standard policy with one mistake; the issuer is never contacted.
fn broken(ptr: &str, value: Value) -> String {
    let mut p = policy("http://127.0.0.1:9");
    set(&mut p, ptr, value);
    p.to_string()
}

fn spec(name: &str, plugin_config: String) -> EnvoySpec {
    let port = envoy::closed_port().unwrap();
    EnvoySpec::claimcheck(name, plugin_config, port, port)
}

/// A mistake: a name, where to put it (JSON pointer), what to put, and the path Envoy's log
/// must name for it.
struct Mistake {
    name: &'static str,
    at: &'static str,
    value: Value,
    path: &'static str,
}

fn mistakes() -> Vec<Mistake> {
    vec![
        Mistake {
            name: "wrong_type",
            at: "/providers/idp/cold_start/max_wait_ms",
            value: json!("soon"),
            path: "providers.idp.cold_start.max_wait_ms",
        },
        Mistake {
            name: "no_audiences",
            at: "/providers/idp/audiences",
            value: json!([]),
            path: "providers.idp.audiences",
        },
        Mistake {
            name: "undefined_provider",
            at: "/rules/1/require/providers/any/0",
            value: json!("nobody"),
            path: "rules[1].require.providers.any[0]",
        },
    ]
}

#[test]
fn a_bad_configuration_stops_envoy_with_the_json_path_in_its_log() {
    for Mistake {
        name,
        at,
        value,
        path,
    } in mistakes()
    {
        let spec = spec(&format!("bad_config_{name}"), broken(at, value));
        let (status, log) =
            Envoy::run_to_exit(&spec, EXIT_TIMEOUT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !status.success(),
            "{name}: Envoy accepted a bad configuration\n{log}"
        );
        assert!(
            log.contains(path),
            "{name}: Envoy's log does not name `{path}`:\n{log}"
        );
    }
}

#[test]
fn envoy_validate_refuses_a_bad_configuration_with_the_json_path() {
    let Mistake {
        at, value, path, ..
    } = mistakes().remove(0);
    let file = Envoy::render_to_file(&spec("validate_bad", broken(at, value)))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, out) = Envoy::validate(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !status.success(),
        "validate accepted a bad configuration\n{out}"
    );
    assert!(
        out.contains(path),
        "validate output does not name `{path}`:\n{out}"
    );
}

#[test]
fn rendered_e2e_template_passes_envoy_validate() {
    let file = Envoy::render_to_file(&spec(
        "validate_template",
        policy("http://127.0.0.1:9").to_string(),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, out) = Envoy::validate(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{}:\n{out}", file.display());
}

#[test]
fn every_envoy_config_in_the_repo_passes_envoy_validate() {
    // The shipped configs name the filter by its path relative to the repository root.
    envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let dir = envoy::repo_root().join("envoy-config");
    let mut configs: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    configs.sort();
    assert!(!configs.is_empty(), "no configs in {}", dir.display());
    for config in configs {
        let (status, out) = Envoy::validate(&config).unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "{}:\n{out}", config.display());
    }
}
