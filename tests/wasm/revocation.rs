//! A provider's revocation list through the real module: fetched once per process beside the
//! keys, consulted on every token (cached ones included), waited for like a cold start, and
//! failing closed once older than its `max_stale_s`.

use serde_json::{json, Value};

use claimcheck_harness::{Host, VmId};

use crate::support::*;

/// The path of the list in [`list_config`].
const LIST_PATH: &str = "/revoked.json";

/// [`config_with`] with a revocation list on `corp` (cluster `idp`, refreshed every 10 s,
/// unusable after 30 s of failed refreshes); `list` is merged into the `revocation` block.
fn list_config(list: Value) -> String {
    let mut revocation = json!({
        "cluster": "idp",
        "uri": "https://idp.test/revoked.json",
        "interval_s": 10,
        "max_stale_s": 30
    });
    if let (Some(revocation), Value::Object(list)) = (revocation.as_object_mut(), list) {
        revocation.extend(list);
    }
    config_with(json!({ "revocation": revocation }), json!({}))
}

/// Answers the pending call for `path`; fails the test if there is none.
fn answer(host: &Host, path: &str, status: u16, body: &[u8]) {
    let call = host
        .pending_calls()
        .into_iter()
        .find(|call| call.header(":path") == Some(path))
        .unwrap_or_else(|| panic!("no pending call for {path}: {:?}", host.pending_calls()));
    host.respond(
        call.id,
        status,
        &[("content-type", "application/json")],
        body,
    )
    .unwrap();
}

/// Calls dispatched for `path` so far and still pending.
fn pending(host: &Host, path: &str) -> usize {
    host.pending_calls()
        .iter()
        .filter(|call| call.header(":path") == Some(path))
        .count()
}

/// A host whose VMs (`workers` of them, on one configuration) have `key` and the list `list`.
fn start_ready(config: &str, key: &SigningKey, list: Value, workers: usize) -> (Host, Vec<VmId>) {
    let host = build_host(&["idp"]);
    let vms: Vec<VmId> = (0..workers)
        .map(|_| host.start_vm(config).unwrap())
        .collect();
    advance_ms(&host, 100);
    answer(&host, JWKS_PATH, 200, jwks(&[key]).as_bytes());
    answer(&host, LIST_PATH, 200, list.to_string().as_bytes());
    advance_ms(&host, 1_100);
    assert!(
        host.pending_calls().is_empty(),
        "{:?}",
        host.pending_calls()
    );
    (host, vms)
}

/// Advances in 100 ms steps until the list's refresh is dispatched (within its 10 s
/// interval and a tick).
fn until_list_refresh(host: &Host) {
    for _ in 0..120 {
        if pending(host, LIST_PATH) > 0 {
            return;
        }
        advance_ms(host, 100);
    }
    panic!("no list refresh within the interval");
}

fn request(
    host: &Host,
    vm: VmId,
    key: &SigningKey,
    claims: Value,
) -> claimcheck_harness::HttpStream {
    get(host, vm, "/api", Some(&token(host, key, claims)), &[])
}

#[test]
fn a_token_whose_jti_sub_or_sid_is_listed_is_refused_as_revoked() {
    let key = SigningKey::generate("k1");
    let list = json!({ "jti": ["t-1"], "sub": ["mallory"], "sid": ["s-1"] });
    for listed in [
        json!({ "jti": "t-1" }),
        json!({ "sub": "mallory" }),
        json!({ "sid": "s-1" }),
    ] {
        let (host, vms) = start_ready(&list_config(json!({})), &key, list.clone(), 1);
        let stream = request(&host, vms[0], &key, listed.clone());
        assert_eq!(refusal_status(&stream), Some(401), "{listed}");
        assert_eq!(
            refusal_reason(&stream).as_deref(),
            Some("token_revoked"),
            "{listed}"
        );
        let challenge = stream.local_response().unwrap();
        assert!(challenge
            .header("www-authenticate")
            .is_some_and(|value| value.contains("invalid_token")));
        assert!(!forwarded(&stream));
        assert_eq!(
            count(&host, "claimcheck.requests.denied.token_revoked"),
            1,
            "{listed}"
        );
    }
}

#[test]
fn a_token_the_list_does_not_name_is_allowed() {
    let key = SigningKey::generate("k1");
    let list = json!({ "jti": ["t-1"], "sub": ["mallory"], "sid": ["s-1"] });
    let (host, vms) = start_ready(&list_config(json!({})), &key, list, 1);
    let stream = request(&host, vms[0], &key, json!({ "jti": "t-2", "sid": "s-2" }));
    assert!(forwarded(&stream), "{:?}", stream.local_response());
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert_eq!(count(&host, "claimcheck.revocation.corp.fetch_ok"), 1);
}

#[test]
fn a_cached_token_is_refused_once_the_list_revokes_it() {
    let key = SigningKey::generate("k1");
    let (host, vms) = start_ready(&list_config(json!({})), &key, json!({}), 1);
    let token = token(&host, &key, json!({ "jti": "t-1" }));
    let first = get(&host, vms[0], "/api", Some(&token), &[]);
    assert!(forwarded(&first));
    until_list_refresh(&host);
    answer(&host, LIST_PATH, 200, br#"{"jti": ["t-1"]}"#);
    advance_ms(&host, 100);
    let hits_before = count(&host, "claimcheck.cache.hit");
    let again = get(&host, vms[0], "/api", Some(&token), &[]);
    assert_eq!(refusal_reason(&again).as_deref(), Some("token_revoked"));
    assert_eq!(
        count(&host, "claimcheck.cache.hit"),
        hits_before + 1,
        "the token came from the cache"
    );
}

#[test]
fn two_workers_make_one_list_fetch_and_both_refuse_what_it_revokes() {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let config = list_config(json!({}));
    let vms: Vec<VmId> = (0..2).map(|_| host.start_vm(&config).unwrap()).collect();
    advance_ms(&host, 100);
    assert_eq!(pending(&host, LIST_PATH), 1, "one list fetch per process");
    answer(&host, JWKS_PATH, 200, jwks(&[&key]).as_bytes());
    answer(&host, LIST_PATH, 200, br#"{"sub": ["mallory"]}"#);
    advance_ms(&host, 1_100);
    assert!(host.pending_calls().is_empty());
    for vm in &vms {
        let revoked = request(&host, *vm, &key, json!({ "sub": "mallory" }));
        assert_eq!(refusal_reason(&revoked).as_deref(), Some("token_revoked"));
        assert!(forwarded(&request(&host, *vm, &key, json!({}))));
    }
    assert_eq!(count(&host, "claimcheck.revocation.corp.fetch_ok"), 1);
}

#[test]
fn a_request_waits_for_the_first_list_and_is_decided_when_it_arrives() {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let vm = host.start_vm(list_config(json!({}))).unwrap();
    advance_ms(&host, 100);
    answer(&host, JWKS_PATH, 200, jwks(&[&key]).as_bytes());
    advance_ms(&host, 100);
    let allowed = request(&host, vm, &key, json!({}));
    let revoked = request(&host, vm, &key, json!({ "sub": "mallory" }));
    assert!(allowed.is_request_paused());
    assert!(revoked.is_request_paused());
    advance_ms(&host, 500);
    answer(&host, LIST_PATH, 200, br#"{"sub": ["mallory"]}"#);
    advance_ms(&host, 100);
    assert!(
        allowed.was_request_resumed(),
        "{:?}",
        allowed.local_response()
    );
    assert_eq!(refusal_reason(&revoked).as_deref(), Some("token_revoked"));
    assert_eq!(count(&host, "claimcheck.requests.paused"), 2);
}

#[test]
fn a_request_that_waited_out_the_first_list_is_refused_503() {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let vm = host.start_vm(list_config(json!({}))).unwrap();
    advance_ms(&host, 100);
    answer(&host, JWKS_PATH, 200, jwks(&[&key]).as_bytes());
    answer(&host, LIST_PATH, 503, b"down");
    let stream = request(&host, vm, &key, json!({}));
    advance_ms(&host, 3_100);
    assert_eq!(refusal_status(&stream), Some(503));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("revocation_list_unavailable")
    );
    assert_eq!(
        count(
            &host,
            "claimcheck.requests.denied.revocation_list_unavailable"
        ),
        1
    );
}

/// Fails every list refresh for `ms` milliseconds, in 100 ms steps.
fn fail_list_refreshes_for(host: &Host, ms: u64) {
    for _ in 0..ms / 100 {
        if pending(host, LIST_PATH) > 0 {
            answer(host, LIST_PATH, 503, b"down");
        }
        advance_ms(host, 100);
    }
}

#[test]
fn a_list_past_max_stale_refuses_every_token_503_and_a_fresh_one_restores_service() {
    let key = SigningKey::generate("k1");
    let (host, vms) = start_ready(&list_config(json!({})), &key, json!({}), 1);
    fail_list_refreshes_for(&host, 15_000);
    let stale = request(&host, vms[0], &key, json!({}));
    assert!(
        forwarded(&stale),
        "a stale list within max_stale_s still serves"
    );
    assert_eq!(host.gauge("claimcheck.revocation.corp.stale"), Some(1));
    fail_list_refreshes_for(&host, 16_000);
    let refused = request(&host, vms[0], &key, json!({}));
    assert_eq!(refusal_status(&refused), Some(503));
    assert_eq!(
        refusal_reason(&refused).as_deref(),
        Some("revocation_list_unavailable")
    );
    assert!(refused
        .local_response()
        .unwrap()
        .header("retry-after")
        .is_some());
    assert!(count(&host, "claimcheck.revocation.corp.fetch_failed.http_status") >= 2);
    until_list_refresh(&host);
    answer(&host, LIST_PATH, 200, b"{}");
    advance_ms(&host, 100);
    assert!(forwarded(&request(&host, vms[0], &key, json!({}))));
    assert_eq!(host.gauge("claimcheck.revocation.corp.stale"), Some(0));
}

#[test]
fn a_malformed_or_oversized_list_is_never_adopted_and_the_last_good_one_stays_until_stale() {
    let key = SigningKey::generate("k1");
    let config = list_config(json!({ "max_bytes": 256 }));
    let (host, vms) = start_ready(&config, &key, json!({ "sub": ["mallory"] }), 1);
    let malformed = br#"{"sub": ["alice", 7]}"#.to_vec();
    let oversized = json!({ "sub": ["alice"], "jti": ["x".repeat(250)] }).to_string();
    for bad in [malformed, oversized.into_bytes()] {
        until_list_refresh(&host);
        answer(&host, LIST_PATH, 200, &bad);
        advance_ms(&host, 100);
        let mallory = request(&host, vms[0], &key, json!({ "sub": "mallory" }));
        assert_eq!(refusal_reason(&mallory).as_deref(), Some("token_revoked"));
        assert!(
            forwarded(&request(&host, vms[0], &key, json!({}))),
            "alice is not revoked by a list that was refused"
        );
    }
    assert_eq!(
        count(
            &host,
            "claimcheck.revocation.corp.fetch_failed.bad_revocation_list"
        ),
        1
    );
    assert_eq!(
        count(&host, "claimcheck.revocation.corp.fetch_failed.too_large"),
        1
    );
    fail_list_refreshes_for(&host, 31_000);
    let refused = request(&host, vms[0], &key, json!({}));
    assert_eq!(
        refusal_reason(&refused).as_deref(),
        Some("revocation_list_unavailable")
    );
}
