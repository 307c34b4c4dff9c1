//! Minimal DER encoder for SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), so a host's native crypto
//! (which takes SPKI DER) can verify with the keys we parsed from JWKs. Only the three shapes
//! below are produced; nothing here parses untrusted DER (`x509` reads certificates). It takes
//! plain bytes, so it knows nothing of [`super::KeyMaterial`], which calls it.

/// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017 Appendix C).
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480 §2.1.1).
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1).
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34.
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35.
pub(super) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112 (RFC 8410 §3).
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_NULL: u8 = 0x05;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_SEQUENCE: u8 = 0x30;

/// The named curve of an EC key, as its SPKI `parameters` name it.
#[derive(Debug, Clone, Copy)]
pub(super) enum NamedCurve {
    P256,
    P384,
    P521,
}

/// An RSA key from its big-endian modulus and exponent (RFC 8017 Appendix A.1.1).
pub(super) fn rsa(n: &[u8], e: &[u8]) -> Vec<u8> {
    let algorithm = sequence(&[tlv(TAG_OID, OID_RSA_ENCRYPTION), tlv(TAG_NULL, &[])]);
    let public_key = sequence(&[integer(n), integer(e)]);
    sequence(&[algorithm, bit_string(&public_key)])
}

/// An EC key from its uncompressed SEC1 point (RFC 5480 §2.2).
pub(super) fn ec(curve: NamedCurve, point: &[u8]) -> Vec<u8> {
    let curve = match curve {
        NamedCurve::P256 => OID_P256,
        NamedCurve::P384 => OID_P384,
        NamedCurve::P521 => OID_P521,
    };
    let algorithm = sequence(&[tlv(TAG_OID, OID_EC_PUBLIC_KEY), tlv(TAG_OID, curve)]);
    sequence(&[algorithm, bit_string(point)])
}

/// An Ed25519 key from its 32 public bytes (RFC 8410 §4).
pub(super) fn ed25519(key: &[u8]) -> Vec<u8> {
    let algorithm = sequence(&[tlv(TAG_OID, OID_ED25519)]);
    sequence(&[algorithm, bit_string(key)])
}

pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// DER definite length (X.690 §8.1.3): short form below 128, else the minimal big-endian
/// byte count prefixed by `0x80 | count`.
fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(&significant);
}

pub(super) fn sequence(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &items.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes: minimal, with a zero byte in front
/// when the top bit is set so it is not read as negative (X.690 §8.3).
pub(super) fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
        Some(start) => magnitude.get(start..).unwrap_or(&[]),
        None => &[],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &content)
}

pub(super) fn bit_string(content: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(content.len() + 1);
    body.push(0); // no unused bits
    body.extend_from_slice(content);
    tlv(TAG_BIT_STRING, &body)
}
