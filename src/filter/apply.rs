//! Carrying out a decision on the current stream: edit the request headers and continue (a
//! dry-run allow also logs and counts the refusal it carries), or send the refusal. Written against raw host calls so the root context can use it too, for a
//! parked request, after `set_effective_context`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MapType;

use crate::authorize::Verdict;
use crate::decision::{Allow, Decision, Denial, LocalResponse};
use crate::request::Request;

use super::access_log;
use super::metrics;
use super::state::VmState;

/// What the stream should do after the decision was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// A local response was sent; the request must not go upstream.
    Stop,
}

pub fn apply(state: &VmState, request: &Request, verdict: &Verdict) -> Next {
    count_cache(state, verdict.cache_hit);
    access_log::record(state, verdict);
    match &verdict.decision {
        Decision::Allow(allow) => {
            allow_request(allow);
            report_skipped(request, verdict, allow);
            match &allow.would_deny {
                Some(denial) => report_dry_run(state, request, verdict, denial),
                None => count_allowed(state, verdict),
            }
            Next::Continue
        }
        Decision::Deny(denial) => refuse(state, request, verdict, denial),
    }
}

/// Removals first, then the path and the identity headers. A header about to be set is not
/// removed first: Envoy's replace already drops every value of the name, and the host call
/// it saves is a good part of a cached request's cost.
fn allow_request(allow: &Allow) {
    let will_set = |name: &str| allow.headers_to_set.iter().any(|(set, _)| set == name);
    for name in allow.removals().filter(|name| !will_set(name)) {
        let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
    }
    if let Some(path) = &allow.path_rewrite {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, ":path", Some(path));
    }
    for (name, value) in &allow.headers_to_set {
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
    }
}

/// An identity header the token's claim could not safely fill: the request goes upstream
/// without it, and the operator learns why.
fn report_skipped(request: &Request, verdict: &Verdict, allow: &Allow) {
    for skipped in &allow.headers_skipped {
        log::info!(
            "claimcheck: identity header {} not set on {} {} rule={} reason={}",
            skipped.header,
            request.method,
            request.path_only(),
            verdict.rule,
            skipped.reason.code()
        );
    }
}

fn count_allowed(state: &VmState, verdict: &Verdict) {
    state.metrics.increment(metrics::ALLOWED);
    let unintrospected = verdict
        .unintrospected
        .and_then(|id| state.config.provider(id));
    if let Some(provider) = unintrospected {
        // `on_outage: "allow"`: the operator chose availability; it must show.
        log::warn!(
            "claimcheck: allowed without introspection (outage) rule={} provider={}",
            verdict.rule,
            provider.name
        );
        state
            .metrics
            .increment(&metrics::introspection(&provider.name, "outage_allowed"));
    }
    if let Some(name) = provider_name(state, verdict) {
        state.metrics.increment(&metrics::provider_allowed(name));
    }
}

/// Dry run: the request went upstream; the refusal it would have got is logged and counted.
fn report_dry_run(state: &VmState, request: &Request, verdict: &Verdict, denial: &Denial) {
    let reason = denial.reason.code();
    let provider = provider_name(state, verdict).unwrap_or("-");
    log::info!(
        "claimcheck: dry-run would deny {} {} rule={} provider={provider} reason={reason} status={}",
        request.method,
        request.path_only(),
        verdict.rule,
        denial.reason.status()
    );
    state.metrics.increment(&metrics::dry_run_denied(reason));
}

fn refuse(state: &VmState, request: &Request, verdict: &Verdict, denial: &Denial) -> Next {
    let response = denial.response(&state.config.realm);
    let reason = response.reason_code;
    let provider = provider_name(state, verdict).unwrap_or("-");
    let rule = &verdict.rule;
    log::info!(
        "claimcheck: denied {} {} rule={rule} provider={provider} reason={reason} status={}",
        request.method,
        request.path_only(),
        response.status
    );
    state.metrics.increment(metrics::DENIED);
    state.metrics.increment(&metrics::denied(reason));
    if verdict.provider.is_some() {
        state
            .metrics
            .increment(&metrics::provider_denied(provider, reason));
    }
    send_refusal(&response);
    Next::Stop
}

/// Sends a refusal as the local response.
pub fn send_refusal(response: &LocalResponse) {
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    if let Some(challenge) = &response.www_authenticate {
        headers.push(("www-authenticate", challenge));
    }
    let retry_after = response.retry_after_s.map(|seconds| seconds.to_string());
    if let Some(seconds) = &retry_after {
        headers.push(("retry-after", seconds));
    }
    if let Some(nonce) = &response.dpop_nonce {
        headers.push(("dpop-nonce", nonce));
    }
    let _ = hostcalls::send_http_response(
        u32::from(response.status),
        headers,
        Some(response.body.as_bytes()),
    );
}

fn provider_name<'a>(state: &'a VmState, verdict: &Verdict) -> Option<&'a str> {
    verdict
        .provider
        .and_then(|id| state.config.provider(id))
        .map(|provider| provider.name.as_str())
}

fn count_cache(state: &VmState, hit: Option<bool>) {
    match hit {
        Some(true) => state.metrics.increment(metrics::CACHE_HIT),
        Some(false) => state.metrics.increment(metrics::CACHE_MISS),
        None => {}
    }
}
