//! Token introspection (RFC 7662) through the module: one call per token per process,
//! shared by every VM through shared data; requests wait for it and are woken when the
//! answer is published; negative answers and failures cached; the outage behaviour.

use claimcheck_harness::{DispatchedCall, Host, HttpStream, VmId};
use serde_json::{json, Value};

use crate::support::*;

const OPAQUE: &str = "2YotnFZFEjr1zCsicMWpAA";
const OTHER_OPAQUE: &str = "mF_9.B5f-4.1JqM";
const INTROSPECT_PATH: &str = "/oauth2/introspect";

fn endpoint(extra: Value) -> Value {
    let mut endpoint = json!({
        "cluster": "as",
        "uri": format!("https://as.test{INTROSPECT_PATH}"),
        "timeout_ms": 1000,
        "max_ttl_s": 60,
        "negative_ttl_s": 5,
        "failure_ttl_ms": 500,
        "client_auth": { "basic": { "client_id": "gateway", "client_secret": "s3cret" } }
    });
    for (name, value) in extra.as_object().cloned().unwrap_or_default() {
        endpoint[name] = value;
    }
    endpoint
}

/// `corp` (remote keys) introspected on `/payments` (failing closed) and `/reports`
/// (`on_outage: "allow"`); `wallet` takes opaque tokens from `x-wallet-token` on `/wallet`.
fn config(introspection: Value) -> String {
    let mut document: Value = serde_json::from_str(&config_with(
        json!({ "introspection": endpoint(introspection.clone()) }),
        json!({}),
    ))
    .unwrap();
    document["providers"]["wallet"] = json!({
        "issuer": "https://as.test",
        "audiences": "any",
        "sources": [ { "header": "x-wallet-token" } ],
        "introspection": endpoint(introspection),
        "claims_to_headers": [ { "claim": "client_id", "header": "x-client-id" } ]
    });
    let rules = document["rules"].as_array_mut().unwrap();
    rules.push(
        json!({ "name": "wallet", "match": { "path": { "prefix": "/wallet" } },
        "action": "require", "require": { "providers": { "any": ["wallet"] } } }),
    );
    rules.push(
        json!({ "name": "payments", "match": { "path": { "prefix": "/payments" } },
        "action": "require",
        "require": { "providers": { "any": ["corp"] }, "introspect": {} } }),
    );
    rules.push(
        json!({ "name": "reports", "match": { "path": { "prefix": "/reports" } },
        "action": "require",
        "require": { "providers": { "any": ["corp"] }, "introspect": { "on_outage": "allow" } } }),
    );
    document.to_string()
}

fn host_with_vms(count: usize, introspection: Value) -> (Host, Vec<VmId>) {
    let host = build_host(&["idp", "as"]);
    let config = config(introspection);
    let vms = (0..count)
        .map(|_| host.start_vm(&config).unwrap())
        .collect();
    (host, vms)
}

fn wallet(host: &Host, vm: VmId, token: &str) -> HttpStream {
    get(
        host,
        vm,
        "/wallet/balance",
        None,
        &[("x-wallet-token", token)],
    )
}

/// The pending calls to the introspection endpoint.
fn introspection_calls(host: &Host) -> Vec<DispatchedCall> {
    host.pending_calls()
        .into_iter()
        .filter(|call| call.cluster == "as")
        .collect()
}

fn one_introspection_call(host: &Host) -> DispatchedCall {
    let calls = introspection_calls(host);
    assert_eq!(calls.len(), 1, "expected one introspection call: {calls:?}");
    calls.into_iter().next().unwrap()
}

fn answer(host: &Host, call: &DispatchedCall, body: Value) {
    host.respond(
        call.id,
        200,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .unwrap();
}

fn active(host: &Host) -> Value {
    json!({ "active": true, "client_id": "mobile-app", "sub": "alice",
            "exp": host_now_s(host) + 3600 })
}

#[test]
fn the_call_is_a_form_post_with_the_token_and_the_client_authentication() {
    let (host, vms) = host_with_vms(1, json!({}));
    let stream = wallet(&host, vms[0], OPAQUE);
    assert!(stream.is_request_paused());
    let call = one_introspection_call(&host);
    assert_eq!(call.header(":method"), Some("POST"));
    assert_eq!(call.header(":path"), Some(INTROSPECT_PATH));
    assert_eq!(call.header(":authority"), Some("as.test"));
    assert_eq!(
        call.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // base64("gateway:s3cret")
    assert_eq!(
        call.header("authorization"),
        Some("Basic Z2F0ZXdheTpzM2NyZXQ=")
    );
    assert_eq!(
        call.body,
        format!("token={OPAQUE}&token_type_hint=access_token").into_bytes()
    );
}

#[test]
fn an_active_answer_resumes_the_request_with_the_answers_claims_and_is_reused() {
    let (host, vms) = host_with_vms(1, json!({}));
    let first = wallet(&host, vms[0], OPAQUE);
    answer(&host, &one_introspection_call(&host), active(&host));
    assert!(first.was_request_resumed());
    assert_eq!(
        first.forwarded_request_header("x-client-id").as_deref(),
        Some("mobile-app")
    );
    let second = wallet(&host, vms[0], OPAQUE);
    assert!(forwarded(&second));
    assert!(introspection_calls(&host).is_empty());
    assert_eq!(count(&host, "claimcheck.introspection.wallet.call"), 1);
    assert_eq!(count(&host, "claimcheck.introspection.wallet.active"), 1);
    assert_eq!(count(&host, "claimcheck.introspection.wallet.waited"), 1);
    assert!(count(&host, "claimcheck.introspection.wallet.cache_hit") >= 1);
}

#[test]
fn an_answer_published_by_one_vm_serves_the_other() {
    let (host, vms) = host_with_vms(2, json!({}));
    let first = wallet(&host, vms[0], OPAQUE);
    answer(&host, &one_introspection_call(&host), active(&host));
    assert!(first.was_request_resumed());
    let other = wallet(&host, vms[1], OPAQUE);
    assert!(forwarded(&other));
    assert!(introspection_calls(&host).is_empty());
    assert_eq!(count(&host, "claimcheck.introspection.wallet.call"), 1);
}

#[test]
fn many_requests_for_one_token_on_two_vms_make_exactly_one_call() {
    let (host, vms) = host_with_vms(2, json!({}));
    let mut streams = Vec::new();
    for round in 0..10 {
        for vm in &vms {
            streams.push(wallet(&host, *vm, OPAQUE));
        }
        if round % 3 == 0 {
            advance_ms(&host, 50);
        }
    }
    assert!(streams.iter().all(HttpStream::is_request_paused));
    let call = one_introspection_call(&host);
    answer(&host, &call, active(&host));
    // The calling VM resumes its requests at once, the other on its next tick.
    advance_ms(&host, 100);
    for stream in &streams {
        assert!(stream.was_request_resumed(), "vm {:?}", stream.vm());
        assert!(forwarded(stream));
    }
    assert!(introspection_calls(&host).is_empty());
    assert_eq!(count(&host, "claimcheck.introspection.wallet.call"), 1);
}

#[test]
fn two_tokens_get_one_call_each() {
    let (host, vms) = host_with_vms(2, json!({}));
    wallet(&host, vms[0], OPAQUE);
    wallet(&host, vms[1], OPAQUE);
    wallet(&host, vms[1], OTHER_OPAQUE);
    wallet(&host, vms[0], OTHER_OPAQUE);
    assert_eq!(introspection_calls(&host).len(), 2);
}

#[test]
fn an_inactive_answer_is_remembered_for_the_negative_lifetime() {
    let (host, vms) = host_with_vms(2, json!({}));
    let first = wallet(&host, vms[0], OPAQUE);
    answer(
        &host,
        &one_introspection_call(&host),
        json!({ "active": false }),
    );
    assert_eq!(refusal_status(&first), Some(401));
    assert_eq!(refusal_reason(&first).as_deref(), Some("token_inactive"));
    let again = wallet(&host, vms[1], OPAQUE);
    assert_eq!(refusal_reason(&again).as_deref(), Some("token_inactive"));
    assert!(introspection_calls(&host).is_empty());
    // Past `negative_ttl_s` (5 s) the server is asked again.
    advance_ms(&host, 5_100);
    let later = wallet(&host, vms[0], OPAQUE);
    assert!(later.is_request_paused());
    one_introspection_call(&host);
    assert_eq!(count(&host, "claimcheck.introspection.wallet.inactive"), 1);
}

#[test]
fn a_failed_call_refuses_503_and_is_remembered_briefly() {
    let (host, vms) = host_with_vms(1, json!({}));
    let first = wallet(&host, vms[0], OPAQUE);
    host.fail(one_introspection_call(&host).id).unwrap();
    assert_eq!(refusal_status(&first), Some(503));
    assert_eq!(
        refusal_reason(&first).as_deref(),
        Some("introspection_unavailable")
    );
    let again = wallet(&host, vms[0], OPAQUE);
    assert_eq!(refusal_status(&again), Some(503));
    assert!(introspection_calls(&host).is_empty());
    assert_eq!(
        count(&host, "claimcheck.introspection.wallet.failed.reset"),
        1
    );
    // Past `failure_ttl_ms` (500 ms) the server is asked again.
    advance_ms(&host, 600);
    wallet(&host, vms[0], OPAQUE);
    one_introspection_call(&host);
}

#[test]
fn a_timed_out_call_refuses_503_by_default() {
    let key = SigningKey::generate("k1");
    let (host, vms) = host_with_vms(1, json!({}));
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(&host, vms[0], "/payments", Some(&jwt), &[]);
    assert!(stream.is_request_paused());
    host.time_out(one_introspection_call(&host).id).unwrap();
    assert_eq!(refusal_status(&stream), Some(503));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("introspection_unavailable")
    );
    assert_eq!(
        count(&host, "claimcheck.introspection.corp.failed.timeout"),
        1
    );
}

#[test]
fn an_outage_on_an_allowing_route_lets_the_verified_jwt_through_and_counts_it() {
    let key = SigningKey::generate("k1");
    let (host, vms) = host_with_vms(1, json!({}));
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(&host, vms[0], "/reports", Some(&jwt), &[]);
    host.fail(one_introspection_call(&host).id).unwrap();
    assert!(stream.was_request_resumed());
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert_eq!(
        count(&host, "claimcheck.introspection.corp.outage_allowed"),
        1
    );
    assert!(host.logged(
        claimcheck_harness::LogLevel::Warn,
        "allowed without introspection"
    ));
}

#[test]
fn a_request_whose_call_never_answers_is_refused_at_the_end_of_its_wait() {
    let (host, vms) = host_with_vms(1, json!({}));
    let stream = wallet(&host, vms[0], OPAQUE);
    // The host times the call out after `timeout_ms` (1 s); the wait ends then at the latest.
    advance_ms(&host, 2_100);
    assert_eq!(refusal_status(&stream), Some(503));
}

#[test]
fn an_active_answer_is_used_no_longer_than_its_exp() {
    let (host, vms) = host_with_vms(1, json!({}));
    let first = wallet(&host, vms[0], OPAQUE);
    let exp = host_now_s(&host) + 10;
    answer(
        &host,
        &one_introspection_call(&host),
        json!({ "active": true, "client_id": "mobile-app", "exp": exp }),
    );
    assert!(forwarded(&first));
    advance_ms(&host, 9_000);
    assert!(forwarded(&wallet(&host, vms[0], OPAQUE)));
    assert!(introspection_calls(&host).is_empty());
    // `max_ttl_s` is 60, but the answer's `exp` ends it sooner: the server is asked again.
    advance_ms(&host, 2_000);
    let later = wallet(&host, vms[0], OPAQUE);
    assert!(later.is_request_paused());
    one_introspection_call(&host);
}

#[test]
fn the_slot_holds_the_tokens_digest_never_the_token() {
    let (host, vms) = host_with_vms(1, json!({ "slots": 16 }));
    wallet(&host, vms[0], OPAQUE);
    answer(&host, &one_introspection_call(&host), active(&host));
    let digest = ring::digest::digest(&ring::digest::SHA256, OPAQUE.as_bytes());
    let slot = u32::from_be_bytes(digest.as_ref()[..4].try_into().unwrap()) % 16;
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    // The slot key's digest covers the issuer, cluster, URL and client authentication.
    let source = format!(
        "https://as.test\nas\nhttps://as.test{INTROSPECT_PATH}\nBasic Z2F0ZXdheTpzM2NyZXQ="
    );
    let prefix = ring::digest::digest(&ring::digest::SHA256, source.as_bytes());
    let short: String = prefix.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("claimcheck/v2/introspection/wallet/{short}/{slot}");
    let (bytes, _) = host.shared_data(&key).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(&hex));
    assert!(!text.contains(OPAQUE));
}

#[test]
fn a_call_the_host_refuses_to_dispatch_is_a_failure_the_waiting_request_meets() {
    let host = build_host(&["idp"]);
    let vm = host.start_vm(config(json!({}))).unwrap();
    let stream = wallet(&host, vm, OPAQUE);
    advance_ms(&host, 100);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("introspection_unavailable")
    );
    assert_eq!(
        count(
            &host,
            "claimcheck.introspection.wallet.failed.dispatch_failed"
        ),
        1
    );
}

#[test]
fn a_call_whose_stream_ended_frees_its_lease_for_the_requests_still_waiting() {
    let (host, vms) = host_with_vms(2, json!({}));
    let gone = wallet(&host, vms[0], OPAQUE);
    let first_call = one_introspection_call(&host);
    let waiting = wallet(&host, vms[1], OPAQUE);
    assert!(waiting.is_request_paused());
    // The client of the first request leaves: the answer to its call would go to its stream,
    // which the host drops with it.
    gone.complete().unwrap();
    advance_ms(&host, 100);
    // The waiting request's VM calls again at once, not after the 2 s lease.
    let calls = introspection_calls(&host);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let second_call = calls.into_iter().find(|c| c.id != first_call.id).unwrap();
    assert_eq!(second_call.vm, vms[1]);
    answer(&host, &second_call, active(&host));
    advance_ms(&host, 100);
    assert!(waiting.was_request_resumed());
    assert!(forwarded(&waiting));
}

/// Two tokens whose digests share a slot of 16 (the first four bytes of their SHA-256).
const SLOT_MATE: &str = "opaque-token-a";
const OTHER_SLOT_MATE: &str = "opaque-token-b22";

#[test]
fn a_request_that_waited_behind_another_tokens_call_gets_its_own_call_answered() {
    let (host, vms) = host_with_vms(1, json!({ "slots": 16 }));
    let first = wallet(&host, vms[0], SLOT_MATE);
    let first_call = one_introspection_call(&host);
    // The slot's lease is the first token's call: the second token waits for the slot.
    let second = wallet(&host, vms[0], OTHER_SLOT_MATE);
    assert!(second.is_request_paused());
    assert_eq!(introspection_calls(&host).len(), 1);
    // The answer arrives on the first request's stream, which ends right after it.
    answer(&host, &first_call, active(&host));
    assert!(forwarded(&first));
    first.complete().unwrap();
    // The second token's own call is answered, wherever it was dispatched from.
    advance_ms(&host, 100);
    let second_call = one_introspection_call(&host);
    answer(&host, &second_call, active(&host));
    advance_ms(&host, 100);
    assert!(second.was_request_resumed(), "still waiting");
    assert!(forwarded(&second));
    assert_eq!(count(&host, "claimcheck.introspection.wallet.call"), 2);
}
