//! The host side of the proxy-wasm ABI 0.2.1 (`env` imports), with Envoy's semantics where the
//! specification leaves a choice (statuses, header-map and buffer edits, `proxy_http_call`).

use crate::abi::{decode_pairs, BufferType, Headers, LogLevel, MapType, MetricKind, Status};
use crate::memory::{copy_out, finish, read, read_string, write_u32, write_u64, Fail, HostResult};
use crate::state::{
    header_value, CallId, DispatchedCall, LogRecord, LogSource, Metric, MetricValue, Queue, VmState,
};
use std::time::Duration;
use wasmtime::{Caller, Linker};

type C<'a, 'b> = &'a mut Caller<'b, VmState>;

const ENV: &str = "env";

/// `StreamType` of `proxy_continue_stream` / `proxy_close_stream`.
const STREAM_HTTP_REQUEST: i32 = 0;
const STREAM_HTTP_RESPONSE: i32 = 1;

macro_rules! host {
    ($linker:expr, $name:literal, |$c:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {
        $linker.func_wrap(ENV, $name, |mut caller: Caller<'_, VmState>, $($arg: $ty),*| {
            let $c = &mut caller;
            *$c.data().shared.borrow_mut().host_calls.entry($name).or_insert(0) += 1;
            #[allow(clippy::redundant_closure_call)]
            let result = (|| -> HostResult<Status> { $body })();
            finish(result)
        })?
    };
}

pub(crate) fn define(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    host!(
        linker,
        "proxy_log",
        |c, level: i32, ptr: i32, len: i32| log(c, level, ptr, len)
    );
    host!(linker, "proxy_get_log_level", |c, out: i32| {
        let level = c.data().shared.borrow().log_level;
        write_u32(c, out, level.raw() as u32).map(|()| Status::Ok)
    });
    host!(
        linker,
        "proxy_get_current_time_nanoseconds",
        |c, out: i32| {
            let now = c.data().shared.borrow().realtime_ns;
            write_u64(c, out, now).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_set_tick_period_milliseconds",
        |c, period: i32| {
            set_tick_period(c.data_mut(), period as u32);
            Ok(Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_get_buffer_bytes",
        |c, kind: i32, start: i32, max: i32, ptr: i32, size: i32| {
            get_buffer(c, kind, start, max, ptr, size)
        }
    );
    host!(
        linker,
        "proxy_set_buffer_bytes",
        |c, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            set_buffer(c, kind, start, size, ptr, len)
        }
    );
    host!(
        linker,
        "proxy_get_header_map_pairs",
        |c, kind: i32, ptr: i32, size: i32| {
            let pairs = with_map(c.data_mut(), kind, |map| Ok(crate::abi::encode_pairs(map)));
            match pairs {
                Ok(bytes) => copy_out(c, &bytes, ptr, size).map(|()| Status::Ok),
                // Envoy's `getHeaderMapPairs`: a map that does not exist reads as empty.
                Err(Fail::Status(Status::BadArgument)) => {
                    copy_out(c, &[], ptr, size).map(|()| Status::Ok)
                }
                Err(other) => Err(other),
            }
        }
    );
    host!(
        linker,
        "proxy_set_header_map_pairs",
        |c, kind: i32, ptr: i32, len: i32| {
            let pairs = decode_pairs(&read(c, ptr, len)?).map_err(|_| Status::BadArgument)?;
            with_map(c.data_mut(), kind, |map| {
                map.clear();
                for (name, value) in pairs {
                    map.push((lower(&name), lossy(&value)));
                }
                Ok(Status::Ok)
            })
        }
    );
    host!(
        linker,
        "proxy_get_header_map_value",
        |c, kind: i32, kp: i32, ks: i32, ptr: i32, size: i32| {
            let key = read_string(c, kp, ks)?;
            let value = with_map(c.data_mut(), kind, |map| {
                header_value(map, &key)
                    .map(str::to_owned)
                    .ok_or(Fail::Status(Status::NotFound))
            })?;
            copy_out(c, value.as_bytes(), ptr, size).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_add_header_map_value",
        |c, kind: i32, kp: i32, ks: i32, vp: i32, vs: i32| {
            let (key, value) = (read(c, kp, ks)?, read(c, vp, vs)?);
            with_map(c.data_mut(), kind, |map| {
                map.push((lower(&key), lossy(&value)));
                Ok(Status::Ok)
            })
        }
    );
    host!(
        linker,
        "proxy_replace_header_map_value",
        |c, kind: i32, kp: i32, ks: i32, vp: i32, vs: i32| {
            let (key, value) = (lower(&read(c, kp, ks)?), lossy(&read(c, vp, vs)?));
            with_map(c.data_mut(), kind, |map| {
                // Envoy's `setCopy`: the first entry takes the value, later duplicates go.
                match map
                    .iter()
                    .position(|(name, _)| name.eq_ignore_ascii_case(&key))
                {
                    Some(first) => {
                        let mut index = 0;
                        map.retain(|(name, _)| {
                            let keep = index <= first || !name.eq_ignore_ascii_case(&key);
                            index += 1;
                            keep
                        });
                        if let Some(entry) = map.get_mut(first) {
                            entry.1 = value;
                        }
                    }
                    None => map.push((key, value)),
                }
                Ok(Status::Ok)
            })
        }
    );
    host!(
        linker,
        "proxy_remove_header_map_value",
        |c, kind: i32, kp: i32, ks: i32| {
            let key = read_string(c, kp, ks)?;
            with_map(c.data_mut(), kind, |map| {
                map.retain(|(name, _)| !name.eq_ignore_ascii_case(&key));
                Ok(Status::Ok)
            })
        }
    );
    host!(
        linker,
        "proxy_get_property",
        |c, pp: i32, ps: i32, ptr: i32, size: i32| {
            let path = property_path(&read(c, pp, ps)?);
            c.data()
                .shared
                .borrow_mut()
                .property_reads
                .push(path.join("."));
            let value = crate::properties::get(c.data(), &path).ok_or(Status::NotFound)?;
            copy_out(c, &value, ptr, size).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_set_property",
        |c, pp: i32, ps: i32, vp: i32, vs: i32| {
            let path = property_path(&read(c, pp, ps)?);
            let value = read(c, vp, vs)?;
            // Envoy keeps it in the stream's filter state; the root context has none.
            let stream = c.data_mut().stream_mut().ok_or(Status::NotFound)?;
            stream.properties.insert(path, value);
            Ok(Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, ks: i32, ptr: i32, size: i32, cas_ptr: i32| {
            let key = read_string(c, kp, ks)?;
            let entry = c.data().shared.borrow().shared_data.get(&key).cloned();
            let (value, cas) = entry.ok_or(Status::NotFound)?;
            copy_out(c, &value, ptr, size)?;
            write_u32(c, cas_ptr, cas).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_set_shared_data",
        |c, kp: i32, ks: i32, vp: i32, vs: i32, cas: i32| {
            let key = read_string(c, kp, ks)?;
            let value = read(c, vp, vs)?;
            let mut shared = c.data().shared.borrow_mut();
            // proxy-wasm-cpp-host `SharedData::set`: a CAS of 0 writes unconditionally; a
            // non-zero CAS must match the stored one; a missing key is created whatever the CAS.
            let current = shared.shared_data.get(&key).map(|(_, cas)| *cas);
            if let Some(current) = current {
                if cas != 0 && cas as u32 != current {
                    return Ok(Status::CasMismatch);
                }
            }
            let next = shared.next_cas();
            shared.shared_data.insert(key, (value, next));
            Ok(Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_register_shared_queue",
        |c, np: i32, ns: i32, out: i32| {
            let name = read_string(c, np, ns)?;
            // proxy-wasm-cpp-host registers the queue on the root context: `proxy_on_queue_ready`
            // is a root-context callback even when a stream registered it.
            let (vm, context_id) = (c.data().id, c.data().root_context);
            let id = {
                let mut shared = c.data().shared.borrow_mut();
                let next = u32::try_from(shared.queue_names.len() + 1)
                    .map_err(|_| Status::InternalFailure)?;
                let id = *shared.queue_names.entry(name).or_insert(next);
                let queue = shared.queues.entry(id).or_insert_with(|| Queue {
                    owner: vm,
                    context_id,
                    items: Default::default(),
                });
                queue.owner = vm;
                queue.context_id = context_id;
                id
            };
            write_u32(c, out, id).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_resolve_shared_queue",
        |c, vp: i32, vs: i32, np: i32, ns: i32, out: i32| {
            let (vm_id, name) = (read_string(c, vp, vs)?, read_string(c, np, ns)?);
            let id = {
                let shared = c.data().shared.borrow();
                let same_vm = vm_id == crate::properties::host_vm_id(&shared);
                same_vm
                    .then(|| shared.queue_names.get(&name).copied())
                    .flatten()
            };
            write_u32(c, out, id.ok_or(Status::NotFound)?).map(|()| Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_enqueue_shared_queue",
        |c, id: i32, vp: i32, vs: i32| {
            let value = read(c, vp, vs)?;
            let mut shared = c.data().shared.borrow_mut();
            let queue = shared
                .queues
                .get_mut(&(id as u32))
                .ok_or(Status::NotFound)?;
            queue.items.push_back(value);
            let ready = (queue.owner, queue.context_id, id as u32);
            shared.queue_ready.push(ready);
            Ok(Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_dequeue_shared_queue",
        |c, id: i32, ptr: i32, size: i32| {
            let item = {
                let mut shared = c.data().shared.borrow_mut();
                let queue = shared
                    .queues
                    .get_mut(&(id as u32))
                    .ok_or(Status::NotFound)?;
                queue.items.pop_front().ok_or(Status::Empty)?
            };
            copy_out(c, &item, ptr, size).map(|()| Status::Ok)
        }
    );
    host!(linker, "proxy_continue_stream", |c, kind: i32| {
        let stream = c.data_mut().stream_mut().ok_or(Status::BadArgument)?;
        match kind {
            STREAM_HTTP_REQUEST => stream.continue_request = true,
            STREAM_HTTP_RESPONSE => stream.continue_response = true,
            _ => return Ok(Status::BadArgument),
        }
        Ok(Status::Ok)
    });
    host!(linker, "proxy_close_stream", |c, kind: i32| {
        let stream = c.data_mut().stream_mut().ok_or(Status::BadArgument)?;
        match kind {
            STREAM_HTTP_REQUEST | STREAM_HTTP_RESPONSE => stream.reset = true,
            _ => return Ok(Status::BadArgument),
        }
        Ok(Status::Ok)
    });
    host!(
        linker,
        "proxy_send_local_response",
        |c, status: i32, dp: i32, ds: i32, bp: i32, bs: i32, hp: i32, hs: i32, grpc: i32| {
            let details = lossy(&read(c, dp, ds)?);
            let body = read(c, bp, bs)?;
            let headers = decode_pairs(&read(c, hp, hs)?).map_err(|_| Status::BadArgument)?;
            let headers = headers.iter().map(|(n, v)| (lower(n), lossy(v))).collect();
            let stream = c.data_mut().stream_mut().ok_or(Status::BadArgument)?;
            // Envoy answers once; a second reply on the same stream is ignored.
            if stream.local_response.is_none() {
                stream.local_response = Some(crate::state::LocalResponse {
                    status: status as u32,
                    headers,
                    body,
                    details,
                    grpc_status: grpc,
                });
            }
            Ok(Status::Ok)
        }
    );
    host!(
        linker,
        "proxy_http_call",
        |c,
         up: i32,
         us: i32,
         hp: i32,
         hs: i32,
         bp: i32,
         bs: i32,
         tp: i32,
         ts: i32,
         timeout: i32,
         out: i32| {
            http_call(
                c,
                (up, us),
                (hp, hs),
                (bp, bs),
                (tp, ts),
                timeout as u32,
                out,
            )
        }
    );
    host!(
        linker,
        "proxy_get_status",
        |c, code_ptr: i32, ptr: i32, size: i32| {
            let (code, message) = c.data().status.clone();
            write_u32(c, code_ptr, code)?;
            copy_out(c, &message, ptr, size).map(|()| Status::Ok)
        }
    );
    host!(linker, "proxy_set_effective_context", |c, id: i32| {
        let state = c.data_mut();
        let id = id as u32;
        if state.is_live_context(id) {
            state.effective = id;
            Ok(Status::Ok)
        } else {
            Ok(Status::BadArgument)
        }
    });
    host!(
        linker,
        "proxy_call_foreign_function",
        |c, np: i32, ns: i32, ap: i32, asz: i32, ptr: i32, size: i32| {
            let name = read_string(c, np, ns)?;
            let args = read(c, ap, asz)?;
            let result = {
                let shared = c.data().shared.borrow();
                let function = shared.foreign.get(&name).ok_or(Status::NotFound)?;
                function(&args)
            };
            let bytes = result?;
            copy_out(c, &bytes, ptr, size).map(|()| Status::Ok)
        }
    );
    host!(linker, "proxy_done", |_c| Ok(Status::Ok));
    host!(
        linker,
        "proxy_define_metric",
        |c, kind: i32, np: i32, ns: i32, out: i32| {
            let kind = MetricKind::from_raw(kind).ok_or(Status::BadArgument)?;
            let name = read_string(c, np, ns)?;
            let id = {
                let mut shared = c.data().shared.borrow_mut();
                if let Some(existing) = shared.metrics.get(&name) {
                    if existing.kind != kind {
                        return Ok(Status::BadArgument);
                    }
                } else {
                    let value = match kind {
                        MetricKind::Counter => MetricValue::Counter(0),
                        MetricKind::Gauge => MetricValue::Gauge(0),
                        MetricKind::Histogram => MetricValue::Histogram(Vec::new()),
                    };
                    shared.metrics.insert(name.clone(), Metric { kind, value });
                }
                shared.next_metric_id += 1;
                let id = shared.next_metric_id;
                shared.metric_ids.insert(id, name);
                id
            };
            write_u32(c, out, id).map(|()| Status::Ok)
        }
    );
    host!(linker, "proxy_get_metric", |c, id: i32, out: i32| {
        let value = {
            let shared = c.data().shared.borrow();
            let name = shared
                .metric_ids
                .get(&(id as u32))
                .ok_or(Status::NotFound)?;
            match shared.metrics.get(name).map(|m| &m.value) {
                Some(MetricValue::Counter(v)) => *v,
                Some(MetricValue::Gauge(v)) => *v as u64,
                Some(MetricValue::Histogram(_)) => return Ok(Status::BadArgument),
                None => return Ok(Status::NotFound),
            }
        };
        write_u64(c, out, value).map(|()| Status::Ok)
    });
    host!(linker, "proxy_record_metric", |c, id: i32, value: i64| {
        with_metric(c.data(), id, |metric| {
            match metric {
                MetricValue::Counter(v) => *v = v.saturating_add(value as u64),
                MetricValue::Gauge(v) => *v = value,
                MetricValue::Histogram(samples) => samples.push(value as u64),
            }
            Status::Ok
        })
    });
    host!(
        linker,
        "proxy_increment_metric",
        |c, id: i32, offset: i64| {
            with_metric(c.data(), id, |metric| match metric {
                // Envoy counters only go up.
                MetricValue::Counter(v) if offset > 0 => {
                    *v = v.saturating_add(offset as u64);
                    Status::Ok
                }
                MetricValue::Gauge(v) => {
                    *v = v.saturating_add(offset);
                    Status::Ok
                }
                _ => Status::BadArgument,
            })
        }
    );
    for name in ["proxy_grpc_cancel", "proxy_grpc_close"] {
        linker.func_wrap(
            ENV,
            name,
            move |_: Caller<'_, VmState>, _: i32| -> wasmtime::Result<i32> {
                Err(unsupported(name))
            },
        )?;
    }
    linker.func_wrap(
        ENV,
        "proxy_grpc_send",
        |_: Caller<'_, VmState>, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(unsupported("proxy_grpc_send"))
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_stream",
        |_: Caller<'_, VmState>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> wasmtime::Result<i32> { Err(unsupported("proxy_grpc_stream")) },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_call",
        |_: Caller<'_, VmState>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> wasmtime::Result<i32> { Err(unsupported("proxy_grpc_call")) },
    )?;
    Ok(())
}

/// gRPC callouts are declared (the SDK's traits import them) but a call traps: a test that
/// relies on them must know the harness cannot answer.
fn unsupported(name: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "{name}: gRPC callouts are not supported by this host"
    ))
}

fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Property paths arrive as segments joined by NUL (the SDK's `serialize_property_path`).
fn property_path(bytes: &[u8]) -> Vec<String> {
    bytes.split(|b| *b == 0).map(lossy).collect()
}

fn log(c: C, level: i32, ptr: i32, len: i32) -> HostResult<Status> {
    let level = LogLevel::from_raw(level).ok_or(Status::BadArgument)?;
    let message = lossy(&read(c, ptr, len)?);
    let vm = c.data().id;
    let mut shared = c.data().shared.borrow_mut();
    if level >= shared.log_level {
        shared.log(LogRecord {
            vm,
            level,
            source: LogSource::Proxy,
            message,
        });
    }
    Ok(Status::Ok)
}

pub(crate) fn set_tick_period(state: &mut VmState, period_ms: u32) {
    if period_ms == 0 {
        state.tick_period = None;
        state.next_tick_ns = None;
    } else {
        let period = Duration::from_millis(u64::from(period_ms));
        let now = state.shared.borrow().monotonic_ns;
        state.tick_period = Some(period);
        state.next_tick_ns = Some(now.saturating_add(period.as_nanos() as u64));
    }
}

/// Runs `f` on a header map. A map that does not exist in the current context (response
/// headers during the request phase, call-response headers outside a successful call's
/// callback, any stream map on the root context) is `BadArgument`, as in Envoy's `context.cc`;
/// the Rust SDK panics on that status for single-value reads.
fn with_map<T>(
    state: &mut VmState,
    kind: i32,
    f: impl FnOnce(&mut Headers) -> HostResult<T>,
) -> HostResult<T> {
    let kind = MapType::from_raw(kind).ok_or(Status::BadArgument)?;
    let map = match kind {
        MapType::CallResponseHeaders => state.call_response.as_mut().map(|r| &mut r.headers),
        MapType::CallResponseTrailers => state.call_response.as_mut().map(|r| &mut r.trailers),
        MapType::GrpcInitialMetadata | MapType::GrpcTrailingMetadata => None,
        MapType::RequestHeaders => state
            .stream_mut()
            .filter(|s| s.has_request_headers)
            .map(|s| &mut s.request_headers),
        MapType::RequestTrailers => state
            .stream_mut()
            .filter(|s| s.has_request_trailers)
            .map(|s| &mut s.request_trailers),
        MapType::ResponseHeaders => state
            .stream_mut()
            .filter(|s| s.has_response_headers)
            .map(|s| &mut s.response_headers),
        MapType::ResponseTrailers => state
            .stream_mut()
            .filter(|s| s.has_response_trailers)
            .map(|s| &mut s.response_trailers),
    };
    f(map.ok_or(Status::BadArgument)?)
}

fn buffer(state: &mut VmState, kind: BufferType) -> Option<&mut Vec<u8>> {
    match kind {
        BufferType::VmConfiguration => Some(&mut state.vm_config),
        BufferType::PluginConfiguration if state.configuring => Some(&mut state.plugin_config),
        BufferType::PluginConfiguration => None,
        BufferType::CallResponseBody => state.call_response.as_mut().map(|r| &mut r.body),
        BufferType::RequestBody => state.stream_mut().map(|s| &mut s.request_body),
        BufferType::ResponseBody => state.stream_mut().map(|s| &mut s.response_body),
        BufferType::DownstreamData
        | BufferType::UpstreamData
        | BufferType::GrpcReceive
        | BufferType::CallData => None,
    }
}

fn get_buffer(c: C, kind: i32, start: i32, max: i32, ptr: i32, size: i32) -> HostResult<Status> {
    let kind = BufferType::from_raw(kind).ok_or(Status::BadArgument)?;
    let (start, max) = (start as u32 as usize, max as u32 as usize);
    let bytes = {
        let data = buffer(c.data_mut(), kind).ok_or(Status::NotFound)?;
        let end = start.saturating_add(max).min(data.len());
        data.get(start..end).unwrap_or_default().to_vec()
    };
    copy_out(c, &bytes, ptr, size).map(|()| Status::Ok)
}

/// Envoy's `Buffer::copyFrom` rules for bodies: start 0 drains the first `size` bytes and
/// prepends the data (size 0 prepends, size = length replaces); a start at or past the end
/// appends; anything else is BadArgument.
fn set_buffer(c: C, kind: i32, start: i32, size: i32, ptr: i32, len: i32) -> HostResult<Status> {
    let kind = BufferType::from_raw(kind).ok_or(Status::BadArgument)?;
    let bytes = read(c, ptr, len)?;
    let data = buffer(c.data_mut(), kind).ok_or(Status::NotFound)?;
    if !matches!(kind, BufferType::RequestBody | BufferType::ResponseBody) {
        // Configurations and call responses exist but are read-only in Envoy.
        return Ok(Status::BadArgument);
    }
    let (start, size) = (start as u32 as usize, size as u32 as usize);
    if start == 0 {
        let kept = data.get(size.min(data.len())..).unwrap_or_default();
        let mut joined = bytes;
        joined.extend_from_slice(kept);
        *data = joined;
    } else if start >= data.len() {
        data.extend_from_slice(&bytes);
    } else {
        return Ok(Status::BadArgument);
    }
    Ok(Status::Ok)
}

fn with_metric(
    state: &VmState,
    id: i32,
    f: impl FnOnce(&mut MetricValue) -> Status,
) -> HostResult<Status> {
    let mut shared = state.shared.borrow_mut();
    let name = shared
        .metric_ids
        .get(&(id as u32))
        .cloned()
        .ok_or(Status::NotFound)?;
    let metric = shared.metrics.get_mut(&name).ok_or(Status::NotFound)?;
    Ok(f(&mut metric.value))
}

/// Envoy's `Context::httpCall`: the upstream must be a known cluster, and `:method`, `:path`
/// and `:authority` must be present; otherwise `BadArgument` before anything is sent.
fn http_call(
    c: C,
    upstream: (i32, i32),
    headers: (i32, i32),
    body: (i32, i32),
    trailers: (i32, i32),
    timeout_ms: u32,
    token_out: i32,
) -> HostResult<Status> {
    if (timeout_ms as i32) < 0 {
        return Ok(Status::BadArgument);
    }
    let cluster = lossy(&read(c, upstream.0, upstream.1)?);
    let mut headers = to_headers(&read(c, headers.0, headers.1)?)?;
    let body = read(c, body.0, body.1)?;
    let trailers = to_headers(&read(c, trailers.0, trailers.1)?)?;
    let (vm, context_id) = (c.data().id, c.data().effective);
    let token = {
        let mut shared = c.data().shared.borrow_mut();
        if !shared.clusters.contains(&cluster) {
            return Ok(Status::BadArgument);
        }
        let required = [":method", ":path", ":authority"];
        if required
            .iter()
            .any(|name| header_value(&headers, name).is_none())
        {
            return Ok(Status::BadArgument);
        }
        if !body.is_empty() {
            headers.push(("content-length".to_string(), body.len().to_string()));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let deadline_ns = (timeout_ms > 0).then(|| {
            shared
                .monotonic_ns
                .saturating_add(timeout.as_nanos() as u64)
        });
        shared.next_token = shared.next_token.wrapping_add(1).max(1);
        let token = shared.next_token;
        shared.calls.push(DispatchedCall {
            id: CallId { vm, token },
            vm,
            context_id,
            cluster,
            headers,
            body,
            trailers,
            timeout,
            deadline_ns,
        });
        token
    };
    write_u32(c, token_out, token).map(|()| Status::Ok)
}

fn to_headers(bytes: &[u8]) -> HostResult<Headers> {
    let pairs = decode_pairs(bytes).map_err(|_| Status::BadArgument)?;
    // Envoy builds the request with lower-cased names (`buildRequestHeaderMapFromPairs`).
    Ok(pairs.iter().map(|(n, v)| (lower(n), lossy(v))).collect())
}
