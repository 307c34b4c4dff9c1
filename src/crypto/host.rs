//! Verification by the host's native crypto: Envoy's `verify_signature` foreign function
//! (`source/extensions/common/wasm/foreign.cc`, BoringSSL underneath).
//!
//! The argument is the protobuf `VerifySignatureArguments { string hash_function = 1;
//! bytes public_key = 2; bytes signature = 3; bytes text = 4; }` with the key as DER
//! SubjectPublicKeyInfo, prepared once per key when its set is parsed
//! ([`VerifyingKey::host_key`]). The reply is `VerifySignatureResult { bool result = 1;
//! string error = 2; }`. The host verifies RSA PKCS#1 v1.5 and ECDSA on P-256 and P-384 (DER
//! signatures); PSS, Ed25519, P-521 and HMAC stay in the VM. Only a well-formed reply saying `result: true` verifies:
//! a failed call, a malformed reply or anything else counts as not verified.

use std::fmt;

use super::{jose_to_der, RingVerifier, SignatureError, SignatureVerifier};
use crate::jwa::Algorithm;
use crate::jwks::{KeyMaterial, VerifyingKey};

/// The foreign function's name in Envoy.
pub const VERIFY_SIGNATURE: &str = "verify_signature";

/// How a call to the host's foreign function failed (the proxy-wasm status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCallError {
    /// The host has no function by that name.
    NotFound,
    /// The host refused the arguments (Envoy: an unparseable message or key).
    BadArgument,
    /// Any other failure status.
    Failed,
}

/// One call of `verify_signature`: the encoded arguments in, the encoded reply (if any) out.
pub type HostCall = Box<dyn Fn(&[u8]) -> Result<Option<Vec<u8>>, HostCallError>>;

/// Why the host's answer was not taken as "verified".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFailure {
    /// The call itself failed.
    Call(HostCallError),
    /// The reply is not a well-formed `VerifySignatureResult`.
    MalformedReply,
    /// The key has no SubjectPublicKeyInfo form (cannot happen for RSA and EC keys).
    NoHostKey,
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFailure::Call(HostCallError::NotFound) => f.write_str("no such foreign function"),
            HostFailure::Call(HostCallError::BadArgument) => f.write_str("arguments refused"),
            HostFailure::Call(HostCallError::Failed) => f.write_str("call failed"),
            HostFailure::MalformedReply => f.write_str("malformed reply"),
            HostFailure::NoHostKey => f.write_str("key has no SubjectPublicKeyInfo form"),
        }
    }
}

/// RSA PKCS#1 v1.5 and ECDSA on the host, everything else in the VM.
pub struct HostVerifier {
    call: HostCall,
}

impl HostVerifier {
    pub fn new(call: HostCall) -> Self {
        HostVerifier { call }
    }

    /// The hash name `verify_signature` takes for an algorithm the host verifies.
    pub fn hash_function(alg: Algorithm) -> Option<&'static str> {
        match alg {
            Algorithm::RS256 | Algorithm::ES256 => Some("sha256"),
            Algorithm::RS384 | Algorithm::ES384 => Some("sha384"),
            Algorithm::RS512 => Some("sha512"),
            // ES512 stays in the VM: the probe vouches for P-256 only, and P-521 tokens
            // are rare enough that the cache carries them.
            _ => None,
        }
    }

    fn verify_on_host(
        &self,
        hash: &str,
        key: &VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let der_signature;
        let signature = match &key.material {
            KeyMaterial::Ec(ec) => {
                der_signature = jose_to_der(signature, ec.curve)?;
                der_signature.as_slice()
            }
            _ => signature,
        };
        let spki = key
            .host_key()
            .ok_or(SignatureError::Host(HostFailure::NoHostKey))?;
        let arguments = encode_arguments(hash, spki, signature, message);
        let reply = (self.call)(&arguments)
            .map_err(|error| SignatureError::Host(HostFailure::Call(error)))?;
        match parse_reply(reply.as_deref().unwrap_or_default()) {
            Some(true) => Ok(()),
            Some(false) => Err(SignatureError::Invalid),
            None => Err(SignatureError::Host(HostFailure::MalformedReply)),
        }
    }
}

impl SignatureVerifier for HostVerifier {
    fn verify(
        &self,
        alg: Algorithm,
        key: &VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if !key.can_verify(alg) {
            return Err(SignatureError::KeyAlgorithmMismatch);
        }
        match HostVerifier::hash_function(alg) {
            Some(hash) => self.verify_on_host(hash, key, message, signature),
            None => RingVerifier.verify(alg, key, message, signature),
        }
    }
}

const WIRE_VARINT: u8 = 0;
const WIRE_LEN: u8 = 2;

/// `VerifySignatureArguments`, fields in number order.
pub(super) fn encode_arguments(hash: &str, spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hash.len() + spki.len() + signature.len() + text.len() + 16);
    push_bytes(&mut out, 1, hash.as_bytes());
    push_bytes(&mut out, 2, spki);
    push_bytes(&mut out, 3, signature);
    push_bytes(&mut out, 4, text);
    out
}

fn push_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push((field << 3) | WIRE_LEN);
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `VerifySignatureResult.result`, or `None` when the reply is not a well-formed message of
/// exactly that type: known fields only, each with its own wire type, `result` 0 or 1,
/// `error` valid UTF-8. An empty reply is proto3's all-defaults: `result = false`.
pub(super) fn parse_reply(mut bytes: &[u8]) -> Option<bool> {
    let mut result = false;
    while !bytes.is_empty() {
        let (key, rest) = read_varint(bytes)?;
        bytes = rest;
        match (key >> 3, (key & 7) as u8) {
            (1, WIRE_VARINT) => {
                let (value, rest) = read_varint(bytes)?;
                bytes = rest;
                result = match value {
                    0 => false,
                    1 => true,
                    _ => return None,
                };
            }
            (2, WIRE_LEN) => {
                let (len, rest) = read_varint(bytes)?;
                let len = usize::try_from(len).ok()?;
                let error = rest.get(..len)?;
                std::str::from_utf8(error).ok()?;
                bytes = rest.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

/// A base-128 varint of at most ten bytes.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(index + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_the_four_fields_in_order_with_varint_lengths() {
        let text = vec![7u8; 200];
        let encoded = encode_arguments("sha256", &[1, 2], &[3], &text);
        let mut expected = vec![0x0a, 6];
        expected.extend_from_slice(b"sha256");
        expected.extend_from_slice(&[0x12, 2, 1, 2, 0x1a, 1, 3, 0x22, 0xc8, 0x01]);
        expected.extend_from_slice(&text);
        assert_eq!(encoded, expected);
    }

    #[test]
    fn only_result_true_in_a_well_formed_reply_verifies() {
        assert_eq!(parse_reply(&[0x08, 0x01]), Some(true));
        assert_eq!(parse_reply(&[0x08, 0x01, 0x12, 0x00]), Some(true));
        assert_eq!(parse_reply(&[]), Some(false));
        assert_eq!(parse_reply(&[0x08, 0x00]), Some(false));
        assert_eq!(parse_reply(&[0x12, 0x02, b'n', b'o']), Some(false));
    }

    #[test]
    fn a_malformed_reply_is_no_answer() {
        for reply in [
            &[0x08][..],               // value missing
            &[0x08, 0x02],             // not a bool
            &[0x08, 0x81],             // truncated varint
            &[0x12, 0x05, b'x'],       // error longer than the reply
            &[0x12, 0x01, 0xff],       // error not UTF-8
            &[0x0a, 0x01, 0x01],       // result with the wrong wire type
            &[0x18, 0x01],             // unknown field
            &[0x08, 0x01, 0x18, 0x01], // true, then an unknown field
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // key too long
        ] {
            assert_eq!(parse_reply(reply), None, "{reply:02x?}");
        }
    }
}
