//! The key-lifecycle machine of one provider in one VM: events in, commands out.
//!
//! The machine never calls the host. The shell (`filter::fetch`) feeds it what happened —
//! a tick, the shared record's bytes and CAS, the lease entry, whether a write won, a call's
//! answer, an unknown `kid` a request saw — and carries out the [`Command`]s it returns, in
//! order. A command that asks the host something (read the record, write the lease, dispatch
//! a call) is always the last of its batch; its answer is the next event. Every decision —
//! when to fetch, who fetches, what an answer means, when keys are too old, which `kid`s are
//! refused at once — is taken here, so every race is a native unit test.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use super::document::Parsed;
use super::record::{Attempt, KeyRecord, KeySetId};
use super::response::{self, Head};
use super::{Document, FetchFailure, FetchLease, Jitter};
use crate::config::{FetchPlan, Step};
use crate::freshness::{self, Lifetime};
use crate::jwks::KeySet;

/// A shared-data entry as read: its bytes (`None`: no entry) and CAS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedValue {
    pub bytes: Option<Vec<u8>>,
    pub cas: Option<u32>,
}

/// What happened, as the shell tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The VM was configured: adopt what shared data holds, make sure the lease entry
    /// exists, never fetch (not every host allows calls out of `on_configure`).
    Start,
    /// The host's tick: time to see what other VMs published and whether a fetch is due.
    Tick,
    /// The answer to [`Command::ReadRecord`]; `None` when the host refused the read.
    Record(Option<SharedValue>),
    /// The answer to [`Command::ReadLease`]; `None` when the host refused the read.
    Lease(Option<SharedValue>),
    /// The answer to [`Command::WriteLease`]: whether the compare-and-swap won.
    LeaseWritten(bool),
    /// The answer to [`Command::Dispatch`]: the call's token, or `None` if the host refused.
    Dispatched(Option<u32>),
    /// The head of the running call's answer: its headers (lowercase names; none for a reset)
    /// and the size of its body.
    ResponseHead {
        headers: Vec<(String, String)>,
        body_size: usize,
    },
    /// The answer to [`Command::ReadBody`]; `None` when the host could not give it.
    ResponseBody(Option<Vec<u8>>),
    /// The answer to [`Command::PublishRecord`]: whether the compare-and-swap won.
    Published(bool),
    /// A request waits for `kid`, which the set lacks: fetch as soon as the rate limit allows.
    KidWanted(String),
    /// A request with an unknown `kid` was refused because the rate limit defers the
    /// refetch: the refetch still happens, at the earliest allowed moment.
    KidDeferred,
}

/// What the shell is to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Read the record entry; answer with [`Event::Record`].
    ReadRecord,
    /// Read the lease entry; answer with [`Event::Lease`].
    ReadLease,
    /// Write the lease entry by compare-and-swap (`cas: None` writes unconditionally, which
    /// only creates the entry); answer with [`Event::LeaseWritten`].
    WriteLease {
        value: Vec<u8>,
        cas: Option<u32>,
    },
    /// Dispatch one call of the fetch through the plan's cluster with the plan's timeout;
    /// answer with [`Event::Dispatched`].
    Dispatch {
        authority: String,
        path: String,
    },
    /// Read the running call's body (`size` bytes); answer with [`Event::ResponseBody`].
    ReadBody {
        size: usize,
    },
    /// Write the record by compare-and-swap; answer with [`Event::Published`].
    PublishRecord {
        bytes: Vec<u8>,
        cas: Option<u32>,
    },
    /// This VM's key set changed (new keys, or none any more): verifications cached under
    /// the old set are dropped.
    KeysReplaced,
    /// The record moved: parked requests are evaluated again.
    WakeParked,
    /// A fetch made in this VM finished (metrics).
    Fetched(Result<(), FetchFailure>),
    Log(Log),
}

/// A log line the machine wants written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
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
const PUBLISH_ATTEMPTS: u32 = 4;

/// The host query whose answer the machine waits for, within one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    None,
    /// Record read at start: adopt, then make sure the lease entry exists.
    StartRecord,
    StartLease,
    /// Record read on a tick.
    SyncRecord,
    /// Lease read (then written) to start a fetch.
    TakeLease {
        for_kid: bool,
    },
    LeaseTaken {
        for_kid: bool,
    },
    Dispatch,
    Body,
    TimeoutBody,
    /// Record read (then written) to publish an outcome.
    PublishRead,
    PublishWrite,
    /// Lease read (then cleared) after publishing.
    Release,
    /// A write whose answer changes nothing.
    Ignored,
}

/// A fetch this VM is making.
#[derive(Debug, Clone)]
struct Fetch {
    /// The call running (its token once dispatched) and its step.
    token: Option<u32>,
    /// When the lease for it was taken: a fetch whose answer never comes is abandoned when
    /// that lease has expired, so the VM fetches again instead of waiting forever.
    started_at_ms: u64,
    step: Step,
    for_kid: bool,
    /// The shortest lifetime the answers so far stated.
    lifetime: Lifetime,
}

/// A finished fetch, until its outcome is in the record.
#[derive(Debug, Clone)]
struct Publishing {
    outcome: Outcome,
    for_kid: bool,
    attempts: u32,
    /// The record written by the last compare-and-swap, and whether it changed the refresh
    /// interval: adopted if the write won.
    written: Option<(KeyRecord, bool)>,
}

/// A finished fetch, until it is published.
#[derive(Debug, Clone)]
enum Outcome {
    Keys {
        document: Vec<u8>,
        keys: Parsed,
        interval_ms: u64,
    },
    Failed(FetchFailure),
}

/// One provider's keys (or another [`Document`], such as its revocation list) in one VM:
/// the [`Lifecycle`], typed by the document it carries.
pub struct KeyMachine<D = KeySet> {
    lifecycle: Lifecycle,
    document: PhantomData<fn() -> D>,
}

/// The lifecycle of one fetched document in one VM. It holds the document as a [`Parsed`]
/// of either kind, so its code is in the module once and not once per document kind (the
/// module's size is bounded); [`KeyMachine`] gives it back typed.
pub struct Lifecycle {
    plan: Rc<FetchPlan>,
    /// This VM's identity in the lease.
    vm: u64,
    jitter: Jitter,
    now_ms: u64,
    query: Query,
    /// The record as last read or written (its document dropped once parsed).
    record: KeyRecord,
    /// The shared-data CAS of `record`, when known: an unchanged CAS means an unchanged
    /// record, so an idle tick does not decode it.
    record_cas: Option<u32>,
    /// The record adopted: (generation, attempted_at). A change wakes parked requests.
    seen: Option<(u64, Option<u64>)>,
    /// The key set parsed, and which record it came from: parsed once per generation.
    keys: Option<Parsed>,
    keys_of: Option<KeySetId>,
    fetch: Option<Fetch>,
    /// A finished fetch being published.
    publishing: Option<Publishing>,
    /// An unknown `kid` asked for a refetch; honoured as soon as the rate limit allows.
    refetch_wanted: bool,
    /// The `kid`s requests wait for: the refetch answers them.
    sought: BTreeSet<String>,
    /// The `kid`s the last unknown-`kid` refetch did not find: refused at once (no repeated
    /// waits) until the next fetch.
    missing: BTreeSet<String>,
}

impl KeyMachine<KeySet> {
    /// A key machine; `seed` (any u64, random per VM) names this VM in the lease and seeds
    /// its jitter.
    pub fn new(plan: Rc<FetchPlan>, seed: u64) -> KeyMachine<KeySet> {
        KeyMachine::for_document(plan, seed)
    }
}

impl<D: Document> KeyMachine<D> {
    /// A machine for any document; `seed` as for [`KeyMachine::new`]. The plan's steps say
    /// what the document is: a plan fetching another kind than `D` never has a `D` to give.
    pub fn for_document(plan: Rc<FetchPlan>, seed: u64) -> KeyMachine<D> {
        KeyMachine {
            lifecycle: Lifecycle::new(plan, seed),
            document: PhantomData,
        }
    }

    /// The document to use now (keys to verify with, a list to consult), if one is known
    /// and not too stale.
    pub fn keys(&self) -> Option<&Rc<D>> {
        self.lifecycle.keys.as_ref().and_then(D::from_parsed)
    }
}

impl<D> Deref for KeyMachine<D> {
    type Target = Lifecycle;

    fn deref(&self) -> &Lifecycle {
        &self.lifecycle
    }
}

impl<D> DerefMut for KeyMachine<D> {
    fn deref_mut(&mut self) -> &mut Lifecycle {
        &mut self.lifecycle
    }
}

impl Lifecycle {
    fn new(plan: Rc<FetchPlan>, seed: u64) -> Lifecycle {
        let mut jitter = Jitter::new(seed);
        let vm = jitter.next_u64();
        Lifecycle {
            plan,
            vm,
            jitter,
            now_ms: 0,
            query: Query::None,
            record: KeyRecord::default(),
            record_cas: None,
            seen: None,
            keys: None,
            keys_of: None,
            fetch: None,
            publishing: None,
            refetch_wanted: false,
            sought: BTreeSet::new(),
            missing: BTreeSet::new(),
        }
    }

    pub fn plan(&self) -> &FetchPlan {
        &self.plan
    }

    pub fn generation(&self) -> u64 {
        self.record.meta.generation
    }

    /// Whether the keys are being served past a failed refresh.
    pub fn is_stale(&self) -> bool {
        self.record.is_stale()
    }

    /// Whether the last good keys are past `max_stale_s`: refused at once.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.record.is_expired(&self.plan.policy, now_ms)
    }

    /// Whether this provider needs frequent ticks (no keys yet, a fetch running, or a
    /// refetch wanted).
    pub fn is_busy(&self) -> bool {
        self.keys.is_none() || self.fetch.is_some() || self.refetch_wanted
    }

    /// Whether the call with this token is this provider's.
    pub fn owns_call(&self, token: u32) -> bool {
        self.fetch
            .as_ref()
            .is_some_and(|fetch| fetch.token == Some(token))
    }

    /// When this machine next wants a tick: the record's due time, or the queued refetch's.
    /// `None` while a call runs (its answer comes as an event).
    pub fn wake_at_ms(&self) -> Option<u64> {
        if self.fetch.is_some() {
            return None;
        }
        let due = self.record.meta.next_fetch_at_ms;
        Some(if self.refetch_wanted {
            due.min(self.record.unknown_kid_refetch_at_ms(&self.plan.policy))
        } else {
            due
        })
    }

    /// What a request with `kid`, which this VM's set lacks, does.
    pub fn kid_answer(&self, kid: &str, now_ms: u64) -> KidAnswer {
        if self.missing.contains(kid) {
            KidAnswer::Refuse
        } else if self.fetch.is_some()
            || self
                .record
                .unknown_kid_refetch_allowed(&self.plan.policy, now_ms)
        {
            KidAnswer::Wait
        } else {
            KidAnswer::Defer
        }
    }

    /// Handles one event at `now_ms`; returns what to do, in order.
    pub fn handle(&mut self, now_ms: u64, event: Event) -> Vec<Command> {
        self.now_ms = now_ms;
        let query = std::mem::replace(&mut self.query, Query::None);
        let mut out = Vec::new();
        match (query, event) {
            (_, Event::Start) => self.ask(&mut out, Query::StartRecord, Command::ReadRecord),
            (_, Event::Tick) => {
                self.abandon_lost_fetch(&mut out);
                self.ask(&mut out, Query::SyncRecord, Command::ReadRecord);
            }
            (Query::StartRecord, Event::Record(value)) => {
                self.sync(&mut out, value);
                self.ask(&mut out, Query::StartLease, Command::ReadLease);
            }
            (Query::StartLease, Event::Lease(Some(value))) => {
                self.create_lease_entry(&mut out, &value)
            }
            (Query::SyncRecord, Event::Record(value)) => {
                self.sync(&mut out, value);
                self.maybe_start(&mut out);
            }
            (Query::TakeLease { for_kid }, Event::Lease(Some(value))) => {
                self.take_lease(&mut out, &value, for_kid);
            }
            (Query::LeaseTaken { for_kid }, Event::LeaseWritten(true)) => {
                self.dispatch_first(&mut out, for_kid);
            }
            (Query::Dispatch, Event::Dispatched(token)) => self.dispatched(&mut out, token),
            (_, Event::ResponseHead { headers, body_size }) => {
                self.response_head(&mut out, &headers, body_size);
            }
            (Query::Body, Event::ResponseBody(body)) => self.response_body(&mut out, body),
            (Query::TimeoutBody, Event::ResponseBody(body)) => {
                let failure = body
                    .as_deref()
                    .map_or(FetchFailure::Reset, response::classify_timeout_body);
                self.finish(&mut out, Outcome::Failed(failure));
            }
            (Query::PublishRead, Event::Record(value)) => self.publish(&mut out, value),
            (Query::PublishWrite, Event::Published(won)) => self.published(&mut out, won),
            (Query::Release, Event::Lease(Some(value))) => self.release(&mut out, &value),
            (query, Event::KidWanted(kid)) => {
                self.query = query;
                self.refetch_wanted = true;
                if self.sought.len() < MAX_SOUGHT_KIDS {
                    self.sought.insert(kid);
                }
            }
            (query, Event::KidDeferred) => {
                self.query = query;
                self.refetch_wanted = true;
            }
            // A failed read, a lost lease, an answer to a write whose outcome changes
            // nothing, or an event out of turn: nothing more to do in this batch.
            (Query::PublishRead, _) | (Query::PublishWrite, _) => self.published(&mut out, false),
            _ => {}
        }
        out
    }

    fn ask(&mut self, out: &mut Vec<Command>, query: Query, command: Command) {
        self.query = query;
        out.push(command);
    }

    /// Reads the record and adopts it if it moved.
    fn sync(&mut self, out: &mut Vec<Command>, value: Option<SharedValue>) {
        // A failed read says nothing about the record: keep what this VM has.
        if let Some(value) = value {
            if value.cas.is_none() || value.cas != self.record_cas {
                let record = value
                    .bytes
                    .as_deref()
                    .and_then(KeyRecord::decode)
                    .unwrap_or_default();
                self.adopt(out, record, None);
                self.record_cas = value.cas;
            }
        }
        self.expire_stale_keys(out);
    }

    /// Takes `record` as this VM's view; `parsed` is the set the VM parsed itself when it
    /// just fetched the record's document (no second parse).
    fn adopt(&mut self, out: &mut Vec<Command>, mut record: KeyRecord, parsed: Option<Parsed>) {
        let identity = (record.meta.generation, record.meta.attempted_at_ms);
        if self.seen != Some(identity) {
            out.push(Command::WakeParked);
            if record.meta.attempted_at_ms.is_some()
                && record.meta.unknown_kid_attempted_at_ms == record.meta.attempted_at_ms
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
            self.seen = Some(identity);
        }
        let id = record.key_set_id();
        if self.keys_of != Some(id) {
            self.keys_of = Some(id);
            let had_keys = self.keys.is_some();
            self.keys = match parsed {
                Some(keys) => Some(keys),
                None => record
                    .usable_jwks(&self.plan.policy, self.now_ms)
                    .and_then(|document| self.parse(out, document).ok()),
            };
            if had_keys || self.keys.is_some() {
                out.push(Command::KeysReplaced);
            }
        }
        // The document is parsed; the VM keeps only the schedule.
        record.jwks = None;
        self.record = record;
        // Whoever wrote it, this VM does not know the CAS of this record: the next sync
        // decodes once more.
        self.record_cas = None;
    }

    /// Stops using keys older than `max_stale_s`, even if every refresh since has failed.
    fn expire_stale_keys(&mut self, out: &mut Vec<Command>) {
        if self.keys.is_some() && self.record.is_expired(&self.plan.policy, self.now_ms) {
            self.log(
                out,
                LogLevel::Warn,
                "keys are older than max_stale_s; no longer used".to_owned(),
            );
            self.keys = None;
            out.push(Command::KeysReplaced);
            out.push(Command::WakeParked);
        }
    }

    fn parse(&self, out: &mut Vec<Command>, document: &[u8]) -> Result<Parsed, FetchFailure> {
        match Parsed::parse(document, &self.plan) {
            Ok((parsed, notes)) => {
                for note in notes {
                    self.log(out, LogLevel::Debug, note);
                }
                Ok(parsed)
            }
            Err((failure, message)) => {
                self.log(out, LogLevel::Warn, message);
                Err(failure)
            }
        }
    }

    /// Starts a fetch if one is due (or a wanted refetch is allowed) and no call runs here.
    fn maybe_start(&mut self, out: &mut Vec<Command>) {
        if self.fetch.is_some() || self.publishing.is_some() {
            return;
        }
        let policy = &self.plan.policy;
        let refetch =
            self.refetch_wanted && self.record.unknown_kid_refetch_allowed(policy, self.now_ms);
        let due = self.record.fetch_due(self.now_ms);
        if due || refetch {
            let for_kid = refetch && !due;
            self.ask(out, Query::TakeLease { for_kid }, Command::ReadLease);
        }
    }

    /// Makes sure the lease entry exists, so that every VM's first tick competes for it by
    /// compare-and-swap: Envoy's write without CAS always succeeds, so two VMs that both
    /// found no entry would both win it.
    fn create_lease_entry(&mut self, out: &mut Vec<Command>, value: &SharedValue) {
        if value.cas.is_none() {
            let command = Command::WriteLease {
                value: Vec::new(),
                cas: None,
            };
            self.ask(out, Query::Ignored, command);
        }
    }

    fn take_lease(&mut self, out: &mut Vec<Command>, value: &SharedValue, for_kid: bool) {
        let Some(cas) = value.cas else {
            self.create_lease_entry(out, value);
            return;
        };
        let held = value
            .bytes
            .as_deref()
            .and_then(FetchLease::decode)
            .is_some_and(|lease| !lease.is_free_for(self.vm, self.now_ms));
        if held {
            return;
        }
        let lease = FetchLease::new(self.vm, &self.plan.policy, self.now_ms);
        let command = Command::WriteLease {
            value: lease.encode(),
            cas: Some(cas),
        };
        self.ask(out, Query::LeaseTaken { for_kid }, command);
    }

    /// Forgets a fetch whose lease has expired without an answer (the host normally answers
    /// every call by its timeout), and a publish a host cut short: the next due time or
    /// wish starts a new fetch.
    fn abandon_lost_fetch(&mut self, out: &mut Vec<Command>) {
        let lease = FetchLease::new(self.vm, &self.plan.policy, 0).expires_at_ms;
        let lost = self
            .fetch
            .as_ref()
            .is_some_and(|fetch| self.now_ms >= fetch.started_at_ms.saturating_add(lease));
        if lost || self.publishing.is_some() {
            self.fetch = None;
            self.publishing = None;
            self.log(
                out,
                LogLevel::Warn,
                "a fetch got no answer within its lease; abandoned".to_owned(),
            );
        }
    }

    fn dispatch_first(&mut self, out: &mut Vec<Command>, for_kid: bool) {
        self.refetch_wanted = false;
        self.log(out, LogLevel::Debug, "fetching keys".to_owned());
        self.fetch = Some(Fetch {
            token: None,
            started_at_ms: self.now_ms,
            step: self.plan.first_step.clone(),
            for_kid,
            lifetime: Lifetime::Unstated,
        });
        self.dispatch_step(out);
    }

    fn dispatch_step(&mut self, out: &mut Vec<Command>) {
        let Some(fetch) = &self.fetch else {
            return;
        };
        let (authority, path) = fetch.step.target();
        let command = Command::Dispatch {
            authority: authority.to_owned(),
            path: path.to_owned(),
        };
        self.ask(out, Query::Dispatch, command);
    }

    fn dispatched(&mut self, out: &mut Vec<Command>, token: Option<u32>) {
        match (token, self.fetch.as_mut()) {
            (Some(token), Some(fetch)) => fetch.token = Some(token),
            _ => {
                let message = format!("cannot dispatch to cluster {}", self.plan.cluster);
                self.log(out, LogLevel::Warn, message);
                self.finish(out, Outcome::Failed(FetchFailure::DispatchFailed));
            }
        }
    }

    fn response_head(&mut self, out: &mut Vec<Command>, headers: &[(String, String)], size: usize) {
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        fetch.token = None;
        match response::classify_head(&fetch.step, headers, size) {
            Head::Failed(failure) => self.finish(out, Outcome::Failed(failure)),
            Head::ReadTimeoutBody => self.ask(out, Query::TimeoutBody, Command::ReadBody { size }),
            Head::ReadBody => {
                let stated = freshness::lifetime(headers, self.now_ms / 1000);
                fetch.lifetime = shorter(fetch.lifetime, stated);
                self.ask(out, Query::Body, Command::ReadBody { size });
            }
        }
    }

    fn response_body(&mut self, out: &mut Vec<Command>, body: Option<Vec<u8>>) {
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        let Some(body) = body else {
            self.finish(out, Outcome::Failed(FetchFailure::Reset));
            return;
        };
        match &fetch.step {
            Step::Discovery { issuer, .. } => match response::follow_discovery(&body, issuer) {
                Ok(next) => {
                    fetch.step = next;
                    self.dispatch_step(out);
                }
                Err(error) => {
                    self.log(
                        out,
                        LogLevel::Warn,
                        format!("bad discovery document: {error:?}"),
                    );
                    self.finish(out, Outcome::Failed(FetchFailure::BadDiscovery));
                }
            },
            Step::Jwks { .. } | Step::RevocationList { .. } => {
                let lifetime = fetch.lifetime;
                let outcome = match self.parse(out, &body) {
                    Ok(keys) => Outcome::Keys {
                        document: body,
                        keys,
                        interval_ms: self.plan.policy.interval_for(lifetime),
                    },
                    Err(failure) => Outcome::Failed(failure),
                };
                self.finish(out, outcome);
            }
        }
    }

    /// The fetch is over: publish its outcome in the record (compare-and-swap on the record
    /// as it is now, retried on contention), then release the lease.
    fn finish(&mut self, out: &mut Vec<Command>, outcome: Outcome) {
        let for_kid = self.fetch.take().is_some_and(|fetch| fetch.for_kid);
        self.publishing = Some(Publishing {
            outcome,
            for_kid,
            attempts: 0,
            written: None,
        });
        self.ask(out, Query::PublishRead, Command::ReadRecord);
    }

    fn publish(&mut self, out: &mut Vec<Command>, value: Option<SharedValue>) {
        let Some(publishing) = self.publishing.as_mut() else {
            return;
        };
        // A failed read counts as an attempt too: a host that keeps refusing reads ends the
        // publish instead of looping.
        publishing.attempts = publishing.attempts.saturating_add(1);
        let Some(value) = value else {
            self.published(out, false);
            return;
        };
        let current = value
            .bytes
            .as_deref()
            .and_then(KeyRecord::decode)
            .unwrap_or_default();
        let attempt = Attempt {
            now_ms: self.now_ms,
            random: self.jitter.next_u64(),
            unknown_kid: publishing.for_kid,
        };
        let policy = &self.plan.policy;
        let next = match &publishing.outcome {
            Outcome::Keys {
                document,
                interval_ms,
                ..
            } => current.after_success(document.clone(), *interval_ms, policy, attempt),
            Outcome::Failed(failure) => current.after_failure(*failure, policy, attempt),
        };
        let interval_changed = next.meta.interval_ms != current.meta.interval_ms;
        let command = Command::PublishRecord {
            bytes: next.encode(),
            cas: value.cas,
        };
        publishing.written = Some((next, interval_changed));
        self.ask(out, Query::PublishWrite, command);
    }

    /// The answer to a publish: adopt what was written, or read and try again, or give up
    /// (the next tick adopts whatever another VM wrote).
    fn published(&mut self, out: &mut Vec<Command>, won: bool) {
        let Some(mut publishing) = self.publishing.take() else {
            return;
        };
        let written = publishing.written.take();
        if !won && publishing.attempts < PUBLISH_ATTEMPTS {
            self.publishing = Some(publishing);
            self.ask(out, Query::PublishRead, Command::ReadRecord);
            return;
        }
        let result = match &publishing.outcome {
            Outcome::Keys { .. } => Ok(()),
            Outcome::Failed(failure) => Err(*failure),
        };
        match result {
            Ok(()) => self.log(out, LogLevel::Debug, "keys fetched".to_owned()),
            Err(failure) => self.log(
                out,
                LogLevel::Warn,
                format!("key fetch failed: {}", failure.code()),
            ),
        }
        out.push(Command::Fetched(result));
        match (won, written) {
            (true, Some((record, interval_changed))) => {
                if interval_changed {
                    if let Some(interval_ms) = record.meta.interval_ms {
                        let message = format!("keys refresh every {} s", interval_ms / 1000);
                        self.log(out, LogLevel::Info, message);
                    }
                }
                let parsed = match publishing.outcome {
                    Outcome::Keys { keys, .. } => Some(keys),
                    Outcome::Failed(_) => None,
                };
                self.adopt(out, record, parsed);
            }
            _ => self.log(
                out,
                LogLevel::Warn,
                "could not publish the fetch outcome; adopting the record on the next tick"
                    .to_owned(),
            ),
        }
        self.ask(out, Query::Release, Command::ReadLease);
    }

    /// Clears the lease if this VM still holds it. By compare-and-swap: a VM whose lease
    /// expired mid-fetch must not wipe the lease another VM has taken since.
    fn release(&mut self, out: &mut Vec<Command>, value: &SharedValue) {
        let ours = value
            .bytes
            .as_deref()
            .and_then(FetchLease::decode)
            .is_some_and(|lease| lease.owner == self.vm);
        if ours {
            let command = Command::WriteLease {
                value: Vec::new(),
                cas: value.cas,
            };
            self.ask(out, Query::Ignored, command);
        }
    }

    fn log(&self, out: &mut Vec<Command>, level: LogLevel, message: String) {
        out.push(Command::Log(Log {
            level,
            message: format!("provider {}: {message}", self.plan.provider),
        }));
    }
}

/// The shorter of two stated lifetimes (a discovery document and the JWKS it names).
fn shorter(a: Lifetime, b: Lifetime) -> Lifetime {
    match (a, b) {
        (Lifetime::Seconds(x), Lifetime::Seconds(y)) => Lifetime::Seconds(x.min(y)),
        (Lifetime::Seconds(x), Lifetime::Unstated) | (Lifetime::Unstated, Lifetime::Seconds(x)) => {
            Lifetime::Seconds(x)
        }
        (Lifetime::Unstated, Lifetime::Unstated) => Lifetime::Unstated,
    }
}
