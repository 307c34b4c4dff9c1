//! Host crypto: the filter uses the host's `verify_signature` only after the start-up probe,
//! falls back to its own crypto when the host lacks the function or lies, and refuses a
//! `crypto: "host"` configuration it cannot honour.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use claimcheck_harness::envoy_crypto::{
    lying_verify_signature, verify_signature, VERIFY_SIGNATURE,
};
use claimcheck_harness::{wasm_path_from_env_or, ForeignFunction, Host, StartError};
use serde_json::json;

use crate::support::*;

/// `corp` with inline keys, so no fetch stands between start and the first request.
fn inline_config(key: &SigningKey, crypto: &str) -> String {
    json!({
        "providers": {"corp": {
            "issuer": ISSUER,
            "audiences": ["api"],
            "jwks": {"inline": {"keys": [key.jwk()]}}
        }},
        "default": {"action": "require", "require": {"providers": {"any": ["corp"]}}},
        "token_cache": {"max_entries": 0},
        "crypto": crypto
    })
    .to_string()
}

fn host_with(function: Option<ForeignFunction>) -> Host {
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    let mut builder = Host::builder()
        .wasm(wasm)
        .start_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    if let Some(function) = function {
        builder = builder.foreign_function(VERIFY_SIGNATURE, function);
    }
    builder.build().unwrap()
}

/// An honest host that counts its calls.
fn counting_host() -> (Host, Rc<Cell<u32>>) {
    let calls = Rc::new(Cell::new(0));
    let seen = Rc::clone(&calls);
    let host = host_with(Some(Box::new(move |arguments: &[u8]| {
        seen.set(seen.get() + 1);
        verify_signature(arguments)
    })));
    (host, calls)
}

fn forged(token: &str) -> String {
    let (rest, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    format!("{rest}.{}", chars.into_iter().collect::<String>())
}

#[test]
fn with_an_honest_host_ecdsa_signatures_are_verified_by_the_host() {
    let key = SigningKey::generate("k1");
    let (host, calls) = counting_host();
    let vm = host.start_vm(inline_config(&key, "auto")).unwrap();
    let probes = calls.get();
    assert_eq!(probes, 4, "two good and two tampered probe signatures");
    assert_eq!(host.gauge("claimcheck.crypto.host"), Some(1));

    let allowed = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&allowed), "logs: {:?}", host.logs());
    let refused = get(
        &host,
        vm,
        "/api",
        Some(&forged(&token(&host, &key, json!({})))),
        &[],
    );
    assert_eq!(
        refusal_reason(&refused).as_deref(),
        Some("signature_invalid")
    );
    assert_eq!(calls.get(), probes + 2);

    advance_ms(&host, 1500);
    assert_eq!(count(&host, "claimcheck.crypto.host_verify"), 2);
}

#[test]
fn a_host_that_says_yes_to_everything_is_caught_by_the_probe_and_not_used() {
    let key = SigningKey::generate("k1");
    let host = host_with(Some(Box::new(lying_verify_signature)));
    let vm = host.start_vm(inline_config(&key, "auto")).unwrap();
    assert_eq!(host.gauge("claimcheck.crypto.host"), Some(0));
    assert_eq!(
        count(&host, "claimcheck.crypto.host_rejected.accepted_tampered"),
        1
    );

    let refused = get(
        &host,
        vm,
        "/api",
        Some(&forged(&token(&host, &key, json!({})))),
        &[],
    );
    assert_eq!(
        refusal_reason(&refused).as_deref(),
        Some("signature_invalid")
    );
    let allowed = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&allowed));
}

#[test]
fn a_host_without_verify_signature_leaves_auto_verifying_in_the_vm() {
    let key = SigningKey::generate("k1");
    let host = host_with(None);
    let vm = host.start_vm(inline_config(&key, "auto")).unwrap();
    assert_eq!(host.gauge("claimcheck.crypto.host"), Some(0));
    assert_eq!(
        count(&host, "claimcheck.crypto.host_rejected.unavailable"),
        1
    );
    let allowed = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&allowed));
}

#[test]
fn crypto_host_without_a_working_verify_signature_is_a_configuration_error() {
    let key = SigningKey::generate("k1");
    for host in [
        host_with(None),
        host_with(Some(Box::new(lying_verify_signature))),
    ] {
        match host.start_vm(inline_config(&key, "host")) {
            Err(StartError::Rejected(_)) => {}
            other => panic!("expected a rejected configuration, got {other:?}"),
        }
        assert!(host.logged(
            claimcheck_harness::LogLevel::Error,
            "needs the host's verify_signature"
        ));
    }
}

#[test]
fn crypto_wasm_never_calls_the_host() {
    let key = SigningKey::generate("k1");
    let (host, calls) = counting_host();
    let vm = host.start_vm(inline_config(&key, "wasm")).unwrap();
    let allowed = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&allowed));
    assert_eq!(calls.get(), 0);
    assert_eq!(host.gauge("claimcheck.crypto.host"), Some(0));
}
