//! `claimcheck keys`, `token` and `issuer`, run as a user would.

// Test helpers outside #[test] functions may panic too: a panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{claimcheck, jws_part, keys, token};
use serde_json::{json, Value};

#[test]
fn keys_writes_a_private_key_and_a_public_jwks_marked_for_development() {
    let dir = tempfile::tempdir().unwrap();
    let run = claimcheck(&[
        "keys",
        "--alg",
        "ES256",
        "--kid",
        "dev-1",
        "--out-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("DEVELOPMENT ONLY"), "{}", run.stdout);
    let pem = std::fs::read_to_string(dir.path().join("private-key.pem")).unwrap();
    assert!(pem.contains("development key"));
    assert!(pem.contains("-----BEGIN PRIVATE KEY-----"));
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("jwks.json")).unwrap())
            .unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["kid"].as_str(),
            jwk["alg"].as_str(),
            jwk["use"].as_str()
        ),
        (
            Some("EC"),
            Some("P-256"),
            Some("dev-1"),
            Some("ES256"),
            Some("sig")
        )
    );
    assert!(jwk.get("d").is_none());
}

#[test]
fn keys_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    assert_eq!(
        claimcheck(&["keys", "--alg", "EdDSA", "--out-dir", out]).code,
        0
    );
    let again = claimcheck(&["keys", "--alg", "EdDSA", "--out-dir", out]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(
        claimcheck(&["keys", "--alg", "EdDSA", "--out-dir", out, "--force"]).code,
        0
    );
}

#[test]
fn keys_refuses_alg_none_as_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = claimcheck(&[
        "keys",
        "--alg",
        "none",
        "--out-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("expected one of"), "{}", run.stderr);
}

/// An algorithm, how to get ring's public key bytes from its JWK, and ring's verifier.
type VerifyCase = (
    &'static str,
    &'static dyn Fn(&Value) -> Vec<u8>,
    &'static dyn ring::signature::VerificationAlgorithm,
);

/// Every generated key signs a token that verifies against the published JWK.
#[test]
fn tokens_from_generated_keys_verify_against_their_jwks() {
    use ring::signature::{self, UnparsedPublicKey};
    let cases: [VerifyCase; 4] = [
        (
            "RS256",
            &|jwk| rsa_der(jwk),
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            "ES256",
            &|jwk| ec_point(jwk),
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
        (
            "ES384",
            &|jwk| ec_point(jwk),
            &signature::ECDSA_P384_SHA384_FIXED,
        ),
        ("EdDSA", &|jwk| b64(&jwk["x"]), &signature::ED25519),
    ];
    for (alg, public_key, verification) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (key, jwks) = keys(dir.path(), alg, "k");
        let minted = token(&["--key", &key, "--sub", "alice"]);
        assert_eq!(jws_part(&minted, 0)["alg"], alg);
        assert_eq!(jws_part(&minted, 0)["kid"], "k");
        let jwks: Value = serde_json::from_str(&std::fs::read_to_string(jwks).unwrap()).unwrap();
        let (input, sig) = minted.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(verification, public_key(&jwks["keys"][0]))
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .unwrap_or_else(|_| panic!("{alg} token does not verify"));
    }
}

#[test]
fn hs256_token_verifies_with_the_secret_in_the_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let (key, jwks) = keys(dir.path(), "HS256", "h");
    let minted = token(&["--key", &key]);
    let jwks: Value = serde_json::from_str(&std::fs::read_to_string(jwks).unwrap()).unwrap();
    let secret = b64(&jwks["keys"][0]["k"]);
    let (input, sig) = minted.rsplit_once('.').unwrap();
    ring::hmac::verify(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(sig).unwrap(),
    )
    .unwrap();
}

#[test]
fn token_claims_come_from_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keys(dir.path(), "EdDSA", "k");
    let minted = token(&[
        "--key",
        &key,
        "--iss",
        "https://idp.example.com",
        "--sub",
        "alice",
        "--aud",
        "orders-api",
        "--aud",
        "billing",
        "--claim",
        "groups=[\"admin\"]",
        "--claim",
        "email_verified=true",
        "--claim",
        "name=Alice",
        "--claims-json",
        "{\"org\":{\"tier\":2}}",
        "--now",
        "2026-01-01T00:00:00Z",
        "--ttl",
        "10m",
        "--nbf",
        "-1m",
    ]);
    assert_eq!(
        jws_part(&minted, 1),
        json!({
            "iss": "https://idp.example.com", "sub": "alice", "aud": ["orders-api", "billing"],
            "groups": ["admin"], "email_verified": true, "name": "Alice", "org": {"tier": 2},
            "iat": 1_767_225_600, "nbf": 1_767_225_540, "exp": 1_767_226_200
        })
    );
}

#[test]
fn token_refuses_an_algorithm_that_does_not_fit_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keys(dir.path(), "ES256", "k");
    let run = claimcheck(&["token", "--key", &key, "--alg", "RS256"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("RS256 cannot be used with an EC P-256 key"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn token_reports_an_unreadable_key_file() {
    let run = claimcheck(&["token", "--key", "does-not-exist.pem"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does-not-exist.pem"), "{}", run.stderr);
}

#[test]
fn token_reports_a_malformed_claim_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keys(dir.path(), "EdDSA", "k");
    let run = claimcheck(&["token", "--key", &key, "--claim", "no-equals-sign"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("NAME=VALUE"), "{}", run.stderr);
}

struct Issuer {
    child: Child,
    addr: String,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an issuer on an ephemeral port. Its stdout is closed after the first line on
/// purpose: the issuer must keep serving when nobody reads what it prints.
fn start_issuer(jwks: &str, issuer: &str) -> Issuer {
    let mut child = common::command()
        .args([
            "issuer",
            "--jwks",
            jwks,
            "--issuer",
            issuer,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    Issuer { child, addr }
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.get(9..12).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[test]
fn issuer_serves_discovery_and_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jwks) = keys(dir.path(), "ES256", "k");
    let issuer = start_issuer(&jwks, "http://127.0.0.1:9000");
    let (status, body) = http_get(&issuer.addr, "/.well-known/openid-configuration");
    assert_eq!(status, 200);
    let discovery: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(discovery["issuer"], "http://127.0.0.1:9000");
    assert_eq!(discovery["jwks_uri"], "http://127.0.0.1:9000/jwks.json");
    let (status, body) = http_get(&issuer.addr, "/jwks.json");
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&body).unwrap();
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    assert_eq!(served, on_disk);
    assert_eq!(http_get(&issuer.addr, "/other").0, 404);
}

#[test]
fn issuer_serves_a_replaced_jwks_without_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jwks) = keys(dir.path(), "ES256", "old");
    let issuer = start_issuer(&jwks, "http://127.0.0.1:9000");
    let rotated = tempfile::tempdir().unwrap();
    let (_, new_jwks) = keys(rotated.path(), "ES256", "new");
    std::fs::copy(new_jwks, &jwks).unwrap();
    let (_, body) = http_get(&issuer.addr, "/jwks.json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["keys"][0]["kid"],
        "new"
    );
}

#[test]
fn issuer_refuses_to_publish_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jwks) = keys(dir.path(), "HS256", "h");
    let run = claimcheck(&[
        "issuer",
        "--jwks",
        &jwks,
        "--issuer",
        "http://127.0.0.1:9000",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("private member \"k\""),
        "{}",
        run.stderr
    );
}

#[test]
fn issuer_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_, jwks) = keys(dir.path(), "ES256", "k");
    let run = claimcheck(&[
        "issuer",
        "--jwks",
        &jwks,
        "--issuer",
        "http://127.0.0.1:9000",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a loopback address"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_subcommand_help_has_examples() {
    for subcommand in ["validate", "explain", "schema", "keys", "token", "issuer"] {
        let run = claimcheck(&[subcommand, "--help"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Examples:"),
            "{subcommand}: {}",
            run.stdout
        );
    }
}

#[test]
fn output_is_plain_when_not_a_terminal_and_coloured_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    let plain = claimcheck(&[
        "keys",
        "--alg",
        "EdDSA",
        "--out-dir",
        dir.path().join("a").to_str().unwrap(),
    ]);
    assert!(!plain.stdout.contains('\u{1b}'), "{:?}", plain.stdout);
    let forced = claimcheck(&[
        "--color",
        "always",
        "keys",
        "--alg",
        "EdDSA",
        "--out-dir",
        dir.path().join("b").to_str().unwrap(),
    ]);
    assert!(forced.stdout.contains('\u{1b}'), "{:?}", forced.stdout);
}

#[test]
fn no_color_turns_colour_off_even_when_forced_by_clicolor() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::command()
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .args([
            "keys",
            "--alg",
            "EdDSA",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8(output.stdout).unwrap().contains('\u{1b}'));
}

fn b64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap()
}

fn ec_point(jwk: &Value) -> Vec<u8> {
    let mut point = vec![4];
    point.extend(b64(&jwk["x"]));
    point.extend(b64(&jwk["y"]));
    point
}

/// DER `RSAPublicKey` (RFC 8017 A.1.1) from the JWK's n and e.
fn rsa_der(jwk: &Value) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let mut content = bytes.to_vec();
        if content[0] & 0x80 != 0 {
            content.insert(0, 0);
        }
        let mut out = vec![0x02];
        out.extend(length(content.len()));
        out.extend(content);
        out
    }
    fn length(len: usize) -> Vec<u8> {
        if len < 128 {
            vec![len as u8]
        } else {
            vec![0x82, (len >> 8) as u8, len as u8]
        }
    }
    let mut body = integer(&b64(&jwk["n"]));
    body.extend(integer(&b64(&jwk["e"])));
    let mut out = vec![0x30];
    out.extend(length(body.len()));
    out.extend(body);
    out
}

#[test]
fn token_binds_to_a_dpop_key_and_mints_a_proof_the_filter_accepts() {
    use claimcheck::dpop::{check, DpopMode, DpopPolicy, Presentation, Presented};
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keys(dir.path(), "ES256", "k");
    let client_dir = tempfile::tempdir().unwrap();
    let (client_key, _) = keys(client_dir.path(), "ES256", "c");
    let output = token(&[
        "--key",
        &key,
        "--sub",
        "alice",
        "--now",
        "2026-01-01T00:00:00Z",
        "--dpop-key",
        &client_key,
        "--dpop-htu",
        "https://api.example.com/orders",
    ]);
    let mut lines = output.lines();
    let (access_token, proof) = (lines.next().unwrap(), lines.next().unwrap());
    let claims = jws_part(access_token, 1);
    assert!(claims["cnf"]["jkt"].is_string(), "{claims}");
    let policy = DpopPolicy {
        mode: DpopMode::Required,
        algorithms: vec![claimcheck::jwt::Algorithm::ES256],
        challenge_algs: "ES256".into(),
        max_age_s: 60,
        clock_skew_s: 5,
        origin: None,
        forward_proof: false,
        replay_slots: 16,
        nonce: None,
    };
    let request = claimcheck::request::Request {
        method: "GET".into(),
        path: "/orders".into(),
        host: "api.example.com".into(),
        headers: vec![
            (":scheme".into(), "https".into()),
            ("dpop".into(), proof.into()),
        ],
        ..Default::default()
    };
    let presented = Presented {
        request: &request,
        access_token,
        presentation: Presentation::DpopScheme,
        now_s: 1_767_225_600,
    };
    let verified = check(
        &policy,
        &presented,
        claims.as_object().unwrap(),
        &claimcheck::crypto::RingVerifier,
    )
    .unwrap()
    .unwrap();
    assert_eq!(verified.jkt, claims["cnf"]["jkt"].as_str().unwrap());
}

#[test]
fn token_mints_as_many_dpop_proofs_as_asked_each_with_its_own_jti() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keys(dir.path(), "ES256", "k");
    let client_dir = tempfile::tempdir().unwrap();
    let (client_key, _) = keys(client_dir.path(), "ES256", "c");
    let output = token(&[
        "--key",
        &key,
        "--dpop-key",
        &client_key,
        "--dpop-htu",
        "https://api.example.com/orders",
        "--dpop-proofs",
        "5",
    ]);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 6, "{output}");
    let jtis: std::collections::BTreeSet<String> = lines[1..]
        .iter()
        .map(|proof| jws_part(proof, 1)["jti"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(jtis.len(), 5, "a jti repeats: {jtis:?}");
}
