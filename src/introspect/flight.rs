//! The decisions of one token's exchange with the authorization server, across every VM of
//! the process: what a request finds in the token's slot, who calls (the lease), what an
//! answer or a failure becomes and for how long, and what a lost compare-and-swap means.
//!
//! The shell reads the slot (bytes and CAS), asks [`begin`] or [`publish`], performs the
//! write it is told, and asks again with the slot read anew when the write lost its
//! compare-and-swap: another VM moved first, and what it wrote decides what comes next.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::answer::{self, Answer, MAX_ANSWER_BYTES};
pub use super::slot::CallFailure;
use super::slot::{SlotEntry, SlotState, TokenDigest};

/// How a provider's introspection answers are cached, in milliseconds (compiled from its
/// `introspection` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntrospectionPolicy {
    /// Slots in the shared cache; a token's slot is fixed by its digest.
    pub slots: u32,
    /// An active answer is used at most this long (and never past the answer's `exp`): the
    /// bound on how late a revocation at the server takes effect.
    pub max_ttl_ms: u64,
    /// `active: false` is remembered this long, so a flood of a revoked token costs one call
    /// per period, not one per request.
    pub negative_ttl_ms: u64,
    /// A failed call is remembered this long: requests meanwhile get the outage behaviour
    /// at once, and the server is asked again after it.
    pub failure_ttl_ms: u64,
    /// Budget of one call.
    pub timeout_ms: u64,
}

impl IntrospectionPolicy {
    /// How long a lease is held: the call's budget plus slack for the host's timer and the
    /// tick that notices the answer. A VM that dies mid-call blocks its token this long.
    pub fn lease_ms(&self) -> u64 {
        self.timeout_ms.saturating_add(LEASE_MARGIN_MS)
    }
}

/// Slack added to a lease beyond the call's timeout.
const LEASE_MARGIN_MS: u64 = 1_000;

/// The compare-and-swap value that writes only if the slot does not exist yet. Envoy creates
/// a missing entry whatever the CAS, and refuses a CAS that differs from an existing entry's;
/// entries' CAS values count up from 1, so this one never matches in practice (should it,
/// the cost is one extra call, never a wrong answer).
pub const CREATE_ONLY_CAS: u32 = u32::MAX;

/// What a request finds about its token.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Active(Rc<Map<String, Value>>),
    Inactive,
    /// The last call failed recently: the outage behaviour applies.
    Failed(CallFailure),
    /// Nothing usable yet: a call is needed or in flight, the request may wait for it.
    Pending,
}

/// What the slot says about `token` at `now_ms`. Only a live state of this very token
/// counts: another token's entry, an expired one or an unreadable one is nothing.
pub fn found(entry: Option<&SlotEntry>, token: &TokenDigest, now_ms: u64) -> Found {
    let Some(entry) = entry.filter(|e| e.token == *token && e.state.is_live(now_ms)) else {
        return Found::Pending;
    };
    match &entry.state {
        SlotState::Active { claims, .. } => Found::Active(Rc::clone(claims)),
        SlotState::Inactive { .. } => Found::Inactive,
        SlotState::Failed { failure, .. } => Found::Failed(*failure),
        SlotState::Pending { .. } => Found::Pending,
    }
}

/// What a VM does about a token whose request found it [`Found::Pending`].
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// Write `value` (the lease) with `cas`; if that wins, dispatch the call. If it loses,
    /// read the slot again and ask again.
    Take { value: Vec<u8>, cas: u32 },
    /// A call is in flight (for this token, or — sharing its slot — for another): wait for
    /// its answer. Never a second call for the same token.
    Wait,
    /// The slot already holds a live answer or failure for the token (published since the
    /// request looked): re-run the waiting requests.
    Settled,
}

/// Whether `owner` takes the lease of `token`'s slot, given the slot as read (`None`:
/// absent). Another token's live answer is evicted (the cache is bounded; the newest token
/// wins its slot), but a live lease is never taken from its holder.
pub fn begin(
    current: Option<(&[u8], u32)>,
    token: &TokenDigest,
    owner: u64,
    now_ms: u64,
    policy: &IntrospectionPolicy,
) -> Begin {
    let lease = SlotEntry {
        token: *token,
        state: SlotState::Pending {
            owner,
            until_ms: now_ms.saturating_add(policy.lease_ms()),
        },
    };
    let Some((bytes, cas)) = current else {
        return Begin::Take {
            value: lease.encode(),
            cas: CREATE_ONLY_CAS,
        };
    };
    match SlotEntry::decode(bytes) {
        Some(entry) if entry.state.is_live(now_ms) => match entry.state {
            SlotState::Pending { .. } => Begin::Wait,
            _ if entry.token == *token => Begin::Settled,
            _ => Begin::Take {
                value: lease.encode(),
                cas,
            },
        },
        _ => Begin::Take {
            value: lease.encode(),
            cas,
        },
    }
}

/// What the call's answer head says to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A 200 within the size bound: read the body.
    ReadBody,
    /// A 504 whose body may be the router's own timeout answer: read it to tell.
    ReadTimeoutBody,
    Failed(CallFailure),
}

/// The body Envoy's router sends with the 504 it answers a call timeout with.
const ROUTER_TIMEOUT_BODY: &[u8] = b"upstream request timeout";

/// Classifies an answer's head (lowercase header names; none for a reset).
pub fn classify_head(headers: &[(String, String)], body_size: usize) -> Head {
    if headers.is_empty() {
        return Head::Failed(CallFailure::Reset);
    }
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .map(|(_, value)| value.as_str());
    match status {
        Some("200") if body_size > MAX_ANSWER_BYTES => Head::Failed(CallFailure::TooLarge),
        Some("200") => Head::ReadBody,
        Some("504") if body_size == ROUTER_TIMEOUT_BODY.len() => Head::ReadTimeoutBody,
        _ => Head::Failed(CallFailure::HttpStatus),
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    Answered(Answer),
    Failed(CallFailure),
}

/// The outcome of a call whose head said [`Head::ReadBody`] or [`Head::ReadTimeoutBody`].
pub fn classify(head: Head, body: &[u8]) -> CallOutcome {
    match head {
        Head::Failed(failure) => CallOutcome::Failed(failure),
        Head::ReadTimeoutBody if body == ROUTER_TIMEOUT_BODY => {
            CallOutcome::Failed(CallFailure::Timeout)
        }
        Head::ReadTimeoutBody => CallOutcome::Failed(CallFailure::HttpStatus),
        Head::ReadBody => match answer::parse(body) {
            Ok(answer) => CallOutcome::Answered(answer),
            Err(answer::AnswerError::TooLarge) => CallOutcome::Failed(CallFailure::TooLarge),
            Err(_) => CallOutcome::Failed(CallFailure::BadAnswer),
        },
    }
}

/// The slot content a call's outcome becomes, and until when it is used: an active answer
/// until the earlier of its `exp` and `max_ttl_ms` from now; `active: false` for
/// `negative_ttl_ms`; a failure for `failure_ttl_ms`. An active answer whose `exp` already
/// passed is kept like a negative one (requests refuse it as expired, without a call each).
pub fn settle(
    token: &TokenDigest,
    outcome: CallOutcome,
    now_ms: u64,
    policy: &IntrospectionPolicy,
) -> SlotEntry {
    let negative_until = now_ms.saturating_add(policy.negative_ttl_ms);
    let state = match outcome {
        CallOutcome::Answered(answer) => {
            let exp_ms = answer.exp_s().map(|exp| exp.saturating_mul(1000));
            match answer {
                Answer::Active(claims) => {
                    let cap = now_ms.saturating_add(policy.max_ttl_ms);
                    let until_ms = exp_ms.map_or(cap, |exp_ms| exp_ms.min(cap));
                    SlotState::Active {
                        until_ms: until_ms.max(negative_until.min(cap)),
                        claims: Rc::new(claims),
                    }
                }
                Answer::Inactive => SlotState::Inactive {
                    until_ms: negative_until,
                },
            }
        }
        CallOutcome::Failed(failure) => SlotState::Failed {
            until_ms: now_ms.saturating_add(policy.failure_ttl_ms),
            failure,
        },
    };
    SlotEntry {
        token: *token,
        state,
    }
}

/// Whether the VM whose call settled `settled.token` writes it into the slot as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Write with this CAS; if it loses, read the slot again and ask again.
    Write { cas: u32 },
    /// Leave the slot alone: another VM holds a live lease on it (ours expired and was
    /// taken, for this token or another). Requests waiting here re-run and wait for that
    /// call instead.
    Skip,
}

/// The write that frees `owner`'s lease on the slot as read, when the answer to its call will
/// never come (the host drops a call's answer with the stream it was dispatched from): its
/// own live lease ends now, so the next request for the token, in any VM, calls at once
/// instead of waiting out the lease. Anything else in the slot is left alone (`None`).
pub fn abandon(current: Option<(&[u8], u32)>, owner: u64, now_ms: u64) -> Option<(Vec<u8>, u32)> {
    let (bytes, cas) = current?;
    let entry = SlotEntry::decode(bytes)?;
    match entry.state {
        SlotState::Pending {
            owner: holder,
            until_ms,
        } if holder == owner && now_ms < until_ms => {
            let ended = SlotEntry {
                token: entry.token,
                state: SlotState::Pending {
                    owner,
                    until_ms: now_ms,
                },
            };
            Some((ended.encode(), cas))
        }
        _ => None,
    }
}

/// Whether `owner` publishes its call's outcome into the slot as read (`None`: absent).
pub fn publish(current: Option<(&[u8], u32)>, owner: u64, now_ms: u64) -> Publish {
    let Some((bytes, cas)) = current else {
        return Publish::Write {
            cas: CREATE_ONLY_CAS,
        };
    };
    match SlotEntry::decode(bytes).map(|entry| entry.state) {
        Some(SlotState::Pending {
            owner: holder,
            until_ms,
        }) if holder != owner && now_ms < until_ms => Publish::Skip,
        _ => Publish::Write { cas },
    }
}
