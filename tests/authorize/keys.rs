//! When a provider's keys are not (all) there: cold start and unknown `kid`.

use claimcheck::authorize::{Outcome, WaitCause, Waiting};
use claimcheck::decision::DenyReason;
use serde_json::json;

use crate::*;

#[test]
fn a_token_waits_for_keys_still_loading_when_the_provider_allows_waiting() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let outcome = env.run(&get("/orders").bearer(&token));
    assert_eq!(
        outcome,
        Outcome::Park {
            provider: env.id("corp"),
            cause: WaitCause::ColdStart,
            deadline_ms: NOW * 1000 + 3000,
        }
    );
}

#[test]
fn a_parked_request_still_waits_before_its_deadline() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let waiting = Waiting::Parked {
        deadline_ms: NOW * 1000 + 3000,
    };
    let outcome = env.run_waiting(&get("/orders").bearer(&token), NOW + 2, waiting);
    assert_eq!(
        outcome,
        Outcome::Park {
            provider: env.id("corp"),
            cause: WaitCause::ColdStart,
            deadline_ms: NOW * 1000 + 3000,
        }
    );
}

#[test]
fn a_parked_request_is_decided_at_its_deadline_with_the_on_timeout_reason() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let waiting = Waiting::Parked {
        deadline_ms: NOW * 1000 + 3000,
    };
    let Outcome::Decided(verdict) =
        env.run_waiting(&get("/orders").bearer(&token), NOW + 3, waiting)
    else {
        panic!("a request past its deadline is decided");
    };
    assert_eq!(refusal(&verdict).0, DenyReason::KeysWaitTimeout);
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn a_request_is_decided_at_once_when_the_caller_has_no_room_to_park_it() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let outcome = env.run_waiting(
        &get("/orders").bearer(&token),
        NOW,
        Waiting::New { room: false },
    );
    let Outcome::Decided(verdict) = outcome else {
        panic!("no room: decided now, got {outcome:?}");
    };
    assert_eq!(refusal(&verdict).0, DenyReason::KeysWaitTimeout);
}

#[test]
fn a_token_is_refused_with_keys_unavailable_when_the_provider_does_not_wait() {
    let mut env = Env::with(|doc| {
        doc["providers"]["corp"]["cold_start"] = json!({ "max_wait_ms": 0 });
    });
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::KeysUnavailable);
    assert_eq!(response.status, 503);
    assert_eq!(response.www_authenticate, None);
    assert!(response.retry_after_s.is_some());
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn keys_unavailable_after_the_wait_refuse_with_the_on_timeout_reason() {
    for (on_timeout, reason, status) in [
        ("unavailable", DenyReason::KeysWaitTimeout, 503),
        ("deny", DenyReason::KeysWaitTimeoutDenied, 401),
    ] {
        let mut env = Env::with(|doc| {
            doc["providers"]["corp"]["cold_start"]["on_timeout"] = json!(on_timeout);
        });
        env.lookup.set(&env.config, "corp", KeyState::Unavailable);
        let token = env.keys.corp_token(&corp_claims());
        let verdict = env.decide(&get("/orders").bearer(&token));
        let (got, response) = refusal(&verdict);
        assert_eq!(got, reason, "{on_timeout}");
        assert_eq!(response.status, status, "{on_timeout}");
    }
}

#[test]
fn a_missing_token_is_refused_without_waiting_for_keys() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let verdict = env.decide(&get("/orders"));
    assert_eq!(refusal(&verdict).0, DenyReason::TokenMissing);
}

#[test]
fn a_malformed_token_is_refused_without_waiting_for_keys() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let verdict = env.decide(&get("/orders").bearer("not-a-jwt"));
    assert_invalid_token(&verdict, DenyReason::TokenMalformed);
}

#[test]
fn a_token_of_another_issuer_does_not_wait_for_keys_it_does_not_need() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    let token = env.keys.partner_token(&partner_claims());
    let verdict = env.decide(&get("/catalog").bearer(&token));
    assert_eq!(allowed(&verdict).provider, Some(env.id("partners")));
}

#[test]
fn an_anonymous_request_on_an_allow_rule_does_not_wait_for_keys() {
    let mut env = Env::fixture();
    env.lookup.set(&env.config, "corp", KeyState::Loading);
    allowed(&env.decide(&get("/public")));
}

#[test]
fn an_unknown_kid_waits_for_a_refetch_when_one_is_allowed() {
    let mut env = Env::fixture();
    env.lookup.update(&env.config, "corp", 1, true);
    let token = env.keys.corp.token(Some("corp-2"), &corp_claims());
    let outcome = env.run(&get("/orders").bearer(&token));
    assert_eq!(
        outcome,
        Outcome::Park {
            provider: env.id("corp"),
            cause: WaitCause::UnknownKid,
            deadline_ms: NOW * 1000 + 3000,
        }
    );
    assert_eq!(outcome.refetch(), Some(env.id("corp")));
}

#[test]
fn an_unknown_kid_that_may_not_wait_is_key_not_found_and_still_asks_for_the_refetch() {
    let mut env = Env::with(|doc| {
        doc["providers"]["corp"]["cold_start"] = json!({ "max_wait_ms": 0 });
    });
    env.lookup.update(&env.config, "corp", 1, true);
    let token = env.keys.corp.token(Some("corp-2"), &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::KeyNotFound);
    assert_eq!(verdict.refetch, Some(env.id("corp")));
}

#[test]
fn an_unknown_kid_is_key_not_found_when_no_refetch_is_allowed() {
    let mut env = Env::fixture();
    let token = env.keys.corp.token(Some("corp-2"), &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::KeyNotFound);
    assert_eq!(verdict.provider, Some(env.id("corp")));
}

#[test]
fn a_token_without_kid_verifies_against_every_key_of_its_algorithm() {
    let mut env = Env::fixture();
    let token = env.keys.corp.token(None, &corp_claims());
    allowed(&env.decide(&get("/orders").bearer(&token)));
}

#[test]
fn a_token_without_kid_that_no_key_can_verify_does_not_wait_for_a_refetch() {
    // Only a named `kid` the set lacks hints at a rotation; a kid-less token whose algorithm
    // no key supports would otherwise make every request a refetch trigger.
    let mut env = Env::with(|doc| {
        doc["providers"]["corp"]["algorithms"] = json!(["ES256", "EdDSA"]);
    });
    env.lookup.update(&env.config, "corp", 1, true);
    let token = env.keys.partner.token(None, &corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_invalid_token(&verdict, DenyReason::KeyNotFound);
}
