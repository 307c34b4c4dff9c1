//! The record an observer keeps of a run: what `claimcheck explain` renders.

use claimcheck::authorize::Outcome;
use claimcheck::decision::DenyReason;

use crate::*;

#[test]
fn the_record_of_an_accepted_token_names_each_step_and_the_key_that_verified_it() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let (outcome, record) = env.record(&get("/admin/x").bearer(&token));
    assert!(matches!(outcome, Outcome::Decided(ref v) if v.refusal().is_none()));
    let names: Vec<&str> = record.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["health", "public", "legacy", "orders-write", "admin"]
    );
    let corp = &record.providers[0];
    assert_eq!(corp.provider, env.id("corp"));
    assert_eq!(corp.token, Some(Ok(Some(0))));
    assert!(matches!(corp.decoded, Some(Ok(_))));
    assert_eq!(corp.issuer_matches, Some(true));
    let key = corp.signature.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(key.kid.as_deref(), Some("corp-1"));
    assert_eq!(corp.claims, Some(Ok(())));
    assert!(record.conditions.as_ref().unwrap().holds());
}

#[test]
fn the_record_shows_a_token_routed_past_a_provider_of_another_issuer() {
    let mut env = Env::fixture();
    let token = env.keys.partner.token(Some("partner-1"), &partner_claims());
    let (_, record) = env.record(&get("/catalog").bearer(&token));
    let corp = &record.providers[0];
    assert_eq!(corp.issuer_matches, Some(false));
    assert_eq!(corp.signature, None, "not this provider's to verify");
    let partners = &record.providers[1];
    assert_eq!(partners.issuer_matches, Some(true));
    assert!(matches!(partners.signature, Some(Ok(_))));
}

#[test]
fn the_record_keeps_the_failure_that_refused_the_request() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["exp"] = serde_json::json!(NOW - 3600);
    let token = env.keys.corp_token(&claims);
    let (outcome, record) = env.record(&get("/orders").bearer(&token));
    let Outcome::Decided(verdict) = outcome else {
        panic!("decided");
    };
    assert_eq!(refusal(&verdict).0, DenyReason::TokenExpired);
    assert!(matches!(record.providers[0].claims, Some(Err(_))));
    assert_eq!(
        record.conditions, None,
        "conditions follow an accepted token only"
    );
}
