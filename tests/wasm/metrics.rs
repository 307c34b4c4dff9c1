//! The counters and gauges listed in `src/filter/metrics.rs`, as the host sees them.

use claimcheck_harness::MetricKind;
use serde_json::json;

use crate::support::*;

#[test]
fn an_allowed_request_counts_as_allowed_overall_and_for_its_provider() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert_eq!(count(&host, "claimcheck.requests.allowed"), 1);
    assert_eq!(count(&host, "claimcheck.provider.corp.allowed"), 1);
    assert_eq!(count(&host, "claimcheck.requests.denied"), 0);
}

#[test]
fn a_refusal_counts_overall_per_reason_and_per_provider() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &impostor, json!({}))),
        &[],
    );
    get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &impostor, json!({}))),
        &[],
    );
    assert_eq!(count(&host, "claimcheck.requests.denied"), 2);
    assert_eq!(
        count(&host, "claimcheck.requests.denied.signature_invalid"),
        2
    );
    assert_eq!(
        count(&host, "claimcheck.provider.corp.denied.signature_invalid"),
        2
    );
}

#[test]
fn a_refusal_with_no_provider_involved_is_not_counted_per_provider() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start_with_keys(&remote_config(), &[&key]);
    get(&host, vm, "/api", None, &[]);
    assert_eq!(count(&host, "claimcheck.requests.denied.token_missing"), 1);
    let per_provider = host
        .metric_names()
        .into_iter()
        .any(|(name, _)| name.starts_with("claimcheck.provider.corp.denied"));
    assert!(!per_provider);
}

#[test]
fn a_request_that_waited_for_keys_counts_as_paused() {
    let key = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert_eq!(count(&host, "claimcheck.requests.paused"), 1);
}

#[test]
fn the_stale_gauge_is_a_gauge_and_zero_after_a_good_fetch() {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start_with_keys(&remote_config(), &[&key]);
    let kinds = host.metric_names();
    assert!(kinds.contains(&("claimcheck.jwks.corp.stale".to_owned(), MetricKind::Gauge)));
    assert_eq!(host.gauge("claimcheck.jwks.corp.stale"), Some(0));
}

#[test]
fn every_emitted_metric_name_is_a_documented_one() {
    let key = SigningKey::generate("k1");
    let impostor = SigningKey::generate("k1");
    let (host, vm) = start(&remote_config());
    get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    advance_ms(&host, 100);
    host.respond(one_call(&host).id, 500, &[], b"").unwrap();
    advance_ms(&host, 1_000);
    serve_jwks(&host, &[&key]);
    get(
        &host,
        vm,
        "/api",
        Some(&token(&host, &impostor, json!({}))),
        &[],
    );
    let documented = [
        "claimcheck.requests.allowed",
        "claimcheck.requests.denied",
        "claimcheck.requests.denied.",
        "claimcheck.requests.dry_run_denied.",
        "claimcheck.requests.paused",
        "claimcheck.provider.corp.allowed",
        "claimcheck.provider.corp.denied.",
        "claimcheck.jwks.corp.fetch_ok",
        "claimcheck.jwks.corp.fetch_failed.",
        "claimcheck.jwks.corp.stale",
        "claimcheck.cache.hit",
        "claimcheck.cache.miss",
        "claimcheck.crypto.host",
        "claimcheck.crypto.host_verify",
        "claimcheck.crypto.host_rejected.",
        "claimcheck.vm.memory_bytes",
    ];
    for (name, _) in host.metric_names() {
        assert!(
            documented
                .iter()
                .any(|known| name == *known || (known.ends_with('.') && name.starts_with(known))),
            "undocumented metric {name}"
        );
    }
}
