//! A provider's revocation list, as the pipeline consults it on every request.

use claimcheck::authorize::{Outcome, WaitCause, Waiting};
use claimcheck::decision::DenyReason;
use claimcheck::revocation::RevocationList;
use serde_json::json;

use crate::*;

fn env_with_list(state: ListState) -> Env {
    let mut env = Env::fixture();
    let corp = env.id("corp").index();
    env.lookup.lists.push((corp, state));
    env
}

fn listing(document: serde_json::Value) -> ListState {
    ListState::Ready(RevocationList::parse(document.to_string().as_bytes()).unwrap())
}

fn corp_token_with(env: &Env, extra: serde_json::Value) -> String {
    let mut claims = corp_claims();
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    env.keys.corp_token(&claims)
}

#[test]
fn a_token_listed_by_jti_sub_or_sid_is_token_revoked() {
    let mut env = env_with_list(listing(
        json!({"jti": ["t-1"], "sub": ["mallory"], "sid": ["s-9"]}),
    ));
    for extra in [
        json!({"jti": "t-1"}),
        json!({"sub": "mallory"}),
        json!({"sid": "s-9"}),
    ] {
        let token = corp_token_with(&env, extra.clone());
        let verdict = env.decide(&get("/orders").bearer(&token));
        assert_invalid_token(&verdict, DenyReason::TokenRevoked);
    }
}

#[test]
fn a_token_the_list_does_not_name_is_allowed() {
    let mut env = env_with_list(listing(json!({"jti": ["t-1"], "sub": ["mallory"]})));
    let token = corp_token_with(&env, json!({"jti": "t-2"}));
    allowed(&env.decide(&get("/orders").bearer(&token)));
}

#[test]
fn a_cached_token_revoked_since_is_refused() {
    let mut env = env_with_list(listing(json!({})));
    let token = corp_token_with(&env, json!({"jti": "t-1"}));
    allowed(&env.decide(&get("/orders").bearer(&token)));
    let corp = env.id("corp").index();
    env.lookup.lists = vec![(corp, listing(json!({"jti": ["t-1"]})))];
    let verdict = env.decide(&get("/orders").bearer(&token));
    assert_eq!(verdict.cache_hit, Some(true));
    assert_invalid_token(&verdict, DenyReason::TokenRevoked);
}

#[test]
fn before_the_first_list_a_request_waits_like_a_cold_start() {
    let mut env = env_with_list(ListState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    match env.run(&get("/orders").bearer(&token)) {
        Outcome::Park {
            cause, deadline_ms, ..
        } => {
            assert_eq!(cause, WaitCause::RevocationList);
            assert_eq!(deadline_ms, NOW * 1000 + 3000);
        }
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[test]
fn a_wait_for_the_first_list_that_runs_out_is_revocation_list_unavailable() {
    let mut env = env_with_list(ListState::Loading);
    let token = env.keys.corp_token(&corp_claims());
    let waiting = Waiting::Parked {
        deadline_ms: NOW * 1000,
    };
    let Outcome::Decided(verdict) = env.run_waiting(&get("/orders").bearer(&token), NOW, waiting)
    else {
        panic!("a request past its deadline is decided");
    };
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::RevocationListUnavailable);
    assert_eq!(response.status, 503);
    assert!(response.retry_after_s.is_some());
}

#[test]
fn a_list_past_its_staleness_bound_fails_closed() {
    let mut env = env_with_list(ListState::Unavailable);
    let token = env.keys.corp_token(&corp_claims());
    let verdict = env.decide(&get("/orders").bearer(&token));
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::RevocationListUnavailable);
    assert_eq!(response.status, 503);
}

#[test]
fn another_providers_list_does_not_apply() {
    let mut env = Env::fixture();
    let partners = env.id("partners").index();
    env.lookup
        .lists
        .push((partners, listing(json!({"sub": ["alice"]}))));
    let token = env.keys.corp_token(&corp_claims());
    allowed(&env.decide(&get("/orders").bearer(&token)));
}
