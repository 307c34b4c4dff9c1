//! The shared record: one provider's keys as the Envoy process knows them, in shared data.
//!
//! Format (version 2): a version line, one line of JSON metadata, then the JWKS document's
//! bytes verbatim — the document is stored once, not escaped into a JSON string. A VM that
//! cannot read a record (another format version, corrupt, oversized) treats it as absent:
//! it does not use its keys (fails closed) and the record is due at once, so the next fetch
//! writes a readable one.

use serde::{Deserialize, Serialize};

use super::{FetchFailure, FetchPolicy};
use crate::jwks;

/// The first line of every record this version writes. A record from another version reads
/// as absent.
const FORMAT_LINE: &[u8] = b"claimcheck-key-record 2\n";

/// The largest record read: the largest JWKS accepted plus room for the metadata line.
pub const MAX_RECORD_BYTES: usize = jwks::MAX_JWKS_BYTES + 4 * 1024;

/// One provider's keys as the process knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRecord {
    pub meta: RecordMeta,
    /// The last good JWKS document, verbatim.
    pub jwks: Option<Vec<u8>>,
}

/// What the record says about the keys and the schedule (the metadata line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Bumped on every successful fetch; with `fetched_at_ms` it names the key set.
    pub generation: u64,
    /// When the last good document was fetched.
    pub fetched_at_ms: Option<u64>,
    /// When the last attempt (successful or not) finished.
    pub attempted_at_ms: Option<u64>,
    /// When the last attempt triggered by an unknown `kid` finished. Only these count against
    /// the unknown-`kid` rate limit: a scheduled refresh just before a rotation must not
    /// block the refetch that picks up the new key.
    pub unknown_kid_attempted_at_ms: Option<u64>,
    /// When the next fetch is due, chosen by the VM that finished the last attempt.
    pub next_fetch_at_ms: u64,
    /// The refresh interval the last success chose (the IdP's stated lifetime within bounds,
    /// or the configured interval): a change is logged once, by the VM that made it.
    pub interval_ms: Option<u64>,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    pub last_failure: Option<FetchFailure>,
}

/// Names one key set: a VM parses a set once, when this changes.
pub type KeySetId = (u64, Option<u64>);

impl KeyRecord {
    /// Decodes a record from shared data; `None` (treat as absent) for anything but a
    /// well-formed record of this format version within the size bound.
    pub fn decode(bytes: &[u8]) -> Option<KeyRecord> {
        if bytes.len() > MAX_RECORD_BYTES {
            return None;
        }
        let rest = bytes.strip_prefix(FORMAT_LINE)?;
        let end = rest.iter().position(|&byte| byte == b'\n')?;
        let (line, document) = rest.split_at(end);
        let meta: RecordMeta = serde_json::from_slice(line).ok()?;
        let document = document.get(1..).unwrap_or_default();
        let jwks = if meta.fetched_at_ms.is_some() {
            Some(document.to_vec())
        } else if document.is_empty() {
            None
        } else {
            return None;
        };
        Some(KeyRecord { meta, jwks })
    }

    pub fn encode(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.meta).unwrap_or_default();
        let document = self.jwks.as_deref().unwrap_or_default();
        let mut bytes = Vec::with_capacity(FORMAT_LINE.len() + meta.len() + 1 + document.len());
        bytes.extend_from_slice(FORMAT_LINE);
        bytes.extend_from_slice(&meta);
        bytes.push(b'\n');
        bytes.extend_from_slice(document);
        bytes
    }

    /// Which key set the record holds.
    pub fn key_set_id(&self) -> KeySetId {
        (self.meta.generation, self.meta.fetched_at_ms)
    }

    /// Whether a fetch should start now (keys missing, refresh due, or retry due).
    pub fn fetch_due(&self, now_ms: u64) -> bool {
        now_ms >= self.meta.next_fetch_at_ms
    }

    /// The earliest moment an unknown `kid` may trigger a fetch: rate-limited per process by
    /// the last unknown-`kid` attempt (scheduled refreshes do not count). A refetch the rate
    /// limit defers is queued for then, not dropped.
    pub fn unknown_kid_refetch_at_ms(&self, policy: &FetchPolicy) -> u64 {
        self.meta.unknown_kid_attempted_at_ms.map_or(0, |at| {
            at.saturating_add(policy.unknown_kid_min_interval_ms)
        })
    }

    pub fn unknown_kid_refetch_allowed(&self, policy: &FetchPolicy, now_ms: u64) -> bool {
        now_ms >= self.unknown_kid_refetch_at_ms(policy)
    }

    /// Whether the last good keys are past `max_stale`: requests are refused at once with
    /// `keys_unavailable` rather than waiting for a fetch that keeps failing.
    pub fn is_expired(&self, policy: &FetchPolicy, now_ms: u64) -> bool {
        self.meta
            .fetched_at_ms
            .is_some_and(|at| now_ms > at.saturating_add(policy.max_stale_ms))
    }

    /// The last good document, unless it is older than the staleness bound.
    pub fn usable_jwks(&self, policy: &FetchPolicy, now_ms: u64) -> Option<&[u8]> {
        self.meta.fetched_at_ms?;
        if self.is_expired(policy, now_ms) {
            return None;
        }
        self.jwks.as_deref()
    }

    /// Whether the keys are being served past a failed refresh.
    pub fn is_stale(&self) -> bool {
        self.meta.failures > 0 && self.meta.fetched_at_ms.is_some()
    }

    /// The record after a successful fetch whose responses set the refresh interval to
    /// `interval_ms`. A success after failed attempts (the IdP is back) spreads the next
    /// refresh over the second half of the interval: the proxies that failed through an
    /// outage all succeed within one retry delay of its end, and would otherwise refresh
    /// again together one interval later.
    pub fn after_success(
        &self,
        jwks: Vec<u8>,
        interval_ms: u64,
        policy: &FetchPolicy,
        attempt: Attempt,
    ) -> KeyRecord {
        let now_ms = attempt.now_ms;
        KeyRecord {
            meta: RecordMeta {
                generation: self.meta.generation.saturating_add(1),
                fetched_at_ms: Some(now_ms),
                attempted_at_ms: Some(now_ms),
                unknown_kid_attempted_at_ms: self.unknown_kid_attempted_at(attempt),
                next_fetch_at_ms: now_ms.saturating_add(if self.meta.failures > 0 {
                    policy.recovery_delay_ms(interval_ms, attempt.random)
                } else {
                    policy.refresh_delay_ms(interval_ms, attempt.random)
                }),
                interval_ms: Some(interval_ms),
                failures: 0,
                last_failure: None,
            },
            jwks: Some(jwks),
        }
    }

    /// The record after a failed fetch: last good keys kept, retry with backoff. A process
    /// with no usable keys retries on the plain backoff (requests are waiting for it); one
    /// serving its last good keys spreads its retries (see [`FetchPolicy::retry_delay_ms`]).
    pub fn after_failure(
        &self,
        failure: FetchFailure,
        policy: &FetchPolicy,
        attempt: Attempt,
    ) -> KeyRecord {
        let now_ms = attempt.now_ms;
        let failures = self.meta.failures.saturating_add(1);
        let delay = if self.usable_jwks(policy, now_ms).is_some() {
            policy.retry_delay_ms(failures, attempt.random)
        } else {
            super::policy::retry_backoff_ms(policy, failures)
        };
        KeyRecord {
            meta: RecordMeta {
                attempted_at_ms: Some(now_ms),
                unknown_kid_attempted_at_ms: self.unknown_kid_attempted_at(attempt),
                next_fetch_at_ms: now_ms.saturating_add(delay),
                failures,
                last_failure: Some(failure),
                ..self.meta.clone()
            },
            jwks: self.jwks.clone(),
        }
    }

    fn unknown_kid_attempted_at(&self, attempt: Attempt) -> Option<u64> {
        if attempt.unknown_kid {
            Some(attempt.now_ms)
        } else {
            self.meta.unknown_kid_attempted_at_ms
        }
    }
}

/// One finished fetch attempt, as the record needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub now_ms: u64,
    /// Any u64: picks the jitter.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::retry_backoff_ms;

    const POLICY: FetchPolicy = FetchPolicy {
        interval_ms: 600_000,
        min_interval_ms: 60_000,
        max_interval_ms: u64::MAX,
        jitter_permille: 100,
        max_stale_ms: 3_600_000,
        retry_initial_ms: 1_000,
        retry_max_ms: 60_000,
        unknown_kid_min_interval_ms: 30_000,
        fetch_timeout_ms: 5_000,
    };

    fn fetched(now_ms: u64) -> KeyRecord {
        KeyRecord::default().after_success(
            b"keys".to_vec(),
            POLICY.interval_ms,
            &POLICY,
            Attempt::scheduled(now_ms, 0),
        )
    }

    #[test]
    fn a_provider_with_no_record_is_due_at_once() {
        assert!(KeyRecord::default().fetch_due(0));
        assert!(KeyRecord::default().usable_jwks(&POLICY, 0).is_none());
    }

    #[test]
    fn success_schedules_the_refresh_within_the_jitter_window() {
        for random in [0, 7, 59_999, 60_000, u64::MAX] {
            let record = KeyRecord::default().after_success(
                b"{}".to_vec(),
                POLICY.interval_ms,
                &POLICY,
                Attempt::scheduled(1_000, random),
            );
            assert!(record.meta.next_fetch_at_ms <= 1_000 + 600_000);
            assert!(
                record.meta.next_fetch_at_ms >= 1_000 + 540_000,
                "random {random}"
            );
            assert_eq!(record.meta.generation, 1);
            assert!(!record.fetch_due(1_000));
        }
    }

    #[test]
    fn a_success_after_failures_spreads_the_next_refresh_over_half_the_interval() {
        let mut failed = fetched(0);
        failed.meta.failures = 3;
        let mut dues = Vec::new();
        for random in [0, 150_000, 299_999, 300_000, u64::MAX] {
            let record = failed.after_success(
                b"keys".to_vec(),
                POLICY.interval_ms,
                &POLICY,
                Attempt::scheduled(0, random),
            );
            assert!((300_000..=600_000).contains(&record.meta.next_fetch_at_ms));
            dues.push(record.meta.next_fetch_at_ms);
        }
        assert!(dues.iter().any(|&due| due < 540_000), "{dues:?}");
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| retry_backoff_ms(&POLICY, n)).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(retry_backoff_ms(&POLICY, u32::MAX), 60_000);
    }

    #[test]
    fn without_usable_keys_a_retry_waits_exactly_the_backoff() {
        let failed = KeyRecord::default().after_failure(
            FetchFailure::Timeout,
            &POLICY,
            Attempt::scheduled(10_000, 12_345),
        );
        assert_eq!(failed.meta.next_fetch_at_ms, 11_000);
    }

    #[test]
    fn with_usable_keys_a_retry_lands_in_the_upper_half_of_the_backoff() {
        for random in [0, 1, 15_000, 29_999, u64::MAX] {
            let mut record = fetched(0);
            record.meta.failures = 6;
            let failed = record.after_failure(
                FetchFailure::Timeout,
                &POLICY,
                Attempt::scheduled(0, random),
            );
            let delay = failed.meta.next_fetch_at_ms;
            assert!(
                (30_000..=60_000).contains(&delay),
                "random {random}: {delay}"
            );
        }
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_good_keys_and_marks_them_stale() {
        let good = fetched(0);
        let failed = good.after_failure(
            FetchFailure::Timeout,
            &POLICY,
            Attempt::scheduled(600_000, 0),
        );
        assert_eq!(failed.usable_jwks(&POLICY, 600_000), Some(&b"keys"[..]));
        assert!(failed.is_stale());
        assert_eq!(failed.key_set_id(), good.key_set_id());
        assert_eq!(failed.meta.last_failure, Some(FetchFailure::Timeout));
    }

    #[test]
    fn keys_older_than_the_staleness_bound_are_expired_and_not_used() {
        let good = fetched(0);
        assert_eq!(good.usable_jwks(&POLICY, 3_600_000), Some(&b"keys"[..]));
        assert!(!good.is_expired(&POLICY, 3_600_000));
        assert_eq!(good.usable_jwks(&POLICY, 3_600_001), None);
        assert!(good.is_expired(&POLICY, 3_600_001));
        assert!(!KeyRecord::default().is_expired(&POLICY, u64::MAX));
    }

    #[test]
    fn a_scheduled_refresh_does_not_count_against_the_unknown_kid_limit() {
        assert!(fetched(10_000).unknown_kid_refetch_allowed(&POLICY, 10_000));
        assert!(KeyRecord::default().unknown_kid_refetch_allowed(&POLICY, 0));
    }

    #[test]
    fn unknown_kid_refetches_are_rate_limited_by_the_last_unknown_kid_attempt() {
        let refetched = KeyRecord::default().after_success(
            b"keys".to_vec(),
            POLICY.interval_ms,
            &POLICY,
            Attempt {
                now_ms: 10_000,
                random: 0,
                unknown_kid: true,
            },
        );
        assert!(!refetched.unknown_kid_refetch_allowed(&POLICY, 39_999));
        assert!(refetched.unknown_kid_refetch_allowed(&POLICY, 40_000));
        let refreshed = refetched.after_success(
            b"keys".to_vec(),
            POLICY.interval_ms,
            &POLICY,
            Attempt::scheduled(20_000, 0),
        );
        assert_eq!(refreshed.unknown_kid_refetch_at_ms(&POLICY), 40_000);
    }

    #[test]
    fn records_round_trip_with_the_document_stored_verbatim() {
        let document = br#"{"keys":[{"kid":"a\nb"}]}"#.to_vec();
        let record = KeyRecord::default()
            .after_success(document.clone(), 1_000, &POLICY, Attempt::scheduled(5, 1))
            .after_failure(FetchFailure::HttpStatus, &POLICY, Attempt::scheduled(10, 0));
        let bytes = record.encode();
        assert!(
            bytes.ends_with(&document),
            "the document is stored once, unescaped"
        );
        assert_eq!(KeyRecord::decode(&bytes), Some(record));
        let empty = KeyRecord::default().after_failure(
            FetchFailure::Reset,
            &POLICY,
            Attempt::scheduled(1, 0),
        );
        assert_eq!(KeyRecord::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn garbage_reads_as_no_record() {
        assert_eq!(KeyRecord::decode(b"\xff not a record"), None);
        assert_eq!(KeyRecord::decode(b""), None);
        assert_eq!(KeyRecord::decode(FORMAT_LINE), None);
        let mut truncated_meta = FORMAT_LINE.to_vec();
        truncated_meta.extend_from_slice(b"{\"generation\":1");
        assert_eq!(KeyRecord::decode(&truncated_meta), None);
    }

    #[test]
    fn a_record_of_the_previous_format_reads_as_no_record() {
        let version_1 = br#"{"generation":3,"fetched_at_ms":5,"jwks":"{\"keys\":[]}","attempted_at_ms":5,"next_fetch_at_ms":600005,"failures":0,"last_failure":null}"#;
        assert_eq!(KeyRecord::decode(version_1), None);
    }

    #[test]
    fn an_oversized_record_reads_as_no_record() {
        let record = KeyRecord::default().after_success(
            vec![b' '; MAX_RECORD_BYTES],
            1_000,
            &POLICY,
            Attempt::scheduled(1, 0),
        );
        assert_eq!(KeyRecord::decode(&record.encode()), None);
    }

    #[test]
    fn a_document_without_a_fetch_time_reads_as_no_record() {
        let mut bytes = KeyRecord::default().encode();
        bytes.extend_from_slice(b"{\"keys\":[]}");
        assert_eq!(KeyRecord::decode(&bytes), None);
    }
}
