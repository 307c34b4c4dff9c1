//! The outcome of a request, and the one place a refusal becomes an HTTP response.
//!
//! Every refusal is a [`DenyReason`]; [`Denial::response`] is the only mapping from a
//! reason to status, `WWW-Authenticate` (RFC 6750 §3), JSON body and metric label.
//! Adding a reason is one variant, one row in [`DenyReason::spec`] and one entry in
//! [`DenyReason::ALL`] (a test checks that every code in `ALL` is distinct).
//!
//! | reason code | status | `WWW-Authenticate: Bearer realm=".."` + |
//! |---|---|---|
//! | `token_missing` | 401 | nothing else (RFC 6750 §3.1: no `error` when no credentials were sent) |
//! | `token_ambiguous` | 400 | `error="invalid_request"` |
//! | `path_not_canonical` | 400 | none: the path has no one reading every upstream shares (bad `%` escape, control character, `/..;/`, not absolute) |
//! | `path_escaped_slash` | 400 | none: `%2F`, `%5C` or `\` in the path while `paths.escaped_slashes` is `reject` |
//! | `token_too_large` | 401 | `error="invalid_token"` |
//! | `token_malformed` | 401 | `error="invalid_token"` |
//! | `algorithm_not_allowed` | 401 | `error="invalid_token"` |
//! | `key_not_found` | 401 | `error="invalid_token"` |
//! | `signature_invalid` | 401 | `error="invalid_token"` |
//! | `token_expired` | 401 | `error="invalid_token"` |
//! | `token_not_yet_valid` | 401 | `error="invalid_token"` |
//! | `token_issued_in_future` | 401 | `error="invalid_token"` |
//! | `token_lifetime_too_long` | 401 | `error="invalid_token"` |
//! | `iat_missing` | 401 | `error="invalid_token"` |
//! | `token_too_old` | 401 | `error="invalid_token"` (older than the rule's `max_token_age_s`) |
//! | `token_revoked` | 401 | `error="invalid_token"` (its `jti`, `sub` or `sid` is on the provider's revocation list) |
//! | `token_inactive` | 401 | `error="invalid_token"` (the provider's introspection endpoint answered `active: false`) |
//! | `time_claim_invalid` | 401 | `error="invalid_token"` |
//! | `claim_type_invalid` | 401 | `error="invalid_token"` (`sub`, `jti`, `iss` not strings; `aud` not a string or array of strings) |
//! | `token_type_not_allowed` | 401 | `error="invalid_token"` (the header `typ` is not the provider's `token_type`) |
//! | `exp_missing` | 401 | `error="invalid_token"` |
//! | `issuer_mismatch` | 401 | `error="invalid_token"` (defence in depth: the pipeline routes tokens by `iss` first, so it reports `issuer_unknown`) |
//! | `issuer_unknown` | 401 | `error="invalid_token"` (no provider of the rule has this `iss`) |
//! | `audience_mismatch` | 401 | `error="invalid_token"` |
//! | `required_claim_missing` | 401 | `error="invalid_token"` |
//! | `providers_requirement_failed` | 401 | `error="invalid_token"` (an all-of requirement lacked a provider) |
//! | `keys_wait_timeout_denied` | 401 | `error="invalid_token"` (cold start, `on_timeout: "deny"`) |
//! | `claims_condition_failed` | 403 | `error="insufficient_scope"`, `scope=".."` when the failing condition is on `scope`/`scp` |
//! | `claims_condition_wrong_type` | 403 | `error="insufficient_scope"`: a claim the conditions depend on has a type its test does not apply to (`"true"` for `equals: true`), under `not` too |
//! | `peer_certificate_missing` | 403 | none: the rule's `require.peer` needs a client certificate and the connection has none (a token would not help) |
//! | `peer_not_allowed` | 403 | none: the client certificate is not one the rule's `require.peer` accepts |
//! | `certificate_binding_no_certificate` | 401 | `error="invalid_token"`: the token has `cnf.x5t#S256` (RFC 8705 §3) and the connection has no client certificate |
//! | `certificate_binding_mismatch` | 401 | `error="invalid_token"`: `cnf.x5t#S256` is not the SHA-256 of the client certificate (a token presented by another workload) |
//! | `certificate_binding_required` | 401 | `error="invalid_token"`: the provider's `certificate_binding` is `required` and the token has no `cnf.x5t#S256` |
//! | `certificate_binding_malformed` | 401 | `error="invalid_token"`: `cnf` is not an object, or `x5t#S256` is not the base64url of 32 bytes |
//! | `route_denied` | 403 | none: no credential would help |
//! | `no_rule_matched` | 403 | none: the explicit default is `deny` |
//! | `keys_unavailable` | 503 | none; `Retry-After` |
//! | `revocation_list_unavailable` | 503 | none; `Retry-After` (no revocation list yet, or older than its `max_stale_s`) |
//! | `introspection_unavailable` | 503 | none; `Retry-After` (no introspection answer: the call failed or timed out, under `on_outage: "deny"` or for an opaque token) |
//! | `keys_wait_timeout` | 503 | none; `Retry-After` (cold start, `on_timeout: "unavailable"`) |
//! | `not_configured` | 503 | none; `Retry-After` (the filter has no valid configuration: it fails closed) |
//! | `dpop_proof_missing` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_proof_multiple` | 400 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_proof_too_large` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_proof_malformed` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_proof_type_invalid` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_algorithm_not_allowed` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_key_invalid` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_signature_invalid` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_method_mismatch` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_uri_mismatch` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_iat_out_of_window` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_ath_mismatch` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_key_mismatch` | 401 | `DPoP realm=".."`, `error="invalid_token"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_token_not_bound` | 401 | `DPoP realm=".."`, `error="invalid_token"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_bound_token_as_bearer` | 401 | `DPoP realm=".."`, `error="invalid_token"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_proof_replayed` | 401 | `DPoP realm=".."`, `error="invalid_dpop_proof"`, `algs=".."` (RFC 9449 §7.1) |
//! | `dpop_replay_unavailable` | 503 | none; `Retry-After` (the replay cache could not record the proof: fails closed) |
//! | `dpop_nonce_missing` | 401 | `DPoP realm=".."`, `error="use_dpop_nonce"`, `algs=".."`; `DPoP-Nonce` (RFC 9449 §9: the provider issues nonces and the proof has none) |
//! | `dpop_nonce_malformed` | 401 | `DPoP realm=".."`, `error="use_dpop_nonce"`, `algs=".."`; `DPoP-Nonce` (not a nonce claimcheck mints) |
//! | `dpop_nonce_invalid` | 401 | `DPoP realm=".."`, `error="use_dpop_nonce"`, `algs=".."`; `DPoP-Nonce` (its MAC does not verify: another secret, or changed) |
//! | `dpop_nonce_expired` | 401 | `DPoP realm=".."`, `error="use_dpop_nonce"`, `algs=".."`; `DPoP-Nonce` (minted before the previous window) |
//!
//! Every DPoP refusal of a provider with `dpop.nonce` carries a fresh `DPoP-Nonce`, so a
//! client learns the nonce from its first refusal whatever the reason.
//!
//! The body is `{"status":401,"reason":"token_expired","message":"the token has expired"}`.
//! Messages are fixed text: nothing from the token (or the request) is ever echoed, so
//! a refusal cannot leak claims to a log scraper or reflect attacker input.
//!
//! Every error the pipeline meets on a request (extraction, decoding, verification, registered
//! claims) becomes a reason here, in one `From` impl each, with exhaustive matches: a new error
//! variant does not compile until it has its reason.

use std::sync::Arc;

use crate::extract::HeaderEdit;
use crate::provider_id::ProviderId;

/// `Retry-After` for 503 refusals when the caller gives none: the default
/// `refresh.retry_initial_ms` (1 s) rounded up to a few seconds, so clients neither
/// hammer a recovering IdP nor wait long after it is back.
pub const DEFAULT_RETRY_AFTER_S: u32 = 5;

/// The most scopes listed in `scope=".."`; bounds the response header.
pub const MAX_CHALLENGE_SCOPES: usize = 32;

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Denial),
}

/// Let the request through, after these edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    /// The provider whose token was accepted; `None` for anonymous access.
    pub provider: Option<ProviderId>,
    /// Identity headers to set (after `headers_to_remove`).
    pub headers_to_set: Vec<(String, String)>,
    /// The identity headers of every provider, removed from every request let through
    /// whether it carries them or not: fixed by the configuration, so shared, not copied.
    pub identity_headers: Arc<[String]>,
    /// Headers this request loses besides: the token headers it carries and the other
    /// spellings of identity headers it uses (`x_user_id`).
    pub headers_to_remove: Vec<String>,
    /// New `:path` when the token was taken out of the query string.
    pub path_rewrite: Option<String>,
    /// Dry run: the refusal this request would have got. The request goes upstream; the
    /// refusal is only logged and counted.
    pub would_deny: Option<Denial>,
    /// Identity headers left unset although their claim is present (a value that cannot be
    /// forwarded safely); the shell logs them. A boxed slice: rarely non-empty, and it should
    /// not grow every `Outcome`.
    pub headers_skipped: Box<[crate::policy::SkippedHeader]>,
}

impl Allow {
    /// Every header to remove, identity headers first.
    pub fn removals(&self) -> impl Iterator<Item = &str> {
        self.identity_headers
            .iter()
            .chain(&self.headers_to_remove)
            .map(String::as_str)
    }

    /// Folds the token-removal edits of [`crate::extract::removal_edits`] into this
    /// decision: removals join `headers_to_remove`, a new `:path` becomes
    /// `path_rewrite`, other rewrites (the `cookie` header) join `headers_to_set`.
    pub fn apply_edits(&mut self, edits: Vec<HeaderEdit>) {
        for edit in edits {
            match edit {
                HeaderEdit::Remove { name } => {
                    if !self.headers_to_remove.contains(&name) {
                        self.headers_to_remove.push(name);
                    }
                }
                HeaderEdit::Set { name, value } if name == ":path" => {
                    self.path_rewrite = Some(value);
                }
                HeaderEdit::Set { name, value } => self.headers_to_set.push((name, value)),
            }
        }
    }
}

/// A refusal: the reason plus what the response needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: DenyReason,
    /// Scopes the rule needs, for `scope=".."` on `insufficient_scope`.
    pub required_scopes: Vec<String>,
    /// Seconds for `Retry-After` on 503; [`DEFAULT_RETRY_AFTER_S`] when `None`.
    pub retry_after_s: Option<u32>,
    /// `algs=".."` of a DPoP challenge: the provider's proof algorithms, built once with
    /// the configuration.
    pub dpop_algs: Option<Arc<str>>,
    /// A fresh nonce for the `DPoP-Nonce` response header (RFC 9449 §8), when the
    /// provider issues nonces.
    pub dpop_nonce: Option<String>,
}

impl Denial {
    pub fn new(reason: DenyReason) -> Self {
        Denial {
            reason,
            required_scopes: Vec::new(),
            retry_after_s: None,
            dpop_algs: None,
            dpop_nonce: None,
        }
    }

    pub fn with_dpop_nonce(mut self, nonce: String) -> Self {
        self.dpop_nonce = Some(nonce);
        self
    }

    pub fn with_dpop_algs(mut self, algs: Arc<str>) -> Self {
        self.dpop_algs = Some(algs);
        self
    }

    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.required_scopes = scopes;
        self
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The local response for this refusal. `realm` comes from the configuration
    /// (validated there to be a safe quoted-string).
    pub fn response(&self, realm: &str) -> LocalResponse {
        let spec = self.reason.spec();
        let www_authenticate = match spec.challenge {
            Challenge::None => None,
            Challenge::Bare => Some(format!("Bearer realm=\"{realm}\"")),
            Challenge::Error(error) => {
                let mut value = format!(
                    "Bearer realm=\"{realm}\", error=\"{error}\", error_description=\"{}\"",
                    spec.message
                );
                let scopes = challenge_scopes(&self.required_scopes);
                if error == "insufficient_scope" && !scopes.is_empty() {
                    value.push_str(", scope=\"");
                    value.push_str(&scopes);
                    value.push('"');
                }
                Some(value)
            }
            Challenge::Dpop(error) => {
                let mut value = format!(
                    "DPoP realm=\"{realm}\", error=\"{error}\", error_description=\"{}\"",
                    spec.message
                );
                if let Some(algs) = &self.dpop_algs {
                    value.push_str(", algs=\"");
                    value.push_str(algs);
                    value.push('"');
                }
                Some(value)
            }
        };
        let retry_after_s =
            (spec.status == 503).then(|| self.retry_after_s.unwrap_or(DEFAULT_RETRY_AFTER_S));
        let body = serde_json::json!({
            "status": spec.status,
            "reason": spec.code,
            "message": spec.message,
        })
        .to_string();
        LocalResponse {
            status: spec.status,
            www_authenticate,
            retry_after_s,
            dpop_nonce: self.dpop_nonce.clone(),
            body,
            reason_code: spec.code,
        }
    }
}

/// The HTTP response for a refusal, as plain data for the host glue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u16,
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds (503 only).
    pub retry_after_s: Option<u32>,
    /// `DPoP-Nonce`: a fresh nonce for the client's next proof (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// `application/json` body.
    pub body: String,
    /// Stable machine-readable reason (the body's `reason`).
    pub reason_code: &'static str,
}

/// Every way claimcheck refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    TokenMissing,
    TokenAmbiguous,
    TokenTooLarge,
    TokenMalformed,
    AlgorithmNotAllowed,
    KeyNotFound,
    SignatureInvalid,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuedInFuture,
    TokenLifetimeTooLong,
    IatMissing,
    TokenTooOld,
    TokenRevoked,
    RevocationListUnavailable,
    TokenInactive,
    IntrospectionUnavailable,
    TimeClaimInvalid,
    ExpMissing,
    IssuerMismatch,
    IssuerUnknown,
    AudienceMismatch,
    RequiredClaimMissing,
    KeysUnavailable,
    KeysWaitTimeout,
    KeysWaitTimeoutDenied,
    ClaimsConditionFailed,
    ClaimsConditionWrongType,
    ProvidersRequirementFailed,
    RouteDenied,
    NoRuleMatched,
    PathNotCanonical,
    PathEscapedSlash,
    ClaimTypeInvalid,
    TokenTypeNotAllowed,
    NotConfigured,
    PeerCertificateMissing,
    PeerNotAllowed,
    CertificateBindingNoCertificate,
    CertificateBindingMismatch,
    CertificateBindingRequired,
    CertificateBindingMalformed,
    DpopProofMissing,
    DpopProofMultiple,
    DpopProofTooLarge,
    DpopProofMalformed,
    DpopProofTypeInvalid,
    DpopAlgorithmNotAllowed,
    DpopKeyInvalid,
    DpopSignatureInvalid,
    DpopMethodMismatch,
    DpopUriMismatch,
    DpopIatOutOfWindow,
    DpopAthMismatch,
    DpopKeyMismatch,
    DpopTokenNotBound,
    DpopBoundTokenAsBearer,
    DpopProofReplayed,
    DpopReplayUnavailable,
    DpopNonceMissing,
    DpopNonceMalformed,
    DpopNonceInvalid,
    DpopNonceExpired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    None,
    Bare,
    Error(&'static str),
    /// RFC 9449 §7.1: `DPoP realm=.., error=.., algs=".."` (the provider's proof algorithms).
    Dpop(&'static str),
}

struct Spec {
    status: u16,
    code: &'static str,
    challenge: Challenge,
    message: &'static str,
}

const INVALID_TOKEN: Challenge = Challenge::Error("invalid_token");

impl DenyReason {
    pub const ALL: [DenyReason; 63] = [
        DenyReason::TokenMissing,
        DenyReason::TokenAmbiguous,
        DenyReason::TokenTooLarge,
        DenyReason::TokenMalformed,
        DenyReason::AlgorithmNotAllowed,
        DenyReason::KeyNotFound,
        DenyReason::SignatureInvalid,
        DenyReason::TokenExpired,
        DenyReason::TokenNotYetValid,
        DenyReason::TokenIssuedInFuture,
        DenyReason::TokenLifetimeTooLong,
        DenyReason::IatMissing,
        DenyReason::TokenTooOld,
        DenyReason::TokenRevoked,
        DenyReason::RevocationListUnavailable,
        DenyReason::TokenInactive,
        DenyReason::IntrospectionUnavailable,
        DenyReason::TimeClaimInvalid,
        DenyReason::ExpMissing,
        DenyReason::IssuerMismatch,
        DenyReason::IssuerUnknown,
        DenyReason::AudienceMismatch,
        DenyReason::RequiredClaimMissing,
        DenyReason::KeysUnavailable,
        DenyReason::KeysWaitTimeout,
        DenyReason::KeysWaitTimeoutDenied,
        DenyReason::ClaimsConditionFailed,
        DenyReason::ClaimsConditionWrongType,
        DenyReason::ProvidersRequirementFailed,
        DenyReason::RouteDenied,
        DenyReason::NoRuleMatched,
        DenyReason::PathNotCanonical,
        DenyReason::PathEscapedSlash,
        DenyReason::ClaimTypeInvalid,
        DenyReason::TokenTypeNotAllowed,
        DenyReason::NotConfigured,
        DenyReason::PeerCertificateMissing,
        DenyReason::PeerNotAllowed,
        DenyReason::CertificateBindingNoCertificate,
        DenyReason::CertificateBindingMismatch,
        DenyReason::CertificateBindingRequired,
        DenyReason::CertificateBindingMalformed,
        DenyReason::DpopProofMissing,
        DenyReason::DpopProofMultiple,
        DenyReason::DpopProofTooLarge,
        DenyReason::DpopProofMalformed,
        DenyReason::DpopProofTypeInvalid,
        DenyReason::DpopAlgorithmNotAllowed,
        DenyReason::DpopKeyInvalid,
        DenyReason::DpopSignatureInvalid,
        DenyReason::DpopMethodMismatch,
        DenyReason::DpopUriMismatch,
        DenyReason::DpopIatOutOfWindow,
        DenyReason::DpopAthMismatch,
        DenyReason::DpopKeyMismatch,
        DenyReason::DpopTokenNotBound,
        DenyReason::DpopBoundTokenAsBearer,
        DenyReason::DpopProofReplayed,
        DenyReason::DpopReplayUnavailable,
        DenyReason::DpopNonceMissing,
        DenyReason::DpopNonceMalformed,
        DenyReason::DpopNonceInvalid,
        DenyReason::DpopNonceExpired,
    ];

    /// The stable reason code (body `reason`, metric tag, log field).
    pub fn code(self) -> &'static str {
        self.spec().code
    }

    /// The HTTP status of the refusal.
    pub fn status(self) -> u16 {
        self.spec().status
    }

    fn spec(self) -> Spec {
        use DenyReason as R;
        let (status, code, challenge, message) = match self {
            R::TokenMissing => (
                401,
                "token_missing",
                Challenge::Bare,
                "a bearer token is required",
            ),
            R::TokenAmbiguous => (
                400,
                "token_ambiguous",
                Challenge::Error("invalid_request"),
                "the request carries more than one token",
            ),
            R::TokenTooLarge => (
                401,
                "token_too_large",
                INVALID_TOKEN,
                "the token is too large",
            ),
            R::TokenMalformed => (
                401,
                "token_malformed",
                INVALID_TOKEN,
                "the token is malformed",
            ),
            R::AlgorithmNotAllowed => (
                401,
                "algorithm_not_allowed",
                INVALID_TOKEN,
                "the token algorithm is not allowed",
            ),
            R::KeyNotFound => (
                401,
                "key_not_found",
                INVALID_TOKEN,
                "no key matches the token",
            ),
            R::SignatureInvalid => (
                401,
                "signature_invalid",
                INVALID_TOKEN,
                "the token signature is invalid",
            ),
            R::TokenExpired => (401, "token_expired", INVALID_TOKEN, "the token has expired"),
            R::TokenNotYetValid => (
                401,
                "token_not_yet_valid",
                INVALID_TOKEN,
                "the token is not valid yet",
            ),
            R::TokenIssuedInFuture => (
                401,
                "token_issued_in_future",
                INVALID_TOKEN,
                "the token was issued in the future",
            ),
            R::TokenLifetimeTooLong => (
                401,
                "token_lifetime_too_long",
                INVALID_TOKEN,
                "the token lifetime is too long",
            ),
            R::IatMissing => (
                401,
                "iat_missing",
                INVALID_TOKEN,
                "the token has no issued-at time",
            ),
            R::TokenTooOld => (
                401,
                "token_too_old",
                INVALID_TOKEN,
                "the token was issued too long ago for this route",
            ),
            R::TokenRevoked => (
                401,
                "token_revoked",
                INVALID_TOKEN,
                "the token has been revoked",
            ),
            R::RevocationListUnavailable => (
                503,
                "revocation_list_unavailable",
                Challenge::None,
                "the revocation list is not available",
            ),
            R::TokenInactive => (
                401,
                "token_inactive",
                INVALID_TOKEN,
                "the authorization server says the token is not active",
            ),
            R::IntrospectionUnavailable => (
                503,
                "introspection_unavailable",
                Challenge::None,
                "the authorization server could not be asked about the token",
            ),
            R::TimeClaimInvalid => (
                401,
                "time_claim_invalid",
                INVALID_TOKEN,
                "a token time claim is invalid",
            ),
            R::ExpMissing => (401, "exp_missing", INVALID_TOKEN, "the token has no expiry"),
            R::IssuerMismatch => (
                401,
                "issuer_mismatch",
                INVALID_TOKEN,
                "the token issuer is not accepted",
            ),
            R::IssuerUnknown => (
                401,
                "issuer_unknown",
                INVALID_TOKEN,
                "the token issuer is not accepted here",
            ),
            R::AudienceMismatch => (
                401,
                "audience_mismatch",
                INVALID_TOKEN,
                "the token audience is not accepted",
            ),
            R::RequiredClaimMissing => (
                401,
                "required_claim_missing",
                INVALID_TOKEN,
                "the token lacks a required claim",
            ),
            R::KeysUnavailable => (
                503,
                "keys_unavailable",
                Challenge::None,
                "signing keys are unavailable",
            ),
            R::KeysWaitTimeout => (
                503,
                "keys_wait_timeout",
                Challenge::None,
                "timed out waiting for signing keys",
            ),
            R::KeysWaitTimeoutDenied => (
                401,
                "keys_wait_timeout_denied",
                INVALID_TOKEN,
                "the token could not be verified in time",
            ),
            R::ClaimsConditionFailed => (
                403,
                "claims_condition_failed",
                Challenge::Error("insufficient_scope"),
                "the token does not grant access to this resource",
            ),
            R::ClaimsConditionWrongType => (
                403,
                "claims_condition_wrong_type",
                Challenge::Error("insufficient_scope"),
                "a claim the rule tests has an unexpected type",
            ),
            R::ProvidersRequirementFailed => (
                401,
                "providers_requirement_failed",
                INVALID_TOKEN,
                "a token from every required provider is needed",
            ),
            R::RouteDenied => (
                403,
                "route_denied",
                Challenge::None,
                "access to this route is denied",
            ),
            R::NoRuleMatched => (
                403,
                "no_rule_matched",
                Challenge::None,
                "no rule allows this request",
            ),
            R::PathNotCanonical => (
                400,
                "path_not_canonical",
                Challenge::None,
                "the request path has no canonical form",
            ),
            R::PathEscapedSlash => (
                400,
                "path_escaped_slash",
                Challenge::None,
                "the request path holds an encoded slash or a backslash",
            ),
            R::ClaimTypeInvalid => (
                401,
                "claim_type_invalid",
                INVALID_TOKEN,
                "a registered claim has the wrong type",
            ),
            R::TokenTypeNotAllowed => (
                401,
                "token_type_not_allowed",
                INVALID_TOKEN,
                "the token type is not accepted",
            ),
            R::NotConfigured => (
                503,
                "not_configured",
                Challenge::None,
                "the filter has no valid configuration",
            ),
            R::PeerCertificateMissing => (
                403,
                "peer_certificate_missing",
                Challenge::None,
                "this route requires a client certificate",
            ),
            R::PeerNotAllowed => (
                403,
                "peer_not_allowed",
                Challenge::None,
                "the client certificate is not allowed on this route",
            ),
            R::CertificateBindingNoCertificate => (
                401,
                "certificate_binding_no_certificate",
                INVALID_TOKEN,
                "the token is bound to a client certificate and none was presented",
            ),
            R::CertificateBindingMismatch => (
                401,
                "certificate_binding_mismatch",
                INVALID_TOKEN,
                "the token is bound to another client certificate",
            ),
            R::CertificateBindingRequired => (
                401,
                "certificate_binding_required",
                INVALID_TOKEN,
                "the token must be bound to the client certificate",
            ),
            R::CertificateBindingMalformed => (
                401,
                "certificate_binding_malformed",
                INVALID_TOKEN,
                "the token certificate binding is malformed",
            ),
            R::DpopProofMissing => (
                401,
                "dpop_proof_missing",
                Challenge::Dpop("invalid_dpop_proof"),
                "a DPoP proof is required",
            ),
            R::DpopProofMultiple => (
                400,
                "dpop_proof_multiple",
                Challenge::Dpop("invalid_dpop_proof"),
                "the request carries more than one DPoP proof",
            ),
            R::DpopProofTooLarge => (
                401,
                "dpop_proof_too_large",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is too large",
            ),
            R::DpopProofMalformed => (
                401,
                "dpop_proof_malformed",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is malformed",
            ),
            R::DpopProofTypeInvalid => (
                401,
                "dpop_proof_type_invalid",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof type is not dpop+jwt",
            ),
            R::DpopAlgorithmNotAllowed => (
                401,
                "dpop_algorithm_not_allowed",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof algorithm is not allowed",
            ),
            R::DpopKeyInvalid => (
                401,
                "dpop_key_invalid",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof key is missing or unusable",
            ),
            R::DpopSignatureInvalid => (
                401,
                "dpop_signature_invalid",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof signature is invalid",
            ),
            R::DpopMethodMismatch => (
                401,
                "dpop_method_mismatch",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is for another method",
            ),
            R::DpopUriMismatch => (
                401,
                "dpop_uri_mismatch",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is for another URI",
            ),
            R::DpopIatOutOfWindow => (
                401,
                "dpop_iat_out_of_window",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is too old or from the future",
            ),
            R::DpopAthMismatch => (
                401,
                "dpop_ath_mismatch",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof is for another access token",
            ),
            R::DpopKeyMismatch => (
                401,
                "dpop_key_mismatch",
                Challenge::Dpop("invalid_token"),
                "the token is bound to another key",
            ),
            R::DpopTokenNotBound => (
                401,
                "dpop_token_not_bound",
                Challenge::Dpop("invalid_token"),
                "the token is not bound to a DPoP key",
            ),
            R::DpopBoundTokenAsBearer => (
                401,
                "dpop_bound_token_as_bearer",
                Challenge::Dpop("invalid_token"),
                "a DPoP-bound token must use the DPoP scheme",
            ),
            R::DpopProofReplayed => (
                401,
                "dpop_proof_replayed",
                Challenge::Dpop("invalid_dpop_proof"),
                "the DPoP proof was used before",
            ),
            R::DpopReplayUnavailable => (
                503,
                "dpop_replay_unavailable",
                Challenge::None,
                "the DPoP proof could not be recorded",
            ),
            R::DpopNonceMissing => (
                401,
                "dpop_nonce_missing",
                Challenge::Dpop("use_dpop_nonce"),
                "the DPoP proof must carry the nonce the server provides",
            ),
            R::DpopNonceMalformed => (
                401,
                "dpop_nonce_malformed",
                Challenge::Dpop("use_dpop_nonce"),
                "the DPoP proof nonce is malformed",
            ),
            R::DpopNonceInvalid => (
                401,
                "dpop_nonce_invalid",
                Challenge::Dpop("use_dpop_nonce"),
                "the DPoP proof nonce was not issued by this server",
            ),
            R::DpopNonceExpired => (
                401,
                "dpop_nonce_expired",
                Challenge::Dpop("use_dpop_nonce"),
                "the DPoP proof nonce has expired",
            ),
        };
        Spec {
            status,
            code,
            challenge,
            message,
        }
    }
}

impl From<crate::certificate_binding::BindingError> for DenyReason {
    fn from(error: crate::certificate_binding::BindingError) -> Self {
        use crate::certificate_binding::BindingError as E;
        match error {
            E::NoCertificate => DenyReason::CertificateBindingNoCertificate,
            E::Mismatch => DenyReason::CertificateBindingMismatch,
            E::Required => DenyReason::CertificateBindingRequired,
            E::Malformed => DenyReason::CertificateBindingMalformed,
        }
    }
}

impl From<crate::request::PathError> for DenyReason {
    fn from(error: crate::request::PathError) -> Self {
        match error {
            crate::request::PathError::EscapedSlash => DenyReason::PathEscapedSlash,
            _ => DenyReason::PathNotCanonical,
        }
    }
}

impl From<&crate::claims::ClaimError> for DenyReason {
    fn from(error: &crate::claims::ClaimError) -> Self {
        use crate::claims::ClaimError as E;
        match error {
            E::TimeClaimInvalid(_) => DenyReason::TimeClaimInvalid,
            E::ExpMissing => DenyReason::ExpMissing,
            E::Expired => DenyReason::TokenExpired,
            E::NotYetValid => DenyReason::TokenNotYetValid,
            E::IssuedInFuture => DenyReason::TokenIssuedInFuture,
            E::LifetimeTooLong => DenyReason::TokenLifetimeTooLong,
            E::IatMissing => DenyReason::IatMissing,
            E::TooOld => DenyReason::TokenTooOld,
            E::IssuerMismatch => DenyReason::IssuerMismatch,
            E::AudienceMismatch => DenyReason::AudienceMismatch,
            E::RequiredClaimMissing(_) => DenyReason::RequiredClaimMissing,
            E::ClaimTypeInvalid(_) => DenyReason::ClaimTypeInvalid,
            E::TokenTypeNotAllowed => DenyReason::TokenTypeNotAllowed,
        }
    }
}

/// Every decoding failure is a malformed token, except those that say something precise.
impl From<&crate::jwt::JwtError> for DenyReason {
    fn from(error: &crate::jwt::JwtError) -> Self {
        use crate::jwt::JwtError as E;
        match error {
            E::TooLong => DenyReason::TokenTooLarge,
            E::AlgNone | E::UnsupportedAlgorithm => DenyReason::AlgorithmNotAllowed,
            E::Encrypted
            | E::Malformed
            | E::Base64(_)
            | E::HeaderTooLong
            | E::HeaderNotJsonObject
            | E::HeaderDuplicateMember
            | E::MissingAlg
            | E::InvalidHeaderMember(_)
            | E::CriticalHeader
            | E::KeyReferenceInHeader(_)
            | E::PayloadNotJsonObject
            | E::PayloadDuplicateMember
            | E::MissingSignature => DenyReason::TokenMalformed,
        }
    }
}

/// A key that exists but cannot verify the token's `alg` is an algorithm refusal (RFC 8725
/// §3.1), not a missing key.
impl From<crate::jwt::VerifyError> for DenyReason {
    fn from(error: crate::jwt::VerifyError) -> Self {
        use crate::jwt::VerifyError as E;
        match error {
            E::AlgorithmNotAllowed | E::AlgorithmKeyMismatch => DenyReason::AlgorithmNotAllowed,
            E::KeyNotFound => DenyReason::KeyNotFound,
            E::SignatureInvalid => DenyReason::SignatureInvalid,
        }
    }
}

impl From<crate::dpop::DpopError> for DenyReason {
    fn from(error: crate::dpop::DpopError) -> Self {
        use crate::dpop::{DpopError as E, NonceError};
        match error {
            E::ProofMissing => DenyReason::DpopProofMissing,
            E::ProofMultiple => DenyReason::DpopProofMultiple,
            E::ProofTooLarge => DenyReason::DpopProofTooLarge,
            E::ProofMalformed => DenyReason::DpopProofMalformed,
            E::ProofTypeInvalid => DenyReason::DpopProofTypeInvalid,
            E::AlgorithmNotAllowed => DenyReason::DpopAlgorithmNotAllowed,
            E::KeyInvalid => DenyReason::DpopKeyInvalid,
            E::SignatureInvalid => DenyReason::DpopSignatureInvalid,
            E::MethodMismatch => DenyReason::DpopMethodMismatch,
            E::UriMismatch => DenyReason::DpopUriMismatch,
            E::IatOutOfWindow => DenyReason::DpopIatOutOfWindow,
            E::AthMismatch => DenyReason::DpopAthMismatch,
            E::KeyMismatch => DenyReason::DpopKeyMismatch,
            E::TokenNotBound => DenyReason::DpopTokenNotBound,
            E::BoundTokenAsBearer => DenyReason::DpopBoundTokenAsBearer,
            E::Nonce(NonceError::Missing) => DenyReason::DpopNonceMissing,
            E::Nonce(NonceError::Malformed) => DenyReason::DpopNonceMalformed,
            E::Nonce(NonceError::Invalid) => DenyReason::DpopNonceInvalid,
            E::Nonce(NonceError::Expired) => DenyReason::DpopNonceExpired,
        }
    }
}

impl From<crate::extract::ExtractError> for DenyReason {
    fn from(error: crate::extract::ExtractError) -> Self {
        match error {
            crate::extract::ExtractError::Ambiguous => DenyReason::TokenAmbiguous,
            crate::extract::ExtractError::TooLong => DenyReason::TokenTooLarge,
        }
    }
}

/// RFC 6750 §3 / RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. Scopes
/// outside that grammar (they come from configured literals) are left out rather than
/// breaking the quoted-string.
fn challenge_scopes(scopes: &[String]) -> String {
    let valid = |s: &&String| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    };
    scopes
        .iter()
        .filter(valid)
        .take(MAX_CHALLENGE_SCOPES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_reason_maps_to_its_documented_response() {
        // (reason, status, code, WWW-Authenticate error: None = no header, Some("") = bare)
        let table: [(DenyReason, u16, &str, Option<&str>); 63] = [
            (DenyReason::TokenMissing, 401, "token_missing", Some("")),
            (
                DenyReason::TokenAmbiguous,
                400,
                "token_ambiguous",
                Some("invalid_request"),
            ),
            (
                DenyReason::TokenTooLarge,
                401,
                "token_too_large",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenMalformed,
                401,
                "token_malformed",
                Some("invalid_token"),
            ),
            (
                DenyReason::AlgorithmNotAllowed,
                401,
                "algorithm_not_allowed",
                Some("invalid_token"),
            ),
            (
                DenyReason::KeyNotFound,
                401,
                "key_not_found",
                Some("invalid_token"),
            ),
            (
                DenyReason::SignatureInvalid,
                401,
                "signature_invalid",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenExpired,
                401,
                "token_expired",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenNotYetValid,
                401,
                "token_not_yet_valid",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenIssuedInFuture,
                401,
                "token_issued_in_future",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenLifetimeTooLong,
                401,
                "token_lifetime_too_long",
                Some("invalid_token"),
            ),
            (
                DenyReason::IatMissing,
                401,
                "iat_missing",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenTooOld,
                401,
                "token_too_old",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenRevoked,
                401,
                "token_revoked",
                Some("invalid_token"),
            ),
            (
                DenyReason::RevocationListUnavailable,
                503,
                "revocation_list_unavailable",
                None,
            ),
            (
                DenyReason::TokenInactive,
                401,
                "token_inactive",
                Some("invalid_token"),
            ),
            (
                DenyReason::IntrospectionUnavailable,
                503,
                "introspection_unavailable",
                None,
            ),
            (
                DenyReason::TimeClaimInvalid,
                401,
                "time_claim_invalid",
                Some("invalid_token"),
            ),
            (
                DenyReason::ExpMissing,
                401,
                "exp_missing",
                Some("invalid_token"),
            ),
            (
                DenyReason::IssuerMismatch,
                401,
                "issuer_mismatch",
                Some("invalid_token"),
            ),
            (
                DenyReason::IssuerUnknown,
                401,
                "issuer_unknown",
                Some("invalid_token"),
            ),
            (
                DenyReason::AudienceMismatch,
                401,
                "audience_mismatch",
                Some("invalid_token"),
            ),
            (
                DenyReason::RequiredClaimMissing,
                401,
                "required_claim_missing",
                Some("invalid_token"),
            ),
            (DenyReason::KeysUnavailable, 503, "keys_unavailable", None),
            (DenyReason::KeysWaitTimeout, 503, "keys_wait_timeout", None),
            (
                DenyReason::KeysWaitTimeoutDenied,
                401,
                "keys_wait_timeout_denied",
                Some("invalid_token"),
            ),
            (
                DenyReason::ClaimsConditionFailed,
                403,
                "claims_condition_failed",
                Some("insufficient_scope"),
            ),
            (
                DenyReason::ClaimsConditionWrongType,
                403,
                "claims_condition_wrong_type",
                Some("insufficient_scope"),
            ),
            (
                DenyReason::ProvidersRequirementFailed,
                401,
                "providers_requirement_failed",
                Some("invalid_token"),
            ),
            (DenyReason::RouteDenied, 403, "route_denied", None),
            (DenyReason::NoRuleMatched, 403, "no_rule_matched", None),
            (
                DenyReason::PathNotCanonical,
                400,
                "path_not_canonical",
                None,
            ),
            (
                DenyReason::PathEscapedSlash,
                400,
                "path_escaped_slash",
                None,
            ),
            (
                DenyReason::ClaimTypeInvalid,
                401,
                "claim_type_invalid",
                Some("invalid_token"),
            ),
            (
                DenyReason::TokenTypeNotAllowed,
                401,
                "token_type_not_allowed",
                Some("invalid_token"),
            ),
            (DenyReason::NotConfigured, 503, "not_configured", None),
            (
                DenyReason::PeerCertificateMissing,
                403,
                "peer_certificate_missing",
                None,
            ),
            (DenyReason::PeerNotAllowed, 403, "peer_not_allowed", None),
            (
                DenyReason::CertificateBindingNoCertificate,
                401,
                "certificate_binding_no_certificate",
                Some("invalid_token"),
            ),
            (
                DenyReason::CertificateBindingMismatch,
                401,
                "certificate_binding_mismatch",
                Some("invalid_token"),
            ),
            (
                DenyReason::CertificateBindingRequired,
                401,
                "certificate_binding_required",
                Some("invalid_token"),
            ),
            (
                DenyReason::CertificateBindingMalformed,
                401,
                "certificate_binding_malformed",
                Some("invalid_token"),
            ),
            (
                DenyReason::DpopProofMissing,
                401,
                "dpop_proof_missing",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopProofMultiple,
                400,
                "dpop_proof_multiple",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopProofTooLarge,
                401,
                "dpop_proof_too_large",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopProofMalformed,
                401,
                "dpop_proof_malformed",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopProofTypeInvalid,
                401,
                "dpop_proof_type_invalid",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopAlgorithmNotAllowed,
                401,
                "dpop_algorithm_not_allowed",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopKeyInvalid,
                401,
                "dpop_key_invalid",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopSignatureInvalid,
                401,
                "dpop_signature_invalid",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopMethodMismatch,
                401,
                "dpop_method_mismatch",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopUriMismatch,
                401,
                "dpop_uri_mismatch",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopIatOutOfWindow,
                401,
                "dpop_iat_out_of_window",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopAthMismatch,
                401,
                "dpop_ath_mismatch",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopKeyMismatch,
                401,
                "dpop_key_mismatch",
                Some("dpop:invalid_token"),
            ),
            (
                DenyReason::DpopTokenNotBound,
                401,
                "dpop_token_not_bound",
                Some("dpop:invalid_token"),
            ),
            (
                DenyReason::DpopBoundTokenAsBearer,
                401,
                "dpop_bound_token_as_bearer",
                Some("dpop:invalid_token"),
            ),
            (
                DenyReason::DpopProofReplayed,
                401,
                "dpop_proof_replayed",
                Some("dpop:invalid_dpop_proof"),
            ),
            (
                DenyReason::DpopReplayUnavailable,
                503,
                "dpop_replay_unavailable",
                None,
            ),
            (
                DenyReason::DpopNonceMissing,
                401,
                "dpop_nonce_missing",
                Some("dpop:use_dpop_nonce"),
            ),
            (
                DenyReason::DpopNonceMalformed,
                401,
                "dpop_nonce_malformed",
                Some("dpop:use_dpop_nonce"),
            ),
            (
                DenyReason::DpopNonceInvalid,
                401,
                "dpop_nonce_invalid",
                Some("dpop:use_dpop_nonce"),
            ),
            (
                DenyReason::DpopNonceExpired,
                401,
                "dpop_nonce_expired",
                Some("dpop:use_dpop_nonce"),
            ),
        ];
        assert_eq!(table.len(), DenyReason::ALL.len());
        for (reason, status, code, error) in table {
            let r = Denial::new(reason).response("api");
            assert_eq!(r.status, status, "{reason:?}");
            assert_eq!(r.reason_code, code, "{reason:?}");
            match error {
                None => assert_eq!(r.www_authenticate, None, "{reason:?}"),
                Some("") => assert_eq!(r.www_authenticate.as_deref(), Some("Bearer realm=\"api\"")),
                Some(dpop) if dpop.starts_with("dpop:") => {
                    let h = r.www_authenticate.unwrap();
                    let error = dpop.trim_start_matches("dpop:");
                    assert!(h.starts_with("DPoP realm=\"api\", "), "{h}");
                    assert!(h.contains(&format!("error=\"{error}\"")), "{h}");
                }
                Some(error) => {
                    let h = r.www_authenticate.unwrap();
                    assert!(h.starts_with("Bearer realm=\"api\", "), "{h}");
                    assert!(h.contains(&format!("error=\"{error}\"")), "{h}");
                    assert!(h.contains("error_description=\""), "{h}");
                }
            }
            assert_eq!(r.retry_after_s.is_some(), status == 503, "{reason:?}");
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["status"], status, "{reason:?}");
            assert_eq!(body["reason"], code, "{reason:?}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    #[test]
    fn a_dpop_challenge_lists_the_proof_algorithms() {
        let h = Denial::new(DenyReason::DpopProofMissing)
            .with_dpop_algs(Arc::from("ES256 EdDSA"))
            .response("api")
            .www_authenticate
            .unwrap();
        assert!(
            h.starts_with("DPoP realm=\"api\", error=\"invalid_dpop_proof\""),
            "{h}"
        );
        assert!(h.ends_with(", algs=\"ES256 EdDSA\""), "{h}");
    }

    #[test]
    fn a_missing_dpop_nonce_asks_for_one_and_carries_a_fresh_nonce() {
        let response = Denial::new(DenyReason::DpopNonceMissing)
            .with_dpop_nonce("fresh".to_owned())
            .response("api");
        assert_eq!(response.status, 401);
        let h = response.www_authenticate.unwrap();
        assert!(
            h.starts_with("DPoP realm=\"api\", error=\"use_dpop_nonce\""),
            "{h}"
        );
        assert_eq!(response.dpop_nonce.as_deref(), Some("fresh"));
    }

    #[test]
    fn a_refusal_without_a_nonce_sends_no_dpop_nonce() {
        let response = Denial::new(DenyReason::DpopProofMissing).response("api");
        assert_eq!(response.dpop_nonce, None);
    }

    #[test]
    fn dpop_errors_map_to_their_own_reasons() {
        use crate::dpop::DpopError as E;
        let errors = [
            E::ProofMissing,
            E::ProofMultiple,
            E::ProofTooLarge,
            E::ProofMalformed,
            E::ProofTypeInvalid,
            E::AlgorithmNotAllowed,
            E::KeyInvalid,
            E::SignatureInvalid,
            E::MethodMismatch,
            E::UriMismatch,
            E::IatOutOfWindow,
            E::AthMismatch,
            E::KeyMismatch,
            E::TokenNotBound,
            E::BoundTokenAsBearer,
            E::Nonce(crate::dpop::NonceError::Missing),
            E::Nonce(crate::dpop::NonceError::Malformed),
            E::Nonce(crate::dpop::NonceError::Invalid),
            E::Nonce(crate::dpop::NonceError::Expired),
        ];
        let reasons: HashSet<DenyReason> = errors.iter().map(|e| DenyReason::from(*e)).collect();
        assert_eq!(reasons.len(), errors.len());
        assert!(reasons.iter().all(|r| r.code().starts_with("dpop_")));
    }

    #[test]
    fn reason_codes_are_unique() {
        let codes: HashSet<&str> = DenyReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), DenyReason::ALL.len());
    }

    #[test]
    fn messages_are_safe_inside_a_quoted_string() {
        for reason in DenyReason::ALL {
            let m = reason.spec().message;
            assert!(!m.contains(['"', '\\', '\r', '\n']), "{reason:?}");
        }
    }

    #[test]
    fn insufficient_scope_lists_the_required_scopes() {
        let d = Denial::new(DenyReason::ClaimsConditionFailed)
            .with_scopes(vec!["orders:read".into(), "orders:write".into()]);
        let h = d.response("api").www_authenticate.unwrap();
        assert!(h.ends_with(", scope=\"orders:read orders:write\""), "{h}");
    }

    #[test]
    fn scopes_that_would_break_the_header_are_left_out() {
        let d = Denial::new(DenyReason::ClaimsConditionFailed).with_scopes(vec![
            "bad\"scope".into(),
            "ok".into(),
            "two words".into(),
        ]);
        let h = d.response("api").www_authenticate.unwrap();
        assert!(h.ends_with(", scope=\"ok\""), "{h}");
    }

    #[test]
    fn no_scope_attribute_without_scopes() {
        let h = Denial::new(DenyReason::ClaimsConditionFailed)
            .response("api")
            .www_authenticate
            .unwrap();
        assert!(!h.contains("scope=\""), "{h}");
    }

    #[test]
    fn retry_after_uses_the_given_value_or_the_default() {
        let d = Denial::new(DenyReason::KeysUnavailable);
        assert_eq!(d.response("r").retry_after_s, Some(DEFAULT_RETRY_AFTER_S));
        assert_eq!(d.with_retry_after(30).response("r").retry_after_s, Some(30));
    }

    #[test]
    fn token_removal_edits_fold_into_an_allow() {
        let mut allow = Allow {
            headers_to_remove: vec!["x-user-id".into()],
            ..Allow::default()
        };
        allow.apply_edits(vec![
            HeaderEdit::Remove {
                name: "authorization".into(),
            },
            HeaderEdit::Remove {
                name: "x-user-id".into(),
            },
            HeaderEdit::Set {
                name: ":path".into(),
                value: "/x?a=1".into(),
            },
            HeaderEdit::Set {
                name: "cookie".into(),
                value: "a=1".into(),
            },
        ]);
        assert_eq!(allow.headers_to_remove, ["x-user-id", "authorization"]);
        assert_eq!(allow.path_rewrite.as_deref(), Some("/x?a=1"));
        assert_eq!(
            allow.headers_to_set,
            [("cookie".to_owned(), "a=1".to_owned())]
        );
    }

    #[test]
    fn claim_errors_map_to_their_reasons() {
        use crate::claims::{ClaimError as E, TimeClaim};
        let table = [
            (
                E::TimeClaimInvalid(TimeClaim::Nbf),
                DenyReason::TimeClaimInvalid,
            ),
            (E::ExpMissing, DenyReason::ExpMissing),
            (E::Expired, DenyReason::TokenExpired),
            (E::NotYetValid, DenyReason::TokenNotYetValid),
            (E::IssuedInFuture, DenyReason::TokenIssuedInFuture),
            (E::LifetimeTooLong, DenyReason::TokenLifetimeTooLong),
            (E::IatMissing, DenyReason::IatMissing),
            (E::TooOld, DenyReason::TokenTooOld),
            (E::IssuerMismatch, DenyReason::IssuerMismatch),
            (E::AudienceMismatch, DenyReason::AudienceMismatch),
            (
                E::RequiredClaimMissing("sub".into()),
                DenyReason::RequiredClaimMissing,
            ),
            (E::ClaimTypeInvalid("sub"), DenyReason::ClaimTypeInvalid),
            (E::TokenTypeNotAllowed, DenyReason::TokenTypeNotAllowed),
        ];
        for (error, reason) in table {
            assert_eq!(DenyReason::from(&error), reason, "{error:?}");
        }
    }
}
