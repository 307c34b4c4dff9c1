//! Test keys, tokens and a configured host.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use claimcheck_harness::{wasm_path_from_env_or, Host, HttpStream, VmId};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// The harness clock starts here; tokens are minted relative to it.
pub fn host_now_s(host: &Host) -> u64 {
    host.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn build_host(clusters: &[&str]) -> Host {
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    Host::builder()
        .wasm(wasm)
        .clusters(clusters.iter().copied())
        .start_time(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000))
        .build()
        .unwrap()
}

/// An ES256 signing key with its `kid`.
pub struct SigningKey {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        SigningKey {
            kid: kid.to_owned(),
            pair,
        }
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()}).to_string()
}

pub const ISSUER: &str = "https://idp.test";

/// Claims valid for an hour from `now`.
pub fn claims(now: u64, extra: Value) -> Value {
    let mut claims =
        json!({"iss": ISSUER, "sub": "alice", "aud": "api", "iat": now, "exp": now + 3600});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            claims.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// GET `path` with a bearer token (if any) and extra headers.
pub fn get(
    host: &Host,
    vm: VmId,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
) -> HttpStream {
    let stream = host.http_stream(vm).unwrap();
    let authorization = token.map(|token| format!("Bearer {token}"));
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", "api.test"),
        (":scheme", "http"),
    ];
    if let Some(value) = &authorization {
        headers.push(("authorization", value));
    }
    headers.extend_from_slice(extra);
    stream.send_request_headers(&headers, true).unwrap();
    stream
}
