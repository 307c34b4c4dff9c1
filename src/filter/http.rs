//! The HTTP context: one per request. It copies the request out of the host once, asks the
//! core for an outcome, and carries it out: apply the decision, or park the request with the
//! root until the deadline the core set.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::authorize::{Outcome, WaitCause, Waiting};
use crate::config::DEFAULT_REALM;
use crate::decision::{Denial, DenyReason};
use crate::peer::{self, Peer, PeerReads};
use crate::request::Request;

use super::apply::{apply, send_refusal, Next};
use super::clock::{now_ms, schedule_ticks};
use super::introspection::Dispatcher::{self, Deferred};
use super::metrics;
use super::parked::introspection_answered;
use super::state::{Parked, VmState};

/// Requests one VM holds while keys load. Each parked request keeps a copy of its headers,
/// which Envoy bounds at 60 KiB by default (`max_request_headers_kb`): 1024 of them stay
/// under 64 MiB even in the worst case, while a flood during a cold start cannot grow the
/// VM's memory without limit. Beyond it the core is told there is no room, and decides at
/// once, as if the wait had run out.
const MAX_PARKED_REQUESTS: usize = 1024;

pub struct Http {
    pub context_id: u32,
    pub state: Rc<RefCell<VmState>>,
}

impl Context for Http {
    /// An introspection call dispatched while this request was evaluated has its answer.
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let now = now_ms();
        introspection_answered(&self.state, token_id, num_headers, body_size, now, Deferred);
        let _ = hostcalls::set_effective_context(self.context_id);
    }

    /// The stream ended (possibly the client gave up while parked): forget it.
    fn on_done(&mut self) -> bool {
        let mut state = self.state.borrow_mut();
        state
            .parked
            .retain(|parked| parked.context_id != self.context_id);
        let config = Rc::clone(&state.config);
        state
            .introspections
            .abandon_calls_of(&config, self.context_id, now_ms());
        true
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let mut state = self.state.borrow_mut();
        let mut request = read_request(state.config.uses_route_name());
        request.peer = read_peer(state.config.peer_reads());
        let now = now_ms();
        let room = state.parked.len() < MAX_PARKED_REQUESTS;
        let dispatcher = Dispatcher::Stream(self.context_id);
        match state.evaluate(&request, now, Waiting::New { room }, dispatcher) {
            Outcome::Decided(verdict) => {
                if verdict.refetch.is_some() {
                    // The refetch serves the next requests; tick fast until it is done.
                    schedule_ticks(&mut state);
                }
                match apply(&state, &request, &verdict) {
                    Next::Continue => Action::Continue,
                    Next::Stop => Action::Pause,
                }
            }
            Outcome::Park {
                provider,
                cause,
                deadline_ms,
            } => {
                if cause == WaitCause::Introspection {
                    if let Some(p) = state.config.provider(provider) {
                        state
                            .metrics
                            .increment(&metrics::introspection(&p.name, "waited"));
                    }
                }
                self.park(&mut state, request, deadline_ms, cause);
                Action::Pause
            }
        }
    }
}

impl Http {
    /// Holds the request until its provider's keys change or `deadline_ms` passes.
    fn park(&self, state: &mut VmState, request: Request, deadline_ms: u64, cause: WaitCause) {
        log::debug!("claimcheck: request waits ({cause:?}) until {deadline_ms} ms");
        state.metrics.increment(metrics::PAUSED);
        state.parked.push(Parked {
            context_id: self.context_id,
            request,
            deadline_ms,
        });
        schedule_ticks(state);
    }
}

/// Copies what the core needs out of the host. The route name is a property lookup (a host
/// call), so it is read only when some rule matches on it.
///
/// Values are read as bytes: Envoy lets any byte but NUL, CR and LF through in a header
/// value, and the SDK's string accessor panics (killing the VM) on one that is not UTF-8.
/// Such bytes become U+FFFD here, so a token carrying them simply fails to verify. The
/// host's buffers become the request's strings as they are (no copy for UTF-8 values, names
/// lowercased in place): a cached request does little else in the VM.
fn read_request(with_route_name: bool) -> Request {
    let mut request = Request::default();
    let pairs = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
    let mut headers = Vec::with_capacity(pairs.len());
    for (mut name, bytes) in pairs {
        let value = into_string(bytes);
        match name.as_str() {
            ":method" => request.method = value,
            ":path" => request.path = value,
            ":authority" => request.host = value,
            "host" if request.host.is_empty() => {
                request.host = value.clone();
                headers.push((name, value));
            }
            _ => {
                name.make_ascii_lowercase();
                headers.push((name, value));
            }
        }
    }
    request.headers = headers;
    if with_route_name {
        request.route_name = hostcalls::get_property(vec!["xds", "route_name"])
            .ok()
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok());
    }
    request
}

/// A header value as text, reusing the host's buffer when it is UTF-8.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// The downstream peer, reading only the connection attributes the policy names: a policy
/// without peer rules makes no host call here.
fn read_peer(reads: PeerReads) -> Peer {
    let mut peer = Peer::default();
    if !reads.any() {
        return peer;
    }
    let property = |path: [&str; 2]| hostcalls::get_property(path.to_vec()).ok().flatten();
    if reads.mtls {
        peer.mtls = peer::bool_attribute(property(peer::MTLS_ATTRIBUTE).as_deref());
    }
    if reads.uri_san {
        peer.uri_san = peer::text_attribute(property(peer::URI_SAN_ATTRIBUTE));
    }
    if reads.dns_san {
        peer.dns_san = peer::text_attribute(property(peer::DNS_SAN_ATTRIBUTE));
    }
    if reads.subject {
        peer.subject = peer::text_attribute(property(peer::SUBJECT_ATTRIBUTE));
    }
    peer
}

/// The HTTP context of a VM without a valid configuration: fails closed.
pub struct Unconfigured;

impl Context for Unconfigured {}

impl HttpContext for Unconfigured {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        log::error!("claimcheck: refusing a request: the filter has no valid configuration");
        send_refusal(&Denial::new(DenyReason::NotConfigured).response(DEFAULT_REALM));
        Action::Pause
    }
}
