//! JWK sets (RFC 7517) and OIDC discovery documents (OpenID Connect Discovery 1.0).
//!
//! A JWKS document becomes a [`KeySet`] of [`VerifyingKey`]s, each bound to the algorithms it
//! may verify. Keys we cannot use are skipped with a [`SkipReason`] rather than failing the
//! whole set (RFC 7517 §5: "implementations SHOULD ignore JWKs within a JWK Set that use
//! 'kty' values that are not understood"); only a set with no usable key at all is an error,
//! so the caller keeps serving its last good keys.

mod discovery;
mod key;
mod parse;
mod spki;
mod x509;

pub use discovery::{
    parse_discovery, split_url, Discovery, DiscoveryError, UrlError, UrlParts, MAX_DISCOVERY_BYTES,
    MAX_URL_LEN,
};
pub use key::{EcCurve, EcPublicKey, KeyMaterial, RsaPublicKey, VerifyingKey};
pub use parse::{
    parse_single_jwk, JwksError, SkipReason, SkippedKey, MAX_JWKS_BYTES, MAX_KEYS,
    MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS,
};
pub use x509::{CertificateError, MAX_CERTIFICATE_BYTES};

use crate::jwa::Algorithm;

/// What a provider lets its key set contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The algorithms the provider accepts; keys usable only for others are skipped.
    /// HMAC keys (`kty: oct`) are only kept when an `HS*` algorithm is listed here.
    pub algorithms: Vec<Algorithm>,
}

/// The most keys a token is tried against when no key is named by its `kid`. Identity
/// providers publish one or two keys per algorithm; the bound keeps a forged token from
/// costing a signature check per key of a large set.
pub const MAX_UNNAMED_CANDIDATES: usize = 4;

/// Why a key set offers no key for a token (see [`KeySet::candidates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCandidate {
    /// The token's `alg` is not one the provider accepts.
    AlgorithmNotAllowed,
    /// No key carries the token's `kid`, or no key can verify its `alg`.
    KeyNotFound,
    /// Keys carry the token's `kid` but none can verify its `alg`.
    AlgorithmKeyMismatch,
}

/// A parsed, usable key set: never empty when produced by [`KeySet::parse`].
///
/// Duplicate `kid`s: keys that are exactly equal (same `kid`, material and algorithms) collapse
/// into one; different keys sharing a `kid` are all kept and all tried, because identity
/// providers do publish the same `kid` for an RSA and an EC key during migrations, and refusing
/// either would break valid tokens. Trying two keys is no weaker than trying one: a signature
/// verifies only under the key that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    /// The provider's accepted algorithms (the policy), sorted and deduplicated.
    allowed: Vec<Algorithm>,
}

/// The outcome of parsing a JWKS document.
#[derive(Debug, Clone)]
pub struct ParsedKeySet {
    pub keys: KeySet,
    /// Keys that were present but not usable, with the reason (for logs and `validate`).
    pub skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), keeping only keys usable under `policy`.
    pub fn parse(json: &[u8], policy: &KeyPolicy) -> Result<ParsedKeySet, JwksError> {
        parse::parse_jwks(json, policy)
    }

    /// Builds a set from already-prepared keys (configuration with secrets, tests). Each key's
    /// algorithms are narrowed to `allowed`, to its key family, and for HMAC to algorithms whose
    /// hash is no longer than the secret (RFC 7518 §3.2); keys left with none are dropped, exact
    /// duplicates collapse.
    pub fn from_keys(keys: Vec<VerifyingKey>, allowed: &[Algorithm]) -> KeySet {
        let mut allowed = allowed.to_vec();
        allowed.sort();
        allowed.dedup();
        let mut set = KeySet {
            keys: Vec::with_capacity(keys.len()),
            allowed,
        };
        for mut key in keys {
            let material = &key.material;
            key.algorithms.retain(|alg| {
                set.allowed.contains(alg)
                    && material.supports(*alg)
                    && parse::hmac_secret_long_enough(material, *alg)
            });
            key.algorithms.sort();
            key.algorithms.dedup();
            if !key.algorithms.is_empty() && !set.keys.contains(&key) {
                set.keys.push(key);
            }
        }
        set
    }

    /// Keys that may verify a token with this `alg` and `kid` (from its header), in document
    /// order.
    ///
    /// - `alg` outside the provider's algorithms: [`NoCandidate::AlgorithmNotAllowed`].
    /// - with `kid`: keys carrying that `kid`; keys with that `kid` but none able to verify
    ///   `alg` is [`NoCandidate::AlgorithmKeyMismatch`]. When no key carries it, keys without
    ///   a `kid` stand in (as in Envoy's jwt_verify_lib: such a key names no token in
    ///   particular); none at all is [`NoCandidate::KeyNotFound`], the caller's cue for an
    ///   unknown-`kid` refetch.
    /// - without `kid`: every key that can verify `alg`; none is [`NoCandidate::KeyNotFound`].
    ///
    /// Unnamed candidates are capped at [`MAX_UNNAMED_CANDIDATES`]: each failed try costs a
    /// full signature check, and a forged token needs no `kid` to make us pay for all of them.
    pub fn candidates(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<&VerifyingKey>, NoCandidate> {
        if !self.allowed.contains(&alg) {
            return Err(NoCandidate::AlgorithmNotAllowed);
        }
        if let Some(kid) = kid {
            let named: Vec<&VerifyingKey> = self
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid))
                .collect();
            if !named.is_empty() {
                let usable: Vec<&VerifyingKey> = named
                    .into_iter()
                    .filter(|key| key.can_verify(alg))
                    .collect();
                return if usable.is_empty() {
                    Err(NoCandidate::AlgorithmKeyMismatch)
                } else {
                    Ok(usable)
                };
            }
        }
        let unnamed: Vec<&VerifyingKey> = self
            .keys
            .iter()
            .filter(|key| kid.is_none() || key.kid.is_none())
            .filter(|key| key.can_verify(alg))
            .take(MAX_UNNAMED_CANDIDATES)
            .collect();
        if unnamed.is_empty() {
            Err(NoCandidate::KeyNotFound)
        } else {
            Ok(unnamed)
        }
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The algorithms the provider accepts (its policy), sorted. A token whose `alg` is not
    /// here is refused before any key is looked at.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.allowed
    }

    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests;
