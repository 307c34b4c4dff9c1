//! Shared test helpers: fresh signing keys, their public JWKs, and signed compact tokens.
//!
//! Keys are generated per test with ring, so no private key lives in the repository
//! except the RSA fixtures (ring cannot generate RSA keys).
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};
use serde_json::{json, Value};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private signing key with a `kid`, and the algorithm it signs.
pub enum SigningKey {
    /// ES256 (P-256, fixed-length `r || s` signatures as JWS requires, RFC 7518 §3.4).
    Es256(sig::EcdsaKeyPair),
    /// EdDSA over Ed25519 (RFC 8037).
    Ed25519(sig::Ed25519KeyPair),
}

impl SigningKey {
    pub fn es256() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = sig::EcdsaKeyPair::from_pkcs8(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        SigningKey::Es256(pair)
    }

    pub fn ed25519() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        SigningKey::Ed25519(sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    /// The JWS `alg` this key signs.
    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Es256(_) => "ES256",
            SigningKey::Ed25519(_) => "EdDSA",
        }
    }

    /// The public key as raw bytes (the uncompressed EC point, or the Ed25519 key).
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Es256(pair) => pair.public_key().as_ref().to_vec(),
            SigningKey::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The public JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            SigningKey::Es256(pair) => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                assert_eq!(point.len(), 65);
                json!({
                    "kty": "EC", "crv": "P-256", "kid": kid,
                    "x": b64(&point[1..33]), "y": b64(&point[33..]),
                })
            }
            SigningKey::Ed25519(pair) => json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": b64(pair.public_key().as_ref()),
            }),
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            SigningKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    /// A token signed by this key, with `kid` in its header (`None`: no `kid`).
    pub fn token(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": self.alg(), "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        sign_token(&header, claims, |input| self.sign(input))
    }
}

/// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(sign(signing input))`.
pub fn sign_token(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// An HS256 token keyed with `secret`: the shape of an algorithm-confusion attack when the
/// secret is a public key the attacker downloaded.
pub fn hs256_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    sign_token(header, claims, |input| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        ring::hmac::sign(&key, input).as_ref().to_vec()
    })
}

/// A `{ "keys": [...] }` document.
pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}
