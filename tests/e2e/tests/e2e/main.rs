//! claimcheck end to end: a real Envoy running `claimcheck.wasm` between a client and an echo
//! upstream, fetching keys from a controllable identity provider.
//!
//! Needs `make envoy` and `make build` (and `make e2e-probe` for the callout tests); `make e2e`
//! does all three. A missing Envoy or wasm fails the tests with the command to run.

// Everything in this crate is test code, helpers included: a panic is a failed test, as
// clippy.toml allows inside #[test] functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod attacks;
mod config;
mod differential;
mod dpop;
mod explain;
mod infra;
mod introspection;
mod keys;
mod metrics;
mod mtls;
mod platforms;
mod policy;
mod policy_swap;
mod revocation;
mod support;
