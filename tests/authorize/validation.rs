//! Refusals of a token itself: registered claims, algorithms, signatures, ambiguity.

use claimcheck::decision::DenyReason;
use serde_json::{json, Value};

use crate::*;
use claimcheck_testkit::{b64, hs256_token, sign_token};

/// A corp token with `edit` applied to valid claims, presented on the default rule.
fn verdict_for_claims(edit: impl FnOnce(&mut Value)) -> Verdict {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    edit(&mut claims);
    let token = env.keys.corp_token(&claims);
    env.decide(&get("/orders").bearer(&token))
}

#[test]
fn registered_claim_failures_are_refused_with_their_own_reason() {
    type Edit = fn(&mut Value);
    let table: [(&str, Edit, DenyReason); 11] = [
        (
            "expired beyond the skew",
            |c| c["exp"] = json!(NOW - 61),
            DenyReason::TokenExpired,
        ),
        (
            "not valid before a time beyond the skew",
            |c| c["nbf"] = json!(NOW + 120),
            DenyReason::TokenNotYetValid,
        ),
        (
            "issued in the future",
            |c| c["iat"] = json!(NOW + 120),
            DenyReason::TokenIssuedInFuture,
        ),
        (
            "wrong audience",
            |c| c["aud"] = json!(["billing-api"]),
            DenyReason::AudienceMismatch,
        ),
        (
            "no audience",
            |c| {
                c.as_object_mut().unwrap().remove("aud");
            },
            DenyReason::AudienceMismatch,
        ),
        (
            "required claim missing",
            |c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            DenyReason::RequiredClaimMissing,
        ),
        (
            "no exp",
            |c| {
                c.as_object_mut().unwrap().remove("exp");
            },
            DenyReason::ExpMissing,
        ),
        (
            "exp not a number",
            |c| c["exp"] = json!("tomorrow"),
            DenyReason::TimeClaimInvalid,
        ),
        (
            "sub not a string",
            |c| c["sub"] = json!(42),
            DenyReason::ClaimTypeInvalid,
        ),
        (
            "jti not a string",
            |c| c["jti"] = json!({"id": 1}),
            DenyReason::ClaimTypeInvalid,
        ),
        (
            "aud neither a string nor an array of strings",
            |c| c["aud"] = json!(["orders-api", 7]),
            DenyReason::ClaimTypeInvalid,
        ),
    ];
    for (case, edit, reason) in table {
        let verdict = verdict_for_claims(edit);
        let (got, response) = refusal(&verdict);
        assert_eq!(got, reason, "{case}");
        assert_eq!(response.status, 401, "{case}");
        assert!(
            response
                .www_authenticate
                .as_deref()
                .is_some_and(|c| c.contains("error=\"invalid_token\"")),
            "{case}"
        );
    }
}

#[test]
fn a_token_within_the_clock_skew_of_its_exp_is_accepted() {
    let verdict = verdict_for_claims(|c| c["exp"] = json!(NOW - 59));
    allowed(&verdict);
}

#[test]
fn an_audience_array_naming_the_accepted_audience_is_accepted() {
    let verdict = verdict_for_claims(|c| c["aud"] = json!(["billing-api", "orders-api"]));
    allowed(&verdict);
}

#[test]
fn alg_none_is_refused_as_algorithm_not_allowed() {
    let mut env = Env::fixture();
    let header = json!({ "alg": "none", "typ": "JWT" });
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(corp_claims().to_string().as_bytes())
    );
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AlgorithmNotAllowed);
}

#[test]
fn hs256_signed_with_the_public_ec_key_is_refused_when_hmac_is_not_configured() {
    // Algorithm confusion (RFC 8725 §2.1): the attacker uses the published public key as an
    // HMAC secret and hopes the verifier lets the token's `alg` pick the algorithm.
    let mut env = Env::fixture();
    let header = json!({ "alg": "HS256", "kid": "corp-1" });
    let public = env.keys.corp.public_bytes();
    let token = hs256_token(&public, &header, &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AlgorithmNotAllowed);
}

#[test]
fn hs256_signed_with_the_public_ec_jwk_is_refused_even_when_hmac_is_configured() {
    // The provider also accepts HS256, but the `kid` names an EC key, which never
    // verifies an HMAC.
    let mut env = Env::with(|doc| {
        let corp = &mut doc["providers"]["corp"];
        corp["algorithms"] = json!(["ES256", "HS256"]);
        let secret = json!({ "kty": "oct", "kid": "corp-hmac", "k": b64(&[7; 32]) });
        corp["jwks"]["inline"]["keys"]
            .as_array_mut()
            .unwrap()
            .push(secret);
    });
    let header = json!({ "alg": "HS256", "kid": "corp-1" });
    for secret in [
        env.keys.corp.public_bytes(),
        env.keys.corp.jwk("corp-1").to_string().into_bytes(),
    ] {
        let token = hs256_token(&secret, &header, &corp_claims());
        let verdict = env.decide(&get("/orders").bearer(&token));
        assert_invalid_token(&verdict, DenyReason::AlgorithmNotAllowed);
    }
}

#[test]
fn an_algorithm_the_provider_does_not_list_is_refused() {
    let mut env = Env::with(|doc| doc["providers"]["corp"]["algorithms"] = json!(["ES256"]));
    // A valid EdDSA signature, but corp accepts only ES256.
    let token = env.keys.partner.token(Some("corp-1"), &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AlgorithmNotAllowed);
}

#[test]
fn a_tampered_signature_is_signature_invalid() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = signature.as_bytes().to_vec();
    // A character in the middle of the signature: every one of its six bits is significant.
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = format!("{input}.{}", String::from_utf8(signature).unwrap());
    let verdict = env.decide(&get("/orders").bearer(&tampered));
    assert_invalid_token(&verdict, DenyReason::SignatureInvalid);
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn claims_changed_after_signing_are_signature_invalid() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = corp_claims();
    claims["sub"] = json!("root");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    let verdict = env.decide(&get("/orders").bearer(&forged));
    assert_invalid_token(&verdict, DenyReason::SignatureInvalid);
}

#[test]
fn a_token_signed_by_another_key_under_the_right_kid_is_signature_invalid() {
    let mut env = Env::fixture();
    let token = env.keys.mesh.token(Some("corp-1"), &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::SignatureInvalid);
}

#[test]
fn a_token_that_is_not_a_jws_is_token_malformed() {
    let mut env = Env::fixture();
    for token in ["not-a-jwt", "a.b.c", "e30.e30"] {
        let verdict = env.decide(&get("/orders").bearer(token));
        assert_invalid_token(&verdict, DenyReason::TokenMalformed);
    }
}

#[test]
fn a_header_claiming_an_unknown_algorithm_is_algorithm_not_allowed() {
    let mut env = Env::fixture();
    let header = json!({ "alg": "XS256", "kid": "corp-1" });
    let token = sign_token(&header, &corp_claims(), |_| vec![0; 64]);
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AlgorithmNotAllowed);
}

#[test]
fn two_different_tokens_in_one_provider_sources_are_token_ambiguous() {
    let mut env = Env::fixture();
    let first = env.keys.corp_token(&corp_claims());
    let mut claims = corp_claims();
    claims["sub"] = json!("mallory");
    let second = env.keys.corp_token(&claims);
    let request = get(&format!("/orders?access_token={second}")).bearer(&first);
    let verdict = env.decide(&request);
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::TokenAmbiguous);
    assert_eq!(response.status, 400);
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn the_same_token_in_two_sources_is_not_ambiguous() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get(&format!("/orders?access_token={token}")).bearer(&token);
    allowed(&env.decide(&request));
}

#[test]
fn a_token_longer_than_the_limit_is_token_too_large() {
    let mut env = Env::fixture();
    let token = "a".repeat(claimcheck::extract::MAX_TOKEN_LEN + 1);
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::TokenTooLarge);
}

#[test]
fn two_tokens_are_ambiguous_even_when_another_listed_provider_would_accept_one() {
    // corp reads the header and the query string and sees two tokens; partners reads only
    // the header. Accepting the partner token would forward the unverified second one.
    let mut env = Env::fixture();
    let partner = env.keys.partner_token(&partner_claims());
    let corp = env.keys.corp_token(&corp_claims());
    for path in ["/catalog", "/public"] {
        let request = get(&format!("{path}?access_token={corp}")).bearer(&partner);
        let verdict = env.decide(&request);
        assert_eq!(refusal(&verdict).0, DenyReason::TokenAmbiguous, "{path}");
        assert_eq!(verdict.provider, Some(env.id("corp")), "{path}");
    }
}

#[test]
fn two_tokens_are_ambiguous_whatever_the_order_of_the_listed_providers() {
    let mut env = Env::with(|doc| {
        doc["rules"][5]["require"]["providers"]["any"] = json!(["partners", "corp"]);
    });
    let partner = env.keys.partner_token(&partner_claims());
    let corp = env.keys.corp_token(&corp_claims());
    let request = get(&format!("/catalog?access_token={corp}")).bearer(&partner);
    let verdict = env.decide(&request);
    assert_eq!(refusal(&verdict).0, DenyReason::TokenAmbiguous);
}

/// A corp token with this JOSE `typ` (`None`: no `typ` member).
fn corp_token_typed(env: &Env, typ: Option<&str>) -> String {
    let mut header = json!({ "alg": "ES256", "kid": "corp-1" });
    if let Some(typ) = typ {
        header["typ"] = json!(typ);
    }
    env.keys.corp.key().token(&header, &corp_claims())
}

#[test]
fn a_provider_with_a_token_type_refuses_other_typs() {
    let mut env = Env::with(|d| d["providers"]["corp"]["token_type"] = json!("at+jwt"));
    for typ in [None, Some("JWT"), Some("id+jwt")] {
        let token = corp_token_typed(&env, typ);
        let verdict = env.decide(&get("/orders").bearer(&token));
        assert_invalid_token(&verdict, DenyReason::TokenTypeNotAllowed);
    }
}

#[test]
fn a_provider_with_a_token_type_accepts_it_in_either_spelling() {
    let mut env = Env::with(|d| d["providers"]["corp"]["token_type"] = json!("at+jwt"));
    for typ in ["at+jwt", "application/AT+JWT"] {
        let token = corp_token_typed(&env, Some(typ));
        allowed(&env.decide(&get("/orders").bearer(&token)));
    }
}

#[test]
fn a_token_longer_than_its_provider_allows_is_token_too_large() {
    let mut env = Env::with(|d| d["providers"]["corp"]["max_token_bytes"] = json!(256));
    let mut claims = corp_claims();
    claims["pad"] = json!("x".repeat(200));
    let token = env.keys.corp_token(&claims);
    assert!(token.len() > 256);
    assert_invalid_token(
        &env.decide(&get("/orders").bearer(&token)),
        DenyReason::TokenTooLarge,
    );
    let short = env.keys.corp_token(&json!({
        "iss": CORP_ISS, "sub": "a", "aud": "orders-api", "exp": NOW + 60
    }));
    assert!(short.len() <= 256, "{}", short.len());
    allowed(&env.decide(&get("/orders").bearer(&short)));
}

#[test]
fn a_provider_bound_does_not_limit_another_providers_tokens() {
    let mut env = Env::with(|d| d["providers"]["partners"]["max_token_bytes"] = json!(256));
    let mut claims = corp_claims();
    claims["pad"] = json!("x".repeat(400));
    let token = env.keys.corp_token(&claims);
    allowed(&env.decide(&get("/catalog/items").bearer(&token)));
}
