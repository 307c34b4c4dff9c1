use serde_json::json;

use super::test_support::{b64, claims, key_set, sign_token, verify_both, TestKey, RSA_3072_PKCS8};
use super::*;
use crate::jwks::{KeyMaterial, KeySet, VerifyingKey};

fn encode_parts(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

const GOOD_PAYLOAD: &str = r#"{"sub":"user-1"}"#;

// ---- decode: shape and encoding ----

#[test]
fn a_well_formed_token_decodes_into_header_claims_and_signing_input() {
    let token = encode_parts(
        r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
        GOOD_PAYLOAD,
        b"sig",
    );
    let jwt = decode(&token).unwrap();
    assert_eq!(
        jwt.header(),
        &Header {
            alg: Algorithm::RS256,
            kid: Some("k1".into()),
            typ: Some("JWT".into())
        }
    );
    assert_eq!(jwt.claims()["sub"], json!("user-1"));
    let (input, _) = token.rsplit_once('.').unwrap();
    assert_eq!(jwt.signing_input(), input.as_bytes());
    assert_eq!(jwt.signature(), b"sig");
    assert_eq!(jwt.payload_b64(), token.split('.').nth(1).unwrap());
}

#[test]
fn kid_and_typ_are_optional() {
    let jwt = decode(&encode_parts(r#"{"alg":"ES256"}"#, GOOD_PAYLOAD, b"s")).unwrap();
    assert_eq!(jwt.header().kid, None);
    assert_eq!(jwt.header().typ, None);
}

#[test]
fn token_refusals_name_their_reason() {
    let h = b64(br#"{"alg":"RS256"}"#);
    let p = b64(GOOD_PAYLOAD.as_bytes());
    let cases: Vec<(&str, String, JwtError)> = vec![
        ("two parts", format!("{h}.{p}"), JwtError::Malformed),
        (
            "four parts",
            format!("{h}.{p}.c2ln.c2ln"),
            JwtError::Malformed,
        ),
        ("one part", h.clone(), JwtError::Malformed),
        ("empty", String::new(), JwtError::Malformed),
        (
            "five parts is JWE",
            format!("{h}.a.b.c.d"),
            JwtError::Encrypted,
        ),
        (
            "padding",
            format!("{h}.{p}.c2lnbg=="),
            JwtError::Base64(Segment::Signature),
        ),
        (
            "plus sign",
            format!("{h}.{p}.ab+c"),
            JwtError::Base64(Segment::Signature),
        ),
        (
            "slash",
            format!("{h}.{p}.ab/c"),
            JwtError::Base64(Segment::Signature),
        ),
        // "c2lnbh" decodes to "sign" with non-zero trailing bits: a second spelling of "c2lnbg".
        (
            "trailing bits",
            format!("{h}.{p}.c2lnbh"),
            JwtError::Base64(Segment::Signature),
        ),
        (
            "bad header b64",
            format!("{h}=.{p}.c2ln"),
            JwtError::Base64(Segment::Header),
        ),
        (
            "bad payload b64",
            format!("{h}.{p}*.c2ln"),
            JwtError::Base64(Segment::Payload),
        ),
        (
            "empty signature",
            format!("{h}.{p}."),
            JwtError::MissingSignature,
        ),
        (
            "too long",
            format!("{h}.{}.c2ln", "A".repeat(MAX_TOKEN_LEN)),
            JwtError::TooLong,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(decode(&token), Err(expected), "case: {name}");
    }
}

#[test]
fn header_refusals_name_their_reason() {
    let cases: Vec<(&str, String, JwtError)> = vec![
        ("not json", "alg".into(), JwtError::HeaderNotJsonObject),
        (
            "array",
            r#"["RS256"]"#.into(),
            JwtError::HeaderNotJsonObject,
        ),
        ("missing alg", r#"{"kid":"a"}"#.into(), JwtError::MissingAlg),
        ("alg none", r#"{"alg":"none"}"#.into(), JwtError::AlgNone),
        (
            "alg unknown",
            r#"{"alg":"RS1"}"#.into(),
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "alg None case",
            r#"{"alg":"None"}"#.into(),
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "alg lowercase",
            r#"{"alg":"rs256"}"#.into(),
            JwtError::UnsupportedAlgorithm,
        ),
        (
            "alg number",
            r#"{"alg":256}"#.into(),
            JwtError::InvalidHeaderMember("alg"),
        ),
        (
            "kid number",
            r#"{"alg":"RS256","kid":1}"#.into(),
            JwtError::InvalidHeaderMember("kid"),
        ),
        (
            "typ null",
            r#"{"alg":"RS256","typ":null}"#.into(),
            JwtError::InvalidHeaderMember("typ"),
        ),
        (
            "crit",
            r#"{"alg":"RS256","crit":["exp"],"exp":1}"#.into(),
            JwtError::CriticalHeader,
        ),
        (
            "jku",
            r#"{"alg":"RS256","jku":"https://a/k"}"#.into(),
            JwtError::KeyReferenceInHeader("jku"),
        ),
        (
            "x5u",
            r#"{"alg":"RS256","x5u":"https://a/c"}"#.into(),
            JwtError::KeyReferenceInHeader("x5u"),
        ),
        (
            "jwk",
            r#"{"alg":"RS256","jwk":{"kty":"oct"}}"#.into(),
            JwtError::KeyReferenceInHeader("jwk"),
        ),
        (
            "duplicate alg",
            r#"{"alg":"HS256","alg":"RS256"}"#.into(),
            JwtError::HeaderDuplicateMember,
        ),
        (
            "duplicate kid",
            r#"{"alg":"RS256","kid":"a","kid":"b"}"#.into(),
            JwtError::HeaderDuplicateMember,
        ),
        (
            "too long",
            format!(
                r#"{{"alg":"RS256","x":"{}"}}"#,
                "a".repeat(MAX_HEADER_JSON_LEN)
            ),
            JwtError::HeaderTooLong,
        ),
    ];
    for (name, header, expected) in cases {
        assert_eq!(
            decode(&encode_parts(&header, GOOD_PAYLOAD, b"sig")),
            Err(expected),
            "case: {name}"
        );
    }
}

#[test]
fn payload_refusals_name_their_reason() {
    let cases = [
        ("string", r#""claims""#, JwtError::PayloadNotJsonObject),
        ("array", r#"[1]"#, JwtError::PayloadNotJsonObject),
        ("not json", "Payload", JwtError::PayloadNotJsonObject),
        (
            "trailing garbage",
            r#"{"a":1}x"#,
            JwtError::PayloadNotJsonObject,
        ),
        (
            "duplicate claim",
            r#"{"sub":"a","sub":"admin"}"#,
            JwtError::PayloadDuplicateMember,
        ),
    ];
    for (name, payload, expected) in cases {
        assert_eq!(
            decode(&encode_parts(r#"{"alg":"RS256"}"#, payload, b"sig")),
            Err(expected),
            "case: {name}"
        );
    }
}

#[test]
fn a_token_of_exactly_the_maximum_length_is_decoded() {
    let prefix = encode_parts(r#"{"alg":"HS256"}"#, GOOD_PAYLOAD, b"");
    // Pad the signature segment with base64url "A"s (zero bytes) up to the limit; 4-char groups
    // keep it canonical.
    let room = (MAX_TOKEN_LEN - prefix.len()) / 4 * 4;
    let token = format!("{prefix}{}", "A".repeat(room));
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert!(decode(&token).is_ok());
}

#[test]
fn errors_never_echo_token_content() {
    let token = encode_parts(r#"{"alg":"<script>"}"#, GOOD_PAYLOAD, b"sig");
    let message = decode(&token).unwrap_err().to_string();
    assert!(!message.contains("script"), "{message}");
}

// ---- verify: every algorithm, key selection ----

fn signed(key: &TestKey, alg: Algorithm, kid: Option<&str>) -> DecodedJwt {
    let mut header = json!({ "alg": alg.as_str() });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    decode(&key.token(&header, &claims())).unwrap()
}

#[test]
fn every_algorithm_verifies_with_a_matching_key() {
    for alg in Algorithm::ALL {
        let key = TestKey::for_alg(alg);
        let keys = key_set(&[key.jwk_with_kid("k1")], &[alg]);
        let jwt = signed(&key, alg, Some("k1"));
        assert_eq!(verify_both(&jwt, &keys), Ok(()), "{alg}");
    }
}

#[test]
fn every_algorithm_verifies_without_a_kid() {
    for alg in Algorithm::ALL {
        let key = TestKey::for_alg(alg);
        let keys = key_set(&[key.jwk()], &[alg]);
        assert_eq!(
            verify_both(&signed(&key, alg, None), &keys),
            Ok(()),
            "{alg}"
        );
    }
}

#[test]
fn a_3072_bit_rsa_key_verifies_every_rsa_algorithm() {
    let key = TestKey::rsa(RSA_3072_PKCS8);
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        let keys = key_set(&[key.jwk()], &[alg]);
        assert_eq!(
            verify_both(&signed(&key, alg, None), &keys),
            Ok(()),
            "{alg}"
        );
    }
}

#[test]
fn flipping_any_bit_of_the_signature_fails_verification() {
    for alg in Algorithm::ALL {
        let key = TestKey::for_alg(alg);
        let keys = key_set(&[key.jwk()], &[alg]);
        let header = json!({ "alg": alg.as_str() });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        let signature = key.sign(alg, input.as_bytes());
        for bit in 0..signature.len() * 8 {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let jwt = decode(&format!("{input}.{}", b64(&flipped))).unwrap();
            assert_eq!(
                verify_both(&jwt, &keys),
                Err(VerifyError::SignatureInvalid),
                "{alg}: bit {bit}"
            );
        }
    }
}

#[test]
fn a_changed_payload_fails_verification() {
    let key = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(&[key.jwk()], &[Algorithm::ES256]);
    let token = key.token(&json!({"alg": "ES256"}), &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = b64(br#"{"sub":"admin"}"#);
    let jwt = decode(&parts.join(".")).unwrap();
    assert_eq!(verify_both(&jwt, &keys), Err(VerifyError::SignatureInvalid));
}

#[test]
fn truncated_and_extended_signatures_fail_verification() {
    for alg in Algorithm::ALL {
        let key = TestKey::for_alg(alg);
        let keys = key_set(&[key.jwk()], &[alg]);
        let header = json!({ "alg": alg.as_str() });
        let signature = |input: &[u8]| key.sign(alg, input);
        let shorter = sign_token(&header, &claims(), |i| {
            let mut s = signature(i);
            s.pop();
            s
        });
        let longer = sign_token(&header, &claims(), |i| {
            let mut s = signature(i);
            s.push(0);
            s
        });
        for token in [shorter, longer] {
            assert_eq!(
                verify_both(&decode(&token).unwrap(), &keys),
                Err(VerifyError::SignatureInvalid),
                "{alg}"
            );
        }
    }
}

#[test]
fn an_algorithm_outside_the_providers_list_is_not_allowed() {
    let key = TestKey::for_alg(Algorithm::RS256);
    let keys = key_set(&[key.jwk()], &[Algorithm::RS256]);
    let jwt = signed(&key, Algorithm::RS512, None);
    assert_eq!(
        verify_both(&jwt, &keys),
        Err(VerifyError::AlgorithmNotAllowed)
    );
}

#[test]
fn unknown_kid_is_reported_as_key_not_found() {
    let key = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(&[key.jwk_with_kid("known")], &[Algorithm::ES256]);
    let jwt = signed(&key, Algorithm::ES256, Some("rotated"));
    assert_eq!(verify_both(&jwt, &keys), Err(VerifyError::KeyNotFound));
}

#[test]
fn no_kid_and_no_key_for_the_algorithm_is_key_not_found() {
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let ec = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(&[rsa.jwk()], &[Algorithm::RS256, Algorithm::ES256]);
    let jwt = signed(&ec, Algorithm::ES256, None);
    assert_eq!(verify_both(&jwt, &keys), Err(VerifyError::KeyNotFound));
}

#[test]
fn kid_matching_a_key_of_another_family_is_an_algorithm_key_mismatch() {
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let ec = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(
        &[rsa.jwk_with_kid("shared")],
        &[Algorithm::RS256, Algorithm::ES256],
    );
    let jwt = signed(&ec, Algorithm::ES256, Some("shared"));
    assert_eq!(
        verify_both(&jwt, &keys),
        Err(VerifyError::AlgorithmKeyMismatch)
    );
}

#[test]
fn a_kid_match_is_not_bypassed_by_another_key_that_could_verify() {
    // The token names k-rsa; an EC key that could verify ES256 exists under another kid. The
    // kid decides the candidates, so the EC key is never tried.
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let ec = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(
        &[rsa.jwk_with_kid("k-rsa"), ec.jwk_with_kid("k-ec")],
        &[Algorithm::RS256, Algorithm::ES256],
    );
    let jwt = signed(&ec, Algorithm::ES256, Some("k-rsa"));
    assert_eq!(
        verify_both(&jwt, &keys),
        Err(VerifyError::AlgorithmKeyMismatch)
    );
}

#[test]
fn without_kid_every_capable_key_is_tried() {
    let first = TestKey::for_alg(Algorithm::ES256);
    let second = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(&[first.jwk(), second.jwk()], &[Algorithm::ES256]);
    let jwt = signed(&second, Algorithm::ES256, None);
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}

#[test]
fn different_keys_sharing_a_kid_are_all_tried() {
    let old = TestKey::for_alg(Algorithm::ES256);
    let new = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(
        &[old.jwk_with_kid("same"), new.jwk_with_kid("same")],
        &[Algorithm::ES256],
    );
    assert_eq!(keys.len(), 2);
    let jwt = signed(&new, Algorithm::ES256, Some("same"));
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}

#[test]
fn a_signature_by_a_key_not_in_the_set_is_invalid() {
    let trusted = TestKey::for_alg(Algorithm::EdDSA);
    let attacker = TestKey::for_alg(Algorithm::EdDSA);
    let keys = key_set(&[trusted.jwk()], &[Algorithm::EdDSA]);
    let jwt = signed(&attacker, Algorithm::EdDSA, None);
    assert_eq!(verify_both(&jwt, &keys), Err(VerifyError::SignatureInvalid));
}

// ---- algorithm confusion (RFC 8725 §2.1, §3.1) ----

#[test]
fn an_hs256_token_signed_with_the_rsa_public_key_is_refused() {
    // The classic RS→HS confusion: the attacker uses the published RSA key bytes as an HMAC
    // secret. Even when the provider allows both RS256 and HS256, an RSA key never verifies HMAC.
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let jwk = rsa.jwk_with_kid("rsa");
    let keys = key_set(
        std::slice::from_ref(&jwk),
        &[Algorithm::RS256, Algorithm::HS256],
    );
    let spki = keys.keys()[0].material.spki_der().unwrap();
    for secret in [
        spki,
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ] {
        let hmac = TestKey::Hmac(secret);
        for kid in [Some("rsa"), None] {
            let mut header = json!({ "alg": "HS256" });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let jwt = decode(&hmac.token(&header, &claims())).unwrap();
            let expected = if kid.is_some() {
                VerifyError::AlgorithmKeyMismatch
            } else {
                VerifyError::KeyNotFound
            };
            assert_eq!(verify_both(&jwt, &keys), Err(expected));
        }
    }
}

#[test]
fn an_es256_key_never_verifies_an_es384_token() {
    let p256 = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(
        &[p256.jwk_with_kid("ec")],
        &[Algorithm::ES256, Algorithm::ES384],
    );
    let header = json!({ "alg": "ES384", "kid": "ec" });
    // An ES256 signature relabelled as ES384.
    let token = sign_token(&header, &claims(), |m| p256.sign(Algorithm::ES256, m));
    let jwt = decode(&token).unwrap();
    assert_eq!(
        verify_both(&jwt, &keys),
        Err(VerifyError::AlgorithmKeyMismatch)
    );
}

#[test]
fn an_rs256_signature_does_not_verify_as_ps256() {
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let keys = key_set(&[rsa.jwk()], &[Algorithm::RS256, Algorithm::PS256]);
    let header = json!({ "alg": "PS256" });
    let token = sign_token(&header, &claims(), |m| rsa.sign(Algorithm::RS256, m));
    assert_eq!(
        verify_both(&decode(&token).unwrap(), &keys),
        Err(VerifyError::SignatureInvalid)
    );
}

#[test]
fn alg_none_is_refused_even_with_an_empty_signature() {
    let header = b64(br#"{"alg":"none"}"#);
    let payload = b64(GOOD_PAYLOAD.as_bytes());
    assert_eq!(
        decode(&format!("{header}.{payload}.")),
        Err(JwtError::AlgNone)
    );
    assert_eq!(
        decode(&format!("{header}.{payload}.c2ln")),
        Err(JwtError::AlgNone)
    );
}

#[test]
fn a_key_restricted_by_its_jwk_alg_does_not_verify_other_algorithms() {
    let rsa = TestKey::for_alg(Algorithm::RS256);
    let mut jwk = rsa.jwk();
    jwk["alg"] = json!("RS256");
    let keys = key_set(&[jwk], &[Algorithm::RS256, Algorithm::PS256]);
    let jwt = signed(&rsa, Algorithm::PS256, None);
    assert_eq!(verify_both(&jwt, &keys), Err(VerifyError::KeyNotFound));
}

#[test]
fn verify_uses_the_verifier_only_for_candidate_keys() {
    use crate::crypto::{SignatureError, SignatureVerifier};
    use std::cell::RefCell;

    struct Recording(RefCell<Vec<Option<String>>>);
    impl SignatureVerifier for Recording {
        fn verify(
            &self,
            _alg: Algorithm,
            key: &VerifyingKey,
            _message: &[u8],
            _signature: &[u8],
        ) -> Result<(), SignatureError> {
            self.0.borrow_mut().push(key.kid.clone());
            Err(SignatureError::Invalid)
        }
    }

    let a = TestKey::for_alg(Algorithm::ES256);
    let b = TestKey::for_alg(Algorithm::ES256);
    let keys = key_set(
        &[a.jwk_with_kid("a"), b.jwk_with_kid("b")],
        &[Algorithm::ES256],
    );
    let recording = Recording(RefCell::new(Vec::new()));
    let jwt = signed(&a, Algorithm::ES256, Some("b"));
    assert_eq!(
        verify(&jwt, &keys, &recording),
        Err(VerifyError::SignatureInvalid)
    );
    assert_eq!(recording.0.into_inner(), vec![Some("b".to_owned())]);
}

#[test]
fn key_sets_built_from_prepared_keys_verify_hmac() {
    let secret = vec![7u8; 32];
    let keys = KeySet::from_keys(
        vec![VerifyingKey::new(
            None,
            vec![Algorithm::HS256],
            KeyMaterial::Hmac(secret.clone()),
        )],
        &[Algorithm::HS256],
    );
    let jwt = signed(&TestKey::Hmac(secret), Algorithm::HS256, None);
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}
