//! The decision, as filter state an access log can print.
//!
//! Envoy keeps what a Wasm filter sets with `proxy_set_property` in the request's filter
//! state, under `wasm.` + the property name, for as long as the request lives; an access log
//! prints it with `%FILTER_STATE(wasm.claimcheck.subject:PLAIN)%`. One property per value (not
//! one JSON blob) so a format picks what it needs and never parses. Values come from the
//! core's [`Verdict`]; the token itself is never among them.

use proxy_wasm::hostcalls;

use crate::authorize::Verdict;
use crate::decision::Decision;

use super::state::VmState;

/// The filter-state names, each printed as `wasm.<name>`.
pub const DECISION: &str = "claimcheck.decision";
pub const RULE: &str = "claimcheck.rule";
pub const PROVIDER: &str = "claimcheck.provider";
pub const ISSUER: &str = "claimcheck.issuer";
pub const SUBJECT: &str = "claimcheck.subject";
pub const REASON: &str = "claimcheck.reason";

/// The values for one decision; a value that does not apply is left unset (the access log
/// prints `-`).
pub fn fields<'v>(state: &'v VmState, verdict: &'v Verdict) -> Vec<(&'static str, &'v str)> {
    let decision = match &verdict.decision {
        Decision::Allow(allow) if allow.would_deny.is_some() => "dry_run_deny",
        Decision::Allow(_) => "allow",
        Decision::Deny(_) => "deny",
    };
    let mut fields = vec![(DECISION, decision), (RULE, &*verdict.rule)];
    let provider = verdict
        .provider
        .and_then(|id| state.config.provider(id))
        .map(|provider| provider.name.as_str());
    if let Some(provider) = provider {
        fields.push((PROVIDER, provider));
    }
    if let Some(identity) = &verdict.identity {
        fields.push((ISSUER, identity.issuer.as_str()));
        if let Some(subject) = &identity.subject {
            fields.push((SUBJECT, subject.as_str()));
        }
    }
    if let Some(denial) = verdict.refusal() {
        fields.push((REASON, denial.reason.code()));
    }
    fields
}

/// Sets the values on the current (or effective) stream. A host without filter state for
/// the stream refuses the call; the decision stands regardless.
pub fn record(state: &VmState, verdict: &Verdict) {
    for (name, value) in fields(state, verdict) {
        let _ = hostcalls::set_property(vec![name], Some(value.as_bytes()));
    }
}
