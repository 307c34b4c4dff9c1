//! Test-only key generation and token signing (ring signs; RSA keys come from fixtures).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p521::ecdsa::signature::Signer as _;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};
use serde_json::{json, Value};

use crate::jwks::{KeyPolicy, KeySet};
use crate::jwt::Algorithm;

pub const RSA_1024_JWK: &str =
    include_str!("../../tests/fixtures/keys/test-only-rsa-1024.jwk.json");
pub const RSA_2048_PKCS8: &[u8] =
    include_bytes!("../../tests/fixtures/keys/test-only-rsa-2048.pk8.der");
pub const RSA_2048_SPKI: &[u8] =
    include_bytes!("../../tests/fixtures/keys/test-only-rsa-2048.spki.der");
pub const RSA_3072_PKCS8: &[u8] =
    include_bytes!("../../tests/fixtures/keys/test-only-rsa-3072.pk8.der");
pub const RSA_3072_SPKI: &[u8] =
    include_bytes!("../../tests/fixtures/keys/test-only-rsa-3072.spki.der");

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key able to sign for one algorithm family, and its public JWK.
pub enum TestKey {
    Rsa(sig::RsaKeyPair),
    Ecdsa(sig::EcdsaKeyPair, &'static str),
    P521(p521::ecdsa::SigningKey),
    Ed25519(sig::Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl TestKey {
    pub fn rsa(pkcs8: &[u8]) -> TestKey {
        TestKey::Rsa(sig::RsaKeyPair::from_pkcs8(pkcs8).unwrap())
    }

    /// A fresh key that can sign `alg` (RSA from the 2048-bit fixture).
    pub fn for_alg(alg: Algorithm) -> TestKey {
        let rng = SystemRandom::new();
        let ecdsa = |signing: &'static sig::EcdsaSigningAlgorithm, crv| {
            let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
            TestKey::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap(),
                crv,
            )
        };
        match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => TestKey::rsa(RSA_2048_PKCS8),
            Algorithm::ES256 => ecdsa(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            Algorithm::ES384 => ecdsa(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            Algorithm::ES512 => {
                let mut scalar = [0u8; 66];
                ring::rand::SecureRandom::fill(&rng, &mut scalar[2..]).unwrap();
                TestKey::P521(p521::ecdsa::SigningKey::from_slice(&scalar).unwrap())
            }
            Algorithm::EdDSA => {
                let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                TestKey::Ed25519(sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let mut secret = vec![0u8; 64];
                ring::rand::SecureRandom::fill(&rng, &mut secret).unwrap();
                TestKey::Hmac(secret)
            }
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

    /// The JWK with a `kid`.
    pub fn jwk_with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk();
        jwk["kid"] = json!(kid);
        jwk
    }

    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            TestKey::Rsa(pair) => {
                let padding: &'static dyn sig::RsaEncoding = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
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
            TestKey::Hmac(secret) => {
                let algorithm = match alg {
                    Algorithm::HS256 => ring::hmac::HMAC_SHA256,
                    Algorithm::HS384 => ring::hmac::HMAC_SHA384,
                    _ => ring::hmac::HMAC_SHA512,
                };
                ring::hmac::sign(&ring::hmac::Key::new(algorithm, secret), message)
                    .as_ref()
                    .to_vec()
            }
        }
    }

    /// A signed compact token with this header and claims.
    pub fn token(&self, header: &Value, claims: &Value) -> String {
        let alg = Algorithm::from_name(header["alg"].as_str().unwrap()).unwrap();
        sign_token(header, claims, |input| self.sign(alg, input))
    }
}

/// Encodes header and claims and appends `sign(signing_input)`.
pub fn sign_token(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

pub fn claims() -> Value {
    json!({ "iss": "https://issuer.example", "sub": "user-1", "exp": 4102444800u64 })
}

/// A key set from JWK values, allowing `algorithms`.
pub fn key_set(jwks: &[Value], algorithms: &[Algorithm]) -> KeySet {
    let document = json!({ "keys": jwks }).to_string();
    KeySet::parse(
        document.as_bytes(),
        &KeyPolicy {
            algorithms: algorithms.to_vec(),
        },
    )
    .unwrap()
    .keys
}

/// [`verify`](crate::jwt::verify) through both verifiers — in the VM, and the host path
/// against the harness's native `verify_signature` — asserting they agree. Every token test
/// that verifies goes through here, which makes the suite a differential test of the two.
pub fn verify_both(
    jwt: &crate::jwt::DecodedJwt,
    keys: &KeySet,
) -> Result<(), crate::jwt::VerifyError> {
    let in_vm = crate::jwt::verify(jwt, keys, &crate::crypto::RingVerifier);
    let on_host = crate::jwt::verify(jwt, keys, &crate::crypto::tests::honest_host());
    assert_eq!(in_vm, on_host, "the in-VM and host verifiers disagree");
    in_vm
}
