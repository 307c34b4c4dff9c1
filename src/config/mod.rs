//! Plugin configuration: serde types (what the user writes, [`raw`]) → validation with
//! JSON paths → the compiled [`Config`] the request path reads.
//!
//! [`load`] reports every problem it finds, each with its path
//! (`rules[3].require.providers.any[0]: unknown provider "crop"`), so a bad
//! configuration is fixed in one round instead of one error per deployment.
//!
//! Istio passes `pluginConfig` as a JSON string, and some tooling encodes it once more:
//! a document that is a JSON *string* is decoded once and its content loaded as the
//! configuration. Only one level is unwrapped — a string inside a string is an error.

pub mod bounds;
mod compile;
mod error;
mod fetch_plan;
mod json_path;
pub mod raw;
mod warning;

pub use compile::DEFAULT_REALM;
pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use fetch_plan::{FetchPlan, FetchPolicy, Step};
pub use warning::{ConfigWarning, ConfigWarningKind};

use std::sync::Arc;

use crate::claims::ClaimRequirements;
use crate::decision::DenyReason;
use crate::extract::TokenSource;
use crate::jwa::Algorithm;
use crate::jwks::ParsedKeySet;
pub use crate::policy::OnOutage;
use crate::policy::{self, Action, HeaderOutput, OutputPlan, Rule, RuleSelection, SelectedRule};
pub use crate::provider_id::ProviderId;
use crate::request::{PathPolicy, Request, Target};

/// Largest configuration accepted. Real configurations are a few KiB; 1 MiB leaves
/// room for large inline key sets while bounding parse time in `on_configure`.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Which decisions are recorded as filter state (`wasm.claimcheck.*`) for Envoy's access log.
/// Each recorded value is one host call, and the five of an allowed request were a third of
/// what a cached request cost, so by default only refusals (the decisions an operator has to
/// explain) are recorded; an allowed request's identity is in the headers its provider sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AccessLog {
    /// Every decision.
    All,
    /// Refusals, and the refusals a dry run lets through.
    #[default]
    Refusals,
    /// None.
    Off,
}

impl AccessLog {
    /// Whether a decision that is (or, in a dry run, would be) a refusal or not is recorded.
    pub fn records(self, refusal: bool) -> bool {
        match self {
            AccessLog::All => true,
            AccessLog::Refusals => refusal,
            AccessLog::Off => false,
        }
    }
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Indexed by [`ProviderId`].
    pub providers: Vec<Provider>,
    /// In order; the first match wins.
    pub rules: Vec<Rule>,
    /// The action when no rule matches.
    pub default: Action,
    pub dry_run: bool,
    pub token_cache: TokenCacheSettings,
    /// `realm` of `WWW-Authenticate`; a safe quoted-string.
    pub realm: String,
    /// Where signatures are verified; the shell probes the host before trusting it.
    pub crypto: crate::crypto::CryptoChoice,
    /// The canonical form rules match request paths in.
    pub paths: PathPolicy,
    /// Which decisions the filter writes to the request's filter state.
    pub access_log: AccessLog,
    /// Every identity header of every provider, lowercase, deduplicated; shared with
    /// every allowed request, which loses them all.
    identity_headers: Arc<[String]>,
    /// The names verdicts report when no rule was selected ([`policy::DEFAULT_RULE_NAME`],
    /// [`policy::REQUEST_RULE_NAME`]), shared like the rules' own names.
    default_rule_name: Arc<str>,
    request_rule_name: Arc<str>,
    /// Whether some rule matches on the route name (decided once, read per request).
    uses_route_name: bool,
    /// The connection attributes some rule reads (decided once, read per request).
    peer_reads: crate::peer::PeerReads,
    /// Issuer routing and token sources, fixed by the providers.
    routes: Routes,
    /// What loads but deserves a second look (see [`ConfigWarning`]).
    warnings: Vec<ConfigWarning>,
}

/// What the request path needs to know about the providers as a whole, computed once so no
/// request rebuilds it: which providers an issuer's tokens go to, and which token sources an
/// allowed request loses.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// Exact `iss` → the providers with that issuer, in configuration order. Issuer forms
    /// that are not one exact string belong in a short list tried after this map.
    by_issuer: std::collections::HashMap<String, Vec<ProviderId>>,
    /// The providers with `{tenantid}` issuer templates, tried after the map.
    templated: Vec<ProviderId>,
    /// Every provider, in order: the providers an `allow` rule judges a token with.
    all: Vec<ProviderId>,
    /// Every provider's token sources, deduplicated: stripped from an allowed request.
    sources: Vec<TokenSource>,
    /// By provider: the sources to strip when that provider accepted the token and forwards
    /// it (all but its own); `None` for providers that do not forward.
    sources_kept_for: Vec<Option<Vec<TokenSource>>>,
    /// The `DPoP` header as a source to strip, when some provider has DPoP on: a proof
    /// never reaches the upstream unless the accepting provider forwards it.
    proof_sources: Vec<TokenSource>,
}

impl Routes {
    fn compile(providers: &[Provider]) -> Routes {
        let mut routes = Routes::default();
        for p in providers {
            for issuer in p.claims.issuers.exact_issuers() {
                let ids = routes.by_issuer.entry(issuer.clone()).or_default();
                if !ids.contains(&p.id) {
                    ids.push(p.id);
                }
            }
            if !p.claims.issuers.templates().is_empty() {
                routes.templated.push(p.id);
            }
            routes.all.push(p.id);
            for source in &p.sources {
                if !routes.sources.contains(source) {
                    routes.sources.push(source.clone());
                }
            }
        }
        if providers.iter().any(|p| p.dpop.is_some()) {
            routes.proof_sources.push(TokenSource::Header {
                name: crate::dpop::PROOF_HEADER.to_owned(),
                prefix: String::new(),
            });
        }
        routes.sources_kept_for = providers
            .iter()
            .map(|p| {
                p.forward_token.then(|| {
                    routes
                        .sources
                        .iter()
                        .filter(|source| !p.sources.contains(source))
                        .cloned()
                        .collect()
                })
            })
            .collect();
        routes
    }
}

impl Config {
    pub fn provider(&self, id: ProviderId) -> Option<&Provider> {
        self.providers.get(id.0)
    }

    /// The first rule whose match holds, else the default. `target` is the request's
    /// canonical method and path (`request.target(&config.paths)`).
    pub fn select_rule(&self, request: &Request, target: &Target) -> SelectedRule<'_> {
        policy::first_match(&self.rules, request, target).unwrap_or_else(|| self.default_rule())
    }

    /// [`Config::select_rule`], with the reasons each earlier rule did not match.
    pub fn explain_rules(&self, request: &Request, target: &Target) -> RuleSelection<'_> {
        let (rules, selected) = policy::explain_matches(&self.rules, request, target);
        RuleSelection {
            rules,
            selected: selected.unwrap_or_else(|| self.default_rule()),
        }
    }

    fn default_rule(&self) -> SelectedRule<'_> {
        SelectedRule {
            index: None,
            name: &self.default_rule_name,
            action: &self.default,
            dry_run: self.dry_run,
        }
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Every header claimcheck sets from a token (`claims_to_headers`,
    /// `payload_header`, all providers). Strip these from every client request before
    /// anything is added: a client must not be able to claim an identity by sending
    /// `x-user-id` itself.
    pub fn identity_header_names(&self) -> &Arc<[String]> {
        &self.identity_headers
    }

    /// The name a verdict reports for a request refused before any rule was selected.
    pub fn request_rule_name(&self) -> &Arc<str> {
        &self.request_rule_name
    }

    /// The providers with `iss` among their exact issuers, in configuration order.
    pub fn providers_for_issuer(&self, iss: &str) -> &[ProviderId] {
        self.routes.by_issuer.get(iss).map_or(&[], Vec::as_slice)
    }

    /// Whether a token with these claims goes to `provider`: its `iss` is one of the
    /// provider's exact issuers (the map), or fills one of the provider's `{tenantid}`
    /// templates with an allowed tenant that the token names (see [`crate::issuer`]).
    pub fn routes_to(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        provider: ProviderId,
    ) -> bool {
        let Some(iss) = claims.get("iss").and_then(serde_json::Value::as_str) else {
            return false;
        };
        self.providers_for_issuer(iss).contains(&provider)
            || (self.routes.templated.contains(&provider)
                && self.provider(provider).is_some_and(|p| {
                    p.claims
                        .issuers
                        .templates()
                        .iter()
                        .any(|template| template.accepts(iss, claims))
                }))
    }

    /// Every provider, in configuration order.
    pub fn all_providers(&self) -> &[ProviderId] {
        &self.routes.all
    }

    /// The token sources an allowed request loses: every provider's, except those of
    /// `forwarding`, the accepted provider that forwards its token (if any).
    pub fn token_sources_to_strip(&self, forwarding: Option<ProviderId>) -> &[TokenSource] {
        let kept = forwarding
            .and_then(|id| self.routes.sources_kept_for.get(id.index()))
            .and_then(Option::as_ref);
        match kept {
            Some(kept) => kept,
            None => &self.routes.sources,
        }
    }

    /// The `DPoP` header as a source, when some provider has DPoP on (else empty).
    pub fn proof_sources(&self) -> &[TokenSource] {
        &self.routes.proof_sources
    }

    /// Whether some rule matches on Envoy's route name, which costs a property lookup per
    /// request to read.
    pub fn uses_route_name(&self) -> bool {
        self.uses_route_name
    }

    /// The connection attributes some rule reads: the shell reads these and no others.
    pub fn peer_reads(&self) -> crate::peer::PeerReads {
        self.peer_reads
    }

    /// Accepted, but worth a second look: rules the client can steer, inline keys skipped.
    /// `claimcheck validate` prints them; the filter logs them when it loads the configuration.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

/// One token issuer.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: ProviderId,
    /// The key in `providers`.
    pub name: String,
    /// The first configured issuer, as written (the one discovery must announce); every
    /// accepted issuer is in `claims.issuers`.
    pub issuer: String,
    /// Accepted algorithms (deduplicated, non-empty).
    pub algorithms: Vec<Algorithm>,
    pub jwks: JwksSource,
    pub refresh: Refresh,
    /// How this provider's keys are fetched; `None` for inline keys.
    pub fetch: Option<FetchPlan>,
    pub cold_start: ColdStart,
    /// Non-empty.
    pub sources: Vec<TokenSource>,
    pub claims: ClaimRequirements,
    pub forward_token: bool,
    pub claims_to_headers: Vec<HeaderOutput>,
    /// Lowercase.
    pub payload_header: Option<String>,
    /// Longest token this provider accepts (at most [`crate::jwt::MAX_TOKEN_LEN`]).
    pub max_token_bytes: usize,
    /// DPoP (RFC 9449), when not `off`.
    pub dpop: Option<crate::dpop::DpopPolicy>,
    /// The index in `sources` of `Authorization: DPoP`, present exactly when `dpop` is.
    pub dpop_source: Option<usize>,
    /// RFC 8705: whether `cnf.x5t#S256` must match the client certificate.
    pub certificate_binding: crate::certificate_binding::CertificateBinding,
    /// Token introspection (RFC 7662), when configured.
    pub introspection: Option<Introspection>,
    /// How this provider's revocation list is fetched; `None` without one (nothing checked).
    pub revocation: Option<FetchPlan>,
}

impl Provider {
    /// A provider without keys takes opaque tokens: introspection is its only check.
    pub fn is_opaque(&self) -> bool {
        matches!(self.jwks, JwksSource::None)
    }
}

/// A provider's introspection endpoint, how claimcheck authenticates to it, and how its
/// answers are cached, compiled once.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub endpoint: HttpTarget,
    /// The `authorization` header value of every call (from `client_auth`).
    pub auth_header: String,
    pub policy: crate::introspect::IntrospectionPolicy,
    /// The shared-data key of slot `n` is this prefix followed by `n`; the prefix holds a
    /// digest of the issuer, cluster, URL and client, so two listeners configuring one
    /// provider name differently never share answers.
    pub key_prefix: String,
}

impl Introspection {
    /// The shared-data key of `slot`.
    pub fn slot_key(&self, slot: u32) -> String {
        format!("{}{slot}", self.key_prefix)
    }
}

impl Provider {
    /// The identity headers this provider's verified token adds to the request.
    pub fn output_plan(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        payload_segment: Option<&str>,
    ) -> OutputPlan {
        policy::output_plan(
            &self.claims_to_headers,
            self.payload_header.as_deref(),
            claims,
            payload_segment,
        )
    }
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    Remote(HttpTarget),
    /// The discovery document's URL; its `jwks_uri` is then fetched through the same
    /// cluster.
    OidcDiscovery(HttpTarget),
    /// Parsed once at configuration time.
    Inline(ParsedKeySet),
    /// No keys: the provider has `introspection` and takes opaque tokens.
    None,
}

/// An HTTP resource reached through an Envoy cluster, pre-split for
/// `dispatch_http_call` (`:authority`, `:path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub cluster: String,
    pub uri: String,
    pub authority: String,
    /// Path plus query, at least `/`.
    pub path: String,
    pub timeout_ms: u64,
}

/// Where a provider's revocation list comes from and how fresh it is kept, as configured
/// (compiled into the list's [`FetchPlan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationSource {
    pub target: HttpTarget,
    pub interval_s: u64,
    /// The shortest interval a stated lifetime (`Cache-Control: max-age`) may set; a stated
    /// lifetime never lengthens `interval_s`, the bound on how late a revocation takes effect.
    pub min_interval_s: u64,
    /// A list older than this refuses every token of the provider (fail closed).
    pub max_stale_s: u64,
    /// The largest list document accepted.
    pub max_bytes: usize,
}

/// Key-set refresh schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub interval_s: u64,
    /// The shortest refresh interval an IdP's stated lifetime (`Cache-Control: max-age`,
    /// `Expires`) may set; never above `interval_s`.
    pub min_interval_s: u64,
    /// How long the last good keys keep serving when refreshes fail.
    pub max_stale_s: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Least time between two refetches triggered by an unknown `kid`.
    pub unknown_kid_min_interval_s: u64,
}

/// What a request does while its provider's keys are not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    /// 0 = do not wait.
    pub max_wait_ms: u64,
    pub on_timeout: OnTimeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// 503 with `Retry-After`.
    Unavailable,
    /// 401 `invalid_token`.
    Deny,
}

impl OnTimeout {
    /// The refusal for a request that waited `max_wait_ms` without keys.
    pub fn deny_reason(self) -> DenyReason {
        match self {
            OnTimeout::Unavailable => DenyReason::KeysWaitTimeout,
            OnTimeout::Deny => DenyReason::KeysWaitTimeoutDenied,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheSettings {
    /// 0 disables the cache.
    pub max_entries: usize,
}

/// Parses, validates and compiles a configuration.
pub fn load(json: &[u8]) -> Result<Config, ConfigErrors> {
    let raw = parse(json)?;
    compile::compile(raw)
}

/// Parses without semantic validation (type errors carry their JSON path).
pub fn parse(json: &[u8]) -> Result<raw::RawConfig, ConfigErrors> {
    let one = |path: &str, kind| ConfigErrors(vec![ConfigError::new(path, kind)]);
    if json.len() > MAX_CONFIG_BYTES {
        return Err(one(
            "",
            ConfigErrorKind::TooLarge {
                max: MAX_CONFIG_BYTES,
            },
        ));
    }
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(one("", ConfigErrorKind::Empty));
    }
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'"') {
        let inner: String = serde_json::from_slice(json)
            .map_err(|e| one("", ConfigErrorKind::Invalid(e.to_string())))?;
        if inner.trim_start().starts_with('"') {
            return Err(one(
                "",
                ConfigErrorKind::Invalid("configuration is encoded as a string twice".to_owned()),
            ));
        }
        return parse(inner.as_bytes());
    }
    serde_json::from_slice(json).map_err(|error| {
        let message = error.to_string();
        let offset = json_path::offset_of(json, error.line(), error.column());
        let path = json_path::at(json, offset, json_path::AtName::for_message(&message));
        one(&path, ConfigErrorKind::Invalid(message))
    })
}

/// The JSON Schema of the configuration: generated from the serde types, then given the
/// loader's own bounds, defaults and descriptions ([`bounds`]), so that what the schema
/// accepts is what [`load`] accepts, field by field.
#[cfg(feature = "schema")]
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(raw::RawConfig))
        .unwrap_or(serde_json::Value::Null);
    apply_bounds(&mut schema);
    schema
}

/// The schema object of `definition.field` (`Configuration` is the root).
#[cfg(feature = "schema")]
fn field_schema<'s>(
    schema: &'s mut serde_json::Value,
    definition: &str,
    field: &str,
) -> Option<&'s mut serde_json::Map<String, serde_json::Value>> {
    let object = if definition == "Configuration" {
        schema
    } else {
        schema.get_mut("definitions")?.get_mut(definition)?
    };
    object
        .get_mut("properties")?
        .get_mut(field)?
        .as_object_mut()
}

#[cfg(feature = "schema")]
fn apply_bounds(schema: &mut serde_json::Value) {
    use bounds::{DefaultValue, DEFAULTS, LIMITS, NUMERIC, PROVIDER_ID_MAX_LEN};
    use serde_json::json;
    for n in NUMERIC {
        if let Some(field) = field_schema(schema, n.definition, n.field) {
            let (default, min, max) = n.range;
            field.insert("minimum".into(), json!(min));
            field.insert("maximum".into(), json!(max));
            if n.has_default {
                field.insert("default".into(), json!(default));
            }
            field.insert("description".into(), json!(n.description));
        }
    }
    for d in DEFAULTS {
        if let Some(field) = field_schema(schema, d.definition, d.field) {
            let value = match d.value {
                DefaultValue::Bool(b) => json!(b),
                DefaultValue::Str(s) => json!(s),
                DefaultValue::BearerHeader => json!([{
                    "header": bounds::DEFAULT_SOURCE_HEADER,
                    "prefix": bounds::DEFAULT_SOURCE_PREFIX
                }]),
            };
            field.insert("default".into(), value);
        }
    }
    for l in LIMITS {
        if let Some(field) = field_schema(schema, l.definition, l.field) {
            field.insert(l.keyword.into(), json!(l.max));
        }
    }
    // `audiences` is an `Option` in the serde types so that its absence is reported with
    // the loader's own message; the schema says it is required all the same.
    if let Some(provider) = schema
        .get_mut("definitions")
        .and_then(|d| d.get_mut("Provider"))
        .and_then(serde_json::Value::as_object_mut)
    {
        let required = provider.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            if !list.contains(&json!("audiences")) {
                list.insert(0, json!("audiences"));
            }
        }
    }
    if let Some(providers) = field_schema(schema, "Configuration", "providers") {
        providers.insert(
            "propertyNames".into(),
            json!({ "pattern": format!("^[A-Za-z0-9_-]{{1,{PROVIDER_ID_MAX_LEN}}}$") }),
        );
    }
}

/// [`json_schema`] as pretty JSON with a trailing newline (the committed file's form).
#[cfg(feature = "schema")]
pub fn json_schema_string() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}
