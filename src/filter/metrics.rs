//! Every statistic the filter emits, in one list.
//!
//! Envoy shows them under `/stats` with the prefix `wasmcustom.`. Names are stable API:
//! dashboards and alerts are built on them.
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `claimcheck.requests.allowed` | counter | requests let through |
//! | `claimcheck.requests.denied` | counter | requests refused (all reasons) |
//! | `claimcheck.requests.denied.<reason>` | counter | refused, per reason code |
//! | `claimcheck.requests.dry_run_denied.<reason>` | counter | would have been refused (dry run) |
//! | `claimcheck.requests.paused` | counter | requests that waited for keys |
//! | `claimcheck.provider.<provider>.allowed` | counter | allowed with this provider's token |
//! | `claimcheck.provider.<provider>.denied.<reason>` | counter | refused while checking this provider |
//! | `claimcheck.jwks.<provider>.fetch_ok` | counter | fetches that produced usable keys (this VM) |
//! | `claimcheck.jwks.<provider>.fetch_failed.<failure>` | counter | failed fetches, per failure code |
//! | `claimcheck.jwks.<provider>.stale` | gauge | 1 while serving keys past a failed refresh |
//! | `claimcheck.revocation.<provider>.fetch_ok` | counter | fetches that produced a usable revocation list (this VM) |
//! | `claimcheck.revocation.<provider>.fetch_failed.<failure>` | counter | failed list fetches, per failure code |
//! | `claimcheck.revocation.<provider>.stale` | gauge | 1 while serving a list past a failed refresh |
//! | `claimcheck.cache.hit` / `claimcheck.cache.miss` | counter | verified-token cache lookups |
//! | `claimcheck.crypto.host` | gauge | 1 when RSA/ECDSA signatures are verified by the host's crypto |
//! | `claimcheck.crypto.host_verify` | counter | signatures the host verified (added on each tick) |
//! | `claimcheck.crypto.host_rejected.<failure>` | counter | start-up probes the host failed (`auto` then verifies in the VM) |
//! | `claimcheck.dpop.replay_cas_lost` | counter | DPoP replay-cache writes that lost a CAS race to another VM and were retried |
//! | `claimcheck.introspection.<provider>.cache_hit` | counter | introspection lookups answered from the shared cache (requests that waited for a call included) |
//! | `claimcheck.introspection.<provider>.call` | counter | introspection calls this VM dispatched |
//! | `claimcheck.introspection.<provider>.active` / `.inactive` | counter | calls answered `active: true` / `false` |
//! | `claimcheck.introspection.<provider>.failed.<failure>` | counter | calls without an answer, per failure code |
//! | `claimcheck.introspection.<provider>.waited` | counter | requests that waited for an introspection answer |
//! | `claimcheck.introspection.<provider>.outage_allowed` | counter | verified JWTs let through without an answer (`on_outage: "allow"`) |
//! | `claimcheck.vm.memory_bytes` | gauge | the VM's linear memory (refreshed on each tick) |
//!
//! Probe failure codes (`crate::crypto::ProbeFailure`): `unavailable` (no `verify_signature`),
//! `refused_valid`, `accepted_tampered`, `vectors`.
//!
//! Fetch failure codes (`crate::keys::FetchFailure`): `dispatch_failed`, `timeout` (Envoy's
//! router gave up on the call), `reset` (the call ended without a response), `http_status`,
//! `too_large`, `bad_discovery`, `bad_jwks`, `bad_revocation_list`.
//!
//! Introspection failure codes (`crate::introspect::CallFailure`): `dispatch_failed`,
//! `timeout`, `reset`, `http_status`, `too_large`, `bad_answer`.
//!
//! Refusals by a revocation list are counted like every refusal, by reason:
//! `claimcheck.requests.denied.token_revoked` and
//! `claimcheck.requests.denied.revocation_list_unavailable` (and per provider).

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Lazily defined metrics of one VM. Defining is a host call, so each name is defined once
/// and its id remembered.
///
/// Counters are not handed to the host on every increment: a host call costs more than the
/// rest of a cached request's work in the VM (about 1.5 µs each in Envoy's V8, measured with
/// `make bench`), and a request counts two or three things. Increments add up in the VM and
/// reach the host on the root's next tick (at most a second later; Envoy's own stats sinks
/// flush every 5 s), and when the VM stops.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    pub fn increment(&self, name: &str) {
        self.add(name, 1);
    }

    pub fn add(&self, name: &str, count: u64) {
        if let Some(id) = self.id(MetricType::Counter, name) {
            UNREPORTED.with(|unreported| unreported.borrow_mut().add(id, count));
        }
    }

    pub fn set_gauge(&self, name: &str, value: u64) {
        if let Some(id) = self.id(MetricType::Gauge, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn id(&self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.ids.borrow_mut().insert(name.to_owned(), id);
        Some(id)
    }
}

thread_local! {
    /// Counts not yet handed to the host, by metric id. One table per VM (a VM is one
    /// thread), shared by every root context the VM hosts: the host's ids are the VM's.
    static UNREPORTED: RefCell<Unreported> = RefCell::default();
}

/// Pending counter increments. A VM counts a handful of distinct counters between two
/// ticks, so a short list beats a map.
#[derive(Default)]
struct Unreported {
    counts: Vec<(u32, u64)>,
}

impl Unreported {
    fn add(&mut self, id: u32, count: u64) {
        match self.counts.iter_mut().find(|(known, _)| *known == id) {
            Some((_, total)) => *total = total.saturating_add(count),
            None => self.counts.push((id, count)),
        }
    }
}

/// Hands every pending increment to the host: once per tick, and when the VM stops.
pub fn report() {
    let counts = UNREPORTED.with(|unreported| std::mem::take(&mut unreported.borrow_mut().counts));
    for (id, count) in counts {
        let _ = hostcalls::increment_metric(id, i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// The same, for whoever reads the counters without waiting for a tick. Envoy never calls
/// it; the mock host does before it reads a metric, so a test sees a request's counts at once.
#[no_mangle]
pub extern "C" fn claimcheck_report_metrics() {
    report();
}

pub const ALLOWED: &str = "claimcheck.requests.allowed";
pub const DENIED: &str = "claimcheck.requests.denied";
pub const PAUSED: &str = "claimcheck.requests.paused";
pub const CACHE_HIT: &str = "claimcheck.cache.hit";
pub const CACHE_MISS: &str = "claimcheck.cache.miss";
pub const CRYPTO_HOST: &str = "claimcheck.crypto.host";
pub const CRYPTO_HOST_VERIFY: &str = "claimcheck.crypto.host_verify";
pub const VM_MEMORY_BYTES: &str = "claimcheck.vm.memory_bytes";
pub const DPOP_REPLAY_CAS_LOST: &str = "claimcheck.dpop.replay_cas_lost";

pub fn crypto_host_rejected(failure: &str) -> String {
    format!("claimcheck.crypto.host_rejected.{failure}")
}

pub fn denied(reason: &str) -> String {
    format!("claimcheck.requests.denied.{reason}")
}

pub fn dry_run_denied(reason: &str) -> String {
    format!("claimcheck.requests.dry_run_denied.{reason}")
}

pub fn provider_allowed(provider: &str) -> String {
    format!("claimcheck.provider.{provider}.allowed")
}

pub fn provider_denied(provider: &str, reason: &str) -> String {
    format!("claimcheck.provider.{provider}.denied.{reason}")
}

pub fn fetch_ok(provider: &str) -> String {
    format!("claimcheck.jwks.{provider}.fetch_ok")
}

pub fn fetch_failed(provider: &str, failure: &str) -> String {
    format!("claimcheck.jwks.{provider}.fetch_failed.{failure}")
}

pub fn list_fetch_ok(provider: &str) -> String {
    format!("claimcheck.revocation.{provider}.fetch_ok")
}

pub fn list_fetch_failed(provider: &str, failure: &str) -> String {
    format!("claimcheck.revocation.{provider}.fetch_failed.{failure}")
}

pub fn list_stale(provider: &str) -> String {
    format!("claimcheck.revocation.{provider}.stale")
}

pub fn stale(provider: &str) -> String {
    format!("claimcheck.jwks.{provider}.stale")
}

/// `outcome`: `cache_hit`, `call`, `active`, `inactive`, `waited`, `outage_allowed`.
pub fn introspection(provider: &str, outcome: &str) -> String {
    format!("claimcheck.introspection.{provider}.{outcome}")
}

pub fn introspection_failed(provider: &str, failure: &str) -> String {
    format!("claimcheck.introspection.{provider}.failed.{failure}")
}
