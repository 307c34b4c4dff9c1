//! `claimcheck schema`, `validate` and `explain`, run as a user would, with keys and
//! tokens made by the CLI itself.

// Test helpers outside #[test] functions may panic too: a panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use common::{claimcheck, keys, repo_file, token, write};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.com";

/// A policy with one remote-JWKS provider: admins may write, anyone with a token may read.
fn policy() -> Value {
    json!({
        "providers": {
            "corp": {
                "issuer": ISSUER,
                "audiences": ["orders-api"],
                "algorithms": ["ES256", "RS256", "EdDSA"],
                "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/jwks.json" } },
                "claims_to_headers": [ { "claim": "sub", "header": "x-user-id" } ]
            }
        },
        "rules": [
            { "name": "health", "match": { "path": { "exact": "/healthz" } }, "action": "allow" },
            { "name": "admin-writes",
              "match": { "path": { "prefix": "/admin/" }, "methods": ["POST"] },
              "action": "require",
              "require": { "providers": { "any": ["corp"] },
                           "claims": { "claim": "groups", "contains": "admin" } } }
        ],
        "default": { "action": "require", "require": { "providers": { "any": ["corp"] } } },
        "realm": "orders"
    })
}

struct Setup {
    _dir: tempfile::TempDir,
    config: String,
    key: String,
    jwks: String,
}

fn setup(alg: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = keys(&dir.path().join("keys"), alg, "k1");
    let config = write(dir.path(), "policy.json", &policy().to_string());
    Setup {
        _dir: dir,
        config,
        key,
        jwks,
    }
}

fn explain_json(args: &[&str]) -> (i32, Value) {
    let mut full = vec!["explain", "--json"];
    full.extend_from_slice(args);
    let run = claimcheck(&full);
    assert!(
        run.code == 0 || run.code == 1,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

#[test]
fn schema_is_the_committed_schema() {
    let run = claimcheck(&["schema"]);
    assert_eq!(run.code, 0);
    let committed = std::fs::read_to_string(repo_file("schema/claimcheck.schema.json")).unwrap();
    assert_eq!(run.stdout, committed);
}

#[test]
fn every_policy_example_validates() {
    for entry in std::fs::read_dir(repo_file("policy-examples")).unwrap() {
        let path = entry.unwrap().path();
        let run = claimcheck(&["validate", path.to_str().unwrap()]);
        assert_eq!(
            run.code,
            0,
            "{}: {}{}",
            path.display(),
            run.stdout,
            run.stderr
        );
        assert!(run.stdout.trim_end().ends_with(": ok"), "{}", run.stdout);
    }
}

#[test]
fn invalid_config_lists_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = policy();
    bad["rules"][1]["require"]["providers"]["any"] = json!(["crop"]);
    bad["providers"]["corp"]["issuer"] = json!("");
    let config = write(dir.path(), "bad.json", &bad.to_string());
    let run = claimcheck(&["validate", &config]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("2 errors"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("rules[1].require.providers.any[0]: unknown provider \"crop\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("providers.corp.issuer:"),
        "{}",
        run.stdout
    );
}

#[test]
fn syntax_error_is_an_invalid_config_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "broken.json", "{\n  \"rules\": [,]\n}\n");
    let run = claimcheck(&["validate", &config]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("line 2"), "{}", run.stdout);
}

#[test]
fn validate_reports_a_missing_file_as_an_io_error() {
    let run = claimcheck(&["validate", "no-such-config.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-config.json"), "{}", run.stderr);
}

#[test]
fn istio_manifest_errors_name_the_document_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = "\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: idp}
spec: {hosts: [idp.example.com]}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: claimcheck}
spec:
  url: oci://registry.example/claimcheck:0.1.0
  pluginConfig:
    providers: {}
    rules:
      - name: r
        action: allow
        match: {methods: [\"NOT A METHOD\"]}
    default: {action: deny}
";
    let path = write(dir.path(), "istio.yaml", manifests);
    let run = claimcheck(&["validate", &path]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("document 2, WasmPlugin claimcheck: spec.pluginConfig"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("rules[0].match.methods[0]"),
        "{}",
        run.stdout
    );
}

#[test]
fn kuma_mesh_proxy_patch_configuration_validates() {
    let dir = tempfile::tempdir().unwrap();
    let config = policy().to_string().replace('\'', "''");
    let manifest = format!(
        "\
apiVersion: kuma.io/v1alpha1
kind: MeshProxyPatch
metadata: {{name: claimcheck, namespace: kuma-system}}
spec:
  targetRef: {{kind: Mesh}}
  default:
    appendModifications:
      - httpFilter:
          operation: AddBefore
          match: {{name: envoy.filters.http.router}}
          value: |
            name: envoy.filters.http.wasm
            typedConfig:
              '@type': type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: claimcheck
                configuration:
                  '@type': type.googleapis.com/google.protobuf.StringValue
                  value: '{config}'
"
    );
    let path = write(dir.path(), "kuma.yaml", &manifest);
    let run = claimcheck(&["validate", &path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("MeshProxyPatch claimcheck"),
        "{}",
        run.stdout
    );
}

#[test]
fn validate_json_output_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = policy();
    bad["default"] = json!({"action": "require"});
    let config = write(dir.path(), "bad.json", &bad.to_string());
    let run = claimcheck(&["validate", "--json", &config]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["configurations"][0]["errors"][0]["path"],
        "default.require"
    );
}

#[test]
fn explain_allows_a_valid_token_and_shows_the_identity_headers() {
    let s = setup("ES256");
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--sub",
        "alice",
        "--aud",
        "orders-api",
        "--claim",
        "groups=[\"admin\"]",
    ]);
    let run = claimcheck(&[
        "explain",
        &s.config,
        "--token",
        &minted,
        "--jwks",
        &s.jwks,
        "--method",
        "POST",
        "--path",
        "/admin/users",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("200 allowed"), "{}", run.stdout);
    assert!(run.stdout.contains("signature verified"), "{}", run.stdout);
    assert!(
        run.stdout.contains("[0] health  no match"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("[1] admin-writes  matches"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("[pass] groups contains \"admin\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("x-user-id: alice"), "{}", run.stdout);
    assert!(!run.stdout.contains("UNVERIFIED"), "{}", run.stdout);
}

#[test]
fn explain_refuses_an_expired_token_with_401_invalid_token() {
    let s = setup("EdDSA");
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--now",
        "2026-01-01T00:00:00Z",
        "--ttl",
        "5m",
    ]);
    let (code, out) = explain_json(&[
        &s.config,
        "--token",
        &minted,
        "--jwks",
        &s.jwks,
        "--now",
        "2026-01-01T01:00:00Z",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 401);
    assert_eq!(out["decision"]["reason"], "token_expired");
    let challenge = out["decision"]["www_authenticate"].as_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(out["providers"][0]["claims"], "token_expired");
    assert_eq!(out["providers"][0]["signature"], "verified");
}

#[test]
fn explain_refuses_a_token_older_than_the_rules_max_token_age_as_token_too_old() {
    let s = setup("EdDSA");
    let mut bounded = policy();
    bounded["rules"][1]["require"]["max_token_age_s"] = json!(300);
    let config = write(s._dir.path(), "bounded.json", &bounded.to_string());
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--claim",
        r#"groups=["admin"]"#,
        "--now",
        "2026-01-01T00:00:00Z",
        "--ttl",
        "1h",
    ]);
    let explain_at = |now: &str| {
        explain_json(&[
            &config, "--token", &minted, "--jwks", &s.jwks, "--method", "POST", "--path",
            "/admin/x", "--now", now,
        ])
    };
    let (code, out) = explain_at("2026-01-01T00:04:00Z");
    assert_eq!(code, 0, "{out}");
    let (code, out) = explain_at("2026-01-01T00:10:00Z");
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 401);
    assert_eq!(out["decision"]["reason"], "token_too_old");
    assert_eq!(out["providers"][0]["claims"], "token_too_old");
}

#[test]
fn explain_refuses_a_failed_condition_with_403_and_the_failing_leaf() {
    let s = setup("RS256");
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--claim",
        "groups=[\"staff\"]",
    ]);
    let (code, out) = explain_json(&[
        &s.config, "--token", &minted, "--jwks", &s.jwks, "--method", "POST", "--path", "/admin/x",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 403);
    assert_eq!(out["decision"]["reason"], "claims_condition_failed");
    assert!(out["decision"]["www_authenticate"]
        .as_str()
        .unwrap()
        .contains("insufficient_scope"));
    assert_eq!(out["rule"], "admin-writes");
    assert_eq!(out["conditions"]["result"], false);
    assert_eq!(out["conditions"]["condition"], "groups contains \"admin\"");
}

#[test]
fn explain_refuses_a_claim_of_the_wrong_type_and_marks_the_leaf() {
    let s = setup("ES256");
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--claim",
        "groups=7",
    ]);
    let (code, out) = explain_json(&[
        &s.config, "--token", &minted, "--jwks", &s.jwks, "--method", "POST", "--path", "/admin/x",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 403);
    assert_eq!(out["decision"]["reason"], "claims_condition_wrong_type");
    assert_eq!(out["conditions"]["code"], "wrong_type");
    assert_eq!(out["conditions"]["result"], false);
    let run = claimcheck(&[
        "explain", &s.config, "--token", &minted, "--jwks", &s.jwks, "--method", "POST", "--path",
        "/admin/x", "--color", "never",
    ]);
    assert!(
        run.stdout
            .contains("[wrong type] groups contains \"admin\""),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_shows_an_identity_header_left_unset_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = keys(&dir.path().join("keys"), "ES256", "k1");
    let mut config = policy();
    config["providers"]["corp"]["claims_to_headers"] =
        json!([ { "claim": "groups", "header": "x-groups", "join": ";" } ]);
    let config = write(dir.path(), "policy.json", &config.to_string());
    let minted = token(&[
        "--key",
        &key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--claim",
        "groups=[\"viewers;tenant-admin\"]",
    ]);
    let (code, out) = explain_json(&[&config, "--token", &minted, "--jwks", &jwks]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(
        out["decision"]["headers_skipped"],
        json!([{ "header": "x-groups", "reason": "separator_in_value" }])
    );
    assert!(!out["decision"]["headers_to_set"]
        .as_array()
        .unwrap()
        .iter()
        .any(|pair| pair[0] == "x-groups"));
}

#[test]
fn explain_without_keys_marks_the_result_unverified() {
    let s = setup("ES256");
    let minted = token(&["--key", &s.key, "--iss", ISSUER, "--aud", "orders-api"]);
    let run = claimcheck(&[
        "explain", &s.config, "--token", &minted, "--path", "/orders",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("UNVERIFIED"), "{}", run.stdout);
    let (_, out) = explain_json(&[&s.config, "--token", &minted, "--path", "/orders"]);
    assert_eq!(out["verified"], false);
    assert_eq!(out["providers"][0]["signature"], "unverified");
}

#[test]
fn explain_refuses_a_token_signed_by_another_key() {
    let s = setup("ES256");
    let other = tempfile::tempdir().unwrap();
    let (other_key, _) = keys(other.path(), "ES256", "k1");
    let forged = token(&["--key", &other_key, "--iss", ISSUER, "--aud", "orders-api"]);
    let (code, out) = explain_json(&[&s.config, "--token", &forged, "--jwks", &s.jwks]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["reason"], "signature_invalid");
    assert_eq!(out["providers"][0]["signature"], "failed");
}

#[test]
fn explain_without_a_token_is_401_token_missing() {
    let s = setup("ES256");
    let (code, out) = explain_json(&[&s.config, "--path", "/orders"]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 401);
    assert_eq!(out["decision"]["reason"], "token_missing");
    assert_eq!(
        out["decision"]["www_authenticate"],
        "Bearer realm=\"orders\""
    );
}

#[test]
fn explain_matches_the_canonical_method_and_path_as_the_filter_does() {
    let s = setup("ES256");
    let (code, out) = explain_json(&[&s.config, "--method", "post", "--path", "/admin//users/"]);
    assert_eq!(code, 1);
    assert_eq!(out["rule"], "admin-writes");
    assert_eq!(out["request"]["canonical"]["method"], "POST");
    assert_eq!(out["request"]["canonical"]["path"], "/admin/users");
}

#[test]
fn explain_refuses_an_encoded_slash_before_any_rule() {
    let s = setup("ES256");
    let (code, out) = explain_json(&[&s.config, "--path", "/healthz/..%2Fadmin"]);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 400);
    assert_eq!(out["decision"]["reason"], "path_escaped_slash");
    assert_eq!(out["request"]["canonical"], Value::Null);
}

#[test]
fn explain_allows_a_public_route_without_a_token() {
    let s = setup("ES256");
    let (code, out) = explain_json(&[&s.config, "--path", "/healthz"]);
    assert_eq!(code, 0);
    assert_eq!(out["rule"], "health");
    assert_eq!(out["decision"]["allowed"], true);
}

#[test]
fn explain_verifies_hs256_against_the_provider_inline_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = keys(&dir.path().join("keys"), "HS256", "h1");
    let inline: Value = serde_json::from_str(&std::fs::read_to_string(jwks).unwrap()).unwrap();
    let config = json!({
        "providers": { "internal": { "issuer": "internal", "audiences": "any", "algorithms": ["HS256"], "jwks": { "inline": inline } } },
        "rules": [],
        "default": { "action": "require", "require": { "providers": { "any": ["internal"] } } }
    });
    let config = write(dir.path(), "hmac.json", &config.to_string());
    let minted = token(&["--key", &key, "--iss", "internal"]);
    let (code, out) = explain_json(&[&config, "--token", &minted]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["providers"][0]["keys"], "inline");
    assert_eq!(out["providers"][0]["signature"], "verified");
}

#[test]
fn explain_reads_the_token_from_a_file_and_the_config_from_a_manifest() {
    let s = setup("ES256");
    let minted = token(&["--key", &s.key, "--iss", ISSUER, "--aud", "orders-api"]);
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token.jwt", &format!("{minted}\n"));
    let manifest = format!(
        "kind: WasmPlugin\nmetadata: {{name: claimcheck}}\nspec:\n  pluginConfig: {}\n",
        policy()
    );
    let manifest = write(dir.path(), "wasmplugin.yaml", &manifest);
    let (code, out) = explain_json(&[&manifest, "--token-file", &token_file, "--jwks", &s.jwks]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["token"]["header"]["alg"], "ES256");
    assert_eq!(out["token"]["claims"]["iss"], ISSUER);
}

#[test]
fn explain_refuses_an_invalid_config_as_a_usage_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.json",
        r#"{"providers": {}, "rules": [], "default": {"action": "allw"}}"#,
    );
    let run = claimcheck(&["explain", &config]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("default.action"), "{}", run.stderr);
}

#[test]
fn explain_decodes_a_token_passed_as_a_header() {
    let s = setup("ES256");
    let minted = token(&[
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--sub",
        "bob",
    ]);
    let header = format!("authorization: Bearer {minted}");
    let (code, out) = explain_json(&[&s.config, "--header", &header, "--jwks", &s.jwks]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["token"]["claims"]["sub"], "bob");
    assert_eq!(
        out["decision"]["headers_to_set"],
        json!([["x-user-id", "bob"]])
    );
}

#[test]
fn explain_needs_a_choice_when_the_file_holds_several_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let one = format!(
        "kind: WasmPlugin\nmetadata: {{name: a}}\nspec:\n  pluginConfig: {}\n",
        policy()
    );
    let path = write(
        dir.path(),
        "two.yaml",
        &format!("{one}---\n{}", one.replace("name: a", "name: b")),
    );
    let run = claimcheck(&["explain", &path, "--path", "/healthz"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--select 1..2"), "{}", run.stderr);
    let chosen = claimcheck(&["explain", &path, "--path", "/healthz", "--select", "2"]);
    assert_eq!(chosen.code, 0, "{}", chosen.stderr);
}

#[test]
fn validate_reads_standard_input_for_a_dash() {
    use std::io::Write as _;
    let mut child = common::command()
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(policy().to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "-: ok\n");
}

/// Every algorithm the filter verifies: a key from `keys`, a token from `token`, verified
/// by the filter's own code through `explain`.
#[test]
fn tokens_for_every_algorithm_verify_in_the_filter_core() {
    let asymmetric = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ];
    for alg in asymmetric {
        let dir = tempfile::tempdir().unwrap();
        let (key, jwks) = keys(&dir.path().join("keys"), alg, "k");
        let mut config = policy();
        config["providers"]["corp"]["algorithms"] = json!([alg]);
        let config = write(dir.path(), "policy.json", &config.to_string());
        let minted = token(&["--key", &key, "--iss", ISSUER, "--aud", "orders-api"]);
        let (code, out) = explain_json(&[&config, "--token", &minted, "--jwks", &jwks]);
        assert_eq!(code, 0, "{alg}: {out:#}");
        assert_eq!(out["providers"][0]["signature"], "verified", "{alg}");
    }
    for alg in ["HS256", "HS384", "HS512"] {
        let dir = tempfile::tempdir().unwrap();
        let (key, jwks) = keys(&dir.path().join("keys"), alg, "h");
        let inline: Value = serde_json::from_str(&std::fs::read_to_string(jwks).unwrap()).unwrap();
        let config = json!({
            "providers": { "internal": { "issuer": "internal", "audiences": "any", "algorithms": [alg], "jwks": { "inline": inline } } },
            "rules": [],
            "default": { "action": "require", "require": { "providers": { "any": ["internal"] } } }
        });
        let config = write(dir.path(), "hmac.json", &config.to_string());
        let minted = token(&["--key", &key, "--iss", "internal"]);
        let (code, out) = explain_json(&[&config, "--token", &minted]);
        assert_eq!(code, 0, "{alg}: {out:#}");
        assert_eq!(out["providers"][0]["signature"], "verified", "{alg}");
    }
}

/// The `introspected-wallet` example's opaque-token provider, with `answer` (if any) as the
/// introspection answer: (exit code, `--json` output).
fn explain_opaque(answer: Option<Value>) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policy-examples/introspected-wallet.json"
    );
    let answer_file = dir.path().join("answer.json");
    let mut args = vec![
        config.to_owned(),
        "--now".into(),
        "1700000000".into(),
        "--path".into(),
        "/wallet/balance".into(),
        "--token".into(),
        "2YotnFZFEjr1zCsicMWpAA".into(),
    ];
    if let Some(answer) = answer {
        std::fs::write(&answer_file, answer.to_string()).unwrap();
        args.push("--introspection".into());
        args.push(answer_file.to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    explain_json(&args)
}

#[test]
fn explain_takes_an_introspection_answer_for_an_opaque_token() {
    let (code, out) = explain_opaque(Some(json!({
        "active": true, "sub": "c-1", "client_id": "mobile", "aud": "wallet-api",
        "scope": "wallet", "exp": 1_700_000_600
    })));
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["decision"]["allowed"], true);
    let provider = &out["providers"][0];
    assert_eq!(provider["introspection"], "active");
}

#[test]
fn explain_shows_an_inactive_answer_as_token_inactive() {
    let (code, out) = explain_opaque(Some(json!({ "active": false })));
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["reason"], "token_inactive");
    assert_eq!(out["providers"][0]["introspection"], "inactive");
}

#[test]
fn explain_without_an_introspection_answer_is_introspection_unavailable() {
    let (code, out) = explain_opaque(None);
    assert_eq!(code, 1);
    assert_eq!(out["decision"]["status"], 503);
    assert_eq!(out["decision"]["reason"], "introspection_unavailable");
}

#[test]
fn explain_refuses_a_file_that_is_no_introspection_answer() {
    let dir = tempfile::tempdir().unwrap();
    let answer = dir.path().join("answer.json");
    std::fs::write(&answer, r#"{"active": "true"}"#).unwrap();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policy-examples/introspected-wallet.json"
    );
    let run = claimcheck(&[
        "explain",
        config,
        "--path",
        "/wallet",
        "--introspection",
        answer.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not an introspection answer"),
        "{}",
        run.stderr
    );
}

/// `policy` with a revocation list on `corp`, a token for `sub`, and `list` (if any) as
/// `--revocation-list`: (exit code, `--json` output).
fn explain_with_list(sub: &str, list: Option<Value>) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = keys(&dir.path().join("keys"), "ES256", "k1");
    let mut config = policy();
    config["providers"]["corp"]["revocation"] =
        json!({ "cluster": "idp", "uri": "https://idp.example.com/revoked.json" });
    let config = write(dir.path(), "policy.json", &config.to_string());
    let minted = token(&[
        "--key",
        &key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--sub",
        sub,
    ]);
    let mut args = vec![config.as_str(), "--token", &minted, "--jwks", &jwks];
    let list_file;
    if let Some(list) = list {
        list_file = write(dir.path(), "revoked.json", &list.to_string());
        args.extend(["--revocation-list", list_file.as_str()]);
    }
    explain_json(&args)
}

#[test]
fn explain_refuses_a_token_the_revocation_list_names_and_says_by_which_claim() {
    let (code, out) = explain_with_list("mallory", Some(json!({ "sub": ["mallory"] })));
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(out["decision"]["reason"], "token_revoked");
    assert_eq!(out["providers"][0]["revocation"], "revoked_sub");
}

#[test]
fn explain_allows_a_token_the_revocation_list_does_not_name() {
    let (code, out) = explain_with_list("alice", Some(json!({ "sub": ["mallory"] })));
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["providers"][0]["revocation"], "not_revoked");
}

#[test]
fn explain_without_a_revocation_list_is_revocation_list_unavailable() {
    let (code, out) = explain_with_list("alice", None);
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(out["decision"]["status"], 503);
    assert_eq!(out["decision"]["reason"], "revocation_list_unavailable");
    assert_eq!(out["providers"][0]["revocation"], "unavailable");
}

#[test]
fn explain_refuses_a_file_that_is_no_revocation_list() {
    let dir = tempfile::tempdir().unwrap();
    let list = write(dir.path(), "revoked.json", r#"{"jti": ["t-1", 2]}"#);
    let config = write(dir.path(), "policy.json", &policy().to_string());
    let run = claimcheck(&["explain", &config, "--revocation-list", &list]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a revocation list"),
        "{}",
        run.stderr
    );
}

/// [`policy`] with DPoP required and server nonces on for `corp`.
fn nonce_setup() -> Setup {
    let s = setup("ES256");
    let mut doc = policy();
    doc["providers"]["corp"]["dpop"] = json!({
        "mode": "required", "origin": "https://api.example.com",
        "nonce": { "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" }
    });
    std::fs::write(&s.config, doc.to_string()).unwrap();
    s
}

/// A token bound to `client_key` and its proof for `GET https://api.example.com/orders`.
fn bound_token_and_proof(s: &Setup, client_key: &str, nonce: Option<&str>) -> (String, String) {
    let mut args = vec![
        "--key",
        &s.key,
        "--iss",
        ISSUER,
        "--aud",
        "orders-api",
        "--now",
        "2026-01-01T00:00:00Z",
        "--dpop-key",
        client_key,
        "--dpop-htu",
        "https://api.example.com/orders",
    ];
    if let Some(nonce) = nonce {
        args.extend(["--dpop-nonce", nonce]);
    }
    let output = token(&args);
    let mut lines = output.lines();
    let (token, proof) = (lines.next().unwrap(), lines.next().unwrap());
    (token.to_owned(), proof.to_owned())
}

fn explain_dpop(s: &Setup, token: &str, proof: &str) -> (i32, Value) {
    let authorization = format!("authorization: DPoP {token}");
    let dpop = format!("dpop: {proof}");
    explain_json(&[
        &s.config,
        "--host",
        "api.example.com",
        "--path",
        "/orders",
        "--header",
        &authorization,
        "--header",
        &dpop,
        "--jwks",
        &s.jwks,
        "--now",
        "2026-01-01T00:00:00Z",
    ])
}

#[test]
fn explain_asks_for_a_dpop_nonce_and_accepts_a_proof_carrying_the_one_it_gave() {
    let s = nonce_setup();
    let client_dir = tempfile::tempdir().unwrap();
    let (client_key, _) = keys(client_dir.path(), "ES256", "c");
    let (token, proof) = bound_token_and_proof(&s, &client_key, None);
    let (code, out) = explain_dpop(&s, &token, &proof);
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(out["decision"]["reason"], "dpop_nonce_missing", "{out:#}");
    let challenge = out["decision"]["www_authenticate"].as_str().unwrap();
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = out["decision"]["dpop_nonce"].as_str().unwrap().to_owned();

    let (token, proof) = bound_token_and_proof(&s, &client_key, Some(&nonce));
    let (code, out) = explain_dpop(&s, &token, &proof);
    assert_eq!(code, 0, "{out:#}");
}
