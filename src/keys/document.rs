//! What the lifecycle machine carries: a fetched document, parsed once per VM per
//! generation. A JWKS is one; a revocation list is another. Everything else — lease, CAS-
//! published record, schedule, backoff, staleness — is the same for both, so the machine is
//! generic over the document and not copied per kind.

use super::FetchFailure;
use crate::config::FetchPlan;
use crate::jwks::KeySet;
use crate::revocation::RevocationList;

/// A document the machine fetches, shares and adopts.
pub trait Document: Sized {
    /// Parses the document's bytes for `plan`, with notes worth a debug log line (keys
    /// skipped); a refusal is the fetch's failure, with the reason to log.
    fn parse(bytes: &[u8], plan: &FetchPlan)
        -> Result<(Self, Vec<String>), (FetchFailure, String)>;
}

impl Document for KeySet {
    fn parse(
        bytes: &[u8],
        plan: &FetchPlan,
    ) -> Result<(Self, Vec<String>), (FetchFailure, String)> {
        match KeySet::parse(bytes, &plan.key_policy) {
            Ok(parsed) => {
                let notes = parsed
                    .skipped
                    .iter()
                    .map(|skipped| format!("skipped key {skipped:?}"))
                    .collect();
                Ok((parsed.keys, notes))
            }
            Err(error) => Err((FetchFailure::BadJwks, format!("unusable JWKS: {error:?}"))),
        }
    }
}

impl Document for RevocationList {
    fn parse(
        bytes: &[u8],
        _plan: &FetchPlan,
    ) -> Result<(Self, Vec<String>), (FetchFailure, String)> {
        RevocationList::parse(bytes)
            .map(|list| (list, Vec::new()))
            .map_err(|error| (FetchFailure::BadRevocationList, error.to_string()))
    }
}
