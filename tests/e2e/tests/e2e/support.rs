//! Keys, tokens, the standard test policy, and a `World` (IdP + echo upstream + Envoy).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use claimcheck_e2e::echo::{self, Echoed};
use claimcheck_e2e::envoy::{self, Envoy, EnvoySpec};
use claimcheck_e2e::http::{Response, Server};
use claimcheck_e2e::idp::Idp;
use claimcheck_e2e::platform;
use serde_json::{json, Value};

/// Audience every test token carries and the test provider expects.
pub const AUDIENCE: &str = "e2e-api";
/// Realm the test policy announces in `WWW-Authenticate`.
pub const REALM: &str = "e2e";
/// The shortest refetch interval for an unknown `kid` the configuration accepts; the standard
/// policy uses it so rotation tests wait as little as possible.
pub const UNKNOWN_KID_MIN_INTERVAL_S: u64 = 1;
/// The shortest refresh interval the configuration accepts.
pub const MIN_REFRESH_INTERVAL_S: u64 = 10;
/// Upper bound for waiting on something asynchronous (a fetch, a refresh). Not an assertion.
pub const WAIT: Duration = Duration::from_secs(30);

/// An ES256 signing key (from the workspace test kit) with its `kid`.
pub struct Key {
    pub kid: String,
    key: claimcheck_testkit::SigningKey,
}

impl Key {
    pub fn es256(kid: &str) -> Key {
        Key {
            kid: kid.to_owned(),
            key: claimcheck_testkit::SigningKey::es256(),
        }
    }

    /// The public JWK as identity providers publish it.
    pub fn jwk(&self) -> Value {
        self.key.published_jwk(&self.kid)
    }

    /// A compact JWS over `claims`, with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(claims, &self.kid)
    }

    /// A compact JWS over `claims` that names `kid` in its header (which may not be ours).
    pub fn sign_with_kid(&self, claims: &Value, kid: &str) -> String {
        self.key.token(Some(kid), claims)
    }
}

/// A JWKS document holding `keys`.
pub fn jwks(keys: &[&Key]) -> Vec<u8> {
    let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

/// Lets the unknown-`kid` refetch rate limit run out, so the next unknown `kid` may refetch.
pub fn let_unknown_kid_limit_pass() {
    std::thread::sleep(Duration::from_millis(
        UNKNOWN_KID_MIN_INTERVAL_S * 1000 + 200,
    ));
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid claims for `issuer` (subject `user-1`, ten minutes left), with `extra` merged in.
pub fn claims(issuer: &str, extra: Value) -> Value {
    let now = now();
    let mut c = json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "user-1",
        "iat": now, "nbf": now, "exp": now + 600,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// The standard test policy:
/// - `/public` allow (a token, if present, is still verified),
/// - `/api` requires scope `api:read`,
/// - `/admin` requires group `admin`,
/// - anything else denied.
///
/// One provider, `idp`, found through OIDC discovery on cluster `idp`; identity headers
/// `x-user-id` (sub), `x-user-groups` (groups), `x-user-scope` (scope); the token is not
/// forwarded.
pub fn policy(issuer: &str) -> Value {
    json!({
        "providers": {
            "idp": {
                "issuer": issuer,
                "audiences": [AUDIENCE],
                "algorithms": ["ES256"],
                "jwks": { "oidc_discovery": { "cluster": "idp", "timeout_ms": 2000 } },
                "refresh": {
                    "interval_s": 600,
                    "max_stale_s": 86400,
                    "retry_initial_ms": 200,
                    "retry_max_ms": 1000,
                    "unknown_kid_min_interval_s": UNKNOWN_KID_MIN_INTERVAL_S
                },
                "cold_start": { "max_wait_ms": 10000, "on_timeout": "unavailable" },
                "forward_token": false,
                "claims_to_headers": [
                    { "claim": "sub", "header": "x-user-id" },
                    { "claim": "groups", "header": "x-user-groups", "join": "," },
                    { "claim": "scope", "header": "x-user-scope" }
                ]
            }
        },
        "rules": [
            { "name": "public", "match": { "path": { "prefix": "/public" } }, "action": "allow" },
            { "name": "api", "match": { "path": { "prefix": "/api" } }, "action": "require",
              "require": {
                  "providers": { "any": ["idp"] },
                  "claims": { "all": [ { "claim": "scope", "contains": "api:read" } ] }
              } },
            { "name": "admin", "match": { "path": { "prefix": "/admin" } }, "action": "require",
              "require": {
                  "providers": { "any": ["idp"] },
                  "claims": { "all": [ { "claim": "groups", "contains": "admin" } ] }
              } }
        ],
        "default": { "action": "deny" },
        "realm": REALM
    })
}

/// Sets the value at JSON pointer `ptr`: an object member (added if absent) or an existing
/// array element.
pub fn set(v: &mut Value, ptr: &str, value: Value) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let parent = if parent.is_empty() {
        &mut *v
    } else {
        v.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{ptr}: no {parent} in the policy"))
    };
    match parent {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        Value::Object(members) => {
            members.insert(key.to_owned(), value);
        }
        other => panic!("{ptr}: parent is {other}"),
    }
}

/// A test's world: the IdP serving `key`, the echo upstream, and Envoy running claimcheck.
pub struct World {
    // Envoy first: dropped (stopped) before the servers it talks to.
    pub envoy: Envoy,
    pub idp: Idp,
    /// The upstream; kept here so it lives as long as Envoy.
    pub _echo: Server,
    pub key: Key,
}

/// How to set a world up; every field has the standard default.
pub struct Setup {
    pub name: String,
    pub concurrency: u32,
    /// New connections go to the worker with the fewest open ones (`envoy::exact_balance`).
    pub exact_balance: bool,
    /// Applied to the IdP before Envoy starts (hold it, slow it down).
    pub before_envoy: Box<dyn FnOnce(&Idp)>,
    /// Applied to the standard policy.
    pub policy: Box<dyn FnOnce(&mut Value)>,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        Setup {
            name: name.to_owned(),
            concurrency: 1,
            exact_balance: false,
            before_envoy: Box::new(|_| {}),
            policy: Box::new(|_| {}),
        }
    }

    pub fn concurrency(mut self, n: u32) -> Setup {
        self.concurrency = n;
        self
    }

    pub fn exact_balance(mut self) -> Setup {
        self.exact_balance = true;
        self
    }

    pub fn before_envoy(mut self, f: impl FnOnce(&Idp) + 'static) -> Setup {
        self.before_envoy = Box::new(f);
        self
    }

    pub fn policy(mut self, f: impl FnOnce(&mut Value) + 'static) -> Setup {
        self.policy = Box::new(f);
        self
    }

    /// Starts everything; the error says what is missing (Envoy, the wasm) or what failed.
    pub fn try_start(self) -> Result<World, String> {
        let key = Key::es256("key-a");
        let idp = Idp::start(jwks(&[&key])).map_err(|e| format!("start IdP: {e}"))?;
        let echo = echo::start("127.0.0.1:0").map_err(|e| format!("start echo: {e}"))?;
        let mut config = policy(idp.issuer());
        (self.policy)(&mut config);
        (self.before_envoy)(&idp);
        let spec = EnvoySpec::claimcheck(&self.name, config.to_string(), echo.port(), idp.port())
            .concurrency(self.concurrency);
        let envoy = if self.exact_balance {
            Envoy::start_with(&spec.name, spec.concurrency, |dir| {
                let mut bootstrap = envoy::bootstrap(&spec)?;
                envoy::exact_balance(&mut bootstrap)?;
                platform::write_json(dir, "envoy.yaml", &bootstrap)
            })
        } else {
            Envoy::start(&spec)
        }
        .map_err(|e| e.to_string())?;
        Ok(World {
            envoy,
            idp,
            _echo: echo,
            key,
        })
    }

    pub fn start(self) -> World {
        let name = self.name.clone();
        self.try_start().unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

impl World {
    /// Claims for this world's issuer.
    pub fn claims(&self, extra: Value) -> Value {
        claims(self.idp.issuer(), extra)
    }

    /// A valid token for this world with `extra` claims.
    pub fn token(&self, extra: Value) -> String {
        self.key.sign(&self.claims(extra))
    }

    /// `GET path` through Envoy with `Authorization: Bearer <token>` (if any) and `headers`.
    pub fn get(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Response {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = Vec::new();
        if let Some(b) = &bearer {
            all.push(("authorization", b));
        }
        all.extend_from_slice(headers);
        self.envoy
            .get(path, &all)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nEnvoy log:\n{}", self.envoy.log()))
    }
}

/// One world shared by tests that only send requests and read replies (no IdP changes), so
/// the suite starts Envoy once for them. Started on first use; if it cannot start, every test
/// using it fails with the same message.
pub fn shared() -> &'static World {
    static SHARED: OnceLock<Result<World, String>> = OnceLock::new();
    match SHARED.get_or_init(|| Setup::new("shared").try_start()) {
        Ok(w) => w,
        Err(e) => panic!("shared end-to-end world did not start: {e}"),
    }
}

/// The upstream's view of an allowed request; panics with the reply when it is not one.
pub fn echoed(r: &Response) -> Echoed {
    assert_eq!(
        r.status,
        200,
        "expected the upstream's reply, got {r:?} ({})",
        r.body_text()
    );
    Echoed::parse(&r.body).unwrap_or_else(|| panic!("not an echo reply: {}", r.body_text()))
}

/// The `WWW-Authenticate` header of a refusal.
pub fn www_authenticate(r: &Response) -> String {
    r.header("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate on {} reply: {r:?}", r.status))
        .to_owned()
}

/// The `reason` code of a refusal's JSON body.
pub fn reason_of(r: &Response) -> String {
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("refusal body is not JSON ({e}): {}", r.body_text()));
    body["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("refusal body has no reason: {body}"))
        .to_owned()
}
