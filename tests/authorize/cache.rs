//! The verified-token cache: what it saves and what it never skips.

use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

#[test]
fn the_first_verification_of_a_token_is_a_cache_miss() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    allowed(&verdict);
    assert_eq!(verdict.cache_hit, Some(false));
}

#[test]
fn a_second_identical_request_is_a_cache_hit_with_the_same_decision() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders").bearer(&token);
    let first = env.decide(&request);
    let second = env.decide(&request);
    assert_eq!(second.cache_hit, Some(true));
    assert_eq!(second.decision, first.decision);
}

#[test]
fn a_request_without_token_does_not_touch_the_cache() {
    let mut env = Env::fixture();
    assert_eq!(env.decide(&get("/orders")).cache_hit, None);
    assert_eq!(env.decide(&get("/public")).cache_hit, None);
}

#[test]
fn a_key_set_generation_change_forces_re_verification() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders").bearer(&token);
    env.decide(&request);
    env.lookup.update(&env.config, "corp", 2, false);
    let verdict = env.decide(&request);
    allowed(&verdict);
    assert_eq!(verdict.cache_hit, Some(false));
    assert_eq!(env.decide(&request).cache_hit, Some(true));
}

#[test]
fn a_token_cached_under_a_key_that_was_removed_is_refused_after_the_refresh() {
    let keys = Keys::generate();
    let token = keys.corp_token(&corp_claims());
    let mut env = Env::from_keys(keys, |_| {});
    let request = get("/orders").bearer(&token);
    allowed(&env.decide(&request));
    // The refresh brought a set without `corp-1`.
    let rotated = SigningKey::es256();
    let document = json!({ "keys": [rotated.jwk("corp-2")] }).to_string();
    let policy = claimcheck::jwks::KeyPolicy {
        algorithms: env
            .config
            .provider_by_name("corp")
            .unwrap()
            .algorithms
            .clone(),
    };
    let keys = KeySet::parse(document.as_bytes(), &policy).unwrap().keys;
    env.lookup.set(
        &env.config,
        "corp",
        KeyState::Ready {
            keys,
            generation: 2,
            refetch_allowed: false,
        },
    );
    let verdict = env.decide(&request);
    assert_invalid_token(&verdict, DenyReason::KeyNotFound);
}

#[test]
fn a_cached_token_still_expires() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders").bearer(&token);
    env.decide(&request);
    assert_eq!(env.decide_at(&request, NOW + 300).cache_hit, Some(true));
    // exp = NOW + 600, skew 60.
    let verdict = env.decide_at(&request, NOW + 660);
    assert_invalid_token(&verdict, DenyReason::TokenExpired);
}

#[test]
fn a_cached_token_is_still_subject_to_each_rule_claim_conditions() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!(["ops"]);
    let token = env.keys.corp_token(&claims);
    allowed(&env.decide(&get("/orders").bearer(&token)));
    let verdict = env.decide(&get("/admin/users").bearer(&token));
    assert_eq!(verdict.cache_hit, Some(true));
    assert_eq!(refusal(&verdict).0, DenyReason::ClaimsConditionFailed);
}

#[test]
fn a_token_cached_for_one_provider_is_not_taken_as_verified_by_another() {
    // Same issuer, same key, two providers: the second still checks its own audience.
    let mut env = Env::with(|doc| {
        let mut corp_b = doc["providers"]["corp"].clone();
        corp_b["audiences"] = json!(["billing-api"]);
        doc["providers"]["corp-billing"] = corp_b;
        doc["rules"][5]["require"]["providers"]["any"] = json!(["corp-billing"]);
    });
    let token = env.keys.corp_token(&corp_claims());
    allowed(&env.decide(&get("/orders").bearer(&token)));
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AudienceMismatch);
    assert_eq!(verdict.cache_hit, Some(false));
}

#[test]
fn a_zero_sized_cache_verifies_every_time() {
    let mut env = Env::fixture();
    env.cache = VerifiedCache::new(0);
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders").bearer(&token);
    env.decide(&request);
    assert_eq!(env.decide(&request).cache_hit, Some(false));
}

#[test]
fn a_token_refused_for_its_audience_or_expiry_never_fills_the_cache() {
    let mut env = Env::fixture();
    let mut other_audience = corp_claims();
    other_audience["aud"] = json!("billing-api");
    let mut expired = corp_claims();
    expired["exp"] = json!(NOW - 120);
    for claims in [other_audience, expired] {
        let token = env.keys.corp_token(&claims);
        let request = get("/orders").bearer(&token);
        for _ in 0..2 {
            let verdict = env.decide(&request);
            denial(&verdict);
            assert_eq!(verdict.cache_hit, Some(false), "{claims}");
        }
    }
    assert!(env.cache.is_empty());
}

#[test]
fn a_token_refused_for_its_type_never_fills_the_cache() {
    let mut env = Env::with(|d| d["providers"]["corp"]["token_type"] = json!("at+jwt"));
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_eq!(denial(&verdict).reason, DenyReason::TokenTypeNotAllowed);
    assert!(env.cache.is_empty());
}

#[test]
fn a_token_refused_by_a_rule_condition_is_still_cached() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!(["ops"]);
    let token = env.keys.corp_token(&claims);
    let request = get("/admin/users").bearer(&token);
    denial(&env.decide(&request));
    assert_eq!(env.cache.len(), 1, "the token itself is valid");
    assert_eq!(env.decide(&request).cache_hit, Some(true));
}
