//! Signing keys for development tokens: load a private key, sign a JWS signing input, and
//! describe the matching public key as a JWK (RFC 7517) with its RFC 7638 thumbprint.
//!
//! The key decides the algorithm family (RFC 8725 §3.1): an RSA key signs only RS*/PS*,
//! a P-256 key only ES256, and so on; a mismatch is refused before anything is signed.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use claimcheck::jwt::{Algorithm, KeyFamily};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};

use crate::keyfile::KeyFileMaterial;

/// A private key that can sign tokens.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    EcP256(EcdsaKeyPair),
    EcP384(EcdsaKeyPair),
    /// P-521 (ES512) comes from the RustCrypto `p521` crate: ring has no P-521 signer.
    EcP521(Box<p521::ecdsa::SigningKey>),
    Ed25519(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// Why a key cannot be loaded or cannot sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningError {
    /// PKCS#8 that is none of RSA (2048–8192 bits), P-256, P-384, P-521 or Ed25519.
    UnsupportedPkcs8,
    /// PKCS#1 DER that ring rejects (malformed, or outside 2048–8192 bits).
    InvalidRsaKey,
    /// The requested algorithm needs another kind of key.
    AlgorithmDoesNotFitKey { alg: Algorithm, key: KeyFamily },
    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
    HmacSecretTooShort {
        alg: Algorithm,
        min_bytes: usize,
        actual: usize,
    },
    /// The platform random source or the signer failed.
    SigningFailed,
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigningError::UnsupportedPkcs8 => f.write_str(
                "unsupported PKCS#8 key: expected RSA (2048-8192 bits), EC P-256/P-384/P-521 or Ed25519",
            ),
            SigningError::InvalidRsaKey => {
                f.write_str("invalid RSA private key (malformed, or not 2048-8192 bits)")
            }
            SigningError::AlgorithmDoesNotFitKey { alg, key } => {
                write!(f, "algorithm {alg} cannot be used with {} key", family_name(*key))
            }
            SigningError::HmacSecretTooShort {
                alg,
                min_bytes,
                actual,
            } => write!(
                f,
                "{alg} needs a secret of at least {min_bytes} bytes (RFC 7518 section 3.2); this one has {actual}"
            ),
            SigningError::SigningFailed => f.write_str("signing failed"),
        }
    }
}

impl std::error::Error for SigningError {}

/// A human name for a key family, with its article.
pub fn family_name(family: KeyFamily) -> &'static str {
    match family {
        KeyFamily::Rsa => "an RSA",
        KeyFamily::EcP256 => "an EC P-256",
        KeyFamily::EcP384 => "an EC P-384",
        KeyFamily::EcP521 => "an EC P-521",
        KeyFamily::Ed25519 => "an Ed25519",
        KeyFamily::Hmac => "an HMAC",
    }
}

/// The smallest HMAC secret RFC 7518 §3.2 allows: the hash output size.
pub fn hmac_min_bytes(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

impl SigningKey {
    /// Loads key material read from a key file.
    pub fn from_material(material: &KeyFileMaterial) -> Result<SigningKey, SigningError> {
        match material {
            KeyFileMaterial::Secret(secret) => Ok(SigningKey::Hmac(secret.clone())),
            KeyFileMaterial::Pkcs1Rsa(der) => RsaKeyPair::from_der(der)
                .map(SigningKey::Rsa)
                .map_err(|_| SigningError::InvalidRsaKey),
            KeyFileMaterial::Pkcs8(der) => Self::from_pkcs8(der),
        }
    }

    /// Loads a PKCS#8 private key; the key type comes from its algorithm identifier.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, SigningError> {
        let rng = SystemRandom::new();
        if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(SigningKey::Ed25519(key));
        }
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
            return Ok(SigningKey::EcP256(key));
        }
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng) {
            return Ok(SigningKey::EcP384(key));
        }
        if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
            return Ok(SigningKey::Rsa(key));
        }
        use p521::pkcs8::DecodePrivateKey as _;
        p521::SecretKey::from_pkcs8_der(der)
            .ok()
            .and_then(|secret| p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes()).ok())
            .map(|key| SigningKey::EcP521(Box::new(key)))
            .ok_or(SigningError::UnsupportedPkcs8)
    }

    pub fn family(&self) -> KeyFamily {
        match self {
            SigningKey::Rsa(_) => KeyFamily::Rsa,
            SigningKey::EcP256(_) => KeyFamily::EcP256,
            SigningKey::EcP384(_) => KeyFamily::EcP384,
            SigningKey::EcP521(_) => KeyFamily::EcP521,
            SigningKey::Ed25519(_) => KeyFamily::Ed25519,
            SigningKey::Hmac(_) => KeyFamily::Hmac,
        }
    }

    /// The algorithm used when neither the command line nor the key file names one.
    pub fn default_algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Rsa(_) => Algorithm::RS256,
            SigningKey::EcP256(_) => Algorithm::ES256,
            SigningKey::EcP384(_) => Algorithm::ES384,
            SigningKey::EcP521(_) => Algorithm::ES512,
            SigningKey::Ed25519(_) => Algorithm::EdDSA,
            SigningKey::Hmac(_) => Algorithm::HS256,
        }
    }

    /// Refuses an algorithm this key must not sign with.
    pub fn check_algorithm(&self, alg: Algorithm) -> Result<(), SigningError> {
        if alg.key_family() != self.family() {
            return Err(SigningError::AlgorithmDoesNotFitKey {
                alg,
                key: self.family(),
            });
        }
        if let SigningKey::Hmac(secret) = self {
            let min_bytes = hmac_min_bytes(alg);
            if secret.len() < min_bytes {
                return Err(SigningError::HmacSecretTooShort {
                    alg,
                    min_bytes,
                    actual: secret.len(),
                });
            }
        }
        Ok(())
    }

    /// Signs a JWS signing input (RFC 7515 §5.1) and returns the raw signature: PKCS#1 v1.5
    /// or PSS bytes, `r || s` for ECDSA (RFC 7518 §3.4), or the HMAC tag.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        self.check_algorithm(alg)?;
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rsa(key) => {
                let padding: &'static dyn ring::signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &ring::signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &ring::signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &ring::signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &ring::signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &ring::signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &ring::signature::RSA_PSS_SHA512,
                    _ => {
                        return Err(SigningError::AlgorithmDoesNotFitKey {
                            alg,
                            key: KeyFamily::Rsa,
                        })
                    }
                };
                let mut signature = vec![0u8; key.public().modulus_len()];
                key.sign(padding, &rng, message, &mut signature)
                    .map_err(|_| SigningError::SigningFailed)?;
                Ok(signature)
            }
            SigningKey::EcP256(key) | SigningKey::EcP384(key) => key
                .sign(&rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SigningError::SigningFailed),
            SigningKey::EcP521(key) => {
                use p521::ecdsa::signature::Signer as _;
                let signature: p521::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|_| SigningError::SigningFailed)?;
                Ok(signature.to_bytes().to_vec())
            }
            SigningKey::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
            SigningKey::Hmac(secret) => {
                let hmac_alg = match alg {
                    Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                    Algorithm::HS512 => ring::hmac::HMAC_SHA512,
                    _ => ring::hmac::HMAC_SHA256,
                };
                let key = ring::hmac::Key::new(hmac_alg, secret);
                Ok(ring::hmac::sign(&key, message).as_ref().to_vec())
            }
        }
    }

    /// The JWK members that identify the key, sorted by name as RFC 7638 §3.2 requires for
    /// the thumbprint. For HMAC this is the secret itself (`k`): an `oct` JWK has no public part.
    pub fn jwk_members(&self) -> Vec<(&'static str, String)> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            SigningKey::Rsa(key) => {
                let components: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
                vec![
                    ("e", b64(&components.e)),
                    ("kty", "RSA".to_owned()),
                    ("n", b64(&components.n)),
                ]
            }
            SigningKey::EcP256(key) => ec_members("P-256", key.public_key().as_ref(), b64),
            SigningKey::EcP384(key) => ec_members("P-384", key.public_key().as_ref(), b64),
            SigningKey::EcP521(key) => {
                let point = p521::ecdsa::VerifyingKey::from(key.as_ref()).to_encoded_point(false);
                ec_members("P-521", point.as_bytes(), b64)
            }
            SigningKey::Ed25519(key) => vec![
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", b64(key.public_key().as_ref())),
            ],
            SigningKey::Hmac(secret) => vec![("k", b64(secret)), ("kty", "oct".to_owned())],
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable default `kid`.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.jwk_members())
    }

    /// The JWK to publish for this key: `kty` and key members plus `kid`, `alg` and
    /// `use: sig` so verifiers can pin the algorithm to the key (RFC 8725 §3.1).
    pub fn jwk(&self, kid: &str, alg: Algorithm) -> serde_json::Value {
        let mut jwk = serde_json::Map::new();
        for (name, value) in self.jwk_members() {
            jwk.insert(name.to_owned(), serde_json::Value::String(value));
        }
        jwk.insert("kid".into(), kid.into());
        jwk.insert("alg".into(), alg.as_str().into());
        jwk.insert("use".into(), "sig".into());
        serde_json::Value::Object(jwk)
    }
}

/// RFC 7638 §3: SHA-256 over the required members, sorted, as JSON without whitespace.
fn thumbprint(sorted_members: &[(&'static str, String)]) -> String {
    let mut canonical = String::from("{");
    for (index, (name, value)) in sorted_members.iter().enumerate() {
        if index > 0 {
            canonical.push(',');
        }
        // Serialising (rather than quoting by hand) keeps the form right for any value.
        canonical.push_str(&serde_json::Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&serde_json::Value::from(value.as_str()).to_string());
    }
    canonical.push('}');
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// EC JWK members from an uncompressed SEC1 point `0x04 || X || Y` (RFC 7518 §6.2.1).
fn ec_members(
    crv: &'static str,
    point: &[u8],
    b64: impl Fn(&[u8]) -> String,
) -> Vec<(&'static str, String)> {
    let coordinates = point.get(1..).unwrap_or_default();
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    vec![
        ("crv", crv.to_owned()),
        ("kty", "EC".to_owned()),
        ("x", b64(x)),
        ("y", b64(y)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec_p256() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        SigningKey::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn pkcs8_key_type_comes_from_the_key() {
        let rng = SystemRandom::new();
        let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        assert_eq!(ec_p256().family(), KeyFamily::EcP256);
        assert_eq!(
            SigningKey::from_pkcs8(p384.as_ref()).unwrap().family(),
            KeyFamily::EcP384
        );
        assert_eq!(
            SigningKey::from_pkcs8(ed.as_ref()).unwrap().family(),
            KeyFamily::Ed25519
        );
    }

    #[test]
    fn garbage_pkcs8_is_unsupported() {
        assert_eq!(
            SigningKey::from_pkcs8(&[0x30, 0x03, 1, 2, 3]).err(),
            Some(SigningError::UnsupportedPkcs8)
        );
    }

    #[test]
    fn algorithm_of_another_family_is_refused() {
        let key = ec_p256();
        for alg in [
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::HS256,
            Algorithm::EdDSA,
        ] {
            assert_eq!(
                key.sign(alg, b"m").unwrap_err(),
                SigningError::AlgorithmDoesNotFitKey {
                    alg,
                    key: KeyFamily::EcP256
                }
            );
        }
    }

    #[test]
    fn hmac_secret_shorter_than_the_hash_is_refused() {
        let key = SigningKey::Hmac(vec![1; 32]);
        assert!(key.sign(Algorithm::HS256, b"m").is_ok());
        assert_eq!(
            key.sign(Algorithm::HS384, b"m").unwrap_err(),
            SigningError::HmacSecretTooShort {
                alg: Algorithm::HS384,
                min_bytes: 48,
                actual: 32
            }
        );
    }

    #[test]
    fn es256_signature_is_fixed_width_and_verifies() {
        let key = ec_p256();
        let signature = key.sign(Algorithm::ES256, b"message").unwrap();
        assert_eq!(signature.len(), 64);
        let SigningKey::EcP256(pair) = &key else {
            panic!("not a P-256 key")
        };
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref(),
        )
        .verify(b"message", &signature)
        .unwrap();
    }

    #[test]
    fn ec_jwk_coordinates_are_field_sized() {
        let jwk = ec_p256().jwk("k", Algorithm::ES256);
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "ES256");
    }

    /// RFC 7638 §3.1 example key and its published thumbprint.
    #[test]
    fn thumbprint_matches_the_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = [
            ("e", "AQAB".to_owned()),
            ("kty", "RSA".to_owned()),
            ("n", n.to_owned()),
        ];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn hmac_thumbprint_covers_k_and_kty() {
        let key = SigningKey::Hmac(b"secret".to_vec());
        assert_eq!(
            key.thumbprint(),
            thumbprint(&[("k", "c2VjcmV0".to_owned()), ("kty", "oct".to_owned())])
        );
    }
}
