//! JWS compact serialization (RFC 7515 §3.1, §7.1): decoding and signature verification.
//!
//! [`decode`] turns a compact token into a [`DecodedJwt`] and refuses everything we do not
//! understand before any key is touched; [`verify`] picks candidate keys from a
//! [`KeySet`](crate::jwks::KeySet) and asks a
//! [`SignatureVerifier`](crate::crypto::SignatureVerifier) to check the signature. The JWS JSON
//! serializations and JWE are not accepted: a bearer token in a header is always compact.

mod decode;
mod verify;

pub use crate::jwa::{Algorithm, HashFunction, KeyFamily};
pub(crate) use decode::StrictObject;
pub use decode::{
    decode, decode_proof, DecodedJwt, Header, JwtError, Segment, MAX_HEADER_JSON_LEN, MAX_TOKEN_LEN,
};
pub use verify::{verified_by, verify, VerifyError};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Strict base64url (RFC 7515 §2, RFC 4648 §5): URL-safe alphabet only (no `+` or `/`), no
/// padding, and no non-zero trailing bits. Refusing non-canonical encodings means one token has
/// exactly one spelling, so a cache keyed on the token text cannot be fooled by malleated copies.
pub(crate) const BASE64URL_STRICT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

#[cfg(test)]
mod known_answer_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
