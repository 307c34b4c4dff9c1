//! What one request costs the module in host calls and allocations, written as JSON for
//! `make bench` (BENCHMARKS.md). Ignored by `cargo test`: it measures rather than checks.
//! Allocations are counted only in a module built with the feature `count-allocations`.

use std::time::{Duration, SystemTime};

use claimcheck_harness::envoy_crypto::{verify_signature, VERIFY_SIGNATURE};
use claimcheck_harness::{wasm_path_from_env_or, Host, VmId};
use serde_json::{json, Value};

use crate::support::*;

fn allocations(host: &Host, vm: VmId) -> Option<(u32, u32)> {
    let count = host.call_export(vm, "claimcheck_allocations").ok()??;
    let bytes = host.call_export(vm, "claimcheck_allocated_bytes").ok()??;
    Some((count as u32, bytes as u32))
}

/// Host calls and allocations of one request.
fn measure(host: &Host, vm: VmId, name: &str, token: Option<&str>) -> Value {
    host.reset_host_calls();
    let before = allocations(host, vm);
    let stream = get(host, vm, "/api", token, &[]);
    let after = allocations(host, vm);
    let calls = host.host_calls();
    let mut row = json!({
        "name": name,
        "host_calls": calls.values().sum::<u64>(),
        "breakdown": calls,
        "forwarded": forwarded(&stream),
    });
    if let (Some(before), Some(after)) = (before, after) {
        row["allocations"] = json!(after.0.wrapping_sub(before.0));
        row["allocated_bytes"] = json!(after.1.wrapping_sub(before.1));
    }
    row
}

#[test]
#[ignore = "a measurement for make bench, not a check"]
fn per_request_costs() {
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    let host = Host::builder()
        .wasm(wasm)
        .start_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .foreign_function(VERIFY_SIGNATURE, verify_signature)
        .build()
        .unwrap();
    let key = SigningKey::generate("k1");
    let config = json!({
        "providers": {"corp": {
            "issuer": ISSUER,
            "audiences": ["api"],
            "jwks": {"inline": {"keys": [key.jwk()]}},
            "claims_to_headers": [{"claim": "sub", "header": "x-user"}]
        }},
        "default": {"action": "require", "require": {
            "providers": {"any": ["corp"]},
            "claims": {"claim": "role", "equals": "reader"}
        }}
    });
    let vm = host.start_vm(config.to_string()).unwrap();
    let cached = token(&host, &key, json!({"role": "reader"}));
    let fresh = token(&host, &key, json!({"role": "reader", "n": 2}));
    // Warm-up: metric ids defined, the cached token verified once.
    get(&host, vm, "/api", Some(&cached), &[]);
    get(&host, vm, "/api", None, &[]);
    let rows = vec![
        measure(&host, vm, "allowed, token cached", Some(&cached)),
        measure(
            &host,
            vm,
            "allowed, token not cached (ES256 on the host)",
            Some(&fresh),
        ),
        measure(&host, vm, "refused, no token", None),
    ];
    let report = json!({ "rows": rows });
    println!("{report:#}");
    if let Some(path) = std::env::var_os("BENCH_COUNTS") {
        std::fs::write(path, report.to_string()).unwrap();
    }
}
