//! A new policy pushed through ECDS (the `deploy/envoy/` filesystem source) while valid
//! traffic flows: nothing is refused or held, the keys are not fetched again while the
//! provider is unchanged, and the new rules apply from the update on. A changed provider is a
//! new key set and is fetched.
//!
//! The swap is measured, not timed against a threshold: requests in flight across the
//! update, and how long after the rename the first request was judged by the new rules. The
//! figures go to the test's output (`--nocapture`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use claimcheck_e2e::envoy;
use claimcheck_e2e::http;
use claimcheck_e2e::platform;
use serde_json::{json, Value};

use crate::platforms::{start, Platform};
use crate::support::{echoed, reason_of, WAIT};

/// One request of the background traffic: when it started and ended, relative to the start
/// of the traffic, and its status.
#[derive(Debug, Clone, Copy)]
struct Sample {
    started: Duration,
    ended: Duration,
    status: u16,
}

/// Valid requests sent one after another on `workers` threads until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<thread::JoinHandle<()>>,
    origin: Instant,
}

impl Traffic {
    fn start(platform: &Platform, token: &str, workers: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let origin = Instant::now();
        let addr = platform.envoy.addr();
        let threads = (0..workers)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let samples = Arc::clone(&samples);
                let bearer = format!("Bearer {token}");
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let started = origin.elapsed();
                        let status = http::get(addr, "/orders/1", &[("authorization", &bearer)])
                            .map_or(0, |r| r.status);
                        let ended = origin.elapsed();
                        samples.lock().unwrap().push(Sample {
                            started,
                            ended,
                            status,
                        });
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            samples,
            threads,
            origin,
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        let samples = self.samples.lock().unwrap().clone();
        samples
    }
}

/// The shipped ECDS resource with `edit` applied to its plugin configuration.
fn resource_with(wasm: &std::path::Path, edit: impl FnOnce(&mut Value)) -> Value {
    let resource = platform::envoy_filter_resource(wasm).unwrap();
    let mut config = platform::plugin_configuration(&resource).unwrap();
    edit(&mut config);
    platform::with_plugin_configuration(&resource, &config).unwrap()
}

/// Policy B: the shipped policy plus a public `/reports` rule (denied before).
fn add_reports_rule(config: &mut Value) {
    let rules = config["rules"].as_array_mut().unwrap();
    rules.insert(
        0,
        json!({ "name": "reports", "match": { "path": { "prefix": "/reports" } }, "action": "allow" }),
    );
}

/// Sends `GET /reports` until it is allowed; returns how long after `since` that was.
fn until_reports_allowed(platform: &Platform, since: Instant) -> Duration {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = platform.get("/reports", None);
        if r.status == 200 {
            return since.elapsed();
        }
        assert_eq!(reason_of(&r), "no_rule_matched", "before the update");
        assert!(Instant::now() < deadline, "the new policy never applied");
        thread::sleep(Duration::from_millis(5));
    }
}

fn stat(platform: &Platform, name: &str) -> u64 {
    platform.envoy.reported_stat(name).unwrap()
}

#[test]
fn a_new_policy_applies_without_refusing_holding_or_refetching() {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let platform = start("policy_swap", |dir, idp, echo| {
        platform::envoy_bootstrap(dir, &wasm, idp, echo)
    });
    let ecds = platform.envoy.dir().join("claimcheck-filter.yaml");
    let token = platform.token(json!({ "scope": "orders:read" }));
    echoed(&platform.get("/orders/1", Some(&token)));
    assert_eq!(platform.get("/reports", None).status, 403);
    let fetches_before = (
        platform.idp.discovery_requests(),
        platform.idp.jwks_requests(),
    );
    let paused_before = stat(&platform, "wasmcustom.claimcheck.requests.paused");

    let traffic = Traffic::start(&platform, &token, 4);
    thread::sleep(Duration::from_millis(300));
    let swap_at = traffic.now();
    let renamed = Instant::now();
    platform::replace_file(&ecds, &resource_with(&wasm, add_reports_rule)).unwrap();
    let first_new = until_reports_allowed(&platform, renamed);
    thread::sleep(Duration::from_millis(300));
    let samples = traffic.finish();

    let refused: Vec<&Sample> = samples.iter().filter(|s| s.status != 200).collect();
    assert!(refused.is_empty(), "refused during the swap: {refused:?}");
    let in_flight = samples
        .iter()
        .filter(|s| s.started <= swap_at && s.ended >= swap_at)
        .count();
    let slowest = samples.iter().map(|s| s.ended - s.started).max().unwrap();
    eprintln!(
        "policy swap: {} requests, {in_flight} in flight at the rename, first request under the \
         new policy {first_new:?} after it, slowest request {slowest:?}",
        samples.len()
    );
    assert_eq!(
        stat(&platform, "wasmcustom.claimcheck.requests.paused"),
        paused_before,
        "a request waited for keys after the swap"
    );
    assert_eq!(
        (
            platform.idp.discovery_requests(),
            platform.idp.jwks_requests()
        ),
        fetches_before,
        "the unchanged provider's keys were fetched again"
    );
    echoed(&platform.get("/reports", None));
    echoed(&platform.get("/orders/1", Some(&token)));
}

#[test]
fn a_changed_provider_is_fetched_after_the_swap() {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let platform = start("policy_swap_provider", |dir, idp, echo| {
        platform::envoy_bootstrap(dir, &wasm, idp, echo)
    });
    let ecds = platform.envoy.dir().join("claimcheck-filter.yaml");
    let token = platform.token(json!({ "scope": "orders:read" }));
    echoed(&platform.get("/orders/1", Some(&token)));
    let jwks_before = platform.idp.jwks_requests();

    // Accepting fewer algorithms makes another key set: the keys are parsed for them.
    platform::replace_file(
        &ecds,
        &resource_with(&wasm, |config| {
            add_reports_rule(config);
            config["providers"]["corp"]["algorithms"] = json!(["ES256"]);
        }),
    )
    .unwrap();
    until_reports_allowed(&platform, Instant::now());
    echoed(&platform.get("/orders/1", Some(&token)));
    assert!(
        platform.idp.jwks_requests() > jwks_before,
        "the changed provider's keys were not fetched"
    );
}

#[test]
fn a_policy_the_filter_refuses_is_rejected_and_the_previous_one_keeps_serving() {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let platform = start("policy_swap_rejected", |dir, idp, echo| {
        platform::envoy_bootstrap(dir, &wasm, idp, echo)
    });
    let ecds = platform.envoy.dir().join("claimcheck-filter.yaml");
    let token = platform.token(json!({ "scope": "orders:read" }));
    echoed(&platform.get("/orders/1", Some(&token)));
    let rejected = "extension_config_discovery.http_filter.claimcheck.config_fail";
    let before = platform.envoy.stat(rejected).unwrap();

    platform::replace_file(
        &ecds,
        &resource_with(&wasm, |config| {
            config["rules"][0]["action"] = json!("permit");
        }),
    )
    .unwrap();
    assert!(
        platform.envoy.wait_for_stat(rejected, WAIT, |n| n > before),
        "Envoy did not report the rejected update:\n{}",
        platform.envoy.log()
    );
    echoed(&platform.get("/orders/1", Some(&token)));
    echoed(&platform.get("/healthz", None));
}
