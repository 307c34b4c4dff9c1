//! Decisions as a client and the upstream see them: which rule allows or refuses, 401 vs 403
//! with RFC 6750 `WWW-Authenticate`, identity headers in, token and forged headers out.
//!
//! These tests only send requests, so they share one Envoy (`support::shared`).

use claimcheck_e2e::http;
use serde_json::json;

use crate::support::{echoed, reason_of, shared, www_authenticate, Key, Setup, REALM};

/// Asserts a refusal: status, reason code in the JSON body, a `WWW-Authenticate` challenge,
/// and nothing of the token echoed back.
fn assert_refused(
    r: &claimcheck_e2e::http::Response,
    status: u16,
    reason: &str,
    token: Option<&str>,
) -> String {
    assert_eq!(r.status, status, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(r), reason, "{}", r.body_text());
    let challenge = www_authenticate(r);
    assert!(
        challenge.starts_with("Bearer "),
        "challenge must use the Bearer scheme (RFC 6750 §3): {challenge}"
    );
    assert!(
        challenge.contains(&format!("realm=\"{REALM}\"")),
        "challenge must name the realm: {challenge}"
    );
    if let Some(token) = token {
        assert!(
            !r.body_text().contains(token),
            "refusal body echoes the token"
        );
        assert!(!challenge.contains(token), "challenge echoes the token");
    }
    challenge
}

#[test]
fn public_route_is_served_without_a_token() {
    let w = shared();
    let seen = echoed(&w.get("/public/info", None, &[]));
    assert_eq!(seen.path, "/public/info");
}

#[test]
fn public_route_forwards_the_identity_of_a_valid_token() {
    let w = shared();
    let token = w.token(json!({ "sub": "alice" }));
    let seen = echoed(&w.get("/public/info", Some(&token), &[]));
    assert_eq!(seen.header_all("x-user-id"), ["alice"]);
}

#[test]
fn public_route_still_refuses_a_present_but_invalid_token() {
    let w = shared();
    let token = w.key.sign(&w.claims(json!({ "exp": 1_000_000 })));
    let r = w.get("/public/info", Some(&token), &[]);
    let challenge = assert_refused(&r, 401, "token_expired", Some(&token));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn api_route_without_a_token_is_401_with_a_bare_challenge() {
    let w = shared();
    let r = w.get("/api/orders", None, &[]);
    let challenge = assert_refused(&r, 401, "token_missing", None);
    // RFC 6750 §3.1: a request without credentials gets no error code.
    assert!(!challenge.contains("error="), "{challenge}");
}

#[test]
fn api_route_with_the_required_scope_is_allowed() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read api:write" }));
    let seen = echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(seen.path, "/api/orders");
}

#[test]
fn api_route_without_the_required_scope_is_403_insufficient_scope() {
    let w = shared();
    let token = w.token(json!({ "scope": "profile" }));
    let r = w.get("/api/orders", Some(&token), &[]);
    let challenge = assert_refused(&r, 403, "claims_condition_failed", Some(&token));
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
}

#[test]
fn expired_token_is_401_invalid_token() {
    let w = shared();
    let now = crate::support::now();
    let token = w.key.sign(&w.claims(json!({
        "scope": "api:read", "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600
    })));
    let r = w.get("/api/orders", Some(&token), &[]);
    let challenge = assert_refused(&r, 401, "token_expired", Some(&token));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn token_signed_by_a_foreign_key_under_a_known_kid_is_401_invalid_token() {
    let w = shared();
    let impostor = Key::es256(&w.key.kid);
    let token = impostor.sign(&w.claims(json!({ "scope": "api:read" })));
    let r = w.get("/api/orders", Some(&token), &[]);
    let challenge = assert_refused(&r, 401, "signature_invalid", Some(&token));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn token_for_another_audience_is_401_invalid_token() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read", "aud": "someone-else" }));
    let r = w.get("/api/orders", Some(&token), &[]);
    let challenge = assert_refused(&r, 401, "audience_mismatch", Some(&token));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn malformed_token_is_401_invalid_token() {
    let w = shared();
    let r = w.get("/api/orders", Some("not.a.jwt"), &[]);
    let challenge = assert_refused(&r, 401, "token_malformed", Some("not.a.jwt"));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[test]
fn admin_route_allows_a_member_of_group_admin() {
    let w = shared();
    let token = w.token(json!({ "groups": ["dev", "admin"] }));
    let seen = echoed(&w.get("/admin/users", Some(&token), &[]));
    assert_eq!(seen.path, "/admin/users");
}

#[test]
fn admin_route_refuses_a_valid_token_without_group_admin_with_403() {
    let w = shared();
    let token = w.token(json!({ "groups": ["dev"] }));
    let r = w.get("/admin/users", Some(&token), &[]);
    let challenge = assert_refused(&r, 403, "claims_condition_failed", Some(&token));
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
}

#[test]
fn unmatched_route_is_denied_by_default_even_with_a_valid_token() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read", "groups": ["admin"] }));
    let r = w.get("/elsewhere", Some(&token), &[]);
    assert_eq!(r.status, 403, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "no_rule_matched");
    assert!(!r.body_text().contains(&token));
}

#[test]
fn identity_claims_are_forwarded_upstream_as_headers() {
    let w = shared();
    let token = w.token(json!({
        "sub": "bob", "scope": "api:read", "groups": ["dev", "ops"]
    }));
    let seen = echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(seen.header_all("x-user-id"), ["bob"]);
    assert_eq!(seen.header_all("x-user-groups"), ["dev,ops"]);
    assert_eq!(seen.header_all("x-user-scope"), ["api:read"]);
}

#[test]
fn the_token_is_not_forwarded_upstream() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read" }));
    let seen = echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(seen.header_all("authorization"), Vec::<&str>::new());
    assert!(!seen.headers.iter().any(|(_, v)| v.contains(&token)));
}

#[test]
fn client_forged_identity_headers_are_replaced_by_the_verified_ones() {
    let w = shared();
    let token = w.token(json!({ "sub": "bob", "scope": "api:read", "groups": ["dev"] }));
    let forged = [
        ("x-user-id", "mallory"),
        ("X-User-Groups", "admin"),
        ("x-user-id", "root"),
    ];
    let seen = echoed(&w.get("/api/orders", Some(&token), &forged));
    assert_eq!(seen.header_all("x-user-id"), ["bob"]);
    assert_eq!(seen.header_all("x-user-groups"), ["dev"]);
}

#[test]
fn client_forged_identity_headers_are_removed_on_anonymous_requests() {
    let w = shared();
    let forged = [
        ("x-user-id", "mallory"),
        ("x-user-groups", "admin"),
        ("x-user-scope", "*"),
    ];
    let seen = echoed(&w.get("/public/info", None, &forged));
    for (name, _) in forged {
        assert_eq!(
            seen.header_all(name),
            Vec::<&str>::new(),
            "{name} reached the upstream"
        );
    }
}

#[test]
fn a_missing_claim_sets_no_identity_header() {
    let w = shared();
    let token = w.token(json!({ "scope": "api:read" }));
    let seen = echoed(&w.get("/api/orders", Some(&token), &[("x-user-groups", "admin")]));
    assert_eq!(seen.header_all("x-user-groups"), Vec::<&str>::new());
}

#[test]
fn a_route_with_the_filter_disabled_in_envoy_skips_claimcheck() {
    // The template's `/bypass` route sets `typed_per_filter_config` → FilterConfig
    // `disabled: true`; without it, the policy's default would deny this path.
    let w = shared();
    let seen = echoed(&w.get("/bypass/status", None, &[]));
    assert_eq!(seen.path, "/bypass/status");
}

/// Envoy passes any byte but NUL, CR and LF in a header value. A value that is not UTF-8 must
/// not crash the VM (the SDK's string accessors panic on one): the request is judged, and the
/// next request on the same worker is served normally.
#[test]
fn a_header_value_that_is_not_utf8_does_not_crash_the_filter() {
    let w = Setup::new("non-utf8-header").start();
    let raw =
        b"GET /public/x HTTP/1.1\r\nhost: e2e\r\nx-odd: caf\xe9 \xff\r\nconnection: close\r\n\r\n";
    let r = http::exchange(w.envoy.addr(), raw).unwrap();
    // The public route lets it through, bytes intact (the echo shows them as U+FFFD).
    let seen = echoed(&r);
    assert_eq!(seen.header_all("x-odd"), ["caf\u{fffd} \u{fffd}"]);
    // The VM is alive: the next request on the same worker is judged normally.
    let token = w.token(json!({ "scope": "api:read" }));
    let after = w.get("/api/orders", Some(&token), &[]);
    assert_eq!(after.status, 200, "{after:?} {}", after.body_text());
}

#[test]
fn a_token_that_is_not_utf8_is_refused_as_malformed() {
    let w = Setup::new("non-utf8-token").start();
    let raw = b"GET /api/orders HTTP/1.1\r\nhost: e2e\r\nauthorization: Bearer ey\xff\xfe.x.y\r\nconnection: close\r\n\r\n";
    let r = http::exchange(w.envoy.addr(), raw).unwrap();
    assert_eq!(r.status, 401, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "token_malformed");
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
}
