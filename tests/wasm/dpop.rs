//! DPoP through the real module: a proof is single-use across the worker VMs of one process
//! (the replay cache in shared data), and the `DPoP` header never goes upstream.

use claimcheck::dpop::thumbprint::{jwk_thumbprint, sha256_b64};
use claimcheck_harness::{Host, HttpStream, VmId};
use claimcheck_testkit::{sign_token, TestKey};
use serde_json::json;

use crate::support::*;

fn dpop_config() -> String {
    config_with(
        json!({"dpop": {"mode": "required", "algorithms": ["ES256"], "replay_slots": 16}}),
        json!({}),
    )
}

fn proof(host: &Host, client: &TestKey, jti: &str, token: &str) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": client.jwk()});
    let claims = json!({
        "jti": jti, "htm": "GET", "htu": "http://api.test/api", "iat": host_now_s(host),
        "ath": sha256_b64(token.as_bytes()),
    });
    sign_token(&header, &claims, |input| client.sign("ES256", input))
}

/// A proof carrying the server's `nonce`.
fn proof_with_nonce(host: &Host, client: &TestKey, jti: &str, token: &str, nonce: &str) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": client.jwk()});
    let claims = json!({
        "jti": jti, "htm": "GET", "htu": "http://api.test/api", "iat": host_now_s(host),
        "ath": sha256_b64(token.as_bytes()), "nonce": nonce,
    });
    sign_token(&header, &claims, |input| client.sign("ES256", input))
}

fn send(host: &Host, vm: VmId, token: &str, proof: &str) -> HttpStream {
    let stream = host.http_stream(vm).unwrap();
    let authorization = format!("DPoP {token}");
    stream
        .send_request_headers(
            &[
                (":method", "GET"),
                (":path", "/api"),
                (":authority", "api.test"),
                (":scheme", "http"),
                ("authorization", &authorization),
                ("dpop", proof),
            ],
            true,
        )
        .unwrap();
    stream
}

/// Two workers sharing one key fetch, a client key and a token bound to it.
fn two_workers() -> (Host, Vec<VmId>, TestKey, String) {
    workers_with(&dpop_config())
}

/// [`two_workers`] configured with `config`.
fn workers_with(config: &str) -> (Host, Vec<VmId>, TestKey, String) {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let vms: Vec<VmId> = (0..2).map(|_| host.start_vm(config).unwrap()).collect();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    let client = TestKey::for_alg("ES256");
    let jkt = jwk_thumbprint(client.jwk().as_object().unwrap()).unwrap();
    let token = token(&host, &key, json!({"cnf": {"jkt": jkt}}));
    (host, vms, client, token)
}

#[test]
fn a_proof_used_on_one_worker_is_refused_as_a_replay_on_the_other() {
    let (host, vms, client, token) = two_workers();
    let proof = proof(&host, &client, "once", &token);
    let first = send(&host, vms[0], &token, &proof);
    assert!(forwarded(&first), "{:?}", first.local_response());
    let again = send(&host, vms[1], &token, &proof);
    assert_eq!(refusal_status(&again), Some(401));
    assert_eq!(
        refusal_reason(&again).as_deref(),
        Some("dpop_proof_replayed")
    );
    let challenge = again.local_response().unwrap();
    let www = challenge
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| value.clone())
        .unwrap();
    assert!(www.starts_with("DPoP "), "{www}");
    assert!(www.contains("algs=\"ES256\""), "{www}");
}

#[test]
fn fresh_proofs_pass_on_either_worker_and_their_header_is_not_forwarded() {
    let (host, vms, client, token) = two_workers();
    for (i, vm) in vms.iter().enumerate() {
        let proof = proof(&host, &client, &format!("jti-{i}"), &token);
        let stream = send(&host, *vm, &token, &proof);
        assert!(forwarded(&stream), "{:?}", stream.local_response());
        assert_eq!(stream.forwarded_request_header("dpop"), None);
        assert_eq!(stream.forwarded_request_header("authorization"), None);
    }
}

#[test]
fn a_recorded_proof_sits_in_one_versioned_slot() {
    let (host, vms, client, token) = two_workers();
    let proof = proof(&host, &client, "slot", &token);
    assert!(forwarded(&send(&host, vms[0], &token, &proof)));
    let slots: Vec<(Vec<u8>, u32)> = (0..16)
        .filter_map(|i| host.shared_data(&format!("claimcheck/v2/dpop/corp/16/{i}")))
        .collect();
    assert_eq!(slots.len(), 1, "one slot written");
    assert_eq!(slots[0].0.len(), 4 + 24, "one entry");
}

#[test]
fn a_bearer_use_of_a_bound_token_is_refused_by_the_module() {
    let (host, vms, _client, token) = two_workers();
    let stream = get(&host, vms[0], "/api", Some(&token), &[]);
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("dpop_bound_token_as_bearer")
    );
}

/// Server nonces on, in ten-second windows.
fn nonce_config() -> String {
    config_with(
        json!({"dpop": {
            "mode": "required", "algorithms": ["ES256"], "replay_slots": 16,
            "nonce": {"lifetime_s": 10, "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}
        }}),
        json!({}),
    )
}

/// The local reply's header `name`.
fn reply_header(stream: &HttpStream, name: &str) -> Option<String> {
    stream
        .local_response()?
        .headers
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
}

/// Sends a proof without a nonce on `vm` and returns the nonce of the refusal.
fn nonce_from_refusal(host: &Host, vm: VmId, client: &TestKey, token: &str) -> String {
    let stream = send(host, vm, token, &proof(host, client, "no-nonce", token));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("dpop_nonce_missing")
    );
    reply_header(&stream, "dpop-nonce").unwrap()
}

#[test]
fn a_proof_without_a_nonce_is_refused_with_use_dpop_nonce_and_a_dpop_nonce_header() {
    let (host, vms, client, token) = workers_with(&nonce_config());
    let stream = send(&host, vms[0], &token, &proof(&host, &client, "j1", &token));
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("dpop_nonce_missing")
    );
    let www = reply_header(&stream, "www-authenticate").unwrap();
    assert!(www.starts_with("DPoP "), "{www}");
    assert!(www.contains("error=\"use_dpop_nonce\""), "{www}");
    let nonce = reply_header(&stream, "dpop-nonce").unwrap();
    assert_eq!(nonce.len(), claimcheck::dpop::nonce::NONCE_CHARS, "{nonce}");
    assert_eq!(
        count(&host, "claimcheck.requests.denied.dpop_nonce_missing"),
        1
    );
}

#[test]
fn a_retry_with_the_nonce_of_the_refusal_is_allowed() {
    let (host, vms, client, token) = workers_with(&nonce_config());
    let nonce = nonce_from_refusal(&host, vms[0], &client, &token);
    let retry = proof_with_nonce(&host, &client, "retry", &token, &nonce);
    let stream = send(&host, vms[0], &token, &retry);
    assert!(forwarded(&stream), "{:?}", stream.local_response());
}

#[test]
fn a_nonce_minted_by_one_worker_is_accepted_by_the_other() {
    let (host, vms, client, token) = workers_with(&nonce_config());
    let nonce = nonce_from_refusal(&host, vms[0], &client, &token);
    let retry = proof_with_nonce(&host, &client, "other-vm", &token, &nonce);
    let stream = send(&host, vms[1], &token, &retry);
    assert!(forwarded(&stream), "{:?}", stream.local_response());
}

#[test]
fn an_expired_nonce_is_refused_with_a_fresh_one() {
    let (host, vms, client, token) = workers_with(&nonce_config());
    let nonce = nonce_from_refusal(&host, vms[0], &client, &token);
    advance_ms(&host, 20_000);
    let late = proof_with_nonce(&host, &client, "late", &token, &nonce);
    let stream = send(&host, vms[1], &token, &late);
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(
        refusal_reason(&stream).as_deref(),
        Some("dpop_nonce_expired")
    );
    let fresh = reply_header(&stream, "dpop-nonce").unwrap();
    assert_ne!(fresh, nonce);
}

#[test]
fn a_provider_without_nonces_sends_no_dpop_nonce_header() {
    let (host, vms, _client, token) = two_workers();
    let stream = send(&host, vms[0], &token, "not-a-proof");
    assert_eq!(refusal_status(&stream), Some(401));
    assert_eq!(reply_header(&stream, "dpop-nonce"), None);
}
