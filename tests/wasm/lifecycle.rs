//! Keys over time: periodic refresh with jitter, stale keys after failed refreshes, rotation,
//! removal, and the staleness bound.

use serde_json::json;

use crate::support::*;

const STALE: &str = "claimcheck.jwks.corp.stale";

#[test]
fn keys_are_refreshed_within_the_jittered_interval() {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start_with_keys(&remote_config(), &[&key]);
    // Jitter takes at most 10% off the 600 s interval.
    until_refresh(&host);
    serve_jwks(&host, &[&key]);
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 2);
}

#[test]
fn a_failed_refresh_keeps_the_last_good_keys_verifying() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    host.time_out(until_refresh(&host).id).unwrap();
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream), "{:?}", stream.local_response());
    assert_eq!(host.gauge(STALE), Some(1));
}

#[test]
fn the_stale_gauge_returns_to_zero_after_a_successful_refresh() {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start_with_keys(&remote_config(), &[&key]);
    host.respond(until_refresh(&host).id, 500, &[], b"")
        .unwrap();
    assert_eq!(host.gauge(STALE), Some(1));
    advance_ms(&host, 1_100);
    serve_jwks(&host, &[&key]);
    assert_eq!(host.gauge(STALE), Some(0));
}

#[test]
fn a_new_kid_is_fetched_and_verifies_after_the_refetch() {
    let old = SigningKey::generate("k1");
    let new = SigningKey::generate("k2");
    let (host, vm) = start_with_keys(&remote_config(), &[&old]);
    advance_ms(&host, 31_000);
    let stream = get(&host, vm, "/api", Some(&token(&host, &new, json!({}))), &[]);
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&old, &new]);
    advance_ms(&host, 100);
    assert!(
        stream.was_request_resumed(),
        "{:?}",
        stream.local_response()
    );
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
}

#[test]
fn a_key_removed_from_the_set_stops_verifying_after_one_refetch() {
    let old = SigningKey::generate("k1");
    let new = SigningKey::generate("k2");
    let (host, vm) = start_with_keys(&remote_config(), &[&old, &new]);
    let old_token = token(&host, &old, json!({}));
    assert!(forwarded(&get(&host, vm, "/api", Some(&old_token), &[])));
    until_refresh(&host);
    serve_jwks(&host, &[&new]);
    // The key might have come back (a rotation right after the refresh): one refetch.
    let stream = get(&host, vm, "/api", Some(&old_token), &[]);
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&new]);
    advance_ms(&host, 100);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("key_not_found"));
    let again = get(&host, vm, "/api", Some(&old_token), &[]);
    assert_eq!(refusal_reason(&again).as_deref(), Some("key_not_found"));
    assert!(host.pending_calls().is_empty(), "no second refetch");
}

#[test]
fn keys_older_than_max_stale_are_refused_at_once_as_keys_unavailable() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"refresh": {"interval_s": 10, "max_stale_s": 20, "retry_initial_ms": 60_000,
                           "retry_max_ms": 60_000},
               "cold_start": {"max_wait_ms": 3000}}),
        json!({}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    advance_ms(&host, 10_000);
    host.respond(one_call(&host).id, 500, &[], b"").unwrap();
    let fresh = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&fresh));
    advance_ms(&host, 11_000);
    let stale = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(!stale.is_request_paused(), "no wait once keys expired");
    assert_eq!(refusal_status(&stale), Some(503));
    assert_eq!(refusal_reason(&stale).as_deref(), Some("keys_unavailable"));
}

#[test]
fn proxies_started_together_refresh_at_different_times() {
    let key = SigningKey::generate("k1");
    let refresh_at: Vec<_> = [1u64, 2, 3]
        .into_iter()
        .map(|seed| {
            let host = build_host_seeded(&["idp"], seed);
            host.start_vm(remote_config()).unwrap();
            advance_ms(&host, 100);
            serve_jwks(&host, &[&key]);
            until_refresh(&host);
            host.now()
        })
        .collect();
    assert_ne!(refresh_at[0], refresh_at[1]);
    assert_ne!(refresh_at[1], refresh_at[2]);
}
