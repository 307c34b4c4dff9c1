//! The decision as filter state for Envoy's access log (`wasm.claimcheck.*`), and the
//! configuration's `access_log` choosing which decisions are recorded (default: refusals).

use claimcheck_harness::HttpStream;
use serde_json::json;

use crate::support::*;

/// What the access log would print for `name` (`None`: unset, printed as `-`).
fn logged(stream: &HttpStream, name: &str) -> Option<String> {
    stream.property(&[&format!("claimcheck.{name}")])
}

fn config(access_log: &str) -> String {
    config_with(json!({}), json!({"access_log": access_log}))
}

#[test]
fn all_records_who_was_let_in_by_which_rule() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&config("all"), &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(logged(&stream, "decision").as_deref(), Some("allow"));
    assert_eq!(logged(&stream, "rule").as_deref(), Some("default"));
    assert_eq!(logged(&stream, "provider").as_deref(), Some("corp"));
    assert_eq!(logged(&stream, "issuer").as_deref(), Some(ISSUER));
    assert_eq!(logged(&stream, "subject").as_deref(), Some("alice"));
    assert_eq!(logged(&stream, "reason"), None);
}

#[test]
fn a_refused_request_records_its_reason() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(&host, vm, "/api", None, &[]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(logged(&stream, "decision").as_deref(), Some("deny"));
    assert_eq!(logged(&stream, "reason").as_deref(), Some("token_missing"));
    assert_eq!(logged(&stream, "subject"), None);
}

#[test]
fn by_default_an_allowed_request_records_nothing() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(logged(&stream, "decision"), None);
    assert_eq!(logged(&stream, "subject"), None);
}

#[test]
fn by_default_what_a_dry_run_lets_through_is_recorded() {
    let key = SigningKey::generate("k1");
    let config = config_with(json!({}), json!({"dry_run": true}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let stream = get(&host, vm, "/api", None, &[]);
    assert!(forwarded(&stream));
    assert_eq!(logged(&stream, "decision").as_deref(), Some("dry_run_deny"));
    assert_eq!(logged(&stream, "reason").as_deref(), Some("token_missing"));
}

#[test]
fn off_records_not_even_a_refusal() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&config("off"), &[&key]);
    let stream = get(&host, vm, "/api", None, &[]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(logged(&stream, "decision"), None);
    assert_eq!(logged(&stream, "reason"), None);
}

#[test]
fn a_request_decided_after_waiting_for_keys_records_its_decision() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&config("all"));
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    assert!(stream.was_request_resumed());
    assert_eq!(logged(&stream, "decision").as_deref(), Some("allow"));
    assert_eq!(logged(&stream, "subject").as_deref(), Some("alice"));
}
