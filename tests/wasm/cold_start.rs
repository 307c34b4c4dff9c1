//! Requests arriving before the first keys: they wait (bounded by `cold_start.max_wait_ms`),
//! share one fetch, and finish from the root context when keys arrive.

use serde_json::json;

use crate::support::*;

#[test]
fn requests_paused_while_the_idp_is_down_complete_once_it_is_up() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    host.respond(one_call(&host).id, 503, &[], b"down").unwrap();
    assert!(stream.is_request_paused());
    advance_ms(&host, 1_000);
    serve_jwks(&host, &[&key]);
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
    assert_eq!(
        count(&host, "claimcheck.jwks.corp.fetch_failed.http_status"),
        1
    );
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 1);
}

#[test]
fn many_paused_requests_share_one_fetch() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let streams: Vec<_> = (0..10)
        .map(|_| get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]))
        .collect();
    advance_ms(&host, 500);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    for stream in &streams {
        assert!(stream.was_request_resumed());
    }
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, "claimcheck.requests.paused"), 10);
    assert_eq!(count(&host, "claimcheck.requests.allowed"), 10);
}

#[test]
fn a_request_waiting_past_max_wait_is_refused_503_with_retry_after() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 100);
    host.respond(one_call(&host).id, 500, &[], b"").unwrap();
    advance_ms(&host, 2_800);
    assert!(
        stream.local_response().is_none(),
        "refused before its deadline"
    );
    advance_ms(&host, 200);
    let response = stream.local_response().expect("refused at the deadline");
    assert_eq!(response.status, 503);
    assert!(response.header("retry-after").is_some(), "{response:?}");
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("keys_wait_timeout")
    );
    assert!(!stream.was_request_resumed());
    assert_eq!(
        count(&host, "claimcheck.requests.denied.keys_wait_timeout"),
        1
    );
}

#[test]
fn on_timeout_deny_refuses_a_request_that_waited_out_with_401() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"cold_start": {"max_wait_ms": 500, "on_timeout": "deny"}}),
        json!({}),
    );
    let (host, vm) = start(&config);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 700);
    let response = stream.local_response().expect("refused at the deadline");
    assert_eq!(response.status, 401);
    assert!(response.header("www-authenticate").is_some());
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("keys_wait_timeout_denied")
    );
}

#[test]
fn a_zero_max_wait_refuses_at_once_while_keys_load() {
    let key = SigningKey::generate("k1");
    let config = config_with(json!({"cold_start": {"max_wait_ms": 0}}), json!({}));
    let (host, vm) = start(&config);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert_eq!(refusal_status(&stream), Some(503));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("keys_unavailable"));
}

#[test]
fn a_paused_client_that_went_away_is_not_resumed_and_others_are() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let gone = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    let staying = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    gone.complete().unwrap();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    assert!(!gone.was_request_resumed());
    assert!(gone.local_response().is_none());
    assert!(staying.was_request_resumed());
    assert_eq!(count(&host, "claimcheck.requests.allowed"), 1);
}

#[test]
fn an_anonymous_request_to_an_open_route_does_not_wait_for_keys() {
    let (host, vm) = start(&remote_config());
    let stream = get(&host, vm, "/public/info", None, &[]);
    assert!(forwarded(&stream));
}

#[test]
fn a_request_without_a_token_is_refused_during_cold_start_without_waiting() {
    let (host, vm) = start(&remote_config());
    let stream = get(&host, vm, "/api", None, &[]);
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_missing"));
}

#[test]
fn a_paused_requests_body_goes_upstream_after_the_resume() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let stream = host.http_stream(vm).unwrap();
    let authorization = format!("Bearer {}", token(&host, &key, json!({})));
    stream
        .send_request_headers(
            &[
                (":method", "POST"),
                (":path", "/api"),
                (":authority", "api.test"),
                ("authorization", &authorization),
            ],
            false,
        )
        .unwrap();
    stream.send_request_body(b"{\"order\": 1}", true).unwrap();
    assert!(stream.forwarded_request_body().is_empty());
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    assert!(stream.was_request_resumed());
    assert_eq!(stream.forwarded_request_body(), b"{\"order\": 1}");
}

#[test]
fn a_token_of_an_inline_provider_does_not_wait_for_another_providers_cold_start() {
    let inline = SigningKey::generate("i1");
    let config = config_with(
        json!({}),
        json!({
            "providers": {
                "corp": serde_json::from_str::<serde_json::Value>(&remote_config()).unwrap()["providers"]["corp"].clone(),
                "internal": {"issuer": "internal", "audiences": "any", "jwks": {"inline": {"keys": [inline.jwk()]}}}
            },
            "default": {"action": "require", "require": {"providers": {"any": ["corp", "internal"]}}}
        }),
    );
    let (host, vm) = start(&config);
    let jwt =
        inline.sign(&json!({"iss": "internal", "sub": "svc", "exp": host_now_s(&host) + 600}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert!(forwarded(&stream), "{:?}", stream.local_response());
}

#[test]
fn each_remote_provider_has_its_own_fetch() {
    let config = config_with(
        json!({}),
        json!({"providers": {
            "corp": serde_json::from_str::<serde_json::Value>(&remote_config()).unwrap()["providers"]["corp"].clone(),
            "partner": {"issuer": "https://partner.test", "audiences": "any",
                        "jwks": {"remote": {"cluster": "partner-idp", "uri": "https://partner.test/keys"}}}
        }}),
    );
    let host = build_host(&["idp", "partner-idp"]);
    host.start_vm(config).unwrap();
    advance_ms(&host, 100);
    let mut clusters: Vec<_> = host
        .pending_calls()
        .into_iter()
        .map(|call| call.cluster)
        .collect();
    clusters.sort();
    assert_eq!(clusters, ["idp", "partner-idp"]);
}

#[test]
fn requests_beyond_the_parking_bound_are_refused_at_once() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let jwt = token(&host, &key, json!({}));
    for _ in 0..1_024 {
        assert!(get(&host, vm, "/api", Some(&jwt), &[]).is_request_paused());
    }
    let overflow = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(refusal_status(&overflow), Some(503));
    assert_eq!(
        refusal_reason(&overflow).as_deref(),
        Some("keys_wait_timeout")
    );
    assert_eq!(count(&host, "claimcheck.requests.paused"), 1_024);
}

#[test]
fn each_paused_request_keeps_its_own_deadline() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    let early = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 2_000);
    let late = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 1_100);
    assert_eq!(refusal_status(&early), Some(503));
    assert!(late.is_request_paused());
    let call = host.pending_calls().into_iter().last().unwrap();
    host.respond(call.id, 200, &[], jwks(&[&key]).as_bytes())
        .unwrap();
    assert!(late.was_request_resumed());
}
