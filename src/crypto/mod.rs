//! Signature primitives behind one small trait.
//!
//! [`SignatureVerifier`] is the only seam between claimcheck and a crypto library. Two
//! implementations sit behind it:
//! - [`RingVerifier`]: `ring` (and `p521`) compiled into the module; verifies everything.
//! - [`HostVerifier`]: the host's native crypto, Envoy's `verify_signature` foreign function
//!   (BoringSSL), for RSA PKCS#1 v1.5 and ECDSA P-256/P-384, with [`RingVerifier`] for the rest. Inside
//!   V8, ring verifies RSA and ECDSA about ten times slower than native code, so the host
//!   path is what brings a cache miss close to Envoy's own `jwt_authn`.
//!
//! The host is trusted only after [`probe`] shows that it verifies known-good signatures and
//! refuses tampered ones; [`CryptoChoice`] says whether it may be used at all.

mod ecdsa_der;
mod host;
mod in_wasm;
mod probe;

use std::fmt;

use serde::Deserialize;

use crate::jwa::Algorithm;
use crate::jwks::VerifyingKey;

pub use ecdsa_der::jose_to_der;
pub use host::{HostCall, HostCallError, HostFailure, HostVerifier, VERIFY_SIGNATURE};
pub use in_wasm::RingVerifier;
pub use probe::{probe, ProbeFailure};

/// Why one signature check failed. Callers normally collapse all of these into
/// "signature invalid"; the distinction is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The key may not verify this algorithm (wrong family, or not among its algorithms).
    /// The key decides the algorithm (RFC 8725 §3.1); the token never does.
    KeyAlgorithmMismatch,
    /// The signature has the wrong length for the algorithm (ECDSA: exactly 2 × the
    /// coordinate length, RFC 7518 §3.4; Ed25519: 64 bytes), or an ECDSA `r` or `s` is zero.
    SignatureLength,
    /// The key could not be loaded by the crypto library (e.g. an EC point off the curve).
    InvalidKey,
    /// The signature does not verify.
    Invalid,
    /// The host could not give a trustworthy answer; the signature counts as not verified.
    Host(HostFailure),
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::KeyAlgorithmMismatch => f.write_str("key cannot verify this algorithm"),
            SignatureError::SignatureLength => f.write_str("signature has the wrong length"),
            SignatureError::InvalidKey => f.write_str("key rejected by the crypto library"),
            SignatureError::Invalid => f.write_str("signature does not verify"),
            SignatureError::Host(failure) => write!(f, "host crypto failed: {failure}"),
        }
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

/// Where signatures are verified (`crypto` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", rename = "Crypto")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum CryptoChoice {
    /// The host's crypto when it offers `verify_signature` and passes the probe, else in the VM.
    #[default]
    Auto,
    /// The host's crypto; a host without a working `verify_signature` is a configuration error.
    Host,
    /// Always in the VM.
    Wasm,
}

impl CryptoChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoChoice::Auto => "auto",
            CryptoChoice::Host => "host",
            CryptoChoice::Wasm => "wasm",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
