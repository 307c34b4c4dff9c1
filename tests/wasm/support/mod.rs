//! Test keys, tokens and a configured host.

use std::time::{SystemTime, UNIX_EPOCH};

use claimcheck_harness::{wasm_path_from_env_or, DispatchedCall, Host, HttpStream, VmId};
use serde_json::{json, Value};

/// The harness clock starts here; tokens are minted relative to it.
pub fn host_now_s(host: &Host) -> u64 {
    host.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn build_host(clusters: &[&str]) -> Host {
    build_host_seeded(clusters, 0)
}

/// A host whose `random_get` stream starts from `seed` (another Envoy process).
pub fn build_host_seeded(clusters: &[&str], seed: u64) -> Host {
    let wasm = wasm_path_from_env_or(
        "CLAIMCHECK_WASM",
        "target/wasm32-wasip1/release/claimcheck.wasm",
        "run `make build` first",
    )
    .unwrap();
    Host::builder()
        .wasm(wasm)
        .clusters(clusters.iter().copied())
        .start_time(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000))
        .random_seed(seed)
        .build()
        .unwrap()
}

/// An ES256 signing key (from the workspace test kit) with its `kid`.
pub struct SigningKey {
    pub kid: String,
    key: claimcheck_testkit::SigningKey,
}

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        SigningKey {
            kid: kid.to_owned(),
            key: claimcheck_testkit::SigningKey::es256(),
        }
    }

    pub fn jwk(&self) -> Value {
        self.key.published_jwk(&self.kid)
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.key.token(Some(&self.kid), claims)
    }

    /// A token whose JOSE header says `typ` (instead of `JWT`).
    pub fn sign_typed(&self, typ: &str, claims: &Value) -> String {
        let header = json!({"alg": self.key.alg(), "kid": self.kid, "typ": typ});
        self.key.key().token(&header, claims)
    }
}

pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()}).to_string()
}

pub const ISSUER: &str = "https://idp.test";

/// Claims valid for an hour from `now`.
pub fn claims(now: u64, extra: Value) -> Value {
    let mut claims =
        json!({"iss": ISSUER, "sub": "alice", "aud": "api", "iat": now, "exp": now + 3600});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            claims.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// GET `path` with a bearer token (if any) and extra headers.
pub fn get(
    host: &Host,
    vm: VmId,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
) -> HttpStream {
    let stream = host.http_stream(vm).unwrap();
    let authorization = token.map(|token| format!("Bearer {token}"));
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", "GET"),
        (":path", path),
        (":authority", "api.test"),
        (":scheme", "http"),
    ];
    if let Some(value) = &authorization {
        headers.push(("authorization", value));
    }
    headers.extend_from_slice(extra);
    stream.send_request_headers(&headers, true).unwrap();
    stream
}

/// The path of the JWKS document in [`config_with`].
pub const JWKS_PATH: &str = "/jwks.json";

/// A configuration with one remote provider `corp` (cluster `idp`, JWKS at [`JWKS_PATH`]),
/// `/public` open to anonymous requests and everything else requiring a `corp` token.
/// `provider` is merged into the provider object and `top` into the root object.
pub fn config_with(provider: Value, top: Value) -> String {
    let mut corp = json!({
        "issuer": ISSUER,
        "audiences": ["api"],
        "jwks": {"remote": {"cluster": "idp", "uri": "https://idp.test/jwks.json", "timeout_ms": 2000}},
        "refresh": {"interval_s": 600, "max_stale_s": 3600, "retry_initial_ms": 1000,
                    "retry_max_ms": 8000, "unknown_kid_min_interval_s": 30},
        "cold_start": {"max_wait_ms": 3000},
        "claims_to_headers": [{"claim": "sub", "header": "x-user"}]
    });
    merge(&mut corp, provider);
    let mut config = json!({
        "providers": {"corp": corp},
        "rules": [{"name": "public", "match": {"path": {"prefix": "/public"}}, "action": "allow"}],
        "default": {"action": "require", "require": {"providers": {"any": ["corp"]}}}
    });
    merge(&mut config, top);
    config.to_string()
}

/// The default [`config_with`].
pub fn remote_config() -> String {
    config_with(json!({}), json!({}))
}

/// Shallow merge of `extra`'s members into `base` (both objects).
fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (name, value) in extra {
            base.insert(name, value);
        }
    }
}

/// Moves the host's clock (ticks and call timeouts fire on the way).
pub fn advance_ms(host: &Host, ms: u64) {
    host.advance(std::time::Duration::from_millis(ms)).unwrap();
}

/// The only call waiting for an answer; fails the test if there are none or several.
pub fn one_call(host: &Host) -> DispatchedCall {
    let calls = host.pending_calls();
    assert_eq!(
        calls.len(),
        1,
        "expected exactly one pending call: {calls:?}"
    );
    calls.into_iter().next().unwrap()
}

/// Answers the only pending call with a JWKS holding `keys`.
pub fn serve_jwks(host: &Host, keys: &[&SigningKey]) -> DispatchedCall {
    let call = one_call(host);
    assert_eq!(call.header(":path"), Some(JWKS_PATH), "{call:?}");
    host.respond(
        call.id,
        200,
        &[("content-type", "application/json")],
        jwks(keys).as_bytes(),
    )
    .unwrap();
    call
}

/// A host with the `idp` cluster and one VM configured with `config`.
pub fn start(config: &str) -> (Host, VmId) {
    let host = build_host(&["idp"]);
    let vm = host.start_vm(config).unwrap();
    (host, vm)
}

/// A VM configured with `config` whose first fetch returned `keys`.
pub fn start_with_keys(config: &str, keys: &[&SigningKey]) -> (Host, VmId) {
    let (host, vm) = start(config);
    advance_ms(&host, 100);
    serve_jwks(&host, keys);
    advance_ms(&host, 100);
    assert!(host.pending_calls().is_empty());
    (host, vm)
}

/// A token for `corp`, valid for an hour from the host's clock, with `extra` claims.
pub fn token(host: &Host, key: &SigningKey, extra: Value) -> String {
    key.sign(&claims(host_now_s(host), extra))
}

/// The status of the local reply, if the filter sent one.
pub fn refusal_status(stream: &HttpStream) -> Option<u32> {
    stream.local_response().map(|response| response.status)
}

/// The `reason` field of the local reply's JSON body.
pub fn refusal_reason(stream: &HttpStream) -> Option<String> {
    let response = stream.local_response()?;
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body.get("reason")?.as_str().map(str::to_owned)
}

/// Whether the request went upstream.
pub fn forwarded(stream: &HttpStream) -> bool {
    stream.forwarded_request_headers().is_some()
}

/// A counter's value, zero when never incremented.
pub fn count(host: &Host, name: &str) -> u64 {
    host.counter(name).unwrap_or(0)
}

/// Advances past the jitter window's start, then in small steps until the refresh is
/// dispatched (jitter puts it between 540 s and 600 s after the last fetch). Fails if it is
/// not dispatched by 601 s.
pub fn until_refresh(host: &Host) -> DispatchedCall {
    advance_ms(host, 539_000);
    assert!(
        host.pending_calls().is_empty(),
        "refresh came before the jitter window"
    );
    for _ in 0..620 {
        advance_ms(host, 100);
        if !host.pending_calls().is_empty() {
            return one_call(host);
        }
    }
    panic!("no refresh within the interval");
}

/// The shared-data prefix of `corp` in [`config_with`]: the layout version, the provider name
/// and a digest of its issuer, cluster, URI and algorithms (the cross-worker protocol of
/// `src/config/fetch_plan.rs`).
pub fn corp_shared_key() -> String {
    // The provider's algorithms are part of the digest; `corp` accepts the default list.
    let algorithms = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512,EdDSA";
    let source = format!("{ISSUER}\nidp\nhttps://idp.test/jwks.json\n{algorithms}");
    let digest = ring::digest::digest(&ring::digest::SHA256, source.as_bytes());
    let short: String = digest.as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("claimcheck/v2/corp/{short}")
}

/// The host's clock in milliseconds since the epoch.
pub fn host_now_ms(host: &Host) -> u64 {
    u64::try_from(host.now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// The metadata line of `corp`'s shared record (`src/keys/record.rs`: a version line, one
/// line of JSON, then the JWKS verbatim), if there is a readable record.
pub fn record_meta(host: &Host) -> Option<Value> {
    let (bytes, _cas) = host.shared_data(&format!("{}/record", corp_shared_key()))?;
    let rest = bytes.strip_prefix(b"claimcheck-key-record 2\n".as_slice())?;
    let line = rest.split(|&byte| byte == b'\n').next()?;
    serde_json::from_slice(line).ok()
}
