//! The key machine's host: shared data, `dispatch_http_call` and the call's answer, with
//! proxy-wasm host calls. No decision is taken here — when to fetch, who fetches, what an
//! answer means and which keys are usable are `crate::keys::KeyMachine`'s.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, Status};

use crate::keys::{Event, KeyHost, Lifecycle, Log, LogLevel, Progress, SharedValue};

/// The proxy-wasm host of every key machine of the VM.
pub struct Host;

impl KeyHost for Host {
    fn read(&mut self, key: &str) -> Option<SharedValue> {
        let (bytes, cas) = hostcalls::get_shared_data(key).ok()?;
        Some(SharedValue { bytes, cas })
    }

    fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), cas).is_ok()
    }

    fn dispatch(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        timeout_ms: u64,
    ) -> Option<u32> {
        let headers = vec![
            (":method", "GET"),
            (":path", path),
            (":authority", authority),
            ("accept", "application/json"),
            ("user-agent", "claimcheck"),
        ];
        hostcalls::dispatch_http_call(
            cluster,
            headers,
            None,
            vec![],
            Duration::from_millis(timeout_ms),
        )
        .ok()
    }

    fn read_body(&mut self, size: usize) -> Option<Vec<u8>> {
        match hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size) {
            Ok(body) => Some(body.unwrap_or_default()),
            Err(Status::NotFound) => Some(Vec::new()),
            Err(_) => None,
        }
    }

    fn log(&mut self, line: &Log) {
        let level = match line.level {
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
        };
        log::log!(level, "claimcheck: {}", line.message);
    }
}

/// Delivers the answer to one of `machine`'s calls (keys or a revocation list): its headers
/// (none for a reset; reading them then fails, so the count is checked first) and its body
/// size.
pub fn on_response(
    machine: &mut Lifecycle,
    now_ms: u64,
    num_headers: usize,
    body_size: usize,
) -> Progress {
    let headers = if num_headers == 0 {
        Vec::new()
    } else {
        hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default()
    };
    machine.run(
        &mut Host,
        now_ms,
        Event::ResponseHead { headers, body_size },
    )
}

/// Randomness for jitter and VM identities, from the host (WASI `random_get`).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    u64::from_le_bytes(bytes)
}
