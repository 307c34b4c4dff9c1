//! Choosing the signature verifier of a VM at configuration: the host's `verify_signature`
//! when the configuration allows it and the host passes the probe, else the in-VM one.

use std::cell::Cell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::crypto::{
    probe, CryptoChoice, HostCallError, HostVerifier, ProbeFailure, RingVerifier,
    SignatureVerifier, VERIFY_SIGNATURE,
};

use super::metrics::{self, Metrics};

/// The verifier a VM uses, and how many signatures the host checked since the last tick.
pub struct Verifier {
    pub verifier: Box<dyn SignatureVerifier>,
    pub host_calls: Rc<Cell<u64>>,
}

/// Picks the verifier for `choice`. `Err` only for `host` when the host fails the probe: a
/// configuration that demands host crypto must not silently run without it. With `auto`,
/// a failed probe is logged once (per VM, at start) and counted, and the VM verifies itself.
pub fn select(choice: CryptoChoice, metrics: &Metrics) -> Result<Verifier, ProbeFailure> {
    let host_calls = Rc::new(Cell::new(0u64));
    let in_vm = |host_calls| Verifier {
        verifier: Box::new(RingVerifier),
        host_calls,
    };
    if choice == CryptoChoice::Wasm {
        metrics.set_gauge(metrics::CRYPTO_HOST, 0);
        return Ok(in_vm(host_calls));
    }
    let counter = Rc::clone(&host_calls);
    let host = HostVerifier::new(Box::new(move |arguments: &[u8]| {
        counter.set(counter.get().saturating_add(1));
        hostcalls::call_foreign_function(VERIFY_SIGNATURE, Some(arguments)).map_err(|status| {
            match status {
                Status::NotFound => HostCallError::NotFound,
                Status::BadArgument => HostCallError::BadArgument,
                _ => HostCallError::Failed,
            }
        })
    }));
    match probe(&host) {
        Ok(()) => {
            host_calls.set(0);
            metrics.set_gauge(metrics::CRYPTO_HOST, 1);
            log::info!("claimcheck: RSA and ECDSA signatures are verified by the host");
            Ok(Verifier {
                verifier: Box::new(host),
                host_calls,
            })
        }
        Err(failure) if choice == CryptoChoice::Auto => {
            metrics.set_gauge(metrics::CRYPTO_HOST, 0);
            metrics.increment(&metrics::crypto_host_rejected(failure.code()));
            log::warn!(
                "claimcheck: host crypto not used, signatures are verified in the VM: {failure}"
            );
            host_calls.set(0);
            Ok(in_vm(host_calls))
        }
        Err(failure) => Err(failure),
    }
}
