//! Configuration errors: a JSON path plus a kind, rendered once.

use crate::claims::ClaimPathError;
use crate::issuer::IssuerError;
use crate::jwks::JwksError;
use crate::policy::TemplateError;
use std::fmt;

/// Every problem found in a configuration (all of them, not only the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// One problem, at a JSON path such as `rules[3].require.claims.all[0].gte`
/// (empty for the document itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub kind: ConfigErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// Not valid JSON, a wrong type, a missing or unknown field (serde's message).
    Invalid(String),
    /// An empty document (Istio sends one when `pluginConfig` is left out).
    Empty,
    TooLarge {
        max: usize,
    },
    /// Exactly one of these fields must be given.
    ExactlyOneOf(&'static [&'static str]),
    /// A list that must not be empty.
    EmptyList,
    /// A string that must not be empty.
    EmptyString,
    TooMany {
        max: usize,
    },
    UnknownProvider(String),
    /// Provider ids name metrics and log lines: letters, digits, `_`, `-`, at most 64.
    InvalidProviderId(String),
    DuplicateProvider(String),
    DuplicateRuleName(String),
    InvalidRegex(String),
    InvalidTemplate(TemplateError),
    /// A path pattern that no request path could equal in canonical form.
    PathNotCanonical(crate::request::PathError),
    InvalidClaimPath(ClaimPathError),
    InvalidHeaderName(String),
    /// `:path`, `:authority`… cannot be matched, read as token sources or set.
    PseudoHeader(String),
    /// Connection-level or framing headers (`host`, `content-length`, …) cannot be set.
    ReservedHeader(String),
    /// The same header is set twice by one provider.
    DuplicateHeader(String),
    /// An identity header is also where a provider reads its token: stripping
    /// client-sent identity headers would remove the token.
    IdentityHeaderIsTokenSource(String),
    /// A rule matches on a header claimcheck sets from the token.
    MatchOnIdentityHeader(String),
    InvalidHeaderValue,
    InvalidMethod(String),
    InvalidHost(String),
    /// Condition literals are JSON scalars (string, number, boolean).
    NotAScalar,
    NotANumber,
    /// A claims condition nested deeper than the limit.
    TooDeep {
        max: usize,
    },
    OutOfRange {
        value: u64,
        min: u64,
        max: u64,
    },
    MaxStaleBelowInterval {
        max_stale_s: u64,
        interval_s: u64,
    },
    RetryMaxBelowInitial {
        retry_max_ms: u64,
        retry_initial_ms: u64,
    },
    /// HS* listed, but the inline key set has no `oct` key (or the keys are remote:
    /// shared secrets only come from the configuration).
    HmacWithoutSecret,
    /// An inline `oct` key while no HS* algorithm is accepted: it would be unused.
    SecretWithoutHmac,
    InlineJwks(JwksError),
    /// The inline key set is neither a JSON object nor a string holding one.
    InlineJwksNotObject,
    NotAbsoluteUrl(String),
    DuplicateAlgorithm(String),
    /// `prefix` only applies to a `header` source.
    PrefixWithoutHeader,
    /// `require` is needed with `action: "require"`.
    RequireMissing,
    /// `require` is given with `allow`/`deny`, where it would be ignored.
    RequireNotAllowed,
    /// The realm goes into a quoted-string: printable ASCII without `"` and `\`.
    InvalidRealm,
    /// An issuer template or its tenants are malformed or missing.
    Issuer(IssuerError),
    DuplicateIssuer(String),
    /// Discovery from an issuer template needs its URL spelled out (the template is no URL).
    DiscoveryUriRequired,
    /// A provider without `audiences` (or with an empty list): accepting every audience must
    /// be written out as `"any"`.
    AudiencesRequired,
    /// `token_type` must be a media type: printable ASCII, no spaces.
    InvalidTokenType(String),
    /// A DPoP proof algorithm must be asymmetric (RFC 9449 §4.2).
    DpopSymmetricAlgorithm(String),
    /// `dpop.origin` must be `http(s)://host[:port]` with no path, userinfo, query.
    InvalidDpopOrigin(String),
    /// `dpop.nonce.secret` must be base64url of 32 to 64 bytes. The value is never echoed:
    /// it is a secret.
    InvalidDpopNonceSecret,
    /// `space_delimited` only applies to `contains`, `contains_all` and `contains_any`.
    SpaceDelimitedWithoutContains,
    /// A `template` on a peer value other than `uri_san`.
    PeerTemplateNotUriSan,
    /// `match.peer` and `require.peer` of one rule both have a URI SAN template: captures
    /// would be ambiguous.
    PeerTemplateTwice,
    /// An `equals_peer` expression that cannot be evaluated (unknown capture, ...).
    InvalidPeerExpression(crate::policy::PeerExprError),
    /// A JWT setting on a provider without keys (opaque tokens have no header or payload).
    NeedsKeys,
    /// `require.introspect` names a provider without `introspection`.
    IntrospectionNotConfigured(String),
}

impl ConfigError {
    pub fn new(path: impl Into<String>, kind: ConfigErrorKind) -> Self {
        ConfigError {
            path: path.into(),
            kind,
        }
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind as K;
        match self {
            K::Invalid(message) => f.write_str(message),
            K::Empty => f.write_str("configuration is empty"),
            K::TooLarge { max } => write!(f, "configuration is larger than {max} bytes"),
            K::ExactlyOneOf(fields) => write!(f, "exactly one of {} is required", fields.join(", ")),
            K::EmptyList => f.write_str("must not be empty"),
            K::EmptyString => f.write_str("must not be an empty string"),
            K::TooMany { max } => write!(f, "more than {max} entries"),
            K::UnknownProvider(name) => write!(f, "unknown provider {name:?}"),
            K::InvalidProviderId(name) => write!(
                f,
                "provider id {name:?} must be 1-64 letters, digits, '_' or '-'"
            ),
            K::DuplicateProvider(name) => write!(f, "provider {name:?} is defined twice"),
            K::DuplicateRuleName(name) => write!(f, "rule name {name:?} is used twice"),
            K::InvalidRegex(message) => write!(f, "invalid regex: {message}"),
            K::InvalidTemplate(error) => write!(f, "invalid path template: {error}"),
            K::PathNotCanonical(error) => {
                write!(f, "path has no canonical form ({error:?}); see \"paths\"")
            }
            K::InvalidClaimPath(error) => write!(f, "invalid claim path: {error}"),
            K::InvalidHeaderName(name) => write!(f, "invalid header name {name:?}"),
            K::PseudoHeader(name) => write!(f, "pseudo-header {name:?} is not allowed here"),
            K::ReservedHeader(name) => write!(f, "header {name:?} cannot be set by the filter"),
            K::DuplicateHeader(name) => write!(f, "header {name:?} is set more than once"),
            K::IdentityHeaderIsTokenSource(name) => write!(
                f,
                "header {name:?} is both an identity header and a token source"
            ),
            K::MatchOnIdentityHeader(name) => write!(
                f,
                "header {name:?} is an identity header; the client's copy cannot be trusted to match on"
            ),
            K::InvalidHeaderValue => f.write_str("contains a control character"),
            K::InvalidMethod(m) => write!(f, "invalid HTTP method {m:?}"),
            K::InvalidHost(h) => write!(f, "invalid host pattern {h:?} (only a leading '*.' wildcard)"),
            K::NotAScalar => f.write_str("must be a string, number or boolean"),
            K::NotANumber => f.write_str("must be a number"),
            K::TooDeep { max } => write!(f, "conditions nest deeper than {max} levels"),
            K::OutOfRange { value, min, max } => {
                write!(f, "{value} is out of range [{min}, {max}]")
            }
            K::MaxStaleBelowInterval {
                max_stale_s,
                interval_s,
            } => write!(
                f,
                "max_stale_s ({max_stale_s}) must be at least interval_s ({interval_s})"
            ),
            K::RetryMaxBelowInitial {
                retry_max_ms,
                retry_initial_ms,
            } => write!(
                f,
                "retry_max_ms ({retry_max_ms}) must be at least retry_initial_ms ({retry_initial_ms})"
            ),
            K::HmacWithoutSecret => f.write_str(
                "HS* algorithms need an inline key set with an \"oct\" key",
            ),
            K::SecretWithoutHmac => f.write_str(
                "inline \"oct\" key but no HS* algorithm is listed in algorithms",
            ),
            K::InlineJwks(error) => write!(f, "inline JWKS is not usable: {error:?}"),
            K::InlineJwksNotObject => {
                f.write_str("must be a JWKS object or a string holding one")
            }
            K::NotAbsoluteUrl(uri) => write!(f, "{uri:?} is not an absolute http(s) URL"),
            K::DuplicateAlgorithm(alg) => write!(f, "algorithm {alg} is listed twice"),
            K::PrefixWithoutHeader => f.write_str("prefix is only allowed with header"),
            K::RequireMissing => f.write_str("action \"require\" needs a require block"),
            K::RequireNotAllowed => f.write_str("require is only allowed with action \"require\""),
            K::InvalidRealm => f.write_str(
                "realm must be 1-128 printable ASCII characters without '\"' or '\\'",
            ),
            K::Issuer(error) => write!(f, "{error}"),
            K::DuplicateIssuer(issuer) => write!(f, "issuer {issuer:?} is listed twice"),
            K::DiscoveryUriRequired => f.write_str(
                "uri is required when the first issuer is a {tenantid} template",
            ),
            K::AudiencesRequired => f.write_str(
                "list the audiences this provider's tokens must name, or write \"any\" to accept every audience",
            ),
            K::DpopSymmetricAlgorithm(alg) => {
                write!(f, "{alg} is a MAC algorithm; DPoP proofs are signed with asymmetric keys")
            }
            K::InvalidDpopNonceSecret => f.write_str(
                "must be base64url (no padding) of 32 to 64 random bytes",
            ),
            K::InvalidDpopOrigin(origin) => write!(
                f,
                "origin {origin:?} is not an http or https origin (scheme://host[:port], no path)"
            ),
            K::InvalidTokenType(typ) => {
                write!(f, "token type {typ:?} is not a media type (printable ASCII, no spaces)")
            }
            K::SpaceDelimitedWithoutContains => f.write_str(
                "space_delimited only applies to contains, contains_all and contains_any",
            ),
            K::PeerTemplateNotUriSan => f.write_str("template is only allowed on uri_san"),
            K::PeerTemplateTwice => f.write_str(
                "match.peer already has a uri_san template; a rule's captures come from one template",
            ),
            K::InvalidPeerExpression(error) => write!(f, "invalid equals_peer: {error}"),
            K::NeedsKeys => f.write_str(
                "only applies to a provider with keys (jwks); without them the provider takes opaque tokens",
            ),
            K::IntrospectionNotConfigured(name) => write!(
                f,
                "provider {name:?} has no introspection endpoint to ask"
            ),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
impl std::error::Error for ConfigError {}
