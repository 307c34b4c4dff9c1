//! Token introspection (RFC 7662) through real Envoy on two workers: an opaque token is
//! allowed on the authorization server's word, asked once for the whole process (the second
//! request lands on the other worker and finds the answer in shared data), and refused once
//! the server revoked it and the cached answer ran out; a JWT route that demands the
//! server's word, and what an outage of the endpoint does to it. The IdP answers only a
//! client that authenticates as configured.

use serde_json::json;

use crate::support::*;

const OPAQUE: &str = "opaque-2YotnFZFEjr1zCsicMWpAA";
/// `client_secret_basic` for `gateway` / `s3cret`: base64("gateway:s3cret").
const CLIENT_AUTH: &str = "Basic Z2F0ZXdheTpzM2NyZXQ=";
/// How long an active answer is used: the bound on how late a revocation takes effect.
const MAX_TTL_S: u64 = 2;

fn world() -> World {
    Setup::new("introspection_two_workers")
        .concurrency(2)
        .exact_balance()
        .before_envoy(|idp| idp.require_introspection_client(CLIENT_AUTH))
        .policy(|p| {
            let issuer = p["providers"]["idp"]["issuer"].as_str().unwrap().to_owned();
            let endpoint = json!({
                "cluster": "idp",
                "uri": format!("{issuer}/introspect"),
                "client_auth": { "basic": { "client_id": "gateway", "client_secret": "s3cret" } },
                "max_ttl_s": MAX_TTL_S,
                "failure_ttl_ms": 0
            });
            set(p, "/providers/idp/introspection", endpoint);
            set(
                p,
                "/providers/wallet",
                json!({
                    "issuer": issuer,
                    "audiences": "any",
                    "sources": [ { "header": "x-wallet-token" } ],
                    "introspection": {
                        "cluster": "idp",
                        "uri": format!("{issuer}/introspect"),
                        "client_auth": { "basic": { "client_id": "gateway", "client_secret": "s3cret" } },
                        "max_ttl_s": MAX_TTL_S,
                        "negative_ttl_s": 60
                    },
                    "claims_to_headers": [ { "claim": "client_id", "header": "x-client-id" } ]
                }),
            );
            let rules = p["rules"].as_array_mut().unwrap();
            rules.insert(
                0,
                json!({ "name": "payments", "match": { "path": { "prefix": "/payments" } },
                        "action": "require",
                        "require": { "providers": { "any": ["idp"] }, "introspect": {} } }),
            );
            rules.insert(
                0,
                json!({ "name": "reports", "match": { "path": { "prefix": "/reports" } },
                        "action": "require",
                        "require": { "providers": { "any": ["idp"] },
                                     "introspect": { "on_outage": "allow" } } }),
            );
            rules.insert(
                0,
                json!({ "name": "wallet", "match": { "path": { "prefix": "/wallet" } },
                        "action": "require",
                        "require": { "providers": { "any": ["wallet"] },
                                     "claims": { "claim": "scope", "contains": "wallet" } } }),
            );
        })
        .start()
}

#[test]
fn an_opaque_token_is_introspected_once_per_process_and_refused_once_revoked() {
    let w = world();
    w.idp.activate(
        OPAQUE,
        json!({ "sub": "u-7", "client_id": "mobile", "scope": "wallet", "exp": now() + 600 }),
    );
    let send = || w.get("/wallet/balance", None, &[("x-wallet-token", OPAQUE)]);

    let (first, first_worker) = w.envoy.on_which_worker(send).unwrap();
    assert_eq!(echoed(&first).header_all("x-client-id"), vec!["mobile"]);

    // An idle connection held on the first worker sends the next request to the other one,
    // which finds the answer the first published.
    let held = w.envoy.occupy_worker(first_worker).unwrap();
    let (second, second_worker) = w.envoy.on_which_worker(send).unwrap();
    drop(held);
    assert_ne!(second_worker, first_worker, "both requests reached one VM");
    assert_eq!(echoed(&second).header_all("x-client-id"), vec!["mobile"]);
    assert_eq!(
        w.idp.introspections(OPAQUE),
        1,
        "one call per token per process"
    );

    // Revoked at the server: refused once the cached answer's lifetime has passed.
    w.idp.deactivate(OPAQUE);
    std::thread::sleep(std::time::Duration::from_millis(MAX_TTL_S * 1000 + 300));
    let refused = send();
    assert_eq!(refused.status, 401, "{}", refused.body_text());
    assert_eq!(reason_of(&refused), "token_inactive");
    assert_eq!(w.idp.introspections(OPAQUE), 2);

    // The negative answer is cached too: the server is not asked again.
    let again = send();
    assert_eq!(reason_of(&again), "token_inactive");
    assert_eq!(w.idp.introspections(OPAQUE), 2);
}

#[test]
fn an_opaque_token_the_server_never_issued_is_token_inactive() {
    let w = world();
    let r = w.get(
        "/wallet/balance",
        None,
        &[("x-wallet-token", "never-issued")],
    );
    assert_eq!(r.status, 401, "{}", r.body_text());
    assert_eq!(reason_of(&r), "token_inactive");
    assert_eq!(w.idp.introspections("never-issued"), 1);
}

#[test]
fn a_jwt_route_that_introspects_refuses_a_revoked_token_and_fails_as_configured() {
    let w = world();
    let jwt = w.token(json!({ "jti": "jwt-1" }));
    w.idp.activate(&jwt, json!({ "sub": "user-1" }));
    assert_eq!(
        echoed(&w.get("/payments/1", Some(&jwt), &[])).header_all("x-user-id"),
        vec!["user-1"]
    );
    assert_eq!(w.idp.introspections(&jwt), 1);

    w.idp.deactivate(&jwt);
    std::thread::sleep(std::time::Duration::from_millis(MAX_TTL_S * 1000 + 300));
    let revoked = w.get("/payments/1", Some(&jwt), &[]);
    assert_eq!(reason_of(&revoked), "token_inactive");

    // The endpoint fails: the failing-closed route refuses 503, the failing-open one lets the
    // verified JWT through.
    let other = w.token(json!({ "jti": "jwt-2" }));
    w.idp.set_mode(claimcheck_e2e::idp::Mode::Status(500));
    let closed = w.get("/payments/1", Some(&other), &[]);
    assert_eq!(closed.status, 503, "{}", closed.body_text());
    assert_eq!(reason_of(&closed), "introspection_unavailable");
    let open = w.get("/reports/1", Some(&other), &[]);
    assert_eq!(echoed(&open).header_all("x-user-id"), vec!["user-1"]);
}
