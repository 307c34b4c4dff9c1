//! Validation and compilation: [`RawConfig`] → [`Config`], collecting every error.

use super::error::{ConfigError, ConfigErrorKind as K, ConfigErrors};
use super::raw::*;
use super::{
    ColdStart, Config, FetchPlan, HttpTarget, Introspection, JwksSource, OnOutage, OnTimeout,
    Provider, ProviderId, Refresh, RevocationSource, Routes, TokenCacheSettings,
};
use crate::certificate_binding::CertificateBinding;
use crate::claims::{Audiences, ClaimPath, ClaimRequirements, TokenType, DEFAULT_CLOCK_SKEW_S};
use crate::extract::TokenSource;
use crate::issuer::{AllowedTenants, Issuers, Tenants, DEFAULT_TENANT_CLAIM, TENANT_PLACEHOLDER};
use crate::jwa::Algorithm;
use crate::jwks::{self, KeyPolicy, KeySet};
use crate::peer::{PeerField, PeerReads};
use crate::policy::{
    Action, Condition, HeaderMatcher, HeaderOutput, HeaderTest, HostPattern, IdentityMatcher,
    Operator, PathMatcher, PathTemplate, Pattern, PeerExpr, PeerMatch, ProviderSet, RequestMatch,
    Requirement, Rule, Scalar, StringClaim, MAX_CONDITION_DEPTH, SPACE_DELIMITED_CLAIMS,
};
use crate::request::{canonical_path, EscapedSlashes, MatrixParameters, PathPolicy};
use serde_json::Value;
use std::sync::Arc;

/// Bounds on list sizes. Each is far above real use (Istio's largest published
/// policies have tens of rules) and keeps per-request work and memory bounded.
/// The token source a provider reads when it names none.
pub const DEFAULT_SOURCE_HEADER: &str = "authorization";
pub const DEFAULT_SOURCE_PREFIX: &str = "Bearer ";
pub const MAX_PROVIDERS: usize = 64;
pub const MAX_RULES: usize = 1024;
/// Sources per provider: header, query and cookie, with room for aliases.
pub const MAX_SOURCES: usize = 8;
pub const MAX_CLAIMS_TO_HEADERS: usize = 32;
/// Methods, hosts, header matchers, providers in a set, condition lists, literals.
pub const MAX_LIST: usize = 256;
/// Longest provider id; ids appear in metric names.
pub const MAX_PROVIDER_ID_LEN: usize = 64;
pub const MAX_REALM_LEN: usize = 128;

/// `(default, min, max)` of every duration and size setting.
pub const TIMEOUT_MS: (u64, u64, u64) = (5_000, 1, 60_000);
pub const REFRESH_INTERVAL_S: (u64, u64, u64) = (600, 10, 86_400);
pub const REFRESH_MIN_INTERVAL_S: (u64, u64, u64) = (60, 10, 86_400);
pub const MAX_STALE_S: (u64, u64, u64) = (86_400, 10, 30 * 86_400);
pub const RETRY_INITIAL_MS: (u64, u64, u64) = (1_000, 100, 600_000);
pub const RETRY_MAX_MS: (u64, u64, u64) = (60_000, 100, 3_600_000);
pub const UNKNOWN_KID_MIN_INTERVAL_S: (u64, u64, u64) = (30, 1, 3_600);
pub const COLD_START_MAX_WAIT_MS: (u64, u64, u64) = (3_000, 0, 60_000);
/// Ten minutes of skew is already a broken clock; more would accept expired tokens.
pub const CLOCK_SKEW_S: (u64, u64, u64) = (DEFAULT_CLOCK_SKEW_S, 0, 600);
pub const MAX_LIFETIME_S: (u64, u64, u64) = (0, 1, 365 * 86_400);
/// A day is the longest age bound that still means "signed in recently".
pub const MAX_TOKEN_AGE_S: (u64, u64, u64) = (0, 1, 86_400);
/// A proof is made for one request, right before it: a minute covers client clocks and
/// retries; ten minutes is the most a replay cache entry is kept.
pub const DPOP_MAX_AGE_S: (u64, u64, u64) = (60, 1, 600);
pub const DPOP_CLOCK_SKEW_S: (u64, u64, u64) = (5, 0, 300);
/// 4096 slots of 8 hold 32,768 live proofs; 65,536 slots (about 13 MB of shared data) the
/// most a provider may use.
pub const DPOP_REPLAY_SLOTS: (u64, u64, u64) = (4_096, 16, 65_536);
/// Five minutes: a client refetches a nonce (one extra round trip) every five to ten
/// minutes. Ten seconds at least, so a client can use the nonce it is given; an hour at
/// most, or the nonce bounds nothing a proof's `iat` does not.
pub const DPOP_NONCE_LIFETIME_S: (u64, u64, u64) = (300, 10, 3_600);
pub const TOKEN_CACHE_ENTRIES: (u64, u64, u64) = (1_024, 0, 65_536);
/// An introspection call is on the request path: two seconds by default, ten at most.
pub const INTROSPECTION_TIMEOUT_MS: (u64, u64, u64) = (2_000, 1, 10_000);
/// A minute bounds how late a revocation at the server takes effect; an hour at most.
pub const INTROSPECTION_MAX_TTL_S: (u64, u64, u64) = (60, 1, 3_600);
pub const INTROSPECTION_NEGATIVE_TTL_S: (u64, u64, u64) = (30, 1, 3_600);
/// A second spares a failing server one call per request; a minute at most of outage
/// behaviour without asking again.
pub const INTROSPECTION_FAILURE_TTL_MS: (u64, u64, u64) = (1_000, 0, 60_000);
/// 4096 slots of at most 17 KiB; 65,536 the most a provider may use.
pub const INTROSPECTION_SLOTS: (u64, u64, u64) = (4_096, 16, 65_536);
/// A provider may only lower the filter-wide token limit; 128 bytes is below any signed JWT.
pub const MAX_TOKEN_BYTES: (u64, u64, u64) = (MAX_TOKEN_LEN_U64, 128, MAX_TOKEN_LEN_U64);
/// The filter-wide limit as a setting's bound (16 KiB fits any target's `u64`).
const MAX_TOKEN_LEN_U64: u64 = crate::jwt::MAX_TOKEN_LEN as u64;
/// A revocation list is refreshed far more often than keys: its interval is the bound on how
/// late a revocation takes effect, so a minute by default and a second at the least (the
/// filter's slow tick).
pub const REVOCATION_INTERVAL_S: (u64, u64, u64) = (60, 1, 86_400);
pub const REVOCATION_MIN_INTERVAL_S: (u64, u64, u64) = (5, 1, 86_400);
/// Ten minutes of failed refreshes by default before every token of the provider is refused;
/// a week at most, since a list that old no longer says what is revoked.
pub const REVOCATION_MAX_STALE_S: (u64, u64, u64) = (600, 10, 7 * 86_400);
/// A publisher may only lower the document bound of [`crate::revocation::MAX_LIST_BYTES`].
pub const REVOCATION_MAX_BYTES: (u64, u64, u64) = (MAX_LIST_BYTES_U64, 2, MAX_LIST_BYTES_U64);
/// The list bound as a setting's bound (256 KiB fits any target's `u64`).
const MAX_LIST_BYTES_U64: u64 = crate::revocation::MAX_LIST_BYTES as u64;

pub const DEFAULT_REALM: &str = "claimcheck";
pub(super) const DEFAULT_JOIN: &str = ",";
const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

/// Headers the filter must never set: they frame or route the request, or carry the
/// client's own state.
const RESERVED_OUTPUT_HEADERS: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "cookie",
];

const PATH_CHOICES: &[&str] = &["exact", "prefix", "template", "regex"];
const HEADER_CHOICES: &[&str] = &["exact", "prefix", "regex", "present"];
const IDENTITY_CHOICES: &[&str] = &["exact", "prefix", "suffix", "regex", "template"];
const JWKS_CHOICES: &[&str] = &["remote", "oidc_discovery", "inline"];
const CLIENT_AUTH_CHOICES: &[&str] = &["basic", "bearer"];
const ISSUER_CHOICES: &[&str] = &["issuer", "issuers"];
const TENANT_CHOICES: &[&str] = &["allowed", "pattern"];
const SOURCE_CHOICES: &[&str] = &["header", "query", "cookie"];
const SET_CHOICES: &[&str] = &["any", "all"];
const NODE_CHOICES: &[&str] = &["claim", "all", "any", "not"];
const OPERATORS: &[&str] = &[
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
];

struct Compiler {
    errors: Vec<ConfigError>,
    provider_names: Vec<String>,
    /// By provider index: whether it configures `introspection` (rules may demand it).
    introspecting: Vec<bool>,
    paths: PathPolicy,
    /// The URI SAN template of the rule being compiled, whose variables `equals_peer` names.
    peer_template: Option<PathTemplate>,
    /// The connection attributes the rules read so far.
    peer_reads: PeerReads,
}

pub(super) fn compile(raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut c = Compiler {
        errors: Vec::new(),
        provider_names: raw
            .providers
            .0
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
        introspecting: raw
            .providers
            .0
            .iter()
            .map(|(_, p)| p.introspection.is_some())
            .collect(),
        paths: path_policy(raw.paths.as_ref()),
        peer_template: None,
        peer_reads: PeerReads::default(),
    };
    if raw.providers.0.len() > MAX_PROVIDERS {
        c.err("providers", K::TooMany { max: MAX_PROVIDERS });
    }
    if raw.rules.len() > MAX_RULES {
        c.err("rules", K::TooMany { max: MAX_RULES });
    }

    let mut providers = Vec::new();
    for (index, (name, p)) in raw.providers.0.iter().enumerate() {
        if let Some(provider) = c.provider(ProviderId(index), name, p) {
            providers.push(provider);
        }
    }
    let identity = identity_headers(&providers);
    c.check_identity_headers(&providers, &identity);

    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        let name = match &r.name {
            Some(n) if n.is_empty() => {
                c.err(format!("{path}.name"), K::EmptyString);
                path.clone()
            }
            Some(n) => n.clone(),
            None => path.clone(),
        };
        if rules.iter().any(|x: &Rule| *x.name == *name) {
            c.err(format!("{path}.name"), K::DuplicateRuleName(name.clone()));
        }
        let matcher = match &r.matcher {
            Some(m) => c.request_match(&format!("{path}.match"), m),
            None => Some(RequestMatch::default()),
        };
        let match_template = matcher
            .as_ref()
            .and_then(|m| m.peer.as_ref())
            .and_then(PeerMatch::template)
            .cloned();
        let action = c.action(&path, r.action, r.require.as_ref(), match_template);
        if let (Some(matcher), Some(action)) = (matcher, action) {
            rules.push(Rule {
                name: name.into(),
                matcher,
                action,
                dry_run: r.dry_run.unwrap_or(raw.dry_run),
            });
        }
    }
    c.check_rules_ignore_identity_headers(&raw, &identity);
    let default = c.action(
        "default",
        raw.default.action,
        raw.default.require.as_ref(),
        None,
    );

    let max_entries = match &raw.token_cache {
        Some(tc) => c.range(
            "token_cache.max_entries",
            Some(tc.max_entries),
            TOKEN_CACHE_ENTRIES,
        ),
        None => TOKEN_CACHE_ENTRIES.0,
    };
    let realm = match &raw.realm {
        Some(realm) => {
            let ok = !realm.is_empty()
                && realm.len() <= MAX_REALM_LEN
                && realm
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
            if !ok {
                c.err("realm", K::InvalidRealm);
            }
            realm.clone()
        }
        None => DEFAULT_REALM.to_owned(),
    };

    match default {
        Some(default) if c.errors.is_empty() => {
            let mut identity_headers: Vec<String> = Vec::new();
            for one in identity {
                if !identity_headers.contains(&one.header) {
                    identity_headers.push(one.header);
                }
            }
            let uses_route_name = rules.iter().any(|rule| rule.matcher.route_name.is_some());
            let routes = Routes::compile(&providers);
            let mut config = Config {
                providers,
                rules,
                default,
                dry_run: raw.dry_run,
                token_cache: TokenCacheSettings {
                    max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
                },
                realm,
                crypto: raw.crypto,
                paths: c.paths,
                access_log: raw.access_log,
                identity_headers: identity_headers.into(),
                default_rule_name: Arc::from(crate::policy::DEFAULT_RULE_NAME),
                request_rule_name: Arc::from(crate::policy::REQUEST_RULE_NAME),
                uses_route_name,
                peer_reads: c.peer_reads,
                routes,
                warnings: Vec::new(),
            };
            config.warnings = super::warning::find(&config);
            Ok(config)
        }
        _ => Err(ConfigErrors(c.errors)),
    }
}

fn path_policy(raw: Option<&RawPaths>) -> PathPolicy {
    let Some(raw) = raw else {
        return PathPolicy::default();
    };
    PathPolicy {
        escaped_slashes: match raw.escaped_slashes {
            None | Some(RawEscapedSlashes::Reject) => EscapedSlashes::Reject,
            Some(RawEscapedSlashes::Decode) => EscapedSlashes::Decode,
            Some(RawEscapedSlashes::Keep) => EscapedSlashes::Keep,
        },
        matrix_parameters: match raw.matrix_parameters {
            None | Some(RawMatrixParameters::Strip) => MatrixParameters::Strip,
            Some(RawMatrixParameters::Keep) => MatrixParameters::Keep,
        },
        case_insensitive: raw.case_insensitive.unwrap_or(false),
    }
}

/// A header claimcheck sets from a token, and the JSON path that configures it.
struct IdentityHeader {
    header: String,
    path: String,
}

/// Every identity header of every provider (`claims_to_headers`, `payload_header`), in
/// configuration order, duplicates included: the one list the checks and [`Config`] read.
fn identity_headers(providers: &[Provider]) -> Vec<IdentityHeader> {
    let mut out = Vec::new();
    for p in providers {
        for (i, o) in p.claims_to_headers.iter().enumerate() {
            out.push(IdentityHeader {
                header: o.header.clone(),
                path: format!("providers.{}.claims_to_headers[{i}].header", p.name),
            });
        }
        if let Some(h) = &p.payload_header {
            out.push(IdentityHeader {
                header: h.clone(),
                path: format!("providers.{}.payload_header", p.name),
            });
        }
    }
    out
}

/// Counts the `Some`s among a set of optional fields.
macro_rules! count_some {
    ($($field:expr),+ $(,)?) => { 0usize $(+ usize::from($field.is_some()))+ };
}

impl Compiler {
    fn err(&mut self, path: impl Into<String>, kind: K) {
        self.errors.push(ConfigError::new(path, kind));
    }

    fn range(
        &mut self,
        path: &str,
        value: Option<u64>,
        (default, min, max): (u64, u64, u64),
    ) -> u64 {
        match value {
            None => default,
            Some(v) if v < min || v > max => {
                self.err(path, K::OutOfRange { value: v, min, max });
                default
            }
            Some(v) => v,
        }
    }

    fn non_empty(&mut self, path: &str, value: &str) -> bool {
        if value.is_empty() {
            self.err(path, K::EmptyString);
        }
        !value.is_empty()
    }

    /// An `algorithms` list under `base`: every asymmetric algorithm when absent; otherwise
    /// the list without duplicates (each one an error), and with `asymmetric_only` (DPoP
    /// proofs carry public keys) an HMAC algorithm an error too.
    fn algorithms(
        &mut self,
        base: &str,
        list: Option<&[Algorithm]>,
        asymmetric_only: bool,
    ) -> Vec<Algorithm> {
        let Some(list) = list else {
            return Algorithm::ALL
                .into_iter()
                .filter(|a| !a.is_symmetric())
                .collect();
        };
        self.list_len(&format!("{base}.algorithms"), list, false);
        let mut algs: Vec<Algorithm> = Vec::new();
        for (i, alg) in list.iter().enumerate() {
            let at = format!("{base}.algorithms[{i}]");
            if asymmetric_only && alg.is_symmetric() {
                self.err(at, K::DpopSymmetricAlgorithm(alg.as_str().to_owned()));
            } else if algs.contains(alg) {
                self.err(at, K::DuplicateAlgorithm(alg.as_str().to_owned()));
            } else {
                algs.push(*alg);
            }
        }
        algs
    }

    fn list_len<T>(&mut self, path: &str, list: &[T], allow_empty: bool) {
        if list.is_empty() && !allow_empty {
            self.err(path, K::EmptyList);
        } else if list.len() > MAX_LIST {
            self.err(path, K::TooMany { max: MAX_LIST });
        }
    }

    fn provider_id(&mut self, path: &str, name: &str) -> Option<ProviderId> {
        match self.provider_names.iter().position(|n| n == name) {
            Some(i) => Some(ProviderId(i)),
            None => {
                self.err(path, K::UnknownProvider(name.to_owned()));
                None
            }
        }
    }

    fn provider(&mut self, id: ProviderId, name: &str, p: &RawProvider) -> Option<Provider> {
        let base = format!("providers.{name}");
        let before = self.errors.len();
        let valid_id = !name.is_empty()
            && name.len() <= MAX_PROVIDER_ID_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_id {
            self.err(base.clone(), K::InvalidProviderId(name.to_owned()));
        }
        let issuers = self.issuers(&base, p);
        let audiences = self.audiences(&base, p.audiences.as_ref());
        let token_type = p.token_type.as_ref().and_then(|typ| {
            let at = format!("{base}.token_type");
            if typ.is_empty() || !typ.bytes().all(|b| b.is_ascii_graphic()) {
                self.err(at, K::InvalidTokenType(typ.clone()));
                return None;
            }
            Some(TokenType::new(typ))
        });
        let max_token_bytes = self.range(
            &format!("{base}.max_token_bytes"),
            p.max_token_bytes,
            MAX_TOKEN_BYTES,
        );

        let algorithms = self.algorithms(&base, p.algorithms.as_deref(), false);
        let primary = issuers
            .as_ref()
            .map(|i| i.primary().to_owned())
            .unwrap_or_default();
        let jwks = self.jwks(&base, p, &primary, &algorithms);
        let introspection = p
            .introspection
            .as_ref()
            .and_then(|i| self.introspection(&format!("{base}.introspection"), name, &primary, i));
        if matches!(jwks, Some(JwksSource::None)) {
            self.opaque_provider(&base, p);
        }

        let r = p.refresh.as_ref();
        let rp = format!("{base}.refresh");
        let refresh = Refresh {
            interval_s: self.range(
                &format!("{rp}.interval_s"),
                r.and_then(|r| r.interval_s),
                REFRESH_INTERVAL_S,
            ),
            min_interval_s: self.range(
                &format!("{rp}.min_interval_s"),
                r.and_then(|r| r.min_interval_s),
                REFRESH_MIN_INTERVAL_S,
            ),
            max_stale_s: self.range(
                &format!("{rp}.max_stale_s"),
                r.and_then(|r| r.max_stale_s),
                MAX_STALE_S,
            ),
            retry_initial_ms: self.range(
                &format!("{rp}.retry_initial_ms"),
                r.and_then(|r| r.retry_initial_ms),
                RETRY_INITIAL_MS,
            ),
            retry_max_ms: self.range(
                &format!("{rp}.retry_max_ms"),
                r.and_then(|r| r.retry_max_ms),
                RETRY_MAX_MS,
            ),
            unknown_kid_min_interval_s: self.range(
                &format!("{rp}.unknown_kid_min_interval_s"),
                r.and_then(|r| r.unknown_kid_min_interval_s),
                UNKNOWN_KID_MIN_INTERVAL_S,
            ),
        };
        if refresh.max_stale_s < refresh.interval_s {
            self.err(
                format!("{rp}.max_stale_s"),
                K::MaxStaleBelowInterval {
                    max_stale_s: refresh.max_stale_s,
                    interval_s: refresh.interval_s,
                },
            );
        }
        if refresh.retry_max_ms < refresh.retry_initial_ms {
            self.err(
                format!("{rp}.retry_max_ms"),
                K::RetryMaxBelowInitial {
                    retry_max_ms: refresh.retry_max_ms,
                    retry_initial_ms: refresh.retry_initial_ms,
                },
            );
        }
        let revocation = p
            .revocation
            .as_ref()
            .and_then(|r| self.revocation(&base, r));
        let cs = p.cold_start.as_ref();
        let cold_start = ColdStart {
            max_wait_ms: self.range(
                &format!("{base}.cold_start.max_wait_ms"),
                cs.and_then(|c| c.max_wait_ms),
                COLD_START_MAX_WAIT_MS,
            ),
            on_timeout: match cs.and_then(|c| c.on_timeout) {
                None | Some(RawOnTimeout::Unavailable) => OnTimeout::Unavailable,
                Some(RawOnTimeout::Deny) => OnTimeout::Deny,
            },
        };

        let sources = match &p.sources {
            None => vec![TokenSource::Header {
                name: DEFAULT_SOURCE_HEADER.to_owned(),
                prefix: DEFAULT_SOURCE_PREFIX.to_owned(),
            }],
            Some(list) => {
                let sp = format!("{base}.sources");
                if list.is_empty() {
                    self.err(sp.clone(), K::EmptyList);
                } else if list.len() > MAX_SOURCES {
                    self.err(sp.clone(), K::TooMany { max: MAX_SOURCES });
                }
                list.iter()
                    .enumerate()
                    .filter_map(|(i, s)| self.source(&format!("{sp}[{i}]"), s))
                    .collect()
            }
        };

        let mut claims = ClaimRequirements::new(primary.clone());
        if let Some(issuers) = issuers {
            claims.issuers = issuers;
        }
        if let Some(audiences) = audiences {
            claims.audiences = audiences;
        }
        claims.token_type = token_type;
        if let Some(claim) = &p.audience_claim {
            if self.non_empty(&format!("{base}.audience_claim"), claim) {
                claims.audience_claim = claim.clone();
            }
        }
        claims.clock_skew_s = self.range(
            &format!("{base}.clock_skew_s"),
            p.clock_skew_s,
            CLOCK_SKEW_S,
        );
        claims.max_lifetime_s = p
            .max_lifetime_s
            .map(|v| self.range(&format!("{base}.max_lifetime_s"), Some(v), MAX_LIFETIME_S));
        claims.require_exp = p.require_exp.unwrap_or(true);
        for (i, text) in p.required_claims.iter().enumerate() {
            match ClaimPath::parse(text) {
                Ok(path) => claims.required_claims.push(path),
                Err(e) => self.err(
                    format!("{base}.required_claims[{i}]"),
                    K::InvalidClaimPath(e),
                ),
            }
        }

        let mut outputs: Vec<HeaderOutput> = Vec::new();
        let op = format!("{base}.claims_to_headers");
        if p.claims_to_headers.len() > MAX_CLAIMS_TO_HEADERS {
            self.err(
                op.clone(),
                K::TooMany {
                    max: MAX_CLAIMS_TO_HEADERS,
                },
            );
        }
        for (i, o) in p.claims_to_headers.iter().enumerate() {
            let path = format!("{op}[{i}]");
            let claim = ClaimPath::parse(&o.claim)
                .map_err(|e| self.err(format!("{path}.claim"), K::InvalidClaimPath(e)))
                .ok();
            let header = self.output_header(&format!("{path}.header"), &o.header);
            let join = o.join.clone().unwrap_or_else(|| DEFAULT_JOIN.to_owned());
            if join.bytes().any(|b| b < 0x20 || b == 0x7f) {
                self.err(format!("{path}.join"), K::InvalidHeaderValue);
            } else if join.is_empty() {
                // Joined without a separator, `["ad", "min"]` would read as `admin`.
                self.err(format!("{path}.join"), K::EmptyString);
            }
            if let Some(h) = &header {
                if outputs.iter().any(|x| x.header == *h) {
                    self.err(format!("{path}.header"), K::DuplicateHeader(h.clone()));
                }
            }
            if let (Some(claim), Some(header)) = (claim, header) {
                outputs.push(HeaderOutput {
                    claim,
                    header,
                    join,
                });
            }
        }
        let payload_header = p.payload_header.as_ref().and_then(|h| {
            let path = format!("{base}.payload_header");
            let h = self.output_header(&path, h)?;
            if outputs.iter().any(|x| x.header == h) {
                self.err(path, K::DuplicateHeader(h.clone()));
            }
            Some(h)
        });

        let dpop = p
            .dpop
            .as_ref()
            .and_then(|d| self.dpop(&format!("{base}.dpop"), d));
        let mut sources = sources;
        let dpop_source = dpop.as_ref().map(|_| {
            let scheme = TokenSource::Header {
                name: "authorization".to_owned(),
                prefix: crate::dpop::SCHEME_PREFIX.to_owned(),
            };
            match sources.iter().position(|s| *s == scheme) {
                Some(index) => index,
                None => {
                    sources.push(scheme);
                    sources.len() - 1
                }
            }
        });

        if self.errors.len() != before {
            return None;
        }
        let jwks = jwks?;
        let fetch = FetchPlan::compile(name, &primary, &algorithms, &jwks, &refresh);
        if p.introspection.is_some() && introspection.is_none() {
            return None;
        }
        let revocation = revocation.map(|list| FetchPlan::revocation_list(name, &list, &refresh));
        Some(Provider {
            id,
            name: name.to_owned(),
            issuer: primary,
            algorithms,
            jwks,
            refresh,
            fetch,
            cold_start,
            sources,
            claims,
            forward_token: p.forward_token,
            claims_to_headers: outputs,
            payload_header,
            max_token_bytes: usize::try_from(max_token_bytes).unwrap_or(usize::MAX),
            dpop,
            dpop_source,
            certificate_binding: match p.certificate_binding {
                None | Some(RawCertificateBinding::IfPresent) => CertificateBinding::IfPresent,
                Some(RawCertificateBinding::Off) => CertificateBinding::Off,
                Some(RawCertificateBinding::Required) => CertificateBinding::Required,
            },
            introspection,
            revocation,
        })
    }

    /// A provider's `revocation` block: the list's source as the JWKS's remote source is
    /// checked, and its own schedule (`max_stale_s` at least `interval_s`, as for keys).
    fn revocation(&mut self, base: &str, r: &RawRevocation) -> Option<RevocationSource> {
        let path = format!("{base}.revocation");
        let before = self.errors.len();
        let target = self.target(&path, &r.cluster, &r.uri, r.timeout_ms);
        let interval_s = self.range(
            &format!("{path}.interval_s"),
            r.interval_s,
            REVOCATION_INTERVAL_S,
        );
        let min_interval_s = self.range(
            &format!("{path}.min_interval_s"),
            r.min_interval_s,
            REVOCATION_MIN_INTERVAL_S,
        );
        let max_stale_s = self.range(
            &format!("{path}.max_stale_s"),
            r.max_stale_s,
            REVOCATION_MAX_STALE_S,
        );
        let max_bytes = self.range(
            &format!("{path}.max_bytes"),
            r.max_bytes,
            REVOCATION_MAX_BYTES,
        );
        if max_stale_s < interval_s {
            self.err(
                format!("{path}.max_stale_s"),
                K::MaxStaleBelowInterval {
                    max_stale_s,
                    interval_s,
                },
            );
        }
        if self.errors.len() != before {
            return None;
        }
        Some(RevocationSource {
            target: target?,
            interval_s,
            min_interval_s,
            max_stale_s,
            max_bytes: usize::try_from(max_bytes).unwrap_or(crate::revocation::MAX_LIST_BYTES),
        })
    }

    /// A provider's `introspection` block; `None` when invalid (the errors are recorded).
    fn introspection(
        &mut self,
        base: &str,
        name: &str,
        issuer: &str,
        raw: &RawIntrospection,
    ) -> Option<Introspection> {
        use crate::introspect::{ClientAuth, IntrospectionPolicy};
        let before = self.errors.len();
        let endpoint = self.target(base, &raw.cluster, &raw.uri, None);
        let timeout_ms = self.range(
            &format!("{base}.timeout_ms"),
            raw.timeout_ms,
            INTROSPECTION_TIMEOUT_MS,
        );
        let max_ttl_s = self.range(
            &format!("{base}.max_ttl_s"),
            raw.max_ttl_s,
            INTROSPECTION_MAX_TTL_S,
        );
        let negative_ttl_s = self.range(
            &format!("{base}.negative_ttl_s"),
            raw.negative_ttl_s,
            INTROSPECTION_NEGATIVE_TTL_S,
        );
        let failure_ttl_ms = self.range(
            &format!("{base}.failure_ttl_ms"),
            raw.failure_ttl_ms,
            INTROSPECTION_FAILURE_TTL_MS,
        );
        let slots = self.range(&format!("{base}.slots"), raw.slots, INTROSPECTION_SLOTS);
        let ap = format!("{base}.client_auth");
        let auth = match (&raw.client_auth.basic, &raw.client_auth.bearer) {
            (Some(basic), None) => {
                let id_ok = self.non_empty(&format!("{ap}.basic.client_id"), &basic.client_id);
                let secret_ok =
                    self.non_empty(&format!("{ap}.basic.client_secret"), &basic.client_secret);
                (id_ok && secret_ok).then(|| ClientAuth::Basic {
                    client_id: basic.client_id.clone(),
                    client_secret: basic.client_secret.clone(),
                })
            }
            (None, Some(token)) => {
                let at = format!("{ap}.bearer");
                if !self.non_empty(&at, token) {
                    None
                } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    // It becomes a header value: no spaces or control characters.
                    self.err(at, K::InvalidHeaderValue);
                    None
                } else {
                    Some(ClientAuth::Bearer {
                        token: token.clone(),
                    })
                }
            }
            _ => {
                self.err(ap, K::ExactlyOneOf(CLIENT_AUTH_CHOICES));
                None
            }
        };
        if self.errors.len() != before {
            return None;
        }
        let (mut endpoint, auth) = (endpoint?, auth?);
        endpoint.timeout_ms = timeout_ms;
        let auth_header = auth.header_value();
        let key_prefix = introspection_key_prefix(name, issuer, &endpoint, &auth_header);
        Some(Introspection {
            endpoint,
            auth_header,
            policy: IntrospectionPolicy {
                slots: u32::try_from(slots).unwrap_or(u32::MAX),
                max_ttl_ms: max_ttl_s.saturating_mul(1000),
                negative_ttl_ms: negative_ttl_s.saturating_mul(1000),
                failure_ttl_ms,
                timeout_ms,
            },
            key_prefix,
        })
    }

    /// A provider without keys takes opaque tokens: the settings that read a JWT's header
    /// or payload have nothing to apply to, and are refused rather than ignored.
    fn opaque_provider(&mut self, base: &str, p: &RawProvider) {
        let jwt_only = [
            ("algorithms", p.algorithms.is_some()),
            ("token_type", p.token_type.is_some()),
            ("payload_header", p.payload_header.is_some()),
            ("dpop", p.dpop.is_some()),
        ];
        for (field, given) in jwt_only {
            if given {
                self.err(format!("{base}.{field}"), K::NeedsKeys);
            }
        }
    }

    /// A provider's `dpop.nonce` block; `None` when invalid (the error is recorded).
    fn dpop_nonce(&mut self, base: &str, n: &RawDpopNonce) -> Option<crate::dpop::NoncePolicy> {
        use crate::dpop::nonce::{NoncePolicy, MAX_SECRET_BYTES, MIN_SECRET_BYTES};
        use base64::Engine as _;
        let lifetime_s = self.range(
            &format!("{base}.lifetime_s"),
            n.lifetime_s,
            DPOP_NONCE_LIFETIME_S,
        );
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(n.secret.as_bytes())
            .ok()
            .filter(|s| (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&s.len()));
        match secret {
            Some(secret) => Some(NoncePolicy::new(lifetime_s, &secret)),
            None => {
                self.err(format!("{base}.secret"), K::InvalidDpopNonceSecret);
                None
            }
        }
    }

    /// A provider's `dpop` block; `None` when off (or invalid: the error is recorded).
    fn dpop(&mut self, base: &str, d: &RawDpop) -> Option<crate::dpop::DpopPolicy> {
        use crate::dpop::{htu, DpopMode, DpopPolicy};
        let before = self.errors.len();
        let mode = match d.mode {
            None | Some(RawDpopMode::Off) => None,
            Some(RawDpopMode::Allowed) => Some(DpopMode::Allowed),
            Some(RawDpopMode::Required) => Some(DpopMode::Required),
        };
        let algorithms = self.algorithms(base, d.algorithms.as_deref(), true);
        let max_age_s = self.range(&format!("{base}.max_age_s"), d.max_age_s, DPOP_MAX_AGE_S);
        let clock_skew_s = self.range(
            &format!("{base}.clock_skew_s"),
            d.clock_skew_s,
            DPOP_CLOCK_SKEW_S,
        );
        let replay_slots = self.range(
            &format!("{base}.replay_slots"),
            d.replay_slots,
            DPOP_REPLAY_SLOTS,
        );
        let nonce = d
            .nonce
            .as_ref()
            .and_then(|n| self.dpop_nonce(&format!("{base}.nonce"), n));
        let origin = d.origin.as_ref().and_then(|origin| {
            let normal = htu::normalize_origin(origin);
            if normal.is_none() {
                self.err(
                    format!("{base}.origin"),
                    K::InvalidDpopOrigin(origin.clone()),
                );
            }
            normal
        });
        if self.errors.len() != before {
            return None;
        }
        let challenge_algs: Arc<str> = algorithms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ")
            .into();
        Some(DpopPolicy {
            mode: mode?,
            algorithms,
            challenge_algs,
            max_age_s,
            clock_skew_s,
            origin,
            forward_proof: d.forward_proof,
            replay_slots: u32::try_from(replay_slots).unwrap_or(u32::MAX),
            nonce,
        })
    }

    /// `audiences` must be given: a list of accepted values, or `"any"` to opt out.
    fn audiences(&mut self, base: &str, raw: Option<&RawAudiences>) -> Option<Audiences> {
        let at = format!("{base}.audiences");
        match raw {
            None => {
                self.err(at, K::AudiencesRequired);
                None
            }
            Some(RawAudiences::Any) => Some(Audiences::Any),
            Some(RawAudiences::List(list)) if list.is_empty() => {
                self.err(at, K::AudiencesRequired);
                None
            }
            Some(RawAudiences::List(list)) => {
                let before = self.errors.len();
                if list.len() > MAX_LIST {
                    self.err(at.clone(), K::TooMany { max: MAX_LIST });
                }
                for (i, aud) in list.iter().enumerate() {
                    self.non_empty(&format!("{at}[{i}]"), aud);
                }
                (self.errors.len() == before).then(|| Audiences::OneOf(list.clone()))
            }
        }
    }

    /// The provider's accepted issuers: one `issuer`, or `issuers` with optional `tenants`.
    fn issuers(&mut self, base: &str, p: &RawProvider) -> Option<Issuers> {
        let (written, at) = match (&p.issuer, &p.issuers) {
            (Some(one), None) => {
                let at = format!("{base}.issuer");
                if !self.non_empty(&at, one) {
                    return None;
                }
                (vec![one.clone()], at)
            }
            (None, Some(list)) => {
                let at = format!("{base}.issuers");
                self.list_len(&at, list, false);
                let before = self.errors.len();
                for (i, issuer) in list.iter().enumerate() {
                    let path = format!("{at}[{i}]");
                    if self.non_empty(&path, issuer) && list.iter().take(i).any(|x| x == issuer) {
                        self.err(path, K::DuplicateIssuer(issuer.clone()));
                    }
                }
                if self.errors.len() != before || list.is_empty() {
                    return None;
                }
                (list.clone(), at)
            }
            _ => {
                self.err(base, K::ExactlyOneOf(ISSUER_CHOICES));
                return None;
            }
        };
        let tenants_at = format!("{base}.tenants");
        let tenants = match &p.tenants {
            Some(t) => Some(self.tenants(&tenants_at, t)?),
            None => None,
        };
        match Issuers::compile(&written, tenants) {
            Ok(issuers) => Some(issuers),
            Err(error) => {
                let path = match error {
                    crate::issuer::IssuerError::InvalidTemplate => at,
                    _ => tenants_at,
                };
                self.err(path, K::Issuer(error));
                None
            }
        }
    }

    fn tenants(&mut self, path: &str, t: &RawTenants) -> Option<Tenants> {
        let claim = match &t.claim {
            Some(claim) => {
                if !self.non_empty(&format!("{path}.claim"), claim) {
                    return None;
                }
                claim.clone()
            }
            None => DEFAULT_TENANT_CLAIM.to_owned(),
        };
        let allowed = match (&t.allowed, &t.pattern) {
            (Some(list), None) => {
                let lp = format!("{path}.allowed");
                self.list_len(&lp, list, false);
                let before = self.errors.len();
                for (i, tenant) in list.iter().enumerate() {
                    self.non_empty(&format!("{lp}[{i}]"), tenant);
                }
                if self.errors.len() != before || list.is_empty() {
                    return None;
                }
                AllowedTenants::List(list.clone())
            }
            (None, Some(pattern)) => {
                AllowedTenants::Pattern(self.pattern(&format!("{path}.pattern"), pattern)?)
            }
            _ => {
                self.err(path, K::ExactlyOneOf(TENANT_CHOICES));
                return None;
            }
        };
        Some(Tenants { claim, allowed })
    }

    fn jwks(
        &mut self,
        base: &str,
        p: &RawProvider,
        issuer: &str,
        algorithms: &[Algorithm],
    ) -> Option<JwksSource> {
        let path = format!("{base}.jwks");
        let j = &p.jwks;
        let given = count_some!(j.remote, j.oidc_discovery, j.inline);
        if given == 0 && p.introspection.is_some() {
            return Some(JwksSource::None);
        }
        if given != 1 {
            self.err(path, K::ExactlyOneOf(JWKS_CHOICES));
            return None;
        }
        let hmac = algorithms.iter().any(|a| a.is_symmetric());
        if hmac && j.inline.is_none() {
            self.err(format!("{base}.algorithms"), K::HmacWithoutSecret);
        }
        if let Some(remote) = &j.remote {
            let rp = format!("{path}.remote");
            let target = self.target(&rp, &remote.cluster, &remote.uri, remote.timeout_ms);
            return target.map(JwksSource::Remote);
        }
        if let Some(d) = &j.oidc_discovery {
            let dp = format!("{path}.oidc_discovery");
            let uri = match &d.uri {
                Some(uri) => uri.clone(),
                None if issuer.contains(TENANT_PLACEHOLDER) => {
                    self.err(format!("{dp}.uri"), K::DiscoveryUriRequired);
                    return None;
                }
                None => format!("{}{DISCOVERY_SUFFIX}", issuer.trim_end_matches('/')),
            };
            let at = if d.uri.is_some() {
                format!("{dp}.uri")
            } else {
                dp.clone()
            };
            if split_url(&uri).is_none() {
                self.err(at, K::NotAbsoluteUrl(uri.clone()));
                return None;
            }
            return self
                .target(&dp, &d.cluster, &uri, d.timeout_ms)
                .map(JwksSource::OidcDiscovery);
        }
        let inline = j.inline.as_ref()?;
        let ip = format!("{path}.inline");
        let document: Value = match inline {
            Value::Object(_) => inline.clone(),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    self.err(ip, K::InlineJwksNotObject);
                    return None;
                }
            },
            _ => {
                self.err(ip, K::InlineJwksNotObject);
                return None;
            }
        };
        let has_oct = document
            .get("keys")
            .and_then(Value::as_array)
            .is_some_and(|keys| {
                keys.iter()
                    .any(|k| k.get("kty").and_then(Value::as_str) == Some("oct"))
            });
        if hmac && !has_oct {
            self.err(format!("{base}.algorithms"), K::HmacWithoutSecret);
            return None;
        }
        if has_oct && !hmac {
            self.err(ip, K::SecretWithoutHmac);
            return None;
        }
        let bytes = document.to_string();
        let policy = KeyPolicy {
            algorithms: algorithms.to_vec(),
        };
        match KeySet::parse(bytes.as_bytes(), &policy) {
            Ok(parsed) => Some(JwksSource::Inline(parsed)),
            Err(e) => {
                self.err(ip, K::InlineJwks(e));
                None
            }
        }
    }

    fn target(
        &mut self,
        path: &str,
        cluster: &str,
        uri: &str,
        timeout_ms: Option<u64>,
    ) -> Option<HttpTarget> {
        let cluster_ok = self.non_empty(&format!("{path}.cluster"), cluster);
        let timeout_ms = self.range(&format!("{path}.timeout_ms"), timeout_ms, TIMEOUT_MS);
        let Some((authority, request_path)) = split_url(uri) else {
            self.err(format!("{path}.uri"), K::NotAbsoluteUrl(uri.to_owned()));
            return None;
        };
        cluster_ok.then(|| HttpTarget {
            cluster: cluster.to_owned(),
            uri: uri.to_owned(),
            authority,
            path: request_path,
            timeout_ms,
        })
    }

    fn source(&mut self, path: &str, s: &RawSource) -> Option<TokenSource> {
        if count_some!(s.header, s.query, s.cookie) != 1 {
            self.err(path, K::ExactlyOneOf(SOURCE_CHOICES));
            return None;
        }
        if s.prefix.is_some() && s.header.is_none() {
            self.err(format!("{path}.prefix"), K::PrefixWithoutHeader);
            return None;
        }
        if let Some(header) = &s.header {
            let name = self.header_name(&format!("{path}.header"), header)?;
            let prefix = s.prefix.clone().unwrap_or_default();
            if prefix.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                self.err(format!("{path}.prefix"), K::InvalidHeaderValue);
                return None;
            }
            return Some(TokenSource::Header { name, prefix });
        }
        if let Some(param) = &s.query {
            return self
                .non_empty(&format!("{path}.query"), param)
                .then(|| TokenSource::Query {
                    param: param.clone(),
                });
        }
        let cookie = s.cookie.as_ref()?;
        let p = format!("{path}.cookie");
        if !self.non_empty(&p, cookie) {
            return None;
        }
        if !cookie.bytes().all(is_tchar) {
            self.err(p, K::InvalidHeaderName(cookie.clone()));
            return None;
        }
        Some(TokenSource::Cookie {
            name: cookie.clone(),
        })
    }

    /// A header name to match or read: valid token, not a pseudo-header; lowercased.
    fn header_name(&mut self, path: &str, name: &str) -> Option<String> {
        if name.starts_with(':') {
            self.err(path, K::PseudoHeader(name.to_owned()));
            return None;
        }
        if name.is_empty() || !name.bytes().all(is_tchar) {
            self.err(path, K::InvalidHeaderName(name.to_owned()));
            return None;
        }
        Some(name.to_ascii_lowercase())
    }

    /// A header name the filter sets.
    fn output_header(&mut self, path: &str, name: &str) -> Option<String> {
        let name = self.header_name(path, name)?;
        if RESERVED_OUTPUT_HEADERS.contains(&name.as_str()) {
            self.err(path, K::ReservedHeader(name));
            return None;
        }
        Some(name)
    }

    /// Identity headers are stripped from every allowed request; one that is also a token
    /// source header would both carry the token and be overwritten by a claim.
    fn check_identity_headers(&mut self, providers: &[Provider], identity: &[IdentityHeader]) {
        let sources: Vec<&str> = providers
            .iter()
            .flat_map(|p| &p.sources)
            .filter_map(|s| match s {
                TokenSource::Header { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        for one in identity {
            if sources.contains(&one.header.as_str()) {
                self.err(
                    one.path.clone(),
                    K::IdentityHeaderIsTokenSource(one.header.clone()),
                );
            }
        }
    }

    /// A rule matching on an identity header would see the client's copy (stripped only when
    /// the decision is applied), so a client could pick its own rule by forging it.
    fn check_rules_ignore_identity_headers(
        &mut self,
        raw: &RawConfig,
        identity: &[IdentityHeader],
    ) {
        for (i, rule) in raw.rules.iter().enumerate() {
            let headers = rule.matcher.as_ref().and_then(|m| m.headers.as_ref());
            for (j, header) in headers.into_iter().flatten().enumerate() {
                let name = header.name.to_ascii_lowercase();
                if identity.iter().any(|one| one.header == name) {
                    self.err(
                        format!("rules[{i}].match.headers[{j}].name"),
                        K::MatchOnIdentityHeader(name),
                    );
                }
            }
        }
    }

    /// `match_template`: the URI SAN template of the rule's `match.peer`, if any.
    fn action(
        &mut self,
        path: &str,
        kind: RawActionKind,
        require: Option<&RawRequire>,
        match_template: Option<PathTemplate>,
    ) -> Option<Action> {
        match (kind, require) {
            (RawActionKind::Allow, None) => Some(Action::Allow),
            (RawActionKind::Deny, None) => Some(Action::Deny),
            (RawActionKind::Allow | RawActionKind::Deny, Some(_)) => {
                self.err(format!("{path}.require"), K::RequireNotAllowed);
                None
            }
            (RawActionKind::Require, None) => {
                self.err(format!("{path}.require"), K::RequireMissing);
                None
            }
            (RawActionKind::Require, Some(r)) => {
                let rp = format!("{path}.require");
                let providers = self.provider_set(&format!("{rp}.providers"), &r.providers);
                let max_token_age_s = r.max_token_age_s.map(|v| {
                    self.range(&format!("{rp}.max_token_age_s"), Some(v), MAX_TOKEN_AGE_S)
                });
                let peer = match &r.peer {
                    Some(p) => {
                        // A refusal must tell a missing certificate from another one.
                        self.peer_reads.mtls = true;
                        Some(self.peer_match(&format!("{rp}.peer"), p)?)
                    }
                    None => None,
                };
                let require_template = peer.as_ref().and_then(PeerMatch::template).cloned();
                let peer_template = match (match_template, require_template) {
                    (Some(_), Some(_)) => {
                        self.err(format!("{rp}.peer.uri_san.template"), K::PeerTemplateTwice);
                        return None;
                    }
                    (from_match, from_require) => from_match.or(from_require),
                };
                self.peer_template = peer_template.clone();
                let claims = match &r.claims {
                    Some(c) => self.condition(&format!("{rp}.claims"), c, 1),
                    None => None,
                };
                self.peer_template = None;
                if r.claims.is_some() && claims.is_none() {
                    return None;
                }
                let introspect = match &r.introspect {
                    Some(i) => {
                        Some(self.introspect(&format!("{rp}.introspect"), &r.providers, i)?)
                    }
                    None => None,
                };
                Some(Action::Require(Requirement {
                    providers: providers?,
                    claims,
                    max_token_age_s,
                    peer: peer.map(Box::new),
                    peer_template: peer_template.map(Box::new),
                    introspect,
                }))
            }
        }
    }

    /// `require.introspect`: every provider of the rule must have an endpoint to ask.
    fn introspect(
        &mut self,
        path: &str,
        set: &RawProviderSet,
        raw: &RawIntrospect,
    ) -> Option<OnOutage> {
        let names = set.any.iter().chain(set.all.iter()).flatten();
        let mut ok = true;
        for name in names {
            let index = self.provider_names.iter().position(|n| n == name);
            let introspecting = index.and_then(|i| self.introspecting.get(i)).copied();
            if introspecting == Some(false) {
                self.err(path, K::IntrospectionNotConfigured(name.clone()));
                ok = false;
            }
        }
        ok.then_some(match raw.on_outage {
            None | Some(RawOnOutage::Deny) => OnOutage::Deny,
            Some(RawOnOutage::Allow) => OnOutage::Allow,
        })
    }

    fn provider_set(&mut self, path: &str, set: &RawProviderSet) -> Option<ProviderSet> {
        let (names, key, all) = match (&set.any, &set.all) {
            (Some(any), None) => (any, "any", false),
            (None, Some(all)) => (all, "all", true),
            _ => {
                self.err(path, K::ExactlyOneOf(SET_CHOICES));
                return None;
            }
        };
        let lp = format!("{path}.{key}");
        self.list_len(&lp, names, false);
        let mut ids = Vec::new();
        let mut ok = !names.is_empty();
        for (i, name) in names.iter().enumerate() {
            match self.provider_id(&format!("{lp}[{i}]"), name) {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(if all {
            ProviderSet::All(ids)
        } else {
            ProviderSet::Any(ids)
        })
    }

    fn request_match(&mut self, path: &str, m: &RawMatch) -> Option<RequestMatch> {
        let before = self.errors.len();
        let mut out = RequestMatch::default();
        if let Some(p) = &m.path {
            out.path = self.path_matcher(&format!("{path}.path"), p);
        }
        if let Some(methods) = &m.methods {
            let mp = format!("{path}.methods");
            self.list_len(&mp, methods, false);
            for (i, method) in methods.iter().enumerate() {
                if method.is_empty() || !method.bytes().all(is_tchar) {
                    self.err(format!("{mp}[{i}]"), K::InvalidMethod(method.clone()));
                } else {
                    out.methods.push(method.to_ascii_uppercase());
                }
            }
        }
        if let Some(hosts) = &m.hosts {
            let hp = format!("{path}.hosts");
            self.list_len(&hp, hosts, false);
            for (i, host) in hosts.iter().enumerate() {
                match HostPattern::parse(host) {
                    Some(h) => out.hosts.push(h),
                    None => self.err(format!("{hp}[{i}]"), K::InvalidHost(host.clone())),
                }
            }
        }
        if let Some(headers) = &m.headers {
            let hp = format!("{path}.headers");
            self.list_len(&hp, headers, true);
            for (i, h) in headers.iter().enumerate() {
                if let Some(matcher) = self.header_matcher(&format!("{hp}[{i}]"), h) {
                    out.headers.push(matcher);
                }
            }
        }
        if let Some(route) = &m.route_name {
            if self.non_empty(&format!("{path}.route_name"), route) {
                out.route_name = Some(route.clone());
            }
        }
        if let Some(peer) = &m.peer {
            out.peer = self.peer_match(&format!("{path}.peer"), peer);
        }
        (self.errors.len() == before).then_some(out)
    }

    /// A `peer` block; records which connection attributes it reads.
    fn peer_match(&mut self, path: &str, raw: &RawPeerMatch) -> Option<PeerMatch> {
        let before = self.errors.len();
        let mut out = PeerMatch {
            mtls: raw.mtls,
            ..PeerMatch::default()
        };
        if raw.mtls.is_some() {
            self.peer_reads.mtls = true;
        }
        let fields = [
            (PeerField::UriSan, &raw.uri_san),
            (PeerField::DnsSan, &raw.dns_san),
            (PeerField::Subject, &raw.subject),
        ];
        for (field, raw_matcher) in fields {
            let Some(raw_matcher) = raw_matcher else {
                continue;
            };
            self.peer_reads.field(field);
            let matcher = self.identity_matcher(&format!("{path}.{field}"), raw_matcher, field);
            match field {
                PeerField::UriSan => out.uri_san = matcher,
                PeerField::DnsSan => out.dns_san = matcher,
                PeerField::Subject => out.subject = matcher,
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    fn identity_matcher(
        &mut self,
        path: &str,
        m: &RawIdentityMatch,
        field: PeerField,
    ) -> Option<IdentityMatcher> {
        if count_some!(m.exact, m.prefix, m.suffix, m.regex, m.template) != 1 {
            self.err(path, K::ExactlyOneOf(IDENTITY_CHOICES));
            return None;
        }
        let choices: [(&str, &Option<String>); 5] = [
            ("exact", &m.exact),
            ("prefix", &m.prefix),
            ("suffix", &m.suffix),
            ("regex", &m.regex),
            ("template", &m.template),
        ];
        let (key, value) = choices
            .into_iter()
            .find_map(|(key, value)| value.as_ref().map(|v| (key, v)))?;
        let at = format!("{path}.{key}");
        if !self.non_empty(&at, value) {
            return None;
        }
        match key {
            "exact" => Some(IdentityMatcher::Exact(value.clone())),
            "prefix" => Some(IdentityMatcher::Prefix(value.clone())),
            "suffix" => Some(IdentityMatcher::Suffix(value.clone())),
            "regex" => self.pattern(&at, value).map(IdentityMatcher::Regex),
            _ if field != PeerField::UriSan => {
                self.err(at, K::PeerTemplateNotUriSan);
                None
            }
            _ => match PathTemplate::parse_identity(value) {
                Ok(t) => Some(IdentityMatcher::Template(t)),
                Err(e) => {
                    self.err(at, K::InvalidTemplate(e));
                    None
                }
            },
        }
    }

    fn path_matcher(&mut self, path: &str, p: &RawPathMatch) -> Option<PathMatcher> {
        if count_some!(p.exact, p.prefix, p.template, p.regex) != 1 {
            self.err(path, K::ExactlyOneOf(PATH_CHOICES));
            return None;
        }
        if let Some(exact) = &p.exact {
            return self
                .canonical_pattern(&format!("{path}.exact"), exact)
                .map(PathMatcher::Exact);
        }
        if let Some(prefix) = &p.prefix {
            let at = format!("{path}.prefix");
            if !self.non_empty(&at, prefix) {
                return None;
            }
            // A prefix is a string prefix (`/health` matches `/healthz`); only its own
            // spelling is made canonical, and a trailing `/` stays a segment boundary.
            let mut canonical = self.canonical_pattern(&at, prefix)?;
            if prefix.ends_with('/') && canonical != "/" {
                canonical.push('/');
            }
            return Some(PathMatcher::Prefix(canonical));
        }
        if let Some(template) = &p.template {
            let source = if self.paths.case_insensitive {
                template.to_ascii_lowercase()
            } else {
                template.clone()
            };
            return match PathTemplate::parse(&source) {
                Ok(t) => Some(PathMatcher::Template(t)),
                Err(e) => {
                    self.err(format!("{path}.template"), K::InvalidTemplate(e));
                    None
                }
            };
        }
        let regex = p.regex.as_ref()?;
        let source = if self.paths.case_insensitive {
            format!("(?i){regex}")
        } else {
            regex.clone()
        };
        self.pattern(&format!("{path}.regex"), &source)
            .map(PathMatcher::Regex)
    }

    /// A path pattern in the canonical form requests are matched in, so `/v1/orders/` in a
    /// rule means what `/v1/orders` does on a request.
    fn canonical_pattern(&mut self, path: &str, pattern: &str) -> Option<String> {
        if !self.non_empty(path, pattern) {
            return None;
        }
        match canonical_path(pattern, &self.paths) {
            Ok(canonical) => Some(canonical),
            Err(error) => {
                self.err(path, K::PathNotCanonical(error));
                None
            }
        }
    }

    fn pattern(&mut self, path: &str, source: &str) -> Option<Pattern> {
        match Pattern::new(source) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err(path, K::InvalidRegex(e.to_string()));
                None
            }
        }
    }

    fn header_matcher(&mut self, path: &str, h: &RawHeaderMatch) -> Option<HeaderMatcher> {
        let name = self.header_name(&format!("{path}.name"), &h.name);
        if count_some!(h.exact, h.prefix, h.regex, h.present) != 1 {
            self.err(path, K::ExactlyOneOf(HEADER_CHOICES));
            return None;
        }
        let test = if let Some(v) = &h.exact {
            HeaderTest::Exact(v.clone())
        } else if let Some(v) = &h.prefix {
            HeaderTest::Prefix(v.clone())
        } else if let Some(v) = &h.regex {
            HeaderTest::Regex(self.pattern(&format!("{path}.regex"), v)?)
        } else {
            HeaderTest::Present(h.present?)
        };
        Some(HeaderMatcher { name: name?, test })
    }

    fn condition(&mut self, path: &str, c: &RawCondition, depth: usize) -> Option<Condition> {
        if depth > MAX_CONDITION_DEPTH {
            self.err(
                path,
                K::TooDeep {
                    max: MAX_CONDITION_DEPTH,
                },
            );
            return None;
        }
        let operators = count_some!(
            c.equals,
            c.one_of,
            c.contains,
            c.contains_all,
            c.contains_any,
            c.prefix,
            c.suffix,
            c.regex,
            c.exists,
            c.gt,
            c.gte,
            c.lt,
            c.lte,
            c.equals_peer,
        );
        let combinators = count_some!(c.all, c.any, c.not);
        let is_contains = count_some!(c.contains, c.contains_all, c.contains_any) > 0;
        if c.space_delimited.is_some() && !is_contains {
            self.err(
                format!("{path}.space_delimited"),
                K::SpaceDelimitedWithoutContains,
            );
            return None;
        }
        let Some(claim) = &c.claim else {
            if operators > 0 || combinators != 1 {
                self.err(path, K::ExactlyOneOf(NODE_CHOICES));
                return None;
            }
            return self.combinator(path, c, depth);
        };
        if combinators > 0 {
            self.err(path, K::ExactlyOneOf(NODE_CHOICES));
            return None;
        }
        if operators != 1 {
            self.err(path, K::ExactlyOneOf(OPERATORS));
            return None;
        }
        let claim_path = match ClaimPath::parse(claim) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err(format!("{path}.claim"), K::InvalidClaimPath(e));
                None
            }
        };
        let words = c
            .space_delimited
            .unwrap_or_else(|| SPACE_DELIMITED_CLAIMS.contains(&claim.as_str()));
        let op = self.operator(path, c, words)?;
        Some(Condition::Claim {
            path: claim_path?,
            op,
        })
    }

    fn combinator(&mut self, path: &str, c: &RawCondition, depth: usize) -> Option<Condition> {
        if let Some(inner) = &c.not {
            let inner = self.condition(&format!("{path}.not"), inner, depth + 1)?;
            return Some(Condition::Not(Box::new(inner)));
        }
        let (items, key, all) = match (&c.all, &c.any) {
            (Some(items), _) => (items, "all", true),
            (_, Some(items)) => (items, "any", false),
            _ => return None,
        };
        let lp = format!("{path}.{key}");
        self.list_len(&lp, items, false);
        let before = self.errors.len();
        let compiled: Vec<Condition> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.condition(&format!("{lp}[{i}]"), item, depth + 1))
            .collect();
        if self.errors.len() != before || compiled.is_empty() {
            return None;
        }
        Some(if all {
            Condition::All(compiled)
        } else {
            Condition::Any(compiled)
        })
    }

    /// The one operator of a leaf. `words`: a string claim is space-delimited words (for
    /// the `contains` family).
    fn operator(&mut self, path: &str, c: &RawCondition, words: bool) -> Option<Operator> {
        let strings = if words {
            StringClaim::Words
        } else {
            StringClaim::Value
        };
        if let Some(v) = &c.equals {
            return self
                .scalar(&format!("{path}.equals"), v)
                .map(Operator::Equals);
        }
        if let Some(v) = &c.contains {
            return self
                .scalar(&format!("{path}.contains"), v)
                .map(|literal| Operator::Contains(literal, strings));
        }
        if let Some(list) = &c.one_of {
            return self
                .scalars(&format!("{path}.one_of"), list)
                .map(Operator::OneOf);
        }
        if let Some(list) = &c.contains_all {
            return self
                .scalars(&format!("{path}.contains_all"), list)
                .map(|list| Operator::ContainsAll(list, strings));
        }
        if let Some(list) = &c.contains_any {
            return self
                .scalars(&format!("{path}.contains_any"), list)
                .map(|list| Operator::ContainsAny(list, strings));
        }
        if let Some(v) = &c.prefix {
            return Some(Operator::Prefix(v.clone()));
        }
        if let Some(v) = &c.suffix {
            return Some(Operator::Suffix(v.clone()));
        }
        if let Some(v) = &c.regex {
            return self
                .pattern(&format!("{path}.regex"), v)
                .map(Operator::Regex);
        }
        if let Some(v) = c.exists {
            return Some(Operator::Exists(v));
        }
        if let Some(v) = &c.equals_peer {
            return match PeerExpr::parse(v, self.peer_template.as_ref()) {
                Ok(expr) => {
                    for field in expr.fields() {
                        self.peer_reads.field(field);
                    }
                    Some(Operator::EqualsPeer(expr))
                }
                Err(error) => {
                    self.err(
                        format!("{path}.equals_peer"),
                        K::InvalidPeerExpression(error),
                    );
                    None
                }
            };
        }
        type MakeNumeric = fn(serde_json::Number) -> Operator;
        let numeric: [(&str, &Option<Value>, MakeNumeric); 4] = [
            ("gt", &c.gt, Operator::Gt),
            ("gte", &c.gte, Operator::Gte),
            ("lt", &c.lt, Operator::Lt),
            ("lte", &c.lte, Operator::Lte),
        ];
        for (key, value, make) in numeric {
            match value {
                Some(Value::Number(n)) => return Some(make(n.clone())),
                Some(_) => {
                    self.err(format!("{path}.{key}"), K::NotANumber);
                    return None;
                }
                None => {}
            }
        }
        None
    }

    fn scalar(&mut self, path: &str, value: &Value) -> Option<Scalar> {
        match value {
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => Some(Scalar::Number(n.clone())),
            Value::String(s) => Some(Scalar::String(s.clone())),
            _ => {
                self.err(path, K::NotAScalar);
                None
            }
        }
    }

    fn scalars(&mut self, path: &str, list: &[Value]) -> Option<Vec<Scalar>> {
        self.list_len(path, list, false);
        let before = self.errors.len();
        let out: Vec<Scalar> = list
            .iter()
            .enumerate()
            .filter_map(|(i, v)| self.scalar(&format!("{path}[{i}]"), v))
            .collect();
        (self.errors.len() == before && !out.is_empty()).then_some(out)
    }
}

/// RFC 9110 §5.6.2 `tchar`: the characters of a header name (and method, cookie name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The shared-data key prefix of a provider's introspection slots: layout version, provider
/// name and a digest of what decides its answers (issuer, cluster, URL, client).
fn introspection_key_prefix(
    name: &str,
    issuer: &str,
    endpoint: &HttpTarget,
    auth_header: &str,
) -> String {
    let source = [issuer, &endpoint.cluster, &endpoint.uri, auth_header].join("\n");
    let digest = ring::digest::digest(&ring::digest::SHA256, source.as_bytes());
    let mut short = String::with_capacity(16);
    for byte in digest.as_ref().iter().take(8) {
        short.push_str(&format!("{byte:02x}"));
    }
    format!("claimcheck/v2/introspection/{name}/{short}/")
}

/// `(authority, path)` of an absolute http(s) URL, by the same rules the filter applies to a
/// discovered `jwks_uri`.
fn split_url(uri: &str) -> Option<(String, String)> {
    jwks::split_url(uri)
        .ok()
        .map(|parts| (parts.authority, parts.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let cases = [
            (
                "https://idp.example.com/.well-known/jwks.json",
                Some(("idp.example.com", "/.well-known/jwks.json")),
            ),
            ("http://idp:8080", Some(("idp:8080", "/"))),
            ("HTTPS://idp?x=1#frag", Some(("idp", "/?x=1"))),
            ("idp.example.com/jwks", None),
            ("ftp://idp/jwks", None),
            ("https:///jwks", None),
            ("https://user@idp/jwks", None),
            ("https://idp/a b", None),
        ];
        for (uri, want) in cases {
            let got = split_url(uri);
            let want = want.map(|(a, p)| (a.to_owned(), p.to_owned()));
            assert_eq!(got, want, "{uri}");
        }
    }
}
