//! RFC 9449's examples, then each check of §4.3 failing on its own.

use std::sync::Arc;

use claimcheck_testkit::{sign_token, TestKey};
use serde_json::{json, Map, Value};

use super::*;
use crate::crypto::RingVerifier;

/// RFC 9449 §7.1: a proof for `GET https://resource.example.org/protectedresource` with
/// the `ath` of the access token below, made by the key of §4.1 (thumbprint in §6.1).
const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const RFC_IAT: u64 = 1_562_262_618;

/// RFC 9449 §4.1: the proof of a token request (no `ath`), same key.
const RFC_TOKEN_REQUEST_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";

fn policy(mode: DpopMode) -> DpopPolicy {
    DpopPolicy {
        mode,
        algorithms: vec![Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256],
        challenge_algs: Arc::from("ES256 EdDSA RS256"),
        max_age_s: 60,
        clock_skew_s: 5,
        origin: None,
        forward_proof: false,
        replay_slots: 64,
        nonce: None,
    }
}

fn request(method: &str, uri_path: &str, host: &str, proofs: &[&str]) -> Request {
    let mut headers = vec![(":scheme".to_owned(), "https".to_owned())];
    headers.extend(proofs.iter().map(|p| ("dpop".to_owned(), (*p).to_owned())));
    Request {
        method: method.into(),
        path: uri_path.into(),
        host: host.into(),
        headers,
        route_name: None,
        peer: Default::default(),
    }
}

fn bound_to(jkt: &str) -> Map<String, Value> {
    json!({"sub": "u", "cnf": {"jkt": jkt}})
        .as_object()
        .cloned()
        .unwrap()
}

fn unbound() -> Map<String, Value> {
    json!({"sub": "u"}).as_object().cloned().unwrap()
}

fn run(
    policy: &DpopPolicy,
    request: &Request,
    token: &str,
    presentation: Presentation,
    claims: &Map<String, Value>,
    now_s: u64,
) -> Result<Option<VerifiedProof>, DpopError> {
    let presented = Presented {
        request,
        access_token: token,
        presentation,
        now_s,
    };
    check(policy, &presented, claims, &RingVerifier)
}

fn rfc_request() -> Request {
    request(
        "GET",
        "/protectedresource",
        "resource.example.org",
        &[RFC_PROOF],
    )
}

#[test]
fn rfc9449_resource_request_example_verifies() {
    let proof = run(
        &policy(DpopMode::Required),
        &rfc_request(),
        RFC_ACCESS_TOKEN,
        Presentation::DpopScheme,
        &bound_to(RFC_JKT),
        RFC_IAT,
    )
    .unwrap()
    .unwrap();
    assert_eq!(proof.jkt, RFC_JKT);
    assert_eq!(proof.jti, "e1j3V_bKic8-LAEB");
    assert_eq!(proof.expires_at_ms, (RFC_IAT + 60 + 5 + 1) * 1000);
}

#[test]
fn rfc9449_token_request_example_has_no_ath_so_it_cannot_present_a_token() {
    let request = request(
        "POST",
        "/token",
        "server.example.com",
        &[RFC_TOKEN_REQUEST_PROOF],
    );
    let result = run(
        &policy(DpopMode::Required),
        &request,
        RFC_ACCESS_TOKEN,
        Presentation::DpopScheme,
        &bound_to(RFC_JKT),
        1_562_262_616,
    );
    assert_eq!(result, Err(DpopError::AthMismatch));
}

#[test]
fn the_rfc_example_is_refused_once_out_of_its_window() {
    let result = run(
        &policy(DpopMode::Required),
        &rfc_request(),
        RFC_ACCESS_TOKEN,
        Presentation::DpopScheme,
        &bound_to(RFC_JKT),
        RFC_IAT + 66,
    );
    assert_eq!(result, Err(DpopError::IatOutOfWindow));
}

/// A client with its own key, making proofs for the tests below.
struct Client {
    key: TestKey,
    alg: &'static str,
}

impl Client {
    fn new(alg: &'static str) -> Client {
        Client {
            key: TestKey::for_alg(alg),
            alg,
        }
    }

    fn jkt(&self) -> String {
        let jwk = self.key.jwk();
        thumbprint::jwk_thumbprint(jwk.as_object().unwrap()).unwrap()
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.jwk()})
    }

    fn claims(&self, token: &str) -> Value {
        json!({
            "jti": "proof-1",
            "htm": "GET",
            "htu": "https://api.example.com/orders",
            "iat": NOW,
            "ath": thumbprint::sha256_b64(token.as_bytes()),
        })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_token(header, claims, |input| self.key.sign(self.alg, input))
    }

    fn proof(&self, token: &str) -> String {
        self.sign(&self.header(), &self.claims(token))
    }

    /// A proof with one claim changed (`Value::Null` removes it).
    fn proof_with(&self, token: &str, name: &str, value: Value) -> String {
        let mut claims = self.claims(token);
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        self.sign(&self.header(), &claims)
    }

    /// A proof with one header member changed (`Value::Null` removes it).
    fn proof_with_header(&self, token: &str, name: &str, value: Value) -> String {
        let mut header = self.header();
        if value.is_null() {
            header.as_object_mut().unwrap().remove(name);
        } else {
            header[name] = value;
        }
        self.sign(&header, &self.claims(token))
    }
}

const NOW: u64 = 1_900_000_000;
const TOKEN: &str = "header.payload.signature";

fn api_request(proofs: &[&str]) -> Request {
    request("GET", "/orders?page=2", "api.example.com", proofs)
}

fn verdict(client: &Client, proofs: &[&str]) -> Result<Option<VerifiedProof>, DpopError> {
    run(
        &policy(DpopMode::Required),
        &api_request(proofs),
        TOKEN,
        Presentation::DpopScheme,
        &bound_to(&client.jkt()),
        NOW,
    )
}

#[test]
fn a_proof_by_each_allowed_algorithm_verifies() {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let client = Client::new(alg);
        let proof = client.proof(TOKEN);
        let verified = verdict(&client, &[&proof]).unwrap().unwrap();
        assert_eq!(verified.jkt, client.jkt(), "{alg}");
    }
}

#[test]
fn a_bound_token_without_a_proof_is_refused() {
    let client = Client::new("ES256");
    assert_eq!(verdict(&client, &[]), Err(DpopError::ProofMissing));
}

#[test]
fn two_proof_headers_are_refused() {
    let client = Client::new("ES256");
    let proof = client.proof(TOKEN);
    assert_eq!(
        verdict(&client, &[&proof, &proof]),
        Err(DpopError::ProofMultiple)
    );
}

#[test]
fn an_oversized_proof_is_refused_before_decoding() {
    let client = Client::new("ES256");
    let huge = "a".repeat(MAX_PROOF_BYTES + 1);
    assert_eq!(verdict(&client, &[&huge]), Err(DpopError::ProofTooLarge));
}

#[test]
fn a_proof_that_is_not_a_jws_is_malformed() {
    let client = Client::new("ES256");
    assert_eq!(
        verdict(&client, &["not-a-jws"]),
        Err(DpopError::ProofMalformed)
    );
}

#[test]
fn a_proof_without_the_dpop_type_is_refused() {
    let client = Client::new("ES256");
    for typ in [json!("JWT"), Value::Null] {
        let proof = client.proof_with_header(TOKEN, "typ", typ);
        assert_eq!(
            verdict(&client, &[&proof]),
            Err(DpopError::ProofTypeInvalid)
        );
    }
}

#[test]
fn a_proof_by_an_algorithm_the_provider_does_not_allow_is_refused() {
    let client = Client::new("ES384");
    let proof = client.proof(TOKEN);
    assert_eq!(
        verdict(&client, &[&proof]),
        Err(DpopError::AlgorithmNotAllowed)
    );
}

#[test]
fn a_mac_proof_is_refused_even_when_listed() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "x"}});
    let claims = Client::new("ES256").claims(TOKEN);
    let proof = claimcheck_testkit::hs256_token(secret, &header, &claims);
    let mut policy = policy(DpopMode::Required);
    policy.algorithms.push(Algorithm::HS256);
    let result = run(
        &policy,
        &api_request(&[&proof]),
        TOKEN,
        Presentation::DpopScheme,
        &bound_to("x"),
        NOW,
    );
    assert_eq!(result, Err(DpopError::AlgorithmNotAllowed));
}

#[test]
fn a_proof_alg_none_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with_header(TOKEN, "alg", json!("none"));
    assert_eq!(
        verdict(&client, &[&proof]),
        Err(DpopError::AlgorithmNotAllowed)
    );
}

#[test]
fn a_proof_without_a_jwk_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with_header(TOKEN, "jwk", Value::Null);
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::KeyInvalid));
}

#[test]
fn a_proof_carrying_a_private_key_is_refused() {
    let client = Client::new("ES256");
    let mut jwk = client.key.jwk();
    jwk["d"] = json!("c2VjcmV0");
    let proof = client.proof_with_header(TOKEN, "jwk", jwk);
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::KeyInvalid));
}

#[test]
fn a_proof_pointing_at_a_remote_key_is_malformed() {
    let client = Client::new("ES256");
    let proof = client.proof_with_header(TOKEN, "jku", json!("https://evil.example/jwks"));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::ProofMalformed));
}

#[test]
fn a_proof_signed_by_another_key_than_its_jwk_is_refused() {
    let client = Client::new("ES256");
    let thief = Client::new("ES256");
    // The thief signs, but claims the victim's key (so `cnf.jkt` matches).
    let proof = thief.sign(&client.header(), &client.claims(TOKEN));
    assert_eq!(
        verdict(&client, &[&proof]),
        Err(DpopError::SignatureInvalid)
    );
}

#[test]
fn a_proof_for_another_method_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "htm", json!("POST"));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::MethodMismatch));
}

#[test]
fn a_proof_for_another_uri_is_refused() {
    let client = Client::new("ES256");
    for htu in [
        "https://api.example.com/orders/1",
        "https://other.example.com/orders",
        "http://api.example.com/orders",
        "https://api.example.com:8443/orders",
        "not a uri",
    ] {
        let proof = client.proof_with(TOKEN, "htu", json!(htu));
        assert_eq!(
            verdict(&client, &[&proof]),
            Err(DpopError::UriMismatch),
            "{htu}"
        );
    }
}

#[test]
fn htu_spellings_of_the_same_uri_match() {
    let client = Client::new("ES256");
    for htu in [
        "HTTPS://API.example.com:443/orders",
        "https://api.example.com/./orders?other=query",
        "https://api.example.com/%6Frders#fragment",
    ] {
        let proof = client.proof_with(TOKEN, "htu", json!(htu));
        assert!(verdict(&client, &[&proof]).is_ok(), "{htu}");
    }
}

#[test]
fn the_configured_origin_replaces_the_requests_scheme_and_authority() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "htu", json!("https://public.example.com/orders"));
    let mut policy = policy(DpopMode::Required);
    policy.origin = htu::normalize_origin("https://public.example.com");
    // Envoy sees plain http from the load balancer, on an internal name.
    let mut request = request("GET", "/orders", "backend.internal:8080", &[&proof]);
    request.headers[0].1 = "http".into();
    let result = run(
        &policy,
        &request,
        TOKEN,
        Presentation::DpopScheme,
        &bound_to(&client.jkt()),
        NOW,
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn a_proof_older_than_the_window_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "iat", json!(NOW - 66));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::IatOutOfWindow));
    let proof = client.proof_with(TOKEN, "iat", json!(NOW - 65));
    assert!(verdict(&client, &[&proof]).is_ok());
}

#[test]
fn a_proof_from_the_future_beyond_the_skew_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "iat", json!(NOW + 6));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::IatOutOfWindow));
    let proof = client.proof_with(TOKEN, "iat", json!(NOW + 5));
    assert!(verdict(&client, &[&proof]).is_ok());
}

#[test]
fn a_proof_missing_a_required_claim_is_malformed() {
    let client = Client::new("ES256");
    for claim in ["jti", "htm", "htu", "iat"] {
        let proof = client.proof_with(TOKEN, claim, Value::Null);
        assert_eq!(
            verdict(&client, &[&proof]),
            Err(DpopError::ProofMalformed),
            "{claim}"
        );
    }
    let proof = client.proof_with(TOKEN, "iat", json!("1900000000"));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::ProofMalformed));
    let proof = client.proof_with(TOKEN, "jti", json!("x".repeat(MAX_JTI_BYTES + 1)));
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::ProofMalformed));
}

#[test]
fn a_proof_made_for_another_access_token_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof("another.access.token");
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::AthMismatch));
    let proof = client.proof_with(TOKEN, "ath", Value::Null);
    assert_eq!(verdict(&client, &[&proof]), Err(DpopError::AthMismatch));
}

#[test]
fn a_token_bound_to_another_key_is_refused() {
    let owner = Client::new("ES256");
    let thief = Client::new("ES256");
    let proof = thief.proof(TOKEN);
    let result = run(
        &policy(DpopMode::Required),
        &api_request(&[&proof]),
        TOKEN,
        Presentation::DpopScheme,
        &bound_to(&owner.jkt()),
        NOW,
    );
    assert_eq!(result, Err(DpopError::KeyMismatch));
}

#[test]
fn a_cnf_jkt_that_is_not_a_string_matches_no_proof() {
    let client = Client::new("ES256");
    let proof = client.proof(TOKEN);
    let claims = json!({"cnf": {"jkt": 7}}).as_object().cloned().unwrap();
    let result = run(
        &policy(DpopMode::Required),
        &api_request(&[&proof]),
        TOKEN,
        Presentation::DpopScheme,
        &claims,
        NOW,
    );
    assert_eq!(result, Err(DpopError::KeyMismatch));
}

#[test]
fn a_bound_token_under_the_bearer_scheme_is_refused_in_every_mode() {
    let client = Client::new("ES256");
    let proof = client.proof(TOKEN);
    for mode in [DpopMode::Allowed, DpopMode::Required] {
        let result = run(
            &policy(mode),
            &api_request(&[&proof]),
            TOKEN,
            Presentation::Other,
            &bound_to(&client.jkt()),
            NOW,
        );
        assert_eq!(result, Err(DpopError::BoundTokenAsBearer), "{mode:?}");
    }
}

#[test]
fn an_unbound_bearer_token_passes_where_dpop_is_only_allowed() {
    let result = run(
        &policy(DpopMode::Allowed),
        &api_request(&[]),
        TOKEN,
        Presentation::Other,
        &unbound(),
        NOW,
    );
    assert_eq!(result, Ok(None));
}

#[test]
fn an_unbound_token_is_refused_where_dpop_is_required() {
    let result = run(
        &policy(DpopMode::Required),
        &api_request(&[]),
        TOKEN,
        Presentation::Other,
        &unbound(),
        NOW,
    );
    assert_eq!(result, Err(DpopError::TokenNotBound));
}

#[test]
fn an_unbound_token_under_the_dpop_scheme_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof(TOKEN);
    let result = run(
        &policy(DpopMode::Allowed),
        &api_request(&[&proof]),
        TOKEN,
        Presentation::DpopScheme,
        &unbound(),
        NOW,
    );
    assert_eq!(result, Err(DpopError::TokenNotBound));
}

fn nonce_policy() -> DpopPolicy {
    DpopPolicy {
        nonce: Some(NoncePolicy::new(300, &[9; 32])),
        ..policy(DpopMode::Required)
    }
}

fn nonce_verdict(proof: &str, client: &Client) -> Result<Option<VerifiedProof>, DpopError> {
    run(
        &nonce_policy(),
        &api_request(&[proof]),
        TOKEN,
        Presentation::DpopScheme,
        &bound_to(&client.jkt()),
        NOW,
    )
}

#[test]
fn a_proof_without_a_nonce_is_refused_where_the_provider_issues_nonces() {
    let client = Client::new("ES256");
    assert_eq!(
        nonce_verdict(&client.proof(TOKEN), &client),
        Err(DpopError::Nonce(NonceError::Missing))
    );
}

#[test]
fn a_proof_with_a_nonce_the_provider_minted_verifies() {
    let client = Client::new("ES256");
    let nonce = nonce_policy().nonce.unwrap().mint(NOW);
    let proof = client.proof_with(TOKEN, "nonce", json!(nonce));
    assert!(nonce_verdict(&proof, &client).unwrap().is_some());
}

#[test]
fn a_proof_with_an_expired_nonce_is_refused() {
    let client = Client::new("ES256");
    let nonce = nonce_policy().nonce.unwrap().mint(NOW - 600);
    let proof = client.proof_with(TOKEN, "nonce", json!(nonce));
    assert_eq!(
        nonce_verdict(&proof, &client),
        Err(DpopError::Nonce(NonceError::Expired))
    );
}

#[test]
fn a_proof_with_a_nonce_of_another_secret_is_refused() {
    let client = Client::new("ES256");
    let nonce = NoncePolicy::new(300, &[1; 32]).mint(NOW);
    let proof = client.proof_with(TOKEN, "nonce", json!(nonce));
    assert_eq!(
        nonce_verdict(&proof, &client),
        Err(DpopError::Nonce(NonceError::Invalid))
    );
}

#[test]
fn a_proof_with_a_nonce_that_is_not_a_string_is_refused_as_missing() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "nonce", json!(12345));
    assert_eq!(
        nonce_verdict(&proof, &client),
        Err(DpopError::Nonce(NonceError::Missing))
    );
}

#[test]
fn a_proof_with_a_malformed_nonce_is_refused() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "nonce", json!("not-a-nonce"));
    assert_eq!(
        nonce_verdict(&proof, &client),
        Err(DpopError::Nonce(NonceError::Malformed))
    );
}

#[test]
fn a_nonce_is_ignored_where_the_provider_issues_none() {
    let client = Client::new("ES256");
    let proof = client.proof_with(TOKEN, "nonce", json!("anything"));
    assert!(verdict(&client, &[&proof]).unwrap().is_some());
}
