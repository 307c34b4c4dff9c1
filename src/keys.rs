//! Key-set lifecycle: when a provider's keys are fetched, how long they stay usable, and how
//! the worker VMs of one Envoy process agree on a single fetch.
//!
//! Envoy runs one VM per worker thread. Without coordination every worker would fetch every
//! JWKS on every refresh, multiplying the load on the IdP by the worker count (a common
//! complaint about per-worker fetchers). Instead, each provider has one [`KeyRecord`] in the
//! host's shared data, and a [`FetchLease`] next to it: a VM fetches only after winning the
//! lease with a compare-and-swap, then publishes the result in the record; the other VMs adopt
//! it on their next tick. Everything here is pure (times are passed in), so the schedule is
//! unit-tested natively; `filter::fetch` does the host calls.

use serde::{Deserialize, Serialize};

/// How a provider's keys are refreshed, in milliseconds. Built from the provider's
/// `refresh` and `jwks` configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Time between successful refreshes (before jitter).
    pub interval_ms: u64,
    /// Up to this fraction (per mille) of the interval is taken off at random, so that a
    /// fleet of proxies started together does not refresh in lockstep.
    pub jitter_permille: u64,
    /// Keys older than this are no longer used, even if every refresh since has failed.
    pub max_stale_ms: u64,
    /// First retry delay after a failed fetch; doubles per consecutive failure.
    pub retry_initial_ms: u64,
    /// Upper bound of the retry delay.
    pub retry_max_ms: u64,
    /// An unknown `kid` triggers a refetch at most this often (per process), so a flood of
    /// tokens with made-up `kid`s cannot turn into a flood of fetches.
    pub unknown_kid_min_interval_ms: u64,
    /// Budget for one fetch (each HTTP call of it); also bounds how long a lease is held.
    pub fetch_timeout_ms: u64,
}

/// Why a fetch failed. Stable codes: they are metric labels and log fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchFailure {
    /// The host refused to dispatch the call (unknown cluster, bad URI).
    DispatchFailed,
    /// No response within the timeout (Envoy's router answered with its own 504).
    Timeout,
    /// The connection was reset or refused: the call ended without a response.
    Reset,
    /// A response other than 200.
    HttpStatus,
    /// The body exceeded the configured maximum size.
    TooLarge,
    /// The discovery document did not parse, or named another issuer.
    BadDiscovery,
    /// The JWKS did not parse or held no usable key.
    BadJwks,
}

impl FetchFailure {
    pub fn code(self) -> &'static str {
        match self {
            FetchFailure::DispatchFailed => "dispatch_failed",
            FetchFailure::Timeout => "timeout",
            FetchFailure::Reset => "reset",
            FetchFailure::HttpStatus => "http_status",
            FetchFailure::TooLarge => "too_large",
            FetchFailure::BadDiscovery => "bad_discovery",
            FetchFailure::BadJwks => "bad_jwks",
        }
    }
}

/// One provider's keys as the process knows them, stored in shared data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Bumped on every successful fetch; VMs adopt a record whose generation they have not seen.
    pub generation: u64,
    /// When the last good document was fetched.
    pub fetched_at_ms: Option<u64>,
    /// The last good JWKS document, verbatim.
    pub jwks: Option<String>,
    /// When the last attempt (successful or not) finished.
    pub attempted_at_ms: Option<u64>,
    /// When the last attempt triggered by an unknown `kid` finished. Only these count against
    /// the unknown-`kid` rate limit: a scheduled refresh just before a rotation must not
    /// block the refetch that picks up the new key.
    #[serde(default)]
    pub unknown_kid_attempted_at_ms: Option<u64>,
    /// When the next fetch is due, chosen by the VM that finished the last attempt.
    pub next_fetch_at_ms: u64,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    pub last_failure: Option<FetchFailure>,
}

impl KeyRecord {
    /// Decodes a record from shared data; an unreadable value counts as no record, so a
    /// corrupted entry heals on the next fetch instead of wedging the provider.
    pub fn decode(bytes: &[u8]) -> Option<KeyRecord> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether a fetch should start now (keys missing, refresh due, or retry due).
    pub fn fetch_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_fetch_at_ms
    }

    /// Whether an unknown `kid` may trigger a fetch now: rate-limited per process by the time
    /// of the last unknown-`kid` attempt (scheduled refreshes do not count).
    pub fn unknown_kid_refetch_allowed(&self, policy: &FetchPolicy, now_ms: u64) -> bool {
        now_ms >= self.unknown_kid_refetch_at_ms(policy)
    }

    /// The earliest moment an unknown `kid` may trigger a fetch: a refetch the rate limit
    /// defers is queued for then, not dropped.
    pub fn unknown_kid_refetch_at_ms(&self, policy: &FetchPolicy) -> u64 {
        self.unknown_kid_attempted_at_ms.map_or(0, |at| {
            at.saturating_add(policy.unknown_kid_min_interval_ms)
        })
    }

    /// Whether the last good keys are past `max_stale`: requests are refused at once with
    /// `keys_unavailable` rather than waiting for a fetch that keeps failing.
    pub fn is_expired(&self, policy: &FetchPolicy, now_ms: u64) -> bool {
        self.fetched_at_ms
            .is_some_and(|at| now_ms > at.saturating_add(policy.max_stale_ms))
    }

    /// The last good document, unless it is older than the staleness bound.
    pub fn usable_jwks(&self, policy: &FetchPolicy, now_ms: u64) -> Option<&str> {
        let fetched_at = self.fetched_at_ms?;
        if now_ms > fetched_at.saturating_add(policy.max_stale_ms) {
            return None;
        }
        self.jwks.as_deref()
    }

    /// Whether the keys are being served past a failed refresh.
    pub fn is_stale(&self) -> bool {
        self.failures > 0 && self.fetched_at_ms.is_some()
    }

    /// The record after a successful fetch. `random` (any u64) picks the jitter;
    /// `unknown_kid` says whether an unknown `kid` triggered the fetch.
    pub fn after_success(&self, jwks: String, policy: &FetchPolicy, attempt: Attempt) -> KeyRecord {
        let Attempt { now_ms, random, .. } = attempt;
        let max_jitter = policy.interval_ms.saturating_mul(policy.jitter_permille) / 1000;
        let jitter = random
            .checked_rem(max_jitter.saturating_add(1))
            .unwrap_or(0);
        KeyRecord {
            generation: self.generation.saturating_add(1),
            fetched_at_ms: Some(now_ms),
            jwks: Some(jwks),
            attempted_at_ms: Some(now_ms),
            unknown_kid_attempted_at_ms: self.unknown_kid_attempted_at(attempt),
            next_fetch_at_ms: now_ms.saturating_add(policy.interval_ms.saturating_sub(jitter)),
            failures: 0,
            last_failure: None,
        }
    }

    /// The record after a failed fetch: last good keys kept, retry with exponential backoff.
    pub fn after_failure(
        &self,
        failure: FetchFailure,
        policy: &FetchPolicy,
        attempt: Attempt,
    ) -> KeyRecord {
        let now_ms = attempt.now_ms;
        let failures = self.failures.saturating_add(1);
        KeyRecord {
            generation: self.generation,
            fetched_at_ms: self.fetched_at_ms,
            jwks: self.jwks.clone(),
            attempted_at_ms: Some(now_ms),
            unknown_kid_attempted_at_ms: self.unknown_kid_attempted_at(attempt),
            next_fetch_at_ms: now_ms.saturating_add(retry_delay_ms(policy, failures)),
            failures,
            last_failure: Some(failure),
        }
    }

    fn unknown_kid_attempted_at(&self, attempt: Attempt) -> Option<u64> {
        if attempt.unknown_kid {
            Some(attempt.now_ms)
        } else {
            self.unknown_kid_attempted_at_ms
        }
    }
}

/// One finished fetch attempt, as the record needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub now_ms: u64,
    /// Any u64: picks the refresh jitter.
    pub random: u64,
    /// Whether an unknown `kid` triggered the attempt (it counts against the rate limit).
    pub unknown_kid: bool,
}

impl Attempt {
    /// A scheduled (or cold-start, or retry) attempt.
    pub fn scheduled(now_ms: u64, random: u64) -> Attempt {
        Attempt {
            now_ms,
            random,
            unknown_kid: false,
        }
    }
}

/// `retry_initial * 2^(failures-1)`, capped at `retry_max`.
pub fn retry_delay_ms(policy: &FetchPolicy, failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(32);
    policy
        .retry_initial_ms
        .saturating_mul(1u64 << doublings)
        .min(policy.retry_max_ms)
}

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
    pub fn decode(bytes: &[u8]) -> Option<FetchLease> {
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

    /// Whether another VM may take this lease over.
    pub fn is_free_for(&self, owner: u64, now_ms: u64) -> bool {
        self.owner == owner || now_ms >= self.expires_at_ms
    }
}

/// Slack added to a lease beyond the fetch timeouts: ticks are coarse and the host's
/// timeout fires a little after the deadline.
const LEASE_MARGIN_MS: u64 = 2_000;

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FetchPolicy = FetchPolicy {
        interval_ms: 600_000,
        jitter_permille: 100,
        max_stale_ms: 3_600_000,
        retry_initial_ms: 1_000,
        retry_max_ms: 60_000,
        unknown_kid_min_interval_ms: 30_000,
        fetch_timeout_ms: 5_000,
    };

    #[test]
    fn a_provider_with_no_record_is_due_at_once() {
        assert!(KeyRecord::default().fetch_due(0));
        assert!(KeyRecord::default().usable_jwks(&POLICY, 0).is_none());
    }

    #[test]
    fn success_schedules_the_refresh_within_the_jitter_window() {
        for random in [0, 7, 59_999, 60_000, u64::MAX] {
            let record = KeyRecord::default().after_success(
                "{}".into(),
                &POLICY,
                Attempt::scheduled(1_000, random),
            );
            assert!(record.next_fetch_at_ms <= 1_000 + 600_000);
            assert!(
                record.next_fetch_at_ms >= 1_000 + 540_000,
                "random {random}"
            );
            assert_eq!(record.generation, 1);
            assert!(!record.fetch_due(1_000));
        }
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| retry_delay_ms(&POLICY, n)).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(retry_delay_ms(&POLICY, u32::MAX), 60_000);
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_good_keys_and_marks_them_stale() {
        let good =
            KeyRecord::default().after_success("keys".into(), &POLICY, Attempt::scheduled(0, 0));
        let failed = good.after_failure(
            FetchFailure::Timeout,
            &POLICY,
            Attempt::scheduled(600_000, 0),
        );
        assert_eq!(failed.usable_jwks(&POLICY, 600_000), Some("keys"));
        assert!(failed.is_stale());
        assert_eq!(failed.generation, good.generation);
        assert_eq!(failed.next_fetch_at_ms, 601_000);
        assert_eq!(failed.last_failure, Some(FetchFailure::Timeout));
    }

    #[test]
    fn keys_older_than_the_staleness_bound_are_not_used() {
        let good =
            KeyRecord::default().after_success("keys".into(), &POLICY, Attempt::scheduled(0, 0));
        assert_eq!(good.usable_jwks(&POLICY, 3_600_000), Some("keys"));
        assert_eq!(good.usable_jwks(&POLICY, 3_600_001), None);
    }

    #[test]
    fn a_scheduled_refresh_does_not_count_against_the_unknown_kid_limit() {
        let good = KeyRecord::default().after_success(
            "keys".into(),
            &POLICY,
            Attempt::scheduled(10_000, 0),
        );
        assert!(good.unknown_kid_refetch_allowed(&POLICY, 10_000));
        assert!(KeyRecord::default().unknown_kid_refetch_allowed(&POLICY, 0));
    }

    #[test]
    fn unknown_kid_refetches_are_rate_limited_by_the_last_unknown_kid_attempt() {
        let refetched = KeyRecord::default().after_success(
            "keys".into(),
            &POLICY,
            Attempt {
                now_ms: 10_000,
                random: 0,
                unknown_kid: true,
            },
        );
        assert!(!refetched.unknown_kid_refetch_allowed(&POLICY, 39_999));
        assert!(refetched.unknown_kid_refetch_allowed(&POLICY, 40_000));
        assert_eq!(refetched.unknown_kid_refetch_at_ms(&POLICY), 40_000);
        let refreshed =
            refetched.after_success("keys".into(), &POLICY, Attempt::scheduled(20_000, 0));
        assert_eq!(refreshed.unknown_kid_refetch_at_ms(&POLICY), 40_000);
    }

    #[test]
    fn keys_past_the_staleness_bound_are_expired() {
        let good =
            KeyRecord::default().after_success("keys".into(), &POLICY, Attempt::scheduled(0, 0));
        assert!(!good.is_expired(&POLICY, 3_600_000));
        assert!(good.is_expired(&POLICY, 3_600_001));
        assert!(!KeyRecord::default().is_expired(&POLICY, u64::MAX));
    }

    #[test]
    fn records_round_trip_and_garbage_reads_as_no_record() {
        let record = KeyRecord::default()
            .after_success("{\"keys\":[]}".into(), &POLICY, Attempt::scheduled(5, 1))
            .after_failure(FetchFailure::HttpStatus, &POLICY, Attempt::scheduled(10, 0));
        assert_eq!(KeyRecord::decode(&record.encode()), Some(record));
        assert_eq!(KeyRecord::decode(b"\xff not json"), None);
    }

    #[test]
    fn a_lease_is_free_for_its_owner_and_after_expiry() {
        let lease = FetchLease::new(7, &POLICY, 1_000);
        assert_eq!(lease.expires_at_ms, 1_000 + 12_000);
        assert!(lease.is_free_for(7, 1_000));
        assert!(!lease.is_free_for(8, 12_999));
        assert!(lease.is_free_for(8, 13_000));
        assert_eq!(FetchLease::decode(&lease.encode()), Some(lease));
    }
}
