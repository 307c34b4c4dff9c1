//! The verified-token cache as the filter uses it: hits and misses are counted, time claims
//! are still checked, and changed keys invalidate cached verifications.

use serde_json::json;

use crate::support::*;

const HIT: &str = "claimcheck.cache.hit";
const MISS: &str = "claimcheck.cache.miss";

#[test]
fn a_repeated_token_is_a_cache_hit() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let jwt = token(&host, &key, json!({}));
    for _ in 0..3 {
        let stream = get(&host, vm, "/api", Some(&jwt), &[]);
        assert_eq!(
            stream.forwarded_request_header("x-user").as_deref(),
            Some("alice")
        );
    }
    assert_eq!(count(&host, MISS), 1);
    assert_eq!(count(&host, HIT), 2);
}

#[test]
fn a_cached_token_past_its_expiry_is_refused() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let now = host_now_s(&host);
    let jwt = key.sign(&claims(now, json!({"exp": now + 20})));
    assert!(forwarded(&get(&host, vm, "/api", Some(&jwt), &[])));
    // Past exp and the default 60 s of clock skew.
    advance_ms(&host, 90_000);
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_expired"));
}

#[test]
fn a_cached_token_whose_key_was_removed_is_refused_after_the_refresh() {
    let old = SigningKey::generate("k1");
    let new = SigningKey::generate("k2");
    let (host, vm) = start_with_keys(&remote_config(), &[&old, &new]);
    let jwt = token(&host, &old, json!({}));
    assert!(forwarded(&get(&host, vm, "/api", Some(&jwt), &[])));
    assert!(forwarded(&get(&host, vm, "/api", Some(&jwt), &[])));
    assert_eq!(count(&host, HIT), 1);
    until_refresh(&host);
    serve_jwks(&host, &[&new]);
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    // Not served from the cache: it waits for one refetch, which lacks the key too.
    advance_ms(&host, 100);
    serve_jwks(&host, &[&new]);
    advance_ms(&host, 100);
    assert_eq!(refusal_reason(&stream).as_deref(), Some("key_not_found"));
    assert_eq!(count(&host, HIT), 1);
}

#[test]
fn a_cached_token_on_another_worker_is_refused_after_that_worker_adopts_the_new_keys() {
    let old = SigningKey::generate("k1");
    let new = SigningKey::generate("k2");
    let host = build_host(&["idp"]);
    let vms: Vec<_> = (0..2)
        .map(|_| host.start_vm(remote_config()).unwrap())
        .collect();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&old, &new]);
    advance_ms(&host, 100);
    let jwt = token(&host, &old, json!({}));
    for vm in &vms {
        assert!(forwarded(&get(&host, *vm, "/api", Some(&jwt), &[])));
        assert!(forwarded(&get(&host, *vm, "/api", Some(&jwt), &[])));
    }
    let call = until_refresh(&host);
    host.respond(call.id, 200, &[], jwks(&[&new]).as_bytes())
        .unwrap();
    advance_ms(&host, 1_100);
    let streams: Vec<_> = vms
        .iter()
        .map(|vm| get(&host, *vm, "/api", Some(&jwt), &[]))
        .collect();
    // Both wait for the one refetch, which lacks the key too.
    advance_ms(&host, 100);
    serve_jwks(&host, &[&new]);
    advance_ms(&host, 200);
    for (vm, stream) in vms.iter().zip(&streams) {
        assert_eq!(
            refusal_reason(stream).as_deref(),
            Some("key_not_found"),
            "vm {vm:?}"
        );
    }
}

#[test]
fn a_disabled_cache_verifies_every_time() {
    let key = SigningKey::generate("k1");
    let config = config_with(json!({}), json!({"token_cache": {"max_entries": 0}}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    get(&host, vm, "/api", Some(&jwt), &[]);
    get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(count(&host, HIT), 0);
    assert_eq!(count(&host, MISS), 2);
}

#[test]
fn a_token_refused_for_its_audience_never_fills_the_cache() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let jwt = token(&host, &key, json!({"aud": "billing"}));
    for _ in 0..3 {
        let stream = get(&host, vm, "/api", Some(&jwt), &[]);
        assert_eq!(
            refusal_reason(&stream).as_deref(),
            Some("audience_mismatch")
        );
    }
    assert_eq!(count(&host, HIT), 0);
    assert_eq!(count(&host, MISS), 3);
}

#[test]
fn a_token_refused_for_its_type_never_fills_the_cache() {
    let key = SigningKey::generate("k1");
    let config = config_with(json!({"token_type": "at+jwt"}), json!({}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    for _ in 0..2 {
        let stream = get(&host, vm, "/api", Some(&jwt), &[]);
        assert_eq!(
            refusal_reason(&stream).as_deref(),
            Some("token_type_not_allowed")
        );
    }
    assert_eq!(count(&host, HIT), 0);
}
