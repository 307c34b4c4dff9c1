//! The DPoP replay cache's host: Envoy's shared data, read and written by CAS. Every
//! decision (slot layout, eviction, when to give up) is the core's (`dpop::replay`).

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::dpop::replay::{self, RecordOutcome, SlotStore, WriteResult};
use crate::dpop::{ReplayAnswer, ReplayEntry, ReplayStore};

use super::metrics::{self, Metrics};

/// The process-wide replay cache, as seen from one VM.
pub struct SharedReplay<'a> {
    pub metrics: &'a Metrics,
}

struct SharedData;

impl SlotStore for SharedData {
    fn read(&self, key: &str) -> Option<(Option<Vec<u8>>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((bytes, Some(cas))) => Some((bytes, cas)),
            _ => None,
        }
    }

    fn write(&self, key: &str, value: &[u8], cas: Option<u32>) -> WriteResult {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => WriteResult::Written,
            Err(Status::CasMismatch) => WriteResult::CasLost,
            Err(_) => WriteResult::Failed,
        }
    }
}

impl ReplayStore for SharedReplay<'_> {
    fn record(&self, provider: &str, entry: &ReplayEntry, now_ms: u64) -> ReplayAnswer {
        let key = replay::slot_key(provider, entry.slots, entry.slot);
        let RecordOutcome { answer, cas_lost } = replay::record(&SharedData, &key, entry, now_ms);
        if cas_lost > 0 {
            self.metrics.add(
                metrics::DPOP_REPLAY_CAS_LOST,
                u64::try_from(cas_lost).unwrap_or(0),
            );
        }
        answer
    }
}
