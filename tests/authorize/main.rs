//! The request pipeline end to end, with real signed tokens: rule selection, token
//! extraction, signature verification, claim validation, claim conditions, the
//! verified-token cache and the edits made to an allowed request.
//!
//! Each test states one behaviour of `authorize`; the fixture below is one realistic
//! configuration with three providers, inline JWKS built from keys generated per run.
// Test helpers may panic: a panic here is a failed test, not a crashed VM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod binding;
mod cache;
mod dpop;
mod edits;
mod identity;
mod introspection;
mod keys;
mod observe;
mod paths;
mod peer;
mod providers;
mod revocation;
mod rules;
mod token_age;
mod validation;

use claimcheck::authorize::{
    authorize, Inputs, KeyAvailability, KeyLookup, Outcome, Verdict, VerifiedCache, Waiting,
};
use claimcheck::config::{self, Config, JwksSource, ProviderId};
use claimcheck::crypto::RingVerifier;
use claimcheck::decision::{Allow, Decision, Denial, DenyReason, LocalResponse};
use claimcheck::jwks::KeySet;
use claimcheck::observe::{Observer, Record, Unobserved};
use claimcheck::request::Request;
use serde_json::{json, Value};

use claimcheck_testkit::{jwks, SigningKey};

/// The clock of every test, in seconds since the epoch (2023-11-14).
pub const NOW: u64 = 1_700_000_000;
pub const CORP_ISS: &str = "https://idp.example.com";
pub const PARTNER_ISS: &str = "https://login.partner.example";
pub const MESH_ISS: &str = "https://mesh.example.internal";
pub const REALM: &str = "orders";

/// The signing keys behind the fixture's providers.
pub struct Keys {
    /// `corp`, ES256, kid `corp-1`.
    pub corp: SigningKey,
    /// `partners`, EdDSA, kid `partner-1`.
    pub partner: SigningKey,
    /// `mesh`, ES256, kid `mesh-1`.
    pub mesh: SigningKey,
}

impl Keys {
    pub fn generate() -> Keys {
        Keys {
            corp: SigningKey::es256(),
            partner: SigningKey::ed25519(),
            mesh: SigningKey::es256(),
        }
    }

    /// A `corp` token with these claims.
    pub fn corp_token(&self, claims: &Value) -> String {
        self.corp.token(Some("corp-1"), claims)
    }

    pub fn partner_token(&self, claims: &Value) -> String {
        self.partner.token(Some("partner-1"), claims)
    }

    pub fn mesh_token(&self, claims: &Value) -> String {
        self.mesh.token(Some("mesh-1"), claims)
    }

    /// The fixture configuration document; tests adjust it before loading.
    pub fn document(&self) -> Value {
        json!({
            "providers": {
                "corp": {
                    "issuer": CORP_ISS,
                    "audiences": ["orders-api"],
                    "jwks": { "inline": jwks(&[self.corp.jwk("corp-1")]) },
                    "cold_start": { "max_wait_ms": 3000, "on_timeout": "unavailable" },
                    "sources": [
                        { "header": "authorization", "prefix": "Bearer " },
                        { "query": "access_token" },
                        { "cookie": "session" }
                    ],
                    "clock_skew_s": 60,
                    "required_claims": ["sub"],
                    "claims_to_headers": [
                        { "claim": "sub", "header": "X-User-Id" },
                        { "claim": "groups", "header": "x-user-groups" }
                    ],
                    "payload_header": "x-jwt-payload"
                },
                "partners": {
                    "issuer": PARTNER_ISS,
                    "audiences": "any",
                    "jwks": { "inline": jwks(&[self.partner.jwk("partner-1")]) },
                    "claims_to_headers": [ { "claim": "azp", "header": "x-partner-client" } ]
                },
                "mesh": {
                    "issuer": MESH_ISS,
                    "audiences": "any",
                    "jwks": { "inline": jwks(&[self.mesh.jwk("mesh-1")]) },
                    "sources": [ { "header": "x-mesh-token" } ],
                    "claims_to_headers": [ { "claim": "svc", "header": "x-calling-service" } ]
                }
            },
            "rules": [
                { "name": "health", "match": { "path": { "prefix": "/healthz" } }, "action": "allow" },
                { "name": "public", "match": { "path": { "prefix": "/public" } }, "action": "allow" },
                { "name": "legacy", "match": { "path": { "prefix": "/v0" } }, "action": "deny" },
                { "name": "orders-write",
                  "match": { "path": { "prefix": "/orders" }, "methods": ["POST"] },
                  "action": "require",
                  "require": {
                      "providers": { "any": ["corp"] },
                      "claims": { "claim": "scope", "contains_all": ["orders:read", "orders:write"] }
                  } },
                { "name": "admin",
                  "match": { "path": { "prefix": "/admin" } },
                  "action": "require",
                  "require": {
                      "providers": { "any": ["corp"] },
                      "claims": { "claim": "groups", "contains": "admin" }
                  } },
                { "name": "catalog",
                  "match": { "path": { "prefix": "/catalog" } },
                  "action": "require",
                  "require": { "providers": { "any": ["corp", "partners"] } } },
                { "name": "internal",
                  "match": { "path": { "prefix": "/internal" } },
                  "action": "require",
                  "require": { "providers": { "all": ["corp", "mesh"] } } }
            ],
            "default": { "action": "require", "require": { "providers": { "any": ["corp"] } } },
            "realm": REALM
        })
    }
}

/// Claims of a valid `corp` token at [`NOW`].
pub fn corp_claims() -> Value {
    json!({
        "iss": CORP_ISS,
        "sub": "alice",
        "aud": "orders-api",
        "iat": NOW - 60,
        "exp": NOW + 600,
        "scope": "orders:read orders:write",
        "groups": ["admin", "ops"]
    })
}

pub fn partner_claims() -> Value {
    json!({ "iss": PARTNER_ISS, "sub": "p-42", "azp": "partner-app", "exp": NOW + 600 })
}

pub fn mesh_claims() -> Value {
    json!({ "iss": MESH_ISS, "sub": "spiffe://mesh/billing", "svc": "billing", "exp": NOW + 600 })
}

/// Where each provider's keys stand, as a test wants them.
#[derive(Debug, Clone)]
pub enum KeyState {
    Ready {
        keys: KeySet,
        generation: u64,
        refetch_allowed: bool,
    },
    Loading,
    Unavailable,
}

/// A [`KeyLookup`] whose answers the test sets.
#[derive(Debug, Clone)]
pub struct FakeKeys {
    states: Vec<KeyState>,
    /// Revocation lists by provider index; absent: none configured.
    pub lists: Vec<(usize, ListState)>,
}

/// A provider's revocation list as the test sets it.
#[derive(Debug, Clone)]
pub enum ListState {
    Ready(claimcheck::revocation::RevocationList),
    Loading,
    Unavailable,
}

impl FakeKeys {
    /// Every provider ready with its inline keys, generation 1, no refetch allowed.
    pub fn ready(config: &Config) -> FakeKeys {
        let states = config
            .providers
            .iter()
            .map(|provider| match &provider.jwks {
                JwksSource::Inline(parsed) => KeyState::Ready {
                    keys: parsed.keys.clone(),
                    generation: 1,
                    refetch_allowed: false,
                },
                _ => KeyState::Loading,
            })
            .collect();
        FakeKeys {
            states,
            lists: Vec::new(),
        }
    }

    pub fn set(&mut self, config: &Config, provider: &str, state: KeyState) {
        let id = config.provider_by_name(provider).unwrap().id;
        self.states[id.index()] = state;
    }

    /// Keeps `provider`'s keys but changes what else the lookup reports.
    pub fn update(
        &mut self,
        config: &Config,
        provider: &str,
        generation: u64,
        refetch_allowed: bool,
    ) {
        let id = config.provider_by_name(provider).unwrap().id;
        match &mut self.states[id.index()] {
            KeyState::Ready {
                generation: g,
                refetch_allowed: r,
                ..
            } => {
                *g = generation;
                *r = refetch_allowed;
            }
            other => panic!("{provider} keys are not ready: {other:?}"),
        }
    }
}

impl KeyLookup for FakeKeys {
    fn keys(&self, provider: ProviderId) -> KeyAvailability<'_> {
        match self.states.get(provider.index()) {
            Some(KeyState::Ready {
                keys, generation, ..
            }) => KeyAvailability::Ready {
                keys,
                generation: *generation,
            },
            Some(KeyState::Loading) => KeyAvailability::Loading,
            Some(KeyState::Unavailable) | None => KeyAvailability::Unavailable,
        }
    }

    fn revocations(&self, provider: ProviderId) -> claimcheck::authorize::ListAvailability<'_> {
        use claimcheck::authorize::ListAvailability;
        match self
            .lists
            .iter()
            .find(|(index, _)| *index == provider.index())
        {
            None => ListAvailability::NotConfigured,
            Some((_, ListState::Ready(list))) => ListAvailability::Ready(list),
            Some((_, ListState::Loading)) => ListAvailability::Loading,
            Some((_, ListState::Unavailable)) => ListAvailability::Unavailable,
        }
    }

    fn may_wait_for_kid(&self, provider: ProviderId, _kid: &str) -> bool {
        matches!(
            self.states.get(provider.index()),
            Some(KeyState::Ready {
                refetch_allowed: true,
                ..
            })
        )
    }
}

/// A loaded configuration with its key lookup and cache: one worker's view.
pub struct Env {
    pub keys: Keys,
    pub config: Config,
    pub lookup: FakeKeys,
    pub cache: VerifiedCache,
    /// The process's DPoP replay cache.
    pub replay: claimcheck::dpop::replay::InMemory,
    /// The client certificate's digest the requests come with.
    pub certificate: Option<claimcheck::peer::CertificateDigest>,
    /// The introspection answers the tests set.
    pub answers: FakeAnswers,
}

/// Introspection answers by token, as the tests set them; a token without one is pending.
/// Every question is remembered, so a test can tell whether the server was consulted.
#[derive(Debug, Default)]
pub struct FakeAnswers {
    pub answers: Vec<(String, claimcheck::introspect::Found)>,
    pub asked: std::cell::RefCell<Vec<(ProviderId, String)>>,
}

impl FakeAnswers {
    pub fn set(&mut self, token: &str, found: claimcheck::introspect::Found) {
        self.answers.retain(|(t, _)| t != token);
        self.answers.push((token.to_owned(), found));
    }
}

impl claimcheck::authorize::IntrospectionLookup for FakeAnswers {
    fn answer(&self, provider: ProviderId, token: &str) -> claimcheck::introspect::Found {
        self.asked.borrow_mut().push((provider, token.to_owned()));
        self.answers
            .iter()
            .find(|(t, _)| t == token)
            .map_or(claimcheck::introspect::Found::Pending, |(_, found)| {
                found.clone()
            })
    }
}

impl Env {
    /// The fixture as is.
    pub fn fixture() -> Env {
        Env::with(|_| {})
    }

    /// The fixture after `edit` changed its configuration document.
    pub fn with(edit: impl FnOnce(&mut Value)) -> Env {
        Env::from_keys(Keys::generate(), edit)
    }

    pub fn from_keys(keys: Keys, edit: impl FnOnce(&mut Value)) -> Env {
        let mut document = keys.document();
        edit(&mut document);
        let config = config::load(document.to_string().as_bytes())
            .unwrap_or_else(|errors| panic!("fixture configuration: {errors:?}"));
        let lookup = FakeKeys::ready(&config);
        Env {
            keys,
            config,
            lookup,
            cache: VerifiedCache::new(64),
            replay: Default::default(),
            certificate: None,
            answers: FakeAnswers::default(),
        }
    }

    pub fn id(&self, provider: &str) -> ProviderId {
        self.config.provider_by_name(provider).unwrap().id
    }

    pub fn run_at(&mut self, request: &Request, now_s: u64) -> Outcome {
        self.run_waiting(request, now_s, Waiting::New { room: true })
    }

    /// Runs the pipeline at `now_s` for a request in the `waiting` state.
    pub fn run_waiting(&mut self, request: &Request, now_s: u64, waiting: Waiting) -> Outcome {
        self.observe(request, now_s, waiting, &mut Unobserved)
    }

    /// Runs the pipeline, reporting its steps to `observer`.
    pub fn observe<O: Observer>(
        &mut self,
        request: &Request,
        now_s: u64,
        waiting: Waiting,
        observer: &mut O,
    ) -> Outcome {
        let inputs = Inputs {
            peer_certificate: &self.certificate,
            keys: &self.lookup,
            verifier: &RingVerifier,
            now_ms: now_s * 1000,
            waiting,
            replay: &self.replay,
            introspection: &self.answers,
        };
        authorize(&self.config, request, &inputs, &mut self.cache, observer)
    }

    /// The outcome of `request` at [`NOW`] and the record of its steps.
    pub fn record(&mut self, request: &Request) -> (Outcome, Record) {
        let mut record = Record::default();
        let outcome = self.observe(request, NOW, Waiting::New { room: true }, &mut record);
        (outcome, record)
    }

    pub fn run(&mut self, request: &Request) -> Outcome {
        self.run_at(request, NOW)
    }

    /// The verdict for `request` at [`NOW`]; a `Wait` fails the test.
    pub fn decide(&mut self, request: &Request) -> Verdict {
        self.decide_at(request, NOW)
    }

    pub fn decide_at(&mut self, request: &Request, now_s: u64) -> Verdict {
        match self.run_at(request, now_s) {
            Outcome::Decided(verdict) => verdict,
            wait => panic!("expected a decision, got {wait:?}"),
        }
    }
}

pub fn allowed(verdict: &Verdict) -> &Allow {
    match &verdict.decision {
        Decision::Allow(allow) => allow,
        Decision::Deny(denial) => panic!("expected allow, got {:?}", denial.reason),
    }
}

/// The refusal a dry-run verdict carries: the request is allowed all the same.
pub fn would_deny(verdict: &Verdict) -> Option<DenyReason> {
    match &verdict.decision {
        Decision::Allow(allow) => allow.would_deny.as_ref().map(|denial| denial.reason),
        Decision::Deny(denial) => panic!("expected a dry-run allow, got {:?}", denial.reason),
    }
}

pub fn denial(verdict: &Verdict) -> &Denial {
    match &verdict.decision {
        Decision::Deny(denial) => denial,
        Decision::Allow(allow) => panic!("expected a refusal, got {allow:?}"),
    }
}

/// The refusal's reason and its response (status, `WWW-Authenticate`, ...).
pub fn refusal(verdict: &Verdict) -> (DenyReason, LocalResponse) {
    let denial = denial(verdict);
    (denial.reason, denial.response(REALM))
}

/// Asserts a refusal for `reason` with `status` and an `invalid_token` challenge.
pub fn assert_invalid_token(verdict: &Verdict, reason: DenyReason) {
    let (got, response) = refusal(verdict);
    assert_eq!(got, reason);
    assert_eq!(response.status, 401);
    assert_eq!(response.reason_code, reason.code());
    let challenge = response.www_authenticate.unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\""
        )),
        "{challenge}"
    );
}

/// A request builder.
pub fn request(method: &str, path: &str) -> Request {
    Request {
        method: method.to_owned(),
        path: path.to_owned(),
        host: "api.example.com".to_owned(),
        headers: Vec::new(),
        route_name: None,
        peer: Default::default(),
    }
}

pub fn get(path: &str) -> Request {
    request("GET", path)
}

pub trait RequestExt {
    fn header(self, name: &str, value: &str) -> Request;
    fn bearer(self, token: &str) -> Request;
}

impl RequestExt for Request {
    fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn bearer(self, token: &str) -> Request {
        self.header("authorization", &format!("Bearer {token}"))
    }
}
