//! Times JWT verification per algorithm. Build for wasm32-wasip1 and run under a WASI host
//! (Node's `node:wasi` runs V8, the engine Envoy embeds), or natively for the ratio.
//! Exactly one backend feature: `ring` or `jwt-simple`.

use std::time::Instant;

const RSA_2048_PKCS8: &[u8] = include_bytes!("../../../tests/fixtures/keys/test-only-rsa-2048.pk8.der");
#[cfg_attr(not(feature = "ring"), allow(dead_code))]
const CLAIMS: &str = r#"{"iss":"https://issuer.example","sub":"user-1","aud":"api","exp":4102444800,"iat":1700000000}"#;

fn iterations() -> u32 {
    std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn report(name: &str, iterations: u32, mut verify: impl FnMut() -> bool) {
    for _ in 0..10 {
        assert!(verify(), "{name}: warm-up verification failed");
    }
    let start = Instant::now();
    for _ in 0..iterations {
        assert!(verify(), "{name}: verification failed");
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!("{name:6} {per:10.1} us/verify  ({iterations} iterations)");
}

#[cfg(feature = "ring")]
mod backend {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use claimcheck::crypto::RingVerifier;
    use claimcheck::jwks::{KeyPolicy, KeySet};
    use claimcheck::jwt::{decode, verify, Algorithm};
    use p521::ecdsa::signature::Signer;
    use ring::rand::SystemRandom;
    use ring::signature::{self as sig, KeyPair};

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}","kid":"k"}}"#).as_bytes()),
            b64(CLAIMS.as_bytes())
        );
        let signature = sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    fn run(name: &str, token: String, jwk: serde_json::Value, alg: Algorithm, n: u32) {
        let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
        let keys = KeySet::parse(jwks.as_bytes(), &KeyPolicy { algorithms: vec![alg] })
            .expect("key set")
            .keys;
        report(name, n, || {
            decode(&token)
                .map(|jwt| verify(&jwt, &keys, &RingVerifier).is_ok())
                .unwrap_or(false)
        });
    }

    pub fn main() {
        let n = iterations();
        let rng = SystemRandom::new();

        let rsa = sig::RsaKeyPair::from_pkcs8(RSA_2048_PKCS8).expect("rsa key");
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
        let rsa_jwk = serde_json::json!({
            "kty": "RSA", "kid": "k", "n": b64(&public.n), "e": b64(&public.e),
        });
        for (name, alg, padding) in [
            ("RS256", Algorithm::RS256, &sig::RSA_PKCS1_SHA256 as &'static dyn sig::RsaEncoding),
            ("PS256", Algorithm::PS256, &sig::RSA_PSS_SHA256),
        ] {
            let t = token(name, |m| {
                let mut out = vec![0; rsa.public().modulus_len()];
                rsa.sign(padding, &rng, m, &mut out).expect("rsa sign");
                out
            });
            run(name, t, rsa_jwk.clone(), alg, n);
        }

        for (name, alg, signing, len) in [
            ("ES256", Algorithm::ES256, &sig::ECDSA_P256_SHA256_FIXED_SIGNING, 32),
            ("ES384", Algorithm::ES384, &sig::ECDSA_P384_SHA384_FIXED_SIGNING, 48),
        ] {
            let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("ec gen");
            let pair = sig::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).expect("ec key");
            let point = pair.public_key().as_ref();
            let jwk = serde_json::json!({
                "kty": "EC", "kid": "k", "crv": if len == 32 { "P-256" } else { "P-384" },
                "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
            });
            let t = token(name, |m| pair.sign(&rng, m).expect("ec sign").as_ref().to_vec());
            run(name, t, jwk, alg, n);
        }

        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let p521_key = p521::ecdsa::SigningKey::from_slice(&scalar).expect("p521 key");
        let point = p521::ecdsa::VerifyingKey::from(&p521_key).to_encoded_point(false);
        let jwk = serde_json::json!({
            "kty": "EC", "kid": "k", "crv": "P-521",
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        });
        let t = token("ES512", |m| {
            let s: p521::ecdsa::Signature = p521_key.sign(m);
            s.to_bytes().to_vec()
        });
        run("ES512", t, jwk, Algorithm::ES512, n);

        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).expect("ed gen");
        let ed = sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed key");
        let jwk = serde_json::json!({
            "kty": "OKP", "kid": "k", "crv": "Ed25519", "x": b64(ed.public_key().as_ref()),
        });
        let t = token("EdDSA", |m| ed.sign(m).as_ref().to_vec());
        run("EdDSA", t, jwk, Algorithm::EdDSA, n);

        let secret = [0x42u8; 32];
        let jwk = serde_json::json!({ "kty": "oct", "kid": "k", "k": b64(&secret) });
        let hkey = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let t = token("HS256", |m| ring::hmac::sign(&hkey, m).as_ref().to_vec());
        run("HS256", t, jwk, Algorithm::HS256, n);
    }
}

#[cfg(feature = "jwt-simple")]
mod backend {
    use super::*;
    use jwt_simple::prelude::*;

    fn run(name: &str, n: u32, verify: impl FnMut() -> bool) {
        report(name, n, verify);
    }

    pub fn main() {
        let n = iterations();
        let claims = || Claims::create(Duration::from_hours(1)).with_issuer("https://issuer.example");

        let rs = RS256KeyPair::from_der(RSA_2048_PKCS8).expect("rsa key");
        let t = rs.sign(claims()).expect("sign");
        let pk = rs.public_key();
        run("RS256", n, || pk.verify_token::<NoCustomClaims>(&t, None).is_ok());

        let ps = PS256KeyPair::from_der(RSA_2048_PKCS8).expect("rsa key");
        let t = ps.sign(claims()).expect("sign");
        let pk = ps.public_key();
        run("PS256", n, || pk.verify_token::<NoCustomClaims>(&t, None).is_ok());

        let es = ES256KeyPair::generate();
        let t = es.sign(claims()).expect("sign");
        let pk = es.public_key();
        run("ES256", n, || pk.verify_token::<NoCustomClaims>(&t, None).is_ok());

        let es = ES384KeyPair::generate();
        let t = es.sign(claims()).expect("sign");
        let pk = es.public_key();
        run("ES384", n, || pk.verify_token::<NoCustomClaims>(&t, None).is_ok());

        println!("ES512  not supported by jwt-simple");

        let ed = Ed25519KeyPair::generate();
        let t = ed.sign(claims()).expect("sign");
        let pk = ed.public_key();
        run("EdDSA", n, || pk.verify_token::<NoCustomClaims>(&t, None).is_ok());

        let hs = HS256Key::from_bytes(&[0x42u8; 32]);
        let t = hs.authenticate(claims()).expect("sign");
        run("HS256", n, || hs.verify_token::<NoCustomClaims>(&t, None).is_ok());
    }
}

fn main() {
    #[cfg(any(feature = "ring", feature = "jwt-simple"))]
    backend::main();
    #[cfg(not(any(feature = "ring", feature = "jwt-simple")))]
    eprintln!("build with --features ring or --features jwt-simple");
}
