//! Refresh as the IdP asks: `Cache-Control: max-age` (or `Expires`) on the JWKS response sets
//! the next refresh, within `refresh.min_interval_s` and half of `max_stale_s`.

use claimcheck_harness::{Host, LogLevel};
use serde_json::json;

use crate::support::*;

/// A VM (refresh every 600 s, max_stale 3600 s, floor 60 s) whose first fetch was answered
/// with `cache_control`.
fn fetched_with(cache_control: &str) -> Host {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start(&remote_config());
    advance_ms(&host, 100);
    let call = one_call(&host);
    host.respond(
        call.id,
        200,
        &[("cache-control", cache_control)],
        jwks(&[&key]).as_bytes(),
    )
    .unwrap();
    host
}

/// Seconds from the first fetch to the refresh: none before `earliest_s`, one by `latest_s`
/// (watched in small steps, so the refresh is seen before its call could time out).
fn assert_refresh_between(host: &Host, earliest_s: u64, latest_s: u64) {
    advance_ms(host, earliest_s * 1_000 - 1_000);
    assert!(
        host.pending_calls().is_empty(),
        "refreshed before {earliest_s} s"
    );
    let steps = (latest_s - earliest_s + 2) * 10;
    let refreshed = (0..steps).any(|_| {
        advance_ms(host, 100);
        !host.pending_calls().is_empty()
    });
    assert!(refreshed, "no refresh by {latest_s} s");
}

#[test]
fn a_max_age_on_the_jwks_sets_the_next_refresh() {
    let host = fetched_with("public, max-age=120");
    // Up to 10% jitter: between 108 s and 120 s after the fetch.
    assert_refresh_between(&host, 108, 120);
    assert!(host.logged(LogLevel::Info, "keys refresh every 120 s"));
}

#[test]
fn a_huge_max_age_is_capped_at_half_of_max_stale() {
    let host = fetched_with("max-age=31536000");
    assert_refresh_between(&host, 1_620, 1_800);
    assert!(host.logged(LogLevel::Info, "keys refresh every 1800 s"));
}

#[test]
fn no_cache_refreshes_at_the_floor_not_on_every_tick() {
    let host = fetched_with("no-cache");
    assert_refresh_between(&host, 54, 60);
}

#[test]
fn the_floor_is_a_setting() {
    let key = SigningKey::generate("k1");
    let config = config_with(
        json!({"refresh": {"interval_s": 600, "min_interval_s": 300, "max_stale_s": 3600}}),
        json!({}),
    );
    let (host, _vm) = start(&config);
    advance_ms(&host, 100);
    let call = one_call(&host);
    host.respond(
        call.id,
        200,
        &[("cache-control", "max-age=30")],
        jwks(&[&key]).as_bytes(),
    )
    .unwrap();
    assert_refresh_between(&host, 270, 300);
}
