//! The real `claimcheck.wasm` in the mock proxy-wasm host: configuration, fetching, pausing,
//! sharing keys between VMs, outputs, refusals and metrics, as Envoy would drive them.

mod support;

mod smoke;
