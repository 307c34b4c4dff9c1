//! DPoP (RFC 9449) in the pipeline: the `DPoP` scheme, the proof, the binding, replay and
//! what an allowed request loses.

use claimcheck::dpop::thumbprint::{jwk_thumbprint, sha256_b64};
use claimcheck_testkit::{sign_token, TestKey};
use serde_json::json;

use super::*;

/// The fixture with DPoP `mode` on the `corp` provider.
fn env(mode: &str) -> Env {
    Env::with(|doc| {
        doc["providers"]["corp"]["dpop"] = json!({ "mode": mode, "algorithms": ["ES256"] });
    })
}

struct Client {
    key: TestKey,
}

impl Client {
    fn new() -> Client {
        Client {
            key: TestKey::for_alg("ES256"),
        }
    }

    fn jkt(&self) -> String {
        jwk_thumbprint(self.key.jwk().as_object().unwrap()).unwrap()
    }

    fn proof(&self, jti: &str, method: &str, htu: &str, token: &str) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.jwk()});
        let claims = json!({
            "jti": jti, "htm": method, "htu": htu, "iat": NOW,
            "ath": sha256_b64(token.as_bytes()),
        });
        sign_token(&header, &claims, |input| self.key.sign("ES256", input))
    }

    /// A `GET` proof for [`HTU`] carrying the server's `nonce`.
    fn proof_with_nonce(&self, jti: &str, token: &str, nonce: &str) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.jwk()});
        let claims = json!({
            "jti": jti, "htm": "GET", "htu": HTU, "iat": NOW,
            "ath": sha256_b64(token.as_bytes()), "nonce": nonce,
        });
        sign_token(&header, &claims, |input| self.key.sign("ES256", input))
    }
}

fn bound_token(env: &Env, jkt: &str) -> String {
    let mut claims = corp_claims();
    claims["cnf"] = json!({ "jkt": jkt });
    env.keys.corp_token(&claims)
}

fn dpop_request(token: &str, proof: &str) -> Request {
    get("/catalog/items")
        .header(":scheme", "https")
        .header("authorization", &format!("DPoP {token}"))
        .header("dpop", proof)
}

const HTU: &str = "https://api.example.com/catalog/items";

fn reason(verdict: &Verdict) -> DenyReason {
    denial(verdict).reason
}

#[test]
fn a_bound_token_with_its_proof_is_allowed_and_the_proof_not_forwarded() {
    let mut env = env("required");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let verdict = env.decide(&dpop_request(&token, &proof));
    let allow = allowed(&verdict);
    let removed: Vec<&str> = allow.removals().collect();
    assert!(removed.contains(&"dpop"), "{removed:?}");
    assert!(removed.contains(&"authorization"), "{removed:?}");
}

#[test]
fn the_same_proof_twice_is_a_replay() {
    let mut env = env("required");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    allowed(&env.decide(&dpop_request(&token, &proof)));
    let verdict = env.decide(&dpop_request(&token, &proof));
    assert_eq!(reason(&verdict), DenyReason::DpopProofReplayed);
    let (_, response) = refusal(&verdict);
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.starts_with("DPoP realm=\"orders\", error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(challenge.ends_with("algs=\"ES256\""), "{challenge}");
}

#[test]
fn a_refused_request_spends_no_replay_entry() {
    let mut env = env("required");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    // The legacy route refuses before any token is looked at.
    let mut refused = dpop_request(&token, &proof);
    refused.path = "/v0/x".into();
    assert_eq!(reason(&env.decide(&refused)), DenyReason::RouteDenied);
    allowed(&env.decide(&dpop_request(&token, &proof)));
}

#[test]
fn a_token_bound_to_another_key_is_refused() {
    let mut env = env("required");
    let owner = Client::new();
    let thief = Client::new();
    let token = bound_token(&env, &owner.jkt());
    let proof = thief.proof("j1", "GET", HTU, &token);
    let verdict = env.decide(&dpop_request(&token, &proof));
    assert_eq!(reason(&verdict), DenyReason::DpopKeyMismatch);
}

#[test]
fn a_bound_token_under_the_bearer_scheme_is_refused() {
    let mut env = env("allowed");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let request = get("/catalog/items")
        .header(":scheme", "https")
        .bearer(&token)
        .header("dpop", &proof);
    assert_eq!(
        reason(&env.decide(&request)),
        DenyReason::DpopBoundTokenAsBearer
    );
}

#[test]
fn a_plain_bearer_token_still_passes_where_dpop_is_allowed() {
    let mut env = env("allowed");
    let token = env.keys.corp_token(&corp_claims());
    allowed(&env.decide(&get("/catalog/items").bearer(&token)));
}

#[test]
fn a_plain_bearer_token_is_refused_where_dpop_is_required() {
    let mut env = env("required");
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/catalog/items").bearer(&token));
    assert_eq!(reason(&verdict), DenyReason::DpopTokenNotBound);
}

#[test]
fn a_bound_token_without_a_proof_is_refused_with_the_dpop_challenge() {
    let mut env = env("required");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let request = get("/catalog/items").header("authorization", &format!("DPoP {token}"));
    let verdict = env.decide(&request);
    assert_eq!(reason(&verdict), DenyReason::DpopProofMissing);
}

#[test]
fn a_provider_that_forwards_its_proof_keeps_the_dpop_header() {
    let mut env = Env::with(|doc| {
        doc["providers"]["corp"]["dpop"] =
            json!({ "mode": "required", "algorithms": ["ES256"], "forward_proof": true });
    });
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let verdict = env.decide(&dpop_request(&token, &proof));
    assert!(!allowed(&verdict).removals().any(|h| h == "dpop"));
}

#[test]
fn explain_records_the_proof_and_its_replay_check() {
    let mut env = env("required");
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let (_, record) = env.record(&dpop_request(&token, &proof));
    let corp = record
        .providers
        .iter()
        .find(|p| p.provider == env.id("corp"))
        .unwrap();
    assert_eq!(corp.dpop, Some(Ok(true)));
    assert_eq!(corp.replay, Some(claimcheck::dpop::ReplayAnswer::Fresh));
}

/// The fixture with DPoP required and server nonces on the `corp` provider.
fn nonce_env() -> Env {
    Env::with(|doc| {
        doc["providers"]["corp"]["dpop"] = json!({
            "mode": "required", "algorithms": ["ES256"],
            "nonce": { "lifetime_s": 60, "secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" }
        });
    })
}

#[test]
fn a_proof_without_a_nonce_is_refused_with_use_dpop_nonce_and_a_fresh_nonce() {
    let mut env = nonce_env();
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let verdict = env.decide(&dpop_request(&token, &proof));
    assert_eq!(reason(&verdict), DenyReason::DpopNonceMissing);
    let (_, response) = refusal(&verdict);
    assert_eq!(response.status, 401);
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.starts_with("DPoP realm=\"orders\", error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    assert!(response.dpop_nonce.is_some());
}

#[test]
fn a_retry_with_the_nonce_of_the_refusal_is_allowed() {
    let mut env = nonce_env();
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let first = client.proof("j1", "GET", HTU, &token);
    let (_, response) = refusal(&env.decide(&dpop_request(&token, &first)));
    let nonce = response.dpop_nonce.unwrap();
    let retry = client.proof_with_nonce("j2", &token, &nonce);
    allowed(&env.decide(&dpop_request(&token, &retry)));
}

#[test]
fn a_nonce_two_windows_old_is_refused_with_a_fresh_one() {
    let mut env = nonce_env();
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let secret: Vec<u8> = (0..32).collect();
    let old = claimcheck::dpop::NoncePolicy::new(60, &secret).mint(NOW - 120);
    let retry = client.proof_with_nonce("j2", &token, &old);
    let verdict = env.decide(&dpop_request(&token, &retry));
    assert_eq!(reason(&verdict), DenyReason::DpopNonceExpired);
    let (_, response) = refusal(&verdict);
    assert_ne!(response.dpop_nonce.as_deref(), Some(old.as_str()));
}

#[test]
fn every_dpop_refusal_of_a_provider_with_nonces_carries_one() {
    let mut env = nonce_env();
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let request = get("/catalog/items").header("authorization", &format!("DPoP {token}"));
    let verdict = env.decide(&request);
    assert_eq!(reason(&verdict), DenyReason::DpopProofMissing);
    assert!(refusal(&verdict).1.dpop_nonce.is_some());
}

#[test]
fn explain_records_a_missing_nonce() {
    let mut env = nonce_env();
    let client = Client::new();
    let token = bound_token(&env, &client.jkt());
    let proof = client.proof("j1", "GET", HTU, &token);
    let (_, record) = env.record(&dpop_request(&token, &proof));
    let corp = record
        .providers
        .iter()
        .find(|p| p.provider == env.id("corp"))
        .unwrap();
    assert_eq!(
        corp.dpop,
        Some(Err(claimcheck::dpop::DpopError::Nonce(
            claimcheck::dpop::NonceError::Missing
        )))
    );
}
