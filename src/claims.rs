//! Registered-claim validation (RFC 7519 §4.1): `iss`, `aud`, `exp`, `nbf`, `iat`,
//! token lifetime and required claims, plus [`ClaimPath`], the dotted claim path
//! shared with rule conditions and claims-to-headers.
//!
//! The signature says who issued the token; this module says whether the token is
//! meant for us and valid now. Every refusal is a [`ClaimError`] variant so the caller
//! can map it to one denial reason.

use serde_json::{Map, Value};
use std::fmt;

use crate::issuer::Issuers;

/// Default tolerance for clock differences between the issuer and Envoy. 60 s is
/// the common choice of OIDC libraries and Envoy's `jwt_authn` (`clock_skew_seconds`).
pub const DEFAULT_CLOCK_SKEW_S: u64 = 60;

/// The registered audience claim (RFC 7519 §4.1.3).
pub const DEFAULT_AUDIENCE_CLAIM: &str = "aud";

/// The most segments a claim path may have. Real claim paths are 1–4 segments deep;
/// the bound keeps the longest-key search in [`ClaimPath::lookup`] small.
pub const MAX_CLAIM_PATH_SEGMENTS: usize = 16;

/// What a provider demands of the registered claims of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequirements {
    /// Accepted `iss` values (RFC 7519 §4.1.1: compared as case-sensitive strings; see
    /// [`Issuers`] for several spellings and tenant templates).
    pub issuers: Issuers,
    /// Which audiences a token may be meant for. A configuration must choose: a token minted
    /// for another service of the same IdP verifies with the same keys, so accepting any
    /// audience is an explicit opt-out, never a default (RFC 8725 §3.9).
    pub audiences: Audiences,
    /// The claim holding the audience: `aud` (RFC 7519 §4.1.3) unless configured otherwise.
    /// Amazon Cognito access tokens have no `aud` and name their app client in `client_id`.
    pub audience_claim: String,
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew_s: u64,
    /// Longest accepted `exp - iat`; limits the damage of a leaked long-lived token.
    pub max_lifetime_s: Option<u64>,
    /// Refuse tokens without `exp`: a token that never expires cannot be revoked.
    pub require_exp: bool,
    /// Claims that must be present and not `null`.
    pub required_claims: Vec<ClaimPath>,
    /// The JOSE header `typ` a token must carry (RFC 8725 §3.11 explicit typing, e.g.
    /// `at+jwt` for RFC 9068 access tokens); `None` accepts any or none.
    pub token_type: Option<TokenType>,
}

/// The audiences a provider accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audiences {
    /// Every audience, or none (`"audiences": "any"`).
    Any,
    /// The token's audience claim must name at least one of these (non-empty).
    OneOf(Vec<String>),
}

/// A media type for the `typ` header, compared as RFC 7515 §4.1.9 says: ASCII
/// case-insensitively, with `application/` optional (`at+jwt` = `application/at+jwt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenType {
    /// As configured, for messages.
    written: String,
    /// Lowercase, without `application/`.
    canonical: String,
}

impl TokenType {
    pub fn new(written: &str) -> TokenType {
        TokenType {
            written: written.to_owned(),
            canonical: Self::canonical(written),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Whether a token's `typ` header names this type.
    pub fn accepts(&self, typ: Option<&str>) -> bool {
        typ.is_some_and(|typ| Self::canonical(typ) == self.canonical)
    }

    fn canonical(text: &str) -> String {
        let lower = text.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    }
}

impl ClaimRequirements {
    /// Requirements with the documented defaults for one exact `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        ClaimRequirements {
            issuers: Issuers::exact(issuer),
            audiences: Audiences::Any,
            audience_claim: DEFAULT_AUDIENCE_CLAIM.to_owned(),
            clock_skew_s: DEFAULT_CLOCK_SKEW_S,
            max_lifetime_s: None,
            require_exp: true,
            required_claims: Vec::new(),
            token_type: None,
        }
    }
}

/// One of the three NumericDate claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClaim {
    Exp,
    Nbf,
    Iat,
}

impl TimeClaim {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeClaim::Exp => "exp",
            TimeClaim::Nbf => "nbf",
            TimeClaim::Iat => "iat",
        }
    }
}

/// Why a token's claims were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// `exp`, `nbf` or `iat` is not a non-negative integer (a string, a float, negative).
    TimeClaimInvalid(TimeClaim),
    /// No `exp` while the provider requires one.
    ExpMissing,
    /// `now` is at or after `exp + skew`.
    Expired,
    /// `now + skew` is before `nbf`.
    NotYetValid,
    /// `iat` is further in the future than the skew allows: a forged or mis-clocked issuer.
    IssuedInFuture,
    /// `exp - iat` exceeds `max_lifetime_s`.
    LifetimeTooLong,
    /// `max_lifetime_s` or a rule's `max_token_age_s` is configured but the token has no
    /// `iat` to measure it from.
    IatMissing,
    /// `now - iat` exceeds the rule's `max_token_age_s` (plus the skew): the route wants a
    /// recent sign-in, not a token minted long ago and refreshed since.
    TooOld,
    /// `iss` is absent, not a string, or not one of the provider's issuers (for a tenant
    /// template: not an allowed tenant's issuer).
    IssuerMismatch,
    /// The audience claim is absent, malformed, or names none of the accepted audiences.
    AudienceMismatch,
    /// A required claim is absent or `null`; holds the configured path.
    RequiredClaimMissing(String),
    /// A registered claim has the wrong JSON type: `iss`, `sub` or `jti` not a string, `aud`
    /// neither a string nor an array of strings (RFC 7519 §4.1). Holds the claim name.
    ClaimTypeInvalid(&'static str),
    /// The header `typ` is absent or not the provider's `token_type` (RFC 8725 §3.11): an ID
    /// token or another JWT of the same IdP must not pass as an access token.
    TokenTypeNotAllowed,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::TimeClaimInvalid(claim) => {
                write!(f, "claim {} is not a non-negative integer", claim.as_str())
            }
            ClaimError::ExpMissing => f.write_str("token has no exp claim"),
            ClaimError::Expired => f.write_str("token has expired"),
            ClaimError::NotYetValid => f.write_str("token is not valid yet (nbf)"),
            ClaimError::IssuedInFuture => f.write_str("token was issued in the future (iat)"),
            ClaimError::LifetimeTooLong => f.write_str("token lifetime exceeds the maximum"),
            ClaimError::IatMissing => {
                f.write_str("token has no iat claim to measure its lifetime or age")
            }
            ClaimError::TooOld => {
                f.write_str("token is older than the rule's max_token_age_s (iat)")
            }
            ClaimError::IssuerMismatch => f.write_str("issuer does not match"),
            ClaimError::AudienceMismatch => f.write_str("audience does not match"),
            ClaimError::RequiredClaimMissing(path) => write!(f, "required claim {path} is missing"),
            ClaimError::ClaimTypeInvalid(claim) => write!(f, "claim {claim} has the wrong type"),
            ClaimError::TokenTypeNotAllowed => f.write_str("token typ is not the accepted type"),
        }
    }
}

/// Validates the registered claims of a verified token at time `now_s` (seconds since
/// the Unix epoch).
///
/// Checks run in a fixed order (time claims, issuer, audience, required claims) so the
/// reported reason is stable for a given token.
pub fn validate(
    claims: &Map<String, Value>,
    req: &ClaimRequirements,
    now_s: u64,
) -> Result<(), ClaimError> {
    validate_as(claims, req, now_s, Source::Jwt)
}

/// Validates the members of an active introspection answer (RFC 7662 §2.2) like a JWT's
/// registered claims, except that `exp`, `iss` and the audience claim are optional there:
/// each one the answer states is checked as for a JWT (an expired `exp`, a foreign `iss`, an
/// audience not accepted refuse), an absent one is the server's silence, not a failure.
/// Types, `nbf`, `iat`, the lifetime bound and the required claims are checked as for a JWT.
pub fn validate_introspected(
    claims: &Map<String, Value>,
    req: &ClaimRequirements,
    now_s: u64,
) -> Result<(), ClaimError> {
    validate_as(claims, req, now_s, Source::Introspection)
}

/// Where the claims come from: which registered claims must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Jwt,
    Introspection,
}

fn validate_as(
    claims: &Map<String, Value>,
    req: &ClaimRequirements,
    now_s: u64,
    source: Source,
) -> Result<(), ClaimError> {
    let optional = source == Source::Introspection;
    let exp = time_claim(claims, TimeClaim::Exp)?;
    let nbf = time_claim(claims, TimeClaim::Nbf)?;
    let iat = time_claim(claims, TimeClaim::Iat)?;
    registered_types(claims)?;
    let skew = req.clock_skew_s;

    match exp {
        // RFC 7519 §4.1.4: the current time MUST be before exp.
        Some(exp) if now_s >= exp.saturating_add(skew) => return Err(ClaimError::Expired),
        Some(_) => {}
        None if req.require_exp && !optional => return Err(ClaimError::ExpMissing),
        None => {}
    }
    // RFC 7519 §4.1.5: the current time MUST be after or equal to nbf.
    if let Some(nbf) = nbf {
        if now_s.saturating_add(skew) < nbf {
            return Err(ClaimError::NotYetValid);
        }
    }
    if let Some(iat) = iat {
        if iat > now_s.saturating_add(skew) {
            return Err(ClaimError::IssuedInFuture);
        }
    }
    if let Some(max) = req.max_lifetime_s {
        let iat = iat.ok_or(ClaimError::IatMissing)?;
        if let Some(exp) = exp {
            if exp.saturating_sub(iat) > max {
                return Err(ClaimError::LifetimeTooLong);
            }
        }
    }

    match claims.get("iss") {
        Some(Value::String(iss)) if req.issuers.accepts(iss, claims) => {}
        None if optional => {}
        _ => return Err(ClaimError::IssuerMismatch),
    }

    if let Audiences::OneOf(accepted) = &req.audiences {
        let audience = claims.get(&req.audience_claim);
        let silent = optional && audience.is_none();
        if !silent && !audience_accepted(audience, accepted) {
            return Err(ClaimError::AudienceMismatch);
        }
    }

    for path in &req.required_claims {
        match path.lookup(claims) {
            None | Some(Value::Null) => {
                return Err(ClaimError::RequiredClaimMissing(path.as_str().to_owned()))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A rule's bound on the token's age (`require.max_token_age_s`), measured from `iat` with
/// the provider's skew. Sensitive routes use it to demand a recent authentication: `exp`
/// bounds how long a token lives, not how long ago its holder proved who they are. A token
/// without `iat` cannot show its age and is refused (`iat_missing`).
pub fn validate_age(
    claims: &Map<String, Value>,
    max_age_s: u64,
    skew_s: u64,
    now_s: u64,
) -> Result<(), ClaimError> {
    let iat = time_claim(claims, TimeClaim::Iat)?.ok_or(ClaimError::IatMissing)?;
    if now_s.saturating_sub(iat) > max_age_s.saturating_add(skew_s) {
        return Err(ClaimError::TooOld);
    }
    Ok(())
}

/// The header `typ` against the provider's `token_type`, when it has one.
pub fn validate_type(typ: Option<&str>, req: &ClaimRequirements) -> Result<(), ClaimError> {
    match &req.token_type {
        Some(wanted) if !wanted.accepts(typ) => Err(ClaimError::TokenTypeNotAllowed),
        _ => Ok(()),
    }
}

/// The registered claims whose type RFC 7519 §4.1 fixes, when present. Upstreams and the
/// access log read `sub` as a string; a number or an object there would be read differently
/// by each consumer, so the token is refused rather than interpreted.
fn registered_types(claims: &Map<String, Value>) -> Result<(), ClaimError> {
    for name in ["iss", "sub", "jti"] {
        match claims.get(name) {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(ClaimError::ClaimTypeInvalid(name)),
        }
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(ClaimError::ClaimTypeInvalid("aud")),
    }
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings; one accepted value suffices.
fn audience_accepted(aud: Option<&Value>, accepted: &[String]) -> bool {
    let is_accepted = |value: &Value| {
        value
            .as_str()
            .is_some_and(|aud| accepted.iter().any(|want| want == aud))
    };
    match aud {
        Some(Value::Array(values)) => values.iter().any(is_accepted),
        Some(value @ Value::String(_)) => is_accepted(value),
        _ => false,
    }
}

fn time_claim(claims: &Map<String, Value>, which: TimeClaim) -> Result<Option<u64>, ClaimError> {
    match claims.get(which.as_str()) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or(ClaimError::TimeClaimInvalid(which)),
    }
}

/// A claims object, either as a JSON value or as the decoded token's map, so callers
/// never copy the claims to evaluate them. A non-object value has no claims.
pub trait ClaimsObject {
    fn claims_map(&self) -> Option<&Map<String, Value>>;
}

impl ClaimsObject for Value {
    fn claims_map(&self) -> Option<&Map<String, Value>> {
        self.as_object()
    }
}

impl ClaimsObject for Map<String, Value> {
    fn claims_map(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }
}

/// A claim path such as `org.tier`, split into segments once at configuration time.
///
/// Claim names may themselves contain dots (namespaced claims such as
/// `https://example.com/roles`), so lookup prefers the longest key that exists at
/// each level: `https://example.com/roles` finds that top-level claim, while
/// `org.tier` walks into the `org` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
    /// Byte ranges of the segments inside `text`.
    segments: Vec<(usize, usize)>,
}

/// Why a claim path was refused at configuration time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPathError {
    Empty,
    EmptySegment,
    TooManySegments,
}

impl fmt::Display for ClaimPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimPathError::Empty => f.write_str("claim path is empty"),
            ClaimPathError::EmptySegment => f.write_str("claim path has an empty segment"),
            ClaimPathError::TooManySegments => write!(
                f,
                "claim path has more than {MAX_CLAIM_PATH_SEGMENTS} segments"
            ),
        }
    }
}

impl ClaimPath {
    pub fn parse(text: &str) -> Result<ClaimPath, ClaimPathError> {
        if text.is_empty() {
            return Err(ClaimPathError::Empty);
        }
        let mut segments = Vec::new();
        let mut start = 0;
        for part in text.split('.') {
            if part.is_empty() {
                return Err(ClaimPathError::EmptySegment);
            }
            if segments.len() == MAX_CLAIM_PATH_SEGMENTS {
                return Err(ClaimPathError::TooManySegments);
            }
            segments.push((start, start + part.len()));
            start += part.len() + 1;
        }
        Ok(ClaimPath {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Is this a top-level claim named `name` (e.g. `scope`)?
    pub fn is_claim(&self, name: &str) -> bool {
        self.text == name
    }

    /// The claim value at this path in a claims object.
    pub fn lookup<'v>(&self, claims: &'v Map<String, Value>) -> Option<&'v Value> {
        self.lookup_from(claims, 0)
    }

    /// The claim value at this path in any claims object.
    pub fn lookup_in<'v, C: ClaimsObject + ?Sized>(&self, claims: &'v C) -> Option<&'v Value> {
        claims.claims_map().and_then(|map| self.lookup(map))
    }

    fn lookup_from<'v>(&self, object: &'v Map<String, Value>, first: usize) -> Option<&'v Value> {
        let (start, _) = *self.segments.get(first)?;
        // Longest key first, so a dotted claim name wins over a nested walk.
        for last in (first..self.segments.len()).rev() {
            let (_, end) = *self.segments.get(last)?;
            let Some(key) = self.text.get(start..end) else {
                continue;
            };
            let Some(value) = object.get(key) else {
                continue;
            };
            if last + 1 == self.segments.len() {
                return Some(value);
            }
            if let Some(inner) = value.as_object() {
                if let Some(found) = self.lookup_from(inner, last + 1) {
                    return Some(found);
                }
            }
        }
        None
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn base() -> Value {
        json!({"iss": "https://idp", "aud": "api", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10})
    }

    fn with(changes: Value) -> Map<String, Value> {
        let mut c = claims(base());
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    fn req() -> ClaimRequirements {
        let mut r = ClaimRequirements::new("https://idp");
        r.audiences = Audiences::OneOf(vec!["api".into(), "other".into()]);
        r
    }

    #[test]
    fn an_introspection_answer_may_omit_exp_iss_and_aud() {
        let answer = with(json!({"exp": null, "iss": null, "aud": null, "active": true}));
        assert_eq!(validate_introspected(&answer, &req(), NOW), Ok(()));
        assert_eq!(
            validate(&answer, &req(), NOW),
            Err(ClaimError::ExpMissing),
            "the same members in a JWT are refused"
        );
    }

    #[test]
    fn an_introspection_answer_is_checked_on_what_it_states() {
        let cases = [
            (with(json!({"exp": NOW - 3_600})), ClaimError::Expired),
            (
                with(json!({"iss": "https://other"})),
                ClaimError::IssuerMismatch,
            ),
            (
                with(json!({"aud": "elsewhere"})),
                ClaimError::AudienceMismatch,
            ),
            (with(json!({"iss": 7})), ClaimError::ClaimTypeInvalid("iss")),
        ];
        for (answer, expected) in cases {
            assert_eq!(validate_introspected(&answer, &req(), NOW), Err(expected));
        }
    }

    #[test]
    fn a_valid_token_passes() {
        assert_eq!(validate(&claims(base()), &req(), NOW), Ok(()));
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let mut lifetime = req();
        lifetime.max_lifetime_s = Some(100);
        let mut required = req();
        required.required_claims = vec![ClaimPath::parse("org.tier").unwrap()];
        let cases: Vec<(&str, Map<String, Value>, ClaimRequirements, ClaimError)> = vec![
            (
                "exp as string",
                with(json!({"exp": "soon"})),
                req(),
                ClaimError::TimeClaimInvalid(TimeClaim::Exp),
            ),
            (
                "exp as float",
                with(json!({"exp": 1.5e9})),
                req(),
                ClaimError::TimeClaimInvalid(TimeClaim::Exp),
            ),
            (
                "negative nbf",
                with(json!({"nbf": -1})),
                req(),
                ClaimError::TimeClaimInvalid(TimeClaim::Nbf),
            ),
            (
                "iat as bool",
                with(json!({"iat": true})),
                req(),
                ClaimError::TimeClaimInvalid(TimeClaim::Iat),
            ),
            (
                "no exp",
                with(json!({"exp": null})),
                req(),
                ClaimError::ExpMissing,
            ),
            (
                "expired beyond skew",
                with(json!({"exp": NOW - 61})),
                req(),
                ClaimError::Expired,
            ),
            (
                "expired exactly at exp + skew",
                with(json!({"exp": NOW - 60})),
                req(),
                ClaimError::Expired,
            ),
            (
                "nbf beyond skew",
                with(json!({"nbf": NOW + 61})),
                req(),
                ClaimError::NotYetValid,
            ),
            (
                "iat beyond skew",
                with(json!({"iat": NOW + 61})),
                req(),
                ClaimError::IssuedInFuture,
            ),
            (
                "lifetime too long",
                with(json!({"exp": NOW + 200})),
                lifetime.clone(),
                ClaimError::LifetimeTooLong,
            ),
            (
                "lifetime without iat",
                with(json!({"iat": null})),
                lifetime,
                ClaimError::IatMissing,
            ),
            (
                "wrong issuer",
                with(json!({"iss": "https://idp/"})),
                req(),
                ClaimError::IssuerMismatch,
            ),
            (
                "missing issuer",
                with(json!({"iss": null})),
                req(),
                ClaimError::IssuerMismatch,
            ),
            (
                "issuer not a string",
                with(json!({"iss": 7})),
                req(),
                ClaimError::ClaimTypeInvalid("iss"),
            ),
            (
                "wrong audience",
                with(json!({"aud": "web"})),
                req(),
                ClaimError::AudienceMismatch,
            ),
            (
                "audience array without match",
                with(json!({"aud": ["web", "cli"]})),
                req(),
                ClaimError::AudienceMismatch,
            ),
            (
                "missing audience",
                with(json!({"aud": null})),
                req(),
                ClaimError::AudienceMismatch,
            ),
            (
                "audience as number",
                with(json!({"aud": 1})),
                req(),
                ClaimError::ClaimTypeInvalid("aud"),
            ),
            (
                "audience array holding a number",
                with(json!({"aud": ["api", 1]})),
                req(),
                ClaimError::ClaimTypeInvalid("aud"),
            ),
            (
                "subject as number",
                with(json!({"sub": 42})),
                req(),
                ClaimError::ClaimTypeInvalid("sub"),
            ),
            (
                "subject as object",
                with(json!({"sub": {"id": "alice"}})),
                req(),
                ClaimError::ClaimTypeInvalid("sub"),
            ),
            (
                "jti as number",
                with(json!({"jti": 7})),
                req(),
                ClaimError::ClaimTypeInvalid("jti"),
            ),
            (
                "registered types are checked whatever the audiences",
                with(json!({"aud": 5})),
                ClaimRequirements {
                    audiences: Audiences::Any,
                    ..req()
                },
                ClaimError::ClaimTypeInvalid("aud"),
            ),
            (
                "required nested claim missing",
                with(json!({"org": {"name": "x"}})),
                required.clone(),
                ClaimError::RequiredClaimMissing("org.tier".into()),
            ),
            (
                "required claim null",
                with(json!({"org": {"tier": null}})),
                required,
                ClaimError::RequiredClaimMissing("org.tier".into()),
            ),
        ];
        for (name, c, r, want) in cases {
            assert_eq!(validate(&c, &r, NOW), Err(want), "{name}");
        }
    }

    #[test]
    fn tolerances_and_options_that_accept() {
        let mut no_exp = req();
        no_exp.require_exp = false;
        let mut no_aud = req();
        no_aud.audiences = Audiences::Any;
        let mut lifetime = req();
        lifetime.max_lifetime_s = Some(310);
        let cases: Vec<(&str, Map<String, Value>, ClaimRequirements)> = vec![
            ("expired within skew", with(json!({"exp": NOW - 59})), req()),
            ("nbf within skew", with(json!({"nbf": NOW + 60})), req()),
            ("iat within skew", with(json!({"iat": NOW + 60})), req()),
            ("exp optional", with(json!({"exp": null})), no_exp),
            (
                "aud in array",
                with(json!({"aud": ["web", "other"]})),
                req(),
            ),
            (
                "any audience accepts another service's aud",
                with(json!({"aud": "web"})),
                no_aud.clone(),
            ),
            (
                "any audience accepts no aud",
                with(json!({"aud": null})),
                no_aud,
            ),
            ("jti as string", with(json!({"jti": "j-1"})), req()),
            ("lifetime within max", claims(base()), lifetime),
        ];
        for (name, c, r) in cases {
            assert_eq!(validate(&c, &r, NOW), Ok(()), "{name}");
        }
    }

    #[test]
    fn a_configured_audience_claim_replaces_aud() {
        let mut cognito = req();
        cognito.audience_claim = "client_id".to_owned();
        let access = with(json!({"aud": null, "client_id": "api"}));
        assert_eq!(validate(&access, &cognito, NOW), Ok(()));
    }

    #[test]
    fn a_configured_audience_claim_ignores_aud() {
        let mut cognito = req();
        cognito.audience_claim = "client_id".to_owned();
        // An ID token names the client in `aud` and has no `client_id`.
        let id_token = with(json!({"aud": "api"}));
        assert_eq!(
            validate(&id_token, &cognito, NOW),
            Err(ClaimError::AudienceMismatch)
        );
        let other_client = with(json!({"aud": null, "client_id": "web"}));
        assert_eq!(
            validate(&other_client, &cognito, NOW),
            Err(ClaimError::AudienceMismatch)
        );
    }

    #[test]
    fn token_type_is_compared_as_a_media_type() {
        let mut r = req();
        r.token_type = Some(TokenType::new("at+jwt"));
        for accepted in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert_eq!(validate_type(Some(accepted), &r), Ok(()), "{accepted}");
        }
        for refused in [None, Some("JWT"), Some("at+jwt "), Some("application/jwt")] {
            assert_eq!(
                validate_type(refused, &r),
                Err(ClaimError::TokenTypeNotAllowed),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_token_within_the_age_bound_passes_the_age_check() {
        let c = with(json!({"iat": NOW - 300}));
        assert_eq!(validate_age(&c, 300, 0, NOW), Ok(()));
    }

    #[test]
    fn a_token_older_than_the_age_bound_is_too_old() {
        let c = with(json!({"iat": NOW - 301}));
        assert_eq!(validate_age(&c, 300, 0, NOW), Err(ClaimError::TooOld));
    }

    #[test]
    fn the_age_bound_allows_the_clock_skew() {
        let c = with(json!({"iat": NOW - 360}));
        assert_eq!(validate_age(&c, 300, 60, NOW), Ok(()));
        assert_eq!(validate_age(&c, 300, 59, NOW), Err(ClaimError::TooOld));
    }

    #[test]
    fn a_token_without_iat_has_no_age_and_is_refused() {
        let c = with(json!({"iat": null}));
        assert_eq!(validate_age(&c, 300, 60, NOW), Err(ClaimError::IatMissing));
    }

    #[test]
    fn an_iat_of_the_wrong_type_is_invalid_for_the_age_check() {
        let c = with(json!({"iat": "yesterday"}));
        assert_eq!(
            validate_age(&c, 300, 60, NOW),
            Err(ClaimError::TimeClaimInvalid(TimeClaim::Iat))
        );
    }

    #[test]
    fn without_a_token_type_any_typ_is_accepted() {
        for typ in [None, Some("JWT"), Some("at+jwt")] {
            assert_eq!(validate_type(typ, &req()), Ok(()), "{typ:?}");
        }
    }

    #[test]
    fn huge_time_values_do_not_overflow() {
        let c = with(json!({"exp": u64::MAX, "nbf": 0, "iat": 0}));
        assert_eq!(validate(&c, &req(), NOW), Ok(()));
    }

    #[test]
    fn claim_path_walks_nested_objects() {
        let c = claims(json!({"org": {"tier": 2, "a": {"b": "deep"}}}));
        assert_eq!(
            ClaimPath::parse("org.tier").unwrap().lookup(&c),
            Some(&json!(2))
        );
        assert_eq!(
            ClaimPath::parse("org.a.b").unwrap().lookup(&c),
            Some(&json!("deep"))
        );
        assert_eq!(ClaimPath::parse("org.none").unwrap().lookup(&c), None);
        assert_eq!(ClaimPath::parse("org.tier.x").unwrap().lookup(&c), None);
    }

    #[test]
    fn claim_path_prefers_a_dotted_claim_name() {
        let c = claims(json!({"https://example.com/roles": ["admin"], "a.b": 1, "a": {"b": 2}}));
        assert_eq!(
            ClaimPath::parse("https://example.com/roles")
                .unwrap()
                .lookup(&c),
            Some(&json!(["admin"]))
        );
        assert_eq!(ClaimPath::parse("a.b").unwrap().lookup(&c), Some(&json!(1)));
    }

    #[test]
    fn claim_path_falls_back_to_nested_when_dotted_key_is_absent() {
        let c = claims(json!({"a": {"b": 2}}));
        assert_eq!(ClaimPath::parse("a.b").unwrap().lookup(&c), Some(&json!(2)));
    }

    #[test]
    fn malformed_claim_paths_are_refused() {
        assert_eq!(ClaimPath::parse(""), Err(ClaimPathError::Empty));
        assert_eq!(ClaimPath::parse("a..b"), Err(ClaimPathError::EmptySegment));
        assert_eq!(ClaimPath::parse(".a"), Err(ClaimPathError::EmptySegment));
        let long = vec!["x"; MAX_CLAIM_PATH_SEGMENTS + 1].join(".");
        assert_eq!(
            ClaimPath::parse(&long),
            Err(ClaimPathError::TooManySegments)
        );
    }
}
