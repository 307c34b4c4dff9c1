//! The downstream peer: who is on the other end of the connection, as Envoy's TLS layer saw
//! it. Plain values, so rules and conditions on the peer stay pure and testable.
//!
//! Envoy exposes the peer through connection attributes (`get_property`): `connection.mtls`
//! (a bool, serialized as one byte), the first URI SAN (`connection.uri_san_peer_certificate`,
//! a SPIFFE ID in Istio, Kuma and SPIRE meshes), the first DNS SAN, the subject (RFC 2253
//! form) and the lowercase hex SHA-256 of the certificate's DER
//! (`connection.sha256_peer_certificate_digest`). The shell reads only the ones the compiled
//! policy names ([`PeerReads`]); the certificate digest only when a token is bound to it
//! ([`PeerCertificate`]), so a policy without peer rules or bound tokens costs no host call.

use std::fmt;

/// The longest peer attribute value accepted. SPIFFE IDs are at most 2048 bytes (SPIFFE ID
/// specification §2.3); a subject or SAN beyond 4 KiB is not one a mesh issues. A longer value
/// is treated as absent, so nothing unbounded is kept per request.
pub const MAX_PEER_VALUE_BYTES: usize = 4096;

/// The attribute paths, as `get_property` takes them.
pub const MTLS_ATTRIBUTE: [&str; 2] = ["connection", "mtls"];
pub const URI_SAN_ATTRIBUTE: [&str; 2] = ["connection", "uri_san_peer_certificate"];
pub const DNS_SAN_ATTRIBUTE: [&str; 2] = ["connection", "dns_san_peer_certificate"];
pub const SUBJECT_ATTRIBUTE: [&str; 2] = ["connection", "subject_peer_certificate"];
pub const DIGEST_ATTRIBUTE: [&str; 2] = ["connection", "sha256_peer_certificate_digest"];

/// The peer of the request's downstream connection. Fields the policy does not read stay
/// at their default (no mTLS, absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// TLS with a client certificate that passed the listener's validation.
    pub mtls: bool,
    /// The certificate's first URI SAN (a SPIFFE ID in a mesh).
    pub uri_san: Option<String>,
    /// The certificate's first DNS SAN.
    pub dns_san: Option<String>,
    /// The certificate's subject, e.g. `CN=orders,O=example`.
    pub subject: Option<String>,
}

/// One of the peer's identity values, as rules and conditions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerField {
    UriSan,
    DnsSan,
    Subject,
}

impl PeerField {
    pub const ALL: [PeerField; 3] = [PeerField::UriSan, PeerField::DnsSan, PeerField::Subject];

    /// The name in configuration (`uri_san`) and in `{peer.uri_san}`.
    pub fn name(self) -> &'static str {
        match self {
            PeerField::UriSan => "uri_san",
            PeerField::DnsSan => "dns_san",
            PeerField::Subject => "subject",
        }
    }
}

impl fmt::Display for PeerField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Peer {
    pub fn field(&self, field: PeerField) -> Option<&str> {
        match field {
            PeerField::UriSan => self.uri_san.as_deref(),
            PeerField::DnsSan => self.dns_san.as_deref(),
            PeerField::Subject => self.subject.as_deref(),
        }
    }
}

/// Which connection attributes the compiled policy reads; computed once at load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerReads {
    pub mtls: bool,
    pub uri_san: bool,
    pub dns_san: bool,
    pub subject: bool,
}

impl PeerReads {
    /// Whether any attribute is read at all.
    pub fn any(&self) -> bool {
        self.mtls || self.uri_san || self.dns_san || self.subject
    }

    pub fn field(&mut self, field: PeerField) {
        match field {
            PeerField::UriSan => self.uri_san = true,
            PeerField::DnsSan => self.dns_san = true,
            PeerField::Subject => self.subject = true,
        }
    }
}

/// `connection.mtls` as Envoy serializes a bool: one byte, non-zero for true. Anything else
/// (absent, another length) is no mTLS: fail closed.
pub fn bool_attribute(bytes: Option<&[u8]>) -> bool {
    matches!(bytes, Some([b]) if *b != 0)
}

/// A string attribute: UTF-8, non-empty, at most [`MAX_PEER_VALUE_BYTES`]; otherwise absent.
pub fn text_attribute(bytes: Option<Vec<u8>>) -> Option<String> {
    let bytes = bytes?;
    if bytes.is_empty() || bytes.len() > MAX_PEER_VALUE_BYTES {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The SHA-256 of the peer certificate's DER encoding: what RFC 8705 §3.1 `x5t#S256` binds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertificateDigest(pub [u8; 32]);

impl fmt::Debug for CertificateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateDigest({})", self.to_hex())
    }
}

impl CertificateDigest {
    /// Envoy's `sha256_peer_certificate_digest`: exactly 64 hex digits (Envoy writes lower
    /// case; upper case is read too). Anything else is no digest at all — never a prefix
    /// or a partial parse, which could make two certificates compare equal.
    pub fn from_hex(text: &str) -> Option<CertificateDigest> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let [high, low] = pair else {
                return None;
            };
            let high = char::from(*high).to_digit(16)?;
            let low = char::from(*low).to_digit(16)?;
            *slot = u8::try_from(high * 16 + low).ok()?;
        }
        Some(CertificateDigest(out))
    }

    /// The digest of a DER certificate (the CLI's `--peer-cert`).
    pub fn of_der(der: &[u8]) -> CertificateDigest {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        CertificateDigest(<[u8; 32]>::try_from(digest.as_ref()).unwrap_or([0; 32]))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// How the caller supplies the peer certificate's digest, asked only when a token carries a
/// certificate binding: reading it is a host call the other requests should not pay.
pub trait PeerCertificate {
    /// The digest, or `None` without a client certificate (or with a digest the host
    /// gave in a form that is not one).
    fn sha256(&self) -> Option<CertificateDigest>;
}

/// No client certificate: for callers that have none to offer.
pub static NO_CERTIFICATE: Option<CertificateDigest> = None;

/// A digest known in advance (explain, tests, a parked request).
impl PeerCertificate for Option<CertificateDigest> {
    fn sha256(&self) -> Option<CertificateDigest> {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_exactly_64_hex_digits() {
        let hex = "00ff10a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c";
        let digest = CertificateDigest::from_hex(hex).unwrap();
        assert_eq!(digest.0[1], 0xff);
        assert_eq!(digest.to_hex(), hex);
        assert_eq!(
            CertificateDigest::from_hex(&hex.to_ascii_uppercase()),
            Some(digest)
        );
        let too_short = &hex[..62];
        let too_long = format!("{hex}00");
        let not_hex = format!("{}zz", &hex[..62]);
        let with_colons = "00:ff".repeat(13);
        let signed = format!("+{}", &hex[1..]);
        for bad in ["", too_short, &too_long, &not_hex, &with_colons, &signed] {
            assert_eq!(CertificateDigest::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_digest_of_a_certificate_is_its_der_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            CertificateDigest::of_der(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn mtls_is_one_non_zero_byte() {
        assert!(bool_attribute(Some(&[1])));
        assert!(!bool_attribute(Some(&[0])));
        assert!(!bool_attribute(None));
        assert!(!bool_attribute(Some(&[])));
        assert!(!bool_attribute(Some(&[1, 0])));
    }

    #[test]
    fn text_attributes_are_bounded_utf8() {
        assert_eq!(
            text_attribute(Some(b"spiffe://td/ns/a/sa/b".to_vec())).as_deref(),
            Some("spiffe://td/ns/a/sa/b")
        );
        assert_eq!(text_attribute(None), None);
        assert_eq!(text_attribute(Some(Vec::new())), None);
        assert_eq!(text_attribute(Some(vec![0xff, 0xfe])), None);
        assert_eq!(
            text_attribute(Some(vec![b'a'; MAX_PEER_VALUE_BYTES + 1])),
            None
        );
        assert!(text_attribute(Some(vec![b'a'; MAX_PEER_VALUE_BYTES])).is_some());
    }
}
