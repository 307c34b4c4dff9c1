//! The schedule's arithmetic over a provider's [`FetchPolicy`] (compiled with the
//! configuration): refresh and retry delays, and the randomness that keeps proxies apart.

use crate::config::FetchPolicy;
use crate::freshness::{self, IntervalBounds, Lifetime};

impl FetchPolicy {
    /// The refresh interval after a fetch whose responses stated `lifetime`: the IdP's word
    /// within the floor and half of `max_stale` (`freshness`), else the configured interval.
    pub fn interval_for(&self, lifetime: Lifetime) -> u64 {
        let bounds = IntervalBounds {
            configured_s: self.interval_ms / 1000,
            floor_s: self.min_interval_ms / 1000,
            max_stale_s: self.max_stale_ms / 1000,
        };
        match lifetime {
            Lifetime::Unstated => self.interval_ms,
            stated => freshness::effective_interval_s(stated, bounds)
                .saturating_mul(1000)
                .min(self.max_interval_ms),
        }
    }

    /// The time from a success to the next refresh: `interval` less up to the jitter
    /// fraction, picked by `random`.
    pub fn refresh_delay_ms(&self, interval_ms: u64, random: u64) -> u64 {
        let max_jitter = interval_ms.saturating_mul(self.jitter_permille) / 1000;
        let jitter = random
            .checked_rem(max_jitter.saturating_add(1))
            .unwrap_or(0);
        interval_ms.saturating_sub(jitter)
    }

    /// The time from a success that ended a run of failures to the next refresh: anywhere
    /// in the second half of `interval`, picked by `random`.
    pub fn recovery_delay_ms(&self, interval_ms: u64, random: u64) -> u64 {
        let half = interval_ms / 2;
        let spread = random.checked_rem(half.saturating_add(1)).unwrap_or(0);
        interval_ms.saturating_sub(spread)
    }

    /// The time from the `failures`-th consecutive failure to the retry.
    ///
    /// The backoff `retry_initial * 2^(failures-1)` (capped at `retry_max`) bounds the load
    /// a failing IdP sees from one proxy; the retry lands at a random point of the upper
    /// half of that delay ("equal jitter"), so proxies whose first failures coincide (an
    /// outage that starts while a fleet refreshes) drift apart instead of retrying together
    /// when the IdP comes back.
    pub fn retry_delay_ms(&self, failures: u32, random: u64) -> u64 {
        let backoff = retry_backoff_ms(self, failures);
        let half = backoff / 2;
        let spread = random.checked_rem(half.saturating_add(1)).unwrap_or(0);
        backoff.saturating_sub(half).saturating_add(spread)
    }
}

/// `retry_initial * 2^(failures-1)`, capped at `retry_max`: the longest a retry waits.
pub fn retry_backoff_ms(policy: &FetchPolicy, failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(32);
    policy
        .retry_initial_ms
        .saturating_mul(1u64 << doublings)
        .min(policy.retry_max_ms)
}

/// A small deterministic generator (SplitMix64): jitter and lease identities need spread,
/// not secrecy, and a seeded machine replays the same schedule in tests and simulations.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
