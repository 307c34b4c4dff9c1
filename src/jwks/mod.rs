//! JWK sets and OIDC discovery documents (in progress: interface only).

use crate::jwt::Algorithm;

/// What a provider lets its key set contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The algorithms the provider accepts; keys usable only for others are skipped.
    pub algorithms: Vec<Algorithm>,
}

/// A parsed, usable key set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {}

/// The outcome of parsing a JWKS document.
#[derive(Debug, Clone)]
pub struct ParsedKeySet {
    pub keys: KeySet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    NotJson,
}

impl KeySet {
    pub fn parse(_json: &[u8], _policy: &KeyPolicy) -> Result<ParsedKeySet, JwksError> {
        Err(JwksError::NotJson)
    }
}
