//! The decision, as filter state an access log can print.
//!
//! Envoy keeps what a Wasm filter sets with `proxy_set_property` in the request's filter
//! state, under `wasm.` + the property name, for as long as the request lives; an access log
//! prints it with `%FILTER_STATE(wasm.claimcheck.subject:PLAIN)%`. One property per value (not
//! one JSON blob) so a format picks what it needs and never parses. Values come from the
//! core's [`Verdict`]; the token itself is never among them. Which decisions are recorded is
//! the configuration's `access_log` ([`crate::config::AccessLog`]).

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

/// The values for one decision, by name; a value that does not apply is `None` and left
/// unset (the access log prints `-`). A fixed array: recording allocates nothing.
pub fn fields<'v>(
    state: &'v VmState,
    verdict: &'v Verdict,
) -> [(&'static str, Option<&'v str>); 6] {
    let decision = match &verdict.decision {
        Decision::Allow(allow) if allow.would_deny.is_some() => "dry_run_deny",
        Decision::Allow(_) => "allow",
        Decision::Deny(_) => "deny",
    };
    let provider = verdict
        .provider
        .and_then(|id| state.config.provider(id))
        .map(|provider| provider.name.as_str());
    let identity = verdict.identity.as_ref();
    [
        (DECISION, Some(decision)),
        (RULE, Some(&*verdict.rule)),
        (PROVIDER, provider),
        (ISSUER, identity.map(|identity| identity.issuer.as_str())),
        (
            SUBJECT,
            identity.and_then(|identity| identity.subject.as_deref()),
        ),
        (REASON, verdict.refusal().map(|denial| denial.reason.code())),
    ]
}

/// Sets the values on the current (or effective) stream, if the configuration records this
/// decision. A host without filter state for the stream refuses the call; the decision
/// stands regardless.
pub fn record(state: &VmState, verdict: &Verdict) {
    if !state.config.access_log.records(verdict.refusal().is_some()) {
        return;
    }
    for (name, value) in fields(state, verdict) {
        if let Some(value) = value {
            host::set_property(name, value);
        }
    }
}

/// `proxy_set_property` called directly. The SDK's wrapper builds the property path in two
/// fresh allocations per call and panics (aborting the VM) on any status but `Ok`; a name
/// of one segment is its own path, and a refused write only loses a log field.
mod host {
    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_set_property(
            path_data: *const u8,
            path_size: usize,
            value_data: *const u8,
            value_size: usize,
        ) -> u32;
    }

    pub fn set_property(name: &str, value: &str) {
        // SAFETY: both pointers are valid for their lengths for the duration of the call,
        // and the host copies what it keeps.
        unsafe {
            proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len());
        }
    }
}
