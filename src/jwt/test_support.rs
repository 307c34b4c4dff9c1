//! The unit tests' view of the workspace test kit (`tests/kit`): its keys and tokens, plus
//! the two helpers that need the crate's own types.

pub use claimcheck_testkit::fixtures::{
    RSA_1024_JWK, RSA_2048_PKCS8, RSA_2048_SPKI, RSA_3072_PKCS8, RSA_3072_SPKI,
};
pub use claimcheck_testkit::{b64, sign_token, TestKey};
use serde_json::{json, Value};

use crate::jwa::Algorithm;
use crate::jwks::{KeyPolicy, KeySet};

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
