//! The root context: one per VM. It compiles the configuration, keeps each provider's keys
//! fresh (fetching on ticks, never from `on_configure`, which not every host allows), and
//! finishes the requests parked while keys load.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};

use crate::authorize::VerifiedCache;
use crate::config::{self, JwksSource, Provider, ProviderId};
use crate::keys::{Event, KeyMachine, Progress};

use super::clock::{now_ms, schedule_ticks};
use super::fetch::{self, random_u64, Host};
use super::http::{Http, Unconfigured};
use super::introspection::{Dispatcher, Introspections};
use super::metrics::{self, Metrics};
use super::parked::{finish_parked, introspection_answered};
use super::state::{ListMachine, ProviderKeys, VmState};

pub struct Root {
    /// This root's context id: parked requests are finished under their own context, and
    /// the root's is made effective again afterwards.
    context_id: u32,
    state: Option<Rc<RefCell<VmState>>>,
}

impl Root {
    pub fn new(context_id: u32) -> Self {
        Root {
            context_id,
            state: None,
        }
    }
}

impl Context for Root {
    /// The VM is stopping: the counts it held back until the next tick are reported now.
    fn on_done(&mut self) -> bool {
        metrics::report();
        true
    }

    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(state) = self.state.clone() else {
            return;
        };
        let now = now_ms();
        if introspection_answered(
            &state,
            token_id,
            num_headers,
            body_size,
            now,
            Dispatcher::Root,
        ) {
            let _ = hostcalls::set_effective_context(self.context_id);
            return;
        }
        let progress = {
            let mut state = state.borrow_mut();
            let Some(owner) = call_owner(&state, token_id) else {
                return;
            };
            match owner {
                Owner::Keys(id) => {
                    let Some(remote) = state.remote(id) else {
                        return;
                    };
                    let progress = fetch::on_response(remote, now, num_headers, body_size);
                    note_progress(&mut state, id, progress);
                    progress
                }
                Owner::List(id) => {
                    let Some(list) = state.list(id) else {
                        return;
                    };
                    let progress = fetch::on_response(list, now, num_headers, body_size);
                    note_list_progress(&mut state, id, progress);
                    progress
                }
            }
        };
        if progress.record_changed {
            finish_parked(&state, now, Dispatcher::Root);
            let _ = hostcalls::set_effective_context(self.context_id);
        }
        schedule_ticks(&mut state.borrow_mut());
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = if plugin_configuration_size == 0 {
            Vec::new()
        } else {
            hostcalls::get_buffer(
                BufferType::PluginConfiguration,
                0,
                plugin_configuration_size,
            )
            .ok()
            .flatten()
            .unwrap_or_default()
        };
        let config = match config::load(&bytes) {
            Ok(config) => config,
            Err(errors) => {
                log::error!("claimcheck: configuration rejected: {errors}");
                return false;
            }
        };
        for warning in config.warnings() {
            log::warn!("claimcheck: configuration warning: {warning}");
        }
        let metrics = Metrics::default();
        let verifier = match super::crypto::select(config.crypto, &metrics) {
            Ok(verifier) => verifier,
            Err(failure) => {
                log::error!(
                    "claimcheck: configuration rejected: crypto: \"host\" needs the host's verify_signature: {failure}"
                );
                return false;
            }
        };
        let mut providers: Vec<ProviderKeys> = config.providers.iter().map(provider_keys).collect();
        let mut lists: Vec<Option<Box<ListMachine>>> =
            config.providers.iter().map(revocation_list).collect();
        let now = now_ms();
        for keys in &mut providers {
            if let ProviderKeys::Remote(remote) = keys {
                // A new configuration of a running VM (a policy update through ECDS) finds
                // the keys its unchanged providers already have in shared data: adopt them
                // now, so no request waits for the first tick.
                remote.run(&mut Host, now, Event::Start);
            }
        }
        for list in lists.iter_mut().flatten() {
            list.run(&mut Host, now, Event::Start);
        }
        log::info!(
            "claimcheck: configured {} provider(s), {} rule(s){}",
            config.providers.len(),
            config.rules.len(),
            if config.dry_run { ", dry run" } else { "" }
        );
        let introspections = Introspections::new(&config, random_u64());
        self.state = Some(Rc::new(RefCell::new(VmState {
            cache: VerifiedCache::new(config.token_cache.max_entries),
            config: Rc::new(config),
            providers,
            lists,
            parked: Vec::new(),
            introspections,
            metrics,
            verifier,
            fast_ticks: None,
        })));
        if let Some(state) = &self.state {
            schedule_ticks(&mut state.borrow_mut());
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(state) = self.state.clone() else {
            return;
        };
        let now = now_ms();
        {
            let mut state = state.borrow_mut();
            report_vm(&state);
            state.introspections.forget_calls_before(now);
            for index in 0..state.providers.len() {
                let id = ProviderId(index);
                let Some(remote) = state.remote(id) else {
                    continue;
                };
                let progress = remote.run(&mut Host, now, Event::Tick);
                note_progress(&mut state, id, progress);
            }
            for index in 0..state.lists.len() {
                let id = ProviderId(index);
                let Some(list) = state.list(id) else {
                    continue;
                };
                let progress = list.run(&mut Host, now, Event::Tick);
                note_list_progress(&mut state, id, progress);
            }
        }
        finish_parked(&state, now, Dispatcher::Root);
        let _ = hostcalls::set_effective_context(self.context_id);
        schedule_ticks(&mut state.borrow_mut());
    }

    /// Never `None`: the SDK panics on it. Without a configuration (Envoy normally sends no
    /// traffic to a filter whose `on_configure` failed) requests are refused, not let through.
    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        match self.state.clone() {
            Some(state) => Some(Box::new(Http { context_id, state })),
            None => Some(Box::new(Unconfigured)),
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Per-tick figures: host verifications since the last tick, and the VM's linear memory.
fn report_vm(state: &VmState) {
    let host_calls = state.verifier.host_calls.replace(0);
    if host_calls > 0 {
        state.metrics.add(metrics::CRYPTO_HOST_VERIFY, host_calls);
    }
    state
        .metrics
        .set_gauge(metrics::VM_MEMORY_BYTES, linear_memory_bytes());
    metrics::report();
}

/// The size of the VM's linear memory (64 KiB pages); 0 outside wasm.
fn linear_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size::<0>() as u64).saturating_mul(65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// Metrics for a fetch, and cache invalidation when a provider's keys changed.
fn note_progress(state: &mut VmState, id: ProviderId, progress: Progress) {
    let Some(name) = state.config.provider(id).map(|p| p.name.clone()) else {
        return;
    };
    match progress.fetched {
        Some(Ok(())) => state.metrics.increment(&metrics::fetch_ok(&name)),
        Some(Err(failure)) => state
            .metrics
            .increment(&metrics::fetch_failed(&name, failure.code())),
        None => {}
    }
    if progress.keys_replaced {
        state.cache.remove_where(|verified| verified.provider == id);
    }
    if progress.record_changed {
        let stale = state.remote(id).is_some_and(|remote| remote.is_stale());
        state
            .metrics
            .set_gauge(&metrics::stale(&name), u64::from(stale));
    }
}

/// Metrics for a revocation list's fetch. A new list drops no cached verification: the
/// list is consulted on every request, cache hits included.
fn note_list_progress(state: &mut VmState, id: ProviderId, progress: Progress) {
    let Some(name) = state.config.provider(id).map(|p| p.name.clone()) else {
        return;
    };
    match progress.fetched {
        Some(Ok(())) => state.metrics.increment(&metrics::list_fetch_ok(&name)),
        Some(Err(failure)) => state
            .metrics
            .increment(&metrics::list_fetch_failed(&name, failure.code())),
        None => {}
    }
    if progress.record_changed {
        let stale = state.list(id).is_some_and(|list| list.is_stale());
        state
            .metrics
            .set_gauge(&metrics::list_stale(&name), u64::from(stale));
    }
}

/// Whose call an answer is: a provider's key fetch or its revocation list's.
enum Owner {
    Keys(ProviderId),
    List(ProviderId),
}

fn call_owner(state: &VmState, token_id: u32) -> Option<Owner> {
    let keys = state.providers.iter().position(
        |keys| matches!(keys, ProviderKeys::Remote(remote) if remote.owns_call(token_id)),
    );
    if let Some(index) = keys {
        return Some(Owner::Keys(ProviderId(index)));
    }
    state
        .lists
        .iter()
        .position(|list| list.as_ref().is_some_and(|list| list.owns_call(token_id)))
        .map(|index| Owner::List(ProviderId(index)))
}

/// A provider's revocation list in this VM, when it has one: a machine of its own, seeded
/// apart from the key machine's.
fn revocation_list(provider: &Provider) -> Option<Box<ListMachine>> {
    let plan = provider.revocation.as_ref()?;
    Some(Box::new(KeyMachine::for_document(
        Rc::new(plan.clone()),
        random_u64(),
    )))
}

/// A provider's keys in this VM: inline ones as configured, remote ones behind a key
/// machine seeded with fresh randomness (its lease identity and jitter).
fn provider_keys(provider: &Provider) -> ProviderKeys {
    match (&provider.jwks, &provider.fetch) {
        (JwksSource::Inline(parsed), _) => ProviderKeys::Inline(Rc::new(parsed.keys.clone())),
        (_, Some(plan)) => ProviderKeys::Remote(Box::new(KeyMachine::new(
            Rc::new(plan.clone()),
            random_u64(),
        ))),
        (_, None) => ProviderKeys::Inline(Rc::new(Default::default())),
    }
}
