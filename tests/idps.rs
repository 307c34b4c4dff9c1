//! Each identity provider's fixtures (`tests/fixtures/idps/<idp>/`, see `docs/idps.md`) through
//! the core: the documented configuration takes the provider's discovery document and JWKS as
//! published, accepts its valid tokens, and refuses its tokens for another tenant, audience or
//! issuer, each with its reason. `tests/wasm/idps.rs` runs the same fixtures through the filter.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use claimcheck::authorize::{
    authorize, Inputs, KeyAvailability, KeyLookup, Outcome, VerifiedCache, Waiting,
};
use claimcheck::config::{self, Config, JwksSource, ProviderId};
use claimcheck::crypto::RingVerifier;
use claimcheck::decision::Decision;
use claimcheck::jwks::{self, KeyPolicy, KeySet};
use claimcheck::observe::Unobserved;
use claimcheck::request::Request;
use serde_json::Value;

fn fixture(idp: &str, file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/idps")
        .join(idp)
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The provider's keys, as the filter holds them once fetched.
struct Fetched(KeySet);

impl KeyLookup for Fetched {
    fn keys(&self, _provider: ProviderId) -> KeyAvailability<'_> {
        KeyAvailability::Ready {
            keys: &self.0,
            generation: 1,
        }
    }
}

/// What the filter does with the fixtures: follow discovery from the configured URL (its
/// issuer checked against the provider's first issuer), parse the JWKS it names under the
/// provider's algorithms, then decide every case's request at the fixtures' `now`.
fn run(idp: &str) {
    let config: Config = config::load(&fixture(idp, "config.json")).unwrap();
    let provider = &config.providers[0];
    let cases: Value = serde_json::from_slice(&fixture(idp, "cases.json")).unwrap();
    let JwksSource::OidcDiscovery(target) = &provider.jwks else {
        panic!("{idp}: the documented configuration uses discovery");
    };
    assert_eq!(target.uri, cases["discovery_uri"], "{idp}: discovery URL");
    let discovery =
        jwks::parse_discovery(&fixture(idp, "openid-configuration.json"), &provider.issuer)
            .unwrap_or_else(|e| panic!("{idp}: discovery refused: {e}"));
    assert!(jwks::split_url(&discovery.jwks_uri).is_ok());
    let policy = KeyPolicy {
        algorithms: provider.algorithms.clone(),
    };
    let keys = KeySet::parse(&fixture(idp, "jwks.json"), &policy)
        .unwrap_or_else(|e| panic!("{idp}: JWKS refused: {e}"))
        .keys;
    let now = cases["now"].as_u64().unwrap();
    let all = cases["cases"].as_array().unwrap();
    assert!(
        all.iter().any(|c| c["expect"] == "allow"),
        "{idp}: no valid token"
    );
    assert!(
        all.iter().any(|c| c["expect"] != "allow"),
        "{idp}: no refusal"
    );
    for case in all {
        let name = case["name"].as_str().unwrap();
        let request = Request {
            method: "GET".to_owned(),
            path: "/orders".to_owned(),
            host: "api.test".to_owned(),
            headers: vec![(
                "authorization".to_owned(),
                format!("Bearer {}", case["token"].as_str().unwrap()),
            )],
            route_name: None,
            peer: Default::default(),
        };
        let fetched = Fetched(keys.clone());
        let inputs = Inputs {
            peer_certificate: &claimcheck::peer::NO_CERTIFICATE,
            keys: &fetched,
            verifier: &RingVerifier,
            now_ms: now * 1000,
            waiting: Waiting::New { room: false },
            replay: &claimcheck::dpop::replay::Unchecked,
            introspection: &claimcheck::authorize::NoIntrospection,
        };
        let mut cache = VerifiedCache::new(0);
        let outcome = authorize(&config, &request, &inputs, &mut cache, &mut Unobserved);
        let Outcome::Decided(verdict) = outcome else {
            panic!("{idp}: {name}: waits: {outcome:?}");
        };
        let got = match &verdict.decision {
            Decision::Allow(_) => "allow",
            Decision::Deny(denial) => denial.reason.code(),
        };
        assert_eq!(got, case["expect"], "{idp}: {name}");
    }
}

#[test]
fn entra_id_multi_tenant_v1_and_v2_tokens_pass_with_the_documented_configuration() {
    run("entra");
}

#[test]
fn google_id_tokens_of_both_issuer_spellings_pass_with_the_documented_configuration() {
    run("google");
}

#[test]
fn auth0_tokens_with_the_trailing_slash_issuer_pass_with_the_documented_configuration() {
    run("auth0");
}

#[test]
fn okta_custom_authorization_server_tokens_pass_with_the_documented_configuration() {
    run("okta");
}

#[test]
fn keycloak_realm_tokens_pass_with_the_documented_configuration() {
    run("keycloak");
}

#[test]
fn cognito_access_tokens_pass_with_the_documented_configuration() {
    run("cognito");
}

#[test]
fn dex_tokens_of_current_and_previous_keys_pass_with_the_documented_configuration() {
    run("dex");
}

#[test]
fn zitadel_access_tokens_pass_with_the_documented_configuration() {
    run("zitadel");
}
