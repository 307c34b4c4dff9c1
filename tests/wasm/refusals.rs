//! Refused requests: the local reply (status, challenge, JSON body), one log line with the
//! reason and never the token, and the unknown-`kid` refetch with its rate limit.

use claimcheck_harness::LogLevel;
use serde_json::json;

use crate::support::*;

#[test]
fn a_request_without_a_token_is_refused_401_with_a_bearer_challenge() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(&host, vm, "/api", None, &[]);
    let response = stream.local_response().unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"claimcheck\"")
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_missing"));
    assert!(!forwarded(&stream));
}

#[test]
fn a_token_with_a_bad_signature_is_refused_as_signature_invalid() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &impostor, json!({}))),
        &[],
    );
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("signature_invalid")
    );
}

#[test]
fn an_expired_token_is_refused_as_token_expired() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let now = host_now_s(&host);
    let jwt = key.sign(&claims(now - 7200, json!({"exp": now - 3600})));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_expired"));
}

#[test]
fn a_token_older_than_the_rules_max_token_age_is_refused_as_token_too_old() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"rules": [{"name": "payments", "match": {"path": {"prefix": "/payments"}},
                          "action": "require",
                          "require": {"providers": {"any": ["corp"]}, "max_token_age_s": 300}}]}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let now = host_now_s(&host);
    let old = key.sign(&claims(now - 3_600, json!({"exp": now + 600})));
    let stream = get(&host, vm, "/payments/1", Some(&old), &[]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_too_old"));
    assert_eq!(count(&host, "claimcheck.requests.denied.token_too_old"), 1);
    let fresh = key.sign(&claims(now - 60, json!({})));
    assert!(forwarded(&get(&host, vm, "/payments/1", Some(&fresh), &[])));
    // The same old token on a route without the bound.
    assert!(forwarded(&get(&host, vm, "/api", Some(&old), &[])));
}

#[test]
fn a_token_for_another_audience_is_refused_as_audience_mismatch() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let jwt = token(&host, &key, json!({"aud": "billing"}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("audience_mismatch")
    );
}

#[test]
fn a_malformed_token_is_refused_as_token_malformed() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(&host, vm, "/api", Some("not.a.jwt"), &[]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_malformed"));
}

#[test]
fn a_claim_condition_failure_is_refused_403_insufficient_scope() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"default": {"action": "require", "require": {
            "providers": {"any": ["corp"]},
            "claims": {"claim": "scope", "contains": "orders:write"}}}}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({"scope": "orders:read"}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    let response = stream.local_response().unwrap();
    assert_eq!(response.status, 403);
    assert!(response
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
}

#[test]
fn each_refusal_logs_one_line_with_its_reason_and_never_the_token() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    host.clear_logs();
    let jwt = token(&host, &impostor, json!({}));
    get(&host, vm, "/api?x=1", Some(&jwt), &[]);
    let lines: Vec<_> = host
        .logs()
        .into_iter()
        .filter(|record| record.message.contains("denied"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0].message;
    assert!(line.contains("reason=signature_invalid"), "{line}");
    assert!(line.contains("GET /api "), "{line}");
    assert!(line.contains("provider=corp"), "{line}");
    for record in host.logs() {
        for part in jwt.split('.') {
            assert!(
                !record.message.contains(part),
                "token in log: {}",
                record.message
            );
        }
    }
    assert!(host.logged(LogLevel::Info, "status=401"));
}

#[test]
fn an_unknown_kid_flood_makes_exactly_one_fetch() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    advance_ms(&host, 31_000);
    let streams: Vec<_> = (0..25)
        .map(|n| {
            let forged = SigningKey::generate(&format!("made-up-{n}"));
            get(
                &host,
                vm,
                "/api",
                Some(&token(&host, &forged, json!({}))),
                &[],
            )
        })
        .collect();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    for stream in &streams {
        assert_eq!(refusal_reason(stream).as_deref(), Some("key_not_found"));
    }
    advance_ms(&host, 60_000);
    assert!(
        host.pending_calls().is_empty(),
        "{:?}",
        host.pending_calls()
    );
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 2);
}

#[test]
fn a_second_unknown_kid_within_the_min_interval_is_refused_without_a_fetch() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"refresh": {"interval_s": 600, "unknown_kid_min_interval_s": 5}}),
        json!({}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    advance_ms(&host, 5_000);
    let first = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &SigningKey::generate("x1"), json!({}))),
        &[],
    );
    assert!(first.is_request_paused());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 1_000);
    let second = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &SigningKey::generate("x2"), json!({}))),
        &[],
    );
    assert_eq!(refusal_status(&second), Some(401));
    assert_eq!(refusal_reason(&second).as_deref(), Some("key_not_found"));
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty());
}

#[test]
fn an_unknown_kid_after_the_min_interval_may_refetch_again() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"refresh": {"interval_s": 600, "unknown_kid_min_interval_s": 1}}),
        json!({}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    for kid in ["x1", "x2"] {
        advance_ms(&host, 1_000);
        let stream = get(
            &host,
            vm,
            "/api",
            Some(&token(&host, &SigningKey::generate(kid), json!({}))),
            &[],
        );
        assert!(stream.is_request_paused(), "{kid}");
        advance_ms(&host, 100);
        serve_jwks(&host, &[&key]);
        advance_ms(&host, 100);
        assert_eq!(refusal_reason(&stream).as_deref(), Some("key_not_found"));
    }
}

#[test]
fn a_deny_rule_refuses_403_before_looking_at_the_token() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"rules": [{"name": "legacy", "match": {"path": {"prefix": "/v0"}}, "action": "deny"}]}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let stream = get(
        &host,
        vm,
        "/v0/x",
        Some(&token(&host, &key, json!({}))),
        &[],
    );
    let response = stream.local_response().unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.header("www-authenticate"), None);
    assert_eq!(refusal_reason(&stream).as_deref(), Some("route_denied"));
}

#[test]
fn with_no_wait_allowed_an_unknown_kid_is_refused_at_once_and_still_triggers_a_refetch() {
    let key = SigningKey::generate("k1");
    let rotated = SigningKey::generate("k2");
    let config = config_with(json!({"cold_start": {"max_wait_ms": 0}}), json!({}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    advance_ms(&host, 31_000);
    let jwt = token(&host, &rotated, json!({}));
    let first = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(refusal_reason(&first).as_deref(), Some("key_not_found"));
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key, &rotated]);
    let second = get(&host, vm, "/api", Some(&jwt), &[]);
    assert!(forwarded(&second), "{:?}", second.local_response());
}

#[test]
fn a_refused_token_sent_in_the_query_string_never_reaches_the_log() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let config = config_with(json!({"sources": [{"query": "access_token"}]}), json!({}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &impostor, json!({}));
    let stream = get(&host, vm, &format!("/api?access_token={jwt}"), None, &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("signature_invalid")
    );
    for record in host.logs() {
        for part in jwt.split('.') {
            assert!(
                !record.message.contains(part),
                "token in log: {}",
                record.message
            );
        }
    }
}

#[test]
fn an_encoded_slash_in_the_path_is_refused_with_its_reason() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let stream = get(&host, vm, "/public/..%2Fapi", None, &[]);
    assert_eq!(refusal_status(&stream), Some(400));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("path_escaped_slash")
    );
}

#[test]
fn a_dot_segment_out_of_an_open_route_reaches_the_protected_rule() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    for path in ["/public/../api", "/public/%2e%2e/api", "/public/..;/api"] {
        let stream = get(&host, vm, path, None, &[]);
        assert!(!forwarded(&stream), "{path}");
    }
}

#[test]
fn a_lowercase_method_is_matched_as_its_uppercase_form() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"rules": [
            {"name": "writes", "match": {"methods": ["POST"]}, "action": "deny"},
            {"name": "rest", "action": "allow"}
        ]}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let stream = host.http_stream(vm).unwrap();
    stream
        .send_request_headers(
            &[
                (":method", "post"),
                (":path", "/x"),
                (":authority", "api.test"),
                (":scheme", "http"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(refusal_reason(&stream).as_deref(), Some("route_denied"));
}

#[test]
fn a_token_without_the_providers_token_type_is_refused_as_token_type_not_allowed() {
    let key = SigningKey::generate("k1");
    let config = config_with(json!({"token_type": "at+jwt"}), json!({}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let id_token = token(&host, &key, json!({}));
    let stream = get(&host, vm, "/api", Some(&id_token), &[]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("token_type_not_allowed")
    );
    let access_token = key.sign_typed("at+jwt", &claims(host_now_s(&host), json!({})));
    assert!(forwarded(&get(&host, vm, "/api", Some(&access_token), &[])));
}

#[test]
fn a_subject_that_is_not_a_string_is_refused_as_claim_type_invalid() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let jwt = token(&host, &key, json!({"sub": 1234}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("claim_type_invalid")
    );
}
