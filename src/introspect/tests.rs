//! The introspection core as a specification: the answer's parser, the slot format, and the
//! exchange's decisions under the races of several VMs sharing one slot.

use std::rc::Rc;

use serde_json::{json, Map, Value};

use super::answer::{parse, Answer, AnswerError, MAX_ANSWER_BYTES};
use super::drive::{finish, start, IntrospectionHost, Started};
use super::flight::*;
use super::slot::{SlotEntry, SlotState, TokenDigest, MAX_SLOT_BYTES};

const POLICY: IntrospectionPolicy = IntrospectionPolicy {
    slots: 64,
    max_ttl_ms: 30_000,
    negative_ttl_ms: 5_000,
    failure_ttl_ms: 1_000,
    timeout_ms: 2_000,
};

const NOW: u64 = 1_000_000_000;
const VM_A: u64 = 1;
const VM_B: u64 = 2;

fn token(name: &str) -> TokenDigest {
    TokenDigest::of(name)
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn active(name: &str, until_ms: u64) -> SlotEntry {
    SlotEntry {
        token: token(name),
        state: SlotState::Active {
            until_ms,
            claims: Rc::new(claims(json!({"active": true, "sub": "alice"}))),
        },
    }
}

fn pending(name: &str, owner: u64, until_ms: u64) -> SlotEntry {
    SlotEntry {
        token: token(name),
        state: SlotState::Pending { owner, until_ms },
    }
}

// ---- the answer ----

#[test]
fn an_active_answer_keeps_its_members_as_claims() {
    let answer = parse(br#"{"active":true,"sub":"alice","scope":"read write","exp":2000000000}"#);
    let Ok(Answer::Active(claims)) = answer else {
        panic!("not active: {answer:?}");
    };
    assert_eq!(claims.get("sub"), Some(&json!("alice")));
    assert_eq!(claims.get("scope"), Some(&json!("read write")));
}

#[test]
fn an_inactive_answer_keeps_nothing_else() {
    assert_eq!(
        parse(br#"{"active":false,"sub":"alice"}"#),
        Ok(Answer::Inactive)
    );
}

#[test]
fn active_must_be_a_json_boolean() {
    for body in [
        &br#"{"active":"true"}"#[..],
        br#"{"active":1}"#,
        br#"{"active":null}"#,
        br#"{"active":[true]}"#,
    ] {
        assert_eq!(parse(body), Err(AnswerError::ActiveNotBoolean), "{body:?}");
    }
}

#[test]
fn an_answer_without_active_is_refused() {
    assert_eq!(
        parse(br#"{"sub":"alice"}"#),
        Err(AnswerError::ActiveMissing)
    );
}

#[test]
fn an_answer_that_is_not_an_object_is_refused() {
    for body in [&b"[]"[..], b"true", b"", b"{", b"null", b"\"active\""] {
        assert_eq!(parse(body), Err(AnswerError::NotObject), "{body:?}");
    }
}

#[test]
fn active_spelled_twice_is_refused() {
    assert_eq!(
        parse(br#"{"active":false,"active":true}"#),
        Err(AnswerError::DuplicateMember)
    );
}

#[test]
fn an_answer_beyond_the_bound_is_refused_before_parsing() {
    let mut body = br#"{"active":true,"pad":""#.to_vec();
    body.resize(MAX_ANSWER_BYTES + 1, b'a');
    assert_eq!(parse(&body), Err(AnswerError::TooLarge));
}

// ---- the slot ----

#[test]
fn every_slot_state_survives_encoding() {
    let entries = [
        active("t", NOW + 10),
        pending("t", VM_A, NOW + 10),
        SlotEntry {
            token: token("t"),
            state: SlotState::Inactive { until_ms: NOW },
        },
        SlotEntry {
            token: token("t"),
            state: SlotState::Failed {
                until_ms: NOW,
                failure: CallFailure::Timeout,
            },
        },
    ];
    for entry in entries {
        assert_eq!(SlotEntry::decode(&entry.encode()), Some(entry));
    }
}

#[test]
fn a_slot_never_holds_the_token() {
    let bytes = active("secret-opaque-token", NOW).encode();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("secret-opaque-token"), "{text}");
}

#[test]
fn an_unreadable_slot_is_free() {
    let good = active("t", NOW + 10).encode();
    let other_version = [b"claimcheck-introspection 0\n", &good[27..]].concat();
    let mut oversized = good.clone();
    oversized.resize(MAX_SLOT_BYTES + 1, b' ');
    for bytes in [
        &b""[..],
        b"garbage",
        &other_version,
        &oversized,
        &good[..good.len() - 2],
    ] {
        assert_eq!(SlotEntry::decode(bytes), None);
        assert!(matches!(
            begin(Some((bytes, 7)), &token("t"), VM_A, NOW, &POLICY),
            Begin::Take { cas: 7, .. }
        ));
    }
}

#[test]
fn a_token_always_maps_to_the_same_slot_within_bounds() {
    for name in ["a", "b", "c", "a-much-longer-token"] {
        let slot = token(name).slot(POLICY.slots);
        assert!(slot < POLICY.slots);
        assert_eq!(slot, token(name).slot(POLICY.slots));
    }
    assert_eq!(
        token("a").slot(0),
        0,
        "no slots is one slot, never a division by zero"
    );
}

// ---- what a request finds ----

#[test]
fn a_live_answer_for_the_token_is_found() {
    let entry = active("t", NOW + 1);
    assert!(matches!(
        found(Some(&entry), &token("t"), NOW),
        Found::Active(_)
    ));
}

#[test]
fn an_answer_is_not_used_at_or_after_its_end() {
    let entry = active("t", NOW);
    assert_eq!(found(Some(&entry), &token("t"), NOW), Found::Pending);
}

#[test]
fn another_tokens_answer_is_never_found() {
    let entry = active("other", NOW + 10);
    assert_eq!(found(Some(&entry), &token("t"), NOW), Found::Pending);
}

#[test]
fn a_recent_failure_is_found_as_an_outage() {
    let entry = SlotEntry {
        token: token("t"),
        state: SlotState::Failed {
            until_ms: NOW + 1,
            failure: CallFailure::Reset,
        },
    };
    assert_eq!(
        found(Some(&entry), &token("t"), NOW),
        Found::Failed(CallFailure::Reset)
    );
}

// ---- who calls ----

#[test]
fn an_absent_slot_is_taken_only_if_still_absent() {
    let Begin::Take { value, cas } = begin(None, &token("t"), VM_A, NOW, &POLICY) else {
        panic!("not taken");
    };
    assert_eq!(cas, CREATE_ONLY_CAS);
    assert_eq!(
        SlotEntry::decode(&value),
        Some(pending("t", VM_A, NOW + POLICY.lease_ms()))
    );
}

#[test]
fn a_live_lease_for_the_same_token_means_wait() {
    let bytes = pending("t", VM_B, NOW + 1).encode();
    assert_eq!(
        begin(Some((&bytes, 3)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Wait
    );
}

#[test]
fn a_vm_never_calls_twice_for_its_own_lease() {
    let bytes = pending("t", VM_A, NOW + 1).encode();
    assert_eq!(
        begin(Some((&bytes, 3)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Wait
    );
}

#[test]
fn a_live_lease_of_another_token_in_the_slot_is_not_taken() {
    let bytes = pending("other", VM_B, NOW + 1).encode();
    assert_eq!(
        begin(Some((&bytes, 3)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Wait
    );
}

#[test]
fn the_lease_of_a_vm_that_died_is_taken_once_it_expires() {
    let bytes = pending("t", VM_B, NOW).encode();
    assert!(matches!(
        begin(Some((&bytes, 3)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Take { cas: 3, .. }
    ));
}

#[test]
fn another_tokens_live_answer_is_evicted() {
    let bytes = active("other", NOW + 10_000).encode();
    assert!(matches!(
        begin(Some((&bytes, 9)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Take { cas: 9, .. }
    ));
}

#[test]
fn an_answer_published_meanwhile_settles_the_wait() {
    let bytes = active("t", NOW + 10).encode();
    assert_eq!(
        begin(Some((&bytes, 3)), &token("t"), VM_A, NOW, &POLICY),
        Begin::Settled
    );
}

/// Two VMs read the same free slot; both try to take it with the CAS they read. The store
/// (as Envoy's) accepts the first and refuses the second, which reads again and waits.
#[test]
fn two_vms_racing_for_one_token_make_one_call() {
    let mut store = Store::default();
    let t = token("t");
    let read_a = store.read();
    let read_b = store.read();
    let take_a = begin(
        read_a.as_ref().map(|(b, c)| (&b[..], *c)),
        &t,
        VM_A,
        NOW,
        &POLICY,
    );
    let take_b = begin(
        read_b.as_ref().map(|(b, c)| (&b[..], *c)),
        &t,
        VM_B,
        NOW,
        &POLICY,
    );
    let (Begin::Take { value: va, cas: ca }, Begin::Take { value: vb, cas: cb }) = (take_a, take_b)
    else {
        panic!("both should try");
    };
    assert!(store.write(&va, ca), "the first write creates the slot");
    assert!(
        !store.write(&vb, cb),
        "the second loses its compare-and-swap"
    );
    let reread = store.read();
    assert_eq!(
        begin(
            reread.as_ref().map(|(b, c)| (&b[..], *c)),
            &t,
            VM_B,
            NOW,
            &POLICY
        ),
        Begin::Wait,
        "the loser reads the winner's lease and waits for its call"
    );
}

/// Several VMs racing to evict an old entry: exactly one compare-and-swap wins.
#[test]
fn many_vms_taking_an_expired_slot_leave_exactly_one_caller() {
    let mut store = Store::default();
    assert!(store.write(&active("old", NOW).encode(), CREATE_ONLY_CAS));
    let t = token("t");
    let reads: Vec<_> = (0..4).map(|_| store.read()).collect();
    let winners = reads
        .iter()
        .enumerate()
        .filter(|(vm, read)| {
            let read = read.as_ref().map(|(b, c)| (&b[..], *c));
            match begin(read, &t, *vm as u64, NOW, &POLICY) {
                Begin::Take { value, cas } => store.write(&value, cas),
                _ => false,
            }
        })
        .count();
    assert_eq!(winners, 1);
}

// ---- what a call becomes ----

fn status(code: &str) -> Vec<(String, String)> {
    vec![(":status".to_owned(), code.to_owned())]
}

#[test]
fn a_call_answer_is_classified_from_its_head_first() {
    assert_eq!(classify_head(&[], 0), Head::Failed(CallFailure::Reset));
    assert_eq!(classify_head(&status("200"), 10), Head::ReadBody);
    assert_eq!(
        classify_head(&status("200"), MAX_ANSWER_BYTES + 1),
        Head::Failed(CallFailure::TooLarge)
    );
    assert_eq!(
        classify_head(&status("401"), 10),
        Head::Failed(CallFailure::HttpStatus)
    );
    assert_eq!(classify_head(&status("504"), 24), Head::ReadTimeoutBody);
    assert_eq!(
        classify_head(&status("504"), 3),
        Head::Failed(CallFailure::HttpStatus)
    );
}

#[test]
fn the_routers_504_is_a_timeout_and_a_bad_body_is_a_failure() {
    assert_eq!(
        classify(Head::ReadTimeoutBody, b"upstream request timeout"),
        CallOutcome::Failed(CallFailure::Timeout)
    );
    assert_eq!(
        classify(Head::ReadBody, br#"{"active":"yes"}"#),
        CallOutcome::Failed(CallFailure::BadAnswer)
    );
    assert_eq!(
        classify(Head::ReadBody, br#"{"active":false}"#),
        CallOutcome::Answered(Answer::Inactive)
    );
}

fn settled_until(outcome: CallOutcome) -> u64 {
    settle(&token("t"), outcome, NOW, &POLICY).state.until_ms()
}

#[test]
fn an_active_answer_lives_no_longer_than_the_configured_maximum() {
    let far = claims(json!({"active": true, "exp": (NOW / 1000) + 3_600}));
    assert_eq!(
        settled_until(CallOutcome::Answered(Answer::Active(far))),
        NOW + POLICY.max_ttl_ms
    );
}

#[test]
fn an_active_answer_lives_no_longer_than_the_tokens_exp() {
    let soon = claims(json!({"active": true, "exp": (NOW / 1000) + 10}));
    assert_eq!(
        settled_until(CallOutcome::Answered(Answer::Active(soon))),
        NOW + 10_000
    );
}

#[test]
fn an_active_answer_past_its_exp_is_kept_like_a_negative_one() {
    let past = claims(json!({"active": true, "exp": (NOW / 1000) - 10}));
    assert_eq!(
        settled_until(CallOutcome::Answered(Answer::Active(past))),
        NOW + POLICY.negative_ttl_ms
    );
}

#[test]
fn a_negative_answer_and_a_failure_are_cached_briefly() {
    assert_eq!(
        settled_until(CallOutcome::Answered(Answer::Inactive)),
        NOW + POLICY.negative_ttl_ms
    );
    assert_eq!(
        settled_until(CallOutcome::Failed(CallFailure::Timeout)),
        NOW + POLICY.failure_ttl_ms
    );
}

// ---- publishing ----

#[test]
fn the_lease_holder_publishes_over_its_own_lease() {
    let bytes = pending("t", VM_A, NOW + 1).encode();
    assert_eq!(
        publish(Some((&bytes, 4)), VM_A, NOW),
        Publish::Write { cas: 4 }
    );
}

#[test]
fn a_publish_never_overwrites_another_vms_live_lease() {
    let bytes = pending("other", VM_B, NOW + 1).encode();
    assert_eq!(publish(Some((&bytes, 4)), VM_A, NOW), Publish::Skip);
}

#[test]
fn a_publish_after_the_lease_expired_still_writes_when_nobody_took_it() {
    let bytes = pending("t", VM_A, NOW).encode();
    assert_eq!(
        publish(Some((&bytes, 4)), VM_A, NOW),
        Publish::Write { cas: 4 }
    );
    assert_eq!(
        publish(None, VM_A, NOW),
        Publish::Write {
            cas: CREATE_ONLY_CAS
        }
    );
}

/// A publish whose CAS lost reads the slot again: if a new lease sits there it leaves it.
#[test]
fn a_publish_that_lost_its_cas_asks_again_on_the_new_content() {
    let mut store = Store::default();
    assert!(store.write(&pending("t", VM_A, NOW + 1).encode(), CREATE_ONLY_CAS));
    let (_, stale_cas) = store.read().unwrap_or_default();
    // Meanwhile VM B, whose lease on the slot had expired in its view, evicts it.
    assert!(store.write(&pending("other", VM_B, NOW + 5_000).encode(), stale_cas));
    let settled = settle(
        &token("t"),
        CallOutcome::Answered(Answer::Inactive),
        NOW,
        &POLICY,
    );
    assert!(
        !store.write(&settled.encode(), stale_cas),
        "the old CAS loses"
    );
    let now = store.read();
    assert_eq!(
        publish(now.as_ref().map(|(b, c)| (&b[..], *c)), VM_A, NOW),
        Publish::Skip
    );
}

/// Envoy's shared data, as far as these decisions depend on it: a missing key is created
/// whatever the CAS; an existing one is written only with its current CAS (or none).
#[derive(Default)]
struct Store {
    value: Option<(Vec<u8>, u32)>,
    next_cas: u32,
}

impl Store {
    fn read(&self) -> Option<(Vec<u8>, u32)> {
        self.value.clone()
    }

    fn write(&mut self, bytes: &[u8], cas: u32) -> bool {
        if let Some((_, current)) = &self.value {
            if cas != 0 && cas != *current {
                return false;
            }
        }
        self.next_cas += 1;
        self.value = Some((bytes.to_vec(), self.next_cas));
        true
    }
}

// ---- the exchange carried out over a host, several VMs sharing one store ----

/// One VM's view of a process-wide store, counting the calls it dispatches.
struct Vm<'a> {
    store: &'a std::cell::RefCell<Store>,
    dispatched: Vec<Vec<u8>>,
    refuse_dispatch: bool,
}

impl<'a> Vm<'a> {
    fn new(store: &'a std::cell::RefCell<Store>) -> Vm<'a> {
        Vm {
            store,
            dispatched: Vec::new(),
            refuse_dispatch: false,
        }
    }
}

impl IntrospectionHost for Vm<'_> {
    fn read(&mut self, _key: &str) -> Option<(Vec<u8>, u32)> {
        self.store.borrow().read()
    }

    fn write(&mut self, _key: &str, value: &[u8], cas: u32) -> bool {
        self.store.borrow_mut().write(value, cas)
    }

    fn dispatch(&mut self, body: Vec<u8>) -> Option<u32> {
        if self.refuse_dispatch {
            return None;
        }
        self.dispatched.push(body);
        u32::try_from(self.dispatched.len()).ok()
    }
}

const KEY: &str = "slot";

fn slot_says(store: &std::cell::RefCell<Store>, name: &str, now_ms: u64) -> Found {
    let entry = store
        .borrow()
        .read()
        .and_then(|(bytes, _)| SlotEntry::decode(&bytes));
    found(entry.as_ref(), &token(name), now_ms)
}

#[test]
fn many_requests_on_two_vms_make_exactly_one_call_and_all_see_its_answer() {
    let store = std::cell::RefCell::new(Store::default());
    let (mut a, mut b) = (Vm::new(&store), Vm::new(&store));
    let mut calls = Vec::new();
    for round in 0..50 {
        for (vm, owner) in [(&mut a, VM_A), (&mut b, VM_B)] {
            match start(vm, KEY, "opaque-1", owner, NOW + round, &POLICY) {
                Started::Calling(id) => calls.push((owner, id)),
                Started::Waiting => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(calls.len(), 1, "one call for 100 requests on two VMs");
    assert_eq!(a.dispatched.len() + b.dispatched.len(), 1);
    let answer = Answer::Active(claims(json!({"active": true, "sub": "svc"})));
    assert!(finish(
        &mut a,
        KEY,
        &token("opaque-1"),
        VM_A,
        CallOutcome::Answered(answer),
        NOW + 100,
        &POLICY
    ));
    assert!(matches!(
        slot_says(&store, "opaque-1", NOW + 101),
        Found::Active(_)
    ));
    assert_eq!(
        start(&mut b, KEY, "opaque-1", VM_B, NOW + 101, &POLICY),
        Started::Settled,
        "a request arriving after the answer needs no call"
    );
}

#[test]
fn the_call_carries_the_token_form_encoded() {
    let store = std::cell::RefCell::new(Store::default());
    let mut a = Vm::new(&store);
    start(&mut a, KEY, "a b&c", VM_A, NOW, &POLICY);
    assert_eq!(
        a.dispatched,
        vec![b"token=a+b%26c&token_type_hint=access_token".to_vec()]
    );
}

#[test]
fn a_vm_that_dies_mid_call_blocks_its_token_only_until_its_lease_ends() {
    let store = std::cell::RefCell::new(Store::default());
    let (mut a, mut b) = (Vm::new(&store), Vm::new(&store));
    assert!(matches!(
        start(&mut a, KEY, "t", VM_A, NOW, &POLICY),
        Started::Calling(_)
    ));
    let end = NOW + POLICY.lease_ms();
    assert_eq!(
        start(&mut b, KEY, "t", VM_B, end - 1, &POLICY),
        Started::Waiting
    );
    assert!(matches!(
        start(&mut b, KEY, "t", VM_B, end, &POLICY),
        Started::Calling(_)
    ));
}

#[test]
fn a_refused_dispatch_publishes_an_outage_for_a_short_while() {
    let store = std::cell::RefCell::new(Store::default());
    let mut a = Vm::new(&store);
    a.refuse_dispatch = true;
    assert_eq!(
        start(&mut a, KEY, "t", VM_A, NOW, &POLICY),
        Started::DispatchFailed
    );
    assert_eq!(
        slot_says(&store, "t", NOW),
        Found::Failed(CallFailure::DispatchFailed)
    );
    assert_eq!(
        slot_says(&store, "t", NOW + POLICY.failure_ttl_ms),
        Found::Pending,
        "after the failure's lifetime the server is asked again"
    );
}

#[test]
fn a_revocation_takes_effect_when_the_active_answer_ends() {
    let store = std::cell::RefCell::new(Store::default());
    let mut a = Vm::new(&store);
    start(&mut a, KEY, "t", VM_A, NOW, &POLICY);
    let answer = Answer::Active(claims(json!({"active": true})));
    finish(
        &mut a,
        KEY,
        &token("t"),
        VM_A,
        CallOutcome::Answered(answer),
        NOW,
        &POLICY,
    );
    let end = NOW + POLICY.max_ttl_ms;
    assert!(matches!(slot_says(&store, "t", end - 1), Found::Active(_)));
    assert!(matches!(
        start(&mut a, KEY, "t", VM_A, end, &POLICY),
        Started::Calling(_)
    ));
    finish(
        &mut a,
        KEY,
        &token("t"),
        VM_A,
        CallOutcome::Answered(Answer::Inactive),
        end,
        &POLICY,
    );
    assert_eq!(slot_says(&store, "t", end), Found::Inactive);
}

// ---- a call whose answer will never come ----

#[test]
fn an_abandoned_call_ends_its_own_live_lease_now() {
    let lease = pending("t", VM_A, NOW + 3_000).encode();
    let (value, cas) = abandon(Some((&lease, 7)), VM_A, NOW).unwrap();
    assert_eq!(cas, 7);
    let ended = SlotEntry::decode(&value).unwrap();
    assert_eq!(ended.token, token("t"));
    assert!(!ended.state.is_live(NOW));
    // The next request for the token takes the lease at once.
    assert!(matches!(
        begin(Some((&value, 8)), &token("t"), VM_B, NOW, &POLICY),
        Begin::Take { .. }
    ));
}

#[test]
fn abandoning_leaves_another_vms_lease_and_any_answer_alone() {
    let theirs = pending("t", VM_B, NOW + 3_000).encode();
    assert_eq!(abandon(Some((&theirs, 7)), VM_A, NOW), None);
    let answered = active("t", NOW + 30_000).encode();
    assert_eq!(abandon(Some((&answered, 7)), VM_A, NOW), None);
    assert_eq!(abandon(None, VM_A, NOW), None);
}
