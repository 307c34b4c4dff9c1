//! What [`authorize`](crate::authorize::authorize) saw on its way to a decision.
//!
//! The pipeline reports each step to an [`Observer`]: the rules tried, where each provider
//! found its token, the decoding, the issuer match, the key that verified the signature, the
//! registered claims and the claim conditions. The filter passes [`Unobserved`], whose methods
//! are empty and whose costly records are skipped at compile time, so observing costs it
//! nothing; `claimcheck explain` passes a [`Record`] and renders it. The explanation is then
//! the filter's own run, not a second implementation of it.

use serde_json::{Map, Value};

use crate::certificate_binding::BindingError;
use crate::claims::ClaimError;
use crate::dpop::{DpopError, ReplayAnswer};
use crate::extract::ExtractError;
use crate::jwa::Algorithm;
use crate::jwks::VerifyingKey;
use crate::jwt::{DecodedJwt, Header, JwtError, VerifyError};
use crate::policy::{ConditionTrace, RuleTrace};
use crate::provider_id::ProviderId;
use crate::revocation::RevokedBy;

/// The steps of one request through the pipeline. Every method defaults to doing nothing.
pub trait Observer {
    /// Whether to build the records that cost work of their own (why each rule did not
    /// match, the condition tree with each node's result).
    const RECORDS: bool = false;

    /// The rules tried, up to and including the one that applies (only with `RECORDS`).
    fn rules(&mut self, _rules: Vec<RuleTrace>) {}
    /// Where `provider`'s sources found a token: the index of the source, none, or why
    /// extraction refused the request.
    fn token(&mut self, _provider: ProviderId, _found: Result<Option<usize>, ExtractError>) {}
    /// The token `provider` found, decoded (once per token; reported for each provider).
    fn decoded(&mut self, _provider: ProviderId, _result: Result<&DecodedJwt, &JwtError>) {}
    /// Whether the token's `iss` routes it to `provider`.
    fn issuer(&mut self, _provider: ProviderId, _matches: bool) {}
    /// The token verified earlier against the current keys (verified-token cache).
    fn cached(&mut self, _provider: ProviderId) {}
    /// The signature check: the key that verified it, or why none did.
    fn signature(&mut self, _provider: ProviderId, _result: Result<&VerifyingKey, VerifyError>) {}
    /// The registered claims (`iss`, `aud`, `exp`/`nbf`/`iat`, required claims).
    fn claims(&mut self, _provider: ProviderId, _result: Result<(), &ClaimError>) {}
    /// The rule's claim conditions on the accepted token (only with `RECORDS`).
    fn conditions(&mut self, _trace: ConditionTrace) {}
    /// The rule's `require.peer`: held, or why not (only with `RECORDS`).
    fn peer(&mut self, _result: Result<(), String>) {}
    /// The DPoP checks of `provider`'s token: none applied (`Ok(false)`), the proof
    /// verified (`Ok(true)`), or why it was refused.
    fn dpop(&mut self, _provider: ProviderId, _result: Result<bool, DpopError>) {}
    /// The verified proof's replay check.
    fn replay(&mut self, _provider: ProviderId, _answer: ReplayAnswer) {}
    /// The token's RFC 8705 certificate binding (`cnf.x5t#S256`) checked for this request.
    fn binding(&mut self, _provider: ProviderId, _result: Result<(), BindingError>) {}
    /// What `provider`'s introspection endpoint said of the token (RFC 7662).
    fn introspection(&mut self, _provider: ProviderId, _step: Introspected) {}
    /// `provider`'s revocation list against the accepted token.
    fn revocation(&mut self, _provider: ProviderId, _step: RevocationCheck) {}
}

/// The revocation-list step of one provider's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck {
    /// The list does not name the token's `jti`, `sub` or `sid`.
    NotRevoked,
    /// Listed by this claim.
    Revoked(RevokedBy),
    /// No list to check against (not fetched, or older than `max_stale_s`), refused.
    Unavailable,
}

impl RevocationCheck {
    /// The stable code `explain --json` prints.
    pub fn code(self) -> &'static str {
        match self {
            RevocationCheck::NotRevoked => "not_revoked",
            RevocationCheck::Revoked(RevokedBy::Jti) => "revoked_jti",
            RevocationCheck::Revoked(RevokedBy::Sub) => "revoked_sub",
            RevocationCheck::Revoked(RevokedBy::Sid) => "revoked_sid",
            RevocationCheck::Unavailable => "unavailable",
        }
    }
}

/// The introspection step of one provider's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Introspected {
    /// `active: true`; the answer's registered claims were then checked.
    Active,
    /// `active: false`.
    Inactive,
    /// No answer (the call failed, timed out, or none was supplied), refused.
    Unavailable,
    /// No answer, and the rule's `on_outage: "allow"` let the verified JWT through.
    OutageAllowed,
}

impl Introspected {
    /// The stable code `explain --json` prints.
    pub fn code(self) -> &'static str {
        match self {
            Introspected::Active => "active",
            Introspected::Inactive => "inactive",
            Introspected::Unavailable => "unavailable",
            Introspected::OutageAllowed => "outage_allowed",
        }
    }
}

/// The filter's observer: sees nothing, costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}

/// Everything an [`Observer`] is told, kept for rendering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub rules: Vec<RuleTrace>,
    /// One entry per provider consulted, in the order the pipeline consulted them.
    pub providers: Vec<ProviderRecord>,
    pub conditions: Option<ConditionTrace>,
    /// The rule's `require.peer`, when it has one: held, or why not.
    pub peer: Option<Result<(), String>>,
}

/// The steps of one provider's check. A step the pipeline did not reach is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRecord {
    pub provider: ProviderId,
    /// The index of the source the token was found in (`Ok(None)`: no token).
    pub token: Option<Result<Option<usize>, ExtractError>>,
    pub decoded: Option<Result<DecodedToken, JwtError>>,
    pub issuer_matches: Option<bool>,
    pub cached: bool,
    pub signature: Option<Result<KeyUsed, VerifyError>>,
    pub claims: Option<Result<(), ClaimError>>,
    /// `Ok(true)`: a DPoP proof verified; `Ok(false)`: no DPoP check applied.
    pub dpop: Option<Result<bool, DpopError>>,
    pub replay: Option<ReplayAnswer>,
    /// The certificate binding, once the registered claims passed.
    pub binding: Option<Result<(), BindingError>>,
    /// The introspection endpoint's word, when asked.
    pub introspection: Option<Introspected>,
    /// The revocation list's word, when the provider has one.
    pub revocation: Option<RevocationCheck>,
}

/// A decoded token's header and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedToken {
    pub header: Header,
    pub claims: Map<String, Value>,
}

/// The key that verified a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsed {
    pub kid: Option<String>,
    pub algorithms: Vec<Algorithm>,
}

impl Record {
    /// The entry of `provider`, added on first mention.
    fn entry(&mut self, provider: ProviderId) -> Option<&mut ProviderRecord> {
        if !self.providers.iter().any(|p| p.provider == provider) {
            self.providers.push(ProviderRecord {
                provider,
                token: None,
                decoded: None,
                issuer_matches: None,
                cached: false,
                signature: None,
                claims: None,
                dpop: None,
                replay: None,
                binding: None,
                introspection: None,
                revocation: None,
            });
        }
        self.providers.iter_mut().find(|p| p.provider == provider)
    }

    /// The first token that decoded, as the request carried it.
    pub fn first_token(&self) -> Option<&Result<DecodedToken, JwtError>> {
        self.providers.iter().find_map(|p| p.decoded.as_ref())
    }
}

impl Observer for Record {
    const RECORDS: bool = true;

    fn rules(&mut self, rules: Vec<RuleTrace>) {
        self.rules = rules;
    }

    fn token(&mut self, provider: ProviderId, found: Result<Option<usize>, ExtractError>) {
        if let Some(entry) = self.entry(provider) {
            entry.token = Some(found);
        }
    }

    fn decoded(&mut self, provider: ProviderId, result: Result<&DecodedJwt, &JwtError>) {
        if let Some(entry) = self.entry(provider) {
            entry.decoded = Some(match result {
                Ok(jwt) => Ok(DecodedToken {
                    header: jwt.header().clone(),
                    claims: jwt.claims().clone(),
                }),
                Err(error) => Err(error.clone()),
            });
        }
    }

    fn issuer(&mut self, provider: ProviderId, matches: bool) {
        if let Some(entry) = self.entry(provider) {
            entry.issuer_matches = Some(matches);
        }
    }

    fn cached(&mut self, provider: ProviderId) {
        if let Some(entry) = self.entry(provider) {
            entry.cached = true;
        }
    }

    fn signature(&mut self, provider: ProviderId, result: Result<&VerifyingKey, VerifyError>) {
        if let Some(entry) = self.entry(provider) {
            entry.signature = Some(result.map(|key| KeyUsed {
                kid: key.kid.clone(),
                algorithms: key.algorithms.clone(),
            }));
        }
    }

    fn claims(&mut self, provider: ProviderId, result: Result<(), &ClaimError>) {
        if let Some(entry) = self.entry(provider) {
            entry.claims = Some(result.map_err(Clone::clone));
        }
    }

    fn conditions(&mut self, trace: ConditionTrace) {
        self.conditions = Some(trace);
    }

    fn binding(&mut self, provider: ProviderId, result: Result<(), BindingError>) {
        if let Some(entry) = self.entry(provider) {
            entry.binding = Some(result);
        }
    }

    fn peer(&mut self, result: Result<(), String>) {
        self.peer = Some(result);
    }

    fn dpop(&mut self, provider: ProviderId, result: Result<bool, DpopError>) {
        if let Some(entry) = self.entry(provider) {
            entry.dpop = Some(result);
        }
    }

    fn replay(&mut self, provider: ProviderId, answer: ReplayAnswer) {
        if let Some(entry) = self.entry(provider) {
            entry.replay = Some(answer);
        }
    }

    fn introspection(&mut self, provider: ProviderId, step: Introspected) {
        if let Some(entry) = self.entry(provider) {
            entry.introspection = Some(step);
        }
    }

    fn revocation(&mut self, provider: ProviderId, step: RevocationCheck) {
        if let Some(entry) = self.entry(provider) {
            entry.revocation = Some(step);
        }
    }
}
