//! The request pipeline: select the rule, find and verify the token(s) it needs, check the
//! claims, and produce a [`Decision`] — or park the request, with its deadline, until the
//! keys it needs arrive.
//!
//! This is the whole of claimcheck's judgement: whether to wait and until when, what a wait
//! that ran out becomes, what dry run lets through. The proxy-wasm shell only supplies the
//! request, the key sets, the clock and whether it has room to hold one more request, and
//! carries out the [`Outcome`]. Keeping it pure lets the native tests, the CLI's `explain`
//! (through an [`Observer`]) and the filter run the very same code.
//!
//! Semantics worth knowing:
//! - `deny` rules refuse before looking at any token (`route_denied`; `no_rule_matched` when
//!   the explicit default is `deny`).
//! - `allow` rules admit anonymous requests, but a token that is present is still verified
//!   (against the providers that accept its `iss`, accepted when one of them accepts
//!   it); an invalid one is refused, so a client never believes a broken token was accepted.
//! - Two different tokens in the sources of any provider the rule considers refuse the request
//!   (`token_ambiguous`) before any token is accepted.
//! - Each token found on the request is decoded once, and goes only to the providers its `iss`
//!   routes it to (the configuration's issuer map, then issuer templates for allowed tenants).
//! - `require` with `any`: providers are tried in order; a provider the token's `iss` does not
//!   route to is skipped, the first that verifies wins. When none does, the refusal
//!   is the failure of a provider whose issuer matched (`issuer_unknown` if none did).
//! - `require` with `all`: every listed provider must verify a token; claim conditions are
//!   checked against the claims of the first listed provider. A request with none of the
//!   tokens is `token_missing`; one with some but not all is `providers_requirement_failed`.
//! - Rules match the request's canonical method and path ([`Request::target`]); a request
//!   whose path has none is refused first (`path_not_canonical`, `path_escaped_slash`).
//! - A rule's `max_token_age_s` is checked with the registered claims, on every token the
//!   rule accepts (cached ones too): `token_too_old`, or `iat_missing` without `iat`.
//! - Claim conditions are checked after the registered claims (`exp`, `aud`, ...) and the
//!   provider's `token_type`; a token enters the verified-token cache only once those passed.
//! - `require.peer` is checked before any token: a connection without a client certificate
//!   is `peer_certificate_missing`, one with another certificate `peer_not_allowed` (403,
//!   no challenge). `equals_peer` conditions compare claims with the request's peer.
//! - A claim condition whose claim has the wrong type refuses (`claims_condition_wrong_type`),
//!   under `not` too (see [`crate::policy::Truth`]).
//! - An allowed request loses every provider's token sources, except those of an accepted
//!   provider that forwards its token: an unverified second token never goes upstream.
//! - Dry run: a refusal under a dry-run rule becomes an allow carrying the would-be refusal
//!   ([`Allow::would_deny`]), built in one place ([`dry_run_allow`]).
//! - Waiting: a request whose provider's keys are loading (or whose `kid` is unknown while a
//!   refetch is allowed) is parked until `cold_start.max_wait_ms` from now, when the provider
//!   waits at all and the caller has room; otherwise it is decided at once, as if its wait
//!   had run out. Once parked, it is decided at its deadline at the latest.
//! - Introspection (RFC 7662): a provider without keys takes opaque tokens, and asks its
//!   introspection endpoint about every one (the answer's claims then stand for a JWT's); a
//!   rule with `require.introspect` asks it about every JWT it accepts, after every other
//!   check of the token. `active: false` refuses (`token_inactive`); without an answer yet
//!   the request waits for the call (at most its timeout plus a second), and without one at
//!   all it is refused (`introspection_unavailable`), unless the rule's `on_outage: "allow"`
//!   lets a verified JWT through (the verdict names it: [`Verdict::unintrospected`]).

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::cache::TokenCache;
use crate::certificate_binding;
use crate::claims;
use crate::config::{Config, OnOutage, Provider};
use crate::crypto::SignatureVerifier;
use crate::decision::{Allow, Decision, Denial, DenyReason};
use crate::dpop::{self, Presentation, Presented, ReplayAnswer, ReplayEntry, ReplayStore};
use crate::extract::{self, FoundToken, TokenSource};
use crate::introspect::Found;
use crate::jwks::KeySet;
use crate::jwt::{self, DecodedJwt, JwtError, VerifyError};
use crate::observe::{Introspected, Observer, RevocationCheck};
use crate::peer::PeerCertificate;
use crate::policy::{Action, ConditionFailure, PeerMatch, ProviderSet, Requirement, SelectedRule};
use crate::provider_id::ProviderId;
use crate::request::{PathError, Request};
use crate::revocation::RevocationList;

/// Where a provider's keys stand, as the caller knows them.
#[derive(Debug, Clone, Copy)]
pub enum KeyAvailability<'a> {
    Ready {
        keys: &'a KeySet,
        /// Changes whenever the key set does; cached verifications of an older generation
        /// are not trusted.
        generation: u64,
    },
    /// Not known yet; a fetch is due or running. The request may wait.
    Loading,
    /// The last good keys are older than the provider's `max_stale_s` and every refresh
    /// since has failed: refused at once, no wait would help.
    Expired,
    /// Not known, and waiting is pointless.
    Unavailable,
}

/// Where a provider's revocation list stands, as the caller knows it.
#[derive(Debug, Clone, Copy)]
pub enum ListAvailability<'a> {
    /// The provider has no revocation list: nothing to check.
    NotConfigured,
    Ready(&'a RevocationList),
    /// Not fetched yet; the request may wait like a cold start.
    Loading,
    /// Older than its `max_stale_s`, or not fetched within the wait: refused (503), never
    /// let through unchecked.
    Unavailable,
}

/// The caller's key sets, by provider.
pub trait KeyLookup {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_>;

    /// `provider`'s revocation list; without one configured, nothing is checked.
    fn revocations(&self, _provider: ProviderId) -> ListAvailability<'_> {
        ListAvailability::NotConfigured
    }

    /// Whether a token signed with `kid`, which `provider`'s set lacks, may wait for a
    /// refetch. The caller rate-limits refetches and remembers the `kid`s a refetch did not
    /// find; without remote keys there is nothing to wait for.
    fn may_wait_for_kid(&self, _provider: ProviderId, _kid: &str) -> bool {
        false
    }
}

/// What the caller knows of the authorization server's answers (RFC 7662).
pub trait IntrospectionLookup {
    /// What `provider`'s answer cache holds for `token` now. [`Found::Pending`] when there is
    /// no answer yet: the caller sees to the call, and the request may wait for it.
    fn answer(&self, provider: ProviderId, token: &str) -> Found;
}

/// A caller with no introspection answers: every token is still pending, so a request that
/// may not wait meets the outage behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIntrospection;

impl IntrospectionLookup for NoIntrospection {
    fn answer(&self, _provider: ProviderId, _token: &str) -> Found {
        Found::Pending
    }
}

/// Everything but the request and the configuration that a decision depends on.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub keys: &'a dyn KeyLookup,
    /// The client certificate's digest, asked for only when a token is bound to one.
    pub peer_certificate: &'a dyn PeerCertificate,
    pub verifier: &'a dyn SignatureVerifier,
    pub now_ms: u64,
    pub waiting: Waiting,
    /// Where DPoP proofs are recorded, so each is used once ([`dpop::replay`]).
    pub replay: &'a dyn ReplayStore,
    /// The introspection answers of the providers that have an endpoint.
    pub introspection: &'a dyn IntrospectionLookup,
}

/// Where the request stands with respect to waiting for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// First evaluation. `room`: whether the caller can hold one more parked request.
    New { room: bool },
    /// Parked earlier, until `deadline_ms`; at or past it the request is decided.
    Parked { deadline_ms: u64 },
}

/// Why a request must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// The provider's keys have not been fetched yet.
    ColdStart,
    /// The token names a `kid` the key set lacks; the provider may have rotated keys.
    UnknownKid,
    /// The provider's revocation list has not been fetched yet.
    RevocationList,
    /// The token's introspection call is in flight (in this VM or another).
    Introspection,
}

/// What the caller does with the request.
///
/// Not boxed although `Decided` is much the larger: an outcome is built once per request
/// and moved once, and boxing it would cost every request an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Decided(Verdict),
    /// Hold the request; evaluate it again when `provider`'s keys change, and at
    /// `deadline_ms` at the latest (with [`Waiting::Parked`]).
    Park {
        provider: ProviderId,
        cause: WaitCause,
        deadline_ms: u64,
    },
}

impl Outcome {
    /// The provider whose keys should be fetched again because a token named a `kid` they
    /// lack: the parked request waits for it, or later requests benefit from it.
    pub fn refetch(&self) -> Option<ProviderId> {
        match self {
            Outcome::Park {
                provider,
                cause: WaitCause::UnknownKid,
                ..
            } => Some(*provider),
            Outcome::Park { .. } => None,
            Outcome::Decided(verdict) => verdict.refetch,
        }
    }
}

/// A decision with what logs and metrics need to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    /// The name of the rule that applied (`default` for the default action); shared with
    /// the compiled rule, so a verdict costs no copy of it.
    pub rule: Arc<str>,
    /// The provider whose token was accepted, or whose check refused the request.
    pub provider: Option<ProviderId>,
    /// `Some(hit)` when a token was looked up in the verified-token cache.
    pub cache_hit: Option<bool>,
    /// A provider whose keys should be refetched (an unknown `kid` that could not wait).
    pub refetch: Option<ProviderId>,
    /// Who the accepted token speaks for, when one verified (also on a 403 for its claims).
    /// Boxed: most verdicts on a hot path carry one, but it should not grow every `Outcome`.
    pub identity: Option<Box<Identity>>,
    /// A provider whose verified JWT was let through without its introspection answer
    /// (`on_outage: "allow"`): logged and counted by the caller.
    pub unintrospected: Option<ProviderId>,
}

/// The verified token's issuer and subject, for the access log. Never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    /// `sub`, when the token has one (truncated to [`MAX_SUBJECT_BYTES`]).
    pub subject: Option<String>,
}

/// The longest `sub` handed to the access log: subjects are identifiers (RFC 7519 §4.1.2),
/// a few dozen bytes in practice; the bound keeps one client from writing kilobytes into
/// every log line through an oversized claim.
pub const MAX_SUBJECT_BYTES: usize = 256;

impl Identity {
    fn of(provider: &Provider, claims: &serde_json::Map<String, Value>) -> Identity {
        let subject = claims.get("sub").and_then(Value::as_str).map(|sub| {
            let mut end = sub.len().min(MAX_SUBJECT_BYTES);
            while !sub.is_char_boundary(end) {
                end -= 1;
            }
            sub.get(..end).unwrap_or_default().to_owned()
        });
        Identity {
            issuer: provider.issuer.clone(),
            subject,
        }
    }
}

impl Verdict {
    /// The refusal, whether enforced or (dry run) only reported.
    pub fn refusal(&self) -> Option<&Denial> {
        match &self.decision {
            Decision::Deny(denial) => Some(denial),
            Decision::Allow(allow) => allow.would_deny.as_ref(),
        }
    }
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

/// Decides what to do with `request`, reporting each step to `observer`.
pub fn authorize<O: Observer>(
    config: &Config,
    request: &Request,
    inputs: &Inputs<'_>,
    cache: &mut VerifiedCache,
    observer: &mut O,
) -> Outcome {
    let target = match request.target(&config.paths) {
        Ok(target) => target,
        Err(error) => return Outcome::Decided(refused_request(config, request, error)),
    };
    let rule = if O::RECORDS {
        let selection = config.explain_rules(request, &target);
        observer.rules(selection.rules);
        selection.selected
    } else {
        config.select_rule(request, &target)
    };
    let waited_out = match inputs.waiting {
        Waiting::Parked { deadline_ms } => inputs.now_ms >= deadline_ms,
        Waiting::New { .. } => false,
    };
    let run = |cache: &mut VerifiedCache, observer: &mut O, waited_out: bool| {
        let mut pipeline = Pipeline {
            config,
            request,
            inputs,
            cache,
            observer,
            waited_out,
            max_token_age_s: None,
            cache_hit: None,
            decoded: Vec::new(),
            identity: None,
            proofs: Vec::new(),
            introspect: None,
            unintrospected: None,
        };
        let result = pipeline.run(rule.action, rule.index.is_none());
        let seen = Seen {
            cache_hit: pipeline.cache_hit,
            identity: pipeline.identity.take(),
            unintrospected: pipeline.unintrospected,
        };
        (result, seen)
    };
    let (result, cache_hit) = run(cache, observer, waited_out);
    let (provider, cause) = match result {
        Err(Stop::Wait(provider, cause)) => (provider, cause),
        result => {
            return Outcome::Decided(verdict(config, request, &rule, result, cache_hit, None))
        }
    };
    let deadline_ms = match inputs.waiting {
        Waiting::Parked { deadline_ms } => Some(deadline_ms),
        Waiting::New { room } => config
            .provider(provider)
            .map(|p| wait_bound_ms(p, cause))
            .filter(|wait_ms| room && *wait_ms > 0)
            .map(|wait_ms| inputs.now_ms.saturating_add(wait_ms)),
    };
    if let Some(deadline_ms) = deadline_ms {
        return Outcome::Park {
            provider,
            cause,
            deadline_ms,
        };
    }
    // No wait allowed (or no room to wait): decided now, as if the wait had run out. A
    // refetch for an unknown `kid` still serves the requests that follow.
    let (result, cache_hit) = run(cache, observer, true);
    let refetch = (cause == WaitCause::UnknownKid).then_some(provider);
    Outcome::Decided(verdict(config, request, &rule, result, cache_hit, refetch))
}

/// How long a request may wait for `provider`: its keys or revocation list, as long as its
/// `cold_start` says; an introspection answer, as long as the call may take (its lease).
fn wait_bound_ms(provider: &Provider, cause: WaitCause) -> u64 {
    match (cause, &provider.introspection) {
        (WaitCause::Introspection, Some(introspection)) => introspection.policy.lease_ms(),
        _ => provider.cold_start.max_wait_ms,
    }
}

/// The verdict for a pipeline that stopped short of waiting.
fn verdict(
    config: &Config,
    request: &Request,
    rule: &SelectedRule<'_>,
    result: Result<Allow, Stop>,
    seen: Seen,
    refetch: Option<ProviderId>,
) -> Verdict {
    let (decision, provider) = match result {
        Ok(allow) => {
            let provider = allow.provider;
            (Decision::Allow(allow), provider)
        }
        Err(Stop::Deny(denial, provider)) if rule.dry_run => (
            Decision::Allow(dry_run_allow(config, request, denial)),
            provider,
        ),
        Err(Stop::Deny(denial, provider)) => (Decision::Deny(denial), provider),
        // A request that waited out never waits again (keys still loading count as
        // unavailable, no refetch is offered); should it, it is refused, not left hanging.
        Err(Stop::Wait(provider, _)) => (
            Decision::Deny(Denial::new(DenyReason::KeysWaitTimeout)),
            Some(provider),
        ),
    };
    Verdict {
        decision,
        rule: Arc::clone(rule.name),
        provider,
        cache_hit: seen.cache_hit,
        refetch,
        identity: seen.identity,
        unintrospected: seen.unintrospected,
    }
}

/// What a dry-run rule does with a request it would refuse: let it through, carrying the
/// refusal for the logs and metrics — but as an anonymous request: it was not authorised, so
/// no token on it counts as verified for it ([`stripped`] with nothing forwarded), and no
/// client-sent identity header survives.
pub fn dry_run_allow(config: &Config, request: &Request, denial: Denial) -> Allow {
    Allow {
        would_deny: Some(denial),
        ..stripped(config, request, &[], false)
    }
}

/// A request whose method and path have no canonical form: no rule can be chosen for it
/// with confidence, so it is refused (in a global dry run, let through stripped).
fn refused_request(config: &Config, request: &Request, error: PathError) -> Verdict {
    let denial = Denial::new(DenyReason::from(error));
    let decision = if config.dry_run {
        Decision::Allow(dry_run_allow(config, request, denial))
    } else {
        Decision::Deny(denial)
    };
    Verdict {
        decision,
        rule: Arc::clone(config.request_rule_name()),
        provider: None,
        cache_hit: None,
        refetch: None,
        identity: None,
        unintrospected: None,
    }
}

/// The one decision of what a request loses before it goes upstream, allowed or let
/// through by a dry run: every client-sent identity header, under every spelling an
/// upstream reads as it (`x_user_id` for `x-user-id`), and every spelling of every token
/// source of every provider — except the sources of the `forwarding` providers, whose
/// tokens were verified for this request.
///
/// Stripping the sources of providers that did not accept (or were not consulted) is what
/// keeps a second, unverified token — say a `session` cookie another provider reads — from
/// riding upstream next to the one that was verified. The lists come from the compiled
/// configuration; only an all-of requirement with two forwarding providers builds its own.
/// The `DPoP` header goes too, unless `keep_proof` (an accepted provider forwards it).
pub fn stripped(
    config: &Config,
    request: &Request,
    forwarding: &[&Provider],
    keep_proof: bool,
) -> Allow {
    // The configured names are removed even when absent from the copy: the host's map
    // is the one that counts. Other spellings are removed where the request uses them.
    let mut allow = Allow {
        identity_headers: Arc::clone(config.identity_header_names()),
        ..Allow::default()
    };
    for name in config.identity_header_names().iter() {
        for (spelled, _) in extract::spelling::headers(request, name) {
            let listed = spelled == name || allow.headers_to_remove.iter().any(|h| h == spelled);
            if !listed {
                allow.headers_to_remove.push(spelled.to_owned());
            }
        }
    }
    let several: Vec<TokenSource>;
    // One removal over every source at once: removals computed per provider from the
    // original request would each rewrite `:path` or `cookie` from scratch, and the last
    // rewrite would put back the token an earlier one took out.
    let sources = match forwarding {
        [] => config.token_sources_to_strip(None),
        [one] => config.token_sources_to_strip(Some(one.id)),
        _ => {
            several = config
                .token_sources_to_strip(None)
                .iter()
                .filter(|source| !forwarding.iter().any(|p| p.sources.contains(source)))
                .cloned()
                .collect();
            &several
        }
    };
    if !sources.is_empty() {
        allow.apply_edits(extract::removal_edits(sources, request));
    }
    if !keep_proof && !config.proof_sources().is_empty() {
        allow.apply_edits(extract::removal_edits(config.proof_sources(), request));
    }
    allow
}

/// A DPoP refusal's challenge: the provider's proof algorithms, and a fresh nonce when it
/// issues nonces (every DPoP refusal carries one, so a client learns it from the first).
fn dpop_challenge(denial: Denial, policy: &dpop::DpopPolicy, now_s: u64) -> Denial {
    let denial = denial.with_dpop_algs(std::sync::Arc::clone(&policy.challenge_algs));
    match &policy.nonce {
        Some(nonces) => denial.with_dpop_nonce(nonces.mint(now_s)),
        None => denial,
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
    token: AcceptedToken,
}

/// What vouches for an accepted token's claims.
enum AcceptedToken {
    /// A JWT whose signature verified.
    Jwt(Rc<DecodedJwt>),
    /// An opaque token: the authorization server's active answer (RFC 7662 §2.2) holds the
    /// claims conditions and identity headers read.
    Introspected(Rc<serde_json::Map<String, Value>>),
}

impl AcceptedToken {
    fn claims(&self) -> &serde_json::Map<String, Value> {
        match self {
            AcceptedToken::Jwt(jwt) => jwt.claims(),
            AcceptedToken::Introspected(claims) => claims,
        }
    }

    /// The JWT's payload segment, for `payload_header`; an opaque token has none.
    fn payload_b64(&self) -> Option<&str> {
        match self {
            AcceptedToken::Jwt(jwt) => Some(jwt.payload_b64()),
            AcceptedToken::Introspected(_) => None,
        }
    }
}

/// How one provider's check of the request ended, short of success.
enum Miss {
    /// The provider's sources carry no token.
    NoToken,
    /// A token, but with another provider's `iss`: not this provider's to judge.
    OtherIssuer,
    Stop(Stop),
}

/// What a pipeline run learnt besides its result.
struct Seen {
    cache_hit: Option<bool>,
    identity: Option<Box<Identity>>,
    unintrospected: Option<ProviderId>,
}

/// A token found on the request and what decoding it gave.
type Decoded<'a> = (Cow<'a, str>, Result<Rc<DecodedJwt>, JwtError>);

struct Pipeline<'a, 'c, O> {
    config: &'c Config,
    request: &'a Request,
    inputs: &'a Inputs<'a>,
    cache: &'a mut VerifiedCache,
    observer: &'a mut O,
    /// The request waited as long as it may: keys still loading count as unavailable and no
    /// refetch is offered.
    waited_out: bool,
    /// The selected rule's bound on the age of every token it accepts.
    max_token_age_s: Option<u64>,
    cache_hit: Option<bool>,
    /// Each token found on the request, decoded once.
    decoded: Vec<Decoded<'a>>,
    /// The first accepted token's identity, once one verified.
    identity: Option<Box<Identity>>,
    /// Verified DPoP proofs, recorded once the request is otherwise allowed.
    proofs: Vec<ReplayEntry>,
    /// The selected rule's `require.introspect`.
    introspect: Option<OnOutage>,
    /// A provider whose JWT passed without an introspection answer (`on_outage: "allow"`).
    unintrospected: Option<ProviderId>,
}

impl<'a, 'c, O: Observer> Pipeline<'a, 'c, O> {
    fn run(&mut self, action: &'c Action, is_default: bool) -> Result<Allow, Stop> {
        let allow = match action {
            Action::Deny if is_default => Err(Stop::deny(DenyReason::NoRuleMatched, None)),
            Action::Deny => Err(Stop::deny(DenyReason::RouteDenied, None)),
            Action::Allow => self.allow_optional_token(),
            Action::Require(requirement) => self.require(requirement),
        }?;
        self.record_proofs()?;
        Ok(allow)
    }

    /// Records each verified DPoP proof, once the request is allowed otherwise: a refused
    /// request spends no replay entry, and a request that waits for keys records nothing
    /// before it is decided. A proof already recorded, or one that could not be, refuses.
    fn record_proofs(&mut self) -> Result<(), Stop> {
        let mut recorded: Vec<[u8; 16]> = Vec::new();
        for entry in std::mem::take(&mut self.proofs) {
            if recorded.contains(&entry.digest) {
                continue;
            }
            recorded.push(entry.digest);
            let Some(provider) = self.config.provider(entry.provider) else {
                continue;
            };
            let answer = self
                .inputs
                .replay
                .record(&provider.name, &entry, self.inputs.now_ms);
            self.observer.replay(provider.id, answer);
            let reason = match answer {
                ReplayAnswer::Fresh | ReplayAnswer::Unchecked => continue,
                ReplayAnswer::Replayed => DenyReason::DpopProofReplayed,
                ReplayAnswer::Unavailable => DenyReason::DpopReplayUnavailable,
            };
            let mut denial = Denial::new(reason);
            if let Some(policy) = &provider.dpop {
                denial = dpop_challenge(denial, policy, self.now_s());
            }
            return Err(Stop::Deny(denial, Some(provider.id)));
        }
        Ok(())
    }

    /// RFC 9449 for `provider`'s verified token, when it has DPoP on.
    fn check_dpop(
        &mut self,
        provider: &Provider,
        found: &FoundToken<'a>,
        jwt: &DecodedJwt,
    ) -> Result<(), Miss> {
        let Some(policy) = &provider.dpop else {
            return Ok(());
        };
        let presentation = if provider.dpop_source == Some(found.location.source) {
            Presentation::DpopScheme
        } else {
            Presentation::Other
        };
        let now_s = self.now_s();
        let presented = Presented {
            request: self.request,
            access_token: &found.token,
            presentation,
            now_s,
        };
        let result = dpop::check(policy, &presented, jwt.claims(), self.inputs.verifier);
        self.observer.dpop(
            provider.id,
            result.as_ref().map(Option::is_some).map_err(|e| *e),
        );
        match result {
            Ok(Some(proof)) => {
                self.proofs.push(ReplayEntry::new(
                    provider.id,
                    &proof.jkt,
                    &proof.jti,
                    policy.replay_slots,
                    proof.expires_at_ms,
                ));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => {
                let denial = dpop_challenge(Denial::new(DenyReason::from(error)), policy, now_s);
                Err(Miss::Stop(Stop::Deny(denial, Some(provider.id))))
            }
        }
    }

    fn require(&mut self, requirement: &'c Requirement) -> Result<Allow, Stop> {
        self.max_token_age_s = requirement.max_token_age_s;
        self.introspect = requirement.introspect;
        if let Some(peer) = &requirement.peer {
            self.check_peer(peer)?;
        }
        let accepted = match &requirement.providers {
            ProviderSet::Any(ids) => vec![self.any_of(ids)?],
            ProviderSet::All(ids) => self.all_of(ids)?,
        };
        let Some(first) = accepted.first() else {
            return Err(Stop::deny(DenyReason::TokenMissing, None));
        };
        self.identity = Some(Box::new(Identity::of(first.provider, first.token.claims())));
        if O::RECORDS {
            if let Some(trace) = requirement.trace_claims(first.token.claims(), &self.request.peer)
            {
                self.observer.conditions(trace);
            }
        }
        match requirement.check_claims_in(first.token.claims(), &self.request.peer) {
            Ok(()) => {}
            Err(ConditionFailure::Unmet { required_scopes }) => {
                let denial =
                    Denial::new(DenyReason::ClaimsConditionFailed).with_scopes(required_scopes);
                return Err(Stop::Deny(denial, Some(first.provider.id)));
            }
            Err(ConditionFailure::WrongType) => {
                return Err(Stop::deny(
                    DenyReason::ClaimsConditionWrongType,
                    Some(first.provider.id),
                ))
            }
        }
        Ok(self.allowed(&accepted))
    }

    /// `require.peer`, before any token: a request from the wrong workload is refused
    /// whatever it carries, and without a challenge, since no token would help.
    fn check_peer(&mut self, wanted: &PeerMatch) -> Result<(), Stop> {
        let peer = &self.request.peer;
        let mismatch = wanted.first_mismatch(peer);
        if O::RECORDS {
            self.observer
                .peer(mismatch.map_or(Ok(()), |m| Err(wanted.describe(m, peer))));
        }
        match mismatch {
            None => Ok(()),
            Some(_) if !peer.mtls && wanted.mtls != Some(false) => {
                Err(Stop::deny(DenyReason::PeerCertificateMissing, None))
            }
            Some(_) => Err(Stop::deny(DenyReason::PeerNotAllowed, None)),
        }
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
        match self.any_of(self.config.all_providers()) {
            Ok(accepted) => {
                self.identity = Some(Box::new(Identity::of(
                    accepted.provider,
                    accepted.token.claims(),
                )));
                Ok(self.allowed(&[accepted]))
            }
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
        &mut self,
        ids: &[ProviderId],
    ) -> Result<Vec<(&'c Provider, Option<FoundToken<'a>>)>, Stop> {
        let request: &'a Request = self.request;
        let mut tokens = Vec::with_capacity(ids.len());
        for provider in ids.iter().filter_map(|id| self.config.provider(*id)) {
            let found = extract::find_token(&provider.sources, request);
            self.observer.token(
                provider.id,
                found
                    .as_ref()
                    .map(|found| found.as_ref().map(|f| f.location.source))
                    .map_err(|error| *error),
            );
            match found {
                Ok(found) => tokens.push((provider, found)),
                Err(error) => return Err(Stop::deny(DenyReason::from(error), Some(provider.id))),
            }
        }
        Ok(tokens)
    }

    /// Verifies the token found in `provider`'s sources.
    fn check(
        &mut self,
        provider: &'c Provider,
        found: Option<FoundToken<'a>>,
    ) -> Result<Accepted<'c>, Miss> {
        let Some(found) = found else {
            return Err(Miss::NoToken);
        };
        if provider.is_opaque() {
            return self.check_opaque(provider, &found);
        }
        let (jwt, fresh) = self.verified(provider, &found.token)?;
        let now_s = self.now_s();
        let result = claims::validate_type(jwt.header().typ.as_deref(), &provider.claims)
            .and_then(|()| claims::validate(jwt.claims(), &provider.claims, now_s))
            .and_then(|()| match self.max_token_age_s {
                Some(max_age_s) => {
                    let skew_s = provider.claims.clock_skew_s;
                    claims::validate_age(jwt.claims(), max_age_s, skew_s, now_s)
                }
                None => Ok(()),
            });
        self.observer.claims(provider.id, result.as_ref().copied());
        if let Err(error) = result {
            return Err(Miss::Stop(Stop::deny(
                DenyReason::from(&error),
                Some(provider.id),
            )));
        }
        // Per request, cache hit or not: the certificate belongs to the connection.
        let bound = certificate_binding::check(
            jwt.claims(),
            provider.certificate_binding,
            self.inputs.peer_certificate,
        );
        self.observer.binding(provider.id, bound);
        if let Err(error) = bound {
            return Err(Miss::Stop(Stop::deny(
                DenyReason::from(error),
                Some(provider.id),
            )));
        }
        if let Some(generation) = fresh {
            self.remember(provider, &found.token, &jwt, generation);
        }
        self.check_dpop(provider, &found, &jwt)?;
        self.not_revoked(provider, &jwt)?;
        if let Some(on_outage) = self.introspect {
            self.introspected(provider, &found.token, on_outage)?;
        }
        Ok(Accepted {
            provider,
            token: AcceptedToken::Jwt(jwt),
        })
    }

    /// An opaque token: the authorization server's answer is the only check, on every
    /// request; its stated claims are checked as a JWT's would be, then stand for them.
    fn check_opaque(
        &mut self,
        provider: &'c Provider,
        found: &FoundToken<'a>,
    ) -> Result<Accepted<'c>, Miss> {
        let deny = |reason: DenyReason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        if found.token.len() > provider.max_token_bytes {
            return Err(deny(DenyReason::TokenTooLarge));
        }
        // No verified JWT to fall back on: an outage refuses whatever the rule says.
        let Some(claims) = self.introspected(provider, &found.token, OnOutage::Deny)? else {
            return Err(deny(DenyReason::IntrospectionUnavailable));
        };
        let checked = claims::validate_introspected(&claims, &provider.claims, self.now_s());
        self.observer.claims(provider.id, checked.as_ref().copied());
        if let Err(error) = checked {
            return Err(deny(DenyReason::from(&error)));
        }
        if let Some(max_age_s) = self.max_token_age_s {
            let skew_s = provider.claims.clock_skew_s;
            if let Err(error) = claims::validate_age(&claims, max_age_s, skew_s, self.now_s()) {
                return Err(deny(DenyReason::from(&error)));
            }
        }
        let bound = certificate_binding::check(
            &claims,
            provider.certificate_binding,
            self.inputs.peer_certificate,
        );
        self.observer.binding(provider.id, bound);
        if let Err(error) = bound {
            return Err(deny(DenyReason::from(error)));
        }
        Ok(Accepted {
            provider,
            token: AcceptedToken::Introspected(claims),
        })
    }

    /// The authorization server's word on `token` (RFC 7662): its active answer's claims, or
    /// `None` when there is no answer and `on_outage` lets the token through. Without an
    /// answer yet the request waits for the call. For a JWT the answer says only whether it
    /// is active: the claims that count are the JWT's, checked already.
    fn introspected(
        &mut self,
        provider: &Provider,
        token: &str,
        on_outage: OnOutage,
    ) -> Result<Option<Rc<serde_json::Map<String, Value>>>, Miss> {
        let deny = |reason: DenyReason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        let (step, result) = match self.inputs.introspection.answer(provider.id, token) {
            Found::Active(claims) => (Introspected::Active, Ok(Some(claims))),
            Found::Inactive => (Introspected::Inactive, Err(deny(DenyReason::TokenInactive))),
            Found::Pending if !self.waited_out => {
                return Err(Miss::Stop(Stop::Wait(
                    provider.id,
                    WaitCause::Introspection,
                )))
            }
            Found::Failed(_) | Found::Pending => match on_outage {
                OnOutage::Deny => (
                    Introspected::Unavailable,
                    Err(deny(DenyReason::IntrospectionUnavailable)),
                ),
                OnOutage::Allow => {
                    self.unintrospected.get_or_insert(provider.id);
                    (Introspected::OutageAllowed, Ok(None))
                }
            },
        };
        self.observer.introspection(provider.id, step);
        result
    }

    /// The provider's revocation list against the token, on every request: a token from
    /// the verified-token cache is checked against the list as it is now. Before the first
    /// list arrives the request waits like a cold start; a list that cannot be had (or is
    /// older than its bound) refuses, so a revoked token never passes for want of a list.
    fn not_revoked(&mut self, provider: &Provider, jwt: &DecodedJwt) -> Result<(), Miss> {
        let deny = |reason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        let (step, result) = match self.inputs.keys.revocations(provider.id) {
            ListAvailability::NotConfigured => return Ok(()),
            ListAvailability::Ready(list) => match list.revokes(jwt.claims()) {
                Some(by) => (
                    RevocationCheck::Revoked(by),
                    Err(deny(DenyReason::TokenRevoked)),
                ),
                None => (RevocationCheck::NotRevoked, Ok(())),
            },
            ListAvailability::Loading
                if !self.waited_out && provider.cold_start.max_wait_ms > 0 =>
            {
                return Err(Miss::Stop(Stop::Wait(
                    provider.id,
                    WaitCause::RevocationList,
                )))
            }
            ListAvailability::Loading | ListAvailability::Unavailable => (
                RevocationCheck::Unavailable,
                Err(deny(DenyReason::RevocationListUnavailable)),
            ),
        };
        self.observer.revocation(provider.id, step);
        result
    }

    /// Caches a token that verified and passed the provider's registered-claim checks. Only
    /// then: a token refused for its audience or expiry must not spend a cache slot (and
    /// evict a good token), whatever key signed it.
    fn remember(
        &mut self,
        provider: &Provider,
        token: &str,
        jwt: &Rc<DecodedJwt>,
        generation: u64,
    ) {
        let expires_at_s = jwt.claims().get("exp").and_then(Value::as_u64);
        self.cache.insert(
            token,
            Verified {
                provider: provider.id,
                generation,
                jwt: Rc::clone(jwt),
            },
            expires_at_s,
        );
    }

    fn now_s(&self) -> u64 {
        self.inputs.now_ms / 1000
    }

    /// The token decoded, once per distinct token on the request.
    fn decode(&mut self, token: Cow<'a, str>) -> Result<Rc<DecodedJwt>, JwtError> {
        if let Some((_, result)) = self.decoded.iter().find(|(seen, _)| *seen == token) {
            return result.clone();
        }
        let result = jwt::decode(&token).map(Rc::new);
        self.decoded.push((token, result.clone()));
        result
    }

    /// Where `provider`'s keys stand, once this request may wait no longer.
    fn availability(&self, provider: ProviderId) -> KeyAvailability<'a> {
        match self.inputs.keys.keys(provider) {
            KeyAvailability::Loading if self.waited_out => KeyAvailability::Unavailable,
            availability => availability,
        }
    }

    /// The decoded token once its signature verified against `provider`'s keys — from the
    /// cache when this exact token already verified against the current key set — with the
    /// key-set generation when it was verified now (and may be cached once its claims pass).
    // The `Cow` itself, not `&str`: the decode memo keeps it for the request's lifetime.
    #[allow(clippy::ptr_arg)]
    fn verified(
        &mut self,
        provider: &Provider,
        token: &Cow<'a, str>,
    ) -> Result<(Rc<DecodedJwt>, Option<u64>), Miss> {
        let deny = |reason: DenyReason| Miss::Stop(Stop::deny(reason, Some(provider.id)));
        let now_s = self.now_s();
        let availability = self.availability(provider.id);
        if let KeyAvailability::Ready { generation, .. } = availability {
            if let Some(hit) = self.cache.get(token, now_s) {
                if hit.provider == provider.id
                    && hit.generation == generation
                    && token.len() <= provider.max_token_bytes
                {
                    self.cache_hit = Some(true);
                    self.observer.cached(provider.id);
                    return Ok((Rc::clone(&hit.jwt), None));
                }
            }
        }
        let decoded = self.decode(token.clone());
        self.observer.decoded(provider.id, decoded.as_deref());
        let jwt = decoded.map_err(|error| deny(DenyReason::from(&error)))?;
        let routed = self.config.routes_to(jwt.claims(), provider.id);
        self.observer.issuer(provider.id, routed);
        if !routed {
            return Err(Miss::OtherIssuer);
        }
        // The provider's own bound, once the token is known to be its: a provider with small
        // tokens refuses a large one before any signature work.
        if token.len() > provider.max_token_bytes {
            return Err(deny(DenyReason::TokenTooLarge));
        }
        let (keys, generation) = match availability {
            KeyAvailability::Ready { keys, generation } => (keys, generation),
            KeyAvailability::Loading if provider.cold_start.max_wait_ms > 0 => {
                return Err(Miss::Stop(Stop::Wait(provider.id, WaitCause::ColdStart)))
            }
            KeyAvailability::Loading | KeyAvailability::Expired => {
                return Err(deny(DenyReason::KeysUnavailable))
            }
            KeyAvailability::Unavailable => {
                return Err(deny(provider.cold_start.on_timeout.deny_reason()))
            }
        };
        self.cache_hit = Some(false);
        let verified = jwt::verified_by(&jwt, keys, self.inputs.verifier);
        self.observer.signature(provider.id, verified);
        match verified {
            Ok(_) => {}
            // Only a `kid` the set lacks hints at a rotation worth waiting for. A token
            // without `kid` that no key can verify is refused: otherwise any kid-less
            // token with an odd `alg` would park requests behind refetches.
            Err(VerifyError::KeyNotFound)
                if !self.waited_out
                    && jwt
                        .header()
                        .kid
                        .as_deref()
                        .is_some_and(|kid| self.inputs.keys.may_wait_for_kid(provider.id, kid)) =>
            {
                return Err(Miss::Stop(Stop::Wait(provider.id, WaitCause::UnknownKid)))
            }
            Err(error) => return Err(deny(DenyReason::from(error))),
        }
        Ok((jwt, Some(generation)))
    }

    /// The edits for an allowed request: [`stripped`] keeps the sources of each accepted
    /// provider that forwards its token; then the identity of each accepted token is set.
    fn allowed(&self, accepted: &[Accepted<'c>]) -> Allow {
        let forwarding: Vec<&Provider> = accepted
            .iter()
            .filter(|one| one.provider.forward_token)
            .map(|one| one.provider)
            .collect();
        let keep_proof = accepted.iter().any(|one| {
            one.provider
                .dpop
                .as_ref()
                .is_some_and(|policy| policy.forward_proof)
        });
        let mut allow = stripped(self.config, self.request, &forwarding, keep_proof);
        allow.provider = accepted.first().map(|one| one.provider.id);
        let mut skipped = Vec::new();
        for one in accepted {
            let payload = one
                .provider
                .payload_header
                .as_ref()
                .and_then(|_| one.token.payload_b64());
            let plan = one.provider.output_plan(one.token.claims(), payload);
            allow.headers_to_set.extend(plan.set);
            skipped.extend(plan.skipped);
        }
        allow.headers_skipped = skipped.into_boxed_slice();
        allow
    }
}
