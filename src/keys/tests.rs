//! The key machine against an in-memory host: shared data with Envoy's compare-and-swap
//! semantics, and an IdP answered by hand. Races are played out step by step.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::Engine;

use super::*;
use crate::config::{FetchPlan, HttpTarget, JwksSource, Refresh, RevocationSource};
use crate::jwa::Algorithm;

const REFRESH: Refresh = Refresh {
    interval_s: 600,
    min_interval_s: 60,
    max_stale_s: 3_600,
    retry_initial_ms: 1_000,
    retry_max_ms: 60_000,
    unknown_kid_min_interval_s: 30,
};

fn plan_with(source: JwksSource) -> Rc<FetchPlan> {
    let plan = FetchPlan::compile(
        "idp",
        "https://idp.example",
        &[Algorithm::HS256],
        &source,
        &REFRESH,
    );
    Rc::new(plan.unwrap_or_else(|| panic!("remote sources have a plan")))
}

fn target(path: &str) -> HttpTarget {
    HttpTarget {
        cluster: "idp".into(),
        uri: format!("https://idp.example{path}"),
        authority: "idp.example".into(),
        path: path.into(),
        timeout_ms: 5_000,
    }
}

fn jwks_plan() -> Rc<FetchPlan> {
    plan_with(JwksSource::Remote(target("/jwks")))
}

/// A revocation list at `/revoked`, on the JWKS plan's schedule.
fn list_plan() -> Rc<FetchPlan> {
    let list = RevocationSource {
        target: target("/revoked"),
        interval_s: REFRESH.interval_s,
        min_interval_s: REFRESH.min_interval_s,
        max_stale_s: REFRESH.max_stale_s,
        max_bytes: crate::revocation::MAX_LIST_BYTES,
    };
    Rc::new(FetchPlan::revocation_list("idp", &list, &REFRESH))
}

fn discovery_plan() -> Rc<FetchPlan> {
    plan_with(JwksSource::OidcDiscovery(target(
        "/.well-known/openid-configuration",
    )))
}

/// A JWKS of HMAC keys (cheap to parse), one per `kid`.
fn jwks(kids: &[&str]) -> Vec<u8> {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
    let keys: Vec<serde_json::Value> = kids
        .iter()
        .map(|kid| serde_json::json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": secret}))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default()
}

/// One process's shared data, with Envoy's semantics: every write bumps the CAS; a write
/// with a CAS that is not the entry's current one fails.
#[derive(Default)]
struct Store {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl Store {
    fn put(&mut self, key: &str, value: &[u8]) {
        self.next_cas += 1;
        self.entries
            .insert(key.to_owned(), (value.to_vec(), self.next_cas));
    }

    fn record(&self, plan: &FetchPlan) -> Option<KeyRecord> {
        let (bytes, _) = self.entries.get(&plan.record_key)?;
        KeyRecord::decode(bytes)
    }
}

/// Another VM's write, run between a read and the write that follows it.
type Interference = Box<dyn FnOnce(&mut Store)>;

/// A call the IdP has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    token: u32,
    path: String,
}

/// One VM's view of the host: the process's store, the calls it dispatched.
struct TestHost {
    store: Rc<RefCell<Store>>,
    calls: Vec<Call>,
    next_token: u32,
    /// The body of the answer being delivered.
    body: Vec<u8>,
    logs: Vec<Log>,
    /// Runs before the next record write: another VM writing in between.
    before_publish: Option<Interference>,
}

impl KeyHost for TestHost {
    fn read(&mut self, key: &str) -> Option<SharedValue> {
        let store = self.store.borrow();
        Some(match store.entries.get(key) {
            Some((bytes, cas)) => SharedValue {
                bytes: Some(bytes.clone()),
                cas: Some(*cas),
            },
            None => SharedValue::default(),
        })
    }

    fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        if key.ends_with("/record") {
            if let Some(interfere) = self.before_publish.take() {
                interfere(&mut self.store.borrow_mut());
            }
        }
        let mut store = self.store.borrow_mut();
        let current = store.entries.get(key).map(|(_, cas)| *cas);
        if cas.is_some() && cas != current {
            return false;
        }
        store.put(key, value);
        true
    }

    fn dispatch(&mut self, cluster: &str, _: &str, path: &str, _: u64) -> Option<u32> {
        if cluster != "idp" {
            return None;
        }
        self.next_token += 1;
        self.calls.push(Call {
            token: self.next_token,
            path: path.to_owned(),
        });
        Some(self.next_token)
    }

    fn read_body(&mut self, size: usize) -> Option<Vec<u8>> {
        self.body.get(..size).map(<[u8]>::to_vec)
    }

    fn log(&mut self, log: &Log) {
        self.logs.push(log.clone());
    }
}

/// One VM: its machine and its host.
struct Vm<D = crate::jwks::KeySet> {
    machine: KeyMachine<D>,
    host: TestHost,
}

impl<D: Document> Vm<D> {
    fn new(plan: &Rc<FetchPlan>, store: &Rc<RefCell<Store>>, seed: u64) -> Vm<D> {
        let mut vm = Vm {
            machine: KeyMachine::for_document(plan.clone(), seed),
            host: TestHost {
                store: store.clone(),
                calls: Vec::new(),
                next_token: seed.wrapping_mul(1000) as u32,
                body: Vec::new(),
                logs: Vec::new(),
                before_publish: None,
            },
        };
        vm.machine.run(&mut vm.host, 0, Event::Start);
        vm
    }

    fn tick(&mut self, now_ms: u64) -> Progress {
        self.machine.run(&mut self.host, now_ms, Event::Tick)
    }

    /// Answers the oldest open call.
    fn respond(
        &mut self,
        now_ms: u64,
        status: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Progress {
        assert!(!self.host.calls.is_empty(), "no call to answer");
        let call = self.host.calls.remove(0);
        assert!(self.machine.owns_call(call.token));
        let mut all = vec![(":status".to_owned(), status.to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        self.host.body = body.to_vec();
        let event = Event::ResponseHead {
            headers: all,
            body_size: body.len(),
        };
        self.machine.run(&mut self.host, now_ms, event)
    }

    fn open_calls(&self) -> Vec<String> {
        self.host
            .calls
            .iter()
            .map(|call| call.path.clone())
            .collect()
    }
}

impl Vm {
    fn kids(&self) -> Vec<String> {
        let Some(keys) = self.machine.keys() else {
            return Vec::new();
        };
        keys.keys()
            .iter()
            .filter_map(|key| key.kid.clone())
            .collect()
    }
}

fn process(vms: usize) -> (Rc<FetchPlan>, Rc<RefCell<Store>>, Vec<Vm>) {
    let plan = jwks_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let vms = (0..vms)
        .map(|seed| Vm::new(&plan, &store, seed as u64 + 1))
        .collect();
    (plan, store, vms)
}

/// A process whose first VM fetched `kids` at time 0 (the others have not ticked since).
fn fetched(vms: usize, kids: &[&str]) -> (Rc<FetchPlan>, Rc<RefCell<Store>>, Vec<Vm>) {
    let (plan, store, mut vms) = process(vms);
    if let Some(first) = vms.first_mut() {
        first.tick(0);
        first.respond(0, "200", &[], &jwks(kids));
    }
    (plan, store, vms)
}

fn first(vms: &mut [Vm]) -> &mut Vm {
    vms.first_mut()
        .unwrap_or_else(|| panic!("the process has a VM"))
}

// --- The lifecycle, one VM ---------------------------------------------------------------

#[test]
fn a_vm_without_keys_fetches_on_its_first_tick_and_adopts_what_it_parsed() {
    let (plan, store, mut vms) = process(1);
    let vm = first(&mut vms);
    assert!(vm.open_calls().is_empty(), "never a call from Start");
    vm.tick(0);
    assert_eq!(vm.open_calls(), ["/jwks"]);
    let progress = vm.respond(10, "200", &[], &jwks(&["a"]));
    assert_eq!(progress.fetched, Some(Ok(())));
    assert!(progress.keys_replaced && progress.record_changed);
    assert_eq!(vm.kids(), ["a"]);
    let record = store.borrow().record(&plan);
    assert_eq!(record.map(|r| r.meta.generation), Some(1));
}

#[test]
fn the_fetching_vm_never_parses_its_set_a_second_time() {
    let (_, _, mut vms) = fetched(1, &["a"]);
    let vm = first(&mut vms);
    let parsed = vm.machine.keys().cloned();
    vm.tick(1_000);
    vm.tick(2_000);
    let now = vm.machine.keys().cloned();
    assert!(matches!((parsed, now), (Some(a), Some(b)) if Rc::ptr_eq(&a, &b)));
}

#[test]
fn the_next_refresh_is_due_within_the_jitter_window_of_the_interval() {
    let (plan, store, _) = fetched(1, &["a"]);
    let record = store.borrow().record(&plan);
    let due = record.map_or(0, |r| r.meta.next_fetch_at_ms);
    assert!((540_000..=600_000).contains(&due), "{due}");
}

#[test]
fn discovery_is_followed_to_the_jwks_it_names() {
    let plan = discovery_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut vm = Vm::new(&plan, &store, 1);
    vm.tick(0);
    assert_eq!(vm.open_calls(), ["/.well-known/openid-configuration"]);
    let document = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"}"#;
    let progress = vm.respond(5, "200", &[], document);
    assert_eq!(progress.fetched, None, "the fetch goes on");
    assert_eq!(vm.open_calls(), ["/keys"]);
    vm.respond(10, "200", &[], &jwks(&["a"]));
    assert_eq!(vm.kids(), ["a"]);
}

#[test]
fn a_discovery_document_for_another_issuer_fails_the_fetch() {
    let plan = discovery_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut vm: Vm = Vm::new(&plan, &store, 1);
    vm.tick(0);
    let document = br#"{"issuer":"https://evil.example","jwks_uri":"https://evil.example/keys"}"#;
    let progress = vm.respond(5, "200", &[], document);
    assert_eq!(progress.fetched, Some(Err(FetchFailure::BadDiscovery)));
    assert!(vm.open_calls().is_empty());
}

#[test]
fn answers_are_classified_into_failures() {
    let cases: [(&str, &[u8], FetchFailure); 4] = [
        ("503", b"down", FetchFailure::HttpStatus),
        ("504", response::ROUTER_TIMEOUT_BODY, FetchFailure::Timeout),
        ("200", b"not json", FetchFailure::BadJwks),
        ("200", br#"{"keys":[]}"#, FetchFailure::BadJwks),
    ];
    for (status, body, want) in cases {
        let (plan, store, mut vms) = process(1);
        let vm = first(&mut vms);
        vm.tick(0);
        let progress = vm.respond(10, status, &[], body);
        assert_eq!(progress.fetched, Some(Err(want)), "{status}");
        let record = store.borrow().record(&plan);
        assert_eq!(record.map(|r| r.meta.failures), Some(1));
    }
}

#[test]
fn an_oversized_jwks_is_refused_before_it_is_read() {
    let (_, _, mut vms) = process(1);
    let vm = first(&mut vms);
    vm.tick(0);
    let body = vec![b' '; crate::jwks::MAX_JWKS_BYTES + 1];
    let progress = vm.respond(10, "200", &[], &body);
    assert_eq!(progress.fetched, Some(Err(FetchFailure::TooLarge)));
}

#[test]
fn a_failed_refresh_keeps_the_keys_until_max_stale_then_refuses() {
    let (_, _, mut vms) = fetched(1, &["a"]);
    let vm = first(&mut vms);
    vm.tick(600_000);
    vm.respond(600_000, "503", &[], b"");
    assert_eq!(vm.kids(), ["a"]);
    assert!(vm.machine.is_stale());
    assert!(!vm.machine.is_expired(3_600_000));
    // No answer from now on: the keys age past max_stale (3600 s after the fetch at 0).
    vm.host.calls.clear();
    let progress = vm.tick(3_600_001);
    assert!(progress.keys_replaced);
    assert!(vm.machine.keys().is_none());
    assert!(vm.machine.is_expired(3_600_001));
}

// --- Workers of one process ---------------------------------------------------------------

#[test]
fn one_fetch_serves_every_vm_of_the_process() {
    let (_, _, mut vms) = process(4);
    for vm in &mut vms {
        vm.tick(0);
    }
    let calls: usize = vms.iter().map(|vm| vm.open_calls().len()).sum();
    assert_eq!(calls, 1, "one lease winner");
    let winner = vms
        .iter_mut()
        .find(|vm| !vm.open_calls().is_empty())
        .unwrap_or_else(|| panic!("a winner"));
    winner.respond(10, "200", &[], &jwks(&["a"]));
    for vm in &mut vms {
        vm.tick(50);
        assert_eq!(vm.kids(), ["a"]);
    }
}

#[test]
fn two_vms_adopting_the_same_generation_each_parse_it_once() {
    let (_, _, mut vms) = fetched(2, &["a"]);
    let [fetcher, other] = &mut vms[..] else {
        panic!("two VMs")
    };
    let progress = other.tick(50);
    assert!(progress.keys_replaced);
    let adopted = other.machine.keys().cloned();
    let again = other.tick(1_050);
    assert!(
        !again.keys_replaced,
        "the same generation is not adopted twice"
    );
    assert!(matches!((adopted, other.machine.keys()), (Some(a), Some(b)) if Rc::ptr_eq(&a, b)));
    assert_eq!(fetcher.machine.generation(), other.machine.generation());
    assert!(!fetcher.tick(1_050).keys_replaced);
}

#[test]
fn a_lease_held_by_a_vm_that_died_is_taken_over_when_it_expires() {
    let (_, _, mut vms) = process(2);
    let [dead, survivor] = &mut vms[..] else {
        panic!("two VMs")
    };
    dead.tick(0);
    assert_eq!(
        dead.open_calls().len(),
        1,
        "the VM that dies holds the lease"
    );
    // The lease is held for twice the call timeout (5 s) plus a 2 s margin: 12 s.
    survivor.tick(11_999);
    assert!(survivor.open_calls().is_empty());
    survivor.tick(12_000);
    assert_eq!(survivor.open_calls(), ["/jwks"]);
    survivor.respond(12_010, "200", &[], &jwks(&["a"]));
    assert_eq!(survivor.kids(), ["a"]);
}

#[test]
fn a_publish_that_loses_the_compare_and_swap_is_redone_on_the_newer_record() {
    let (plan, store, mut vms) = fetched(1, &["a"]);
    let vm = first(&mut vms);
    vm.tick(600_000);
    assert_eq!(vm.open_calls(), ["/jwks"], "the refresh");
    // Another VM (past an expired lease) publishes generation 2 between our read and write.
    let current = store.borrow().record(&plan).unwrap_or_default();
    let other = current.after_success(
        jwks(&["other"]),
        600_000,
        &plan.policy,
        Attempt::scheduled(600_005, 0),
    );
    let key = plan.record_key.clone();
    vm.host.before_publish = Some(Box::new(move |store: &mut Store| {
        store.put(&key, &other.encode());
    }));
    let progress = vm.respond(600_010, "200", &[], &jwks(&["mine"]));
    assert_eq!(progress.fetched, Some(Ok(())));
    let record = store.borrow().record(&plan);
    assert_eq!(
        record.map(|r| r.meta.generation),
        Some(3),
        "built on the winner's record"
    );
    assert_eq!(vm.kids(), ["mine"]);
}

#[test]
fn a_publish_that_keeps_losing_gives_up_and_adopts_on_the_next_tick() {
    let (plan, store, mut vms) = process(1);
    // An entry exists (unreadable, so due at once): every write is a compare-and-swap.
    store.borrow_mut().put(&plan.record_key, b"unreadable");
    let vm = first(&mut vms);
    vm.tick(0);
    // The call is answered below, through a host where every read the publish makes is
    // followed by another writer.
    vm.host.calls.clear();
    struct Busy(TestHost);
    let mut busy = Busy(TestHost {
        store: store.clone(),
        calls: Vec::new(),
        next_token: 0,
        body: jwks(&["mine"]),
        logs: Vec::new(),
        before_publish: None,
    });
    impl KeyHost for Busy {
        fn read(&mut self, key: &str) -> Option<SharedValue> {
            let value = self.0.read(key);
            if key.ends_with("/record") {
                self.0.store.borrow_mut().put(key, b"someone else");
            }
            value
        }
        fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
            self.0.write(key, value, cas)
        }
        fn dispatch(&mut self, c: &str, a: &str, p: &str, t: u64) -> Option<u32> {
            self.0.dispatch(c, a, p, t)
        }
        fn read_body(&mut self, size: usize) -> Option<Vec<u8>> {
            self.0.read_body(size)
        }
        fn log(&mut self, log: &Log) {
            self.0.log(log);
        }
    }
    let head = Event::ResponseHead {
        headers: vec![(":status".into(), "200".into())],
        body_size: busy.0.body.len(),
    };
    let progress = vm.machine.run(&mut busy, 10, head);
    assert_eq!(progress.fetched, Some(Ok(())));
    assert!(
        vm.machine.keys().is_none(),
        "nothing adopted that was not published"
    );
    assert!(store.borrow().record(&plan).is_none());
    // The lease is released all the same: the next tick may fetch again.
    vm.tick(1_000);
    assert_eq!(vm.open_calls(), ["/jwks"]);
}

#[test]
fn a_call_that_is_never_answered_is_abandoned_when_its_lease_expires() {
    let (_, _, mut vms) = process(1);
    let vm = first(&mut vms);
    vm.tick(0);
    vm.host.calls.clear();
    vm.tick(11_999);
    assert!(vm.host.calls.is_empty(), "still waiting within the lease");
    vm.tick(12_000);
    assert_eq!(vm.open_calls(), ["/jwks"], "fetched again");
}

#[test]
fn a_host_that_refuses_every_read_ends_the_publish_and_the_next_tick_fetches_again() {
    struct Refusing(TestHost, bool);
    impl KeyHost for Refusing {
        fn read(&mut self, key: &str) -> Option<SharedValue> {
            if self.1 {
                None
            } else {
                self.0.read(key)
            }
        }
        fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
            self.0.write(key, value, cas)
        }
        fn dispatch(&mut self, c: &str, a: &str, p: &str, t: u64) -> Option<u32> {
            self.0.dispatch(c, a, p, t)
        }
        fn read_body(&mut self, size: usize) -> Option<Vec<u8>> {
            self.0.read_body(size)
        }
        fn log(&mut self, log: &Log) {
            self.0.log(log);
        }
    }
    let (_, store, mut vms) = process(1);
    let vm = first(&mut vms);
    let mut host = Refusing(
        TestHost {
            store,
            calls: Vec::new(),
            next_token: 0,
            body: jwks(&["a"]),
            logs: Vec::new(),
            before_publish: None,
        },
        false,
    );
    vm.machine.run(&mut host, 0, Event::Tick);
    host.1 = true;
    let head = Event::ResponseHead {
        headers: vec![(":status".into(), "200".into())],
        body_size: host.0.body.len(),
    };
    let progress = vm.machine.run(&mut host, 10, head);
    assert_eq!(progress.fetched, Some(Ok(())), "the fetch ends");
    host.1 = false;
    host.0.calls.clear();
    vm.machine.run(&mut host, 1_000, Event::Tick);
    assert_eq!(host.0.calls.len(), 1, "not wedged: the next tick fetches");
}

#[test]
fn unreadable_records_are_absent_keys_are_dropped_and_refetched() {
    let version_1 = br#"{"generation":3,"fetched_at_ms":5,"jwks":"{\"keys\":[]}","attempted_at_ms":5,"next_fetch_at_ms":600005,"failures":0,"last_failure":null}"#.to_vec();
    let oversized = {
        let mut bytes = b"claimcheck-key-record 2\n".to_vec();
        bytes.resize(MAX_RECORD_BYTES + 1, b' ');
        bytes
    };
    let cases = [
        ("corrupt", b"\x00\xffgarbage".to_vec()),
        ("oversized", oversized),
        ("older format", version_1),
    ];
    for (name, bytes) in cases {
        let (plan, store, mut vms) = fetched(1, &["a"]);
        store.borrow_mut().put(&plan.record_key, &bytes);
        let vm = first(&mut vms);
        let progress = vm.tick(1_000);
        assert!(progress.keys_replaced, "{name}");
        assert!(vm.machine.keys().is_none(), "{name}: fails closed");
        assert_eq!(vm.open_calls(), ["/jwks"], "{name}: refetched at once");
        vm.respond(1_010, "200", &[], &jwks(&["b"]));
        assert_eq!(vm.kids(), ["b"], "{name}");
    }
}

// --- Unknown `kid`s -----------------------------------------------------------------------

#[test]
fn an_unknown_kid_right_after_a_scheduled_refresh_is_refetched_at_once() {
    let (_, _, mut vms) = fetched(1, &["a"]);
    let vm = first(&mut vms);
    assert_eq!(vm.machine.kid_answer("b", 100), KidAnswer::Wait);
    vm.machine
        .run(&mut vm.host, 100, Event::KidWanted("b".into()));
    vm.tick(150);
    assert_eq!(vm.open_calls(), ["/jwks"]);
    let progress = vm.respond(200, "200", &[], &jwks(&["a", "b"]));
    assert!(progress.record_changed);
    assert_eq!(vm.kids(), ["a", "b"]);
}

#[test]
fn a_kid_one_refetch_did_not_find_is_refused_at_once_until_the_next_fetch() {
    let (_, _, mut vms) = fetched(1, &["a"]);
    let vm = first(&mut vms);
    vm.machine
        .run(&mut vm.host, 100, Event::KidWanted("forged".into()));
    vm.tick(150);
    vm.respond(200, "200", &[], &jwks(&["a"]));
    assert_eq!(vm.machine.kid_answer("forged", 300), KidAnswer::Refuse);
    // Within the rate limit, another made-up kid is refused and its refetch queued.
    assert_eq!(vm.machine.kid_answer("other", 300), KidAnswer::Defer);
    vm.machine.run(&mut vm.host, 300, Event::KidDeferred);
    vm.tick(29_000);
    assert!(vm.open_calls().is_empty(), "not before the limit allows");
    vm.tick(30_200);
    assert_eq!(
        vm.open_calls(),
        ["/jwks"],
        "the deferred refetch was queued"
    );
}

// --- The IdP's stated lifetime ------------------------------------------------------------

fn interval_after(headers: &[(&str, &str)]) -> (Option<u64>, u64) {
    let (plan, store, mut vms) = process(1);
    let vm = first(&mut vms);
    vm.tick(0);
    vm.respond(0, "200", headers, &jwks(&["a"]));
    let record = store.borrow().record(&plan);
    record.map_or((None, 0), |r| (r.meta.interval_ms, r.meta.next_fetch_at_ms))
}

#[test]
fn a_stated_max_age_sets_the_next_refresh() {
    let (interval, due) = interval_after(&[("cache-control", "public, max-age=1200")]);
    assert_eq!(interval, Some(1_200_000));
    assert!((1_080_000..=1_200_000).contains(&due), "{due}");
}

#[test]
fn a_huge_max_age_is_capped_at_half_of_max_stale_and_no_cache_at_the_floor() {
    assert_eq!(
        interval_after(&[("cache-control", "max-age=31536000")]).0,
        Some(1_800_000)
    );
    assert_eq!(
        interval_after(&[("cache-control", "no-cache")]).0,
        Some(60_000)
    );
    assert_eq!(interval_after(&[]).0, Some(600_000), "unstated: configured");
}

#[test]
fn the_shorter_of_the_discovery_and_jwks_lifetimes_wins() {
    let plan = discovery_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut vm: Vm = Vm::new(&plan, &store, 1);
    vm.tick(0);
    let document = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"}"#;
    vm.respond(0, "200", &[("cache-control", "max-age=300")], document);
    vm.respond(0, "200", &[("cache-control", "max-age=900")], &jwks(&["a"]));
    let record = store.borrow().record(&plan);
    assert_eq!(record.and_then(|r| r.meta.interval_ms), Some(300_000));
}

#[test]
fn a_change_of_interval_is_logged_once() {
    let (_, _, mut vms) = process(1);
    let vm = first(&mut vms);
    let mut logged = 0;
    for round in 0..3u64 {
        let now = round * 2_000_000;
        vm.tick(now);
        vm.respond(
            now,
            "200",
            &[("cache-control", "max-age=1200")],
            &jwks(&["a"]),
        );
        logged = vm
            .host
            .logs
            .iter()
            .filter(|log| log.level == LogLevel::Info && log.message.contains("1200 s"))
            .count();
    }
    assert_eq!(logged, 1);
}

// --- Event sequences and the commands they give ---------------------------------------------

/// The commands as names: the table below reads as a protocol.
fn names(commands: &[Command]) -> Vec<&'static str> {
    commands
        .iter()
        .filter(|command| !matches!(command, Command::Log(_)))
        .map(|command| match command {
            Command::ReadRecord => "read record",
            Command::ReadLease => "read lease",
            Command::WriteLease { value, .. } if value.is_empty() => "clear lease",
            Command::WriteLease { .. } => "take lease",
            Command::Dispatch { .. } => "dispatch",
            Command::ReadBody { .. } => "read body",
            Command::PublishRecord { .. } => "publish",
            Command::KeysReplaced => "adopt keys",
            Command::WakeParked => "wake parked",
            Command::Fetched(Ok(())) => "fetched",
            Command::Fetched(Err(_)) => "failed",
            Command::Log(_) => "log",
        })
        .collect()
}

fn absent() -> Event {
    Event::Record(Some(SharedValue::default()))
}

fn lease(bytes: &[u8], cas: u32) -> Event {
    Event::Lease(Some(SharedValue {
        bytes: Some(bytes.to_vec()),
        cas: Some(cas),
    }))
}

fn head(status: &str, size: usize) -> Event {
    Event::ResponseHead {
        headers: vec![(":status".into(), status.into())],
        body_size: size,
    }
}

#[test]
fn event_sequences_give_these_commands() {
    let held = FetchLease {
        owner: 99,
        expires_at_ms: 10_000,
    }
    .encode();
    let body = jwks(&["a"]);
    type Row = (&'static str, Vec<(u64, Event, Vec<&'static str>)>);
    let table: Vec<Row> = vec![
        (
            "start: adopt, create the lease entry, never fetch",
            vec![
                (0, Event::Start, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (
                    0,
                    Event::Lease(Some(SharedValue::default())),
                    vec!["clear lease"],
                ),
                (0, Event::LeaseWritten(true), vec![]),
            ],
        ),
        (
            "tick, due, lease free: take it and dispatch",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(b"", 1), vec!["take lease"]),
                (0, Event::LeaseWritten(true), vec!["dispatch"]),
                (0, Event::Dispatched(Some(7)), vec![]),
            ],
        ),
        (
            "tick, due, lease held by a live VM: nothing",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(&held, 1), vec![]),
            ],
        ),
        (
            "tick, due, lease lost to another VM's compare-and-swap: nothing",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(b"", 1), vec!["take lease"]),
                (0, Event::LeaseWritten(false), vec![]),
            ],
        ),
        (
            "a good answer: read, publish, adopt, release",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(b"", 1), vec!["take lease"]),
                (0, Event::LeaseWritten(true), vec!["dispatch"]),
                (0, Event::Dispatched(Some(7)), vec![]),
                (5, head("200", body.len()), vec!["read body"]),
                (
                    5,
                    Event::ResponseBody(Some(body.clone())),
                    vec!["read record"],
                ),
                (5, absent(), vec!["publish"]),
                (
                    5,
                    Event::Published(true),
                    vec!["fetched", "wake parked", "adopt keys", "read lease"],
                ),
                (5, lease(b"", 2), vec![]),
            ],
        ),
        (
            "a reset: the failure is published without reading a body",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(b"", 1), vec!["take lease"]),
                (0, Event::LeaseWritten(true), vec!["dispatch"]),
                (0, Event::Dispatched(Some(7)), vec![]),
                (
                    5,
                    Event::ResponseHead {
                        headers: vec![],
                        body_size: 0,
                    },
                    vec!["read record"],
                ),
                (5, absent(), vec!["publish"]),
                (
                    5,
                    Event::Published(true),
                    vec!["failed", "wake parked", "read lease"],
                ),
            ],
        ),
        (
            "the host refuses the dispatch: a failure at once",
            vec![
                (0, Event::Tick, vec!["read record"]),
                (0, absent(), vec!["wake parked", "read lease"]),
                (0, lease(b"", 1), vec!["take lease"]),
                (0, Event::LeaseWritten(true), vec!["dispatch"]),
                (0, Event::Dispatched(None), vec!["read record"]),
            ],
        ),
    ];
    for (name, steps) in table {
        let mut machine = KeyMachine::new(jwks_plan(), 1);
        for (index, (now, event, want)) in steps.into_iter().enumerate() {
            let got = machine.handle(now, event);
            assert_eq!(names(&got), want, "{name}, step {index}");
        }
    }
}

// --- The same machine carrying a revocation list -----------------------------------------

fn revoked(claims: serde_json::Value, vm: &Vm<crate::revocation::RevocationList>) -> bool {
    let claims = claims.as_object().cloned().unwrap_or_default();
    vm.machine
        .keys()
        .is_some_and(|list| list.revokes(&claims).is_some())
}

#[test]
fn a_revocation_list_is_fetched_once_and_adopted_by_every_vm() {
    let plan = list_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut vms: Vec<Vm<crate::revocation::RevocationList>> =
        (1..=3).map(|seed| Vm::new(&plan, &store, seed)).collect();
    for vm in vms.iter_mut() {
        vm.tick(0);
    }
    let calls: usize = vms.iter().map(|vm| vm.host.calls.len()).sum();
    assert_eq!(calls, 1, "one fetch per process");
    let fetching = vms
        .iter_mut()
        .find(|vm| !vm.host.calls.is_empty())
        .unwrap_or_else(|| panic!("one VM fetches"));
    let progress = fetching.respond(10, "200", &[], br#"{"sub": ["mallory"]}"#);
    assert_eq!(progress.fetched, Some(Ok(())));
    for vm in vms.iter_mut() {
        vm.tick(20);
        assert!(revoked(serde_json::json!({"sub": "mallory"}), vm));
        assert!(!revoked(serde_json::json!({"sub": "alice"}), vm));
    }
}

#[test]
fn a_malformed_revocation_list_fails_the_fetch_and_the_last_good_list_stays() {
    let plan = list_plan();
    let store = Rc::new(RefCell::new(Store::default()));
    let mut vm: Vm<crate::revocation::RevocationList> = Vm::new(&plan, &store, 1);
    vm.tick(0);
    vm.respond(10, "200", &[], br#"{"jti": ["t-1"]}"#);
    let refresh_at = 601_000;
    vm.tick(refresh_at);
    assert_eq!(vm.open_calls(), ["/revoked"]);
    let progress = vm.respond(refresh_at, "200", &[], br#"{"jti": ["t-1", 2]}"#);
    assert_eq!(progress.fetched, Some(Err(FetchFailure::BadRevocationList)));
    assert!(revoked(serde_json::json!({"jti": "t-1"}), &vm));
    assert!(vm.machine.is_stale());
}
