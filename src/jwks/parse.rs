//! JWKS document parsing: one JWK at a time, skipping what we cannot use.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};

use super::key::{EcCurve, EcPublicKey, KeyMaterial, RsaPublicKey, VerifyingKey};
use super::x509::{self, CertificateError};
use super::{KeyPolicy, KeySet, ParsedKeySet};
use crate::jwa::Algorithm;

/// Largest JWKS document we parse, in bytes. Public IdP key sets are a few KiB (Google ~2 KiB,
/// Microsoft Entra ~15 KiB with `x5c` chains); 256 KiB is an order of magnitude above and
/// bounds what a misbehaving endpoint can make every worker parse.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Most keys kept from one set. IdPs publish 2-10 during rotation; keys beyond this are skipped
/// (`SkipReason::TooManyKeys`) so a kid-less token never tries an unbounded number of keys.
pub const MAX_KEYS: usize = 32;

/// RSA moduli below this are skipped (RFC 7518 §3.3: "A key of size 2048 bits or larger MUST
/// be used"; also NIST SP 800-131A).
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// RSA moduli above this are skipped: ring's verifiers accept at most 8192 bits, and larger
/// keys would make each verification disproportionately expensive.
pub const MAX_RSA_MODULUS_BITS: usize = 8192;

/// JWK members are base64url (RFC 7517 §4, RFC 7518 §6). Unlike tokens, we tolerate `=`
/// padding here: the document comes from the provider over an authenticated channel and a
/// different spelling of a key changes nothing, while some deployed IdPs pad. Non-zero trailing
/// bits are still refused, as is the standard alphabet.
const JWK_BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// Why a whole JWKS document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Larger than [`MAX_JWKS_BYTES`].
    TooLarge,
    /// Not JSON.
    NotJson,
    /// JSON, but not an object with a `keys` array (RFC 7517 §5).
    MissingKeys,
    /// Not one key is usable; the reasons are listed so the operator can see why.
    NoUsableKeys(Vec<SkippedKey>),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge => write!(f, "JWKS larger than {MAX_JWKS_BYTES} bytes"),
            JwksError::NotJson => f.write_str("JWKS is not valid JSON"),
            JwksError::MissingKeys => f.write_str("JWKS has no \"keys\" array"),
            JwksError::NoUsableKeys(skipped) => {
                write!(f, "JWKS has no usable key ({} skipped", skipped.len())?;
                for key in skipped {
                    write!(f, "; keys[{}]: {}", key.index, key.reason)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// A JWK that was present but not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    pub kid: Option<String>,
    pub reason: SkipReason,
}

/// Why one JWK was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The array element is not a JSON object.
    NotAnObject,
    /// A required member is missing (`kty`, `n`, `e`, `crv`, `x`, `y`, `k`).
    MissingMember(&'static str),
    /// A member has the wrong JSON type or is not valid base64url.
    InvalidMember(&'static str),
    /// `kty` is not RSA, EC, OKP or oct.
    UnsupportedKeyType,
    /// `crv` is not P-256/P-384/P-521 (EC) or Ed25519 (OKP).
    UnsupportedCurve,
    /// `use` is present and not `sig` (RFC 7517 §4.2): an encryption key must not verify.
    NotForSignatures,
    /// `key_ops` is present and lacks `verify` (RFC 7517 §4.3).
    VerifyNotPermitted,
    /// `alg` names an algorithm we do not verify (e.g. `RSA-OAEP`).
    UnsupportedAlgorithm,
    /// `alg` does not fit the key type or curve (e.g. `HS256` on an RSA key).
    AlgorithmKeyTypeMismatch,
    /// None of the algorithms this key could verify is accepted by the provider.
    AlgorithmNotAllowed,
    /// RSA modulus below [`MIN_RSA_MODULUS_BITS`].
    RsaModulusTooSmall,
    /// RSA modulus above [`MAX_RSA_MODULUS_BITS`].
    RsaModulusTooLarge,
    /// RSA public exponent even, below 3, or wider than 32 bits.
    RsaExponentInvalid,
    /// EC `x`/`y` or OKP `x` not of the exact length for the curve (RFC 7518 §6.2.1.2).
    CoordinateLength,
    /// The EC point is not on the curve.
    InvalidPoint,
    /// HMAC secret shorter than the hash output for every allowed HS algorithm
    /// (RFC 7518 §3.2: "A key of the same size as the hash output ... or larger MUST be used").
    HmacSecretTooShort,
    /// More than [`MAX_KEYS`] usable keys; the rest are ignored.
    TooManyKeys,
    /// `x5c` is not an array of base64 DER certificates whose first one holds a key we verify
    /// with (RFC 7517 §4.7).
    CertificateInvalid(CertificateError),
    /// The first `x5c` certificate holds another key than the JWK's own members (RFC 7517
    /// §4.7: it "MUST match"), or a key of another `kty`/`crv`.
    CertificateKeyMismatch,
    /// `x5t` or `x5t#S256` is not the thumbprint of the first `x5c` certificate
    /// (RFC 7517 §4.8, §4.9).
    ThumbprintMismatch(&'static str),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotAnObject => f.write_str("not a JSON object"),
            SkipReason::MissingMember(name) => write!(f, "missing \"{name}\""),
            SkipReason::InvalidMember(name) => write!(f, "invalid \"{name}\""),
            SkipReason::UnsupportedKeyType => f.write_str("unsupported kty"),
            SkipReason::UnsupportedCurve => f.write_str("unsupported crv"),
            SkipReason::NotForSignatures => f.write_str("use is not sig"),
            SkipReason::VerifyNotPermitted => f.write_str("key_ops lacks verify"),
            SkipReason::UnsupportedAlgorithm => f.write_str("unsupported alg"),
            SkipReason::AlgorithmKeyTypeMismatch => f.write_str("alg does not match kty/crv"),
            SkipReason::AlgorithmNotAllowed => f.write_str("no algorithm allowed by the provider"),
            SkipReason::RsaModulusTooSmall => {
                write!(f, "RSA modulus under {MIN_RSA_MODULUS_BITS} bits")
            }
            SkipReason::RsaModulusTooLarge => {
                write!(f, "RSA modulus over {MAX_RSA_MODULUS_BITS} bits")
            }
            SkipReason::RsaExponentInvalid => f.write_str("invalid RSA exponent"),
            SkipReason::CoordinateLength => f.write_str("coordinate length does not match crv"),
            SkipReason::InvalidPoint => f.write_str("point is not on the curve"),
            SkipReason::HmacSecretTooShort => f.write_str("HMAC secret shorter than the hash"),
            SkipReason::TooManyKeys => write!(f, "more than {MAX_KEYS} keys"),
            SkipReason::CertificateInvalid(error) => write!(f, "unusable x5c certificate: {error}"),
            SkipReason::CertificateKeyMismatch => {
                f.write_str("x5c certificate key differs from the JWK's key")
            }
            SkipReason::ThumbprintMismatch(member) => {
                write!(f, "\"{member}\" is not the x5c certificate's thumbprint")
            }
        }
    }
}

pub(super) fn parse_jwks(json: &[u8], policy: &KeyPolicy) -> Result<ParsedKeySet, JwksError> {
    if json.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let document: Value = serde_json::from_slice(json).map_err(|_| JwksError::NotJson)?;
    let entries = match document.get("keys") {
        Some(Value::Array(entries)) => entries,
        _ => return Err(JwksError::MissingKeys),
    };

    let mut allowed = policy.algorithms.clone();
    allowed.sort();
    allowed.dedup();
    let mut set = KeySet {
        keys: Vec::new(),
        allowed,
    };
    let mut skipped = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        match parse_jwk(entry, &set.allowed) {
            Ok(key) if set.keys.contains(&key) => {} // exact duplicate: collapse
            Ok(_) if set.keys.len() >= MAX_KEYS => skipped.push(SkippedKey {
                index,
                kid,
                reason: SkipReason::TooManyKeys,
            }),
            Ok(key) => set.keys.push(key),
            Err(reason) => skipped.push(SkippedKey { index, kid, reason }),
        }
    }
    if set.keys.is_empty() {
        return Err(JwksError::NoUsableKeys(skipped));
    }
    Ok(ParsedKeySet { keys: set, skipped })
}

/// A JWK that arrived on its own rather than in a key set — the `jwk` of a DPoP proof
/// (RFC 9449 §4.2) — read by the same rules as a published key, kept only for `allowed`.
pub fn parse_single_jwk(entry: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, SkipReason> {
    parse_jwk(entry, allowed)
}

/// One JWK (RFC 7517 §4) to a usable key, or the reason it cannot be used.
fn parse_jwk(entry: &Value, allowed: &[Algorithm]) -> Result<VerifyingKey, SkipReason> {
    let jwk = entry.as_object().ok_or(SkipReason::NotAnObject)?;

    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(SkipReason::InvalidMember("kid")),
    };
    match jwk.get("use") {
        None => {}
        Some(Value::String(usage)) if usage == "sig" => {}
        Some(Value::String(_)) => return Err(SkipReason::NotForSignatures),
        Some(_) => return Err(SkipReason::InvalidMember("use")),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(Value::Array(_)) => return Err(SkipReason::VerifyNotPermitted),
        Some(_) => return Err(SkipReason::InvalidMember("key_ops")),
    }
    let declared_alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => {
            Some(Algorithm::from_name(name).ok_or(SkipReason::UnsupportedAlgorithm)?)
        }
        Some(_) => return Err(SkipReason::InvalidMember("alg")),
    };

    let certificate = certificate_material(jwk)?;
    let kty = required_str(jwk, "kty")?;
    let material = match (kty, certificate) {
        // The key published only as a certificate (RFC 7517 §4.7 allows it; the JWK members
        // are then the certificate's).
        (_, Some(certificate)) if !has_key_members(jwk, kty) => {
            checked_material(certificate, jwk, kty)?
        }
        (_, Some(certificate)) => {
            let own = members_material(jwk, kty, allowed)?;
            if own != certificate {
                return Err(SkipReason::CertificateKeyMismatch);
            }
            own
        }
        (_, None) => members_material(jwk, kty, allowed)?,
    };

    let candidates = match declared_alg {
        Some(alg) if !material.supports(alg) => return Err(SkipReason::AlgorithmKeyTypeMismatch),
        Some(alg) => vec![alg],
        None => material.natural_algorithms(),
    };
    let permitted: Vec<Algorithm> = candidates
        .iter()
        .copied()
        .filter(|alg| allowed.contains(alg))
        .collect();
    if permitted.is_empty() {
        return Err(SkipReason::AlgorithmNotAllowed);
    }
    let algorithms: Vec<Algorithm> = match &material {
        KeyMaterial::Hmac(_) => {
            let long_enough: Vec<Algorithm> = permitted
                .into_iter()
                .filter(|alg| hmac_secret_long_enough(&material, *alg))
                .collect();
            if long_enough.is_empty() {
                return Err(SkipReason::HmacSecretTooShort);
            }
            long_enough
        }
        _ => permitted,
    };

    Ok(VerifyingKey::new(kid, algorithms, material))
}

/// The key from the JWK's own members (`n`/`e`, `crv`/`x`/`y`, `k`).
fn members_material(
    jwk: &Map<String, Value>,
    kty: &str,
    allowed: &[Algorithm],
) -> Result<KeyMaterial, SkipReason> {
    match kty {
        "RSA" => rsa_material(jwk),
        "EC" => ec_material(jwk),
        "OKP" => okp_material(jwk),
        "oct" => {
            // A shared secret in a key document is only meaningful if the provider opted in to
            // HMAC; otherwise skip it before even decoding it.
            if !allowed.iter().any(|alg| alg.is_symmetric()) {
                return Err(SkipReason::AlgorithmNotAllowed);
            }
            Ok(KeyMaterial::Hmac(required_b64(jwk, "k")?))
        }
        _ => Err(SkipReason::UnsupportedKeyType),
    }
}

/// Whether the JWK carries any member of its own key (then those members are the key, and a
/// certificate must match them).
fn has_key_members(jwk: &Map<String, Value>, kty: &str) -> bool {
    let members: &[&str] = match kty {
        "RSA" => &["n", "e"],
        "EC" => &["x", "y"],
        "OKP" => &["x"],
        _ => &["k"],
    };
    members.iter().any(|member| jwk.contains_key(*member))
}

/// A certificate's key standing alone: it must be of the JWK's `kty` (and `crv`, when given),
/// and passes the same checks as a key from members.
fn checked_material(
    material: KeyMaterial,
    jwk: &Map<String, Value>,
    kty: &str,
) -> Result<KeyMaterial, SkipReason> {
    let crv = jwk.get("crv").and_then(Value::as_str);
    match (kty, material) {
        ("RSA", KeyMaterial::Rsa(key)) => rsa_checked(key),
        ("EC", KeyMaterial::Ec(key)) => {
            if crv.is_some_and(|crv| EcCurve::from_jwk_name(crv) != Some(key.curve)) {
                return Err(SkipReason::CertificateKeyMismatch);
            }
            ec_checked(key)
        }
        ("OKP", KeyMaterial::Ed25519(key)) if crv.is_none_or(|crv| crv == "Ed25519") => {
            Ok(KeyMaterial::Ed25519(key))
        }
        ("RSA" | "EC" | "OKP", _) => Err(SkipReason::CertificateKeyMismatch),
        ("oct", _) => Err(SkipReason::CertificateKeyMismatch),
        _ => Err(SkipReason::UnsupportedKeyType),
    }
}

/// The key of the first `x5c` certificate (RFC 7517 §4.7), after checking `x5t` (SHA-1,
/// §4.8) and `x5t#S256` (§4.9) against it when present. `None` without `x5c`. The members are
/// standard base64 with padding, not base64url (§4.7); the thumbprints are base64url.
fn certificate_material(jwk: &Map<String, Value>) -> Result<Option<KeyMaterial>, SkipReason> {
    let Some(chain) = jwk.get("x5c") else {
        return Ok(None);
    };
    let invalid = SkipReason::CertificateInvalid(CertificateError::Malformed);
    let first = match chain {
        Value::Array(chain) => chain.first().and_then(Value::as_str).ok_or(invalid)?,
        _ => return Err(SkipReason::InvalidMember("x5c")),
    };
    if first.len() > x509::MAX_CERTIFICATE_BYTES.saturating_mul(4) / 3 + 4 {
        return Err(SkipReason::CertificateInvalid(CertificateError::TooLarge));
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(first)
        .map_err(|_| invalid)?;
    let thumbprints: [(&'static str, &'static ring::digest::Algorithm); 2] = [
        ("x5t", &ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        ("x5t#S256", &ring::digest::SHA256),
    ];
    for (member, digest) in thumbprints {
        if let Some(value) = jwk.get(member) {
            let claimed = match value {
                Value::String(text) => JWK_BASE64URL
                    .decode(text)
                    .map_err(|_| SkipReason::InvalidMember(member))?,
                _ => return Err(SkipReason::InvalidMember(member)),
            };
            if claimed != ring::digest::digest(digest, &der).as_ref() {
                return Err(SkipReason::ThumbprintMismatch(member));
            }
        }
    }
    x509::certificate_key(&der)
        .map(Some)
        .map_err(SkipReason::CertificateInvalid)
}

fn required_str<'a>(
    jwk: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, SkipReason> {
    match jwk.get(name) {
        None => Err(SkipReason::MissingMember(name)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(SkipReason::InvalidMember(name)),
    }
}

fn required_b64(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let text = required_str(jwk, name)?;
    JWK_BASE64URL
        .decode(text)
        .map_err(|_| SkipReason::InvalidMember(name))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// RSA public key (RFC 7518 §6.3.1). Some encoders emit a leading zero byte (a DER habit);
/// it is stripped so the modulus size and SPKI encoding are exact.
fn rsa_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    let n = strip_leading_zeros(required_b64(jwk, "n")?);
    let e = strip_leading_zeros(required_b64(jwk, "e")?);
    rsa_checked(RsaPublicKey { n, e })
}

/// Modulus size and exponent limits, wherever the RSA key came from.
fn rsa_checked(key: RsaPublicKey) -> Result<KeyMaterial, SkipReason> {
    let bits = key.bits();
    if bits < MIN_RSA_MODULUS_BITS {
        return Err(SkipReason::RsaModulusTooSmall);
    }
    if bits > MAX_RSA_MODULUS_BITS {
        return Err(SkipReason::RsaModulusTooLarge);
    }
    // ring accepts odd exponents from 3 up to 33 bits; every IdP uses 65537. Refusing here
    // turns a key that could never verify into a visible skip instead of silent failures.
    let exponent_ok = matches!(key.e.len(), 1..=4)
        && key.e.last().is_some_and(|low| low & 1 == 1)
        && key.e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)) >= 3;
    if !exponent_ok {
        return Err(SkipReason::RsaExponentInvalid);
    }
    Ok(KeyMaterial::Rsa(key))
}

/// EC public key (RFC 7518 §6.2.1): `x` and `y` must be exactly the curve's coordinate length,
/// which rules out the compressed and mis-padded encodings some libraries produce.
fn ec_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    let curve =
        EcCurve::from_jwk_name(required_str(jwk, "crv")?).ok_or(SkipReason::UnsupportedCurve)?;
    let x = required_b64(jwk, "x")?;
    let y = required_b64(jwk, "y")?;
    if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
        return Err(SkipReason::CoordinateLength);
    }
    let mut point = Vec::with_capacity(1 + 2 * curve.coordinate_len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    ec_checked(EcPublicKey { curve, point })
}

/// An uncompressed point of exactly the curve's size, on the curve, wherever it came from.
fn ec_checked(key: EcPublicKey) -> Result<KeyMaterial, SkipReason> {
    let EcPublicKey { curve, point } = key;
    if point.len() != 1 + 2 * curve.coordinate_len() || point.first() != Some(&0x04) {
        return Err(SkipReason::CoordinateLength);
    }
    if curve == EcCurve::P521 && p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).is_err() {
        // ring validates P-256/P-384 points on every verification; for P-521 we check once here
        // so an off-curve key is a visible skip rather than a key that silently never verifies.
        return Err(SkipReason::InvalidPoint);
    }
    Ok(KeyMaterial::Ec(EcPublicKey { curve, point }))
}

/// Octet key pair (RFC 8037 §2): only Ed25519 signs; X25519/X448 are key agreement and
/// Ed448 is not supported by our verifiers.
fn okp_material(jwk: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    if required_str(jwk, "crv")? != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = required_b64(jwk, "x")?;
    let key: [u8; 32] = x.try_into().map_err(|_| SkipReason::CoordinateLength)?;
    Ok(KeyMaterial::Ed25519(key))
}

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. True for every
/// non-HMAC key.
pub(super) fn hmac_secret_long_enough(material: &KeyMaterial, alg: Algorithm) -> bool {
    match material {
        KeyMaterial::Hmac(secret) => alg
            .hash_function()
            .is_some_and(|hash| secret.len() >= hash.output_len()),
        _ => true,
    }
}
