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
    /// Accepted audiences; the token's audience claim must name at least one. Empty = no
    /// audience check.
    pub audiences: Vec<String>,
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
}

impl ClaimRequirements {
    /// Requirements with the documented defaults for one exact `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        ClaimRequirements {
            issuers: Issuers::exact(issuer),
            audiences: Vec::new(),
            audience_claim: DEFAULT_AUDIENCE_CLAIM.to_owned(),
            clock_skew_s: DEFAULT_CLOCK_SKEW_S,
            max_lifetime_s: None,
            require_exp: true,
            required_claims: Vec::new(),
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
    /// `max_lifetime_s` is configured but the token has no `iat` to measure it from.
    IatMissing,
    /// `iss` is absent, not a string, or not one of the provider's issuers (for a tenant
    /// template: not an allowed tenant's issuer).
    IssuerMismatch,
    /// The audience claim is absent, malformed, or names none of the accepted audiences.
    AudienceMismatch,
    /// A required claim is absent or `null`; holds the configured path.
    RequiredClaimMissing(String),
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
            ClaimError::IatMissing => f.write_str("token has no iat claim to measure its lifetime"),
            ClaimError::IssuerMismatch => f.write_str("issuer does not match"),
            ClaimError::AudienceMismatch => f.write_str("audience does not match"),
            ClaimError::RequiredClaimMissing(path) => write!(f, "required claim {path} is missing"),
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
    let exp = time_claim(claims, TimeClaim::Exp)?;
    let nbf = time_claim(claims, TimeClaim::Nbf)?;
    let iat = time_claim(claims, TimeClaim::Iat)?;
    let skew = req.clock_skew_s;

    match exp {
        // RFC 7519 §4.1.4: the current time MUST be before exp.
        Some(exp) if now_s >= exp.saturating_add(skew) => return Err(ClaimError::Expired),
        Some(_) => {}
        None if req.require_exp => return Err(ClaimError::ExpMissing),
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
        _ => return Err(ClaimError::IssuerMismatch),
    }

    if !req.audiences.is_empty()
        && !audience_accepted(claims.get(&req.audience_claim), &req.audiences)
    {
        return Err(ClaimError::AudienceMismatch);
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
        r.audiences = vec!["api".into(), "other".into()];
        r
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
                ClaimError::IssuerMismatch,
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
                ClaimError::AudienceMismatch,
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
        no_aud.audiences.clear();
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
                "no audiences configured ignores aud",
                with(json!({"aud": 5})),
                no_aud,
            ),
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
