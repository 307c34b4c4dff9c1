//! The attack suite: what an attacker sends, through real Envoy (HTTP/1.1 and h2c, Envoy's
//! default path and header settings, so claimcheck stands on its own), and what comes back
//! or reaches the upstream.
//!
//! - the classic JWT attacks, each refused with its reason code, beside a positive control
//!   for every algorithm ([`token_cases`], shared with the `jwt_authn` differential);
//! - the request as the upstream reads it: forged tokens under other spellings, a lowercase
//!   method over HTTP/2, path spellings, identity headers under other spellings.
//!
//! One Envoy serves every test here ([`world`]): the provider's keys are inline, so no IdP
//! is involved.

use std::sync::OnceLock;

use claimcheck_e2e::echo::{self, Echoed};
use claimcheck_e2e::envoy::{closed_port, Envoy, EnvoySpec};
use claimcheck_e2e::h2c;
use claimcheck_e2e::http::{Response, Server};
use claimcheck_testkit::{b64, fixtures, hs256_token, sign_token, SigningKey, ALGORITHMS};
use serde_json::{json, Value};

use crate::support::now;

/// The issuer of the provider that accepts every algorithm (`/api`, `/admin`, ...).
pub const ISSUER: &str = "https://attack.example";
/// The issuer of the provider that accepts RS256 only (`/rs`).
pub const RS_ONLY_ISSUER: &str = "https://rs-only.example";
pub const AUDIENCE: &str = "attack-api";
/// A token signed with the repository's test-only 1024-bit RSA key (`kid` `weak-rsa`),
/// issued for [`ISSUER`] and valid until 2100: `openssl dgst -sha256 -sign`, as ring refuses
/// to sign with a key that short.
const WEAK_RSA_TOKEN: &str = include_str!("../../fixtures/weak-rsa-1024.jwt");

/// Every key the suite signs with: the provider's, one per algorithm (`kid` = the
/// algorithm's name), and an attacker's own.
pub struct Arsenal {
    pub keys: Vec<SigningKey>,
    pub attacker: SigningKey,
}

impl Arsenal {
    pub fn get() -> &'static Arsenal {
        static ARSENAL: OnceLock<Arsenal> = OnceLock::new();
        ARSENAL.get_or_init(|| Arsenal {
            keys: ALGORITHMS.iter().map(|alg| SigningKey::new(alg)).collect(),
            attacker: SigningKey::es256(),
        })
    }

    pub fn key(&self, alg: &str) -> &SigningKey {
        self.keys.iter().find(|k| k.alg() == alg).unwrap()
    }

    /// The provider's JWKS: every key as published (`kid`, `alg`, `use`), and the 1024-bit
    /// RSA key, which claimcheck skips.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<Value> = self.keys.iter().map(|k| k.published_jwk(k.alg())).collect();
        let mut weak: Value = serde_json::from_str(fixtures::RSA_1024_JWK).unwrap();
        weak["kid"] = json!("weak-rsa");
        weak["alg"] = json!("RS256");
        weak["use"] = json!("sig");
        keys.push(weak);
        json!({ "keys": keys })
    }

    /// The RS256-only provider's JWKS.
    pub fn rs_only_jwks(&self) -> Value {
        json!({ "keys": [self.key("RS256").published_jwk("rs")] })
    }

    /// A token from `alg`'s key with its `kid`.
    pub fn token(&self, alg: &str, claims: &Value) -> String {
        self.key(alg).token(Some(alg), claims)
    }

    /// A token whose header is exactly `header` (its `alg` picks `key`'s signature).
    pub fn token_with_header(&self, key: &SigningKey, header: &Value, claims: &Value) -> String {
        sign_token(header, claims, |input| key.sign(input))
    }

    /// A token whose header and payload segments encode exactly these bytes (JSON that
    /// `json!` cannot write, such as a repeated member).
    pub fn raw_token(&self, key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }
}

/// Valid claims for [`ISSUER`], with `extra` merged in.
pub fn claims(extra: Value) -> Value {
    let now = now();
    let mut c = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "attacker",
        "iat": now, "nbf": now, "exp": now + 600,
    });
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

/// The plugin configuration: two providers with inline keys, rules on what an attacker
/// would aim at, and Envoy-default everything else.
pub fn policy(arsenal: &Arsenal) -> Value {
    json!({
        "providers": {
            "multi": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": ALGORITHMS,
                "jwks": { "inline": arsenal.jwks() },
                "sources": [
                    { "header": "authorization", "prefix": "Bearer " },
                    { "query": "access_token" },
                    { "cookie": "session" }
                ],
                "claims_to_headers": [
                    { "claim": "sub", "header": "x-user-id" },
                    { "claim": "groups", "header": "x-user-groups", "join": "," }
                ]
            },
            "rsonly": {
                "issuer": RS_ONLY_ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": ["RS256"],
                "jwks": { "inline": arsenal.rs_only_jwks() }
            }
        },
        "rules": [
            { "name": "public", "match": { "path": { "prefix": "/public" } }, "action": "allow" },
            { "name": "beta", "match": { "path": { "prefix": "/dry" } }, "action": "require",
              "dry_run": true,
              "require": { "providers": { "any": ["multi"] },
                           "claims": { "claim": "groups", "contains": "beta" } } },
            { "name": "orders-write", "match": { "path": { "prefix": "/orders" }, "methods": ["POST"] },
              "action": "require",
              "require": { "providers": { "any": ["multi"] },
                           "claims": { "claim": "scope", "contains": "orders:write" } } },
            { "name": "orders-read", "match": { "path": { "prefix": "/orders" } }, "action": "allow" },
            { "name": "admin", "match": { "path": { "prefix": "/admin" } }, "action": "require",
              "require": { "providers": { "any": ["multi"] },
                           "claims": { "claim": "groups", "contains": "admin" } } },
            { "name": "rs", "match": { "path": { "prefix": "/rs" } }, "action": "require",
              "require": { "providers": { "any": ["rsonly"] } } },
            { "name": "api", "match": { "path": { "prefix": "/api" } }, "action": "require",
              "require": { "providers": { "any": ["multi"] } } }
        ],
        "default": { "action": "deny" },
        "realm": "attack"
    })
}

/// Envoy running claimcheck with [`policy`], and the echo upstream.
pub struct AttackWorld {
    pub envoy: Envoy,
    _echo: Server,
}

/// The suite's one Envoy, started on first use.
pub fn world() -> &'static AttackWorld {
    static WORLD: OnceLock<Result<AttackWorld, String>> = OnceLock::new();
    let started = WORLD.get_or_init(|| {
        let echo = echo::start("127.0.0.1:0").map_err(|e| format!("start echo: {e}"))?;
        let idp = closed_port().map_err(|e| e.to_string())?;
        let config = policy(Arsenal::get()).to_string();
        let spec = EnvoySpec::claimcheck("attacks", config, echo.port(), idp);
        let envoy = Envoy::start(&spec).map_err(|e| e.to_string())?;
        Ok(AttackWorld { envoy, _echo: echo })
    });
    match started {
        Ok(world) => world,
        Err(e) => panic!("the attack suite's Envoy did not start: {e}"),
    }
}

impl AttackWorld {
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.envoy
            .send(method, path, "attack.example", headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.envoy.log()))
    }

    pub fn bearer(&self, path: &str, token: &str) -> Response {
        self.send(
            "GET",
            path,
            &[("authorization", &format!("Bearer {token}"))],
        )
    }

    pub fn h2(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> h2c::H2Response {
        h2c::send(self.envoy.addr(), method, path, "attack.example", headers)
            .unwrap_or_else(|e| panic!("h2c {method} {path}: {e}\n{}", self.envoy.log()))
    }
}

/// What a case expects from claimcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Forwarded, with `x-user-id` set from the token's `sub`, which is the case's name.
    Allowed,
    /// Refused with this reason code; nothing reaches the upstream.
    Refused(&'static str),
}

/// One token sent with `Authorization: Bearer` to `path`.
pub struct TokenCase {
    pub name: String,
    pub path: &'static str,
    pub token: String,
    pub expect: Expect,
}

fn case(name: &str, path: &'static str, token: String, expect: Expect) -> TokenCase {
    TokenCase {
        name: name.to_owned(),
        path,
        token,
        expect,
    }
}

/// The RSA key's SubjectPublicKeyInfo as PEM: what an attacker downloads and uses as an
/// HMAC secret.
fn rsa_public_pem() -> String {
    let standard: String = b64(fixtures::RSA_2048_SPKI)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    let padded = format!("{standard}{}", "=".repeat((4 - standard.len() % 4) % 4));
    let lines: Vec<&str> = padded
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Replaces the signature segment of `token`.
fn with_signature(token: &str, signature: &str) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

/// A valid ES256 token whose signature segment holds `-` or `_`, so re-spelling it in the
/// standard alphabet changes its text.
fn es256_with_url_characters(arsenal: &Arsenal) -> String {
    loop {
        let token = arsenal.token("ES256", &claims(json!({})));
        let signature = token.rsplit('.').next().unwrap();
        if signature.contains(['-', '_']) {
            return token;
        }
    }
}

/// Every token of the suite: a positive control per algorithm, then the attacks.
pub fn token_cases() -> Vec<TokenCase> {
    use Expect::{Allowed, Refused};
    let a = Arsenal::get();
    let valid = || claims(json!({}));
    let mut cases: Vec<TokenCase> = ALGORITHMS
        .iter()
        .map(|alg| {
            let token = a.token(alg, &claims(json!({ "sub": format!("control-{alg}") })));
            case(&format!("control-{alg}"), "/api", token, Allowed)
        })
        .collect();
    let es256 = a.key("ES256");
    let payload = b64(valid().to_string().as_bytes());

    // alg: none and its spellings (RFC 8725 §3.1).
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({ "alg": alg, "typ": "JWT" }).to_string().as_bytes());
        cases.push(case(
            &format!("alg-{alg}-unsigned"),
            "/api",
            format!("{header}.{payload}."),
            Refused("algorithm_not_allowed"),
        ));
    }
    let header = b64(json!({ "alg": "none" }).to_string().as_bytes());
    cases.push(case(
        "alg-none-with-a-signature",
        "/api",
        format!("{header}.{payload}.{}", b64(b"signature")),
        Refused("algorithm_not_allowed"),
    ));
    cases.push(case(
        "alg-missing",
        "/api",
        a.raw_token(es256, br#"{"kid":"ES256"}"#, valid().to_string().as_bytes()),
        Refused("token_malformed"),
    ));

    // RS→HS confusion (RFC 8725 §2.1): the public key as the HMAC secret.
    let pem = rsa_public_pem();
    for (name, secret) in [
        ("rs-to-hs-with-the-pem", pem.as_bytes()),
        ("rs-to-hs-with-the-der", fixtures::RSA_2048_SPKI),
    ] {
        let header = json!({ "alg": "HS256", "kid": "RS256", "typ": "JWT" });
        cases.push(case(
            name,
            "/api",
            hs256_token(secret, &header, &valid()),
            Refused("algorithm_not_allowed"),
        ));
    }
    cases.push(case(
        "rs-to-hs-without-kid",
        "/api",
        hs256_token(pem.as_bytes(), &json!({ "alg": "HS256" }), &valid()),
        Refused("signature_invalid"),
    ));
    cases.push(case(
        "rs-to-hs-at-an-rs256-only-provider",
        "/rs",
        hs256_token(
            pem.as_bytes(),
            &json!({ "alg": "HS256", "kid": "rs" }),
            &claims(json!({ "iss": RS_ONLY_ISSUER })),
        ),
        Refused("algorithm_not_allowed"),
    ));
    cases.push(case(
        "es-to-hs-with-the-ec-point",
        "/api",
        hs256_token(
            &es256.public_bytes(),
            &json!({ "alg": "HS256", "kid": "ES256" }),
            &valid(),
        ),
        Refused("algorithm_not_allowed"),
    ));
    cases.push(case(
        "kid-of-another-algorithm",
        "/api",
        a.token_with_header(
            a.key("ES384"),
            &json!({ "alg": "ES384", "kid": "ES256" }),
            &valid(),
        ),
        Refused("algorithm_not_allowed"),
    ));

    // kid injection: a kid is a name to look up, never a path or a query.
    for (name, kid, secret) in [
        ("kid-path-traversal", "../../../../../../dev/null", &b""[..]),
        (
            "kid-sql-injection",
            "x' UNION SELECT 'attacker-secret' --",
            b"attacker-secret",
        ),
        ("kid-with-a-nul-byte", "HS256\u{0}", b""),
    ] {
        cases.push(case(
            name,
            "/api",
            hs256_token(secret, &json!({ "alg": "HS256", "kid": kid }), &valid()),
            Refused("key_not_found"),
        ));
    }
    cases.push(case(
        "kid-not-a-string",
        "/api",
        a.token_with_header(es256, &json!({ "alg": "ES256", "kid": 1 }), &valid()),
        Refused("token_malformed"),
    ));

    // Keys named by the token itself (RFC 8725 §3.10).
    for (name, member, value) in [
        (
            "jku-header",
            "jku",
            json!("https://attacker.example/jwks.json"),
        ),
        (
            "x5u-header",
            "x5u",
            json!("https://attacker.example/cert.pem"),
        ),
        ("jwk-header-with-the-real-key", "jwk", es256.jwk("ES256")),
    ] {
        let mut header = json!({ "alg": "ES256", "kid": "ES256" });
        header[member] = value;
        cases.push(case(
            name,
            "/api",
            a.token_with_header(es256, &header, &valid()),
            Refused("token_malformed"),
        ));
    }
    cases.push(case(
        "jwk-header-with-the-attackers-key",
        "/api",
        a.token_with_header(
            &a.attacker,
            &json!({ "alg": "ES256", "jwk": a.attacker.jwk("mine") }),
            &valid(),
        ),
        Refused("token_malformed"),
    ));

    // crit (RFC 7515 §4.1.11): no extension is understood, so every one is refused.
    for (name, header) in [
        (
            "crit-exp",
            json!({ "alg": "ES256", "kid": "ES256", "crit": ["exp"] }),
        ),
        (
            "crit-unknown-extension",
            json!({ "alg": "ES256", "kid": "ES256", "crit": ["urn:x"], "urn:x": true }),
        ),
    ] {
        cases.push(case(
            name,
            "/api",
            a.token_with_header(es256, &header, &valid()),
            Refused("token_malformed"),
        ));
    }

    // Psychic signatures (CVE-2022-21449): r = s = 0.
    for (alg, len) in [("ES256", 64), ("ES384", 96), ("ES512", 132)] {
        let token = a.token(alg, &valid());
        cases.push(case(
            &format!("psychic-signature-{alg}"),
            "/api",
            with_signature(&token, &b64(&vec![0u8; len])),
            Refused("signature_invalid"),
        ));
    }

    // Signatures that are not the signer's.
    let token = a.token("ES256", &valid());
    cases.push(case(
        "signature-stripped",
        "/api",
        with_signature(&token, ""),
        Refused("token_malformed"),
    ));
    let mut flipped = token.into_bytes();
    let at = flipped.len() - 10;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    cases.push(case(
        "signature-one-character-changed",
        "/api",
        String::from_utf8(flipped).unwrap(),
        Refused("signature_invalid"),
    ));
    cases.push(case(
        "attackers-own-key-and-issuer",
        "/api",
        a.attacker.token(
            Some("mine"),
            &claims(json!({ "iss": "https://attacker.example" })),
        ),
        Refused("issuer_unknown"),
    ));
    cases.push(case(
        "attackers-own-key-our-issuer",
        "/api",
        a.attacker.token(Some("ES256"), &valid()),
        Refused("signature_invalid"),
    ));

    // Weak RSA: the key is in the JWKS but under 2048 bits, so it is skipped.
    cases.push(case(
        "weak-rsa-1024",
        "/api",
        WEAK_RSA_TOKEN.trim().to_owned(),
        Refused("key_not_found"),
    ));

    // JWE where a JWS is expected.
    for (name, header) in [
        (
            "jwe-rsa-oaep",
            json!({ "alg": "RSA-OAEP", "enc": "A256GCM" }),
        ),
        ("jwe-dir", json!({ "alg": "dir", "enc": "A128CBC-HS256" })),
    ] {
        let header = b64(header.to_string().as_bytes());
        cases.push(case(
            name,
            "/api",
            format!(
                "{header}..{}.{payload}.{}",
                b64(b"iv-iv-iv-iv-"),
                b64(b"tag")
            ),
            Refused("token_malformed"),
        ));
    }

    // Non-canonical base64url: one token, one spelling.
    let token = es256_with_url_characters(a);
    let (input, signature) = token.rsplit_once('.').unwrap();
    cases.push(case(
        "base64-padding",
        "/api",
        format!("{token}=="),
        Refused("token_malformed"),
    ));
    let standard: String = signature
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    cases.push(case(
        "base64-standard-alphabet",
        "/api",
        format!("{input}.{standard}"),
        Refused("token_malformed"),
    ));
    // 64 signature bytes are 86 characters; the last one carries 4 unused bits, which a
    // canonical encoding leaves zero.
    let mut trailing = signature.to_owned().into_bytes();
    let last = trailing.last_mut().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.iter().position(|c| c == last).unwrap();
    *last = alphabet[value | 0x1];
    cases.push(case(
        "base64-non-zero-trailing-bits",
        "/api",
        format!("{input}.{}", String::from_utf8(trailing).unwrap()),
        Refused("token_malformed"),
    ));

    // Duplicate JSON members (RFC 7515 §5.2, RFC 7519 §4): never pick one.
    let now = now();
    let dup_sub = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"attacker","sub":"admin","iat":{now},"exp":{}}}"#,
        now + 600
    );
    let dup_exp = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"attacker","iat":{now},"exp":{},"exp":{}}}"#,
        now - 3600,
        now + 600
    );
    for (name, header, payload) in [
        (
            "duplicate-claim-sub",
            r#"{"alg":"ES256","kid":"ES256"}"#,
            dup_sub.as_str(),
        ),
        (
            "duplicate-claim-exp",
            r#"{"alg":"ES256","kid":"ES256"}"#,
            dup_exp.as_str(),
        ),
        (
            "duplicate-header-alg",
            r#"{"alg":"HS256","alg":"ES256","kid":"ES256"}"#,
            &valid().to_string(),
        ),
    ] {
        cases.push(case(
            name,
            "/api",
            a.raw_token(es256, header.as_bytes(), payload.as_bytes()),
            Refused("token_malformed"),
        ));
    }

    // Huge and deeply nested payloads.
    cases.push(case(
        "huge-payload-20-kib",
        "/api",
        a.token("ES256", &claims(json!({ "pad": "x".repeat(20 * 1024) }))),
        Refused("token_too_large"),
    ));
    let depth = 3000;
    let nested = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"a","exp":{},"n":{}{}}}"#,
        now + 600,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    cases.push(case(
        "nested-payload-3000-deep",
        "/api",
        a.raw_token(
            es256,
            br#"{"alg":"ES256","kid":"ES256"}"#,
            nested.as_bytes(),
        ),
        Refused("token_malformed"),
    ));
    let nested_header = format!(
        r#"{{"alg":"ES256","kid":"ES256","x":{}{}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    cases.push(case(
        "nested-header-500-deep",
        "/api",
        a.raw_token(
            es256,
            nested_header.as_bytes(),
            valid().to_string().as_bytes(),
        ),
        Refused("token_malformed"),
    ));

    // Time claims of the wrong type or out of range (RFC 7519 §2 NumericDate).
    for (name, extra) in [
        ("exp-as-string", json!({ "exp": (now + 600).to_string() })),
        ("exp-as-float", json!({ "exp": now as f64 + 600.5 })),
        ("exp-huge-float", json!({ "exp": 1e300 })),
        ("exp-negative", json!({ "exp": -1 })),
        ("exp-as-bool", json!({ "exp": true })),
        ("nbf-as-string", json!({ "nbf": now.to_string() })),
        ("iat-as-array", json!({ "iat": [now] })),
    ] {
        cases.push(case(
            name,
            "/api",
            a.token("ES256", &claims(extra)),
            Refused("time_claim_invalid"),
        ));
    }
    cases.push(case(
        "exp-beyond-u64",
        "/api",
        a.raw_token(
            es256,
            br#"{"alg":"ES256","kid":"ES256"}"#,
            format!(
                r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"a","exp":18446744073709551616}}"#
            )
            .as_bytes(),
        ),
        Refused("time_claim_invalid"),
    ));
    cases.push(case(
        "expired",
        "/api",
        a.token("ES256", &claims(json!({ "exp": now - 3600 }))),
        Refused("token_expired"),
    ));
    cases.push(case(
        "another-audience",
        "/api",
        a.token("ES256", &claims(json!({ "aud": "other-api" }))),
        Refused("audience_mismatch"),
    ));
    cases
}

/// Sends a token case to claimcheck and checks the reply and what the upstream saw.
fn check(world: &AttackWorld, case: &TokenCase) -> Result<(), String> {
    let r = world.bearer(case.path, &case.token);
    let body = r.body_text();
    match case.expect {
        Expect::Allowed => {
            let seen = Echoed::parse(&r.body)
                .filter(|_| r.status == 200)
                .ok_or_else(|| format!("expected the upstream, got {} {body}", r.status))?;
            // Positive controls carry their own name as `sub`.
            let sub = case.name.as_str();
            if seen.header_all("x-user-id") != [sub] {
                return Err(format!(
                    "x-user-id upstream: {:?}",
                    seen.header_all("x-user-id")
                ));
            }
            if !seen.header_all("authorization").is_empty() {
                return Err("the token reached the upstream".into());
            }
        }
        Expect::Refused(reason) => {
            let parsed: Value = serde_json::from_slice(&r.body)
                .map_err(|_| format!("expected a refusal, got {} {body}", r.status))?;
            if parsed["reason"] != reason || parsed["status"] != r.status {
                return Err(format!("expected {reason}, got {} {body}", r.status));
            }
            if body.contains(&case.token) {
                return Err("the refusal echoes the token".into());
            }
        }
    }
    Ok(())
}

#[test]
fn every_algorithm_has_a_positive_control_and_every_classic_attack_its_reason() {
    let world = world();
    let cases = token_cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(world, case)
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} token cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Envoy and the VM are still serving after every hostile token.
    let control = Arsenal::get().token("EdDSA", &claims(json!({ "sub": "after" })));
    assert_eq!(world.bearer("/api", &control).status, 200);
}

/// What a request case expects of the reply.
enum Reply {
    Refused(&'static str),
    /// Forwarded; none of these strings appears anywhere in what the upstream received.
    ForwardedWithout(Vec<String>),
}

fn upstream_text(seen: &Echoed) -> String {
    let mut text = seen.path.clone();
    for (name, value) in &seen.headers {
        text.push_str(&format!("\n{name}: {value}"));
    }
    text
}

fn check_request(r: &Response, expect: &Reply) -> Result<(), String> {
    let body = r.body_text();
    match expect {
        Reply::Refused(reason) => {
            let parsed: Value = serde_json::from_slice(&r.body)
                .map_err(|_| format!("expected {reason}, got {} {body}", r.status))?;
            if parsed["reason"] != *reason {
                return Err(format!("expected {reason}, got {} {body}", r.status));
            }
        }
        Reply::ForwardedWithout(absent) => {
            let seen = Echoed::parse(&r.body)
                .filter(|_| r.status == 200)
                .ok_or_else(|| format!("expected the upstream, got {} {body}", r.status))?;
            let text = upstream_text(&seen);
            for needle in absent {
                if text.contains(needle.as_str()) {
                    return Err(format!("{needle:?} reached the upstream:\n{text}"));
                }
            }
        }
    }
    Ok(())
}

/// One request of a table: name, method, path, headers, what must come of it.
type RequestCase<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, String)>, Reply);

fn run_requests(cases: Vec<RequestCase<'_>>) {
    let world = world();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, method, path, headers, expect)| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let r = world.send(method, path, &headers);
            check_request(&r, expect)
                .err()
                .map(|e| format!("{name} ({method} {path}): {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn forged_tokens_under_other_spellings_are_judged_and_never_forwarded() {
    use Reply::{ForwardedWithout, Refused};
    let a = Arsenal::get();
    let valid = a.token("ES256", &claims(json!({})));
    let bearer = format!("Bearer {valid}");
    let forged = a
        .attacker
        .token(Some("ES256"), &claims(json!({ "sub": "admin" })));
    let gone = || ForwardedWithout(vec![valid.clone(), forged.clone()]);
    run_requests(vec![
        // On a public route a present token is verified: a forged one is refused.
        (
            "query-name-percent-encoded",
            "GET",
            &format!("/public?access%5Ftoken={forged}"),
            vec![],
            Refused("signature_invalid"),
        ),
        (
            "query-name-upper-case-and-dot",
            "GET",
            &format!("/public?ACCESS.TOKEN={forged}"),
            vec![],
            Refused("signature_invalid"),
        ),
        (
            "query-name-php-array",
            "GET",
            &format!("/public?access_token[]={forged}"),
            vec![],
            Refused("signature_invalid"),
        ),
        (
            "query-name-leading-plus",
            "GET",
            &format!("/public?x=1;+access_token={forged}"),
            vec![],
            Refused("signature_invalid"),
        ),
        (
            "cookie-after-a-comma",
            "GET",
            "/public",
            vec![("cookie", format!("theme=dark, session={forged}"))],
            Refused("signature_invalid"),
        ),
        (
            "cookie-quoted",
            "GET",
            "/public",
            vec![("cookie", format!("session=\"{forged}\""))],
            Refused("signature_invalid"),
        ),
        // Next to a valid token, a second one is ambiguous.
        (
            "bearer-and-forged-query",
            "GET",
            &format!("/api?access%5Ftoken={forged}"),
            vec![("authorization", bearer.clone())],
            Refused("token_ambiguous"),
        ),
        (
            "bearer-and-forged-cookie",
            "GET",
            "/api",
            vec![
                ("authorization", bearer.clone()),
                ("cookie", format!("theme=dark, session={forged}")),
            ],
            Refused("token_ambiguous"),
        ),
        // The same token twice is one token, and every copy is taken off.
        (
            "bearer-and-same-query",
            "GET",
            &format!("/api?Access.Token={valid}&x=1"),
            vec![("authorization", bearer.clone())],
            gone(),
        ),
        (
            "bearer-and-same-cookie",
            "GET",
            "/api",
            vec![
                ("authorization", bearer.clone()),
                ("cookie", format!("a=1, session={valid}; b=2")),
            ],
            gone(),
        ),
        // Dry run lets the request through, but as an anonymous one: no token rides along.
        (
            "dry-run-refusal-strips-the-token",
            "GET",
            &format!("/dry?access_token={valid}"),
            vec![("cookie", format!("session={valid}"))],
            gone(),
        ),
        (
            "dry-run-ambiguous-strips-both",
            "GET",
            &format!("/dry?access_token={forged}"),
            vec![("authorization", bearer.clone())],
            gone(),
        ),
    ]);
}

#[test]
fn path_spellings_meet_the_rule_of_the_path_the_upstream_serves() {
    use Reply::Refused;
    // Every spelling of /admin reaches the admin rule: no token is `token_missing`, where
    // /public or /orders would have let the request through.
    let admin = || Refused("token_missing");
    run_requests(vec![
        ("control", "GET", "/admin/users", vec![], admin()),
        ("trailing-slash", "GET", "/admin/", vec![], admin()),
        ("doubled-slashes", "GET", "//admin//users", vec![], admin()),
        (
            "matrix-parameters",
            "GET",
            "/admin;jsessionid=1/users",
            vec![],
            admin(),
        ),
        (
            "percent-encoded-letter",
            "GET",
            "/%61dmin/users",
            vec![],
            admin(),
        ),
        (
            "dot-segments",
            "GET",
            "/public/../admin/users",
            vec![],
            admin(),
        ),
        (
            "encoded-dot-segments",
            "GET",
            "/public/%2e%2e/admin/users",
            vec![],
            admin(),
        ),
        (
            "orders-dot-segments",
            "GET",
            "/orders/./../admin",
            vec![],
            admin(),
        ),
        (
            "encoded-slash",
            "GET",
            "/public/..%2Fadmin/users",
            vec![],
            Refused("path_escaped_slash"),
        ),
        (
            "encoded-backslash",
            "GET",
            "/public/..%5Cadmin/users",
            vec![],
            Refused("path_escaped_slash"),
        ),
        (
            "dot-segment-behind-parameters",
            "GET",
            "/public/..;/admin/users",
            vec![],
            Refused("path_not_canonical"),
        ),
        (
            "encoded-nul",
            "GET",
            "/public/x%00/../../admin",
            vec![],
            Refused("path_not_canonical"),
        ),
    ]);
}

#[test]
fn identity_headers_under_other_spellings_never_reach_the_upstream() {
    use Reply::ForwardedWithout;
    let a = Arsenal::get();
    let valid = a.token("ES256", &claims(json!({ "sub": "attacker" })));
    let forged = || ForwardedWithout(vec!["admin".into()]);
    run_requests(vec![
        (
            "underscores",
            "GET",
            "/public",
            vec![("x_user_id", "admin".into())],
            forged(),
        ),
        (
            "mixed",
            "GET",
            "/public",
            vec![("x-user_groups", "admin".into())],
            forged(),
        ),
        (
            "upper-case",
            "GET",
            "/public",
            vec![("X_USER_ID", "admin".into())],
            forged(),
        ),
        (
            "beside-a-verified-token",
            "GET",
            "/api",
            vec![
                ("authorization", format!("Bearer {valid}")),
                ("x_user_id", "admin".into()),
                ("x-user-id", "admin".into()),
            ],
            forged(),
        ),
    ]);
    // Over HTTP/2 too, where names arrive as sent.
    let r = world().h2(
        "GET",
        "/public",
        &[("x_user_id", "admin"), ("x_user_groups", "admin")],
    );
    let seen = Echoed::parse(&r.body).unwrap_or_else(|| panic!("h2c: {r:?}"));
    assert!(!upstream_text(&seen).contains("admin"), "{seen:?}");
}

#[test]
fn a_lowercase_method_over_http2_meets_the_rules_for_its_uppercase_form() {
    let world = world();
    let a = Arsenal::get();
    // `post` is `POST` to the rules: refused without a token, not waved through by the
    // open `orders-read` rule.
    let r = world.h2("post", "/orders/12", &[]);
    let reason: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    assert_eq!(reason["reason"], "token_missing", "{r:?} {}", r.body_text());
    assert_eq!(r.status, Some(401));
    // A token without `orders:write` is refused, one with it is let through.
    let reader = a.token("ES256", &claims(json!({ "scope": "orders:read" })));
    let r = world.h2(
        "post",
        "/orders/12",
        &[("authorization", &format!("Bearer {reader}"))],
    );
    let reason: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    assert_eq!(
        reason["reason"],
        "claims_condition_failed",
        "{}",
        r.body_text()
    );
    let writer = a.token("ES256", &claims(json!({ "scope": "orders:write" })));
    let r = world.h2(
        "post",
        "/orders/12",
        &[("authorization", &format!("Bearer {writer}"))],
    );
    assert!(Echoed::parse(&r.body).is_some(), "{}", r.body_text());
    // The control: a GET is for `orders-read`, which is open.
    let r = world.h2("GET", "/orders/12", &[]);
    assert_eq!(r.status, Some(200), "{}", r.body_text());
}
