//! The host verifier against the harness's stand-in for Envoy's `verify_signature` (native
//! ring behind Envoy's message format): an honest host, one that lies, one without the
//! function, one that answers garbage.

use claimcheck_harness::envoy_crypto::{lying_verify_signature, reply, verify_signature};
use claimcheck_harness::Status;

use super::*;

fn host_from(function: fn(&[u8]) -> Result<Vec<u8>, Status>) -> HostVerifier {
    HostVerifier::new(Box::new(move |arguments: &[u8]| {
        function(arguments)
            .map(Some)
            .map_err(|status| match status {
                Status::NotFound => HostCallError::NotFound,
                Status::BadArgument => HostCallError::BadArgument,
                _ => HostCallError::Failed,
            })
    }))
}

/// The verifier with the honest native host, for differential tests elsewhere.
pub(crate) fn honest_host() -> HostVerifier {
    host_from(verify_signature)
}

#[test]
fn an_honest_host_passes_the_probe() {
    assert_eq!(probe(&honest_host()), Ok(()));
}

#[test]
fn a_host_that_verifies_everything_fails_the_probe_on_a_tampered_signature() {
    assert_eq!(
        probe(&host_from(lying_verify_signature)),
        Err(ProbeFailure::AcceptedTampered {
            alg: Algorithm::RS256
        })
    );
}

#[test]
fn a_host_without_the_function_is_unavailable() {
    assert_eq!(
        probe(&host_from(|_| Err(Status::NotFound))),
        Err(ProbeFailure::Unavailable)
    );
}

#[test]
fn a_host_that_refuses_everything_fails_the_probe_on_a_valid_signature() {
    assert_eq!(
        probe(&host_from(|_| Ok(reply(false, "no")))),
        Err(ProbeFailure::RefusedGood {
            alg: Algorithm::RS256,
            error: SignatureError::Invalid
        })
    );
}

#[test]
fn a_host_whose_replies_are_malformed_fails_the_probe() {
    assert_eq!(
        probe(&host_from(|_| Ok(vec![0x08, 0x07]))),
        Err(ProbeFailure::RefusedGood {
            alg: Algorithm::RS256,
            error: SignatureError::Host(HostFailure::MalformedReply)
        })
    );
}

#[test]
fn a_host_that_lies_only_about_ecdsa_is_caught_too() {
    fn lies_about_ec(arguments: &[u8]) -> Result<Vec<u8>, Status> {
        // The RS256 probe key is far longer than any EC key.
        if arguments.len() < 400 {
            Ok(reply(true, ""))
        } else {
            verify_signature(arguments)
        }
    }
    assert_eq!(
        probe(&host_from(lies_about_ec)),
        Err(ProbeFailure::AcceptedTampered {
            alg: Algorithm::ES256
        })
    );
}

#[test]
fn the_host_never_sees_an_algorithm_it_does_not_offer() {
    for alg in Algorithm::ALL {
        let offered = HostVerifier::hash_function(alg).is_some();
        let expected = matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
        );
        assert_eq!(offered, expected, "{alg}");
    }
}
