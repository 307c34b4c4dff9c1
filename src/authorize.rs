//! The request pipeline: select the rule, find and verify the token(s) it needs, check the
//! claims, and produce a [`Decision`] — or say which provider's keys the request must wait for.
//!
//! This is the whole of claimcheck's judgement; the proxy-wasm shell only supplies the
//! request, the key sets and the clock, and carries out the outcome. Keeping it pure lets the
//! native tests, the CLI's `explain` and the filter run the very same code.
//!
//! Semantics worth knowing:
//! - `deny` rules refuse before looking at any token (`route_denied`; `no_rule_matched` when
//!   the explicit default is `deny`).
//! - `allow` rules admit anonymous requests, but a token that is present is still verified
//!   (against the providers whose `issuer` equals its `iss`, accepted when one of them accepts
//!   it); an invalid one is refused, so a client never believes a broken token was accepted.
//! - Two different tokens in the sources of any provider the rule considers refuse the request
//!   (`token_ambiguous`) before any token is accepted.
//! - `require` with `any`: providers are tried in order; a provider whose issuer differs from
//!   the token's `iss` is skipped, the first that verifies wins. When none does, the refusal
//!   is the failure of a provider whose issuer matched (`issuer_unknown` if none did).
//! - `require` with `all`: every listed provider must verify a token; claim conditions are
//!   checked against the claims of the first listed provider. A request with none of the
//!   tokens is `token_missing`; one with some but not all is `providers_requirement_failed`.
//! - Rules match the request's canonical method and path ([`Request::target`]); a request
//!   whose path has none is refused first (`path_not_canonical`, `path_escaped_slash`).
//! - Claim conditions are checked after the registered claims (`exp`, `aud`, ...).
//! - An allowed request loses every provider's token sources, except those of an accepted
//!   provider that forwards its token: an unverified second token never goes upstream.

use std::rc::Rc;

use serde_json::Value;

use crate::cache::TokenCache;
use crate::claims;
use crate::config::{Config, Provider, ProviderId};
use crate::crypto::SignatureVerifier;
use crate::decision::{Allow, Decision, Denial, DenyReason};
use crate::extract::{self, FoundToken, TokenSource};
use crate::jwks::KeySet;
use crate::jwt::{self, DecodedJwt, JwtError, VerifyError};
use crate::policy::{self, Action, ProviderSet, Requirement};
use crate::request::{PathError, Request};

/// Where a provider's keys stand, as the caller knows them.
#[derive(Debug, Clone, Copy)]
pub enum KeyAvailability<'a> {
    Ready {
        keys: &'a KeySet,
        /// Changes whenever the key set does; cached verifications of an older generation
        /// are not trusted.
        generation: u64,
        /// Whether a token with an unknown `kid` may wait for a refetch (rate-limited by
        /// the caller).
        refetch_allowed: bool,
    },
    /// Not known yet; a fetch is due or running. The request may wait.
    Loading,
    /// Not known, and waiting is over (or pointless).
    Unavailable,
}

/// The caller's key sets, by provider.
pub trait KeyLookup {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_>;
}

/// Why a request must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// The provider's keys have not been fetched yet.
    ColdStart,
    /// The token names a `kid` the key set lacks; the provider may have rotated keys.
    UnknownKid,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Decided(Verdict),
    /// Park the request until `provider`'s keys change, then evaluate it again.
    Wait {
        provider: ProviderId,
        cause: WaitCause,
    },
}

/// A decision with what logs and metrics need to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    /// The name of the rule that applied (`default` for the default action).
    pub rule: String,
    /// The provider whose token was accepted, or whose check refused the request.
    pub provider: Option<ProviderId>,
    /// Whether a refusal is only to be logged and counted.
    pub dry_run: bool,
    /// `Some(hit)` when a token was looked up in the verified-token cache.
    pub cache_hit: Option<bool>,
}

/// A token that passed signature verification, as remembered by the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub provider: ProviderId,
    /// The key-set generation it was verified against.
    pub generation: u64,
    pub jwt: Rc<DecodedJwt>,
}

pub type VerifiedCache = TokenCache<Verified>;

/// Decides what to do with `request`.
pub fn authorize(
    config: &Config,
    request: &Request,
    keys: &dyn KeyLookup,
    verifier: &dyn SignatureVerifier,
    cache: &mut VerifiedCache,
    now_s: u64,
) -> Outcome {
    let target = match request.target(&config.paths) {
        Ok(target) => target,
        Err(error) => return Outcome::Decided(refused_request(config, error)),
    };
    let rule = policy::select_rule(config, request, &target);
    let mut pipeline = Pipeline {
        config,
        request,
        keys,
        verifier,
        cache,
        now_s,
        cache_hit: None,
    };
    let result = match rule.action {
        Action::Deny if rule.index.is_none() => Err(Stop::deny(DenyReason::NoRuleMatched, None)),
        Action::Deny => Err(Stop::deny(DenyReason::RouteDenied, None)),
        Action::Allow => pipeline.allow_optional_token(),
        Action::Require(requirement) => pipeline.require(requirement),
    };
    let cache_hit = pipeline.cache_hit;
    let (decision, provider) = match result {
        Ok(allow) => {
            let provider = allow.provider;
            (Decision::Allow(allow), provider)
        }
        Err(Stop::Deny(denial, provider)) => (Decision::Deny(denial), provider),
        Err(Stop::Wait(provider, cause)) => return Outcome::Wait { provider, cause },
    };
    Outcome::Decided(Verdict {
        decision,
        rule: rule.name.to_owned(),
        provider,
        dry_run: rule.dry_run,
        cache_hit,
    })
}

/// The name reported for a request refused before any rule is selected.
pub const REQUEST_RULE_NAME: &str = "request";

/// A request whose method and path have no canonical form: no rule can be chosen for it
/// with confidence, so it is refused (or, in a global dry run, let through stripped).
fn refused_request(config: &Config, error: PathError) -> Verdict {
    Verdict {
        decision: Decision::Deny(Denial::new(DenyReason::from(error))),
        rule: REQUEST_RULE_NAME.to_owned(),
        provider: None,
        dry_run: config.dry_run,
        cache_hit: None,
    }
}

/// Why the pipeline stopped short of allowing.
enum Stop {
    Deny(Denial, Option<ProviderId>),
    Wait(ProviderId, WaitCause),
}

impl Stop {
    fn deny(reason: DenyReason, provider: Option<ProviderId>) -> Stop {
        Stop::Deny(Denial::new(reason), provider)
    }
}

/// One provider's verified token.
struct Accepted<'c> {
    provider: &'c Provider,
    jwt: Rc<DecodedJwt>,
}

/// How one provider's check of the request ended, short of success.
enum Miss {
    /// The provider's sources carry no token.
    NoToken,
    /// A token, but with another provider's `iss`: not this provider's to judge.
    OtherIssuer,
    Stop(Stop),
}

struct Pipeline<'a, 'c> {
    config: &'c Config,
    request: &'a Request,
    keys: &'a dyn KeyLookup,
    verifier: &'a dyn SignatureVerifier,
    cache: &'a mut VerifiedCache,
    now_s: u64,
    cache_hit: Option<bool>,
}

impl<'a, 'c> Pipeline<'a, 'c> {
    fn require(&mut self, requirement: &'c Requirement) -> Result<Allow, Stop> {
        let accepted = match &requirement.providers {
            ProviderSet::Any(ids) => vec![self.any_of(ids)?],
            ProviderSet::All(ids) => self.all_of(ids)?,
        };
        let Some(first) = accepted.first() else {
            return Err(Stop::deny(DenyReason::TokenMissing, None));
        };
        if let Err(failure) = requirement.check_claims(first.jwt.claims()) {
            let denial =
                Denial::new(DenyReason::ClaimsConditionFailed).with_scopes(failure.required_scopes);
            return Err(Stop::Deny(denial, Some(first.provider.id)));
        }
        Ok(self.allowed(&accepted))
    }

    fn any_of(&mut self, ids: &[ProviderId]) -> Result<Accepted<'c>, Stop> {
        let mut first_failure: Option<Stop> = None;
        let mut saw_token = false;
        for (provider, found) in self.find_tokens(ids)? {
            match self.check(provider, found) {
                Ok(accepted) => return Ok(accepted),
                Err(Miss::NoToken) => {}
                Err(Miss::OtherIssuer) => saw_token = true,
                Err(Miss::Stop(stop @ Stop::Wait(..))) => return Err(stop),
                Err(Miss::Stop(stop)) => {
                    saw_token = true;
                    first_failure.get_or_insert(stop);
                }
            }
        }
        Err(first_failure.unwrap_or(if saw_token {
            Stop::deny(DenyReason::IssuerUnknown, None)
        } else {
            Stop::deny(DenyReason::TokenMissing, None)
        }))
    }

    fn all_of(&mut self, ids: &[ProviderId]) -> Result<Vec<Accepted<'c>>, Stop> {
        let tokens = self.find_tokens(ids)?;
        let carries_token = tokens.iter().any(|(_, found)| found.is_some());
        let mut accepted = Vec::with_capacity(tokens.len());
        for (provider, found) in tokens {
            match self.check(provider, found) {
                Ok(one) => accepted.push(one),
                Err(Miss::Stop(stop)) => return Err(stop),
                // RFC 6750 §3.1: the bare challenge is for a request without credentials.
                // One that carries another listed provider's token did send some.
                Err(Miss::NoToken) if !carries_token => {
                    return Err(Stop::deny(DenyReason::TokenMissing, Some(provider.id)))
                }
                Err(Miss::NoToken | Miss::OtherIssuer) => {
                    return Err(Stop::deny(
                        DenyReason::ProvidersRequirementFailed,
                        Some(provider.id),
                    ))
                }
            }
        }
        Ok(accepted)
    }

    /// `allow` rules: anonymous is fine, but a token that is present must be valid: it is
    /// judged as by an any-of over every provider, so any provider of its issuer may accept it.
    fn allow_optional_token(&mut self) -> Result<Allow, Stop> {
        let every: Vec<ProviderId> = self.config.providers.iter().map(|p| p.id).collect();
        match self.any_of(&every) {
            Ok(accepted) => Ok(self.allowed(&[accepted])),
            Err(Stop::Deny(denial, _)) if denial.reason == DenyReason::TokenMissing => {
                Ok(self.allowed(&[]))
            }
            Err(stop) => Err(stop),
        }
    }

    /// Each listed provider with the token its sources carry, found once per request.
    /// Refuses a request on which a listed provider finds two different tokens (or one too
    /// long) before any provider may accept a token: accepting one provider's token would
    /// forward the other, unverified, upstream (see [`extract`]).
    fn find_tokens(
        &self,
        ids: &[ProviderId],
    ) -> Result<Vec<(&'c Provider, Option<FoundToken<'a>>)>, Stop> {
        let request: &'a Request = self.request;
        ids.iter()
            .filter_map(|id| self.config.provider(*id))
            .map(
                |provider| match extract::find_token(&provider.sources, request) {
                    Ok(found) => Ok((provider, found)),
                    Err(error) => Err(Stop::deny(DenyReason::from(error), Some(provider.id))),
                },
            )
            .collect()
    }

    /// Verifies the token found in `provider`'s sources.
    fn check(
        &mut self,
        provider: &'c Provider,
        found: Option<FoundToken<'a>>,
    ) -> Result<Accepted<'c>, Miss> {
        let deny = |reason: DenyReason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        let Some(found) = found else {
            return Err(Miss::NoToken);
        };
        let jwt = self.verified(provider, &found.token)?;
        claims::validate(jwt.claims(), &provider.claims, self.now_s)
            .map_err(|error| deny(DenyReason::from(&error)))?;
        Ok(Accepted { provider, jwt })
    }

    /// The decoded token once its signature verified against `provider`'s keys — from the
    /// cache when this exact token already verified against the current key set.
    fn verified(&mut self, provider: &Provider, token: &str) -> Result<Rc<DecodedJwt>, Miss> {
        let deny = |reason: DenyReason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        let availability = self.keys.keys(provider.id);
        if let KeyAvailability::Ready { generation, .. } = availability {
            if let Some(hit) = self.cache.get(token, self.now_s) {
                if hit.provider == provider.id && hit.generation == generation {
                    self.cache_hit = Some(true);
                    return Ok(Rc::clone(&hit.jwt));
                }
            }
        }
        let jwt = jwt::decode(token).map_err(|error| deny(decode_refusal(&error)))?;
        let issuer = jwt.claims().get("iss").and_then(Value::as_str);
        if issuer != Some(provider.issuer.as_str()) {
            return Err(Miss::OtherIssuer);
        }
        let (keys, generation, refetch_allowed) = match availability {
            KeyAvailability::Ready {
                keys,
                generation,
                refetch_allowed,
            } => (keys, generation, refetch_allowed),
            KeyAvailability::Loading if provider.cold_start.max_wait_ms > 0 => {
                return Err(Miss::Stop(Stop::Wait(provider.id, WaitCause::ColdStart)))
            }
            KeyAvailability::Loading => return Err(deny(DenyReason::KeysUnavailable)),
            KeyAvailability::Unavailable => {
                return Err(deny(provider.cold_start.on_timeout.deny_reason()))
            }
        };
        self.cache_hit = Some(false);
        match jwt::verify(&jwt, keys, self.verifier) {
            Ok(()) => {}
            // Only a `kid` the set lacks hints at a rotation worth waiting for. A token
            // without `kid` that no key can verify is refused: otherwise any kid-less
            // token with an odd `alg` would park requests behind refetches.
            Err(VerifyError::KeyNotFound) if refetch_allowed && jwt.header().kid.is_some() => {
                return Err(Miss::Stop(Stop::Wait(provider.id, WaitCause::UnknownKid)))
            }
            Err(error) => return Err(deny(verify_refusal(error))),
        }
        let jwt = Rc::new(jwt);
        let expires_at_s = jwt.claims().get("exp").and_then(Value::as_u64);
        // An expired token would only evict useful entries (the claims check refuses it).
        if expires_at_s.is_none_or(|exp| exp > self.now_s) {
            self.cache.insert(
                token,
                Verified {
                    provider: provider.id,
                    generation,
                    jwt: Rc::clone(&jwt),
                },
                expires_at_s,
            );
        }
        Ok(jwt)
    }

    /// The edits for an allowed request: [`stripped`] keeps the sources of each accepted
    /// provider that forwards its token; then the identity of each accepted token is set.
    fn allowed(&self, accepted: &[Accepted<'c>]) -> Allow {
        let forwarded: Vec<&Provider> = accepted
            .iter()
            .filter(|one| one.provider.forward_token)
            .map(|one| one.provider)
            .collect();
        let mut allow = stripped(self.config, self.request, &forwarded);
        allow.provider = accepted.first().map(|one| one.provider.id);
        for one in accepted {
            let payload = one
                .provider
                .payload_header
                .as_ref()
                .map(|_| one.jwt.payload_b64());
            let plan = policy::output_plan(one.provider, one.jwt.claims(), payload);
            allow.headers_to_set.extend(plan.set);
        }
        allow
    }
}

/// The one decision of what a request loses before it goes upstream, allowed or let
/// through by a dry run: every client-sent identity header, under every spelling an
/// upstream reads as it (`x_user_id` for `x-user-id`), and every spelling of every token
/// source of every provider — except the sources of the `forwarded` providers, whose
/// tokens were verified for this request.
///
/// Stripping the sources of providers that did not accept (or were not consulted) is what
/// keeps a second, unverified token — say a `session` cookie another provider reads — from
/// riding upstream next to the one that was verified.
pub fn stripped(config: &Config, request: &Request, forwarded: &[&Provider]) -> Allow {
    let mut allow = Allow::default();
    for name in config.identity_header_names() {
        for (spelled, _) in extract::spelling::headers(request, name) {
            if !allow.headers_to_remove.iter().any(|h| h == spelled) {
                allow.headers_to_remove.push(spelled.to_owned());
            }
        }
        // Removed even when absent: the host's copy is the one that counts.
        if !allow.headers_to_remove.contains(name) {
            allow.headers_to_remove.push(name.clone());
        }
    }
    let kept: Vec<&TokenSource> = forwarded.iter().flat_map(|p| p.sources.iter()).collect();
    // One removal over every source at once: removals computed per provider from the
    // original request would each rewrite `:path` or `cookie` from scratch, and the last
    // rewrite would put back the token an earlier one took out.
    let mut sources: Vec<TokenSource> = Vec::new();
    for source in config.providers.iter().flat_map(|p| p.sources.iter()) {
        if !kept.contains(&source) && !sources.contains(source) {
            sources.push(source.clone());
        }
    }
    if !sources.is_empty() {
        allow.apply_edits(extract::removal_edits(&sources, request));
    }
    allow
}

/// What a request refused in dry run loses before it goes upstream anyway: it was not
/// authorised, so no token on it counts as verified for it and none is forwarded.
pub fn dry_run_edits(config: &Config, request: &Request) -> Allow {
    stripped(config, request, &[])
}

/// Every decoding failure is a malformed token, except the two that say something precise.
fn decode_refusal(error: &JwtError) -> DenyReason {
    match error {
        JwtError::TooLong => DenyReason::TokenTooLarge,
        JwtError::AlgNone | JwtError::UnsupportedAlgorithm => DenyReason::AlgorithmNotAllowed,
        _ => DenyReason::TokenMalformed,
    }
}

fn verify_refusal(error: VerifyError) -> DenyReason {
    match error {
        VerifyError::AlgorithmNotAllowed | VerifyError::AlgorithmKeyMismatch => {
            DenyReason::AlgorithmNotAllowed
        }
        VerifyError::KeyNotFound => DenyReason::KeyNotFound,
        VerifyError::SignatureInvalid => DenyReason::SignatureInvalid,
    }
}
