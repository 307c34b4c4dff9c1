//! Revocation lists: a provider's published list of revoked `jti`, `sub` and `sid` values,
//! and the lookup every request of that provider makes against it.
//!
//! A JWT stays valid until `exp`; an operator who revokes a session or a user wants it to
//! stop working now. The IdP (or a small service beside it) publishes what it revoked, and
//! the filter refuses a token whose `jti` (RFC 7519 §4.1.7, one token), `sub` (every token
//! of a user) or `sid` (OpenID Connect Front-Channel Logout §3, one sign-in session) is
//! listed. The list is a fetched document like a JWKS, so it is refreshed and shared between
//! worker VMs by the same lifecycle.
//!
//! Format (`application/json`), every member optional:
//!
//! ```json
//! { "jti": ["6f1c..."], "sub": ["user-42"], "sid": ["08a5..."] }
//! ```
//!
//! Other members are ignored (a publisher may add `"updated_at"` and the like). Anything
//! else — not an object, one of the three not an array of non-empty strings, an entry longer
//! than [`MAX_ENTRY_BYTES`], more than [`MAX_ENTRIES`] entries, a document larger than
//! [`MAX_LIST_BYTES`], a member given twice — refuses the whole document: a malformed list is
//! a failed fetch (the last good list stays in service), never a partial list that would
//! silently un-revoke what it failed to read.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The largest list document accepted: the size bound of a JWKS, so the shared record that
/// carries either keeps one bound. About 6,000 revoked UUID `jti`s; lists only need to hold
/// tokens that have not expired yet, so a publisher drops entries after the longest lifetime.
pub const MAX_LIST_BYTES: usize = crate::jwks::MAX_JWKS_BYTES;

/// The most entries over the three members: bounds the VM's memory for a list of tiny values.
pub const MAX_ENTRIES: usize = 16_384;

/// The longest entry: identifiers are a few dozen bytes; a longer one is a broken publisher.
pub const MAX_ENTRY_BYTES: usize = 256;

/// Which claim a revoked token was listed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    Jti,
    Sub,
    Sid,
}

impl RevokedBy {
    pub fn claim(self) -> &'static str {
        match self {
            RevokedBy::Jti => "jti",
            RevokedBy::Sub => "sub",
            RevokedBy::Sid => "sid",
        }
    }
}

/// Why a fetched list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    TooLarge,
    /// Not a JSON object with `jti`/`sub`/`sid` arrays of strings (or a member twice).
    Malformed(String),
    TooManyEntries,
    /// An empty entry, or one longer than [`MAX_ENTRY_BYTES`].
    BadEntry(RevokedBy),
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::TooLarge => write!(f, "revocation list larger than {MAX_LIST_BYTES} bytes"),
            ListError::Malformed(error) => write!(f, "revocation list malformed: {error}"),
            ListError::TooManyEntries => {
                write!(f, "revocation list holds more than {MAX_ENTRIES} entries")
            }
            ListError::BadEntry(by) => write!(
                f,
                "revocation list has an empty {} entry or one over {MAX_ENTRY_BYTES} bytes",
                by.claim()
            ),
        }
    }
}

/// The document as published. serde refuses a member given twice for a struct.
#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    jti: Vec<String>,
    #[serde(default)]
    sub: Vec<String>,
    #[serde(default)]
    sid: Vec<String>,
}

/// A parsed list: one set per claim, looked up by `&str` (no allocation per request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    jti: HashSet<Box<str>>,
    sub: HashSet<Box<str>>,
    sid: HashSet<Box<str>>,
}

impl RevocationList {
    /// Parses a fetched list; any defect refuses the whole document.
    pub fn parse(document: &[u8]) -> Result<RevocationList, ListError> {
        if document.len() > MAX_LIST_BYTES {
            return Err(ListError::TooLarge);
        }
        // serde reads a struct from an array too (`[[...], [...]]`): only an object is a list.
        let first = document.iter().find(|byte| !byte.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(ListError::Malformed("not a JSON object".to_owned()));
        }
        let raw: RawList = serde_json::from_slice(document)
            .map_err(|error| ListError::Malformed(error.to_string()))?;
        let total = raw
            .jti
            .len()
            .saturating_add(raw.sub.len())
            .saturating_add(raw.sid.len());
        if total > MAX_ENTRIES {
            return Err(ListError::TooManyEntries);
        }
        Ok(RevocationList {
            jti: entries(raw.jti, RevokedBy::Jti)?,
            sub: entries(raw.sub, RevokedBy::Sub)?,
            sid: entries(raw.sid, RevokedBy::Sid)?,
        })
    }

    /// The claim by which a token with these claims is revoked, if it is. A claim that is
    /// absent or not a string matches nothing (a `sub` of another type is refused earlier,
    /// by the registered-claim checks).
    pub fn revokes(&self, claims: &Map<String, Value>) -> Option<RevokedBy> {
        [
            (RevokedBy::Jti, &self.jti),
            (RevokedBy::Sub, &self.sub),
            (RevokedBy::Sid, &self.sid),
        ]
        .into_iter()
        .find(|(by, set)| {
            claims
                .get(by.claim())
                .and_then(Value::as_str)
                .is_some_and(|value| set.contains(value))
        })
        .map(|(by, _)| by)
    }

    /// Entries over the three claims.
    pub fn len(&self) -> usize {
        self.jti.len() + self.sub.len() + self.sid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn entries(values: Vec<String>, by: RevokedBy) -> Result<HashSet<Box<str>>, ListError> {
    let mut set = HashSet::with_capacity(values.len());
    for value in values {
        if value.is_empty() || value.len() > MAX_ENTRY_BYTES {
            return Err(ListError::BadEntry(by));
        }
        set.insert(value.into_boxed_str());
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(document: Value) -> Result<RevocationList, ListError> {
        RevocationList::parse(document.to_string().as_bytes())
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn sample() -> RevocationList {
        list(json!({"jti": ["t-1"], "sub": ["mallory"], "sid": ["s-9"]})).unwrap_or_default()
    }

    #[test]
    fn a_token_is_revoked_by_its_jti_sub_or_sid() {
        let list = sample();
        let cases = [
            (json!({"jti": "t-1", "sub": "alice"}), Some(RevokedBy::Jti)),
            (
                json!({"jti": "t-2", "sub": "mallory"}),
                Some(RevokedBy::Sub),
            ),
            (json!({"sub": "alice", "sid": "s-9"}), Some(RevokedBy::Sid)),
            (json!({"jti": "t-2", "sub": "alice", "sid": "s-1"}), None),
        ];
        for (token, expected) in cases {
            assert_eq!(list.revokes(&claims(token.clone())), expected, "{token}");
        }
    }

    #[test]
    fn a_value_listed_under_another_claim_does_not_revoke() {
        let list = sample();
        assert_eq!(
            list.revokes(&claims(json!({"sub": "t-1", "jti": "mallory"}))),
            None
        );
    }

    #[test]
    fn a_claim_that_is_not_a_string_matches_nothing() {
        let list = sample();
        assert_eq!(
            list.revokes(&claims(json!({"jti": ["t-1"], "sub": 7}))),
            None
        );
    }

    #[test]
    fn every_member_is_optional_and_others_are_ignored() {
        assert_eq!(list(json!({})), Ok(RevocationList::default()));
        let parsed = list(json!({"sub": ["a"], "updated_at": 1_700_000_000})).unwrap_or_default();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn a_malformed_list_is_refused_whole() {
        for document in [
            json!([]),
            json!([["t-1"]]),
            json!("jti"),
            json!({"jti": "t-1"}),
            json!({"jti": ["t-1", 2]}),
            json!({"sub": [null]}),
            json!({"sid": {"a": 1}}),
        ] {
            assert!(
                matches!(list(document.clone()), Err(ListError::Malformed(_))),
                "{document}"
            );
        }
    }

    #[test]
    fn a_member_given_twice_is_refused() {
        let document = br#"{"jti": ["a"], "jti": ["b"]}"#;
        assert!(matches!(
            RevocationList::parse(document),
            Err(ListError::Malformed(_))
        ));
    }

    #[test]
    fn empty_and_overlong_entries_are_refused() {
        assert_eq!(
            list(json!({"jti": [""]})),
            Err(ListError::BadEntry(RevokedBy::Jti))
        );
        let long = "x".repeat(MAX_ENTRY_BYTES + 1);
        assert_eq!(
            list(json!({"sid": [long]})),
            Err(ListError::BadEntry(RevokedBy::Sid))
        );
        let longest = "x".repeat(MAX_ENTRY_BYTES);
        assert!(list(json!({"sid": [longest]})).is_ok());
    }

    #[test]
    fn more_entries_than_the_bound_are_refused() {
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| i.to_string()).collect();
        assert_eq!(list(json!({"jti": many})), Err(ListError::TooManyEntries));
    }

    #[test]
    fn a_document_over_the_size_bound_is_refused_before_parsing() {
        let document = vec![b' '; MAX_LIST_BYTES + 1];
        assert_eq!(RevocationList::parse(&document), Err(ListError::TooLarge));
    }

    #[test]
    fn a_document_that_is_not_json_is_malformed() {
        assert!(matches!(
            RevocationList::parse(b"jti=t-1"),
            Err(ListError::Malformed(_))
        ));
    }
}
