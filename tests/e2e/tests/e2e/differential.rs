//! The attack suite's tokens sent to Envoy's native `jwt_authn`, configured with the same
//! issuers, audiences and JWKS (`local_jwks`), and to claimcheck: every case where the two
//! disagree on whether to let the request through is listed in [`DISAGREEMENTS`] with its
//! reason, and the test fails on any other — a new disagreement is a decision to document,
//! not an accident to discover in production.

use std::sync::OnceLock;

use claimcheck_e2e::echo;
use claimcheck_e2e::envoy::Envoy;
use claimcheck_e2e::http::{Response, Server};
use claimcheck_e2e::platform::{bootstrap, write_json};
use serde_json::{json, Value};

use crate::attacks::{token_cases, world, Arsenal, Expect, AUDIENCE, ISSUER, RS_ONLY_ISSUER};

/// Which side lets a token through that the other refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Accepts {
    Claimcheck,
    JwtAuthn,
}

/// Every known disagreement: the case, who accepts it, and why claimcheck decides as it does.
/// Each is a token `jwt_authn` accepts and claimcheck refuses; none goes the other way.
const DISAGREEMENTS: &[(&str, Accepts, &str)] = &[
    (
        "jku-header",
        Accepts::JwtAuthn,
        "a token that names where its key lives is refused outright (RFC 8725 §3.10); jwt_authn \
         ignores `jku` and verifies with the configured keys",
    ),
    ("x5u-header", Accepts::JwtAuthn, "the same for `x5u`"),
    (
        "jwk-header-with-the-real-key",
        Accepts::JwtAuthn,
        "the same for an embedded `jwk`, even when it is the real key: a verifier that ever \
         reads it is one bug away from trusting the attacker's",
    ),
    (
        "crit-exp",
        Accepts::JwtAuthn,
        "RFC 7515 §4.1.11: a `crit` extension the recipient does not understand makes the JWS \
         invalid; claimcheck understands none, jwt_authn does not read `crit`",
    ),
    (
        "crit-unknown-extension",
        Accepts::JwtAuthn,
        "the same, with an extension member present",
    ),
    (
        "weak-rsa-1024",
        Accepts::JwtAuthn,
        "RSA keys under 2048 bits are skipped (RFC 7518 §3.3 requires 2048); jwt_authn verifies \
         with a 1024-bit key",
    ),
    (
        "base64-padding",
        Accepts::JwtAuthn,
        "strict base64url (RFC 7515 §2: no padding): one token, one spelling, so no copy of a \
         token is another cache key or log line; jwt_authn strips the padding",
    ),
    (
        "base64-non-zero-trailing-bits",
        Accepts::JwtAuthn,
        "the same for unused bits in the last character: a malleated copy decodes to the same \
         bytes in jwt_authn",
    ),
    (
        "huge-payload-20-kib",
        Accepts::JwtAuthn,
        "tokens are bounded at 16 KiB before any decoding (MAX_TOKEN_LEN); jwt_authn is bounded \
         only by Envoy's header size limit",
    ),
    (
        "exp-as-float",
        Accepts::JwtAuthn,
        "NumericDate values are integers here, so one `exp` has one meaning; jwt_authn reads \
         a fractional `exp` (and rounds it)",
    ),
];

/// Envoy with `jwt_authn` in place of claimcheck, and its echo upstream.
struct NativeWorld {
    envoy: Envoy,
    _echo: Server,
}

/// `jwt_authn`'s version of the attack suite's policy: the same two providers, each token
/// taken from `Authorization: Bearer`, `/rs` for the RS256-only provider, everything else
/// for the provider with every algorithm.
fn jwt_authn_filter(arsenal: &Arsenal) -> Value {
    let provider = |issuer: &str, jwks: Value| {
        json!({
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": { "inline_string": jwks.to_string() },
            "from_headers": [{ "name": "authorization", "value_prefix": "Bearer " }]
        })
    };
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                "multi": provider(ISSUER, arsenal.jwks()),
                "rsonly": provider(RS_ONLY_ISSUER, arsenal.rs_only_jwks())
            },
            "rules": [
                { "match": { "prefix": "/rs" }, "requires": { "provider_name": "rsonly" } },
                { "match": { "prefix": "/" }, "requires": { "provider_name": "multi" } }
            ]
        }
    })
}

fn native() -> &'static NativeWorld {
    static WORLD: OnceLock<Result<NativeWorld, String>> = OnceLock::new();
    let started = WORLD.get_or_init(|| {
        let echo = echo::start("127.0.0.1:0").map_err(|e| format!("start echo: {e}"))?;
        let config = bootstrap(vec![jwt_authn_filter(Arsenal::get())], vec![], echo.port());
        let envoy = Envoy::start_with("jwt-authn", 1, |dir| write_json(dir, "envoy.yaml", &config))
            .map_err(|e| e.to_string())?;
        Ok(NativeWorld { envoy, _echo: echo })
    });
    match started {
        Ok(world) => world,
        Err(e) => panic!("Envoy with jwt_authn did not start: {e}"),
    }
}

impl NativeWorld {
    fn bearer(&self, path: &str, token: &str) -> Response {
        let bearer = format!("Bearer {token}");
        self.envoy
            .send("GET", path, "attack.example", &[("authorization", &bearer)])
            .unwrap_or_else(|e| panic!("jwt_authn {path}: {e}\n{}", self.envoy.log()))
    }
}

#[test]
fn claimcheck_and_jwt_authn_disagree_only_where_documented() {
    let ours = world();
    let theirs = native();
    let mut found: Vec<(String, Accepts)> = Vec::new();
    let cases = token_cases();
    for case in &cases {
        let claimcheck = ours.bearer(case.path, &case.token).status == 200;
        let jwt_authn = theirs.bearer(case.path, &case.token).status == 200;
        if case.expect == Expect::Allowed {
            // The positive controls prove jwt_authn's configuration accepts what it should.
            assert!(
                claimcheck && jwt_authn,
                "{}: a control was refused",
                case.name
            );
        }
        match (claimcheck, jwt_authn) {
            (true, false) => found.push((case.name.clone(), Accepts::Claimcheck)),
            (false, true) => found.push((case.name.clone(), Accepts::JwtAuthn)),
            _ => {}
        }
    }
    let expected: Vec<(String, Accepts)> = DISAGREEMENTS
        .iter()
        .map(|(name, who, _)| ((*name).to_owned(), *who))
        .collect();
    println!(
        "{} tokens, {} disagreements with jwt_authn: {found:?}",
        cases.len(),
        found.len()
    );
    assert_eq!(
        found, expected,
        "claimcheck and jwt_authn disagree on other tokens than the documented ones"
    );
}
