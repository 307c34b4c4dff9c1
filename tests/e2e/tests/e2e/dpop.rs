//! DPoP (RFC 9449) through real Envoy on two workers: a bound token with its proof is allowed,
//! the same proof sent again on a new connection is refused on the other worker (the replay
//! cache lives in the process's shared data, not in one VM), a token bound to another key and
//! a bound token under `Bearer` are refused. With server nonces on, a first request is
//! refused with `use_dpop_nonce` and a `DPoP-Nonce`, and the retry with that nonce is allowed
//! on the other worker.
//!
//! The listener balances connections exactly (`exact_balance`), and the per-worker connection
//! counters show which worker VM took each request, so the replay is proven to reach another
//! VM than the first use.

use claimcheck_testkit::{b64, sign_token, TestKey};
use serde_json::{json, Value};

use crate::support::*;

/// The origin clients address; Envoy sees `http://127.0.0.1:<port>`.
const ORIGIN: &str = "https://api.example.com";

fn jkt(key: &TestKey) -> String {
    let jwk = key.jwk();
    let canonical = format!(
        "{{\"crv\":\"{}\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

fn proof(key: &TestKey, jti: &str, path: &str, token: &str) -> String {
    proof_claims(key, jti, path, token, json!({}))
}

/// A proof carrying the server's `nonce`.
fn proof_with_nonce(key: &TestKey, jti: &str, path: &str, token: &str, nonce: &str) -> String {
    proof_claims(key, jti, path, token, json!({ "nonce": nonce }))
}

/// A proof for `GET {ORIGIN}{path}`, now, with `extra` claims.
fn proof_claims(key: &TestKey, jti: &str, path: &str, token: &str, extra: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ath = b64(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()});
    let mut claims = json!({
        "jti": jti, "htm": "GET", "htu": format!("{ORIGIN}{path}"), "iat": now, "ath": ath,
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    sign_token(&header, &claims, |input| key.sign("ES256", input))
}

fn world() -> World {
    Setup::new("dpop_two_workers")
        .concurrency(2)
        .exact_balance()
        .policy(|p| {
            set(
                p,
                "/providers/idp/dpop",
                json!({ "mode": "required", "algorithms": ["ES256"], "origin": ORIGIN }),
            );
        })
        .start()
}

#[test]
fn dpop_through_envoy_allows_a_proof_once_and_refuses_stolen_and_bearer_uses() {
    let w = world();
    let client = TestKey::for_alg("ES256");
    let token = w.token(json!({ "scope": "api:read", "cnf": { "jkt": jkt(&client) } }));
    let scheme = format!("DPoP {token}");
    let path = "/api/orders";

    let first = proof(&client, "first", path, &token);
    let send = |dpop: &str| w.get(path, None, &[("authorization", &scheme), ("dpop", dpop)]);
    let (allowed, first_worker) = w.envoy.on_which_worker(|| send(&first)).unwrap();
    let upstream = echoed(&allowed);
    assert!(upstream.header_all("dpop").is_empty(), "proof forwarded");

    // An idle connection held on the first worker sends the next one to the other worker.
    let held = w.envoy.occupy_worker(first_worker).unwrap();
    let (again, replay_worker) = w.envoy.on_which_worker(|| send(&first)).unwrap();
    drop(held);
    assert_ne!(
        replay_worker, first_worker,
        "the replay reached the same VM"
    );
    assert_eq!(again.status, 401, "{}", again.body_text());
    assert_eq!(reason_of(&again), "dpop_proof_replayed");
    assert!(www_authenticate(&again).starts_with("DPoP "));

    // A thief with the token but another key.
    let thief = TestKey::for_alg("ES256");
    let stolen = proof(&thief, "thief", path, &token);
    let refused = w.get(path, None, &[("authorization", &scheme), ("dpop", &stolen)]);
    assert_eq!(reason_of(&refused), "dpop_key_mismatch");

    // The bound token as a bearer token.
    let fresh = proof(&client, "bearer", path, &token);
    let bearer = w.get(path, Some(&token), &[("dpop", &fresh)]);
    assert_eq!(reason_of(&bearer), "dpop_bound_token_as_bearer");
}

fn world_with_nonces() -> World {
    Setup::new("dpop_nonces_two_workers")
        .concurrency(2)
        .exact_balance()
        .policy(|p| {
            set(
                p,
                "/providers/idp/dpop",
                json!({
                    "mode": "required", "algorithms": ["ES256"], "origin": ORIGIN,
                    "nonce": {
                        "lifetime_s": 60,
                        "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
                    }
                }),
            );
        })
        .start()
}

#[test]
fn dpop_nonce_through_envoy_refuses_the_first_proof_with_a_nonce_and_allows_the_retry_on_the_other_worker(
) {
    let w = world_with_nonces();
    let client = TestKey::for_alg("ES256");
    let token = w.token(json!({ "scope": "api:read", "cnf": { "jkt": jkt(&client) } }));
    let scheme = format!("DPoP {token}");
    let path = "/api/orders";
    let send = |dpop: &str| w.get(path, None, &[("authorization", &scheme), ("dpop", dpop)]);

    let first = proof(&client, "no-nonce", path, &token);
    let (refused, first_worker) = w.envoy.on_which_worker(|| send(&first)).unwrap();
    assert_eq!(refused.status, 401, "{}", refused.body_text());
    assert_eq!(reason_of(&refused), "dpop_nonce_missing");
    let challenge = www_authenticate(&refused);
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = refused
        .header("dpop-nonce")
        .unwrap_or_else(|| panic!("no DPoP-Nonce: {refused:?}"))
        .to_owned();

    let held = w.envoy.occupy_worker(first_worker).unwrap();
    let retry = proof_with_nonce(&client, "with-nonce", path, &token, &nonce);
    let (allowed, retry_worker) = w.envoy.on_which_worker(|| send(&retry)).unwrap();
    drop(held);
    assert_ne!(retry_worker, first_worker, "the retry reached the same VM");
    let upstream = echoed(&allowed);
    assert!(upstream.header_all("dpop").is_empty(), "proof forwarded");
}
