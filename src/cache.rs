//! The verified-token cache: a repeated token skips signature verification.
//!
//! Inside the VM, signature verification dominates the cost of a request (see
//! `docs/ARCHITECTURE.md`); clients reuse a token for minutes, so remembering "this exact token
//! verified against this provider's key set" brings a repeated token close to the no-auth
//! floor. Only the expensive, time-independent part is cached: the time claims and the route
//! policy are still checked on every request. The caller inserts a token only once its
//! registered claims passed, so a token refused for its audience or expiry never takes a slot.
//!
//! Entries are keyed by the token itself, compared byte for byte, so a forged token can never
//! pass for a cached one. The map's hasher is std's randomly keyed SipHash (a client cannot
//! aim tokens at one bucket). An earlier version keyed entries by the token's SHA-256: that
//! cost a cached request more than anything else it does in the VM (2 µs of 4 in V8), and
//! kept nothing secret, since the cached value is the decoded token, signature included.
//! Each entry remembers the key-set generation it was verified against; the caller drops a
//! provider's entries when its keys change, so a key removed from the JWKS stops verifying at
//! the next refresh, cached or not. Memory is bounded by `max_entries` times the largest
//! token a provider accepts.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// The token, shared by the map and the eviction order.
type TokenKey = Rc<str>;

/// A bounded map from token to verified value, evicting the oldest entry when full.
#[derive(Debug)]
pub struct TokenCache<V> {
    max_entries: usize,
    entries: HashMap<TokenKey, Entry<V>>,
    /// Insertion order, for eviction. May hold tokens already removed; they are skipped.
    order: VecDeque<TokenKey>,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// Seconds since the epoch after which the entry is useless (the token's `exp`).
    expires_at_s: Option<u64>,
}

impl<V> TokenCache<V> {
    /// A cache holding at most `max_entries` tokens; zero disables caching.
    pub fn new(max_entries: usize) -> Self {
        TokenCache {
            max_entries,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached value for `token`, unless it expired (then it is dropped).
    pub fn get(&mut self, token: &str, now_s: u64) -> Option<&V> {
        let expired = match self.entries.get(token) {
            None => return None,
            Some(entry) => entry.expires_at_s.is_some_and(|exp| now_s >= exp),
        };
        if expired {
            self.entries.remove(token);
            return None;
        }
        self.entries.get(token).map(|entry| &entry.value)
    }

    /// Remembers `value` for `token` until `expires_at_s`.
    pub fn insert(&mut self, token: &str, value: V, expires_at_s: Option<u64>) {
        if self.max_entries == 0 {
            return;
        }
        if let Some(entry) = self.entries.get_mut(token) {
            *entry = Entry {
                value,
                expires_at_s,
            };
            return;
        }
        while self.entries.len() >= self.max_entries {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&*oldest);
                }
                None => break,
            }
        }
        let key: TokenKey = Rc::from(token);
        self.entries.insert(
            Rc::clone(&key),
            Entry {
                value,
                expires_at_s,
            },
        );
        self.order.push_back(key);
        self.compact_order();
    }

    /// Drops every entry whose value matches, e.g. all tokens of a provider whose keys changed.
    pub fn remove_where(&mut self, mut matches: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, entry| !matches(&entry.value));
        self.compact_order();
    }

    /// Keeps the eviction queue from growing past twice the live entries.
    fn compact_order(&mut self) {
        if self.order.len() > self.entries.len().saturating_mul(2).max(16) {
            let entries = &self.entries;
            self.order.retain(|key| entries.contains_key(&**key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_token_is_returned_until_it_expires() {
        let mut cache = TokenCache::new(4);
        cache.insert("token-a", 1, Some(100));
        assert_eq!(cache.get("token-a", 99), Some(&1));
        assert_eq!(cache.get("token-a", 100), None);
        assert!(cache.is_empty(), "an expired entry is dropped on lookup");
    }

    #[test]
    fn a_different_token_misses() {
        let mut cache = TokenCache::new(4);
        cache.insert("token-a", 1, None);
        assert_eq!(cache.get("token-b", 0), None);
    }

    #[test]
    fn the_oldest_entry_is_evicted_when_full() {
        let mut cache = TokenCache::new(2);
        cache.insert("a", 1, None);
        cache.insert("b", 2, None);
        cache.insert("c", 3, None);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a", 0), None);
        assert_eq!(cache.get("b", 0), Some(&2));
        assert_eq!(cache.get("c", 0), Some(&3));
    }

    #[test]
    fn a_zero_sized_cache_stores_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("a", 1, None);
        assert_eq!(cache.get("a", 0), None);
    }

    #[test]
    fn entries_can_be_dropped_by_value() {
        let mut cache = TokenCache::new(8);
        cache.insert("a", ("corp", 1), None);
        cache.insert("b", ("partner", 1), None);
        cache.remove_where(|(provider, _)| *provider == "corp");
        assert_eq!(cache.get("a", 0), None);
        assert_eq!(cache.get("b", 0), Some(&("partner", 1)));
    }

    #[test]
    fn reinserting_many_times_keeps_the_eviction_queue_bounded() {
        let mut cache = TokenCache::new(2);
        for round in 0..1_000 {
            cache.insert(&format!("t{}", round % 3), round, None);
        }
        assert!(cache.len() <= 2);
        assert!(cache.order.len() <= 16);
    }
}
