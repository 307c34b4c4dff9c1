//! The fetch lease: which VM of an Envoy process may fetch a provider's keys right now.

use serde::{Deserialize, Serialize};

use super::FetchPolicy;

/// Who may fetch a provider's keys right now. Held in shared data next to the record and
/// taken with compare-and-swap; it expires on its own so a VM that dies mid-fetch does not
/// block the others forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchLease {
    /// A random identifier of the VM holding the lease.
    pub owner: u64,
    pub expires_at_ms: u64,
}

impl FetchLease {
    /// An unreadable or empty entry is a free lease.
    pub fn decode(bytes: &[u8]) -> Option<FetchLease> {
        if bytes.len() > MAX_LEASE_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A lease for a fetch that may make two calls (discovery, then JWKS), plus a margin for
    /// the tick that notices the answer.
    pub fn new(owner: u64, policy: &FetchPolicy, now_ms: u64) -> FetchLease {
        let hold = policy
            .fetch_timeout_ms
            .saturating_mul(2)
            .saturating_add(LEASE_MARGIN_MS);
        FetchLease {
            owner,
            expires_at_ms: now_ms.saturating_add(hold),
        }
    }

    /// Whether `owner` may take this lease: it is its own, or it expired.
    pub fn is_free_for(&self, owner: u64, now_ms: u64) -> bool {
        self.owner == owner || now_ms >= self.expires_at_ms
    }
}

/// Slack added to a lease beyond the fetch timeouts: ticks are coarse and the host's
/// timeout fires a little after the deadline.
const LEASE_MARGIN_MS: u64 = 2_000;

/// A lease is two numbers in JSON; anything longer is not one.
const MAX_LEASE_BYTES: usize = 128;
