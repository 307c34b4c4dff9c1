//! The manifests in `deploy/`, loaded by a real Envoy the way each platform would load them
//! (see `claimcheck_e2e::platform` for what is emulated), answer as their guides say.

use std::sync::Arc;

use claimcheck_e2e::echo;
use claimcheck_e2e::envoy::{self, Envoy};
use claimcheck_e2e::http::{Reply, Response, Server};
use claimcheck_e2e::idp::Idp;
use claimcheck_e2e::platform;
use ring::digest::{digest, SHA256};
use serde_json::{json, Value};

use crate::support::{echoed, jwks, now, reason_of, Key};

/// The issuer and audience every manifest's provider expects.
pub const ISSUER: &str = "https://idp.example.com";
pub const AUDIENCE: &str = "orders-api";

/// A platform's running world: the IdP as the manifests name it, the upstream, Envoy.
pub struct Platform {
    pub envoy: Envoy,
    pub idp: Idp,
    pub _servers: Vec<Server>,
    pub key: Key,
}

impl Platform {
    /// A token for the manifests' provider, with `extra` claims.
    pub fn token(&self, extra: Value) -> String {
        self.key.sign(&claims(extra))
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("authorization", b)])
            .unwrap_or_default();
        self.envoy
            .get(path, &headers)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.envoy.log()))
    }
}

/// Valid claims for the manifests' provider (subject `alice`), with `extra` merged in.
pub fn claims(extra: Value) -> Value {
    let now = now();
    let mut c = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
        "iat": now, "nbf": now, "exp": now + 600,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// Starts the IdP (as `https://idp.example.com`) and the upstream, then Envoy on the
/// configuration `build` writes given (run dir, IdP port, upstream port).
pub fn start(
    name: &str,
    build: impl FnOnce(&std::path::Path, u16, u16) -> Result<std::path::PathBuf, envoy::EnvoyError>,
) -> Platform {
    let key = Key::es256("deploy-key");
    let idp = Idp::start_as(jwks(&[&key]), ISSUER).unwrap();
    let upstream = echo::start("127.0.0.1:0").unwrap();
    let (idp_port, echo_port) = (idp.port(), upstream.port());
    let envoy = Envoy::start_with(name, 1, |dir| build(dir, idp_port, echo_port))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Platform {
        envoy,
        idp,
        _servers: vec![upstream],
        key,
    }
}

/// The answers every guide in `deploy/` promises for its manifest's policy.
fn answers_as_the_guide_says(platform: &Platform) {
    let health = platform.get("/healthz", None);
    assert_eq!(echoed(&health).path, "/healthz");

    let reader = platform.token(json!({ "scope": "orders:read" }));
    let allowed = platform.get("/orders/1", Some(&reader));
    let seen = echoed(&allowed);
    assert_eq!(seen.header_all("x-user-id"), ["alice"]);
    assert!(seen.header_all("authorization").is_empty());

    let missing = platform.get("/orders/1", None);
    assert_eq!(missing.status, 401, "{}", missing.body_text());
    assert_eq!(reason_of(&missing), "token_missing");

    let no_scope = platform.token(json!({ "scope": "orders:write" }));
    let refused = platform.get("/orders/1", Some(&no_scope));
    assert_eq!(refused.status, 403, "{}", refused.body_text());
    assert_eq!(reason_of(&refused), "claims_condition_failed");

    let admin = platform.get("/admin", Some(&reader));
    assert_eq!(admin.status, 403, "{}", admin.body_text());
    assert_eq!(reason_of(&admin), "no_rule_matched");
}

fn istio(plugin_file: &str) {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let plugin = platform::istio_plugin(plugin_file, &wasm).unwrap();
    assert_eq!(plugin.idp_cluster, "outbound|443||idp.example.com");
    let platform = start(&format!("istio_{plugin_file}"), |dir, idp, echo| {
        platform::istio_bootstrap(&plugin, dir, idp, echo)
    });
    answers_as_the_guide_says(&platform);
    assert!(
        platform.idp.discovery_requests() >= 1,
        "keys came through the ServiceEntry's cluster"
    );
}

#[test]
fn istio_wasm_plugin_loads_through_ecds_and_answers_as_its_guide_says() {
    istio("wasmplugin.yaml");
}

#[test]
fn istio_traffic_extension_loads_through_ecds_and_answers_as_its_guide_says() {
    istio("trafficextension.yaml");
}

/// Serves `body` for every request, as a download server for `vm_config.code.remote`.
pub fn file_server(body: Vec<u8>) -> Server {
    let body = Arc::new(body);
    Server::start(
        "127.0.0.1:0",
        Arc::new(move |_req| {
            let mut r = Response::new(200);
            r.headers
                .push(("content-type".into(), "application/wasm".into()));
            r.body = body.as_ref().clone();
            Reply::Respond(r)
        }),
    )
    .unwrap()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn kuma_mesh_proxy_patch_fetches_the_module_and_answers_as_its_guide_says() {
    let wasm = std::fs::read(envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"))).unwrap();
    let patch = platform::kuma_patch("0.0.0-test", &sha256_hex(&wasm)).unwrap();
    let downloads = file_server(wasm);
    let module_port = downloads.port();
    let platform = start("kuma", |dir, idp, echo| {
        platform::kuma_bootstrap(
            &patch,
            &[("claimcheck-idp", idp), ("claimcheck-module", module_port)],
            dir,
            echo,
        )
    });
    answers_as_the_guide_says(&platform);
    assert!(platform.idp.discovery_requests() >= 1);
}

#[test]
fn envoy_ecds_manifest_answers_as_its_guide_says() {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let platform = start("envoy_ecds", |dir, idp, echo| {
        platform::envoy_bootstrap(dir, &wasm, idp, echo)
    });
    answers_as_the_guide_says(&platform);
}

/// The access-log lines Envoy wrote so far that carry claimcheck's fields, once `n` are there.
fn access_log_lines(platform: &Platform, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + crate::support::WAIT;
    loop {
        let lines: Vec<String> = platform
            .envoy
            .log()
            .lines()
            .filter(|line| line.contains("claimcheck.decision="))
            .map(str::to_owned)
            .collect();
        if lines.len() >= n || std::time::Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn access_log_names_who_was_let_in_or_refused_and_why_but_never_the_token() {
    let wasm = envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"));
    let platform = start("access_log", |dir, idp, echo| {
        platform::envoy_bootstrap(dir, &wasm, idp, echo)
    });
    let reader = platform.token(json!({ "scope": "orders:read" }));
    let writer = platform.token(json!({ "sub": "bob", "scope": "orders:write" }));
    echoed(&platform.get("/orders/1", Some(&reader)));
    assert_eq!(platform.get("/orders/2", Some(&writer)).status, 403);
    assert_eq!(platform.get("/orders/3", None).status, 401);

    let lines = access_log_lines(&platform, 3);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let line = |path: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!("\"GET {path}\"")))
            .unwrap_or_else(|| panic!("no access-log line for {path}: {lines:#?}"))
            .clone()
    };
    let allowed = line("/orders/1");
    for field in [
        "claimcheck.decision=allow",
        "claimcheck.rule=orders-read",
        "claimcheck.provider=corp",
        "claimcheck.issuer=https://idp.example.com",
        "claimcheck.subject=alice",
        "claimcheck.reason=-",
    ] {
        assert!(allowed.contains(field), "{field} missing from {allowed}");
    }
    let forbidden = line("/orders/2");
    for field in [
        "claimcheck.decision=deny",
        "claimcheck.provider=corp",
        "claimcheck.subject=bob",
        "claimcheck.reason=claims_condition_failed",
    ] {
        assert!(
            forbidden.contains(field),
            "{field} missing from {forbidden}"
        );
    }
    let anonymous = line("/orders/3");
    for field in [
        "claimcheck.decision=deny",
        "claimcheck.subject=-",
        "claimcheck.reason=token_missing",
    ] {
        assert!(
            anonymous.contains(field),
            "{field} missing from {anonymous}"
        );
    }
    let log = platform.envoy.log();
    for token in [&reader, &writer] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token reached Envoy's log");
    }
}

/// Envoy's own remote code source checks the module against `sha256` before loading it: a
/// module that differs (here: the manifest names another hash) never runs, and with
/// `FAIL_CLOSED` requests are refused instead of reaching the upstream unchecked.
#[test]
fn a_remote_module_whose_sha256_differs_is_refused_and_requests_fail_closed() {
    let wasm = std::fs::read(envoy::claimcheck_wasm().unwrap_or_else(|e| panic!("{e}"))).unwrap();
    let patch = platform::kuma_patch("0.0.0-test", &sha256_hex(b"not the module")).unwrap();
    let downloads = file_server(wasm);
    let module_port = downloads.port();
    let upstream = echo::start("127.0.0.1:0").unwrap();
    let echo_port = upstream.port();
    let envoy = Envoy::start_with("kuma_wrong_sha256", 1, |dir| {
        platform::kuma_bootstrap(
            &patch,
            &[
                ("claimcheck-idp", module_port),
                ("claimcheck-module", module_port),
            ],
            dir,
            echo_port,
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let r = envoy.get("/healthz", &[]).unwrap();
    assert_eq!(r.status, 503, "{}", r.body_text());
    let log = envoy.log();
    assert!(
        log.contains("Plugin configured to fail closed failed to load"),
        "{log}"
    );
}
