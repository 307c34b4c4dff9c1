//! The fuzz targets, as plain functions: each takes the fuzzer's bytes, feeds them to one
//! place where claimcheck reads untrusted input, and checks what must hold whatever the
//! input. A panic is a finding.
//!
//! `fuzz_targets/*.rs` hand these to libFuzzer (`make fuzz`, nightly); `tests/fuzz_corpus.rs`
//! compiles this same file on stable and replays every corpus file through it, so a finding
//! turned into a corpus file stays a regression test without libFuzzer.
//!
//! | target | input | where it lands |
//! |---|---|---|
//! | [`token`] | a compact JWS | `jwt::decode`, `jwt::verify`, then the whole pipeline |
//! | [`jwks`] | a JWKS document | `KeySet::parse` under every algorithm |
//! | [`discovery`] | an OIDC discovery document | `parse_discovery`, `split_url` of its `jwks_uri` |
//! | [`config`] | a plugin configuration | `config::load`, then one request through what loaded |
//! | [`policy`] | a claims set | signed, then every rule's conditions and identity headers |
//! | [`request`] | method, path, headers | canonical path, token extraction, what is stripped |
// Fuzz code may panic: a panic is exactly what a fuzzer reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

use std::sync::OnceLock;

use claimcheck::authorize::{
    authorize, Inputs, KeyAvailability, KeyLookup, Outcome, VerifiedCache, Waiting,
};
use claimcheck::config::{self, Config, JwksSource, ProviderId};
use claimcheck::crypto::RingVerifier;
use claimcheck::decision::{Allow, Decision};
use claimcheck::extract;
use claimcheck::jwa::Algorithm;
use claimcheck::jwks::{parse_discovery, split_url, KeyPolicy, KeySet};
use claimcheck::jwt;
use claimcheck::observe::Unobserved;
use claimcheck::request::{canonical_path, EscapedSlashes, MatrixParameters, PathPolicy, Request};
use claimcheck_testkit::{b64, TestKey};
use serde_json::{json, Map, Value};

/// The fixture's clock (2023-11-14), in seconds; seed tokens are valid at it.
pub const NOW_S: u64 = 1_700_000_000;
/// The issuer of the fixture's main provider.
pub const ISSUER: &str = "https://idp.example.com";
/// The issuer of the fixture's second provider (HS256 only).
pub const PARTNER_ISSUER: &str = "https://partner.example";
/// The audience both providers require.
pub const AUDIENCE: &str = "api";
/// The fixture's HMAC secrets. Fixed so seed tokens verify in every run.
pub const HS_SECRET: &[u8; 32] = b"claimcheck-fuzz-hs256-secret-32b";
pub const PARTNER_SECRET: &[u8; 32] = b"claimcheck-fuzz-partner-secret!!";
/// The Ed25519 seed and P-521 scalar behind the fixture's fixed keys.
const ED25519_SEED: [u8; 32] = [7; 32];
const P521_SCALAR: [u8; 66] = {
    let mut s = [0u8; 66];
    s[65] = 9;
    s
};

/// The fixed signing keys of the fixture (the RSA key is the repository's test-only key).
pub struct FixtureKeys {
    pub rsa: TestKey,
    pub ed25519: TestKey,
    pub p521: TestKey,
    pub hs: TestKey,
    pub partner: TestKey,
}

impl FixtureKeys {
    fn new() -> FixtureKeys {
        let ed = ring::signature::Ed25519KeyPair::from_seed_unchecked(&ED25519_SEED).unwrap();
        FixtureKeys {
            rsa: TestKey::rsa(claimcheck_testkit::fixtures::RSA_2048_PKCS8),
            ed25519: TestKey::Ed25519(ed),
            p521: TestKey::P521(p521_key()),
            hs: TestKey::Hmac(HS_SECRET.to_vec()),
            partner: TestKey::Hmac(PARTNER_SECRET.to_vec()),
        }
    }

    /// A token for the main provider, signed with the fixed key for `alg` (`kid` = the key's).
    pub fn token(&self, alg: &str, claims: &Value) -> String {
        let (key, kid) = match alg {
            "RS256" | "PS256" => (&self.rsa, "rsa"),
            "EdDSA" => (&self.ed25519, "ed"),
            "ES512" => (&self.p521, "p521"),
            "HS256" => (&self.hs, "hs"),
            other => panic!("the fixture has no fixed key for {other}"),
        };
        key.token(&json!({ "alg": alg, "typ": "JWT", "kid": kid }), claims)
    }

    /// A token for the partner provider.
    pub fn partner_token(&self, claims: &Value) -> String {
        self.partner
            .token(&json!({ "alg": "HS256", "kid": "partner" }), claims)
    }
}

fn p521_key() -> p521::ecdsa::SigningKey {
    p521::ecdsa::SigningKey::from_slice(&P521_SCALAR).unwrap()
}

/// Claims the main provider accepts at [`NOW_S`], with `extra` merged in.
pub fn valid_claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice",
        "iat": NOW_S - 60, "nbf": NOW_S - 60, "exp": NOW_S + 600,
    });
    if let (Some(c), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        c.extend(extra);
    }
    claims
}

/// The fixture: a realistic configuration whose rules use every matcher and operator, and
/// the keys behind its inline key sets.
pub struct Fixture {
    pub keys: FixtureKeys,
    pub config: Config,
    lookup: InlineKeys,
}

/// The configuration document of the fixture.
pub fn fixture_document(keys: &FixtureKeys) -> Value {
    let jwk = |key: &TestKey, kid: &str| key.jwk_with_kid(kid);
    json!({
        "providers": {
            "corp": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": ["RS256", "PS256", "ES512", "EdDSA", "HS256"],
                "jwks": { "inline": { "keys": [
                    jwk(&keys.rsa, "rsa"), jwk(&keys.ed25519, "ed"),
                    jwk(&keys.p521, "p521"), jwk(&keys.hs, "hs")
                ] } },
                "sources": [
                    { "header": "authorization", "prefix": "Bearer " },
                    { "query": "access_token" },
                    { "cookie": "session" }
                ],
                "clock_skew_s": 30,
                "max_lifetime_s": 86400,
                "required_claims": ["sub"],
                "claims_to_headers": [
                    { "claim": "sub", "header": "x-user-id" },
                    { "claim": "groups", "header": "x-user-groups", "join": "," },
                    { "claim": "org.tier", "header": "x-org-tier" }
                ],
                "payload_header": "x-jwt-payload"
            },
            "partner": {
                "issuer": PARTNER_ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": ["HS256"],
                "jwks": { "inline": { "keys": [ jwk(&keys.partner, "partner") ] } },
                "sources": [ { "header": "x-partner-token" }, { "cookie": "partner_session" } ],
                "claims_to_headers": [ { "claim": "azp", "header": "x-partner-client" } ]
            }
        },
        "rules": [
            { "name": "public", "match": { "path": { "prefix": "/public" } }, "action": "allow" },
            { "name": "staging-off", "match": { "headers": [ { "name": "x-env", "exact": "staging" } ] },
              "action": "deny" },
            { "name": "orders-write",
              "match": { "path": { "template": "/orders/{id}/**" }, "methods": ["POST", "DELETE"] },
              "action": "require",
              "require": { "providers": { "any": ["corp"] }, "claims": { "all": [
                  { "claim": "scope", "contains_all": ["orders:read", "orders:write"] },
                  { "not": { "claim": "contractor", "equals": true } }
              ] } } },
            { "name": "admin", "match": { "path": { "regex": "/admin(/.*)?" } }, "action": "require",
              "require": { "providers": { "any": ["corp"] }, "claims": { "any": [
                  { "claim": "groups", "contains": "admin" },
                  { "all": [ { "claim": "org.tier", "gte": 2 }, { "claim": "org.tier", "lt": 10.5 } ] },
                  { "claim": "email", "suffix": "@example.com" },
                  { "claim": "sub", "regex": "svc-[a-z]+" },
                  { "claim": "roles", "contains_any": ["root", "owner"] }
              ] } } },
            { "name": "partner", "match": { "path": { "prefix": "/partner" }, "hosts": ["*.example.com"] },
              "action": "require",
              "require": { "providers": { "any": ["partner", "corp"] }, "claims": {
                  "claim": "azp", "one_of": ["app-1", "app-2", 3, true] } } },
            { "name": "internal", "match": { "path": { "prefix": "/internal" } }, "action": "require",
              "require": { "providers": { "all": ["corp", "partner"] }, "claims": {
                  "all": [ { "claim": "email_verified", "exists": true },
                           { "claim": "name", "prefix": "A" },
                           { "claim": "deleted", "exists": false } ] } } },
            { "name": "dry", "match": { "path": { "exact": "/dry" } }, "action": "require", "dry_run": true,
              "require": { "providers": { "any": ["corp"] }, "claims": { "claim": "roles", "contains": "beta" } } },
            { "name": "legacy", "match": { "path": { "prefix": "/v0" } }, "action": "deny" }
        ],
        "default": { "action": "require", "require": { "providers": { "any": ["corp"] } } },
        "realm": "fuzz"
    })
}

/// The fixture, built once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = FixtureKeys::new();
        let document = fixture_document(&keys).to_string();
        let config = config::load(document.as_bytes())
            .unwrap_or_else(|e| panic!("the fuzz fixture does not load: {e:?}"));
        let lookup = InlineKeys::of(&config);
        Fixture {
            keys,
            config,
            lookup,
        }
    })
}

/// Every provider's inline keys, ready; remote providers unavailable (nothing to wait for).
struct InlineKeys {
    sets: Vec<Option<KeySet>>,
}

impl InlineKeys {
    fn of(config: &Config) -> InlineKeys {
        let sets = config
            .providers
            .iter()
            .map(|provider| match &provider.jwks {
                JwksSource::Inline(parsed) => Some(parsed.keys.clone()),
                _ => None,
            })
            .collect();
        InlineKeys { sets }
    }
}

impl KeyLookup for InlineKeys {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_> {
        match self.sets.get(provider.index()) {
            Some(Some(keys)) => KeyAvailability::Ready {
                keys,
                generation: 1,
            },
            _ => KeyAvailability::Unavailable,
        }
    }
}

/// Runs the pipeline on `request` under `config`, as the filter would on a fresh worker.
fn decide(config: &Config, lookup: &InlineKeys, request: &Request) -> Outcome {
    let inputs = Inputs {
        peer_certificate: &claimcheck::peer::NO_CERTIFICATE,
        keys: lookup,
        verifier: &RingVerifier,
        now_ms: NOW_S * 1000,
        waiting: Waiting::New { room: true },
        replay: &claimcheck::dpop::replay::Unchecked,
        introspection: &claimcheck::authorize::NoIntrospection,
    };
    let mut cache = VerifiedCache::new(16);
    let first = authorize(config, request, &inputs, &mut cache, &mut Unobserved);
    // The same request again hits the verified-token cache: it must decide the same.
    let again = authorize(config, request, &inputs, &mut cache, &mut Unobserved);
    assert_eq!(
        strip_cache_hit(&first),
        strip_cache_hit(&again),
        "a cached verification changed the decision for {request:?}"
    );
    first
}

fn strip_cache_hit(outcome: &Outcome) -> Outcome {
    let mut outcome = outcome.clone();
    if let Outcome::Decided(verdict) = &mut outcome {
        verdict.cache_hit = None;
    }
    outcome
}

/// The fixture's decision on `method path` with `Bearer <token>`.
pub fn decide_bearer(config: &Config, method: &str, path: &str, token: &str) -> Outcome {
    decide(
        config,
        &fixture().lookup,
        &bearer_request(method, path, token),
    )
}

/// `Bearer <token>` on a request for `path`.
fn bearer_request(method: &str, path: &str, token: &str) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        host: "api.example.com".into(),
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        route_name: None,
        peer: Default::default(),
    }
}

/// A compact JWS: decoded, verified against the fixture's main key set, then sent through
/// the pipeline on a route that requires it.
///
/// Holds: a token that decodes is the exact signing input plus its signature; a token that
/// verifies names an algorithm the provider accepts; the pipeline never allows a token
/// that the key set refused.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Extraction trims the scheme's spaces; a token that starts or ends with one would be
    // judged in another spelling than the one decoded here.
    if text.trim_matches([' ', '\t']) != text {
        return;
    }
    let fixture = fixture();
    let verified = match jwt::decode(text) {
        Ok(decoded) => {
            let input = decoded.signing_input();
            assert!(
                text.as_bytes().starts_with(input),
                "signing input is not the token's prefix"
            );
            assert_eq!(text.as_bytes().get(input.len()), Some(&b'.'));
            let corp = fixture.config.provider_by_name("corp").unwrap();
            let keys = match &corp.jwks {
                JwksSource::Inline(parsed) => &parsed.keys,
                _ => unreachable!("the fixture's corp keys are inline"),
            };
            let result = jwt::verify(&decoded, keys, &RingVerifier);
            if result.is_ok() {
                assert!(corp.algorithms.contains(&decoded.header().alg));
            }
            result.is_ok()
        }
        Err(_) => false,
    };
    let outcome = decide(
        &fixture.config,
        &fixture.lookup,
        &bearer_request("GET", "/anything", text),
    );
    if let Outcome::Decided(verdict) = &outcome {
        if let Decision::Allow(allow) = &verdict.decision {
            assert!(allow.would_deny.is_none());
            assert!(verified, "allowed a token the main key set did not verify");
        }
    }
}

/// A JWKS document, parsed under a policy accepting every algorithm.
///
/// Holds: a parsed set is never empty, and every key in it may verify at least one
/// algorithm, each one its key family supports.
pub fn jwks(data: &[u8]) {
    let policy = KeyPolicy {
        algorithms: Algorithm::ALL.to_vec(),
    };
    if let Ok(parsed) = KeySet::parse(data, &policy) {
        assert!(!parsed.keys.is_empty(), "an empty key set parsed");
        for key in parsed.keys.keys() {
            assert!(
                !key.algorithms.is_empty(),
                "a key with no algorithm was kept"
            );
            for alg in &key.algorithms {
                assert!(
                    key.material.supports(*alg),
                    "{alg:?} on a key that cannot do it"
                );
            }
        }
    }
    // Narrow policies must not panic either: keys are filtered per algorithm.
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::HS256] {
        let _ = KeySet::parse(
            data,
            &KeyPolicy {
                algorithms: vec![alg],
            },
        );
    }
}

/// An OIDC discovery document for [`ISSUER`].
///
/// Holds: an accepted document announced exactly the expected issuer and a `jwks_uri`
/// that splits into an authority and a path starting with `/`.
pub fn discovery(data: &[u8]) {
    if let Ok(found) = parse_discovery(data, ISSUER) {
        let parts = split_url(&found.jwks_uri)
            .unwrap_or_else(|e| panic!("accepted jwks_uri does not split: {e:?}"));
        assert!(
            parts.path.starts_with('/'),
            "jwks_uri path {:?}",
            parts.path
        );
        assert!(!parts.authority.is_empty());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parts) = split_url(text) {
            assert!(parts.path.starts_with('/'));
        }
    }
}

/// A plugin configuration. When it loads, one request per rule shape goes through it.
pub fn config(data: &[u8]) {
    let Ok(config) = config::load(data) else {
        return;
    };
    let lookup = InlineKeys::of(&config);
    let token = fixture().keys.token("HS256", &valid_claims(json!({})));
    for (method, path) in [("GET", "/"), ("post", "/admin/x;y/..//z?access_token=a&b")] {
        let mut request = bearer_request(method, path, &token);
        request
            .headers
            .push(("cookie".into(), "session=x; theme=dark".into()));
        let _ = decide(&config, &lookup, &request);
    }
}

/// A claims set (JSON), signed with the fixture's HS256 key and sent to every rule.
///
/// Holds: identity headers set on an allowed request carry no control characters (they
/// would split the header block), and the decision never depends on the cache.
pub fn policy(data: &[u8]) {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let fixture = fixture();
    let claims = Value::Object(claims);
    let corp = fixture.keys.token("HS256", &claims);
    let partner = fixture.keys.partner_token(&claims);
    let requests = [
        bearer_request("POST", "/orders/12/refunds", &corp),
        bearer_request("GET", "/admin/users", &corp),
        bearer_request("GET", "/partner/x", &corp),
        bearer_request("GET", "/dry", &corp),
        bearer_request("GET", "/other", &corp),
        Request {
            headers: vec![
                ("authorization".into(), format!("Bearer {corp}")),
                ("x-partner-token".into(), partner.clone()),
            ],
            ..bearer_request("GET", "/internal/jobs", &corp)
        },
        Request {
            headers: vec![("x-partner-token".into(), partner)],
            ..bearer_request("GET", "/partner/x", "")
        },
    ];
    for request in requests {
        if let Outcome::Decided(verdict) = decide(&fixture.config, &fixture.lookup, &request) {
            if let Decision::Allow(allow) = &verdict.decision {
                for (name, value) in &allow.headers_to_set {
                    assert!(
                        !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f),
                        "identity header {name} carries a control character: {value:?}"
                    );
                }
            }
        }
    }
}

/// A request: first line the method, second the path, then `name: value` header lines.
///
/// Holds: the canonical path is a fixed point, absolute, without empty or dot segments;
/// after an allow (or a dry run) is applied, the request carries no token in any spelling
/// of any source, and no identity header the filter did not set.
pub fn request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or_default().to_owned();
    let path = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    check_canonical_path(&path);
    let fixture = fixture();
    let request = Request {
        method,
        path,
        host: "api.example.com".into(),
        headers,
        route_name: None,
        peer: Default::default(),
    };
    if let Outcome::Decided(verdict) = decide(&fixture.config, &fixture.lookup, &request) {
        if let Decision::Allow(allow) = &verdict.decision {
            check_stripped(&fixture.config, &request, allow);
        }
    }
}

fn check_canonical_path(path: &str) {
    let policies = [
        PathPolicy::default(),
        PathPolicy {
            escaped_slashes: EscapedSlashes::Decode,
            matrix_parameters: MatrixParameters::Keep,
            case_insensitive: true,
        },
        PathPolicy {
            escaped_slashes: EscapedSlashes::Keep,
            matrix_parameters: MatrixParameters::Strip,
            case_insensitive: false,
        },
    ];
    for policy in policies {
        let Ok(canonical) = canonical_path(path, &policy) else {
            continue;
        };
        assert!(canonical.starts_with('/'), "{path:?} -> {canonical:?}");
        assert_eq!(
            canonical_path(&canonical, &policy).as_deref(),
            Ok(canonical.as_str()),
            "{path:?} -> {canonical:?} is not a fixed point under {policy:?}"
        );
        if canonical != "/" {
            for segment in canonical.split('/').skip(1) {
                assert!(
                    !matches!(segment, "" | "." | ".."),
                    "{path:?} -> {canonical:?} keeps segment {segment:?}"
                );
            }
        }
        if policy.escaped_slashes != EscapedSlashes::Keep {
            assert!(!canonical.contains('\\') && !canonical.to_ascii_uppercase().contains("%2F"));
        }
    }
}

/// The request as the upstream receives it after `allow` is applied the way the filter
/// applies it: removals (every value), then the new `:path`, then the headers set.
fn applied(request: &Request, allow: &Allow) -> Request {
    let mut out = request.clone();
    out.headers
        .retain(|(name, _)| !allow.removals().any(|r| r == name));
    if let Some(path) = &allow.path_rewrite {
        out.path = path.clone();
    }
    for (name, value) in &allow.headers_to_set {
        out.headers.retain(|(n, _)| n != name);
        out.headers.push((name.clone(), value.clone()));
    }
    out
}

fn check_stripped(config: &Config, request: &Request, allow: &Allow) {
    let upstream = applied(request, allow);
    for provider in &config.providers {
        let forwarded = allow.provider == Some(provider.id) && provider.forward_token;
        if !forwarded {
            let found = extract::find_token(&provider.sources, &upstream);
            assert!(
                matches!(found, Ok(None)),
                "provider {} still finds a token upstream: {found:?}\nrequest {request:?}\nedits {allow:?}",
                provider.name
            );
        }
    }
    for name in config.identity_header_names().iter() {
        for (spelled, value) in extract::spelling::headers(&upstream, name) {
            assert!(
                allow
                    .headers_to_set
                    .iter()
                    .any(|(n, v)| n == spelled && v == value),
                "client-sent identity header {spelled}: {value:?} reaches the upstream"
            );
        }
    }
}

/// Seeds for every target, as `(target, name, bytes)`: what `tests/fuzz_corpus.rs` writes
/// into `fuzz/corpus/<target>/` when asked to regenerate them.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let keys = &fixture().keys;
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    for alg in ["RS256", "PS256", "ES512", "EdDSA", "HS256"] {
        let token = keys.token(alg, &valid_claims(json!({ "scope": "orders:read" })));
        add("token", &format!("valid-{alg}"), token.into_bytes());
    }
    let claims = b64(valid_claims(json!({})).to_string().as_bytes());
    add(
        "token",
        "alg-none",
        format!("{}.{claims}.", b64(br#"{"alg":"none"}"#)).into_bytes(),
    );
    add(
        "token",
        "jwe",
        format!("{}.a.b.c.d", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)).into_bytes(),
    );
    add(
        "token",
        "crit",
        keys.hs
            .token(
                &json!({ "alg": "HS256", "kid": "hs", "crit": ["exp"] }),
                &valid_claims(json!({})),
            )
            .into_bytes(),
    );
    add(
        "token",
        "duplicate-claim",
        jwt_with_raw_payload(
            keys,
            br#"{"iss":"https://idp.example.com","sub":"a","sub":"b"}"#,
        ),
    );

    let mut jwks = Map::new();
    jwks.insert(
        "keys".into(),
        json!([
            keys.rsa.jwk_with_kid("rsa"),
            keys.ed25519.jwk_with_kid("ed"),
            keys.p521.jwk_with_kid("p521"),
            keys.hs.jwk_with_kid("hs"),
            { "kty": "RSA", "kid": "x5c", "x5c": ["MIIB"], "n": "AQAB", "e": "AQAB" },
            { "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "use": "enc" }
        ]),
    );
    add(
        "jwks",
        "mixed",
        Value::Object(jwks).to_string().into_bytes(),
    );
    add(
        "jwks",
        "rsa-1024",
        claimcheck_testkit::fixtures::RSA_1024_JWK
            .as_bytes()
            .to_vec(),
    );

    add(
        "discovery",
        "minimal",
        json!({ "issuer": ISSUER, "jwks_uri": "https://idp.example.com/keys" })
            .to_string()
            .into_bytes(),
    );
    add(
        "discovery",
        "port-and-query",
        json!({ "issuer": ISSUER, "jwks_uri": "http://idp.example.com:8443/a/b?x=1#f",
                "id_token_signing_alg_values_supported": ["RS256"] })
        .to_string()
        .into_bytes(),
    );

    add(
        "config",
        "fixture",
        fixture_document(keys).to_string().into_bytes(),
    );
    add(
        "config",
        "remote",
        json!({ "providers": { "p": { "issuer": "https://i", "audiences": ["a"],
                "jwks": { "remote": { "cluster": "idp", "uri": "https://i/keys" } } } },
                "rules": [ { "match": { "path": { "template": "/a/{x}/**" } }, "action": "deny" } ],
                "default": { "action": "require", "require": { "providers": { "all": ["p"] } } },
                "paths": { "escaped_slashes": "decode", "case_insensitive": true } })
        .to_string()
        .into_bytes(),
    );

    add(
        "policy",
        "admin",
        valid_claims(json!({ "groups": ["admin", "ops"], "org": { "tier": 3 }, "azp": "app-1" }))
            .to_string()
            .into_bytes(),
    );
    add(
        "policy",
        "orders",
        valid_claims(
            json!({ "scope": "orders:read orders:write", "contractor": "true",
                             "email_verified": true, "name": "Ann", "roles": ["beta"] }),
        )
        .to_string()
        .into_bytes(),
    );

    let token = keys.token("HS256", &valid_claims(json!({ "groups": ["admin"] })));
    add(
        "request",
        "forged-spellings",
        format!(
            "get\n/public/..%2Fadmin?access%5Ftoken=forged&ACCESS.TOKEN[]=x\nauthorization: Bearer {token}\ncookie: theme=dark, session=forged\nx_user_id: admin\n"
        )
        .into_bytes(),
    );
    add(
        "request",
        "dry-run",
        format!(
            "GET\n/dry;x=1/?access_token={token}\ncookie: session=\"{token}\"\nX-User-Id: root\n"
        )
        .into_bytes(),
    );
    add(
        "request",
        "paths",
        b"POST\n/orders/12/refunds/./..//12/refunds;a=b\nx-partner-token: abc\n".to_vec(),
    );
    seeds
}

/// An HS256 token of the fixture whose payload is exactly `payload` (for JSON the `json!`
/// macro cannot write, such as a repeated member).
fn jwt_with_raw_payload(keys: &FixtureKeys, payload: &[u8]) -> Vec<u8> {
    let input = format!("{}.{}", b64(br#"{"alg":"HS256","kid":"hs"}"#), b64(payload));
    let signature = keys.hs.sign("HS256", input.as_bytes());
    format!("{input}.{}", b64(&signature)).into_bytes()
}
