//! Signature primitives behind one small trait.
//!
//! [`SignatureVerifier`] is the only seam between claimcheck and a crypto library, so a host's
//! native crypto (Envoy's `verify_signature` foreign function, which takes SPKI DER from
//! [`KeyMaterial::spki_der`](crate::jwks::KeyMaterial::spki_der)) can replace the default
//! [`RingVerifier`] without touching the rest of the core.

use std::fmt;

use p521::ecdsa::signature::Verifier as _;
use ring::signature::{self as ring_sig, UnparsedPublicKey, VerificationAlgorithm};

use crate::jwa::Algorithm;
use crate::jwks::{EcCurve, KeyMaterial, RsaPublicKey, VerifyingKey};

/// Why one signature check failed. Callers normally collapse all of these into
/// "signature invalid"; the distinction is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The key may not verify this algorithm (wrong family, or not among its algorithms).
    /// The key decides the algorithm (RFC 8725 §3.1); the token never does.
    KeyAlgorithmMismatch,
    /// The signature has the wrong length for the algorithm (ECDSA: exactly 2 × the
    /// coordinate length, RFC 7518 §3.4; Ed25519: 64 bytes).
    SignatureLength,
    /// The key could not be loaded by the crypto library (e.g. an EC point off the curve).
    InvalidKey,
    /// The signature does not verify.
    Invalid,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::KeyAlgorithmMismatch => "key cannot verify this algorithm",
            SignatureError::SignatureLength => "signature has the wrong length",
            SignatureError::InvalidKey => "key rejected by the crypto library",
            SignatureError::Invalid => "signature does not verify",
        })
    }
}

impl std::error::Error for SignatureError {}

/// Checks one signature with one key. Implementations must refuse when
/// `!key.can_verify(alg)`, whatever the signature.
pub trait SignatureVerifier {
    fn verify(
        &self,
        alg: Algorithm,
        key: &VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError>;
}

/// The default verifier: `ring` 0.17 for everything except ES512, which ring lacks and the
/// RustCrypto `p521` crate provides.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingVerifier;

impl SignatureVerifier for RingVerifier {
    fn verify(
        &self,
        alg: Algorithm,
        key: &VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if !key.can_verify(alg) {
            return Err(SignatureError::KeyAlgorithmMismatch);
        }
        match (&key.material, alg) {
            (KeyMaterial::Rsa(rsa), _) => verify_rsa(alg, rsa, message, signature),
            (KeyMaterial::Ec(ec), Algorithm::ES512) if ec.curve == EcCurve::P521 => {
                verify_p521(&ec.point, message, signature)
            }
            (KeyMaterial::Ec(ec), _) => {
                let (algorithm, curve): (&'static dyn VerificationAlgorithm, EcCurve) = match alg {
                    Algorithm::ES256 => (&ring_sig::ECDSA_P256_SHA256_FIXED, EcCurve::P256),
                    Algorithm::ES384 => (&ring_sig::ECDSA_P384_SHA384_FIXED, EcCurve::P384),
                    _ => return Err(SignatureError::KeyAlgorithmMismatch),
                };
                if ec.curve != curve {
                    return Err(SignatureError::KeyAlgorithmMismatch);
                }
                if signature.len() != 2 * curve.coordinate_len() {
                    return Err(SignatureError::SignatureLength);
                }
                UnparsedPublicKey::new(algorithm, &ec.point)
                    .verify(message, signature)
                    .map_err(|_| SignatureError::Invalid)
            }
            (KeyMaterial::Ed25519(public), Algorithm::EdDSA) => {
                if signature.len() != ED25519_SIGNATURE_LEN {
                    return Err(SignatureError::SignatureLength);
                }
                UnparsedPublicKey::new(&ring_sig::ED25519, public)
                    .verify(message, signature)
                    .map_err(|_| SignatureError::Invalid)
            }
            (KeyMaterial::Hmac(secret), _) => {
                let algorithm = match alg {
                    Algorithm::HS256 => ring::hmac::HMAC_SHA256,
                    Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                    Algorithm::HS512 => ring::hmac::HMAC_SHA512,
                    _ => return Err(SignatureError::KeyAlgorithmMismatch),
                };
                // ring::hmac::verify compares in constant time: no timing oracle on the MAC.
                ring::hmac::verify(&ring::hmac::Key::new(algorithm, secret), message, signature)
                    .map_err(|_| SignatureError::Invalid)
            }
            (KeyMaterial::Ed25519(_), _) => Err(SignatureError::KeyAlgorithmMismatch),
        }
    }
}

/// RFC 8032 §5.1.6: an Ed25519 signature is 64 bytes.
const ED25519_SIGNATURE_LEN: usize = 64;

/// RFC 7518 §3.4: an ES512 signature is R and S, each 66 bytes.
const P521_SIGNATURE_LEN: usize = 132;

fn verify_rsa(
    alg: Algorithm,
    key: &RsaPublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    // The 2048-8192 parameter sets refuse smaller moduli even if one slipped past parsing.
    let params: &'static ring_sig::RsaParameters = match alg {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return Err(SignatureError::KeyAlgorithmMismatch),
    };
    ring_sig::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(params, message, signature)
    .map_err(|_| SignatureError::Invalid)
}

fn verify_p521(point: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    if signature.len() != P521_SIGNATURE_LEN {
        return Err(SignatureError::SignatureLength);
    }
    let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| SignatureError::InvalidKey)?;
    let signature =
        p521::ecdsa::Signature::from_slice(signature).map_err(|_| SignatureError::Invalid)?;
    key.verify(message, &signature)
        .map_err(|_| SignatureError::Invalid)
}
