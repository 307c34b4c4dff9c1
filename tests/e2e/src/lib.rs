//! End-to-end test support for claimcheck: a real Envoy running `claimcheck.wasm`, a
//! controllable identity provider, and an echo upstream, all on 127.0.0.1.
//!
//! - [`envoy`]: render `envoy-config/e2e.yaml.tmpl`, start/stop Envoy, stats, log.
//! - [`idp`]: OIDC discovery + JWKS server that can rotate keys, fail, stall, and count.
//! - [`echo`]: the upstream that reports the headers it received (also `claimcheck-echo`).
//! - [`platform`]: the Envoy configuration Istio, Kuma and ECDS build from `deploy/`.
//! - [`http`]: the minimal HTTP/1.1 server and client the others are built on.
//! - [`h2c`]: a minimal HTTP/2 (cleartext) client, for what HTTP/1.1 cannot send.
//! - [`process`]: child processes that die with the test run.
//! - [`tls`]: a test CA and workload (SPIFFE) and server certificates.
//! - [`mtls`]: a client-side and a server-side Envoy with mTLS between them.

pub mod echo;
pub mod envoy;
pub mod h2c;
pub mod http;
pub mod idp;
pub mod mtls;
pub mod platform;
pub mod process;
pub mod tls;
