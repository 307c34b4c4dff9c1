//! The JWS algorithms claimcheck verifies (RFC 7518 §3, RFC 8037 §3.1).
//!
//! A leaf module: token decoding ([`crate::jwt`]), key sets ([`crate::jwks`]), the verifier
//! ([`crate::crypto`]) and the configuration all name algorithms, so the enum depends on none
//! of them.

use std::fmt;

/// A signature algorithm a token may name in its `alg` header.
///
/// `none` is deliberately absent: it is not an algorithm we can be asked to accept.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

/// The key family an algorithm needs; a key of another family never verifies it
/// (RFC 8725 §3.1: no RSA/HMAC confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
    Hmac,
}

impl Algorithm {
    pub const ALL: [Algorithm; 13] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The name as written in a JOSE header.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Parses a header `alg` value; `None` for anything we do not verify (including `none`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    pub fn key_family(self) -> KeyFamily {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::EcP256,
            Algorithm::ES384 => KeyFamily::EcP384,
            Algorithm::ES512 => KeyFamily::EcP521,
            Algorithm::EdDSA => KeyFamily::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
        }
    }

    /// Symmetric algorithms need a shared secret; providers must opt in to them.
    pub fn is_symmetric(self) -> bool {
        self.key_family() == KeyFamily::Hmac
    }
}

/// The JOSE name, so code that takes algorithm names (the test kit) takes an [`Algorithm`].
impl AsRef<str> for Algorithm {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The digest an algorithm signs over, as the names hosts use (Envoy's `verify_signature`
/// foreign function takes `"sha256"`, `"sha384"`, `"sha512"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFunction {
    Sha256,
    Sha384,
    Sha512,
}

impl HashFunction {
    pub fn as_str(self) -> &'static str {
        match self {
            HashFunction::Sha256 => "sha256",
            HashFunction::Sha384 => "sha384",
            HashFunction::Sha512 => "sha512",
        }
    }

    /// Output length in bytes; also the minimum HMAC key length (RFC 7518 §3.2).
    pub fn output_len(self) -> usize {
        match self {
            HashFunction::Sha256 => 32,
            HashFunction::Sha384 => 48,
            HashFunction::Sha512 => 64,
        }
    }
}

impl Algorithm {
    /// The digest the signature covers; `None` for EdDSA, which hashes internally (RFC 8032).
    pub fn hash_function(self) -> Option<HashFunction> {
        match self {
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::HS256 => {
                Some(HashFunction::Sha256)
            }
            Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
                Some(HashFunction::Sha384)
            }
            Algorithm::RS512 | Algorithm::PS512 | Algorithm::ES512 | Algorithm::HS512 => {
                Some(HashFunction::Sha512)
            }
            Algorithm::EdDSA => None,
        }
    }
}
