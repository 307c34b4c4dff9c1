//! Host state: what all VMs of one host share (Envoy: one process, one `vm_id`), and what each
//! VM owns (its contexts and streams).

use crate::abi::{Headers, LogLevel, MetricKind, Status};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

/// Which VM (Envoy: which worker thread) something happened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmId(pub usize);

/// Identifies one dispatched HTTP call inside a host. The module sees it as its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallId {
    pub vm: VmId,
    pub token: u32,
}

/// Where a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// `proxy_log`.
    Proxy,
    /// WASI `fd_write` to stdout (level `Info`).
    Stdout,
    /// WASI `fd_write` to stderr (level `Error`); Rust panic messages land here.
    Stderr,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub vm: VmId,
    pub level: LogLevel,
    pub source: LogSource,
    pub message: String,
}

/// An HTTP call the module dispatched with `proxy_http_call` and that awaits an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchedCall {
    pub id: CallId,
    /// The VM that dispatched it (Envoy: the worker thread).
    pub vm: VmId,
    /// The context that was effective when the module dispatched.
    pub context_id: u32,
    /// Envoy cluster name.
    pub cluster: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
    /// `Duration::ZERO` means no timeout (Envoy's router treats a zero timeout as infinite).
    pub timeout: Duration,
    /// Monotonic time at which the host times the call out on its own (see `Host::advance`).
    pub(crate) deadline_ns: Option<u64>,
}

impl DispatchedCall {
    /// First value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

/// The value of a metric as a test reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(i64),
    /// Every recorded sample, in order.
    Histogram(Vec<u64>),
}

#[derive(Clone, Debug)]
pub(crate) struct Metric {
    pub(crate) kind: MetricKind,
    pub(crate) value: MetricValue,
}

/// A function a test registers for `proxy_call_foreign_function`.
pub type ForeignFunction = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, Status>>;

pub(crate) struct Queue {
    pub(crate) owner: VmId,
    pub(crate) context_id: u32,
    pub(crate) items: VecDeque<Vec<u8>>,
}

/// State every VM of one host sees: clock, clusters, shared data, metrics, calls, logs.
pub(crate) struct Shared {
    pub(crate) realtime_ns: u64,
    pub(crate) monotonic_ns: u64,
    pub(crate) clusters: HashSet<String>,
    pub(crate) shared_data: HashMap<String, (Vec<u8>, u32)>,
    pub(crate) next_cas: u32,
    pub(crate) queues: HashMap<u32, Queue>,
    pub(crate) queue_names: HashMap<String, u32>,
    pub(crate) queue_ready: Vec<(VmId, u32, u32)>,
    pub(crate) metrics: HashMap<String, Metric>,
    pub(crate) metric_ids: HashMap<u32, String>,
    pub(crate) next_metric_id: u32,
    pub(crate) calls: Vec<DispatchedCall>,
    pub(crate) next_token: u32,
    pub(crate) foreign: HashMap<String, ForeignFunction>,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) log_level: LogLevel,
    pub(crate) host_properties: HashMap<Vec<String>, Vec<u8>>,
    pub(crate) rng: u64,
    /// How often each `env` host function was called, by name (for cost measurements).
    pub(crate) host_calls: std::collections::BTreeMap<&'static str, u64>,
    /// Every property path the modules read, dot-joined, in order (cleared with the counts).
    pub(crate) property_reads: Vec<String>,
}

impl Shared {
    /// `nextCas` in proxy-wasm-cpp-host: a counter that skips 0, because 0 means "no CAS".
    pub(crate) fn next_cas(&mut self) -> u32 {
        let cas = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(1);
        if self.next_cas == 0 {
            self.next_cas = 1;
        }
        cas
    }

    /// splitmix64: deterministic bytes for `random_get`, so a failing test reproduces.
    pub(crate) fn random_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let bytes = z.to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(bytes.iter()) {
                *dst = *src;
            }
        }
    }

    pub(crate) fn log(&mut self, record: LogRecord) {
        self.logs.push(record);
    }
}

pub(crate) type SharedRef = Rc<RefCell<Shared>>;

/// What the module's local reply (`proxy_send_local_response`) asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Envoy's "response code details" (`%RESPONSE_CODE_DETAILS%`); empty when the module set none.
    pub details: String,
    /// `-1` for a plain HTTP reply.
    pub grpc_status: i32,
}

impl LocalResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP stream context inside a VM.
#[derive(Default)]
pub(crate) struct StreamState {
    pub(crate) request_headers: Headers,
    pub(crate) request_body: Vec<u8>,
    pub(crate) request_trailers: Headers,
    pub(crate) response_headers: Headers,
    pub(crate) response_body: Vec<u8>,
    pub(crate) response_trailers: Headers,
    pub(crate) properties: HashMap<Vec<String>, Vec<u8>>,
    pub(crate) local_response: Option<LocalResponse>,
    pub(crate) request_paused: bool,
    pub(crate) response_paused: bool,
    pub(crate) continue_request: bool,
    pub(crate) continue_response: bool,
    pub(crate) request_resumed: bool,
    pub(crate) response_resumed: bool,
    pub(crate) forwarded_request_headers: Option<Headers>,
    pub(crate) forwarded_request_body: Vec<u8>,
    pub(crate) forwarded_response_body: Vec<u8>,
    pub(crate) buffering_request_body: bool,
    pub(crate) buffering_response_body: bool,
    pub(crate) reset: bool,
    pub(crate) completed: bool,
    /// `Pause` from `on_request_headers` is Envoy's `StopAllIterationAndWatermark`: body
    /// chunks are withheld from the module until it resumes.
    pub(crate) stopped_all: bool,
    pub(crate) withheld_request_body: Vec<u8>,
    pub(crate) withheld_end_of_stream: Option<bool>,
    /// Which header maps exist yet. Envoy hands the module a map only once the proxy has it:
    /// response headers do not exist during the request phase.
    pub(crate) has_request_headers: bool,
    pub(crate) has_request_trailers: bool,
    pub(crate) has_response_headers: bool,
    pub(crate) has_response_trailers: bool,
}

/// The response of a call being delivered, readable during `proxy_on_http_call_response`.
pub(crate) struct CallResponse {
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Headers,
}

/// Per-VM state: the `wasmtime::Store` data.
pub(crate) struct VmState {
    pub(crate) id: VmId,
    pub(crate) shared: SharedRef,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) plugin_config: Vec<u8>,
    pub(crate) root_context: u32,
    pub(crate) next_context: u32,
    /// The context host calls act on: the one the host called into, or the one set with
    /// `proxy_set_effective_context`.
    pub(crate) effective: u32,
    pub(crate) streams: HashMap<u32, StreamState>,
    pub(crate) call_response: Option<CallResponse>,
    /// `proxy_get_status`: code and message of the last call outcome.
    pub(crate) status: (u32, Vec<u8>),
    /// True only during `proxy_on_configure`: Envoy exposes the plugin configuration buffer
    /// only then (`temp_plugin_` in `context.cc`).
    pub(crate) configuring: bool,
    pub(crate) tick_period: Option<Duration>,
    pub(crate) next_tick_ns: Option<u64>,
    pub(crate) stdio: [Vec<u8>; 2],
}

impl VmState {
    /// The effective context's stream, unless that stream is completed.
    pub(crate) fn stream_mut(&mut self) -> Option<&mut StreamState> {
        self.streams
            .get_mut(&self.effective)
            .filter(|s| !s.completed)
    }

    pub(crate) fn stream(&self) -> Option<&StreamState> {
        self.streams.get(&self.effective).filter(|s| !s.completed)
    }

    pub(crate) fn is_live_context(&self, id: u32) -> bool {
        id == self.root_context || self.streams.get(&id).is_some_and(|s| !s.completed)
    }
}

pub(crate) fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}
