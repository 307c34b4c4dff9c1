//! Rules match the request as the upstream reads it: one canonical method and path.

use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

/// A `corp` token that may read but not write orders.
fn reader(env: &Env) -> String {
    let mut claims = corp_claims();
    claims["scope"] = json!("orders:read");
    env.keys.corp_token(&claims)
}

#[test]
fn a_lowercase_method_is_matched_as_its_uppercase_form() {
    let mut env = Env::fixture();
    let token = reader(&env);
    for method in ["POST", "post", "Post"] {
        let verdict = env.decide(&request(method, "/orders").bearer(&token));
        assert_eq!(&*verdict.rule, "orders-write", "{method}");
        assert_eq!(denial(&verdict).reason, DenyReason::ClaimsConditionFailed);
    }
}

#[test]
fn other_spellings_of_a_protected_path_select_the_same_rule() {
    let mut env = Env::fixture();
    for path in [
        "/admin/users",
        "/admin/users/",
        "//admin//users",
        "/public/../admin/users",
        "/public/%2e%2e/admin/users",
        "/%61dmin/users",
        "/admin;x=1/users",
        "/public/./../admin",
    ] {
        let verdict = env.decide(&get(path));
        assert_eq!(&*verdict.rule, "admin", "{path}");
    }
}

#[test]
fn an_encoded_slash_is_refused_before_any_rule_by_default() {
    let mut env = Env::fixture();
    for path in [
        "/public/..%2Fadmin/users",
        "/public/..%5cadmin",
        "/public\\..\\admin",
    ] {
        let verdict = env.decide(&get(path));
        assert_eq!(
            denial(&verdict).reason,
            DenyReason::PathEscapedSlash,
            "{path}"
        );
        assert_eq!(&*verdict.rule, "request");
        assert_eq!(refusal(&verdict).1.status, 400);
    }
}

#[test]
fn an_encoded_slash_is_read_as_a_slash_when_configured_to_decode() {
    let mut env = Env::with(|doc| doc["paths"] = json!({"escaped_slashes": "decode"}));
    let verdict = env.decide(&get("/public/..%2Fadmin/users"));
    assert_eq!(&*verdict.rule, "admin");
}

#[test]
fn a_path_without_a_canonical_form_is_refused_with_its_reason() {
    let mut env = Env::fixture();
    for path in ["/public/%zz", "/public/%00", "/public/..;/admin", "*"] {
        let verdict = env.decide(&get(path));
        assert_eq!(
            denial(&verdict).reason,
            DenyReason::PathNotCanonical,
            "{path}"
        );
    }
}

#[test]
fn case_insensitive_paths_match_other_letter_cases_when_configured() {
    let mut env = Env::fixture();
    assert_eq!(&*env.decide(&get("/ADMIN/users")).rule, "default");
    let mut env = Env::with(|doc| doc["paths"] = json!({"case_insensitive": true}));
    assert_eq!(&*env.decide(&get("/ADMIN/users")).rule, "admin");
    assert_eq!(&*env.decide(&get("/Admin")).rule, "admin");
}

#[test]
fn the_token_is_still_removed_from_the_query_of_a_non_canonical_spelling() {
    let mut env = Env::fixture();
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get(&format!("//orders/?access_token={token}&a=1")));
    assert_eq!(
        allowed(&verdict).path_rewrite.as_deref(),
        Some("//orders/?a=1")
    );
}
