//! The introspection answer (RFC 7662 §2.2), parsed strictly: a bounded JSON object whose
//! `active` member is a boolean and whose member names are distinct.

use serde_json::{Map, Value};

use crate::jwt::StrictObject;

/// The largest answer read. Real answers are a few hundred bytes (a dozen claims); 16 KiB
/// leaves room for large scope lists and custom claims while bounding what one answer costs
/// to parse and to keep in a shared-data slot.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// What the authorization server said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `active: true`, with every member of the answer (`active` included): the claims
    /// conditions and identity headers read, as they read a JWT's.
    Active(Map<String, Value>),
    /// `active: false`. RFC 7662 §2.2: nothing else in such an answer is to be trusted, so
    /// nothing else is kept.
    Inactive,
}

/// Why an answer is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerError {
    TooLarge,
    /// Not a JSON object.
    NotObject,
    /// A member name appears twice: parsers disagree on which one counts, and `active`
    /// spelled twice must never be read as the friendlier of the two.
    DuplicateMember,
    /// No `active` member (RFC 7662 §2.2: REQUIRED).
    ActiveMissing,
    /// `active` is not a JSON boolean (`"true"`, `1` and `null` are not `true`).
    ActiveNotBoolean,
}

/// Parses an introspection answer's body.
pub fn parse(body: &[u8]) -> Result<Answer, AnswerError> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(AnswerError::TooLarge);
    }
    let object = match serde_json::from_slice::<StrictObject>(body) {
        Ok(object) => object,
        Err(_) => return Err(AnswerError::NotObject),
    };
    if object.duplicate {
        return Err(AnswerError::DuplicateMember);
    }
    match object.map.get("active") {
        None => Err(AnswerError::ActiveMissing),
        Some(Value::Bool(true)) => Ok(Answer::Active(object.map)),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        Some(_) => Err(AnswerError::ActiveNotBoolean),
    }
}

impl Answer {
    /// `exp` of an active answer, when it is a non-negative integer (its type is checked
    /// with the other registered claims before the answer is used).
    pub fn exp_s(&self) -> Option<u64> {
        match self {
            Answer::Active(claims) => claims.get("exp").and_then(Value::as_u64),
            Answer::Inactive => None,
        }
    }
}
