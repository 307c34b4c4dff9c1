//! Published JWS examples verify with their published public keys.
//!
//! RFC 7515 Appendix A.1-A.3 carry JSON claims and go through the whole `decode` + `verify`
//! path. RFC 7515 A.4, RFC 7520 §4.1-4.4 and RFC 8037 A.4 sign non-JSON payloads (plain
//! text), so they are not JWTs: `decode` refuses them (asserted), and their signatures are
//! checked with the key parsed from the published JWK through `SignatureVerifier` directly.

use serde_json::{json, Value};

use super::test_support::{key_set, verify_both};
use super::*;
use crate::crypto::{RingVerifier, SignatureError, SignatureVerifier};

const RFC7515_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

const RFC7515_A1_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
);

const RFC7515_A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Ql",
    "L-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs",
    "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoud",
    "F8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
);
const RFC7515_A2_SIGNATURE: &str = concat!(
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujG",
    "bds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6",
    "LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
);

const RFC7515_A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

const RFC7515_A4_INPUT: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA";
const RFC7515_A4_SIGNATURE: &str = concat!(
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwF",
    "KdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
);

/// RFC 7520 §4 signs this text ("It’s a dangerous business, Frodo, ...").
const RFC7520_PAYLOAD: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0",
    "aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
);
const RFC7520_KID_HEADER_SUFFIX: &str = "ImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const RFC7520_RSA_N: &str = concat!(
    "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMa",
    "JMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6c",
    "S6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwd",
    "q_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw"
);

fn a1_key() -> Value {
    json!({
        "kty": "oct",
        "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
    })
}

fn a3_key() -> Value {
    json!({
        "kty": "EC", "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    })
}

fn rfc7520_rsa_key() -> Value {
    json!({
        "kty": "RSA", "kid": "bilbo.baggins@hobbiton.example", "use": "sig",
        "n": RFC7520_RSA_N, "e": "AQAB"
    })
}

fn rfc7520_ec_key() -> Value {
    json!({
        "kty": "EC", "kid": "bilbo.baggins@hobbiton.example", "use": "sig", "crv": "P-521",
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"
    })
}

fn rfc7520_hmac_key() -> Value {
    json!({
        "kty": "oct", "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037", "use": "sig", "alg": "HS256",
        "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
    })
}

/// Verifies a published signing input and signature with the key parsed from a published JWK.
fn verify_published(
    jwk: Value,
    alg: Algorithm,
    signing_input: &str,
    signature_b64: &str,
) -> Result<(), SignatureError> {
    let keys = key_set(&[jwk], &[alg]);
    let signature = base64::Engine::decode(&BASE64URL_STRICT, signature_b64).unwrap();
    RingVerifier.verify(alg, &keys.keys()[0], signing_input.as_bytes(), &signature)
}

fn flip_first_byte(signature_b64: &str) -> String {
    let mut bytes = base64::Engine::decode(&BASE64URL_STRICT, signature_b64).unwrap();
    bytes[0] ^= 0x01;
    base64::Engine::encode(&BASE64URL_STRICT, bytes)
}

#[test]
fn rfc7515_a1_hs256_verifies() {
    let jwt = decode(RFC7515_A1_TOKEN).unwrap();
    assert_eq!(jwt.header().typ.as_deref(), Some("JWT"));
    assert_eq!(jwt.claims()["iss"], json!("joe"));
    let keys = key_set(&[a1_key()], &[Algorithm::HS256]);
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}

#[test]
fn rfc7515_a2_rs256_verifies() {
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A2_SIGNATURE}");
    let jwt = decode(&token).unwrap();
    let keys = key_set(
        &[json!({ "kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB" })],
        &[Algorithm::RS256],
    );
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}

#[test]
fn rfc7515_a3_es256_verifies() {
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{RFC7515_A3_SIGNATURE}");
    let jwt = decode(&token).unwrap();
    let keys = key_set(&[a3_key()], &[Algorithm::ES256]);
    assert_eq!(verify_both(&jwt, &keys), Ok(()));
}

#[test]
fn rfc7515_a4_es512_verifies() {
    let key = json!({
        "kty": "EC", "crv": "P-521",
        "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
        "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"
    });
    assert_eq!(
        verify_published(
            key.clone(),
            Algorithm::ES512,
            RFC7515_A4_INPUT,
            RFC7515_A4_SIGNATURE
        ),
        Ok(())
    );
    assert_eq!(
        verify_published(
            key,
            Algorithm::ES512,
            RFC7515_A4_INPUT,
            &flip_first_byte(RFC7515_A4_SIGNATURE)
        ),
        Err(SignatureError::Invalid)
    );
    // "Payload" is not a claims set.
    assert_eq!(
        decode(&format!("{RFC7515_A4_INPUT}.{RFC7515_A4_SIGNATURE}")),
        Err(JwtError::PayloadNotJsonObject)
    );
}

#[test]
fn rfc7520_published_signatures_verify() {
    let cases = [
        (
            "4.1 RS256",
            rfc7520_rsa_key(),
            Algorithm::RS256,
            "eyJhbGciOiJSUzI1NiIs",
            concat!(
                "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xugl",
                "II7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
                "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-",
                "ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg"
            ),
        ),
        (
            "4.2 PS384",
            rfc7520_rsa_key(),
            Algorithm::PS384,
            "eyJhbGciOiJQUzM4NCIs",
            concat!(
                "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TT",
                "B5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYR",
                "Xe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtfa6",
                "4QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
            ),
        ),
        (
            "4.3 ES512",
            rfc7520_ec_key(),
            Algorithm::ES512,
            "eyJhbGciOiJFUzUxMiIs",
            concat!(
                "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3",
                "mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
            ),
        ),
    ];
    for (name, key, alg, header_prefix, signature) in cases {
        let header = format!("{header_prefix}{RFC7520_KID_HEADER_SUFFIX}");
        let input = format!("{header}.{RFC7520_PAYLOAD}");
        assert_eq!(
            verify_published(key.clone(), alg, &input, signature),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            verify_published(key, alg, &input, &flip_first_byte(signature)),
            Err(SignatureError::Invalid),
            "{name} (tampered)"
        );
        assert_eq!(
            decode(&format!("{input}.{signature}")),
            Err(JwtError::PayloadNotJsonObject),
            "{name}"
        );
    }
}

#[test]
fn rfc7520_4_4_hs256_verifies() {
    let input = format!(
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.{RFC7520_PAYLOAD}"
    );
    let signature = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";
    assert_eq!(
        verify_published(rfc7520_hmac_key(), Algorithm::HS256, &input, signature),
        Ok(())
    );
    assert_eq!(
        verify_published(
            rfc7520_hmac_key(),
            Algorithm::HS256,
            &input,
            &flip_first_byte(signature)
        ),
        Err(SignatureError::Invalid)
    );
}

#[test]
fn rfc8037_a4_ed25519_verifies() {
    let key = json!({ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    let signature =
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    assert_eq!(
        verify_published(key.clone(), Algorithm::EdDSA, input, signature),
        Ok(())
    );
    assert_eq!(
        verify_published(key, Algorithm::EdDSA, input, &flip_first_byte(signature)),
        Err(SignatureError::Invalid)
    );
}
