//! Signature verification of a decoded token against a provider's key set.

use std::fmt;

use super::DecodedJwt;
use crate::crypto::SignatureVerifier;
use crate::jwks::{KeySet, NoCandidate, VerifyingKey};

/// Every way a syntactically valid token fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The token's `alg` is not one the provider accepts (RFC 8725 §3.1: the verifier, not the
    /// token, decides the algorithms).
    AlgorithmNotAllowed,
    /// No key matches: the token's `kid` is unknown, or no key can verify its `alg`. Distinct
    /// on purpose: the caller answers it with a (rate-limited) key-set refetch, since the
    /// provider may have rotated keys.
    KeyNotFound,
    /// A key with the token's `kid` exists but cannot verify the token's `alg` (e.g. an RSA
    /// key named by an HS256 token: the RS→HS confusion of RFC 8725 §2.1).
    AlgorithmKeyMismatch,
    /// Candidate keys exist and none verifies the signature.
    SignatureInvalid,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyError::AlgorithmNotAllowed => "token alg is not allowed for this provider",
            VerifyError::KeyNotFound => "no key found for the token",
            VerifyError::AlgorithmKeyMismatch => "the token's key cannot verify its alg",
            VerifyError::SignatureInvalid => "signature verification failed",
        })
    }
}

impl std::error::Error for VerifyError {}

impl From<NoCandidate> for VerifyError {
    fn from(error: NoCandidate) -> Self {
        match error {
            NoCandidate::AlgorithmNotAllowed => VerifyError::AlgorithmNotAllowed,
            NoCandidate::KeyNotFound => VerifyError::KeyNotFound,
            NoCandidate::AlgorithmKeyMismatch => VerifyError::AlgorithmKeyMismatch,
        }
    }
}

/// Verifies `jwt`'s signature with the keys of `keys` that may verify it (see
/// [`KeySet::candidates`]). Succeeds if any candidate verifies.
pub fn verify(
    jwt: &DecodedJwt,
    keys: &KeySet,
    verifier: &dyn SignatureVerifier,
) -> Result<(), VerifyError> {
    verified_by(jwt, keys, verifier).map(|_| ())
}

/// [`verify`], answering with the key that verified the signature (for `explain`).
pub fn verified_by<'k>(
    jwt: &DecodedJwt,
    keys: &'k KeySet,
    verifier: &dyn SignatureVerifier,
) -> Result<&'k VerifyingKey, VerifyError> {
    let header = jwt.header();
    let alg = header.alg;
    let candidates = keys.candidates(alg, header.kid.as_deref())?;
    candidates
        .into_iter()
        .find(|key| {
            verifier
                .verify(alg, key, jwt.signing_input(), jwt.signature())
                .is_ok()
        })
        .ok_or(VerifyError::SignatureInvalid)
}
