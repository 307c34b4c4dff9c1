//! `claimcheck explain` prints the decision the filter makes: every policy example, under a
//! set of requests and tokens, through the CLI binary and through the real `.wasm` in the mock
//! host (`make build` first).
//!
//! Each example's providers get inline keys (one ES256 test key each), so both sides verify
//! signatures without a network; everything else in the examples is as written.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use claimcheck_harness::{wasm_path_from_env_or, Host};
use claimcheck_testkit::SigningKey;
use serde_json::{json, Value};

/// The instant both sides judge tokens at.
const NOW: u64 = 1_800_000_000;

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy-examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// One provider of an example, with its test key.
struct Provider {
    issuer: String,
    audience: Option<String>,
    /// Where its first source expects the token.
    source: Value,
    key: SigningKey,
}

/// The example with inline ES256 keys, and its providers.
fn with_test_keys(example: &Value) -> (Value, Vec<Provider>) {
    let mut config = example.clone();
    let mut providers = Vec::new();
    for (_, provider) in config["providers"].as_object_mut().unwrap() {
        let key = SigningKey::es256();
        provider["jwks"] = json!({ "inline": { "keys": [key.published_jwk("k1")] } });
        provider["algorithms"] = json!(["ES256"]);
        providers.push(Provider {
            issuer: provider["issuer"].as_str().unwrap().to_owned(),
            audience: provider["audiences"][0].as_str().map(str::to_owned),
            source: provider["sources"][0].clone(),
            key,
        });
    }
    (config, providers)
}

/// Claims that satisfy most conditions of the examples (`rich`), or only the registered
/// claims (so conditions fail).
fn claims(provider: &Provider, rich: bool, exp: u64) -> Value {
    let mut claims = json!({ "iss": provider.issuer, "sub": "alice", "iat": NOW - 60, "exp": exp });
    if let Some(audience) = &provider.audience {
        claims["aud"] = json!(audience);
    }
    if rich {
        let extra = json!({
            "scope": "orders:read orders:write orders:refund",
            "scp": ["catalog.read", "orders.read", "orders.write"],
            "groups": ["admin", "inventory-writers", "tenant-admin", "platform-ops"],
            "tenant": "acme", "org": { "tier": 3 }, "amr": ["mfa"], "acr": "urn:mfa",
            "svc": "billing", "partner_id": "p-1", "email_verified": true,
            "loyalty": { "tier": 3 }
        });
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A request: method, path, host and headers (the token already placed).
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    host: String,
    headers: Vec<(String, String)>,
}

/// A request each rule of the example matches (as far as a path, a method and a host can
/// make it), plus one that no rule matches.
fn requests(example: &Value) -> Vec<Request> {
    let mut out = Vec::new();
    for rule in example["rules"].as_array().unwrap() {
        let m = &rule["match"];
        let path = &m["path"];
        let path = if let Some(exact) = path["exact"].as_str() {
            exact.to_owned()
        } else if let Some(prefix) = path["prefix"].as_str() {
            format!("{prefix}x")
        } else if let Some(template) = path["template"].as_str() {
            template
                .split('/')
                .map(|segment| match segment {
                    "**" => "a/b",
                    "*" => "a",
                    s if s.starts_with('{') => "7",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/")
        } else if path["regex"].is_string() {
            // The examples' regexes, by hand: a path each accepts.
            match path["regex"].as_str().unwrap() {
                "/v1/orders/[0-9]+/refunds" => "/v1/orders/42/refunds".to_owned(),
                _ => "/assets/app.js".to_owned(),
            }
        } else {
            "/".to_owned()
        };
        let method = m["methods"][0].as_str().unwrap_or("GET").to_owned();
        let host = match m["hosts"][0].as_str() {
            Some(host) => host.replace('*', "acme"),
            None => "api.example.com".to_owned(),
        };
        let mut headers = Vec::new();
        for header in m["headers"].as_array().into_iter().flatten() {
            let value = header["exact"].as_str().unwrap_or("1");
            headers.push((
                header["name"].as_str().unwrap().to_owned(),
                value.to_owned(),
            ));
        }
        out.push(Request {
            method,
            path,
            host,
            headers,
        });
    }
    out.push(Request {
        method: "GET".into(),
        path: "/nowhere".into(),
        host: "elsewhere.test".into(),
        headers: Vec::new(),
    });
    out
}

/// `request` carrying `token` where `provider`'s first source reads it.
fn carrying(request: &Request, provider: &Provider, token: &str) -> Request {
    let mut request = request.clone();
    let source = &provider.source;
    if let Some(name) = source["header"].as_str() {
        let prefix = source["prefix"].as_str().unwrap_or("");
        request
            .headers
            .push((name.to_ascii_lowercase(), format!("{prefix}{token}")));
    } else if let Some(name) = source["cookie"].as_str() {
        request
            .headers
            .push(("cookie".into(), format!("{name}={token}")));
    } else if let Some(param) = source["query"].as_str() {
        request.path = format!("{}?{param}={token}", request.path);
    } else {
        request
            .headers
            .push(("authorization".into(), format!("Bearer {token}")));
    }
    request
}

/// Every token case: none, then per provider a rich and a poor valid token, an expired one and
/// one signed by a key the provider does not know.
fn tokens(providers: &[Provider]) -> Vec<(String, Option<(usize, String)>)> {
    let mut out = vec![("no token".to_owned(), None)];
    let stranger = SigningKey::es256();
    for (index, provider) in providers.iter().enumerate() {
        let cases = [
            (
                "rich",
                provider
                    .key
                    .token(Some("k1"), &claims(provider, true, NOW + 600)),
            ),
            (
                "poor",
                provider
                    .key
                    .token(Some("k1"), &claims(provider, false, NOW + 600)),
            ),
            (
                "expired",
                provider
                    .key
                    .token(Some("k1"), &claims(provider, true, NOW - 600)),
            ),
            (
                "other key",
                stranger.token(Some("k1"), &claims(provider, true, NOW + 600)),
            ),
        ];
        for (name, token) in cases {
            out.push((
                format!("{name} token of {}", provider.issuer),
                Some((index, token)),
            ));
        }
    }
    out
}

/// What a side decided: allowed, or refused with status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allowed,
    Refused { status: u64, reason: String },
}

fn explain(config_file: &str, request: &Request) -> (Decision, bool) {
    let mut args: Vec<String> = vec![
        "explain".into(),
        config_file.into(),
        "--json".into(),
        "--now".into(),
        NOW.to_string(),
        "--method".into(),
        request.method.clone(),
        "--path".into(),
        request.path.clone(),
        "--host".into(),
        request.host.clone(),
    ];
    for (name, value) in &request.headers {
        args.push("--header".into());
        args.push(format!("{name}: {value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::claimcheck(&args);
    let out: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|_| panic!("explain printed no JSON: {}", run.stderr));
    let decision = &out["decision"];
    let dry_run = out["dry_run"] == json!(true);
    let decided = if decision["allowed"] == json!(true) {
        Decision::Allowed
    } else {
        Decision::Refused {
            status: decision["status"].as_u64().unwrap(),
            reason: decision["reason"].as_str().unwrap().to_owned(),
        }
    };
    (decided, dry_run)
}

fn filter(host: &Host, vm: claimcheck_harness::VmId, request: &Request) -> Decision {
    let stream = host.http_stream(vm).unwrap();
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", &request.method),
        (":path", &request.path),
        (":authority", &request.host),
        (":scheme", "https"),
    ];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    );
    stream.send_request_headers(&headers, true).unwrap();
    if stream.is_request_paused() {
        // Waiting for an introspection answer or a first revocation list: the examples'
        // endpoints are clusters the host lacks, so calls fail at once. The next tick decides
        // an introspection; a list that never comes refuses once `cold_start.max_wait_ms`
        // (3 s) has passed. Explain has neither, and says the same.
        host.advance(std::time::Duration::from_millis(3_200))
            .unwrap();
        if stream.local_response().is_none() && !stream.was_request_resumed() {
            panic!("{} {} still waits", request.method, request.path);
        }
    }
    match stream.local_response() {
        None => Decision::Allowed,
        Some(response) => {
            let body: Value = serde_json::from_slice(&response.body).unwrap();
            Decision::Refused {
                status: u64::from(response.status),
                reason: body["reason"].as_str().unwrap().to_owned(),
            }
        }
    }
}

#[test]
fn explain_prints_the_filters_decision_for_every_policy_example() {
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in examples() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let example: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let (config, providers) = with_test_keys(&example);
        let config_file = dir.path().join(&name);
        std::fs::write(&config_file, config.to_string()).unwrap();
        let config_file = config_file.to_str().unwrap().to_owned();
        let host = Host::builder()
            .wasm(&wasm)
            .start_time(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW))
            .build()
            .unwrap();
        let vm = host.start_vm(config.to_string()).unwrap();
        for request in requests(&example) {
            for (token_name, token) in tokens(&providers) {
                let request = match &token {
                    Some((index, token)) => carrying(&request, &providers[*index], token),
                    None => request.clone(),
                };
                cases += 1;
                let (explained, dry_run) = explain(&config_file, &request);
                let filtered = filter(&host, vm, &request);
                // Dry run: explain shows the refusal, the filter lets the request through.
                let expected = if dry_run {
                    Decision::Allowed
                } else {
                    explained.clone()
                };
                if filtered != expected {
                    failures.push(format!(
                        "{name}: {} {} (host {}) with {token_name}: explain {explained:?}{}, filter {filtered:?}",
                        request.method,
                        request.path,
                        request.host,
                        if dry_run { " (dry run)" } else { "" },
                    ));
                }
            }
        }
    }
    assert!(cases > 100, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
