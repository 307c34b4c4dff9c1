//! Every kind of refusal this suite sees through Envoy is reproduced offline by
//! `claimcheck explain` with the same configuration, keys, request and token: the same status,
//! reason code and `WWW-Authenticate`. Operators can trust `explain` to tell them why Envoy
//! refused a request.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use claimcheck_e2e::envoy::repo_root;
use claimcheck_e2e::http::Response;
use serde_json::{json, Value};

use crate::support::*;

/// The CLI binary built next to this crate (`make e2e` builds it).
fn claimcheck_cli() -> PathBuf {
    let path = repo_root().join("target/debug/claimcheck");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p claimcheck-cli` (or `make e2e`)",
        path.display()
    );
    path
}

/// Writes the shared world's configuration and key set where the CLI can read them, once per
/// test process: tests run in parallel, and rewriting a file another test's CLI is reading
/// would hand it a half-written document.
fn inputs(w: &World) -> (PathBuf, PathBuf) {
    static WRITTEN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let dir = repo_root().join("target/e2e/explain");
            std::fs::create_dir_all(&dir).unwrap();
            let config = dir.join(format!("config-{}.json", std::process::id()));
            let keys = dir.join(format!("jwks-{}.json", std::process::id()));
            std::fs::write(&config, policy(w.idp.issuer()).to_string()).unwrap();
            std::fs::write(&keys, jwks(&[&w.key])).unwrap();
            (config, keys)
        })
        .clone()
}

/// `claimcheck explain --json` for a GET of `path` with `token` and `headers`.
fn explain(w: &World, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Value {
    let (config, keys) = inputs(w);
    let mut command = Command::new(claimcheck_cli());
    command
        .arg("explain")
        .arg(&config)
        .args(["--json", "--method", "GET", "--path", path, "--jwks"])
        .arg(&keys);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    for (name, value) in headers {
        command.args(["--header", &format!("{name}:{value}")]);
    }
    let output = command.output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "explain printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Sends the request through Envoy, then asks `explain`; both must refuse the same way.
fn refused_alike(path: &str, token: Option<&str>, headers: &[(&str, &str)], reason: &str) {
    let w = shared();
    let mut with_token: Vec<(&str, &str)> = headers.to_vec();
    let bearer = token.map(|t| format!("Bearer {t}"));
    if let Some(b) = &bearer {
        with_token.push(("authorization", b));
    }
    let envoy: Response = w.get(path, None, &with_token);
    assert_eq!(reason_of(&envoy), reason, "Envoy: {}", envoy.body_text());
    let decision = &explain(w, path, token, headers)["decision"];
    assert_eq!(decision["allowed"], json!(false), "{decision}");
    assert_eq!(decision["status"], json!(envoy.status), "{decision}");
    assert_eq!(decision["reason"], json!(reason), "{decision}");
    assert_eq!(
        decision["www_authenticate"].as_str(),
        envoy.header("www-authenticate"),
        "{decision}"
    );
}

#[test]
fn explain_reproduces_a_missing_token() {
    refused_alike("/api/orders", None, &[], "token_missing");
}

#[test]
fn explain_reproduces_an_expired_token() {
    let w = shared();
    let past = now() - 3600;
    let token = w.key.sign(
        &w.claims(json!({ "iat": past - 60, "nbf": past - 60, "exp": past, "scope": "api:read" })),
    );
    refused_alike("/api/orders", Some(&token), &[], "token_expired");
}

#[test]
fn explain_reproduces_a_tampered_signature() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read" }));
    let (input, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{input}.{flipped}{}", &signature[1..]);
    refused_alike("/api/orders", Some(&tampered), &[], "signature_invalid");
}

#[test]
fn explain_reproduces_a_wrong_audience() {
    let w = shared();
    let token = w.token(json!({ "aud": "someone-else", "scope": "api:read" }));
    refused_alike("/api/orders", Some(&token), &[], "audience_mismatch");
}

#[test]
fn explain_reproduces_an_unknown_kid() {
    let w = shared();
    let token = w
        .key
        .sign_with_kid(&w.claims(json!({ "scope": "api:read" })), "no-such-kid");
    refused_alike("/api/orders", Some(&token), &[], "key_not_found");
}

#[test]
fn explain_reproduces_a_failed_claim_condition_with_its_403_challenge() {
    let w = shared();
    let token = w.token(json!({ "groups": ["dev"] }));
    refused_alike("/admin/users", Some(&token), &[], "claims_condition_failed");
}

#[test]
fn explain_reproduces_the_default_deny() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read" }));
    refused_alike("/elsewhere", Some(&token), &[], "no_rule_matched");
}

#[test]
fn explain_reproduces_a_malformed_token_on_a_public_route() {
    refused_alike("/public/x", Some("not.a-jwt"), &[], "token_malformed");
}
