//! The public key inside an X.509 certificate (RFC 5280 §4.1), for JWKs that publish their key
//! as an `x5c` certificate chain (RFC 7517 §4.7) besides, or instead of, `n`/`e` or `x`/`y`:
//! Microsoft Entra ID, Auth0 and Keycloak do.
//!
//! Only the first certificate matters (RFC 7517 §4.7: it "MUST contain the key value"), and only
//! its `subjectPublicKeyInfo` is read: the JWKS itself is what the operator trusts (it comes
//! from the configured endpoint), so the certificate's issuer, validity and signature add
//! nothing a token could rely on, and are not checked.
//!
//! This is a minimal, bounded DER walk rather than a certificate crate: it reads seven
//! definite-length elements, refuses everything DER forbids that would matter (indefinite or
//! non-minimal lengths, multi-byte tags, trailing bytes), and costs a few hundred bytes of wasm
//! where an X.509 crate costs tens of KiB.

use super::key::{EcCurve, EcPublicKey, KeyMaterial, RsaPublicKey};
use super::spki::{
    OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_P521, OID_RSA_ENCRYPTION,
    TAG_BIT_STRING, TAG_INTEGER, TAG_NULL, TAG_OID, TAG_SEQUENCE,
};

/// Largest certificate we decode, in bytes. IdP signing certificates are about 0.7-1.5 KiB
/// (Entra's are ~1.1 KiB); 16 KiB leaves room for long names and extensions.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// `[0] EXPLICIT Version` of `TBSCertificate` (RFC 5280 §4.1).
const TAG_VERSION: u8 = 0xa0;

impl std::fmt::Display for CertificateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateError::TooLarge => write!(f, "larger than {MAX_CERTIFICATE_BYTES} bytes"),
            CertificateError::Malformed => f.write_str("not a DER certificate"),
            CertificateError::UnsupportedKey => f.write_str("unsupported key algorithm"),
        }
    }
}

/// Why a certificate yields no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateError {
    /// Larger than [`MAX_CERTIFICATE_BYTES`].
    TooLarge,
    /// Not the DER structure of a certificate.
    Malformed,
    /// A key algorithm or curve we do not verify with.
    UnsupportedKey,
}

/// The public key of a DER certificate, in the same [`KeyMaterial`] form a JWK's own members
/// produce (so both can be compared, and host crypto gets the same SPKI either way). Size and
/// curve checks are the caller's, as for JWK members.
pub fn certificate_key(der: &[u8]) -> Result<KeyMaterial, CertificateError> {
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(CertificateError::TooLarge);
    }
    let (certificate, rest) = element(der, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(CertificateError::Malformed);
    }
    let (tbs, _signature_and_algorithm) = element(certificate, TAG_SEQUENCE)?;
    let mut fields = tbs;
    if fields.first() == Some(&TAG_VERSION) {
        fields = any_element(fields)?.1;
    }
    // serialNumber, signature, issuer, validity, subject; then subjectPublicKeyInfo.
    for tag in [
        TAG_INTEGER,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
    ] {
        fields = element(fields, tag)?.1;
    }
    let (spki, _extensions) = element(fields, TAG_SEQUENCE)?;
    public_key_info(spki)
}

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT
/// STRING }` (RFC 5280 §4.1.2.7), content only.
fn public_key_info(spki: &[u8]) -> Result<KeyMaterial, CertificateError> {
    let (algorithm, rest) = element(spki, TAG_SEQUENCE)?;
    let (bits, rest) = element(rest, TAG_BIT_STRING)?;
    if !rest.is_empty() {
        return Err(CertificateError::Malformed);
    }
    let key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(CertificateError::Malformed),
    };
    let (oid, parameters) = element(algorithm, TAG_OID)?;
    if oid == OID_RSA_ENCRYPTION {
        // RFC 3279 §2.3.1: the parameters are NULL (absent is tolerated, as in practice).
        if !(parameters.is_empty() || parameters == [TAG_NULL, 0]) {
            return Err(CertificateError::Malformed);
        }
        return rsa_public_key(key);
    }
    if oid == OID_EC_PUBLIC_KEY {
        let (curve, rest) = element(parameters, TAG_OID)?;
        if !rest.is_empty() {
            return Err(CertificateError::Malformed);
        }
        let curve = match curve {
            c if c == OID_P256 => EcCurve::P256,
            c if c == OID_P384 => EcCurve::P384,
            c if c == OID_P521 => EcCurve::P521,
            _ => return Err(CertificateError::UnsupportedKey),
        };
        return Ok(KeyMaterial::Ec(EcPublicKey {
            curve,
            point: key.to_vec(),
        }));
    }
    if oid == OID_ED25519 {
        // RFC 8410 §3: the parameters MUST be absent.
        if !parameters.is_empty() {
            return Err(CertificateError::Malformed);
        }
        let key: [u8; 32] = key.try_into().map_err(|_| CertificateError::Malformed)?;
        return Ok(KeyMaterial::Ed25519(key));
    }
    Err(CertificateError::UnsupportedKey)
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 §A.1.1).
fn rsa_public_key(der: &[u8]) -> Result<KeyMaterial, CertificateError> {
    let (sequence, rest) = element(der, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(CertificateError::Malformed);
    }
    let (n, rest) = element(sequence, TAG_INTEGER)?;
    let (e, rest) = element(rest, TAG_INTEGER)?;
    if !rest.is_empty() {
        return Err(CertificateError::Malformed);
    }
    Ok(KeyMaterial::Rsa(RsaPublicKey {
        n: positive_magnitude(n)?,
        e: positive_magnitude(e)?,
    }))
}

/// The magnitude of a non-negative DER INTEGER, without leading zero bytes (the form JWK
/// members are compared in).
fn positive_magnitude(content: &[u8]) -> Result<Vec<u8>, CertificateError> {
    if content.first().is_none_or(|first| first & 0x80 != 0) {
        return Err(CertificateError::Malformed);
    }
    let zeros = content.iter().take_while(|b| **b == 0).count();
    Ok(content.get(zeros..).unwrap_or_default().to_vec())
}

/// One element with tag `tag`: its content and what follows it.
fn element(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), CertificateError> {
    match input.first() {
        Some(first) if *first == tag => any_element(input),
        _ => Err(CertificateError::Malformed),
    }
}

/// One element of any single-byte tag: its content and what follows it. DER lengths only
/// (X.690 §10.1): definite, minimal, at most four length bytes.
fn any_element(input: &[u8]) -> Result<(&[u8], &[u8]), CertificateError> {
    let (tag, rest) = input.split_first().ok_or(CertificateError::Malformed)?;
    if tag & 0x1f == 0x1f {
        return Err(CertificateError::Malformed); // high tag numbers never occur here
    }
    let (first, rest) = rest.split_first().ok_or(CertificateError::Malformed)?;
    let (len, rest) = match *first {
        short @ 0..=0x7f => (usize::from(short), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = rest.get(..count).ok_or(CertificateError::Malformed)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            let minimal = bytes.first().is_some_and(|b| *b != 0) && (count > 1 || len >= 0x80);
            if !minimal {
                return Err(CertificateError::Malformed);
            }
            (len, rest.get(count..).unwrap_or_default())
        }
        _ => return Err(CertificateError::Malformed), // indefinite or absurd
    };
    rest.split_at_checked(len)
        .ok_or(CertificateError::Malformed)
}
