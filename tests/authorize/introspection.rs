//! Introspection (RFC 7662) in the pipeline: opaque tokens judged by the server's answer
//! alone, JWT routes that demand it (`require.introspect`), waiting for the call and what
//! an outage does.

use std::rc::Rc;

use claimcheck::authorize::{Outcome, WaitCause, Waiting};
use claimcheck::decision::DenyReason;
use claimcheck::introspect::{CallFailure, Found};
use serde_json::{json, Map, Value};

use crate::*;

const OPAQUE_ISS: &str = "https://as.example.com";
const OPAQUE: &str = "2YotnFZFEjr1zCsicMWpAA";

fn endpoint() -> Value {
    json!({
        "cluster": "as",
        "uri": "https://as.example.com/introspect",
        "client_auth": { "basic": { "client_id": "gateway", "client_secret": "s3cret" } }
    })
}

/// The fixture with an opaque-token provider (`opaque`) guarding `/wallet`, and `corp`
/// introspected on `/payments` (failing closed) and `/reports` (`on_outage: "allow"`).
fn env() -> Env {
    Env::with(|v| {
        v["providers"]["opaque"] = json!({
            "issuer": OPAQUE_ISS,
            "audiences": ["wallet-api"],
            "sources": [ { "header": "x-wallet-token" } ],
            "introspection": endpoint(),
            "claims_to_headers": [ { "claim": "client_id", "header": "x-client-id" } ]
        });
        v["providers"]["corp"]["introspection"] = endpoint();
        let rules = v["rules"].as_array_mut().unwrap();
        rules.insert(
            0,
            json!({ "name": "wallet", "match": { "path": { "prefix": "/wallet" } },
            "action": "require",
            "require": { "providers": { "any": ["opaque"] },
                         "claims": { "claim": "scope", "contains": "wallet:read" } } }),
        );
        rules.insert(
            0,
            json!({ "name": "payments", "match": { "path": { "prefix": "/payments" } },
            "action": "require",
            "require": { "providers": { "any": ["corp"] }, "introspect": {} } }),
        );
        rules.insert(
            0,
            json!({ "name": "reports", "match": { "path": { "prefix": "/reports" } },
            "action": "require",
            "require": { "providers": { "any": ["corp"] },
                         "introspect": { "on_outage": "allow" } } }),
        );
    })
}

fn active(claims: Value) -> Found {
    let Value::Object(map) = claims else {
        panic!("claims must be an object")
    };
    Found::Active(Rc::new(map))
}

fn wallet_answer() -> Found {
    active(json!({
        "active": true, "iss": OPAQUE_ISS, "aud": "wallet-api", "sub": "alice",
        "client_id": "mobile-app", "scope": "wallet:read", "exp": NOW + 600
    }))
}

fn wallet() -> Request {
    get("/wallet/balance").header("x-wallet-token", OPAQUE)
}

#[test]
fn an_opaque_token_the_server_calls_active_is_allowed_with_the_answers_claims() {
    let mut env = env();
    env.answers.set(OPAQUE, wallet_answer());
    let verdict = env.decide(&wallet());
    let allow = allowed(&verdict);
    assert!(allow
        .headers_to_set
        .contains(&("x-client-id".to_owned(), "mobile-app".to_owned())));
    assert_eq!(
        verdict.identity.as_ref().and_then(|i| i.subject.as_deref()),
        Some("alice")
    );
}

#[test]
fn an_active_answer_still_meets_the_rules_conditions() {
    let mut env = env();
    let mut answer = Map::new();
    for (k, v) in [
        ("active", json!(true)),
        ("aud", json!("wallet-api")),
        ("scope", json!("wallet:write")),
    ] {
        answer.insert(k.to_owned(), v);
    }
    env.answers.set(OPAQUE, Found::Active(Rc::new(answer)));
    let verdict = env.decide(&wallet());
    assert_eq!(refusal(&verdict).0, DenyReason::ClaimsConditionFailed);
}

#[test]
fn an_active_answer_for_another_audience_is_refused_like_a_jwts() {
    let mut env = env();
    env.answers.set(
        OPAQUE,
        active(json!({ "active": true, "aud": "elsewhere", "scope": "wallet:read" })),
    );
    let verdict = env.decide(&wallet());
    assert_invalid_token(&verdict, DenyReason::AudienceMismatch);
}

#[test]
fn an_inactive_token_is_token_inactive() {
    let mut env = env();
    env.answers.set(OPAQUE, Found::Inactive);
    assert_invalid_token(&env.decide(&wallet()), DenyReason::TokenInactive);
}

#[test]
fn an_opaque_token_without_an_answer_waits_for_the_call_as_long_as_its_lease() {
    let mut env = env();
    let outcome = env.run(&wallet());
    assert_eq!(
        outcome,
        Outcome::Park {
            provider: env.id("opaque"),
            cause: WaitCause::Introspection,
            // The default 2 s call timeout plus the lease's 1 s of slack.
            deadline_ms: NOW * 1000 + 3_000,
        }
    );
    assert_eq!(
        env.answers.asked.borrow().as_slice(),
        &[(env.id("opaque"), OPAQUE.to_owned())]
    );
}

#[test]
fn a_parked_request_is_decided_once_the_answer_is_published() {
    let mut env = env();
    let Outcome::Park { deadline_ms, .. } = env.run(&wallet()) else {
        panic!("expected to wait");
    };
    env.answers.set(OPAQUE, wallet_answer());
    let outcome = env.run_waiting(&wallet(), NOW, Waiting::Parked { deadline_ms });
    let Outcome::Decided(verdict) = outcome else {
        panic!("expected a decision, got {outcome:?}");
    };
    allowed(&verdict);
}

#[test]
fn an_opaque_token_whose_wait_ran_out_is_introspection_unavailable() {
    let mut env = env();
    let outcome = env.run_waiting(
        &wallet(),
        NOW,
        Waiting::Parked {
            deadline_ms: NOW * 1000,
        },
    );
    let Outcome::Decided(verdict) = outcome else {
        panic!("expected a decision, got {outcome:?}");
    };
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::IntrospectionUnavailable);
    assert_eq!(response.status, 503);
    assert!(response.retry_after_s.is_some());
}

#[test]
fn a_request_without_room_to_wait_meets_the_outage_at_once() {
    let mut env = env();
    let outcome = env.run_waiting(&wallet(), NOW, Waiting::New { room: false });
    let Outcome::Decided(verdict) = outcome else {
        panic!("expected a decision, got {outcome:?}");
    };
    assert_eq!(refusal(&verdict).0, DenyReason::IntrospectionUnavailable);
}

#[test]
fn a_recent_failure_refuses_without_waiting() {
    let mut env = env();
    env.answers.set(OPAQUE, Found::Failed(CallFailure::Timeout));
    assert_eq!(
        refusal(&env.decide(&wallet())).0,
        DenyReason::IntrospectionUnavailable
    );
}

#[test]
fn a_jwt_on_an_introspected_route_passes_once_the_server_calls_it_active() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    env.answers.set(&token, active(json!({ "active": true })));
    let verdict = env.decide(&get("/payments").bearer(&token));
    allowed(&verdict);
    assert_eq!(verdict.unintrospected, None);
}

#[test]
fn a_revoked_jwt_is_refused_on_an_introspected_route_even_from_the_cache() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    env.answers.set(&token, active(json!({ "active": true })));
    allowed(&env.decide(&get("/payments").bearer(&token)));
    env.answers.set(&token, Found::Inactive);
    let verdict = env.decide(&get("/payments").bearer(&token));
    assert_eq!(verdict.cache_hit, Some(true));
    assert_invalid_token(&verdict, DenyReason::TokenInactive);
}

#[test]
fn a_jwt_on_a_route_without_introspect_never_asks_the_server() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    allowed(&env.decide(&get("/orders").bearer(&token)));
    assert!(env.answers.asked.borrow().is_empty());
}

#[test]
fn an_invalid_jwt_is_refused_before_the_server_is_asked() {
    let mut env = env();
    let mut claims = corp_claims();
    claims["exp"] = json!(NOW - 3600);
    let token = env.keys.corp_token(&claims);
    assert_invalid_token(
        &env.decide(&get("/payments").bearer(&token)),
        DenyReason::TokenExpired,
    );
    assert!(env.answers.asked.borrow().is_empty());
}

#[test]
fn an_outage_on_a_failing_closed_route_is_a_503() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    env.answers.set(&token, Found::Failed(CallFailure::Reset));
    let verdict = env.decide(&get("/payments").bearer(&token));
    assert_eq!(refusal(&verdict).1.status, 503);
    assert_eq!(refusal(&verdict).0, DenyReason::IntrospectionUnavailable);
}

#[test]
fn an_outage_on_an_allowing_route_lets_the_verified_jwt_through_and_says_so() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    env.answers.set(&token, Found::Failed(CallFailure::Timeout));
    let verdict = env.decide(&get("/reports").bearer(&token));
    allowed(&verdict);
    assert_eq!(verdict.unintrospected, Some(env.id("corp")));
}

#[test]
fn an_inactive_jwt_on_an_allowing_route_is_still_refused() {
    let mut env = env();
    let token = env.keys.corp_token(&corp_claims());
    env.answers.set(&token, Found::Inactive);
    assert_invalid_token(
        &env.decide(&get("/reports").bearer(&token)),
        DenyReason::TokenInactive,
    );
}

#[test]
fn the_record_shows_the_introspection_step() {
    let mut env = env();
    env.answers.set(OPAQUE, Found::Inactive);
    let (_, record) = env.record(&wallet());
    let step = record
        .providers
        .iter()
        .find(|p| p.provider == env.id("opaque"))
        .and_then(|p| p.introspection);
    assert_eq!(step, Some(claimcheck::observe::Introspected::Inactive));
}
