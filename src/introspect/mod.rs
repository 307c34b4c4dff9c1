//! Token introspection (RFC 7662): asking the authorization server whether a token is still
//! active, once per token per Envoy process.
//!
//! A JWT stays valid until its `exp`; "revoke this session now" needs the server's word. The
//! word costs a call, so it is cached in the host's shared data, where every worker VM of the
//! process sees it, in a fixed number of slots keyed by the SHA-256 of the token (shared data
//! cannot delete: one key per token would grow without bound). One slot holds one token's
//! state — a call in flight (a lease, like the key fetch lease), an answer until it expires,
//! or a recent failure — so one compare-and-swap decides who calls, and every other request
//! for that token, in any VM, parks until the answer is published.
//!
//! Everything here is pure: the request's body and client authentication ([`call`]), the
//! answer's parser ([`answer`]), the slot format ([`slot`]) and
//! the decisions of the exchange ([`flight`]: what a lookup finds, who calls, what a lost
//! compare-and-swap means, how long an answer lives); [`drive`] carries them out over any
//! [`IntrospectionHost`]. The proxy-wasm shell (`filter::introspection`) performs the host
//! calls and nothing else; the pipeline reads answers through
//! `authorize::IntrospectionLookup`.

pub mod answer;
pub mod call;
pub mod drive;
pub mod flight;
pub mod memo;
pub mod slot;

pub use answer::{Answer, AnswerError, MAX_ANSWER_BYTES};
pub use call::ClientAuth;
pub use drive::{abandon, finish, start, IntrospectionHost, Started};
pub use flight::{
    begin, classify, classify_head, found, publish, settle, Begin, CallFailure, CallOutcome, Found,
    Head, IntrospectionPolicy, Publish, CREATE_ONLY_CAS,
};
pub use memo::SlotMemo;
pub use slot::{SlotEntry, SlotState, TokenDigest, MAX_SLOT_BYTES};

#[cfg(test)]
mod tests;
