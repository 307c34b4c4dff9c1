//! The proof replay cache (RFC 9449 §11.1): a proof's `jti` seen before within its window
//! is refused, on every worker VM of the Envoy process.
//!
//! The cache lives in Envoy's shared data (one store per VM id per process), as a fixed
//! number of slots per provider, so its memory is bounded whatever clients send:
//! `claimcheck/v2/dpop/<provider>/<slots>/<index>`. A proof lands in the slot its digest
//! names; a slot holds at most [`SLOT_ENTRIES`] live entries, each a digest and the moment
//! the proof stops being acceptable anyway (its `iat` plus the window). Entries past that
//! moment are evicted by the next write to their slot.
//!
//! Decisions are here; the shell only reads a slot with its CAS, asks [`admit`], writes what
//! it answers with that CAS, and on a lost CAS reads again and asks again (another VM wrote
//! the slot meanwhile: its entry must be seen, or the same proof on two workers at once
//! would pass twice).
//!
//! A slot full of live entries refuses the proof (fail closed): accepting it unrecorded
//! would let it be replayed, and evicting a live entry would let *that* proof be replayed.
//! The refusal is `dpop_replay_unavailable` (503, `Retry-After`): the client's next proof,
//! with a new `jti`, most likely lands in another slot. Size `replay_slots` so that the
//! proofs of one window fit a few times over (README, "DPoP").

use crate::provider_id::ProviderId;

/// Live entries one slot holds. Eight keeps a slot under 200 bytes, so reading and writing
/// it (a copy each way through the host) stays cheap, while a slot fills only when eight
/// live proofs hash to it.
pub const SLOT_ENTRIES: usize = 8;

/// The layout version of a slot: a slot that does not start with it is unreadable.
const MAGIC: &[u8; 4] = b"cdp1";

/// A digest (16 bytes) and an expiry in ms (8 bytes, big-endian).
const ENTRY_BYTES: usize = 24;

/// The largest readable slot.
pub const MAX_SLOT_BYTES: usize = MAGIC.len() + SLOT_ENTRIES * ENTRY_BYTES;

/// Lost CAS races tolerated before a request gives up (and is refused: fail closed). Each
/// loss means another VM just wrote the same slot; four in a row means the slot is hot
/// enough that waiting longer would only add latency.
pub const MAX_CAS_ATTEMPTS: usize = 4;

/// One proof to record: which slot, its digest, and until when it is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayEntry {
    pub provider: ProviderId,
    /// Index of the slot, below `slots`.
    pub slot: u32,
    /// The provider's slot count (part of the slot's key).
    pub slots: u32,
    /// SHA-256 of the proof key's thumbprint and the `jti`, truncated: two clients cannot
    /// collide on purpose (each names its own key), so one cannot fill another's entries.
    pub digest: [u8; 16],
    /// When the proof stops being acceptable by its `iat`: the entry is useless after it.
    pub expires_at_ms: u64,
}

impl ReplayEntry {
    /// The entry for a proof of key `jkt` with this `jti`, in one of `slots` slots.
    pub fn new(provider: ProviderId, jkt: &str, jti: &str, slots: u32, expires_at_ms: u64) -> Self {
        let mut input = Vec::with_capacity(jkt.len() + 1 + jti.len());
        input.extend_from_slice(jkt.as_bytes());
        input.push(0);
        input.extend_from_slice(jti.as_bytes());
        let hash = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut digest = [0u8; 16];
        for (to, from) in digest.iter_mut().zip(hash.as_ref()) {
            *to = *from;
        }
        let mut index = [0u8; 4];
        for (to, from) in index.iter_mut().zip(hash.as_ref().iter().skip(16)) {
            *to = *from;
        }
        let slot = u32::from_be_bytes(index) % slots.max(1);
        ReplayEntry {
            provider,
            slot,
            slots,
            digest,
            expires_at_ms,
        }
    }
}

/// The shared-data key of a slot. `slots` is part of it: listeners configured with another
/// slot count use other keys, never each other's slot numbering.
pub fn slot_key(provider_name: &str, slots: u32, slot: u32) -> String {
    format!("claimcheck/v2/dpop/{provider_name}/{slots}/{slot}")
}

/// The empty slot, written when a provider's slots are created.
pub fn empty_slot() -> Vec<u8> {
    MAGIC.to_vec()
}

/// What to do with a slot for one proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// First use: write this slot (with the CAS it was read at).
    Store(Vec<u8>),
    /// The proof was used before and is still within its window.
    Replayed,
    /// Every entry of the slot is live: refuse (fail closed).
    Full,
}

/// The decision for `entry` given its slot as read (`None`: absent). An unreadable slot
/// (another layout, or corrupt) counts as empty and is replaced: it was not written by this
/// layout, so it records no proof this layout would recognise.
pub fn admit(slot: Option<&[u8]>, entry: &ReplayEntry, now_ms: u64) -> Admission {
    let mut live: Vec<([u8; 16], u64)> = decode(slot.unwrap_or_default())
        .into_iter()
        .filter(|(_, expires_at_ms)| *expires_at_ms > now_ms)
        .collect();
    if live.iter().any(|(digest, _)| *digest == entry.digest) {
        return Admission::Replayed;
    }
    if live.len() >= SLOT_ENTRIES {
        return Admission::Full;
    }
    live.push((entry.digest, entry.expires_at_ms));
    Admission::Store(encode(&live))
}

fn decode(bytes: &[u8]) -> Vec<([u8; 16], u64)> {
    let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Vec::new();
    };
    if body.len() % ENTRY_BYTES != 0 || body.len() > SLOT_ENTRIES * ENTRY_BYTES {
        return Vec::new();
    }
    body.chunks_exact(ENTRY_BYTES)
        .map(|chunk| {
            let (digest_bytes, expiry_bytes) = chunk.split_at(16);
            let mut digest = [0u8; 16];
            digest.copy_from_slice(digest_bytes);
            let mut expiry = [0u8; 8];
            expiry.copy_from_slice(expiry_bytes);
            (digest, u64::from_be_bytes(expiry))
        })
        .collect()
}

fn encode(entries: &[([u8; 16], u64)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(MAGIC.len() + entries.len() * ENTRY_BYTES);
    bytes.extend_from_slice(MAGIC);
    for (digest, expires_at_ms) in entries {
        bytes.extend_from_slice(digest);
        bytes.extend_from_slice(&expires_at_ms.to_be_bytes());
    }
    bytes
}

/// How the replay check of a proof ended, as the caller's store answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayAnswer {
    /// Recorded: first use.
    Fresh,
    Replayed,
    /// Not recorded (slot full, CAS lost too often, store refused): the proof is refused.
    Unavailable,
    /// No store to check against (`claimcheck explain`): assumed first use, and said so.
    Unchecked,
}

/// Where proofs are recorded: the shared-data slots in the filter, memory in tests, nothing
/// in `explain`. Called once per allowed request that carried a proof, after every other
/// check passed, so a refused request never spends a slot entry.
pub trait ReplayStore {
    /// `provider` is the provider's name (part of the slot's key).
    fn record(&self, provider: &str, entry: &ReplayEntry, now_ms: u64) -> ReplayAnswer;
}

/// For callers with no shared state: every proof is taken as first use, reported so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unchecked;

impl ReplayStore for Unchecked {
    fn record(&self, _provider: &str, _entry: &ReplayEntry, _now_ms: u64) -> ReplayAnswer {
        ReplayAnswer::Unchecked
    }
}

/// A replay cache in memory with the shared-data semantics: one process's worth of slots
/// for native tests and tools that run the pipeline more than once.
#[derive(Debug, Default)]
pub struct InMemory {
    slots: std::cell::RefCell<std::collections::HashMap<String, (Vec<u8>, u32)>>,
    next_cas: std::cell::Cell<u32>,
}

impl SlotStore for InMemory {
    fn read(&self, key: &str) -> Option<(Option<Vec<u8>>, u32)> {
        self.slots
            .borrow()
            .get(key)
            .map(|(bytes, cas)| (Some(bytes.clone()), *cas))
    }

    fn write(&self, key: &str, value: &[u8], cas: Option<u32>) -> WriteResult {
        let current = self.slots.borrow().get(key).map(|(_, cas)| *cas);
        if cas.is_some() && cas != current {
            return WriteResult::CasLost;
        }
        let next = self.next_cas.get().wrapping_add(1);
        self.next_cas.set(next);
        self.slots
            .borrow_mut()
            .insert(key.to_owned(), (value.to_vec(), next));
        WriteResult::Written
    }
}

impl ReplayStore for InMemory {
    fn record(&self, provider: &str, entry: &ReplayEntry, now_ms: u64) -> ReplayAnswer {
        let key = slot_key(provider, entry.slots, entry.slot);
        record(self, &key, entry, now_ms).answer
    }
}

/// A slot store with compare-and-swap, as Envoy's shared data offers it: the shell's host
/// and the tests' memory both implement it, and [`record`] runs the same loop over either.
pub trait SlotStore {
    /// The slot's bytes (`None`: absent) and its CAS.
    fn read(&self, key: &str) -> Option<(Option<Vec<u8>>, u32)>;
    /// Writes the slot if its CAS is still `cas` (`None`: unconditionally, to create it).
    fn write(&self, key: &str, value: &[u8], cas: Option<u32>) -> WriteResult;
}

/// The outcome of a [`SlotStore::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    Written,
    /// Another writer moved the slot since it was read.
    CasLost,
    /// The store refused for another reason.
    Failed,
}

/// Records `entry` in `store`: read, decide, write by CAS, and on a lost CAS read again, at
/// most [`MAX_CAS_ATTEMPTS`] times. An absent slot is created empty first, unconditionally
/// (slots are created when the configuration loads, so this is the rare path), then read
/// again so the write that records the proof is a CAS write like every other.
pub fn record(store: &dyn SlotStore, key: &str, entry: &ReplayEntry, now_ms: u64) -> RecordOutcome {
    let mut cas_lost = 0;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some((slot, cas)) = store.read(key) else {
            if store.write(key, &empty_slot(), None) != WriteResult::Written {
                return RecordOutcome::new(ReplayAnswer::Unavailable, cas_lost);
            }
            continue;
        };
        let bytes = match admit(slot.as_deref(), entry, now_ms) {
            Admission::Store(bytes) => bytes,
            Admission::Replayed => return RecordOutcome::new(ReplayAnswer::Replayed, cas_lost),
            Admission::Full => return RecordOutcome::new(ReplayAnswer::Unavailable, cas_lost),
        };
        match store.write(key, &bytes, Some(cas)) {
            WriteResult::Written => return RecordOutcome::new(ReplayAnswer::Fresh, cas_lost),
            WriteResult::CasLost => cas_lost += 1,
            WriteResult::Failed => return RecordOutcome::new(ReplayAnswer::Unavailable, cas_lost),
        }
    }
    RecordOutcome::new(ReplayAnswer::Unavailable, cas_lost)
}

/// What [`record`] answered, and how many CAS races it lost on the way (for a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOutcome {
    pub answer: ReplayAnswer,
    pub cas_lost: usize,
}

impl RecordOutcome {
    fn new(answer: ReplayAnswer, cas_lost: usize) -> Self {
        RecordOutcome { answer, cas_lost }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    fn entry(jti: &str, expires_at_ms: u64) -> ReplayEntry {
        ReplayEntry::new(ProviderId(0), "jkt", jti, 16, expires_at_ms)
    }

    fn stored(admission: Admission) -> Vec<u8> {
        match admission {
            Admission::Store(bytes) => bytes,
            other => panic!("expected a store, got {other:?}"),
        }
    }

    #[test]
    fn a_first_proof_is_stored_in_an_absent_slot() {
        let bytes = stored(admit(None, &entry("a", 10_000), 0));
        assert_eq!(bytes.len(), MAGIC.len() + ENTRY_BYTES);
    }

    #[test]
    fn the_same_proof_within_its_window_is_a_replay() {
        let e = entry("a", 10_000);
        let bytes = stored(admit(None, &e, 0));
        assert_eq!(admit(Some(&bytes), &e, 9_999), Admission::Replayed);
    }

    #[test]
    fn an_entry_past_its_window_is_evicted_and_the_proof_no_longer_recognised() {
        let e = entry("a", 10_000);
        let bytes = stored(admit(None, &e, 0));
        // Past its window the proof is refused by its `iat` anyway; the slot forgets it.
        let again = stored(admit(Some(&bytes), &e, 10_000));
        assert_eq!(again.len(), MAGIC.len() + ENTRY_BYTES);
    }

    #[test]
    fn a_slot_full_of_live_entries_refuses_the_next_proof() {
        let mut bytes = empty_slot();
        for i in 0..SLOT_ENTRIES {
            bytes = stored(admit(Some(&bytes), &entry(&format!("j{i}"), 10_000), 0));
        }
        assert_eq!(
            admit(Some(&bytes), &entry("next", 10_000), 0),
            Admission::Full
        );
    }

    #[test]
    fn expired_entries_make_room_in_a_full_slot() {
        let mut bytes = empty_slot();
        for i in 0..SLOT_ENTRIES {
            bytes = stored(admit(Some(&bytes), &entry(&format!("j{i}"), 5_000), 0));
        }
        let after = stored(admit(Some(&bytes), &entry("next", 20_000), 5_000));
        assert_eq!(after.len(), MAGIC.len() + ENTRY_BYTES);
    }

    #[test]
    fn an_unreadable_slot_counts_as_empty() {
        for bytes in [&b"cdp0"[..], b"cdp1xyz", b"", b"garbage that is long"] {
            let e = entry("a", 10_000);
            assert!(matches!(admit(Some(bytes), &e, 0), Admission::Store(_)));
        }
    }

    #[test]
    fn the_same_jti_under_another_key_is_another_proof() {
        let mine = ReplayEntry::new(ProviderId(0), "key-a", "jti", 16, 1);
        let theirs = ReplayEntry::new(ProviderId(0), "key-b", "jti", 16, 1);
        assert_ne!(mine.digest, theirs.digest);
    }

    #[test]
    fn slots_stay_below_the_slot_count() {
        for i in 0..200 {
            assert!(ReplayEntry::new(ProviderId(0), "k", &i.to_string(), 7, 1).slot < 7);
        }
    }

    /// Shared data in memory, with Envoy's CAS rules; `lose` CAS writes fail first.
    #[derive(Default)]
    struct Memory {
        slots: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        next_cas: RefCell<u32>,
        lose: RefCell<usize>,
    }

    impl SlotStore for Memory {
        fn read(&self, key: &str) -> Option<(Option<Vec<u8>>, u32)> {
            self.slots
                .borrow()
                .get(key)
                .map(|(bytes, cas)| (Some(bytes.clone()), *cas))
        }
        fn write(&self, key: &str, value: &[u8], cas: Option<u32>) -> WriteResult {
            if cas.is_some() && *self.lose.borrow() > 0 {
                *self.lose.borrow_mut() -= 1;
                return WriteResult::CasLost;
            }
            let current = self.slots.borrow().get(key).map(|(_, cas)| *cas);
            if cas.is_some() && cas != current {
                return WriteResult::CasLost;
            }
            *self.next_cas.borrow_mut() += 1;
            let next = *self.next_cas.borrow();
            self.slots
                .borrow_mut()
                .insert(key.to_owned(), (value.to_vec(), next));
            WriteResult::Written
        }
    }

    #[test]
    fn recording_creates_an_absent_slot_then_stores_by_cas() {
        let memory = Memory::default();
        let e = entry("a", 10_000);
        let outcome = record(&memory, "k", &e, 0);
        assert_eq!(outcome.answer, ReplayAnswer::Fresh);
        assert_eq!(record(&memory, "k", &e, 1).answer, ReplayAnswer::Replayed);
    }

    #[test]
    fn a_lost_cas_is_retried_on_the_newer_slot() {
        let memory = Memory::default();
        *memory.lose.borrow_mut() = 2;
        let outcome = record(&memory, "k", &entry("a", 10_000), 0);
        assert_eq!(
            outcome,
            RecordOutcome {
                answer: ReplayAnswer::Fresh,
                cas_lost: 2
            }
        );
    }

    #[test]
    fn too_many_lost_cas_races_refuse_the_proof() {
        let memory = Memory::default();
        memory.write("k", &empty_slot(), None);
        *memory.lose.borrow_mut() = MAX_CAS_ATTEMPTS;
        let outcome = record(&memory, "k", &entry("a", 10_000), 0);
        assert_eq!(outcome.answer, ReplayAnswer::Unavailable);
    }

    #[test]
    fn a_store_that_refuses_writes_refuses_the_proof() {
        struct Broken;
        impl SlotStore for Broken {
            fn read(&self, _key: &str) -> Option<(Option<Vec<u8>>, u32)> {
                Some((None, 1))
            }
            fn write(&self, _key: &str, _value: &[u8], _cas: Option<u32>) -> WriteResult {
                WriteResult::Failed
            }
        }
        let outcome = record(&Broken, "k", &entry("a", 10_000), 0);
        assert_eq!(outcome.answer, ReplayAnswer::Unavailable);
    }

    #[test]
    fn slot_keys_are_versioned_and_carry_the_slot_count() {
        assert_eq!(slot_key("idp", 4096, 7), "claimcheck/v2/dpop/idp/4096/7");
    }
}
