//! Carrying the exchange's decisions out over a host: the loops every host shares (the
//! proxy-wasm shell, the native tests). They take no decision: each reads the slot, asks
//! [`flight`](super::flight), performs the write it is told, and on a lost compare-and-swap
//! reads again.

use super::call;
use super::flight::{self, Begin, CallFailure, CallOutcome, IntrospectionPolicy, Publish};
use super::slot::TokenDigest;

/// What the exchange needs of its host.
pub trait IntrospectionHost {
    /// A shared-data entry and its CAS; `None` when absent (or the host refuses the read).
    fn read(&mut self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes by compare-and-swap; whether it was written.
    fn write(&mut self, key: &str, value: &[u8], cas: u32) -> bool;
    /// Dispatches the introspection call with this form body; the call's id, or `None` if
    /// the host refused.
    fn dispatch(&mut self, body: Vec<u8>) -> Option<u32>;
}

/// How [`start`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// This VM took the lease and the call is out; its answer goes to [`finish`].
    Calling(u32),
    /// Another call for the slot is in flight: wait for its answer.
    Waiting,
    /// The slot already holds a live outcome for the token: re-run the waiting requests.
    Settled,
    /// The host refused the call; the failure is published (the outage behaviour applies
    /// until it ends).
    DispatchFailed,
}

/// Reads and writes one event may lead to, at most: each lost compare-and-swap means another
/// VM wrote, and a handful of VMs cannot keep winning for long; the bound only guards against
/// a bug turning into an endless loop in the VM.
const MAX_ROUNDS: usize = 16;

/// Starts the exchange for `token` (its slot's shared-data key `key`), unless another VM's
/// call already serves it.
pub fn start(
    host: &mut dyn IntrospectionHost,
    key: &str,
    token: &str,
    owner: u64,
    now_ms: u64,
    policy: &IntrospectionPolicy,
) -> Started {
    let digest = TokenDigest::of(token);
    for _ in 0..MAX_ROUNDS {
        let current = host.read(key);
        let current = current
            .as_ref()
            .map(|(bytes, cas)| (bytes.as_slice(), *cas));
        match flight::begin(current, &digest, owner, now_ms, policy) {
            Begin::Wait => return Started::Waiting,
            Begin::Settled => return Started::Settled,
            Begin::Take { value, cas } => {
                if !host.write(key, &value, cas) {
                    continue;
                }
                return match host.dispatch(call::body(token)) {
                    Some(id) => Started::Calling(id),
                    None => {
                        let failed = CallOutcome::Failed(CallFailure::DispatchFailed);
                        finish(host, key, &digest, owner, failed, now_ms, policy);
                        Started::DispatchFailed
                    }
                };
            }
        }
    }
    Started::Waiting
}

/// Frees `owner`'s lease on the slot when its call's answer will never come; whether it was
/// freed (a lost compare-and-swap means another VM moved the slot on: nothing to free).
pub fn abandon(host: &mut dyn IntrospectionHost, key: &str, owner: u64, now_ms: u64) -> bool {
    let current = host.read(key);
    let current = current
        .as_ref()
        .map(|(bytes, cas)| (bytes.as_slice(), *cas));
    match flight::abandon(current, owner, now_ms) {
        Some((value, cas)) => host.write(key, &value, cas),
        None => false,
    }
}

/// Publishes a call's outcome into the slot; whether it was written (not when another VM
/// holds a live lease there).
pub fn finish(
    host: &mut dyn IntrospectionHost,
    key: &str,
    token: &TokenDigest,
    owner: u64,
    outcome: CallOutcome,
    now_ms: u64,
    policy: &IntrospectionPolicy,
) -> bool {
    let entry = flight::settle(token, outcome, now_ms, policy).encode();
    for _ in 0..MAX_ROUNDS {
        let current = host.read(key);
        let current = current
            .as_ref()
            .map(|(bytes, cas)| (bytes.as_slice(), *cas));
        match flight::publish(current, owner, now_ms) {
            Publish::Skip => return false,
            Publish::Write { cas } => {
                if host.write(key, &entry, cas) {
                    return true;
                }
            }
        }
    }
    false
}
