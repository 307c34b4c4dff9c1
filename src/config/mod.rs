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

mod compile;
mod error;
pub mod raw;

pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};

use crate::claims::ClaimRequirements;
use crate::decision::DenyReason;
use crate::extract::TokenSource;
use crate::jwks::ParsedKeySet;
use crate::jwt::Algorithm;
use crate::policy::{Action, HeaderOutput, Rule};
use crate::request::PathPolicy;

/// Largest configuration accepted. Real configurations are a few KiB; 1 MiB leaves
/// room for large inline key sets while bounding parse time in `on_configure`.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// A provider's index in [`Config::providers`], in configuration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(pub usize);

impl ProviderId {
    pub fn index(self) -> usize {
        self.0
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
    pub token_cache: TokenCache,
    /// `realm` of `WWW-Authenticate`; a safe quoted-string.
    pub realm: String,
    /// The canonical form rules match request paths in.
    pub paths: PathPolicy,
    /// Every identity header of every provider, lowercase, deduplicated.
    identity_headers: Vec<String>,
    /// Whether some rule matches on the route name (decided once, read per request).
    uses_route_name: bool,
}

impl Config {
    pub fn provider(&self, id: ProviderId) -> Option<&Provider> {
        self.providers.get(id.0)
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Every header claimcheck sets from a token (`claims_to_headers`,
    /// `payload_header`, all providers). Strip these from every client request before
    /// anything is added: a client must not be able to claim an identity by sending
    /// `x-user-id` itself.
    pub fn identity_header_names(&self) -> &[String] {
        &self.identity_headers
    }

    /// Whether some rule matches on Envoy's route name, which costs a property lookup per
    /// request to read.
    pub fn uses_route_name(&self) -> bool {
        self.uses_route_name
    }
}

/// One token issuer.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: ProviderId,
    /// The key in `providers`.
    pub name: String,
    pub issuer: String,
    /// Accepted algorithms (deduplicated, non-empty).
    pub algorithms: Vec<Algorithm>,
    pub jwks: JwksSource,
    pub refresh: Refresh,
    pub cold_start: ColdStart,
    /// Non-empty.
    pub sources: Vec<TokenSource>,
    pub claims: ClaimRequirements,
    pub forward_token: bool,
    pub claims_to_headers: Vec<HeaderOutput>,
    /// Lowercase.
    pub payload_header: Option<String>,
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

/// Key-set refresh schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub interval_s: u64,
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
pub struct TokenCache {
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
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw: raw::RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        one(&path, ConfigErrorKind::Invalid(e.into_inner().to_string()))
    })?;
    de.end()
        .map_err(|e| one("", ConfigErrorKind::Invalid(e.to_string())))?;
    Ok(raw)
}

/// The JSON Schema of the configuration, generated from the serde types.
#[cfg(feature = "schema")]
pub fn json_schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(raw::RawConfig)
}

/// [`json_schema`] as pretty JSON with a trailing newline (the committed file's form).
#[cfg(feature = "schema")]
pub fn json_schema_string() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}
