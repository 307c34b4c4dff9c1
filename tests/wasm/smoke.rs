use serde_json::json;

use crate::support::*;

#[test]
fn a_request_during_cold_start_is_paused_then_resumed_with_identity_headers() {
    let (host, vm) = start(&remote_config());
    let key = SigningKey::generate("k1");
    let token = key.sign(&claims(host_now_s(&host), json!({})));
    let stream = get(&host, vm, "/api", Some(&token), &[("x-user", "forged")]);
    assert!(stream.is_request_paused());
    advance_ms(&host, 100);
    let call = serve_jwks(&host, &[&key]);
    assert_eq!(call.cluster, "idp");
    advance_ms(&host, 100);
    assert!(stream.was_request_resumed(), "logs: {:?}", host.logs());
    assert_eq!(
        stream.forwarded_request_header("x-user"),
        Some("alice".to_owned())
    );
    assert_eq!(stream.forwarded_request_header("authorization"), None);
}
