//! What an allowed request carries upstream: identity headers from claims, the payload
//! header, the token removed (unless forwarded), client-sent identity headers stripped.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::*;

fn outputs_config(provider: Value) -> String {
    let mut base = json!({
        "claims_to_headers": [
            {"claim": "sub", "header": "X-User"},
            {"claim": "groups", "header": "x-groups"},
            {"claim": "org.tier", "header": "x-tier"}
        ],
        "payload_header": "x-jwt-payload"
    });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), provider) {
        base.extend(extra);
    }
    config_with(base, json!({}))
}

#[test]
fn claims_are_copied_to_the_configured_headers() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let extra = json!({"groups": ["admin", "dev"], "org": {"tier": 3}});
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, extra)), &[]);
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert_eq!(
        stream.forwarded_request_header("x-groups").as_deref(),
        Some("admin,dev")
    );
    assert_eq!(
        stream.forwarded_request_header("x-tier").as_deref(),
        Some("3")
    );
}

#[test]
fn a_missing_claim_sets_no_header() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("x-groups"), None);
}

#[test]
fn a_group_holding_the_join_separator_sets_no_header_and_says_why() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let client_copy = [("x-groups", "viewers")];
    let extra = json!({"groups": ["viewers,tenant-admin"]});
    let stream = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &key, extra)),
        &client_copy,
    );
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("x-groups"), None);
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert!(
        host.logged(
            claimcheck_harness::LogLevel::Info,
            "identity header x-groups not set on GET /api rule=default reason=separator_in_value"
        ),
        "{:?}",
        host.logs_at(claimcheck_harness::LogLevel::Info)
    );
}

#[test]
fn the_payload_header_carries_the_tokens_payload_segment() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    let payload = stream.forwarded_request_header("x-jwt-payload").unwrap();
    assert_eq!(Some(payload.as_str()), jwt.split('.').nth(1));
    let decoded: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
    assert_eq!(decoded["sub"], "alice");
}

#[test]
fn the_token_is_removed_before_the_request_goes_upstream() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("authorization"), None);
}

#[test]
fn forward_token_keeps_the_token_on_the_request() {
    let key = SigningKey::generate("k1");
    let config = outputs_config(json!({"forward_token": true}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(&host, vm, "/api", Some(&jwt), &[]);
    assert_eq!(
        stream.forwarded_request_header("authorization"),
        Some(format!("Bearer {jwt}"))
    );
}

#[test]
fn client_sent_identity_headers_are_replaced_by_the_tokens_claims() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let forged = [
        ("x-user", "root"),
        ("x-groups", "admin"),
        ("x-jwt-payload", "e30"),
    ];
    let stream = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &key, json!({}))),
        &forged,
    );
    let headers = stream.forwarded_request_headers().unwrap();
    let users: Vec<_> = headers
        .iter()
        .filter(|(name, _)| name == "x-user")
        .collect();
    assert_eq!(users.len(), 1, "{headers:?}");
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    assert_eq!(stream.forwarded_request_header("x-groups"), None);
    assert_ne!(
        stream.forwarded_request_header("x-jwt-payload").as_deref(),
        Some("e30")
    );
}

#[test]
fn client_sent_identity_headers_are_stripped_from_anonymous_requests_on_open_routes() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let stream = get(
        &host,
        vm,
        "/public/x",
        None,
        &[("x-user", "root"), ("x-tier", "9")],
    );
    assert!(forwarded(&stream));
    assert_eq!(stream.forwarded_request_header("x-user"), None);
    assert_eq!(stream.forwarded_request_header("x-tier"), None);
}

#[test]
fn client_sent_identity_headers_are_stripped_under_every_spelling_an_upstream_folds() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&outputs_config(json!({})), &[&key]);
    let forged = [
        ("x_user", "root"),
        ("X_User", "root"),
        ("x_jwt_payload", "e30"),
    ];
    let stream = get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &key, json!({}))),
        &forged,
    );
    let headers = stream.forwarded_request_headers().unwrap();
    let spelled: Vec<_> = headers
        .iter()
        .filter(|(name, _)| name.replace('_', "-").eq_ignore_ascii_case("x-user"))
        .collect();
    assert_eq!(spelled, vec![&("x-user".to_owned(), "alice".to_owned())]);
    assert_eq!(stream.forwarded_request_header("x_jwt_payload"), None);
}

#[test]
fn a_second_token_under_another_query_spelling_is_refused_not_forwarded() {
    let key = SigningKey::generate("k1");
    let config = outputs_config(json!({"sources": [{"query": "access_token"}]}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(
        &host,
        vm,
        &format!("/api?access_token={jwt}&access%5Ftoken=forged"),
        None,
        &[],
    );
    assert_eq!(refusal_reason(&stream).as_deref(), Some("token_ambiguous"));
}

#[test]
fn a_token_in_a_query_parameter_is_accepted_and_removed_from_the_path() {
    let key = SigningKey::generate("k1");
    let config = outputs_config(json!({"sources": [{"query": "access_token"}]}));
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get(
        &host,
        vm,
        &format!("/api?a=1&access_token={jwt}"),
        None,
        &[],
    );
    assert_eq!(
        stream.forwarded_request_header("x-user").as_deref(),
        Some("alice")
    );
    let path = stream.forwarded_request_header(":path").unwrap();
    assert!(!path.contains(&jwt), "{path}");
    assert!(path.starts_with("/api?a=1"), "{path}");
}

fn route_config() -> String {
    config_with(
        json!({}),
        json!({"rules": [
            {"name": "admin-route", "match": {"route_name": "admin"}, "action": "deny"},
            {"name": "public", "match": {"path": {"prefix": "/public"}}, "action": "allow"}
        ]}),
    )
}

fn get_on_route(
    host: &claimcheck_harness::Host,
    vm: claimcheck_harness::VmId,
    route: &str,
) -> claimcheck_harness::HttpStream {
    let stream = host.http_stream(vm).unwrap();
    stream.set_property(&["xds", "route_name"], route).unwrap();
    stream
        .send_request_headers(
            &[
                (":method", "GET"),
                (":path", "/public/x"),
                (":authority", "api.test"),
            ],
            true,
        )
        .unwrap();
    stream
}

#[test]
fn a_rule_matches_on_the_envoy_route_name() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&route_config(), &[&key]);
    let stream = get_on_route(&host, vm, "admin");
    assert_eq!(refusal_status(&stream), Some(403));
    assert_eq!(refusal_reason(&stream).as_deref(), Some("route_denied"));
}

#[test]
fn a_rule_for_another_route_name_does_not_match() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&route_config(), &[&key]);
    let stream = get_on_route(&host, vm, "shop");
    assert!(forwarded(&stream));
}
