//! A usable public key (or shared secret) and the algorithms it may verify.

use std::fmt;

use super::spki;
use crate::jwa::{Algorithm, KeyFamily};

/// A key taken from a JWK set, ready for verification.
///
/// The key decides the algorithm (RFC 8725 §3.1): `algorithms` lists what this key may verify,
/// fixed when the key set is parsed, and a token whose `alg` is not in that list is never
/// checked against this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    /// Never empty; sorted and deduplicated.
    pub algorithms: Vec<Algorithm>,
    pub material: KeyMaterial,
}

impl VerifyingKey {
    /// Whether this key may verify `alg`: it must be listed and of the right family.
    pub fn can_verify(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg) && self.material.supports(alg)
    }
}

/// The public parameters of a key, in the form verifiers consume.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    Rsa(RsaPublicKey),
    Ec(EcPublicKey),
    /// The 32-byte Ed25519 public key (RFC 8037 §2).
    Ed25519([u8; 32]),
    /// A shared HMAC secret; `Debug` never prints it.
    Hmac(Vec<u8>),
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Rsa(key) => f.debug_tuple("Rsa").field(key).finish(),
            KeyMaterial::Ec(key) => f.debug_tuple("Ec").field(key).finish(),
            KeyMaterial::Ed25519(key) => f.debug_tuple("Ed25519").field(key).finish(),
            KeyMaterial::Hmac(secret) => write!(f, "Hmac(<{} secret bytes>)", secret.len()),
        }
    }
}

/// RSA public key: big-endian unsigned integers without leading zero bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl RsaPublicKey {
    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        match self.n.first() {
            None => 0,
            Some(first) => (self.n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        }
    }
}

/// A NIST curve we verify on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcCurve {
    P256,
    P384,
    P521,
}

impl EcCurve {
    /// Length of one coordinate in bytes (RFC 7518 §6.2.1.2: `x` and `y` are exactly this long).
    pub fn coordinate_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
            EcCurve::P521 => 66,
        }
    }

    /// The only algorithm a key on this curve verifies (RFC 7518 §3.4).
    pub fn algorithm(self) -> Algorithm {
        match self {
            EcCurve::P256 => Algorithm::ES256,
            EcCurve::P384 => Algorithm::ES384,
            EcCurve::P521 => Algorithm::ES512,
        }
    }

    fn spki_curve(self) -> spki::NamedCurve {
        match self {
            EcCurve::P256 => spki::NamedCurve::P256,
            EcCurve::P384 => spki::NamedCurve::P384,
            EcCurve::P521 => spki::NamedCurve::P521,
        }
    }

    pub fn from_jwk_name(name: &str) -> Option<EcCurve> {
        match name {
            "P-256" => Some(EcCurve::P256),
            "P-384" => Some(EcCurve::P384),
            "P-521" => Some(EcCurve::P521),
            _ => None,
        }
    }
}

/// An EC public key as an uncompressed SEC1 point `04 || x || y`, the form ring, p521 and
/// SubjectPublicKeyInfo all take, so no per-request re-encoding is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    pub curve: EcCurve,
    pub point: Vec<u8>,
}

impl KeyMaterial {
    pub fn family(&self) -> KeyFamily {
        match self {
            KeyMaterial::Rsa(_) => KeyFamily::Rsa,
            KeyMaterial::Ec(EcPublicKey {
                curve: EcCurve::P256,
                ..
            }) => KeyFamily::EcP256,
            KeyMaterial::Ec(EcPublicKey {
                curve: EcCurve::P384,
                ..
            }) => KeyFamily::EcP384,
            KeyMaterial::Ec(EcPublicKey {
                curve: EcCurve::P521,
                ..
            }) => KeyFamily::EcP521,
            KeyMaterial::Ed25519(_) => KeyFamily::Ed25519,
            KeyMaterial::Hmac(_) => KeyFamily::Hmac,
        }
    }

    /// Whether this kind of key can verify `alg` at all (RSA/HMAC confusion and curve
    /// confusion are impossible past this check).
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.family() == alg.key_family()
    }

    /// Every algorithm this kind of key can verify, before any `alg` member or policy narrows it.
    pub fn natural_algorithms(&self) -> Vec<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(|alg| self.supports(*alg))
            .collect()
    }

    /// The key as DER SubjectPublicKeyInfo (RFC 5280 §4.1), the form host-native crypto takes
    /// (Envoy's `verify_signature` foreign function). `None` for HMAC secrets, which have none.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        match self {
            KeyMaterial::Rsa(key) => Some(spki::rsa(&key.n, &key.e)),
            KeyMaterial::Ec(key) => Some(spki::ec(key.curve.spki_curve(), &key.point)),
            KeyMaterial::Ed25519(key) => Some(spki::ed25519(key)),
            KeyMaterial::Hmac(_) => None,
        }
    }
}
