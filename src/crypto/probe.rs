//! The start-up probe that decides whether the host's crypto may be trusted.
//!
//! A host is used only if it verifies two known-good signatures (RS256 and ES256, fixed
//! vectors below) and refuses a tampered copy of each. A host without `verify_signature`
//! fails the first probe; one that answers `true` to everything fails a tampered one; one
//! that mis-encodes or mis-parses fails a good one. Each probe runs through the very
//! [`HostVerifier`] that will serve requests, DER re-encoding of ES signatures included.

use std::fmt;

use super::{HostFailure, HostVerifier, SignatureError, SignatureVerifier};
use crate::jwa::Algorithm;
use crate::jwks::{KeyPolicy, KeySet};
use crate::jwt::decode;

/// Development keys generated for this probe only (their private halves are not kept).
const PROBE_JWKS: &str = r#"{"keys":[
{"kty":"RSA","kid":"probe-RS256","alg":"RS256","use":"sig","e":"AQAB","n":"3R-k8WgEqoLMqzQ4spnLYKfIs6GY8FiTgCbAHifge9ofIdl2dYrcnK-d92Seghvw9gnsBKwLqcWFCzA0kjQC3yAXmsP9sNh4tKQiLpwP86Nvw87GnylNnhbZN8VHwxwBrdp3qVHqXbCqNFvZM3MhGa5TPXyruNFBLh_bMZf7LQqOd1PqOd1TOi3M7ficwicR-0rwdrcYyhpXW4KgrNbypnWuU9TyB1WYYGUzhFxh9Y3Jeq5RxwamhlmOH8YlP138-_TOqFPnhsAsdqTQtOE-Hap7IB0J38mKP31_K624d1U0MAE0-pdpYR6VQN0CYamEjdO0nD79tRQcYf8_9PvJlw"},
{"kty":"EC","kid":"probe-ES256","alg":"ES256","use":"sig","crv":"P-256","x":"uW-KgTcxKqbMwIvKURvKJbFsCEojboPMmqZMfDGsMv4","y":"HyCJ8OHleG3sQzGpEQla8hf8S_EdH-kc0mAor-pHr4A"}
]}"#;

/// Tokens signed by the keys above. The ES256 signature's `r` starts with a set high bit, so
/// the probe also checks the zero byte the DER form needs there.
const PROBE_TOKENS: [(Algorithm, &str); 2] = [
    (
        Algorithm::RS256,
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InByb2JlLVJTMjU2IiwidHlwIjoiSldUIn0.eyJpYXQiOjE3NjcyMjU2MDAsInByb2JlIjoiY2xhaW1jaGVjay1ob3N0LWNyeXB0byJ9.wFUSYb2xs1I0kJeD9qVK07WXcnBtFES757Jy_EW8oNWq4s3H_cmELCHwd_OUKe2LuYrXKbZIdTUgBz96XylSMINJq2JmueyaOs10NwYH9FHXABaidw6kCxajxcLo0_Ger_-KSdwt1W8Hk68SFGDwKOab2Kc2i78NyovOYdaYQ2R17yyxwVjAw4JZaYmP48j0z4h8RXNgyVdw9lEcAk815qCiRk3Raja5zwjPJNBP1ZBCl9JbJsVSNvOExMCU-WuCv0SmeKm5JCmyWpEqVog-w5woXgBwPr_bNFB4fKxAKUtOxuaTrsSuwzL-y1N0m4tOyIvRGyOtQi7WsSB28D88hA",
    ),
    (
        Algorithm::ES256,
        "eyJhbGciOiJFUzI1NiIsImtpZCI6InByb2JlLUVTMjU2IiwidHlwIjoiSldUIn0.eyJpYXQiOjE3NjcyMjU2MDAsInByb2JlIjoiY2xhaW1jaGVjay1ob3N0LWNyeXB0byJ9.62FAI5qFM8Fup_NspbVJdAGxTc-3YfB0KssTkIuzw0h4QH_BdM2Yuxcthmfa9N3nZcmRFaHwa56igQAIZIPADA",
    ),
];

/// Why the host's crypto is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The host offers no `verify_signature`.
    Unavailable,
    /// A known-good signature was not verified.
    RefusedGood {
        alg: Algorithm,
        error: SignatureError,
    },
    /// A tampered signature was verified: the host answers without checking.
    AcceptedTampered { alg: Algorithm },
    /// The probe's own vectors did not load (a build defect; the VM path is used).
    Vectors,
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Unavailable => f.write_str("the host has no verify_signature function"),
            ProbeFailure::RefusedGood { alg, error } => {
                write!(f, "the host refused a valid {alg} signature ({error})")
            }
            ProbeFailure::AcceptedTampered { alg } => {
                write!(f, "the host accepted a tampered {alg} signature")
            }
            ProbeFailure::Vectors => f.write_str("the probe vectors did not load"),
        }
    }
}

impl ProbeFailure {
    /// Short code for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeFailure::Unavailable => "unavailable",
            ProbeFailure::RefusedGood { .. } => "refused_valid",
            ProbeFailure::AcceptedTampered { .. } => "accepted_tampered",
            ProbeFailure::Vectors => "vectors",
        }
    }
}

/// Runs the four probes; `Ok` only when every answer is right.
pub fn probe(host: &HostVerifier) -> Result<(), ProbeFailure> {
    let policy = KeyPolicy {
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
    };
    let keys = KeySet::parse(PROBE_JWKS.as_bytes(), &policy)
        .map_err(|_| ProbeFailure::Vectors)?
        .keys;
    for (alg, token) in PROBE_TOKENS {
        let jwt = decode(token).map_err(|_| ProbeFailure::Vectors)?;
        let key = keys
            .candidates(jwt.header().alg, jwt.header().kid.as_deref())
            .ok()
            .and_then(|candidates| candidates.first().copied())
            .ok_or(ProbeFailure::Vectors)?;
        match host.verify(alg, key, jwt.signing_input(), jwt.signature()) {
            Ok(()) => {}
            Err(SignatureError::Host(HostFailure::Call(super::HostCallError::NotFound))) => {
                return Err(ProbeFailure::Unavailable)
            }
            Err(error) => return Err(ProbeFailure::RefusedGood { alg, error }),
        }
        let mut tampered = jwt.signature().to_vec();
        if let Some(byte) = tampered.get_mut(1) {
            *byte ^= 0x01;
        }
        if host
            .verify(alg, key, jwt.signing_input(), &tampered)
            .is_ok()
        {
            return Err(ProbeFailure::AcceptedTampered { alg });
        }
    }
    Ok(())
}
