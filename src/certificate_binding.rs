//! RFC 8705 certificate-bound access tokens: a token whose `cnf` claim holds `x5t#S256` is
//! only good on a connection whose client certificate has that SHA-256 (§3.1), so a token
//! copied from a log is refused when another workload presents it.
//!
//! The check is per request, never per token: the verified-token cache remembers that a
//! token's signature and claims are good, but the certificate it arrives with is the
//! connection's, so the pipeline runs this on cache hits too.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};

use crate::peer::{CertificateDigest, PeerCertificate};

/// base64url without padding (RFC 7515 §2), tolerating non-zero bits after the last byte:
/// RFC 8705's own example (§3.1) has them. The value is compared as the 32 bytes it decodes
/// to, inside a signed token, so a second spelling of the same bytes gains an attacker nothing.
const THUMBPRINT_BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Per provider `certificate_binding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertificateBinding {
    /// `cnf.x5t#S256` is ignored (tokens are bearer tokens, as in `jwt_authn`).
    Off,
    /// A token with `cnf.x5t#S256` must come with that certificate; one without is a bearer
    /// token. RFC 8705 §3 asks this of a resource server that knows about bound tokens.
    #[default]
    IfPresent,
    /// Every token must be bound to the client certificate.
    Required,
}

/// Why a token's certificate binding refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// Bound, and the connection has no client certificate.
    NoCertificate,
    /// Bound to another certificate.
    Mismatch,
    /// `required`, and the token has no `cnf.x5t#S256`.
    Required,
    /// `cnf` is not an object, or `x5t#S256` is not the base64url of 32 bytes.
    Malformed,
}

/// The certificate digest a token is bound to: `None` when it is not bound.
pub fn bound_digest(
    claims: &Map<String, Value>,
) -> Result<Option<CertificateDigest>, BindingError> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let Value::Object(cnf) = cnf else {
        return Err(BindingError::Malformed);
    };
    match cnf.get("x5t#S256") {
        None => Ok(None),
        Some(Value::String(thumbprint)) => {
            // 32 bytes are 43 base64url characters; a longer value is refused before decoding.
            if thumbprint.len() != 43 {
                return Err(BindingError::Malformed);
            }
            let bytes = THUMBPRINT_BASE64URL
                .decode(thumbprint)
                .map_err(|_| BindingError::Malformed)?;
            let digest =
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BindingError::Malformed)?;
            Ok(Some(CertificateDigest(digest)))
        }
        Some(_) => Err(BindingError::Malformed),
    }
}

/// Checks a verified token's binding under `binding`; the certificate is asked for only
/// when the token is bound.
pub fn check(
    claims: &Map<String, Value>,
    binding: CertificateBinding,
    certificate: &dyn PeerCertificate,
) -> Result<(), BindingError> {
    if binding == CertificateBinding::Off {
        return Ok(());
    }
    match bound_digest(claims)? {
        None if binding == CertificateBinding::Required => Err(BindingError::Required),
        None => Ok(()),
        Some(bound) => match certificate.sha256() {
            None => Err(BindingError::NoCertificate),
            Some(presented) if presented == bound => Ok(()),
            Some(_) => Err(BindingError::Mismatch),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;

    /// RFC 8705 §3.1's example: `x5t#S256` of the client certificate.
    const RFC_THUMBPRINT: &str = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn rfc_digest() -> CertificateDigest {
        bound_digest(&claims(json!({"cnf": {"x5t#S256": RFC_THUMBPRINT}})))
            .unwrap()
            .unwrap()
    }

    /// Counts how often the certificate is asked for.
    struct Counting(Option<CertificateDigest>, Cell<u32>);
    impl PeerCertificate for Counting {
        fn sha256(&self) -> Option<CertificateDigest> {
            self.1.set(self.1.get() + 1);
            self.0
        }
    }

    #[test]
    fn the_rfc_8705_example_thumbprint_decodes_to_32_bytes() {
        let digest = rfc_digest();
        assert_eq!(
            digest.to_hex(),
            "6f070ad1eb1cdc0082dc3076639fe5112b1713ca3d96d734e4ef3d8dd37e760d"
        );
    }

    #[test]
    fn a_bound_token_needs_the_same_certificate() {
        let bound = claims(json!({"cnf": {"x5t#S256": RFC_THUMBPRINT}}));
        let same = Some(rfc_digest());
        let other = Some(CertificateDigest([7; 32]));
        for binding in [CertificateBinding::IfPresent, CertificateBinding::Required] {
            assert_eq!(check(&bound, binding, &same), Ok(()));
            assert_eq!(check(&bound, binding, &other), Err(BindingError::Mismatch));
            assert_eq!(
                check(&bound, binding, &None),
                Err(BindingError::NoCertificate)
            );
        }
        assert_eq!(check(&bound, CertificateBinding::Off, &other), Ok(()));
    }

    #[test]
    fn an_unbound_token_passes_unless_binding_is_required() {
        let none = Counting(None, Cell::new(0));
        for unbound in [json!({}), json!({"cnf": {"jkt": "abc"}})] {
            let unbound = claims(unbound);
            assert_eq!(
                check(&unbound, CertificateBinding::IfPresent, &none),
                Ok(())
            );
            assert_eq!(
                check(&unbound, CertificateBinding::Required, &none),
                Err(BindingError::Required)
            );
        }
        assert_eq!(
            none.1.get(),
            0,
            "the certificate is read only for a bound token"
        );
    }

    #[test]
    fn malformed_bindings_are_refused() {
        let long = format!("{RFC_THUMBPRINT}A");
        let cases = [
            json!({"cnf": "x"}),
            json!({"cnf": [RFC_THUMBPRINT]}),
            json!({"cnf": {"x5t#S256": 1}}),
            json!({"cnf": {"x5t#S256": ""}}),
            json!({"cnf": {"x5t#S256": long}}),
            json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg="}}),
            json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5+lESsXE8o9ltc05O89jdN-dg2"}}),
        ];
        for case in cases {
            assert_eq!(
                check(&claims(case.clone()), CertificateBinding::IfPresent, &None),
                Err(BindingError::Malformed),
                "{case}"
            );
        }
    }
}
