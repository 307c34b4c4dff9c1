//! DPoP (RFC 9449): access tokens bound to a key the client proves it holds, request by
//! request, with a signed proof in the `DPoP` header.
//!
//! A provider with `dpop` on accepts its token under the `DPoP` authorization scheme
//! (§7.1) and then requires a proof that passes every check of §4.3 against this request and
//! this token: one `DPoP` header, a JWS with `typ: dpop+jwt`, an allowed asymmetric `alg`, a
//! public `jwk` in its header that verifies it, `htm` equal to the method, `htu` equal to the
//! request's URI ([`htu`]), `iat` within the window, `ath` the hash of the access token, and
//! the token's `cnf.jkt` the thumbprint of the proof's key (§6.1, [`thumbprint`]). The proof's
//! `jti` is then recorded ([`replay`]) so the proof is single-use across the process.
//!
//! A provider with `dpop.nonce` also requires the proof's `nonce` to be one it minted
//! recently ([`nonce`]); a proof without one is refused with `use_dpop_nonce` and a fresh
//! nonce in `DPoP-Nonce`, which the client signs into its next proof (§8).
//!
//! Checks run cheapest first and the signature last: a token stolen without its key fails on
//! `cnf.jkt` before any signature work, and a proof for another request costs no crypto.
//!
//! Modes: `allowed` lets plain bearer tokens (no `cnf.jkt`) through as before, but a token
//! bound to a key is only accepted with its proof and the `DPoP` scheme; `required` accepts
//! only bound tokens with their proof. A bound token under the `Bearer` scheme is refused
//! in both (§7.2: a bearer presentation would make the binding pointless).

pub mod htu;
pub mod nonce;
pub mod replay;
pub mod thumbprint;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::crypto::SignatureVerifier;
use crate::jwa::Algorithm;
use crate::jwks::parse_single_jwk;
use crate::jwt::{self, JwtError};
use crate::request::Request;

pub use nonce::{NonceError, NoncePolicy};
pub use replay::{ReplayAnswer, ReplayEntry, ReplayStore};

/// The proof header, lowercase.
pub const PROOF_HEADER: &str = "dpop";

/// The authorization scheme of a DPoP-bound token (RFC 9449 §7.1), with its separator, as a
/// token source prefix.
pub const SCHEME_PREFIX: &str = "DPoP ";

/// The longest proof accepted, in bytes. A proof is a header, a few claims and a signature;
/// with an RSA-4096 key in its `jwk` it is about 2.5 KiB. 8 KiB bounds the decoding work a
/// hostile proof causes, well below Envoy's header budget.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;

/// The longest `jti` recorded. RFC 9449 §4.2 asks for at least 96 bits of randomness; clients
/// send a UUID or 16-32 random bytes in base64url. 256 bytes is ample and bounds the hash.
pub const MAX_JTI_BYTES: usize = 256;

/// JWK members that hold a private key (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof
/// carrying one is refused (RFC 9449 §4.3 check 7), the client leaked its own key.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Whether a provider requires DPoP or merely honours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopMode {
    /// Bearer tokens without `cnf.jkt` pass as before; bound tokens need their proof.
    Allowed,
    /// Only bound tokens, with their proof.
    Required,
}

/// A provider's compiled `dpop` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    pub mode: DpopMode,
    /// Asymmetric only; non-empty.
    pub algorithms: Vec<Algorithm>,
    /// `algs="ES256 EdDSA"` of the challenge, built once.
    pub challenge_algs: Arc<str>,
    /// How old a proof's `iat` may be.
    pub max_age_s: u64,
    /// Leeway for clocks on both sides of the window.
    pub clock_skew_s: u64,
    /// The external origin the client addresses (`https://api.example.com`), normalised;
    /// `None`: the request's own `:scheme` and `:authority`.
    pub origin: Option<String>,
    /// Keep the `DPoP` header on the request sent upstream.
    pub forward_proof: bool,
    /// Slots of the replay cache.
    pub replay_slots: u32,
    /// Server-provided nonces (§8): `None` when off.
    pub nonce: Option<NoncePolicy>,
}

impl DpopPolicy {
    /// The moment a proof issued at `iat_s` leaves the window, in ms: its replay entry is
    /// useless after it.
    pub fn expires_at_ms(&self, iat_s: u64) -> u64 {
        iat_s
            .saturating_add(self.max_age_s)
            .saturating_add(self.clock_skew_s)
            .saturating_add(1)
            .saturating_mul(1000)
    }
}

/// How the access token reached the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// `Authorization: DPoP <token>`.
    DpopScheme,
    /// Any other source (`Bearer`, a cookie, a query parameter).
    Other,
}

/// Every way a request fails its DPoP checks. No variant carries request content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    /// A bound token (or the `DPoP` scheme) without a `DPoP` header.
    ProofMissing,
    /// More than one `DPoP` header (§4.3 check 1).
    ProofMultiple,
    /// Longer than [`MAX_PROOF_BYTES`].
    ProofTooLarge,
    /// Not a JWS with a JSON header and claims, or a required claim (`jti`, `htm`, `htu`,
    /// `iat`) missing or of the wrong type.
    ProofMalformed,
    /// `typ` is not `dpop+jwt` (§4.3 check 4).
    ProofTypeInvalid,
    /// `alg` is not one the provider allows for proofs (check 5).
    AlgorithmNotAllowed,
    /// No `jwk`, a private key in it, or a key that cannot verify `alg` (checks 5, 7).
    KeyInvalid,
    /// The signature does not verify with the `jwk` (check 6).
    SignatureInvalid,
    /// `htm` is not the request's method (check 8).
    MethodMismatch,
    /// `htu` is not the request's URI (check 9).
    UriMismatch,
    /// `iat` outside the window (check 11).
    IatOutOfWindow,
    /// `ath` missing, or not the hash of the access token (check 12).
    AthMismatch,
    /// The token's `cnf.jkt` is not the proof key's thumbprint (check 12, §6.1).
    KeyMismatch,
    /// A token without `cnf.jkt` under the `DPoP` scheme, or any unbound token where DPoP is
    /// required.
    TokenNotBound,
    /// A bound token presented under another scheme (§7.2).
    BoundTokenAsBearer,
    /// The provider issues nonces and the proof's `nonce` is not a valid one (§8, §9):
    /// answered with `use_dpop_nonce` and a fresh nonce.
    Nonce(NonceError),
}

/// A proof that passed every check, ready for its replay record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The proof key's RFC 7638 thumbprint (equal to the token's `cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    /// When it leaves the window ([`DpopPolicy::expires_at_ms`]).
    pub expires_at_ms: u64,
}

/// The request as DPoP sees it, with the access token it carried.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub request: &'a Request,
    pub access_token: &'a str,
    pub presentation: Presentation,
    pub now_s: u64,
}

/// The token's binding: its `cnf.jkt`, if any. A `cnf.jkt` that is not a string binds the
/// token to a key no proof can match.
fn bound_jkt(claims: &Map<String, Value>) -> Option<Option<&str>> {
    let jkt = claims.get("cnf")?.as_object()?.get("jkt")?;
    Some(jkt.as_str())
}

/// The DPoP checks of one verified access token: `Ok(None)` when none apply (an unbound
/// token, as a bearer, where DPoP is only allowed), `Ok(Some(proof))` when the proof passed.
pub fn check(
    policy: &DpopPolicy,
    presented: &Presented<'_>,
    claims: &Map<String, Value>,
    verifier: &dyn SignatureVerifier,
) -> Result<Option<VerifiedProof>, DpopError> {
    let binding = bound_jkt(claims);
    match (presented.presentation, binding) {
        (Presentation::Other, Some(_)) => return Err(DpopError::BoundTokenAsBearer),
        (Presentation::Other, None) if policy.mode == DpopMode::Allowed => return Ok(None),
        (Presentation::Other, None) | (Presentation::DpopScheme, None) => {
            return Err(DpopError::TokenNotBound)
        }
        (Presentation::DpopScheme, Some(_)) => {}
    }
    let jkt = binding.flatten();
    verify_proof(policy, presented, jkt, verifier).map(Some)
}

/// RFC 9449 §4.3, cheapest checks first, the signature last.
fn verify_proof(
    policy: &DpopPolicy,
    presented: &Presented<'_>,
    token_jkt: Option<&str>,
    verifier: &dyn SignatureVerifier,
) -> Result<VerifiedProof, DpopError> {
    let request = presented.request;
    let mut proofs = crate::extract::spelling::headers(request, PROOF_HEADER).map(|(_, v)| v);
    let proof = proofs.next().ok_or(DpopError::ProofMissing)?;
    if proofs.next().is_some() {
        return Err(DpopError::ProofMultiple);
    }
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopError::ProofTooLarge);
    }
    let (jwt, jwk) = jwt::decode_proof(proof.trim()).map_err(|error| match error {
        JwtError::AlgNone | JwtError::UnsupportedAlgorithm => DpopError::AlgorithmNotAllowed,
        JwtError::TooLong => DpopError::ProofTooLarge,
        _ => DpopError::ProofMalformed,
    })?;
    let header = jwt.header();
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(DpopError::ProofTypeInvalid);
    }
    let alg = header.alg;
    if alg.is_symmetric() || !policy.algorithms.contains(&alg) {
        return Err(DpopError::AlgorithmNotAllowed);
    }
    let jwk = jwk
        .as_ref()
        .and_then(Value::as_object)
        .ok_or(DpopError::KeyInvalid)?;
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return Err(DpopError::KeyInvalid);
    }
    let claims = jwt.claims();
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let (Some(jti), Some(htm), Some(htu), Some(iat)) = (
        text("jti"),
        text("htm"),
        text("htu"),
        claims.get("iat").and_then(Value::as_u64),
    ) else {
        return Err(DpopError::ProofMalformed);
    };
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::ProofMalformed);
    }
    if htm != request.method {
        return Err(DpopError::MethodMismatch);
    }
    let expected = request_uri(policy, request).ok_or(DpopError::UriMismatch)?;
    if htu::normalize_uri(htu).as_deref() != Some(expected.as_str()) {
        return Err(DpopError::UriMismatch);
    }
    let now_s = presented.now_s;
    let oldest = now_s.saturating_sub(policy.max_age_s.saturating_add(policy.clock_skew_s));
    if iat < oldest || iat > now_s.saturating_add(policy.clock_skew_s) {
        return Err(DpopError::IatOutOfWindow);
    }
    if text("ath") != Some(thumbprint::sha256_b64(presented.access_token.as_bytes()).as_str()) {
        return Err(DpopError::AthMismatch);
    }
    let jkt = thumbprint::jwk_thumbprint(jwk).ok_or(DpopError::KeyInvalid)?;
    if token_jkt != Some(jkt.as_str()) {
        return Err(DpopError::KeyMismatch);
    }
    if let Some(nonces) = &policy.nonce {
        let nonce = text("nonce").ok_or(DpopError::Nonce(NonceError::Missing))?;
        nonces.verify(nonce, now_s).map_err(DpopError::Nonce)?;
    }
    let key = parse_single_jwk(&Value::Object(jwk.clone()), &policy.algorithms)
        .map_err(|_| DpopError::KeyInvalid)?;
    if !key.can_verify(alg) {
        return Err(DpopError::KeyInvalid);
    }
    verifier
        .verify(alg, &key, jwt.signing_input(), jwt.signature())
        .map_err(|_| DpopError::SignatureInvalid)?;
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
        expires_at_ms: policy.expires_at_ms(iat),
    })
}

/// The request's URI as the client addressed it: the configured origin, or the request's
/// `:scheme` and `:authority`, with its path.
fn request_uri(policy: &DpopPolicy, request: &Request) -> Option<String> {
    let origin = match &policy.origin {
        Some(origin) => std::borrow::Cow::Borrowed(origin.as_str()),
        None => {
            let scheme = request.header(":scheme").unwrap_or("http");
            std::borrow::Cow::Owned(htu::origin_of(scheme, &request.host)?)
        }
    };
    htu::request_uri(&origin, &request.path)
}
