//! One fetch: what is dispatched, and how each kind of failed answer is classified, counted
//! and retried.

use std::time::Duration;

use claimcheck_harness::{LogLevel, ENVOY_TIMEOUT_BODY};
use serde_json::json;

use crate::support::*;

const FAILED: &str = "claimcheck.jwks.corp.fetch_failed";

/// Starts a VM and fails its first fetch with `answer`; returns the host.
fn first_fetch_fails(
    answer: impl FnOnce(&claimcheck_harness::Host, claimcheck_harness::CallId),
) -> claimcheck_harness::Host {
    let (host, _vm) = start(&remote_config());
    advance_ms(&host, 100);
    let call = one_call(&host);
    answer(&host, call.id);
    host
}

#[test]
fn the_jwks_call_goes_to_the_configured_cluster_path_and_authority_with_the_timeout() {
    let (host, _vm) = start(&remote_config());
    advance_ms(&host, 100);
    let call = one_call(&host);
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.header(":method"), Some("GET"));
    assert_eq!(call.header(":path"), Some(JWKS_PATH));
    assert_eq!(call.header(":authority"), Some("idp.test"));
    assert_eq!(call.timeout, Duration::from_millis(2000));
}

#[test]
fn a_successful_fetch_is_counted_as_fetch_ok() {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start_with_keys(&remote_config(), &[&key]);
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 1);
}

#[test]
fn a_fetch_timeout_is_counted_as_timeout() {
    let host = first_fetch_fails(|host, id| host.time_out(id).unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.timeout")), 1);
    assert!(host.logged(LogLevel::Warn, "key fetch failed: timeout"));
}

#[test]
fn a_call_left_unanswered_times_out_at_its_deadline() {
    let (host, _vm) = start(&remote_config());
    advance_ms(&host, 100);
    one_call(&host);
    advance_ms(&host, 2_000);
    assert_eq!(count(&host, &format!("{FAILED}.timeout")), 1);
}

#[test]
fn a_connection_reset_is_counted_as_reset() {
    let host = first_fetch_fails(|host, id| host.fail(id).unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.reset")), 1);
    assert!(host.logged(LogLevel::Warn, "key fetch failed: reset"));
}

#[test]
fn a_non_200_answer_is_counted_as_http_status() {
    let host = first_fetch_fails(|host, id| host.respond(id, 404, &[], b"not here").unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.http_status")), 1);
}

#[test]
fn an_idp_504_with_a_body_of_its_own_is_an_http_status_failure_not_a_timeout() {
    let host =
        first_fetch_fails(|host, id| host.respond(id, 504, &[], b"gateway says no").unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.http_status")), 1);
    assert_eq!(count(&host, &format!("{FAILED}.timeout")), 0);
}

#[test]
fn envoys_own_timeout_answer_is_recognised_by_its_body() {
    let host = first_fetch_fails(|host, id| {
        host.respond(
            id,
            504,
            &[("content-type", "text/plain")],
            ENVOY_TIMEOUT_BODY.as_bytes(),
        )
        .unwrap()
    });
    assert_eq!(count(&host, &format!("{FAILED}.timeout")), 1);
}

#[test]
fn a_body_larger_than_the_jwks_bound_is_counted_as_too_large() {
    let body = vec![b' '; 1024 * 1024];
    let host = first_fetch_fails(|host, id| host.respond(id, 200, &[], &body).unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.too_large")), 1);
}

#[test]
fn a_body_that_is_not_json_is_counted_as_bad_jwks() {
    let host =
        first_fetch_fails(|host, id| host.respond(id, 200, &[], b"{\"keys\": [oops").unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.bad_jwks")), 1);
}

#[test]
fn a_jwks_without_a_usable_key_is_counted_as_bad_jwks() {
    let host = first_fetch_fails(|host, id| host.respond(id, 200, &[], br#"{"keys":[]}"#).unwrap());
    assert_eq!(count(&host, &format!("{FAILED}.bad_jwks")), 1);
}

#[test]
fn a_failed_fetch_is_retried_after_retry_initial_ms() {
    let host = first_fetch_fails(|host, id| host.respond(id, 500, &[], b"").unwrap());
    advance_ms(&host, 900);
    assert!(host.pending_calls().is_empty());
    advance_ms(&host, 200);
    assert_eq!(host.pending_calls().len(), 1);
}

#[test]
fn consecutive_failures_back_off_exponentially() {
    let host = first_fetch_fails(|host, id| host.respond(id, 500, &[], b"").unwrap());
    // Second attempt one second later, third two seconds after that, fourth four.
    for (attempt, delay_ms) in [(2, 1_000u64), (3, 2_000), (4, 4_000)] {
        advance_ms(&host, delay_ms - 100);
        assert!(
            host.pending_calls().is_empty(),
            "attempt {attempt} came early"
        );
        advance_ms(&host, 200);
        let call = one_call(&host);
        host.respond(call.id, 500, &[], b"").unwrap();
    }
    assert_eq!(count(&host, &format!("{FAILED}.http_status")), 4);
}

fn discovery_config() -> String {
    config_with(
        json!({"jwks": {"oidc_discovery": {"cluster": "idp", "timeout_ms": 2000}}}),
        json!({}),
    )
}

#[test]
fn discovery_fetches_the_document_then_the_jwks_it_names() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&discovery_config());
    let paused = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 100);
    let discovery = one_call(&host);
    assert_eq!(
        discovery.header(":path"),
        Some("/.well-known/openid-configuration")
    );
    assert_eq!(discovery.header(":authority"), Some("idp.test"));
    let document = json!({"issuer": ISSUER, "jwks_uri": "https://keys.idp.test/certs"});
    host.respond(discovery.id, 200, &[], document.to_string().as_bytes())
        .unwrap();
    let jwks_call = one_call(&host);
    assert_eq!(jwks_call.cluster, "idp");
    assert_eq!(jwks_call.header(":authority"), Some("keys.idp.test"));
    assert_eq!(jwks_call.header(":path"), Some("/certs"));
    host.respond(jwks_call.id, 200, &[], jwks(&[&key]).as_bytes())
        .unwrap();
    advance_ms(&host, 100);
    assert!(paused.was_request_resumed());
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 1);
    assert!(host.pending_calls().is_empty());
}

#[test]
fn a_discovery_document_for_another_issuer_fails_without_fetching_its_jwks() {
    let (host, _vm) = start(&discovery_config());
    advance_ms(&host, 100);
    let discovery = one_call(&host);
    let document = json!({"issuer": "https://evil.test", "jwks_uri": "https://evil.test/keys"});
    host.respond(discovery.id, 200, &[], document.to_string().as_bytes())
        .unwrap();
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, &format!("{FAILED}.bad_discovery")), 1);
}

#[test]
fn a_discovery_document_that_is_not_json_fails_as_bad_discovery() {
    let (host, _vm) = start(&discovery_config());
    advance_ms(&host, 100);
    let discovery = one_call(&host);
    host.respond(discovery.id, 200, &[], b"<html>").unwrap();
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, &format!("{FAILED}.bad_discovery")), 1);
}

#[test]
fn a_cluster_the_host_does_not_know_is_counted_as_dispatch_failed_and_retried() {
    let host = build_host(&[]);
    host.start_vm(remote_config()).unwrap();
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, &format!("{FAILED}.dispatch_failed")), 1);
    advance_ms(&host, 1_000);
    assert_eq!(count(&host, &format!("{FAILED}.dispatch_failed")), 2);
}

#[test]
fn a_failed_jwks_step_after_discovery_starts_over_from_discovery() {
    let (host, _vm) = start(&discovery_config());
    advance_ms(&host, 100);
    let document = json!({"issuer": ISSUER, "jwks_uri": "https://idp.test/certs"});
    host.respond(
        one_call(&host).id,
        200,
        &[],
        document.to_string().as_bytes(),
    )
    .unwrap();
    host.respond(one_call(&host).id, 404, &[], b"").unwrap();
    assert_eq!(count(&host, &format!("{FAILED}.http_status")), 1);
    advance_ms(&host, 1_100);
    assert_eq!(
        one_call(&host).header(":path"),
        Some("/.well-known/openid-configuration")
    );
}
