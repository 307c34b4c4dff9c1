//! The VM's clock and tick period, shared by the root and HTTP contexts.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;

use super::state::VmState;

/// Tick period while requests wait or keys load: bounds the extra latency of a cold start.
const FAST_TICK: Duration = Duration::from_millis(50);
/// Tick period otherwise: refresh times are in seconds, so this is precise enough.
const SLOW_TICK: Duration = Duration::from_millis(1000);

/// Milliseconds since the epoch, from the host's clock.
pub(super) fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Ticks fast while anything waits, slowly otherwise; the host call is made only on a
/// change. HTTP contexts call it too when they park a request: the tick period is the VM's
/// (Envoy applies it to the root context whichever context sets it), and a request parked
/// between slow ticks would otherwise wait up to a second for its refetch or its deadline.
pub(super) fn schedule_ticks(state: &mut VmState) {
    let busy = state.is_busy();
    if state.fast_ticks != Some(busy) {
        let period = if busy { FAST_TICK } else { SLOW_TICK };
        let _ = hostcalls::set_tick_period(period);
        state.fast_ticks = Some(busy);
    }
}
