//! claimcheck: JWT verification and route-level claim policy for Envoy.
//!
//! The crate is a pure core (everything but [`filter`]) that takes plain values and
//! returns decisions, plus a thin proxy-wasm shell in [`filter`] (feature `filter`).
//! The core never calls the host, so it is unit-tested natively and reused by the CLI.
//! See `docs/ARCHITECTURE.md` for the data flow.

pub mod authorize;
pub mod cache;
pub mod certificate_binding;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod decision;
pub mod dpop;
pub mod extract;
pub mod freshness;
pub mod introspect;
pub mod issuer;
pub mod jwa;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod observe;
pub mod pattern;
pub mod peer;
pub mod policy;
pub mod provider_id;
pub mod request;
pub mod revocation;

#[cfg(all(feature = "filter", target_arch = "wasm32"))]
pub mod filter;
