//! Several worker VMs of one process: one fetch between them (shared data and a lease), the
//! others adopt the published keys on their tick.

use serde_json::json;

use claimcheck_harness::VmId;

use crate::support::*;

fn start_workers(count: usize) -> (claimcheck_harness::Host, Vec<VmId>) {
    let host = build_host(&["idp"]);
    let vms = (0..count)
        .map(|_| host.start_vm(remote_config()).unwrap())
        .collect();
    (host, vms)
}

fn one_fetch_for(workers: usize) {
    let key = SigningKey::generate("k1");
    let (host, vms) = start_workers(workers);
    let paused: Vec<_> = vms
        .iter()
        .map(|vm| {
            get(
                &host,
                *vm,
                "/api",
                Some(&token(&host, &key, json!({}))),
                &[],
            )
        })
        .collect();
    advance_ms(&host, 500);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 100);
    for stream in &paused {
        assert!(stream.was_request_resumed(), "vm {:?}", stream.vm());
        assert_eq!(
            stream.forwarded_request_header("x-user").as_deref(),
            Some("alice")
        );
    }
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 1);
}

#[test]
fn two_workers_make_one_fetch_and_both_use_its_keys() {
    one_fetch_for(2);
}

#[test]
fn four_workers_make_one_fetch_and_all_use_its_keys() {
    one_fetch_for(4);
}

#[test]
fn a_worker_adopts_published_keys_on_its_tick_without_fetching() {
    let key = SigningKey::generate("k1");
    let (host, vms) = start_workers(2);
    advance_ms(&host, 100);
    let call = serve_jwks(&host, &[&key]);
    let other = vms.iter().copied().find(|vm| *vm != call.vm).unwrap();
    advance_ms(&host, 100);
    let stream = get(
        &host,
        other,
        "/api",
        Some(&token(&host, &key, json!({}))),
        &[],
    );
    assert!(forwarded(&stream), "{:?}", stream.local_response());
    assert!(host.pending_calls().is_empty());
}

#[test]
fn a_worker_started_after_the_fetch_uses_the_published_keys() {
    let key = SigningKey::generate("k1");
    let (host, _first) = start_with_keys(&remote_config(), &[&key]);
    let late = host.start_vm(remote_config()).unwrap();
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty());
    let stream = get(
        &host,
        late,
        "/api",
        Some(&token(&host, &key, json!({}))),
        &[],
    );
    assert!(forwarded(&stream));
}

#[test]
fn a_refresh_is_made_by_one_worker_for_all() {
    let key = SigningKey::generate("k1");
    let (host, _vms) = start_workers(4);
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    until_refresh(&host);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 5_000);
    assert!(host.pending_calls().is_empty());
    assert_eq!(count(&host, "claimcheck.jwks.corp.fetch_ok"), 2);
}

#[test]
fn unknown_kids_on_two_workers_make_one_refetch() {
    let key = SigningKey::generate("k1");
    let rotated = SigningKey::generate("k2");
    let (host, vms) = start_workers(2);
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 31_000);
    let paused: Vec<_> = vms
        .iter()
        .map(|vm| {
            get(
                &host,
                *vm,
                "/api",
                Some(&token(&host, &rotated, json!({}))),
                &[],
            )
        })
        .collect();
    advance_ms(&host, 1_000);
    serve_jwks(&host, &[&key, &rotated]);
    advance_ms(&host, 1_000);
    for stream in &paused {
        assert!(
            stream.was_request_resumed(),
            "{:?}",
            stream.local_response()
        );
    }
    // Nothing more until the regular refresh, ten minutes after the first fetch.
    advance_ms(&host, 60_000);
    assert!(
        host.pending_calls().is_empty(),
        "{:?}",
        host.pending_calls()
    );
}

#[test]
fn four_workers_answer_an_unknown_kid_flood_with_one_refetch() {
    let key = SigningKey::generate("k1");
    let (host, vms) = start_workers(4);
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 31_000);
    let mut streams = Vec::new();
    for (index, vm) in vms.iter().enumerate() {
        for n in 0..5 {
            let forged = SigningKey::generate(&format!("made-up-{index}-{n}"));
            streams.push(get(
                &host,
                *vm,
                "/api",
                Some(&token(&host, &forged, json!({}))),
                &[],
            ));
        }
    }
    advance_ms(&host, 1_000);
    serve_jwks(&host, &[&key]);
    advance_ms(&host, 3_000);
    for stream in &streams {
        assert_eq!(refusal_reason(stream).as_deref(), Some("key_not_found"));
    }
    advance_ms(&host, 60_000);
    assert!(
        host.pending_calls().is_empty(),
        "{:?}",
        host.pending_calls()
    );
}

#[test]
fn the_record_and_lease_live_under_the_providers_shared_key() {
    let key = SigningKey::generate("k1");
    let (host, _vm) = start_with_keys(&remote_config(), &[&key]);
    let record = record_meta(&host).expect("record published");
    assert_eq!(record["generation"], 1);
}

#[test]
fn a_lease_held_by_a_worker_that_never_publishes_expires_and_another_fetches() {
    let host = build_host(&["idp"]);
    let expires = host_now_ms(&host) + 6_000;
    host.set_shared_data(
        &format!("{}/lease", corp_shared_key()),
        json!({"owner": 42, "expires_at_ms": expires}).to_string(),
    );
    host.start_vm(remote_config()).unwrap();
    advance_ms(&host, 5_900);
    assert!(
        host.pending_calls().is_empty(),
        "fetched under another's lease"
    );
    advance_ms(&host, 200);
    assert_eq!(host.pending_calls().len(), 1);
}

#[test]
fn a_corrupted_record_in_shared_data_counts_as_none_and_is_replaced() {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let record_key = format!("{}/record", corp_shared_key());
    host.set_shared_data(&record_key, b"\xff{not a record".to_vec());
    let vm = host.start_vm(remote_config()).unwrap();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert!(
        record_meta(&host).is_some(),
        "replaced by a readable record"
    );
}

#[test]
fn configuring_creates_the_lease_entry_so_first_ticks_compete_by_compare_and_swap() {
    let host = build_host(&["idp"]);
    let lease_key = format!("{}/lease", corp_shared_key());
    assert!(host.shared_data(&lease_key).is_none());
    host.start_vm(remote_config()).unwrap();
    let (lease, _cas) = host.shared_data(&lease_key).expect("lease entry created");
    assert!(lease.is_empty(), "created free");
}

#[test]
fn a_record_of_the_previous_format_is_not_used_and_is_replaced() {
    let key = SigningKey::generate("k1");
    let host = build_host(&["idp"]);
    let record_key = format!("{}/record", corp_shared_key());
    // Version 1 kept the JWKS as a string inside JSON; this one names a key the IdP never
    // published, so using it would show.
    let stale = SigningKey::generate("old-format");
    let version_1 = json!({"generation": 9, "fetched_at_ms": host_now_ms(&host),
        "jwks": jwks(&[&stale]), "attempted_at_ms": host_now_ms(&host),
        "next_fetch_at_ms": host_now_ms(&host) + 600_000, "failures": 0, "last_failure": null});
    host.set_shared_data(&record_key, version_1.to_string());
    let vm = host.start_vm(remote_config()).unwrap();
    advance_ms(&host, 100);
    serve_jwks(&host, &[&key]);
    let stream = get(&host, vm, "/api", Some(&token(&host, &key, json!({}))), &[]);
    assert!(forwarded(&stream));
    assert_eq!(record_meta(&host).unwrap()["generation"], 1);
}
