//! The test-facing host: builder, VMs, clock, dispatched calls, metrics and logs.

use crate::abi::{Headers, LogLevel, MetricKind, Status};
use crate::error::{ConfigureRejected, HostError, StartError, StartPhase};
use crate::properties::{PLUGIN_NAME, PLUGIN_ROOT_ID, PLUGIN_VM_ID};
use crate::state::{
    CallId, CallResponse, DispatchedCall, LogRecord, MetricValue, Shared, SharedRef, VmId, VmState,
};
use crate::stream::HttpStream;
use crate::vm::{linker, load_module, Vm};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmtime::{Linker, Module};

/// Default wall clock: 2026-01-01T00:00:00Z. Fixed so a test's timestamps reproduce.
const DEFAULT_START_UNIX_SECONDS: u64 = 1_767_225_600;

/// Context id of each VM's root (plugin) context; proxy-wasm-cpp-host allocates ids from 1.
const ROOT_CONTEXT_ID: u32 = 1;

/// The body Envoy's router puts in the local reply for an upstream timeout
/// (`source/common/router/router.cc`, `onResponseTimeout`).
pub const ENVOY_TIMEOUT_BODY: &str = "upstream request timeout";

/// `WasmResult::BrokenConnection`: what `proxy_get_status` reports after a reset call.
const BROKEN_CONNECTION: u32 = 11;

/// Configures a [`Host`]. Start from [`Host::builder`].
pub struct HostBuilder {
    wasm: Option<PathBuf>,
    clusters: HashSet<String>,
    vm_config: Vec<u8>,
    vm_id: String,
    plugin_name: String,
    root_id: String,
    start_time: SystemTime,
    log_level: LogLevel,
    properties: HashMap<Vec<String>, Vec<u8>>,
    foreign: HashMap<String, crate::state::ForeignFunction>,
    seed: u64,
}

impl HostBuilder {
    /// The `.wasm` to load (compiled once per process per file).
    pub fn wasm(mut self, path: impl Into<PathBuf>) -> Self {
        self.wasm = Some(path.into());
        self
    }

    /// Envoy clusters `proxy_http_call` may target; any other name is `BadArgument`.
    pub fn clusters<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.clusters.extend(names.into_iter().map(Into::into));
        self
    }

    /// VM configuration (`vm_config.configuration`), read by `proxy_on_vm_start`.
    pub fn vm_config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.vm_config = bytes.into();
        self
    }

    /// `vm_config.vm_id`: VMs of one host share data under this id.
    pub fn vm_id(mut self, id: impl Into<String>) -> Self {
        self.vm_id = id.into();
        self
    }

    /// Plugin `name` (property `plugin_name`).
    pub fn plugin_name(mut self, name: impl Into<String>) -> Self {
        self.plugin_name = name.into();
        self
    }

    /// Plugin `root_id` (property `plugin_root_id`).
    pub fn root_id(mut self, id: impl Into<String>) -> Self {
        self.root_id = id.into();
        self
    }

    /// Wall-clock time at start (default 2026-01-01T00:00:00Z).
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start_time = time;
        self
    }

    /// The level `proxy_get_log_level` reports; lower `proxy_log` lines are dropped, as Envoy
    /// drops them. Default `Trace` (keep everything).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// A host-wide property (path segments, e.g. `&["node", "id"]`), visible to every context.
    pub fn property(mut self, path: &[&str], value: impl Into<Vec<u8>>) -> Self {
        self.properties.insert(segments(path), value.into());
        self
    }

    /// Registers a function for `proxy_call_foreign_function`; unregistered names are
    /// `NotFound`, as in Envoy.
    pub fn foreign_function(
        mut self,
        name: impl Into<String>,
        function: impl Fn(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) -> Self {
        self.foreign.insert(name.into(), Box::new(function));
        self
    }

    /// Seed of the deterministic `random_get` stream.
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Compiles (or reuses) the module. No VM runs until [`Host::start_vm`].
    pub fn build(self) -> Result<Host, HostError> {
        let path = self.wasm.ok_or_else(|| HostError::Read {
            path: PathBuf::new(),
            message: "no module: call HostBuilder::wasm(path)".to_string(),
        })?;
        let module = load_module(&path)?;
        let mut properties = self.properties;
        properties.insert(segments(&[PLUGIN_NAME]), self.plugin_name.into_bytes());
        properties.insert(segments(&[PLUGIN_ROOT_ID]), self.root_id.into_bytes());
        properties.insert(segments(&[PLUGIN_VM_ID]), self.vm_id.into_bytes());
        let start = self
            .start_time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let shared = Shared {
            realtime_ns: nanos(start),
            // Envoy's monotonic clock does not start at zero; neither does ours.
            monotonic_ns: nanos(Duration::from_secs(1)),
            clusters: self.clusters,
            shared_data: HashMap::new(),
            next_cas: 1,
            queues: HashMap::new(),
            queue_names: HashMap::new(),
            queue_ready: Vec::new(),
            metrics: HashMap::new(),
            metric_ids: HashMap::new(),
            next_metric_id: 0,
            calls: Vec::new(),
            next_token: 0,
            foreign: self.foreign,
            logs: Vec::new(),
            log_level: self.log_level,
            host_properties: properties,
            rng: self.seed,
            host_calls: Default::default(),
            property_reads: Default::default(),
        };
        let inner = Inner {
            module,
            linker: linker()?,
            shared: Rc::new(RefCell::new(shared)),
            vms: Vec::new(),
            next_vm: 0,
            vm_config: self.vm_config,
        };
        Ok(Host {
            inner: Rc::new(RefCell::new(inner)),
        })
    }
}

fn segments(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) struct Inner {
    module: Module,
    linker: Linker<VmState>,
    pub(crate) shared: SharedRef,
    vms: Vec<Vm>,
    next_vm: usize,
    vm_config: Vec<u8>,
}

impl Inner {
    pub(crate) fn vm(&mut self, id: VmId) -> Result<&mut Vm, HostError> {
        self.vms
            .iter_mut()
            .find(|vm| vm.id() == id)
            .ok_or(HostError::UnknownVm(id))
    }

    /// Calls a callback, then applies what the module asked for during it (resumes are
    /// deferred until the VM returns, as Envoy defers them) and delivers queue notifications.
    pub(crate) fn call(
        &mut self,
        vm: VmId,
        context: u32,
        name: &str,
        args: &[i32],
    ) -> Result<Option<i32>, HostError> {
        let result = self.vm(vm)?.call_in(context, name, args)?;
        self.settle()?;
        Ok(result)
    }

    fn settle(&mut self) -> Result<(), HostError> {
        let mut withheld = Vec::new();
        for vm in &mut self.vms {
            let id = vm.id();
            for (context, stream) in vm.state_mut().streams.iter_mut() {
                if std::mem::take(&mut stream.continue_request)
                    && stream.request_paused
                    && stream.local_response.is_none()
                {
                    stream.request_paused = false;
                    stream.request_resumed = true;
                    if stream.forwarded_request_headers.is_none() {
                        stream.forwarded_request_headers = Some(stream.request_headers.clone());
                    }
                    stream.stopped_all = false;
                    if std::mem::take(&mut stream.buffering_request_body) {
                        let body = stream.request_body.clone();
                        stream.forwarded_request_body.extend_from_slice(&body);
                    }
                    if let Some(end_of_stream) = stream.withheld_end_of_stream.take() {
                        let body = std::mem::take(&mut stream.withheld_request_body);
                        withheld.push((id, *context, body, end_of_stream));
                    }
                }
                if std::mem::take(&mut stream.continue_response) && stream.response_paused {
                    stream.response_paused = false;
                    stream.response_resumed = true;
                }
            }
        }
        for (vm, context, body, end_of_stream) in withheld {
            crate::stream::deliver_request_body(self, vm, context, &body, end_of_stream)?;
        }
        loop {
            let next = {
                let mut shared = self.shared.borrow_mut();
                if shared.queue_ready.is_empty() {
                    None
                } else {
                    Some(shared.queue_ready.remove(0))
                }
            };
            let Some((vm, context, queue)) = next else {
                return Ok(());
            };
            self.vm(vm)?.call_in(
                context,
                "proxy_on_queue_ready",
                &[context as i32, queue as i32],
            )?;
        }
    }
}

/// A mock proxy-wasm host: one module, any number of VMs sharing one data store, one clock,
/// one set of clusters, metrics and logs (Envoy: one process, one VM per worker thread).
/// The module export that reports counts a VM holds back between ticks.
const REPORT_METRICS_EXPORT: &str = "claimcheck_report_metrics";

pub struct Host {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

impl Host {
    pub fn builder() -> HostBuilder {
        HostBuilder {
            wasm: None,
            clusters: HashSet::new(),
            vm_config: Vec::new(),
            vm_id: String::new(),
            plugin_name: String::new(),
            root_id: String::new(),
            start_time: UNIX_EPOCH + Duration::from_secs(DEFAULT_START_UNIX_SECONDS),
            log_level: LogLevel::Trace,
            properties: HashMap::new(),
            foreign: HashMap::new(),
            seed: 0,
        }
    }

    /// Starts a VM the way Envoy starts a worker's plugin: instantiate, `_initialize`,
    /// `proxy_on_context_create(root, 0)`, `proxy_on_vm_start`, `proxy_on_configure`.
    /// A `false` from either callback is [`StartError::Rejected`] with the VM's logs; the VM
    /// is then discarded, as Envoy discards it.
    pub fn start_vm(&self, plugin_config: impl AsRef<[u8]>) -> Result<VmId, StartError> {
        let mut inner = self.inner.borrow_mut();
        let id = VmId(inner.next_vm);
        inner.next_vm += 1;
        let first_log = inner.shared.borrow().logs.len();
        let state = VmState {
            id,
            shared: inner.shared.clone(),
            vm_config: inner.vm_config.clone(),
            plugin_config: plugin_config.as_ref().to_vec(),
            root_context: ROOT_CONTEXT_ID,
            next_context: ROOT_CONTEXT_ID + 1,
            effective: ROOT_CONTEXT_ID,
            streams: HashMap::new(),
            call_response: None,
            status: (0, Vec::new()),
            configuring: false,
            tick_period: None,
            next_tick_ns: None,
            stdio: [Vec::new(), Vec::new()],
        };
        let vm = Vm::new(&inner.module, &inner.linker, state)?;
        inner.vms.push(vm);
        let root = ROOT_CONTEXT_ID as i32;
        let vm_config_len = inner.vm_config.len() as i32;
        let config_len = plugin_config.as_ref().len() as i32;
        let steps: [(&str, &[i32], Option<StartPhase>); 3] = [
            ("proxy_on_context_create", &[root, 0], None),
            (
                "proxy_on_vm_start",
                &[root, vm_config_len],
                Some(StartPhase::VmStart),
            ),
            (
                "proxy_on_configure",
                &[root, config_len],
                Some(StartPhase::Configure),
            ),
        ];
        for (callback, args, phase) in steps {
            let configuring = phase == Some(StartPhase::Configure);
            if let Ok(vm) = inner.vm(id) {
                vm.state_mut().configuring = configuring;
            }
            let outcome = inner.call(id, ROOT_CONTEXT_ID, callback, args);
            if let Ok(vm) = inner.vm(id) {
                vm.state_mut().configuring = false;
            }
            let refused = match (outcome, phase) {
                (Ok(Some(0)), Some(phase)) => Some(phase),
                (Ok(_), _) => None,
                (Err(error), _) => {
                    inner.vms.retain(|vm| vm.id() != id);
                    return Err(StartError::Host(error));
                }
            };
            if let Some(phase) = refused {
                inner.vms.retain(|vm| vm.id() != id);
                let logs = inner
                    .shared
                    .borrow()
                    .logs
                    .iter()
                    .skip(first_log)
                    .cloned()
                    .collect();
                return Err(StartError::Rejected(ConfigureRejected {
                    vm: id,
                    phase,
                    logs,
                }));
            }
        }
        Ok(id)
    }

    /// Ids of the running VMs, in start order.
    pub fn vms(&self) -> Vec<VmId> {
        self.inner.borrow().vms.iter().map(Vm::id).collect()
    }

    /// Opens an HTTP stream on a VM (`proxy_on_context_create(stream, root)`).
    pub fn http_stream(&self, vm: VmId) -> Result<HttpStream, HostError> {
        let mut inner = self.inner.borrow_mut();
        let context = {
            let state = inner.vm(vm)?.state_mut();
            let context = state.next_context;
            state.next_context += 1;
            state.streams.insert(context, Default::default());
            context
        };
        inner.call(
            vm,
            context,
            "proxy_on_context_create",
            &[context as i32, ROOT_CONTEXT_ID as i32],
        )?;
        Ok(HttpStream::new(self.inner.clone(), vm, context))
    }

    /// Current wall-clock time as the module sees it.
    pub fn now(&self) -> SystemTime {
        let ns = self.inner.borrow().shared.borrow().realtime_ns;
        UNIX_EPOCH + Duration::from_nanos(ns)
    }

    /// Moves the wall clock without firing ticks (the monotonic clock does not move): for
    /// tests of clock skew and expiry.
    pub fn set_wall_clock(&self, time: SystemTime) {
        let ns = nanos(time.duration_since(UNIX_EPOCH).unwrap_or_default());
        self.inner.borrow().shared.borrow_mut().realtime_ns = ns;
    }

    /// Advances both clocks by `by`. On the way, in time order, each event fires with the clock
    /// set to its time: a pending call whose timeout elapses is timed out as Envoy's router does
    /// (see [`Host::time_out`]), and each due tick runs `proxy_on_tick` (ties: calls first, then
    /// lower VM id first).
    pub fn advance(&self, by: Duration) -> Result<(), HostError> {
        let target = {
            let inner = self.inner.borrow();
            let now = inner.shared.borrow().monotonic_ns;
            now.saturating_add(nanos(by))
        };
        while let Some(event) = self.next_event(target) {
            set_monotonic(&self.inner.borrow().shared, event.at());
            match event {
                Event::Timeout { call, .. } => self.time_out(call)?,
                Event::Tick { at, vm } => self.fire_tick(vm, at)?,
            }
        }
        set_monotonic(&self.inner.borrow().shared, target);
        Ok(())
    }

    fn next_event(&self, until: u64) -> Option<Event> {
        let inner = self.inner.borrow();
        let shared = inner.shared.borrow();
        let timeout = shared
            .calls
            .iter()
            .filter_map(|c| c.deadline_ns.map(|at| (at, c.id)))
            .filter(|(at, _)| *at <= until)
            .min_by_key(|(at, _)| *at)
            .map(|(at, call)| Event::Timeout { at, call });
        let tick = inner
            .vms
            .iter()
            .filter_map(|vm| vm.state().next_tick_ns.map(|at| (at, vm.id())))
            .filter(|(at, _)| *at <= until)
            .min()
            .map(|(at, vm)| Event::Tick { at, vm });
        match (timeout, tick) {
            (Some(t), Some(k)) if k.at() < t.at() => Some(k),
            (Some(t), _) => Some(t),
            (None, k) => k,
        }
    }

    fn fire_tick(&self, vm: VmId, at: u64) -> Result<(), HostError> {
        let mut inner = self.inner.borrow_mut();
        let period = inner.vm(vm)?.state().tick_period;
        inner.call(
            vm,
            ROOT_CONTEXT_ID,
            "proxy_on_tick",
            &[ROOT_CONTEXT_ID as i32],
        )?;
        let state = inner.vm(vm)?.state_mut();
        // The module may have changed the period inside the tick; that reset the timer.
        if state.tick_period == period && state.next_tick_ns == Some(at) {
            state.next_tick_ns = period.map(|p| at.saturating_add(nanos(p)));
        }
        Ok(())
    }

    /// The tick period a VM's root context asked for, if any.
    pub fn tick_period(&self, vm: VmId) -> Result<Option<Duration>, HostError> {
        Ok(self.inner.borrow_mut().vm(vm)?.state().tick_period)
    }

    /// Calls `proxy_on_tick` on a VM now, whatever its period.
    pub fn tick(&self, vm: VmId) -> Result<(), HostError> {
        let mut inner = self.inner.borrow_mut();
        inner.call(
            vm,
            ROOT_CONTEXT_ID,
            "proxy_on_tick",
            &[ROOT_CONTEXT_ID as i32],
        )?;
        Ok(())
    }

    /// Calls awaiting an answer, in dispatch order, from every VM.
    pub fn pending_calls(&self) -> Vec<DispatchedCall> {
        self.inner.borrow().shared.borrow().calls.clone()
    }

    /// Answers a call with a response: `:status` first (added unless `headers` has it), then
    /// `headers`. Delivered as Envoy does: `proxy_on_http_call_response` on the dispatching
    /// VM's root context, with the header count, body size and trailer count.
    pub fn respond(
        &self,
        call: CallId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        let mut all: Headers = Vec::new();
        if !headers.iter().any(|(name, _)| *name == ":status") {
            all.push((":status".to_string(), status.to_string()));
        }
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self.deliver(
            call,
            Some(CallResponse {
                headers: all,
                body: body.to_vec(),
                trailers: Vec::new(),
            }),
        )
    }

    /// Fails a call as Envoy reports a reset or an unreachable cluster:
    /// `proxy_on_http_call_response(root, token, 0, 0, 0)` with no response behind it: the
    /// header list is empty, the body is absent, a single-header lookup is `BadArgument` (the
    /// Rust SDK panics on it: check `num_headers == 0` first), and `proxy_get_status` gives
    /// `BrokenConnection` / "reset" during the callback.
    pub fn fail(&self, call: CallId) -> Result<(), HostError> {
        self.deliver(call, None)
    }

    /// Times a call out as Envoy's router does: a `504` response with
    /// `content-type: text/plain` and the body [`ENVOY_TIMEOUT_BODY`].
    pub fn time_out(&self, call: CallId) -> Result<(), HostError> {
        let length = ENVOY_TIMEOUT_BODY.len().to_string();
        let headers = [
            ("content-length", length.as_str()),
            ("content-type", "text/plain"),
        ];
        self.respond(call, 504, &headers, ENVOY_TIMEOUT_BODY.as_bytes())
    }

    fn deliver(&self, call: CallId, response: Option<CallResponse>) -> Result<(), HostError> {
        let mut inner = self.inner.borrow_mut();
        {
            let mut shared = inner.shared.borrow_mut();
            let index = shared
                .calls
                .iter()
                .position(|c| c.id == call)
                .ok_or(HostError::UnknownCall(call))?;
            shared.calls.remove(index);
        }
        // On failure Envoy sets no response at all: header lookups are BadArgument, the
        // header list is empty, the body buffer is NotFound.
        let (counts, status) = match &response {
            Some(r) => (
                [r.headers.len(), r.body.len(), r.trailers.len()],
                (0, Vec::new()),
            ),
            None => ([0, 0, 0], (BROKEN_CONNECTION, b"reset".to_vec())),
        };
        {
            let state = inner.vm(call.vm)?.state_mut();
            state.call_response = response;
            state.status = status;
        }
        let root = ROOT_CONTEXT_ID as i32;
        let args = [
            root,
            call.token as i32,
            counts[0] as i32,
            counts[1] as i32,
            counts[2] as i32,
        ];
        let outcome = inner.call(
            call.vm,
            ROOT_CONTEXT_ID,
            "proxy_on_http_call_response",
            &args,
        );
        if let Ok(vm) = inner.vm(call.vm) {
            let state = vm.state_mut();
            state.call_response = None;
            state.status = (0, Vec::new());
        }
        outcome.map(|_| ())
    }

    /// A metric by the name the module defined (Envoy shows it with a `wasmcustom.` prefix).
    pub fn metric(&self, name: &str) -> Option<MetricValue> {
        self.collect_metrics();
        self.inner
            .borrow()
            .shared
            .borrow()
            .metrics
            .get(name)
            .map(|m| m.value.clone())
    }

    /// A counter's value; `None` if no counter of that name was defined.
    pub fn counter(&self, name: &str) -> Option<u64> {
        match self.metric(name) {
            Some(MetricValue::Counter(value)) => Some(value),
            _ => None,
        }
    }

    /// A gauge's value; `None` if no gauge of that name was defined.
    pub fn gauge(&self, name: &str) -> Option<i64> {
        match self.metric(name) {
            Some(MetricValue::Gauge(value)) => Some(value),
            _ => None,
        }
    }

    /// Has every VM hand over the counts it keeps until its next tick, through the module's
    /// `claimcheck_report_metrics` export where it has one (Envoy never calls it; without it
    /// a test would have to tick between a request and reading its counts). The host calls
    /// this makes are not counted: they belong to no request.
    fn collect_metrics(&self) {
        let mut inner = self.inner.borrow_mut();
        let counted = inner.shared.borrow().host_calls.clone();
        for vm in &mut inner.vms {
            let _ = vm.call_in(0, REPORT_METRICS_EXPORT, &[]);
        }
        inner.shared.borrow_mut().host_calls = counted;
    }

    /// Calls an export of `vm` taking no arguments (e.g. a module's own measurement hook);
    /// `None` when the module has no such export.
    pub fn call_export(&self, vm: VmId, name: &str) -> Result<Option<i32>, HostError> {
        let mut inner = self.inner.borrow_mut();
        inner.vm(vm)?.call_in(0, name, &[])
    }

    /// How often the modules called each proxy-wasm host function (`env` imports) since the
    /// host was built or [`Host::reset_host_calls`], by name.
    pub fn host_calls(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.inner.borrow().shared.borrow().host_calls.clone()
    }

    pub fn reset_host_calls(&self) {
        let inner = self.inner.borrow();
        let mut shared = inner.shared.borrow_mut();
        shared.host_calls.clear();
        shared.property_reads.clear();
    }

    /// Every property the modules read since the host was built or
    /// [`Host::reset_host_calls`], dot-joined (`connection.mtls`), in order.
    pub fn property_reads(&self) -> Vec<String> {
        self.inner.borrow().shared.borrow().property_reads.clone()
    }

    /// Names of all defined metrics with their kind, sorted by name.
    pub fn metric_names(&self) -> Vec<(String, MetricKind)> {
        self.collect_metrics();
        let inner = self.inner.borrow();
        let shared = inner.shared.borrow();
        let mut names: Vec<_> = shared
            .metrics
            .iter()
            .map(|(n, m)| (n.clone(), m.kind))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names
    }

    /// Every log line so far, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.inner.borrow().shared.borrow().logs.clone()
    }

    /// The messages logged at exactly `level`.
    pub fn logs_at(&self, level: LogLevel) -> Vec<String> {
        let inner = self.inner.borrow();
        let shared = inner.shared.borrow();
        shared
            .logs
            .iter()
            .filter(|r| r.level == level)
            .map(|r| r.message.clone())
            .collect()
    }

    /// True when some log line at `level` or above contains `needle`.
    pub fn logged(&self, level: LogLevel, needle: &str) -> bool {
        let inner = self.inner.borrow();
        let shared = inner.shared.borrow();
        shared
            .logs
            .iter()
            .any(|r| r.level >= level && r.message.contains(needle))
    }

    /// Forgets the logs so far.
    pub fn clear_logs(&self) {
        self.inner.borrow().shared.borrow_mut().logs.clear();
    }

    /// A shared-data entry: value and CAS.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.inner
            .borrow()
            .shared
            .borrow()
            .shared_data
            .get(key)
            .cloned()
    }

    /// Writes a shared-data entry as another VM would (unconditionally); returns the new CAS.
    pub fn set_shared_data(&self, key: &str, value: impl Into<Vec<u8>>) -> u32 {
        let inner = self.inner.borrow();
        let mut shared = inner.shared.borrow_mut();
        let cas = shared.next_cas();
        shared
            .shared_data
            .insert(key.to_string(), (value.into(), cas));
        cas
    }

    /// Sets a host-wide property (every context of every VM sees it).
    pub fn set_property(&self, path: &[&str], value: impl Into<Vec<u8>>) {
        let inner = self.inner.borrow();
        inner
            .shared
            .borrow_mut()
            .host_properties
            .insert(segments(path), value.into());
    }

    /// Declares one more cluster.
    pub fn add_cluster(&self, name: impl Into<String>) {
        self.inner
            .borrow()
            .shared
            .borrow_mut()
            .clusters
            .insert(name.into());
    }
}

/// Something `advance` fires at a monotonic time.
enum Event {
    Timeout { at: u64, call: CallId },
    Tick { at: u64, vm: VmId },
}

impl Event {
    fn at(&self) -> u64 {
        match self {
            Event::Timeout { at, .. } | Event::Tick { at, .. } => *at,
        }
    }
}

fn set_monotonic(shared: &SharedRef, at: u64) {
    let mut shared = shared.borrow_mut();
    let delta = at.saturating_sub(shared.monotonic_ns);
    shared.monotonic_ns = at;
    shared.realtime_ns = shared.realtime_ns.saturating_add(delta);
}
