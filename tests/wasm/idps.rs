//! Each identity provider's fixtures (`tests/fixtures/idps/<idp>/`, see `docs/idps.md`) through
//! the real filter: with the documented configuration, the filter fetches the provider's
//! discovery document and the JWKS it names (as the provider publishes both), lets the
//! provider's valid tokens through with their identity, and refuses its tokens for another
//! tenant, audience or issuer with the reason the core gives (`tests/idps.rs`).

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use claimcheck_harness::{wasm_path_from_env_or, Host};
use serde_json::Value;

use crate::support::*;

fn fixture(idp: &str, file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/idps")
        .join(idp)
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `:path` of an absolute URL.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

/// Answers the one pending call, which must be a GET of `url`'s path, with `body`.
fn serve(host: &Host, url: &str, body: &[u8]) {
    advance_ms(host, 100);
    let call = one_call(host);
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.header(":path"), Some(url_path(url)), "{call:?}");
    host.respond(call.id, 200, &[("content-type", "application/json")], body)
        .unwrap();
}

fn run(idp: &str) {
    let config = String::from_utf8(fixture(idp, "config.json")).unwrap();
    let cases: Value = serde_json::from_slice(&fixture(idp, "cases.json")).unwrap();
    let discovery = fixture(idp, "openid-configuration.json");
    let jwks_uri = serde_json::from_slice::<Value>(&discovery).unwrap()["jwks_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    let host = Host::builder()
        .wasm(wasm)
        .clusters(["idp"])
        .start_time(UNIX_EPOCH + Duration::from_secs(cases["now"].as_u64().unwrap()))
        .build()
        .unwrap();
    let vm = host
        .start_vm(&config)
        .unwrap_or_else(|e| panic!("{idp}: configuration refused: {e:?}"));
    serve(&host, cases["discovery_uri"].as_str().unwrap(), &discovery);
    serve(&host, &jwks_uri, &fixture(idp, "jwks.json"));
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty());
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let stream = get(&host, vm, "/orders", case["token"].as_str(), &[]);
        if case["expect"] == "allow" {
            let headers = stream
                .forwarded_request_headers()
                .unwrap_or_else(|| panic!("{idp}: {name}: refused: {:?}", refusal_reason(&stream)));
            assert!(
                headers.iter().any(|(name, _)| name == "x-user"),
                "{idp}: {name}: no identity header"
            );
        } else {
            assert!(!forwarded(&stream), "{idp}: {name}");
            assert_eq!(
                refusal_reason(&stream).as_deref(),
                case["expect"].as_str(),
                "{idp}: {name}"
            );
        }
    }
}

#[test]
fn entra_id_multi_tenant_fixtures_pass_through_the_filter() {
    run("entra");
}

#[test]
fn google_fixtures_pass_through_the_filter() {
    run("google");
}

#[test]
fn auth0_fixtures_pass_through_the_filter() {
    run("auth0");
}

#[test]
fn okta_fixtures_pass_through_the_filter() {
    run("okta");
}

#[test]
fn keycloak_fixtures_pass_through_the_filter() {
    run("keycloak");
}

#[test]
fn cognito_fixtures_pass_through_the_filter() {
    run("cognito");
}

#[test]
fn dex_fixtures_pass_through_the_filter() {
    run("dex");
}

#[test]
fn zitadel_fixtures_pass_through_the_filter() {
    run("zitadel");
}
