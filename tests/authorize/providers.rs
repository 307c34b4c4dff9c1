//! `require` rules: which provider vouches for a request, any-of and all-of, claim
//! conditions.

use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

#[test]
fn a_missing_token_is_refused_with_a_bare_bearer_challenge() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/catalog/items"));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::TokenMissing);
    assert_eq!(response.status, 401);
    // RFC 6750 §3.1: no error code when the request carried no credentials.
    assert_eq!(
        response.www_authenticate.as_deref(),
        Some("Bearer realm=\"orders\"")
    );
    assert_eq!(verdict.provider, None);
}

#[test]
fn a_header_with_another_scheme_counts_as_no_token() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/catalog").header("authorization", "Basic YWxpY2U6cHc="));
    assert_eq!(refusal(&verdict).0, DenyReason::TokenMissing);
}

#[test]
fn any_of_accepts_the_first_provider_when_its_issuer_matches() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_eq!(allowed(&verdict).provider, Some(env.id("corp")));
    assert_eq!(&*verdict.rule, "catalog");
}

#[test]
fn any_of_picks_the_provider_by_the_token_issuer() {
    let mut env = Env::fixture();
    let token = env.keys.partner_token(&partner_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_eq!(allowed(&verdict).provider, Some(env.id("partners")));
    assert_eq!(verdict.provider, Some(env.id("partners")));
}

#[test]
fn any_of_takes_the_first_provider_that_verifies_when_two_share_an_issuer() {
    // Two providers for one issuer, told apart by audience: the first that accepts wins,
    // and a refusal by an earlier one does not stop a later one from accepting.
    let mut env = Env::with(|doc| {
        let mut corp_b = doc["providers"]["corp"].clone();
        corp_b["audiences"] = json!(["billing-api"]);
        corp_b["claims_to_headers"] = json!([{ "claim": "sub", "header": "x-billing-user" }]);
        doc["providers"]["corp-billing"] = corp_b;
        doc["rules"][5]["require"]["providers"]["any"] = json!(["corp", "corp-billing"]);
    });
    let mut claims = corp_claims();
    claims["aud"] = json!("billing-api");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/catalog").bearer(&token));
    let allow = allowed(&verdict);
    assert_eq!(allow.provider, Some(env.id("corp-billing")));
    assert!(allow
        .headers_to_set
        .contains(&("x-billing-user".to_owned(), "alice".to_owned())));

    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_eq!(allowed(&verdict).provider, Some(env.id("corp")));
}

#[test]
fn any_of_reports_the_failure_of_the_provider_whose_issuer_matched() {
    let mut env = Env::fixture();
    let mut claims = partner_claims();
    claims["exp"] = json!(NOW - 3600);
    let token = env.keys.partner_token(&claims);
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::TokenExpired);
    assert_eq!(verdict.provider, Some(env.id("partners")));
}

#[test]
fn a_token_for_an_issuer_no_listed_provider_has_is_issuer_unknown() {
    let mut env = Env::fixture();
    // A valid mesh token, but the catalog rule lists only corp and partners.
    let token = env.keys.mesh_token(&mesh_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::IssuerUnknown);
    assert_eq!(verdict.provider, None);
}

#[test]
fn a_failing_claim_condition_on_scope_is_insufficient_scope_listing_the_scopes() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["scope"] = json!("orders:read");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&request("POST", "/orders").bearer(&token));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::ClaimsConditionFailed);
    assert_eq!(response.status, 403);
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"orders\", error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(", scope=\"orders:read orders:write\""),
        "{challenge}"
    );
    assert_eq!(&*verdict.rule, "orders-write");
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn a_failing_claim_condition_on_another_claim_names_no_scope() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!(["ops"]);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/admin/users").bearer(&token));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::ClaimsConditionFailed);
    assert_eq!(response.status, 403);
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(!challenge.contains("scope=\"orders"), "{challenge}");
}

#[test]
fn a_satisfied_claim_condition_allows() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&request("POST", "/orders").bearer(&token));
    assert_eq!(allowed(&verdict).provider, Some(env.id("corp")));
}

#[test]
fn claim_conditions_are_checked_only_after_the_registered_claims() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["scope"] = json!("nothing");
    claims["exp"] = json!(NOW - 3600);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&request("POST", "/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::TokenExpired);
}

#[test]
fn all_of_allows_when_every_provider_verifies_its_token() {
    let mut env = Env::fixture();
    let user = env.keys.corp_token(&corp_claims());
    let service = env.keys.mesh_token(&mesh_claims());
    let request = get("/internal/jobs")
        .bearer(&user)
        .header("x-mesh-token", &service);
    let verdict = env.decide(&request);
    let allow = allowed(&verdict);
    assert_eq!(allow.provider, Some(env.id("corp")), "the first listed");
    assert!(allow
        .headers_to_set
        .contains(&("x-user-id".to_owned(), "alice".to_owned())));
    assert!(allow
        .headers_to_set
        .contains(&("x-calling-service".to_owned(), "billing".to_owned())));
    for header in ["authorization", "x-mesh-token"] {
        assert!(allow.removals().any(|h| h == header), "{header}");
    }
}

#[test]
fn all_of_refuses_with_providers_requirement_failed_when_the_second_token_lacks() {
    let mut env = Env::fixture();
    let user = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/internal/jobs").bearer(&user));
    assert_invalid_token(&verdict, DenyReason::ProvidersRequirementFailed);
    assert_eq!(verdict.provider, Some(env.id("mesh")));
}

#[test]
fn all_of_refuses_with_providers_requirement_failed_when_the_first_token_lacks() {
    // The client did send a credential, so this is not the bare "token missing" challenge.
    let mut env = Env::fixture();
    let service = env.keys.mesh_token(&mesh_claims());
    let verdict = env.decide(&get("/internal/jobs").header("x-mesh-token", &service));
    assert_invalid_token(&verdict, DenyReason::ProvidersRequirementFailed);
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn all_of_without_any_token_is_token_missing() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/internal/jobs"));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::TokenMissing);
    assert_eq!(
        response.www_authenticate.as_deref(),
        Some("Bearer realm=\"orders\"")
    );
}

#[test]
fn all_of_refuses_when_one_token_is_invalid_with_that_token_reason() {
    let mut env = Env::fixture();
    let user = env.keys.corp_token(&corp_claims());
    let mut claims = mesh_claims();
    claims["exp"] = json!(NOW - 3600);
    let service = env.keys.mesh_token(&claims);
    let request = get("/internal/jobs")
        .bearer(&user)
        .header("x-mesh-token", &service);
    let verdict = env.decide(&request);
    assert_invalid_token(&verdict, DenyReason::TokenExpired);
    assert_eq!(verdict.provider, Some(env.id("mesh")));
}

#[test]
fn all_of_checks_claim_conditions_against_the_first_listed_provider() {
    let mut env = Env::with(|doc| {
        doc["rules"][6]["require"]["claims"] = json!({ "claim": "groups", "contains": "admin" });
    });
    let user = env.keys.corp_token(&corp_claims());
    let service = env.keys.mesh_token(&mesh_claims());
    let request = get("/internal/jobs")
        .bearer(&user)
        .header("x-mesh-token", &service);
    // The mesh token has no `groups`; the user token does.
    allowed(&env.decide(&request));

    let mut claims = corp_claims();
    claims["groups"] = json!(["ops"]);
    let user = env.keys.corp_token(&claims);
    let request = get("/internal/jobs")
        .bearer(&user)
        .header("x-mesh-token", &service);
    assert_eq!(
        refusal(&env.decide(&request)).0,
        DenyReason::ClaimsConditionFailed
    );
}

#[test]
fn a_claim_of_the_wrong_type_under_not_is_refused_with_its_own_reason() {
    let mut env = Env::with(|d| {
        d["rules"][4]["require"]["claims"] = json!({
            "not": { "claim": "contractor", "equals": true }
        })
    });
    for contractor in [json!("true"), json!(1)] {
        let mut claims = corp_claims();
        claims["contractor"] = contractor.clone();
        let token = env.keys.corp_token(&claims);
        let verdict = env.decide(&get("/admin/users").bearer(&token));
        let (reason, response) = refusal(&verdict);
        assert_eq!(reason, DenyReason::ClaimsConditionWrongType, "{contractor}");
        assert_eq!(response.status, 403);
        assert_eq!(response.reason_code, "claims_condition_wrong_type");
    }
    let mut claims = corp_claims();
    claims["contractor"] = json!(false);
    let token = env.keys.corp_token(&claims);
    allowed(&env.decide(&get("/admin/users").bearer(&token)));
}

#[test]
fn contains_reads_a_string_claim_as_words_only_for_scope() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!("not-really admin");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/admin/users").bearer(&token));
    assert_eq!(denial(&verdict).reason, DenyReason::ClaimsConditionFailed);
    let mut claims = corp_claims();
    claims["groups"] = json!("admin");
    let token = env.keys.corp_token(&claims);
    allowed(&env.decide(&get("/admin/users").bearer(&token)));
}
