//! The real `claimcheck.wasm` in the mock proxy-wasm host: configuration, fetching, pausing,
//! sharing keys between VMs, outputs, refusals and metrics, as Envoy would drive them.

// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

mod access_log;
mod cache;
mod cold_start;
mod configure;
mod costs;
mod crypto;
mod dpop;
mod dry_run;
mod fetch;
mod freshness;
mod idps;
mod introspection;
mod lifecycle;
mod metrics;
mod outputs;
mod peer;
mod refusals;
mod revocation;
mod rotation;
mod smoke;
mod workers;
