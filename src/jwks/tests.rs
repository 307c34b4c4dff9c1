use serde_json::{json, Value};

use super::*;
use crate::jwa::Algorithm;
use crate::jwt::test_support::{
    b64, TestKey, RSA_1024_JWK, RSA_2048_PKCS8, RSA_2048_SPKI, RSA_3072_PKCS8, RSA_3072_SPKI,
};

fn policy(algorithms: &[Algorithm]) -> KeyPolicy {
    KeyPolicy {
        algorithms: algorithms.to_vec(),
    }
}

fn all_algorithms() -> KeyPolicy {
    policy(&Algorithm::ALL)
}

fn parse(keys: &[Value], policy: &KeyPolicy) -> Result<ParsedKeySet, JwksError> {
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes(), policy)
}

/// The skip reason for a single JWK placed next to one good key (so the set is usable).
fn skip_reason(jwk: Value, policy: &KeyPolicy) -> Option<SkipReason> {
    let good = TestKey::for_alg(Algorithm::EdDSA).jwk();
    let mut policy = policy.clone();
    policy.algorithms.push(Algorithm::EdDSA);
    let parsed = parse(&[good, jwk], &policy).unwrap();
    parsed.skipped.first().map(|skipped| {
        assert_eq!(skipped.index, 1);
        skipped.reason
    })
}

fn with(mut jwk: Value, member: &str, value: Value) -> Value {
    jwk[member] = value;
    jwk
}

fn without(mut jwk: Value, member: &str) -> Value {
    jwk.as_object_mut().unwrap().remove(member);
    jwk
}

fn rsa_jwk() -> Value {
    TestKey::rsa(RSA_2048_PKCS8).jwk()
}

fn ec_jwk(alg: Algorithm) -> Value {
    TestKey::for_alg(alg).jwk()
}

// ---- documents ----

#[test]
fn document_refusals_name_their_reason() {
    let rs256 = policy(&[Algorithm::RS256]);
    let cases: Vec<(&str, Vec<u8>, JwksError)> = vec![
        ("not json", b"keys".to_vec(), JwksError::NotJson),
        ("no keys", b"{}".to_vec(), JwksError::MissingKeys),
        (
            "keys not array",
            br#"{"keys":{}}"#.to_vec(),
            JwksError::MissingKeys,
        ),
        (
            "a bare JWK",
            rsa_jwk().to_string().into_bytes(),
            JwksError::MissingKeys,
        ),
        (
            "empty keys",
            br#"{"keys":[]}"#.to_vec(),
            JwksError::NoUsableKeys(vec![]),
        ),
        (
            "too large",
            format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(MAX_JWKS_BYTES)).into_bytes(),
            JwksError::TooLarge,
        ),
    ];
    for (name, document, expected) in cases {
        assert_eq!(
            KeySet::parse(&document, &rs256).unwrap_err(),
            expected,
            "case: {name}"
        );
    }
}

#[test]
fn a_set_with_only_unusable_keys_is_an_error_that_lists_why() {
    let err = parse(
        &[json!({"kty": "RSA", "use": "enc"}), json!("x")],
        &all_algorithms(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        JwksError::NoUsableKeys(vec![
            SkippedKey {
                index: 0,
                kid: None,
                reason: SkipReason::NotForSignatures
            },
            SkippedKey {
                index: 1,
                kid: None,
                reason: SkipReason::NotAnObject
            },
        ])
    );
}

#[test]
fn unusable_keys_are_skipped_and_the_rest_are_kept() {
    let parsed = parse(
        &[
            json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
            with(rsa_jwk(), "kid", json!("good")),
        ],
        &all_algorithms(),
    )
    .unwrap();
    assert_eq!(parsed.keys.len(), 1);
    assert!(parsed.keys.contains_kid("good"));
    assert_eq!(
        parsed.skipped,
        vec![SkippedKey {
            index: 0,
            kid: Some("enc".into()),
            reason: SkipReason::NotForSignatures
        }]
    );
}

// ---- per-key rules ----

#[test]
fn key_refusals_name_their_reason() {
    let all = all_algorithms();
    let p256 = ec_jwk(Algorithm::ES256);
    let p521 = ec_jwk(Algorithm::ES512);
    let ed = TestKey::for_alg(Algorithm::EdDSA).jwk();
    let long_n = b64(&[0xffu8; 1025]);
    let cases: Vec<(&str, Value, SkipReason)> = vec![
        ("not an object", json!(["RSA"]), SkipReason::NotAnObject),
        (
            "no kty",
            without(rsa_jwk(), "kty"),
            SkipReason::MissingMember("kty"),
        ),
        (
            "kty number",
            with(rsa_jwk(), "kty", json!(1)),
            SkipReason::InvalidMember("kty"),
        ),
        (
            "unknown kty",
            with(rsa_jwk(), "kty", json!("DSA")),
            SkipReason::UnsupportedKeyType,
        ),
        (
            "kid number",
            with(rsa_jwk(), "kid", json!(7)),
            SkipReason::InvalidMember("kid"),
        ),
        (
            "use enc",
            with(rsa_jwk(), "use", json!("enc")),
            SkipReason::NotForSignatures,
        ),
        (
            "use number",
            with(rsa_jwk(), "use", json!(1)),
            SkipReason::InvalidMember("use"),
        ),
        (
            "key_ops without verify",
            with(rsa_jwk(), "key_ops", json!(["encrypt", "sign"])),
            SkipReason::VerifyNotPermitted,
        ),
        (
            "key_ops string",
            with(rsa_jwk(), "key_ops", json!("verify")),
            SkipReason::InvalidMember("key_ops"),
        ),
        (
            "alg unknown",
            with(rsa_jwk(), "alg", json!("RSA-OAEP")),
            SkipReason::UnsupportedAlgorithm,
        ),
        (
            "alg none",
            with(rsa_jwk(), "alg", json!("none")),
            SkipReason::UnsupportedAlgorithm,
        ),
        (
            "alg number",
            with(rsa_jwk(), "alg", json!(256)),
            SkipReason::InvalidMember("alg"),
        ),
        (
            "alg HS256 on RSA",
            with(rsa_jwk(), "alg", json!("HS256")),
            SkipReason::AlgorithmKeyTypeMismatch,
        ),
        (
            "alg ES384 on P-256",
            with(p256.clone(), "alg", json!("ES384")),
            SkipReason::AlgorithmKeyTypeMismatch,
        ),
        (
            "alg RS256 on Ed25519",
            with(ed.clone(), "alg", json!("RS256")),
            SkipReason::AlgorithmKeyTypeMismatch,
        ),
        (
            "rsa no n",
            without(rsa_jwk(), "n"),
            SkipReason::MissingMember("n"),
        ),
        (
            "rsa no e",
            without(rsa_jwk(), "e"),
            SkipReason::MissingMember("e"),
        ),
        (
            "rsa n standard base64",
            with(rsa_jwk(), "n", json!("ab+/")),
            SkipReason::InvalidMember("n"),
        ),
        (
            "rsa 1024 bits",
            serde_json::from_str(RSA_1024_JWK).unwrap(),
            SkipReason::RsaModulusTooSmall,
        ),
        (
            "rsa over 8192 bits",
            with(rsa_jwk(), "n", json!(long_n)),
            SkipReason::RsaModulusTooLarge,
        ),
        (
            "rsa even exponent",
            with(rsa_jwk(), "e", json!(b64(&[0x01, 0x00, 0x00]))),
            SkipReason::RsaExponentInvalid,
        ),
        (
            "rsa exponent 1",
            with(rsa_jwk(), "e", json!(b64(&[1]))),
            SkipReason::RsaExponentInvalid,
        ),
        (
            "rsa exponent empty",
            with(rsa_jwk(), "e", json!("")),
            SkipReason::RsaExponentInvalid,
        ),
        (
            "rsa exponent 40 bits",
            with(rsa_jwk(), "e", json!(b64(&[1, 0, 0, 0, 1]))),
            SkipReason::RsaExponentInvalid,
        ),
        (
            "ec no crv",
            without(p256.clone(), "crv"),
            SkipReason::MissingMember("crv"),
        ),
        (
            "ec secp256k1",
            with(p256.clone(), "crv", json!("secp256k1")),
            SkipReason::UnsupportedCurve,
        ),
        (
            "ec no y",
            without(p256.clone(), "y"),
            SkipReason::MissingMember("y"),
        ),
        (
            "ec short x",
            with(p256.clone(), "x", json!(b64(&[1u8; 31]))),
            SkipReason::CoordinateLength,
        ),
        (
            "ec long y",
            with(p256.clone(), "y", json!(b64(&[1u8; 33]))),
            SkipReason::CoordinateLength,
        ),
        (
            "ec P-256 coordinates on P-384",
            with(p256.clone(), "crv", json!("P-384")),
            SkipReason::CoordinateLength,
        ),
        (
            "p521 off curve",
            with(p521.clone(), "y", json!(b64(&[1u8; 66]))),
            SkipReason::InvalidPoint,
        ),
        (
            "okp X25519",
            with(ed.clone(), "crv", json!("X25519")),
            SkipReason::UnsupportedCurve,
        ),
        (
            "okp Ed448",
            with(ed.clone(), "crv", json!("Ed448")),
            SkipReason::UnsupportedCurve,
        ),
        (
            "okp short x",
            with(ed.clone(), "x", json!(b64(&[1u8; 31]))),
            SkipReason::CoordinateLength,
        ),
        (
            "oct no k",
            json!({"kty": "oct"}),
            SkipReason::MissingMember("k"),
        ),
        (
            "oct 31 bytes",
            json!({"kty": "oct", "k": b64(&[1u8; 31])}),
            SkipReason::HmacSecretTooShort,
        ),
        (
            "oct 32 bytes for HS384",
            json!({"kty": "oct", "alg": "HS384", "k": b64(&[1u8; 32])}),
            SkipReason::HmacSecretTooShort,
        ),
    ];
    for (name, jwk, expected) in cases {
        assert_eq!(skip_reason(jwk, &all), Some(expected), "case: {name}");
    }
}

#[test]
fn keys_for_algorithms_the_provider_does_not_accept_are_skipped() {
    let rs256_only = policy(&[Algorithm::RS256]);
    let cases: Vec<(&str, Value)> = vec![
        ("EC key", ec_jwk(Algorithm::ES256)),
        (
            "RSA key pinned to PS256",
            with(rsa_jwk(), "alg", json!("PS256")),
        ),
        ("HMAC key", json!({"kty": "oct", "k": b64(&[1u8; 64])})),
    ];
    for (name, jwk) in cases {
        assert_eq!(
            skip_reason(jwk, &rs256_only),
            Some(SkipReason::AlgorithmNotAllowed),
            "case: {name}"
        );
    }
}

#[test]
fn a_usable_key_of_each_type_is_kept() {
    let cases: Vec<(&str, Value)> = vec![
        ("rsa", rsa_jwk()),
        ("p256", ec_jwk(Algorithm::ES256)),
        ("p384", ec_jwk(Algorithm::ES384)),
        ("p521", ec_jwk(Algorithm::ES512)),
        ("ed25519", TestKey::for_alg(Algorithm::EdDSA).jwk()),
        ("oct", json!({"kty": "oct", "k": b64(&[1u8; 32])})),
        ("use sig", with(rsa_jwk(), "use", json!("sig"))),
        (
            "key_ops verify",
            with(rsa_jwk(), "key_ops", json!(["verify"])),
        ),
        ("padded base64", {
            let jwk = rsa_jwk();
            let padded = format!("{}==", jwk["n"].as_str().unwrap());
            with(jwk, "n", json!(padded))
        }),
    ];
    for (name, jwk) in cases {
        assert_eq!(skip_reason(jwk, &all_algorithms()), None, "case: {name}");
    }
}

#[test]
fn a_key_without_alg_may_verify_every_algorithm_of_its_type_the_provider_accepts() {
    let parsed = parse(
        &[rsa_jwk()],
        &policy(&[Algorithm::PS512, Algorithm::RS256, Algorithm::ES256]),
    )
    .unwrap();
    assert_eq!(
        parsed.keys.keys()[0].algorithms,
        vec![Algorithm::RS256, Algorithm::PS512]
    );
}

#[test]
fn a_key_with_alg_may_verify_only_that_algorithm() {
    let parsed = parse(&[with(rsa_jwk(), "alg", json!("RS384"))], &all_algorithms()).unwrap();
    assert_eq!(parsed.keys.keys()[0].algorithms, vec![Algorithm::RS384]);
}

#[test]
fn an_hmac_secret_is_kept_only_for_algorithms_its_length_allows() {
    let parsed = parse(
        &[json!({"kty": "oct", "k": b64(&[1u8; 48])})],
        &all_algorithms(),
    )
    .unwrap();
    assert_eq!(
        parsed.keys.keys()[0].algorithms,
        vec![Algorithm::HS256, Algorithm::HS384]
    );
}

#[test]
fn leading_zero_bytes_of_the_rsa_modulus_are_stripped() {
    let jwk = rsa_jwk();
    let n =
        base64::Engine::decode(&crate::jwt::BASE64URL_STRICT, jwk["n"].as_str().unwrap()).unwrap();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let parsed = parse(&[with(jwk, "n", json!(b64(&padded)))], &all_algorithms()).unwrap();
    match &parsed.keys.keys()[0].material {
        KeyMaterial::Rsa(key) => {
            assert_eq!(key.n, n);
            assert_eq!(key.bits(), 2048);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn private_members_in_a_public_jwk_are_ignored() {
    let jwk = with(ec_jwk(Algorithm::ES256), "d", json!(b64(&[1u8; 32])));
    assert_eq!(skip_reason(jwk, &all_algorithms()), None);
}

#[test]
fn hmac_secrets_never_appear_in_debug_output() {
    let parsed = parse(
        &[json!({"kty": "oct", "k": b64(b"super-secret-value-of-32-bytes!!")})],
        &all_algorithms(),
    )
    .unwrap();
    let debug = format!("{:?}", parsed.keys);
    assert!(!debug.contains("115, 117, 112"), "{debug}");
    assert!(debug.contains("32 secret bytes"), "{debug}");
}

// ---- duplicates and bounds ----

#[test]
fn exact_duplicate_keys_collapse_into_one() {
    let jwk = with(rsa_jwk(), "kid", json!("k"));
    let parsed = parse(&[jwk.clone(), jwk], &all_algorithms()).unwrap();
    assert_eq!(parsed.keys.len(), 1);
    assert!(parsed.skipped.is_empty());
}

#[test]
fn different_keys_sharing_a_kid_are_all_kept() {
    let parsed = parse(
        &[
            with(rsa_jwk(), "kid", json!("k")),
            with(ec_jwk(Algorithm::ES256), "kid", json!("k")),
        ],
        &all_algorithms(),
    )
    .unwrap();
    assert_eq!(parsed.keys.len(), 2);
}

#[test]
fn keys_beyond_the_maximum_are_skipped() {
    let keys: Vec<Value> = (0..MAX_KEYS + 2)
        .map(|i| json!({"kty": "oct", "kid": i.to_string(), "k": b64(&[i as u8; 32])}))
        .collect();
    let parsed = parse(&keys, &policy(&[Algorithm::HS256])).unwrap();
    assert_eq!(parsed.keys.len(), MAX_KEYS);
    assert_eq!(parsed.skipped.len(), 2);
    assert!(parsed
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::TooManyKeys));
}

// ---- lookup ----

/// A token header's `alg` and `kid`, as [`KeySet::candidates`] takes them.
fn header(alg: Algorithm, kid: Option<&str>) -> (Algorithm, Option<&str>) {
    (alg, kid)
}

#[test]
fn candidates_follow_the_kid_then_the_algorithm() {
    let set = parse(
        &[
            with(rsa_jwk(), "kid", json!("rsa")),
            with(ec_jwk(Algorithm::ES256), "kid", json!("ec")),
        ],
        &policy(&[Algorithm::RS256, Algorithm::ES256, Algorithm::ES384]),
    )
    .unwrap()
    .keys;
    let kids = |h: (Algorithm, Option<&str>)| {
        set.candidates(h.0, h.1).map(|keys| {
            keys.iter()
                .map(|k| k.kid.clone().unwrap())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        kids(header(Algorithm::RS256, Some("rsa"))),
        Ok(vec!["rsa".to_owned()])
    );
    assert_eq!(
        kids(header(Algorithm::ES256, None)),
        Ok(vec!["ec".to_owned()])
    );
    assert_eq!(
        kids(header(Algorithm::ES256, Some("gone"))),
        Err(NoCandidate::KeyNotFound)
    );
    assert_eq!(
        kids(header(Algorithm::ES384, None)),
        Err(NoCandidate::KeyNotFound)
    );
    assert_eq!(
        kids(header(Algorithm::ES256, Some("rsa"))),
        Err(NoCandidate::AlgorithmKeyMismatch)
    );
    assert_eq!(
        kids(header(Algorithm::HS256, Some("rsa"))),
        Err(NoCandidate::AlgorithmNotAllowed)
    );
}

#[test]
fn the_set_reports_its_size_kids_and_allowed_algorithms() {
    let set = parse(
        &[with(rsa_jwk(), "kid", json!("a"))],
        &policy(&[Algorithm::RS512, Algorithm::RS256, Algorithm::RS256]),
    )
    .unwrap()
    .keys;
    assert_eq!(set.len(), 1);
    assert!(!set.is_empty());
    assert!(set.contains_kid("a"));
    assert!(!set.contains_kid("b"));
    assert_eq!(set.algorithms(), &[Algorithm::RS256, Algorithm::RS512]);
}

// ---- SubjectPublicKeyInfo ----

#[test]
fn rsa_spki_matches_openssl_byte_for_byte() {
    for (pkcs8, spki) in [
        (RSA_2048_PKCS8, RSA_2048_SPKI),
        (RSA_3072_PKCS8, RSA_3072_SPKI),
    ] {
        let set = parse(&[TestKey::rsa(pkcs8).jwk()], &all_algorithms())
            .unwrap()
            .keys;
        assert_eq!(set.keys()[0].material.spki_der().unwrap(), spki);
    }
}

#[test]
fn ec_and_ed25519_spki_match_openssl_byte_for_byte() {
    let cases: [(&[u8], EcCurve); 3] = [
        (
            include_bytes!("../../tests/fixtures/keys/test-only-ec-P-256.spki.der"),
            EcCurve::P256,
        ),
        (
            include_bytes!("../../tests/fixtures/keys/test-only-ec-P-384.spki.der"),
            EcCurve::P384,
        ),
        (
            include_bytes!("../../tests/fixtures/keys/test-only-ec-P-521.spki.der"),
            EcCurve::P521,
        ),
    ];
    for (spki, curve) in cases {
        // The uncompressed point is the tail of OpenSSL's encoding.
        let point = spki[spki.len() - (1 + 2 * curve.coordinate_len())..].to_vec();
        assert_eq!(point[0], 0x04);
        let material = KeyMaterial::Ec(EcPublicKey { curve, point });
        assert_eq!(material.spki_der().unwrap(), spki, "{curve:?}");
    }
    let spki: &[u8] = include_bytes!("../../tests/fixtures/keys/test-only-ed25519.spki.der");
    let key: [u8; 32] = spki[spki.len() - 32..].try_into().unwrap();
    assert_eq!(KeyMaterial::Ed25519(key).spki_der().unwrap(), spki);
}

#[test]
fn ec_spki_from_a_jwk_carries_the_point_ring_verifies_with() {
    // Round trip: ring generates the key, the JWK goes through our parser, and the SPKI we
    // emit ends with exactly the public point ring reports for the private key.
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let signing = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]),
    });
    let set = parse(&[jwk], &all_algorithms()).unwrap().keys;
    let spki = set.keys()[0].material.spki_der().unwrap();
    assert_eq!(spki.len(), 91);
    assert!(spki.ends_with(point));
}

#[test]
fn hmac_keys_have_no_spki() {
    assert_eq!(KeyMaterial::Hmac(vec![1; 32]).spki_der(), None);
}

// ---- discovery ----

const ISSUER: &str = "https://idp.example/realms/main";

#[test]
fn a_discovery_document_yields_issuer_and_jwks_uri() {
    let doc = json!({
        "issuer": ISSUER,
        "jwks_uri": "https://idp.example/realms/main/certs",
        "authorization_endpoint": "https://idp.example/auth",
    });
    assert_eq!(
        parse_discovery(doc.to_string().as_bytes(), ISSUER),
        Ok(Discovery {
            issuer: ISSUER.into(),
            jwks_uri: "https://idp.example/realms/main/certs".into()
        })
    );
}

#[test]
fn discovery_refusals_name_their_reason() {
    let doc = |issuer: Value, jwks_uri: Value| {
        json!({ "issuer": issuer, "jwks_uri": jwks_uri })
            .to_string()
            .into_bytes()
    };
    let uri = json!("https://idp.example/certs");
    let cases: Vec<(&str, Vec<u8>, DiscoveryError)> = vec![
        (
            "not json",
            b"<html>".to_vec(),
            DiscoveryError::NotJsonObject,
        ),
        ("array", b"[]".to_vec(), DiscoveryError::NotJsonObject),
        (
            "no issuer",
            json!({"jwks_uri": uri}).to_string().into_bytes(),
            DiscoveryError::MissingIssuer,
        ),
        (
            "issuer number",
            doc(json!(1), uri.clone()),
            DiscoveryError::MissingIssuer,
        ),
        (
            "trailing slash",
            doc(json!(format!("{ISSUER}/")), uri.clone()),
            DiscoveryError::IssuerMismatch,
        ),
        (
            "other case",
            doc(json!(ISSUER.to_uppercase()), uri.clone()),
            DiscoveryError::IssuerMismatch,
        ),
        (
            "no jwks_uri",
            json!({"issuer": ISSUER}).to_string().into_bytes(),
            DiscoveryError::MissingJwksUri,
        ),
        (
            "relative jwks_uri",
            doc(json!(ISSUER), json!("/certs")),
            DiscoveryError::InvalidJwksUri(UrlError::UnsupportedScheme),
        ),
        (
            "ftp jwks_uri",
            doc(json!(ISSUER), json!("ftp://idp/certs")),
            DiscoveryError::InvalidJwksUri(UrlError::UnsupportedScheme),
        ),
        (
            "too large",
            format!(
                r#"{{"issuer":"{ISSUER}","pad":"{}"}}"#,
                "a".repeat(MAX_DISCOVERY_BYTES)
            )
            .into_bytes(),
            DiscoveryError::TooLarge,
        ),
    ];
    for (name, document, expected) in cases {
        assert_eq!(
            parse_discovery(&document, ISSUER),
            Err(expected),
            "case: {name}"
        );
    }
}

#[test]
fn urls_split_into_authority_and_path() {
    let cases = [
        (
            "https://idp.example/certs",
            "https",
            "idp.example",
            "/certs",
        ),
        (
            "http://127.0.0.1:8080/a/b?x=1&y=2",
            "http",
            "127.0.0.1:8080",
            "/a/b?x=1&y=2",
        ),
        ("https://idp.example", "https", "idp.example", "/"),
        ("https://idp.example?x=1", "https", "idp.example", "/?x=1"),
        ("HTTPS://idp.example/k#frag", "https", "idp.example", "/k"),
        ("https://[::1]:8443/keys", "https", "[::1]:8443", "/keys"),
    ];
    for (url, scheme, authority, path) in cases {
        assert_eq!(
            split_url(url),
            Ok(UrlParts {
                scheme: scheme.into(),
                authority: authority.into(),
                path: path.into()
            }),
            "{url}"
        );
    }
}

#[test]
fn url_refusals_name_their_reason() {
    let long = format!("https://idp.example/{}", "a".repeat(MAX_URL_LEN));
    let cases = [
        ("idp.example/certs", UrlError::UnsupportedScheme),
        ("file:///etc/passwd", UrlError::UnsupportedScheme),
        ("https:///certs", UrlError::MissingAuthority),
        ("https://", UrlError::MissingAuthority),
        ("https://user:pw@idp.example/certs", UrlError::UserInfo),
        ("https://idp.example/ce rts", UrlError::InvalidCharacter),
        ("https://idp.example/cé", UrlError::InvalidCharacter),
        ("https://idp.example/\r\nx", UrlError::InvalidCharacter),
        (long.as_str(), UrlError::TooLong),
    ];
    for (url, expected) in cases {
        assert_eq!(split_url(url), Err(expected), "{url}");
    }
}

#[test]
fn prepared_hmac_keys_keep_only_algorithms_their_length_allows() {
    let set = KeySet::from_keys(
        vec![VerifyingKey::new(
            Some("cfg".into()),
            vec![Algorithm::HS256, Algorithm::HS512, Algorithm::RS256],
            KeyMaterial::Hmac(vec![1; 32]),
        )],
        &[Algorithm::HS256, Algorithm::HS512, Algorithm::RS256],
    );
    assert_eq!(set.keys()[0].algorithms, vec![Algorithm::HS256]);
    let too_short = KeySet::from_keys(
        vec![VerifyingKey::new(
            None,
            vec![Algorithm::HS256],
            KeyMaterial::Hmac(vec![1; 16]),
        )],
        &[Algorithm::HS256],
    );
    assert!(too_short.is_empty());
}

#[test]
fn a_key_without_kid_stands_in_for_a_kid_no_key_carries() {
    let set = parse(
        &[
            with(ec_jwk(Algorithm::ES256), "kid", json!("named")),
            without(ec_jwk(Algorithm::ES256), "kid"),
        ],
        &policy(&[Algorithm::ES256]),
    )
    .unwrap()
    .keys;
    let unknown = set.candidates(Algorithm::ES256, Some("other")).unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].kid, None);
    let named = set.candidates(Algorithm::ES256, Some("named")).unwrap();
    assert_eq!(
        named.len(),
        1,
        "a key named by the kid is not joined by unnamed ones"
    );
    assert_eq!(named[0].kid.as_deref(), Some("named"));
}

#[test]
fn a_token_without_kid_is_tried_against_a_bounded_number_of_keys() {
    let keys: Vec<Value> = (0..10)
        .map(|n| with(rsa_jwk(), "kid", json!(format!("k{n}"))))
        .collect();
    // Only exact duplicates collapse; keys that differ by `kid` stay apart.
    let set = parse(&keys, &policy(&[Algorithm::RS256])).unwrap().keys;
    assert_eq!(set.len(), 10);
    let tried = set.candidates(Algorithm::RS256, None).unwrap();
    assert_eq!(tried.len(), crate::jwks::MAX_UNNAMED_CANDIDATES);
}

// ---- keys published as certificates (x5c, x5t) ----

mod certificates {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::super::spki::{bit_string, integer, sequence, tlv, TAG_NULL, TAG_OID};
    use super::super::x509::{certificate_key, CertificateError};
    use super::*;

    /// sha256WithRSAEncryption, the signature algorithm IdP certificates carry.
    const OID_SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];

    /// A v3 certificate around `spki`, shaped like an IdP's self-signed signing certificate.
    /// Its signature is filler: claimcheck reads the key and nothing else.
    fn certificate(spki: &[u8]) -> Vec<u8> {
        let cn = sequence(&[tlv(TAG_OID, &[0x55, 0x04, 0x03]), tlv(0x0c, b"idp.test")]);
        let name = sequence(&[tlv(0x31, &cn)]);
        let algorithm = sequence(&[tlv(TAG_OID, OID_SHA256_RSA), tlv(TAG_NULL, &[])]);
        let validity = sequence(&[tlv(0x17, b"260101000000Z"), tlv(0x17, b"360101000000Z")]);
        let tbs = sequence(&[
            tlv(0xa0, &integer(&[2])),
            integer(&[0x01, 0x23, 0x45]),
            algorithm.clone(),
            name.clone(),
            validity,
            name,
            spki.to_vec(),
        ]);
        sequence(&[tbs, algorithm, bit_string(&[0x5a; 256])])
    }

    fn spki_of(jwk: &Value) -> Vec<u8> {
        let parsed = parse(std::slice::from_ref(jwk), &all_algorithms()).unwrap();
        parsed.keys.keys()[0].material.spki_der().unwrap()
    }

    fn certificate_of(jwk: &Value) -> Vec<u8> {
        certificate(&spki_of(jwk))
    }

    /// `jwk` with its key also published as `x5c` and `x5t`, as Entra ID and Auth0 do.
    fn with_certificate(jwk: Value) -> Value {
        let der = certificate_of(&jwk);
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        let jwk = with(jwk, "x5c", json!([STANDARD.encode(&der)]));
        with(jwk, "x5t", json!(b64(sha1.as_ref())))
    }

    fn material(jwk: Value) -> KeyMaterial {
        let parsed = parse(&[jwk], &all_algorithms()).unwrap();
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        parsed.keys.keys()[0].material.clone()
    }

    #[test]
    fn a_key_with_a_matching_certificate_is_kept_as_its_members_say() {
        let own = material(rsa_jwk());
        assert_eq!(material(with_certificate(rsa_jwk())), own);
    }

    #[test]
    fn a_key_published_only_as_a_certificate_is_taken_from_the_first_one() {
        for jwk in [
            rsa_jwk(),
            ec_jwk(Algorithm::ES256),
            ec_jwk(Algorithm::ES384),
        ] {
            let own = material(jwk.clone());
            let mut bare = with_certificate(jwk);
            for member in ["n", "e", "x", "y"] {
                bare = without(bare, member);
            }
            // A second certificate (the issuer's) is carried along, never read.
            let chain = json!([bare["x5c"][0], STANDARD.encode(b"not read")]);
            assert_eq!(material(with(bare, "x5c", chain)), own);
        }
    }

    #[test]
    fn an_ed25519_certificate_key_is_read() {
        let jwk = TestKey::for_alg(Algorithm::EdDSA).jwk();
        let der = certificate_of(&jwk);
        assert_eq!(certificate_key(&der), Ok(material(jwk)));
    }

    #[test]
    fn certificate_refusals_name_their_reason() {
        let other = TestKey::rsa(RSA_3072_PKCS8).jwk();
        let p256 = ec_jwk(Algorithm::ES256);
        let p384 = ec_jwk(Algorithm::ES384);
        let bare_p384 = without(without(with_certificate(p384.clone()), "x"), "y");
        let small = serde_json::from_str::<Value>(RSA_1024_JWK).unwrap();
        let member = |name: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(small[name].as_str().unwrap())
                .unwrap()
        };
        let small_key = KeyMaterial::Rsa(RsaPublicKey {
            n: member("n"),
            e: member("e"),
        });
        let small_der = certificate(&small_key.spki_der().unwrap());
        let malformed = CertificateError::Malformed;
        let cases: Vec<(&str, Value, SkipReason)> = vec![
            (
                "certificate of another key",
                with(rsa_jwk(), "x5c", with_certificate(other)["x5c"].clone()),
                SkipReason::CertificateKeyMismatch,
            ),
            (
                "certificate of another key type",
                with(
                    rsa_jwk(),
                    "x5c",
                    with_certificate(p256.clone())["x5c"].clone(),
                ),
                SkipReason::CertificateKeyMismatch,
            ),
            (
                "certificate alone, of another curve than crv",
                with(bare_p384, "crv", json!("P-256")),
                SkipReason::CertificateKeyMismatch,
            ),
            (
                "x5t of another certificate",
                with(
                    with_certificate(rsa_jwk()),
                    "x5t",
                    with_certificate(p256)["x5t"].clone(),
                ),
                SkipReason::ThumbprintMismatch("x5t"),
            ),
            (
                "x5t#S256 of nothing",
                with(
                    with_certificate(rsa_jwk()),
                    "x5t#S256",
                    json!(b64(&[0; 32])),
                ),
                SkipReason::ThumbprintMismatch("x5t#S256"),
            ),
            (
                "x5c not an array",
                with(rsa_jwk(), "x5c", json!("MIIB")),
                SkipReason::InvalidMember("x5c"),
            ),
            (
                "x5c empty",
                with(rsa_jwk(), "x5c", json!([])),
                SkipReason::CertificateInvalid(malformed),
            ),
            (
                "x5c in base64url",
                with(rsa_jwk(), "x5c", json!(["-_-_"])),
                SkipReason::CertificateInvalid(malformed),
            ),
            (
                "x5c not a certificate",
                with(
                    rsa_jwk(),
                    "x5c",
                    json!([STANDARD.encode(spki_of(&rsa_jwk()))]),
                ),
                SkipReason::CertificateInvalid(malformed),
            ),
            (
                "x5c too large",
                with(
                    rsa_jwk(),
                    "x5c",
                    json!([STANDARD.encode(vec![0u8; 20_000])]),
                ),
                SkipReason::CertificateInvalid(CertificateError::TooLarge),
            ),
            (
                "certificate alone, RSA key too small",
                without(
                    without(with(small, "x5c", json!([STANDARD.encode(small_der)])), "n"),
                    "e",
                ),
                SkipReason::RsaModulusTooSmall,
            ),
        ];
        for (name, jwk, want) in cases {
            assert_eq!(
                skip_reason(jwk, &all_algorithms()),
                Some(want),
                "case: {name}"
            );
        }
    }

    #[test]
    fn malformed_der_is_refused_without_panicking() {
        let der = certificate_of(&rsa_jwk());
        let mut trailing = der.clone();
        trailing.push(0);
        let mut indefinite = der.clone();
        indefinite[1] = 0x80;
        let mut non_minimal = vec![0x30, 0x82, 0x00, 0x05];
        non_minimal.extend_from_slice(&[0x02, 0x01, 0x01, 0x05, 0x00]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("trailing bytes", trailing),
            ("indefinite length", indefinite),
            ("non-minimal length", non_minimal),
            ("empty", vec![]),
        ];
        for (name, bytes) in cases {
            assert_eq!(
                certificate_key(&bytes),
                Err(CertificateError::Malformed),
                "{name}"
            );
        }
        // Every truncation of a real certificate is refused, none panics.
        for len in 0..der.len() {
            assert!(certificate_key(&der[..len]).is_err(), "truncated at {len}");
        }
    }
}
