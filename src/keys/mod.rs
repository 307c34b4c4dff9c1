//! Key-set lifecycle: when a provider's keys are fetched, how long they stay usable, and how
//! the worker VMs of one Envoy process agree on a single fetch.
//!
//! Envoy runs one VM per worker thread. Without coordination every worker would fetch every
//! JWKS on every refresh, multiplying the load on the IdP by the worker count (a common
//! complaint about per-worker fetchers). Instead, each provider has one [`KeyRecord`] in the
//! host's shared data, and a [`FetchLease`] next to it: a VM fetches only after winning the
//! lease with a compare-and-swap, then publishes the result in the record; the other VMs adopt
//! it on their next tick.
//!
//! All of it is one pure machine per provider per VM ([`KeyMachine`]): events in (tick,
//! record bytes and CAS, lease entry, write results, a call's answer, an unknown `kid`),
//! commands out (read, take or release the lease, dispatch, publish, adopt, wake parked
//! requests). `filter::fetch` only carries the commands out with host calls.

mod document;
mod drive;
mod failure;
mod lease;
mod machine;
mod policy;
mod record;
pub mod response;

pub use crate::config::FetchPolicy;
pub use document::Document;
pub use drive::{KeyHost, Progress};
pub use failure::FetchFailure;
pub use lease::FetchLease;
pub use machine::{Command, Event, KeyMachine, KidAnswer, Lifecycle, Log, LogLevel, SharedValue};
pub use policy::{retry_backoff_ms, Jitter};
pub use record::{Attempt, KeyRecord, KeySetId, RecordMeta, MAX_RECORD_BYTES};

#[cfg(test)]
mod tests;
