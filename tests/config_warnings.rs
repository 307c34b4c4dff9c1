//! Configurations that load but let the client steer the decision: each warning, with its
//! JSON path, and the policies that draw none.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck::config::{self, ConfigWarning, ConfigWarningKind as W};
use serde_json::{json, Value};

fn provider() -> Value {
    json!({
        "issuer": "https://idp.example.com",
        "audiences": ["inventory"],
        "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/jwks" } }
    })
}

fn policy(rules: Value, default: Value) -> Value {
    json!({
        "providers": {
            "corp": provider(),
            "internal": {
                "issuer": "internal",
                "audiences": ["batch"],
                "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/internal" } },
                "sources": [ { "header": "x-internal-token" } ]
            }
        },
        "rules": rules,
        "default": default
    })
}

fn warnings(config: &Value) -> Vec<ConfigWarning> {
    config::load(config.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
        .warnings()
        .to_vec()
}

fn require(providers: &[&str]) -> Value {
    json!({ "providers": { "any": providers } })
}

fn writers() -> Value {
    json!({ "providers": { "any": ["corp"] },
            "claims": { "claim": "groups", "contains": "inventory-writers" } })
}

/// The shipped `dry-run-rollout.json` as it was: a dry-run rule keyed on `x-canary: 1`
/// before the enforcing rule for the same requests.
fn canary_rollout() -> Value {
    policy(
        json!([
            { "name": "writes-canary", "dry_run": true,
              "match": { "path": { "template": "/inventory/**" }, "methods": ["POST"],
                         "headers": [ { "name": "x-canary", "exact": "1" } ] },
              "action": "require", "require": writers() },
            { "name": "writes",
              "match": { "path": { "template": "/inventory/**" }, "methods": ["POST"] },
              "action": "require", "require": writers() }
        ]),
        json!({ "action": "deny" }),
    )
}

#[test]
fn a_dry_run_rule_keyed_on_a_client_header_before_an_enforcing_rule_warns_twice() {
    let found = warnings(&canary_rollout());
    assert_eq!(
        found,
        [
            ConfigWarning {
                path: "rules[0].match.headers".into(),
                kind: W::HeaderRuleLessStrict {
                    header: "x-canary".into(),
                    shadowed: "writes".into()
                },
            },
            ConfigWarning {
                path: "rules[0].dry_run".into(),
                kind: W::DryRunShadowsEnforcing {
                    shadowed: "writes".into()
                },
            },
        ]
    );
}

#[test]
fn a_header_keyed_rule_stricter_than_the_default_warns_that_it_can_be_avoided() {
    // The shipped `partner-and-internal.json` as it was.
    let config = policy(
        json!([
            { "name": "internal-batch",
              "match": { "path": { "prefix": "/internal/batch" },
                         "headers": [ { "name": "x-internal-token", "present": true } ] },
              "action": "require",
              "require": { "providers": { "all": ["internal"] },
                           "claims": { "claim": "svc", "one_of": ["billing"] } } }
        ]),
        json!({ "action": "require", "require": require(&["corp", "internal"]) }),
    );
    assert_eq!(
        warnings(&config),
        [ConfigWarning {
            path: "rules[0].match.headers".into(),
            kind: W::HeaderRuleAvoidable {
                header: "x-internal-token".into(),
                fallback: "default".into()
            },
        }]
    );
}

#[test]
fn a_header_keyed_allow_before_a_requirement_warns() {
    let config = policy(
        json!([
            { "name": "debug", "match": { "headers": [ { "name": "x-debug", "present": true } ] },
              "action": "allow" },
            { "name": "orders", "match": { "path": { "prefix": "/orders" } },
              "action": "require", "require": require(&["corp"]) }
        ]),
        json!({ "action": "allow" }),
    );
    let found = warnings(&config);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].kind,
        W::HeaderRuleLessStrict {
            header: "x-debug".into(),
            shadowed: "orders".into()
        }
    );
    assert!(found[0].to_string().starts_with(
        "rules[0].match.headers: matches on the client's header \"x-debug\" and is less strict than rule \"orders\""
    ));
}

#[test]
fn a_header_keyed_rule_as_strict_as_what_it_shadows_draws_no_warning() {
    let config = policy(
        json!([
            { "name": "writes-v2", "match": { "path": { "prefix": "/inventory" },
                                             "headers": [ { "name": "x-api-version", "exact": "2" } ] },
              "action": "require", "require": writers() },
            { "name": "writes", "match": { "path": { "prefix": "/inventory" } },
              "action": "require", "require": writers() }
        ]),
        json!({ "action": "deny" }),
    );
    assert_eq!(warnings(&config), []);
}

#[test]
fn a_header_keyed_rule_whose_requests_no_later_rule_shares_compares_with_the_default() {
    let config = policy(
        json!([
            { "name": "reports", "match": { "path": { "prefix": "/reports" },
                                           "headers": [ { "name": "x-tenant", "present": true } ] },
              "action": "require", "require": require(&["corp"]) },
            { "name": "orders", "match": { "path": { "prefix": "/orders" } }, "action": "allow" }
        ]),
        json!({ "action": "require", "require": require(&["corp"]) }),
    );
    assert_eq!(warnings(&config), []);
}

#[test]
fn a_dry_run_rule_over_requests_let_through_today_draws_no_warning() {
    let config = policy(
        json!([
            { "name": "reports-new", "dry_run": true,
              "match": { "path": { "template": "/reports/**" } },
              "action": "require", "require": require(&["corp"]) },
            { "name": "reports-today", "match": { "path": { "template": "/reports/**" } },
              "action": "allow" }
        ]),
        json!({ "action": "deny" }),
    );
    assert_eq!(warnings(&config), []);
}

#[test]
fn a_dry_run_rule_over_an_enforcing_default_warns() {
    let config = policy(
        json!([
            { "name": "reports-new", "dry_run": true,
              "match": { "path": { "template": "/reports/**" } },
              "action": "require", "require": require(&["corp"]) }
        ]),
        json!({ "action": "deny" }),
    );
    assert_eq!(
        warnings(&config),
        [ConfigWarning {
            path: "rules[0].dry_run".into(),
            kind: W::DryRunShadowsEnforcing {
                shadowed: "default".into()
            },
        }]
    );
}

#[test]
fn a_dry_run_rule_draws_no_warning_from_rules_it_shares_no_request_with() {
    let config = policy(
        json!([
            { "name": "reports-new", "dry_run": true,
              "match": { "path": { "prefix": "/reports/" } },
              "action": "require", "require": require(&["corp"]) },
            { "name": "orders", "match": { "path": { "prefix": "/orders/" } },
              "action": "deny" }
        ]),
        json!({ "action": "allow" }),
    );
    assert_eq!(warnings(&config), []);
}

#[test]
fn under_a_global_dry_run_nothing_enforces_and_nothing_warns() {
    let mut config = canary_rollout();
    config["dry_run"] = json!(true);
    config["rules"][0].as_object_mut().unwrap().remove("match");
    let found = warnings(&config);
    assert!(
        found
            .iter()
            .all(|w| !matches!(w.kind, W::DryRunShadowsEnforcing { .. })),
        "{found:?}"
    );
}

#[test]
fn an_inline_key_the_filter_skips_is_a_warning_at_its_path() {
    let mut config = policy(json!([]), json!({ "action": "deny" }));
    config["providers"]["corp"]["jwks"] = json!({ "inline": { "keys": [
        { "kty": "EC", "crv": "P-256", "use": "enc",
          "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
        { "kty": "EC", "crv": "P-256",
          "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }
    ] } });
    let found = warnings(&config);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, "providers.corp.jwks.inline.keys[0]");
    assert!(matches!(found[0].kind, W::InlineKeySkipped { .. }));
}

fn with_opaque(mut config: Value, sources: Value) -> Value {
    config["providers"]["opaque"] = json!({
        "issuer": "https://as.example.com",
        "audiences": "any",
        "sources": sources,
        "introspection": {
            "cluster": "as",
            "uri": "https://as.example.com/introspect",
            "client_auth": { "bearer": "caller" }
        }
    });
    config
}

#[test]
fn an_opaque_provider_tried_before_a_jwt_provider_on_its_source_warns() {
    let config = with_opaque(
        policy(
            json!([]),
            json!({ "action": "require", "require": require(&["opaque", "corp"]) }),
        ),
        json!([ { "header": "authorization", "prefix": "Bearer " } ]),
    );
    assert_eq!(
        warnings(&config),
        vec![ConfigWarning {
            path: "default.require.providers.any[0]".into(),
            kind: W::OpaqueProviderFirst {
                opaque: "opaque".into(),
                jwt: "corp".into()
            },
        }]
    );
}

#[test]
fn an_opaque_provider_after_the_jwt_provider_or_on_its_own_source_draws_no_warning() {
    let bearer = json!([ { "header": "authorization", "prefix": "Bearer " } ]);
    let last = with_opaque(
        policy(
            json!([]),
            json!({ "action": "require", "require": require(&["corp", "opaque"]) }),
        ),
        bearer,
    );
    assert!(warnings(&last).is_empty(), "{:?}", warnings(&last));
    let own_source = with_opaque(
        policy(
            json!([]),
            json!({ "action": "require", "require": require(&["opaque", "corp"]) }),
        ),
        json!([ { "header": "x-opaque-token" } ]),
    );
    assert!(
        warnings(&own_source).is_empty(),
        "{:?}",
        warnings(&own_source)
    );
}
