//! What one VM knows: the compiled configuration, each provider's keys and revocation list,
//! the verified-token cache and the requests parked until keys (or a first list) arrive. Shared by the root context and the HTTP
//! contexts of the VM (a VM is single-threaded, hence `Rc<RefCell<_>>`).

use std::cell::RefCell;
use std::rc::Rc;

use crate::authorize::{
    self, Inputs, KeyAvailability, KeyLookup, ListAvailability, Outcome, VerifiedCache, Waiting,
};
use crate::config::{Config, ProviderId};
use crate::jwks::KeySet;
use crate::observe::Unobserved;
use crate::request::Request;
use crate::revocation::RevocationList;

use crate::keys::{Event, KeyMachine, KidAnswer};

use super::crypto::Verifier;
use super::fetch::Host;
use super::introspection::{Dispatcher, Introspections};
use super::metrics::Metrics;
use super::replay::SharedReplay;

pub struct VmState {
    pub config: Rc<Config>,
    pub providers: Vec<ProviderKeys>,
    /// Each provider's revocation list, by provider index: `None` without one.
    pub lists: Vec<Option<Box<ListMachine>>>,
    pub parked: Vec<Parked>,
    pub cache: VerifiedCache,
    pub metrics: Metrics,
    /// The host's crypto or the VM's, chosen at configuration.
    pub verifier: Verifier,
    /// The tick period last asked of the host: `Some(true)` fast, `Some(false)` slow.
    pub fast_ticks: Option<bool>,
    /// This VM's part in the introspection exchange.
    pub introspections: Introspections,
}

/// Where a provider's keys live in this VM.
pub enum ProviderKeys {
    /// Keys from the configuration: always ready.
    Inline(Rc<KeySet>),
    Remote(Box<KeyMachine>),
}

/// A provider's revocation list in this VM: the key lifecycle carrying a list.
pub type ListMachine = KeyMachine<RevocationList>;

/// A request paused until its provider's keys arrive (or its wait runs out).
pub struct Parked {
    pub context_id: u32,
    pub request: Request,
    pub deadline_ms: u64,
}

impl VmState {
    /// Runs the core's pipeline for `request`. A request whose token names an unknown `kid`
    /// asks its provider for the refetch here, whether it waits for it or not.
    ///
    /// `dispatcher`: the context whose callback is running, which the answers to the
    /// introspection calls dispatched now go to.
    pub fn evaluate(
        &mut self,
        request: &Request,
        now_ms: u64,
        waiting: Waiting,
        dispatcher: Dispatcher,
    ) -> Outcome {
        let lookup = Lookup {
            providers: &self.providers,
            lists: &self.lists,
            now_ms,
            asked: RefCell::new(Vec::new()),
        };
        let replay = SharedReplay {
            metrics: &self.metrics,
        };
        let answers = self
            .introspections
            .lookup(&self.config, &self.metrics, now_ms);
        let inputs = Inputs {
            keys: &lookup,
            peer_certificate: &HostCertificate,
            verifier: &*self.verifier.verifier,
            now_ms,
            waiting,
            replay: &replay,
            introspection: &answers,
        };
        let outcome = authorize::authorize(
            &self.config,
            request,
            &inputs,
            &mut self.cache,
            &mut Unobserved,
        );
        // Tokens without an answer get their call, whether this request waits for it or
        // not: the requests that follow are served by it.
        let pending = answers.into_pending();
        if !pending.is_empty() {
            let config = Rc::clone(&self.config);
            self.introspections
                .start(&config, &self.metrics, pending, dispatcher, now_ms);
        }
        let waits_for = outcome.refetch();
        for (provider, kid, answer) in lookup.asked.into_inner() {
            let Some(remote) = self.remote(provider) else {
                continue;
            };
            let event = match answer {
                KidAnswer::Wait if waits_for == Some(provider) => Event::KidWanted(kid),
                KidAnswer::Defer => Event::KidDeferred,
                KidAnswer::Wait | KidAnswer::Refuse => continue,
            };
            remote.run(&mut Host, now_ms, event);
        }
        outcome
    }

    pub fn remote(&mut self, provider: ProviderId) -> Option<&mut KeyMachine> {
        match self.providers.get_mut(provider.index()) {
            Some(ProviderKeys::Remote(remote)) => Some(remote),
            _ => None,
        }
    }

    /// `provider`'s revocation list machine, if it has a list.
    pub fn list(&mut self, provider: ProviderId) -> Option<&mut ListMachine> {
        self.lists
            .get_mut(provider.index())
            .and_then(|list| list.as_deref_mut())
    }

    /// Whether the root should tick fast: requests waiting, or keys or a list loading.
    pub fn is_busy(&self) -> bool {
        !self.parked.is_empty()
            || self.introspections.is_busy()
            || self.providers.iter().any(|provider| match provider {
                ProviderKeys::Inline(_) => false,
                ProviderKeys::Remote(remote) => remote.is_busy(),
            })
            || self.lists.iter().flatten().any(|list| list.is_busy())
    }
}

struct Lookup<'a> {
    providers: &'a [ProviderKeys],
    lists: &'a [Option<Box<ListMachine>>],
    now_ms: u64,
    /// The unknown `kid`s the core asked about, with the answers: after the decision, the
    /// ones that wait ask for a refetch and the deferred ones queue it.
    asked: RefCell<Vec<(ProviderId, String, KidAnswer)>>,
}

impl KeyLookup for Lookup<'_> {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_> {
        match self.providers.get(provider.index()) {
            None => KeyAvailability::Unavailable,
            Some(ProviderKeys::Inline(keys)) => KeyAvailability::Ready {
                keys,
                generation: 0,
            },
            Some(ProviderKeys::Remote(remote)) if remote.is_expired(self.now_ms) => {
                KeyAvailability::Expired
            }
            Some(ProviderKeys::Remote(remote)) => match remote.keys() {
                Some(keys) => KeyAvailability::Ready {
                    keys,
                    generation: remote.generation(),
                },
                None => KeyAvailability::Loading,
            },
        }
    }

    /// A list past its `max_stale_s` is unavailable (the core refuses 503); before the first
    /// list, loading (the core waits like a cold start).
    fn revocations(&self, provider: ProviderId) -> ListAvailability<'_> {
        match self
            .lists
            .get(provider.index())
            .and_then(|list| list.as_deref())
        {
            None => ListAvailability::NotConfigured,
            Some(list) if list.is_expired(self.now_ms) => ListAvailability::Unavailable,
            Some(list) => match list.keys() {
                Some(revoked) => ListAvailability::Ready(revoked),
                None => ListAvailability::Loading,
            },
        }
    }

    fn may_wait_for_kid(&self, provider: ProviderId, kid: &str) -> bool {
        let Some(ProviderKeys::Remote(remote)) = self.providers.get(provider.index()) else {
            return false;
        };
        let answer = remote.kid_answer(kid, self.now_ms);
        self.asked
            .borrow_mut()
            .push((provider, kid.to_owned(), answer));
        answer == KidAnswer::Wait
    }
}

/// The client certificate's digest from the host (`connection.sha256_peer_certificate_digest`),
/// read only when the core asks: when a token is bound to a certificate. The stream whose
/// request is evaluated must be the effective context.
struct HostCertificate;

impl crate::peer::PeerCertificate for HostCertificate {
    fn sha256(&self) -> Option<crate::peer::CertificateDigest> {
        let bytes = proxy_wasm::hostcalls::get_property(crate::peer::DIGEST_ATTRIBUTE.to_vec())
            .ok()
            .flatten();
        crate::peer::text_attribute(bytes)
            .and_then(|hex| crate::peer::CertificateDigest::from_hex(&hex))
    }
}
