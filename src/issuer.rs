//! Which `iss` values a provider accepts, compiled once from its configuration.
//!
//! Strict by default: an issuer is compared as an exact, case-sensitive string (RFC 7519
//! §4.1.1, OIDC Core §3.1.3.7). Identity providers differ in two ways that a strict filter must
//! handle on purpose, never by loosening the comparison:
//!
//! - **Several spellings of one issuer.** Google issues ID tokens with `iss` either
//!   `https://accounts.google.com` or `accounts.google.com`; Entra ID issues v1 and v2 tokens
//!   under different issuers. A provider lists every exact value it accepts.
//! - **One issuer per tenant.** A multi-tenant Entra ID application receives tokens whose `iss`
//!   is `https://login.microsoftonline.com/<tenant id>/v2.0`, and the `common`/`organizations`
//!   discovery document announces the template `https://login.microsoftonline.com/{tenantid}/v2.0`.
//!   An issuer containing `{tenantid}` is such a template. It accepts a token only when the
//!   token's tenant claim (`tid`) is an allowed tenant **and** `iss` is the template with exactly
//!   that tenant put in: a token of an allowed tenant cannot borrow another tenant's issuer,
//!   and no tenant outside the configured list or pattern is ever accepted.
//!
//! Exact issuers are exposed separately from templates so a caller can index providers by
//! issuer and try templates only as a fallback.

use serde_json::{Map, Value};
use std::fmt;

use crate::pattern::Pattern;

/// The placeholder Entra ID's multi-tenant discovery documents put where the tenant id goes.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The claim holding the tenant when none is configured: Entra ID's tenant id claim.
pub const DEFAULT_TENANT_CLAIM: &str = "tid";

/// Longest tenant value a template accepts. Entra tenant ids are 36-character GUIDs; 128
/// leaves room for other IdPs' tenant names while bounding the comparison.
pub const MAX_TENANT_LEN: usize = 128;

/// The issuers a provider accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuers {
    /// As configured, in order. The first is the one the provider's discovery document must
    /// announce (a template, literally, for a multi-tenant discovery endpoint).
    written: Vec<String>,
    exact: Vec<String>,
    templates: Vec<IssuerTemplate>,
}

/// An issuer with one [`TENANT_PLACEHOLDER`], and the tenants it may be filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    prefix: String,
    suffix: String,
    tenants: Tenants,
}

/// Which tenants a template accepts, and where a token names its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenants {
    /// Top-level claim holding the tenant (default [`DEFAULT_TENANT_CLAIM`]).
    pub claim: String,
    pub allowed: AllowedTenants,
}

#[derive(Debug, Clone)]
pub enum AllowedTenants {
    /// Exactly these tenant values.
    List(Vec<String>),
    /// Tenant values the (full-match) pattern accepts.
    Pattern(Pattern),
}

/// Patterns compare by their source: the same text compiles to the same matcher.
impl PartialEq for AllowedTenants {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (AllowedTenants::List(a), AllowedTenants::List(b)) => a == b,
            (AllowedTenants::Pattern(a), AllowedTenants::Pattern(b)) => a.source() == b.source(),
            _ => false,
        }
    }
}

impl Eq for AllowedTenants {}

/// Why a list of issuers cannot be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerError {
    /// `{` or `}` other than one `{tenantid}`.
    InvalidTemplate,
    /// A template is configured, but no `tenants` say which tenants it accepts.
    TemplateWithoutTenants,
    /// `tenants` is configured, but no issuer is a template.
    TenantsWithoutTemplate,
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerError::InvalidTemplate => write!(
                f,
                "an issuer template holds exactly one {TENANT_PLACEHOLDER} and no other braces"
            ),
            IssuerError::TemplateWithoutTenants => write!(
                f,
                "an issuer with {TENANT_PLACEHOLDER} needs \"tenants\" listing the tenants it accepts"
            ),
            IssuerError::TenantsWithoutTemplate => write!(
                f,
                "\"tenants\" applies only to an issuer with {TENANT_PLACEHOLDER}"
            ),
        }
    }
}

impl std::error::Error for IssuerError {}

impl Issuers {
    /// One exact issuer.
    pub fn exact(issuer: impl Into<String>) -> Issuers {
        let issuer = issuer.into();
        Issuers {
            written: vec![issuer.clone()],
            exact: vec![issuer],
            templates: Vec::new(),
        }
    }

    /// Compiles configured issuers (exact values and `{tenantid}` templates). `tenants` is
    /// required exactly when some issuer is a template. The caller guarantees `written` is
    /// non-empty.
    pub fn compile(written: &[String], tenants: Option<Tenants>) -> Result<Issuers, IssuerError> {
        let mut issuers = Issuers {
            written: written.to_vec(),
            exact: Vec::new(),
            templates: Vec::new(),
        };
        for issuer in written {
            match split_template(issuer)? {
                None => issuers.exact.push(issuer.clone()),
                Some((prefix, suffix)) => {
                    let tenants = tenants.clone().ok_or(IssuerError::TemplateWithoutTenants)?;
                    issuers.templates.push(IssuerTemplate {
                        prefix: prefix.to_owned(),
                        suffix: suffix.to_owned(),
                        tenants,
                    });
                }
            }
        }
        if tenants.is_some() && issuers.templates.is_empty() {
            return Err(IssuerError::TenantsWithoutTemplate);
        }
        Ok(issuers)
    }

    /// The first configured issuer, as written: the one a discovery document must announce.
    pub fn primary(&self) -> &str {
        self.written.first().map(String::as_str).unwrap_or_default()
    }

    /// Every configured issuer, as written.
    pub fn written(&self) -> &[String] {
        &self.written
    }

    /// The exact issuers: a token whose `iss` is one of these is this provider's.
    pub fn exact_issuers(&self) -> &[String] {
        &self.exact
    }

    pub fn templates(&self) -> &[IssuerTemplate] {
        &self.templates
    }

    /// Whether a token with this `iss` and these claims comes from this provider.
    pub fn accepts(&self, iss: &str, claims: &Map<String, Value>) -> bool {
        self.exact.iter().any(|exact| exact == iss)
            || self
                .templates
                .iter()
                .any(|template| template.accepts(iss, claims))
    }
}

impl IssuerTemplate {
    /// The token's tenant claim is an allowed tenant, and `iss` is this template filled with
    /// exactly that tenant.
    pub fn accepts(&self, iss: &str, claims: &Map<String, Value>) -> bool {
        let Some(tenant) = claims.get(&self.tenants.claim).and_then(Value::as_str) else {
            return false;
        };
        if tenant.is_empty() || tenant.len() > MAX_TENANT_LEN || !self.tenants.allows(tenant) {
            return false;
        }
        iss.len() == self.prefix.len() + tenant.len() + self.suffix.len()
            && iss.starts_with(&self.prefix)
            && iss.ends_with(&self.suffix)
            && iss.get(self.prefix.len()..self.prefix.len() + tenant.len()) == Some(tenant)
    }
}

impl Tenants {
    fn allows(&self, tenant: &str) -> bool {
        match &self.allowed {
            AllowedTenants::List(list) => list.iter().any(|allowed| allowed == tenant),
            // A tenant only ever fills one path segment or host label.
            AllowedTenants::Pattern(pattern) => {
                !tenant.contains(['/', '?', '#', '@']) && pattern.is_match(tenant)
            }
        }
    }
}

/// `Some((prefix, suffix))` around the one placeholder of a template, `None` for an exact
/// issuer.
fn split_template(issuer: &str) -> Result<Option<(&str, &str)>, IssuerError> {
    let Some((prefix, suffix)) = issuer.split_once(TENANT_PLACEHOLDER) else {
        return if issuer.contains(['{', '}']) {
            Err(IssuerError::InvalidTemplate)
        } else {
            Ok(None)
        };
    };
    if prefix.contains(['{', '}']) || suffix.contains(['{', '}']) {
        return Err(IssuerError::InvalidTemplate);
    }
    Ok(Some((prefix, suffix)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TENANT_A: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
    const TENANT_B: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const V2: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const V1: &str = "https://sts.windows.net/{tenantid}/";

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn listed(tenants: &[&str]) -> Option<Tenants> {
        Some(Tenants {
            claim: DEFAULT_TENANT_CLAIM.to_owned(),
            allowed: AllowedTenants::List(tenants.iter().map(|t| (*t).to_owned()).collect()),
        })
    }

    fn entra(tenants: Option<Tenants>) -> Issuers {
        Issuers::compile(&[V2.to_owned(), V1.to_owned()], tenants).unwrap()
    }

    fn v2(tenant: &str) -> String {
        V2.replace(TENANT_PLACEHOLDER, tenant)
    }

    #[test]
    fn an_exact_issuer_accepts_only_itself() {
        let issuers = Issuers::exact("https://tenant.auth0.com/");
        let none = claims(json!({}));
        assert!(issuers.accepts("https://tenant.auth0.com/", &none));
        assert!(!issuers.accepts("https://tenant.auth0.com", &none));
        assert!(!issuers.accepts("https://TENANT.auth0.com/", &none));
    }

    #[test]
    fn every_listed_spelling_is_accepted_and_no_other() {
        let google = ["https://accounts.google.com", "accounts.google.com"].map(str::to_owned);
        let issuers = Issuers::compile(&google, None).unwrap();
        let none = claims(json!({}));
        assert!(issuers.accepts("https://accounts.google.com", &none));
        assert!(issuers.accepts("accounts.google.com", &none));
        assert!(!issuers.accepts("http://accounts.google.com", &none));
        assert_eq!(issuers.primary(), "https://accounts.google.com");
        assert_eq!(issuers.exact_issuers(), &google);
    }

    #[test]
    fn a_template_accepts_an_allowed_tenant_whose_iss_names_it() {
        let issuers = entra(listed(&[TENANT_A]));
        let token = claims(json!({ "tid": TENANT_A }));
        assert!(issuers.accepts(&v2(TENANT_A), &token));
        assert!(issuers.accepts(&format!("https://sts.windows.net/{TENANT_A}/"), &token));
    }

    #[test]
    fn a_template_refuses_a_tenant_outside_the_list() {
        let issuers = entra(listed(&[TENANT_A]));
        let token = claims(json!({ "tid": TENANT_B }));
        assert!(!issuers.accepts(&v2(TENANT_B), &token));
    }

    #[test]
    fn a_template_refuses_an_iss_naming_another_tenant_than_tid() {
        let issuers = entra(listed(&[TENANT_A, TENANT_B]));
        let token = claims(json!({ "tid": TENANT_A }));
        assert!(!issuers.accepts(&v2(TENANT_B), &token));
    }

    #[test]
    fn a_template_refuses_a_token_without_a_string_tenant_claim() {
        let issuers = entra(listed(&[TENANT_A]));
        for token in [json!({}), json!({"tid": 7}), json!({"tid": ""})] {
            assert!(
                !issuers.accepts(&v2(TENANT_A), &claims(token.clone())),
                "{token}"
            );
        }
    }

    #[test]
    fn a_template_refuses_the_template_itself_and_near_misses() {
        let issuers = entra(listed(&[TENANT_A]));
        let token = claims(json!({ "tid": TENANT_A }));
        for iss in [
            V2.to_owned(),
            format!("{}/", v2(TENANT_A)),
            format!("https://login.microsoftonline.com/{TENANT_A}/v2.0x"),
            format!("http://login.microsoftonline.com/{TENANT_A}/v2.0"),
        ] {
            assert!(!issuers.accepts(&iss, &token), "{iss}");
        }
    }

    #[test]
    fn a_tenant_pattern_accepts_what_it_matches_within_one_segment() {
        let tenants = Tenants {
            claim: "tid".to_owned(),
            allowed: AllowedTenants::Pattern(Pattern::new("[0-9a-f-]{36}").unwrap()),
        };
        let issuers = entra(Some(tenants));
        let token = claims(json!({ "tid": TENANT_B }));
        assert!(issuers.accepts(&v2(TENANT_B), &token));
        let short = claims(json!({ "tid": "contoso" }));
        assert!(!issuers.accepts(&v2("contoso"), &short));
        let any = Tenants {
            claim: "tid".to_owned(),
            allowed: AllowedTenants::Pattern(Pattern::new(".+").unwrap()),
        };
        let issuers = entra(Some(any));
        let slash = claims(json!({ "tid": "a/b" }));
        assert!(!issuers.accepts(&v2("a/b"), &slash));
    }

    #[test]
    fn the_tenant_claim_is_configurable() {
        let tenants = Tenants {
            claim: "org_id".to_owned(),
            allowed: AllowedTenants::List(vec!["acme".to_owned()]),
        };
        let issuers = Issuers::compile(
            &["https://idp.test/orgs/{tenantid}".to_owned()],
            Some(tenants),
        )
        .unwrap();
        let token = claims(json!({ "org_id": "acme", "tid": "other" }));
        assert!(issuers.accepts("https://idp.test/orgs/acme", &token));
    }

    #[test]
    fn malformed_templates_and_mismatched_tenants_are_refused() {
        let cases: Vec<(&[&str], Option<Tenants>, IssuerError)> = vec![
            (
                &["https://idp/{tenant}"],
                listed(&["a"]),
                IssuerError::InvalidTemplate,
            ),
            (
                &["https://idp/{tenantid}/{tenantid}"],
                listed(&["a"]),
                IssuerError::InvalidTemplate,
            ),
            (
                &["https://idp/{tenantid}"],
                None,
                IssuerError::TemplateWithoutTenants,
            ),
            (
                &["https://idp"],
                listed(&["a"]),
                IssuerError::TenantsWithoutTemplate,
            ),
        ];
        for (written, tenants, want) in cases {
            let written: Vec<String> = written.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(
                Issuers::compile(&written, tenants).err(),
                Some(want),
                "{written:?}"
            );
        }
    }

    #[test]
    fn the_primary_issuer_of_a_multi_tenant_provider_is_its_template_as_written() {
        assert_eq!(entra(listed(&[TENANT_A])).primary(), V2);
        assert_eq!(entra(listed(&[TENANT_A])).templates().len(), 2);
    }
}
