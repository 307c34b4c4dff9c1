//! Fetching one provider's keys: shared record, lease, dispatched calls, adoption.
//!
//! The schedule and the record format are pure (`crate::keys`); this file performs them with
//! the host: shared data for the record and lease, `dispatch_http_call` for discovery and
//! JWKS, and parsing the result into this VM's [`KeySet`].

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, Status};

use crate::jwks::{self, KeyPolicy, KeySet};
use crate::keys::{Attempt, FetchFailure, FetchLease, FetchPolicy, KeyRecord};

/// Where a provider's keys come from, resolved from its configuration.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    /// Provider name, for logs and metrics.
    pub provider: String,
    /// Prefix of this provider's shared-data keys. It includes a digest of the source so two
    /// listeners configuring the same provider name differently never share keys.
    pub shared_key: String,
    pub cluster: String,
    pub first_step: Step,
    pub timeout: Duration,
    pub key_policy: KeyPolicy,
    pub fetch_policy: FetchPolicy,
}

/// One HTTP call of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// GET an OIDC discovery document, then the `jwks_uri` it names.
    Discovery {
        authority: String,
        path: String,
        issuer: String,
    },
    /// GET a JWKS document.
    Jwks { authority: String, path: String },
}

impl Step {
    /// The largest answer accepted, before reading it: a larger one is a `too_large` failure.
    fn max_body_bytes(&self) -> usize {
        match self {
            Step::Discovery { .. } => jwks::MAX_DISCOVERY_BYTES,
            Step::Jwks { .. } => jwks::MAX_JWKS_BYTES,
        }
    }
}

/// What changed after a tick or a call response, for the root to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The record moved (new keys, or an attempt finished): parked requests should re-run.
    pub record_changed: bool,
    /// New keys were adopted in this VM (drop cached verifications).
    pub keys_replaced: bool,
    /// A fetch finished in this VM with this outcome (for metrics).
    pub fetched: Option<Result<(), FetchFailure>>,
}

/// This VM's view of one remotely fetched provider.
pub struct RemoteKeys {
    pub spec: FetchSpec,
    record: KeyRecord,
    /// The shared-data CAS of `record`, when known: an unchanged CAS means an unchanged record.
    record_cas: Option<u32>,
    /// Identifies the record we adopted: (generation, attempted_at).
    seen: Option<(u64, Option<u64>)>,
    keys: Option<Rc<KeySet>>,
    in_flight: Option<InFlight>,
    /// An unknown `kid` asked for a refetch; honoured as soon as the rate limit allows (a
    /// deferred refetch is queued, not dropped).
    refetch_wanted: bool,
    /// The `kid`s requests wait for: the refetch answers them.
    sought: BTreeSet<String>,
    /// The `kid`s the last unknown-`kid` refetch did not find: refused at once (no repeated
    /// waits) until the next fetch.
    missing: BTreeSet<String>,
    /// Whether the running fetch was triggered by an unknown `kid`.
    fetching_for_kid: bool,
    /// The VM identity this VM's current lease was taken under, while it holds one.
    lease_owner: Option<u64>,
}

struct InFlight {
    token: u32,
    step: Step,
}

impl RemoteKeys {
    pub fn new(spec: FetchSpec) -> Self {
        RemoteKeys {
            spec,
            record: KeyRecord::default(),
            record_cas: None,
            seen: None,
            keys: None,
            in_flight: None,
            refetch_wanted: false,
            sought: BTreeSet::new(),
            missing: BTreeSet::new(),
            fetching_for_kid: false,
            lease_owner: None,
        }
    }

    /// The keys to verify with now, if any are known and not too stale.
    pub fn keys(&self) -> Option<&Rc<KeySet>> {
        self.keys.as_ref()
    }

    pub fn generation(&self) -> u64 {
        self.record.generation
    }

    pub fn is_stale(&self) -> bool {
        self.record.is_stale()
    }

    /// What a request with `kid`, which this VM's set lacks, does.
    pub fn unknown_kid(&self, kid: &str, now_ms: u64) -> KidAnswer {
        if self.missing.contains(kid) {
            KidAnswer::Refuse
        } else if self.in_flight.is_some()
            || self
                .record
                .unknown_kid_refetch_allowed(&self.spec.fetch_policy, now_ms)
        {
            KidAnswer::Wait
        } else {
            KidAnswer::Defer
        }
    }

    /// Whether the last good keys are past `max_stale_s`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.record.is_expired(&self.spec.fetch_policy, now_ms)
    }

    /// A request waits for `kid`: fetch as soon as the rate limit allows.
    pub fn request_refetch(&mut self, kid: &str) {
        self.refetch_wanted = true;
        if self.sought.len() < MAX_SOUGHT_KIDS {
            self.sought.insert(kid.to_owned());
        }
    }

    /// A request with an unknown `kid` was refused because the rate limit defers the
    /// refetch: the refetch still happens, at the earliest allowed moment.
    pub fn queue_refetch(&mut self) {
        self.refetch_wanted = true;
    }

    /// Whether this provider needs frequent ticks (no keys yet, or a fetch running).
    pub fn is_busy(&self) -> bool {
        self.keys.is_none() || self.in_flight.is_some() || self.refetch_wanted
    }

    pub fn owns_call(&self, token: u32) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|call| call.token == token)
    }

    /// Picks up what other VMs published, then starts a fetch if one is due and this VM wins
    /// the lease.
    pub fn tick(&mut self, vm: u64, now_ms: u64) -> Progress {
        let mut progress = self.sync(now_ms);
        if self.in_flight.is_some() {
            return progress;
        }
        let refetch = self.refetch_wanted
            && self
                .record
                .unknown_kid_refetch_allowed(&self.spec.fetch_policy, now_ms);
        let due = self.record.fetch_due(now_ms);
        if !(due || refetch) {
            return progress;
        }
        if !self.take_lease(vm, now_ms) {
            return progress;
        }
        self.lease_owner = Some(vm);
        self.refetch_wanted = false;
        self.fetching_for_kid = refetch && !due;
        log::debug!(
            "claimcheck: fetching keys for provider {}",
            self.spec.provider
        );
        if let Err(failure) = self.dispatch(self.spec.first_step.clone()) {
            progress = self.finish(Err(failure), now_ms);
        }
        progress
    }

    /// Takes whatever record shared data holds for this provider, without fetching: safe in
    /// `on_configure`, where a host may refuse calls out.
    pub fn adopt_shared(&mut self, now_ms: u64) {
        let _ = self.sync(now_ms);
    }

    /// Handles the answer to one of this provider's calls.
    pub fn on_response(&mut self, now_ms: u64, num_headers: usize, body_size: usize) -> Progress {
        let Some(call) = self.in_flight.take() else {
            return Progress::default();
        };
        let body = match self.read_response(num_headers, body_size, call.step.max_body_bytes()) {
            Ok(body) => body,
            Err(failure) => return self.finish(Err(failure), now_ms),
        };
        let outcome = match call.step {
            Step::Discovery { issuer, .. } => match self.follow_discovery(&body, &issuer) {
                Ok(()) => return Progress::default(),
                Err(failure) => Err(failure),
            },
            Step::Jwks { .. } => self.check_jwks(body),
        };
        self.finish(outcome, now_ms)
    }

    /// Reads the record from shared data and adopts it if it moved.
    /// Decoding the record (which holds the whole JWKS document) on every tick of every VM
    /// would cost more than anything else the filter does while idle, so an unchanged CAS
    /// value skips it: the host bumps the CAS on every write.
    fn sync(&mut self, now_ms: u64) -> Progress {
        // A failed read says nothing about the record: keep what this VM has.
        let Ok((bytes, cas)) = hostcalls::get_shared_data(&self.record_key()) else {
            return self.expire_stale_keys(now_ms);
        };
        if cas.is_some() && cas == self.record_cas {
            return self.expire_stale_keys(now_ms);
        }
        let record = bytes
            .as_deref()
            .and_then(KeyRecord::decode)
            .unwrap_or_default();
        let progress = self.adopt(record, now_ms);
        self.record_cas = cas;
        progress
    }

    fn adopt(&mut self, record: KeyRecord, now_ms: u64) -> Progress {
        let mut progress = Progress::default();
        let identity = (record.generation, record.attempted_at_ms);
        if self.seen != Some(identity) {
            progress.record_changed = true;
            if record.attempted_at_ms.is_some()
                && record.unknown_kid_attempted_at_ms == record.attempted_at_ms
            {
                // An unknown-`kid` refetch finished (here or in another VM): the waiting
                // requests re-run against it, and a `kid` it did not find is refused at once
                // until the next fetch. Keeping the wish would fetch again for requests
                // long gone.
                self.refetch_wanted = false;
                self.missing = std::mem::take(&mut self.sought);
            } else {
                // A scheduled fetch: waiting requests re-run and keep waiting for their
                // refetch if the new set still lacks their `kid`.
                self.missing.clear();
            }
            if self.seen.map(|(generation, _)| generation) != Some(record.generation) {
                progress.keys_replaced = true;
                self.keys = record
                    .usable_jwks(&self.spec.fetch_policy, now_ms)
                    .and_then(|document| self.parse_keys(document.as_bytes()).ok())
                    .map(Rc::new);
            }
            self.seen = Some(identity);
        }
        self.record = record;
        // Whoever called does not know the CAS of this record: the next sync decodes.
        self.record_cas = None;
        let expired = self.expire_stale_keys(now_ms);
        progress.keys_replaced |= expired.keys_replaced;
        progress
    }

    /// Stops using keys older than `max_stale_s`, even if every refresh since has failed.
    fn expire_stale_keys(&mut self, now_ms: u64) -> Progress {
        let mut progress = Progress::default();
        if self.keys.is_some()
            && self
                .record
                .usable_jwks(&self.spec.fetch_policy, now_ms)
                .is_none()
        {
            log::warn!(
                "claimcheck: keys of provider {} are older than max_stale_s; no longer used",
                self.spec.provider
            );
            self.keys = None;
            progress.keys_replaced = true;
        }
        progress
    }

    fn parse_keys(&self, document: &[u8]) -> Result<KeySet, FetchFailure> {
        match KeySet::parse(document, &self.spec.key_policy) {
            Ok(parsed) => {
                for skipped in &parsed.skipped {
                    log::debug!(
                        "claimcheck: provider {}: skipped key {:?}",
                        self.spec.provider,
                        skipped
                    );
                }
                Ok(parsed.keys)
            }
            Err(error) => {
                log::warn!(
                    "claimcheck: provider {}: unusable JWKS: {error:?}",
                    self.spec.provider
                );
                Err(FetchFailure::BadJwks)
            }
        }
    }

    /// Creates the (free) lease entry if no VM has yet. Called from `on_configure`, so the
    /// first tick of every VM competes for the lease by compare-and-swap.
    pub fn create_lease_entry(&self) {
        let key = self.lease_key();
        if let Ok((None, None)) = hostcalls::get_shared_data(&key) {
            let _ = hostcalls::set_shared_data(&key, Some(b""), None);
        }
    }

    fn take_lease(&self, vm: u64, now_ms: u64) -> bool {
        let key = self.lease_key();
        let (current, cas) = match hostcalls::get_shared_data(&key) {
            Ok(found) => found,
            Err(_) => return false,
        };
        // Envoy's set with no CAS always writes: two VMs that both found no entry would both
        // win. Create the entry instead and compete for it by CAS on the next tick.
        if cas.is_none() {
            self.create_lease_entry();
            return false;
        }
        if let Some(lease) = current.as_deref().and_then(FetchLease::decode) {
            if !lease.is_free_for(vm, now_ms) {
                return false;
            }
        }
        let lease = FetchLease::new(vm, &self.spec.fetch_policy, now_ms);
        hostcalls::set_shared_data(&key, Some(&lease.encode()), cas).is_ok()
    }

    /// Clears the lease if this VM still holds it. By compare-and-swap: a VM whose lease
    /// expired mid-fetch must not wipe the lease another VM has taken since.
    fn release_lease(&mut self) {
        let Some(owner) = self.lease_owner.take() else {
            return;
        };
        let key = self.lease_key();
        if let Ok((Some(current), cas)) = hostcalls::get_shared_data(&key) {
            if FetchLease::decode(&current).is_some_and(|lease| lease.owner == owner) {
                let _ = hostcalls::set_shared_data(&key, Some(b""), cas);
            }
        }
    }

    fn dispatch(&mut self, step: Step) -> Result<(), FetchFailure> {
        let (authority, path) = match &step {
            Step::Discovery {
                authority, path, ..
            }
            | Step::Jwks { authority, path } => (authority.as_str(), path.as_str()),
        };
        let headers = vec![
            (":method", "GET"),
            (":path", path),
            (":authority", authority),
            ("accept", "application/json"),
            ("user-agent", "claimcheck"),
        ];
        match hostcalls::dispatch_http_call(
            &self.spec.cluster,
            headers,
            None,
            vec![],
            self.spec.timeout,
        ) {
            Ok(token) => {
                self.in_flight = Some(InFlight { token, step });
                Ok(())
            }
            Err(status) => {
                log::warn!(
                    "claimcheck: provider {}: cannot dispatch to cluster {}: {status:?}",
                    self.spec.provider,
                    self.spec.cluster
                );
                Err(FetchFailure::DispatchFailed)
            }
        }
    }

    /// The body of a 200 response within the size bound. Envoy reports a reset as a response
    /// without headers (reading one then fails, so the count is checked first).
    fn read_response(
        &self,
        num_headers: usize,
        body_size: usize,
        max_body_bytes: usize,
    ) -> Result<Vec<u8>, FetchFailure> {
        if num_headers == 0 {
            return Err(FetchFailure::Reset);
        }
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten();
        match status.as_deref() {
            Some("200") => {}
            Some("504") if is_router_timeout(body_size) => return Err(FetchFailure::Timeout),
            _ => return Err(FetchFailure::HttpStatus),
        }
        if body_size > max_body_bytes {
            return Err(FetchFailure::TooLarge);
        }
        match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size) {
            Ok(body) => Ok(body.unwrap_or_default()),
            Err(Status::NotFound) => Ok(Vec::new()),
            Err(_) => Err(FetchFailure::Reset),
        }
    }

    fn follow_discovery(&mut self, body: &[u8], issuer: &str) -> Result<(), FetchFailure> {
        let discovery = jwks::parse_discovery(body, issuer).map_err(|error| {
            log::warn!(
                "claimcheck: provider {}: bad discovery document: {error:?}",
                self.spec.provider
            );
            FetchFailure::BadDiscovery
        })?;
        let url = jwks::split_url(&discovery.jwks_uri).map_err(|_| FetchFailure::BadDiscovery)?;
        self.dispatch(Step::Jwks {
            authority: url.authority,
            path: url.path,
        })
    }

    fn check_jwks(&self, body: Vec<u8>) -> Result<String, FetchFailure> {
        self.parse_keys(&body)?;
        String::from_utf8(body).map_err(|_| FetchFailure::BadJwks)
    }

    /// Publishes the outcome in shared data (compare-and-swap, retried on contention),
    /// releases the lease and adopts the result.
    fn finish(&mut self, outcome: Result<String, FetchFailure>, now_ms: u64) -> Progress {
        let key = self.record_key();
        let mut published = None;
        let unknown_kid = std::mem::take(&mut self.fetching_for_kid);
        for _ in 0..PUBLISH_ATTEMPTS {
            let (current, cas) = match hostcalls::get_shared_data(&key) {
                Ok((bytes, cas)) => (
                    bytes
                        .as_deref()
                        .and_then(KeyRecord::decode)
                        .unwrap_or_default(),
                    cas,
                ),
                Err(_) => (KeyRecord::default(), None),
            };
            let attempt = Attempt {
                now_ms,
                random: random_u64(),
                unknown_kid,
            };
            let next = match &outcome {
                Ok(document) => {
                    current.after_success(document.clone(), &self.spec.fetch_policy, attempt)
                }
                Err(failure) => current.after_failure(*failure, &self.spec.fetch_policy, attempt),
            };
            if hostcalls::set_shared_data(&key, Some(&next.encode()), cas).is_ok() {
                published = Some(next);
                break;
            }
        }
        self.release_lease();
        match &outcome {
            Ok(_) => log::debug!("claimcheck: provider {}: keys fetched", self.spec.provider),
            Err(failure) => log::warn!(
                "claimcheck: provider {}: key fetch failed: {}",
                self.spec.provider,
                failure.code()
            ),
        }
        let mut progress = match published {
            Some(record) => self.adopt(record, now_ms),
            None => self.sync(now_ms),
        };
        progress.fetched = Some(outcome.map(|_| ()));
        progress
    }

    fn record_key(&self) -> String {
        format!("{}/record", self.spec.shared_key)
    }

    fn lease_key(&self) -> String {
        format!("{}/lease", self.spec.shared_key)
    }
}

/// The body Envoy's router sends with the 504 it answers a call timeout with
/// (`source/common/router/router.cc`, `onUpstreamTimeout`). A 504 from the IdP's own gateway
/// carries another body and is a plain `http_status` failure.
const ROUTER_TIMEOUT_BODY: &[u8] = b"upstream request timeout";

/// Whether the 504 being delivered is Envoy's own answer to the call's timeout.
fn is_router_timeout(body_size: usize) -> bool {
    body_size == ROUTER_TIMEOUT_BODY.len()
        && hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .is_some_and(|body| body == ROUTER_TIMEOUT_BODY)
}

/// What a request whose `kid` the set lacks does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidAnswer {
    /// Waits (parked) for the refetch that starts now or is running.
    Wait,
    /// Refused now; the refetch the rate limit defers is queued.
    Defer,
    /// Refused now: the last refetch did not find this `kid`.
    Refuse,
}

/// `kid`s remembered per provider between two fetches: a flood of made-up `kid`s cannot grow
/// the VM's memory; beyond it, a `kid` simply is not remembered as missing (it is then
/// refused by the rate limit instead).
const MAX_SOUGHT_KIDS: usize = 64;

/// Compare-and-swap rounds before giving up on publishing; each loss means another VM wrote
/// in between, which only happens when two fetches raced past an expired lease.
const PUBLISH_ATTEMPTS: usize = 4;

/// Randomness for jitter and VM identities, from the host (WASI `random_get`).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u64::from_le_bytes(bytes)
}
