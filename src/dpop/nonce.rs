//! Server-provided DPoP nonces (RFC 9449 §8, §9), for a resource server.
//!
//! A nonce bounds how long a proof can be used at all: a client has to fetch a fresh nonce
//! from the server and sign it into its proofs, so a proof precomputed by a client whose
//! key was briefly exposed stops working once the nonce it carries expires, whatever its
//! `iat` says.
//!
//! Nonces are stateless, so every worker VM of the process, and every replica configured
//! with the same secret, accepts every other's: a nonce is the number of the time window it
//! was minted in and an HMAC-SHA256 of that number under the provider's secret, in
//! base64url. A nonce is accepted in the window it was minted in and the next one, so it
//! lives between one and two `lifetime_s`. Nothing is stored, nothing has to be shared.
//!
//! The nonce is not a secret: it only proves the server saw the time it names. Its MAC is
//! checked in constant time; any other content (wrong length, not base64url) is refused as
//! malformed before any MAC work.

use std::sync::Arc;

use base64::Engine as _;
use ring::hmac;

/// The window counter's bytes (big-endian u64).
const WINDOW_BYTES: usize = 8;

/// HMAC-SHA256's tag.
const TAG_BYTES: usize = 32;

/// The length of every nonce this module mints: base64url without padding of 40 bytes.
/// Anything else is malformed, so a hostile `nonce` claim costs no decoding beyond a length
/// check.
pub const NONCE_CHARS: usize = 54;

/// Separates nonce MACs from any other use of the same secret.
const CONTEXT: &[u8] = b"claimcheck dpop nonce v1\0";

/// The shortest secret accepted, in bytes: HMAC-SHA256's output size (RFC 2104 §3).
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest secret accepted, in bytes: SHA-256's block size (longer keys are hashed
/// down anyway, so more adds nothing).
pub const MAX_SECRET_BYTES: usize = 64;

/// A provider's compiled `dpop.nonce` block.
#[derive(Clone, PartialEq, Eq)]
pub struct NoncePolicy {
    /// The length of a window, in seconds; a nonce lives one to two of them.
    pub lifetime_s: u64,
    /// The MAC secret, shared by every replica that must accept the same nonces.
    secret: Arc<[u8]>,
}

/// The secret never reaches a log or a trace.
impl std::fmt::Debug for NoncePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoncePolicy")
            .field("lifetime_s", &self.lifetime_s)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Every way a proof's `nonce` fails; each one is answered with a fresh nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceError {
    /// No `nonce` claim, or not a string.
    Missing,
    /// Not a nonce this module mints: wrong length, or not base64url.
    Malformed,
    /// The MAC does not verify: another secret, or a changed nonce.
    Invalid,
    /// Minted before the previous window, or in a window that has not begun.
    Expired,
}

impl NoncePolicy {
    /// `lifetime_s` is at least 1 (the loader bounds it); `secret` is the decoded secret.
    pub fn new(lifetime_s: u64, secret: &[u8]) -> Self {
        NoncePolicy {
            lifetime_s: lifetime_s.max(1),
            secret: Arc::from(secret),
        }
    }

    /// The window `now_s` falls in.
    fn window(&self, now_s: u64) -> u64 {
        now_s / self.lifetime_s
    }

    fn tag(&self, window: u64) -> hmac::Tag {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.secret);
        let mut context = hmac::Context::with_key(&key);
        context.update(CONTEXT);
        context.update(&window.to_be_bytes());
        context.sign()
    }

    /// A fresh nonce for the current window.
    pub fn mint(&self, now_s: u64) -> String {
        let window = self.window(now_s);
        let mut bytes = Vec::with_capacity(WINDOW_BYTES + TAG_BYTES);
        bytes.extend_from_slice(&window.to_be_bytes());
        bytes.extend_from_slice(self.tag(window).as_ref());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was minted under this secret in the current or the previous window.
    pub fn verify(&self, nonce: &str, now_s: u64) -> Result<(), NonceError> {
        if nonce.len() != NONCE_CHARS {
            return Err(NonceError::Malformed);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceError::Malformed)?;
        let (window, tag) = bytes
            .split_first_chunk::<WINDOW_BYTES>()
            .ok_or(NonceError::Malformed)?;
        let window = u64::from_be_bytes(*window);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.secret);
        let mut signed = Vec::with_capacity(CONTEXT.len() + WINDOW_BYTES);
        signed.extend_from_slice(CONTEXT);
        signed.extend_from_slice(&window.to_be_bytes());
        hmac::verify(&key, &signed, tag).map_err(|_| NonceError::Invalid)?;
        let current = self.window(now_s);
        if window == current || window.checked_add(1) == Some(current) {
            Ok(())
        } else {
            Err(NonceError::Expired)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];
    const NOW: u64 = 1_900_000_000;

    fn policy() -> NoncePolicy {
        NoncePolicy::new(300, &SECRET)
    }

    #[test]
    fn a_minted_nonce_verifies_at_once() {
        let policy = policy();
        assert_eq!(policy.verify(&policy.mint(NOW), NOW), Ok(()));
    }

    #[test]
    fn a_nonce_is_opaque_base64url_of_a_fixed_length() {
        let nonce = policy().mint(NOW);
        assert_eq!(nonce.len(), NONCE_CHARS);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn a_nonce_verifies_through_the_next_window() {
        let policy = policy();
        let start = NOW - NOW % 300;
        let nonce = policy.mint(start);
        assert_eq!(policy.verify(&nonce, start + 299), Ok(()));
        assert_eq!(policy.verify(&nonce, start + 300), Ok(()));
        assert_eq!(policy.verify(&nonce, start + 599), Ok(()));
    }

    #[test]
    fn a_nonce_expires_two_windows_after_the_one_it_was_minted_in() {
        let policy = policy();
        let start = NOW - NOW % 300;
        let nonce = policy.mint(start + 299);
        assert_eq!(policy.verify(&nonce, start + 600), Err(NonceError::Expired));
    }

    #[test]
    fn a_nonce_from_a_window_not_yet_begun_is_refused() {
        let policy = policy();
        let nonce = policy.mint(NOW + 300);
        assert_eq!(policy.verify(&nonce, NOW), Err(NonceError::Expired));
    }

    #[test]
    fn two_windows_mint_different_nonces() {
        let policy = policy();
        assert_ne!(policy.mint(NOW), policy.mint(NOW + 300));
    }

    #[test]
    fn a_nonce_under_another_secret_is_invalid() {
        let other = NoncePolicy::new(300, &[8; 32]);
        assert_eq!(
            policy().verify(&other.mint(NOW), NOW),
            Err(NonceError::Invalid)
        );
    }

    #[test]
    fn replicas_with_the_same_secret_accept_each_others_nonces() {
        let replica = NoncePolicy::new(300, &SECRET);
        assert_eq!(policy().verify(&replica.mint(NOW), NOW), Ok(()));
    }

    /// `nonce` with `mask` flipped in its decoded byte `index`.
    fn flip_bit(nonce: &str, index: usize, mask: u8) -> String {
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(nonce)
            .unwrap();
        bytes[index] ^= mask;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn a_nonce_with_a_changed_window_is_invalid() {
        let policy = policy();
        let tampered = flip_bit(&policy.mint(NOW), 7, 1);
        assert_eq!(policy.verify(&tampered, NOW), Err(NonceError::Invalid));
    }

    #[test]
    fn a_nonce_with_a_changed_tag_is_invalid() {
        let policy = policy();
        let tampered = flip_bit(&policy.mint(NOW), 39, 0x80);
        assert_eq!(policy.verify(&tampered, NOW), Err(NonceError::Invalid));
    }

    #[test]
    fn malformed_nonces_are_refused_without_a_panic() {
        let policy = policy();
        let nonce = policy.mint(NOW);
        let long = "A".repeat(100_000);
        let not_base64 = "*".repeat(NONCE_CHARS);
        let padded = format!("{}=", &nonce[..NONCE_CHARS - 1]);
        let multibyte = "é".repeat(NONCE_CHARS / 2);
        for bad in [
            "",
            "abc",
            &nonce[1..],
            &long,
            &not_base64,
            &padded,
            &multibyte,
        ] {
            assert_eq!(
                policy.verify(bad, NOW),
                Err(NonceError::Malformed),
                "{bad:.60}"
            );
        }
    }

    #[test]
    fn the_secret_is_not_in_the_debug_output() {
        let debug = format!(
            "{:?}",
            NoncePolicy::new(300, b"0123456789abcdef0123456789abcdef")
        );
        assert!(!debug.contains("0123456789"), "{debug}");
        assert!(!debug.contains("48, 49"), "{debug}");
    }
}
