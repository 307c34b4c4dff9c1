//! Envoy's `verify_signature` foreign function, for [`HostBuilder::foreign_function`]
//! (`crate::HostBuilder`), so a module's host-crypto path can be tested without Envoy.
//!
//! Same message format as Envoy (`source/extensions/common/wasm/ext/verify_signature.proto`):
//! the argument is `VerifySignatureArguments { string hash_function = 1; bytes public_key = 2
//! (DER SubjectPublicKeyInfo); bytes signature = 3; bytes text = 4; }`, the reply
//! `VerifySignatureResult { bool result = 1; string error = 2; }`. Like Envoy's BoringSSL
//! path it verifies RSA PKCS#1 v1.5 and ECDSA with DER signatures (here with native `ring`),
//! and answers `BadArgument` to an unparseable message or key. [`lying_verify_signature`]
//! answers `result: true` to everything, for tests that a module does not trust such a host.

use ring::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};

use crate::Status;

/// The name Envoy registers the function under.
pub const VERIFY_SIGNATURE: &str = "verify_signature";

/// An honest `verify_signature`.
pub fn verify_signature(arguments: &[u8]) -> Result<Vec<u8>, Status> {
    let args = Arguments::parse(arguments).ok_or(Status::BadArgument)?;
    let key = SubjectPublicKey::parse(args.public_key).ok_or(Status::BadArgument)?;
    let algorithm = algorithm(&key, args.hash_function).ok_or(Status::BadArgument)?;
    let verified = UnparsedPublicKey::new(algorithm, key.key)
        .verify(args.text, args.signature)
        .is_ok();
    Ok(reply(
        verified,
        if verified { "" } else { "signature mismatch" },
    ))
}

/// A host that says every signature verifies.
pub fn lying_verify_signature(_arguments: &[u8]) -> Result<Vec<u8>, Status> {
    Ok(reply(true, ""))
}

/// Encodes a `VerifySignatureResult` (proto3: a false `result` and an empty `error` are left
/// out).
pub fn reply(result: bool, error: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if result {
        out.extend_from_slice(&[0x08, 0x01]);
    }
    if !error.is_empty() {
        out.push(0x12);
        push_varint(&mut out, error.len() as u64);
        out.extend_from_slice(error.as_bytes());
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Arguments<'a> {
    hash_function: &'a str,
    public_key: &'a [u8],
    signature: &'a [u8],
    text: &'a [u8],
}

impl<'a> Arguments<'a> {
    fn parse(mut bytes: &'a [u8]) -> Option<Self> {
        let mut args = Arguments {
            hash_function: "",
            public_key: &[],
            signature: &[],
            text: &[],
        };
        while !bytes.is_empty() {
            let (key, rest) = read_varint(bytes)?;
            if key & 7 != 2 {
                return None;
            }
            let (len, rest) = read_varint(rest)?;
            let len = usize::try_from(len).ok()?;
            let value = rest.get(..len)?;
            bytes = rest.get(len..)?;
            match key >> 3 {
                1 => args.hash_function = std::str::from_utf8(value).ok()?,
                2 => args.public_key = value,
                3 => args.signature = value,
                4 => args.text = value,
                _ => {}
            }
        }
        Some(args)
    }
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(index + 1..)?));
        }
    }
    None
}

#[derive(PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
}

/// The parts of a SubjectPublicKeyInfo (RFC 5280 §4.1) this function needs.
struct SubjectPublicKey<'a> {
    kind: KeyKind,
    /// RSA: the `RSAPublicKey` DER; EC: the uncompressed point.
    key: &'a [u8],
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

impl<'a> SubjectPublicKey<'a> {
    fn parse(der: &'a [u8]) -> Option<Self> {
        let (spki, rest) = tlv(der, 0x30)?;
        if !rest.is_empty() {
            return None;
        }
        let (algorithm, rest) = tlv(spki, 0x30)?;
        let (bits, rest) = tlv(rest, 0x03)?;
        if !rest.is_empty() || bits.first() != Some(&0) {
            return None;
        }
        let key = bits.get(1..)?;
        let (oid, params) = tlv(algorithm, 0x06)?;
        let kind = if oid == OID_RSA {
            KeyKind::Rsa
        } else if oid == OID_EC {
            let (curve, _) = tlv(params, 0x06)?;
            match curve {
                OID_P256 => KeyKind::P256,
                OID_P384 => KeyKind::P384,
                _ => return None,
            }
        } else {
            return None;
        };
        Some(SubjectPublicKey { kind, key })
    }
}

/// One DER element with the expected tag: its content and what follows it.
fn tlv(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *bytes.first()? != tag {
        return None;
    }
    let first = *bytes.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + count)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    let content = bytes.get(header..header.checked_add(len)?)?;
    Some((content, bytes.get(header + len..)?))
}

fn algorithm(key: &SubjectPublicKey<'_>, hash: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (&key.kind, hash) {
        (KeyKind::Rsa, "sha256") => &sig::RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa, "sha384") => &sig::RSA_PKCS1_2048_8192_SHA384,
        (KeyKind::Rsa, "sha512") => &sig::RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::P256, "sha256") => &sig::ECDSA_P256_SHA256_ASN1,
        (KeyKind::P256, "sha384") => &sig::ECDSA_P256_SHA384_ASN1,
        (KeyKind::P384, "sha256") => &sig::ECDSA_P384_SHA256_ASN1,
        (KeyKind::P384, "sha384") => &sig::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}
