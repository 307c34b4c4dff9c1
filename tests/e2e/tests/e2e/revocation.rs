//! Revocation lists through real Envoy: a token revoked at the IdP is refused within the
//! list's refresh interval (the lag is measured and printed), and a list that cannot be
//! refreshed for longer than `max_stale_s` refuses every token with 503 (fail closed).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;
use claimcheck_e2e::http::Response;
use claimcheck_e2e::idp::Mode;

/// The list's refresh interval: the bound on how late a revocation takes effect.
const INTERVAL_S: u64 = 2;
const MAX_STALE_S: u64 = 10;
/// A refresh falls due on the root's tick (every second), and the fetch itself takes a
/// moment: the lag is at most the interval plus one tick, and a little.
const TICK: Duration = Duration::from_secs(1);
const FETCH_ALLOWANCE: Duration = Duration::from_millis(500);

fn world(name: &str) -> World {
    Setup::new(name)
        .concurrency(2)
        .policy(|p| {
            let issuer = p["providers"]["idp"]["issuer"].as_str().unwrap().to_owned();
            set(
                p,
                "/providers/idp/revocation",
                json!({
                    "cluster": "idp",
                    "uri": format!("{issuer}/revoked.json"),
                    "interval_s": INTERVAL_S,
                    "min_interval_s": 1,
                    "max_stale_s": MAX_STALE_S
                }),
            );
        })
        .start()
}

/// Sends `request` every 20 ms until it is refused; the time that took.
fn time_until_refused(request: impl Fn() -> Response, within: Duration) -> (Duration, Response) {
    let start = Instant::now();
    loop {
        let response = request();
        if response.status != 200 || start.elapsed() > within {
            return (start.elapsed(), response);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_token_revoked_at_the_idp_is_refused_within_the_refresh_interval() {
    let w = world("revocation_lag");
    let token = w.token(json!({ "jti": "session-41", "sub": "alice", "scope": "api:read" }));
    let other = w.token(json!({ "jti": "session-42", "sub": "bob", "scope": "api:read" }));
    let send = |token: &str| w.get("/api/orders", Some(token), &[]);
    echoed(&send(&token));

    w.idp
        .set_revocation_list(json!({ "jti": ["session-41"], "sub": [], "sid": [] }));
    let bound = Duration::from_secs(INTERVAL_S) + TICK + FETCH_ALLOWANCE;
    let (lag, refused) = time_until_refused(|| send(&token), bound + Duration::from_secs(2));
    println!(
        "revocation lag: {} ms (interval {INTERVAL_S} s; bound {} ms)",
        lag.as_millis(),
        bound.as_millis()
    );
    assert_eq!(refused.status, 401, "{}", refused.body_text());
    assert_eq!(reason_of(&refused), "token_revoked");
    assert!(lag <= bound, "refused after {lag:?}, later than {bound:?}");
    echoed(&send(&other));
}

#[test]
fn a_list_that_cannot_be_refreshed_past_max_stale_refuses_with_503() {
    let w = world("revocation_stale");
    let token = w.token(json!({ "jti": "session-7", "scope": "api:read" }));
    let send = || w.get("/api/orders", Some(&token), &[]);
    echoed(&send());

    w.idp.set_mode(Mode::Status(503));
    let bound = Duration::from_secs(MAX_STALE_S) + TICK + FETCH_ALLOWANCE;
    let (waited, refused) = time_until_refused(send, bound + Duration::from_secs(2));
    println!("a stale list refused after {} ms", waited.as_millis());
    assert_eq!(refused.status, 503, "{}", refused.body_text());
    assert_eq!(reason_of(&refused), "revocation_list_unavailable");
}
