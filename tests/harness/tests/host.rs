//! The harness against the `probe` fixture module: every host call, as a test sees it.

// Test helpers fail the test by panicking; that is their job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use claimcheck_harness::fixtures::probe_wasm;
use claimcheck_harness::{
    Action, Host, HostError, HttpStream, LogLevel, LogSource, MetricValue, StartError, StartPhase,
    Status, VmId,
};
use std::time::{Duration, UNIX_EPOCH};

fn host() -> Host {
    let wasm = probe_wasm().unwrap_or_else(|e| panic!("{e}"));
    Host::builder()
        .wasm(wasm)
        .clusters(["idp"])
        .vm_config("vm-config-text")
        .plugin_name("probe-plugin")
        .root_id("probe-root")
        .build()
        .unwrap()
}

fn started(config: &str) -> (Host, VmId) {
    let host = host();
    let vm = host.start_vm(config).unwrap();
    (host, vm)
}

fn request(action: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "GET"),
        (":path", "/api/items?x=1"),
        (":authority", "app.example"),
        (":scheme", "https"),
        ("x-probe", action),
    ]
}

fn send(host: &Host, vm: VmId, headers: &[(&str, &str)]) -> (HttpStream, Action) {
    let stream = host.http_stream(vm).unwrap();
    let action = stream.send_request_headers(headers, true).unwrap();
    (stream, action)
}

fn forwarded(stream: &HttpStream, name: &str) -> String {
    stream.forwarded_request_header(name).unwrap_or_else(|| {
        panic!(
            "{name} not forwarded; headers: {:?}",
            stream.request_headers()
        )
    })
}

// ---- start-up -------------------------------------------------------------------------------

#[test]
fn configure_returning_false_is_a_rejection_carrying_the_modules_logs() {
    let error = host().start_vm("please reject").unwrap_err();
    let rejected = error.rejected().expect("a rejection, not a host error");
    assert_eq!(rejected.phase, StartPhase::Configure);
    assert!(
        rejected.logged("configuration rejected: please reject"),
        "{:?}",
        rejected.logs
    );
}

#[test]
fn vm_start_returning_false_is_a_rejection_in_the_vm_start_phase() {
    let host = Host::builder()
        .wasm(probe_wasm().unwrap())
        .vm_config("fail-start")
        .build()
        .unwrap();
    let error = host.start_vm("").unwrap_err();
    assert_eq!(error.rejected().map(|r| r.phase), Some(StartPhase::VmStart));
    assert!(host.vms().is_empty(), "a rejected VM is discarded");
}

#[test]
fn vm_configuration_is_readable_in_on_vm_start() {
    let (host, _) = started("");
    assert!(
        host.logged(LogLevel::Info, "vm start: 14 bytes: vm-config-text"),
        "{:?}",
        host.logs()
    );
}

#[test]
fn plugin_configuration_is_readable_in_on_configure() {
    let (host, _) = started("some config");
    assert!(host.logged(LogLevel::Info, "configured: some config"));
}

// ---- headers ----------------------------------------------------------------------------------

#[test]
fn continue_forwards_request_headers_with_the_modules_edits() {
    let (host, vm) = started("");
    let mut headers = request("edit");
    headers.extend([
        ("x-replace", "old"),
        ("x-replace", "dup"),
        ("x-remove", "gone"),
    ]);
    let (stream, action) = send(&host, vm, &headers);
    assert_eq!(action, Action::Continue);
    let out = stream.forwarded_request_headers().unwrap();
    let values = |name: &str| {
        out.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(values("x-added"), ["1"]);
    assert_eq!(
        values("x-replace"),
        ["new"],
        "replace keeps one entry, like Envoy's setCopy"
    );
    assert!(values("x-remove").is_empty());
}

#[test]
fn the_module_sees_the_header_count_and_end_of_stream() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("none"));
    assert_eq!(
        forwarded(&stream, "x-probe-seen"),
        format!("5/true/{}", stream.context_id())
    );
}

#[test]
fn set_header_map_pairs_replaces_the_whole_map() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("set-map"));
    let out = stream.forwarded_request_headers().unwrap();
    let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [":path", "x-only"], "earlier edits are gone too");
}

#[test]
fn response_headers_and_body_pass_through_the_module() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("none"));
    assert_eq!(
        stream
            .send_response_headers(&[(":status", "200")], false)
            .unwrap(),
        Action::Continue
    );
    assert_eq!(
        stream.send_response_body(b"abc", true).unwrap(),
        Action::Continue
    );
    assert!(stream
        .response_headers()
        .contains(&("x-probe-response".into(), "saw 200".into())));
    assert_eq!(stream.forwarded_response_body(), b"[abc]");
}

#[test]
fn a_body_held_with_pause_is_buffered_and_seen_whole() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    stream
        .send_request_headers(&request("body"), false)
        .unwrap();
    assert_eq!(
        stream.send_request_body(b"ab", false).unwrap(),
        Action::Pause
    );
    assert_eq!(
        stream.send_request_body(b"cd", true).unwrap(),
        Action::Continue
    );
    assert_eq!(stream.forwarded_request_body(), b"ABCD");
}

#[test]
fn trailers_are_delivered_with_their_count() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    stream
        .send_request_headers(&request("none"), false)
        .unwrap();
    stream
        .send_request_trailers(&[("grpc-status", "0")])
        .unwrap();
    assert!(stream
        .request_trailers()
        .contains(&("x-trailer-count".into(), "1".into())));
}

// ---- local response -----------------------------------------------------------------------------

#[test]
fn a_local_response_is_captured_and_nothing_goes_upstream() {
    let (host, vm) = started("");
    let (stream, action) = send(&host, vm, &request("local"));
    assert_eq!(action, Action::Pause);
    let reply = stream.local_response().unwrap();
    assert_eq!(
        (
            reply.status,
            reply.header("x-probe"),
            reply.body_text().as_str()
        ),
        (403, Some("denied"), "denied by probe")
    );
    assert_eq!(reply.grpc_status, -1);
    assert_eq!(stream.forwarded_request_headers(), None);
}

// ---- HTTP calls ---------------------------------------------------------------------------------

#[test]
fn a_dispatched_call_records_cluster_headers_body_timeout_and_vm() {
    let (host, vm) = started("");
    let (stream, action) = send(&host, vm, &request("call"));
    assert_eq!(action, Action::Pause);
    assert!(stream.is_request_paused());
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.cluster.as_str(), call.vm, call.context_id),
        ("idp", vm, stream.context_id())
    );
    assert_eq!(call.header(":path"), Some("/keys"));
    assert_eq!(call.body, b"ping");
    assert_eq!(call.timeout, Duration::from_millis(1500));
}

#[test]
fn an_unknown_cluster_is_bad_argument_at_dispatch() {
    let (host, vm) = started("");
    let mut headers = request("call");
    headers.push(("x-cluster", "nobody"));
    let (stream, _) = send(&host, vm, &headers);
    assert_eq!(
        stream.local_response().unwrap().body_text(),
        "dispatch failed: BadArgument"
    );
    assert!(host.pending_calls().is_empty());
}

#[test]
fn a_call_without_path_is_bad_argument() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call-no-path"));
    assert_eq!(
        stream.local_response().unwrap().body_text(),
        "dispatch failed: BadArgument"
    );
}

#[test]
fn an_answered_call_reaches_the_dispatching_stream_which_resumes() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call"));
    let call = host.pending_calls()[0].id;
    host.respond(
        call,
        200,
        &[("content-type", "application/json")],
        b"{\"keys\":[]}",
    )
    .unwrap();
    assert!(stream.was_request_resumed());
    assert!(!stream.is_request_paused());
    assert_eq!(forwarded(&stream, "x-probe-call-body"), "{\"keys\":[]}");
    assert_eq!(
        forwarded(&stream, "x-probe-call-headers"),
        "2",
        ":status is counted"
    );
    assert!(host.pending_calls().is_empty());
}

#[test]
fn a_reset_call_arrives_with_no_headers_and_a_broken_connection_status() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call"));
    host.fail(host.pending_calls()[0].id).unwrap();
    let reply = stream.local_response().unwrap();
    assert_eq!(
        reply.body_text(),
        "call failed: status=<none> headers=0 body= code=11 message=reset"
    );
}

#[test]
fn a_timed_out_call_arrives_as_envoys_504_local_reply() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call"));
    host.time_out(host.pending_calls()[0].id).unwrap();
    let reply = stream.local_response().unwrap();
    assert_eq!(
        reply.body_text(),
        "call failed: status=504 headers=3 body=upstream request timeout code=0 message="
    );
}

#[test]
fn advancing_past_a_calls_timeout_times_it_out() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call"));
    host.advance(Duration::from_millis(1499)).unwrap();
    assert_eq!(host.pending_calls().len(), 1, "not yet due");
    host.advance(Duration::from_millis(1)).unwrap();
    assert!(host.pending_calls().is_empty());
    assert!(stream
        .local_response()
        .unwrap()
        .body_text()
        .starts_with("call failed: status=504"));
}

#[test]
fn answering_an_unknown_call_is_an_error() {
    let (host, vm) = started("");
    send(&host, vm, &request("call"));
    let call = host.pending_calls()[0].id;
    host.respond(call, 200, &[], b"").unwrap();
    assert!(
        matches!(host.respond(call, 200, &[], b""), Err(HostError::UnknownCall(id)) if id == call)
    );
}

// ---- clock and ticks ---------------------------------------------------------------------------

#[test]
fn ticks_fire_at_the_period_with_the_clock_at_each_due_time() {
    let (host, vm) = started("tick=100");
    assert_eq!(
        host.tick_period(vm).unwrap(),
        Some(Duration::from_millis(100))
    );
    let start = host.now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    host.advance(Duration::from_millis(350)).unwrap();
    let ticks: Vec<String> = host
        .logs_at(LogLevel::Info)
        .into_iter()
        .filter(|m| m.starts_with("tick ") && m.contains(" at "))
        .collect();
    let expected: Vec<String> = (1..=3)
        .map(|n| format!("tick {n} at {}ms", start + 100 * n))
        .collect();
    assert_eq!(ticks, expected);
    assert_eq!(host.counter("probe_ticks"), Some(3));
    assert_eq!(
        host.now().duration_since(UNIX_EPOCH).unwrap().as_millis(),
        start + 350
    );
}

#[test]
fn the_module_reads_the_hosts_clock_through_both_abi_and_wasi() {
    let (host, vm) = started("");
    host.advance(Duration::from_secs(42)).unwrap();
    let (stream, _) = send(&host, vm, &request("time"));
    let now = host
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    assert_eq!(forwarded(&stream, "x-probe-now-ms"), now);
    assert_eq!(forwarded(&stream, "x-probe-wasi-now-ms"), now);
}

// ---- several VMs and shared data -----------------------------------------------------------------

#[test]
fn only_one_vm_fetches_when_vms_race_through_shared_data() {
    let host = host();
    let first = host.start_vm("tick=100").unwrap();
    let second = host.start_vm("tick=100").unwrap();
    host.advance(Duration::from_millis(100)).unwrap();
    let calls = host.pending_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].vm, first);
    assert_ne!(first, second);
    host.respond(calls[0].id, 200, &[], b"key-set").unwrap();
    assert_eq!(
        host.shared_data("keys").map(|(v, _)| v),
        Some(b"key-set".to_vec())
    );
    assert!(host.logged(LogLevel::Info, "root call response: status=200 headers=1"));
}

#[test]
fn shared_data_get_returns_the_value_and_its_cas() {
    let (host, vm) = started("");
    let cas = host.set_shared_data("k", "v1");
    let (stream, _) = send(&host, vm, &request("shared-get"));
    assert_eq!(forwarded(&stream, "x-probe-value"), "v1");
    assert_eq!(forwarded(&stream, "x-probe-cas"), cas.to_string());
}

#[test]
fn shared_data_set_with_a_stale_cas_is_cas_mismatch() {
    let (host, vm) = started("");
    let stale = host.set_shared_data("k", "v1");
    host.set_shared_data("k", "v2");
    let cas = stale.to_string();
    let mut headers = request("shared-set");
    headers.extend([("x-value", "v3"), ("x-cas", cas.as_str())]);
    let (stream, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&stream, "x-probe-outcome"), "CasMismatch");
    assert_eq!(host.shared_data("k").unwrap().0, b"v2");
}

#[test]
fn shared_data_set_with_the_current_cas_succeeds() {
    let (host, vm) = started("");
    let cas = host.set_shared_data("k", "v1").to_string();
    let mut headers = request("shared-set");
    headers.extend([("x-value", "v2"), ("x-cas", cas.as_str())]);
    let (stream, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&stream, "x-probe-outcome"), "ok");
    assert_eq!(host.shared_data("k").unwrap().0, b"v2");
}

#[test]
fn a_missing_shared_key_reads_as_none() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("shared-get"));
    assert_eq!(forwarded(&stream, "x-probe-value"), "<none>");
}

// ---- metrics -----------------------------------------------------------------------------------

#[test]
fn counters_gauges_and_histograms_follow_envoys_rules() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("metrics"));
    assert_eq!(host.counter("probe_counter"), Some(2));
    assert_eq!(host.gauge("probe_gauge"), Some(7));
    assert_eq!(
        host.metric("probe_hist"),
        Some(MetricValue::Histogram(vec![42]))
    );
    assert_eq!(
        forwarded(&stream, "x-probe-negative-counter"),
        "Err(BadArgument)"
    );
    assert_eq!(forwarded(&stream, "x-probe-counter"), "2");
    assert_eq!(
        forwarded(&stream, "x-probe-histogram-get"),
        "Err(BadArgument)"
    );
}

#[test]
fn metrics_of_the_same_name_are_shared_by_all_vms() {
    let host = host();
    let first = host.start_vm("").unwrap();
    let second = host.start_vm("").unwrap();
    send(&host, first, &request("none"));
    send(&host, second, &request("none"));
    assert_eq!(host.counter("probe_requests"), Some(2));
}

// ---- properties --------------------------------------------------------------------------------

#[test]
fn properties_come_from_the_request_the_stream_and_the_plugin() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    stream
        .set_property(&["xds", "route_name"], "items-route")
        .unwrap();
    let mut headers = request("props");
    headers.push(("x-foo", "bar"));
    stream.send_request_headers(&headers, true).unwrap();
    for (name, value) in [
        ("x-probe-request-path", "/api/items?x=1"),
        ("x-probe-request-method", "GET"),
        ("x-probe-request-host", "app.example"),
        ("x-probe-request-headers-x-foo", "bar"),
        ("x-probe-xds-route_name", "items-route"),
        ("x-probe-plugin_name", "probe-plugin"),
        ("x-probe-plugin_root_id", "probe-root"),
        ("x-probe-custom-thing", "<none>"),
        ("x-probe-probe-written", "by-module"),
    ] {
        assert_eq!(forwarded(&stream, name), value, "{name}");
    }
}

#[test]
fn a_host_property_is_visible_to_every_stream() {
    let (host, vm) = started("");
    host.set_property(&["custom", "thing"], "everywhere");
    let (stream, _) = send(&host, vm, &request("props"));
    assert_eq!(forwarded(&stream, "x-probe-custom-thing"), "everywhere");
}

// ---- logs, foreign functions, effective context --------------------------------------------------

#[test]
fn logs_are_kept_with_their_level_and_stdio_with_its_source() {
    let (host, vm) = started("");
    send(&host, vm, &request("log"));
    for (level, line) in [
        (LogLevel::Trace, "trace line"),
        (LogLevel::Debug, "debug line"),
        (LogLevel::Info, "info line"),
        (LogLevel::Warn, "warn line"),
        (LogLevel::Error, "error line"),
        (LogLevel::Critical, "critical line"),
    ] {
        assert!(host.logs_at(level).contains(&line.to_string()), "{level:?}");
    }
    let logs = host.logs();
    assert!(logs
        .iter()
        .any(|r| r.source == LogSource::Stdout && r.message == "stdout line"));
    assert!(logs
        .iter()
        .any(|r| r.source == LogSource::Stderr && r.message == "stderr line"));
}

#[test]
fn lines_below_the_log_level_are_dropped_and_the_level_is_reported() {
    let host = Host::builder()
        .wasm(probe_wasm().unwrap())
        .log_level(LogLevel::Warn)
        .build()
        .unwrap();
    let vm = host.start_vm("").unwrap();
    let (stream, _) = send(&host, vm, &request("log"));
    assert_eq!(forwarded(&stream, "x-probe-log-level"), "Warn");
    assert!(host
        .logs_at(LogLevel::Info)
        .iter()
        .all(|m| m != "info line"));
    assert!(host
        .logs_at(LogLevel::Warn)
        .contains(&"warn line".to_string()));
}

#[test]
fn a_registered_foreign_function_answers_and_an_unknown_one_is_not_found() {
    let host = Host::builder()
        .wasm(probe_wasm().unwrap())
        .foreign_function("reverse", |args| Ok(args.iter().rev().copied().collect()))
        .build()
        .unwrap();
    let vm = host.start_vm("").unwrap();
    let mut headers = request("foreign");
    headers.push(("x-function", "reverse"));
    let (known, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&known, "x-probe-foreign"), "cba");
    let mut headers = request("foreign");
    headers.push(("x-function", "verify_signature"));
    let (unknown, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&unknown, "x-probe-foreign"), "NotFound");
}

#[test]
fn a_foreign_function_error_status_reaches_the_module() {
    let host = Host::builder()
        .wasm(probe_wasm().unwrap())
        .foreign_function("broken", |_| Err(Status::BadArgument))
        .build()
        .unwrap();
    let vm = host.start_vm("").unwrap();
    let mut headers = request("foreign");
    headers.push(("x-function", "broken"));
    let (stream, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&stream, "x-probe-foreign"), "BadArgument");
}

#[test]
fn switching_to_an_unknown_context_is_bad_argument() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("effective"));
    assert_eq!(
        forwarded(&stream, "x-probe-effective-bogus"),
        "Err(BadArgument)"
    );
}

// ---- lifecycle and failures ------------------------------------------------------------------------

#[test]
fn completing_a_stream_runs_on_log_and_then_refuses_new_events() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("none"));
    stream.complete().unwrap();
    assert!(host.logged(
        LogLevel::Info,
        &format!("stream {} logged", stream.context_id())
    ));
    let again = stream.send_response_headers(&[(":status", "200")], true);
    assert!(matches!(again, Err(HostError::StreamCompleted { .. })));
}

#[test]
fn a_trap_is_an_error_with_the_panic_message_and_the_vm_is_then_unusable() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    let error = stream
        .send_request_headers(&request("trap"), true)
        .unwrap_err();
    let HostError::Trap {
        callback,
        last_errors,
        message,
        ..
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(callback, "proxy_on_request_headers");
    // The SDK's panic hook logs the message at Critical before aborting.
    assert!(
        last_errors
            .iter()
            .any(|line| line.contains("probe was asked to trap")),
        "{error}"
    );
    assert!(message.contains("wasm backtrace"), "{message}");
    assert!(matches!(host.http_stream(vm), Err(HostError::VmFailed { vm: v }) if v == vm));
}

#[test]
fn the_compiled_module_is_shared_between_hosts() {
    // Two hosts of one file in one process: the second build reuses the compilation, so both
    // VMs behave identically and independently (no shared data across hosts).
    let first = host();
    let second = host();
    let a = first.start_vm("").unwrap();
    let b = second.start_vm("").unwrap();
    first.set_shared_data("k", "only-first");
    let (stream, _) = send(&second, b, &request("shared-get"));
    assert_eq!(forwarded(&stream, "x-probe-value"), "<none>");
    assert_eq!(a, b, "vm ids are per host");
}

#[test]
fn a_start_error_displays_the_phase_and_logs() {
    let error = host().start_vm("reject").unwrap_err();
    assert!(matches!(error, StartError::Rejected(_)));
    assert!(
        error.to_string().contains("configuration rejected: reject"),
        "{error}"
    );
}

#[test]
fn an_enqueued_item_wakes_the_registering_root_context() {
    let (host, vm) = started("");
    let mut headers = request("enqueue");
    headers.push(("x-item", "hello"));
    let (stream, _) = send(&host, vm, &headers);
    assert_eq!(forwarded(&stream, "x-probe-enqueue"), "Ok(())");
    assert!(
        host.logged(LogLevel::Info, "queue item: hello"),
        "{:?}",
        host.logs()
    );
}

#[test]
fn a_queue_of_another_vm_id_does_not_resolve() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("enqueue"));
    assert_eq!(forwarded(&stream, "x-probe-other-vm-queue"), "None");
}

#[test]
fn reading_a_header_of_a_reset_call_traps_as_the_sdk_does_in_envoy() {
    let (host, vm) = started("");
    send(&host, vm, &request("call-careless"));
    let error = host.fail(host.pending_calls()[0].id).unwrap_err();
    assert!(
        matches!(error, HostError::Trap { ref callback, .. } if callback == "proxy_on_http_call_response"),
        "{error}"
    );
}

#[test]
fn a_reset_call_response_body_is_absent_and_its_status_unknown() {
    let (host, vm) = started("");
    let (stream, _) = send(&host, vm, &request("call"));
    host.fail(host.pending_calls()[0].id).unwrap();
    assert!(stream
        .local_response()
        .unwrap()
        .body_text()
        .contains("status=<none> headers=0 body= "));
}

#[test]
fn response_headers_do_not_exist_during_the_request_phase() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    let error = stream
        .send_request_headers(&request("read-response-header"), true)
        .unwrap_err();
    assert!(
        matches!(error, HostError::Trap { .. }),
        "BadArgument makes the SDK panic: {error}"
    );
}

#[test]
fn the_plugin_configuration_is_readable_only_while_configuring() {
    let (host, vm) = started("tick=10");
    host.tick(vm).unwrap();
    assert!(host
        .logs_at(LogLevel::Debug)
        .contains(&"plugin config visible in tick: false".to_string()));
}

#[test]
fn a_call_with_a_body_carries_its_content_length() {
    let (host, vm) = started("");
    send(&host, vm, &request("call"));
    assert_eq!(host.pending_calls()[0].header("content-length"), Some("4"));
}

#[test]
fn body_chunks_are_withheld_while_headers_are_paused_and_delivered_on_resume() {
    let (host, vm) = started("");
    let stream = host.http_stream(vm).unwrap();
    assert_eq!(
        stream
            .send_request_headers(&request("call"), false)
            .unwrap(),
        Action::Pause
    );
    assert_eq!(
        stream.send_request_body(b"ab", false).unwrap(),
        Action::Pause
    );
    assert_eq!(
        stream.send_request_body(b"cd", true).unwrap(),
        Action::Pause
    );
    assert!(
        stream.request_body().is_empty(),
        "the module has not seen the body yet"
    );
    host.respond(host.pending_calls()[0].id, 200, &[], b"keys")
        .unwrap();
    assert_eq!(stream.forwarded_request_body(), b"ABCD");
}
