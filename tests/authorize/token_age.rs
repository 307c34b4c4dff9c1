//! A rule's `max_token_age_s`: sensitive routes demand a token issued recently.

use claimcheck::claims::ClaimError;
use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

/// The fixture with a `payments` rule that accepts corp tokens at most 300 s old, and the
/// `internal` rule (corp and mesh) bounded the same way.
fn env_with_age_bound() -> Env {
    Env::with(|d| {
        let rules = d["rules"].as_array_mut().unwrap();
        rules.insert(
            0,
            json!({ "name": "payments",
                    "match": { "path": { "prefix": "/payments" } },
                    "action": "require",
                    "require": { "providers": { "any": ["corp"] }, "max_token_age_s": 300 } }),
        );
        for rule in rules.iter_mut() {
            if rule["name"] == "internal" {
                rule["require"]["max_token_age_s"] = json!(300);
            }
        }
    })
}

fn corp_token_issued_at(env: &Env, iat: Option<u64>) -> String {
    let mut claims = corp_claims();
    match iat {
        Some(iat) => claims["iat"] = json!(iat),
        None => {
            claims.as_object_mut().unwrap().remove("iat");
        }
    }
    env.keys.corp_token(&claims)
}

#[test]
fn a_token_issued_within_the_bound_is_allowed() {
    let mut env = env_with_age_bound();
    let token = corp_token_issued_at(&env, Some(NOW - 300));
    allowed(&env.decide(&get("/payments/1").bearer(&token)));
}

#[test]
fn a_token_issued_before_the_bound_and_the_skew_is_token_too_old() {
    let mut env = env_with_age_bound();
    // 300 s bound + the provider's 60 s skew.
    let token = corp_token_issued_at(&env, Some(NOW - 361));
    assert_invalid_token(
        &env.decide(&get("/payments/1").bearer(&token)),
        DenyReason::TokenTooOld,
    );
}

#[test]
fn the_bound_is_the_rules_and_other_routes_accept_the_same_token() {
    let mut env = env_with_age_bound();
    let token = corp_token_issued_at(&env, Some(NOW - 3_000));
    allowed(&env.decide(&get("/orders").bearer(&token)));
}

#[test]
fn a_token_without_iat_on_a_bounded_rule_is_iat_missing() {
    let mut env = env_with_age_bound();
    let token = corp_token_issued_at(&env, None);
    assert_invalid_token(
        &env.decide(&get("/payments/1").bearer(&token)),
        DenyReason::IatMissing,
    );
    allowed(&env.decide(&get("/orders").bearer(&token)));
}

#[test]
fn a_cached_token_ages_out_of_a_bounded_rule() {
    let mut env = env_with_age_bound();
    let token = corp_token_issued_at(&env, Some(NOW - 60));
    let first = env.decide(&get("/payments/1").bearer(&token));
    allowed(&first);
    assert_eq!(first.cache_hit, Some(false));
    let later = env.decide_at(&get("/payments/1").bearer(&token), NOW + 400);
    assert_eq!(later.cache_hit, Some(true));
    assert_invalid_token(&later, DenyReason::TokenTooOld);
}

#[test]
fn an_all_of_rule_bounds_the_age_of_every_token_it_accepts() {
    let mut env = env_with_age_bound();
    let corp = env.keys.corp_token(&corp_claims());
    // The mesh token has no `iat`: the age of the second credential counts too.
    let mesh = env.keys.mesh_token(&mesh_claims());
    let request = get("/internal/x")
        .bearer(&corp)
        .header("x-mesh-token", &mesh);
    assert_invalid_token(&env.decide(&request), DenyReason::IatMissing);
    let mut fresh = mesh_claims();
    fresh["iat"] = json!(NOW - 10);
    let mesh = env.keys.mesh_token(&fresh);
    let request = get("/internal/x")
        .bearer(&corp)
        .header("x-mesh-token", &mesh);
    allowed(&env.decide(&request));
}

#[test]
fn the_record_reports_a_token_too_old_with_the_registered_claims() {
    let mut env = env_with_age_bound();
    let token = corp_token_issued_at(&env, Some(NOW - 3_000));
    let (_, record) = env.record(&get("/payments/1").bearer(&token));
    assert_eq!(record.providers[0].claims, Some(Err(ClaimError::TooOld)));
}
