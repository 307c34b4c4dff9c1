//! What each rule action does before and around tokens; dry run.

use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

#[test]
fn a_deny_rule_refuses_with_route_denied_before_looking_at_tokens() {
    let mut env = Env::fixture();
    // Even a token that would be refused (wrong signature, unknown issuer) is never looked at.
    let verdict = env.decide(&get("/v0/orders").bearer("not-a-jwt"));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::RouteDenied);
    assert_eq!(response.status, 403);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(&*verdict.rule, "legacy");
    assert_eq!(verdict.provider, None);
    assert_eq!(verdict.cache_hit, None);
}

#[test]
fn an_allow_rule_admits_an_anonymous_request() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/healthz"));
    let allow = allowed(&verdict);
    assert_eq!(&*verdict.rule, "health");
    assert_eq!(allow.provider, None);
    assert!(allow.headers_to_set.is_empty());
    assert_eq!(allow.path_rewrite, None);
}

#[test]
fn an_allow_rule_strips_client_sent_identity_headers_from_an_anonymous_request() {
    let mut env = Env::fixture();
    let request = get("/public")
        .header("x-user-id", "admin")
        .header("x-jwt-payload", "e30");
    let verdict = env.decide(&request);
    let allow = allowed(&verdict);
    for header in [
        "x-user-id",
        "x-user-groups",
        "x-jwt-payload",
        "x-partner-client",
        "x-calling-service",
    ] {
        assert!(
            allow.removals().any(|h| h == header),
            "{header} not stripped: {:?}",
            allow.removals().collect::<Vec<_>>()
        );
    }
    assert!(allow.headers_to_set.is_empty());
}

#[test]
fn an_allow_rule_with_a_valid_token_sets_the_identity_headers() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/public").bearer(&token));
    let allow = allowed(&verdict);
    assert_eq!(allow.provider, Some(env.id("corp")));
    assert_eq!(verdict.provider, Some(env.id("corp")));
    assert!(allow
        .headers_to_set
        .contains(&("x-user-id".to_owned(), "alice".to_owned())));
    assert!(allow.removals().any(|h| h == "authorization"));
}

#[test]
fn an_allow_rule_refuses_a_present_but_invalid_token() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["exp"] = json!(NOW - 3600);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/public").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::TokenExpired);
    assert_eq!(&*verdict.rule, "public");
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn an_allow_rule_refuses_a_token_whose_issuer_no_provider_has() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["iss"] = json!("https://evil.example");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/public").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::IssuerUnknown);
    assert_eq!(verdict.provider, None);
}

#[test]
fn an_allow_rule_verifies_a_token_against_the_provider_whose_issuer_it_names() {
    let mut env = Env::fixture();
    let token = env.keys.partner_token(&partner_claims());
    let verdict = env.decide(&get("/public").bearer(&token));
    let allow = allowed(&verdict);
    assert_eq!(allow.provider, Some(env.id("partners")));
    assert!(allow
        .headers_to_set
        .contains(&("x-partner-client".to_owned(), "partner-app".to_owned())));
}

#[test]
fn the_default_action_applies_when_no_rule_matches_and_is_named_default() {
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/elsewhere"));
    assert_eq!(&*verdict.rule, "default");
    assert_eq!(refusal(&verdict).0, DenyReason::TokenMissing);
}

#[test]
fn a_deny_default_refuses_with_no_rule_matched() {
    let mut env = Env::with(|doc| doc["default"] = json!({ "action": "deny" }));
    let verdict = env.decide(&get("/elsewhere"));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::NoRuleMatched);
    assert_eq!(response.status, 403);
    assert_eq!(&*verdict.rule, "default");
}

#[test]
fn under_the_global_dry_run_flag_a_refusal_becomes_an_allow_carrying_it() {
    let mut env = Env::with(|doc| doc["dry_run"] = json!(true));
    let verdict = env.decide(&get("/v0/x"));
    assert_eq!(would_deny(&verdict), Some(DenyReason::RouteDenied));
    assert_eq!(
        would_deny(&env.decide(&get("/elsewhere"))),
        Some(DenyReason::TokenMissing),
        "default action too"
    );
}

#[test]
fn a_dry_run_allow_still_strips_client_sent_identity_headers() {
    let mut env = Env::with(|doc| doc["dry_run"] = json!(true));
    let verdict = env.decide(&get("/v0/x"));
    let allow = allowed(&verdict);
    assert!(allow.removals().any(|name| name == "x-user-id"));
    assert!(allow.headers_to_set.is_empty());
}

#[test]
fn a_rule_dry_run_overrides_the_global_flag() {
    let mut env = Env::with(|doc| doc["rules"][2]["dry_run"] = json!(true));
    let legacy = env.decide(&get("/v0/x"));
    assert_eq!(&*legacy.rule, "legacy");
    assert_eq!(would_deny(&legacy), Some(DenyReason::RouteDenied));
    let other = env.decide(&get("/elsewhere"));
    assert_eq!(refusal(&other).0, DenyReason::TokenMissing);
}

#[test]
fn a_rule_can_opt_out_of_a_global_dry_run() {
    let mut env = Env::with(|doc| {
        doc["dry_run"] = json!(true);
        doc["rules"][2]["dry_run"] = json!(false);
    });
    assert_eq!(
        refusal(&env.decide(&get("/v0/x"))).0,
        DenyReason::RouteDenied
    );
    assert_eq!(
        would_deny(&env.decide(&get("/elsewhere"))),
        Some(DenyReason::TokenMissing)
    );
}

#[test]
fn an_allow_rule_accepts_a_token_any_provider_of_its_issuer_accepts() {
    // Two providers for one issuer, told apart by audience: the first refusing must not
    // stop the second from accepting, as with a require rule.
    let mut env = Env::with(|doc| {
        let mut corp_b = doc["providers"]["corp"].clone();
        corp_b["audiences"] = json!(["billing-api"]);
        corp_b["claims_to_headers"] = json!([{ "claim": "sub", "header": "x-billing-user" }]);
        doc["providers"]["corp-billing"] = corp_b;
    });
    let mut claims = corp_claims();
    claims["aud"] = json!("billing-api");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/public").bearer(&token));
    let allow = allowed(&verdict);
    assert_eq!(allow.provider, Some(env.id("corp-billing")));
    assert!(allow
        .headers_to_set
        .contains(&("x-billing-user".to_owned(), "alice".to_owned())));
}

#[test]
fn an_allow_rule_reports_the_first_failure_when_no_provider_of_the_issuer_accepts() {
    let mut env = Env::with(|doc| {
        let mut corp_b = doc["providers"]["corp"].clone();
        corp_b["audiences"] = json!(["billing-api"]);
        doc["providers"]["corp-billing"] = corp_b;
    });
    let mut claims = corp_claims();
    claims["aud"] = json!("search-api");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/public").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::AudienceMismatch);
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn an_allow_rule_refuses_a_cookie_source_holding_something_other_than_a_jwt() {
    // A provider's cookie source makes that cookie a credential on every route: an opaque
    // session id under the same name is a malformed token, even on a public route.
    let mut env = Env::fixture();
    let verdict = env.decide(&get("/public").header("cookie", "session=opaque-id-123"));
    assert_invalid_token(&verdict, DenyReason::TokenMalformed);
}
