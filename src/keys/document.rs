//! What the lifecycle machine carries: a fetched document, parsed once per VM per
//! generation. A JWKS is one; a revocation list is another. Everything else — lease, CAS-
//! published record, schedule, backoff, staleness — is the same for both, so one machine
//! serves both kinds, holding the document as a [`Parsed`] of either kind: its code is then
//! in the module once, not once per kind.

use std::rc::Rc;

use super::FetchFailure;
use crate::config::{FetchPlan, Step};
use crate::jwks::KeySet;
use crate::revocation::RevocationList;

/// A document a [`KeyMachine`](super::KeyMachine) can be typed by.
pub trait Document: Sized {
    /// The document, if `parsed` is of this kind.
    fn from_parsed(parsed: &Parsed) -> Option<&Rc<Self>>;
}

/// A parsed document of either kind.
#[derive(Debug, Clone)]
pub enum Parsed {
    Keys(Rc<KeySet>),
    List(Rc<RevocationList>),
}

impl Parsed {
    /// Parses the bytes `plan` fetched, as the kind its steps fetch, with notes worth a
    /// debug log line (keys skipped); a refusal is the fetch's failure, with the reason to
    /// log.
    pub fn parse(
        bytes: &[u8],
        plan: &FetchPlan,
    ) -> Result<(Parsed, Vec<String>), (FetchFailure, String)> {
        if let Step::RevocationList { .. } = plan.first_step {
            return RevocationList::parse(bytes)
                .map(|list| (Parsed::List(Rc::new(list)), Vec::new()))
                .map_err(|error| (FetchFailure::BadRevocationList, error.to_string()));
        }
        match KeySet::parse(bytes, &plan.key_policy) {
            Ok(parsed) => {
                let notes = parsed
                    .skipped
                    .iter()
                    .map(|skipped| format!("skipped key {skipped:?}"))
                    .collect();
                Ok((Parsed::Keys(Rc::new(parsed.keys)), notes))
            }
            Err(error) => Err((FetchFailure::BadJwks, format!("unusable JWKS: {error:?}"))),
        }
    }
}

impl Document for KeySet {
    fn from_parsed(parsed: &Parsed) -> Option<&Rc<KeySet>> {
        match parsed {
            Parsed::Keys(keys) => Some(keys),
            Parsed::List(_) => None,
        }
    }
}

impl Document for RevocationList {
    fn from_parsed(parsed: &Parsed) -> Option<&Rc<RevocationList>> {
        match parsed {
            Parsed::List(list) => Some(list),
            Parsed::Keys(_) => None,
        }
    }
}
