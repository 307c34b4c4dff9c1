//! `claimcheck explain`: why a request with a token gets the answer it gets.
//!
//! A view of the core's own run: `authorize::authorize` is called with a
//! [`Record`](claimcheck::observe::Record) as its observer, and this module renders what the
//! pipeline reported — the rules tried, each provider's token, decoding, issuer, key,
//! signature and registered claims, the claim conditions, and the decision. It has no
//! pipeline logic of its own: it supplies the inputs (the request with `--token` placed on
//! it, the keys) and draws the record, one function per section.
//!
//! Keys: a provider with inline keys is verified against them; any other provider against
//! `--jwks` when given. Without keys the signature is NOT checked: each such provider gets a
//! stand-in key per algorithm it accepts, which only the explain verifier accepts, and the
//! explanation is marked UNVERIFIED.

use std::fmt;
use std::io::Write;

use claimcheck::authorize::{
    self, Inputs, KeyAvailability, KeyLookup, ListAvailability, Outcome, VerifiedCache, Waiting,
};
use claimcheck::config::{Config, JwksSource, Provider, ProviderId};
use claimcheck::crypto::{RingVerifier, SignatureError, SignatureVerifier};
use claimcheck::decision::{Decision, DenyReason};
use claimcheck::dpop::ReplayAnswer;
use claimcheck::extract::{self, ExtractError, TokenSource};
use claimcheck::jwks::{
    EcCurve, EcPublicKey, JwksError, KeyMaterial, KeyPolicy, KeySet, RsaPublicKey, VerifyingKey,
};
use claimcheck::jwt::{Algorithm, KeyFamily};
use claimcheck::observe::{DecodedToken, Introspected, ProviderRecord, Record, RevocationCheck};
use claimcheck::policy::{Action, ConditionTrace, ProviderSet, Truth};
use claimcheck::request::{Request, Target};
use serde_json::{json, Map, Value};

use crate::output::{paint, BAD, DIM, HEADING, OK, WARN};

/// What to explain.
pub struct ExplainInput {
    pub config: Config,
    /// The request without the token.
    pub request: Request,
    pub token: Option<String>,
    /// A JWKS document for providers without inline keys.
    pub jwks: Option<Vec<u8>>,
    pub now_s: u64,
    /// The client certificate's digest (`--peer-cert`, `--peer-cert-sha256`).
    pub peer_certificate: Option<claimcheck::peer::CertificateDigest>,
    /// The introspection endpoint's answer for the token (`--introspection`); without it a
    /// provider that asks gets no answer, as in an outage.
    pub introspection: Option<claimcheck::introspect::Answer>,
    /// The revocation list (`--revocation-list`) of every provider that configures one;
    /// without it such a provider has no list, as in an outage.
    pub revocation_list: Option<claimcheck::revocation::RevocationList>,
}

/// The one answer `--introspection` supplies, for whichever provider asks.
struct SuppliedAnswer(Option<claimcheck::introspect::Found>);

impl claimcheck::authorize::IntrospectionLookup for SuppliedAnswer {
    fn answer(&self, _provider: ProviderId, _token: &str) -> claimcheck::introspect::Found {
        self.0
            .clone()
            .unwrap_or(claimcheck::introspect::Found::Pending)
    }
}

/// Why `--jwks` cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksFileError(pub JwksError);

impl fmt::Display for JwksFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--jwks: {}", self.0)
    }
}

impl std::error::Error for JwksFileError {}

/// Where a provider's keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Inline,
    JwksFile,
    /// No keys: the signature is assumed valid and the result is UNVERIFIED.
    None,
}

/// The final answer, from the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Allowed {
        provider: Option<String>,
        headers_to_set: Vec<(String, String)>,
        headers_to_remove: Vec<String>,
        path_rewrite: Option<String>,
        /// Identity headers left unset, with the reason code.
        headers_skipped: Vec<(String, &'static str)>,
    },
    Refused {
        status: u16,
        reason: &'static str,
        www_authenticate: Option<String>,
        retry_after_s: Option<u32>,
        /// `DPoP-Nonce`: the nonce a provider with `dpop.nonce` would send, minted at the
        /// explained time under the configured secret.
        dpop_nonce: Option<String>,
        body: String,
        provider: Option<String>,
    },
    /// The pipeline would park the request until keys arrive (not reached with the
    /// key lookup used here, kept so no outcome goes unreported).
    Waiting { provider: String },
}

/// A complete explanation: the inputs, the pipeline's record and its answer.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub config: Config,
    pub request: Request,
    /// Where `--token` was put on the request.
    pub token_placement: Option<String>,
    /// Where each provider's keys came from, by provider index, with a note when `--jwks`
    /// gave none.
    pub keys: Vec<(KeyOrigin, Option<String>)>,
    pub record: Record,
    /// The rule that applied (`default` for the default action).
    pub rule: String,
    pub answer: Answer,
    /// The refusal is only logged and counted: Envoy lets the request through.
    pub dry_run: bool,
}

impl Explanation {
    pub fn allowed(&self) -> bool {
        matches!(self.answer, Answer::Allowed { .. })
    }

    /// Some signature was accepted without being checked (a provider without keys).
    pub fn unverified(&self) -> bool {
        self.record
            .providers
            .iter()
            .any(|p| signature_code(self.origin(p.provider), p) == "unverified")
    }

    /// The method and path the rules matched, from the core's one canonical form; `None`
    /// when the path has none (the pipeline then refused it before any rule).
    pub fn canonical(&self) -> Option<Target> {
        self.request.target(&self.config.paths).ok()
    }

    fn origin(&self, provider: ProviderId) -> KeyOrigin {
        self.keys
            .get(provider.index())
            .map_or(KeyOrigin::None, |(origin, _)| *origin)
    }
}

/// Explains `input`.
pub fn explain(input: ExplainInput) -> Result<Explanation, JwksFileError> {
    let ExplainInput {
        config,
        request,
        token,
        jwks,
        now_s,
        peer_certificate,
        introspection,
        revocation_list,
    } = input;
    let supplied = SuppliedAnswer(introspection.map(|answer| match answer {
        claimcheck::introspect::Answer::Active(claims) => {
            claimcheck::introspect::Found::Active(std::rc::Rc::new(claims))
        }
        claimcheck::introspect::Answer::Inactive => claimcheck::introspect::Found::Inactive,
    }));
    if let Some(bytes) = &jwks {
        // Refuse a file that is no key set at all; a set without keys usable by some
        // provider is reported on that provider instead.
        let every = KeyPolicy {
            algorithms: Algorithm::ALL.to_vec(),
        };
        match KeySet::parse(bytes, &every) {
            Ok(_) | Err(JwksError::NoUsableKeys(_)) => {}
            Err(error) => return Err(JwksFileError(error)),
        }
    }
    let (request, token_placement) = match &token {
        Some(token) => place_token(&config, request, token),
        None => (request, None),
    };
    let key_sets: Vec<ExplainKeys> = config
        .providers
        .iter()
        .map(|provider| provider_keys(provider, jwks.as_deref()))
        .collect();
    let verifier = ExplainVerifier {
        stand_ins: key_sets
            .iter()
            .filter(|keys| keys.origin == KeyOrigin::None)
            .flat_map(|keys| keys.set.keys())
            .collect(),
    };
    let lookup = Keys {
        sets: &key_sets,
        config: &config,
        revocation_list: revocation_list.as_ref(),
    };
    let inputs = Inputs {
        keys: &lookup,
        peer_certificate: &peer_certificate,
        verifier: &verifier,
        now_ms: now_s.saturating_mul(1000),
        waiting: Waiting::New { room: false },
        replay: &claimcheck::dpop::replay::Unchecked,
        introspection: &supplied,
    };
    let mut record = Record::default();
    let mut cache = VerifiedCache::new(0);
    let outcome = authorize::authorize(&config, &request, &inputs, &mut cache, &mut record);
    let (answer, rule, dry_run) = answer(outcome, &config);
    let keys = key_sets
        .into_iter()
        .map(|keys| (keys.origin, keys.note))
        .collect();
    Ok(Explanation {
        config,
        request,
        token_placement,
        keys,
        record,
        rule,
        answer,
        dry_run,
    })
}

/// The pipeline's outcome as the explanation reports it, with the refusal rendered by the
/// core's one mapping (`Denial::response`): the answer, the rule and whether it is a dry run.
fn answer(outcome: Outcome, config: &Config) -> (Answer, String, bool) {
    let name = |id: Option<ProviderId>| {
        id.and_then(|id| config.provider(id))
            .map(|p| p.name.clone())
    };
    let verdict = match outcome {
        Outcome::Decided(verdict) => verdict,
        Outcome::Park { provider, .. } => {
            let answer = Answer::Waiting {
                provider: name(Some(provider)).unwrap_or_default(),
            };
            return (answer, String::new(), false);
        }
    };
    let (denial, dry_run) = match verdict.decision {
        Decision::Allow(allow) => match allow.would_deny {
            Some(denial) => (denial, true),
            None => {
                let answer = Answer::Allowed {
                    provider: name(allow.provider),
                    headers_to_remove: allow.removals().map(str::to_owned).collect(),
                    headers_to_set: allow.headers_to_set,
                    path_rewrite: allow.path_rewrite,
                    headers_skipped: allow
                        .headers_skipped
                        .into_vec()
                        .into_iter()
                        .map(|skipped| (skipped.header, skipped.reason.code()))
                        .collect(),
                };
                return (answer, verdict.rule.to_string(), false);
            }
        },
        Decision::Deny(denial) => (denial, false),
    };
    let response = denial.response(&config.realm);
    let answer = Answer::Refused {
        status: response.status,
        reason: response.reason_code,
        www_authenticate: response.www_authenticate,
        retry_after_s: response.retry_after_s,
        dpop_nonce: response.dpop_nonce,
        body: response.body,
        provider: name(verdict.provider),
    };
    (answer, verdict.rule.to_string(), dry_run)
}

/// Puts the token where the selected rule's first provider reads tokens (for `allow` and
/// `deny` rules: the first provider's first source), unless the request already carries
/// it there.
fn place_token(config: &Config, mut request: Request, token: &str) -> (Request, Option<String>) {
    let target = request.target(&config.paths).unwrap_or_else(|_| Target {
        method: request.method.clone(),
        path: request.path_only().to_owned(),
    });
    let selected = config.select_rule(&request, &target);
    let provider = match selected.action {
        Action::Require(requirement) => requirement
            .providers
            .providers()
            .first()
            .and_then(|id| config.provider(*id)),
        _ => config.providers.first(),
    };
    let default_source = TokenSource::Header {
        name: "authorization".into(),
        prefix: "Bearer ".into(),
    };
    let source = provider
        .and_then(|p| p.sources.first())
        .unwrap_or(&default_source);
    if let Ok(Some(found)) = extract::find_token(std::slice::from_ref(source), &request) {
        if found.token == token {
            return (
                request,
                Some(format!(
                    "{} (already on the request)",
                    describe_source(source)
                )),
            );
        }
    }
    match source {
        TokenSource::Header { name, prefix } => {
            request
                .headers
                .push((name.clone(), format!("{prefix}{token}")));
        }
        TokenSource::Query { param } => {
            let separator = if request.path.contains('?') { '&' } else { '?' };
            request.path = format!("{}{separator}{param}={token}", request.path);
        }
        TokenSource::Cookie { name } => {
            request
                .headers
                .push(("cookie".into(), format!("{name}={token}")));
        }
    }
    (request, Some(describe_source(source)))
}

/// A token source in words.
pub fn describe_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Header { name, prefix } if prefix.is_empty() => format!("header {name}"),
        TokenSource::Header { name, prefix } => format!("header {name} (prefix {prefix:?})"),
        TokenSource::Query { param } => format!("query parameter {param}"),
        TokenSource::Cookie { name } => format!("cookie {name}"),
    }
}

/// A provider's keys and where they came from.
struct ExplainKeys {
    set: KeySet,
    origin: KeyOrigin,
    note: Option<String>,
}

fn provider_keys(provider: &Provider, jwks: Option<&[u8]>) -> ExplainKeys {
    if let JwksSource::Inline(parsed) = &provider.jwks {
        return ExplainKeys {
            set: parsed.keys.clone(),
            origin: KeyOrigin::Inline,
            note: None,
        };
    }
    let policy = KeyPolicy {
        algorithms: provider.algorithms.clone(),
    };
    if let Some(bytes) = jwks {
        return match KeySet::parse(bytes, &policy) {
            Ok(parsed) => ExplainKeys {
                set: parsed.keys,
                origin: KeyOrigin::JwksFile,
                note: None,
            },
            Err(error) => ExplainKeys {
                set: KeySet::from_keys(Vec::new(), &provider.algorithms),
                origin: KeyOrigin::JwksFile,
                note: Some(error.to_string()),
            },
        };
    }
    // No keys: one stand-in key per accepted algorithm, without `kid` (so it stands in for
    // any `kid`, as a kid-less key does), accepted only by `ExplainVerifier`: the pipeline
    // checks everything but the signature, the provider's algorithm policy included.
    let stand_ins = provider
        .algorithms
        .iter()
        .map(|alg| VerifyingKey::new(None, vec![*alg], placeholder_material(alg.key_family())))
        .collect();
    ExplainKeys {
        set: KeySet::from_keys(stand_ins, &provider.algorithms),
        origin: KeyOrigin::None,
        note: None,
    }
}

/// Key material no real key has (all-zero points and secrets, an all-ones modulus), so a
/// stand-in can never be mistaken for a configured key.
fn placeholder_material(family: KeyFamily) -> KeyMaterial {
    let ec = |curve: EcCurve| {
        KeyMaterial::Ec(EcPublicKey {
            curve,
            point: vec![0; 1 + 2 * curve.coordinate_len()],
        })
    };
    match family {
        KeyFamily::Rsa => KeyMaterial::Rsa(RsaPublicKey {
            n: vec![0xff; 256],
            e: vec![1, 0, 1],
        }),
        KeyFamily::EcP256 => ec(EcCurve::P256),
        KeyFamily::EcP384 => ec(EcCurve::P384),
        KeyFamily::EcP521 => ec(EcCurve::P521),
        KeyFamily::Ed25519 => KeyMaterial::Ed25519([0; 32]),
        KeyFamily::Hmac => KeyMaterial::Hmac(vec![0; 64]),
    }
}

/// The core's verifier, except that stand-in keys (providers without keys) accept any
/// signature: those results are reported as UNVERIFIED. Stand-ins are recognised by
/// identity (the very key objects in those key sets), never by value, so no configured
/// key can pass for one.
struct ExplainVerifier<'k> {
    stand_ins: Vec<&'k VerifyingKey>,
}

impl SignatureVerifier for ExplainVerifier<'_> {
    fn verify(
        &self,
        alg: Algorithm,
        key: &VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if self
            .stand_ins
            .iter()
            .any(|stand_in| std::ptr::eq(*stand_in, key))
        {
            return if key.can_verify(alg) {
                Ok(())
            } else {
                Err(SignatureError::KeyAlgorithmMismatch)
            };
        }
        RingVerifier.verify(alg, key, message, signature)
    }
}

struct Keys<'k> {
    sets: &'k [ExplainKeys],
    config: &'k Config,
    revocation_list: Option<&'k claimcheck::revocation::RevocationList>,
}

impl KeyLookup for Keys<'_> {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_> {
        match self.sets.get(provider.index()) {
            Some(keys) => KeyAvailability::Ready {
                keys: &keys.set,
                generation: 0,
            },
            None => KeyAvailability::Unavailable,
        }
    }

    fn revocations(&self, provider: ProviderId) -> ListAvailability<'_> {
        let configured = self
            .config
            .provider(provider)
            .is_some_and(|p| p.revocation.is_some());
        match (configured, self.revocation_list) {
            (false, _) => ListAvailability::NotConfigured,
            (true, Some(list)) => ListAvailability::Ready(list),
            (true, None) => ListAvailability::Unavailable,
        }
    }
}

// ---------------------------------------------------------------- step codes
//
// Every step has a stable code in `--json`: reason codes (`DenyReason::code`) for failures,
// fixed words for the other outcomes.

fn replay_code(answer: ReplayAnswer) -> &'static str {
    match answer {
        ReplayAnswer::Fresh => "fresh",
        ReplayAnswer::Replayed => "replayed",
        ReplayAnswer::Unavailable => "unavailable",
        ReplayAnswer::Unchecked => "unchecked",
    }
}

fn token_code(step: &Option<Result<Option<usize>, ExtractError>>) -> &'static str {
    match step {
        None => "not_checked",
        Some(Ok(Some(_))) => "found",
        Some(Ok(None)) => "none",
        Some(Err(error)) => DenyReason::from(*error).code(),
    }
}

fn decode_code(step: &Option<Result<DecodedToken, claimcheck::jwt::JwtError>>) -> &'static str {
    match step {
        None => "not_checked",
        Some(Ok(_)) => "decoded",
        Some(Err(error)) => DenyReason::from(error).code(),
    }
}

fn signature_code(origin: KeyOrigin, p: &ProviderRecord) -> &'static str {
    match &p.signature {
        _ if p.cached => "verified",
        None => "not_checked",
        Some(Ok(_)) if origin == KeyOrigin::None => "unverified",
        Some(Ok(_)) => "verified",
        Some(Err(_)) => "failed",
    }
}

fn claims_code(p: &ProviderRecord) -> &'static str {
    match &p.claims {
        None => "not_checked",
        Some(Ok(())) => "valid",
        Some(Err(error)) => DenyReason::from(error).code(),
    }
}

fn source_description(provider: Option<&Provider>, index: Option<usize>) -> Option<String> {
    provider
        .zip(index)
        .and_then(|(provider, index)| provider.sources.get(index))
        .map(describe_source)
}

fn header_json(decoded: &DecodedToken) -> Value {
    let header = &decoded.header;
    let mut out = Map::new();
    out.insert("alg".into(), header.alg.as_str().into());
    if let Some(kid) = &header.kid {
        out.insert("kid".into(), kid.as_str().into());
    }
    if let Some(typ) = &header.typ {
        out.insert("typ".into(), typ.as_str().into());
    }
    Value::Object(out)
}

fn trace_json(trace: &ConditionTrace) -> Value {
    json!({
        "condition": trace.condition,
        "result": trace.holds(),
        "code": match trace.truth {
            Truth::Holds => "pass",
            Truth::Fails => "fail",
            Truth::WrongType => "wrong_type",
        },
        "detail": trace.detail,
        "children": trace.children.iter().map(trace_json).collect::<Vec<_>>(),
    })
}

/// The applied rule's action in words, from the configuration.
fn action_text(config: &Config, rule: &str) -> String {
    let action = config
        .rules
        .iter()
        .find(|r| &*r.name == rule)
        .map_or(&config.default, |r| &r.action);
    match action {
        Action::Deny => "deny".into(),
        Action::Allow => "allow".into(),
        Action::Require(requirement) => {
            let (kind, ids) = match &requirement.providers {
                ProviderSet::Any(ids) => ("any", ids),
                ProviderSet::All(ids) => ("all", ids),
            };
            let names: Vec<&str> = ids
                .iter()
                .filter_map(|id| config.provider(*id))
                .map(|p| p.name.as_str())
                .collect();
            format!("require {kind} of [{}]", names.join(", "))
        }
    }
}

fn rule_action<'c>(config: &'c Config, rule: &str) -> &'c Action {
    config
        .rules
        .iter()
        .find(|r| &*r.name == rule)
        .map_or(&config.default, |r| &r.action)
}

fn has_conditions(config: &Config, rule: &str) -> bool {
    matches!(rule_action(config, rule), Action::Require(requirement) if requirement.claims.is_some())
}

/// The rule's bound on the token's age, when it has one (`require.max_token_age_s`).
fn max_token_age_s(config: &Config, rule: &str) -> Option<u64> {
    match rule_action(config, rule) {
        Action::Require(requirement) => requirement.max_token_age_s,
        _ => None,
    }
}

// ---------------------------------------------------------------- --json

impl Explanation {
    /// The machine-readable form (`--json`).
    pub fn to_json(&self) -> Value {
        let token = self.record.first_token();
        json!({
            "request": {
                "method": self.request.method,
                "path": self.request.path,
                "host": self.request.host,
                "route_name": self.request.route_name,
                "canonical": self.canonical().map(|t| json!({
                    "method": t.method,
                    "path": t.path,
                })),
            },
            "token": {
                "placed_in": self.token_placement,
                "header": token.and_then(|t| t.as_ref().ok()).map(header_json),
                "claims": token.and_then(|t| t.as_ref().ok()).map(|t| &t.claims),
                "error": token.and_then(|t| t.as_ref().err()).map(|e| DenyReason::from(e).code()),
            },
            "rules": self.record.rules.iter().map(|r| json!({
                "index": r.index,
                "name": r.name,
                "matched": r.mismatches.is_empty(),
                "code": if r.mismatches.is_empty() { "matched" } else { "no_match" },
                "mismatches": r.mismatches,
            })).collect::<Vec<_>>(),
            "rule": self.rule,
            "action": action_text(&self.config, &self.rule),
            "providers": self.record.providers.iter().map(|p| self.provider_json(p)).collect::<Vec<_>>(),
            "conditions": self.record.conditions.as_ref().map(trace_json),
            "peer": {
                "mtls": self.request.peer.mtls,
                "uri_san": self.request.peer.uri_san,
                "dns_san": self.request.peer.dns_san,
                "subject": self.request.peer.subject,
                "check": self.record.peer.as_ref().map(|r| match r {
                    Ok(()) => json!({"code": "pass"}),
                    Err(why) => json!({"code": "fail", "detail": why}),
                }),
            },
            "decision": self.decision_json(),
            "dry_run": self.dry_run,
            "verified": !self.unverified(),
        })
    }

    fn provider_json(&self, p: &ProviderRecord) -> Value {
        let provider = self.config.provider(p.provider);
        let (origin, note) = self
            .keys
            .get(p.provider.index())
            .cloned()
            .unwrap_or((KeyOrigin::None, None));
        let found = match &p.token {
            Some(Ok(index)) => *index,
            _ => None,
        };
        json!({
            "name": provider.map(|p| p.name.as_str()),
            "issuer": provider.map(|p| p.issuer.as_str()),
            "token": token_code(&p.token),
            "token_source": source_description(provider, found),
            "token_error": match (&p.token, &p.decoded) {
                (Some(Err(error)), _) => Some(DenyReason::from(*error).code()),
                (_, Some(Err(error))) => Some(DenyReason::from(error).code()),
                _ => None,
            },
            "decode": decode_code(&p.decoded),
            "issuer_matches": p.issuer_matches,
            "cached": p.cached,
            "keys": match origin {
                KeyOrigin::Inline => "inline",
                KeyOrigin::JwksFile => "jwks_file",
                KeyOrigin::None => "none",
            },
            "keys_note": note,
            "key": match &p.signature {
                Some(Ok(key)) if origin != KeyOrigin::None => json!({
                    "kid": key.kid,
                    "algorithms": key.algorithms.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                }),
                _ => Value::Null,
            },
            "signature": signature_code(origin, p),
            "signature_error": match &p.signature {
                Some(Err(error)) => Some(DenyReason::from(*error).code()),
                _ => None,
            },
            "claims": claims_code(p),
            "certificate_binding": p.binding.map(|b| match b {
                Ok(()) => "pass",
                Err(error) => DenyReason::from(error).code(),
            }),
            "dpop": match &p.dpop {
                None => Value::Null,
                Some(Ok(false)) => json!("not_applied"),
                Some(Ok(true)) => json!("verified"),
                Some(Err(error)) => json!(DenyReason::from(*error).code()),
            },
            "dpop_replay": p.replay.map(replay_code),
            "introspection": p.introspection.map(|step| step.code()),
            "revocation": p.revocation.map(|step| step.code()),
        })
    }

    fn decision_json(&self) -> Value {
        match &self.answer {
            Answer::Allowed {
                provider,
                headers_to_set,
                headers_to_remove,
                path_rewrite,
                headers_skipped,
            } => json!({
                "allowed": true,
                "status": 200,
                "provider": provider,
                "headers_to_set": headers_to_set,
                "headers_to_remove": headers_to_remove,
                "path_rewrite": path_rewrite,
                "headers_skipped": headers_skipped
                    .iter()
                    .map(|(header, reason)| json!({ "header": header, "reason": reason }))
                    .collect::<Vec<_>>(),
            }),
            Answer::Refused {
                status,
                reason,
                www_authenticate,
                retry_after_s,
                dpop_nonce,
                body,
                provider,
            } => json!({
                "allowed": false,
                "status": status,
                "reason": reason,
                "www_authenticate": www_authenticate,
                "retry_after_s": retry_after_s,
                "dpop_nonce": dpop_nonce,
                "body": serde_json::from_str::<Value>(body).unwrap_or_else(|_| json!(body)),
                "provider": provider,
            }),
            Answer::Waiting { provider } => json!({
                "allowed": false,
                "waiting_for_keys": provider,
            }),
        }
    }
}

// ---------------------------------------------------------------- text

fn label(text: &str) -> String {
    paint(HEADING, format!("{text:<10}"))
}

fn section(text: &str) -> String {
    paint(HEADING, text)
}

impl Explanation {
    /// The human-readable form; colour on terminals only.
    pub fn render(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.render_request(out)?;
        self.render_token(out)?;
        self.render_rules(out)?;
        self.render_providers(out)?;
        self.render_conditions(out)?;
        self.render_decision(out)
    }

    fn render_request(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{} {} {}  {} {}",
            label("request"),
            self.request.method,
            self.request.path,
            paint(DIM, "host"),
            self.request.host
        )?;
        let peer = &self.request.peer;
        if peer.mtls {
            let values: Vec<String> = claimcheck::peer::PeerField::ALL
                .into_iter()
                .filter_map(|f| peer.field(f).map(|v| format!("{f} {v:?}")))
                .collect();
            writeln!(out, "{} mtls {}", label("peer"), values.join("  "))?;
        }
        match self.canonical() {
            Some(t) if t.method == self.request.method && t.path == self.request.path_only() => {
                Ok(())
            }
            Some(t) => writeln!(out, "{} {} {}", label("matched as"), t.method, t.path),
            None => writeln!(
                out,
                "{} {}",
                label("matched as"),
                paint(BAD, "no canonical form: refused before any rule")
            ),
        }
    }

    fn render_token(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self.record.first_token() {
            Some(Err(error)) => writeln!(
                out,
                "{} {}",
                label("token"),
                paint(BAD, format!("not decodable: {error}"))
            ),
            Some(Ok(token)) => {
                let placed = self.token_placement.as_deref().unwrap_or("request");
                writeln!(out, "{} in {placed}", label("token"))?;
                writeln!(out, "  {} {}", paint(DIM, "header"), header_json(token))?;
                let pretty = serde_json::to_string_pretty(&token.claims).unwrap_or_default();
                let indented = pretty.replace('\n', "\n         ");
                writeln!(out, "  {} {indented}", paint(DIM, "claims"))?;
                if self.unverified() {
                    writeln!(
                        out,
                        "  {}",
                        paint(WARN, "UNVERIFIED: no keys for its provider; the signature was not checked (pass --jwks FILE)")
                    )?;
                }
                Ok(())
            }
            None => writeln!(out, "{} none", label("token")),
        }
    }

    fn render_rules(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}", section("rules"))?;
        for rule in &self.record.rules {
            if rule.mismatches.is_empty() {
                writeln!(
                    out,
                    "  [{}] {}  {}",
                    rule.index,
                    rule.name,
                    paint(OK, "matches")
                )?;
            } else {
                writeln!(
                    out,
                    "  [{}] {}  {} {}",
                    rule.index,
                    rule.name,
                    paint(DIM, "no match:"),
                    rule.mismatches.join("; ")
                )?;
            }
        }
        if self.record.rules.iter().all(|r| !r.mismatches.is_empty()) {
            writeln!(out, "  no rule matches: the default applies")?;
        }
        writeln!(
            out,
            "  {} {} -> {}",
            paint(DIM, "applies"),
            self.rule,
            action_text(&self.config, &self.rule)
        )?;
        match &self.record.peer {
            Some(Ok(())) => writeln!(
                out,
                "  {} {}",
                paint(DIM, "require.peer"),
                paint(OK, "pass")
            ),
            Some(Err(why)) => writeln!(
                out,
                "  {} {} {why}",
                paint(DIM, "require.peer"),
                paint(BAD, "fail:")
            ),
            None => Ok(()),
        }
    }

    fn render_providers(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.record.providers.is_empty() {
            writeln!(out, "{}", section("providers"))?;
        }
        for p in &self.record.providers {
            self.render_provider(out, p)?;
        }
        Ok(())
    }

    fn render_provider(&self, out: &mut dyn Write, p: &ProviderRecord) -> std::io::Result<()> {
        let provider = self.config.provider(p.provider);
        let (origin, note) = self
            .keys
            .get(p.provider.index())
            .cloned()
            .unwrap_or((KeyOrigin::None, None));
        let token = match &p.token {
            Some(Ok(Some(index))) => format!(
                "token in {}",
                source_description(provider, Some(*index)).unwrap_or_default()
            ),
            Some(Ok(None)) | None => "no token in its sources".to_owned(),
            Some(Err(ExtractError::Ambiguous)) => paint(BAD, "two different tokens (ambiguous)"),
            Some(Err(ExtractError::TooLong)) => paint(BAD, "token too large"),
        };
        let (name, issuer) = provider.map_or(("", ""), |p| (p.name.as_str(), p.issuer.as_str()));
        writeln!(out, "  {name} ({issuer})  {token}")?;
        if let Some(Err(error)) = &p.decoded {
            writeln!(out, "    {} {}", paint(BAD, "malformed:"), error)?;
        }
        match p.issuer_matches {
            Some(true) => writeln!(out, "    iss      {}", paint(OK, "matches"))?,
            Some(false) => writeln!(
                out,
                "    iss      {}",
                paint(DIM, "another issuer: not this provider's token")
            )?,
            None => {}
        }
        let keys = match origin {
            KeyOrigin::Inline => "inline keys",
            KeyOrigin::JwksFile => "--jwks keys",
            KeyOrigin::None => "no keys",
        };
        match (&p.signature, signature_code(origin, p)) {
            (_, "unverified") => writeln!(
                out,
                "    signature {}",
                paint(WARN, "UNVERIFIED (no keys; assumed valid)")
            )?,
            (Some(Ok(key)), _) => {
                let kid = key.kid.as_deref().unwrap_or("(no kid)");
                writeln!(
                    out,
                    "    signature {} {}",
                    paint(OK, "verified"),
                    paint(DIM, format!("({keys}, key {kid})"))
                )?
            }
            (Some(Err(error)), _) => writeln!(
                out,
                "    signature {} {}",
                paint(BAD, format!("failed: {error}")),
                paint(DIM, format!("({keys})"))
            )?,
            (None, _) => {}
        }
        if let Some(note) = &note {
            writeln!(out, "    keys     {}", paint(BAD, note))?;
        }
        let checked = match max_token_age_s(&self.config, &self.rule) {
            Some(age) => format!("valid (iss, aud, exp/nbf/iat, required, issued within {age} s)"),
            None => "valid (iss, aud, exp/nbf/iat, required)".to_owned(),
        };
        match &p.claims {
            Some(Ok(())) => writeln!(out, "    claims   {}", paint(OK, checked)),
            Some(Err(error)) => writeln!(out, "    claims   {}", paint(BAD, error)),
            None => Ok(()),
        }?;
        match &p.binding {
            Some(Ok(())) => writeln!(
                out,
                "    binding  {}",
                paint(
                    OK,
                    "certificate binding (cnf.x5t#S256) holds or does not apply"
                )
            )?,
            Some(Err(error)) => writeln!(
                out,
                "    binding  {}",
                paint(BAD, DenyReason::from(*error).code())
            )?,
            None => {}
        }
        match &p.dpop {
            Some(Ok(true)) => writeln!(out, "    dpop     {}", paint(OK, "proof verified"))?,
            Some(Ok(false)) => writeln!(
                out,
                "    dpop     {}",
                paint(DIM, "not bound: bearer token accepted")
            )?,
            Some(Err(error)) => writeln!(
                out,
                "    dpop     {}",
                paint(BAD, DenyReason::from(*error).code())
            )?,
            None => {}
        }
        match p.introspection {
            Some(Introspected::Active) => writeln!(
                out,
                "    introspection {}",
                paint(OK, "active (the server's answer)")
            )?,
            Some(Introspected::Inactive) => writeln!(
                out,
                "    introspection {}",
                paint(BAD, "inactive: token_inactive")
            )?,
            Some(Introspected::Unavailable) => writeln!(
                out,
                "    introspection {}",
                paint(
                    BAD,
                    "no answer (give one with --introspection): introspection_unavailable"
                )
            )?,
            Some(Introspected::OutageAllowed) => writeln!(
                out,
                "    introspection {}",
                paint(
                    WARN,
                    "no answer; the rule's on_outage \"allow\" lets the JWT through"
                )
            )?,
            None => {}
        }
        match p.revocation {
            Some(RevocationCheck::NotRevoked) => writeln!(
                out,
                "    revocation {}",
                paint(OK, "not on the revocation list (jti, sub, sid)")
            )?,
            Some(RevocationCheck::Revoked(by)) => writeln!(
                out,
                "    revocation {}",
                paint(BAD, format!("listed by {}: token_revoked", by.claim()))
            )?,
            Some(RevocationCheck::Unavailable) => writeln!(
                out,
                "    revocation {}",
                paint(
                    BAD,
                    "no list (give one with --revocation-list): revocation_list_unavailable"
                )
            )?,
            None => {}
        }
        match p.replay {
            Some(ReplayAnswer::Unchecked) => writeln!(
                out,
                "    replay   {}",
                paint(WARN, "not checked (explain keeps no replay cache)")
            ),
            Some(answer) => writeln!(out, "    replay   {}", replay_code(answer)),
            None => Ok(()),
        }
    }

    fn render_conditions(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(trace) = &self.record.conditions {
            writeln!(out, "{}", section("conditions"))?;
            render_trace(out, trace, 1)
        } else if has_conditions(&self.config, &self.rule) {
            writeln!(
                out,
                "{} {}",
                label("conditions"),
                paint(DIM, "not evaluated: no token was accepted")
            )
        } else {
            Ok(())
        }
    }

    fn render_decision(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match &self.answer {
            Answer::Allowed {
                provider,
                headers_to_set,
                headers_to_remove,
                path_rewrite,
                headers_skipped,
            } => {
                let who = provider
                    .as_deref()
                    .map_or_else(|| "anonymous".to_owned(), |p| format!("provider {p}"));
                let verified = if self.unverified() {
                    format!(" {}", paint(WARN, "UNVERIFIED"))
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{} {} ({who}, rule {}){verified}",
                    label("decision"),
                    paint(OK, "200 allowed"),
                    self.rule
                )?;
                for name in headers_to_remove {
                    writeln!(out, "  {} {name}", paint(DIM, "remove header"))?;
                }
                for (name, value) in headers_to_set {
                    writeln!(out, "  {} {name}: {value}", paint(DIM, "set header   "))?;
                }
                for (name, reason) in headers_skipped {
                    writeln!(out, "  {} {name} ({reason})", paint(DIM, "skip header  "))?;
                }
                if let Some(path) = path_rewrite {
                    writeln!(out, "  {} {path}", paint(DIM, "rewrite path "))?;
                }
                Ok(())
            }
            Answer::Refused {
                status,
                reason,
                www_authenticate,
                retry_after_s,
                dpop_nonce,
                body,
                provider,
            } => {
                let by = provider
                    .as_deref()
                    .map(|p| format!(", provider {p}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{} {} (rule {}{by})",
                    label("decision"),
                    paint(BAD, format!("{status} refused: {reason}")),
                    self.rule
                )?;
                if let Some(challenge) = www_authenticate {
                    writeln!(out, "  {} {challenge}", paint(DIM, "www-authenticate"))?;
                }
                if let Some(seconds) = retry_after_s {
                    writeln!(out, "  {} {seconds}", paint(DIM, "retry-after     "))?;
                }
                if let Some(nonce) = dpop_nonce {
                    writeln!(out, "  {} {nonce}", paint(DIM, "dpop-nonce      "))?;
                }
                writeln!(out, "  {} {body}", paint(DIM, "body            "))?;
                if self.unverified() {
                    writeln!(
                        out,
                        "  {}",
                        paint(WARN, "UNVERIFIED: the signature was not checked")
                    )?;
                }
                if self.dry_run {
                    writeln!(
                        out,
                        "  {}",
                        paint(
                            WARN,
                            "dry run: Envoy lets the request through and counts the refusal"
                        )
                    )?;
                }
                Ok(())
            }
            Answer::Waiting { provider } => writeln!(
                out,
                "{} waits for the keys of provider {provider}",
                label("decision")
            ),
        }
    }
}

fn render_trace(
    out: &mut dyn std::io::Write,
    trace: &ConditionTrace,
    depth: usize,
) -> std::io::Result<()> {
    let mark = match trace.truth {
        Truth::Holds => paint(OK, "[pass]"),
        Truth::Fails => paint(BAD, "[fail]"),
        Truth::WrongType => paint(BAD, "[wrong type]"),
    };
    let detail = trace
        .detail
        .as_deref()
        .map(|d| format!(" {}", paint(DIM, format!("({d})"))))
        .unwrap_or_default();
    writeln!(
        out,
        "{:indent$}{mark} {}{detail}",
        "",
        trace.condition,
        indent = depth * 2
    )?;
    for child in &trace.children {
        render_trace(out, child, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: Value) -> Config {
        claimcheck::config::load(json.to_string().as_bytes()).unwrap()
    }

    fn provider_with_sources(sources: Value) -> Config {
        config(json!({
            "providers": { "p": {
                "issuer": "https://issuer.example",
                "audiences": "any",
                "jwks": { "remote": { "cluster": "idp", "uri": "https://issuer.example/jwks" } },
                "sources": sources
            } },
            "rules": [],
            "default": { "action": "require", "require": { "providers": { "any": ["p"] } } }
        }))
    }

    fn request(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            host: "localhost".into(),
            ..Request::default()
        }
    }

    #[test]
    fn token_goes_where_the_rule_provider_reads_it() {
        let query = provider_with_sources(json!([{ "query": "access_token" }]));
        let (placed, how) = place_token(&query, request("/a?x=1"), "t.t.t");
        assert_eq!(placed.path, "/a?x=1&access_token=t.t.t");
        assert_eq!(how.as_deref(), Some("query parameter access_token"));

        let cookie = provider_with_sources(json!([{ "cookie": "session" }]));
        let (placed, _) = place_token(&cookie, request("/"), "t.t.t");
        assert_eq!(placed.header("cookie"), Some("session=t.t.t"));

        let header = provider_with_sources(json!([{ "header": "x-token", "prefix": "" }]));
        let (placed, _) = place_token(&header, request("/"), "t.t.t");
        assert_eq!(placed.header("x-token"), Some("t.t.t"));
    }

    #[test]
    fn token_already_on_the_request_is_not_added_twice() {
        let header =
            provider_with_sources(json!([{ "header": "authorization", "prefix": "Bearer " }]));
        let mut req = request("/");
        req.headers
            .push(("authorization".into(), "Bearer t.t.t".into()));
        let (placed, how) = place_token(&header, req, "t.t.t");
        assert_eq!(placed.headers_named("authorization").count(), 1);
        assert!(how.unwrap().contains("already on the request"));
    }

    #[test]
    fn stand_in_keys_accept_any_signature_only_for_their_own_family() {
        let stand_in = VerifyingKey::new(
            Some("k".into()),
            vec![Algorithm::ES256],
            placeholder_material(KeyFamily::EcP256),
        );
        let verifier = ExplainVerifier {
            stand_ins: vec![&stand_in],
        };
        assert_eq!(
            verifier.verify(Algorithm::ES256, &stand_in, b"m", b"anything"),
            Ok(())
        );
        assert_eq!(
            verifier.verify(Algorithm::RS256, &stand_in, b"m", b"anything"),
            Err(SignatureError::KeyAlgorithmMismatch)
        );
    }

    #[test]
    fn a_key_equal_to_a_stand_in_is_still_verified() {
        let stand_in = VerifyingKey::new(
            Some("k".into()),
            vec![Algorithm::HS256],
            placeholder_material(KeyFamily::Hmac),
        );
        let configured = stand_in.clone();
        let verifier = ExplainVerifier {
            stand_ins: vec![&stand_in],
        };
        assert_eq!(
            verifier.verify(Algorithm::HS256, &configured, b"m", &[0; 32]),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn jwks_that_is_not_a_key_set_is_refused_up_front() {
        let result = explain(ExplainInput {
            config: provider_with_sources(
                json!([{ "header": "authorization", "prefix": "Bearer " }]),
            ),
            request: request("/"),
            token: None,
            jwks: Some(b"[1, 2]".to_vec()),
            now_s: 0,
            peer_certificate: None,
            introspection: None,
            revocation_list: None,
        });
        assert_eq!(result.err(), Some(JwksFileError(JwksError::MissingKeys)));
    }

    #[test]
    fn conditions_are_not_evaluated_without_an_accepted_token() {
        let config = config(json!({
            "providers": { "p": {
                "issuer": "https://issuer.example",
                "audiences": "any",
                "jwks": { "remote": { "cluster": "idp", "uri": "https://issuer.example/jwks" } }
            } },
            "rules": [],
            "default": { "action": "require", "require": {
                "providers": { "any": ["p"] },
                "claims": { "claim": "groups", "contains": "admin" }
            } }
        }));
        let explanation = explain(ExplainInput {
            config,
            request: request("/"),
            token: None,
            jwks: None,
            now_s: 0,
            peer_certificate: None,
            introspection: None,
            revocation_list: None,
        })
        .unwrap();
        assert!(has_conditions(&explanation.config, &explanation.rule));
        assert_eq!(explanation.record.conditions, None);
        assert!(matches!(
            explanation.answer,
            Answer::Refused {
                status: 401,
                reason: "token_missing",
                ..
            }
        ));
    }
}
