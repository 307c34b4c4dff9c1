//! Every policy in `policy-examples/` loads, and behaves as its comments promise:
//! the rule each request selects and the outcome of its claim conditions.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck::config::{self, Config};
use claimcheck::decision::{Denial, DenyReason};
use claimcheck::policy::{Action, ProviderSet};
use claimcheck::request::Request;
use serde_json::{json, Value};
use std::path::PathBuf;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy-examples")
}

fn load(name: &str) -> Config {
    let bytes = std::fs::read(examples_dir().join(name)).unwrap();
    match config::load(&bytes) {
        Ok(c) => c,
        Err(e) => panic!("{name}:\n{e}"),
    }
}

fn req(method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        host: host.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        route_name: None,
        peer: Default::default(),
    }
}

/// What the policy says for this request and these (already verified) claims.
#[derive(Debug, PartialEq)]
enum PolicyAnswer {
    Allow,
    Deny,
    /// Requirement met by a token from one of these providers.
    Granted(Vec<String>),
    /// Claim conditions failed, with the scopes for `WWW-Authenticate`.
    Forbidden(Vec<String>),
}

fn outcome(c: &Config, r: &Request, claims: &Value) -> (String, PolicyAnswer) {
    let selected = c.select_rule(r, &r.target(&c.paths).unwrap());
    // The explain form shares the matching code; it must never disagree.
    let explained = c.explain_rules(r, &r.target(&c.paths).unwrap()).selected;
    assert_eq!(explained.index, selected.index);
    assert_eq!(explained.name, selected.name);
    let result = match selected.action {
        Action::Allow => PolicyAnswer::Allow,
        Action::Deny => PolicyAnswer::Deny,
        Action::Require(req) => match req.check_claims(claims) {
            Ok(()) => {
                // The decoded token's map gives the same answer as the JSON value.
                assert_eq!(req.check_claims(claims.as_object().unwrap()), Ok(()));
                let names = req
                    .providers
                    .providers()
                    .iter()
                    .map(|id| c.provider(*id).unwrap().name.clone())
                    .collect();
                PolicyAnswer::Granted(names)
            }
            Err(f) => PolicyAnswer::Forbidden(f.required_scopes().to_vec()),
        },
    };
    (selected.name.to_string(), result)
}

fn granted(names: &[&str]) -> PolicyAnswer {
    PolicyAnswer::Granted(names.iter().map(|s| s.to_string()).collect())
}

fn forbidden(scopes: &[&str]) -> PolicyAnswer {
    PolicyAnswer::Forbidden(scopes.iter().map(|s| s.to_string()).collect())
}

/// Examples and the test that exercises each; a new example needs a test here.
const EXERCISED: [&str; 10] = [
    "api-gateway.json",
    "multi-tenant-admin.json",
    "public-site.json",
    "partner-and-internal.json",
    "dry-run-rollout.json",
    "mesh-workloads.json",
    "dpop-payments.json",
    "certificate-bound.json",
    "introspected-wallet.json",
    "revoked-sessions.json",
];

#[test]
fn every_example_is_exercised_by_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    found.sort();
    let mut expected: Vec<String> = EXERCISED.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn api_gateway_routes_by_method_and_scope() {
    let c = load("api-gateway.json");
    let h = "api.example.com";
    let reader = json!({"sub": "u1", "scope": "openid orders:read"});
    let writer = json!({"sub": "u2", "scope": "orders:read orders:write"});
    let refunder = json!({"sub": "u3", "scope": "orders:refund", "amr": ["pwd", "mfa"]});
    let profile = json!({"scope": "profile"});
    let cases: Vec<(Request, &Value, &str, PolicyAnswer)> = vec![
        (
            req("GET", "/healthz", h, &[]),
            &reader,
            "health",
            PolicyAnswer::Allow,
        ),
        (
            req("POST", "/healthz", h, &[]),
            &reader,
            "default",
            PolicyAnswer::Deny,
        ),
        (
            req("GET", "/v1/orders/42?expand=1", h, &[]),
            &reader,
            "orders-read",
            granted(&["corp"]),
        ),
        (
            req("GET", "/v1/orders", h, &[]),
            &profile,
            "orders-read",
            forbidden(&["orders:read"]),
        ),
        (
            req("PUT", "/v1/orders/42", h, &[]),
            &writer,
            "orders-write",
            granted(&["corp"]),
        ),
        (
            req("PUT", "/v1/orders/42", h, &[]),
            &reader,
            "orders-write",
            forbidden(&["orders:read", "orders:write"]),
        ),
        // The refund rule sits before the general write rule: first match wins.
        (
            req("POST", "/v1/orders/7/refunds", h, &[]),
            &refunder,
            "refunds",
            granted(&["corp"]),
        ),
        (
            req("POST", "/v1/orders/7/refunds", h, &[]),
            &writer,
            "refunds",
            forbidden(&["orders:refund"]),
        ),
        // Other spellings of the refund path still reach the refund rule.
        (
            req("post", "/v1/orders/12/refunds/", h, &[]),
            &writer,
            "refunds",
            forbidden(&["orders:refund"]),
        ),
        (
            req("POST", "/v1/orders/12/refunds;x=1", h, &[]),
            &writer,
            "refunds",
            forbidden(&["orders:refund"]),
        ),
        (
            req("POST", "/v1//orders/12/%72efunds", h, &[]),
            &writer,
            "refunds",
            forbidden(&["orders:refund"]),
        ),
        (
            req("POST", "/v1/orders/7/items", h, &[]),
            &writer,
            "orders-write",
            granted(&["corp"]),
        ),
        (
            req("GET", "/internal/metrics", h, &[]),
            &writer,
            "internal-metrics",
            PolicyAnswer::Deny,
        ),
        (
            req("GET", "/other", h, &[]),
            &writer,
            "default",
            PolicyAnswer::Deny,
        ),
    ];
    for (r, claims, rule, want) in cases {
        assert_eq!(
            outcome(&c, &r, claims),
            (rule.to_owned(), want),
            "{} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(c.realm, "orders-api");
}

#[test]
fn api_gateway_refund_conditions_need_scope_and_strong_authentication() {
    let c = load("api-gateway.json");
    assert_eq!(&*c.rules[2].name, "refunds");
    let Action::Require(refunds) = &c.rules[2].action else {
        panic!("refunds is a require rule")
    };
    let ok = json!({"scope": "orders:refund", "amr": ["pwd", "mfa"]});
    let weak = json!({"scope": "orders:refund", "amr": ["pwd"]});
    assert_eq!(refunds.check_claims(&ok), Ok(()));
    let failure = refunds.check_claims(&weak).unwrap_err();
    assert!(failure.required_scopes().is_empty());
    let trace = refunds.claims.as_ref().unwrap().trace(&weak);
    assert!(!trace.holds());
    assert!(trace.children[0].holds());
    assert!(!trace.children[1].holds());
}

#[test]
fn api_gateway_denial_names_missing_scopes_in_www_authenticate() {
    let c = load("api-gateway.json");
    let r = req("DELETE", "/v1/orders/1", "api.example.com", &[]);
    let Action::Require(rq) = c.select_rule(&r, &r.target(&c.paths).unwrap()).action else {
        panic!("require rule expected")
    };
    let failure = rq
        .check_claims(&json!({"scope": "orders:read"}))
        .unwrap_err();
    let response = Denial::new(DenyReason::ClaimsConditionFailed)
        .with_scopes(failure.required_scopes().to_vec())
        .response(&c.realm);
    assert_eq!(response.status, 403);
    assert_eq!(
        response.www_authenticate.as_deref(),
        Some("Bearer realm=\"orders-api\", error=\"insufficient_scope\", error_description=\"the token does not grant access to this resource\", scope=\"orders:read orders:write\"")
    );
}

#[test]
fn multi_tenant_admin_binds_the_tenant_claim_to_the_host() {
    let c = load("multi-tenant-admin.json");
    let acme_admin = json!({"sub": "a", "tenant": "acme", "groups": ["tenant-admin"]});
    let globex_admin = json!({"sub": "g", "tenant": "globex", "groups": ["tenant-admin"]});
    let acme_support = json!({"sub": "s", "tenant": "acme", "groups": ["support"]});
    let ops =
        json!({"sub": "o", "tenant": "platform", "groups": ["platform-ops"], "acr": "urn:mfa"});
    let contractor_ops =
        json!({"sub": "c", "groups": ["platform-ops"], "acr": "urn:mfa", "contractor": true});
    let cases: Vec<(Request, &Value, &str, PolicyAnswer)> = vec![
        (
            req("GET", "/admin/users", "acme.saas.example", &[]),
            &acme_admin,
            "acme-admin",
            granted(&["workforce"]),
        ),
        (
            req("GET", "/admin/users", "ACME.saas.example:443", &[]),
            &acme_support,
            "acme-admin",
            granted(&["workforce"]),
        ),
        (
            req("GET", "/admin/users", "acme.saas.example", &[]),
            &globex_admin,
            "acme-admin",
            forbidden(&[]),
        ),
        (
            req("GET", "/admin", "globex.saas.example", &[]),
            &globex_admin,
            "globex-admin",
            granted(&["workforce"]),
        ),
        (
            req("GET", "/admin", "globex.saas.example", &[]),
            &acme_support,
            "globex-admin",
            forbidden(&[]),
        ),
        (
            req("POST", "/ops/billing/restart", "acme.saas.example", &[]),
            &ops,
            "platform-operators",
            granted(&["workforce"]),
        ),
        (
            req("POST", "/ops/billing/restart", "acme.saas.example", &[]),
            &contractor_ops,
            "platform-operators",
            forbidden(&[]),
        ),
        (
            req("POST", "/ops", "acme.saas.example", &[]),
            &ops,
            "tenant-app",
            granted(&["workforce"]),
        ),
        (
            req("GET", "/", "initech.saas.example", &[]),
            &acme_admin,
            "tenant-app",
            granted(&["workforce"]),
        ),
        (
            req("GET", "/", "saas.example", &[]),
            &acme_admin,
            "default",
            PolicyAnswer::Deny,
        ),
    ];
    for (r, claims, rule, want) in cases {
        assert_eq!(
            outcome(&c, &r, claims),
            (rule.to_owned(), want),
            "{} {}",
            r.host,
            r.path
        );
    }
}

#[test]
fn multi_tenant_admin_forwards_identity_and_strips_client_copies() {
    let c = load("multi-tenant-admin.json");
    assert_eq!(
        &c.identity_header_names()[..],
        ["x-user-id", "x-tenant", "x-user-groups"]
    );
    let p = c.provider_by_name("workforce").unwrap();
    let claims = json!({"sub": "a", "tenant": "acme", "groups": ["tenant-admin", "support"]});
    let plan = p.output_plan(claims.as_object().unwrap(), None);
    assert_eq!(
        plan.set,
        vec![
            ("x-user-id".to_owned(), "a".to_owned()),
            ("x-tenant".to_owned(), "acme".to_owned()),
            (
                "x-user-groups".to_owned(),
                "tenant-admin;support".to_owned()
            ),
        ]
    );
    assert!(plan.skipped.is_empty());
}

#[test]
fn public_site_allows_anonymous_browsing_and_protects_the_account() {
    let c = load("public-site.json");
    let h = "shop.example";
    let gold = json!({"sub": "c1", "loyalty": {"tier": 3}, "email_verified": true});
    let spender = json!({"sub": "c2", "loyalty": {"tier": 1, "lifetime_spend": 10000.75}});
    let newcomer = json!({"sub": "c3", "loyalty": {"tier": 1, "lifetime_spend": 10000.5}, "email_verified": false});
    let anonymous = json!({});
    let cases: Vec<(Request, &Value, &str, PolicyAnswer)> = vec![
        (
            req("GET", "/assets/app.js", h, &[]),
            &anonymous,
            "static",
            PolicyAnswer::Allow,
        ),
        (
            req("GET", "/products/42", h, &[]),
            &anonymous,
            "default",
            PolicyAnswer::Allow,
        ),
        (
            req("GET", "/account/orders", h, &[]),
            &newcomer,
            "account",
            granted(&["customers"]),
        ),
        (
            req("GET", "/vip", h, &[]),
            &gold,
            "vip-lounge",
            granted(&["customers"]),
        ),
        (
            req("GET", "/vip", h, &[]),
            &spender,
            "vip-lounge",
            granted(&["customers"]),
        ),
        // Exactly 10000.5 is not greater than 10000.5.
        (
            req("GET", "/vip", h, &[]),
            &newcomer,
            "vip-lounge",
            forbidden(&[]),
        ),
        (
            req("POST", "/checkout", h, &[]),
            &gold,
            "checkout",
            granted(&["customers"]),
        ),
        (
            req("POST", "/checkout", h, &[]),
            &newcomer,
            "checkout",
            forbidden(&[]),
        ),
        (
            req("GET", "/checkout", h, &[]),
            &newcomer,
            "default",
            PolicyAnswer::Allow,
        ),
    ];
    for (r, claims, rule, want) in cases {
        assert_eq!(
            outcome(&c, &r, claims),
            (rule.to_owned(), want),
            "{} {}",
            r.method,
            r.path
        );
    }
    let p = &c.providers[0];
    assert_eq!(
        p.cold_start.on_timeout.deny_reason(),
        DenyReason::KeysWaitTimeoutDenied
    );
}

#[test]
fn public_site_reads_the_session_cookie_first() {
    let c = load("public-site.json");
    let p = &c.providers[0];
    let r = req(
        "GET",
        "/account",
        "shop.example",
        &[("cookie", "a=1; shop_session=tok")],
    );
    let found = claimcheck::extract::find_token(&p.sources, &r)
        .unwrap()
        .unwrap();
    assert_eq!(found.token, "tok");
    assert_eq!(found.location.source, 0);
}

#[test]
fn every_example_loads_without_a_warning() {
    for name in EXERCISED {
        let c = load(name);
        let warnings: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
        assert!(warnings.is_empty(), "{name}:\n{}", warnings.join("\n"));
    }
}

#[test]
fn dry_run_rollout_stages_the_new_rule_where_requests_are_let_through_today() {
    let c = load("dry-run-rollout.json");
    let h = "inventory.internal";
    let reader = json!({"groups": ["report-readers"], "org": {"tier": 1}});
    for headers in [&[][..], &[("x-canary", "1")][..]] {
        let report = req("GET", "/reports/q3", h, headers);
        let selected = c.select_rule(&report, &report.target(&c.paths).unwrap());
        assert_eq!(&**selected.name, "reports-new-policy");
        assert!(selected.dry_run, "the new rule only logs and counts");
        assert_eq!(
            outcome(&c, &report, &reader),
            ("reports-new-policy".into(), forbidden(&[]))
        );
    }
    let Action::Allow = c.rules[4].action else {
        panic!("the rule that applies today follows the dry-run rule")
    };
}

#[test]
fn dry_run_rollout_keeps_enforcing_inventory_whatever_the_headers() {
    let c = load("dry-run-rollout.json");
    let h = "inventory.internal";
    let writer = json!({"groups": ["inventory-writers"], "org": {"tier": 1}});
    for headers in [&[][..], &[("x-canary", "1")][..]] {
        let write = req("POST", "/inventory/items", h, headers);
        let selected = c.select_rule(&write, &write.target(&c.paths).unwrap());
        assert_eq!(&**selected.name, "inventory-writes");
        assert!(!selected.dry_run);
        assert_eq!(
            outcome(&c, &write, &writer),
            ("inventory-writes".into(), granted(&["corp"]))
        );
        assert_eq!(
            outcome(&c, &write, &json!({"groups": ["viewers"]})),
            ("inventory-writes".into(), forbidden(&[]))
        );
    }
    let read = req("GET", "/inventory/items", h, &[]);
    assert_eq!(
        outcome(&c, &read, &json!({})),
        ("inventory-reads".into(), granted(&["corp"]))
    );
    assert_eq!(
        outcome(&c, &req("GET", "/x", h, &[]), &json!({})),
        ("default".into(), PolicyAnswer::Deny)
    );
}

#[test]
fn dry_run_rollout_explains_why_earlier_rules_did_not_match() {
    let c = load("dry-run-rollout.json");
    let r = req("GET", "/inventory/items", "inventory.internal", &[]);
    let e = c.explain_rules(&r, &r.target(&c.paths).unwrap());
    assert_eq!(&**e.selected.name, "inventory-reads");
    assert_eq!(e.selected.index, Some(2));
    assert_eq!(e.rules.len(), 3);
    assert_eq!(
        e.rules[0].mismatches,
        ["path \"/inventory/items\" does not match prefix \"/healthz\""]
    );
    assert_eq!(
        e.rules[1].mismatches,
        ["method \"GET\" is not one of [\"POST\", \"PUT\", \"DELETE\"]"]
    );
    assert!(e.rules[2].mismatches.is_empty());
}

#[test]
fn explain_reports_every_mismatch_and_falls_back_to_the_default() {
    let c = load("dry-run-rollout.json");
    let r = req("PATCH", "/other", "h", &[]);
    let e = c.explain_rules(&r, &r.target(&c.paths).unwrap());
    assert_eq!(e.selected.index, None);
    assert_eq!(&**e.selected.name, "default");
    assert_eq!(e.rules.len(), 5);
    assert_eq!(
        e.rules[1].mismatches.len(),
        2,
        "{:?}",
        e.rules[1].mismatches
    );
}

/// `/internal/batch` is the internal services' whatever the request carries: a partner
/// cannot leave a header out to fall to the laxer default.
#[test]
fn partner_and_internal_separates_partner_scopes_from_internal_services() {
    let c = load("partner-and-internal.json");
    let h = "api.example.com";
    let catalog = json!({"scp": ["catalog.read"]});
    let orders = json!({"scp": ["orders.read", "orders.write"], "partner_id": "P-004211"});
    let bad_partner = json!({"scp": ["orders.read", "orders.write"], "partner_id": "P-42"});
    let billing = json!({"svc": "billing"});
    let token = [("x-internal-token", "t")];
    let web = json!({"svc": "web"});
    let cases: Vec<(Request, &Value, &str, PolicyAnswer)> = vec![
        (
            req("GET", "/partner/catalog/items", h, &[]),
            &catalog,
            "partner-catalog",
            granted(&["partners"]),
        ),
        (
            req("GET", "/partner/catalog", h, &[]),
            &orders,
            "partner-catalog",
            forbidden(&["catalog.read"]),
        ),
        (
            req("PUT", "/partner/orders/9", h, &[]),
            &orders,
            "partner-orders",
            granted(&["partners"]),
        ),
        (
            req("PUT", "/partner/orders/9", h, &[]),
            &catalog,
            "partner-orders",
            forbidden(&["orders.read", "orders.write"]),
        ),
        (
            req("PUT", "/partner/orders/9", h, &[]),
            &bad_partner,
            "partner-orders",
            forbidden(&[]),
        ),
        (
            req("POST", "/internal/batch/run", h, &token),
            &billing,
            "internal-batch",
            granted(&["internal-hmac"]),
        ),
        (
            req("POST", "/internal/batch/run", h, &token),
            &web,
            "internal-batch",
            forbidden(&[]),
        ),
        (
            req("POST", "/internal/batch/run", h, &[]),
            &billing,
            "internal-batch",
            granted(&["internal-hmac"]),
        ),
        (
            req("POST", "/internal/batch/run", h, &[]),
            &orders,
            "internal-batch",
            forbidden(&[]),
        ),
    ];
    for (r, claims, rule, want) in cases {
        assert_eq!(
            outcome(&c, &r, claims),
            (rule.to_owned(), want),
            "{} {}",
            r.method,
            r.path
        );
    }
    let Action::Require(batch) = &c.rules[2].action else {
        panic!("require rule expected")
    };
    assert!(matches!(batch.providers, ProviderSet::All(_)));
}

#[test]
fn multi_tenant_admin_forwards_the_payload_segment_when_configured() {
    let text = std::fs::read_to_string(examples_dir().join("multi-tenant-admin.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["providers"]["workforce"]["payload_header"] = json!("X-JWT-Payload");
    let c = config::load(v.to_string().as_bytes()).unwrap();
    let claims = json!({"sub": "a", "tenant": "acme", "bad": "x\r\ny"});
    let plan = c.providers[0].output_plan(claims.as_object().unwrap(), Some("eyJzdWIiOiJhIn0"));
    assert_eq!(
        plan.set.last(),
        Some(&("x-jwt-payload".to_owned(), "eyJzdWIiOiJhIn0".to_owned()))
    );
    assert!(c
        .identity_header_names()
        .contains(&"x-jwt-payload".to_owned()));
}

#[test]
fn mesh_workloads_tie_the_token_to_the_calling_service_account() {
    let c = load("mesh-workloads.json");
    let from = |uri: &str| {
        let mut r = req("GET", "/orders/1", "orders", &[]);
        r.peer = claimcheck::peer::Peer {
            mtls: true,
            uri_san: Some(uri.to_owned()),
            ..Default::default()
        };
        r
    };
    let orders = from("spiffe://cluster.local/ns/shop/sa/checkout");
    let target = orders.target(&c.paths).unwrap();
    let rule = c.select_rule(&orders, &target);
    assert_eq!(&**rule.name, "shop-callers");
    let Action::Require(require) = rule.action else {
        panic!("shop-callers requires a token");
    };
    let own = json!({"sub": "system:serviceaccount:shop:checkout"});
    let other = json!({"sub": "system:serviceaccount:shop:billing"});
    assert_eq!(require.check_claims_in(&own, &orders.peer), Ok(()));
    assert!(require.check_claims_in(&other, &orders.peer).is_err());
    let outside = from("spiffe://other.domain/ns/shop/sa/checkout");
    let target = outside.target(&c.paths).unwrap();
    assert_eq!(&**c.select_rule(&outside, &target).name, "default");
}

#[test]
fn dpop_payments_requires_a_dpop_bound_token_behind_the_public_origin() {
    let c = load("dpop-payments.json");
    let bank = c.provider_by_name("bank").unwrap();
    let policy = bank.dpop.as_ref().unwrap();
    assert_eq!(policy.mode, claimcheck::dpop::DpopMode::Required);
    assert_eq!(policy.origin.as_deref(), Some("https://api.bank.example"));
    assert_eq!(&*policy.challenge_algs, "ES256 EdDSA");
    // The token is read under the DPoP scheme besides the default Bearer one.
    let dpop_source = bank.dpop_source.unwrap();
    assert_eq!(
        bank.sources[dpop_source],
        claimcheck::extract::TokenSource::Header {
            name: "authorization".into(),
            prefix: "DPoP ".into()
        }
    );
}

#[test]
fn certificate_bound_requires_bound_tokens_over_mtls() {
    let c = load("certificate-bound.json");
    let idp = c.provider_by_name("payments-idp").unwrap();
    assert_eq!(
        idp.certificate_binding,
        claimcheck::certificate_binding::CertificateBinding::Required
    );
    let r = req("POST", "/ledger/entries", "ledger", &[]);
    let target = r.target(&c.paths).unwrap();
    let rule = c.select_rule(&r, &target);
    assert_eq!(&**rule.name, "ledger");
    let Action::Require(require) = rule.action else {
        panic!("ledger requires a token");
    };
    assert!(require.peer.as_ref().is_some_and(|p| p.mtls == Some(true)));
    assert!(c.peer_reads().mtls);
}

#[test]
fn introspected_wallet_asks_the_server_about_opaque_tokens_and_staff_writes() {
    use claimcheck::config::OnOutage;
    let c = load("introspected-wallet.json");
    let wallet = c.provider_by_name("wallet-as").unwrap();
    assert!(wallet.is_opaque());
    let introspection = wallet.introspection.as_ref().unwrap();
    assert_eq!(introspection.endpoint.path, "/oauth2/introspect");
    assert_eq!(introspection.policy.max_ttl_ms, 30_000);
    assert!(!c.provider_by_name("staff").unwrap().is_opaque());
    let h = "wallet.example";
    let introspect = |r: &Request| {
        let rule = c.select_rule(r, &r.target(&c.paths).unwrap());
        match rule.action {
            Action::Require(require) => (rule.name.to_string(), require.introspect),
            _ => (rule.name.to_string(), None),
        }
    };
    assert_eq!(
        introspect(&req("POST", "/backoffice/refunds/7", h, &[])),
        ("refunds".to_owned(), Some(OnOutage::Deny))
    );
    assert_eq!(
        introspect(&req("GET", "/backoffice/customers", h, &[])),
        ("backoffice".to_owned(), Some(OnOutage::Allow))
    );
    let customer = json!({"sub": "c-1", "client_id": "mobile", "scope": "wallet profile"});
    assert_eq!(
        outcome(&c, &req("GET", "/wallet/balance", h, &[]), &customer),
        ("wallet".to_owned(), granted(&["wallet-as"]))
    );
    let refunder = json!({"sub": "s-1", "groups": ["support"]});
    assert_eq!(
        outcome(&c, &req("POST", "/backoffice/refunds/7", h, &[]), &refunder).1,
        forbidden(&[])
    );
}

#[test]
fn revoked_sessions_checks_a_list_and_wants_a_recent_login_to_close_an_account() {
    let c = load("revoked-sessions.json");
    let list = c
        .provider_by_name("corp")
        .unwrap()
        .revocation
        .as_ref()
        .unwrap();
    assert_eq!(list.cluster, "corp-idp");
    assert_eq!(list.policy.interval_ms, 30_000);
    let h = "accounts.corp.example";
    let max_age = |r: &Request| {
        let rule = c.select_rule(r, &r.target(&c.paths).unwrap());
        match rule.action {
            Action::Require(require) => (rule.name.to_string(), require.max_token_age_s),
            _ => (rule.name.to_string(), None),
        }
    };
    assert_eq!(
        max_age(&req("DELETE", "/accounts/42", h, &[])),
        ("close-account".to_owned(), Some(300))
    );
    assert_eq!(
        max_age(&req("GET", "/accounts/42", h, &[])),
        ("accounts".to_owned(), None)
    );
    let reader = json!({"sub": "u-1", "scope": "accounts:read"});
    assert_eq!(
        outcome(&c, &req("GET", "/accounts/42", h, &[]), &reader),
        ("accounts".to_owned(), granted(&["corp"]))
    );
}
