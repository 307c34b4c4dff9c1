//! `claimcheck explain`: why a request with a token gets the answer it gets.
//!
//! The answer itself comes from the core's request pipeline (`authorize::authorize`), the
//! code the filter runs; the trace around it is built from the same core pieces the
//! pipeline uses — `policy::explain` for rule matching, `extract::find_token`,
//! `jwt::decode`/`jwt::verify`, `claims::validate`, `Condition::trace` — so every line of
//! the explanation is what the filter computes, not a re-implementation of it.
//!
//! Keys: a provider with inline keys is verified against them; any other provider against
//! `--jwks` when given. Without keys the signature is NOT checked: the explanation is then
//! marked UNVERIFIED and the rest of the pipeline runs as if the signature were valid.

use std::borrow::Cow;
use std::fmt;

use claimcheck::authorize::{self, KeyAvailability, KeyLookup, Outcome, VerifiedCache};
use claimcheck::claims::{self, ClaimError};
use claimcheck::config::{Config, JwksSource, Provider, ProviderId};
use claimcheck::crypto::{RingVerifier, SignatureError, SignatureVerifier};
use claimcheck::decision::Decision;
use claimcheck::extract::{self, ExtractError, TokenSource};
use claimcheck::jwks::{
    EcCurve, EcPublicKey, JwksError, KeyMaterial, KeyPolicy, KeySet, RsaPublicKey, VerifyingKey,
};
use claimcheck::jwt::{self, Algorithm, DecodedJwt, JwtError, KeyFamily, VerifyError};
use claimcheck::policy::{self, Action, ConditionTrace, ProviderSet};
use claimcheck::request::{Request, Target};
use serde_json::{json, Map, Value};

/// What to explain.
pub struct ExplainInput {
    pub config: Config,
    /// The request without the token.
    pub request: Request,
    pub token: Option<String>,
    /// A JWKS document for providers without inline keys.
    pub jwks: Option<Vec<u8>>,
    pub now_s: u64,
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

/// What one provider made of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderTrace {
    pub name: String,
    pub issuer: String,
    /// `Ok(Some(source))` where the token was found, `Ok(None)` for no token.
    pub token: Result<Option<String>, ExtractError>,
    pub decode_error: Option<JwtError>,
    pub issuer_matches: Option<bool>,
    pub keys: KeyOrigin,
    /// Why `--jwks` yielded no key for this provider.
    pub keys_note: Option<String>,
    pub signature: SignatureStatus,
    pub claims: Option<Result<(), ClaimError>>,
}

/// The signature check as the trace saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureStatus {
    NotChecked,
    Verified,
    /// No keys: not checked, assumed valid.
    Unverified,
    Failed(VerifyError),
}

/// The final answer, from the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Allowed {
        provider: Option<String>,
        headers_to_set: Vec<(String, String)>,
        headers_to_remove: Vec<String>,
        path_rewrite: Option<String>,
    },
    Refused {
        status: u16,
        reason: &'static str,
        www_authenticate: Option<String>,
        retry_after_s: Option<u32>,
        body: String,
        provider: Option<String>,
    },
    /// The pipeline would park the request until keys arrive (not reached with the
    /// key lookup used here, kept so no outcome goes unreported).
    Waiting { provider: String },
}

/// A complete explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub request: Request,
    /// The method and path the rules matched; `None` when the path has no canonical form.
    pub canonical: Option<Target>,
    /// Where `--token` was put on the request.
    pub token_placement: Option<String>,
    pub header: Option<Value>,
    pub claims: Option<Map<String, Value>>,
    pub token_error: Option<JwtError>,
    pub rules: Vec<policy::RuleTrace>,
    pub rule: String,
    pub action: String,
    pub providers: Vec<ProviderTrace>,
    pub conditions: Option<ConditionTrace>,
    /// The applied rule has claim conditions (evaluated or not).
    pub has_conditions: bool,
    pub answer: Answer,
    pub dry_run: bool,
    /// Some signature involved was not checked.
    pub unverified: bool,
}

impl Explanation {
    pub fn allowed(&self) -> bool {
        matches!(self.answer, Answer::Allowed { .. })
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
    } = input;
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
    // The token shown: `--token`, else the first one a provider finds on the request
    // (passed with `--header` or in the path).
    let shown_token: Option<String> = token.clone().or_else(|| {
        config.providers.iter().find_map(|provider| {
            extract::find_token(&provider.sources, &request)
                .ok()
                .flatten()
                .map(|found| found.token.into_owned())
        })
    });
    let decoded_token = shown_token.as_deref().map(jwt::decode);

    // Rules match the canonical method and path, as in the filter; a request without one
    // is refused before any rule (the answer below says why).
    let target = request.target(&config.paths);
    let fallback = Target {
        method: request.method.to_ascii_uppercase(),
        path: request.path_only().to_owned(),
    };
    let rule_trace = policy::explain(&config, &request, target.as_ref().unwrap_or(&fallback));
    let selected = rule_trace.selected;
    let (action, traced_ids): (String, Vec<ProviderId>) = match selected.action {
        Action::Deny => ("deny".into(), Vec::new()),
        Action::Allow => (
            "allow".into(),
            config.providers.iter().map(|p| p.id).collect(),
        ),
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
            (
                format!("require {kind} of [{}]", names.join(", ")),
                ids.clone(),
            )
        }
    };

    // Keys for every provider, indexed by provider id.
    let mut key_sets = Vec::with_capacity(config.providers.len());
    for provider in &config.providers {
        let found_header = extract::find_token(&provider.sources, &request)
            .ok()
            .flatten()
            .and_then(|found| jwt::decode(&found.token).ok())
            .map(|jwt| jwt.header().clone());
        key_sets.push(provider_keys(
            provider,
            jwks.as_deref(),
            found_header.as_ref(),
        ));
    }
    let verifier = ExplainVerifier {
        stand_ins: key_sets
            .iter()
            .filter(|keys| keys.origin == KeyOrigin::None)
            .flat_map(|keys| keys.set.keys())
            .collect(),
    };
    let lookup = Keys { sets: &key_sets };

    let mut providers = Vec::new();
    let mut condition_claims: Option<Map<String, Value>> = None;
    for id in &traced_ids {
        let (Some(provider), Some(keys)) = (config.provider(*id), key_sets.get(id.index())) else {
            continue;
        };
        let trace = trace_provider(provider, keys, &request, &verifier, now_s);
        // Conditions are evaluated on the claims of the first accepted token, as in the
        // pipeline; with no accepted token they are not evaluated at all.
        let accepted = matches!(
            trace.signature,
            SignatureStatus::Verified | SignatureStatus::Unverified
        ) && trace.claims == Some(Ok(()));
        if condition_claims.is_none() && accepted {
            condition_claims = extract::find_token(&provider.sources, &request)
                .ok()
                .flatten()
                .and_then(|found| jwt::decode(&found.token).ok())
                .map(DecodedJwt::into_claims);
        }
        providers.push(trace);
    }

    let has_conditions =
        matches!(selected.action, Action::Require(requirement) if requirement.claims.is_some());
    let conditions = match (selected.action, &condition_claims) {
        (Action::Require(requirement), Some(claims)) => {
            requirement.claims.as_ref().map(|c| c.trace(claims))
        }
        _ => None,
    };

    let mut cache = VerifiedCache::new(0);
    let outcome = authorize::authorize(&config, &request, &lookup, &verifier, &mut cache, now_s);
    let (answer, dry_run) = answer(outcome, &config, selected.dry_run);

    let unverified = providers
        .iter()
        .any(|p| p.signature == SignatureStatus::Unverified);
    let (header, claims, token_error) = match decoded_token {
        Some(Ok(jwt)) => (Some(header_json(&jwt)), Some(jwt.into_claims()), None),
        Some(Err(error)) => (None, None, Some(error)),
        None => (None, None, None),
    };
    let (rules, rule, action) = match &target {
        Ok(_) => (rule_trace.rules, selected.name.to_owned(), action),
        Err(_) => (
            Vec::new(),
            authorize::REQUEST_RULE_NAME.to_owned(),
            "refuse (no canonical path)".to_owned(),
        ),
    };
    Ok(Explanation {
        request,
        canonical: target.ok(),
        token_placement,
        header,
        claims,
        token_error,
        rules,
        rule,
        action,
        providers,
        conditions,
        has_conditions,
        answer,
        dry_run,
        unverified,
    })
}

/// The pipeline's outcome as the explanation reports it, with the refusal rendered by
/// the core's one mapping (`Denial::response`).
fn answer(outcome: Outcome, config: &Config, rule_dry_run: bool) -> (Answer, bool) {
    let provider_name = |id: Option<ProviderId>| {
        id.and_then(|id| config.provider(id))
            .map(|p| p.name.clone())
    };
    match outcome {
        Outcome::Decided(verdict) => {
            let answer = match verdict.decision {
                Decision::Allow(allow) => Answer::Allowed {
                    provider: provider_name(allow.provider),
                    headers_to_set: allow.headers_to_set,
                    headers_to_remove: allow.headers_to_remove,
                    path_rewrite: allow.path_rewrite,
                },
                Decision::Deny(denial) => {
                    let response = denial.response(&config.realm);
                    Answer::Refused {
                        status: response.status,
                        reason: response.reason_code,
                        www_authenticate: response.www_authenticate,
                        retry_after_s: response.retry_after_s,
                        body: response.body,
                        provider: provider_name(verdict.provider),
                    }
                }
            };
            (answer, verdict.dry_run)
        }
        Outcome::Wait { provider, .. } => (
            Answer::Waiting {
                provider: provider_name(Some(provider)).unwrap_or_default(),
            },
            rule_dry_run,
        ),
    }
}

fn header_json(jwt: &DecodedJwt) -> Value {
    let header = jwt.header();
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

/// Puts the token where the selected rule's first provider reads tokens (for `allow` and
/// `deny` rules: the first provider's first source), unless the request already carries
/// it there.
fn place_token(config: &Config, mut request: Request, token: &str) -> (Request, Option<String>) {
    let target = request.target(&config.paths).unwrap_or_else(|_| Target {
        method: request.method.clone(),
        path: request.path_only().to_owned(),
    });
    let selected = policy::select_rule(config, &request, &target);
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
struct ProviderKeys {
    set: KeySet,
    origin: KeyOrigin,
    note: Option<String>,
}

fn provider_keys(
    provider: &Provider,
    jwks: Option<&[u8]>,
    token_header: Option<&jwt::Header>,
) -> ProviderKeys {
    if let JwksSource::Inline(parsed) = &provider.jwks {
        return ProviderKeys {
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
            Ok(parsed) => ProviderKeys {
                set: parsed.keys,
                origin: KeyOrigin::JwksFile,
                note: None,
            },
            Err(error) => ProviderKeys {
                set: KeySet::from_keys(Vec::new(), &provider.algorithms),
                origin: KeyOrigin::JwksFile,
                note: Some(error.to_string()),
            },
        };
    }
    // No keys: a stand-in key that fits the token's header, accepted only by
    // `ExplainVerifier`, so the pipeline checks everything but the signature. The key set
    // still applies the provider's algorithm policy (`alg` outside it is refused).
    let keys = token_header
        .map(|header| VerifyingKey {
            kid: header.kid.clone(),
            algorithms: vec![header.alg],
            material: placeholder_material(header.alg.key_family()),
        })
        .into_iter()
        .collect::<Vec<_>>();
    ProviderKeys {
        set: KeySet::from_keys(keys, &provider.algorithms),
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
    sets: &'k [ProviderKeys],
}

impl KeyLookup for Keys<'_> {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_> {
        match self.sets.get(provider.index()) {
            Some(keys) => KeyAvailability::Ready {
                keys: &keys.set,
                generation: 0,
                refetch_allowed: false,
            },
            None => KeyAvailability::Unavailable,
        }
    }
}

fn trace_provider(
    provider: &Provider,
    keys: &ProviderKeys,
    request: &Request,
    verifier: &ExplainVerifier<'_>,
    now_s: u64,
) -> ProviderTrace {
    let mut trace = ProviderTrace {
        name: provider.name.clone(),
        issuer: provider.issuer.clone(),
        token: Ok(None),
        decode_error: None,
        issuer_matches: None,
        keys: keys.origin,
        keys_note: keys.note.clone(),
        signature: SignatureStatus::NotChecked,
        claims: None,
    };
    let found = match extract::find_token(&provider.sources, request) {
        Ok(Some(found)) => found,
        Ok(None) => return trace,
        Err(error) => {
            trace.token = Err(error);
            return trace;
        }
    };
    trace.token = Ok(provider
        .sources
        .get(found.location.source)
        .map(describe_source));
    let token: Cow<'_, str> = found.token;
    let jwt = match jwt::decode(&token) {
        Ok(jwt) => jwt,
        Err(error) => {
            trace.decode_error = Some(error);
            return trace;
        }
    };
    let issuer_matches =
        jwt.claims().get("iss").and_then(Value::as_str) == Some(provider.issuer.as_str());
    trace.issuer_matches = Some(issuer_matches);
    if !issuer_matches {
        return trace;
    }
    trace.signature = match jwt::verify(&jwt, &keys.set, verifier) {
        Ok(()) if keys.origin == KeyOrigin::None => SignatureStatus::Unverified,
        Ok(()) => SignatureStatus::Verified,
        Err(error) => SignatureStatus::Failed(error),
    };
    if matches!(
        trace.signature,
        SignatureStatus::Verified | SignatureStatus::Unverified
    ) {
        trace.claims = Some(claims::validate(jwt.claims(), &provider.claims, now_s));
    }
    trace
}

// ---------------------------------------------------------------- rendering

impl KeyOrigin {
    fn describe(self) -> &'static str {
        match self {
            KeyOrigin::Inline => "inline keys",
            KeyOrigin::JwksFile => "--jwks keys",
            KeyOrigin::None => "no keys",
        }
    }
}

impl SignatureStatus {
    fn describe(self) -> String {
        match self {
            SignatureStatus::NotChecked => "not checked".into(),
            SignatureStatus::Verified => "verified".into(),
            SignatureStatus::Unverified => "UNVERIFIED (no keys; assumed valid)".into(),
            SignatureStatus::Failed(error) => format!("failed: {error}"),
        }
    }

    fn code(self) -> &'static str {
        match self {
            SignatureStatus::NotChecked => "not_checked",
            SignatureStatus::Verified => "verified",
            SignatureStatus::Unverified => "unverified",
            SignatureStatus::Failed(_) => "failed",
        }
    }
}

fn trace_json(trace: &ConditionTrace) -> Value {
    json!({
        "condition": trace.condition,
        "result": trace.result,
        "detail": trace.detail,
        "children": trace.children.iter().map(trace_json).collect::<Vec<_>>(),
    })
}

impl Explanation {
    /// The machine-readable form (`--json`).
    pub fn to_json(&self) -> Value {
        let providers: Vec<Value> = self
            .providers
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "issuer": p.issuer,
                    "token_source": match &p.token {
                        Ok(source) => json!(source),
                        Err(_) => Value::Null,
                    },
                    "token_error": match (&p.token, &p.decode_error) {
                        (Err(error), _) => json!(claimcheck::decision::DenyReason::from(*error).code()),
                        (_, Some(error)) => json!(error.to_string()),
                        _ => Value::Null,
                    },
                    "issuer_matches": p.issuer_matches,
                    "keys": match p.keys {
                        KeyOrigin::Inline => "inline",
                        KeyOrigin::JwksFile => "jwks_file",
                        KeyOrigin::None => "none",
                    },
                    "keys_note": p.keys_note,
                    "signature": p.signature.code(),
                    "signature_error": match p.signature {
                        SignatureStatus::Failed(error) => json!(error.to_string()),
                        _ => Value::Null,
                    },
                    "claims": match &p.claims {
                        None => Value::Null,
                        Some(Ok(())) => json!("ok"),
                        Some(Err(error)) => json!(error.to_string()),
                    },
                })
            })
            .collect();
        let decision = match &self.answer {
            Answer::Allowed {
                provider,
                headers_to_set,
                headers_to_remove,
                path_rewrite,
            } => json!({
                "allowed": true,
                "status": 200,
                "provider": provider,
                "headers_to_set": headers_to_set,
                "headers_to_remove": headers_to_remove,
                "path_rewrite": path_rewrite,
            }),
            Answer::Refused {
                status,
                reason,
                www_authenticate,
                retry_after_s,
                body,
                provider,
            } => json!({
                "allowed": false,
                "status": status,
                "reason": reason,
                "www_authenticate": www_authenticate,
                "retry_after_s": retry_after_s,
                "body": serde_json::from_str::<Value>(body).unwrap_or_else(|_| json!(body)),
                "provider": provider,
            }),
            Answer::Waiting { provider } => json!({
                "allowed": false,
                "waiting_for_keys": provider,
            }),
        };
        json!({
            "request": {
                "method": self.request.method,
                "path": self.request.path,
                "host": self.request.host,
                "route_name": self.request.route_name,
                "canonical": self.canonical.as_ref().map(|t| json!({
                    "method": t.method,
                    "path": t.path,
                })),
            },
            "token": {
                "placed_in": self.token_placement,
                "header": self.header,
                "claims": self.claims,
                "error": self.token_error.as_ref().map(ToString::to_string),
            },
            "rules": self.rules.iter().map(|r| json!({
                "index": r.index,
                "name": r.name,
                "matched": r.mismatches.is_empty(),
                "mismatches": r.mismatches,
            })).collect::<Vec<_>>(),
            "rule": self.rule,
            "action": self.action,
            "providers": providers,
            "conditions": self.conditions.as_ref().map(trace_json),
            "decision": decision,
            "dry_run": self.dry_run,
            "verified": !self.unverified,
        })
    }

    /// The human-readable form; `paint` styles a word (colour on terminals only).
    pub fn render(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use crate::output::{paint, BAD, DIM, HEADING, OK, WARN};
        let label = |text: &str| paint(HEADING, format!("{text:<10}"));
        let section = |text: &str| paint(HEADING, text);
        writeln!(
            out,
            "{} {} {}  {} {}",
            label("request"),
            self.request.method,
            self.request.path,
            paint(DIM, "host"),
            self.request.host
        )?;
        match &self.canonical {
            Some(t) if t.method != self.request.method || t.path != self.request.path_only() => {
                writeln!(out, "{} {} {}", label("matched as"), t.method, t.path)?
            }
            Some(_) => {}
            None => writeln!(
                out,
                "{} {}",
                label("matched as"),
                paint(BAD, "no canonical form: refused before any rule")
            )?,
        }

        // Token.
        match (&self.header, &self.token_error) {
            (_, Some(error)) => writeln!(
                out,
                "{} {}",
                label("token"),
                paint(BAD, format!("not decodable: {error}"))
            )?,
            (Some(header), None) => {
                let placed = self.token_placement.as_deref().unwrap_or("request");
                writeln!(out, "{} in {placed}", label("token"))?;
                writeln!(out, "  {} {header}", paint(DIM, "header"))?;
                if let Some(claims) = &self.claims {
                    let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
                    let indented = pretty.replace('\n', "\n         ");
                    writeln!(out, "  {} {indented}", paint(DIM, "claims"))?;
                }
                if self.unverified {
                    writeln!(
                        out,
                        "  {}",
                        paint(WARN, "UNVERIFIED: no keys for its provider; the signature was not checked (pass --jwks FILE)")
                    )?;
                }
            }
            (None, None) => writeln!(out, "{} none", label("token"))?,
        }

        // Rules.
        writeln!(out, "{}", section("rules"))?;
        for rule in &self.rules {
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
        if self.rules.iter().all(|r| !r.mismatches.is_empty()) {
            writeln!(out, "  no rule matches: the default applies")?;
        }
        writeln!(
            out,
            "  {} {} -> {}",
            paint(DIM, "applies"),
            self.rule,
            self.action
        )?;

        // Providers.
        if !self.providers.is_empty() {
            writeln!(out, "{}", section("providers"))?;
        }
        for p in &self.providers {
            let token = match &p.token {
                Ok(Some(source)) => format!("token in {source}"),
                Ok(None) => "no token in its sources".to_owned(),
                Err(ExtractError::Ambiguous) => paint(BAD, "two different tokens (ambiguous)"),
                Err(ExtractError::TooLong) => paint(BAD, "token too large"),
            };
            writeln!(out, "  {} ({})  {token}", p.name, p.issuer)?;
            if let Some(error) = &p.decode_error {
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
            if p.signature != SignatureStatus::NotChecked {
                let style = match p.signature {
                    SignatureStatus::Verified => OK,
                    SignatureStatus::Unverified => WARN,
                    _ => BAD,
                };
                let keys = if p.signature == SignatureStatus::Unverified {
                    String::new()
                } else {
                    format!(" {}", paint(DIM, format!("({})", p.keys.describe())))
                };
                writeln!(
                    out,
                    "    signature {}{keys}",
                    paint(style, p.signature.describe())
                )?;
            }
            if let Some(note) = &p.keys_note {
                writeln!(out, "    keys     {}", paint(BAD, note))?;
            }
            match &p.claims {
                Some(Ok(())) => writeln!(
                    out,
                    "    claims   {}",
                    paint(OK, "valid (iss, aud, exp/nbf/iat, required)")
                )?,
                Some(Err(error)) => writeln!(out, "    claims   {}", paint(BAD, error))?,
                None => {}
            }
        }

        // Conditions.
        if let Some(trace) = &self.conditions {
            writeln!(out, "{}", section("conditions"))?;
            render_trace(out, trace, 1)?;
        } else if self.has_conditions {
            writeln!(
                out,
                "{} {}",
                label("conditions"),
                paint(DIM, "not evaluated: no token was accepted")
            )?;
        }

        // Decision.
        match &self.answer {
            Answer::Allowed {
                provider,
                headers_to_set,
                headers_to_remove,
                path_rewrite,
            } => {
                let who = provider
                    .as_deref()
                    .map_or_else(|| "anonymous".to_owned(), |p| format!("provider {p}"));
                let verified = if self.unverified {
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
                if let Some(path) = path_rewrite {
                    writeln!(out, "  {} {path}", paint(DIM, "rewrite path "))?;
                }
            }
            Answer::Refused {
                status,
                reason,
                www_authenticate,
                retry_after_s,
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
                writeln!(out, "  {} {body}", paint(DIM, "body            "))?;
                if self.unverified {
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
            }
            Answer::Waiting { provider } => {
                writeln!(
                    out,
                    "{} waits for the keys of provider {provider}",
                    label("decision")
                )?;
            }
        }
        Ok(())
    }
}

fn render_trace(
    out: &mut dyn std::io::Write,
    trace: &ConditionTrace,
    depth: usize,
) -> std::io::Result<()> {
    use crate::output::{paint, BAD, DIM, OK};
    let mark = if trace.result {
        paint(OK, "[pass]")
    } else {
        paint(BAD, "[fail]")
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
        let stand_in = VerifyingKey {
            kid: Some("k".into()),
            algorithms: vec![Algorithm::ES256],
            material: placeholder_material(KeyFamily::EcP256),
        };
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
        let stand_in = VerifyingKey {
            kid: Some("k".into()),
            algorithms: vec![Algorithm::HS256],
            material: placeholder_material(KeyFamily::Hmac),
        };
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
        });
        assert_eq!(result.err(), Some(JwksFileError(JwksError::MissingKeys)));
    }

    #[test]
    fn conditions_are_not_evaluated_without_an_accepted_token() {
        let config = config(json!({
            "providers": { "p": {
                "issuer": "https://issuer.example",
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
        })
        .unwrap();
        assert!(explanation.has_conditions);
        assert_eq!(explanation.conditions, None);
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
