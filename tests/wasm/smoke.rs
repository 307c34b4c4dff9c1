use claimcheck_harness::Action;
use serde_json::json;

use crate::support::*;

fn remote_config() -> String {
    json!({
        "providers": {
            "corp": {
                "issuer": ISSUER,
                "audiences": ["api"],
                "jwks": {"remote": {"cluster": "idp", "uri": "https://idp.test/jwks.json"}},
                "claims_to_headers": [{"claim": "sub", "header": "x-user"}]
            }
        },
        "rules": [{"match": {"path": {"prefix": "/public"}}, "action": "allow"}],
        "default": {"action": "require", "require": {"providers": {"any": ["corp"]}}}
    })
    .to_string()
}

#[test]
fn a_request_during_cold_start_is_paused_then_resumed_with_identity_headers() {
    let host = build_host(&["idp"]);
    let vm = host.start_vm(remote_config()).unwrap();
    let key = SigningKey::generate("k1");
    let token = key.sign(&claims(host_now_s(&host), json!({})));
    let stream = get(&host, vm, "/api", Some(&token), &[("x-user", "forged")]);
    assert!(stream.is_request_paused());
    host.advance(std::time::Duration::from_millis(100)).unwrap();
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].cluster, "idp");
    assert_eq!(calls[0].header(":path"), Some("/jwks.json"));
    host.respond(calls[0].id, 200, &[], jwks(&[&key]).as_bytes())
        .unwrap();
    host.advance(std::time::Duration::from_millis(100)).unwrap();
    assert!(stream.was_request_resumed(), "logs: {:?}", host.logs());
    assert_eq!(
        stream.forwarded_request_header("x-user"),
        Some("alice".to_owned())
    );
    assert_eq!(stream.forwarded_request_header("authorization"), None);
    let _ = Action::Continue;
}
