//! The introspection exchange's host (RFC 7662): Envoy's shared data, read and written by
//! CAS, holds every provider's answer cache for all the VMs of the process;
//! `dispatch_http_call` asks the endpoint. No decision is taken here: what a slot means, who
//! calls, what an answer becomes and for how long are `crate::introspect`'s; whether a
//! request waits, is refused or passes is `crate::authorize`'s.

use std::cell::RefCell;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};

use crate::authorize::IntrospectionLookup;
use crate::config::{Config, Introspection, ProviderId};
use crate::introspect::{self, CallOutcome, Found, Head, IntrospectionHost, SlotMemo, Started};
use crate::introspect::{TokenDigest, MAX_ANSWER_BYTES};

use super::metrics::{self, Metrics};

/// Slots one VM remembers decoded per provider (see [`SlotMemo`]).
const MEMO_SLOTS: usize = 1024;

/// One VM's part in the exchange: its identity as a lease holder, the slots it decoded,
/// and the calls it has out.
pub struct Introspections {
    /// This VM's lease identity.
    owner: u64,
    /// By provider index.
    memos: RefCell<Vec<SlotMemo>>,
    calls: Vec<Call>,
}

/// A call this VM dispatched and awaits.
struct Call {
    id: u32,
    provider: ProviderId,
    token: TokenDigest,
    /// When its lease ends: an answer the host never delivers is forgotten then, and the
    /// token may be asked again.
    until_ms: u64,
    /// The HTTP context the call was dispatched from, whose callback gets the answer (`None`:
    /// the root's). The SDK drops the answer when that stream is gone.
    stream: Option<u32>,
}

/// Which context's callback is running when a request is evaluated, and so where the
/// introspection calls it needs come from. Envoy makes every call on the VM's root context,
/// but the SDK hands the answer to the context whose callback dispatched the call — not the
/// effective one — and drops it when that context is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatcher {
    /// The request's own HTTP context: the answer comes back to it, and when its stream
    /// ends first the call's lease is freed for the requests still waiting.
    Stream(u32),
    /// The root context (a tick, or the answer to one of the root's calls).
    Root,
    /// Another request's HTTP context, re-running parked requests after its own answer
    /// came. That stream usually ends at once, taking any answer dispatched from it along;
    /// so nothing is dispatched here, and the root's next tick (fast while requests wait)
    /// re-runs the request and calls.
    Deferred,
}

impl Introspections {
    pub fn new(config: &Config, owner: u64) -> Introspections {
        let memos = config
            .providers
            .iter()
            .map(|p| {
                SlotMemo::new(if p.introspection.is_some() {
                    MEMO_SLOTS
                } else {
                    0
                })
            })
            .collect();
        Introspections {
            owner,
            memos: RefCell::new(memos),
            calls: Vec::new(),
        }
    }

    /// The request path's view of the shared answers at `now_ms`.
    pub fn lookup<'a>(
        &'a self,
        config: &'a Config,
        metrics: &'a Metrics,
        now_ms: u64,
    ) -> SharedAnswers<'a> {
        SharedAnswers {
            config,
            memos: &self.memos,
            metrics,
            now_ms,
            pending: RefCell::new(Vec::new()),
        }
    }

    /// Sees to a call for each token a request found without an answer: takes the slot's
    /// lease and dispatches, unless a call (this VM's or another's) already serves it.
    /// `dispatcher`: the context whose callback is running (see [`Dispatcher`]).
    pub fn start(
        &mut self,
        config: &Config,
        metrics: &Metrics,
        pending: Vec<(ProviderId, String)>,
        dispatcher: Dispatcher,
        now_ms: u64,
    ) {
        let stream = match dispatcher {
            Dispatcher::Stream(context_id) => Some(context_id),
            Dispatcher::Root => None,
            Dispatcher::Deferred => return,
        };
        self.forget_calls_before(now_ms);
        for (id, token) in pending {
            let Some((name, introspection)) = introspection_of(config, id) else {
                continue;
            };
            let digest = TokenDigest::of(&token);
            if self
                .calls
                .iter()
                .any(|call| call.provider == id && call.token == digest)
            {
                continue;
            }
            let key = introspection.slot_key(digest.slot(introspection.policy.slots));
            let mut host = Endpoint(introspection);
            let started = introspect::start(
                &mut host,
                &key,
                &token,
                self.owner,
                now_ms,
                &introspection.policy,
            );
            match started {
                Started::Calling(call) => {
                    metrics.increment(&metrics::introspection(name, "call"));
                    self.calls.push(Call {
                        id: call,
                        provider: id,
                        token: digest,
                        until_ms: now_ms.saturating_add(introspection.policy.lease_ms()),
                        stream,
                    });
                }
                Started::DispatchFailed => {
                    log::warn!("claimcheck: introspection call for provider {name} not dispatched");
                    metrics.increment(&metrics::introspection_failed(name, "dispatch_failed"));
                }
                Started::Waiting | Started::Settled => {}
            }
        }
    }

    /// Delivers the answer to one of this VM's calls and publishes it for every VM; `false`
    /// when the call is not an introspection call of this VM.
    pub fn on_response(
        &mut self,
        config: &Config,
        metrics: &Metrics,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        now_ms: u64,
    ) -> bool {
        let Some(index) = self.calls.iter().position(|call| call.id == token_id) else {
            return false;
        };
        let call = self.calls.swap_remove(index);
        let Some((name, introspection)) = introspection_of(config, call.provider) else {
            return true;
        };
        let headers = if num_headers == 0 {
            Vec::new()
        } else {
            hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default()
        };
        let head = introspect::classify_head(&headers, body_size);
        let body = match head {
            Head::ReadBody | Head::ReadTimeoutBody => hostcalls::get_buffer(
                BufferType::HttpCallResponseBody,
                0,
                body_size.min(MAX_ANSWER_BYTES),
            )
            .ok()
            .flatten()
            .unwrap_or_default(),
            Head::Failed(_) => Vec::new(),
        };
        let outcome = introspect::classify(head, &body);
        match &outcome {
            CallOutcome::Answered(introspect::Answer::Active(_)) => {
                metrics.increment(&metrics::introspection(name, "active"));
            }
            CallOutcome::Answered(introspect::Answer::Inactive) => {
                metrics.increment(&metrics::introspection(name, "inactive"));
            }
            CallOutcome::Failed(failure) => {
                log::warn!(
                    "claimcheck: introspection call for provider {name} failed: {}",
                    failure.code()
                );
                metrics.increment(&metrics::introspection_failed(name, failure.code()));
            }
        }
        let key = introspection.slot_key(call.token.slot(introspection.policy.slots));
        let published = introspect::finish(
            &mut Endpoint(introspection),
            &key,
            &call.token,
            self.owner,
            outcome,
            now_ms,
            &introspection.policy,
        );
        log::debug!("claimcheck: introspection answer for provider {name} published: {published}");
        true
    }

    /// The stream `context_id` ended: the answers to the calls dispatched from it will never
    /// be delivered, so their leases are freed now and the requests waiting for them (in
    /// any VM) call again instead of waiting the leases out.
    pub fn abandon_calls_of(&mut self, config: &Config, context_id: u32, now_ms: u64) {
        let (lost, kept) = std::mem::take(&mut self.calls)
            .into_iter()
            .partition(|call| call.stream == Some(context_id));
        self.calls = kept;
        for call in lost {
            let Some((name, introspection)) = introspection_of(config, call.provider) else {
                continue;
            };
            let key = introspection.slot_key(call.token.slot(introspection.policy.slots));
            if introspect::abandon(&mut Endpoint(introspection), &key, self.owner, now_ms) {
                log::debug!(
                    "claimcheck: introspection call for provider {name} abandoned with its stream"
                );
            }
        }
    }

    /// Forgets the calls whose lease ended without an answer delivered.
    pub fn forget_calls_before(&mut self, now_ms: u64) {
        self.calls.retain(|call| now_ms < call.until_ms);
    }

    /// Whether a call of this VM is out (the root ticks fast meanwhile).
    pub fn is_busy(&self) -> bool {
        !self.calls.is_empty()
    }
}

fn introspection_of(config: &Config, id: ProviderId) -> Option<(&str, &Introspection)> {
    let provider = config.provider(id)?;
    Some((provider.name.as_str(), provider.introspection.as_ref()?))
}

/// The request path's lookup: the token's slot as shared data holds it now, decoded once
/// per CAS. Tokens found without an answer are noted for [`Introspections::start`].
pub struct SharedAnswers<'a> {
    config: &'a Config,
    memos: &'a RefCell<Vec<SlotMemo>>,
    metrics: &'a Metrics,
    now_ms: u64,
    pending: RefCell<Vec<(ProviderId, String)>>,
}

impl SharedAnswers<'_> {
    /// The tokens found without an answer, each once.
    pub fn into_pending(self) -> Vec<(ProviderId, String)> {
        self.pending.into_inner()
    }
}

impl IntrospectionLookup for SharedAnswers<'_> {
    fn answer(&self, provider: ProviderId, token: &str) -> Found {
        let Some((name, introspection)) = introspection_of(self.config, provider) else {
            return Found::Pending;
        };
        let digest = TokenDigest::of(token);
        let slot = digest.slot(introspection.policy.slots);
        let entry = match shared_read(&introspection.slot_key(slot)) {
            Some((bytes, cas)) => self
                .memos
                .borrow_mut()
                .get_mut(provider.index())
                .and_then(|memo| memo.entry(slot, &bytes, cas)),
            None => None,
        };
        let found = introspect::found(entry.as_deref(), &digest, self.now_ms);
        if found == Found::Pending {
            let mut pending = self.pending.borrow_mut();
            if !pending.iter().any(|(id, t)| *id == provider && t == token) {
                pending.push((provider, token.to_owned()));
            }
        } else {
            self.metrics
                .increment(&metrics::introspection(name, "cache_hit"));
        }
        found
    }
}

fn shared_read(key: &str) -> Option<(Vec<u8>, u32)> {
    match hostcalls::get_shared_data(key) {
        Ok((Some(bytes), Some(cas))) => Some((bytes, cas)),
        _ => None,
    }
}

/// One provider's endpoint, as the exchange's host.
struct Endpoint<'a>(&'a Introspection);

impl IntrospectionHost for Endpoint<'_> {
    fn read(&mut self, key: &str) -> Option<(Vec<u8>, u32)> {
        shared_read(key)
    }

    fn write(&mut self, key: &str, value: &[u8], cas: u32) -> bool {
        hostcalls::set_shared_data(key, Some(value), Some(cas)).is_ok()
    }

    /// RFC 7662 §2.1: a form-encoded POST, authenticated as the configured client.
    fn dispatch(&mut self, body: Vec<u8>) -> Option<u32> {
        let endpoint = &self.0.endpoint;
        let headers = vec![
            (":method", "POST"),
            (":path", endpoint.path.as_str()),
            (":authority", endpoint.authority.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
            ("authorization", self.0.auth_header.as_str()),
            ("user-agent", "claimcheck"),
        ];
        hostcalls::dispatch_http_call(
            &endpoint.cluster,
            headers,
            Some(&body),
            vec![],
            Duration::from_millis(self.0.policy.timeout_ms),
        )
        .ok()
    }
}
