//! JOSE ECDSA signatures (RFC 7518 §3.4: `r || s`, each exactly the curve's coordinate length)
//! re-encoded as the DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3) that host crypto libraries take.
//!
//! Strict on both sides: the JOSE form must have exactly the right length and neither integer
//! may be zero (no valid signature has one); the DER form is the unique minimal encoding
//! (X.690 §8.3.2: no redundant leading zero bytes, one zero byte before a set high bit).

use super::SignatureError;
use crate::jwks::EcCurve;

const TAG_INTEGER: u8 = 0x02;
const TAG_SEQUENCE: u8 = 0x30;

/// `r || s` → `SEQUENCE { INTEGER r, INTEGER s }`.
pub fn jose_to_der(signature: &[u8], curve: EcCurve) -> Result<Vec<u8>, SignatureError> {
    let half = curve.coordinate_len();
    if signature.len() != 2 * half {
        return Err(SignatureError::SignatureLength);
    }
    let (r, s) = signature.split_at(half);
    let r = minimal_magnitude(r).ok_or(SignatureError::SignatureLength)?;
    let s = minimal_magnitude(s).ok_or(SignatureError::SignatureLength)?;
    let body_len = integer_len(r) + integer_len(s);
    let mut out = Vec::with_capacity(body_len + 3);
    out.push(TAG_SEQUENCE);
    push_length(&mut out, body_len);
    push_integer(&mut out, r);
    push_integer(&mut out, s);
    Ok(out)
}

/// The big-endian magnitude without leading zero bytes; `None` for zero.
fn minimal_magnitude(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes.iter().position(|b| *b != 0)?;
    bytes.get(start..)
}

/// A positive integer needs a zero byte in front when its top bit is set, else DER would
/// read it as negative.
fn needs_pad(magnitude: &[u8]) -> bool {
    magnitude.first().is_some_and(|b| b & 0x80 != 0)
}

fn integer_len(magnitude: &[u8]) -> usize {
    let content = magnitude.len() + usize::from(needs_pad(magnitude));
    1 + length_len(content) + content
}

fn push_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
    out.push(TAG_INTEGER);
    let pad = needs_pad(magnitude);
    push_length(out, magnitude.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
}

/// Lengths here never exceed 255 (P-521: 2 × 69 bytes of integers): short form below 128,
/// else `0x81 len`.
fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        2
    }
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.push(0x81);
        out.push(len as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(r: &[u8], s: &[u8]) -> Vec<u8> {
        [r, s].concat()
    }

    #[test]
    fn small_integers_are_encoded_without_their_leading_zero_bytes() {
        let mut r = [0u8; 32];
        r[31] = 1;
        let mut s = [0u8; 32];
        s[30] = 0x01;
        s[31] = 0x02;
        assert_eq!(
            jose_to_der(&sig(&r, &s), EcCurve::P256),
            Ok(vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01, 0x02])
        );
    }

    #[test]
    fn an_integer_with_its_high_bit_set_gets_one_zero_byte_in_front() {
        let r = [0xffu8; 32];
        let mut s = [0u8; 32];
        s[0] = 0x7f;
        let der = jose_to_der(&sig(&r, &s), EcCurve::P256).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x45, 0x02, 0x21, 0x00]);
        assert_eq!(&der[5..37], &r);
        assert_eq!(&der[37..39], &[0x02, 0x20]);
        assert_eq!(&der[39..], &s);
    }

    #[test]
    fn a_leading_zero_byte_followed_by_a_high_bit_keeps_exactly_one_zero() {
        let mut r = [0x11u8; 48];
        r[0] = 0;
        r[1] = 0x80;
        let s = [0x22u8; 48];
        let der = jose_to_der(&sig(&r, &s), EcCurve::P384).unwrap();
        // INTEGER of 47 magnitude bytes + one pad byte.
        assert_eq!(&der[2..5], &[0x02, 0x30, 0x00]);
        assert_eq!(&der[5..52], &r[1..]);
    }

    #[test]
    fn p521_signatures_use_the_long_length_form() {
        let mut r = [0xabu8; 66];
        r[0] = 0x01;
        let mut s = [0xcdu8; 66];
        s[0] = 0x01;
        let der = jose_to_der(&sig(&r, &s), EcCurve::P521).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x81, 136, 0x02, 66]);
        assert_eq!(der.len(), 3 + 136);
    }

    #[test]
    fn a_zero_r_or_s_is_refused() {
        let one = {
            let mut v = [0u8; 32];
            v[31] = 1;
            v
        };
        let zero = [0u8; 32];
        assert_eq!(
            jose_to_der(&sig(&zero, &one), EcCurve::P256),
            Err(SignatureError::SignatureLength)
        );
        assert_eq!(
            jose_to_der(&sig(&one, &zero), EcCurve::P256),
            Err(SignatureError::SignatureLength)
        );
    }

    #[test]
    fn a_signature_of_any_other_length_than_twice_the_coordinate_is_refused() {
        for len in [0, 63, 65, 96, 128] {
            assert_eq!(
                jose_to_der(&vec![1u8; len], EcCurve::P256),
                Err(SignatureError::SignatureLength),
                "{len}"
            );
        }
        assert_eq!(
            jose_to_der(&[1u8; 64], EcCurve::P384),
            Err(SignatureError::SignatureLength)
        );
    }

    #[test]
    fn the_der_form_is_accepted_by_ring_as_the_same_signature() {
        use ring::rand::SystemRandom;
        use ring::signature::{
            EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
            ECDSA_P256_SHA256_FIXED_SIGNING,
        };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // Enough signatures that some r or s start with a high bit and some with a zero byte.
        for index in 0..64u32 {
            let message = index.to_be_bytes();
            let fixed = pair.sign(&rng, &message).unwrap();
            let der = jose_to_der(fixed.as_ref(), EcCurve::P256).unwrap();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref())
                .verify(&message, &der)
                .unwrap();
        }
    }
}
