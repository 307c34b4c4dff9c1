//! Test-only keys and tokens, shared by every test of the workspace: the filter's unit tests,
//! `tests/authorize`, the harness tests of the `.wasm`, the CLI tests and the end-to-end tests.
//!
//! Keys are generated per test with ring (RSA keys come from the fixtures in
//! `tests/fixtures/keys/`: ring cannot generate RSA keys), so no other private key lives in
//! the repository. Algorithms are named as in a JOSE header (`"ES256"`), so this crate does
//! not depend on claimcheck and any claimcheck type that names itself (`AsRef<str>`) works.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p521::ecdsa::signature::Signer as _;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};
use serde_json::{json, Value};

/// The RSA fixtures (test-only keys, never used outside tests).
pub mod fixtures {
    /// A 1024-bit RSA public JWK: too short to be accepted.
    pub const RSA_1024_JWK: &str = include_str!("../../fixtures/keys/test-only-rsa-1024.jwk.json");
    pub const RSA_2048_PKCS8: &[u8] =
        include_bytes!("../../fixtures/keys/test-only-rsa-2048.pk8.der");
    pub const RSA_2048_SPKI: &[u8] =
        include_bytes!("../../fixtures/keys/test-only-rsa-2048.spki.der");
    pub const RSA_3072_PKCS8: &[u8] =
        include_bytes!("../../fixtures/keys/test-only-rsa-3072.pk8.der");
    pub const RSA_3072_SPKI: &[u8] =
        include_bytes!("../../fixtures/keys/test-only-rsa-3072.spki.der");
}

/// Every JWS algorithm claimcheck verifies, by name.
pub const ALGORITHMS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512",
];

/// Unpadded base64url (RFC 7515 §2).
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key of one family, able to sign every algorithm of that family, and its public
/// JWK.
pub enum TestKey {
    Rsa(sig::RsaKeyPair),
    /// P-256 or P-384 (fixed-length `r || s` signatures, RFC 7518 §3.4), with the JWK `crv`.
    Ecdsa(sig::EcdsaKeyPair, &'static str),
    P521(p521::ecdsa::SigningKey),
    Ed25519(sig::Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl TestKey {
    /// An RSA key from PKCS#8 DER (see [`fixtures`]).
    pub fn rsa(pkcs8: &[u8]) -> TestKey {
        TestKey::Rsa(sig::RsaKeyPair::from_pkcs8(pkcs8).unwrap())
    }

    /// A fresh key that can sign `alg` (RSA: the 2048-bit fixture; HMAC: a 64-byte secret).
    pub fn for_alg(alg: impl AsRef<str>) -> TestKey {
        let rng = SystemRandom::new();
        let ecdsa = |signing: &'static sig::EcdsaSigningAlgorithm, crv| {
            let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
            TestKey::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap(),
                crv,
            )
        };
        match alg.as_ref() {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
                TestKey::rsa(fixtures::RSA_2048_PKCS8)
            }
            "ES256" => ecdsa(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            "ES384" => ecdsa(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            "ES512" => {
                let mut scalar = [0u8; 66];
                ring::rand::SecureRandom::fill(&rng, &mut scalar[2..]).unwrap();
                TestKey::P521(p521::ecdsa::SigningKey::from_slice(&scalar).unwrap())
            }
            "EdDSA" => {
                let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                TestKey::Ed25519(sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
            }
            "HS256" | "HS384" | "HS512" => {
                let mut secret = vec![0u8; 64];
                ring::rand::SecureRandom::fill(&rng, &mut secret).unwrap();
                TestKey::Hmac(secret)
            }
            other => panic!("no test key for algorithm {other}"),
        }
    }

    /// The public JWK (no `kid`, no `alg`).
    pub fn jwk(&self) -> Value {
        match self {
            TestKey::Rsa(pair) => {
                let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({ "kty": "RSA", "n": b64(&public.n), "e": b64(&public.e) })
            }
            TestKey::Ecdsa(pair, crv) => {
                // Uncompressed SEC1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                json!({
                    "kty": "EC", "crv": crv,
                    "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
                })
            }
            TestKey::P521(key) => {
                let point = p521::ecdsa::VerifyingKey::from(key).to_encoded_point(false);
                json!({
                    "kty": "EC", "crv": "P-521",
                    "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
                })
            }
            TestKey::Ed25519(pair) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
            }),
            TestKey::Hmac(secret) => json!({ "kty": "oct", "k": b64(secret) }),
        }
    }

    /// The public JWK with a `kid`.
    pub fn jwk_with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk();
        jwk["kid"] = json!(kid);
        jwk
    }

    /// The public key as raw bytes: the uncompressed EC point, the Ed25519 key, the RSA
    /// SubjectPublicKeyInfo's key (PKCS#1), or the HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            TestKey::Rsa(pair) => pair.public_key().as_ref().to_vec(),
            TestKey::Ecdsa(pair, _) => pair.public_key().as_ref().to_vec(),
            TestKey::P521(key) => p521::ecdsa::VerifyingKey::from(key)
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            TestKey::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            TestKey::Hmac(secret) => secret.clone(),
        }
    }

    /// The JWS signature of `message` under `alg`.
    pub fn sign(&self, alg: impl AsRef<str>, message: &[u8]) -> Vec<u8> {
        let alg = alg.as_ref();
        let rng = SystemRandom::new();
        match self {
            TestKey::Rsa(pair) => {
                let padding: &'static dyn sig::RsaEncoding = match alg {
                    "RS256" => &sig::RSA_PKCS1_SHA256,
                    "RS384" => &sig::RSA_PKCS1_SHA384,
                    "RS512" => &sig::RSA_PKCS1_SHA512,
                    "PS256" => &sig::RSA_PSS_SHA256,
                    "PS384" => &sig::RSA_PSS_SHA384,
                    "PS512" => &sig::RSA_PSS_SHA512,
                    other => panic!("RSA key cannot sign {other}"),
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, message, &mut out).unwrap();
                out
            }
            TestKey::Ecdsa(pair, _) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            TestKey::P521(key) => {
                let signature: p521::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            TestKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            TestKey::Hmac(secret) => hmac(alg, secret, message),
        }
    }

    /// A signed compact token with this header (whose `alg` picks the signature) and claims.
    pub fn token(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap();
        sign_token(header, claims, |input| self.sign(alg, input))
    }
}

/// A key bound to the one algorithm it signs: the usual shape in integration tests.
pub struct SigningKey {
    alg: &'static str,
    key: TestKey,
}

impl SigningKey {
    /// A fresh key for `alg` (one of [`ALGORITHMS`]).
    pub fn new(alg: &str) -> SigningKey {
        let alg = ALGORITHMS
            .into_iter()
            .find(|name| *name == alg)
            .unwrap_or_else(|| panic!("unknown algorithm {alg}"));
        SigningKey {
            alg,
            key: TestKey::for_alg(alg),
        }
    }

    pub fn es256() -> SigningKey {
        SigningKey::new("ES256")
    }

    pub fn ed25519() -> SigningKey {
        SigningKey::new("EdDSA")
    }

    /// The JWS `alg` this key signs.
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// See [`TestKey::public_bytes`].
    pub fn public_bytes(&self) -> Vec<u8> {
        self.key.public_bytes()
    }

    /// The public JWK with `kid` (and no `alg`).
    pub fn jwk(&self, kid: &str) -> Value {
        self.key.jwk_with_kid(kid)
    }

    /// The public JWK as identity providers publish it: with `kid`, `alg` and `use: sig`.
    pub fn published_jwk(&self, kid: &str) -> Value {
        let mut jwk = self.jwk(kid);
        jwk["alg"] = json!(self.alg);
        jwk["use"] = json!("sig");
        jwk
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(self.alg, message)
    }

    /// A token signed by this key, with `typ: JWT` and `kid` in its header (`None`: no
    /// `kid`).
    pub fn token(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": self.alg, "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        sign_token(&header, claims, |input| self.sign(input))
    }
}

/// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(sign(signing input))` (RFC 7515 §7.1).
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
    sign_token(header, claims, |input| hmac("HS256", secret, input))
}

fn hmac(alg: &str, secret: &[u8], message: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        "HS256" => ring::hmac::HMAC_SHA256,
        "HS384" => ring::hmac::HMAC_SHA384,
        "HS512" => ring::hmac::HMAC_SHA512,
        other => panic!("an HMAC key cannot sign {other}"),
    };
    ring::hmac::sign(&ring::hmac::Key::new(algorithm, secret), message)
        .as_ref()
        .to_vec()
}

/// A `{ "keys": [...] }` document.
pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}
