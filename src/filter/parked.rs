//! Requests parked while their keys, revocation list or introspection answer load: finished
//! when what they wait for arrives, from the root's tick or call answers and from an HTTP
//! context that receives an introspection answer. Its own module so that the root and the
//! HTTP context both call it without importing each other.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;

use crate::authorize::{Outcome, Waiting};

use super::apply::{apply, Next};
use super::clock::schedule_ticks;
use super::introspection::Dispatcher;
use super::state::VmState;

/// Delivers the answer to an introspection call of this VM, if `token_id` is one: it is
/// published for every VM, and the requests waiting for it here re-run now (other VMs' on
/// their next tick). The answer comes to the context that dispatched the call (an HTTP
/// context, or the root when a parked request re-ran on a tick), so both ask here, saying
/// which they are. The caller makes its own context effective again afterwards.
pub(super) fn introspection_answered(
    state: &Rc<RefCell<VmState>>,
    token_id: u32,
    num_headers: usize,
    body_size: usize,
    now: u64,
    dispatcher: Dispatcher,
) -> bool {
    let answered = {
        let mut state = state.borrow_mut();
        let config = Rc::clone(&state.config);
        let VmState {
            introspections,
            metrics,
            ..
        } = &mut *state;
        introspections.on_response(&config, metrics, token_id, num_headers, body_size, now)
    };
    if answered {
        finish_parked(state, now, dispatcher);
        schedule_ticks(&mut state.borrow_mut());
    }
    answered
}

/// Re-runs every parked request (the core decides the ones whose deadline passed), and
/// finishes the ones that now have a decision: apply it on their stream and resume (or
/// refuse). `dispatcher`: the context whose callback is running.
pub(super) fn finish_parked(state: &Rc<RefCell<VmState>>, now: u64, dispatcher: Dispatcher) {
    let parked = std::mem::take(&mut state.borrow_mut().parked);
    let mut still_waiting = Vec::new();
    for request in parked {
        let mut vm = state.borrow_mut();
        let waiting = Waiting::Parked {
            deadline_ms: request.deadline_ms,
        };
        // The stream first: evaluating may read its connection (a bound token's certificate).
        if hostcalls::set_effective_context(request.context_id).is_err() {
            continue;
        }
        let verdict = match vm.evaluate(&request.request, now, waiting, dispatcher) {
            Outcome::Decided(verdict) => verdict,
            Outcome::Park { .. } => {
                still_waiting.push(request);
                continue;
            }
        };
        if apply(&vm, &request.request, &verdict) == Next::Continue {
            let _ = hostcalls::resume_http_request();
        }
    }
    state.borrow_mut().parked.extend(still_waiting);
}
