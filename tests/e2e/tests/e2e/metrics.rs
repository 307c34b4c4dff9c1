//! Envoy stats: claimcheck's metrics appear on admin `/stats` under `wasmcustom.claimcheck.`
//! (the names are listed in src/filter/metrics.rs).
//!
//! Each test has its own Envoy, so counts are exact.

use std::collections::BTreeMap;

use claimcheck_e2e::idp::Mode;
use serde_json::json;

use crate::support::{echoed, set, Setup, World, MIN_REFRESH_INTERVAL_S, WAIT};

/// claimcheck's stats once the VMs reported every request so far, without the `wasmcustom.`
/// prefix.
fn reported(w: &World) -> BTreeMap<String, u64> {
    let stats = w
        .envoy
        .reported_stats(r"^wasmcustom\.claimcheck\.")
        .unwrap();
    stats
        .into_iter()
        .map(|(name, value)| (name.trim_start_matches("wasmcustom.").to_owned(), value))
        .collect()
}

/// A stat's value; metrics are defined on first use, so an absent one counts as 0.
fn count(stats: &BTreeMap<String, u64>, name: &str) -> u64 {
    stats.get(name).copied().unwrap_or(0)
}

#[test]
fn claimcheck_metrics_are_on_the_admin_stats_page_with_the_wasmcustom_prefix() {
    let w = Setup::new("metrics_present").start();
    echoed(&w.get("/public", None, &[]));
    let stats = reported(&w);
    assert!(
        stats.contains_key("claimcheck.requests.allowed"),
        "{stats:?}"
    );
}

#[test]
fn an_allowed_request_is_counted_for_its_provider() {
    let w = Setup::new("metrics_allowed").start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    let stats = reported(&w);
    assert_eq!(count(&stats, "claimcheck.requests.allowed"), 1);
    assert_eq!(count(&stats, "claimcheck.provider.idp.allowed"), 1);
    assert_eq!(count(&stats, "claimcheck.requests.denied"), 0);
}

#[test]
fn a_refusal_is_counted_in_total_and_by_reason() {
    let w = Setup::new("metrics_refusal").start();
    let r = w.get("/api/orders", None, &[]);
    assert_eq!(r.status, 401);
    let token = w.token(json!({ "scope": "profile" }));
    assert_eq!(w.get("/api/orders", Some(&token), &[]).status, 403);
    let stats = reported(&w);
    assert_eq!(count(&stats, "claimcheck.requests.denied"), 2);
    assert_eq!(count(&stats, "claimcheck.requests.denied.token_missing"), 1);
    assert_eq!(
        count(&stats, "claimcheck.requests.denied.claims_condition_failed"),
        1
    );
    assert_eq!(count(&stats, "claimcheck.requests.allowed"), 0);
}

#[test]
fn a_successful_jwks_fetch_is_counted() {
    let w = Setup::new("metrics_fetch").start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    assert!(count(&reported(&w), "claimcheck.jwks.idp.fetch_ok") >= 1);
}

#[test]
fn a_failed_refresh_is_counted_and_raises_the_stale_gauge() {
    let w = Setup::new("metrics_stale")
        .policy(|p| {
            set(
                p,
                "/providers/idp/refresh/interval_s",
                json!(MIN_REFRESH_INTERVAL_S),
            )
        })
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(count(&reported(&w), "claimcheck.jwks.idp.stale"), 0);
    w.idp.set_mode(Mode::Status(500));
    let seen = w.idp.total_received();
    assert!(
        w.idp.wait_for_any_received(seen + 1, WAIT),
        "no refresh reached the IdP"
    );
    assert!(
        w.envoy
            .wait_for_stat("wasmcustom.claimcheck.jwks.idp.stale", WAIT, |v| v == 1),
        "stale gauge not raised; stats: {:?}",
        w.envoy.stats(r"^wasmcustom\.claimcheck\.jwks").unwrap()
    );
    let failed = w
        .envoy
        .reported_stats(r"^wasmcustom\.claimcheck\.jwks\.idp\.fetch_failed\.")
        .unwrap();
    assert!(
        failed.values().any(|&n| n >= 1),
        "no fetch_failed.* counter: {failed:?}"
    );
    // Keys past a failed refresh still serve (a token not verified before, so not cached).
    let fresh = w.token(json!({ "scope": "api:read", "sub": "after-failure" }));
    echoed(&w.get("/api/orders", Some(&fresh), &[]));
}

#[test]
fn dry_run_lets_a_would_be_refusal_through_and_counts_it_by_reason() {
    let w = Setup::new("metrics_dry_run")
        .policy(|p| set(p, "/dry_run", json!(true)))
        .start();
    let seen = echoed(&w.get("/api/orders", None, &[("x-user-id", "mallory")]));
    // Through, but still without any client-supplied identity.
    assert_eq!(seen.header_all("x-user-id"), Vec::<&str>::new());
    let stats = reported(&w);
    assert_eq!(
        count(&stats, "claimcheck.requests.dry_run_denied.token_missing"),
        1
    );
    assert_eq!(count(&stats, "claimcheck.requests.denied"), 0);
}

#[test]
fn with_crypto_host_envoy_verifies_the_signature_through_verify_signature() {
    // `host` makes a missing or failing `verify_signature` a configuration error, so Envoy
    // starting at all shows the probe passed; the counter shows requests used it.
    let w = Setup::new("metrics_host_crypto")
        .policy(|p| set(p, "/crypto", json!("host")))
        .start();
    assert_eq!(count(&reported(&w), "claimcheck.crypto.host"), 1);
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(count(&reported(&w), "claimcheck.crypto.host_verify"), 1);
}
