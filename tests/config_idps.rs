//! Configuration of the identity-provider settings (`issuers`, `tenants`, `audience_claim`):
//! what compiles, and every mistake refused with its path. `docs/idps.md` documents them.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck::config::{self, ConfigErrorKind as K};
use claimcheck::issuer::IssuerError;
use serde_json::{json, Value};

const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const DISCOVERY: &str =
    "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration";

/// A multi-tenant Entra ID provider `entra`, edited by `edit`.
fn document(edit: impl FnOnce(&mut Value)) -> Value {
    let mut doc = json!({
        "providers": {"entra": {
            "issuers": [TEMPLATE, "https://sts.windows.net/{tenantid}/"],
            "tenants": {"allowed": ["9188040d-6c67-4c5b-b112-36a304b66dad"]},
            "audiences": ["api://orders"],
            "jwks": {"oidc_discovery": {"cluster": "idp", "uri": DISCOVERY}}
        }},
        "default": {"action": "require", "require": {"providers": {"any": ["entra"]}}}
    });
    edit(&mut doc["providers"]["entra"]);
    doc
}

/// Every error of a configuration, as (path, kind).
type Errors = Vec<(String, K)>;

fn errors(doc: &Value) -> Errors {
    config::load(doc.to_string().as_bytes())
        .err()
        .map(|errors| errors.0.into_iter().map(|e| (e.path, e.kind)).collect())
        .unwrap_or_default()
}

#[test]
fn a_multi_tenant_provider_compiles_with_its_template_as_the_discovery_issuer() {
    let config = config::load(document(|_| {}).to_string().as_bytes()).unwrap();
    let provider = &config.providers[0];
    assert_eq!(provider.issuer, TEMPLATE);
    assert_eq!(provider.claims.issuers.templates().len(), 2);
    assert!(provider.claims.issuers.exact_issuers().is_empty());
}

#[test]
fn several_exact_issuers_compile_as_map_keys() {
    let doc = document(|p| {
        p["issuers"] = json!(["https://accounts.google.com", "accounts.google.com"]);
        p.as_object_mut().unwrap().remove("tenants");
        p["jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
    });
    let config = config::load(doc.to_string().as_bytes()).unwrap();
    let issuers = &config.providers[0].claims.issuers;
    assert_eq!(
        issuers.exact_issuers(),
        ["https://accounts.google.com", "accounts.google.com"]
    );
    let config::JwksSource::OidcDiscovery(target) = &config.providers[0].jwks else {
        panic!("discovery");
    };
    assert_eq!(
        target.uri,
        "https://accounts.google.com/.well-known/openid-configuration"
    );
}

#[test]
fn the_audience_claim_is_configurable_and_defaults_to_aud() {
    let config = config::load(document(|_| {}).to_string().as_bytes()).unwrap();
    assert_eq!(config.providers[0].claims.audience_claim, "aud");
    let doc = document(|p| p["audience_claim"] = json!("client_id"));
    let config = config::load(doc.to_string().as_bytes()).unwrap();
    assert_eq!(config.providers[0].claims.audience_claim, "client_id");
}

#[test]
fn issuer_setting_mistakes_are_refused_with_their_path() {
    let base = "providers.entra";
    let cases: Vec<(&str, Value, Errors)> = vec![
        (
            "issuer and issuers",
            document(|p| p["issuer"] = json!("https://idp")),
            vec![(base.into(), K::ExactlyOneOf(&["issuer", "issuers"]))],
        ),
        (
            "neither issuer nor issuers",
            document(|p| {
                p.as_object_mut().unwrap().remove("issuers");
            }),
            vec![(base.into(), K::ExactlyOneOf(&["issuer", "issuers"]))],
        ),
        (
            "empty issuers",
            document(|p| p["issuers"] = json!([])),
            vec![(format!("{base}.issuers"), K::EmptyList)],
        ),
        (
            "an issuer listed twice",
            document(|p| p["issuers"] = json!([TEMPLATE, TEMPLATE])),
            vec![(
                format!("{base}.issuers[1]"),
                K::DuplicateIssuer(TEMPLATE.into()),
            )],
        ),
        (
            "a template without tenants",
            document(|p| {
                p.as_object_mut().unwrap().remove("tenants");
            }),
            vec![(
                format!("{base}.tenants"),
                K::Issuer(IssuerError::TemplateWithoutTenants),
            )],
        ),
        (
            "tenants without a template",
            document(|p| p["issuers"] = json!(["https://idp.test"])),
            vec![(
                format!("{base}.tenants"),
                K::Issuer(IssuerError::TenantsWithoutTemplate),
            )],
        ),
        (
            "another placeholder",
            document(|p| p["issuers"] = json!(["https://idp/{tenant}/v2.0"])),
            vec![(
                format!("{base}.issuers"),
                K::Issuer(IssuerError::InvalidTemplate),
            )],
        ),
        (
            "tenants with both a list and a pattern",
            document(|p| p["tenants"]["pattern"] = json!("[0-9a-f-]{36}")),
            vec![(
                format!("{base}.tenants"),
                K::ExactlyOneOf(&["allowed", "pattern"]),
            )],
        ),
        (
            "an empty tenant list",
            document(|p| p["tenants"]["allowed"] = json!([])),
            vec![(format!("{base}.tenants.allowed"), K::EmptyList)],
        ),
        (
            "an empty tenant claim",
            document(|p| p["tenants"]["claim"] = json!("")),
            vec![(format!("{base}.tenants.claim"), K::EmptyString)],
        ),
        (
            "discovery of a template without a URL",
            document(|p| p["jwks"] = json!({"oidc_discovery": {"cluster": "idp"}})),
            vec![(
                format!("{base}.jwks.oidc_discovery.uri"),
                K::DiscoveryUriRequired,
            )],
        ),
        (
            "an empty audience claim",
            document(|p| p["audience_claim"] = json!("")),
            vec![(format!("{base}.audience_claim"), K::EmptyString)],
        ),
    ];
    for (name, doc, want) in cases {
        assert_eq!(errors(&doc), want, "{name}");
    }
}

#[test]
fn an_invalid_tenant_pattern_is_refused_with_its_path() {
    let doc = document(|p| p["tenants"] = json!({"pattern": "(unclosed"}));
    let errors = errors(&doc);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "providers.entra.tenants.pattern");
    assert!(matches!(errors[0].1, K::InvalidRegex(_)));
}
