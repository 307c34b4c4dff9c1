//! Configuration loading: the agreed shape compiles, and every error names its path.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck::config::{self, ConfigErrorKind as K, JwksSource, OnTimeout, ProviderId};
use claimcheck::extract::TokenSource;
use claimcheck::jwt::Algorithm;
use claimcheck::policy::{Action, ProviderSet};
use serde_json::{json, Value};

/// A configuration without inline keys, so it loads without the key parser.
fn base() -> Value {
    json!({
        "providers": {
            "corp": {
                "issuer": "https://idp.example.com",
                "audiences": ["orders-api"],
                "algorithms": ["RS256", "ES256"],
                "jwks": { "remote": { "cluster": "idp", "uri": "https://idp.example.com/.well-known/jwks.json", "timeout_ms": 5000 } },
                "refresh": { "interval_s": 600, "max_stale_s": 86400, "retry_initial_ms": 1000, "retry_max_ms": 60000, "unknown_kid_min_interval_s": 30 },
                "cold_start": { "max_wait_ms": 3000, "on_timeout": "unavailable" },
                "sources": [ { "header": "Authorization", "prefix": "Bearer " }, { "query": "access_token" }, { "cookie": "session" } ],
                "clock_skew_s": 60,
                "max_lifetime_s": 86400,
                "require_exp": true,
                "required_claims": ["sub"],
                "forward_token": false,
                "claims_to_headers": [
                    { "claim": "sub", "header": "X-User-Id" },
                    { "claim": "groups", "header": "x-user-groups", "join": "," },
                    { "claim": "org.tier", "header": "x-org-tier" }
                ],
                "payload_header": "x-jwt-payload"
            },
            "partners": {
                "issuer": "https://login.partner.example",
                "audiences": ["https://api.example.com/partner"],
                "jwks": { "oidc_discovery": { "cluster": "partner-idp", "timeout_ms": 5000 } },
                "claims_to_headers": [ { "claim": "sub", "header": "x-user-id" } ]
            }
        },
        "rules": [
            { "name": "health", "match": { "path": { "prefix": "/healthz" } }, "action": "allow" },
            { "name": "admin-writes",
              "match": { "path": { "template": "/admin/{tenant}/**" }, "methods": ["POST", "put", "DELETE"],
                         "hosts": ["api.example.com", "*.example.com"],
                         "headers": [ { "name": "x-env", "exact": "prod" } ],
                         "route_name": "admin" },
              "action": "require",
              "require": {
                "providers": { "any": ["corp"] },
                "claims": { "all": [
                  { "claim": "groups", "contains": "admin" },
                  { "claim": "scope", "contains_all": ["orders:read", "orders:write"] },
                  { "claim": "email_verified", "equals": true },
                  { "claim": "org.tier", "gte": 2 },
                  { "not": { "claim": "sub", "prefix": "svc-" } },
                  { "any": [ { "claim": "region", "one_of": ["eu", "us"] }, { "claim": "global", "exists": true } ] }
                ] }
              }
            },
            { "name": "legacy", "match": { "path": { "regex": "^/v0/.*" } }, "action": "deny" }
        ],
        "default": { "action": "require", "require": { "providers": { "any": ["corp", "partners"] } } },
        "dry_run": false,
        "token_cache": { "max_entries": 1024 },
        "realm": "claimcheck"
    })
}

fn load(v: &Value) -> Result<config::Config, config::ConfigErrors> {
    config::load(v.to_string().as_bytes())
}

/// Applies `edit` to the base config and returns its (path, kind) errors.
fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<(String, K)> {
    let mut v = base();
    edit(&mut v);
    match load(&v) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| (e.path, e.kind)).collect(),
    }
}

fn one_error(edit: impl FnOnce(&mut Value)) -> (String, K) {
    let errors = errors_after(edit);
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn the_agreed_shape_compiles() {
    let c = load(&base()).unwrap();
    assert_eq!(c.providers.len(), 2);
    let corp = c.provider(ProviderId(0)).unwrap();
    assert_eq!(corp.name, "corp");
    assert_eq!(corp.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
    assert_eq!(
        corp.sources[0],
        TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into()
        }
    );
    match &corp.jwks {
        JwksSource::Remote(t) => {
            assert_eq!(t.cluster, "idp");
            assert_eq!(t.authority, "idp.example.com");
            assert_eq!(t.path, "/.well-known/jwks.json");
            assert_eq!(t.timeout_ms, 5000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(corp.claims.max_lifetime_s, Some(86400));
    assert_eq!(corp.claims_to_headers[0].header, "x-user-id");
    assert_eq!(corp.cold_start.on_timeout, OnTimeout::Unavailable);
    let partners = c.provider_by_name("partners").unwrap();
    match &partners.jwks {
        JwksSource::OidcDiscovery(t) => {
            assert_eq!(
                t.uri,
                "https://login.partner.example/.well-known/openid-configuration"
            );
            assert_eq!(t.path, "/.well-known/openid-configuration");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.rules.len(), 3);
    assert_eq!(c.rules[1].matcher.methods, vec!["POST", "PUT", "DELETE"]);
    match &c.default {
        Action::Require(r) => {
            assert_eq!(
                r.providers,
                ProviderSet::Any(vec![ProviderId(0), ProviderId(1)])
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.realm, "claimcheck");
    assert_eq!(c.token_cache.max_entries, 1024);
}

#[test]
fn defaults_apply_to_a_minimal_provider() {
    let c = config::load(
        br#"{"providers": {"p": {"issuer": "https://i", "audiences": "any", "jwks": {"remote": {"cluster": "c", "uri": "https://i/jwks"}}}},
            "default": {"action": "deny"}}"#,
    )
    .unwrap();
    let p = &c.providers[0];
    assert!(p.algorithms.iter().all(|a| !a.is_symmetric()));
    assert_eq!(p.algorithms.len(), 10);
    assert_eq!(
        p.sources,
        vec![TokenSource::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into()
        }]
    );
    assert_eq!(p.claims.clock_skew_s, 60);
    assert!(p.claims.require_exp);
    assert_eq!(p.refresh.interval_s, 600);
    assert_eq!(p.refresh.max_stale_s, 86400);
    assert_eq!(p.cold_start.max_wait_ms, 3000);
    assert!(!p.forward_token);
    assert_eq!(c.realm, "claimcheck");
    assert!(!c.dry_run);
    assert_eq!(c.access_log, config::AccessLog::Refusals);
}

#[test]
fn identity_headers_cover_every_provider_once() {
    let c = load(&base()).unwrap();
    assert_eq!(
        &c.identity_header_names()[..],
        ["x-user-id", "x-user-groups", "x-org-tier", "x-jwt-payload"]
    );
}

#[test]
fn a_double_encoded_configuration_is_accepted() {
    let text = serde_json::to_string(&base().to_string()).unwrap();
    assert!(text.starts_with('"'));
    assert_eq!(config::load(text.as_bytes()).unwrap().rules.len(), 3);
}

#[test]
fn a_triple_encoded_configuration_is_refused() {
    let once = base().to_string();
    let twice = serde_json::to_string(&once).unwrap();
    let thrice = serde_json::to_string(&twice).unwrap();
    let e = config::load(thrice.as_bytes()).unwrap_err();
    assert!(matches!(e.0[0].kind, K::Invalid(_)), "{e}");
}

#[test]
fn empty_and_oversized_documents_are_refused() {
    assert_eq!(config::load(b"  \n").unwrap_err().0[0].kind, K::Empty);
    let big = vec![b' '; config::MAX_CONFIG_BYTES + 1];
    assert_eq!(
        config::load(&big).unwrap_err().0[0].kind,
        K::TooLarge {
            max: config::MAX_CONFIG_BYTES
        }
    );
}

#[test]
fn type_errors_carry_their_json_path() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"default": {"action": "deny"}, "dry_run": "yes"}),
            "dry_run",
        ),
        (json!({"default": {"action": "maybe"}}), "default.action"),
        (
            json!({"default": {"action": "deny"}, "access_log": "errors"}),
            "access_log",
        ),
        (
            json!({"default": {"action": "deny"}, "rules": [{"action": "allow", "match": {"path": {"prefx": "/"}}}]}),
            "rules[0].match.path.prefx",
        ),
        (
            json!({"default": {"action": "deny"}, "providers": {"p": {"issuer": "i", "jwks": {}, "audience": "x"}}}),
            "providers.p.audience",
        ),
        (
            json!({"default": {"action": "deny"}, "providers": {"p": {"issuer": "i", "jwks": {}, "algorithms": ["none"]}}}),
            "providers.p.algorithms[0]",
        ),
        (json!({"rules": []}), ""),
    ];
    for (doc, path) in cases {
        let e = load(&doc).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].path, path, "{e}");
        assert!(matches!(e.0[0].kind, K::Invalid(_)), "{e}");
    }
}

#[test]
fn duplicate_provider_ids_are_refused() {
    let text = r#"{"providers": {"p": {"issuer": "a", "jwks": {"remote": {"cluster": "c", "uri": "https://a/j"}}},
                                  "p": {"issuer": "b", "jwks": {"remote": {"cluster": "c", "uri": "https://b/j"}}}},
                   "default": {"action": "deny"}}"#;
    let e = config::load(text.as_bytes()).unwrap_err();
    assert_eq!(e.0[0].path, "providers");
    assert!(e.to_string().contains("duplicate key \"p\""), "{e}");
}

#[test]
fn trailing_content_is_refused() {
    let text = format!("{} {{}}", base());
    assert!(config::load(text.as_bytes()).is_err());
}

#[test]
fn unknown_provider_error_renders_once_with_its_path() {
    let e = load(&{
        let mut v = base();
        v["rules"][1]["require"]["providers"]["any"][0] = json!("crop");
        v
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "rules[1].require.providers.any[0]: unknown provider \"crop\""
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let errors = errors_after(|v| {
        v["rules"][0]["match"]["path"] = json!({"regex": "("});
        v["rules"][2]["match"]["methods"] = json!([]);
        v["default"]["require"]["providers"]["all"] = json!(["corp"]);
        v["providers"]["corp"]["clock_skew_s"] = json!(100000);
    });
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "providers.corp.clock_skew_s",
            "rules[0].match.path.regex",
            "rules[2].match.methods",
            "default.require.providers"
        ]
    );
}

type Edit = Box<dyn FnOnce(&mut Value)>;

/// One configuration error case: a name, an edit of [`base`], and the one error expected.
type Case = (&'static str, Edit, String, K);

/// Runs every case and reports every case that failed, not only the first.
fn check_cases(cases: Vec<Case>) {
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, edit, path, kind)| {
            check_case(edit, &path, &kind)
                .err()
                .map(|why| format!("{name}: {why}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_case(edit: Edit, path: &str, kind: &K) -> Result<(), String> {
    let errors = errors_after(edit);
    let [(got_path, got_kind)] = errors.as_slice() else {
        return Err(format!("expected one error at {path}, got {errors:?}"));
    };
    let kind_matches = match (kind, got_kind) {
        // The regex engine's message is its own; the kind is what we assert.
        (K::InvalidRegex(_), K::InvalidRegex(message)) => !message.is_empty(),
        _ => got_kind == kind,
    };
    if got_path != path || !kind_matches {
        return Err(format!(
            "expected {kind:?} at {path}, got {got_kind:?} at {got_path}"
        ));
    }
    Ok(())
}

/// A rule's `require` block and the default's: providers and the block itself.
#[test]
fn requirement_errors_name_their_path() {
    check_cases(vec![
        (
            "unknown provider",
            Box::new(|v| v["default"]["require"]["providers"]["any"][1] = json!("nope")),
            "default.require.providers.any[1]".into(),
            K::UnknownProvider("nope".into()),
        ),
        (
            "empty any",
            Box::new(|v| v["default"]["require"]["providers"]["any"] = json!([])),
            "default.require.providers.any".into(),
            K::EmptyList,
        ),
        (
            "any and all",
            Box::new(|v| v["default"]["require"]["providers"]["all"] = json!(["corp"])),
            "default.require.providers".into(),
            K::ExactlyOneOf(&["any", "all"]),
        ),
        (
            "require without block",
            Box::new(|v| {
                v["rules"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("require")
                    .map(drop)
                    .unwrap_or(())
            }),
            "rules[1].require".into(),
            K::RequireMissing,
        ),
        (
            "block without require",
            Box::new(|v| v["rules"][0]["require"] = json!({"providers": {"any": ["corp"]}})),
            "rules[0].require".into(),
            K::RequireNotAllowed,
        ),
    ]);
}

/// Claim conditions: operators, combinators, operands and claim paths.
#[test]
fn condition_errors_name_their_path() {
    check_cases(vec![
        (
            "empty all combinator",
            Box::new(|v| v["rules"][1]["require"]["claims"] = json!({"all": []})),
            "rules[1].require.claims.all".into(),
            K::EmptyList,
        ),
        (
            "bad claim regex",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][0] =
                    json!({"claim": "sub", "regex": "[a-"})
            }),
            "rules[1].require.claims.all[0].regex".into(),
            K::InvalidRegex(String::new()),
        ),
        (
            "condition with two operators",
            Box::new(|v| v["rules"][1]["require"]["claims"]["all"][0]["equals"] = json!("x")),
            "rules[1].require.claims.all[0]".into(),
            K::ExactlyOneOf(&[
                "equals",
                "one_of",
                "contains",
                "contains_all",
                "contains_any",
                "prefix",
                "suffix",
                "regex",
                "exists",
                "gt",
                "gte",
                "lt",
                "lte",
                "equals_peer",
            ]),
        ),
        (
            "condition with claim and combinator",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][0]["not"] =
                    json!({"claim": "a", "exists": true})
            }),
            "rules[1].require.claims.all[0]".into(),
            K::ExactlyOneOf(&["claim", "all", "any", "not"]),
        ),
        (
            "operator without claim",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][0] = json!({"contains": "admin"})
            }),
            "rules[1].require.claims.all[0]".into(),
            K::ExactlyOneOf(&["claim", "all", "any", "not"]),
        ),
        (
            "non-number comparison",
            Box::new(|v| v["rules"][1]["require"]["claims"]["all"][3]["gte"] = json!("2")),
            "rules[1].require.claims.all[3].gte".into(),
            K::NotANumber,
        ),
        (
            "non-scalar equals",
            Box::new(|v| v["rules"][1]["require"]["claims"]["all"][2]["equals"] = json!([true])),
            "rules[1].require.claims.all[2].equals".into(),
            K::NotAScalar,
        ),
        (
            "non-scalar list element",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][1]["contains_all"][1] = json!({"a": 1})
            }),
            "rules[1].require.claims.all[1].contains_all[1]".into(),
            K::NotAScalar,
        ),
        (
            "empty one_of",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][5]["any"][0]["one_of"] = json!([])
            }),
            "rules[1].require.claims.all[5].any[0].one_of".into(),
            K::EmptyList,
        ),
        (
            "bad claim path",
            Box::new(|v| {
                v["rules"][1]["require"]["claims"]["all"][3]["claim"] = json!("org..tier")
            }),
            "rules[1].require.claims.all[3].claim".into(),
            K::InvalidClaimPath(claimcheck::claims::ClaimPathError::EmptySegment),
        ),
    ]);
}

/// Rule matches: path, headers, methods, hosts, route name, rule names.
#[test]
fn match_errors_name_their_path() {
    check_cases(vec![
        (
            "bad path regex",
            Box::new(|v| v["rules"][2]["match"]["path"]["regex"] = json!("(")),
            "rules[2].match.path.regex".into(),
            K::InvalidRegex(String::new()),
        ),
        (
            "bad header regex",
            Box::new(|v| v["rules"][1]["match"]["headers"][0] = json!({"name": "x", "regex": "*"})),
            "rules[1].match.headers[0].regex".into(),
            K::InvalidRegex(String::new()),
        ),
        (
            "bad template",
            Box::new(|v| v["rules"][1]["match"]["path"]["template"] = json!("/a/**/b")),
            "rules[1].match.path.template".into(),
            K::InvalidTemplate(claimcheck::policy::TemplateError::RestNotLast),
        ),
        (
            "two path matchers",
            Box::new(|v| v["rules"][0]["match"]["path"]["exact"] = json!("/x")),
            "rules[0].match.path".into(),
            K::ExactlyOneOf(&["exact", "prefix", "template", "regex"]),
        ),
        (
            "no path matcher",
            Box::new(|v| v["rules"][0]["match"]["path"] = json!({})),
            "rules[0].match.path".into(),
            K::ExactlyOneOf(&["exact", "prefix", "template", "regex"]),
        ),
        (
            "empty prefix",
            Box::new(|v| v["rules"][0]["match"]["path"]["prefix"] = json!("")),
            "rules[0].match.path.prefix".into(),
            K::EmptyString,
        ),
        (
            "header matcher without test",
            Box::new(|v| v["rules"][1]["match"]["headers"][0] = json!({"name": "x-env"})),
            "rules[1].match.headers[0]".into(),
            K::ExactlyOneOf(&["exact", "prefix", "regex", "present"]),
        ),
        (
            "pseudo-header matcher",
            Box::new(|v| v["rules"][1]["match"]["headers"][0]["name"] = json!(":authority")),
            "rules[1].match.headers[0].name".into(),
            K::PseudoHeader(":authority".into()),
        ),
        (
            "invalid header name",
            Box::new(|v| v["rules"][1]["match"]["headers"][0]["name"] = json!("x env")),
            "rules[1].match.headers[0].name".into(),
            K::InvalidHeaderName("x env".into()),
        ),
        (
            "invalid method",
            Box::new(|v| v["rules"][1]["match"]["methods"][0] = json!("PO ST")),
            "rules[1].match.methods[0]".into(),
            K::InvalidMethod("PO ST".into()),
        ),
        (
            "invalid host",
            Box::new(|v| v["rules"][1]["match"]["hosts"][1] = json!("api.*.com")),
            "rules[1].match.hosts[1]".into(),
            K::InvalidHost("api.*.com".into()),
        ),
        (
            "empty route name",
            Box::new(|v| v["rules"][1]["match"]["route_name"] = json!("")),
            "rules[1].match.route_name".into(),
            K::EmptyString,
        ),
        (
            "duplicate rule name",
            Box::new(|v| v["rules"][2]["name"] = json!("health")),
            "rules[2].name".into(),
            K::DuplicateRuleName("health".into()),
        ),
        (
            "rule matches on an identity header",
            Box::new(|v| {
                v["rules"][1]["match"]["headers"] =
                    json!([{ "name": "X-User-Id", "exact": "root" }])
            }),
            "rules[1].match.headers[0].name".into(),
            K::MatchOnIdentityHeader("x-user-id".into()),
        ),
    ]);
}

/// Providers: issuer, algorithms, keys, refresh, cold start, sources and outputs.
#[test]
fn provider_errors_name_their_path() {
    let corp = "providers.corp";
    check_cases(vec![
        (
            "empty issuer",
            Box::new(|v| v["providers"]["corp"]["issuer"] = json!("")),
            format!("{corp}.issuer"),
            K::EmptyString,
        ),
        (
            "empty algorithms",
            Box::new(|v| v["providers"]["corp"]["algorithms"] = json!([])),
            format!("{corp}.algorithms"),
            K::EmptyList,
        ),
        (
            "duplicate algorithm",
            Box::new(|v| v["providers"]["corp"]["algorithms"] = json!(["RS256", "RS256"])),
            format!("{corp}.algorithms[1]"),
            K::DuplicateAlgorithm("RS256".into()),
        ),
        (
            "HS with remote keys",
            Box::new(|v| v["providers"]["corp"]["algorithms"] = json!(["HS256"])),
            format!("{corp}.algorithms"),
            K::HmacWithoutSecret,
        ),
        (
            "HS without oct key",
            Box::new(|v| {
                v["providers"]["corp"]["algorithms"] = json!(["HS256"]);
                v["providers"]["corp"]["jwks"] =
                    json!({"inline": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}});
            }),
            format!("{corp}.algorithms"),
            K::HmacWithoutSecret,
        ),
        (
            "oct key without HS",
            Box::new(|v| {
                v["providers"]["corp"]["jwks"] =
                    json!({"inline": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})
            }),
            format!("{corp}.jwks.inline"),
            K::SecretWithoutHmac,
        ),
        (
            "inline JWKS not an object",
            Box::new(|v| v["providers"]["corp"]["jwks"] = json!({"inline": "[1]"})),
            format!("{corp}.jwks.inline"),
            K::InlineJwksNotObject,
        ),
        (
            "two JWKS sources",
            Box::new(|v| {
                v["providers"]["corp"]["jwks"]["oidc_discovery"] = json!({"cluster": "c"})
            }),
            format!("{corp}.jwks"),
            K::ExactlyOneOf(&["remote", "oidc_discovery", "inline"]),
        ),
        (
            "relative JWKS uri",
            Box::new(|v| v["providers"]["corp"]["jwks"]["remote"]["uri"] = json!("/jwks.json")),
            format!("{corp}.jwks.remote.uri"),
            K::NotAbsoluteUrl("/jwks.json".into()),
        ),
        (
            "empty cluster",
            Box::new(|v| v["providers"]["corp"]["jwks"]["remote"]["cluster"] = json!("")),
            format!("{corp}.jwks.remote.cluster"),
            K::EmptyString,
        ),
        (
            "timeout out of range",
            Box::new(|v| v["providers"]["corp"]["jwks"]["remote"]["timeout_ms"] = json!(0)),
            format!("{corp}.jwks.remote.timeout_ms"),
            K::OutOfRange {
                value: 0,
                min: 1,
                max: 60_000,
            },
        ),
        (
            "discovery for a non-URL issuer",
            Box::new(|v| v["providers"]["partners"]["issuer"] = json!("partners")),
            "providers.partners.jwks.oidc_discovery".into(),
            K::NotAbsoluteUrl("partners/.well-known/openid-configuration".into()),
        ),
        (
            "interval out of range",
            Box::new(|v| v["providers"]["corp"]["refresh"]["interval_s"] = json!(1)),
            format!("{corp}.refresh.interval_s"),
            K::OutOfRange {
                value: 1,
                min: 10,
                max: 86_400,
            },
        ),
        (
            "max stale below interval",
            Box::new(|v| v["providers"]["corp"]["refresh"]["max_stale_s"] = json!(300)),
            format!("{corp}.refresh.max_stale_s"),
            K::MaxStaleBelowInterval {
                max_stale_s: 300,
                interval_s: 600,
            },
        ),
        (
            "retry max below initial",
            Box::new(|v| v["providers"]["corp"]["refresh"]["retry_max_ms"] = json!(500)),
            format!("{corp}.refresh.retry_max_ms"),
            K::RetryMaxBelowInitial {
                retry_max_ms: 500,
                retry_initial_ms: 1000,
            },
        ),
        (
            "cold start wait out of range",
            Box::new(|v| v["providers"]["corp"]["cold_start"]["max_wait_ms"] = json!(600_000)),
            format!("{corp}.cold_start.max_wait_ms"),
            K::OutOfRange {
                value: 600_000,
                min: 0,
                max: 60_000,
            },
        ),
        (
            "lifetime out of range",
            Box::new(|v| v["providers"]["corp"]["max_lifetime_s"] = json!(0)),
            format!("{corp}.max_lifetime_s"),
            K::OutOfRange {
                value: 0,
                min: 1,
                max: 365 * 86_400,
            },
        ),
        (
            "source with two kinds",
            Box::new(|v| v["providers"]["corp"]["sources"][1]["cookie"] = json!("c")),
            format!("{corp}.sources[1]"),
            K::ExactlyOneOf(&["header", "query", "cookie"]),
        ),
        (
            "prefix on a query source",
            Box::new(|v| v["providers"]["corp"]["sources"][1]["prefix"] = json!("Bearer ")),
            format!("{corp}.sources[1].prefix"),
            K::PrefixWithoutHeader,
        ),
        (
            "empty sources",
            Box::new(|v| v["providers"]["corp"]["sources"] = json!([])),
            format!("{corp}.sources"),
            K::EmptyList,
        ),
        (
            "pseudo-header source",
            Box::new(|v| v["providers"]["corp"]["sources"][0]["header"] = json!(":path")),
            format!("{corp}.sources[0].header"),
            K::PseudoHeader(":path".into()),
        ),
        (
            "empty query parameter",
            Box::new(|v| v["providers"]["corp"]["sources"][1]["query"] = json!("")),
            format!("{corp}.sources[1].query"),
            K::EmptyString,
        ),
        (
            "duplicate output header",
            Box::new(|v| {
                v["providers"]["corp"]["claims_to_headers"][1]["header"] = json!("X-USER-ID")
            }),
            format!("{corp}.claims_to_headers[1].header"),
            K::DuplicateHeader("x-user-id".into()),
        ),
        (
            "payload header duplicates an output",
            Box::new(|v| v["providers"]["corp"]["payload_header"] = json!("x-org-tier")),
            format!("{corp}.payload_header"),
            K::DuplicateHeader("x-org-tier".into()),
        ),
        (
            "pseudo-header output",
            Box::new(|v| v["providers"]["corp"]["claims_to_headers"][0]["header"] = json!(":path")),
            format!("{corp}.claims_to_headers[0].header"),
            K::PseudoHeader(":path".into()),
        ),
        (
            "reserved output",
            Box::new(|v| v["providers"]["corp"]["claims_to_headers"][0]["header"] = json!("Host")),
            format!("{corp}.claims_to_headers[0].header"),
            K::ReservedHeader("host".into()),
        ),
        (
            "output header is a token source",
            Box::new(|v| {
                v["providers"]["partners"]["claims_to_headers"][0]["header"] =
                    json!("authorization")
            }),
            "providers.partners.claims_to_headers[0].header".into(),
            K::IdentityHeaderIsTokenSource("authorization".into()),
        ),
        (
            "join with a newline",
            Box::new(|v| v["providers"]["corp"]["claims_to_headers"][1]["join"] = json!("\n")),
            format!("{corp}.claims_to_headers[1].join"),
            K::InvalidHeaderValue,
        ),
        (
            "bad required claim",
            Box::new(|v| v["providers"]["corp"]["required_claims"][0] = json!("")),
            format!("{corp}.required_claims[0]"),
            K::InvalidClaimPath(claimcheck::claims::ClaimPathError::Empty),
        ),
    ]);
}

/// Provider ids and the top-level settings.
#[test]
fn top_level_errors_name_their_path() {
    check_cases(vec![
        (
            "bad provider id",
            Box::new(|v| {
                let p = v["providers"]["partners"].take();
                v["providers"].as_object_mut().unwrap().remove("partners");
                v["providers"]["bad id"] = p;
                v["default"]["require"]["providers"]["any"][1] = json!("bad id");
            }),
            "providers.bad id".into(),
            K::InvalidProviderId("bad id".into()),
        ),
        (
            "realm with a quote",
            Box::new(|v| v["realm"] = json!("a\"b")),
            "realm".into(),
            K::InvalidRealm,
        ),
        (
            "cache out of range",
            Box::new(|v| v["token_cache"]["max_entries"] = json!(1_000_000)),
            "token_cache.max_entries".into(),
            K::OutOfRange {
                value: 1_000_000,
                min: 0,
                max: 65_536,
            },
        ),
    ]);
}

#[test]
fn conditions_nested_too_deep_are_refused() {
    let mut cond = json!({"claim": "sub", "exists": true});
    for _ in 0..claimcheck::policy::MAX_CONDITION_DEPTH {
        cond = json!({"not": cond});
    }
    let (path, kind) = one_error(|v| v["rules"][1]["require"]["claims"] = cond);
    assert_eq!(
        kind,
        K::TooDeep {
            max: claimcheck::policy::MAX_CONDITION_DEPTH
        }
    );
    assert!(
        path.starts_with("rules[1].require.claims.not.not"),
        "{path}"
    );
}

#[test]
fn inline_jwks_parse_errors_carry_the_inline_path() {
    // The key material is unusable for any parser: one RSA key with no modulus.
    let (path, kind) = one_error(|v| {
        v["providers"]["corp"]["jwks"] = json!({"inline": {"keys": [{"kty": "RSA", "e": "AQAB"}]}})
    });
    assert_eq!(path, "providers.corp.jwks.inline");
    assert!(matches!(kind, K::InlineJwks(_)), "{kind:?}");
}

#[test]
fn inline_jwks_given_as_a_string_is_parsed_the_same_way() {
    let (path, kind) = one_error(|v| {
        v["providers"]["corp"]["jwks"] =
            json!({"inline": "{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\"}]}"})
    });
    assert_eq!(path, "providers.corp.jwks.inline");
    assert!(matches!(kind, K::InlineJwks(_)), "{kind:?}");
}

#[test]
fn a_rule_without_name_is_named_by_its_index() {
    let mut v = base();
    v["rules"][2].as_object_mut().unwrap().remove("name");
    let c = load(&v).unwrap();
    assert_eq!(&*c.rules[2].name, "rules[2]");
}

#[test]
fn rule_dry_run_overrides_the_global_setting() {
    let mut v = base();
    v["dry_run"] = json!(true);
    v["rules"][0]["dry_run"] = json!(false);
    let c = load(&v).unwrap();
    assert!(!c.rules[0].dry_run);
    assert!(c.rules[1].dry_run);
}

#[test]
fn cold_start_deny_maps_to_a_401_reason() {
    let mut v = base();
    v["providers"]["corp"]["cold_start"]["on_timeout"] = json!("deny");
    let c = load(&v).unwrap();
    let reason = c.providers[0].cold_start.on_timeout.deny_reason();
    assert_eq!(reason.status(), 401);
    assert_eq!(
        OnTimeout::Unavailable.deny_reason().status(),
        503,
        "unavailable answers 503"
    );
}

#[test]
fn list_and_count_limits_are_enforced() {
    let many: Vec<Value> = (0..300).map(|i| json!(format!("M{i}"))).collect();
    let (path, kind) = one_error(|v| v["rules"][1]["match"]["methods"] = json!(many));
    assert_eq!(path, "rules[1].match.methods");
    assert_eq!(kind, K::TooMany { max: 256 });

    let sources: Vec<Value> = (0..9).map(|i| json!({"query": format!("t{i}")})).collect();
    let (path, kind) = one_error(|v| v["providers"]["corp"]["sources"] = json!(sources));
    assert_eq!(path, "providers.corp.sources");
    assert_eq!(kind, K::TooMany { max: 8 });

    let rules: Vec<Value> = (0..1025).map(|_| json!({"action": "allow"})).collect();
    let errors = errors_after(|v| v["rules"] = json!(rules));
    assert_eq!(errors[0], ("rules".to_owned(), K::TooMany { max: 1024 }));
}

#[test]
fn invalid_source_names_and_prefixes_are_refused() {
    let (path, kind) = one_error(|v| v["providers"]["corp"]["sources"][2]["cookie"] = json!("a;b"));
    assert_eq!(path, "providers.corp.sources[2].cookie");
    assert_eq!(kind, K::InvalidHeaderName("a;b".into()));
    let (path, kind) =
        one_error(|v| v["providers"]["corp"]["sources"][0]["prefix"] = json!("Bearer\n"));
    assert_eq!(path, "providers.corp.sources[0].prefix");
    assert_eq!(kind, K::InvalidHeaderValue);
    let (path, kind) = one_error(|v| v["providers"]["corp"]["audiences"][0] = json!(""));
    assert_eq!(path, "providers.corp.audiences[0]");
    assert_eq!(kind, K::EmptyString);
}

#[test]
fn a_header_source_without_prefix_reads_the_raw_value() {
    let mut v = base();
    v["providers"]["corp"]["sources"] = json!([{"header": "X-Token"}]);
    let c = load(&v).unwrap();
    assert_eq!(
        c.providers[0].sources,
        vec![TokenSource::Header {
            name: "x-token".into(),
            prefix: String::new()
        }]
    );
}

#[test]
fn a_provider_without_audiences_is_refused_at_its_path() {
    for audiences in [None, Some(json!([]))] {
        let (path, kind) = one_error(|v| match &audiences {
            Some(a) => v["providers"]["corp"]["audiences"] = a.clone(),
            None => {
                v["providers"]["corp"]
                    .as_object_mut()
                    .unwrap()
                    .remove("audiences");
            }
        });
        assert_eq!(path, "providers.corp.audiences", "{audiences:?}");
        assert_eq!(kind, K::AudiencesRequired);
    }
}

#[test]
fn any_audience_is_an_explicit_opt_out() {
    let mut v = base();
    v["providers"]["corp"]["audiences"] = json!("any");
    let c = load(&v).unwrap();
    assert_eq!(
        c.providers[0].claims.audiences,
        claimcheck::claims::Audiences::Any
    );
}

#[test]
fn a_single_audience_string_is_not_taken_for_a_list() {
    let errors = errors_after(|v| v["providers"]["corp"]["audiences"] = json!("orders-api"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "providers.corp.audiences");
    assert!(
        errors[0]
            .1
            .to_string()
            .contains("a list of audiences or \"any\""),
        "{}",
        errors[0].1
    );
}

#[test]
fn token_type_and_token_size_settings_are_compiled() {
    let mut v = base();
    v["providers"]["corp"]["token_type"] = json!("application/at+jwt");
    v["providers"]["corp"]["max_token_bytes"] = json!(4096);
    let c = load(&v).unwrap();
    let corp = &c.providers[0];
    assert_eq!(corp.max_token_bytes, 4096);
    assert!(corp
        .claims
        .token_type
        .as_ref()
        .unwrap()
        .accepts(Some("at+jwt")));
    assert_eq!(
        c.providers[1].max_token_bytes,
        claimcheck::jwt::MAX_TOKEN_LEN
    );
}

#[test]
fn a_token_type_that_is_no_media_type_is_refused() {
    for typ in ["", "at jwt", "at+jwt\n"] {
        let (path, kind) = one_error(|v| v["providers"]["corp"]["token_type"] = json!(typ));
        assert_eq!(path, "providers.corp.token_type");
        assert_eq!(kind, K::InvalidTokenType(typ.to_owned()));
    }
}

#[test]
fn an_empty_join_is_refused() {
    let (path, kind) =
        one_error(|v| v["providers"]["corp"]["claims_to_headers"][1]["join"] = json!(""));
    assert_eq!(path, "providers.corp.claims_to_headers[1].join");
    assert_eq!(kind, K::EmptyString);
}

#[test]
fn space_delimited_only_applies_to_the_contains_family() {
    let (path, kind) = one_error(|v| {
        v["rules"][1]["require"]["claims"] =
            json!({ "claim": "groups", "equals": "admin", "space_delimited": true })
    });
    assert_eq!(path, "rules[1].require.claims.space_delimited");
    assert_eq!(kind, K::SpaceDelimitedWithoutContains);
    let mut v = base();
    v["rules"][1]["require"]["claims"] =
        json!({ "claim": "roles", "contains": "admin", "space_delimited": true });
    let c = load(&v).unwrap();
    let Action::Require(require) = &c.rules[1].action else {
        panic!("require rule expected")
    };
    assert!(require
        .check_claims(&json!({ "roles": "viewer admin" }))
        .is_ok());
}

/// A rule on `/mesh` whose conditions name the peer.
fn with_mesh_rule(v: &mut Value, peer: Value, condition: Value) {
    v["rules"].as_array_mut().unwrap().push(json!({
        "name": "mesh",
        "match": { "path": { "prefix": "/mesh" }, "peer": peer },
        "action": "require",
        "require": { "providers": { "any": ["corp"] }, "claims": condition }
    }));
}

#[test]
fn peer_rules_compile_and_name_what_they_read() {
    let mut v = base();
    with_mesh_rule(
        &mut v,
        json!({ "uri_san": { "template": "spiffe://{td}/ns/{ns}/sa/{sa}" } }),
        json!({ "claim": "sub", "equals_peer": "system:serviceaccount:{ns}:{sa}" }),
    );
    let reads = load(&v).unwrap().peer_reads();
    assert!(reads.uri_san);
    assert!(!reads.mtls && !reads.dns_san && !reads.subject);
    assert!(!load(&base()).unwrap().peer_reads().any());
}

#[test]
fn peer_errors_name_their_path() {
    let n = base()["rules"].as_array().unwrap().len();
    let template = json!({ "uri_san": { "template": "spiffe://{td}/ns/{ns}/sa/{sa}" } });
    let cases: Vec<(Value, Value, String, K)> = vec![
        (
            template.clone(),
            json!({ "claim": "sub", "equals_peer": "{pod}" }),
            format!("rules[{n}].require.claims.equals_peer"),
            K::InvalidPeerExpression(claimcheck::policy::PeerExprError::UnknownCapture(
                "pod".into(),
            )),
        ),
        (
            json!({ "dns_san": { "template": "{svc}.local" } }),
            json!({ "claim": "sub", "exists": true }),
            format!("rules[{n}].match.peer.dns_san.template"),
            K::PeerTemplateNotUriSan,
        ),
        (
            json!({ "subject": { "exact": "a", "prefix": "b" } }),
            json!({ "claim": "sub", "exists": true }),
            format!("rules[{n}].match.peer.subject"),
            K::ExactlyOneOf(&["exact", "prefix", "suffix", "regex", "template"]),
        ),
        (
            json!({ "uri_san": { "template": "spiffe://{td}/{td}" } }),
            json!({ "claim": "sub", "exists": true }),
            format!("rules[{n}].match.peer.uri_san.template"),
            K::InvalidTemplate(claimcheck::policy::TemplateError::DuplicateVariable(
                "td".into(),
            )),
        ),
    ];
    for (peer, condition, path, kind) in cases {
        let errors = errors_after(|v| with_mesh_rule(v, peer.clone(), condition.clone()));
        assert_eq!(errors, vec![(path, kind)], "{peer} {condition}");
    }
    let errors = errors_after(|v| {
        with_mesh_rule(
            v,
            template.clone(),
            json!({ "claim": "sub", "exists": true }),
        );
        v["rules"][n]["require"]["peer"] = template.clone();
    });
    assert_eq!(
        errors,
        vec![(
            format!("rules[{n}].require.peer.uri_san.template"),
            K::PeerTemplateTwice
        )]
    );
    let errors = errors_after(|v| {
        v["default"] = json!({ "action": "require", "require": {
            "providers": { "any": ["corp"] },
            "claims": { "claim": "sub", "equals_peer": "{sa}" } } });
    });
    assert_eq!(
        errors,
        vec![(
            "default.require.claims.equals_peer".into(),
            K::InvalidPeerExpression(claimcheck::policy::PeerExprError::UnknownCapture(
                "sa".into()
            ))
        )]
    );
}
#[test]
fn dpop_is_off_unless_a_mode_turns_it_on() {
    let c = load(&base()).unwrap();
    assert!(c.providers[0].dpop.is_none());
    let mut v = base();
    v["providers"]["corp"]["dpop"] = json!({ "mode": "off", "max_age_s": 30 });
    assert!(load(&v).unwrap().providers[0].dpop.is_none());
}

#[test]
fn dpop_defaults_to_every_asymmetric_algorithm_and_adds_the_dpop_scheme() {
    let mut v = base();
    v["providers"]["corp"]["dpop"] = json!({ "mode": "required" });
    let c = load(&v).unwrap();
    let provider = &c.providers[0];
    let policy = provider.dpop.as_ref().unwrap();
    assert!(policy.algorithms.iter().all(|a| !a.is_symmetric()));
    assert_eq!(policy.max_age_s, 60);
    assert_eq!(policy.replay_slots, 4096);
    let index = provider.dpop_source.unwrap();
    assert_eq!(
        provider.sources[index],
        claimcheck::extract::TokenSource::Header {
            name: "authorization".into(),
            prefix: "DPoP ".into()
        }
    );
}

#[test]
fn a_mac_algorithm_for_dpop_proofs_is_refused() {
    let (path, kind) = one_error(|v| {
        v["providers"]["corp"]["dpop"] =
            json!({ "mode": "allowed", "algorithms": ["ES256", "HS256"] })
    });
    assert_eq!(path, "providers.corp.dpop.algorithms[1]");
    assert_eq!(kind, K::DpopSymmetricAlgorithm("HS256".into()));
}

/// base64url of 32 bytes, the shortest nonce secret.
const NONCE_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

#[test]
fn dpop_nonces_are_off_unless_configured() {
    let mut v = base();
    v["providers"]["corp"]["dpop"] = json!({ "mode": "required" });
    let c = load(&v).unwrap();
    assert!(c.providers[0].dpop.as_ref().unwrap().nonce.is_none());
}

#[test]
fn dpop_nonces_default_to_five_minute_windows() {
    let mut v = base();
    v["providers"]["corp"]["dpop"] =
        json!({ "mode": "required", "nonce": { "secret": NONCE_SECRET } });
    let c = load(&v).unwrap();
    let nonce = c.providers[0]
        .dpop
        .as_ref()
        .unwrap()
        .nonce
        .as_ref()
        .unwrap();
    assert_eq!(nonce.lifetime_s, 300);
}

#[test]
fn a_dpop_nonce_secret_that_is_not_base64url_of_32_to_64_bytes_is_refused() {
    let short = &NONCE_SECRET[..40];
    let long = "A".repeat(87);
    let padded = format!("{NONCE_SECRET}=");
    for secret in [
        "",
        short,
        &long,
        &padded,
        "not base64url at all, not at all, no no no!!",
    ] {
        let (path, kind) = one_error(|v| {
            v["providers"]["corp"]["dpop"] =
                json!({ "mode": "allowed", "nonce": { "secret": secret } })
        });
        assert_eq!(path, "providers.corp.dpop.nonce.secret", "{secret}");
        assert_eq!(kind, K::InvalidDpopNonceSecret, "{secret}");
    }
}

#[test]
fn a_dpop_nonce_secret_is_not_echoed_in_its_error() {
    let secret = "Zm9vYmFy";
    let mut v = base();
    v["providers"]["corp"]["dpop"] = json!({ "mode": "allowed", "nonce": { "secret": secret } });
    let message = load(&v).unwrap_err().to_string();
    assert!(
        message.contains("providers.corp.dpop.nonce.secret"),
        "{message}"
    );
    assert!(!message.contains(secret), "{message}");
}

#[test]
fn a_dpop_nonce_without_a_secret_is_refused_at_its_path() {
    let mut v = base();
    v["providers"]["corp"]["dpop"] = json!({ "mode": "allowed", "nonce": { "lifetime_s": 60 } });
    let message = load(&v).unwrap_err().to_string();
    assert!(message.contains("providers.corp.dpop.nonce"), "{message}");
    assert!(message.contains("secret"), "{message}");
}

#[test]
fn a_dpop_origin_with_a_path_is_refused() {
    for origin in [
        "https://api.example.com/v1",
        "ftp://api.example.com",
        "api.example.com",
    ] {
        let (path, kind) = one_error(|v| {
            v["providers"]["corp"]["dpop"] = json!({ "mode": "allowed", "origin": origin })
        });
        assert_eq!(path, "providers.corp.dpop.origin");
        assert_eq!(kind, K::InvalidDpopOrigin(origin.into()));
    }
}

/// `introspection` for `partners`, the provider the default rule lists second.
fn with_introspection(v: &mut Value) {
    v["providers"]["partners"]["introspection"] = json!({
        "cluster": "partner-idp",
        "uri": "https://login.partner.example/oauth2/introspect",
        "client_auth": { "basic": { "client_id": "gateway", "client_secret": "s3cret" } }
    });
}

/// An introspection-only provider: no keys, opaque tokens.
fn with_opaque(v: &mut Value) {
    v["providers"]["opaque"] = json!({
        "issuer": "https://as.example.com",
        "audiences": "any",
        "introspection": {
            "cluster": "as",
            "uri": "https://as.example.com/introspect",
            "client_auth": { "bearer": "caller-token" }
        }
    });
}

#[test]
fn introspection_compiles_with_its_defaults() {
    let mut v = base();
    with_introspection(&mut v);
    let c = load(&v).unwrap();
    let introspection = c.providers[1].introspection.as_ref().unwrap();
    assert_eq!(introspection.endpoint.cluster, "partner-idp");
    assert_eq!(introspection.endpoint.authority, "login.partner.example");
    assert_eq!(introspection.endpoint.path, "/oauth2/introspect");
    assert_eq!(introspection.policy.timeout_ms, 2_000);
    assert_eq!(introspection.policy.max_ttl_ms, 60_000);
    assert_eq!(introspection.policy.negative_ttl_ms, 30_000);
    assert_eq!(introspection.policy.failure_ttl_ms, 1_000);
    assert_eq!(introspection.policy.slots, 4_096);
    assert!(introspection.auth_header.starts_with("Basic "));
    assert!(introspection
        .slot_key(7)
        .starts_with("claimcheck/v2/introspection/partners/"));
    assert!(!c.providers[1].is_opaque());
}

#[test]
fn a_provider_with_introspection_and_no_keys_takes_opaque_tokens() {
    let mut v = base();
    with_opaque(&mut v);
    let c = load(&v).unwrap();
    let opaque = c.provider_by_name("opaque").unwrap();
    assert!(opaque.is_opaque());
    assert!(matches!(opaque.jwks, JwksSource::None));
    assert!(opaque.fetch.is_none());
    assert_eq!(
        opaque.introspection.as_ref().unwrap().auth_header,
        "Bearer caller-token"
    );
}

#[test]
fn require_introspect_defaults_to_failing_closed() {
    use claimcheck::config::OnOutage;
    let mut v = base();
    with_introspection(&mut v);
    v["default"]["require"] = json!({ "providers": { "any": ["partners"] }, "introspect": {} });
    v["rules"][0] = json!({ "name": "relaxed", "match": { "path": { "prefix": "/healthz" } },
        "action": "require",
        "require": { "providers": { "any": ["partners"] }, "introspect": { "on_outage": "allow" } } });
    let c = load(&v).unwrap();
    let introspect = |action: &Action| match action {
        Action::Require(r) => r.introspect,
        _ => None,
    };
    assert_eq!(introspect(&c.default), Some(OnOutage::Deny));
    assert_eq!(introspect(&c.rules[0].action), Some(OnOutage::Allow));
}

#[test]
fn introspection_errors_name_their_path() {
    let intro = "providers.partners.introspection";
    check_cases(vec![
        (
            "relative uri",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["uri"] = json!("/introspect");
            }),
            format!("{intro}.uri"),
            K::NotAbsoluteUrl("/introspect".into()),
        ),
        (
            "empty cluster",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["cluster"] = json!("");
            }),
            format!("{intro}.cluster"),
            K::EmptyString,
        ),
        (
            "timeout out of range",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["timeout_ms"] = json!(10_001);
            }),
            format!("{intro}.timeout_ms"),
            K::OutOfRange {
                value: 10_001,
                min: 1,
                max: 10_000,
            },
        ),
        (
            "max ttl zero",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["max_ttl_s"] = json!(0);
            }),
            format!("{intro}.max_ttl_s"),
            K::OutOfRange {
                value: 0,
                min: 1,
                max: 3_600,
            },
        ),
        (
            "negative ttl too long",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["negative_ttl_s"] = json!(3_601);
            }),
            format!("{intro}.negative_ttl_s"),
            K::OutOfRange {
                value: 3_601,
                min: 1,
                max: 3_600,
            },
        ),
        (
            "failure ttl too long",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["failure_ttl_ms"] = json!(60_001);
            }),
            format!("{intro}.failure_ttl_ms"),
            K::OutOfRange {
                value: 60_001,
                min: 0,
                max: 60_000,
            },
        ),
        (
            "too few slots",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["slots"] = json!(15);
            }),
            format!("{intro}.slots"),
            K::OutOfRange {
                value: 15,
                min: 16,
                max: 65_536,
            },
        ),
        (
            "basic and bearer",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"]["bearer"] = json!("t");
            }),
            format!("{intro}.client_auth"),
            K::ExactlyOneOf(&["basic", "bearer"]),
        ),
        (
            "neither basic nor bearer",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"] = json!({});
            }),
            format!("{intro}.client_auth"),
            K::ExactlyOneOf(&["basic", "bearer"]),
        ),
        (
            "empty client id",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"]["basic"]["client_id"] =
                    json!("");
            }),
            format!("{intro}.client_auth.basic.client_id"),
            K::EmptyString,
        ),
        (
            "empty client secret",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"]["basic"]
                    ["client_secret"] = json!("");
            }),
            format!("{intro}.client_auth.basic.client_secret"),
            K::EmptyString,
        ),
        (
            "bearer token with a space",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"] =
                    json!({ "bearer": "two words" });
            }),
            format!("{intro}.client_auth.bearer"),
            K::InvalidHeaderValue,
        ),
        (
            "empty bearer token",
            Box::new(|v| {
                with_introspection(v);
                v["providers"]["partners"]["introspection"]["client_auth"] =
                    json!({ "bearer": "" });
            }),
            format!("{intro}.client_auth.bearer"),
            K::EmptyString,
        ),
        (
            "no keys and no introspection",
            Box::new(|v| {
                v["providers"]["partners"]
                    .as_object_mut()
                    .unwrap()
                    .remove("jwks");
            }),
            "providers.partners.jwks".into(),
            K::ExactlyOneOf(&["remote", "oidc_discovery", "inline"]),
        ),
        (
            "algorithms without keys",
            Box::new(|v| {
                with_opaque(v);
                v["providers"]["opaque"]["algorithms"] = json!(["RS256"]);
            }),
            "providers.opaque.algorithms".into(),
            K::NeedsKeys,
        ),
        (
            "token type without keys",
            Box::new(|v| {
                with_opaque(v);
                v["providers"]["opaque"]["token_type"] = json!("at+jwt");
            }),
            "providers.opaque.token_type".into(),
            K::NeedsKeys,
        ),
        (
            "payload header without keys",
            Box::new(|v| {
                with_opaque(v);
                v["providers"]["opaque"]["payload_header"] = json!("x-payload");
            }),
            "providers.opaque.payload_header".into(),
            K::NeedsKeys,
        ),
        (
            "dpop without keys",
            Box::new(|v| {
                with_opaque(v);
                v["providers"]["opaque"]["dpop"] = json!({ "mode": "allowed" });
            }),
            "providers.opaque.dpop".into(),
            K::NeedsKeys,
        ),
        (
            "introspect on a provider without an endpoint",
            Box::new(|v| {
                with_introspection(v);
                v["default"]["require"]["introspect"] = json!({});
            }),
            "default.require.introspect".into(),
            K::IntrospectionNotConfigured("corp".into()),
        ),
    ]);
}

#[test]
fn an_unknown_outage_behaviour_is_a_type_error_at_its_path() {
    let (path, kind) = one_error(|v| {
        with_introspection(v);
        v["default"]["require"] =
            json!({ "providers": { "any": ["partners"] }, "introspect": { "on_outage": "maybe" } });
    });
    assert_eq!(path, "default.require.introspect.on_outage");
    assert!(matches!(kind, K::Invalid(_)), "{kind:?}");
}

// --- Revocation lists ---------------------------------------------------------------------

/// `base` with a revocation list on `corp`, then `edit` of that list.
fn with_list(edit: impl FnOnce(&mut Value) + 'static) -> Edit {
    Box::new(move |v: &mut Value| {
        v["providers"]["corp"]["revocation"] =
            json!({ "cluster": "idp", "uri": "https://idp.example.com/revoked.json" });
        edit(&mut v["providers"]["corp"]["revocation"]);
    })
}

#[test]
fn a_revocation_list_compiles_into_a_fetch_plan_of_its_own() {
    let mut v = base();
    v["providers"]["corp"]["revocation"] = json!({
        "cluster": "revocations", "uri": "https://idp.example.com/revoked.json?v=1",
        "timeout_ms": 1500, "interval_s": 20, "min_interval_s": 2, "max_stale_s": 120,
        "max_bytes": 8192
    });
    let c = load(&v).unwrap();
    let corp = c.provider(ProviderId(0)).unwrap();
    let list = corp.revocation.as_ref().unwrap();
    assert_eq!(list.cluster, "revocations");
    assert_eq!(
        list.first_step,
        config::Step::RevocationList {
            authority: "idp.example.com".into(),
            path: "/revoked.json?v=1".into(),
            max_bytes: 8192,
        }
    );
    assert_eq!(list.timeout_ms, 1500);
    assert_eq!(list.policy.interval_ms, 20_000);
    assert_eq!(list.policy.min_interval_ms, 2_000);
    assert_eq!(list.policy.max_stale_ms, 120_000);
    let keys = corp.fetch.as_ref().unwrap();
    assert_ne!(list.record_key, keys.record_key);
    assert_ne!(list.lease_key, keys.lease_key);
}

#[test]
fn a_revocation_list_defaults_to_a_minute_and_ten_minutes_of_staleness() {
    let mut v = base();
    v["providers"]["corp"]["revocation"] =
        json!({ "cluster": "idp", "uri": "https://idp.example.com/revoked.json" });
    let c = load(&v).unwrap();
    let list = c.providers[0].revocation.as_ref().unwrap();
    assert_eq!(list.policy.interval_ms, 60_000);
    assert_eq!(list.policy.min_interval_ms, 5_000);
    assert_eq!(list.policy.max_stale_ms, 600_000);
    assert_eq!(list.timeout_ms, 5_000);
    assert_eq!(
        list.first_step.max_body_bytes(),
        claimcheck::revocation::MAX_LIST_BYTES
    );
    assert!(c.providers[1].revocation.is_none());
}

#[test]
fn revocation_errors_name_their_path() {
    let at = |field: &str| format!("providers.corp.revocation.{field}");
    check_cases(vec![
        (
            "relative list uri",
            with_list(|r| r["uri"] = json!("/revoked.json")),
            at("uri"),
            K::NotAbsoluteUrl("/revoked.json".into()),
        ),
        (
            "empty cluster",
            with_list(|r| r["cluster"] = json!("")),
            at("cluster"),
            K::EmptyString,
        ),
        (
            "timeout out of range",
            with_list(|r| r["timeout_ms"] = json!(0)),
            at("timeout_ms"),
            K::OutOfRange {
                value: 0,
                min: 1,
                max: 60_000,
            },
        ),
        (
            "interval out of range",
            with_list(|r| r["interval_s"] = json!(0)),
            at("interval_s"),
            K::OutOfRange {
                value: 0,
                min: 1,
                max: 86_400,
            },
        ),
        (
            "min interval out of range",
            with_list(|r| r["min_interval_s"] = json!(100_000)),
            at("min_interval_s"),
            K::OutOfRange {
                value: 100_000,
                min: 1,
                max: 86_400,
            },
        ),
        (
            "max stale out of range",
            with_list(|r| r["max_stale_s"] = json!(5)),
            at("max_stale_s"),
            K::OutOfRange {
                value: 5,
                min: 10,
                max: 7 * 86_400,
            },
        ),
        (
            "max stale below interval",
            with_list(|r| {
                r["interval_s"] = json!(300);
                r["max_stale_s"] = json!(60);
            }),
            at("max_stale_s"),
            K::MaxStaleBelowInterval {
                max_stale_s: 60,
                interval_s: 300,
            },
        ),
        (
            "size bound above the document limit",
            with_list(|r| r["max_bytes"] = json!(1 << 20)),
            at("max_bytes"),
            K::OutOfRange {
                value: 1 << 20,
                min: 2,
                max: claimcheck::revocation::MAX_LIST_BYTES as u64,
            },
        ),
    ]);
}

#[test]
fn a_revocation_list_without_uri_or_with_an_unknown_field_is_refused_at_its_path() {
    for (list, path) in [
        (json!({ "cluster": "idp" }), "providers.corp.revocation"),
        (
            json!({ "cluster": "idp", "uri": "https://idp.example.com/r", "refresh_s": 5 }),
            "providers.corp.revocation",
        ),
    ] {
        let errors = errors_after(|v| v["providers"]["corp"]["revocation"] = list);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].0.starts_with(path), "{errors:?}");
    }
}
