//! RFC 8705 certificate-bound tokens through the pipeline: checked per request, cache hits
//! included, with the provider's `certificate_binding`.

use base64::Engine;
use claimcheck::decision::DenyReason;
use claimcheck::peer::CertificateDigest;
use serde_json::json;

use crate::*;

fn thumbprint(digest: &CertificateDigest) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.0)
}

fn bound_token(env: &Env, digest: &CertificateDigest) -> String {
    let mut claims = corp_claims();
    claims["cnf"] = json!({ "x5t#S256": thumbprint(digest) });
    env.keys.corp_token(&claims)
}

#[test]
fn a_bound_token_from_its_certificate_is_allowed_and_from_another_refused_even_when_cached() {
    let mut env = Env::fixture();
    let mine = CertificateDigest([1; 32]);
    let jwt = bound_token(&env, &mine);
    let request = get("/catalog").bearer(&jwt);
    env.certificate = Some(mine);
    let first = env.decide(&request);
    allowed(&first);
    assert_eq!(first.cache_hit, Some(false));
    env.certificate = Some(CertificateDigest([2; 32]));
    let stolen = env.decide(&request);
    assert_invalid_token(&stolen, DenyReason::CertificateBindingMismatch);
    assert_eq!(stolen.cache_hit, Some(true));
    env.certificate = None;
    assert_invalid_token(
        &env.decide(&request),
        DenyReason::CertificateBindingNoCertificate,
    );
}

#[test]
fn required_binding_refuses_a_bearer_token_and_off_ignores_cnf() {
    let mut env = Env::with(|config| {
        config["providers"]["corp"]["certificate_binding"] = json!("required");
    });
    let jwt = env.keys.corp_token(&corp_claims());
    assert_invalid_token(
        &env.decide(&get("/catalog").bearer(&jwt)),
        DenyReason::CertificateBindingRequired,
    );
    let mut env = Env::with(|config| {
        config["providers"]["corp"]["certificate_binding"] = json!("off");
    });
    let jwt = bound_token(&env, &CertificateDigest([1; 32]));
    allowed(&env.decide(&get("/catalog").bearer(&jwt)));
}

#[test]
fn a_malformed_cnf_is_refused() {
    let mut env = Env::fixture();
    let mut claims = corp_claims();
    claims["cnf"] = json!({ "x5t#S256": "not-a-thumbprint" });
    let jwt = env.keys.corp_token(&claims);
    assert_invalid_token(
        &env.decide(&get("/catalog").bearer(&jwt)),
        DenyReason::CertificateBindingMalformed,
    );
}

#[test]
fn explain_records_the_binding_check() {
    let mut env = Env::fixture();
    let jwt = bound_token(&env, &CertificateDigest([1; 32]));
    let (_, record) = env.record(&get("/catalog").bearer(&jwt));
    let corp = record.providers.first().unwrap();
    assert_eq!(
        corp.binding,
        Some(Err(
            claimcheck::certificate_binding::BindingError::NoCertificate
        ))
    );
}
