//! What one VM remembers of the slots it read: the decoded entry per slot with the CAS it was
//! read at, so a request whose slot did not change since decodes nothing (an active answer's
//! claims are shared by `Rc`, not parsed again per request).

use std::collections::HashMap;
use std::rc::Rc;

use super::slot::SlotEntry;

/// Decoded slots by index, each valid while the slot's CAS is the one remembered.
#[derive(Debug, Default)]
pub struct SlotMemo {
    slots: HashMap<u32, (u32, Option<Rc<SlotEntry>>)>,
    /// Slots remembered at most; beyond it the memo starts over (a VM sees few distinct
    /// tokens between two changes of the same slot, and a miss costs one decode).
    max_slots: usize,
}

impl SlotMemo {
    pub fn new(max_slots: usize) -> SlotMemo {
        SlotMemo {
            slots: HashMap::new(),
            max_slots,
        }
    }

    /// The entry of `slot` as read (`bytes` at `cas`): the remembered one when the CAS did
    /// not move, else decoded now and remembered. `None` for an unreadable slot.
    pub fn entry(&mut self, slot: u32, bytes: &[u8], cas: u32) -> Option<Rc<SlotEntry>> {
        if let Some((seen, entry)) = self.slots.get(&slot) {
            if *seen == cas {
                return entry.clone();
            }
        }
        let entry = SlotEntry::decode(bytes).map(Rc::new);
        if self.slots.len() >= self.max_slots && !self.slots.contains_key(&slot) {
            self.slots.clear();
        }
        if self.max_slots > 0 {
            self.slots.insert(slot, (cas, entry.clone()));
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::slot::{SlotState, TokenDigest};

    fn bytes(until_ms: u64) -> Vec<u8> {
        SlotEntry {
            token: TokenDigest::of("t"),
            state: SlotState::Inactive { until_ms },
        }
        .encode()
    }

    #[test]
    fn an_unchanged_cas_returns_the_entry_decoded_before() {
        let mut memo = SlotMemo::new(4);
        let first = memo.entry(1, &bytes(5), 7);
        let again = memo.entry(1, b"not read", 7);
        assert!(first.is_some());
        assert!(matches!((&first, &again), (Some(x), Some(y)) if Rc::ptr_eq(x, y)));
    }

    #[test]
    fn a_moved_cas_decodes_the_new_content() {
        let mut memo = SlotMemo::new(4);
        memo.entry(1, &bytes(5), 7);
        let moved = memo.entry(1, &bytes(9), 8);
        assert_eq!(moved.map(|e| e.state.until_ms()), Some(9));
    }

    #[test]
    fn the_memo_stays_within_its_bound() {
        let mut memo = SlotMemo::new(2);
        for slot in 0..10 {
            memo.entry(slot, &bytes(5), 1);
            assert!(memo.slots.len() <= 2);
        }
    }
}
