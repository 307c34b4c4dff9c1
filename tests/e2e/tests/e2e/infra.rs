//! The test machinery itself, and the Envoy behaviour the filter relies on.

use claimcheck_e2e::echo;
use claimcheck_e2e::envoy::{self, Envoy, EnvoySpec, Filter};
use claimcheck_e2e::idp::{Idp, Mode, JWKS_PATH};
use serde_json::Value;

use crate::support::{echoed, WAIT};

#[test]
fn envoy_without_the_filter_routes_to_the_echo_upstream() {
    let upstream = echo::start("127.0.0.1:0").unwrap();
    let spec = EnvoySpec {
        name: "baseline".into(),
        filter: Filter::None,
        echo_port: upstream.port(),
        idp_port: upstream.port(),
        concurrency: 1,
    };
    let envoy = Envoy::start(&spec).unwrap_or_else(|e| panic!("{e}"));
    let r = envoy.get("/anything?x=1", &[("x-test", "yes")]).unwrap();
    let seen = echoed(&r);
    assert_eq!(seen.path, "/anything?x=1");
    assert_eq!(seen.header_all("x-test"), ["yes"]);
}

/// The four-worker tests rely on this: fresh connections reach every worker, and the
/// per-worker connection counters show it.
#[test]
fn fresh_connections_reach_every_one_of_four_workers() {
    const WORKERS: usize = 4;
    const MAX_CONNECTIONS: usize = 400;
    let upstream = echo::start("127.0.0.1:0").unwrap();
    let spec = EnvoySpec {
        name: "baseline_workers".into(),
        filter: Filter::None,
        echo_port: upstream.port(),
        idp_port: upstream.port(),
        concurrency: WORKERS as u32,
    };
    let envoy = Envoy::start(&spec).unwrap_or_else(|e| panic!("{e}"));
    let mut busy = 0;
    for _ in 0..MAX_CONNECTIONS {
        echoed(&envoy.get("/", &[]).unwrap());
        let stats = envoy
            .stats(r"^listener\.ingress\.worker_\d+\.downstream_cx_total$")
            .unwrap();
        assert_eq!(stats.len(), WORKERS, "{stats:?}");
        busy = stats.values().filter(|&&n| n > 0).count();
        if busy == WORKERS {
            break;
        }
    }
    assert_eq!(busy, WORKERS);
}

/// Starts Envoy with the callout probe in front of an IdP; returns what the probe reports.
fn probe(idp: &Idp, headers: &[(&str, &str)]) -> Value {
    let file = envoy::probe_wasm().unwrap_or_else(|e| panic!("{e}"));
    let upstream = echo::start("127.0.0.1:0").unwrap();
    let spec = EnvoySpec {
        name: "probe".into(),
        filter: Filter::Wasm {
            file,
            root_id: "probe".into(),
            configuration: String::new(),
        },
        echo_port: upstream.port(),
        idp_port: idp.port(),
        concurrency: 1,
    };
    let envoy = Envoy::start(&spec).unwrap_or_else(|e| panic!("{e}"));
    let r = envoy.get("/", headers).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_text()))
}

fn status_of(report: &Value) -> Option<&str> {
    report["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == ":status")
        .and_then(|h| h[1].as_str())
}

/// Asserts that the callout came back as a reply Envoy generated itself: exactly `:status`,
/// `content-length` and `content-type: text/plain`, a plain-text body, no trailers. A filter must
/// treat such a reply as a failed fetch, never as a document to parse.
fn assert_envoy_local_reply(report: &Value, status: &str, body: &str) {
    assert_eq!(report["dispatch"], "ok", "{report}");
    let expected = serde_json::json!([
        [":status", status],
        ["content-length", body.len().to_string()],
        ["content-type", "text/plain"]
    ]);
    assert_eq!(report["headers"], expected, "{report}");
    assert_eq!(report["num_headers"], 3, "{report}");
    assert_eq!(report["body"], body, "{report}");
    assert_eq!(report["body_size"], body.len(), "{report}");
    assert_eq!(report["num_trailers"], 0, "{report}");
}

/// What claimcheck's fetch code sees when the IdP does not answer within the callout timeout:
/// `:status` 504 with three headers and the body `upstream request timeout` (not an empty
/// reply).
#[test]
fn a_callout_that_times_out_reaches_the_filter_as_status_504_with_a_text_body() {
    let idp = Idp::start(b"{}".to_vec()).unwrap();
    idp.hold();
    let report = probe(&idp, &[("x-probe-timeout-ms", "200")]);
    assert_envoy_local_reply(&report, "504", "upstream request timeout");
    assert!(idp.wait_for_received(JWKS_PATH, 1, WAIT));
}

/// An IdP that refuses connections: Envoy answers the callout itself with 503.
#[test]
fn a_callout_to_a_refused_port_reaches_the_filter_as_status_503() {
    let idp = Idp::start(b"{}".to_vec()).unwrap();
    let report = probe(&idp, &[("x-probe-cluster", "closed")]);
    assert_envoy_local_reply(
        &report,
        "503",
        "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
    );
}

/// An IdP that drops the connection without answering: also 503 from Envoy.
#[test]
fn a_callout_whose_connection_is_dropped_reaches_the_filter_as_status_503() {
    let idp = Idp::start(b"{}".to_vec()).unwrap();
    idp.set_mode(Mode::Close);
    let report = probe(&idp, &[]);
    assert_envoy_local_reply(
        &report,
        "503",
        "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    );
}

/// A cluster name Envoy does not know fails at dispatch, not later.
#[test]
fn a_callout_to_an_unknown_cluster_fails_at_dispatch() {
    let idp = Idp::start(b"{}".to_vec()).unwrap();
    let report = probe(&idp, &[("x-probe-cluster", "no-such-cluster")]);
    assert_eq!(report["dispatch"], "BadArgument", "{report}");
}

/// A successful callout, for contrast: the IdP's status and body come through.
#[test]
fn a_successful_callout_reaches_the_filter_with_status_and_body() {
    let idp = Idp::start(br#"{"keys":[]}"#.to_vec()).unwrap();
    let report = probe(&idp, &[]);
    assert_eq!(status_of(&report), Some("200"), "{report}");
    assert_eq!(report["body"], r#"{"keys":[]}"#, "{report}");
}
