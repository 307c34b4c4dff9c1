//! Caller-bound tokens between two Envoys with mTLS, as two mesh sidecars: the test sends plain
//! HTTP to a client-side Envoy that presents workload certificate A (`sa/orders`), B
//! (`sa/billing`) or none to the server-side Envoy, which validates it and runs claimcheck.
//! Everything the filter knows about the caller comes from Envoy's TLS layer.

use std::sync::OnceLock;

use claimcheck_e2e::echo;
use claimcheck_e2e::envoy::{Envoy, EnvoySpec};
use claimcheck_e2e::http::{Response, Server};
use claimcheck_e2e::idp::Idp;
use claimcheck_e2e::mtls::{self, ClientCertificate};
use claimcheck_e2e::tls::{Leaf, TestCa};
use claimcheck_testkit::b64;
use serde_json::{json, Value};

use crate::support::*;

const ORDERS_ID: &str = "spiffe://cluster.local/ns/shop/sa/orders";
const BILLING_ID: &str = "spiffe://cluster.local/ns/shop/sa/billing";

/// The standard policy with rules on the caller, ahead of the standard ones:
/// - `/orders`: only the `orders` service account (a SPIFFE template in `require.peer`),
/// - `/self`: any workload, whose token's `sub` names its own service account (`equals_peer`),
/// - `/internal`: mTLS required, any token.
///
/// `/api` (standard) checks a certificate-bound token against the caller's certificate, as
/// every rule does (`certificate_binding` defaults to `if_present`).
fn mesh_policy(issuer: &str) -> Value {
    let mut p = policy(issuer);
    let any_token = json!({ "any": ["idp"] });
    let rules = [
        json!({ "name": "orders-only", "match": { "path": { "prefix": "/orders" } },
                "action": "require",
                "require": { "providers": any_token,
                             "peer": { "uri_san": { "template": "spiffe://cluster.local/ns/{namespace}/sa/orders" } } } }),
        json!({ "name": "self", "match": { "path": { "prefix": "/self" } },
                "action": "require",
                "require": { "providers": any_token,
                             "peer": { "uri_san": { "template": "spiffe://cluster.local/ns/{namespace}/sa/{sa}" } },
                             "claims": { "claim": "sub", "equals_peer": "system:serviceaccount:{namespace}:{sa}" } } }),
        json!({ "name": "internal", "match": { "path": { "prefix": "/internal" } },
                "action": "require",
                "require": { "providers": any_token, "peer": { "mtls": true } } }),
    ];
    let list = p["rules"].as_array_mut().unwrap();
    for (i, rule) in rules.into_iter().enumerate() {
        list.insert(i, rule);
    }
    p
}

/// The IdP, the upstream, the server-side Envoy and one client-side Envoy per caller.
struct Mesh {
    // Envoys first: dropped (stopped) before the servers they talk to.
    as_orders: Envoy,
    as_billing: Envoy,
    without_certificate: Envoy,
    _server: Envoy,
    idp: Idp,
    _echo: Server,
    key: Key,
    orders: Leaf,
}

impl Mesh {
    fn start() -> Result<Mesh, String> {
        let key = Key::es256("key-a");
        let idp = Idp::start(jwks(&[&key])).map_err(|e| format!("start IdP: {e}"))?;
        let echo = echo::start("127.0.0.1:0").map_err(|e| format!("start echo: {e}"))?;
        let ca = TestCa::new("mesh test CA").map_err(|e| e.to_string())?;
        let orders = ca
            .workload("orders", ORDERS_ID)
            .map_err(|e| e.to_string())?;
        let billing = ca
            .workload("billing", BILLING_ID)
            .map_err(|e| e.to_string())?;
        let spec = EnvoySpec::claimcheck(
            "mtls_server",
            mesh_policy(idp.issuer()).to_string(),
            echo.port(),
            idp.port(),
        );
        // Optional at the TLS layer, so that a caller without a certificate reaches the policy.
        let server = mtls::start_server(&spec, &ca, ClientCertificate::Optional)
            .map_err(|e| e.to_string())?;
        let client = |name: &str, leaf: Option<&Leaf>| {
            mtls::start_client(name, &server, &ca, leaf).map_err(|e| e.to_string())
        };
        Ok(Mesh {
            as_orders: client("mtls_client_orders", Some(&orders))?,
            as_billing: client("mtls_client_billing", Some(&billing))?,
            without_certificate: client("mtls_client_none", None)?,
            _server: server,
            idp,
            _echo: echo,
            key,
            orders,
        })
    }

    fn token(&self, extra: Value) -> String {
        self.key.sign(&claims(self.idp.issuer(), extra))
    }
}

/// One mesh for every test here: they only send requests.
fn mesh() -> &'static Mesh {
    static MESH: OnceLock<Result<Mesh, String>> = OnceLock::new();
    match MESH.get_or_init(Mesh::start) {
        Ok(m) => m,
        Err(e) => panic!("mTLS mesh did not start: {e}"),
    }
}

fn get(via: &Envoy, path: &str, token: &str) -> Response {
    let bearer = format!("Bearer {token}");
    via.get(path, &[("authorization", &bearer)])
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", via.log()))
}

fn refused(r: &Response, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{}", r.body_text());
    assert_eq!(reason_of(r), reason);
}

fn bound_to(leaf: &Leaf) -> Value {
    json!({ "scope": "api:read", "cnf": { "x5t#S256": b64(&leaf.sha256()) } })
}

#[test]
fn a_token_bound_to_a_certificate_is_allowed_through_the_envoy_presenting_it() {
    let m = mesh();
    let token = m.token(bound_to(&m.orders));
    let upstream = echoed(&get(&m.as_orders, "/api/orders", &token));
    assert_eq!(upstream.header_all("x-user-id"), ["user-1"]);
}

#[test]
fn a_bound_token_presented_by_another_workload_is_refused_as_a_binding_mismatch() {
    let m = mesh();
    let token = m.token(bound_to(&m.orders));
    let r = get(&m.as_billing, "/api/orders", &token);
    refused(&r, 401, "certificate_binding_mismatch");
    let challenge = www_authenticate(&r);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[test]
fn a_bound_token_over_a_connection_without_a_certificate_is_refused() {
    let m = mesh();
    let token = m.token(bound_to(&m.orders));
    let r = get(&m.without_certificate, "/api/orders", &token);
    refused(&r, 401, "certificate_binding_no_certificate");
    assert!(www_authenticate(&r).contains(r#"error="invalid_token""#));
}

#[test]
fn a_spiffe_template_in_require_peer_admits_only_its_service_account() {
    let m = mesh();
    let token = m.token(json!({}));
    echoed(&get(&m.as_orders, "/orders/1", &token));
    let r = get(&m.as_billing, "/orders/1", &token);
    refused(&r, 403, "peer_not_allowed");
    assert!(
        r.header("www-authenticate").is_none(),
        "no token helps a peer refusal"
    );
}

#[test]
fn a_token_naming_the_callers_own_service_account_is_allowed() {
    let m = mesh();
    let token = m.token(json!({ "sub": "system:serviceaccount:shop:orders" }));
    let upstream = echoed(&get(&m.as_orders, "/self", &token));
    assert_eq!(
        upstream.header_all("x-user-id"),
        ["system:serviceaccount:shop:orders"]
    );
}

#[test]
fn a_token_naming_another_service_account_than_the_callers_is_refused() {
    let m = mesh();
    let token = m.token(json!({ "sub": "system:serviceaccount:shop:orders" }));
    let r = get(&m.as_billing, "/self", &token);
    refused(&r, 403, "claims_condition_failed");
    assert!(www_authenticate(&r).contains(r#"error="insufficient_scope""#));
}

#[test]
fn a_caller_without_a_client_certificate_is_refused_where_the_rule_requires_mtls() {
    let m = mesh();
    let token = m.token(json!({}));
    echoed(&get(&m.as_billing, "/internal/jobs", &token));
    let r = get(&m.without_certificate, "/internal/jobs", &token);
    refused(&r, 403, "peer_certificate_missing");
    assert!(r.header("www-authenticate").is_none());
}
