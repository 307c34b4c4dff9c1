//! The downstream peer read from Envoy's connection attributes: only the attributes the
//! policy names are read, each in Envoy's encoding, and rules on them decide.

use claimcheck_harness::{Host, HttpStream, VmId};
use serde_json::json;

use crate::support::*;

const URI_SAN: &[&str] = &["connection", "uri_san_peer_certificate"];
const DNS_SAN: &[&str] = &["connection", "dns_san_peer_certificate"];
const SUBJECT: &[&str] = &["connection", "subject_peer_certificate"];
const MTLS: &[&str] = &["connection", "mtls"];

/// A GET of `path` with `token`, on a connection whose attributes are `peer`.
fn get_from(
    host: &Host,
    vm: VmId,
    path: &str,
    token: &str,
    peer: &[(&[&str], &[u8])],
) -> HttpStream {
    let stream = host.http_stream(vm).unwrap();
    for (attribute, value) in peer {
        stream.set_property(attribute, value.to_vec()).unwrap();
    }
    let authorization = format!("Bearer {token}");
    stream
        .send_request_headers(
            &[
                (":method", "GET"),
                (":path", path),
                (":authority", "api.test"),
                (":scheme", "https"),
                ("authorization", &authorization),
            ],
            true,
        )
        .unwrap();
    stream
}

fn peer_config(rule_peer: serde_json::Value, claims: serde_json::Value) -> String {
    config_with(
        json!({}),
        json!({"rules": [{
            "name": "mesh",
            "match": {"path": {"prefix": "/mesh"}, "peer": rule_peer},
            "action": "require",
            "require": {"providers": {"any": ["corp"]}, "claims": claims}
        }]}),
    )
}

#[test]
fn a_policy_without_peer_rules_reads_no_connection_attribute() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let jwt = token(&host, &key, json!({}));
    host.reset_host_calls();
    let stream = get_from(
        &host,
        vm,
        "/api",
        &jwt,
        &[(URI_SAN, b"spiffe://td/ns/a/sa/b")],
    );
    assert!(forwarded(&stream));
    assert_eq!(host.property_reads(), Vec::<String>::new());
    assert_eq!(host.host_calls().get("proxy_get_property"), None);
}

#[test]
fn the_uri_san_template_and_equals_peer_decide_on_the_read_spiffe_id() {
    let key = SigningKey::generate("k1");
    let config = peer_config(
        json!({"uri_san": {"template": "spiffe://{td}/ns/{ns}/sa/{sa}"}}),
        json!({"claim": "sub", "equals_peer": "system:serviceaccount:{ns}:{sa}"}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(
        &host,
        &key,
        json!({"sub": "system:serviceaccount:shop:orders"}),
    );
    host.reset_host_calls();
    let stream = get_from(
        &host,
        vm,
        "/mesh",
        &jwt,
        &[(URI_SAN, b"spiffe://td/ns/shop/sa/orders")],
    );
    assert!(forwarded(&stream));
    assert_eq!(
        host.property_reads(),
        ["connection.uri_san_peer_certificate"]
    );
    let stream = get_from(
        &host,
        vm,
        "/mesh",
        &jwt,
        &[(URI_SAN, b"spiffe://td/ns/shop/sa/billing")],
    );
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("claims_condition_failed")
    );
}

#[test]
fn the_dns_san_and_subject_are_read_when_a_rule_names_them() {
    let key = SigningKey::generate("k1");
    let config = peer_config(
        json!({"dns_san": {"suffix": ".shop.svc"}, "subject": {"prefix": "CN=orders"}}),
        json!({"claim": "sub", "exists": true}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    host.reset_host_calls();
    let peer: [(&[&str], &[u8]); 2] = [
        (DNS_SAN, b"orders.shop.svc"),
        (SUBJECT, b"CN=orders,O=shop"),
    ];
    let stream = get_from(&host, vm, "/mesh", &jwt, &peer);
    assert!(forwarded(&stream));
    assert_eq!(
        host.property_reads(),
        [
            "connection.dns_san_peer_certificate",
            "connection.subject_peer_certificate"
        ]
    );
    // Another subject: the rule is not selected, and the default admits the token.
    let stream = get_from(
        &host,
        vm,
        "/mesh",
        &jwt,
        &[(DNS_SAN, b"orders.shop.svc"), (SUBJECT, b"CN=billing")],
    );
    assert_eq!(stream.local_response(), None);
}

#[test]
fn require_peer_reads_mtls_as_one_byte_and_refuses_without_a_certificate() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({}),
        json!({"default": {"action": "require", "require": {
            "providers": {"any": ["corp"]}, "peer": {"mtls": true}}}}),
    );
    let (host, vm) = start_with_keys(&config, &[&key]);
    let jwt = token(&host, &key, json!({}));
    let stream = get_from(&host, vm, "/api", &jwt, &[(MTLS, &[0])]);
    assert_eq!(refusal_status(&stream), Some(403));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("peer_certificate_missing")
    );
    let stream = get_from(&host, vm, "/api", &jwt, &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("peer_certificate_missing")
    );
    let stream = get_from(&host, vm, "/api", &jwt, &[(MTLS, &[1])]);
    assert!(forwarded(&stream));
}

const DIGEST: &[&str] = &["connection", "sha256_peer_certificate_digest"];
const CERT_HEX: &[u8] = b"0101010101010101010101010101010101010101010101010101010101010101";

#[test]
fn the_certificate_digest_is_read_only_for_a_bound_token_and_must_match() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    let bearer = token(&host, &key, json!({}));
    // 32 bytes of 0x01, base64url without padding.
    let bound = token(
        &host,
        &key,
        json!({"cnf": {"x5t#S256": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}}),
    );
    host.reset_host_calls();
    assert!(forwarded(&get_from(
        &host,
        vm,
        "/api",
        &bearer,
        &[(DIGEST, CERT_HEX)]
    )));
    assert_eq!(host.property_reads(), Vec::<String>::new());
    let stream = get_from(&host, vm, "/api", &bound, &[(DIGEST, CERT_HEX)]);
    assert!(forwarded(&stream));
    assert_eq!(
        host.property_reads(),
        ["connection.sha256_peer_certificate_digest"]
    );
    // The same (now cached) token from another certificate, and from none.
    let other: &[u8] = b"0202020202020202020202020202020202020202020202020202020202020202";
    let stream = get_from(&host, vm, "/api", &bound, &[(DIGEST, other)]);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("certificate_binding_mismatch")
    );
    let stream = get_from(&host, vm, "/api", &bound, &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("certificate_binding_no_certificate")
    );
    let stream = get_from(&host, vm, "/api", &bound, &[(DIGEST, b"01:01")]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("certificate_binding_no_certificate")
    );
}
