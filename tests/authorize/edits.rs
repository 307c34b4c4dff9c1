//! What an allowed request looks like upstream: token removed, identity headers set.

use serde_json::json;

use crate::*;

#[test]
fn a_token_in_the_authorization_header_is_removed_before_forwarding() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(allow.removals().any(|h| h == "authorization"));
    assert_eq!(allow.path_rewrite, None);
}

#[test]
fn a_token_in_the_query_string_is_removed_by_a_path_rewrite() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get(&format!(
        "/orders?page=2&access_token={token}&sort=asc"
    )));
    let allow = allowed(&verdict);
    assert_eq!(
        allow.path_rewrite.as_deref(),
        Some("/orders?page=2&sort=asc")
    );
    assert!(!allow.removals().any(|h| h == "authorization"));
}

#[test]
fn a_token_in_a_cookie_is_removed_and_the_other_cookies_kept() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let cookie = format!("theme=dark; session={token}; lang=en");
    let verdict = env.decide(&get("/orders").header("cookie", &cookie));
    let allow = allowed(&verdict);
    assert!(allow
        .headers_to_set
        .contains(&("cookie".to_owned(), "theme=dark; lang=en".to_owned())));
}

#[test]
fn forward_token_keeps_the_token_on_the_request() {
    let mut env = Env::with(|doc| doc["providers"]["corp"]["forward_token"] = json!(true));
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get(&format!("/orders?access_token={token}")));
    let allow = allowed(&verdict);
    assert_eq!(allow.path_rewrite, None);
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(!allow.removals().any(|h| h == "authorization"));
}

#[test]
fn all_of_removes_every_accepted_token_from_the_query_string() {
    let mut env = Env::with(|doc| {
        doc["providers"]["mesh"]["sources"] = json!([{ "query": "mesh_token" }]);
    });
    let user = env.keys.corp_token(&corp_claims());
    let service = env.keys.mesh_token(&mesh_claims());
    let path = format!("/internal/jobs?access_token={user}&mesh_token={service}&id=7");
    let verdict = env.decide(&get(&path));
    let allow = allowed(&verdict);
    assert_eq!(allow.path_rewrite.as_deref(), Some("/internal/jobs?id=7"));
}

#[test]
fn all_of_removes_every_accepted_token_from_the_cookies() {
    let mut env = Env::with(|doc| {
        doc["providers"]["mesh"]["sources"] = json!([{ "cookie": "mesh" }]);
    });
    let user = env.keys.corp_token(&corp_claims());
    let service = env.keys.mesh_token(&mesh_claims());
    let cookie = format!("session={user}; mesh={service}; theme=dark");
    let verdict = env.decide(&get("/internal/jobs").header("cookie", &cookie));
    let allow = allowed(&verdict);
    let cookies: Vec<&(String, String)> = allow
        .headers_to_set
        .iter()
        .filter(|(name, _)| name == "cookie")
        .collect();
    assert_eq!(
        cookies,
        [&("cookie".to_owned(), "theme=dark".to_owned())],
        "one rewrite without either token"
    );
}

#[test]
fn the_payload_header_carries_the_token_payload_segment() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let payload = token.split('.').nth(1).unwrap().to_owned();
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(allow
        .headers_to_set
        .contains(&("x-jwt-payload".to_owned(), payload)));
}

#[test]
fn array_claims_are_joined_into_one_header_value() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(allow
        .headers_to_set
        .contains(&("x-user-groups".to_owned(), "admin,ops".to_owned())));
}

#[test]
fn a_configured_join_separates_array_claims() {
    let mut env = Env::with(|doc| {
        doc["providers"]["corp"]["claims_to_headers"][1]["join"] = json!(" | ");
    });
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert!(allowed(&verdict)
        .headers_to_set
        .contains(&("x-user-groups".to_owned(), "admin | ops".to_owned())));
}

#[test]
fn identity_headers_are_stripped_before_the_token_identity_is_set() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders")
        .bearer(&token)
        .header("x-user-id", "root")
        .header("x-user-groups", "admin");
    let verdict = env.decide(&request);
    let allow = allowed(&verdict);
    for header in ["x-user-id", "x-user-groups", "x-jwt-payload"] {
        assert!(allow.removals().any(|h| h == header), "{header}");
    }
    let user_ids: Vec<&str> = allow
        .headers_to_set
        .iter()
        .filter(|(name, _)| name == "x-user-id")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(user_ids, ["alice"]);
}

#[test]
fn a_claim_the_token_lacks_sets_no_header() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims.as_object_mut().unwrap().remove("groups");
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(!allow
        .headers_to_set
        .iter()
        .any(|(name, _)| name == "x-user-groups"));
    assert!(allow.removals().any(|h| h == "x-user-groups"));
}

#[test]
fn a_token_for_a_provider_the_rule_does_not_consult_is_stripped_not_forwarded() {
    // `/orders` requires `corp`; `mesh` reads `x-mesh-token`. A second token there was never
    // verified, so it must not reach the upstream next to the accepted one.
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(
        &get("/orders")
            .bearer(&token)
            .header("x-mesh-token", "unverified"),
    );
    let allow = allowed(&verdict);
    assert!(allow.removals().any(|h| h == "x-mesh-token"));
    assert!(allow.removals().any(|h| h == "authorization"));
}

#[test]
fn a_forwarding_provider_keeps_its_source_even_when_another_provider_shares_it() {
    let mut env = Env::with(|doc| doc["providers"]["corp"]["forward_token"] = json!(true));
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(!allow.removals().any(|h| h == "authorization"));
}

#[test]
fn an_allowed_request_loses_identity_headers_under_their_underscore_spelling() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders")
        .bearer(&token)
        .header("x_user_id", "admin")
        .header("x_jwt_payload", "e30");
    let verdict = env.decide(&request);
    let allow = allowed(&verdict);
    for name in ["x_user_id", "x_jwt_payload", "x-user-id"] {
        assert!(allow.removals().any(|h| h == name), "{name}");
    }
}

#[test]
fn an_allowed_request_loses_a_forged_token_under_another_query_spelling() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let request = get("/orders?x=1&ACCESS.TOKEN=forged&y=2").bearer(&token);
    let verdict = env.decide(&request);
    assert_eq!(
        denial(&verdict).reason,
        DenyReason::TokenAmbiguous,
        "a second token in a recognised spelling is refused"
    );
}

#[test]
fn a_dry_run_refusal_strips_every_token_source_and_identity_header() {
    let env = Env::fixture();
    let request = get("/orders?access%5Ftoken=forged")
        .bearer("forged")
        .header("cookie", "theme=dark, session=forged")
        .header("x_user_id", "admin");
    let denial = Denial::new(DenyReason::TokenMissing);
    let allow = claimcheck::authorize::dry_run_allow(&env.config, &request, denial);
    assert_eq!(allow.path_rewrite.as_deref(), Some("/orders"));
    assert!(allow
        .headers_to_set
        .contains(&("cookie".to_owned(), "theme=dark".to_owned())));
    for name in ["authorization", "x_user_id", "x-user-id"] {
        assert!(allow.removals().any(|h| h == name), "{name}");
    }
    assert_eq!(allow.provider, None);
}

/// What the configuration fixes is shared with each verdict, never copied per request:
/// the rule's name and the list of identity headers every allowed request loses.
#[test]
fn a_verdict_shares_its_rule_name_and_identity_headers_with_the_configuration() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    let allow = allowed(&verdict);
    assert!(std::sync::Arc::ptr_eq(
        &allow.identity_headers,
        env.config.identity_header_names()
    ));
    assert!(!allow.identity_headers.is_empty());
    let rule = env
        .config
        .rules
        .iter()
        .find(|rule| rule.name == verdict.rule)
        .map(|rule| &rule.name);
    assert!(rule.is_some_and(|name| std::sync::Arc::ptr_eq(name, &verdict.rule)));
}

#[test]
fn an_array_claim_holding_the_join_separator_sets_no_header() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["groups"] = json!(["viewers,admin"]);
    let token = env.keys.corp_token(&claims);
    let verdict = env.decide(&get("/orders").bearer(&token));
    let allow = allowed(&verdict);
    assert!(!allow
        .headers_to_set
        .iter()
        .any(|(name, _)| name == "x-user-groups"));
    assert!(allow.removals().any(|h| h == "x-user-groups"));
    assert_eq!(
        allow.headers_skipped.to_vec(),
        [claimcheck::policy::SkippedHeader {
            header: "x-user-groups".into(),
            reason: claimcheck::policy::HeaderSkipReason::SeparatorInValue,
        }]
    );
}
