//! Dry run: refusals are logged and counted, the request goes through.

use claimcheck_harness::LogLevel;
use serde_json::json;

use crate::support::*;

fn dry_run_config() -> String {
    config_with(json!({}), json!({"dry_run": true}))
}

#[test]
fn a_request_that_would_be_refused_goes_upstream_in_dry_run() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    let stream = get(&host, vm, "/api", None, &[]);
    assert!(forwarded(&stream));
    assert!(stream.local_response().is_none());
}

#[test]
fn a_dry_run_refusal_is_counted_by_reason_and_not_as_denied() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    get(&host, vm, "/api", None, &[]);
    assert_eq!(
        count(&host, "claimcheck.requests.dry_run_denied.token_missing"),
        1
    );
    assert_eq!(count(&host, "claimcheck.requests.denied"), 0);
}

#[test]
fn a_dry_run_refusal_logs_one_line_with_its_reason() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    host.clear_logs();
    get(&host, vm, "/api", None, &[]);
    let lines = host.logs_at(LogLevel::Info);
    let matching: Vec<_> = lines
        .iter()
        .filter(|line| line.contains("dry-run would deny"))
        .collect();
    assert_eq!(matching.len(), 1, "{lines:?}");
    assert!(matching[0].contains("reason=token_missing"));
}

#[test]
fn dry_run_still_strips_client_sent_identity_headers() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    let stream = get(&host, vm, "/api", None, &[("x-user", "root")]);
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("x-user"), None);
}

#[test]
fn a_valid_token_in_dry_run_is_allowed_with_its_identity_headers() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert_eq!(count(&host, "claimcheck.requests.allowed"), 1);
}

#[test]
fn a_rule_can_be_in_dry_run_while_the_rest_enforces() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"rules": [{"name": "staged", "match": {"path": {"prefix": "/new"}},
                          "action": "require", "dry_run": true,
                          "require": {"providers": {"any": ["corp"]}}}]}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    assert!(forwarded(&get(&host, vm, "/new/x", None, &[])));
    assert_eq!(
        refusal_status(&get(&host, vm, "/old", None, &[])),
        Some(401)
    );
}

#[test]
fn a_paused_request_that_would_be_refused_is_resumed_in_dry_run() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let (host, vm) = start(&dry_run_config());
    let stream = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &impostor, json!({}))),
        &[],
    );
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    assert!(stream.was_request_resumed());
    assert!(stream.local_response().is_none());
    assert_eq!(
        count(
            &host,
            "claimcheck.requests.dry_run_denied.signature_invalid"
        ),
        1
    );
}

#[test]
fn a_request_that_waited_out_is_resumed_in_dry_run() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&dry_run_config());
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 3_100);
    assert!(stream.was_request_resumed());
    assert!(stream.local_response().is_none());
    assert_eq!(
        count(
            &host,
            "claimcheck.requests.dry_run_denied.keys_wait_timeout"
        ),
        1
    );
}

#[test]
fn a_dry_run_refusal_forwards_none_of_the_tokens_it_did_not_verify() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"sources": [{"header": "authorization", "prefix": "Bearer "},
                           {"query": "access_token"}, {"cookie": "session"}]}),
        json!({"dry_run": true}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let stream = get(
        &host,
        vm,
        "/api?a=1&access%5Ftoken=forged",
        Some("forged"),
        &[("cookie", "theme=dark, session=forged")],
    );
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("authorization"), None);
    assert_eq!(
        stream.forwarded_request_header(":path").as_deref(),
        Some("/api?a=1")
    );
    assert_eq!(
        stream.forwarded_request_header("cookie").as_deref(),
        Some("theme=dark")
    );
}

#[test]
fn dry_run_strips_identity_headers_under_their_underscore_spelling() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&dry_run_config(), &[&key]);
    let stream = get(&host, vm, "/api", None, &[("x_user", "root")]);
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("x_user"), None);
}
