//! The key lifecycle against a real Envoy: cold start, an IdP that fails after keys are known,
//! key rotation and unknown `kid`, and one fetch per Envoy process across worker VMs.
//!
//! Each test changes the IdP, so each gets its own world (IdP + echo + Envoy).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use claimcheck_e2e::http;
use claimcheck_e2e::idp::{Mode, DISCOVERY_PATH, JWKS_PATH};
use serde_json::json;

use crate::support::{
    echoed, jwks, let_unknown_kid_limit_pass, reason_of, set, Key, Setup, MIN_REFRESH_INTERVAL_S,
    WAIT,
};

/// Requests currently inside Envoy's HTTP connection manager.
const ACTIVE_REQUESTS: &str = "http.ingress.downstream_rq_active";

#[test]
fn request_arriving_before_the_keys_waits_for_them_and_is_allowed() {
    let w = Setup::new("cold_start_waits")
        .before_envoy(|idp| idp.hold())
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    let addr = w.envoy.addr();
    let (done_tx, done_rx) = mpsc::channel();
    let client = thread::spawn(move || {
        let auth = format!("Bearer {token}");
        let r = http::get(addr, "/api/orders", &[("authorization", &auth)]);
        let _ = done_tx.send(());
        r
    });
    // The request is inside Envoy while the IdP still holds the key fetch: it is paused.
    assert!(
        w.envoy.wait_for_stat(ACTIVE_REQUESTS, WAIT, |n| n >= 1),
        "request never arrived"
    );
    assert!(
        w.idp.wait_for_received(DISCOVERY_PATH, 1, WAIT) || w.idp.received(JWKS_PATH) >= 1,
        "the filter never asked the IdP for keys"
    );
    assert!(
        done_rx.try_recv().is_err(),
        "the request was answered before the keys arrived"
    );
    w.idp.release();
    let r = client.join().unwrap().unwrap();
    let seen = echoed(&r);
    assert_eq!(seen.header_all("x-user-id"), ["user-1"]);
    assert!(w.idp.served(JWKS_PATH) >= 1);
}

#[test]
fn a_key_fetch_that_times_out_is_retried_and_the_waiting_request_then_passes() {
    // Envoy answers a timed-out callout with its own 504 and a text body
    // (infra::a_callout_that_times_out_reaches_the_filter_as_status_504_with_a_text_body);
    // the filter must count that as a failed fetch and retry.
    let w = Setup::new("fetch_timeout_retry")
        .before_envoy(|idp| idp.hold())
        .policy(|p| {
            set(
                p,
                "/providers/idp/jwks/oidc_discovery/timeout_ms",
                json!(300),
            )
        })
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    let addr = w.envoy.addr();
    let client = thread::spawn(move || {
        let auth = format!("Bearer {token}");
        http::get(addr, "/api/orders", &[("authorization", &auth)])
    });
    assert!(
        w.idp.wait_for_received(DISCOVERY_PATH, 2, WAIT),
        "the timed-out discovery fetch was not retried"
    );
    w.idp.release();
    let seen = echoed(&client.join().unwrap().unwrap());
    assert_eq!(seen.header_all("x-user-id"), ["user-1"]);
}

#[test]
fn request_waiting_for_keys_gets_503_when_the_cold_start_wait_runs_out() {
    let w = Setup::new("cold_start_gives_up")
        .before_envoy(|idp| idp.hold())
        .policy(|p| set(p, "/providers/idp/cold_start/max_wait_ms", json!(300)))
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    let r = w.get("/api/orders", Some(&token), &[]);
    assert_eq!(r.status, 503, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "keys_wait_timeout");
    assert!(
        r.header("retry-after").is_some(),
        "503 without Retry-After: {r:?}"
    );
    assert_eq!(w.idp.served(JWKS_PATH), 0);
}

#[test]
fn requests_keep_passing_while_the_idp_fails_after_keys_are_known() {
    let w = Setup::new("idp_down")
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
    for mode in [Mode::Status(500), Mode::Close] {
        w.idp.set_mode(mode);
        // Wait for at least two failed refresh attempts (first attempt and one retry).
        let seen = w.idp.total_received();
        assert!(
            w.idp.wait_for_any_received(seen + 2, WAIT),
            "refresh attempts did not reach the failing IdP ({mode:?})"
        );
        // A token the filter has not verified before, so no cached verification answers.
        let sub = format!("after-{mode:?}");
        let fresh = w.token(json!({ "scope": "api:read", "sub": sub }));
        let seen = echoed(&w.get("/api/orders", Some(&fresh), &[]));
        assert_eq!(seen.header_all("x-user-id"), [sub.as_str()], "{mode:?}");
    }
}

#[test]
fn requests_get_503_once_the_last_good_keys_are_older_than_max_stale() {
    let w = Setup::new("idp_down_too_long")
        .policy(|p| {
            set(p, "/providers/idp/cold_start/max_wait_ms", json!(500));
            set(
                p,
                "/providers/idp/refresh/interval_s",
                json!(MIN_REFRESH_INTERVAL_S),
            );
            set(
                p,
                "/providers/idp/refresh/max_stale_s",
                json!(MIN_REFRESH_INTERVAL_S),
            );
        })
        .start();
    echoed(&w.get(
        "/api/orders",
        Some(&w.token(json!({ "scope": "api:read" }))),
        &[],
    ));
    w.idp.set_mode(Mode::Status(500));
    // Poll with tokens never seen before until the keys expire; bounded by WAIT.
    let deadline = Instant::now() + WAIT * 2;
    let mut attempt = 0u64;
    let refused = loop {
        attempt += 1;
        let token = w.token(json!({ "scope": "api:read", "jti": attempt.to_string() }));
        let r = w.get("/api/orders", Some(&token), &[]);
        if r.status != 200 || Instant::now() >= deadline {
            break r;
        }
        thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(refused.status, 503, "{refused:?} {}", refused.body_text());
    // Keys past max_stale are refused at once, without first waiting `max_wait_ms`.
    assert_eq!(reason_of(&refused), "keys_unavailable");
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
}

#[test]
fn token_signed_with_a_newly_published_key_is_accepted_after_a_refetch() {
    let w = Setup::new("rotation_new_kid").start();
    let old = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&old), &[]));
    let fetches = w.idp.served(JWKS_PATH);
    let next = Key::es256("key-b");
    w.idp.set_jwks(jwks(&[&w.key, &next]));
    let_unknown_kid_limit_pass();
    let token = next.sign(&w.claims(json!({ "scope": "api:read", "sub": "rotated" })));
    let seen = echoed(&w.get("/api/orders", Some(&token), &[]));
    assert_eq!(seen.header_all("x-user-id"), ["rotated"]);
    assert!(
        w.idp.served(JWKS_PATH) > fetches,
        "the new kid was found without a refetch"
    );
}

#[test]
fn token_signed_with_a_retired_key_is_refused_after_rotation() {
    let w = Setup::new("rotation_retired").start();
    let old = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&old), &[]));
    let next = Key::es256("key-b");
    w.idp.set_jwks(jwks(&[&next]));
    let_unknown_kid_limit_pass();
    // A token under the new kid makes the filter refetch and see the old key gone.
    let token = next.sign(&w.claims(json!({ "scope": "api:read" })));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    // A token the filter has not seen before (a verified-token cache may still hold `old`).
    let fresh_old = w.token(json!({ "scope": "api:read", "sub": "after-rotation" }));
    let r = w.get("/api/orders", Some(&fresh_old), &[]);
    assert_eq!(r.status, 401, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "key_not_found");
}

#[test]
fn unknown_kid_triggers_a_jwks_refetch() {
    let w = Setup::new("unknown_kid_refetch").start();
    echoed(&w.get(
        "/api/orders",
        Some(&w.token(json!({ "scope": "api:read" }))),
        &[],
    ));
    let_unknown_kid_limit_pass();
    let before = w.idp.received(JWKS_PATH);
    let stranger = Key::es256("key-unknown");
    let token = stranger.sign(&w.claims(json!({ "scope": "api:read" })));
    let r = w.get("/api/orders", Some(&token), &[]);
    assert_eq!(r.status, 401, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "key_not_found");
    assert!(
        w.idp.wait_for_received(JWKS_PATH, before + 1, WAIT),
        "an unknown kid did not make the filter fetch the JWKS again"
    );
}

#[test]
fn four_workers_fetch_discovery_and_jwks_once_between_them() {
    const WORKERS: u32 = 4;
    // Connections needed before every worker has served one; far above what hashing needs.
    const MAX_CONNECTIONS: usize = 400;
    let w = Setup::new("four_workers").concurrency(WORKERS).start();
    let token = w.token(json!({ "scope": "api:read" }));
    let mut workers_seen = 0;
    for _ in 0..MAX_CONNECTIONS {
        echoed(&w.get("/api/orders", Some(&token), &[]));
        let stats = w
            .envoy
            .stats(r"^listener\.ingress\.worker_\d+\.downstream_cx_total$")
            .unwrap();
        workers_seen = stats.values().filter(|&&n| n > 0).count();
        if workers_seen == WORKERS as usize {
            break;
        }
    }
    assert_eq!(
        workers_seen, WORKERS as usize,
        "connections did not reach every worker"
    );
    // Every worker has answered an authenticated request, so each has had keys.
    assert_eq!(
        w.idp.received(DISCOVERY_PATH),
        1,
        "discovery fetched per worker"
    );
    assert_eq!(w.idp.received(JWKS_PATH), 1, "JWKS fetched per worker");
}

#[test]
fn four_workers_make_one_refresh_fetch_between_them() {
    const WORKERS: u32 = 4;
    // How long to watch a held refresh fetch, in refresh intervals: every worker VM comes due
    // for the same refresh within it (jitter included), so a VM that did not know another one
    // is fetching would fetch too.
    const WATCHED_INTERVALS: f64 = 1.5;
    const INTERVAL_S: u64 = MIN_REFRESH_INTERVAL_S;
    let w = Setup::new("four_workers_refresh")
        .concurrency(WORKERS)
        .policy(|p| {
            set(p, "/providers/idp/refresh/interval_s", json!(INTERVAL_S));
            // Longer than the watch, so the held fetch does not time out and retry meanwhile.
            set(
                p,
                "/providers/idp/jwks/oidc_discovery/timeout_ms",
                json!(20_000),
            );
        })
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&token), &[]));
    let before = w.idp.total_received();
    w.idp.hold();
    assert!(
        w.idp.wait_for_any_received(before + 1, WAIT),
        "no refresh fetch reached the IdP"
    );
    thread::sleep(Duration::from_secs(INTERVAL_S).mul_f64(WATCHED_INTERVALS));
    let during = w.idp.total_received() - before;
    w.idp.release();
    assert_eq!(during, 1, "refresh fetches while one was in flight");
    echoed(&w.get("/api/orders", Some(&token), &[]));
}

#[test]
fn a_provider_whose_cluster_envoy_lacks_counts_failed_fetches_and_answers_503() {
    // A common deployment mistake: the plugin names a cluster the Envoy config does not
    // define. Envoy refuses the callout at dispatch; requests must not hang or pass.
    let w = Setup::new("unknown_cluster")
        .policy(|p| {
            set(
                p,
                "/providers/idp/jwks/oidc_discovery/cluster",
                json!("no-such-cluster"),
            );
            set(p, "/providers/idp/cold_start/max_wait_ms", json!(300));
        })
        .start();
    let token = w.token(json!({ "scope": "api:read" }));
    let r = w.get("/api/orders", Some(&token), &[]);
    assert_eq!(r.status, 503, "{r:?} {}", r.body_text());
    assert_eq!(reason_of(&r), "keys_wait_timeout");
    let failed = w
        .envoy
        .reported_stats(r"^wasmcustom\.claimcheck\.jwks\.idp\.fetch_failed\.")
        .unwrap();
    assert!(
        failed.values().any(|&n| n >= 1),
        "no fetch_failed.* counter: {failed:?}"
    );
    assert_eq!(w.idp.total_received(), 0);
}

#[test]
fn a_rotation_right_after_a_refresh_refuses_no_valid_request_on_two_workers() {
    // How long traffic flows after the rotation, and how many clients send it: enough
    // connections that both workers see new-key tokens.
    const TRAFFIC: Duration = Duration::from_secs(3);
    const CLIENTS: usize = 4;
    let w = Setup::new("rotation_two_workers")
        .concurrency(2)
        .policy(|p| {
            // The default limit: the refresh that just happened must not count against it.
            set(
                p,
                "/providers/idp/refresh/unknown_kid_min_interval_s",
                json!(30),
            );
        })
        .start();
    let old = w.token(json!({ "scope": "api:read" }));
    echoed(&w.get("/api/orders", Some(&old), &[]));
    let (discovery, jwks_fetches) = (w.idp.received(DISCOVERY_PATH), w.idp.received(JWKS_PATH));
    // The IdP publishes a new key right after that fetch and signs with it from now on.
    let next = Key::es256("key-b");
    w.idp.set_jwks(jwks(&[&w.key, &next]));
    let addr = w.envoy.addr();
    let deadline = Instant::now() + TRAFFIC;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let old = old.clone();
            let new =
                next.sign(&w.claims(json!({ "scope": "api:read", "sub": format!("c{client}") })));
            thread::spawn(move || {
                let mut refused = Vec::new();
                let mut sent = 0;
                while Instant::now() < deadline {
                    for token in [&new, &old] {
                        let auth = format!("Bearer {token}");
                        let r = http::get(addr, "/api/orders", &[("authorization", &auth)]);
                        sent += 1;
                        match r {
                            Ok(r) if r.status == 200 => {}
                            Ok(r) => refused.push(format!("{} {}", r.status, r.body_text())),
                            Err(e) => refused.push(e.to_string()),
                        }
                    }
                }
                (sent, refused)
            })
        })
        .collect();
    let mut sent = 0;
    for client in clients {
        let (n, refused) = client.join().unwrap();
        sent += n;
        assert!(refused.is_empty(), "valid requests refused: {refused:?}");
    }
    assert!(sent >= 2 * CLIENTS, "too little traffic: {sent}");
    assert_eq!(
        (w.idp.received(DISCOVERY_PATH), w.idp.received(JWKS_PATH)),
        (discovery + 1, jwks_fetches + 1),
        "the IdP saw more (or less) than one extra fetch"
    );
}
