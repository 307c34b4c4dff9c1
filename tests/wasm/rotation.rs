//! Key rotation at any moment of the refresh schedule: a token signed by a key the IdP
//! published after our last fetch waits for one refetch and is accepted; made-up `kid`s cost
//! at most one refetch per interval and are refused without repeated waits.

use claimcheck_harness::{Host, HttpStream, VmId};
use serde_json::json;

use crate::support::*;

/// Refresh every 10 s (the smallest interval): up to 10% jitter puts the next refresh
/// between 9 s and 10 s after a fetch.
fn rotation_config() -> String {
    config_with(
        json!({"refresh": {"interval_s": 10, "max_stale_s": 3600, "retry_initial_ms": 1000,
                           "retry_max_ms": 8000, "unknown_kid_min_interval_s": 30}}),
        json!({}),
    )
}

/// The IdP: serves whatever keys it publishes now and counts the fetches it answered.
struct Idp<'k> {
    keys: Vec<&'k SigningKey>,
    fetches: usize,
}

impl Idp<'_> {
    fn answer(&mut self, host: &Host) {
        for call in host.pending_calls() {
            host.respond(call.id, 200, &[], jwks(&self.keys).as_bytes())
                .unwrap();
            self.fetches += 1;
        }
    }
}

/// `vms` workers fetch `old`; `offset_ms` after that fetch the IdP publishes `new` and
/// starts signing with it while every worker takes a request every 100 ms for 3 s.
/// Returns the streams and the fetches the IdP answered after the first.
fn rotate_at(vms: usize, offset_ms: u64) -> (Vec<HttpStream>, usize) {
    let old = SigningKey::generate("old");
    let new = SigningKey::generate("new");
    let host = build_host(&["idp"]);
    let workers: Vec<VmId> = (0..vms)
        .map(|_| host.start_vm(rotation_config()).unwrap())
        .collect();
    let mut idp = Idp {
        keys: vec![&old],
        fetches: 0,
    };
    advance_ms(&host, 100);
    idp.answer(&host);
    assert_eq!(idp.fetches, 1);
    advance_ms(&host, offset_ms);
    idp.keys.push(&new);
    let mut streams = Vec::new();
    for _ in 0..30 {
        for vm in &workers {
            let token = token(&host, &new, json!({}));
            streams.push(get(&host, *vm, "/api", Some(&token), &[]));
        }
        idp.answer(&host);
        advance_ms(&host, 100);
    }
    idp.answer(&host);
    advance_ms(&host, 100);
    (streams, idp.fetches - 1)
}

fn assert_no_refusal_and_one_refetch(vms: usize, offset_ms: u64) {
    let (streams, extra_fetches) = rotate_at(vms, offset_ms);
    for stream in &streams {
        assert_eq!(
            refusal_reason(stream),
            None,
            "{vms} VM(s), rotation {offset_ms} ms after the fetch"
        );
        assert!(forwarded(stream));
    }
    assert_eq!(
        extra_fetches, 1,
        "{vms} VM(s), rotation {offset_ms} ms after the fetch"
    );
}

/// 0.1 s after a fetch: the case the old rate limit (counting the refresh) refused.
const RIGHT_AFTER: u64 = 100;
/// Half the 10 s interval.
const HALF_INTERVAL: u64 = 5_000;
/// Just before the jitter window of the next refresh opens (9 s after the fetch).
const JUST_BEFORE: u64 = 8_800;

#[test]
fn a_rotation_right_after_a_refresh_refuses_nobody_on_one_vm() {
    assert_no_refusal_and_one_refetch(1, RIGHT_AFTER);
}

#[test]
fn a_rotation_right_after_a_refresh_refuses_nobody_on_two_vms() {
    assert_no_refusal_and_one_refetch(2, RIGHT_AFTER);
}

#[test]
fn a_rotation_right_after_a_refresh_refuses_nobody_on_four_vms() {
    assert_no_refusal_and_one_refetch(4, RIGHT_AFTER);
}

#[test]
fn a_rotation_half_an_interval_after_a_refresh_refuses_nobody_on_one_vm() {
    assert_no_refusal_and_one_refetch(1, HALF_INTERVAL);
}

#[test]
fn a_rotation_half_an_interval_after_a_refresh_refuses_nobody_on_two_vms() {
    assert_no_refusal_and_one_refetch(2, HALF_INTERVAL);
}

#[test]
fn a_rotation_half_an_interval_after_a_refresh_refuses_nobody_on_four_vms() {
    assert_no_refusal_and_one_refetch(4, HALF_INTERVAL);
}

#[test]
fn a_rotation_just_before_the_next_refresh_refuses_nobody_on_one_vm() {
    assert_no_refusal_and_one_refetch(1, JUST_BEFORE);
}

#[test]
fn a_rotation_just_before_the_next_refresh_refuses_nobody_on_two_vms() {
    assert_no_refusal_and_one_refetch(2, JUST_BEFORE);
}

#[test]
fn a_rotation_just_before_the_next_refresh_refuses_nobody_on_four_vms() {
    assert_no_refusal_and_one_refetch(4, JUST_BEFORE);
}

#[test]
fn a_kid_one_refetch_did_not_find_is_refused_at_once_until_the_next_fetch() {
    let key = SigningKey::generate("k1");
    let forged = SigningKey::generate("made-up");
    let (host, vm) = start_with_keys(&rotation_config(), &[&key]);
    let first = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &forged, json!({}))),
        &[],
    );
    assert!(first.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    assert_eq!(refusal_reason(&first).as_deref(), Some("key_not_found"));
    let again = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &forged, json!({}))),
        &[],
    );
    assert_eq!(refusal_reason(&again).as_deref(), Some("key_not_found"));
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty(), "no second refetch");
}

#[test]
fn a_refetch_the_rate_limit_defers_is_made_at_the_earliest_allowed_moment() {
    let old = SigningKey::generate("k1");
    let second = SigningKey::generate("k2");
    let third = SigningKey::generate("k3");
    let config = config_with(
        json!({"refresh": {"interval_s": 600, "max_stale_s": 3600,
                           "unknown_kid_min_interval_s": 30}}),
        json!({}),
    );
    let (host, vm) = start_with_keys(&config, &[&old]);
    // A first rotation: one refetch, which starts the 30 s rate-limit window.
    let rotated = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &second, json!({}))),
        &[],
    );
    advance_ms(&host, 100);
    serve_jwks(&host, &[&old, &second]);
    advance_ms(&host, 100);
    assert!(forwarded(&rotated));
    // A second rotation 5 s later: refused now, and the refetch is queued, not dropped.
    advance_ms(&host, 5_000);
    let deferred = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &third, json!({}))),
        &[],
    );
    assert_eq!(refusal_reason(&deferred).as_deref(), Some("key_not_found"));
    advance_ms(&host, 24_000);
    assert!(host.pending_calls().is_empty(), "refetch before the limit");
    advance_ms(&host, 1_000);
    serve_jwks(&host, &[&old, &second, &third]);
    advance_ms(&host, 100);
    let later = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &third, json!({}))),
        &[],
    );
    assert!(forwarded(&later), "{:?}", later.local_response());
}

#[test]
fn a_flood_of_made_up_kids_costs_at_most_one_refetch_per_interval() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let mut fetches = 0;
    // Two minutes of made-up `kid`s, one every 500 ms: at most one refetch per 30 s.
    for n in 0..240 {
        let forged = SigningKey::generate(&format!("made-up-{n}"));
        let stream = get(
            &host,
            vm,
            "/api",
            Some(&token(&host, &forged, json!({}))),
            &[],
        );
        advance_ms(&host, 100);
        for call in host.pending_calls() {
            host.respond(call.id, 200, &[], jwks(&[&key]).as_bytes())
                .unwrap();
            fetches += 1;
        }
        advance_ms(&host, 400);
        assert_eq!(refusal_reason(&stream).as_deref(), Some("key_not_found"));
    }
    assert!(fetches <= 5, "{fetches} refetches in two minutes");
    assert!(fetches >= 4, "{fetches} refetches in two minutes");
}
