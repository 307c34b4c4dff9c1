//! JWK thumbprints (RFC 7638): what an access token's `cnf.jkt` names (RFC 9449 §6.1).

use base64::Engine;
use serde_json::{Map, Value};

use crate::jwt::BASE64URL_STRICT;

/// The required members of each key type, in the lexicographic order §3.2 serialises them.
fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    match kty {
        "RSA" => Some(&["e", "kty", "n"]),
        "EC" => Some(&["crv", "kty", "x", "y"]),
        "OKP" => Some(&["crv", "kty", "x"]),
        _ => None,
    }
}

/// base64url(SHA-256(the JWK's required members as compact JSON in lexicographic order))
/// (RFC 7638 §3). `None` for a key type with no public thumbprint here (`oct` is never a
/// proof key) or a required member that is not a string.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let kty = jwk.get("kty")?.as_str()?;
    let mut canonical = String::with_capacity(256);
    canonical.push('{');
    for (index, member) in required_members(kty)?.iter().enumerate() {
        let value = jwk.get(*member)?.as_str()?;
        if index > 0 {
            canonical.push(',');
        }
        // Member names and base64url values need no escaping; serde_json writes any other
        // character exactly as §3.3 requires (no insignificant whitespace, minimal escapes).
        canonical.push_str(&Value::from(*member).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(sha256_b64(canonical.as_bytes()))
}

/// base64url(SHA-256(bytes)): the `ath` of an access token (RFC 9449 §4.2) and a thumbprint.
pub fn sha256_b64(bytes: &[u8]) -> String {
    BASE64URL_STRICT.encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn rfc7638_example_rsa_key_has_the_published_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = object(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc9449_example_key_has_the_published_jkt() {
        // RFC 9449 §4.1 proof key and its `cnf.jkt` in §6.1.
        let jwk = object(json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        }));
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
    }

    #[test]
    fn optional_members_do_not_change_the_thumbprint() {
        let bare = object(json!({"kty": "OKP", "crv": "Ed25519", "x": "abc"}));
        let mut dressed = bare.clone();
        dressed.insert("kid".into(), json!("k1"));
        dressed.insert("use".into(), json!("sig"));
        assert_eq!(jwk_thumbprint(&bare), jwk_thumbprint(&dressed));
    }

    #[test]
    fn keys_without_their_required_members_have_no_thumbprint() {
        assert_eq!(
            jwk_thumbprint(&object(json!({"kty": "EC", "crv": "P-256", "x": "a"}))),
            None
        );
        assert_eq!(
            jwk_thumbprint(&object(json!({"kty": "oct", "k": "a"}))),
            None
        );
        assert_eq!(
            jwk_thumbprint(&object(json!({"kty": "RSA", "n": 1, "e": "AQAB"}))),
            None
        );
    }

    #[test]
    fn rfc9449_example_access_token_has_the_published_ath() {
        // RFC 9449 §7.1.
        assert_eq!(
            sha256_b64(b"Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
