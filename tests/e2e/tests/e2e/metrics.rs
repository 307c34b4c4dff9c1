//! Envoy stats: claimcheck's metrics appear on admin `/stats` under `wasmcustom.claimcheck.`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::{echoed, Setup};

const PREFIX: &str = "wasmcustom.claimcheck.";

fn claimcheck_stats(w: &crate::support::World) -> BTreeMap<String, u64> {
    w.envoy.stats(r"^wasmcustom\.claimcheck\.").unwrap()
}

/// The counters that changed between two snapshots, with their increase.
fn increases(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(name, &v)| {
            let old = before.get(name).copied().unwrap_or(0);
            (v > old).then(|| (name.clone(), v - old))
        })
        .collect()
}

#[test]
fn claimcheck_metrics_are_on_the_admin_stats_page_with_the_wasmcustom_prefix() {
    let w = Setup::new("metrics_present").start();
    echoed(&w.get("/public", None, &[]));
    let stats = claimcheck_stats(&w);
    assert!(
        !stats.is_empty(),
        "no {PREFIX}* stats:\n{}",
        w.envoy.admin("/stats").unwrap().body_text()
    );
    assert!(stats.keys().all(|k| k.starts_with(PREFIX)));
}

#[test]
fn a_refusal_increments_a_claimcheck_counter_once() {
    let w = Setup::new("metrics_refusal").start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    let before = claimcheck_stats(&w);
    let r = w.get("/api/orders", None, &[]);
    assert_eq!(r.status, 401);
    let changed = increases(&before, &claimcheck_stats(&w));
    assert!(
        changed.values().any(|&n| n == 1),
        "no {PREFIX}* counter counted the refusal; changes: {changed:?}"
    );
}

#[test]
fn jwks_fetches_are_counted() {
    let w = Setup::new("metrics_fetch").start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    let stats = claimcheck_stats(&w);
    let fetches: BTreeMap<_, _> = stats
        .iter()
        .filter(|(k, &v)| (k.contains("jwks") || k.contains("fetch")) && v > 0)
        .collect();
    assert!(!fetches.is_empty(), "no fetch counter in {stats:?}");
}
