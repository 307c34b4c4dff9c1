//! Rules on the downstream peer: `match.peer`, `require.peer` and `equals_peer` conditions.

use claimcheck::decision::DenyReason;
use claimcheck::peer::Peer;
use claimcheck::request::Request;
use serde_json::{json, Value};

use crate::*;

const SPIFFE: &str = "spiffe://{trust_domain}/ns/{namespace}/sa/{sa}";

fn from(uri_san: &str, request: Request) -> Request {
    Request {
        peer: Peer {
            mtls: true,
            uri_san: Some(uri_san.to_owned()),
            ..Peer::default()
        },
        ..request
    }
}

/// `/mesh` needs a token whose `sub` is the calling service account, from namespace `shop`.
fn mesh_rule(config: &mut Value) {
    config["rules"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({
            "name": "mesh",
            "match": { "path": { "prefix": "/mesh" },
                       "peer": { "uri_san": { "template": SPIFFE } } },
            "action": "require",
            "require": {
                "providers": { "any": ["corp"] },
                "peer": { "uri_san": { "prefix": "spiffe://cluster.local/ns/shop/" } },
                "claims": { "claim": "sub", "equals_peer": "system:serviceaccount:{namespace}:{sa}" }
            }
        }));
}

fn token(env: &Env, sub: &str) -> String {
    let mut claims = corp_claims();
    claims["sub"] = json!(sub);
    env.keys.corp_token(&claims)
}

#[test]
fn a_token_whose_sub_is_the_calling_service_account_is_allowed() {
    let mut env = Env::with(mesh_rule);
    let jwt = token(&env, "system:serviceaccount:shop:orders");
    let request = from(
        "spiffe://cluster.local/ns/shop/sa/orders",
        get("/mesh").bearer(&jwt),
    );
    let verdict = env.decide(&request);
    allowed(&verdict);
    assert_eq!(&*verdict.rule, "mesh");
}

#[test]
fn a_token_of_another_service_account_is_refused_403() {
    let mut env = Env::with(mesh_rule);
    let jwt = token(&env, "system:serviceaccount:shop:billing");
    let request = from(
        "spiffe://cluster.local/ns/shop/sa/orders",
        get("/mesh").bearer(&jwt),
    );
    let (reason, response) = refusal(&env.decide(&request));
    assert_eq!(reason, DenyReason::ClaimsConditionFailed);
    assert_eq!(response.status, 403);
}

#[test]
fn a_peer_outside_the_template_does_not_select_the_rule() {
    let mut env = Env::with(mesh_rule);
    let jwt = token(&env, "system:serviceaccount:shop:orders");
    let request = from("spiffe://cluster.local/other", get("/mesh").bearer(&jwt));
    assert_eq!(&*env.decide(&request).rule, "default");
}

#[test]
fn require_peer_refuses_another_namespace_before_any_token() {
    let mut env = Env::with(mesh_rule);
    let request = from(
        "spiffe://cluster.local/ns/billing/sa/orders",
        get("/mesh").bearer("not-a-jwt"),
    );
    let verdict = env.decide(&request);
    let (reason, response) = refusal(&verdict);
    assert_eq!(reason, DenyReason::PeerNotAllowed);
    assert_eq!(response.status, 403);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(verdict.cache_hit, None);
}

#[test]
fn require_peer_refuses_a_connection_without_a_client_certificate() {
    let mut env = Env::with(|config| {
        config["default"]["require"]["peer"] = json!({ "mtls": true });
    });
    let jwt = env.keys.corp_token(&corp_claims());
    let (reason, response) = refusal(&env.decide(&get("/anything").bearer(&jwt)));
    assert_eq!(reason, DenyReason::PeerCertificateMissing);
    assert_eq!(response.status, 403);
    let request = Request {
        peer: Peer {
            mtls: true,
            ..Peer::default()
        },
        ..get("/anything").bearer(&jwt)
    };
    allowed(&env.decide(&request));
}

#[test]
fn equals_peer_without_a_peer_refuses() {
    let mut env = Env::with(|config| {
        config["default"]["require"]["claims"] =
            json!({ "claim": "sub", "equals_peer": "{peer.uri_san}" });
    });
    let jwt = env.keys.corp_token(&corp_claims());
    let (reason, _) = refusal(&env.decide(&get("/x").bearer(&jwt)));
    assert_eq!(reason, DenyReason::ClaimsConditionFailed);
    let request = from("alice", get("/x").bearer(&jwt));
    allowed(&env.decide(&request));
}

#[test]
fn explain_traces_the_peer_check_and_the_compared_value() {
    let mut env = Env::with(mesh_rule);
    let jwt = token(&env, "system:serviceaccount:shop:billing");
    let request = from(
        "spiffe://cluster.local/ns/shop/sa/orders",
        get("/mesh").bearer(&jwt),
    );
    let (_, record) = env.record(&request);
    assert_eq!(record.peer, Some(Ok(())));
    let trace = record.conditions.unwrap();
    assert_eq!(
        trace.condition,
        "sub equals_peer \"system:serviceaccount:{namespace}:{sa}\""
    );
    assert_eq!(
        trace.detail.as_deref(),
        Some(
            "value: \"system:serviceaccount:shop:billing\", \
             peer: \"system:serviceaccount:shop:orders\""
        )
    );
}
