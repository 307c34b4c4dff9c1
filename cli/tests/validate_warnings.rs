//! `claimcheck validate` warnings: rules the client can steer, routes that turn the filter
//! off, and the shipped files, which draw none.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::path::PathBuf;

use common::{claimcheck, repo_file, write};
use serde_json::{json, Value};

/// A dry-run rule keyed on a client header, placed before the rule that enforces.
fn canary_policy() -> Value {
    json!({
        "providers": { "corp": {
            "issuer": "https://idp.example.com",
            "audiences": ["inventory"],
            "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/jwks" } }
        } },
        "rules": [
            { "name": "writes-canary", "dry_run": true,
              "match": { "path": { "prefix": "/inventory" },
                         "headers": [ { "name": "x-canary", "exact": "1" } ] },
              "action": "require", "require": { "providers": { "any": ["corp"] } } },
            { "name": "writes", "match": { "path": { "prefix": "/inventory" } },
              "action": "require", "require": { "providers": { "any": ["corp"] } } }
        ],
        "default": { "action": "deny" }
    })
}

#[test]
fn shipped_policies_manifests_and_envoy_configs_validate_without_a_warning() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file("policy-examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    for file in [
        "deploy/istio/wasmplugin.yaml",
        "deploy/istio/trafficextension.yaml",
        "deploy/kuma/meshproxypatch.yaml",
        "deploy/envoy/claimcheck-filter.yaml",
        "envoy-config/demo.yaml",
        "envoy-config/example.yaml",
    ] {
        files.push(repo_file(file));
    }
    for file in files {
        let run = claimcheck(&["validate", "--json", file.to_str().unwrap()]);
        assert_eq!(
            run.code,
            0,
            "{}: {}{}",
            file.display(),
            run.stdout,
            run.stderr
        );
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        for configuration in report["configurations"].as_array().unwrap() {
            assert_eq!(configuration["warnings"], json!([]), "{}", file.display());
        }
    }
}

#[test]
fn a_rule_the_client_steers_is_valid_but_warned_about_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "canary.json", &canary_policy().to_string());
    let run = claimcheck(&["validate", &config]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(": ok"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "warning: rules[0].match.headers: matches on the client's header \"x-canary\""
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "warning: rules[0].dry_run: dry-run rule takes requests from rule \"writes\""
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn warnings_are_in_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "canary.json", &canary_policy().to_string());
    let run = claimcheck(&["validate", "--json", &config]);
    assert_eq!(run.code, 0);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let warnings = &report["configurations"][0]["warnings"];
    assert_eq!(warnings[0]["path"], "rules[0].match.headers");
    assert_eq!(warnings[1]["path"], "rules[0].dry_run");
    assert_eq!(report["valid"], true);
}

#[test]
fn an_envoy_route_that_turns_the_filter_off_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = json!({
        "providers": { "corp": {
            "issuer": "https://idp.example.com",
            "audiences": ["orders-api"],
            "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/jwks" } }
        } },
        "default": { "action": "require", "require": { "providers": { "any": ["corp"] } } }
    });
    let envoy = format!(
        r#"
static_resources:
  listeners:
    - name: main
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                route_config:
                  virtual_hosts:
                    - name: api
                      domains: ["*"]
                      routes:
                        - match: {{ prefix: "/public/" }}
                          route: {{ cluster: upstream }}
                          typed_per_filter_config:
                            claimcheck:
                              "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                              disabled: true
                        - match: {{ prefix: "/" }}
                          route: {{ cluster: upstream }}
                http_filters:
                  - name: claimcheck
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: '{plugin}'
"#
    );
    let file = write(dir.path(), "envoy.yaml", &envoy);
    let run = claimcheck(&["validate", "--json", &file]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let warnings = report["configurations"][0]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0]["path"],
        "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].typed_per_filter_config.claimcheck"
    );
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("\"allow\" rule"),
        "{warnings:?}"
    );
}

#[test]
fn an_envoy_route_that_keeps_the_filter_on_draws_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = r#"{"providers": {}, "default": {"action": "allow"}}"#;
    let envoy = format!(
        r#"
static_resources:
  listeners:
    - name: main
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                route_config:
                  virtual_hosts:
                    - name: api
                      domains: ["*"]
                      typed_per_filter_config:
                        other-filter:
                          "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                          disabled: true
                      routes:
                        - match: {{ prefix: "/" }}
                          route: {{ cluster: upstream }}
                http_filters:
                  - name: claimcheck
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: '{plugin}'
"#
    );
    let file = write(dir.path(), "envoy.yaml", &envoy);
    let run = claimcheck(&["validate", "--json", &file]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["configurations"][0]["warnings"], json!([]));
}
