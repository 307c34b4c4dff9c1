//! The identity a verdict carries for the access log: the verified token's issuer and
//! subject, whether the request was then allowed or refused for its claims; nothing from a
//! token that did not verify.

use claimcheck::authorize::{Identity, MAX_SUBJECT_BYTES};
use serde_json::json;

use crate::*;

#[test]
fn an_allowed_request_carries_the_verified_issuer_and_subject() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    allowed(&verdict);
    assert_eq!(
        verdict.identity.as_deref(),
        Some(&Identity {
            issuer: CORP_ISS.to_owned(),
            subject: Some("alice".to_owned())
        })
    );
}

#[test]
fn a_request_refused_for_its_claims_still_says_whose_token_it_was() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!(["ops"]);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/admin/users").bearer(&token));
    assert_eq!(denial(&verdict).reason, DenyReason::ClaimsConditionFailed);
    let identity = verdict.identity.unwrap();
    assert_eq!(identity.subject.as_deref(), Some("alice"));
}

#[test]
fn a_token_that_does_not_verify_gives_no_identity() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["exp"] = json!(NOW - 3600);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_eq!(denial(&verdict).reason, DenyReason::TokenExpired);
    assert_eq!(verdict.identity, None);
}

#[test]
fn an_anonymous_request_on_a_public_route_gives_no_identity() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/public/x"));
    allowed(&verdict);
    assert_eq!(verdict.identity, None);
}

#[test]
fn an_oversized_subject_is_cut_on_a_character_boundary() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["sub"] = json!("é".repeat(MAX_SUBJECT_BYTES));
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/orders").bearer(&token));
    let subject = verdict.identity.unwrap().subject.unwrap();
    assert!(subject.len() <= MAX_SUBJECT_BYTES && subject.len() >= MAX_SUBJECT_BYTES - 1);
    assert!(subject.chars().all(|c| c == 'é'));
}
