//! Decoding a JWS compact serialization into header, claims and the bytes to verify.

use std::fmt;

use base64::Engine;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::BASE64URL_STRICT;
use crate::jwa::Algorithm;

/// Longest token we look at, in bytes. Envoy's default limit for all request headers together
/// is 60 KiB; identity-provider tokens are typically 1-2 KiB, and 16 KiB leaves room for large
/// group claims while keeping base64 and JSON work per request bounded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Longest decoded header JSON, in bytes. A JOSE header holds a handful of short members
/// (`alg`, `kid`, `typ`, perhaps `x5t`); 2 KiB is generous and stops a token from spending its
/// whole budget on a header we parse before checking any signature.
pub const MAX_HEADER_JSON_LEN: usize = 2 * 1024;

/// Which of the three compact segments a base64url error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

/// Every way [`decode`] refuses a token. No variant carries token content, so errors can be
/// logged and returned to clients without echoing attacker-chosen text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than [`MAX_TOKEN_LEN`].
    TooLong,
    /// Five segments: a JWE (RFC 7516 §7.1). We verify signatures; we do not decrypt.
    Encrypted,
    /// Not exactly three dot-separated segments (RFC 7515 §7.1).
    Malformed,
    /// A segment is not strict base64url (RFC 7515 §2).
    Base64(Segment),
    /// The header JSON is longer than [`MAX_HEADER_JSON_LEN`].
    HeaderTooLong,
    /// The header is not a JSON object (RFC 7515 §4).
    HeaderNotJsonObject,
    /// A member name appears twice in the header (RFC 7515 §5.2: reject, never pick one).
    HeaderDuplicateMember,
    /// No `alg` member (RFC 7515 §4.1.1: it is required).
    MissingAlg,
    /// `alg` is `none`: an unsecured JWS (RFC 7518 §3.6) is never accepted (RFC 8725 §3.1).
    AlgNone,
    /// `alg` names an algorithm we do not verify.
    UnsupportedAlgorithm,
    /// `alg`, `kid` or `typ` is present but not a string.
    InvalidHeaderMember(&'static str),
    /// `crit` is present: we understand no extensions, so RFC 7515 §4.1.11 requires refusal.
    CriticalHeader,
    /// `jku`, `x5u` or `jwk` is present: keys come from configuration, never from the token
    /// itself (RFC 8725 §3.10), so a token pointing at its own key is refused outright.
    KeyReferenceInHeader(&'static str),
    /// The payload is not a JSON object, so it is not a JWT claims set (RFC 7519 §7.2 step 10).
    PayloadNotJsonObject,
    /// A claim name appears twice (RFC 7519 §4: reject rather than guess which one counts).
    PayloadDuplicateMember,
    /// The signature segment is empty.
    MissingSignature,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::TooLong => write!(f, "token longer than {MAX_TOKEN_LEN} bytes"),
            JwtError::Encrypted => f.write_str("encrypted tokens (JWE) are not accepted"),
            JwtError::Malformed => f.write_str("token is not a three-part JWS compact string"),
            JwtError::Base64(segment) => write!(f, "{segment:?} segment is not base64url"),
            JwtError::HeaderTooLong => {
                write!(f, "token header longer than {MAX_HEADER_JSON_LEN} bytes")
            }
            JwtError::HeaderNotJsonObject => f.write_str("token header is not a JSON object"),
            JwtError::HeaderDuplicateMember => f.write_str("token header repeats a member"),
            JwtError::MissingAlg => f.write_str("token header has no alg"),
            JwtError::AlgNone => f.write_str("unsigned tokens (alg none) are not accepted"),
            JwtError::UnsupportedAlgorithm => f.write_str("token alg is not supported"),
            JwtError::InvalidHeaderMember(name) => {
                write!(f, "token header member {name} is not a string")
            }
            JwtError::CriticalHeader => f.write_str("token header has crit extensions"),
            JwtError::KeyReferenceInHeader(name) => {
                write!(f, "token header carries a key reference ({name})")
            }
            JwtError::PayloadNotJsonObject => f.write_str("token payload is not a JSON object"),
            JwtError::PayloadDuplicateMember => f.write_str("token payload repeats a claim"),
            JwtError::MissingSignature => f.write_str("token has an empty signature"),
        }
    }
}

impl std::error::Error for JwtError {}

/// The JOSE header members claimcheck acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A syntactically valid, not yet verified, JWS.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedJwt {
    header: Header,
    claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the exact bytes the signature covers.
    signing_input: String,
    /// Where the payload segment starts inside `signing_input`.
    payload_start: usize,
    signature: Vec<u8>,
}

impl DecodedJwt {
    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// The bytes the signature covers (RFC 7515 §5.2 step 8).
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The payload segment exactly as it appeared in the token (base64url), for forwarding
    /// upstream in a payload header without re-encoding.
    pub fn payload_b64(&self) -> &str {
        self.signing_input.get(self.payload_start..).unwrap_or("")
    }
}

/// Decodes a JWS compact serialization (RFC 7515 §7.1) without verifying it.
///
/// Refusals happen here, before any key is looked up, so a hostile token costs one bounded
/// base64 + JSON pass. The order of checks is fixed: size, shape, base64, header, payload.
pub fn decode(token: &str) -> Result<DecodedJwt, JwtError> {
    decode_with(token, EmbeddedKey::Refused).map(|(jwt, _)| jwt)
}

/// Decodes a DPoP proof (RFC 9449 §4.2): a JWS whose header carries the public key that
/// signed it in `jwk`, answered beside the token. Every other check of [`decode`] applies
/// (`jku`, `x5u` and `crit` are still refused); the caller decides whether the key is usable
/// and binds it to something it trusts (the access token's `cnf.jkt`).
pub fn decode_proof(token: &str) -> Result<(DecodedJwt, Option<Value>), JwtError> {
    decode_with(token, EmbeddedKey::Taken)
}

/// Whether a `jwk` header member is refused (access tokens) or taken out (DPoP proofs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum EmbeddedKey {
    Refused,
    Taken,
}

fn decode_with(
    token: &str,
    embedded: EmbeddedKey,
) -> Result<(DecodedJwt, Option<Value>), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => {
                return Err(if token.split('.').count() == 5 {
                    JwtError::Encrypted
                } else {
                    JwtError::Malformed
                })
            }
        };

    // base64 expands 3 bytes to 4 characters; checking the encoded length first avoids decoding
    // an oversized header at all.
    if header_b64.len() > MAX_HEADER_JSON_LEN.div_ceil(3) * 4 {
        return Err(JwtError::HeaderTooLong);
    }
    let header_json = BASE64URL_STRICT
        .decode(header_b64)
        .map_err(|_| JwtError::Base64(Segment::Header))?;
    if header_json.len() > MAX_HEADER_JSON_LEN {
        return Err(JwtError::HeaderTooLong);
    }
    let payload_json = BASE64URL_STRICT
        .decode(payload_b64)
        .map_err(|_| JwtError::Base64(Segment::Payload))?;
    let signature = BASE64URL_STRICT
        .decode(signature_b64)
        .map_err(|_| JwtError::Base64(Segment::Signature))?;

    let (header, jwk) = parse_header(&header_json, embedded)?;

    let claims = strict_object(
        &payload_json,
        JwtError::PayloadDuplicateMember,
        JwtError::PayloadNotJsonObject,
    )?;

    if signature.is_empty() {
        return Err(JwtError::MissingSignature);
    }

    let payload_start = header_b64.len() + 1;
    let mut signing_input = String::with_capacity(payload_start + payload_b64.len());
    signing_input.push_str(header_b64);
    signing_input.push('.');
    signing_input.push_str(payload_b64);

    let jwt = DecodedJwt {
        header,
        claims,
        signing_input,
        payload_start,
        signature,
    };
    Ok((jwt, jwk))
}

/// Header members that make a token name its own verification key (RFC 7515 §4.1.2, §4.1.3,
/// §4.1.5). Trusting them lets an attacker sign with a key of their choosing (RFC 8725 §3.10).
const KEY_REFERENCE_MEMBERS: [&str; 3] = ["jku", "jwk", "x5u"];

/// A JSON object whose member names are all distinct, or the given error.
fn strict_object(
    json: &[u8],
    duplicate: JwtError,
    not_object: JwtError,
) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice::<StrictObject>(json) {
        Ok(StrictObject {
            duplicate: false,
            map,
        }) => Ok(map),
        Ok(StrictObject {
            duplicate: true, ..
        }) => Err(duplicate),
        Err(_) => Err(not_object),
    }
}

fn parse_header(json: &[u8], embedded: EmbeddedKey) -> Result<(Header, Option<Value>), JwtError> {
    let mut map = strict_object(
        json,
        JwtError::HeaderDuplicateMember,
        JwtError::HeaderNotJsonObject,
    )?;

    let alg = match map.get("alg") {
        None => return Err(JwtError::MissingAlg),
        Some(Value::String(name)) if name == "none" => return Err(JwtError::AlgNone),
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or(JwtError::UnsupportedAlgorithm)?
        }
        Some(_) => return Err(JwtError::InvalidHeaderMember("alg")),
    };
    if map.contains_key("crit") {
        return Err(JwtError::CriticalHeader);
    }
    let jwk = match embedded {
        EmbeddedKey::Taken => map.remove("jwk"),
        EmbeddedKey::Refused => None,
    };
    if let Some(name) = KEY_REFERENCE_MEMBERS
        .into_iter()
        .find(|name| map.contains_key(*name))
    {
        return Err(JwtError::KeyReferenceInHeader(name));
    }
    let header = Header {
        alg,
        kid: optional_string(&map, "kid")?,
        typ: optional_string(&map, "typ")?,
    };
    Ok((header, jwk))
}

fn optional_string(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JwtError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(JwtError::InvalidHeaderMember(name)),
    }
}

/// A top-level JSON object that remembers whether a member name was repeated.
///
/// `serde_json::Map` silently keeps the last duplicate; two parsers disagreeing on which
/// duplicate counts is a classic signature-bypass vector, so we detect and refuse it. Nested
/// objects are ordinary `Value`s (claim conditions on them see the last duplicate).
pub(crate) struct StrictObject {
    pub(crate) map: Map<String, Value>,
    pub(crate) duplicate: bool,
}

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;

        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                let mut duplicate = false;
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key, value).is_some() {
                        duplicate = true;
                    }
                }
                Ok(StrictObject { map, duplicate })
            }
        }

        deserializer.deserialize_map(StrictVisitor)
    }
}
